"""Linear algebra: decompositions and solvers (symdiff/ops/decomp.py) and contractions
(symdiff/ops/contract.py).

Values are checked against NumPy / SciPy, gradients against central finite differences
(``sd.check_grad``), Hessians against ``jax.hessian`` of the same ``jax.numpy`` function, and the
compiled route against ``sd.evaluate`` with a few kernels that each hold a whole table (Numba
compiles of LAPACK code are slow). Then float32, ``vmap``, dense-vs-sparse Hessians, singular
matrices and shape errors.

Functions of U, Vh, Q, R and eigenvectors are built to be invariant under the sign choices of
LAPACK (squares of entries, products like U diag(s) Vh), since NumPy's and Numba's LAPACK may
choose other signs for the same matrix.
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg as sl

import symdiff as sd

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy
jsl = pytest.importorskip("jax.scipy.linalg")

RNG = np.random.default_rng(20261201)


def well(*dims):
    """Well-conditioned matrices of shape ``(*batch, n, n)`` for ``dims = (*batch, n)``: random
    plus n on the diagonal."""
    n = dims[-1]
    return RNG.normal(size=(*dims, n)) + n * np.eye(n)


def spd(*dims):
    """Symmetric positive definite matrices ``(*batch, n, n)`` with well-separated eigenvalues."""
    n = dims[-1]
    q, _ = np.linalg.qr(RNG.normal(size=(*dims, n)))
    w = np.arange(1, n + 1) * 1.5 + RNG.uniform(0, 0.3, size=dims)
    return (q * w[..., None, :]) @ np.swapaxes(q, -1, -2)


def lower_tri(*dims):
    n = dims[-1]
    return np.tril(RNG.normal(size=(*dims, n))) + n * np.eye(n)


def signs_fixed(m):
    """Column-sign normalised matrices (the largest entry of each column positive)."""
    idx = np.argmax(np.abs(m), axis=-2)
    s = np.sign(np.take_along_axis(m, idx[..., None, :], axis=-2))
    return m * s


# ---------------------------------------------------------------------------------------------
# einsum
# ---------------------------------------------------------------------------------------------
EINSUM = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("ij,jk", [(2, 3), (3, 4)]),            # implicit output
    ("ba,cb", [(2, 3), (4, 2)]),            # implicit, sorted letters
    ("ii", [(3, 3)]),                       # trace
    ("ii->i", [(3, 3)]),                    # diagonal
    ("iji->j", [(2, 3, 2)]),                # diagonal over non-adjacent axes
    ("iii->i", [(2, 2, 2)]),
    ("ij->ji", [(2, 3)]),
    ("ij->", [(2, 3)]),
    ("i,i", [(3,), (3,)]),
    ("i,j->ij", [(3,), (4,)]),
    ("bij,bjk->bik", [(5, 2, 3), (5, 3, 4)]),
    ("...ij,...jk", [(5, 2, 3), (3, 4)]),    # ellipsis broadcasting
    ("i...,i...", [(5, 2, 3), (5, 3)]),
    ("...i,...i->...", [(4, 3), (3,)]),
    ("ij,ij->ij", [(2, 1), (2, 4)]),        # size-1 broadcasting of a labelled dim
    ("ij,jk->ik", [(2, 1), (3, 4)]),        # ...of a contracted one
    ("ijk,jkl->il", [(2, 3, 4), (3, 4, 5)]),
    ("ab,bc,cd->ad", [(2, 3), (3, 4), (4, 5)]),
    ("ab,bc,cd,de->ae", [(2, 7), (7, 3), (3, 6), (6, 2)]),
    ("bn,bn->b", [(4, 3), (4, 3)]),
    ("iij,jk->ik", [(3, 3, 2), (2, 4)]),
    ("i,i,i", [(3,), (3,), (3,)]),
    ("ijk,k,j->i", [(2, 3, 4), (4,), (3,)]),
    ("Ba,aB", [(2, 3), (3, 2)]),
    ("ij,kl->ikjl", [(2, 3), (4, 5)]),
]


def _einsum_case(spec, shapes):
    xs = [sd.tensor(f"x{k}", s) for k, s in enumerate(shapes)]
    vals = [RNG.normal(size=s) for s in shapes]
    return xs, vals, sd.einsum(spec, *xs)


@pytest.mark.parametrize("spec, shapes", EINSUM, ids=[s for s, _ in EINSUM])
def test_einsum_values_and_gradients(spec, shapes):
    xs, vals, out = _einsum_case(spec, shapes)
    inputs = dict(zip(xs, vals))
    want = np.einsum(spec, *vals)
    got = sd.evaluate(out, inputs)
    assert out.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    sd.check_grad(out, xs, inputs)


def test_einsum_uses_one_matmul_per_pair():
    x, y = sd.tensor("x", (5, 2, 3)), sd.tensor("y", (5, 3, 4))
    out = sd.einsum("bij,bjk->bik", x, y)
    kinds = [n.op.name for n in sd.toposort([out]) if n.op is not None]
    assert kinds.count("matmul") == 1 and "mul" not in kinds


def test_einsum_errors():
    a, m = sd.tensor("a", (2, 3)), sd.tensor("m", ("n", "n"))
    for bad in [("ij,jk", [a]), ("ij->k", [a]), ("i", [a]), ("ij->ii", [a]), ("i$", [a]),
                ("ij,ij", [a, sd.tensor("b", (3, 3))]), ("ii", [m]), ("...ij->ij", [sd.tensor("c", (4, 2, 3))])]:
        with pytest.raises(sd.ShapeError, match="einsum"):
            sd.einsum(bad[0], *bad[1])


# ---------------------------------------------------------------------------------------------
# the other contractions
# ---------------------------------------------------------------------------------------------
CONTRACT = {
    "tensordot_int": (lambda a, b: sd.tensordot(a, b, 2), lambda a, b: np.tensordot(a, b, 2), [(2, 3, 4), (3, 4, 5)]),
    "tensordot_pairs": (lambda a, b: sd.tensordot(a, b, ([0, 2], [2, 0])), lambda a, b: np.tensordot(a, b, ([0, 2], [2, 0])),
                        [(2, 3, 4), (4, 5, 2)]),
    "tensordot_0": (lambda a, b: sd.tensordot(a, b, 0), lambda a, b: np.tensordot(a, b, 0), [(2,), (3,)]),
    "inner": (sd.inner, np.inner, [(2, 3), (4, 3)]),
    "inner_vec": (sd.inner, np.inner, [(3,), (3,)]),
    "vdot": (sd.vdot, np.vdot, [(2, 3), (3, 2)]),
    "kron": (sd.kron, np.kron, [(2, 3), (3, 2)]),
    "kron_mixed": (sd.kron, np.kron, [(3,), (2, 2)]),
    "matrix_power_3": (lambda a: sd.matrix_power(a, 3), lambda a: np.linalg.matrix_power(a, 3), [(3, 3)]),
    "matrix_power_5_batched": (lambda a: sd.matrix_power(a, 5), lambda a: np.linalg.matrix_power(a, 5), [(2, 3, 3)]),
    "matrix_power_-2": (lambda a: sd.matrix_power(a + 4 * np.eye(3), -2),
                        lambda a: np.linalg.matrix_power(a + 4 * np.eye(3), -2), [(3, 3)]),
    "multi_dot": (lambda a, b, c, d: sd.multi_dot([a, b, c, d]), lambda a, b, c, d: np.linalg.multi_dot([a, b, c, d]),
                  [(2, 6), (6, 3), (3, 5), (5, 2)]),
    "multi_dot_vectors": (lambda a, b, c: sd.multi_dot([a, b, c]), lambda a, b, c: np.linalg.multi_dot([a, b, c]),
                          [(4,), (4, 3), (3,)]),
    "cross": (sd.cross, np.cross, [(4, 3), (4, 3)]),
    "cross_broadcast": (sd.cross, np.cross, [(2, 1, 3), (4, 3)]),
    "cross_axes": (lambda a, b: sd.cross(a, b, axisa=0, axisb=1, axisc=0),
                   lambda a, b: np.cross(a, b, axisa=0, axisb=1, axisc=0), [(3, 4), (4, 3)]),
    "cross_axis": (lambda a, b: sd.cross(a, b, axis=0), lambda a, b: np.cross(a, b, axis=0), [(3, 2), (3, 2)]),
}


def _contract_case(name):
    build, ref, shapes = CONTRACT[name]
    xs = [sd.tensor(f"x{k}", s) for k, s in enumerate(shapes)]
    vals = [RNG.normal(size=s) for s in shapes]
    return xs, vals, build(*xs), ref(*vals)


@pytest.mark.parametrize("name", list(CONTRACT))
def test_contractions_values_and_gradients(name):
    xs, vals, out, want = _contract_case(name)
    inputs = dict(zip(xs, vals))
    assert out.shape == np.shape(want)
    np.testing.assert_allclose(sd.evaluate(out, inputs), want, rtol=1e-11, atol=1e-12)
    sd.check_grad(out, xs, inputs)


# a compiled subset covering every path of the einsum lowering (matmul 2-d and batched,
# broadcast products and sums, diagonals as strided slices, size-1 broadcasting, three
# operands) and the other contractions
EINSUM_COMPILED = ["ij,jk->ik", "iji->j", "bij,bjk->bik", "bn,bn->b", "ab,bc,cd->ad"]
CONTRACT_COMPILED = ["kron_mixed", "matrix_power_-2", "cross_axes"]


def test_contractions_compiled_table():
    """One kernel computes a representative part of both tables; it agrees with sd.evaluate."""
    xs, vals, outs = [], [], []
    for spec, shapes in [case for case in EINSUM if case[0] in EINSUM_COMPILED]:
        x, v, o = _einsum_case(spec, shapes)
        xs, vals, outs = xs + x, vals + v, outs + [o]
    for name in CONTRACT_COMPILED:
        x, v, o, _ = _contract_case(name)
        xs, vals, outs = xs + x, vals + v, outs + [o]
    f = sd.function(xs, outs, mode="numba")
    for got, want in zip(f(*vals), sd.evaluate(outs, dict(zip(xs, vals)))):
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-12)


def test_matrix_power_zero_and_multi_dot_order():
    a = sd.tensor("a", (2, 3, 3))
    av = RNG.normal(size=(2, 3, 3))
    np.testing.assert_array_equal(sd.evaluate(sd.matrix_power(a, 0), {a: av}), np.linalg.matrix_power(av, 0))
    # (10 x 100) (100 x 5) (5 x 50): (AB)C costs 7500 multiplications, A(BC) 75000
    A, B, C = sd.tensor("A", (10, 100)), sd.tensor("B", (100, 5)), sd.tensor("C", (5, 50))
    out = sd.multi_dot([A, B, C])
    assert out.op.name == "matmul" and out.inputs[0].shape == (10, 5) and out.inputs[1] is C
    out = sd.multi_dot([C.T, B.T, A.T])   # the mirror image: C^T (B^T A^T)
    assert out.inputs[0].shape == (50, 5) and out.inputs[1].shape == (5, 10)


def test_contraction_errors():
    a, b = sd.tensor("a", (2, 3)), sd.tensor("b", (4, 3))
    with pytest.raises(sd.ShapeError, match="tensordot"):
        sd.tensordot(a, b, 1)
    with pytest.raises(sd.ShapeError, match="inner"):
        sd.inner(a, b.T)
    with pytest.raises(sd.ShapeError, match="vdot"):
        sd.vdot(a, b)
    with pytest.raises(sd.ShapeError, match="matrix_power"):
        sd.matrix_power(a, 2)
    with pytest.raises(sd.DTypeError, match="matrix_power"):
        sd.matrix_power(sd.tensor("s", (3, 3)), 1.5)
    with pytest.raises(sd.ShapeError, match="multi_dot"):
        sd.multi_dot([a])
    with pytest.raises(sd.ShapeError, match="multi_dot"):
        sd.multi_dot([a, b])
    with pytest.raises(sd.ShapeError, match="cross"):
        sd.cross(b.T, b.T)


# ---------------------------------------------------------------------------------------------
# decompositions and solvers: values
# ---------------------------------------------------------------------------------------------
def _tri_solve(a, b, **kw):
    """SciPy's solve_triangular over a batch (NumPy 2 rule: a 1-d b is one vector)."""
    if a.ndim == 2 and b.ndim <= 2:
        return sl.solve_triangular(a, b, **kw)
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) if b.ndim > 1 else a.shape[:-2]
    a = np.broadcast_to(a, batch + a.shape[-2:])
    b = b if b.ndim == 1 else np.broadcast_to(b, batch + b.shape[-2:])
    return np.stack([sl.solve_triangular(a[i], b if b.ndim == 1 else b[i], **kw) for i in np.ndindex(*batch)]).reshape(
        batch + (b.shape if b.ndim == 1 else b.shape[-2:]))


