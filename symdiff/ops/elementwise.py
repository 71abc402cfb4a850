"""Elementwise operations: one small class per function, with its derivative beside it.

Every class gives its NumPy function (``numpy``), its Numba scalar expression (``code``, a format
string over the argument expressions) and ``grad``: the derivative rule for output-shaped
gradients. ``Elemwise.bprop`` then sums each gradient over the axes its input was broadcast along.

Conventions at non-differentiable points (the seeds' "max routes the gradient"):
relu'(0) = 0, leaky_relu'(0) = alpha, abs'(0) = 1 (as JAX), sign' = 0, clip passes the gradient
on the closed interval [lo, hi]; maximum/minimum split the gradient equally between tied inputs.
"""
from __future__ import annotations

import numpy as np

from ..errors import DTypeError
from ..graph import Constant, Node, as_node
from ..types import BOOL, broadcast_shapes, result_dtype
from .base import Op, integer_result


class Elemwise(Op):
    """An elementwise op over broadcast inputs."""

    nin = 1
    numpy = None          # the NumPy implementation
    code = None           # Numba scalar expression, e.g. "np.exp({0})"
    scalar_code = None    # its libm form, where a polynomial ``code`` would not be vectorised
    libm = False          # ``code`` calls libm (sin, cos, ...): a loop containing it never vectorises
    bool_output = False   # comparisons produce bool
    piecewise_constant = False  # derivative zero everywhere (sign, floor, ...): no pattern, no grad
    constructor = None    # the public constructor that simplifies (add: x + 0 -> x), for ``make``

    def infer(self, *inputs):
        if len(inputs) != self.nin:
            raise TypeError(f"{self.name} takes {self.nin} inputs, got {len(inputs)}")
        shape = broadcast_shapes(self.name, *(x.shape for x in inputs))
        if self.bool_output:
            return shape, BOOL
        if self.int_closed and any(x.dtype.kind in "iu" for x in inputs):
            integer = integer_result(inputs)
            if integer is not None:
                return shape, integer
        strong = [x.dtype for x in inputs if not (isinstance(x, Constant) and x.weak)]
        return shape, result_dtype(*strong)

    def perform(self, values, node, dims):
        return type(self).numpy(*values)

    def bprop(self, inputs, output, D):
        grads = self.grad(inputs, output, D)
        return [None if g is None else unbroadcast(g, x) for g, x in zip(grads, inputs)]

    def grad(self, inputs, output, D) -> list:
        """Output-shaped gradients for each input."""
        raise NotImplementedError

    def make(self, *inputs):
        ctor = type(self).constructor
        return ctor(*inputs) if ctor is not None else self(*inputs)

    def batch(self, node, args, flags, B):
        """Elementwise ops batch by broadcasting: batched inputs get the batch axis in front and
        size-1 axes up to the node's rank, unbatched ones broadcast as they are."""
        from ..batching import lift

        args = [lift(a, node.ndim) if f else a for a, f in zip(args, flags)]
        out = self.make(*args)
        # a constructor may have folded to something narrower (e.g. ``x * 0`` -> 0)
        return broadcast_to(out, (B, *node.shape)) if out.shape != (B, *node.shape) else out

    def pattern(self, node, pats, shapes, dims):
        """Output entry i depends on the entries of the inputs that broadcast to i."""
        from .. import patterns as P
        from ..types import concrete_shape

        if self.piecewise_constant or self.bool_output:
            return None
        out_shape = concrete_shape(node.shape, dims)
        mats = []
        for k, (pat, shape) in enumerate(zip(pats, shapes)):
            if pat is None or k in self.nondifferentiable_inputs:
                continue
            mats.append(P.rows(pat, np.broadcast_to(P.arange(shape), out_shape)))
        return P.union(mats)

    nondifferentiable_inputs: tuple = ()  # positions that carry no derivative (where's condition)
    sympy = None  # its SymPy form ``(sympy_module, *args) -> expr``, for to_sympy / latex

    def to_sympy(self, args: list):
        """The SymPy expression of this op applied to SymPy ``args`` (``None``: it has none)."""
        if type(self).sympy is None:
            return None
        import sympy as sp

        return type(self).sympy(sp, *args)

    def emit(self, args: list[str], node: Node, vector: bool = True) -> str:
        """Numba lowering: the scalar expression of this op over argument expressions
        (``vector=False``: in a loop that will not be vectorised)."""
        code = self.code if vector or self.scalar_code is None else self.scalar_code
        # float params as source literals (inf, nan, -0.0 compile), whether written {p} or {p!r}
        params = {k: _FloatLiteral(v) if isinstance(v, float) else v for k, v in self.params.items()}
        return code.format(*args, **params)

    def calls_libm(self, node: Node) -> bool:
        """Whether the lowering of ``node`` calls libm (which stops a loop from vectorising)."""
        return self.libm


