"""Concurrent processes and Numba's cache index.

Numba's index update is not atomic: two processes compiling different signatures of one cached
function at once can leave the index pointing one signature at the other's machine code. For
symdiff's functions the update is locked, and a loaded entry is used only if it was compiled for
the signature asked for. These tests plant exactly that corruption and race real processes.
"""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap

import pytest

CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    from numba import njit
    from symdiff.compiler.runtime import _empty
    n = int(sys.argv[1])

    @njit
    def two():
        return _empty((2, 3), np.float64), _empty((5,), np.float64)

    @njit
    def other():
        return _empty((n, 7), np.float64)

    a, b = two()
    c = other()
    assert a.shape == (2, 3) and b.shape == (5,) and c.shape == (n, 7), (a.shape, b.shape, c.shape)
    print("ok")
""")


def _run(env, arg, check=True):
    res = subprocess.run([sys.executable, "-c", CHILD, str(arg)], env=env, capture_output=True, text=True, timeout=300)
    if check:
        assert res.returncode == 0 and "ok" in res.stdout, res.stderr[-3000:]
    return res


@pytest.fixture()
def env(tmp_path):
    e = dict(os.environ)
    e["NUMBA_CACHE_DIR"] = str(tmp_path / "numba")
    return e


def _index_files(root):
    return [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f.startswith("runtime._empty") and f.endswith(".nbi")]


def test_an_index_pointing_at_another_signature_is_recompiled(env, tmp_path):
    _run(env, 4)
    (index,) = _index_files(tmp_path / "numba")
    with open(index, "rb") as fh:
        version = pickle.load(fh)
        stamp, overloads = pickle.loads(fh.read())
    names = sorted(set(overloads.values()))
    assert len(names) >= 2
    # swap the data files of two signatures: what a lost race leaves behind
    keys = list(overloads)
    overloads[keys[0]], overloads[keys[1]] = overloads[keys[1]], overloads[keys[0]]
    with open(index, "wb") as fh:
        pickle.dump(version, fh, protocol=-1)
        fh.write(pickle.dumps((stamp, overloads), protocol=-1))
    _run(env, 4)  # would fail to type (or run the wrong code) without the signature check
    _run(env, 4)


def test_processes_compiling_new_signatures_at_once(env, tmp_path):
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, str(n)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for n in (11, 12, 13, 14)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0 and "ok" in out, err[-3000:]
    for n in (11, 12, 13, 14):  # and every entry they left behind loads correctly
        _run(env, n)
