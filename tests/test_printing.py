"""Printers: dprint (text tree), pretty / str (infix with temporaries), to_dot / render (Graphviz)."""
import ast
import io
import re
import shutil

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import symdiff as sd

HAS_DOT = shutil.which("dot") is not None


class _Float64Literals(ast.NodeTransformer):
    """Number literals become np.float64, so 1.0 / 0.0 is inf as in NumPy, not ZeroDivisionError."""

    def visit_Constant(self, node):
        if isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            return ast.Call(ast.Name("f64", ast.Load()), [node], [])
        return node


def _eval(expr: str, ns: dict):
    tree = ast.fix_missing_locations(_Float64Literals().visit(ast.parse(expr, mode="eval")))
    return eval(compile(tree, "<pretty>", "eval"), ns)


def run_pretty(text: str, env: dict) -> float:
    """Evaluate pretty's output (temporaries first, the expression last) as Python."""
    ns = {"exp": np.exp, "sin": np.sin, "cos": np.cos, "tanh": np.tanh, "f64": np.float64,
          "inf": np.inf, "nan": np.nan}
    ns.update({k: np.float64(v) for k, v in env.items()})
    lines = text.splitlines()
    with np.errstate(all="ignore"):
        for line in lines[:-1]:
            name, expr = line.split(" = ", 1)
            ns[name] = _eval(expr, ns)
        return float(_eval(lines[-1], ns))


# ---------------------------------------------------------------------------------------------
# pretty
# ---------------------------------------------------------------------------------------------
def test_pretty_binds_shared_subexpression_to_a_temporary():
    X = sd.matrix("X", "n", 4)
    W1, b1 = sd.matrix("W1", 4, 8), sd.vector("b1", 8)
    W2 = sd.vector("W2", 8)
    h = sd.tanh(X @ W1 + b1)
    out = sd.sum(h @ W2) + sd.sum(h * h)
    assert sd.pretty(out).splitlines() == [
        "t1 = tanh(X @ W1 + b1)",
        "sum(t1 @ W2) + sum(t1 * t1)",
    ]
    assert str(out) == sd.pretty(out)


@pytest.mark.parametrize("build, expected", [
    (lambda x, y: -x ** 2, "-x**2"),
    (lambda x, y: (-x) ** 2, "(-x)**2"),
    (lambda x, y: x ** -1.0, "x**(-1)"),
    (lambda x, y: 2 ** x ** 3, "2**x**3"),
    (lambda x, y: (2 ** x) ** 3, "(2**x)**3"),
    (lambda x, y: x - (y - 1), "x - (y - 1)"),
    (lambda x, y: (x - y) - 1, "x - y - 1"),
    (lambda x, y: x / (y * 2), "x / (y * 2)"),
    (lambda x, y: x * 2 / y, "x * 2 / y"),
    (lambda x, y: -(-x), "x"),                      # simplified when built
    (lambda x, y: -(x + y), "-(x + y)"),
    (lambda x, y: (x + y) * (x - y), "(x + y) * (x - y)"),
    (lambda x, y: sd.where(x > y, x, -1.0), "where(x > y, x, -1)"),
    (lambda x, y: sd.exp(x + y) ** 2, "exp(x + y)**2"),
    (lambda x, y: sd.leaky_relu(x, 0.2), "leaky_relu(x, alpha=0.2)"),
    (lambda x, y: sd.clip(x, -1, 1), "clip(x, -1, 1)"),
    (lambda x, y: sd.cast(x, "float32"), "float32(x)"),
    (lambda x, y: 1e-3 * x + 0.1, "0.001 * x + 0.1"),
])
def test_pretty_precedence_and_parentheses(build, expected):
    x, y = sd.scalar("x"), sd.scalar("y")
    assert sd.pretty(build(x, y)) == expected


