"""Reductions, scans and statistics with NumPy's names: prod, cumsum, cumprod, var, std, ptp,
average, any, all, argmax, argmin, nansum, nanmean, nanmax, nanmin and norm.

Most are compositions of existing ops (and get gradients, batching, sparsity patterns and
lowering from them). New op classes are written only where composition would be wrong or slow:

* ``Prod``: a reduction accumulated in the loop over its input. Its gradient is the product of
  the *other* entries of each reduction group (exclusive cumulative products from both ends),
  never ``prod / x``, so it is right where entries are zero.
* ``CumSum``, ``CumProd`` and ``LinearRecurrence`` (``s_k = a_k s_{k-1} + b_k``): scans along one
  axis, forward or reversed, lowered to loops. cumsum's gradient is the reversed cumsum;
  cumprod's gradient is ``E * S`` with ``E`` the exclusive cumprod and ``S`` a reversed linear
  recurrence, exact with zeros (no division). The recurrence's own gradient is again a
  recurrence, so Hessians work.
* ``Shift``: ``out[k] = x[k - offset]`` along an axis, ``fill`` where that falls outside; it
  works on named dims, where a slice joined to a fill by ``concatenate`` needs static sizes.
* ``ArgMax``, ``ArgMin``: int64 positions (the first one on ties, the first NaN if any, as
  NumPy), over one axis or flattened contiguous axes; no gradient.
"""
from __future__ import annotations

import numpy as np

from .. import patterns
from ..batching import all_batched, shift
from ..errors import DTypeError, ShapeError, SymdiffError
from ..graph import Constant, Node, as_node
from ..types import BOOL, as_dtype, broadcast_shapes, format_shape, normalize_axis, result_dtype
from .base import Op
from ..compiler.lazyjit import njit  # Numba is imported when a kernel needs these
from ..compiler.codegen import size_tuple
from .elementwise import abs as _abs, cast, equal, greater, not_equal, power, sqrt, where
from .reduction import Reduce, _reduce, max_, mean, min_, reduced_shape, size, sum_
from .structure import broadcast_to, expand_dims, reshape, transpose

__all__ = [
    "prod", "cumsum", "cumprod", "var", "std", "ptp", "average", "any", "all", "argmax", "argmin",
    "nansum", "nanmean", "nanmax", "nanmin", "norm",
]

_INF = float("inf")


# ---------------------------------------------------------------------------------------------
# Helpers shared by the lowerings
# ---------------------------------------------------------------------------------------------
def _dtype_expr(dtype) -> str:
    return f"np.{np.dtype(dtype).name}"


def _product(ctx, shape) -> str:
    """Source text of the number of entries of ``shape``."""
    return " * ".join(ctx.dim(d) for d in shape) or "1"


def _three(ctx, shape, axis: int) -> tuple[str, str, str]:
    """Source text of the sizes (before, at, after) ``axis``: a kernel sees the array as 3-d."""
    return _product(ctx, shape[:axis]), ctx.dim(shape[axis]), _product(ctx, shape[axis + 1:])


def _as3(arg: str, x: Node, dtype, sizes) -> str:
    """Source text of input ``arg`` as a contiguous 3-d array of ``dtype``."""
    if x.dtype != dtype:
        arg = f"{arg}.astype({_dtype_expr(dtype)})"
    return f"_reshape({arg}, {size_tuple(list(sizes))})"


def _as_float(x: Node, what: str, dtype=None) -> Node:
    """``x`` as a float node (bools and ints become float64; ``dtype`` casts)."""
    x = as_node(x)
    if dtype is not None:
        dt = as_dtype(dtype)
        if dt.kind != "f":
            raise DTypeError(f"{what}: dtype must be float64 or float32, got {dt}")
        return cast(x, dt)
    if x.dtype.kind != "f":
        return cast(x, "float64")
    return x


def _flat(x: Node, what: str) -> Node:
    """``x`` flattened (C order), as ``axis=None`` does in NumPy's scans."""
    from .shaping import ravel

    try:
        return ravel(x)
    except ShapeError:
        raise ShapeError(
            f"{what}: axis=None flattens the input, which needs static sizes; the input has shape "
            f"{format_shape(x.shape)} (give an axis)"
        ) from None


def _one_axis(what: str, axis, ndim: int) -> int:
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, (bool, np.bool_)):
        raise ShapeError(f"{what}: axis must be an int or None, got {axis!r}")
    return normalize_axis(what, int(axis), ndim)[0]


