"""Matrix decompositions and solvers: solve, inv, det, slogdet, cholesky, eigh, svd, qr,
solve_triangular, cho_factor/cho_solve and pinv, with NumPy's / SciPy's names and signatures.

Every op takes stacks of matrices ``(..., m, n)`` (leading batch dims, broadcast between the
operands of ``solve`` and ``solve_triangular`` as NumPy does) and declares its rules in its class:

* ``perform``: NumPy / SciPy;
* ``bprop``: the matrix-calculus identities, written with symdiff ops (these ops included), so
  that gradients of gradients (Hessians) work;
* ``lower``: a loop over the batch dims calling a small ``@njit(cache=True)`` helper per matrix
  (the helpers at the end of this module; generated kernels reach them as ``_decomp._inv(...)``
  through ``symdiff.compiler.runtime``). The helpers call Numba's LAPACK-backed ``np.linalg``
  and are compiled once per signature and cached on disk, so a new kernel only links them;
* ``batch``: the op applied to the batched inputs (the batch axis is one more leading dim);
* ``pattern``: every output entry of a matrix depends on every entry of the matching input
  matrix; different matrices of a batch do not mix.

Multi-output decompositions (``eigh``, ``svd``, ``qr``, ``slogdet``) give **one node per
output**: ``eigh(a)`` is the pair of nodes ``Eigvalsh()(a)`` and ``EighVectors()(a)``. Each
node runs the factorisation itself, so evaluating both outputs factorises twice (and the
eigenvalue / singular-value nodes use LAPACK's cheaper values-only drivers, as
``eigvalsh``/``svdvals`` do). In exchange each output's gradient rule stands alone: an output
that is not used costs nothing in the gradient (no zero cotangent is multiplied through the
whole formula) and, for example, the gradient of the eigenvalues alone does not divide by
eigenvalue gaps. Nodes are values: the same output asked for twice is one node after the
compiler merges common subexpressions.

Inputs that hold NaN or inf: where NumPy returns NaN (solve, inv, det, slogdet, cholesky, qr)
the compiled helpers return NaN too; where NumPy raises ``LinAlgError`` (eigh, svd, pinv) so do
they. Singular matrices raise ``numpy.linalg.LinAlgError`` on both routes.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from .. import patterns
from ..batching import lift
from ..errors import GradError, ShapeError
from ..graph import Node, as_node
from ..types import broadcast_shapes, concrete_shape, format_shape, result_dtype
from .base import Op
from ..compiler.lazyjit import LazyAttribute, njit  # Numba is imported when a kernel needs these

__all__ = [
    "solve", "inv", "det", "slogdet", "cholesky", "eigh", "eigvalsh", "svd", "svdvals", "qr",
    "solve_triangular", "cho_factor", "cho_solve", "pinv",
]

EighResult = namedtuple("EighResult", ["eigenvalues", "eigenvectors"])
SVDResult = namedtuple("SVDResult", ["U", "S", "Vh"])
QRResult = namedtuple("QRResult", ["Q", "R"])
SlogdetResult = namedtuple("SlogdetResult", ["sign", "logabsdet"])


# ---------------------------------------------------------------------------------------------
# Small symbolic helpers used by the gradient rules
# ---------------------------------------------------------------------------------------------
def _mT(x: Node) -> Node:
    """The matrices of ``x`` transposed (the last two axes swapped)."""
    from .structure import swapaxes

    return swapaxes(x, -1, -2)


def _col(v: Node) -> Node:
    """A stack of vectors ``(..., n)`` as columns ``(..., n, 1)``."""
    from .structure import expand_dims

    return expand_dims(v, -1)


def _row(v: Node) -> Node:
    """A stack of vectors ``(..., n)`` as rows ``(..., 1, n)``."""
    from .structure import expand_dims

    return expand_dims(v, -2)


def _sym(x: Node) -> Node:
    """The symmetric part ``(x + x^T) / 2`` (gradients of ops that read a symmetric input)."""
    return 0.5 * (x + _mT(x))


def _safe_recip(x: Node) -> Node:
    """``1 / x`` where ``x != 0`` and 0 where ``x == 0``, with finite derivatives everywhere."""
    from .elementwise import equal, where

    zero = equal(x, 0.0)
    return where(zero, 0.0, 1.0 / where(zero, 1.0, x))


def _gap_matrix(w: Node, square: bool = False) -> Node:
    """``F[..., i, j] = 1 / (w_j - w_i)`` off the diagonal (of ``w**2`` if ``square``), 0 where
    the values coincide (the diagonal): the eigenvector / singular-vector coupling matrix."""
    if square:
        w = w * w
    return _safe_recip(_row(w) - _col(w))


def _unbroadcast(g: Node, like: Node) -> Node:
    from .elementwise import unbroadcast

    return unbroadcast(g, like)


def _square(op: str, a: Node, what: str = "a") -> None:
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ShapeError(f"{op}: {what} must be square matrices (..., n, n), got shape {format_shape(a.shape)}")


def _same_square(op: str, a: Node):
    """The shape rule of ops from square matrices to matrices of the same shape."""
    _square(op, a)
    return a.shape, result_dtype(a.dtype)


def _matrices(op: str, a: Node, what: str = "a") -> None:
    if a.ndim < 2:
        raise ShapeError(f"{op}: {what} must be matrices (..., m, n), got shape {format_shape(a.shape)}")


def _static_dims(a: Node) -> tuple | None:
    """The (m, n) of the matrices of ``a`` when both are static ints, else ``None``."""
    m, n = a.shape[-2:]
    return (m, n) if isinstance(m, int) and isinstance(n, int) else None


# ---------------------------------------------------------------------------------------------
# The family: lowering, batching and pattern rules shared by every op here
# ---------------------------------------------------------------------------------------------
class _Linalg(Op):
    """Base of the ops on stacks of matrices.

    ``helper`` names the Numba helper (end of this module) that computes one matrix's result:
    it returns a scalar result and writes a vector or matrix result into its last argument.
    ``out_core`` (``core_out(node)``) is the number of trailing dims of one result (2 for a
    matrix, 1 for a vector, 0 for a scalar); ``cores(node)`` gives the trailing dims that make
    one matrix (or vector) of each input.
    """

    helper = ""
    out_core = 2

    def cores(self, node: Node) -> tuple:
        return (2,) * len(node.inputs)

    def core_out(self, node: Node) -> int:
        return self.out_core

    def helper_args(self) -> list[str]:
        """Extra literal arguments of the helper (op parameters)."""
        return []

    # -- Numba lowering ---------------------------------------------------------------------
    def lower(self, ctx, node, args, out):
        """A loop over the batch dims calling the helper once per matrix."""
        from ..compiler.codegen import dtype_expr

        nb = node.ndim - self.core_out(node)
        batch = node.shape[:nb]
        idx = [f"j{k}" for k in range(nb)]
        lines, subs = [], []
        for k, (v, arg, core) in enumerate(zip(node.inputs, args, self.cores(node))):
            if v.dtype != node.dtype:  # the LAPACK helpers take operands of one dtype
                lines.append(f"{out}_in{k} = {arg}.astype({dtype_expr(node.dtype)})")
                arg = f"{out}_in{k}"
            lead = v.ndim - core  # the input's batch dims, aligned to the right of the result's
            parts = ["0" if v.shape[i] == 1 and batch[nb - lead + i] != 1 else idx[nb - lead + i] for i in range(lead)]
            # C-contiguous operands (a no-op for most): one helper signature per dtype, not per layout
            subs.append(f"np.ascontiguousarray({arg}[{', '.join(parts)}])" if parts else f"np.ascontiguousarray({arg})")
        target = f"{out}[{', '.join(idx)}]" if idx else out
        if self.core_out(node) == 0:
            call = f"{target} = _decomp.{self.helper}({', '.join(subs + self.helper_args())})"
            if not idx:
                return lines + [call]
            lines.append(f"{out} = _empty({ctx.shape_expr(node.shape)}, {dtype_expr(node.dtype)})")
        else:
            lines.append(f"{out} = _empty({ctx.shape_expr(node.shape)}, {dtype_expr(node.dtype)})")
            call = f"_decomp.{self.helper}({', '.join(subs + self.helper_args() + [target])})"
            if not idx:
                return lines + [call]
        indent = ""
        for k, d in enumerate(batch):
            lines.append(f"{indent}for {idx[k]} in range({ctx.dim(d)}):")
            indent += "    "
        lines.append(f"{indent}{call}")
        return lines

    # -- vmap -------------------------------------------------------------------------------
    def batch(self, node, args, flags, B):
        """The op accepts leading batch dims: apply it to the batched input."""
        return self.make(*args)

    # -- sparsity ---------------------------------------------------------------------------
    def pattern(self, node, pats, shapes, dims):
        """Each output matrix depends on all entries of the input matrices of the same batch
        index (broadcast), and on nothing else."""
        return _batched_dense(node, pats, shapes, dims, self.cores(node), self.core_out(node))


def _batched_dense(node, pats, shapes, dims, cores, out_core):
    """The pattern rule of ``_Linalg``: dense within a batch element, block-diagonal across."""
    out_shape = concrete_shape(node.shape, dims)
    nb = len(out_shape) - out_core
    out_batch = out_shape[:nb]
    n_groups = patterns.size(out_batch)
    mats = []
    for P, shape, core in zip(pats, shapes, cores):
        if P is None:
            continue
        lead = len(shape) - core
        in_batch = tuple(shape[:lead])
        group = np.repeat(np.arange(patterns.size(in_batch)), patterns.size(shape[lead:]))
        per_matrix = patterns.gather(group, np.arange(group.size), patterns.size(in_batch), P)
        padded = patterns.arange(in_batch).reshape((1,) * (nb - lead) + in_batch)
        mats.append(patterns.rows(per_matrix, np.broadcast_to(padded, out_batch)))
    per_group = patterns.union(mats)
    if per_group is None:
        return None
    return patterns.rows(per_group, np.repeat(np.arange(n_groups), patterns.size(out_shape[nb:])))


def _batch_solve_like(op: Op, node: Node, args, flags, B) -> Node:
    """Batching rule of ``solve(a, b)``-like ops: a vector ``b`` that gains a batch axis becomes
    a stack of one-column matrices; batched inputs are lifted so batch dims stay aligned."""
    from .structure import index

    a, b = node.inputs
    nb = node.ndim - (1 if b.ndim == 1 else 2)  # batch dims of the unbatched result
    xa, xb = args
    fa, fb = flags
    if b.ndim == 1:
        if not fb:  # still one vector: the op broadcasts it against every batched matrix
            return op.make(xa, xb)
        xb = lift(_col(xb), nb + 2)
        if fa:
            xa = lift(xa, nb + 2)
        return index(op.make(xa, xb), (Ellipsis, 0))
    if fa:
        xa = lift(xa, nb + 2)
    if fb:
        xb = lift(xb, nb + 2)
    return op.make(xa, xb)


# ---------------------------------------------------------------------------------------------
# solve, inv, det, slogdet
# ---------------------------------------------------------------------------------------------
def _solve_shape(op: str, a: Node, b: Node) -> tuple:
    """The result shape of ``solve(a, b)``: NumPy 2's rule (``b`` is a vector only if 1-d)."""
    _square(op, a)
    n = a.shape[-1]
    if b.ndim == 1:
        if b.shape[0] != n:
            raise ShapeError(f"{op}: a of shape {format_shape(a.shape)} and b of shape {format_shape(b.shape)} do not fit (b needs length {n!r})")
        return a.shape[:-1]
    if b.ndim == 0:
        raise ShapeError(f"{op}: b must be a vector (n,) or matrices (..., n, k), got a scalar")
    if b.shape[-2] != n:
        raise ShapeError(
            f"{op}: a of shape {format_shape(a.shape)} and b of shape {format_shape(b.shape)} do not fit "
            f"(b needs {n!r} rows; a stack of vectors must be given as (..., n, 1))"
        )
    try:
        batch = broadcast_shapes(op, a.shape[:-2], b.shape[:-2])
    except ShapeError:
        raise ShapeError(f"{op}: the batch dims of a {format_shape(a.shape)} and b {format_shape(b.shape)} do not broadcast") from None
    return batch + (n, b.shape[-1])


