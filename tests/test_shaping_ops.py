"""Array structure (symdiff/ops/shaping.py): compositions of slicing, reshaping, joining and masks.

Every case of the table is checked for its value against NumPy, its gradient against central
finite differences, its Hessian (of ``sum(sin(y))``, so that second derivatives go through the
op) against JAX's ``jax.hessian`` of the same jnp expression (all cases from ONE jitted
function), and the compiled route: ONE Numba kernel computes every value and gradient of the
table, compared with ``sd.evaluate``. Functions returning lists are checked through a join of
their parts (each part scaled differently, so a misplaced part shows). Then float32, ``vmap``,
sparse Hessian patterns of diff and roll, named dims and the errors.
"""
from __future__ import annotations

import numpy as np
import pytest

import symdiff as sd
from checks import checked_sparse_pattern

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy

RNG = np.random.default_rng(11)


def join(parts, m):
    """One 1-d array from a list of arrays (library ``m``: sd, np or jnp), part k scaled by k + 1."""
    return m.concatenate([m.ravel(p) * (k + 1.0) for k, p in enumerate(parts)])


def seq(m, values):
    """A Python list for symdiff and NumPy (lists are what their users pass), a NumPy array for JAX."""
    return np.array(values) if m is jnp else values


def joined(f):
    """``f(m, x)`` as one array: list results (split, ...) joined by ``join``."""
    def g(m, x):
        r = f(m, x)
        return join(r, m) if isinstance(r, (list, tuple)) else r

    return g


def same(f):
    """A case whose builder is the same call for symdiff, NumPy and JAX: ``f(module, x)``."""
    f = joined(f)
    return (lambda x: f(sd, x)), (lambda v: f(np, v)), (lambda v: f(jnp, v))