# ---------------------------------------------------------------------------------------------
# prod: a reduction with an exact gradient at zeros
# ---------------------------------------------------------------------------------------------
class Prod(Reduce):
    """Product over axes; the gradient is the product of the other entries of each group."""

    name, numpy = "prod", np.prod
    init, update = "1.0", "{acc} *= {x}"

    def bprop(self, inputs, output, D):
        x = inputs[0]
        return [self.keep(D) * _product_of_others(x, self.axis)]


def _exclusive(x: Node, axis: int) -> Node:
    """For each entry, the product of the other entries along ``axis`` (no division)."""
    before = Shift(axis=axis, offset=1, fill=1.0)(CumProd(axis=axis, reverse=False)(x))
    after = Shift(axis=axis, offset=-1, fill=1.0)(CumProd(axis=axis, reverse=True)(x))
    return before * after


def _product_of_others(x: Node, axes: tuple) -> Node:
    """For each entry of ``x``, the product of the other entries of its reduction group over
    ``axes``: along the first axis the products of the other sub-groups (reduced over the
    remaining axes), times the product of the others within its own sub-group."""
    out = None
    for k, a in enumerate(axes):
        rest = axes[k + 1:]
        part = Prod(rest, True)(x) if rest else x
        factor = _exclusive(part, a)
        out = factor if out is None else out * factor
    return broadcast_to(out, x.shape)


def prod(a, axis=None, dtype=None, keepdims: bool = False) -> Node:
    """Product of entries over ``axis`` (None: all), as ``np.prod``; exact gradient at zeros."""
    x = _as_float(a, "prod", dtype)
    return _reduce(Prod, x, axis, keepdims)


# ---------------------------------------------------------------------------------------------
# Scans along one axis
# ---------------------------------------------------------------------------------------------
def _scan_pairs(shape, axis: int, reverse: bool):
    """(output entry, input entry) pairs of a scan: output k reads inputs j <= k (j >= k reversed)."""
    n = shape[axis]
    tri = np.triu(np.ones((n, n), dtype=bool)) if reverse else np.tril(np.ones((n, n), dtype=bool))
    ko, ki = np.nonzero(tri)
    A = patterns.arange(shape)
    return np.take(A, ko, axis=axis).ravel(), np.take(A, ki, axis=axis).ravel()


class Scan(Op):
    """A scan along ``axis`` (``reverse``: from the last entry back); inputs of the output's shape."""

    def infer(self, *xs):
        shape = xs[0].shape
        for x in xs[1:]:
            if x.shape != shape:
                raise ShapeError(f"{self.name}: inputs of shapes {', '.join(format_shape(y.shape) for y in xs)} differ")
        if not 0 <= self.axis < len(shape):
            raise ShapeError(f"{self.name}: axis {self.axis} is out of range for shape {format_shape(shape)}")
        return shape, result_dtype(*(x.dtype for x in xs))

    def batch(self, node, args, flags, B):
        return type(self)(**{**self.params, "axis": self.axis + 1})(*all_batched(node, args, flags, B))

    def pattern(self, node, pats, shapes, dims):
        out_idx, in_idx = _scan_pairs(shapes[0], self.axis, self.reverse)
        n_out = patterns.size(shapes[0])
        return patterns.union([patterns.gather(out_idx, in_idx, n_out, P) for P in pats if P is not None])

    helper = None  # the cached Numba helper that runs the scan (below)

    def lower(self, ctx, node, args, out):
        """The input seen as 3-d (before, axis, after), scanned by a cached helper."""
        P, N, Q = _three(ctx, node.shape, self.axis)
        xs = [_as3(arg, x, node.dtype, (P, N, Q)) for arg, x in zip(args, node.inputs)]
        call = f"_statistics.{self.helper}({', '.join(xs)}, {self.reverse})"
        return [f"{out} = _reshape({call}, {ctx.shape_expr(node.shape)})"]


def _scan_numpy(values, axis: int, reverse: bool, fn):
    """``fn(list of arrays moved to axis 0)`` with the scan axis reversed around it when ``reverse``."""
    moved = [np.moveaxis(v, axis, 0) for v in values]
    if reverse:
        moved = [m[::-1] for m in moved]
    out = fn(moved)
    if reverse:
        out = out[::-1]
    return np.ascontiguousarray(np.moveaxis(out, 0, axis))


