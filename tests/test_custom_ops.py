"""Custom elementwise ops from SymPy formulas: evaluation, derivatives of any order, generated
Numba code, op identity, and bad input."""
import ast

import numpy as np
import pytest
import sympy as sp

import symdiff as sd
from symdiff.custom import SympyElemwise

softsign = sd.elementwise("softsign", lambda t: t / (1 + sp.Abs(t)))


def softsign_np(x):
    return x / (1 + np.abs(x))


def d_softsign_np(x):
    return 1 / (1 + np.abs(x)) ** 2


def d2_softsign_np(x):
    return -2 * np.sign(x) / (1 + np.abs(x)) ** 3


X = np.array([-2.5, -0.3, 0.0, 0.4, 3.0])


def test_softsign_values_and_derivatives(run):
    x = sd.vector("x", "n")
    y = softsign(x)
    g = sd.grad(sd.sum(y), x)
    h = sd.grad(sd.sum(g), x)  # diagonal of the Hessian: the second derivative
    yv, gv, hv = run([y, g, h], {x: X})
    np.testing.assert_allclose(yv, softsign_np(X), rtol=1e-14)
    np.testing.assert_allclose(gv, d_softsign_np(X), rtol=1e-14)
    np.testing.assert_allclose(hv, d2_softsign_np(X), rtol=1e-13, atol=1e-15)
    assert hv[2] == 0.0  # DiracDelta from d sign/dt is taken as 0, like sd.sign's gradient


def test_derivatives_to_fourth_order_match_sympy():
    f = sd.elementwise("bump", lambda t: sp.exp(-t ** 2) * sp.sinh(t))
    t = sp.Symbol("t", real=True)
    ref = sp.exp(-t ** 2) * sp.sinh(t)
    x = sd.scalar("x")
    g = f(x)
    for order in range(1, 5):
        g = sd.grad(g, x)
        want = float(sp.diff(ref, t, order).subs(t, 0.37))
        assert float(sd.evaluate(g, {x: 0.37})) == pytest.approx(want, rel=1e-12)


def test_multi_argument_op_with_broadcasting(run):
    hyp = sd.elementwise("hyp", lambda a, b: sp.sqrt(a ** 2 + b ** 2))
    assert hyp.nin == 2
    a = sd.vector("a", 3)
    b = sd.scalar("b")
    loss = sd.sum(hyp(a, b) * sd.constant([1.0, 2.0, 3.0]))
    ga, gb = sd.grad(loss, [a, b])
    av, bv = np.array([0.5, -1.0, 2.0]), 1.5
    r = np.sqrt(av ** 2 + bv ** 2)
    lv, gav, gbv = run([loss, ga, gb], {a: av, b: bv})
    w = np.array([1.0, 2.0, 3.0])
    assert lv == pytest.approx(np.sum(w * r), rel=1e-14)
    np.testing.assert_allclose(gav, w * av / r, rtol=1e-14)
    assert gbv == pytest.approx(np.sum(w * bv / r), rel=1e-14)
    assert gb.shape == ()  # summed over the broadcast axis


def test_check_grad_and_float32(run):
    sq = sd.elementwise("logcosh", lambda t: sp.log(sp.cosh(t)))
    x = sd.vector("x", 4)
    loss = sd.sum(sq(x) * x)
    assert sd.check_grad(loss, [x], {x: np.array([0.3, -1.2, 2.0, 0.1])}) < 1e-7
    x32 = sd.vector("x32", 4, dtype="float32")
    y32 = sq(x32)
    assert y32.dtype == np.float32
    v = run(y32, {x32: np.array([0.3, -1.2, 2.0, 0.1], dtype=np.float32)}, rtol=1e-4)
    assert v.dtype == np.float32
    np.testing.assert_allclose(v, np.log(np.cosh([0.3, -1.2, 2.0, 0.1])), rtol=1e-4, atol=1e-6)


def test_piecewise_and_constant_derivatives(run):
    hinge2 = sd.elementwise("hinge2", lambda t: sp.Piecewise((t ** 2, t > 0), (0, True)))
    lin = sd.elementwise("lin", lambda t: 3 * t + 1)
    assert lin.derivative() == 3.0  # a constant derivative needs no op
    x = sd.vector("x", 4)
    loss = sd.sum(hinge2(x) + lin(x))
    g = sd.grad(loss, x)
    xv = np.array([-1.0, 0.0, 0.5, 2.0])
    np.testing.assert_allclose(run(g, {x: xv}), np.where(xv > 0, 2 * xv, 0.0) + 3.0, rtol=1e-14)


