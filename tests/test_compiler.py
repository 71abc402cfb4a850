"""The Numba back end: calling conventions, argument checks, safety, caching, large graphs."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import symdiff as sd



@pytest.fixture(autouse=True)
def _compiled_in_process(monkeypatch):
    """These tests read the kernel ``mode="auto"`` compiles (its source, its call path, its cache
    files) right after ``sd.function``: no tiering, which would answer on the VM first."""
    monkeypatch.setenv("SYMDIFF_TIERED", "0")


@pytest.fixture
def logreg():
    X = sd.tensor("X", shape=("n", 5)); y = sd.tensor("y", shape=("n",))
    w = sd.tensor("w", shape=(5,)); b = sd.scalar("b")
    loss = sd.mean(sd.softplus(-(2 * y - 1) * (X @ w + b))) + 1e-3 * sd.sum(w * w)
    gw, gb = sd.grad(loss, [w, b])
    rng = np.random.default_rng(0)
    vals = dict(X=rng.normal(size=(40, 5)), y=(rng.random(40) > 0.5) * 1.0, w=rng.normal(size=5), b=0.3)
    return (X, y, w, b), (loss, gw, gb), vals


def test_positional_and_keyword_calls_agree_with_evaluator(logreg):
    (X, y, w, b), outs, v = logreg
    f = sd.function([X, y, w, b], list(outs))
    ref = sd.evaluate(list(outs), {X: v["X"], y: v["y"], w: v["w"], b: v["b"]})
    got_pos = f(v["X"], v["y"], v["w"], v["b"])
    got_kw = f(X=v["X"], y=v["y"], w=v["w"], b=v["b"])
    got_mixed = f(v["X"], v["y"], b=v["b"], w=v["w"])
    for got in (got_pos, got_kw, got_mixed):
        for r, g in zip(ref, got):
            np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-15)
    # gradient itself against finite differences
    sd.check_grad(outs[0], [w, b], {X: v["X"], y: v["y"], w: v["w"], b: v["b"]})
    assert type(got_pos[0]) is float and type(got_pos[2]) is float  # 0-d float64 results
    assert isinstance(got_pos[1], np.ndarray) and got_pos[1].shape == (5,)


def test_single_output_returns_value_not_list(logreg):
    (X, y, w, b), (loss, gw, gb), v = logreg
    f = sd.function([X, y, w, b], gw)
    assert isinstance(f(**v), np.ndarray)


def test_source_is_readable_and_has_node_comments(logreg):
    (X, y, w, b), outs, v = logreg
    f = sd.function([X, y, w, b], list(outs))
    assert "@njit" in f.source and "_dot(" in f.source
    assert "# matmul" in f.source and "softplus" in f.source


def test_elementwise_chain_is_fused_into_one_loop():
    x = sd.tensor("x", (100,))
    y = sd.exp(sd.sin(x) * 2.0 + 1.0) - x
    f = sd.function([x], y)
    assert f.source.count("for i0 in") == 1
    assert f.source.count("_empty(") == 1  # only the output is an array
    xv = np.linspace(-1, 1, 100)
    np.testing.assert_allclose(f(xv), np.exp(np.sin(xv) * 2 + 1) - xv, rtol=1e-13)


def test_rosenbrock_gradient_needs_no_intermediate_arrays():
    """Slices are read in place and slice gradients recompute their small producers at the
    shifted index: f is one loop with no arrays, its gradient one loop writing the output."""
    x = sd.tensor("x", (50,))
    f = sd.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    fn = sd.function([x], [f, sd.grad(f, x)])
    assert fn.source.count("_empty(") == 1 and fn.source.count("for i0 in") == 2
    xv = np.random.default_rng(3).normal(1, 0.5, 50)
    val, g = fn(xv)
    hand = np.zeros(50)
    hand[:-1] = -400 * xv[:-1] * (xv[1:] - xv[:-1] ** 2) - 2 * (1 - xv[:-1])
    hand[1:] += 200 * (xv[1:] - xv[:-1] ** 2)
    np.testing.assert_allclose(g, hand, rtol=1e-12, atol=1e-10)
    assert val == pytest.approx(np.sum(100 * (xv[1:] - xv[:-1] ** 2) ** 2 + (1 - xv[:-1]) ** 2), rel=1e-13)
    sd.check_grad(f, x, {x: xv})


def test_tanh_derivative_is_recomputed_not_stored():
    """A tanh layer feeding a matrix product: its derivative 1 - t*t is recomputed in the backward
    loop from the stored t (codegen.REMAT_OPS), so no (n, 16) array holds it; the values agree
    with the NumPy evaluator, a closed form and central differences."""
    X, W, V = sd.tensor("X", ("n", 8)), sd.tensor("W", (8, 16)), sd.tensor("V", (16, 3))
    t = sd.tanh(X @ W)
    loss = sd.sum((t @ V) ** 2)
    gW = sd.grad(loss, W)
    fn = sd.function([X, W, V], [loss, gW])
    assert "# sub shape=(d0, 16)" not in fn.source and "(1.0 - (v" in fn.source
    rng = np.random.default_rng(4)
    Xv, Wv, Vv = rng.normal(size=(40, 8)), rng.normal(size=(8, 16)) * 0.3, rng.normal(size=(16, 3))
    val, g = fn(Xv, Wv, Vv)
    T = np.tanh(Xv @ Wv)
    hand = Xv.T @ ((2 * (T @ Vv) @ Vv.T) * (1 - T * T))
    np.testing.assert_allclose(g, hand, rtol=1e-12, atol=1e-12)
    for r, got in zip(sd.evaluate([loss, gW], {X: Xv, W: Wv, V: Vv}), (val, g)):
        np.testing.assert_allclose(got, r, rtol=1e-12, atol=1e-12)
    sd.check_grad(loss, W, {X: Xv, W: Wv, V: Vv})


KEYS = [(slice(1, None),), (slice(None, -1),), (slice(None, None, 2),), (slice(1, None, 3),),
        (slice(None, None, -1),), (slice(-2, 0, -2),), (slice(3, 3),), (2,), (-1,), (None, slice(1, 4)),
        (slice(1, None), 2), (Ellipsis, slice(None, None, -1)), (slice(None, None, -2), slice(None, 3))]


@pytest.mark.parametrize("key", KEYS, ids=[str(k) for k in KEYS])
def test_fused_slices_and_inlined_slice_gradients_agree_with_evaluator(key):
    """Slices with steps, negative steps, ints and new axes, read in loops, and the gradients of
    shifted elementwise producers recomputed at composite indices (``(i0 - 1) + 1``)."""
    x = sd.tensor("x", (7, 5))
    y = sd.sin(x) * x + 1.0
    z = y[key] * 2.0 + sd.exp(y[key])
    loss = sd.sum(z * z) + sd.sum(sd.tanh(x[1:, ::-1]) * x[:-1, :])
    g = sd.grad(loss, x)
    gg = sd.grad(sd.sum(g * g), x)  # the gradient of slice gradients: index_grad read at an index
    xv = np.random.default_rng(1).normal(size=(7, 5))
    fn = sd.function([x], [loss, g, gg])
    ref = sd.evaluate([loss, g, gg], {x: xv})
    for r, got in zip(ref, fn(xv)):
        np.testing.assert_allclose(got, r, rtol=1e-12, atol=1e-12)
    sd.check_grad(loss, x, {x: xv})


def test_slices_of_named_dims_fuse():
    x = sd.tensor("x", ("n", 3))
    loss = sd.sum(sd.exp(x[::-1, 1:]) * x[:, :-1])
    fn = sd.function([x], [loss, sd.grad(loss, x)])
    xv = np.random.default_rng(2).normal(size=(6, 3))
    ref = sd.evaluate([loss, sd.grad(loss, x)], {x: xv})
    for r, got in zip(ref, fn(xv)):
        np.testing.assert_allclose(got, r, rtol=1e-12, atol=1e-13)


def test_commuted_products_are_one_subexpression():
    x = sd.tensor("x", (10,))
    y = sd.sin(x) * x + x * sd.sin(x)
    fn = sd.function([x], y)
    assert fn.source.count(" * ") == 1
    xv = np.linspace(0, 1, 10)
    np.testing.assert_allclose(fn(xv), 2 * np.sin(xv) * xv, rtol=1e-14)


def test_reduction_fused_with_producer():
    x = sd.tensor("x", ("n",))
    s = sd.sum((x * 2.0 - 1.0) ** 2)
    f = sd.function([x], s)
    assert f.source.count("for i0 in") == 1 and "_empty(" not in f.source
    xv = np.linspace(-2, 2, 7)
    np.testing.assert_allclose(f(xv), np.sum((xv * 2 - 1) ** 2), rtol=1e-13)


def test_sum_of_transcendentals_keeps_the_map_vectorisable():
    """A running float sum stops LLVM from vectorising its loop, and the polynomial tanh pays
    off only vectorised: the summands go to an array and the sum follows in a loop of its own."""
    x = sd.tensor("x", ("n",))
    s = sd.sum(sd.tanh(x) ** 2)
    f = sd.function([x], s)
    assert f.source.count("for i0 in") == 2 and "_terms" in f.source and "_tanh(" in f.source
    xv = np.linspace(-2, 2, 7)
    np.testing.assert_allclose(f(xv), np.sum(np.tanh(xv) ** 2), rtol=1e-13)
    # no loop to vectorise (scalars) or a libm call in the loop (sin): libm's tanh, no split
    y = sd.scalar("y")
    assert "np.tanh(" in sd.function([y], sd.tanh(y) * 2.0).source
    g = sd.function([x], sd.sum(sd.tanh(x) * sd.sin(x)))
    assert "np.tanh(" in g.source and "_terms" not in g.source
    np.testing.assert_allclose(g(xv), np.sum(np.tanh(xv) * np.sin(xv)), rtol=1e-13)


def test_common_subexpressions_are_computed_once():
    x = sd.tensor("x", (10,))
    a = sd.exp(x) * 2.0
    b = sd.exp(x) * 2.0      # a second, structurally identical graph
    f = sd.function([x], [a + b])
    assert f.source.count("exp(") == 1  # np.exp here: 10 entries are too few for the vector form


def test_wrong_argument_count_and_keywords(logreg):
    (X, y, w, b), outs, v = logreg
    f = sd.function([X, y, w, b], outs[0])
    with pytest.raises(sd.InputError, match="expected 4 arguments"):
        f(v["X"], v["y"])
    with pytest.raises(sd.InputError, match="unknown argument 'z'"):
        f(X=v["X"], y=v["y"], w=v["w"], b=v["b"], z=1.0)
    with pytest.raises(sd.InputError, match="missing arguments: 'b'"):
        f(X=v["X"], y=v["y"], w=v["w"])
    with pytest.raises(sd.InputError, match="given twice"):
        f(v["X"], v["y"], v["w"], v["b"], X=v["X"])


def test_shape_dtype_and_dim_errors_before_native_code(logreg):
    (X, y, w, b), outs, v = logreg
    f = sd.function([X, y, w, b], outs[0])
    with pytest.raises(sd.ShapeError, match=r"'X'.*\(n, 5\).*\(40, 4\)"):
        f(v["X"][:, :4], v["y"], v["w"], v["b"])
    with pytest.raises(sd.ShapeError, match="'y'.*dim 'n' is 39 here but 40"):
        f(v["X"], v["y"][:39], v["w"], v["b"])
    with pytest.raises(sd.ShapeError, match="'w'"):
        f(v["X"], v["y"], v["w"][None, :], v["b"])
    with pytest.raises(sd.DTypeError, match="complex"):
        f(v["X"] + 0j, v["y"], v["w"], v["b"])
    with pytest.raises(sd.DTypeError, match="object"):
        f(v["X"], np.array([None] * 40), v["w"], v["b"])
    with pytest.raises(sd.DTypeError):
        f(v["X"], v["y"], v["w"], "0.5")
    with pytest.raises(sd.ShapeError):
        f(v["X"], v["y"], v["w"], np.ones(2))


def test_lists_ints_and_non_contiguous_inputs(logreg):
    (X, y, w, b), outs, v = logreg
    f = sd.function([X, y, w, b], list(outs))
    ref = f(v["X"], v["y"], v["w"], v["b"])
    Xf = np.asfortranarray(v["X"])
    big = np.zeros((40, 10)); big[:, ::2] = v["X"]
    for Xarg in (Xf, big[:, ::2], v["X"].tolist()):
        got = f(Xarg, v["y"].astype(int), list(v["w"]), np.float64(v["b"]))
        for r, g in zip(ref, got):
            np.testing.assert_allclose(g, r, rtol=1e-12)
    got = f(v["X"], v["y"], v["w"], 1)  # an int scalar
    assert np.isfinite(got[0])


def test_float32_path():
    x = sd.tensor("x", (6,), dtype="float32")
    y = sd.sum(sd.tanh(x) * 2 + sd.sigmoid(x))
    g = sd.grad(y, x)
    f = sd.function([x], [y, g])
    xv = np.linspace(-1, 1, 6).astype(np.float32)
    yv, gv = f(xv)
    assert isinstance(yv, np.float32) and gv.dtype == np.float32
    ref = sd.evaluate([y, g], {x: xv})
    np.testing.assert_allclose(gv, ref[1], rtol=1e-5)
    x64 = xv.astype(np.float64)
    s = 1 / (1 + np.exp(-x64))
    np.testing.assert_allclose(gv, 2 * (1 - np.tanh(x64) ** 2) + s * (1 - s), rtol=1e-5)


def test_nan_inputs_propagate():
    x = sd.tensor("x", (4,))
    y = sd.sum(sd.maximum(x, 0.0) + sd.relu(x) + sd.exp(x))
    f = sd.function([x], [y, sd.max(x), sd.grad(y, x)])
    yv, mv, gv = f(np.array([1.0, np.nan, -1.0, 2.0]))
    assert np.isnan(yv) and np.isnan(mv) and np.isnan(gv[1])


def test_zero_length_named_dim():
    x = sd.tensor("x", ("n",))
    f = sd.function([x], [sd.sum(x), sd.sum(sd.exp(x) * 2.0), x * 2.0])
    s, t, d = f(np.zeros(0))
    assert s == 0.0 and t == 0.0 and d.shape == (0,)
    with pytest.raises(sd.ShapeError, match="zero-size"):
        sd.function([x], sd.max(x))(np.zeros(0))
    m = sd.function([x], sd.mean(x))(np.zeros(0))
    assert np.isnan(m)  # 0 / 0, as NumPy


def test_index_into_named_dim_is_bounds_checked():
    x = sd.tensor("x", ("n",))
    f = sd.function([x], x[3] * 2.0)
    assert f(np.arange(5.0)) == 6.0
    with pytest.raises(sd.ShapeError, match="out of bounds"):
        f(np.arange(2.0))


INJECTION = 'x); import os; os.system("touch /tmp/pwned") #'


def test_hostile_variable_names_never_become_code(tmp_path):
    marker = "/tmp/pwned"
    if os.path.exists(marker):
        os.remove(marker)
    with pytest.raises(sd.ShapeError, match="identifier"):  # dim names must be identifiers
        sd.tensor("x", ("n\nimport os",))
    x = sd.tensor(INJECTION, ("n",))
    y = sd.tensor('y"""; raise SystemExit; """', ())
    out = sd.sum(sd.exp(x) * y)
    g = sd.grad(out, [x, y])
    f = sd.function([x, y], [out, *g])
    xv = np.linspace(0, 1, 5)
    got = f(xv, 2.0)
    np.testing.assert_allclose(got[0], 2 * np.exp(xv).sum(), rtol=1e-13)
    np.testing.assert_allclose(got[1], 2 * np.exp(xv), rtol=1e-13)
    got_kw = f(**{INJECTION: xv, 'y"""; raise SystemExit; """': 2.0})
    np.testing.assert_allclose(got_kw[0], got[0])
    assert not os.path.exists(marker)
    code_lines = [l.split("#", 1)[0] for l in (f.source + f.wrapper_source).splitlines()]
    assert not any("os" in l.split() or "pwned" in l or "SystemExit" in l for l in code_lines)


def test_parallel_option_agrees():
    x = sd.tensor("x", ("n",))
    y = sd.sum(sd.tanh(x) * sd.exp(-x * x))
    g = sd.grad(y, x)
    f = sd.function([x], [y, g], parallel=True)
    xv = np.linspace(-2, 2, 10001)
    ref = sd.evaluate([y, g], {x: xv})
    got = f(xv)
    np.testing.assert_allclose(got[0], ref[0], atol=1e-10)  # the exact sum is 0 (odd integrand)
    np.testing.assert_allclose(got[1], ref[1], rtol=1e-12)
    assert "prange" in f.source


def _run_child(code: str, cache: str) -> str:
    env = dict(os.environ, SYMDIFF_CACHE_DIR=cache)
    res = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


CHILD = """
    import numpy as np, symdiff as sd
    x = sd.tensor("x", ("n",))
    y = sd.sum(sd.tanh(x) ** 2 * 1.2345)
    f = sd.function([x], [y, sd.grad(y, x)])
    print(f.from_cache, repr(float(f(np.linspace(0, 1, 9))[0])))