class CumSum(Scan):
    """Cumulative sum along ``axis`` (``reverse``: sums from the end)."""

    name, helper = "cumsum", "_cumsum3"

    def perform(self, values, node, dims):
        return _scan_numpy(values, self.axis, self.reverse, lambda m: np.cumsum(m[0], axis=0))

    def bprop(self, inputs, output, D):
        return [CumSum(axis=self.axis, reverse=not self.reverse)(D)]


class CumProd(Scan):
    """Cumulative product along ``axis`` (``reverse``: products from the end)."""

    name, helper = "cumprod", "_cumprod3"

    def perform(self, values, node, dims):
        return _scan_numpy(values, self.axis, self.reverse, lambda m: np.cumprod(m[0], axis=0))

    def bprop(self, inputs, output, D):
        # d y_i / d x_k = prod_{j <= i, j != k} x_j = E_k * prod_{k < j <= i} x_j: the exclusive
        # product E times a reversed recurrence S_k = D_k + x_{k+1} S_{k+1}; exact with zeros
        x = inputs[0]
        d = -1 if self.reverse else 1
        E = Shift(axis=self.axis, offset=d, fill=1.0)(output)
        S = LinearRecurrence(axis=self.axis, reverse=not self.reverse)(Shift(axis=self.axis, offset=-d, fill=0.0)(x), D)
        return [E * S]


class LinearRecurrence(Scan):
    """``s_k = a_k * s_{k-1} + b_k`` along ``axis`` from ``s_{-1} = 0`` (``reverse``:
    ``s_k = a_k * s_{k+1} + b_k`` from the end). Inputs ``a``, ``b`` of one shape."""

    name, helper = "linear_recurrence", "_recurrence3"

    def perform(self, values, node, dims):
        def run(m):
            a, b = m
            out = np.empty(np.broadcast_shapes(a.shape, b.shape), dtype=np.result_type(a, b))
            for k in range(out.shape[0]):
                out[k] = b[k] if k == 0 else a[k] * out[k - 1] + b[k]
            return out

        return _scan_numpy(values, self.axis, self.reverse, run)

    def bprop(self, inputs, output, D):
        # the transpose of the recurrence runs the other way with a shifted by one:
        # lam_k = D_k + a_{k+1} lam_{k+1};  d/db = lam,  d/da_k = lam_k * s_{k-1}
        a, b = inputs
        d = -1 if self.reverse else 1
        lam = LinearRecurrence(axis=self.axis, reverse=not self.reverse)(Shift(axis=self.axis, offset=-d, fill=0.0)(a), D)
        return [lam * Shift(axis=self.axis, offset=d, fill=0.0)(output), lam]


def cumsum(a, axis=None, dtype=None) -> Node:
    """Cumulative sum along ``axis`` (None: of the flattened input), as ``np.cumsum``."""
    x = _as_float(a, "cumsum", dtype)
    if axis is None:
        x, axis = _flat(x, "cumsum"), 0
    if x.ndim == 0:
        raise ShapeError(f"cumsum: axis {axis} is out of range for a 0-d input")
    return CumSum(axis=_one_axis("cumsum", axis, x.ndim), reverse=False)(x)


def cumprod(a, axis=None, dtype=None) -> Node:
    """Cumulative product along ``axis`` (None: of the flattened input), as ``np.cumprod``;
    the gradient is exact where entries are zero."""
    x = _as_float(a, "cumprod", dtype)
    if axis is None:
        x, axis = _flat(x, "cumprod"), 0
    if x.ndim == 0:
        raise ShapeError(f"cumprod: axis {axis} is out of range for a 0-d input")
    return CumProd(axis=_one_axis("cumprod", axis, x.ndim), reverse=False)(x)