# name: (inputs as {name: value}, symdiff expression of the variables, reference)
DECOMP = {
    "solve_vec": ({"a": well(4), "b": RNG.normal(size=4)}, lambda a, b: sd.solve(a, b), np.linalg.solve),
    "solve_mat": ({"a": well(4), "b": RNG.normal(size=(4, 2))}, lambda a, b: sd.solve(a, b), np.linalg.solve),
    "solve_batch_vec": ({"a": well(3, 4), "b": RNG.normal(size=4)}, lambda a, b: sd.solve(a, b), np.linalg.solve),
    "solve_broadcast": ({"a": well(2, 1, 3), "b": RNG.normal(size=(4, 3, 2))}, lambda a, b: sd.solve(a, b), np.linalg.solve),
    "inv": ({"a": well(4)}, sd.inv, np.linalg.inv),
    "inv_batch": ({"a": well(2, 3, 3)}, sd.inv, np.linalg.inv),
    "det": ({"a": well(4)}, sd.det, np.linalg.det),
    "det_batch": ({"a": well(3, 3)}, sd.det, np.linalg.det),
    "slogdet_sign": ({"a": RNG.normal(size=(3, 4, 4))}, lambda a: sd.slogdet(a)[0], lambda a: np.linalg.slogdet(a)[0]),
    "slogdet_logabs": ({"a": RNG.normal(size=(3, 4, 4))}, lambda a: sd.slogdet(a).logabsdet, lambda a: np.linalg.slogdet(a)[1]),
    "cholesky": ({"a": spd(4)}, sd.cholesky, np.linalg.cholesky),
    "cholesky_batch": ({"a": spd(2, 3)}, sd.cholesky, np.linalg.cholesky),
    "cholesky_upper": ({"a": spd(3)}, lambda a: sd.cholesky(a, upper=True), lambda a: np.linalg.cholesky(a, upper=True)),
    "eigvalsh": ({"a": spd(4)}, sd.eigvalsh, np.linalg.eigvalsh),
    "eigh_w": ({"a": spd(2, 4)}, lambda a: sd.eigh(a)[0], lambda a: np.linalg.eigh(a)[0]),
    "eigh_v": ({"a": spd(4)}, lambda a: sd.eigh(a).eigenvectors ** 2, lambda a: np.linalg.eigh(a)[1] ** 2),
    "eigh_upper": ({"a": RNG.normal(size=(3, 3))}, lambda a: sd.eigvalsh(a, UPLO="U"), lambda a: np.linalg.eigvalsh(a, UPLO="U")),
    "svdvals": ({"a": RNG.normal(size=(5, 3))}, sd.svdvals, lambda a: np.linalg.svd(a, compute_uv=False)),
    "svd_S_batch": ({"a": RNG.normal(size=(2, 3, 5))}, lambda a: sd.svd(a).S, lambda a: np.linalg.svd(a)[1]),
    "svd_usv": ({"a": RNG.normal(size=(5, 3))},
                lambda a: (lambda u, s, vh: (u * s[None, :]) @ vh)(*sd.svd(a, full_matrices=False)), lambda a: a),
    "svd_u2": ({"a": RNG.normal(size=(5, 3))}, lambda a: sd.svd(a, full_matrices=False)[0] ** 2,
               lambda a: np.linalg.svd(a, full_matrices=False)[0] ** 2),
    "svd_vh2_full": ({"a": RNG.normal(size=(3, 5))}, lambda a: sd.svd(a)[2] ** 2, lambda a: np.linalg.svd(a)[2] ** 2),
    "svd_u2_full": ({"a": RNG.normal(size=(5, 3))}, lambda a: sd.svd(a)[0] ** 2, lambda a: np.linalg.svd(a)[0] ** 2),
    "qr_q2": ({"a": RNG.normal(size=(5, 3))}, lambda a: sd.qr(a)[0] ** 2, lambda a: np.linalg.qr(a)[0] ** 2),
    "qr_r2": ({"a": RNG.normal(size=(5, 3))}, lambda a: sd.qr(a).R ** 2, lambda a: np.linalg.qr(a)[1] ** 2),
    "qr_wide": ({"a": RNG.normal(size=(3, 5))}, lambda a: (lambda q, r: q @ r)(*sd.qr(a)), lambda a: a),
    "qr_r_mode": ({"a": RNG.normal(size=(2, 4, 3))}, lambda a: sd.qr(a, mode="r") ** 2, lambda a: np.linalg.qr(a, mode="r") ** 2),
    "pinv": ({"a": RNG.normal(size=(5, 3))}, sd.pinv, np.linalg.pinv),
    "pinv_rank_deficient": ({"a": np.outer(RNG.normal(size=4), RNG.normal(size=3))}, sd.pinv, np.linalg.pinv),
    "pinv_rtol": ({"a": RNG.normal(size=(2, 3, 4))}, lambda a: sd.pinv(a, rtol=None), lambda a: np.linalg.pinv(a, rtol=None)),
    "trsv_lower": ({"a": lower_tri(4), "b": RNG.normal(size=4)}, lambda a, b: sd.solve_triangular(a, b, lower=True),
                   lambda a, b: sl.solve_triangular(a, b, lower=True)),
    "trsm_upper_T": ({"a": well(4), "b": RNG.normal(size=(4, 2))}, lambda a, b: sd.solve_triangular(a, b, trans="T"),
                     lambda a, b: sl.solve_triangular(a, b, trans="T")),
    "trsm_unit_lower_T": ({"a": well(4), "b": RNG.normal(size=(4, 3))},
                          lambda a, b: sd.solve_triangular(a, b, trans=1, lower=True, unit_diagonal=True),
                          lambda a, b: sl.solve_triangular(a, b, trans=1, lower=True, unit_diagonal=True)),
    "trsm_batch": ({"a": well(2, 3), "b": RNG.normal(size=(3, 2))}, lambda a, b: sd.solve_triangular(a, b, lower=True),
                   lambda a, b: _tri_solve(a, b, lower=True)),
    "trsv_batch_unit": ({"a": well(2, 3), "b": RNG.normal(size=3)},
                        lambda a, b: sd.solve_triangular(a, b, trans=2, unit_diagonal=True),
                        lambda a, b: _tri_solve(a, b, trans=2, unit_diagonal=True)),
    "cho_solve_lower": ({"a": spd(4), "b": RNG.normal(size=(4, 2))},
                        lambda a, b: sd.cho_solve(sd.cho_factor(a, lower=True), b),
                        lambda a, b: sl.cho_solve(sl.cho_factor(a, lower=True), b)),
    "cho_solve_upper": ({"a": spd(4), "b": RNG.normal(size=4)}, lambda a, b: sd.cho_solve(sd.cho_factor(a), b),
                        lambda a, b: sl.cho_solve(sl.cho_factor(a), b)),
    "cho_factor_upper": ({"a": spd(4)}, lambda a: sd.cho_factor(a)[0], lambda a: np.triu(sl.cho_factor(a)[0])),
}


