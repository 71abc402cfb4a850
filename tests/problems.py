"""Published optimisation test problems, written the way a ``jax.numpy`` user writes them.

Each problem is a function ``f(x, np_, nn=None, special=None, vmap=None)`` of a vector ``x``:
``np_`` is the array namespace (``jax.numpy`` or ``symdiff.numpy``), ``nn`` is ``jax.nn`` or
``symdiff.nn``, ``special`` is ``jax.scipy.special`` or ``symdiff.scipy.special`` and ``vmap`` is
``jax.vmap`` or ``symdiff.vmap``. The bodies are ordinary JAX code (slicing, ``x.at[].set``,
``jnp.array([...])`` of expressions, Python loops, ``vmap`` over data rows), so running them on both
namespaces checks that symdiff is a drop-in replacement for a port that changes import lines only.

Sources: Moré, Garbow & Hillstrom, "Testing unconstrained optimization software", ACM TOMS 7
(1981) (``mgh_*``); the CUTE/CUTEst collection as listed by Andrei, "An unconstrained optimization
test functions collection" (2008) (``cute_*``); the global-optimisation benchmarks of Jamil & Yang
(2013) and the Virtual Library of Simulation Experiments (``glob_*``); and small machine-learning
objectives on fixed data (``ml_*``); ``src_*`` are whole JAX source files, ported as the judged
collection is, by changing import lines only (``port_source``). ``PROBLEMS`` lists them all with a size and a starting point
chosen away from kinks of ``abs``/``max``.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["Problem", "PROBLEMS", "BY_NAME"]


@dataclass(frozen=True)
class Problem:
    """One test problem: ``fn(x, np_, nn, special, vmap)`` with a size ``n`` and a start ``x0``."""

    name: str
    fn: Callable
    n: int
    x0: np.ndarray
    scale: float = 0.1  # size of the random perturbation for the nearby point, relative to 1 + |x0|


PROBLEMS: list[Problem] = []


def problem(n: int, x0, name: str | None = None, scale: float = 0.1) -> Callable:
    """Register ``fn`` as a problem of size ``n`` starting at ``x0`` (a sequence or a function of n)."""

    def register(fn: Callable) -> Callable:
        start = np.asarray(x0(n) if callable(x0) else x0, dtype=np.float64)
        if start.ndim == 0:
            start = np.full(n, float(start))
        assert start.shape == (n,), (fn.__name__, start.shape, n)
        PROBLEMS.append(Problem(name or fn.__name__, fn, n, start, scale))
        return fn

    return register


# =============================================================================================
# Moré, Garbow & Hillstrom (1981)
# =============================================================================================
@problem(2, [-1.2, 1.0])
def mgh_rosenbrock(x, np_, nn=None, special=None, vmap=None):
    r = np_.array([10.0 * (x[1] - x[0] ** 2), 1.0 - x[0]])
    return np_.sum(r ** 2)


@problem(2, [0.5, -2.0])
def mgh_freudenstein_roth(x, np_, nn=None, special=None, vmap=None):
    f1 = -13.0 + x[0] + ((5.0 - x[1]) * x[1] - 2.0) * x[1]
    f2 = -29.0 + x[0] + ((x[1] + 1.0) * x[1] - 14.0) * x[1]
    return f1 ** 2 + f2 ** 2


@problem(2, [0.0, 1.0])
def mgh_powell_badly_scaled(x, np_, nn=None, special=None, vmap=None):
    f1 = 1e4 * x[0] * x[1] - 1.0
    f2 = np_.exp(-x[0]) + np_.exp(-x[1]) - 1.0001
    return f1 ** 2 + f2 ** 2


@problem(2, [1.0, 1.0])
def mgh_brown_badly_scaled(x, np_, nn=None, special=None, vmap=None):
    r = np_.array([x[0] - 1e6, x[1] - 2e-6, x[0] * x[1] - 2.0])
    return np_.dot(r, r)


@problem(2, [1.0, 1.0])
def mgh_beale(x, np_, nn=None, special=None, vmap=None):
    y = np_.array([1.5, 2.25, 2.625])
    i = np_.arange(1, 4)
    r = y - x[0] * (1.0 - x[1] ** i)
    return np_.sum(r ** 2)


@problem(2, [0.3, 0.4])
def mgh_jennrich_sampson(x, np_, nn=None, special=None, vmap=None):
    i = np_.arange(1, 11)
    r = 2.0 + 2.0 * i - (np_.exp(i * x[0]) + np_.exp(i * x[1]))
    return np_.sum(r ** 2)


@problem(3, [-1.0, 0.0, 0.0])
def mgh_helical_valley(x, np_, nn=None, special=None, vmap=None):
    theta = np_.arctan2(x[1], x[0]) / (2.0 * np_.pi)
    f1 = 10.0 * (x[2] - 10.0 * theta)
    f2 = 10.0 * (np_.sqrt(x[0] ** 2 + x[1] ** 2) - 1.0)
    f3 = x[2]
    return f1 ** 2 + f2 ** 2 + f3 ** 2


_BARD_Y = np.array([0.14, 0.18, 0.22, 0.25, 0.29, 0.32, 0.35, 0.39, 0.37, 0.58, 0.73, 0.96, 1.34,
                    2.10, 4.39])


@problem(3, [1.0, 1.0, 1.0])
def mgh_bard(x, np_, nn=None, special=None, vmap=None):
    u = np_.arange(1, 16)
    v = 16 - u
    w = np_.minimum(u, v)
    r = _BARD_Y - (x[0] + u / (v * x[1] + w * x[2]))
    return np_.sum(r ** 2)


_GAUSS_Y = np.array([0.0009, 0.0044, 0.0175, 0.0540, 0.1295, 0.2420, 0.3521, 0.3989, 0.3521,
                     0.2420, 0.1295, 0.0540, 0.0175, 0.0044, 0.0009])


@problem(3, [0.4, 1.0, 0.0])
def mgh_gaussian(x, np_, nn=None, special=None, vmap=None):
    t = (8.0 - np_.arange(1, 16)) / 2.0
    r = x[0] * np_.exp(-x[1] * (t - x[2]) ** 2 / 2.0) - np_.array(_GAUSS_Y)
    return np_.sum(r ** 2)


_MEYER_Y = np.array([34780.0, 28610.0, 23650.0, 19630.0, 16370.0, 13720.0, 11540.0, 9744.0, 8261.0,
                     7030.0, 6005.0, 5147.0, 4427.0, 3820.0, 3307.0, 2872.0])


@problem(3, [0.02, 4000.0, 250.0], scale=0.02)
def mgh_meyer(x, np_, nn=None, special=None, vmap=None):
    t = 45.0 + 5.0 * np_.arange(1, 17)
    r = x[0] * np_.exp(x[1] / (t + x[2])) - _MEYER_Y
    return np_.sum(r ** 2)


@problem(3, [5.0, 2.5, 0.15])
def mgh_gulf(x, np_, nn=None, special=None, vmap=None):
    m = 99
    t = np_.arange(1, m + 1) / 100.0
    y = 25.0 + (-50.0 * np_.log(t)) ** (2.0 / 3.0)
    r = np_.exp(-np_.abs(y - x[1]) ** x[2] / x[0]) - t
    return np_.sum(r ** 2)


@problem(3, [0.0, 10.0, 20.0])
def mgh_box3d(x, np_, nn=None, special=None, vmap=None):
    t = 0.1 * np_.arange(1, 11)
    r = np_.exp(-t * x[0]) - np_.exp(-t * x[1]) - x[2] * (np_.exp(-t) - np_.exp(-10.0 * t))
    return np_.sum(r ** 2)


@problem(4, [3.0, -1.0, 0.0, 1.0])
def mgh_powell_singular(x, np_, nn=None, special=None, vmap=None):
    f1 = x[0] + 10.0 * x[1]
    f2 = np_.sqrt(5.0) * (x[2] - x[3])
    f3 = (x[1] - 2.0 * x[2]) ** 2
    f4 = np_.sqrt(10.0) * (x[0] - x[3]) ** 2
    return f1 ** 2 + f2 ** 2 + f3 ** 2 + f4 ** 2


@problem(4, [-3.0, -1.0, -3.0, -1.0])
def mgh_wood(x, np_, nn=None, special=None, vmap=None):
    r = np_.array([
        10.0 * (x[1] - x[0] ** 2),
        1.0 - x[0],
        np_.sqrt(90.0) * (x[3] - x[2] ** 2),
        1.0 - x[2],
        np_.sqrt(10.0) * (x[1] + x[3] - 2.0),
        (x[1] - x[3]) / np_.sqrt(10.0),
    ])
    return np_.sum(r ** 2)


_KOW_Y = np.array([0.1957, 0.1947, 0.1735, 0.1600, 0.0844, 0.0627, 0.0456, 0.0342, 0.0323, 0.0235,
                   0.0246])
_KOW_U = np.array([4.0, 2.0, 1.0, 0.5, 0.25, 0.167, 0.125, 0.1, 0.0833, 0.0714, 0.0625])


@problem(4, [0.25, 0.39, 0.415, 0.39])
def mgh_kowalik_osborne(x, np_, nn=None, special=None, vmap=None):
    u = np_.array(_KOW_U)
    y = np_.array(_KOW_Y)
    r = y - x[0] * (u ** 2 + u * x[1]) / (u ** 2 + u * x[2] + x[3])
    return np_.sum(r ** 2)


@problem(4, [25.0, 5.0, -5.0, -1.0])
def mgh_brown_dennis(x, np_, nn=None, special=None, vmap=None):
    t = np_.arange(1, 21) / 5.0
    r = (x[0] + t * x[1] - np_.exp(t)) ** 2 + (x[2] + x[3] * np_.sin(t) - np_.cos(t)) ** 2
    return np_.sum(r ** 2)


_OSB1_Y = np.array([0.844, 0.908, 0.932, 0.936, 0.925, 0.908, 0.881, 0.850, 0.818, 0.784, 0.751,
                    0.718, 0.685, 0.658, 0.628, 0.603, 0.580, 0.558, 0.538, 0.522, 0.506, 0.490,
                    0.478, 0.467, 0.457, 0.448, 0.438, 0.431, 0.424, 0.420, 0.414, 0.411, 0.406])


@problem(5, [0.5, 1.5, -1.0, 0.01, 0.02])
def mgh_osborne1(x, np_, nn=None, special=None, vmap=None):
    t = 10.0 * np_.arange(33)
    model = x[0] + x[1] * np_.exp(-t * x[3]) + x[2] * np_.exp(-t * x[4])
    return np_.sum((_OSB1_Y - model) ** 2)


@problem(6, [1.0, 2.0, 1.0, 1.0, 1.0, 1.0])
def mgh_biggs_exp6(x, np_, nn=None, special=None, vmap=None):
    t = 0.1 * np_.arange(1, 14)
    y = np_.exp(-t) - 5.0 * np_.exp(-10.0 * t) + 3.0 * np_.exp(-4.0 * t)
    r = x[2] * np_.exp(-t * x[0]) - x[3] * np_.exp(-t * x[1]) + x[5] * np_.exp(-t * x[4]) - y
    return np_.sum(r ** 2)


_OSB2_Y = np.array([
    1.366, 1.191, 1.112, 1.013, 0.991, 0.885, 0.831, 0.847, 0.786, 0.725, 0.746, 0.679, 0.608,
    0.655, 0.616, 0.606, 0.602, 0.626, 0.651, 0.724, 0.649, 0.649, 0.694, 0.644, 0.624, 0.661,
    0.612, 0.558, 0.533, 0.495, 0.500, 0.423, 0.395, 0.375, 0.372, 0.391, 0.396, 0.405, 0.428,
    0.429, 0.523, 0.562, 0.607, 0.653, 0.672, 0.708, 0.633, 0.668, 0.645, 0.632, 0.591, 0.559,
    0.597, 0.625, 0.739, 0.710, 0.729, 0.720, 0.636, 0.581, 0.428, 0.292, 0.162, 0.098, 0.054])


@problem(11, [1.3, 0.65, 0.65, 0.7, 0.6, 3.0, 5.0, 7.0, 2.0, 4.5, 5.5], scale=0.05)
def mgh_osborne2(x, np_, nn=None, special=None, vmap=None):
    t = np_.arange(65) / 10.0
    model = x[0] * np_.exp(-t * x[4])
    for k in range(3):  # three Gaussian bumps: heights x[1:4], widths x[5:8], centres x[8:11]
        model = model + x[1 + k] * np_.exp(-((t - x[8 + k]) ** 2) * x[5 + k])
    return np_.sum((np_.array(_OSB2_Y) - model) ** 2)


@problem(6, 0.0)
def mgh_watson(x, np_, nn=None, special=None, vmap=None):
    n = x.shape[0]
    t = np_.arange(1, 30) / 29.0
    j = np_.arange(n)
    s1 = np_.sum(j[1:] * x[1:] * t[:, None] ** (j[1:] - 1), axis=1)
    s2 = np_.sum(x * t[:, None] ** j, axis=1)
    r = s1 - s2 ** 2 - 1.0
    return np_.sum(r ** 2) + x[0] ** 2 + (x[1] - x[0] ** 2 - 1.0) ** 2


@problem(30, lambda n: np.tile([-1.2, 1.0], n // 2))
def mgh_extended_rosenbrock(x, np_, nn=None, special=None, vmap=None):
    odd, even = x[::2], x[1::2]
    return np_.sum((10.0 * (even - odd ** 2)) ** 2 + (1.0 - odd) ** 2)


@problem(12, lambda n: np.tile([3.0, -1.0, 0.0, 1.0], n // 4))
def mgh_extended_powell(x, np_, nn=None, special=None, vmap=None):
    x1, x2, x3, x4 = x[0::4], x[1::4], x[2::4], x[3::4]
    return np_.sum((x1 + 10 * x2) ** 2 + 5 * (x3 - x4) ** 2 + (x2 - 2 * x3) ** 4
                   + 10 * (x1 - x4) ** 4)


@problem(10, lambda n: np.arange(1.0, n + 1))
def mgh_penalty1(x, np_, nn=None, special=None, vmap=None):
    a = 1e-5
    return a * np_.sum((x - 1.0) ** 2) + (np_.sum(x ** 2) - 0.25) ** 2


@problem(10, 0.5)
def mgh_penalty2(x, np_, nn=None, special=None, vmap=None):
    a = 1e-5
    n = x.shape[0]
    i = np_.arange(2, n + 1)
    y = np_.exp(i / 10.0) + np_.exp((i - 1) / 10.0)
    f1 = x[0] - 0.2
    f2 = np_.sqrt(a) * (np_.exp(x[1:] / 10.0) + np_.exp(x[:-1] / 10.0) - y)
    f3 = np_.sqrt(a) * (np_.exp(x[1:] / 10.0) - np_.exp(-1.0 / 10.0))
    f4 = np_.sum((n - np_.arange(n)) * x ** 2) - 1.0
    return f1 ** 2 + np_.sum(f2 ** 2) + np_.sum(f3 ** 2) + f4 ** 2


@problem(10, lambda n: 1.0 - np.arange(1, n + 1) / n)
def mgh_variably_dimensioned(x, np_, nn=None, special=None, vmap=None):
    j = np_.arange(1, x.shape[0] + 1)
    s = np_.sum(j * (x - 1.0))
    return np_.sum((x - 1.0) ** 2) + s ** 2 + s ** 4


@problem(10, lambda n: np.full(n, 1.0 / n))
def mgh_trigonometric(x, np_, nn=None, special=None, vmap=None):
    n = x.shape[0]
    i = np_.arange(1, n + 1)
    r = n - np_.sum(np_.cos(x)) + i * (1.0 - np_.cos(x)) - np_.sin(x)
    return np_.sum(r ** 2)


@problem(10, 0.5)
def mgh_brown_almost_linear(x, np_, nn=None, special=None, vmap=None):
    n = x.shape[0]
    r = x[:-1] + np_.sum(x) - (n + 1)
    return np_.sum(r ** 2) + (np_.prod(x) - 1.0) ** 2


@problem(10, lambda n: (np.arange(1, n + 1) / (n + 1)) * (np.arange(1, n + 1) / (n + 1) - 1.0))
def mgh_discrete_boundary_value(x, np_, nn=None, special=None, vmap=None):
    n = x.shape[0]
    h = 1.0 / (n + 1)
    t = np_.arange(1, n + 1) * h
    xp = np_.pad(x, 1)  # x_0 = x_{n+1} = 0
    r = 2.0 * x - xp[:-2] - xp[2:] + h ** 2 * (x + t + 1.0) ** 3 / 2.0
    return np_.sum(r ** 2)


@problem(20, lambda n: (np.arange(1, n + 1) / (n + 1)) * (np.arange(1, n + 1) / (n + 1) - 1.0))
def mgh_discrete_integral_equation(x, np_, nn=None, special=None, vmap=None):
    n = x.shape[0]
    h = 1.0 / (n + 1)
    t = np_.arange(1, n + 1) * h
    u = (x + t + 1.0) ** 3
    lower = np_.cumsum(t * u)                                  # sum over j <= i
    upper = np_.cumsum(((1.0 - t) * u)[::-1])[::-1] - (1.0 - t) * u  # sum over j > i
    r = x + h * ((1.0 - t) * lower + t * upper) / 2.0
    return np_.sum(r ** 2)


@problem(20, -1.0)
def mgh_broyden_tridiagonal(x, np_, nn=None, special=None, vmap=None):
    xp = np_.concatenate([np_.zeros(1), x, np_.zeros(1)])
    r = (3.0 - 2.0 * x) * x - xp[:-2] - 2.0 * xp[2:] + 1.0
    return np_.sum(r ** 2)


@problem(10, -1.0)
def mgh_broyden_banded(x, np_, nn=None, special=None, vmap=None):
    n = x.shape[0]
    residuals = []
    for i in range(n):
        s = 0.0
        for j in range(max(0, i - 5), min(n, i + 2)):
            if j != i:
                s = s + x[j] * (1.0 + x[j])
        residuals.append(x[i] * (2.0 + 5.0 * x[i] ** 2) + 1.0 - s)
    r = np_.array(residuals)
    return np_.sum(r ** 2)


@problem(8, 1.0)
def mgh_linear_full_rank(x, np_, nn=None, special=None, vmap=None):
    n = x.shape[0]
    m = 2 * n
    s = np_.sum(x)
    r_head = x - 2.0 / m * s - 1.0
    r_tail = -2.0 / m * s - 1.0
    return np_.sum(r_head ** 2) + (m - n) * r_tail ** 2


@problem(8, 1.0)
def mgh_linear_rank1(x, np_, nn=None, special=None, vmap=None):
    n = x.shape[0]
    m = n + 4
    s = np_.dot(np_.arange(1, n + 1), x)
    r = np_.arange(1, m + 1) * s - 1.0
    return np_.sum(r ** 2)


@problem(8, 1.0)
def mgh_linear_rank1_zero_cols(x, np_, nn=None, special=None, vmap=None):
    n = x.shape[0]
    m = n + 4
    j = np_.arange(2, n)
    s = np_.sum(j * x[1:-1])
    r = np_.arange(1, m - 1) * s - 1.0  # rows 2..m-1; rows 1 and m are the constant -1
    return 2.0 + np_.sum(r ** 2)


@problem(8, lambda n: np.arange(1, n + 1) / (n + 1))
def mgh_chebyquad(x, np_, nn=None, special=None, vmap=None):
    n = x.shape[0]
    y = 2.0 * x - 1.0
    t_prev, t_cur = np_.ones_like(y), y
    total = 0.0
    for i in range(1, n + 1):
        if i > 1:
            t_prev, t_cur = t_cur, 2.0 * y * t_cur - t_prev
        integral = -1.0 / (i * i - 1) if i % 2 == 0 else 0.0
        total = total + (np_.mean(t_cur) - integral) ** 2
    return total


# =============================================================================================
# CUTE / CUTEst unconstrained problems
# =============================================================================================
@problem(10, 1.0)
def cute_arwhead(x, np_, nn=None, special=None, vmap=None):
    return np_.sum(-4.0 * x[:-1] + 3.0) + np_.sum((x[:-1] ** 2 + x[-1] ** 2) ** 2)


@problem(20, 1.0)
def cute_bdqrtic(x, np_, nn=None, special=None, vmap=None):
    q = x[:-4] ** 2 + 2 * x[1:-3] ** 2 + 3 * x[2:-2] ** 2 + 4 * x[3:-1] ** 2 + 5 * x[-1] ** 2
    return np_.sum((-4.0 * x[:-4] + 3.0) ** 2 + q ** 2)


@problem(20, lambda n: np.tile([-3.0, -1.0], n // 2))
def cute_chainwoo(x, np_, nn=None, special=None, vmap=None):
    a, b, c, d = x[0:-2:2], x[1:-2:2], x[2::2], x[3::2]
    return 1.0 + np_.sum(100 * (b - a ** 2) ** 2 + (1 - a) ** 2 + 90 * (d - c ** 2) ** 2
                         + (1 - c) ** 2 + 10 * (b + d - 2) ** 2 + 0.1 * (b - d) ** 2)


@problem(10, 1.0)
def cute_cosine(x, np_, nn=None, special=None, vmap=None):
    return np_.sum(np_.cos(-0.5 * x[1:] + x[:-1] ** 2))


@problem(8, lambda n: np.r_[1.0, np.full(n - 1, 2.0)], scale=0.02)
def cute_cragglvy(x, np_, nn=None, special=None, vmap=None):
    a, b, c, d = x[0:-2:2], x[1:-2:2], x[2::2], x[3::2]
    return np_.sum((np_.exp(a) - b) ** 4 + 100 * (b - c) ** 6 + (np_.tan(c - d) + c - d) ** 4
                   + a ** 8 + (d - 1) ** 2)


def _dixmaan(alpha, beta, gamma, delta, k):
    def dixmaan(x, np_, nn=None, special=None, vmap=None):
        n = x.shape[0]
        m = n // 3
        r = np_.arange(1, n + 1) / n
        t1 = alpha * np_.sum(x ** 2 * r ** k[0])
        t2 = beta * np_.sum(x[:-1] ** 2 * (x[1:] + x[1:] ** 2) ** 2 * r[:-1] ** k[1])
        t3 = gamma * np_.sum(x[:2 * m] ** 2 * x[m:] ** 4 * r[:2 * m] ** k[2])
        t4 = delta * np_.sum(x[:m] * x[2 * m:] * r[:m] ** k[3])
        return 1.0 + t1 + t2 + t3 + t4

    return dixmaan


problem(30, 2.0, "cute_dixmaana")(_dixmaan(1.0, 0.0, 0.125, 0.125, (0, 0, 0, 0)))
problem(12, 2.0, "cute_dixmaanb")(_dixmaan(1.0, 0.0625, 0.0625, 0.0625, (0, 0, 0, 1)))
problem(12, 2.0, "cute_dixmaane")(_dixmaan(1.0, 0.0, 0.125, 0.125, (1, 0, 0, 1)))
problem(12, 2.0, "cute_dixmaanf")(_dixmaan(1.0, 0.0625, 0.0625, 0.0625, (1, 0, 0, 1)))


@problem(10, 3.0)
def cute_dqdrtic(x, np_, nn=None, special=None, vmap=None):
    return np_.sum(x[:-2] ** 2 + 100 * x[1:-1] ** 2 + 100 * x[2:] ** 2)


@problem(10, 0.0)
def cute_edensch(x, np_, nn=None, special=None, vmap=None):
    return 16.0 + np_.sum((x[:-1] - 2) ** 4 + (x[:-1] * x[1:] - 2 * x[1:]) ** 2 + (x[1:] + 1) ** 2)


@problem(10, 2.0)
def cute_engval1(x, np_, nn=None, special=None, vmap=None):
    return np_.sum((x[:-1] ** 2 + x[1:] ** 2) ** 2 - 4 * x[:-1] + 3)


@problem(30, 0.0)
def cute_fletchcr(x, np_, nn=None, special=None, vmap=None):
    return 100.0 * np_.sum((x[1:] - x[:-1] + 1 - x[:-1] ** 2) ** 2)


@problem(10, lambda n: np.r_[0.5, -2.0, np.zeros(n - 2)])
def cute_freuroth(x, np_, nn=None, special=None, vmap=None):
    u, v = x[:-1], x[1:]
    return np_.sum((-13 + u + ((5 - v) * v - 2) * v) ** 2 + (-29 + u + ((1 + v) * v - 14) * v) ** 2)


@problem(6, lambda n: np.r_[-506.2, np.full(n - 1, 506.2)], scale=0.001)
def cute_genhumps(x, np_, nn=None, special=None, vmap=None):
    s = np_.sin(2 * x) ** 2
    return np_.sum(s[:-1] * s[1:] + 0.05 * (x[:-1] ** 2 + x[1:] ** 2))


@problem(10, 4.0)
def cute_liarwhd(x, np_, nn=None, special=None, vmap=None):
    return np_.sum(4 * (x ** 2 - x[0]) ** 2 + (x - 1) ** 2)


@problem(10, -1.0)
def cute_nondia(x, np_, nn=None, special=None, vmap=None):
    return (x[0] - 1) ** 2 + np_.sum(100 * (x[0] - x[:-1] ** 2) ** 2)


@problem(10, lambda n: np.tile([1.0, -1.0], n // 2))
def cute_nondquar(x, np_, nn=None, special=None, vmap=None):
    return ((x[0] - x[1]) ** 2 + (x[-2] + x[-1]) ** 2
            + np_.sum((x[:-2] + x[1:-1] + x[-1]) ** 4))


@problem(10, 1.0)
def cute_power(x, np_, nn=None, special=None, vmap=None):
    i = np_.arange(1, len(x) + 1)
    return np_.sum(i * x ** 2) ** 2


@problem(10, 2.0)
def cute_quartc(x, np_, nn=None, special=None, vmap=None):
    return np_.sum((x - np_.arange(1, x.shape[0] + 1)) ** 4)


@problem(10, 3.0)
def cute_schmvett(x, np_, nn=None, special=None, vmap=None):
    a, b, c = x[:-2], x[1:-1], x[2:]
    return np_.sum(-1.0 / (1.0 + (a - b) ** 2) - np_.sin((np_.pi * b + c) / 2.0)
                   - np_.exp(-(((a + c) / b - 2.0) ** 2)))


@problem(10, 0.1)
def cute_sinquad(x, np_, nn=None, special=None, vmap=None):
    mid = x[1:-1]
    return ((x[0] - 1) ** 4 + np_.sum((np_.sin(mid - x[-1]) - x[0] ** 2 + mid ** 2) ** 2)
            + (x[-1] ** 2 - x[0] ** 2) ** 2)


@problem(10, lambda n: np.tile([-1.2, 1.0], n // 2))
def cute_srosenbr(x, np_, nn=None, special=None, vmap=None):
    X = x.reshape(-1, 2)
    return np_.sum(100 * (X[:, 1] - X[:, 0] ** 2) ** 2 + (X[:, 0] - 1) ** 2)


@problem(10, 3.0)
def cute_tointgss(x, np_, nn=None, special=None, vmap=None):
    n = x.shape[0]
    a, b, c = x[:-2], x[1:-1], x[2:]
    return np_.sum((10.0 / (n + 2) + c ** 2) * (2.0 - np_.exp(-((a - b) ** 2) / (0.1 + c ** 2))))


@problem(10, 0.1)
def cute_tquartic(x, np_, nn=None, special=None, vmap=None):
    return (x[0] - 1) ** 2 + np_.sum((x[0] ** 2 - x[1:] ** 2) ** 2)


@problem(10, lambda n: 1.0 - np.arange(1, n + 1) / n)
def cute_vardim(x, np_, nn=None, special=None, vmap=None):
    n = x.shape[0]
    s = np_.sum(np_.arange(1, n + 1) * x) - n * (n + 1) / 2.0
    return np_.sum((x - 1) ** 2) + s ** 2 + s ** 4


@problem(6, [0.0, 0.0, 1.0, 1.0, 1.0, 1.0], scale=0.05)
def cute_heart6ls(x, np_, nn=None, special=None, vmap=None):
    a, c, t, u, v, w = x[0], x[1], x[2], x[3], x[4], x[5]
    smx, smy, sa, sb, sc, sd, se, sf = -0.816, -0.017, -1.826, -0.754, -4.839, -3.259, -14.023, 15.467
    b, d = smx - a, smy - c
    r = np_.array([
        t * a + v * b - u * c - w * d - sa,
        u * a + w * b + t * c + v * d - sb,
        a * (t ** 2 - u ** 2) + b * (v ** 2 - w ** 2) - 2 * c * t * u - 2 * d * v * w - sc,
        c * (t ** 2 - u ** 2) + d * (v ** 2 - w ** 2) + 2 * a * t * u + 2 * b * v * w - sd,
        a * t * (t ** 2 - 3 * u ** 2) + b * v * (v ** 2 - 3 * w ** 2)
        + c * u * (u ** 2 - 3 * t ** 2) + d * w * (w ** 2 - 3 * v ** 2) - se,
        c * t * (t ** 2 - 3 * u ** 2) + d * v * (v ** 2 - 3 * w ** 2)
        - a * u * (u ** 2 - 3 * t ** 2) - b * w * (w ** 2 - 3 * v ** 2) - sf,
    ])
    return np_.sum(r ** 2)


_MAT_A = np.array([[1.0, 0.5, -0.2], [0.3, 2.0, 0.1], [-0.4, 0.2, 1.5]])
_MAT_B = np.array([[0.0, 1.0, 0.3], [-1.0, 0.5, 0.0], [0.2, -0.3, 1.0]])
_MAT_C = np.array([[1.0, -2.0, 0.5], [0.0, 1.0, -1.0], [0.7, 0.1, -0.5]])


@problem(9, lambda n: np.eye(3).ravel() * 0.5 + 0.1)
def cute_matrix_quadratic(x, np_, nn=None, special=None, vmap=None):
    X = x.reshape(3, 3)
    R = np_.array(_MAT_A) @ X @ X + np_.array(_MAT_B) @ X + np_.array(_MAT_C)
    return np_.sum(R ** 2)



@problem(10, -1.0)
def cute_dixon3dq(x, np_, nn=None, special=None, vmap=None):
    return (x[0] - 1) ** 2 + np_.sum((x[1:-1] - x[2:]) ** 2) + (x[-1] - 1) ** 2


@problem(10, 1.0)
def cute_eg2(x, np_, nn=None, special=None, vmap=None):
    return np_.sum(np_.sin(x[0] + x[:-1] ** 2 - 1.0)) + 0.5 * np_.sin(x[-1] ** 2)


@problem(3, [1.0, 2.0, 0.0])
def cute_engval2(x, np_, nn=None, special=None, vmap=None):
    x1, x2, x3 = x
    return ((x1 ** 2 + x2 ** 2 + x3 ** 2 - 1) ** 2 + (x1 ** 2 + x2 ** 2 + (x3 - 2) ** 2 - 1) ** 2
            + (x1 + x2 + x3 - 1) ** 2 + (x1 + x2 - x3 + 1) ** 2
            + (x1 ** 3 + 3 * x2 ** 2 + (5 * x3 - x1 + 1) ** 2 - 36) ** 2)


@problem(10, -1.0)
def cute_extrosnb(x, np_, nn=None, special=None, vmap=None):
    return (x[0] - 1) ** 2 + np_.sum(100 * (x[1:] - x[:-1] ** 2) ** 2)


@problem(10, lambda n: np.arange(1.0, n + 1))
def cute_noncvxun(x, np_, nn=None, special=None, vmap=None):
    n = x.shape[0]
    i = np_.arange(1, n + 1)
    s = x + x[(2 * i - 1) % n] + x[(3 * i - 1) % n]
    return np_.sum(s ** 2 + 4 * np_.cos(s))


@problem(10, 0.5)
def cute_sparsqur(x, np_, nn=None, special=None, vmap=None):
    n = x.shape[0]
    i = np_.arange(1, n + 1)
    q = sum(x[(k * i - 1) % n] ** 2 for k in range(1, 6))
    return np_.sum(0.5 * i * q ** 2)


@problem(6, lambda n: np.arange(1, n + 1) / n)
def cute_sensors(x, np_, nn=None, special=None, vmap=None):
    s = np_.sin(x)
    inner = np_.sum(s[:, None] * s[None, :] * np_.sin(x[:, None] - x[None, :]), axis=1)
    return np_.sum(inner ** 2)


@problem(10, 1.0)
def cute_tridia(x, np_, nn=None, special=None, vmap=None):
    alpha, beta, gamma, delta = 2.0, 1.0, 1.0, 1.0
    i = np_.arange(2, x.shape[0] + 1)
    return gamma * (delta * x[0] - 1) ** 2 + np_.sum(i * (alpha * x[1:] - beta * x[:-1]) ** 2)


@problem(12, lambda n: np.tile([-3.0, -1.0, -3.0, -1.0], n // 4))
def cute_woods(x, np_, nn=None, special=None, vmap=None):
    b = x.reshape(-1, 4)
    x1, x2, x3, x4 = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    return np_.sum(100 * (x2 - x1 ** 2) ** 2 + (1 - x1) ** 2 + 90 * (x4 - x3 ** 2) ** 2 + (1 - x3) ** 2
                   + 10 * (x2 + x4 - 2) ** 2 + 0.1 * (x2 - x4) ** 2)


_CHN_ALPHA = np.array([1.25, 1.40, 2.40, 1.40, 1.75, 1.20, 2.25, 1.20, 1.00, 1.10, 1.50, 1.60, 1.25,
                       1.25, 1.20, 1.20, 1.40, 0.50, 0.50, 1.25, 1.80, 0.75, 1.25, 1.40, 1.60])


@problem(10, -1.0)
def cute_chnrosnb(x, np_, nn=None, special=None, vmap=None):
    alpha = np_.array(_CHN_ALPHA[: x.shape[0]])
    return np_.sum(16 * alpha[1:] ** 2 * (x[:-1] - x[1:] ** 2) ** 2 + (x[1:] - 1) ** 2)


@problem(10, -1.0)
def cute_errinros(x, np_, nn=None, special=None, vmap=None):
    alpha = np_.array(_CHN_ALPHA[: x.shape[0]])
    return np_.sum((x[:-1] - 16 * alpha[1:] ** 2 * x[1:] ** 2) ** 2 + (x[1:] - 1) ** 2)


@problem(10, 1.0)
def cute_broydn7d(x, np_, nn=None, special=None, vmap=None):
    n = x.shape[0]
    xp = np_.pad(x, 1)
    r = (3 - x / 2) * x - xp[:-2] - 2 * xp[2:] + 1
    half = x[: n // 2] + x[n // 2:]
    return np_.sum(np_.abs(r) ** (7 / 3)) + np_.sum(np_.abs(half) ** (7 / 3))


@problem(12, lambda n: 1e-4 * np.arange(1, n + 1) / (n + 1))
def cute_curly(x, np_, nn=None, special=None, vmap=None):
    k = 3
    n = x.shape[0]
    c = np_.concatenate([np_.zeros(1), np_.cumsum(x)])
    hi = np_.minimum(np_.arange(n) + k + 1, n)
    q = c[hi] - c[:-1]  # q_i = x_i + ... + x_min(i+k, n)
    return np_.sum(q ** 4 - 20 * q ** 2 - 0.1 * q)


@problem(6, 0.0)
def cute_hilberta(x, np_, nn=None, special=None, vmap=None):
    i = np_.arange(1, x.shape[0] + 1)
    H = 1.0 / (i[:, None] + i[None, :] - 1)
    return 0.5 * x @ H @ x + np_.sum(x)


@problem(10, lambda n: np.arange(1, n + 1) / (n + 1))
def cute_genrose(x, np_, nn=None, special=None, vmap=None):
    return 1.0 + np_.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (x[1:] - 1) ** 2)


@problem(2, [1.0, 1.0])
def cute_denschna(x, np_, nn=None, special=None, vmap=None):
    return x[0] ** 4 + (x[0] + x[1]) ** 2 + (-1 + np_.exp(x[1])) ** 2


@problem(2, [1.0, 1.0])
def cute_denschnb(x, np_, nn=None, special=None, vmap=None):
    return (x[0] - 2) ** 2 + (x[0] - 2) ** 2 * x[1] ** 2 + (x[1] + 1) ** 2


@problem(2, [2.0, 3.0])
def cute_denschnc(x, np_, nn=None, special=None, vmap=None):
    return (-2 + x[0] ** 2 + x[1] ** 2) ** 2 + (-2 + np_.exp(x[0] - 1) + x[1] ** 3) ** 2


@problem(3, [10.0, 10.0, 10.0], scale=0.02)
def cute_denschnd(x, np_, nn=None, special=None, vmap=None):
    x1, x2, x3 = x[0], x[1], x[2]
    return ((x1 ** 2 + x2 ** 3 - x3 ** 4) ** 2 + (2 * x1 * x2 * x3) ** 2
            + (2 * x1 * x2 - 3 * x2 * x3 + x1 * x3) ** 2)


@problem(3, [2.0, 3.0, -8.0], scale=0.02)
def cute_denschne(x, np_, nn=None, special=None, vmap=None):
    return x[0] ** 2 + (x[1] + x[1] ** 2) ** 2 + (-1 + np_.exp(x[2])) ** 2


@problem(2, [2.0, 0.0])
def cute_denschnf(x, np_, nn=None, special=None, vmap=None):
    return ((2 * (x[0] + x[1]) ** 2 + (x[0] - x[1]) ** 2 - 8) ** 2
            + (5 * x[0] ** 2 + (x[1] - 3) ** 2 - 9) ** 2)


@problem(2, [3.0, -3.0])
def cute_s308(x, np_, nn=None, special=None, vmap=None):
    return (x[0] ** 2 + x[1] ** 2 + x[0] * x[1]) ** 2 + np_.sin(x[0]) ** 2 + np_.cos(x[1]) ** 2


@problem(2, [-5.0, -7.0], scale=0.01)
def cute_hairy(x, np_, nn=None, special=None, vmap=None):
    return (30 * np_.sin(7 * x[0]) ** 2 * np_.cos(7 * x[1]) ** 2
            + 0.01 * np_.sqrt(0.01 + (x[0] - x[1]) ** 2) + 0.01 * np_.sqrt(0.01 + x[0] ** 2))


@problem(2, [0.0, -1.0])
def cute_cliff(x, np_, nn=None, special=None, vmap=None):
    return (0.01 * x[0] - 0.03) ** 2 - x[0] + x[1] + np_.exp(20 * (x[0] - x[1]))


@problem(2, [1.0, 0.1])
def cute_sisser(x, np_, nn=None, special=None, vmap=None):
    return 3 * x[0] ** 4 - 2 * (x[0] * x[1]) ** 2 + 3 * x[1] ** 4


@problem(2, [1.1, 0.1], scale=0.01)
def cute_maratosb(x, np_, nn=None, special=None, vmap=None):
    return x[0] + 1e6 * (x[0] ** 2 + x[1] ** 2 - 1) ** 2


@problem(10, lambda n: np.linspace(0.1, 1.0, n))
def cute_at_loop_residuals(x, np_, nn=None, special=None, vmap=None):
    # residuals written into a vector one by one, the way MATLAB ports often read
    n = x.shape[0]
    r = np_.zeros(n + 2)
    for i in range(n):
        r = r.at[i].set(x[i] ** 2 - x[(i + 1) % n] + 0.1 * i)
    r = r.at[n].set(np_.sum(x) - 1.0)
    r = r.at[n + 1].add(np_.prod(x[:3]))
    return np_.dot(r, r)

# =============================================================================================
# Global-optimisation benchmarks
# =============================================================================================
@problem(5, lambda n: np.linspace(0.3, 1.7, n))
def glob_ackley(x, np_, nn=None, special=None, vmap=None):
    a, b, c = 20.0, 0.2, 2 * np_.pi
    return (-a * np_.exp(-b * np_.sqrt(np_.mean(x ** 2))) - np_.exp(np_.mean(np_.cos(c * x)))
            + a + np_.e)


@problem(20, lambda n: np.linspace(-2.3, 2.1, n))
def glob_rastrigin(x, np_, nn=None, special=None, vmap=None):
    return 10 * x.shape[0] + np_.sum(x ** 2 - 10 * np_.cos(2 * np_.pi * x))


@problem(6, lambda n: np.linspace(-30.0, 40.0, n))
def glob_griewank(x, np_, nn=None, special=None, vmap=None):
    i = np_.arange(1, x.shape[0] + 1)
    return 1.0 + np_.sum(x ** 2) / 4000.0 - np_.prod(np_.cos(x / np_.sqrt(i)))


@problem(6, lambda n: np.linspace(-3.0, 4.0, n))
def glob_levy(x, np_, nn=None, special=None, vmap=None):
    w = 1.0 + (x - 1.0) / 4.0
    head = np_.sin(np_.pi * w[0]) ** 2
    mid = np_.sum((w[:-1] - 1) ** 2 * (1 + 10 * np_.sin(np_.pi * w[:-1] + 1) ** 2))
    tail = (w[-1] - 1) ** 2 * (1 + np_.sin(2 * np_.pi * w[-1]) ** 2)
    return head + mid + tail


@problem(5, lambda n: np.linspace(1.2, 2.4, n))
def glob_michalewicz(x, np_, nn=None, special=None, vmap=None):
    m = 10
    i = np_.arange(1, x.shape[0] + 1)
    return -np_.sum(np_.sin(x) * np_.sin(i * x ** 2 / np_.pi) ** (2 * m))


@problem(5, lambda n: np.linspace(-300.0, 420.0, n))
def glob_schwefel(x, np_, nn=None, special=None, vmap=None):
    return 418.9829 * x.shape[0] - np_.sum(x * np_.sin(np_.sqrt(np_.abs(x))))


@problem(6, lambda n: np.linspace(-4.0, 3.0, n))
def glob_styblinski_tang(x, np_, nn=None, special=None, vmap=None):
    return 0.5 * np_.sum(x ** 4 - 16 * x ** 2 + 5 * x)


@problem(6, lambda n: np.linspace(-1.0, 2.0, n))
def glob_zakharov(x, np_, nn=None, special=None, vmap=None):
    s = np_.sum(0.5 * np_.arange(1, x.shape[0] + 1) * x)
    return np_.sum(x ** 2) + s ** 2 + s ** 4


@problem(6, 1.5)
def glob_dixon_price(x, np_, nn=None, special=None, vmap=None):
    i = np_.arange(2, x.shape[0] + 1)
    return (x[0] - 1) ** 2 + np_.sum(i * (2 * x[1:] ** 2 - x[:-1]) ** 2)


@problem(6, lambda n: np.linspace(-3.0, 5.0, n))
def glob_trid(x, np_, nn=None, special=None, vmap=None):
    return np_.sum((x - 1) ** 2) - np_.sum(x[1:] * x[:-1])


@problem(6, lambda n: np.linspace(0.5, 2.5, n), scale=0.05)
def glob_alpine1(x, np_, nn=None, special=None, vmap=None):
    return np_.sum(np_.abs(x * np_.sin(x) + 0.1 * x))


@problem(6, lambda n: np.linspace(0.5, 3.0, n))
def glob_qing(x, np_, nn=None, special=None, vmap=None):
    return np_.sum((x ** 2 - np_.arange(1, x.shape[0] + 1)) ** 2)


@problem(5, lambda n: np.linspace(-1.0, 1.5, n))
def glob_salomon(x, np_, nn=None, special=None, vmap=None):
    r = np_.linalg.norm(x)
    return 1 - np_.cos(2 * np_.pi * r) + 0.1 * r


@problem(5, lambda n: np.linspace(0.4, 2.0, n), scale=0.05)
def glob_xin_she_yang2(x, np_, nn=None, special=None, vmap=None):
    return np_.sum(np_.abs(x)) * np_.exp(-np_.sum(np_.sin(x ** 2)))


@problem(2, [0.4, -1.3])
def glob_shubert(x, np_, nn=None, special=None, vmap=None):
    i = np_.arange(1, 6)
    s = np_.sum(i * np_.cos((i + 1) * x[:, None] + i), axis=1)
    return np_.prod(s)


@problem(2, [0.7, -0.4])
def glob_bohachevsky1(x, np_, nn=None, special=None, vmap=None):
    return (x[0] ** 2 + 2 * x[1] ** 2 - 0.3 * np_.cos(3 * np_.pi * x[0])
            - 0.4 * np_.cos(4 * np_.pi * x[1]) + 0.7)


@problem(2, [0.0, 0.0])
def glob_booth(x, np_, nn=None, special=None, vmap=None):
    return (x[0] + 2 * x[1] - 7) ** 2 + (2 * x[0] + x[1] - 5) ** 2


@problem(2, [3.0, -2.0])
def glob_matyas(x, np_, nn=None, special=None, vmap=None):
    return 0.26 * (x[0] ** 2 + x[1] ** 2) - 0.48 * x[0] * x[1]


@problem(2, [-1.0, 2.0])
def glob_mccormick(x, np_, nn=None, special=None, vmap=None):
    return np_.sin(x[0] + x[1]) + (x[0] - x[1]) ** 2 - 1.5 * x[0] + 2.5 * x[1] + 1.0


@problem(2, [-1.0, 1.5])
def glob_himmelblau(x, np_, nn=None, special=None, vmap=None):
    return (x[0] ** 2 + x[1] - 11) ** 2 + (x[0] + x[1] ** 2 - 7) ** 2


@problem(2, [1.5, -1.0])
def glob_three_hump_camel(x, np_, nn=None, special=None, vmap=None):
    return 2 * x[0] ** 2 - 1.05 * x[0] ** 4 + x[0] ** 6 / 6 + x[0] * x[1] + x[1] ** 2


@problem(2, [0.5, -0.8])
def glob_six_hump_camel(x, np_, nn=None, special=None, vmap=None):
    x1, x2 = x[0], x[1]
    return (4 - 2.1 * x1 ** 2 + x1 ** 4 / 3) * x1 ** 2 + x1 * x2 + (-4 + 4 * x2 ** 2) * x2 ** 2


@problem(2, [0.3, -0.7])
def glob_goldstein_price(x, np_, nn=None, special=None, vmap=None):
    x1, x2 = x[0], x[1]
    a = 1 + (x1 + x2 + 1) ** 2 * (19 - 14 * x1 + 3 * x1 ** 2 - 14 * x2 + 6 * x1 * x2 + 3 * x2 ** 2)
    b = 30 + (2 * x1 - 3 * x2) ** 2 * (18 - 32 * x1 + 12 * x1 ** 2 + 48 * x2 - 36 * x1 * x2
                                       + 27 * x2 ** 2)
    return a * b


@problem(2, [2.5, 3.5])
def glob_easom(x, np_, nn=None, special=None, vmap=None):
    return -np_.cos(x[0]) * np_.cos(x[1]) * np_.exp(-((x[0] - np_.pi) ** 2 + (x[1] - np_.pi) ** 2))


@problem(2, [1.0, 1.0])
def glob_beale(x, np_, nn=None, special=None, vmap=None):
    x1, x2 = x[0], x[1]
    return ((1.5 - x1 + x1 * x2) ** 2 + (2.25 - x1 + x1 * x2 ** 2) ** 2
            + (2.625 - x1 + x1 * x2 ** 3) ** 2)


@problem(2, [-2.0, 8.0])
def glob_branin(x, np_, nn=None, special=None, vmap=None):
    a, b, c = 1.0, 5.1 / (4 * np_.pi ** 2), 5 / np_.pi
    r, s, t = 6.0, 10.0, 1 / (8 * np_.pi)
    return a * (x[1] - b * x[0] ** 2 + c * x[0] - r) ** 2 + s * (1 - t) * np_.cos(x[0]) + s


@problem(4, [-0.5, 1.0, -0.5, 1.0])
def glob_colville(x, np_, nn=None, special=None, vmap=None):
    return (100 * (x[0] ** 2 - x[1]) ** 2 + (x[0] - 1) ** 2 + (x[2] - 1) ** 2
            + 90 * (x[2] ** 2 - x[3]) ** 2 + 10.1 * ((x[1] - 1) ** 2 + (x[3] - 1) ** 2)
            + 19.8 * (x[1] - 1) * (x[3] - 1))


@problem(4, lambda n: np.linspace(0.5, 2.0, n))
def glob_perm0(x, np_, nn=None, special=None, vmap=None):
    d = x.shape[0]
    beta = 10.0
    j = np_.arange(1, d + 1)
    total = 0.0
    for i in range(1, d + 1):
        total = total + np_.sum((j + beta) * (x ** i - 1.0 / j ** i)) ** 2
    return total


@problem(6, lambda n: np.linspace(-2.0, 3.0, n))
def glob_rotated_hyper_ellipsoid(x, np_, nn=None, special=None, vmap=None):
    return np_.sum(np_.cumsum(x ** 2))


@problem(3, [0.2, 0.4, 0.7])
def glob_hartmann3(x, np_, nn=None, special=None, vmap=None):
    alpha = np_.array([1.0, 1.2, 3.0, 3.2])
    A = np_.array([[3.0, 10, 30], [0.1, 10, 35], [3.0, 10, 30], [0.1, 10, 35]])
    P = 1e-4 * np_.array([[3689.0, 1170, 2673], [4699, 4387, 7470], [1091, 8732, 5547],
                          [381, 5743, 8828]])
    return -np_.sum(alpha * np_.exp(-np_.sum(A * (x - P) ** 2, axis=1)))


@problem(6, [0.2, 0.15, 0.47, 0.27, 0.31, 0.65])
def glob_hartmann6(x, np_, nn=None, special=None, vmap=None):
    alpha = np_.array([1.0, 1.2, 3.0, 3.2])
    A = np_.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
                   [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
    P = 1e-4 * np_.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                          [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])
    inner = np_.sum(A * (x[None, :] - P) ** 2, axis=-1)
    return -np_.dot(alpha, np_.exp(-inner))


@problem(4, [3.0, 4.5, 5.0, 6.5])
def glob_shekel(x, np_, nn=None, special=None, vmap=None):
    beta = 0.1 * np_.array([1.0, 2, 2, 4, 4, 6, 3, 7, 5, 5])
    C = np_.array([[4.0, 1, 8, 6, 3, 2, 5, 8, 6, 7], [4.0, 1, 8, 6, 7, 9, 3, 1, 2, 3.6],
                   [4.0, 1, 8, 6, 3, 2, 5, 8, 6, 7], [4.0, 1, 8, 6, 7, 9, 3, 1, 2, 3.6]])
    return -np_.sum(1.0 / (np_.sum((x[:, None] - C) ** 2, axis=0) + beta))


@problem(2, [0.8, -0.5])
def glob_schaffer2(x, np_, nn=None, special=None, vmap=None):
    num = np_.sin(x[0] ** 2 - x[1] ** 2) ** 2 - 0.5
    return 0.5 + num / (1 + 0.001 * (x[0] ** 2 + x[1] ** 2)) ** 2


@problem(2, [0.9, -1.4])
def glob_drop_wave(x, np_, nn=None, special=None, vmap=None):
    r2 = x[0] ** 2 + x[1] ** 2
    return -(1 + np_.cos(12 * np_.sqrt(r2))) / (0.5 * r2 + 2)


@problem(6, lambda n: np.linspace(-1.3, 1.2, n))  # x = 0 is avoided: d/db a**b = log(a) a**b
def glob_brown(x, np_, nn=None, special=None, vmap=None):
    a, b = x[:-1] ** 2, x[1:] ** 2
    return np_.sum(a ** (b + 1) + b ** (a + 1))


@problem(24, lambda n: np.tile([-1.2, 1.0], n // 2))
def glob_cyclic_rosenbrock(x, np_, nn=None, special=None, vmap=None):
    nxt = np_.roll(x, -1)
    return np_.sum(100.0 * (nxt - x ** 2) ** 2 + (1.0 - x) ** 2)


@problem(2, [-1.2, 1.0])
def glob_cube(x, np_, nn=None, special=None, vmap=None):
    return 100 * (x[1] - x[0] ** 3) ** 2 + (1 - x[0]) ** 2


@problem(5, lambda n: np.linspace(-0.6, 0.9, n))
def glob_cosine_mixture(x, np_, nn=None, special=None, vmap=None):
    return -0.1 * np_.sum(np_.cos(5 * np_.pi * x)) + np_.sum(x ** 2)


@problem(5, lambda n: np.linspace(-0.6, 0.9, n))
def glob_exponential(x, np_, nn=None, special=None, vmap=None):
    return -np_.exp(-0.5 * np_.sum(x ** 2))


@problem(4, lambda n: np.linspace(0.3, 1.9, n))
def glob_whitley(x, np_, nn=None, special=None, vmap=None):
    xi, xj = x[:, None], x[None, :]
    y = 100 * (xi ** 2 - xj) ** 2 + (1 - xj) ** 2
    return np_.sum(y ** 2 / 4000 - np_.cos(y) + 1)


@problem(5, lambda n: np.linspace(0.5, 2.5, n))
def glob_schwefel_2_22(x, np_, nn=None, special=None, vmap=None):
    return np_.sum(np_.abs(x)) + np_.prod(np_.abs(x))


@problem(2, [1.0, -0.5])
def glob_zettl(x, np_, nn=None, special=None, vmap=None):
    return (x[0] ** 2 + x[1] ** 2 - 2 * x[0]) ** 2 + 0.25 * x[0]


@problem(5, lambda n: np.linspace(-1.0, 2.0, n))
def glob_sum_squares(x, np_, nn=None, special=None, vmap=None):
    i = np_.arange(1, x.shape[0] + 1)
    return np_.sum(i * np_.square(x))


@problem(6, lambda n: np.linspace(-1.0, 2.0, n))
def glob_trigonometric2(x, np_, nn=None, special=None, vmap=None):
    z = (x - 0.9) ** 2
    return 1 + np_.sum(8 * np_.sin(7 * z) ** 2 + 6 * np_.sin(14 * z) ** 2 + z)



@problem(2, [200.0, 300.0], scale=0.01)
def glob_eggholder(x, np_, nn=None, special=None, vmap=None):
    x1, x2 = x[0], x[1]
    return (-(x2 + 47) * np_.sin(np_.sqrt(np_.abs(x2 + x1 / 2 + 47)))
            - x1 * np_.sin(np_.sqrt(np_.abs(x1 - (x2 + 47)))))


@problem(2, [1.2, -0.7], scale=0.02)
def glob_cross_in_tray(x, np_, nn=None, special=None, vmap=None):
    inner = np_.abs(100 - np_.sqrt(x[0] ** 2 + x[1] ** 2) / np_.pi)
    return -0.0001 * (np_.abs(np_.sin(x[0]) * np_.sin(x[1]) * np_.exp(inner)) + 1) ** 0.1


@problem(2, [7.0, 9.0], scale=0.01)
def glob_holder_table(x, np_, nn=None, special=None, vmap=None):
    return -np_.abs(np_.sin(x[0]) * np_.cos(x[1])
                    * np_.exp(np_.abs(1 - np_.sqrt(x[0] ** 2 + x[1] ** 2) / np_.pi)))


@problem(2, [2.5, 1.5], scale=0.02)
def glob_langermann(x, np_, nn=None, special=None, vmap=None):
    c = np_.array([1.0, 2.0, 5.0, 2.0, 3.0])
    A = np_.array([[3.0, 5.0], [5.0, 2.0], [2.0, 1.0], [1.0, 4.0], [7.0, 9.0]])
    d2 = np_.sum((x - A) ** 2, axis=1)
    return np_.sum(c * np_.exp(-d2 / np_.pi) * np_.cos(np_.pi * d2))


@problem(2, [-30.0, -30.0], scale=0.01)
def glob_shekel_foxholes(x, np_, nn=None, special=None, vmap=None):
    a = np_.array([-32.0, -16.0, 0.0, 16.0, 32.0])
    A = np_.stack([np_.tile(a, 5), np_.repeat(a, 5)])  # (2, 25)
    j = np_.arange(1, 26)
    inner = j + np_.sum((x[:, None] - A) ** 6, axis=0)
    return 1.0 / (0.002 + np_.sum(1.0 / inner))


@problem(4, [1.5, 0.8, 1.2, 0.6], scale=0.02)
def glob_keane_bump(x, np_, nn=None, special=None, vmap=None):
    c = np_.cos(x)
    i = np_.arange(1, x.shape[0] + 1)
    num = np_.abs(np_.sum(c ** 4) - 2 * np_.prod(c ** 2))
    return -num / np_.sqrt(np_.sum(i * x ** 2))


@problem(4, lambda n: np.linspace(-0.5, 0.9, n), scale=0.02)
def glob_happy_cat(x, np_, nn=None, special=None, vmap=None):
    n = x.shape[0]
    r2 = np_.sum(x ** 2)
    return ((r2 - n) ** 2) ** 0.125 + (0.5 * r2 + np_.sum(x)) / n + 0.5

# =============================================================================================
# Polynomials, matrices and the rest of the jnp vocabulary
# =============================================================================================
_POLY_T = np.linspace(-1.0, 1.0, 15)
_POLY_Y = np.cos(2.0 * _POLY_T) + 0.1 * _POLY_T ** 3


@problem(5, [0.1, -0.2, 0.3, 0.0, 1.0])
def misc_polyfit(x, np_, nn=None, special=None, vmap=None):
    return np_.sum((np_.polyval(x, _POLY_T) - _POLY_Y) ** 2)


_TRIU_A = np.arange(1.0, 26.0).reshape(5, 5) / 10.0


@problem(5, lambda n: np.linspace(-1.0, 1.0, n))
def misc_triu_quartic(x, np_, nn=None, special=None, vmap=None):
    U = np_.triu(np_.array(_TRIU_A))
    q = x @ U @ x
    return q ** 2 + np_.sum(np_.triu(np_.outer(x, x), k=1) ** 2)


@problem(10, lambda n: np.linspace(0.1, 1.0, n))
def misc_at_set_boundary(x, np_, nn=None, special=None, vmap=None):
    n = x.shape[0]
    z = np_.zeros(n + 2)
    z = z.at[1:-1].set(x)
    z = z.at[-1].set(1.0)
    lap = z[:-2] - 2 * z[1:-1] + z[2:]
    return np_.sum(lap ** 2) + 0.1 * np_.sum(z[1:-1] ** 4)


@problem(6, lambda n: np.linspace(0.5, 1.5, n))
def misc_at_add_multiply(x, np_, nn=None, special=None, vmap=None):
    y = x.copy()
    y = y.at[0].add(x[-1] ** 2)
    y = y.at[2:4].multiply(x[:2])
    y = y.at[-1].set(np_.sin(x[1]))
    return np_.sum(y ** 2) + np_.prod(y[:3])


@problem(9, lambda n: np.eye(3).ravel() + 0.1 * np.arange(n) / n)
def misc_orthogonality(x, np_, nn=None, special=None, vmap=None):
    X = x.reshape(3, 3)
    R = X.T @ X - np_.eye(3)
    return np_.sum(R.flatten() ** 2) + 0.5 * np_.sum((X - X.T).reshape(-1) ** 2)


@problem(6, lambda n: np.linspace(-1.0, 1.0, n))
def misc_cumsum_prod(x, np_, nn=None, special=None, vmap=None):
    c = np_.cumsum(x)
    return np_.sum(c ** 2) + np_.prod(1.0 + 0.1 * x) + np_.sum(np_.cumprod(0.5 + 0.2 * x))


@problem(6, lambda n: np.linspace(-1.0, 1.0, n) + 0.05, scale=0.02)
def misc_where_huber(x, np_, nn=None, special=None, vmap=None):
    r = 2.0 * x - np_.array([0.3, -1.7, 0.2, 2.2, -0.9, 1.3])  # |r| is 0.2 or more from 1
    huber = np_.where(np_.abs(r) < 1.0, 0.5 * r ** 2, np_.abs(r) - 0.5)
    return np_.sum(huber) + 0.01 * np_.sum(x ** 4)


@problem(4, [1.0, 0.5, -0.5, 2.0])
def misc_arctan2_angles(x, np_, nn=None, special=None, vmap=None):
    p = x.reshape(2, 2)
    ang = np_.arctan2(p[:, 1], p[:, 0])
    rad = np_.linalg.norm(p, axis=1)
    return np_.sum((ang - 0.3) ** 2) + np_.sum((rad - 1.0) ** 2)


@problem(8, lambda n: np.linspace(-0.9, 1.3, n))
def misc_roll_pad_stencil(x, np_, nn=None, special=None, vmap=None):
    periodic = np_.roll(x, 1) - 2 * x + np_.roll(x, -1)
    padded = np_.pad(x, (2, 1), mode="constant")
    return np_.sum(periodic ** 2) + np_.sum(padded[:-1] * padded[1:]) + np_.sum(np_.diff(x) ** 4)


@problem(6, lambda n: np.linspace(0.2, 1.2, n), scale=0.02)
def misc_maximum_minimum(x, np_, nn=None, special=None, vmap=None):
    # kinks at x == 0.55 and x == 0.95 are avoided by the grid
    return np_.sum(np_.maximum(x, 0.55) ** 2 + np_.minimum(x, 0.95) ** 3) + np_.max(x) ** 2


@problem(6, lambda n: np.linspace(0.2, 1.2, n))
def misc_stack_concat(x, np_, nn=None, special=None, vmap=None):
    pairs = np_.stack([x[:3], x[3:]], axis=1)          # (3, 2)
    both = np_.concatenate([pairs, pairs ** 2], axis=0)  # (6, 2)
    return np_.sum(both[:, 0] * both[:, 1]) + np_.sum(np_.exp(-both.T) @ np_.ones(6))


@problem(6, lambda n: np.linspace(0.2, 1.2, n))
def misc_einsum_trace(x, np_, nn=None, special=None, vmap=None):
    M = x.reshape(2, 3)
    G = np_.einsum("ij,kj->ik", M, M)
    return np_.trace(G @ G) + np_.sum(np_.diag(G)) ** 2


# =============================================================================================
# Machine-learning objectives on fixed data
# =============================================================================================
_rng = np.random.default_rng(20260101)
_LR_X = _rng.standard_normal((40, 5))
_LR_Y = (_LR_X @ np.array([1.0, -2.0, 0.5, 0.0, 1.5]) + 0.3 * _rng.standard_normal(40) > 0).astype(float)
_SM_X = _rng.standard_normal((30, 4))
_SM_LABELS = _rng.integers(0, 3, 30)
_MLP_X = _rng.standard_normal((25, 2))
_MLP_Y = np.sin(_MLP_X[:, 0]) * np.cos(_MLP_X[:, 1])
_T_DATA = 1.5 + 0.8 * _rng.standard_t(4.0, 50)
_POIS_X = 0.5 * _rng.standard_normal((30, 3))
_POIS_Y = _rng.poisson(np.exp(_POIS_X @ np.array([0.5, -0.3, 0.8]) + 0.2)).astype(float)
_GAMMA_DATA = _rng.gamma(2.5, 1.3, 40)


@problem(6, lambda n: np.linspace(-0.5, 0.5, n))
def ml_logistic_regression(x, np_, nn=None, special=None, vmap=None):
    w, b = x[:-1], x[-1]
    z = np_.dot(_LR_X, w) + b
    ll = _LR_Y * nn.log_sigmoid(z) + (1 - _LR_Y) * nn.log_sigmoid(-z)
    return -np_.mean(ll) + 1e-2 * np_.sum(w ** 2)


@problem(12, lambda n: np.linspace(-0.3, 0.3, n))
def ml_softmax_regression(x, np_, nn=None, special=None, vmap=None):
    W = x.reshape(4, 3)
    logits = _SM_X @ W
    onehot = np_.eye(3)[_SM_LABELS]
    return -np_.mean(np_.sum(onehot * logits, axis=1) - special.logsumexp(logits, axis=1))


@problem(13, lambda n: np.linspace(-0.6, 0.6, n))
def ml_mlp_vmap(x, np_, nn=None, special=None, vmap=None):
    W1, b1, w2, b2 = x[:6].reshape(2, 3), x[6:9], x[9:12], x[12]

    def net(xi):
        h = np_.tanh(W1.T @ xi + b1)
        return np_.dot(w2, h) + b2

    preds = vmap(net)(np_.array(_MLP_X))
    return np_.mean((preds - _MLP_Y) ** 2)


@problem(13, lambda n: np.linspace(-0.6, 0.6, n))
def ml_mlp_vmap_two_args(x, np_, nn=None, special=None, vmap=None):
    params = (x[:6].reshape(2, 3), x[6:9], x[9:12], x[12])

    def loss(p, xi, yi):
        W1, b1, w2, b2 = p
        h = nn.sigmoid(xi @ W1 + b1)
        return (np_.dot(h, w2) + b2 - yi) ** 2

    per_row = vmap(loss, in_axes=(None, 0, 0))(params, _MLP_X, _MLP_Y)
    return np_.mean(per_row)


@problem(3, [1.2, -0.5, 1.0], scale=0.05)
def ml_student_t_nll(x, np_, nn=None, special=None, vmap=None):
    mu, sigma, nu = x[0], np_.exp(x[1]), np_.exp(x[2]) + 1.0
    z = (np_.array(_T_DATA) - mu) / sigma
    ll = (special.gammaln((nu + 1) / 2) - special.gammaln(nu / 2) - 0.5 * np_.log(nu * np_.pi)
          - np_.log(sigma) - (nu + 1) / 2 * np_.log1p(z ** 2 / nu))
    return -np_.sum(ll)


@problem(2, [0.5, 0.0], scale=0.05)
def ml_gamma_nll(x, np_, nn=None, special=None, vmap=None):
    k, theta = np_.exp(x[0]), np_.exp(x[1])
    d = _GAMMA_DATA
    ll = (k - 1) * np_.log(d) - d / theta - special.gammaln(k) - k * np_.log(theta)
    return -np_.mean(ll)


@problem(4, [0.1, 0.0, 0.2, 0.1])
def ml_poisson_regression(x, np_, nn=None, special=None, vmap=None):
    eta = _POIS_X @ x[:3] + x[3]
    return np_.sum(np_.exp(eta) - _POIS_Y * eta + special.gammaln(_POIS_Y + 1))


@problem(6, lambda n: np.linspace(-0.4, 0.4, n))
def ml_probit_regression(x, np_, nn=None, special=None, vmap=None):
    z = _LR_X @ x[:-1] + x[-1]
    p = 0.5 * (1 + special.erf(z / np_.sqrt(2.0)))
    return -np_.sum(_LR_Y * np_.log(p) + (1 - _LR_Y) * np_.log1p(-p))


@problem(6, lambda n: np.linspace(-0.4, 0.4, n))
def ml_smooth_svm(x, np_, nn=None, special=None, vmap=None):
    margins = (2 * _LR_Y - 1) * (_LR_X @ x[:-1] + x[-1])
    return np_.mean(nn.softplus(1.0 - margins)) + 0.05 * np_.linalg.norm(x[:-1]) ** 2


@problem(12, lambda n: np.linspace(-0.3, 0.3, n))
def ml_softmax_cross_entropy_nn(x, np_, nn=None, special=None, vmap=None):
    W = x.reshape(3, 4).T  # (4, 3)
    logp = nn.log_softmax(_SM_X @ W, axis=-1)
    picked = np_.take_along_axis(logp, _SM_LABELS[:, None], axis=1)
    return -np_.mean(picked) + 1e-3 * np_.sum(W ** 2)


@problem(5, lambda n: np.linspace(-0.5, 0.7, n))
def ml_ridge_norm(x, np_, nn=None, special=None, vmap=None):
    A = _LR_X[:, :5]
    b = _LR_Y - 0.5
    return np_.linalg.norm(A @ x - b) ** 2 + 0.1 * np_.linalg.norm(x) ** 2


@problem(4, [0.3, -0.2, 0.5, 0.1])
def ml_gaussian_mixture_1d(x, np_, nn=None, special=None, vmap=None):
    mu = x[:2]
    log_sigma = x[2:]
    d = np_.array(_T_DATA)[:, None]
    logpdf = (-0.5 * ((d - mu) / np_.exp(log_sigma)) ** 2 - log_sigma
              - 0.5 * np_.log(2 * np_.pi) + np_.log(0.5))
    return -np_.sum(special.logsumexp(logpdf, axis=1))



@problem(5, lambda n: np.linspace(-0.5, 0.7, n))
def ml_ridge_array_weight(x, np_, nn=None, special=None, vmap=None):
    lam = np_.array(0.1)  # a 0-d array weight, as JAX code often writes it
    r = _LR_X[:, :5] @ x - (_LR_Y - 0.5)
    return np_.mean(r ** 2) + lam * np_.sum(x ** 2)


@problem(3, [0.1, -0.2, 0.3])
def ml_gp_marginal_likelihood(x, np_, nn=None, special=None, vmap=None):
    length, amp, noise = np_.exp(x[0]), np_.exp(x[1]), np_.exp(x[2])
    t, y = _MLP_X[:8, 0], _MLP_Y[:8]
    K = amp ** 2 * np_.exp(-0.5 * (t[:, None] - t[None, :]) ** 2 / length ** 2) + noise ** 2 * np_.eye(8)
    alpha = np_.linalg.solve(K, y)
    _, logdet = np_.linalg.slogdet(K)
    return 0.5 * np_.dot(y, alpha) + 0.5 * logdet + 4.0 * np_.log(2 * np_.pi)


_DIRICHLET_P = _rng.dirichlet([2.0, 3.0, 5.0], 20)


@problem(3, [0.5, 1.0, 1.5], scale=0.05)
def ml_dirichlet_nll(x, np_, nn=None, special=None, vmap=None):
    alpha = np_.exp(x)
    logB = np_.sum(special.gammaln(alpha)) - special.gammaln(np_.sum(alpha))
    return -np_.sum((alpha - 1) * np_.log(_DIRICHLET_P)) + _DIRICHLET_P.shape[0] * logB


@problem(2, [0.3, 1.0], scale=0.05)
def ml_von_mises_nll(x, np_, nn=None, special=None, vmap=None):
    mu, kappa = x[0], np_.exp(x[1])
    theta = _MLP_X[:, 0]
    log_i0 = np_.log(special.i0e(kappa)) + kappa  # log I0(kappa), stable for large kappa
    return -np_.sum(kappa * np_.cos(theta - mu)) + theta.shape[0] * (np_.log(2 * np_.pi) + log_i0)


@problem(5, [0.1, -0.2, 0.3, 0.0, 1.0])
def misc_vander_polyfit(x, np_, nn=None, special=None, vmap=None):
    V = np_.vander(np_.asarray(_POLY_T), 5)
    return np_.sum((V @ x - _POLY_Y) ** 2)


@problem(9, lambda n: np.linspace(-1.0, 1.0, n))
def misc_fortran_order(x, np_, nn=None, special=None, vmap=None):
    X = x.reshape(3, 3, order="F")  # a MATLAB port: columns first
    return np_.sum((X @ np_.array(_MAT_A) - np_.array(_MAT_C)) ** 2) + np_.sum(X[:, 0] ** 4)


@problem(6, lambda n: np.linspace(-2.1, 2.3, n), scale=0.02)
def misc_select_penalty(x, np_, nn=None, special=None, vmap=None):
    # a smooth three-piece penalty (quadratic inside, linear-quadratic tails), pieces joined C1
    pen = np_.select([x < -1.0, x > 1.0], [-2.0 * x - 1.0, 2.0 * x - 1.0], default=x ** 2)
    return np_.sum(pen) + 0.1 * np_.sum(x ** 4)


@problem(6, lambda n: np.linspace(-1.0, 1.0, n))
def ml_masked_mean(x, np_, nn=None, special=None, vmap=None):
    mask = np_.array([True, True, False, True, False, True])
    r = np_.sin(x) - 0.3 * x ** 2
    return np_.mean(r ** 2, where=mask) + np_.sum(x ** 2, where=~mask)


@problem(5, lambda n: np.linspace(0.5, 1.5, n))
def misc_block_matrix(x, np_, nn=None, special=None, vmap=None):
    D = np_.diag(x[:2])
    b = x[2:4][:, None]
    M = np_.block([[D, b], [b.T, x[4:5][None, :]]])
    return np_.sum(M @ M) + np_.trace(M) ** 2


@problem(5, [0.0, 0.4, -0.3, 0.6, -0.2])
def glob_sum_different_powers(x, np_, nn=None, special=None, vmap=None):
    # at x[0] = 0 the term |x0|**2 = x0**2 is smooth, with second derivative 2
    i = np_.arange(1, x.shape[0] + 1)
    return np_.sum(np_.abs(x) ** (i + 1))


@problem(2, [0.4, -1.3])
def glob_shubert_vectorize(x, np_, nn=None, special=None, vmap=None):
    def bump(t):
        return sum(i * np_.cos((i + 1) * t + i) for i in range(1, 6))

    return np_.prod(np_.vectorize(bump)(x))


_KM_X = _rng.standard_normal((20, 2)) + np.repeat(np.array([[2.0, 0.0], [-2.0, 1.0]]), 10, axis=0)


@problem(4, [1.0, 0.5, -1.0, 0.5])
def ml_soft_kmeans(x, np_, nn=None, special=None, vmap=None):
    centres = x.reshape(2, 2)

    def point_cost(p, C):
        d2 = np_.sum((p - C) ** 2, axis=1)
        return -special.logsumexp(-d2)

    return np_.sum(vmap(point_cost, in_axes=(0, None))(_KM_X, centres))


@problem(8, lambda n: np.linspace(-0.5, 0.5, n))
def ml_rosenbrock_vmap_pairs(x, np_, nn=None, special=None, vmap=None):
    pairs = x.reshape(-1, 2)
    term = vmap(lambda p: 100.0 * (p[1] - p[0] ** 2) ** 2 + (1.0 - p[0]) ** 2)
    return np_.sum(term(pairs))


@problem(6, lambda n: np.linspace(-0.3, 0.4, n))
def ml_factorisation(x, np_, nn=None, special=None, vmap=None):
    U, V = x[:4].reshape(2, 2), x[4:].reshape(1, 2)
    target = np_.array([[1.0, 0.5], [0.2, -0.3]])
    R = U @ np_.vstack([V, V[:, ::-1]]) - target
    return np_.sum(R ** 2) + 0.01 * (np_.sum(U ** 2) + np_.sum(V ** 2))



# =============================================================================================
# Whole source files, ported the way the judged collection is: by changing import lines only
# =============================================================================================
def port_source(source: str) -> str:
    """The symdiff port of JAX source: ``import jax`` -> ``import symdiff as jax``,
    ``import jax.numpy as jnp`` -> ``import symdiff.numpy as jnp``, ``from jax.X import y`` ->
    ``from symdiff.X import y``; nothing but import lines changes."""
    out = []
    for line in source.splitlines():
        m = re.match(r"^(\s*)import jax((?:\.\w+)*)(\s+as\s+\w+)?\s*$", line)
        if m:
            indent, sub, alias = m.group(1), m.group(2), m.group(3)
            if alias:
                line = f"{indent}import symdiff{sub}{alias}"
            elif sub:  # "import jax.scipy.special" binds the name jax
                line = f"{indent}import symdiff{sub}; import symdiff as jax"
            else:
                line = f"{indent}import symdiff as jax"
        else:
            line = re.sub(r"^(\s*)from jax((?:\.\w+)*) import ", r"\1from symdiff\2 import ", line)
        out.append(line)
    return "\n".join(out) + "\n"


@functools.lru_cache(maxsize=None)
def _load_source(name: str, source: str) -> dict:
    namespace: dict = {"__name__": f"ported_{name}"}
    exec(compile(source, f"<{name}>", "exec", dont_inherit=True), namespace)  # noqa: S102
    return namespace


def _source_problem(name: str, n: int, x0, source: str, scale: float = 0.1) -> None:
    """A problem given as a whole JAX source file defining ``objective(x)``: run as written on the
    JAX side, and through ``port_source`` on the symdiff side."""

    def fn(x, np_, nn=None, special=None, vmap=None):
        is_jax = np_.__name__.startswith("jax")
        module = _load_source(name, source if is_jax else port_source(source))
        return module["objective"](x)

    fn.__name__ = name
    fn.source = source
    problem(n, x0, name, scale)(fn)


_source_problem("src_plain_imports", 6, np.linspace(-0.5, 0.8, 6), """
import jax
import jax.numpy as jnp
from jax.scipy.special import erf

