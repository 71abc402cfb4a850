"""The C fast paths (compiler/_fastcall.c): ScalarCall for functions of float64 scalars alone,
ArrayCall for the rest, both checking ready arguments in C.

Every call a fast path takes must give bit-for-bit the result of the Python wrapper, and every
call it does not take (keywords, ints, lists, NumPy scalars, strings, strided or Fortran-ordered
arrays, other dtypes, wrong shapes, a wrong count) must reach the wrapper, which converts or
refuses it as before.
"""
import gc
import math
import os
import subprocess
import sys
import textwrap
import weakref

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symdiff as sd
import symdiff.compiler.function  # noqa: F401  (the module; the package exports the function)
F = sys.modules["symdiff.compiler.function"]

pytestmark = pytest.mark.skipif(F.ScalarCall is None, reason="the _fastcall extension is not built")



@pytest.fixture(autouse=True)
def _compiled_in_process(monkeypatch):
    """These tests read the kernel ``mode="auto"`` compiles (its source, its call path, its cache
    files) right after ``sd.function``: no tiering, which would answer on the VM first."""
    monkeypatch.setenv("SYMDIFF_TIERED", "0")


def _neuron():
    """The seed's sigmoid neuron, with its gradient wrt all five scalars."""
    w0, w1, w2, x0, x1 = (sd.scalar(n) for n in ("w0", "w1", "w2", "x0", "x1"))
    y = sd.sigmoid(w0 * x0 + w1 * x1 + w2)
    ins = [w0, w1, w2, x0, x1]
    return ins, [y, *sd.grad(y, ins)]


def _neuron_closed_form(w0, w1, w2, x0, x1):
    s = 1.0 / (1.0 + math.exp(-(w0 * x0 + w1 * x1 + w2)))
    d = s * (1.0 - s)
    return [s, d * x0, d * x1, d, d * w0, d * w1]


ARGS = (2.0, -3.0, -3.0, -1.0, -2.0)   # the seed's worked example: f = 0.73, grads 0.2 x inputs


def test_fast_path_is_the_call_and_agrees_with_closed_form_and_finite_differences():
    ins, outs = _neuron()
    f = sd.function(ins, outs)
    assert isinstance(type(f).__call__, F.ScalarCall) and "def kernel_c" in f.source
    got = f(*ARGS)
    assert type(got) is list and all(type(v) is float for v in got)
    np.testing.assert_allclose(got, _neuron_closed_form(*ARGS), rtol=1e-14)
    np.testing.assert_allclose(got[0], 0.7310585786300049, rtol=1e-15)   # the seeds' 0.73
    np.testing.assert_allclose(got[1:4], [-0.196612, -0.393224, 0.196612], rtol=1e-5)
    h = 1e-6
    for k in range(5):
        up, down = list(ARGS), list(ARGS)
        up[k] += h
        down[k] -= h
        fd = (f(*up)[0] - f(*down)[0]) / (2 * h)
        assert abs(fd - got[1 + k]) < 1e-8


@pytest.mark.parametrize("args", [
    (2, -3, -3, -1, -2),                                   # ints: converted by the wrapper
    tuple(np.float64(a) for a in ARGS),                    # NumPy scalars
    tuple(np.array(a) for a in ARGS),                      # 0-d arrays
    (True, -3.0, -3.0, -1.0, -2.0),
])
def test_slow_path_gives_the_same_bits(args):
    ins, outs = _neuron()
    f = sd.function(ins, outs)
    fast = f(*[float(a) for a in args])
    assert f(*args) == fast
    assert f(**{v.name: a for v, a in zip(ins, args)}) == fast
    assert f(2.0, -3.0, x0=args[3], w2=args[2], x1=args[4]) == f(*[float(a) for a in (2.0, -3.0, *args[2:])])


class _MyFloat(float):
    pass


def test_bad_input_still_reaches_the_wrapper_and_is_refused():
    ins, outs = _neuron()
    f = sd.function(ins, outs)
    with pytest.raises(sd.DTypeError, match="w0"):
        f("1.5", 1.0, 1.0, 1.0, 1.0)
    with pytest.raises(sd.DTypeError):
        f(1.0, 1.0, 1j, 1.0, 1.0)
    with pytest.raises(sd.InputError, match="expected 5 arguments"):
        f(1.0, 1.0, 1.0, 1.0)
    with pytest.raises(sd.InputError, match="expected 5 arguments"):
        f(1.0, 1.0, 1.0, 1.0, 1.0, 1.0)
    with pytest.raises(sd.InputError, match="unknown argument 'w9'"):
        f(1.0, 1.0, 1.0, 1.0, w9=1.0)
    with pytest.raises(sd.InputError, match="given twice"):
        f(1.0, 1.0, 1.0, 1.0, 1.0, w0=1.0)
    with pytest.raises((sd.DTypeError, sd.ShapeError)):
        f(None, 1.0, 1.0, 1.0, 1.0)
    with pytest.raises(sd.ShapeError):
        f(np.ones(2), 1.0, 1.0, 1.0, 1.0)
    # a float subclass is not an exact float: the wrapper converts it
    assert f(_MyFloat(2.0), -3.0, -3.0, -1.0, -2.0) == f(*ARGS)


