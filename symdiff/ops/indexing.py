"""Advanced indexing: integer arrays, boolean masks, ``take`` and JAX's functional ``x.at[...]``.

Two ops carry it all:

* ``Take(axis)``: ``take(x, idx, axis)`` with an integer index node of any shape (a constant, or
  an integer input of the graph); negative indices count from the end, an index out of bounds is
  an error (NumPy's ``mode='raise'``), at run time too;
* ``TakeGrad(axis, shape)``: its gradient, zeros of ``shape`` with ``D`` added at the indexed
  positions (``np.add.at``): repeated indices accumulate.

The front end ``advanced_index(x, key)`` (reached through ``x[key]``) turns NumPy's indexing rules
into basic indexing plus one ``take``: boolean masks become their ``nonzero`` positions, several
integer arrays are broadcast together and merged into one flat index over their axes, and the
indexed dims go where NumPy puts them (in place when the arrays are adjacent, in front when they
are not). ``x.at[key].set/add/multiply/divide/power/min/max(v)`` follow JAX: a new array, never an
in-place change; repeated indices accumulate for ``add``/``multiply``/``min``/``max`` and the last
write wins for ``set``; gradients flow to both ``x`` and ``v``.
"""
from __future__ import annotations

import numpy as np

from .. import patterns
from ..batching import BatchingError, move_to_front
from ..errors import DTypeError, ShapeError
from ..graph import Constant, Node, as_node
from ..types import concrete_shape, format_shape
from .base import Op
from ..compiler.codegen import size_tuple

__all__ = ["take", "take_along_axis", "index_update"]


def _sizes(ctx, shape) -> str:
    return " * ".join(ctx.dim(d) for d in shape) or "1"


def _split(shape, axis, middle):
    """(P, N, Q): the sizes before, at and after ``axis``."""
    return shape[:axis], shape[axis:axis + middle], shape[axis + middle:]


def _check_index_dtype(op: str, idx: Node) -> None:
    if idx.dtype.kind not in "iu":
        raise DTypeError(f"{op}: indices must be integers, got dtype {idx.dtype}")


def _wrap(idx: np.ndarray, n: int, op: str) -> np.ndarray:
    idx = np.asarray(idx, dtype=np.int64)
    if idx.size and (idx.min() < -n or idx.max() >= n):
        bad = idx[(idx < -n) | (idx >= n)].flat[0]
        raise ShapeError(f"{op}: index {bad} is out of bounds for an axis of size {n}")
    return np.where(idx < 0, idx + n, idx)


_LOOP_HEAD = [
    "for {o}_m in range({M}):",
    "    {o}_k = {o}_i[{o}_m]",
    "    if {o}_k < 0:",
    "        {o}_k += {N}",
    "    if {o}_k < 0 or {o}_k >= {N}:",
    "        raise IndexError('{op}: an index is out of bounds')",
    "    for {o}_p in range({P}):",
    "        for {o}_q in range({Q}):",
]


