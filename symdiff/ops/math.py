"""NumPy's elementwise math: trigonometric and hyperbolic inverses, logs and exponentials in other
bases, rounding, modular arithmetic, predicates and logical operations, under NumPy's names.

Each function is an ``Elemwise`` class (NumPy function, Numba scalar ``code``, derivative rule
``grad``) with a public constructor, or - where NumPy's function is exactly an expression of
existing ops (``deg2rad(x) = x * (pi / 180)``, ``reciprocal(x) = 1 / x``) - a plain function
building that expression, which then inherits its gradient, batching, sparsity and lowering.

Conventions (JAX's, checked against ``jax.grad``):

* rounding (``floor ceil round trunc rint fix floor_divide``) is piecewise constant: gradient 0;
  predicates (``isnan isfinite isinf signbit``) and ``logical_*`` give bool and no gradient;
* ``mod``/``remainder`` take the sign of the divisor, ``fmod`` that of the dividend (exactly as
  NumPy, zeros' signs included); d/dx = 1 for both, d/dy = -floor_divide(x, y) for ``mod`` and
  -trunc(x / y) for ``fmod``;
* ``copysign(x, y)``: d/dx = +-1 (the sign flip, +1 for x = +-0 when y is positive), d/dy = 0;
* ``heaviside(x, h0)``: d/dx = 0, d/dh0 = 1 where x == 0;
* ``hypot(x, y)``: (x, y) / hypot, and (1/2, 1/2) at the origin (as JAX gives);
  ``arctan2(y, x)``: (x, -y) / (x**2 + y**2), computed as (x / h) / h without overflow (NaN at
  the origin, as JAX);
* ``logaddexp`` is max + log1p(exp(-|a - b|)) (finite for inputs of any magnitude); its gradient
  is sigmoid(a - b), sigmoid(b - a);
* ``sinc'(0) = 0`` and ``sinc''(0) = -pi**2 / 3``: near 0 the derivative is a Taylor series;
* ``fmax``/``fmin`` ignore NaN, and split the gradient equally between tied inputs, as
  ``maximum``/``minimum`` do; where one input is NaN the other gets all of it;
* ``nan_to_num``: gradient 1 at finite entries, 0 at replaced ones.

Bool and integer inputs are cast to float first, except for the predicates and logical ops,
which take them as they are (nonzero is True). ``&``, ``|``, ``^`` and ``~`` on bool nodes are
the logical ops (``bitwise_and`` ...), as in NumPy; on float nodes they raise ``DTypeError``.
"""
from __future__ import annotations

import builtins
import math as _math

import numpy as np

from ..errors import DTypeError, SymdiffError
from ..graph import Constant, Node, as_node
from ..types import BOOL
from .elementwise import (
    Compare, Elemwise, _tie_weight, abs, cast, cos, div, equal, expm1, less, log1p, mul, neg,
    sigmoid, sqrt, square, sub, where, zeros_like,
)

_LN2 = _math.log(2.0)
_LN10 = _math.log(10.0)


def _literal(value: float, dtype) -> str:
    """Source text of a float constant of ``dtype`` in generated code (NaN and inf included)."""
    if np.isnan(value):
        text = "np.nan"
    elif np.isinf(value):
        text = "np.inf" if value > 0 else "(-np.inf)"
    else:
        text = repr(float(value))
    return f"np.float32({text})" if np.dtype(dtype) == np.float32 else text


