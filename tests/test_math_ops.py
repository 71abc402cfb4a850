"""NumPy's elementwise math (symdiff/ops/math.py): values against NumPy, gradients against finite
differences, second derivatives against JAX, the compiled kernels against ``sd.evaluate`` (one
kernel for all unary ops, one for all binary ops), float32, vmap and sparse Hessian patterns."""
import numpy as np
import pytest

import symdiff as sd

RNG = np.random.default_rng(20240611)
N = 7  # points per op in the gradient and Hessian checks

# special points: zeros of both signs, halves, tiny and huge magnitudes, the overflow edges of
# exp, infinities and NaN
SPECIAL = np.array([0.0, -0.0, 0.5, -0.5, 1.0, -1.0, 1.5, 2.5, -2.5, 0.999, -0.999, 3.7, -3.7,
                    1e-300, 5e-324, 1e300, -1e300, 709.0, -745.0, np.inf, -np.inf, np.nan])


def domain(kind: str, n: int = N) -> np.ndarray:
    """Points where an op is smooth (away from kinks, jumps and domain edges)."""
    if kind == "unit":
        return RNG.uniform(-0.9, 0.9, n)
    if kind == "real":
        return RNG.normal(size=n) * 2.0
    if kind == "pos":
        return np.exp(RNG.normal(size=n))
    if kind == "gt1":
        return 1.1 + np.exp(RNG.normal(size=n))
    if kind == "nonzero":
        return RNG.choice([-1.0, 1.0], n) * (0.3 + 2 * np.abs(RNG.normal(size=n)))
    if kind == "frac":  # halfway between the points where rounding (to 2 decimals too) jumps
        return RNG.integers(-500, 500, n) * 0.01 + 0.0025 + RNG.uniform(0, 0.004, n)
    raise ValueError(kind)


def J(name):
    """The JAX function of that name (jax is imported by the tests that use it)."""
    return lambda jnp: getattr(jnp, name)


