#!/usr/bin/env python
"""symdiff benchmark: compiled loss + gradient against hand-derived NumPy and Numba code.

Prints one table of median call times and ratios, plus symdiff's graph-build, cold-compile and
warm-load (cached, new process) times per workload. JAX, PyTorch and PyTensor get columns of
their own when they are importable (skipped otherwise). Everything runs single-threaded.

Usage::

    python benchmarks/bench.py                 # every workload (about a minute without JAX/torch/PyTensor)
    python benchmarks/bench.py --quick         # fewer repeats
    python benchmarks/bench.py --only a,e,h    # some workloads ("h" = every Hessian workload)
    python benchmarks/bench.py --json out.json # also write the results as JSON

Workloads (issue 3, item 6; issue 4, item 5):

    a   logistic regression + L2, breast cancer (569x30, standardised): loss, d/dw, d/db
    b   tanh MLP 64-128-10, softmax cross-entropy, digits (1797x64, one-hot): loss, d/dW1..b2
    c   the same MLP as 784-512-10 on 4096 random rows
    d   extended (chained) Rosenbrock, n = 1000: f and gradient
    e   the seed's sigmoid neuron 1/(1+exp(-(w0*x0+w1*x1+w2))) on 5 Python floats: f and its
        5 partials (call latency, including symdiff's argument checks)
    f   tanh applied 1000 times to a vector of 1000, summed: f and gradient
    h1  Hessian of the logistic loss of (a) wrt w (30x30)            [if sd.hessian exists]
    h2  dense Hessian of Rosenbrock, n = 1000 (1000x1000)             [if sd.hessian exists]
    h3  Hessian-vector product of Rosenbrock, n = 1000                [if sd.hvp exists]
    h4  sparse Hessian of Rosenbrock, n = 1000: the 2998 CSR values   [if sd.hessian exists]
    h5  the same at n = 100,000: 299,998 CSR values                    [if sd.hessian exists]

After the table: time to first result (cold differentiate + sd.function + first call for a and b
in the default mode beside JAX's first call; a new process importing symdiff, building and
calling a cached tiny function). 'cold compile' is until the kernel serves calls: for the
default mode="auto", tiered for graphs without loops, that is the child's compile (the first
calls are answered on the NumPy tier meanwhile).
Without scikit-learn, a and b run on synthetic data of the same shapes (the header says so).
"""
import os

# Single-threaded everything, set before NumPy (and its BLAS) is imported.
for _var in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                           " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ["JAX_ENABLE_X64"] = "1"

import argparse  # noqa: E402
import gc  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import importlib  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import numba  # noqa: E402
from numba import njit  # noqa: E402

import symdiff as sd  # noqa: E402

warnings.filterwarnings("ignore", category=numba.NumbaPerformanceWarning)

perf_counter = time.perf_counter

LAM = 1e-3           # L2 weight of the logistic loss
N_ROSEN = 1000       # extended Rosenbrock size
N_ROSEN_BIG = 100_000  # the sparse Hessian's large size (h5)
CHAIN_DEPTH = 1000   # tanh chain: applications
CHAIN_WIDTH = 1000   # tanh chain: vector length
BASE = ["a", "b", "c", "d", "e", "f"]
HESS = ["h1", "h2", "h3", "h4", "h5"]
SPARSE = ("h4", "h5")
TITLES = {
    "a": "logreg+L2 569x30: loss, dw, db",
    "b": "MLP 64-128-10, 1797 rows: loss+4 grads",
    "c": "MLP 784-512-10, 4096 rows: loss+4 grads",
    "d": "ext. Rosenbrock n=1000: f+grad",
    "e": "sigmoid neuron, 5 floats: f+5 grads",
    "f": "tanh x1000 on 1000-vector: sum+grad",
    "h1": "Hessian logreg wrt w (30x30)",
    "h2": "Hessian Rosenbrock n=1000, dense",
    "h3": "Hessian-vector product Rosenbrock n=1000",
    "h4": "sparse Hessian Rosenbrock n=1000 (CSR data)",
    "h5": "sparse Hessian Rosenbrock n=100000 (CSR data)",
}
FRAMEWORKS = ["JAX", "PyTorch", "PyTensor"]


# =============================================================================================
# Data (deterministic, so a child process rebuilds exactly the same graphs and values)
# =============================================================================================
SYNTHETIC = []  # data sets replaced by synthetic ones of the same shape (scikit-learn missing)


def _cancer():
    try:
        from sklearn.datasets import load_breast_cancer

        X, y = load_breast_cancer(return_X_y=True)
    except ImportError:  # same shapes, so the same work: 569 x 30, labels 0/1
        SYNTHETIC.append("breast cancer")
        rng = np.random.default_rng(11)
        X, y = rng.normal(size=(569, 30)) * rng.uniform(0.5, 50, 30), rng.integers(0, 2, 569)
    X = np.ascontiguousarray((X - X.mean(axis=0)) / X.std(axis=0))
    rng = np.random.default_rng(1)
    return {"X": X, "y": y.astype(np.float64), "w": rng.normal(0, 0.1, X.shape[1]), "b": 0.1}


def _mlp_params(rng, d_in, d_hid, d_out):
    return {
        "W1": rng.normal(0, 1 / np.sqrt(d_in), (d_in, d_hid)), "b1": rng.normal(0, 0.1, d_hid),
        "W2": rng.normal(0, 1 / np.sqrt(d_hid), (d_hid, d_out)), "b2": rng.normal(0, 0.1, d_out),
    }


def _digits():
    try:
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
    except ImportError:  # same shapes: 1797 x 64 pixel values 0..16, 10 classes
        SYNTHETIC.append("digits")
        rng = np.random.default_rng(12)
        X, y = rng.integers(0, 17, (1797, 64)).astype(np.float64), rng.integers(0, 10, 1797)
    data = {"X": np.ascontiguousarray(X / 16.0), "Y": np.eye(10)[y]}
    data.update(_mlp_params(np.random.default_rng(2), 64, 128, 10))
    return data


def _random784():
    rng = np.random.default_rng(3)
    data = {"X": rng.normal(size=(4096, 784)), "Y": np.eye(10)[rng.integers(0, 10, 4096)]}
    data.update(_mlp_params(rng, 784, 512, 10))
    return data


def _rosen(n=N_ROSEN):
    rng = np.random.default_rng(4)
    return {"x": rng.normal(1.0, 0.5, n), "v": rng.normal(size=n)}


def _rosen_big():
    return _rosen(N_ROSEN_BIG)


def _neuron():
    return {"args": (2.0, -3.0, -3.0, -1.0, -2.0)}  # w0, w1, w2, x0, x1 of the seed notes


def _chain():
    return {"x": np.random.default_rng(5).normal(size=CHAIN_WIDTH)}


DATA = {"a": _cancer, "b": _digits, "c": _random784, "d": _rosen, "e": _neuron, "f": _chain,
        "h1": _cancer, "h2": _rosen, "h3": _rosen, "h4": _rosen, "h5": _rosen_big}


# =============================================================================================
# symdiff graphs
# =============================================================================================
def g_logreg():
    X = sd.tensor("X", ("n", 30))
    y = sd.tensor("y", ("n",))
    w = sd.tensor("w", (30,))
    b = sd.scalar("b")
    loss = sd.mean(sd.softplus(-(2 * y - 1) * (X @ w + b))) + LAM * sd.sum(w * w)
    return (X, y, w, b), loss


