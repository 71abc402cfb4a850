"""``symdiff.numpy``: the differentiable part of the NumPy API, under NumPy's names and signatures.

Code written against ``numpy`` or ``jax.numpy`` runs after changing its import line::

    import symdiff.numpy as snp          # was: import jax.numpy as jnp
    def rosen(x):
        return snp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)

Every function takes symdiff nodes (and numbers or arrays, which become constants) and returns
nodes, so the result can be differentiated (``sd.grad``), compiled (``sd.function``) and printed.
What differs from NumPy: arrays are immutable values (use ``x.at[idx].set(v)`` as in JAX instead
of ``x[idx] = v``), ``out=`` arguments are refused, integer arithmetic is done in floating point,
and shapes that depend on data (``nonzero`` of a symbolic mask) are refused.

NumPy's own functions build nodes too: ``np.exp(x)``, ``np.sum(x, axis=0)``, ``A @ x`` and
``ndarray * x`` dispatch here through ``__array_ufunc__`` / ``__array_function__``.
"""
from __future__ import annotations

import builtins
from typing import Callable

import numpy as _np

from .. import ops as _ops
from ..errors import ShapeError, SymdiffError
from ..graph import Constant, Node, as_node
from ..ops.indexing import take, take_along_axis  # noqa: F401
from ..ops.math import *  # noqa: F401,F403
from ..ops.contract import *  # noqa: F401,F403
from ..ops.statistics import *  # noqa: F401,F403
from ..ops.shaping import *  # noqa: F401,F403
from ..ops.numerical import *  # noqa: F401,F403
from ..types import as_dtype, format_shape

# -- dtypes and constants -------------------------------------------------------------------
float64, float32, int64, int32, bool_ = _np.float64, _np.float32, _np.int64, _np.int32, _np.bool_
float_, int_ = _np.float64, _np.int64
pi, e, inf, nan, newaxis, euler_gamma = _np.pi, _np.e, _np.inf, _np.nan, None, _np.euler_gamma
ndarray = Node  # isinstance(x, snp.ndarray) is True for nodes
dtype = _np.dtype
finfo, iinfo = _np.finfo, _np.iinfo


def _no_out(name: str, out=None, where=None) -> None:
    if out is not None:
        raise SymdiffError(f"{name}: out= is not supported (symdiff arrays are immutable values)")
    if where is not None and where is not True:
        raise SymdiffError(f"{name}: where= is not supported; use snp.where(mask, x, identity)")


def _with_dtype(x: Node, dt) -> Node:
    return x if dt is None else asarray(x, dtype=dt)


# -- array constructors ---------------------------------------------------------------------
def _contains_node(obj) -> bool:
    stack = [obj]
    while stack:
        o = stack.pop()
        if isinstance(o, Node):
            return True
        if isinstance(o, (list, tuple)):
            stack.extend(o)
    return False


def _numpy_constant(value, dt=None) -> Node:
    arr = _np.asarray(value)
    if dt is not None:
        arr = arr.astype(as_dtype(dt))
    elif arr.dtype.kind in "iu":
        arr = arr.astype(_np.int64)
    elif arr.dtype.kind == "f" and arr.dtype != _np.float32:
        arr = arr.astype(_np.float64)
    if arr.dtype.kind not in "biuf":
        raise SymdiffError(f"array: cannot make an array of dtype {arr.dtype}")
    return Constant(_np.array(arr, order="C"))  # a copy: the caller's array stays writable


def array(object, dtype=None, copy: bool = True, ndmin: int = 0) -> Node:
    """``np.array``: a node from a node, a number, an array, or nested lists mixing nodes and numbers."""
    if isinstance(object, Node):
        out = _with_dtype(object, dtype)
    elif not _contains_node(object):
        out = _numpy_constant(object, dtype)
    else:
        out = _stack_nested(object, dtype)
    while out.ndim < ndmin:
        out = _ops.expand_dims(out, 0)
    return out


