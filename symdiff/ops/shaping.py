"""Array structure with NumPy's names: diagonals, triangles, flips, rolls, tiling, padding,
differences, stacking and splitting, axis moves, polynomials and the trapezoidal rule.

Everything here is a composition of existing ops (basic ``index`` slices, ``reshape``,
``transpose``, ``concatenate``, ``broadcast_to``, ``where`` with constant masks, the
``index_grad`` that places a slice into zeros, and ``gather`` with distinct positions), so each
function gets its gradient, batching rule, sparsity pattern and Numba lowering from those ops.
Sizes that NumPy needs to know (the length of an axis that is sliced, padded or rolled) must be
static; a named dim there raises a ``ShapeError`` naming the function.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import ShapeError, SymdiffError
from ..graph import Constant, Node, as_node
from ..types import broadcast_shapes, format_shape, normalize_axis
from .elementwise import cast, full, where
from .extra import gather
from .reduction import sum_
from .structure import (
    IndexGrad, broadcast_to, concatenate, expand_dims, index, reshape, transpose,
)

__all__ = [
    "diag", "diagonal", "trace", "tril", "triu", "flip", "fliplr", "flipud", "roll", "rot90",
    "tile", "repeat", "pad", "diff", "ediff1d", "vstack", "hstack", "dstack", "column_stack",
    "row_stack", "split", "array_split", "hsplit", "vsplit", "dsplit", "moveaxis", "rollaxis",
    "ravel", "flatten", "atleast_1d", "atleast_2d", "atleast_3d", "append", "polyval",
    "trapezoid", "trapz", "copy", "broadcast_arrays",
]


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------
def _axis(what: str, axis, ndim: int) -> int:
    """One axis, negatives allowed."""
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, (bool, np.bool_)):
        raise ShapeError(f"{what}: axis must be an int, got {axis!r}")
    return normalize_axis(what, int(axis), ndim)[0]


def _static(x: Node, axis: int, what: str) -> int:
    """The static size of ``axis`` of ``x``; a named dim there is a ShapeError."""
    d = x.shape[axis]
    if not isinstance(d, int):
        raise ShapeError(
            f"{what}: axis {axis} of the input of shape {format_shape(x.shape)} is the named dim {d!r}; "
            f"{what} needs its static size"
        )
    return d


def _int(value, what: str, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise SymdiffError(f"{what}: {name} must be an int, got {value!r}")
    return int(value)


def _slice(x: Node, axis: int, start, stop, step=None) -> Node:
    """``x`` sliced along one axis (Python slice semantics)."""
    key = [slice(None)] * x.ndim
    key[axis] = slice(start, stop, step)
    return index(x, tuple(key))


def _stretch(x: Node, axis: int, length: int) -> Node:
    """A size-1 ``axis`` of ``x`` broadcast to ``length``."""
    shape = list(x.shape)
    shape[axis] = length
    return broadcast_to(x, tuple(shape))


def _take_runs(x: Node, axis: int, idx: Sequence[int]) -> Node:
    """``np.take(x, idx, axis)`` for a static index list, built from as few pieces as possible:
    runs of constant step become slices (step 0: a broadcast entry), joined by ``concatenate``."""
    idx = [int(i) for i in idx]
    parts, j = [], 0
    while j < len(idx):
        step = idx[j + 1] - idx[j] if j + 1 < len(idx) else 1
        e = j + 1
        while e < len(idx) and idx[e] - idx[e - 1] == step:
            e += 1
        run = idx[j:e]
        if len(run) == 1:
            parts.append(_slice(x, axis, run[0], run[0] + 1))
        elif step == 0:
            parts.append(_stretch(_slice(x, axis, run[0], run[0] + 1), axis, len(run)))
        else:
            stop = run[-1] + (1 if step > 0 else -1)
            parts.append(_slice(x, axis, run[0], None if stop < 0 else stop, step))
        j = e
    if not parts:
        return _slice(x, axis, 0, 0)
    return parts[0] if len(parts) == 1 else concatenate(parts, axis)


def _flat(x: Node, what: str) -> Node:
    """``x`` flattened for a function whose ``axis=None`` means "of the flattened input"."""
    try:
        return ravel(x)
    except ShapeError:
        raise ShapeError(
            f"{what}: flattening the input of shape {format_shape(x.shape)} needs static sizes "
            "(the named dims have no static product); give an axis"
        ) from None


def _filled(shape, value: float, dtype) -> Node:
    """A constant array of ``value`` (a broadcast scalar where ``shape`` has named dims): a
    compiled kernel receives it ready-made instead of filling it in a loop."""
    if all(isinstance(d, int) for d in shape):
        return Constant(np.full(shape, value, dtype=dtype))
    return full(shape, value, dtype)


def _nodes(arys, what: str) -> list[Node]:
    if isinstance(arys, Node):
        arys = list(arys)
    xs = [as_node(a) for a in arys]
    if not xs:
        raise ShapeError(f"{what}: needs at least one array")
    return xs


# ---------------------------------------------------------------------------------------------
# Diagonals and triangles
# ---------------------------------------------------------------------------------------------
def diag(v, k: int = 0) -> Node:
    """A 1-d ``v`` placed on the ``k``-th diagonal of a square matrix, or the ``k``-th diagonal
    of a 2-d ``v``, as ``np.diag``."""
    v = as_node(v)
    k = _int(k, "diag", "k")
    if v.ndim == 2:
        return diagonal(v, k)
    if v.ndim != 1:
        raise ShapeError(f"diag: the input must be 1-d or 2-d, got shape {format_shape(v.shape)}")
    n = _static(v, 0, "diag")
    N = n + abs(k)
    if n == 0:
        return full((N, N), 0.0, v.dtype)
    start = k if k >= 0 else -k * N
    key = (("slice", start, start + (n - 1) * (N + 1) + 1, N + 1),)
    return reshape(IndexGrad(key, (N * N,))(v), (N, N))


def _diagonal_slice(m: int, n: int, k: int) -> tuple[int, int, int]:
    """(start, stop, count) of the ``k``-th diagonal of an (m, n) matrix in its flat C order."""
    count = max(0, min(m, n - k)) if k >= 0 else max(0, min(m + k, n))
    start = k if k >= 0 else -k * n
    if count == 0:
        return 0, 0, 0
    return start, start + (count - 1) * (n + 1) + 1, count


def diagonal(a, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Node:
    """The ``offset`` diagonal over ``axis1``/``axis2``, appended as the last axis, as
    ``np.diagonal``."""
    x = as_node(a)
    offset = _int(offset, "diagonal", "offset")
    if x.ndim < 2:
        raise ShapeError(f"diagonal: the input must have at least 2 dims, got shape {format_shape(x.shape)}")
    a1, a2 = _axis("diagonal", axis1, x.ndim), _axis("diagonal", axis2, x.ndim)
    if a1 == a2:
        raise ShapeError(f"diagonal: axis1 and axis2 cannot be the same ({axis1}, {axis2})")
    m, n = _static(x, a1, "diagonal"), _static(x, a2, "diagonal")
    rest = [k for k in range(x.ndim) if k not in (a1, a2)]
    moved = transpose(x, (*rest, a1, a2))
    flat = reshape(moved, (*(x.shape[k] for k in rest), m * n))
    start, stop, _ = _diagonal_slice(m, n, offset)
    return index(flat, (Ellipsis, slice(start, stop, n + 1)))


def trace(a, offset: int = 0, axis1: int = 0, axis2: int = 1, dtype=None) -> Node:
    """Sum of the ``offset`` diagonal over ``axis1``/``axis2``, as ``np.trace``."""
    out = sum_(diagonal(a, offset, axis1, axis2), -1)
    return out if dtype is None else cast(out, dtype)


def _triangle(m, k, what: str, upper: bool) -> Node:
    x = as_node(m)
    k = _int(k, what, "k")
    if x.ndim == 0:
        raise ShapeError(f"{what}: the input must have at least 1 dim")
    sizes = [_static(x, a, what) for a in range(max(0, x.ndim - 2), x.ndim)]
    keep = np.tri(*sizes, k=k - 1, dtype=bool)
    mask = ~keep if upper else np.tri(*sizes, k=k, dtype=bool)
    return where(Constant(mask), x, 0.0)


def tril(m, k: int = 0) -> Node:
    """Zeros above the ``k``-th diagonal of the last two axes, as ``np.tril``."""
    return _triangle(m, k, "tril", upper=False)


def triu(m, k: int = 0) -> Node:
    """Zeros below the ``k``-th diagonal of the last two axes, as ``np.triu``."""
    return _triangle(m, k, "triu", upper=True)


# ---------------------------------------------------------------------------------------------
# Flips, rolls, rotations
# ---------------------------------------------------------------------------------------------
def flip(m, axis=None) -> Node:
    """Reverse the order of entries along ``axis`` (None: all axes), as ``np.flip``."""
    x = as_node(m)
    axes = normalize_axis("flip", axis, x.ndim)
    if not axes:
        return x
    key = tuple(slice(None, None, -1) if a in axes else slice(None) for a in range(x.ndim))
    return index(x, key)


def fliplr(m) -> Node:
    """Reverse the columns (axis 1), as ``np.fliplr``."""
    x = as_node(m)
    if x.ndim < 2:
        raise ShapeError(f"fliplr: the input must have at least 2 dims, got shape {format_shape(x.shape)}")
    return flip(x, 1)


def flipud(m) -> Node:
    """Reverse the rows (axis 0), as ``np.flipud``."""
    x = as_node(m)
    if x.ndim < 1:
        raise ShapeError("flipud: the input must have at least 1 dim")
    return flip(x, 0)


def roll(a, shift, axis=None) -> Node:
    """Shift entries cyclically by ``shift`` along ``axis`` (None: of the flattened input;
    tuples shift several axes), as ``np.roll``."""
    x = as_node(a)
    if axis is None:
        return reshape(roll(_flat(x, "roll"), shift, 0), x.shape)
    try:
        shifts, axes = np.broadcast_arrays(np.atleast_1d(np.asarray(shift)), np.atleast_1d(np.asarray(axis)))
    except ValueError:
        raise ShapeError(f"roll: shift {shift!r} and axis {axis!r} do not broadcast against each other") from None
    if shifts.ndim > 1:
        raise ShapeError("roll: shift and axis must be ints or 1-d sequences")
    total: dict[int, int] = {}
    for s, ax in zip(shifts.tolist(), axes.tolist()):
        ax = _axis("roll", ax, x.ndim)
        total[ax] = total.get(ax, 0) + _int(s, "roll", "shift")
    for ax, s in total.items():
        n = _static(x, ax, "roll")
        s = s % n if n else 0
        if s:
            x = concatenate([_slice(x, ax, n - s, n), _slice(x, ax, 0, n - s)], ax)
    return x


def rot90(m, k: int = 1, axes=(0, 1)) -> Node:
    """Rotate by 90 degrees ``k`` times in the plane of ``axes``, as ``np.rot90``."""
    x = as_node(m)
    k = _int(k, "rot90", "k")
    axes = tuple(axes)
    if len(axes) != 2:
        raise ShapeError("rot90: len(axes) must be 2")
    if x.ndim < 2:
        raise ShapeError(f"rot90: the input must have at least 2 dims, got shape {format_shape(x.shape)}")
    a0, a1 = _axis("rot90", axes[0], x.ndim), _axis("rot90", axes[1], x.ndim)
    if a0 == a1:
        raise ShapeError(f"rot90: the axes must be different, got {axes}")
    k %= 4
    if k == 0:
        return x
    if k == 2:
        return flip(flip(x, a0), a1)
    perm = list(range(x.ndim))
    perm[a0], perm[a1] = perm[a1], perm[a0]
    if k == 1:
        return transpose(flip(x, a1), tuple(perm))
    return flip(transpose(x, tuple(perm)), a1)


# ---------------------------------------------------------------------------------------------
# Tiling, repeating, padding
# ---------------------------------------------------------------------------------------------
def tile(A, reps) -> Node:
    """``A`` repeated ``reps`` times along each axis, as ``np.tile``."""
    x = as_node(A)
    reps = tuple(np.atleast_1d(np.asarray(reps)).tolist())
    reps = tuple(_int(r, "tile", "reps") for r in reps)
    if any(r < 0 for r in reps):
        raise ShapeError(f"tile: reps must be non-negative, got {reps}")
    reps = (1,) * (x.ndim - len(reps)) + reps
    if x.ndim < len(reps):
        x = reshape(x, (1,) * (len(reps) - x.ndim) + x.shape)
    if all(r == 1 for r in reps):
        return x
    split, stretched, final = [], [], []
    for a, (r, d) in enumerate(zip(reps, x.shape)):
        if r == 1:
            split.append(d), stretched.append(d), final.append(d)
            continue
        d = _static(x, a, "tile")
        split += [1, d]
        stretched += [r, d]
        final.append(r * d)
    return reshape(broadcast_to(reshape(x, tuple(split)), tuple(stretched)), tuple(final))


def repeat(a, repeats, axis=None) -> Node:
    """Each entry repeated ``repeats`` times (an int, or one count per entry) along ``axis``
    (None: of the flattened input), as ``np.repeat``."""
    x = as_node(a)
    if axis is None:
        x, axis = _flat(x, "repeat"), 0
    ax = _axis("repeat", axis, x.ndim)
    r = np.asarray(repeats)
    if r.dtype.kind not in "iu" and not (r.dtype.kind == "f" and np.all(r == np.round(r))):
        raise SymdiffError(f"repeat: repeats must be integers, got {repeats!r}")
    r = r.astype(np.int64)
    if np.any(r < 0):
        raise ShapeError("repeat: repeats must be non-negative")
    if r.ndim > 1:
        raise ShapeError(f"repeat: repeats must be an int or a 1-d sequence, got shape {r.shape}")
    if r.size == 1:
        count = int(r.reshape(()))
        if count == 1:
            return x
        n = _static(x, ax, "repeat")
        shape = list(x.shape)
        stretched = shape[:ax + 1] + [count] + shape[ax + 1:]
        y = broadcast_to(expand_dims(x, ax + 1), tuple(stretched))
        return reshape(y, tuple(shape[:ax] + [n * count] + shape[ax + 1:]))
    n = _static(x, ax, "repeat")
    if r.size != n:
        raise ShapeError(f"repeat: {r.size} repeats for axis {ax} of size {n}")
    if not all(isinstance(d, int) for d in x.shape):
        raise ShapeError(f"repeat: per-entry repeats need static sizes, got shape {format_shape(x.shape)}")
    # every entry broadcast to the largest count, then the wanted copies picked in order
    most = int(r.max(initial=0))
    if most == 0:
        return _slice(x, ax, 0, 0)
    stretched = x.shape[:ax + 1] + (most,) + x.shape[ax + 1:]
    wide = broadcast_to(expand_dims(x, ax + 1), stretched)
    pos = np.arange(int(np.prod(stretched)), dtype=np.int64).reshape(stretched)
    pre, post = int(np.prod(x.shape[:ax])), int(np.prod(x.shape[ax + 1:]))
    keep = np.arange(most)[None, :] < r[:, None]
    picked = pos.reshape(pre, n, most, post)[:, keep, :]
    out_shape = x.shape[:ax] + (int(r.sum()),) + x.shape[ax + 1:]
    return reshape(gather(reshape(wide, (-1,)), picked.ravel()), out_shape)


def _pairs(value, ndim: int, what: str, name: str, integral: bool) -> np.ndarray:
    """NumPy's ``pad_width`` / ``constant_values`` forms as an (ndim, 2) array."""
    arr = np.asarray(value)
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise SymdiffError(f"{what}: {name} must be numbers, got {value!r}")
    if integral and arr.dtype.kind not in "iu":
        raise SymdiffError(f"{what}: {name} must be of integral type, got {value!r}")
    try:
        return np.broadcast_to(arr, (ndim, 2))
    except ValueError:
        raise ShapeError(f"{what}: {name} of shape {arr.shape} does not fit ({ndim}, 2)") from None