def g_mlp(d_in, d_hid, d_out):
    X = sd.tensor("X", ("n", d_in))
    Y = sd.tensor("Y", ("n", d_out))
    W1, b1 = sd.tensor("W1", (d_in, d_hid)), sd.tensor("b1", (d_hid,))
    W2, b2 = sd.tensor("W2", (d_hid, d_out)), sd.tensor("b2", (d_out,))
    h = sd.tanh(X @ W1 + b1)
    logits = h @ W2 + b2
    loss = -sd.mean(sd.sum(Y * sd.log_softmax(logits, axis=1), axis=1))
    return (X, Y, W1, b1, W2, b2), loss


def g_rosen(n=N_ROSEN):
    x = sd.tensor("x", (n,))
    f = sd.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    return x, f


def sd_graph(key):
    """(inputs, outputs) of workload ``key`` (h4: (x, f) for ``sd.hessian(f, x, sparse=True)``)."""
    if key == "a":
        (X, y, w, b), loss = g_logreg()
        return [X, y, w, b], [loss, *sd.grad(loss, [w, b])]
    if key in ("b", "c"):
        ins, loss = g_mlp(64, 128, 10) if key == "b" else g_mlp(784, 512, 10)
        return list(ins), [loss, *sd.grad(loss, list(ins[2:]))]
    if key == "d":
        x, f = g_rosen()
        return [x], [f, sd.grad(f, x)]
    if key == "e":
        w0, w1, w2, x0, x1 = (sd.scalar(n) for n in ("w0", "w1", "w2", "x0", "x1"))
        f = 1.0 / (1.0 + sd.exp(-(w0 * x0 + w1 * x1 + w2)))
        ins = [w0, w1, w2, x0, x1]
        return ins, [f, *sd.grad(f, ins)]
    if key == "f":
        x = sd.tensor("x", (CHAIN_WIDTH,))
        h = x
        for _ in range(CHAIN_DEPTH):
            h = sd.tanh(h)
        s = sd.sum(h)
        return [x], [s, sd.grad(s, x)]
    if key == "h1":
        (X, y, w, b), loss = g_logreg()
        return [X, y, w, b], [sd.hessian(loss, w)]
    if key == "h2":
        x, f = g_rosen()
        return [x], [sd.hessian(f, x)]
    if key == "h3":
        x, f = g_rosen()
        v = sd.tensor("v", (N_ROSEN,))
        return [x, v], [sd.hvp(f, x, v)]
    if key in SPARSE:
        x, f = g_rosen(N_ROSEN if key == "h4" else N_ROSEN_BIG)
        return x, f
    raise KeyError(key)


def sd_args(key, D):
    if key in ("a", "h1"):
        return (D["X"], D["y"], D["w"], D["b"])
    if key in ("b", "c"):
        return (D["X"], D["Y"], D["W1"], D["b1"], D["W2"], D["b2"])
    if key in ("d", "h2", "f"):
        return (D["x"],)
    if key == "h3":
        return (D["x"], D["v"])
    if key == "e":
        return D["args"]
    raise KeyError(key)


def _inner_function(sparse_hessian):
    """The compiled sd.Function behind a SparseHessian (for from_cache and mode), if any."""
    fn = getattr(sparse_hessian._only_plan(), "fn", None)
    return fn if isinstance(fn, sd.Function) else None


def sd_build(key, D=None):
    """Build workload ``key`` with symdiff. Returns (callable, args, info dict)."""
    info = {}
    t0 = perf_counter()
    if key in SPARSE:
        x, f = sd_graph(key)
        H = sd.hessian(f, x, sparse=True)
        info["build_s"] = perf_counter() - t0
        xv = (D or DATA[key]())["x"]
        values = {x: xv}
        t1 = perf_counter()
        H.data(values)  # the first call compiles the values' graph (stencil diagonals, or compressed HVPs)
        inner = _inner_function(H)
        if inner is not None:
            inner.wait_compiled()  # tiered: until the kernel serves calls
        H.data(values)
        info["compile_s"] = perf_counter() - t1
        info["from_cache"] = None if inner is None else bool(inner.from_cache)
        info["mode"] = None if inner is None else inner.mode
        info["nnz"], info["colours"] = int(H.nnz), int(H.n_colours)
        info["route"] = H.route
        info["pattern"] = H.pattern
        return H.data, (values,), info
    ins, outs = sd_graph(key)
    info["build_s"] = perf_counter() - t0
    t1 = perf_counter()
    fn = sd.function(ins, outs)  # the default mode: "auto", tiered for graphs without loops
    if D is not None:
        fn(*sd_args(key, D))
        info["first_result_s"], info["first_mode"] = perf_counter() - t1, fn.mode
    fn.wait_compiled()  # tiered: the kernel compiles in a child process; the timings need it
    if D is not None:
        fn(*sd_args(key, D))  # the call that switches to the kernel
    # 'cold compile': until the kernel serves calls (sd.function, and for a tiered one the child)
    info["compile_s"] = perf_counter() - t1 if D is not None else fn.compile_seconds
    info["from_cache"] = bool(fn.from_cache)
    info["mode"] = fn.mode
    info["source_lines"] = fn.source.count("\n")
    return fn, None, info


# =============================================================================================
# Hand-derived NumPy references
# =============================================================================================
def np_logreg(X, y, w, b):
    n = X.shape[0]
    s = 2 * y - 1
    m = -s * (X @ w + b)
    loss = np.mean(np.logaddexp(0, m)) + LAM * (w @ w)
    dz = -s / (1 + np.exp(-m)) / n
    return loss, X.T @ dz + 2 * LAM * w, dz.sum()


def np_mlp(X, Y, W1, b1, W2, b2):
    n = X.shape[0]
    h = np.tanh(X @ W1 + b1)
    logits = h @ W2 + b2
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    se = e.sum(axis=1, keepdims=True)
    loss = -np.sum(Y * (z - np.log(se))) / n
    dlogits = (e / se - Y) / n          # one-hot labels
    dh = (dlogits @ W2.T) * (1 - h * h)
    return loss, X.T @ dh, dh.sum(axis=0), h.T @ dlogits, dlogits.sum(axis=0)


def np_rosen(x):
    d = x[1:] - x[:-1] ** 2
    e = 1 - x[:-1]
    f = np.sum(100 * d * d + e * e)
    g = np.zeros_like(x)
    g[:-1] = -400 * x[:-1] * d - 2 * e
    g[1:] += 200 * d
    return f, g


def np_neuron(w0, w1, w2, x0, x1):
    f = 1.0 / (1.0 + np.exp(-(w0 * x0 + w1 * x1 + w2)))
    ds = f * (1.0 - f)
    return f, ds * x0, ds * x1, ds, ds * w0, ds * w1


def np_chain(x):
    hs = [x]
    h = x
    for _ in range(CHAIN_DEPTH):
        h = np.tanh(h)
        hs.append(h)
    g = np.ones_like(x)
    for k in range(CHAIN_DEPTH, 0, -1):
        g = g * (1 - hs[k] * hs[k])
    return h.sum(), g


def np_logreg_hessian(X, y, w, b):
    n, d = X.shape
    p = 1 / (1 + np.exp(-(X @ w + b)))
    H = (X.T * (p * (1 - p) / n)) @ X
    H[np.diag_indices(d)] += 2 * LAM
    return H


def _rosen_diagonals(x):
    diag = np.zeros_like(x)
    diag[:-1] = 1200 * x[:-1] ** 2 - 400 * x[1:] + 2
    diag[1:] += 200
    return diag, -400 * x[:-1]


