"""``symdiff.numpy``: NumPy's names and signatures, NumPy's own functions on nodes, JAX's vmap.

Checked against NumPy (values) and JAX (``jax.vmap``, gradients, Hessians of ported code).
"""
from __future__ import annotations

import numpy as np
import pytest

import symdiff as sd
import symdiff.numpy as snp

rng = np.random.default_rng(1)


def _jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax


def test_numpy_functions_on_nodes_build_nodes():
    x = sd.vector("x", 4)
    A = rng.standard_normal((3, 4))
    xv = rng.standard_normal(4)
    cases = [
        (np.exp(x), np.exp(xv)),
        (np.sum(x * x, axis=0), np.sum(xv * xv, axis=0)),
        (np.dot(A, x), A @ xv),
        (A @ x, A @ xv),
        (A * x, A * xv),
        (np.maximum(x, 0.1), np.maximum(xv, 0.1)),
        (np.add.reduce(x), np.add.reduce(xv)),
        (np.mean(np.tanh(x)), np.mean(np.tanh(xv))),
        (np.concatenate([x, x[:2]]), np.concatenate([xv, xv[:2]])),
        (np.where(xv > 0, x, -x), np.where(xv > 0, xv, -xv)),
        (np.reshape(x, (2, 2)), np.reshape(xv, (2, 2))),
        (np.linalg.norm(x) if hasattr(sd.linalg, "norm") else np.sqrt(np.sum(x * x)), np.linalg.norm(xv)),
    ]
    for node, expect in cases:
        assert isinstance(node, sd.Node), node
        assert np.allclose(sd.evaluate(node, {x: xv}), expect)
    with pytest.raises(sd.SymdiffError, match="out="):
        np.exp(x, out=np.empty(4))


def test_constructors_follow_numpy():
    assert snp.arange(5).dtype == np.int64 and snp.arange(0.0, 1.0, 0.25).shape == (4,)
    assert np.array_equal(snp.arange(2, 10, 3).value, np.arange(2, 10, 3))
    assert np.allclose(snp.linspace(0, 1, 7).value, np.linspace(0, 1, 7))
    assert np.array_equal(snp.eye(3, 4, 1).value, np.eye(3, 4, 1))
    assert snp.zeros((2, 3)).shape == (2, 3) and snp.ones(4, dtype="float32").dtype == np.float32
    assert snp.full((2,), 3).dtype == np.int64
    x = sd.vector("x", 3)
    a = snp.array([[x[0], 1.0], [2, x[2]]])
    xv = np.array([0.5, -1.0, 3.0])
    assert np.allclose(sd.evaluate(a, {x: xv}), [[0.5, 1.0], [2.0, 3.0]])
    assert snp.zeros_like(x).shape == (3,) and snp.ones_like(x, dtype="float32").dtype == np.float32
    t = sd.scalar("t")
    lin = snp.linspace(t, 2 * t, 5)
    assert np.allclose(sd.evaluate(lin, {t: 1.5}), np.linspace(1.5, 3.0, 5))
    assert snp.size(x) == 3 and snp.shape(x) == (3,) and snp.ndim(x) == 1


def test_array_methods():
    x = sd.matrix("x", 2, 3)
    xv = rng.standard_normal((2, 3))
    for node, expect in [
        (x.flatten(), xv.flatten()), (x.ravel(), xv.ravel()), (x.copy(), xv),
        (x.reshape(-1), xv.reshape(-1)), (x.T, xv.T), (x.astype("float32"), xv.astype(np.float32)),
        (x.clip(-0.5, 0.5), xv.clip(-0.5, 0.5)), (x.squeeze(), xv), (x.mT, xv.T),
    ]:
        got = sd.evaluate(node, {x: xv})
        assert got.dtype == expect.dtype and np.allclose(got, expect)
    assert x.size == 6


