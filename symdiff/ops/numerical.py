"""More of NumPy's numerical vocabulary, written as compositions of existing ops (so gradients,
Hessians, batching, sparsity patterns and Numba lowering come with them): order statistics
(``median``, ``quantile``, ``percentile`` through ``sort``), ``cov``/``corrcoef``,
``count_nonzero``, ``diagflat``, ``convolve``/``correlate`` (sums of shifted slices) and
``gradient`` (NumPy's second-order central differences). Static sizes where NumPy's result
shape depends on them."""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from ..graph import Node, as_node
from ..types import format_shape, normalize_axis

__all__ = ["median", "quantile", "percentile", "cov", "corrcoef", "count_nonzero", "diagflat",
           "convolve", "correlate", "gradient"]


def _static(n, what: str) -> int:
    if not isinstance(n, int):
        raise ShapeError(f"{what}: needs a static size, got the named dim {n!r}")
    return n


def _no_out(name: str, out) -> None:
    if out is not None:
        raise ShapeError(f"{name}: out= is not supported (symdiff arrays are immutable values)")


def quantile(a, q, axis=None, out=None, overwrite_input: bool = False, method: str = "linear",
             keepdims: bool = False) -> Node:
    """``np.quantile`` with linear interpolation between order statistics (``q``: a number or a
    constant array in [0, 1]); gradients follow the entries that are selected. NumPy's other
    ``method`` values and ``weights`` are not supported."""
    _no_out("quantile", out)
    from .sorting import sort
    from .structure import expand_dims, index, reshape

    if method != "linear":
        raise ShapeError(f"quantile: only method='linear' is supported, got {method!r}")
    x = as_node(a)
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    (ax,) = normalize_axis("quantile", axis, x.ndim)
    n = _static(x.shape[ax], "quantile")
    qs = np.asarray(q, dtype=np.float64)
    if qs.size and (qs.min() < 0 or qs.max() > 1):
        raise ShapeError(f"quantile: q must lie in [0, 1], got {q!r}")
    s = sort(x, axis=ax)
    outs = []
    for qv in qs.ravel():
        pos = qv * (n - 1)
        lo = int(np.floor(pos))
        hi = min(lo + 1, n - 1)
        frac = pos - lo
        key = [slice(None)] * x.ndim
        key[ax] = lo
        v = index(s, tuple(key))
        if frac:
            key[ax] = hi
            v = v + frac * (index(s, tuple(key)) - v)
        outs.append(expand_dims(v, ax) if keepdims else v)
    if qs.ndim == 0:
        return outs[0]
    from .structure import stack

    return reshape(stack(outs, 0), qs.shape + outs[0].shape)


def percentile(a, q, axis=None, out=None, overwrite_input: bool = False, method: str = "linear",
               keepdims: bool = False) -> Node:
    """``np.percentile``: ``quantile`` with ``q`` in percent."""
    return quantile(a, np.asarray(q, dtype=np.float64) / 100.0, axis, out, method=method, keepdims=keepdims)


def median(a, axis=None, out=None, overwrite_input: bool = False, keepdims: bool = False) -> Node:
    """``np.median`` (the mean of the two middle entries for an even count)."""
    return quantile(a, 0.5, axis, out, keepdims=keepdims)


def cov(m, y=None, rowvar: bool = True, bias: bool = False, ddof: int | None = None) -> Node:
    """``np.cov``: the covariance matrix of the variables (rows, unless ``rowvar=False``);
    NumPy's ``fweights``/``aweights`` are not supported."""
    from .elementwise import sub
    from .linalg import matmul
    from .reduction import mean
    from .structure import concatenate, expand_dims, transpose

    x = as_node(m)
    if x.ndim == 1:
        x = expand_dims(x, 0)
    if not rowvar:
        x = transpose(x)
    if y is not None:
        yy = as_node(y)
        yy = expand_dims(yy, 0) if yy.ndim == 1 else yy
        x = concatenate([x, yy if rowvar else transpose(yy)], axis=0)
    n = _static(x.shape[1], "cov")
    d = (0 if bias else 1) if ddof is None else ddof
    c = sub(x, mean(x, axis=1, keepdims=True))
    out = matmul(c, transpose(c)) / float(n - d)
    if out.shape == (1, 1):
        from .structure import reshape

        return reshape(out, ())
    return out


def corrcoef(x, y=None, rowvar: bool = True) -> Node:
    """``np.corrcoef``: the covariance scaled by the standard deviations."""
    from .elementwise import clip, sqrt
    from .shaping import diagonal

    c = cov(x, y, rowvar)
    if c.ndim == 0:
        return c / c
    d = sqrt(diagonal(c))
    r = c / d[:, None] / d[None, :]
    return clip(r, -1.0, 1.0)


