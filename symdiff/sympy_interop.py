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
import itertools
import re
from collections import Counter
from typing import TYPE_CHECKING, Mapping

import numpy as np

from .custom import CustomOpError, ElementwiseFunction, elementwise
from .errors import SymdiffError
from .graph import Constant, Node, Variable, as_node, toposort
from . import ops

if TYPE_CHECKING:
    import sympy as sp

__all__ = ["SympyConversionError", "from_sympy", "latex", "latex_text", "to_sympy"]


class SympyConversionError(SymdiffError, ValueError):
    """A graph or an expression that has no counterpart on the other side."""


# ---------------------------------------------------------------------------------------------
# symdiff -> SymPy
# ---------------------------------------------------------------------------------------------
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

    op = node.op
    kind = type(op).__name__
    if hasattr(op, "sympy_expr"):  # custom elementwise op
        return op.sympy_expr.xreplace(dict(zip(op.sympy_args, args)))
    declared = op.to_sympy(args) if hasattr(op, "to_sympy") else None  # the op's own SymPy form
    if declared is not None:
        return declared
    raise SympyConversionError(
        f"to_sympy handles scalar and elementwise graphs; {op.name} (shape {node.shape}) is not elementwise"
    )


# Budgets: SymPy's time grows quickly with the size of what it is given.
MAX_NODES = 100_000   # default limit on the graph nodes of to_sympy / latex (``max_nodes=``)
EVALUATE_DEPTH = 40   # deeper graphs are converted with evaluate=False (SymPy's automatic
                      # simplification queries assumptions recursively, down the whole expression)
EXPAND_LIMIT = 500    # latex prints one expression up to this many operations (counted as a tree),
                      # and binds temporaries beyond
INLINE_LIMIT = 12     # with temporaries, one row holds at most about this many operations


def _check_budget(fn: str, n_nodes: int, max_nodes: int | None) -> None:
    if max_nodes is not None and n_nodes > max_nodes:
        raise SympyConversionError(
            f"{fn}: the graph has {n_nodes} nodes, over the limit of max_nodes={max_nodes}; pass "
            f"max_nodes={n_nodes} (or None) to convert it anyway, or print it with sd.pretty, which is linear"
        )


def _depths(order: list[Node]) -> dict[Node, int]:
    """The longest path from a leaf to each node (iterative, over a topological order)."""
    depth: dict[Node, int] = {}
    for n in order:
        depth[n] = 1 + max((depth[i] for i in n.inputs), default=-1)
    return depth


def _variable_symbol(n: Variable, used_names: set) -> "sp.Symbol":
    import sympy as sp

    # a second variable with an existing name gets a distinct symbol of that name
    sym = sp.Dummy(n.name, real=True) if n.name in used_names else sp.Symbol(n.name, real=True)
    used_names.add(n.name)
    return sym


def _leaf_to_sympy(n: Node, symbols: dict, used_names: set) -> "sp.Basic":
    if isinstance(n, Variable):
        if n not in symbols:
            symbols[n] = _variable_symbol(n, used_names)
        return symbols[n]
    v = n.value
    if v.size == 0 or not np.all(v == v.flat[0]):
        raise SympyConversionError(f"to_sympy: a constant array of shape {v.shape} with different entries is not elementwise")
    return _number(v.flat[0])


