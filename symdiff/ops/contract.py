"""Tensor contractions built from existing ops: einsum, tensordot, inner, vdot, kron,
matrix_power, multi_dot and cross.

Everything here is a composition of ``transpose``, ``reshape``, ``expand_dims``, ``index``,
``sum``, ``mul`` and ``matmul``, so gradients (of any order), batching, sparsity patterns and
the Numba lowering come from those ops. A two-operand contraction becomes one (batched)
``matmul`` after the operands are transposed and reshaped to ``(batch..., M, K) @ (batch...,
K, N)``, so BLAS does the work; products without a contracted index are broadcast ``mul``.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import DTypeError, ShapeError
from ..graph import Node, as_node
from ..types import format_shape, normalize_axis

__all__ = ["einsum", "tensordot", "inner", "vdot", "kron", "matrix_power", "multi_dot", "cross"]

# the size assumed for a named dim when choosing a cheap contraction order
_NAMED_DIM_GUESS = 1000


# ---------------------------------------------------------------------------------------------
# Labels and sizes
# ---------------------------------------------------------------------------------------------
def _static(d) -> int:
    """A dim's size for cost estimates (named dims count as large)."""
    return d if isinstance(d, int) else _NAMED_DIM_GUESS


def _product(dims, what: str):
    """The product of dims as one dim: ints multiply, a single non-1 named dim passes through."""
    dims = [d for d in dims if d != 1]
    if not dims:
        return 1
    if len(dims) == 1:
        return dims[0]
    if all(isinstance(d, int) for d in dims):
        return int(np.prod(dims))
    raise ShapeError(f"{what}: merging the dims {tuple(dims)} needs static sizes (named dims cannot be multiplied)")


def _label_sizes(what: str, operands, labels) -> dict:
    """The size of every label; size-1 dims broadcast, other sizes must agree."""
    sizes: dict = {}
    for x, labs in zip(operands, labels):
        for lab, d in zip(labs, x.shape):
            seen = sizes.get(lab, 1)
            if d == 1 or d == seen:
                sizes.setdefault(lab, d)
            elif seen == 1:
                sizes[lab] = d
            else:
                raise ShapeError(
                    f"{what}: the index {_show(lab)} has size {seen!r} in one operand and {d!r} in another "
                    f"(operand shapes {', '.join(format_shape(o.shape) for o in operands)})"
                )
    return sizes


def _show(lab) -> str:
    return "'...'" if isinstance(lab, tuple) else repr(lab)


def _move(x: Node, labels: list, order: list) -> Node:
    """``x`` (axes named by ``labels``) transposed so its axes follow ``order``."""
    from .structure import transpose

    return transpose(x, tuple(labels.index(lab) for lab in order))


# ---------------------------------------------------------------------------------------------
# One operand: diagonals of repeated labels, sums over labels used nowhere else
# ---------------------------------------------------------------------------------------------
def _diagonal(what: str, x: Node, labels: list, lab) -> tuple[Node, list]:
    """Take the diagonal over every axis of ``x`` labelled ``lab``; it becomes the last axis."""
    from .structure import broadcast_to, index, reshape, transpose

    axes = [k for k, l in enumerate(labels) if l == lab]
    rest = [k for k in range(x.ndim) if k not in axes]
    dims = {x.shape[k] for k in axes} - {1}
    if len(dims) > 1:
        raise ShapeError(f"{what}: the repeated index {_show(lab)} has different sizes {tuple(x.shape[k] for k in axes)}")
    n = dims.pop() if dims else 1
    if not isinstance(n, int):
        raise ShapeError(f"{what}: the repeated index {_show(lab)} runs over the named dim {n!r}; a diagonal needs a static size")
    x = transpose(x, tuple(rest + axes))
    x = broadcast_to(x, tuple(x.shape[: len(rest)]) + (n,) * len(axes))
    # the diagonal of an n x ... x n block: every (1 + n + n^2 + ...)-th entry of its flattening
    flat = reshape(x, tuple(x.shape[: len(rest)]) + (n ** len(axes),))
    step = sum(n ** j for j in range(len(axes)))
    diag = index(flat, (Ellipsis, slice(None, None, step))) if n > 1 else flat
    return diag, [labels[k] for k in rest] + [lab]


def _prepare(what: str, x: Node, labels: list, needed: set) -> tuple[Node, list]:
    """Diagonals for labels repeated within ``x``; sums over labels nobody else needs."""
    from .reduction import sum_

    for lab in list(dict.fromkeys(labels)):
        if labels.count(lab) > 1:
            x, labels = _diagonal(what, x, labels, lab)
    alone = tuple(k for k, lab in enumerate(labels) if lab not in needed)
    if alone:
        x = sum_(x, axis=alone)
        labels = [lab for k, lab in enumerate(labels) if k not in alone]
    return x, labels


