"""``scipy.special`` for symdiff graphs: the same names and signatures, on nodes.

``import symdiff.scipy.special as special`` and then ``special.gammaln(x)``, ``special.xlogy(p, q)``,
``special.logsumexp(a, axis=0, b=w)`` build differentiable, compilable nodes. The functions live in
``symdiff.ops.special`` (elementwise special functions) and ``symdiff.ops.nn`` (softmax family);
``softmax`` and ``log_softmax`` here take SciPy's default ``axis=None`` (all axes), while
``sd.softmax`` keeps ``axis=-1``.
"""
from __future__ import annotations

from ..graph import Node
from ..ops import nn as _nn
from ..ops.special import (  # noqa: F401
    betaln, digamma, entr, erf, erfc, erfcinv, erfinv, expit, gamma, gammaln, i0, i0e, i1, i1e,
    kl_div, log_expit, log_ndtr, logit, logsumexp, multigammaln, ndtr, ndtri, polygamma, psi,
    rel_entr, xlog1py, xlogy,
)

__all__ = [
    "betaln", "digamma", "entr", "erf", "erfc", "erfcinv", "erfinv", "expit", "gamma", "gammaln",
    "i0", "i0e", "i1", "i1e", "kl_div", "log_expit", "log_ndtr", "log_softmax", "logit", "logsumexp", "multigammaln", "ndtr",
    "ndtri", "polygamma", "psi", "rel_entr", "softmax", "xlog1py", "xlogy",
]


def softmax(x, axis=None) -> Node:
    """exp(x) / sum(exp(x)) over ``axis`` (SciPy's default None: all axes), stable for large x."""
    return _nn.softmax(x, axis=axis)


def log_softmax(x, axis=None) -> Node:
    """x - logsumexp(x) over ``axis`` (SciPy's default None: all axes), stable for large x."""
    return _nn.log_softmax(x, axis=axis)
