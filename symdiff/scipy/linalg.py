"""``symdiff.scipy.linalg``: ``scipy.linalg``'s solvers and decompositions on symdiff nodes, with
SciPy's names, signatures and defaults (which differ from ``numpy.linalg``'s: ``cholesky`` gives
the upper factor unless ``lower=True``, ``qr`` defaults to ``mode='full'``)."""
from __future__ import annotations

from ..errors import SymdiffError
from ..graph import Node
from ..ops import decomp as _d
from ..ops.decomp import cho_factor, cho_solve, det, inv, solve_triangular  # noqa: F401  (SciPy's signatures)
from ..ops.structure import swapaxes as _swapaxes

__all__ = ["cho_factor", "cho_solve", "cholesky", "det", "eigh", "inv", "pinv", "qr", "solve",
           "solve_triangular", "svd"]


def _refuse(name: str, **given) -> None:
    bad = [k for k, v in given.items() if v]
    if bad:
        raise SymdiffError(f"scipy.linalg.{name}: {', '.join(bad)} is not supported by symdiff")


def cholesky(a, lower: bool = False, overwrite_a: bool = False, check_finite: bool = True) -> Node:
    """``scipy.linalg.cholesky``: the upper factor U (``a = U^T U``) unless ``lower=True``."""
    return _d.cholesky(a) if lower else _d.cholesky(a, upper=True)


def solve(a, b, lower: bool = False, overwrite_a: bool = False, overwrite_b: bool = False,
          check_finite: bool = True, assume_a: str | None = None, transposed: bool = False) -> Node:
    """``scipy.linalg.solve``: ``x`` with ``a @ x = b`` (``a.T @ x = b`` when ``transposed``)."""
    return _d.solve(_swapaxes(a, -1, -2) if transposed else a, b)


def eigh(a, b=None, *, lower: bool = True, eigvals_only: bool = False, overwrite_a: bool = False,
         overwrite_b: bool = False, type: int = 1, check_finite: bool = True, subset_by_index=None,
         subset_by_value=None, driver=None):
    """``scipy.linalg.eigh`` of a symmetric matrix: eigenvalues ascending (and eigenvectors)."""
    _refuse("eigh", b=b is not None, subset_by_index=subset_by_index is not None,
            subset_by_value=subset_by_value is not None)
    uplo = "L" if lower else "U"
    if eigvals_only:
        return _d.eigvalsh(a, UPLO=uplo)
    w, v = _d.eigh(a, UPLO=uplo)
    return w, v


def svd(a, full_matrices: bool = True, compute_uv: bool = True, overwrite_a: bool = False,
        check_finite: bool = True, lapack_driver: str = "gesdd"):
    """``scipy.linalg.svd``: ``(U, s, Vh)``, or ``s`` with ``compute_uv=False``."""
    return _d.svd(a, full_matrices=full_matrices, compute_uv=compute_uv)


def qr(a, overwrite_a: bool = False, lwork=None, mode: str = "full", pivoting: bool = False,
       check_finite: bool = True):
    """``scipy.linalg.qr``: modes 'full' (the default), 'economic' and 'r'."""
    _refuse("qr", pivoting=pivoting)
    if mode == "economic":
        return _d.qr(a, mode="reduced")
    if mode == "full":
        return _d.qr(a, mode="complete")
    if mode == "r":  # SciPy's R has a's rows (zeros below the reduced R)
        r = _d.qr(a, mode="r")
        rows, cols = a.shape[-2], a.shape[-1]
        if isinstance(rows, int) and isinstance(cols, int) and rows > cols:
            from ..ops.elementwise import zeros
            from ..ops.structure import concatenate

            r = concatenate([r, zeros((*r.shape[:-2], rows - cols, cols), r.dtype)], axis=-2)
        return (r,)
    raise SymdiffError(f"scipy.linalg.qr: mode must be 'full', 'economic' or 'r', got {mode!r}")


def pinv(a, *, atol=None, rtol=None, return_rank: bool = False, check_finite: bool = True) -> Node:
    """``scipy.linalg.pinv`` (``atol`` and ``return_rank`` are not supported)."""
    _refuse("pinv", atol=atol is not None, return_rank=return_rank)
    return _d.pinv(a) if rtol is None else _d.pinv(a, rtol=rtol)
