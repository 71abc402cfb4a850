"""JAX's ``lax`` loop names, so ``import symdiff as jax`` ports ``jax.lax.scan`` code unchanged.

``scan``, ``fori_loop`` and ``while_loop`` build loop nodes (see ``symdiff.ops.loops``): the step
function is traced once, and the loop is one node of the graph whatever its trip count.
"""
from .ops.loops import LoopError, fori_loop, scan, while_loop

__all__ = ["scan", "fori_loop", "while_loop", "LoopError"]