def test_nan_and_inf_propagate_and_stay_finite_where_they_should():
    x = sd.scalar("x")
    f = sd.function([x], [sd.sigmoid(x), sd.softplus(x), sd.grad(sd.softplus(x), x)])
    assert all(math.isnan(v) for v in f(math.nan))
    assert f(1000.0) == [1.0, 1000.0, 1.0]
    assert f(-1000.0)[0] == 0.0 and f(-1000.0)[1] == 0.0
    assert f(math.inf)[0] == 1.0


def test_single_output_one_element_list_and_no_inputs():
    x, y = sd.scalar("x"), sd.scalar("y")
    f = sd.function([x, y], x * y + sd.sin(x))
    assert isinstance(type(f).__call__, F.ScalarCall)
    assert f(2.0, 3.0) == 6.0 + math.sin(2.0) and type(f(2.0, 3.0)) is float
    g = sd.function([x, y], [x * y])
    assert g(2.0, 3.0) == [6.0]
    c = sd.scalar("c")
    k = sd.function([], sd.constant(2.5) * 2.0)
    assert k() == 5.0
    with pytest.raises(sd.InputError):
        k(1.0)
    assert sd.function([c], c)(1.25) == 1.25


def test_functions_that_are_not_all_float64_scalars_keep_the_python_wrapper():
    x, s = sd.tensor("x", (3,)), sd.scalar("s")
    s32 = sd.scalar("s32", dtype="float32")
    assert not isinstance(type(sd.function([x, s], sd.sum(x) * s)).__call__, F.ScalarCall)
    g = sd.function([s], s * sd.constant(np.arange(3.0)))  # an array output
    assert not isinstance(type(g).__call__, F.ScalarCall) and list(g(2.0)) == [0.0, 2.0, 4.0]
    f32 = sd.function([s32], s32 * 2.0)
    assert not isinstance(type(f32).__call__, F.ScalarCall) and f32(1.5) == np.float32(3.0)


def test_a_function_is_freed_when_dropped():
    ins, outs = _neuron()
    f = sd.function(ins, outs)
    ref = weakref.ref(f)
    assert f(*ARGS)[0] > 0.7
    del f
    gc.collect()
    assert ref() is None


def test_the_fast_path_is_cached_on_disk_for_a_new_process(tmp_path):
    code = textwrap.dedent("""
        import symdiff as sd
        import sys, symdiff.compiler.function
        F = sys.modules["symdiff.compiler.function"]
        a, b = sd.scalar("a"), sd.scalar("b")
        f = sd.function([a, b], [sd.tanh(a) * b, sd.grad(sd.tanh(a) * b, a)])
        print(f.from_cache, isinstance(type(f).__call__, F.ScalarCall), repr(f(0.5, 2.0)))
    """)
    env = dict(os.environ, SYMDIFF_CACHE_DIR=str(tmp_path))
    runs = [subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
            for _ in range(2)]
    for r in runs:
        assert r.returncode == 0, r.stderr
    first, second = (r.stdout.split(maxsplit=2) for r in runs)
    assert first[:2] == ["False", "True"] and second[:2] == ["True", "True"]
    assert first[2] == second[2]
    t = math.tanh(0.5)
    assert eval(first[2]) == pytest.approx([t * 2.0, (1 - t * t) * 2.0], rel=1e-15)


# ------------------------------------------------------------------------------------------
# ArrayCall: arrays and floats checked in C, then Numba's entry point
# ------------------------------------------------------------------------------------------
def _logreg():
    """Logistic regression with L2 and a constant array in the graph (a kernel argument)."""
    X, y, w, b = sd.tensor("X", ("n", 3)), sd.tensor("y", ("n",)), sd.tensor("w", (3,)), sd.scalar("b")
    scale = sd.constant(np.array([1.0, 2.0, 0.5]))
    z = X @ (w * scale) + b
    loss = sd.mean(sd.softplus(-(2 * y - 1) * z)) + 0.01 * sd.sum(w * w)
    return [X, y, w, b], [loss, *sd.grad(loss, [w, b])]


def _logreg_closed_form(X, y, w, b):
    scale = np.array([1.0, 2.0, 0.5])
    s = 2 * y - 1
    m = -s * (X @ (w * scale) + b)
    loss = np.mean(np.logaddexp(0, m)) + 0.01 * w @ w
    dz = -s / (1 + np.exp(-m)) / len(y)
    return [loss, (X.T @ dz) * scale + 0.02 * w, dz.sum()]


