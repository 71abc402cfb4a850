"""``scatter`` and ``gather``: move entries between flat positions of arrays.

``scatter`` places entries of one array at given positions of a zero array.
Used by ``jacobian``/``hessian`` to expand a *compressed* Jacobian (one row per colour of the
sparsity pattern) into the dense result: ``out.flat[dst] = x.flat[src]``, zeros elsewhere.
The index arrays are int64 constant inputs; ``src`` and ``dst`` must each hold distinct entries,
which makes the op injective, so its gradient is the scatter the other way round.
"""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from .. import patterns
from ..batching import BatchingError
from ..graph import Constant, Node, as_node
from ..types import concrete_shape, format_shape
from .base import Op


class Scatter(Op):
    """``zeros(shape)`` with ``out.flat[dst] = x.flat[src]`` (src, dst: int64 constants)."""

    name = "scatter"
    accepts_bool = True  # the index arrays are int64

    def __init__(self, shape: tuple):
        super().__init__(shape=shape)

    def infer(self, x, src, dst):
        for idx in (src, dst):
            if not isinstance(idx, Constant) or idx.dtype.kind not in "iu" or idx.ndim != 1:
                raise ShapeError("scatter: the index arrays must be 1-d integer constants")
        if src.shape != dst.shape:
            raise ShapeError(f"scatter: index arrays of shapes {format_shape(src.shape)} and {format_shape(dst.shape)} differ")
        return tuple(self.shape), x.dtype

    def perform(self, values, node, dims):
        x, src, dst = values
        out = np.zeros(int(np.prod(concrete_shape(self.shape, dims), dtype=np.int64)), dtype=x.dtype)
        out[dst] = np.ravel(x)[src]
        return out.reshape(concrete_shape(self.shape, dims))

    def bprop(self, inputs, output, D):
        x, src, dst = inputs
        return [Scatter(tuple(x.shape))(D, dst, src), None, None]

    def batch(self, node, args, flags, B):
        """Offset the flat indices by each batch slice."""
        x, src, dst = node.inputs
        if not isinstance(B, int) or not all(isinstance(d, int) for d in (*x.shape, *node.shape)):
            raise BatchingError("vmap: batching a scatter needs static sizes")
        size_x, size_out = int(np.prod(x.shape)), int(np.prod(node.shape))
        b = np.arange(B, dtype=np.int64)[:, None]
        return scatter(args[0], (b * size_x + src.value).ravel(), (b * size_out + dst.value).ravel(), (B, *node.shape))

    def pattern(self, node, pats, shapes, dims):
        src, dst = node.inputs[1].value, node.inputs[2].value
        return patterns.gather(dst, src, patterns.size(concrete_shape(node.shape, dims)), pats[0])

    def lower(self, ctx, node, args, out):
        from ..compiler.codegen import dtype_expr

        x, src, dst = args
        size = " * ".join(ctx.dim(d) for d in node.shape) or "1"
        return [
            f"{out}_flat = np.zeros({size}, dtype={dtype_expr(node.dtype)})",
            f"{out}_src = np.ascontiguousarray({x}).ravel()",
            f"for {out}_q in range({src}.shape[0]):",
            f"    {out}_flat[{dst}[{out}_q]] = {out}_src[{src}[{out}_q]]",
            f"{out} = {out}_flat.reshape({ctx.shape_expr(node.shape)})",
        ]


def index_constant(values) -> Constant:
    """An int64 index array as a constant node (for ``scatter``)."""
    return Constant(np.array(values, dtype=np.int64, order="C"))  # a copy: the caller's array stays writable


def scatter(x, src, dst, shape) -> Node:
    """Zeros of ``shape`` with ``out.flat[dst[q]] = x.flat[src[q]]``; ``src`` and ``dst`` are int
    arrays (or int64 constants) of distinct entries."""
    x = as_node(x)
    src = src if isinstance(src, Constant) else index_constant(src)
    dst = dst if isinstance(dst, Constant) else index_constant(dst)
    return Scatter(tuple(shape))(x, src, dst)


