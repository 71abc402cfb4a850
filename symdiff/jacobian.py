"""Jacobians, Hessians, and Jacobian/Hessian-vector products, as nodes of the same graph.

* ``vjp(y, x, v)`` - ``v^T J`` (reverse mode, the L-op): ``grad`` with a seed.
* ``jvp(y, x, t)`` - ``J t`` (forward mode, the R-op) by the double-VJP trick: ``g = vjp(y, x, u)``
  is linear in a fresh seed ``u``, so ``grad(<g, t>, u) = J t``; ``u`` is then eliminated.
* ``jacobian(y, x)`` - one graph: the VJP graph with a seed variable ``U`` batched (``vmap``) over
  the rows of the identity, so every bprop propagates all ``m`` seeds at once. The result has
  shape ``y.shape + x.shape``.
* ``hessian(f, x)`` - ``jacobian(grad(f, x), x)``; several variables give a nested list of
  blocks. ``sparse=True`` gives a ``SparseHessian`` (pattern from the graph, colouring,
  compressed Hessian-vector products).
* ``hvp(f, x, v)`` - ``H v`` by reverse-over-reverse, without forming ``H``.

Results are simplified (``symdiff.rewrite.simplify``) so their structure shows. A dense result
larger than the memory limit (``set_memory_limit``, default 2 GiB) raises ``MemoryLimitError``.
"""
from __future__ import annotations

import itertools
from typing import Sequence

import numpy as np

from .errors import GradError, ShapeError, SymdiffError
from .grad import build_grad, grad
from .graph import Constant, Node, Variable, as_node, flatten_outputs, toposort
from .ops import elementwise as E
from .ops import structure as S
from .rewrite import clone, simplify
from .types import format_shape
from .vmap import vmap

_seed_ids = itertools.count()


class MemoryLimitError(SymdiffError, MemoryError):
    """A dense Jacobian or Hessian (or a batched intermediate) would exceed the memory limit."""


_memory_limit = [2 * 2**30]


def set_memory_limit(nbytes: int) -> None:
    """Set the largest dense Jacobian/Hessian (in bytes) symdiff will build (default 2 GiB)."""
    if not isinstance(nbytes, (int, np.integer)) or nbytes <= 0:
        raise SymdiffError(f"set_memory_limit: expected a positive number of bytes, got {nbytes!r}")
    _memory_limit[0] = int(nbytes)


def get_memory_limit() -> int:
    """The current limit (bytes) on dense Jacobians and Hessians."""
    return _memory_limit[0]


def _limit(max_bytes) -> int:
    return _memory_limit[0] if max_bytes is None else int(max_bytes)


def _static_size(node: Node, what: str, fn: str) -> int:
    if not all(isinstance(d, int) for d in node.shape):
        raise ShapeError(
            f"{fn}: {what} has shape {format_shape(node.shape)} with named dims; a dense {fn} "
            "needs static sizes (declare the shape with ints, or use vjp/jvp/hvp)"
        )
    return int(np.prod(node.shape, dtype=np.int64))


def _check_bytes(shape, itemsize: int, max_bytes: int, fn: str) -> None:
    if not all(isinstance(d, int) for d in shape):
        return
    nbytes = float(np.prod(shape, dtype=np.float64)) * itemsize
    if nbytes > max_bytes:
        raise MemoryLimitError(
            f"{fn}: the dense result of shape {format_shape(shape)} would take {nbytes / 2**30:.3g} GiB, "
            f"over the memory limit of {max_bytes / 2**30:.3g} GiB. Use hvp / jvp / vjp, "
            "hessian(..., sparse=True), or raise the limit with sd.set_memory_limit(nbytes)"
        )


def _seed(like: Node, name: str) -> Variable:
    dtype = like.dtype if like.dtype.kind == "f" else np.dtype("float64")
    return Variable(f"_{name}{next(_seed_ids)}", like.shape, dtype)


def _as_list(wrt) -> tuple[list[Node], bool]:
    return flatten_outputs(wrt, GradError, "symdiff nodes to differentiate with respect to")


