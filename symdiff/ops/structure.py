"""Operations that move entries around: transpose, reshape, broadcast_to, expand_dims, squeeze,
indexing, concatenate and stack."""
from __future__ import annotations

from collections import Counter

import numpy as np

from ..errors import ShapeError
from .. import patterns
from ..batching import FULL, all_batched, lift, shift
from ..graph import Node, as_node
from ..types import as_shape, concrete_shape, format_shape, normalize_axis
from .base import Op


class Transpose(Op):
    accepts_bool = True
    name = "transpose"

    def __init__(self, axes: tuple):
        super().__init__(axes=axes)

    def infer(self, x):
        return tuple(x.shape[a] for a in self.axes), x.dtype

    def perform(self, values, node, dims):
        return np.transpose(values[0], self.axes)

    def lower(self, ctx, node, args, out):
        if self.axes == (1, 0):  # Numba types x.T as Fortran-contiguous: BLAS takes it as is
            return [f"{out} = {args[0]}.T"]
        return [f"{out} = _transpose({args[0]}, {self.axes})"]  # a disk-cached helper

    def bprop(self, inputs, output, D):
        return [transpose(D, tuple(np.argsort(self.axes).tolist()))]

    def batch(self, node, args, flags, B):
        return transpose(args[0], (0, *shift(self.axes)))

    pattern = staticmethod(patterns.moves)

    def make(self, x):
        return transpose(x, self.axes)


def transpose(x, axes=None) -> Node:
    """Permute axes (reverse them when ``axes`` is None), as ``np.transpose``."""
    x = as_node(x)
    if axes is None:
        axes = tuple(range(x.ndim))[::-1]
    if isinstance(axes, (str, bytes)) or not hasattr(axes, "__len__") or any(
            isinstance(a, (bool, np.bool_)) or not isinstance(a, (int, np.integer)) for a in axes):
        raise ShapeError(f"transpose: axes must be a tuple of ints (a permutation of the {x.ndim} dims of "
                         f"{format_shape(x.shape)}), got {axes!r:.60}")
    if len(axes) != x.ndim or any(not -x.ndim <= int(a) < x.ndim for a in axes):
        raise ShapeError(f"transpose: axes {tuple(axes)} do not fit the {x.ndim} dims of {format_shape(x.shape)}")
    axes = tuple(int(a) % x.ndim for a in axes) if x.ndim else ()
    if sorted(axes) != list(range(x.ndim)):
        raise ShapeError(f"transpose: axes {axes} are not a permutation of the {x.ndim} dims of {format_shape(x.shape)}")
    if axes == tuple(range(x.ndim)):
        return x
    if x.op is not None and isinstance(x.op, Transpose):  # transpose of transpose composes
        inner = x.op.axes
        return transpose(x.inputs[0], tuple(inner[a] for a in axes))
    return Transpose(axes)(x)


def swapaxes(x, a: int, b: int) -> Node:
    """Exchange two axes."""
    x = as_node(x)
    a, b = normalize_axis("swapaxes", (a,), x.ndim)[0], normalize_axis("swapaxes", (b,), x.ndim)[0]
    axes = list(range(x.ndim))
    axes[a], axes[b] = axes[b], axes[a]
    return transpose(x, tuple(axes))


class Reshape(Op):
    accepts_bool = True
    name = "reshape"

    def __init__(self, shape: tuple):
        super().__init__(shape=shape)

    def infer(self, x):
        return self.shape, x.dtype

    def perform(self, values, node, dims):
        return np.reshape(values[0], concrete_shape(self.shape, dims))

    def lower(self, ctx, node, args, out):
        return lower_reshape(ctx, node, args[0], out)

    def bprop(self, inputs, output, D):
        return [reshape(D, inputs[0].shape)]

    def batch(self, node, args, flags, B):
        return reshape(args[0], (B, *self.shape))

    pattern = staticmethod(patterns.moves)

    def make(self, x):
        return reshape(x, self.shape)


def _split(shape):
    ints = int(np.prod([d for d in shape if isinstance(d, int)]))
    names = Counter(d for d in shape if isinstance(d, str))
    return ints, names


