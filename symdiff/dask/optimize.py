"""Optimisers over chunked data: full-batch ``sd.optimize.minimize`` and minibatch SGD/Adam.

``objective(loss, wrt, ...)`` wraps a scalar loss that is a sum or mean over the rows. Passed to
``sd.optimize.minimize`` in place of the loss node, every ``fun``/``jac``/``hess``/``hessp`` the
method asks for is one Dask reduction over all chunks (Newton, L-BFGS, trust-region methods on
the whole data set):

    obj = sdd.objective(loss, w, client=client)
    res = sd.optimize.minimize(obj, w, w0, method="newton", inputs={X: X_dask, y: y_dask})

``minibatch(obj, x0, inputs, method="adam")`` instead takes one step per group of chunks (a
minibatch: means divide by the rows of those chunks), visiting the chunks in a random order each
epoch.
"""
from __future__ import annotations

from typing import Callable, Mapping

import numpy as np
from scipy.optimize import OptimizeResult

from ..errors import InputError, SymdiffError
from ..graph import Node, Variable, toposort
from ..optimize import _Problem, starting_point
from .chunked import DaskFunction

__all__ = ["Objective", "objective", "minibatch"]


class Objective:
    """A scalar loss ``f`` (a sum or mean over ``row_dim``) of the variables ``wrt``, evaluated
    with Dask; its gradient, Hessian and Hessian-vector products are built (and compiled) on
    first use. Accepted by ``sd.optimize.minimize`` in place of ``f`` and by ``minibatch``."""

    def __init__(self, f: Node, wrt, *, row_dim: str = "n", client=None, scheduler=None, split_every: int = 8):
        if not isinstance(f, Node) or f.shape != ():
            raise SymdiffError("symdiff.dask.objective: f must be a scalar symdiff node")
        self.f = f
        self.single = isinstance(wrt, Node)
        self.wrt = [wrt] if self.single else list(wrt)
        for v in self.wrt:
            if not isinstance(v, Variable):
                raise InputError(f"symdiff.dask.objective: wrt must be variables, got {v!r}")
        self.others = [n for n in toposort([f]) if isinstance(n, Variable) and n not in self.wrt]
        self.row_dim = row_dim
        self._opts = dict(row_dim=row_dim, client=client, scheduler=scheduler, split_every=split_every)
        self._fg = self._hess = self._hessp = None
        self._seeds = None

    @property
    def fun_and_grad_function(self) -> DaskFunction:
        """``(*wrt, *others) -> [f, *grads]`` over the chunks."""
        if self._fg is None:
            from ..grad import grad

            grads = grad(self.f, self.wrt)
            self._fg = DaskFunction([*self.wrt, *self.others], [self.f, *grads], name="symdiff.dask.objective", **self._opts)
        return self._fg

    @property
    def hessian_function(self) -> DaskFunction:
        """``(*wrt, *others) -> the Hessian blocks, row by row``."""
        if self._hess is None:
            from ..jacobian import hessian

            H = hessian(self.f, self.wrt)
            self._hess = DaskFunction([*self.wrt, *self.others], [b for row in H for b in row],
                                      name="symdiff.dask.objective", **self._opts)
        return self._hess

    @property
    def hvp_function(self) -> DaskFunction:
        """``(*wrt, *vectors, *others) -> H @ vectors`` (one block per variable)."""
        if self._hessp is None:
            from ..jacobian import _seed, hvp

            self._seeds = [_seed(v, "p") for v in self.wrt]
            hv = hvp(self.f, self.wrt, self._seeds)
            self._hessp = DaskFunction([*self.wrt, *self._seeds, *self.others], hv,
                                       name="symdiff.dask.objective", **self._opts)
        return self._hessp

    def minimize_problem(self, wrt, x0, inputs: Mapping | None) -> "_DaskProblem":
        """The problem object ``sd.optimize.minimize`` runs its methods on."""
        return _DaskProblem(self, wrt, x0, inputs)

    def __repr__(self) -> str:
        return f"<symdiff.dask.Objective of {', '.join(v.name for v in self.wrt)} summed over {self.row_dim!r}>"


def objective(f: Node, wrt, *, row_dim: str = "n", client=None, scheduler=None, split_every: int = 8) -> Objective:
    """The loss ``f`` of ``wrt`` for ``sd.optimize.minimize`` and ``minibatch``, evaluated over
    row chunks with Dask (``client`` or ``scheduler`` as in ``DaskFunction``)."""
    return Objective(f, wrt, row_dim=row_dim, client=client, scheduler=scheduler, split_every=split_every)


