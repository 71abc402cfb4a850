"""Minimising symbolic scalar functions: Newton, gradient descent (with momentum), and an adapter
that hands compiled ``fun``/``jac``/``hess``/``hessp`` to ``scipy.optimize.minimize``.

    res = sd.optimize.minimize(loss, w, np.zeros(30), method="newton", inputs={X: Xv, y: yv})
    res.x, res.fun, res.jac, res.nit, res.success

Methods:

* ``"newton"`` - Newton's method with a backtracking (Armijo) line search. When the Hessian is
  not positive definite a multiple of the identity is added until it is (Nocedal & Wright,
  Algorithm 3.3), so every step is a descent direction.
* ``"gd"`` - gradient descent ``x <- x - lr * g`` (``options={"lr": ...}``).
* ``"momentum"`` - the heavy ball of the seed notes: ``m <- beta * m + lr * g``, ``x <- x - m``
  (``options={"lr": ..., "beta": ...}``).
* any ``scipy.optimize.minimize`` method, e.g. ``"trust-exact"`` (gets ``hess``), ``"trust-ncg"``,
  ``"trust-krylov"``, ``"newton-cg"`` (get ``hessp``, a compiled Hessian-vector product),
  ``"l-bfgs-b"``, ``"bfgs"`` (get ``fun`` and ``jac``).

Functions are compiled with ``sd.function`` when it exists, otherwise evaluated with
``sd.evaluate``. ``wrt`` may be one variable or a list (then ``x0`` and ``res.x`` are lists).
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np
import scipy.linalg
import scipy.optimize
from scipy.optimize import OptimizeResult

from .errors import InputError, SymdiffError
from .graph import Node, Variable, toposort
from .types import bind_dims, format_shape

__all__ = ["minimize", "compile_function", "OptimizeResult"]

HESS_METHODS = {"trust-exact", "dogleg", "trust-constr"}
HESSP_METHODS = {"newton-cg", "trust-ncg", "trust-krylov"}
OWN_METHODS = {"newton", "gd", "momentum"}


def compile_function(variables: Sequence[Variable], outputs: Sequence[Node], *, compiled: bool | None = None) -> Callable[..., list]:
    """``fn(*arrays) -> list of arrays`` computing ``outputs`` from values of ``variables``.

    ``compiled=None`` uses ``sd.function`` (the Numba path) when it exists, else the NumPy
    evaluator; ``False`` forces the evaluator (no compile time). Variables the outputs do not
    use are accepted and ignored.
    """
    import symdiff as sd

    variables, outputs = list(variables), list(outputs)
    graph = set(toposort(outputs))
    used = [i for i, v in enumerate(variables) if v in graph]
    used_vars = [variables[i] for i in used]
    if compiled is None:
        compiled = hasattr(sd, "function")
    if compiled:
        kernel = sd.function(used_vars, outputs)

        def fn(*arrays):
            return list(kernel(*[arrays[i] for i in used]))
    else:
        def fn(*arrays):
            return sd.evaluate(outputs, {v: arrays[i] for v, i in zip(used_vars, used)})
    return fn


def starting_point(wrt: list, x0, single: bool) -> tuple[list, list, np.ndarray]:
    """``x0`` (one array, or one per variable of ``wrt``) checked against the variables' shapes
    and flattened: (shapes, sizes, the flat float64 start)."""
    x0s = [x0] if single else list(x0)
    if len(x0s) != len(wrt):
        raise InputError(f"minimize: {len(wrt)} variables but {len(x0s)} starting values")
    dims: dict = {}
    shapes, sizes, starts = [], [], []
    for v, a in zip(wrt, x0s):
        try:
            a = np.array(a, dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError(f"minimize: the start x0 for {v.name!r} must be numbers (an array of shape "
                             f"{format_shape(v.shape)}), got {type(a).__name__} {a!r:.40}") from None
        bind_dims(v.name, v.shape, a.shape, dims)
        shapes.append(a.shape)
        sizes.append(a.size)
        starts.append(a.ravel())
    return shapes, sizes, (np.concatenate(starts) if starts else np.zeros(0))


class _Problem:
    """The symbolic problem, packed into a flat vector for the optimisers."""

    def __init__(self, f: Node, wrt, x0, inputs: Mapping | None, compiled: bool | None = None):
        self.compiled = compiled
        if not isinstance(f, Node) or f.shape != ():
            raise SymdiffError("minimize: f must be a scalar symdiff node")
        self.single = isinstance(wrt, Node)
        self.wrt = [wrt] if self.single else list(wrt)
        for v in self.wrt:
            if not isinstance(v, Variable):
                raise InputError(f"minimize: wrt must be variables, got {v!r}")
        self.shapes, self.sizes, self.x0 = starting_point(self.wrt, x0, self.single)
        self.f = f
        self.others = [n for n in toposort([f]) if isinstance(n, Variable) and n not in self.wrt]
        by_name = {v.name: v for v in self.others}
        given = {}
        for k, val in (inputs or {}).items():
            node = by_name.get(k) if isinstance(k, str) else k
            if node is None or node not in self.others:
                if isinstance(k, Node) and k in self.wrt:
                    raise InputError(f"minimize: {k.name} is being optimised; give its start in x0, not inputs")
                continue  # values for variables f does not use are ignored
            given[node] = val
        missing = [v.name for v in self.others if v not in given]
        if missing:
            raise InputError(f"minimize: no value given in inputs for {', '.join(missing)}")
        self.other_values = [np.asarray(given[v], dtype=v.dtype) for v in self.others]
        self._fg = self._hess = self._hessp = None
        self.nfev = self.njev = self.nhev = 0

    # packing ----------------------------------------------------------------------------------
    def unpack(self, x: np.ndarray) -> list[np.ndarray]:
        out, start = [], 0
        for shape, size, v in zip(self.shapes, self.sizes, self.wrt):
            out.append(x[start:start + size].reshape(shape).astype(v.dtype, copy=False))
            start += size
        return out

    def shaped(self, x: np.ndarray):
        parts = [p.astype(np.float64) for p in self.unpack(x)]
        return parts[0] if self.single else parts

    # compiled functions ----------------------------------------------------------------------
    def fun_and_grad(self, x):
        if self._fg is None:
            from .grad import grad

            grads = grad(self.f, self.wrt)
            self._fg = compile_function([*self.wrt, *self.others], [self.f, *grads], compiled=self.compiled)
        self.nfev += 1
        self.njev += 1
        out = self._fg(*self.unpack(x), *self.other_values)
        g = np.concatenate([np.asarray(gi, dtype=np.float64).ravel() for gi in out[1:]])
        return float(out[0]), g

    def hess(self, x):
        if self._hess is None:
            from .jacobian import hessian

            H = hessian(self.f, self.wrt)
            self._hess = compile_function([*self.wrt, *self.others], [b for row in H for b in row], compiled=self.compiled)
        self.nhev += 1
        blocks = self._hess(*self.unpack(x), *self.other_values)
        k = len(self.wrt)
        rows = [[np.asarray(blocks[i * k + j], dtype=np.float64).reshape(self.sizes[i], self.sizes[j])
                 for j in range(k)] for i in range(k)]
        return np.block(rows)

    def hessp(self, x, p):
        if self._hessp is None:
            from .jacobian import _seed, hvp

            self._vs = [_seed(v, "p") for v in self.wrt]
            hv = hvp(self.f, self.wrt, self._vs)
            self._hessp = compile_function([*self.wrt, *self._vs, *self.others], hv, compiled=self.compiled)
        self.nhev += 1
        out = self._hessp(*self.unpack(x), *self.unpack(np.asarray(p, dtype=np.float64)), *self.other_values)
        return np.concatenate([np.asarray(o, dtype=np.float64).ravel() for o in out])


# ---------------------------------------------------------------------------------------------
# Own methods
# ---------------------------------------------------------------------------------------------
def _newton_direction(H: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, float]:
    """Solve (H + tau I) p = -g with the smallest tau >= 0 (from a geometric sequence) for which
    the matrix is positive definite. Returns (p, tau)."""
    H = 0.5 * (H + H.T)
    if not np.all(np.isfinite(H)):
        return -g, np.inf
    diag_min = float(np.min(np.diag(H))) if H.size else 0.0
    tau = 0.0 if diag_min > 0 else 1e-3 * max(1.0, float(np.max(np.abs(H))) if H.size else 1.0) - diag_min
    eye = np.eye(H.shape[0])
    for _ in range(60):
        try:
            c = scipy.linalg.cho_factor(H + tau * eye if tau else H, check_finite=False)
            return -scipy.linalg.cho_solve(c, g, check_finite=False), tau
        except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):
            tau = max(2 * tau, 1e-3 * max(1.0, float(np.max(np.abs(H)))))
    return -g, np.inf


def _newton(prob: _Problem, tol: float, maxiter: int, callback, options: dict) -> OptimizeResult:
    c1 = options.get("c1", 1e-4)
    x = prob.x0.copy()
    f, g = prob.fun_and_grad(x)
    status, message, nit = 1, "maximum number of iterations reached", 0
    for nit in range(maxiter + 1):
        if np.linalg.norm(g) <= tol:
            status, message = 0, "gradient norm below tol"
            break
        if nit == maxiter:
            break
        p, _ = _newton_direction(prob.hess(x), g)
        gp = float(g @ p)
        if gp >= 0:  # not a descent direction (numerical trouble): steepest descent
            p, gp = -g, -float(g @ g)
        noise = 8 * np.finfo(float).eps * max(1.0, abs(f))
        t = 1.0
        while True:
            xn = x + t * p
            fn, gn = prob.fun_and_grad(xn)
            if np.isfinite(fn) and fn <= f + c1 * t * gp + noise:
                break
            t *= 0.5
            if t < 1e-14:
                return _result(prob, x, f, g, nit, 2, "line search failed to decrease f")
        x, f, g = xn, fn, gn
        if callback is not None:
            callback(prob.shaped(x))
    return _result(prob, x, f, g, nit, status, message)


def _first_order(prob: _Problem, tol: float, maxiter: int, callback, options: dict, beta: float) -> OptimizeResult:
    lr = float(options.get("lr", 1e-2))
    x = prob.x0.copy()
    m = np.zeros_like(x)
    f, g = prob.fun_and_grad(x)
    status, message, nit = 1, "maximum number of iterations reached", 0
    for nit in range(maxiter + 1):
        if not (np.isfinite(f) and np.all(np.isfinite(g)) and np.max(np.abs(g), initial=0.0) < 1e150):
            return _result(prob, x, f, g, nit, 3, "diverged (f or its gradient blew up): lower the learning rate")
        if np.linalg.norm(g) <= tol:
            status, message = 0, "gradient norm below tol"
            break
        if nit == maxiter:
            break
        m = beta * m + lr * g
        x = x - m
        f, g = prob.fun_and_grad(x)
        if callback is not None:
            callback(prob.shaped(x))
    return _result(prob, x, f, g, nit, status, message)


def _result(prob: _Problem, x, f, g, nit, status, message) -> OptimizeResult:
    return OptimizeResult(
        x=prob.shaped(x), fun=float(f), jac=prob.shaped(g), nit=nit, nfev=prob.nfev, njev=prob.njev,
        nhev=prob.nhev, status=status, success=status == 0, message=message,
    )


# ---------------------------------------------------------------------------------------------
# The entry point
# ---------------------------------------------------------------------------------------------
def minimize(
    f: Node,
    wrt,
    x0,
    method: str = "newton",
    *,
    inputs: Mapping | None = None,
    tol: float | None = None,
    maxiter: int | None = None,
    options: dict | None = None,
    callback: Callable | None = None,
    compiled: bool | None = None,
) -> OptimizeResult:
    """Minimise the scalar node ``f`` over ``wrt`` (a variable or a list) starting from ``x0``.
    ``f`` may also be a ``symdiff.dask.objective(...)`` (a loss over row-chunked Dask arrays).

    ``inputs`` gives values for the other variables of ``f`` (keys: nodes or names). ``tol`` is
    the gradient-norm tolerance of the own methods (default 1e-8) and scipy's ``tol`` otherwise.
    Returns a ``scipy.optimize.OptimizeResult`` with ``x`` (shaped like ``wrt``), ``fun``,
    ``jac``, ``nit``, ``nfev``, ``success`` and ``message``. ``compiled=False`` evaluates with
    NumPy instead of compiling with ``sd.function`` (no compile time; slower per call).
    """
    if not isinstance(method, str):
        raise InputError(f"minimize: method must be a name such as 'newton' or 'trust-exact', got {method!r:.40}")
    if options is not None and not isinstance(options, Mapping):
        raise InputError(f"minimize: options must be a dict, got {type(options).__name__}")
    options = dict(options or {})
    # f may also be an object that makes its own problem (symdiff.dask.objective: data on Dask)
    prob = f.minimize_problem(wrt, x0, inputs) if hasattr(f, "minimize_problem") else _Problem(f, wrt, x0, inputs, compiled)
    name = method.lower()
    if name in OWN_METHODS:
        tol = 1e-8 if tol is None else float(tol)
        if name == "newton":
            return _newton(prob, tol, 100 if maxiter is None else maxiter, callback, options)
        beta = float(options.get("beta", 0.9)) if name == "momentum" else 0.0
        return _first_order(prob, tol, 10000 if maxiter is None else maxiter, callback, options, beta)
    kwargs = {}
    if name in HESS_METHODS:
        kwargs["hess"] = prob.hess
    elif name in HESSP_METHODS:
        kwargs["hessp"] = prob.hessp
    if maxiter is not None:
        options["maxiter"] = maxiter
    try:
        res = scipy.optimize.minimize(
            prob.fun_and_grad, prob.x0, method=method, jac=True, tol=tol, options=options,
            callback=(lambda xk, *_: callback(prob.shaped(xk))) if callback else None, **kwargs,
        )
    except ValueError as exc:
        if "Unknown solver" in str(exc):
            raise SymdiffError(
                f"minimize: unknown method {method!r}; use newton, gd, momentum or a scipy.optimize method"
            ) from None
        raise
    res.x = prob.shaped(np.asarray(res.x, dtype=np.float64))
    if "jac" in res:
        res.jac = prob.shaped(np.asarray(res.jac, dtype=np.float64))
    res.setdefault("nhev", prob.nhev)
    return res


from .least_squares import least_squares  # noqa: E402  (sparse Jacobian, issue 13)
from .nlp import nlp  # noqa: E402  (constrained problems: IPOPT or trust-constr)