# name: (symdiff function, NumPy function, JAX function, smooth domain)
UNARY = {
    "arcsin": (sd.arcsin, np.arcsin, J("arcsin"), "unit"),
    "arccos": (sd.arccos, np.arccos, J("arccos"), "unit"),
    "arctan": (sd.arctan, np.arctan, J("arctan"), "real"),
    "sinh": (sd.sinh, np.sinh, J("sinh"), "real"),
    "cosh": (sd.cosh, np.cosh, J("cosh"), "real"),
    "arcsinh": (sd.arcsinh, np.arcsinh, J("arcsinh"), "real"),
    "arccosh": (sd.arccosh, np.arccosh, J("arccosh"), "gt1"),
    "arctanh": (sd.arctanh, np.arctanh, J("arctanh"), "unit"),
    "log2": (sd.log2, np.log2, J("log2"), "pos"),
    "log10": (sd.log10, np.log10, J("log10"), "pos"),
    "exp2": (sd.exp2, np.exp2, J("exp2"), "real"),
    "cbrt": (sd.cbrt, np.cbrt, J("cbrt"), "nonzero"),
    "expm1": (sd.expm1, np.expm1, J("expm1"), "real"),
    "log1p": (sd.log1p, np.log1p, J("log1p"), "pos"),
    "sinc": (sd.sinc, np.sinc, J("sinc"), "real"),
    "reciprocal": (sd.reciprocal, np.reciprocal, J("reciprocal"), "nonzero"),
    "deg2rad": (sd.deg2rad, np.deg2rad, J("deg2rad"), "real"),
    "rad2deg": (sd.rad2deg, np.rad2deg, J("rad2deg"), "real"),
    "radians": (sd.radians, np.radians, J("radians"), "real"),
    "degrees": (sd.degrees, np.degrees, J("degrees"), "real"),
    "floor": (sd.floor, np.floor, J("floor"), "frac"),
    "ceil": (sd.ceil, np.ceil, J("ceil"), "frac"),
    "round": (sd.round, np.round, J("round"), "frac"),
    "around": (sd.around, np.around, J("round"), "frac"),
    "round2": (lambda x: sd.round(x, 2), lambda v: np.round(v, 2), lambda j: (lambda v: j.round(v, 2)), "frac"),
    "round-1": (lambda x: sd.round(x, -1), lambda v: np.round(v, -1), lambda j: (lambda v: j.round(v, -1)), "frac"),
    "trunc": (sd.trunc, np.trunc, J("trunc"), "frac"),
    "rint": (sd.rint, np.rint, J("rint"), "frac"),
    "fix": (sd.fix, np.fix, J("trunc"), "frac"),  # jnp.fix is deprecated
    "positive": (sd.positive, np.positive, J("positive"), "real"),
    "negative": (sd.negative, np.negative, J("negative"), "real"),
    "fabs": (sd.fabs, np.fabs, J("fabs"), "nonzero"),
    "absolute": (sd.absolute, np.absolute, J("absolute"), "nonzero"),
    "square": (sd.square, np.square, J("square"), "real"),
    "nan_to_num": (sd.nan_to_num, np.nan_to_num, J("nan_to_num"), "real"),
    "nan_to_num_values": (lambda x: sd.nan_to_num(x, nan=-1.0, posinf=7.5, neginf=-np.inf),
                          lambda v: np.nan_to_num(v, nan=-1.0, posinf=7.5, neginf=-np.inf),
                          lambda j: (lambda v: j.nan_to_num(v, nan=-1.0, posinf=7.5, neginf=-np.inf)), "real"),
}
PREDICATES = {
    "isnan": (sd.isnan, np.isnan),
    "isfinite": (sd.isfinite, np.isfinite),
    "isinf": (sd.isinf, np.isinf),
    "signbit": (sd.signbit, np.signbit),
    "logical_not": (sd.logical_not, np.logical_not),
}
# name: (symdiff function, NumPy function, JAX function, smooth domain of (a, b))
BINARY = {
    "arctan2": (sd.arctan2, np.arctan2, J("arctan2"), "real2"),
    "hypot": (sd.hypot, np.hypot, J("hypot"), "real2"),
    "logaddexp": (sd.logaddexp, np.logaddexp, J("logaddexp"), "real2"),
    "logaddexp2": (sd.logaddexp2, np.logaddexp2, J("logaddexp2"), "real2"),
    "mod": (sd.mod, np.mod, J("mod"), "mod"),
    "remainder": (sd.remainder, np.remainder, J("remainder"), "mod"),
    "fmod": (sd.fmod, np.fmod, J("fmod"), "mod"),
    "floor_divide": (sd.floor_divide, np.floor_divide, J("floor_divide"), "mod"),
    "copysign": (sd.copysign, np.copysign, J("copysign"), "nonzero2"),
    "heaviside": (sd.heaviside, np.heaviside, J("heaviside"), "nonzero2"),
    "fmax": (sd.fmax, np.fmax, J("fmax"), "real2"),
    "fmin": (sd.fmin, np.fmin, J("fmin"), "real2"),
    "float_power": (sd.float_power, np.float_power, J("float_power"), "pos_real"),
    "subtract": (sd.subtract, np.subtract, J("subtract"), "real2"),
    "multiply": (sd.multiply, np.multiply, J("multiply"), "real2"),
    "divide": (sd.divide, np.divide, J("divide"), "nonzero2"),
    "true_divide": (sd.true_divide, np.true_divide, J("true_divide"), "nonzero2"),
}
LOGICAL = {
    "logical_and": (sd.logical_and, np.logical_and),
    "logical_or": (sd.logical_or, np.logical_or),
    "logical_xor": (sd.logical_xor, np.logical_xor),
}


def domain2(kind: str, n: int = N) -> tuple[np.ndarray, np.ndarray]:
    if kind == "real2":
        return RNG.normal(size=n) * 2, RNG.normal(size=n) * 2
    if kind == "nonzero2":
        return domain("nonzero", n), domain("nonzero", n)
    if kind == "pos_real":
        return domain("pos", n), RNG.normal(size=n)
    if kind == "mod":  # a / b at least 0.2 from an integer, both signs
        b = domain("nonzero", n)
        return b * (RNG.integers(-4, 5, n) + RNG.uniform(0.2, 0.8, n)), b
    raise ValueError(kind)


def special_grid() -> tuple[np.ndarray, np.ndarray]:
    a, b = np.meshgrid(SPECIAL, SPECIAL)
    return a.ravel(), b.ravel()