def _decomp_case(name):
    vals, build, ref = DECOMP[name]
    xs = {k: sd.tensor(f"{name}_{k}", v.shape) for k, v in vals.items()}
    return xs, vals, build(*xs.values()), ref(*vals.values())


@pytest.mark.parametrize("name", list(DECOMP))
def test_decompositions_values(name):
    xs, vals, out, want = _decomp_case(name)
    got = sd.evaluate(out, {xs[k]: v for k, v in vals.items()})
    assert out.shape == np.shape(want) and got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


# every op and flag of the table once, batched and unbatched (each Numba compile of LAPACK code
# takes a while, so cases differing only in their shapes are left to the evaluator)
DECOMP_COMPILED = [
    "solve_vec", "solve_batch_vec", "solve_broadcast", "inv_batch", "det", "det_batch", "slogdet_sign",
    "slogdet_logabs", "cholesky_batch", "cholesky_upper", "eigh_w", "eigh_v", "eigh_upper", "svd_S_batch",
    "svd_usv", "svd_u2", "svd_vh2_full", "qr_q2", "qr_r2", "qr_wide", "qr_r_mode", "pinv_rank_deficient",
    "pinv_rtol", "trsv_lower", "trsm_upper_T", "trsm_unit_lower_T", "trsm_batch", "trsv_batch_unit",
    "cho_solve_lower", "cho_solve_upper",
]