def reshape(x, shape) -> Node:
    """Reshape; one entry may be -1. Named dims must be carried over by name."""
    x = as_node(x)
    if isinstance(shape, (int, np.integer, str)):
        shape = (shape,)
    if shape is None or isinstance(shape, (dict, set, frozenset)) or not hasattr(shape, "__iter__"):
        raise ShapeError(f"reshape: the new shape must be an int or a tuple of ints and dim names, got {shape!r:.60}")
    shape = tuple(shape)
    n_free = sum(1 for d in shape if isinstance(d, int) and d == -1)
    if n_free > 1:
        raise ShapeError(f"reshape: at most one -1 in {shape}")
    src_ints, src_names = _split(x.shape)
    if n_free:
        rest = tuple(d for d in shape if not (isinstance(d, int) and d == -1))
        rest_ints, rest_names = _split(as_shape(rest))
        left = src_names - rest_names
        if (rest_names - src_names) or rest_ints == 0 or src_ints % rest_ints:
            raise ShapeError(f"reshape: cannot reshape {format_shape(x.shape)} to {shape}")
        if not left:
            fill = src_ints // rest_ints
        elif sum(left.values()) == 1 and src_ints == rest_ints:
            fill = next(iter(left))
        else:
            raise ShapeError(
                f"reshape: cannot infer -1 for {format_shape(x.shape)} -> {shape} with named dims; "
                "give every dim explicitly"
            )
        shape = tuple(fill if (isinstance(d, int) and d == -1) else d for d in shape)
    shape = as_shape(shape)
    dst_ints, dst_names = _split(shape)
    if dst_names != src_names or dst_ints != src_ints:
        raise ShapeError(f"reshape: cannot reshape {format_shape(x.shape)} to {format_shape(shape)}")
    if shape == x.shape:
        return x
    if x.op is not None and isinstance(x.op, Reshape):
        x = x.inputs[0]
        if shape == x.shape:
            return x
    return Reshape(shape)(x)


class BroadcastTo(Op):
    accepts_bool = True
    name = "broadcast_to"
    fold_constants = False  # a broadcast constant stays a scalar, never a materialised array

    def __init__(self, shape: tuple):
        super().__init__(shape=shape)

    def infer(self, x):
        lead = len(self.shape) - x.ndim
        ok = lead >= 0 and all(d == 1 or d == self.shape[lead + i] for i, d in enumerate(x.shape))
        if not ok:
            raise ShapeError(f"broadcast_to: cannot broadcast {format_shape(x.shape)} to {format_shape(self.shape)}")
        return self.shape, x.dtype

    def perform(self, values, node, dims):
        return np.broadcast_to(values[0], concrete_shape(self.shape, dims))

    def emit(self, args, node, vector=True):
        """Fused into elementwise loops: the loop reads the input with broadcast indexing."""
        return args[0]

    def to_sympy(self, args):
        """Elementwise, a broadcast is its input."""
        return args[0]

    def bprop(self, inputs, output, D):
        from .elementwise import unbroadcast

        return [unbroadcast(D, inputs[0])]

    def batch(self, node, args, flags, B):
        return broadcast_to(lift(args[0], len(self.shape)), (B, *self.shape))

    pattern = staticmethod(patterns.moves)

    def make(self, x):
        return broadcast_to(x, self.shape)


def broadcast_to(x, shape) -> Node:
    """Broadcast ``x`` to ``shape`` (named dims allowed)."""
    x = as_node(x)
    shape = as_shape(shape)
    if shape == x.shape:
        return x
    if x.op is not None and isinstance(x.op, BroadcastTo):
        x = x.inputs[0]
    return BroadcastTo(shape)(x)


class ExpandDims(Op):
    accepts_bool = True
    """Insert size-1 axes at ``axis`` (positions in the output)."""

    name = "expand_dims"

    def __init__(self, axis: tuple):
        super().__init__(axis=axis)

    def infer(self, x):
        shape = list(x.shape)
        for a in self.axis:
            shape.insert(a, 1)
        return tuple(shape), x.dtype

    def perform(self, values, node, dims):
        return np.expand_dims(values[0], self.axis)

    def lower(self, ctx, node, args, out):
        return lower_reshape(ctx, node, args[0], out)

    def bprop(self, inputs, output, D):
        return [squeeze(D, self.axis)]

    def batch(self, node, args, flags, B):
        return ExpandDims(shift(self.axis))(args[0])

    pattern = staticmethod(patterns.moves)