def _pad_index(mode: str, n: int, p: int) -> int:
    """The input position that position ``p`` (counted from the first input entry) copies."""
    if mode == "edge":
        return min(max(p, 0), n - 1)
    if mode == "wrap":
        return p % n
    if mode == "symmetric":
        q = p % (2 * n)
        return q if q < n else 2 * n - 1 - q
    if n == 1:  # reflect
        return 0
    q = p % (2 * n - 2)
    return q if q < n else 2 * n - 2 - q


def pad(array, pad_width, mode: str = "constant", constant_values=0) -> Node:
    """Pad each axis by ``pad_width`` (NumPy's forms: an int, (before, after), or one pair per
    axis) in the modes 'constant' (``constant_values``), 'edge', 'wrap', 'reflect' and
    'symmetric', as ``np.pad``."""
    x = as_node(array)
    modes = ("constant", "edge", "wrap", "reflect", "symmetric")
    if mode not in modes:
        raise SymdiffError(f"pad: mode {mode!r} is not supported; use one of {', '.join(modes)}")
    widths = _pairs(pad_width, x.ndim, "pad", "pad_width", integral=True).astype(np.int64)
    if np.any(widths < 0):
        raise ShapeError(f"pad: pad_width must be non-negative, got {pad_width!r}")
    values = _pairs(constant_values, x.ndim, "pad", "constant_values", integral=False)
    for ax in range(x.ndim):
        before, after = (int(w) for w in widths[ax])
        if before == 0 and after == 0:
            continue
        n = _static(x, ax, "pad")
        if mode == "constant":
            parts = []
            for width, value in ((before, values[ax, 0]), (after, values[ax, 1])):
                shape = list(x.shape)
                shape[ax] = width
                parts.append(_filled(tuple(shape), float(value), x.dtype) if width else None)
            x = concatenate([p for p in (parts[0], x, parts[1]) if p is not None], ax)
            continue
        if n == 0:
            raise ShapeError(f"pad: cannot extend the empty axis {ax} in mode {mode!r}")
        x = _take_runs(x, ax, [_pad_index(mode, n, p) for p in range(-before, n + after)])
    return x