def assert_same(got, want, rtol=1e-13, atol=0.0, what=""):
    """Equal up to rtol (and atol), with NaN, infinities and dtypes in the same places."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype}, NumPy gives {want.dtype}"
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{what}: NaN positions")
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=what)


# ---------------------------------------------------------------------------------------------
# Values against NumPy (the evaluator) and gradients against finite differences
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", UNARY)
def test_unary_values_and_gradient(name):
    f, npf, _, kind = UNARY[name]
    x = sd.tensor("x", (SPECIAL.size,))
    with np.errstate(all="ignore"):
        assert_same(sd.evaluate(f(x), {x: SPECIAL}), npf(SPECIAL), rtol=0, what=name)
    d = sd.tensor("d", (N,))
    sd.check_grad(f(d), d, {d: domain(kind)})


@pytest.mark.parametrize("name", PREDICATES)
def test_predicates(name):
    f, npf = PREDICATES[name]
    x = sd.tensor("x", (SPECIAL.size,))
    y = f(x)
    assert y.dtype == np.bool_
    np.testing.assert_array_equal(sd.evaluate(y, {x: SPECIAL}), npf(SPECIAL))
    assert sd.grad(sd.sum(sd.where(y, x, 2 * x)), x) is not None  # no gradient flows through y


@pytest.mark.parametrize("name", BINARY)
def test_binary_values_and_gradient(name):
    f, npf, _, kind = BINARY[name]
    A, B = special_grid()
    a, b = sd.tensor("a", A.shape), sd.tensor("b", B.shape)
    with np.errstate(all="ignore"):
        got, want = sd.evaluate(f(a, b), {a: A, b: B}), npf(A, B)
    # exact, except float_power: np.power (which it is built on) and np.float_power differ by an ulp
    assert_same(got, want, rtol=1e-15 if name == "float_power" else 0, what=name)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(want))  # signed zeros too
    a, b = sd.tensor("a", (N,)), sd.tensor("b", (N,))
    av, bv = domain2(kind)
    sd.check_grad(f(a, b), [a, b], {a: av, b: bv})
    # broadcasting: the gradient of a scalar argument sums over the broadcast axis
    s = sd.scalar("s")
    sd.check_grad(f(a, s), [a, s], {a: av, s: bv[0]})


@pytest.mark.parametrize("name", LOGICAL)
def test_logical_ops(name):
    f, npf = LOGICAL[name]
    A, B = special_grid()  # numbers: nonzero (NaN included) is True
    a, b = sd.tensor("a", A.shape), sd.tensor("b", B.shape)
    np.testing.assert_array_equal(sd.evaluate(f(a, b), {a: A, b: B}), npf(A, B))
    p, q = sd.tensor("p", (4,), "bool"), sd.tensor("q", (4,), "bool")
    pv, qv = np.array([True, True, False, False]), np.array([True, False, True, False])
    np.testing.assert_array_equal(sd.evaluate(f(p, q), {p: pv, q: qv}), npf(pv, qv))
    np.testing.assert_array_equal(sd.evaluate(f(p, a[:4]), {p: pv, a: A}), npf(pv, A[:4]))
    assert f(p, q).dtype == np.bool_ and f(p, True).dtype == np.bool_


# ---------------------------------------------------------------------------------------------
# Second derivatives against JAX
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def jnp():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    return jnp


def _jax_elementwise(fn, order: int, *points):
    """The order-th derivative of a scalar JAX function at each point (argument 0)."""
    import jax

    g = fn
    for _ in range(order):
        g = jax.grad(g)
    return np.asarray(jax.vmap(g)(*points))


def _symdiff_derivatives(y, x, order: int):
    """d^k/dx^k of an elementwise y, k = 1..order, each elementwise (the Hessian is diagonal)."""
    out, g = [], y
    for _ in range(order):
        g = sd.grad(sd.sum(g), x)
        out.append(g)
    return out


@pytest.mark.parametrize("name", UNARY)
def test_unary_second_derivative_vs_jax(name, jnp):
    f, _, jf, kind = UNARY[name]
    v = domain(kind)
    x = sd.tensor("x", (N,))
    d1, d2 = sd.evaluate(_symdiff_derivatives(f(x), x, 2), {x: v})
    np.testing.assert_allclose(d1, _jax_elementwise(jf(jnp), 1, v), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(d2, _jax_elementwise(jf(jnp), 2, v), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", BINARY)
def test_binary_hessian_vs_jax(name, jnp):
    import jax

    f, _, jf, kind = BINARY[name]
    av, bv = domain2(kind)
    a, b = sd.tensor("a", (N,)), sd.tensor("b", (N,))
    ga, gb = sd.grad(sd.sum(f(a, b)), [a, b])
    haa, hab = sd.grad(sd.sum(ga), [a, b])
    hbb = sd.grad(sd.sum(gb), b)
    got = sd.evaluate([ga, gb, haa, hab, hbb], {a: av, b: bv})
    jg = jax.vmap(jax.grad(jf(jnp), (0, 1)))(av, bv)
    jh = jax.vmap(jax.hessian(jf(jnp), (0, 1)))(av, bv)
    want = [jg[0], jg[1], jh[0][0], jh[0][1], jh[1][1]]
    for g, w, what in zip(got, want, ["da", "db", "daa", "dab", "dbb"]):
        np.testing.assert_allclose(g, np.asarray(w), rtol=1e-10, atol=1e-12, err_msg=f"{name} {what}")


def test_conventions_at_kinks_match_jax(jnp):
    """Gradients at the points where the function is not smooth, JAX's conventions."""
    import jax

    a, b = sd.tensor("a", (6,)), sd.tensor("b", (6,))
    cases = {
        # hypot at the origin: (1/2, 1/2) as JAX; arctan2 there: NaN as JAX
        "hypot": (sd.hypot, [0.0, -0.0, 0.0, 3.0, 0.0, -4.0], [0.0, 0.0, -0.0, 0.0, 2.0, 3.0]),
        "arctan2": (sd.arctan2, [0.0, 1.0, -1.0, 0.0, 2.0, -0.5], [0.0, 0.0, 0.0, -1.0, 2.0, -0.5]),
        # copysign: +1 at x = +-0 when y is positive, the sign flip elsewhere
        "copysign": (sd.copysign, [0.0, -0.0, 0.0, 2.0, -2.0, -0.0], [1.0, 1.0, -1.0, -1.0, -1.0, -3.0]),
        # heaviside: d/dh0 = 1 where x == 0
        "heaviside": (sd.heaviside, [0.0, -0.0, 1.0, -1.0, 0.0, 2.0], [0.5, 0.3, 0.5, 0.5, 2.0, 0.1]),
        "mod": (sd.mod, [5.3, -5.3, 5.3, -5.3, 7.0, 0.5], [2.0, 2.0, -2.0, -2.0, 3.5, 3.0]),
        "fmod": (sd.fmod, [5.3, -5.3, 5.3, -5.3, 7.0, 0.5], [2.0, 2.0, -2.0, -2.0, 3.5, 3.0]),
        "floor_divide": (sd.floor_divide, [5.3, -5.3, 5.3, -5.3, 7.0, 0.5], [2.0, 2.0, -2.0, -2.0, 3.5, 3.0]),
        "logaddexp": (sd.logaddexp, [1000.0, 1000.0, -1000.0, 0.0, -np.inf, 3.0],
                      [1000.0, -1000.0, 1000.0, 0.0, 1.0, -np.inf]),
    }
    for name, (f, av, bv) in cases.items():
        av, bv = np.array(av), np.array(bv)
        got = sd.evaluate(sd.grad(sd.sum(f(a, b)), [a, b]), {a: av, b: bv})
        want = jax.vmap(jax.grad(getattr(jnp, name), (0, 1)))(av, bv)
        for g, w in zip(got, want):  # (JAX's logaddexp gradient at (1000, 1000) is 0.5 + 3e-14)
            np.testing.assert_allclose(g, np.asarray(w), rtol=1e-13, equal_nan=True, err_msg=name)
    # the Hessian of hypot at the origin is 0, as JAX gives
    blocks = [h for row in sd.hessian(sd.hypot(a[0], b[0]), [a, b]) for h in row]
    H = sd.evaluate(blocks, {a: np.zeros(6), b: np.zeros(6)})
    assert all(np.all(np.asarray(h) == 0) for h in H)


