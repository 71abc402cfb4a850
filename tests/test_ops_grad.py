"""Every op: values against NumPy/SciPy, first and second derivatives against central finite
differences, kink conventions, numerics at large magnitudes, float32, and a SymPy second route.

Each case builds ``y = f(*xs)`` and checks, through the ``run`` fixture (all backends):

* the value of ``y`` against a NumPy/SciPy reference;
* ``grad(sum(R1 * y), xs)`` against ``sd.numeric_grad`` (central differences);
* second derivatives ``grad(sum_i sum(g_i * R2_i), xs)`` of that gradient against
  ``sd.numeric_grad`` of the scalar ``sum_i sum(g_i * R2_i)`` (for ops that are linear in their
  inputs, ``sum(R1 * y * y)`` is used so that the second derivative goes through the op twice).

Inputs are drawn away from kinks (relu/abs at 0, clip bounds, max ties); the conventions at the
kinks are tested separately with exact values.
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.special
import sympy

import symdiff as sd

RTOL, ATOL = 1e-5, 1e-6


# ---------------------------------------------------------------------------------------------
# input generators (all keep a safe distance from kinks and domain edges)
# ---------------------------------------------------------------------------------------------
def g_any(rng, shape):
    return rng.uniform(-2.0, 2.0, size=shape)


def g_pos(rng, shape):
    return rng.uniform(0.5, 2.0, size=shape)


def g_small(rng, shape):
    return rng.uniform(-1.0, 1.0, size=shape)


def g_away(rng, shape):
    """|x| in [0.2, 2]: away from 0 (relu, abs, sign, leaky_relu, elu kinks)."""
    mag = rng.uniform(0.2, 2.0, size=shape)
    sgn = np.where(rng.random(size=shape) < 0.5, -1.0, 1.0)
    return mag * sgn


def g_distinct(rng, shape):
    """Entries pairwise at least 0.05 apart (no ties for max/min, even under FD steps)."""
    n = int(np.prod(shape, dtype=int))
    vals = (rng.permutation(n) - n / 2) * 0.1 + rng.uniform(0.0, 0.03, size=n)
    return vals.reshape(shape)


def g_int01(rng, shape):
    """0/1 floats (for conditions built with sd.equal / sd.not_equal)."""
    return rng.integers(0, 2, size=shape).astype(float)


# ---------------------------------------------------------------------------------------------
# the generic check
# ---------------------------------------------------------------------------------------------
class Case:
    def __init__(self, cid, f, shapes, gens, ref=None, linear=False, nwrt=None, rtol=RTOL, atol=ATOL, vtol=1e-12):
        self.cid, self.f, self.shapes, self.ref = cid, f, shapes, ref
        self.gens = gens if isinstance(gens, (list, tuple)) else [gens] * len(shapes)
        self.linear = linear
        self.nwrt = len(shapes) if nwrt is None else nwrt
        self.rtol, self.atol, self.vtol = rtol, atol, vtol

    def __repr__(self):
        return self.cid


def _assert_close(got, want, rtol, atol, what):
    got = np.asarray(got, dtype=float)
    want = np.asarray(want, dtype=float)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=what)


class _Built:
    """One case turned into a graph: outputs to evaluate and the scalars to difference."""

    def __init__(self, case: Case, k: int, rng):
        self.case = case
        self.xs = [sd.tensor(f"c{k}_x{i}", s) for i, s in enumerate(case.shapes)]
        self.vals = {x: gen(rng, s) for x, gen, s in zip(self.xs, case.gens, case.shapes)}
        self.wrt = self.xs[: case.nwrt]
        self.y = case.f(*self.xs)
        R1 = rng.standard_normal(tuple(self.y.shape))
        self.t1 = sd.sum(self.y * R1)
        self.g1 = sd.grad(self.t1, self.wrt)
        if case.linear:  # go through the op twice so that the second derivative is not zero
            gb = sd.grad(sd.sum(self.y * self.y * R1), self.wrt)
        else:
            gb = self.g1
        R2 = [rng.standard_normal(x.shape) for x in self.wrt]
        t2 = sd.sum(gb[0] * R2[0])
        for g, r in zip(gb[1:], R2[1:]):
            t2 = t2 + sd.sum(g * r)
        self.t2 = t2
        self.g2 = sd.grad(t2, self.wrt)
        self.outputs = [self.y, *self.g1, *self.g2]

    def check(self, out):
        case, wrt = self.case, self.wrt
        yv, g1v, g2v = out[0], out[1 : 1 + len(wrt)], out[1 + len(wrt) :]
        # the value against NumPy / SciPy
        assert np.shape(yv) == tuple(self.y.shape), case.cid
        if case.ref is not None:
            want = case.ref(*[self.vals[x] for x in self.xs])
            _assert_close(yv, want, case.vtol, case.vtol, f"{case.cid}: value")
        # first derivatives against central differences
        n1 = sd.numeric_grad(self.t1, wrt, self.vals)
        for x, gv, nv in zip(wrt, g1v, n1):
            assert np.shape(gv) == x.shape, case.cid
            _assert_close(gv, nv, case.rtol, case.atol, f"{case.cid}: d/d{x.name}")
        # second derivatives against central differences of the gradient
        n2 = sd.numeric_grad(self.t2, wrt, self.vals)
        for x, gv, nv in zip(wrt, g2v, n2):
            assert np.shape(gv) == x.shape, case.cid
            _assert_close(gv, nv, 10 * case.rtol, 10 * case.atol, f"{case.cid}: second derivative d/d{x.name}")


def check_cases(run, cases, seed=0):
    """Build every case, evaluate all of them with ONE ``run`` call (one compiled kernel per test
    on compiling backends), then check each against NumPy and finite differences."""
    rng = np.random.default_rng(seed)
    built = [_Built(c, k, rng) for k, c in enumerate(cases)]
    outputs, inputs = [], {}
    for b in built:
        outputs.extend(b.outputs)
        inputs.update(b.vals)
    out = run(outputs, inputs)
    pos = 0
    for b in built:
        n = len(b.outputs)
        b.check(out[pos : pos + n])
        pos += n


def check_case(run, case: Case, seed=0):
    check_cases(run, [case], seed)


# ---------------------------------------------------------------------------------------------
# unary elementwise ops, on a scalar and a matrix
# ---------------------------------------------------------------------------------------------
def _np_elu(x, a):
    return np.where(x > 0, x, a * np.expm1(np.minimum(x, 0)))


UNARY = [
    ("neg", lambda x: -x, np.negative, g_any, True),
    ("neg_fn", sd.neg, np.negative, g_any, True),
    ("exp", sd.exp, np.exp, g_any, False),
    ("log", sd.log, np.log, g_pos, False),
    ("log1p", sd.log1p, np.log1p, lambda r, s: r.uniform(-0.5, 2.0, s), False),
    ("expm1", sd.expm1, np.expm1, g_any, False),
    ("sqrt", sd.sqrt, np.sqrt, g_pos, False),
    ("sin", sd.sin, np.sin, g_any, False),
    ("cos", sd.cos, np.cos, g_any, False),
    ("tan", sd.tan, np.tan, lambda r, s: r.uniform(-1.2, 1.2, s), False),
    ("tanh", sd.tanh, np.tanh, g_any, False),
    ("sigmoid", sd.sigmoid, scipy.special.expit, g_any, False),
    ("softplus", sd.softplus, lambda x: np.logaddexp(0.0, x), g_any, False),
    ("relu", sd.relu, lambda x: np.maximum(x, 0.0), g_away, False),
    ("leaky_relu", lambda x: sd.leaky_relu(x, 0.1), lambda x: np.where(x > 0, x, 0.1 * x), g_away, False),
    ("leaky_relu_default", sd.leaky_relu, lambda x: np.where(x > 0, x, 0.01 * x), g_away, False),
    ("elu", lambda x: sd.elu(x, 0.7), lambda x: _np_elu(x, 0.7), g_away, False),
    ("elu_default", sd.elu, lambda x: _np_elu(x, 1.0), g_away, False),
    ("abs", sd.abs, np.abs, g_away, False),
    ("abs_builtin", abs, np.abs, g_away, False),
    ("sign", lambda x: sd.sign(x) * x * x, lambda x: np.sign(x) * x * x, g_away, False),
    ("clip", lambda x: sd.clip(x, -0.5, 1.0), lambda x: np.clip(x, -0.5, 1.0),
     lambda r, s: r.choice([-1.0, -0.3, 0.1, 0.7, 1.4], size=s) + r.uniform(-0.05, 0.05, s), False),
    ("hard_tanh", sd.hard_tanh, lambda x: np.clip(x, -1.0, 1.0),
     lambda r, s: r.choice([-1.6, -0.5, 0.2, 0.8, 1.5], size=s) + r.uniform(-0.05, 0.05, s), False),
    ("square", sd.square, np.square, g_any, False),
    ("pow2", lambda x: x ** 2, lambda x: x ** 2, g_any, False),
    ("pow3", lambda x: x ** 3, lambda x: x ** 3, g_any, False),
    ("pow_neg_int", lambda x: x ** -2, lambda x: x ** -2.0, g_away, False),
    ("pow_neg_frac", lambda x: x ** -1.5, lambda x: x ** -1.5, g_pos, False),
    ("pow_frac", lambda x: x ** 0.5, np.sqrt, g_pos, False),
    ("pow_frac_2_5", lambda x: sd.power(x, 2.5), lambda x: x ** 2.5, g_pos, False),
    ("rpow", lambda x: 2.0 ** x, lambda x: 2.0 ** x, g_any, False),
    ("rdiv", lambda x: 1.0 / x, lambda x: 1.0 / x, g_away, False),
    ("rsub", lambda x: 3.0 - x, lambda x: 3.0 - x, g_any, True),
    ("scale", lambda x: 2.5 * x + 1.0, lambda x: 2.5 * x + 1.0, g_any, True),
]


@pytest.mark.parametrize("name,f,ref,gen,linear", UNARY, ids=[u[0] for u in UNARY])
def test_unary(run, name, f, ref, gen, linear):
    """On a scalar, a vector and a matrix."""
    check_cases(run, [Case(f"{name}{shape}", f, [shape], [gen], ref=ref, linear=linear)
                      for shape in [(), (4,), (2, 3)]])


# ---------------------------------------------------------------------------------------------
# binary elementwise ops with broadcasting
# ---------------------------------------------------------------------------------------------
BCAST = [((3, 1), (4,)), ((), (2, 3)), ((2, 3), ()), ((2, 1, 3), (4, 1)), ((2, 3), (2, 3))]
BCAST_IDS = ["3x1_4", "scalar_mat", "mat_scalar", "2x1x3_4x1", "same"]


BINARY = [
    ("add", lambda a, b: a + b, np.add, g_any, g_any, True),
    ("add_fn", sd.add, np.add, g_any, g_any, True),
    ("sub", lambda a, b: a - b, np.subtract, g_any, g_any, True),
    ("sub_fn", sd.sub, np.subtract, g_any, g_any, True),
    ("mul", lambda a, b: a * b, np.multiply, g_any, g_any, False),
    ("mul_fn", sd.mul, np.multiply, g_any, g_any, False),
    ("div", lambda a, b: a / b, np.divide, g_any, g_pos, False),
    ("div_fn", sd.div, np.divide, g_any, g_away, False),
    ("pow_var_exponent", lambda a, b: a ** b, np.power, g_pos, g_any, False),
    ("pow_fn", sd.power, np.power, g_pos, g_small, False),
]


@pytest.mark.parametrize("name,f,ref,ga,gb,linear", BINARY, ids=[b[0] for b in BINARY])
def test_binary_broadcast(run, name, f, ref, ga, gb, linear):
    check_cases(run, [Case(f"{name}_{bid}", f, [sa, sb], [ga, gb], ref=ref, linear=linear)
                      for (sa, sb), bid in zip(BCAST, BCAST_IDS)])


def _pair_gen(which):
    def gen_a(rng, shape):
        return rng.choice([-1.75, -0.75, 0.25, 1.25], size=shape) + rng.uniform(-0.03, 0.03, size=shape)

    def gen_b(rng, shape):
        return rng.choice([-1.25, -0.25, 0.75, 1.75], size=shape) + rng.uniform(-0.03, 0.03, size=shape)

    return gen_a if which == 0 else gen_b


@pytest.mark.parametrize(
    "name,f,ref",
    [
        ("maximum", sd.maximum, np.maximum),
        ("minimum", sd.minimum, np.minimum),
        ("maximum_times", lambda a, b: sd.maximum(a, b) * a, lambda a, b: np.maximum(a, b) * a),
        ("minimum_sq", lambda a, b: sd.minimum(a * a, b), lambda a, b: np.minimum(a * a, b)),
    ],
)
def test_maximum_minimum(run, name, f, ref):
    # a and b are drawn from interleaved grids: |a - b| >= 0.44 everywhere, no ties
    check_cases(run, [Case(f"{name}_{bid}", f, [sa, sb], [_pair_gen(0), _pair_gen(1)], ref=ref)
                      for (sa, sb), bid in zip(BCAST, BCAST_IDS)])


CMPS = [
    ("less", sd.less, np.less),
    ("less_equal", sd.less_equal, np.less_equal),
    ("greater", sd.greater, np.greater),
    ("greater_equal", sd.greater_equal, np.greater_equal),
    ("lt_operator", lambda a, b: a < b, np.less),
    ("le_operator", lambda a, b: a <= b, np.less_equal),
    ("gt_operator", lambda a, b: a > b, np.greater),
    ("ge_operator", lambda a, b: a >= b, np.greater_equal),
    ("not_equal", sd.not_equal, np.not_equal),
]


@pytest.mark.parametrize("name,cmp,ref", CMPS, ids=[c[0] for c in CMPS])
def test_where_with_comparison(run, name, cmp, ref):
    def f(a, b):
        return sd.where(cmp(a, b), a * b, sd.sin(a) - b)

    def np_f(a, b):
        return np.where(ref(a, b), a * b, np.sin(a) - b)

    check_cases(run, [Case(f"where_{name}_{sa}_{sb}", f, [sa, sb], [_pair_gen(0), _pair_gen(1)], ref=np_f)
                      for sa, sb in [((3, 1), (4,)), ((2, 3), ()), ((), (2,))]])


def _where_eq(cmp, ref):
    def f(a, b, k):
        return sd.where(cmp(k, 1.0), sd.exp(a) * b, a - b * b)

    def np_f(a, b, k):
        return np.where(ref(k, 1.0), np.exp(a) * b, a - b * b)

    return f, np_f


def test_where_equality_conditions_and_broadcast_condition(run):
    """sd.equal / sd.not_equal conditions on a third, non-differentiated input (0/1 values, so the
    equalities are exact), and a broadcast condition with a constant branch."""
    f_eq, np_eq = _where_eq(sd.equal, np.equal)
    f_ne, np_ne = _where_eq(sd.not_equal, np.not_equal)
    shapes, gens = [(2, 3), (3,), (2, 1)], [g_any, g_any, g_int01]
    check_cases(run, [
        Case("where_equal", f_eq, shapes, gens, ref=np_eq, nwrt=2),
        Case("where_not_equal", f_ne, shapes, gens, ref=np_ne, nwrt=2),
        Case("where_bcast_cond", lambda a: sd.where(a[:, :1] > 0.0, a * a, 3.0), [(3, 4)], [g_away],
             ref=lambda a: np.where(a[:, :1] > 0.0, a * a, 3.0)),
    ])


def test_comparison_values(run):
    a, b = sd.vector("a", 5), sd.vector("b", 5)
    av = np.array([1.0, 2.0, 3.0, -1.0, 0.0])
    bv = np.array([1.0, 3.0, 2.0, -1.0, 0.5])
    outs = [sd.where(c, 1.0, 0.0) for c in (a < b, a <= b, a > b, a >= b, sd.equal(a, b), sd.not_equal(a, b))]
    got = run(outs, {a: av, b: bv})
    for g, ref in zip(got, (np.less, np.less_equal, np.greater, np.greater_equal, np.equal, np.not_equal)):
        np.testing.assert_array_equal(g, ref(av, bv).astype(float))


# ---------------------------------------------------------------------------------------------
# reductions
# ---------------------------------------------------------------------------------------------
AXES = [None, 0, 1, -1, (0, 2), (-1, 0), (0, 1, 2)]


def _np_red(fn, axis, keepdims):
    return lambda x: fn(x, axis=axis, keepdims=keepdims)


@pytest.mark.parametrize("keepdims", [False, True], ids=["drop", "keep"])
@pytest.mark.parametrize(
    "name,fn,npfn,linear",
    [
        ("sum", sd.sum, np.sum, True),
        ("mean", sd.mean, np.mean, True),
        ("max", sd.max, np.max, False),
        ("min", sd.min, np.min, False),
    ],
)
def test_reductions(run, name, fn, npfn, linear, keepdims):
    """axis None / int / negative int / tuples, on a 3-d input (entries pairwise apart: no ties)."""

    def case(axis):
        return Case(f"{name}(axis={axis})", lambda x: fn(x, axis=axis, keepdims=keepdims), [(2, 3, 4)],
                    [g_distinct], ref=_np_red(npfn, axis, keepdims), linear=linear)

    check_cases(run, [case(axis) for axis in AXES])


def test_reduction_methods_composed(run):
    check_cases(run, [
        Case("sum_method", lambda x: x.sum(axis=1) * x.mean(), [(3, 4)], [g_distinct],
             ref=lambda x: x.sum(axis=1) * x.mean()),
        Case("max_method", lambda x: x.max(axis=0, keepdims=True) * x, [(3, 4)], [g_distinct],
             ref=lambda x: x.max(axis=0, keepdims=True) * x),
        Case("min_method", lambda x: sd.exp(x.min(-1)), [(3, 4)], [g_distinct], ref=lambda x: np.exp(x.min(-1))),
        Case("max_of_vector", lambda x: sd.max(x[0]) ** 2, [(3, 4)], [g_distinct], ref=lambda x: np.max(x[0]) ** 2),
        Case("sum_empty_axes_keep", lambda x: sd.sum(x, axis=(), keepdims=True) * x, [(3, 4)], [g_distinct],
             ref=lambda x: np.sum(x, axis=(), keepdims=True) * x),
    ])


def test_mean_over_named_dim(run):
    """mean over a named dim divides by the size bound at evaluation time."""
    x = sd.tensor("x", ("n", 3))
    y = sd.sum(sd.mean(x, axis=0) ** 2) + sd.mean(sd.sin(x))
    g = sd.grad(y, x)
    for n in (2, 5):
        xv = np.random.default_rng(n).standard_normal((n, 3))
        yv, gv = run([y, g], {x: xv})
        assert np.isclose(yv, np.sum(np.mean(xv, 0) ** 2) + np.mean(np.sin(xv)), rtol=1e-12)
        (num,) = sd.numeric_grad(y, [x], {x: xv})
        np.testing.assert_allclose(gv, num, rtol=RTOL, atol=ATOL)


# ---------------------------------------------------------------------------------------------
# linear algebra
# ---------------------------------------------------------------------------------------------
MATMUL = [
    ("vec@vec", (3,), (3,)),
    ("vec@mat", (3,), (3, 4)),
    ("mat@vec", (2, 3), (3,)),
    ("mat@mat", (2, 3), (3, 4)),
    ("batch3d@mat", (5, 2, 3), (3, 4)),
    ("mat@batch3d", (2, 3), (5, 3, 4)),
    ("batch3d@batch3d", (5, 2, 3), (5, 3, 4)),
    ("batch_broadcast_1", (1, 2, 3), (4, 3, 2)),
    ("batch_broadcast_4d", (2, 1, 2, 3), (3, 3, 2)),
    ("batched@vector", (4, 2, 3), (3,)),
    ("vector@batched", (3,), (4, 3, 2)),
]


@pytest.mark.parametrize("batched", [False, True], ids=["plain", "batched"])
def test_matmul(run, batched):
    check_cases(run, [Case(name, lambda a, b: a @ b, [sa, sb], g_any, ref=np.matmul)
                      for name, sa, sb in MATMUL if (len(sa) > 2 or len(sb) > 2) == batched])


def test_matmul_function_rmatmul_dot_outer(run):
    A = np.random.default_rng(3).standard_normal((2, 3))
    check_cases(run, [
        Case("matmul_fn", sd.matmul, [(2, 3), (3, 2)], g_any, ref=np.matmul),
        Case("rmatmul_const", lambda b: A @ b, [(3, 2)], g_any, ref=lambda b: A @ b, linear=True),
        Case("dot_vec_vec", sd.dot, [(3,), (3,)], g_any, ref=np.dot),
        Case("dot_mat_vec", sd.dot, [(2, 3), (3,)], g_any, ref=np.dot),
        Case("dot_mat_mat", sd.dot, [(2, 3), (3, 4)], g_any, ref=np.dot),
        Case("dot_scalar_mat", sd.dot, [(), (2, 3)], g_any, ref=np.dot),
        Case("dot_vec_scalar", sd.dot, [(3,), ()], g_any, ref=np.dot),
        Case("dot_method", lambda a, b: a.dot(b), [(2, 3), (3,)], g_any, ref=np.dot),
        Case("outer", sd.outer, [(3,), (4,)], g_any, ref=np.outer),
        Case("outer_self", lambda a: sd.outer(a, sd.sin(a)), [(3,)], g_any, ref=lambda a: np.outer(a, np.sin(a))),
    ])


# ---------------------------------------------------------------------------------------------
# structure: transpose, swapaxes, reshape, broadcast_to, expand_dims, squeeze
# ---------------------------------------------------------------------------------------------
STRUCT = [
    ("T", (2, 3), lambda x: x.T, lambda x: x.T),
    ("T_3d", (2, 3, 4), lambda x: x.T, lambda x: x.T),
    ("transpose_default", (2, 3), sd.transpose, np.transpose),
    ("transpose_axes", (2, 3, 4), lambda x: sd.transpose(x, (2, 0, 1)), lambda x: np.transpose(x, (2, 0, 1))),
    ("transpose_neg_axes", (2, 3, 4), lambda x: sd.transpose(x, (-1, 0, 1)), lambda x: np.transpose(x, (2, 0, 1))),
    ("transpose_method", (2, 3, 4), lambda x: x.transpose(1, 2, 0), lambda x: x.transpose(1, 2, 0)),
    ("transpose_twice", (2, 3, 4), lambda x: sd.transpose(sd.transpose(x, (1, 2, 0)), (1, 0, 2)),
     lambda x: np.transpose(np.transpose(x, (1, 2, 0)), (1, 0, 2))),
    ("swapaxes", (2, 3, 4), lambda x: sd.swapaxes(x, 0, 2), lambda x: np.swapaxes(x, 0, 2)),
    ("swapaxes_neg", (2, 3, 4), lambda x: sd.swapaxes(x, -1, -2), lambda x: np.swapaxes(x, -1, -2)),
    ("reshape", (2, 3, 4), lambda x: sd.reshape(x, (6, 4)), lambda x: x.reshape(6, 4)),
    ("reshape_minus1", (2, 3, 4), lambda x: sd.reshape(x, (4, -1)), lambda x: x.reshape(4, -1)),
    ("reshape_method", (2, 3, 4), lambda x: x.reshape(3, 2, 4), lambda x: x.reshape(3, 2, 4)),
    ("reshape_flat", (2, 3, 4), lambda x: x.reshape(-1), lambda x: x.reshape(-1)),
    ("reshape_to_scalar", (1, 1), lambda x: x.reshape(()), lambda x: x.reshape(())),
    ("reshape_twice", (2, 3, 4), lambda x: x.reshape(6, 4).reshape(2, 12), lambda x: x.reshape(2, 12)),
    ("broadcast_to", (3, 1), lambda x: sd.broadcast_to(x, (2, 3, 4)), lambda x: np.broadcast_to(x, (2, 3, 4))),
    ("broadcast_to_scalar", (), lambda x: sd.broadcast_to(x, (2, 3)), lambda x: np.broadcast_to(x, (2, 3))),
    ("expand_dims0", (2, 3), lambda x: sd.expand_dims(x, 0), lambda x: np.expand_dims(x, 0)),
    ("expand_dims_neg", (2, 3), lambda x: sd.expand_dims(x, -1), lambda x: np.expand_dims(x, -1)),
    ("expand_dims_tuple", (2, 3), lambda x: sd.expand_dims(x, (0, 2)), lambda x: np.expand_dims(x, (0, 2))),
    ("squeeze_all", (1, 3, 1), sd.squeeze, np.squeeze),
    ("squeeze_0", (1, 3, 1), lambda x: sd.squeeze(x, 0), lambda x: np.squeeze(x, 0)),
    ("squeeze_neg", (1, 3, 1), lambda x: sd.squeeze(x, -1), lambda x: np.squeeze(x, -1)),
]


@pytest.mark.parametrize("group", ["transpose_swapaxes", "reshape", "broadcast_expand_squeeze"])
def test_structure(run, group):
    prefixes = {"transpose_swapaxes": ("T", "transpose", "swapaxes"), "reshape": ("reshape",),
                "broadcast_expand_squeeze": ("broadcast", "expand", "squeeze")}[group]
    cases = [Case(name, f, [shape], g_any, ref=ref, linear=True)
             for name, shape, f, ref in STRUCT if name.startswith(prefixes)]
    assert cases
    check_cases(run, cases)


# ---------------------------------------------------------------------------------------------
# indexing
# ---------------------------------------------------------------------------------------------
INDEX = [
    ("int", lambda x: x[1]),
    ("neg_int", lambda x: x[-1]),
    ("int_int", lambda x: x[1, -2]),
    ("int_int_int", lambda x: x[0, 2, 3]),
    ("slice", lambda x: x[1:]),
    ("slice_step", lambda x: x[:, ::2]),
    ("neg_step", lambda x: x[::-1]),
    ("neg_step_2", lambda x: x[:, ::-2]),
    ("neg_step_bounds", lambda x: x[:, 2:0:-1, -1:0:-2]),
    ("none", lambda x: x[None]),
    ("none_middle", lambda x: x[:, None, 1]),
    ("ellipsis", lambda x: x[..., 1]),
    ("ellipsis_none", lambda x: x[..., None, ::-1]),
    ("mixed", lambda x: x[None, 1, ..., 1:3]),
    ("empty_slice", lambda x: x[:, 3:1]),
    ("bounds_beyond_shape", lambda x: x[-100:5, 1:100]),
    ("neg_start_stop_step", lambda x: x[..., -1:-4:-2]),
    ("none_ellipsis_none", lambda x: x[None, ..., None]),
    ("full", lambda x: x[:]),
]


def test_indexing(run):
    check_cases(run, [Case(name, f, [(2, 3, 4)], g_any, ref=f, linear=True) for name, f in INDEX])


def test_indexing_overlapping_uses(run):
    """Several overlapping slices of one input: their gradients are summed."""

    def f(x):
        return x[1:] * x[:-1] + (x[::-1] * sd.sin(x[::-1]))[1:]

    def np_f(x):
        return x[1:] * x[:-1] + (x[::-1] * np.sin(x[::-1]))[1:]

    check_case(run, Case("overlap", f, [(5, 2)], g_any, ref=np_f))


def test_iteration_over_static_dim(run):
    x = sd.vector("x", 3)
    parts = list(x)
    y = parts[0] * parts[1] + sd.exp(parts[2])
    xv = np.array([0.3, -1.2, 0.5])
    yv, gv = run([y, sd.grad(y, x)], {x: xv})
    assert np.isclose(yv, xv[0] * xv[1] + np.exp(xv[2]))
    np.testing.assert_allclose(gv, [xv[1], xv[0], np.exp(xv[2])], rtol=1e-12)
    assert len(x) == 3


# ---------------------------------------------------------------------------------------------
# concatenate and stack
# ---------------------------------------------------------------------------------------------
CONCAT = [
        ("concat0", [(2, 3), (4, 3)], lambda a, b: sd.concatenate([a, b], 0), lambda a, b: np.concatenate([a, b], 0)),
        ("concat1", [(2, 3), (2, 1)], lambda a, b: sd.concatenate([a, b], axis=1),
         lambda a, b: np.concatenate([a, b], 1)),
        ("concat_neg", [(2, 3), (2, 2)], lambda a, b: sd.concatenate([b, a, b], -1),
         lambda a, b: np.concatenate([b, a, b], -1)),
        ("concat_vec", [(3,), (2,)], lambda a, b: sd.concatenate([a, b]), lambda a, b: np.concatenate([a, b])),
        ("stack0", [(2, 3), (2, 3)], lambda a, b: sd.stack([a, b]), lambda a, b: np.stack([a, b])),
        ("stack1", [(2, 3), (2, 3)], lambda a, b: sd.stack([a, b, a], axis=1), lambda a, b: np.stack([a, b, a], 1)),
        ("stack_neg", [(2, 3), (2, 3)], lambda a, b: sd.stack([b, a], axis=-1), lambda a, b: np.stack([b, a], -1)),
        ("stack_scalars", [(), ()], lambda a, b: sd.stack([a, b, a * b]), lambda a, b: np.stack([a, b, a * b])),
]


def test_concatenate_stack(run):
    check_cases(run, [Case(name, f, shapes, g_any, ref=ref, linear=name != "stack_scalars")
                      for name, shapes, f, ref in CONCAT])


# ---------------------------------------------------------------------------------------------
# softmax, log_softmax, logsumexp
# ---------------------------------------------------------------------------------------------
SOFT = [
    ("softmax_last", lambda x: sd.softmax(x), lambda x: scipy.special.softmax(x, axis=-1)),
    ("softmax_0", lambda x: sd.softmax(x, axis=0), lambda x: scipy.special.softmax(x, axis=0)),
    ("softmax_1", lambda x: sd.softmax(x, axis=1), lambda x: scipy.special.softmax(x, axis=1)),
    ("softmax_tuple", lambda x: sd.softmax(x, axis=(0, 2)), lambda x: scipy.special.softmax(x, axis=(0, 2))),
    ("log_softmax_last", lambda x: sd.log_softmax(x), lambda x: scipy.special.log_softmax(x, axis=-1)),
    ("log_softmax_0", lambda x: sd.log_softmax(x, axis=0), lambda x: scipy.special.log_softmax(x, axis=0)),
    ("log_softmax_1", lambda x: sd.log_softmax(x, 1), lambda x: scipy.special.log_softmax(x, axis=1)),
    ("logsumexp_all", lambda x: sd.logsumexp(x), lambda x: scipy.special.logsumexp(x)),
    ("logsumexp_0", lambda x: sd.logsumexp(x, axis=0), lambda x: scipy.special.logsumexp(x, axis=0)),
    ("logsumexp_neg_keep", lambda x: sd.logsumexp(x, axis=-1, keepdims=True),
     lambda x: scipy.special.logsumexp(x, axis=-1, keepdims=True)),
    ("logsumexp_tuple", lambda x: sd.logsumexp(x, axis=(0, 2)), lambda x: scipy.special.logsumexp(x, axis=(0, 2))),
    ("logsumexp_all_keep", lambda x: sd.logsumexp(x, keepdims=True),
     lambda x: scipy.special.logsumexp(x, keepdims=True)),
]


@pytest.mark.parametrize("family", ["softmax", "log_softmax", "logsumexp"])
def test_softmax_family(run, family):
    def family_of(name):
        return next(f for f in ("log_softmax", "logsumexp", "softmax") if name.startswith(f))

    cases = [Case(name, f, [(2, 3, 4)], g_any, ref=ref) for name, f, ref in SOFT if family_of(name) == family]
    if family == "softmax":
        cases.append(Case("softmax_vec", sd.softmax, [(5,)], g_any, ref=scipy.special.softmax))
    if family == "log_softmax":
        cases.append(Case("cross_entropy", lambda z: -sd.log_softmax(z)[2], [(5,)], g_any,
                          ref=lambda z: -scipy.special.log_softmax(z)[2]))
    check_cases(run, cases)


# ---------------------------------------------------------------------------------------------
# cast float32 <-> float64
# ---------------------------------------------------------------------------------------------
def test_cast_64_to_32_and_back(run):
    x = sd.tensor("x", (2, 3))
    R = np.random.default_rng(1).standard_normal((2, 3))
    x32 = sd.cast(x, "float32")
    assert x32.dtype == np.float32
    y = sd.sum(sd.cast(x32 * x32, "float64") * R)
    assert y.dtype == np.float64
    g = sd.grad(y, x)
    assert g.dtype == np.float64
    xv = np.random.default_rng(2).uniform(-2, 2, (2, 3))
    yv, gv, x32v = run([y, g, x32], {x: xv}, rtol=1e-6)
    assert np.asarray(x32v).dtype == np.float32
    np.testing.assert_allclose(yv, np.sum((xv.astype(np.float32) ** 2).astype(np.float64) * R), rtol=1e-6)
    np.testing.assert_allclose(gv, 2 * xv * R, rtol=1e-5)
    # FD through float32 rounding: a large step, loose tolerance
    (num,) = sd.numeric_grad(y, [x], {x: xv}, eps=1e-2)
    np.testing.assert_allclose(gv, num, rtol=1e-3, atol=1e-3)
    # second derivative: d/dx sum(g * R2) = 2 * R * R2
    R2 = np.random.default_rng(3).standard_normal((2, 3))
    h = sd.grad(sd.sum(g * R2), x)
    (hv,) = run([h], {x: xv}, rtol=1e-6)
    np.testing.assert_allclose(hv, 2 * R * R2, rtol=1e-5)


def test_cast_32_to_64(run):
    x = sd.tensor("x", (3,), dtype="float32")
    x64 = sd.cast(x, "float64")
    y = sd.sum(sd.exp(x64) * sd.sin(x64))
    g = sd.grad(y, x)
    assert g.dtype == np.float32 and y.dtype == np.float64
    xv = np.array([0.1, -0.7, 1.3], dtype=np.float32)
    yv, gv = run([y, g], {x: xv}, rtol=1e-6)
    xd = xv.astype(np.float64)
    np.testing.assert_allclose(yv, np.sum(np.exp(xd) * np.sin(xd)), rtol=1e-12)
    assert np.asarray(gv).dtype == np.float32
    np.testing.assert_allclose(gv, np.exp(xd) * (np.sin(xd) + np.cos(xd)), rtol=1e-6)
    (num,) = sd.numeric_grad(y, [x], {x: xv}, eps=1e-3)
    np.testing.assert_allclose(gv, num, rtol=1e-2, atol=1e-3)
    g2 = sd.grad(sd.sum(g), x)  # second derivative: exp(x) * 2 cos(x)
    (g2v,) = run([g2], {x: xv}, rtol=1e-5)
    np.testing.assert_allclose(g2v, 2 * np.exp(xd) * np.cos(xd), rtol=1e-5)


def test_cast_same_dtype_is_identity():
    x = sd.vector("x", 3)
    assert sd.cast(x, "float64") is x


# ---------------------------------------------------------------------------------------------
# kink conventions, exact values
# ---------------------------------------------------------------------------------------------
def _grads(run, y, x, xv):
    return run([y, sd.grad(y, x)], {x: xv})


def test_relu_kink(run):
    x = sd.vector("x", 4)
    xv = np.array([-1.0, 0.0, 2.0, -0.0])
    yv, gv = _grads(run, sd.sum(sd.relu(x)), x, xv)
    assert yv == 2.0
    np.testing.assert_array_equal(gv, [0.0, 0.0, 1.0, 0.0])


def test_abs_kink(run):
    x = sd.vector("x", 3)
    yv, gv = _grads(run, sd.sum(sd.abs(x)), x, np.array([-2.0, 0.0, 3.0]))
    assert yv == 5.0
    np.testing.assert_array_equal(gv, [-1.0, 1.0, 1.0])  # abs'(0) = 1, as JAX
    # and the smooth |x|**2 has its true second derivative 2 at 0
    H = sd.evaluate(sd.hessian(sd.sum(sd.abs(x) ** 2), x), {x: np.zeros(3)})
    np.testing.assert_array_equal(H, 2 * np.eye(3))


@pytest.mark.parametrize("alpha", [0.01, 0.2])
def test_leaky_relu_kink(run, alpha):
    x = sd.vector("x", 3)
    yv, gv = _grads(run, sd.sum(sd.leaky_relu(x, alpha)), x, np.array([-2.0, 0.0, 3.0]))
    assert np.isclose(yv, 3.0 - 2.0 * alpha)
    np.testing.assert_allclose(gv, [alpha, alpha, 1.0], rtol=1e-15)


def test_sign_gradient_is_zero(run):
    x = sd.vector("x", 3)
    yv, gv = _grads(run, sd.sum(sd.sign(x)), x, np.array([-2.0, 0.0, 3.0]))
    assert yv == 0.0
    np.testing.assert_array_equal(gv, [0.0, 0.0, 0.0])


def test_clip_closed_interval(run):
    x = sd.vector("x", 7)
    xv = np.array([-1.5, -1.0, -0.999, 0.0, 1.999, 2.0, 2.5])
    yv, gv = _grads(run, sd.sum(sd.clip(x, -1.0, 2.0) * 3.0), x, xv)
    assert np.isclose(yv, 3 * np.sum(np.clip(xv, -1.0, 2.0)))
    np.testing.assert_array_equal(gv, [0.0, 3.0, 3.0, 3.0, 3.0, 3.0, 0.0])


def test_hard_tanh_closed_interval(run):
    x = sd.vector("x", 5)
    yv, gv = _grads(run, sd.sum(sd.hard_tanh(x)), x, np.array([-3.0, -1.0, 0.5, 1.0, 1.5]))
    assert np.isclose(yv, -1.0 - 1.0 + 0.5 + 1.0 + 1.0)
    np.testing.assert_array_equal(gv, [0.0, 1.0, 1.0, 1.0, 0.0])


def test_max_reduction_splits_ties(run):
    x = sd.vector("x", 4)
    yv, gv = _grads(run, sd.max(x), x, np.array([1.0, 3.0, 3.0, -1.0]))
    assert yv == 3.0
    np.testing.assert_array_equal(gv, [0.0, 0.5, 0.5, 0.0])
    yv, gv = _grads(run, sd.min(x), x, np.array([-1.0, 3.0, -1.0, -1.0]))
    assert yv == -1.0
    np.testing.assert_allclose(gv, [1 / 3, 0.0, 1 / 3, 1 / 3], rtol=1e-15)


def test_max_reduction_ties_along_axis(run):
    X = sd.matrix("X", 3, 3)
    Xv = np.array([[1.0, 1.0, 1.0], [2.0, 5.0, 5.0], [0.0, -1.0, 4.0]])
    W = np.array([2.0, 3.0, 6.0])
    y = sd.sum(sd.max(X, axis=1) * W)
    yv, gv = _grads(run, y, X, Xv)
    assert yv == 2.0 * 1 + 3.0 * 5 + 6.0 * 4
    np.testing.assert_allclose(gv, [[2 / 3, 2 / 3, 2 / 3], [0, 1.5, 1.5], [0, 0, 6.0]], rtol=1e-15)
    yv, gv = _grads(run, sd.sum(sd.min(X, axis=0, keepdims=True)), X, Xv)
    np.testing.assert_allclose(gv, [[0.0, 0.0, 1.0], [0.0, 0.0, 0.0], [1.0, 1.0, 0.0]], rtol=1e-15)


def test_maximum_minimum_split_ties(run):
    a, b = sd.vector("a", 3), sd.vector("b", 3)
    av, bv = np.array([1.0, 2.0, 3.0]), np.array([1.0, 5.0, -3.0])
    for f, routes in ((sd.maximum, ([0.5, 0.0, 1.0], [0.5, 1.0, 0.0])),
                      (sd.minimum, ([0.5, 1.0, 0.0], [0.5, 0.0, 1.0]))):
        y = sd.sum(f(a, b))
        ga, gb = sd.grad(y, [a, b])
        yv, gav, gbv = run([y, ga, gb], {a: av, b: bv})
        assert yv == np.sum(np.maximum(av, bv) if f is sd.maximum else np.minimum(av, bv))
        np.testing.assert_array_equal(gav, routes[0])
        np.testing.assert_array_equal(gbv, routes[1])
    # maximum(x, x): both halves of the tie land on x, total 1
    x = sd.vector("x", 3)
    yv, gv = _grads(run, sd.sum(sd.maximum(x, x) + sd.minimum(x, x)), x, av)
    np.testing.assert_array_equal(gv, [2.0, 2.0, 2.0])


def test_relu_via_maximum_with_scalar_tie(run):
    """maximum(x, 0) at x == 0 sends half to x (unlike relu)."""
    x = sd.vector("x", 3)
    yv, gv = _grads(run, sd.sum(sd.maximum(x, 0.0)), x, np.array([-1.0, 0.0, 1.0]))
    np.testing.assert_array_equal(gv, [0.0, 0.5, 1.0])


# ---------------------------------------------------------------------------------------------
# numerics at magnitude 1000
# ---------------------------------------------------------------------------------------------
BIG = np.array([[1000.0, -1000.0, 0.0, 999.0], [-1000.0, -999.5, -1000.0, 1000.0]])


LARGE = [
    ("softmax", lambda x: sd.softmax(x), lambda x: scipy.special.softmax(x, axis=-1)),
    ("softmax0", lambda x: sd.softmax(x, axis=0), lambda x: scipy.special.softmax(x, axis=0)),
    ("log_softmax", lambda x: sd.log_softmax(x), lambda x: scipy.special.log_softmax(x, axis=-1)),
    ("log_softmax0", lambda x: sd.log_softmax(x, 0), lambda x: scipy.special.log_softmax(x, axis=0)),
    ("logsumexp", lambda x: sd.logsumexp(x, axis=1), lambda x: scipy.special.logsumexp(x, axis=1)),
    ("logsumexp_all", lambda x: sd.logsumexp(x), lambda x: scipy.special.logsumexp(x)),
    ("sigmoid", sd.sigmoid, scipy.special.expit),
    ("softplus", sd.softplus, lambda x: np.logaddexp(0.0, x)),
]


def test_large_magnitude_finite(run):
    """Values, gradients and second derivatives stay finite for inputs of magnitude 1000."""
    x = sd.matrix("x", 2, 4)
    rng = np.random.default_rng(0)
    outputs = []
    for name, f, ref in LARGE:
        y = f(x)
        g = sd.grad(sd.sum(y * rng.standard_normal(y.shape)), x)
        h = sd.grad(sd.sum(g * g), x)
        outputs += [y, g, h]
    got = run(outputs, {x: BIG})
    for k, (name, f, ref) in enumerate(LARGE):
        yv, gv, hv = got[3 * k : 3 * k + 3]
        for v in (yv, gv, hv):
            assert np.all(np.isfinite(v)), f"{name}: non-finite {v}"
        np.testing.assert_allclose(yv, ref(BIG), rtol=1e-12, atol=1e-300, err_msg=name)


def test_large_magnitude_gradient_values(run):
    x = sd.vector("x", 3)
    xv = np.array([1000.0, -1000.0, 0.0])
    ys = [sd.sum(sd.sigmoid(x)), sd.sum(sd.softplus(x)), sd.logsumexp(x)]
    gs = [sd.grad(y, x) for y in ys]
    v = run(ys + gs, {x: xv})
    assert np.isclose(v[0], 1.5) and np.isclose(v[1], 1000.0 + np.log(2.0)) and np.isclose(v[2], 1000.0)
    np.testing.assert_allclose(v[3], [0.0, 0.0, 0.25], atol=1e-300)
    np.testing.assert_allclose(v[4], [1.0, 0.0, 0.5], atol=1e-300)
    np.testing.assert_allclose(v[5], [1.0, 0.0, 0.0], atol=1e-300)
    # softmax is shift invariant: gradients at x + 1000 equal gradients at x
    z = sd.vector("z", 4)
    zv = np.array([0.3, -1.0, 2.0, 0.5])
    R = np.array([1.0, -2.0, 0.5, 3.0])
    t = sd.sum(sd.softmax(z) * R) + sd.sum(sd.log_softmax(z) * R)
    gz = sd.grad(t, z)
    a = run([t, gz], {z: zv})
    b = run([t, gz], {z: zv + 1000.0})
    np.testing.assert_allclose(b[0], a[0], rtol=1e-9)
    np.testing.assert_allclose(b[1], a[1], rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# float32 stays float32
# ---------------------------------------------------------------------------------------------
F32_OPS = [
    ("exp", sd.exp), ("log", lambda x: sd.log(x * x + 1.0)), ("sqrt", lambda x: sd.sqrt(x * x + 1)),
    ("sin", sd.sin), ("tanh", sd.tanh), ("sigmoid", sd.sigmoid), ("softplus", sd.softplus),
    ("relu", sd.relu), ("leaky_relu", sd.leaky_relu), ("elu", sd.elu), ("abs", sd.abs),
    ("clip", lambda x: sd.clip(x, -0.5, 0.5)), ("scale", lambda x: 2 * x), ("rscale", lambda x: x * 2.5 + 1),
    ("rdiv", lambda x: 1 / (x * x + 1)), ("pow", lambda x: (x * x + 1) ** 1.5), ("rpow", lambda x: 2 ** x),
    ("softmax", sd.softmax), ("log_softmax", sd.log_softmax), ("logsumexp", lambda x: sd.logsumexp(x, 1)),
    ("sum", lambda x: sd.sum(x, 0)), ("mean", lambda x: sd.mean(x)), ("max", lambda x: sd.max(x, 1)),
    ("min", sd.min), ("maximum", lambda x: sd.maximum(x, 0.1)), ("minimum", lambda x: sd.minimum(x, x.T.T * 0.5)),
    ("matmul", lambda x: x @ x.T), ("index", lambda x: x[::-1, 1]), ("concat", lambda x: sd.concatenate([x, x], 1)),
    ("where", lambda x: sd.where(x > 0, x, 0.5)), ("reshape", lambda x: x.reshape(-1)),
]


def _f32_graph(f, name="x"):
    x = sd.tensor(name, (2, 3), dtype="float32")
    y = f(x)
    t = sd.sum(y * y)
    g = sd.grad(t, x)
    return x, y, t, g


def test_float32_stays_float32(run):
    """Values, gradients and second derivatives of float32 graphs are float32 (static dtype and
    evaluated arrays), and agree with the same graph in float64."""
    xv = np.array([[0.3, -1.2, 0.8], [1.5, -0.4, 0.05]], dtype=np.float32)
    outputs, refs = [], []
    for name, f in F32_OPS:
        x, y, t, g = _f32_graph(f, name=f"x_{name}")
        h = sd.grad(sd.sum(g), x)
        for node in (y, t, g, h):
            assert node.dtype == np.float32, (name, node)
        outputs += [y, t, g, h]
        x64 = sd.tensor("x", (2, 3))
        y64 = f(x64)
        g64 = sd.grad(sd.sum(y64 * y64), x64)
        refs.append(sd.evaluate([y64, g64], {x64: xv.astype(np.float64)}))
    inputs = {v: xv for v in {n for n in sd.toposort(outputs) if isinstance(n, sd.Variable)}}
    got = run(outputs, inputs, rtol=1e-5)
    for k, (name, f) in enumerate(F32_OPS):
        yv, tv, gv, hv = got[4 * k : 4 * k + 4]
        for v in (yv, tv, gv, hv):
            assert np.asarray(v).dtype == np.float32, name
        y64v, g64v = refs[k]
        np.testing.assert_allclose(yv, y64v, rtol=2e-5, atol=1e-6, err_msg=name)
        np.testing.assert_allclose(gv, g64v, rtol=2e-4, atol=1e-5, err_msg=name)


@pytest.mark.parametrize(
    "name,f",
    F32_OPS,
    ids=[o[0] for o in F32_OPS],
)
def test_float32_gradient_graph_has_no_float64_work(name, f):
    """Every computed node of a float32 gradient graph is float32 (weak constants aside)."""
    x, y, t, g = _f32_graph(f)
    h = sd.grad(sd.sum(g * g), x)
    bad = [n for n in sd.toposort([y, g, h]) if n.op is not None and n.dtype == np.float64]
    assert not bad, f"float64 nodes in a float32 graph: {sorted({n.op.name for n in bad})}"


def test_weak_python_numbers_keep_float32():
    x32 = sd.vector("x", 3, dtype="float32")
    for y in (2 * x32, x32 * 2, x32 + 1, 1 - x32, x32 / 3, 3 / x32, x32 ** 2, 2 ** x32, -x32, x32 * 1.0,
              x32 + 0.0, sd.maximum(x32, 0.5), sd.where(x32 > 0, x32, 1.0)):
        assert y.dtype == np.float32, y
    x64 = sd.vector("z", 3)
    assert (x32 * x64).dtype == np.float64
    assert (x32 + np.ones(3)).dtype == np.float64  # arrays are strongly typed
    assert (x32 + np.ones(3, dtype=np.float32)).dtype == np.float32


def test_float32_input_values_are_cast(run):
    x32 = sd.vector("x", 3, dtype="float32")
    y = 2 * x32
    (v,) = run([y], {x32: [1.0, 2.0, 3.0]}, rtol=1e-6)
    assert np.asarray(v).dtype == np.float32
    np.testing.assert_array_equal(v, [2.0, 4.0, 6.0])


@pytest.mark.parametrize("shape", [
    (), (3,), (2, 3)], ids=["scalar", "vector", "matrix"])
def test_weak_zero_times_float32_stays_float32(run, shape):
    x32 = sd.tensor("x", shape, dtype="float32")
    for z in (0 * x32, x32 * 0, 0.0 * x32, x32 * 0.0):
        assert z.dtype == np.float32
        assert z.shape == shape
    (v,) = run([0 * x32 + x32], {x32: np.ones(shape, dtype=np.float32)}, rtol=1e-6)
    assert np.asarray(v).dtype == np.float32


# ---------------------------------------------------------------------------------------------
# simplifications keep values right
# ---------------------------------------------------------------------------------------------
def test_simplifications(run):
    x = sd.vector("x", 3)
    assert x * 1 is x and 1 * x is x and x + 0 is x and 0 + x is x and x - 0 is x and x / 1 is x
    assert -(-x) is x and x ** 1 is x
    z = 0 * x
    assert z.shape == (3,)
    xv = np.array([1.0, -2.0, 3.0])
    zv, nv, sv = run([z, 0 - x, x * -1], {x: xv})
    np.testing.assert_array_equal(zv, np.zeros(3))
    np.testing.assert_array_equal(nv, -xv)
    np.testing.assert_array_equal(sv, -xv)


# ---------------------------------------------------------------------------------------------
# a second route: SymPy differentiates the same formulas
# ---------------------------------------------------------------------------------------------
s_x, s_y = sympy.symbols("x y", real=True)

SYMPY_FUNCS = [
    ("sin_xy_exp", lambda x, y: sd.sin(x * y) + sd.exp(x) / (1.0 + y * y),
     sympy.sin(s_x * s_y) + sympy.exp(s_x) / (1 + s_y ** 2)),
    ("log1p_tanh", lambda x, y: sd.log1p(x * x) * sd.tanh(y), sympy.log(1 + s_x ** 2) * sympy.tanh(s_y)),
    ("sigmoid_softplus", lambda x, y: sd.sigmoid(x * y) * sd.softplus(y - x),
     1 / (1 + sympy.exp(-s_x * s_y)) * sympy.log(1 + sympy.exp(s_y - s_x))),
    ("pow_var", lambda x, y: (x * x + 1.0) ** (sd.cos(y)), (s_x ** 2 + 1) ** sympy.cos(s_y)),
    ("sqrt_tan", lambda x, y: sd.sqrt(x * x + y * y + 1.0) * sd.tan(0.3 * x), sympy.sqrt(s_x ** 2 + s_y ** 2 + 1) * sympy.tan(sympy.Rational(3, 10) * s_x)),
    ("expm1_div", lambda x, y: sd.expm1(x) / (2.0 + sd.sin(y)) - x ** -2, (sympy.exp(s_x) - 1) / (2 + sympy.sin(s_y)) - s_x ** -2),
    ("logsumexp2", lambda x, y: sd.logsumexp(sd.stack([x, y, x * y]), axis=0), sympy.log(sympy.exp(s_x) + sympy.exp(s_y) + sympy.exp(s_x * s_y))),
    ("softmax_entry", lambda x, y: sd.softmax(sd.stack([x, 2.0 * y, x - y]), axis=0)[1],
     sympy.exp(2 * s_y) / (sympy.exp(s_x) + sympy.exp(2 * s_y) + sympy.exp(s_x - s_y))),
    ("elu_neg", lambda x, y: sd.elu(-x * x - 0.1, 0.5) * y, sympy.Rational(1, 2) * (sympy.exp(-s_x ** 2 - sympy.Rational(1, 10)) - 1) * s_y),
]


@pytest.mark.parametrize("name,f,expr", SYMPY_FUNCS, ids=[s[0] for s in SYMPY_FUNCS])
def test_against_sympy(run, name, f, expr):
    """f(x, y) and all its first and second partial derivatives, at three points at once: x and y
    are vectors and f acts entrywise, so grad(sum(f), x) holds df/dx at each point and
    grad(sum(df/dx), [x, y]) the second derivatives (the Hessian is block-diagonal)."""
    x, y = sd.vector("x", 3), sd.vector("y", 3)
    z = f(x, y)
    assert z.shape == (3,)
    gx, gy = sd.grad(sd.sum(z), [x, y])
    hxx, hxy = sd.grad(sd.sum(gx), [x, y])
    hyx, hyy = sd.grad(sd.sum(gy), [x, y])
    sym = [expr, sympy.diff(expr, s_x), sympy.diff(expr, s_y), sympy.diff(expr, s_x, 2),
           sympy.diff(expr, s_x, s_y), sympy.diff(expr, s_y, s_x), sympy.diff(expr, s_y, 2)]
    fns = [sympy.lambdify((s_x, s_y), e, "math") for e in sym]
    rng = np.random.default_rng(7)
    pts = rng.uniform(0.3, 1.5, size=(3, 2)) * rng.choice([-1, 1], size=(3, 2))
    xv, yv = pts[:, 0], pts[:, 1]
    got = run([z, gx, gy, hxx, hxy, hyx, hyy], {x: xv, y: yv})
    for k, fn in enumerate(fns):
        want = [float(fn(a, b)) for a, b in pts]
        np.testing.assert_allclose(np.asarray(got[k], dtype=float), want, rtol=1e-10, atol=1e-12,
                                   err_msg=f"{name}: {sym[k]}")
    # and the first derivatives against finite differences
    sd.check_grad(sd.sum(z), [x, y], {x: xv, y: yv})


def test_sympy_vector_function(run):
    """A vector formula: z = sum(softplus(A @ w) * w**2), Hessian row against SymPy."""
    w = sd.vector("w", 3)
    A = np.array([[0.5, -1.0, 0.25], [1.5, 0.3, -0.7], [-0.2, 0.8, 1.1]])
    z = sd.sum(sd.softplus(A @ w) * w ** 2)
    gw = sd.grad(z, w)
    rows = [sd.grad(gw[i], w) for i in range(3)]
    ws = sympy.symbols("w0:3", real=True)
    Am = sympy.Matrix(A.tolist())
    v = Am * sympy.Matrix(ws)
    expr = sum(sympy.log(1 + sympy.exp(v[i])) * ws[i] ** 2 for i in range(3))
    grad_e = [sympy.diff(expr, wi) for wi in ws]
    hess_e = [[sympy.diff(ge, wj) for wj in ws] for ge in grad_e]
    wv = np.array([0.4, -0.9, 1.2])
    vals = run([z, gw, *rows], {w: wv})
    sub = dict(zip(ws, wv))
    np.testing.assert_allclose(vals[0], float(expr.evalf(subs=sub)), rtol=1e-10)
    np.testing.assert_allclose(vals[1], [float(e.evalf(subs=sub)) for e in grad_e], rtol=1e-10)
    np.testing.assert_allclose(np.array(vals[2:]), [[float(e.evalf(subs=sub)) for e in r] for r in hess_e],
                               rtol=1e-9, atol=1e-12)
    sd.check_grad(z, w, {w: wv})


def test_check_grad_detects_a_wrong_gradient():
    """The FD oracle itself is sensitive: a wrongly-scaled gradient is caught."""
    x = sd.vector("x", 3)

    class Wrong(sd.ops.elementwise.Sin):  # derivative off by a factor 1.001
        name = "wrong_sin"

        def grad(self, inputs, output, D):
            return [D * sd.cos(inputs[0]) * 1.001]

    y = sd.sum(Wrong()(x))
    with pytest.raises(sd.GradCheckError, match="x"):
        sd.check_grad(y, x, {x: np.array([0.1, 0.5, -0.3])})
    assert sd.check_grad(sd.sum(sd.sin(x)), x, {x: np.array([0.1, 0.5, -0.3])}) < 1e-8


# ---------------------------------------------------------------------------------------------
# comparisons used as numbers (a mask times a value, counting with sum/mean)
# ---------------------------------------------------------------------------------------------
def _numeric_or_refused(run, build, inputs, expected):
    """Either symdiff refuses the expression with a SymdiffError when it is built, or it evaluates
    to the numeric (not boolean-logic) answer. Silently wrong numbers are the bug."""
    try:
        y = build()
    except sd.SymdiffError:
        return
    assert y.dtype != np.bool_ or np.asarray(expected).dtype == np.bool_
    (v,) = run([y], inputs)
    np.testing.assert_allclose(np.asarray(v, dtype=float), expected, rtol=1e-12)


def test_mask_times_value(run):
    x = sd.vector("x", 3)
    xv = np.array([1.0, -1.0, 2.0])
    y = sd.sum((x > 0) * x * x)
    g = sd.grad(y, x)
    yv, gv, mv = run([y, g, (x > 0) * 2.0], {x: xv})
    assert yv == 5.0
    np.testing.assert_array_equal(gv, [2.0, 0.0, 4.0])
    np.testing.assert_array_equal(mv, [2.0, 0.0, 2.0])
    (num,) = sd.numeric_grad(y, [x], {x: xv})
    np.testing.assert_allclose(gv, num, rtol=1e-6)


def test_counting_with_sum_and_mean_of_comparisons(run):
    x = sd.vector("x", 3)
    xv = np.array([1.0, -1.0, 2.0])
    _numeric_or_refused(run, lambda: sd.sum(x > 0), {x: xv}, 2.0)
    _numeric_or_refused(run, lambda: sd.mean(x > 0), {x: xv}, 2.0 / 3.0)


def test_adding_comparisons(run):
    x = sd.vector("x", 3)
    xv = np.array([1.0, -1.0, 2.0])
    _numeric_or_refused(run, lambda: (x > 0) + (x > 0), {x: xv}, [2.0, 0.0, 2.0])
    _numeric_or_refused(run, lambda: (x > 0) @ (x > 0), {x: xv}, 2.0)


def test_negating_and_subtracting_comparisons(run):
    x = sd.vector("x", 3)
    xv = np.array([1.0, -1.0, 2.0])
    _numeric_or_refused(run, lambda: (x > 0) - (x < 0), {x: xv}, [1.0, -1.0, 1.0])
    _numeric_or_refused(run, lambda: -(x > 0), {x: xv}, [-1.0, 0.0, -1.0])


def test_unary_function_of_a_comparison(run):
    x = sd.vector("x", 3)
    xv = np.array([1.0, -1.0, 2.0])
    _numeric_or_refused(run, lambda: sd.exp(x > 0), {x: xv}, np.exp([1.0, 0.0, 1.0]))