# ---------------------------------------------------------------------------------------------
# Two operands
# ---------------------------------------------------------------------------------------------
def _pair(what: str, a: Node, la: list, b: Node, lb: list, keep: set) -> tuple[Node, list]:
    """Contract two operands over their shared labels that are not in ``keep``."""
    from .elementwise import mul
    from .linalg import matmul
    from .reduction import sum_
    from .structure import expand_dims, reshape, squeeze

    shared = [lab for lab in la if lab in lb]
    contracted = [lab for lab in shared if lab not in keep]
    # a contracted index of size 1 on one side broadcasts: sum the other side over it first
    for lab in list(contracted):
        da, db = a.shape[la.index(lab)], b.shape[lb.index(lab)]
        if da == db:
            continue
        if da == 1:
            a, la = squeeze(a, la.index(lab)), [l for l in la if l != lab]
            b, lb = sum_(b, axis=lb.index(lab)), [l for l in lb if l != lab]
        else:
            b, lb = squeeze(b, lb.index(lab)), [l for l in lb if l != lab]
            a, la = sum_(a, axis=la.index(lab)), [l for l in la if l != lab]
        contracted.remove(lab)
    batch = [lab for lab in la if lab in lb and lab not in contracted]
    a_only = [lab for lab in la if lab not in lb]
    b_only = [lab for lab in lb if lab not in la]
    out_labels = batch + a_only + b_only
    da = {lab: a.shape[la.index(lab)] for lab in la}
    db = {lab: b.shape[lb.index(lab)] for lab in lb}

    def broadcast_product():  # (batch, a_only, contracted) * (batch, contracted, b_only), summed
        x = _move(a, la, batch + a_only + contracted)
        y = _move(b, lb, batch + contracted + b_only)
        nb, na, nc = len(batch), len(a_only), len(contracted)
        x = expand_dims(x, tuple(range(x.ndim, x.ndim + len(b_only)))) if b_only else x
        y = expand_dims(y, tuple(range(nb, nb + na))) if na else y
        # now x: (batch, a_only, contracted, 1s) and y: (batch, 1s, contracted, b_only)
        prod = mul(x, y)
        return sum_(prod, axis=tuple(range(nb + na, nb + na + nc))) if nc else prod

    if not contracted:
        return broadcast_product(), out_labels
    try:
        M = _product([da[l] for l in a_only], what)
        N = _product([db[l] for l in b_only], what)
        K = _product([da[l] for l in contracted], what)
    except ShapeError:  # named dims that would have to be merged: broadcast and sum instead
        return broadcast_product(), out_labels
    if batch and M == 1 and N == 1:  # a batch of dot products: one fused loop beats many GEMVs
        return broadcast_product(), out_labels
    x = reshape(_move(a, la, batch + a_only + contracted), tuple(da[l] for l in batch) + (M, K))
    y = reshape(_move(b, lb, batch + contracted + b_only), tuple(db[l] for l in batch) + (K, N))
    z = matmul(x, y)
    return reshape(z, tuple(z.shape[: len(batch)]) + tuple(da[l] for l in a_only) + tuple(db[l] for l in b_only)), out_labels


def _contract(what: str, operands: list, labels: list, out: list) -> Node:
    """The contraction of ``operands`` (axes named by ``labels``) to the labels ``out``."""
    from .reduction import sum_

    _label_sizes(what, operands, labels)
    items = []
    for k, (x, labs) in enumerate(zip(operands, labels)):
        needed = set(out).union(*(set(l) for j, l in enumerate(labels) if j != k))
        items.append(_prepare(what, x, list(labs), needed))
    while len(items) > 1:
        # greedy: contract the pair whose result-and-summed index space is smallest
        best = None
        for i in range(len(items)):
            for j in range(i + 1, len(items)):
                union = set(items[i][1]) | set(items[j][1])
                sizes = _label_sizes(what, [items[i][0], items[j][0]], [items[i][1], items[j][1]])
                cost = float(np.prod([_static(sizes[lab]) for lab in union]))
                if best is None or cost < best[0]:
                    best = (cost, i, j)
        _, i, j = best
        keep = set(out).union(*(set(l) for k, (_, l) in enumerate(items) if k not in (i, j)))
        merged = _pair(what, *items[i], *items[j], keep)
        items = [it for k, it in enumerate(items) if k not in (i, j)] + [merged]
    x, labs = items[0]
    extra = tuple(k for k, lab in enumerate(labs) if lab not in out)
    if extra:
        x, labs = sum_(x, axis=extra), [lab for lab in labs if lab in out]
    x = _move(x, labs, out)
    sizes = _label_sizes(what, operands, labels)
    target = tuple(sizes[lab] for lab in out)
    if x.shape != target:  # a label of size 1 in every remaining operand but larger elsewhere
        from .structure import broadcast_to

        x = broadcast_to(x, target)
    return x


