"""Loops as graph ops (issue 15): scan, fori_loop, while_loop.

Every gradient is checked against central finite differences of an independent NumPy loop, and
where JAX is installed against ``jax.lax.scan`` / ``fori_loop`` run on the same step function
(written once against a NumPy-like module). Compiled checks share a few ``sd.function`` calls:
Numba compiles are the slow part of this file.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import symdiff as sd
import symdiff.numpy as snp
from symdiff.ops.loops import LoopError, ScanOutput

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("lstm_example", ROOT / "examples" / "lstm.py")
LSTM = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(LSTM)

try:
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
except ImportError:  # pragma: no cover - JAX is a test dependency
    jax = None

needs_jax = pytest.mark.skipif(jax is None, reason="JAX is not installed")
EPS = 1e-6


def fd(fun, a: np.ndarray) -> np.ndarray:
    """Central finite differences of a scalar function of the array ``a``."""
    a = np.asarray(a, dtype=np.float64)
    out = np.empty(a.size)
    for k in range(a.size):
        e = np.zeros(a.size)
        e[k] = EPS
        out[k] = (fun(a + e.reshape(a.shape)) - fun(a - e.reshape(a.shape))) / (2 * EPS)
    return out.reshape(a.shape)


def loop_nodes(outputs) -> list:
    return [n for n in sd.toposort(outputs if isinstance(outputs, list) else [outputs])
            if isinstance(n.op, ScanOutput)]


# ---------------------------------------------------------------------------------------------
# fori_loop: the tanh chain
# ---------------------------------------------------------------------------------------------
def tanh_chain_numpy(x, w, depth):
    c = x
    for _ in range(depth):
        c = np.tanh(c * w + 0.1)
    return c.sum()


def test_fori_loop_is_one_node_and_its_gradient_matches_finite_differences():
    x, w = sd.vector("x", 6), sd.scalar("w")
    f = sd.sum(sd.fori_loop(0, 12, lambda i, c: sd.tanh(c * w + 0.1), x))
    gx, gw = sd.grad(f, [x, w])
    assert len(loop_nodes([f])) == 1                      # one node, whatever the trip count
    assert len({n.op.loop for n in loop_nodes([gx, gw])}) == 2  # the forward loop and one reverse loop
    xv, wv = np.linspace(-1, 1, 6), 0.9
    fv, gxv, gwv = sd.evaluate([f, gx, gw], {x: xv, w: wv})
    assert fv == pytest.approx(tanh_chain_numpy(xv, wv, 12), rel=1e-14)
    np.testing.assert_allclose(gxv, fd(lambda a: tanh_chain_numpy(a, wv, 12), xv), rtol=1e-6, atol=1e-10)
    assert gwv == pytest.approx(fd(lambda a: tanh_chain_numpy(xv, a, 12), np.array(wv)), rel=1e-6)


def test_fori_loop_index_and_bounds():
    x = sd.scalar("x")
    # sum of x * i for i in 3..9: the index is an int64 node inside the body
    total = sd.fori_loop(3, 10, lambda i, c: c + x * i, 0.0)
    g = sd.grad(total, x)
    assert sd.evaluate([total, g], {x: 2.0}) == [pytest.approx(2.0 * sum(range(3, 10))), pytest.approx(sum(range(3, 10)))]
    empty = sd.fori_loop(5, 5, lambda i, c: c * 2, x)  # zero steps: the initial value
    assert sd.evaluate(empty, {x: 1.5}) == 1.5
    with pytest.raises(LoopError, match="lower must be a Python int"):
        sd.fori_loop(sd.scalar("a"), 3, lambda i, c: c, x)


@pytest.fixture(scope="module")
def chain_functions():
    """The tanh chain compiled with two trip counts (10 and 10,000 steps)."""
    out = {}
    for T in (10, 10000):
        x, w = sd.vector("x", 8), sd.scalar("w")
        f = sd.sum(sd.fori_loop(0, T, lambda i, c: sd.tanh(c * w + 0.1), x))
        out[T] = sd.function([x, w], [f, *sd.grad(f, [x, w])], mode="numba")
    return out


def test_compiled_loop_matches_numpy_and_its_source_does_not_depend_on_the_trip_count(chain_functions):
    xv, wv = np.linspace(-1, 1, 8), 0.7
    for T, F in chain_functions.items():
        fv, gx, gw = F(xv, wv)
        ref = sd.evaluate(F.outputs, {"x": xv, "w": wv})
        assert fv == pytest.approx(tanh_chain_numpy(xv, wv, T), rel=1e-12)
        np.testing.assert_allclose(gx, ref[1], rtol=1e-12, atol=1e-300)
        assert gw == pytest.approx(ref[2], rel=1e-12)
        assert "for " in F.source and "_body0" in F.source
    # the trip count is a kernel argument: 10 and 10,000 steps give the same source (and kernel)
    assert chain_functions[10].source == chain_functions[10000].source


# ---------------------------------------------------------------------------------------------
# scan: carries, scanned inputs, stacked outputs, params; against JAX
# ---------------------------------------------------------------------------------------------
def rnn(np_, lax, h0, W, U, xs):
    """A small tanh RNN written once for (numpy-like, lax-like) modules."""
    def step(h, x):
        h = np_.tanh(W @ h + U @ x)
        return h, np_.sum(h * h)

    h, ys = lax.scan(step, h0, xs)
    return np_.sum(h) + np_.sum(ys * np_.arange(1.0, xs.shape[0] + 1.0))


def rnn_numpy(h0, W, U, xs):
    h, tot = h0, 0.0
    for t in range(xs.shape[0]):
        h = np.tanh(W @ h + U @ xs[t])
        tot += (t + 1) * np.sum(h * h)
    return np.sum(h) + tot


@pytest.fixture(scope="module")
def rnn_case():
    rng = np.random.default_rng(1)
    vals = {"h0": rng.normal(size=3), "W": rng.normal(size=(3, 3)) * 0.5, "U": rng.normal(size=(3, 2)),
            "xs": rng.normal(size=(7, 2))}
    v = {k: sd.tensor(k, a.shape) for k, a in vals.items()}
    f = rnn(snp, sd.lax, *v.values())
    return vals, v, f


def test_scan_gradient_wrt_every_input(rnn_case):
    vals, v, f = rnn_case
    grads = sd.grad(f, list(v.values()))
    got = sd.evaluate([f, *grads], {v[k]: a for k, a in vals.items()})
    assert got[0] == pytest.approx(rnn_numpy(*vals.values()), rel=1e-13)
    for k, g in zip(vals, got[1:]):
        ref = fd(lambda a: rnn_numpy(*[a if kk == k else vals[kk] for kk in vals]), vals[k])
        np.testing.assert_allclose(g, ref, rtol=1e-6, atol=1e-8, err_msg=k)


@needs_jax
def test_scan_value_gradient_and_hessian_agree_with_jax(rnn_case):
    vals, v, f = rnn_case
    jf = lambda *a: rnn(jnp, jax.lax, *a)  # noqa: E731
    args = [jnp.asarray(a) for a in vals.values()]
    jval, jgrads = jax.value_and_grad(jf, argnums=(0, 1, 2, 3))(*args)
    grads = sd.grad(f, list(v.values()))
    H = sd.hessian(f, v["W"])
    F = sd.function(list(v.values()), [f, *grads, H], mode="numba")
    got = F(*vals.values())
    assert got[0] == pytest.approx(float(jval), rel=1e-12)
    for g, jg in zip(got[1:5], jgrads):
        np.testing.assert_allclose(g, np.asarray(jg), rtol=1e-10, atol=1e-12)
    jH = np.asarray(jax.hessian(jf, argnums=1)(*args))
    np.testing.assert_allclose(got[5], jH, rtol=1e-9, atol=1e-11)


def test_hessian_vector_product_through_a_loop_matches_finite_differences_of_the_gradient(rnn_case):
    vals, v, f = rnn_case
    gW = sd.grad(f, v["W"])
    d = sd.tensor("d", (3, 3))
    hvp = sd.hvp(f, v["W"], d)
    dv = np.random.default_rng(2).normal(size=(3, 3))
    inputs = {v[k]: a for k, a in vals.items()}
    got = sd.evaluate(hvp, {**inputs, d: dv})
    G = sd.function(list(v.values()), gW, mode="vm")
    args = list(vals.values())
    plus = G(args[0], args[1] + EPS * dv, *args[2:])
    minus = G(args[0], args[1] - EPS * dv, *args[2:])
    np.testing.assert_allclose(got, (plus - minus) / (2 * EPS), rtol=1e-6, atol=1e-8)


def test_reverse_scan_and_pytrees():
    xs = sd.vector("xs", 5)
    a = sd.scalar("a")

    def step(carry, x):
        s, p = carry["s"], carry["p"]
        return {"s": s * a + x, "p": p * x}, (s, x * 2)

    carry, (ss, x2) = sd.scan(step, {"s": 0.0, "p": 1.0}, xs, reverse=True)
    xv, av = np.array([1.0, 2.0, 3.0, 4.0, 5.0]), 0.5
    got = sd.evaluate([carry["s"], carry["p"], ss, x2], {xs: xv, a: av})
    s, states = 0.0, np.zeros(5)
    for t in reversed(range(5)):  # JAX's reverse: steps run backwards, outputs stay aligned with xs
        states[t] = s
        s = s * av + xv[t]
    assert got[0] == pytest.approx(s) and got[1] == pytest.approx(np.prod(xv))
    np.testing.assert_allclose(got[2], states)
    np.testing.assert_allclose(got[3], 2 * xv)
    gs = sd.grad(carry["s"] + sd.sum(ss), a)

    def ref(av_):
        s, tot = 0.0, 0.0
        for t in reversed(range(5)):
            tot += s
            s = s * av_ + xv[t]
        return s + tot

    assert sd.evaluate(gs, {xs: xv, a: av}) == pytest.approx(fd(ref, np.array(av)), rel=1e-7)


def test_checkpointed_scan_gives_the_same_gradient():
    x, xs = sd.vector("x", 3), sd.matrix("xs", 12, 3)
    step = lambda c, xt: (sd.sin(c) * xt + c, sd.sum(c * xt))  # noqa: E731
    outs = []
    for ck in (None, 4):
        c, ys = sd.scan(step, x, xs, checkpoint=ck)
        f = sd.sum(c) + sd.sum(ys)
        outs.append([f, *sd.grad(f, [x, xs])])
    rng = np.random.default_rng(3)
    inputs = {x: rng.normal(size=3), xs: rng.normal(size=(12, 3))}
    plain, ckpt = sd.evaluate(outs[0], inputs), sd.evaluate(outs[1], inputs)
    for p, c in zip(plain, ckpt):
        np.testing.assert_allclose(c, p, rtol=1e-13, atol=1e-14)
    # the checkpointed gradient stores the outer carries only: 12 / 4 = 3 of them
    stored = [n for n in loop_nodes(outs[1]) if n.op.loop.kind_of(n.op.k)[0] == "history" and n.shape[0] == 3]
    assert stored and all(n.shape == (3, 3) for n in stored)
    with pytest.raises(LoopError, match="positive divisor"):
        sd.scan(step, x, xs, checkpoint=5)


# ---------------------------------------------------------------------------------------------
# an ODE: RK4-integrated Lotka-Volterra, 1000 steps
# ---------------------------------------------------------------------------------------------
def lotka_volterra(np_, u, p):
    a, b, c, d = p[0], p[1], p[2], p[3]
    x, y = u[0], u[1]
    return np_.stack([a * x - b * x * y, d * x * y - c * y])


def rk4_trajectory_loss(np_, lax, u0, p, target, dt, steps):
    def step(u, tgt):
        k1 = lotka_volterra(np_, u, p)
        k2 = lotka_volterra(np_, u + dt / 2 * k1, p)
        k3 = lotka_volterra(np_, u + dt / 2 * k2, p)
        k4 = lotka_volterra(np_, u + dt * k3, p)
        u = u + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        return u, np_.sum((u - tgt) ** 2)

    _, errs = lax.scan(step, u0, target)
    return np_.mean(errs)


class _NumpyLax:
    @staticmethod
    def scan(f, init, xs):
        c, ys = init, []
        for t in range(len(xs)):
            c, y = f(c, xs[t])
            ys.append(y)
        return c, np.array(ys)


def rk4_problem(steps: int = 1000, dt: float = 0.01):
    """The ODE problem of the test and of benchmarks/loops.py: values, variables and the loss."""
    rng = np.random.default_rng(4)
    values = {"u0": np.array([1.0, 0.5]), "p": np.array([1.1, 0.4, 0.4, 0.1]),
              "target": np.abs(rng.normal(size=(steps, 2))) + 0.5}
    u0, p, tg = sd.vector("u0", 2), sd.vector("p", 4), sd.matrix("target", steps, 2)
    return values, (u0, p, tg), rk4_trajectory_loss(snp, sd.lax, u0, p, tg, dt, steps)


def test_rk4_lotka_volterra_gradient_wrt_parameters():
    steps, dt = 1000, 0.01
    values, (u0, p, tg), loss = rk4_problem(steps, dt)
    u0v, pv, target = values["u0"], values["p"], values["target"]
    gp = sd.grad(loss, p)
    F = sd.function([u0, p, tg], [loss, gp], mode="numba")
    lv, gv = F(u0v, pv, target)
    ref = lambda pp: rk4_trajectory_loss(np, _NumpyLax, u0v, pp, target, dt, steps)  # noqa: E731
    assert lv == pytest.approx(ref(pv), rel=1e-12)
    np.testing.assert_allclose(gv, fd(ref, pv), rtol=1e-6)
    assert len(loop_nodes([loss])) == 1


# ---------------------------------------------------------------------------------------------
# while_loop
# ---------------------------------------------------------------------------------------------
def test_while_loop_forward_and_its_gradient_error():
    a = sd.scalar("a")
    # Newton's iteration for sqrt(a), with a step counter
    x, k = sd.while_loop(lambda c: sd.abs(c[0] * c[0] - a) > 1e-12,
                         lambda c: (0.5 * (c[0] + a / c[0]), c[1] + 1), (a, 0))
    got = sd.evaluate([x, k], {a: 2.0})
    assert got[0] == pytest.approx(np.sqrt(2.0), rel=1e-15) and 3 <= int(got[1]) <= 8
    F = sd.function([a], [x, k], mode="numba")
    assert F(9.0)[0] == pytest.approx(3.0) and F(9.0)[1] == sd.evaluate(k, {a: 9.0})
    with pytest.raises(sd.GradError, match="max_steps"):
        sd.grad(x, a)
    # with max_steps it is a masked scan, differentiable: d sqrt(a) / da = 1 / (2 sqrt(a))
    y = sd.while_loop(lambda c: sd.abs(c * c - a) > 1e-12, lambda c: 0.5 * (c + a / c), a, max_steps=30)
    assert sd.evaluate(sd.grad(y, a), {a: 2.0}) == pytest.approx(1 / (2 * np.sqrt(2.0)), rel=1e-9)


# ---------------------------------------------------------------------------------------------
# batching, sparsity, printing, errors, depth
# ---------------------------------------------------------------------------------------------
def test_vmap_of_a_scan_matches_a_loop_over_the_batch():
    x, w = sd.vector("x", 3), sd.scalar("w")
    c, ys = sd.scan(lambda c, t: (sd.sin(c * w) + t, sd.sum(c)), x, np.arange(4.0))
    xb = sd.matrix("xb", 5, 3)
    cb, yb = sd.vmap([c, ys], x, xb)
    xv = np.random.default_rng(5).normal(size=(5, 3))
    got_c, got_y = sd.evaluate([cb, yb], {xb: xv, w: 0.8})
    for b in range(5):
        rc, ry = sd.evaluate([c, ys], {x: xv[b], w: 0.8})
        np.testing.assert_allclose(got_c[b], rc, rtol=1e-14)
        np.testing.assert_allclose(got_y[b], ry, rtol=1e-14)


def test_sparse_hessian_through_a_loop():
    # a chain whose Hessian is tridiagonal-banded: each step couples neighbours
    x = sd.vector("x", 12)
    c = sd.fori_loop(0, 2, lambda i, c: c + 0.1 * sd.sin(c) * 0.5, x)
    f = sd.sum(c[1:] * c[:-1]) + sd.sum(sd.exp(c) * 0.1)
    Hs = sd.hessian(f, x, sparse=True)
    H = sd.hessian(f, x)
    xv = np.random.default_rng(6).normal(size=12)
    dense = sd.evaluate(H, {x: xv})
    np.testing.assert_allclose(Hs({x: xv}).toarray(), dense, rtol=1e-12, atol=1e-14)
    pattern = Hs.pattern.toarray() != 0
    assert (np.abs(dense) > 0)[~pattern].sum() == 0   # never misses an entry
    assert pattern.sum() == 12 + 2 * 11               # and is exactly tridiagonal here


def test_printing_shows_each_body_once():
    x, w = sd.vector("x", 3), sd.scalar("w")
    f = sd.sum(sd.fori_loop(0, 100, lambda i, c: sd.tanh(c * w), x))
    g = sd.grad(f, w)
    text = sd.dprint([f, g], print=False)
    assert text.count("scan body L") == 1 and text.count("scan body (gradient) L") == 1
    assert "T=100" in text and "carry history" in text
    pretty = sd.pretty([f, g])
    assert pretty.count("tanh(c0 * p0)") == 1  # the reverse body reads the stored step results (cn0)
    assert "1 - cn0 * cn0" in pretty


def test_step_functions_that_do_not_fit_are_refused():
    x = sd.vector("x", 3)
    with pytest.raises(LoopError, match="changes shape"):
        sd.scan(lambda c, t: (sd.concatenate([c, c]), None), x, length=3)
    with pytest.raises(LoopError, match="structure"):
        sd.scan(lambda c, t: ((c, c), None), x, length=3)
    with pytest.raises(LoopError, match="disagree on the step count"):
        sd.scan(lambda c, t: (c, None), x, sd.vector("xs", 4), length=5)
    with pytest.raises(LoopError, match="give xs or length"):
        sd.scan(lambda c, t: (c, None), x)
    with pytest.raises(LoopError, match="static length"):
        sd.scan(lambda c, t: (c + t, None), x, sd.matrix("xs", "n", 3))
    i = sd.tensor("i", (), "int64")
    with pytest.raises(LoopError, match="changes dtype"):
        sd.fori_loop(0, 3, lambda k, c: c * 0.5, i)


def test_a_loop_of_100000_steps_builds_differentiates_and_compiles_like_a_short_one():
    x = sd.vector("x", 4)
    f = sd.sum(sd.fori_loop(0, 100000, lambda i, c: c * 0.99999 + 1e-6 * sd.cos(c), x))
    g = sd.grad(f, x)
    assert len(sd.toposort([g])) < 40  # a constant-size graph
    F = sd.function([x], [f, g], mode="numba")
    xv = np.ones(4)
    fv, gv = F(xv)
    ref = sd.function([x], [f, g], mode="vm")
    # the VM runs the body with NumPy step by step: compare with a short loop's closed form instead
    c = xv.copy()
    for _ in range(100000):
        c = c * 0.99999 + 1e-6 * np.cos(c)
    assert fv == pytest.approx(c.sum(), rel=1e-10)
    assert ref is not None and np.all(np.isfinite(gv))


# ---------------------------------------------------------------------------------------------
# ADBench's LSTM, written once for (numpy, lax) modules
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lstm_data():
    path = LSTM.DATA / "lstm_l2_c1024.txt"
    if path.exists():
        d = LSTM.load_lstm(path)
        d["sequence"] = d["sequence"][:40]  # a short sequence keeps the test quick
        return d
    rng = np.random.default_rng(7)  # ADBench's shapes with random values
    seq = np.eye(14)[rng.integers(0, 14, 40)]
    return {"main_params": rng.random((4, 56)), "extra_params": rng.random((3, 14)),
            "state": rng.random((4, 14)), "sequence": seq}


def test_lstm_objective_value_and_gradient(lstm_data):
    d = lstm_data
    v = {k: sd.tensor(k, a.shape) for k, a in d.items()}
    f = LSTM.lstm_objective(snp, sd.lax, *v.values())
    gw, gw2 = sd.grad(f, [v["main_params"], v["extra_params"]])
    got = sd.evaluate([f, gw, gw2], {v[k]: a for k, a in d.items()})
    assert got[0] == pytest.approx(LSTM.lstm_objective_numpy(*d.values()), rel=1e-13)
    ref = fd(lambda a: LSTM.lstm_objective_numpy(d["main_params"], a, d["state"], d["sequence"]), d["extra_params"])
    np.testing.assert_allclose(got[2], ref, rtol=1e-6, atol=1e-9)
    if jax is not None:
        jf = lambda w, w2: LSTM.lstm_objective(jnp, jax.lax, w, w2, d["state"], d["sequence"])  # noqa: E731
        jv, (jw, jw2) = jax.value_and_grad(jf, argnums=(0, 1))(d["main_params"], d["extra_params"])
        assert got[0] == pytest.approx(float(jv), rel=1e-12)
        np.testing.assert_allclose(got[1], np.asarray(jw), rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(got[2], np.asarray(jw2), rtol=1e-10, atol=1e-13)
