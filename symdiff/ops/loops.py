"""Loops as graph ops: ``scan``, ``fori_loop`` and ``while_loop`` (JAX's ``lax`` semantics).

A loop is ONE node of the outer graph, whatever its trip count. Its step function is traced once
into a closed graph, the **body**: placeholders for the carry, for one slice of each scanned
array, for the loop-invariant values the step reads from the enclosing graph (its *params*), and
for the step index. A scan computes, for ``t = 0 .. T-1`` (or backwards with ``reverse``)::

    carry, y[t] = body(carry, xs[t], params, index = start + t)

The loop's results are separate nodes, one per output, all computed together by one loop:

* ``final k``   - the carry after the last step;
* ``ys j``      - the per-step outputs, stacked: shape ``(T, *y.shape)``;
* ``history k`` - the carry *before* each step, stacked: what the gradient reads;
* ``after k``   - the carry *after* each step, stacked: read by gradients that need a step's
  result rather than its input (``tanh``'s derivative is ``1 - tanh^2``).

Gradient (``bprop``): a scan differentiates into another scan node, in the same graph, running
the other way in time. Its carry is the cotangent of the carry plus one accumulator per param;
each step is the body's vector-Jacobian product, built symbolically by ``build_grad`` on the
body graph, at the stored carry ``history[t]``. Memory policy: the forward carries are stored
(``T`` copies of the carry); ``checkpoint=k`` trades memory for time by nesting scans (an outer
scan over ``T / k`` segments stores only the carries at segment starts, and the gradient of the
inner scan recomputes the ``k`` carries of a segment). Because the reverse loop is a scan too,
its gradient works the same way: Hessian-vector products through a loop come out of ``grad``
applied twice.

Lowering: a real loop in the kernel; the body becomes a Numba function of its own (generated from
the body graph like any kernel, defined once in the module) called once per step. The trip count
is a kernel argument, so the generated source does not depend on it.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..errors import GradError, ShapeError, SymdiffError
from ..graph import Constant, Node, Variable, as_node, toposort
from ..types import concrete_shape, format_shape
from .base import Op


class LoopError(SymdiffError):
    """A step function that does not fit its loop (carry shapes or dtypes that change, ...)."""


# ---------------------------------------------------------------------------------------------
# Pytrees: nested tuples / lists / dicts of nodes (the carry and xs structures, as in JAX)
# ---------------------------------------------------------------------------------------------
def tree_leaves(tree) -> tuple[list, Callable]:
    """The leaves of nested tuples/lists/dicts (``None`` is an empty subtree) and a function that
    rebuilds the structure from new leaves."""
    from ..vmap import _leaves

    if tree is None:
        return [], lambda new: None
    leaves, rebuild = _leaves(tree)
    holes = [k for k, leaf in enumerate(leaves) if leaf is None]
    if not holes:
        return leaves, rebuild
    keep = [k for k in range(len(leaves)) if k not in holes]

    def rebuild_with_holes(new):
        full = [None] * len(leaves)
        for k, v in zip(keep, new):
            full[k] = v
        return rebuild(full)

    return [leaves[k] for k in keep], rebuild_with_holes


def _structure(tree) -> str:
    """A printable description of a tree's structure (for error messages)."""
    if isinstance(tree, (tuple, list)):
        inner = ", ".join(_structure(t) for t in tree)
        return f"({inner},)" if isinstance(tree, tuple) and len(tree) == 1 else (
            f"({inner})" if isinstance(tree, tuple) else f"[{inner}]")
    if isinstance(tree, dict):
        return "{" + ", ".join(f"{k!r}: {_structure(v)}" for k, v in tree.items()) + "}"
    return "*" if tree is not None else "None"


# ---------------------------------------------------------------------------------------------
# The body: a step function as a closed graph
# ---------------------------------------------------------------------------------------------
class Body:
    """A traced step: placeholders ``carries``, ``slices``, ``params`` (and ``index``, the step
    number as an int64 scalar, or ``None``) and ``outputs`` (the new carries, then the per-step
    outputs). ``param_values`` are the outer nodes the params stand for. Bodies are compared by
    identity: one trace is one body."""

    def __init__(self, carries, slices, params, index, outputs, n_carry: int, param_values, kind: str = "step"):
        self.carries = list(carries)
        self.slices = list(slices)
        self.params = list(params)
        self.index = index
        self.outputs = list(outputs)
        self.n_carry = n_carry
        self.param_values = list(param_values)
        self.kind = kind
        self._schedule = None
        self._batched: dict = {}

    @property
    def inputs(self) -> list[Variable]:
        return self.carries + self.slices + self.params + ([self.index] if self.index is not None else [])

    @property
    def ys(self) -> list[Node]:
        return self.outputs[self.n_carry:]

    def schedule(self):
        """The NumPy evaluation plan of the body (built once)."""
        if self._schedule is None:
            from ..evaluate import Schedule

            self._schedule = Schedule(self.outputs)
        return self._schedule

    def __repr__(self) -> str:
        return (f"<{self.kind} body: {len(self.carries)} carries, {len(self.slices)} slices, "
                f"{len(self.params)} params, {len(self.ys)} outputs>")


def _placeholder(prefix: str, k: int, shape, dtype) -> Variable:
    return Variable(f"{prefix}{k}", tuple(shape), np.dtype(dtype))