def expand_dims(x, axis) -> Node:
    """Insert size-1 axes (``axis`` counts in the result, as in ``np.expand_dims``)."""
    x = as_node(x)
    axis = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    axes = normalize_axis("expand_dims", axis, x.ndim + len(axis))
    return ExpandDims(axes)(x)


class Squeeze(Op):
    accepts_bool = True
    name = "squeeze"

    def __init__(self, axis: tuple):
        super().__init__(axis=axis)

    def infer(self, x):
        for a in self.axis:
            if x.shape[a] != 1:
                raise ShapeError(f"squeeze: axis {a} of {format_shape(x.shape)} is not of size 1")
        return tuple(d for i, d in enumerate(x.shape) if i not in self.axis), x.dtype

    def perform(self, values, node, dims):
        return np.squeeze(values[0], self.axis)

    def lower(self, ctx, node, args, out):
        return lower_reshape(ctx, node, args[0], out)

    def bprop(self, inputs, output, D):
        return [expand_dims(D, self.axis)]

    def batch(self, node, args, flags, B):
        return Squeeze(shift(self.axis))(args[0])

    pattern = staticmethod(patterns.moves)


def lower_reshape(ctx, node: Node, arg: str, out: str) -> list[str]:
    """Numba lowering shared by reshape, expand_dims and squeeze (views of contiguous data)."""
    x = node.inputs[0]
    if x.ndim == 0:
        return [f"{out} = _filled({ctx.shape_expr(node.shape)}, {arg})"]
    if node.ndim == 0:
        return [f"{out} = _first({arg})"]
    return [f"{out} = _reshape({arg}, {ctx.shape_expr(node.shape)})"]


def squeeze(x, axis=None) -> Node:
    """Remove size-1 axes (all of them when ``axis`` is None)."""
    x = as_node(x)
    if axis is None:
        axes = tuple(i for i, d in enumerate(x.shape) if d == 1)
    else:
        axes = normalize_axis("squeeze", axis, x.ndim)
    if not axes:
        return x
    return Squeeze(axes)(x)


# ---------------------------------------------------------------------------------------------
# Basic indexing: ints, slices (any step), None and Ellipsis.
# ---------------------------------------------------------------------------------------------
def _normalize_key(x: Node, key) -> tuple:
    """A hashable canonical key: entries are int, ("slice", start, stop, step) or None."""
    if not isinstance(key, tuple):
        key = (key,)
    n_real = sum(1 for k in key if k is not None and k is not Ellipsis)
    if sum(1 for k in key if k is Ellipsis) > 1:
        raise ShapeError("index: only one Ellipsis is allowed")
    if n_real > x.ndim:
        raise ShapeError(f"index: too many indices ({n_real}) for shape {format_shape(x.shape)}")
    out = []
    for k in key:
        if k is Ellipsis:
            out.extend([("slice", None, None, None)] * (x.ndim - n_real))
        elif k is None:
            out.append(None)
        elif isinstance(k, slice):
            parts = []
            for v in (k.start, k.stop, k.step):
                if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer))):
                    raise ShapeError(f"index: slice bounds must be ints, got {k}")
                parts.append(None if v is None else int(v))
            if parts[2] == 0:
                raise ShapeError("index: slice step cannot be zero")
            out.append(("slice", *parts))
        elif isinstance(k, (int, np.integer)) and not isinstance(k, (bool, np.bool_)):
            out.append(int(k))
        else:
            raise ShapeError(
                f"index: unsupported index {k!r}; symdiff supports ints, slices, None and Ellipsis"
            )
    used = sum(1 for k in out if k is not None)
    out.extend([("slice", None, None, None)] * (x.ndim - used))
    return tuple(out)