# ---------------------------------------------------------------------------------------------
# Shift along an axis (named dims allowed)
# ---------------------------------------------------------------------------------------------
class Shift(Op):
    """``out[..., k, ...] = x[..., k - offset, ...]`` along ``axis``, ``fill`` where ``k - offset``
    is outside the axis. Linear up to the fill: the gradient is the opposite shift."""

    name = "shift"

    def infer(self, x):
        if not 0 <= self.axis < x.ndim:
            raise ShapeError(f"shift: axis {self.axis} is out of range for shape {format_shape(x.shape)}")
        return x.shape, x.dtype

    def perform(self, values, node, dims):
        x = values[0]
        out = np.full(x.shape, self.fill, dtype=x.dtype)
        n, s = x.shape[self.axis], self.offset
        dst = [slice(None)] * x.ndim
        src = [slice(None)] * x.ndim
        if abs(s) < n:
            dst[self.axis] = slice(max(s, 0), n + min(s, 0))
            src[self.axis] = slice(max(-s, 0), n - max(s, 0))
            out[tuple(dst)] = x[tuple(src)]
        return out

    def bprop(self, inputs, output, D):
        return [Shift(axis=self.axis, offset=-self.offset, fill=0.0)(D)]

    def batch(self, node, args, flags, B):
        return Shift(axis=self.axis + 1, offset=self.offset, fill=self.fill)(args[0])

    def pattern(self, node, pats, shapes, dims):
        # the input entry each output entry copies, -1 where it is the fill
        out = Shift(axis=self.axis, offset=self.offset, fill=-1).perform([patterns.arange(shapes[0])], node, dims).ravel()
        pos = np.flatnonzero(out >= 0)
        return patterns.gather(pos, out[pos], out.size, pats[0])

    def lower(self, ctx, node, args, out):
        from ..compiler.codegen import literal

        P, N, Q = _three(ctx, node.shape, self.axis)
        call = f"_statistics._shift3({_as3(args[0], node.inputs[0], node.dtype, (P, N, Q))}, {self.offset}, {literal(self.fill)})"
        return [f"{out} = _reshape({call}, {ctx.shape_expr(node.shape)})"]


# ---------------------------------------------------------------------------------------------
# argmax / argmin
# ---------------------------------------------------------------------------------------------
class ArgReduce(Op):
    """Position of the largest (smallest) entry over ``axis``, a tuple of contiguous axes taken
    flat (C order). int64 results; the first position on ties, the first NaN if there is one."""

    accepts_bool = True
    better = None  # "max" or "min"

    def infer(self, x):
        if self.axis and list(self.axis) != list(range(self.axis[0], self.axis[-1] + 1)):
            raise ShapeError(f"{self.name}: the axes {self.axis} must be contiguous")
        return reduced_shape(x.shape, self.axis, self.keepdims), np.dtype("int64")

    def perform(self, values, node, dims):
        x = np.asarray(values[0])
        fn = np.argmax if self.better == "max" else np.argmin
        if not self.axis:
            return np.zeros(x.shape, dtype=np.int64)
        a0, a1 = self.axis[0], self.axis[-1] + 1
        k = int(np.prod(x.shape[a0:a1], dtype=np.int64))
        if k == 0:
            raise ShapeError(f"{self.name}: attempt to get {self.name} of an empty sequence")
        flat = x.reshape(x.shape[:a0] + (k,) + x.shape[a1:])
        r = fn(flat, axis=a0)
        if self.keepdims:
            r = r.reshape(x.shape[:a0] + (1,) * len(self.axis) + x.shape[a1:])
        return r.astype(np.int64)

    def bprop(self, inputs, output, D):
        return [None]

    def batch(self, node, args, flags, B):
        return type(self)(axis=shift(self.axis), keepdims=self.keepdims)(args[0])

    pattern = staticmethod(patterns.none)

    def lower(self, ctx, node, args, out):
        x = node.inputs[0]
        if not self.axis:
            return [f"{out} = np.int64(0)" if node.ndim == 0 else f"{out} = np.zeros({ctx.shape_expr(node.shape)}, dtype=np.int64)"]
        a0, a1 = self.axis[0], self.axis[-1] + 1
        pre, K, post = (_product(ctx, x.shape[:a0]), _product(ctx, x.shape[a0:a1]), _product(ctx, x.shape[a1:]))
        call = f"_statistics._arg3(_reshape({args[0]}, {size_tuple([pre, K, post])}), {self.better == 'max'})"
        if node.ndim == 0:
            return [f"{out} = {call}[0, 0]"]
        return [f"{out} = _reshape({call}, {ctx.shape_expr(node.shape)})"]


class ArgMax(ArgReduce):
    name, better = "argmax", "max"


class ArgMin(ArgReduce):
    name, better = "argmin", "min"


def _arg(cls, a, axis, keepdims) -> Node:
    x = as_node(a)
    axes = tuple(range(x.ndim)) if axis is None else (_one_axis(cls.name, axis, x.ndim),)
    return cls(axis=axes, keepdims=bool(keepdims))(x)


