"""The vectorisable exp and tanh used by generated kernels keep float64 accuracy."""
import numpy as np
import pytest
from numba import njit

from symdiff.compiler.fastmath import _exp, _tanh


@njit(error_model="numpy")
def _map_exp(x):
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = _exp(x[i])
    return out


@njit(error_model="numpy")
def _map_tanh(x):
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = _tanh(x[i])
    return out


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