def _index_shape(shape, key):
    out, axis = [], 0
    for k in key:
        if k is None:
            out.append(1)
            continue
        d = shape[axis]
        axis += 1
        if isinstance(k, int):
            if isinstance(d, int) and not -d <= k < d:
                raise ShapeError(f"index: index {k} is out of bounds for axis {axis - 1} of size {d}")
            continue
        _, start, stop, step = k
        if isinstance(d, int):
            out.append(len(range(*slice(start, stop, step).indices(d))))
        elif start is None and stop is None and step in (None, 1, -1):
            out.append(d)
        elif step in (None, 1):
            out.append(_named_slice_length(d, start, stop))
        else:
            raise ShapeError(
                f"index: slice {slice(start, stop, step)} of the named dim {d!r}: only steps 1 "
                "(x[a:b]) and the full reversal '::-1' may slice a named dim"
            )
    return tuple(out)


def _named_slice_length(d, start, stop):
    """Length of ``x[start:stop]`` along a named dim ``d``: ``d - 1`` for ``1:``, ``d - 2`` for
    ``1:-1``, ``3`` for ``:3`` or ``-3:`` (checked at run time to fit in ``d``)."""
    from ..types import dim_add

    lo = (0, 0) if start is None else (0, start) if start >= 0 else (1, start)  # (coeff of d, offset)
    hi = (1, 0) if stop is None else (0, stop) if stop >= 0 else (1, stop)
    length = dim_add(d, hi[1], d, lo[1], scale=(hi[0], 1, -lo[0], -1))
    if isinstance(length, int) and length < 0:
        raise ShapeError(f"index: the slice {start}:{stop} of the named dim {d!r} is empty or reversed")
    return length


def _slice_start(ctx, k: tuple, d) -> str:
    """Source text of the first position of a step-1 slice along a named dim."""
    start = k[1]
    if start is None or start == 0:
        return "0"
    return str(start) if start > 0 else f"({ctx.dim(d)} + ({start}))"


def _real(key) -> list:
    """The entries of a canonical key that consume an input axis (ints and slices)."""
    return [k for k in key if k is not None]


def _int_position(ctx, k: int, d) -> str:
    """Source text of the position of int index ``k`` along an axis of size ``d``."""
    return str(k) if k >= 0 else f"({ctx.dim(d)} + ({k}))"


def _slice_position(ctx, k: tuple, d, i: str) -> str:
    """Source text of the position, along an axis of size ``d``, of entry ``i`` of slice ``k``."""
    if not isinstance(d, int):  # steps 1 (any bounds) and the full '::-1' may slice a named dim
        if (k[3] or 1) == 1:
            start = _slice_start(ctx, k, d)
            return i if start == "0" else f"{start} + {i}"
        return f"{ctx.dim(d)} - 1 - {i}"
    start, _, step = slice(*k[1:]).indices(d)
    if step == 1:
        return f"{i} + {start}" if start else i
    return f"{start} + {step} * {i}" if start else f"{step} * {i}"


def _paren(index: str) -> str:
    """An index expression safe to put inside arithmetic (``i0 - 1`` becomes ``(i0 - 1)``)."""
    return index if index.isidentifier() or index.isdigit() else f"({index})"


def _as_index(key):
    return tuple(slice(*k[1:]) if isinstance(k, tuple) else k for k in key)


def _key_source(key) -> str:
    """Source text of a canonical key (ints, slices and None only)."""
    parts = []
    for k in key:
        if k is None:
            parts.append("None")
        elif isinstance(k, int):
            parts.append(str(k))
        else:
            start, stop, step = ("" if v is None else str(v) for v in k[1:])
            parts.append(f"{start}:{stop}" + (f":{step}" if step else ""))
    return ", ".join(parts)


def _bounds_checks(ctx, shape, key, arg) -> list[str]:
    """Runtime checks for int indices into named dims (static dims are checked when building)."""
    lines, axis = [], 0
    for k in key:
        if k is None:
            continue
        d = shape[axis]
        if isinstance(k, int) and isinstance(d, str):
            n = ctx.dim(d)
            lines.append(f"if not -{n} <= {k} < {n}:")
            lines.append(f"    raise IndexError('index {k} is out of bounds for axis {axis}')")
        elif isinstance(k, tuple) and isinstance(d, str) and (k[1] is not None or k[2] is not None):
            need = max(abs(v) if v < 0 else v for v in (k[1] or 0, k[2] or 0))
            lines.append(f"if {ctx.dim(d)} < {need}:")
            lines.append(f"    raise IndexError('the slice {k[1] if k[1] is not None else ''}:{k[2] if k[2] is not None else ''} needs at least {need} entries along axis {axis}')")
        axis += 1
    return lines


