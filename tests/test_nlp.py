"""sd.optimize.nlp: constrained problems with IPOPT (cyipopt, skipped when missing) and SciPy's
trust-constr (always), their derivatives checked against finite differences and CasADi."""
import numpy as np
import pytest

import symdiff as sd
from symdiff.nlp import NLPFunctions

RNG = np.random.default_rng(5)

# Hock & Schittkowski problem 71 (IPOPT's tutorial problem): its published solution
HS071_X = np.array([1.0, 4.74299963, 3.82114998, 1.37940829])
HS071_F = 17.0140173


def hs071():
    x = sd.tensor("x", (4,))
    f = x[0] * x[3] * (x[0] + x[1] + x[2]) + x[2]
    g = sd.stack([x[0] * x[1] * x[2] * x[3], sd.sum(x * x)])
    return x, f, g, dict(lbg=[25.0, 40.0], ubg=[np.inf, 40.0], lbx=1.0, ubx=5.0)


def chained(n):
    """Chained Rosenbrock with trigonometric-exponential constraints (Luksan & Vlcek 1999)."""
    x = sd.tensor("x", (n,))
    f = sd.sum(100 * (x[:-1] ** 2 - x[1:]) ** 2 + (x[:-1] - 1) ** 2)
    a, b, c = x[:-2], x[1:-1], x[2:]
    g = (3 * b ** 3 + 2 * c - 5 + sd.sin(b - c) * sd.sin(b + c) + 4 * b - a * sd.exp(a - b) - 3)
    return x, f, g


def test_trust_constr_solves_hs071():
    x, f, g, bounds = hs071()
    res = sd.optimize.nlp(f, x, np.array([1.0, 5.0, 5.0, 1.0]), g=g, solver="trust-constr", **bounds,
                          options={"gtol": 1e-10, "xtol": 1e-12, "maxiter": 500}, compiled=False)
    assert res.success and res.solver == "trust-constr"
    np.testing.assert_allclose(res.x, HS071_X, rtol=1e-5)
    assert abs(res.fun - HS071_F) < 1e-4             # an interior-point barrier: x to 1e-5
    assert res.g[0] >= 25 - 1e-6 and abs(res.g[1] - 40) < 1e-6
    assert res.calls["hessian"] == 0 and res.timings["gradient"] > 0   # full CSR Hessians for SciPy


def test_ipopt_solves_hs071_in_its_published_iterations():
    pytest.importorskip("cyipopt")
    x, f, g, bounds = hs071()
    res = sd.optimize.nlp(f, x, np.array([1.0, 5.0, 5.0, 1.0]), g=g, solver="ipopt", **bounds, compiled=False)
    assert res.success and res.solver == "ipopt"
    np.testing.assert_allclose(res.x, HS071_X, rtol=1e-7)
    assert abs(res.fun - HS071_F) < 1e-6
    assert res.nit == 8                                # IPOPT's documented run of this problem
    assert res.calls["hessian"] >= res.nit


def test_lagrangian_derivatives_against_finite_differences():
    n = 12
    x, f, g = chained(n)
    F = NLPFunctions(f, x, g, None, compiled=False)
    z = RNG.normal(size=n) * 0.5
    lam, sigma, h = RNG.normal(size=n - 2), 0.7, 1e-6
    E = np.eye(n)
    grad_fd = np.array([(F.objective(z + h * e) - F.objective(z - h * e)) / (2 * h) for e in E])
    np.testing.assert_allclose(F.gradient(z), grad_fd, rtol=1e-6, atol=1e-6)
    J_fd = np.stack([(F.constraints(z + h * e) - F.constraints(z - h * e)) / (2 * h) for e in E], axis=1)
    np.testing.assert_allclose(F.jacobian_csr(z).toarray(), J_fd, rtol=1e-6, atol=1e-6)
    lag_grad = lambda w: sigma * F.gradient(w) + F.jacobian_csr(w).T @ lam
    H_fd = np.stack([(lag_grad(z + h * e) - lag_grad(z - h * e)) / (2 * h) for e in E], axis=1)
    H = F.hessian_full(z, sigma, lam).toarray()
    np.testing.assert_allclose(H, H_fd, rtol=1e-5, atol=1e-5)
    low = np.zeros((n, n))
    low[F.hess_rows, F.hess_cols] = F.hessian(z, sigma, lam)   # IPOPT's lower triangle
    np.testing.assert_allclose(low, np.tril(H), rtol=1e-14, atol=1e-14)
    assert np.all(F.hess_rows >= F.hess_cols)