def test_pretty_structure_ops():
    A = sd.matrix("A", 3, 4)
    v = sd.vector("v", "n")
    assert sd.pretty(A.T @ A) == "A.T @ A"
    assert sd.pretty((A + 1).T) == "(A + 1).T"
    assert sd.pretty(A[0, 1:3]) == "A[0, 1:3]"
    assert sd.pretty(A[:, None]) == "A[:, None]"
    assert sd.pretty(A[::-1]) == "A[::-1]"
    assert sd.pretty(A[1::2, ::-1]) == "A[1::2, ::-1]"
    assert sd.pretty(sd.sum(A, axis=1)) == "sum(A, axis=1)"
    assert sd.pretty(sd.sum(A)) == "sum(A)"
    assert sd.pretty(sd.max(A, axis=0, keepdims=True)) == "max(A, axis=0, keepdims=True)"
    assert sd.pretty(sd.softmax(A)) == "softmax(A, axis=1)"
    assert sd.pretty(A.reshape(12)) == "reshape(A, (12,))"
    assert sd.pretty(sd.transpose(sd.tensor("T", (2, 3, 4)), (0, 2, 1))) == "transpose(T, (0, 2, 1))"
    # named dims are shown where they matter: sizes and broadcasts
    assert sd.pretty(sd.mean(v)) == "sum(v) / size(n)"
    assert sd.pretty(sd.broadcast_to(sd.scalar("s"), (3, "n"))) == "broadcast_to(s, (3, n))"
    assert sd.pretty(sd.zeros((3, "n"))) == "zeros((3, n))"


def test_pretty_constants_are_compact():
    assert sd.pretty(sd.constant(2.0)) == "2"
    assert sd.pretty(sd.constant([1.0, 2.5, 3.0])) == "[1, 2.5, 3]"
    assert sd.pretty(sd.constant([[2.0, 0.0], [0.0, 1.0]])) == "[[2, 0], [0, 1]]"
    assert sd.pretty(sd.constant(np.full((2, 3), 0.5))) == "full((2, 3), 0.5)"
    assert sd.pretty(sd.constant(np.arange(100.0).reshape(10, 10))) == "const(10, 10)"
    assert sd.pretty(sd.constant(1e-10) * sd.scalar("x")) == "1e-10 * x"


def test_pretty_temporary_names_avoid_variable_names():
    t1 = sd.scalar("t1")
    s = sd.sin(t1)
    text = sd.pretty(s * s)
    assert text.splitlines() == ["t_1 = sin(t1)", "t_1 * t_1"]


def test_pretty_binds_named_intermediates_by_their_name():
    x = sd.scalar("x")
    h = sd.sin(x)
    h.name = "h"
    assert sd.pretty(sd.cos(h) + 1).splitlines() == ["h = sin(x)", "cos(h) + 1"]
    h.name = "x"  # a name that would be ambiguous gets a temporary instead
    assert sd.pretty(sd.cos(h) + 1).splitlines() == ["t1 = sin(x)", "cos(t1) + 1"]


def test_pretty_several_outputs_and_labels():
    x = sd.scalar("x")
    s = sd.sin(x)
    assert sd.pretty([s, s * 2]).splitlines() == ["t1 = sin(x)", "out0 = t1", "out1 = t1 * 2"]
    assert sd.pretty({"f": s, "g": sd.cos(x)}).splitlines() == ["f = sin(x)", "g = cos(x)"]


def test_pretty_merges_identical_subexpressions_unless_asked_not_to():
    x = sd.scalar("x")
    a, b = sd.cos(x), sd.cos(x)  # two nodes computing the same thing
    assert sd.pretty(a * b).splitlines() == ["t1 = cos(x)", "t1 * t1"]
    assert sd.pretty(a * b, merge=False) == "cos(x) * cos(x)"


def test_pretty_long_subexpressions_get_temporaries_and_stay_correct():
    x = sd.scalar("x")
    y = x
    for _ in range(30):
        y = sd.sin(y) * 1.01 + 0.1
    text = sd.pretty(y, width=40)
    lines = text.splitlines()
    assert len(lines) > 5 and all(len(line) < 100 for line in lines)
    assert run_pretty(text, {"x": 0.3}) == pytest.approx(float(sd.evaluate(y, {x: 0.3})), rel=1e-12)


def test_pretty_gradient_shows_shapes_and_gradient_comments():
    X = sd.tensor("X", ("n", 3))
    w = sd.tensor("w", (3,))
    loss = sd.sum(sd.tanh(X @ w) ** 2)
    gw = sd.grad(loss, w)
    text = sd.pretty({"loss": loss, "gw": gw}, shapes=True)
    assert "# X: (n, 3) float64" in text
    assert re.search(r"^t\d+ = tanh\(X @ w\)  # \(n,\) float64$", text, re.M)
    assert text.splitlines()[-1].startswith("gw = X.T @ ")