C1, C2 = np.linspace(0.5, 2.0, 4), np.arange(1.0, 13.0).reshape(3, 4)
# (id, builder f(module, x) used with sd / np / jnp, input shape)
TABLE = [
    ("diag_vec", lambda m, x: m.diag(x), (4,)),
    ("diag_vec_k2", lambda m, x: m.diag(x, 2), (3,)),
    ("diag_vec_k-1", lambda m, x: m.diag(x, k=-1), (4,)),
    ("diag_mat", lambda m, x: m.diag(x), (3, 4)),
    ("diag_mat_k1", lambda m, x: m.diag(x, 1), (3, 4)),
    ("diag_mat_k-2", lambda m, x: m.diag(x, -2), (3, 4)),
    ("diag_mat_far", lambda m, x: m.diag(x, 5), (3, 4)),
    ("diagonal_off1", lambda m, x: m.diagonal(x, 1), (3, 4)),
    ("diagonal_3d", lambda m, x: m.diagonal(x, -1, axis1=2, axis2=0), (2, 3, 4)),
    ("diagonal_neg_axes", lambda m, x: m.diagonal(x, 0, -1, -2), (2, 3, 4)),
    ("trace", lambda m, x: m.trace(x, 1), (3, 4)),
    ("trace_3d", lambda m, x: m.trace(x, axis1=1, axis2=2), (2, 3, 4)),
    ("tril", lambda m, x: m.tril(x), (3, 4)),
    ("tril_k-1", lambda m, x: m.tril(x, -1), (4, 3)),
    ("triu_k1", lambda m, x: m.triu(x, 1), (3, 4)),
    ("triu_3d", lambda m, x: m.triu(x, -1), (2, 3, 4)),
    ("tril_1d", lambda m, x: m.tril(m.broadcast_to(x, (4, 4)) if m is jnp else x), (4,)),  # JAX wants 2-d
    ("flip_all", lambda m, x: m.flip(x), (2, 3, 4)),
    ("flip_ax", lambda m, x: m.flip(x, 1), (2, 3, 4)),
    ("flip_axes", lambda m, x: m.flip(x, (0, -1)), (2, 3, 4)),
    ("fliplr", lambda m, x: m.fliplr(x), (3, 4)),
    ("flipud", lambda m, x: m.flipud(x), (3, 4)),
    ("roll_flat", lambda m, x: m.roll(x, 2), (3, 4)),
    ("roll_ax", lambda m, x: m.roll(x, -1, axis=1), (3, 4)),
    ("roll_axes", lambda m, x: m.roll(x, (1, 2), axis=(0, 1)), (3, 4)),
    ("roll_big", lambda m, x: m.roll(x, 7, axis=0), (3, 4)),
    ("roll_repeated_axis", lambda m, x: m.roll(x, (1, 1), axis=(1, 1)), (3, 4)),
    ("rot90", lambda m, x: m.rot90(x), (3, 4)),
    ("rot90_k2", lambda m, x: m.rot90(x, 2), (3, 4)),
    ("rot90_k3", lambda m, x: m.rot90(x, 3), (3, 4)),
    ("rot90_k-1_axes", lambda m, x: m.rot90(x, -1, axes=(1, 0)), (3, 4)),
    ("rot90_3d", lambda m, x: m.rot90(x, 1, axes=(0, 2)), (2, 3, 4)),
    ("tile_int", lambda m, x: m.tile(x, 2), (2, 3)),
    ("tile_prepend", lambda m, x: m.tile(x, (2, 1, 3)), (2, 3)),
    ("tile_short_reps", lambda m, x: m.tile(x, (2,)), (2, 3)),
    ("repeat_flat", lambda m, x: m.repeat(x, 2), (2, 3)),
    ("repeat_ax1", lambda m, x: m.repeat(x, 3, axis=1), (2, 3)),
    ("repeat_each", lambda m, x: m.repeat(x, seq(m, [1, 0, 2]), axis=0), (3, 4)),
    ("repeat_each_neg_axis", lambda m, x: m.repeat(x, seq(m, [2, 1, 3, 1]), axis=-1), (3, 4)),
    ("repeat_each_flat", lambda m, x: m.repeat(x, seq(m, [1, 2, 0, 3, 1, 1])), (2, 3)),
    ("pad_const", lambda m, x: m.pad(x, 1), (3, 4)),
    ("pad_const_values", lambda m, x: m.pad(x, ((1, 2), (0, 3)), constant_values=((5.0, 6.0), (7.0, 8.0))), (3, 4)),
    ("pad_edge", lambda m, x: m.pad(x, ((2, 1), (3, 0)), mode="edge"), (3, 4)),
    ("pad_wrap", lambda m, x: m.pad(x, ((4, 7), (1, 2)), mode="wrap"), (3, 4)),
    ("pad_reflect", lambda m, x: m.pad(x, ((5, 6), (2, 1)), mode="reflect"), (3, 4)),
    ("pad_symmetric", lambda m, x: m.pad(x, ((5, 7), (2, 4)), mode="symmetric"), (3, 4)),
    ("pad_reflect_1", lambda m, x: m.pad(x, (2, 3), mode="reflect"), (1, 4)),
    ("pad_pair", lambda m, x: m.pad(x, (1, 2)), (2, 3)),
    ("diff", lambda m, x: m.diff(x), (3, 5)),
    ("diff_n2_ax0", lambda m, x: m.diff(x, 2, axis=0), (4, 3)),
    ("diff_pre_app", lambda m, x: m.diff(x, axis=1, prepend=0.5, append=C2[:, :2]), (3, 4)),
    ("diff_n_big", lambda m, x: m.diff(x, 5), (3, 4)),
    ("ediff1d", lambda m, x: m.ediff1d(x), (2, 3)),
    ("ediff1d_ends", lambda m, x: m.ediff1d(x, to_end=seq(m, [1.0, 2.0]), to_begin=-3.0), (2, 3)),
    ("vstack", lambda m, x: m.vstack([x, 2.0 * x, m.sin(x)]), (4,)),
    ("row_stack", lambda m, x: m.vstack([x, x * x]), (2, 4)),
    ("hstack_1d", lambda m, x: m.hstack([x, x[:2]]), (4,)),
    ("hstack_2d", lambda m, x: m.hstack([x, 3.0 * x[:, :1]]), (3, 4)),
    ("dstack", lambda m, x: m.dstack([x, x * x]), (3, 4)),
    ("dstack_1d", lambda m, x: m.dstack([x, -x]), (4,)),
    ("column_stack", lambda m, x: m.column_stack([x, 2.0 * x]), (4,)),
    ("column_stack_2d", lambda m, x: m.column_stack([x[0], m.reshape(x, (4, 3))]), (3, 4)),
    ("split", lambda m, x: m.split(x, 2, axis=1), (3, 4)),
    ("split_indices", lambda m, x: m.split(x, [1, 3]), (5, 2)),
    ("split_indices_beyond", lambda m, x: m.split(x, [2, 4], axis=-1), (2, 5)),
    ("array_split", lambda m, x: m.array_split(x, 3), (7, 2)),
    ("array_split_more", lambda m, x: m.array_split(x, 4, axis=1), (2, 3)),
    ("hsplit", lambda m, x: m.hsplit(x, 2), (3, 4)),
    ("hsplit_1d", lambda m, x: m.hsplit(x, [1, 4]), (6,)),
    ("vsplit", lambda m, x: m.vsplit(x, 3), (3, 4)),
    ("dsplit", lambda m, x: m.dsplit(x, [1]), (2, 3, 4)),
    ("moveaxis", lambda m, x: m.moveaxis(x, 0, -1), (2, 3, 4)),
    ("moveaxis_many", lambda m, x: m.moveaxis(x, [0, 1], [-1, 0]), (2, 3, 4)),
    ("rollaxis", lambda m, x: m.rollaxis(x, 2), (2, 3, 4)),
    ("rollaxis_start", lambda m, x: m.rollaxis(x, 0, 3), (2, 3, 4)),
    ("ravel", lambda m, x: m.ravel(x), (2, 3, 4)),
    ("ravel_F", lambda m, x: m.ravel(x, order="F"), (2, 3)),
    ("atleast_1d", lambda m, x: m.atleast_1d(x) * 2.0, ()),
    ("atleast_2d", lambda m, x: m.atleast_2d(x) * 2.0, (3,)),
    ("atleast_3d_1d", lambda m, x: m.atleast_3d(x) * 2.0, (3,)),
    ("atleast_3d_2d", lambda m, x: m.atleast_3d(x) * 2.0, (3, 2)),
    ("atleast_many", lambda m, x: m.atleast_2d(x[0], x), (3,)),
    ("append_flat", lambda m, x: m.append(x, C1), (2, 3)),
    ("append_axis", lambda m, x: m.append(x, C2[:, :2], axis=1), (3, 4)),
    ("copy", lambda m, x: m.copy(x) * 3.0, (3, 4)),
    ("broadcast_arrays", lambda m, x: m.broadcast_arrays(x, C2[:, :1], 2.0), (4,)),
    ("polyval", lambda m, x: m.polyval(seq(m, [3.0, -2.0, 0.5, 1.0]), x), (3, 4)),
    ("polyval_array", lambda m, x: m.polyval(np.array([1.5, 0.0, -1.0]), x), (5,)),
    ("trapezoid_dx", lambda m, x: m.trapezoid(x, dx=0.5), (3, 4)),
    ("trapezoid_x1d", lambda m, x: m.trapezoid(x, C1, axis=-1), (3, 4)),
    ("trapezoid_xfull", lambda m, x: m.trapezoid(x, C2, axis=0), (3, 4)),
]
CASES = [(name, *same(f), shape) for name, f, shape in TABLE]
IDS = [c[0] for c in CASES]
INPUTS = {c[0]: RNG.uniform(-2.0, 2.0, size=c[4]) for c in CASES}


