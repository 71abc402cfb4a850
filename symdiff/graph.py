"""The graph IR: nodes are values, edges are the arguments of the operations that compute them.

This module holds the vocabulary of the seed notes (seed 004):

* ``get_operation(V)`` - the op that computes ``V`` (``None`` for variables and constants);
* ``get_inputs(V)`` - the nodes ``V`` is computed from;
* ``get_consumers(V, graph)`` - the nodes of ``graph`` that take ``V`` as an input;
* ``toposort(outputs)`` - every ancestor of ``outputs`` with inputs before consumers.

Everything here is iterative: graphs 100,000 nodes deep never hit Python's recursion limit.
"""
from __future__ import annotations

import itertools
from typing import Iterable, Sequence

import numpy as np

from .errors import ConstantError, SymdiffError
from .types import DEFAULT_FLOAT, Shape, as_dtype, as_shape, format_shape

_ids = itertools.count(1)

# The role new nodes are created with: build_grad switches it to "grad" while it runs, so printers
# can tell gradient nodes from forward ones.
_creation_role = ["forward"]


class Node:
    """A value in a symbolic graph: a variable, a constant, or the output of an operation.

    Attributes: ``op`` (the operation, ``None`` for variables and constants), ``inputs``,
    ``shape`` (ints and dim names), ``dtype``, ``name`` (optional label), ``role``
    (``"forward"`` or ``"grad"``) and ``grad_of`` (for a gradient, the node it is the gradient of).
    """

    __slots__ = ("op", "inputs", "shape", "dtype", "name", "id", "role", "grad_of", "__weakref__")
    __array_priority__ = 1000

    # NumPy's own functions on nodes build nodes: ``np.exp(x)``, ``ndarray * x``, ``np.sum(x, 0)``
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        from .numpy import _dispatch_ufunc

        return _dispatch_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        from .numpy import _dispatch_function

        return _dispatch_function(func, args, kwargs)

    def __init__(self, op, inputs: Sequence["Node"], shape: Shape, dtype: np.dtype, name: str | None = None):
        self.op = op
        self.inputs = tuple(inputs)
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.name = name
        self.id = next(_ids)
        self.role = _creation_role[-1]
        self.grad_of = None

    # -- basic properties -------------------------------------------------------------------
    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def T(self) -> "Node":
        return ops.transpose(self)

    def __repr__(self) -> str:
        what = self.name or (self.op.name if self.op is not None else "const")
        kind = type(self).__name__
        return f"<{kind} {what} #{self.id} shape={format_shape(self.shape)} dtype={self.dtype}>"

    def __str__(self) -> str:
        from .printing import pretty

        return pretty(self)

    def __bool__(self):
        raise SymdiffError(
            "the truth value of a symbolic node is unknown until it is evaluated; "
            "use sd.where(...) for a data-dependent choice"
        )

    def __iter__(self):
        if not self.shape or not isinstance(self.shape[0], int):
            raise SymdiffError(f"cannot iterate over a node of shape {format_shape(self.shape)}")
        return (self[i] for i in range(self.shape[0]))

    def __len__(self) -> int:
        if not self.shape or not isinstance(self.shape[0], int):
            raise SymdiffError(f"len() of a node of shape {format_shape(self.shape)} is not a static int")
        return self.shape[0]

    # -- operators --------------------------------------------------------------------------
    def __add__(self, other): return ops.add(self, other)
    def __radd__(self, other): return ops.add(other, self)
    def __sub__(self, other): return ops.sub(self, other)
    def __rsub__(self, other): return ops.sub(other, self)
    def __mul__(self, other): return ops.mul(self, other)
    def __rmul__(self, other): return ops.mul(other, self)
    def __truediv__(self, other): return ops.div(self, other)
    def __rtruediv__(self, other): return ops.div(other, self)
    def __pow__(self, other): return ops.power(self, other)
    def __rpow__(self, other): return ops.power(other, self)
    def __matmul__(self, other): return ops.matmul(self, other)
    def __rmatmul__(self, other): return ops.matmul(other, self)
    def __neg__(self): return ops.neg(self)
    def __pos__(self): return self
    def __abs__(self): return ops.abs(self)
    def __gt__(self, other): return ops.greater(self, other)
    def __ge__(self, other): return ops.greater_equal(self, other)
    def __lt__(self, other): return ops.less(self, other)
    def __le__(self, other): return ops.less_equal(self, other)
    def __mod__(self, other): return ops.mod(self, other)
    def __rmod__(self, other): return ops.mod(other, self)
    def __floordiv__(self, other): return ops.floor_divide(self, other)
    def __rfloordiv__(self, other): return ops.floor_divide(other, self)
    def __divmod__(self, other): return ops.divmod(self, other)
    def __rdivmod__(self, other): return ops.divmod(other, self)
    # & | ^ ~ are the logical ops on bool nodes (as NumPy's on bool arrays); DTypeError otherwise
    def __and__(self, other): return ops.bitwise_and(self, other)
    def __rand__(self, other): return ops.bitwise_and(other, self)
    def __or__(self, other): return ops.bitwise_or(self, other)
    def __ror__(self, other): return ops.bitwise_or(other, self)
    def __xor__(self, other): return ops.bitwise_xor(self, other)
    def __rxor__(self, other): return ops.bitwise_xor(other, self)
    def __invert__(self): return ops.invert(self)
    def __getitem__(self, key): return ops.index(self, key)
    # ``==`` stays identity so nodes can be dict keys; use sd.equal / sd.not_equal.
    __eq__ = object.__eq__
    __hash__ = object.__hash__

    # -- NumPy-style methods ----------------------------------------------------------------
    def sum(self, axis=None, keepdims: bool = False) -> "Node":
        return ops.sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims: bool = False) -> "Node":
        return ops.mean(self, axis=axis, keepdims=keepdims)

    def max(self, axis=None, keepdims: bool = False) -> "Node":
        return ops.max(self, axis=axis, keepdims=keepdims)

    def min(self, axis=None, keepdims: bool = False) -> "Node":
        return ops.min(self, axis=axis, keepdims=keepdims)

    def reshape(self, *shape, order: str = "C") -> "Node":
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        if order != "C":
            return _snp().reshape(self, shape, order=order)
        return ops.reshape(self, shape)

    def transpose(self, *axes) -> "Node":
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return ops.transpose(self, axes or None)

    def dot(self, other) -> "Node":
        return ops.dot(self, other)

    # -- more NumPy / JAX array methods (through symdiff.numpy, NumPy's signatures) ------------
    @property
    def at(self):
        """JAX's functional updates: ``x.at[idx].set(v)``, ``.add``, ``.multiply``, ``.min``, ``.max``."""
        from .ops.indexing import _IndexUpdateHelper

        return _IndexUpdateHelper(self)

    @property
    def size(self):
        """The number of entries: an int for static shapes, a scalar node with named dims."""
        if all(isinstance(d, int) for d in self.shape):
            return int(np.prod(self.shape, dtype=np.int64))
        return ops.size(self)

    @property
    def mT(self) -> "Node":
        return ops.swapaxes(self, -1, -2)

    @property
    def real(self) -> "Node":
        return self

    def conj(self) -> "Node":
        return self

    conjugate = conj

    def flatten(self, order: str = "C") -> "Node":
        return _snp().ravel(self, order)

    def ravel(self, order: str = "C") -> "Node":
        return _snp().ravel(self, order)

    def copy(self) -> "Node":
        """Nodes are immutable values: the copy is the node itself."""
        return self

    def astype(self, dtype) -> "Node":
        return _snp().asarray(self, dtype=dtype)

    def squeeze(self, axis=None) -> "Node":
        return ops.squeeze(self, axis)

    def swapaxes(self, a: int, b: int) -> "Node":
        return ops.swapaxes(self, a, b)

    def clip(self, min=None, max=None) -> "Node":
        return _snp().clip(self, min, max)

    def round(self, decimals: int = 0) -> "Node":
        return _snp().round(self, decimals)


