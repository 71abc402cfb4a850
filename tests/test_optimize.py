"""sd.optimize.minimize: Newton, gradient descent with momentum, and the scipy adapter."""
import numpy as np
import pytest

import symdiff as sd

RNG = np.random.default_rng(11)


def logistic_problem(n=120, d=5, lam=1e-3, seed=0):
    rng = np.random.default_rng(seed)
    Xv = rng.normal(size=(n, d))
    yv = (Xv @ rng.normal(size=d) + 0.5 * rng.normal(size=n) > 0) * 1.0
    X = sd.tensor("X", ("n", d))
    y = sd.tensor("y", ("n",))
    w = sd.tensor("w", (d,))
    b = sd.scalar("b")
    loss = sd.mean(sd.softplus(-(2 * y - 1) * (X @ w + b))) + lam * sd.sum(w * w)
    return loss, w, b, X, y, Xv, yv


def rosenbrock(x):
    return sd.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def test_newton_logistic_regression_converges_fast():
    loss, w, b, X, y, Xv, yv = logistic_problem()
    res = sd.optimize.minimize(loss, [w, b], [np.zeros(5), 0.0], method="newton",
                               inputs={X: Xv, "y": yv}, compiled=False)
    assert res.success and res.nit <= 15
    assert np.sqrt(np.sum(res.jac[0] ** 2) + res.jac[1] ** 2) < 1e-8
    assert isinstance(res.x, list) and res.x[0].shape == (5,) and np.ndim(res.x[1]) == 0
    # agrees with scipy's L-BFGS-B through the adapter
    ref = sd.optimize.minimize(loss, [w, b], [np.zeros(5), 0.0], method="L-BFGS-B",
                               inputs={X: Xv, y: yv}, tol=1e-12, compiled=False)
    np.testing.assert_allclose(res.x[0], ref.x[0], atol=1e-5)
    assert res.fun <= ref.fun + 1e-12


def test_newton_compiled_path():
    """The default compiles with sd.function when it exists (else evaluates with NumPy)."""
    x = sd.tensor("x", (2,))
    res = sd.optimize.minimize(rosenbrock(x), x, np.array([-1.2, 1.0]), method="newton")
    assert res.success
    np.testing.assert_allclose(res.x, [1.0, 1.0], atol=1e-8)


def test_newton_handles_indefinite_hessians():
    """Starting where the Hessian is indefinite, steps stay descent directions."""
    x = sd.tensor("x", (2,))
    f = sd.sum(x ** 4) - sd.sum(x * x) + 0.5 * x[0] * x[1]
    start = np.array([0.1, -0.05])                  # near the saddle at 0: H has negative eigenvalues
    seen = []
    res = sd.optimize.minimize(f, x, start, method="newton", compiled=False,
                               callback=lambda xk: seen.append(float(sd.evaluate(f, {x: xk}))))
    assert res.success and np.linalg.norm(res.jac) < 1e-8
    assert all(b <= a + 1e-15 for a, b in zip(seen, seen[1:]))
    H = sd.evaluate(sd.hessian(f, x), {x: res.x})
    assert np.all(np.linalg.eigvalsh(H) > 0)        # a minimum, not the saddle


def test_newton_rosenbrock_2d():
    x = sd.tensor("x", (2,))
    res = sd.optimize.minimize(rosenbrock(x), x, np.array([-1.2, 1.0]), method="newton", compiled=False)
    assert res.success and res.nit < 40
    np.testing.assert_allclose(res.x, [1.0, 1.0], atol=1e-8)


def test_gradient_descent_and_momentum():
    """The seed notes' heavy ball: momentum reaches the minimum of an ill-conditioned quadratic
    in far fewer steps than plain gradient descent with the same learning rate."""
    x = sd.tensor("x", (2,))
    A = np.diag([1.0, 20.0])
    f = 0.5 * (x @ sd.constant(A) @ x) - sd.sum(x)
    opt = np.linalg.solve(A, np.ones(2))
    gd = sd.optimize.minimize(f, x, np.zeros(2), method="gd", options={"lr": 0.04}, tol=1e-6, compiled=False)
    mom = sd.optimize.minimize(f, x, np.zeros(2), method="momentum", options={"lr": 0.04, "beta": 0.8},
                               tol=1e-6, compiled=False)
    assert gd.success and mom.success
    np.testing.assert_allclose(gd.x, opt, atol=1e-5)
    np.testing.assert_allclose(mom.x, opt, atol=1e-5)
    assert mom.nit < gd.nit / 2
    diverged = sd.optimize.minimize(f, x, np.zeros(2), method="gd", options={"lr": 1.0}, maxiter=2000, compiled=False)
    assert not diverged.success


@pytest.mark.parametrize("method", ["trust-exact", "trust-ncg", "trust-krylov", "newton-cg", "l-bfgs-b", "bfgs"])
def test_scipy_methods_rosenbrock(method):
    n = 10
    x = sd.tensor("x", (n,))
    res = sd.optimize.minimize(rosenbrock(x), x, np.full(n, -0.5), method=method, tol=1e-10,
                               maxiter=2000, compiled=False)
    assert res.success, res.message
    np.testing.assert_allclose(res.x, np.ones(n), atol=1e-4)
    assert res.x.shape == (n,)


def test_hessp_is_the_hessian_vector_product():
    loss, w, b, X, y, Xv, yv = logistic_problem()
    from symdiff.optimize import _Problem

    prob = _Problem(loss, [w, b], [np.zeros(5), 0.0], {X: Xv, y: yv}, compiled=False)
    z = RNG.normal(size=6)
    p = RNG.normal(size=6)
    np.testing.assert_allclose(prob.hessp(z, p), prob.hess(z) @ p, rtol=1e-12, atol=1e-14)


def test_bad_input():
    loss, w, b, X, y, Xv, yv = logistic_problem()
    with pytest.raises(sd.InputError, match="y"):
        sd.optimize.minimize(loss, [w, b], [np.zeros(5), 0.0], inputs={X: Xv}, compiled=False)
    with pytest.raises(sd.InputError, match="x0"):
        sd.optimize.minimize(loss, [w, b], [np.zeros(5), 0.0], inputs={X: Xv, y: yv, w: np.ones(5)}, compiled=False)
    with pytest.raises(sd.ShapeError):
        sd.optimize.minimize(loss, [w, b], [np.zeros(4), 0.0], inputs={X: Xv, y: yv}, compiled=False)
    with pytest.raises(sd.SymdiffError, match="unknown method"):
        sd.optimize.minimize(loss, [w, b], [np.zeros(5), 0.0], method="magic", inputs={X: Xv, y: yv}, compiled=False)
    with pytest.raises(sd.SymdiffError, match="scalar"):
        sd.optimize.minimize(X @ w, w, np.zeros(5), inputs={X: Xv}, compiled=False)