def to_sympy(node: Node, symbols: dict | None = None, *, max_nodes: int | None = MAX_NODES) -> "sp.Expr":
    """The SymPy expression of a scalar or elementwise graph.

    Each variable becomes ``sympy.Symbol(name, real=True)``. Pass a dict as ``symbols`` to choose
    the symbols ({variable node: symbol}); variables missing from it are added to it, so it also
    tells which symbol stands for which variable. Raises ``SympyConversionError`` for
    non-elementwise ops (``sum``, ``matmul``, indexing, ...), constant arrays of mixed values, and
    graphs of more than ``max_nodes`` nodes (None: no limit). Graphs deeper than ``EVALUATE_DEPTH``
    operations are built with ``sympy.evaluate(False)`` (SymPy's automatic simplification would
    recurse down the whole expression at every step); the walk itself never recurses.
    """
    import contextlib

    import sympy as sp

    if not isinstance(node, Node):
        raise SympyConversionError(f"to_sympy takes a symdiff node, got {type(node).__name__}")
    symbols = {} if symbols is None else symbols
    used_names = {str(s) for s in symbols.values()}
    order = toposort([node])
    _check_budget("to_sympy", len(order), max_nodes)
    deep = _depths(order)[node] > EVALUATE_DEPTH
    exprs: dict[Node, sp.Basic] = {}
    with sp.evaluate(False) if deep else contextlib.nullcontext():
        for n in order:
            if n.op is None:
                exprs[n] = _leaf_to_sympy(n, symbols, used_names)
            else:
                exprs[n] = _op_to_sympy(n, [exprs[i] for i in n.inputs])
            hash(exprs[n])  # hashes are cached per expression: computed here, level by level, never deep
    return exprs[node]


# ---------------------------------------------------------------------------------------------
# LaTeX
# ---------------------------------------------------------------------------------------------
_PLAIN_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")  # SymPy typesets these with letters, digits,
                                                     # _{} ^{} and Greek-letter macros only
_TEX_TEXT = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#",
             "^": r"\^{}", "_": r"\_", "%": r"\%", "~": r"\~{}"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def latex_text(text: str) -> str:
    r"""``text`` typeset literally in math mode: ``\text{...}`` with every LaTeX special character
    escaped and control characters dropped, so a name such as ``\input{x}`` is printed, never run."""
    cleaned = _CONTROL.sub(" ", str(text))
    return r"\text{" + "".join(_TEX_TEXT.get(c, c) for c in cleaned) + "}"


def _safe_symbol_names(symbols) -> dict:
    """``symbol_names`` for SymPy's printer: names that are not plain identifiers become escaped text."""
    return {s: latex_text(s.name) for s in symbols if not _PLAIN_NAME.match(s.name)}


def latex(node, *, cse: bool = False, max_nodes: int | None = MAX_NODES) -> str:
    r"""LaTeX for a scalar or elementwise graph, written by SymPy's LaTeX printer.

    Variable names are escaped (``\text{...}``) unless they are plain identifiers, so a name can
    never inject LaTeX commands. Small graphs print as one expression; ``cse=True`` binds common
    subexpressions to temporaries ``t_{0}, t_{1}, ...`` and returns an ``aligned`` block, which keeps
    higher derivatives readable. Larger graphs (more than ``EXPAND_LIMIT`` operations written out,
    or deeper than ``EVALUATE_DEPTH``) always print with temporaries for the graph's shared and
    long subexpressions, one row per temporary, so the text and the time grow with the graph, not
    with its expansion. ``node`` may also be a dict ``{name: node}``: one block, a row per output.
    Graphs of more than ``max_nodes`` nodes (None: no limit) raise ``SympyConversionError``.
    """
    if isinstance(node, Mapping):
        pairs = [(latex_text(k), v) for k, v in node.items()]
        return "\n".join(latex_rows(pairs, cse=cse, max_nodes=max_nodes))
    if not isinstance(node, Node):
        raise SympyConversionError(f"latex takes a symdiff node or a dict of nodes, got {type(node).__name__}")
    return "\n".join(latex_rows([(None, node)], cse=cse, max_nodes=max_nodes))


def _tree_sizes(order: list[Node], cap: int) -> dict[Node, int]:
    """Operations in each node's expression written out as a tree (shared inputs counted at every
    use), capped at ``cap + 1`` so that the count stays cheap."""
    size: dict[Node, int] = {}
    for n in order:
        size[n] = 0 if n.op is None else min(cap + 1, 1 + sum(size[i] for i in n.inputs))
    return size


