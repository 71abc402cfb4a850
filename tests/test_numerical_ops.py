"""median/quantile/percentile, cov/corrcoef, count_nonzero, diagflat, convolve/correlate and
gradient: values against NumPy, gradients against finite differences, Hessians against JAX, the
compiled route against sd.evaluate, and a sparse Hessian against the dense one."""
from __future__ import annotations

import numpy as np
import pytest

import symdiff as sd
import symdiff.numpy as snp

rng = np.random.default_rng(3)
XV = rng.standard_normal(7)
MV = rng.standard_normal((3, 6))
KV = rng.standard_normal(3)
x, M, k = sd.vector("x", 7), sd.matrix("M", 3, 6), sd.vector("k", 3)
ENV = {x: XV, M: MV, k: KV}

CASES = [  # (name, builder over a NumPy-like module, unused)
    ("median", lambda m: m.median(x), None),
    ("median_ax1", lambda m: m.median(M, axis=1), None),
    ("median_even", lambda m: m.median(M[:, :4], axis=1), None),
    ("quantile", lambda m: m.quantile(x, np.array([0.1, 0.5, 0.9])), None),
    ("percentile_keep", lambda m: m.percentile(M, 30, axis=0, keepdims=True), None),
    ("cov", lambda m: m.cov(M), None),
    ("cov_cols_bias", lambda m: m.cov(M, rowvar=False, bias=True), None),
    ("cov_xy", lambda m: m.cov(x, x * 2 + 1), None),
    ("corrcoef", lambda m: m.corrcoef(M), None),
    ("diagflat", lambda m: m.diagflat(k, 1), None),
    ("gradient", lambda m: m.gradient(x), None),
    ("gradient_h", lambda m: m.gradient(x, 0.5), None),
    ("gradient_axis1", lambda m: m.gradient(M, axis=1), None),
] + [(f"{f}_{mode}_{order}", (lambda m, f=f, mode=mode, order=order:
                                getattr(m, f)(*((x, k) if order == "xk" else (k, x)), mode)), None)
     for f in ("convolve", "correlate") for mode in ("full", "same", "valid") for order in ("xk", "kx")]


@pytest.mark.parametrize("name,build,_", CASES, ids=[c[0] for c in CASES])
def test_values_match_numpy_and_gradients_finite_differences(name, build, _):
    got = sd.evaluate(build(snp), ENV)
    want = build(_NumpyArgs())  # the same builder on NumPy, with the variables' values
    assert np.shape(got) == np.shape(want) and np.allclose(got, want, rtol=1e-12, atol=1e-14)
    node = build(snp)
    w = rng.standard_normal(node.shape)
    sd.check_grad(sd.sum(sd.sin(node) * w), [x, M, k], ENV)


class _NumpyArgs:
    """np with the symbolic variables replaced by their values (so one builder serves both)."""

    def __getattr__(self, name):
        fn = getattr(np, name)

        def call(*args, **kwargs):
            return fn(*[_value(a) for a in args], **{kk: _value(v) for kk, v in kwargs.items()})

        return call


def _value(a):
    if isinstance(a, sd.Node):
        return sd.evaluate(a, ENV)
    return a


def test_count_nonzero():
    got = sd.evaluate(snp.count_nonzero(M > 0, axis=1), ENV)
    assert np.array_equal(got, np.count_nonzero(MV > 0, axis=1))
    assert sd.evaluate(snp.count_nonzero(x), ENV) == np.count_nonzero(XV)


def test_hessians_match_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    def f(np_, v):
        return (np_.sum(np_.convolve(v, np_.asarray(KV), "same") ** 3) + np_.median(v) ** 2
                + np_.sum(np_.gradient(v) ** 4) + np_.sum(np_.cov(v.reshape(1, 7), v.reshape(1, 7) ** 2)))

    H = sd.evaluate(sd.hessian(f(snp, x), x), ENV)
    assert np.allclose(H, jax.hessian(lambda v: f(jnp, v))(XV), rtol=1e-10, atol=1e-12)
    Hs = sd.hessian(f(snp, x), x, sparse=True)({x: XV}).toarray()
    assert np.allclose(Hs, H, rtol=1e-12, atol=1e-12)


def test_one_compiled_kernel_agrees_with_evaluate():
    outs = [build(snp) for _, build, _ in CASES]
    outs.append(sd.grad(sum(sd.sum(o * o) for o in outs), x))
    fn = sd.function([x, M, k], outs)
    for got, ref in zip(fn(XV, MV, KV), sd.evaluate(outs, ENV)):
        assert np.allclose(got, ref, rtol=1e-12, atol=1e-13)
