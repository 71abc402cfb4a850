"""``DaskFunction``: a compiled loss, gradient or Hessian evaluated over row-chunked Dask arrays.

    f = sd.function([w, X, y], [loss, sd.grad(loss, w), sd.hessian(loss, w)])
    df = symdiff.dask.from_function(f, row_dim="n", client=client)
    loss_v, g_v, H_v = df(w0, X_dask, y_dask)        # X_dask, y_dask chunked along rows only

Each output must be a sum or mean over the row dim (checked and split by ``rowsum``). Per call:

1. the parameters (inputs without the row dim) are converted and checked, then sent once:
   ``client.scatter(..., broadcast=True)`` with a distributed client, one key of the task graph
   with a local scheduler; never embedded in each task;
2. one task per chunk of rows runs the chunk kernel (the outputs' parts linear in the row sums,
   with ``size(n)`` replaced by the total row count); the partial sums are added by a tree
   reduction (``split_every`` parts per task);
3. the parameter-only parts (``lam * sum(w**2)``, constants of a Hessian) are computed once on
   the client and added.

Sparse Hessians (``sd.hessian(f, w, sparse=True)``) may be outputs: the non-zeros reduce like any
other output and come back as a ``scipy.sparse.csr_matrix``.
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Sequence

import numpy as np

from ..errors import InputError, ShapeError
from ..graph import Node, Variable, toposort
from ..types import bind_dims, format_shape
from . import worker
from .rowsum import RowSplit, split_row_sums

__all__ = ["DaskFunction", "function", "from_function"]


class _Bundle:
    """The per-call data every chunk task shares: parameter values and the total row count.
    (Not a sequence, so ``client.scatter`` sends it as one object.)"""

    def __init__(self, params: tuple, count: float):
        self.params, self.count = params, count


def _chunk(spec, bundle: _Bundle, *blocks):
    return worker.run_chunk(spec, bundle.params, bundle.count, *blocks)


def _is_dask(value) -> bool:
    import dask.array as da

    return isinstance(value, da.Array) or hasattr(value, "to_dask_array")


def _as_dask(value, v: Variable, axis: int, name: str, row_chunks=None):
    """A row input as a dask array of ``v``'s dtype: dask arrays as they are, dask DataFrames and
    Series through ``to_dask_array(lengths=True)``, NumPy arrays split like the other row inputs
    (``row_chunks``; one chunk when there are none)."""
    import dask.array as da

    if hasattr(value, "to_dask_array"):
        value = value.to_dask_array(lengths=True)
    if not isinstance(value, da.Array):
        arr = np.asarray(value)
        if arr.dtype == object or arr.dtype.kind not in "biuf":
            raise InputError(f"{name}: argument {v.name!r} must be a dask array, a dask DataFrame or an array of "
                             f"numbers, got {type(value).__name__}")
        chunks = list(arr.shape)
        if row_chunks is not None and arr.ndim > axis and arr.shape[axis] == sum(row_chunks):
            chunks[axis] = row_chunks
        value = da.from_array(arr, chunks=tuple(chunks))
    if value.ndim != v.ndim:
        raise ShapeError(f"{name}: argument {v.name!r}: expected {v.ndim} dims {format_shape(v.shape)}, "
                         f"got shape {value.shape}")
    if value.dtype != v.dtype:
        if value.dtype.kind not in "biuf":
            raise InputError(f"{name}: argument {v.name!r} has dtype {value.dtype}; expected {v.dtype}")
        value = value.astype(v.dtype)
    return value


def _seeds_folded(plan) -> Node:
    """The sparse Hessian's non-zeros graph with its colour seeds as a constant (a plan may make
    them an input of the kernel; here they are part of the chunk kernel's graph)."""
    if getattr(plan, "seed_var", None) is None:
        return plan.nonzeros
    from ..graph import Constant
    from ..rewrite import clone

    return clone(plan.nonzeros, {plan.seed_var: Constant(np.array(plan.seeds))})


