"""Custom elementwise operations defined by a SymPy formula.

``sd.elementwise(name, fn)`` turns a function of SymPy symbols into a new elementwise op::

    import sympy as sp
    softsign = sd.elementwise("softsign", lambda t: t / (1 + sp.Abs(t)))
    y = softsign(x)                   # a node, like sd.tanh(x)

* NumPy evaluation comes from ``sympy.lambdify`` (NumPy module);
* the Numba lowering (``code``) is a scalar expression written by SymPy's code printer, using only
  ``np.<function>`` calls, arithmetic, comparisons and conditional expressions;
* the derivative with respect to each argument is derived by SymPy and is itself such an op, so
  gradients of any order work. SymPy's ``DiracDelta`` (the derivative of ``sign`` and ``Heaviside``)
  is taken as 0, as symdiff's built-in ``sign`` does.

The symbols passed to ``fn`` are real (``sympy.Symbol(name, real=True)``), so ``Abs``
differentiates to ``sign``. The number of parameters of ``fn`` is the number of inputs.
"""
from __future__ import annotations

import ast
import functools
import inspect
import keyword
import re
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from .errors import SymdiffError
from .graph import Node
from .ops.elementwise import Elemwise

if TYPE_CHECKING:
    import sympy as sp

__all__ = ["CustomOpError", "ElementwiseFunction", "SympyElemwise", "elementwise"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_PLACEHOLDER = "__symdiff_arg{}__"


class CustomOpError(SymdiffError, ValueError):
    """A custom elementwise op cannot be built from the given SymPy formula."""


# ---------------------------------------------------------------------------------------------
# The Numba scalar expression printer
# ---------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _printer_class() -> type:
    """SymPy's NumPy printer adjusted for scalar Numba code (SymPy is imported on first use)."""
    import sympy as sp
    from sympy.printing.numpy import NumPyPrinter

    class _ScalarCodePrinter(NumPyPrinter):
        """SymPy's NumPy printer, adjusted for scalar Numba code: ``np.<f>`` calls, Python comparisons
        and conditional expressions instead of array functions such as ``numpy.select``."""

        printmethod = "_symdiff_scalar_code"

        def __init__(self, args: Sequence[sp.Symbol]):
            super().__init__({"fully_qualified_modules": True, "strict": True})
            self._arg_index = {s: i for i, s in enumerate(args)}

        def _module_format(self, fqn, register=True):
            if fqn.startswith("numpy."):
                return "np." + fqn[len("numpy."):]
            raise CustomOpError(f"SymPy writes {fqn!r} for this formula; Numba kernels can only call NumPy functions")

        def _print_Symbol(self, expr):
            if expr not in self._arg_index:
                raise CustomOpError(f"the formula has the free symbol {expr} that is not one of its arguments")
            return _PLACEHOLDER.format(self._arg_index[expr])

        _print_Dummy = _print_Symbol

        def _print_Abs(self, expr):
            return f"np.abs({self._print(expr.args[0])})"

        def _fold(self, fname, args):
            text = self._print(args[0])
            for a in args[1:]:
                text = f"np.{fname}({text}, {self._print(a)})"
            return text

        def _print_Max(self, expr):
            return self._fold("maximum", expr.args)

        def _print_Min(self, expr):
            return self._fold("minimum", expr.args)

        def _print_Relational(self, expr):
            return f"({self._print(expr.lhs)} {expr.rel_op} {self._print(expr.rhs)})"

        def _print_And(self, expr):
            return "(" + " and ".join(self._print(a) for a in expr.args) + ")"

        def _print_Or(self, expr):
            return "(" + " or ".join(self._print(a) for a in expr.args) + ")"

        def _print_Not(self, expr):
            return f"(not {self._print(expr.args[0])})"

        def _print_BooleanTrue(self, expr):
            return "True"

        def _print_BooleanFalse(self, expr):
            return "False"

        def _print_Piecewise(self, expr):
            text = "np.nan"
            for value, cond in reversed(expr.args):
                if cond == sp.true:
                    text = self._print(value)
                else:
                    text = f"({self._print(value)} if {self._print(cond)} else {text})"
            return text

        def _print_Heaviside(self, expr):
            x = f"({self._print(expr.args[0])})"
            h0 = expr.args[1] if len(expr.args) > 1 else sp.S.Half
            return f"(0.0 if {x} < 0 else (1.0 if {x} > 0 else {self._print(sp.Float(h0))}))"

    return _ScalarCodePrinter


_ALLOWED_AST = (
    ast.Expression, ast.BinOp, ast.UnaryOp, ast.IfExp, ast.Compare, ast.BoolOp, ast.Call,
    ast.Attribute, ast.Name, ast.Constant, ast.Load, ast.operator, ast.unaryop, ast.cmpop, ast.boolop,
)


def _check_code(text: str, nargs: int) -> None:
    """Make sure generated code only calls NumPy functions on the argument placeholders."""
    tree = ast.parse(text, mode="eval")
    names = {_PLACEHOLDER.format(i) for i in range(nargs)} | {"np"}
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_AST):
            raise CustomOpError(f"unexpected {type(node).__name__} in generated code {text!r}")
        if isinstance(node, ast.Name) and node.id not in names:
            raise CustomOpError(f"generated code {text!r} uses the unknown name {node.id!r}")
        if isinstance(node, ast.Attribute):
            if not (isinstance(node.value, ast.Name) and node.value.id == "np" and hasattr(np, node.attr)):
                raise CustomOpError(f"generated code {text!r} uses {ast.unparse(node)!r}, which is not a NumPy function")
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Attribute) or node.keywords:
                raise CustomOpError(f"generated code {text!r} calls something other than a NumPy function")
        if isinstance(node, ast.Constant) and not isinstance(node.value, (int, float, bool)):
            raise CustomOpError(f"generated code {text!r} holds the constant {node.value!r}")