def _numpy_method(name: str):
    def method(self, *args, **kwargs):
        return getattr(_snp(), name)(self, *args, **kwargs)

    method.__name__ = name
    method.__doc__ = f"``symdiff.numpy.{name}(self, ...)``."
    return method


for _name in ("prod", "cumsum", "cumprod", "var", "std", "ptp", "argmax", "argmin", "any", "all",
              "trace", "diagonal", "repeat", "take", "nonzero", "sort", "argsort"):
    setattr(Node, _name, _numpy_method(_name))


def _snp():
    from . import numpy as snp

    return snp


class Variable(Node):
    """An input of the graph, bound to a value when the graph is evaluated or called."""

    __slots__ = ()

    def __init__(self, name: str, shape: Shape, dtype: np.dtype):
        super().__init__(None, (), shape, dtype, name)


class Constant(Node):
    """A fixed value. ``weak`` constants (from Python numbers) take the dtype of what they meet."""

    __slots__ = ("value", "weak")

    def __init__(self, value: np.ndarray, weak: bool = False, name: str | None = None):
        super().__init__(None, (), value.shape, value.dtype, name)
        value.setflags(write=False)
        self.value = value
        self.weak = weak


# -- constructors -----------------------------------------------------------------------------
def tensor(name: str, shape: Sequence = (), dtype="float64") -> Variable:
    """A symbolic input of the given shape; entries of ``shape`` are ints or dim names like ``"n"``."""
    if not isinstance(name, str) or not name:
        raise SymdiffError(f"a variable needs a non-empty string name, got {name!r}")
    return Variable(name, as_shape(shape), as_dtype(dtype))


