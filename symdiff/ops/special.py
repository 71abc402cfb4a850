"""Special functions under SciPy's names: error functions, the gamma family, the normal
distribution, information measures, ``logsumexp`` with weights.

Each function is an elementwise op (a subclass of ``SpecialFunction``) whose rules sit in its
class: NumPy evaluation through ``scipy.special`` (imported on first use, so ``import symdiff``
stays fast), a Numba helper from ``symdiff.compiler.special`` for compiled kernels, and a
derivative built from symdiff ops, so Hessians (gradients of gradients) work:

* ``gammaln' = digamma``, ``digamma' = polygamma(1, .)``, ``polygamma(n)' = polygamma(n + 1)``,
  ``gamma' = gamma * digamma``, ``betaln`` through digamma;
* ``erf' = 2/sqrt(pi) exp(-x^2)``, ``erfinv' = sqrt(pi)/2 exp(erfinv(x)^2)``,
  ``ndtri' = sqrt(2 pi) exp(ndtri(p)^2 / 2)``, ``log_ndtr' = exp(log_pdf(x) - log_ndtr(x))``
  (finite far in the left tail, where ``pdf / ndtr`` would be 0/0);
* ``xlogy(x, y)`` is 0 where ``x == 0`` and its gradient is JAX's: ``log(y)`` for x and ``x / y``
  for y, also at ``x == 0``. ``entr``, ``rel_entr`` and ``kl_div`` take SciPy's values at the
  domain edges; outside ``x, y > 0`` the gradients are JAX's: 0 for ``rel_entr``, those of
  ``-x + y`` for ``kl_div`` (JAX's ``rel_entr(x, y) - x + y``); ``entr'`` is ``-(log x + 1)``
  (+inf at 0) and 0 for x < 0, where ``entr`` is the constant -inf (JAX gives NaN there).

``log_expit``, ``multigammaln`` and ``logsumexp`` with weights ``b`` (SciPy's signature; reached
as ``symdiff.scipy.special.logsumexp``, ``sd.logsumexp`` keeps the core op's) are compositions of
other ops. ``expit`` is ``sigmoid``.

The two routes agree to about 1e-15 except where SciPy itself loses digits: the compiled
helpers are accurate to a few ulp (against mpmath) where ``scipy.special`` is 2e-13 off
(``ndtr``/``log_ndtr`` tails, which round x / sqrt(2) first; ``erfc`` beyond 10) or 1e-12 off
(``digamma`` near its negative roots). ``betaln`` is accurate on both routes (SciPy's loses 9
digits at a = 5e5, b = 0.1; its NumPy route here corrects that).
"""
from __future__ import annotations

import math
import operator

import numpy as np

from ..errors import DTypeError, SymdiffError
from ..graph import Constant, Node, as_node
from ..types import BOOL, broadcast_shapes, normalize_axis
from .elementwise import (
    Elemwise, abs, broadcast_to, equal, exp, greater, less, log, log1p, sigmoid, sign, softplus,
    where,
)
from .nn import logsumexp as _logsumexp_plain
from .reduction import max_, sum_
from .structure import expand_dims, squeeze

__all__ = [
    "SpecialFunctionError",
    "erf", "erfc", "erfinv", "erfcinv",
    "gamma", "gammaln", "lgamma", "digamma", "psi", "polygamma", "multigammaln", "betaln",
    "expit", "logit", "log_expit", "ndtr", "log_ndtr", "ndtri",
    "xlogy", "xlog1py", "entr", "rel_entr", "kl_div",
    "i0", "i0e", "i1", "i1e",
]  # and logsumexp with SciPy's signature: symdiff.scipy.special.logsumexp (sd.logsumexp is the core op's)

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_SQRT_PI_OVER_2 = math.sqrt(math.pi) / 2.0
_SQRT_2PI = math.sqrt(2.0 * math.pi)
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


class SpecialFunctionError(SymdiffError, ValueError):
    """A static argument of a special function is out of its domain (``polygamma(-1, x)``,
    ``multigammaln(a, 0)``)."""


class SpecialFunction(Elemwise):
    """An elementwise special function.

    NumPy evaluation calls ``scipy.special.<scipy_name>``; the Numba lowering is ``code``, a
    call of a helper from ``symdiff.compiler.special`` whose arguments are converted to float64
    (each helper is compiled once) and whose result is rounded back in float32 graphs.
    """

    scipy_name = ""
    libm = True  # the helpers branch and call libm: a loop holding one does not vectorise

    def perform(self, values, node, dims):
        import scipy.special

        return getattr(scipy.special, self.scipy_name)(*values, **self.params)

    def emit(self, args, node, vector=True):
        expr = self.code.format(*(f"np.float64({a})" for a in args), **self.params)
        return f"np.float32({expr})" if node.dtype == np.float32 else expr


