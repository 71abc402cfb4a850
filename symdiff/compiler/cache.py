"""Safe disk caches: no code is ever loaded from a folder or file another user could have written.

Numba reads its cache index (``*.nbi``) and data (``*.nbc``) files with ``pickle``, so whoever can
write to a cache folder runs code in every process that loads a kernel from it. symdiff therefore
loads cached machine code only from folders and files that pass these checks:

* a **folder** must be a real folder (after resolving links) owned by this user and not writable
  by group or others; every folder above it must be owned by this user or root and not writable
  by group or others unless it is sticky (as ``/tmp`` is, where nobody can rename our entries);
* a **file** must be a regular file (not a symbolic link), owned by this user and not writable by
  group or others.

Folders symdiff creates get mode 0700, and files it writes are made with ``mkstemp`` (mode 0600,
``O_EXCL``, never following a planted link) in the target folder and moved into place with
``os.replace``. A folder or file that fails a check is never read: symdiff warns once
(``UnsafeCacheWarning``) and compiles instead. Kernel modules then run from memory; Numba's files
for such functions go to one private temporary folder (``/tmp/symdiff-*``, mode 0700) that is
removed when the process exits.

Numba picks the folder of a ``cache=True`` function through its *cache locators*. ``SafeCacheLocator``
is put first in Numba's list: for functions defined in symdiff's own files (the runtime helpers in
``runtime.py``, ``fastmath.py``, ...) and in the kernel modules of symdiff's cache folder, it picks
the folder Numba would pick (``NUMBA_CACHE_DIR``, the ``__pycache__`` beside the source, or the
user-wide Numba cache), creates it with mode 0700, checks it and the function's index and data
files, and only then hands it to Numba; functions of other libraries are left to Numba's own
locators. When a load fails, garbage files of ours (a truncated write, a disk error) are
removed (``repair``) and the kernel compiled afresh, instead of failing with ``UnpicklingError``.
Setting ``NUMBA_CACHE_LOCATOR_CLASSES`` replaces Numba's list of locators, this one included:
symdiff then warns once that its checks are off.
"""
from __future__ import annotations

import atexit
import os
import pickletools
import shutil
import stat
import sys
import tempfile
import threading
import warnings

from numba.core import caching as _nc
from numba.core import config as _numba_config

__all__ = [
    "SafeCacheLocator", "UnsafeCacheError", "UnsafeCacheWarning", "ensure_private_folder", "file_problem",
    "folder_problem", "read_private_file", "write_private_file",
]

from .folders import _EUID, _GROUP_OTHER_WRITE, _owner_problem, folder_problem  # noqa: E402, F401  (no Numba there)


class UnsafeCacheError(OSError):
    """A cache folder or file fails the safety checks (the message says which and why)."""


class UnsafeCacheWarning(UserWarning):
    """A cache folder or file failed the safety checks; symdiff compiles instead of loading it."""


_lock = threading.RLock()
_warned: set[str] = set()
_safe_folders: set[str] = set()     # folders checked in this process (nobody else can change them)
_claimed_folders: set[str] = set()  # folders holding symdiff kernel modules
_private: list[str] = []            # the private temporary folder, once made
_PACKAGE = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))  # .../symdiff


def warn_once(key: str, message: str) -> None:
    """One ``UnsafeCacheWarning`` per folder or file per process."""
    with _lock:
        if key in _warned:
            return
        _warned.add(key)
    warnings.warn(message, UnsafeCacheWarning, stacklevel=3)


# ---------------------------------------------------------------------------------------------
# The checks
# ---------------------------------------------------------------------------------------------
def _stat_problem(st: os.stat_result, path: str) -> str | None:
    if stat.S_ISLNK(st.st_mode):
        return f"{path} is a symbolic link"
    if not stat.S_ISREG(st.st_mode):
        return f"{path} is not a regular file"
    problem = _owner_problem(st, path)
    if problem:
        return problem
    if st.st_mode & _GROUP_OTHER_WRITE:
        return f"{path} is writable by group or others (mode {stat.S_IMODE(st.st_mode):o})"
    return None