class _NoCtx:
    """Stand-in lowering context: asks whether a key needs run-time checks, not their text."""

    def dim(self, d):
        return str(d)


class Index(Op):
    accepts_bool = True
    name = "index"

    def __init__(self, key: tuple):
        super().__init__(key=key)

    def infer(self, x):
        return _index_shape(x.shape, self.key), x.dtype

    def perform(self, values, node, dims):
        try:
            out = values[0][_as_index(self.key)]
        except IndexError as exc:
            raise ShapeError(f"index: {exc}") from None
        if node is not None and out.shape != concrete_shape(node.shape, dims):
            raise ShapeError(
                f"index: the slice {_key_source(self.key)} gives shape {out.shape} here, but the graph "
                f"expects {format_shape(node.shape)}: the axis is too short for it"
            )
        return out

    def bprop(self, inputs, output, D):
        return [IndexGrad(self.key, inputs[0].shape)(D)]

    def batch(self, node, args, flags, B):
        return Index((FULL, *self.key))(args[0])

    pattern = staticmethod(patterns.moves)

    def lower(self, ctx, node, args, out):
        return [f"{out} = {args[0]}[{_key_source(self.key)}]"] + _bounds_checks(ctx, node.inputs[0].shape, self.key, args[0])

    def fusible(self, node) -> bool:
        """Fused (read in place inside a loop) unless an int index into a named dim needs a
        runtime bounds check, which only the statement lowering can raise."""
        return not _bounds_checks(_NoCtx(), node.inputs[0].shape, self.key, "")

    def emit_indexed(self, ctx, node, idx: list[str], at) -> str:
        """Fused lowering: the output entry at loop index ``idx`` is one input entry, so slices
        are read in place (no view, no copy, no separate loop). ``at(x, x_idx)`` gives the
        expression of the input at an index."""
        x = node.inputs[0]
        idx = [_paren(i) for i in idx]
        x_idx, out_axis, axis = [], 0, 0
        for k in self.key:
            if k is None:
                out_axis += 1
                continue
            d = x.shape[axis]
            axis += 1
            if isinstance(k, int):
                x_idx.append(_int_position(ctx, k, d))
            else:
                x_idx.append(_slice_position(ctx, k, d, idx[out_axis]))
                out_axis += 1
        return at(x, x_idx)