def argmax(a, axis=None, keepdims: bool = False) -> Node:
    """Index of the largest entry along ``axis`` (None: in the flattened input), int64, as
    ``np.argmax`` (first on ties, first NaN); no gradient."""
    return _arg(ArgMax, a, axis, keepdims)


def argmin(a, axis=None, keepdims: bool = False) -> Node:
    """Index of the smallest entry along ``axis`` (None: in the flattened input), int64, as
    ``np.argmin`` (first on ties, first NaN); no gradient."""
    return _arg(ArgMin, a, axis, keepdims)


# ---------------------------------------------------------------------------------------------
# Compositions
# ---------------------------------------------------------------------------------------------
def var(a, axis=None, dtype=None, ddof: float = 0, keepdims: bool = False) -> Node:
    """Variance over ``axis`` with ``ddof`` (divides by ``N - ddof``), as ``np.var`` (two-pass:
    the mean is subtracted first)."""
    x = _as_float(a, "var", dtype)
    axes = normalize_axis("var", axis, x.ndim)
    c = x - mean(x, axes, keepdims=True)
    n = size(x, axes)
    return sum_(c * c, axes, keepdims) / (n - float(ddof))


def std(a, axis=None, dtype=None, ddof: float = 0, keepdims: bool = False) -> Node:
    """Standard deviation ``sqrt(var(a, axis, ddof))``, as ``np.std``."""
    return sqrt(var(a, axis, dtype, ddof, keepdims))


def ptp(a, axis=None, keepdims: bool = False) -> Node:
    """Range ``max - min`` over ``axis``, as ``np.ptp``."""
    x = _as_float(a, "ptp")
    return max_(x, axis, keepdims) - min_(x, axis, keepdims)


def average(a, axis=None, weights=None, returned: bool = False, *, keepdims: bool = False):
    """Weighted mean over ``axis``, as ``np.average``; ``returned=True`` also gives the sum of the
    weights (broadcast to the result's shape)."""
    x = _as_float(a, "average")
    axes = normalize_axis("average", axis, x.ndim)
    if weights is None:
        avg = mean(x, axes, keepdims)
        scl = broadcast_to(size(x, axes), avg.shape)
        return (avg, cast(scl, avg.dtype)) if returned else avg
    w = _as_float(weights, "average")
    if w.shape != x.shape:
        if axis is None:
            raise ShapeError(
                f"average: the weights of shape {format_shape(w.shape)} differ from a's {format_shape(x.shape)}; "
                "give an axis"
            )
        want = tuple(x.shape[k] for k in axes)
        if w.shape != want:
            raise ShapeError(
                f"average: weights of shape {format_shape(w.shape)} do not fit a of shape {format_shape(x.shape)} "
                f"along axis {axis} (expected {format_shape(want)} or {format_shape(x.shape)})"
            )
        shape = [1] * x.ndim
        for k, d in zip(axes, want):
            shape[k] = d
        w = reshape(w, tuple(shape))
    scl = sum_(broadcast_to(w, broadcast_shapes("average", w.shape, x.shape)), axes, keepdims)
    avg = sum_(x * w, axes, keepdims) / scl
    if returned:
        return avg, broadcast_to(scl, avg.shape)
    return avg


def _count(cond: Node, axis, keepdims) -> Node:
    return sum_(where(cond, 1.0, 0.0), axis, keepdims)


def any(a, axis=None, keepdims: bool = False) -> Node:
    """Whether any entry over ``axis`` is non-zero (NaN counts), a bool node, as ``np.any``."""
    x = as_node(a)
    nz = x if x.dtype == BOOL else not_equal(x, 0.0)
    return greater(_count(nz, axis, keepdims), 0.0)


def all(a, axis=None, keepdims: bool = False) -> Node:
    """Whether every entry over ``axis`` is non-zero (NaN counts), a bool node, as ``np.all``."""
    x = as_node(a)
    zero = equal(x, False) if x.dtype == BOOL else equal(x, 0.0)
    return equal(_count(zero, axis, keepdims), 0.0)


def _isnan(x: Node) -> Node:
    return not_equal(x, x)


def nansum(a, axis=None, dtype=None, keepdims: bool = False) -> Node:
    """Sum over ``axis`` with NaN entries counted as zero (their gradient is 0), as ``np.nansum``."""
    x = _as_float(a, "nansum", dtype)
    return sum_(where(_isnan(x), 0.0, x), axis, keepdims)