def file_problem(path: str) -> str | None:
    """Why the existing file ``path`` is not safe to load, or ``None`` when it is (the link itself
    is examined, never its target)."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        return f"{path} cannot be examined ({exc.strerror})"
    return _stat_problem(st, path)


def ensure_private_folder(path: str) -> str:
    """Create ``path`` (and missing folders above it) with mode 0700 where needed; return its real
    path once it passes ``folder_problem``. Raises ``UnsafeCacheError`` for an unsafe folder and
    ``OSError`` for one that cannot be created or written."""
    real = os.path.realpath(path)
    with _lock:
        if real in _safe_folders:
            return real
    missing = []
    probe = real
    while not os.path.lexists(probe):
        missing.append(probe)
        up = os.path.dirname(probe)
        if up == probe:
            break
        probe = up
    for folder in reversed(missing):
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:  # made by a concurrent process: checked below like any other
            pass
    real = os.path.realpath(path)
    problem = folder_problem(real)
    if problem:
        raise UnsafeCacheError(problem)
    if not os.access(real, os.W_OK | os.X_OK):
        raise PermissionError(f"the folder {real} is not writable")
    with _lock:
        _safe_folders.add(real)
    return real


def read_private_file(path: str) -> bytes | None:
    """The content of ``path``, read without following a link and only if it passes
    ``file_problem`` (checked on the open file, so it cannot be swapped in between); ``None``
    when there is no such file. Raises ``UnsafeCacheError`` for an unsafe file."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as exc:  # ELOOP: a symbolic link
        if os.path.islink(path):
            raise UnsafeCacheError(f"{path} is a symbolic link") from None
        raise
    try:
        problem = _stat_problem(os.fstat(fd), path)
        if problem:
            raise UnsafeCacheError(problem)
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    finally:
        os.close(fd)


