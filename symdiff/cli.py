"""The ``symdiff`` command-line tool: derive, print and evaluate derivatives of scalar formulas.

    symdiff grad "exp(sin(x**2))" --wrt x --order 4 --format text
    symdiff grad "x*y + sin(x)" --wrt x --wrt y --at x=0.7 --at y=2

Expressions are read by a safe parser: a whitelist over Python's ``ast`` (numbers, names,
``+ - * / **``, unary minus and calls of whitelisted symdiff functions). Nothing the user types is
ever evaluated as Python: no ``eval``, ``exec`` or ``sympify`` of the raw text.
"""
from __future__ import annotations

import argparse
import ast
import itertools
import math
import sys
from typing import Sequence

import symdiff as sd

from .errors import SymdiffError

__all__ = ["ExpressionError", "main", "parse_expression"]

MAX_LENGTH = 10_000
MAX_ORDER = 10
MAX_OUTPUTS = 100
MAX_NODES = 50_000  # default budget of graph nodes per derivative (--max-nodes)

# name -> (function, number of node arguments, min and max number of numeric parameters after them)
FUNCTIONS = {
    **{name: (getattr(sd, name), 1, 0, 0) for name in (
        "exp", "log", "log1p", "expm1", "sqrt", "sin", "cos", "tan", "tanh", "sigmoid", "softplus",
        "relu", "abs", "sign", "square", "hard_tanh",
    )},
    "maximum": (sd.maximum, 2, 0, 0),
    "minimum": (sd.minimum, 2, 0, 0),
    "leaky_relu": (sd.leaky_relu, 1, 0, 1),
    "elu": (sd.elu, 1, 0, 1),
    "clip": (sd.clip, 1, 2, 2),
}
CONSTANTS = {"pi": math.pi}

_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}

_REFUSED = {
    ast.Attribute: "attribute access (a.b)",
    ast.Subscript: "subscripts (a[i])",
    ast.Lambda: "lambda",
    ast.JoinedStr: "f-strings",
    ast.List: "lists", ast.Tuple: "tuples", ast.Dict: "dicts", ast.Set: "sets",
    ast.ListComp: "comprehensions", ast.SetComp: "comprehensions", ast.DictComp: "comprehensions",
    ast.GeneratorExp: "generator expressions",
    ast.Compare: "comparisons", ast.BoolOp: "and/or", ast.IfExp: "conditional expressions",
    ast.NamedExpr: "assignments (:=)", ast.Starred: "star arguments",
    ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield",
}


class ExpressionError(SymdiffError, ValueError):
    """The expression given on the command line is not one the safe parser accepts."""


def _where(node: ast.AST) -> str:
    col = getattr(node, "col_offset", None)
    return f" at column {col + 1}" if col is not None else ""


def _number(node: ast.AST) -> float | None:
    """The value of a numeric literal, possibly negated; ``None`` for anything else."""
    sign = 1.0
    while isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        sign = -sign if isinstance(node.op, ast.USub) else sign
        node = node.operand
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return sign * float(node.value)
    if isinstance(node, ast.Name) and node.id in CONSTANTS:
        return sign * CONSTANTS[node.id]
    return None


def _check(node: ast.AST) -> None:
    """Refuse every construct outside the whitelist, with a message naming it."""
    if isinstance(node, (ast.Expression, ast.Load, ast.operator, ast.unaryop)):
        return  # operators are checked where they are used, in BinOp and UnaryOp
    if isinstance(node, ast.BinOp):
        if type(node.op) not in _BINOPS:
            raise ExpressionError(f"the operator {type(node.op).__name__}{_where(node)} is not allowed; use + - * / **")
        return
    if isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, (ast.USub, ast.UAdd)):
            raise ExpressionError(f"the operator {type(node.op).__name__}{_where(node)} is not allowed")
        return
    if isinstance(node, ast.Constant):
        if isinstance(node.value, (str, bytes)):
            raise ExpressionError(f"strings{_where(node)} are not allowed; only real numbers")
        if type(node.value) not in (int, float):
            raise ExpressionError(f"the constant {node.value!r}{_where(node)} is not allowed; only real numbers")
        return
    if isinstance(node, ast.Name):
        if node.id in FUNCTIONS:
            raise ExpressionError(f"{node.id} is a function; call it as {node.id}(...)")
        if node.id.startswith("__"):
            raise ExpressionError(f"the name {node.id!r} is not allowed as a variable")
        return
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name):
            shown = ast.unparse(node.func)
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            raise ExpressionError(f"only the allowed functions can be called, by name; {shown!r}{_where(node)} "
                                  "is not one of them")
        name = node.func.id
        if name not in FUNCTIONS:
            raise ExpressionError(f"unknown function {name!r}{_where(node)}; allowed: {', '.join(sorted(FUNCTIONS))}")
        if node.keywords:
            raise ExpressionError(f"{name}: keyword arguments are not allowed; pass them by position")
        _, n_nodes, lo, hi = FUNCTIONS[name]
        if not n_nodes + lo <= len(node.args) <= n_nodes + hi:
            want = n_nodes + lo if lo == hi else f"{n_nodes + lo} to {n_nodes + hi}"
            raise ExpressionError(f"{name} takes {want} arguments, got {len(node.args)}")
        for a in node.args[n_nodes:]:
            if _number(a) is None:
                raise ExpressionError(f"{name}: its parameters after the first {n_nodes} must be numbers")
        return
    what = _REFUSED.get(type(node), type(node).__name__)
    raise ExpressionError(f"{what}{_where(node)} not allowed in an expression; use numbers, variable names, "
                          "+ - * / ** and the functions listed by --help")


