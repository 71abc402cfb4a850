"""Small Numba helpers that generated kernels call (scalar functions and row-wise softmax family).

They are ``@njit`` functions of their own so that generated source stays readable and the
numerics (overflow-free sigmoid and softplus, NaN-propagating max) live in one place.
"""
import math

import numpy as np

from . import cache as _cache  # noqa: F401  (first: the safe cache locator, before any cache=True function)
from numba import njit  # noqa: E402

from .fastmath import _exp, _log, _log1p, _tanh


@njit(cache=True, inline="always")
def _maximum(a, b):
    if a != a:
        return a
    return a if a >= b else b


@njit(cache=True, inline="always")
def _minimum(a, b):
    if a != a:
        return a
    return a if a <= b else b


@njit(cache=True, inline="always")
def _sigmoid(x):
    e = _exp(-abs(x))  # never overflows
    return 1.0 / (1.0 + e) if x >= 0 else e / (1.0 + e)


@njit(cache=True, inline="always")
def _softplus(x):
    return max(x, 0.0) + _log1p(_exp(-abs(x)))


# libm versions, for code that will not be vectorised anyway (scalars, loops calling sin, ...):
# there a polynomial's long dependency chain is slower than libm's table-driven exp/log1p.
@njit(cache=True, inline="always")
def _sigmoid_libm(x):
    e = math.exp(-abs(x))
    return 1.0 / (1.0 + e) if x >= 0 else e / (1.0 + e)


@njit(cache=True, inline="always")
def _softplus_libm(x):
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


@njit(cache=True, inline="always")
def _row_shift(x, r):
    """The max of row r, or 0 when it is not finite (all -inf rows give -inf/NaN, not a crash)."""
    m = -np.inf
    for c in range(x.shape[1]):
        m = max(m, x[r, c])
    return m if np.isfinite(m) else 0.0


@njit(cache=True, fastmath={"contract"})
def _softmax_rows(x):
    out = np.empty_like(x)
    for r in range(x.shape[0]):
        m = _row_shift(x, r)
        for c in range(x.shape[1]):  # no reduction in this loop, so it vectorises
            out[r, c] = _exp(x[r, c] - m)
        s = 0.0
        for c in range(x.shape[1]):
            s += out[r, c]
        for c in range(x.shape[1]):
            out[r, c] /= s
    return out


@njit(cache=True, fastmath={"contract"})
def _logsumexp_rows(x):
    out = np.empty(x.shape[0], dtype=x.dtype)
    row = np.empty(x.shape[1], dtype=x.dtype)
    for r in range(x.shape[0]):
        m = _row_shift(x, r)
        for c in range(x.shape[1]):  # no reduction in this loop, so it vectorises
            row[c] = _exp(x[r, c] - m)
        s = 0.0
        for c in range(x.shape[1]):
            s += row[c]
        out[r] = m + math.log(s)
    return out


@njit(cache=True, fastmath={"contract"})
def _log_softmax_rows(x):
    lse = _logsumexp_rows(x)
    out = np.empty_like(x)
    for r in range(x.shape[0]):
        for c in range(x.shape[1]):
            out[r, c] = x[r, c] - lse[r]
    return out


# NumPy calls that are slow to compile (np.dot: about a second per layout combination) live in
# helpers of their own: compiled once per signature, cached on disk, then only linked into each
# new kernel - so they cost a kernel almost no compile time.
@njit(cache=True)
def _dot(a, b):
    return np.dot(a, b)


@njit(cache=True)
def _dot_into(a, b, out):
    """``np.dot(a, b)`` written into ``out`` (a C-contiguous workspace region)."""
    np.dot(a, b, out)
    return out


@njit(cache=True)
def _carve(ws, offset, shape):
    """A C-contiguous array of ``shape`` on ``ws[offset:]`` (the kernel's workspace, see
    codegen.ARENA_MIN_ENTRIES); a new array if the workspace is too small (never out of bounds)."""
    size = 1
    for d in shape:
        size *= d
    if offset + size > ws.shape[0]:
        return np.empty(shape, ws.dtype)
    return ws[offset:offset + size].reshape(shape)


@njit(cache=True)
def _outer(a, b):
    return np.outer(a, b)


# ``_i(569)``: a static size as int64 in generated shape tuples (see codegen.size_tuple)
_i = np.int64


@njit(cache=True)
def _bmm33(a, b):
    """Batched matrix products (B, m, k) @ (B, k, n); the helpers below broadcast a 2-d operand."""
    out = np.empty((a.shape[0], a.shape[1], b.shape[2]), dtype=a.dtype)  # the lowering casts both operands to the result dtype
    for j in range(a.shape[0]):
        out[j] = np.dot(np.ascontiguousarray(a[j]), np.ascontiguousarray(b[j]))
    return out


@njit(cache=True)
def _bmm23(a, b):
    out = np.empty((b.shape[0], a.shape[0], b.shape[2]), dtype=a.dtype)  # the lowering casts both operands to the result dtype
    for j in range(b.shape[0]):
        out[j] = np.dot(a, np.ascontiguousarray(b[j]))
    return out


@njit(cache=True)
def _bmm32(a, b):
    out = np.empty((a.shape[0], a.shape[1], b.shape[1]), dtype=a.dtype)  # the lowering casts both operands to the result dtype
    for j in range(a.shape[0]):
        out[j] = np.dot(np.ascontiguousarray(a[j]), b)
    return out


@njit(cache=True)
def _transpose(a, axes):
    return np.transpose(a, axes)


@njit(cache=True)
def _reshape(a, shape):
    return np.ascontiguousarray(a).reshape(shape)


@njit(cache=True)
def _first(a):
    return np.ascontiguousarray(a).ravel()[0]


@njit(cache=True)
def _filled(shape, value):
    return np.full(shape, value)


@njit(cache=True)
def _empty(shape, dtype):
    # np.empty itself is an @overload that Numba compiles anew in every process; this helper's
    # machine code comes from the disk cache
    return np.empty(shape, dtype)


__all__ = [
    "_i", "_dot", "_dot_into", "_carve", "_outer", "_reshape", "_bmm33", "_bmm23", "_bmm32", "_transpose", "_first", "_filled", "_empty",
    "_exp", "_tanh", "_log", "_log1p", "_maximum", "_minimum", "_sigmoid", "_softplus", "_sigmoid_libm",
    "_softplus_libm", "_softmax_rows",
    "_logsumexp_rows", "_log_softmax_rows",
]

from .special import *  # noqa: E402,F401,F403  (scalar special functions, symdiff/compiler/special.py)
from .special import __all__ as _special_names  # noqa: E402
__all__ += _special_names

# LAPACK helpers of the linear-algebra ops, called as _decomp._inv(...) (symdiff/ops/decomp.py)
from ..ops import decomp as _decomp  # noqa: E402
from .lazyjit import bind as _bind  # noqa: E402
_bind(_decomp)  # its helpers become Numba dispatchers now (symdiff/compiler/lazyjit.py)
__all__.append("_decomp")

# scan, shift and argmax helpers of the statistics ops, called as _statistics._cumsum3(...)
# (symdiff/ops/statistics.py)
from ..ops import statistics as _statistics  # noqa: E402
_bind(_statistics)
__all__.append("_statistics")
