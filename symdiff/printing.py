"""Printers that let a person read a graph: ``dprint`` (a text tree), ``pretty`` (infix math with
temporaries), ``to_dot`` / ``render`` (Graphviz).

Every printer walks ``toposort(outputs)`` or an explicit stack, never recursing on the depth of
the graph, so a chain of 100,000 operations prints. Names chosen by users are only ever shown as
text: in DOT output they are escaped inside quoted labels.

The three printers accept the outputs in the same forms: one node, a list of nodes, or a dict
``{label: node}`` whose labels name the outputs in the printout.
"""
from __future__ import annotations

import builtins
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import IO, Mapping, Sequence, Union

import numpy as np

from .errors import SymdiffError
from .graph import Constant, Node, Variable, structural_key, toposort
from .types import format_shape

Nodes = Union[Node, Sequence[Node], Mapping[str, Node]]

__all__ = [
    "GraphvizNotFoundError", "dformat", "dprint", "format_constant", "node_label", "pretty", "render",
    "to_dot",
]


class GraphvizNotFoundError(SymdiffError, RuntimeError):
    """``render`` needs the Graphviz ``dot`` program and it is not installed."""


# ---------------------------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------------------------
def _roots(nodes: Nodes) -> list[tuple[str | None, Node]]:
    """Normalise the printers' argument into ``[(label or None, node), ...]``."""
    if isinstance(nodes, Node):
        return [(None, nodes)]
    if isinstance(nodes, Mapping):
        pairs = [(str(k), v) for k, v in nodes.items()]
    else:
        try:
            pairs = [(None, v) for v in nodes]
        except TypeError:
            raise SymdiffError(f"expected a node, a list of nodes or a dict of nodes, got {type(nodes).__name__}") from None
    for _, v in pairs:
        if not isinstance(v, Node):
            raise SymdiffError(f"expected symdiff nodes, got {type(v).__name__}")
    return pairs


def format_number(v) -> str:
    """Shortest text that reads back as the same float: ``2`` for 2.0, ``0.001``, ``1e-10``."""
    if isinstance(v, (bool, np.bool_)):
        return "True" if v else "False"
    f = float(v)
    if np.isnan(f):
        return "nan"
    if np.isinf(f):
        return "inf" if f > 0 else "-inf"
    if f.is_integer() and abs(f) < 1e16:
        return str(int(f))
    return repr(f)


def format_constant(c: Constant, max_entries: int = 6) -> str:
    """Compact text for a constant: ``0.5``, ``[1, 2, 3]``, ``full((3, 4), 0.5)`` or ``const(100, 30)``."""
    if c.name:
        return c.name
    v = c.value
    if v.ndim == 0:
        return format_number(v[()])
    if v.size and np.all(v == v.flat[0]):
        return f"full({format_shape(v.shape)}, {format_number(v.flat[0])})"
    if v.size <= max_entries:
        text = np.array2string(v, separator=", ", formatter={"all": format_number}, max_line_width=10**6)
        return " ".join(text.split())  # one line: rows of a matrix are joined by ", "
    return f"const{format_shape(v.shape)}"


def _format_param(v) -> str:
    if isinstance(v, (bool, np.bool_, float, np.floating)):
        return format_number(v)
    if isinstance(v, tuple):
        inner = ", ".join(_format_param(x) for x in v)
        return f"({inner},)" if len(v) == 1 else f"({inner})"
    if v is None:
        return "None"
    return str(v)


def _format_key(key: tuple) -> str:
    """``0, 1:3, ::-1, None`` for a normalised index key (trailing full slices dropped)."""
    parts = []
    for k in key:
        if k is None:
            parts.append("None")
        elif isinstance(k, tuple):
            _, start, stop, step = k
            s = ("" if start is None else str(start)) + ":" + ("" if stop is None else str(stop))
            if step is not None:
                s += f":{step}"
            parts.append(s)
        else:
            parts.append(str(k))
    while len(parts) > 1 and parts[-1] == ":":
        parts.pop()
    return ", ".join(parts)


