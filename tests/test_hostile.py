"""Hostile and malformed input (issue 11): no code from a shared cache, bounded work, every error
names its cause.

Each attack of the issue is carried out here and shown to fail: pickles planted in kernel and
runtime-helper caches that others could write (run in fresh processes, where Numba would load
them; a plain Numba function beside them shows the payload does run when nothing checks), and
symbolic links planted where the cache writes. Values are checked against NumPy, SciPy or JAX,
gradients against finite differences, compiled results against ``sd.evaluate``.
"""
from __future__ import annotations

import math
import os
import pickle
import re
import shutil
import stat
import subprocess
import sys
import textwrap
import time
import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.special

import symdiff as sd
from symdiff.cli import main as cli_main
from symdiff.compiler import cache
from symdiff.compiler import runtime as runtime_module

pytestmark = pytest.mark.hostile

OTHER_UID = 54321  # not this user (the checks compare owners with the effective uid)
needs_root = pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                                reason="giving files to another user needs root")


def _jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax


# ---------------------------------------------------------------------------------------------
# 1-2. The kernel cache: no code from folders or files another user could write
# ---------------------------------------------------------------------------------------------
@needs_root
def test_cache_folder_and_file_checks(tmp_path):
    made = cache.ensure_private_folder(str(tmp_path / "new" / "a" / "b"))
    for folder in (tmp_path / "new", tmp_path / "new" / "a", tmp_path / "new" / "a" / "b"):
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700  # created 0700, parents too
    assert cache.folder_problem(made) is None

    def folder(name, mode, uid=None):
        path = tmp_path / name
        path.mkdir()
        os.chmod(path, mode)
        if uid is not None:
            os.chown(path, uid, -1)
        return str(path)

    assert "writable by group or others" in cache.folder_problem(folder("world", 0o777))
    assert "writable by group or others" in cache.folder_problem(folder("group", 0o770))
    assert "writable by group or others" in cache.folder_problem(folder("sticky", 0o1777))  # sticky: still not ours alone
    assert f"owned by uid {OTHER_UID}" in cache.folder_problem(folder("theirs", 0o700, OTHER_UID))
    with pytest.raises(cache.UnsafeCacheError, match="owned by uid"):
        cache.ensure_private_folder(str(tmp_path / "theirs"))
    (tmp_path / "link").symlink_to(tmp_path / "theirs")  # a link is judged by what it points to
    assert f"owned by uid {OTHER_UID}" in cache.folder_problem(str(tmp_path / "link"))
    open_parent = folder("open", 0o777)
    os.mkdir(os.path.join(open_parent, "mine"), 0o700)  # others could rename it away and put theirs
    assert "parent folder" in cache.folder_problem(os.path.join(open_parent, "mine"))
    os.chmod(open_parent, 0o1777)  # sticky, like /tmp: nobody else can rename our entries
    assert cache.folder_problem(os.path.join(open_parent, "mine")) is None

    good = tmp_path / "new" / "a" / "b"
    cache.write_private_file(str(good / "f"), b"data")
    assert stat.S_IMODE(os.stat(good / "f").st_mode) == 0o600
    assert cache.file_problem(str(good / "f")) is None and cache.read_private_file(str(good / "f")) == b"data"
    assert cache.read_private_file(str(good / "missing")) is None
    for name, mode, uid, why in [("gw", 0o620, None, "writable by group"), ("ow", 0o602, None, "writable by group or others"),
                                 ("foreign", 0o600, OTHER_UID, "owned by uid")]:
        path = good / name
        path.write_bytes(b"x")
        os.chmod(path, mode)
        if uid is not None:
            os.chown(path, uid, -1)
        assert why in cache.file_problem(str(path))
        with pytest.raises(cache.UnsafeCacheError, match=why):
            cache.read_private_file(str(path))
    (good / "sym").symlink_to(good / "f")
    assert "symbolic link" in cache.file_problem(str(good / "sym"))
    with pytest.raises(cache.UnsafeCacheError, match="symbolic link"):
        cache.read_private_file(str(good / "sym"))
    os.mkfifo(good / "fifo", 0o600)
    assert "not a regular file" in cache.file_problem(str(good / "fifo"))


