"""The NumPy reference evaluator: forward propagation in topological order, each node once."""
from __future__ import annotations

from typing import Mapping

import numpy as np

from .errors import DTypeError, InputError, ShapeError
from .graph import Constant, Node, Variable, flatten_outputs, group_key, toposort
from .types import bind_dims, format_shape


def as_input_array(var: Variable, value) -> np.ndarray:
    """Convert a user value for ``var``: numbers, lists and arrays of real numbers are accepted
    and cast to the variable's dtype; complex, object and string data are refused."""
    if isinstance(value, Node):
        raise InputError(f"{var.name}: expected a number or an array, got a symbolic node")
    try:
        arr = np.asarray(value)
        if arr.dtype == object and var.dtype.kind == "f" and _all_python_numbers(arr):
            arr = np.asarray(value, dtype=var.dtype)  # Python ints past int64 (2**70) are real numbers too
    except OverflowError:
        raise DTypeError(f"{var.name}: a value of {value!r:.40} does not fit the variable's dtype {var.dtype}") from None
    except Exception as exc:
        raise InputError(f"{var.name}: cannot convert {type(value).__name__} to an array: {exc}") from None
    if arr.dtype == object and var.dtype.kind in "iu" and _all_python_numbers(arr):
        raise DTypeError(f"{var.name}: an integer of {value!r:.40} does not fit the variable's dtype {var.dtype}")
    if arr.dtype.kind not in "biuf":
        raise DTypeError(f"{var.name}: expected real numbers, got an array of dtype {arr.dtype}")
    if arr.dtype != var.dtype:
        arr = arr.astype(var.dtype)
    return arr


def _all_python_numbers(arr: np.ndarray) -> bool:
    """Whether an object array holds only Python ints and floats (NumPy makes one for ints past int64)."""
    return arr.size > 0 and all(type(v) in (int, float) for v in arr.flat)


def bind_inputs(variables: list[Variable], inputs: Mapping) -> tuple[dict, dict]:
    """Match user inputs (keyed by node or by name) to ``variables``; check shapes and bind dims."""
    if not isinstance(inputs, Mapping):
        raise InputError(f"inputs must be a dict {{variable or name: value}}, got {type(inputs).__name__} "
                         f"{inputs!r:.60}")
    by_name: dict[str, list[Variable]] = {}
    for v in variables:
        by_name.setdefault(v.name, []).append(v)
    given: dict[Variable, object] = {}
    for key, value in inputs.items():
        if isinstance(key, str):
            matches = by_name.get(key)
            if not matches:
                known = ", ".join(sorted(by_name)) or "none"
                raise InputError(f"no variable named {key!r} in the graph (variables: {known})")
            if len(matches) > 1:
                raise InputError(f"several variables are named {key!r}; pass the variable nodes as keys")
            key = matches[0]
        elif not isinstance(key, Node):
            raise InputError(f"input keys must be variables or their names, got {type(key).__name__}")
        given[key] = value
    values, dims = {}, {}
    # variables given but not needed still bind their named dims (a gradient such as
    # broadcast_to(1, ("n", 3)) may mention "n" without containing any variable of that shape)
    needed = set(variables)
    for v in [k for k in given if k not in needed and isinstance(k, Variable)] + variables:
        if v not in given:
            raise InputError(f"no value given for the variable {v.name!r} of shape {format_shape(v.shape)}")
        arr = as_input_array(v, given[v])
        bind_dims(v.name, v.shape, arr.shape, dims)
        values[v] = arr
    return values, dims


def _result(arr: np.ndarray):
    """0-d results come back as NumPy scalars (``np.float64``); others as arrays."""
    return arr[()] if arr.ndim == 0 else arr


