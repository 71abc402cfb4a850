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


def _agree(ref, got, rtol):
    """Compiled and reference results agree: rtol (1e-12) in float64, 1e-5 in float32; the absolute
    tolerance scales with the magnitude of the result (sums are accumulated in different orders)."""
    ref_list = ref if isinstance(ref, list) else [ref]
    got_list = got if isinstance(got, list) else [got]
    assert len(ref_list) == len(got_list)
    for r, g in zip(ref_list, got_list):
        r, g = np.asarray(r), np.asarray(g)
        assert g.dtype == r.dtype, f"dtype {g.dtype} from the compiled path, {r.dtype} from the evaluator"
        tol = max(rtol, 1e-5) if r.dtype == np.float32 else rtol
        finite = r[np.isfinite(r)] if r.dtype.kind == "f" else r
        scale = float(np.max(np.abs(finite), initial=1.0)) if r.dtype.kind == "f" else 1.0
        np.testing.assert_allclose(g, r, rtol=tol, atol=tol * scale)


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
