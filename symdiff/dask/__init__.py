"""Data-parallel sums over rows with Dask: losses, gradients, Hessians and HVPs over chunked data.

    import symdiff.dask as sdd
    df = sdd.from_function(sd.function([w, X, y], [loss, grad, hess]), row_dim="n", client=client)
    loss_v, g_v, H_v = df(w0, X_dask, y_dask)           # chunked along the rows "n"
    res = sd.optimize.minimize(sdd.objective(loss, w, client=client), w, w0, method="newton",
                               inputs={X: X_dask, y: y_dask})

Needs the ``dask`` extra (``pip install "symdiff[dask]"``: ``dask[array,distributed]``). The row
analysis (``split_row_sums``, ``RowSumError``) needs nothing beyond symdiff. See ``docs/dask.md``.
"""
from .rowsum import RowSplit, RowSumError, split_row_sums

try:
    import dask  # noqa: F401
    import dask.array  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "symdiff.dask needs Dask: pip install \"symdiff[dask]\" (dask[array,distributed])"
    ) from exc

from .chunked import DaskFunction, from_function, function
from .optimize import Objective, minibatch, objective

__all__ = ["DaskFunction", "Objective", "RowSplit", "RowSumError", "from_function", "function",
           "minibatch", "objective", "split_row_sums"]
