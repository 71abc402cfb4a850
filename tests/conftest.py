"""Shared test fixtures.

``run`` evaluates outputs through every backend: the NumPy reference evaluator and, once
``sd.function`` exists, the compiled Numba path, asserting the two agree (rtol 1e-12 in float64).
"""
import numpy as np
import pytest

import symdiff as sd

BACKENDS = ["numpy"] + (["numba"] if hasattr(sd, "function") else [])


def _compiled(outputs, inputs):
    variables = list(inputs)
    f = sd.function(variables, outputs)
    return f(*[inputs[v] for v in variables])


def _agree(ref, got, dtype_rtol):
    ref_list = ref if isinstance(ref, list) else [ref]
    got_list = got if isinstance(got, list) else [got]
    assert len(ref_list) == len(got_list)
    for r, g in zip(ref_list, got_list):
        np.testing.assert_allclose(np.asarray(g), np.asarray(r), rtol=dtype_rtol, atol=dtype_rtol * 1e-3)


@pytest.fixture(params=BACKENDS)
def run(request):
    """``run(outputs, {var: value})`` -> values, through one backend (numba: checked against numpy)."""
    backend = request.param

    def _run(outputs, inputs, rtol=1e-12):
        ref = sd.evaluate(outputs, inputs)
        if backend == "numpy":
            return ref
        got = _compiled(outputs, inputs)
        _agree(ref, got, rtol)
        return got

    _run.backend = backend
    return _run