def _check_float(op: str, arg: str, value) -> float:
    """A Python number parameter, as a float (bad input raises ``SymdiffError``)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise SymdiffError(f"{op}: {arg} must be a number, got {type(value).__name__} {value!r:.60}")
    return float(value)


# ---------------------------------------------------------------------------------------------
# Inverse trigonometric and hyperbolic functions
# ---------------------------------------------------------------------------------------------
class Arcsin(Elemwise):
    name, numpy, code, libm = "arcsin", np.arcsin, "np.arcsin({0})", True
    sympy = staticmethod(lambda sp, a: sp.asin(a))  # its SymPy form, for to_sympy/latex

    def grad(self, inputs, output, D):
        x = inputs[0]  # 1 / sqrt(1 - x^2), factored so that it stays accurate near |x| = 1
        return [D / (sqrt(1.0 - x) * sqrt(1.0 + x))]


class Arccos(Elemwise):
    name, numpy, code, libm = "arccos", np.arccos, "np.arccos({0})", True
    sympy = staticmethod(lambda sp, a: sp.acos(a))  # its SymPy form, for to_sympy/latex

    def grad(self, inputs, output, D):
        x = inputs[0]
        return [-(D / (sqrt(1.0 - x) * sqrt(1.0 + x)))]


class Arctan(Elemwise):
    name, numpy, code, libm = "arctan", np.arctan, "np.arctan({0})", True
    sympy = staticmethod(lambda sp, a: sp.atan(a))  # its SymPy form, for to_sympy/latex

    def grad(self, inputs, output, D):
        x = inputs[0]
        return [D / (1.0 + x * x)]


class Sinh(Elemwise):
    name, numpy, code, libm = "sinh", np.sinh, "np.sinh({0})", True
    sympy = staticmethod(lambda sp, a: sp.sinh(a))  # its SymPy form, for to_sympy/latex

    def grad(self, inputs, output, D):
        return [D * cosh(inputs[0])]


class Cosh(Elemwise):
    name, numpy, code, libm = "cosh", np.cosh, "np.cosh({0})", True
    sympy = staticmethod(lambda sp, a: sp.cosh(a))  # its SymPy form, for to_sympy/latex

    def grad(self, inputs, output, D):
        return [D * sinh(inputs[0])]


class Arcsinh(Elemwise):
    name, numpy, code, libm = "arcsinh", np.arcsinh, "np.arcsinh({0})", True
    sympy = staticmethod(lambda sp, a: sp.asinh(a))  # its SymPy form, for to_sympy/latex

    def grad(self, inputs, output, D):
        return [D / hypot(inputs[0], 1.0)]  # 1 / sqrt(x^2 + 1) without overflow for large x


class Arccosh(Elemwise):
    name, numpy, code, libm = "arccosh", np.arccosh, "np.arccosh({0})", True
    sympy = staticmethod(lambda sp, a: sp.acosh(a))  # its SymPy form, for to_sympy/latex

    def grad(self, inputs, output, D):
        x = inputs[0]  # 1 / sqrt(x^2 - 1) without overflow for large x
        return [D / (sqrt(x - 1.0) * sqrt(x + 1.0))]


class Arctanh(Elemwise):
    name, numpy, code, libm = "arctanh", np.arctanh, "np.arctanh({0})", True
    sympy = staticmethod(lambda sp, a: sp.atanh(a))  # its SymPy form, for to_sympy/latex

    def grad(self, inputs, output, D):
        x = inputs[0]
        return [D / ((1.0 - x) * (1.0 + x))]


class Arctan2(Elemwise):
    """The angle of the point (x, y): ``arctan2(y, x)``."""

    name, nin, numpy, code, libm = "arctan2", 2, np.arctan2, "np.arctan2({0}, {1})", True
    sympy = staticmethod(lambda sp, y, x: sp.atan2(y, x))  # its SymPy form, for to_sympy/latex

    def grad(self, inputs, output, D):
        y, x = inputs
        h = hypot(y, x)  # x / (x^2 + y^2) = (x / h) / h, which does not overflow
        return [D * ((x / h) / h), -(D * ((y / h) / h))]


class Hypot(Elemwise):
    """sqrt(x^2 + y^2) without overflow or underflow."""

    name, nin, numpy, code, libm = "hypot", 2, np.hypot, "np.hypot({0}, {1})", True
    sympy = staticmethod(lambda sp, a, b: sp.sqrt(a ** 2 + b ** 2))  # its SymPy form, for to_sympy/latex

    def grad(self, inputs, output, D):
        a, b = inputs
        origin = equal(output, 0.0)
        safe = where(origin, 1.0, output)  # no 0/0 below, not even in the branch not taken
        return [D * where(origin, 0.5, a / safe), D * where(origin, 0.5, b / safe)]


# ---------------------------------------------------------------------------------------------
# Logarithms and exponentials in other bases, roots
# ---------------------------------------------------------------------------------------------
def _float64_arg(arg: str, node: Node) -> str:
    """``arg`` as float64 when ``node`` is float32: Numba 0.68 declares ``llvm.log2`` and
    ``llvm.exp2`` once per module, so a kernel using them for both float types fails to lower."""
    return f"np.float64({arg})" if node.dtype == np.float32 else arg


class Log2(Elemwise):
    name, numpy, code, libm = "log2", np.log2, "np.log2({0})", True
    sympy = staticmethod(lambda sp, a: sp.log(a, 2))  # its SymPy form, for to_sympy/latex

    def emit(self, args, node, vector=True):
        return self.code.format(_float64_arg(args[0], node))

    def grad(self, inputs, output, D):
        return [D / (inputs[0] * _LN2)]


class Log10(Elemwise):
    name, numpy, code, libm = "log10", np.log10, "np.log10({0})", True
    sympy = staticmethod(lambda sp, a: sp.log(a, 10))  # its SymPy form, for to_sympy/latex

    def grad(self, inputs, output, D):
        return [D / (inputs[0] * _LN10)]


class Exp2(Elemwise):
    name, numpy, code, libm = "exp2", np.exp2, "np.exp2({0})", True
    sympy = staticmethod(lambda sp, a: 2 ** a)  # its SymPy form, for to_sympy/latex

    def emit(self, args, node, vector=True):
        return self.code.format(_float64_arg(args[0], node))

    def grad(self, inputs, output, D):
        return [D * (output * _LN2)]


class Cbrt(Elemwise):
    """The real cube root (negative for negative x)."""

    name, numpy, code, libm = "cbrt", np.cbrt, "np.cbrt({0})", True
    sympy = staticmethod(lambda sp, a: sp.sign(a) * sp.Abs(a) ** sp.Rational(1, 3))  # its SymPy form, for to_sympy/latex

    def grad(self, inputs, output, D):
        return [D / (3.0 * output * output)]


class Logaddexp(Elemwise):
    """log(exp(a) + exp(b)) as max(a, b) + log1p(exp(-|a - b|)): finite for any finite inputs."""

    name, nin, numpy = "logaddexp", 2, np.logaddexp
    sympy = staticmethod(lambda sp, a, b: sp.log(sp.exp(a) + sp.exp(b)))  # its SymPy form, for to_sympy/latex
    # equal inputs first: that keeps logaddexp(inf, inf) = inf (inf - inf would give NaN)
    code = "({0} + 0.6931471805599453 if {0} == {1} else _maximum({0}, {1}) + _log1p(_exp(-abs({0} - {1}))))"
    scalar_code = "np.logaddexp({0}, {1})"

    def grad(self, inputs, output, D):
        a, b = inputs
        return [D * sigmoid(a - b), D * sigmoid(b - a)]


class Logaddexp2(Elemwise):
    """log2(2**a + 2**b) as max(a, b) + log2(1 + 2**-|a - b|)."""

    name, nin, numpy = "logaddexp2", 2, np.logaddexp2
    sympy = staticmethod(lambda sp, a, b: sp.log(2 ** a + 2 ** b, 2))  # its SymPy form, for to_sympy/latex
    code = ("({0} + 1.0 if {0} == {1} else _maximum({0}, {1}) + "
            "_log1p(_exp(-abs({0} - {1}) * 0.6931471805599453)) * 1.4426950408889634)")
    scalar_code = "np.logaddexp2({0}, {1})"

    def grad(self, inputs, output, D):
        a, b = inputs
        return [D * sigmoid((a - b) * _LN2), D * sigmoid((b - a) * _LN2)]


# Taylor coefficients of sinc'(x) / x in powers of x^2 (sinc(x) = sin(pi x) / (pi x)), used for
# |x| < _SINC_CUT, where (cos(pi x) - sinc(x)) / x cancels: the 10 terms leave an error below
# 1e-22 there, and the closed form loses less than 1e-15 beyond it.
_SINC_CUT = 0.25
_DSINC = tuple((-1) ** k * 2 * k * np.pi ** (2 * k) / _math.factorial(2 * k + 1) for k in range(1, 11))


def _sinc_derivative(x: Node, sinc_x: Node) -> Node:
    """sinc'(x) from symdiff ops (so it has derivatives of every order), stable at 0."""
    small = less(abs(x), _SINC_CUT)
    u = x * x
    poly = _DSINC[-1]
    for c in reversed(_DSINC[:-1]):  # Horner
        poly = poly * u + c
    series = x * poly
    safe = where(small, 1.0, x)  # the closed form never divides by 0, not even where not taken
    closed = (cos(np.pi * x) - sinc_x) / safe
    return where(small, series, closed)