# ---------------------------------------------------------------------------------------------
# Differences
# ---------------------------------------------------------------------------------------------
def diff(a, n: int = 1, axis: int = -1, prepend=None, append=None) -> Node:
    """The ``n``-th discrete difference along ``axis``, with optional ``prepend``/``append``
    values, as ``np.diff``."""
    x = as_node(a)
    n = _int(n, "diff", "n")
    if n < 0:
        raise ShapeError(f"diff: order n must be non-negative, got {n}")
    if n == 0:
        return x
    if x.ndim == 0:
        raise ShapeError("diff: the input must have at least 1 dim")
    ax = _axis("diff", axis, x.ndim)
    def edge(extra) -> Node:  # a scalar is broadcast to one entry along the axis
        e = as_node(extra)
        if e.ndim:
            return e
        shape = list(x.shape)
        shape[ax] = 1
        return broadcast_to(e, tuple(shape))

    before = [edge(prepend)] if prepend is not None else []
    after = [edge(append)] if append is not None else []
    if before or after:
        _static(x, ax, "diff with prepend or append")
        x = concatenate([*before, x, *after], ax)
    for _ in range(n):
        x = _slice(x, ax, 1, None) - _slice(x, ax, None, -1)
    return x


def ediff1d(ary, to_end=None, to_begin=None) -> Node:
    """Differences of consecutive entries of the flattened input, with optional values before
    and after, as ``np.ediff1d``."""
    d = diff(_flat(as_node(ary), "ediff1d"))
    parts = [_flat(as_node(to_begin), "ediff1d")] if to_begin is not None else []
    parts.append(d)
    if to_end is not None:
        parts.append(_flat(as_node(to_end), "ediff1d"))
    return concatenate(parts, 0) if len(parts) > 1 else d


