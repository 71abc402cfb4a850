"""``sd.function``: compile graph outputs to a fast callable.

The callable is a small generated Python wrapper that converts and checks every argument
(count, dtype, shape, consistent named dims, contiguity) and then calls the compiled Numba
kernel's entry point directly. When the optional extension ``_fastcall`` is built, calls
whose arguments need no conversion are checked in C instead (see ``_fastcall.c``). Kernel modules are
written to a cache folder keyed by a hash of their source (which encodes the graph, dtypes and
static shapes), the symdiff version and the Numba version, so a new process reuses compiled
machine code through Numba's own cache.
"""
from __future__ import annotations

import functools
import hashlib
import os
import sys
import time
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import InputError, ShapeError, SymdiffError
from ..evaluate import as_input_array
from ..graph import Node, Variable, flatten_outputs
from ..types import format_shape
from . import tiered as _tiered
from .codegen import Lowering

try:  # the optional C extension for calls on ready arguments (setup.py builds it)
    from ._fastcall import MAX_ARGS as ARRAY_MAX_ARGS, MAX_SCALARS, MAX_SIZES as ARRAY_MAX_SIZES
    from ._fastcall import ArrayCall, ScalarCall
except ImportError:  # no C compiler at install time: the Python wrapper serves every call
    MAX_SCALARS, ScalarCall, ArrayCall = 0, None, None

_CHECKED_FALLBACK: list[str] = []