def close_body(carries, slices, index, outputs, n_carry: int, kind: str = "step",
               params=(), param_values=()) -> Body:
    """Make a body closed: every node of the enclosing graph the outputs read (a variable, an op
    node that does not depend on the placeholders, an array constant) becomes a param placeholder,
    appended to ``params`` (placeholders already made, standing for ``param_values``), and the
    outputs are rebuilt on the placeholders. Scalar constants stay inside as literals."""
    from ..rewrite import clone

    params, param_values = list(params), list(param_values)
    own = set(carries) | set(slices) | set(params) | ({index} if index is not None else set())
    inner: set[Node] = set()
    free: list[Node] = []
    seen_free: set[Node] = set()
    order = toposort(outputs)
    for n in order:
        if n in own or any(i in inner for i in n.inputs):
            inner.add(n)
    outs = set(outputs)
    for n in order:
        reads = n.inputs if n in inner else ((n,) if n in outs else ())
        for i in reads:
            if i not in inner and i not in seen_free and _is_param(i):
                seen_free.add(i)
                free.append(i)
    found = [_placeholder("p", len(params) + k, v.shape, v.dtype) for k, v in enumerate(free)]
    new_outputs = clone(list(outputs), dict(zip(free, found))) if free else list(outputs)
    return Body(carries, slices, params + found, index, new_outputs, n_carry, param_values + free, kind)


def _is_param(n: Node) -> bool:
    return not (isinstance(n, Constant) and n.ndim == 0)


# ---------------------------------------------------------------------------------------------
# The op
# ---------------------------------------------------------------------------------------------
class Loop:
    """What a scan node computes: its body, trip count, direction and index offset."""

    def __init__(self, body: Body, length: int, reverse: bool = False, start: int = 0):
        self.body, self.length, self.reverse, self.start = body, int(length), bool(reverse), int(start)

    @property
    def n_carry(self) -> int:
        return self.body.n_carry

    @property
    def n_xs(self) -> int:
        return len(self.body.slices)

    @property
    def n_y(self) -> int:
        return len(self.body.ys)

    def kind_of(self, k: int) -> tuple[str, int]:
        """Output ``k`` as ('final', j), ('ys', j), ('history', j) or ('after', j)."""
        if k < self.n_carry:
            return "final", k
        if k < self.n_carry + self.n_y:
            return "ys", k - self.n_carry
        if k < 2 * self.n_carry + self.n_y:
            return "history", k - self.n_carry - self.n_y
        return "after", k - 2 * self.n_carry - self.n_y

    def index_of(self, kind: str, j: int) -> int:
        return {"final": 0, "ys": self.n_carry, "history": self.n_carry + self.n_y,
                "after": 2 * self.n_carry + self.n_y}[kind] + j

    def __repr__(self) -> str:
        return f"loop(T={self.length}{', reverse' if self.reverse else ''})"


class _LoopOutput(Op):
    """Output ``k`` of a loop: the outputs of one loop with the same inputs form a group
    (``group()``) that the VM, the code generator and ``build_grad`` compute together."""

    accepts_bool = True
    fold_constants = False
    contiguous_output = True  # the code generator writes every result into a fresh C array
    hidden_params = ("loop",)

    def __init__(self, loop, k: int):
        super().__init__(loop=loop, k=k)

    def group(self):
        return self.loop

    def defines(self, ctx, node) -> list[str]:
        """The generated names this node's code assigns (the first output of a group computes all)."""
        sibs = ctx.siblings(node)
        return [ctx.names[s] for s in sibs] if node is sibs[0] else []

    def lower(self, ctx, node, args, out):
        sibs = ctx.siblings(node)
        if node is not sibs[0]:
            return [f"pass  # {out}: computed by the loop of {ctx.names[sibs[0]]}"]
        return self.lower_group(ctx, node, sibs, args, out)


class ScanOutput(_LoopOutput):
    """Output ``k`` of a scan (see the module docstring). Inputs: the trip count (an int64
    constant of shape (1,)), the initial carries, the scanned arrays, the params."""

    name = "scan"

    def infer(self, *inputs):
        loop = self.loop
        kind, j = loop.kind_of(self.k)
        if kind == "final":
            c = loop.body.carries[j]
            return c.shape, c.dtype
        if kind == "ys":
            y = loop.body.ys[j]
            return (loop.length, *y.shape), y.dtype
        c = loop.body.carries[j]  # the carry history, before or after each step
        return (loop.length, *c.shape), c.dtype

    def perform(self, values, node, dims):
        return run_loop(self.loop, values, [self.k], dims)[0]

    def perform_group(self, values, nodes, dims) -> list:
        return run_loop(self.loop, values, [n.op.k for n in nodes], dims)

    def bprop(self, inputs, output, D):
        raise GradError("internal error: scan outputs are differentiated together (joint_bprop)")

    def joint_bprop(self, inputs, outputs, Ds) -> list:
        return scan_vjp(self.loop, list(inputs), {o.op.k: d for o, d in zip(outputs, Ds) if d is not None})

    def lower_group(self, ctx, node, sibs, args, out):
        return lower_scan(ctx, node, sibs, args, out)

    def batch(self, node, args, flags, B):
        return batch_scan(node, args, flags, B)

    def pattern(self, node, pats, shapes, dims):
        return scan_pattern(node, pats, shapes, dims)

    def subgraphs(self) -> list[tuple[str, Body]]:
        return [("scan body" if self.loop.body.kind == "step" else "scan body (gradient)", self.loop.body)]

    def source_label(self, node) -> str:
        """The comment in generated code: no step count and no body name, so the source (the
        disk cache's key) is the same for every trip count and in every process."""
        kind, j = self.loop.kind_of(self.k)
        what = {"final": "carry", "ys": "ys", "history": "carry history", "after": "carry after"}[kind]
        return f"scan[{what} {j}]{' reverse' if self.loop.reverse else ''}"

    def label(self, node) -> str:
        from ..printing import body_name

        loop = self.loop
        kind, j = loop.kind_of(self.k)
        what = {"final": "carry", "ys": "ys", "history": "carry history", "after": "carry after"}[kind]
        extra = ", reverse" if loop.reverse else ""
        return f"scan[{what} {j}]{{T={loop.length}{extra}, body={body_name(loop.body)}}}"