def parse_expression(text: str) -> tuple[sd.Node, dict[str, sd.Variable]]:
    """Parse a formula into a symdiff graph; return it and its variables (scalars) by name.

    Only numbers, names, ``+ - * / **``, unary ``-`` and calls of the functions in
    ``FUNCTIONS`` are accepted; anything else raises ``ExpressionError``.
    """
    if not isinstance(text, str):
        raise ExpressionError("the expression must be a string")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"the expression is longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"invalid expression: {exc.msg}" + (f" at column {exc.offset}" if exc.offset else "")) from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise ExpressionError(f"invalid expression: {type(exc).__name__}: {exc}") from None
    called = set()
    for node in ast.walk(tree):  # ast.walk is iterative
        if isinstance(node, ast.Call):
            called.add(id(node.func))
        if id(node) not in called:  # a function's own name is checked with its call
            _check(node)

    variables: dict[str, sd.Variable] = {}
    done: dict[ast.AST, object] = {}
    stack: list[tuple[ast.AST, bool]] = [(tree.body, False)]
    while stack:
        node, expanded = stack.pop()
        if isinstance(node, ast.Call):
            kids = node.args[:FUNCTIONS[node.func.id][1]]
        elif isinstance(node, ast.BinOp):
            kids = [node.left, node.right]
        elif isinstance(node, ast.UnaryOp):
            kids = [node.operand]
        else:
            kids = []
        if not expanded:
            stack.append((node, True))
            stack.extend((k, False) for k in reversed(kids))
            continue
        args = [done[k] for k in kids]
        try:
            done[node] = _build(node, args, variables)
        except (OverflowError, ValueError, ZeroDivisionError) as exc:
            if isinstance(exc, SymdiffError):
                raise
            raise ExpressionError(f"cannot build the expression: {exc}") from None
    result = sd.as_node(done[tree.body])
    return result, variables


def _build(node: ast.AST, args: list, variables: dict):
    if isinstance(node, ast.Constant):
        return float(node.value)
    if isinstance(node, ast.Name):
        if node.id in CONSTANTS:
            return CONSTANTS[node.id]
        if node.id not in variables:
            variables[node.id] = sd.scalar(node.id)
        return variables[node.id]
    if isinstance(node, ast.UnaryOp):
        a = sd.as_node(args[0])
        return -a if isinstance(node.op, ast.USub) else a
    if isinstance(node, ast.BinOp):
        a, b = sd.as_node(args[0]), sd.as_node(args[1])
        op = _BINOPS[type(node.op)]
        return {"+": sd.add, "-": sd.sub, "*": sd.mul, "/": sd.div, "**": sd.power}[op](a, b)
    if isinstance(node, ast.Call):
        fn, n_nodes, _, _ = FUNCTIONS[node.func.id]
        params = [_number(a) for a in node.args[n_nodes:]]
        return fn(*[sd.as_node(a) for a in args], *params)
    raise ExpressionError(f"unexpected {type(node).__name__}")  # _check refused it already


# ---------------------------------------------------------------------------------------------
# The grad command
# ---------------------------------------------------------------------------------------------
def _label(counts: dict[str, int]) -> str:
    """``df/dx``, ``d^4f/dx^4``, ``d^2f/dx dy``."""
    order = sum(counts.values())
    top = "d" if order == 1 else f"d^{order}"
    parts = [f"d{v}" + (f"^{c}" if c > 1 else "") for v, c in counts.items() if c]
    return f"{top}f/{' '.join(parts)}"