class IndexGrad(Op):
    accepts_bool = True
    """Zeros of ``shape`` with the indexed entries set from the input (the gradient of indexing)."""

    name = "index_grad"

    def __init__(self, key: tuple, shape: tuple):
        super().__init__(key=key, shape=shape)

    def infer(self, g):
        return self.shape, g.dtype

    def perform(self, values, node, dims):
        g = values[0]
        out = np.zeros(concrete_shape(self.shape, dims), dtype=g.dtype)
        try:
            out[_as_index(self.key)] = g
        except IndexError as exc:  # an int index past a named dim, as the forward index reports it
            raise ShapeError(f"index_grad: {exc}") from None
        return out

    def fusible(self, node) -> bool:
        """Fused unless an int index into a named dim needs a run-time bounds check (which only
        the statement lowering raises; fused, an out-of-bounds gradient would be zeros)."""
        return not _bounds_checks(_NoCtx(), self.shape, self.key, "")

    def bprop(self, inputs, output, D):
        return [Index(self.key)(D)]

    def batch(self, node, args, flags, B):
        return IndexGrad((FULL, *self.key), (B, *self.shape))(args[0])

    def pattern(self, node, pats, shapes, dims):
        """Output entry o is gradient entry k (numbered from 1 so that 0 means "no entry")."""
        where_from = np.asarray(self.perform([patterns.arange(shapes[0]) + 1], node, dims)).ravel()
        pos = np.flatnonzero(where_from)
        return patterns.gather(pos, where_from[pos] - 1, where_from.size, pats[0])

    def emit_indexed(self, ctx, node, idx: list[str], at) -> str:
        """Fused lowering: the value at loop index ``idx`` of the output shape is the gradient
        entry that lands there (``at(g, g_idx)``), or 0. Lets sums of slice gradients fuse into
        one loop."""
        g = node.inputs[0]
        idx = [_paren(i) for i in idx]
        conds, g_idx, axis = [], [], 0
        for k in self.key:
            if k is None:
                g_idx.append("0")
                continue
            d, i = self.shape[axis], idx[axis]
            axis += 1
            if isinstance(k, int):
                conds.append(f"{i} == {_int_position(ctx, k, d)}")
                continue
            if not isinstance(d, int):
                if (k[3] or 1) != 1 or (k[1] is None and k[2] is None):  # ':' or '::-1': its own inverse
                    g_idx.append(_slice_position(ctx, k, d, i))
                    continue
                start = _slice_start(ctx, k, d)
                stop = ctx.dim(d) if k[2] is None else str(k[2]) if k[2] >= 0 else f"({ctx.dim(d)} + ({k[2]}))"
                conds.append(f"{start} <= {i} < {stop}" if start != "0" else f"{i} < {stop}")
                g_idx.append(i if start == "0" else f"{i} - {start}")
                continue
            start, stop, step = slice(*k[1:]).indices(d)
            count = len(range(start, stop, step))
            last = start + (count - 1) * step
            lo, hi = min(start, last), max(start, last)
            if count == 0:
                conds.append("False")
            elif lo > 0 or hi < d - 1 or abs(step) != 1:  # a full slice needs no test
                conds.append(f"{lo} <= {i} <= {hi}" if lo > 0 and hi < d - 1 else (f"{i} <= {hi}" if lo == 0 else f"{i} >= {lo}"))
            if step == 1:
                g_idx.append(f"{i} - {start}" if start else i)
            elif step == -1:
                g_idx.append(f"{start} - {i}")
            else:
                conds.append(f"({i} - {start}) % {step} == 0")
                g_idx.append(f"({i} - {start}) // {step}")
        value = at(g, g_idx)
        if not conds:
            return value
        return f"({value} if {' and '.join(conds)} else 0.0)"

    def lower(self, ctx, node, args, out):
        """Zeros, then a loop over the gradient writing each entry to its place (Numba compiles
        such loops far faster than slice assignment)."""
        g = node.inputs[0]
        lines = [f"{out} = np.zeros({ctx.shape_expr(self.shape)}, dtype=np.{node.dtype.name})",
                 *_bounds_checks(ctx, self.shape, self.key, out)]
        target, g_idx, axis, j = [], [], 0, 0
        for k in self.key:
            if k is None:  # an inserted axis of size 1 in g
                g_idx.append("0")
                j += 1
                continue
            d = self.shape[axis]
            axis += 1
            if isinstance(k, int):
                target.append(_int_position(ctx, k, d))
                continue
            target.append(_slice_position(ctx, k, d, f"j{j}"))
            g_idx.append(f"j{j}")
            j += 1
        if g.ndim == 0:
            return lines + [f"{out}[{', '.join(target)}] = {args[0]}"]
        indent = ""
        for n, d in enumerate(g.shape):
            if g_idx[n] != "0":
                lines.append(f"{indent}for j{n} in range({ctx.dim(d)}):")
                indent += "    "
        lines.append(f"{indent}{out}[{', '.join(target)}] = {args[0]}[{', '.join(g_idx)}]")
        return lines


def index(x, key) -> Node:
    """``x[key]`` for ints, slices (negative steps too), None, Ellipsis, integer arrays (constant
    arrays or integer nodes) and constant boolean masks, with NumPy's rules."""
    from .indexing import advanced_index, is_advanced

    x = as_node(x)
    if any(is_advanced(k) for k in (key if isinstance(key, tuple) else (key,))):
        return advanced_index(x, key)
    key = _normalize_key(x, key)
    if all(k == ("slice", None, None, None) for k in key):
        return x
    return Index(key)(x)


