"""ADBench's GMM and bundle-adjustment objectives (examples/adbench.py) on symdiff and on JAX.

The objectives are written once against a NumPy-like module; symdiff runs them through
``symdiff.numpy``, JAX through ``jax.numpy``. Checked here:

* GMM (d2_K5, d10_K25): the value against an independent loop transcription of ADBench's
  reference (C++) definition; value and gradient against ``jax.value_and_grad`` to 1e-10
  relative, through ``sd.evaluate`` and ``sd.function``; a few gradient entries against central
  finite differences; float32.
* BA (N=3 cameras, M=5 points, P=10 observations replicated from the file, perturbed): residuals
  and the dense Jacobian against JAX (``jacfwd``) and finite differences, the small-angle
  Rodrigues branch, the per-observation Jacobian through ``snp.vmap``, the Jacobian's sparsity
  pattern, and the sparse Hessian of ``|r|^2 / 2`` against ``jax.hessian``.

Numba compiles are slow, so every compiled check shares one ``sd.function`` (module fixture).
"""
import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

import symdiff as sd
import symdiff.numpy as snp

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data" / "adbench"
GMM_FILES = ["gmm_d2_K5", "gmm_d10_K25"]

if not (DATA / "gmm").is_dir() or not (DATA / "ba").is_dir():
    pytest.skip(f"ADBench data not found under {DATA}", allow_module_level=True)

_spec = importlib.util.spec_from_file_location("adbench_example", ROOT / "examples" / "adbench.py")
A = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(A)

RTOL = 1e-10


@pytest.fixture(scope="module")
def jnp():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    return jnp


def _close(got, want, rtol=RTOL, what=""):
    """Entrywise agreement to ``rtol``; the absolute floor is rtol times 1e-3 of the largest entry
    (entries far below the others carry the rounding of the large ones)."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, what
    scale = float(np.max(np.abs(want), initial=0.0))
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * 1e-3 * scale, err_msg=what)


# -- problems ----------------------------------------------------------------------------------
class GMM:
    """One GMM file: data, symbolic variables, objective and gradient nodes."""

    def __init__(self, name: str, dtype: str = "float64"):
        self.name = name
        self.d = A.load_gmm(DATA / "gmm" / f"{name}.txt")
        d = self.d
        K, D = d["means"].shape
        self.alphas = sd.tensor("alphas", (K,), dtype)
        self.means = sd.tensor("means", (K, D), dtype)
        self.icf = sd.tensor("icf", d["icf"].shape, dtype)
        self.x = sd.tensor("x", d["x"].shape, dtype)
        self.f = A.gmm_objective(snp, self.alphas, self.means, self.icf, self.x, d["gamma"], d["m"])
        self.grads = sd.grad(self.f, self.params)
        self.values = {v: d[v.name].astype(dtype) for v in self.inputs}

    @property
    def params(self):
        return [self.alphas, self.means, self.icf]

    @property
    def inputs(self):
        return [self.alphas, self.means, self.icf, self.x]

    def jax_value_and_grad(self, jnp):
        """JAX's value and gradient of the same objective code (computed once per file)."""
        if not hasattr(self, "_jax"):
            import jax

            d = self.d
            fun = lambda a, mu, q: A.gmm_objective(jnp, a, mu, q, d["x"], d["gamma"], d["m"])  # noqa: E731
            value, grads = jax.jit(jax.value_and_grad(fun, argnums=(0, 1, 2)))(d["alphas"], d["means"], d["icf"])
            self._jax = float(value), [np.asarray(g) for g in grads]
        return self._jax


