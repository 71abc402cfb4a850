"""Batching transformation: give every node that depends on a variable a leading batch axis.

``vmap(outputs, var, batched)`` rewrites the graph of ``outputs`` as if ``var`` (shape ``s``)
were replaced by ``batched`` (shape ``(B, *s)``) and every op were applied to each of the ``B``
slices. It does this symbolically, in one pass in topological order: a node that does not
depend on ``var`` is reused unchanged; a node that does gets a new node of shape
``(B, *node.shape)`` built by the op's *batching rule*.

The rules live in one table, ``BATCH_RULES``, keyed by op class (looked up along the class's
MRO, so all elementwise ops share one rule). A rule is called as
``rule(node, args, flags, B)`` where ``args`` are the (possibly) new inputs, ``flags[i]`` says
whether ``args[i]`` carries the batch axis, and ``B`` is the batch size; it returns a node of
shape ``(B, *node.shape)``. Rules only build ordinary ops, so the result can be evaluated,
compiled and differentiated again.

This is what makes a Jacobian one graph: ``jacobian`` builds the vector-Jacobian product with a
seed variable and batches it over the rows of the identity.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .errors import ShapeError, SymdiffError
from .graph import Node, as_node, flatten_outputs, toposort
from .ops import elementwise as E
from .ops import linalg as L
from .ops import nn as NN
from .ops import reduction as R
from .ops import structure as S
from .ops import extra as X
from .types import format_shape

FULL = ("slice", None, None, None)


class BatchingError(SymdiffError):
    """vmap met an op it has no batching rule for, or was given inconsistent shapes."""


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------
def _lift(x: Node, rank: int) -> Node:
    """A batched ``x`` of shape (B, *s) as (B, 1, ..., 1, *s) with ``rank`` dims after B, so that
    right-aligned broadcasting against unbatched inputs of higher rank still lines up."""
    missing = rank - (x.ndim - 1)
    return S.expand_dims(x, tuple(range(1, 1 + missing))) if missing > 0 else x


def _shift(axes: tuple) -> tuple:
    return tuple(a + 1 for a in axes)


def _bcast(x: Node, flag: bool, B, shape) -> Node:
    """An input made batched: unbatched inputs are broadcast along a new leading axis."""
    return x if flag else S.broadcast_to(x, (B, *shape))


# Elementwise binary ops whose public constructors simplify (x*1, x+0, ...).
_ELEMWISE_CONSTRUCTORS: dict[type, Callable] = {
    E.Add: E.add, E.Sub: E.sub, E.Mul: E.mul, E.Div: E.div, E.Pow: E.power,
}


# ---------------------------------------------------------------------------------------------
# Batching rules, one per op family
# ---------------------------------------------------------------------------------------------
def _elemwise(node, args, flags, B):
    rank = node.ndim
    args = [_lift(a, rank) if f else a for a, f in zip(args, flags)]
    make = _ELEMWISE_CONSTRUCTORS.get(type(node.op))
    if make is not None:
        out = make(*args)
    elif isinstance(node.op, E.Neg):
        out = E.neg(args[0])
    else:
        out = node.op(*args)
    # a constructor may have folded to something narrower (e.g. ``x * 0`` -> 0)
    return S.broadcast_to(out, (B, *node.shape)) if out.shape != (B, *node.shape) else out


def _reduce(node, args, flags, B):
    return type(node.op)(_shift(node.op.axis), node.op.keepdims)(args[0])


def _softmax_like(node, args, flags, B):
    return type(node.op)(_shift(node.op.axis))(args[0])


def _logsumexp(node, args, flags, B):
    return NN.LogSumExp(_shift(node.op.axis), node.op.keepdims)(args[0])


def _transpose(node, args, flags, B):
    return S.transpose(args[0], (0, *_shift(node.op.axes)))


def _reshape(node, args, flags, B):
    return S.reshape(args[0], (B, *node.op.shape))


def _broadcast_to(node, args, flags, B):
    return S.broadcast_to(_lift(args[0], len(node.op.shape)), (B, *node.op.shape))


def _expand_dims(node, args, flags, B):
    return S.ExpandDims(_shift(node.op.axis))(args[0])


def _squeeze(node, args, flags, B):
    return S.Squeeze(_shift(node.op.axis))(args[0])


def _index(node, args, flags, B):
    return S.Index((FULL, *node.op.key))(args[0])


def _index_grad(node, args, flags, B):
    return S.IndexGrad((FULL, *node.op.key), (B, *node.op.shape))(args[0])


def _concatenate(node, args, flags, B):
    parts = [_bcast(a, f, B, x.shape) for a, f, x in zip(args, flags, node.inputs)]
    return S.Concatenate(node.op.axis + 1)(*parts)


def _matmul(node, args, flags, B):
    a, b = args
    fa, fb = flags
    ra, rb = node.inputs[0].ndim, node.inputs[1].ndim  # unbatched ranks
    # Fast paths that fold the batch into a single matrix product (one GEMM, not B GEMVs).
    if fb and not fa and rb == 1 and ra == 2:          # A @ v_b  ->  V @ A^T
        return L.matmul(b, S.transpose(a))
    if fa and not fb and ra == 1 and rb in (1, 2):     # v_b @ b  ->  V @ b
        return L.matmul(a, b)
    if fa and not fb and rb == 1:                      # A_b @ v: (B, .., m, k) @ (k,)
        return L.matmul(a, b)
    if fa and fb and ra == 1 and rb == 1:              # batched inner products
        return R.sum_(E.mul(a, b), axis=-1)
    if fa and not fb and ra >= 2 and rb == 2 and all(isinstance(d, int) for d in a.shape[:-1]):
        rows = int(np.prod(a.shape[:-1]))              # A_b @ M: stack the rows, one GEMM
        return S.reshape(L.matmul(S.reshape(a, (rows, a.shape[-1])), b), (B, *node.shape))
    # General case: promote vectors to matrices, align batch dims after B, let NumPy's
    # broadcasting matmul do the work, then drop the promoted axes again.
    promoted = ra == 1 or rb == 1
    if ra == 1:
        a = S.expand_dims(a, -2)
    if rb == 1:
        b = S.expand_dims(b, -1)
    nbatch = max(max(ra, 2), max(rb, 2)) - 2
    if fa:
        a = _lift(a, nbatch + 2)
    if fb:
        b = _lift(b, nbatch + 2)
    out = L.matmul(a, b)
    return S.reshape(out, (B, *node.shape)) if promoted else out  # drops the promoted axes


def _outer(node, args, flags, B):
    a, b = args
    fa, fb = flags
    a2 = S.expand_dims(a, -1)                            # (.., m, 1)
    b2 = S.expand_dims(b, 1) if fb else b                # (B, 1, n) or (n,)
    return E.mul(a2, b2)


def _scatter(node, args, flags, B):
    x, src, dst = node.inputs
    if not isinstance(B, int) or not all(isinstance(d, int) for d in (*x.shape, *node.shape)):
        raise BatchingError("vmap: batching a scatter needs static sizes")
    size_x, size_out = int(np.prod(x.shape)), int(np.prod(node.shape))
    b = np.arange(B, dtype=np.int64)[:, None]
    return X.scatter(args[0], (b * size_x + src.value).ravel(), (b * size_out + dst.value).ravel(), (B, *node.shape))


def _gather(node, args, flags, B):
    x, idx = node.inputs
    if not isinstance(B, int) or not all(isinstance(d, int) for d in x.shape):
        raise BatchingError("vmap: batching a gather needs static sizes")
    b = np.arange(B, dtype=np.int64)[:, None]
    flat = X.gather(args[0], (b * int(np.prod(x.shape)) + idx.value).ravel())
    return S.reshape(flat, (B, idx.shape[0]))


BATCH_RULES: dict[type, Callable] = {
    E.Elemwise: _elemwise,            # every elementwise op: add, mul, exp, where, cast, ...
    R.Reduce: _reduce,                # sum, max, min: shift the reduced axes
    NN.Softmax: _softmax_like,
    NN.LogSoftmax: _softmax_like,
    NN.LogSumExp: _logsumexp,
    S.Transpose: _transpose,          # prepend axis 0
    S.Reshape: _reshape,              # prepend B
    S.BroadcastTo: _broadcast_to,     # prepend B
    S.ExpandDims: _expand_dims,       # shift
    S.Squeeze: _squeeze,              # shift
    S.Index: _index,                  # prepend a full slice
    S.IndexGrad: _index_grad,
    S.Concatenate: _concatenate,      # broadcast unbatched parts, shift the axis
    L.Matmul: _matmul,
    L.Outer: _outer,
    X.Scatter: _scatter,              # offset the flat indices by each batch slice
    X.Gather: _gather,                # the same
}


def batch_rule(op) -> Callable:
    """The batching rule of ``op`` (looked up along its class hierarchy)."""
    for cls in type(op).__mro__:
        rule = BATCH_RULES.get(cls)
        if rule is not None:
            return rule
    raise BatchingError(
        f"vmap: no batching rule for the op {op!r} ({type(op).__name__}); "
        "add one to symdiff.vmap.BATCH_RULES"
    )


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
    outs, single = flatten_outputs(outputs)
    batched = as_node(batched)
    if batched.ndim != var.ndim + 1 or tuple(batched.shape[1:]) != tuple(var.shape):
        raise ShapeError(
            f"vmap: the batched value has shape {format_shape(batched.shape)}; expected (B, *{format_shape(var.shape)})"
        )
    B = batched.shape[0]
    new: dict[Node, Node] = {var: batched}
    is_batched: set[Node] = {var}
    for node in toposort(outs):
        if node is var or node.op is None:
            continue
        flags = [i in is_batched for i in node.inputs]
        if not any(flags):
            continue  # does not depend on var: reused as is
        args = [new.get(i, i) for i in node.inputs]
        out = batch_rule(node.op)(node, args, flags, B)
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