def test_decompositions_compiled_table():
    """One kernel computes the table; it agrees with sd.evaluate."""
    xs, vals, outs = [], [], []
    for name in DECOMP_COMPILED:
        x, v, o, _ = _decomp_case(name)
        xs += [x[k] for k in v]
        vals += list(v.values())
        outs.append(o)
    f = sd.function(xs, outs, mode="numba")
    for name, got, want in zip(DECOMP_COMPILED, f(*vals), sd.evaluate(outs, dict(zip(xs, vals)))):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-11, err_msg=name)


def test_eigh_svd_qr_factor_the_matrix():
    """The raw outputs (signs as LAPACK chooses) reconstruct the input, on both routes."""
    a, x, w_ = sd.tensor("a", (4, 4)), sd.tensor("x", (5, 3)), sd.tensor("w", (3, 5))
    av, xv, wv = spd(4), RNG.normal(size=(5, 3)), RNG.normal(size=(3, 5))
    w, v = sd.eigh(a)
    u, s, vh = sd.svd(x, full_matrices=False)
    q, r = sd.qr(w_)
    outs = [w, v, u, s, vh, q, r]
    for got in (sd.evaluate(outs, {a: av, x: xv, w_: wv}), sd.function([a, x, w_], outs)(av, xv, wv)):
        gw, gv, gu, gs, gvh, gq, gr = got
        np.testing.assert_allclose((gv * gw) @ gv.T, av, atol=1e-12)
        np.testing.assert_allclose((gu * gs) @ gvh, xv, atol=1e-12)
        np.testing.assert_allclose(gq @ gr, wv, atol=1e-12)
        np.testing.assert_allclose(gr, np.triu(gr), atol=0)
        np.testing.assert_allclose(signs_fixed(gv), signs_fixed(np.linalg.eigh(av)[1]), atol=1e-10)
        np.testing.assert_allclose(signs_fixed(gu), signs_fixed(np.linalg.svd(xv, full_matrices=False)[0]), atol=1e-10)


