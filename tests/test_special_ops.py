"""Special functions (symdiff.ops.special, symdiff.scipy.special): values against scipy.special
(and mpmath where SciPy itself loses digits), ONE compiled kernel holding every op against both,
gradients against central differences, Hessians against scipy.special closed forms (both routes),
JAX's gradient conventions at the domain edges, float32, vmap, a sparse Hessian, the virtual
machine, SciPy's edge values and the errors for bad static arguments."""
import math
import subprocess
import sys

import mpmath
import numpy as np
import pytest
import scipy.special as sc

import symdiff as sd
import symdiff.scipy.special as sps
from symdiff.ops.special import SpecialFunctionError

X0 = 1.4616321449683622        # the positive root of digamma
NEG_ROOT = -0.5040830082644554  # its first negative root

# ---------------------------------------------------------------------------------------------
# Grids with the hard regions: tails, near poles and roots, tiny and huge arguments
# ---------------------------------------------------------------------------------------------
REAL = np.concatenate([np.linspace(-40, 40, 801), [-37.5, -20.0001, -19.9999, -1.0000001, -0.9999999, -1e-300,
                                                   0.0, 1e-300, 6.0, 8.3]])
WIDE = np.array([-1e300, -1e150, -1e5, -1e3, -41.0, 41.0, 1e3, 1e5, 1e150, 1e300])  # values only
UNIT = np.concatenate([np.linspace(0, 1, 401), np.logspace(-300, -1, 40), 1 - np.logspace(-16, -1, 30),
                       [0.3, 0.65, 0.5, 0.5 + 1e-12]])                      # [0, 1]: ndtri, logit
SYM = np.concatenate([np.linspace(-1, 1, 401), 1 - np.logspace(-16, -1, 30), -1 + np.logspace(-16, -1, 30),
                      np.logspace(-300, -1, 20), -np.logspace(-300, -1, 20)])  # [-1, 1]: erfinv
TWO = np.concatenate([2 * UNIT, 2 - np.logspace(-16, 0, 30)])               # [0, 2]: erfcinv
POS = np.concatenate([np.logspace(-300, 2.2, 120), np.linspace(0.01, 30, 300), X0 + np.linspace(-1e-3, 1e-3, 11),
                      [X0, 1.0, 2.0, 3.0, 10.0, 100.0, 1e8, 1e9]])            # x > 0: gamma family
NEG = np.concatenate([np.linspace(-30.05, -0.05, 301), NEG_ROOT + np.linspace(-0.2, 0.2, 41)])  # non-integers
_ab = np.concatenate([np.logspace(-5, 8, 24), [0.5, 1.0, 2.0, 9.99, 10.0, 10.5, 5e5]])
BETA_A, BETA_B = (g.ravel() for g in np.meshgrid(_ab, _ab))
_edge = np.array([0.0, -0.0, 1e-300, 0.25, 0.5, 1.0, 2.0, 1e300, -0.5, -1.0, -2.0, np.inf, -np.inf, np.nan])
EDGE_X, EDGE_Y = (g.ravel() for g in np.meshgrid(_edge, _edge))


def _vars():
    names = ["real", "unit", "sym", "two", "pos", "neg", "a", "b", "ex", "ey", "wide"]
    dim = {"b": "a_n", "ey": "ex_n"}  # pairs share their dim
    return {n: sd.tensor(n, (dim.get(n, n + "_n"),)) for n in names}


