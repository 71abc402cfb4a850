#!/usr/bin/env python
"""Sparse Jacobians and constrained NLPs (issue 13): symdiff against CasADi in the same process.

1. ADBench bundle adjustment (ba1..ba5 from ../shared/data/adbench/ba): the values of the sparse
   Jacobian of the 3P residuals wrt all 11N + 3M + P unknowns, one compiled call
   (``sd.jacobian(r, p, sparse=True)``), against CasADi's SX Jacobian (its own colouring) of the
   same residuals. Both are checked against each other (and, on a small instance, against
   central finite differences) before timing.
2. Chained Rosenbrock with trigonometric-exponential constraints (Luksan & Vlcek 1999), n
   variables, n - 2 equality constraints: IPOPT with symdiff's derivatives (``sd.optimize.nlp``)
   and CasADi's ``nlpsol('ipopt')``, same options: iterations, and the seconds per iteration
   spent evaluating derivatives (objective, gradient, constraints, Jacobian, Lagrangian Hessian:
   symdiff's callbacks timed around the compiled calls; CasADi's from ``solver.stats()``), plus
   each derivative called directly from Python.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/sparse.py [--ba ba1,ba2] [--n 10000]
"""
import os

for _var in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import symdiff as sd  # noqa: E402
import symdiff.numpy as snp  # noqa: E402

_spec = importlib.util.spec_from_file_location("adbench_example", ROOT / "examples" / "adbench.py")
A = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(A)
import casadi as ca  # noqa: E402


def data_dir() -> Path:
    """shared/data/adbench beside the repository (or beside a parent, for a git worktree)."""
    for parent in ROOT.parents:
        if (parent / "shared" / "data" / "adbench").is_dir():
            return parent / "shared" / "data" / "adbench"
    return A.DATA


def best(f, repeat=7, min_time=0.05):
    f()
    times = []
    for _ in range(repeat):
        k, t0 = 0, time.perf_counter()
        while True:
            f()
            k += 1
            if time.perf_counter() - t0 > min_time:
                break
        times.append((time.perf_counter() - t0) / k)
    return statistics.median(times)


def fmt(t):
    return f"{t * 1e3:.2f} ms" if t >= 1e-3 else f"{t * 1e6:.1f} us"


# -- bundle adjustment -------------------------------------------------------------------------
def ba_casadi(b, N, M, P):
    """The BA residuals as one CasADi SX expression of the flat unknowns, and its Jacobian."""
    p = ca.SX.sym("p", 11 * N + 3 * M + P)
    cams = ca.reshape(p[:11 * N], 11, N)            # column j: camera j
    pts = ca.reshape(p[11 * N:11 * N + 3 * M], 3, M)
    w = p[11 * N + 3 * M:]
    c = ca.SX.sym("c", 11)
    X = ca.SX.sym("X", 3)
    rot, Xo = c[0:3], X - c[3:6]
    sq = ca.dot(rot, rot)
    theta = ca.sqrt(sq)
    wv = rot / theta
    full = Xo * ca.cos(theta) + ca.cross(wv, Xo) * ca.sin(theta) + wv * (ca.dot(wv, Xo) * (1 - ca.cos(theta)))
    Xcam = ca.if_else(sq < A.BA_SQTHETA_EPS, Xo + ca.cross(rot, Xo), full)
    proj = Xcam[0:2] / Xcam[2]
    rsq = ca.dot(proj, proj)
    proj = proj * (1 + c[9] * rsq + c[10] * rsq * rsq) * c[6] + c[7:9]
    project = ca.Function("project", [c, X], [proj]).map(P)
    proj_all = project(cams[:, list(b["cam_idx"])], pts[:, list(b["pt_idx"])])      # 2 x P
    reproj = (proj_all - b["features"].T) * ca.repmat(w.T, 2, 1)
    r = ca.vertcat(ca.vec(reproj), 1 - w * w)     # vec is column-major: x_0, y_0, x_1, y_1, ...
    return ca.Function("J", [p], [ca.jacobian(r, p)])


