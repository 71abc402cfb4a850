"""Tiered execution: a Function answers at once on the NumPy virtual machine while its Numba
kernel compiles in a child process, and switches to the kernel when the child is done.

``sd.function(..., mode="tiered")`` works so, and so does the default ``mode="auto"`` for graphs
without loop nodes (the VM runs a loop's body op by op at every step, which can take longer than
the compile; ``SYMDIFF_TIERED=0`` in the environment turns tiering off for ``"auto"``):

1. the kernel source is generated as for ``mode="numba"`` (no Numba import, a few ms); if the
   kernel cache already holds it (``kernel_cached``: two ``stat`` calls, no Numba import), it is
   loaded in this process directly, as ``mode="numba"`` would;
2. otherwise the Function runs on the NumPy virtual machine (``mode="numpy"``: no Numba import,
   no compile) and a child process (``subprocess``, a fresh interpreter: ``python -c``, so the
   parent's ``__main__`` is never re-run, unlike ``multiprocessing``'s spawn start method)
   compiles the kernel into the disk cache (``SYMDIFF_CACHE_DIR``, with the checks of ``cache.py``);
3. each call first polls the child (``Popen.poll``, one ``waitpid``: about a microsecond);
   once it has exited, that call loads the kernel from the cache in this process (this imports
   Numba: a pause of a few tenths of a second on that one call) and the Function becomes the
   same object ``mode="numba"`` builds (C fast call, scalar fast path); ``F.mode`` says which
   tier ran the last call (``"numpy"``, then ``"numba"``).

At most ``MAX_CHILDREN`` children compile at once (one fewer than the CPUs, at least one): the
others wait their turn, started by the polls of any tiered Function's calls, so a program that
builds a hundred functions does not start a hundred compilers.

A failed background compile leaves the Function on the virtual machine, with the child's error
in ``F.compile_error``. ``F.wait_compiled(timeout)`` waits for the switch (tests, benchmarks).
Child processes are killed when their Function is garbage-collected and at interpreter exit, so
a short script that exits before the kernel is ready leaves nothing running (and no kernel in the
cache). The same code runs on Windows and macOS: the child is a new interpreter there too.
"""
from __future__ import annotations

import atexit
import glob
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import weakref

import numpy as np

TIERED_ENV = "SYMDIFF_TIERED"
_live: "weakref.WeakSet[BackgroundCompile]" = weakref.WeakSet()
_lock = threading.Lock()
switch_lock = threading.RLock()  # held while a Function switches tiers


# child compilers running at once; the rest queue (see BackgroundCompile)
MAX_CHILDREN = max(1, (os.cpu_count() or 2) - 1)
_running: list = []  # weak references to the children started and not yet seen exiting


def tiering_enabled() -> bool:
    """Whether ``mode="auto"`` is tiered: unless ``$SYMDIFF_TIERED`` is ``0``/``false``/``off``/``no``,
    and this interpreter can start another one (not a frozen application)."""
    if os.environ.get(TIERED_ENV, "").strip().lower() in ("0", "false", "off", "no"):
        return False
    return can_tier()


def can_tier() -> bool:
    """A child interpreter can be started (``sys.executable`` is a Python, not a frozen app) and
    the kernel cache folder is one it can hand the kernel over through: private to this user, or
    not made yet (the child makes it so). Otherwise the kernel is compiled in this process, where
    ``cache.py`` warns about the folder and compiles in memory."""
    from .folders import folder_problem
    from .function import cache_dir

    if not sys.executable or getattr(sys, "frozen", False):
        return False
    folder = cache_dir()
    return not os.path.lexists(folder) or folder_problem(folder) is None


def signature_spec(inputs, lowering) -> list:
    """The kernel's Numba signature as JSON-able data (``signature`` rebuilds it): per argument
    ``[kind, dtype, ndim]``; kinds: ``s`` scalar, ``a`` C-contiguous array, ``i`` int64 size."""
    spec = [["s" if v.ndim == 0 else "a", np.dtype(v.dtype).str, v.ndim] for v in inputs]
    spec += [["a", np.dtype(c.dtype).str, c.ndim] for c in lowering.const_args]
    if lowering.arena_size():
        spec.append(["a", np.dtype(np.float64).str, 1])
    spec += [["i", "<i8", 0]] * len(lowering.dim_names)
    return spec


def signature(spec: list) -> tuple:
    """The Numba signature of ``signature_spec``'s data (imports Numba)."""
    from .lazyjit import numba

    nb = numba()
    out = []
    for kind, dtype, ndim in spec:
        if kind == "i":
            out.append(nb.types.int64)
        elif kind == "s":
            out.append(nb.from_dtype(np.dtype(dtype)))
        else:
            out.append(nb.types.Array(nb.from_dtype(np.dtype(dtype)), ndim, "C"))
    return tuple(out)


def kernel_cached(key: str) -> bool:
    """Whether the kernel cache seems to hold the kernel of cache key ``key``: its module file
    and Numba's index beside it (``__pycache__``) exist. Two ``stat``-like calls, no Numba import;
    a hint only (loading checks everything again): ``False`` whenever unsure, e.g. with
    ``NUMBA_CACHE_DIR`` set, where Numba keeps its index elsewhere."""
    from .function import cache_dir

    if os.environ.get("NUMBA_CACHE_DIR"):
        return False
    folder = os.path.realpath(cache_dir())
    if not os.path.isfile(os.path.join(folder, f"symdiff_{key}.py")):
        return False
    return bool(glob.glob(os.path.join(glob.escape(folder), "__pycache__", f"symdiff_{key}.kernel-*.nbi")))


