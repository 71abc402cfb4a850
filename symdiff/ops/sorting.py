"""``sort``, ``argsort`` and data-dependent ``take_along_axis``.

``Argsort`` gives, for each row of a 2-d input, the positions that sort it, as *flat* positions
into the input (``r * n + j``), so that ``sort`` is one ``take`` of the flattened input: the
gradient of a sort then follows the entries (``take``'s scatter-add), and Hessians work.
``AlongAxis`` turns indices along an axis (such as ``argmax(..., keepdims=True)``) into flat
positions the same way. Both are integer ops: no gradient flows through them.
"""
from __future__ import annotations

import numpy as np

from .. import patterns
from ..batching import BatchingError
from ..errors import DTypeError, ShapeError
from ..graph import Node, as_node
from ..types import concrete_shape, format_shape
from .base import Op
from ..compiler.codegen import size_tuple

__all__ = ["sort", "argsort"]


class Argsort(Op):
    """Stable argsort of each row of a 2-d input; ``flat=True`` gives positions ``r * n + j``."""

    name = "argsort"

    def __init__(self, flat: bool):
        super().__init__(flat=flat)

    def infer(self, x):
        if x.ndim != 2:
            raise ShapeError(f"argsort: expects a 2-d input (rows are sorted), got {format_shape(x.shape)}")
        return x.shape, np.dtype(np.int64)

    def perform(self, values, node, dims):
        x = values[0]
        idx = np.argsort(x, axis=1, kind="stable")
        if self.flat:
            idx = idx + np.arange(x.shape[0], dtype=np.int64)[:, None] * x.shape[1]
        return idx.astype(np.int64)

    def bprop(self, inputs, output, D):
        return [None]

    def lower(self, ctx, node, args, out):
        rows, n = (ctx.dim(d) for d in node.shape)
        offset = f" + {out}_r * {n}" if self.flat else ""
        return [
            f"{out} = _empty({size_tuple([rows, n])}, np.int64)",
            f"for {out}_r in range({rows}):",
            f"    {out}_o = np.argsort({args[0]}[{out}_r], kind='mergesort')",
            f"    for {out}_j in range({n}):",
            f"        {out}[{out}_r, {out}_j] = {out}_o[{out}_j]{offset}",
        ]

    def batch(self, node, args, flags, B):
        raise BatchingError("vmap: batching argsort is not supported")

    pattern = staticmethod(patterns.none)


class AlongAxis(Op):
    """Flat positions into an array of ``shape`` of indices along ``axis`` (``take_along_axis``)."""

    name = "along_axis"
    accepts_bool = True  # integer indices stay integers

    def __init__(self, axis: int, shape: tuple):
        super().__init__(axis=axis, shape=shape)

    def infer(self, idx):
        if idx.dtype.kind not in "iu":
            raise DTypeError(f"take_along_axis: indices must be integers, got {idx.dtype}")
        if idx.ndim != len(self.shape):
            raise ShapeError(f"take_along_axis: indices of {idx.ndim} dims for an array of {len(self.shape)} dims")
        for a, (d, s) in enumerate(zip(idx.shape, self.shape)):
            if a != self.axis and d != s:
                raise ShapeError(
                    f"take_along_axis: indices of shape {format_shape(idx.shape)} do not fit an array of "
                    f"shape {format_shape(self.shape)} off axis {self.axis}")
        return idx.shape, np.dtype(np.int64)

    def perform(self, values, node, dims):
        idx = np.asarray(values[0], dtype=np.int64)
        shape = concrete_shape(self.shape, dims)
        n = shape[self.axis]
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise ShapeError(f"take_along_axis: an index is out of bounds for an axis of size {n}")
        grids = list(np.meshgrid(*[np.arange(d) for d in idx.shape], indexing="ij"))
        grids[self.axis] = np.where(idx < 0, idx + n, idx)
        return np.ravel_multi_index(tuple(grids), shape).astype(np.int64)

    def bprop(self, inputs, output, D):
        return [None]

    def lower(self, ctx, node, args, out):
        shape = self.shape
        pre = " * ".join(ctx.dim(d) for d in shape[:self.axis]) or "1"
        n = ctx.dim(shape[self.axis])
        post = " * ".join(ctx.dim(d) for d in shape[self.axis + 1:]) or "1"
        m = ctx.dim(node.shape[self.axis])
        return [
            f"{out}_i = _reshape({args[0]}, {size_tuple([pre, m, post])})",
            f"{out}_3 = _empty({size_tuple([pre, m, post])}, np.int64)",
            f"for {out}_p in range({pre}):",
            f"    for {out}_m in range({m}):",
            f"        for {out}_q in range({post}):",
            f"            {out}_k = {out}_i[{out}_p, {out}_m, {out}_q]",
            f"            if {out}_k < 0:",
            f"                {out}_k += {n}",
            f"            if {out}_k < 0 or {out}_k >= {n}:",
            "                raise IndexError('take_along_axis: an index is out of bounds')",
            f"            {out}_3[{out}_p, {out}_m, {out}_q] = ({out}_p * {n} + {out}_k) * {post} + {out}_q",
            f"{out} = _reshape({out}_3, {ctx.shape_expr(node.shape)})",
        ]

    def batch(self, node, args, flags, B):
        raise BatchingError("vmap: batching take_along_axis over its indices is not supported")

    pattern = staticmethod(patterns.none)


def _rows_last(x: Node, axis):
    """``x`` with ``axis`` moved last and flattened to (rows, n); returns it and the moved shape."""
    from .structure import reshape, transpose

    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    if x.ndim == 0:
        raise ShapeError("sort: cannot sort a 0-d node")
    axis = axis % x.ndim
    perm = tuple(a for a in range(x.ndim) if a != axis) + (axis,)
    moved = transpose(x, perm)
    rows = moved.shape[:-1]
    if not all(isinstance(d, int) for d in rows):
        raise ShapeError(f"sort: needs static sizes off the sorted axis, got {format_shape(x.shape)}")
    return reshape(moved, (int(np.prod(rows)), moved.shape[-1])), moved.shape, perm


def _back(y: Node, moved_shape, perm):
    from .structure import reshape, transpose

    return transpose(reshape(y, moved_shape), tuple(int(i) for i in np.argsort(perm)))


def argsort(a, axis: int | None = -1) -> Node:
    """``np.argsort`` (stable), int64."""
    x2, moved_shape, perm = _rows_last(as_node(a), axis)
    return _back(Argsort(False)(x2), moved_shape, perm)


def sort(a, axis: int | None = -1) -> Node:
    """``np.sort``: the entries in order along ``axis``; gradients follow the entries."""
    from .indexing import Take
    from .structure import reshape

    x2, moved_shape, perm = _rows_last(as_node(a), axis)
    flat = Argsort(True)(x2)
    y = reshape(Take(0)(reshape(x2, (-1,)), flat), x2.shape)
    return _back(y, moved_shape, perm)


def take_along_axis_dynamic(arr: Node, idx: Node, axis: int) -> Node:
    """``take_along_axis`` with integer indices computed in the graph (static sizes)."""
    from .indexing import Take
    from .structure import reshape

    if not all(isinstance(d, int) for d in arr.shape):
        raise ShapeError(f"take_along_axis: needs static sizes, got {format_shape(arr.shape)}")
    flat = AlongAxis(axis % arr.ndim, arr.shape)(idx)
    return Take(0)(reshape(arr, (-1,)), flat)