class Take(Op):
    """``np.take(x, idx, axis)``: output shape ``x.shape[:axis] + idx.shape + x.shape[axis+1:]``."""

    name = "take"
    accepts_bool = True  # the index is an integer input, the data keep their dtype

    def __init__(self, axis: int):
        super().__init__(axis=axis)

    def infer(self, x, idx):
        _check_index_dtype("take", idx)
        if not 0 <= self.axis < x.ndim:
            raise ShapeError(f"take: axis {self.axis} is out of range for shape {format_shape(x.shape)}")
        n = x.shape[self.axis]
        if isinstance(idx, Constant) and isinstance(n, int):
            _wrap(idx.value, n, "take")
        return x.shape[:self.axis] + idx.shape + x.shape[self.axis + 1:], x.dtype

    def perform(self, values, node, dims):
        x, idx = values
        return np.take(x, _wrap(idx, x.shape[self.axis], "take"), axis=self.axis)

    def bprop(self, inputs, output, D):
        x, idx = inputs
        return [TakeGrad(self.axis, x.shape)(D, idx), None]

    def lower(self, ctx, node, args, out):
        x, idx = node.inputs
        (pre, mid, post) = _split(x.shape, self.axis, 1)
        P, N, Q, M = _sizes(ctx, pre), _sizes(ctx, mid), _sizes(ctx, post), _sizes(ctx, idx.shape)
        fmt = dict(o=out, M=M, N=N, P=P, Q=Q, op="take")
        return [
            f"{out}_x = _reshape({args[0]}, {size_tuple([P, N, Q])})",
            f"{out}_i = _reshape({args[1]}, {size_tuple([M])})" if idx.ndim else f"{out}_i = np.array([{args[1]}])",
            f"{out}_3 = _empty({size_tuple([P, M, Q])}, np.{node.dtype.name})",
            *(line.format(**fmt) for line in _LOOP_HEAD),
            f"            {out}_3[{out}_p, {out}_m, {out}_q] = {out}_x[{out}_p, {out}_k, {out}_q]",
            f"{out} = _reshape({out}_3, {ctx.shape_expr(node.shape)})",
        ]

    def batch(self, node, args, flags, B):
        x, idx = args
        fx, fi = flags
        if fx and not fi:
            return Take(self.axis + 1)(x, idx)
        if fi and not fx:  # the batch axis of the index lands at position ``axis``
            return move_to_front(Take(self.axis)(x, idx), self.axis)
        raise BatchingError("vmap: batching take over both the array and its indices is not supported")

    def pattern(self, node, pats, shapes, dims):
        x, idx = node.inputs
        if pats[0] is None:
            return None
        if isinstance(idx, Constant):
            return patterns.moves(node, pats, shapes, dims)
        # indices known only at run time: entry (p, m, q) may read any (p, n, q)
        P, N, Q = (patterns.size(s) for s in _split(shapes[0], self.axis, 1))
        M = patterns.size(shapes[1])
        p, m, n, q = np.meshgrid(np.arange(P), np.arange(M), np.arange(N), np.arange(Q), indexing="ij")
        return patterns.gather((p * M + m) * Q + q, (p * N + n) * Q + q, P * M * Q, pats[0])


class TakeGrad(Op):
    """Zeros of ``shape`` with ``D`` added at ``idx`` along ``axis`` (``np.add.at``)."""

    name = "take_grad"
    accepts_bool = True

    def __init__(self, axis: int, shape: tuple):
        super().__init__(axis=axis, shape=shape)

    def infer(self, D, idx):
        _check_index_dtype("take_grad", idx)
        expect = self.shape[:self.axis] + idx.shape + self.shape[self.axis + 1:]
        if D.shape != expect:
            raise ShapeError(f"take_grad: D has shape {format_shape(D.shape)}, expected {format_shape(expect)}")
        return self.shape, D.dtype

    def perform(self, values, node, dims):
        D, idx = values
        shape = concrete_shape(self.shape, dims)
        out = np.zeros(shape, dtype=D.dtype)
        pos = (slice(None),) * self.axis + (_wrap(idx, shape[self.axis], "take_grad"),)
        np.add.at(out, pos, D)
        return out

    def bprop(self, inputs, output, D):
        return [Take(self.axis)(D, inputs[1]), None]

    def lower(self, ctx, node, args, out):
        D, idx = node.inputs
        pre, mid, post = _split(self.shape, self.axis, 1)
        P, N, Q, M = _sizes(ctx, pre), _sizes(ctx, mid), _sizes(ctx, post), _sizes(ctx, idx.shape)
        fmt = dict(o=out, M=M, N=N, P=P, Q=Q, op="take_grad")
        return [
            f"{out}_d = _reshape({args[0]}, {size_tuple([P, M, Q])})",
            f"{out}_i = _reshape({args[1]}, {size_tuple([M])})" if idx.ndim else f"{out}_i = np.array([{args[1]}])",
            f"{out}_3 = np.zeros({size_tuple([P, N, Q])}, dtype=np.{node.dtype.name})",
            *(line.format(**fmt) for line in _LOOP_HEAD),
            f"            {out}_3[{out}_p, {out}_k, {out}_q] += {out}_d[{out}_p, {out}_m, {out}_q]",
            f"{out} = _reshape({out}_3, {ctx.shape_expr(node.shape)})",
        ]

    def batch(self, node, args, flags, B):
        D, idx = args
        if flags[1]:
            raise BatchingError("vmap: batching a take gradient over its indices is not supported")
        return TakeGrad(self.axis + 1, (B, *self.shape))(D, idx)

    def pattern(self, node, pats, shapes, dims):
        if pats[0] is None:
            return None
        shape = concrete_shape(self.shape, dims)
        P, N, Q = (patterns.size(s) for s in _split(shape, self.axis, 1))
        M = patterns.size(shapes[1])
        idx = node.inputs[1]
        if isinstance(idx, Constant):
            k = _wrap(idx.value, N, "take_grad").ravel()
            p, m, q = np.meshgrid(np.arange(P), np.arange(M), np.arange(Q), indexing="ij")
            return patterns.gather((p * N + k[m]) * Q + q, (p * M + m) * Q + q, P * N * Q, pats[0])
        p, m, n, q = np.meshgrid(np.arange(P), np.arange(M), np.arange(N), np.arange(Q), indexing="ij")
        return patterns.gather((p * N + n) * Q + q, (p * M + m) * Q + q, P * N * Q, pats[0])