def _table(v):
    """(label, node, reference from scipy) for every op; rtol and atol per row."""
    r, u, s, t, p, n, a, b, ex, ey, w = v.values()
    return [
        ("erf", sd.erf(r), sc.erf(REAL), 1e-15, 0),
        ("erfc", sd.erfc(r), sc.erfc(REAL), 1e-13, 1e-300),  # (and SciPy flushes subnormals)  # SciPy's is 5e-14 off at x = 16 (libm's is right)
        ("erfinv", sd.erfinv(s), sc.erfinv(SYM), 2e-15, 0),
        ("erfcinv", sd.erfcinv(t), sc.erfcinv(TWO), 2e-15, 0),
        # SciPy rounds x / sqrt(2) before erfc: 2e-13 off in the tails (mpmath below); below 1e-300
        # results are subnormal
        ("ndtr", sd.ndtr(r), sc.ndtr(REAL), 3e-13, 1e-300),
        ("log_ndtr", sd.log_ndtr(r), sc.log_ndtr(REAL), 3e-13, 1e-300),
        ("ndtri", sd.ndtri(u), sc.ndtri(UNIT), 1e-15, 0),
        ("logit", sd.logit(u), sc.logit(UNIT), 1e-15, 0),
        ("expit", sps.expit(r), sc.expit(REAL), 1e-15, 0),
        ("log_expit", sd.log_expit(r), sc.log_expit(REAL), 1e-15, 0),
        ("entr", sd.entr(r), sc.entr(REAL), 1e-15, 0),
        ("gamma", sd.gamma(p), sc.gamma(POS), 1e-14, 0),
        ("gamma_neg", sd.gamma(n), sc.gamma(NEG), 1e-13, 0),
        ("gammaln", sd.gammaln(p), sc.gammaln(POS), 1e-14, 1e-15),  # zeros at 1 and 2
        ("gammaln_neg", sd.gammaln(n), sc.gammaln(NEG), 1e-13, 1e-15),
        ("digamma", sd.digamma(p), sc.digamma(POS), 2e-15, 0),  # the root x0 included: relative
        ("digamma_neg", sd.digamma(n), sc.digamma(NEG), 1e-14, 1e-14),  # SciPy's is 3e-12 off near roots
        ("trigamma", sd.polygamma(1, p), sc.polygamma(1, POS), 1e-15, 0),
        ("polygamma2", sd.polygamma(2, p), sc.polygamma(2, POS), 1e-15, 0),
        ("polygamma5_neg", sd.polygamma(5, n), sc.polygamma(5, NEG), 1e-13, 0),
        ("multigammaln", sd.multigammaln(p + 3.0, 4), sc.multigammaln(POS + 3.0, 4), 1e-14, 0),
        ("xlogy", sd.xlogy(ex, ey), sc.xlogy(EDGE_X, EDGE_Y), 1e-15, 0),
        ("xlog1py", sd.xlog1py(ex, ey), sc.xlog1py(EDGE_X, EDGE_Y), 1e-15, 0),
        ("rel_entr", sd.rel_entr(ex, ey), sc.rel_entr(EDGE_X, EDGE_Y), 1e-15, 0),
        ("kl_div", sd.kl_div(ex, ey), sc.kl_div(EDGE_X, EDGE_Y), 1e-15, 0),
        ("betaln", sd.betaln(a, b), None, 1e-13, 0),  # against mpmath below: SciPy loses 9 digits
        ("erf_wide", sd.erf(w), sc.erf(WIDE), 1e-15, 0),
        ("erfc_wide", sd.erfc(w), sc.erfc(WIDE), 1e-15, 0),
        ("ndtr_wide", sd.ndtr(w), sc.ndtr(WIDE), 1e-15, 0),
        ("log_ndtr_wide", sd.log_ndtr(w), sc.log_ndtr(WIDE), 1e-15, 0),
        ("log_expit_wide", sd.log_expit(w), sc.log_expit(WIDE), 1e-15, 0),
        ("entr_wide", sd.entr(w), sc.entr(WIDE), 1e-15, 0),
        ("gammaln_wide", sd.gammaln(w), sc.gammaln(WIDE), 1e-15, 0),
        ("digamma_wide", sd.digamma(w), sc.digamma(WIDE), 1e-15, 0),
    ]


def _inputs(v):
    vals = [REAL, UNIT, SYM, TWO, POS, NEG, BETA_A, BETA_B, EDGE_X, EDGE_Y, WIDE]
    return dict(zip(v.values(), vals))


def _betaln_mpmath():
    mpmath.mp.dps = 30
    return np.array([float(mpmath.log(abs(mpmath.beta(x, y)))) for x, y in zip(BETA_A, BETA_B)])


@pytest.fixture(scope="module")
def kernel():
    """Every op, its first and second derivative where they exist, in ONE compiled function."""
    v = _vars()
    table = _table(v)
    derivs = []
    for label, node, *_ in table:
        var = [x for x in sd.toposort([node]) if isinstance(x, sd.Variable)]
        if label in ("betaln", "xlogy", "xlog1py", "rel_entr", "kl_div", "entr", "gamma", "gamma_neg") or "wide" in label:
            continue  # grids of inf/NaN edges and huge values (their derivatives: with their own points below)
        g1 = sd.grad(sd.sum(node), var[0])
        g2 = sd.grad(sd.sum(g1), var[0])
        derivs += [(label + "'", g1), (label + "''", g2)]
    outs = [row[1] for row in table] + [d for _, d in derivs]
    with np.errstate(all="ignore"):
        f = sd.function(list(v.values()), outs, mode="numba")
        inputs = _inputs(v)
        got = f(*inputs.values())
        ref = sd.evaluate(outs, inputs)
    return table, derivs, got, ref, f


def _close(got, want, rtol, atol=0.0, what=""):
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)


def test_the_kernel_is_compiled_numba(kernel):
    assert kernel[4].mode == "numba"
    assert "_sp_digamma(" in kernel[4].source and "_sp_log_ndtr(" in kernel[4].source


def test_values_against_scipy_both_routes(kernel):
    table, _, got, ref, _ = kernel
    for (label, node, want, rtol, atol), g, e in zip(table, got, ref):
        if want is None:
            continue
        _close(e, want, max(rtol, 1e-15), atol, f"{label} (sd.evaluate)")
        _close(g, want, rtol, atol, f"{label} (compiled)")