def nanmean(a, axis=None, dtype=None, keepdims: bool = False) -> Node:
    """Mean over ``axis`` of the non-NaN entries (NaN where all are NaN), as ``np.nanmean``."""
    x = _as_float(a, "nanmean", dtype)
    nan = _isnan(x)
    kept = _count(not_equal(nan, True), axis, keepdims)
    return sum_(where(nan, 0.0, x), axis, keepdims) / cast(kept, x.dtype)


def _nan_extreme(x: Node, axis, keepdims, fn, fill: float) -> Node:
    nan = _isnan(x)
    clean = fn(where(nan, fill, x), axis, keepdims)
    all_nan = equal(_count(not_equal(nan, True), axis, keepdims), 0.0)
    # all-NaN groups give NaN, as NumPy (a constant: no gradient flows to their entries)
    return where(all_nan, Constant(np.array(np.nan, dtype=x.dtype)), clean)


def nanmax(a, axis=None, keepdims: bool = False) -> Node:
    """Maximum over ``axis`` ignoring NaN entries (NaN where all are NaN), as ``np.nanmax``."""
    return _nan_extreme(_as_float(a, "nanmax"), axis, keepdims, max_, -_INF)


def nanmin(a, axis=None, keepdims: bool = False) -> Node:
    """Minimum over ``axis`` ignoring NaN entries (NaN where all are NaN), as ``np.nanmin``."""
    return _nan_extreme(_as_float(a, "nanmin"), axis, keepdims, min_, _INF)


# ---------------------------------------------------------------------------------------------
# norm
# ---------------------------------------------------------------------------------------------
def _vector_norm(x: Node, ord, axes: tuple, keepdims: bool) -> Node:
    if ord is None or ord == 2:
        return sqrt(sum_(x * x, axes, keepdims))
    if isinstance(ord, str):
        raise SymdiffError(f"norm: invalid ord {ord!r} for a vector norm (use None, a number, inf or -inf)")
    if ord == _INF:
        return max_(_abs(x), axes, keepdims)
    if ord == -_INF:
        return min_(_abs(x), axes, keepdims)
    if ord == 0:
        return cast(_count(not_equal(x, 0.0), axes, keepdims), x.dtype)
    if ord == 1:
        return sum_(_abs(x), axes, keepdims)
    p = float(ord)
    return power(sum_(power(_abs(x), p), axes, keepdims), 1.0 / p)


def _singular_values(x: Node, rows: int, cols: int) -> Node:
    """Singular values of the matrices of ``x`` over axes ``(rows, cols)``, on the last axis."""
    try:
        from . import decomp

        svd = decomp.svd
    except (ImportError, AttributeError):
        raise SymdiffError(
            "norm: ord=2, -2 and 'nuc' of a matrix need singular values (sd.svd), which this "
            "build does not have yet; use 'fro', 1, -1, inf or -inf"
        ) from None
    rest = [k for k in range(x.ndim) if k not in (rows, cols)]
    moved = transpose(x, (*rest, rows, cols))
    return svd(moved, compute_uv=False)


def _matrix_norm(x: Node, ord, axes: tuple, keepdims: bool) -> Node:
    r, c = axes
    if ord in (None, "fro"):
        out = sqrt(sum_(x * x, axes, keepdims=True))
    elif ord == "nuc" or ord in (2, -2):
        s = _singular_values(x, r, c)
        red = {2: max_, -2: min_, "nuc": sum_}[ord](s, -1)
        out = expand_dims(red, tuple(sorted(axes)))
    elif ord in (1, -1):
        cols = sum_(_abs(x), r, keepdims=True)
        out = (max_ if ord == 1 else min_)(cols, c, keepdims=True)
    elif ord in (_INF, -_INF):
        rows = sum_(_abs(x), c, keepdims=True)
        out = (max_ if ord == _INF else min_)(rows, r, keepdims=True)
    else:
        raise SymdiffError(f"norm: invalid ord {ord!r} for a matrix norm (use None, 'fro', 'nuc', 1, -1, 2, -2, inf, -inf)")
    return out if keepdims else reshape(out, reduced_shape(x.shape, tuple(sorted(axes)), False))