# ---------------------------------------------------------------------------------------------
# Public constructors
# ---------------------------------------------------------------------------------------------
def _index_node(indices) -> Node:
    """An integer index node: int nodes pass through, int arrays and lists become int64 constants."""
    if isinstance(indices, Node):
        if indices.dtype.kind not in "iu":
            raise DTypeError(
                f"indices must be an integer node, got dtype {indices.dtype} "
                "(a boolean mask must be a constant array: its positions fix the result's shape)"
            )
        return indices
    arr = np.asarray(indices)
    if arr.dtype.kind not in "iu":
        if arr.size == 0:
            arr = arr.astype(np.int64)
        else:
            raise DTypeError(f"indices must be integers, got {arr.dtype} from {indices!r:.60}")
    return Constant(np.array(arr, dtype=np.int64, order="C"))  # a copy: the caller's array stays writable


def take(a, indices, axis: int | None = None) -> Node:
    """``np.take``: entries of ``a`` at integer ``indices`` along ``axis`` (None: of ``a.ravel()``)."""
    from .structure import reshape

    a = as_node(a)
    idx = _index_node(indices)
    if axis is None:
        a, axis = reshape(a, (-1,)), 0
    if not -a.ndim <= axis < a.ndim:
        raise ShapeError(f"take: axis {axis} is out of range for shape {format_shape(a.shape)}")
    return Take(axis % a.ndim)(a, idx)


def take_along_axis(arr, indices, axis: int | None) -> Node:
    """``np.take_along_axis``: constant index arrays or integer nodes (``argmax(..., keepdims=True)``,
    ``argsort``); static sizes."""
    from .structure import reshape

    arr = as_node(arr)
    if isinstance(indices, Node) and not isinstance(indices, Constant):
        from .sorting import take_along_axis_dynamic

        if axis is None:
            return take(reshape(arr, (-1,)), indices)
        return take_along_axis_dynamic(arr, indices, axis)
    idx = np.asarray(indices.value if isinstance(indices, Constant) else indices)
    if idx.dtype.kind not in "iu":
        raise DTypeError(f"take_along_axis: indices must be integers, got {idx.dtype}")
    if axis is None:
        return take(reshape(arr, (-1,)), idx.ravel())
    if not all(isinstance(d, int) for d in arr.shape):
        raise ShapeError(f"take_along_axis: needs static sizes, got {format_shape(arr.shape)}")
    if idx.ndim != arr.ndim:
        raise ShapeError(f"take_along_axis: indices of {idx.ndim} dims for an array of {arr.ndim} dims")
    axis = axis % arr.ndim
    n = arr.shape[axis]
    k = _wrap(idx, n, "take_along_axis")
    # broadcast the other axes (NumPy broadcasts indices against arr off the axis)
    shape = np.broadcast_shapes(tuple(1 if a == axis else d for a, d in enumerate(arr.shape)),
                                tuple(1 if a == axis else d for a, d in enumerate(k.shape)))
    out_shape = tuple(k.shape[a] if a == axis else shape[a] for a in range(arr.ndim))
    grids = list(np.meshgrid(*[np.arange(d) for d in out_shape], indexing="ij"))
    grids[axis] = np.broadcast_to(k, out_shape)
    flat = np.ravel_multi_index(tuple(grids), arr.shape)
    return take(reshape(arr, (-1,)), flat)