def scan_nodes(loop: Loop, inputs: list[Node], ks) -> list[Node]:
    """The output nodes ``ks`` of ``loop`` applied to ``inputs``."""
    return [ScanOutput(loop, k)(*inputs) for k in ks]


# ---------------------------------------------------------------------------------------------
# NumPy evaluation
# ---------------------------------------------------------------------------------------------
def run_loop(loop: Loop, values: list, ks: list[int], dims: dict) -> list[np.ndarray]:
    """Run ``loop`` on input values; return outputs ``ks``."""
    body = loop.body
    carry, xs, params = _split(values, loop)
    T = loop.length
    for x, s in zip(xs, body.slices):
        if np.shape(x)[:1] != (T,):
            raise ShapeError(f"scan: a scanned array has shape {np.shape(x)}; expected {T} steps along axis 0")
    want = [loop.kind_of(k) for k in ks]
    ys_wanted = sorted({j for kind, j in want if kind == "ys"})
    hist_wanted = sorted({j for kind, j in want if kind == "history"})
    after_wanted = sorted({j for kind, j in want if kind == "after"})
    ys = {j: np.empty((T, *concrete_shape(body.ys[j].shape, dims)), body.ys[j].dtype) for j in ys_wanted}
    hist = {j: np.empty((T, *np.shape(carry[j])), body.carries[j].dtype) for j in hist_wanted}
    after = {j: np.empty((T, *np.shape(carry[j])), body.carries[j].dtype) for j in after_wanted}
    schedule = body.schedule()
    bind = dict(zip(body.params, params))
    steps = range(T - 1, -1, -1) if loop.reverse else range(T)
    for t in steps:
        for j in hist_wanted:
            hist[j][t] = carry[j]
        bind.update(zip(body.carries, carry))
        bind.update((s, x[t]) for s, x in zip(body.slices, xs))
        if body.index is not None:
            bind[body.index] = np.asarray(loop.start + t, dtype=np.int64)
        outs = schedule.run(bind, dims)
        carry = [np.asarray(o, dtype=c.dtype) for o, c in zip(outs[:loop.n_carry], body.carries)]
        for j in ys_wanted:
            ys[j][t] = outs[loop.n_carry + j]
        for j in after_wanted:
            after[j][t] = carry[j]
    stored = {"final": carry, "ys": ys, "history": hist, "after": after}
    return [stored[kind][j] for kind, j in want]


# ---------------------------------------------------------------------------------------------
# The gradient: a scan backwards in time
# ---------------------------------------------------------------------------------------------
def _differentiable(n: Node) -> bool:
    return n.dtype.kind == "f"


def _vdot(a: Node, b: Node) -> Node:
    from .reduction import sum_

    p = a * b
    return p if p.ndim == 0 else sum_(p)