def test_betaln_against_mpmath_both_routes(kernel):
    table, _, got, ref, _ = kernel
    k = [row[0] for row in table].index("betaln")
    want = _betaln_mpmath()
    _close(got[k], want, 1e-13, 1e-15, "betaln (compiled)")
    _close(ref[k], want, 1e-13, 1e-15, "betaln (sd.evaluate)")
    # where SciPy's lgamma differences cancel: a = 5e5, b = 0.117 (SciPy is 1e-9 off)
    a, b = 476393.80104013404, 0.11689518164985777
    exact = float(mpmath.log(mpmath.beta(a, b)))
    assert abs(sd.evaluate(sd.betaln(sd.constant(a) * sd.scalar("one"), b), {"one": 1.0}) / exact - 1) < 1e-14


def test_compiled_derivatives_agree_with_evaluate(kernel):
    table, derivs, got, ref, _ = kernel
    for (label, _), g, e in zip(derivs, got[len(table):], ref[len(table):]):
        # log_ndtr'' = -r (x + r) with r = pdf / cdf cancels at x = -40 (r = 40.02): 1e-10 there
        _close(g, e, 1e-9 if label == "log_ndtr''" else 1e-12, 1e-300, f"{label}: compiled against sd.evaluate")


def test_hard_points_against_mpmath():
    """The far tails and the roots, against 30-digit mpmath, through the compiled kernel."""
    mpmath.mp.dps = 30
    x = sd.vector("x", "n")
    cases = [
        (sd.log_ndtr, [-1e150, -1e5, -40.0, -38.5, -25.0, -20.5, -19.5, -5.0, 0.0, 3.0, 9.0, 30.0],
         lambda t: mpmath.log(mpmath.ncdf(t)) if t < 0 else mpmath.log1p(-mpmath.ncdf(-t)), 2e-15),
        (sd.erfc, [-3.0, 0.5, 2.0, 9.8, 16.3, 26.0], mpmath.erfc, 1e-15),
        (sd.ndtr, [-37.0, -34.8, -20.0, -8.0, -1.0, -0.3, 0.0, 0.9, 1.0, 3.0, 8.0], mpmath.ncdf, 1e-15),
        (sd.ndtri, [1e-300, 1e-100, 1e-20, 1e-14, 0.01, 0.3, 0.5 + 1e-9, 0.9, 1 - 1e-10, 1 - 1e-15],
         lambda t: _mp_ndtri(t), 1e-15),
        (sd.erfinv, [1e-300, 1e-8, 0.1, 0.5, 0.7, 0.99, 1 - 1e-12, 1 - 2**-52, -0.3],
         lambda t: mpmath.erfinv(t), 1e-15),
        (sd.erfcinv, [1e-300, 1e-100, 1e-10, 0.2, 1.0, 1.5, 2 - 1e-12],
         lambda t: -mpmath.sqrt(0.5) * _mp_ndtri(t / 2), 1e-15),
        (sd.digamma, [X0, X0 + 1e-9, 1.0, 1.2, 1.9, 5.5, 1e-5, 12.3, 1e10, NEG_ROOT + 1e-9, -0.6, -2.5, -10.3],
         mpmath.digamma, 2e-15),
        (lambda t: sd.polygamma(3, t), [1e-3, 0.5, 1.0, 2.5, 7.0, 30.0, 1e6, -0.5, -3.3],
         lambda t: mpmath.polygamma(3, t), 1e-14),
    ]
    with np.errstate(all="ignore"):
        f = sd.function([x], [fn(x) for fn, *_ in cases], mode="numba")
        outs = [f(np.array(pts))[k] for k, (_, pts, _, _) in enumerate(cases)]
    for (fn, pts, exact, rtol), got in zip(cases, outs):
        want = np.array([float(exact(mpmath.mpf(t))) for t in pts])
        _close(got, want, rtol, 0.0, f"{fn}")


def _mp_ndtri(p):
    """The normal quantile by Newton's method in 30 digits, from SciPy's value."""
    p = mpmath.mpf(p)
    return mpmath.findroot(lambda z: mpmath.ncdf(z) - p, mpmath.mpf(sc.ndtri(float(p))), tol=mpmath.mpf(10) ** -60 * p)


# ---------------------------------------------------------------------------------------------
# Gradients and second derivatives
# ---------------------------------------------------------------------------------------------
def _phi(t):
    return np.exp(-t * t / 2) / np.sqrt(2 * np.pi)


def _mills(t):
    return np.exp(-t * t / 2 - 0.5 * np.log(2 * np.pi) - sc.log_ndtr(t))


def _inverse_second(y, dy, k):
    """y'' for an inverse function with y' = dy: y'' = k y y'^2 (k = 2 for erfinv/erfcinv, 1 for ndtri)."""
    return k * y * dy * dy


def _expit2(t):
    s = sc.expit(t)
    return s * (1 - s) * (1 - 2 * s)