class Sinc(Elemwise):
    """sin(pi x) / (pi x), 1 at x = 0 (NumPy's normalised sinc)."""

    name, numpy, code, libm = "sinc", np.sinc, "np.sinc({0})", True
    sympy = staticmethod(lambda sp, a: sp.sinc(sp.pi * a))  # its SymPy form, for to_sympy/latex

    def grad(self, inputs, output, D):
        return [D * _sinc_derivative(inputs[0], output)]


# ---------------------------------------------------------------------------------------------
# Rounding (piecewise constant: zero gradient)
# ---------------------------------------------------------------------------------------------
class _Rounding(Elemwise):
    piecewise_constant = True

    def grad(self, inputs, output, D):
        return [zeros_like(x) for x in inputs]


class Floor(_Rounding):
    name, numpy, code = "floor", np.floor, "np.floor({0})"
    sympy = staticmethod(lambda sp, a: sp.floor(a))  # its SymPy form, for to_sympy/latex


class Ceil(_Rounding):
    name, numpy, code = "ceil", np.ceil, "np.ceil({0})"
    sympy = staticmethod(lambda sp, a: sp.ceiling(a))  # its SymPy form, for to_sympy/latex


class Trunc(_Rounding):
    name, numpy, code = "trunc", np.trunc, "np.trunc({0})"
    sympy = staticmethod(lambda sp, a: sp.sign(a) * sp.floor(sp.Abs(a)))  # its SymPy form, for to_sympy/latex