def scan_vjp(loop: Loop, inputs: list[Node], seeds: dict[int, Node]) -> list[Node | None]:
    """Gradients of ``sum_k <output_k, seeds[k]>`` with respect to each input of the scan,
    computed by a reverse scan node (see the module docstring)."""
    from ..grad import build_grad
    from .elementwise import zeros

    body = loop.body
    nc, ny = loop.n_carry, loop.n_y
    init, xs, params = _split(inputs, loop)
    steps = inputs[0]
    dc = [j for j in range(nc) if _differentiable(body.carries[j])]
    dx = [i for i in range(loop.n_xs) if _differentiable(body.slices[i])]
    dp = [m for m in range(len(body.params)) if _differentiable(body.params[m])]
    seeds_y = {j: seeds[nc + j] for j in range(ny) if nc + j in seeds}
    seeds_h = {j: seeds[nc + ny + j] for j in range(nc) if nc + ny + j in seeds and j in dc}
    seeds_a = {j: seeds[loop.index_of("after", j)] for j in dc if loop.index_of("after", j) in seeds}
    seeds_c = {j: seeds[j] for j in range(nc) if j in seeds and j in dc}
    if not (seeds_y or seeds_h or seeds_c or seeds_a) or not (dc or dx or dp):
        return [None] * len(inputs)
    # the reverse body's placeholders
    g_carry = [_placeholder("gc", j, body.carries[j].shape, body.carries[j].dtype) for j in dc]
    g_param = [_placeholder("gp", m, body.params[m].shape, body.params[m].dtype) for m in dp]
    g_y = {j: _placeholder("gy", j, body.ys[j].shape, body.ys[j].dtype) for j in seeds_y}
    g_h = {j: _placeholder("gh", j, body.carries[j].shape, body.carries[j].dtype) for j in seeds_h}
    g_a = {j: _placeholder("ga", j, body.carries[j].shape, body.carries[j].dtype) for j in seeds_a}
    # one step's vector-Jacobian product, at the stored carry (the forward body's own placeholders)
    # the step's new carry gets the cotangent of the next step's carry and, where the stored
    # 'after' history is itself differentiated (a gradient of a gradient), that history's
    terms = [_vdot(body.outputs[j], g + g_a[j] if j in g_a else g) for j, g in zip(dc, g_carry)]
    terms += [_vdot(body.ys[j], g) for j, g in g_y.items() if _differentiable(body.ys[j])]
    target = terms[0]
    for t in terms[1:]:
        target = target + t
    wrt = [body.carries[j] for j in dc] + [body.slices[i] for i in dx] + [body.params[m] for m in dp]
    table = build_grad(target, wrt)
    new_carry = []
    for j in dc:
        g = table[body.carries[j]]
        new_carry.append(g + g_h[j] if j in g_h else g)
    new_carry += [gp + table[body.params[m]] for gp, m in zip(g_param, dp)]
    new_ys = [table[body.slices[i]] for i in dx]
    # a derivative written with the step's result (tanh' = 1 - tanh^2) reads the stored result
    # instead of recomputing it: the step's new carries become slices of the 'after' history
    results = {j: body.outputs[j] for j in range(nc) if body.outputs[j].op is not None}
    nexts = {j: _placeholder("cn", j, body.carries[j].shape, body.carries[j].dtype) for j in results}
    if nexts:
        from ..rewrite import clone

        exprs = clone(new_carry + new_ys, {results[j]: nexts[j] for j in nexts})
        used = set(toposort(exprs))
        if any(nexts[j] in used for j in nexts):
            new_carry, new_ys = exprs[:len(new_carry)], exprs[len(new_carry):]
        else:
            used = set(toposort(new_carry + new_ys))
    else:
        used = set(toposort(new_carry + new_ys))
    before = [j for j in range(nc) if body.carries[j] in used]
    after = [j for j in nexts if nexts[j] in used]
    slices = ([body.carries[j] for j in before] + [nexts[j] for j in after] + list(body.slices)
              + list(g_y.values()) + list(g_h.values()) + list(g_a.values()))
    carries = g_carry + g_param
    rbody = close_body(carries, slices, body.index, new_carry + new_ys, len(carries), "gradient",
                       body.params, params)
    rloop = Loop(rbody, loop.length, not loop.reverse, loop.start)
    history = scan_nodes(loop, inputs, [loop.index_of("history", j) for j in before]
                         + [loop.index_of("after", j) for j in after])
    r_init = [seeds_c[j] if j in seeds_c else zeros(body.carries[j].shape, body.carries[j].dtype) for j in dc]
    r_init += [zeros(body.params[m].shape, body.params[m].dtype) for m in dp]
    r_xs = history + xs + list(seeds_y.values()) + list(seeds_h.values()) + list(seeds_a.values())
    r_params = rbody.param_values
    r_inputs = [steps] + r_init + r_xs + r_params
    n_out = len(carries) + len(dx)
    outs = scan_nodes(rloop, r_inputs, range(n_out))
    grads: list[Node | None] = [None] * len(inputs)
    for pos, j in enumerate(dc):
        grads[1 + j] = outs[pos]
    for pos, m in enumerate(dp):
        grads[1 + nc + loop.n_xs + m] = outs[len(dc) + pos]
    for pos, i in enumerate(dx):
        grads[1 + nc + i] = outs[len(carries) + pos]
    return grads


# ---------------------------------------------------------------------------------------------
# Numba lowering
# ---------------------------------------------------------------------------------------------
def lower_scan(ctx, node, sibs, args, out) -> list[str]:
    """A loop in the kernel calling the body's own generated function once per step."""
    loop: Loop = node.op.loop
    body = loop.body
    nc = loop.n_carry
    kinds = [loop.kind_of(s.op.k) for s in sibs]
    ys_wanted = sorted({j for kind, j in kinds if kind == "ys"})
    hist_wanted = sorted({j for kind, j in kinds if kind == "history"})
    after_wanted = sorted({j for kind, j in kinds if kind == "after"})
    fn, dim_args = ctx.subfunction(body.inputs, body.outputs[:nc] + [body.ys[j] for j in ys_wanted])
    steps, carry_in, xs_in, par_in = args[0], *_split(args, loop)
    n = f"{out}_n"
    lines = [f"{n} = {steps}[0]  # the step count{' (the steps run backwards)' if loop.reverse else ''}"]
    c_nodes, x_nodes, p_nodes = _split([ctx.rep[i] for i in node.inputs], loop)
    carry = _bind_values(ctx, lines, f"{out}_c", carry_in, c_nodes, always=True)
    xs = _bind_values(ctx, lines, f"{out}_x", xs_in, x_nodes, always=True)
    pars = _bind_values(ctx, lines, f"{out}_p", par_in, p_nodes)
    ys = {j: f"{out}_y{j}" for j in ys_wanted}
    hist = {j: f"{out}_h{j}" for j in hist_wanted}
    after = {j: f"{out}_a{j}" for j in after_wanted}
    for j, name in ys.items():
        y = body.ys[j]
        lines.append(f"{name} = _empty({_stacked_shape(ctx, n, y.shape)}, np.{y.dtype.name})")
    for j, name in list(hist.items()) + list(after.items()):
        c = body.carries[j]
        lines.append(f"{name} = _empty({_stacked_shape(ctx, n, c.shape)}, np.{c.dtype.name})")
    rng = f"range({n} - 1, -1, -1)" if loop.reverse else f"range({n})"
    lines.append(f"for {out}_t in {rng}:")
    step = [line for j, name in hist.items() for line in _store(ctx, name, f"{out}_t", carry[j], body.carries[j].shape)]
    call_args = carry + [f"{x}[{out}_t]" for x in xs] + pars
    if body.index is not None:
        call_args.append(f"np.int64({loop.start} + {out}_t)")
    call_args += dim_args
    results = [f"{out}_r{k}" for k in range(nc + len(ys_wanted))]
    step.append(f"{', '.join(results)}{',' if len(results) == 1 else ''} = {fn}({', '.join(call_args)})")
    step += _carry_updates(carry, results, body)
    for pos, j in enumerate(ys_wanted):
        step += _store(ctx, ys[j], f"{out}_t", results[nc + pos], body.ys[j].shape)
    for j, name in after.items():
        step += _store(ctx, name, f"{out}_t", carry[j], body.carries[j].shape)
    lines += ["    " + s for s in step]
    stored = {"final": dict(enumerate(carry)), "ys": ys, "history": hist, "after": after}
    for s, (kind, j) in zip(sibs, kinds):
        lines.append(f"{ctx.names[s]} = {stored[kind][j]}")
    return lines


