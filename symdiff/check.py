"""Gradient checking by central finite differences (like Theano's verify_grad / torch's gradcheck)."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from .errors import InputError, SymdiffError
from .evaluate import evaluate
from .graph import Node, Variable


class GradCheckError(SymdiffError, AssertionError):
    """The symbolic gradient disagrees with finite differences."""


def _by_node(target: Node, inputs: Mapping) -> dict:
    from .graph import toposort

    names = {v.name: v for v in toposort([target]) if isinstance(v, Variable)}
    point = {}
    for k, v in inputs.items():
        node = names.get(k, k) if isinstance(k, str) else k
        point[node] = np.array(v, dtype=float)
    return point


def numeric_grad(target: Node, wrt: Sequence[Node], inputs: Mapping, eps: float = 1e-6) -> list[np.ndarray]:
    """Central-difference gradients of a scalar ``target`` with respect to each of ``wrt``."""
    point = _by_node(target, inputs)
    grads = []
    for v in wrt:
        if v not in point and v.name in inputs:
            point[v] = np.array(inputs[v.name], dtype=float)
        if v not in point:
            raise InputError(f"numeric_grad: no value given for {v.name!r}, a variable to differentiate with respect to")
        base = point[v]
        g = np.zeros(base.shape)
        flat = base.reshape(-1)
        for i in range(flat.size):
            old = flat[i]
            h = eps * max(1.0, abs(old))
            flat[i] = old + h
            up = float(evaluate(target, point))
            flat[i] = old - h
            down = float(evaluate(target, point))
            flat[i] = old
            g.reshape(-1)[i] = (up - down) / (2 * h)
        grads.append(g)
    return grads


def check_grad(
    target: Node,
    wrt: Sequence[Node] | Node,
    inputs: Mapping,
    *,
    eps: float | None = None,
    rtol: float = 1e-5,
    atol: float = 1e-6,
    rng: int | np.random.Generator = 0,
) -> float:
    """Check ``grad(target, wrt)`` against central finite differences at ``inputs``.

    A non-scalar target is reduced to ``sum(target * R)`` with a fixed random ``R``. Returns the
    largest absolute error; raises ``GradCheckError`` naming the variable and the worst entry when
    ``|symbolic - numeric| > atol + rtol * |numeric|`` anywhere.
    """
    from . import ops
    from .evaluate import bind_inputs
    from .graph import toposort
    from .grad import grad

    if not isinstance(target, Node):
        raise InputError(f"check_grad: the target must be a symdiff node, got {type(target).__name__}")
    wrt = [wrt] if isinstance(wrt, Node) else list(wrt)
    if not isinstance(inputs, Mapping):
        raise InputError(f"check_grad: inputs must be a dict {{variable or name: value}}, got {type(inputs).__name__}")
    needed = [v for v in toposort([target]) if isinstance(v, Variable)]
    for v in wrt:
        if not isinstance(v, Variable):
            raise InputError(f"check_grad: wrt must be variables, got {v!r:.60}")
        if v not in needed:
            needed.append(v)  # finite differences move it even if the target does not use it
    bind_inputs(needed, inputs)  # every value present, of the right shape: InputError / ShapeError if not
    if target.shape != ():
        rng = np.random.default_rng(rng)
        shape = tuple(np.shape(evaluate(target, inputs)))
        target = ops.sum(target * rng.standard_normal(shape))
    if eps is None:
        eps = 1e-6 if target.dtype == np.float64 else 1e-3
    symbolic = evaluate(grad(target, wrt), inputs)
    numeric = numeric_grad(target, wrt, inputs, eps)
    worst = 0.0
    for v, s, n in zip(wrt, symbolic, numeric):
        s = np.asarray(s, dtype=float)
        err = np.abs(s - n)
        worst = max(worst, float(err.max(initial=0.0)))
        bad = err > atol + rtol * np.abs(n)
        if bad.any():
            i = np.unravel_index(np.argmax(err - rtol * np.abs(n)), err.shape) if err.ndim else ()
            raise GradCheckError(
                f"gradient wrt {v.name or v!r} disagrees with finite differences at index {i}: "
                f"symbolic {s[i]!r}, numeric {n[i]!r} (max abs error {err.max():.3g})"
            )
    return worst
