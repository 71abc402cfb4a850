"""Stencil form of a linear map: the Hessian's diagonals straight out of its product graph.

A Hessian-vector product ``p = H v`` of a stencil objective (extended Rosenbrock, chained Wood, a
discretised PDE: elementwise arithmetic on shifted slices of ``x``) reads ``v`` only at fixed
offsets from each output entry::

    p[j] = sum over offsets s of  A_s[j] * v[j + s]

so ``H[j, j + s] = A_s[j]``: each diagonal of the Hessian is a graph on ``x`` alone. ``diagonals``
finds the ``A_s`` by walking the product graph in topological order, carrying for every node that
depends on ``v`` its own table ``{offset: coefficient node}``:

* ``v`` itself is ``{0: 1}``;
* a slice ``M[lo:hi]`` reads ``M`` at ``j + lo``: offsets shift by ``+lo``, coefficients are sliced;
* a slice gradient (``index_grad``, ``M`` placed at ``[lo:hi]`` of zeros) shifts them by ``-lo``,
  coefficients are placed the same way (zero outside);
* strided slices (``x[::2]``, ``x[1::2]``: MGH's pairwise Rosenbrock, Powell, Wood) read ``v`` at
  ``stride * j + s``: a table also carries its stride, multiplied by a slice's step and divided
  by a slice gradient's; the product itself must come back to stride 1;
* ``M1 + M2``, ``M1 - M2``, ``-M``: tables added offset by offset;
* ``a * M``, ``M / a``, ``where(c, M1, M2)``, casts, with ``a`` and ``c`` free of ``v``: applied to
  every coefficient.

Anything else that touches ``v`` (a sum over an axis, a reshape, a product of two ``v`` terms)
returns ``None``, and the sparse Hessian falls back to compressed Hessian-vector products. Evaluating
the diagonals costs what a hand-written Hessian loop costs: no seed matrix, no multiplications by
zero seeds, no compressed intermediate to pick the non-zeros from (issue 12: within 1.25x of the
hand-written Numba loop that writes the CSR values directly).
"""
from __future__ import annotations

import numpy as np

from .graph import Constant, Node, Variable, toposort
from .ops import elementwise as E
from .ops.extra import offsets_in_bounds
from .ops.structure import BroadcastTo, Index, IndexGrad, broadcast_to

Offset = tuple  # one int per axis of x

# More diagonals than this make a loop body too long to compile quickly; compression is used instead.
MAX_DIAGONALS = 32


class _NotStencil(Exception):
    pass


def diagonals(product: Node, v: Variable, shape: tuple) -> dict[Offset, Node] | None:
    """``{s: A_s}`` with ``product[j] == sum_s A_s[j] * v[j + s]`` (each ``A_s`` of ``product``'s
    shape, free of ``v``), or ``None`` when ``product`` is not of that form. ``shape`` is the
    concrete shape of ``v`` (and ``product``); only static shapes are handled."""
    if product.shape != v.shape or tuple(shape) != tuple(product.shape) or not shape:
        return None
    unit = (1,) * len(shape)
    tables: dict[Node, _Table] = {v: _Table(unit, {(0,) * len(shape): Constant(np.asarray(1.0, dtype=v.dtype))})}
    try:
        for n in toposort([product]):
            if n is v or n.op is None:
                continue
            if any(i in tables for i in n.inputs):
                tables[n] = _rule(n, tables)
    except _NotStencil:
        return None
    table = tables.get(product)
    if table is None or table.stride != unit or len(table.coeffs) > MAX_DIAGONALS:
        return None
    return {s: _full(a, product.shape) for s, a in sorted(table.coeffs.items())}


class _Table:
    """A node ``N`` linear in ``v``: ``N[j] = sum_s coeffs[s][j] * v[stride * j + s]`` (per axis)."""

    def __init__(self, stride: tuple, coeffs: dict):
        self.stride, self.coeffs = stride, coeffs

    def map(self, fn) -> "_Table":
        return _Table(self.stride, {s: fn(a) for s, a in self.coeffs.items()})


def _full(a: Node, shape) -> Node:
    return a if a.shape == shape else broadcast_to(a, shape)