class DaskFunction:
    """Outputs that are sums or means over ``row_dim``, evaluated over row chunks with Dask.

    Call it like the ``sd.Function`` it comes from (positionally in the order of ``inputs``, or by
    name): row inputs (those with ``row_dim`` in their shape) as dask arrays chunked along the rows
    only (or dask DataFrames/Series, or NumPy arrays: one chunk), the others as arrays.

    ``client``: a ``distributed.Client`` (``None``: the ``scheduler`` of ``dask.compute``,
    e.g. ``"threads"`` or ``"sync"``; default Dask's current scheduler, which is a distributed
    client if one is active). ``split_every``: parts added per task of the tree reduction.
    Attributes: ``split`` (the ``RowSplit``), ``spec`` (the shipped chunk kernel), ``compile_seconds``.
    """

    def __init__(self, inputs: Sequence[Variable], outputs, *, row_dim: str = "n", client=None,
                 scheduler=None, split_every: int = 8, mode: str = "auto", name: str = "symdiff.dask"):
        from ..compiler import function as sd_function
        from ..sparsity import SparseHessian

        self.name = name
        self.inputs = list(inputs)
        self._keys = tuple(outputs) if isinstance(outputs, Mapping) else None
        items = list(outputs.values()) if self._keys is not None else outputs
        self._single = isinstance(items, (Node, SparseHessian))
        items = [items] if self._single else list(items)
        self._sparse = {}  # output position -> the sparse Hessian's plan (CSR structure)
        nodes = []
        for k, item in enumerate(items):
            if isinstance(item, SparseHessian):
                plan = self._sparse_plan(item, row_dim)
                self._sparse[k] = plan
                nodes.append(_seeds_folded(plan))
            elif isinstance(item, Node):
                nodes.append(item)
            else:
                raise InputError(f"{name}: outputs must be symdiff nodes or sparse Hessians, got {type(item).__name__}")
        self.outputs = nodes
        self.row_dim = row_dim
        self.client, self.scheduler, self.split_every = client, scheduler, max(2, int(split_every))
        t0 = time.perf_counter()
        self.split: RowSplit = split_row_sums(nodes, row_dim, where=name)
        known = set(self.inputs)
        missing = [v.name for v in self.split.row_inputs + self.split.param_inputs if v not in known]
        if missing:
            raise InputError(f"{name}: the outputs use {', '.join(map(repr, missing))}, which are not among the inputs")
        # the chunk kernel: row inputs, parameters and the row count -> the parts linear in the row sums
        self._lin_pos = [k for k, lin in enumerate(self.split.lin) if lin is not None]
        lin_nodes = [self.split.lin[k] for k in self._lin_pos]
        used = set(toposort(lin_nodes))
        self._chunk_rows = [v for v in self.split.row_inputs if v in used]
        self._chunk_params = [v for v in self.split.param_inputs if v in used]
        kernel_inputs = self._chunk_rows + self._chunk_params + [self.split.count]
        self.spec = worker.KernelSpec(kernel_inputs, lin_nodes, mode) if lin_nodes else None
        self._kernel = None
        if self.spec is not None:  # compiled here once: validates it and fills the disk cache for the workers
            self._kernel = sd_function(kernel_inputs, lin_nodes, mode=mode)
            worker.register(self.spec, self._kernel)
        # the parameter parts, computed on the client once per call
        self._off_pos = [k for k, off in enumerate(self.split.off) if off is not None]
        off_nodes = [self.split.off[k] for k in self._off_pos]
        used = set(toposort(off_nodes))
        self._off_params = [v for v in self.split.param_inputs if v in used]
        # small parameter-only graphs: run with NumPy (no compile time; microseconds per call)
        self._off_fn = (sd_function(self._off_params + [self.split.count], off_nodes, mode="numpy")
                        if off_nodes else None)
        self.compile_seconds = time.perf_counter() - t0
        self._spec_future = None
        self._positions = {v.name: k for k, v in enumerate(self.inputs)}

    @staticmethod
    def _sparse_plan(H, row_dim: str):
        """The sparse Hessian's plan: its pattern is derived with the row dim bound to 2 (the
        rows of a row-sum graph all have the same structure, so any number of rows gives the
        same pattern); other named dims are refused."""
        from ..sparsity import PatternError

        if not all(isinstance(d, int) for d in H.x.shape):
            raise ShapeError(f"symdiff.dask: the sparse Hessian wrt {H.x.name!r} needs a static shape, "
                             f"got {format_shape(H.x.shape)}")
        others = {d for n in toposort([H.gradient]) for d in n.shape if isinstance(d, str) and d != row_dim}
        if others:
            raise PatternError(f"symdiff.dask: the sparse Hessian wrt {H.x.name!r} has named dims "
                               f"{sorted(others)} besides the rows {row_dim!r}; declare them as ints")
        return H._plan({row_dim: 2})

    # -- calling -----------------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        """The outputs over all rows: one value per output, as the ``sd.Function`` gives them
        (0-d float64 results as Python floats), sparse Hessians as CSR matrices."""
        return self._finish(self._evaluate(self._bind(args, kwargs), None))

    def on_blocks(self, blocks: Sequence[int], *args, **kwargs):
        """The outputs over the rows of the chunks ``blocks`` only (a minibatch): means divide
        by the rows of those chunks."""
        return self._finish(self._evaluate(self._bind(args, kwargs), list(blocks)))

    def n_blocks(self, *args, **kwargs) -> int:
        """How many row chunks the given row inputs have."""
        values = self._bind(args, kwargs, partial=True)
        rows, _, _ = self._rows(values)
        return len(rows[0][1]) if rows else 1

    def _bind(self, args, kwargs, partial: bool = False) -> dict:
        if len(args) > len(self.inputs):
            raise InputError(f"{self.name}: expected {len(self.inputs)} arguments "
                             f"({', '.join(repr(v.name) for v in self.inputs)}), got {len(args)}")
        values = dict(zip(self.inputs, args))
        for key, value in kwargs.items():
            k = self._positions.get(key)
            if k is None:
                raise InputError(f"{self.name}: unknown argument {key!r}; the inputs are "
                                 f"{', '.join(repr(v.name) for v in self.inputs)}")
            if self.inputs[k] in values:
                raise InputError(f"{self.name}: argument {key!r} given twice")
            values[self.inputs[k]] = value
        needed = self.split.row_inputs if partial else self.split.row_inputs + self.split.param_inputs
        missing = [v.name for v in needed if v not in values]
        if missing:
            raise InputError(f"{self.name}: missing arguments: {', '.join(map(repr, missing))}")
        return values

    def _rows(self, values: dict):
        """The row inputs as dask arrays with their row chunks, checked: chunked along the rows
        only, with the same row chunks for every row input. Returns (rows, dims, total)."""
        rows, ref = [], None
        order = sorted(self.split.row_inputs, key=lambda v: not _is_dask(values[v]))  # dask inputs first
        for v in order:
            axis = self.split.row_axes[v]
            arr = _as_dask(values[v], v, axis, self.name, ref)
            if ref is None:
                ref = arr.chunks[axis]
            for a, c in enumerate(arr.chunks):
                if any(np.isnan(s) for s in c):
                    raise ShapeError(f"{self.name}: argument {v.name!r} has unknown chunk sizes {arr.chunks}; "
                                     f"call {v.name}.compute_chunk_sizes() (or to_dask_array(lengths=True)) first")
                if a != axis and len(c) > 1:
                    raise ShapeError(
                        f"{self.name}: argument {v.name!r} of shape {arr.shape} ({format_shape(v.shape)}) is chunked "
                        f"along axis {a} (dim {v.shape[a]!r}, chunks {c}); only the rows {self.row_dim!r} "
                        f"(axis {axis}) may be split: rechunk with {v.name}.rechunk({{{a}: -1}})")
            rows.append((v, arr.chunks[axis], arr))
        for v, c, _ in rows[1:]:
            if c != rows[0][1]:
                raise ShapeError(f"{self.name}: arguments {rows[0][0].name!r} and {v.name!r} have different row "
                                 f"chunks {rows[0][1]} and {c}; rechunk one like the other")
        dims: dict = {}
        for v, _, arr in rows:
            bind_dims(f"{self.name}: argument {v.name!r}", v.shape, arr.shape, dims)
        return rows, dims, (int(sum(rows[0][1])) if rows else 0)

    def _params(self, values: dict, dims: dict) -> dict:
        from ..evaluate import as_input_array

        out = {}
        for v in self.split.param_inputs:
            arr = as_input_array(v, values[v])
            bind_dims(f"{self.name}: argument {v.name!r}", v.shape, arr.shape, dims)
            out[v] = np.ascontiguousarray(arr) if arr.ndim else arr[()]
        return out

    def _evaluate(self, values: dict, blocks) -> list:
        rows, dims, total = self._rows(values)
        params = self._params(values, dims)
        if blocks is not None and rows:
            nb = len(rows[0][1])
            bad = [b for b in blocks if not (isinstance(b, (int, np.integer)) and 0 <= b < nb)]
            if bad or not blocks:
                raise InputError(f"{self.name}: blocks must be chunk numbers in 0..{nb - 1}, got {list(blocks)!r:.60}")
            total = int(sum(rows[0][1][b] for b in blocks))
        count = float(total)
        results: list = [None] * len(self.outputs)
        if self._off_fn is not None:
            offs = self._off_fn(*[params[v] for v in self._off_params], count)
            for k, o in zip(self._off_pos, offs):
                results[k] = np.asarray(o, dtype=self.outputs[k].dtype)
        if self.spec is not None:
            sums = self._reduce(rows, params, count, blocks)
            for k, s in zip(self._lin_pos, sums):
                results[k] = s if results[k] is None else results[k] + s
        return results

    def _reduce(self, rows, params, count: float, blocks) -> list:
        """The chunk kernel on every chunk (or on ``blocks``), summed by a tree reduction."""
        import dask
        from dask.delayed import Delayed
        from dask.highlevelgraph import HighLevelGraph

        bundle = _Bundle(tuple(params[v] for v in self._chunk_params), count)
        client = self.client
        token = uuid.uuid4().hex[:16]
        layer: dict = {}
        if client is not None:
            spec = self._scattered_spec(client)
            shared = client.scatter(bundle, broadcast=True, hash=False)
        else:
            spec, shared = f"symdiff-spec-{token}", f"symdiff-params-{token}"
            layer[spec] = self.spec  # one key each: not embedded in every task
            layer[shared] = bundle
        arrays = {v: arr for v, _, arr in rows}
        nblocks = len(rows[0][1]) if rows else 1
        which = list(range(nblocks)) if blocks is None else list(blocks)
        keys = []
        for i in which:
            key = (f"symdiff-chunk-{token}", i)
            args = []
            for v in self._chunk_rows:
                arr, axis = arrays[v], self.split.row_axes[v]
                args.append((arr.name, *(i if a == axis else 0 for a in range(arr.ndim))))
            layer[key] = (_chunk, spec, shared, *args)
            keys.append(key)
        level = 0
        while len(keys) > 1:
            level += 1
            nxt = []
            for j in range(0, len(keys), self.split_every):
                key = (f"symdiff-sum-{token}", level, j)
                layer[key] = (worker.add_parts, *keys[j:j + self.split_every])
                nxt.append(key)
            keys = nxt
        deps = [arrays[v] for v in self._chunk_rows]
        graph = HighLevelGraph.from_collections(f"symdiff-{token}", layer, dependencies=deps)
        final = Delayed(keys[0], graph, layer=f"symdiff-{token}")
        if client is not None:
            return client.compute(final, sync=True)
        if self.scheduler is not None:
            return dask.compute(final, scheduler=self.scheduler)[0]
        return dask.compute(final)[0]

    def _scattered_spec(self, client):
        """The chunk kernel's spec on every worker, sent once per client (kept for later calls)."""
        fut = self._spec_future
        if fut is None or fut[0] is not client:
            self._spec_future = fut = (client, client.scatter(self.spec, broadcast=True, hash=False))
        return fut[1]

    def _finish(self, results: list):
        import scipy.sparse as sp

        out = []
        for k, (o, r) in enumerate(zip(self.outputs, results)):
            if k in self._sparse:
                plan = self._sparse[k]
                out.append(sp.csr_matrix((r, plan.indices, plan.indptr), shape=plan.shape))
            elif o.ndim == 0:
                out.append(float(r) if o.dtype == np.float64 else np.dtype(o.dtype).type(r))
            else:
                out.append(np.asarray(r, dtype=o.dtype))
        if self._single:
            return out[0]
        return dict(zip(self._keys, out)) if self._keys is not None else out

    # -- workers -----------------------------------------------------------------------------
    def warm_up(self, client=None) -> dict:
        """Build the chunk kernel on every worker of ``client`` now; returns ``{worker: stats}``
        (``build_seconds``, ``from_cache``: loaded from symdiff's disk cache or compiled)."""
        client = client or self.client
        if client is None or self.spec is None:
            return {}
        return client.run(worker.build, self.spec)

    def worker_stats(self, client=None) -> dict:
        """``{worker: stats of this function's kernel there}`` (empty where not built yet)."""
        client = client or self.client
        if client is None or self.spec is None:
            return {}
        stats = client.run(worker.kernel_stats)
        return {w: s.get(self.spec.token, {}) for w, s in stats.items()}

    def __repr__(self) -> str:
        ins = ", ".join(v.name for v in self.inputs)
        return f"<symdiff.dask.DaskFunction ({ins}) -> {len(self.outputs)} output(s) summed over {self.row_dim!r}>"


def function(inputs: Sequence[Variable], outputs, *, row_dim: str = "n", client=None, scheduler=None,
             split_every: int = 8, mode: str = "auto") -> DaskFunction:
    """``sd.function`` for Dask: ``outputs`` (sums or means over ``row_dim``, checked from the
    graph; sparse Hessians allowed) as a function of ``inputs`` evaluated chunk by chunk."""
    return DaskFunction(inputs, outputs, row_dim=row_dim, client=client, scheduler=scheduler,
                        split_every=split_every, mode=mode)


def from_function(f, *, row_dim: str = "n", client=None, scheduler=None, split_every: int = 8) -> DaskFunction:
    """The Dask version of a compiled ``sd.Function`` ``f`` (same inputs, outputs and call)."""
    outputs = f.outputs[0] if f._single else (dict(zip(f._keys, f.outputs)) if f._keys is not None else f.outputs)
    return DaskFunction(f.inputs, outputs, row_dim=row_dim, client=client, scheduler=scheduler,
                        split_every=split_every, mode=f.mode if f.mode in ("vm", "numpy") else "auto")