def _solve_vectors(solver, a: Node, v: Node, single: bool) -> Node:
    """``solver(a, v)`` where ``v`` holds vectors along its last axis (batched like ``a``'s
    matrices when ``single`` is False)."""
    from .structure import index

    if single or v.ndim == 1:
        return solver(a, v)
    return index(solver(a, _col(v)), (Ellipsis, 0))


class Solve(_Linalg):
    """``np.linalg.solve(a, b)``: ``x`` with ``a @ x = b``."""

    name, helper = "solve", "_solve"

    def cores(self, node):
        return (2, 1 if node.inputs[1].ndim == 1 else 2)

    def core_out(self, node):
        return 1 if node.inputs[1].ndim == 1 else 2

    def infer(self, a, b):
        return _solve_shape("solve", a, b), result_dtype(a.dtype, b.dtype)

    def perform(self, values, node, dims):
        return np.linalg.solve(*values)

    def bprop(self, inputs, output, D):
        a, b = inputs
        x = output
        if b.ndim == 1:
            gb = _solve_vectors(solve, _mT(a), D, a.ndim == 2)
            ga = -(_col(gb) * _row(x))
        else:
            gb = solve(_mT(a), D)
            ga = -(gb @ _mT(x))
        return [_unbroadcast(ga, a), _unbroadcast(gb, b)]

    def batch(self, node, args, flags, B):
        return _batch_solve_like(self, node, args, flags, B)


