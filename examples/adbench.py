"""ADBench's GMM and bundle-adjustment objectives, written once against a NumPy-like module.

ADBench (Srajer, Kukelova and Fitzgibbon, arXiv 1807.10129) compares automatic-differentiation
tools on a few objectives from computer vision and machine learning. Two of them are written
here as plain functions of a module ``np_``: the very same code runs with ``symdiff.numpy``
(building a graph that symdiff differentiates and compiles) and with ``jax.numpy`` (which is how
the tests and ``benchmarks/adbench.py`` check and time it). That is the porting story: code
written against NumPy runs on symdiff by changing the module it is given.

* ``gmm_objective(np_, alphas, means, icf, x, gamma, m)``: the log-likelihood of a Gaussian
  mixture with a Wishart prior on the inverse covariances, constants included (see its
  docstring for which).
* ``ba_residuals(np_, cams, points, weights, features, cam_idx, pt_idx)``: the bundle-adjustment
  residuals: 2P weighted reprojection errors (Rodrigues rotation, radial distortion) followed by
  P weight errors ``1 - w^2``.
* ``load_gmm(path)`` / ``load_ba(path)`` / ``ba_instance(...)``: readers for ADBench's input
  files (kept in ``shared/data/adbench`` beside the repository).

Run:  python examples/adbench.py    (prints the values and timings; skips when the data are missing)
"""
# symdiff-test: timeout=300
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "adbench"

# ADBench's small-angle test for the Rodrigues rotation: below this |rot|^2 the rotation is
# approximated by X + rot x X (its error, |rot|^2 |X| / 2, is then below float64 rounding).
BA_SQTHETA_EPS = float(np.finfo(np.float64).eps) ** 2
N_CAM_PARAMS = 11  # rotation 3, centre 3, focal 1, principal point 2, radial distortion 2


# -- readers -----------------------------------------------------------------------------------
def _numbers(path: Path) -> list[str]:
    return Path(path).read_text().split()


def load_gmm(path) -> dict:
    """Read an ADBench ``gmm_d{D}_K{K}.txt`` file: alphas (K,), means (K, D), icf (K, D(D+1)/2),
    x (n, D), and the Wishart parameters gamma (float) and m (int)."""
    tok = _numbers(path)
    D, K, n = (int(t) for t in tok[:3])
    pos = 3

    def take(count: int) -> np.ndarray:
        nonlocal pos
        out = np.array(tok[pos:pos + count], dtype=np.float64)
        pos += count
        return out

    icf_size = D * (D + 1) // 2
    expected = 3 + K + K * D + K * icf_size + n * D + 2
    if len(tok) != expected:
        raise ValueError(f"{path}: a GMM file with D={D}, K={K}, n={n} holds {expected} numbers, found {len(tok)}")
    alphas = take(K)
    means = take(K * D).reshape(K, D)
    icf = take(K * icf_size).reshape(K, icf_size)
    x = take(n * D).reshape(n, D)
    gamma, m = float(tok[pos]), int(float(tok[pos + 1]))
    return dict(alphas=alphas, means=means, icf=icf, x=x, gamma=gamma, m=m)


def load_ba(path) -> dict:
    """Read an ADBench ``ba{i}_n{N}_m{M}_p{P}.txt`` file and replicate its one camera, point,
    weight and feature N, M, P times; observation j sees camera j mod N and point j mod M."""
    tok = _numbers(path)
    N, M, P = (int(t) for t in tok[:3])
    if len(tok) != 3 + N_CAM_PARAMS + 3 + 1 + 2:
        raise ValueError(f"{path}: a BA file holds N M P, one camera (11), one point (3), one weight "
                         f"and one feature (2): 20 numbers, found {len(tok)}")
    vals = np.array(tok[3:], dtype=np.float64)
    cam, point, weight, feature = vals[:11], vals[11:14], vals[14], vals[15:17]
    return ba_instance(cam, point, weight, feature, N, M, P)


