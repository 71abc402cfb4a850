#!/usr/bin/env python
"""symdiff.dask benchmark: rows/s single-process vs a LocalCluster, and the Dask path's overhead.

Usage (single-threaded BLAS/Numba everywhere; run it with the machine's OpenBLAS overrides unset)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/dask_bench.py
    python benchmarks/dask_bench.py --rows 1000000 --quick      # smaller and fewer repeats

Three parts, each printed as a markdown table:

1. **Throughput**: the L2 logistic loss + gradient, and its Hessian, over ``--rows`` rows x
   ``--features`` features: one compiled ``sd.Function`` call on the whole array in this process,
   against the same function on a ``LocalCluster`` (``--workers`` processes, 1 thread each, data
   persisted on the workers in chunks of ``--chunk`` rows). Medians of ``--repeat`` calls.
2. **Per-call overhead** on a small problem (1000 rows x 5, 4 chunks): the direct call against
   the Dask path on the ``sync`` scheduler, the ``threads`` scheduler and the cluster, with the
   cluster call taken apart: client-side checks and graph building, the parameter scatter, the
   scheduler round trip of a graph of the same shape whose tasks do nothing, and the kernels.
3. **Kernels on the workers**: the first build per worker process, from symdiff's disk cache
   (the client compiled it) and with an empty cache on the workers (each compiles), against
   later calls (no build).
"""
import os

for _var in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402

import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# scripts here must not shadow packages dask imports (a benchmarks/sparse.py once hid pydata's ``sparse``)
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != HERE]
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "examples"))
os.environ["PYTHONPATH"] = ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")  # for the workers

import symdiff as sd  # noqa: E402
import symdiff.dask as sdd  # noqa: E402
from dask_newton import chunk_data, make_data, model  # noqa: E402


def median_time(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def fmt(s: float) -> str:
    return f"{s * 1e6:.1f} us" if s < 1e-3 else f"{s * 1e3:.2f} ms" if s < 1 else f"{s:.2f} s"


def cluster(workers: int, env: dict | None = None):
    from distributed import Client, LocalCluster

    c = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                     silence_logs=40, env=env or {})
    return c, Client(c)