UNARY = [  # (name, symdiff, closed-form second derivative from scipy.special, points)
    ("erf", sd.erf, lambda t: -4 * t / np.sqrt(np.pi) * np.exp(-t * t), [-2.0, -0.3, 0.1, 1.5]),
    ("erfc", sd.erfc, lambda t: 4 * t / np.sqrt(np.pi) * np.exp(-t * t), [-2.0, -0.3, 0.1, 3.5]),
    ("erfinv", sd.erfinv, lambda t: _inverse_second(sc.erfinv(t), np.sqrt(np.pi) / 2 * np.exp(sc.erfinv(t) ** 2), 2),
     [-0.99, -0.3, 0.2, 0.9]),
    ("erfcinv", sd.erfcinv,
     lambda t: _inverse_second(sc.erfcinv(t), -np.sqrt(np.pi) / 2 * np.exp(sc.erfcinv(t) ** 2), 2), [0.01, 0.4, 1.2, 1.9]),
    ("gamma", sd.gamma, lambda t: sc.gamma(t) * (sc.digamma(t) ** 2 + sc.polygamma(1, t)), [0.3, 1.7, 3.2, 4.5]),
    ("gammaln", sd.gammaln, lambda t: sc.polygamma(1, t), [0.3, 1.7, 4.2, 30.0]),
    ("digamma", sd.digamma, lambda t: sc.polygamma(2, t), [0.3, 1.7, 4.2, 30.0]),
    ("polygamma2", lambda t: sd.polygamma(2, t), lambda t: sc.polygamma(4, t), [0.3, 1.7, 4.2, 30.0]),
    ("multigammaln", lambda t: sd.multigammaln(t, 3), lambda t: sum(sc.polygamma(1, t - j / 2) for j in range(3)),
     [1.1, 2.5, 7.0]),
    ("logit", sd.logit, lambda t: (2 * t - 1) / (t * (1 - t)) ** 2, [0.01, 0.3, 0.5, 0.97]),
    ("expit", sps.expit, _expit2, [-30.0, -1.0, 0.5, 20.0]),
    ("log_expit", sd.log_expit, lambda t: -sc.expit(t) * sc.expit(-t), [-30.0, -1.0, 0.5, 20.0]),
    ("ndtr", sd.ndtr, lambda t: -t * _phi(t), [-5.0, -0.5, 0.7, 3.0]),
    ("log_ndtr", sd.log_ndtr, lambda t: -_mills(t) * (t + _mills(t)), [-15.0, -3.0, 0.7, 5.0]),
    ("ndtri", sd.ndtri, lambda t: _inverse_second(sc.ndtri(t), np.sqrt(2 * np.pi) * np.exp(sc.ndtri(t) ** 2 / 2), 1),
     [0.001, 0.2, 0.6, 0.99]),
    ("entr", sd.entr, lambda t: -1 / t, [0.01, 0.5, 2.0, 7.0]),
]
BINARY = [  # (name, symdiff, closed-form Hessian blocks xx, xy, yy, x points, y points)
    ("xlogy", sd.xlogy, lambda x, y: (0 * x, 1 / y, -x / y ** 2), [0.0, 0.5, -1.5, 3.0], [0.7, 1.5, 0.2, 4.0]),
    ("xlog1py", sd.xlog1py, lambda x, y: (0 * x, 1 / (1 + y), -x / (1 + y) ** 2), [0.0, 0.5, -1.5, 3.0],
     [0.7, -0.5, 0.2, 4.0]),
    ("betaln", sd.betaln, lambda a, b: (sc.polygamma(1, a) - sc.polygamma(1, a + b), -sc.polygamma(1, a + b),
                                        sc.polygamma(1, b) - sc.polygamma(1, a + b)),
     [0.3, 1.5, 12.0, 40.0], [2.0, 0.7, 15.0, 0.4]),
    ("rel_entr", sd.rel_entr, lambda x, y: (1 / x, -1 / y, x / y ** 2), [0.3, 1.5, 2.0, 4.0], [2.0, 0.7, 1.5, 0.4]),
    ("kl_div", sd.kl_div, lambda x, y: (1 / x, -1 / y, x / y ** 2), [0.3, 1.5, 2.0, 4.0], [2.0, 0.7, 1.5, 0.4]),
]


def _jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.scipy.special  # noqa: F401

    return jax


@pytest.mark.parametrize("name,fn,_,pts", UNARY, ids=[u[0] for u in UNARY])
def test_unary_gradients_against_finite_differences(name, fn, _, pts):
    x = sd.vector("x", len(pts))
    sd.check_grad(sd.sum(fn(x) * np.linspace(0.5, 1.5, len(pts))), [x], {x: np.array(pts)}, rtol=1e-6)


@pytest.mark.parametrize("name,fn,_,xs,ys", BINARY, ids=[b[0] for b in BINARY])
def test_binary_gradients_against_finite_differences(name, fn, _, xs, ys):
    x, y = sd.vector("x", len(xs)), sd.vector("y", len(ys))
    sd.check_grad(sd.sum(fn(x, y)), [x, y], {x: np.array(xs), y: np.array(ys)}, rtol=1e-6)


