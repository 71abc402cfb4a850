"""Graphs 100,000 operations deep build, differentiate, evaluate and get deleted without hitting
Python's recursion limit.

These use ``sd.evaluate`` directly (the NumPy evaluator): the point is the iterative graph
machinery, and compiling a 300,000-node kernel is not what they test.
"""
from __future__ import annotations

import gc
import subprocess
import sys
import textwrap
import weakref

import numpy as np
import pytest

import symdiff as sd

DEPTH = 100_000


def test_chain_100k_ops_builds_differentiates_and_evaluates():
    limit = sys.getrecursionlimit()
    x = sd.scalar("x")
    y = x
    for i in range(DEPTH):                   # alternating sin / tanh: 100,000 ops
        y = sd.sin(y) if i % 2 == 0 else sd.tanh(y)
    assert len(sd.toposort([y])) == DEPTH + 1

    g = sd.grad(y, x)
    x0 = 0.9
    yv, gv = sd.evaluate([y, g], {x: x0})

    # the analytic gradient: the product of the local derivatives along the chain
    v = np.float64(x0)
    prod = np.float64(1.0)
    for i in range(DEPTH):
        if i % 2 == 0:
            prod *= np.cos(v)
            v = np.sin(v)
        else:
            t = np.tanh(v)
            prod *= 1.0 - t * t
            v = t
    assert np.isclose(yv, v, rtol=1e-9, atol=0)
    assert gv != 0.0 and np.isclose(gv, prod, rtol=1e-9, atol=0)
    # and central differences (two forward evaluations of the deep chain)
    (num,) = sd.numeric_grad(y, [x], {x: x0})
    assert np.isclose(gv, num, rtol=1e-4)

    # the library did not dodge the problem by raising the recursion limit
    assert sys.getrecursionlimit() == limit

    # deleting the deep forward and gradient graphs does not crash, and frees them
    ref = weakref.ref(y)
    del y, g, v
    gc.collect()
    assert ref() is None


@pytest.mark.slow
def test_deleting_a_deep_graph_in_a_fresh_interpreter():
    """Build 100,000-deep chains (forward and gradient) and drop them, in a subprocess so that a
    crash in deallocation shows up as a failed test rather than a dead test run. (Slow: the
    default run covers deletion in-process at the end of the test above.)"""
    code = textwrap.dedent(
        f"""
        import gc, sys
        import numpy as np
        import symdiff as sd
        x = sd.vector("x", 2)
        y = x
        for _ in range({DEPTH}):
            y = sd.sin(y)
        keep = sd.sum(y)
        del y
        gc.collect()
        v = sd.evaluate(keep, {{x: np.array([0.5, -0.5])}})
        assert np.isfinite(v)
        del keep, v
        gc.collect()
        # a deep chain that shares one input everywhere, with its gradient
        z = sd.scalar("z")
        w = z
        for _ in range({DEPTH} // 2):
            w = w * 0.5 + z
        gw = sd.grad(w, z)
        assert abs(sd.evaluate(gw, {{z: 1.0}}) - 2.0) < 1e-12
        del w, gw
        gc.collect()
        gc.collect()
        print("ok")
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().endswith("ok")


def test_deep_toposort_and_graph_are_iterative():
    x = sd.scalar("x")
    y = x
    for _ in range(20_000):
        y = sd.cos(y)
    order = sd.toposort([y])
    assert order[0] is x and order[-1] is y and len(order) == 20_001
    G = sd.Graph([y])
    assert sd.get_consumers(x, G) == [order[1]]
