"""Extended Rosenbrock (n = 1000) by Newton-CG with symbolic Hessian-vector products.

scipy's Newton-CG gets the compiled loss, gradient and ``hessp`` (H v by reverse-over-reverse,
never forming H). The sparse Hessian (tridiagonal, derived from the graph) is shown too.

Run:  python examples/rosenbrock_newton_cg.py
"""
import time

import numpy as np

import symdiff as sd

n = 1000
x = sd.tensor("x", (n,))
f = sd.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)

# the start of scipy's Newton-CG tutorial, tiled to n entries (from far-away starts such as
# (-1.2, 1, -1.2, ...) the chained problem needs thousands of iterations with any Newton-CG)
x0 = np.resize([1.3, 0.7, 0.8, 1.9, 1.2], n)

t0 = time.perf_counter()
res = sd.optimize.minimize(f, x, x0, method="newton-cg", tol=1e-10, maxiter=500)
elapsed = time.perf_counter() - t0
err = float(np.max(np.abs(res.x - 1)))
print(f"Newton-CG: {res.nit} iterations, {res.nhev} Hessian-vector products, f = {res.fun:.3e}, "
      f"max |x - 1| = {err:.2e} ({elapsed:.2f} s including compilation)")

H = sd.hessian(f, x, sparse=True)
print(f"sparse Hessian: {H} -> at the minimum: {H({x: res.x}).nnz} stored entries")
assert res.success and err < 1e-6
