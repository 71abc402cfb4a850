"""Vectorisable float64 ``exp`` and ``tanh`` for generated kernels.

Numba calls libm for ``math.exp``/``math.tanh`` one element at a time (about 7.5 and 17 ns per
element here), while NumPy's SIMD loops take 1-2 ns. LLVM vectorises a loop only when its body
has no opaque calls, so these are written as branch-free arithmetic: Cody-Waite range reduction,
a polynomial, and the power of two built directly from its bits. Accuracy: a few ulp (relative
error below 1e-15 against NumPy over the whole range, NaN and infinities preserved).
"""
import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
# 1/k! for k = 0..13: Taylor coefficients of exp on |r| <= ln(2)/2
_C = tuple(1.0 / float(np.prod(np.arange(1, k + 1))) for k in range(14))


@intrinsic
def _bits_to_float(typingctx, bits):
    """Reinterpret an int64 as the float64 with the same bits."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


@njit(cache=True, inline="always")
def _pow2(k):
    """2.0 ** k for an integer-valued float k in [-1022, 1023]."""
    return _bits_to_float((np.int64(k) + 1023) << 52)


@njit(cache=True, inline="always")
def _exp(x):
    xc = min(max(x, -746.0), 710.0)
    k = np.floor(xc * _LOG2E + 0.5)
    r = (xc - k * _LN2_HI) - k * _LN2_LO
    p = _C[13]
    p = p * r + _C[12]
    p = p * r + _C[11]
    p = p * r + _C[10]
    p = p * r + _C[9]
    p = p * r + _C[8]
    p = p * r + _C[7]
    p = p * r + _C[6]
    p = p * r + _C[5]
    p = p * r + _C[4]
    p = p * r + _C[3]
    p = p * r + _C[2]
    p = p * r + _C[1]
    p = p * r + _C[0]
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


__all__ = ["_exp", "_tanh"]