def _check_tangent(t, x: Node, fn: str, what: str = "the tangent") -> Node:
    t = as_node(t)
    if t.shape != x.shape:
        raise ShapeError(
            f"{fn}: {what} has shape {format_shape(t.shape)} but {x.name or 'the variable'} has shape "
            f"{format_shape(x.shape)}; they must match"
        )
    if t.dtype.kind != "f":
        raise GradError(f"{fn}: {what} must be a float tensor, got {t.dtype}")
    return t


# ---------------------------------------------------------------------------------------------
# Vector products
# ---------------------------------------------------------------------------------------------
def vjp(y: Node, x, v, *, disconnected: str = "zeros"):
    """Vector-Jacobian product ``v^T (dy/dx)``: a node of ``x``'s shape (a list for several x).

    ``v`` must have ``y``'s shape. This is ``grad(y, x, seed=v)``.
    """
    v = _check_tangent(v, y, "vjp", "v")
    return grad(y, x, seed=v, disconnected=disconnected)


def jvp(y: Node, x, t, *, disconnected: str = "zeros"):
    """Jacobian-vector product ``(dy/dx) t`` (forward mode): a node of ``y``'s shape.

    ``x`` and ``t`` may be lists (the products are summed). Built by the double-VJP trick: with a
    fresh seed ``u``, ``g = vjp(y, x, u)`` is linear in ``u`` and ``grad(<g, t>, u) = J t``; the
    result does not depend on ``u``, which is replaced by zeros if it is still referenced.
    """
    xs, single = _as_list(x)
    ts = [t] if single else list(t)
    if len(ts) != len(xs):
        raise GradError(f"jvp: {len(xs)} variables but {len(ts)} tangents")
    ts = [_check_tangent(ti, xi, "jvp") for ti, xi in zip(ts, xs)]
    u = _seed(y, "u")
    table = build_grad(y, xs, seed=u, disconnected=disconnected)
    total = None
    for xi, ti in zip(xs, ts):
        term = grad(table[xi], u, seed=ti)
        total = term if total is None else total + term
    if u in set(toposort([total])):
        total = clone(total, {u: E.zeros(u.shape, u.dtype)})
    return simplify(total)


def hvp(f: Node, x, v, *, disconnected: str = "zeros"):
    """Hessian-vector product ``H v`` of a scalar ``f`` (reverse-over-reverse; no ``H`` formed).

    ``v`` has ``x``'s shape. For a list of variables ``x``, ``v`` is a list of the same shapes
    and the result is the list of blocks of ``H v``.
    """
    _check_scalar(f, "hvp")
    xs, single = _as_list(x)
    vs = [v] if single else list(v)
    if len(vs) != len(xs):
        raise GradError(f"hvp: {len(xs)} variables but {len(vs)} vectors")
    vs = [_check_tangent(vi, xi, "hvp", "v") for vi, xi in zip(vs, xs)]
    table = build_grad(f, xs, disconnected=disconnected)
    total = None
    for xi, vi in zip(xs, vs):  # grad(sum(g * v), x) is the VJP of g with seed v
        total = _vdot(table[xi], vi) if total is None else total + _vdot(table[xi], vi)
    out = build_grad(total, xs, disconnected="zeros")
    res = simplify([out[xi] for xi in xs])
    return res[0] if single else res


def _vdot(a: Node, b: Node) -> Node:
    from .ops import sum as sum_

    return sum_(a * b)


def _check_scalar(f: Node, fn: str) -> None:
    if not isinstance(f, Node):
        raise GradError(f"{fn}: f must be a symdiff node, got {type(f).__name__}")
    if f.shape != ():
        raise GradError(
            f"{fn}: f must be a scalar, got shape {format_shape(f.shape)}; reduce it first "
            "(e.g. sd.sum) or use jacobian for a vector function"
        )


# ---------------------------------------------------------------------------------------------
# Dense Jacobians and Hessians
# ---------------------------------------------------------------------------------------------
def _identity_rows(y: Node, m: int) -> Constant:
    """The identity as a constant of shape (m, *y.shape): row k is the k-th unit seed."""
    eye = np.eye(m, dtype=y.dtype if y.dtype.kind == "f" else np.float64)
    return Constant(eye.reshape((m, *y.shape)), name="I")