class _FloatLiteral(float):
    """A float param in a ``code`` template: formats as Numba source (``np.inf``, ``np.nan``, ``-0.0``)."""

    def __repr__(self):
        from ..compiler.codegen import literal

        return literal(float(self))

    __str__ = __repr__

    def __format__(self, spec):
        return repr(self) if not spec else float.__format__(self, spec)


def unbroadcast(g: Node, like: Node) -> Node:
    """Sum ``g`` over the axes along which ``like`` was broadcast, giving ``like``'s shape."""
    if g.shape == like.shape:
        return g
    lead = len(g.shape) - len(like.shape)
    if lead >= 0:
        stretched = tuple(lead + i for i, d in enumerate(like.shape) if d == 1 and g.shape[lead + i] != 1)
        if stretched:
            g = sum_(g, axis=stretched, keepdims=True)
        if lead:
            g = sum_(g, axis=tuple(range(lead)))
    if g.shape != like.shape:
        g = broadcast_to(g, like.shape)
    return g


# ---------------------------------------------------------------------------------------------
# Binary arithmetic
# ---------------------------------------------------------------------------------------------
class Add(Elemwise):
    int_closed = True  # integers in, an integer out (index arithmetic)
    name, nin, numpy, code = "add", 2, np.add, "({0} + {1})"
    sympy = staticmethod(lambda sp, a, b: a + b)  # its SymPy form, for to_sympy/latex
    commutative = True  # x + y and y + x are one common subexpression

    def grad(self, inputs, output, D):
        return [D, D]


class Sub(Elemwise):
    int_closed = True  # integers in, an integer out (index arithmetic)
    name, nin, numpy, code = "sub", 2, np.subtract, "({0} - {1})"
    sympy = staticmethod(lambda sp, a, b: a - b)  # its SymPy form, for to_sympy/latex

    def grad(self, inputs, output, D):
        return [D, -D]


class Mul(Elemwise):
    int_closed = True  # integers in, an integer out (index arithmetic)
    name, nin, numpy, code = "mul", 2, np.multiply, "({0} * {1})"
    sympy = staticmethod(lambda sp, a, b: a * b)  # its SymPy form, for to_sympy/latex
    commutative = True

    def grad(self, inputs, output, D):
        a, b = inputs
        return [D * b, D * a]


class Div(Elemwise):
    name, nin, numpy, code = "div", 2, np.divide, "({0} / {1})"
    sympy = staticmethod(lambda sp, a, b: a / b)  # its SymPy form, for to_sympy/latex

    def grad(self, inputs, output, D):
        a, b = inputs
        return [D / b, -(D * output) / b]


class Pow(Elemwise):
    name, nin, numpy, code = "pow", 2, np.power, "({0} ** {1})"
    sympy = staticmethod(lambda sp, a, b: a ** b)  # its SymPy form, for to_sympy/latex

    def grad(self, inputs, output, D):
        a, b = inputs
        ga = D * b * power(a, b - 1)
        gb = None if isinstance(b, Constant) else D * output * log(a)
        return [ga, gb]

    def calls_libm(self, node):
        """Only the constant exponents ``emit`` writes as products, a sqrt or a reciprocal stay
        vectorisable; any other power calls libm's ``pow``."""
        b = node.inputs[1]
        if not (isinstance(b, Constant) and b.ndim == 0):
            return True
        e = float(b.value)
        return not (e in (0.5, -1.0) or (e.is_integer() and -16 <= e <= 16))

    def emit(self, args, node, vector=True):
        b = node.inputs[1]
        if isinstance(b, Constant) and b.ndim == 0:  # cheap forms of common constant exponents
            e, x = float(b.value), args[0]
            if e == 1:
                return x
            if e == 2:
                return f"({x} * {x})"
            if e == 0.5:
                return f"np.sqrt({x})"
            if e == -1:
                return f"(1.0 / {x})"
            if e.is_integer() and -16 <= e <= 16:
                return f"({x} ** {int(e)})"
        return super().emit(args, node, vector)