def _visible_params(op) -> dict:
    hidden = getattr(op, "hidden_params", ())
    return {k: v for k, v in op.params.items() if k not in hidden}


def node_label(node: Node) -> str:
    """A short label for a node: a variable's name, a constant's value, or its op with the
    parameters that matter: ``add``, ``sum{axis=1}``, ``index[0, 1:3]``, ``size(n)``, ``softsign``."""
    if node.op is None:
        return _leaf_label(node)
    op = node.op
    kind = type(op).__name__
    if hasattr(op, "label"):  # ops that describe themselves (loops: which output, which body)
        return op.label(node)
    if kind == "Index":
        return f"index[{_format_key(op.key)}]"
    if kind == "IndexGrad":
        return f"index_grad[{_format_key(op.key)}]{{shape={format_shape(op.shape)}}}"
    if kind == "SizeOf":
        return f"size({', '.join(str(d) for d in op.shape)})"
    if kind == "Cast":
        return str(op.dtype)
    params = {}
    if kind in ("Sum", "Max", "Min", "LogSumExp"):
        if tuple(op.axis) != tuple(range(node.inputs[0].ndim)):
            params["axis"] = _axis_text(op.axis)
        if op.keepdims:
            params["keepdims"] = "True"
    elif kind in ("Softmax", "LogSoftmax", "ExpandDims", "Squeeze"):
        params["axis"] = _axis_text(op.axis)
    elif kind == "Transpose":
        if tuple(op.axes) != tuple(range(len(op.axes)))[::-1]:
            params["axes"] = _format_param(tuple(op.axes))
    elif kind in ("BroadcastTo", "Reshape"):
        params["shape"] = format_shape(op.shape)
    else:
        params = {k: _format_param(v) for k, v in _visible_params(op).items()}
    if not params:
        return op.name
    return f"{op.name}{{{', '.join(f'{k}={v}' for k, v in params.items())}}}"


def _axis_text(axis: tuple) -> str:
    return str(axis[0]) if len(axis) == 1 else _format_param(tuple(axis))


def _leaf_label(node: Node) -> str:
    if isinstance(node, Constant):
        return format_constant(node)
    return node.name or f"input#{node.id}"


_CONTROL_OR_NEWLINE = re.compile(r"[\x00-\x1f\x7f]")


def _one_line(text: str) -> str:
    """Text printers show a name with control characters quoted (``'x\\ny'``): it never breaks or forges lines."""
    return ascii(text) if _CONTROL_OR_NEWLINE.search(text) else text


def _short_ids():
    """A, B, ..., Z, AA, AB, ... (PyTensor's style of debugprint ids)."""
    n = 0
    while True:
        k, s = n, ""
        while True:
            s = chr(ord("A") + k % 26) + s
            k = k // 26 - 1
            if k < 0:
                break
        yield s
        n += 1


# ---------------------------------------------------------------------------------------------
# dprint: a text tree
# ---------------------------------------------------------------------------------------------
_TREE = {"tee": "├─ ", "last": "└─ ", "bar": "│  ", "gap": "   "}
_TREE_ASCII = {"tee": "|- ", "last": "`- ", "bar": "|  ", "gap": "   "}


