#!/usr/bin/env python
"""Loops (issue 15): symdiff's scan / fori_loop against hand-written Numba, JAX and PyTorch.

Rows (single-threaded, medians, all tools in this process):

* chain   - ``tanh`` applied 1000 times to a vector of 1000 with ``fori_loop``, summed: f + gradient;
            hand Numba stores the 1000 intermediate vectors and runs the chain rule backwards;
            JAX: ``jit(value_and_grad)`` of ``lax.fori_loop``. Also the cold build (graph,
            gradient, compile, first call) in a new process with an empty kernel cache.
* lstm    - ADBench's LSTM objective (examples/lstm.py) with its gradient wrt both parameter
            arrays, l2_c1024 and l4_c1024: JAX ``jit(value_and_grad)`` of the same code with
            ``lax.scan``; PyTorch eager with a Python loop and ``backward``.
* rk4     - RK4-integrated Lotka-Volterra, 1000 steps, loss on the trajectory and its gradient
            wrt the 4 parameters (the ODE of tests/test_loops.py): JAX ``jit(value_and_grad)``.

Usage:  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/loops.py [--quick] [--only chain,lstm,rk4]
"""
import os

for _var in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false "
                           "intra_op_parallelism_threads=1").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ["JAX_ENABLE_X64"] = "1"

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import symdiff as sd  # noqa: E402
import symdiff.numpy as snp  # noqa: E402

from bench import nb_chain  # noqa: E402  (row f's hand-written Numba: stores the intermediates, runs the chain rule back)

_spec = importlib.util.spec_from_file_location("lstm_example", ROOT / "examples" / "lstm.py")
LSTM = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(LSTM)
DEPTH, WIDTH = 1000, 1000


def median_time(fn, repeat: int, *args) -> float:
    fn(*args)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def have(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


# -- chain -----------------------------------------------------------------------------------
CHAIN_BUILD = f"""
import time; t0 = time.perf_counter()
import numpy as np, symdiff as sd
x = sd.vector("x", {WIDTH})
f = sd.sum(sd.fori_loop(0, {DEPTH}, lambda i, c: sd.tanh(c), x))
F = sd.function([x], [f, sd.grad(f, x)])
F(np.linspace(-1, 1, {WIDTH}))
print(time.perf_counter() - t0, F.mode)
"""


def chain_rows(repeat: int) -> list:
    xv = np.linspace(-1, 1, WIDTH)
    x = sd.vector("x", WIDTH)
    f = sd.sum(sd.fori_loop(0, DEPTH, lambda i, c: sd.tanh(c), x))
    F = sd.function([x], [f, sd.grad(f, x)])
    ref = nb_chain(xv, DEPTH)
    assert abs(F(xv)[0] - ref[0]) < 1e-9 and np.allclose(F(xv)[1], ref[1], rtol=1e-12)
    row = {"workload": f"tanh chain x{DEPTH} (n={WIDTH}), fori_loop, f + grad",
           "symdiff": median_time(F, repeat, xv), "hand Numba": median_time(nb_chain, repeat, xv, DEPTH)}
    if have("jax"):
        import jax
        import jax.numpy as jnp

        jf = jax.jit(jax.value_and_grad(lambda x: jnp.sum(jax.lax.fori_loop(0, DEPTH, lambda i, c: jnp.tanh(c), x))))
        jx = jnp.asarray(xv)
        run = lambda: jax.block_until_ready(jf(jx))  # noqa: E731
        row["JAX"] = median_time(run, repeat)
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, SYMDIFF_CACHE_DIR=cache, PYTHONPATH=str(ROOT))
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", CHAIN_BUILD], env=env, capture_output=True, text=True, timeout=600)
        wall = time.perf_counter() - t0
        inner = out.stdout.split()
        row["note"] = (f"cold build in a new process (empty cache): {float(inner[0]):.2f} s after start "
                       f"({wall:.2f} s with interpreter start-up), mode {inner[1]}" if out.returncode == 0 else out.stderr[-300:])
    return [row]


# -- LSTM ------------------------------------------------------------------------------------
def torch_lstm(d):
    import torch

    torch.set_num_threads(1)
    w = torch.tensor(d["main_params"], requires_grad=True)
    w2 = torch.tensor(d["extra_params"], requires_grad=True)
    s0, seq = torch.tensor(d["state"]), torch.tensor(d["sequence"])

    def run():
        w.grad = w2.grad = None
        loss = LSTM.lstm_objective(_TorchNp, _PyLax, w, w2, s0, seq)
        loss.backward()
        return loss.item(), w.grad, w2.grad

    return run


