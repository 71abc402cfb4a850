#!/usr/bin/env python
"""ADBench's GMM and bundle-adjustment workloads: symdiff against JAX, PyTorch and NumPy.

The objectives come from examples/adbench.py, written once against a NumPy-like module: symdiff
runs them through ``symdiff.numpy`` (``sd.grad`` / ``sd.jacobian``, compiled with
``sd.function``), JAX through ``jax.numpy`` (``jit`` of ``value_and_grad``; ``jit(vmap(jacfwd))``
for BA). PyTorch's objectives are written by hand below with the same definitions (eager
``torch.autograd.grad``; ``torch.func.vmap(jacfwd)`` for BA), and so is NumPy's GMM gradient.

* GMM: objective + gradient wrt (alphas, means, icf), one row per input file.
* BA: the Jacobian's values on the ba1 instance (49 cameras, 7776 points, 31843 observations):
  for each observation the 3 x 15 block of its 2 reprojection residuals and 1 weight residual
  wrt its camera (11), point (3) and weight (1), i.e. every structural non-zero of the sparse
  Jacobian (a dense one, 95529 x 55710, would not fit in memory). symdiff builds it as
  ``snp.vmap`` of the per-observation ``sd.jacobian``. No hand-written NumPy reference for BA.

Everything runs single-threaded in one process; a reference that is not installed is skipped.
Run it with the OpenBLAS tuning variables unset (they change the BLAS kernels NumPy and symdiff
call, not JAX's or PyTorch's)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/adbench.py
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/adbench.py --quick --only gmm

Options: ``--quick`` (fewer repeats, no numba-mode BA row), ``--only gmm|ba``, ``--gmm d2_K5,d10_K25``
(files), ``--json out.json``. symdiff's kernels are compiled into a new, empty cache folder, so
its compile times are cold (Numba's own start-up and symdiff's runtime helpers excluded).
"""
import os

# Single-threaded everything, set before NumPy (and its BLAS), JAX and PyTorch are imported.
for _var in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                           " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ["JAX_ENABLE_X64"] = "1"

import tempfile  # noqa: E402

_CACHE = tempfile.mkdtemp(prefix="symdiff-adbench-cache-")
os.environ["SYMDIFF_CACHE_DIR"] = _CACHE  # cold compiles: a new, empty kernel cache

import argparse  # noqa: E402
import gc  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numba  # noqa: E402

import symdiff as sd  # noqa: E402
import symdiff.numpy as snp  # noqa: E402

warnings.filterwarnings("ignore", category=numba.NumbaPerformanceWarning)
perf_counter = time.perf_counter

_spec = importlib.util.spec_from_file_location("adbench_example", ROOT / "examples" / "adbench.py")
A = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(A)

GMM_FILES = ["d2_K5", "d10_K25", "d20_K50", "d64_K10"]
TOOLS = ["symdiff", "JAX", "PyTorch", "NumPy"]


def _optional(name: str):
    try:
        return importlib.import_module(name)
    except ImportError:
        return None



jax = _optional("jax")
torch = _optional("torch")
if jax is not None:
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
if torch is not None:
    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass


# -- timing ------------------------------------------------------------------------------------
def measure(fns: dict, repeat: int, sample_seconds: float = 0.02) -> dict:
    """Median seconds per call of each callable; a sample is back-to-back calls lasting about
    ``sample_seconds``; the samples of the callables are interleaved; gc is off while timing."""
    numbers = {}
    for name, f in fns.items():
        t0 = perf_counter()
        f()
        one = max(perf_counter() - t0, 1e-7)
        numbers[name] = max(1, int(sample_seconds / one))
    samples = {name: [] for name in fns}
    gc.collect()
    gc.disable()
    try:
        for _ in range(repeat):
            for name, f in fns.items():
                k = numbers[name]
                t0 = perf_counter()
                for _ in range(k):
                    f()
                samples[name].append((perf_counter() - t0) / k)
    finally:
        gc.enable()
    return {name: statistics.median(s) for name, s in samples.items()}