def np_rosen_hessian(x):
    n = x.shape[0]
    diag, off = _rosen_diagonals(x)
    H = np.zeros((n, n))
    i = np.arange(n)
    H[i, i] = diag
    H[i[:-1], i[:-1] + 1] = off
    H[i[:-1] + 1, i[:-1]] = off
    return H


def np_rosen_hvp(x, v):
    diag, off = _rosen_diagonals(x)
    hv = diag * v
    hv[:-1] += off * v[1:]
    hv[1:] += off * v[:-1]
    return hv


def _tridiag_positions(n):
    """Where the diagonal, super- and sub-diagonal go in the data of a sorted tridiagonal CSR."""
    counts = np.full(n, 3)
    counts[0] = counts[-1] = 2
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pos_diag = start + np.r_[0, np.ones(n - 1, dtype=int)]   # row 0: (0, 1); row i: (i-1, i, i+1)
    pos_up = pos_diag[:-1] + 1
    pos_lo = start[1:]
    return pos_diag, pos_up, pos_lo


_POS = {N_ROSEN: _tridiag_positions(N_ROSEN), N_ROSEN_BIG: _tridiag_positions(N_ROSEN_BIG)}


def np_rosen_sparse_data(x):
    diag, off = _rosen_diagonals(x)
    pos = _POS[x.shape[0]]
    data = np.empty(3 * x.shape[0] - 2)
    data[pos[0]] = diag
    data[pos[1]] = off
    data[pos[2]] = off
    return data


# =============================================================================================
# Hand-derived Numba references, written the obvious way (loops, np.dot for matrix products)
# =============================================================================================
@njit
def nb_logreg(X, y, w, b, lam):
    n = X.shape[0]
    z = X @ w
    dz = np.empty(n)
    loss = 0.0
    for i in range(n):
        s = 2.0 * y[i] - 1.0
        m = -s * (z[i] + b)
        if m > 0:
            loss += m + np.log1p(np.exp(-m))
        else:
            loss += np.log1p(np.exp(m))
        dz[i] = -s / (1.0 + np.exp(-m)) / n
    gw = X.T @ dz
    for j in range(w.shape[0]):
        gw[j] += 2.0 * lam * w[j]
    return loss / n + lam * np.dot(w, w), gw, dz.sum()


@njit
def nb_mlp(X, Y, W1, b1, W2, b2):
    n = X.shape[0]
    hid = W1.shape[1]
    k = W2.shape[1]
    H = X @ W1
    for i in range(n):
        for j in range(hid):
            H[i, j] = np.tanh(H[i, j] + b1[j])
    L = H @ W2
    D = np.empty_like(L)
    loss = 0.0
    for i in range(n):
        m = -np.inf
        for c in range(k):
            L[i, c] += b2[c]
            m = max(m, L[i, c])
        s = 0.0
        for c in range(k):
            s += np.exp(L[i, c] - m)
        lse = m + np.log(s)
        for c in range(k):
            loss -= Y[i, c] * (L[i, c] - lse)
            D[i, c] = (np.exp(L[i, c] - lse) - Y[i, c]) / n
    gW2 = H.T @ D
    gb2 = D.sum(axis=0)
    dH = D @ W2.T
    for i in range(n):
        for j in range(hid):
            dH[i, j] *= 1.0 - H[i, j] * H[i, j]
    gW1 = X.T @ dH
    gb1 = dH.sum(axis=0)
    return loss / n, gW1, gb1, gW2, gb2


@njit
def nb_rosen(x):
    n = x.shape[0]
    f = 0.0
    g = np.zeros(n)
    for i in range(n - 1):
        d = x[i + 1] - x[i] * x[i]
        e = 1.0 - x[i]
        f += 100.0 * d * d + e * e
        g[i] += -400.0 * x[i] * d - 2.0 * e
        g[i + 1] += 200.0 * d
    return f, g


@njit
def nb_neuron(w0, w1, w2, x0, x1):
    f = 1.0 / (1.0 + np.exp(-(w0 * x0 + w1 * x1 + w2)))
    ds = f * (1.0 - f)
    return f, ds * x0, ds * x1, ds, ds * w0, ds * w1


@njit
def nb_chain(x, depth):
    n = x.shape[0]
    H = np.empty((depth + 1, n))
    H[0] = x
    for k in range(depth):
        for i in range(n):
            H[k + 1, i] = np.tanh(H[k, i])
    g = np.ones(n)
    for k in range(depth, 0, -1):
        for i in range(n):
            g[i] *= 1.0 - H[k, i] * H[k, i]
    return H[depth].sum(), g


@njit
def nb_logreg_hessian(X, y, w, b, lam):
    n, d = X.shape
    z = X @ w
    Xs = np.empty_like(X)
    for i in range(n):
        p = 1.0 / (1.0 + np.exp(-(z[i] + b)))
        c = p * (1.0 - p) / n
        for j in range(d):
            Xs[i, j] = X[i, j] * c
    H = X.T @ Xs
    for j in range(d):
        H[j, j] += 2.0 * lam
    return H


@njit
def nb_rosen_hessian(x):
    n = x.shape[0]
    H = np.zeros((n, n))
    for i in range(n - 1):
        H[i, i] += 1200.0 * x[i] * x[i] - 400.0 * x[i + 1] + 2.0
        H[i + 1, i + 1] += 200.0
        H[i, i + 1] = -400.0 * x[i]
        H[i + 1, i] = -400.0 * x[i]
    return H


@njit
def nb_rosen_hvp(x, v):
    n = x.shape[0]
    hv = np.zeros(n)
    for i in range(n - 1):
        a = 1200.0 * x[i] * x[i] - 400.0 * x[i + 1] + 2.0
        off = -400.0 * x[i]
        hv[i] += a * v[i] + off * v[i + 1]
        hv[i + 1] += 200.0 * v[i + 1] + off * v[i]
    return hv


@njit
def nb_rosen_sparse_data(x):
    n = x.shape[0]
    data = np.empty(3 * n - 2)
    k = 0
    for i in range(n):  # row i of the sorted tridiagonal CSR: (i-1, i, i+1)
        if i > 0:
            data[k] = -400.0 * x[i - 1]
            k += 1
        d = 200.0 if i > 0 else 0.0
        if i < n - 1:
            d += 1200.0 * x[i] * x[i] - 400.0 * x[i + 1] + 2.0
        data[k] = d
        k += 1
        if i < n - 1:
            data[k] = -400.0 * x[i]
            k += 1
    return data


def references(key, D):
    """{name: (callable, args)} of the hand-written references (NumPy first: the ground truth)."""
    if key == "a":
        a = sd_args(key, D)
        return {"NumPy": (np_logreg, a), "Numba": (nb_logreg, (*a, LAM))}
    if key in ("b", "c"):
        a = sd_args(key, D)
        return {"NumPy": (np_mlp, a), "Numba": (nb_mlp, a)}
    if key == "d":
        return {"NumPy": (np_rosen, (D["x"],)), "Numba": (nb_rosen, (D["x"],))}
    if key == "e":
        return {"NumPy": (np_neuron, D["args"]), "Numba": (nb_neuron, D["args"])}
    if key == "f":
        return {"NumPy": (np_chain, (D["x"],)), "Numba": (nb_chain, (D["x"], CHAIN_DEPTH))}
    if key == "h1":
        a = sd_args(key, D)
        return {"NumPy": (np_logreg_hessian, a), "Numba": (nb_logreg_hessian, (*a, LAM))}
    if key == "h2":
        return {"NumPy": (np_rosen_hessian, (D["x"],)), "Numba": (nb_rosen_hessian, (D["x"],))}
    if key == "h3":
        return {"NumPy": (np_rosen_hvp, (D["x"], D["v"])), "Numba": (nb_rosen_hvp, (D["x"], D["v"]))}
    if key in SPARSE:
        return {"NumPy": (np_rosen_sparse_data, (D["x"],)), "Numba": (nb_rosen_sparse_data, (D["x"],))}
    raise KeyError(key)