def scalar_code(expr: sp.Expr, args: Sequence[sp.Symbol]) -> str:
    """The Numba scalar expression of ``expr``: a format string over ``{0}``, ``{1}``, ... for
    ``args``, calling NumPy only (as ``np``)."""
    try:
        text = _printer_class()(args).doprint(expr)
    except CustomOpError:
        raise
    except Exception as exc:  # SymPy raises PrintMethodNotImplementedError and friends
        raise CustomOpError(f"SymPy cannot write Numba code for {expr}: {exc}") from None
    _check_code(text, len(args))
    text = text.replace("{", "{{").replace("}", "}}")
    for i in range(len(args)):
        text = text.replace(_PLACEHOLDER.format(i), "{%d}" % i)
    return f"({text})"


# ---------------------------------------------------------------------------------------------
# The op
# ---------------------------------------------------------------------------------------------
class SympyElemwise(Elemwise):
    """Base class of the elementwise ops made by ``elementwise``; one subclass per op.

    Class attributes: ``sympy_expr`` (the formula), ``sympy_args`` (its argument symbols),
    ``code`` (the Numba scalar expression) and ``numpy`` (the lambdified NumPy function).
    Instances carry the formula's text as their one parameter, ``formula``.
    """

    hidden_params = ("formula",)
    sympy_expr: "sp.Expr | None" = None
    sympy_args: tuple = ()
    _derivatives: dict = {}

    def calls_libm(self, node) -> bool:
        return "np." in self.code  # SymPy printed a NumPy function call (exp, sin, ...)

    def perform(self, values, node, dims):
        out = np.asarray(type(self).numpy(*values))
        shape = np.broadcast_shapes(*(np.shape(v) for v in values))
        return out if out.shape == shape else np.broadcast_to(out, shape)

    def grad(self, inputs, output, D):
        grads = []
        for i in range(self.nin):
            d = type(self).derivative(i)
            grads.append(D * d if isinstance(d, float) else D * d.op(*inputs))
        return grads

    @classmethod
    def derivative(cls, i: int = 0) -> "ElementwiseFunction | float":
        """The partial derivative with respect to argument ``i``: a custom elementwise function,
        or a float when it is constant. Derived by SymPy once and cached."""
        if i not in cls._derivatives:
            import sympy as sp

            arg = cls.sympy_args[i]
            d = sp.diff(cls.sympy_expr, arg)
            d = d.replace(lambda e: isinstance(e, sp.DiracDelta), lambda e: sp.S.Zero)
            if d.has(sp.Derivative, sp.Subs):
                raise CustomOpError(f"SymPy cannot differentiate {cls.sympy_expr} with respect to {arg}: got {d}")
            if not (d.free_symbols & set(cls.sympy_args)):
                cls._derivatives[i] = _as_float(d, f"the derivative of {cls.name}")
            else:
                prefix = "d_" if cls.nin == 1 else f"d{i}_"
                cls._derivatives[i] = _make(prefix + cls.name, d, cls.sympy_args)
        return cls._derivatives[i]


def real_value(expr) -> float | None:
    """The value of a constant SymPy expression as a float, or None if it is not a real number."""
    import sympy as sp

    try:
        value = complex(sp.N(expr))
    except (TypeError, ValueError):
        return None
    if value.imag != 0 or np.isnan(value.real):
        return None
    return float(value.real)


def _as_float(expr, what: str) -> float:
    value = real_value(expr)
    if value is None:
        raise CustomOpError(f"{what} is {expr}, which is not a real number")
    return value