def norm(x, ord=None, axis=None, keepdims: bool = False) -> Node:
    """Vector or matrix norm, as ``numpy.linalg.norm``: vectors ``ord`` None/2, 1, inf, -inf,
    0 (count of non-zeros) or any p; matrices (a 2-tuple ``axis``, or a 2-d input with ``ord``
    given) 'fro', 1, -1, inf, -inf and, through ``svd``, 2, -2, 'nuc'. At the zero vector the
    2-norm's gradient is NaN, as JAX gives it."""
    x = _as_float(x, "norm")
    if axis is None:
        if ord is None:
            flat = tuple(range(x.ndim))
            out = sqrt(sum_(x * x, flat, keepdims))
            return out
        if x.ndim == 1:
            return _vector_norm(x, ord, (0,), keepdims)
        if x.ndim == 2:
            return _matrix_norm(x, ord, (0, 1), keepdims)
        raise ShapeError(f"norm: an ord needs a 1-d or 2-d input or an axis, got shape {format_shape(x.shape)}")
    if isinstance(axis, (int, np.integer)) and not isinstance(axis, (bool, np.bool_)):
        return _vector_norm(x, ord, (_one_axis("norm", axis, x.ndim),), keepdims)
    axis = tuple(axis)
    if len(axis) == 1:
        return _vector_norm(x, ord, (_one_axis("norm", axis[0], x.ndim),), keepdims)
    if len(axis) == 2:
        r, c = (_one_axis("norm", a, x.ndim) for a in axis)
        if r == c:
            raise ShapeError(f"norm: duplicate axes {axis}")
        return _matrix_norm(x, ord, (r, c), keepdims)
    raise ShapeError(f"norm: axis must be an int or a pair of ints, got {axis!r}")


# ---------------------------------------------------------------------------------------------
# Numba helpers of the lowerings, called by generated kernels as ``_statistics._cumsum3(...)``
# (``symdiff.compiler.runtime`` exports this module). Each takes C-contiguous 3-d arrays
# (before, axis, after), is compiled once per signature and cached on disk, so a kernel only
# links it.
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def _scan3(x, reverse, product):
    P, N, Q = x.shape
    out = np.empty_like(x)
    for p in range(P):
        for j in range(N):
            k = N - 1 - j if reverse else j
            if j == 0:
                for q in range(Q):
                    out[p, k, q] = x[p, k, q]
                continue
            b = k + 1 if reverse else k - 1
            if product:
                for q in range(Q):
                    out[p, k, q] = out[p, b, q] * x[p, k, q]
            else:
                for q in range(Q):
                    out[p, k, q] = out[p, b, q] + x[p, k, q]
    return out


@njit(cache=True)
def _cumsum3(x, reverse):
    return _scan3(x, reverse, False)


@njit(cache=True)
def _cumprod3(x, reverse):
    return _scan3(x, reverse, True)


@njit(cache=True)
def _recurrence3(a, b, reverse):
    """s_k = a_k * s_prev + b_k (s_prev: the entry before k, after k when ``reverse``)."""
    P, N, Q = b.shape
    out = np.empty_like(b)
    for p in range(P):
        for j in range(N):
            k = N - 1 - j if reverse else j
            if j == 0:
                for q in range(Q):
                    out[p, k, q] = b[p, k, q]
                continue
            prev = k + 1 if reverse else k - 1
            for q in range(Q):
                out[p, k, q] = a[p, k, q] * out[p, prev, q] + b[p, k, q]
    return out


@njit(cache=True)
def _shift3(x, offset, fill):
    P, N, Q = x.shape
    out = np.empty_like(x)
    for p in range(P):
        for k in range(N):
            s = k - offset
            if 0 <= s < N:
                for q in range(Q):
                    out[p, k, q] = x[p, s, q]
            else:
                for q in range(Q):
                    out[p, k, q] = fill
    return out


@njit(cache=True)
def _arg3(x, largest):
    """Position along axis 1 of the largest (smallest) entry: the first one, or the first NaN."""
    P, K, Q = x.shape
    if K == 0:
        raise ValueError("argmax/argmin: attempt to get the position in an empty sequence")
    out = np.zeros((P, Q), dtype=np.int64)
    for p in range(P):
        for q in range(Q):
            b = 0
            best = x[p, 0, q]
            if best != best:
                continue
            for k in range(1, K):
                v = x[p, k, q]
                if v != v:
                    b = k
                    break
                if (v > best) if largest else (v < best):
                    best, b = v, k
            out[p, q] = b
    return out