def gmm_reference(d: dict) -> float:
    """ADBench's GMM objective as its C++ reference computes it: loops over components, Q x by
    the diagonal then the lower triangle column by column; the prior's normaliser via SciPy."""
    from scipy.special import logsumexp, multigammaln

    alphas, means, icf, x = d["alphas"], d["means"], d["icf"], d["x"]
    n, D = x.shape
    K = len(alphas)
    main = np.empty((n, K))
    for k in range(K):
        q, lower = icf[k, :D], icf[k, D:]
        xc = x - means[k]
        Qx = np.exp(q) * xc
        pos = 0
        for i in range(D):          # column i of L
            for j in range(i + 1, D):
                Qx[:, j] += lower[pos] * xc[:, i]
                pos += 1
        main[:, k] = alphas[k] + q.sum() - 0.5 * np.sum(Qx * Qx, axis=1)
    gamma, m = d["gamma"], d["m"]
    nw = D + m + 1
    C = nw * D * (math.log(gamma) - 0.5 * math.log(2)) - multigammaln(0.5 * nw, D)
    prior = sum(0.5 * gamma ** 2 * (np.sum(np.exp(2 * icf[k, :D])) + np.sum(icf[k, D:] ** 2)) - m * icf[k, :D].sum()
                for k in range(K)) - K * C
    return float(np.sum(logsumexp(main, axis=1)) - n * logsumexp(alphas) - n * D * 0.5 * math.log(2 * math.pi) + prior)


class BA:
    """A small BA problem from the ba1 file: 3 cameras, 5 points, 10 observations, perturbed."""

    def __init__(self, zero_rotation_camera: bool = True, dtype: str = "float64"):
        raw = A.load_ba(A.ba_file("ba1"))
        b = A.ba_instance(raw["cams"][0], raw["points"][0], raw["weights"][0], raw["features"][0],
                          N=3, M=5, P=10, perturb=0.05, seed=7)
        if zero_rotation_camera:
            b["cams"][1, :3] = 0.0  # ADBench's small-angle branch of the Rodrigues rotation
        self.b = {k: (v.astype(dtype) if v.dtype.kind == "f" else v) for k, v in b.items()}
        self.cams = sd.tensor("cams", b["cams"].shape, dtype)
        self.points = sd.tensor("points", b["points"].shape, dtype)
        self.weights = sd.tensor("weights", b["weights"].shape, dtype)
        self.r = A.ba_residuals(snp, self.cams, self.points, self.weights, self.b["features"],
                                b["cam_idx"], b["pt_idx"])
        self.values = {self.cams: self.b["cams"], self.points: self.b["points"], self.weights: self.b["weights"]}

    @property
    def params(self):
        return [self.cams, self.points, self.weights]

    def jax_fun(self, jnp):
        b = self.b
        return lambda c, p, w: A.ba_residuals(jnp, c, p, w, b["features"], b["cam_idx"], b["pt_idx"])

    def jax_args(self):
        return self.b["cams"], self.b["points"], self.b["weights"]

    def jax_jacobian(self, jnp, mode: str = "jacfwd"):
        """JAX's dense Jacobian blocks (jit of jacfwd or jacrev), computed once per mode."""
        cache = self.__dict__.setdefault("_jax", {})
        if mode not in cache:
            import jax

            jac = getattr(jax, mode)(self.jax_fun(jnp), argnums=(0, 1, 2))
            cache[mode] = [np.asarray(j) for j in jax.jit(jac)(*self.jax_args())]
        return cache[mode]


def per_observation_jacobian(ba: BA):
    """The Jacobian blocks of each observation's 3 residuals (2 reprojection, 1 weight) wrt its
    camera, point and weight: ``snp.vmap`` of the per-observation ``sd.jacobian``."""
    one = np.zeros(1, dtype=np.int64)

    def obs(cam, X, w, feat):
        r = A.ba_residuals(snp, cam[None], X[None], w[None], feat[None], one, one)
        return sd.jacobian(r, [cam, X, w])

    b = ba.b
    return snp.vmap(obs, in_axes=(0, 0, 0, 0))(ba.cams[b["cam_idx"]], ba.points[b["pt_idx"]], ba.weights,
                                               b["features"])


def blocks_from_dense(ba: BA, Jc, Jp, Jw):
    """The per-observation blocks (P, 3, 11), (P, 3, 3), (P, 3) read off the dense Jacobian."""
    b = ba.b
    P = len(b["weights"])
    rows = np.stack([2 * np.arange(P), 2 * np.arange(P) + 1, 2 * P + np.arange(P)], axis=1)  # (P, 3)
    j = np.arange(P)[:, None]
    return (Jc[rows, b["cam_idx"][:, None]], Jp[rows, b["pt_idx"][:, None]], Jw[rows, j])