# ---------------------------------------------------------------------------------------------
# Stacking and splitting
# ---------------------------------------------------------------------------------------------
def vstack(tup) -> Node:
    """Stack arrays row-wise (along axis 0 after ``atleast_2d``), as ``np.vstack``."""
    return concatenate([atleast_2d(x) for x in _nodes(tup, "vstack")], 0)


row_stack = vstack


def hstack(tup) -> Node:
    """Stack arrays column-wise (axis 1; axis 0 for 1-d arrays), as ``np.hstack``."""
    xs = [atleast_1d(x) for x in _nodes(tup, "hstack")]
    return concatenate(xs, 0 if xs[0].ndim == 1 else 1)


def dstack(tup) -> Node:
    """Stack arrays depth-wise (along axis 2 after ``atleast_3d``), as ``np.dstack``."""
    return concatenate([atleast_3d(x) for x in _nodes(tup, "dstack")], 2)


def column_stack(tup) -> Node:
    """Stack 1-d arrays as columns (2-d arrays as they are), as ``np.column_stack``."""
    cols = []
    for x in _nodes(tup, "column_stack"):
        if x.ndim < 2:
            x = reshape(x, (x.shape[0] if x.ndim else 1, 1))
        cols.append(x)
    return concatenate(cols, 1)


def array_split(ary, indices_or_sections, axis: int = 0) -> list[Node]:
    """Split into ``indices_or_sections`` parts (an int: sizes differ by at most one) or at the
    given indices along ``axis``, as ``np.array_split``; returns a list."""
    x = as_node(ary)
    ax = _axis("array_split", axis, x.ndim)
    n = _static(x, ax, "array_split")
    if isinstance(indices_or_sections, (int, np.integer)) and not isinstance(indices_or_sections, bool):
        sections = int(indices_or_sections)
        if sections <= 0:
            raise ShapeError(f"array_split: the number of sections must be larger than 0, got {sections}")
        each, extras = divmod(n, sections)
        sizes = [each + 1] * extras + [each] * (sections - extras)
        points = np.concatenate([[0], np.cumsum(sizes)]).tolist()
    else:
        points = [0] + [_int(i, "array_split", "an index") for i in indices_or_sections] + [n]
    return [_slice(x, ax, points[k], points[k + 1]) for k in range(len(points) - 1)]


