"""Symbol-to-symbol reverse-mode differentiation: the ``build_grad`` algorithm of seed 004.

For a target ``z`` and variables ``T``:

1. ``G`` is the graph of ``z``'s ancestors; ``G'`` prunes it to the nodes that are ancestors of
   ``z`` *and* descendants of a node in ``T`` - only they carry gradient;
2. ``grad_table[z] = D`` (1 for a scalar target);
3. visiting ``G'`` in reverse topological order (every consumer before the nodes it consumes),
   each node ``V`` gets ``sum over C in get_consumers(V, G') of op.bprop(get_inputs(C), C, grad_table[C])``
   (the entry of that bprop for each position where ``V`` is an input of ``C``);
   (an op computing several outputs together, a loop, gives one ``joint_bprop`` for all of
   them: ``sum over its outputs O of <O, grad_table[O]>`` differentiated once);
4. the new gradient nodes join the same graph: they reference the forward nodes, so
   differentiating them again gives higher derivatives.

The seed writes step 3 as a recursion; visiting in reverse topological order is the same
computation without recursion, so graphs 100,000 nodes deep differentiate.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .errors import DisconnectedError, GradError
from .graph import Constant, Graph, Node, _creation_role, get_consumers, get_inputs, get_operation, group_key
from .types import BOOL, format_shape


def _pruned(target: Node, wrt: Sequence[Node]) -> tuple[Graph, Graph]:
    """``G`` (ancestors of target) and ``G'`` (those that are also descendants of ``wrt``)."""
    G = Graph([target])
    sources = set(wrt)
    between = set()
    for node in G.nodes:  # inputs first: a node is a descendant if one of its inputs is
        if node in sources or any(i in between for i in node.inputs):
            between.add(node)
    G_pruned = Graph.__new__(Graph)
    G_pruned.outputs = [target]
    G_pruned.nodes = [n for n in G.nodes if n in between]
    G_pruned.consumers = {n: [c for c in G.consumers[n] if c in between] for n in G_pruned.nodes}
    return G, G_pruned


def _as_seed(target: Node, seed) -> Node:
    if seed is None:
        if target.shape != ():
            raise GradError(
                f"grad of a non-scalar target of shape {format_shape(target.shape)} needs a seed D of "
                "that shape (a vector-Jacobian product); or reduce the target to a scalar first"
            )
        return Constant(np.array(1.0, dtype=target.dtype))
    from .graph import as_node

    seed = as_node(seed)
    if seed.shape != target.shape:
        raise GradError(
            f"the seed D has shape {format_shape(seed.shape)} but the target has shape {format_shape(target.shape)}"
        )
    if seed.dtype.kind != "f":
        raise GradError(f"the seed D must be a float tensor, got dtype {seed.dtype}")
    return seed


def _check_args(target, wrt):
    if not isinstance(target, Node):
        raise GradError(f"grad: the target must be a symdiff node, got {type(target).__name__}")
    if target.dtype == BOOL:
        raise GradError("grad: a boolean target (a comparison) has no gradient")
    if target.dtype.kind != "f":
        raise GradError(f"grad: an integer target (dtype {target.dtype}) has no gradient")
    for v in wrt:
        if not isinstance(v, Node):
            raise GradError(f"grad: wrt must be symdiff nodes, got {type(v).__name__} {v!r:.60}")
        if v.dtype.kind != "f":
            what = "boolean" if v.dtype == BOOL else "integer"
            raise GradError(
                f"grad: {v.name or repr(v)} is a {what} node (dtype {v.dtype}); no gradient flows to "
                "integer or boolean values (indices, masks, counts)"
            )


