"""Constrained nonlinear programs: IPOPT (through ``cyipopt``) or SciPy's ``trust-constr``, fed with
compiled derivatives.

    res = sd.optimize.nlp(f, x, x0, g=g, lbg=0, ubg=0, lbx=-1, ubx=1)
    res.x, res.fun, res.g, res.lam_g, res.nit, res.success, res.solver, res.timings

minimises the scalar ``f(x)`` subject to ``lbg <= g(x) <= ubg`` (``g`` any shape, flattened in C
order) and ``lbx <= x <= ubx``. Bounds are numbers or arrays (``None``: unbounded); a ``g`` with
neither ``lbg`` nor ``ubg`` is an equality ``g(x) = 0``, with only one the other side is open.

Derivatives, each one compiled kernel: the objective, its gradient, the constraints, the sparse
constraint Jacobian (``SparseJacobian``), and the sparse Hessian of the Lagrangian
``sigma * H_f + sum_i lambda_i H_{g_i}`` (``SparseHessian`` of ``sigma * f + sum(lambda * g)``,
with ``sigma`` and ``lambda`` as inputs of the kernel; IPOPT gets its lower triangle).

``solver="ipopt"`` needs ``cyipopt`` (``pip install symdiff[ipopt]``: the ``cyipopt-wheels``
wheel bundles IPOPT; ``cyipopt`` built against the system's ``coinor-libipopt-dev`` works too);
``"trust-constr"`` needs only SciPy; ``"auto"`` (default) uses IPOPT when it is importable.
"""
from __future__ import annotations

import time
from typing import Mapping

import numpy as np
import scipy.optimize
import scipy.sparse as sp
from scipy.optimize import OptimizeResult

from .errors import InputError, SymdiffError
from .graph import Node, Variable
from .least_squares import _fixed_inputs, _start, _static

__all__ = ["nlp", "NLPFunctions"]

SOLVERS = ("auto", "ipopt", "trust-constr")


def _bounds(fn: str, what: str, value, size: int, default: float) -> np.ndarray:
    if value is None:
        return np.full(size, default)
    b = np.asarray(value, dtype=np.float64)
    try:
        return np.ascontiguousarray(np.broadcast_to(b.reshape(b.shape if b.ndim == 0 else (-1,)), (size,)))
    except ValueError:
        raise InputError(f"{fn}: {what} has shape {b.shape}; it must be a number or hold {size} entries") from None