def throughput(args):
    loss, w, X, y = model(args.features, 1e-4)
    fg = sd.function([w, X, y], [loss, sd.grad(loss, w)])
    fh = sd.function([w, X, y], sd.hessian(loss, w))
    fg.wait_compiled(), fh.wait_compiled()  # the timings below are of the kernels
    sizes = [args.chunk] * (args.rows // args.chunk) + ([args.rows % args.chunk] if args.rows % args.chunk else [])
    parts = [chunk_data(b, r, args.features, 0)[:2] for b, r in enumerate(sizes)]
    Xv = np.concatenate([p[0] for p in parts])
    yv = np.concatenate([p[1] for p in parts])
    del parts
    wv = np.full(args.features, 0.05)
    single = {"loss+grad": median_time(lambda: fg(wv, Xv, yv), args.repeat),
              "Hessian": median_time(lambda: fh(wv, Xv, yv), args.repeat)}
    ref = {"loss+grad": fg(wv, Xv, yv), "Hessian": fh(wv, Xv, yv)}
    del Xv, yv
    c, client = cluster(args.workers)
    try:
        X_d, y_d = client.persist(list(make_data(args.rows, args.chunk, args.features, 0)))
        from distributed import wait

        wait([X_d, y_d])
        dist = {}
        for name, f in (("loss+grad", fg), ("Hessian", fh)):
            df = sdd.from_function(f, client=client)
            df.warm_up()
            got = df(wv, X_d, y_d)
            err = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / np.max(np.abs(b)))
                      for a, b in zip(got if isinstance(got, list) else [got], ref[name] if isinstance(got, list) else [ref[name]]))
            dist[name] = (median_time(lambda: df(wv, X_d, y_d), args.repeat), err)
    finally:
        client.close()
        c.close()
    print(f"\n### 1. Throughput: {args.rows:,} rows x {args.features} features, chunks of {args.chunk:,} "
          f"({len(sizes)} chunks), {args.workers} workers x 1 thread\n")
    print("| outputs | single process | rows/s | LocalCluster | rows/s | cluster / single (speed-up) | max rel. diff |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in single:
        t1, (t2, err) = single[name], dist[name]
        print(f"| {name} | {fmt(t1)} | {args.rows / t1 / 1e6:.1f} M | {fmt(t2)} | {args.rows / t2 / 1e6:.1f} M | "
              f"{t1 / t2:.2f}x | {err:.1e} |")


class _Nothing:
    pass


def _noop(*args):
    return [np.zeros(1)]


def overhead(args):
    from dask.delayed import Delayed
    from dask.highlevelgraph import HighLevelGraph
    import dask.array as da

    d, n, chunk = 5, 1000, 250
    loss, w, X, y = model(d, 1e-2)
    f = sd.function([w, X, y], [loss, sd.grad(loss, w)])
    f.wait_compiled()
    rng = np.random.default_rng(0)
    Xv, yv, wv = rng.standard_normal((n, d)), (rng.random(n) < 0.5) * 1.0, np.full(d, 0.1)
    Xd, yd = da.from_array(Xv, chunks=(chunk, d)), da.from_array(yv, chunks=chunk)
    rows = {}
    rows["direct sd.Function call (whole array)"] = median_time(lambda: f(wv, Xv, yv), 200 * args.repeat)
    for sched in ("sync", "threads"):
        df = sdd.from_function(f, scheduler=sched)
        rows[f"DaskFunction, scheduler={sched!r}"] = median_time(lambda: df(wv, Xd, yd), 20 * args.repeat)
    c, client = cluster(args.workers)
    try:
        Xp, yp = client.persist([Xd, yd])
        df = sdd.from_function(f, client=client)
        df.warm_up()
        total = median_time(lambda: df(wv, Xp, yp), 10 * args.repeat)
        values = df._bind((wv, Xp, yp), {})

        def prep():
            r, dims, _ = df._rows(values)
            df._params(values, dims)
            df._off_fn(*[values[v] for v in df._off_params], 1000.0) if df._off_fn else None

        t_prep = median_time(prep, 20 * args.repeat)
        t_scatter = median_time(lambda: client.scatter(_Nothing(), broadcast=True, hash=False), 10 * args.repeat)

        def empty_graph():  # 4 chunk tasks + 1 sum task, reading the persisted blocks, doing nothing
            t = uuid.uuid4().hex
            layer = {(f"noop-{t}", i): (_noop, (Xp.name, i, 0), (yp.name, i)) for i in range(4)}
            layer[f"noop-sum-{t}"] = (_noop, *[(f"noop-{t}", i) for i in range(4)])
            g = HighLevelGraph.from_collections(f"noop-sum-{t}", layer, dependencies=[Xp, yp])
            client.compute(Delayed(f"noop-sum-{t}", g), sync=True)

        t_graph = median_time(empty_graph, 10 * args.repeat)
        kernel = __import__("symdiff.dask.worker", fromlist=["kernel"]).kernel(df.spec)
        t_kernels = 4 * median_time(lambda: kernel(Xv[:chunk], yv[:chunk], wv, 1000.0), 200 * args.repeat)
    finally:
        client.close()
        c.close()
    rows["DaskFunction, LocalCluster client"] = total
    print(f"\n### 2. Per-call overhead: loss + gradient, {n} rows x {d}, {n // chunk} chunks\n")
    print("| path | per call |")
    print("|---|---:|")
    for k, v in rows.items():
        print(f"| {k} | {fmt(v)} |")
    print("\nThe LocalCluster call taken apart (each part timed alone, medians):\n")
    print("| part | time | share of the call |")
    print("|---|---:|---:|")
    for k, v in (("client side: argument and chunk checks, parameter offsets", t_prep),
                 ("client.scatter(parameters, broadcast=True)", t_scatter),
                 ("scheduler round trip of the same graph with no-op tasks", t_graph),
                 ("the 4 chunk kernels themselves", t_kernels)):
        print(f"| {k} | {fmt(v)} | {100 * v / total:.0f}% |")


def kernels_on_workers(args):
    import dask.array as da

    d = 20
    loss, w, X, y = model(d, 1e-4)
    rng = np.random.default_rng(1)
    Xv, yv, wv = rng.standard_normal((4000, d)), (rng.random(4000) < 0.5) * 1.0, np.zeros(d)
    out = []
    with tempfile.TemporaryDirectory() as empty:
        os.chmod(empty, 0o700)
        for label, env in (("disk cache (compiled by the client)", {}),
                           ("empty cache on the workers (each compiles)", {"SYMDIFF_CACHE_DIR": empty})):
            c, client = cluster(args.workers, env)
            try:
                # a fresh graph each time (the Hessian-vector product of a new penalty) so the
                # client compiles it now and the workers have never seen it
                lam = float(rng.random())
                v = sd.vector("v", d)
                t0 = time.perf_counter()
                df = sdd.function([w, v, X, y], sd.hvp(loss + lam * sd.sum(sd.sin(w)), w, v), client=client)
                t_client = time.perf_counter() - t0
                Xd, yd = client.persist([da.from_array(Xv, chunks=(500, d)), da.from_array(yv, chunks=500)])
                t0 = time.perf_counter()
                df(wv, wv + 1, Xd, yd)
                first = time.perf_counter() - t0
                later = median_time(lambda: df(wv, wv + 1, Xd, yd), 5 * args.repeat)
                stats = df.worker_stats()
                out.append((label, t_client, stats, first, later))
            finally:
                client.close()
                c.close()
    print(f"\n### 3. Kernels on the workers ({args.workers} worker processes; HVP kernel of a logistic loss, "
          "8 chunks of 500 x 20)\n")
    print("| workers load from | client build | build per worker (first task) | from_cache | first call | later calls |")
    print("|---|---:|---:|---|---:|---:|")
    for label, t_client, stats, first, later in out:
        builds = ", ".join(fmt(s.get("build_seconds", float("nan"))) for s in stats.values())
        caches = ", ".join(str(s.get("from_cache")) for s in stats.values())
        print(f"| {label} | {fmt(t_client)} | {builds} | {caches} | {fmt(first)} | {fmt(later)} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=4_000_000)
    ap.add_argument("--chunk", type=int, default=250_000)
    ap.add_argument("--features", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="fewer repeats")
    ap.add_argument("--only", default="1,2,3", help="parts to run, e.g. 2,3")
    args = ap.parse_args()
    if args.quick:
        args.repeat = 2
    import platform

    print(f"symdiff.dask benchmark: Python {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"OMP/NUMBA/OPENBLAS threads = 1, OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')}")
    parts = {"1": throughput, "2": overhead, "3": kernels_on_workers}
    for key in args.only.split(","):
        parts[key.strip()](args)


if __name__ == "__main__":
    main()
