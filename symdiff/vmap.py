"""Batching transformation: give every node that depends on a variable a leading batch axis.

``vmap(outputs, var, batched)`` rewrites the graph of ``outputs`` as if ``var`` (shape ``s``)
were replaced by ``batched`` (shape ``(B, *s)``) and every op were applied to each of the ``B``
slices. It does this symbolically, in one pass in topological order: a node that does not
depend on ``var`` is reused unchanged; a node that does gets a new node of shape
``(B, *node.shape)`` built by the op's *batching rule*.

Each op declares its batching rule beside its other rules, as the method
``op.batch(node, args, flags, B)`` (families such as ``Elemwise`` write it once for all their
members): ``args`` are the (possibly) new inputs, ``flags[i]`` says whether ``args[i]`` carries
the batch axis, and ``B`` is the batch size; it returns a node of shape ``(B, *node.shape)``.
Rules only build ordinary ops, so the result can be evaluated, compiled and differentiated
again. Shared helpers are in ``symdiff.batching``.

This is what makes a Jacobian one graph: ``jacobian`` builds the vector-Jacobian product with a
seed variable and batches it over the rows of the identity.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from .batching import BatchingError
from .errors import ShapeError
from .graph import Node, as_node, flatten_outputs, toposort
from .ops import structure as S
from .types import format_shape

__all__ = ["BatchingError", "vmap", "vmap_many"]


# ---------------------------------------------------------------------------------------------
# The transformation
# ---------------------------------------------------------------------------------------------
def vmap(outputs, var: Node, batched, *, max_bytes: int | None = None):
    """Batch ``outputs`` over ``var``: every node depending on ``var`` gets a leading axis.

    ``var`` is a node of shape ``s`` (usually a variable) and ``batched`` a node (or array) of
    shape ``(B, *s)``. Returns, for each output of shape ``t``, a node of shape ``(B, *t)`` whose
    slice ``k`` equals the output with ``var`` replaced by ``batched[k]`` (outputs that do not
    depend on ``var`` are broadcast). Nodes that do not depend on ``var`` are shared, not copied.
    With ``max_bytes``, building a batched node whose static size exceeds it raises
    ``MemoryLimitError``.
    """
    return vmap_many(outputs, {var: batched}, max_bytes=max_bytes)


def vmap_many(outputs, replace: Mapping[Node, object], *, max_bytes: int | None = None):
    """``vmap`` over several nodes at once: each key ``var`` of ``replace`` (shape ``s``) is
    replaced by its value (shape ``(B, *s)``, one ``B`` for all)."""
    outs, single = flatten_outputs(outputs)
    new: dict[Node, Node] = {}
    B = None
    for var, batched in replace.items():
        batched = as_node(batched)
        if batched.ndim != var.ndim + 1 or tuple(batched.shape[1:]) != tuple(var.shape):
            raise ShapeError(
                f"vmap: the batched value has shape {format_shape(batched.shape)}; expected (B, *{format_shape(var.shape)})"
            )
        if B is not None and batched.shape[0] != B:
            raise ShapeError(f"vmap: batch sizes differ ({B!r} and {batched.shape[0]!r})")
        B = batched.shape[0]
        new[var] = batched
    if B is None:
        raise ShapeError("vmap: nothing to batch over")
    is_batched: set[Node] = set(new)
    for node in toposort(outs):
        if node in new or node.op is None:
            continue
        flags = [i in is_batched for i in node.inputs]
        if not any(flags):
            continue  # does not depend on the batched nodes: reused as is
        args = [new.get(i, i) for i in node.inputs]
        out = node.op.batch(node, args, flags, B)
        if out.shape != (B, *node.shape):
            raise BatchingError(
                f"vmap: the rule for {node.op!r} gave shape {format_shape(out.shape)}, "
                f"expected {format_shape((B, *node.shape))}"
            )
        if max_bytes is not None:
            _check_size(out, max_bytes, f"the batched {node.op.name} node")
        new[node] = out
        is_batched.add(node)
    results = [new[o] if o in is_batched else S.broadcast_to(o, (B, *o.shape)) for o in outs]
    return results[0] if single else results


def _check_size(node: Node, max_bytes: int, what: str) -> None:
    if all(isinstance(d, int) for d in node.shape):
        nbytes = int(np.prod(node.shape, dtype=np.float64)) * node.dtype.itemsize
        if nbytes > max_bytes:
            from .jacobian import MemoryLimitError

            raise MemoryLimitError(
                f"{what} of shape {format_shape(node.shape)} would take {nbytes / 2**30:.3g} GiB, "
                f"over the memory limit of {max_bytes / 2**30:.3g} GiB "
                "(raise it with sd.set_memory_limit, or use hvp / hessian(..., sparse=True))"
            )