# -- one compiled function for every compiled check ---------------------------------------------
@pytest.fixture(scope="module")
def problems():
    gmms = [GMM(name) for name in GMM_FILES]
    ba = BA()
    J = sd.jacobian(ba.r, ba.params)
    blocks = per_observation_jacobian(ba)
    outputs = [o for g in gmms for o in (g.f, *g.grads)] + [ba.r, *J, *blocks]
    inputs = [v for g in gmms for v in g.inputs] + ba.params
    values = {**{k: v for g in gmms for k, v in g.values.items()}, **ba.values}
    fn = sd.function(inputs, outputs)
    compiled = fn(*[values[v] for v in inputs])
    evaluated = sd.evaluate(outputs, values)
    results = {}
    for route, res in (("compiled", compiled), ("evaluate", evaluated)):
        it = iter(res)
        results[route] = {
            **{g.name: [next(it) for _ in range(4)] for g in gmms},
            "ba": [next(it) for _ in range(4)],
            "ba_blocks": [next(it) for _ in range(3)],
        }
    assert next(it, None) is None
    return dict(gmms={g.name: g for g in gmms}, ba=ba, J=J, results=results, fn=fn)


# -- GMM ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", GMM_FILES)
def test_gmm_value_matches_reference_loops(problems, name):
    g = problems["gmms"][name]
    assert np.isclose(problems["results"]["evaluate"][name][0], gmm_reference(g.d), rtol=1e-12, atol=0)


@pytest.mark.parametrize("route", ["evaluate", "compiled"])
@pytest.mark.parametrize("name", GMM_FILES)
def test_gmm_value_and_gradient_match_jax(problems, jnp, name, route):
    g = problems["gmms"][name]
    value, grads = g.jax_value_and_grad(jnp)
    got = problems["results"][route][name]
    assert np.ndim(got[0]) == 0
    _close(got[0], value, what="objective")
    for mine, ref, v in zip(got[1:], grads, g.params):
        _close(mine, ref, what=f"d/d{v.name}")


def test_gmm_d2_numba_kernel_matches_jax(jnp):
    """One GMM file alone compiles to a Numba kernel (the route the benchmark times); the same
    graph as examples/adbench.py's main(), so the two share the on-disk kernel cache."""
    g = GMM("gmm_d2_K5")
    fn = sd.function(g.inputs, [g.f, *g.grads], mode="numba")
    got = fn(*[g.values[v] for v in g.inputs])
    value, grads = g.jax_value_and_grad(jnp)
    assert isinstance(got[0], float)
    _close(got[0], value)
    for mine, ref in zip(got[1:], grads):
        _close(mine, ref)


def test_gmm_d2_full_gradient_by_finite_differences():
    g = GMM("gmm_d2_K5")
    sd.check_grad(g.f, g.params, g.values, rtol=1e-6, atol=1e-5)


def test_gmm_d10_gradient_entries_by_finite_differences(problems):
    g = problems["gmms"]["gmm_d10_K25"]
    grads = problems["results"]["evaluate"]["gmm_d10_K25"][1:]
    rng = np.random.default_rng(3)
    for var, grad in zip(g.params, grads):
        for flat in rng.choice(grad.size, size=3, replace=False):
            point = {k: v.copy() for k, v in g.values.items()}
            h = 1e-5 * max(1.0, abs(point[var].flat[flat]))
            point[var].flat[flat] += h
            up = float(sd.evaluate(g.f, point))
            point[var].flat[flat] -= 2 * h
            down = float(sd.evaluate(g.f, point))
            fd = (up - down) / (2 * h)
            assert abs(fd - grad.flat[flat]) <= 1e-5 * max(1.0, abs(fd)), (var.name, flat, fd, grad.flat[flat])


def test_gmm_float32():
    g64, g32 = GMM("gmm_d2_K5"), GMM("gmm_d2_K5", dtype="float32")
    assert g32.f.dtype == np.float32 and all(gr.dtype == np.float32 for gr in g32.grads)
    ref = sd.evaluate([g64.f, *g64.grads], g64.values)
    got = sd.evaluate([g32.f, *g32.grads], g32.values)
    assert got[0].dtype == np.float32
    for mine, want in zip(got, ref):
        _close(mine, want, rtol=2e-4)