def solve(a, b) -> Node:
    """``np.linalg.solve``: the solution of ``a @ x = b`` (``b`` a vector ``(n,)`` or matrices
    ``(..., n, k)``; batch dims broadcast)."""
    return Solve()(as_node(a), as_node(b))


class Inv(_Linalg):
    """``np.linalg.inv``."""

    name, helper = "inv", "_inv"

    def infer(self, a):
        return _same_square("inv", a)

    def perform(self, values, node, dims):
        return np.linalg.inv(values[0])

    def bprop(self, inputs, output, D):
        yt = _mT(output)
        return [-(yt @ D @ yt)]


def inv(a) -> Node:
    """``np.linalg.inv``: the inverse of each square matrix of ``a``."""
    return Inv()(as_node(a))


class Det(_Linalg):
    """``np.linalg.det``."""

    name, helper, out_core = "det", "_det", 0

    def infer(self, a):
        _square("det", a)
        return a.shape[:-2], result_dtype(a.dtype)

    def perform(self, values, node, dims):
        return np.linalg.det(values[0])

    def bprop(self, inputs, output, D):
        (a,) = inputs
        scale = _col(_col(D * output))
        return [scale * _mT(inv(a))]


def det(a) -> Node:
    """``np.linalg.det``: the determinant of each square matrix of ``a``."""
    return Det()(as_node(a))


class _Slogdet(_Linalg):
    """One output of ``np.linalg.slogdet`` (``part`` 0: the sign, 1: log|det|)."""

    out_core, part = 0, 0

    def infer(self, a):
        _square("slogdet", a)
        return a.shape[:-2], result_dtype(a.dtype)

    def perform(self, values, node, dims):
        return np.linalg.slogdet(values[0])[self.part]


class SlogdetSign(_Slogdet):
    """The sign of the determinant: piecewise constant, so no gradient and no pattern."""

    name, helper, part = "slogdet_sign", "_slogdet_sign", 0

    def bprop(self, inputs, output, D):
        return [None]

    def pattern(self, node, pats, shapes, dims):
        return None


class LogAbsDet(_Slogdet):
    """log |det a|, stable where det itself would over- or underflow."""

    name, helper, part = "logabsdet", "_slogdet_logabs", 1

    def bprop(self, inputs, output, D):
        return [_col(_col(D)) * _mT(inv(inputs[0]))]


def slogdet(a) -> SlogdetResult:
    """``np.linalg.slogdet``: ``(sign, logabsdet)`` of each square matrix, as two nodes (no
    gradient flows through the sign)."""
    a = as_node(a)
    return SlogdetResult(SlogdetSign()(a), LogAbsDet()(a))