def dformat(nodes: Nodes, shapes: bool = False, *, max_depth: int = 40, ascii: bool = False) -> str:
    """The text tree that ``dprint`` prints (see ``dprint``)."""
    roots = _roots(nodes)
    if max_depth < 1:
        raise SymdiffError("dprint: max_depth must be at least 1")
    glyph = _TREE_ASCII if ascii else _TREE
    order = toposort([n for _, n in roots])
    in_graph = set(order)
    dup_names = {name for name, k in Counter(
        n.name for n in order if isinstance(n, Variable)).items() if k > 1}
    ids: dict[Node, str] = {}
    fresh = _short_ids()

    def ident(n: Node) -> str:
        if n not in ids:
            ids[n] = next(fresh)
        return ids[n]

    def needs_id(n: Node) -> bool:
        return n.op is not None or (isinstance(n, Variable) and n.name in dup_names)

    def describe(n: Node) -> str:
        text = _one_line(node_label(n))
        if n.op is not None and n.name:
            text += f" {n.name!r}"
        if needs_id(n):
            text += f" [id {ident(n)}]"
        if shapes:
            text += f" : {format_shape(n.shape)} {n.dtype}"
        if n.role == "grad" and not isinstance(n, Constant):
            if n.grad_of is None:
                text += " (grad)"
            else:
                g = n.grad_of
                if g not in in_graph:
                    what = f"{_leaf_label(g) if g.op is None else g.op.name}, not shown"
                elif needs_id(g):
                    what = f"[id {ident(g)}] {_leaf_label(g) if g.op is None else g.op.name}"
                else:
                    what = _leaf_label(g)
                text += f" (grad wrt {what})"
        return text

    done: set[Node] = set()       # printed with its inputs
    deferred: set[Node] = set()   # too deep here: printed in a section of its own further down
    lines: list[str] = []
    queue: list[tuple[str | None, Node, bool]] = [(label, n, False) for label, n in roots]
    qi = 0
    while qi < len(queue):
        label, root, is_section = queue[qi]
        qi += 1
        if is_section and root in done:
            continue  # a deferred subtree that a later output printed already
        if lines:
            lines.append("")
        # stack entries: (node, prefix of its line, prefix of its inputs' lines, depth, output label)
        stack = [(root, "", "", 0, label)]
        while stack:
            node, prefix, child_prefix, depth, name = stack.pop()
            text = describe(node)
            if name is not None:
                text = f"{name} = {text}"
            if node.op is None:
                lines.append(prefix + text)
                continue
            if node in done:
                lines.append(prefix + text + " ^ (shown above)")
                continue
            if node in deferred and depth > 0:
                lines.append(prefix + text + " v (shown below)")
                continue
            if depth >= max_depth and node.inputs:
                deferred.add(node)
                queue.append((None, node, True))
                lines.append(prefix + text + " v (continued below)")
                continue
            done.add(node)
            lines.append(prefix + text)
            kids = node.inputs
            for i in range(len(kids) - 1, -1, -1):
                last = i == len(kids) - 1
                stack.append((
                    kids[i],
                    child_prefix + (glyph["last"] if last else glyph["tee"]),
                    child_prefix + (glyph["gap"] if last else glyph["bar"]),
                    depth + 1,
                    None,
                ))
    for title, body in _bodies(order):  # each loop body once, after the graph that uses it
        lines.append("")
        lines.append(title)
        text = dformat(dict(_body_outputs(body)), shapes, max_depth=max_depth, ascii=ascii)
        lines.extend("    " + line for line in text.split("\n"))
    return "\n".join(lines)


def _bodies(order: list[Node]) -> list[tuple[str, object]]:
    """The loop bodies used by the nodes of ``order`` (not those nested in them: their own
    printout lists those), each once, with a title naming its placeholders."""
    found: list = []
    seen: set[int] = set()
    for n in order:
        for what, body in (n.op.subgraphs() if n.op is not None and hasattr(n.op, "subgraphs") else ()):
            if id(body) not in seen:
                seen.add(id(body))
                found.append((what, body))
    out = []
    for what, body in found:
        parts = [f"{label} {', '.join(v.name for v in vs)}" for label, vs in (
            ("carry", body.carries), ("slices", body.slices), ("params", body.params),
            ("index", [body.index] if body.index is not None else [])) if vs]
        out.append((f"{what} {body_name(body)}({'; '.join(parts)}):", body))
    return out