def _stack_nested(obj, dt) -> Node:
    """Nested lists holding nodes, stacked bottom-up without recursion."""
    # post-order walk: each list becomes a stacked node once its items are done
    done: dict[int, Node] = {}
    stack = [(obj, False)]
    while stack:
        o, ready = stack.pop()
        if not isinstance(o, (list, tuple)):
            continue
        if not ready:
            stack.append((o, True))
            stack.extend((c, False) for c in o if isinstance(c, (list, tuple)))
            continue
        items = [done[id(c)] if isinstance(c, (list, tuple)) else as_node(c) for c in o]
        if not items:
            raise ShapeError("array: an empty list among nodes has no shape")
        target = _ops.elementwise.result_dtype(*[i.dtype for i in items if not getattr(i, "weak", False)])
        items = [i if i.dtype == target or i.dtype.kind not in "fiub" else _ops.cast(i, target) for i in items]
        shapes = {i.shape for i in items}
        if len(shapes) > 1:
            raise ShapeError(f"array: the items have different shapes {sorted(map(format_shape, shapes))}")
        done[id(o)] = _ops.stack(items, 0)
    return _with_dtype(done[id(obj)], dt)


def asarray(a, dtype=None, order=None, copy=None) -> Node:
    """``np.asarray``: nodes pass through (cast to ``dtype`` if given)."""
    if isinstance(a, Node):
        if dtype is None:
            return a
        dt = as_dtype(dtype)
        if a.dtype == dt:
            return a
        if dt.kind in "iub" and a.dtype.kind == "f":
            raise SymdiffError(
                f"astype({dt}): converting a float node to integers has no gradient; "
                "use snp.floor / snp.round (they stay float)"
            )
        return _ops.cast(a, dt) if dt.kind == "f" else _cast_exact(a, dt)
    return array(a, dtype)


def _cast_exact(a: Node, dt) -> Node:
    """Integer/bool conversions: of constants only (a node's would carry no gradient)."""
    if isinstance(a, Constant):
        return Constant(a.value.astype(dt))
    raise SymdiffError(f"astype({dt}) of a {a.dtype} node is not supported")


asanyarray = asarray
ascontiguousarray = asarray


def _shape_arg(shape) -> tuple:
    if isinstance(shape, (int, _np.integer, str)):
        return (shape,)
    return tuple(shape)


def full(shape, fill_value, dtype=None) -> Node:
    """``np.full``: a node of ``shape`` filled with ``fill_value`` (a number or a node)."""
    shape = _shape_arg(shape)
    if isinstance(fill_value, Node):
        out = _ops.broadcast_to(fill_value, shape)
        return _with_dtype(out, dtype)
    dt = as_dtype(dtype) if dtype is not None else (
        _np.dtype(_np.int64) if isinstance(fill_value, (int, _np.integer)) and not isinstance(fill_value, bool)
        else _np.dtype(bool) if isinstance(fill_value, (bool, _np.bool_)) else _np.dtype(_np.float64))
    if builtins.all(isinstance(d, (int, _np.integer)) for d in shape) and int(_np.prod(shape)) <= 4096:
        return Constant(_np.full(shape, fill_value, dtype=dt))
    return _ops.broadcast_to(Constant(_np.array(fill_value, dtype=dt)), shape)


def zeros(shape, dtype=None) -> Node:
    return full(shape, 0.0 if dtype is None else _np.zeros((), as_dtype(dtype))[()], dtype)


def ones(shape, dtype=None) -> Node:
    return full(shape, 1.0 if dtype is None else _np.ones((), as_dtype(dtype))[()], dtype)


empty = zeros


def _like_dtype(a, dtype):
    if dtype is not None:
        return dtype
    return a.dtype if isinstance(a, Node) else _np.asarray(a).dtype


def full_like(a, fill_value, dtype=None, shape=None) -> Node:
    shape = _np.shape(a) if not isinstance(a, Node) else a.shape if shape is None else shape
    return full(shape, fill_value, _like_dtype(a, dtype))


def zeros_like(a, dtype=None, shape=None) -> Node:
    return full_like(a, 0, dtype, shape)


def ones_like(a, dtype=None, shape=None) -> Node:
    return full_like(a, 1, dtype, shape)


empty_like = zeros_like


def eye(N: int, M: int | None = None, k: int = 0, dtype=None) -> Node:
    return _numpy_constant(_np.eye(N, M, k), dtype or _np.float64)


