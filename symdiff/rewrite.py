"""Graph rewriting: ``clone`` (substitute nodes) and ``simplify`` (algebraic clean-up).

``simplify(outputs)`` rebuilds the graph of ``outputs`` in topological order. Each node is first
rebuilt through its public constructor (which already folds ``x*1``, ``x+0``, ``--x``, transpose
of transpose, matmul by an identity or zero constant, ...), then the pattern rules of
``SIMPLIFY_RULES`` (a table keyed by op class) are applied until none fires, and finally equal
nodes are merged (common subexpressions). Whole passes repeat until the graph stops changing.
Everything is iterative, so graphs of any depth can be simplified.

The rules are what make a symbolic Hessian show its structure: for ``x^T A x + b^T x`` the
Hessian simplifies to ``A + A^T`` (no ``x``, no ``b``); for the L2 logistic loss to
``X^T (X * c) + 2 lam I`` with ``c = p (1 - p) / n``: one n x d x d product.
"""
from __future__ import annotations

import weakref
from typing import Callable, Mapping

import numpy as np

from .errors import ShapeError
from .graph import Constant, Node, flatten_outputs, structural_key, toposort
from .ops.base import Op
from .ops import elementwise as E
from .ops import linalg as L
from .ops import reduction as R
from .ops import structure as S
from .ops import extra as X
from .types import BOOL, broadcast_shapes, format_shape

FULL = ("slice", None, None, None)

# ---------------------------------------------------------------------------------------------
# Recognising special constants
# ---------------------------------------------------------------------------------------------
_identity_cache: "weakref.WeakKeyDictionary[Node, bool]" = weakref.WeakKeyDictionary()


def is_identity(x: Node) -> bool:
    """True if ``x`` is a square 2-d constant equal to the identity matrix (cached per node)."""
    if not isinstance(x, Constant) or x.ndim != 2 or x.shape[0] != x.shape[1]:
        return False
    hit = _identity_cache.get(x)
    if hit is None:
        v = x.value
        n = v.shape[0]
        flat = v.reshape(-1)
        diag = flat[:: n + 1]
        hit = bool(np.all(diag == 1) and np.count_nonzero(v) == n)
        _identity_cache[x] = hit
    return hit


_shift_cache: "weakref.WeakKeyDictionary[Node, object]" = weakref.WeakKeyDictionary()


def shifted_identity(x: Node) -> int | None:
    """``off`` if ``x`` is a 2-d constant equal to ``np.eye(m, k, off)`` (ones at ``(i, i+off)``),
    else None (cached per node). Such a matrix selects or embeds a block in a product."""
    if not isinstance(x, Constant) or x.ndim != 2 or 0 in x.shape:
        return None
    if x in _shift_cache:
        return _shift_cache[x]
    m, k = x.shape
    v = x.value
    off = None
    nz = np.flatnonzero(v)
    if nz.size:
        i0, j0 = divmod(int(nz[0]), k)
        if np.array_equal(v, np.eye(m, k, j0 - i0, dtype=v.dtype)):
            off = j0 - i0
    _shift_cache[x] = off
    return off


def const_value(x: Node):
    """The value of a node that is a constant with all entries equal (seen through broadcasts)."""
    return E.const_value(x)


def is_zero(x: Node) -> bool:
    """True if ``x`` is a constant of zeros (possibly broadcast)."""
    return const_value(x) == 0


def _full(shape, value, dtype) -> Node:
    return E.full(shape, float(value), dtype)


def _smaller(shape, out) -> bool:
    """Whether an operand of ``shape`` broadcast into ``out`` has fewer entries than ``out``."""
    return tuple(shape) != tuple(out)


# ---------------------------------------------------------------------------------------------
# Rebuilding a node from new inputs through its public constructor
# ---------------------------------------------------------------------------------------------
def rebuild(node: Node, inputs) -> Node:
    """``node``'s op applied to ``inputs`` (through its simplifying constructor if it has one)."""
    out = node.op.make(*inputs)
    if out.shape != node.shape:
        out = S.broadcast_to(out, node.shape)
    if out.dtype != node.dtype and node.dtype != BOOL:
        out = E.cast(out, node.dtype)
    return out