def test_hessians_against_closed_forms_both_routes():
    """Dense Hessians (grad of grad) of every op against scipy.special closed forms, through
    sd.evaluate and through one compiled kernel holding all of them."""
    nodes, wants, inputs, labels = [], [], {}, []
    for name, fn, second, pts in UNARY:
        x = sd.vector(name, len(pts))
        inputs[x] = np.array(pts)
        nodes.append(sd.hessian(sd.sum(fn(x)), x))
        wants.append(np.diag(second(np.array(pts))))
        labels.append(name)
    for name, fn, blocks, xs, ys in BINARY:
        x, y = sd.vector(name + "_x", len(xs)), sd.vector(name + "_y", len(ys))
        inputs[x], inputs[y] = np.array(xs), np.array(ys)
        H = sd.hessian(sd.sum(fn(x, y)), [x, y])
        xx, xy, yy = (np.diag(b) for b in blocks(np.array(xs), np.array(ys)))
        nodes += [H[0][0], H[0][1], H[1][0], H[1][1]]
        wants += [xx, xy, xy, yy]
        labels += [name + " " + b for b in ("xx", "xy", "yx", "yy")]
    f = sd.function(list(inputs), nodes, mode="numba")
    for route in (sd.evaluate(nodes, inputs), f(*inputs.values())):
        for g, w, label in zip(route, wants, labels):
            _close(g, w, 1e-10, 1e-12, f"Hessian of {label}")


def test_fourth_derivatives_of_the_gamma_family():
    """Four derivatives of gammaln and three of digamma are both polygamma(3): derivatives of derivatives."""
    x = sd.scalar("x")
    g = sd.gammaln(x)
    for k in range(4):
        g = sd.grad(g, x)
    v = sd.evaluate([g, sd.grad(sd.grad(sd.grad(sd.digamma(x), x), x), x)], {x: 2.7})
    _close(v, [sc.polygamma(3, 2.7), sc.polygamma(3, 2.7)], 1e-14)


def test_edge_gradients_match_jax():
    """xlogy at x == 0, rel_entr / kl_div outside their domain, entr at 0: JAX's conventions."""
    jax = _jax()
    jnp = jax.numpy
    xs, ys = np.array([0.0, 0.0, 1.0, 2.0, 0.0, -1.0]), np.array([1.0, 3.0, 0.0, 2.0, 0.0, 1.0])
    x, y = sd.vector("x", 6), sd.vector("y", 6)
    for name in ["xlogy", "rel_entr", "kl_div"]:
        got = sd.evaluate(sd.grad(sd.sum(getattr(sd, name)(x, y)), [x, y]), {x: xs, y: ys})
        jf = getattr(jax.scipy.special, name)
        want = jax.grad(lambda s, t: jnp.sum(jf(s, t)), argnums=(0, 1))(jnp.asarray(xs), jnp.asarray(ys))
        for g, w, which in zip(got, want, "xy"):
            _close(g, np.asarray(w), 1e-15, 0, f"d{name}/d{which}")
    e = sd.vector("e", 3)
    ge = sd.evaluate(sd.grad(sd.sum(sd.entr(e)), e), {e: np.array([0.0, 2.0, -1.0])})
    _close(ge, [np.inf, -(np.log(2.0) + 1), 0.0], 1e-15)  # JAX: inf, -1.69, nan (the constant -inf)


def test_log_ndtr_gradient_is_finite_in_the_far_tail():
    x = sd.vector("x", 4)
    xv = np.array([-40.0, -25.0, -5.0, 40.0])
    g = sd.grad(sd.sum(sd.log_ndtr(x)), x)
    h = sd.grad(sd.sum(g), x)
    f = sd.function([x], [g, h], mode="numba")
    mpmath.mp.dps = 40
    want_g = [float(mpmath.npdf(t) / mpmath.ncdf(t)) for t in xv]
    # d/dx (pdf/cdf) = -x r - r^2 with r = pdf / cdf
    want_h = [float(-t * r - r * r) for t, r in ((mpmath.mpf(t), mpmath.npdf(t) / mpmath.ncdf(t)) for t in xv)]
    for route in (sd.evaluate([g, h], {x: xv}), f(xv)):
        _close(route[0], want_g, 1e-12, 1e-300)
        _close(route[1], want_h, 1e-9, 1e-300)