def identity(n: int, dtype=None) -> Node:
    return eye(n, dtype=dtype)


def arange(start, stop=None, step=None, dtype=None) -> Node:
    """``np.arange`` as a constant node (int64 for integer arguments, as NumPy)."""
    return _numpy_constant(_np.arange(start, stop, step) if step is not None else
                           _np.arange(start, stop) if stop is not None else _np.arange(start), dtype)


def linspace(start, stop, num: int = 50, endpoint: bool = True, retstep: bool = False, dtype=None, axis: int = 0):
    """``np.linspace``; ``start``/``stop`` may be nodes (the result is then a node of them)."""
    if isinstance(start, Node) or isinstance(stop, Node):
        div = (num - 1) if endpoint else num
        t = _numpy_constant(_np.arange(num) / builtins.max(div, 1))
        start, stop = as_node(start), as_node(stop)
        shape_extra = _np.broadcast_shapes(start.shape, stop.shape)
        t = _ops.reshape(t, (num,) + (1,) * len(shape_extra))
        out = start + t * (stop - start)
        if axis != 0:
            out = moveaxis(out, 0, axis)
        return (out, (stop - start) / div) if retstep else out
    res = _np.linspace(start, stop, num, endpoint, retstep, axis=axis)
    if retstep:
        return _numpy_constant(res[0], dtype), res[1]
    return _numpy_constant(res, dtype)


def logspace(start, stop, num: int = 50, endpoint: bool = True, base: float = 10.0, dtype=None) -> Node:
    return _numpy_constant(_np.logspace(start, stop, num, endpoint, base), dtype)


def geomspace(start, stop, num: int = 50, endpoint: bool = True, dtype=None) -> Node:
    return _numpy_constant(_np.geomspace(start, stop, num, endpoint), dtype)


def tri(N: int, M: int | None = None, k: int = 0, dtype=None) -> Node:
    return _numpy_constant(_np.tri(N, M, k), dtype or _np.float64)


def _int_tuple(arrs):
    return tuple(_numpy_constant(a) for a in arrs)


def triu_indices(n: int, k: int = 0, m: int | None = None):
    return _int_tuple(_np.triu_indices(n, k, m))


def tril_indices(n: int, k: int = 0, m: int | None = None):
    return _int_tuple(_np.tril_indices(n, k, m))


def diag_indices(n: int, ndim: int = 2):
    return _int_tuple(_np.diag_indices(n, ndim))


def indices(dimensions, dtype=int, sparse: bool = False):
    res = _np.indices(dimensions, dtype=_np.int64, sparse=sparse)
    return tuple(_numpy_constant(r) for r in res) if sparse else _numpy_constant(res)


def meshgrid(*xi, indexing: str = "xy", sparse: bool = False, copy: bool = True):
    """``np.meshgrid`` of 1-d nodes or arrays."""
    xs = [as_node(x) for x in xi]
    n = len(xs)
    shapes = [x.shape[0] for x in xs]
    if indexing == "xy" and n >= 2:
        shapes[0], shapes[1] = shapes[1], shapes[0]
    out = []
    for i, x in enumerate(xs):
        pos = i
        if indexing == "xy" and n >= 2 and i < 2:
            pos = 1 - i
        shape = [1] * n
        shape[pos] = x.shape[0]
        g = _ops.reshape(x, tuple(shape))
        out.append(g if sparse else _ops.broadcast_to(g, tuple(shapes)))
    return out


# -- shape queries ----------------------------------------------------------------------------
def shape(a) -> tuple:
    return a.shape if isinstance(a, Node) else _np.shape(a)


def ndim(a) -> int:
    return a.ndim if isinstance(a, Node) else _np.ndim(a)


def size(a, axis=None):
    """``np.size``: an int for static shapes (a scalar node with named dims)."""
    if not isinstance(a, Node):
        return _np.size(a, axis)
    dims = a.shape if axis is None else (a.shape[axis],)
    if builtins.all(isinstance(d, int) for d in dims):
        return int(_np.prod(dims, dtype=_np.int64))
    return _ops.size(a, axis)


def result_type(*args):
    return _np.result_type(*[a.dtype if isinstance(a, Node) else a for a in args])