def first_call(f) -> tuple[object, float]:
    t0 = perf_counter()
    out = f()
    return out, perf_counter() - t0


def check(name: str, got, want, rtol: float, errors: list) -> bool:
    """``got`` agrees with ``want`` (lists of arrays) to ``rtol``, floor scaled by the magnitude."""
    try:
        for g, w in zip(got, want, strict=True):
            g, w = np.asarray(g, dtype=np.float64), np.asarray(w, dtype=np.float64)
            scale = float(np.max(np.abs(w), initial=1.0))
            np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol * 1e-3 * scale)
        return True
    except AssertionError as exc:
        errors.append(f"{name}: disagrees with symdiff: {str(exc).strip().splitlines()[-1]}")
        return False


# -- GMM: hand-written NumPy and PyTorch ---------------------------------------------------------
def gmm_numpy(alphas, means, icf, x, gamma, m, const):
    """Objective and hand-derived gradient (alphas, means, icf) in NumPy, computing Q_k (x_i - mu_k)
    as Q_k x_i - Q_k mu_k with one matrix product, as examples/adbench.py does."""
    n, D = x.shape
    K = len(alphas)
    q, lower = icf[:, :D], icf[:, D:]
    qdiag = np.exp(q)
    sum_q = q.sum(axis=1)
    Q = np.concatenate([np.zeros((K, 1)), qdiag, lower], axis=1)[:, A.q_index(D)]   # (K, D, D)
    y = (x @ Q.reshape(K * D, D).T).reshape(n, K, D) - np.einsum("kij,kj->ki", Q, means)
    main = alphas + sum_q - 0.5 * np.einsum("nkd,nkd->nk", y, y)                    # (n, K)
    mx = main.max(axis=1, keepdims=True)
    e = np.exp(main - mx)
    s = e.sum(axis=1, keepdims=True)
    resp = e / s                                                                     # softmax over k
    amx = alphas.max()
    ea = np.exp(alphas - amx)
    prior = np.sum(0.5 * gamma * gamma * (np.sum(qdiag * qdiag, axis=1) + np.sum(lower * lower, axis=1)) - m * sum_q)
    f = np.sum(mx + np.log(s)) - n * (amx + np.log(ea.sum())) + prior + const
    # gradient: G = df/dy = -resp y; df/dQ_k = sum_i G_ik (x_i - mu_k)^T; df/dmu_k = -(sum_i G_ik) Q_k
    G = -resp[:, :, None] * y                                                        # (n, K, D)
    Gsum = G.sum(axis=0)                                                             # (K, D)
    dQ = (G.reshape(n, K * D).T @ x).reshape(K, D, D) - Gsum[:, :, None] * means[:, None, :]
    g_alpha = resp.sum(axis=0) - n * ea / ea.sum()
    g_means = -np.einsum("ki,kij->kj", Gsum, Q)
    diag = np.arange(D)
    cols, rows = np.triu_indices(D, 1)
    g_q = resp.sum(axis=0)[:, None] + dQ[:, diag, diag] * qdiag + gamma * gamma * qdiag * qdiag - m
    g_l = dQ[:, rows, cols] + gamma * gamma * lower
    return f, g_alpha, g_means, np.concatenate([g_q, g_l], axis=1)


def gmm_torch_objective(alphas, means, icf, x, gamma, m, qidx, const):
    """The GMM objective in PyTorch (same definition and algorithm as examples/adbench.py's)."""
    n, D = x.shape
    K = alphas.shape[0]
    q, lower = icf[:, :D], icf[:, D:]
    qdiag = torch.exp(q)
    sum_q = q.sum(dim=1)
    Q = torch.cat([torch.zeros(K, 1, dtype=icf.dtype), qdiag, lower], dim=1)[:, qidx]
    Qxc = (x @ Q.reshape(K * D, D).T).reshape(n, K, D) - (Q * means[:, None, :]).sum(dim=2)
    main = alphas + sum_q - 0.5 * (Qxc * Qxc).sum(dim=2)
    prior = (0.5 * gamma * gamma * ((qdiag * qdiag).sum(dim=1) + (lower * lower).sum(dim=1)) - m * sum_q).sum()
    return torch.logsumexp(main, dim=1).sum() - n * torch.logsumexp(alphas, dim=0) + prior + const


