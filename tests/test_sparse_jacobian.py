"""Sparse Jacobians (sd.jacobian(r, x, sparse=True)) and sd.optimize.least_squares: patterns from
the graph, row or column compression, values against dense Jacobians, finite differences and JAX."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import scipy.optimize
import scipy.sparse as sp

import symdiff as sd
import symdiff.numpy as snp

ROOT = Path(__file__).resolve().parents[1]
RNG = np.random.default_rng(7)
_spec = importlib.util.spec_from_file_location("adbench_example", ROOT / "examples" / "adbench.py")
A = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(A)

# one camera, point, weight and feature in ADBench's layout (rotation, centre, focal, principal
# point, distortion); the instance replicates them with 5% perturbations so the copies differ
CAM = np.array([0.0157, -0.0128, -0.0044, -0.034, 0.0885, 0.99, 400.0, 0.1, -0.2, -3e-7, 5e-13])
POINT, WEIGHT, FEATURE = np.array([-0.61, 0.57, -1.39]), 1.0, np.array([-332.65, 262.09])


def central_differences(fun, z, h=1e-6):
    cols = []
    for j in range(z.size):
        e = np.zeros_like(z)
        e[j] = h * max(1.0, abs(z[j]))
        cols.append((fun(z + e) - fun(z - e)) / (2 * e[j]))
    return np.stack(cols, axis=1)


def ba_problem(N=3, M=5, P=10):
    b = A.ba_instance(CAM, POINT, WEIGHT, FEATURE, N, M, P, perturb=0.05, seed=2)
    n = 11 * N + 3 * M + P
    p = sd.tensor("p", (n,))
    cams = p[:11 * N].reshape(N, 11)
    pts = p[11 * N:11 * N + 3 * M].reshape(M, 3)
    r = A.ba_residuals(snp, cams, pts, p[11 * N + 3 * M:], b["features"], b["cam_idx"], b["pt_idx"])
    pv = np.concatenate([b["cams"].ravel(), b["points"].ravel(), b["weights"]])
    return b, p, r, pv


def test_ba_sparse_jacobian_against_dense_fd_and_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    N, M, P = 2, 5, 20
    b, p, r, pv = ba_problem(N, M, P)
    J = sd.jacobian(r, p, sparse=True)
    assert isinstance(J, sd.SparseJacobian)
    # the pattern: each reprojection row 14 unknowns (10 of its camera's 11, 3 point, 1 weight)
    assert J.shape == (3 * P, 11 * N + 3 * M + P) and J.nnz == 2 * P * 14 + P
    # a row colouring needs at least the 20 rows of a camera's 10 observations; columns need 14
    # (the non-zeros of one row, and 14 suffice: the optimum)
    assert J.side == "columns" and J.n_colours == 14
    got = J({p: pv})
    assert sp.isspmatrix_csr(got)
    dense = sd.evaluate(sd.jacobian(r, p), {p: pv})
    np.testing.assert_allclose(got.toarray(), dense, rtol=1e-12, atol=1e-12)
    res = sd.function([p], r)
    fd = central_differences(lambda z: res(z), pv)
    np.testing.assert_allclose(got.toarray(), fd, rtol=1e-6, atol=1e-6 * np.abs(fd).max())

    def jres(z):
        return A.ba_residuals(jnp, z[:11 * N].reshape(N, 11), z[11 * N:11 * N + 3 * M].reshape(M, 3),
                              z[11 * N + 3 * M:], b["features"], b["cam_idx"], b["pt_idx"])

    np.testing.assert_allclose(got.toarray(), np.asarray(jax.jacfwd(jres)(jnp.asarray(pv))), rtol=1e-12, atol=1e-9)
    assert not np.any((np.abs(dense) > 0) & ~J.pattern.toarray())


@pytest.mark.parametrize("side", ["rows", "columns"])
def test_both_sides_give_the_same_values(side):
    x = sd.tensor("x", (20,))
    r = sd.concatenate([10 * (x[1:] - x[:-1] ** 2), 1 - x[:-1], sd.sum(x ** 2, keepdims=True)])
    J = sd.SparseJacobian(r, x, compiled=False, colouring=side)
    xv = RNG.normal(size=20)
    assert J.side == side
    want = sd.evaluate(sd.jacobian(r, x), {x: xv})
    np.testing.assert_allclose(J({x: xv}).toarray(), want, rtol=1e-13, atol=1e-13)
    # rows: column j meets rows a_{j-1}, a_j, b_j and the dense row, so 4 colours (optimal);
    # columns: the dense row meets every column, so 20
    assert J.n_colours == (4 if side == "rows" else 20)
    # both at once: the dense row from 1 VJP, the chain below it from 2 JVPs
    auto = sd.SparseJacobian(r, x, compiled=False)
    assert (auto.side, auto.n_colours) == ("bicolour", 3)
    np.testing.assert_allclose(auto({x: xv}).toarray(), want, rtol=1e-13, atol=1e-13)


def test_named_dims_and_compiled_kernel():
    x = sd.tensor("x", ("n",))
    y = sd.tensor("y", (5,))
    r = x[1:] * x[:-1] - sd.sum(y)
    J = sd.jacobian(r, x, sparse=True)
    with pytest.raises(sd.SymdiffError, match="first"):
        J.pattern
    for n in (6, 9):
        xv, yv = RNG.normal(size=n), RNG.normal(size=5)
        got = J({"x": xv, "y": yv}).toarray()
        want = np.zeros((n - 1, n))
        want[np.arange(n - 1), np.arange(n - 1)] = xv[1:]
        want[np.arange(n - 1), np.arange(1, n)] = xv[:-1]
        np.testing.assert_allclose(got, want, rtol=1e-14)
    xs = sd.tensor("x", (30,))
    Jc = sd.jacobian(sd.exp(xs[1:]) * sd.sin(xs[:-1]), xs, sparse=True)
    xv = RNG.normal(size=30)
    np.testing.assert_allclose(Jc({xs: xv}).toarray(), sd.evaluate(sd.jacobian(sd.exp(xs[1:]) * sd.sin(xs[:-1]), xs),
                                                                   {xs: xv}), rtol=1e-13, atol=1e-14)
    fn = Jc._only_plan().fn
    fn.wait_compiled()  # tiered by default: the NumPy tier answered the call above
    assert fn.mode in ("numba", "vm")


def test_sparse_jacobian_errors():
    x = sd.tensor("x", (3,))
    with pytest.raises(sd.GradError, match="one variable"):
        sd.jacobian(x * 2, [x, x], sparse=True)
    with pytest.raises(sd.SymdiffError, match="colouring must be"):
        sd.jacobian(x * 2, x, sparse=True, colouring="diagonal")
    for y in (x * 2, x * x):                       # a constant Jacobian checks its input too
        J = sd.jacobian(y, x, sparse=True)
        with pytest.raises(sd.ShapeError):
            J({x: np.zeros(4)})
    with pytest.raises(sd.SymdiffError, match="x"):
        J({})


def test_star_hessian_compiled_matches_dense():
    """The compiled read-back of a star colouring (entries read twice) gives the exact Hessian."""
    n = 40
    x = sd.tensor("x", (n,))
    f = sd.sum(x ** 4) + x[0] * sd.sum(sd.sin(x))
    H = sd.hessian(f, x, sparse=True)
    assert H.colouring == "star" and H.n_colours == 2
    xv = RNG.normal(size=n)
    np.testing.assert_allclose(H({x: xv}).toarray(), sd.evaluate(sd.hessian(f, x), {x: xv}), rtol=1e-12, atol=1e-12)
    Ha = sd.SparseHessian(f, x, compiled=False, colouring="acyclic")
    assert Ha.colouring == "acyclic"
    np.testing.assert_allclose(Ha({x: xv}).toarray(), sd.evaluate(sd.hessian(f, x), {x: xv}), rtol=1e-12, atol=1e-12)


def test_least_squares_curve_fit():
    t = np.linspace(0, 2, 60)
    truth = np.array([2.0, 1.3, 0.4, -0.7])
    yv = truth[0] * np.exp(-truth[1] * t) + truth[2] * np.sin(3 * t + truth[3])
    p = sd.tensor("p", (4,))
    tt, yy = sd.tensor("t", (60,)), sd.tensor("y", (60,))
    r = p[0] * sd.exp(-p[1] * tt) + p[2] * sd.sin(3 * tt + p[3]) - yy
    res = sd.optimize.least_squares(r, p, np.array([1.0, 1.0, 1.0, 0.0]), inputs={tt: t, "y": yv}, method="trf")
    np.testing.assert_allclose(res.x, truth, rtol=1e-7)
    assert res.cost < 1e-20 and sp.issparse(res.jac)
    ref = scipy.optimize.least_squares(
        lambda q: q[0] * np.exp(-q[1] * t) + q[2] * np.sin(3 * t + q[3]) - yv, np.array([1.0, 1.0, 1.0, 0.0]))
    np.testing.assert_allclose(res.x, ref.x, rtol=1e-6)
    lm = sd.optimize.least_squares(r, p, np.array([1.0, 1.0, 1.0, 0.0]), inputs={tt: t, "y": yv}, method="lm")
    np.testing.assert_allclose(lm.x, truth, rtol=1e-7)
    with pytest.raises(sd.InputError, match="give its value"):
        sd.optimize.least_squares(r, p, np.ones(4), inputs={tt: t})
    with pytest.raises(sd.InputError, match="x0 has shape"):
        sd.optimize.least_squares(r, p, np.ones(3), inputs={tt: t, yy: yv})
    with pytest.raises(sd.InputError, match="jac"):
        sd.optimize.least_squares(r, p, np.ones(4), inputs={tt: t, yy: yv}, jac="2-point")


def test_least_squares_bundle_adjustment_recovers_the_points():
    """Features made consistent with the true parameters (two cameras 0.5 apart, every point seen
    by both); from perturbed 3-D points (cameras, weights, features fixed inputs), least squares
    brings the reprojection residuals to zero and the points back."""
    N, M, P = 2, 5, 20          # M odd: every point is seen by both cameras (else its depth is free)
    b = A.ba_instance(CAM, POINT, WEIGHT, FEATURE, N, M, P, perturb=0.05, seed=2)
    b["cams"][1, 3] += 0.5
    pts, cams = sd.tensor("points", (M, 3)), sd.tensor("cams", (N, 11))
    w, feats = sd.tensor("w", (P,)), sd.tensor("features", (P, 2))
    r = A.ba_residuals(snp, cams, pts, w, feats, b["cam_idx"], b["pt_idx"])
    values = {cams: b["cams"], w: b["weights"], feats: np.zeros((P, 2))}
    values[feats] = sd.evaluate(r, {**values, pts: b["points"]})[:2 * P].reshape(P, 2) / b["weights"][:, None]
    start = b["points"] + 0.01 * RNG.normal(size=(M, 3))
    res = sd.optimize.least_squares(r, pts, start, inputs=values, ftol=1e-15, xtol=1e-15, gtol=1e-15)
    assert np.abs(res.fun[:2 * P]).max() < 1e-6 and res.x.shape == (M, 3)   # pixels
    np.testing.assert_allclose(res.fun[2 * P:], 1 - b["weights"] ** 2, rtol=1e-14)   # the weight rows
    np.testing.assert_allclose(res.x, b["points"], rtol=0, atol=1e-8)
    assert res.n_colours == 3                                 # one column per point coordinate


def _chain_residuals(n=12):
    x = sd.tensor("x", (n,))
    r = sd.concatenate([10 * (x[1:] - x[:-1] ** 2) * sd.cos(x[1:]), sd.exp(-x[:-1]) - 1])
    xv = RNG.normal(size=n)
    want = sd.evaluate(sd.jacobian(r, x), {x: xv})
    return x, r, xv, want


def _kernel_lines(J):
    """The lines of the Numba kernel that would compute J's values."""
    from symdiff.compiler.codegen import Lowering

    plan = J._only_plan()
    return Lowering(plan.variables, [plan.nonzeros]).source().count("\n")