# ---------------------------------------------------------------------------------------------
# Triangular matrices: the mask used by gradients, solve_triangular, cholesky, cho_*
# ---------------------------------------------------------------------------------------------
class Triangle(Op):
    """The lower (``is_lower=True``: entries with ``j - i <= k``) or upper (``j - i >= k``) triangle
    of each matrix, zeros elsewhere; works for named dims (used by the gradient rules)."""

    name = "triangle"

    def __init__(self, is_lower: bool, k: int):
        super().__init__(is_lower=is_lower, k=k)

    def infer(self, x):
        _matrices("triangle", x, "x")
        return x.shape, x.dtype

    def perform(self, values, node, dims):
        return (np.tril if self.is_lower else np.triu)(values[0], self.k)

    def bprop(self, inputs, output, D):
        return [self(D)]

    def batch(self, node, args, flags, B):
        return self(args[0])

    def pattern(self, node, pats, shapes, dims):
        import scipy.sparse as sp

        shape = shapes[0]
        keep = self.perform([np.ones(shape, dtype=np.float64)], node, dims).ravel()
        P = patterns.rows(pats[0], patterns.arange(shape))
        P = sp.diags(keep, format="csr") @ P
        P.eliminate_zeros()
        return P

    def lower(self, ctx, node, args, out):
        from ..compiler.codegen import dtype_expr

        nb = node.ndim - 2
        idx = [f"j{k}" for k in range(nb)] + [f"{out}_r", f"{out}_c"]
        test = f"{out}_c - {out}_r {'<=' if self.is_lower else '>='} {self.k}"
        lines = [f"{out} = _empty({ctx.shape_expr(node.shape)}, {dtype_expr(node.dtype)})"]
        indent = ""
        for k, d in enumerate(node.shape):
            lines.append(f"{indent}for {idx[k]} in range({ctx.dim(d)}):")
            indent += "    "
        at = ", ".join(idx)
        lines.append(f"{indent}{out}[{at}] = {args[0]}[{at}] if {test} else 0.0")
        return lines


def _tril(x: Node, k: int = 0) -> Node:
    return Triangle(True, k)(x)


def _triu(x: Node, k: int = 0) -> Node:
    return Triangle(False, k)(x)


class SolveTriangular(_Linalg):
    """``scipy.linalg.solve_triangular``: ``a x = b`` (``trans=1``: ``a^T x = b``) reading only
    the ``lower`` or upper triangle of ``a`` (and not its diagonal if ``unit_diagonal``)."""

    name, helper = "solve_triangular", "_solve_triangular"

    def __init__(self, trans: int, is_lower: bool, unit_diagonal: bool):
        super().__init__(trans=trans, is_lower=is_lower, unit_diagonal=unit_diagonal)

    def cores(self, node):
        return (2, 1 if node.inputs[1].ndim == 1 else 2)

    def core_out(self, node):
        return 1 if node.inputs[1].ndim == 1 else 2

    def helper_args(self):
        return [str(self.trans), str(self.is_lower), str(self.unit_diagonal)]

    def infer(self, a, b):
        return _solve_shape("solve_triangular", a, b), result_dtype(a.dtype, b.dtype)

    def perform(self, values, node, dims):
        from scipy.linalg import solve_triangular as solve_tri

        a, b = values
        dtype = result_dtype(a.dtype, b.dtype)
        batch = a.shape[:-2] if b.ndim == 1 else np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        a = np.broadcast_to(a, batch + a.shape[-2:])
        b = b if b.ndim == 1 else np.broadcast_to(b, batch + b.shape[-2:])
        out = np.empty(batch + a.shape[-1:] + b.shape[-1:] if b.ndim > 1 else batch + b.shape, dtype=dtype)
        for i in np.ndindex(*batch):  # one system per matrix of the batch
            out[i] = solve_tri(a[i], b if b.ndim == 1 else b[i], trans=self.trans, lower=self.is_lower,
                               unit_diagonal=self.unit_diagonal, check_finite=False)
        return out

    def bprop(self, inputs, output, D):
        a, b = inputs
        x = output
        back = SolveTriangular(1 - self.trans, self.is_lower, self.unit_diagonal)
        if b.ndim == 1:
            gb = _solve_vectors(back, a, D, a.ndim == 2)
            g_op = -(_col(gb) * _row(x))        # the gradient wrt op(a) = a or a^T
        else:
            gb = back(a, D)
            g_op = -(gb @ _mT(x))
        ga = g_op if self.trans == 0 else _mT(g_op)
        k = 1 if self.unit_diagonal else 0
        ga = _tril(ga, -k) if self.is_lower else _triu(ga, k)  # the op reads only that triangle
        return [_unbroadcast(ga, a), _unbroadcast(gb, b)]

    def batch(self, node, args, flags, B):
        return _batch_solve_like(self, node, args, flags, B)


def _trans_code(trans) -> int:
    codes = {0: 0, 1: 1, 2: 1, "N": 0, "T": 1, "C": 1}  # real matrices: 'C' is 'T'
    if isinstance(trans, bool) or trans not in codes:
        raise ShapeError(f"solve_triangular: trans must be 0, 1, 2, 'N', 'T' or 'C', got {trans!r}")
    return codes[trans]


def solve_triangular(a, b, trans=0, lower: bool = False, unit_diagonal: bool = False,
                     overwrite_b: bool = False, check_finite: bool = True) -> Node:
    """``scipy.linalg.solve_triangular``: solve ``a x = b`` (``trans``: ``a^T x = b``) for
    triangular ``a``, reading only its ``lower`` (or upper) triangle. ``overwrite_b`` and
    ``check_finite`` are accepted for SciPy compatibility (inputs are never overwritten)."""
    return SolveTriangular(_trans_code(trans), bool(lower), bool(unit_diagonal))(as_node(a), as_node(b))