def _rule(n: Node, tables: dict) -> _Table:
    """The table of node ``n``, one of whose inputs depends on ``v``."""
    op, ins = n.op, n.inputs
    linear = [i in tables for i in ins]
    if isinstance(op, Index):  # N[j] = M[lo + step * j]
        t = tables[ins[0]]
        lo, step = _slices(op.key, ins[0].shape, ins[0].ndim)
        coeffs = {tuple(s + r * a for s, r, a in zip(s, t.stride, lo)): op(_full(a, ins[0].shape)) if a.ndim else a
                  for s, a in t.coeffs.items()}
        return _Table(tuple(r * k for r, k in zip(t.stride, step)), coeffs)
    if isinstance(op, IndexGrad):  # N[lo + step * k] = M[k], zero elsewhere
        t = tables[ins[0]]
        lo, step = _slices(op.key, op.shape, len(op.shape))
        if any(r % k for r, k in zip(t.stride, step)):
            raise _NotStencil  # v read at non-integer multiples of the output index
        stride = tuple(r // k for r, k in zip(t.stride, step))
        coeffs = {tuple(s - r * a for s, r, a in zip(s, stride, lo)): op(_full(a, ins[0].shape))
                  for s, a in t.coeffs.items()}
        return _Table(stride, coeffs)
    if any(linear[k] and ins[k].shape != n.shape for k in range(len(ins))):
        raise _NotStencil  # a v term broadcast (read at one index by many outputs)
    if isinstance(op, BroadcastTo):  # same shape (checked above): an identity
        return tables[ins[0]]
    if isinstance(op, (E.Add, E.Sub)):
        if not all(linear):
            raise _NotStencil  # v term + a v-free term: not a linear map
        left, right = tables[ins[0]], tables[ins[1]]
        if left.stride != right.stride:
            raise _NotStencil
        out = dict(left.coeffs)
        for s, a in right.coeffs.items():
            if isinstance(op, E.Add):
                out[s] = E.add(out[s], a) if s in out else a
            else:
                out[s] = E.sub(out[s], a) if s in out else E.neg(a)
        return _Table(left.stride, out)
    if isinstance(op, E.Neg):
        return tables[ins[0]].map(E.neg)
    if isinstance(op, E.Cast):
        return tables[ins[0]].map(op)
    if isinstance(op, E.Mul) and sum(linear) == 1:
        k = linear.index(True)
        other = ins[1 - k]
        return tables[ins[k]].map(lambda a: E.mul(a, other))
    if isinstance(op, E.Div) and linear == [True, False]:
        return tables[ins[0]].map(lambda a: E.div(a, ins[1]))
    if isinstance(op, E.Where) and not linear[0]:
        cond, a, b = ins
        for k in (1, 2):  # a v-free branch must be zero for the map to stay linear
            if not linear[k] and not (isinstance(ins[k], Constant) and not np.any(ins[k].value)):
                raise _NotStencil
        ta, tb = tables.get(a), tables.get(b)
        if ta is not None and tb is not None and ta.stride != tb.stride:
            raise _NotStencil
        stride = (ta or tb).stride
        ca, cb = (ta.coeffs if ta else {}), (tb.coeffs if tb else {})
        zero = Constant(np.asarray(0.0, dtype=n.dtype))
        return _Table(stride, {s: E.where(cond, ca.get(s, zero), cb.get(s, zero)) for s in sorted({*ca, *cb})})
    raise _NotStencil


def _slices(key: tuple, shape: tuple, ndim: int) -> tuple[tuple, tuple]:
    """(start, step) of each axis of a key made of slices only (no ints, no new axes)."""
    if len(key) != ndim or not all(isinstance(d, int) for d in shape):
        raise _NotStencil
    starts, steps = [], []
    for k, d in zip(key, shape):
        if not isinstance(k, tuple):
            raise _NotStencil
        start, _, step = slice(*k[1:]).indices(d)
        starts.append(start)
        steps.append(step)
    return tuple(starts), tuple(steps)


def csr_layout(pattern, shape: tuple, offsets: list[Offset]) -> tuple[np.ndarray, bool] | None:
    """Where each diagonal's entries go in the CSR data of ``pattern`` (rows and columns: entries
    of ``x`` in C order, indices sorted): ``present`` (N, K) bool, row ``j`` listing which offsets
    row ``j`` of the pattern holds (in CSR order, the offsets being sorted), and whether that is
    exactly "every offset that stays inside ``shape``" (then the kernel tests bounds, not a mask).
    ``None`` when the pattern holds an entry at an offset not in ``offsets``."""
    N = int(np.prod(shape, dtype=np.int64))
    rows = np.repeat(np.arange(N, dtype=np.int64), np.diff(pattern.indptr))
    cols = pattern.indices.astype(np.int64)
    jr, jc = np.unravel_index(rows, shape), np.unravel_index(cols, shape)
    delta = np.stack([c - r for r, c in zip(jr, jc)], axis=1) if len(shape) else np.zeros((0, 0), np.int64)
    # each offset as one int (mixed radix, digits shifted to be non-negative), looked up at once
    radix = np.array([2 * d - 1 for d in shape], dtype=np.int64)
    weights = np.concatenate([np.cumprod(radix[::-1])[::-1][1:], [1]]).astype(np.int64)
    base = np.array([d - 1 for d in shape], dtype=np.int64)
    # an offset no entry can have (|s| >= the dim) gets key -1, which no entry matches
    keys = np.array([int(((np.array(s) + base) * weights).sum()) if all(abs(a) < d for a, d in zip(s, shape))
                     else -1 for s in offsets], dtype=np.int64)
    order = np.argsort(keys)
    got = ((delta + base) * weights).sum(axis=1) if delta.size else np.zeros(0, np.int64)
    slot = np.searchsorted(keys[order], got)
    slot = np.minimum(slot, len(offsets) - 1)
    if got.size and not np.array_equal(keys[order][slot], got):
        return None  # an entry at an offset the stencil does not have
    t_of = order[slot]
    present = np.zeros((N, len(offsets)), dtype=bool)
    present[rows, t_of] = True
    return present, bool(np.array_equal(present, offsets_in_bounds(shape, offsets)))
