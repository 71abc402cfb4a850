"""What runs on the Dask workers: kernels rebuilt from a shipped graph, once per process.

A compiled ``sd.Function`` holds Numba machine code and does not pickle. What travels instead is
a ``KernelSpec``: the chunk graph packed as a flat list of nodes (in creation order, so the
rebuilt graph generates the same source and hence the same cache key), a few kilobytes. A
worker process builds ``sd.function`` from it the first time a task needs it and keeps it in
``_KERNELS`` (keyed by the spec's token) for every later task and call. Building it generates the
kernel source, whose hash finds the machine code in symdiff's disk cache when the same user
compiled it before on that machine (the client compiles every kernel once when the Dask
function is made, so on a ``LocalCluster`` each worker only loads it); elsewhere the worker
compiles it once. The cache's safety checks (``symdiff/compiler/cache.py``) apply unchanged.
``kernel_stats()`` reports, per process, how long each build took and whether it came from the
disk cache.

The spec is sent once per worker, not once per task: ``DaskFunction`` scatters it to every
worker (distributed) or puts it in the task graph once (local schedulers), and each task takes
it as a dependency.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import threading
import time
import weakref

import numpy as np

from ..graph import Constant, Node, Variable

_KERNELS: dict = {}  # kernels built in this process (a worker's cache: kept for the process's life)
_REGISTERED: "weakref.WeakValueDictionary" = weakref.WeakValueDictionary()  # the client's own, while in use
_STATS: dict = {}
_LOCK = threading.Lock()


def pack_graph(inputs, outputs) -> list:
    """The graph of ``outputs`` as a flat list of plain records (no recursion, no Node objects):
    ``("v", name, shape, dtype)``, ``("c", value, weak, dtype)``, ``("o", op, inputs, shape, dtype)``,
    each input an index into the list; nodes in creation (id) order, which is topological."""
    seen, stack = {}, list(outputs) + list(inputs)
    while stack:
        node = stack.pop()
        if node.id in seen:
            continue
        seen[node.id] = node
        stack.extend(node.inputs)
    nodes = [seen[i] for i in sorted(seen)]
    index = {node: k for k, node in enumerate(nodes)}
    records = []
    for node in nodes:
        if isinstance(node, Variable):
            records.append(("v", node.name, node.shape, node.dtype.str))
        elif isinstance(node, Constant):
            records.append(("c", node.value, node.weak, node.name))
        else:
            records.append(("o", node.op, tuple(index[x] for x in node.inputs), node.shape, node.dtype.str, node.name))
    return [records, [index[v] for v in inputs], [index[o] for o in outputs]]


def unpack_graph(packed) -> tuple[list, list]:
    """The ``(inputs, outputs)`` of a packed graph, as new nodes of the same structure."""
    records, ins, outs = packed
    nodes: list[Node] = []
    for rec in records:
        if rec[0] == "v":
            nodes.append(Variable(rec[1], rec[2], np.dtype(rec[3])))
        elif rec[0] == "c":
            nodes.append(Constant(np.array(rec[1]), weak=rec[2], name=rec[3]))
        else:
            _, op, args, shape, dtype, name = rec
            nodes.append(Node(op, [nodes[k] for k in args], shape, np.dtype(dtype), name))
    return [nodes[k] for k in ins], [nodes[k] for k in outs]


class KernelSpec:
    """A chunk kernel as it travels to the workers: its packed graph and a token naming it."""

    def __init__(self, inputs, outputs, mode: str = "auto"):
        self.packed = pack_graph(inputs, outputs)
        self.mode = mode
        self.token = hashlib.sha256(pickle.dumps((self.packed, mode), protocol=4)).hexdigest()[:20]

    def __repr__(self) -> str:
        return f"<KernelSpec {self.token}: {len(self.packed[0])} nodes>"


def register(spec: KernelSpec, fn) -> None:
    """Make ``fn`` (compiled in this process) the kernel of ``spec`` here, so tasks run by a
    local scheduler in this process never rebuild it. Held weakly: the ``DaskFunction`` that
    compiled it keeps it alive."""
    with _LOCK:
        _REGISTERED.setdefault(spec.token, fn)


def kernel(spec: KernelSpec):
    """The compiled kernel of ``spec`` in this process: built at the first call, then reused."""
    fn = _KERNELS.get(spec.token) or _REGISTERED.get(spec.token)
    if fn is not None:
        return fn
    with _LOCK:  # threads of one worker build it once
        fn = _KERNELS.get(spec.token) or _REGISTERED.get(spec.token)
        if fn is None:
            from ..compiler import function

            t0 = time.perf_counter()
            inputs, outputs = unpack_graph(spec.packed)
            fn = function(inputs, outputs, mode=spec.mode)
            _STATS[spec.token] = {"pid": os.getpid(), "build_seconds": time.perf_counter() - t0,
                                  "from_cache": bool(fn.from_cache), "mode": fn.mode}
            _KERNELS[spec.token] = fn
    return fn


def kernel_stats() -> dict:
    """``{token: {"pid", "build_seconds", "from_cache", "mode"}}`` for the kernels this process built."""
    return {k: dict(v) for k, v in _STATS.items()}


def build(spec: KernelSpec) -> dict:
    """Build ``spec``'s kernel here now (``DaskFunction.warm_up``; a tiered one: until its
    kernel serves) and return its stats."""
    fn = kernel(spec)
    if hasattr(fn, "wait_compiled") and fn.wait_compiled() and spec.token in _STATS:
        _STATS[spec.token]["mode"] = fn.mode
    return _STATS.get(spec.token, {"pid": os.getpid(), "build_seconds": 0.0, "from_cache": True, "mode": "local"})


def run_chunk(spec: KernelSpec, params: tuple, count: float, *blocks) -> list:
    """One task: the chunk kernel on one block of each row input, with the broadcast parameters
    and the total row count. Returns the partial sums (float arrays)."""
    out = kernel(spec)(*blocks, *params, count)
    return [np.asarray(o) for o in out]


def add_parts(*parts) -> list:
    """One node of the tree reduction: the sum of several chunks' partial sums."""
    total = [np.array(p, copy=True) for p in parts[0]]
    for part in parts[1:]:
        for acc, p in zip(total, part):
            acc += p
    return total