class Gather(Op):
    """``x.flat[idx]``: a 1-d array of chosen entries of ``x`` (idx: distinct int64 constants).

    The inverse of ``scatter``: ``SparseHessian`` uses it to pick the non-zeros out of the
    compressed Hessian inside the compiled kernel. Distinct indices make its gradient a scatter.
    """

    name = "gather"
    accepts_bool = True  # the index array is int64

    def infer(self, x, idx):
        if not isinstance(idx, Constant) or idx.dtype.kind not in "iu" or idx.ndim != 1:
            raise ShapeError("gather: the index array must be a 1-d integer constant")
        if idx.shape[0] and idx.value.min() < 0:
            raise ShapeError("gather: indices must be non-negative")
        if all(isinstance(d, int) for d in x.shape) and idx.shape[0] and idx.value.max() >= np.prod(x.shape):
            raise ShapeError(f"gather: an index is out of bounds for an input of shape {format_shape(x.shape)}")
        if np.unique(idx.value).shape[0] != idx.shape[0]:
            raise ShapeError("gather: the indices must be distinct")
        return idx.shape, x.dtype

    def perform(self, values, node, dims):
        x, idx = values
        if idx.shape[0] and idx.max() >= x.size:
            raise ShapeError(f"gather: an index is out of bounds for an input of shape {x.shape}")
        return np.ravel(x)[idx]

    def bprop(self, inputs, output, D):
        x, idx = inputs
        return [Scatter(tuple(x.shape))(D, index_constant(np.arange(idx.shape[0])), idx), None]

    def batch(self, node, args, flags, B):
        """Offset the flat indices by each batch slice."""
        x, idx = node.inputs
        if not isinstance(B, int) or not all(isinstance(d, int) for d in x.shape):
            raise BatchingError("vmap: batching a gather needs static sizes")
        b = np.arange(B, dtype=np.int64)[:, None]
        flat = gather(args[0], (b * int(np.prod(x.shape)) + idx.value).ravel())
        from .structure import reshape

        return reshape(flat, (B, idx.shape[0]))

    def pattern(self, node, pats, shapes, dims):
        return patterns.rows(pats[0], node.inputs[1].value)

    def lower(self, ctx, node, args, out):
        from ..compiler.codegen import dtype_expr

        x, idx = args
        top = int(node.inputs[1].value.max()) if node.shape[0] else -1
        return [
            f"{out} = _empty({idx}.shape[0], {dtype_expr(node.dtype)})",
            f"{out}_src = np.ascontiguousarray({x}).reshape(-1)",
            f"if {out}_src.shape[0] <= {top}:",
            "    raise IndexError('gather: an index is out of bounds')",
            f"for {out}_q in range({idx}.shape[0]):",
            f"    {out}[{out}_q] = {out}_src[{idx}[{out}_q]]",
        ]


def gather(x, idx) -> Node:
    """``x.flat[idx]`` for distinct int indices ``idx`` (a 1-d array or int64 constant)."""
    x = as_node(x)
    idx = idx if isinstance(idx, Constant) else index_constant(idx)
    return Gather()(x, idx)


