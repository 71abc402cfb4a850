"""Numerically stable softmax, log_softmax and logsumexp along axes.

Each subtracts the maximum before exponentiating, so inputs of magnitude 1000 stay finite.
"""
from __future__ import annotations

import numpy as np

from ..graph import Node, as_node
from ..types import normalize_axis
from .base import Op
from ..compiler.codegen import size_tuple
from .reduction import reduced_shape
from .. import patterns
from ..batching import shift


def _shifted(x, axis):
    """x - max(x) along axis, with all -inf slices shifted by 0 instead of NaN (and empty slices
    too: logsumexp of nothing is -inf, softmax of nothing is empty, as in SciPy and JAX)."""
    m = np.max(x, axis=axis, keepdims=True, initial=-np.inf)
    m = np.where(np.isfinite(m), m, 0)
    return x - m, m


class Softmax(Op):
    name = "softmax"

    def __init__(self, axis: tuple):
        super().__init__(axis=axis)

    def infer(self, x):
        return x.shape, x.dtype

    def perform(self, values, node, dims):
        z, _ = _shifted(values[0], self.axis)
        e = np.exp(z)
        return e / np.sum(e, axis=self.axis, keepdims=True)

    def bprop(self, inputs, output, D):
        y = output
        return [y * (D - sum_(D * y, self.axis, keepdims=True))]

    def lower(self, ctx, node, args, out):
        return _lower_rows(ctx, node, args[0], out, "_softmax_rows", self.axis, reduces=False)

    def batch(self, node, args, flags, B):
        return type(self)(shift(self.axis))(args[0])

    pattern = staticmethod(patterns.reduce_back)


class LogSoftmax(Op):
    name = "log_softmax"

    def __init__(self, axis: tuple):
        super().__init__(axis=axis)

    def infer(self, x):
        return x.shape, x.dtype

    def perform(self, values, node, dims):
        z, _ = _shifted(values[0], self.axis)
        return z - np.log(np.sum(np.exp(z), axis=self.axis, keepdims=True))

    def bprop(self, inputs, output, D):
        return [D - exp(output) * sum_(D, self.axis, keepdims=True)]

    def lower(self, ctx, node, args, out):
        return _lower_rows(ctx, node, args[0], out, "_log_softmax_rows", self.axis, reduces=False)

    def batch(self, node, args, flags, B):
        return type(self)(shift(self.axis))(args[0])

    pattern = staticmethod(patterns.reduce_back)


class LogSumExp(Op):
    name = "logsumexp"

    def __init__(self, axis: tuple, keepdims: bool):
        super().__init__(axis=axis, keepdims=keepdims)

    def infer(self, x):
        return reduced_shape(x.shape, self.axis, self.keepdims), x.dtype

    def perform(self, values, node, dims):
        z, m = _shifted(values[0], self.axis)
        out = m + np.log(np.sum(np.exp(z), axis=self.axis, keepdims=True))
        return out if self.keepdims else np.squeeze(out, self.axis)

    def bprop(self, inputs, output, D):
        keep = (lambda t: t) if self.keepdims else (lambda t: expand_dims(t, self.axis))
        return [keep(D) * exp(inputs[0] - keep(output))]

    def lower(self, ctx, node, args, out):
        return _lower_rows(ctx, node, args[0], out, "_logsumexp_rows", self.axis, reduces=True)

    def batch(self, node, args, flags, B):
        return LogSumExp(shift(self.axis), self.keepdims)(args[0])

    pattern = staticmethod(patterns.reduce)


def softmax(x, axis=-1) -> Node:
    """exp(x) / sum(exp(x)) along ``axis``, stable for large inputs."""
    x = as_node(x)
    return Softmax(normalize_axis("softmax", axis, x.ndim))(x)


def log_softmax(x, axis=-1) -> Node:
    """x - logsumexp(x) along ``axis``, stable for large inputs."""
    x = as_node(x)
    return LogSoftmax(normalize_axis("log_softmax", axis, x.ndim))(x)


def logsumexp(x, axis=None, keepdims: bool = False) -> Node:
    """log(sum(exp(x))) along ``axis``, stable for large inputs."""
    x = as_node(x)
    return LogSumExp(normalize_axis("logsumexp", axis, x.ndim), bool(keepdims))(x)


from .elementwise import exp  # noqa: E402
from .reduction import sum_  # noqa: E402
from .structure import expand_dims  # noqa: E402


def _lower_rows(ctx, node, arg, out, helper, axis, reduces):
    """Numba lowering of the softmax family: move ``axis`` to the end, run a row kernel, move back."""
    x = node.inputs[0]
    rest = [a for a in range(x.ndim) if a not in axis]
    perm = tuple(rest) + tuple(axis)
    outer = " * ".join(ctx.dim(x.shape[a]) for a in rest) or "1"
    inner = " * ".join(ctx.dim(x.shape[a]) for a in axis) or "1"
    moved = arg if perm == tuple(range(x.ndim)) else f"np.transpose({arg}, {perm})"
    # rows of a 2-d input along its last axis go in as they are; otherwise a (rows, row) copy
    plain = x.ndim == 2 and tuple(axis) == (1,)
    call = f"{helper}({arg})" if plain else f"{helper}(_reshape({moved}, {size_tuple([outer, inner])}))"
    if reduces:
        if node.ndim == 0:
            return [f"{out} = {call}[0]"]
        if plain and node.ndim == 1:
            return [f"{out} = {call}"]
        return [f"{out} = _reshape({call}, {ctx.shape_expr(node.shape)})"]
    if plain:
        return [f"{out} = {call}"]
    moved_shape = ctx.shape_expr(tuple(x.shape[a] for a in perm))
    back = tuple(int(i) for i in np.argsort(perm))
    if perm == tuple(range(x.ndim)):
        return [f"{out} = _reshape({call}, {moved_shape})"]
    return [f"{out} = np.transpose(_reshape({call}, {moved_shape}), {back})"]