def iscomplexobj(x) -> bool:
    return False


def isscalar(x) -> bool:
    return _np.isscalar(x)


# -- reductions with NumPy's signatures -------------------------------------------------------
def _masked(a: Node, where, fill: float) -> Node:
    """``a`` with the entries outside ``where`` replaced by ``fill`` (reductions' ``where=``)."""
    if where is None or where is True:
        return a
    mask = where if isinstance(where, Node) else _numpy_constant(_np.asarray(where, dtype=bool))
    return _ops.where(mask, a, fill)


def sum(a, axis=None, dtype=None, out=None, keepdims: bool = False, initial=None, where=None) -> Node:
    _no_out("sum", out)
    r = _ops.sum(_masked(_with_dtype(as_node(a), dtype), where, 0.0), axis=axis, keepdims=keepdims)
    return r if initial is None else r + initial


def mean(a, axis=None, dtype=None, out=None, keepdims: bool = False, where=None) -> Node:
    _no_out("mean", out)
    a = _with_dtype(as_node(a), dtype)
    if where is None or where is True:
        return _ops.mean(a, axis=axis, keepdims=keepdims)
    count = _ops.sum(_masked(_ops.ones_like(a), where, 0.0), axis=axis, keepdims=keepdims)
    return _ops.sum(_masked(a, where, 0.0), axis=axis, keepdims=keepdims) / count


def max(a, axis=None, out=None, keepdims: bool = False, initial=None, where=None) -> Node:
    _no_out("max", out)
    if where is not None and where is not True and initial is None:
        raise SymdiffError("max: where= needs initial= (the value of an empty selection), as in NumPy")
    r = _ops.max(_masked(as_node(a), where, -_np.inf), axis=axis, keepdims=keepdims)
    return r if initial is None else _ops.maximum(r, initial)


def min(a, axis=None, out=None, keepdims: bool = False, initial=None, where=None) -> Node:
    _no_out("min", out)
    if where is not None and where is not True and initial is None:
        raise SymdiffError("min: where= needs initial= (the value of an empty selection), as in NumPy")
    r = _ops.min(_masked(as_node(a), where, _np.inf), axis=axis, keepdims=keepdims)
    return r if initial is None else _ops.minimum(r, initial)


amax, amin = max, min


# -- elementwise and structure from the core, with NumPy's names ------------------------------
exp, log, log1p, expm1, sqrt, sin, cos, tan, tanh = (
    _ops.exp, _ops.log, _ops.log1p, _ops.expm1, _ops.sqrt, _ops.sin, _ops.cos, _ops.tan, _ops.tanh)
sign, maximum, minimum = _ops.sign, _ops.maximum, _ops.minimum
add, multiply, power = _ops.add, _ops.mul, _ops.power
greater, greater_equal, less, less_equal, equal, not_equal = (
    _ops.greater, _ops.greater_equal, _ops.less, _ops.less_equal, _ops.equal, _ops.not_equal)
matmul, outer, transpose, swapaxes, broadcast_to, expand_dims = (
    _ops.matmul, _ops.outer, _ops.transpose, _ops.swapaxes, _ops.broadcast_to, _ops.expand_dims)


def abs(x) -> Node:
    return _ops.abs(x)


absolute = abs


def subtract(a, b) -> Node:
    return _ops.sub(a, b)


def divide(a, b) -> Node:
    return _ops.div(a, b)


true_divide = divide


def negative(x) -> Node:
    return _ops.neg(x)


def square(x) -> Node:
    return _ops.square(x)


def dot(a, b) -> Node:
    """``np.dot``: scalars multiply, vectors and matrices multiply, N-d contracts the last axis of
    ``a`` with the second-to-last of ``b``."""
    a, b = as_node(a), as_node(b)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    if a.ndim <= 2 and b.ndim <= 2:
        return _ops.matmul(a, b)
    return tensordot(a, b, axes=([a.ndim - 1], [b.ndim - 2 if b.ndim >= 2 else 0]))