def scalar(name: str, dtype="float64") -> Variable:
    """A 0-d symbolic input."""
    return tensor(name, (), dtype)


def vector(name: str, n="n", dtype="float64") -> Variable:
    """A 1-d symbolic input of length ``n`` (an int or a dim name)."""
    return tensor(name, (n,), dtype)


def matrix(name: str, rows="m", cols="n", dtype="float64") -> Variable:
    """A 2-d symbolic input."""
    return tensor(name, (rows, cols), dtype)


def constant(value, dtype=None, name: str | None = None) -> Constant:
    """A constant node from a Python number, a nested list or a NumPy array.

    Non-numeric values and NaN raise ``ConstantError``. Integers become float64 unless ``dtype``
    says otherwise; booleans stay bool.
    """
    if isinstance(value, Node):
        raise ConstantError("constant() takes a number or an array, not a node")
    try:
        arr = np.array(value)
    except Exception as exc:  # ragged lists and the like
        raise ConstantError(f"cannot make a constant from {value!r}: {exc}") from None
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise ConstantError(f"constants must be real numbers or booleans, got {arr.dtype} from {value!r:.60}")
    if dtype is not None:
        dt = as_dtype(dtype)
        if dt.kind in "iu" and arr.dtype.kind == "f" and not np.all(np.isfinite(arr) & (arr == np.round(arr))):
            raise ConstantError(f"constant(..., dtype={dt}): the values are not all integers")
        arr = arr.astype(dt)
    elif arr.dtype.kind in "iu":
        arr = arr.astype(DEFAULT_FLOAT)
    elif arr.dtype.kind == "f" and arr.dtype not in (np.dtype("float32"), np.dtype("float64")):
        arr = arr.astype(DEFAULT_FLOAT)
    if arr.dtype.kind == "f" and np.isnan(arr).any():
        raise ConstantError("NaN in a constant: symdiff refuses NaN constants (they poison every gradient)")
    return Constant(arr, name=name)


