"""Bundle adjustment as nonlinear least squares: sd.optimize.least_squares with the exact sparse
Jacobian (ADBench's residuals from examples/adbench.py).

A small scene: 4 cameras placed around 30 points, 120 observations; the observed features are
the true reprojections. Starting from perturbed cameras and points, SciPy's trust-region solver
gets symdiff's compiled residuals and its sparse Jacobian (pattern from the graph, columns
coloured: 14 Jacobian-vector products instead of 180 columns) and drives the reprojection error
to zero. (The gauge - a common rotation, translation and scale of the scene - is fixed by
holding camera 0 and one coordinate of camera 1 through tight bounds.)

Run:  python examples/ba_least_squares.py
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

import symdiff as sd
import symdiff.numpy as snp

_spec = importlib.util.spec_from_file_location("adbench", Path(__file__).resolve().parent / "adbench.py")
A = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(A)


def scene(N: int = 4, M: int = 30, P: int = 120, seed: int = 0):
    """Cameras on a circle looking at points near the origin (rotations small: the points sit in
    front of each camera along its z axis), and observation j of camera j mod N, point j mod M."""
    rng = np.random.default_rng(seed)
    cams = np.zeros((N, 11))
    cams[:, 0:3] = 0.05 * rng.standard_normal((N, 3))          # small Rodrigues rotations
    cams[:, 3] = np.linspace(-1.0, 1.0, N)                       # centres spread along x
    cams[:, 5] = -6.0                                            # 6 units in front of the points
    cams[:, 6] = 500.0                                           # focal length
    cams[:, 9], cams[:, 10] = 1e-3, 1e-5                         # radial distortion
    points = rng.uniform(-1.0, 1.0, (M, 3))
    j = np.arange(P)
    return cams, points, np.ones(P), j % N, j % M


def main() -> None:
    N, M, P = 4, 30, 120
    cams, points, weights, cam_idx, pt_idx = scene(N, M, P)
    n = 11 * N + 3 * M
    x = sd.tensor("x", (n,))
    features = sd.tensor("features", (P, 2))
    r = A.ba_residuals(snp, x[:11 * N].reshape(N, 11), x[11 * N:].reshape(M, 3), sd.constant(weights),
                       features, cam_idx, pt_idx)
    truth = np.concatenate([cams.ravel(), points.ravel()])
    observed = sd.evaluate(r, {x: truth, features: np.zeros((P, 2))})[:2 * P].reshape(P, 2)

    rng = np.random.default_rng(1)
    start = truth.copy()
    start[11 * N:] += 0.05 * rng.standard_normal(3 * M)          # points off by 5 cm
    start[11:11 * N] *= 1 + 1e-3 * rng.standard_normal(11 * (N - 1))  # cameras 1.. slightly off
    lo, hi = np.full(n, -np.inf), np.full(n, np.inf)
    fixed = np.r_[np.arange(11), 11 + 3]                         # camera 0, camera 1's centre x
    lo[fixed], hi[fixed] = truth[fixed] - 1e-12, truth[fixed] + 1e-12
    start[fixed] = truth[fixed]

    res = sd.optimize.least_squares(r, x, start, inputs={features: observed}, bounds=(lo, hi),
                                    x_scale="jac", ftol=1e-12, xtol=1e-12, gtol=1e-12)
    rms0 = np.sqrt(np.mean(sd.evaluate(r, {x: start, features: observed})[:2 * P] ** 2))
    rms = np.sqrt(np.mean(res.fun[:2 * P] ** 2))
    print(f"BA {N} cameras, {M} points, {P} observations: Jacobian {res.jac.shape}, {res.jac.nnz} non-zeros, "
          f"{res.n_colours} colours ({res.colouring})")
    print(f"  reprojection RMS {rms0:.3g} px -> {rms:.3g} px in {res.nfev} evaluations ({res.message})")
    assert rms < 1e-4, "the fit did not converge"


if __name__ == "__main__":
    main()