def build_grad(target: Node, wrt: Sequence[Node], seed=None, *, disconnected: str = "zeros") -> dict:
    """Add the gradient of ``target`` with respect to each node of ``wrt`` to the graph.

    Returns ``grad_table`` restricted to ``wrt``: a dict from each node of ``wrt`` to its gradient
    node. ``seed`` is the gradient ``D`` flowing into ``target`` (required unless the target is a
    scalar; with it the result is the vector-Jacobian product ``D^T J``). A node of ``wrt`` that the
    target does not depend on gets zeros of its shape, or ``DisconnectedError`` with
    ``disconnected="raise"``.
    """
    if disconnected not in ("zeros", "raise"):
        raise GradError(f"disconnected must be 'zeros' or 'raise', got {disconnected!r}")
    wrt = list(wrt)
    _check_args(target, wrt)
    D = _as_seed(target, seed)
    G, G_pruned = _pruned(target, wrt)

    grad_table: dict[Node, Node | None] = {target: D}
    bprops: dict[Node, list] = {}  # each consumer's op.bprop runs once, for all its inputs

    def contributions(C: Node) -> list:
        if C not in bprops:
            op = get_operation(C)
            if hasattr(op, "joint_bprop"):  # one of several outputs of one op (a loop's results)
                siblings = _siblings(C, G_pruned)
                joint = op.joint_bprop(get_inputs(C), siblings, [grad_table.get(S) for S in siblings])
                for S in siblings:  # the first one carries the joint gradient, once
                    bprops[S] = joint if S is siblings[0] else [None] * len(joint)
            else:
                bprops[C] = op.bprop(get_inputs(C), C, grad_table[C])
        return bprops[C]

    _creation_role.append("grad")
    try:
        for V in reversed(G_pruned.nodes):
            if V in grad_table:
                continue
            terms = []
            for C in get_consumers(V, G_pruned):
                if grad_table[C] is None:  # nothing flows back through C
                    continue
                for inp, g in zip(get_inputs(C), contributions(C)):
                    if inp is V and g is not None:
                        terms.append(_checked(g, V, C))
            grad_table[V] = _sum(terms)
            if grad_table[V] is not None and grad_table[V].grad_of is None and grad_table[V].role == "grad":
                grad_table[V].grad_of = V
    finally:
        _creation_role.pop()

    result = {}
    for v in wrt:
        g = grad_table.get(v)
        if g is None:
            if disconnected == "raise":
                raise DisconnectedError(
                    f"the target does not depend on {v.name or repr(v)} (disconnected='raise' was given)"
                )
            from .ops import zeros

            g = zeros(v.shape, v.dtype)
        elif g.dtype != v.dtype:
            from .ops import cast

            g = cast(g, v.dtype)
        result[v] = g
    return result


def _siblings(C: Node, G: Graph) -> list[Node]:
    """The nodes of ``G`` computed by one op together with ``C`` (``graph.group_key``). Their
    gradients are all known when the first of their inputs is visited."""
    key = group_key(C)
    src = next((i for i in C.inputs if i in G.consumers), None)
    consumers = G.consumers[src] if src is not None else [C]
    return [S for S in consumers if group_key(S) == key]


def _checked(g: Node, V: Node, C: Node) -> Node:
    if g.shape != V.shape:
        raise GradError(
            f"internal error: bprop of {C.op!r} gave a gradient of shape {format_shape(g.shape)} "
            f"for an input of shape {format_shape(V.shape)}"
        )
    return g


def _sum(terms: list) -> Node | None:
    if not terms:
        return None
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total


def grad(target: Node, wrt=None, seed=None, *, disconnected: str = "zeros", argnums=None, has_aux: bool = False):
    """Symbolic gradient of ``target`` with respect to ``wrt`` (a node or a list of nodes).

    With a callable, ``grad(fun, argnums=0)`` is JAX's form (see ``symdiff.transforms``).

    Returns gradient nodes in the same graph as ``target`` (a list if ``wrt`` is a list). For a
    non-scalar target pass ``seed`` (the vector of a vector-Jacobian product).
    """
    if callable(target) and not isinstance(target, Node):  # JAX's form: grad(fun, argnums)
        from .transforms import grad_fn

        return grad_fn(target, argnums if argnums is not None else (0 if wrt is None else wrt), has_aux)
    single = isinstance(wrt, Node)
    try:
        wrt_list = [wrt] if single else list(wrt)
    except TypeError:
        raise GradError(f"grad: wrt must be a node or a list of nodes, got {type(wrt).__name__} {wrt!r:.60}") from None
    table = build_grad(target, wrt_list, seed, disconnected=disconnected)
    grads = [table[v] for v in wrt_list]
    return grads[0] if single else grads
