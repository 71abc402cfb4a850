"""The vectorisable exp, tanh, log and log1p used by generated kernels keep float64 accuracy."""
import re

import numpy as np
import pytest
from numba import njit

from symdiff.compiler.fastmath import _exp, _log, _log1p, _tanh
from symdiff.compiler.runtime import _softplus


def _mapper(fn, fma: bool = True):
    """A jitted loop applying ``fn`` to a 1-d array, compiled as generated kernels are (FMA on)."""

    def apply(x):
        out = np.empty_like(x)
        for i in range(x.shape[0]):
            out[i] = fn(x[i])
        return out

    return njit(error_model="numpy", fastmath={"contract"} if fma else False)(apply)


_map_exp, _map_tanh, _map_log, _map_log1p, _map_softplus = map(_mapper, (_exp, _tanh, _log, _log1p, _softplus))


SPECIAL = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-300, -1e-310, 5e-324, 709.78, 709.79, 710.0,
                    -708.0, -745.0, -745.2, -746.0, -800.0, 0.1, -0.1, 0.0999999999, 20.0, -20.0, 1e-8])


def _relerr(got, ref):
    ok = np.isfinite(ref) & (np.abs(ref) > 1e-290)
    return np.max(np.abs(got[ok] - ref[ok]) / np.abs(ref[ok]))


@pytest.mark.parametrize("scale", [1e-6, 1.0, 30.0, 700.0])
def test_exp_relative_error_below_1e_14(scale):
    x = np.random.default_rng(0).uniform(-scale, scale, 200_000)
    assert _relerr(_map_exp(x), np.exp(x)) < 1e-14


@pytest.mark.parametrize("scale", [1e-6, 0.1, 1.0, 30.0])
def test_tanh_relative_error_below_1e_14(scale):
    x = np.random.default_rng(1).uniform(-scale, scale, 200_000)
    assert _relerr(_map_tanh(x), np.tanh(x)) < 1e-14


def test_special_values():
    with np.errstate(over="ignore"):
        ref_exp = np.exp(SPECIAL)
    got_exp = _map_exp(SPECIAL)
    # identical NaN/inf/zero behaviour; subnormal results within a few units of 5e-324
    np.testing.assert_array_equal(np.isnan(got_exp), np.isnan(ref_exp))
    np.testing.assert_array_equal(np.isinf(got_exp), np.isinf(ref_exp))
    np.testing.assert_allclose(got_exp, ref_exp, rtol=1e-14, atol=1e-320)
    got_tanh = _map_tanh(SPECIAL)
    np.testing.assert_allclose(got_tanh, np.tanh(SPECIAL), rtol=1e-14, atol=0)
    assert np.signbit(_map_tanh(np.array([-0.0]))[0])


def _loguniform(rng, lo, hi, n):
    return np.exp(rng.uniform(np.log(lo), np.log(hi), n))


def _relerr_nonzero(got, ref):
    ok = np.isfinite(ref) & (ref != 0)
    assert np.array_equal(np.isnan(got), np.isnan(ref)) and ok.sum() > 0.9 * len(ref)
    return np.max(np.abs(got[ok] - ref[ok]) / np.abs(ref[ok]))


LOG_RANGES = {
    "subnormal": lambda r, n: _loguniform(r, 5e-324, 2.2250738585072014e-308, n),
    "tiny": lambda r, n: _loguniform(r, 1e-300, 1e-10, n),
    "unit": lambda r, n: r.uniform(0.0, 1.0, n),
    "near_one": lambda r, n: 1.0 + r.uniform(-1e-6, 1e-6, n),
    "thousand": lambda r, n: r.uniform(0.0, 1e3, n),
    "huge": lambda r, n: _loguniform(r, 1.0, 1e300, n),
    "top": lambda r, n: _loguniform(r, 1e300, 1.7976931348623157e308, n),
}

LOG1P_RANGES = {
    "tiny": lambda r, n: _loguniform(r, 1e-300, 1e-10, n),
    "minus_tiny": lambda r, n: -_loguniform(r, 1e-300, 1e-10, n),
    "1e-8": lambda r, n: r.uniform(-1e-8, 1e-8, n),
    "unit": lambda r, n: r.uniform(-0.999, 1.0, n),
    "thousand": lambda r, n: r.uniform(0.0, 1e3, n),
    "huge": lambda r, n: _loguniform(r, 1.0, 1e300, n),
    "near_minus_one": lambda r, n: -1.0 + _loguniform(r, 1e-16, 1e-3, n),
    "minus_one_plus_1e-12": lambda r, n: -1.0 + 1e-12 * r.uniform(0.5, 1.5, n),
}