def run_ba(name, out):
    b = A.load_ba(next((data_dir() / "ba").glob(f"{name}_*.txt")))
    N, M, P = len(b["cams"]), len(b["points"]), len(b["weights"])
    # ADBench's replicas are identical; perturb them (1%) so that every block differs
    b = A.ba_instance(b["cams"][0], b["points"][0], b["weights"][0], b["features"][0], N, M, P, perturb=0.01)
    n = 11 * N + 3 * M + P
    pv = np.concatenate([b["cams"].ravel(), b["points"].ravel(), b["weights"]])
    t0 = time.perf_counter()
    p = sd.tensor("p", (n,))
    r = A.ba_residuals(snp, p[:11 * N].reshape(N, 11), p[11 * N:11 * N + 3 * M].reshape(M, 3), p[11 * N + 3 * M:],
                       b["features"], b["cam_idx"], b["pt_idx"])
    J = sd.SparseJacobian(r, p, compiled="numba")
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    data = J.data({p: pv})
    compile_s = time.perf_counter() - t0
    t_sd = best(lambda: J.data({p: pv}))
    t0 = time.perf_counter()
    Jc = ba_casadi(b, N, M, P)
    build_ca = time.perf_counter() - t0
    Mc = Jc(pv).sparse().tocsr()
    Msd = J({p: pv})
    assert Mc.shape == Msd.shape
    err = abs(Mc - Msd).max() / abs(Msd).max()
    t_ca = best(lambda: Jc(pv))
    t_ca_csr = best(lambda: Jc(pv).sparse())
    out.append((name, f"{N}/{M}/{P}", f"{J.shape[0]}x{J.shape[1]}", J.nnz, Mc.nnz, f"{J.n_colours} ({J.side})",
                fmt(t_sd), fmt(t_ca), fmt(t_ca_csr), f"{t_sd / t_ca:.2f}", f"{err:.1e}",
                f"{build:.1f} + {compile_s:.1f} s", f"{build_ca:.1f} s"))


def check_small_ba():
    """symdiff's sparse BA Jacobian on a small instance against central differences and CasADi."""
    raw = A.load_ba(next((data_dir() / "ba").glob("ba1_*.txt")))
    N, M, P = 3, 7, 20
    b = A.ba_instance(raw["cams"][0], raw["points"][0], raw["weights"][0], raw["features"][0], N, M, P, perturb=0.05)
    n = 11 * N + 3 * M + P
    p = sd.tensor("p", (n,))
    r = A.ba_residuals(snp, p[:11 * N].reshape(N, 11), p[11 * N:11 * N + 3 * M].reshape(M, 3), p[11 * N + 3 * M:],
                       b["features"], b["cam_idx"], b["pt_idx"])
    pv = np.concatenate([b["cams"].ravel(), b["points"].ravel(), b["weights"]])
    Jv = sd.SparseJacobian(r, p)({p: pv}).toarray()
    res = sd.function([p], r)
    fd = np.stack([(res(pv + h) - res(pv - h)) / (2 * h[j]) for j, h in
                   enumerate(np.eye(n) * 1e-6 * np.maximum(1, np.abs(pv)))], axis=1)
    Jc = ba_casadi(b, N, M, P)(pv).full()
    return np.abs(Jv - fd).max() / np.abs(Jv).max(), np.abs(Jv - Jc).max() / np.abs(Jv).max()


# -- constrained NLP ---------------------------------------------------------------------------
def chained_symdiff(n):
    x = sd.tensor("x", (n,))
    f = sd.sum(100 * (x[:-1] ** 2 - x[1:]) ** 2 + (x[:-1] - 1) ** 2)
    a, b, c = x[:-2], x[1:-1], x[2:]
    g = 3 * b ** 3 + 2 * c - 5 + sd.sin(b - c) * sd.sin(b + c) + 4 * b - a * sd.exp(a - b) - 3
    return x, f, g


def chained_casadi(n):
    X = ca.SX.sym("x", n)
    f = ca.sum1(100 * (X[:-1] ** 2 - X[1:]) ** 2 + (X[:-1] - 1) ** 2)
    a, b, c = X[:-2], X[1:-1], X[2:]
    g = 3 * b ** 3 + 2 * c - 5 + ca.sin(b - c) * ca.sin(b + c) + 4 * b - a * ca.exp(a - b) - 3
    return X, f, g