class Rint(_Rounding):
    """Round half to even."""

    name, numpy, code = "rint", np.rint, "np.rint({0})"


class Round(_Rounding):
    """NumPy's ``round``: half to even, at ``decimals`` decimal places (negative: tens, ...)."""

    name = "round"

    def perform(self, values, node, dims):
        return np.round(values[0], self.decimals)

    def emit(self, args, node, vector=True):
        # NumPy's algorithm: rint(x * 10**d) / 10**d, or rint(x / 10**-d) * 10**-d for d < 0,
        # in the dtype of x
        x, d = args[0], self.decimals
        if d == 0:
            return f"np.rint({x})"
        with np.errstate(over="ignore"):  # 10**400 is inf, and the result NaN, as in NumPy
            f = _literal(float(np.float64(10.0) ** builtins.abs(d)), node.dtype)
        return f"(np.rint({x} * {f}) / {f})" if d > 0 else f"(np.rint({x} / {f}) * {f})"


class FloorDivide(_Rounding):
    int_closed = True  # integers in, an integer out (index arithmetic)
    """floor(a / b) as NumPy computes it (consistent with ``mod``: a = b * (a // b) + a % b)."""

    # Python's float // in Numba is NumPy's npy_divmod, infinities, NaN and b == 0 included
    name, nin, numpy, code, libm = "floor_divide", 2, np.floor_divide, "({0} // {1})", True
    sympy = staticmethod(lambda sp, a, b: sp.floor(a / b))  # its SymPy form, for to_sympy/latex


# ---------------------------------------------------------------------------------------------
# Modular arithmetic and signs
# ---------------------------------------------------------------------------------------------
class Mod(Elemwise):
    int_closed = True  # integers in, an integer out (index arithmetic)
    """The remainder with the sign of the divisor (NumPy's ``mod``/``remainder``, Python's %)."""

    # Python's float % in Numba is exactly NumPy's remainder (signed zeros, inf, b == 0 included)
    name, nin, numpy, code, libm = "mod", 2, np.remainder, "({0} % {1})", True
    sympy = staticmethod(lambda sp, a, b: sp.Mod(a, b))  # its SymPy form, for to_sympy/latex

    def grad(self, inputs, output, D):
        a, b = inputs
        return [D, None if isinstance(b, Constant) else -(D * floor_divide(a, b))]


