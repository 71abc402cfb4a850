"""``import symdiff``, graph building, printing, ``sd.evaluate`` and ``mode="numpy"`` run without
importing Numba (or SciPy); a kernel imports it when it is built, and the LAPACK / scan helpers
that kernels call become Numba dispatchers then."""
import json
import os
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_PROBE = r"""
import json, sys
import numpy as np
import symdiff as sd
x = sd.vector("x", 3)
A = sd.matrix("A", 3, 3)
f = sd.sum(sd.tanh(x) * x) + sd.sum(sd.linalg.inv(A)) + sd.sum(sd.cumsum(x))
g = sd.grad(f, [x, A])
text = sd.pretty(f) + sd.dformat(g[0])
a = np.eye(3) + 0.1
vals = {x: np.array([0.5, -1.0, 2.0]), A: a}
ev = [np.asarray(v).tolist() for v in sd.evaluate(g, vals)]
fn = sd.function([x, A], g, mode="numpy")
nf = [np.asarray(v).tolist() for v in fn(vals[x], a)]
before = {m: m in sys.modules for m in ("numba", "scipy", "llvmlite")}
out = {"before": before, "same": ev == nf}
if sys.argv[1] == "kernel":
    kf = sd.function([x, A], g, mode="numba")
    out["kernel"] = [np.asarray(v).tolist() for v in kf(vals[x], a)]
    out["numpy"] = nf
    out["after"] = "numba" in sys.modules
print(json.dumps(out))
"""


def _probe(what, tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT, SYMDIFF_CACHE_DIR=str(tmp_path / "cache"))
    proc = subprocess.run([sys.executable, "-c", _PROBE, what], capture_output=True, text=True, env=env,
                          timeout=600, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_graphs_printing_evaluate_and_numpy_mode_do_not_import_numba(tmp_path):
    out = _probe("graph", tmp_path)
    assert out["before"] == {"numba": False, "scipy": False, "llvmlite": False}
    assert out["same"]


def test_kernel_imports_numba_and_binds_the_lazy_helpers(tmp_path):
    out = _probe("kernel", tmp_path)
    assert out["before"]["numba"] is False and out["after"] is True
    for k, n in zip(out["kernel"], out["numpy"]):
        np.testing.assert_allclose(k, n, rtol=1e-12, atol=1e-12)


def test_lazy_helpers_are_dispatchers_once_the_runtime_is_imported():
    import symdiff.compiler.runtime  # noqa: F401  (what every kernel imports)
    from numba.core.dispatcher import Dispatcher
    from symdiff.ops import decomp, statistics

    assert isinstance(decomp._inv, Dispatcher) and isinstance(statistics._cumsum3, Dispatcher)
    assert callable(decomp._singular_values)