def test_fmax_fmin_split_ties_and_skip_nan():
    a, b = sd.tensor("a", (4,)), sd.tensor("b", (4,))
    av, bv = np.array([1.0, 2.0, np.nan, 1.0]), np.array([1.0, np.nan, 3.0, 0.0])
    for f in (sd.fmax, sd.fmin):
        ga, gb = sd.evaluate(sd.grad(sd.sum(f(a, b)), [a, b]), {a: av, b: bv})
        np.testing.assert_array_equal(ga[:3], [0.5, 1.0, 0.0])
        np.testing.assert_array_equal(gb[:3], [0.5, 0.0, 1.0])
        assert ga[3] + gb[3] == 1.0
    sd.check_grad(sd.fmax(a, b), [a, b], {a: np.ones(4), b: np.ones(4)})  # ties: central FD = 1/2


def test_sinc_is_stable_at_zero(jnp):
    """The first three derivatives of sinc near 0 (a Taylor series below |x| = 0.25) and across
    the switch, against mpmath at 30 digits (JAX's are exact at 0 only: it gives -inf for the
    first derivative at 1e-300), and against JAX at 0."""
    import mpmath

    mpmath.mp.dps = 30
    # both sides of the switch between the series and the closed form included
    v = np.array([0.0, -0.0, 1e-300, 1e-8, -1e-3, 0.1, 0.25 - 1e-12, 0.25, -0.25 - 1e-12, 0.7, 3.3, -12.25])
    x = sd.tensor("x", v.shape)
    derivs = sd.evaluate(_symdiff_derivatives(sd.sinc(x), x, 3), {x: v})
    for k, got in enumerate(derivs, 1):
        want = np.array([float(mpmath.diff(mpmath.sincpi, mpmath.mpf(float(t)), k)) for t in v])
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14, err_msg=f"order {k}")
        np.testing.assert_allclose(got[0], _jax_elementwise(jnp.sinc, k, v[:1])[0], atol=1e-14)
    assert derivs[0][0] == 0.0 and abs(derivs[1][0] + np.pi ** 2 / 3) < 1e-15