def _tie_weight(p: Node, q: Node, dtype) -> Node:
    """1 where p > q, 1/2 where p == q, 0 elsewhere: how maximum(p, q) routes the gradient to p."""
    one, half, zero = (full((), v, dtype) for v in (1.0, 0.5, 0.0))
    return where(greater(p, q), one, where(equal(p, q), half, zero))


class Maximum(Elemwise):
    int_closed = True  # integers in, an integer out (index arithmetic)
    name, nin, numpy, code = "maximum", 2, np.maximum, "_maximum({0}, {1})"
    sympy = staticmethod(lambda sp, a, b: sp.Max(a, b))  # its SymPy form, for to_sympy/latex

    def grad(self, inputs, output, D):
        a, b = inputs
        return [D * _tie_weight(a, b, D.dtype), D * _tie_weight(b, a, D.dtype)]


class Minimum(Elemwise):
    int_closed = True  # integers in, an integer out (index arithmetic)
    name, nin, numpy, code = "minimum", 2, np.minimum, "_minimum({0}, {1})"
    sympy = staticmethod(lambda sp, a, b: sp.Min(a, b))  # its SymPy form, for to_sympy/latex

    def grad(self, inputs, output, D):
        a, b = inputs
        return [D * _tie_weight(b, a, D.dtype), D * _tie_weight(a, b, D.dtype)]


# ---------------------------------------------------------------------------------------------
# Comparisons and where
# ---------------------------------------------------------------------------------------------
class Compare(Elemwise):
    nin, bool_output, accepts_bool, piecewise_constant = 2, True, True, True

    def grad(self, inputs, output, D):
        return [None, None]


class Greater(Compare):
    name, numpy, code = "greater", np.greater, "({0} > {1})"
    sympy = staticmethod(lambda sp, a, b: sp.Gt(a, b))  # its SymPy form, for to_sympy/latex


class GreaterEqual(Compare):
    name, numpy, code = "greater_equal", np.greater_equal, "({0} >= {1})"
    sympy = staticmethod(lambda sp, a, b: sp.Ge(a, b))  # its SymPy form, for to_sympy/latex


class Less(Compare):
    name, numpy, code = "less", np.less, "({0} < {1})"
    sympy = staticmethod(lambda sp, a, b: sp.Lt(a, b))  # its SymPy form, for to_sympy/latex


class LessEqual(Compare):
    name, numpy, code = "less_equal", np.less_equal, "({0} <= {1})"
    sympy = staticmethod(lambda sp, a, b: sp.Le(a, b))  # its SymPy form, for to_sympy/latex


class Equal(Compare):
    name, numpy, code = "equal", np.equal, "({0} == {1})"
    sympy = staticmethod(lambda sp, a, b: sp.Eq(a, b))  # its SymPy form, for to_sympy/latex


class NotEqual(Compare):
    name, numpy, code = "not_equal", np.not_equal, "({0} != {1})"
    sympy = staticmethod(lambda sp, a, b: sp.Ne(a, b))  # its SymPy form, for to_sympy/latex


class Where(Elemwise):
    name, nin, numpy, code = "where", 3, np.where, "({1} if {0} else {2})"
    sympy = staticmethod(lambda sp, c, a, b: sp.Piecewise((a, c), (b, True)))  # its SymPy form, for to_sympy/latex
    accepts_bool = True
    nondifferentiable_inputs = (0,)

    def __call__(self, cond, a, b):
        from .base import _as_int_constant, _weak

        a, b = as_node(a), as_node(b)
        if integer_result([a, b]) is not None:  # where(c, i, 0) of integers stays integer
            a, b = (_as_int_constant(x) if _weak(x) else x for x in (a, b))
        elif a.dtype == BOOL or b.dtype == BOOL or a.dtype.kind in "iu" or b.dtype.kind in "iu":
            a, b = self._bools_as_floats([a, b])
        return super().__call__(cond, a, b)

    def infer(self, cond, a, b):
        if cond.dtype != BOOL:
            raise DTypeError(f"where: the condition must be boolean (a comparison), got {cond.dtype}")
        shape = broadcast_shapes(self.name, cond.shape, a.shape, b.shape)
        integer = integer_result([a, b])
        if integer is not None:
            return shape, integer
        strong = [x.dtype for x in (a, b) if not (isinstance(x, Constant) and x.weak)]
        return shape, result_dtype(*strong)

    def grad(self, inputs, output, D):
        cond = inputs[0]
        return [None, where(cond, D, 0.0), where(cond, 0.0, D)]