_leaf = st.sampled_from(["x", "y", "z", "x", "y", "c2", "c-1"])
_tree = st.recursive(
    _leaf,
    lambda inner: st.one_of(
        st.tuples(st.sampled_from(["+", "-", "*", "/", "**"]), inner, inner),
        st.tuples(st.sampled_from(["neg", "exp", "sin"]), inner),
    ),
    max_leaves=8,
)


def _build(tree, env):
    """Build a graph from a nested tuple (test trees are small; recursion is fine here)."""
    if isinstance(tree, str):
        return env[tree] if tree in env else sd.constant(float(tree[1:]))
    op, *args = tree
    a = [_build(t, env) for t in args]
    if op in ("+", "-", "*", "/"):
        return {"+": sd.add, "-": sd.sub, "*": sd.mul, "/": sd.div}[op](*a)
    if op == "**":
        base = a[0] if type(a[0].op).__name__ == "Pow" else sd.exp(a[0] * 0.1)  # positive bases
        return sd.power(base, a[1])
    return {"neg": sd.neg, "exp": lambda t: sd.exp(sd.tanh(t)), "sin": sd.sin}[op](*a)


@settings(max_examples=150, deadline=None)
@given(_tree)
def test_pretty_reads_back_as_the_same_value(tree):
    x, y, z = sd.scalar("x"), sd.scalar("y"), sd.scalar("z")
    node = _build(tree, {"x": x, "y": y, "z": z})
    want = float(sd.evaluate(node, {x: 0.7, y: -1.3, z: 2.1}))
    got = run_pretty(sd.pretty(node, width=30), {"x": 0.7, "y": -1.3, "z": 2.1})
    if np.isnan(want):
        assert np.isnan(got)
    else:
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12)


# ---------------------------------------------------------------------------------------------
# dprint
# ---------------------------------------------------------------------------------------------
def test_dprint_prints_a_shared_node_once_and_refers_to_it_by_id():
    x = sd.vector("x", "n")
    s = sd.sin(x)
    out = sd.sum(s * s) + sd.sum(s)
    text = sd.dprint(out, print=False)
    lines = text.splitlines()
    sin_lines = [line for line in lines if "sin" in line]
    assert len(sin_lines) == 3
    ident = re.search(r"\[id (\w+)\]", sin_lines[0]).group(1)
    assert all(f"[id {ident}]" in line for line in sin_lines)
    assert all(line.endswith("(shown above)") for line in sin_lines[1:])
    assert sum(1 for line in lines if line.strip().endswith("─ x")) == 1  # x printed under sin once
    assert lines[0].startswith("add [id A]")


def test_dprint_shapes_grad_marks_and_file():
    X = sd.tensor("X", ("n", 30))
    w = sd.tensor("w", (30,))
    z = X @ w
    loss = sd.mean(sd.softplus(z))
    gw = sd.grad(loss, w)
    buf = io.StringIO()
    text = sd.dprint({"loss": loss, "gw": gw}, shapes=True, file=buf)
    assert buf.getvalue() == text + "\n"
    assert "X : (n, 30) float64" in text
    assert "matmul [id" in text and ": (n,) float64" in text
    first_gw = next(line for line in text.splitlines() if line.startswith("gw = "))
    assert first_gw.endswith("(grad wrt w)")
    softplus_id = re.search(r"softplus \[id (\w+)\]", text).group(1)
    assert re.search(rf"\(grad wrt \[id {softplus_id}\] softplus\)", text)
    assert "(grad)" in text
    forward = [line for line in text.splitlines() if "softplus [id" in line][0]
    assert "grad" not in forward


def test_dprint_prints_to_stdout_by_default(capsys):
    x = sd.scalar("x")
    text = sd.dprint(sd.exp(x), ascii=True)
    assert capsys.readouterr().out == text + "\n"
    assert text == "exp [id A]\n`- x"


def test_dprint_names_and_ambiguous_variables():
    a1, a2 = sd.scalar("a"), sd.scalar("a")
    y = a1 * a2
    y.name = "prod"
    text = sd.dprint(y, print=False)
    assert text.splitlines()[0] == "mul 'prod' [id A]"
    assert "a [id B]" in text and "a [id C]" in text