# ---------------------------------------------------------------------------------------------
# logsumexp with weights, softmax family
# ---------------------------------------------------------------------------------------------
def test_logsumexp_with_weights_signs_and_axes():
    rng = np.random.default_rng(1)
    av = rng.normal(size=(3, 4)) * 300
    a = sd.matrix("a", 3, 4)
    w = sd.matrix("w", 3, 4)
    bc = np.abs(rng.normal(size=(3, 4)))
    bc[0, 1] = 0.0
    bneg = rng.normal(size=(4,))
    wv = np.abs(rng.normal(size=(3, 4))) + 0.1
    cases = [
        (sps.logsumexp(a, axis=1, b=bc), sc.logsumexp(av, axis=1, b=bc)),
        (sps.logsumexp(a, b=bc, keepdims=True), sc.logsumexp(av, b=bc, keepdims=True)),
        (sps.logsumexp(a, axis=0, b=w), sc.logsumexp(av, axis=0, b=wv)),
        (sps.logsumexp(a, axis=(0, 1)), sc.logsumexp(av, axis=(0, 1))),
        (sps.logsumexp(a, axis=-1, b=2.0, keepdims=True), sc.logsumexp(av, axis=-1, b=2.0, keepdims=True)),
        (sps.softmax(a), sc.softmax(av)),
        (sps.log_softmax(a, axis=0), sc.log_softmax(av, axis=0)),
    ]
    out, sgn = sps.logsumexp(a, axis=1, b=bneg, return_sign=True)
    s_out, s_sgn = sc.logsumexp(av, axis=1, b=bneg, return_sign=True)
    nodes = [c[0] for c in cases] + [out, sgn]
    wants = [c[1] for c in cases] + [s_out, s_sgn]
    for g, want in zip(sd.evaluate(nodes, {a: av, w: wv}), wants):
        assert np.shape(g) == np.shape(want)
        _close(g, want, 1e-13, 1e-13)
    compiled = [0, 2, 7, 8]  # a constant weight with a zero, a weight node, the value and the sign
    f = sd.function([a, w], [nodes[k] for k in compiled], mode="numba")
    for g, k in zip(f(av, wv), compiled):
        _close(g, wants[k], 1e-13, 1e-13)
    # a negative sum without return_sign is NaN, as in SciPy
    assert np.isnan(sd.evaluate(sps.logsumexp(a[0], b=-np.ones(4)), {a: av}))
    with pytest.raises(sd.ShapeError, match="logsumexp"):
        sps.logsumexp(a, b=np.ones(3))
    av_small = av / 300
    sd.check_grad(sps.logsumexp(a, axis=1, b=w), [a, w], {a: av_small, w: wv})
    sd.check_grad(sps.logsumexp(a, axis=1, b=bneg, return_sign=True)[0], [a], {a: av_small})


def test_logsumexp_is_the_plain_op_without_weights():
    a = sd.vector("a", 5)
    assert sps.logsumexp(a).op.name == "logsumexp" and sps.logsumexp(a, 0, None, True).shape == (1,)
    assert sd.logsumexp(a, 0, keepdims=True).shape == (1,)


# ---------------------------------------------------------------------------------------------
# float32, vmap, sparse Hessian
# ---------------------------------------------------------------------------------------------
def test_float32_stays_float32_and_agrees():
    x = sd.tensor("x", (6,), dtype="float32")
    p = sd.tensor("p", (6,), dtype="float32")
    xv = np.array([-3.0, -0.5, 0.25, 1.5, 4.0, 9.0], np.float32)
    pv = np.array([0.01, 0.2, 0.5, 0.7, 0.9, 0.999], np.float32)
    nodes = [sd.erf(x), sd.erfinv(2 * p - 1), sd.gammaln(p * 10), sd.digamma(p * 10), sd.polygamma(1, p * 10),
             sd.log_ndtr(x), sd.ndtri(p), sd.logit(p), sd.xlogy(p, x * x), sd.betaln(p, 2.0), sd.entr(p),
             sd.kl_div(p, p * p), sd.log_expit(x), sd.multigammaln(p + 2, 2), sd.grad(sd.sum(sd.gammaln(p * 10)), p)]
    ref64 = [sc.erf(xv.astype(float)), sc.erfinv(2 * pv.astype(float) - 1)]
    f = sd.function([x, p], nodes, mode="numba")
    got = f(xv, pv)
    ev = sd.evaluate(nodes, {x: xv, p: pv})
    for g, e in zip(got, ev):
        assert g.dtype == np.float32 and e.dtype == np.float32
        _close(g, e, 2e-6, 1e-6)
    for g, want in zip(got, ref64):
        _close(g, want, 2e-6, 1e-7)


def test_vmap_of_special_functions():
    x = sd.vector("x", 3)
    y = sd.scalar("y")
    out = sd.gammaln(x) * sd.betaln(x, y) + sd.polygamma(2, x + 1) + sd.sum(sd.xlogy(x, y))
    xs = np.array([[0.5, 1.5, 2.5], [3.0, 0.1, 7.0]])
    batched = sd.vmap(out, x, sd.constant(xs))
    got = sd.evaluate(batched, {y: 1.7})
    want = np.stack([sd.evaluate(out, {x: row, y: 1.7}) for row in xs])
    _close(got, want, 1e-14)
    assert got.shape == (2, 3)


def test_sparse_hessian_pattern_and_values():
    n = 12
    x = sd.vector("x", n)
    f = (sd.sum(sd.gammaln(x[1:] * x[:-1])) + sd.sum(sd.xlogy(x[:-1], x[1:])) + sd.sum(sd.erf(x))
         + sd.sum(sd.betaln(x[:-1], x[1:])))
    xv = np.linspace(0.5, 3.0, n)
    H = sd.hessian(f, x, sparse=True)
    P = H.pattern.toarray() != 0
    band = np.abs(np.subtract.outer(np.arange(n), np.arange(n))) <= 1
    assert (P == band).all()
    assert H.n_colours == 3
    dense = sd.evaluate(sd.hessian(f, x), {x: xv})
    _close(H({x: xv}).toarray(), dense, 1e-12, 1e-12)


