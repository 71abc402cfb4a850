"""A constrained NLP: minimum-effort transfer of a cart-pendulum-like double integrator with drag,
discretised by the trapezoidal rule and solved with sd.optimize.nlp.

States p (position), v (velocity), control u at K+1 time points; the dynamics are equality
constraints ``p' = v``, ``v' = u - c v |v|`` between neighbouring points; the control is
bounded; the cart starts at rest at 0 and ends at rest at 1. The objective is the integral of
u^2. IPOPT (through cyipopt) gets symdiff's compiled objective, gradient, sparse constraint
Jacobian and sparse Lagrangian Hessian; without cyipopt, SciPy's trust-constr is used.

Run:  python examples/nlp_optimal_control.py
"""
from __future__ import annotations

import numpy as np

import symdiff as sd


def problem(K: int = 100, T: float = 2.0, drag: float = 0.5):
    h = T / K
    z = sd.tensor("z", (3, K + 1))                 # rows: p, v, u
    p, v, u = z[0], z[1], z[2]
    acc = u - drag * v * sd.sqrt(v * v + 1e-8)     # smooth |v|
    defects = sd.concatenate([
        p[1:] - p[:-1] - 0.5 * h * (v[1:] + v[:-1]),
        v[1:] - v[:-1] - 0.5 * h * (acc[1:] + acc[:-1]),
        sd.stack([p[0], v[0], p[K] - 1.0, v[K]]),  # boundary conditions
    ])
    effort = 0.5 * h * sd.sum(u[1:] ** 2 + u[:-1] ** 2)
    lbx = np.full((3, K + 1), -np.inf)
    ubx = np.full((3, K + 1), np.inf)
    lbx[2], ubx[2] = -2.5, 2.5                     # control bounds
    return z, effort, defects, lbx, ubx


def main() -> None:
    K = 100
    z, f, g, lbx, ubx = problem(K)
    z0 = np.zeros((3, K + 1))
    z0[0] = np.linspace(0.0, 1.0, K + 1)
    res = sd.optimize.nlp(f, z, z0, g=g, lbx=lbx, ubx=ubx)   # g = 0 (equalities)
    print(f"{res.solver}: {res.message}")
    print(f"  {z.shape[0] * z.shape[1]} variables, {g.shape[0]} constraints, {res.nit} iterations, effort {res.fun:.6f}")
    print(f"  max |defect| {np.abs(res.g).max():.2e}, control in [{res.x[2].min():.3f}, {res.x[2].max():.3f}]")
    print(f"  time in compiled derivatives {sum(res.timings.values()) * 1e3:.1f} ms over {sum(res.calls.values())} "
          "calls (the first call of each kernel includes loading it)")
    assert res.success and np.abs(res.g).max() < 1e-6
    assert abs(res.x[0, -1] - 1.0) < 1e-6 and abs(res.x[1, -1]) < 1e-6


if __name__ == "__main__":
    main()