# ---------------------------------------------------------------------------------------------
# Deep graphs: nothing recurses on depth
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def deep_chain():
    x = sd.scalar("x")
    y = x
    for _ in range(100_000):
        y = sd.tanh(y)
    return x, y


def test_dprint_100000_deep_chain(deep_chain):
    _, y = deep_chain
    text = sd.dformat(y, max_depth=40)
    lines = text.splitlines()
    assert sum(1 for line in lines if line.lstrip("└─│ ").startswith("tanh [id") and "continued" not in line) == 100_000
    assert max(len(line) for line in lines) < 200  # deep subtrees continue in sections of their own
    assert lines[-1].endswith("x")


def test_pretty_and_dot_100000_deep_chain(deep_chain):
    x, y = deep_chain
    text = sd.pretty(y)
    lines = text.splitlines()
    assert all(len(line) < 100 for line in lines)
    assert text.count("tanh(") == 100_000
    dot = sd.to_dot(y)
    assert dot.count("label=\"tanh\"") == 100_000


# ---------------------------------------------------------------------------------------------
# Graphviz
# ---------------------------------------------------------------------------------------------
NASTY = 'a"b\\N\\l}\n{<x>];<b>html</b>'


def test_to_dot_escapes_names_and_styles_gradients():
    x = sd.scalar(NASTY)
    y = sd.tanh(x) * 2.0
    g = sd.grad(y, x)
    dot = sd.to_dot({"y": y, "dy/dx": g})
    label = re.search(r'n\d+ \[label="((?:[^"\\]|\\.)*)", shape=box', dot).group(1)
    # quotes and backslashes escaped, newline as a DOT line break; no raw newline inside a label
    assert label == 'a\\"b\\\\N\\\\l}\\n{<x>];<b>html</b>'
    for line in dot.splitlines()[1:-1]:
        assert line.startswith("  ") and line.endswith(";")
    assert 'style="filled,dashed"' in dot  # gradient nodes
    assert "style=filled, fillcolor=\"#ffffff\"" in dot  # forward nodes
    assert "style=dotted" in dot  # the gradient -> variable link
    assert 'xlabel="dy/dx"' in dot


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz 'dot' is not installed")
def test_render_svg_with_nasty_names(tmp_path):
    x = sd.scalar(NASTY)
    w = sd.vector("w", 3)
    loss = sd.sum(sd.sigmoid(w * x) ** 2)
    out = sd.render(sd.grad(loss, [w, x]), tmp_path / "grad.svg", shapes=True)
    svg = out.read_text()
    assert svg.lstrip().startswith("<?xml") and "</svg>" in svg
    assert "a&quot;b\\N\\l}" in svg  # the name shows literally, escapes not interpreted
    assert "&lt;b&gt;html&lt;/b&gt;" in svg
    png = sd.render(loss, tmp_path / "loss.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz 'dot' is not installed")
def test_dot_of_a_gradient_graph_is_valid(tmp_path):
    X = sd.tensor("X", ("n", 4))
    W = sd.tensor("W", (4, 3))
    loss = sd.sum(sd.log_softmax(X @ W)[:, 0]) + sd.sum(sd.max(W, axis=0))
    g = sd.grad(loss, W)
    sd.render([loss, g], tmp_path / "g.dot")  # dot -Tdot fails on invalid input
    assert "digraph" in (tmp_path / "g.dot").read_text()


def test_render_without_dot_names_the_missing_program(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot here
    with pytest.raises(sd.GraphvizNotFoundError, match="'dot'.*graphviz"):
        sd.render(sd.scalar("x") * 2, tmp_path / "g.svg")
    assert issubclass(sd.GraphvizNotFoundError, sd.SymdiffError)


def test_render_refuses_unknown_formats(tmp_path):
    with pytest.raises(sd.SymdiffError, match="unknown output format"):
        sd.render(sd.scalar("x"), tmp_path / "g.exe")


def test_printers_refuse_non_nodes():
    with pytest.raises(sd.SymdiffError):
        sd.pretty([1.0])
    with pytest.raises(sd.SymdiffError):
        sd.dprint(3, print=False)