# ---------------------------------------------------------------------------------------------
# gradients against finite differences
# ---------------------------------------------------------------------------------------------
A, Ab = sd.tensor("A", (3, 3)), sd.tensor("Ab", (2, 3, 3))
b, B, Bb = sd.tensor("b", (3,)), sd.tensor("B", (3, 2)), sd.tensor("Bb", (2, 3, 2))
X, W = sd.tensor("X", (4, 3)), sd.tensor("W", (3, 5))
VALUES = {A: well(3), Ab: well(2, 3), b: RNG.normal(size=3), B: RNG.normal(size=(3, 2)),
          Bb: RNG.normal(size=(2, 3, 2)), X: RNG.normal(size=(4, 3)), W: RNG.normal(size=(3, 5))}
SPD = A @ A.T + 3 * np.eye(3)                  # symmetric parametrisations of A
SPDb = Ab @ sd.swapaxes(Ab, -1, -2) + 3 * np.eye(3)
SYM = 0.5 * (A + A.T)

GRADS = {
    "solve_vec": (lambda: sd.solve(A, b), [A, b]),
    "solve_mat": (lambda: sd.solve(A, B), [A, B]),
    "solve_batch_vec": (lambda: sd.solve(Ab, b), [Ab, b]),
    "solve_batch_mat": (lambda: sd.solve(Ab, B), [Ab, B]),
    "inv": (lambda: sd.inv(A), [A]),
    "inv_batch": (lambda: sd.inv(Ab), [Ab]),
    "det": (lambda: sd.det(A), [A]),
    "det_batch": (lambda: sd.det(Ab), [Ab]),
    "slogdet": (lambda: sd.slogdet(A)[1] + 0 * sd.slogdet(A)[0], [A]),
    "cholesky": (lambda: sd.cholesky(SPD), [A]),
    "cholesky_batch": (lambda: sd.cholesky(SPDb), [Ab]),
    "cholesky_upper": (lambda: sd.cholesky(SPD, upper=True), [A]),
    "eigvalsh": (lambda: sd.eigvalsh(SYM), [A]),
    "eigh_vectors": (lambda: sd.eigh(SYM)[1] ** 2, [A]),
    "eigh_both": (lambda: sd.sum(sd.eigh(SPDb)[1][..., 0] * b) ** 2 + sd.sum(sd.eigh(SPDb)[0]), [Ab, b]),
    "svdvals": (lambda: sd.svdvals(X), [X]),
    "svdvals_wide": (lambda: sd.svdvals(W), [W]),
    "svd_u": (lambda: sd.svd(X, full_matrices=False)[0] ** 2, [X]),
    "svd_vh": (lambda: sd.svd(X, full_matrices=False)[2] ** 2, [X]),
    "svd_u_wide": (lambda: sd.svd(W, full_matrices=False)[0] ** 2, [W]),
    "svd_vh_wide": (lambda: sd.svd(W, full_matrices=False)[2] ** 2, [W]),
    "svd_square": (lambda: sd.svd(A)[0] @ sd.svd(A)[2], [A]),
    "qr_tall": (lambda: sd.qr(X)[0] ** 2 + sd.sum(sd.qr(X)[1] ** 2), [X]),
    "qr_wide_q": (lambda: sd.qr(W)[0] ** 2, [W]),
    "qr_wide_r": (lambda: sd.qr(W)[1] ** 2, [W]),
    "qr_square": (lambda: sd.qr(A)[0] @ sd.qr(A)[1] ** 2, [A]),
    "pinv": (lambda: sd.pinv(X), [X]),
    "pinv_wide": (lambda: sd.pinv(W), [W]),
    "trsv": (lambda: sd.solve_triangular(A, b, lower=True), [A, b]),
    "trsm_T": (lambda: sd.solve_triangular(A, B, trans=1), [A, B]),
    "trsm_unit": (lambda: sd.solve_triangular(A, B, lower=True, unit_diagonal=True, trans="T"), [A, B]),
    "trsm_batch": (lambda: sd.solve_triangular(Ab, Bb, lower=True), [Ab, Bb]),
    "trsv_batch": (lambda: sd.solve_triangular(Ab, b), [Ab, b]),
    "cho_solve_lower": (lambda: sd.cho_solve(sd.cho_factor(SPD, lower=True), B), [A, B]),
    "cho_solve_upper": (lambda: sd.cho_solve(sd.cho_factor(SPD), b), [A, b]),
}


@pytest.mark.parametrize("name", list(GRADS))
def test_decompositions_gradients(name):
    build, wrt = GRADS[name]
    sd.check_grad(build(), wrt, VALUES)


def test_gradient_masks_the_unread_triangle():
    """solve_triangular and cholesky read one triangle: no gradient reaches the other."""
    g = sd.grad(sd.sum(sd.solve_triangular(A, B, lower=True) ** 2), A)
    gv = sd.evaluate(g, VALUES)
    assert np.all(np.triu(gv, 1) == 0) and np.any(np.tril(gv) != 0)
    g = sd.grad(sd.sum(sd.solve_triangular(A, B, unit_diagonal=True) ** 2), A)
    assert np.all(np.tril(sd.evaluate(g, VALUES)) == 0)


def test_svd_full_matrices_gradient_is_refused_when_not_square():
    with pytest.raises(sd.GradError, match="full_matrices"):
        sd.grad(sd.sum(sd.svd(X)[0]), X)


# ---------------------------------------------------------------------------------------------
# Hessians against JAX
# ---------------------------------------------------------------------------------------------
A0, S0, X0, W0, L0 = well(3), spd(3), RNG.normal(size=(4, 3)), RNG.normal(size=(3, 4)), lower_tri(3)
C33, C43, C34, c3 = (RNG.normal(size=s) for s in [(3, 3), (4, 3), (3, 4), (3,)])


