"""All operations and their public constructors."""
from .base import Op
from .elementwise import (
    Elemwise, abs, add, cast, clip, cos, div, elu, equal, exp, expm1, full, greater,
    greater_equal, hard_tanh, leaky_relu, less, less_equal, log, log1p, maximum, minimum, mul,
    neg, not_equal, ones_like, power, relu, sigmoid, sign, sin, softplus, sqrt, square, sub, tan,
    tanh, unbroadcast, where, zeros, zeros_like,
)
from .linalg import dot, matmul, outer
from .nn import log_softmax, logsumexp, softmax
from .reduction import max_ as max, mean, min_ as min, size, sum_ as sum
from .structure import (
    broadcast_to, concatenate, expand_dims, index, reshape, squeeze, stack, swapaxes, transpose,
)
# The NumPy vocabulary: each module lists its public constructors in ``__all__``.
from .indexing import *  # noqa: F401,F403
from .sorting import *  # noqa: F401,F403
from .math import *  # noqa: F401,F403
from .special import *  # noqa: F401,F403
from .decomp import *  # noqa: F401,F403
from .contract import *  # noqa: F401,F403
from .statistics import *  # noqa: F401,F403
from .shaping import *  # noqa: F401,F403
from .numerical import *  # noqa: F401,F403
from .loops import *  # noqa: F401,F403
from .nn import logsumexp  # noqa: E402,F811  (the core signature; scipy's form is symdiff.scipy.special.logsumexp)