def _only_where(conds: list[Node], value, otherwise=0.0) -> Node:
    """``value`` where every condition holds, else ``otherwise`` (nested ``where``)."""
    out = value
    for c in reversed(conds):
        out = where(c, out, otherwise)
    return out


# ---------------------------------------------------------------------------------------------
# Modified Bessel functions of the first kind: I0, I1 and their exponentially scaled forms
# I0' = I1, I1' = I0 - I1/x (1/2 at 0), i0e' = i1e - sign(x) i0e, i1e' = i0e - i1e/x - sign(x) i1e
# ---------------------------------------------------------------------------------------------
def _i1_over_x(x: Node, i1x) -> Node:
    """I1(x)/x (or i1e(x)/x) with its limit 1/2 at 0, without a 0/0 anywhere in the graph."""
    zero = equal(x, 0.0)
    safe = where(zero, 1.0, x)
    return where(zero, 0.5, i1x(safe) / safe)


class I0(SpecialFunction):
    """The modified Bessel function of the first kind of order 0."""

    name = scipy_name = "i0"
    code = "_sp_i0({0})"
    sympy = staticmethod(lambda sp, a: sp.besseli(0, a))  # its SymPy form, for to_sympy/latex

    def grad(self, inputs, output, D):
        return [D * i1(inputs[0])]


class I1(SpecialFunction):
    """The modified Bessel function of the first kind of order 1."""

    name = scipy_name = "i1"
    code = "_sp_i1({0})"
    sympy = staticmethod(lambda sp, a: sp.besseli(1, a))  # its SymPy form, for to_sympy/latex

    def grad(self, inputs, output, D):
        x = inputs[0]
        return [D * (i0(x) - _i1_over_x(x, i1))]


class I0e(SpecialFunction):
    """exp(-|x|) * I0(x), finite for any x."""

    name = scipy_name = "i0e"
    code = "_sp_i0e({0})"
    sympy = staticmethod(lambda sp, a: sp.exp(-sp.Abs(a)) * sp.besseli(0, a))  # its SymPy form

    def grad(self, inputs, output, D):
        x = inputs[0]
        return [D * (i1e(x) - sign(x) * output)]


class I1e(SpecialFunction):
    """exp(-|x|) * I1(x), finite for any x."""

    name = scipy_name = "i1e"
    code = "_sp_i1e({0})"
    sympy = staticmethod(lambda sp, a: sp.exp(-sp.Abs(a)) * sp.besseli(1, a))  # its SymPy form

    def grad(self, inputs, output, D):
        x = inputs[0]
        return [D * (i0e(x) - _i1_over_x(x, i1e) - sign(x) * output)]


def i0(x) -> Node:
    """``scipy.special.i0``."""
    return I0()(x)


def i1(x) -> Node:
    """``scipy.special.i1``."""
    return I1()(x)


def i0e(x) -> Node:
    """``scipy.special.i0e``: exp(-|x|) I0(x)."""
    return I0e()(x)


def i1e(x) -> Node:
    """``scipy.special.i1e``: exp(-|x|) I1(x)."""
    return I1e()(x)


# ---------------------------------------------------------------------------------------------
# Error functions
# ---------------------------------------------------------------------------------------------
class Erf(SpecialFunction):
    """erf(x) = 2/sqrt(pi) * integral of exp(-t^2) from 0 to x."""

    name = scipy_name = "erf"
    code = "_sp_erf({0})"
    sympy = staticmethod(lambda sp, a: sp.erf(a))  # its SymPy form, for to_sympy/latex

    def grad(self, inputs, output, D):
        x = inputs[0]
        return [D * (_TWO_OVER_SQRT_PI * exp(-(x * x)))]


class Erfc(SpecialFunction):
    """erfc(x) = 1 - erf(x), accurate where erf(x) is close to 1."""

    name = scipy_name = "erfc"
    code = "_sp_erfc({0})"
    sympy = staticmethod(lambda sp, a: sp.erfc(a))  # its SymPy form, for to_sympy/latex

    def grad(self, inputs, output, D):
        x = inputs[0]
        return [-(D * (_TWO_OVER_SQRT_PI * exp(-(x * x))))]