# ---------------------------------------------------------------------------------------------
# Joining
# ---------------------------------------------------------------------------------------------
class Concatenate(Op):
    name = "concatenate"

    def __init__(self, axis: int):
        super().__init__(axis=axis)

    def infer(self, *xs):
        from ..types import result_dtype

        first = xs[0]
        total = 0
        for x in xs:
            if x.ndim != first.ndim or any(
                x.shape[i] != first.shape[i] for i in range(x.ndim) if i != self.axis
            ):
                raise ShapeError(
                    f"concatenate: shapes {', '.join(format_shape(x.shape) for x in xs)} "
                    f"do not match off axis {self.axis}"
                )
            d = x.shape[self.axis]
            if not isinstance(d, int):
                raise ShapeError(f"concatenate: axis {self.axis} has the named dim {d!r}; its total is not static")
            total += d
        shape = list(first.shape)
        shape[self.axis] = total
        return tuple(shape), result_dtype(*(x.dtype for x in xs))

    def perform(self, values, node, dims):
        return np.concatenate(values, axis=self.axis)

    def lower(self, ctx, node, args, out):
        """Copy loops into one new array (Numba compiles ``np.concatenate`` of a tuple in
        about a second; scalar copy loops in milliseconds)."""
        lines = [f"{out} = _empty({ctx.shape_expr(node.shape)}, np.{node.dtype.name})"]
        offset = "0"
        for a, x in zip(args, node.inputs):
            idx = [f"{out}_i{k}" for k in range(x.ndim)]
            for k, d in enumerate(x.shape):
                lines.append(f"{'    ' * k}for {idx[k]} in range({ctx.dim(d)}):")
            dst = [i if k != self.axis else (i if offset == "0" else f"{i} + {offset}") for k, i in enumerate(idx)]
            lines.append(f"{'    ' * x.ndim}{out}[{', '.join(dst)}] = {a}[{', '.join(idx)}]")
            size = ctx.dim(x.shape[self.axis])
            offset = size if offset == "0" else f"{offset} + {size}"
        return lines

    def batch(self, node, args, flags, B):
        return Concatenate(self.axis + 1)(*all_batched(node, args, flags, B))

    def pattern(self, node, pats, shapes, dims):
        """Concatenate the entry numbers of the inputs to learn where each output entry comes from."""
        import scipy.sparse as sp

        nx = next(P.shape[1] for P in pats if P is not None)
        parts, offset = [], 0
        for shape in shapes:
            parts.append(np.arange(offset, offset + patterns.size(shape), dtype=np.int64).reshape(shape))
            offset += patterns.size(shape)
        stacked = sp.vstack([P if P is not None else patterns.empty(patterns.size(s), nx)
                             for P, s in zip(pats, shapes)], format="csr")
        return patterns.rows(stacked, np.asarray(self.perform(parts, node, dims)))

    def bprop(self, inputs, output, D):
        grads, start = [], 0
        for x in inputs:
            stop = start + x.shape[self.axis]
            key = [slice(None)] * x.ndim
            key[self.axis] = slice(start, stop)
            grads.append(index(D, tuple(key)))
            start = stop
        return grads


def concatenate(xs, axis: int = 0) -> Node:
    """Join nodes along an existing axis."""
    if xs is None or isinstance(xs, (Node, str, bytes)) or not hasattr(xs, "__iter__"):
        raise ShapeError(f"concatenate: expected a list of nodes, got {type(xs).__name__} {xs!r:.60}")
    xs = [as_node(x) for x in xs]
    if not xs:
        raise ShapeError("concatenate: needs at least one input")
    if any(x.ndim == 0 for x in xs):
        raise ShapeError("concatenate: zero-dimensional inputs cannot be concatenated")
    (axis,) = normalize_axis("concatenate", axis, xs[0].ndim)
    if len(xs) == 1:
        return xs[0]
    return Concatenate(axis)(*xs)


def stack(xs, axis: int = 0) -> Node:
    """Join nodes of equal shape along a new axis."""
    if xs is None or isinstance(xs, (Node, str, bytes)) or not hasattr(xs, "__iter__"):
        raise ShapeError(f"stack: expected a list of nodes, got {type(xs).__name__} {xs!r:.60}")
    xs = [as_node(x) for x in xs]
    if not xs:
        raise ShapeError("stack: needs at least one input")
    if any(x.shape != xs[0].shape for x in xs):
        raise ShapeError(f"stack: all inputs must have the same shape, got {', '.join(format_shape(x.shape) for x in xs)}")
    (axis,) = normalize_axis("stack", axis, xs[0].ndim + 1)
    return concatenate([expand_dims(x, axis) for x in xs], axis)