class Cholesky(_Linalg):
    """``np.linalg.cholesky``: the lower factor ``L`` with ``a = L L^T`` (reads the lower
    triangle of ``a``; the gradient is symmetrised, as for a symmetric input)."""

    name, helper = "cholesky", "_cholesky"

    def infer(self, a):
        return _same_square("cholesky", a)

    def perform(self, values, node, dims):
        return np.linalg.cholesky(values[0])

    def bprop(self, inputs, output, D):
        # Murray (2016) / JAX: a_bar = L^-T Phi(L^T L_bar) L^-1 with Phi = lower triangle,
        # diagonal halved; then its symmetric part
        L = output
        P = _mT(L) @ D
        phi = 0.5 * (_tril(P) + _tril(P, -1))
        y = solve_triangular(L, phi, trans=1, lower=True)             # L^-T Phi
        ga = _mT(solve_triangular(L, _mT(y), trans=1, lower=True))     # (L^-T Phi) L^-1
        return [_sym(ga)]


def cholesky(a, /, *, upper: bool = False) -> Node:
    """``np.linalg.cholesky``: ``L`` (lower) with ``a = L L^T``, or with ``upper=True`` the
    factor ``U = L^T`` computed from the upper triangle of ``a``."""
    a = as_node(a)
    _square("cholesky", a)
    if upper:
        return _mT(Cholesky()(_mT(a)))
    return Cholesky()(a)


def cho_factor(a, lower: bool = False, overwrite_a: bool = False, check_finite: bool = True) -> tuple:
    """``scipy.linalg.cho_factor``: ``(c, lower)`` for ``cho_solve``. Unlike SciPy, the triangle
    of ``c`` that the factor does not use holds zeros (SciPy leaves arbitrary values there)."""
    a = as_node(a)
    _square("cho_factor", a)
    return (Cholesky()(a) if lower else _mT(Cholesky()(_mT(a)))), bool(lower)


def cho_solve(c_and_lower, b, overwrite_b: bool = False, check_finite: bool = True) -> Node:
    """``scipy.linalg.cho_solve``: solve ``a x = b`` given ``(c, lower) = cho_factor(a)``."""
    try:
        c, lower = c_and_lower
    except (TypeError, ValueError):
        raise ShapeError("cho_solve: the first argument must be the pair (c, lower) from cho_factor") from None
    c, b = as_node(c), as_node(b)
    if lower:   # a = c c^T
        return solve_triangular(c, solve_triangular(c, b, lower=True), trans=1, lower=True)
    return solve_triangular(c, solve_triangular(c, b, trans=1, lower=False), lower=False)   # a = c^T c


# ---------------------------------------------------------------------------------------------
# eigh
# ---------------------------------------------------------------------------------------------
class Eigvalsh(_Linalg):
    """The eigenvalues of symmetric matrices (lower triangle read), ascending, from LAPACK's
    values-only driver. Gradients treat the input as symmetric."""

    name, helper, out_core = "eigvalsh", "_eigvalsh", 1

    def infer(self, a):
        _square("eigvalsh", a)
        return a.shape[:-1], result_dtype(a.dtype)

    def perform(self, values, node, dims):
        return np.linalg.eigvalsh(values[0])

    def bprop(self, inputs, output, D):
        v = EighVectors()(inputs[0])   # dw_i = v_i^T dA v_i
        return [(v * _row(D)) @ _mT(v)]


class EighVectors(_Linalg):
    """The eigenvectors (columns) of ``np.linalg.eigh``, in the order of ``eigvalsh``. The
    gradient is the F-matrix rule with 1/(w_j - w_i) off the diagonal, symmetrised."""

    name, helper = "eigh_vectors", "_eigh_vectors"

    def infer(self, a):
        return _same_square("eigh", a)

    def perform(self, values, node, dims):
        return np.linalg.eigh(values[0])[1]

    def bprop(self, inputs, output, D):
        # dV = V (F o (V^T dA V)), F_ij = 1 / (w_j - w_i)
        v, w = output, Eigvalsh()(inputs[0])
        inner = _gap_matrix(w) * (_mT(v) @ D)
        return [_sym(v @ inner @ _mT(v))]


def _uplo(op: str, a: Node, UPLO: str) -> Node:
    """``a`` checked square, transposed when its upper triangle is to be read."""
    if UPLO not in ("L", "U"):
        raise ShapeError(f"{op}: UPLO must be 'L' or 'U', got {UPLO!r}")
    _square(op, a)
    return a if UPLO == "L" else _mT(a)


def eigh(a, UPLO: str = "L") -> EighResult:
    """``np.linalg.eigh``: ``(eigenvalues, eigenvectors)`` of symmetric matrices, reading the
    ``UPLO`` triangle; two nodes."""
    a = _uplo("eigh", as_node(a), UPLO)
    return EighResult(Eigvalsh()(a), EighVectors()(a))


def eigvalsh(a, UPLO: str = "L") -> Node:
    """``np.linalg.eigvalsh``: the eigenvalues of symmetric matrices in ascending order."""
    return Eigvalsh()(_uplo("eigvalsh", as_node(a), UPLO))