@pytest.mark.parametrize("per_line, switched", [(1e-12, True), (1e6, False)])
def test_over_budget_jacobian_moves_from_vm_to_numba_once_vm_time_pays_the_compile(monkeypatch, per_line, switched):
    """A kernel over the jit budget runs on the VM until the time spent there reaches the estimated
    compile time (lines x COMPILE_SECONDS_PER_LINE), then on Numba; values agree throughout."""
    from symdiff import sparsity

    monkeypatch.setattr(sparsity, "COMPILE_SECONDS_PER_LINE", per_line)
    x, r, xv, want = _chain_residuals()
    J = sd.jacobian(r, x, sparse=True)
    monkeypatch.setenv("SYMDIFF_MAX_JIT_LINES", str(_kernel_lines(J) - 1))   # just over the budget
    assert J.mode is None
    np.testing.assert_allclose(J({x: xv}).toarray(), want, rtol=1e-13, atol=1e-13)
    assert J.mode == "vm"
    for _ in range(2):
        np.testing.assert_allclose(J({x: xv}).toarray(), want, rtol=1e-13, atol=1e-13)
    assert J.mode == ("numba" if switched else "vm")
    np.testing.assert_allclose(J.data({x: 2 * xv}), sd.SparseJacobian(r, x, compiled=False).data({x: 2 * xv}),
                               rtol=1e-13, atol=1e-13)