# ---------------------------------------------------------------------------------------------
# Unary functions
# ---------------------------------------------------------------------------------------------
class Neg(Elemwise):
    int_closed = True  # integers in, an integer out (index arithmetic)
    name, numpy, code = "neg", np.negative, "(-{0})"
    sympy = staticmethod(lambda sp, a: -a)  # its SymPy form, for to_sympy/latex

    def grad(self, inputs, output, D):
        return [-D]


class Exp(Elemwise):
    name, numpy, code = "exp", np.exp, "_exp({0})"  # vectorisable, see compiler/fastmath.py
    sympy = staticmethod(lambda sp, a: sp.exp(a))  # its SymPy form, for to_sympy/latex
    scalar_code = "np.exp({0})"

    def grad(self, inputs, output, D):
        return [D * output]


class Log(Elemwise):
    name, numpy, code = "log", np.log, "_log({0})"  # vectorisable, see compiler/fastmath.py
    sympy = staticmethod(lambda sp, a: sp.log(a))  # its SymPy form, for to_sympy/latex
    scalar_code = "np.log({0})"

    def grad(self, inputs, output, D):
        return [D / inputs[0]]


class Log1p(Elemwise):
    name, numpy, code = "log1p", np.log1p, "_log1p({0})"  # vectorisable, see compiler/fastmath.py
    sympy = staticmethod(lambda sp, a: sp.log(1 + a))  # its SymPy form, for to_sympy/latex
    scalar_code = "np.log1p({0})"

    def grad(self, inputs, output, D):
        return [D / (1.0 + inputs[0])]


class Expm1(Elemwise):
    name, numpy, code, libm = "expm1", np.expm1, "np.expm1({0})", True
    sympy = staticmethod(lambda sp, a: sp.exp(a) - 1)  # its SymPy form, for to_sympy/latex

    def grad(self, inputs, output, D):
        return [D * (output + 1.0)]


class Sqrt(Elemwise):
    name, numpy, code = "sqrt", np.sqrt, "np.sqrt({0})"
    sympy = staticmethod(lambda sp, a: sp.sqrt(a))  # its SymPy form, for to_sympy/latex

    def grad(self, inputs, output, D):
        return [D / (2.0 * output)]


class Sin(Elemwise):
    name, numpy, code, libm = "sin", np.sin, "np.sin({0})", True
    sympy = staticmethod(lambda sp, a: sp.sin(a))  # its SymPy form, for to_sympy/latex

    def grad(self, inputs, output, D):
        return [D * cos(inputs[0])]


class Cos(Elemwise):
    name, numpy, code, libm = "cos", np.cos, "np.cos({0})", True
    sympy = staticmethod(lambda sp, a: sp.cos(a))  # its SymPy form, for to_sympy/latex

    def grad(self, inputs, output, D):
        return [-(D * sin(inputs[0]))]


class Tan(Elemwise):
    name, numpy, code, libm = "tan", np.tan, "np.tan({0})", True
    sympy = staticmethod(lambda sp, a: sp.tan(a))  # its SymPy form, for to_sympy/latex

    def grad(self, inputs, output, D):
        return [D * (1.0 + output * output)]


class Tanh(Elemwise):
    name, numpy, code = "tanh", np.tanh, "_tanh({0})"  # vectorisable, see compiler/fastmath.py
    sympy = staticmethod(lambda sp, a: sp.tanh(a))  # its SymPy form, for to_sympy/latex
    scalar_code = "np.tanh({0})"

    def grad(self, inputs, output, D):
        return [D * (1.0 - output * output)]