# ---------------------------------------------------------------------------------------------
# svd
# ---------------------------------------------------------------------------------------------
class Svdvals(_Linalg):
    """The singular values, descending, from LAPACK's values-only driver."""

    name, helper, out_core = "svdvals", "_svdvals", 1

    def infer(self, a):
        _matrices("svd", a)
        return a.shape[:-2] + (_min_dim("svd", a),), result_dtype(a.dtype)

    def perform(self, values, node, dims):
        return np.linalg.svd(values[0], compute_uv=False)

    def bprop(self, inputs, output, D):
        (a,) = inputs   # ds = diag(U^T dA V)
        return [(SvdU(False)(a) * _row(D)) @ SvdVh(False)(a)]


class _SvdVectors(_Linalg):
    """U (``SvdU``) or Vh (``SvdVh``) of ``np.linalg.svd``; ``full_matrices`` as NumPy."""

    def __init__(self, full_matrices: bool):
        super().__init__(full_matrices=full_matrices)

    def helper_args(self):
        return [str(self.full_matrices)]

    def bprop(self, inputs, output, D):
        (a,) = inputs
        m, n = a.shape[-2:]
        if self.full_matrices and m != n:
            raise GradError("svd: no gradient for U or Vh with full_matrices=True on non-square matrices; use full_matrices=False")
        u, s, vh = SvdU(False)(a), Svdvals()(a), SvdVh(False)(a)
        F = _gap_matrix(s, square=True)   # F_ij = 1 / (s_j^2 - s_i^2)
        s_inv = _safe_recip(s)
        static = _static_dims(a)
        if isinstance(self, SvdU):
            # U (F o (U^T U_bar - U_bar^T U)) S V^T  +  (I - U U^T) U_bar S^-1 V^T
            J = F * (_mT(u) @ D)
            g = u @ ((J + _mT(J)) * _row(s)) @ vh
            if static is None or static[0] > static[1]:
                g = g + ((D - u @ (_mT(u) @ D)) * _row(s_inv)) @ vh
            return [g]
        # U S (F o (V^T V_bar - V_bar^T V)) V^T  +  U S^-1 V_bar^T (I - V V^T), with V_bar^T = D
        K = F * (vh @ _mT(D))
        g = u @ ((K + _mT(K)) * _col(s)) @ vh
        if static is None or static[1] > static[0]:
            g = g + u @ ((D - (D @ _mT(vh)) @ vh) * _col(s_inv))
        return [g]


class SvdU(_SvdVectors):
    """The left singular vectors U (columns), ``(..., m, k)``, or ``(..., m, m)`` if full."""

    name, helper = "svd_u", "_svd_u"

    def infer(self, a):
        _matrices("svd", a)
        m = a.shape[-2]
        return a.shape[:-2] + (m, m if self.full_matrices else _min_dim("svd", a)), result_dtype(a.dtype)

    def perform(self, values, node, dims):
        return np.linalg.svd(values[0], full_matrices=self.full_matrices)[0]


class SvdVh(_SvdVectors):
    """The right singular vectors as rows, Vh, ``(..., k, n)``, or ``(..., n, n)`` if full."""

    name, helper = "svd_vh", "_svd_vh"

    def infer(self, a):
        _matrices("svd", a)
        n = a.shape[-1]
        return a.shape[:-2] + (n if self.full_matrices else _min_dim("svd", a), n), result_dtype(a.dtype)

    def perform(self, values, node, dims):
        return np.linalg.svd(values[0], full_matrices=self.full_matrices)[2]


def _min_dim(op: str, a: Node):
    """``min(m, n)`` of the matrices of ``a`` (a named dim only when they are square)."""
    m, n = a.shape[-2:]
    if m == n:
        return m
    if isinstance(m, int) and isinstance(n, int):
        return min(m, n)
    raise ShapeError(
        f"{op}: min(m, n) of matrices {format_shape(a.shape)} with different named dims is not static; "
        "give the smaller dim as an int (or use the same name for a square matrix)"
    )


def svd(a, full_matrices: bool = True, compute_uv: bool = True, hermitian: bool = False):
    """``np.linalg.svd``: ``(U, S, Vh)`` as three nodes (``compute_uv=False``: the singular
    values alone). ``hermitian`` is accepted and ignored: the general SVD is used, which may
    choose other signs for the singular vectors than NumPy's hermitian route."""
    a = as_node(a)
    if not compute_uv:
        return Svdvals()(a)
    _matrices("svd", a)
    full = bool(full_matrices) and a.shape[-1] != a.shape[-2]  # square: full is reduced, one node
    return SVDResult(SvdU(full)(a), Svdvals()(a), SvdVh(full)(a))


def svdvals(x, /) -> Node:
    """``np.linalg.svdvals``: the singular values of each matrix, in descending order."""
    return Svdvals()(as_node(x))


# ---------------------------------------------------------------------------------------------
# qr
# ---------------------------------------------------------------------------------------------
def _qr_grad_tall(q: Node, r: Node, gq, gr) -> Node:
    """The gradient of ``a`` for ``a = q r`` (m >= n, reduced) from the gradients of q and r
    (either may be None): ``(gq + q copyltu(M)) r^-T``, ``M = gr r^T - q^T gq``, where
    ``copyltu(M)`` copies the upper triangle of M onto its lower one."""
    M = None
    if gr is not None:
        M = gr @ _mT(r)
    if gq is not None:
        M = -(_mT(q) @ gq) if M is None else M - _mT(q) @ gq
    N = _triu(M) + _mT(_triu(M, 1))
    y = q @ N if gq is None else gq + q @ N
    return _mT(solve_triangular(r, _mT(y), lower=False))   # y r^-T


