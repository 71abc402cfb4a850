"""``symdiff.scipy.linalg``: SciPy's triangular and Cholesky solvers (and the decompositions) on
symdiff nodes, under SciPy's names and signatures."""
from __future__ import annotations

from ..ops.decomp import (  # noqa: F401
    cho_factor, cho_solve, cholesky, det, eigh, inv, pinv, qr, solve, solve_triangular, svd,
)

__all__ = ["cho_factor", "cho_solve", "cholesky", "det", "eigh", "inv", "pinv", "qr", "solve",
           "solve_triangular", "svd"]