def _latex_label(counts: dict[str, int]) -> str:
    order = sum(counts.values())
    top = "\\partial f" if order == 1 else f"\\partial^{{{order}}} f"
    parts = []
    for v, c in counts.items():
        sym = sd.latex(sd.scalar(v))
        parts.append(f"\\partial {sym}" + (f"^{{{c}}}" if c > 1 else ""))
    return f"\\frac{{{top}}}{{{' '.join(parts)}}}"


def _derivatives(f: sd.Node, wrt: list[sd.Variable], order: int,
                 max_nodes: int | None = MAX_NODES) -> list[tuple[dict[str, int], sd.Node]]:
    """Every partial derivative of ``order`` (one per multiset of ``wrt``), by repeated ``grad``.

    Higher derivatives can grow geometrically (the 10th derivative of tanh(tanh(tanh(tanh(x))))
    has 370,000 nodes): each derivative is checked against the budget of ``max_nodes`` graph
    nodes as it is built, so the work stays bounded; ``ExpressionError`` names the limit."""
    table: dict[tuple, sd.Node] = {(): f}
    result = []
    for combo in itertools.combinations_with_replacement(range(len(wrt)), order):
        for k in range(1, order + 1):
            if combo[:k] not in table:
                node = sd.grad(table[combo[:k - 1]], wrt[combo[k - 1]])
                size = len(sd.toposort([node]))
                if max_nodes is not None and size > max_nodes:
                    what = _label({wrt[i].name: combo[:k].count(i) for i in dict.fromkeys(combo[:k])})
                    raise ExpressionError(
                        f"the derivative {what} has {size} graph nodes, over the budget of {max_nodes} nodes "
                        f"per derivative; raise it with --max-nodes (higher derivatives grow quickly)")
                table[combo[:k]] = node
        counts = {v.name: 0 for v in wrt}
        for i in combo:
            counts[wrt[i].name] += 1
        result.append(({k: c for k, c in counts.items() if c}, table[combo]))
    return result


def _parse_at(items: list[str]) -> dict[str, float]:
    values: dict[str, float] = {}
    for item in items:
        for part in item.split(","):
            if not part.strip():
                continue
            name, sep, value = part.partition("=")
            name = name.strip()
            if not sep or not name.isidentifier():
                raise ExpressionError(f"--at expects name=value, got {part!r}")
            try:
                values[name] = float(value)  # float() reads a number, it evaluates nothing
            except ValueError:
                raise ExpressionError(f"--at {name}: {value.strip()!r} is not a number") from None
    return values


def _evaluate(outputs: list[sd.Node], variables: list[sd.Variable], values: dict[str, float]) -> list[float]:
    needed = [v for v in sd.toposort(outputs) if isinstance(v, sd.Variable)]
    missing = sorted(v.name for v in needed if v.name not in values)
    if missing:
        raise ExpressionError(f"--at gives no value for {', '.join(missing)}")
    if hasattr(sd, "function"):
        fn = sd.function(variables, outputs)
        results = fn(*[values.get(v.name, 0.0) for v in variables])
    else:
        results = sd.evaluate(outputs, {v: values[v.name] for v in needed})
    results = results if isinstance(results, (list, tuple)) else [results]
    return [float(r) for r in results]