def test_logaddexp_large_magnitudes():
    a, b = sd.tensor("a", (5,)), sd.tensor("b", (5,))
    av = np.array([1000.0, -1000.0, 1000.0, 800.0, 1e308])
    bv = np.array([1000.0, -1000.0, -1000.0, 800.5, 1e308])
    for f, npf in ((sd.logaddexp, np.logaddexp), (sd.logaddexp2, np.logaddexp2)):
        y = f(a, b)
        ga, gb = sd.grad(sd.sum(y), [a, b])
        haa, hab = sd.grad(sd.sum(ga), [a, b])
        vals = sd.evaluate([y, ga, gb, haa, hab], {a: av, b: bv})
        assert_same(vals[0], npf(av, bv))
        assert all(np.all(np.isfinite(v)) for v in vals)
        np.testing.assert_array_equal(vals[1][:3] + vals[2][:3], 1.0)
        assert vals[1][0] == 0.5 and vals[1][2] == 1.0 and vals[2][2] == 0.0
    sd.check_grad(sd.logaddexp(a, b), [a, b], {a: np.array([100.0, -100.0, 100.0, 80.0, 3.0]),
                                                b: np.array([100.3, -100.0, -100.0, 80.5, 2.0])})


def test_gradients_stay_finite_at_large_magnitudes():
    """Derivatives whose textbook forms overflow (x**2 for |x| > 1e154) against mpmath."""
    import mpmath

    mpmath.mp.dps = 30
    v = np.array([1e200, -1e250, 3e307])
    w = np.array([2e200, 1e250, 1e307])
    x, y = sd.tensor("x", (3,)), sd.tensor("y", (3,))
    mp = [mpmath.mpf(float(t)) for t in v]
    mq = [mpmath.mpf(float(t)) for t in w]
    cases = [
        (sd.grad(sd.sum(sd.arcsinh(x)), x), [1 / mpmath.sqrt(1 + t * t) for t in mp]),
        (sd.grad(sd.sum(sd.arccosh(y)), y), [1 / mpmath.sqrt(t * t - 1) for t in mq]),
        (sd.grad(sd.sum(sd.cbrt(x)), x), [1 / (3 * mpmath.cbrt(abs(t)) ** 2) for t in mp]),
        (sd.grad(sd.sum(sd.hypot(x, y)), x), [p / mpmath.sqrt(p * p + q * q) for p, q in zip(mp, mq)]),
        (sd.grad(sd.sum(sd.arctan2(x, y)), y), [-p / (p * p + q * q) for p, q in zip(mp, mq)]),
        (sd.grad(sd.sum(sd.arctan2(x, y)), x), [q / (p * p + q * q) for p, q in zip(mp, mq)]),
    ]
    got = sd.evaluate([g for g, _ in cases], {x: v, y: w})
    for g, (_, want) in zip(got, cases):
        np.testing.assert_allclose(g, np.array([float(t) for t in want]), rtol=1e-14)


def test_mod_sign_conventions():
    """mod takes the divisor's sign, fmod the dividend's, signed zeros included (as NumPy)."""
    A = np.array([5.0, -5.0, 5.0, -5.0, 6.0, -6.0, 0.0, -0.0, 1e300, 7.5])
    B = np.array([3.0, 3.0, -3.0, -3.0, -3.0, 3.0, -2.0, 2.0, 3.0, 0.0])
    a, b = sd.tensor("a", A.shape), sd.tensor("b", B.shape)
    for f, npf in ((sd.mod, np.mod), (sd.fmod, np.fmod), (sd.floor_divide, np.floor_divide)):
        with np.errstate(all="ignore"):
            got, want = sd.evaluate(f(a, b), {a: A, b: B}), npf(A, B)
        assert_same(got, want, rtol=0)
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want))
    q, r = sd.divmod(a[:9], b[:9])
    qv, rv = sd.evaluate([q, r], {a: A, b: B})
    np.testing.assert_array_equal(qv * B[:9] + rv, A[:9])