# ---------------------------------------------------------------------------------------------
# einsum
# ---------------------------------------------------------------------------------------------
def _parse_term(term: str, subscripts: str) -> list:
    """Letters of one term; ``...`` becomes the marker ``"..."`` (expanded later)."""
    out, k = [], 0
    while k < len(term):
        if term.startswith("...", k):
            if "..." in out:
                raise ShapeError(f"einsum: more than one '...' in the term {term!r} of {subscripts!r}")
            out.append("...")
            k += 3
        elif term[k].isascii() and term[k].isalpha():
            out.append(term[k])
            k += 1
        else:
            raise ShapeError(f"einsum: invalid character {term[k]!r} in the subscripts {subscripts!r}")
    return out


def einsum(subscripts: str, *operands, optimize=False) -> Node:
    """``np.einsum`` in the subscripts form: implicit or explicit output, ``...`` broadcasting,
    repeated indices (traces, diagonals) over static dims, any number of operands.

    ``optimize`` is accepted for NumPy compatibility; operands are always contracted pairwise
    in a greedy cheap order, each pair as one batched ``matmul``.
    """
    if not isinstance(subscripts, str):
        raise ShapeError(f"einsum: the subscripts must be a string like 'ij,jk->ik', got {type(subscripts).__name__}")
    xs = [as_node(x) for x in operands]
    spec = subscripts.replace(" ", "")
    if spec.count("->") > 1:
        raise ShapeError(f"einsum: more than one '->' in {subscripts!r}")
    lhs, arrow, rhs = spec.partition("->")
    terms = [_parse_term(t, subscripts) for t in lhs.split(",")]
    if len(terms) != len(xs):
        raise ShapeError(f"einsum: {subscripts!r} names {len(terms)} operand(s) but {len(xs)} were given")
    # expand '...': the broadcast dims of all operands share right-aligned labels ("...", k)
    ranks = []
    for t, x in zip(terms, xs):
        letters = len(t) - ("..." in t)
        if letters > x.ndim or ("..." not in t and letters != x.ndim):
            raise ShapeError(
                f"einsum: the term {''.join(t)!r} has {letters} indices but its operand has shape {format_shape(x.shape)}"
            )
        ranks.append(x.ndim - letters if "..." in t else 0)
    R = max(ranks, default=0)
    labels = []
    for t, r in zip(terms, ranks):
        labs = []
        for lab in t:
            labs.extend([("...", k) for k in range(R - r, R)] if lab == "..." else [lab])
        labels.append(labs)
    ell = [("...", k) for k in range(R)]
    if arrow:
        out_t = _parse_term(rhs, subscripts)
        letters = [lab for lab in out_t if lab != "..."]
        for lab in letters:
            if letters.count(lab) > 1:
                raise ShapeError(f"einsum: the output index {lab!r} appears more than once in {subscripts!r}")
            if not any(lab in t for t in terms):
                raise ShapeError(f"einsum: the output index {lab!r} is not in any input of {subscripts!r}")
        if "..." not in out_t and R:
            raise ShapeError(f"einsum: the operands have '...' dims but the output of {subscripts!r} has no '...'")
        out = []
        for lab in out_t:
            out.extend(ell if lab == "..." else [lab])
    else:
        counts: dict = {}
        for t in terms:
            for lab in t:
                if lab != "...":
                    counts[lab] = counts.get(lab, 0) + 1
        out = ell + sorted(lab for lab, c in counts.items() if c == 1)
    return _contract("einsum", xs, labels, out)