def _sigmoid(x):
    """1 / (1 + exp(-x)) without overflow (as scipy.special.expit), keeping float32 as float32."""
    x = np.asarray(x)
    e = np.exp(-np.abs(x))
    one = np.ones((), dtype=e.dtype)
    return np.where(x >= 0, one / (one + e), e / (one + e))


class Sigmoid(Elemwise):
    """1 / (1 + exp(-x)), evaluated without overflow for any x."""

    name, numpy, code, scalar_code = "sigmoid", staticmethod(_sigmoid), "_sigmoid({0})", "_sigmoid_libm({0})"
    sympy = staticmethod(lambda sp, a: 1 / (1 + sp.exp(-a)))  # its SymPy form, for to_sympy/latex

    def grad(self, inputs, output, D):
        return [D * (output * (1.0 - output))]


def _softplus(x):
    return np.logaddexp(np.zeros((), dtype=np.result_type(x, np.float32)), x)


class Softplus(Elemwise):
    """log(1 + exp(x)), evaluated without overflow for any x."""

    name, numpy, code, scalar_code = "softplus", staticmethod(_softplus), "_softplus({0})", "_softplus_libm({0})"
    sympy = staticmethod(lambda sp, a: sp.log(1 + sp.exp(a)))  # its SymPy form, for to_sympy/latex

    def grad(self, inputs, output, D):
        return [D * sigmoid(inputs[0])]


class Relu(Elemwise):
    name, code = "relu", "_maximum({0}, 0.0)"
    sympy = staticmethod(lambda sp, a: sp.Piecewise((a, a > 0), (0, True)))  # its SymPy form, for to_sympy/latex

    @staticmethod
    def numpy(x):
        return np.maximum(x, np.zeros((), x.dtype))

    def grad(self, inputs, output, D):
        return [where(greater(inputs[0], 0.0), D, 0.0)]


class LeakyRelu(Elemwise):
    name, code = "leaky_relu", "({0} if {0} > 0.0 else {alpha!r} * {0})"

    def perform(self, values, node, dims):
        x = values[0]
        return np.where(x > 0, x, self.alpha * x)

    def to_sympy(self, args):
        import sympy as sp

        a = args[0]
        return sp.Piecewise((a, a > 0), (sp.Float(self.alpha) * a, True))

    def grad(self, inputs, output, D):
        return [where(greater(inputs[0], 0.0), D, self.alpha * D)]


class Elu(Elemwise):
    name, code, libm = "elu", "({0} if {0} > 0.0 else {alpha!r} * np.expm1({0}))", True

    def perform(self, values, node, dims):
        x = values[0]
        return np.where(x > 0, x, self.alpha * np.expm1(np.minimum(x, 0)))

    def to_sympy(self, args):
        import sympy as sp

        a = args[0]
        return sp.Piecewise((a, a > 0), (sp.Float(self.alpha) * (sp.exp(a) - 1), True))

    def grad(self, inputs, output, D):
        return [where(greater(inputs[0], 0.0), D, D * (output + self.alpha))]


class Abs(Elemwise):
    int_closed = True  # integers in, an integer out (index arithmetic)
    name, numpy, code = "abs", np.abs, "abs({0})"
    sympy = staticmethod(lambda sp, a: sp.Abs(a))  # its SymPy form, for to_sympy/latex

    def grad(self, inputs, output, D):
        # JAX's convention: abs'(0) = 1, so smooth compositions such as |x|**2 get their true
        # derivatives at 0 (2, not 0)
        return [where(greater_equal(inputs[0], 0.0), D, -D)]


class Sign(Elemwise):
    int_closed = True  # integers in, an integer out (index arithmetic)
    name, numpy, code, piecewise_constant = "sign", np.sign, "np.sign({0})", True
    sympy = staticmethod(lambda sp, a: sp.sign(a))  # its SymPy form, for to_sympy/latex

    def grad(self, inputs, output, D):
        return [zeros_like(inputs[0])]


