"""Lowering a graph to the Python source of ``@numba.njit`` kernels.

The graph is first deduplicated (common subexpressions merged), then every node is assigned to a
*block*:

* a **loop** over one shape holds a run of elementwise nodes of that shape (fused into one loop
  nest: intermediate results are scalar temporaries, not arrays) and the reductions (``sum``,
  ``max``, ``min``) of values of that shape, accumulated inside the same loop;
* a **call** block holds one other op, lowered by the op's own ``lower`` method (matmul through
  BLAS with ``np.dot``, reshapes, indexing, softmax rows, ...).

Blocks are created in topological order and a node may only join a block that is not older
than any block it reads from, so block order is always a valid schedule.

An elementwise node read only by ops that look at other indices (``index_grad``: the value at
``i`` comes from ``g[i - 1]``) is **inlined**: it gets no block and no array, and its reader
recomputes its small expression at the shifted index. Rosenbrock's gradient is then one loop
over ``x``, as a person would write it. Likewise a cheap value read only by later loops (a tanh
layer's derivative ``1 - t*t``) is **rematerialised** there from the arrays it is made of
(``REMAT_OPS``) instead of stored and reloaded.

Ops other than reductions may also join a loop as *sinks* (``op.loop_sink``: ``sink_setup`` and
``sink_update`` write their own result inside the loop over their inputs' shape; the sparse
Hessian's ``diagonals_to_csr`` stores each value at its CSR position as it is computed). Large graphs are split
into several kernels of bounded size, called in order by one entry kernel.

Names in generated code are synthetic (``a0`` arguments, ``d0`` dims, ``c0`` constant arrays,
``v12`` values, ``t12`` loop temporaries); user-chosen names appear only inside comments, escaped
with ``ascii()`` so they can never become code.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..graph import Constant, Node, Variable, group_key, structural_key, toposort
from ..types import DimExpr, dim_names
from ..ops.elementwise import Elemwise
from ..ops.reduction import Reduce, Sum
from ..ops.structure import BroadcastTo, Index

# Blocks are grouped into kernels of at most this many generated lines (Numba/LLVM compile time
# grows faster than linearly with function size).
CHUNK_LINES = 600
# A fused loop takes at most this many nodes; longer elementwise chains continue in a new loop.
LOOP_NODES = 256
# Loops over fewer entries than this (all static) call libm's exp/tanh/log instead of the
# inlined polynomial versions (see emit_loop).
SHORT_LOOP = 32
# An elementwise value read only at shifted indices (by a slice gradient, say) is recomputed at
# the reader's index, instead of stored and reloaded, when its expression has at most this many
# ops (counted as a tree, through other elementwise nodes, down to arrays).
INLINE_OPS = 32
# An elementwise value whose readers are all in later loops is recomputed there from the arrays
# it is made of, instead of stored and reloaded, when that takes at most this many ops (no libm
# call): a tanh layer's derivative 1 - t*t is computed in the backward loop from the stored t,
# so one array of the layer's size is neither written nor read (an MLP step: 4-10% faster).
REMAT_OPS = 3
# Large intermediate arrays live in a workspace (``_ws``, one float64 buffer that the Function
# keeps between calls) instead of being allocated anew per call: a fresh array of megabytes is
# fresh pages from the OS, and their page faults cost more than the arithmetic (an MLP step on
# 1797 rows: 2200 faults and 60% of its time). Arrays qualify with at least this many entries, or,
# with named dims, at least ARENA_PER_NAMED entries per unit of the named dims ((n, 128), not (n,)).
ARENA_MIN_ENTRIES = 16384
ARENA_PER_NAMED = 64
# Ops whose lowering returns a new array (never a view of an input), so the input's storage
# cannot reach an output through them.
FRESH_RESULT_OPS = frozenset({"matmul", "outer", "softmax", "log_softmax", "logsumexp", "gather"})


def merge_common(outputs: list[Node]) -> tuple[list[Node], dict[Node, Node]]:
    """Merge structurally identical nodes. Returns the deduplicated order and node -> representative."""
    rep: dict[Node, Node] = {}
    seen: dict = {}
    order = []
    for n in toposort(outputs):
        key = structural_key(n, rep)
        r = n if key is None else seen.setdefault(key, n)
        rep[n] = r
        if r is n:
            order.append(n)
    return order, rep


def is_fusible(n: Node) -> bool:
    """Elementwise ops, broadcasts, and ops that can give their value at a loop index."""
    if isinstance(n.op, (Elemwise, BroadcastTo)):
        return True
    return hasattr(n.op, "emit_indexed") and getattr(n.op, "fusible", lambda node: True)(n)


def _feeds_loops_only(n: Node, consumers: list[Node]) -> bool:
    """Whether every consumer reads ``n`` inside a loop (so a fused slice is never copied out)."""
    return all(is_fusible(c) or isinstance(c.op, Reduce) for c in consumers)


def literal(value) -> str:
    """Source text of a scalar constant (floats and bools only: never user text)."""
    v = value.item() if hasattr(value, "item") else value
    if isinstance(v, (bool, np.bool_)):
        return "True" if v else "False"
    v = float(v)
    if np.isinf(v):
        return "np.inf" if v > 0 else "(-np.inf)"
    if np.isnan(v):
        return "np.nan"
    return repr(v)  # round-trips exactly: -0.0, subnormals, 1.7976931348623157e+308


def dtype_expr(dtype) -> str:
    return f"np.{np.dtype(dtype).name}"


@dataclass(eq=False)
class Loop:
    id: int
    shape: tuple
    members: list = field(default_factory=list)   # elementwise nodes, in order
    sinks: list = field(default_factory=list)     # reductions fed from this loop


@dataclass(eq=False)
class Call:
    id: int
    node: Node


class Lowering:
    """Everything needed to turn one graph into kernel source."""

    def __init__(self, inputs: list[Variable], outputs: list[Node], parallel: bool = False,
                 parent: "Lowering | None" = None):
        self.inputs = inputs
        self.parallel = parallel
        # functions of loop bodies, defined once at module level (shared with nested lowerings)
        self.helpers: list[str] = parent.helpers if parent is not None else []
        self._subfunctions: dict = parent._subfunctions if parent is not None else {}
        self._siblings: dict = {}
        self.order, self.rep = merge_common(outputs)
        # value names follow the schedule, not global node ids: the same graph built in another
        # process gives the same source, so the disk cache hits
        self.number = {n: k for k, n in enumerate(self.order)}
        self.outputs = [self.rep[o] for o in outputs]
        self.consumers: dict[Node, list[Node]] = {n: [] for n in self.order}
        for n in self.order:
            for i in dict.fromkeys(self.rep[i] for i in n.inputs):
                self.consumers[i].append(n)
        self.names: dict[Node, str] = {}
        self.dim_names: dict[str, str] = {}
        self.const_args: list[Constant] = []
        self._name_sources()
        self.loopable = {n for n in self.order if n.op is not None and is_fusible(n) and (
            not isinstance(n.op, Index) or _feeds_loops_only(n, self.consumers[n]))}
        self.inlined = self._choose_inlined()
        self.remat: dict[Node, list[Node]] = {}  # recomputed value -> the arrays it reads
        self._remat_inner: set[Node] = set()     # ... and the loop temporaries of its expression
        self.blocks = self._assign_blocks()
        self._mark_materialized()
        self._choose_remat()
        # loop bodies (parent given) are functions of their own: no workspace parameter there
        self.nested = parent is not None
        self.arena = set() if self.nested else self._choose_arena()
        self.arena_sizes: list[str] = []  # the size expression of each workspace region, in order

    # -- naming -------------------------------------------------------------------------------
    def _name_sources(self):
        for k, v in enumerate(self.inputs):
            v = self.rep.get(v, v)
            self.names.setdefault(v, f"a{k}")
            for d in v.shape:
                if isinstance(d, str) and d not in self.dim_names:
                    self.dim_names[d] = f"d{len(self.dim_names)}"
        for n in self.order:
            if isinstance(n, Variable) and n not in self.names:
                from ..errors import InputError

                raise InputError(f"the variable {n.name!r} is needed by the outputs but is not among the inputs")
            if isinstance(n, Constant):
                if n.ndim == 0:
                    self.names[n] = literal(n.value)
                else:
                    self.names[n] = f"c{len(self.const_args)}"
                    self.const_args.append(n)
            for d in (name for dim in n.shape for name in dim_names(dim)):
                if d not in self.dim_names:
                    from ..errors import ShapeError

                    raise ShapeError(f"the named dim {d!r} is not the dim of any input")
            if n.op is not None:
                self.names[n] = f"v{self.number[n]}"

    def dim(self, d) -> str:
        """Source text of one dim: an int literal or the synthetic name bound to a named dim."""
        if isinstance(d, DimExpr):  # an affine expression of named dims: n - 1, n + m, ...
            terms = [self.dim_names[n] if c == 1 else f"{c} * {self.dim_names[n]}" for n, c in d.terms]
            text = " + ".join(terms) + (f" + {d.const}" if d.const > 0 else f" - {-d.const}" if d.const else "")
            return f"({text})"
        return str(d) if isinstance(d, int) else self.dim_names[d]

    def shape_expr(self, shape) -> str:
        """Source text of a shape tuple (see ``size_tuple``)."""
        return size_tuple([self.dim(d) for d in shape])

    def label(self, n: Node) -> str:
        """A one-line, escaped description of a node for comments."""
        what = n.op.name if n.op is not None else "input"
        params = "" if n.op is None or not n.op.params else repr(n.op).split("{", 1)[1].rstrip("}")
        if hasattr(n.op, "source_label"):
            what, params = n.op.source_label(n), ""
        name = f" '{ascii(n.name)[1:-1]}'" if n.name else ""
        shape = ", ".join(self.dim(d) for d in n.shape)
        shape = f" shape=({shape},)" if n.ndim == 1 else f" shape=({shape})"
        if hasattr(n.op, "source_label"):  # loop outputs: no step count in the source
            shape = ""
        text = f"{what}{name}{'(' + params + ')' if params else ''}{shape}"
        return text.replace("\n", " ")

    # -- inlining -----------------------------------------------------------------------------
    def _choose_inlined(self) -> set[Node]:
        """Elementwise nodes read only at other indices (or only by inlined nodes), and cheap to
        recompute: their readers expand them (see ``value_at``) instead of loading an array."""
        cost: dict[Node, int] = {}
        for n in self.order:  # tree size through loopable inputs, capped (shared inputs count twice)
            if n in self.loopable:
                sub = sum(cost.get(self.rep[i], 0) for i in n.inputs)
                cost[n] = min(1 + sub, INLINE_OPS + 1)
        outs = set(self.outputs)
        inlined: set[Node] = set()
        for n in reversed(self.order):
            users = self.consumers[n]
            if (n in self.loopable and n not in outs and users and cost[n] <= INLINE_OPS
                    and all(c in inlined or (hasattr(c.op, "emit_indexed") and c in self.loopable) for c in users)):
                inlined.add(n)
        self._leaves: dict[Node, list[Node]] = {}
        return inlined

    def leaves(self, n: Node) -> list[Node]:
        """The arrays an expansion of ``n`` reads: the first non-loopable nodes below it.
        (Recursive, but only below inlined nodes, whose expansions have at most INLINE_OPS ops.)"""
        if n not in self.loopable:
            return [n]
        got = self._leaves.get(n)
        if got is None:
            got = list(dict.fromkeys(leaf for i in n.inputs for leaf in self.leaves(self.rep[i])))
            self._leaves[n] = got
        return got

    def reads(self, n: Node) -> list[Node]:
        """The nodes whose names the code of ``n`` uses (an inlined input: its leaves)."""
        out = []
        for i in n.inputs:
            i = self.rep[i]
            out.extend(self.leaves(i) if i in self.inlined else self.remat[i] if i in self.remat else [i])
        return list(dict.fromkeys(out))

    # -- blocks -------------------------------------------------------------------------------
    def _assign_blocks(self) -> list:
        blocks: list = []
        block_of: dict[Node, object] = {}
        sink_of: dict[Node, Loop] = {}
        latest_loop: dict[tuple, Loop] = {}

        def deps_ok(n: Node, loop: Loop) -> bool:
            indexed = hasattr(n.op, "emit_indexed")  # reads its input at other indices
            for i in self.reads(n):
                b = block_of.get(i)
                if b is None:
                    continue
                if b.id > loop.id or sink_of.get(i) is loop or (indexed and b is loop):
                    return False
            return True

        def loop_for(n: Node, shape) -> Loop:
            loop = latest_loop.get(shape)
            if loop is None or not deps_ok(n, loop) or len(loop.members) + len(loop.sinks) >= LOOP_NODES:
                loop = Loop(len(blocks), shape)
                blocks.append(loop)
                latest_loop[shape] = loop
            return loop

        for n in self.order:
            if n.op is None or n in self.inlined:
                continue
            if n in self.loopable:
                loop = loop_for(n, n.shape)
                loop.members.append(n)
                block_of[n] = loop
            elif isinstance(n.op, Reduce) or getattr(n.op, "loop_sink", False):
                loop = loop_for(n, self.rep[n.inputs[0]].shape)
                loop.sinks.append(n)
                block_of[n] = loop
                sink_of[n] = loop
            else:
                b = Call(len(blocks), n)
                blocks.append(b)
                block_of[n] = b
        self.block_of, self.sink_of = block_of, sink_of
        return blocks

    def min_lines(self) -> int:
        """A lower bound on the lines ``source()`` writes (one per node with a block)."""
        return len(self.block_of)

    def in_loop(self, n: Node, loop) -> bool:
        """Whether ``n`` is an elementwise member of ``loop`` (a scalar temporary there)."""
        return self.block_of.get(n) is loop and n not in self.sink_of

    def _mark_materialized(self):
        outs = set(self.outputs)
        self.materialized: set[Node] = set()
        for b in self.blocks:
            if not isinstance(b, Loop):
                continue
            inside = set(b.members) | set(b.sinks)
            for m in b.members:  # inlined consumers recompute m rather than read it
                if m in outs or any(c not in inside and c not in self.inlined for c in self.consumers[m]):
                    self.materialized.add(m)

    def _choose_remat(self):
        """Values of loops to recompute in their readers' loops (``REMAT_OPS``): stored only for
        readers in other loops that read them at their own index (elementwise ops and
        reductions), cheap, and made of arrays that are stored anyway (or inputs, constants)."""
        if self.parallel:
            return
        outs = set(self.outputs)
        for b in self.blocks:
            if not isinstance(b, Loop) or not b.shape:
                continue
            members = set(b.members)
            for m in b.members:
                if m not in self.materialized or m in outs or not isinstance(m.op, Elemwise):
                    continue
                # readers in later loops only (not inlined expansions, which may run anywhere)
                readers = [c for c in self.consumers[m] if c not in members]
                if not readers or not all(
                        isinstance(c.op, (Elemwise, Reduce)) and isinstance(self.block_of.get(c), Loop)
                        and self.block_of[c].id > b.id for c in readers):
                    continue
                tree = self._remat_tree(m, members)
                if tree is not None:
                    inner, arrays = tree
                    self.remat[m] = arrays
                    self._remat_inner |= inner
                    self.materialized.discard(m)
            # temporaries now read only by recomputations elsewhere: gone from this loop
            inside = set(b.members) | set(b.sinks)
            for m in reversed(list(b.members)):
                if m in self._remat_inner and m not in self.materialized and m not in outs and not any(
                        c in inside for c in self.consumers[m]):
                    b.members.remove(m)
                    inside.discard(m)

    def _remat_tree(self, m: Node, members: set) -> tuple[set, list] | None:
        """(the temporaries of ``m``'s expression, the arrays it reads) if it is cheap enough to
        recompute elsewhere, else ``None``."""
        inner, arrays, stack = set(), [], [m]
        while stack:
            n = stack.pop()
            if n in inner:
                continue
            if n.op.calls_libm(n) or len(inner) >= REMAT_OPS:
                return None
            inner.add(n)
            for i in dict.fromkeys(self.rep[i] for i in n.inputs):
                if isinstance(i, (Variable, Constant)) or (i in self.materialized and i is not m):
                    arrays.append(i)
                elif i in members and isinstance(i.op, Elemwise) and i not in self.inlined:
                    stack.append(i)
                elif i in self.block_of and not isinstance(self.block_of[i], Loop):
                    arrays.append(i)  # a call block's array
                else:
                    return None
        return inner, list(dict.fromkeys(arrays))

    # -- multi-output ops and loop bodies -----------------------------------------------------
    def siblings(self, node: Node) -> list[Node]:
        """The nodes computed together with ``node`` by one multi-output op (``graph.group_key``),
        in schedule order; the first of them emits the code for all."""
        key = group_key(node, self.rep)
        if key not in self._siblings:
            self._siblings[key] = [m for m in self.order if group_key(m, self.rep) == key]
        return self._siblings[key]

    def contiguous(self, n: Node) -> bool:
        """Whether the generated value of ``n`` is surely a C-contiguous array: an input (kernels
        and loop bodies are called with C-contiguous arrays), or an array a loop writes."""
        n = self.rep[n]
        return isinstance(n, Variable) or (n in self.materialized) or (
            n in self.sink_of and n.ndim > 0) or getattr(n.op, "contiguous_output", False)

    def subfunction(self, inputs: list[Variable], outputs: list[Node]) -> tuple[str, list[str]]:
        """A module-level function computing ``outputs`` from ``inputs`` (a loop body), written
        once per body; returns its name and the dim arguments to pass after the inputs."""
        key = (tuple(inputs), tuple(outputs))
        if key not in self._subfunctions:
            sub = Lowering(list(inputs), list(outputs), False, parent=self)
            if sub.const_args:
                raise AssertionError("internal error: a loop body reads array constants that are not params")
            name = f"_body{len(self._subfunctions)}"
            self._subfunctions[key] = None  # numbered before nested bodies are written
            lines = sub.functions(name, always_tuple=True)
            self.helpers.extend(lines)
            self._subfunctions[key] = (name, list(sub.dim_names))
        name, dims = self._subfunctions[key]
        return name, [self.dim_names[d] for d in dims]

    # -- the workspace ------------------------------------------------------------------------
    def _choose_arena(self) -> set[Node]:
        """The float64 intermediates that live in the workspace (``ARENA_MIN_ENTRIES``): arrays of
        loops and 2-d matrix products that are no output and cannot become part of one (an
        output may be a view of an intermediate, through a transpose, a reshape, a slice...)."""
        if self.parallel:
            return set()
        escapes = set(self.outputs)
        for n in reversed(self.order):  # storage reaches an output through ops that may return views
            if n in escapes and n.op is not None and not isinstance(self.block_of.get(n), Loop) \
                    and n.op.name not in FRESH_RESULT_OPS:
                escapes.update(self.rep[i] for i in n.inputs)
        chosen = set()
        for n in self.order:
            if n in escapes or n.dtype != np.float64 or n.ndim == 0 or n in self.inlined:
                continue
            block = self.block_of.get(n)
            if isinstance(block, Loop):
                if n not in self.materialized or n in self.sink_of or not block.shape:
                    continue
            elif not (isinstance(block, Call) and n.op.name == "matmul" and n.ndim == 2
                      and all(self.rep[i].ndim == 2 for i in n.inputs)):
                continue
            if _large(n.shape):
                chosen.add(n)
        return chosen

    def buffer(self, n: Node) -> str | None:
        """Source text of a workspace region for ``n`` (its array, uninitialised), or ``None``
        when ``n`` gets an array of its own. Call once per node, in emitting order."""
        return self._region(n.shape) if n in self.arena else None

    def scratch(self, shape, dtype) -> str | None:
        """A workspace region for a kernel-internal array (the summands of a split loop), or None."""
        if self.parallel or self.nested or np.dtype(dtype) != np.float64 or not _large(shape):
            return None
        return self._region(shape)

    def _region(self, shape) -> str:
        size = " * ".join(self.dim(d) for d in shape)
        offset = " + ".join(self.arena_sizes) or "0"
        self.arena_sizes.append(f"({size})")
        return f"_carve(_ws, _i({offset}), {self.shape_expr(shape)})"

    # -- emitting -----------------------------------------------------------------------------
    def read(self, n: Node, loop: Loop | None, idx: list[str]) -> str:
        """Expression for the value of ``n`` at loop index ``idx`` (broadcast as needed)."""
        n = self.rep[n]
        if loop is not None and loop.shape and self.in_loop(n, loop):
            return f"t{self.number[n]}"
        return self.value_at(n, _broadcast_index(n, loop.shape if loop else (), idx))

    def value_at(self, n: Node, idx: list[str], expand: bool = False) -> str:
        """Expression for ``n`` at index ``idx`` (one entry per axis of ``n``): an array load, or
        for an inlined node (and everything loopable below it) its recomputed expression."""
        n = self.rep[n]
        if n in self._remat_inner:  # recomputed here from stored arrays (``_choose_remat``)
            return n.op.emit([self.value_at(i, _broadcast_index(i, n.shape, idx)) for i in n.inputs], n)
        if n in self.inlined or (expand and n in self.loopable):
            if hasattr(n.op, "emit_indexed"):
                return n.op.emit_indexed(self, n, idx, lambda g, g_idx: self.value_at(g, g_idx, True))
            return n.op.emit([self.value_at(i, _broadcast_index(i, n.shape, idx), True) for i in n.inputs], n)
        name = self.names[n]
        return name if n.ndim == 0 or not idx else f"{name}[{', '.join(idx)}]"

    def emit_loop(self, loop: Loop) -> list[str]:
        lines: list[str] = []
        idx = [f"i{k}" for k in range(len(loop.shape))]
        elemwise = [m for m in loop.members if isinstance(m.op, Elemwise)]
        # LLVM vectorises a loop without libm calls; polynomial exp/tanh/log pay off only there
        vector = bool(loop.shape) and not any(m.op.calls_libm(m) for m in elemwise)
        # ...and only over enough entries to fill vectors: Numba inlines each polynomial call
        # site (0.2-0.4 s of compile time apiece), which short loops (an LSTM's 14 gates) do not repay
        if all(isinstance(d, int) for d in loop.shape) and int(np.prod(loop.shape)) < SHORT_LOOP:
            vector = False
        # ...and only if no float reduction (a sequential sum) runs in the same loop: then the
        # summands go to arrays and the sums follow in a loop of their own
        split = vector and bool(loop.sinks) and any(m.op.scalar_code is not None for m in elemwise)
        # ...and other sinks (``op.loop_sink``: writers such as ``diagonals_to_csr``) read the
        # temporaries where they are computed: no split then
        reductions = [r for r in loop.sinks if isinstance(r.op, Reduce)]
        split = split and len(reductions) == len(loop.sinks)
        summands: dict[Node, str] = {}
        if split:
            for r in loop.sinks:
                x = self.rep[r.inputs[0]]
                if self.in_loop(x, loop) and x in self.materialized:
                    summands[r] = f"{self.names[x]}[{', '.join(idx)}]"
                elif not self.in_loop(x, loop):
                    summands[r] = self.read(x, loop, idx)
                else:
                    summands[r] = f"{self.names[r]}_terms[{', '.join(idx)}]"
                    alloc = self.scratch(loop.shape, x.dtype) or f"_empty({self.shape_expr(loop.shape)}, {dtype_expr(x.dtype)})"
                    lines.append(f"{self.names[r]}_terms = {alloc}")
        # outputs of the loop: arrays for materialized members, accumulators for reductions
        for m in loop.members:
            if m in self.materialized and loop.shape:
                alloc = self.buffer(m) or f"_empty({self.shape_expr(m.shape)}, {dtype_expr(m.dtype)})"
                lines.append(f"{self.names[m]} = {alloc}  # {self.label(m)}")
        for r in loop.sinks:
            if r not in reductions:
                lines += [line + (f"  # {self.label(r)}" if k == 0 else "")
                          for k, line in enumerate(r.op.sink_setup(self, r, self.names[r]))]
                continue
            init = r.op.init
            reduced = [loop.shape[a] for a in r.op.axis]
            if r.op.needs_nonempty and any(not isinstance(d, int) or d == 0 for d in reduced):
                size = " * ".join(self.dim(d) for d in reduced)
                lines.append(f"if {size} == 0:")
                lines.append(f"    raise ValueError('{r.op.name}: zero-size reduction has no identity')")
            if r.ndim == 0:
                lines.append(f"{self.names[r]} = {init}  # {self.label(r)}")
            else:
                lines.append(
                    f"{self.names[r]} = _filled({self.shape_expr(r.shape)}, {dtype_expr(r.dtype)}({init}))  # {self.label(r)}"
                )
        body: list[str] = []
        for m in loop.members:
            if hasattr(m.op, "emit_indexed"):
                expr = m.op.emit_indexed(self, m, idx if loop.shape else [], self.value_at)
            elif isinstance(m.op, Elemwise):
                expr = m.op.emit([self.read(i, loop, idx) for i in m.inputs], m, vector)
            else:
                expr = m.op.emit([self.read(i, loop, idx) for i in m.inputs], m)
            if not loop.shape:
                body.append(f"{self.names[m]} = {expr}  # {self.label(m)}")
                continue
            body.append(f"t{self.number[m]} = {expr}")
            if m in self.materialized:
                body.append(f"{self.names[m]}[{', '.join(idx)}] = t{self.number[m]}")
        updates: list[str] = []
        for r in loop.sinks:
            if r not in reductions:
                updates += r.op.sink_update(self, r, self.names[r], idx,
                                            lambda k, r=r: self.read(r.inputs[k], loop, idx))
                continue
            val = self.read(r.inputs[0], loop, idx)
            if r.ndim == 0:
                target = self.names[r]
            else:
                keep = [("0" if k in r.op.axis else i) for k, i in enumerate(idx)] if r.op.keepdims else [
                    i for k, i in enumerate(idx) if k not in r.op.axis]
                target = f"{self.names[r]}[{', '.join(keep)}]"
            if summands.get(r, "").startswith(f"{self.names[r]}_terms["):
                body.append(f"{summands[r]} = {val}")
            updates.append(r.op.update.format(acc=target, x=summands.get(r, val)))
        if not loop.shape:
            return lines + body + updates
        use_prange = self.parallel and all(r.ndim == 0 and isinstance(r.op, Sum) for r in loop.sinks)
        if split:
            return lines + self._nest(loop, idx, body, use_prange) + self._nest(loop, idx, updates, use_prange)
        return lines + self._nest(loop, idx, body + updates, use_prange)

    def _nest(self, loop: Loop, idx: list[str], body: list[str], use_prange: bool) -> list[str]:
        """A loop nest over ``loop.shape`` around ``body``."""
        lines, indent = [], ""
        for k, d in enumerate(loop.shape):
            rng = "prange" if (use_prange and k == 0) else "range"
            lines.append(f"{indent}for {idx[k]} in {rng}({self.dim(d)}):")
            indent += "    "
        lines.extend(indent + b for b in body)
        if not body:
            lines.append(indent + "pass")
        return lines

    def emit_call(self, block: Call) -> list[str]:
        n = block.node
        args = [self.names[self.rep[i]] for i in n.inputs]
        lines = n.op.lower(self, n, args, self.names[n])
        lines[0] += f"  # {self.label(n)}"
        return lines

    def block_lines(self, b) -> list[str]:
        return self.emit_loop(b) if isinstance(b, Loop) else self.emit_call(b)

    # -- kernels ------------------------------------------------------------------------------
    def arg_names(self) -> list[str]:
        """The kernel's parameters: inputs, constant arrays, the workspace ``_ws`` when
        ``source()`` gave it regions (``arena_size()``), named dims."""
        return (
            [self.names[self.rep.get(v, v)] for v in self.inputs]
            + [self.names[c] for c in self.const_args]
            + (["_ws"] if self.arena_sizes else [])
            + list(self.dim_names.values())
        )

    def arena_size(self) -> str | None:
        """Python expression of the workspace's entries (in the named dims' synthetic names), or
        ``None`` when the kernel has no workspace. Valid after ``source()``."""
        return " + ".join(self.arena_sizes) if self.arena_sizes else None

    def source(self) -> str:
        """The complete module source: imports, loop bodies, chunk kernels and the entry kernel ``kernel``."""
        head = [
            "# Generated by symdiff. Names are synthetic: a* inputs, c* constant arrays, d* named dims,",
            "# v* values, t* loop temporaries, _i(n) a static size. Comments describe the node each line computes.",
            "import numpy as np",
            "from numba import njit, prange",
            "from symdiff.compiler.runtime import *",
            "",
        ]
        kernels = self.functions("kernel")
        return "\n".join(head + self.helpers + kernels)

    def decorator(self) -> str:
        # 'contract' lets LLVM fuse a * b + c into one FMA (one rounding instead of two: never less
        # accurate) - the polynomial exp/tanh/log run almost twice as fast; no other fast-math
        return f"@njit(cache=True, error_model='numpy', fastmath={{'contract'}}{', parallel=True' if self.parallel else ''})"

    def functions(self, entry: str, always_tuple: bool = False) -> list[str]:
        """The source lines of the function ``entry`` (and its chunk kernels, if it is split)."""
        self.arena_sizes = []
        blocks = [(b, self.block_lines(b)) for b in self.blocks]
        chunks, cur, size = [], [], 0
        for b, lines in blocks:
            if cur and size + len(lines) > CHUNK_LINES:
                chunks.append(cur)
                cur, size = [], 0
            cur.append((b, lines))
            size += len(lines)
        if cur or not chunks:
            chunks.append(cur)
        if len(chunks) > 1 and self.arena_sizes:  # several kernels: no workspace (keeps chunks simple)
            self.arena, self.arena_sizes = set(), []
            return self.functions(entry, always_tuple)
        deco = self.decorator()
        args = self.arg_names()
        out_exprs = [self.names[o] for o in self.outputs]
        if always_tuple:  # a loop body: its array results are C-contiguous (one type per carry)
            out_exprs = [e if o.ndim == 0 or self.contiguous(o) else f"np.ascontiguousarray({e})"
                         for e, o in zip(out_exprs, self.outputs)]
        if len(out_exprs) == 1 and not always_tuple:
            ret = out_exprs[0]  # 1 output: no tuple
        else:
            ret = "(" + ", ".join(out_exprs) + ("," if len(out_exprs) == 1 else "") + ")"
        if len(chunks) == 1:
            body = [line for _, lines in chunks[0] for line in lines]
            return (["", deco, f"def {entry}({', '.join(args)}):"]
                    + ["    " + line for line in body] + [f"    return {ret}", ""])
        prefix = "" if entry == "kernel" else entry
        # several chunks: each returns the values later chunks or the outputs need
        defined_in: dict[str, int] = {}
        for j, chunk in enumerate(chunks):
            for b, _ in chunk:
                if isinstance(b, Call):
                    defines = getattr(b.node.op, "defines", None)
                    names = defines(self, b.node) if defines else [self.names[b.node]]
                else:
                    names = [self.names[m] for m in b.members if m in self.materialized or not b.shape]
                    names += [self.names[r] for r in b.sinks]
                for nm in names:
                    defined_in[nm] = j
        used_by: dict[int, set[str]] = {j: set() for j in range(len(chunks))}
        for j, chunk in enumerate(chunks):
            for b, _ in chunk:
                nodes = [b.node] if isinstance(b, Call) else b.members + b.sinks
                for n in nodes:
                    for i in self.reads(n):
                        if isinstance(b, Loop) and b.shape and self.in_loop(i, b):
                            continue  # a loop temporary, not a value passed between kernels
                        used_by[j].add(self.names[i])
        needed_later = set(out_exprs)
        src: list[str] = []
        main = []
        returns_of: list[list[str]] = [[] for _ in chunks]
        for j in reversed(range(len(chunks))):
            returns_of[j] = sorted(nm for nm in needed_later if defined_in.get(nm) == j)
            needed_later |= used_by[j]
        for j, chunk in enumerate(chunks):
            params = sorted(nm for nm in used_by[j] if defined_in.get(nm, -1) < j and not _is_literal(nm))
            dims_used = [d for d in self.dim_names.values() if any(d in line for _, ls in chunk for line in ls)]
            params = params + [d for d in dims_used if d not in params]
            body = [line for _, lines in chunk for line in lines]
            rets = returns_of[j]
            src += ["", deco, f"def {prefix}_k{j}({', '.join(params)}):"] + ["    " + line for line in body]
            src.append(f"    return ({', '.join(rets)}{',' if len(rets) == 1 else ''})")
            lhs = ", ".join(rets) + ("," if len(rets) == 1 else "")
            call = f"{prefix}_k{j}({', '.join(params)})"
            main.append(f"    {lhs} = {call}" if rets else f"    {call}")
        src += ["", deco, f"def {entry}({', '.join(args)}):"] + main + [f"    return {ret}", ""]
        return src


def size_tuple(entries: list[str]) -> str:
    """Source text of a tuple of sizes for the runtime helpers (``_empty``, ``_reshape``, ...).
    Static sizes are written ``_i(569)`` (``np.int64``): Numba types a bare ``569`` as the literal
    569 and would compile each helper anew for every distinct shape (0.1 s each), while int64
    sizes share one compiled helper per rank. Named dims are int64 arguments already."""
    inner = ", ".join(e if e.isidentifier() else f"_i({e})" for e in entries)
    return f"({inner},)" if len(entries) == 1 else f"({inner})"


def _large(shape) -> bool:
    """Whether an array of ``shape`` is large enough for the workspace (``ARENA_MIN_ENTRIES``)."""
    static = int(np.prod([d for d in shape if isinstance(d, int)]))
    if any(not isinstance(d, int) for d in shape):
        return static >= ARENA_PER_NAMED
    return static >= ARENA_MIN_ENTRIES


def _broadcast_index(n: Node, shape: tuple, idx: list[str]) -> list[str]:
    """The index into ``n`` of entry ``idx`` of ``shape``, under NumPy broadcasting."""
    lead = len(idx) - n.ndim
    return ["0" if (d == 1 and shape[lead + k] != 1) else idx[lead + k] for k, d in enumerate(n.shape)]


def _is_literal(text: str) -> bool:
    return not text[:1].isalpha() or text in ("True", "False") or text.startswith("np.")