def count_nonzero(a, axis=None, *, keepdims: bool = False) -> Node:
    """``np.count_nonzero``; the counts are float64 (NumPy gives int64), with no gradient."""
    from .elementwise import not_equal
    from .reduction import sum_

    x = as_node(a)
    nz = not_equal(x, False) if x.dtype == np.dtype(bool) else not_equal(x, 0.0)
    return sum_(nz, axis=axis, keepdims=keepdims)


def diagflat(v, k: int = 0) -> Node:
    """``np.diagflat``: the flattened input on the ``k``-th diagonal of a square matrix."""
    from .shaping import diag
    from .structure import reshape

    return diag(reshape(as_node(v), (-1,)), k)


def _correlate_valid(a: Node, v: Node) -> Node:
    """sum_j a[i + j] * v[j] for i in 0 .. n - m (both 1-d, n >= m)."""
    from .structure import index

    n, m = a.shape[0], v.shape[0]
    total = None
    for j in range(m):
        term = index(a, slice(j, j + n - m + 1)) * index(v, j)
        total = term if total is None else total + term
    return total


def correlate(a, v, mode: str = "valid") -> Node:
    """``np.correlate`` of two 1-d arrays (modes 'valid', 'same', 'full')."""
    from .elementwise import zeros
    from .structure import concatenate, index

    a, v = as_node(a), as_node(v)
    if a.ndim != 1 or v.ndim != 1:
        raise ShapeError(f"correlate: needs two 1-d arrays, got {format_shape(a.shape)} and {format_shape(v.shape)}")
    n, m = _static(a.shape[0], "correlate"), _static(v.shape[0], "correlate")
    swapped = m > n
    if swapped:  # NumPy: correlate(a, v) = correlate(v, a)[::-1] when v is the longer
        a, v, n, m = v, a, m, n
    if mode not in ("valid", "same", "full"):
        raise ShapeError(f"correlate: mode must be 'valid', 'same' or 'full', got {mode!r}")
    pad = 0 if mode == "valid" else m - 1
    parts = [zeros((pad,), a.dtype), a, zeros((pad,), a.dtype)] if pad else [a]
    out = _correlate_valid(concatenate(parts) if pad else a, v)  # 'valid' or 'full'
    if swapped:
        out = index(out, slice(None, None, -1))
    if mode == "same":  # the centre n entries of 'full'
        start = (m - 1) // 2
        out = index(out, slice(start, start + n))
    return out


def convolve(a, v, mode: str = "full") -> Node:
    """``np.convolve`` of two 1-d arrays (modes 'full', 'same', 'valid')."""
    from .structure import index

    a, v = as_node(a), as_node(v)
    if a.ndim != 1 or v.ndim != 1:
        raise ShapeError(f"convolve: needs two 1-d arrays, got {format_shape(a.shape)} and {format_shape(v.shape)}")
    if _static(v.shape[0], "convolve") > _static(a.shape[0], "convolve"):
        a, v = v, a
    return correlate(a, index(v, slice(None, None, -1)), mode)


def gradient(f, *varargs, axis=None, edge_order: int = 1):
    """``np.gradient``: second-order central differences inside, first-order (``edge_order=1``)
    one-sided differences at the ends; uniform spacings (numbers) only. A list for several axes."""
    from .structure import concatenate, index

    f = as_node(f)
    axes = normalize_axis("gradient", axis, f.ndim)
    if edge_order != 1:
        raise ShapeError("gradient: only edge_order=1 is supported")
    if len(varargs) > 1 and len(varargs) != len(axes):
        raise ShapeError(f"gradient: {len(varargs)} spacings for {len(axes)} axes")
    spacing = [float(np.asarray(h)) for h in varargs] if varargs else [1.0] * len(axes)
    if len(spacing) == 1:
        spacing = spacing * len(axes)
    outs = []
    for ax, h in zip(axes, spacing):
        n = _static(f.shape[ax], "gradient")
        if n < 2:
            raise ShapeError(f"gradient: axis {ax} has {n} entries; at least 2 are needed")

        def sl(a, b):
            key = [slice(None)] * f.ndim
            key[ax] = slice(a, b)
            return index(f, tuple(key))

        first = (sl(1, 2) - sl(0, 1)) / h
        last = (sl(n - 1, n) - sl(n - 2, n - 1)) / h
        inner = [(sl(2, n) - sl(0, n - 2)) / (2.0 * h)] if n > 2 else []
        outs.append(concatenate([first, *inner, last], axis=ax))
    return outs[0] if len(outs) == 1 else outs