class _TorchNp:
    """The few NumPy names the LSTM objective uses, for PyTorch tensors."""

    @staticmethod
    def concatenate(xs):
        import torch

        return torch.cat(list(xs))

    @staticmethod
    def stack(xs):
        import torch

        return torch.stack(list(xs))

    exp = staticmethod(lambda x: x.exp())
    log = staticmethod(lambda x: x.log())
    tanh = staticmethod(lambda x: x.tanh())
    sum = staticmethod(lambda x: x.sum())


class _PyLax:
    """``lax.scan`` as a Python loop (what eager frameworks run)."""

    @staticmethod
    def scan(f, init, xs):
        c, ys = init, []
        for t in range(len(xs[0])):
            c, y = f(c, tuple(x[t] for x in xs))
            ys.append(y)
        import torch

        return c, torch.stack(ys)


def lstm_rows(repeat: int) -> list:
    rows = []
    for name in ("lstm_l2_c1024", "lstm_l4_c1024"):
        path = LSTM.DATA / f"{name}.txt"
        if not path.exists():
            rows.append({"workload": f"ADBench {name}", "note": "data not found"})
            continue
        d = LSTM.load_lstm(path)
        t0 = time.perf_counter()
        F = LSTM.symdiff_lstm({k: v.shape for k, v in d.items()})
        args = list(d.values())
        got = F(*args)
        build = time.perf_counter() - t0
        row = {"workload": f"ADBench {name}, f + grad", "symdiff": median_time(F, repeat, *args)}
        notes = [f"symdiff build + compile + first call {build:.1f} s (mode {F.mode})"]
        if have("jax"):
            import jax
            import jax.numpy as jnp

            jf = jax.jit(jax.value_and_grad(lambda w, w2, s, q: LSTM.lstm_objective(jnp, jax.lax, w, w2, s, q), argnums=(0, 1)))
            jargs = [jnp.asarray(a) for a in args]
            jv, (jw, jw2) = jf(*jargs)
            err = max(abs(float(jv) - got[0]) / abs(float(jv)),
                      float(np.max(np.abs(np.asarray(jw) - got[1]))) / float(np.max(np.abs(np.asarray(jw)))))
            notes.append(f"max rel. difference from JAX {err:.1e}")
            row["JAX"] = median_time(lambda: jax.block_until_ready(jf(*jargs)), repeat)
        if have("torch"):
            run = torch_lstm(d)
            tv, tw, _ = run()
            notes.append(f"from PyTorch {abs(tv - got[0]) / abs(tv):.1e}")
            row["PyTorch"] = median_time(run, max(3, repeat // 4))
        row["note"] = "; ".join(notes)
        rows.append(row)
    return rows


# -- RK4 -------------------------------------------------------------------------------------
def rk4_rows(repeat: int) -> list:
    from tests.test_loops import rk4_problem, rk4_trajectory_loss

    steps, dt = 1000, 0.01
    values, (u0, p, tg), loss = rk4_problem(steps, dt)
    u0v, pv, target = values["u0"], values["p"], values["target"]
    F = sd.function([u0, p, tg], [loss, sd.grad(loss, p)])
    row = {"workload": "RK4 Lotka-Volterra, 1000 steps, loss + grad wrt 4 params",
           "symdiff": median_time(F, repeat, u0v, pv, target)}
    if have("jax"):
        import jax
        import jax.numpy as jnp

        jf = jax.jit(jax.value_and_grad(lambda pp, u, tt: rk4_trajectory_loss(jnp, jax.lax, u, pp, tt, dt, steps)))
        ja = [jnp.asarray(a) for a in (pv, u0v, target)]
        row["JAX"] = median_time(lambda: jax.block_until_ready(jf(*ja)), repeat)
    return [row]


def fmt(t) -> str:
    if t is None:
        return "-"
    return f"{t * 1e6:.1f} us" if t < 1e-3 else f"{t * 1e3:.2f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="chain,lstm,rk4")
    opts = ap.parse_args()
    repeat = 5 if opts.quick else 20
    rows = []
    for key in opts.only.split(","):
        rows += {"chain": chain_rows, "lstm": lstm_rows, "rk4": rk4_rows}[key](repeat)
    cols = ["symdiff", "hand Numba", "JAX", "PyTorch"]
    print("| workload | " + " | ".join(cols) + " | sd/Numba | sd/JAX | sd/PyTorch |")
    print("|---" * (len(cols) + 4) + "|")
    for r in rows:
        ratios = [f"{r['symdiff'] / r[c]:.2f}" if r.get("symdiff") and r.get(c) else "-" for c in cols[1:]]
        print(f"| {r['workload']} | " + " | ".join(fmt(r.get(c)) for c in cols) + " | " + " | ".join(ratios) + " |")
    for r in rows:
        if r.get("note"):
            print(f"- {r['workload']}: {r['note']}")


if __name__ == "__main__":
    main()
