"""The ``Op`` base class: one place per operation for its shape rule, evaluation and gradient.

An op subclass declares, side by side:

* ``infer(*inputs) -> (shape, dtype)`` - the static shape rule (raises ``ShapeError``);
* ``perform(values, node, dims) -> ndarray`` - NumPy evaluation (``dims`` binds named dims);
* ``bprop(inputs, output, D) -> list`` - the seed's ``op.bprop``: given ``D``, the gradient of the
  target with respect to ``output``, return one symbolic gradient per input (``None`` where an
  input is not differentiable). Gradient nodes reuse ``output`` and ``inputs``; they never
  recompute the forward pass;
* a Numba lowering (``code`` templates for elementwise ops, ``lower`` for the rest) used by
  ``symdiff.compiler``;
* ``batch(node, args, flags, B) -> Node`` - the batching rule used by ``vmap`` (helpers in
  ``symdiff.batching``);
* ``pattern(node, pats, shapes, dims)`` - the sparsity-pattern rule used by sparse Jacobians and
  Hessians (helpers in ``symdiff.patterns``).

Families (``Elemwise``, ``Reduce``) write the rules once for all their members; an op overrides
only what differs. ``tests/test_op_rules.py`` walks every op class and fails when one is missing.

Ops are immutable values: two instances with the same class and parameters are equal, which is
what lets the compiler merge common subexpressions.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..graph import Constant, Node, as_node
from ..types import Shape, result_dtype

# Constants up to this size are folded when every input of an op is constant.
FOLD_LIMIT = 4096


def _weak(x: Node) -> bool:
    return isinstance(x, Constant) and x.weak


def _integral(x: Constant) -> bool:
    v = x.value
    return v.dtype.kind in "iu" or (v.dtype.kind == "f" and bool(np.all(np.isfinite(v) & (v == np.round(v)))))


def integer_result(inputs) -> np.dtype | None:
    """The integer dtype of an integer-closed op on ``inputs`` (``i * 2``, ``(2 * i - 1) % n``):
    some strong input is an integer, every strong input is one and every weak constant (a Python
    number) is integral; else ``None`` (the op computes in floating point)."""
    strong = [x.dtype for x in inputs if not _weak(x)]
    if not strong or any(d.kind not in "iu" for d in strong):
        return None
    if not all(_integral(x) for x in inputs if _weak(x)):
        return None
    return np.result_type(*strong)


def _as_int_constant(x: Constant) -> Constant:
    c = Constant(x.value.astype(np.int64))
    c.weak = True
    return c


class Op:
    """Base class of all operations. Subclasses set ``name`` and override the rules."""

    name = "op"
    fold_constants = True
    # ops that do arithmetic see booleans (comparison results) and integers as floats (0.0 / 1.0,
    # 3.0): symdiff computes in float64/float32; ``accepts_bool`` ops take them as they are
    accepts_bool = False
    int_closed = False  # integer inputs give an integer result (add, mul, mod, ...: index arithmetic)

    def __init__(self, **params):
        for k, v in params.items():
            setattr(self, k, v)
        self._params = tuple(sorted(params.items()))

    # -- identity -----------------------------------------------------------------------------
    def __eq__(self, other):
        return type(self) is type(other) and self._params == other._params

    def __hash__(self):
        return hash((type(self), self._params))

    def __repr__(self):
        if not self._params:
            return self.name
        args = ", ".join(f"{k}={v!r}" for k, v in self._params)
        return f"{self.name}{{{args}}}"

    @property
    def params(self) -> dict:
        return dict(self._params)

    # -- building nodes -----------------------------------------------------------------------
    def __call__(self, *inputs) -> Node:
        inputs = [as_node(x) for x in inputs]
        if not self.accepts_bool and any(x.dtype.kind in "biu" for x in inputs):
            if self.int_closed and integer_result(inputs) is not None:
                inputs = [_as_int_constant(x) if _weak(x) else x for x in inputs]  # i + 1 stays an int
            else:
                inputs = self._bools_as_floats(inputs)
        shape, dtype = self.infer(*inputs)
        if self.fold_constants and inputs and all(isinstance(x, Constant) for x in inputs):
            if all(isinstance(d, int) for d in shape) and int(np.prod(shape)) <= FOLD_LIMIT:
                with np.errstate(all="ignore"):
                    value = np.asarray(self.perform([x.value for x in inputs], None, {}), dtype=dtype)
                if not (value.dtype.kind == "f" and np.isnan(value).any()):
                    const = Constant(value.copy())
                    const.weak = all(x.weak for x in inputs)
                    return const
        return Node(self, inputs, shape, dtype)

    def _bools_as_floats(self, inputs):
        from .elementwise import cast

        strong = [x.dtype for x in inputs if x.dtype.kind == "f" and not (isinstance(x, Constant) and x.weak)]
        target = result_dtype(*strong)
        out = []
        for x in inputs:
            if x.dtype.kind in "biu":
                y = cast(x, target)
                if isinstance(x, Constant) and isinstance(y, Constant):
                    y.weak = True  # arange(3) * 0.5 adapts to the floats it meets, as in JAX
                x = y
            out.append(x)
        return out

    # -- rules, overridden by subclasses ------------------------------------------------------
    def infer(self, *inputs: Node) -> tuple[Shape, np.dtype]:
        raise NotImplementedError

    def perform(self, values: Sequence[np.ndarray], node: Node | None, dims: dict) -> np.ndarray:
        raise NotImplementedError

    def bprop(self, inputs: Sequence[Node], output: Node, D: Node) -> list[Node | None]:
        raise NotImplementedError(f"{self.name} has no gradient")

    def batch(self, node: Node, args: Sequence[Node], flags: Sequence[bool], B) -> Node:
        """``node`` computed for a batch: ``args[i]`` carries a leading batch axis of size ``B``
        where ``flags[i]``; returns a node of shape ``(B, *node.shape)``."""
        from ..batching import BatchingError

        raise BatchingError(f"vmap: no batching rule for the op {self!r} ({type(self).__name__})")

    def pattern(self, node: Node, pats: list, shapes: list, dims: dict):
        """The sparsity pattern of ``node`` from its inputs' patterns (see ``symdiff.patterns``)."""
        from ..patterns import PatternError

        raise PatternError(f"no sparsity pattern rule for the op {self!r} ({type(self).__name__})")

    def make(self, *inputs: Node) -> Node:
        """This op applied to new inputs through its public constructor, which may simplify
        (``x * 1 -> x``); used when graphs are rebuilt (``clone``, ``simplify``, ``vmap``)."""
        return self(*inputs)
