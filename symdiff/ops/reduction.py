"""Reductions along axes: sum, max, min (and mean, built on sum)."""
from __future__ import annotations

import numpy as np

from .. import patterns
from ..batching import shift
from ..graph import Node, as_node
from ..types import concrete_shape, normalize_axis
from .base import Op


def reduced_shape(shape, axes, keepdims):
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


class Reduce(Op):
    """Base of reductions; parameters ``axis`` (sorted tuple) and ``keepdims``.

    Numba lowering: the code generator accumulates a reduction inside the loop over its input,
    starting from ``init`` and applying ``update`` (a statement over ``{acc}`` and ``{x}``).
    """

    numpy = None
    init = "0.0"
    update = "{acc} += {x}"
    needs_nonempty = False  # True: reducing zero elements is an error (no identity)

    def __init__(self, axis: tuple, keepdims: bool):
        super().__init__(axis=axis, keepdims=keepdims)

    def infer(self, x):
        return reduced_shape(x.shape, self.axis, self.keepdims), x.dtype

    def perform(self, values, node, dims):
        return type(self).numpy(values[0], axis=self.axis, keepdims=self.keepdims)

    def batch(self, node, args, flags, B):
        return type(self)(shift(self.axis), self.keepdims)(args[0])

    def pattern(self, node, pats, shapes, dims):
        return patterns.reduce(node, pats, shapes, dims)

    def keep(self, y: Node) -> Node:
        """``y`` (a reduced value) shaped to broadcast against the input: the reduced axes are
        put back as size 1, unless they are all leading (broadcasting restores those)."""
        if self.keepdims or self.axis == tuple(range(len(self.axis))):
            return y
        return expand_dims(y, self.axis)


class Sum(Reduce):
    name, numpy = "sum", np.sum

    def bprop(self, inputs, output, D):
        return [broadcast_to(self.keep(D), inputs[0].shape)]


class Max(Reduce):
    """Maximum along axes; the gradient is split equally between tied maxima."""

    name, numpy = "max", np.max
    init, update, needs_nonempty = "-np.inf", "{acc} = _maximum({acc}, {x})", True

    def bprop(self, inputs, output, D):
        x = inputs[0]
        hit = equal(x, self.keep(output))
        one, zero = full((), 1.0, D.dtype), full((), 0.0, D.dtype)
        count = sum_(where(hit, one, zero), axis=self.axis, keepdims=True)
        # no entry equals a NaN maximum: count is 0 and 0 / 0 puts NaN everywhere (as JAX does)
        return [where(hit, self.keep(D) / count, zero / count)]


class Min(Max):
    name, numpy = "min", np.min
    init, update = "np.inf", "{acc} = _minimum({acc}, {x})"


class SizeOf(Op):
    """The number of elements in a shape with named dims, as a scalar (e.g. ``n`` in a mean)."""

    name = "size"

    def __init__(self, shape: tuple, dtype: str):
        super().__init__(shape=shape, dtype=dtype)

    def infer(self):
        return (), np.dtype(self.dtype)

    def perform(self, values, node, dims):
        return np.array(np.prod(concrete_shape(self.shape, dims)), dtype=self.dtype)

    def lower(self, ctx, node, args, out):
        return [f"{out} = np.{self.dtype}({' * '.join(ctx.dim(d) for d in self.shape) or 1})"]

    def bprop(self, inputs, output, D):
        return []

    def batch(self, node, args, flags, B):  # no inputs: never batched
        raise AssertionError("size has no inputs")

    pattern = staticmethod(patterns.none)


def _reduce(cls, x, axis, keepdims) -> Node:
    x = as_node(x)
    axes = normalize_axis(cls.name, axis, x.ndim)
    if not axes and not keepdims:
        return x
    return cls(axes, bool(keepdims))(x)


def sum_(x, axis=None, keepdims: bool = False) -> Node:
    """Sum over ``axis`` (None: all axes; an int or a tuple)."""
    return _reduce(Sum, x, axis, keepdims)


def max_(x, axis=None, keepdims: bool = False) -> Node:
    """Maximum over ``axis``; ties share the gradient equally."""
    return _reduce(Max, x, axis, keepdims)


def min_(x, axis=None, keepdims: bool = False) -> Node:
    """Minimum over ``axis``; ties share the gradient equally."""
    return _reduce(Min, x, axis, keepdims)


def size(x, axis=None) -> Node:
    """The number of elements of ``x`` along ``axis`` as a scalar node (a constant when static)."""
    x = as_node(x)
    axes = normalize_axis("size", axis, x.ndim)
    dims = tuple(x.shape[a] for a in axes)
    dtype = x.dtype if x.dtype != np.dtype(bool) else np.dtype("float64")
    if all(isinstance(d, int) for d in dims):
        from ..graph import Constant

        return Constant(np.array(float(np.prod(dims)), dtype=dtype))
    return SizeOf(dims, dtype.name)()


def mean(x, axis=None, keepdims: bool = False) -> Node:
    """Arithmetic mean over ``axis``: ``sum(x, axis) / size``."""
    x = as_node(x)
    if x.dtype == np.dtype(bool):
        from .elementwise import cast

        x = cast(x, "float64")
    return sum_(x, axis, keepdims) / size(x, axis)


from .elementwise import equal, full, where  # noqa: E402
from .structure import broadcast_to, expand_dims  # noqa: E402
