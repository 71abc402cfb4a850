"""Splitting outputs that are sums (or means) over a row dim into per-chunk partial sums.

A loss over a data set is a sum over its rows, and so are its gradient and Hessian with respect
to the parameters. ``split_row_sums(outputs, "n")`` checks this from the graph and rewrites each
output ``o`` as

    o = lin(o) + off(o)

where ``lin(o)`` is *linear in the row sums* (it is zero when every row sum is zero, and the
value on the whole data set is the sum of its values on the chunks of rows) and ``off(o)``
depends on the parameters alone (``loss = mean(...) + lam * sum(w**2)``: ``off`` is the penalty,
added once, not once per chunk).

The graph is classified node by node, in topological order (no recursion):

* **P** (parameter): no row input is an ancestor and the shape has no row dim. ``size(n)``
  (the ``n`` of a mean, also inside gradients as ``1 / n``) is a parameter too: it is replaced by
  a scalar input holding the *total* row count, so every chunk divides by the same ``n``.
* **R** (row-local, with its row axis): the shape has the row dim exactly once, and each row
  of the value depends only on the same row of the row inputs (elementwise ops, reductions and
  softmaxes over other axes, matmul over other axes, transposes, broadcasts, slicing other
  axes, ...).
* **S** (linear in row sums): no row dim in the shape. Made by a *boundary* reduction, a
  ``sum`` over the row axis of an R value or a matmul contracting the row axis of two R values
  (``X.T @ r``), and then only by operations linear in their S argument: ``+ - neg``, products
  with a P factor (``*``, ``/ P``, matmul, outer), transposes, reshapes, indexing, sums,
  concatenation, ``where`` with a P condition, casts and the sparse Hessian's gather.

Anything else touching the rows is refused with a ``RowSumError`` naming the output and the op:
a ``max`` over the rows, a product of two row sums, ``exp`` of a mean, an R value computed from
an S value (``x - mean(x)``), an output with the row dim in its shape, slicing along the rows.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import SymdiffError
from ..graph import Node, Variable, toposort
from ..ops import elementwise as E
from ..ops import extra as X
from ..ops import linalg as L
from ..ops import nn as NN
from ..ops import reduction as R
from ..ops import structure as S
from ..rewrite import rebuild
from ..types import dim_names, format_shape

__all__ = ["RowSumError", "RowSplit", "split_row_sums"]


class RowSumError(SymdiffError, ValueError):
    """An output is not a sum or mean over the row dim, so it cannot be computed chunk by chunk."""


P, ROW, SUM = "P", "R", "S"
FULL = ("slice", None, None, None)

# ops linear in all of their listed input positions together (P inputs there count as zeros)
_ADDITIVE = {E.Add: (0, 1), E.Sub: (0, 1), E.Neg: (0,), E.Cast: (0,), S.Transpose: (0,),
             S.Reshape: (0,), S.ExpandDims: (0,), S.Squeeze: (0,), S.BroadcastTo: (0,),
             S.Index: (0,), S.IndexGrad: (0,), X.Gather: (0,), R.Sum: (0,), E.Where: (1, 2)}
# ops linear in each listed position separately (one S input, the others P)
_MULTILINEAR = {E.Mul: (0, 1), E.Div: (0,), L.Matmul: (0, 1), L.Outer: (0, 1)}


@dataclass
class RowSplit:
    """The outputs of ``split_row_sums``: per output, ``lin`` (its part linear in the row sums,
    ``None`` when the output depends on parameters alone) and ``off`` (its parameter part,
    ``None`` when zero); ``count`` is the scalar input that replaces ``size`` over the row dim
    (the total row count), ``row_inputs``/``param_inputs`` the variables of each kind."""

    row_dim: str
    lin: list
    off: list
    count: Variable
    row_inputs: list
    param_inputs: list
    row_axes: dict


def _describe(k: int, o: Node) -> str:
    label = f" {o.name!r}" if o.name else ""
    return f"output {k}{label} (shape {format_shape(o.shape)})"


def _row_axis(node: Node, n: str):
    """The position of the row dim in ``node``'s shape (None when absent); refuses shapes that
    hold it twice or inside an expression such as ``n - 1`` (a slice along the rows)."""
    hits = [a for a, d in enumerate(node.shape) if d == n]
    shifted = [d for d in node.shape if d != n and n in dim_names(d)]
    if shifted:
        raise _Refusal(f"the {_what(node)} has shape {format_shape(node.shape)}: its axis {shifted[0]!r} "
                       f"slices or shifts the rows {n!r}")
    if len(hits) > 1:
        raise _Refusal(f"the {_what(node)} has shape {format_shape(node.shape)}: the row dim {n!r} "
                       "appears twice (pairs of rows are not a sum over rows)")
    return hits[0] if hits else None


def _what(node: Node) -> str:
    if isinstance(node, Variable):
        return f"input {node.name!r}"
    return f"{node.op!r} node" if node.op is not None else "constant"


class _Refusal(Exception):
    """Internal: why a node breaks the row-sum form (turned into a RowSumError naming the output)."""


def _index_axis(key: tuple, p: int, ndim: int):
    """Where input axis ``p`` goes under a basic index ``key``, or None when it is not kept whole."""
    key = tuple(key) + (FULL,) * (ndim - sum(k is not None for k in key))
    axis_in, axis_out = 0, 0
    for k in key:
        if k is None:
            axis_out += 1
            continue
        if axis_in == p:
            return axis_out if k == FULL else None
        axis_in += 1
        if not isinstance(k, int):
            axis_out += 1
    return None


def _static_prod(dims):
    if not all(isinstance(d, int) for d in dims):
        return None
    return int(np.prod(dims, dtype=np.int64))


def _matmul_roles(a: Node, b: Node, pa, pb):
    """The roles of the row axes of matmul's operands: 'k' (contracted) or 'other'."""
    roles = []
    for x, p, contracted in ((a, pa, lambda x: x.ndim - 1), (b, pb, lambda x: 0 if x.ndim == 1 else x.ndim - 2)):
        roles.append(None if p is None else ("k" if p == contracted(x) else "other"))
    return roles