def latex_rows(pairs: list, *, cse: bool = False, max_nodes: int | None = MAX_NODES) -> list[str]:
    r"""LaTeX lines for ``[(label, node), ...]`` (labels are LaTeX; ``None`` for one bare output).

    Small graphs: one line ``label = expr`` per output (the bare expression for one unlabelled
    output). Otherwise one ``aligned`` block: the temporaries, then ``label &= expr`` per output."""
    import sympy as sp

    for _, n in pairs:
        if not isinstance(n, Node):
            raise SympyConversionError(f"latex takes symdiff nodes, got {type(n).__name__}")
    order = toposort([n for _, n in pairs])
    _check_budget("latex", len(order), max_nodes)
    depth = _depths(order)
    size = _tree_sizes(order, EXPAND_LIMIT)
    small = all(size[n] <= EXPAND_LIMIT and depth[n] <= EVALUATE_DEPTH for _, n in pairs)
    if not small:
        return [_latex_with_temporaries(pairs, order)]
    symbols: dict = {}
    exprs = [to_sympy(n, symbols, max_nodes=None) for _, n in pairs]
    names = _safe_symbol_names(symbols.values())
    if not cse:
        texts = [sp.latex(e, symbol_names=names) for e in exprs]
        if len(pairs) == 1 and pairs[0][0] is None:
            return texts
        return [f"{label} = {t}" for (label, _), t in zip(pairs, texts)]
    # SymPy's common subexpression elimination on the expanded expressions
    temp = _temporary_prefix(symbols.values())
    temps, reduced = sp.cse(exprs, symbols=(sp.Symbol(f"{temp}_{k}", real=True) for k in itertools.count()))
    if not temps and len(pairs) == 1 and pairs[0][0] is None:
        return [sp.latex(reduced[0], symbol_names=names)]
    rows = [f"{sp.latex(t)} &= {sp.latex(e, symbol_names=names)}" for t, e in temps]
    rows += [f"{label if label is not None else 'f'} &= {sp.latex(e, symbol_names=names)}"
             for (label, _), e in zip(pairs, reduced)]
    return ["\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"]


def _temporary_prefix(symbols) -> str:
    """A letter for temporaries that no variable's printed name starts with."""
    taken = {re.split(r"[_^0-9]", s.name, maxsplit=1)[0] for s in symbols}
    for letter in ("t", "u", "s", "w", "tau", "theta"):
        if letter not in taken:
            return letter
    return "tmp"


def _latex_with_temporaries(pairs: list, order: list[Node]) -> str:
    """The ``aligned`` block of ``latex_rows`` for large graphs, in one walk over the graph: a node
    used more than once, or whose written-out expression would exceed ``INLINE_LIMIT`` operations,
    becomes a temporary row; every row is a small SymPy expression over variables and temporaries."""
    import sympy as sp

    uses: Counter = Counter()
    for n in order:
        for i in dict.fromkeys(n.inputs):
            uses[i] += 1
    outputs = {n for _, n in pairs}
    symbols: dict = {}
    used_names: set = set()
    for n in order:
        if isinstance(n, Variable):
            symbols[n] = _variable_symbol(n, used_names)
    names = _safe_symbol_names(symbols.values())
    temp = _temporary_prefix(symbols.values())
    expr: dict[Node, sp.Basic] = {}
    ops: dict[Node, int] = {}   # operations in expr[n] (0 for a leaf or a temporary)
    rows: list[str] = []
    with sp.evaluate(False):  # rows as the graph has them: no simplification, whose cost grows with depth
        for n in order:
            if n.op is None:
                expr[n], ops[n] = _leaf_to_sympy(n, symbols, used_names), 0
                continue
            e = _op_to_sympy(n, [expr[i] for i in n.inputs])
            k = 1 + sum(ops[i] for i in n.inputs)
            if uses[n] > 1 or (uses[n] and n in outputs) or (uses[n] and k > INLINE_LIMIT):
                sym = sp.Symbol(f"{temp}_{len(rows) + 1}", real=True)
                rows.append(f"{sp.latex(sym)} &= {sp.latex(e, symbol_names=names)}")
                e, k = sym, 0
            expr[n], ops[n] = e, k
        for label, n in pairs:
            rows.append(f"{label if label is not None else 'f'} &= {sp.latex(expr[n], symbol_names=names)}")
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
