"""A NumPy-style model (the README's quick tour): a negative-binomial GLM written with
``symdiff.numpy`` and ``symdiff.scipy.special``, its gradient and Hessian compiled into one
kernel, the value checked against ``scipy.stats.nbinom`` and the Hessian against finite
differences of the gradient, then fitted with SciPy's trust-region Newton method (trust-exact).

Run: python examples/numpy_model.py
"""
import numpy
import scipy.optimize
import scipy.stats

import symdiff as sd
import symdiff.numpy as np                  # was: import numpy as np
from symdiff.scipy.special import gammaln   # was: from scipy.special import gammaln


def negative_binomial_nll(theta, counts, X):
    beta, log_r = theta[:-1], theta[-1]
    mu, r = np.exp(X @ beta), np.exp(log_r)
    ll = (gammaln(counts + r) - gammaln(r) - gammaln(counts + 1)
          + r * np.log(r / (r + mu)) + counts * np.log(mu / (r + mu)))
    return -np.sum(ll) + 0.5 * np.sum(beta[1:] ** 2)


def main() -> None:
    X = sd.tensor("X", ("n", 4))
    counts = sd.vector("counts", "n")
    theta = sd.vector("theta", 5)
    f = negative_binomial_nll(theta, counts, X)
    g = sd.grad(f, theta)
    H = sd.hessian(f, theta)
    fgH = sd.function([theta, counts, X], [f, g, H])

    rng = numpy.random.default_rng(0)
    Xv = numpy.column_stack([numpy.ones(500), rng.standard_normal((500, 3))])
    true = numpy.array([1.0, 0.5, -0.3, 0.2, numpy.log(2.0)])
    mu = numpy.exp(Xv @ true[:-1])
    r = numpy.exp(true[-1])
    cv = rng.negative_binomial(r, r / (r + mu)).astype(float)

    t0 = numpy.full(5, 0.1)
    fv, gv, Hv = fgH(t0, cv, Xv)
    p = numpy.exp(t0[-1]) / (numpy.exp(t0[-1]) + numpy.exp(Xv @ t0[:-1]))
    ref = -scipy.stats.nbinom.logpmf(cv, numpy.exp(t0[-1]), p).sum() + 0.5 * numpy.sum(t0[1:-1] ** 2)
    print(f"f = {fv:.10f} (scipy.stats.nbinom: {ref:.10f})")
    assert numpy.isclose(fv, ref, rtol=1e-12)
    eps = 1e-6
    num = numpy.array([(fgH(t0 + eps * e, cv, Xv)[1] - fgH(t0 - eps * e, cv, Xv)[1]) / (2 * eps) for e in numpy.eye(5)])
    print("Hessian vs finite differences of the gradient:", numpy.max(numpy.abs(Hv - num)))
    assert numpy.allclose(Hv, num, rtol=1e-6, atol=1e-4)

    res = scipy.optimize.minimize(lambda z: fgH(z, cv, Xv)[0], t0, method="trust-exact",
                                  jac=lambda z: fgH(z, cv, Xv)[1], hess=lambda z: fgH(z, cv, Xv)[2],
                                  options={"gtol": 1e-9})
    print(f"trust-exact with the compiled Hessian: {res.nit} iterations, "
          f"theta = {numpy.round(res.x, 3)} (true {numpy.round(true, 3)})")
    assert res.success and numpy.max(numpy.abs(fgH(res.x, cv, Xv)[1])) < 1e-6


if __name__ == "__main__":
    main()