class Clip(Elemwise):
    """Clamp to [lo, hi]; ``clip(x, -1, 1)`` is the hard tanh."""

    name, code = "clip", "_minimum(_maximum({0}, {lo!r}), {hi!r})"

    def perform(self, values, node, dims):
        return np.clip(values[0], self.lo, self.hi)

    def to_sympy(self, args):
        import sympy as sp

        def num(v):
            return sp.oo if v == np.inf else -sp.oo if v == -np.inf else sp.Float(v)

        return sp.Min(sp.Max(args[0], num(self.lo)), num(self.hi))

    def grad(self, inputs, output, D):
        x = inputs[0]
        return [where(less(x, self.lo), 0.0, where(greater(x, self.hi), 0.0, D))]


# ---------------------------------------------------------------------------------------------
# Public constructors (with the algebraic simplifications that keep gradient graphs readable:
# x + 0 -> x, x * 1 -> x, x * 0 -> 0, --x -> x).
# ---------------------------------------------------------------------------------------------
def const_value(x: Node):
    """The single value of a constant node whose entries are all equal, else ``None``."""
    while not isinstance(x, Constant):
        if isinstance(x.op, BroadcastTo):
            x = x.inputs[0]
        else:
            return None
    v = x.value
    if v.size == 0 or v.dtype == BOOL:
        return None
    first = v.flat[0]
    return float(first) if np.all(v == first) else None


def _same_shape_as(x: Node, shape, dtype) -> Node:
    """``x`` broadcast to ``shape`` (the shape an elementwise result would have had)."""
    if x.shape != shape:
        x = broadcast_to(x, shape)
    if x.dtype != dtype:
        x = Constant(x.value.astype(dtype)) if isinstance(x, Constant) else cast(x, dtype)
    return x


def _binary(op_cls, a, b, simplify):
    a, b = as_node(a), as_node(b)
    op = op_cls()
    shape, dtype = op.infer(a, b)
    short = simplify(a, b, const_value(a), const_value(b))
    if short is not None:
        return _same_shape_as(short, shape, dtype)
    return op(a, b)


def zeros(shape, dtype="float64") -> Node:
    """A node of zeros (named dims allowed)."""
    return full(shape, 0.0, dtype)


def full(shape, value: float, dtype="float64") -> Node:
    """A node filled with ``value`` (named dims allowed)."""
    from ..types import as_dtype, as_shape

    dtype = as_dtype(dtype)
    c = Constant(np.array(value, dtype=dtype))
    shape = as_shape(shape)
    return c if shape == () else broadcast_to(c, shape)


def zeros_like(x: Node) -> Node:
    return zeros(x.shape, x.dtype)


def ones_like(x: Node) -> Node:
    return full(x.shape, 1.0, x.dtype)


def add(a, b) -> Node:
    """a + b with broadcasting."""
    return _binary(Add, a, b, lambda a, b, va, vb: b if va == 0 else a if vb == 0 else None)


def sub(a, b) -> Node:
    """a - b with broadcasting."""
    return _binary(Sub, a, b, lambda a, b, va, vb: a if vb == 0 else neg(b) if va == 0 else None)


def _mul_simplify(a, b, va, vb):
    if va == 0 or vb == 0:
        return zeros((), result_dtype(a.dtype, b.dtype))
    if va == 1:
        return b
    if vb == 1:
        return a
    if va == -1:
        return neg(b)
    if vb == -1:
        return neg(a)
    return None


def mul(a, b) -> Node:
    """a * b with broadcasting."""
    return _binary(Mul, a, b, _mul_simplify)


def div(a, b) -> Node:
    """a / b with broadcasting."""
    return _binary(Div, a, b, lambda a, b, va, vb: a if vb == 1 else None)


def power(a, b) -> Node:
    """a ** b; any real exponent (negative and fractional powers of positive bases)."""
    return _binary(Pow, a, b, lambda a, b, va, vb: a if vb == 1 else None)


def neg(x) -> Node:
    x = as_node(x)
    if x.op == Neg():
        return x.inputs[0]
    return Neg()(x)


def _make_unary(cls):
    def f(x) -> Node:
        return cls()(x)

    f.__name__ = cls.name
    f.__doc__ = f"Elementwise {cls.name}. " + (cls.__doc__ or "")
    return f