_CHILD = "from symdiff.compiler.tiered import child_main; raise SystemExit(child_main())"


class BackgroundCompile:
    """A child interpreter compiling one kernel source into the disk cache (queued while
    ``MAX_CHILDREN`` others run)."""

    def __init__(self, source: str, spec: list):
        from .function import cache_dir

        self._proc = None
        self._closed = False
        self._err = tempfile.TemporaryFile()  # the child's stderr (a pipe could fill and block it)
        fd, self._payload = tempfile.mkstemp(prefix="symdiff-tier-", suffix=".json")  # mode 0600
        with os.fdopen(fd, "w") as f:
            json.dump({"source": source, "sig": spec}, f)
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        self._env = dict(os.environ, SYMDIFF_CACHE_DIR=cache_dir(), PYTHONPATH=os.pathsep.join(
            [root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
        self._env.pop(TIERED_ENV, None)
        self.started = None  # when the child started (it may wait for a slot first)
        self.seconds = None  # how long the child ran, once it has exited
        with _lock:
            _live.add(self)
        self._try_start()

    def _try_start(self) -> bool:
        """Start the child if a slot is free; whether it runs (or ran)."""
        if self._proc is not None or self._closed:
            return True
        with _lock:
            _running[:] = [r for r in _running if (c := r()) is not None and c._proc is not None
                           and c._proc.poll() is None]
            if len(_running) >= MAX_CHILDREN:
                return False
            try:
                self._proc = subprocess.Popen([sys.executable, "-c", _CHILD, self._payload], env=self._env,
                                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._err)
            except BaseException:
                self.close()
                raise
            self.started = time.perf_counter()
            _running.append(weakref.ref(self))
        return True

    def done(self) -> bool:
        """Whether the child has exited (one ``waitpid``, no waiting; a queued one may start)."""
        if self._closed:
            return True
        if not self._try_start():
            return False
        return self._proc.poll() is not None

    def wait(self, timeout: float | None) -> bool:
        """Wait up to ``timeout`` seconds (``None``: for ever) for the child; whether it has exited."""
        end = None if timeout is None else time.monotonic() + timeout
        while not self._try_start():  # queued: wait for a slot
            if end is not None and time.monotonic() >= end:
                return False
            time.sleep(0.02)
        if self._closed:
            return True
        try:
            self._proc.wait(None if end is None else max(0.0, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            return False
        return True

    def error(self) -> str | None:
        """``None`` if the child compiled the kernel, else what went wrong (the last lines of its
        stderr). Only once ``done()``."""
        if self._closed or self._proc is None:
            return "the background compile was stopped"
        rc = self._proc.returncode
        if self.seconds is None:
            self.seconds = time.perf_counter() - self.started
        if rc == 0:
            return None
        self._err.seek(0)
        tail = self._err.read().decode(errors="replace").strip().splitlines()[-3:]
        return f"background compile exited with status {rc}: " + " | ".join(tail)

    def close(self) -> None:
        """Kill the child if it still runs, reap it, remove its files. Idempotent."""
        self._closed = True
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:  # pragma: no cover (a kill is not refused)
                pass
        if self._payload:
            try:
                os.unlink(self._payload)
            except OSError:
                pass
            self._payload = None
        if self._err is not None:
            self._err.close()
            self._err = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # at interpreter shutdown modules may be half gone
            pass


class BackgroundLoad:
    """A thread loading a kernel that the disk cache holds already (``kernel_cached``): it
    imports Numba and loads the machine code while the calls run on the virtual machine.
    The same interface as ``BackgroundCompile``; a thread cannot be killed, so ``close`` only
    forgets it (it ends by itself: loading takes well under a second)."""

    def __init__(self, source: str, spec: list):
        self.started, self.seconds, self._error = time.perf_counter(), None, None
        self._thread = threading.Thread(target=self._run, args=(source, spec), name="symdiff-kernel-load")
        self._thread.start()

    def _run(self, source: str, spec: list) -> None:
        from .function import _compile_kernel

        try:
            _compile_kernel(source, signature(spec), strict=True)
        except BaseException as exc:  # recorded; the Function stays on the virtual machine
            self._error = f"loading the cached kernel failed: {type(exc).__name__}: {exc}"

    def done(self) -> bool:
        return not self._thread.is_alive()

    def wait(self, timeout: float | None) -> bool:
        self._thread.join(timeout)
        return self.done()

    def error(self) -> str | None:
        if self.seconds is None:
            self.seconds = time.perf_counter() - self.started
        return self._error

    def close(self) -> None:
        pass


@atexit.register
def _close_all() -> None:
    """Interpreter exit: no child outlives this process."""
    with _lock:
        children = list(_live)
    for child in children:
        child.close()


def child_main() -> int:
    """The child: compile the payload's kernel for its signature into the disk cache."""
    path = sys.argv[1]
    with open(path) as f:
        payload = json.load(f)
    from .function import _compile_kernel

    _compile_kernel(payload["source"], signature(payload["sig"]), strict=True)
    return 0