# Auto compression: only for outputs of at least this many entries, and when the colouring
# needs at most a quarter of the seeds the identity would (small results stay fully symbolic).
COMPRESS_MIN_ROWS = 16
COMPRESS_MAX_FRACTION = 0.25


def _colouring(y: Node, xs: Sequence[Node], compress: bool | None):
    """Shared row colouring of the patterns of ``dy/dx`` for every x, or None to use the identity."""
    from .sparsity import PatternError, colour_rows, colouring_bounds, dependency_patterns

    if compress is False:
        return None
    m = int(np.prod(y.shape))
    static = all(isinstance(d, int) for x in xs for d in x.shape)
    if compress is None and (m < COMPRESS_MIN_ROWS or not static):
        return None
    try:
        # automatic compression gives up on (nearly) dense patterns early: building a pattern costs
        # about a microsecond per non-zero, and colouring a dense one grows as n^3
        pats = [dependency_patterns([y], x, max_nnz=None if compress else max(
            64, int(COMPRESS_MAX_FRACTION * m * int(np.prod(x.shape)))))[0] for x in xs]
    except PatternError:
        if compress:
            raise
        return None
    import scipy.sparse as sp

    P = sp.hstack(pats, format="csr")
    if compress is None:
        from .sparsity import COLOURING_WORK

        lower, _, work = colouring_bounds(P)
        if lower > COMPRESS_MAX_FRACTION * m or work > COLOURING_WORK:  # no colouring could pay
            return None
    colours, k = colour_rows(P)
    if compress is None and k > COMPRESS_MAX_FRACTION * m:
        return None
    return colours, max(k, 1), pats


def _scatter_block(rows: Node, colours: np.ndarray, P, y: Node, x: Node) -> Node:
    """The dense block ``dy/dx`` from the compressed ``rows`` (k, *x.shape): ``J[i, j]`` sits at
    ``rows[colour(i), j]`` for every structural non-zero ``(i, j)``."""
    from .ops.extra import scatter

    P = P.tocsr()
    n = P.shape[1]
    r = np.repeat(np.arange(P.shape[0], dtype=np.int64), np.diff(P.indptr))
    c = P.indices.astype(np.int64)
    return scatter(rows, colours[r] * n + c, r * n + c, (*y.shape, *x.shape))


def _jacobians(ys: Sequence[Node], xs: Sequence[Node], disconnected: str, max_bytes, fn: str,
               compress: bool | None = None) -> list[list[Node]]:
    """Blocks ``d ys[i] / d xs[j]`` (shape ys[i].shape + xs[j].shape), one batched graph per y.

    The seeds are the rows of the identity, or, when the pattern of the Jacobian is sparse
    enough (see ``compress``), one seed per colour of a row colouring; the compressed result is
    then expanded with a ``scatter`` (still one graph, with far fewer rows to propagate).
    """
    limit = _limit(max_bytes)
    blocks = []
    for y in ys:
        m = _static_size(y, "the output", fn)
        dtype_size = y.dtype.itemsize if y.dtype.kind == "f" else 8
        for x in xs:
            _check_bytes((*y.shape, *x.shape), dtype_size, limit, fn)
        U = _seed(y, "U")
        table = build_grad(y, xs, seed=U, disconnected=disconnected)
        colouring = _colouring(y, xs, compress)
        if colouring is None:
            _check_bytes((m, m), dtype_size, limit, fn)
            rows = vmap([table[x] for x in xs], U, _identity_rows(y, m), max_bytes=limit)
            blocks.append([S.reshape(r, (*y.shape, *x.shape)) for r, x in zip(rows, xs)])
        else:
            colours, k, pats = colouring
            seeds = np.zeros((k, m), dtype=U.dtype)
            seeds[colours, np.arange(m)] = 1.0
            batch = Constant(seeds.reshape((k, *y.shape)), name="S")
            rows = vmap([table[x] for x in xs], U, batch, max_bytes=limit)
            blocks.append([_scatter_block(r, colours, P, y, x) for r, P, x in zip(rows, pats, xs)])
    flat = simplify([b for row in blocks for b in row])
    it = iter(flat)
    return [[next(it) for _ in xs] for _ in ys]


