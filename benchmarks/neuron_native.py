#!/usr/bin/env python
"""The seed's sigmoid neuron (f and its 5 partials) against CasADi's generated C, natively and from Python.

A Python call costs more than the neuron's arithmetic (a bare Numba dispatch is ~0.1 us, the
neuron ~10 ns), so the two tools are compared twice:

* **native loop**: N evaluations in a compiled loop, per evaluation. symdiff's kernel is called
  from an ``@njit`` loop, CasADi's generated C (``Function.generate``, compiled here with the
  same gcc flags as the harness) from a C loop compiled with ``gcc -O3 -march=native``; the
  hand-written Numba neuron runs in the same kind of loop. An input changes every iteration and
  every output is summed, so no evaluation can be hoisted or dropped. Both compilers may inline
  the call (the C harness includes the generated file; Numba may inline the kernel).
* **from Python**: one call with five Python floats returning six floats: symdiff's compiled
  function (argument checks included), CasADi's ``Function.__call__``, and CasADi's generated C
  through ``ctypes`` (the leanest way Python reaches it), beside the hand Numba function.

Usage: ``python benchmarks/neuron_native.py [--quick]`` (needs casadi and gcc; single-threaded).
"""
import os

for _var in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import ctypes  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from numba import njit  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import symdiff as sd  # noqa: E402

ARGS = (2.0, -3.0, -3.0, -1.0, -2.0)  # w0, w1, w2, x0, x1 of the seed notes
NAMES = ("w0", "w1", "w2", "x0", "x1")

HARNESS = r"""
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "neuron_gen.c"

int main(int argc, char **argv) {
    long n = atol(argv[1]);
    int reps = atoi(argv[2]);
    double in[5] = {2.0, -3.0, -3.0, -1.0, -2.0}, out[6];
    const double *arg[5];
    double *res[6];
    casadi_int iw[64];
    double w[256];
    for (int k = 0; k < 5; k++) arg[k] = &in[k];
    for (int k = 0; k < 6; k++) res[k] = &out[k];
    double acc = 0.0;
    for (int r = 0; r < reps; r++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (long i = 0; i < n; i++) {
            in[3] = -1.0 + 1e-9 * (double)(i & 1023);
            neuron(arg, res, iw, w, 0);
            acc += out[0] + out[1] + out[2] + out[3] + out[4] + out[5];
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        printf("%.6f\n", ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / n);
    }
    fprintf(stderr, "%.17g\n", acc);
    return 0;
}
"""


def symdiff_neuron():
    ins = [sd.scalar(n) for n in NAMES]
    w0, w1, w2, x0, x1 = ins
    f = 1.0 / (1.0 + sd.exp(-(w0 * x0 + w1 * x1 + w2)))
    fn = sd.function(ins, [f, *sd.grad(f, ins)], mode="numba")
    return fn


@njit
def nb_neuron(w0, w1, w2, x0, x1):
    f = 1.0 / (1.0 + np.exp(-(w0 * x0 + w1 * x1 + w2)))
    ds = f * (1.0 - f)
    return f, ds * x0, ds * x1, ds, ds * w0, ds * w1


def native_loop(kernel):
    """An @njit loop of N calls of ``kernel`` (five floats in, a tuple of six out)."""
    @njit
    def loop(n, w0, w1, w2, x0, x1):
        acc = 0.0
        for i in range(n):
            r = kernel(w0, w1, w2, x0 + 1e-9 * (i & 1023), x1)
            acc += r[0] + r[1] + r[2] + r[3] + r[4] + r[5]
        return acc
    return loop


def per_call_native(loop, n, reps):
    loop(10, *ARGS)
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        loop(n, *ARGS)
        out.append((time.perf_counter() - t0) / n * 1e9)
    return statistics.median(out)


def per_call_python(fn, args, reps, k=20000):
    fn(*args)
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(k):
            fn(*args)
        out.append((time.perf_counter() - t0) / k * 1e9)
    return statistics.median(out)


