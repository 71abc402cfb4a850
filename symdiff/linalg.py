"""``symdiff.linalg`` (also ``symdiff.numpy.linalg``): NumPy's ``numpy.linalg`` and the solvers
of ``scipy.linalg`` on symdiff nodes, with gradients from the matrix-calculus identities."""
from __future__ import annotations

from .ops.contract import *  # noqa: F401,F403
from .ops.decomp import *  # noqa: F401,F403
from .ops.linalg import matmul, outer  # noqa: F401


def norm(x, ord=None, axis=None, keepdims: bool = False):
    """``numpy.linalg.norm`` (vector and matrix norms)."""
    from .ops import statistics

    return statistics.norm(x, ord=ord, axis=axis, keepdims=keepdims)