# ---------------------------------------------------------------------------------------------
# clone
# ---------------------------------------------------------------------------------------------
def clone(outputs, replace: Mapping[Node, Node] | None = None):
    """Copy the graph of ``outputs`` with each key of ``replace`` swapped for its value.

    Replacements must have the shape of the node they replace. Nodes unaffected by the
    replacements are shared, not copied. Returns a node or a list, like ``outputs``.
    """
    outs, single = flatten_outputs(outputs)
    from .graph import as_node

    new: dict[Node, Node] = {}
    for old, rep in (replace or {}).items():
        rep = as_node(rep)
        if rep.shape != old.shape:
            raise ShapeError(
                f"clone: the replacement for {old!r} has shape {format_shape(rep.shape)}, "
                f"expected {format_shape(old.shape)}"
            )
        new[old] = rep
    for node in toposort(outs):
        if node in new or node.op is None:
            continue
        inputs = [new.get(i, i) for i in node.inputs]
        if any(a is not b for a, b in zip(inputs, node.inputs)):
            new[node] = rebuild(node, inputs)
    results = [new.get(o, o) for o in outs]
    return results[0] if single else results


# ---------------------------------------------------------------------------------------------
# Pattern rules. Each takes the node (its inputs already simplified) and a context holding the
# number of consumers of each node; it returns a replacement of the same shape or None.
# ---------------------------------------------------------------------------------------------
def _fold_elemwise(node, ctx):
    """An elementwise op of all-equal constants is an all-equal constant: exp(0) -> 1."""
    if node.dtype == BOOL:
        return None
    values = [const_value(x) for x in node.inputs]
    if any(v is None for v in values):
        return None
    with np.errstate(all="ignore"):
        v = node.op.perform([np.array(v, dtype=x.dtype) for v, x in zip(values, node.inputs)], None, {})
    v = float(np.asarray(v))
    return None if np.isnan(v) else _full(node.shape, v, node.dtype)


def _implicit_broadcast(x: Node) -> bool:
    """``x`` only adds what elementwise broadcasting would add anyway: ``broadcast_to`` or
    ``expand_dims`` of leading axes."""
    if isinstance(x.op, S.BroadcastTo):
        return True
    return isinstance(x.op, S.ExpandDims) and x.op.axis == tuple(range(len(x.op.axis)))


def _drop_broadcast_inputs(node, ctx):
    """``a * broadcast_to(b, s)`` -> ``a * b`` when broadcasting gives the same result shape."""
    inputs = list(node.inputs)
    changed = False
    for i, x in enumerate(inputs):
        if _implicit_broadcast(x):
            trial = inputs[:i] + [x.inputs[0]] + inputs[i + 1:]
            try:
                shape, dtype = node.op.infer(*trial)
            except ShapeError:
                continue
            if shape == node.shape and dtype == node.dtype:
                inputs, changed = trial, True
    return rebuild(node, inputs) if changed else None


def _where_same(node, ctx):
    """``where(c, a, a)`` -> ``a``."""
    _, a, b = node.inputs
    va, vb = const_value(a), const_value(b)
    if a is b or (va is not None and va == vb):
        return rebuild_broadcast(a, node)
    return None


def rebuild_broadcast(x: Node, like: Node) -> Node:
    if x.shape != like.shape:
        x = S.broadcast_to(x, like.shape)
    if x.dtype != like.dtype:
        x = E.cast(x, like.dtype)
    return x


def _small_factor_first(node, ctx):
    """Reassociate products so that small factors meet first: ``(X * a) * b -> X * (a * b)``
    when ``a * b`` is smaller than the result (the big operand is touched once, not twice)."""
    out = node.shape
    for p, q in (node.inputs, node.inputs[::-1]):
        if isinstance(p.op, E.Mul) and ctx.uses.get(p, 1) <= 1:
            for x, a in (p.inputs, p.inputs[::-1]):
                if x.shape == out and _smaller(broadcast_shapes("mul", a.shape, q.shape), out):
                    return E.mul(x, E.mul(a, q))
        if isinstance(p.op, E.Neg) and ctx.uses.get(p, 1) <= 1 and _smaller(q.shape, out):
            return E.mul(p.inputs[0], E.neg(q))  # (-X) * a -> X * (-a)
    return None


def _neg_of_product(node, ctx):
    """``-(X * a)`` -> ``X * (-a)`` when ``a`` is the smaller factor."""
    (p,) = node.inputs
    if isinstance(p.op, E.Mul) and ctx.uses.get(p, 1) <= 1:
        for x, a in (p.inputs, p.inputs[::-1]):
            if x.shape == node.shape and _smaller(a.shape, node.shape):
                return E.mul(x, E.neg(a))
    return None