def test_gmm_logsumexp_from_scipy_special(problems):
    """The objective with ``logsumexp`` passed in (``symdiff.scipy.special``) agrees too."""
    import symdiff.scipy.special as special

    g = problems["gmms"]["gmm_d10_K25"]
    f = A.gmm_objective(snp, g.alphas, g.means, g.icf, g.x, g.d["gamma"], g.d["m"], logsumexp=special.logsumexp)
    got = sd.evaluate([f, *sd.grad(f, g.params)], g.values)
    for mine, want in zip(got, problems["results"]["evaluate"]["gmm_d10_K25"]):
        _close(mine, want)


def test_gmm_q_index_builds_adbench_layout():
    D = 4
    idx = A.q_index(D)
    row = np.concatenate([[0.0], 10.0 + np.arange(D), 100.0 + np.arange(D * (D - 1) // 2)])
    Q = row[idx]
    assert np.array_equal(np.diag(Q), 10.0 + np.arange(D))
    assert np.all(np.triu(Q, 1) == 0)
    # column by column: L[1,0], L[2,0], L[3,0], L[2,1], L[3,1], L[3,2]
    assert [Q[1, 0], Q[2, 0], Q[3, 0], Q[2, 1], Q[3, 1], Q[3, 2]] == [100, 101, 102, 103, 104, 105]


# -- bundle adjustment -------------------------------------------------------------------------
def test_load_ba_replicates_adbench_layout():
    b = A.load_ba(A.ba_file("ba1"))
    N, M, P = 49, 7776, 31843
    assert b["cams"].shape == (N, 11) and b["points"].shape == (M, 3)
    assert b["weights"].shape == (P,) and b["features"].shape == (P, 2)
    assert np.array_equal(b["cam_idx"], np.arange(P) % N) and np.array_equal(b["pt_idx"], np.arange(P) % M)
    assert np.all(b["cams"] == b["cams"][0]) and b["cams"][0, 6] == pytest.approx(419.194514)


@pytest.mark.parametrize("route", ["evaluate", "compiled"])
def test_ba_residuals_and_jacobian_match_jax(problems, jnp, route):
    import jax

    ba = problems["ba"]
    r, Jc, Jp, Jw = problems["results"][route]["ba"]
    fun = ba.jax_fun(jnp)
    _close(r, jax.jit(fun)(*ba.jax_args()), what="residuals")
    for mode in ("jacfwd", "jacrev"):
        for mine, ref, v in zip((Jc, Jp, Jw), ba.jax_jacobian(jnp, mode), ba.params):
            _close(mine, ref, what=f"dr/d{v.name} ({mode})")


def test_ba_jacobian_by_finite_differences(problems):
    ba = problems["ba"]
    dense = problems["results"]["evaluate"]["ba"][1:]
    for var, J in zip(ba.params, dense):
        base = ba.values[var]
        for flat in range(base.size):
            point = dict(ba.values)
            h = 1e-6 * max(1.0, abs(base.flat[flat]))
            up, down = base.copy(), base.copy()
            up.flat[flat] += h
            down.flat[flat] -= h
            col = (sd.evaluate(ba.r, {**point, var: up}) - sd.evaluate(ba.r, {**point, var: down})) / (2 * h)
            want = J.reshape(len(col), -1)[:, flat]
            np.testing.assert_allclose(col, want, rtol=1e-5, atol=1e-5 * max(1.0, np.max(np.abs(want))),
                                       err_msg=f"{var.name}[{flat}]")
    sd.check_grad(ba.r, ba.params, ba.values, rtol=1e-5, atol=1e-4)


def test_ba_small_angle_branch(problems, jnp):
    """Camera 1 has a zero rotation: the where-branch X + rot x X gives finite values and
    derivatives (the finite-difference test above steps off rot = 0 onto the exact branch, so
    it checks them against the true rotation too)."""
    ba = problems["ba"]
    assert np.all(ba.b["cams"][1, :3] == 0)
    r, Jc, Jp, Jw = problems["results"]["compiled"]["ba"]
    assert np.all(np.isfinite(Jc)) and np.all(np.isfinite(r))
    obs = np.flatnonzero(ba.b["cam_idx"] == 1)
    assert np.any(Jc[2 * obs, 1, :3] != 0)
    ref = ba.jax_jacobian(jnp)[0]
    _close(Jc[:, 1, :3], ref[:, 1, :3])


@pytest.mark.parametrize("route", ["evaluate", "compiled"])
def test_ba_per_observation_jacobian_by_vmap(problems, route):
    ba = problems["ba"]
    _, Jc, Jp, Jw = problems["results"][route]["ba"]
    blocks = problems["results"][route]["ba_blocks"]
    P = len(ba.b["weights"])
    assert [b.shape for b in blocks] == [(P, 3, 11), (P, 3, 3), (P, 3)]
    for mine, want in zip(blocks, blocks_from_dense(ba, Jc, Jp, Jw)):
        _close(mine, want)


def test_ba_jacobian_sparsity_pattern(problems, jnp):
    """The structural pattern symdiff derives is exactly the non-zero pattern of JAX's Jacobian:
    a reprojection row sees 10 camera parameters (one principal-point coordinate), 3 point
    coordinates and its weight; a weight row sees its weight."""
    from symdiff.sparsity import dependency_patterns

    ba = problems["ba"]
    for var, ref in zip(ba.params, ba.jax_jacobian(jnp)):
        (pat,) = dependency_patterns([ba.r], var)
        ref = np.asarray(ref).reshape(pat.shape)
        assert np.array_equal(pat.toarray() != 0, ref != 0), var.name
    (pc,) = dependency_patterns([ba.r], ba.cams)
    P = len(ba.b["weights"])
    assert np.all(np.diff(pc.indptr)[:2 * P] == 10) and pc[2 * P:].nnz == 0


def test_ba_sparse_hessian_of_sum_of_squares(jnp):
    import jax

    ba = BA()
    n_c, n_p = ba.b["cams"].size, ba.b["points"].size
    theta = sd.tensor("theta", (n_c + n_p + ba.b["weights"].size,))
    cams = snp.reshape(theta[:n_c], ba.b["cams"].shape)
    points = snp.reshape(theta[n_c:n_c + n_p], ba.b["points"].shape)
    r = A.ba_residuals(snp, cams, points, theta[n_c + n_p:], ba.b["features"], ba.b["cam_idx"], ba.b["pt_idx"])
    f = 0.5 * snp.sum(r * r)
    H = sd.SparseHessian(f, theta, compiled=False)
    value = np.concatenate([ba.b["cams"].ravel(), ba.b["points"].ravel(), ba.b["weights"]])
    got = H({theta: value}).toarray()

    b = ba.b

    def fj(t):
        c, p = t[:n_c].reshape(b["cams"].shape), t[n_c:n_c + n_p].reshape(b["points"].shape)
        res = A.ba_residuals(jnp, c, p, t[n_c + n_p:], b["features"], b["cam_idx"], b["pt_idx"])
        return 0.5 * jnp.sum(res * res)

    ref = np.asarray(jax.jit(jax.hessian(fj))(value))
    _close(got, ref, rtol=1e-9)
    assert H.n_colours < theta.shape[0]
    # structure: two cameras never interact, nor two points
    pattern = H.pattern.toarray()
    assert not pattern[:11, 11:n_c].any() and not pattern[n_c:n_c + 3, n_c + 3:n_c + n_p].any()
    assert np.all((ref != 0) <= pattern)


def test_ba_float32():
    b64, b32 = BA(), BA(dtype="float32")
    assert b32.r.dtype == np.float32
    J32 = sd.jacobian(b32.r, b32.params)
    ref = sd.evaluate([b64.r, *sd.jacobian(b64.r, b64.params)], b64.values)
    got = sd.evaluate([b32.r, *J32], b32.values)
    assert all(v.dtype == np.float32 for v in got)
    for mine, want in zip(got, ref):
        _close(mine, want, rtol=2e-3)



def test_bad_input_is_refused(tmp_path):
    bad = tmp_path / "gmm_bad.txt"
    bad.write_text("2 1 1\n0.5\n1 2\n")
    with pytest.raises(ValueError, match="holds 13 numbers, found 6"):
        A.load_gmm(bad)
    bad_ba = tmp_path / "ba_bad.txt"
    bad_ba.write_text("1 1 1\n1 2 3\n")
    with pytest.raises(ValueError, match="20 numbers, found 6"):
        A.load_ba(bad_ba)
    g = GMM("gmm_d2_K5")
    with pytest.raises(ValueError, match="icf"):
        A.gmm_objective(snp, g.alphas, g.means, g.icf[:, :2], g.x, 1.0, 0)