# =============================================================================================
# Optional frameworks (columns only when importable). Each builder returns (callable, args) or
# None when the workload does not apply. Data arrays are converted once, outside the timing.
# =============================================================================================
def available_frameworks():
    found = {}
    for name, mod in (("JAX", "jax"), ("PyTorch", "torch"), ("PyTensor", "pytensor")):
        if importlib.util.find_spec(mod) is None:
            continue
        try:
            found[name] = __import__(mod).__version__
        except Exception as exc:  # installed but broken
            found[name] = f"import error: {exc}"
    return found


def jax_impl(key, D):
    import jax
    import jax.numpy as jnp

    def ready(fn):
        return lambda *a: jax.block_until_ready(fn(*a))

    def logreg(X, y, w, b):
        return jnp.mean(jax.nn.softplus(-(2 * y - 1) * (X @ w + b))) + LAM * jnp.sum(w * w)

    def mlp(X, Y, W1, b1, W2, b2):
        h = jnp.tanh(X @ W1 + b1)
        return -jnp.mean(jnp.sum(Y * jax.nn.log_softmax(h @ W2 + b2, axis=1), axis=1))

    def rosen(x):
        return jnp.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)

    def flat(fn):
        def call(*a):
            v, g = fn(*a)
            return (v, *g) if isinstance(g, tuple) else (v, g)
        return call

    if key == "a":
        return ready(jax.jit(flat(jax.value_and_grad(logreg, argnums=(2, 3))))), tuple(map(jnp.asarray, sd_args(key, D)))
    if key in ("b", "c"):
        return ready(jax.jit(flat(jax.value_and_grad(mlp, argnums=(2, 3, 4, 5))))), tuple(map(jnp.asarray, sd_args(key, D)))
    if key == "d":
        return ready(jax.jit(flat(jax.value_and_grad(rosen)))), (jnp.asarray(D["x"]),)
    if key == "e":
        def neuron(w0, w1, w2, x0, x1):
            return 1.0 / (1.0 + jnp.exp(-(w0 * x0 + w1 * x1 + w2)))
        return ready(jax.jit(flat(jax.value_and_grad(neuron, argnums=(0, 1, 2, 3, 4))))), D["args"]
    if key == "f":
        def chain(x):
            return jnp.sum(jax.lax.fori_loop(0, CHAIN_DEPTH, lambda i, h: jnp.tanh(h), x))
        return ready(jax.jit(flat(jax.value_and_grad(chain)))), (jnp.asarray(D["x"]),)
    if key == "h1":
        return ready(jax.jit(jax.hessian(logreg, argnums=2))), tuple(map(jnp.asarray, sd_args(key, D)))
    if key == "h2":
        return ready(jax.jit(jax.hessian(rosen))), (jnp.asarray(D["x"]),)
    if key == "h3":
        def hvp(x, v):
            return jax.jvp(jax.grad(rosen), (x,), (v,))[1]
        return ready(jax.jit(hvp)), (jnp.asarray(D["x"]), jnp.asarray(D["v"]))
    return None


def torch_impl(key, D):
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(1)
    t = torch.from_numpy
    f64 = torch.float64

    def leaf(a):
        return t(a).requires_grad_() if isinstance(a, np.ndarray) else torch.tensor(a, dtype=f64, requires_grad=True)

    def logreg(X, y, w, b):
        return F.softplus(-(2 * y - 1) * (X @ w + b)).mean() + LAM * (w * w).sum()

    def mlp(X, Y, W1, b1, W2, b2):
        h = torch.tanh(X @ W1 + b1)
        return -(Y * F.log_softmax(h @ W2 + b2, dim=1)).sum(dim=1).mean()

    def rosen(x):
        return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()

    if key == "a":
        X, y = t(D["X"]), t(D["y"])

        def call(w, b):
            w, b = leaf(w), leaf(b)
            loss = logreg(X, y, w, b)
            return (loss, *torch.autograd.grad(loss, [w, b]))
        return call, (D["w"], D["b"])
    if key in ("b", "c"):
        X, Y = t(D["X"]), t(D["Y"])

        def call(*params):
            params = [leaf(p) for p in params]
            loss = mlp(X, Y, *params)
            return (loss, *torch.autograd.grad(loss, params))
        return call, (D["W1"], D["b1"], D["W2"], D["b2"])
    if key == "d":
        def call(x):
            x = leaf(x)
            f = rosen(x)
            return (f, *torch.autograd.grad(f, [x]))
        return call, (D["x"],)
    if key == "e":
        def call(*scalars):
            w0, w1, w2, x0, x1 = ins = [leaf(s) for s in scalars]
            f = 1.0 / (1.0 + torch.exp(-(w0 * x0 + w1 * x1 + w2)))
            return (f, *torch.autograd.grad(f, ins))
        return call, D["args"]
    if key == "f":
        def call(x):
            x = leaf(x)
            h = x
            for _ in range(CHAIN_DEPTH):
                h = torch.tanh(h)
            s = h.sum()
            return (s, *torch.autograd.grad(s, [x]))
        return call, (D["x"],)
    if key == "h1":
        X, y, b = t(D["X"]), t(D["y"]), torch.tensor(D["b"], dtype=f64)
        hess = torch.func.hessian(lambda w: logreg(X, y, w, b))
        return (lambda w: hess(t(w))), (D["w"],)
    if key == "h2":
        hess = torch.func.hessian(rosen)
        return (lambda x: hess(t(x))), (D["x"],)
    if key == "h3":
        g = torch.func.grad(rosen)
        return (lambda x, v: torch.func.jvp(g, (t(x),), (t(v),))[1]), (D["x"], D["v"])
    return None


