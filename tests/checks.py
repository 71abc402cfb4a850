"""Checks several test files share."""
import numpy as np

import symdiff as sd


def checked_sparse_pattern(f, x, xv):
    """The sparse Hessian's pattern (a dense bool array), after checking its values against the
    dense Hessian at ``xv`` (NumPy evaluation, no compile)."""
    H = sd.hessian(f, x, sparse=True)
    H.compiled = False
    Hs = H({x: xv})
    dense = sd.evaluate(sd.hessian(f, x), {x: xv}).reshape(Hs.shape)
    np.testing.assert_allclose(Hs.toarray(), dense, rtol=1e-12, atol=1e-12)
    return H.pattern.toarray()