# ---------------------------------------------------------------------------------------------
# NumPy's indexing rules on top of basic indexing and one take
# ---------------------------------------------------------------------------------------------
def is_advanced(k) -> bool:
    """Whether an index entry is an array (NumPy's "advanced" indexing)."""
    if isinstance(k, Node):
        return k.ndim > 0 or k.dtype.kind in "iub"
    if isinstance(k, (list, np.ndarray)):
        return True
    return False


def _expand_ellipsis(key: tuple, ndim: int) -> tuple:
    def consumed(k):
        if k is None:
            return 0
        if isinstance(k, (list, np.ndarray)) and np.asarray(k).dtype == bool:
            return np.asarray(k).ndim
        if isinstance(k, Node) and k.dtype == np.dtype(bool):
            return k.ndim
        return 1

    used = sum(consumed(k) for k in key if k is not Ellipsis)
    out = []
    for k in key:
        if k is Ellipsis:
            out.extend([slice(None)] * (ndim - used))
        else:
            out.append(k)
    if not any(k is Ellipsis for k in key):
        out.extend([slice(None)] * (ndim - used))
    return tuple(out)


def advanced_index(x: Node, key) -> Node:
    """``x[key]`` where ``key`` holds integer arrays, integer nodes or boolean masks."""
    from .structure import index, reshape, transpose

    if not isinstance(key, tuple):
        key = (key,)
    if sum(1 for k in key if k is Ellipsis) > 1:
        raise ShapeError("index: only one Ellipsis is allowed")
    key = _expand_ellipsis(key, x.ndim)
    # boolean masks (static) become one integer array per masked axis
    entries = []
    for k in key:
        if isinstance(k, Node) and k.dtype == np.dtype(bool):
            if not isinstance(k, Constant):
                raise ShapeError(
                    "index: a symbolic boolean mask gives a result whose shape depends on the data; "
                    "use sd.where(mask, x, 0) or a constant mask"
                )
            k = k.value
        if isinstance(k, (list, np.ndarray)) and np.asarray(k).dtype == bool:
            entries.extend(np.nonzero(np.asarray(k)))
        else:
            entries.append(k)
    # with array indices present, NumPy treats integer scalars as (0-d) array indices too; a
    # variable index array next to them is handled by basic indexing when that gives the same
    # placement (all array and int entries adjacent)
    arr_pos = [j for j, k in enumerate(entries) if is_advanced(k)]
    int_pos = [j for j, k in enumerate(entries) if isinstance(k, (int, np.integer)) and not isinstance(k, bool)]
    if int_pos and arr_pos:
        adv = sorted(arr_pos + int_pos)
        variable = any(isinstance(entries[j], Node) and not isinstance(entries[j], Constant) for j in arr_pos)
        if adv != list(range(adv[0], adv[-1] + 1)) or not variable:
            entries = [np.asarray(k, dtype=np.int64) if j in int_pos else k for j, k in enumerate(entries)]
    # axes of x consumed by each entry
    axis, arrays, basic = 0, [], []
    for k in entries:
        if k is None:
            basic.append(None)
            continue
        if is_advanced(k):
            arrays.append((axis, len(basic), _index_node(k)))
            basic.append(slice(None))
        else:
            basic.append(k)
        axis += 1
    if axis > x.ndim:
        raise ShapeError(f"index: too many indices ({axis}) for shape {format_shape(x.shape)}")
    if not arrays:
        return index(x, tuple(basic))
    # basic indexing first, keeping the array-indexed axes (as full slices)
    y = index(x, tuple(basic))
    out_axis = {}  # position in y of each array-indexed axis of x
    pos = 0
    for j, k in enumerate(basic):
        if k is None or isinstance(k, slice):
            for ax, slot, _ in arrays:
                if slot == j:
                    out_axis[ax] = pos
            pos += 1
    axes_y = [out_axis[ax] for ax, _, _ in arrays]
    idx_nodes = [node for _, _, node in arrays]
    adjacent = axes_y == list(range(axes_y[0], axes_y[0] + len(axes_y)))
    if len(arrays) == 1:
        return take(y, idx_nodes[0], axis=axes_y[0])
    # several arrays: broadcast them, merge their axes into one flat index (static sizes)
    if not all(isinstance(n, Constant) for n in idx_nodes):
        raise ShapeError("index: several integer-array indices must all be constant arrays")
    sizes = [y.shape[a] for a in axes_y]
    if not all(isinstance(d, int) for d in sizes):
        raise ShapeError(f"index: integer arrays into named dims {sizes}; index one axis at a time")
    try:
        arrs = np.broadcast_arrays(*[_wrap(n.value, d, "index") for n, d in zip(idx_nodes, sizes)])
    except ValueError:
        raise ShapeError(
            "index: the index arrays of shapes "
            f"{', '.join(str(n.value.shape) for n in idx_nodes)} do not broadcast"
        ) from None
    flat = np.ravel_multi_index(tuple(arrs), sizes) if arrs[0].size else np.zeros(arrs[0].shape, np.int64)
    rest = [a for a in range(y.ndim) if a not in axes_y]
    first = axes_y[0] if adjacent else 0
    perm = rest[:first] + axes_y + rest[first:]
    moved = transpose(y, tuple(perm))
    merged = reshape(moved, moved.shape[:first] + (int(np.prod(sizes)),) + moved.shape[first + len(sizes):])
    return take(merged, flat, axis=first)


