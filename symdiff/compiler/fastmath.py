"""Vectorisable float64 ``exp``, ``tanh``, ``log`` and ``log1p`` for generated kernels.

Numba calls libm for ``math.exp``/``math.tanh``/``math.log`` one element at a time (about 7.5, 17
and 7 ns per element here), while NumPy's SIMD loops take 1-2 ns. LLVM vectorises a loop only
when its body has no opaque calls, so these are written as branch-free arithmetic (scalar
``a if c else b`` becomes a vector select): range reduction through the float's bits, a
polynomial, and the result reassembled. Accuracy: a few ulp (relative error below 1e-15 against
NumPy over the whole range; NaN, infinities, zeros and subnormals as in NumPy).
"""
import numpy as np
from llvmlite import ir
from . import cache as _cache  # noqa: F401  (first: the safe cache locator)
from numba import njit, types
from numba.extending import intrinsic

_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
# 1/k! for k = 0..13: Taylor coefficients of exp on |r| <= ln(2)/2
_C = tuple(1.0 / float(np.prod(np.arange(1, k + 1))) for k in range(14))
_C_DOWN = _C[12::-1]  # 1/12!, ..., 1/0!: the Horner steps after the leading 1/13!


@intrinsic
def _bits_to_float(typingctx, bits):
    """Reinterpret an int64 as the float64 with the same bits."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


@intrinsic
def _float_to_bits(typingctx, x):
    """Reinterpret a float64 as the int64 with the same bits."""
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return sig, codegen


@njit(cache=True, inline="always")
def _pow2(k):
    """2.0 ** k for an integer-valued float k in [-1022, 1023]."""
    return _bits_to_float((np.int64(k) + 1023) << 52)


@njit(cache=True, inline="always")
def _exp(x):
    # clamp (NaN is handled last); conditionals, not min/max, whose overloads Numba would
    # compile anew in every process
    xc = x if x > -746.0 else -746.0
    xc = xc if xc < 710.0 else 710.0
    k = np.floor(xc * _LOG2E + 0.5)
    r = (xc - k * _LN2_HI) - k * _LN2_LO
    p = _C[13]
    for c in _C_DOWN:  # Horner; a fixed-length tuple, so LLVM unrolls it completely
        p = p * r + c
    k1 = np.floor(k * 0.5)  # split 2**k in two factors so over- and underflow round correctly
    y = p * _pow2(k1) * _pow2(k - k1)
    return y if x == x else x


@njit(cache=True, inline="always")
def _tanh(x):
    a = abs(x)
    # |x| >= 0.1: 1 - 2 / (exp(2|x|) + 1); for large |x| exp overflows to inf and this gives 1
    big = 1.0 - 2.0 / (_exp(2.0 * a) + 1.0)
    # |x| < 0.1: the odd Taylor series, whose 8th term is below 2e-17 relative there
    s = a * a
    small = a * (1.0 + s * (-1.0 / 3.0 + s * (2.0 / 15.0 + s * (-17.0 / 315.0 + s * (
        62.0 / 2835.0 + s * (-1382.0 / 155925.0 + s * (21844.0 / 6081075.0)))))))
    t = small if a < 0.1 else big
    t = np.copysign(t, x)  # odd function; keeps tanh(-0.0) = -0.0
    return t if x == x else x


# log: fdlibm/musl e_log.c. x = 2**k * m with m in [sqrt(1/2), sqrt(2)), f = m - 1, s = f / (2 + f),
# log(m) = 2 atanh(s) = f - f*f/2 + s * (f*f/2 + R(s*s)), R a degree-7 minimax polynomial (error
# below 2**-58.45 on |s| <= 0.1716); k*ln2 is added in two parts (ln2_hi has 32 significant bits,
# so k*ln2_hi is exact). Error below 1 ulp.
_LG = (6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01,
       2.222219843214978396e-01, 1.818357216161805012e-01, 1.531383769920937332e-01,
       1.479819860511658591e-01)
_TINY = 2.2250738585072014e-308  # smallest normal float64; below it, scale by 2**54 first
_TWO54 = 18014398509481984.0
_EXP_BIAS = 0x4330000000000000  # bits of 2**52: OR-ing in an exponent e gives 2**52 + e exactly
_SQRT_HALF_HI = 0x3FE6A09E00000000  # high word of sqrt(1/2)
_MANT = 0x000FFFFFFFFFFFFF


@njit(cache=True, inline="always")
def _log(x):
    small = x < _TINY
    xs = x * _TWO54 if small else x
    # shift the bits so that the exponent field rounds at sqrt(2) instead of 2
    ix = _float_to_bits(xs) + (0x3FF0000000000000 - _SQRT_HALF_HI)
    # k as a float without int->float conversion (which needs AVX-512DQ to vectorise)
    e = _bits_to_float(_EXP_BIAS | ((ix >> 52) & 0x7FF)) - 4503599627370496.0
    k = e - (1077.0 if small else 1023.0)
    f = _bits_to_float((ix & _MANT) + _SQRT_HALF_HI) - 1.0
    hfsq = 0.5 * f * f
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (_LG[1] + w * (_LG[3] + w * _LG[5]))
    t2 = z * (_LG[0] + w * (_LG[2] + w * (_LG[4] + w * _LG[6])))
    y = s * (hfsq + (t2 + t1)) + k * _LN2_LO - hfsq + f + k * _LN2_HI
    y = y if x > 0.0 else (-np.inf if x == 0.0 else np.nan)
    return y if x < np.inf else x  # +inf and NaN pass through


@njit(cache=True, inline="always")
def _log1p(x):
    # u = 1 + x rounds; c recovers the rounding error (the subtractions are exact by Sterbenz's
    # lemma), and log1p(x) = log(u + c) = log(u) + c/u - (c/u)**2/2 + ..., where the dropped terms
    # are below 2**-107 absolute, a fraction of an ulp of the result (which is >= 2**-54 when
    # u != 1). This is the correction of fdlibm's s_log1p.c. Error about 1 ulp.
    # When u == 1 (|x| < 2**-54) log1p(x) rounds to x itself, which also keeps log1p(-0.0) = -0.0.
    u = 1.0 + x
    c = 1.0 - (u - x) if u >= 2.0 else x - (u - 1.0)
    y = _log(u) + c / u
    y = x if u == 1.0 else y
    y = y if x > -1.0 else (-np.inf if x == -1.0 else np.nan)
    return y if x < np.inf else x  # +inf and NaN pass through


__all__ = ["_exp", "_tanh", "_log", "_log1p"]
