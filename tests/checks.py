"""Checks several test files share."""
import numpy as np
import scipy.sparse as sp

import symdiff as sd


def rosenbrock(x):
    """Extended (chained) Rosenbrock of a symdiff vector."""
    return sd.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def rosenbrock_hessian(xv) -> sp.csr_matrix:
    """The hand-written tridiagonal Hessian of extended Rosenbrock."""
    d = np.zeros_like(xv)
    d[:-1] += 1200 * xv[:-1] ** 2 - 400 * xv[1:] + 2
    d[1:] += 200
    off = -400 * xv[:-1]
    return sp.diags([off, d, off], [-1, 0, 1], format="csr")


def checked_sparse_pattern(f, x, xv):
    """The sparse Hessian's pattern (a dense bool array), after checking its values against the
    dense Hessian at ``xv`` (NumPy evaluation, no compile)."""
    H = sd.hessian(f, x, sparse=True)
    H.compiled = False
    Hs = H({x: xv})
    dense = sd.evaluate(sd.hessian(f, x), {x: xv}).reshape(Hs.shape)
    np.testing.assert_allclose(Hs.toarray(), dense, rtol=1e-12, atol=1e-12)
    return H.pattern.toarray()