"""


def test_disk_cache_is_reused_by_a_new_process(tmp_path):
    first = _run_child(CHILD, str(tmp_path))
    second = _run_child(CHILD, str(tmp_path))
    assert first.split()[0] == "False" and second.split()[0] == "True"
    assert first.split()[1] == second.split()[1]


def test_a_module_that_fails_to_load_is_not_reused_half_run(tmp_path, monkeypatch):
    """A kernel module whose import fails (say, a cache entry Numba cannot read) is loaded again
    from a fresh folder, not taken half-run from sys.modules."""
    import builtins

    from symdiff.compiler.function import _load_module, source_key

    monkeypatch.setenv("SYMDIFF_CACHE_DIR", str(tmp_path))
    source = ("import builtins\n"
              "if builtins._symdiff_fail_once:\n"
              "    builtins._symdiff_fail_once = False\n"
              "    raise RuntimeError('first import fails')\n"
              "value = 42\n")
    monkeypatch.setattr(builtins, "_symdiff_fail_once", True, raising=False)
    module = _load_module(source, source_key(source))
    assert module.value == 42 and builtins._symdiff_fail_once is False


def test_corrupt_and_read_only_cache_fall_back(tmp_path):
    _run_child(CHILD, str(tmp_path))
    for root, _, files in os.walk(tmp_path):
        for name in files:
            if name.endswith((".nbi", ".nbc")):
                with open(os.path.join(root, name), "wb") as fh:
                    fh.write(b"garbage")
    out = _run_child(CHILD, str(tmp_path))
    assert out.split()[1] == _run_child(CHILD, str(tmp_path / "fresh")).split()[1]
    ro = tmp_path / "ro"
    ro.mkdir()
    os.chmod(ro, 0o500)
    try:
        out = _run_child(CHILD, str(ro / "sub"))
        assert float(out.split()[1]) > 0
    finally:
        os.chmod(ro, 0o700)


def _sin_tanh_chain(depth: int):
    """x (3,), the sum of an alternating sin/tanh chain of ``depth`` steps, and its gradient."""
    x = sd.tensor("x", (3,))
    h = x
    for k in range(depth):
        h = sd.tanh(h) * 0.999 + 0.001 if k % 2 else sd.sin(h) + 0.01
    out = sd.sum(h)
    return x, out, sd.grad(out, x)


def test_large_graph_is_split_into_several_kernels(monkeypatch):
    import symdiff.compiler.codegen as codegen

    monkeypatch.setattr(codegen, "CHUNK_LINES", 40)
    monkeypatch.setattr(codegen, "LOOP_NODES", 16)
    x, out, g = _sin_tanh_chain(40)
    f = sd.function([x], [out, g], mode="numba")
    assert f.mode == "numba" and f.source.count("def _k") > 3
    xv = np.array([0.1, -0.2, 0.3])
    ref = sd.evaluate([out, g], {x: xv})
    got = f(xv)
    np.testing.assert_allclose(got[0], ref[0], rtol=1e-12)
    np.testing.assert_allclose(got[1], ref[1], rtol=1e-10)


def test_graph_of_10000_nodes_compiles_quickly_in_auto_mode():
    import time

    x, out, g = _sin_tanh_chain(2500)
    t0 = time.perf_counter()
    f = sd.function([x], [out, g])
    assert time.perf_counter() - t0 < 30 and f.mode == "vm"
    xv = np.array([0.1, -0.2, 0.3])
    ref = sd.evaluate([out, g], {x: xv})
    got = f(xv)
    np.testing.assert_allclose(got[1], ref[1], rtol=1e-12)
    with pytest.raises(sd.ShapeError):
        f(np.ones(4))


@pytest.mark.slow
def test_100k_deep_chain_compiles():
    x = sd.scalar("x")
    h = x
    for k in range(100_000):
        h = h * 0.99999 + 1e-6
    g = sd.grad(h, x)
    f = sd.function([x], [h, g])
    hv, gv = f(0.5)
    np.testing.assert_allclose(gv, 0.99999 ** 100_000, rtol=1e-9)