def _add_neg(node, ctx):
    """``a + (-b)`` -> ``a - b`` and ``(-a) + b`` -> ``b - a``; ``a + a`` -> ``2 * a``."""
    a, b = node.inputs
    if isinstance(b.op, E.Neg):
        return E.sub(a, b.inputs[0])
    if isinstance(a.op, E.Neg):
        return E.sub(b, a.inputs[0])
    if a is b:
        return E.mul(a, 2.0)
    return None


def _add_constants(node, ctx):
    """``(x + c1) + c2`` -> ``x + (c1 + c2)`` when ``c1 + c2`` folds to a constant."""
    for p, c in (node.inputs, node.inputs[::-1]):
        if isinstance(c, Constant) and isinstance(p.op, E.Add) and ctx.uses.get(p, 1) <= 1:
            for x, c1 in (p.inputs, p.inputs[::-1]):
                if isinstance(c1, Constant):
                    folded = E.add(c1, c)
                    if isinstance(folded, Constant):
                        return E.add(x, folded)
    return None


def _sub_self(node, ctx):
    """``a - a`` -> 0 and ``a - (-b)`` -> ``a + b``."""
    a, b = node.inputs
    if a is b:
        return E.zeros(node.shape, node.dtype)
    if isinstance(b.op, E.Neg):
        return E.add(a, b.inputs[0])
    return None


def _sum_const(node, ctx):
    """The sum of an all-equal constant: ``sum(broadcast_to(c, s), axes) -> c * count``."""
    (x,) = node.inputs
    v = const_value(x)
    if v is None:
        return None
    if v == 0:
        return E.zeros(node.shape, node.dtype)
    return rebuild_broadcast(E.mul(_full((), v, node.dtype), R.size(x, node.op.axis)), node)


def _sum_of_broadcast(node, ctx):
    """``sum(broadcast_to(x, s), axes)``: sum ``x`` only over its own axes and multiply by the
    number of copies, instead of materialising the broadcast."""
    (bx,) = node.inputs
    if not isinstance(bx.op, S.BroadcastTo):
        return None
    x = bx.inputs[0]
    full_shape = bx.shape
    lead = len(full_shape) - x.ndim
    xr = S.expand_dims(x, tuple(range(lead))) if lead else x
    copied = {a for a in range(len(full_shape)) if xr.shape[a] == 1 and full_shape[a] != 1}
    axes = set(node.op.axis)
    factor_axes = tuple(sorted(axes & copied))
    own_axes = tuple(sorted(axes - copied))
    if not factor_axes:
        return None
    y = R.sum_(xr, own_axes, keepdims=True) if own_axes else xr
    keep_shape = tuple(1 if a in axes else d for a, d in enumerate(full_shape))
    y = S.broadcast_to(y, keep_shape)  # the copied axes that are not summed
    if not node.op.keepdims:
        y = S.squeeze(y, tuple(sorted(axes))) if axes else y
    count = R.size(bx, factor_axes)
    return rebuild_broadcast(E.mul(y, count), node)


def _zero_through(node, ctx):
    """Moving zeros around (index_grad, scatter of zeros) gives zeros."""
    if is_zero(node.inputs[0]):
        return E.zeros(node.shape, node.dtype)
    return None


def _const_through(node, ctx):
    """Transposing, reshaping, indexing or reducing (max/min) an all-equal constant."""
    values = {const_value(x) for x in node.inputs}
    if len(values) == 1 and None not in values:
        return _full(node.shape, values.pop(), node.dtype)
    return None


def _fold_constant_inputs(node, ctx):
    """An op whose inputs are all constants is computed once, at build time, whatever the size
    (constructors fold only small ones), provided the result is no larger than twice its largest
    input: slices of seed matrices, scaled constants, index_grad of constants, ..."""
    xs = node.inputs
    if not xs or not all(isinstance(x, Constant) for x in xs):
        return None
    if not all(isinstance(d, int) for d in node.shape):
        return None
    if int(np.prod(node.shape)) > 2 * max(x.value.size for x in xs):
        return None
    with np.errstate(all="ignore"):
        value = np.asarray(node.op.perform([x.value for x in xs], node, {}))
    if value.dtype.kind == "f" and np.isnan(value).any():
        return None
    out = Constant(np.ascontiguousarray(value).astype(node.dtype, copy=False))
    out.weak = all(x.weak for x in xs)
    return out


def _matmul_zero(node, ctx):
    a, b = node.inputs
    if is_zero(a) or is_zero(b):
        return E.zeros(node.shape, node.dtype)
    return None