def _only_numpy_calls(code: str, nin: int) -> bool:
    src = code.format(*[f"a{i}" for i in range(nin)])
    for node in ast.walk(ast.parse(src, mode="eval")):
        if isinstance(node, ast.Call):
            f = node.func
            if not (isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "np"):
                return False
        if isinstance(node, ast.Name) and node.id not in {"np"} | {f"a{i}" for i in range(nin)}:
            return False
    return True


def test_generated_code_calls_only_numpy_and_compiles_with_numba():
    numba = pytest.importorskip("numba")
    ops = [
        softsign, softsign.derivative(), softsign.derivative().derivative(),
        sd.elementwise("pw", lambda t: sp.Piecewise((t ** 2, t > 0), (sp.sin(t), True))),
        sd.elementwise("mx", lambda a, b: sp.Max(a, b) * sp.Heaviside(a - 1)),
        sd.elementwise("quad", lambda t: t ** 2 / 2 + sp.pi),
    ]
    for f in ops:
        assert _only_numpy_calls(f.code, f.nin), f.code
        args = ", ".join(f"a{i}" for i in range(f.nin))
        ns = {"np": np}
        exec(f"def k({args}):\n    return {f.code.format(*[f'a{i}' for i in range(f.nin)])}\n", ns)
        kernel = numba.njit(ns["k"])
        for point in [(0.7, -0.3), (-1.2, 2.0), (1.0, 0.5)]:
            point = point[:f.nin]
            assert kernel(*point) == pytest.approx(float(f.op_class.numpy(*point)), rel=1e-14), f.name


def test_op_identity_and_hashing():
    x = sd.scalar("x")
    a, b = softsign(x), softsign(x * 2)
    assert a.op == b.op and hash(a.op) == hash(b.op)
    assert isinstance(a.op, SympyElemwise)
    assert hash(tuple(sorted(a.op.params.items())))  # params are hashable
    other = sd.elementwise("softsign", lambda t: t / (1 + sp.Abs(t)))
    assert other(x).op != a.op  # a different elementwise() call is a different op
    # the derivative op is made once, so gradients taken twice share it
    g1, g2 = sd.grad(a, x), sd.grad(softsign(x), x)
    assert g1.op == g2.op
    assert sd.pretty(softsign(x)) == "softsign(x)"
    assert "softsign" in sd.dprint(softsign(x), print=False)


def test_works_with_function_and_hessian():
    if not hasattr(sd, "function") or not hasattr(sd, "hessian"):
        pytest.skip("sd.function / sd.hessian not available")
    x = sd.vector("x", 5)
    f = sd.sum(softsign(x) * sd.constant([1.0, -2.0, 0.5, 3.0, 1.0]))
    H = sd.hessian(f, x)
    fn = sd.function([x], [f, H])
    fv, Hv = fn(X)
    w = np.array([1.0, -2.0, 0.5, 3.0, 1.0])
    assert fv == pytest.approx(np.sum(w * softsign_np(X)), rel=1e-14)
    np.testing.assert_allclose(Hv, np.diag(w * d2_softsign_np(X)), rtol=1e-13, atol=1e-15)


def test_sympy_interop_sees_the_formula():
    x = sd.scalar("x")
    assert sd.to_sympy(softsign(x ** 2)) == sp.Symbol("x", real=True) ** 2 / (1 + sp.Symbol("x", real=True) ** 2)
    assert sd.latex(softsign(x)) == r"\frac{x}{\left|{x}\right| + 1}"


def test_bad_definitions():
    with pytest.raises(sd.CustomOpError, match="identifier"):
        sd.elementwise("soft sign\nimport os", lambda t: t)
    with pytest.raises(sd.CustomOpError, match="identifier"):
        sd.elementwise("lambda", lambda t: t)
    with pytest.raises(sd.CustomOpError, match="SymPy expression"):
        sd.elementwise("s", lambda t: "t + 1")  # strings are never parsed
    with pytest.raises(sd.CustomOpError, match="not its arguments"):
        sd.elementwise("s", lambda t: t + sp.Symbol("u"))
    with pytest.raises(sd.CustomOpError, match="math.erf"):
        sd.elementwise("s", lambda t: sp.erf(t))
    with pytest.raises(sd.CustomOpError, match="at least one input"):
        sd.elementwise("s", lambda: sp.Integer(1))
    with pytest.raises(sd.CustomOpError, match="symdiff nodes"):
        sd.elementwise("s", lambda t: sd.exp(t))
    with pytest.raises(sd.CustomOpError, match="takes 1 argument"):
        softsign(sd.scalar("x"), sd.scalar("y"))
    assert issubclass(sd.CustomOpError, sd.SymdiffError)