class DiagonalsToCSR(Op):
    """The CSR data of a matrix given by its diagonals: ``out`` lists ``D_t[j]`` for each row ``j``
    of ``x`` (C order) and each offset ``t`` that row holds (``present[j, t]``), in that order.

    ``D_t`` has ``x``'s shape and holds ``M[j, j + offsets[t]]`` (offsets: one int per axis of
    ``x``, sorted, so each row's entries come in column order). ``present`` is ``None`` when a row
    holds exactly the offsets that stay inside ``shape`` (the kernel then tests bounds); else an
    (N, K) bool constant input. ``SparseHessian`` writes a stencil Hessian's values with it
    (``symdiff.stencil``). Compiled, it is a *loop sink*: it joins the fused loop over ``x`` that
    computes the diagonals and stores each value at its CSR position as it is computed.
    """

    name = "diagonals_to_csr"
    accepts_bool = True  # the mask
    loop_sink = True

    def __init__(self, offsets: tuple, shape: tuple, masked: bool):
        super().__init__(offsets=tuple(map(tuple, offsets)), shape=tuple(shape), masked=masked)

    @property
    def sizes(self) -> tuple[int, int]:
        """(K, N): the number of diagonals and of entries of each."""
        return len(self.offsets), int(np.prod(self.shape, dtype=np.int64))

    def present(self, inputs) -> np.ndarray:
        """The (N, K) table of which row holds which offset: the mask input (node or value), or
        the bounds (computed once per op: ops are immutable)."""
        if self.masked:
            mask = inputs[-1]
            return np.asarray(mask.value if isinstance(mask, Constant) else mask, dtype=bool)
        if "_inside" not in self.__dict__:
            self.__dict__["_inside"] = offsets_in_bounds(self.shape, self.offsets)
        return self.__dict__["_inside"]

    def infer(self, *inputs):
        K, N = self.sizes
        diags = inputs[:-1] if self.masked else inputs
        if len(diags) != K or any(d.shape != self.shape for d in diags):
            raise ShapeError(f"diagonals_to_csr: expected {K} diagonals of shape {format_shape(self.shape)}, got "
                             + ", ".join(format_shape(d.shape) for d in diags))
        if self.masked and (not isinstance(inputs[-1], Constant) or inputs[-1].shape != (N, K)):
            raise ShapeError(f"diagonals_to_csr: the mask must be a bool constant of shape ({N}, {K})")
        return (int(self.present(inputs).sum()),), diags[0].dtype

    def perform(self, values, node, dims):
        diags = values[:-1] if self.masked else values
        table = np.stack([np.ravel(d) for d in diags], axis=1)
        return table[self.present(values)]

    def _positions(self, inputs):
        """Per diagonal t: (row j of each of its entries, position q of that entry in ``out``)."""
        present = self.present(inputs)
        q = np.full(present.shape, -1, dtype=np.int64)
        q[present] = np.arange(int(present.sum()), dtype=np.int64)
        return [(np.flatnonzero(present[:, t]), q[present[:, t], t]) for t in range(present.shape[1])]

    def bprop(self, inputs, output, D):
        """Each diagonal's entries come back from their CSR positions (a scatter; zeros elsewhere)."""
        grads = [scatter(D, q, j, self.shape) for j, q in self._positions(inputs)]
        return grads + ([None] if self.masked else [])

    def batch(self, node, args, flags, B):
        """The batched diagonals stacked to (B, N, K) and gathered at each batch's positions."""
        from ..batching import bcast
        from .structure import reshape, stack

        if not isinstance(B, int):
            raise BatchingError("vmap: batching diagonals_to_csr needs a static batch size")
        K, N = self.sizes
        diags = [reshape(bcast(a, f, B, self.shape), (B, N))
                 for a, f in zip(args[:K], flags[:K])]
        pos = np.flatnonzero(self.present(node.inputs).ravel())
        b = np.arange(B, dtype=np.int64)[:, None]
        flat = gather(stack(diags, axis=2), (b * N * K + pos).ravel())
        return reshape(flat, (B, pos.shape[0]))

    def pattern(self, node, pats, shapes, dims):
        import scipy.sparse as sp

        K, N = self.sizes
        present = self.present(node.inputs)
        rows = (np.arange(K, dtype=np.int64)[None, :] * N + np.arange(N, dtype=np.int64)[:, None])[present]
        return patterns.rows(sp.vstack([sp.csr_matrix(p) for p in pats[:K]], format="csr"), rows)

    # -- loop sink: inside the fused loop over x's shape --------------------------------------
    def sink_setup(self, ctx, node, out: str) -> list[str]:
        from ..compiler.codegen import dtype_expr

        return [f"{out} = _empty({ctx.shape_expr(node.shape)}, {dtype_expr(node.dtype)})", f"{out}_k = 0"]

    def sink_update(self, ctx, node, out: str, idx: list[str], read) -> list[str]:
        """Store each present diagonal's value at the next CSR position: ``read(k)`` is the
        expression of input ``k`` at the loop index ``idx``."""
        lines = []
        flat = " + ".join(f"{i} * {int(np.prod(self.shape[a + 1:], dtype=np.int64))}" if a < len(idx) - 1 else i
                          for a, i in enumerate(idx)) or "0"
        for t, s in enumerate(self.offsets):
            if self.masked:
                cond = [f"{ctx.names[ctx.rep[node.inputs[-1]]]}[{flat}, {t}]"]
            else:
                cond = [f"{i} >= {-d}" if d < 0 else f"{i} < {n - d}" for i, d, n in zip(idx, s, self.shape) if d]
            store = [f"{out}[{out}_k] = {read(t)}", f"{out}_k += 1"]
            if cond:
                lines.append(f"if {' and '.join(cond)}:")
                lines.extend("    " + line for line in store)
            else:
                lines.extend(store)
        return lines


def offsets_in_bounds(shape: tuple, offsets) -> np.ndarray:
    """(N, K) bool: whether entry ``j`` of an array of ``shape`` (C order) plus offset ``t`` (one
    int per axis) stays inside ``shape``."""
    grid = np.indices(shape).reshape(len(shape), -1).T
    bound = np.array(shape)
    return np.stack([np.all((grid + np.array(s) >= 0) & (grid + np.array(s) < bound), axis=1) for s in offsets],
                    axis=1).reshape(grid.shape[0], len(offsets))