class _Qr(_Linalg):
    """One output of the reduced ``np.linalg.qr``: Q (``QrQ``, m x k) or R (``QrR``, k x n),
    ``k = min(m, n)``."""

    part = 0

    def infer(self, a):
        _matrices("qr", a)
        m, n = a.shape[-2:]
        k = _min_dim("qr", a)
        return a.shape[:-2] + ((m, k) if self.part == 0 else (k, n)), result_dtype(a.dtype)

    def perform(self, values, node, dims):
        return np.linalg.qr(values[0])[self.part]

    def bprop(self, inputs, output, D):
        from .structure import concatenate, index

        (a,) = inputs
        q, r = QrQ()(a), QrR()(a)
        gq, gr = (D, None) if self.part == 0 else (None, D)
        m, n = a.shape[-2:]
        if m == n or (isinstance(m, int) and isinstance(n, int) and m > n):
            return [_qr_grad_tall(q, r, gq, gr)]
        # wide: a = [x | y] with x = q u square, r = [u | q^T y]
        cut = (Ellipsis, slice(None), slice(0, m))
        rest = (Ellipsis, slice(None), slice(m, None))
        u, y = index(r, cut), index(a, rest)
        if gr is None:
            return [concatenate([_qr_grad_tall(q, u, gq, None), zeros_like(y)], axis=-1)]
        gu, gv = index(gr, cut), index(gr, rest)
        gx = _qr_grad_tall(q, u, y @ _mT(gv), gu)
        return [concatenate([gx, q @ gv], axis=-1)]


class QrQ(_Qr):
    """Q of the reduced QR: orthonormal columns."""

    name, helper, part = "qr_q", "_qr_q", 0


class QrR(_Qr):
    """R of the reduced QR: upper triangular (trapezoidal for wide matrices)."""

    name, helper, part = "qr_r", "_qr_r", 1


def qr(a, mode: str = "reduced"):
    """``np.linalg.qr``: ``(Q, R)`` as two nodes for ``mode='reduced'`` (and ``'complete'`` when
    the matrices have no more rows than columns, where it is the same); ``mode='r'``: R alone."""
    a = as_node(a)
    if mode == "r":
        return QrR()(a)
    if mode == "complete":
        m, n = a.shape[-2:] if a.ndim >= 2 else (None, None)
        if not (m == n or (isinstance(m, int) and isinstance(n, int) and m <= n)):
            raise ShapeError(f"qr: mode='complete' is supported only for matrices with no more rows than columns, got {format_shape(a.shape)}")
        mode = "reduced"
    if mode != "reduced":
        raise ShapeError(f"qr: mode must be 'reduced', 'complete' or 'r', got {mode!r}")
    return QRResult(QrQ()(a), QrR()(a))


# ---------------------------------------------------------------------------------------------
# pinv
# ---------------------------------------------------------------------------------------------
class Pinv(_Linalg):
    """``np.linalg.pinv``: the pseudo-inverse from the SVD, singular values at most ``rcond``
    times the largest treated as zero."""

    name, helper = "pinv", "_pinv"

    def __init__(self, rcond: float):
        super().__init__(rcond=rcond)

    def helper_args(self):
        return [repr(float(self.rcond))]

    def infer(self, a):
        _matrices("pinv", a)
        return a.shape[:-2] + (a.shape[-1], a.shape[-2]), result_dtype(a.dtype)

    def perform(self, values, node, dims):
        return np.linalg.pinv(values[0], rcond=self.rcond)

    def bprop(self, inputs, output, D):
        # Golub & Pereyra (1973), as JAX: for dp = -p da p + p p^T da^T (I - a p) + (I - p a) da^T p^T p
        (a,) = inputs
        p, pt, dt = output, _mT(output), _mT(D)
        x1 = dt @ p @ pt
        x2 = pt @ p @ dt
        return [-(pt @ D @ pt) + x1 - a @ (p @ x1) + x2 - (x2 @ p) @ a]


def pinv(a, rcond=None, hermitian: bool = False, *, rtol=np._NoValue) -> Node:
    """``np.linalg.pinv``: the Moore-Penrose pseudo-inverse (``rcond``/``rtol`` as NumPy; the
    general SVD is used whatever ``hermitian`` says)."""
    a = as_node(a)
    _matrices("pinv", a)
    if rcond is None:
        if rtol is np._NoValue:
            rcond = 1e-15
        elif rtol is None:
            dims = _static_dims(a)
            if dims is None:
                raise ShapeError(f"pinv: rtol=None needs static matrix dims, got {format_shape(a.shape)}")
            rcond = max(dims) * float(np.finfo(result_dtype(a.dtype)).eps)
        else:
            rcond = rtol
    elif rtol is not np._NoValue:
        raise ShapeError("pinv: rtol and rcond can't both be set")
    try:
        rcond = float(rcond)
    except (TypeError, ValueError):
        raise ShapeError(f"pinv: rcond must be a number, got {rcond!r}") from None
    return Pinv(rcond)(a)


from .elementwise import zeros_like  # noqa: E402


# ---------------------------------------------------------------------------------------------
# Numba helpers: one matrix (or one system) per call. Generated kernels call them as
# ``_decomp.<name>`` (``symdiff.compiler.runtime`` exports this module as ``_decomp``); each is
# compiled once per signature and cached on disk. Matrix and vector results are written into
# ``out`` (a matrix of the kernel's result array) with explicit loops: an assignment to an array
# slice in the kernel itself would cost Numba seconds of compile time per kernel.
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def _nan_like(a):
    """NaN in the dtype of ``a``."""
    return np.full(1, np.nan, dtype=a.dtype)[0]