class NLPFunctions:
    """The compiled pieces of a problem (``x`` flattened to a vector ``z`` of ``n`` entries):
    ``objective(z)``, ``gradient(z)``, ``constraints(z)`` (``m`` values), ``jacobian(z)`` (the
    non-zeros at ``jac_rows``/``jac_cols``), ``hessian(z, sigma, lam)`` (the lower triangle of the
    Lagrangian's Hessian at ``hess_rows``/``hess_cols``), and ``hessian_full(z, sigma, lam)`` as
    CSR. ``timings`` accumulates the seconds spent in each, ``calls`` the call counts."""

    def __init__(self, f: Node, x: Variable, g: Node | None, inputs: Mapping | None,
                 compiled: bool | str | None = None, fn: str = "nlp"):
        from .compiler import function
        from .grad import grad
        from .ops import structure as S
        from .ops import sum as sum_
        from .sparsity import SparseHessian, SparseJacobian

        if not isinstance(f, Node) or f.shape != ():
            raise SymdiffError(f"{fn}: f must be a scalar symdiff node"
                               + (f", got shape {f.shape}" if isinstance(f, Node) else ""))
        if g is not None and not isinstance(g, Node):
            raise SymdiffError(f"{fn}: g must be a symdiff node (or None), got {type(g).__name__}")
        self.shape = _static(fn, x)
        self.n = int(np.prod(self.shape, dtype=np.int64))
        self.x = x
        fixed = _fixed_inputs(fn, [f] + ([g] if g is not None else []), x, inputs)
        self._rest = list(fixed.values())
        base = [x, *fixed]
        mode = compiled if isinstance(compiled, str) else "auto"

        def compile_(variables, out):
            if compiled is False:
                from .evaluate import evaluate

                return lambda *arrays: evaluate(out, dict(zip(variables, arrays)))
            return function(variables, out, mode=mode)

        self._f = compile_(base, f)
        self._grad = compile_(base, S.reshape(grad(f, x), (-1,)))
        self.sigma = Variable("_sigma", (), x.dtype)
        if g is not None:
            gflat = S.reshape(g, (-1,))
            self.m = int(gflat.shape[0])
            self._g = compile_(base, gflat)
            self.J = SparseJacobian(gflat, x, compiled=compiled)
            P = self.J.pattern
            self.jac_rows = np.repeat(np.arange(self.m, dtype=np.int64), np.diff(P.indptr))
            self.jac_cols = P.indices.astype(np.int64)
            self.lam = Variable("_lambda", (self.m,), x.dtype)
            lagrangian = self.sigma * f + sum_(self.lam * gflat)
        else:
            self.m, self._g, self.J, self.lam = 0, None, None, Variable("_lambda", (0,), x.dtype)
            self.jac_rows = self.jac_cols = np.zeros(0, dtype=np.int64)
            lagrangian = self.sigma * f
        self.H = SparseHessian(lagrangian, x, compiled=compiled)
        plan = self.H._only_plan()
        P = plan.pattern
        rows = np.repeat(np.arange(self.n, dtype=np.int64), np.diff(P.indptr))
        cols = P.indices.astype(np.int64)
        lower = rows >= cols
        self.hess_rows, self.hess_cols = rows[lower], cols[lower]
        hvars = [x, self.sigma, self.lam, *fixed]
        self._lower_mask, self._seed_args = None, ()
        triangle = plan.lower_triangle()  # the lower triangle straight out of the kernel
        if triangle is not None:
            # the colour seeds are an input of a compressed graph where that reads less (speed)
            if plan.feeds_seeds:
                hvars.append(plan.seed_var)
                self._seed_args = (plan.seeds,)
            self._hess = compile_(hvars, triangle)
        else:  # acyclic colouring: substitution after the call, then the triangle
            self._lower_mask = lower
        self._hvars = hvars
        self._values = dict(fixed)
        self.timings = dict.fromkeys(("objective", "gradient", "constraints", "jacobian", "hessian"), 0.0)
        self.calls = dict.fromkeys(self.timings, 0)

    def _timed(self, name: str, t0: float):
        self.timings[name] += time.perf_counter() - t0
        self.calls[name] += 1

    def objective(self, z):
        t0 = time.perf_counter()
        out = float(self._f(z.reshape(self.shape), *self._rest))
        self._timed("objective", t0)
        return out

    def gradient(self, z):
        t0 = time.perf_counter()
        out = self._grad(z.reshape(self.shape), *self._rest)
        self._timed("gradient", t0)
        return out

    def constraints(self, z):
        t0 = time.perf_counter()
        out = self._g(z.reshape(self.shape), *self._rest) if self.m else np.zeros(0)
        self._timed("constraints", t0)
        return out

    def jacobian(self, z):
        t0 = time.perf_counter()
        if self.m:
            self._values[self.x] = z.reshape(self.shape)
            out = self.J.data(self._values)
        else:
            out = np.zeros(0)
        self._timed("jacobian", t0)
        return out

    def _hvalues(self, z, sigma, lam) -> dict:
        v = dict(self._values)
        v.update({self.x: z.reshape(self.shape), self.sigma: np.asarray(sigma, dtype=self.x.dtype),
                  self.lam: np.asarray(lam, dtype=self.x.dtype).reshape(self.m)})
        return v

    def hessian(self, z, sigma, lam):
        t0 = time.perf_counter()
        if self._lower_mask is None:
            out = self._hess(z.reshape(self.shape), np.float64(sigma), np.asarray(lam, dtype=np.float64),
                             *self._rest, *self._seed_args)
        else:
            out = self.H.data(self._hvalues(z, sigma, lam))[self._lower_mask]
        self._timed("hessian", t0)
        return out

    def hessian_full(self, z, sigma, lam) -> sp.csr_matrix:
        return self.H(self._hvalues(z, sigma, lam))

    def jacobian_csr(self, z) -> sp.csr_matrix:
        return sp.csr_matrix((self.jacobian(z), (self.jac_rows, self.jac_cols)), shape=(self.m, self.n))


class _IpoptProblem:
    """The callbacks ``cyipopt.Problem`` calls (it counts the iterations)."""

    def __init__(self, F: NLPFunctions):
        self.F, self.nit = F, 0
        self.objective, self.gradient, self.constraints, self.jacobian = (
            F.objective, F.gradient, F.constraints, F.jacobian)

    def jacobianstructure(self):
        return self.F.jac_rows, self.F.jac_cols

    def hessianstructure(self):
        return self.F.hess_rows, self.F.hess_cols

    def hessian(self, z, lagrange, obj_factor):
        return self.F.hessian(z, obj_factor, lagrange)

    def intermediate(self, alg_mod, iter_count, *args):
        self.nit = int(iter_count)
        return True