class Erfinv(SpecialFunction):
    """The inverse of erf on [-1, 1]."""

    name = scipy_name = "erfinv"
    code = "_sp_erfinv({0})"
    sympy = staticmethod(lambda sp, a: sp.erfinv(a))  # its SymPy form, for to_sympy/latex

    def grad(self, inputs, output, D):
        return [D * (_SQRT_PI_OVER_2 * exp(output * output))]


class Erfcinv(SpecialFunction):
    """The inverse of erfc on [0, 2]."""

    name = scipy_name = "erfcinv"
    code = "_sp_erfcinv({0})"
    sympy = staticmethod(lambda sp, a: sp.erfcinv(a))  # its SymPy form, for to_sympy/latex

    def grad(self, inputs, output, D):
        return [-(D * (_SQRT_PI_OVER_2 * exp(output * output)))]


# ---------------------------------------------------------------------------------------------
# The gamma family
# ---------------------------------------------------------------------------------------------
class Gamma(SpecialFunction):
    """The gamma function (signed for negative x, NaN at the poles x = 0, -1, ... except inf
    at +-0, as SciPy)."""

    name = scipy_name = "gamma"
    code = "_sp_gamma({0})"
    sympy = staticmethod(lambda sp, a: sp.gamma(a))  # its SymPy form, for to_sympy/latex

    def grad(self, inputs, output, D):
        return [D * (output * digamma(inputs[0]))]


class Gammaln(SpecialFunction):
    """log|gamma(x)|."""

    name = scipy_name = "gammaln"
    code = "_sp_gammaln({0})"
    sympy = staticmethod(lambda sp, a: sp.loggamma(a))  # its SymPy form, for to_sympy/latex

    def perform(self, values, node, dims):
        import scipy.special

        x = values[0]  # SciPy gives inf for subnormal x, where gammaln(x) = -log(x) (as libm's lgamma)
        return np.where((x > 0) & (x < 1e-300), -np.log(np.where(x > 0, x, 1)), scipy.special.gammaln(x))

    def grad(self, inputs, output, D):
        return [D * digamma(inputs[0])]


class Digamma(SpecialFunction):
    """psi(x) = d/dx log gamma(x)."""

    name, scipy_name = "digamma", "psi"
    code = "_sp_digamma({0})"
    sympy = staticmethod(lambda sp, a: sp.polygamma(0, a))  # its SymPy form, for to_sympy/latex

    def grad(self, inputs, output, D):
        return [D * polygamma(1, inputs[0])]


class Polygamma(SpecialFunction):
    """The n-th derivative of digamma, for a static order n >= 1."""

    name = "polygamma"
    code = "_sp_polygamma({n}, {0})"

    def __init__(self, n: int):
        super().__init__(n=n)

    def perform(self, values, node, dims):
        import scipy.special

        return scipy.special.polygamma(self.n, values[0])

    def to_sympy(self, args):
        import sympy as sp

        return sp.polygamma(self.n, args[0])

    def grad(self, inputs, output, D):
        return [D * polygamma(self.n + 1, inputs[0])]


