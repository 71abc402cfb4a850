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

from typing import Callable, Mapping

import numpy as np

from .batching import BatchingError
from .errors import ShapeError
from .graph import Node, as_node, flatten_outputs, toposort
from .ops import structure as S
from .types import format_shape

__all__ = ["BatchingError", "vmap", "vmap_many", "vmap_function"]


# ---------------------------------------------------------------------------------------------
# The transformation
# ---------------------------------------------------------------------------------------------
def vmap(outputs, var=None, batched=None, *, in_axes=None, out_axes=None, max_bytes: int | None = None):
    """Batch ``outputs`` over ``var``: every node depending on ``var`` gets a leading axis.

    Also JAX's form: ``vmap(fun, in_axes=0, out_axes=0)`` with a callable returns the function
    mapped over an axis of its arguments (see ``vmap_function``).

    ``var`` is a node of shape ``s`` (usually a variable) and ``batched`` a node (or array) of
    shape ``(B, *s)``. Returns, for each output of shape ``t``, a node of shape ``(B, *t)`` whose
    slice ``k`` equals the output with ``var`` replaced by ``batched[k]`` (outputs that do not
    depend on ``var`` are broadcast). Nodes that do not depend on ``var`` are shared, not copied.
    With ``max_bytes``, building a batched node whose static size exceeds it raises
    ``MemoryLimitError``.
    """
    if callable(outputs) and not isinstance(outputs, (Node, list, tuple)):
        spec_in = in_axes if in_axes is not None else (0 if var is None else var)
        spec_out = out_axes if out_axes is not None else (0 if batched is None else batched)
        return vmap_function(outputs, spec_in, spec_out)
    if var is None or batched is None:
        raise ShapeError("vmap(outputs, var, batched): give the node to batch over and its batched value")
    return vmap_many(outputs, {var: batched}, max_bytes=max_bytes)


def _leaves(tree) -> tuple[list, Callable]:
    """The leaves of nested tuples/lists/dicts and a function rebuilding the structure from new leaves."""
    if isinstance(tree, (tuple, list)):
        parts = [_leaves(t) for t in tree]
        counts = [len(p[0]) for p in parts]

        def rebuild(new):
            out, k = [], 0
            for (_, fn), c in zip(parts, counts):
                out.append(fn(new[k:k + c]))
                k += c
            return type(tree)(out) if isinstance(tree, tuple) and not hasattr(tree, "_fields") else (
                type(tree)(*out) if isinstance(tree, tuple) else out)

        return [leaf for p in parts for leaf in p[0]], rebuild
    if isinstance(tree, dict):
        keys = list(tree)
        leaves, fn = _leaves([tree[k] for k in keys])
        return leaves, lambda new: dict(zip(keys, fn(new)))
    return [tree], lambda new: new[0]


def _axes_per_leaf(spec, tree) -> list:
    """``in_axes`` spread over the leaves of ``tree`` (an int/None applies to a whole subtree)."""
    if spec is None or isinstance(spec, int):
        return [spec] * len(_leaves(tree)[0])
    if isinstance(tree, dict):
        if not isinstance(spec, dict):
            raise BatchingError(f"vmap: in_axes {spec!r} does not match a dict argument")
        return [a for k in tree for a in _axes_per_leaf(spec[k], tree[k])]
    if isinstance(spec, (tuple, list)) and isinstance(tree, (tuple, list)):
        if len(spec) != len(tree):
            raise BatchingError(f"vmap: in_axes has {len(spec)} entries for {len(tree)} arguments")
        return [a for s, t in zip(spec, tree) for a in _axes_per_leaf(s, t)]
    raise BatchingError(f"vmap: in_axes {spec!r} does not match the argument structure")


def vmap_function(fun: Callable, in_axes=0, out_axes=0) -> Callable:
    """``jax.vmap``: ``fun`` applied to each slice of its arguments along ``in_axes`` (an int,
    None for an unbatched argument, or a tuple with one entry per argument, nested like the
    arguments), results stacked along ``out_axes``. The per-slice graph is built once with fresh
    variables and batched symbolically, so the result is one graph, not a Python loop."""
    from .batching import move_to_front
    from .graph import Variable

    def mapped(*args):
        spec = in_axes if not isinstance(in_axes, list) else tuple(in_axes)
        if isinstance(spec, tuple) and len(spec) != len(args):
            raise BatchingError(f"vmap: in_axes has {len(spec)} entries for {len(args)} arguments")
        leaves, rebuild = _leaves(tuple(args))
        axes = _axes_per_leaf(spec, tuple(args))
        replace, per_slice, B = {}, [], None
        for k, (leaf, ax) in enumerate(zip(leaves, axes)):
            if ax is None:
                per_slice.append(leaf)
                continue
            node = as_node(leaf)
            if not -node.ndim <= ax < max(node.ndim, 1) or node.ndim == 0:
                raise BatchingError(f"vmap: in_axes {ax} is out of range for an argument of shape {format_shape(node.shape)}")
            moved = move_to_front(node, ax)
            if B is not None and moved.shape[0] != B:
                raise BatchingError(f"vmap: the mapped axes have different sizes ({B!r} and {moved.shape[0]!r})")
            B = moved.shape[0]
            v = Variable(f"_vmap{k}", moved.shape[1:], moved.dtype)
            replace[v] = moved
            per_slice.append(v)
        if B is None:
            raise BatchingError("vmap: in_axes maps no argument (all None)")
        result = fun(*rebuild(per_slice))
        out_leaves, out_rebuild = _leaves(result)
        nodes = [as_node(o) for o in out_leaves]
        batched = vmap_many(nodes, replace)
        if not isinstance(batched, list):
            batched = [batched]
        out_axes_list = _axes_per_leaf(out_axes, result) if not isinstance(out_axes, int) else [out_axes] * len(nodes)
        final = []
        for b, ax in zip(batched, out_axes_list):
            if ax is None:
                final.append(S.index(b, 0))
            elif ax % b.ndim:
                axes_order = list(range(1, b.ndim))
                axes_order.insert(ax % b.ndim, 0)
                final.append(S.transpose(b, tuple(axes_order)))
            else:
                final.append(b)
        return out_rebuild(final)

    mapped.__name__ = getattr(fun, "__name__", "mapped")
    mapped.__doc__ = f"vmap of {mapped.__name__} over in_axes={in_axes!r}"
    return mapped


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