def casadi_build(folder):
    """CasADi's neuron: the Function, its generated C compiled to a C harness and to a shared library."""
    import casadi as ca

    v = [ca.SX.sym(n) for n in NAMES]
    w0, w1, w2, x0, x1 = v
    f = 1.0 / (1.0 + ca.exp(-(w0 * x0 + w1 * x1 + w2)))
    g = ca.gradient(f, ca.vertcat(*v))
    F = ca.Function("neuron", v, [f] + [g[k] for k in range(5)])
    assert F.sz_iw() <= 64 and F.sz_w() <= 256
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        F.generate("neuron_gen.c")
    finally:
        os.chdir(cwd)
    with open(os.path.join(folder, "harness.c"), "w") as fh:
        fh.write(HARNESS)
    flags = ["-O3", "-march=native"]
    subprocess.run(["gcc", *flags, "-o", "harness", "harness.c", "-lm"], cwd=folder, check=True)
    subprocess.run(["gcc", *flags, "-shared", "-fPIC", "-o", "neuron.so", "neuron_gen.c", "-lm"], cwd=folder, check=True)
    return F


def casadi_ctypes(folder):
    """A Python callable running CasADi's generated C through ctypes (buffers allocated once)."""
    lib = ctypes.CDLL(os.path.join(folder, "neuron.so"))
    fn = lib.neuron
    fn.restype = ctypes.c_int
    ins = (ctypes.c_double * 5)()
    outs = (ctypes.c_double * 6)()
    arg = (ctypes.POINTER(ctypes.c_double) * 5)(*[ctypes.pointer(ctypes.c_double.from_buffer(ins, 8 * k)) for k in range(5)])
    res = (ctypes.POINTER(ctypes.c_double) * 6)(*[ctypes.pointer(ctypes.c_double.from_buffer(outs, 8 * k)) for k in range(6)])
    iw = (ctypes.c_longlong * 64)()
    w = (ctypes.c_double * 256)()

    def call(*a):
        ins[:] = a
        fn(arg, res, iw, w, 0)
        return tuple(outs)
    return call


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    opts = parser.parse_args()
    reps = 5 if opts.quick else 11
    n = 2_000_000 if opts.quick else 10_000_000

    fn = symdiff_neuron()
    ref = np.array(nb_neuron(*ARGS))
    np.testing.assert_allclose(np.array(fn(*ARGS)), ref, rtol=1e-15)
    rows = [("symdiff", per_call_native(native_loop(fn._kernel), n, reps), per_call_python(fn, ARGS, reps)),
            ("hand Numba", per_call_native(native_loop(nb_neuron), n, reps), per_call_python(nb_neuron, ARGS, reps))]
    have_casadi = shutil.which("gcc") is not None
    try:
        import casadi  # noqa: F401
    except ImportError:
        have_casadi = False
    if have_casadi:
        with tempfile.TemporaryDirectory(prefix="symdiff-neuron-") as folder:
            F = casadi_build(folder)
            np.testing.assert_allclose(np.array([float(o) for o in F(*ARGS)]), ref, rtol=1e-14)
            call = casadi_ctypes(folder)
            np.testing.assert_allclose(np.array(call(*ARGS)), ref, rtol=1e-14)
            out = subprocess.run([os.path.join(folder, "harness"), str(n), str(reps)], check=True,
                                 capture_output=True, text=True).stdout.split()
            c_native = statistics.median(float(t) for t in out)
            rows.append(("CasADi generated C (ctypes from Python)", c_native, per_call_python(call, ARGS, reps)))
            rows.append(("CasADi Function (SX virtual machine)", float("nan"),
                         per_call_python(lambda *a: F(*a), ARGS, reps, k=2000)))
    print("sigmoid neuron, 5 floats -> f and 5 partials; medians, single-threaded\n")
    print("| implementation | native loop, per evaluation | from Python, per call |")
    print("|---|---:|---:|")
    for name, native, py in rows:
        nat = "-" if native != native else f"{native:.1f} ns"
        print(f"| {name} | {nat} | {py:.0f} ns |")
    base = rows[0]
    print()
    for name, native, py in rows[1:]:
        parts = []
        if native == native:
            parts.append(f"native {base[1] / native:.2f}x")
        parts.append(f"from Python {base[2] / py:.2f}x")
        print(f"symdiff / {name}: " + ", ".join(parts))


if __name__ == "__main__":
    main()