def pytensor_impl(key, D):
    import pytensor
    import pytensor.tensor as pt
    from pytensor import gradient as pg

    def logreg():
        X, y, w, b = pt.dmatrix("X"), pt.dvector("y"), pt.dvector("w"), pt.dscalar("b")
        loss = pt.mean(pt.softplus(-(2 * y - 1) * (X @ w + b))) + LAM * pt.sum(w * w)
        return (X, y, w, b), loss

    def rosen():
        x = pt.dvector("x")
        return x, pt.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)

    if key == "a":
        ins, loss = logreg()
        return pytensor.function(list(ins), [loss, *pytensor.grad(loss, list(ins[2:]))]), sd_args(key, D)
    if key in ("b", "c"):
        X, Y = pt.dmatrix("X"), pt.dmatrix("Y")
        W1, b1, W2, b2 = pt.dmatrix("W1"), pt.dvector("b1"), pt.dmatrix("W2"), pt.dvector("b2")
        h = pt.tanh(X @ W1 + b1)
        loss = -pt.mean(pt.sum(Y * pt.special.log_softmax(h @ W2 + b2, axis=1), axis=1))
        params = [W1, b1, W2, b2]
        return pytensor.function([X, Y, *params], [loss, *pytensor.grad(loss, params)]), sd_args(key, D)
    if key == "d":
        x, f = rosen()
        return pytensor.function([x], [f, pytensor.grad(f, x)]), (D["x"],)
    if key == "e":
        ins = w0, w1, w2, x0, x1 = [pt.dscalar(n) for n in ("w0", "w1", "w2", "x0", "x1")]
        f = 1.0 / (1.0 + pt.exp(-(w0 * x0 + w1 * x1 + w2)))
        return pytensor.function(ins, [f, *pytensor.grad(f, ins)]), D["args"]
    if key == "f":
        x = pt.dvector("x")
        h = x
        for _ in range(CHAIN_DEPTH):
            h = pt.tanh(h)
        s = pt.sum(h)
        return pytensor.function([x], [s, pytensor.grad(s, x)]), (D["x"],)
    if key == "h1":
        (X, y, w, b), loss = logreg()
        try:
            H = pg.jacobian(pytensor.grad(loss, w), w, vectorize=True)
        except TypeError:  # older PyTensor: scan-based
            H = pg.hessian(loss, w)
        return pytensor.function([X, y, w, b], H), sd_args(key, D)
    if key == "h2":
        x, f = rosen()
        try:
            H = pg.jacobian(pytensor.grad(f, x), x, vectorize=True)
        except TypeError:
            H = pg.hessian(f, x)
        return pytensor.function([x], H), (D["x"],)
    if key == "h3":
        x, f = rosen()
        v = pt.dvector("v")
        return pytensor.function([x, v], pg.hessian_vector_product(f, x, v)), (D["x"], D["v"])
    return None


FRAMEWORK_IMPLS = {"JAX": jax_impl, "PyTorch": torch_impl, "PyTensor": pytensor_impl}


# =============================================================================================
# Measuring
# =============================================================================================
def to_arrays(out):
    """Outputs of any implementation as a list of float64 NumPy arrays."""
    if not isinstance(out, (list, tuple)):
        out = [out]
    res = []
    for o in out:
        if hasattr(o, "detach"):  # torch
            o = o.detach().numpy()
        res.append(np.asarray(o, dtype=np.float64))
    return res


def check_close(got, ref, rtol=1e-8):
    """Raise AssertionError unless ``got`` matches ``ref`` (lists of arrays) to rtol."""
    got, ref = to_arrays(got), to_arrays(ref)
    if len(got) != len(ref):
        raise AssertionError(f"{len(got)} outputs, expected {len(ref)}")
    for k, (g, r) in enumerate(zip(got, ref)):
        if g.shape != r.shape:
            raise AssertionError(f"output {k}: shape {g.shape}, expected {r.shape}")
        scale = max(1.0, float(np.max(np.abs(r)))) if r.size else 1.0
        np.testing.assert_allclose(g, r, rtol=rtol, atol=rtol * 1e-2 * scale, err_msg=f"output {k}")


def _calibrate(fn, args, target):
    """Seconds per call (on at least 10 ms or one call) and the calls per sample for ``target``."""
    for _ in range(2):
        fn(*args)
    calls, t0 = 0, perf_counter()
    while True:
        fn(*args)
        calls += 1
        el = perf_counter() - t0
        if el > 0.01:
            break
    one = el / calls
    return one, max(1, min(100_000, int(target / one)))


def median_times(impls, budget, min_samples, max_samples=400, target=2e-3):
    """Median seconds per call of each ``fn(*args)`` in ``impls`` ({name: (fn, args)}).

    A sample is ``inner`` back-to-back calls lasting about ``target`` seconds; each implementation
    gets as many samples as fit in ``budget`` seconds (at least ``min_samples``). Samples of the
    implementations are interleaved (round-robin) so that drifts of the machine's speed hit all
    of them alike. The garbage collector is off while timing, as in ``timeit``.
    """
    plan = {}
    for name, (fn, args) in impls.items():
        one, inner = _calibrate(fn, args, target)
        plan[name] = (fn, args, inner, max(min_samples, min(max_samples, int(budget / (one * inner)))))
    rounds = max(p[3] for p in plan.values())
    times = {name: [] for name in plan}
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for r in range(rounds):
            for name, (fn, args, inner, n) in plan.items():
                if (r + 1) * n // rounds == r * n // rounds:
                    continue  # this implementation's samples are spread evenly over the rounds
                t0 = perf_counter()
                for _ in range(inner):
                    fn(*args)
                times[name].append((perf_counter() - t0) / inner)
    finally:
        if gc_was:
            gc.enable()
    return {name: (statistics.median(times[name]), len(times[name]), plan[name][2]) for name in plan}


def child_build(key, cache):
    """Build workload ``key`` with symdiff in a new process, with ``cache`` as SYMDIFF_CACHE_DIR."""
    env = dict(os.environ, SYMDIFF_CACHE_DIR=cache)
    cmd = [sys.executable, os.path.abspath(__file__), "--_child", key]
    t0 = perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    wall = perf_counter() - t0
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["?"]
        raise RuntimeError(f"child process failed (rc {proc.returncode}): {tail[0][:200]}")
    out = json.loads(lines[-1])
    if "error" in out:
        raise RuntimeError(out["error"])
    out["process_wall_s"] = wall
    return out


def child_main(key):
    """``--_child KEY``: build the workload with symdiff (cache folder from the environment)."""
    if key == "__numba__":  # Numba's one-off initialisation in a new process: a trivial njit
        t0 = perf_counter()
        njit(lambda x: x + 1.0)(1.0)
        print(json.dumps({"compile_s": perf_counter() - t0}))
        return 0
    try:
        _, _, info = sd_build(key, DATA[key]())
        info.pop("pattern", None)
        print(json.dumps(info))
    except Exception as exc:
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        return 1
    return 0


_TINY = r"""
import time
t0 = time.perf_counter()
import sys
import numpy as np
import symdiff as sd
t1 = time.perf_counter()
x = sd.tensor("x", (3,))
f = sd.sum(sd.tanh(x) * x)
fn = sd.function([x], [f, sd.grad(f, x)], mode=sys.argv[1])
t2 = time.perf_counter()
fn(np.array([0.5, -1.0, 2.0]))
t3 = time.perf_counter()
print("{" + f'"import_s": {t1 - t0}, "build_s": {t2 - t1}, "call_s": {t3 - t2}, "total_s": {t3 - t0}, '
      f'"from_cache": {str(bool(fn.from_cache)).lower()}, "mode": "{fn.mode}"' + "}")
"""