def _setup(case):
    name, build, ref, jfn, shape = case
    x = sd.tensor(f"x_{name}", shape)
    return x, INPUTS[name], build(x)


@pytest.fixture(scope="module")
def jax_results() -> dict:
    """JAX's value of ``y`` and Hessian of ``sum(sin(y))`` for every case, one jitted function per
    family of cases (XLA compiles a few mid-sized modules faster than one per case, or one huge
    one)."""
    families: dict[str, list] = {}
    for c in CASES:
        families.setdefault(c[0].split("_")[0], []).append(c)
    results = {}
    for cases in families.values():
        def everything(inputs, cases=cases):
            return {c[0]: (c[3](inputs[c[0]]), jax.hessian(lambda v, f=c[3]: jnp.sum(jnp.sin(f(v))))(inputs[c[0]]))
                    for c in cases}

        out = jax.jit(everything)({c[0]: jnp.asarray(INPUTS[c[0]]) for c in cases})
        results.update({k: (np.asarray(v), np.asarray(h)) for k, (v, h) in out.items()})
    return results


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_value_against_numpy(case):
    x, xv, y = _setup(case)
    want = np.asarray(case[2](xv))
    got = sd.evaluate(y, {x: xv})
    assert y.shape == want.shape and np.shape(got) == want.shape
    np.testing.assert_array_equal(got, want)  # entries are moved, not computed: exact


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_gradient_against_finite_differences(case):
    x, xv, y = _setup(case)
    sd.check_grad(y, x, {x: xv})


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_hessian_against_jax(case, jax_results):
    x, xv, y = _setup(case)
    value, hessian = jax_results[case[0]]
    np.testing.assert_allclose(value, case[2](xv), rtol=1e-15)  # the jnp expression is the same function
    H = sd.evaluate(sd.hessian(sd.sum(sd.sin(y)), x), {x: xv})
    np.testing.assert_allclose(H, hessian, rtol=1e-12, atol=1e-12)


