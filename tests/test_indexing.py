"""Advanced indexing, take, take_along_axis, sort and JAX's ``x.at[]`` updates.

Values are checked against NumPy (and JAX's ``.at[]``), gradients against central finite
differences, second derivatives against JAX, the compiled route against ``sd.evaluate``, and the
sparsity patterns through ``take`` against the dense Hessian.
"""
from __future__ import annotations

import numpy as np
import pytest

import symdiff as sd
import symdiff.numpy as snp

rng = np.random.default_rng(0)
Mv = rng.standard_normal((3, 4))
Tv = rng.standard_normal((2, 3, 4))

# (shape, key) pairs: every NumPy placement rule for advanced indices
KEYS = [
    ((3, 4), (np.array([0, 2, 2]),)),
    ((3, 4), (slice(None), np.array([3, 0, 0, -1]))),
    ((3, 4), (np.array([0, 2]), np.array([1, 3]))),
    ((3, 4), (np.array([[0], [2]]), np.array([1, 2]))),
    ((3, 4), (1, np.array([0, 3]))),
    ((3, 4), (np.array([True, False, True]),)),
    ((3, 4), (Mv > 0,)),
    ((3, 4), ([2, 0],)),
    ((3, 4), (slice(1, None), [0, 0])),
    ((2, 3, 4), (np.array([0, 1]), slice(None), np.array([1, 2]))),   # not adjacent: dims in front
    ((2, 3, 4), (slice(None), np.array([0, 2]), np.array([1, 2]))),   # adjacent: in place
    ((2, 3, 4), (Ellipsis, np.array([3]))),
    ((2, 3, 4), (np.array([[1]]), None, 0)),
    ((2, 3, 4), (1, slice(None, None, -1), np.array([0, 1, 1]))),
]


def _value(shape):
    return Mv if shape == (3, 4) else Tv


@pytest.mark.parametrize("shape,key", KEYS, ids=[str(i) for i in range(len(KEYS))])
def test_advanced_index_values_and_gradient(shape, key):
    x = sd.tensor("x", shape)
    xv = _value(shape)
    y = x[key]
    expect = xv[key]
    got = sd.evaluate(y, {x: xv})
    assert got.shape == expect.shape and np.allclose(got, expect)
    if y.shape:
        w = rng.standard_normal(y.shape)
        sd.check_grad(sd.sum(sd.sin(y) * w), [x], {x: xv})


def test_advanced_index_compiled_matches_evaluate():
    x = sd.tensor("x", (3, 4))
    outs = [x[k] for s, k in KEYS if s == (3, 4)]
    loss = sum(sd.sum(o ** 2) for o in outs)
    outs.append(sd.grad(loss, x))
    f = sd.function([x], outs)
    got = f(Mv)
    ref = sd.evaluate(outs, {x: Mv})
    for g, r in zip(got, ref):
        assert np.allclose(g, r)


def test_integer_input_indices_compiled_and_checked():
    x = sd.vector("x", 6)
    i = sd.tensor("i", (4,), dtype="int64")
    y = sd.sum(sd.exp(x[i]))
    g = sd.grad(y, x)
    f = sd.function([x, i], [y, g])
    xv = rng.standard_normal(6)
    iv = np.array([5, 0, 0, -2])
    val, grad = f(xv, iv)
    assert np.isclose(val, np.exp(xv[iv]).sum())
    expect = np.zeros(6)
    np.add.at(expect, iv, np.exp(xv[iv]))
    assert np.allclose(grad, expect)
    assert np.allclose(sd.evaluate(g, {x: xv, i: iv}), expect)
    with pytest.raises(Exception, match="out of bounds"):
        f(xv, np.array([0, 1, 2, 6]))
    with pytest.raises(sd.SymdiffError, match="out of bounds"):
        sd.evaluate(y, {x: xv, i: np.array([0, 1, 2, -7])})


def test_integer_variables_get_no_gradient():
    x = sd.vector("x", 6)
    i = sd.tensor("i", (2,), dtype="int64")
    with pytest.raises(sd.GradError, match="integer"):
        sd.grad(sd.sum(x[i]), i)


def test_out_of_bounds_constant_index_is_refused_when_built():
    x = sd.vector("x", 3)
    with pytest.raises(sd.ShapeError, match="out of bounds"):
        x[np.array([0, 3])]
    with pytest.raises(sd.DTypeError):
        x[np.array([0.5, 1.0])]
    with pytest.raises(sd.ShapeError, match="data-dependent|depends on the data"):
        x[x > 0]