class ElementwiseFunction:
    """The callable ``elementwise`` returns: ``f(x, ...)`` builds a node of the custom op.

    Attributes: ``name``, ``op`` (the op instance), ``expr`` and ``symbols`` (the SymPy formula),
    ``nin`` (number of inputs), ``code`` (the Numba scalar expression).
    """

    def __init__(self, op_class: type):
        import sympy as sp

        self.op_class = op_class
        self.op = op_class(formula=sp.sstr(op_class.sympy_expr))
        self.name = op_class.name
        self.expr = op_class.sympy_expr
        self.symbols = op_class.sympy_args
        self.nin = op_class.nin
        self.code = op_class.code
        self.__name__ = self.name
        self.__doc__ = f"Elementwise {self.name}({', '.join(map(str, self.symbols))}) = {self.expr}"

    def __call__(self, *args) -> Node:
        if len(args) != self.nin:
            raise CustomOpError(f"{self.name} takes {self.nin} argument(s), got {len(args)}")
        return self.op(*args)

    def derivative(self, i: int = 0) -> "ElementwiseFunction | float":
        """The partial derivative with respect to argument ``i`` (see ``SympyElemwise.derivative``)."""
        if not 0 <= i < self.nin:
            raise CustomOpError(f"{self.name} has {self.nin} argument(s); no argument {i}")
        return self.op_class.derivative(i)

    def __repr__(self) -> str:
        return f"<elementwise {self.name}({', '.join(map(str, self.symbols))}) = {self.expr}>"


def _make(name: str, expr: "sp.Expr", args: tuple) -> ElementwiseFunction:
    import sympy as sp

    code = scalar_code(expr, args)
    try:
        fn = sp.lambdify(args, expr, modules="numpy", dummify=True)
    except Exception as exc:
        raise CustomOpError(f"SymPy cannot turn {expr} into a NumPy function: {exc}") from None
    cls = type(f"Elementwise_{name}", (SympyElemwise,), {
        "__module__": __name__,
        "__doc__": f"Custom elementwise op {name}({', '.join(map(str, args))}) = {expr}",
        "name": name,
        "nin": len(args),
        "code": code,
        "numpy": staticmethod(fn),
        "sympy_expr": expr,
        "sympy_args": tuple(args),
        "_derivatives": {},
    })
    return ElementwiseFunction(cls)


def _param_names(fn: Callable, nin: int | None) -> list[str]:
    if nin is not None:
        return [f"x{i}" for i in range(nin)]
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        raise CustomOpError("cannot read the parameters of fn; pass nin=") from None
    names = []
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise CustomOpError("fn takes *args or **kwargs; pass nin= to give the number of inputs")
        if p.default is p.empty:
            names.append(p.name)
    return names


def elementwise(name: str, fn: Callable[..., sp.Expr], *, nin: int | None = None) -> ElementwiseFunction:
    """A new elementwise op from a SymPy formula: ``fn`` maps real SymPy symbols to an expression.

    ``name`` must be an identifier (it labels the op in printouts and generated code comments).
    The number of inputs is the number of parameters of ``fn`` (or ``nin``). Returns a callable
    that builds nodes; every node it builds uses the same op, so they compare equal. The op
    evaluates through ``sympy.lambdify``, compiles through a Numba expression that SymPy's printer
    writes, and differentiates through ``sympy.diff`` to any order. Example::

        softsign = sd.elementwise("softsign", lambda t: t / (1 + sp.Abs(t)))
        g = sd.grad(sd.sum(softsign(x)), x)
    """
    if not isinstance(name, str) or not _NAME.match(name) or keyword.iskeyword(name):
        raise CustomOpError(f"the name of a custom op must be a Python identifier, got {name!r}")
    if not callable(fn):
        raise CustomOpError(f"fn must be a function of SymPy symbols, got {type(fn).__name__}")
    import sympy as sp

    names = _param_names(fn, nin)
    if not names:
        raise CustomOpError("a custom elementwise op needs at least one input")
    symbols = tuple(sp.Symbol(n, real=True) for n in names)
    try:
        result = fn(*symbols)
    except SymdiffError as exc:
        raise CustomOpError(f"fn must build a SymPy expression from SymPy symbols (not symdiff nodes): {exc}") from None
    if isinstance(result, (bool, int, float)):
        result = sp.Float(result)
    if not isinstance(result, sp.Expr):
        raise CustomOpError(f"fn must return a SymPy expression, got {type(result).__name__}")
    extra = result.free_symbols - set(symbols)
    if extra:
        raise CustomOpError(f"the formula {result} uses symbols that are not its arguments: {sorted(map(str, extra))}")
    return _make(name, result, symbols)