def _classify_row(node: Node, kinds: dict, axes: dict, n: str, q: int) -> None:
    """Check that ``node`` (whose shape has the row dim at ``q``) is row-local; raise _Refusal."""
    op, ins = node.op, node.inputs
    kin = [kinds[x] for x in ins]
    if SUM in kin:
        x = ins[kin.index(SUM)]
        raise _Refusal(f"the {_what(node)} of shape {format_shape(node.shape)} combines a row sum "
                       f"(shape {format_shape(x.shape)}) with per-row values (as in x - mean(x)): "
                       "each chunk would see only its own partial sum")
    rows = [(x, axes[x]) for x, k in zip(ins, kin) if k == ROW]
    t = type(op)
    if isinstance(op, E.Elemwise):
        ok = all(p + node.ndim - x.ndim == q for x, p in rows)
    elif isinstance(op, (R.Reduce, NN.LogSumExp, NN.Softmax, NN.LogSoftmax)):
        (x, p), = rows
        if p in op.axis:
            raise _Refusal(f"the {_what(node)} reduces over the rows {n!r} with {op.name}: only sums "
                           "and means over the rows can be split into chunks")
        ok = True
    elif t in (S.Transpose, S.ExpandDims, S.Squeeze, S.BroadcastTo):
        ok = True  # they move, add or drop other axes (a broadcast stretches size-1 axes only)
    elif t is S.Reshape:
        (x, p), = rows or [(None, None)]
        ok = x is not None and _static_prod(x.shape[:p]) is not None and (
            _static_prod(x.shape[:p]) == _static_prod(node.shape[:q]))
    elif t is S.Index:
        (x, p), = rows
        ok = _index_axis(op.key, p, x.ndim) == q
        if not ok:
            raise _Refusal(f"the {_what(node)} indexes the rows {n!r} (key {op.key!r}): chunks would "
                           "each select their own rows")
    elif t is L.Matmul:
        roles = _matmul_roles(ins[0], ins[1], axes.get(ins[0]) if kin[0] == ROW else None,
                              axes.get(ins[1]) if kin[1] == ROW else None)
        ok = "k" not in roles
    elif t is L.Outer:
        ok = True
    elif t is S.Concatenate:
        ok = all(p == q for _, p in rows) and len(rows) == len(ins) and op.axis != q
    else:
        ok = False
    if not ok:
        raise _Refusal(f"the {_what(node)} of shape {format_shape(node.shape)} is not known to keep "
                       f"the rows {n!r} apart (inputs {', '.join(format_shape(x.shape) for x in ins)})")


