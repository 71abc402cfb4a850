"""Conversion between symdiff graphs and SymPy expressions, and LaTeX through SymPy's printer.

``to_sympy`` handles scalar and elementwise graphs (every elementwise op, custom ones included,
plus ``broadcast_to`` and ``cast``, which do not change values); anything else (``sum``,
``matmul``, indexing, ...) raises ``SympyConversionError`` naming the op. Variables become real
SymPy symbols of the same name. ``from_sympy`` builds a graph from an expression; SymPy functions
without a symdiff counterpart (``sinh``, ``atan2``, ...) become custom elementwise ops
(``symdiff.custom``), so the result is differentiable either way.

Both directions iterate over the expression (no recursion on its depth) and keep shared
subexpressions shared.
"""
from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Mapping

import numpy as np

from .custom import CustomOpError, ElementwiseFunction, elementwise
from .errors import SymdiffError
from .graph import Constant, Node, Variable, as_node, toposort
from . import ops

if TYPE_CHECKING:
    import sympy as sp

__all__ = ["SympyConversionError", "from_sympy", "latex", "to_sympy"]


class SympyConversionError(SymdiffError, ValueError):
    """A graph or an expression that has no counterpart on the other side."""


# ---------------------------------------------------------------------------------------------
# symdiff -> SymPy
# ---------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _to_sympy_tables() -> tuple[dict, dict]:
    """SymPy counterparts of the elementwise ops, by op class name (SymPy is imported on first use)."""
    import sympy as sp

    unary = {
        "Neg": lambda a: -a, "Exp": sp.exp, "Log": sp.log, "Log1p": lambda a: sp.log(1 + a),
        "Expm1": lambda a: sp.exp(a) - 1, "Sqrt": sp.sqrt, "Sin": sp.sin, "Cos": sp.cos, "Tan": sp.tan,
        "Tanh": sp.tanh, "Sigmoid": lambda a: 1 / (1 + sp.exp(-a)), "Softplus": lambda a: sp.log(1 + sp.exp(a)),
        "Relu": lambda a: sp.Piecewise((a, a > 0), (0, True)), "Abs": sp.Abs, "Sign": sp.sign,
        "Cast": lambda a: a, "BroadcastTo": lambda a: a,
    }
    binary = {
        "Add": lambda a, b: a + b, "Sub": lambda a, b: a - b, "Mul": lambda a, b: a * b,
        "Div": lambda a, b: a / b, "Pow": lambda a, b: a ** b, "Maximum": sp.Max, "Minimum": sp.Min,
        "Greater": sp.Gt, "GreaterEqual": sp.Ge, "Less": sp.Lt, "LessEqual": sp.Le,
        "Equal": sp.Eq, "NotEqual": sp.Ne,
    }
    return unary, binary


def _number(value) -> "sp.Basic":
    """A SymPy number for a constant: integers stay exact, other floats keep every bit."""
    import sympy as sp

    if isinstance(value, (bool, np.bool_)):
        return sp.true if value else sp.false
    f = float(value)
    if np.isinf(f):
        return sp.oo if f > 0 else -sp.oo
    if f.is_integer() and abs(f) < 2 ** 53:
        return sp.Integer(int(f))
    return sp.Float(f)


def _op_to_sympy(node: Node, args: list) -> "sp.Basic":
    import sympy as sp

    _UNARY, _BINARY = _to_sympy_tables()
    op = node.op
    kind = type(op).__name__
    if hasattr(op, "sympy_expr"):  # custom elementwise op
        return op.sympy_expr.xreplace(dict(zip(op.sympy_args, args)))
    if kind in _UNARY:
        return _UNARY[kind](args[0])
    if kind in _BINARY:
        return _BINARY[kind](args[0], args[1])
    if kind == "Where":
        return sp.Piecewise((args[1], args[0]), (args[2], True))
    if kind == "LeakyRelu":
        a = args[0]
        return sp.Piecewise((a, a > 0), (_number(op.alpha) * a, True))
    if kind == "Elu":
        a = args[0]
        return sp.Piecewise((a, a > 0), (_number(op.alpha) * (sp.exp(a) - 1), True))
    if kind == "Clip":
        return sp.Min(sp.Max(args[0], _number(op.lo)), _number(op.hi))
    raise SympyConversionError(
        f"to_sympy handles scalar and elementwise graphs; {op.name} (shape {node.shape}) is not elementwise"
    )