# ---------------------------------------------------------------------------------------------
# The SciPy namespace, edge values, errors
# ---------------------------------------------------------------------------------------------
def _model(special, x, y):
    """Code written against scipy.special: runs on arrays or on nodes by the import line."""
    return (special.xlogy(x, y) + special.gammaln(x + 1) - special.betaln(x + 1, y) + special.erf(y)
            + special.log_ndtr(x) + special.expit(y) * special.digamma(y) + special.polygamma(1, y)
            + special.entr(y) + special.kl_div(x + 1, y) + special.logit(special.ndtr(y)))


def test_code_written_for_scipy_runs_on_nodes():
    xv, yv = np.array([0.0, 0.5, 2.0]), np.array([0.3, 1.0, 4.0])
    x, y = sd.vector("x", 3), sd.vector("y", 3)
    _close(sd.evaluate(_model(sps, x, y), {x: xv, y: yv}), _model(sc, xv, yv), 1e-13)
    assert all(callable(getattr(sps, n)) for n in sps.__all__)
    missing = [n for n in sps.__all__ if not hasattr(sc, n)]
    assert not missing, missing
    jax = _jax()  # jax.scipy.special has the same names, but for erfcinv, psi and log_expit
    missing = [n for n in sps.__all__ if not hasattr(jax.scipy.special, n)]
    assert set(missing) <= {"erfcinv", "psi", "log_expit"}, missing


def test_edge_values_both_routes():
    x = sd.vector("x", 7)
    xv = np.array([0.0, -0.0, -1.0, -2.0, np.inf, -np.inf, np.nan])
    nodes = [sd.digamma(x), sd.gamma(x), sd.gammaln(x), sd.polygamma(1, x), sd.ndtri(x), sd.logit(x),
             sd.erfinv(x), sd.erfcinv(x), sd.entr(x), sd.log_ndtr(x), sd.betaln(x, 2.0), sd.betaln(x, -1.0)]
    wants = [sc.digamma(xv), sc.gamma(xv), sc.gammaln(xv), sc.polygamma(1, xv), sc.ndtri(xv), sc.logit(xv),
             sc.erfinv(xv), sc.erfcinv(xv), sc.entr(xv), sc.log_ndtr(xv), sc.betaln(xv, 2.0), sc.betaln(xv, -1.0)]
    with np.errstate(all="ignore"):
        f = sd.function([x], nodes, mode="numba")
        for route in (sd.evaluate(nodes, {x: xv}), f(xv)):
            for node, g, want in zip(nodes, route, wants):
                _close(g, want, 1e-15, 0, f"{node.op.name} at the edges")
    assert math.copysign(1, sd.evaluate(sd.digamma(x), {x: xv})[0]) == -1  # psi(+0) = -inf, psi(-0) = +inf


def test_symbolic_second_derivatives_agree_with_sympy():
    """to_sympy of symdiff's second derivative against SymPy's own diff of the op's SymPy form."""
    sympy = pytest.importorskip("sympy")
    x, y = sd.scalar("x"), sd.scalar("y")
    point = {"x": sympy.Rational(7, 10), "y": sympy.Rational(13, 10)}
    ops = [sd.erf, sd.erfc, sd.erfinv, sd.erfcinv, sd.gamma, sd.gammaln, sd.digamma, lambda t: sd.polygamma(2, t),
           sd.ndtr, sd.log_ndtr, sd.ndtri, sd.logit, sd.entr, lambda t: sd.xlogy(t, y), lambda t: sd.betaln(t, y),
           lambda t: sd.kl_div(t, y), lambda t: sd.rel_entr(y, t), lambda t: sd.xlog1py(y, t)]
    for fn in ops:
        f = fn(x)
        h = sd.grad(sd.grad(f, x), x)
        mine, form = sd.to_sympy(h), sd.to_sympy(f)
        s = next(sym for sym in form.free_symbols if sym.name == "x")
        theirs = sympy.diff(form, s, 2)
        subs = {sym: point[sym.name] for sym in (mine.free_symbols | theirs.free_symbols)}
        a, b = (float(e.rewrite(sympy.erfinv).evalf(30, subs=subs)) for e in (mine, theirs))  # (erfcinv)
        assert abs(a - b) <= 1e-13 * abs(b), (f, a, b)
        assert abs(a - float(sd.evaluate(h, {x: 0.7, y: 1.3}))) <= 1e-12 * abs(a)


def test_the_virtual_machine_runs_special_ops_with_numpy():
    x = sd.vector("x", "n")
    out = [sd.gammaln(x) * 2.0 + sd.exp(x), sd.grad(sd.sum(sd.digamma(x) * sd.erf(x)), x)]
    xv = np.linspace(0.1, 5, 7)
    f = sd.function([x], out, mode="vm")
    assert f.mode == "vm"
    for g, e in zip(f(xv), sd.evaluate(out, {x: xv})):
        _close(g, e, 1e-15)