def _sym_np(x, lib):
    return x + lib.swapaxes(x, -1, -2)


HESSIANS = {  # name: (symdiff f(x), jax f(x), shape of x)
    "solve": (lambda x: sd.sum(sd.solve(A0 + x, x[:, 0]) ** 2), lambda x: jnp.sum(jnp.linalg.solve(A0 + x, x[:, 0]) ** 2), (3, 3)),
    "inv": (lambda x: sd.sum(sd.inv(A0 + x) * C33), lambda x: jnp.sum(jnp.linalg.inv(A0 + x) * C33), (3, 3)),
    "det": (lambda x: sd.det(A0 + x), lambda x: jnp.linalg.det(A0 + x), (3, 3)),
    "slogdet": (lambda x: sd.slogdet(A0 + x)[1], lambda x: jnp.linalg.slogdet(A0 + x)[1], (3, 3)),
    "cholesky": (lambda x: sd.sum(sd.cholesky(S0 + _sym_np(x, sd)) * C33),
                 lambda x: jnp.sum(jnp.linalg.cholesky(S0 + _sym_np(x, jnp)) * C33), (3, 3)),
    "eigvalsh": (lambda x: sd.sum(sd.eigvalsh(S0 + _sym_np(x, sd)) * c3),
                 lambda x: jnp.sum(jnp.linalg.eigvalsh(S0 + _sym_np(x, jnp)) * c3), (3, 3)),
    "eigh_vectors": (lambda x: sd.sum(sd.eigh(S0 + _sym_np(x, sd))[1] ** 2 * C33),
                     lambda x: jnp.sum(jnp.linalg.eigh(S0 + _sym_np(x, jnp))[1] ** 2 * C33), (3, 3)),
    "svdvals": (lambda x: sd.sum(sd.svdvals(X0 + x) * c3), lambda x: jnp.sum(jnp.linalg.svd(X0 + x, compute_uv=False) * c3), (4, 3)),
    "svd_u": (lambda x: sd.sum(sd.svd(X0 + x, full_matrices=False)[0] ** 2 * C43),
              lambda x: jnp.sum(jnp.linalg.svd(X0 + x, full_matrices=False)[0] ** 2 * C43), (4, 3)),
    "svd_vh_wide": (lambda x: sd.sum(sd.svd(W0 + x, full_matrices=False)[2] ** 2 * C34),
                    lambda x: jnp.sum(jnp.linalg.svd(W0 + x, full_matrices=False)[2] ** 2 * C34), (3, 4)),
    "qr": (lambda x: sd.sum(sd.qr(X0 + x)[0] ** 2 * C43) + sd.sum(sd.qr(X0 + x)[1] ** 2 * C33),
           lambda x: jnp.sum(jnp.linalg.qr(X0 + x)[0] ** 2 * C43) + jnp.sum(jnp.linalg.qr(X0 + x)[1] ** 2 * C33), (4, 3)),
    "pinv": (lambda x: sd.sum(sd.pinv(X0 + x) * C34), lambda x: jnp.sum(jnp.linalg.pinv(X0 + x) * C34), (4, 3)),
    "solve_triangular": (lambda x: sd.sum(sd.solve_triangular(L0 + x, x[:, 1], lower=True) * c3),
                         lambda x: jnp.sum(jsl.solve_triangular(L0 + x, x[:, 1], lower=True) * c3), (3, 3)),
    "cho_solve": (lambda x: sd.sum(sd.cho_solve(sd.cho_factor(S0 + _sym_np(x, sd)), x[0]) * c3),
                  lambda x: jnp.sum(jsl.cho_solve(jsl.cho_factor(S0 + _sym_np(x, jnp)), x[0]) * c3), (3, 3)),
    "einsum_kron_cross": (
        lambda x: sd.sum(sd.sin(sd.einsum("ij,jk,ik->i", x, x, C33))) + sd.sum(sd.kron(x, x) ** 2 * 0.1)
        + sd.sum(sd.cross(x, x ** 2) * C33) + sd.sum(sd.matrix_power(A0 + x, -1) * C33),
        lambda x: jnp.sum(jnp.sin(jnp.einsum("ij,jk,ik->i", x, x, C33))) + jnp.sum(jnp.kron(x, x) ** 2 * 0.1)
        + jnp.sum(jnp.cross(x, x ** 2) * C33) + jnp.sum(jnp.linalg.matrix_power(A0 + x, -1) * C33), (3, 3)),
}


HESSIAN_POINTS = {name: 0.1 * RNG.normal(size=shape) for name, (_, _, shape) in HESSIANS.items()}


@pytest.fixture(scope="module")
def jax_hessians() -> dict:
    """JAX's Hessians of the whole table, from one jitted function (one XLA compile)."""
    names = list(HESSIANS)
    every = jax.jit(lambda xs: [jax.hessian(HESSIANS[n][1])(x) for n, x in zip(names, xs)])
    return dict(zip(names, every([HESSIAN_POINTS[n] for n in names])))


@pytest.mark.parametrize("name", list(HESSIANS))
def test_hessians_match_jax(name, jax_hessians):
    f_sd, _, shape = HESSIANS[name]
    x = sd.tensor("x", shape)
    H = sd.evaluate(sd.hessian(f_sd(x), x), {x: HESSIAN_POINTS[name]})
    np.testing.assert_allclose(H, jax_hessians[name], rtol=1e-7, atol=1e-9)