def _is_boundary(node: Node, kinds: dict, axes: dict, n: str) -> bool:
    """A sum over the row axis of a row-local value (``sum(r)``, ``X.T @ r``)."""
    op, ins = node.op, node.inputs
    kin = [kinds[x] for x in ins]
    if type(op) is R.Sum and kin[0] == ROW:
        if axes[ins[0]] in op.axis:
            return True
    if type(op) is L.Matmul and kin == [ROW, ROW]:
        return _matmul_roles(ins[0], ins[1], axes[ins[0]], axes[ins[1]]) == ["k", "k"]
    if ROW in kin and isinstance(op, (R.Reduce, NN.LogSumExp)):
        raise _Refusal(f"the {op.name} over the rows {n!r} (shape {format_shape(ins[0].shape)} -> "
                       f"{format_shape(node.shape)}) is not a sum: only sums and means over the rows can "
                       "be split into chunks")
    if ROW in kin:
        raise _Refusal(f"the {_what(node)} of shape {format_shape(node.shape)} takes per-row values "
                       f"(shape {format_shape(ins[kin.index(ROW)].shape)}) to a result without the rows "
                       f"{n!r}, and it is not a sum over them")
    return False


def _linear_slots(node: Node, kinds: dict) -> tuple:
    """The positions of ``node``'s S inputs if it is linear in them, else raise _Refusal."""
    op, ins = node.op, node.inputs
    s_at = tuple(k for k, x in enumerate(ins) if kinds[x] == SUM)
    t = type(op)
    slots = _ADDITIVE.get(t)
    if (t is E.Where and kinds[ins[0]] != P) or (t is E.Cast and node.dtype.kind != "f"):
        slots = None  # a row-dependent condition, or a cast to integers or booleans: not linear
    if slots is not None and set(s_at) <= set(slots):
        return slots
    slots = _MULTILINEAR.get(t)
    if slots is not None and len(s_at) == 1 and s_at[0] in slots:
        return s_at
    if t is S.Concatenate:
        return tuple(range(len(ins)))
    why = ("a product of two row sums" if len(s_at) > 1 and t in _MULTILINEAR else
           f"{op.name} is not linear in its argument {s_at[0]}" if s_at else "")
    raise _Refusal(f"the {_what(node)} of shape {format_shape(node.shape)} applies {op.name} to a row sum"
                   f"{' (' + why + ')' if why else ''}: the result is not a sum over rows, so the chunks' "
                   "partial results cannot be added up")