def test_jax_vmap_over_several_arguments_and_axes():
    jax = _jax()
    import jax.numpy as jnp

    def f(a, b, c):
        return snp.sum(snp.tanh(a * b) + c, axis=-1), snp.outer(a, b) * c

    def f_jax(a, b, c):
        return jnp.sum(jnp.tanh(a * b) + c, axis=-1), jnp.outer(a, b) * c

    A = sd.matrix("A", 4, 3)
    B = sd.matrix("B", 3, 4)
    c = sd.scalar("c")
    Av, Bv = rng.standard_normal((4, 3)), rng.standard_normal((3, 4))
    for in_axes, out_axes in [((0, 1, None), 0), ((0, 1, None), (0, 2)), ((None, 1, None), (0, 1))]:
        args = (A if in_axes[0] is not None else A[0], B, c)
        vals = (Av if in_axes[0] is not None else Av[0], Bv, 0.3)
        got = snp.vmap(f, in_axes=in_axes, out_axes=out_axes)(*args)
        ref = jax.vmap(f_jax, in_axes=in_axes, out_axes=out_axes)(*vals)
        env = {A: Av, B: Bv, c: 0.3}
        for g, r in zip(got, ref):
            assert np.allclose(sd.evaluate(g, env), np.asarray(r))
    # nested: vmap of vmap, and sd.vmap with a callable is the same transformation
    outer = sd.vmap(sd.vmap(lambda u, v: u * v + 1.0, in_axes=(0, None)), in_axes=(0, None))
    X = sd.tensor("X", (2, 3, 4))
    Xv = rng.standard_normal((2, 3, 4))
    y = sd.vector("y", 4)
    assert np.allclose(sd.evaluate(outer(X, y), {X: Xv, y: np.ones(4)}), Xv + 1.0)


def test_ported_jax_objective_value_gradient_hessian():
    """A published-style test problem written for jax.numpy, run by swapping the import."""
    jax = _jax()
    import jax.numpy as jnp

    def make(np_):
        def objective(x):
            n = x.shape[0]
            i = np_.arange(1, n + 1)
            t = np_.sum(x[:-1] ** 2 * np_.cos(x[1:])) + np_.sum(i * (x - 1.0) ** 2) / n
            y = np_.concatenate([x[1:], x[:1]])
            z = x.at[0].set(2.0 * x[0])
            return t + np_.dot(y, x) ** 2 * 1e-2 + np_.sum(np_.exp(-z ** 2)) + np_.max(np_.abs(x))
        return objective

    n = 6
    xv = jnp.asarray(rng.uniform(-1, 1, n))
    x = sd.vector("x", n)
    f = make(snp)(x)
    ref_f = make(jnp)
    assert np.isclose(sd.evaluate(f, {x: xv}), ref_f(xv), rtol=1e-12)
    g = sd.grad(f, x)
    assert np.allclose(sd.evaluate(g, {x: xv}), jax.grad(ref_f)(xv), rtol=1e-10)
    H = sd.evaluate(sd.hessian(f, x), {x: xv})
    assert np.allclose(H, jax.hessian(ref_f)(xv), rtol=1e-8, atol=1e-10)
    Hs = sd.hessian(f, x, sparse=True)({x: xv}).toarray()
    assert np.allclose(Hs, H, rtol=1e-10, atol=1e-12)
    fn = sd.function([x], [f, g])
    fv, gv = fn(xv)
    assert np.isclose(fv, ref_f(xv)) and np.allclose(gv, jax.grad(ref_f)(xv))


def test_refusals_are_clear():
    x = sd.vector("x", 3)
    with pytest.raises(sd.SymdiffError, match="out="):
        snp.sum(x, out=np.empty(()))
    with pytest.raises(sd.SymdiffError, match="integer"):
        x.astype("int64")
    with pytest.raises(sd.ShapeError, match="data-dependent"):
        snp.nonzero(x > 0)
    with pytest.raises(sd.ShapeError, match="shapes"):
        snp.array([x, x[:2]])
