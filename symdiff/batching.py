"""Shared helpers for batching rules (``Op.batch``), used by ``symdiff.vmap``.

A batching rule is an op method ``batch(node, args, flags, B) -> Node``: ``args`` are the
(possibly) new inputs of ``node``, ``flags[i]`` says whether ``args[i]`` carries a leading batch
axis of size ``B``; the rule returns a node of shape ``(B, *node.shape)`` built from ordinary ops,
so the result can be evaluated, compiled and differentiated again. Every op declares its rule
beside its other rules; this module holds only what several rules share.
"""
from __future__ import annotations

from .errors import SymdiffError

FULL = ("slice", None, None, None)


class BatchingError(SymdiffError):
    """vmap met an op it has no batching rule for, or was given inconsistent shapes."""


def lift(x, rank: int):
    """A batched ``x`` of shape (B, *s) as (B, 1, ..., 1, *s) with ``rank`` dims after B, so that
    right-aligned broadcasting against unbatched inputs of higher rank still lines up."""
    from .ops.structure import expand_dims

    missing = rank - (x.ndim - 1)
    return expand_dims(x, tuple(range(1, 1 + missing))) if missing > 0 else x


def shift(axes: tuple) -> tuple:
    """Axes of an unbatched node renumbered for its batched version (one axis in front)."""
    return tuple(a + 1 for a in axes)


def bcast(x, flag: bool, B, shape):
    """An input made batched: unbatched inputs are broadcast along a new leading axis."""
    from .ops.structure import broadcast_to

    return x if flag else broadcast_to(x, (B, *shape))


def all_batched(node, args, flags, B) -> list:
    """Every input batched (unbatched ones broadcast along the batch axis)."""
    return [bcast(a, f, B, x.shape) for a, f, x in zip(args, flags, node.inputs)]


def move_to_front(x, axis: int):
    """``x`` with ``axis`` moved to position 0 (the batch position)."""
    from .ops.structure import transpose

    axis = axis % x.ndim
    if axis == 0:
        return x
    perm = (axis,) + tuple(a for a in range(x.ndim) if a != axis)
    return transpose(x, perm)