def test_an_unsafe_kernel_cache_folder_is_never_used(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    monkeypatch.setenv("SYMDIFF_CACHE_DIR", str(shared))
    x = sd.tensor("x", (5,))
    y = sd.tanh(x) * 3.25 + 0.125
    with pytest.warns(cache.UnsafeCacheWarning, match="writable by group or others"):
        f = sd.function([x], [y, sd.grad(sd.sum(y), x)])
    v = np.linspace(-2, 2, 5)
    got, dy = f(v)
    np.testing.assert_allclose(got, np.tanh(v) * 3.25 + 0.125, rtol=1e-14)
    np.testing.assert_allclose(dy, 3.25 / np.cosh(v) ** 2, rtol=1e-13)
    assert os.listdir(shared) == []  # nothing written, nothing read
    with warnings.catch_warnings():  # one warning per folder, not one per kernel
        warnings.simplefilter("error", cache.UnsafeCacheWarning)
        g = sd.function([x], y * 2.0)
    np.testing.assert_allclose(g(v), 2 * (np.tanh(v) * 3.25 + 0.125), rtol=1e-14)


def test_planted_symlinks_never_clobber_files(tmp_path, monkeypatch):
    """The old writer opened the predictable ``<path>.<pid>.tmp`` with ``open(.., "w")``, which
    follows a planted link; now the file is made with mkstemp and moved into place, and a link
    planted at the final path is refused (the kernel compiles in memory)."""
    from symdiff.compiler.codegen import Lowering
    from symdiff.compiler.function import source_key

    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    folder = tmp_path / "cache"
    folder.mkdir(mode=0o700)
    monkeypatch.setenv("SYMDIFF_CACHE_DIR", str(folder))
    monkeypatch.setenv("SYMDIFF_TIERED", "0")  # the writer of this process (a tiered child runs the same code)
    x = sd.tensor("x", (3,))
    y1, y2 = sd.sin(x) * 1.75, sd.cos(x) * 2.75
    keys = [source_key(Lowering([x], [y]).source()) for y in (y1, y2)]
    (folder / f"symdiff_{keys[0]}.py.{os.getpid()}.tmp").symlink_to(victim)  # the old temporary name
    (folder / f"symdiff_{keys[1]}.py").symlink_to(victim)  # the final name itself
    v = np.array([0.1, -0.7, 2.0])
    f1 = sd.function([x], y1)
    with pytest.warns(cache.UnsafeCacheWarning, match="symbolic link"):
        f2 = sd.function([x], y2)
    np.testing.assert_allclose(f1(v), np.sin(v) * 1.75, rtol=1e-14)
    np.testing.assert_allclose(f2(v), np.cos(v) * 2.75, rtol=1e-14)
    assert victim.read_text() == "precious"
    written = folder / f"symdiff_{keys[0]}.py"
    assert written.is_file() and not written.is_symlink() and stat.S_IMODE(written.stat().st_mode) == 0o600
    assert (folder / f"symdiff_{keys[1]}.py").is_symlink()  # left alone, never followed


# ---------------------------------------------------------------------------------------------
# The attacks in fresh processes (where Numba loads cache files): pickles planted in caches
# ---------------------------------------------------------------------------------------------
_PLAIN_MODULE = """
from numba import njit


@njit(cache=True)
def g(x):
    return x + 1.0
"""

_CHILD = """
import os, sys, warnings
os.umask(0o002)  # new files group-writable, as many systems make them: symdiff's must not stay so
warnings.simplefilter("always")
import numpy as np
import symdiff as sd
base = sys.argv[1]
M = sd.tensor("M", (3, 3))
x = sd.tensor("x", (3,))
for k in range(5):
    os.environ["SYMDIFF_CACHE_DIR"] = os.path.join(base, f"D{k}")
    f = sd.function([M, x], M @ x * (2.0 + k) + 1.0)
    print(k, f(np.eye(3), np.arange(3.0)).tolist())
# after symdiff made NUMBA_CACHE_DIR (0700): Numba makes it itself under the umask above (0775),
# and symdiff (imported lazily, at its first kernel) then rightly refuses the group-writable parent
sys.path.insert(0, os.path.join(base, "E"))
import plainmod
print("plain", plainmod.g(1.0))
"""


class _Evil:
    """A pickle that creates the folder ``marker`` when it is loaded."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return os.makedirs, (self.marker, 0o777, True)


def _plant(path, marker) -> None:
    with open(path, "wb") as fh:
        pickle.dump(_Evil(str(marker)), fh)


def _child(base, env_extra: dict) -> subprocess.CompletedProcess:
    env = dict(os.environ, **env_extra)
    env.pop("SYMDIFF_CACHE_DIR", None)
    env["SYMDIFF_TIERED"] = "0"  # each kernel compiled and loaded in the child itself, before it exits
    res = subprocess.run([sys.executable, "-c", textwrap.dedent(_CHILD), str(base)], env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    return res


def _numba_folder(numba_dir, source_dir) -> str:
    """The folder NUMBA_CACHE_DIR gives the functions of files in ``source_dir``."""
    from numba.core.caching import _CacheLocator

    return os.path.join(numba_dir, _CacheLocator.get_suitable_cache_subpath(os.path.join(source_dir, "f.py")))


@needs_root
def test_pickles_planted_in_caches_never_run_and_garbage_is_recompiled(tmp_path):
    """Kernels 0-3 and the runtime helper ``_dot`` get pickles that run code when loaded, each
    behind one flaw: a folder anyone may write, an index of another user, an index that is a
    link, a data file anyone may write. Garbage (a truncated write, a disk error) sits in the
    index of the helper ``_empty`` and in the data of kernel 4: these are ours, so they are
    removed and compiled afresh (they raised ``UnpicklingError``). The same pickle in the cache of
    a plain ``@njit(cache=True)`` function runs: the attack is real where nothing checks."""
    base, numba_dir, markers, tmp = tmp_path, tmp_path / "N", tmp_path / "markers", tmp_path / "tmp"
    markers.mkdir()
    tmp.mkdir(mode=0o700)
    (tmp_path / "E").mkdir()
    (tmp_path / "E" / "plainmod.py").write_text(_PLAIN_MODULE)
    env = {"NUMBA_CACHE_DIR": str(numba_dir), "TMPDIR": str(tmp)}
    first = _child(base, env)  # fills the caches: kernels, runtime helpers, the plain function
    runtime = _numba_folder(numba_dir, os.path.dirname(runtime_module.__file__))
    kernels = [_numba_folder(numba_dir, str(base / f"D{k}")) for k in range(5)]
    plain = _numba_folder(numba_dir, str(base / "E"))
    for root, _, files in os.walk(base):
        if root != plain and "markers" not in root:
            for name in files:  # made 0600, or tightened after Numba wrote them under umask 002
                assert not os.stat(os.path.join(root, name)).st_mode & 0o022, (root, name)

    def one(folder, prefix, suffix):
        (name,) = [n for n in os.listdir(folder) if n.startswith(prefix) and n.endswith(suffix)]
        return os.path.join(folder, name)

    for path in [one(plain, "plainmod.", ".nbi"), one(runtime, "runtime._dot-", ".nbi"),
                 *[one(kernels[k], "symdiff_", ".nbi") for k in range(3)], one(kernels[3], "symdiff_", ".nbc")]:
        _plant(path, markers / os.path.basename(path))
    os.chmod(base / "D0", 0o777)                                      # kernel 0: its cache folder
    os.chown(one(kernels[1], "symdiff_", ".nbi"), OTHER_UID, -1)       # kernel 1: another user's index
    os.chown(one(runtime, "runtime._dot-", ".nbi"), OTHER_UID, -1)     # the helper _dot: the same
    link = one(kernels[2], "symdiff_", ".nbi")                         # kernel 2: a link to the pickle
    os.replace(link, base / "elsewhere.nbi")
    os.symlink(base / "elsewhere.nbi", link)
    os.chmod(one(kernels[3], "symdiff_", ".nbc"), 0o666)               # kernel 3: data anyone may write
    for path in (one(runtime, "runtime._empty-", ".nbi"), one(kernels[4], "symdiff_", ".nbc")):
        with open(path, "wb") as fh:
            fh.write(b"\x80\x05garbage, not a pickle")

    second = _child(base, env)
    assert second.stdout == first.stdout  # the same results, compiled afresh where refused
    assert sorted(os.listdir(markers)) == [os.path.basename(one(plain, "plainmod.", ".nbi"))], \
        "only the plain Numba function (nothing checked) ran the planted pickle"
    causes = [f"the folder {base / 'D0'} is writable by group or others", kernels[1], "owned by uid 54321",
              "runtime._dot-", "is a symbolic link", "is writable by group or others (mode 666)",
              "removed the unreadable Numba cache file"]
    for why in causes:
        assert why in second.stderr, why
    assert second.stderr.count("UnsafeCacheWarning") == 7  # one per cause: 5 refusals, 2 garbage files
    assert "UnpicklingError" not in second.stderr and "Traceback" not in second.stderr
    assert os.listdir(tmp) == []  # the private /tmp/symdiff-* folder is gone at exit
    third = _child(base, env)  # the repaired caches load cleanly
    assert third.stdout == first.stdout and "removed the unreadable" not in third.stderr


# ---------------------------------------------------------------------------------------------
# 3. Bounded work: the CLI and the printers
# ---------------------------------------------------------------------------------------------
def test_cli_refuses_swelling_derivatives_with_the_budget_named(capsys):
    nested = "sin(" * 190 + "x" + ")" * 190
    for formula, order, at in [("tanh(tanh(tanh(tanh(x))))", "10", "7th"), (nested, "10", "3rd")]:
        t0 = time.perf_counter()
        rc = cli_main(["grad", formula, "--order", order, "--format", "latex", "--max-nodes", "5000"])
        err = capsys.readouterr().err
        assert rc == 2 and "over the budget of 5000 nodes" in err and "--max-nodes" in err
        assert time.perf_counter() - t0 < 30  # minutes before the budget (seconds even on a loaded machine)
    assert cli_main(["grad", "x", "--max-nodes", "0"]) == 2
    assert "--max-nodes must be at least 1" in capsys.readouterr().err


def test_cli_prints_large_derivatives_with_temporaries(capsys):
    sp = pytest.importorskip("sympy")
    rc = cli_main(["grad", "tanh(tanh(tanh(tanh(x))))", "--order", "5", "--format", "latex", "--at", "x=0.3"])
    out = capsys.readouterr().out
    assert rc == 0
    block = out.split("\n%")[0]
    assert block.startswith("\\begin{aligned}") and block.rstrip().endswith("\\end{aligned}")
    assert re.search(r"^t_\{1\} &= ", block, re.M) and "\\frac{\\partial^{5} f}{\\partial x^{5}} &= " in block
    assert len(block) < 200_000  # grows with the graph (1,496 nodes), not with its expansion
    xs = sp.Symbol("x")
    want = float(sp.diff(sp.tanh(sp.tanh(sp.tanh(sp.tanh(xs)))), xs, 5).subs(xs, 0.3))
    got = float(out.strip().splitlines()[-1].split("=")[-1])
    assert got == pytest.approx(want, rel=1e-11)


def _chain(op, depth: int):
    x = sd.scalar("x")
    y = x
    for _ in range(depth):
        y = op(y)
    return x, y


def test_to_sympy_and_latex_of_500_deep_chains():
    sp = pytest.importorskip("sympy")
    for op, sp_f, np_f in [(sd.sin, sp.sin, np.sin), (sd.tanh, sp.tanh, np.tanh), (sd.sigmoid, None, scipy.special.expit)]:
        x, y = _chain(op, 500)
        expr = sd.to_sympy(y)  # was RecursionError
        if sp_f is not None:  # walk down the expression (never recursively) and evaluate it
            levels, e = [], expr
            while e.args:
                assert e.func is sp_f
                levels.append(e)
                e = e.args[0]
            assert len(levels) == 500 and e == sp.Symbol("x", real=True)
            v = 0.4
            for _ in levels:
                v = float(sp_f(v))
            ref = 0.4
            for _ in range(500):
                ref = np_f(ref)
            assert v == pytest.approx(ref, rel=1e-12) == pytest.approx(float(sd.evaluate(y, {x: 0.4})), rel=1e-12)
        text = sd.latex(y)  # temporaries, one row per few levels
        assert text.startswith("\\begin{aligned}") and text.count("\\\\\n") > 20
        assert len(text) < 50 * 500 * 4
    x, y = _chain(sd.tanh, 3)
    assert sd.latex(y) == r"\tanh{\left(\tanh{\left(\tanh{\left(x \right)} \right)} \right)}"  # small: as before


def test_latex_and_to_sympy_budgets():
    x, y = _chain(sd.sin, 300)
    with pytest.raises(sd.SympyConversionError, match=r"301 nodes, over the limit of max_nodes=100.*max_nodes=301"):
        sd.latex(y, max_nodes=100)
    with pytest.raises(sd.SympyConversionError, match="max_nodes=100"):
        sd.to_sympy(y, max_nodes=100)
    assert sd.latex(y, max_nodes=None).startswith("\\begin{aligned}")


# ---------------------------------------------------------------------------------------------
# 4. LaTeX injection
# ---------------------------------------------------------------------------------------------
HOSTILE_NAMES = [r"\input{/etc/passwd}", r"\write18{touch /tmp/pwned}", "$x$", "a}b{c", "x\ny", "50%",
                 "#1", "a&b", "~", "x^y", "x_y z", r"\immediate\openout1=/tmp/x"]


def _control_words(text: str) -> set[str]:
    """LaTeX control words in ``text`` that are not escaped characters printed as text."""
    text = text.replace(r"\textbackslash{}", "")
    return set(re.findall(r"\\([A-Za-z]+)", text))


@pytest.mark.parametrize("cse", [False, True])
def test_latex_escapes_hostile_variable_names(cse):
    allowed = {"text", "frac", "left", "right", "sin", "cos", "tanh", "begin", "end", "aligned", "cdot"}
    xs = [sd.scalar(n) for n in HOSTILE_NAMES]
    total = xs[0]
    for v in xs[1:]:
        total = total + sd.sin(v) * v
    for text in (sd.latex(total, cse=cse), sd.latex({r"\input{out}": sd.tanh(xs[0]) * xs[1]}, cse=cse)):
        assert _control_words(text) <= allowed, _control_words(text) - allowed
        assert "\n" not in text.replace("\\\\\n", "").replace("{aligned}\n", "").replace("\n\\end", "")
        depth = 0
        for ch in re.sub(r"\\[{}]", "", text):  # braces balance once escaped ones are dropped
            depth += {"{": 1, "}": -1}.get(ch, 0)
            assert depth >= 0
        assert depth == 0
    assert r"\text{\textbackslash{}input\{/etc/passwd\}}" in sd.latex(xs[0] * 2)
    # deep graphs take the temporaries printer: names escaped there too
    deep = xs[1]
    for _ in range(60):
        deep = sd.sin(deep)
    assert _control_words(sd.latex(deep)) <= allowed
    # plain identifiers keep SymPy's typesetting
    assert sd.latex(sd.scalar("alpha") * sd.scalar("x_1")) == r"\alpha x_{1}"


# ---------------------------------------------------------------------------------------------
# 5. Wrong results
# ---------------------------------------------------------------------------------------------
def test_out_of_bounds_index_gradient_on_a_named_dim_raises():
    n = sd.tensor("n", ("k",))
    fwd, back = n[5], sd.grad(n[5] * 2.0, n)
    f = sd.function([n], [fwd, back])  # one kernel
    vm = sd.function([n], [fwd, back], mode="vm")
    v = np.arange(8.0)
    for got in (f(v), vm(v), sd.evaluate([fwd, back], {n: v})):  # in bounds: the values
        want = np.zeros(8)
        want[5] = 2.0
        assert float(got[0]) == 5.0 and np.array_equal(got[1], want)
    short = np.ones(3)
    for call in (lambda: f(short), lambda: vm(short), lambda: sd.evaluate(back, {n: short}),
                 lambda: sd.function([n], back)(short)):
        with pytest.raises(sd.ShapeError, match="index 5 is out of bounds"):
            call()  # compiled, the gradient alone came back as zeros


def test_max_gradient_propagates_nan_like_jax():
    jax = _jax()
    jnp = jax.numpy
    x = sd.tensor("x", (3,))
    M = sd.tensor("M", (2, 3))
    outs = [sd.grad(sd.max(x), x), sd.grad(sd.min(x), x), sd.grad(sd.sum(sd.max(M, axis=1)), M)]
    f = sd.function([x, M], outs)
    xv = np.array([1.0, np.nan, 2.0])
    Mv = np.array([[1.0, 3.0, 3.0], [0.5, np.nan, 4.0]])
    want = [np.asarray(jax.grad(jnp.max)(xv)), np.asarray(jax.grad(jnp.min)(xv)),
            np.asarray(jax.grad(lambda m: jnp.sum(jnp.max(m, axis=1)))(Mv))]
    assert np.all(np.isnan(want[0])) and np.all(np.isnan(want[2][1])) and np.array_equal(want[2][0], [0, .5, .5])
    for got in (f(xv, Mv), sd.evaluate(outs, {x: xv, M: Mv})):
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)  # NaN where JAX has NaN; ties split equally elsewhere
    xf = sd.tensor("xf", (3,), dtype="float32")
    g32 = sd.evaluate(sd.grad(sd.max(xf), xf), {xf: np.array([1, np.nan, 2], np.float32)})
    assert g32.dtype == np.float32 and np.all(np.isnan(g32))
    # batched: only the row holding NaN is NaN
    B = sd.tensor("B", (2, 3))
    rows = sd.evaluate(sd.vmap(outs[0], x, B), {B: np.array([[1.0, 5.0, 2.0], [1.0, np.nan, 2.0]])})
    np.testing.assert_array_equal(rows[0], [0.0, 1.0, 0.0])
    assert np.all(np.isnan(rows[1]))
    sd.check_grad(sd.max(x * x), x, {x: np.array([0.3, -1.2, 0.7])})  # away from NaN: unchanged


@pytest.mark.parametrize("shape", [{"a": 1, "b": 2}, {3, 4}, frozenset({2})])
def test_dicts_and_sets_are_not_shapes(shape):
    with pytest.raises(sd.ShapeError, match="a shape must be a tuple"):
        sd.tensor("d", shape)
    with pytest.raises(sd.ShapeError):
        sd.reshape(sd.tensor("v", (2,)), shape)


# ---------------------------------------------------------------------------------------------
# 6. Valid input that failed in Numba: every float constant compiles
# ---------------------------------------------------------------------------------------------
def test_non_finite_signed_zero_and_subnormal_constants_compile():
    x = sd.tensor("x", (7,))
    x32 = sd.tensor("x32", (7,), dtype="float32")
    outs = [sd.clip(x, -np.inf, 1.0), sd.clip(x, None, 1.0), sd.clip(x, 0.0, None), sd.clip(x, None, None),
            sd.leaky_relu(x, np.inf), sd.leaky_relu(x, np.nan), sd.elu(x, -np.inf),
            sd.where(x > 0, x, -0.0), x * 5e-324, sd.maximum(x, -np.inf), sd.clip(x32, -np.inf, 0.5),
            sd.leaky_relu(x32, np.inf)]
    v = np.array([-1e300, -2.0, -0.0, 0.0, 0.5, 3.0, np.inf])
    with np.errstate(over="ignore"):
        v32 = v.astype(np.float32)  # -1e300 becomes -inf
    with np.errstate(all="ignore"):
        # None is an open side: +-inf (np.clip(-0.0, 0.0, None) itself gives +0.0, with inf -0.0)
        want = [np.clip(v, -np.inf, 1.0), np.clip(v, -np.inf, 1.0), np.clip(v, 0.0, np.inf), v,
                np.where(v > 0, v, np.inf * v), np.where(v > 0, v, np.nan * v), np.where(v > 0, v, -np.inf * np.expm1(v)),
                np.where(v > 0, v, -0.0), v * 5e-324, np.maximum(v, -np.inf), np.clip(v32, -np.inf, 0.5),
                np.where(v32 > 0, v32, np.float32(np.inf) * v32)]
    f = sd.function([x, x32], outs)  # one kernel; was "name 'inf' is not defined"
    for route, got in (("compiled", f(v, v32)), ("evaluate", sd.evaluate(outs, {x: v, x32: v32}))):
        for k, (g, w) in enumerate(zip(got, want)):
            assert g.dtype == w.dtype, (route, k)
            np.testing.assert_array_equal(g, w, err_msg=f"{route} output {k}")
            real = ~np.isnan(w)  # (a NaN's sign bit means nothing)
            np.testing.assert_array_equal(np.signbit(g)[real], np.signbit(w)[real], err_msg=f"{route} output {k}")
    w = sd.tensor("w", (4,))
    pts = {w: np.array([-1.5, -0.2, 0.4, 2.5])}
    sd.check_grad(sd.sum(sd.clip(w, None, 1.0) ** 2 + sd.clip(w, -1.0, None) ** 3), w, pts)
    X = np.array([[-3.0, 0.2, 2.0, 0.7], [5.0, -0.5, 0.9, -2.0]])
    batched = sd.evaluate(sd.vmap(sd.clip(w, None, 1.0), w, sd.constant(X)), {})
    np.testing.assert_array_equal(batched, np.clip(X, None, 1.0))


# ---------------------------------------------------------------------------------------------
# 7. Unclear errors: each a SymdiffError naming the op, the argument and what was expected
# ---------------------------------------------------------------------------------------------
def _unclear_cases():
    x = sd.tensor("x", (3,))
    M = sd.tensor("M", (2, 3))
    n = sd.tensor("n", ("k",))
    b = sd.tensor("b", (), dtype=bool)
    s = sd.scalar("s")
    return [
        ("reshape None", lambda: sd.reshape(x, None), sd.ShapeError, ["reshape", "None"]),
        ("concatenate None", lambda: sd.concatenate(None), sd.ShapeError, ["concatenate", "list of nodes"]),
        ("stack None", lambda: sd.stack(None), sd.ShapeError, ["stack", "list of nodes"]),
        ("function(None, y)", lambda: sd.function(None, x * 2), sd.InputError, ["inputs must be a list of variables"]),
        ("function([x], None)", lambda: sd.function([x], None), sd.InputError, ["outputs must be a node", "dict"]),
        ("function(x, y)", lambda: sd.function(x, x * 2), sd.InputError, ["the variable 'x' itself", "sd.function([x]"]),
        ("function([x], 'y')", lambda: sd.function([x], "y"), sd.InputError, ["outputs must be a node"]),
        ("function([x, 2], y)", lambda: sd.function([x, 2.0], x * 2), sd.InputError, ["input 1 must be a variable"]),
        ("sum axis 1.5", lambda: sd.sum(M, axis=1.5), sd.ShapeError, ["sum", "axis", "1.5"]),
        ("transpose (None, 0)", lambda: sd.transpose(M, (None, 0)), sd.ShapeError, ["transpose", "tuple of ints", "None"]),
        ("transpose 'ab'", lambda: sd.transpose(M, "ab"), sd.ShapeError, ["transpose", "'ab'"]),
        ("leaky_relu 'abc'", lambda: sd.leaky_relu(x, alpha="abc"), sd.DTypeError, ["leaky_relu", "alpha", "real number", "'abc'"]),
        ("leaky_relu None", lambda: sd.leaky_relu(x, alpha=None), sd.DTypeError, ["leaky_relu", "alpha", "None"]),
        ("elu []", lambda: sd.elu(x, alpha=[1.0]), sd.DTypeError, ["elu", "alpha"]),
        ("clip 'a'", lambda: sd.clip(x, "a", 1.0), sd.DTypeError, ["clip", "lo", "'a'"]),
        ("clip lo > hi", lambda: sd.clip(x, 2.0, 1.0), sd.SymdiffError, ["clip", "must not exceed"]),
        ("stack (3,) (4,)", lambda: sd.stack([x, sd.tensor("y", (4,))]), sd.ShapeError, ["stack", "same shape", "(3,), (4,)"]),
        ("evaluate list", lambda: sd.evaluate(x * 2, [1.0, 2.0, 3.0]), sd.InputError, ["inputs must be a dict", "list"]),
        ("evaluate None", lambda: sd.evaluate(None, {}), sd.InputError, ["evaluate", "outputs"]),
        ("evaluate grad n[5]", lambda: sd.evaluate(sd.grad(n[5], n), {n: np.ones(3)}), sd.ShapeError,
         ["index 5 is out of bounds"]),
        ("check_grad missing", lambda: sd.check_grad(sd.sum(2.0 * x), x, {}), sd.InputError, ["no value given", "'x'"]),
        ("check_grad unused wrt", lambda: sd.check_grad(sd.sum(x * x), [x, s], {x: np.ones(3)}), sd.InputError,
         ["no value given", "'s'"]),
        ("check_grad list", lambda: sd.check_grad(sd.sum(x * x), x, [1.0]), sd.InputError, ["inputs must be a dict"]),
        ("grad bool raise", lambda: sd.grad(sd.where(b, s, 2.0 * s), b, disconnected="raise"), sd.GradError,
         ["boolean", "no gradient flows"]),
        ("minimize method 'abc'", lambda: sd.optimize.minimize((s - 1) ** 2, s, 0.0, "abc"), sd.SymdiffError,
         ["unknown method 'abc'"]),
        ("minimize x0 'abc'", lambda: sd.optimize.minimize((s - 1) ** 2, s, "abc"), sd.InputError,
         ["x0", "'s'", "numbers"]),
        ("minimize method 3", lambda: sd.optimize.minimize((s - 1) ** 2, s, 0.0, 3), sd.InputError, ["method"]),
    ]


@pytest.mark.parametrize("case", _unclear_cases(), ids=lambda c: c[0])
def test_unclear_errors_name_their_cause(case):
    _, make, error, words = case
    with pytest.raises(error) as info:
        make()
    assert isinstance(info.value, sd.SymdiffError)
    for w in words:
        assert w in str(info.value), (w, str(info.value))
    assert "dtype object" not in str(info.value) and "not iterable" not in str(info.value)


def test_max_jit_lines_must_be_a_number(monkeypatch):
    x = sd.tensor("x", (3,))
    for bad in ("lots", "-5", "1e3"):
        monkeypatch.setenv("SYMDIFF_MAX_JIT_LINES", bad)
        with pytest.raises(sd.SymdiffError, match=f"SYMDIFF_MAX_JIT_LINES must be .* got '{re.escape(bad)}'"):
            sd.function([x], x * 2.0)


def test_dict_outputs_keywords_named_self_and_shared_names():
    x = sd.tensor("x", (3,))
    me = sd.scalar("self")
    y = sd.sum(sd.exp(x) * me)
    outs = {"y": y, "dy/dx": sd.grad(y, x), "dy/dself": sd.grad(y, me)}
    v = np.array([0.1, -0.4, 1.2])
    want = {"y": np.sum(np.exp(v) * 1.5), "dy/dx": np.exp(v) * 1.5, "dy/dself": np.sum(np.exp(v))}
    ref = sd.evaluate(outs, {x: v, me: 1.5})
    assert list(ref) == list(outs)
    for mode in ("auto", "vm"):
        f = sd.function([x, me], outs, mode=mode)
        for got in (f(v, 1.5), f(x=v, self=1.5), f(v, self=1.5)):  # an input named self, by keyword
            assert list(got) == ["y", "dy/dx", "dy/dself"]
            for k in want:
                np.testing.assert_allclose(got[k], want[k], rtol=1e-13)
                np.testing.assert_allclose(got[k], ref[k], rtol=1e-13)
    a1, a2 = sd.scalar("a"), sd.scalar("a")
    f = sd.function([a1, a2], a1 - 2.0 * a2, mode="vm")
    assert f(1.0, 3.0) == -5.0
    with pytest.raises(sd.InputError, match="argument 'a' is ambiguous.*positions 0, 1.*by position"):
        f(a=1.0)


def test_python_ints_beyond_int64():
    x = sd.tensor("x", (3,))
    i = sd.tensor("i", (2,), dtype="int64")
    f = sd.function([x], x * 2.0)
    for got in (f([2 ** 70, 1, -(2 ** 80)]), sd.evaluate(x * 2.0, {x: [2 ** 70, 1, -(2 ** 80)]})):
        np.testing.assert_array_equal(got, [2.0 ** 71, 2.0, -(2.0 ** 81)])
    s = sd.scalar("s")
    assert sd.function([s], s * 1.0)(2 ** 70) == 2.0 ** 70
    with pytest.raises(sd.DTypeError, match="does not fit .* int64"):
        sd.evaluate(i * 1, {i: [2 ** 70, 1]})
    with pytest.raises(sd.DTypeError, match="object"):  # other objects stay refused
        sd.evaluate(x * 2.0, {x: np.array([None, 1.0, 2.0], dtype=object)})


def test_softmax_and_logsumexp_of_empty_inputs_agree():
    jax = _jax()
    e = sd.tensor("e", (0,))
    E = sd.tensor("E", (3, 0))
    outs = [sd.softmax(e), sd.log_softmax(e), sd.logsumexp(e), sd.logsumexp(E, axis=1), sd.softmax(E, axis=1),
            sd.logsumexp(E, axis=0)]
    f = sd.function([e, E], outs)
    args = (np.zeros(0), np.zeros((3, 0)))
    want = [np.asarray(jax.nn.softmax(jax.numpy.zeros(0))), np.zeros(0), scipy.special.logsumexp(args[0]),
            scipy.special.logsumexp(args[1], axis=1), np.zeros((3, 0)), np.zeros(0)]
    assert want[2] == -np.inf and float(jax.nn.logsumexp(jax.numpy.zeros(0))) == -np.inf
    for got in (f(*args), sd.evaluate(outs, dict(zip([e, E], args)))):
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)
    g = sd.evaluate(sd.grad(sd.logsumexp(e), e), {e: np.zeros(0)})
    assert g.shape == (0,)


# ---------------------------------------------------------------------------------------------
# Published optimisation test problems: sparse requests never go dense silently
# ---------------------------------------------------------------------------------------------
def _arrowhead(n: int):
    x = sd.tensor("x", (n,))
    f = sd.sum(sd.sin(0.01 * x)) + sd.sum(sd.cos(2 * x - x[0] - x[n - 1]))
    return x, f


def test_arrowhead_sparse_hessian_is_refused_without_allocating_it():
    x, f = _arrowhead(100_000)
    tracemalloc.start()
    try:
        with pytest.raises(sd.MemoryLimitError, match=r"column 0 .* 100000 non-zeros .* dense row .* sd.hvp"):
            sd.hessian(f, x, sparse=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 500 * 2 ** 20  # the dense 100,000 x 100,000 would be 75 GiB


def test_small_arrowhead_gets_a_star_colouring_and_stays_correct():
    import warnings

    from symdiff import sparsity

    n = 300
    x, f = _arrowhead(n)
    with warnings.catch_warnings():
        warnings.simplefilter("error", sparsity.DensePatternWarning)
        H = sd.hessian(f, x, sparse=True)
    # two dense rows and columns (0 and n-1, adjacent): a triangle {0, n-1, i} needs 3 colours,
    # and 3 suffice for a star colouring (the two hubs, then all leaves); distance-2 needs n
    assert H.colouring == "star" and H.n_colours == 3
    H.compiled = False  # the NumPy route: the values are the point here, not the kernel
    v = np.linspace(-1.0, 1.0, n)
    A = 2 * np.eye(n)  # rows: the gradients of u_i = 2 x_i - x_0 - x_{n-1}
    A[:, 0] -= 1
    A[:, n - 1] -= 1
    u = A @ v
    want = -(A.T * np.cos(u)) @ A + np.diag(-1e-4 * np.sin(0.01 * v))  # closed form
    got = H({x: v}).toarray()
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert H.pattern.toarray()[want != 0].all() and H.nnz == 5 * n - 6  # diagonal, 2 rows, 2 columns


def test_dense_patterns_are_given_up_early(monkeypatch):
    from symdiff import sparsity

    n = 400
    x = sd.tensor("x", (n,))
    w = np.arange(n, dtype=float)
    f = sd.sum(w * x * x) ** 2
    monkeypatch.setattr(sparsity, "PATTERN_NNZ", 10_000)
    with pytest.raises(sparsity.DensePatternError, match="nearly\\) dense .* sd.hessian\\(f, x\\) \\(dense\\)"):
        sd.hessian(f, x, sparse=True)
    t0 = time.perf_counter()
    H = sd.hessian(f, x)  # dense: automatic compression gives up at once instead of colouring n^3
    build = time.perf_counter() - t0
    v = np.linspace(-1, 1, n)
    s = np.sum(w * v * v)
    grad_s = 2 * w * v
    want = 2 * np.outer(grad_s, grad_s) + 2 * s * np.diag(2 * w)
    np.testing.assert_allclose(sd.evaluate(H, {x: v}), want, rtol=1e-12, atol=1e-9)
    assert build < 10


def test_heart6ls_hessian_runs_as_one_interpreter_run():
    """HEART6LS (CUTEst) written with scalar variables: its Hessian (through vmap over one seed
    per row) is too large to jit in mode auto and runs on the VM, where scalar <-> one-entry-array
    reshapes used to split it into 36 runs and 36 NumPy steps (2.7 ms a call, JAX 60 us); now it is
    one run of the compiled interpreter. Checked against SymPy's exact derivatives."""
    sp = pytest.importorskip("sympy")
    smx, smy, sA, sB, sC, sD, sE, sF = -0.816, -0.017, -1.826, -0.754, -4.839, -3.259, -14.023, 15.467

    def residuals(a, c, t, u, v, w):
        b, d = smx - a, smy - c
        return [t * a + u * b - v * c - w * d - sA, v * a + w * b + t * c + u * d - sB,
                a * (t * t - v * v) - 2 * c * t * v + b * (u * u - w * w) - 2 * d * u * w - sC,
                c * (t * t - v * v) + 2 * a * t * v + d * (u * u - w * w) + 2 * b * u * w - sD,
                a * t * (t * t - 3 * v * v) + c * v * (v * v - 3 * t * t) + b * u * (u * u - 3 * w * w)
                + d * w * (w * w - 3 * u * u) - sE,
                c * t * (t * t - 3 * v * v) - a * v * (v * v - 3 * t * t) + d * u * (u * u - 3 * w * w)
                - b * w * (w * w - 3 * u * u) - sF]

    V = [sd.scalar(n) for n in "actuvw"]
    f = sum(r * r for r in residuals(*V))
    H = sd.hessian(f, V)
    outs = [f, *sd.grad(f, V), *[h for row in H for h in row]]
    fn = sd.function(V, outs)
    x0 = [0.3, -0.2, 1.1, 0.9, 1.2, 0.8]
    S = sp.symbols("a c t u v w")
    F = sum(r * r for r in residuals(*S))
    at = dict(zip(S, x0))
    want = [float(F.subs(at))] + [float(sp.diff(F, s).subs(at)) for s in S] + \
        [float(sp.diff(F, p, q).subs(at)) for p in S for q in S]
    np.testing.assert_allclose(fn(*x0), want, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose([float(r) for r in sd.evaluate(outs, dict(zip(V, x0)))], want, rtol=1e-12, atol=1e-10)
    assert fn.mode == "vm"
    from symdiff.compiler.vm import Run

    steps = fn._call._schedule.steps
    assert len(steps) == 1 and isinstance(steps[0][0], Run)