def to_sympy(node: Node, symbols: dict | None = None) -> "sp.Expr":
    """The SymPy expression of a scalar or elementwise graph.

    Each variable becomes ``sympy.Symbol(name, real=True)``. Pass a dict as ``symbols`` to choose
    the symbols ({variable node: symbol}); variables missing from it are added to it, so it also
    tells which symbol stands for which variable. Raises ``SympyConversionError`` for
    non-elementwise ops (``sum``, ``matmul``, indexing, ...) and constant arrays of mixed values.
    """
    import sympy as sp

    if not isinstance(node, Node):
        raise SympyConversionError(f"to_sympy takes a symdiff node, got {type(node).__name__}")
    symbols = {} if symbols is None else symbols
    used_names = {str(s) for s in symbols.values()}
    exprs: dict[Node, sp.Basic] = {}
    for n in toposort([node]):
        if isinstance(n, Variable):
            if n not in symbols:
                # a second variable with an existing name gets a distinct symbol of that name
                sym = sp.Dummy(n.name, real=True) if n.name in used_names else sp.Symbol(n.name, real=True)
                symbols[n] = sym
                used_names.add(n.name)
            exprs[n] = symbols[n]
        elif isinstance(n, Constant):
            v = n.value
            if v.size == 0 or not np.all(v == v.flat[0]):
                raise SympyConversionError(f"to_sympy: a constant array of shape {v.shape} with different entries is not elementwise")
            exprs[n] = _number(v.flat[0])
        else:
            exprs[n] = _op_to_sympy(n, [exprs[i] for i in n.inputs])
    return exprs[node]


def latex(node: Node, *, cse: bool = False) -> str:
    """LaTeX for a scalar or elementwise graph, written by SymPy's LaTeX printer.

    ``cse=True`` binds common subexpressions to temporaries ``t_0, t_1, ...`` and returns an
    ``aligned`` block, which keeps higher derivatives readable.
    """
    import sympy as sp

    expr = to_sympy(node)
    if not cse:
        return sp.latex(expr)
    temps, (reduced,) = sp.cse(expr, symbols=sp.numbered_symbols("t", real=True))
    if not temps:
        return sp.latex(reduced)
    rows = [f"{sp.latex(t)} &= {sp.latex(e)}" for t, e in temps]
    rows.append(f"f &= {sp.latex(reduced)}")
    return "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"


# ---------------------------------------------------------------------------------------------
# SymPy -> symdiff
# ---------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _from_sympy_tables() -> tuple[dict, dict]:
    """symdiff ops for SymPy functions and relations."""
    import sympy as sp

    functions = {
        sp.exp: ops.exp, sp.log: ops.log, sp.sin: ops.sin, sp.cos: ops.cos, sp.tan: ops.tan,
        sp.tanh: ops.tanh, sp.Abs: ops.abs, sp.sign: ops.sign,
    }
    relations = {
        sp.StrictGreaterThan: ops.greater, sp.GreaterThan: ops.greater_equal,
        sp.StrictLessThan: ops.less, sp.LessThan: ops.less_equal, sp.Equality: ops.equal,
        sp.Unequality: ops.not_equal,
    }
    return functions, relations


_fallback_ops: dict = {}


def _fallback(expr: "sp.Expr", arity: int, make_expr) -> ElementwiseFunction:
    """A custom elementwise op (cached) for SymPy constructs symdiff has no op for."""
    import sympy as sp

    args = tuple(sp.Symbol(f"x{i}", real=True) for i in range(arity))
    body = make_expr(args)
    key = sp.srepr(body)
    if key not in _fallback_ops:
        name = type(expr).__name__.lower()
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
            name = "sympy_function"
        taken = {f.name for f in _fallback_ops.values()}
        base, k = name, 1
        while name in taken:  # different formulas get different names in printouts
            k += 1
            name = f"{base}_{k}"
        try:
            _fallback_ops[key] = elementwise(name, lambda *a: body.xreplace(dict(zip(args, a))), nin=arity)
        except CustomOpError as exc:
            raise SympyConversionError(f"from_sympy: no symdiff counterpart for {expr}: {exc}") from None
    return _fallback_ops[key]


def _is_plain_condition(cond) -> bool:
    import sympy as sp

    return cond == sp.true or type(cond) in _from_sympy_tables()[1]


def _children(expr) -> tuple:
    """The subexpressions converted before ``expr`` (none where ``expr`` is converted as a whole)."""
    import sympy as sp

    if isinstance(expr, sp.Piecewise):
        if all(_is_plain_condition(c) for _, c in expr.args) and expr.args[-1][1] == sp.true:
            kids = []
            for value, cond in expr.args[:-1]:
                kids += [value, cond]
            return tuple(kids) + (expr.args[-1][0],)
        return tuple(sorted(expr.free_symbols, key=str))
    if expr.is_Symbol or (expr.is_number and not expr.free_symbols):
        return ()
    return expr.args


def _constant(expr) -> Node:
    import sympy as sp

    if expr == sp.true or expr == sp.false:
        return ops.greater(1.0, 0.0) if expr == sp.true else ops.greater(0.0, 1.0)
    from .custom import real_value

    value = real_value(expr)
    if value is None:
        raise SympyConversionError(f"from_sympy: {expr} is not a real number")
    return as_node(value)


def _is_reciprocal(n: Node) -> bool:
    """``1 / d`` as this module builds it for negative powers."""
    return type(n.op).__name__ == "Div" and isinstance(n.inputs[0], Constant) and n.inputs[0].value.ndim == 0 \
        and float(n.inputs[0].value) == 1.0