# ---------------------------------------------------------------------------------------------
# x.at[key].set(v) and friends (JAX semantics)
# ---------------------------------------------------------------------------------------------
_UPDATES = ("set", "add", "subtract", "multiply", "divide", "power", "min", "max")


def _combine(kind: str, old: Node, new: Node) -> Node:
    from .elementwise import maximum, minimum, power

    return {
        "set": lambda: new, "add": lambda: old + new, "subtract": lambda: old - new,
        "multiply": lambda: old * new, "divide": lambda: old / new, "power": lambda: power(old, new),
        "min": lambda: minimum(old, new), "max": lambda: maximum(old, new),
    }[kind]()


def index_update(x, key, v, kind: str) -> Node:
    """``x.at[key].<kind>(v)``: a new array with the indexed entries updated (JAX semantics)."""
    from .elementwise import where
    from .structure import broadcast_to, reshape

    if kind not in _UPDATES:
        raise ShapeError(f"at[]: unknown update {kind!r}; use one of {', '.join(_UPDATES)}")
    x, v = as_node(x), as_node(v)
    if not all(isinstance(d, int) for d in x.shape):
        return _basic_update(x, key, v, kind)
    size = int(np.prod(x.shape))
    positions = np.asarray(_key_positions(x, key))
    if v.dtype != x.dtype and x.dtype.kind == "f":
        from .elementwise import cast

        v = cast(v, x.dtype)
    try:
        vb = broadcast_to(v, positions.shape)
    except ShapeError:
        raise ShapeError(
            f"at[].{kind}: the update of shape {format_shape(v.shape)} does not broadcast to the "
            f"indexed shape {positions.shape}"
        ) from None
    pos = positions.ravel()
    vf = reshape(vb, (pos.size,))
    xf = reshape(x, (size,))
    if kind in ("add", "subtract"):  # duplicates accumulate in one scatter-add
        upd = TakeGrad(0, (size,))(vf, Constant(pos.astype(np.int64)))
        return reshape(xf + upd if kind == "add" else xf - upd, x.shape)
    # other updates: apply round r to the r-th occurrence of each position (each round injective)
    order = np.argsort(pos, kind="stable")
    sorted_pos = pos[order]
    first = np.r_[0, np.flatnonzero(np.diff(sorted_pos)) + 1] if pos.size else np.zeros(0, np.int64)
    occurrence = np.empty(pos.size, dtype=np.int64)
    occurrence[order] = np.arange(pos.size) - np.repeat(first, np.diff(np.r_[first, pos.size]))
    for r in range(int(occurrence.max()) + 1 if pos.size else 0):
        which = np.flatnonzero(occurrence == r)
        spot = np.zeros(size, dtype=bool)
        spot[pos[which]] = True
        src = np.zeros(size, dtype=np.int64)
        src[pos[which]] = which
        scattered = take(vf, src)  # entry p reads the update that lands on p (others: a dummy)
        xf = where(Constant(spot), _combine(kind, xf, scattered), xf)
    return reshape(xf, x.shape)