def split(ary, indices_or_sections, axis: int = 0) -> list[Node]:
    """Split into equal parts (an int) or at the given indices along ``axis``, as ``np.split``;
    returns a list."""
    x = as_node(ary)
    if isinstance(indices_or_sections, (int, np.integer)) and not isinstance(indices_or_sections, bool):
        ax = _axis("split", axis, x.ndim)
        n = _static(x, ax, "split")
        if indices_or_sections <= 0 or n % int(indices_or_sections):
            raise ShapeError(
                f"split: {indices_or_sections} sections do not divide axis {ax} of size {n} equally"
            )
    return array_split(x, indices_or_sections, axis)


def hsplit(ary, indices_or_sections) -> list[Node]:
    """Split along axis 1 (axis 0 for 1-d arrays), as ``np.hsplit``."""
    x = as_node(ary)
    if x.ndim == 0:
        raise ShapeError("hsplit: only works on arrays of 1 or more dimensions")
    return split(x, indices_or_sections, 1 if x.ndim > 1 else 0)


def vsplit(ary, indices_or_sections) -> list[Node]:
    """Split along axis 0 of an array of at least 2 dims, as ``np.vsplit``."""
    x = as_node(ary)
    if x.ndim < 2:
        raise ShapeError("vsplit: only works on arrays of 2 or more dimensions")
    return split(x, indices_or_sections, 0)