def _store(ctx, stacked: str, t: str, value: str, shape) -> list[str]:
    """``stacked[t] = value`` as an explicit loop nest: Numba compiles a slice assignment of an
    array in seconds (its generic setitem), a loop of scalar stores in milliseconds."""
    if not shape:
        return [f"{stacked}[{t}] = {value}"]
    idx = [f"{stacked}_i{k}" for k in range(len(shape))]
    lines = [f"{'    ' * k}for {i} in range({ctx.dim(d)}):" for k, (i, d) in enumerate(zip(idx, shape))]
    lines.append(f"{'    ' * len(shape)}{stacked}[{t}, {', '.join(idx)}] = {value}[{', '.join(idx)}]")
    return lines


def _split(items: list, loop: Loop) -> tuple[list, list, list]:
    """A scan's inputs (values, nodes, names, flags) as (initial carries, scanned arrays, params)."""
    c, x = 1 + loop.n_carry, 1 + loop.n_carry + loop.n_xs
    return list(items[1:c]), list(items[c:x]), list(items[x:])


def _bind_values(ctx, lines: list, prefix: str, exprs: list, nodes: list, always: bool = False) -> list[str]:
    """Names for the values a loop passes to its body, bound before the loop (``lines``) where
    they need a conversion (see ``_fixed``), or always (carries, scanned arrays)."""
    names = []
    for k, (a, n) in enumerate(zip(exprs, nodes)):
        fixed = _fixed(ctx, a, n)
        if always or (fixed != a and n.ndim):
            lines.append(f"{prefix}{k} = {fixed}")
            fixed = f"{prefix}{k}"
        names.append(fixed)
    return names


def _carry_updates(carry: list[str], results: list[str], body: Body) -> list[str]:
    """The new carries from the body's results (C-contiguous arrays already; scalars typed)."""
    return [f"{c} = {r}" if v.ndim else f"{c} = np.{v.dtype.name}({r})"
            for c, r, v in zip(carry, results, body.carries)]


def _fixed(ctx, expr: str, node: Node) -> str:
    """A value passed to a loop body with one Numba type across iterations: C-contiguous arrays
    (converted only where the kernel may hold a view), typed scalars."""
    if node.ndim:
        return expr if ctx.contiguous(node) else f"np.ascontiguousarray({expr})"
    return f"np.{node.dtype.name}({expr})"


def _stacked_shape(ctx, n: str, shape) -> str:
    from ..compiler.codegen import size_tuple

    return size_tuple([n] + [ctx.dim(d) for d in shape])


# ---------------------------------------------------------------------------------------------
# Batching (vmap) and sparsity patterns
# ---------------------------------------------------------------------------------------------
def batch_scan(node, args, flags, B):
    """vmap of a scan: a scan of the batched body. Every carry is batched (an unbatched initial
    carry is broadcast), scanned arrays and params only where they are; scanned arrays move
    their batch axis behind the time axis, and so do the stacked results."""
    from ..batching import bcast
    from ..vmap import vmap_many
    from .structure import swapaxes

    loop: Loop = node.op.loop
    body = loop.body
    nc = loop.n_carry
    c_args, x_args, p_args = _split(list(args), loop)
    _, x_flags, p_flags = _split(list(flags), loop)
    key = (B if isinstance(B, (int, str)) else id(B), tuple(x_flags), tuple(p_flags))
    new_loop = body._batched.get(key)
    if new_loop is None:
        carries = [_placeholder("c", j, (B, *c.shape), c.dtype) for j, c in enumerate(body.carries)]
        slices = [_placeholder("x", i, (B, *s.shape), s.dtype) if f else s
                  for i, (s, f) in enumerate(zip(body.slices, x_flags))]
        params = [_placeholder("p", m, (B, *p.shape), p.dtype) if f else p
                  for m, (p, f) in enumerate(zip(body.params, p_flags))]
        replace = {old: new for old, new in zip(body.carries + body.slices + body.params, carries + slices + params)
                   if old is not new}
        outs = vmap_many(body.outputs, replace)  # unbatched outputs come back broadcast
        new_body = close_body(carries, slices, body.index, outs, nc, body.kind, params, [None] * len(params))
        new_loop = Loop(new_body, loop.length, loop.reverse, loop.start)
        body._batched[key] = new_loop
    init = [bcast(a, f, B, x.shape) for a, f, x in zip(c_args, flags[1:1 + nc], node.inputs[1:1 + nc])]
    xs = [swapaxes(a, 0, 1) if f else a for a, f in zip(x_args, x_flags)]
    extra = new_loop.body.param_values[len(p_args):]  # constants the batched body reads
    out = ScanOutput(new_loop, node.op.k)(args[0], *init, *xs, *p_args, *extra)
    kind, _ = loop.kind_of(node.op.k)
    return out if kind == "final" else swapaxes(out, 0, 1)