def _convert(expr, kids: list[Node], lookup) -> Node:
    import sympy as sp

    _FUNCTIONS, _RELATIONS = _from_sympy_tables()
    if expr.is_Symbol:
        return lookup(expr)
    if expr.is_number and not expr.free_symbols:
        return _constant(expr)
    if isinstance(expr, sp.Add):
        pos = [k for k in kids if type(k.op).__name__ != "Neg"]
        neg = [k.inputs[0] for k in kids if type(k.op).__name__ == "Neg"]
        total = pos[0] if pos else -neg.pop(0)
        for k in pos[1:]:
            total = total + k
        for k in neg:
            total = total - k
        return total
    if isinstance(expr, sp.Mul):
        sign, factors = 1.0, list(zip(expr.args, kids))
        if factors and factors[0][0].is_Number:
            c = float(factors[0][0])
            factors = factors[1:]
            if c < 0:
                sign, c = -1.0, -c
            if c != 1.0:
                factors.insert(0, (None, as_node(c)))
        num = [k for _, k in factors if not _is_reciprocal(k)]
        den = [k.inputs[1] for _, k in factors if _is_reciprocal(k)]
        total = num[0] if num else as_node(1.0)
        for k in num[1:]:
            total = total * k
        for k in den:
            total = total / k
        return -total if sign < 0 else total
    if isinstance(expr, sp.Pow):
        base, e = kids
        ev = expr.exp
        if ev.is_Number:
            v = float(ev)
            if v == 0.5:
                return ops.sqrt(base)
            if v == -0.5:
                return 1.0 / ops.sqrt(base)
            if v == -1.0:
                return 1.0 / base
            if v < 0:
                return 1.0 / ops.power(base, -v)
        return ops.power(base, e)
    if type(expr) in _RELATIONS:
        return _RELATIONS[type(expr)](kids[0], kids[1])
    if isinstance(expr, sp.Piecewise):
        pairs = expr.args
        if all(_is_plain_condition(c) for _, c in pairs) and pairs[-1][1] == sp.true:
            result = kids[-1]
            it = iter(kids[:-1])
            conds = list(zip(it, it))  # (value, condition) node pairs, in order
            for value, cond in reversed(conds):
                result = ops.where(cond, value, result)
            return result
        syms = sorted(expr.free_symbols, key=str)
        f = _fallback(expr, len(syms), lambda a: expr.xreplace(dict(zip(syms, a))))
        return f(*kids)
    if isinstance(expr, (sp.Max, sp.Min)):
        fold = ops.maximum if isinstance(expr, sp.Max) else ops.minimum
        total = kids[0]
        for k in kids[1:]:
            total = fold(total, k)
        return total
    if isinstance(expr, sp.Function) and type(expr) in _FUNCTIONS and len(kids) == 1:
        return _FUNCTIONS[type(expr)](kids[0])
    if isinstance(expr, sp.Function):
        f = _fallback(expr, len(kids), lambda a: expr.func(*a))
        return f(*kids)
    raise SympyConversionError(f"from_sympy: cannot convert {type(expr).__name__} {expr}")


def from_sympy(expr, symbols: Mapping) -> Node:
    """A symdiff graph for a SymPy expression.

    ``symbols`` maps each free symbol of ``expr`` (a ``sympy.Symbol``, or its name as a string)
    to a node (or a number). Functions symdiff has no op for become custom elementwise ops, so
    the graph can be differentiated and compiled like any other.
    """
    import sympy as sp

    if isinstance(expr, (int, float)):
        expr = sp.Float(expr)
    if not isinstance(expr, sp.Basic):
        raise SympyConversionError(f"from_sympy takes a SymPy expression, got {type(expr).__name__}")
    by_symbol, by_name = {}, {}
    for k, v in symbols.items():
        node = as_node(v)
        if isinstance(k, str):
            by_name[k] = node
        elif isinstance(k, sp.Symbol):
            by_symbol[k] = node
        else:
            raise SympyConversionError(f"from_sympy: symbols must be keyed by SymPy symbols or names, got {k!r}")

    def lookup(sym):
        if sym in by_symbol:
            return by_symbol[sym]
        if sym.name in by_name:
            return by_name[sym.name]
        same = [n for s, n in by_symbol.items() if s.name == sym.name]
        if len(same) == 1:  # Symbol('x') for Symbol('x', real=True): same name, other assumptions
            return same[0]
        given = ", ".join(sorted({str(s) for s in by_symbol} | set(by_name))) or "none"
        raise SympyConversionError(f"from_sympy: no node given for the symbol {sym} (given: {given})")

    done: dict = {}
    stack = [(expr, False)]
    while stack:
        e, expanded = stack.pop()
        if e in done:
            continue
        kids = _children(e)
        if not expanded:
            stack.append((e, True))
            stack.extend((k, False) for k in reversed(kids) if k not in done)
            continue
        done[e] = _convert(e, [done[k] for k in kids], lookup)
    return done[expr]