def first_result_new_process(repeats=3, mode="auto"):
    """``import symdiff`` + build + first call of a tiny f+grad in a new process whose kernel
    cache already holds it (the first run fills the cache): medians over ``repeats`` runs."""
    cache = tempfile.mkdtemp(prefix="symdiff-bench-tiny-")
    env = dict(os.environ, SYMDIFF_CACHE_DIR=cache, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    try:
        runs = []
        for k in range(repeats + 1):  # the first run fills the cache (mode="numba": a tiered one may exit first)
            proc = subprocess.run([sys.executable, "-c", _TINY, "numba" if k == 0 else mode], env=env,
                                  capture_output=True, text=True, timeout=600)
            line = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
            if proc.returncode or not line:
                raise RuntimeError((proc.stderr or "?").strip().splitlines()[-1][:200])
            if k:  # the first run compiled into the empty cache
                runs.append(json.loads(line[-1]))
        return {key: statistics.median(r[key] for r in runs) for key in ("import_s", "build_s", "call_s", "total_s")} | {
            "from_cache": all(r["from_cache"] for r in runs), "mode": runs[-1]["mode"]}
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def _loop_chain_graph():
    """The loops chain (benchmarks/loops.py): tanh 1000 times with sd.fori_loop, summed, + gradient."""
    x = sd.tensor("x", (CHAIN_WIDTH,))
    s = sd.sum(sd.fori_loop(0, CHAIN_DEPTH, lambda i, h: sd.tanh(h), x))
    return [x], [s, sd.grad(s, x)]


def tiered_child_main(spec):
    """``--_tiered KEY:MODE``: in this new process (empty kernel cache from the environment),
    time graph + sd.function + first call, then calls on each tier."""
    key, mode = spec.split(":")
    D = DATA["f" if key == "loop" else key]()
    args = sd_args("f" if key == "loop" else key, D)
    expected = references("f" if key == "loop" else key, D)["NumPy"]
    expected = expected[0](*expected[1])

    def median_call(fn, k=7):
        ts = []
        for _ in range(k):
            t = perf_counter()
            fn(*args)
            ts.append(perf_counter() - t)
        return statistics.median(ts)

    t0 = perf_counter()
    ins, outs = _loop_chain_graph() if key == "loop" else sd_graph(key)
    fn = sd.function(ins, outs, mode=mode)
    got = fn(*args)
    out = {"first_s": perf_counter() - t0, "first_mode": fn.mode}
    check_close(got, expected)
    out["first_tier_call_s"] = median_call(fn, 3) if fn.mode != "numba" else None
    if hasattr(fn, "wait_compiled"):
        fn.wait_compiled(600)
    out["ready_s"] = perf_counter() - t0
    check_close(fn(*args), expected)
    fn(*args)  # the switch happened on the call above
    out["kernel_call_s"], out["mode"], out["error"] = median_call(fn, 15), fn.mode, getattr(fn, "compile_error", None)
    print(json.dumps(out))
    return 0


def first_result_tiered(keys=("a", "b", "d", "loop")):
    """Cold time to first result in new processes with empty caches: mode="numba" (compile in
    process) against mode="tiered" (what the default mode="auto" does for graphs without loops)."""
    res = {}
    for key in keys:
        for mode in ("numba", "tiered"):
            cache = tempfile.mkdtemp(prefix=f"symdiff-bench-tier-{key}-")
            try:
                env = dict(os.environ, SYMDIFF_CACHE_DIR=cache)
                proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--_tiered", f"{key}:{mode}"],
                                      env=env, capture_output=True, text=True, timeout=900)
                line = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
                if proc.returncode or not line:
                    raise RuntimeError((proc.stderr or "?").strip().splitlines()[-1][:200])
                res[key, mode] = json.loads(line[-1])
            finally:
                shutil.rmtree(cache, ignore_errors=True)
    return res


def tiered_table(res, rows):
    """The tiered execution table (``first_result_tiered``'s numbers)."""
    jax = {r["key"]: r["fw_compile_s"].get("JAX") for r in rows}
    jax["loop"] = None
    lines = ["| cold, new process (graph + function + first call) | mode=numba | mode=tiered: first result | "
             "first-tier call | kernel ready after | kernel call (tiered / numba) | JAX first call |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for key in dict.fromkeys(k for k, _ in res):
        nb, ti = res.get((key, "numba")), res.get((key, "tiered"))
        if nb is None or ti is None:
            continue
        title = "loops chain: fori_loop tanh x1000 f+grad" if key == "loop" else TITLES[key]
        lines.append(f"| {key} ({title}) | {fmt_time(nb['first_s'])} | {fmt_time(ti['first_s'])} ({ti['first_mode']}) | "
                     f"{fmt_time(ti['first_tier_call_s'])} | {fmt_time(ti['ready_s'])} | "
                     f"{fmt_time(ti['kernel_call_s'])} / {fmt_time(nb['kernel_call_s'])} ({ti['mode']}) | "
                     f"{fmt_time(jax.get(key))} |")
    return "\n".join(lines)


def first_result_table(rows, tiny):
    """Time to first result: symdiff's differentiate + compile (cold cache) beside JAX's first
    call (trace + compile + run) in this process, and the new-process row."""
    lines = ["| time to first result | symdiff | JAX | goal |", "|---|---:|---:|---|"]
    goals = {"a": 0.5, "b": 1.0}
    for r in rows:
        if r["key"] not in goals or r.get("first_result_s") is None:
            continue
        sd_s = (r.get("build_s") or 0) + r["first_result_s"]
        jax_s = r["fw_compile_s"].get("JAX")
        lines.append(f"| cold build {r['key']} ({r['title'].split(':')[0]}): differentiate + sd.function + first call "
                     f"(default mode, first call on {r.get('first_mode')}; kernel serving after {fmt_time(r['cold_s'])}) | "
                     f"{fmt_time(sd_s)} | {fmt_time(jax_s)} | < {goals[r['key']]:g} s: "
                     f"{'ok' if sd_s < goals[r['key']] else 'MISSED'} |")
    for mode, t in (tiny or {}).items():
        lines.append(f"| new process, cached tiny f+grad, mode={mode}: import {fmt_time(t['import_s'])} + build "
                     f"{fmt_time(t['build_s'])} + first call {fmt_time(t['call_s'])} | {fmt_time(t['total_s'])} | - | "
                     f"< 0.5 s: {'ok' if t['total_s'] < 0.5 else 'MISSED'} (first call on {t['mode']}, from_cache={t['from_cache']}) |")
    return "\n".join(lines)


def _fastcall_built() -> bool:
    try:
        importlib.import_module("symdiff.compiler._fastcall")
    except ImportError:
        return False
    return True


def short_error(exc):
    msg = f"{type(exc).__name__}: {exc}".replace("\n", " ").replace("|", "/")
    return msg if len(msg) <= 160 else msg[:157] + "..."


def run_workload(key, fws, opts, log):
    row = {"key": key, "title": TITLES[key], "times": {}, "samples": {}, "errors": {}, "fw_compile_s": {}}
    try:
        D = DATA[key]()
    except Exception as exc:
        row["errors"]["data"] = short_error(exc)
        return row
    budget, min_samples = (0.08, 3) if opts.quick else (0.4, 7)

    # 1. references (their Numba compile happens here, before symdiff compiles)
    refs = references(key, D)
    t0 = perf_counter()
    expected = refs["NumPy"][0](*refs["NumPy"][1])
    fn, args = refs["Numba"]
    t1 = perf_counter()
    check_close(fn(*args), expected)  # a mismatch here is a bug in this script: let it raise
    row["numba_ref_compile_s"] = perf_counter() - t1
    impls = dict(refs)

    # 2. symdiff: cold build in a fresh cache folder, then a warm load in a new process
    cache = tempfile.mkdtemp(prefix=f"symdiff-bench-{key}-")
    os.environ["SYMDIFF_CACHE_DIR"] = cache
    try:
        try:
            sfn, sargs, info = sd_build(key, D)
            pattern = info.pop("pattern", None)
            row.update(build_s=info["build_s"], cold_s=info["compile_s"], cold_from_cache=info.get("from_cache"),
                       mode=info.get("mode"), source_lines=info.get("source_lines"),
                       first_result_s=info.get("first_result_s"), first_mode=info.get("first_mode"))
            if key in SPARSE:
                row["nnz"], row["colours"], row["route"] = info["nnz"], info["colours"], info["route"]
                ref_pat = _tridiag_pattern(D["x"].shape[0])
                if pattern.shape != ref_pat.shape or (pattern != ref_pat).nnz:
                    raise AssertionError(f"pattern differs from the tridiagonal one ({pattern.nnz} non-zeros)")
            sargs = sargs if sargs is not None else sd_args(key, D)
            try:
                check_close(sfn(*sargs), expected)
                impls["symdiff"] = (sfn, sargs)
            except AssertionError as exc:
                row["errors"]["symdiff"] = "MISMATCH vs NumPy: " + short_error(exc)
        except Exception as exc:
            row["errors"]["symdiff"] = short_error(exc)
            log(f"    symdiff failed on {key}:\n" + "".join(traceback.format_exc(limit=6)))
        if "symdiff" in impls and not opts.no_subprocess:
            # cold again, in a new process (Numba's one-off initialisation counts there) ...
            fresh = tempfile.mkdtemp(prefix=f"symdiff-bench-{key}-new-")
            try:
                c = child_build(key, fresh)
                row.update(cold_new_s=c["compile_s"], cold_new_from_cache=c.get("from_cache"),
                           cold_new_build_s=c.get("build_s"))
            except Exception as exc:
                row["errors"]["cold-new-process"] = short_error(exc)
            finally:
                shutil.rmtree(fresh, ignore_errors=True)
            # ... and warm: a new process with the cache folder of the cold build above
            try:
                w = child_build(key, cache)
                row.update(warm_s=w["compile_s"], warm_from_cache=w.get("from_cache"),
                           warm_build_s=w.get("build_s"), warm_process_s=w["process_wall_s"])
            except Exception as exc:
                row["errors"]["warm"] = short_error(exc)
    finally:
        shutil.rmtree(cache, ignore_errors=True)

    # 3. optional frameworks
    for name in fws:
        try:
            t0 = perf_counter()
            made = FRAMEWORK_IMPLS[name](key, D)
            if made is None:
                continue
            ffn, fargs = made
            got = ffn(*fargs)  # JAX traces and compiles here; PyTensor compiled above
            row["fw_compile_s"][name] = perf_counter() - t0
            check_close(got, expected, rtol=1e-7)
            impls[name] = (ffn, fargs)
        except Exception as exc:
            row["errors"][name] = short_error(exc)

    # 4. timing
    order = [n for n in ["symdiff", "NumPy", "Numba", *fws] if n in impls]
    for name, (med, samples, inner) in median_times({n: impls[n] for n in order}, budget, min_samples).items():
        row["times"][name] = med
        row["samples"][name] = [samples, inner]
    return row


def _tridiag_pattern(n):
    import scipy.sparse as sp

    return sp.diags([np.ones(n - 1), np.ones(n), np.ones(n - 1)], [-1, 0, 1], format="csr")


# =============================================================================================
# Output
# =============================================================================================
def fmt_time(s):
    if s is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)):
        if s >= scale or unit == "ns":
            v = s / scale
            return f"{v:.3g} {unit}" if v < 1000 else f"{v:.0f} {unit}"
    return "-"


