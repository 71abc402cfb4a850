"""Every op declares every rule in one place: a walk over all op classes.

An op is a class with shape inference (``infer``), NumPy evaluation (``perform``, or ``numpy`` for
elementwise ops), a gradient (``bprop``, or ``grad`` for elementwise ops), a Numba lowering
(``lower``, or ``code``/``emit`` for ops fused into loops), a batching rule (``batch``) and a
sparsity-pattern rule (``pattern``). Families (``Elemwise``, ``Reduce``) may give a rule for all
their members. This test fails when any concrete op class misses one.
"""
from __future__ import annotations

import importlib
import pkgutil

import pytest

import symdiff
import symdiff.ops
from symdiff.ops.base import Op
from symdiff.ops.elementwise import Elemwise
from symdiff.ops.reduction import Reduce


def _all_op_classes() -> list[type]:
    for mod in pkgutil.iter_modules(symdiff.ops.__path__):
        importlib.import_module(f"symdiff.ops.{mod.name}")
    importlib.import_module("symdiff.custom")
    seen, stack = [], [Op]
    while stack:
        cls = stack.pop()
        for sub in cls.__subclasses__():
            if sub not in seen:
                seen.append(sub)
                stack.append(sub)
    # concrete ops have a name of their own; families (Elemwise, Reduce, Compare) do not
    return [c for c in seen if c.name != "op" and c.__module__.startswith("symdiff")]


def _overrides(cls: type, method: str, base: type = Op) -> bool:
    return getattr(cls, method, None) is not getattr(base, method, None)


def _missing_rules(cls: type) -> list[str]:
    missing = []
    elemwise = issubclass(cls, Elemwise)
    if not _overrides(cls, "infer"):
        missing.append("infer")
    if not (_overrides(cls, "perform", Elemwise if elemwise else Op) or (elemwise and cls.numpy is not None)):
        missing.append("perform")
    if not (_overrides(cls, "bprop", Elemwise if elemwise else Op) or (elemwise and _overrides(cls, "grad", Elemwise))):
        missing.append("bprop")
    lowered = hasattr(cls, "lower") or hasattr(cls, "emit_indexed") or (
        _overrides(cls, "emit", Elemwise) if elemwise else hasattr(cls, "emit"))
    # reductions are accumulated inside the loop over their input (``init`` / ``update``), and
    # other loop sinks write inside it (``sink_setup`` / ``sink_update``)
    sink = getattr(cls, "loop_sink", False) and hasattr(cls, "sink_setup") and hasattr(cls, "sink_update")
    if not (lowered or sink or (elemwise and cls.code is not None) or (issubclass(cls, Reduce) and cls.update)):
        missing.append("lowering")
    if not _overrides(cls, "batch"):
        missing.append("batch")
    if not _overrides(cls, "pattern"):
        missing.append("pattern")
    return missing


OPS = _all_op_classes()


def test_the_walk_finds_the_ops():
    names = {c.__name__ for c in OPS}
    assert {"Add", "Exp", "Sum", "Matmul", "Index", "Softmax", "Concatenate", "Gather"} <= names
    assert len(OPS) > 50


@pytest.mark.parametrize("cls", OPS, ids=lambda c: f"{c.__module__.rsplit('.', 1)[-1]}.{c.__name__}")
def test_every_rule_is_declared(cls):
    missing = _missing_rules(cls)
    assert not missing, f"{cls.__module__}.{cls.__name__} misses the rules {missing}"


def test_a_missing_rule_is_caught():
    class Half(Op):  # declares only infer and perform: the walk must flag the rest
        name = "half"

        def infer(self, x):
            return x.shape, x.dtype

        def perform(self, values, node, dims):
            return values[0] / 2

    assert _missing_rules(Half) == ["bprop", "lowering", "batch", "pattern"]
