"""``symdiff.nn``: the activation functions of ``jax.nn`` under JAX's names and signatures.

Each is written with symdiff ops (so gradients, Hessians, batching and compilation come with
them); the stable forms (``log_sigmoid = -softplus(-x)``, max-shifted softmax) stay finite for
inputs of magnitude 1000.
"""
from __future__ import annotations

import numpy as _np

from .graph import Node, as_node
from .ops.elementwise import (
    abs as _abs, clip as _clip, elu as _elu, expm1 as _expm1, leaky_relu as _leaky_relu,
    maximum as _maximum, minimum as _minimum, relu as _relu, sigmoid as _sigmoid,
    softplus as _softplus, tanh as _tanh,
)
from .ops.nn import log_softmax as _log_softmax, logsumexp as _logsumexp, softmax as _softmax

__all__ = [
    "relu", "relu6", "sigmoid", "softplus", "log_sigmoid", "silu", "swish", "gelu", "elu", "celu",
    "selu", "leaky_relu", "hard_tanh", "hard_sigmoid", "hard_silu", "hard_swish", "soft_sign",
    "softmax", "log_softmax", "logsumexp", "one_hot", "standardize", "glu", "tanh", "mish", "squareplus",
]

relu = _relu
sigmoid = _sigmoid
softplus = _softplus
tanh = _tanh


def relu6(x) -> Node:
    """min(max(x, 0), 6)."""
    return _clip(x, 0.0, 6.0)


def log_sigmoid(x) -> Node:
    """log(sigmoid(x)) = -softplus(-x), finite for any x."""
    return -_softplus(-as_node(x))


def silu(x) -> Node:
    """x * sigmoid(x) (also ``swish``)."""
    x = as_node(x)
    return x * _sigmoid(x)


swish = silu


def gelu(x, approximate: bool = True) -> Node:
    """Gaussian error linear unit; ``approximate=True`` (JAX's default) is the tanh form."""
    x = as_node(x)
    if approximate:
        c = float(_np.sqrt(2.0 / _np.pi))
        return 0.5 * x * (1.0 + _tanh(c * (x + 0.044715 * (x * x * x))))
    from .ops.special import erf

    return 0.5 * x * (1.0 + erf(x / float(_np.sqrt(2.0))))


def elu(x, alpha: float = 1.0) -> Node:
    return _elu(x, alpha)


def celu(x, alpha: float = 1.0) -> Node:
    """max(x, 0) + alpha * expm1(min(x, 0) / alpha)."""
    x = as_node(x)
    return _maximum(x, 0.0) + alpha * _expm1(_minimum(x, 0.0) / alpha)


def selu(x) -> Node:
    """scale * elu(x, alpha) with the self-normalising constants."""
    alpha, scale = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
    return scale * _elu(x, alpha)


def leaky_relu(x, negative_slope: float = 0.01) -> Node:
    return _leaky_relu(x, negative_slope)


def hard_tanh(x) -> Node:
    return _clip(x, -1.0, 1.0)


def hard_sigmoid(x) -> Node:
    """relu6(x + 3) / 6."""
    return relu6(as_node(x) + 3.0) / 6.0


def hard_silu(x) -> Node:
    """x * hard_sigmoid(x) (also ``hard_swish``)."""
    x = as_node(x)
    return x * hard_sigmoid(x)


hard_swish = hard_silu


def soft_sign(x) -> Node:
    """x / (|x| + 1)."""
    x = as_node(x)
    return x / (_abs(x) + 1.0)


def softmax(x, axis=-1) -> Node:
    return _softmax(x, axis)


def log_softmax(x, axis=-1) -> Node:
    return _log_softmax(x, axis)


def logsumexp(x, axis=None, keepdims: bool = False) -> Node:
    return _logsumexp(x, axis=axis, keepdims=keepdims)


def one_hot(x, num_classes: int, dtype="float64", axis: int = -1) -> Node:
    """1 where ``x == class`` along a new axis of size ``num_classes`` (``x``: ints or an int node)."""
    from . import numpy as snp

    x = x if isinstance(x, Node) else snp.asarray(_np.asarray(x))
    classes = snp.arange(num_classes)
    expanded = snp.expand_dims(x, -1)
    hot = snp.where(snp.equal(expanded, classes), 1.0, 0.0)
    hot = snp.asarray(hot, dtype=dtype)
    return hot if axis in (-1, hot.ndim - 1) else snp.moveaxis(hot, -1, axis)


def standardize(x, axis=-1, mean=None, variance=None, epsilon: float = 1e-5) -> Node:
    """(x - mean) / sqrt(variance + epsilon) along ``axis``."""
    from . import numpy as snp

    x = as_node(x)
    if mean is None:
        mean = snp.mean(x, axis=axis, keepdims=True)
    if variance is None:
        variance = snp.mean(x * x, axis=axis, keepdims=True) - mean * mean
    return (x - mean) / snp.sqrt(variance + epsilon)


def glu(x, axis: int = -1) -> Node:
    """a * sigmoid(b) for the two halves a, b of ``x`` along ``axis``."""
    from . import numpy as snp

    a, b = snp.split(as_node(x), 2, axis=axis)
    return a * _sigmoid(b)


def mish(x) -> Node:
    """x * tanh(softplus(x))."""
    x = as_node(x)
    return x * _tanh(_softplus(x))


def squareplus(x, b: float = 4.0) -> Node:
    """(x + sqrt(x^2 + b)) / 2, a smooth relu."""
    from .ops.elementwise import sqrt

    x = as_node(x)
    return 0.5 * (x + sqrt(x * x + b))