def test_far_over_budget_or_forced_modes_never_switch(monkeypatch):
    from symdiff import sparsity

    monkeypatch.setattr(sparsity, "COMPILE_SECONDS_PER_LINE", 0.0)
    x, r, xv, want = _chain_residuals()
    J = sd.jacobian(r, x, sparse=True)
    monkeypatch.setenv("SYMDIFF_MAX_JIT_LINES", str(_kernel_lines(J) // 5))   # over 4x the budget: the VM stays
    for _ in range(3):
        np.testing.assert_allclose(J({x: xv}).toarray(), want, rtol=1e-13, atol=1e-13)
    assert J.mode == "vm" and J._only_plan().fn.budget == float("inf")
    Jvm = sd.SparseJacobian(r, x, compiled="vm")          # a forced mode is kept
    for _ in range(3):
        np.testing.assert_allclose(Jvm({x: xv}).toarray(), want, rtol=1e-13, atol=1e-13)
    assert Jvm.mode == "vm"
    Jnp = sd.SparseJacobian(r, x, compiled=False)
    np.testing.assert_allclose(Jnp({x: xv}).toarray(), want, rtol=1e-13, atol=1e-13)
    assert Jnp.mode == "evaluate"
    monkeypatch.delenv("SYMDIFF_MAX_JIT_LINES")         # under the budget: Numba (tiered: once compiled)
    Jn = sd.jacobian(r, x, sparse=True)
    np.testing.assert_allclose(Jn({x: xv}).toarray(), want, rtol=1e-13, atol=1e-13)
    assert Jn._only_plan().fn.wait_compiled(300)
    np.testing.assert_allclose(Jn({x: xv}).toarray(), want, rtol=1e-13, atol=1e-13)
    assert Jn.mode == "numba"


def _arrowhead_residuals(n=40):
    """r_0 = sum(x^2) / 2 + sum(cos x) (a dense row), r_i = x_0 x_i^3 + sin(x_i) for i = 1..n-1
    (a dense first column and a diagonal), and the closed-form Jacobian."""
    x = sd.tensor("x", (n,))
    r = sd.concatenate([sd.reshape(0.5 * sd.sum(x ** 2) + sd.sum(sd.cos(x)), (1,)), x[0] * x[1:] ** 3 + sd.sin(x[1:])])
    xv = RNG.normal(size=n)
    want = np.zeros((n, n))
    want[0] = xv - np.sin(xv)
    want[1:, 0] = xv[1:] ** 3
    want[np.arange(1, n), np.arange(1, n)] = 3 * xv[0] * xv[1:] ** 2 + np.cos(xv[1:])
    return x, r, xv, want


@pytest.mark.parametrize("compiled", [None, False])
def test_bicoloured_arrowhead_jacobian_against_closed_form_fd_and_jax(compiled):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    n = 40
    x, r, xv, want = _arrowhead_residuals(n)
    J = sd.SparseJacobian(r, x, compiled=compiled)
    assert J.side == "bicolour" and J.n_colours == 3
    assert J._only_plan().candidates["columns/natural"] == n and J._only_plan().candidates["rows/natural"] == n
    got = J({x: xv}).toarray()
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)
    fun = sd.function([x], r)
    np.testing.assert_allclose(got, central_differences(fun, xv), rtol=1e-6, atol=1e-7)

    def jres(z):
        return jnp.concatenate([jnp.reshape(0.5 * jnp.sum(z ** 2) + jnp.sum(jnp.cos(z)), (1,)),
                                z[0] * z[1:] ** 3 + jnp.sin(z[1:])])

    np.testing.assert_allclose(got, np.asarray(jax.jacfwd(jres)(jnp.asarray(xv))), rtol=1e-13, atol=1e-13)
    for side in ("rows", "columns"):   # the one-sided colourings give the same values with n products
        Js = sd.jacobian(r, x, sparse=True, colouring=side)
        assert Js.n_colours == n
        np.testing.assert_allclose(Js({x: xv}).toarray(), got, rtol=1e-13, atol=1e-13)


def test_bicolour_forced_on_ba_and_refused_with_named_dims():
    b, p, r, pv = ba_problem()
    J = sd.SparseJacobian(r, p, colouring="bicolour")
    auto = sd.SparseJacobian(r, p)
    assert J.side == "bicolour" and auto.side in ("rows", "columns")   # BA: one side is best
    assert J.n_colours >= auto.n_colours
    np.testing.assert_allclose(J({p: pv}).toarray(), auto({p: pv}).toarray(), rtol=1e-12, atol=1e-12)
    xn = sd.tensor("x", ("n",))
    with pytest.raises(sd.SymdiffError, match="bicolour.*static shapes"):
        sd.SparseJacobian(xn[1:] * xn[:-1], xn, colouring="bicolour")({xn: np.ones(5)})
    with pytest.raises(sd.SymdiffError, match="colouring must be one of"):
        sd.SparseJacobian(xn[1:] * xn[:-1], xn, colouring="star")