def jacobian(y: Node, x=None, *, argnums=None, disconnected: str = "zeros", max_bytes: int | None = None,
             compress: bool | None = None, sparse: bool = False, colouring: str = "auto"):
    """The Jacobian ``dy/dx`` as one node of shape ``y.shape + x.shape`` (a list for several x).

    Built as a single graph: the vector-Jacobian product with a seed variable, batched over the
    rows of the identity. ``y`` needs static sizes. A variable ``y`` does not depend on gives
    zeros (``disconnected="raise"`` raises ``DisconnectedError``). A result larger than
    ``max_bytes`` (default: ``get_memory_limit()``) raises ``MemoryLimitError``.

    ``compress``: when the Jacobian's sparsity pattern (derived from the graph) lets a row
    colouring with ``k`` colours replace the ``m`` identity seeds, the batched graph propagates
    ``k`` seeds and a ``scatter`` expands the result. ``None`` (default) does so for outputs of
    at least 16 entries when ``k <= m / 4``; ``True`` always, ``False`` never.

    ``sparse=True`` (one variable) gives a ``SparseJacobian``: the pattern from the graph, rows
    (VJPs) or columns (JVPs) coloured, whichever needs fewer colours (``colouring="rows"`` or
    ``"columns"`` forces a side), and its call returns a ``scipy.sparse.csr_matrix`` of shape
    ``(y.size, x.size)`` from one compiled call.
    """
    if callable(y) and not isinstance(y, Node):  # JAX's form
        from .transforms import jacobian_fn

        return jacobian_fn(y, argnums if argnums is not None else (0 if x is None else x))
    if not isinstance(y, Node):
        raise GradError(f"jacobian: y must be a symdiff node, got {type(y).__name__}")
    xs, single = _as_list(x)
    if sparse:
        if not single:
            raise GradError("jacobian(..., sparse=True) takes one variable; concatenate them first")
        from .sparsity import SparseJacobian

        return SparseJacobian(y, xs[0], colouring=colouring)
    (row,) = _jacobians([y], xs, disconnected, max_bytes, "jacobian", compress)
    return row[0] if single else row


def hessian(f: Node, x=None, *, argnums=None, sparse: bool = False, disconnected: str = "zeros", max_bytes: int | None = None,
            compress: bool | None = None, colouring: str = "auto"):
    """The Hessian of a scalar ``f``: a node of shape ``x.shape + x.shape``.

    For a list of variables, a nested list ``H[i][j]`` of blocks ``d^2 f / dx_i dx_j``.
    With ``sparse=True`` (one variable), a ``SparseHessian``: its ``pattern`` is derived from the
    graph, and calling it with values returns a ``scipy.sparse.csr_matrix`` computed with one
    batched Hessian-vector product per colour of the pattern; ``colouring`` picks the colouring
    (``"auto"``: the fewest colours of distance-2 and star; ``"distance2"``, ``"star"``,
    ``"acyclic"``: values by substitution). ``compress`` is as in ``jacobian``:
    a dense Hessian with a sparse pattern (e.g. banded) is computed from one product per colour
    and expanded, so its cost follows the non-zeros plus the zero fill.
    """
    if callable(f) and not isinstance(f, Node):  # JAX's form
        from .transforms import hessian_fn

        return hessian_fn(f, argnums if argnums is not None else (0 if x is None else x))
    _check_scalar(f, "hessian")
    xs, single = _as_list(x)
    if sparse:
        if not single:
            raise GradError("hessian(..., sparse=True) takes one variable; concatenate them first")
        from .sparsity import SparseHessian

        return SparseHessian(f, xs[0], colouring=colouring)
    limit = _limit(max_bytes)
    for xi in xs:
        for xj in xs:
            _check_bytes((*xi.shape, *xj.shape), f.dtype.itemsize, limit, "hessian")
    table = build_grad(f, xs, disconnected=disconnected)
    H = _jacobians([table[xi] for xi in xs], xs, "zeros", max_bytes, "hessian", compress)
    return H[0][0] if single else H