def reshape(a, newshape=None, order: str = "C", shape=None) -> Node:
    """``np.reshape``; ``order='F'`` is the C-order reshape of the reversed axes, reversed back."""
    target = shape if shape is not None else newshape
    if target is None:
        raise ShapeError("reshape: the new shape is missing")
    a = as_node(a)
    if order == "F":
        target = (target,) if isinstance(target, (int, _np.integer, str)) else tuple(target)
        return _ops.transpose(_ops.reshape(_ops.transpose(a), target[::-1]))
    if order not in ("C", "A"):
        raise SymdiffError(f"reshape: order must be 'C' or 'F', got {order!r}")
    return _ops.reshape(a, target)


def vander(x, N: int | None = None, increasing: bool = False) -> Node:
    """``np.vander``: columns are powers of ``x`` (decreasing unless ``increasing``)."""
    x = as_node(x)
    n = x.shape[0] if N is None else N
    cols = [x ** k if k else _ops.ones_like(x) for k in range(n)]
    return stack(cols if increasing else cols[::-1], axis=1)


def select(condlist, choicelist, default=0) -> Node:
    """``np.select``: the choice of the first condition that holds, else ``default``."""
    if len(condlist) != len(choicelist):
        raise ShapeError(f"select: {len(condlist)} conditions for {len(choicelist)} choices")
    out = as_node(default)
    for c, v in reversed(list(zip(condlist, choicelist))):
        out = where(c, v, out)
    return out


def block(arrays) -> Node:
    """``np.block``: nested lists of nodes joined along the last axes (depth d joins axis -d)."""
    def depth(o):
        d = 0
        while isinstance(o, list):
            o, d = (o[0] if o else None), d + 1
        return d

    total = depth(arrays)

    def join(o, level):
        if not isinstance(o, list):
            x = as_node(o)
            while x.ndim < total:
                x = _ops.expand_dims(x, 0)
            return x
        return concatenate([join(c, level + 1) for c in o], axis=-(total - level))

    return join(arrays, 0)


def vectorize(pyfunc: Callable, *, excluded=None, signature=None) -> Callable:
    """``np.vectorize`` / ``jnp.vectorize`` of a scalar function: the arguments are broadcast,
    flattened and the function mapped over them with ``vmap`` (one graph, no Python loop)."""
    if signature is not None or excluded:
        raise SymdiffError("vectorize: signature= and excluded= are not supported")

    def vectorized(*args):
        nodes = [as_node(a) for a in args]
        shape_ = _np.broadcast_shapes(*[n.shape for n in nodes])
        if not shape_:
            return pyfunc(*nodes)
        flat = [_ops.reshape(_ops.broadcast_to(n, shape_), (-1,)) for n in nodes]
        out = vmap(pyfunc)(*flat)
        return _ops.reshape(out, shape_)

    return vectorized


def squeeze(a, axis=None) -> Node:
    return _ops.squeeze(as_node(a), axis)


def concatenate(arrays, axis: int | None = 0, dtype=None) -> Node:
    if isinstance(arrays, Node):
        arrays = list(arrays)
    if axis is None:
        arrays, axis = [ravel(a) for a in arrays], 0
    return _with_dtype(_ops.concatenate([as_node(a) for a in arrays], axis), dtype)


def stack(arrays, axis: int = 0, dtype=None) -> Node:
    if isinstance(arrays, Node):
        arrays = list(arrays)
    return _with_dtype(_ops.stack([as_node(a) for a in arrays], axis), dtype)


def where(condition, x=None, y=None) -> Node:
    """``np.where(c, x, y)``; the one-argument form needs a constant condition."""
    if x is None and y is None:
        if isinstance(condition, Node) and not isinstance(condition, Constant):
            raise ShapeError("where(condition) of a symbolic condition has a data-dependent shape")
        return nonzero(condition)
    c = condition if isinstance(condition, Node) else _numpy_constant(_np.asarray(condition, dtype=bool))
    if c.dtype != _np.dtype(bool):
        c = _ops.not_equal(c, 0.0)
    return _ops.where(c, x, y)


def nonzero(a):
    """``np.nonzero`` of a constant: a tuple of int64 constant index arrays."""
    if isinstance(a, Node) and not isinstance(a, Constant):
        raise ShapeError("nonzero of a symbolic node has a data-dependent shape")
    v = a.value if isinstance(a, Constant) else _np.asarray(a)
    return _int_tuple(_np.nonzero(v))