@njit(cache=True)
def _finite(a):
    for v in a.ravel():
        if not np.isfinite(v):
            return False
    return True


@njit(cache=True)
def _put(src, out):
    """``out[...] = src`` for vectors and matrices of any layout (Numba prunes the other branch)."""
    if src.ndim == 1:
        for i in range(src.shape[0]):
            out[i] = src[i]
    else:
        for i in range(src.shape[0]):
            for j in range(src.shape[1]):
                out[i, j] = src[i, j]


@njit(cache=True)
def _fill_nan(out):
    if out.ndim == 1:
        for i in range(out.shape[0]):
            out[i] = np.nan
    else:
        for i in range(out.shape[0]):
            for j in range(out.shape[1]):
                out[i, j] = np.nan


@njit(cache=True)
def _solve(a, b, out):
    if not (_finite(a) and _finite(b)):  # NumPy propagates NaN; Numba's LAPACK wrapper raises
        _fill_nan(out)
        return
    _put(np.linalg.solve(np.ascontiguousarray(a), np.ascontiguousarray(b)), out)


@njit(cache=True)
def _inv(a, out):
    if not _finite(a):
        _fill_nan(out)
        return
    _put(np.linalg.inv(np.ascontiguousarray(a)), out)


@njit(cache=True)
def _det(a):
    if not _finite(a):
        return _nan_like(a)
    return np.linalg.det(np.ascontiguousarray(a))


@njit(cache=True)
def _slogdet_sign(a):
    if not _finite(a):
        return _nan_like(a)
    return np.linalg.slogdet(np.ascontiguousarray(a))[0]


@njit(cache=True)
def _slogdet_logabs(a):
    if not _finite(a):
        return _nan_like(a)
    return np.linalg.slogdet(np.ascontiguousarray(a))[1]


@njit(cache=True)
def _cholesky(a, out):
    if not _finite(a):
        _fill_nan(out)
        return
    _put(np.linalg.cholesky(np.ascontiguousarray(a)), out)


@njit(cache=True)
def _eigvalsh(a, out):
    _put(np.linalg.eigvalsh(np.ascontiguousarray(a)), out)


@njit(cache=True)
def _eigh_vectors(a, out):
    _put(np.linalg.eigh(np.ascontiguousarray(a))[1], out)


@njit(cache=True)
def _full_svd_values(a):  # other Numba versions: the full SVD's values
    return np.linalg.svd(a, False)[1]


# Numba's values-only SVD (JOBZ='N'), what np.linalg.norm(a, 2) uses; internal, so guarded
_singular_values = LazyAttribute("numba.np.linalg", "_compute_singular_values", _full_svd_values)


@njit(cache=True)
def _svdvals(a, out):
    _put(_singular_values(np.ascontiguousarray(a)), out)


@njit(cache=True)
def _svd_u(a, full_matrices, out):
    _put(np.linalg.svd(np.ascontiguousarray(a), full_matrices)[0], out)


@njit(cache=True)
def _svd_vh(a, full_matrices, out):
    _put(np.linalg.svd(np.ascontiguousarray(a), full_matrices)[2], out)


@njit(cache=True)
def _qr_q(a, out):
    if not _finite(a):
        _fill_nan(out)
        return
    _put(np.linalg.qr(np.ascontiguousarray(a))[0], out)


@njit(cache=True)
def _qr_r(a, out):
    if not _finite(a):
        _fill_nan(out)
        return
    _put(np.linalg.qr(np.ascontiguousarray(a))[1], out)


@njit(cache=True)
def _pinv(a, rcond, out):
    m, n = a.shape
    u, s, vh = np.linalg.svd(np.ascontiguousarray(a), False)
    cutoff = rcond * (s.max() if s.size else 0.0)
    for i in range(n):
        for j in range(m):
            out[i, j] = 0.0
    for k in range(s.size):  # the sum over the kept singular triplets of v_k u_k^T / s_k
        if s[k] > cutoff:
            for i in range(n):
                for j in range(m):
                    out[i, j] += vh[k, i] * u[j, k] / s[k]


@njit(cache=True, fastmath={"contract"})
def _solve_triangular(a, b, trans, lower, unit_diagonal, out):
    """Forward or back substitution, row by row, on all columns of ``b`` at once."""
    n = a.shape[0]
    m = a if trans == 0 else np.ascontiguousarray(a.T)   # the effective matrix, rows contiguous
    x = out.reshape((n, out.size // n)) if n else out.reshape((0, 0))
    _put(b.reshape(x.shape), x)
    forward = lower != (trans != 0)   # the effective matrix is lower triangular
    for step in range(n):
        i = step if forward else n - 1 - step
        done = range(0, i) if forward else range(i + 1, n)   # the entries already solved
        if x.shape[1] == 1:   # one right-hand side: a dot product
            acc = x[i, 0]
            for j in done:
                acc -= m[i, j] * x[j, 0]
            x[i, 0] = acc
        else:
            for j in done:
                m_ij = m[i, j]
                for c in range(x.shape[1]):
                    x[i, c] -= m_ij * x[j, c]
        if not unit_diagonal:
            d = m[i, i]
            if d == 0:
                raise np.linalg.LinAlgError("singular matrix: a zero on the diagonal of the triangular matrix")
            for c in range(x.shape[1]):
                x[i, c] /= d