def dsplit(ary, indices_or_sections) -> list[Node]:
    """Split along axis 2 of an array of at least 3 dims, as ``np.dsplit``."""
    x = as_node(ary)
    if x.ndim < 3:
        raise ShapeError("dsplit: only works on arrays of 3 or more dimensions")
    return split(x, indices_or_sections, 2)


# ---------------------------------------------------------------------------------------------
# Axes and ranks
# ---------------------------------------------------------------------------------------------
def _axes_list(what: str, axes, ndim: int) -> list[int]:
    axes = [axes] if isinstance(axes, (int, np.integer)) else list(axes)
    out = [_axis(what, a, ndim) for a in axes]
    if len(set(out)) != len(out):
        raise ShapeError(f"{what}: repeated axis in {axes}")
    return out


def moveaxis(a, source, destination) -> Node:
    """Move axes ``source`` to positions ``destination``, as ``np.moveaxis``."""
    x = as_node(a)
    src = _axes_list("moveaxis", source, x.ndim)
    dst = _axes_list("moveaxis", destination, x.ndim)
    if len(src) != len(dst):
        raise ShapeError("moveaxis: source and destination must have the same number of elements")
    order = [k for k in range(x.ndim) if k not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return transpose(x, tuple(order))


def rollaxis(a, axis: int, start: int = 0) -> Node:
    """Roll ``axis`` backwards until it lies before position ``start``, as ``np.rollaxis``."""
    x = as_node(a)
    n = x.ndim
    ax = _axis("rollaxis", axis, n)
    start = _int(start, "rollaxis", "start")
    if start < 0:
        start += n
    if not 0 <= start < n + 1:
        raise ShapeError(f"rollaxis: start must satisfy {-n} <= start < {n + 1}, got {start}")
    if ax < start:
        start -= 1
    if ax == start:
        return x
    order = list(range(n))
    order.remove(ax)
    order.insert(start, ax)
    return transpose(x, tuple(order))


def ravel(a, order: str = "C") -> Node:
    """The entries as a 1-d array in C (or Fortran, ``order='F'``) order, as ``np.ravel``."""
    x = as_node(a)
    if order not in ("C", "F", "A", "K"):
        raise SymdiffError(f"ravel: order must be 'C', 'F', 'A' or 'K', got {order!r}")
    if order == "F":
        x = transpose(x)
    if x.ndim == 1:
        return x
    try:
        return reshape(x, (-1,))
    except ShapeError:
        raise ShapeError(f"ravel: cannot flatten shape {format_shape(x.shape)}: the named dims have no static product") from None


def flatten(a, order: str = "C") -> Node:
    """A 1-d copy of the entries (the function form of ``ndarray.flatten``)."""
    return ravel(a, order)


def _atleast(arys, rank: int):
    out = []
    for a in arys:
        x = as_node(a)
        if x.ndim < rank:
            if x.ndim == 0:
                shape = (1,) * rank
            elif rank == 2:
                shape = (1, *x.shape)
            elif x.ndim == 1:
                shape = (1, x.shape[0], 1)
            else:
                shape = (*x.shape, 1)
            x = reshape(x, shape)
        out.append(x)
    return out[0] if len(out) == 1 else out


def atleast_1d(*arys):
    """Each input with at least 1 dim; one input gives a node, several a list."""
    return _atleast(arys, 1)


def atleast_2d(*arys):
    """Each input with at least 2 dims (a vector becomes a row); one input gives a node, several a list."""
    return _atleast(arys, 2)


def atleast_3d(*arys):
    """Each input with at least 3 dims ((n,) -> (1, n, 1), (m, n) -> (m, n, 1)); one input gives a
    node, several a list."""
    return _atleast(arys, 3)


def append(arr, values, axis=None) -> Node:
    """``values`` appended to ``arr`` (both flattened when ``axis`` is None), as ``np.append``."""
    x, v = as_node(arr), as_node(values)
    if axis is None:
        return concatenate([_flat(x, "append"), _flat(v, "append")], 0)
    return concatenate([x, v], axis)


def copy(a) -> Node:
    """The same values (nodes are immutable, so this is ``a`` itself), as ``np.copy``."""
    return as_node(a)


def broadcast_arrays(*args) -> list[Node]:
    """Every input broadcast to their common shape, as ``np.broadcast_arrays``; returns a list."""
    xs = [as_node(a) for a in args]
    shape = broadcast_shapes("broadcast_arrays", *(x.shape for x in xs))
    return [broadcast_to(x, shape) for x in xs]


# ---------------------------------------------------------------------------------------------
# Polynomials and integration
# ---------------------------------------------------------------------------------------------
def polyval(p, x) -> Node:
    """The polynomial with coefficients ``p`` (highest power first; a list, an array or a 1-d
    node) at ``x``, by Horner's rule, as ``np.polyval``."""
    x = as_node(x)
    if isinstance(p, Node):
        if p.ndim == 0:
            raise ShapeError("polyval: the coefficients must be a 1-d sequence, got a 0-d node")
        coeffs = [index(p, k) for k in range(_static(p, 0, "polyval"))]
    else:
        arr = np.asarray(p)
        if arr.ndim != 1 or arr.dtype.kind not in "biuf":
            raise SymdiffError(f"polyval: the coefficients must be a 1-d sequence of numbers, got {p!r}")
        # a list of Python numbers is weakly typed (a float32 x stays float32), as Python numbers are
        weak = not isinstance(p, np.ndarray)
        coeffs = [as_node(float(c)) if weak else Constant(np.array(c, dtype=np.result_type(arr.dtype, np.float32)))
                  for c in arr.tolist()]
    if not coeffs:
        return full(x.shape, 0.0, x.dtype)
    y = coeffs[0]
    for c in coeffs[1:]:
        y = y * x + c
    shape = broadcast_shapes("polyval", x.shape, *(c.shape for c in coeffs))
    return broadcast_to(y, shape) if y.shape != shape else y


def trapezoid(y, x=None, dx: float = 1.0, axis: int = -1) -> Node:
    """Integral of ``y`` along ``axis`` by the trapezoidal rule, at points ``x`` (a 1-d array of
    the axis' length, or of ``y``'s shape) or with spacing ``dx``, as ``np.trapezoid``."""
    y = as_node(y)
    if y.ndim == 0:
        raise ShapeError("trapezoid: y must have at least 1 dim")
    ax = _axis("trapezoid", axis, y.ndim)
    if x is None:
        d = as_node(dx)
    else:
        x = as_node(x)
        if x.ndim == 1:
            if x.shape[0] != y.shape[ax]:
                raise ShapeError(
                    f"trapezoid: {x.shape[0]!r} points x for axis {ax} of y of shape {format_shape(y.shape)}"
                )
            d = diff(x)
            shape = [1] * y.ndim
            shape[ax] = d.shape[0]
            d = reshape(d, tuple(shape))
        else:
            d = diff(x, axis=ax)
    mid = _slice(y, ax, 1, None) + _slice(y, ax, None, -1)
    return sum_(d * mid / 2.0, ax)


trapz = trapezoid