def clip(a, a_min=None, a_max=None, out=None, *, min=None, max=None) -> Node:
    """``np.clip``; bounds may be numbers, None (no bound) or nodes."""
    _no_out("clip", out)
    lo = a_min if a_min is not None else min
    hi = a_max if a_max is not None else max
    x = as_node(a)
    if (lo is None or not isinstance(lo, Node)) and (hi is None or not isinstance(hi, Node)) \
            and (lo is None or _np.ndim(lo) == 0) and (hi is None or _np.ndim(hi) == 0):
        return _ops.clip(x, -_np.inf if lo is None else float(lo), _np.inf if hi is None else float(hi))
    if lo is not None:
        x = _ops.maximum(x, lo)
    if hi is not None:
        x = _ops.minimum(x, hi)
    return x


def isclose(a, b, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> Node:
    """``np.isclose`` (``equal_nan`` is accepted but NaNs never compare close)."""
    a, b = as_node(a), as_node(b)
    return _ops.less_equal(_ops.abs(a - b), atol + rtol * _ops.abs(b))


def allclose(a, b, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> Node:
    return all(isclose(a, b, rtol, atol, equal_nan))


def array_equal(a, b) -> Node:
    return all(equal(a, b))


def sort(a, axis: int | None = -1, kind=None, order=None) -> Node:
    """``np.sort`` (a permutation of the entries; the gradient follows the entries)."""
    from ..ops.sorting import sort as _sort

    return _sort(a, axis)


def argsort(a, axis: int | None = -1, kind=None, order=None) -> Node:
    from ..ops.sorting import argsort as _argsort

    return _argsort(a, axis)


# -- transformations (JAX's signatures) ------------------------------------------------------
def vmap(fun: Callable, in_axes=0, out_axes=0) -> Callable:
    """``jax.vmap``: ``fun`` mapped over an axis of its arguments (see ``symdiff.vmap``)."""
    from ..vmap import vmap_function

    return vmap_function(fun, in_axes, out_axes)


from .. import linalg  # noqa: E402  (snp.linalg is symdiff.linalg)


# -- NumPy protocol dispatch (np.exp(node), np.sum(node), ndarray * node) --------------------
_UFUNC_ALIASES = {"absolute": "abs", "true_divide": "divide", "conjugate": "positive", "conj": "positive"}


def _dispatch_ufunc(ufunc, method, inputs, kwargs):
    if kwargs.get("out") is not None:
        raise SymdiffError(f"np.{ufunc.__name__}: out= is not supported for symdiff nodes")
    dt = kwargs.pop("dtype", None)
    for k in ("out", "casting", "order", "subok"):
        kwargs.pop(k, None)
    if kwargs.get("where", True) is not True:
        raise SymdiffError(f"np.{ufunc.__name__}: where= is not supported for symdiff nodes")
    kwargs.pop("where", None)
    name = _UFUNC_ALIASES.get(ufunc.__name__, ufunc.__name__)
    if method == "__call__":
        fn = globals().get(name)
        if fn is None:
            return NotImplemented
        out = fn(*inputs, **kwargs)
        return out if dt is None else asarray(out, dtype=dt)
    if method == "reduce" and name in ("add", "multiply", "maximum", "minimum", "logical_and", "logical_or"):
        red = {"add": sum, "multiply": globals().get("prod"), "maximum": max, "minimum": min,
               "logical_and": globals().get("all"), "logical_or": globals().get("any")}[name]
        axis = kwargs.pop("axis", 0)
        return red(inputs[0], axis=axis, **{k: v for k, v in kwargs.items() if k == "keepdims"})
    if method == "accumulate" and name in ("add", "multiply"):
        fn = globals().get("cumsum" if name == "add" else "cumprod")
        return fn(inputs[0], axis=kwargs.get("axis", 0))
    return NotImplemented


def _dispatch_function(func, args, kwargs):
    module = getattr(func, "__module__", "") or ""
    name = func.__name__
    if "linalg" in module:
        fn = getattr(linalg, name, None)
    else:
        fn = globals().get(name)
    if fn is None or name.startswith("_"):
        return NotImplemented
    return fn(*args, **kwargs)
