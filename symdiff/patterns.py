"""Shared helpers for sparsity-pattern rules (``Op.pattern``), used by ``symdiff.sparsity``.

A pattern is a 0/1 ``scipy.sparse`` CSR matrix: rows are the entries of a node (C order),
columns the entries of the differentiation variable ``x``; entry ``(i, j)`` says "entry i may
depend on x_j". A pattern rule is an op method ``pattern(node, pats, shapes, dims)``: ``pats[i]``
is the pattern of input i (``None``: it does not depend on ``x``), ``shapes`` the concrete input
shapes, ``dims`` the bound named dims; it returns the node's pattern, or ``None`` when no
derivative flows through the op. scipy.sparse is imported on first use.
"""
from __future__ import annotations

import numpy as np

from .errors import SymdiffError
from .types import concrete_shape


class PatternError(SymdiffError):
    """A sparsity pattern cannot be derived (an op without a pattern rule, unbound dims)."""


def propagate(outputs, seeds: dict, dims: dict, check=None) -> dict:
    """The pattern of every node of the graph of ``outputs``, from the patterns in ``seeds`` (a
    node -> pattern map; other leaves depend on nothing), applying each op's ``pattern`` rule in
    topological order. ``check(node, pattern)`` sees each non-empty pattern as it is made."""
    from .graph import toposort

    pats = dict(seeds)
    for node in toposort(outputs):
        if node in pats:
            continue
        ins = [pats[i] for i in node.inputs]
        if node.op is None or all(p is None for p in ins):
            pats[node] = None
            continue
        pats[node] = node.op.pattern(node, ins, [concrete_shape(i.shape, dims) for i in node.inputs], dims)
        if check is not None and pats[node] is not None:
            check(node, pats[node])
    return pats


def size(shape) -> int:
    return int(np.prod(shape, dtype=np.int64))


def arange(shape) -> np.ndarray:
    """Entry numbers of an array of ``shape`` (C order)."""
    return np.arange(size(shape), dtype=np.int64).reshape(shape)


def binary(P):
    """``P`` with duplicates summed and every stored entry set to 1."""
    P = P.tocsr()
    P.sum_duplicates()
    P.data[:] = 1.0
    return P


def empty(rows: int, nx: int):
    import scipy.sparse as sp

    return sp.csr_matrix((rows, nx), dtype=np.float64)


def union(mats: list):
    """Entrywise union of patterns of one shape (``None`` entries skipped; all None: None)."""
    mats = [m for m in mats if m is not None]
    if not mats:
        return None
    total = mats[0]
    for m in mats[1:]:
        total = total + m
    return binary(total) if len(mats) > 1 else total


def rows(P, idx: np.ndarray):
    """Row ``k`` of the result is row ``idx[k]`` of ``P``."""
    return P[np.ascontiguousarray(idx, dtype=np.int64).ravel()]


def gather(out_idx: np.ndarray, in_idx: np.ndarray, out_size: int, P):
    """Row ``o`` of the result is the union of rows ``in_idx[k]`` of ``P`` over ``out_idx[k] == o``."""
    import scipy.sparse as sp

    out_idx, in_idx = np.ravel(out_idx), np.ravel(in_idx)
    sel = sp.csr_matrix((np.ones(out_idx.size), (out_idx, in_idx)), shape=(out_size, P.shape[0]))
    return binary(sel @ P)


def dense(node, pats, shapes, dims):
    """Every output entry may depend on every entry of every input (linear algebra and other
    ops that mix all entries): the conservative rule."""
    mats = [P for P in pats if P is not None]
    if not mats:
        return None
    nx = mats[0].shape[1]
    import scipy.sparse as sp

    cols = union([sp.csr_matrix(np.asarray(P.sum(axis=0)) > 0, dtype=np.float64) for P in mats])
    n_out = size(concrete_shape(node.shape, dims))
    return binary(sp.csr_matrix(np.ones((n_out, 1))) @ cols) if n_out else empty(0, nx)


def moves(node, pats, shapes, dims):
    """Ops that only move or copy entries of their first input (transpose, reshape, broadcast,
    index, flip, ...): run the op on the entry numbers to learn where each output entry comes
    from. Further inputs must be index constants (they carry no derivative)."""
    values = [arange(shapes[0])] + [x.value for x in node.inputs[1:]]
    idx = np.asarray(node.op.perform(values, node, dims))
    return rows(pats[0], idx)


def none(node, pats, shapes, dims):
    """Piecewise-constant ops (comparisons, sign, floor, argmax, ...): no derivative flows."""
    return None


def group_of_each_entry(in_shape, axes) -> tuple[np.ndarray, int]:
    """For a reduction over ``axes``: the output entry each input entry lands in, and their number."""
    kept = tuple(1 if a in axes else d for a, d in enumerate(in_shape))
    return np.broadcast_to(arange(kept), in_shape).ravel(), size(kept)


def reduce(node, pats, shapes, dims):
    """Reductions over ``node.op.axis`` (sum, prod, max, logsumexp, ...)."""
    group, n_groups = group_of_each_entry(shapes[0], node.op.axis)
    return gather(group, np.arange(group.size), n_groups, pats[0])


def reduce_back(node, pats, shapes, dims):
    """Ops whose every output entry depends on its whole reduction group along ``node.op.axis``
    (softmax, log_softmax, normalisation)."""
    group, n_groups = group_of_each_entry(shapes[0], node.op.axis)
    return rows(gather(group, np.arange(group.size), n_groups, pats[0]), group)