def test_bad_static_arguments_raise_clear_errors():
    x = sd.vector("x", 3)
    with pytest.raises(SpecialFunctionError, match="polygamma.*order n.*>= 0"):
        sd.polygamma(-1, x)
    with pytest.raises(sd.DTypeError, match="polygamma.*int"):
        sd.polygamma(1.5, x)
    with pytest.raises(sd.DTypeError, match="polygamma.*symbolic"):
        sd.polygamma(sd.scalar("n"), x)
    with pytest.raises(SpecialFunctionError, match="multigammaln.*dimension d"):
        sd.multigammaln(x, 0)
    with pytest.raises(sd.ShapeError, match="betaln"):
        sd.betaln(x, sd.vector("y", 4))
    with pytest.raises(sd.ShapeError, match="xlogy"):
        sd.xlogy(x, sd.vector("y", 2))
    assert issubclass(SpecialFunctionError, sd.SymdiffError)
    assert sd.polygamma(0, x).op.name == "digamma" and sd.polygamma(np.int64(2), x).op.n == 2


def test_names_and_aliases():
    x = sd.vector("x", 3)
    assert sd.lgamma is sd.gammaln and sd.psi is sd.digamma
    assert sd.expit(x).op == sd.sigmoid(x).op
    assert str(sd.erfinv(x)) == "erfinv(x)"
    assert sd.scipy.special is sps


def test_import_symdiff_does_not_import_scipy_special():
    code = "import sys, symdiff; print('scipy.special' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_modified_bessel_functions():
    """i0, i1, i0e, i1e: values against SciPy (to a few ulp, tails and overflow included), both
    routes, gradients against finite differences, second derivatives against the closed forms
    I0'' = I0 - I1/x and I1'' = I1 - I1'/x + I1/x^2 (JAX's rules are wrong at x = 0: it gives
    i0'(0) = 1 where I1(0) = 0)."""
    import scipy.special as ss

    from symdiff.compiler.special import _sp_i0, _sp_i0e, _sp_i1, _sp_i1e

    xs = np.concatenate([-np.logspace(-300, 2.845, 300), [0.0, -0.0], np.logspace(-300, 2.845, 300),
                         np.linspace(-40, 40, 401)])  # |x| up to 700
    for helper, ref in [(_sp_i0, ss.i0), (_sp_i1, ss.i1), (_sp_i0e, ss.i0e), (_sp_i1e, ss.i1e)]:
        got, want = np.array([helper(v) for v in xs]), ref(xs)
        nz = want != 0
        np.testing.assert_allclose(got[nz], want[nz], rtol=4e-15)
        np.testing.assert_array_equal(got[~nz], want[~nz])
    # the edges: finite up to the true overflow (SciPy's i0 overflows early, near 713.9), the
    # scaled forms tend to 0 at +-inf (SciPy gives NaN there), NaN stays NaN
    asym = np.exp(713.9 / 2) / np.sqrt(2 * np.pi * 713.9) * np.exp(713.9 / 2) * (1 + 1 / (8 * 713.9))
    assert np.isclose(_sp_i0(713.9), asym, rtol=1e-6) and _sp_i0(715.0) == np.inf and _sp_i1(-715.0) == -np.inf
    assert _sp_i0e(np.inf) == 0.0 and _sp_i1e(-np.inf) == 0.0 and np.isnan(_sp_i0(np.nan))
    x = sd.vector("x", 6)
    xv = np.array([-30.5, -3.0, -0.2, 0.0, 1.5, 45.0])
    outs = [sd.i0(x), sd.i1(x), sd.i0e(x), sd.i1e(x)]
    f = sd.function([x], outs + [sd.grad(sum(sd.sum(o) for o in outs), x)])
    for got, want in zip(f(xv), [ss.i0(xv), ss.i1(xv), ss.i0e(xv), ss.i1e(xv)]):
        np.testing.assert_allclose(got, want, rtol=1e-14)
    for fn, big in ((sd.i0, 6.0), (sd.i1, 6.0), (sd.i0e, 31.0), (sd.i1e, 31.0)):
        sd.check_grad(sd.sum(fn(x)), [x], {x: np.array([-3.0, -0.2, 0.3, 1.5, 5.0, big])})
    d2 = lambda fn, v: sd.evaluate(sd.grad(sd.sum(sd.grad(sd.sum(fn(x)), x)), x), {x: v})  # noqa: E731
    at = np.array([-3.0, -0.2, 0.0, 1.5, 5.0, 31.0])
    nz = at != 0
    i0, i1 = ss.i0(at), ss.i1(at)
    i0pp = np.where(nz, i0 - i1 / np.where(nz, at, 1), 0.5)
    i1p = np.where(nz, i0 - i1 / np.where(nz, at, 1), 0.5)
    i1pp = np.where(nz, i1 - i1p / np.where(nz, at, 1) + i1 / np.where(nz, at, 1) ** 2, 0.0)
    np.testing.assert_allclose(d2(sd.i0, at), i0pp, rtol=1e-12)
    np.testing.assert_allclose(d2(sd.i1, at), i1pp, rtol=1e-11, atol=1e-15)
