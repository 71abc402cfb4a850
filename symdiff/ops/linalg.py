"""Matrix products: matmul (vectors, matrices, batches), dot and outer."""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from .. import patterns
from ..batching import lift
from ..graph import Node, as_node
from ..types import broadcast_shapes, format_shape, result_dtype
from .base import Op
from ..compiler.codegen import size_tuple


class Matmul(Op):
    """``a @ b`` with NumPy's rules: 1-d operands are promoted and the added axis dropped."""

    name = "matmul"

    def infer(self, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ShapeError(f"matmul: operands must be at least 1-d, got {format_shape(a.shape)} @ {format_shape(b.shape)}")
        ka = a.shape[-1]
        kb = b.shape[-2] if b.ndim >= 2 else b.shape[0]
        if ka != kb:
            raise ShapeError(
                f"matmul: inner dims differ: {format_shape(a.shape)} @ {format_shape(b.shape)} ({ka!r} != {kb!r})"
            )
        try:
            batch = broadcast_shapes("matmul", a.shape[:-2], b.shape[:-2])
        except ShapeError:
            raise ShapeError(
                f"matmul: batch dims of {format_shape(a.shape)} @ {format_shape(b.shape)} do not broadcast"
            ) from None
        rows = a.shape[-2:-1] if a.ndim >= 2 else ()
        cols = b.shape[-1:] if b.ndim >= 2 else ()
        return batch + rows + cols, result_dtype(a.dtype, b.dtype)

    def perform(self, values, node, dims):
        return np.matmul(*values)

    def lower(self, ctx, node, args, out):
        a, b = node.inputs
        x, y = (arg if v.dtype == node.dtype else f"{arg}.astype(np.{node.dtype.name})" for arg, v in zip(args, (a, b)))
        if a.ndim <= 2 and b.ndim <= 2:
            buf = ctx.buffer(node)  # a workspace region for a large intermediate product, or None
            if buf is not None:
                return [f"{out} = _dot_into({x}, {y}, {buf})"]
            return [f"{out} = _dot({x}, {y})"]  # np.dot in a disk-cached helper (see compiler/runtime.py)
        # batched matrices whose batch dims are the output's (or absent): flattened to 3-d and run
        # by a disk-cached helper, one BLAS product per matrix (a kernel that assigns matrices
        # into slices itself pulls Numba's error-formatting code into every compile: seconds)
        if a.ndim >= 2 and b.ndim >= 2:
            batch = node.shape[:-2]
            fits = [v.ndim == 2 or tuple(v.shape[:-2]) == tuple(batch) for v in (a, b)]
            if all(fits):
                nbatch = " * ".join(ctx.dim(d) for d in batch) or "1"
                flat = [f"_reshape({arg}, {size_tuple([nbatch, ctx.dim(v.shape[-2]), ctx.dim(v.shape[-1])])})"
                        if v.ndim > 2 else f"np.ascontiguousarray({arg})" for arg, v in zip((x, y), (a, b))]
                kind = "".join("3" if v.ndim > 2 else "2" for v in (a, b))
                return [f"{out} = _reshape(_bmm{kind}({flat[0]}, {flat[1]}), {ctx.shape_expr(node.shape)})"]
        # other batched products: one BLAS product per matrix of the broadcast batch
        nb = node.ndim - (a.ndim >= 2) - (b.ndim >= 2)
        batch = node.shape[:nb]
        idx = [f"j{k}" for k in range(nb)]

        def sub(v, name):  # the matrix (or vector) of operand v for batch index idx
            lead = v.ndim - (2 if v.ndim >= 2 else 1)
            if lead <= 0:
                return name
            parts = ["0" if v.shape[k] == 1 and batch[nb - lead + k] != 1 else idx[nb - lead + k] for k in range(lead)]
            return f"np.ascontiguousarray({name}[{', '.join(parts)}])"

        lines = [f"{out} = _empty({ctx.shape_expr(node.shape)}, np.{node.dtype.name})"]
        indent = ""
        for k, d in enumerate(batch):
            lines.append(f"{indent}for {idx[k]} in range({ctx.dim(d)}):")
            indent += "    "
        lines.append(f"{indent}{out}[{', '.join(idx)}] = _dot({sub(a, x)}, {sub(b, y)})")
        return lines

    def bprop(self, inputs, output, D):
        a, b = inputs
        if a.ndim == 1 and b.ndim == 1:          # inner product
            return [D * b, D * a]
        if a.ndim == 1 and b.ndim == 2:          # row vector times matrix
            return [b @ D, outer(a, D)]
        if a.ndim == 2 and b.ndim == 1:          # matrix times vector
            return [outer(D, b), a.T @ D]
        if a.ndim == 2 and b.ndim == 2:
            return [D @ b.T, a.T @ D]
        # batched: promote vectors to matrices, differentiate, then undo the promotion
        from .elementwise import unbroadcast
        from .structure import expand_dims, squeeze, swapaxes

        a2 = expand_dims(a, 0) if a.ndim == 1 else a
        b2 = expand_dims(b, -1) if b.ndim == 1 else b
        D2 = D
        if a.ndim == 1:
            D2 = expand_dims(D2, -2 if b.ndim >= 2 else -1)
        if b.ndim == 1:
            D2 = expand_dims(D2, -1)
        ga = D2 @ swapaxes(b2, -1, -2)
        gb = swapaxes(a2, -1, -2) @ D2
        if a.ndim == 1:
            ga = squeeze(unbroadcast(ga, a2) if ga.ndim > 2 else ga, 0)
        if b.ndim == 1:
            gb = squeeze(unbroadcast(gb, b2) if gb.ndim > 2 else gb, -1)
        return [unbroadcast(ga, a), unbroadcast(gb, b)]

    def make(self, a, b):
        return matmul(a, b)

    def batch(self, node, args, flags, B):
        from .elementwise import mul
        from .reduction import sum_
        from .structure import expand_dims, reshape, transpose

        a, b = args
        fa, fb = flags
        ra, rb = node.inputs[0].ndim, node.inputs[1].ndim  # unbatched ranks
        # Fast paths that fold the batch into a single matrix product (one GEMM, not B GEMVs).
        if fb and not fa and rb == 1 and ra == 2:          # A @ v_b  ->  V @ A^T
            return matmul(b, transpose(a))
        if fa and not fb and ra == 1 and rb in (1, 2):     # v_b @ b  ->  V @ b
            return matmul(a, b)
        if fa and not fb and rb == 1:                      # A_b @ v: (B, .., m, k) @ (k,)
            return matmul(a, b)
        if fa and fb and ra == 1 and rb == 1:              # batched inner products
            return sum_(mul(a, b), axis=-1)
        if fa and not fb and ra >= 2 and rb == 2 and all(isinstance(d, int) for d in a.shape[:-1]):
            rows = int(np.prod(a.shape[:-1]))              # A_b @ M: stack the rows, one GEMM
            return reshape(matmul(reshape(a, (rows, a.shape[-1])), b), (B, *node.shape))
        # General case: promote vectors to matrices, align batch dims after B, let NumPy's
        # broadcasting matmul do the work, then drop the promoted axes again.
        promoted = ra == 1 or rb == 1
        if ra == 1:
            a = expand_dims(a, -2)
        if rb == 1:
            b = expand_dims(b, -1)
        nbatch = max(max(ra, 2), max(rb, 2)) - 2
        if fa:
            a = lift(a, nbatch + 2)
        if fb:
            b = lift(b, nbatch + 2)
        out = matmul(a, b)
        return reshape(out, (B, *node.shape)) if promoted else out  # drops the promoted axes

    def pattern(self, node, pats, shapes, dims):
        """Entry (.., i, j) depends on row i of a and column j of b."""
        sa, sb = shapes
        a2 = (1, *sa) if len(sa) == 1 else tuple(sa)
        b2 = (*sb, 1) if len(sb) == 1 else tuple(sb)
        batch = np.broadcast_shapes(a2[:-2], b2[:-2])
        m, k, n = a2[-2], a2[-1], b2[-1]
        full = (*batch, m, k, n)
        out_idx = np.broadcast_to(patterns.arange((*batch, m, n))[..., :, None, :], full)
        n_out = patterns.size((*batch, m, n))
        mats = []
        if pats[0] is not None:
            src = np.broadcast_to(patterns.arange(a2)[..., :, :, None], full)
            mats.append(patterns.gather(out_idx, src, n_out, pats[0]))
        if pats[1] is not None:
            src = np.broadcast_to(patterns.arange(b2)[..., None, :, :], full)
            mats.append(patterns.gather(out_idx, src, n_out, pats[1]))
        return patterns.union(mats)


def matmul(a, b) -> Node:
    """Matrix product with NumPy's ``@`` semantics (vectors, matrices, broadcast batches).

    Folds a zero constant operand to zeros and an identity-matrix constant operand to the other
    operand (when that leaves the result's shape unchanged).
    """
    from ..rewrite import is_identity, is_zero  # lazy: rewrite imports the ops
    from .elementwise import cast, zeros

    a, b = as_node(a), as_node(b)
    op = Matmul()
    shape, dtype = op.infer(a, b)
    if is_zero(a) or is_zero(b):
        return zeros(shape, dtype)
    for ident, other in ((a, b), (b, a)):
        if is_identity(ident) and other.shape == shape:
            return cast(other, dtype)
    return op(a, b)


class Outer(Op):
    """Outer product of two vectors."""

    name = "outer"

    def infer(self, a, b):
        if a.ndim != 1 or b.ndim != 1:
            raise ShapeError(f"outer: needs two vectors, got {format_shape(a.shape)} and {format_shape(b.shape)}")
        return (a.shape[0], b.shape[0]), result_dtype(a.dtype, b.dtype)

    def perform(self, values, node, dims):
        return np.outer(*values)

    def lower(self, ctx, node, args, out):
        return [f"{out} = _outer({args[0]}, {args[1]})"]

    def bprop(self, inputs, output, D):
        a, b = inputs
        return [D @ b, a @ D]

    def batch(self, node, args, flags, B):
        from .elementwise import mul
        from .structure import expand_dims

        a, b = args
        a2 = expand_dims(a, -1)                              # (.., m, 1)
        b2 = expand_dims(b, 1) if flags[1] else b            # (B, 1, n) or (n,)
        return mul(a2, b2)

    def pattern(self, node, pats, shapes, dims):
        (m,), (n,) = shapes
        mats = []
        if pats[0] is not None:
            mats.append(patterns.rows(pats[0], np.broadcast_to(np.arange(m)[:, None], (m, n))))
        if pats[1] is not None:
            mats.append(patterns.rows(pats[1], np.broadcast_to(np.arange(n)[None, :], (m, n))))
        return patterns.union(mats)


def outer(a, b) -> Node:
    """Outer product ``a[:, None] * b[None, :]`` of two vectors."""
    return Outer()(as_node(a), as_node(b))


def dot(a, b) -> Node:
    """``np.dot`` for operands of at most 2 dims (a scalar operand multiplies)."""
    a, b = as_node(a), as_node(b)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    if a.ndim > 2 or b.ndim > 2:
        raise ShapeError(
            f"dot: operands {format_shape(a.shape)} and {format_shape(b.shape)} have more than 2 dims; use matmul"
        )
    return matmul(a, b)