def as_node(x) -> Node:
    """Nodes pass through; Python numbers become weakly-typed constants; arrays become constants."""
    if isinstance(x, Node):
        return x
    if isinstance(x, (bool, np.bool_)):
        return Constant(np.array(bool(x)), weak=True)
    if isinstance(x, (int, float)) and not isinstance(x, np.generic):
        c = constant(float(x))
        c.weak = True
        return c
    if isinstance(x, (np.ndarray, np.generic, list, tuple)):
        return constant(x)
    raise ConstantError(f"cannot use {type(x).__name__} {x!r:.60} in a symdiff graph")


# -- the seed's vocabulary --------------------------------------------------------------------
def get_operation(V: Node):
    """The operation that computes ``V`` (``None`` for variables and constants)."""
    return V.op


def get_inputs(V: Node, graph=None) -> list[Node]:
    """The nodes ``V`` is computed from (its parents)."""
    return list(V.inputs)


def toposort(outputs: Iterable[Node]) -> list[Node]:
    """All ancestors of ``outputs`` (themselves included), each once, inputs before consumers."""
    order: list[Node] = []
    seen: set[Node] = set()
    for root in outputs:
        if root in seen:
            continue
        seen.add(root)
        stack = [(root, iter(root.inputs))]
        while stack:
            node, it = stack[-1]
            for child in it:
                if child not in seen:
                    seen.add(child)
                    stack.append((child, iter(child.inputs)))
                    break
            else:
                stack.pop()
                order.append(node)
    return order


class Graph:
    """The subgraph reachable from ``outputs``: its nodes in topological order and their consumers."""

    def __init__(self, outputs: Iterable[Node]):
        self.outputs = list(outputs)
        self.nodes = toposort(self.outputs)
        self.consumers: dict[Node, list[Node]] = {n: [] for n in self.nodes}
        for n in self.nodes:
            for i in dict.fromkeys(n.inputs):  # a consumer is listed once even if it uses V twice
                self.consumers[i].append(n)

    def __contains__(self, node) -> bool:
        return node in self.consumers

    def variables(self) -> list[Variable]:
        return [n for n in self.nodes if isinstance(n, Variable)]


def get_consumers(V: Node, graph) -> list[Node]:
    """The nodes of ``graph`` (a ``Graph`` or a list of output nodes) that take ``V`` as input."""
    if not isinstance(graph, Graph):
        graph = Graph(graph if isinstance(graph, (list, tuple)) else [graph])
    return list(graph.consumers.get(V, ()))


def structural_key(node: Node, rep: dict | None = None):
    """A key shared by structurally identical nodes: the same op of the same inputs (seen through
    ``rep``, a map to representatives), or equal small constants. ``None`` for variables and large
    constants, which are never merged. Used by the simplifier, the printers and the compiler."""
    if isinstance(node, Constant):
        if node.value.size > 64:
            return None
        return ("const", node.dtype.str, node.shape, node.weak, node.value.tobytes())
    if node.op is None:
        return None
    inputs = node.inputs if rep is None else [rep[i] for i in node.inputs]
    ids = tuple(id(i) for i in inputs)
    if getattr(node.op, "commutative", False):  # exactly commutative in IEEE arithmetic: x*y is y*x
        ids = tuple(sorted(ids))
    return (node.op, ids)


def group_key(node: Node, rep: dict | None = None):
    """Nodes that one multi-output op computes together (a loop's results) share this key: the
    op's ``group()`` and the same inputs (seen through ``rep``, a map to representatives).
    ``None`` for other nodes. The VM, the code generator and ``build_grad`` group by it."""
    group = getattr(node.op, "group", None)
    if group is None:
        return None
    inputs = node.inputs if rep is None else [rep[i] for i in node.inputs]
    return (group(), tuple(map(id, inputs)))


def flatten_outputs(outputs, error: type = SymdiffError, what: str = "symdiff nodes") -> tuple[list[Node], bool]:
    """Accept one node or a list of nodes; return the list and whether a single node was given."""
    if isinstance(outputs, Node):
        return [outputs], True
    out = list(outputs)
    for o in out:
        if not isinstance(o, Node):
            raise error(f"expected {what}, got {type(o).__name__}")
    return out, False


from . import ops  # noqa: E402  (operators on Node build op nodes)