exp = _make_unary(Exp)
log = _make_unary(Log)
log1p = _make_unary(Log1p)
expm1 = _make_unary(Expm1)
sqrt = _make_unary(Sqrt)
sin = _make_unary(Sin)
cos = _make_unary(Cos)
tan = _make_unary(Tan)
tanh = _make_unary(Tanh)
sigmoid = _make_unary(Sigmoid)
softplus = _make_unary(Softplus)
relu = _make_unary(Relu)
abs = _make_unary(Abs)
sign = _make_unary(Sign)


def _real_param(op: str, name: str, value, default=None) -> float:
    """A real-number parameter of an op as a float, or a ``DTypeError`` naming the op and the argument
    (``None`` becomes ``default`` where one is given)."""
    if value is None and default is not None:
        return default
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        if not (isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf"):
            raise DTypeError(f"{op}: {name} must be a real number, got {type(value).__name__} {value!r:.40}")
    return float(value)


def leaky_relu(x, alpha: float = 0.01) -> Node:
    """x for x > 0, alpha * x otherwise."""
    return LeakyRelu(alpha=_real_param("leaky_relu", "alpha", alpha))(x)


def elu(x, alpha: float = 1.0) -> Node:
    """x for x > 0, alpha * (exp(x) - 1) otherwise."""
    return Elu(alpha=_real_param("elu", "alpha", alpha))(x)


def clip(x, lo: float | None, hi: float | None) -> Node:
    """Clamp x to [lo, hi] (``clip(x, -1, 1)`` is the hard tanh); ``None`` leaves that side open,
    as in ``np.clip``."""
    from ..errors import SymdiffError

    if lo is None and hi is None:  # NumPy 2 allows it: nothing to clamp
        return as_node(x)
    lo = _real_param("clip", "lo", lo, -np.inf)
    hi = _real_param("clip", "hi", hi, np.inf)
    if lo > hi:
        raise SymdiffError(f"clip: lo={lo} must not exceed hi={hi}")
    return Clip(lo=lo, hi=hi)(x)


def hard_tanh(x) -> Node:
    """max(-1, min(1, x))."""
    return clip(x, -1.0, 1.0)


def maximum(a, b) -> Node:
    """Elementwise max; ties split the gradient equally."""
    return Maximum()(a, b)


def minimum(a, b) -> Node:
    """Elementwise min; ties split the gradient equally."""
    return Minimum()(a, b)


def greater(a, b) -> Node: return Greater()(a, b)
def greater_equal(a, b) -> Node: return GreaterEqual()(a, b)
def less(a, b) -> Node: return Less()(a, b)
def less_equal(a, b) -> Node: return LessEqual()(a, b)
def equal(a, b) -> Node: return Equal()(a, b)
def not_equal(a, b) -> Node: return NotEqual()(a, b)


def where(cond, a, b) -> Node:
    """``a`` where ``cond`` holds, else ``b`` (cond is a comparison node)."""
    return Where()(cond, a, b)


def square(x) -> Node:
    """x * x."""
    x = as_node(x)
    return mul(x, x)


class Cast(Elemwise):
    """Change the float dtype (float32 <-> float64)."""

    name, code = "cast", "np.{dtype}({0})"
    sympy = staticmethod(lambda sp, a: a)  # its SymPy form, for to_sympy/latex
    accepts_bool = True

    def infer(self, x):
        return x.shape, np.dtype(self.dtype)

    def perform(self, values, node, dims):
        return values[0].astype(self.dtype)

    def grad(self, inputs, output, D):
        return [cast(D, inputs[0].dtype) if inputs[0].dtype.kind == "f" else None]  # no gradient into ints or bools


def cast(x, dtype) -> Node:
    """``x`` converted to ``dtype`` (float64 or float32)."""
    from ..types import as_dtype

    x = as_node(x)
    dtype = as_dtype(dtype)
    if x.dtype == dtype:
        return x
    return Cast(dtype=dtype.name)(x)


Add.constructor = staticmethod(add)
Sub.constructor = staticmethod(sub)
Mul.constructor = staticmethod(mul)
Div.constructor = staticmethod(div)
Pow.constructor = staticmethod(power)
Neg.constructor = staticmethod(neg)

from .reduction import sum_  # noqa: E402
from .structure import BroadcastTo, broadcast_to  # noqa: E402