def fmt_ratio(a, b):
    if a is None or b is None:
        return "-"
    return f"{a / b:.2f}x"


def fmt_cached(v):
    return "-" if v is None else ("yes" if v else "no")


def make_table(rows, fws):
    head = ["", "workload", "symdiff", "NumPy", "Numba", *fws, "sd/NumPy", "sd/Numba",
            "build", "cold compile", "cold, new proc", "warm load", "warm cached", "mode"]
    lines = []
    for r in rows:
        t = r["times"]
        err = r["errors"]
        cells = [r["key"], r["title"]]
        cells.append(("ERROR: " + err["symdiff"]) if "symdiff" in err else fmt_time(t.get("symdiff")))
        for name in ["NumPy", "Numba", *fws]:
            cells.append(("error" if name in err else fmt_time(t.get(name))))
        cells += [fmt_ratio(t.get("symdiff"), t.get("NumPy")), fmt_ratio(t.get("symdiff"), t.get("Numba"))]
        cells += [fmt_time(r.get("build_s")), fmt_time(r.get("cold_s")),
                  ("error" if "cold-new-process" in err else fmt_time(r.get("cold_new_s"))),
                  ("error" if "warm" in err else fmt_time(r.get("warm_s"))),
                  fmt_cached(r.get("warm_from_cache")) if r.get("mode") != "numpy" else "n/a",
                  r.get("mode") or "-"]
        if "data" in err:
            cells = [r["key"], r["title"], "ERROR: " + err["data"]] + ["-"] * (len(head) - 3)
        lines.append(cells)
    widths = [max(len(str(c)) for c in col) for col in zip(head, *lines)]
    right = set(range(2, len(head) - 2))

    def fmt_line(cells):
        return "| " + " | ".join(str(c).rjust(w) if k in right else str(c).ljust(w)
                                 for k, (c, w) in enumerate(zip(cells, widths))) + " |"

    sep = "|" + "|".join(("-" * (w + 1) + ":") if k in right else ("-" * (w + 2)) for k, w in enumerate(widths)) + "|"
    return "\n".join([fmt_line(head), sep, *map(fmt_line, lines)])


def target_notes(rows, nb_init=None):
    """One line per issue target, measured against this run (``nb_init``: Numba's own start-up
    in a new process, which every warm load includes)."""
    out = []
    by = {r["key"]: r for r in rows}
    for r in rows:
        t, k = r["times"], r["key"]
        sdt, npt, nbt = t.get("symdiff"), t.get("NumPy"), t.get("Numba")
        if sdt is None:
            out.append(f"{k}: symdiff not timed ({r['errors'].get('symdiff', r['errors'].get('data', '?'))})")
            continue
        checks = []
        if k in BASE:
            checks.append(("sd/NumPy <= 1.05", sdt / npt <= 1.05, f"{sdt / npt:.2f}x"))
            checks.append(("faster than Numba", sdt < nbt, f"{sdt / nbt:.2f}x"))
        elif k in ("h1", "h2"):
            checks.append(("within 1.25x of hand closed form", sdt / npt <= 1.25, f"{sdt / npt:.2f}x"))
        elif k == "h3":
            checks.append(("within 1.5x of hand NumPy", sdt / npt <= 1.5, f"{sdt / npt:.2f}x"))
        elif k in SPARSE:
            checks.append(("within 1.25x of hand Numba", sdt / nbt <= 1.25, f"{sdt / nbt:.2f}x"))
        if k == "h4":
            checks.append(("<= 8 us (CasADi generated C, issue author's machine)", sdt <= 8e-6, fmt_time(sdt)))
        if k == "e":
            checks.append(("call < 1 us", sdt < 1e-6, fmt_time(sdt)))
        if r.get("cold_s") is not None:
            checks.append(("cold compile < 3 s", r["cold_s"] < 3.0, fmt_time(r["cold_s"])))
        if r.get("cold_new_s") is not None:
            checks.append(("in a new process", r["cold_new_s"] < 3.0, fmt_time(r["cold_new_s"])))
        if r.get("warm_s") is not None:
            floor = f"; Numba's start-up alone {fmt_time(nb_init)}" if nb_init else ""
            checks.append(("warm load < 0.3 s", r["warm_s"] < 0.3, fmt_time(r["warm_s"]) + floor))
        if r.get("warm_from_cache") is False and r.get("mode") != "numpy":
            checks.append(("warm load hit the cache", False, "from_cache=False"))
        txt = "; ".join(f"{name}: {'ok' if ok else 'MISSED'} ({val})" for name, ok, val in checks)
        out.append(f"{k}: {txt}")
    del by
    return out


