"""SymPy interop: to_sympy / from_sympy round trips, LaTeX, and SymPy as an independent check of
symdiff's derivatives."""
import pytest
import sympy as sp
from hypothesis import given, settings, strategies as st

import symdiff as sd

xs, ys = sp.symbols("x y", real=True)


def nth_grad(f, x, n):
    for _ in range(n):
        f = sd.grad(f, x)
    return f


def test_fourth_derivative_of_exp_sin_x2_matches_sympy():
    x = sd.scalar("x")
    f = sd.exp(sd.sin(x ** 2))
    ref = sp.exp(sp.sin(xs ** 2))
    for order in range(1, 5):
        want = float(sp.diff(ref, xs, order).subs(xs, sp.Rational(7, 10)))
        got = float(sd.evaluate(nth_grad(f, x, order), {x: 0.7}))
        assert got == pytest.approx(want, rel=1e-12), order


UNARY = [
    (sd.exp, sp.exp), (sd.log, sp.log), (sd.log1p, lambda t: sp.log(1 + t)),
    (sd.expm1, lambda t: sp.exp(t) - 1), (sd.sqrt, sp.sqrt), (sd.sin, sp.sin), (sd.cos, sp.cos),
    (sd.tan, sp.tan), (sd.tanh, sp.tanh), (sd.sigmoid, lambda t: 1 / (1 + sp.exp(-t))),
    (sd.softplus, lambda t: sp.log(1 + sp.exp(t))), (sd.abs, sp.Abs),
    (lambda t: sd.elu(t, 0.7), lambda t: sp.Piecewise((t, t > 0), (0.7 * (sp.exp(t) - 1), True))),
]


@pytest.mark.parametrize("sd_f, sp_f", UNARY)
@pytest.mark.parametrize("at", [0.4, 1.3, -0.8])
def test_second_derivatives_of_every_function_match_sympy(sd_f, sp_f, at):
    if at < 0 and sd_f in (sd.log, sd.sqrt):
        at = -at
    x = sd.scalar("x")
    f = sd_f(x * x * 0.5 + x)  # a composition, so the chain rule is exercised too
    ref = sp_f(xs * xs / 2 + xs)
    for order in (1, 2, 3):
        want = float(sp.diff(ref, xs, order).subs(xs, at))
        got = float(sd.evaluate(nth_grad(f, x, order), {x: at}))
        assert got == pytest.approx(want, rel=1e-10, abs=1e-12), order


def test_mixed_partials_match_sympy():
    x, y = sd.scalar("x"), sd.scalar("y")
    f = sd.tanh(x * y) / (1 + y ** 2) + sd.maximum(x, 0.3) * sd.exp(-y)
    ref = sd.to_sympy(f)
    assert sp.simplify(ref - (sp.tanh(xs * ys) / (1 + ys ** 2) + sp.Max(xs, 0.3) * sp.exp(-ys))) == 0
    at = {xs: 0.9, ys: -0.4}
    for a, b in [(x, x), (x, y), (y, y), (y, x)]:
        g = sd.grad(sd.grad(f, a), b)
        want = float(sp.diff(ref, sp.Symbol(a.name, real=True), sp.Symbol(b.name, real=True)).subs(at))
        assert float(sd.evaluate(g, {x: 0.9, y: -0.4})) == pytest.approx(want, rel=1e-12)


def test_symbolic_gradient_equals_sympys_derivative():
    x, y = sd.scalar("x"), sd.scalar("y")
    f = sd.sigmoid(x * y) * sd.log1p(y * y) - sd.cos(x) / y
    gx = sd.grad(f, x)
    diff = sd.to_sympy(gx) - sp.diff(sd.to_sympy(f), xs)
    assert sp.simplify(diff) == 0


# ---------------------------------------------------------------------------------------------
# Round trips
# ---------------------------------------------------------------------------------------------
def test_to_sympy_of_every_elementwise_op():
    x, y = sd.scalar("x"), sd.scalar("y")
    e = sd.to_sympy(sd.where(x > y, sd.relu(x), sd.leaky_relu(y, 0.1)) + sd.clip(x, -1, 1) + sd.sign(y))
    want = (sp.Piecewise((sp.Piecewise((xs, xs > 0), (0, True)), xs > ys),
                         (sp.Piecewise((ys, ys > 0), (sp.Float(0.1) * ys, True)), True))
            + sp.Min(sp.Max(xs, -1), 1) + sp.sign(ys))
    for xv, yv in [(0.5, -2.0), (-3.0, -2.0), (2.0, 3.0), (-0.5, 0.2)]:
        assert float(e.subs({xs: xv, ys: yv})) == pytest.approx(float(want.subs({xs: xv, ys: yv})))


def test_to_sympy_reports_the_symbols_and_keeps_distinct_variables_apart():
    a1, a2 = sd.scalar("a"), sd.scalar("a")
    symbols = {}
    e = sd.to_sympy(a1 - a2, symbols)
    assert set(symbols) == {a1, a2} and symbols[a1] != symbols[a2]
    assert e != 0
    back = sd.from_sympy(e, {s: v for v, s in symbols.items()})
    assert float(sd.evaluate(back, {a1: 3.0, a2: 1.0})) == 2.0


_leaves = st.sampled_from(["x", "y", "1.5", "-2", "0.25"])
_exprs = st.recursive(
    _leaves,
    lambda inner: st.one_of(
        st.tuples(st.sampled_from(["+", "-", "*", "/", "max"]), inner, inner),
        st.tuples(st.sampled_from(["exp", "sin", "tanh", "neg", "sq", "sigmoid", "abs"]), inner),
    ),
    max_leaves=10,
)


