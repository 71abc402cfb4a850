"""The NumPy reference evaluator: forward propagation in topological order, each node once."""
from __future__ import annotations

from typing import Mapping

import numpy as np

from .errors import DTypeError, InputError
from .graph import Constant, Node, Variable, flatten_outputs, toposort
from .types import bind_dims, format_shape


def as_input_array(var: Variable, value) -> np.ndarray:
    """Convert a user value for ``var``: numbers, lists and arrays of real numbers are accepted
    and cast to the variable's dtype; complex, object and string data are refused."""
    if isinstance(value, Node):
        raise InputError(f"{var.name}: expected a number or an array, got a symbolic node")
    try:
        arr = np.asarray(value)
    except Exception as exc:
        raise InputError(f"{var.name}: cannot convert {type(value).__name__} to an array: {exc}") from None
    if arr.dtype.kind not in "biuf":
        raise DTypeError(f"{var.name}: expected real numbers, got an array of dtype {arr.dtype}")
    if arr.dtype != var.dtype:
        arr = arr.astype(var.dtype)
    return arr


def bind_inputs(variables: list[Variable], inputs: Mapping) -> tuple[dict, dict]:
    """Match user inputs (keyed by node or by name) to ``variables``; check shapes and bind dims."""
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
    for v in [k for k in given if k not in set(variables) and isinstance(k, Variable)] + variables:
        if v not in given:
            raise InputError(f"no value given for the variable {v.name!r} of shape {format_shape(v.shape)}")
        arr = as_input_array(v, given[v])
        bind_dims(v.name, v.shape, arr.shape, dims)
        values[v] = arr
    return values, dims


def _result(arr: np.ndarray):
    """0-d results come back as NumPy scalars (``np.float64``); others as arrays."""
    return arr[()] if arr.ndim == 0 else arr


def evaluate(outputs, inputs: Mapping | None = None):
    """Evaluate ``outputs`` (a node or a list of nodes) with NumPy, given ``inputs``.

    ``inputs`` maps variables (or their names) to values. Returns one value per output: an array,
    or a NumPy scalar for a 0-d output.
    """
    outs, single = flatten_outputs(outputs)
    order = toposort(outs)
    variables = [n for n in order if isinstance(n, Variable)]
    values, dims = bind_inputs(variables, inputs or {})
    # free each intermediate after its last use
    last_use = {}
    for i, n in enumerate(order):
        for inp in n.inputs:
            last_use[inp] = i
    keep = set(outs)
    with np.errstate(all="ignore"):
        for i, node in enumerate(order):
            if isinstance(node, Constant):
                values[node] = node.value
            elif node.op is not None:
                args = [values[x] for x in node.inputs]
                out = np.asarray(node.op.perform(args, node, dims))
                if out.dtype != node.dtype:
                    out = out.astype(node.dtype)
                values[node] = out
                for x in node.inputs:
                    if last_use.get(x) == i and x not in keep:
                        values.pop(x, None)
    results = [_result(values[o]) for o in outs]
    return results[0] if single else results
