"""Reductions, scans and statistics (symdiff/ops/statistics.py).

Every case of the table is checked for its value against NumPy, its gradient against central
finite differences, its Hessian (of ``sum(sin(y))``) against JAX's ``jax.hessian`` of the same
jnp expression, and the compiled route: ONE Numba kernel computes every value and gradient of
the table, compared with ``sd.evaluate``. Then float32, ``vmap`` and sparse Hessian patterns of
the new op classes, the gradients of prod/cumprod at zeros, and the errors.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import symdiff as sd
from checks import checked_sparse_pattern

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy

RNG = np.random.default_rng(7)


# ---------------------------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------------------------
def g_any(shape):
    return RNG.uniform(-2.0, 2.0, size=shape)


def g_away(shape):
    """|x| in [0.3, 1.5]: away from the kinks of abs."""
    return RNG.uniform(0.3, 1.5, size=shape) * np.where(RNG.random(shape) < 0.5, -1.0, 1.0)


def g_distinct(shape):
    """Entries at least 0.05 apart (no ties for max/min under finite-difference steps)."""
    n = int(np.prod(shape))
    return ((RNG.permutation(n) - n / 2) * 0.15 + RNG.uniform(0, 0.03, n)).reshape(shape)


def g_zeros(shape):
    """Mostly non-zero entries, with exact zeros (two in the first row)."""
    v = RNG.uniform(0.5, 1.5, size=shape) * np.where(RNG.random(shape) < 0.5, -1.0, 1.0)
    flat = v.reshape(-1)
    flat[[0, 2]] = 0.0
    if flat.size > 7:
        flat[7] = 0.0
    return v


def g_ties(shape):
    """Small integers: many ties."""
    return RNG.integers(0, 3, size=shape).astype(float)


def g_nan(shape):
    """NaN entries (none of the slices all NaN)."""
    v = g_distinct(shape)
    flat = v.reshape(-1)
    flat[[1, flat.size - 2]] = np.nan
    return v


# ---------------------------------------------------------------------------------------------
# the table: (id, symdiff builder, NumPy reference, jnp expression or None, shape, generator)
# ---------------------------------------------------------------------------------------------
S = sd
CASES = [
    ("prod_all", lambda x: S.prod(x), np.prod, jnp.prod, (2, 3), g_any),
    ("prod_ax1", lambda x: S.prod(x, 1), lambda v: np.prod(v, 1), lambda v: jnp.prod(v, 1), (3, 4), g_any),
    ("prod_axes02_keep", lambda x: S.prod(x, (0, -1), keepdims=True), lambda v: np.prod(v, (0, 2), keepdims=True),
     lambda v: jnp.prod(v, (0, 2), keepdims=True), (2, 3, 2), g_any),
    ("prod_zeros", lambda x: S.prod(x, -1), lambda v: np.prod(v, -1), lambda v: jnp.prod(v, -1), (2, 4), g_zeros),
    ("prod_zeros_all", lambda x: S.prod(x, (0, 1)), lambda v: np.prod(v), jnp.prod, (3, 3), g_zeros),
    ("cumsum_flat", lambda x: S.cumsum(x), np.cumsum, jnp.cumsum, (2, 3), g_any),
    ("cumsum_ax0", lambda x: S.cumsum(x, 0), lambda v: np.cumsum(v, 0), lambda v: jnp.cumsum(v, 0), (3, 4), g_any),
    ("cumsum_neg", lambda x: S.cumsum(x, -1), lambda v: np.cumsum(v, -1), lambda v: jnp.cumsum(v, -1), (2, 3, 4), g_any),
    ("cumprod_flat", lambda x: S.cumprod(x), np.cumprod, jnp.cumprod, (2, 3), g_any),
    ("cumprod_ax1", lambda x: S.cumprod(x, 1), lambda v: np.cumprod(v, 1), lambda v: jnp.cumprod(v, 1), (3, 4), g_any),
    ("cumprod_zeros", lambda x: S.cumprod(x, -1), lambda v: np.cumprod(v, -1), lambda v: jnp.cumprod(v, -1), (2, 5), g_zeros),
    ("cumprod_zeros_ax0", lambda x: S.cumprod(x, 0), lambda v: np.cumprod(v, 0), lambda v: jnp.cumprod(v, 0), (4, 3), g_zeros),
    ("var_all", lambda x: S.var(x), np.var, jnp.var, (3, 4), g_any),
    ("var_ddof_keep", lambda x: S.var(x, 1, ddof=1, keepdims=True), lambda v: np.var(v, 1, ddof=1, keepdims=True),
     lambda v: jnp.var(v, 1, ddof=1, keepdims=True), (3, 4), g_any),
    ("std_ax0", lambda x: S.std(x, 0), lambda v: np.std(v, 0), lambda v: jnp.std(v, 0), (4, 3), g_any),
    ("std_ddof_axes", lambda x: S.std(x, (0, 2), ddof=1), lambda v: np.std(v, (0, 2), ddof=1),
     lambda v: jnp.std(v, (0, 2), ddof=1), (2, 3, 2), g_any),
    ("ptp_ax1", lambda x: S.ptp(x, 1), lambda v: np.ptp(v, 1), lambda v: jnp.ptp(v, 1), (3, 4), g_distinct),
    ("ptp_all_keep", lambda x: S.ptp(x, keepdims=True), lambda v: np.ptp(v, keepdims=True),
     lambda v: jnp.ptp(v, keepdims=True), (3, 4), g_distinct),
    ("average_all", lambda x: S.average(x), np.average, jnp.average, (3, 4), g_any),
    ("average_w1d", lambda x: S.average(x, 1, weights=[1.0, 2.0, 0.5, 3.0]),
     lambda v: np.average(v, 1, weights=[1.0, 2.0, 0.5, 3.0]),
     lambda v: jnp.average(v, 1, weights=jnp.array([1.0, 2.0, 0.5, 3.0])), (3, 4), g_any),
    ("average_wfull_keep", lambda x: S.average(x, 0, weights=np.arange(1.0, 13.0).reshape(3, 4), keepdims=True),
     lambda v: np.average(v, 0, weights=np.arange(1.0, 13.0).reshape(3, 4), keepdims=True),
     lambda v: jnp.average(v, 0, weights=jnp.arange(1.0, 13.0).reshape(3, 4), keepdims=True), (3, 4), g_any),
    ("nansum_all", lambda x: S.nansum(x), np.nansum, jnp.nansum, (3, 4), g_nan),
    ("nansum_ax0", lambda x: S.nansum(x, 0), lambda v: np.nansum(v, 0), lambda v: jnp.nansum(v, 0), (3, 4), g_nan),
    ("nanmean_ax1", lambda x: S.nanmean(x, 1), lambda v: np.nanmean(v, 1), lambda v: jnp.nanmean(v, 1), (3, 4), g_nan),
    ("nanmean_keep", lambda x: S.nanmean(x, keepdims=True), lambda v: np.nanmean(v, keepdims=True),
     lambda v: jnp.nanmean(v, keepdims=True), (3, 4), g_nan),
    ("nanmax_ax1", lambda x: S.nanmax(x, 1), lambda v: np.nanmax(v, 1), lambda v: jnp.nanmax(v, 1), (3, 4), g_nan),
    ("nanmax_all", lambda x: S.nanmax(x), np.nanmax, jnp.nanmax, (3, 4), g_nan),
    ("nanmin_ax0_keep", lambda x: S.nanmin(x, 0, keepdims=True), lambda v: np.nanmin(v, 0, keepdims=True),
     lambda v: jnp.nanmin(v, 0, keepdims=True), (3, 4), g_nan),
    ("norm_flat", lambda x: S.norm(x), np.linalg.norm, jnp.linalg.norm, (2, 3, 2), g_any),
    ("norm_flat_keep", lambda x: S.norm(x, keepdims=True), lambda v: np.linalg.norm(v, keepdims=True),
     lambda v: jnp.linalg.norm(v, keepdims=True), (3, 4), g_any),
    ("norm_vec_2", lambda x: S.norm(x, 2), lambda v: np.linalg.norm(v, 2), lambda v: jnp.linalg.norm(v, 2), (5,), g_any),
    ("norm_vec_1", lambda x: S.norm(x, 1), lambda v: np.linalg.norm(v, 1), lambda v: jnp.linalg.norm(v, 1), (5,), g_away),
    ("norm_vec_inf", lambda x: S.norm(x, np.inf), lambda v: np.linalg.norm(v, np.inf),
     lambda v: jnp.linalg.norm(v, jnp.inf), (5,), g_distinct),
    ("norm_vec_-inf", lambda x: S.norm(x, -np.inf), lambda v: np.linalg.norm(v, -np.inf),
     lambda v: jnp.linalg.norm(v, -jnp.inf), (5,), g_distinct),
    ("norm_vec_3", lambda x: S.norm(x, 3), lambda v: np.linalg.norm(v, 3), lambda v: jnp.linalg.norm(v, 3), (5,), g_away),
    ("norm_vec_0.5", lambda x: S.norm(x, 0.5), lambda v: np.linalg.norm(v, 0.5),
     lambda v: jnp.linalg.norm(v, 0.5), (5,), g_away),
    ("norm_vec_-1", lambda x: S.norm(x, -1), lambda v: np.linalg.norm(v, -1),
     lambda v: jnp.linalg.norm(v, -1), (5,), g_away),
    ("norm_axis_keep", lambda x: S.norm(x, 3, axis=-1, keepdims=True), lambda v: np.linalg.norm(v, 3, axis=-1, keepdims=True),
     lambda v: jnp.linalg.norm(v, 3, axis=-1, keepdims=True), (3, 4), g_away),
    ("norm_axis0_2", lambda x: S.norm(x, axis=0), lambda v: np.linalg.norm(v, axis=0),
     lambda v: jnp.linalg.norm(v, axis=0), (3, 4), g_any),
    ("norm_fro", lambda x: S.norm(x, "fro"), lambda v: np.linalg.norm(v, "fro"),
     lambda v: jnp.linalg.norm(v, "fro"), (3, 4), g_any),
    ("norm_mat_1", lambda x: S.norm(x, 1), lambda v: np.linalg.norm(v, 1), lambda v: jnp.linalg.norm(v, 1), (3, 4), g_distinct),
    ("norm_mat_-1", lambda x: S.norm(x, -1), lambda v: np.linalg.norm(v, -1), lambda v: jnp.linalg.norm(v, -1), (3, 4), g_distinct),
    ("norm_mat_inf", lambda x: S.norm(x, np.inf), lambda v: np.linalg.norm(v, np.inf),
     lambda v: jnp.linalg.norm(v, jnp.inf), (3, 4), g_distinct),
    ("norm_mat_-inf", lambda x: S.norm(x, -np.inf), lambda v: np.linalg.norm(v, -np.inf),
     lambda v: jnp.linalg.norm(v, -jnp.inf), (3, 4), g_distinct),
    ("norm_mat_axes_keep", lambda x: S.norm(x, np.inf, axis=(2, 0), keepdims=True),
     lambda v: np.linalg.norm(v, np.inf, axis=(2, 0), keepdims=True),
     lambda v: jnp.linalg.norm(v, jnp.inf, axis=(2, 0), keepdims=True), (3, 2, 4), g_distinct),
    ("norm_mat_fro_axes", lambda x: S.norm(x, "fro", axis=(-1, 0)), lambda v: np.linalg.norm(v, "fro", axis=(-1, 0)),
     lambda v: jnp.linalg.norm(v, "fro", axis=(-1, 0)), (3, 2, 4), g_any),
    ("norm_mat_2", lambda x: S.norm(x, 2), lambda v: np.linalg.norm(v, 2), lambda v: jnp.linalg.norm(v, 2), (3, 4), g_any),
    ("norm_mat_-2", lambda x: S.norm(x, -2), lambda v: np.linalg.norm(v, -2), lambda v: jnp.linalg.norm(v, -2), (4, 3), g_any),
    ("norm_nuc", lambda x: S.norm(x, "nuc"), lambda v: np.linalg.norm(v, "nuc"),
     lambda v: jnp.linalg.norm(v, "nuc"), (3, 4), g_any),
    ("norm_nuc_axes_keep", lambda x: S.norm(x, "nuc", axis=(2, 1), keepdims=True),
     lambda v: np.linalg.norm(v, "nuc", axis=(2, 1), keepdims=True),
     lambda v: jnp.linalg.norm(v, "nuc", axis=(2, 1), keepdims=True), (2, 3, 4), g_any),
    ("norm_vec_0", lambda x: S.norm(x, 0), lambda v: np.linalg.norm(v, 0), None, (6,), g_zeros),
    # no gradient: bool and int results
    ("any_all", lambda x: S.any(x), np.any, None, (3, 4), g_zeros),
    ("any_ax1_keep", lambda x: S.any(x, 1, keepdims=True), lambda v: np.any(v, 1, keepdims=True), None, (3, 4), g_zeros),
    ("all_ax0", lambda x: S.all(x, 0), lambda v: np.all(v, 0), None, (3, 4), g_zeros),
    ("all_nan", lambda x: S.all(x, 1), lambda v: np.all(v, 1), None, (3, 4), g_nan),
    ("argmax_flat", lambda x: S.argmax(x), np.argmax, None, (3, 4), g_any),
    ("argmax_ax0", lambda x: S.argmax(x, 0), lambda v: np.argmax(v, 0), None, (3, 4), g_any),
    ("argmax_keep", lambda x: S.argmax(x, -1, keepdims=True), lambda v: np.argmax(v, -1, keepdims=True), None, (2, 3, 4), g_any),
    ("argmax_flat_keep", lambda x: S.argmax(x, keepdims=True), lambda v: np.argmax(v, keepdims=True), None, (2, 3), g_any),
    ("argmin_ax1", lambda x: S.argmin(x, 1), lambda v: np.argmin(v, 1), None, (3, 4), g_any),
    ("argmin_flat", lambda x: S.argmin(x), np.argmin, None, (2, 3, 2), g_any),
    ("argmax_nan", lambda x: S.argmax(x, 1), lambda v: np.argmax(v, 1), None, (3, 4), g_nan),
    ("argmin_ties", lambda x: S.argmin(x, 0), lambda v: np.argmin(v, 0), None, (4, 3), g_ties),
    ("argmax_ties_flat", lambda x: S.argmax(x), np.argmax, None, (4, 3), g_ties),
]
IDS = [c[0] for c in CASES]
DIFF = [c for c in CASES if c[3] is not None]
INPUTS = {c[0]: c[5](c[4]) for c in CASES}  # one input per case, shared by all the checks


def _setup(case):
    name, build, ref, jfn, shape, gen = case
    x = sd.tensor(f"x_{name}", shape)
    return x, INPUTS[name], build(x), ref


@pytest.fixture(scope="module")
def jax_hessians() -> dict:
    """JAX's value of ``y`` and Hessian of ``sum(sin(y))`` for every differentiable case, one
    jitted function per family of cases (XLA compiles a few mid-sized modules faster than one
    per case, or one huge one)."""
    families: dict[str, list] = {}
    for c in DIFF:
        families.setdefault(c[0].split("_")[0], []).append((c[0], c[3]))
    results = {}
    for fns in families.values():
        def everything(inputs, fns=fns):
            return {name: (f(inputs[name]), jax.hessian(lambda v, f=f: jnp.sum(jnp.sin(f(v))))(inputs[name]))
                    for name, f in fns}

        out = jax.jit(everything)({name: jnp.asarray(INPUTS[name]) for name, _ in fns})
        results.update({k: (np.asarray(v), np.asarray(h)) for k, (v, h) in out.items()})
    return results


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_value_against_numpy(case):
    x, xv, y, ref = _setup(case)
    got = sd.evaluate(y, {x: xv})
    want = np.asarray(ref(xv))
    assert np.shape(got) == want.shape
    if want.dtype.kind in "bi":
        assert np.asarray(got).dtype == (np.dtype(bool) if want.dtype == bool else np.dtype("int64"))
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", DIFF, ids=[c[0] for c in DIFF])
def test_gradient_against_finite_differences(case):
    x, xv, y, _ = _setup(case)
    sd.check_grad(y, x, {x: xv})


@pytest.mark.parametrize("case", DIFF, ids=[c[0] for c in DIFF])
def test_hessian_against_jax(case, jax_hessians):
    x, xv, y, ref = _setup(case)
    value, hessian = jax_hessians[case[0]]
    np.testing.assert_allclose(value, ref(xv), rtol=1e-12, atol=1e-14)  # the jnp expression is the same function
    H = sd.evaluate(sd.hessian(sd.sum(sd.sin(y)), x), {x: xv})
    np.testing.assert_allclose(H, hessian, rtol=1e-9, atol=1e-9)


# The compiled route: one kernel for a table with one case per code path (Numba spends tens of
# milliseconds per generated line, so near-repeats are left out) and the gradients through the
# new op classes (prod, the scans, their shifts and recurrences); the gradients of the
# compositions are made of ops the compiler's own tests cover.
COMPILED = ["prod_ax1", "prod_axes02_keep", "prod_zeros_all", "cumsum_flat", "cumsum_neg", "cumprod_ax1",
            "cumprod_zeros_ax0", "var_ddof_keep", "std_ddof_axes", "ptp_all_keep", "average_w1d",
            "average_wfull_keep", "nansum_ax0", "nanmean_keep", "nanmax_ax1", "nanmin_ax0_keep", "norm_flat_keep",
            "norm_vec_1", "norm_vec_inf", "norm_vec_3", "norm_axis0_2", "norm_mat_1", "norm_mat_axes_keep",
            "norm_vec_0", "any_ax1_keep", "all_nan", "argmax_flat", "argmax_keep", "argmin_ax1", "argmax_nan",
            "argmin_ties"]
COMPILED_GRADS = ["prod_axes02_keep", "prod_zeros", "cumsum_neg", "cumprod_zeros_ax0"]


def test_one_kernel_for_the_table():
    """The values (and the gradients above) of the compiled table from one function, against
    sd.evaluate."""
    feeds, outs = {}, []
    for case in CASES:
        if case[0] not in COMPILED + COMPILED_GRADS:
            continue
        x, xv, y, _ = _setup(case)
        feeds[x] = xv
        outs.append(y)
        if case[0] in COMPILED_GRADS:
            outs.append(sd.grad(sd.sum(sd.sin(y)), x))
    f = sd.function(list(feeds), outs, mode="numba")
    assert f.mode == "numba"
    got = f(*feeds.values())
    ref = sd.evaluate(outs, feeds)
    for g, r in zip(got, ref):
        g, r = np.asarray(g), np.asarray(r)
        assert g.dtype == r.dtype and g.shape == r.shape
        np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# zeros: prod and cumprod gradients are the products of the others, never prod / x
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("values", [[2.0, 0.0, 3.0, 4.0], [0.0, 0.0, 3.0, 4.0], [0.0, 5.0, -1.0, 0.0]])
def test_prod_and_cumprod_gradients_at_zeros(values):
    x = sd.tensor("x", (4,))
    xv = np.array(values)
    others = np.array([np.prod(np.delete(xv, k)) for k in range(4)])
    np.testing.assert_array_equal(sd.evaluate(sd.grad(sd.prod(x), x), {x: xv}), others)
    # d sum(cumprod(x)) / dx_k = sum_{i >= k} prod_{j <= i, j != k} x_j
    want = np.array([sum(np.prod(np.delete(xv[: i + 1], k)) for i in range(k, 4)) for k in range(4)])
    np.testing.assert_allclose(sd.evaluate(sd.grad(sd.sum(sd.cumprod(x)), x), {x: xv}), want, rtol=1e-14)
    for y in (sd.prod(x), sd.cumprod(x)):
        H = sd.evaluate(sd.hessian(sd.sum(y * y), x), {x: xv})
        jy = jnp.prod if y.op.name == "prod" else jnp.cumprod
        want = jax.jit(jax.hessian(lambda v: jnp.sum(jy(v) ** 2)))(jnp.asarray(xv))
        np.testing.assert_allclose(H, want, atol=1e-12)
        assert np.all(np.isfinite(H))


def test_cumsum_gradient_is_the_reversed_cumsum():
    x = sd.tensor("x", (3, "n"))
    D = sd.tensor("D", (3, "n"))
    g = sd.grad(sd.cumsum(x, 1), x, seed=D)
    Dv = RNG.normal(size=(3, 5))
    np.testing.assert_allclose(sd.evaluate(g, {x: np.zeros((3, 5)), D: Dv}), np.cumsum(Dv[:, ::-1], 1)[:, ::-1])


# ---------------------------------------------------------------------------------------------
# named dims, float32, vmap, sparse Hessian patterns
# ---------------------------------------------------------------------------------------------
def test_named_dims_and_empty_axes():
    x = sd.tensor("x", ("m", "n"))
    outs = [sd.cumsum(x, 1), sd.cumprod(x, 0), sd.prod(x, 1), sd.argmax(x, 1), sd.argmin(x, 0),
            sd.grad(sd.sum(sd.sin(sd.cumprod(x, 1))), x), sd.var(x, 0, ddof=1), sd.norm(x, 1, axis=1)]
    f = sd.function([x], outs, mode="numba")
    for shape in [(3, 4), (1, 6), (5, 1)]:
        xv = g_zeros(shape)
        ref = sd.evaluate(outs, {x: xv})
        np.testing.assert_allclose(ref[0], np.cumsum(xv, 1))
        np.testing.assert_allclose(ref[1], np.cumprod(xv, 0))
        np.testing.assert_array_equal(ref[3], np.argmax(xv, 1))
        for g, r in zip(f(xv), ref):
            np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-12)
    # zero-length scan and product axes
    e = np.zeros((3, 0))
    np.testing.assert_array_equal(sd.evaluate(sd.cumsum(x, 1), {x: e}), np.cumsum(e, 1))
    np.testing.assert_array_equal(sd.evaluate(sd.prod(x, 1), {x: e}), np.ones(3))
    with pytest.raises(sd.SymdiffError, match="argmax"):
        sd.evaluate(sd.argmax(x, 1), {x: e})
    with pytest.raises(sd.SymdiffError, match="argmax"):
        f(e)
    with pytest.raises(sd.ShapeError, match="cumsum: axis=None"):
        sd.cumsum(x)


def test_float32():
    x = sd.tensor("x", (3, 4), "float32")
    xv = g_zeros((3, 4)).astype(np.float32)
    outs = [sd.prod(x, 1), sd.cumsum(x, 0), sd.cumprod(x, 1), sd.var(x, 1), sd.std(x), sd.norm(x),
            sd.norm(x, np.inf), sd.nansum(x), sd.nanmean(x, 0), sd.nanmax(x, 1), sd.ptp(x, 0),
            sd.average(x, 1, weights=np.float32([1.0, 2.0, 3.0, 4.0])), 2 * sd.cumsum(x, 1),
            sd.grad(sd.sum(sd.sin(sd.cumprod(x, 1))), x), sd.grad(sd.sum(sd.prod(x, 0)), x)]
    refs = [np.prod(xv, 1), np.cumsum(xv, 0), np.cumprod(xv, 1), np.var(xv, 1), np.std(xv), np.linalg.norm(xv),
            np.linalg.norm(xv, np.inf), np.nansum(xv), np.nanmean(xv, 0), np.nanmax(xv, 1), np.ptp(xv, 0),
            np.average(xv, 1, weights=[1.0, 2.0, 3.0, 4.0]), 2 * np.cumsum(xv, 1)]
    got = sd.evaluate(outs, {x: xv})
    for o, g in zip(outs, got):
        assert o.dtype == np.float32 and np.asarray(g).dtype == np.float32, o
    for g, r in zip(got, refs):
        np.testing.assert_allclose(g, r, rtol=2e-6, atol=2e-6)
    compiled = sd.function([x], outs, mode="numba")(xv)
    for g, r in zip(compiled, got):
        assert np.asarray(g).dtype == np.float32
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-5)
    assert sd.argmax(x).dtype == np.int64 and sd.any(x).dtype == np.bool_


@pytest.mark.parametrize("build", [
    lambda x: sd.cumsum(x, 1), lambda x: sd.cumprod(x, 0), lambda x: sd.prod(x, 1),
    lambda x: sd.argmax(x), lambda x: sd.argmin(x, 1, keepdims=True), lambda x: sd.var(x, 0),
    lambda x: sd.grad(sd.sum(sd.sin(sd.cumprod(x, 1))), x), lambda x: sd.grad(sd.sum(sd.prod(x, (0, 1))), x),
    lambda x: sd.nanmax(x, 0), lambda x: sd.norm(x, -1),
], ids=["cumsum", "cumprod", "prod", "argmax_flat", "argmin_keep", "var", "grad_cumprod", "grad_prod",
        "nanmax", "norm_mat"])
def test_vmap(build):
    x = sd.tensor("x", (3, 4))
    X = sd.tensor("X", (5, 3, 4))
    Xv = g_zeros((5, 3, 4))
    y = build(x)
    yb = sd.vmap(y, x, X)
    got = sd.evaluate(yb, {X: Xv})
    want = np.stack([sd.evaluate(y, {x: Xv[b]}) for b in range(5)])
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)




def test_sparse_hessian_patterns():
    x = sd.tensor("x", (3, 4))
    xv = g_any((3, 4))
    block = np.kron(np.eye(3, dtype=bool), np.ones((4, 4), dtype=bool))  # rows do not mix
    # cumsum along rows: entries of one row interact, rows do not
    P = checked_sparse_pattern(sd.sum(sd.sin(sd.cumsum(x, 1)) ** 2), x, xv)
    np.testing.assert_array_equal(P, block)
    P = checked_sparse_pattern(sd.sum(sd.sin(sd.prod(x, 1))), x, xv)
    np.testing.assert_array_equal(P, block)
    P = checked_sparse_pattern(sd.sum(sd.tanh(sd.cumprod(x, 1))), x, xv)
    np.testing.assert_array_equal(P, block)
    # a cumsum whose last entries are dropped: x[:, 3] enters no kept entry
    P = checked_sparse_pattern(sd.sum(sd.sin(sd.cumsum(x, 1)[:, :2]) ** 2), x, xv)
    first_two = np.kron(np.eye(3, dtype=bool), np.pad(np.ones((2, 2), dtype=bool), ((0, 2), (0, 2))))
    np.testing.assert_array_equal(P, first_two)
    # columns for cumprod along axis 0
    P = checked_sparse_pattern(sd.sum(sd.sin(sd.cumprod(x, 0))), x, xv)
    np.testing.assert_array_equal(P, np.kron(np.ones((3, 3), dtype=bool), np.eye(4, dtype=bool)))


def test_zero_vector_norm_gradients():
    """At the zero vector: the 2-norm's gradient is NaN, as JAX gives it; the 1, inf, -inf and
    0 "norms" follow abs'(0) = 1 as JAX does, and agree with JAX."""
    x = sd.tensor("x", (3,))
    z = np.zeros(3)
    for ord_ in (None, 2, "fro_flat"):
        y = sd.norm(x) if ord_ == "fro_flat" else sd.norm(x, ord_)
        g = sd.evaluate(sd.grad(y, x), {x: z})
        want = np.asarray(jax.grad(lambda v: jnp.linalg.norm(v, None if ord_ == "fro_flat" else ord_))(jnp.zeros(3)))
        assert np.all(np.isnan(g)) and np.all(np.isnan(want))
    for ord_ in (1, -np.inf, 0):
        want = np.asarray(jax.grad(lambda v: jnp.linalg.norm(v, ord_))(jnp.zeros(3)))
        np.testing.assert_allclose(sd.evaluate(sd.grad(sd.norm(x, ord_), x), {x: z}), want)
    # the inf-norm: max splits the gradient equally between the three tied zeros (JAX: 1/6 each)
    np.testing.assert_allclose(sd.evaluate(sd.grad(sd.norm(x, np.inf), x), {x: z}), np.full(3, 1 / 3))
    assert sd.evaluate(sd.norm(x), {x: z}) == 0.0