def _cmd_grad(args: argparse.Namespace, out) -> int:
    f, variables = parse_expression(args.expression)
    if not 1 <= args.order <= MAX_ORDER:
        raise ExpressionError(f"--order must be between 1 and {MAX_ORDER}, got {args.order}")
    names = list(dict.fromkeys(args.wrt or []))
    if not names:
        if len(variables) != 1:
            found = ", ".join(variables) or "none"
            raise ExpressionError(f"say which variables to differentiate with --wrt (variables: {found})")
        names = list(variables)
    for name in names:
        if not name.isidentifier() or name in FUNCTIONS or name in CONSTANTS:
            raise ExpressionError(f"--wrt {name!r} is not a variable name")
        if name not in variables:
            variables[name] = sd.scalar(name)  # the expression does not depend on it: derivative 0
    n_out = math.comb(len(names) + args.order - 1, args.order)
    if n_out > MAX_OUTPUTS:
        raise ExpressionError(f"{n_out} partial derivatives asked for; at most {MAX_OUTPUTS}")
    at = _parse_at(args.at or [])
    unknown = sorted(set(at) - set(variables))
    if unknown:
        raise ExpressionError(f"--at names {', '.join(unknown)}, which the expression does not use "
                              f"(variables: {', '.join(variables)})")
    wrt = [variables[n] for n in names]
    if args.max_nodes < 1:
        raise ExpressionError(f"--max-nodes must be at least 1, got {args.max_nodes}")
    derivs = _derivatives(f, wrt, args.order, args.max_nodes)
    outputs = {_label(c): node for c, node in derivs}

    comment = "#"
    if args.format == "text":
        header = sd.pretty(f, width=10**9, merge=False).replace("\n", "\n# ")  # one line in practice
        text = f"# f = {header}\n{sd.pretty(outputs)}"
    elif args.format == "tree":
        text = sd.dformat(outputs)
    elif args.format == "latex":
        from .sympy_interop import latex_rows

        comment = "%"  # large derivatives print with temporaries, in one aligned block
        text = "\n".join(latex_rows([(_latex_label(c), node) for c, node in derivs], max_nodes=None))
    else:
        comment = "//"
        text = sd.to_dot(outputs).rstrip("\n")
    print(text, file=out)
    if at:
        values = _evaluate(list(outputs.values()), list(variables.values()), at)
        where = ", ".join(f"{k}={v!r}" for k, v in at.items())
        print(f"{comment} at {where}:", file=out)
        for label, v in zip(outputs, values):
            print(f"{comment} {label} = {v!r}", file=out)
    return 0


def _parser() -> argparse.ArgumentParser:
    functions = ", ".join(sorted(FUNCTIONS))
    parser = argparse.ArgumentParser(
        prog="symdiff",
        description="Derive, print and evaluate derivatives of scalar formulas with symdiff.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "examples:\n"
            '  symdiff grad "exp(sin(x**2))" --wrt x --order 4\n'
            '  symdiff grad "exp(sin(x**2))" --order 4 --at x=0.7\n'
            '  symdiff grad "x*y + sin(x)/y" --wrt x --wrt y --format latex\n'
            '  symdiff grad "tanh(w*x + b)" --wrt w --wrt b --format dot | dot -Tsvg -o grad.svg\n'
        ),
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    g = sub.add_parser(
        "grad",
        help="differentiate a formula and print the derivative graph",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Differentiate a formula of scalar variables and print the derivative graph.\n\n"
            "The formula is parsed safely (it is never run as Python): it may contain numbers,\n"
            "variable names, + - * / **, unary minus, the constant pi, and calls of\n"
            f"  {functions}\n"
            "(leaky_relu(x, alpha) and elu(x, alpha) take an optional number, clip(x, lo, hi) two).\n"
            "Every other name is a scalar variable. Anything else (attributes, subscripts, strings,\n"
            "lambdas, other functions) is refused with exit status 2."
        ),
        epilog=(
            "output formats:\n"
            "  text   infix math; shared subexpressions are bound to temporaries t1, t2, ...\n"
            "  tree   the graph as an indented tree (sd.dprint)\n"
            "  latex  LaTeX through SymPy (large derivatives with temporaries t_{1}, t_{2}, ...)\n"
            "  dot    Graphviz DOT source (pipe it to `dot -Tsvg`)\n"
            "With --at the derivatives are compiled and evaluated; the values follow the graph\n"
            "(as comments in the latex and dot formats)."
        ),
    )
    g.add_argument("expression", help='the formula, e.g. "exp(sin(x**2))"')
    g.add_argument("--wrt", action="append", metavar="VAR",
                   help="a variable to differentiate with respect to; repeat for several (default: the only variable)")
    g.add_argument("--order", type=int, default=1, help=f"order of the derivative, 1 to {MAX_ORDER} (default 1); "
                   "with several --wrt every mixed partial of that order is printed")
    g.add_argument("--format", choices=("text", "tree", "latex", "dot"), default="text",
                   help="how to print the derivative graph (default text)")
    g.add_argument("--at", action="append", metavar="VAR=VALUE",
                   help="evaluate at this point, e.g. --at x=0.7 (repeat, or x=0.7,y=2)")
    g.add_argument("--max-nodes", type=int, default=MAX_NODES, metavar="N",
                   help=f"budget of graph nodes per derivative (default {MAX_NODES}): higher derivatives can "
                   "grow geometrically, and a larger one is refused instead of running for minutes")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0, or 2 for a refused or invalid input)."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "grad":
            return _cmd_grad(args, sys.stdout)
    except SymdiffError as exc:
        print(f"symdiff: error: {exc}", file=sys.stderr)
        return 2
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