# The compiled route: one kernel for a table with one case per code path (Numba spends tens of
# milliseconds per generated line, so the near-repeats of the table above are left out), the
# parts of list results as outputs of their own, and the gradients of the cases whose gradients
# lower to ops of their own (index_grad of strided and reversed slices, scatter, concatenations).
COMPILED = ["diag_vec_k2", "diag_mat_k1", "diagonal_3d", "trace", "tril_k-1", "triu_3d", "tril_1d",
            "flip_axes", "fliplr", "roll_flat", "roll_axes", "rot90_k3", "rot90_3d", "tile_prepend",
            "repeat_ax1", "repeat_each", "pad_const_values", "pad_edge", "pad_wrap", "pad_reflect",
            "pad_symmetric", "diff_n2_ax0", "diff_pre_app", "ediff1d_ends", "vstack", "hstack_2d",
            "dstack", "column_stack", "split_indices", "array_split", "moveaxis_many", "rollaxis_start",
            "ravel_F", "atleast_3d_1d", "append_axis", "broadcast_arrays", "polyval", "trapezoid_x1d",
            "trapezoid_xfull"]
COMPILED_GRADS = ["diag_vec_k2", "repeat_each", "pad_reflect", "roll_axes", "diagonal_3d"]


def test_one_kernel_for_the_table():
    """The values (and some gradients) of the compiled table from one function, against sd.evaluate."""
    feeds, outs = {}, []
    functions = {name: f for name, f, _ in TABLE}
    for case in CASES:
        name = case[0]
        if name not in COMPILED:
            continue
        x, xv, y = _setup(case)
        feeds[x] = xv
        r = functions[name](sd, x)
        outs += r if isinstance(r, list) else [r]
        if name in COMPILED_GRADS:
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
# polyval with coefficients as a node, trapezoid with points as a node
# ---------------------------------------------------------------------------------------------
def test_polyval_and_trapezoid_with_node_arguments():
    p = sd.tensor("p", (4,))
    x = sd.tensor("x", (5,))
    pv, xv = RNG.normal(size=4), RNG.uniform(-2, 2, 5)
    y = sd.polyval(p, x)
    np.testing.assert_allclose(sd.evaluate(y, {p: pv, x: xv}), np.polyval(pv, xv), rtol=1e-14)
    sd.check_grad(y, [p, x], {p: pv, x: xv})
    for wrt, jwrt in ((p, 0), (x, 1)):
        H = sd.evaluate(sd.hessian(sd.sum(sd.sin(y)), wrt), {p: pv, x: xv})
        want = jax.jit(jax.hessian(lambda a, b: jnp.sum(jnp.sin(jnp.polyval(a, b))), argnums=jwrt))(pv, xv)
        np.testing.assert_allclose(H, want, rtol=1e-12, atol=1e-12)
    t = sd.trapezoid(sd.sin(x), x)
    np.testing.assert_allclose(sd.evaluate(t, {x: xv, p: pv}), np.trapezoid(np.sin(xv), xv), rtol=1e-14)
    sd.check_grad(t, x, {x: xv})
    np.testing.assert_allclose(sd.evaluate(sd.trapz(sd.sin(x), dx=0.1), {x: xv}), np.trapezoid(np.sin(xv), dx=0.1))
    # an empty polynomial is zero (NumPy's convention); a constant one broadcasts to x
    np.testing.assert_array_equal(sd.evaluate(sd.polyval([], x), {x: xv}), np.zeros(5))
    np.testing.assert_array_equal(sd.evaluate(sd.polyval([2.5], x), {x: xv}), np.polyval([2.5], xv))