def _betaln_numpy(a, b):
    """``scipy.special.betaln`` with Stirling corrections for positive arguments where SciPy's
    lgamma differences cancel (a = 5e5, b = 0.1 loses 9 digits there); the same scheme as the
    compiled helper ``_sp_betaln``."""
    import scipy.special

    a, b = np.broadcast_arrays(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    out = np.array(scipy.special.betaln(a, b), dtype=np.float64)
    p, q = np.minimum(a, b), np.maximum(a, b)
    stirling = np.array([-3617.0 / 122400.0, 1.0 / 156.0, -691.0 / 360360.0, 1.0 / 1188.0, -1.0 / 1680.0,
                         1.0 / 1260.0, -1.0 / 360.0, 1.0 / 12.0])

    def corr(x):
        return np.polyval(stirling, 1.0 / (x * x)) / x

    def gammaln(x):  # SciPy's gammaln is inf below 1e-308, where it is -log(x) to double precision
        return np.where(x < 1e-300, -np.log(x), scipy.special.gammaln(x))

    finite = np.isfinite(q) & (p > 0)
    both = finite & (p >= 10)
    one = finite & (q >= 10) & (p < 10)
    tiny = finite & (q < 10) & (p < 1e-300)
    if both.any():
        P, Q = p[both], q[both]
        out[both] = (-0.5 * np.log(Q) + _HALF_LOG_2PI + corr(P) + corr(Q) - corr(P + Q)
                     + (P - 0.5) * np.log(P / (P + Q)) + Q * np.log1p(-P / (P + Q)))
    if one.any():
        P, Q = p[one], q[one]
        out[one] = (gammaln(P) + corr(Q) - corr(P + Q) + P - P * np.log(P + Q)
                    + (Q - 0.5) * np.log1p(-P / (P + Q)))
    if tiny.any():
        P, Q = p[tiny], q[tiny]
        out[tiny] = gammaln(P) + (gammaln(Q) - gammaln(P + Q))
    out[(p > 0) & (q == np.inf)] = -np.inf
    return out


class Betaln(SpecialFunction):
    """log|B(a, b)| = log|gamma(a) gamma(b) / gamma(a + b)|, accurate for large arguments."""

    name, nin = "betaln", 2
    code = "_sp_betaln({0}, {1})"
    sympy = staticmethod(lambda sp, a, b: sp.log(sp.beta(a, b)))  # its SymPy form, for to_sympy/latex

    def perform(self, values, node, dims):
        return _betaln_numpy(*values)

    def grad(self, inputs, output, D):
        a, b = inputs
        both = digamma(a + b)
        return [D * (digamma(a) - both), D * (digamma(b) - both)]


# ---------------------------------------------------------------------------------------------
# The normal distribution and the logistic function
# ---------------------------------------------------------------------------------------------
class Ndtr(SpecialFunction):
    """The standard normal CDF."""

    name = scipy_name = "ndtr"
    code = "_sp_ndtr({0})"
    sympy = staticmethod(lambda sp, a: (1 + sp.erf(a / sp.sqrt(2))) / 2)  # its SymPy form, for to_sympy/latex

    def grad(self, inputs, output, D):
        x = inputs[0]
        return [D * (exp(-0.5 * (x * x)) / _SQRT_2PI)]


class LogNdtr(SpecialFunction):
    """log(ndtr(x)), accurate in both tails (x = -40: -804.608...)."""

    name = scipy_name = "log_ndtr"
    code = "_sp_log_ndtr({0})"
    sympy = staticmethod(lambda sp, a: sp.log((1 + sp.erf(a / sp.sqrt(2))) / 2))  # its SymPy form, for to_sympy/latex

    def grad(self, inputs, output, D):
        x = inputs[0]  # pdf / cdf as exp(log pdf - log cdf): finite where both underflow
        return [D * exp(-0.5 * (x * x) - _HALF_LOG_2PI - output)]


class Ndtri(SpecialFunction):
    """The inverse of ndtr on [0, 1] (the standard normal quantile)."""

    name = scipy_name = "ndtri"
    code = "_sp_ndtri({0})"
    sympy = staticmethod(lambda sp, a: sp.sqrt(2) * sp.erfinv(2 * a - 1))  # its SymPy form, for to_sympy/latex

    def grad(self, inputs, output, D):
        return [D * (_SQRT_2PI * exp(0.5 * (output * output)))]


class Logit(SpecialFunction):
    """log(p / (1 - p)), accurate near p = 1/2; the inverse of expit."""

    name = scipy_name = "logit"
    code = "_sp_logit({0})"
    sympy = staticmethod(lambda sp, a: sp.log(a / (1 - a)))  # its SymPy form, for to_sympy/latex

    def grad(self, inputs, output, D):
        p = inputs[0]
        return [D / (p * (1.0 - p))]


# ---------------------------------------------------------------------------------------------
# Logarithms that are 0 where their factor is 0; information measures
# ---------------------------------------------------------------------------------------------
class Xlogy(SpecialFunction):
    """x * log(y), 0 where x == 0 (unless y is NaN)."""

    name, scipy_name, nin = "xlogy", "xlogy", 2
    code = "_sp_xlogy({0}, {1})"
    sympy = staticmethod(lambda sp, a, b: a * sp.log(b))  # its SymPy form, for to_sympy/latex

    def grad(self, inputs, output, D):
        x, y = inputs
        return [D * log(y), D * (x / y)]


class Xlog1py(SpecialFunction):
    """x * log1p(y), 0 where x == 0 (unless y is NaN)."""

    name, scipy_name, nin = "xlog1py", "xlog1py", 2
    code = "_sp_xlog1py({0}, {1})"
    sympy = staticmethod(lambda sp, a, b: a * sp.log(1 + b))  # its SymPy form, for to_sympy/latex

    def grad(self, inputs, output, D):
        x, y = inputs
        return [D * log1p(y), D * (x / (1.0 + y))]


class Entr(SpecialFunction):
    """-x log(x) for x > 0, 0 at 0, -inf for x < 0."""

    name = scipy_name = "entr"
    code = "_sp_entr({0})"
    sympy = staticmethod(lambda sp, a: -a * sp.log(a))  # its SymPy form, for to_sympy/latex

    def grad(self, inputs, output, D):
        x = inputs[0]  # -(log x + 1): +inf at 0 (the one-sided limit), 0 where entr is -inf
        return [where(less(x, 0.0), 0.0, -(D * (log(x) + 1.0)))]


class RelEntr(SpecialFunction):
    """x log(x / y) for x, y > 0; 0 for x == 0 <= y; inf otherwise."""

    name, scipy_name, nin = "rel_entr", "rel_entr", 2
    code = "_sp_rel_entr({0}, {1})"
    sympy = staticmethod(lambda sp, a, b: a * sp.log(a / b))  # its SymPy form, for to_sympy/latex

    def grad(self, inputs, output, D):
        x, y = inputs
        inside = [greater(x, 0.0), greater(y, 0.0)]
        return [_only_where(inside, D * (log(x / y) + 1.0)), _only_where(inside, -(D * (x / y)))]


class KlDiv(SpecialFunction):
    """x log(x / y) - x + y for x, y > 0; y for x == 0 <= y; inf otherwise."""

    name, scipy_name, nin = "kl_div", "kl_div", 2
    code = "_sp_kl_div({0}, {1})"
    sympy = staticmethod(lambda sp, a, b: a * sp.log(a / b) - a + b)  # its SymPy form, for to_sympy/latex

    def grad(self, inputs, output, D):
        x, y = inputs
        inside = [greater(x, 0.0), greater(y, 0.0)]  # outside: the gradients of -x + y, as JAX's
        return [_only_where(inside, D * log(x / y), -D), _only_where(inside, D * (1.0 - x / y), D)]


# ---------------------------------------------------------------------------------------------
# Public constructors
# ---------------------------------------------------------------------------------------------
def erf(x) -> Node:
    """The error function, elementwise (``scipy.special.erf``)."""
    return Erf()(x)


def erfc(x) -> Node:
    """The complementary error function 1 - erf(x), elementwise (``scipy.special.erfc``)."""
    return Erfc()(x)


def erfinv(x) -> Node:
    """The inverse error function on [-1, 1], elementwise (``scipy.special.erfinv``)."""
    return Erfinv()(x)


def erfcinv(y) -> Node:
    """The inverse complementary error function on [0, 2], elementwise (``scipy.special.erfcinv``)."""
    return Erfcinv()(y)


def gamma(x) -> Node:
    """The gamma function, elementwise (``scipy.special.gamma``; signed for negative x)."""
    return Gamma()(x)


def gammaln(x) -> Node:
    """log|gamma(x)|, elementwise (``scipy.special.gammaln``); its derivative is digamma."""
    return Gammaln()(x)


lgamma = gammaln


def digamma(x) -> Node:
    """The digamma function psi(x) = (log gamma)'(x), elementwise (``scipy.special.digamma``)."""
    return Digamma()(x)


psi = digamma


def _static_int(fn: str, arg: str, value, least: int) -> int:
    """``value`` as a Python int >= ``least``, or a clear error naming the function and argument."""
    if isinstance(value, Node):
        raise DTypeError(f"{fn}: {arg} must be a static Python int, got a symbolic node")
    if isinstance(value, (bool, np.bool_)):
        raise DTypeError(f"{fn}: {arg} must be an int, got {value!r}")
    try:
        k = operator.index(value)
    except TypeError:
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            k = int(value)
        else:
            raise DTypeError(f"{fn}: {arg} must be an int, got {value!r:.60}") from None
    if k < least:
        raise SpecialFunctionError(f"{fn}: {arg} must be >= {least}, got {k}")
    return k


def polygamma(n: int, x) -> Node:
    """The n-th derivative of digamma, elementwise (``scipy.special.polygamma``); ``n`` is a
    static non-negative int (``polygamma(0, x)`` is ``digamma(x)``)."""
    n = _static_int("polygamma", "the order n", n, 0)
    return digamma(x) if n == 0 else Polygamma(n)(x)


def betaln(a, b) -> Node:
    """log|B(a, b)|, elementwise with broadcasting (``scipy.special.betaln``)."""
    return Betaln()(a, b)


def multigammaln(a, d: int) -> Node:
    """The log of the multivariate gamma function of dimension ``d`` (``scipy.special.multigammaln``):
    d(d-1)/4 log(pi) + sum_{j<d} gammaln(a - j/2). Unlike SciPy it does not check
    a > (d-1)/2 (values are symbolic); there the terms are log|gamma| of negative arguments."""
    d = _static_int("multigammaln", "the dimension d", d, 1)
    a = as_node(a)
    const = d * (d - 1) / 4.0 * math.log(math.pi)
    if d == 1:
        return gammaln(a)
    dtype = a.dtype if a.dtype.kind == "f" else np.dtype("float64")
    offsets = Constant(-0.5 * np.arange(d, dtype=dtype))
    return sum_(gammaln(expand_dims(a, -1) + offsets), axis=-1) + const


def expit(x) -> Node:
    """The logistic sigmoid 1 / (1 + exp(-x)), elementwise (``scipy.special.expit``; ``sd.sigmoid``)."""
    return sigmoid(x)


def logit(p) -> Node:
    """log(p / (1 - p)), elementwise (``scipy.special.logit``); the inverse of expit."""
    return Logit()(p)


def log_expit(x) -> Node:
    """log(expit(x)) = -softplus(-x), stable for large |x| (``scipy.special.log_expit``,
    JAX's ``log_sigmoid``)."""
    return -softplus(-as_node(x))


def ndtr(x) -> Node:
    """The standard normal CDF, elementwise (``scipy.special.ndtr``)."""
    return Ndtr()(x)


def log_ndtr(x) -> Node:
    """log of the standard normal CDF, accurate in the far left tail (``scipy.special.log_ndtr``)."""
    return LogNdtr()(x)


def ndtri(p) -> Node:
    """The standard normal quantile, the inverse of ndtr (``scipy.special.ndtri``)."""
    return Ndtri()(p)


def xlogy(x, y) -> Node:
    """x * log(y), 0 where x == 0 (``scipy.special.xlogy``); gradients as JAX's."""
    return Xlogy()(x, y)


def xlog1py(x, y) -> Node:
    """x * log1p(y), 0 where x == 0 (``scipy.special.xlog1py``); gradients as JAX's."""
    return Xlog1py()(x, y)


def entr(x) -> Node:
    """-x log(x) (0 at 0, -inf for x < 0), elementwise (``scipy.special.entr``)."""
    return Entr()(x)


def rel_entr(x, y) -> Node:
    """x log(x / y) with SciPy's edge values, elementwise (``scipy.special.rel_entr``)."""
    return RelEntr()(x, y)


def kl_div(x, y) -> Node:
    """x log(x / y) - x + y with SciPy's edge values, elementwise (``scipy.special.kl_div``)."""
    return KlDiv()(x, y)


def logsumexp(a, axis=None, b=None, keepdims: bool = False, return_sign: bool = False):
    """log(sum(b * exp(a))) over ``axis``, stable for large inputs (``scipy.special.logsumexp``).

    ``b`` (a constant or a node) weights the terms and broadcasts against ``a``; entries with
    a constant weight 0 add nothing even where ``a`` is inf. A negative sum gives NaN unless
    ``return_sign=True``, which returns ``(log|sum|, sign(sum))``.
    """
    a = as_node(a)
    if b is None and not return_sign:
        return _logsumexp_plain(a, axis=axis, keepdims=keepdims)
    b = 1.0 if b is None else b
    b = as_node(b)
    if b.dtype == BOOL:
        b = b * 1.0
    shape = broadcast_shapes("logsumexp", a.shape, b.shape)
    if a.shape != shape:
        a = broadcast_to(a, shape)
    axes = normalize_axis("logsumexp", axis, len(shape))
    if isinstance(b, Constant) and b.value.dtype.kind in "fiu" and (b.value == 0).any():
        a = where(equal(b, 0.0), float("-inf"), a)  # as SciPy: zero weights drop their terms
    top = max_(a, axis=axes, keepdims=True)
    top = where(less(abs(top), float("inf")), top, 0.0)  # all -inf (or inf) slices: no shift
    s = sum_(b * exp(a - top), axis=axes, keepdims=True)
    out = log(abs(s) if return_sign else s) + top
    if not keepdims:
        out = squeeze(out, axes) if axes else out
    if not return_sign:
        return out
    sgn = sign(s)
    return out, (squeeze(sgn, axes) if axes and not keepdims else sgn)