def _solve_ipopt(F: NLPFunctions, z0, lbx, ubx, lbg, ubg, options: dict) -> OptimizeResult:
    try:
        import cyipopt
    except ImportError:
        raise ImportError("nlp(solver='ipopt') needs cyipopt: pip install 'symdiff[ipopt]' (the cyipopt-wheels wheel "
                          "bundles IPOPT), or use solver='trust-constr'") from None
    problem = _IpoptProblem(F)
    inf = 1e19  # IPOPT's infinity (nlp_upper_bound_inf)
    nlp_ = cyipopt.Problem(n=F.n, m=F.m, problem_obj=problem, lb=np.nan_to_num(lbx, neginf=-inf, posinf=inf),
                           ub=np.nan_to_num(ubx, neginf=-inf, posinf=inf), cl=np.nan_to_num(lbg, neginf=-inf, posinf=inf),
                           cu=np.nan_to_num(ubg, neginf=-inf, posinf=inf))
    opts = {"print_level": 0, "sb": "yes"}
    opts.update(options)
    for key, value in opts.items():
        nlp_.add_option(key, value)
    z, info = nlp_.solve(z0)
    return OptimizeResult(x=z, fun=float(info["obj_val"]), g=np.asarray(info["g"]), lam_g=np.asarray(info["mult_g"]),
                          lam_x=np.asarray(info["mult_x_U"]) - np.asarray(info["mult_x_L"]), nit=problem.nit,
                          status=int(info["status"]), success=int(info["status"]) in (0, 1),
                          message=info["status_msg"].decode() if isinstance(info["status_msg"], bytes) else info["status_msg"])


def _solve_trust_constr(F: NLPFunctions, z0, lbx, ubx, lbg, ubg, options: dict) -> OptimizeResult:
    constraints = []
    if F.m:
        zeros = np.zeros(F.m)
        constraints.append(scipy.optimize.NonlinearConstraint(
            F.constraints, lbg, ubg, jac=F.jacobian_csr, hess=lambda z, v: F.hessian_full(z, 0.0, v)))
    bounds = None
    if np.any(np.isfinite(lbx)) or np.any(np.isfinite(ubx)):
        bounds = scipy.optimize.Bounds(lbx, ubx)
    zeros = np.zeros(F.m)
    res = scipy.optimize.minimize(F.objective, z0, jac=F.gradient, hess=lambda z: F.hessian_full(z, 1.0, zeros),
                                  method="trust-constr", constraints=constraints, bounds=bounds, options=options)
    g = F.constraints(res.x)
    lam_g = np.asarray(res.v[0]) if F.m else np.zeros(0)
    return OptimizeResult(x=res.x, fun=float(res.fun), g=g, lam_g=lam_g, nit=int(res.nit), status=int(res.status),
                          success=bool(res.success), message=res.message,
                          constr_violation=float(res.constr_violation))


def nlp(f: Node, x: Variable, x0, *, g: Node | None = None, lbg=None, ubg=None, lbx=None, ubx=None,
        inputs: Mapping | None = None, solver: str = "auto", options: dict | None = None,
        compiled: bool | str | None = None) -> OptimizeResult:
    """Minimise ``f`` over ``x`` subject to ``lbg <= g <= ubg`` and ``lbx <= x <= ubx``.

    ``x0`` has ``x``'s shape; ``inputs`` gives the values of the other variables ``f``/``g`` use.
    ``solver``: ``"ipopt"`` (cyipopt), ``"trust-constr"`` (SciPy) or ``"auto"`` (IPOPT when
    installed); ``options`` go to the solver (IPOPT options such as ``tol``, ``max_iter``,
    ``print_level``; ``trust-constr``'s ``options`` dict). Returns an ``OptimizeResult`` with
    ``x`` (``x``'s shape), ``fun``, ``g`` (constraint values), ``lam_g`` (their multipliers, in the
    solver's sign convention), ``nit``, ``success``, ``status``, ``message``, ``solver``, and
    ``timings``/``calls`` (seconds in, and calls of, each compiled derivative).
    """
    fn = "nlp"
    if solver not in SOLVERS:
        raise InputError(f"{fn}: solver must be one of {', '.join(SOLVERS)}, got {solver!r}")
    if solver == "auto":
        try:
            import cyipopt  # noqa: F401

            solver = "ipopt"
        except ImportError:
            solver = "trust-constr"
    F = NLPFunctions(f, x, g, inputs, compiled, fn)
    z0 = _start(fn, x, x0).astype(np.float64)
    lbx = _bounds(fn, "lbx", lbx, F.n, -np.inf)
    ubx = _bounds(fn, "ubx", ubx, F.n, np.inf)
    if g is None and (lbg is not None or ubg is not None):
        raise InputError(f"{fn}: lbg/ubg given without constraints g")
    if lbg is None and ubg is None:
        lbg = ubg = 0.0
    lbg = _bounds(fn, "lbg", lbg, F.m, -np.inf)
    ubg = _bounds(fn, "ubg", ubg, F.m, np.inf)
    for lo, hi, what in ((lbx, ubx, "lbx > ubx"), (lbg, ubg, "lbg > ubg")):
        if np.any(lo > hi):
            raise InputError(f"{fn}: {what} at index {int(np.flatnonzero(lo > hi)[0])}")
    solve = _solve_ipopt if solver == "ipopt" else _solve_trust_constr
    res = solve(F, z0, lbx, ubx, lbg, ubg, dict(options or {}))
    res.x = np.asarray(res.x).reshape(F.shape)
    res.solver, res.timings, res.calls = solver, dict(F.timings), dict(F.calls)
    return res