def test_list_results():
    x = sd.tensor("x", (6, 2))
    xv = RNG.normal(size=(6, 2))
    for ours, theirs in [(sd.split(x, 3), np.split(xv, 3)), (sd.array_split(x, 4), np.array_split(xv, 4)),
                         (sd.split(x, [2, 3, 10]), np.split(xv, [2, 3, 10])),
                         (sd.atleast_3d(x, x[0]), np.atleast_3d(xv, xv[0])),
                         (sd.broadcast_arrays(x, x[:1]), np.broadcast_arrays(xv, xv[:1]))]:
        assert isinstance(ours, list) and len(ours) == len(theirs)
        for o, t in zip(ours, theirs):
            np.testing.assert_array_equal(sd.evaluate(o, {x: xv}), t)
    assert sd.copy(x) is x and sd.atleast_2d(x) is x


# ---------------------------------------------------------------------------------------------
# float32, vmap, sparse Hessians, named dims
# ---------------------------------------------------------------------------------------------
def test_float32():
    x = sd.tensor("x", (3, 4), "float32")
    xv = RNG.normal(size=(3, 4)).astype(np.float32)
    pairs = [(sd.diag(x[0], 1), np.diag(xv[0], 1)), (sd.trace(x), np.trace(xv)), (sd.triu(x), np.triu(xv)),
             (sd.roll(x, 1, 1), np.roll(xv, 1, 1)), (sd.pad(x, 2, "reflect"), np.pad(xv, 2, "reflect")),
             (sd.pad(x, 1, constant_values=2.5), np.pad(xv, 1, constant_values=2.5)),
             (sd.repeat(x, [1, 2, 0], 0), np.repeat(xv, [1, 2, 0], 0)), (sd.tile(x, 2), np.tile(xv, 2)),
             (sd.diff(x, 2), np.diff(xv, 2)), (sd.polyval([1.0, 2.0, 3.0], x), np.polyval(np.float32([1, 2, 3]), xv)),
             (sd.trapezoid(x, dx=0.5), np.trapezoid(xv, dx=np.float32(0.5))), (sd.rot90(x), np.rot90(xv))]
    outs = [o for o, _ in pairs] + [sd.grad(sd.sum(sd.sin(sd.pad(x, 2, "symmetric") * 2)), x)]
    got = sd.evaluate(outs, {x: xv})
    for o, g, (_, want) in zip(outs, got, pairs):
        assert o.dtype == np.float32 and np.asarray(g).dtype == np.float32, o
        np.testing.assert_allclose(g, want, rtol=1e-6, atol=1e-6)
    for g, r in zip(sd.function([x], outs, mode="numba")(xv), got):
        assert np.asarray(g).dtype == np.float32
        np.testing.assert_allclose(g, r, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("build", [
    lambda x: sd.diag(x[0], -1), lambda x: sd.diagonal(x, 1), lambda x: sd.tril(x, 1), lambda x: sd.roll(x, 1),
    lambda x: sd.roll(x, -1, axis=0), lambda x: sd.rot90(x), lambda x: sd.tile(x, (2, 1)),
    lambda x: sd.repeat(x, [2, 0, 1], axis=0), lambda x: sd.repeat(x, 2), lambda x: sd.pad(x, 2, "wrap"),
    lambda x: sd.diff(x, 2, axis=1), lambda x: join(sd.hsplit(x, 2), sd), lambda x: sd.polyval([1.0, -1.0, 2.0], x),
    lambda x: sd.trapezoid(x, [0.0, 0.5, 1.5, 3.0]), lambda x: sd.grad(sd.sum(sd.sin(sd.pad(x, 3, "reflect"))), x),
], ids=["diag", "diagonal", "tril", "roll_flat", "roll", "rot90", "tile", "repeat_each", "repeat", "pad_wrap",
        "diff", "hsplit", "polyval", "trapezoid", "grad_pad"])
def test_vmap(build):
    x = sd.tensor("x", (3, 4))
    X = sd.tensor("X", (5, 3, 4))
    Xv = RNG.normal(size=(5, 3, 4))
    y = build(x)
    got = sd.evaluate(sd.vmap(y, x, X), {X: Xv})
    want = np.stack([sd.evaluate(y, {x: Xv[b]}) for b in range(5)])
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-14)




