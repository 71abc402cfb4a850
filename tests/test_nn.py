"""``symdiff.nn`` against ``jax.nn``: values (including magnitude 1000), gradients, second
derivatives, and one compiled kernel for all of them."""
from __future__ import annotations

import numpy as np
import pytest

import symdiff as sd

NAMES = ["relu", "relu6", "sigmoid", "softplus", "log_sigmoid", "silu", "gelu", "elu", "celu", "selu",
         "leaky_relu", "hard_tanh", "hard_sigmoid", "hard_silu", "soft_sign", "tanh", "mish", "squareplus"]
XV = np.array([-1000.0, -7.5, -2.3, -0.4, 0.3, 1.7, 4.2, 1000.0])
SMOOTH = np.array([-2.3, -0.4, 0.3, 1.7, 4.2])  # away from kinks, for derivatives


@pytest.fixture(scope="module")
def jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax


@pytest.mark.parametrize("name", NAMES)
def test_values_and_derivatives_match_jax_nn(jax, name):
    x = sd.vector("x", XV.size)
    y = getattr(sd.nn, name)(x)
    ref = getattr(jax.nn, name) if hasattr(jax.nn, name) else getattr(jax.numpy, name)
    got = sd.evaluate(y, {x: XV})
    assert np.all(np.isfinite(got))
    assert np.allclose(got, np.asarray(ref(XV)), rtol=1e-12, atol=1e-300)
    s = sd.vector("s", SMOOTH.size)
    g = sd.grad(sd.sum(getattr(sd.nn, name)(s)), s)
    g2 = sd.grad(sd.sum(g), s)  # elementwise: the diagonal of the Hessian
    d1 = jax.vmap(jax.grad(ref))(SMOOTH)
    d2 = jax.vmap(jax.grad(jax.grad(ref)))(SMOOTH)
    assert np.allclose(sd.evaluate(g, {s: SMOOTH}), d1, rtol=1e-10, atol=1e-14)
    assert np.allclose(sd.evaluate(g2, {s: SMOOTH}), d2, rtol=1e-8, atol=1e-12)
    sd.check_grad(sd.sum(getattr(sd.nn, name)(s)), [s], {s: SMOOTH})


def test_one_compiled_kernel_agrees_with_evaluate():
    x = sd.vector("x", XV.size)
    outs = [getattr(sd.nn, n)(x) for n in NAMES]
    outs.append(sd.grad(sum(sd.sum(o) for o in outs), x))
    f = sd.function([x], outs)
    for got, ref in zip(f(XV), sd.evaluate(outs, {x: XV})):
        assert np.allclose(got, ref, rtol=1e-12)


def test_softmax_family_one_hot_standardize(jax):
    z = sd.matrix("z", 3, 4)
    zv = np.random.default_rng(0).standard_normal((3, 4)) * 1000
    for name in ["softmax", "log_softmax"]:
        got = sd.evaluate(getattr(sd.nn, name)(z, axis=0), {z: zv})
        assert np.all(np.isfinite(got))
        assert np.allclose(got, getattr(jax.nn, name)(zv, axis=0))
    assert np.allclose(sd.evaluate(sd.nn.logsumexp(z, axis=1), {z: zv}), jax.nn.logsumexp(zv, axis=1))
    labels = np.array([2, 0, 3])
    assert np.array_equal(sd.evaluate(sd.nn.one_hot(labels, 4), {}), jax.nn.one_hot(labels, 4))
    i = sd.tensor("i", (3,), dtype="int64")
    assert np.array_equal(sd.evaluate(sd.nn.one_hot(i, 4), {i: labels}), jax.nn.one_hot(labels, 4))
    small = zv / 1000
    assert np.allclose(sd.evaluate(sd.nn.standardize(z, axis=1), {z: small}),
                       jax.nn.standardize(small, axis=1), rtol=1e-10)