# ---------------------------------------------------------------------------------------------
# The NumPy products
# ---------------------------------------------------------------------------------------------
def tensordot(a, b, axes=2) -> Node:
    """``np.tensordot``: sum over the last ``axes`` dims of ``a`` and the first of ``b``, or over
    the pairs of axes given as two sequences."""
    a, b = as_node(a), as_node(b)
    if isinstance(axes, (int, np.integer)) and not isinstance(axes, bool):
        n = int(axes)
        if n < 0 or n > min(a.ndim, b.ndim):
            raise ShapeError(f"tensordot: axes={n} does not fit shapes {format_shape(a.shape)} and {format_shape(b.shape)}")
        ax_a, ax_b = list(range(a.ndim - n, a.ndim)), list(range(n))
    else:
        try:
            ax_a, ax_b = axes
        except (TypeError, ValueError):
            raise ShapeError(f"tensordot: axes must be an int or a pair of axis sequences, got {axes!r}") from None
        ax_a = [ax_a] if isinstance(ax_a, (int, np.integer)) else list(ax_a)
        ax_b = [ax_b] if isinstance(ax_b, (int, np.integer)) else list(ax_b)
        if len(ax_a) != len(ax_b):
            raise ShapeError(f"tensordot: {len(ax_a)} axes of a against {len(ax_b)} axes of b in {axes!r}")
        ax_a = [normalize_axis("tensordot", (k,), a.ndim)[0] for k in ax_a]
        ax_b = [normalize_axis("tensordot", (k,), b.ndim)[0] for k in ax_b]
        if len(set(ax_a)) != len(ax_a) or len(set(ax_b)) != len(ax_b):
            raise ShapeError(f"tensordot: repeated axis in {axes!r}")
    for i, j in zip(ax_a, ax_b):
        if a.shape[i] != b.shape[j]:
            raise ShapeError(
                f"tensordot: shape mismatch for sum: axis {i} of {format_shape(a.shape)} against axis {j} of {format_shape(b.shape)}"
            )
    la = [("a", k) for k in range(a.ndim)]
    lb = [("b", k) for k in range(b.ndim)]
    for i, j in zip(ax_a, ax_b):
        lb[j] = la[i]
    out = [la[k] for k in range(a.ndim) if k not in ax_a] + [lb[k] for k in range(b.ndim) if k not in ax_b]
    return _contract("tensordot", [a, b], [la, lb], out)


def inner(a, b) -> Node:
    """``np.inner``: the sum over the last axes (a scalar operand multiplies)."""
    a, b = as_node(a), as_node(b)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    if a.shape[-1] != b.shape[-1]:
        raise ShapeError(f"inner: the last dims of {format_shape(a.shape)} and {format_shape(b.shape)} differ")
    la = [("a", k) for k in range(a.ndim - 1)] + ["k"]
    lb = [("b", k) for k in range(b.ndim - 1)] + ["k"]
    return _contract("inner", [a, b], [la, lb], la[:-1] + lb[:-1])


def vdot(a, b) -> Node:
    """``np.vdot`` for real arrays: the dot product of the flattened operands."""
    from .reduction import sum_
    from .structure import reshape

    a, b = as_node(a), as_node(b)
    if a.shape != b.shape:
        sa, sb = (_product(x.shape, "vdot") if x.ndim else 1 for x in (a, b))
        if sa != sb:
            raise ShapeError(f"vdot: operands of shapes {format_shape(a.shape)} and {format_shape(b.shape)} differ in size")
        a, b = reshape(a, (sa,)), reshape(b, (sb,))
    return sum_(a * b)


def kron(a, b) -> Node:
    """``np.kron``: the Kronecker product (block ``(i, j)`` is ``a[i, j] * b``)."""
    from .structure import expand_dims, reshape

    a, b = as_node(a), as_node(b)
    nd = max(a.ndim, b.ndim)
    if a.ndim < nd:
        a = expand_dims(a, tuple(range(nd - a.ndim)))
    if b.ndim < nd:
        b = expand_dims(b, tuple(range(nd - b.ndim)))
    if nd == 0:
        return a * b
    # a[i, j] * b[k, l] laid out as (i, k, j, l), then each pair merged
    x = expand_dims(a, tuple(range(1, 2 * nd, 2)))
    y = expand_dims(b, tuple(range(0, 2 * nd, 2)))
    out = [_product((da, db), "kron") for da, db in zip(a.shape, b.shape)]
    return reshape(x * y, tuple(out))


def _identity_like(a: Node) -> Node:
    """The identity broadcast to the shape of the square matrices ``a`` (static size needed)."""
    from .structure import broadcast_to

    n = a.shape[-1]
    if not isinstance(n, int):
        raise ShapeError(f"matrix_power: the identity for n=0 needs a static size, got the named dim {n!r}")
    return broadcast_to(as_node(np.eye(n, dtype=a.dtype if a.dtype.kind == "f" else np.float64)), a.shape)