def test_sparse_hessian_patterns():
    n = 8
    x = sd.tensor("x", (n,))
    xv = RNG.normal(size=n)
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    # diff couples neighbours only: tridiagonal
    P = checked_sparse_pattern(sd.sum(sd.sin(sd.diff(x)) ** 2), x, xv)
    np.testing.assert_array_equal(P, np.abs(i - j) <= 1)
    # second differences: pentadiagonal
    P = checked_sparse_pattern(sd.sum(sd.sin(sd.diff(x, 2)) ** 2), x, xv)
    np.testing.assert_array_equal(P, np.abs(i - j) <= 2)
    # roll: neighbours on a ring (x_0 and x_{n-1} couple)
    P = checked_sparse_pattern(sd.sum(sd.sin(x * sd.roll(x, 1))), x, xv)
    np.testing.assert_array_equal(P, ((i - j) % n <= 1) | ((j - i) % n <= 1))
    # a reflect pad only mirrors entries: still local
    P = checked_sparse_pattern(sd.sum(sd.tanh(sd.diff(sd.pad(x, 2, "reflect")))), x, xv)
    assert P.sum() < n * n / 2 and np.all(P[np.abs(i - j) <= 1])
    # a 2-d diagonal of x x^T touches each x_i alone
    X = sd.tensor("X", (4, 4))
    P = checked_sparse_pattern(sd.sum(sd.sin(sd.diagonal(X)) ** 3 + sd.sum(sd.tril(X, -1) ** 2)), X, RNG.normal(size=(4, 4)))
    np.testing.assert_array_equal(P, np.eye(16, dtype=bool))


def test_named_dims():
    x = sd.tensor("x", ("n", 3))
    xv = RNG.normal(size=(5, 3))
    outs = [sd.flip(x), sd.diff(x, axis=0), sd.diff(x, 2, axis=0), sd.trapezoid(x, axis=0), sd.flipud(x),
            sd.roll(x, 1, axis=1), sd.pad(x, ((0, 0), (1, 2)), "reflect"), sd.tile(x, (1, 2)),
            sd.repeat(x, 2, axis=1), sd.moveaxis(x, 0, 1), sd.column_stack([x[:, 0], x])]
    refs = [np.flip(xv), np.diff(xv, axis=0), np.diff(xv, 2, axis=0), np.trapezoid(xv, axis=0), np.flipud(xv),
            np.roll(xv, 1, axis=1), np.pad(xv, ((0, 0), (1, 2)), "reflect"), np.tile(xv, (1, 2)),
            np.repeat(xv, 2, axis=1), np.moveaxis(xv, 0, 1), np.column_stack([xv[:, 0], xv])]
    got = sd.evaluate(outs, {x: xv})
    for g, r in zip(got, refs):
        np.testing.assert_allclose(g, r, rtol=1e-15)
    for what, f in [("roll", lambda: sd.roll(x, 1, axis=0)), ("roll", lambda: sd.roll(x, 1)),
                    ("diag", lambda: sd.diag(x[:, 0])), ("diagonal", lambda: sd.diagonal(x)),
                    ("pad", lambda: sd.pad(x, 1)), ("tile", lambda: sd.tile(x, (2, 1))),
                    ("repeat", lambda: sd.repeat(x, 2, axis=0)), ("repeat", lambda: sd.repeat(x, [1, 2, 3], axis=1)),
                    ("triu", lambda: sd.triu(x)), ("ravel", lambda: sd.ravel(x)),
                    ("repeat", lambda: sd.repeat(x, 2)), ("append", lambda: sd.append(x, 1.0)),
                    ("diff with prepend", lambda: sd.diff(x, axis=0, prepend=0.0)),
                    ("array_split", lambda: sd.array_split(x, 2))]:
        with pytest.raises(sd.ShapeError, match=what):
            f()