def scan_pattern(node, pats, shapes, dims):
    """Dependency pattern of a scan output: the body's pattern rules applied step by step."""
    import scipy.sparse as sp

    from .. import patterns as P
    from ..types import concrete_shape

    loop: Loop = node.op.loop
    body = loop.body
    nc = loop.n_carry
    nx_cols = next(p.shape[1] for p in pats if p is not None)
    carry_p, xs_p, par_p = _split(list(pats), loop)
    _, xs_shapes, _ = _split(list(shapes), loop)
    carry = list(carry_p)
    kind, j = loop.kind_of(node.op.k)
    stacked = []
    steps = range(loop.length - 1, -1, -1) if loop.reverse else range(loop.length)
    for t in steps:
        if kind == "history":
            stacked.append((t, carry[j]))
        seeds = dict(zip(body.carries, carry))
        seeds.update(zip(body.params, par_p))
        for s, p, shp in zip(body.slices, xs_p, xs_shapes):
            if p is not None:
                per = P.size(shp[1:])
                seeds[s] = p[t * per:(t + 1) * per]
            else:
                seeds[s] = None
        if body.index is not None:
            seeds[body.index] = None
        pats = P.propagate(body.outputs, seeds, dims)
        outs = [pats[o] for o in body.outputs]
        carry = outs[:nc]
        if kind == "ys":
            stacked.append((t, outs[nc + j]))
        if kind == "after":
            stacked.append((t, carry[j]))
    if kind == "final":
        return carry[j]
    blocks = [p for _, p in sorted(stacked, key=lambda e: e[0])]
    rows = P.size(concrete_shape(node.shape[1:], dims))
    blocks = [P.empty(rows, nx_cols) if p is None else p for p in blocks]
    if all(b.nnz == 0 for b in blocks):
        return None
    return sp.vstack(blocks, format="csr")


# ---------------------------------------------------------------------------------------------
# The public functions (JAX's lax.scan / lax.fori_loop / lax.while_loop)
# ---------------------------------------------------------------------------------------------
def _as_leaf(x, what: str) -> Node:
    try:
        return as_node(x)
    except SymdiffError:
        raise LoopError(f"{what}: expected nodes, arrays or numbers, got {type(x).__name__} {x!r:.60}") from None


def _trace(step: Callable, carry_leaves: list[Node], carry_rebuild, x_nodes: list[Node], x_rebuild,
           with_index: bool, fn: str, call):
    """Call ``step`` on placeholders; return (carries, slices, index, outputs, n_carry, y_rebuild)."""
    carries = [_placeholder("c", k, c.shape, c.dtype) for k, c in enumerate(carry_leaves)]
    slices = [_placeholder("x", k, x.shape[1:], x.dtype) for k, x in enumerate(x_nodes)]
    index = Variable("i", (), np.dtype(np.int64)) if with_index else None
    result = call(carry_rebuild(carries), x_rebuild(slices) if x_rebuild else None, index)
    new_carry, y = result
    new_leaves, _ = tree_leaves(new_carry)
    if len(new_leaves) != len(carries) or _structure(new_carry) != _structure(carry_rebuild(carries)):
        raise LoopError(f"{fn}: the step returned a carry of structure {_structure(new_carry)}; "
                        f"the initial carry has structure {_structure(carry_rebuild(carries))}")
    outs = []
    for k, (new, old) in enumerate(zip(new_leaves, carries)):
        new = _as_leaf(new, fn)
        if new.shape != old.shape:
            raise LoopError(f"{fn}: carry leaf {k} changes shape from {format_shape(old.shape)} to "
                            f"{format_shape(new.shape)} in one step; a carry keeps its shape")
        if new.dtype != old.dtype:
            if isinstance(new, Constant) and new.weak or (new.dtype.kind in "biu" and old.dtype.kind == "f"):
                from .elementwise import cast

                new = cast(new, old.dtype)
            else:
                raise LoopError(f"{fn}: carry leaf {k} changes dtype from {old.dtype} to {new.dtype} in one "
                                "step; a carry keeps its dtype (cast the initial value)")
        outs.append(new)
    y_leaves, y_rebuild = tree_leaves(y)
    ys = [_as_leaf(v, fn) for v in y_leaves]
    return carries, slices, index, outs + ys, len(carries), y_rebuild


def _initial(init, fn: str):
    leaves, rebuild = tree_leaves(init)
    nodes = []
    for leaf in leaves:
        node = _as_leaf(leaf, fn)
        if node.dtype.kind == "b":
            raise LoopError(f"{fn}: boolean carries are not supported; carry 0/1 as an integer or float")
        nodes.append(node)
    return nodes, rebuild