# -- BA: PyTorch, one observation -------------------------------------------------------------
def ba_torch_observation(cam, X, w, feat):
    """The 3 residuals of one observation (2 weighted reprojection errors, 1 - w^2) in PyTorch."""
    rot, Xo = cam[0:3], X - cam[3:6]
    sqtheta = (rot * rot).sum()
    small = sqtheta < A.BA_SQTHETA_EPS
    theta = torch.sqrt(torch.where(small, torch.ones_like(sqtheta), sqtheta))
    wv = rot / theta
    cos, sin = torch.cos(theta), torch.sin(theta)
    full = Xo * cos + torch.linalg.cross(wv, Xo) * sin + wv * ((wv * Xo).sum() * (1.0 - cos))
    Xcam = torch.where(small, Xo + torch.linalg.cross(rot, Xo), full)
    proj = Xcam[0:2] / Xcam[2]
    rsq = (proj * proj).sum()
    proj = proj * (1.0 + cam[9] * rsq + cam[10] * rsq * rsq) * cam[6] + cam[7:9]
    return torch.cat([w * (proj - feat), (1.0 - w * w)[None]])


# -- workloads ---------------------------------------------------------------------------------
def run_gmm(name: str, repeat: int, errors: list) -> dict:
    d = A.load_gmm(A.DATA / "gmm" / f"gmm_{name}.txt")
    K, D = d["means"].shape
    n = d["x"].shape[0]
    row = dict(workload=f"GMM {name} (n={n}): f + grad", times={}, cold={}, notes=[])
    args = (d["alphas"], d["means"], d["icf"], d["x"])

    t0 = perf_counter()
    V = [sd.tensor("alphas", (K,)), sd.tensor("means", (K, D)), sd.tensor("icf", d["icf"].shape),
         sd.tensor("x", d["x"].shape)]
    f = A.gmm_objective(snp, *V, d["gamma"], d["m"])
    grads = sd.grad(f, V[:3])
    row["build"] = perf_counter() - t0
    t1 = perf_counter()
    fn = sd.function(V, [f, *grads])
    fn.wait_compiled()  # the default mode may be tiered: 'cold' is until the kernel serves
    ref = fn(*args)
    row["cold"]["symdiff"] = perf_counter() - t1
    row["mode"] = fn.mode
    fns = {"symdiff": lambda: fn(*args)}

    if jax is not None:
        jf = jax.jit(jax.value_and_grad(
            lambda a, mu, q, x: A.gmm_objective(jnp, a, mu, q, x, d["gamma"], d["m"]), argnums=(0, 1, 2)))
        jargs = tuple(jnp.asarray(a) for a in args)
        out, row["cold"]["JAX"] = first_call(lambda: jax.block_until_ready(jf(*jargs)))
        if check("JAX", [out[0], *out[1]], ref, 1e-9, errors):
            fns["JAX"] = lambda: jax.block_until_ready(jf(*jargs))

    if torch is not None:
        const = A.gmm_constant(D, K, n, d["gamma"], d["m"])
        qidx = torch.from_numpy(A.q_index(D))
        tx = torch.from_numpy(d["x"])
        tparams = [torch.from_numpy(a.copy()).requires_grad_() for a in args[:3]]

        def torch_call():
            value = gmm_torch_objective(*tparams, tx, d["gamma"], d["m"], qidx, const)
            return (value.detach(), *torch.autograd.grad(value, tparams))

        out, row["cold"]["PyTorch"] = first_call(torch_call)
        if check("PyTorch", [o.numpy() for o in out], ref, 1e-9, errors):
            fns["PyTorch"] = torch_call

    const = A.gmm_constant(D, K, n, d["gamma"], d["m"])
    out = gmm_numpy(*args, d["gamma"], d["m"], const)
    if check("NumPy", out, ref, 1e-9, errors):
        fns["NumPy"] = lambda: gmm_numpy(*args, d["gamma"], d["m"], const)

    row["times"] = measure(fns, repeat)
    return row