class Schedule:
    """Forward propagation compiled to a flat list of steps: each node is evaluated once, in
    topological order, reading its inputs from numbered slots; intermediates are freed after
    their last use. ``sd.evaluate`` builds one per call; compiled functions that run on the
    virtual machine keep one (``symdiff.compiler.vm.Program`` adds steps of its own)."""

    def __init__(self, outputs: list[Node]):
        order = toposort(outputs)
        slot = {n: k for k, n in enumerate(order)}
        self.size = len(order)
        self.variables = [n for n in order if isinstance(n, Variable)]
        self.var_slots = [slot[v] for v in self.variables]
        self.constants = [(slot[n], n.value) for n in order if isinstance(n, Constant)]
        self.out_slots = [slot[o] for o in outputs]
        plan = _group_siblings(self._plan(order, slot, outputs), slot)
        last_use: dict[int, int] = {}
        for k, (_, reads) in enumerate(plan):
            for s in reads:
                last_use[s] = k
        keep = set(self.out_slots)
        frees: dict[int, list[int]] = {}
        for s, k in last_use.items():
            if s not in keep:
                frees.setdefault(k, []).append(s)
        # (node or callable, slots read, slot written (None: the callable writes), slots to free)
        self.steps = [(what, tuple(reads), slot[what] if isinstance(what, Node) else None, tuple(frees.get(k, ())))
                      for k, (what, reads) in enumerate(plan)]

    def _plan(self, order: list[Node], slot: dict, outputs: list[Node]) -> list:
        """The steps as (node, slots it reads): one per op node."""
        return [(n, [slot[i] for i in n.inputs]) for n in order if n.op is not None]

    def run(self, values: dict, dims: dict) -> list[np.ndarray]:
        mem: list = [None] * self.size
        for k, value in self.constants:
            mem[k] = value
        for k, v in zip(self.var_slots, self.variables):
            mem[k] = values[v]
        with np.errstate(all="ignore"):
            for what, reads, out, free in self.steps:
                if out is None:  # a step that writes its own slots (an interpreter run)
                    what(mem, dims)
                else:
                    try:
                        r = what.op.perform([mem[i] for i in reads], what, dims)
                    except IndexError as exc:  # NumPy's, for an index past a named dim: a shape error
                        raise ShapeError(f"{what.op.name}: {exc}") from None
                    if type(r) is not np.ndarray:
                        r = np.asarray(r)
                    if r.dtype is not what.dtype and r.dtype != what.dtype:
                        r = r.astype(what.dtype)
                    mem[out] = r
                for i in free:
                    mem[i] = None
        return [mem[k] for k in self.out_slots]


class _GroupStep:
    """One step computing several outputs of one multi-output op (a loop's results) at once."""

    def __init__(self, nodes: list[Node], slot: dict):
        self.nodes = nodes
        self.reads = [slot[i] for i in nodes[0].inputs]
        self.writes = [slot[n] for n in nodes]

    def __call__(self, mem: list, dims: dict) -> None:
        values = self.nodes[0].op.perform_group([mem[i] for i in self.reads], self.nodes, dims)
        for k, v, n in zip(self.writes, values, self.nodes):
            mem[k] = np.asarray(v, dtype=n.dtype)


def _group_siblings(plan: list, slot: dict) -> list:
    """Steps of nodes one op computes together (``graph.group_key``) become one ``_GroupStep``
    (``op.perform_group``) at the place of the first of them."""
    groups: dict = {}
    for what, _ in plan:
        key = group_key(what) if isinstance(what, Node) else None
        if key is not None:
            groups.setdefault(key, []).append(what)
    if not groups:
        return plan
    first = {nodes[0]: nodes for nodes in groups.values()}
    members = {n for nodes in groups.values() for n in nodes}
    out = []
    for what, reads in plan:
        if isinstance(what, Node) and what in members:
            if what in first:
                step = _GroupStep(first[what], slot)
                out.append((step, step.reads))
            continue
        out.append((what, reads))
    return out


def evaluate(outputs, inputs: Mapping | None = None):
    """Evaluate ``outputs`` (a node or a list of nodes) with NumPy, given ``inputs``.

    ``inputs`` maps variables (or their names) to values. Returns one value per output: an array,
    or a NumPy scalar for a 0-d output (a dict of them when ``outputs`` is a dict {name: node}).
    """
    keys = None
    if isinstance(outputs, Mapping):
        keys, outputs = tuple(outputs), list(outputs.values())
    if outputs is None or isinstance(outputs, (str, bytes)) or not (
            isinstance(outputs, Node) or hasattr(outputs, "__iter__")):
        raise InputError(f"evaluate: outputs must be a node, a list of nodes or a dict {{name: node}}, "
                         f"got {type(outputs).__name__} {outputs!r:.60}")
    outs, single = flatten_outputs(outputs, InputError, "evaluate's outputs to be symdiff nodes")
    schedule = Schedule(outs)
    values, dims = bind_inputs(schedule.variables, {} if inputs is None else inputs)
    results = [_result(r) for r in schedule.run(values, dims)]
    if keys is not None:
        return dict(zip(keys, results))
    return results[0] if single else results
