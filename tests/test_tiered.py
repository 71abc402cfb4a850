"""Tiered execution (``mode="tiered"``, ``compiler/tiered.py``): the NumPy tier answers at once,
the kernel compiled by a child process takes over, both give the same results; failures fall
back and are recorded; no child outlives its Function or the interpreter."""
import gc
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import symdiff as sd
from symdiff.compiler import tiered

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WAIT = 300  # seconds: a child compile takes a few seconds, more on a loaded machine


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One kernel cache folder for this module (the warm-cache tests reuse its kernels)."""
    return str(tmp_path_factory.mktemp("tiered-cache"))


@pytest.fixture
def env(cache, monkeypatch):
    monkeypatch.setenv("SYMDIFF_CACHE_DIR", cache)
    monkeypatch.delenv(tiered.TIERED_ENV, raising=False)


def _graph():
    """f(x, b) = sum(tanh(x) * x) * b + b**2 with its gradient wrt x and b."""
    x, b = sd.tensor("x", (5,)), sd.scalar("b")
    f = sd.sum(sd.tanh(x) * x) * b + b * b
    return [x, b], [f, *sd.grad(f, [x, b])]


def _closed_form(x, b):
    t = np.tanh(x)
    s = float(np.sum(t * x))
    return s * b + b * b, (t + x * (1 - t * t)) * b, s + 2 * b


def _central_differences(fn, x, b, eps=1e-6):
    gx = np.array([(fn(x + eps * e, b)[0] - fn(x - eps * e, b)[0]) / (2 * eps) for e in np.eye(len(x))])
    gb = (fn(x, b + eps)[0] - fn(x, b - eps)[0]) / (2 * eps)
    return gx, gb


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _gone(pid: int, within: float = 10.0) -> bool:
    end = time.monotonic() + within
    while time.monotonic() < end:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_tiers_agree_and_switch(env):
    ins, outs = _graph()
    F = sd.function(ins, outs, mode="tiered")
    assert F.mode == "numpy" and F.compile_error is None
    x, b = np.array([0.3, -1.2, 2.0, 0.0, 0.7]), 0.8
    first = F(x, b)
    assert F.mode == "numpy"
    assert type(first[0]) is float and type(first[2]) is float and first[1].dtype == np.float64
    assert F.wait_compiled(WAIT), F.compile_error
    assert F.mode == "numba" and F.compile_error is None and F.from_cache  # loaded what the child wrote
    second = F(x, b)
    assert [type(v) for v in second] == [type(v) for v in first]
    for a, c in zip(first, second):
        np.testing.assert_allclose(c, a, rtol=1e-12, atol=1e-15)
    f, gx, gb = _closed_form(x, b)
    np.testing.assert_allclose(second[0], f, rtol=1e-12)
    np.testing.assert_allclose(second[1], gx, rtol=1e-12)
    np.testing.assert_allclose(second[2], gb, rtol=1e-12)
    fx, fb = _central_differences(F, x, b)
    np.testing.assert_allclose(second[1], fx, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(second[2], fb, rtol=1e-6)
    # keywords and bad shapes behave alike on both tiers
    np.testing.assert_allclose(F(b=b, x=x)[1], gx, rtol=1e-12)
    with pytest.raises(sd.ShapeError, match="expected shape"):
        F(np.ones(4), b)
    # the kernel is cached now: another tiered Function of the same graph loads it at once here
    G = sd.function(*_graph(), mode="tiered")
    assert G.mode == "numba" and G.from_cache
    with pytest.raises(sd.ShapeError, match="expected shape"):
        sd.function(*_graph(), mode="numpy")(np.ones(4), b)


def test_scalar_function_and_dict_outputs(env):
    w, x = sd.scalar("w"), sd.scalar("x")
    f = sd.sigmoid(w * x + 0.5)
    F = sd.function([w, x], {"f": f, "dw": sd.grad(f, w)}, mode="tiered")
    first = F(0.4, -1.5)
    assert F.mode == "numpy" and set(first) == {"f", "dw"} and type(first["f"]) is float
    assert F.wait_compiled(WAIT), F.compile_error
    second = F(0.4, -1.5)
    assert F.mode == "numba" and set(second) == {"f", "dw"} and type(second["f"]) is float
    s = 1 / (1 + np.exp(-(0.4 * -1.5 + 0.5)))
    for got in (first, second):
        np.testing.assert_allclose(got["f"], s, rtol=1e-13)
        np.testing.assert_allclose(got["dw"], s * (1 - s) * -1.5, rtol=1e-12)


def test_loop_tiers_agree(env):
    x = sd.tensor("x", (4,))
    h = sd.fori_loop(0, 6, lambda i, h: sd.tanh(h) * 0.9 + 0.1, x)
    s = sd.sum(h * h)
    F = sd.function([x], [s, sd.grad(s, x)], mode="tiered")
    xv = np.array([0.5, -0.2, 1.5, -2.0])
    first = F(xv)
    assert F.wait_compiled(WAIT), F.compile_error
    second = F(xv)
    assert F.mode == "numba"
    ref = xv.copy()
    for _ in range(6):
        ref = np.tanh(ref) * 0.9 + 0.1
    np.testing.assert_allclose(first[0], np.sum(ref * ref), rtol=1e-12)
    for a, c in zip(first, second):
        np.testing.assert_allclose(c, a, rtol=1e-12, atol=1e-15)
    eps = 1e-6
    fd = [(F(xv + eps * e)[0] - F(xv - eps * e)[0]) / (2 * eps) for e in np.eye(4)]
    np.testing.assert_allclose(second[1], fd, rtol=1e-6, atol=1e-9)


def test_failed_background_compile_falls_back(env, monkeypatch):
    monkeypatch.setattr(tiered, "_CHILD", "import sys; sys.stderr.write('no compiler here'); raise SystemExit(3)")
    x = sd.tensor("x", (3,))
    f = sd.sum(sd.exp(x) * 3.0 + x)  # a graph no other test compiles
    F = sd.function([x], [f, sd.grad(f, x)], mode="tiered")
    assert F.wait_compiled(WAIT) is False
    assert F.mode == "numpy"
    assert "status 3" in F.compile_error and "no compiler here" in F.compile_error
    xv = np.array([0.1, 0.2, -0.3])
    got = F(xv)
    np.testing.assert_allclose(got[0], np.sum(np.exp(xv) * 3 + xv), rtol=1e-13)
    np.testing.assert_allclose(got[1], np.exp(xv) * 3 + 1, rtol=1e-13)
    assert type(F).__call__ is sd.Function.__call__  # no poll left on the call path


def test_child_killed_when_function_is_deleted(env, monkeypatch):
    monkeypatch.setattr(tiered, "_CHILD", "import time; time.sleep(120)")
    x = sd.tensor("x", (2,))
    F = sd.function([x], [sd.sum(sd.sin(x) * 2.5)], mode="tiered")
    pid = F._background._proc.pid
    assert _alive(pid) and F.wait_compiled(0.01) is False
    np.testing.assert_allclose(F(np.array([0.5, 1.0]))[0], 2.5 * (np.sin(0.5) + np.sin(1.0)), rtol=1e-13)
    del F
    gc.collect()
    assert _gone(pid)


def test_switches(env, monkeypatch):
    x = sd.tensor("x", (2,))
    outs = [sd.sum(sd.cos(x) * 1.25)]
    F = sd.function([x], outs, mode="numba")  # compiles here, as without tiering
    assert F.mode == "numba" and F.wait_compiled(0) is True
    assert sd.function([x], outs, mode="numpy").wait_compiled(0) is False
    monkeypatch.setattr(tiered, "_CHILD", "import time; time.sleep(120)")
    y = sd.tensor("y", (2,))
    outs = [sd.sum(sd.cos(y) * 1.75)]  # not in the cache
    for setting in (None, "1"):  # auto is tiered by default, and with SYMDIFF_TIERED=1
        if setting is not None:
            monkeypatch.setenv(tiered.TIERED_ENV, setting)
        G = sd.function([y], outs)
        assert G.mode == "numpy" and G._background is not None
        G._background.close()
    # ... but not a graph with a loop, whose VM runs the body op by op at every step
    L = sd.function([y], [sd.sum(sd.fori_loop(0, 3, lambda i, h: sd.sin(h) * 1.5, y))])
    assert L.mode == "numba" and getattr(L, "_background", None) is None
    monkeypatch.setenv(tiered.TIERED_ENV, "0")
    assert tiered.tiering_enabled() is False
    with pytest.raises(sd.InputError, match="'tiered'"):
        sd.function([y], outs, mode="tired")


def _run_script(code: str, cache: str) -> str:
    env = dict(os.environ, SYMDIFF_CACHE_DIR=cache, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop(tiered.TIERED_ENV, None)
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True,
                          text=True, timeout=WAIT)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_new_process_warm_cache_and_exit(cache, env):
    # the kernel of _graph() is in the cache (test_tiers_agree_and_switch, or compiled here)
    F = sd.function(*_graph(), mode="numba")
    out = _run_script("""
        import sys, numpy as np, symdiff as sd
        from symdiff.compiler import tiered
        x, b = sd.tensor("x", (5,)), sd.scalar("b")
        f = sd.sum(sd.tanh(x) * x) * b + b * b
        F = sd.function([x, b], [f, *sd.grad(f, [x, b])], mode="tiered")
        xv = np.array([0.3, -1.2, 2.0, 0.0, 0.7])
        first = F(xv, 0.8)
        print("first", F.mode)
        assert F.wait_compiled(300), F.compile_error
        second = F(xv, 0.8)
        print("then", F.mode, F.from_cache, np.allclose(first[1], second[1], rtol=1e-12))
        tiered._CHILD = "import time; time.sleep(120)"
        y = sd.tensor("y", (3,))
        G = sd.function([y], [sd.sum(y * y * 4.5)], mode="tiered")
        print("pid", G._background._proc.pid)
    """, cache)
    assert "first numpy" in out and "then numba True True" in out
    assert _gone(int(out.split("pid")[1].split()[0]))  # killed at the interpreter's exit
    del F


def test_children_queue_beyond_the_cap(env, monkeypatch):
    """With one slot, a second background compile waits until the first child has exited."""
    monkeypatch.setattr(tiered, "MAX_CHILDREN", 1)
    monkeypatch.setattr(tiered, "_CHILD", "import time; time.sleep(120)")
    x = sd.tensor("x", (2,))
    F = sd.function([x], [sd.sum(sd.sin(x) * 3.5)], mode="tiered")
    G = sd.function([x], [sd.sum(sd.sin(x) * 4.5)], mode="tiered")
    assert F._background._proc is not None and G._background._proc is None  # G queued
    v = np.array([0.25, -1.0])
    np.testing.assert_allclose(G(v)[0], 4.5 * np.sum(np.sin(v)), rtol=1e-13)  # answered meanwhile
    assert G._background._proc is None and G.wait_compiled(0.2) is False
    pid = F._background._proc.pid
    F._background.close()  # the first child goes: the next poll starts the queued one
    assert _gone(pid)
    G(v)
    assert G._background._proc is not None and _alive(G._background._proc.pid)
    G._background.close()


def test_no_child_process_means_compiling_here(env, monkeypatch):
    """Where no child can start (a sandbox without fork/exec, no temporary folder), the default
    mode compiles in this process instead of failing."""
    def refuse(*args, **kwargs):
        raise PermissionError("no processes here")

    monkeypatch.setattr(tiered.subprocess, "Popen", refuse)
    x = sd.tensor("x", (3,))
    f = sd.sum(sd.exp(x) * 1.375)
    F = sd.function([x], [f, sd.grad(f, x)])
    assert F.mode == "numba" and getattr(F, "_background", None) is None
    xv = np.array([0.5, -0.25, 1.0])
    got = F(xv)
    np.testing.assert_allclose(got[0], 1.375 * np.sum(np.exp(xv)), rtol=1e-14)
    np.testing.assert_allclose(got[1], 1.375 * np.exp(xv), rtol=1e-14)
    assert not any(c() is not None and c()._proc is not None for c in tiered._running)