class _DaskProblem(_Problem):
    """``_Problem``'s packing of ``wrt`` into one flat vector, with every function evaluated by
    the objective's Dask functions (the data values stay dask arrays, never gathered)."""

    def __init__(self, obj: Objective, wrt, x0, inputs: Mapping | None):
        wrt_list = [wrt] if isinstance(wrt, Node) else list(wrt)
        if len(wrt_list) != len(obj.wrt) or any(a is not b for a, b in zip(wrt_list, obj.wrt)):
            raise InputError("minimize: wrt must be the variables the symdiff.dask objective was made for "
                             f"({', '.join(v.name for v in obj.wrt)})")
        self.obj, self.compiled, self.f = obj, True, obj.f
        self.single, self.wrt = obj.single, obj.wrt
        self.shapes, self.sizes, self.x0 = starting_point(self.wrt, x0, self.single)
        self.others = obj.others
        by_name = {v.name: v for v in self.others}
        given = {}
        for k, val in (inputs or {}).items():
            node = by_name.get(k) if isinstance(k, str) else k
            if isinstance(k, Node) and k in self.wrt:
                raise InputError(f"minimize: {k.name} is being optimised; give its start in x0, not inputs")
            if node in self.others:
                given[node] = val  # dask arrays stay lazy
        missing = [v.name for v in self.others if v not in given]
        if missing:
            raise InputError(f"minimize: no value given in inputs for {', '.join(missing)}")
        self.other_values = [given[v] for v in self.others]
        self.nfev = self.njev = self.nhev = 0

    def fun_and_grad(self, x):
        self.nfev += 1
        self.njev += 1
        out = self.obj.fun_and_grad_function(*self.unpack(x), *self.other_values)
        return float(out[0]), np.concatenate([np.asarray(g, dtype=np.float64).ravel() for g in out[1:]])

    def hess(self, x):
        self.nhev += 1
        blocks = self.obj.hessian_function(*self.unpack(x), *self.other_values)
        k = len(self.wrt)
        return np.block([[np.asarray(blocks[i * k + j], dtype=np.float64).reshape(self.sizes[i], self.sizes[j])
                          for j in range(k)] for i in range(k)])

    def hessp(self, x, p):
        self.nhev += 1
        fn = self.obj.hvp_function
        out = fn(*self.unpack(x), *self.unpack(np.asarray(p, dtype=np.float64)), *self.other_values)
        return np.concatenate([np.asarray(o, dtype=np.float64).ravel() for o in out])


def minibatch(obj: Objective, x0, inputs: Mapping, *, method: str = "adam", lr: float = 1e-2,
              epochs: int = 1, batch_blocks: int = 1, beta1: float = 0.9, beta2: float = 0.999,
              eps: float = 1e-8, seed: int | None = 0, callback: Callable | None = None) -> OptimizeResult:
    """Minibatch SGD or Adam over the row chunks: each step evaluates the loss and gradient on
    ``batch_blocks`` chunks (their rows only; means divide by those rows) and updates
    ``x <- x - lr * g`` (``"sgd"``) or with Adam's bias-corrected moments (``"adam"``). The chunks
    are visited in a new random order every epoch (``seed``). Returns an ``OptimizeResult`` with
    ``x``, ``fun`` (the loss of the last minibatch), ``history`` (every minibatch loss), ``nit``
    (steps) and ``success``."""
    if method not in ("sgd", "adam"):
        raise InputError(f"minibatch: method must be 'sgd' or 'adam', got {method!r:.40}")
    if not isinstance(obj, Objective):
        raise InputError("minibatch: obj must be a symdiff.dask.objective(...)")
    prob = _DaskProblem(obj, obj.wrt[0] if obj.single else obj.wrt, x0, inputs)
    fg = obj.fun_and_grad_function
    nb = fg.n_blocks(*[None] * len(obj.wrt), *prob.other_values)
    rng = np.random.default_rng(seed)
    x = prob.x0.copy()
    m, v = np.zeros_like(x), np.zeros_like(x)
    history, step, f = [], 0, np.nan
    for _ in range(int(epochs)):
        order = rng.permutation(nb)
        for start in range(0, nb, max(1, int(batch_blocks))):
            blocks = [int(b) for b in order[start:start + max(1, int(batch_blocks))]]
            out = fg.on_blocks(blocks, *prob.unpack(x), *prob.other_values)
            f = float(out[0])
            g = np.concatenate([np.asarray(gi, dtype=np.float64).ravel() for gi in out[1:]])
            step += 1
            if not (np.isfinite(f) and np.all(np.isfinite(g))):
                return OptimizeResult(x=prob.shaped(x), fun=f, history=history, nit=step, success=False,
                                      message="diverged (loss or gradient not finite): lower lr")
            if method == "sgd":
                x = x - lr * g
            else:
                m = beta1 * m + (1 - beta1) * g
                v = beta2 * v + (1 - beta2) * g * g
                mhat, vhat = m / (1 - beta1 ** step), v / (1 - beta2 ** step)
                x = x - lr * mhat / (np.sqrt(vhat) + eps)
            history.append(f)
            if callback is not None:
                callback(prob.shaped(x))
    return OptimizeResult(x=prob.shaped(x), fun=f, history=history, nit=step, success=True,
                          message=f"{epochs} epoch(s) of {method} over {nb} chunks")
