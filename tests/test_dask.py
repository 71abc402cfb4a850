"""symdiff.dask: losses, gradients and Hessians summed over row chunks with Dask (issue 14).

Most tests use Dask's local schedulers ("sync", "threads"): the reduction logic does not need a
cluster. Two tests start and close their own ``LocalCluster`` (2 worker processes). Every result
is compared with the single-process compiled function on the whole data set (1e-12 relative) and
the logistic gradient and Hessian also with their closed forms.
"""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

import symdiff as sd

da = pytest.importorskip("dask.array")
sdd = pytest.importorskip("symdiff.dask")

RTOL = 1e-12
D = 5


def _rel(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def logreg(d=D, lam=1e-2, dtype="float64"):
    X = sd.matrix("X", "n", d, dtype=dtype)
    y = sd.vector("y", "n", dtype=dtype)
    w = sd.vector("w", d, dtype=dtype)
    z = X @ w
    loss = sd.mean(sd.softplus(z) - y * z) + 0.5 * lam * sd.sum(w * w)
    return loss, w, X, y


def data(n=1003, d=D, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(dtype)
    y = (rng.random(n) < 0.4).astype(dtype)
    w = (0.3 * rng.standard_normal(d)).astype(dtype)
    return X, y, w


def closed_form(Xv, yv, wv, lam=1e-2):
    """The logistic loss, gradient and Hessian written out in NumPy (an independent route)."""
    z = Xv @ wv
    p = 1.0 / (1.0 + np.exp(-z))
    n = len(yv)
    loss = np.mean(np.logaddexp(0.0, z) - yv * z) + 0.5 * lam * wv @ wv
    g = Xv.T @ (p - yv) / n + lam * wv
    H = (Xv * (p * (1 - p))[:, None]).T @ Xv / n + lam * np.eye(len(wv))
    return loss, g, H


CHUNKINGS = [100, 337, (1, 500, 0, 2, 500), 1003]  # none but the last divides 1003 rows evenly


@pytest.mark.parametrize("chunks", CHUNKINGS, ids=str)
def test_logreg_loss_grad_hessian_match_single_process(chunks):
    loss, w, X, y = logreg()
    f = sd.function([w, X, y], [loss, sd.grad(loss, w), sd.hessian(loss, w)])
    Xv, yv, wv = data()
    df = sdd.from_function(f, row_dim="n", scheduler="sync")
    rows = chunks if isinstance(chunks, tuple) else chunks
    got = df(wv, da.from_array(Xv, chunks=(rows, D)), da.from_array(yv, chunks=(rows,)))
    ref = f(wv, Xv, yv)
    assert isinstance(got[0], float)
    for g, r, c in zip(got, ref, closed_form(Xv, yv, wv)):
        assert _rel(g, r) < RTOL
        assert _rel(g, c) < 1e-10
    # the gradient also against central differences of the Dask loss itself
    dl = sdd.function([w, X, y], loss, scheduler="sync")
    Xd, yd = da.from_array(Xv, chunks=(rows, D)), da.from_array(yv, chunks=(rows,))
    h = 1e-6
    fd = [(dl(wv + h * e, Xd, yd) - dl(wv - h * e, Xd, yd)) / (2 * h) for e in np.eye(D)]
    np.testing.assert_allclose(fd, got[1], rtol=1e-6, atol=1e-8)


def test_threads_scheduler_hvp_sparse_hessian_and_keywords():
    loss, w, X, y = logreg()
    v = sd.vector("v", D)
    Hs = sd.hessian(loss, w, sparse=True)
    outs = {"loss": loss, "hv": sd.hvp(loss, w, v), "H": Hs}
    df = sdd.function([w, v, X, y], outs, scheduler="threads", split_every=3)
    Xv, yv, wv = data(n=2001, seed=1)
    vv = np.linspace(-1, 1, D)
    got = df(wv, vv, y=da.from_array(yv, chunks=97), X=da.from_array(Xv, chunks=(97, D)))
    _, _, H = closed_form(Xv, yv, wv)
    assert set(got) == {"loss", "hv", "H"}
    assert _rel(got["hv"], sd.evaluate(outs["hv"], {w: wv, v: vv, X: Xv, y: yv})) < RTOL
    assert _rel(got["hv"], H @ vv) < 1e-10
    assert got["H"].format == "csr" and got["H"].shape == (D, D)
    assert _rel(got["H"].toarray(), Hs({w: wv, X: Xv, y: yv}).toarray()) < RTOL


def test_sparse_hessian_of_a_separable_model():
    """A Hessian with real sparsity: per-feature terms plus a chain penalty (tridiagonal)."""
    d = 6
    X = sd.matrix("X", "n", d)
    y = sd.vector("y", "n")
    w = sd.vector("w", d)
    loss = sd.mean(sd.sum(sd.softplus(X * w) - (X * w) * y[:, None], axis=1)) + sd.sum((w[1:] - w[:-1]) ** 2)
    Hs = sd.hessian(loss, w, sparse=True)
    df = sdd.function([w, X, y], [Hs, sd.hessian(loss, w)], scheduler="sync")
    rng = np.random.default_rng(3)
    Xv, yv, wv = rng.standard_normal((501, d)), (rng.random(501) < 0.5) * 1.0, rng.standard_normal(d)
    S, Hd = df(wv, da.from_array(Xv, chunks=(64, d)), da.from_array(yv, chunks=64))
    assert S.nnz == 3 * d - 2
    ref = sd.evaluate(sd.hessian(loss, w), {w: wv, X: Xv, y: yv})
    assert _rel(S.toarray(), ref) < RTOL and _rel(Hd, ref) < RTOL


def test_parameter_terms_are_added_once():
    """Outputs with parameter-only parts (penalties, constants of a Hessian) and an output that
    depends on the parameters alone: nothing is counted once per chunk."""
    loss, w, X, y = logreg(lam=3.0)
    pen = 2.0 * sd.sum(w ** 3) + 1.0
    outs = [loss + pen, pen, sd.hessian(loss + pen, w), sd.sum(X @ w) + 5.0 * sd.sum(w) + 7.0,
            sd.where(w > 0, sd.sum(X, axis=0), 1.0 + w)]  # a row sum where w > 0, a parameter term elsewhere
    df = sdd.function([w, X, y], outs, scheduler="sync")
    Xv, yv, wv = data(n=50)
    got = df(wv, da.from_array(Xv, chunks=(7, D)), da.from_array(yv, chunks=7))
    ref = sd.evaluate(outs, {w: wv, X: Xv, y: yv})  # the single-process reference evaluator
    for g, r in zip(got, ref):
        assert _rel(g, r) < RTOL
    assert df.split.lin[1] is None  # the penalty alone never runs on the chunks
    only = sdd.function([w, X, y], pen, scheduler="sync")
    assert only.spec is None and _rel(only(wv, X=Xv, y=yv), ref[1]) < RTOL


def test_softmax_regression_with_matrix_parameter_and_mean_over_all_entries():
    """Multinomial logistic regression (log_softmax along the classes, a (d, k) parameter), plus
    a mean over every entry of a matrix (its size counts n * d) times a parameter term: a row sum
    times a parameter is still linear in the row sums."""
    d, k = 3, 3
    X = sd.matrix("X", "n", d)
    Y = sd.matrix("Y", "n", k)
    W = sd.matrix("W", d, k)
    logits = X @ W
    loss = -sd.mean(sd.sum(Y * sd.log_softmax(logits, axis=1), axis=1)) + sd.mean(X * X) * sd.sum(W * W)
    outs = [loss, sd.grad(loss, W), sd.hessian(loss, W)]
    rng = np.random.default_rng(5)
    Xv = rng.standard_normal((300, d))
    Yv = np.eye(k)[rng.integers(0, k, 300)]
    Wv = rng.standard_normal((d, k))
    # the chunk kernel on the NumPy virtual machine: the row-sum split is what is tested here,
    # and the compiled Hessian of this graph takes Numba seconds
    df = sdd.function([W, X, Y], outs, scheduler="sync", mode="numpy")
    assert set(df.split.row_inputs) == {X, Y} and df.split.param_inputs == [W]
    got = df(Wv, da.from_array(Xv, chunks=(41, d)), da.from_array(Yv, chunks=(41, k)))
    ref = sd.evaluate(outs, {W: Wv, X: Xv, Y: Yv})
    assert got[2].shape == (d, k, d, k)
    for g, r in zip(got, ref):
        assert _rel(g, r) < RTOL
    # the closed forms: p = softmax(X W), G = X^T (p - Y) / n + 2 m W with m = mean(X * X),
    # H[a, c, b, d] = mean_i X_ia X_ib (p_ic [c == d] - p_ic p_id) + 2 m [a == b][c == d]
    Z = Xv @ Wv
    p = np.exp(Z - Z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    m, n = np.mean(Xv * Xv), len(Xv)
    G = Xv.T @ (p - Yv) / n + 2 * m * Wv
    S = np.einsum("ic,cd->icd", p, np.eye(k)) - np.einsum("ic,id->icd", p, p)
    H = np.einsum("ia,ib,icd->acbd", Xv, Xv, S) / n + 2 * m * np.einsum("ab,cd->acbd", np.eye(d), np.eye(k))
    assert _rel(got[1], G) < 1e-10
    assert _rel(got[2], H) < 1e-10


def test_float32():
    loss, w, X, y = logreg(dtype="float32")
    outs = [loss, sd.grad(loss, w)]
    Xv, yv, wv = data(dtype=np.float32)
    got = sdd.function([w, X, y], outs, scheduler="sync")(wv, da.from_array(Xv, chunks=(100, D)),
                                                          da.from_array(yv, chunks=100))
    ref = sd.evaluate(outs, {w: wv, X: Xv, y: yv})
    assert isinstance(got[0], np.float32) and got[1].dtype == np.float32
    assert _rel(got[0], ref[0]) < 1e-5 and _rel(got[1], ref[1]) < 1e-5


@pytest.mark.parametrize("make, what", [
    (lambda z, w: sd.max(z), "max over the rows"),
    (lambda z, w: sd.sum(z) * sd.sum(z), "product of two row sums"),
    (lambda z, w: sd.exp(sd.mean(z)), "exp is not linear"),
    (lambda z, w: sd.sum((z - sd.mean(z)) ** 2), r"combines a row sum .* x - mean\(x\)"),
    (lambda z, w: z * 2.0, "per-row, not a sum"),
    (lambda z, w: sd.sum(z[1:] * z[:-1]), "slices or shifts the rows"),
    (lambda z, w: sd.sum(sd.cumsum(z)), "not known to keep the rows"),
    (lambda z, w: sd.sum(sd.sort(z)[:3]), "not known to keep the rows|slices"),
    (lambda z, w: sd.logsumexp(z), "logsumexp over the rows"),
    (lambda z, w: sd.sum(w) / sd.sum(z), "not linear in its argument 1"),
    (lambda z, w: sd.sum(sd.outer(z, z)), "appears twice"),
    # (their gradients are zero, or do not exist: not checked below)
    (lambda z, w: sd.where(sd.sum(z) > 0, 1.0, 2.0) * sd.sum(w), "greater is not linear"),
    (lambda z, w: sd.cast(sd.sum(z), "int64") * sd.sum(w), "cast is not linear"),
])
def test_non_row_sums_are_refused_naming_the_output(make, what):
    loss, w, X, y = logreg()
    bad = make(X @ w, w)
    with pytest.raises(sdd.RowSumError, match="output 1") as info:
        sdd.function([w, X, y], [loss, bad], scheduler="sync")
    assert isinstance(info.value, sd.SymdiffError)
    assert __import__("re").search(what, str(info.value)), str(info.value)
    # gradients of refused outputs are refused too (they are nodes of the same augmented graph)
    if bad.shape == () and "greater" not in what and "cast" not in what:
        with pytest.raises(sdd.RowSumError):
            sdd.function([w, X, y], [sd.grad(bad, w)], scheduler="sync")


def test_wrong_chunking_and_bad_arguments_are_refused():
    loss, w, X, y = logreg()
    df = sdd.function([w, X, y], [loss, sd.grad(loss, w)], scheduler="sync")
    Xv, yv, wv = data()
    yd = da.from_array(yv, chunks=100)
    with pytest.raises(sd.ShapeError, match=r"'X' .* chunked along axis 1 .* rechunk"):
        df(wv, da.from_array(Xv, chunks=(100, 2)), yd)
    with pytest.raises(sd.ShapeError, match="different row chunks"):
        df(wv, da.from_array(Xv, chunks=(100, D)), da.from_array(yv, chunks=101))
    with pytest.raises(sd.ShapeError, match="'y'"):
        df(wv, da.from_array(Xv, chunks=(100, D)), da.from_array(yv[:-1], chunks=100))
    with pytest.raises(sd.ShapeError, match="'w'"):
        df(np.zeros(D + 1), da.from_array(Xv, chunks=(100, D)), yd)
    with pytest.raises(sd.ShapeError, match="unknown chunk sizes"):
        Xu = da.from_array(Xv, chunks=(100, D))
        df(wv, Xu[Xu[:, 0] > -100], yd)
    with pytest.raises(sd.InputError, match="missing arguments: 'y'"):
        df(wv, da.from_array(Xv, chunks=(100, D)))
    with pytest.raises(sd.InputError, match=r"blocks must be chunk numbers in 0\.\.10"):
        df.on_blocks([11], wv, da.from_array(Xv, chunks=(100, D)), yd)
    with pytest.raises(sd.InputError, match="unknown argument 'z'"):
        df(wv, da.from_array(Xv, chunks=(100, D)), yd, z=1)
    # a NumPy array is one chunk; a transposed matrix input is chunked along its axis 1
    Xt = sd.matrix("Xt", D, "n")
    lt = sd.mean(sd.softplus(w @ Xt) - y * (w @ Xt))
    got = sdd.function([w, Xt, y], lt, scheduler="sync")(wv, da.from_array(Xv.T, chunks=(D, 77)), yv)
    assert _rel(got, sd.evaluate(lt, {w: wv, Xt: Xv.T, y: yv})) < RTOL
    with pytest.raises(sd.ShapeError, match="different row chunks"):
        sdd.function([w, Xt, y], lt, scheduler="sync")(wv, da.from_array(Xv.T, chunks=(D, 77)), yd)


class _FrameLike:
    """Stands in for a dask DataFrame/Series: what symdiff.dask uses of one is to_dask_array."""

    def __init__(self, arr):
        self.arr = arr

    def to_dask_array(self, lengths=False):
        assert lengths, "row chunk sizes must be known"
        return self.arr


def test_dataframe_like_inputs_go_through_to_dask_array():
    loss, w, X, y = logreg()
    Xv, yv, wv = data(n=300)
    got = sdd.function([w, X, y], loss, scheduler="sync")(
        wv, _FrameLike(da.from_array(Xv, chunks=(64, D))), _FrameLike(da.from_array(yv, chunks=64)))
    assert _rel(got, sd.evaluate(loss, {w: wv, X: Xv, y: yv})) < RTOL


def test_packed_graph_rebuilds_the_same_kernel_source():
    """Workers rebuild kernels from the packed graph: the source (and so the disk-cache key) must
    be the one the client compiled."""
    from symdiff.compiler.codegen import Lowering
    from symdiff.dask import worker

    loss, w, X, y = logreg()
    outs = [loss, sd.grad(loss, w), sd.hessian(loss, w)]
    ins, rebuilt = worker.unpack_graph(worker.pack_graph([w, X, y], outs))
    assert Lowering(ins, rebuilt).source() == Lowering([w, X, y], outs).source()
    df = sdd.function([w, X, y], outs, scheduler="sync")
    ins, rebuilt = worker.unpack_graph(df.spec.packed)
    assert Lowering(ins, rebuilt).source() == worker.kernel(df.spec).source


def test_minibatches_and_minimize_match_single_process():
    loss, w, X, y = logreg()
    Xv, yv, wv = data(n=600, seed=2)
    Xd, yd = da.from_array(Xv, chunks=(70, D)), da.from_array(yv, chunks=70)
    outs = [loss, sd.grad(loss, w), sd.hessian(loss, w)]
    df = sdd.from_function(sd.function([w, X, y], outs), scheduler="sync")
    got = df.on_blocks([1, 4], wv, Xd, yd)
    rows = np.r_[70:140, 280:350]
    for g, r in zip(got, sd.evaluate(outs, {w: wv, X: Xv[rows], y: yv[rows]})):
        assert _rel(g, r) < RTOL  # a minibatch's mean divides by its own rows
    obj = sdd.objective(loss, w, scheduler="sync")
    ref = sd.optimize.minimize(loss, w, np.zeros(D), method="newton", inputs={X: Xv, y: yv}, compiled=False)
    for method in ("newton", "l-bfgs-b", "trust-exact", "newton-cg"):
        res = sd.optimize.minimize(obj, w, np.zeros(D), method=method, inputs={X: Xd, y: yd},
                                   tol=1e-10 if method == "newton" else None)
        assert res.success, (method, res.message)
        np.testing.assert_allclose(res.x, ref.x, atol=1e-5 if method in ("newton", "trust-exact") else 1e-4)
    assert _rel(sd.optimize.minimize(obj, w, np.zeros(D), method="newton", inputs={X: Xd, y: yd}).x, ref.x) < 1e-10
    # minibatch Adam against the same steps written out with the single-process function
    res = sdd.minibatch(obj, np.zeros(D), {X: Xd, y: yd}, method="adam", lr=0.05, epochs=3, batch_blocks=2, seed=7)
    rng, x, m, v, t = np.random.default_rng(7), np.zeros(D), np.zeros(D), np.zeros(D), 0
    sizes = np.array([70] * 8 + [40])
    starts = np.r_[0, np.cumsum(sizes)]
    for _ in range(3):
        order = rng.permutation(9)
        for k in range(0, 9, 2):
            rows = np.concatenate([np.arange(starts[b], starts[b + 1]) for b in order[k:k + 2]])
            g = sd.evaluate(outs[1], {w: x, X: Xv[rows], y: yv[rows]})
            t += 1
            m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
            x = x - 0.05 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    assert res.nit == t == 15
    assert _rel(res.x, x) < 1e-10
    with pytest.raises(sd.InputError, match="wrt must be the variables"):
        sd.optimize.minimize(obj, sd.vector("u", D), np.zeros(D), inputs={X: Xd, y: yd})


def _cluster():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=40)
    return cluster, distributed.Client(cluster)


def test_local_cluster_loss_grad_hessian_and_kernels_per_worker():
    loss, w, X, y = logreg()
    f = sd.function([w, X, y], [loss, sd.grad(loss, w), sd.hessian(loss, w)])  # as in the tests above
    Xv, yv, wv = data(n=2003, seed=4)
    ref = f(wv, Xv, yv)
    cluster, client = _cluster()
    try:
        df = sdd.from_function(f, client=client)
        Xd = client.persist(da.from_array(Xv, chunks=(150, D)))
        yd = client.persist(da.from_array(yv, chunks=150))
        for _ in range(2):  # the second call reuses the scattered kernel spec and the built kernels
            got = df(wv, Xd, yd)
            for g, r, c in zip(got, ref, closed_form(Xv, yv, wv)):
                assert _rel(g, r) < RTOL and _rel(g, c) < 1e-10
        stats = df.worker_stats()
        assert len(stats) == 2 and all(s.get("build_seconds", 0) > 0 for s in stats.values()), stats
        assert len({s["pid"] for s in stats.values()}) == 2  # built in each worker process, once
        again = df.warm_up()  # nothing is rebuilt: the same build record comes back
        assert {w: s["build_seconds"] for w, s in again.items()} == {w: s["build_seconds"] for w, s in stats.items()}
        with pytest.raises(sd.ShapeError, match="chunked along axis 1"):
            df(wv, da.from_array(Xv, chunks=(150, 3)), yd)
    finally:
        client.close()
        cluster.close()


def test_example_small_run_on_a_local_cluster():
    """examples/dask_newton.py (10M rows by default, marked slow in test_examples) with few rows."""
    path = Path(__file__).resolve().parents[1] / "examples" / "dask_newton.py"
    spec = importlib.util.spec_from_file_location("dask_newton_example", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = mod.main(rows=40_000, chunk=6_000, features=6, quiet=True)
    res = out["result"]
    assert res.success and np.linalg.norm(res.jac) < 1e-8
    # the same fit on one process: Newton with the closed-form gradient and Hessian, on the data
    # assembled from the same chunks
    Xs, ys = zip(*[mod.chunk_data(b, 6_000 if b < 6 else 4_000, 6, 0)[:2] for b in range(7)])
    Xv, yv, x = np.concatenate(Xs), np.concatenate(ys), np.zeros(6)
    for _ in range(30):
        _, g, H = closed_form(Xv, yv, x, lam=1e-4)
        x = x - np.linalg.solve(H, g)
    assert _rel(res.x, x) < 1e-9