RNG = np.random.default_rng(5)
XV, YV, WV = RNG.normal(size=(7, 3)), (RNG.random(7) > 0.5).astype(float), RNG.normal(size=3)


def test_array_call_is_the_call_and_agrees_with_closed_form_and_finite_differences():
    ins, outs = _logreg()
    f = sd.function(ins, outs)
    assert isinstance(type(f).__call__, F.ArrayCall)
    got = f(XV, YV, WV, 0.3)
    assert type(got) is list and len(got) == 3 and type(got[0]) is float
    for g, r in zip(got, _logreg_closed_form(XV, YV, WV, 0.3)):
        np.testing.assert_allclose(g, r, rtol=1e-12)
    sd.check_grad(outs[0], [ins[2], ins[3]], {ins[0]: XV, ins[1]: YV, ins[2]: WV, ins[3]: 0.3})
    h = 1e-6
    fd = (f(XV, YV, WV, 0.3 + h)[0] - f(XV, YV, WV, 0.3 - h)[0]) / (2 * h)
    assert abs(fd - got[2]) < 1e-8


@pytest.mark.parametrize("convert", [
    lambda X, y, w: (np.asfortranarray(X), y, w),                     # Fortran order
    lambda X, y, w: (np.repeat(X, 2, axis=0)[::2], y, w),             # strided rows
    lambda X, y, w: (X.tolist(), list(y), w),                          # lists
    lambda X, y, w: (X, y.astype(np.int64), w),                        # an integer array
    lambda X, y, w: (X, y, w.astype(np.float32)),                      # float32 into float64
    lambda X, y, w: (X, y, w.astype(w.dtype.newbyteorder())),          # non-native byte order
])
def test_array_slow_path_gives_the_same_bits(convert):
    ins, outs = _logreg()
    f = sd.function(ins, outs)
    yv = np.round(YV)
    wv = WV.astype(np.float32).astype(np.float64)  # exactly representable in float32
    fast = f(XV, yv, wv, 0.3)
    X2, y2, w2 = convert(XV, yv, wv)
    slow = f(X2, y2, w2, np.float64(0.3))
    assert [np.asarray(a).tobytes() for a in slow] == [np.asarray(a).tobytes() for a in fast]
    assert f(X=XV, y=yv, w=wv, b=0.3)[1].tobytes() == fast[1].tobytes()


@pytest.mark.parametrize("layout", ["F", "strided", "negative strides"])
def test_elementwise_kernels_see_every_layout_right(layout):
    """Arrays the kernel reads element by element: a layout the C checks let through wrongly
    would give wrong numbers here."""
    A = sd.tensor("A", ("n", "m"))
    weights = sd.tensor("c", ("m",))
    loss = sd.sum(sd.tanh(A) * weights * A)
    f = sd.function([A, weights], [loss, sd.grad(loss, A)])
    av, cv = RNG.normal(size=(6, 4)), RNG.normal(size=4)
    odd = {"F": np.asfortranarray(av), "strided": np.repeat(av, 2, axis=1)[:, ::2],
           "negative strides": av[::-1, ::-1].copy()[::-1, ::-1]}[layout]
    assert not odd.flags.c_contiguous
    fast, slow = f(av, cv), f(odd, cv)
    assert slow[0] == fast[0] and slow[1].tobytes() == fast[1].tobytes()
    np.testing.assert_allclose(fast[0], np.sum(np.tanh(av) * cv * av), rtol=1e-13)
    np.testing.assert_allclose(fast[1], (1 - np.tanh(av) ** 2) * cv * av + np.tanh(av) * cv, rtol=1e-13)


def test_array_bad_input_still_reaches_the_wrapper_and_is_refused():
    ins, outs = _logreg()
    f = sd.function(ins, outs)
    with pytest.raises(sd.ShapeError, match="'w'"):
        f(XV, YV, np.ones(4), 0.3)                        # static size
    with pytest.raises(sd.ShapeError, match="n"):
        f(XV, YV[:5], WV, 0.3)                            # named dim bound twice, differently
    with pytest.raises(sd.ShapeError):
        f(XV[0], YV, WV, 0.3)                              # rank
    with pytest.raises(sd.DTypeError):
        f(XV.astype(complex), YV, WV, 0.3)
    with pytest.raises(sd.DTypeError):
        f(XV, YV, WV, "0.3")
    with pytest.raises(sd.InputError):
        f(XV, YV, WV)
    with pytest.raises(sd.InputError, match="unknown argument"):
        f(XV, YV, WV, bias=0.3)


