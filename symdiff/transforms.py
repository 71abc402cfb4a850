"""JAX's function-transformation forms on top of symdiff's graph API.

``sd.grad(f)`` (with a callable) returns a function that builds ``f``'s graph for its arguments and
returns the symbolic gradient, as ``jax.grad`` does; ``sd.hessian(f)``, ``sd.jacobian(f)``
(``jacfwd``/``jacrev``) and ``sd.value_and_grad(f)`` likewise. ``sd.jit`` is the identity (a
symdiff graph is compiled with ``sd.function``), ``sd.config.update`` accepts JAX's flags
(float64 is symdiff's default) and ``sd.Array`` is the node type, so files written for ``jax``
run with ``import symdiff as jax``.
"""
from __future__ import annotations

from typing import Callable, Sequence

from .errors import GradError
from .graph import Node, as_node

__all__ = ["grad_fn", "value_and_grad", "hessian_fn", "jacobian_fn", "jit", "config", "Array"]

Array = Node


def _argnums(argnums) -> tuple[tuple[int, ...], bool]:
    if isinstance(argnums, int):
        return (argnums,), True
    return tuple(argnums), False


def _wrt(args: Sequence, argnums, name: str) -> tuple[list, list[Node], bool]:
    nums, single = _argnums(argnums)
    args = list(args)
    for k in nums:
        if k >= len(args):
            raise GradError(f"{name}: argnums {k} but the function got {len(args)} arguments")
        if not isinstance(args[k], Node):
            raise GradError(f"{name}: argument {k} must be a symdiff node (a variable) to differentiate "
                            f"with respect to it, got {type(args[k]).__name__}")
    return args, [args[k] for k in nums], single


def _scalar(out, name: str) -> Node:
    out = as_node(out)
    if out.shape != ():
        raise GradError(f"{name}: the function must return a scalar, got shape {out.shape}")
    return out


def grad_fn(fun: Callable, argnums=0, has_aux: bool = False) -> Callable:
    """``jax.grad``: a function returning the gradient nodes of scalar ``fun`` at its arguments."""
    from .grad import grad

    def g(*args):
        args, wrt, single = _wrt(args, argnums, "grad")
        out = fun(*args)
        value, aux = (out if has_aux else (out, None))
        grads = grad(_scalar(value, "grad"), wrt)
        res = grads[0] if single else tuple(grads)
        return (res, aux) if has_aux else res

    return g


def value_and_grad(fun: Callable, argnums=0, has_aux: bool = False) -> Callable:
    """``jax.value_and_grad``: ``(value, gradient)`` nodes."""
    from .grad import grad

    def vg(*args):
        args, wrt, single = _wrt(args, argnums, "value_and_grad")
        out = fun(*args)
        value, aux = (out if has_aux else (out, None))
        value = _scalar(value, "value_and_grad")
        grads = grad(value, wrt)
        res = grads[0] if single else tuple(grads)
        return ((value, aux), res) if has_aux else (value, res)

    return vg


def hessian_fn(fun: Callable, argnums=0) -> Callable:
    """``jax.hessian``: a function returning the Hessian node(s) of scalar ``fun``."""
    from .jacobian import hessian

    def h(*args):
        args, wrt, single = _wrt(args, argnums, "hessian")
        H = hessian(_scalar(fun(*args), "hessian"), wrt[0] if single else wrt)
        return H

    return h


def jacobian_fn(fun: Callable, argnums=0) -> Callable:
    """``jax.jacfwd`` / ``jax.jacrev``: a function returning the Jacobian node(s) of ``fun``."""
    from .jacobian import jacobian

    def j(*args):
        args, wrt, single = _wrt(args, argnums, "jacobian")
        return jacobian(as_node(fun(*args)), wrt[0] if single else wrt)

    return j


def jit(fun: Callable | None = None, **kwargs):
    """``jax.jit`` is the identity: symdiff builds graphs symbolically and compiles them with
    ``sd.function`` (usable as ``@jit`` and ``@jit(static_argnums=...)``)."""
    if fun is None:
        return lambda f: f
    return fun


class _Config:
    """``jax.config``: ``update(name, value)`` accepts JAX's flags; symdiff computes in float64
    unless a graph's inputs are float32, so ``jax_enable_x64`` needs nothing."""

    def update(self, name: str, value) -> None:
        setattr(self, name, value)

    def read(self, name: str):
        return getattr(self, name, None)


config = _Config()