@pytest.mark.parametrize("name", LOG_RANGES)
def test_log_relative_error_below_1e_14(name):
    x = LOG_RANGES[name](np.random.default_rng(2), 200_000)
    assert _relerr_nonzero(_map_log(x), np.log(x)) < 1e-14


@pytest.mark.parametrize("name", LOG1P_RANGES)
def test_log1p_relative_error_below_1e_14(name):
    x = LOG1P_RANGES[name](np.random.default_rng(3), 200_000)
    assert _relerr_nonzero(_map_log1p(x), np.log1p(x)) < 1e-14


def test_log_and_log1p_over_all_positive_bit_patterns():
    x = np.random.default_rng(4).integers(1, 0x7FF0000000000000, 200_000).view(np.float64)
    assert _relerr_nonzero(_map_log(x), np.log(x)) < 1e-14
    assert _relerr_nonzero(_map_log1p(x), np.log1p(x)) < 1e-14


LOG_SPECIAL = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -1.0, -2.0, -1e-300, -5e-324, 5e-324, 1e-310,
                        2.2250738585072014e-308, -1.0 + 1e-16, -1.0 + 2.0 ** -53, -1.0 - 1e-15, 1.0, 2.0, 0.5,
                        1e-300, 1.7976931348623157e308, -np.finfo(np.float64).max])


def _same(got, ref):
    """Equal to within 1e-15 relative, with the same NaNs, infinities and zeros (sign included)."""
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    np.testing.assert_array_equal(got[np.isinf(ref)], ref[np.isinf(ref)])
    np.testing.assert_array_equal(np.signbit(got[ref == 0]), np.signbit(ref[ref == 0]))
    np.testing.assert_allclose(got, ref, rtol=1e-15, atol=0)


def test_log_and_log1p_special_values():
    with np.errstate(divide="ignore", invalid="ignore"):
        _same(_map_log(LOG_SPECIAL), np.log(LOG_SPECIAL))
        _same(_map_log1p(LOG_SPECIAL), np.log1p(LOG_SPECIAL))
    assert _map_log(np.array([1.0]))[0] == 0.0 and _map_log(np.array([5e-324]))[0] == np.log(5e-324)
    assert _map_log1p(np.array([1e-300]))[0] == 1e-300


def test_softplus_matches_logaddexp():
    x = np.concatenate([np.random.default_rng(5).normal(0.0, 20.0, 200_000),
                        [0.0, -0.0, 1e-300, -800.0, 800.0, 1e308, -1e308, np.inf, -np.inf, np.nan]])
    with np.errstate(invalid="ignore"):
        ref = np.logaddexp(0.0, x)
    got = _map_softplus(x)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    ok = np.isfinite(ref) & (ref != 0)
    assert np.max(np.abs(got[ok] - ref[ok]) / ref[ok]) < 1e-14


@njit(error_model="numpy")
def _map_affine(x):
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = 2.0 * x[i] + 1.0
    return out


def _vector_ir(fn):
    x = np.linspace(0.5, 2.0, 16)
    fn(x)
    return fn.inspect_llvm(fn.signatures[0])


VECTOR = re.compile(r"<\d+ x double>")


@pytest.mark.parametrize("fn", [_map_exp, _map_tanh, _map_log, _map_log1p, _map_softplus],
                         ids=["exp", "tanh", "log", "log1p", "softplus"])
def test_loops_over_the_fast_functions_vectorise(fn):
    if not VECTOR.search(_vector_ir(_map_affine)):  # e.g. a target without SIMD: nothing to check
        pytest.skip("LLVM does not vectorise even a plain arithmetic loop here")
    ir = _vector_ir(fn)
    assert VECTOR.search(ir)
    assert not re.search(r"call [^\n]*@(llvm\.)?(log|log1p|exp|tanh)(\.f64)?\(", ir)  # no scalar libm calls


@pytest.mark.parametrize("name", ["_map_exp", "_map_tanh", "_map_log", "_map_log1p"])
def test_accuracy_without_fma_contraction_too(name):
    """The same functions compiled without 'contract' (separate multiply and add) stay accurate."""
    fn = {"_map_exp": _exp, "_map_tanh": _tanh, "_map_log": _log, "_map_log1p": _log1p}[name]
    plain = _mapper(fn, fma=False)
    x = np.random.default_rng(7).uniform(-20, 20, 100_000)
    if "log" in name:
        x = np.abs(x) * 10.0 ** np.random.default_rng(8).uniform(-300, 300, x.size)
    ref = {"_map_exp": np.exp, "_map_tanh": np.tanh, "_map_log": np.log, "_map_log1p": np.log1p}[name](x)
    assert _relerr(plain(x), ref) < 1e-14