class Fmod(Elemwise):
    """The remainder with the sign of the dividend (C's fmod)."""

    name, nin, numpy, code, libm = "fmod", 2, np.fmod, "np.fmod({0}, {1})", True

    def grad(self, inputs, output, D):
        a, b = inputs
        return [D, None if isinstance(b, Constant) else -(D * trunc(a / b))]


class Copysign(Elemwise):
    """|x| with the sign of y."""

    name, nin, numpy, code = "copysign", 2, np.copysign, "np.copysign({0}, {1})"
    sympy = staticmethod(lambda sp, a, b: sp.Abs(a) * sp.sign(b))  # its SymPy form, for to_sympy/latex
    nondifferentiable_inputs = (1,)  # the sign of y: zero derivative (no sparsity entries)

    def grad(self, inputs, output, D):
        x, y = inputs
        flip = logical_xor(less(x, 0.0), signbit(y))  # JAX: +1 at x = +-0 when y is positive
        return [where(flip, -D, D), zeros_like(y)]


class Heaviside(Elemwise):
    """0 for x < 0, h0 at x == 0, 1 for x > 0 (NaN stays NaN)."""

    name, nin, numpy = "heaviside", 2, np.heaviside
    code = "(0.0 if {0} < 0.0 else ({1} if {0} == 0.0 else (1.0 if {0} > 0.0 else {0})))"
    nondifferentiable_inputs = (0,)

    def grad(self, inputs, output, D):
        x, h0 = inputs
        return [zeros_like(x), where(equal(x, 0.0), D, 0.0)]


class Fmax(Elemwise):
    """The larger input, ignoring NaN (NaN only where both are NaN)."""

    name, nin, numpy = "fmax", 2, np.fmax
    sympy = staticmethod(lambda sp, a, b: sp.Max(a, b))  # its SymPy form, for to_sympy/latex
    code = "({0} if ({0} >= {1} or {1} != {1}) else {1})"

    def grad(self, inputs, output, D):
        a, b = inputs
        return [where(isnan(b), D, D * _tie_weight(a, b, D.dtype)),
                where(isnan(a), D, D * _tie_weight(b, a, D.dtype))]


class Fmin(Elemwise):
    """The smaller input, ignoring NaN (NaN only where both are NaN)."""

    name, nin, numpy = "fmin", 2, np.fmin
    sympy = staticmethod(lambda sp, a, b: sp.Min(a, b))  # its SymPy form, for to_sympy/latex
    code = "({0} if ({0} <= {1} or {1} != {1}) else {1})"

    def grad(self, inputs, output, D):
        a, b = inputs
        return [where(isnan(b), D, D * _tie_weight(b, a, D.dtype)),
                where(isnan(a), D, D * _tie_weight(a, b, D.dtype))]


class NanToNum(Elemwise):
    """NaN, +inf and -inf replaced by the numbers ``nan``, ``posinf`` and ``neginf``."""

    name = "nan_to_num"

    def perform(self, values, node, dims):
        return np.nan_to_num(values[0], nan=self.nan, posinf=self.posinf, neginf=self.neginf)

    def emit(self, args, node, vector=True):
        x, dt = args[0], node.dtype
        return (f"({_literal(self.nan, dt)} if {x} != {x} else ({_literal(self.posinf, dt)} if {x} == np.inf "
                f"else ({_literal(self.neginf, dt)} if {x} == -np.inf else {x})))")

    def grad(self, inputs, output, D):
        return [where(isfinite(inputs[0]), D, 0.0)]


# ---------------------------------------------------------------------------------------------
# Predicates and logical operations (bool results, no gradient)
# ---------------------------------------------------------------------------------------------
class _Predicate(Elemwise):
    """A bool-valued elementwise test of one input."""

    bool_output, piecewise_constant = True, True

    def grad(self, inputs, output, D):
        return [None]


class IsNan(_Predicate):
    name, numpy, accepts_bool = "isnan", np.isnan, True

    def emit(self, args, node, vector=True):
        return f"np.isnan({args[0]})" if node.inputs[0].dtype.kind == "f" else "False"


