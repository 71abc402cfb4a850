"""The kernel workspace (codegen.ARENA_MIN_ENTRIES): large intermediates live in one buffer kept
by the Function between calls. Results must not change between calls, must never alias the
workspace (or each other), and an output that is a view of an intermediate must not be placed in it."""
import numpy as np
import pytest

import symdiff as sd


def _mlp():
    X = sd.tensor("X", ("n", 8))
    W = sd.tensor("W", (8, 96))
    V = sd.tensor("V", (96, 3))
    h = sd.tanh(X @ W)
    loss = sd.sum((h @ V) ** 2)
    return [X, W, V], [loss, *sd.grad(loss, [W, V])]


def _np_mlp(X, W, V):
    h = np.tanh(X @ W)
    z = h @ V
    dz = 2 * z
    dh = (dz @ V.T) * (1 - h * h)
    return [np.sum(z * z), X.T @ dh, h.T @ dz]


def test_named_dims_workspace_grows_and_results_stay_fresh():
    ins, outs = _mlp()
    fn = sd.function(ins, outs, mode="numba")
    assert "_carve(_ws" in fn.source and "_dot_into(" in fn.source
    rng = np.random.default_rng(0)
    W, V = rng.normal(size=(8, 96)), rng.normal(size=(96, 3)) / 10
    kept = []
    for n in (5, 300, 7, 300, 1):  # grows, then reuses the larger buffer for smaller calls
        X = rng.normal(size=(n, 8))
        got = fn(X, W, V)
        for g, r in zip(got, _np_mlp(X, W, V)):
            np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-10)
        kept.append((X, got))
    assert fn._ws.shape[0] >= 300 * 96
    for X, got in kept:  # earlier results were not overwritten by later calls
        for g, r in zip(got, _np_mlp(X, W, V)):
            np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-10)
            if isinstance(g, np.ndarray):
                assert not np.shares_memory(g, fn._ws)


def test_gradient_checks_against_finite_differences():
    ins, outs = _mlp()
    loss = outs[0]
    rng = np.random.default_rng(1)
    vals = {ins[0]: rng.normal(size=(40, 8)), ins[1]: rng.normal(size=(8, 96)) / 3, ins[2]: rng.normal(size=(96, 3)) / 10}
    fn = sd.function(ins, outs, mode="numba")
    got = fn(*vals.values())
    for k, v in ((1, ins[1]), (2, ins[2])):
        (num,) = sd.numeric_grad(loss, [v], vals)
        np.testing.assert_allclose(got[k], num, rtol=1e-6, atol=1e-6)


def test_static_workspace_is_a_constant_and_the_fast_call_is_kept():
    x = sd.tensor("x", (200, 100))
    y = sd.tanh(x) * 2.0
    z = sd.sum(sd.exp(y) * y)
    fn = sd.function([x], [z, sd.grad(z, x)], mode="numba")
    assert "_carve(_ws" in fn.source
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(200, 100)), rng.normal(size=(200, 100))
    ra = fn(a)
    rb = fn(b)
    ref = sd.function([x], [z, sd.grad(z, x)], mode="numpy")
    for got, arg in ((ra, a), (rb, b)):
        for g, r in zip(got, ref(arg)):
            np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-14)
    assert not np.shares_memory(ra[1], rb[1])


@pytest.mark.parametrize("make", [
    lambda h: h.T,                       # a transpose view of an intermediate
    lambda h: sd.reshape(h, ("n", 2, 64)),  # a reshape of it
    lambda h: h[1:, :],                  # a slice of it
])
def test_outputs_that_are_views_of_intermediates_stay_out_of_the_workspace(make):
    X = sd.tensor("X", ("n", 64))
    W = sd.tensor("W", (64, 128))
    h = sd.tanh(X @ W) + 1.0
    out = make(h)
    fn = sd.function([X, W], [out, sd.sum(h)], mode="numba")
    rng = np.random.default_rng(3)
    Xv, Wv = rng.normal(size=(50, 64)), rng.normal(size=(64, 128)) / 8
    first = fn(Xv, Wv)[0].copy()
    keep = fn(Xv, Wv)[0]
    fn(rng.normal(size=(50, 64)), Wv)  # another call must not overwrite the earlier result
    np.testing.assert_array_equal(keep, first)
    ref = sd.evaluate(out, {X: Xv, W: Wv})
    np.testing.assert_allclose(keep, ref, rtol=1e-12)