def matrix_power(a, n: int) -> Node:
    """``np.linalg.matrix_power``: ``a`` (..., m, m) to a static integer power (negative: of
    ``inv(a)``), by repeated squaring."""
    from .linalg import matmul

    a = as_node(a)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise DTypeError(f"matrix_power: the exponent must be an int, got {n!r}")
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ShapeError(f"matrix_power: expected square matrices (..., m, m), got shape {format_shape(a.shape)}")
    n = int(n)
    if n == 0:
        return _identity_like(a)
    if n < 0:
        from .decomp import inv

        a, n = inv(a), -n
    result, base = None, a
    while n:
        if n & 1:
            result = base if result is None else matmul(result, base)
        n >>= 1
        if n:
            base = matmul(base, base)
    return result


def _chain_order(dims: list) -> dict:
    """The optimal split of every sub-chain of a matrix chain with ``dims`` (matrix k is
    ``dims[k] x dims[k+1]``), by dynamic programming on the number of scalar multiplications."""
    n = len(dims) - 1
    cost = {(i, i): 0.0 for i in range(n)}
    split = {}
    for length in range(2, n + 1):
        for i in range(n - length + 1):
            j = i + length - 1
            best = None
            for k in range(i, j):
                c = cost[i, k] + cost[k + 1, j] + dims[i] * dims[k + 1] * dims[j + 1]
                if best is None or c < best:
                    best, split[i, j] = c, k
            cost[i, j] = best
    return split


def multi_dot(arrays: Sequence) -> Node:
    """``np.linalg.multi_dot``: the product of a chain of matrices in the cheapest order (the
    first may be a row vector and the last a column vector, as 1-d arrays)."""
    from .linalg import matmul
    from .structure import expand_dims, index

    xs = [as_node(x) for x in arrays]
    given = [x.shape for x in xs]
    if len(xs) < 2:
        raise ShapeError(f"multi_dot: expecting at least two arrays, got {len(xs)}")
    first_vec, last_vec = xs[0].ndim == 1, xs[-1].ndim == 1
    if first_vec:
        xs[0] = expand_dims(xs[0], 0)
    if last_vec:
        xs[-1] = expand_dims(xs[-1], -1)
    for k, x in enumerate(xs):
        if x.ndim != 2:
            raise ShapeError(f"multi_dot: array {k} has shape {format_shape(given[k])}; expected 2-d (1-d only first or last)")
    for k in range(len(xs) - 1):
        if xs[k].shape[1] != xs[k + 1].shape[0]:
            raise ShapeError(
                f"multi_dot: arrays {k} and {k + 1} do not chain: {format_shape(xs[k].shape)} @ {format_shape(xs[k + 1].shape)}"
            )
    dims = [_static(xs[0].shape[0])] + [_static(x.shape[1]) for x in xs]
    split = _chain_order(dims)
    # build the products bottom-up with an explicit stack (no recursion)
    built: dict = {(k, k): x for k, x in enumerate(xs)}
    stack = [(0, len(xs) - 1)]
    while stack:
        i, j = stack[-1]
        if (i, j) in built:
            stack.pop()
            continue
        k = split[i, j]
        todo = [p for p in ((i, k), (k + 1, j)) if p not in built]
        if todo:
            stack.extend(todo)
            continue
        built[i, j] = matmul(built[i, k], built[k + 1, j])
        stack.pop()
    out = built[0, len(xs) - 1]
    if first_vec:
        out = index(out, 0)
    if last_vec:
        out = index(out, (Ellipsis, 0))
    return out


def cross(a, b, axisa: int = -1, axisb: int = -1, axisc: int = -1, axis: int | None = None) -> Node:
    """``np.cross`` of 3-vectors along ``axisa``/``axisb`` (or ``axis``), broadcast over the
    other dims; the result's vector axis is ``axisc``."""
    from .structure import index, stack, transpose

    a, b = as_node(a), as_node(b)
    if axis is not None:
        axisa = axisb = axisc = axis

    def last(x, ax, name):
        if x.ndim == 0:
            raise ShapeError(f"cross: {name} must have at least one dim, got a scalar")
        (ax,) = normalize_axis("cross", ax, x.ndim)
        if x.shape[ax] != 3:
            raise ShapeError(
                f"cross: {name} has shape {format_shape(x.shape)}; its vector axis {ax} must have size 3 "
                "(only 3-vectors are supported)"
            )
        return transpose(x, tuple(k for k in range(x.ndim) if k != ax) + (ax,))

    a, b = last(a, axisa, "a"), last(b, axisb, "b")
    a0, a1, a2 = (index(a, (Ellipsis, k)) for k in range(3))
    b0, b1, b2 = (index(b, (Ellipsis, k)) for k in range(3))
    c = stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)
    (axc,) = normalize_axis("cross", axisc, c.ndim)
    if axc == c.ndim - 1:
        return c
    perm = list(range(c.ndim - 1))
    perm.insert(axc, c.ndim - 1)
    return transpose(c, tuple(perm))