def test_take_and_take_along_axis_match_numpy():
    x = sd.tensor("x", (3, 4))
    idx = np.array([[0, 3], [1, 1], [2, 0]])
    cases = [
        (sd.take(x, [1, 3, 3], axis=1), np.take(Mv, [1, 3, 3], axis=1)),
        (sd.take(x, [5, 0]), np.take(Mv, [5, 0])),
        (sd.take_along_axis(x, idx, axis=1), np.take_along_axis(Mv, idx, axis=1)),
        (snp.take_along_axis(x, snp.argmax(x, axis=1, keepdims=True), axis=1),
         np.take_along_axis(Mv, np.argmax(Mv, axis=1)[:, None], axis=1)),
    ]
    for node, expect in cases:
        assert np.allclose(sd.evaluate(node, {x: Mv}), expect)
    f = sd.function([x], [c[0] for c in cases])
    for got, (node, _) in zip(f(Mv), cases):
        assert np.allclose(got, sd.evaluate(node, {x: Mv}))
    sd.check_grad(sd.sum(sd.take_along_axis(x, idx, axis=1) ** 3), [x], {x: Mv})


def test_sort_values_gradient_and_hessian():
    x = sd.tensor("x", (3, 4))
    s = snp.sort(x, axis=1)
    assert np.allclose(sd.evaluate(s, {x: Mv}), np.sort(Mv, axis=1))
    assert np.array_equal(sd.evaluate(snp.argsort(x, axis=0), {x: Mv}), np.argsort(Mv, axis=0, kind="stable"))
    w = np.arange(12.0).reshape(3, 4)
    loss = sd.sum(s ** 3 * w)
    sd.check_grad(loss, [x], {x: Mv})
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    H_ref = jax.hessian(lambda v: jnp.sum(jnp.sort(v, axis=1) ** 3 * w))(Mv)
    H = sd.evaluate(sd.hessian(loss, x), {x: Mv})
    assert np.allclose(H.reshape(12, 12), np.asarray(H_ref).reshape(12, 12))


# ---------------------------------------------------------------------------------------------
# x.at[...]
# ---------------------------------------------------------------------------------------------
UPDATES = [
    ("set", np.array([1, 1, 3]), np.array([7.0, 8.0, 9.0])),
    ("add", np.array([1, 1, 3]), np.array([7.0, 8.0, 9.0])),
    ("multiply", np.array([1, 1, 3]), np.array([2.0, 3.0, 4.0])),
    ("min", np.array([0, 0, 4]), np.array([0.5, -0.1, 9.0])),
    ("max", np.array([0, 0, 4]), np.array([0.5, -0.1, 9.0])),
    ("divide", slice(1, 4), 2.0),
    ("power", np.array([2]), 3.0),
    ("set", slice(None, None, 2), 0.0),
    ("add", (Ellipsis,), 1.0),
]


@pytest.mark.parametrize("kind,key,val", UPDATES, ids=[f"{u[0]}{i}" for i, u in enumerate(UPDATES)])
def test_at_updates_match_jax(kind, key, val):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    xv = rng.uniform(0.5, 2.0, 5)
    x = sd.vector("x", 5)
    v = sd.tensor("v", np.shape(val)) if np.ndim(val) else sd.scalar("v")
    out = getattr(x.at[key], kind)(v)
    ref = getattr(jnp.asarray(xv).at[key], kind)(jnp.asarray(val))
    got = sd.evaluate(out, {x: xv, v: val})
    assert np.allclose(got, np.asarray(ref))
    w = np.arange(1.0, 6.0)

    def loss_jax(a, b):
        return jnp.sum(jnp.sin(getattr(a.at[key], kind)(b)) * w)

    loss = sd.sum(sd.sin(out) * w)
    gx, gv = sd.grad(loss, [x, v])
    try:
        rx, rv = jax.grad(loss_jax, argnums=(0, 1))(jnp.asarray(xv), jnp.asarray(val, dtype=float))
    except NotImplementedError:  # JAX cannot differentiate scatter_mul with repeated indices
        rx = rv = None
    if rx is not None:
        assert np.allclose(sd.evaluate(gx, {x: xv, v: val}), rx)
        assert np.allclose(sd.evaluate(gv, {x: xv, v: val}), rv)
    sd.check_grad(loss, [x, v], {x: xv, v: val})


def test_at_updates_compiled_and_named_dims():
    x = sd.vector("x", "n")
    y = x.at[1:].multiply(2.0).at[0].set(5.0).at[-1].add(1.0)
    xv = rng.standard_normal(6)
    ref = xv.copy()
    ref[1:] *= 2.0
    ref[0] = 5.0
    ref[-1] += 1.0
    assert np.allclose(sd.evaluate(y, {x: xv}), ref)
    g = sd.grad(sd.sum(y ** 2), x)
    f = sd.function([x], [y, g])
    got_y, got_g = f(xv)
    assert np.allclose(got_y, ref)
    assert np.allclose(got_g, sd.evaluate(g, {x: xv}))
    sd.check_grad(sd.sum(y ** 2), [x], {x: xv})