def split_row_sums(outputs, row_dim: str = "n", *, where: str = "symdiff.dask") -> RowSplit:
    """Check that every output is a sum/mean over ``row_dim`` (or depends on parameters alone)
    and rewrite it as ``lin + off`` (see the module docstring). Raises ``RowSumError`` naming
    the first output that is not of this form and the op that breaks it."""
    outs = list(outputs)
    count = Variable(f"_rows_{row_dim}", (), np.dtype("float64"))
    kinds: dict = {}
    axes: dict = {}
    boundary: set = set()
    owner: dict = {}  # node -> the first output it belongs to (for messages)
    order = toposort(outs)
    for k, o in enumerate(outs):
        for node in toposort([o]) if len(outs) > 1 else ():
            owner.setdefault(node, k)
    for node in order:
        try:
            q = _row_axis(node, row_dim)
            if node.op is None:
                kinds[node] = ROW if q is not None else P
                axes[node] = q
                continue
            if type(node.op) is R.SizeOf:
                dims = node.op.shape
                if any(d != row_dim and row_dim in dim_names(d) for d in dims) or dims.count(row_dim) > 1:
                    raise _Refusal(f"the {_what(node)} counts {format_shape(dims)}: a slice of the rows "
                                   f"or a power of {row_dim!r}, not the row count")
                kinds[node] = P
                continue
            kin = [kinds[x] for x in node.inputs]
            if q is not None:
                if all(k == P for k in kin):
                    if type(node.op) is not S.BroadcastTo:
                        raise _Refusal(f"the {_what(node)} of shape {format_shape(node.shape)} makes "
                                       f"values along the rows {row_dim!r} from parameters alone")
                else:
                    _classify_row(node, kinds, axes, row_dim, q)
                kinds[node], axes[node] = ROW, q
            elif all(k == P for k in kin):
                kinds[node] = P
            elif _is_boundary(node, kinds, axes, row_dim):
                kinds[node] = SUM
                boundary.add(node)
            else:
                _linear_slots(node, kinds)
                kinds[node] = SUM
        except _Refusal as exc:
            k = owner.get(node, 0)
            raise RowSumError(f"{where}: {_describe(k, outs[k])} is not a sum or mean over the rows "
                              f"{row_dim!r}: {exc}") from None
    for k, o in enumerate(outs):
        if kinds[o] == ROW:
            raise RowSumError(f"{where}: {_describe(k, outs[k])} has the row dim {row_dim!r} in its shape: "
                              "it is per-row, not a sum or mean over the rows")
    return _rewrite(outs, order, kinds, axes, boundary, count, row_dim)


def _count_node(node: Node, count: Variable, n: str) -> Node:
    """``size`` over dims that include the row dim, with the row dim's size the total count."""
    dims = node.op.shape
    rest = tuple(d for d in dims if d != n)
    value = count if node.dtype == count.dtype else E.cast(count, node.dtype)
    if rest:
        value = value * R.size(E.zeros(rest, node.dtype))  # a constant, or size over named dims
    return value


def _rewrite(outs, order, kinds, axes, boundary, count, n) -> RowSplit:
    new: dict = {}   # P and R nodes with size(n) replaced by the count
    lin: dict = {}   # S nodes: the part linear in the row sums
    off: dict = {}   # S nodes: the parameter part (None: zero)
    for node in order:
        kind = kinds[node]
        if node.op is None:
            new[node] = node
            continue
        if type(node.op) is R.SizeOf:
            new[node] = _count_node(node, count, n) if n in node.op.shape else node
            continue
        if kind in (P, ROW):
            ins = [new[x] for x in node.inputs]
            new[node] = node if all(a is b for a, b in zip(ins, node.inputs)) else rebuild(node, ins)
            continue
        if node in boundary:
            lin[node] = rebuild(node, [new[x] for x in node.inputs])
            off[node] = None
            continue
        slots = _linear_slots(node, kinds)
        lin_in, off_in = [], []
        for k, x in enumerate(node.inputs):
            if kinds[x] == SUM:
                lin_in.append(lin[x])
                off_in.append(off[x] if off[x] is not None else E.zeros(x.shape, x.dtype))
            elif k in slots:  # a parameter term of a sum: it belongs to the offset only
                lin_in.append(E.zeros(x.shape, x.dtype))
                off_in.append(new[x])
            else:
                lin_in.append(new[x])
                off_in.append(new[x])
        lin[node] = rebuild(node, lin_in)
        o = rebuild(node, off_in)
        off[node] = None if E.const_value(o) == 0 else o
    lin_out, off_out = [], []
    for o in outs:
        if kinds[o] == P:
            lin_out.append(None)
            off_out.append(new[o])
        else:
            lin_out.append(lin[o])
            off_out.append(off[o])
    variables = [v for v in toposort(outs) if isinstance(v, Variable)]
    return RowSplit(
        row_dim=n, lin=lin_out, off=off_out, count=count,
        row_inputs=[v for v in variables if kinds[v] == ROW],
        param_inputs=[v for v in variables if kinds[v] == P],
        row_axes={v: axes[v] for v in variables if kinds[v] == ROW},
    )