def _body_outputs(body) -> list[tuple[str, Node]]:
    nc = body.n_carry
    names = [f"carry {j}" for j in range(nc)] + [f"y {j}" for j in range(len(body.outputs) - nc)]
    if body.kind == "while":
        names[-1] = "condition"
    return list(zip(names, body.outputs))


_body_names: "weakref.WeakKeyDictionary" = None  # type: ignore[assignment]


def body_name(body) -> str:
    """A stable short name for a loop body in printouts: ``L1``, ``L2``, ... in order of first print."""
    global _body_names
    if _body_names is None:
        import weakref

        _body_names = weakref.WeakKeyDictionary()
    if body not in _body_names:
        _body_names[body] = f"L{len(_body_names) + 1}"
    return _body_names[body]


def dprint(nodes: Nodes, shapes: bool = False, file: IO[str] | None = None, *, print: bool = True,
           max_depth: int = 40, ascii: bool = False) -> str:
    """Print the graph of ``nodes`` as a text tree and return the text.

    Each operation is shown once with an id (``[id B]``); later uses of it print the id and
    ``^ (shown above)`` instead of repeating the subtree, as PyTensor's ``debugprint`` does.
    ``shapes=True`` adds ``: (n, 30) float64`` to every line. Gradient nodes (built by
    ``grad``/``build_grad``) are marked ``(grad)``, and the node holding the gradient with respect
    to ``V`` says ``(grad wrt V)``. Subtrees deeper than ``max_depth`` continue in a section of
    their own, so deep chains stay readable and linear in size.

    The text goes to ``file`` (standard output when ``None``); ``print=False`` only returns it.
    ``ascii=True`` draws the tree with ASCII characters.
    """
    text = dformat(nodes, shapes, max_depth=max_depth, ascii=ascii)
    if print:
        builtins.print(text, file=file if file is not None else sys.stdout)
    return text


# ---------------------------------------------------------------------------------------------
# pretty: infix math with temporaries
# ---------------------------------------------------------------------------------------------
ATOM, POSTFIX, POW, UNARY, MUL, ADD, CMP = 100, 90, 80, 70, 60, 50, 40

_BINARY = {
    "Add": ("+", ADD), "Sub": ("-", ADD), "Mul": ("*", MUL), "Div": ("/", MUL),
    "Matmul": ("@", MUL), "Greater": (">", CMP), "GreaterEqual": (">=", CMP), "Less": ("<", CMP),
    "LessEqual": ("<=", CMP), "Equal": ("==", CMP), "NotEqual": ("!=", CMP),
}

Expr = tuple  # (text, precedence)


def _wrap(e: Expr, paren: bool) -> str:
    return f"({e[0]})" if paren else e[0]


def _binop(a: Expr, b: Expr, sym: str, prec: int) -> Expr:
    if prec == CMP:  # comparisons do not chain
        return f"{_wrap(a, a[1] <= prec)} {sym} {_wrap(b, b[1] <= prec)}", prec
    return f"{_wrap(a, a[1] < prec)} {sym} {_wrap(b, b[1] <= prec)}", prec


def _call(name: str, args: list[str], **kw) -> Expr:
    parts = list(args) + [f"{k}={v}" for k, v in kw.items()]
    return f"{name}({', '.join(parts)})", ATOM