def _select(x: Node, axis: int, start: int, length: int) -> Node:
    key = [FULL] * x.ndim
    key[axis] = ("slice", start, start + length, None)
    return S.Index(tuple(key))(x)


def _embed(x: Node, axis: int, start: int, total: int) -> Node:
    key = [FULL] * x.ndim
    key[axis] = ("slice", start, start + x.shape[axis], None)
    shape = list(x.shape)
    shape[axis] = total
    return S.IndexGrad(tuple(key), tuple(shape))(x)


def _matmul_shifted_identity(node, ctx):
    """A product with a slice of the identity, ``C = eye(m, k, off)``, is a slice of the other
    operand or that operand placed in a block of zeros: no arithmetic at all."""
    a, b = node.inputs
    off = shifted_identity(a)
    if off is not None and b.ndim >= 1 and isinstance(b.shape[-2 if b.ndim >= 2 else -1], int):
        m, k = a.shape                          # (C @ b)[i] = b[i + off]
        axis = -2 if b.ndim >= 2 else -1
        if off >= 0 and off + m <= k:
            return _select(b, axis, off, m)
        if off <= 0 and k - off <= m:
            return _embed(b, axis, -off, m)
    off = shifted_identity(b)
    if off is not None and a.ndim >= 1 and isinstance(a.shape[-1], int):
        k, m = b.shape                          # (a @ C)[..., j] = a[..., j - off]
        if off <= 0 and m - off <= k:
            return _select(a, -1, -off, m)
        if off >= 0 and off + k <= m:
            return _embed(a, -1, off, m)
    return None


SIMPLIFY_RULES: dict[type, list[Callable]] = {
    Op: [_fold_constant_inputs],      # every op (found along the MRO)
    E.Elemwise: [_fold_elemwise, _drop_broadcast_inputs],
    E.Mul: [_small_factor_first],
    E.Neg: [_neg_of_product],
    E.Add: [_add_neg, _add_constants],
    E.Sub: [_sub_self],
    E.Where: [_where_same],
    R.Sum: [_sum_const, _sum_of_broadcast],
    R.Max: [_const_through],
    S.Transpose: [_const_through],
    S.Reshape: [_const_through],
    S.ExpandDims: [_const_through],
    S.Squeeze: [_const_through],
    S.Index: [_const_through],
    S.IndexGrad: [_zero_through],
    S.Concatenate: [_const_through],
    L.Matmul: [_matmul_zero, _matmul_shifted_identity],
    L.Outer: [_matmul_zero],
    X.Scatter: [_zero_through],
}


def _rules_for(op) -> list[Callable]:
    rules = []
    for cls in type(op).__mro__:
        rules.extend(SIMPLIFY_RULES.get(cls, ()))
    return rules


# ---------------------------------------------------------------------------------------------
# The pass
# ---------------------------------------------------------------------------------------------
class _Context:
    def __init__(self):
        self.uses: dict[Node, int] = {}


def _one_pass(outs: list[Node]) -> list[Node]:
    order = toposort(outs)
    uses: dict[Node, int] = {}
    for n in order:
        for i in set(n.inputs):
            uses[i] = uses.get(i, 0) + 1
    ctx = _Context()
    new: dict[Node, Node] = {}
    merged: dict = {}
    for node in order:
        if node.op is None:
            out = node
        else:
            inputs = [new[i] for i in node.inputs]
            out = node if all(a is b for a, b in zip(inputs, node.inputs)) else rebuild(node, inputs)
            for _ in range(16):
                if out.op is None:
                    break
                for rule in _rules_for(out.op):
                    rep = rule(out, ctx)
                    if rep is not None and rep is not out:
                        out = rebuild_broadcast(rep, out)
                        break
                else:
                    break
        key = structural_key(out)
        if key is not None:
            out = merged.setdefault(key, out)
        new[node] = out
        ctx.uses[out] = ctx.uses.get(out, 0) + uses.get(node, 0)
    return [new[o] for o in outs]


def simplify(outputs, max_passes: int = 4):
    """Algebraically simplify the graph of ``outputs``; returns new output nodes (same values).

    Folds identities and zeros (matmul by the identity, ``x*0``, ``x*1``, ``x+0``, sums of
    zeros, index_grad of zeros), sums of broadcasts, transposes of transposes, constants, and
    merges common subexpressions. See ``SIMPLIFY_RULES``.
    """
    outs, single = flatten_outputs(outputs)
    for _ in range(max_passes):
        new = _one_pass(outs)
        if all(a is b for a, b in zip(new, outs)):
            break
        outs = new
    return outs[0] if single else outs