def test_round_is_half_to_even():
    v = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.125, 0.375, 1234.5678, -1234.5678, 15.0, 25.0])
    x = sd.tensor("x", v.shape)
    for d in (0, 1, 2, 3, -1, -2):
        np.testing.assert_array_equal(sd.evaluate(sd.round(x, d), {x: v}), np.round(v, d))
    with pytest.raises(sd.SymdiffError, match="round: decimals must be an int"):
        sd.round(x, 1.5)


# ---------------------------------------------------------------------------------------------
# The compiled route: one kernel for all unary ops, one for all binary ops
# ---------------------------------------------------------------------------------------------
def _compile_and_compare(inputs: dict, outputs: dict, rtol64=1e-12, rtol32=2e-6):
    """One kernel for all outputs; each compared with sd.evaluate (NaN and inf in place)."""
    names = list(outputs)
    f = sd.function(list(inputs), [outputs[k] for k in names], mode="numba")
    assert f.mode == "numba"
    got = f(*inputs.values())
    with np.errstate(all="ignore"):
        want = sd.evaluate([outputs[k] for k in names], inputs)
    for k, g, w in zip(names, got, want):
        w = np.asarray(w)
        f32 = w.dtype == np.float32  # kernels compute some float32 functions in float64
        assert_same(g, w, rtol=rtol32 if f32 else rtol64, atol=1e-7 if f32 else 0.0, what=k)
    return dict(zip(names, got))


def test_compiled_unary_kernel():
    x = sd.tensor("x", (SPECIAL.size,))
    x32 = sd.tensor("x32", (SPECIAL.size,), "float32")
    outputs = {}
    for name, (f, npf, _, kind) in UNARY.items():
        outputs[name] = f(x)
        outputs[name + "/f32"] = f(x32)
    for name, (f, npf) in PREDICATES.items():
        outputs[name] = f(x)
        outputs[name + "/f32"] = f(x32)
    k = sd.tensor("k", (3,), "int64")
    m = sd.tensor("m", (3,), "bool")
    outputs["isnan/int"], outputs["isfinite/bool"], outputs["isinf/bool"] = sd.isnan(k), sd.isfinite(m), sd.isinf(m)
    outputs["not/bool"], outputs["invert"] = sd.logical_not(m), ~m
    outputs["log2/f32 0-d"] = sd.log2(x32[6])
    outputs["round400"], outputs["round-400"] = sd.round(x, 400), sd.round(x, -400)  # NaN, as NumPy
    with np.errstate(over="ignore"):  # 1e300 is inf in float32
        x32v = SPECIAL.astype(np.float32)
    inputs = {x: SPECIAL, x32: x32v, k: np.array([1, -2, 3]), m: np.array([True, False, True])}
    got = _compile_and_compare(inputs, outputs)
    # ... and the compiled values are NumPy's (to a few ulp; float32 stays float32)
    with np.errstate(all="ignore"):
        for name, (f, npf, *_) in UNARY.items():
            assert_same(got[name], npf(SPECIAL), rtol=1e-13, what=name)
            # (NumPy computes some float32 functions in float32, symdiff's kernels in float64:
            # sinc(1) is -2.8e-8 in NumPy's float32, 3.9e-17 in the kernel)
            assert_same(got[name + "/f32"], npf(x32v), rtol=2e-6, atol=1e-7, what=name + "/f32")
        for name, (f, npf) in PREDICATES.items():
            np.testing.assert_array_equal(got[name], npf(SPECIAL), err_msg=name)


