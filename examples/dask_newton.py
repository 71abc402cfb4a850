# symdiff-test: slow
"""Logistic regression with Newton's method on 10 million rows, over a Dask LocalCluster.

The data are generated chunk by chunk on the workers (``da.map_blocks`` from a seed per chunk),
so no process ever holds the whole data set: each worker holds its own chunks (``persist``), or,
with ``--no-persist``, regenerates them in every pass and holds one chunk at a time. Every
gradient and Hessian is one tree reduction over the chunks, computed by symdiff's compiled
kernels on the workers (built once per worker process, loaded from symdiff's disk cache).

    pip install -e ".[dask]"
    python examples/dask_newton.py                        # 10M rows x 20 features, 2 workers
    python examples/dask_newton.py --rows 200000 --chunk 50000           # a quick run
    python examples/dask_newton.py --address tcp://scheduler:8786        # a real cluster

Prints each Newton iteration (loss, gradient norm, seconds) and the rows per second of the
passes over the data.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import symdiff as sd
import symdiff.dask as sdd


def chunk_data(block: int, rows: int, d: int, seed: int):
    """Chunk ``block`` of the data set: ``rows`` rows of X (standard normal) and labels drawn
    from the logistic model with fixed true weights. The same chunk every time it is asked for."""
    w_true = np.random.default_rng(seed).standard_normal(d) / np.sqrt(d) * 3.0
    rng = np.random.default_rng([seed, block])
    X = rng.standard_normal((rows, d))
    p = 1.0 / (1.0 + np.exp(-(X @ w_true)))
    y = (rng.random(rows) < p).astype(np.float64)
    return X, y, w_true


def _X_block(ids, rows, d, seed):
    return chunk_data(int(ids[0]), rows[int(ids[0])], d, seed)[0]


def _y_block(ids, rows, d, seed):
    return chunk_data(int(ids[0]), rows[int(ids[0])], d, seed)[1]


def make_data(n_rows: int, chunk: int, d: int, seed: int = 0):
    """``(X, y)`` as dask arrays chunked along the rows, generated on the workers."""
    import dask.array as da

    sizes = tuple([chunk] * (n_rows // chunk) + ([n_rows % chunk] if n_rows % chunk else []))
    ids = da.arange(len(sizes), chunks=1)
    X = ids.map_blocks(_X_block, sizes, d, seed, chunks=(sizes, (d,)), new_axis=1, dtype=np.float64)
    y = ids.map_blocks(_y_block, sizes, d, seed, chunks=(sizes,), dtype=np.float64)
    return X, y


def model(d: int, lam: float):
    """The L2-regularised logistic loss (a mean over the rows 'n') and its variables."""
    X = sd.matrix("X", "n", d)
    y = sd.vector("y", "n")
    w = sd.vector("w", d)
    z = X @ w
    loss = sd.mean(sd.softplus(z) - y * z) + 0.5 * lam * sd.sum(w * w)
    return loss, w, X, y


def main(rows: int = 10_000_000, chunk: int = 250_000, features: int = 20, workers: int = 2,
         threads: int = 1, address: str | None = None, persist: bool = True, lam: float = 1e-4,
         seed: int = 0, quiet: bool = False) -> dict:
    from distributed import Client, LocalCluster

    say = (lambda *a: None) if quiet else print
    cluster = None if address else LocalCluster(n_workers=workers, threads_per_worker=threads,
                                                processes=True, dashboard_address=None)
    client = Client(address or cluster)
    try:
        say(f"{rows:,} rows x {features} features in chunks of {chunk:,}; {client}")
        X_d, y_d = make_data(rows, chunk, features, seed)
        if persist:
            t0 = time.perf_counter()
            X_d, y_d = client.persist([X_d, y_d])
            from distributed import wait

            wait([X_d, y_d])
            say(f"generated and persisted on the workers in {time.perf_counter() - t0:.1f} s "
                f"({X_d.nbytes / 2**20:,.0f} MiB of X across {len(client.scheduler_info()['workers'])} workers)")
        loss, w, X, y = model(features, lam)
        obj = sdd.objective(loss, w, client=client)
        t0 = time.perf_counter()
        kernels = [obj.fun_and_grad_function, obj.hessian_function]  # compiled here (or loaded from the cache)
        say(f"kernels compiled on the client in {time.perf_counter() - t0:.1f} s")
        for name, fn in zip(("loss+gradient", "Hessian"), kernels):
            stats = fn.warm_up()
            say(f"  {name} kernel built on the workers in " + ", ".join(
                f"{s['build_seconds']:.2f} s ({'disk cache' if s['from_cache'] else 'compiled'})" for s in stats.values()))
        t0 = time.perf_counter()
        ticks = [t0]

        def report(wk):
            now = time.perf_counter()
            say(f"  iteration {len(ticks)}: {now - ticks[-1]:.2f} s")
            ticks.append(now)

        res = sd.optimize.minimize(obj, w, np.zeros(features), method="newton", inputs={X: X_d, y: y_d},
                                   tol=1e-9, callback=report)
        seconds = time.perf_counter() - t0
        passes = res.nfev + res.nhev
        w_true = chunk_data(0, 1, features, seed)[2]
        say(f"Newton: {res.message} after {res.nit} iterations, loss {res.fun:.10f}, |grad| "
            f"{np.linalg.norm(res.jac):.2e}, {seconds:.1f} s")
        say(f"{passes} passes over the data ({res.nfev} loss+gradient, {res.nhev} Hessian): "
            f"{passes * rows / seconds / 1e6:.2f} M rows/s overall; |w - w_true| / |w_true| = "
            f"{np.linalg.norm(res.x - w_true) / np.linalg.norm(w_true):.3f}")
        return {"result": res, "seconds": seconds, "passes": passes, "w_true": w_true}
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--chunk", type=int, default=250_000)
    ap.add_argument("--features", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="threads per worker")
    ap.add_argument("--address", help="a running scheduler (tcp://host:8786) instead of a LocalCluster")
    ap.add_argument("--no-persist", dest="persist", action="store_false",
                    help="regenerate the chunks in every pass instead of keeping them on the workers")
    ap.add_argument("--lam", type=float, default=1e-4)
    a = ap.parse_args()
    main(a.rows, a.chunk, a.features, a.workers, a.threads, a.address, a.persist, a.lam)