def ba_instance(cam, point, weight, feature, N: int, M: int, P: int,
                perturb: float = 0.0, seed: int = 0) -> dict:
    """A BA problem of N cameras, M points and P observations from one camera, point, weight and
    feature (ADBench's replication), each entry scaled by ``1 + perturb * normal()`` so that the
    copies differ (``perturb=0`` gives ADBench's exact replicas)."""
    rng = np.random.default_rng(seed)

    def rep(v, count):
        out = np.tile(np.asarray(v, dtype=np.float64), (count, 1))
        return out * (1.0 + perturb * rng.standard_normal(out.shape)) if perturb else out

    j = np.arange(P, dtype=np.int64)
    return dict(cams=rep(cam, N), points=rep(point, M), weights=rep([weight], P)[:, 0],
                features=rep(feature, P), cam_idx=j % N, pt_idx=j % M)


def ba_file(name_start: str = "ba1") -> Path:
    """The path of the ADBench BA file whose name starts with ``name_start``."""
    return next(DATA.joinpath("ba").glob(f"{name_start}_*.txt"))


# -- GMM ---------------------------------------------------------------------------------------
def _logsumexp(np_, a, axis: int):
    """log(sum(exp(a), axis)), stable for large entries: the max is taken out first."""
    mx = np_.max(a, axis=axis, keepdims=True)
    return np_.squeeze(mx, axis) + np_.log(np_.sum(np_.exp(a - mx), axis=axis))


def q_index(D: int) -> np.ndarray:
    """Constant (D, D) int64 index into the row ``[0, exp(q_1..q_D), l_1..l_{D(D-1)/2}]``
    that builds ``Q = diag(exp(q)) + L`` (L strictly lower triangular, filled column by column)."""
    idx = np.zeros((D, D), dtype=np.int64)
    idx[np.arange(D), np.arange(D)] = 1 + np.arange(D)
    cols, rows = np.triu_indices(D, 1)  # column-major order of the strictly lower triangle
    idx[rows, cols] = 1 + D + np.arange(len(rows))
    return idx


def gmm_constant(D: int, K: int, n: int, gamma: float, m: int) -> float:
    """The constant terms of ADBench's GMM objective (they have no gradient):
    ``-n D/2 log(2 pi)`` from the Gaussians and ``-K C`` from the Wishart prior's normaliser,
    ``C = n' D (log(gamma) - log(2)/2) - log Gamma_D(n'/2)``, ``n' = D + m + 1``, with the
    multivariate log-gamma ``log Gamma_D(a) = D(D-1)/4 log(pi) + sum_j lgamma(a + (1-j)/2)``."""
    nw = D + m + 1
    log_gamma_d = 0.25 * D * (D - 1) * math.log(math.pi) + sum(
        math.lgamma(0.5 * nw + 0.5 * (1 - j)) for j in range(1, D + 1))
    C = nw * D * (math.log(gamma) - 0.5 * math.log(2.0)) - log_gamma_d
    return -n * D * 0.5 * math.log(2.0 * math.pi) - K * C