def test_compiled_binary_kernel():
    A, B = special_grid()
    a, b = sd.tensor("a", A.shape), sd.tensor("b", B.shape)
    a32, b32 = sd.tensor("a32", A.shape, "float32"), sd.tensor("b32", B.shape, "float32")
    outputs = {}
    for name, (f, npf, _, kind) in BINARY.items():
        outputs[name] = f(a, b)
        outputs[name + "/f32"] = f(a32, b32)
    for name, (f, npf) in LOGICAL.items():
        outputs[name] = f(a, b)
        outputs[name + "/bool"] = f(a > 0, b > 0)
    outputs["&"], outputs["|"], outputs["^"] = (a > 0) & (b < 1), (a > 0) | True, (a > 0) ^ (b > 0)
    outputs["%"], outputs["//"], outputs["1%"] = a % b, a // b, 1.0 % b
    with np.errstate(over="ignore"):  # 1e300 is inf in float32
        inputs = {a: A, b: B, a32: A.astype(np.float32), b32: B.astype(np.float32)}
    got = _compile_and_compare(inputs, outputs)
    with np.errstate(all="ignore"):
        for name, (f, npf, *_) in BINARY.items():
            assert_same(got[name], npf(A, B), rtol=1e-13, what=name)
            want32 = npf(A.astype(np.float32), B.astype(np.float32))
            assert_same(got[name + "/f32"], want32, rtol=2e-6, atol=1e-7, what=name + "/f32")
            if name in ("mod", "remainder", "fmod", "floor_divide", "copysign"):
                np.testing.assert_array_equal(np.signbit(got[name]), np.signbit(npf(A, B)), err_msg=name)
        for name, (f, npf) in LOGICAL.items():
            np.testing.assert_array_equal(got[name], npf(A, B), err_msg=name)
        np.testing.assert_array_equal(got["&"], (A > 0) & (B < 1))
        np.testing.assert_array_equal(got["%"], A % B)
        np.testing.assert_array_equal(got["//"], A // B)


# ---------------------------------------------------------------------------------------------
# dtypes, vmap, sparse Hessians, operators and errors
# ---------------------------------------------------------------------------------------------
def test_float32_stays_float32():
    x = sd.tensor("x", (N,), "float32")
    y = sd.tensor("y", (N,), "float32")
    v = domain("nonzero").astype(np.float32)
    for name, (f, npf, _, kind) in UNARY.items():
        out = f(x)
        assert out.dtype == np.float32, name
        g = sd.grad(sd.sum(2 * out), x)
        assert g.dtype == np.float32, name
        assert np.asarray(sd.evaluate(g, {x: v})).dtype == np.float32
    for name, (f, npf, _, kind) in BINARY.items():
        out = f(x, y)
        if name == "float_power":  # NumPy's float_power computes in float64
            assert out.dtype == np.float64
            continue
        assert out.dtype == np.float32 and f(x, 2.0).dtype == np.float32 and f(3.0, y).dtype == np.float32, name
        assert all(g.dtype == np.float32 for g in sd.grad(sd.sum(out), [x, y])), name
    assert sd.nan_to_num(x).op.posinf == float(np.finfo(np.float32).max)
    np.testing.assert_array_equal(
        sd.evaluate(sd.nan_to_num(x), {x: np.array([np.inf, -np.inf, np.nan, 1, 2, 3, 4], np.float32)}),
        np.nan_to_num(np.array([np.inf, -np.inf, np.nan, 1, 2, 3, 4], np.float32)))


def _several_ops(x):
    """A sum of many of the ops over neighbouring entries (a tridiagonal Hessian)."""
    lo, hi = x[:-1], x[1:]
    return (sd.sum(sd.logaddexp(hi, 2 * lo)) + sd.sum(sd.hypot(hi, 1.0 + lo))
            + sd.sum(sd.arctan2(hi, 3.0 + lo)) + sd.sum(sd.sinc(x)) + sd.sum(0.1 * sd.sinh(x))
            + sd.sum(sd.arcsinh(x) * sd.cbrt(2.0 + x)) + sd.sum(sd.mod(x, 0.7) * sd.floor(3 * x))
            + sd.sum(sd.logaddexp2(x, 0.5) * sd.heaviside(x, 0.5)) + sd.sum(sd.fmax(hi, lo) ** 2)
            + sd.sum(sd.exp2(sd.copysign(x, -1.0))))


def test_vmap_over_several_ops():
    n, B = 6, 4
    x = sd.tensor("x", (n,))
    xs = sd.tensor("xs", (B, n))
    f = _several_ops(x)
    g = sd.grad(f, x)
    fb, gb = sd.vmap([f, g], x, xs)
    vals = RNG.normal(size=(B, n)) * 0.8 + 0.05
    got_f, got_g = sd.evaluate([fb, gb], {xs: vals})
    for k in range(B):
        want_f, want_g = sd.evaluate([f, g], {x: vals[k]})
        np.testing.assert_allclose(got_f[k], want_f, rtol=1e-13)
        np.testing.assert_allclose(got_g[k], want_g, rtol=1e-13, atol=1e-14)


def test_sparse_hessian_of_several_ops(jnp):
    import jax

    n = 12
    x = sd.tensor("x", (n,))
    H = sd.hessian(_several_ops(x), x, sparse=True)
    H.compiled = False  # NumPy evaluation of the compressed Hessian (the kernels are tested above)
    P = H.pattern
    assert np.array_equal(P.toarray(), np.abs(np.subtract.outer(np.arange(n), np.arange(n))) <= 1)
    assert H.n_colours == 3
    xv = RNG.normal(size=n) * 0.8 + 0.05
    got = H({x: xv})
    dense = sd.evaluate(sd.hessian(_several_ops(x), x), {x: xv})
    np.testing.assert_allclose(got.toarray(), dense, rtol=1e-12, atol=1e-12)

    def jax_ops(v):
        lo, hi = v[:-1], v[1:]
        return (jnp.sum(jnp.logaddexp(hi, 2 * lo)) + jnp.sum(jnp.hypot(hi, 1.0 + lo))
                + jnp.sum(jnp.arctan2(hi, 3.0 + lo)) + jnp.sum(jnp.sinc(v)) + jnp.sum(0.1 * jnp.sinh(v))
                + jnp.sum(jnp.arcsinh(v) * jnp.cbrt(2.0 + v)) + jnp.sum(jnp.mod(v, 0.7) * jnp.floor(3 * v))
                + jnp.sum(jnp.logaddexp2(v, 0.5) * jnp.heaviside(v, 0.5)) + jnp.sum(jnp.fmax(hi, lo) ** 2)
                + jnp.sum(jnp.exp2(jnp.copysign(v, -1.0))))

    np.testing.assert_allclose(dense, np.asarray(jax.jit(jax.hessian(jax_ops))(xv)), rtol=1e-10, atol=1e-10)


def test_operators():
    x, y = sd.tensor("x", (4,)), sd.tensor("y", (4,))
    xv, yv = np.array([5.5, -5.5, 3.0, -0.25]), np.array([2.0, 2.0, -4.0, -3.0])
    q, r = divmod(x, y)
    vals = sd.evaluate([x % y, 7.0 % x, x // y, 9.0 // y, q, r, x % 2.0, np.float64(3.0) % y], {x: xv, y: yv})
    want = [xv % yv, 7.0 % xv, xv // yv, 9.0 // yv, xv // yv, xv % yv, xv % 2.0, 3.0 % yv]
    for g, w in zip(vals, want):
        np.testing.assert_array_equal(g, w)
    m, k = x > 0, y > 0
    mv, kv = xv > 0, yv > 0
    vals = sd.evaluate([m & k, m | k, m ^ k, ~m, True & m, False | k, True ^ m, ~(m & k) | m], {x: xv, y: yv})
    want = [mv & kv, mv | kv, mv ^ kv, ~mv, True & mv, False | kv, True ^ mv, ~(mv & kv) | mv]
    for g, w in zip(vals, want):
        np.testing.assert_array_equal(g, w)


def test_errors_name_the_op_and_argument():
    x, m = sd.tensor("x", (3,)), sd.tensor("m", (3,), "bool")
    for build, op in [(lambda: x & m, "bitwise_and"), (lambda: m | x, "bitwise_or"),
                      (lambda: x ^ x, "bitwise_xor"), (lambda: ~x, "invert"), (lambda: 1.0 & m, "bitwise_and")]:
        with pytest.raises(sd.DTypeError, match=f"{op}: argument .* has dtype float64.*bool"):
            build()
    with pytest.raises(sd.ShapeError, match="hypot"):
        sd.hypot(x, sd.tensor("z", (4,)))
    with pytest.raises(sd.ShapeError, match="arctan2"):
        sd.arctan2(x, sd.tensor("z", (2,)))
    with pytest.raises(sd.SymdiffError, match="nan_to_num: posinf must be a number"):
        sd.nan_to_num(x, posinf="big")
    with pytest.raises(sd.SymdiffError, match="round: decimals"):
        sd.round(x, "2")


def test_bool_and_int_inputs_become_floats():
    m = sd.tensor("m", (3,), "bool")
    k = sd.tensor("k", (3,), "int64")
    mv, kv = np.array([True, False, True]), np.array([-3, 0, 8])
    vals = sd.evaluate([sd.cbrt(k), sd.exp2(m), sd.mod(k, 3), sd.hypot(k, m), sd.positive(k), sd.nan_to_num(k),
                        sd.logical_and(k, m), sd.isfinite(k)], {m: mv, k: kv})
    # integer arithmetic stays integer, as in NumPy: mod of int64 by the Python int 3 is int64
    want = [np.cbrt(kv.astype(float)), np.exp2(mv.astype(float)), np.mod(kv, 3), np.hypot(kv, mv.astype(float)),
            kv.astype(float), kv.astype(float), np.logical_and(kv, mv), np.isfinite(kv)]
    for g, w in zip(vals, want):
        assert_same(g, w, rtol=1e-15)