def _render(node: Node, args: list[Expr]) -> Expr:
    """The infix expression of an op node over its (already rendered) inputs."""
    op = node.op
    kind = type(op).__name__
    texts = [a[0] for a in args]
    if kind in _BINARY:
        sym, prec = _BINARY[kind]
        return _binop(args[0], args[1], sym, prec)
    if kind == "Pow":
        a, b = args
        return f"{_wrap(a, a[1] <= POW)}**{_wrap(b, b[1] < POW)}", POW
    if kind == "Neg":
        return f"-{_wrap(args[0], args[0][1] <= UNARY)}", UNARY
    if kind == "Transpose":
        if tuple(op.axes) == tuple(range(len(op.axes)))[::-1]:
            return f"{_wrap(args[0], args[0][1] < POSTFIX)}.T", POSTFIX
        return _call("transpose", [texts[0], _format_param(tuple(op.axes))])
    if kind == "Index":
        return f"{_wrap(args[0], args[0][1] < POSTFIX)}[{_format_key(op.key)}]", POSTFIX
    if kind == "IndexGrad":
        return _call("index_grad", [texts[0], f"[{_format_key(op.key)}]"], shape=format_shape(op.shape))
    if kind in ("Sum", "Max", "Min", "LogSumExp"):
        kw = {}
        if tuple(op.axis) != tuple(range(node.inputs[0].ndim)):
            kw["axis"] = _axis_text(op.axis)
        if op.keepdims:
            kw["keepdims"] = "True"
        return _call(op.name, texts, **kw)
    if kind in ("Softmax", "LogSoftmax"):
        return _call(op.name, texts, axis=_axis_text(op.axis))
    if kind == "SizeOf":
        return _call("size", [str(d) for d in op.shape])
    if kind == "BroadcastTo":
        src = node.inputs[0]
        shape = format_shape(op.shape)
        if isinstance(src, Constant) and src.ndim == 0 and not src.name:
            v = float(src.value)
            if v == 0:
                return _call("zeros", [shape])
            if v == 1:
                return _call("ones", [shape])
            return _call("full", [shape, format_number(v)])
        return _call("broadcast_to", [texts[0], shape])
    if kind == "Reshape":
        return _call("reshape", [texts[0], format_shape(op.shape)])
    if kind in ("ExpandDims", "Squeeze"):
        return _call(op.name, texts, axis=_axis_text(op.axis))
    if kind == "Concatenate":
        return _call("concatenate", [f"[{', '.join(texts)}]"], axis=str(op.axis))
    if kind == "Cast":
        return _call(str(op.dtype), texts)
    if kind == "Clip":
        return _call("clip", texts + [format_number(op.lo), format_number(op.hi)])
    if hasattr(op, "label"):
        return _call(op.label(node), texts)
    params = _visible_params(op)
    return _call(op.name, texts, **{k: _format_param(v) for k, v in params.items()})


def _representatives(order: list[Node]) -> dict[Node, Node]:
    """Map each node to a representative: nodes computing the same op of the same inputs (and
    equal small constants) share one, so a formula built twice prints once."""
    rep: dict[Node, Node] = {}
    table: dict = {}
    for n in order:
        key = None if (isinstance(n, Constant) and n.name) else structural_key(n, rep)
        try:
            rep[n] = n if key is None else table.setdefault(key, n)
        except TypeError:  # an op with unhashable parameters is never merged
            rep[n] = n
    return rep