def gmm_objective(np_, alphas, means, icf, x, gamma: float, m: int, logsumexp=None):
    """ADBench's GMM objective (a scalar): with ``Q_k = diag(exp(q_k)) + L_k``,
    ``sum_i logsumexp_k(alpha_k + sum(q_k) - |Q_k (x_i - mu_k)|^2 / 2) - n logsumexp(alpha)
    + sum_k (gamma^2 (|exp(q_k)|^2 + |l_k|^2) / 2 - m sum(q_k)) + gmm_constant(...)``.

    ``np_`` is a NumPy-like module (``symdiff.numpy``, ``jax.numpy``); ``alphas`` (K,), ``means``
    (K, D), ``icf`` (K, D(D+1)/2) rows ``[q_k, l_k]``, ``x`` (n, D); ``gamma``, ``m`` numbers;
    ``logsumexp(a, axis)`` defaults to max + log(sum(exp(a - max))) written with ``np_``.
    ``Q_k (x_i - mu_k)`` is computed as ``Q_k x_i - Q_k mu_k`` (one matrix product for all i, k:
    two to four times faster than a batched product over k, for symdiff and for JAX)."""
    n, D = x.shape
    K = alphas.shape[0]
    if means.shape != (K, D) or icf.shape != (K, D * (D + 1) // 2):
        raise ValueError(f"gmm_objective: with x of shape {tuple(x.shape)} and {K} alphas, means must have "
                         f"shape {(K, D)} and icf {(K, D * (D + 1) // 2)}; got {tuple(means.shape)} and {tuple(icf.shape)}")
    lse = logsumexp or (lambda a, axis: _logsumexp(np_, a, axis))
    q = icf[:, :D]
    l = icf[:, D:]
    sum_q = np_.sum(q, axis=1)
    qdiag = np_.exp(q)
    # Q (K, D, D) as constant-index gathers from [0, exp(q), l]
    row = np_.concatenate([np_.zeros_like(q[:, :1]), qdiag, l], axis=1)
    Q = np_.take(row, q_index(D), axis=1)
    # Q_k (x_i - mu_k) as Q_k x_i - Q_k mu_k: every Q_k x_i from one (n, D) x (D, K D) product
    Qx = np_.reshape(np_.matmul(x, np_.transpose(np_.reshape(Q, (K * D, D)))), (n, K, D))
    Qxc = Qx - np_.sum(Q * means[:, None, :], axis=2)           # (n, K, D)
    main = alphas + sum_q - 0.5 * np_.sum(Qxc * Qxc, axis=2)    # (n, K)
    slse = np_.sum(lse(main, axis=1))
    prior = np_.sum(0.5 * gamma * gamma * (np_.sum(qdiag * qdiag, axis=1) + np_.sum(l * l, axis=1))
                    - m * sum_q)
    return slse - n * lse(alphas, axis=0) + prior + gmm_constant(D, K, n, gamma, m)


# -- bundle adjustment -------------------------------------------------------------------------
def rodrigues_rotate(np_, rot, X):
    """Rotate the rows of ``X`` (P, 3) by the angle-axis vectors ``rot`` (P, 3), with ADBench's
    small-angle branch ``X + rot x X``; both branches are graph ops joined by ``where`` (the
    angle is computed from a safe value in the small branch so its gradient stays finite)."""
    sqtheta = np_.sum(rot * rot, axis=1, keepdims=True)          # (P, 1)
    small = sqtheta < BA_SQTHETA_EPS
    theta = np_.sqrt(np_.where(small, 1.0, sqtheta))
    w = rot / theta
    cos, sin = np_.cos(theta), np_.sin(theta)
    tmp = np_.sum(w * X, axis=1, keepdims=True) * (1.0 - cos)
    full = X * cos + np_.cross(w, X) * sin + w * tmp
    return np_.where(small, X + np_.cross(rot, X), full)


def ba_project(np_, cam, X):
    """Project points ``X`` (P, 3) with cameras ``cam`` (P, 11): rotate ``X - centre``, divide
    by depth, apply radial distortion ``1 + k1 r^2 + k2 r^4``, then focal and principal point."""
    Xcam = rodrigues_rotate(np_, cam[:, 0:3], X - cam[:, 3:6])
    proj = Xcam[:, 0:2] / Xcam[:, 2:3]
    rsq = np_.sum(proj * proj, axis=1, keepdims=True)
    distortion = 1.0 + cam[:, 9:10] * rsq + cam[:, 10:11] * rsq * rsq
    return proj * distortion * cam[:, 6:7] + cam[:, 7:9]


def ba_residuals(np_, cams, points, weights, features, cam_idx, pt_idx):
    """ADBench's BA residuals as one vector of 3P entries: the weighted reprojection errors
    ``w_j (proj_j - feature_j)`` (2 per observation, x then y) followed by ``1 - w_j^2``.

    ``cams`` (N, 11), ``points`` (M, 3), ``weights`` (P,), ``features`` (P, 2); observation j
    sees ``cams[cam_idx[j]]`` and ``points[pt_idx[j]]`` (integer index arrays)."""
    proj = ba_project(np_, cams[cam_idx], points[pt_idx])
    reproj = weights[:, None] * (proj - features)
    return np_.concatenate([np_.reshape(reproj, (-1,)), 1.0 - weights * weights])


# -- demo --------------------------------------------------------------------------------------
def _timed(f, *args, repeat: int = 20) -> tuple[object, float]:
    out, best = None, float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = f(*args)
        best = min(best, time.perf_counter() - t0)
    return out, best


def main() -> None:
    """Compile the GMM objective and gradient on the smallest file, and a small BA Jacobian."""
    import symdiff as sd
    import symdiff.numpy as snp

    gmm_files = sorted(DATA.glob("gmm/gmm_d*_K*.txt"), key=lambda p: p.stat().st_size)
    if not gmm_files or not DATA.joinpath("ba").is_dir():
        print(f"ADBench data not found under {DATA}; nothing to do")
        return

    path = gmm_files[0]
    d = load_gmm(path)
    K, D = d["means"].shape
    alphas = sd.tensor("alphas", (K,))
    means = sd.tensor("means", (K, D))
    icf = sd.tensor("icf", d["icf"].shape)
    x = sd.tensor("x", d["x"].shape)
    f = gmm_objective(snp, alphas, means, icf, x, d["gamma"], d["m"])
    grads = sd.grad(f, [alphas, means, icf])
    t0 = time.perf_counter()
    fn = sd.function([alphas, means, icf, x], [f, *grads])
    compile_s = time.perf_counter() - t0
    args = (d["alphas"], d["means"], d["icf"], d["x"])
    (value, ga, gm, gi), sec = _timed(fn, *args)
    print(f"GMM {path.name} (n={d['x'].shape[0]}, D={D}, K={K}), mode={fn.mode}")
    print(f"  objective = {value:.10g}   |grad| = {np.sqrt(np.sum(ga**2) + np.sum(gm**2) + np.sum(gi**2)):.6g}")
    print(f"  compile {compile_s:.2f} s, objective + gradient {sec * 1e6:.1f} us per call")

    # a small BA instance from the first file, perturbed so that the replicas differ
    raw = load_ba(ba_file("ba1"))
    b = ba_instance(raw["cams"][0], raw["points"][0], raw["weights"][0], raw["features"][0],
                    N=3, M=5, P=10, perturb=0.05, seed=1)
    cams = sd.tensor("cams", b["cams"].shape)
    points = sd.tensor("points", b["points"].shape)
    weights = sd.tensor("weights", b["weights"].shape)
    r = ba_residuals(snp, cams, points, weights, b["features"], b["cam_idx"], b["pt_idx"])
    J = sd.jacobian(r, [cams, points, weights])
    t0 = time.perf_counter()
    fb = sd.function([cams, points, weights], [r, *J])
    compile_s = time.perf_counter() - t0
    (res, Jc, Jp, Jw), sec = _timed(fb, b["cams"], b["points"], b["weights"])
    dense = np.concatenate([Jc.reshape(len(res), -1), Jp.reshape(len(res), -1), Jw], axis=1)
    print(f"BA N=3 M=5 P=10 (from {ba_file('ba1').name}), mode={fb.mode}")
    print(f"  |residuals| = {np.linalg.norm(res):.10g}, dense Jacobian {dense.shape}, "
          f"{np.count_nonzero(dense)} non-zeros")
    print(f"  compile {compile_s:.2f} s, residuals + Jacobian {sec * 1e6:.1f} us per call")


if __name__ == "__main__":
    main()
