"""symdiff: symbol-to-symbol differentiation of tensor expression graphs, compiled with Numba.

Build a graph from variables and operations, add its gradient to the same graph with
``grad``/``build_grad``, then evaluate it with NumPy (``evaluate``) or compile it (``function``).
"""
from .compiler import Function, function
from .check import GradCheckError, check_grad, numeric_grad
from .errors import (
    ConstantError, DisconnectedError, DTypeError, GradError, InputError, ShapeError, SymdiffError,
)
from .evaluate import evaluate
from .grad import build_grad, grad
from .graph import (
    Constant, Graph, Node, Variable, as_node, constant, get_consumers, get_inputs, get_operation,
    matrix, scalar, tensor, toposort, vector,
)
from .ops import (
    abs, add, broadcast_to, cast, clip, concatenate, cos, div, dot, elu, equal, exp, expand_dims,
    expm1, full, greater, greater_equal, hard_tanh, index, leaky_relu, less, less_equal, log, log1p,
    log_softmax, logsumexp, matmul, max, maximum, mean, min, minimum, mul, neg, not_equal,
    ones_like, outer, power, relu, reshape, sigmoid, sign, sin, size, softmax, softplus, sqrt,
    square, squeeze, stack, sub, sum, swapaxes, tan, tanh, transpose, where, zeros, zeros_like,
)
from .ops.indexing import *  # noqa: F401,F403  (the NumPy vocabulary, one module per family)
from .ops.sorting import *  # noqa: F401,F403
from .ops.math import *  # noqa: F401,F403
from .ops.special import *  # noqa: F401,F403
from .ops.decomp import *  # noqa: F401,F403
from .ops.contract import *  # noqa: F401,F403
from .ops.statistics import *  # noqa: F401,F403
from .ops.shaping import *  # noqa: F401,F403
from .ops.numerical import *  # noqa: F401,F403
from .ops.loops import *  # noqa: F401,F403
from .ops.nn import logsumexp  # noqa: F811  (the core signature; scipy's is sd.scipy.special.logsumexp)
from .printing import GraphvizNotFoundError, dformat, dprint, pretty, render, to_dot
from .custom import CustomOpError, elementwise
from .sympy_interop import SympyConversionError, from_sympy, latex, to_sympy

__version__ = "0.1.0"
from .jacobian import (
    MemoryLimitError, get_memory_limit, hessian, hvp, jacobian, jvp, set_memory_limit, vjp,
)
from .rewrite import clone, simplify
from .transforms import Array, config, jit, value_and_grad
jacfwd = jacrev = jacobian  # JAX's names (with a callable: the function forms)
from .vmap import vmap

_LAZY = {"optimize": (".optimize", None), "SparseHessian": (".sparsity", "SparseHessian"),
         "SparseJacobian": (".sparsity", "SparseJacobian"), "colouring": (".colouring", None),
         "numpy": (".numpy", None), "nn": (".nn", None), "linalg": (".linalg", None),
         "scipy": (".scipy", None), "lax": (".lax", None)}


def __getattr__(name: str):
    """``sd.optimize``, ``sd.SparseHessian`` and ``sd.SparseJacobian`` are imported on first use (they import
    scipy.optimize and scipy.sparse, about 0.3 s together)."""
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        mod = importlib.import_module(module, __name__)
        return mod if attr is None else getattr(mod, attr)
    raise AttributeError(f"module 'symdiff' has no attribute {name!r}")