def test_average_returned_and_weight_gradients():
    x = sd.tensor("x", (3, 4))
    w = sd.tensor("w", (4,))
    xv, wv = g_any((3, 4)), RNG.uniform(0.5, 2.0, 4)
    avg, scl = sd.average(x, 1, weights=w, returned=True)
    a_ref, s_ref = np.average(xv, 1, weights=wv, returned=True)
    got = sd.evaluate([avg, scl], {x: xv, w: wv})
    np.testing.assert_allclose(got[0], a_ref, rtol=1e-12)
    np.testing.assert_allclose(got[1], s_ref, rtol=1e-12)
    sd.check_grad(avg, [x, w], {x: xv, w: wv})
    a2, s2 = sd.average(x, 0, returned=True)
    r2 = np.average(xv, 0, returned=True)
    np.testing.assert_allclose(sd.evaluate(s2, {x: xv}), r2[1])
    np.testing.assert_allclose(sd.evaluate(a2, {x: xv}), r2[0])
    H = sd.evaluate(sd.hessian(sd.sum(sd.sin(avg)), w), {x: xv, w: wv})
    want = jax.jit(jax.hessian(lambda v: jnp.sum(jnp.sin(jnp.average(xv, 1, weights=v)))))(jnp.asarray(wv))
    np.testing.assert_allclose(H, want, rtol=1e-9, atol=1e-12)