def test_compiled_second_derivatives_match_evaluate():
    """Second-derivative graphs compiled: a dense Hessian (batched loops over the vmapped rows)
    and Hessian-vector products through triangle masks, transposed triangular solves and the
    eigenvector rule, in one kernel."""
    x = sd.tensor("x", (3, 3))
    outs = [sd.hessian(HESSIANS["slogdet"][0](x), x)]
    xs, vs = [x], []
    for name in ("cholesky", "eigh_vectors"):
        y, v = sd.tensor(name, (3, 3)), sd.tensor("v_" + name, (3, 3))
        outs.append(sd.hvp(HESSIANS[name][0](y), y, v))
        xs.append(y)
        vs.append(v)
    vals = [0.1 * RNG.normal(size=(3, 3)) for _ in xs] + [RNG.normal(size=(3, 3)) for _ in vs]
    got = sd.function(xs + vs, outs, mode="numba")(*vals)
    for g, want in zip(got, sd.evaluate(outs, dict(zip(xs + vs, vals)))):
        np.testing.assert_allclose(g, want, rtol=1e-8, atol=1e-10)


# ---------------------------------------------------------------------------------------------
# float32, vmap, sparse Hessians
# ---------------------------------------------------------------------------------------------
def test_float32_stays_float32():
    a, y, v = sd.tensor("a", (3, 3), "float32"), sd.tensor("y", (4, 3), "float32"), sd.tensor("v", (3,), "float32")
    av, yv, vv = well(3).astype(np.float32), RNG.normal(size=(4, 3)).astype(np.float32), RNG.normal(size=3).astype(np.float32)
    s = a @ a.T + 3
    outs = [sd.solve(a, v), sd.inv(a), sd.det(a), sd.slogdet(a)[1], sd.cholesky(s), sd.eigvalsh(s), sd.svdvals(y),
            sd.qr(y)[1] ** 2, sd.pinv(y), sd.solve_triangular(a, v, lower=True), sd.einsum("ij,j->i", y, v),
            sd.grad(sd.slogdet(s)[1] + sd.sum(sd.svdvals(y)), a)]
    assert all(o.dtype == np.float32 for o in outs)
    inputs = {a: av, y: yv, v: vv}
    ref = sd.evaluate(outs, {k: val.astype(np.float64) for k, val in inputs.items()})
    got = sd.evaluate(outs, inputs)
    for g, r in zip(got, ref):
        assert np.asarray(g).dtype == np.float32
        np.testing.assert_allclose(g, r, rtol=2e-4, atol=2e-4)
    compiled = [0, 4, 9, 11]  # solve, cholesky, solve_triangular and a gradient through slogdet and svd
    for k, c in zip(compiled, sd.function([a, y, v], [outs[k] for k in compiled], mode="numba")(av, yv, vv)):
        assert np.asarray(c).dtype == np.float32
        np.testing.assert_allclose(c, got[k], rtol=2e-4, atol=2e-4)


def test_vmap_over_matrices():
    a, v = sd.tensor("a", (3, 3)), sd.tensor("v", (3,))
    y = (sd.solve(a, v) + sd.solve_triangular(a, v) + sd.inv(a) @ v + sd.eigvalsh(a + a.T)
         + sd.svdvals(a) + sd.slogdet(a)[1] + sd.cholesky(a @ a.T + 3)[:, 0] + sd.einsum("ij,j->i", a, v))
    av, vv = well(4, 3), RNG.normal(size=(4, 3))
    ab, vb = sd.tensor("ab", (4, 3, 3)), sd.tensor("vb", (4, 3))
    got = sd.evaluate(sd.vmap(y, a, ab), {ab: av, v: vv[0]})
    want = [sd.evaluate(y, {a: av[k], v: vv[0]}) for k in range(4)]
    np.testing.assert_allclose(got, np.stack(want), rtol=1e-11, atol=1e-12)
    got = sd.evaluate(sd.vmap(y, v, vb), {a: av[0], vb: vv})
    want = [sd.evaluate(y, {a: av[0], v: vv[k]}) for k in range(4)]
    np.testing.assert_allclose(got, np.stack(want), rtol=1e-11, atol=1e-12)