def run_ba(name: str, repeat: int, errors: list, numba_row: bool) -> list[dict]:
    b = A.load_ba(A.ba_file(name))
    N, M, P = len(b["cams"]), len(b["points"]), len(b["weights"])
    label = f"BA {name} (N={N}, M={M}, P={P}): J"
    args = (b["cams"], b["points"], b["weights"], b["features"])
    one = np.zeros(1, dtype=np.int64)

    t0 = perf_counter()
    V = [sd.tensor("cams", (N, 11)), sd.tensor("points", (M, 3)), sd.tensor("weights", (P,)),
         sd.tensor("features", (P, 2))]

    def observation_jacobian(cam, X, w, feat):
        r = A.ba_residuals(snp, cam[None], X[None], w[None], feat[None], one, one)
        return sd.jacobian(r, [cam, X, w])

    J = snp.vmap(observation_jacobian)(V[0][b["cam_idx"]], V[1][b["pt_idx"]], V[2], V[3])
    build = perf_counter() - t0
    rows = []
    modes = ["auto"] + (["numba"] if numba_row else [])
    ref = None
    for mode in modes:
        row = dict(workload=label if mode == "auto" else label + " [mode=numba]", times={}, cold={}, notes=[],
                   build=build)
        try:
            fn = sd.function(V, list(J), mode=mode)
            fn.wait_compiled()  # a tiered function: until its kernel serves
            out = fn(*args)
        except Exception as exc:  # noqa: BLE001 - report this row and go on with the others
            if ref is None:
                raise
            errors.append(f"symdiff mode={mode} (BA): {type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
            continue
        row["cold"]["symdiff"] = fn.compile_seconds
        row["mode"] = fn.mode
        if ref is None:
            ref = out
        elif not check(f"symdiff mode={mode}", out, ref, 1e-9, errors):
            continue
        row["fns"] = {"symdiff": (lambda fn=fn: fn(*args))}
        rows.append(row)

    main = rows[0]
    if jax is not None:
        def obs(cam, X, w, feat):
            return A.ba_residuals(jnp, cam[None], X[None], w[None], feat[None], one, one)

        cam_idx, pt_idx = jnp.asarray(b["cam_idx"]), jnp.asarray(b["pt_idx"])
        jj = jax.jit(lambda c, p, w, f: jax.vmap(jax.jacfwd(obs, argnums=(0, 1, 2)))(c[cam_idx], p[pt_idx], w, f))
        jargs = tuple(jnp.asarray(a) for a in args)
        out, main["cold"]["JAX"] = first_call(lambda: jax.block_until_ready(jj(*jargs)))
        if check("JAX (BA)", out, ref, 1e-9, errors):
            main["fns"]["JAX"] = lambda: jax.block_until_ready(jj(*jargs))

    if torch is not None:
        from torch.func import jacfwd, vmap

        tc, tp, tw, tf = (torch.from_numpy(a) for a in args)
        ci, pi = torch.from_numpy(b["cam_idx"].copy()), torch.from_numpy(b["pt_idx"].copy())
        tjac = vmap(jacfwd(ba_torch_observation, argnums=(0, 1, 2)))

        def torch_call():
            return tjac(tc[ci], tp[pi], tw, tf)

        out, main["cold"]["PyTorch"] = first_call(torch_call)
        if check("PyTorch (BA)", [o.numpy() for o in out], ref, 1e-9, errors):
            main["fns"]["PyTorch"] = torch_call
    main["notes"].append("no hand-written NumPy Jacobian")

    for row in rows:
        row["times"] = measure(row.pop("fns"), repeat)
    return rows


# -- report ------------------------------------------------------------------------------------
def fmt_time(t) -> str:
    if t is None:
        return "-"
    if t >= 1:
        return f"{t:.2f} s"
    if t >= 1e-3:
        return f"{t * 1e3:.2f} ms"
    return f"{t * 1e6:.1f} us"


def fmt_ratio(a, b) -> str:
    return "-" if a is None or b is None else f"{a / b:.2f}"


def table(rows: list[dict], tools: list[str]) -> str:
    others = [t for t in tools if t != "symdiff"]
    head = ["workload", *tools, *(f"sd/{t}" for t in others), "mode"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        t = r["times"]
        cells = [r["workload"], *(fmt_time(t.get(k)) for k in tools),
                 *(fmt_ratio(t.get("symdiff"), t.get(k)) for k in others), r.get("mode", "")]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    head = ["workload (cold)", "symdiff build", *(f"{k} compile" for k in tools if k != "NumPy")]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        c = r["cold"]
        cells = [r["workload"], fmt_time(r.get("build")), *(fmt_time(c.get(k)) for k in tools if k != "NumPy")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def header() -> str:
    parts = [f"python {platform.python_version()}", f"numpy {np.__version__}", f"numba {numba.__version__}"]
    if jax is not None:
        parts.append(f"jax {jax.__version__}")
    if torch is not None:
        parts.append(f"torch {torch.__version__}")
    blas = ""
    try:
        from threadpoolctl import threadpool_info

        blas = ", ".join(f"{i['internal_api']} threads={i['num_threads']}" for i in threadpool_info())
    except ImportError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [f"# ADBench: {', '.join(parts)}; {os.cpu_count()} cpus, load average {load:.2f}"]
    if blas:
        lines.append(f"# BLAS: {blas}")
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if var in os.environ:
            lines.append(f"# WARNING: {var}={os.environ[var]} is set; run with env -u {var} (see the header)")
    missing = [n for n, m in (("JAX", jax), ("PyTorch", torch)) if m is None]
    if missing:
        lines.append(f"# not installed, skipped: {', '.join(missing)}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats; no numba-mode BA row")
    ap.add_argument("--only", default="gmm,ba", help="gmm, ba or both (default)")
    ap.add_argument("--gmm", default=",".join(GMM_FILES), help="GMM files, e.g. d2_K5,d10_K25")
    ap.add_argument("--ba", default="ba1", help="BA file (name prefix), default ba1")
    ap.add_argument("--json", help="also write the results as JSON")
    opts = ap.parse_args(argv)
    if not A.DATA.is_dir():
        print(f"ADBench data not found under {A.DATA}; nothing to do")
        return 0
    repeat = 5 if opts.quick else 15
    print(header(), flush=True)
    only = set(opts.only.split(","))
    rows, errors = [], []
    started = perf_counter()
    try:
        if "gmm" in only:
            for name in opts.gmm.split(","):
                try:
                    rows.append(run_gmm(name, repeat, errors))
                except Exception:  # noqa: BLE001 - report and go on with the next workload
                    errors.append(f"GMM {name}: {traceback.format_exc()}")
                print(f"  done GMM {name} ({perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
        if "ba" in only:
            try:
                rows.extend(run_ba(opts.ba, repeat, errors, numba_row=not opts.quick))
            except Exception:  # noqa: BLE001
                errors.append(f"BA {opts.ba}: {traceback.format_exc()}")
    finally:
        shutil.rmtree(_CACHE, ignore_errors=True)
    tools = [t for t in TOOLS if any(t in r["times"] for r in rows)]
    print()
    print(table(rows, tools))
    print()
    print("Median time per call (objective + gradient for GMM; the Jacobian's non-zero blocks for BA);")
    print("sd/X < 1 means symdiff is faster. Cold: symdiff's sd.function compile (new empty cache),")
    print("JAX's first call of the jitted function (trace + XLA compile), PyTorch's first eager call.")
    for r in rows:
        for note in r["notes"]:
            print(f"note: {r['workload']}: {note}")
    for e in errors:
        print(f"ERROR: {e}")
    print(f"total {perf_counter() - started:.0f} s")
    if opts.json:
        Path(opts.json).write_text(json.dumps(rows, indent=2, default=float))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