def _key_positions(x: Node, key) -> np.ndarray:
    """Flat positions of ``x[key]`` (static shapes): NumPy indexing of the entry numbers."""
    from .structure import _normalize_key, _as_index

    numbers = np.arange(int(np.prod(x.shape)), dtype=np.int64).reshape(x.shape)
    if not isinstance(key, tuple):
        key = (key,)
    if any(isinstance(k, Node) and not isinstance(k, Constant) for k in key):
        raise ShapeError("at[]: symbolic index arrays are not supported in updates; use constant indices")
    key = tuple(k.value if isinstance(k, Constant) else k for k in key)
    if any(is_advanced(k) for k in key):
        try:
            return numbers[key]
        except IndexError as exc:
            raise ShapeError(f"at[]: {exc}") from None
    return numbers[_as_index(_normalize_key(x, key))]


def _basic_update(x: Node, key, v: Node, kind: str) -> Node:
    """Updates of a node with named dims through a basic (int/slice) key: no duplicates."""
    from .elementwise import greater, where
    from .structure import IndexGrad, _normalize_key, broadcast_to, index

    if not isinstance(key, tuple):
        key = (key,)
    if any(is_advanced(k) for k in key):
        raise ShapeError(
            f"at[]: integer-array updates of a node with named dims {format_shape(x.shape)} are not "
            "supported; use static sizes"
        )
    canon = _normalize_key(x, key)
    target = index(x, key)
    vb = broadcast_to(v, target.shape)
    spread = IndexGrad(canon, x.shape)
    if kind in ("add", "subtract"):
        return x + spread(vb) if kind == "add" else x - spread(vb)
    mask = greater(spread(broadcast_to(1.0, target.shape)), 0.5)
    return where(mask, _combine(kind, x, spread(vb)), x)


class _IndexUpdateHelper:
    """``x.at``: ``x.at[key]`` gives an object with JAX's update methods."""

    __slots__ = ("node",)

    def __init__(self, node: Node):
        self.node = node

    def __getitem__(self, key) -> "_IndexUpdateRef":
        return _IndexUpdateRef(self.node, key)


class _IndexUpdateRef:
    __slots__ = ("node", "key")

    def __init__(self, node: Node, key):
        self.node, self.key = node, key

    def get(self, **kwargs) -> Node:
        return self.node[self.key]

    def apply(self, func, **kwargs) -> Node:
        """``x.at[key].apply(f)``: entries replaced by ``f`` of themselves."""
        return index_update(self.node, self.key, func(self.node[self.key]), "set")


def _update_method(kind: str):
    def method(self, values, **kwargs) -> Node:
        return index_update(self.node, self.key, values, kind)

    method.__name__ = kind
    method.__doc__ = f"``x.at[key].{kind}(values)`` (JAX semantics)."
    return method


for _kind in _UPDATES:  # set, add, subtract, multiply, divide, power, min, max
    setattr(_IndexUpdateRef, _kind, _update_method(_kind))
_IndexUpdateRef.mul = _IndexUpdateRef.multiply