def test_sparse_hessian_equals_dense():
    n = 4
    A1 = spd(n)
    x = sd.tensor("x", (n,))
    f = sd.slogdet(A1 + sd.diag(x))[1]
    x0 = 0.1 * RNG.normal(size=n)
    S = sd.SparseHessian(f, x, compiled=False)
    dense = sd.evaluate(sd.hessian(f, x), {x: x0})
    np.testing.assert_allclose(S({x: x0}).toarray(), dense, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dense, jax.hessian(lambda t: jnp.linalg.slogdet(A1 + jnp.diag(t))[1])(x0), rtol=1e-9, atol=1e-12)
    # a batch of 2x2 blocks: the matrices of the batch do not mix, the pattern is block-diagonal
    z = sd.tensor("z", (12,))
    g = sd.sum(sd.slogdet(sd.reshape(z, (3, 2, 2)) + 2 * np.eye(2))[1]) + sd.sum(sd.inv(sd.reshape(z, (3, 2, 2)) + 3 * np.eye(2)))
    S = sd.SparseHessian(g, z, compiled=False)
    assert S.nnz == 3 * 16
    z0 = 0.2 * RNG.normal(size=12)
    np.testing.assert_allclose(S({z: z0}).toarray(), sd.evaluate(sd.hessian(g, z), {z: z0}), rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------------------------------------
# singular matrices, non-finite inputs, named dims, errors
# ---------------------------------------------------------------------------------------------
def test_singular_and_non_finite_matrices_behave_as_in_numpy():
    """Singular matrices raise LinAlgError on both routes; NaN gives NaN where NumPy gives NaN."""
    a, c, t, v = (sd.tensor(k, (3, 3)) for k in "actv")
    outs = [sd.inv(a), sd.cholesky(c), sd.solve_triangular(t, v), sd.solve(v, a), sd.det(a), sd.slogdet(a)[1],
            sd.qr(a)[1]]
    f = sd.function([a, c, t, v], outs, mode="numba")
    good = [well(3), spd(3), well(3), well(3)]
    f(*good)
    singular = [np.ones((3, 3)),                        # inv: rank one
                -spd(3),                                # cholesky: not positive definite
                np.triu(well(3)) * (1 - np.eye(3)[2]),  # solve_triangular: a zero on the diagonal
                np.zeros((3, 3))]                       # solve
    for k, bad in enumerate(singular):
        args = good[:k] + [bad] + good[k + 1:]
        with pytest.raises(np.linalg.LinAlgError):
            sd.evaluate(outs, dict(zip([a, c, t, v], args)))
        with pytest.raises(np.linalg.LinAlgError):
            f(*args)
    nan = well(3)
    nan[1, 1] = np.nan
    for got in (sd.evaluate(outs, {a: nan, c: good[1], t: good[2], v: good[3]}), f(nan, *good[1:])):
        for k in (0, 3, 4, 5, 6):
            assert np.isnan(got[k]).any()
        np.testing.assert_allclose(got[1], np.linalg.cholesky(good[1]), rtol=1e-12)


def test_named_dims():
    a, v = sd.tensor("a", ("n", "n")), sd.tensor("v", ("n",))
    outs = [sd.solve(a, v), sd.cholesky(a @ a.T),
            sd.grad(sd.sum(sd.solve_triangular(a, v, lower=True) ** 2) + sd.sum(sd.cholesky(a @ a.T)), a)]
    f = sd.function([a, v], outs, mode="numba")
    for n in (2, 5):
        av, vv = well(n), RNG.normal(size=n)
        want = sd.evaluate(outs, {a: av, v: vv})
        np.testing.assert_allclose(want[0], np.linalg.solve(av, vv), rtol=1e-12)
        np.testing.assert_allclose(want[1], np.linalg.cholesky(av @ av.T), rtol=1e-12)
        for got, w in zip(f(av, vv), want):
            np.testing.assert_allclose(got, w, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("build, match", [
    (lambda: sd.inv(sd.tensor("m", (3, 4))), r"inv: a must be square matrices .* \(3, 4\)"),
    (lambda: sd.det(sd.tensor("m", (3,))), r"det: .*\(3,\)"),
    (lambda: sd.cholesky(sd.tensor("m", ("n", "k"))), r"cholesky: .*\(n, k\)"),
    (lambda: sd.eigh(sd.tensor("m", (2, 3))), "eigh"),
    (lambda: sd.solve(sd.tensor("m", (3, 3)), sd.tensor("v", (4,))), r"solve: .*\(3, 3\).*\(4,\)"),
    (lambda: sd.solve(sd.tensor("m", (3, 3)), sd.tensor("v", (2, 3))), r"solve: .*rows"),
    (lambda: sd.solve(sd.tensor("m", (2, 3, 3)), sd.tensor("v", (4, 3, 1))), "batch dims"),
    (lambda: sd.solve(sd.tensor("m", (3, 3)), 1.0), "scalar"),
    (lambda: sd.solve_triangular(sd.tensor("m", (3, 3)), sd.tensor("v", (3,)), trans=5), "trans"),
    (lambda: sd.svd(sd.tensor("m", (3,))), "svd"),
    (lambda: sd.svd(sd.tensor("m", ("p", "q")), full_matrices=False), r"svd: min\(m, n\)"),
    (lambda: sd.qr(sd.tensor("m", (4, 3)), mode="complete"), "complete"),
    (lambda: sd.qr(sd.tensor("m", (4, 3)), mode="raw"), "mode"),
    (lambda: sd.pinv(sd.tensor("m", (4, 3)), rcond=1e-3, rtol=1e-3), "rtol"),
    (lambda: sd.eigvalsh(sd.tensor("m", (3, 3)), UPLO="X"), "UPLO"),
    (lambda: sd.cho_solve(sd.tensor("m", (3, 3)), sd.tensor("v", (3,))), "cho_solve"),
])
def test_shape_errors(build, match):
    with pytest.raises(sd.ShapeError, match=match):
        build()


def test_scipy_linalg_namespace_keeps_scipy_defaults():
    """symdiff.scipy.linalg follows scipy.linalg's signatures and defaults, not numpy.linalg's."""
    import scipy.linalg as sl

    import symdiff.scipy.linalg as L

    rng = np.random.default_rng(7)
    M = rng.standard_normal((4, 4))
    S = M @ M.T + 4 * np.eye(4)
    W, T, bv = rng.standard_normal((3, 5)), rng.standard_normal((5, 3)), np.arange(4.0)
    a, w, t, b = sd.matrix("a", 4, 4), sd.matrix("w", 3, 5), sd.matrix("t", 5, 3), sd.vector("b", 4)
    env = {a: S, w: W, t: T, b: bv}

    def ev(n):
        return sd.evaluate(n, env)

    assert np.allclose(ev(L.cholesky(a)), sl.cholesky(S))  # SciPy: upper by default
    assert np.allclose(ev(L.cholesky(a, lower=True)), sl.cholesky(S, lower=True))
    assert np.allclose(ev(L.solve(a, b, transposed=True)), sl.solve(S, bv, transposed=True))
    assert np.allclose(ev(L.eigh(a, eigvals_only=True)), sl.eigh(S, eigvals_only=True))
    for mode, x, X in [("economic", t, T), ("full", w, W)]:
        q, r = L.qr(x, mode=mode)
        Q, R = sl.qr(X, mode=mode)
        assert ev(q).shape == Q.shape and np.allclose(np.abs(ev(r)), np.abs(R))
    (r,) = L.qr(t, mode="r")
    assert np.allclose(np.abs(ev(r)), np.abs(sl.qr(T, mode="r")[0]))
    assert np.allclose(ev(L.pinv(w)), sl.pinv(W))
    assert np.allclose(ev(L.svd(w, compute_uv=False)), sl.svd(W, compute_uv=False))
    sd.check_grad(sd.sum(L.cholesky(a) ** 2), [a], {a: S})
