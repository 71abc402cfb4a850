"""Porting published NumPy code: change the import line, get gradients, Hessians and Numba.

The objective below is SciPy's ``scipy.optimize.rosen`` as published (its NumPy body, line for
line). The only change is the import: ``import numpy as np`` became ``import symdiff.numpy as np``.
symdiff then derives the gradient and the Hessian symbolically, and the script checks them against
SciPy's own hand-written ``rosen_der`` and ``rosen_hess`` (an independent route), compiles
value + gradient + Hessian-vector product, and minimises with SciPy's Newton-CG.

Run: python examples/port_numpy_objective.py
"""
import numpy
import scipy.optimize

import symdiff as sd
import symdiff.numpy as np  # was: import numpy as np


def rosen(x):  # scipy.optimize.rosen
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2.0) ** 2.0 + (1 - x[:-1]) ** 2.0, axis=0)


def main() -> None:
    x = sd.vector("x", "n")  # one graph for every length n: x[1:] has length n - 1
    f = rosen(x)
    g = sd.grad(f, x)
    print("gradient graph:")
    sd.dprint(g)

    x0 = numpy.random.default_rng(0).uniform(-1.2, 1.2, 50)
    fv, gv = sd.evaluate([f, g], {x: x0})
    print(f"f(x0) = {fv:.6f} (SciPy: {scipy.optimize.rosen(x0):.6f})")
    print("gradient vs SciPy's rosen_der:", numpy.max(numpy.abs(gv - scipy.optimize.rosen_der(x0))))
    H = sd.hessian(f, x, sparse=True)({x: x0}).toarray()
    print("sparse Hessian vs SciPy's rosen_hess:", numpy.max(numpy.abs(H - scipy.optimize.rosen_hess(x0))))
    assert numpy.isclose(fv, scipy.optimize.rosen(x0), rtol=1e-13)
    assert numpy.allclose(gv, scipy.optimize.rosen_der(x0), rtol=1e-12)
    assert numpy.allclose(H, scipy.optimize.rosen_hess(x0), rtol=1e-12)

    v = sd.vector("v", "n")
    fg = sd.function([x], [f, g])
    hvp = sd.function([x, v], sd.hvp(f, x, v))
    res = scipy.optimize.minimize(lambda z: fg(z)[0], x0, jac=lambda z: fg(z)[1],
                                  hessp=lambda z, p: hvp(z, p), method="Newton-CG",
                                  options={"xtol": 1e-10})
    print(f"Newton-CG with compiled derivatives: f = {res.fun:.3e} after {res.nit} iterations")
    assert res.fun < 1e-10


if __name__ == "__main__":
    main()