def cache_dir() -> str:
    """The kernel cache folder: ``$SYMDIFF_CACHE_DIR`` or ``~/.cache/symdiff``."""
    return os.environ.get("SYMDIFF_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "symdiff")


def _kernel_folder() -> str | None:
    """The real path of the kernel cache folder, created with mode 0700 if missing; ``None`` when
    it cannot be used (read-only, or unsafe: another user could write it, see ``cache.py``)."""
    from . import cache as _cache  # imports Numba (only kernels need the cache)

    path = cache_dir()
    try:
        return _cache.ensure_private_folder(path)
    except _cache.UnsafeCacheError as exc:
        _cache.warn_once(path, f"symdiff: not using the kernel cache folder: {exc}; kernels are compiled in memory")
    except OSError:  # read-only or cannot be created: compile without the disk cache
        pass
    return None


def _load_module(source: str, key: str, use_disk: bool = True):
    """The kernel module of ``source``: imported from its file in the cache folder (Numba caches
    its machine code beside it), or, when the folder or file cannot be used safely, or loading
    fails in any way, compiled in memory without a disk cache.

    The file is written with ``mkstemp`` + ``os.replace`` and read back only if it passes the
    checks of ``cache.read_private_file``; the module runs the source text itself (no ``.pyc``)."""
    from . import cache as _cache

    folder = _kernel_folder() if use_disk else None
    if folder is not None:
        name = f"symdiff_kernel_{key}"
        if name in sys.modules:
            return sys.modules[name]
        path = os.path.join(folder, f"symdiff_{key}.py")
        try:
            _cache.claim(folder)
            data = source.encode()
            if _cache.read_private_file(path) != data:  # missing, or a corrupt entry: (re)written
                _cache.write_private_file(path, data)
            module = types.ModuleType(name)
            module.__file__ = path
            sys.modules[name] = module  # Numba's cache re-imports the module by name
            try:
                exec(compile(source, path, "exec"), module.__dict__)
            except BaseException:  # never leave a half-run module behind for the next try
                del sys.modules[name]
                raise
            return module
        except _cache.UnsafeCacheError as exc:
            _cache.warn_once(path, f"symdiff: not loading the kernel cache file: {exc}; compiling in memory")
        except Exception:
            pass
    namespace: dict = {}
    exec(compile(source.replace("cache=True", "cache=False"), f"<symdiff {key}>", "exec"), namespace)
    return _Namespace(namespace)


@functools.lru_cache(maxsize=None)
def _helpers_digest() -> str:
    """A hash of the code generated kernels can call (the runtime helpers and the ops modules
    they re-export): Numba does not notice when a cached kernel's callees change, so an edited
    helper must give new cache keys."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for path in sorted([*root.joinpath("compiler").glob("*.py"), *root.joinpath("ops").glob("*.py")]):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def source_key(source: str) -> str:
    """The cache key of generated source: its hash with the symdiff, Numba and NumPy versions
    and the hash of the helpers it calls."""
    from .. import __version__

    versions = f"{__version__}|{_numba_version()}|{np.__version__}|{_helpers_digest()}"
    return hashlib.sha256(f"{versions}|{source}".encode()).hexdigest()[:24]


@functools.lru_cache(maxsize=None)
def _numba_version() -> str:
    """Numba's version, read from its package metadata (importing Numba takes 0.3 s)."""
    from importlib import metadata

    try:
        return metadata.version("numba")
    except metadata.PackageNotFoundError:  # not installed as a distribution: ask the module
        from .lazyjit import numba

        return numba().__version__


def _compile_kernel(source: str, sig, strict: bool, entry: str | None = None):
    """Load (from the disk cache) or compile generated source; its function ``kernel`` (or
    ``entry``) is compiled for ``sig``. Returns the module, or that function when ``entry`` is given.

    Returns ``None`` when Numba's compiler hits the recursion limit, unless ``strict``.
    """
    from . import cache as _cache  # imports Numba, after installing the safe cache locator

    key = source_key(source)
    name = entry or "kernel"
    try:
        try:
            module = _load_module(source, key)
            getattr(module, name).compile(sig)
        except RecursionError:
            raise
        except Exception:  # e.g. a corrupt cache entry: remove garbage files, compile without the disk cache
            _cache.repair()
            module = _load_module(source, key, use_disk=False)
            getattr(module, name).compile(sig)
        if getattr(module, name).stats.cache_misses:  # compiled now: Numba wrote cache files
            _cache.tighten()
    except RecursionError:
        if strict:
            raise SymdiffError("Numba's compiler hit Python's recursion limit on this graph; use mode='vm'") from None
        return None
    return getattr(module, name) if entry else module


def _scalar_fast_path(inputs, outputs, lowering: Lowering, source: str) -> bool:
    """Whether the kernel also gets a C-callable twin for the C scalar fast path
    (``_fastcall.c``): float64 scalars in and out, nothing else passed, nothing raised (a
    ``cfunc`` cannot pass an exception on)."""
    return (ScalarCall is not None and not lowering.parallel and not lowering.const_args
            and not lowering.dim_names and 0 < len(outputs) <= MAX_SCALARS and len(inputs) <= MAX_SCALARS
            and all(v.ndim == 0 and v.dtype == np.float64 for v in list(inputs) + list(outputs))
            and "raise" not in source)


def _scalar_cfunc_source(n_in: int, n_out: int) -> str:
    """``kernel_c(x, out)``: the kernel on C arrays of doubles, for the scalar fast path."""
    args = ", ".join(f"x[{k}]" for k in range(n_in))
    stores = ["    out[0] = r"] if n_out == 1 else [f"    out[{j}] = r[{j}]" for j in range(n_out)]
    return "\n".join([
        "",
        "",
        "# the C scalar fast path (symdiff/compiler/_fastcall.c): Python floats in, Python floats out",
        "from numba import cfunc, types as nbt",
        "",
        "",
        "@cfunc(nbt.void(nbt.CPointer(nbt.float64), nbt.CPointer(nbt.float64)), cache=True)",
        "def kernel_c(x, out):",
        f"    r = kernel({args})",
        *stores,
    ]) + "\n"


class _Namespace:
    def __init__(self, d):
        self.__dict__.update(d)


class Function:
    """A compiled graph. Call it with arrays in the order of ``inputs``, or by variable name.

    Returns one value per output (a list when ``outputs`` was a list, a dict for a dict): arrays,
    and for 0-d outputs a Python ``float`` (float64 graphs) or ``np.float32`` (float32 graphs).
    Attributes: ``source`` (the generated Numba code: for a tiered Function, the kernel it will
    switch to), ``wrapper_source`` (the argument checks),
    ``compile_seconds``, ``from_cache``, ``mode`` (the tier that runs calls: ``"numba"``, ``"vm"``
    or ``"numpy"``), ``compile_error`` (why a background compile failed, else ``None``).
    ``wait_compiled(timeout)`` waits for the kernel of a tiered Function (``mode="tiered"``).

    When the optional ``_fastcall`` extension is built, calls are taken in C: a function of
    float64 scalars alone passes Python floats straight to a ``cfunc`` twin of its kernel, and
    other functions check ready arguments (C-contiguous arrays of the exact dtype, Python floats)
    in C. Any other call takes the Python wrapper, which converts or refuses its arguments.
    """

    def __init__(self, inputs: Sequence[Variable], outputs, *, parallel: bool = False, mode: str = "auto"):
        inputs = _check_inputs(inputs)
        self._keys = None  # the names of dict outputs: calls then return a dict
        if isinstance(outputs, Mapping):
            self._keys = tuple(outputs)
            outputs = list(outputs.values())
        if outputs is None or isinstance(outputs, (str, bytes)) or not (
                isinstance(outputs, Node) or hasattr(outputs, "__iter__")):
            raise InputError(f"function: outputs must be a node, a list of nodes or a dict {{name: node}}; "
                             f"got {type(outputs).__name__} {outputs!r:.60}")
        outs, self._single = flatten_outputs(outputs, InputError, "function outputs to be symdiff nodes")
        self.inputs = inputs
        self.outputs = outs
        names = [v.name for v in inputs]
        self._positions = {n: k for k, n in enumerate(names) if names.count(n) == 1}
        if mode not in ("auto", "numba", "tiered", "vm", "numpy"):
            raise InputError(f"mode must be 'auto', 'numba', 'tiered', 'vm' or 'numpy', got {mode!r}")
        t0 = time.perf_counter()
        if mode in ("vm", "numpy"):
            return self._use_vm(t0, mode)
        lowering = Lowering(inputs, outs, parallel=parallel)
        # the VM runs a loop's body with NumPy once per step: graphs with loops get a larger budget
        loops = _has_loops(lowering.order)
        limit = max_jit_lines() * (LOOP_LINES_FACTOR if loops else 1)
        # every node that is not inlined takes at least one line: a cheap bound before writing them
        auto = mode in ("auto", "tiered")
        if auto and lowering.min_lines() > limit:
            return self._use_vm(t0, "vm")
        source = lowering.source()
        if auto and source.count("\n") > limit:
            return self._use_vm(t0, "vm")
        fast = _scalar_fast_path(inputs, outs, lowering, source)
        if fast:
            source += _scalar_cfunc_source(len(inputs), len(outs))
        self.compile_error = None  # why a background compile (mode="tiered") failed, if it did
        # "auto" answers on the VM while the kernel compiles elsewhere, except for graphs with
        # loops, whose VM runs the body op by op at every step (slower than compiling can be)
        if mode == "tiered" or (mode == "auto" and not loops and _tiered.tiering_enabled()):
            cached = _tiered.kernel_cached(source_key(source))
            if cached and "numba" in sys.modules:  # loading it here costs little more than a stat
                pass
            elif cached or _tiered.can_tier():
                try:
                    return self._start_tiered(t0, lowering, source, fast, cached)
                except (OSError, RuntimeError):  # no child process, thread or temporary file: compile here
                    pass
        if not self._use_kernel(t0, lowering, source, fast, strict=(mode == "numba")):
            return self._use_vm(t0, "vm")  # Numba's compiler recursed too deep on this graph

    def _use_kernel(self, t0: float, lowering: Lowering, source: str, fast: bool, strict: bool) -> bool:
        """Compile (or load from the disk cache) the Numba kernel of ``source`` and make it this
        Function's call: the generated wrapper, or the C fast call. False when Numba's compiler
        recursed too deep (and not ``strict``)."""
        inputs, outs = self.inputs, self.outputs
        arena = lowering.arena_size()
        sig = _tiered.signature(_tiered.signature_spec(inputs, lowering))
        module = _compile_kernel(source, sig, strict=strict)
        if module is None:
            return False
        kernel = module.kernel
        self.source = source
        self._kernel = kernel
        self._entry = kernel.overloads[sig].entry_point
        self.compile_seconds = time.perf_counter() - t0
        self.from_cache = bool(kernel.stats.cache_hits)  # machine code loaded from the disk cache
        self.wrapper_source = _wrapper_source(inputs, outs, lowering, self._single)
        consts = tuple(c.value for c in lowering.const_args)
        # the workspace of large intermediates (codegen.ARENA_MIN_ENTRIES), kept between calls:
        # of fixed size for static shapes (passed like a constant), else grown by the wrapper
        self._ws = np.empty(0)
        if arena and not lowering.dim_names:
            consts += (np.empty(int(eval(arena, {"_i": int}))),)  # noqa: S307  (sizes and + * only)
        namespace = {
            "_entry": self._entry,
            "_NA": _NA,
            "_rebind": Function._rebind,
            "_kernel_error": _kernel_error,
            "_consts": consts,
            "_ndarray": np.ndarray,
            "_convert": self._convert,
            "_scalar": self._scalar,
            "_bad": self._bad,
            "_result_types": tuple(np.dtype(o.dtype).type for o in outs),
            "_dtypes": tuple(np.dtype(v.dtype) for v in inputs),
            "_float": float,
            "_np_empty": np.empty,
        }
        exec(compile(self.wrapper_source, "<symdiff wrapper>", "exec"), namespace)
        call = namespace["call"]
        wrapper = types.MethodType(call, self)
        if fast:  # floats straight into kernel_c from C; every other call goes to the wrapper
            self._kernel_c = module.kernel_c  # keeps its machine code alive
            call = ScalarCall(module.kernel_c.address, len(inputs), len(outs), self._single, wrapper)
        else:  # ready arguments checked in C; every other call goes to the wrapper
            call = _array_call(self._entry, wrapper, inputs, outs, lowering, consts, self._single) or call
        if self._keys is not None:  # dict outputs: the wrapper's list, keyed by the output names
            call = _dict_call(wrapper, self._keys)
        self.mode = "numba"
        self._call = None
        # Python looks special methods up on the type: the C call (or the generated wrapper)
        # becomes __call__ of a one-off subclass, so a call is one frame, not two
        self.__class__ = type("Function", (Function,), {"__call__": call, "__module__": __name__})
        return True

    # -- tiered execution (compiler/tiered.py) -----------------------------------------------
    def _start_tiered(self, t0: float, lowering: Lowering, source: str, fast: bool, cached: bool) -> None:
        """Answer calls on the NumPy virtual machine while a child process compiles the kernel
        (or, when the disk cache holds it, a thread of this process loads it)."""
        spec = _tiered.signature_spec(self.inputs, lowering)
        self._background = (_tiered.BackgroundLoad if cached else _tiered.BackgroundCompile)(source, spec)
        self._pending = (lowering, source, fast)
        self._use_vm(t0, "numpy")
        self.source = source  # the kernel being compiled (the NumPy tier runs the graph meanwhile)
        self.__class__ = _TieredFunction

    def _switch_tier(self) -> None:
        """The child has exited: load its kernel from the cache (or record why not and stay on
        the virtual machine)."""
        with _tiered.switch_lock:  # calls from several threads: one of them switches
            background, self._background = getattr(self, "_background", None), None
            if background is None:
                return
            self._switch_locked(background)

    def _switch_locked(self, background) -> None:
        (lowering, source, fast), self._pending = self._pending, None
        error = background.error()
        self.background_seconds = background.seconds
        background.close()
        if error is None:
            t0 = time.perf_counter()
            try:
                if self._use_kernel(t0, lowering, source, fast, strict=True):
                    return
            except Exception as exc:  # a kernel that loads nowhere: the VM keeps serving
                error = f"loading the compiled kernel failed: {type(exc).__name__}: {exc}"
        self.compile_error = error
        self.__class__ = Function  # the virtual machine's __call__, without the poll

    def wait_compiled(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds (``None``: no limit) for a background compile
        (``mode="tiered"``) and switch to its kernel. Returns whether the kernel now serves calls
        (``self.mode == "numba"``); immediately for Functions that are not tiered."""
        background = getattr(self, "_background", None)
        if background is not None and background.wait(timeout):
            self._switch_tier()
        return self.mode == "numba"

    def _use_vm(self, t0: float, mode: str) -> None:
        """Run this function on the virtual machine instead of a Numba kernel: ``"vm"`` runs
        elementwise runs on the compiled interpreter (``compiler/vm.py``), ``"numpy"`` runs every
        op with NumPy."""
        self.mode = mode
        self._call = _NumpyProgram(self.inputs, self.outputs, self._single, interpreter=(mode == "vm"))
        runs = getattr(self._call._schedule, "runs", 0)
        self.source = (f"# run by the virtual machine: {runs} elementwise run(s) on the compiled interpreter,\n"
                       "# other ops with NumPy (the graph is larger than the jit budget)\n" if mode == "vm" else
                       "# run by the NumPy virtual machine\n")
        self.wrapper_source = ""
        self.compile_seconds = time.perf_counter() - t0
        self.from_cache = self._call.from_cache  # the interpreter's machine code

    # -- calling ----------------------------------------------------------------------------
    def __call__(self, /, *args, **kwargs):
        """The virtual machine's call (a Numba-compiled Function's is its generated wrapper).
        ``self`` is positional-only, so an input may be named ``self`` and passed by keyword."""
        if kwargs or len(args) != len(self.inputs):
            args = self._rebind(args, (), kwargs)
        try:
            out = self._call(*args)
        except (ValueError, IndexError, ZeroDivisionError) as exc:
            raise _kernel_error(exc) from None
        return out if self._keys is None else dict(zip(self._keys, out))

    def _rebind(self, given: tuple, extra: tuple, kwargs: dict) -> list:
        """The slow path of a call: keywords, or a wrong number of arguments."""
        args = [a for a in given if a is not _NA] + list(extra)
        if not kwargs and len(args) != len(self.inputs):
            raise InputError(
                f"expected {len(self.inputs)} arguments ({', '.join(repr(v.name) for v in self.inputs)}), got {len(args)}"
            )
        return self._bind_keywords(args, kwargs)

    def _bind_keywords(self, args, kwargs):
        full = list(args) + [None] * (len(self.inputs) - len(args))
        if len(args) > len(self.inputs):
            raise InputError(f"expected at most {len(self.inputs)} arguments, got {len(args)}")
        given = [True] * len(args) + [False] * (len(self.inputs) - len(args))
        for name, value in kwargs.items():
            k = self._positions.get(name)
            if k is None and sum(v.name == name for v in self.inputs) > 1:
                where = ", ".join(str(j) for j, v in enumerate(self.inputs) if v.name == name)
                raise InputError(f"argument {name!r} is ambiguous: the inputs at positions {where} are all "
                                 f"named {name!r}; pass them by position")
            if k is None:
                known = ", ".join(repr(v.name) for v in self.inputs)
                raise InputError(f"unknown argument {name!r}; the inputs are {known}")
            if given[k]:
                raise InputError(f"argument {name!r} given twice")
            full[k], given[k] = value, True
        missing = [self.inputs[k].name for k, g in enumerate(given) if not g]
        if missing:
            raise InputError(f"missing arguments: {', '.join(map(repr, missing))}")
        return full

    def _convert(self, value, k: int) -> np.ndarray:
        """Slow path of argument conversion: anything array-like of real numbers."""
        v = self.inputs[k]
        arr = as_input_array(v, value)
        if arr.ndim != v.ndim:
            self._bad(k, arr)
        return arr if arr.ndim == 0 else np.ascontiguousarray(arr)

    def _scalar(self, value, k: int):
        """Slow path for 0-d arguments."""
        arr = self._convert(value, k)
        return float(arr) if arr.dtype == np.float64 else arr[()]

    def _bad(self, k: int, arr, dim=None, bound=None):
        v = self.inputs[k]
        shape = tuple(np.shape(arr))
        if dim is not None:
            raise ShapeError(
                f"argument {v.name!r}: dim {dim!r} is {bound[1]} here but {bound[0]} in an earlier argument "
                f"(shape {shape} for {format_shape(v.shape)})"
            )
        raise ShapeError(f"argument {v.name!r}: expected shape {format_shape(v.shape)}, got {shape}")

    def __repr__(self) -> str:
        ins = ", ".join(v.name for v in self.inputs)
        return f"<symdiff.Function ({ins}) -> {len(self.outputs)} output(s)>"


# In mode="auto", a graph with a loop compiles with up to this many times max_jit_lines(): on the
# VM its body runs op by op with NumPy at every step (the ADBench LSTM: 380 ms a call there
# against 7 ms compiled).
LOOP_LINES_FACTOR = 4


def _has_loops(nodes) -> bool:
    return any(n.op is not None and hasattr(n.op, "subgraphs") for n in nodes)


def max_jit_lines() -> int:
    """Graphs whose kernels take more generated lines than this (``$SYMDIFF_MAX_JIT_LINES``,
    default 400) run on the virtual machine in ``mode="auto"``: Numba's compile time grows
    with the lines it is given (tens of milliseconds each, more for long dependency chains)."""
    text = os.environ.get("SYMDIFF_MAX_JIT_LINES", "400")
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise SymdiffError(f"SYMDIFF_MAX_JIT_LINES must be a non-negative whole number of lines, got {text!r}")
    return value


def _check_inputs(inputs) -> list[Variable]:
    """``function``'s inputs as a list of distinct variables, or an ``InputError`` saying what is wrong."""
    if isinstance(inputs, Variable):
        raise InputError(f"function: inputs must be a list of variables; got the variable {inputs.name!r} "
                         f"itself: write sd.function([{inputs.name}], ...)")
    if inputs is None or isinstance(inputs, (Node, str, bytes, Mapping)) or not hasattr(inputs, "__iter__"):
        raise InputError(f"function: inputs must be a list of variables (sd.tensor(...)), "
                         f"got {type(inputs).__name__} {inputs!r:.60}")
    inputs = list(inputs)
    for k, v in enumerate(inputs):
        if not isinstance(v, Variable):
            raise InputError(f"function: input {k} must be a variable (sd.tensor(...)), got {v!r:.80}")
    if len(set(inputs)) != len(inputs):
        raise InputError("function: a variable is listed twice among the inputs")
    return inputs


def _dict_call(wrapper, keys: tuple):
    """``__call__`` for dict outputs: the wrapper's results keyed by the output names."""
    def call(self, /, *args, **kwargs):
        return dict(zip(keys, wrapper(*args, **kwargs)))

    return call


def _tiered_call(self, /, *args, **kwargs):
    """``__call__`` while a background compile runs: poll the child, switch once it is done."""
    background = self._background
    if background is None or background.done():
        self._switch_tier()
        if type(self) is not _TieredFunction:  # switched (to the kernel, or to the plain VM call)
            return self(*args, **kwargs)
    return Function.__call__(self, *args, **kwargs)


_TieredFunction = type("Function", (Function,), {"__call__": _tiered_call, "__module__": __name__})


class _NumpyProgram:
    """The virtual machine: a fixed schedule of NumPy steps (``symdiff.evaluate.Schedule``), or
    with ``interpreter=True`` also interpreter runs (``symdiff.compiler.vm.Program``)."""

    def __init__(self, inputs, outputs, single: bool, interpreter: bool = False):
        from ..evaluate import Schedule
        from .vm import Program

        self._inputs, self._single = inputs, single
        self._schedule = Program(outputs) if interpreter else Schedule(outputs)
        self.from_cache = getattr(self._schedule, "from_cache", False)  # the interpreter's
        # Python floats for float64 scalar inputs need no checks; 0-d float64 results become floats
        self._floats_in = all(v.ndim == 0 and v.dtype == np.float64 for v in inputs)
        self._float_out = [o.ndim == 0 and o.dtype == np.float64 for o in outputs]

    def __call__(self, *args):
        from ..evaluate import bind_inputs

        if self._floats_in and all(type(a) is float for a in args):
            values, dims = {v: np.array(a) for v, a in zip(self._inputs, args)}, {}
        else:
            values, dims = bind_inputs(self._inputs, dict(zip(self._inputs, args)))  # the wrapper's checks
        out = [r.item() if f else (r[()] if r.ndim == 0 else r)
               for r, f in zip(self._schedule.run(values, dims), self._float_out)]
        return out[0] if self._single else out


class _Missing:
    def __repr__(self):
        return "<missing argument>"


_NA = _Missing()  # the default of every parameter of a generated wrapper: "not given"


def _kernel_error(exc: Exception) -> SymdiffError:
    """A ValueError/IndexError/ZeroDivisionError raised inside a kernel, as a symdiff error."""
    if isinstance(exc, np.linalg.LinAlgError):  # a singular matrix: NumPy's error, as sd.evaluate gives
        return exc
    return exc if isinstance(exc, SymdiffError) else ShapeError(str(exc))


def _wrapper_source(inputs, outputs, lowering: Lowering, single: bool) -> str:
    """The argument-checking wrapper as Python source (names synthetic, as in the kernels).

    It is the ``__call__`` of the Function: positional-only parameters defaulting to ``_NA``,
    so keyword arguments (user-chosen names, never identifiers here) land in ``kwargs`` and take
    the slow path, as do missing or extra arguments."""
    params = [f"a{k}=_NA" for k in range(len(inputs))]
    lines = [f"def call(self, {', '.join(params + ['/', '*extra', '**kwargs'])}):" if params else
             "def call(self, *extra, **kwargs):"]
    names = ", ".join(f"a{k}" for k in range(len(inputs)))
    if inputs:
        lines.append(f"    if kwargs or extra or a{len(inputs) - 1} is _NA:")
        lines.append(f"        {names}{',' if len(inputs) == 1 else ''} = _rebind(self, ({names}{',' if len(inputs) == 1 else ''}), extra, kwargs)")
    else:
        lines.append("    if kwargs or extra:")
        lines.append("        _rebind(self, (), extra, kwargs)")
    bound: set[str] = set()
    for k, v in enumerate(inputs):
        a = f"a{k}"
        if v.ndim == 0:
            if v.dtype == np.float64:
                lines.append(f"    if type({a}) is not _float: {a} = _scalar({a}, {k})")
            else:
                lines.append(f"    {a} = _scalar({a}, {k})")
            continue
        # dtype identity is cheap (dtype.name costs microseconds); an equal but distinct dtype
        # object only takes the slow, converting path
        lines.append(
            f"    if type({a}) is not _ndarray or {a}.dtype is not _dtypes[{k}] or not {a}.flags.c_contiguous: {a} = _convert({a}, {k})"
        )
        lines.append(f"    if {a}.ndim != {v.ndim}: _bad({k}, {a})")
        lines.append(f"    s = {a}.shape")
        for j, d in enumerate(v.shape):
            if isinstance(d, int):
                lines.append(f"    if s[{j}] != {d}: _bad({k}, {a})")
            else:
                dn = lowering.dim_names[d]
                if dn in bound:
                    lines.append(f"    if s[{j}] != {dn}: _bad({k}, {a}, {d!r}, ({dn}, s[{j}]))")
                else:
                    lines.append(f"    {dn} = s[{j}]")
                    bound.add(dn)
    args = [f"a{k}" for k in range(len(inputs))] + [f"_consts[{j}]" for j in range(len(lowering.const_args))]
    arena = lowering.arena_size()
    if arena and lowering.dim_names:  # the workspace, grown to this call's sizes when too small
        lines.append(f"    need = {arena}")
        lines.append("    ws = self._ws")
        lines.append("    if ws.shape[0] < need: ws = self._ws = _np_empty(need)")
        args.append("ws")
    elif arena:
        args.append(f"_consts[{len(lowering.const_args)}]")
    args += list(lowering.dim_names.values())
    lines.append("    try:")
    lines.append(f"        r = _entry({', '.join(args)})")
    lines.append("    except (ValueError, IndexError, ZeroDivisionError) as exc:  # raised inside the kernel")
    lines.append("        raise _kernel_error(exc) from None")
    lines.append(f"    return {_result_expr(outputs, single)}")
    return "\n".join(lines) + "\n"


def _result_expr(outputs, single: bool) -> str:
    """What the wrapper returns, from the kernel's result ``r`` (one output comes back bare,
    several as a tuple); 0-d float64 results are Python floats already."""
    outs = []
    for j, o in enumerate(outputs):
        r = "r" if len(outputs) == 1 else f"r[{j}]"
        outs.append(f"_result_types[{j}]({r})" if o.ndim == 0 and o.dtype != np.float64 else r)
    if single:
        return outs[0]
    if all(o == f"r[{j}]" for j, o in enumerate(outs)) and len(outputs) > 1:
        return "list(r)"
    return f"[{', '.join(outs)}]"


# how ArrayCall (``_fastcall.c``) builds the same result: 0 as it is, 1 list(r), 2 [r]
_RESULT_FORMS = {"r": 0, "list(r)": 1, "[r]": 2}


def _array_call(entry, fallback, inputs, outputs, lowering: Lowering, consts: tuple, single: bool):
    """The C-checked call (``_fastcall.c``'s ArrayCall) for this function, or None where the
    wrapper must run every call: inputs it always converts (0-d non-float64 scalars) or
    results it converts (0-d float32 outputs)."""
    form = _RESULT_FORMS.get(_result_expr(outputs, single))
    if ArrayCall is None or form is None or any(v.ndim == 0 and v.dtype != np.float64 for v in inputs):
        return None
    if lowering.arena_size() and lowering.dim_names:  # the wrapper sizes the workspace
        return None
    dims = list(lowering.dim_names)
    specs = tuple(None if v.ndim == 0 else
                  (np.dtype(v.dtype), tuple(d if isinstance(d, int) else -1 - dims.index(d) for d in v.shape))
                  for v in inputs)
    if (len(inputs) + len(consts) + len(dims) > ARRAY_MAX_ARGS
            or sum(v.ndim for v in inputs) > ARRAY_MAX_SIZES):
        return None
    return ArrayCall(entry, specs, consts, len(dims), form, fallback)


def function(inputs: Sequence[Variable], outputs, *, parallel: bool = False, mode: str = "auto") -> Function:
    """Compile ``outputs`` (a node, a list, or a dict ``{name: node}``, whose calls then return a
    dict) as a function of ``inputs`` (a list of variables, in call order).

    ``parallel=True`` runs large loops with Numba's ``prange``. ``mode="numba"`` always generates
    Numba kernels; ``"vm"`` runs the virtual machine (runs of elementwise ops on one compiled
    interpreter, other ops with NumPy); ``"numpy"`` runs every op with NumPy; ``"tiered"``
    answers its first calls with NumPy at once while a child process compiles the kernel into
    the disk cache (or, when the cache holds it, a thread loads it), and switches to the kernel
    when it is ready (``compiler/tiered.py``; ``F.wait_compiled()`` waits for that). ``"auto"``
    (default) uses Numba unless the generated kernels would exceed ``max_jit_lines()`` lines (the
    virtual machine then), and is tiered for graphs without loop nodes (unless
    ``SYMDIFF_TIERED=0`` is in the environment): results come at once, and the tier switch may
    change the last bits of a result (NumPy's and Numba's roundings differ).
    """
    return Function(inputs, outputs, parallel=parallel, mode=mode)