class IsFinite(_Predicate):
    name, numpy, accepts_bool = "isfinite", np.isfinite, True

    def emit(self, args, node, vector=True):
        return f"np.isfinite({args[0]})" if node.inputs[0].dtype.kind == "f" else "True"


class IsInf(_Predicate):
    name, numpy, accepts_bool = "isinf", np.isinf, True

    def emit(self, args, node, vector=True):
        return f"np.isinf({args[0]})" if node.inputs[0].dtype.kind == "f" else "False"


class Signbit(_Predicate):
    """Whether the sign bit is set (True for -0.0 and negative NaN)."""

    name, numpy, code = "signbit", np.signbit, "np.signbit({0})"


def _truth(arg: str, x: Node) -> str:
    """Generated code for the truth value of an argument (numbers: nonzero is True)."""
    return arg if x.dtype == BOOL else f"({arg} != 0)"


class LogicalNot(_Predicate):
    name, numpy, code, accepts_bool = "logical_not", np.logical_not, "(not {0})", True

    def emit(self, args, node, vector=True):
        return f"(not {_truth(args[0], node.inputs[0])})"


class _Logical(Compare):
    """A logical operation of two inputs, bool or numbers (nonzero is True)."""

    def emit(self, args, node, vector=True):
        return self.code.format(*(_truth(a, x) for a, x in zip(args, node.inputs)))


class LogicalAnd(_Logical):
    name, numpy, code = "logical_and", np.logical_and, "({0} & {1})"


class LogicalOr(_Logical):
    name, numpy, code = "logical_or", np.logical_or, "({0} | {1})"


class LogicalXor(_Logical):
    name, numpy, code = "logical_xor", np.logical_xor, "({0} ^ {1})"


# ---------------------------------------------------------------------------------------------
# Public constructors, under NumPy's names
# ---------------------------------------------------------------------------------------------
def arcsin(x) -> Node:
    """Elementwise inverse sine (NaN outside [-1, 1])."""
    return Arcsin()(x)


def arccos(x) -> Node:
    """Elementwise inverse cosine (NaN outside [-1, 1])."""
    return Arccos()(x)


def arctan(x) -> Node:
    """Elementwise inverse tangent."""
    return Arctan()(x)


def arctan2(x1, x2) -> Node:
    """The angle of the point (x2, x1), i.e. arctan(x1 / x2) in the right quadrant."""
    return Arctan2()(x1, x2)


def sinh(x) -> Node:
    """Elementwise hyperbolic sine."""
    return Sinh()(x)


def cosh(x) -> Node:
    """Elementwise hyperbolic cosine."""
    return Cosh()(x)


def arcsinh(x) -> Node:
    """Elementwise inverse hyperbolic sine."""
    return Arcsinh()(x)


def arccosh(x) -> Node:
    """Elementwise inverse hyperbolic cosine (NaN below 1)."""
    return Arccosh()(x)


def arctanh(x) -> Node:
    """Elementwise inverse hyperbolic tangent (NaN outside [-1, 1])."""
    return Arctanh()(x)


def hypot(x1, x2) -> Node:
    """sqrt(x1**2 + x2**2) without overflow; its gradient is (1/2, 1/2) at the origin, as JAX's."""
    return Hypot()(x1, x2)


def log2(x) -> Node:
    """Elementwise base-2 logarithm."""
    return Log2()(x)


def log10(x) -> Node:
    """Elementwise base-10 logarithm."""
    return Log10()(x)


def exp2(x) -> Node:
    """Elementwise 2**x."""
    return Exp2()(x)


def cbrt(x) -> Node:
    """Elementwise real cube root (cbrt(-8) = -2)."""
    return Cbrt()(x)


def logaddexp(x1, x2) -> Node:
    """log(exp(x1) + exp(x2)) without overflow."""
    return Logaddexp()(x1, x2)


def logaddexp2(x1, x2) -> Node:
    """log2(2**x1 + 2**x2) without overflow."""
    return Logaddexp2()(x1, x2)


