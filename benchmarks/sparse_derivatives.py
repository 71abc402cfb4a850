#!/usr/bin/env python
"""Sparse Jacobians and constrained NLPs (issue 13): symdiff against CasADi in the same process.

1. ADBench bundle adjustment (ba1..ba5 from ../shared/data/adbench/ba): the values of the sparse
   Jacobian of the 3P residuals wrt all 11N + 3M + P unknowns, one compiled call
   (``sd.jacobian(r, p, sparse=True)``, Numba and the VM), against a hand-written Numba kernel
   (``ba_jacobian_hand``: the chain rule in closed form per observation, written into symdiff's
   CSR order) and CasADi's SX Jacobian (its own colouring) of the same residuals. All three are
   checked against each other on every file, and on small instances (one with a zero rotation)
   against central finite differences and JAX, before timing. ``sd/Numba`` is the ratio of
   symdiff's time to the hand kernel's.
2. Chained Rosenbrock with trigonometric-exponential constraints (Luksan & Vlcek 1999), n
   variables, n - 2 equality constraints: IPOPT with symdiff's derivatives (``sd.optimize.nlp``)
   and CasADi's ``nlpsol('ipopt')``, same options: iterations, and the seconds per iteration
   spent evaluating derivatives (objective, gradient, constraints, Jacobian, Lagrangian Hessian:
   symdiff's callbacks timed around the compiled calls; CasADi's from ``solver.stats()``), plus
   each derivative called directly from Python.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/sparse_derivatives.py [--ba ba1,ba2] [--n 10000]
        [--only ba|nlp] [--no-vm] [--no-check]

For cold compile times give each file its own process and an empty ``SYMDIFF_CACHE_DIR``.
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
import scipy.sparse as sp  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import symdiff as sd  # noqa: E402
import symdiff.numpy as snp  # noqa: E402

_spec = importlib.util.spec_from_file_location("adbench_example", ROOT / "examples" / "adbench.py")
A = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(A)
import casadi as ca  # noqa: E402
from numba import njit  # noqa: E402

SQTHETA_EPS = A.BA_SQTHETA_EPS


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


# -- bundle adjustment: the hand-written Numba reference ----------------------------------------
@njit(error_model="numpy", fastmath={"contract"})  # as symdiff compiles its kernels
def ba_jacobian_hand(cams, points, weights, features, cam_idx, pt_idx, data):
    """The BA Jacobian's non-zeros in closed form (the chain rule written out per observation,
    after ADBench's hand-derived C++ Jacobian), in the CSR order of ``ba_pattern``: for
    observation j, the x row then the y row, 14 entries each (rotation 3, centre 3, focal,
    the row's principal-point coordinate, distortion 2, point 3, weight), then the P weight rows."""
    P = weights.shape[0]
    dXrot = np.empty((3, 3))   # d Xcam / d rot
    dXo = np.empty((3, 3))     # d Xcam / d (X - C)
    G = np.empty((2, 3))       # d residual / d Xcam
    B = np.empty((3, 3))       # d Xcam / d u (u = rot / theta)
    for j in range(P):
        c = cams[cam_idx[j]]
        X = points[pt_idx[j]]
        w = weights[j]
        o0, o1, o2 = X[0] - c[3], X[1] - c[4], X[2] - c[5]
        r0, r1, r2 = c[0], c[1], c[2]
        sq = r0 * r0 + r1 * r1 + r2 * r2
        if sq < SQTHETA_EPS:     # ADBench's small-angle branch: Xcam = Xo + rot x Xo
            x0 = o0 + (r1 * o2 - r2 * o1)
            x1 = o1 + (r2 * o0 - r0 * o2)
            x2 = o2 + (r0 * o1 - r1 * o0)
            # d(rot x Xo)/drot = -[Xo]x ; d/dXo = I + [rot]x
            dXrot[0, 0], dXrot[0, 1], dXrot[0, 2] = 0.0, o2, -o1
            dXrot[1, 0], dXrot[1, 1], dXrot[1, 2] = -o2, 0.0, o0
            dXrot[2, 0], dXrot[2, 1], dXrot[2, 2] = o1, -o0, 0.0
            dXo[0, 0], dXo[0, 1], dXo[0, 2] = 1.0, -r2, r1
            dXo[1, 0], dXo[1, 1], dXo[1, 2] = r2, 1.0, -r0
            dXo[2, 0], dXo[2, 1], dXo[2, 2] = -r1, r0, 1.0
        else:                    # Xcam = Xo cos + (u x Xo) sin + u (u . Xo)(1 - cos), u = rot / theta
            theta = np.sqrt(sq)
            cs, sn = np.cos(theta), np.sin(theta)
            u0, u1, u2 = r0 / theta, r1 / theta, r2 / theta
            uo = u0 * o0 + u1 * o1 + u2 * o2
            k0, k1, k2 = u1 * o2 - u2 * o1, u2 * o0 - u0 * o2, u0 * o1 - u1 * o0   # u x Xo
            omc = 1.0 - cs
            x0 = o0 * cs + k0 * sn + u0 * uo * omc
            x1 = o1 * cs + k1 * sn + u1 * uo * omc
            x2 = o2 * cs + k2 * sn + u2 * uo * omc
            u = (u0, u1, u2)
            o = (o0, o1, o2)
            # d theta = u . drot, d u = W drot with W = (I - u u^T) / theta, so
            # dXcam/drot = a u^T + B W: a = d/dtheta, B = d/du = -sin [Xo]x + (1-cos)(u.Xo I + u Xo^T)
            a0 = -o0 * sn + k0 * cs + u0 * uo * sn
            a1 = -o1 * sn + k1 * cs + u1 * uo * sn
            a2 = -o2 * sn + k2 * cs + u2 * uo * sn
            a = (a0, a1, a2)
            B[0, 0], B[0, 1], B[0, 2] = 0.0, o2 * sn, -o1 * sn
            B[1, 0], B[1, 1], B[1, 2] = -o2 * sn, 0.0, o0 * sn
            B[2, 0], B[2, 1], B[2, 2] = o1 * sn, -o0 * sn, 0.0
            for p in range(3):
                B[p, p] += omc * uo
                for q in range(3):
                    B[p, q] += omc * u[p] * o[q]
            for p in range(3):
                for q in range(3):
                    acc = a[p] * u[q]
                    for s in range(3):
                        Wsq = ((1.0 if s == q else 0.0) - u[s] * u[q]) / theta
                        acc += B[p, s] * Wsq
                    dXrot[p, q] = acc
            # dXcam/dXo = cos I + sin [u]x + (1 - cos) u u^T
            dXo[0, 0], dXo[0, 1], dXo[0, 2] = cs, -u2 * sn, u1 * sn
            dXo[1, 0], dXo[1, 1], dXo[1, 2] = u2 * sn, cs, -u0 * sn
            dXo[2, 0], dXo[2, 1], dXo[2, 2] = -u1 * sn, u0 * sn, cs
            for p in range(3):
                for q in range(3):
                    dXo[p, q] += omc * u[p] * u[q]
        # perspective division and radial distortion
        iz = 1.0 / x2
        pu, pv = x0 * iz, x1 * iz
        rsq = pu * pu + pv * pv
        L = 1.0 + c[9] * rsq + c[10] * rsq * rsq
        g = 2.0 * c[9] + 4.0 * c[10] * rsq            # dL/dp = g p
        f = c[6]
        du, dv = pu * L, pv * L                      # distorted, before focal and centre
        # d distorted / d p = L I + g p p^T ; d p / d Xcam = [[iz, 0, -pu iz], [0, iz, -pv iz]]
        D00, D01, D11 = L + g * pu * pu, g * pu * pv, L + g * pv * pv
        s = w * f * iz
        G[0, 0], G[0, 1], G[0, 2] = s * D00, s * D01, -s * (D00 * pu + D01 * pv)
        G[1, 0], G[1, 1], G[1, 2] = s * D01, s * D11, -s * (D01 * pu + D11 * pv)
        ex, ey = f * du + c[7] - features[j, 0], f * dv + c[8] - features[j, 1]
        for row in range(2):
            base = 28 * j + 14 * row
            for q in range(3):
                jr = G[row, 0] * dXrot[0, q] + G[row, 1] * dXrot[1, q] + G[row, 2] * dXrot[2, q]
                jx = G[row, 0] * dXo[0, q] + G[row, 1] * dXo[1, q] + G[row, 2] * dXo[2, q]
                data[base + q] = jr              # rotation
                data[base + 3 + q] = -jx         # centre
                data[base + 10 + q] = jx         # point
            data[base + 6] = w * (du if row == 0 else dv)    # focal
            data[base + 7] = w                               # this row's principal-point coordinate
            wfp = w * f * (pu if row == 0 else pv)
            data[base + 8] = wfp * rsq                       # k1
            data[base + 9] = wfp * rsq * rsq                 # k2
            data[base + 13] = ex if row == 0 else ey   # weight
        data[28 * P + j] = -2.0 * w


def ba_pattern(N: int, M: int, P: int, cam_idx, pt_idx):
    """The CSR ``(indptr, indices)`` that ``ba_jacobian_hand`` fills: reprojection rows hold the
    camera's parameters but the other principal-point coordinate, the point, the weight."""
    cam_x = np.array([0, 1, 2, 3, 4, 5, 6, 7, 9, 10])
    cam_y = np.array([0, 1, 2, 3, 4, 5, 6, 8, 9, 10])
    ci = 11 * np.asarray(cam_idx)[:, None]
    pi = 11 * N + 3 * np.asarray(pt_idx)[:, None] + np.arange(3)
    wi = 11 * N + 3 * M + np.arange(P)[:, None]
    xrow = np.concatenate([ci + cam_x, pi, wi], axis=1)
    yrow = np.concatenate([ci + cam_y, pi, wi], axis=1)
    reproj = np.stack([xrow, yrow], axis=1).reshape(-1)      # 28 per observation
    indices = np.concatenate([reproj, wi[:, 0]])
    indptr = np.concatenate([np.arange(0, 28 * P + 1, 14), 28 * P + 1 + np.arange(P)])
    return indptr.astype(np.int64), indices.astype(np.int64)


# -- bundle adjustment: symdiff and CasADi -------------------------------------------------
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


def ba_symdiff(b, compiled="numba"):
    """symdiff's sparse Jacobian of the BA residuals wrt the flat unknowns ``p``: ``(J, p)``."""
    N, M, P = len(b["cams"]), len(b["points"]), len(b["weights"])
    p = sd.tensor("p", (11 * N + 3 * M + P,))
    r = A.ba_residuals(snp, p[:11 * N].reshape(N, 11), p[11 * N:11 * N + 3 * M].reshape(M, 3), p[11 * N + 3 * M:],
                       b["features"], b["cam_idx"], b["pt_idx"])
    return sd.SparseJacobian(r, p, compiled=compiled), p


def ba_hand(b):
    """The hand-written Numba Jacobian as a CSR matrix (its pattern, its values)."""
    N, M, P = len(b["cams"]), len(b["points"]), len(b["weights"])
    indptr, indices = ba_pattern(N, M, P, b["cam_idx"], b["pt_idx"])
    data = np.empty(indices.shape[0])
    ba_jacobian_hand(b["cams"], b["points"], b["weights"], b["features"], b["cam_idx"], b["pt_idx"], data)
    return sp.csr_matrix((data, indices, indptr), shape=(3 * P, 11 * N + 3 * M + P))


def flat(b):
    return np.concatenate([b["cams"].ravel(), b["points"].ravel(), b["weights"]])


def peak_rss_gib():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def run_ba(name, out, vm=True):
    b = A.load_ba(next((data_dir() / "ba").glob(f"{name}_*.txt")))
    N, M, P = len(b["cams"]), len(b["points"]), len(b["weights"])
    # ADBench's replicas are identical; perturb them (1%) so that every block differs
    b = A.ba_instance(b["cams"][0], b["points"][0], b["weights"][0], b["features"][0], N, M, P, perturb=0.01)
    pv = flat(b)
    t0 = time.perf_counter()
    J, p = ba_symdiff(b, "numba")
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    J.data({p: pv})
    compile_s = time.perf_counter() - t0
    cached = " (cached)" if J._only_plan().fn.from_cache else ""
    t_sd = best(lambda: J.data({p: pv}))
    if vm:
        Jvm, pvm = ba_symdiff(b, "vm")
        Jvm.data({pvm: pv})
        t_vm = best(lambda: Jvm.data({pvm: pv}), repeat=3)
        del Jvm
    # the hand-written Numba Jacobian: same pattern, same CSR order
    indptr, indices = ba_pattern(N, M, P, b["cam_idx"], b["pt_idx"])
    Msd = J({p: pv})
    assert np.array_equal(indptr, Msd.indptr) and np.array_equal(indices, Msd.indices), "hand pattern != symdiff's"
    data = np.empty(indices.shape[0])
    args = (b["cams"], b["points"], b["weights"], b["features"], b["cam_idx"], b["pt_idx"], data)
    t0 = time.perf_counter()
    ba_jacobian_hand(*args)
    compile_hand = time.perf_counter() - t0
    err_hand = np.abs(data - Msd.data).max() / np.abs(Msd.data).max()
    t_hand = best(lambda: ba_jacobian_hand(*args))
    t0 = time.perf_counter()
    Jc = ba_casadi(b, N, M, P)
    build_ca = time.perf_counter() - t0
    Mc = Jc(pv).sparse().tocsr()
    assert Mc.shape == Msd.shape
    err = abs(Mc - Msd).max() / abs(Msd).max()
    t_ca = best(lambda: Jc(pv))
    Jc = Mc = None  # free CasADi's function before the next file
    out.append((name, f"{N}/{M}/{P}", f"{J.shape[0]}x{J.shape[1]}", J.nnz, f"{J.n_colours} ({J.side})",
                fmt(t_sd), fmt(t_vm) if vm else "-", fmt(t_hand), fmt(t_ca), f"{t_sd / t_hand:.1f}",
                f"{t_sd / t_ca:.2f}", f"{err_hand:.1e} / {err:.1e}",
                f"{build:.1f} + {compile_s:.1f} s{cached}", f"{compile_hand:.1f} s", f"{build_ca:.1f} s",
                f"{peak_rss_gib():.1f} GiB"))


def check_small_ba():
    """Every route to the BA Jacobian on small instances (N=3, M=7, P=20): symdiff's sparse
    Jacobian, the hand-written Numba one, central differences, JAX's jacfwd and CasADi; a second
    instance puts camera 0 at rotation zero (the small-angle branch; CasADi's if_else is left
    out there: it differentiates the full branch too, and gives NaN at theta = 0). Returns the
    largest differences relative to max |J|, by route."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    raw = A.load_ba(next((data_dir() / "ba").glob("ba1_*.txt")))
    N, M, P = 3, 7, 20
    diffs = {}
    for zero_rotation in (False, True):
        b = A.ba_instance(raw["cams"][0], raw["points"][0], raw["weights"][0], raw["features"][0], N, M, P,
                          perturb=0.05)
        if zero_rotation:
            b["cams"][0, :3] = 0.0
        n = 11 * N + 3 * M + P
        pv = flat(b)
        J, p = ba_symdiff(b, None)
        Jv = J({p: pv}).toarray()
        scale = np.abs(Jv).max()
        res = sd.function([p], J.y)
        steps = np.eye(n) * 1e-6 * np.maximum(1, np.abs(pv))
        routes = {
            "hand Numba": ba_hand(b).toarray(),
            "central differences": np.stack([(res(pv + h) - res(pv - h)) / (2 * h[j]) for j, h in enumerate(steps)], 1),
            "JAX jacfwd": np.asarray(jax.jacfwd(lambda q: A.ba_residuals(
                jnp, q[:11 * N].reshape(N, 11), q[11 * N:11 * N + 3 * M].reshape(M, 3), q[11 * N + 3 * M:],
                b["features"], b["cam_idx"], b["pt_idx"]))(jnp.asarray(pv))),
        }
        if not zero_rotation:
            routes["CasADi"] = ba_casadi(b, N, M, P)(pv).full()
        for route, other in routes.items():
            key = f"{route}{' (rotation 0)' if zero_rotation else ''}"
            diffs[key] = np.abs(Jv - other).max() / scale
    return diffs


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
    ap.add_argument("--no-vm", action="store_true", help="skip timing symdiff's virtual machine on BA")
    ap.add_argument("--no-check", action="store_true", help="skip the small BA check (FD, JAX, CasADi)")
    opts = ap.parse_args()
    import numba

    print(f"# numpy {np.__version__}, numba {numba.__version__}, casadi {ca.__version__}; single-threaded")
    if "ba" in opts.only:
        diffs = {} if opts.no_check else check_small_ba()
        print("# BA N=3 M=7 P=20, symdiff's sparse Jacobian vs (max diff / max |J|): "
              + ", ".join(f"{k} {v:.1e}" for k, v in diffs.items()), flush=True)
        rows = []
        for name in opts.ba.split(","):
            run_ba(name, rows, vm=not opts.no_vm)
            print(rows[-1], flush=True)
        print(table(["file", "N/M/P", "shape", "nnz", "colours", "symdiff (numba)", "symdiff (vm)", "hand Numba",
                     "CasADi", "sd/Numba", "sd/CasADi", "rel diff Numba / CasADi", "sd build + compile",
                     "Numba compile", "CasADi build", "peak RSS"], rows))
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