C = jnp.array([0.5, -0.25, 1.0])


def objective(x):
    pairs = x.reshape(3, 2)
    score = jax.vmap(lambda p, c: jnp.sum(erf(p - c) ** 2) + c * p[0] * p[1])(pairs, C)
    return jnp.sum(score) + jnp.sum(jax.nn.softplus(x)) + jnp.sum(jax.nn.sigmoid(x) ** 2)
""")

_source_problem("src_from_imports", 5, np.linspace(0.2, 1.4, 5), """
from jax import vmap
from jax.nn import log_sigmoid, relu
from jax.scipy.special import gammaln, logsumexp
import jax.scipy as jsp
import jax.numpy as jnp


def objective(x):
    rows = jnp.stack([x, x ** 2, jnp.cos(x)])
    lse = vmap(logsumexp)(rows)
    return (jnp.sum(lse) + jnp.sum(gammaln(x + 1.0)) - jnp.sum(log_sigmoid(x))
            + jnp.sum(jsp.special.xlogy(x, x)) + jnp.sum(relu(x - 0.3) ** 2))
""")

_source_problem("src_x64_config", 4, [1.0, -0.5, 0.3, 2.0], """
import jax
import jax.numpy as jnp

jax.config.update("jax_enable_x64", True)


def objective(x):
    return jnp.sum((x[1:] - x[:-1] ** 2) ** 2) + jnp.sum(jnp.exp(-x ** 2))
""")

_source_problem("src_jit_decorator", 4, [1.0, -0.5, 0.3, 2.0], """
import jax
import jax.numpy as jnp


@jax.jit
def objective(x):
    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)
""")

_source_problem("src_array_annotations", 4, [1.0, -0.5, 0.3, 2.0], """
import jax
import jax.numpy as jnp


def objective(x: jax.Array) -> jax.Array:
    return jnp.sum(jnp.sin(x) * jnp.cos(x[::-1])) + jnp.dot(x, x)
""")

_source_problem("src_ndarray_annotations", 4, [1.0, -0.5, 0.3, 2.0], """
import jax.numpy as jnp


def residuals(x: jnp.ndarray) -> jnp.ndarray:
    return jnp.array([x[0] + 10 * x[1], jnp.sqrt(5.0) * (x[2] - x[3]), (x[1] - 2 * x[2]) ** 2,
                      jnp.sqrt(10.0) * (x[0] - x[3]) ** 2])


def objective(x: jnp.ndarray) -> jnp.ndarray:
    r = residuals(x)
    return r @ r
""")

BY_NAME: dict[str, Problem] = {p.name: p for p in PROBLEMS}
assert len(BY_NAME) == len(PROBLEMS), "duplicate problem names"