def sinc(x) -> Node:
    """sin(pi x) / (pi x), with sinc(0) = 1; derivatives of every order are stable at 0."""
    return Sinc()(x)


def reciprocal(x) -> Node:
    """1 / x."""
    return div(1.0, x)


def deg2rad(x) -> Node:
    """Degrees to radians: x * (pi / 180), as NumPy computes it."""
    return mul(x, np.pi / 180.0)


def rad2deg(x) -> Node:
    """Radians to degrees: x * (180 / pi), as NumPy computes it."""
    return mul(x, 180.0 / np.pi)


radians = deg2rad
degrees = rad2deg


def floor(x) -> Node:
    """The largest integer <= x (a float; zero gradient)."""
    return Floor()(x)


def ceil(x) -> Node:
    """The smallest integer >= x (a float; zero gradient)."""
    return Ceil()(x)


def trunc(x) -> Node:
    """x rounded towards zero (a float; zero gradient)."""
    return Trunc()(x)


fix = trunc  # NumPy's fix rounds towards zero too


def rint(x) -> Node:
    """x rounded to the nearest integer, halves to even (zero gradient)."""
    return Rint()(x)


def round(a, decimals: int = 0) -> Node:
    """NumPy's round: to ``decimals`` decimal places, halves to even (zero gradient)."""
    if isinstance(decimals, (bool, np.bool_)) or not isinstance(decimals, (int, np.integer)):
        raise SymdiffError(f"round: decimals must be an int, got {type(decimals).__name__} {decimals!r:.60}")
    return Round(decimals=int(decimals))(a)


around = round


def floor_divide(x1, x2) -> Node:
    """floor(x1 / x2) as NumPy computes it, so that x1 == x2 * (x1 // x2) + x1 % x2 (zero gradient)."""
    return FloorDivide()(x1, x2)


def mod(x1, x2) -> Node:
    """The remainder of x1 / x2 with the sign of x2 (NumPy's ``mod``, Python's %)."""
    return Mod()(x1, x2)


remainder = mod


def fmod(x1, x2) -> Node:
    """The remainder of x1 / x2 with the sign of x1 (C's fmod)."""
    return Fmod()(x1, x2)


def divmod(x1, x2) -> tuple[Node, Node]:
    """(floor_divide(x1, x2), mod(x1, x2))."""
    return floor_divide(x1, x2), mod(x1, x2)


def copysign(x1, x2) -> Node:
    """|x1| with the sign of x2 (the sign bit: -0.0 counts as negative)."""
    return Copysign()(x1, x2)


def heaviside(x1, x2) -> Node:
    """The step function: 0 for x1 < 0, x2 where x1 == 0, 1 for x1 > 0."""
    return Heaviside()(x1, x2)


def fmax(x1, x2) -> Node:
    """Elementwise max that ignores NaN; ties split the gradient equally."""
    return Fmax()(x1, x2)


def fmin(x1, x2) -> Node:
    """Elementwise min that ignores NaN; ties split the gradient equally."""
    return Fmin()(x1, x2)


def nan_to_num(x, copy: bool = True, nan: float = 0.0, posinf: float | None = None,
               neginf: float | None = None) -> Node:
    """x with NaN -> ``nan``, +inf -> ``posinf``, -inf -> ``neginf`` (default: the largest finite
    numbers of the dtype). ``copy`` has no effect: nodes are values."""
    x = as_node(x)
    if x.dtype.kind != "f":  # bools and ints hold no NaN or inf; arithmetic sees them as floats
        x = cast(x, "float64")
    big = float(np.finfo(x.dtype).max)
    nan = _check_float("nan_to_num", "nan", nan)
    posinf = big if posinf is None else _check_float("nan_to_num", "posinf", posinf)
    neginf = -big if neginf is None else _check_float("nan_to_num", "neginf", neginf)
    return NanToNum(nan=nan, posinf=posinf, neginf=neginf)(x)


def isnan(x) -> Node:
    """Whether x is NaN (bool)."""
    return IsNan()(x)


def isfinite(x) -> Node:
    """Whether x is neither infinite nor NaN (bool)."""
    return IsFinite()(x)


def isinf(x) -> Node:
    """Whether x is +inf or -inf (bool)."""
    return IsInf()(x)