def test_errors():
    x = sd.tensor("x", (3, 4))
    cases = [
        (sd.ShapeError, "diag", lambda: sd.diag(sd.tensor("t", (2, 2, 2)))),
        (sd.ShapeError, "diagonal", lambda: sd.diagonal(x, 0, 1, -1)),
        (sd.ShapeError, "diagonal", lambda: sd.diagonal(x[0])),
        (sd.ShapeError, "fliplr", lambda: sd.fliplr(x[0])),
        (sd.ShapeError, "rot90", lambda: sd.rot90(x, axes=(0, 0))),
        (sd.ShapeError, "rot90", lambda: sd.rot90(x, axes=(0, 1, 2))),
        (sd.ShapeError, "split", lambda: sd.split(x, 3, axis=1)),
        (sd.ShapeError, "array_split", lambda: sd.array_split(x, 0)),
        (sd.ShapeError, "hsplit", lambda: sd.hsplit(sd.scalar("s"), 2)),
        (sd.ShapeError, "vsplit", lambda: sd.vsplit(x[0], 2)),
        (sd.ShapeError, "dsplit", lambda: sd.dsplit(x, 2)),
        (sd.ShapeError, "pad", lambda: sd.pad(x, -1)),
        (sd.ShapeError, "pad", lambda: sd.pad(x, ((1, 2), (3, 4), (5, 6)))),
        (sd.ShapeError, "pad", lambda: sd.pad(x[:, :0], 1, "edge")),
        (sd.SymdiffError, "pad", lambda: sd.pad(x, 1, "median")),
        (sd.SymdiffError, "pad", lambda: sd.pad(x, 1.5)),
        (sd.ShapeError, "diff", lambda: sd.diff(x, -1)),
        (sd.ShapeError, "moveaxis", lambda: sd.moveaxis(x, [0, 1], [0])),
        (sd.ShapeError, "rollaxis", lambda: sd.rollaxis(x, 0, 5)),
        (sd.ShapeError, "repeat", lambda: sd.repeat(x, [1, 2], axis=0)),
        (sd.ShapeError, "repeat", lambda: sd.repeat(x, -1)),
        (sd.SymdiffError, "repeat", lambda: sd.repeat(x, 1.5)),
        (sd.ShapeError, "tile", lambda: sd.tile(x, -2)),
        (sd.ShapeError, "polyval", lambda: sd.polyval(sd.scalar("s"), x)),
        (sd.SymdiffError, "polyval", lambda: sd.polyval([[1.0, 2.0]], x)),
        (sd.ShapeError, "trapezoid", lambda: sd.trapezoid(sd.scalar("s"))),
        (sd.ShapeError, "broadcast_arrays", lambda: sd.broadcast_arrays(x, x[:, :2])),
        (sd.ShapeError, "roll", lambda: sd.roll(x, 1, axis=2)),
        (sd.ShapeError, "roll", lambda: sd.roll(x, (1, 2), axis=(0, 1, 1))),
        (sd.ShapeError, "trapezoid", lambda: sd.trapezoid(x, [1.0, 2.0])),
        (sd.SymdiffError, "ravel", lambda: sd.ravel(x, "Z")),
        (sd.ShapeError, "vstack", lambda: sd.vstack([])),
    ]
    for err, what, f in cases:
        with pytest.raises(err, match=what):
            f()