def scan(f: Callable, init, xs=None, length: int | None = None, reverse: bool = False,
         unroll: int = 1, *, checkpoint: int | None = None):
    """JAX's ``lax.scan``: ``carry, y = f(carry, x)`` for each ``x`` along axis 0 of ``xs``.

    Returns ``(final_carry, ys)`` with ``ys`` the per-step outputs stacked along a new axis 0.
    ``init`` and ``xs`` are nested tuples/lists/dicts of nodes or arrays; ``length`` is the step
    count when ``xs`` is ``None``. ``f`` is called once, on symbolic placeholders: the loop is one
    node of the graph whatever the step count. ``checkpoint=k`` stores the carry only every ``k``
    steps for the gradient (recomputing the rest): memory ``T/k + k`` carries instead of ``T``.
    ``unroll`` is accepted for JAX's signature and ignored: the step count is a kernel argument.
    """
    fn = "scan"
    carry_nodes, carry_rebuild = _initial(init, fn)
    x_leaves, x_rebuild = tree_leaves(xs)
    x_nodes = [_as_leaf(x, fn) for x in x_leaves]
    T = _steps(x_nodes, length, fn)
    if checkpoint is not None:
        return _checkpointed(f, init, xs, T, reverse, int(checkpoint))
    traced = _trace(f, carry_nodes, carry_rebuild, x_nodes, x_rebuild if x_leaves else None, False, fn,
                    lambda c, x, i: f(c, x))
    carries, slices, index, outs, nc, y_rebuild = traced
    body = close_body(carries, slices, index, outs, nc)
    loop = Loop(body, T, reverse)
    inputs = [_steps_constant(T)] + carry_nodes + x_nodes + body.param_values
    results = scan_nodes(loop, inputs, range(nc + len(body.ys)))
    return carry_rebuild(results[:nc]), y_rebuild(results[nc:])


def _steps(x_nodes: list[Node], length, fn: str) -> int:
    lengths = set()
    for x in x_nodes:
        if x.ndim == 0:
            raise LoopError(f"{fn}: a scanned value must have a leading axis to scan over, got a scalar")
        if not isinstance(x.shape[0], int):
            raise LoopError(f"{fn}: the scanned axis must have a static length, got {x.shape[0]!r} "
                            f"(shape {format_shape(x.shape)})")
        lengths.add(x.shape[0])
    if length is not None:
        if not isinstance(length, (int, np.integer)) or isinstance(length, bool) or length < 0:
            raise LoopError(f"{fn}: length must be a non-negative int, got {length!r}")
        lengths.add(int(length))
    if len(lengths) != 1:
        if not lengths:
            raise LoopError(f"{fn}: give xs or length (the number of steps)")
        raise LoopError(f"{fn}: the scanned arrays and length disagree on the step count: {sorted(lengths)}")
    return lengths.pop()


def _steps_constant(T: int) -> Constant:
    return Constant(np.array([T], dtype=np.int64))