def write_private_file(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a fresh ``mkstemp`` file (mode 0600, created with
    ``O_EXCL``, so a planted link is never followed) in the same folder, then ``os.replace``."""
    folder, name = os.path.split(path)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def private_temp_folder() -> str:
    """This process's private folder (``/tmp/symdiff-*``, mode 0700) for Numba files of functions
    whose cache folder was refused; removed when the process exits."""
    with _lock:
        if not _private:
            folder = tempfile.mkdtemp(prefix="symdiff-")
            _private.append(folder)
            atexit.register(shutil.rmtree, folder, True)
        return _private[0]


def claim(folder: str) -> None:
    """Mark ``folder`` as holding symdiff kernel modules: ``SafeCacheLocator`` takes their functions."""
    with _lock:
        _claimed_folders.add(os.path.realpath(folder))


def _claimed(py_file: str) -> bool:
    folder = os.path.dirname(os.path.realpath(py_file))
    return folder in _claimed_folders or folder == _PACKAGE or folder.startswith(_PACKAGE + os.sep)


# ---------------------------------------------------------------------------------------------
# Numba's files
# ---------------------------------------------------------------------------------------------
def _valid_pickles(data: bytes, count: int) -> bool:
    """Whether ``data`` is ``count`` complete pickles, parsed (never loaded) with ``pickletools``."""
    import io

    stream = io.BytesIO(data)
    try:
        for _ in range(count):
            for _op in pickletools.genops(stream):
                pass
    except Exception:
        return False
    return stream.tell() == len(data)


_listings: dict[str, tuple[int, dict]] = {}  # folder -> (mtime, {file name base: names}), per change


def _numba_files(folder: str) -> dict[str, list[str]]:
    """Numba's files in ``folder`` by file name base (``base.nbi``, ``base.<n>.nbc``)."""
    mtime = os.stat(folder).st_mtime_ns
    got = _listings.get(folder)
    if got is None or got[0] != mtime:
        files: dict[str, list[str]] = {}
        for name in os.listdir(folder):
            if name.endswith(".nbi"):
                files.setdefault(name[:-4], []).append(name)
            elif name.endswith(".nbc"):
                files.setdefault(name[:-4].rsplit(".", 1)[0], []).append(name)
        got = _listings[folder] = (mtime, files)
    return got[1]


def _function_files_problem(folder: str, base: str) -> str | None:
    """Check the index and data files of one function (``base`` is Numba's file name base): owner,
    mode, no link. (Garbage in files of ours is dealt with by ``repair`` when a load fails.)"""
    try:
        names = _numba_files(folder).get(base, ())
    except OSError as exc:
        return f"the folder {folder} cannot be listed ({exc.strerror})"
    for name in names:
        problem = file_problem(os.path.join(folder, name))
        if problem:
            return problem
    return None


def _numba_filename_base(py_func, py_file: str, disambiguator: str) -> str:
    """The file name base Numba gives the cache files of ``py_func`` (``CacheImpl.get_filename_base``)."""
    modname = os.path.splitext(os.path.basename(py_file))[0]
    qualname = getattr(py_func, "__qualname__", py_func.__name__).replace("<", "").replace(">", "")
    abiflags = getattr(sys, "abiflags", "")
    return f"{modname}.{qualname}-{disambiguator}.py{sys.version_info[0]}{sys.version_info[1]}{abiflags}"


def _numba_locator(name: str):
    return getattr(_nc, name, None) or getattr(_nc, "_" + name)


_INNER = [_numba_locator(n) for n in ("UserProvidedCacheLocator", "InTreeCacheLocator", "UserWideCacheLocator")]


class SafeCacheLocator(_nc._CacheLocator):
    """Numba cache locator for symdiff's own functions: the folder Numba would use, created with
    mode 0700 and checked (with the function's files) before Numba reads anything from it."""

    def __init__(self, inner, path: str):
        self._inner, self._path = inner, path

    def get_cache_path(self) -> str:
        return self._path

    def ensure_cache_path(self) -> None:
        ensure_private_folder(self._path)

    def get_source_stamp(self):
        return self._inner.get_source_stamp()

    def get_disambiguator(self) -> str:
        return self._inner.get_disambiguator()

    @classmethod
    def from_function(cls, py_func, py_file):
        """A locator for ``py_func`` if it is symdiff's, else ``None`` (Numba's locators decide)."""
        if not _claimed(py_file) or not os.path.exists(py_file):
            return None
        first = None
        for inner_cls in _INNER:
            if inner_cls is _INNER[0] and not _numba_config.CACHE_DIR:
                continue
            inner = inner_cls(py_func, py_file)
            first = first or inner
            try:
                folder = ensure_private_folder(inner.get_cache_path())
            except UnsafeCacheError as exc:  # one warning per cause (a bad parent covers many folders)
                warn_once(str(exc), f"symdiff: not loading compiled code from an unsafe cache folder: {exc}; "
                          "compiling instead")
                return cls(inner, private_temp_folder())
            except OSError:  # cannot be created or written: the next place, as Numba does
                continue
            base = _numba_filename_base(py_func, py_file, inner.get_disambiguator())
            problem = _function_files_problem(folder, base)
            if problem:
                warn_once(problem, f"symdiff: not loading compiled code from an unsafe cache file: {problem}; "
                          "compiling instead")
                return cls(inner, private_temp_folder())
            return cls(inner, folder)
        return cls(first, private_temp_folder()) if first is not None else None


def tighten() -> None:
    """Drop group/other write permission from the files of ours in the checked cache folders.

    Numba writes its files with the process umask; under a umask such as 002 they would come out
    group-writable and be refused by the next process. Cheap; called after a compile."""
    if not _loose_umask() or not hasattr(os, "fchmod"):
        return
    with _lock:
        folders = list(_safe_folders)
    for folder in folders:
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            path = os.path.join(folder, name)
            try:
                st = os.lstat(path)
                if (stat.S_ISREG(st.st_mode) and st.st_mode & _GROUP_OTHER_WRITE
                        and (_EUID is None or st.st_uid == _EUID)):
                    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
                    try:
                        os.fchmod(fd, stat.S_IMODE(os.fstat(fd).st_mode) & ~_GROUP_OTHER_WRITE)
                    finally:
                        os.close(fd)
            except OSError:
                continue


def repair() -> int:
    """Remove Numba index and data files of ours that are not complete pickles (parsed, never
    loaded) from the checked cache folders, so the next compile writes them afresh instead of
    failing with ``UnpicklingError``. Called when a compile fails; returns how many were removed."""
    with _lock:
        folders = list(_safe_folders)
    removed = 0
    for folder in folders:
        try:
            names = [n for n in os.listdir(folder) if n.endswith((".nbi", ".nbc"))]
        except OSError:
            continue
        for name in names:
            path = os.path.join(folder, name)
            try:
                data = read_private_file(path)
            except OSError:
                continue  # not ours or not safe: never read, never removed
            if data is not None and not _valid_pickles(data, 2 if name.endswith(".nbi") else 1):
                try:
                    os.unlink(path)
                    removed += 1
                except OSError:
                    continue
                warn_once(path, f"symdiff: removed the unreadable Numba cache file {path}; compiling afresh")
    return removed


_umask_cache: list[int] = []


def _loose_umask() -> bool:
    """Whether new files may come out writable by group or others (the umask lacks 022)."""
    if not _umask_cache:
        mask = 0
        try:
            with open("/proc/self/status") as fh:
                for line in fh:
                    if line.startswith("Umask:"):
                        mask = int(line.split()[1], 8)
                        break
        except (OSError, ValueError):
            pass
        _umask_cache.append(mask)
    return (_umask_cache[0] & 0o022) != 0o022


# -- concurrent processes ------------------------------------------------------------------------
# Numba's index update (load the index, pick the first free data-file number, save both) is not
# atomic: two processes compiling different signatures of one function at the same time (pytest
# workers, a pool of servers) can pick the same number, and the index then maps one signature to
# another's machine code, which fails to type or, worse, runs with the wrong types. For symdiff's
# functions the update runs under an exclusive lock on the index, and a loaded entry is used only
# if it was compiled for the signature asked for (else it is compiled afresh and overwritten).
_original_save = _nc.IndexDataCacheFile.save
_original_load_overload = _nc.Cache.load_overload


def _locked_save(self, key, data):
    if not getattr(self, "_symdiff_locked", False):
        return _original_save(self, key, data)
    import fcntl

    lock_path = self._index_path + ".lock"
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except OSError:  # a planted link or an unwritable folder: do not save at all
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return _original_save(self, key, data)
    finally:
        os.close(fd)  # closing releases the lock


def _checked_load_overload(self, sig, target_context):
    cres = _original_load_overload(self, sig, target_context)
    if cres is None or not isinstance(getattr(self._impl, "locator", None), SafeCacheLocator):
        return cres
    wanted = tuple(sig.args) if hasattr(sig, "args") else tuple(sig)
    if tuple(cres.signature.args) != wanted:  # another signature's code under this key: a past race
        return None
    return cres


_original_cache_init = _nc.Cache.__init__


def _cache_init(self, py_func):
    _original_cache_init(self, py_func)
    if isinstance(getattr(self._impl, "locator", None), SafeCacheLocator):
        self._cache_file._symdiff_locked = True  # symdiff's functions: index updates take the lock


def install() -> None:
    """Put ``SafeCacheLocator`` first among Numba's cache locators (idempotent)."""
    impl = getattr(_nc, "CacheImpl", None) or getattr(_nc, "_CacheImpl")
    if SafeCacheLocator not in impl._locator_classes:
        impl._locator_classes.insert(0, SafeCacheLocator)
    if _nc.IndexDataCacheFile.save is not _locked_save:
        _nc.IndexDataCacheFile.save = _locked_save
    if _nc.Cache.load_overload is not _checked_load_overload:
        _nc.Cache.load_overload = _checked_load_overload
    if _nc.Cache.__init__ is not _cache_init:
        _nc.Cache.__init__ = _cache_init
    if getattr(_numba_config, "CACHE_LOCATOR_CLASSES", None):
        warn_once("NUMBA_CACHE_LOCATOR_CLASSES", "symdiff: NUMBA_CACHE_LOCATOR_CLASSES replaces Numba's cache "
                  "locators, and with them symdiff's checks of the cache folders (see symdiff/compiler/cache.py)")


install()