def signbit(x) -> Node:
    """Whether the sign bit of x is set: True for negatives and -0.0 (bool)."""
    return Signbit()(x)


def logical_and(x1, x2) -> Node:
    """x1 and x2, elementwise (bool; numbers count as True when nonzero)."""
    return LogicalAnd()(x1, x2)


def logical_or(x1, x2) -> Node:
    """x1 or x2, elementwise (bool; numbers count as True when nonzero)."""
    return LogicalOr()(x1, x2)


def logical_xor(x1, x2) -> Node:
    """x1 xor x2, elementwise (bool; numbers count as True when nonzero)."""
    return LogicalXor()(x1, x2)


def logical_not(x) -> Node:
    """not x, elementwise (bool; numbers count as True when nonzero)."""
    return LogicalNot()(x)


def _bool_only(op: str, *args) -> list[Node]:
    """The arguments of a bitwise op as nodes, which must all be bool (symdiff has no integer bit
    operations: on bool arrays NumPy's bitwise ops are the logical ones)."""
    nodes = [as_node(a) for a in args]
    for k, x in enumerate(nodes):
        if x.dtype != BOOL:
            raise DTypeError(
                f"{op}: argument {k + 1} has dtype {x.dtype}; bitwise operations (&, |, ^, ~) are only "
                "supported on bool nodes, where they are logical operations (use sd.logical_and, "
                "sd.logical_or, sd.logical_xor, sd.logical_not for numbers)"
            )
    return nodes


def bitwise_and(x1, x2) -> Node:
    """x1 & x2 for bool nodes (the logical and); other dtypes raise ``DTypeError``."""
    return logical_and(*_bool_only("bitwise_and", x1, x2))


def bitwise_or(x1, x2) -> Node:
    """x1 | x2 for bool nodes (the logical or); other dtypes raise ``DTypeError``."""
    return logical_or(*_bool_only("bitwise_or", x1, x2))


def bitwise_xor(x1, x2) -> Node:
    """x1 ^ x2 for bool nodes (the logical xor); other dtypes raise ``DTypeError``."""
    return logical_xor(*_bool_only("bitwise_xor", x1, x2))


def invert(x) -> Node:
    """~x for bool nodes (the logical not); other dtypes raise ``DTypeError``."""
    return logical_not(*_bool_only("invert", x))


bitwise_not = invert


def positive(x) -> Node:
    """+x (the node itself; bools and ints become float64, as in all arithmetic)."""
    x = as_node(x)
    return x if x.dtype.kind == "f" else cast(x, "float64")


def float_power(x1, x2) -> Node:
    """x1 ** x2 computed in float64 whatever the input dtypes (as NumPy's float_power)."""
    return (cast(as_node(x1), "float64")) ** cast(as_node(x2), "float64")


# NumPy's other names for existing ops, and the array-API spellings NumPy 2 added
negative = neg
subtract = sub
multiply = mul
divide = true_divide = div
absolute = fabs = abs
asin, acos, atan, atan2 = arcsin, arccos, arctan, arctan2
asinh, acosh, atanh = arcsinh, arccosh, arctanh


__all__ = [
    "arcsin", "arccos", "arctan", "arctan2", "sinh", "cosh", "arcsinh", "arccosh", "arctanh",
    "asin", "acos", "atan", "atan2", "asinh", "acosh", "atanh", "hypot",
    "log2", "log10", "exp2", "cbrt", "expm1", "log1p", "logaddexp", "logaddexp2", "sinc",
    "reciprocal", "deg2rad", "rad2deg", "degrees", "radians",
    "floor", "ceil", "round", "around", "trunc", "rint", "fix",
    "mod", "fmod", "remainder", "floor_divide", "divmod", "copysign", "heaviside",
    "isnan", "isfinite", "isinf", "signbit",
    "logical_and", "logical_or", "logical_not", "logical_xor",
    "bitwise_and", "bitwise_or", "bitwise_xor", "invert", "bitwise_not",
    "positive", "negative", "subtract", "multiply", "divide", "true_divide", "float_power",
    "fabs", "absolute", "square", "fmax", "fmin", "nan_to_num",
]