def pretty(nodes: Nodes, *, width: int = 72, shapes: bool = False, merge: bool = True) -> str:
    """The graph of ``nodes`` as infix math, the way a person writes it by hand.

    Operations used more than once, and subexpressions longer than ``width`` characters, are bound
    to temporaries ``t1 = ...`` printed first; the last line is the output expression (one line
    ``name = expr`` per output when several are given, or a dict of labels). Nodes computing the
    same op of the same inputs print as one (``merge=False`` prints the graph exactly as built).
    ``shapes=True`` lists the inputs' shapes and adds each temporary's shape as a comment.
    ``str(node)`` is ``pretty(node)``.
    """
    roots = _roots(nodes)
    order = toposort([n for _, n in roots])
    rep = _representatives(order) if merge else {n: n for n in order}
    roots = [(label, rep[n]) for label, n in roots]
    outputs = [n for _, n in roots]
    order = [n for n in order if rep[n] is n]
    uses: Counter = Counter()
    for n in order:
        for i in n.inputs:
            uses[rep[i]] += 1
    as_output = Counter(outputs)
    names = {n.name for n in order if n.name}
    prefix = "t"
    while any(re.fullmatch(re.escape(prefix) + r"\d+", name) for name in names):
        prefix += "_"
    taken = {n.name for n in order if n.op is None and n.name}  # leaves print as their names
    counter = 0
    exprs: dict[Node, Expr] = {}
    bound: dict[Node, str] = {}
    lines: list[str] = []
    if shapes:
        for v in order:
            if isinstance(v, Variable):
                lines.append(f"# {v.name}: {format_shape(v.shape)} {v.dtype}")
    for n in order:
        if n.op is None:
            text = _one_line(_leaf_label(n))
            neg = isinstance(n, Constant) and text.startswith("-")
            exprs[n] = (text, UNARY if neg else ATOM)
            continue
        e = _render(n, [exprs[rep[i]] for i in n.inputs])
        # bind nodes used by others (not those only printed as outputs, nor input-free ops)
        inner = uses[n] > 0 and bool(n.inputs)
        if inner and (uses[n] + as_output[n] > 1 or len(e[0]) > width or n.name):
            if n.name and n.name not in taken:
                name = n.name
            else:
                counter += 1
                name = f"{prefix}{counter}"
            taken.add(name)
            comments = []
            if shapes:
                comments.append(f"{format_shape(n.shape)} {n.dtype}")
            if n.grad_of is not None:
                g = rep.get(n.grad_of, n.grad_of)
                target = bound.get(g) or (g.name if isinstance(g, Variable) else None)
                if target:
                    comments.append(f"gradient wrt {target}")
            lines.append(f"{name} = {e[0]}" + (f"  # {'; '.join(comments)}" if comments else ""))
            bound[n] = name
            e = (name, ATOM)
        exprs[n] = e
    if len(roots) == 1 and roots[0][0] is None:
        lines.append(exprs[outputs[0]][0])
    else:
        for k, (label, n) in enumerate(roots):
            lines.append(f"{label if label is not None else f'out{k}'} = {exprs[n][0]}")
    for title, body in _bodies(order):  # each loop body once
        lines.append("")
        lines.append(title)
        text = pretty(dict(_body_outputs(body)), width=width, shapes=shapes, merge=merge)
        lines.extend("    " + line for line in text.split("\n"))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Graphviz
# ---------------------------------------------------------------------------------------------
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")


def dot_escape(text: str) -> str:
    """Escape ``text`` for a double-quoted DOT string: backslashes and quotes are escaped (so
    Graphviz escapes such as ``\\N`` stay literal), newlines become line breaks, other control
    characters are dropped."""
    text = _CONTROL.sub("", str(text)).replace("\\", "\\\\").replace('"', '\\"')
    return text.replace("\n", "\\n")


_STYLE = {
    "variable": 'shape=box, style="rounded,filled", fillcolor="#dbe9f6", color="#2f6690"',
    "constant": 'shape=plaintext, fontcolor="#555555"',
    "forward": 'shape=ellipse, style=filled, fillcolor="#ffffff", color="#333333"',
    "grad": 'shape=ellipse, style="filled,dashed", fillcolor="#fde2c8", color="#c2410c"',
}
_COMMUTATIVE = {"add", "mul", "maximum", "minimum", "equal", "not_equal"}