def test_at_on_a_matrix_with_advanced_keys():
    X = sd.matrix("X", 3, 4)
    Y = X.at[np.array([0, 2]), np.array([1, 1])].add(np.array([1.0, 2.0])).at[:, 0].set(X[:, 3])
    ref = Mv.copy()
    np.add.at(ref, (np.array([0, 2]), np.array([1, 1])), np.array([1.0, 2.0]))
    ref[:, 0] = ref[:, 3]
    assert np.allclose(sd.evaluate(Y, {X: Mv}), ref)
    sd.check_grad(sd.sum(sd.tanh(Y) * Mv), [X], {X: Mv})


def test_sparse_hessian_and_vmap_through_take():
    x = sd.vector("x", 8)
    idx = np.array([7, 0, 3, 3, 5])
    f = sd.sum(sd.sin(x[idx] * x[idx[::-1]]))
    xv = rng.standard_normal(8)
    H = sd.evaluate(sd.hessian(f, x), {x: xv})
    Hs = sd.hessian(f, x, sparse=True)({x: xv}).toarray()
    assert np.allclose(H, Hs)
    assert Hs[1, 2] == 0 and sd.hessian(f, x, sparse=True).nnz < 64
    X = sd.matrix("X", 4, 8)
    batched = sd.vmap(x[idx] ** 2, x, X)
    Xv = rng.standard_normal((4, 8))
    assert np.allclose(sd.evaluate(batched, {X: Xv}), Xv[:, idx] ** 2)


# ---------------------------------------------------------------------------------------------
# slices of named dims: symbolic dim arithmetic
# ---------------------------------------------------------------------------------------------
def test_named_dim_slices_have_symbolic_lengths():
    x = sd.vector("x", "n")
    assert x[1:].shape == ("n - 1",) and x[1:-1].shape == ("n - 2",)
    assert x[:3].shape == (3,) and x[-2:].shape == (2,) and x[2:5].shape == (3,)
    assert x[1:].shape == x[:-1].shape  # the same dim: they broadcast together
    with pytest.raises(sd.ShapeError, match="step"):
        x[::2]
    with pytest.raises(sd.ShapeError):
        sd.tensor("y", ("n-1",))  # declared dims are identifiers; expressions come from slicing


@pytest.mark.parametrize("n", [2, 3, 9])
def test_named_dim_stencils_compiled_and_differentiated(n):
    x = sd.vector("x", "n")
    rosen = sd.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    lap = x[2:] - 2 * x[1:-1] + x[:-2] if n >= 3 else x[1:] - x[:-1]
    loss = rosen + sd.sum(lap ** 2) + x[:2].sum() * x[-1]
    g = sd.grad(loss, x)
    xv = rng.standard_normal(n)

    def ref(v):
        lp = v[2:] - 2 * v[1:-1] + v[:-2] if n >= 3 else v[1:] - v[:-1]
        return np.sum(100 * (v[1:] - v[:-1] ** 2) ** 2 + (1 - v[:-1]) ** 2) + np.sum(lp ** 2) + v[:2].sum() * v[-1]

    assert np.isclose(sd.evaluate(loss, {x: xv}), ref(xv))
    sd.check_grad(loss, [x], {x: xv})
    f = sd.function([x], [loss, g])
    val, grad = f(xv)
    assert np.isclose(val, ref(xv)) and np.allclose(grad, sd.evaluate(g, {x: xv}))
    v = sd.vector("v", "n")
    Hv = sd.hvp(loss, x, v)
    vv = rng.standard_normal(n)
    eps = 1e-6
    num = (sd.evaluate(g, {x: xv + eps * vv}) - sd.evaluate(g, {x: xv - eps * vv})) / (2 * eps)
    assert np.allclose(sd.evaluate(Hv, {x: xv, v: vv}), num, rtol=1e-5, atol=1e-4)


def test_named_dim_slice_too_short_is_an_error_not_a_wrong_answer():
    x = sd.vector("x", "n")
    y = x[:3] * 2.0
    f = sd.function([x], [y, sd.grad(sd.sum(y), x)])
    with pytest.raises(sd.ShapeError, match="3"):
        f(np.ones(2))
    with pytest.raises(sd.ShapeError):
        sd.evaluate(y, {x: np.ones(2)})
    z = x[1:-1]
    with pytest.raises(sd.ShapeError):
        sd.evaluate(z, {x: np.ones(1)})