def test_kernel_errors_are_raised_as_symdiff_errors():
    x = sd.tensor("x", ("n",))
    f = sd.function([x], sd.max(x))
    assert isinstance(type(f).__call__, F.ArrayCall)
    with pytest.raises(sd.ShapeError):
        f(np.zeros(0))                     # the kernel raises ValueError: max of nothing
    assert f(np.array([1.0, 3.0, 2.0])) == 3.0


def test_result_forms_and_zero_length_dims():
    x = sd.tensor("x", ("n", "m"))
    bare = sd.function([x], sd.exp(x))
    one = sd.function([x], [sd.sum(x, axis=0)])
    two = sd.function([x], [sd.sum(x), sd.tanh(x)])
    xv = RNG.normal(size=(4, 5))
    np.testing.assert_allclose(bare(xv), np.exp(xv), rtol=1e-15)  # the polynomial exp: 1 ulp
    assert type(one(xv)) is list and len(one(xv)) == 1
    np.testing.assert_allclose(one(xv)[0], xv.sum(axis=0), rtol=1e-15)
    s, t = two(xv)
    np.testing.assert_allclose(s, xv.sum(), rtol=1e-14)
    np.testing.assert_allclose(t, np.tanh(xv), rtol=1e-14)
    empty = np.zeros((0, 3))
    assert two(empty)[0] == 0.0 and two(empty)[1].shape == (0, 3)
    assert all(isinstance(type(g).__call__, F.ArrayCall) for g in (bare, one, two))


def test_float32_graphs_use_the_array_path_unless_a_result_needs_converting():
    x = sd.tensor("x", (3,), dtype="float32")
    f = sd.function([x], sd.tanh(x) * 2.0)
    assert isinstance(type(f).__call__, F.ArrayCall)
    out = f(np.ones(3, np.float32))
    assert out.dtype == np.float32
    g = sd.function([x], sd.sum(x))                        # a 0-d float32 result: np.float32(...)
    assert not isinstance(type(g).__call__, (F.ArrayCall, F.ScalarCall))
    assert type(g(np.ones(3, np.float32))) is np.float32
    s32 = sd.scalar("s", dtype="float32")
    h = sd.function([x, s32], x * s32)                     # a float32 scalar input: always converted
    assert not isinstance(type(h).__call__, (F.ArrayCall, F.ScalarCall))


def test_an_array_function_is_freed_when_dropped():
    ins, outs = _logreg()
    f = sd.function(ins, outs)
    ref = weakref.ref(f)
    f(XV, YV, WV, 0.3)
    del f
    gc.collect()
    assert ref() is None


# ------------------------------------------------------------------------------------------
# Any arguments at all: the C checks and the wrapper together agree with sd.evaluate or refuse
# ------------------------------------------------------------------------------------------
_X, _Y = sd.tensor("x", ("n", "m")), sd.tensor("y", ("m",))
_LOSS = sd.sum(sd.tanh(_X) * _Y) + sd.sum(_Y * _Y)
_OUTS = [_LOSS, *sd.grad(_LOSS, [_X, _Y])]
_FUNCTIONS: dict = {}  # compiled once, on first use


def _layout(a: np.ndarray, how: str) -> np.ndarray:
    if how == "F":
        return np.asfortranarray(a)
    if how == "strided":
        return np.repeat(a, 2, axis=-1)[..., ::2]
    if how == "reversed":
        return a[::-1].copy()[::-1]
    return a


@settings(max_examples=60, deadline=None, derandomize=True)
@given(n=st.integers(0, 4), m=st.integers(1, 4), extra=st.integers(-1, 1),
       layouts=st.tuples(*[st.sampled_from(["C", "F", "strided", "reversed"])] * 2),
       dtypes=st.tuples(*[st.sampled_from(["float64", "float32", "int64", "complex128"])] * 2),
       rank_off=st.booleans())
def test_any_arguments_agree_with_evaluate_or_are_refused(n, m, extra, layouts, dtypes, rank_off):
    f = _FUNCTIONS.setdefault("xy", sd.function([_X, _Y], _OUTS))
    assert isinstance(type(f).__call__, F.ArrayCall)
    rng = np.random.default_rng(n * 100 + m * 10 + extra)
    xv = _layout((rng.normal(size=(n, m)) * 3).astype(dtypes[0]), layouts[0])
    yv = _layout((rng.normal(size=(m + extra,)) * 3).astype(dtypes[1]), layouts[1])
    if rank_off:
        yv = yv.reshape(1, -1)
    if "complex128" in dtypes:
        with pytest.raises(sd.DTypeError):
            f(xv, yv)
        return
    if extra or rank_off:
        with pytest.raises(sd.ShapeError):
            f(xv, yv)
        return
    got = f(xv, yv)
    ref = sd.evaluate(_OUTS, {_X: xv.astype(float), _Y: yv.astype(float)})
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r, rtol=1e-13, atol=1e-13)