def header(fws, opts):
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as fh:
            for ln in fh:
                if ln.startswith("model name"):
                    cpu = ln.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    lines = [
        f"symdiff {sd.__version__} | numpy {np.__version__} | numba {numba.__version__} | "
        f"python {platform.python_version()} | {cpu} ({os.cpu_count()} CPUs)",
        "single-threaded: OMP/NUMBA/OPENBLAS/MKL_NUM_THREADS=1"
        + (f", BLAS threads {blas_threads()}" if blas_threads() else ""),
        "optional: " + (", ".join(f"{k} {v}" for k, v in fws.items()) if fws else "JAX, PyTorch, PyTensor not importable: skipped"),
        f"median time per call ({'--quick' if opts.quick else 'full'} repeats); ratios are symdiff / reference",
        "symdiff's C call paths (_fastcall): " + ("built" if _fastcall_built() else
                                                  "NOT built (no C compiler at install): every call runs the Python wrapper"),
    ]
    busy = other_cpu_use()
    if busy is not None and busy > 0.3:
        lines.append(f"WARNING: other processes kept {busy:.1f} CPUs busy just before the run: "
                     "timings will be noisy")
    return lines


def other_cpu_use(seconds=0.5):
    """CPUs' worth of work done by other processes over ``seconds`` (from /proc/stat), or None."""
    def sample():
        with open("/proc/stat") as fh:
            vals = [int(v) for v in fh.readline().split()[1:]]
        return sum(vals), vals[3] + (vals[4] if len(vals) > 4 else 0)  # total, idle + iowait
    try:
        t0, i0 = sample()
        time.sleep(seconds)
        t1, i1 = sample()
        return (os.cpu_count() or 1) * (1 - (i1 - i0) / max(1, t1 - t0))
    except (OSError, ValueError, IndexError):
        return None


def blas_threads():
    try:
        from threadpoolctl import threadpool_info

        return ",".join(str(i["num_threads"]) for i in threadpool_info() if i.get("user_api") == "blas")
    except Exception:
        return ""


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer repeats")
    p.add_argument("--only", default="", help="comma-separated workloads: a,b,c,d,e,f,h1,h2,h3,h4 ('h' = all h*)")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    p.add_argument("--no-subprocess", action="store_true",
                   help="skip the new-process measurements (cold compile in a new process, warm load)")
    p.add_argument("--no-frameworks", action="store_true", help="skip JAX / PyTorch / PyTensor even if importable")
    p.add_argument("--_child", help=argparse.SUPPRESS)
    p.add_argument("--_tiered", help=argparse.SUPPRESS)
    opts = p.parse_args(argv)
    if opts._child:
        return child_main(opts._child)
    if opts._tiered:
        return tiered_child_main(opts._tiered)

    keys = BASE + HESS
    if opts.only:
        want = []
        for k in (s.strip() for s in opts.only.split(",") if s.strip()):
            want += HESS if k == "h" else [k]
        bad = [k for k in want if k not in keys]
        if bad:
            p.error(f"unknown workload(s) {bad}; choose from {keys}")
        keys = [k for k in keys if k in want]

    has_hessian, has_hvp = hasattr(sd, "hessian"), hasattr(sd, "hvp")
    fw_versions = {} if opts.no_frameworks else available_frameworks()
    fws = [n for n in FRAMEWORKS if n in fw_versions and not str(fw_versions[n]).startswith("import error")]
    log = (lambda s: print(s, file=sys.stderr, flush=True))
    head_lines = header(fw_versions, opts)
    for line in head_lines:
        print(line)
    print()

    t_start = perf_counter()
    nb_init = None
    if not opts.no_subprocess:
        try:
            nb_init = child_build("__numba__", tempfile.gettempdir())["compile_s"]
        except Exception:
            pass
    nb_warm = njit(lambda x: x + 1.0)  # Numba's one-off initialisation, outside every measurement
    nb_warm(1.0)
    rows, skipped = [], []
    for key in keys:
        if key in ("h1", "h2", "h4", "h5") and not has_hessian or key == "h3" and not has_hvp:
            skipped.append(key)
            print(f"{key}: skipped ({'sd.hvp' if key == 'h3' else 'sd.hessian'} does not exist)")
            continue
        log(f"  running {key}: {TITLES[key]} ...")
        t0 = perf_counter()
        rows.append(run_workload(key, fws, opts, log))
        rows[-1]["wall_s"] = perf_counter() - t0
    total = perf_counter() - t_start

    print(make_table(rows, fws))
    print()
    tiny = None
    if not opts.no_subprocess:
        try:
            tiny = {m: first_result_new_process(mode=m) for m in ("auto", "tiered")}
        except Exception as exc:
            print(f"error new-process first result: {short_error(exc)}")
    print(first_result_table(rows, tiny))
    print()
    if not opts.no_subprocess:
        try:
            tiered_keys = [k for k in ("a", "b", "d") if k in keys] + (["loop"] if "f" in keys else [])
            print(tiered_table(first_result_tiered(tiered_keys), rows))
        except Exception as exc:
            print(f"error tiered first result: {short_error(exc)}")
        print()
    if SYNTHETIC:
        print("note: scikit-learn is not installed: synthetic data of the same shapes replaced "
              + ", ".join(sorted(set(SYNTHETIC))) + " (the same work per call; the values differ)")
    errs = [(r["key"], name, msg) for r in rows for name, msg in r["errors"].items()]
    for k, name, msg in errs:
        print(f"error {k}/{name}: {msg}")
    notes = []
    for r in rows:
        if r.get("mode") in ("vm", "numpy"):
            notes.append(f"{r['key']}: symdiff chose mode={r['mode']!r} (graph above the jit budget, SYMDIFF_MAX_JIT_LINES)")
        if r["key"] in SPARSE and "nnz" in r:
            notes.append(f"{r['key']}: {r['nnz']} non-zeros, {r['colours']} colours, {r.get('route')} route; 'cold compile' = "
                         "until the values' kernel serves, 'build' = pattern + colouring + graphs")
        if (r.get("warm_build_s") or 0) > 0.1:
            notes.append(f"{r['key']}: in the warm-load process, building the graph took {fmt_time(r['warm_build_s'])} "
                         "(it ran Numba-compiled symdiff code, so Numba's start-up landed there, not in compile_seconds)")
        if r["fw_compile_s"]:
            notes.append(f"{r['key']}: first call (trace/compile) " +
                         ", ".join(f"{n} {fmt_time(s)}" for n, s in r["fw_compile_s"].items()))
    if skipped:
        notes.append("skipped: " + ", ".join(skipped))
    if nb_init is not None:
        notes.append(f"Numba's one-off start-up in a new process (first @njit of x + 1.0): {fmt_time(nb_init)}; "
                     "it is part of every 'cold, new proc' and 'warm load' figure")
    for n in notes:
        print("note " + n)
    print()
    print("targets (issue 3 item 6, issue 4 item 5):")
    for line in target_notes(rows, nb_init):
        print("  " + line)
    print(f"\ntotal wall time {total:.1f} s")

    if opts.json:
        payload = {
            "header": head_lines, "frameworks": fw_versions, "quick": opts.quick,
            "skipped": skipped, "total_s": total, "numba_init_new_process_s": nb_init,
            "rows": [{k: v for k, v in r.items()} for r in rows],
        }
        with open(opts.json, "w") as fh:
            json.dump(payload, fh, indent=2, default=str)
        print(f"wrote {opts.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