def to_dot(nodes: Nodes, *, shapes: bool = False, name: str = "symdiff") -> str:
    """Graphviz DOT source for the graph of ``nodes``.

    Variables are blue boxes, constants plain text, forward operations white ellipses and gradient
    operations dashed orange ellipses; a dotted orange edge goes from the node holding the gradient
    with respect to ``V`` to ``V``. Outputs have a double border (and their label when ``nodes`` is
    a dict). Edges into non-commutative operations are numbered by argument position.
    ``shapes=True`` adds shapes and dtypes to the labels. User names are escaped, never interpreted.
    """
    roots = _roots(nodes)
    order = toposort([n for _, n in roots])
    index = {n: k for k, n in enumerate(order)}
    out_labels: dict[Node, list[str]] = {}
    for label, n in roots:
        out_labels.setdefault(n, [])
        if label is not None:
            out_labels[n].append(label)
    lines = [
        f'digraph "{dot_escape(name)}" {{',
        "  rankdir=TB;",
        '  node [fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=9, color="#555555"];',
    ]
    extra: list[str] = []
    for n in order:
        k = index[n]
        if n.op is None:
            text = _leaf_label(n)
            style = _STYLE["variable" if isinstance(n, Variable) else "constant"]
        else:
            text = node_label(n)
            if n.name:
                text = f"{n.name} = {text}"
            style = _STYLE["grad" if n.role == "grad" else "forward"]
        if n.role == "grad" and n.grad_of is not None and n.grad_of not in index:
            g = n.grad_of
            text += f"\ngrad wrt {_leaf_label(g) if g.op is None else g.op.name}"
        if shapes:
            text += f"\n{format_shape(n.shape)} {n.dtype}"
        attrs = f'label="{dot_escape(text)}", {style}'
        if n in out_labels:
            attrs += ", peripheries=2"
            if out_labels[n]:
                attrs += f', xlabel="{dot_escape(", ".join(out_labels[n]))}"'
        lines.append(f"  n{k} [{attrs}];")
        numbered = n.op is not None and len(n.inputs) > 1 and n.op.name not in _COMMUTATIVE
        for pos, i in enumerate(n.inputs):
            lines.append(f"  n{index[i]} -> n{k}" + (f' [label="{pos}"]' if numbered else "") + ";")
        if n.grad_of is not None and n.grad_of in index:
            extra.append(
                f'  n{k} -> n{index[n.grad_of]} [style=dotted, color="#c2410c", constraint=false, '
                'arrowhead=empty, tooltip="gradient with respect to"];'
            )
    lines.extend(extra)
    lines.append("}")
    return "\n".join(lines) + "\n"


_FORMATS = {"svg", "png", "pdf", "ps", "eps", "jpg", "jpeg", "gif", "dot", "gv", "xdot", "json", "plain"}


def render(nodes: Nodes, path: str | os.PathLike, *, format: str | None = None, shapes: bool = False,
           timeout: float = 120.0) -> Path:
    """Draw the graph of ``nodes`` into ``path`` with Graphviz's ``dot`` program; return the path.

    The format comes from the extension (``grad.svg``, ``grad.png``, ``grad.pdf``, ...) unless
    ``format`` is given. Raises ``GraphvizNotFoundError`` when ``dot`` is not installed (Debian
    and Ubuntu: ``apt-get install graphviz``); ``to_dot`` gives the source without it.
    """
    path = Path(path)
    fmt = (format or path.suffix.lstrip(".")).lower()
    if fmt not in _FORMATS:
        raise SymdiffError(
            f"render: unknown output format {fmt!r} (from {path.name!r}); use one of {', '.join(sorted(_FORMATS))}"
        )
    source = to_dot(nodes, shapes=shapes)
    exe = shutil.which("dot")
    if exe is None:
        raise GraphvizNotFoundError(
            "render needs the Graphviz program 'dot', which was not found on PATH; install Graphviz "
            "(Debian/Ubuntu: apt-get install graphviz, macOS: brew install graphviz) or use "
            "sd.to_dot(...) to get the DOT source"
        )
    try:
        proc = subprocess.run([exe, f"-T{fmt}", "-o", str(path)], input=source.encode("utf-8"),
                              capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise SymdiffError(f"render: dot did not finish within {timeout} s") from None
    if proc.returncode != 0:
        raise SymdiffError(f"render: dot failed ({proc.returncode}): {proc.stderr.decode(errors='replace').strip()}")
    return path