def test_lagrangian_matches_casadi():
    ca = pytest.importorskip("casadi")
    n = 10
    x, f, g = chained(n)
    F = NLPFunctions(f, x, g, None)                 # compiled kernels
    X = ca.SX.sym("x", n)
    fc = ca.sum1(100 * (X[:-1] ** 2 - X[1:]) ** 2 + (X[:-1] - 1) ** 2)
    a, b, c = X[:-2], X[1:-1], X[2:]
    gc = 3 * b ** 3 + 2 * c - 5 + ca.sin(b - c) * ca.sin(b + c) + 4 * b - a * ca.exp(a - b) - 3
    lam, sig = ca.SX.sym("lam", n - 2), ca.SX.sym("sig")
    Hc = ca.Function("H", [X, sig, lam], [ca.hessian(sig * fc + ca.dot(lam, gc), X)[0]])
    Jc = ca.Function("J", [X], [ca.jacobian(gc, X)])
    z, lv = RNG.normal(size=n) * 0.5, RNG.normal(size=n - 2)
    np.testing.assert_allclose(F.jacobian_csr(z).toarray(), np.array(Jc(z)), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(F.hessian_full(z, 1.3, lv).toarray(), np.array(Hc(z, 1.3, lv)), rtol=1e-12, atol=1e-12)
    # IPOPT's lower triangle, straight from the stencil route's kernel (its diagonals s <= 0)
    assert F.H.route == "stencil"
    low = np.zeros((n, n))
    low[F.hess_rows, F.hess_cols] = F.hessian(z, 1.3, lv)
    np.testing.assert_allclose(low, np.tril(np.array(Hc(z, 1.3, lv))), rtol=1e-12, atol=1e-12)


def test_ipopt_chained_problem_same_iterations_as_casadi():
    pytest.importorskip("cyipopt")
    ca = pytest.importorskip("casadi")
    n = 200
    x, f, g = chained(n)
    x0 = np.full(n, 3.0)
    opts = {"tol": 1e-10}
    res = sd.optimize.nlp(f, x, x0, g=g, solver="ipopt", options=opts)
    assert res.success
    X = ca.SX.sym("x", n)
    fc = ca.sum1(100 * (X[:-1] ** 2 - X[1:]) ** 2 + (X[:-1] - 1) ** 2)
    a, b, c = X[:-2], X[1:-1], X[2:]
    gc = 3 * b ** 3 + 2 * c - 5 + ca.sin(b - c) * ca.sin(b + c) + 4 * b - a * ca.exp(a - b) - 3
    solver = ca.nlpsol("s", "ipopt", {"x": X, "f": fc, "g": gc},
                       {"ipopt": {"print_level": 0, "sb": "yes", **opts}, "print_time": False})
    out = solver(x0=x0, lbg=0, ubg=0)
    assert solver.stats()["success"]
    assert res.nit == solver.stats()["iter_count"]
    np.testing.assert_allclose(res.x, np.array(out["x"]).ravel(), rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(res.fun, float(out["f"]), rtol=1e-9)


def test_unconstrained_and_bounds_only():
    x = sd.tensor("x", (2, 3))
    f = sd.sum((x - np.arange(6.0).reshape(2, 3)) ** 2)
    res = sd.optimize.nlp(f, x, np.zeros((2, 3)), ubx=2.5, solver="trust-constr", compiled=False)
    assert res.x.shape == (2, 3)
    np.testing.assert_allclose(res.x, np.minimum(np.arange(6.0), 2.5).reshape(2, 3), atol=1e-4)
    try:
        import cyipopt  # noqa: F401
    except ImportError:
        return
    res = sd.optimize.nlp(f, x, np.zeros((2, 3)), ubx=2.5, solver="ipopt", compiled=False)
    np.testing.assert_allclose(res.x, np.minimum(np.arange(6.0), 2.5).reshape(2, 3), atol=1e-7)


def test_nlp_errors():
    x, f, g, bounds = hs071()
    with pytest.raises(sd.InputError, match="solver"):
        sd.optimize.nlp(f, x, np.ones(4), g=g, solver="snopt")
    with pytest.raises(sd.InputError, match="lbg has shape"):
        sd.optimize.nlp(f, x, np.ones(4), g=g, lbg=[1, 2, 3], solver="trust-constr", compiled=False)
    with pytest.raises(sd.InputError, match="lbx > ubx"):
        sd.optimize.nlp(f, x, np.ones(4), g=g, lbx=2, ubx=1, solver="trust-constr", compiled=False)
    with pytest.raises(sd.InputError, match="without constraints"):
        sd.optimize.nlp(f, x, np.ones(4), lbg=0, solver="trust-constr", compiled=False)
    with pytest.raises(sd.InputError, match="x0 has shape"):
        sd.optimize.nlp(f, x, np.ones(5), g=g, solver="trust-constr", compiled=False)
    with pytest.raises(sd.SymdiffError, match="scalar"):
        sd.optimize.nlp(g, x, np.ones(4), solver="trust-constr", compiled=False)