def _checkpointed(f, init, xs, T: int, reverse: bool, k: int):
    """``scan`` with checkpoints every ``k`` steps: an outer scan over segments whose step is an
    inner scan of ``k`` steps (``T`` must be a multiple of ``k``). The gradient stores the outer
    carries only; the inner scan's gradient recomputes its segment's carries."""
    from .structure import reshape

    if not isinstance(k, int) or k < 1 or T % k:
        raise LoopError(f"scan: checkpoint={k!r} must be a positive divisor of the step count {T}")
    x_leaves, x_rebuild = tree_leaves(xs)
    seg_xs = x_rebuild([reshape(as_node(x), (T // k, k, *as_node(x).shape[1:])) for x in x_leaves]) if x_leaves else None

    def segment(carry, x_seg):
        return scan(f, carry, x_seg, length=None if x_leaves else k, reverse=reverse)

    carry, ys = scan(segment, init, seg_xs, length=None if x_leaves else T // k, reverse=reverse)
    y_leaves, y_rebuild = tree_leaves(ys)
    return carry, y_rebuild([reshape(y, (T, *y.shape[2:])) for y in y_leaves])


def fori_loop(lower: int, upper: int, body_fun: Callable, init_val):
    """JAX's ``lax.fori_loop``: ``val = body_fun(i, val)`` for ``i`` in ``range(lower, upper)``.

    ``lower`` and ``upper`` are Python ints (the trip count is static, so the loop differentiates
    in reverse mode); ``i`` is an int64 scalar node inside ``body_fun``."""
    fn = "fori_loop"
    for name, v in (("lower", lower), ("upper", upper)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
            raise LoopError(f"{fn}: {name} must be a Python int (a static trip count), got {v!r:.40}")
    T = max(int(upper) - int(lower), 0)
    carry_nodes, carry_rebuild = _initial(init_val, fn)
    traced = _trace(body_fun, carry_nodes, carry_rebuild, [], None, True, fn,
                    lambda c, x, i: (body_fun(i, c), None))
    carries, slices, index, outs, nc, _ = traced
    body = close_body(carries, slices, index, outs, nc)
    loop = Loop(body, T, False, int(lower))
    inputs = [_steps_constant(T)] + carry_nodes + body.param_values
    return carry_rebuild(scan_nodes(loop, inputs, range(nc)))


def while_loop(cond_fun: Callable, body_fun: Callable, init_val, *, max_steps: int | None = None):
    """JAX's ``lax.while_loop``: ``while cond_fun(val): val = body_fun(val)``.

    Without ``max_steps`` the loop runs forward only (its gradient is a ``GradError``). With
    ``max_steps`` it is a scan of that many masked steps (a step past the condition leaves the
    carry unchanged), which differentiates like any scan."""
    fn = "while_loop"
    carry_nodes, carry_rebuild = _initial(init_val, fn)
    if max_steps is not None:
        if not isinstance(max_steps, (int, np.integer)) or isinstance(max_steps, bool) or max_steps < 0:
            raise LoopError(f"{fn}: max_steps must be a non-negative int, got {max_steps!r:.40}")
        from .elementwise import where

        def masked(carry, _):
            go = _condition(cond_fun(carry), fn)
            new = body_fun(carry)
            new_leaves, _r = tree_leaves(new)
            old_leaves, _r = tree_leaves(carry)
            if len(new_leaves) != len(old_leaves):
                raise LoopError(f"{fn}: body_fun returned a carry of structure {_structure(new)}; "
                                f"expected {_structure(carry)}")
            return carry_rebuild([where(go, _as_leaf(n, fn), o) for n, o in zip(new_leaves, old_leaves)]), None

        final, _ = scan(masked, init_val, length=int(max_steps))
        return final
    traced = _trace(body_fun, carry_nodes, carry_rebuild, [], None, False, fn,
                    lambda c, x, i: (body_fun(c), None))
    carries, slices, index, outs, nc, _ = traced
    cond = _condition(cond_fun(carry_rebuild(carries)), fn)
    body = close_body(carries, [], None, outs + [cond], nc, kind="while")
    loop = WhileLoop(body)
    inputs = carry_nodes + body.param_values
    return carry_rebuild([WhileOutput(loop, k)(*inputs) for k in range(nc)])


def _condition(c, fn: str) -> Node:
    c = _as_leaf(c, fn)
    if c.ndim != 0:
        raise LoopError(f"{fn}: cond_fun must return a scalar, got shape {format_shape(c.shape)}")
    if c.dtype.kind != "b":
        from .elementwise import not_equal

        c = not_equal(c, 0)
    return c


class WhileLoop:
    """A while loop: the body's outputs are the new carries and then the condition, evaluated
    on the *old* carry (``body.outputs[-1]``)."""

    def __init__(self, body: Body):
        self.body = body

    @property
    def n_carry(self) -> int:
        return self.body.n_carry

    def __repr__(self) -> str:
        return "while"


class WhileOutput(_LoopOutput):
    """Carry ``k`` after a while loop (forward only). Inputs: the initial carries, the params."""

    name = "while_loop"

    def infer(self, *inputs):
        c = self.loop.body.carries[self.k]
        return c.shape, c.dtype

    def _run(self, values, dims):
        body = self.loop.body
        nc = body.n_carry
        carry, params = list(values[:nc]), list(values[nc:])
        schedule = body.schedule()
        bind = dict(zip(body.params, params))
        while True:
            bind.update(zip(body.carries, carry))
            outs = schedule.run(bind, dims)
            if not bool(outs[-1]):
                return carry
            carry = [np.asarray(o, dtype=c.dtype) for o, c in zip(outs[:nc], body.carries)]

    def perform(self, values, node, dims):
        return self._run(values, dims)[self.k]

    def perform_group(self, values, nodes, dims) -> list:
        carry = self._run(values, dims)
        return [carry[n.op.k] for n in nodes]

    def bprop(self, inputs, output, D):
        raise GradError("while_loop has no reverse-mode gradient (its trip count is not known in advance); "
                        "pass max_steps=N to while_loop to make it a differentiable scan of N masked steps")

    def lower_group(self, ctx, node, sibs, args, out):
        body = self.loop.body
        nc = body.n_carry
        fn, dim_args = ctx.subfunction(body.inputs, body.outputs)
        ins = [ctx.rep[i] for i in node.inputs]
        lines: list[str] = []
        carry = _bind_values(ctx, lines, f"{out}_c", args[:nc], ins[:nc], always=True)
        pars = _bind_values(ctx, lines, f"{out}_p", args[nc:], ins[nc:])
        results = [f"{out}_r{k}" for k in range(nc + 1)]
        lines.append("while True:")
        lines.append(f"    {', '.join(results)} = {fn}({', '.join(carry + pars + dim_args)})")
        lines.append(f"    if not {results[-1]}:")
        lines.append("        break")
        lines += ["    " + line for line in _carry_updates(carry, results, body)]
        for s in sibs:
            lines.append(f"{ctx.names[s]} = {carry[s.op.k]}")
        return lines

    def batch(self, node, args, flags, B):
        from ..batching import BatchingError

        raise BatchingError("vmap of while_loop: the batch members may stop at different steps; "
                            "use while_loop(..., max_steps=N), a masked scan, which batches")

    def pattern(self, node, pats, shapes, dims):
        from .. import patterns as P

        return P.dense(node, pats, shapes, dims)

    def subgraphs(self) -> list[tuple[str, Body]]:
        return [("while body", self.loop.body)]

    def source_label(self, node) -> str:
        return f"while_loop[carry {self.k}]"

    def label(self, node) -> str:
        from ..printing import body_name

        return f"while_loop[carry {self.k}]{{body={body_name(self.loop.body)}}}"


__all__ = ["scan", "fori_loop", "while_loop", "LoopError"]