def run_nlp(n, out, direct):
    from symdiff.nlp import NLPFunctions

    x0 = np.full(n, 3.0)
    opts = {"tol": 1e-10}
    x, f, g = chained_symdiff(n)
    t0 = time.perf_counter()
    F = NLPFunctions(f, x, g, None)
    z = x0 + 0.1
    lam = np.ones(n - 2)
    F.objective(z), F.gradient(z), F.constraints(z), F.jacobian(z), F.hessian(z, 1.0, lam)
    setup = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = sd.optimize.nlp(f, x, x0, g=g, solver="ipopt", options=opts)  # kernels come from the cache
    wall_sd = time.perf_counter() - t0
    X, fc, gc = chained_casadi(n)
    t0 = time.perf_counter()
    solver = ca.nlpsol("s", "ipopt", {"x": X, "f": fc, "g": gc},
                       {"ipopt": {"print_level": 0, "sb": "yes", **opts}, "print_time": False})
    setup_ca = time.perf_counter() - t0
    t0 = time.perf_counter()
    sol = solver(x0=x0, lbg=0, ubg=0)
    wall_ca = time.perf_counter() - t0
    st = solver.stats()
    keys = ("nlp_f", "nlp_grad_f", "nlp_g", "nlp_jac_g", "nlp_hess_l")
    deriv_ca = sum(st.get(f"t_wall_{k}", 0.0) for k in keys)
    deriv_sd = sum(res.timings.values())
    gap = np.abs(res.x - np.array(sol["x"]).ravel()).max()
    out.append((n, res.nit, st["iter_count"], f"{res.fun:.10g}", f"{float(sol['f']):.10g}", f"{gap:.1e}",
                fmt(deriv_sd / max(res.nit, 1)), fmt(deriv_ca / max(st["iter_count"], 1)),
                f"{deriv_sd / deriv_ca:.2f}", f"{wall_sd:.2f} s", f"{wall_ca:.2f} s", f"{setup:.1f} s", f"{setup_ca:.1f} s"))
    # each derivative called directly from Python at the same point
    lam_ca = ca.SX.sym("lam", n - 2)
    sig = ca.SX.sym("sig")
    hl = ca.Function("hl", [X, sig, lam_ca], [ca.tril(ca.hessian(sig * fc + ca.dot(lam_ca, gc), X)[0])])
    jg = ca.Function("jg", [X], [ca.jacobian(gc, X)])
    grad = ca.Function("gf", [X], [ca.gradient(fc, X)])
    pairs = {
        "gradient": (lambda: F.gradient(z), lambda: grad(z)),
        "constraint Jacobian": (lambda: F.jacobian(z), lambda: jg(z)),
        "Lagrangian Hessian (lower)": (lambda: F.hessian(z, 1.0, lam), lambda: hl(z, 1.0, lam)),
    }
    for name, (a, b) in pairs.items():
        ta, tb = best(a), best(b)
        direct.append((n, name, fmt(ta), fmt(tb), f"{ta / tb:.2f}"))
    Hs = np.zeros(0)
    Hs = F.hessian(z, 1.0, lam)
    Hc = hl(z, 1.0, lam).sparse().tocoo()
    dense_check = np.abs(np.sort(Hs) - np.sort(Hc.data)).max()
    direct.append((n, f"(Hessian values agree: max sorted gap {dense_check:.1e}; colours {F.H.n_colours} "
                      f"{F.H.colouring}, Jacobian colours {F.J.n_colours} {F.J.side})", "", "", ""))


def table(head, rows):
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ba", default="ba1,ba2,ba3,ba4,ba5")
    ap.add_argument("--n", default="10000")
    ap.add_argument("--only", default="ba,nlp")
    opts = ap.parse_args()
    import numba

    print(f"# numpy {np.__version__}, numba {numba.__version__}, casadi {ca.__version__}; single-threaded")
    if "ba" in opts.only:
        fd_err, ca_err = check_small_ba()
        print(f"# BA N=3 M=7 P=20: symdiff sparse Jacobian vs central differences {fd_err:.1e}, vs CasADi {ca_err:.1e} "
              "(relative to max |J|)")
        rows = []
        for name in opts.ba.split(","):
            run_ba(name, rows)
            print(rows[-1], flush=True)
        print(table(["file", "N/M/P", "shape", "nnz sd", "nnz CasADi", "colours", "symdiff", "CasADi (DM)",
                     "CasADi (+CSR)", "sd/CasADi", "max rel diff", "sd build + compile", "CasADi build"], rows))
    if "nlp" in opts.only:
        rows, direct = [], []
        for n in (int(s) for s in opts.n.split(",")):
            run_nlp(n, rows, direct)
        print(table(["n", "iters sd", "iters CasADi", "f sd", "f CasADi", "max |x gap|", "deriv/iter sd",
                     "deriv/iter CasADi", "sd/CasADi", "solve sd", "solve CasADi", "setup sd", "setup CasADi"], rows))
        print()
        print(table(["n", "derivative (direct Python call)", "symdiff", "CasADi", "sd/CasADi"], direct))


if __name__ == "__main__":
    main()