def _sd_build(tree, env):
    if isinstance(tree, str):
        return env.get(tree) if tree in env else float(tree)
    op, *args = tree
    a = [_sd_build(t, env) for t in args]
    a = [sd.as_node(v) for v in a]
    binary = {"+": sd.add, "-": sd.sub, "*": sd.mul, "/": lambda p, q: p / (1 + q * q), "max": sd.maximum}
    if op in binary:
        return binary[op](*a)
    return {"exp": lambda t: sd.exp(sd.tanh(t)), "sin": sd.sin, "tanh": sd.tanh, "neg": sd.neg,
            "sq": lambda t: t ** 2, "sigmoid": sd.sigmoid, "abs": sd.abs}[op](*a)


@settings(max_examples=60, deadline=None)
@given(_exprs)
def test_round_trip_through_sympy(tree):
    x, y = sd.scalar("x"), sd.scalar("y")
    f = sd.as_node(_sd_build(tree, {"x": x, "y": y}))
    e = sd.to_sympy(f)
    back = sd.from_sympy(e, {xs: x, ys: y})
    for xv, yv in [(0.3, -1.2), (-2.0, 0.7)]:
        want = float(sd.evaluate(f, {x: xv, y: yv}))
        assert float(sd.evaluate(back, {x: xv, y: yv})) == pytest.approx(want, rel=1e-12, abs=1e-14)
        assert float(e.subs({xs: xv, ys: yv})) == pytest.approx(want, rel=1e-12, abs=1e-14)


def test_from_sympy_builds_readable_graphs():
    x = sd.scalar("x")
    assert sd.pretty(sd.from_sympy(xs / (1 + xs ** 2), {xs: x})) == "x / (1 + x**2)"
    assert sd.pretty(sd.from_sympy(1 / sp.sqrt(xs) - 3 * xs, {xs: x})) == "1 / sqrt(x) - 3 * x"
    assert sd.pretty(sd.from_sympy(sp.exp(-xs ** 2 / 2), {"x": x})) == "exp(-(0.5 * x**2))"
    pw = sd.from_sympy(sp.Piecewise((xs, xs > 1), (xs ** 2, xs < -1), (sp.sin(xs), True)), {xs: x})
    assert sd.pretty(pw) == "where(x > 1, x, where(x < -1, x**2, sin(x)))"


def test_from_sympy_accepts_symbols_of_other_assumptions_by_name():
    x = sd.scalar("x")
    plain = sp.Symbol("x")  # no real=True
    assert float(sd.evaluate(sd.from_sympy(plain ** 2, {plain: x}), {x: 3.0})) == 9.0
    assert float(sd.evaluate(sd.from_sympy(plain ** 2, {xs: x}), {x: 3.0})) == 9.0


def test_from_sympy_turns_other_functions_into_custom_ops():
    x, y = sd.scalar("x"), sd.scalar("y")
    e = sp.sinh(xs) * sp.atan2(ys, xs) + sp.Piecewise((xs, (xs > 0) & (ys > 0)), (0, True))
    f = sd.from_sympy(e, {xs: x, ys: y})
    vals = {x: 0.8, y: 1.7}
    at = {xs: 0.8, ys: 1.7}
    assert float(sd.evaluate(f, vals)) == pytest.approx(float(e.subs(at)), rel=1e-12)
    for v, s in [(x, xs), (y, ys)]:
        g = sd.grad(f, v)
        assert float(sd.evaluate(g, vals)) == pytest.approx(float(sp.diff(e, s).subs(at)), rel=1e-12)
    hxy = sd.grad(sd.grad(f, x), y)
    assert float(sd.evaluate(hxy, vals)) == pytest.approx(float(sp.diff(e, xs, ys).subs(at)), rel=1e-12)


def test_from_sympy_errors():
    x = sd.scalar("x")
    with pytest.raises(sd.SympyConversionError, match="no node given for the symbol y"):
        sd.from_sympy(xs + ys, {xs: x})
    with pytest.raises(sd.SympyConversionError, match="not a real number"):
        sd.from_sympy(xs + sp.I, {xs: x})
    with pytest.raises(sd.SympyConversionError):
        sd.from_sympy("x + 1", {xs: x})  # strings are never parsed
    with pytest.raises(sd.SympyConversionError, match="erf"):
        sd.from_sympy(sp.erf(xs), {xs: x})  # SymPy would write math.erf: not a NumPy function


def test_to_sympy_refuses_non_elementwise_ops():
    v = sd.vector("v", 3)
    for node, name in [(sd.sum(v), "sum"), (v @ v, "matmul"), (v[0], "index"), (sd.softmax(v), "softmax")]:
        with pytest.raises(sd.SympyConversionError, match=f"{name}.*not elementwise"):
            sd.to_sympy(node)
    with pytest.raises(sd.SympyConversionError, match="different entries"):
        sd.to_sympy(v * sd.constant([1.0, 2.0, 3.0]))
    # elementwise graphs over tensors convert entrywise
    assert sd.to_sympy(sd.exp(v) * 2) == 2 * sp.exp(sp.Symbol("v", real=True))


# ---------------------------------------------------------------------------------------------
# LaTeX
# ---------------------------------------------------------------------------------------------
def test_latex():
    x = sd.scalar("x")
    alpha = sd.scalar("alpha")
    assert sd.latex(sd.exp(sd.sin(x ** 2))) == r"e^{\sin{\left(x^{2} \right)}}"
    assert sd.latex(alpha * x / 2) == r"\frac{\alpha x}{2}"
    block = sd.latex(nth_grad(sd.exp(sd.sin(x ** 2)), x, 2), cse=True)
    assert block.startswith("\\begin{aligned}") and block.endswith("\\end{aligned}")
    assert "t_{0} &= " in block