def test_all_nan_slices_and_nan_gradients():
    x = sd.tensor("x", (3, 3))
    xv = np.array([[np.nan, np.nan, np.nan], [1.0, np.nan, 3.0], [-2.0, 0.5, np.nan]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for ours, theirs in [(sd.nanmax, np.nanmax), (sd.nanmin, np.nanmin), (sd.nanmean, np.nanmean), (sd.nansum, np.nansum)]:
            np.testing.assert_array_equal(sd.evaluate(ours(x, 1), {x: xv}), theirs(xv, 1))
    # NaN entries get gradient 0; an all-NaN row of nanmax passes nothing on
    g = sd.evaluate(sd.grad(sd.sum(sd.nanmax(x, 1)) + sd.sum(sd.nanmean(x, 0)) + 2 * sd.nansum(x), x), {x: xv})
    counts = (~np.isnan(xv)).sum(0)
    want = np.where(np.isnan(xv), 0.0, 2.0 + 1.0 / counts)
    want[1, 2] += 1.0  # the maxima of rows 1 and 2
    want[2, 1] += 1.0
    np.testing.assert_allclose(g, want, rtol=1e-14)


def test_errors():
    x = sd.tensor("x", (3, 4))
    with pytest.raises(sd.ShapeError, match="cumsum"):
        sd.cumsum(x, 2)
    with pytest.raises(sd.ShapeError, match="cumprod"):
        sd.cumprod(sd.scalar("s"), 0)
    with pytest.raises(sd.ShapeError, match="argmax"):
        sd.argmax(x, (0, 1))
    with pytest.raises(sd.ShapeError, match="prod"):
        sd.prod(x, 5)
    with pytest.raises(sd.SymdiffError, match="invalid ord"):
        sd.norm(x, "nuc", axis=1)
    with pytest.raises(sd.SymdiffError, match="invalid ord"):
        sd.norm(x, 3)
    with pytest.raises(sd.ShapeError, match="norm"):
        sd.norm(sd.tensor("t", (2, 2, 2)), 1)
    with pytest.raises(sd.ShapeError, match="duplicate"):
        sd.norm(x, axis=(1, -1))
    with pytest.raises(sd.ShapeError, match="weights"):
        sd.average(x, weights=[1.0, 2.0, 3.0, 4.0])
    with pytest.raises(sd.ShapeError, match="weights"):
        sd.average(x, 0, weights=[1.0, 2.0, 3.0, 4.0])
    with pytest.raises(sd.DTypeError, match="prod"):
        sd.prod(x, dtype="int64")
    with pytest.raises(sd.GradError):
        sd.grad(sd.argmax(x), x)
    with pytest.raises(sd.GradError):
        sd.grad(sd.any(x), x)
    # no gradient flows through argmax: its consumers see a constant position
    g = sd.grad(sd.sum(x) + sd.cast(sd.argmax(x), "float64"), x)
    np.testing.assert_array_equal(sd.evaluate(g, {x: g_any((3, 4))}), np.ones((3, 4)))
