"""Stencil sparse Hessians: diagonals read off the product graph, written straight into CSR data.

``sd.hessian(f, x, sparse=True)`` of a stencil objective (elementwise arithmetic on shifted
slices) takes the *stencil* route (``symdiff.stencil`` + the ``diagonals_to_csr`` op) instead of
compressed Hessian-vector products. Every value is checked against central differences of the
gradient, against the compressed route on the same graph, and against a closed form or JAX.
"""
import numpy as np
import pytest
import scipy.sparse as sp

import symdiff as sd
from symdiff.errors import ShapeError
from symdiff.ops.extra import DiagonalsToCSR
from symdiff.sparsity import dependency_patterns
from checks import rosenbrock, rosenbrock_hessian as _rosenbrock_csr


def rosenbrock_hessian(xv):
    return _rosenbrock_csr(xv).toarray()

RNG = np.random.default_rng(12)


def fd_hessian(f, x, xv, h=1e-5):
    """Central differences of the (NumPy-evaluated) gradient, column by column."""
    g = sd.grad(f, x)
    flat = xv.ravel()
    cols = []
    for k in range(flat.size):
        e = np.zeros_like(flat)
        e[k] = h
        plus = sd.evaluate(g, {x: (flat + e).reshape(xv.shape)}).ravel()
        minus = sd.evaluate(g, {x: (flat - e).reshape(xv.shape)}).ravel()
        cols.append((plus - minus) / (2 * h))
    return np.stack(cols, axis=1)


def both_routes(f, x, xv, compiled=None):
    """(stencil-route matrix, compressed-route matrix) at ``xv``, as dense arrays."""
    Hs = sd.SparseHessian(f, x, compiled=compiled)
    Hc = sd.SparseHessian(f, x, compiled=compiled, colouring="distance2")  # forces compression
    assert Hs._only_plan().route == "stencil"
    assert Hc._only_plan().route == "compressed"
    return Hs({x: xv}).toarray(), Hc({x: xv}).toarray(), Hs


@pytest.mark.parametrize("compiled", [False, None], ids=["numpy", "numba"])
def test_rosenbrock_stencil_against_closed_form_fd_and_compression(compiled):
    n = 9
    x = sd.tensor("x", (n,))
    xv = RNG.normal(size=n)
    got, compressed, H = both_routes(rosenbrock(x), x, xv, compiled)
    np.testing.assert_allclose(got, rosenbrock_hessian(xv), rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(got, compressed, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(got, fd_hessian(rosenbrock(x), x, xv), rtol=1e-6, atol=1e-4)
    assert H.nnz == 3 * n - 2
    if compiled is None:  # one loop over x, no seed matrix, no gather
        fn = H._only_plan().fn
        assert fn.wait_compiled(300) and fn.mode == "numba"
        np.testing.assert_allclose(H({x: xv}).toarray(), got, rtol=1e-13, atol=1e-12)  # the kernel's values
        src = fn.source
        assert "def kernel(a0):" in src and "gather" not in src and src.count("for ") == 1


def test_rosenbrock_large_compiled_values():
    n = 20_000
    x = sd.tensor("x", (n,))
    H = sd.hessian(rosenbrock(x), x, sparse=True)
    xv = RNG.normal(size=n)
    data = H.data({x: xv})
    ref = sp.csr_matrix(rosenbrock_hessian(xv[:50]))  # the pattern's first rows, by the closed form
    np.testing.assert_allclose(data[:ref.nnz - 2], ref.data[:-2], rtol=1e-12)
    d = np.zeros(n)
    d[:-1] += 1200 * xv[:-1] ** 2 - 400 * xv[1:] + 2
    d[1:] += 200
    np.testing.assert_allclose(H({x: xv}).diagonal(), d, rtol=1e-12)


def _grid_objective(x):
    """A 2-d grid energy: vertical differences, horizontal products and a diagonal coupling."""
    vert = sd.sum((x[1:, :] - x[:-1, :]) ** 2 * sd.exp(0.1 * x[1:, :]))
    horiz = sd.sum(sd.sin(x[:, 1:] * x[:, :-1]))
    diag = sd.sum(x[1:, 1:] * x[:-1, :-1] ** 3)
    return vert + horiz + diag + sd.sum(sd.log1p(x ** 2))


def test_two_dimensional_grid_against_jax_and_fd():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    shape = (5, 6)
    x = sd.tensor("x", shape)
    xv = RNG.normal(size=shape)
    f = _grid_objective(x)
    for compiled in (False, None):
        got, compressed, H = both_routes(f, x, xv, compiled)
        np.testing.assert_allclose(got, compressed, rtol=1e-12, atol=1e-12)

    def jf(z):
        vert = jnp.sum((z[1:, :] - z[:-1, :]) ** 2 * jnp.exp(0.1 * z[1:, :]))
        horiz = jnp.sum(jnp.sin(z[:, 1:] * z[:, :-1]))
        diag = jnp.sum(z[1:, 1:] * z[:-1, :-1] ** 3)
        return vert + horiz + diag + jnp.sum(jnp.log1p(z ** 2))

    ref = np.asarray(jax.hessian(jf)(jnp.asarray(xv))).reshape(30, 30)
    np.testing.assert_allclose(got, ref, rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(got, fd_hessian(f, x, xv), rtol=1e-6, atol=1e-5)
    offsets = H._only_plan().nonzeros.op.offsets
    assert {(1, 1), (-1, -1), (0, 1), (1, 0)} <= set(offsets) and len(offsets) == 7


def test_pattern_with_holes_uses_a_mask():
    """Offsets +-3 exist for three rows only: the kernel reads a presence mask, not bounds."""
    n = 10
    x = sd.tensor("x", (n,))
    f = sd.sum(sd.exp(x) * x) + sd.sum(x[3:6] * x[0:3] ** 2)
    xv = RNG.normal(size=n)
    for compiled in (False, None):
        got, compressed, H = both_routes(f, x, xv, compiled)
        np.testing.assert_allclose(got, compressed, rtol=1e-13, atol=1e-13)
    op = H._only_plan().nonzeros.op
    assert op.masked and op.offsets == ((-3,), (0,), (3,))
    ref = np.diag(np.exp(xv) * (xv + 2))
    for j in range(3):
        ref[j, j] += 2 * xv[j + 3]
        ref[j, j + 3] = ref[j + 3, j] = 2 * xv[j]
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got, fd_hessian(f, x, xv), rtol=1e-6, atol=1e-6)
    assert H.nnz == n + 6


def test_float32():
    n = 40
    x = sd.tensor("x", (n,), dtype="float32")
    H = sd.hessian(rosenbrock(x), x, sparse=True)
    assert H._only_plan().route == "stencil"
    xv = RNG.normal(size=n).astype(np.float32)
    data = H.data({x: xv})
    assert data.dtype == np.float32
    ref = sp.csr_matrix(rosenbrock_hessian(xv.astype(np.float64))).data
    np.testing.assert_allclose(data, ref, rtol=2e-5, atol=1e-3)


def test_strided_slices_pairwise_rosenbrock_and_powell():
    """MGH's extended Rosenbrock (pairs: x[::2], x[1::2]) and extended Powell (x[0::4] ...)."""
    n = 12
    x = sd.tensor("x", (n,))
    xv = RNG.normal(size=n)
    f = sd.sum(100 * (x[1::2] - x[::2] ** 2) ** 2 + (1 - x[::2]) ** 2)
    for compiled in (False, None):
        got, compressed, _ = both_routes(f, x, xv, compiled)
        np.testing.assert_allclose(got, compressed, rtol=1e-13, atol=1e-12)
    ref = np.zeros((n, n))
    for i in range(0, n, 2):  # each pair's 2x2 block, by hand
        a, b = xv[i], xv[i + 1]
        ref[i:i + 2, i:i + 2] = [[1200 * a ** 2 - 400 * b + 2, -400 * a], [-400 * a, 200]]
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-9)
    x1, x2, x3, x4 = x[0::4], x[1::4], x[2::4], x[3::4]
    powell = sd.sum((x1 + 10 * x2) ** 2 + 5 * (x3 - x4) ** 2 + (x2 - 2 * x3) ** 4 + 10 * (x1 - x4) ** 4)
    got, compressed, H = both_routes(powell, x, xv)
    np.testing.assert_allclose(got, compressed, rtol=1e-13, atol=1e-11)
    np.testing.assert_allclose(got, fd_hessian(powell, x, xv), rtol=1e-6, atol=1e-4)
    # per block of 4: the diagonal, 1-2, 2-3, 3-4 (offset 1) and 1-4 (offset 3), both ways
    assert H.nnz == 3 * 12 and H._only_plan().nonzeros.op.offsets == ((-3,), (-1,), (0,), (1,), (3,))
    assert H._only_plan().nonzeros.op.masked


@pytest.mark.parametrize("kind", ["reverse", "sum", "reshape"])
def test_non_stencils_fall_back_to_compression(kind):
    n = 8
    x = sd.tensor("x", (n,))
    if kind == "reverse":   # v read backwards: H[j, n - 1 - j]
        f = sd.sum(x[::-1] * x ** 2)
    elif kind == "sum":     # a v term summed over an axis, inside a block-diagonal Hessian
        f = sd.sum(x[:4]) ** 2 + sd.sum(x[4:] ** 3)
    else:                   # a reshape of the v terms
        f = sd.sum(sd.reshape(x, (2, 4))[0] * sd.reshape(x, (2, 4))[1] ** 2)
    H = sd.hessian(f, x, sparse=True)
    assert H._only_plan().route == "compressed"
    xv = RNG.normal(size=n)
    np.testing.assert_allclose(H({x: xv}).toarray(), fd_hessian(f, x, xv), rtol=1e-6, atol=1e-5)


def _nonzeros(n=7):
    x = sd.tensor("x", (n,))
    f = sd.sum(sd.exp(x[1:] * x[:-1])) + sd.sum(x ** 4)
    H = sd.hessian(f, x, sparse=True)
    plan = H._only_plan()
    assert plan.route == "stencil"
    return x, H, plan.nonzeros


def test_diagonals_to_csr_gradient_batching_and_pattern(run):
    """The op's own rules: its gradient (a third derivative), vmap, and the sparsity pattern."""
    n = 7
    x, H, nz = _nonzeros(n)
    xv = RNG.normal(size=n)
    w = RNG.normal(size=nz.shape[0])
    g = sd.grad(sd.sum(sd.constant(w) * nz), x)   # d/dx of w . H(x).data
    got = run(g, {x: xv}, rtol=1e-10)
    h = 1e-6
    fd = np.array([(w @ H.data({x: xv + h * e}) - w @ H.data({x: xv - h * e})) / (2 * h) for e in np.eye(n)])
    np.testing.assert_allclose(got, fd, rtol=1e-6, atol=1e-6)

    xs = sd.tensor("xs", (3, n))
    batch = RNG.normal(size=(3, n))
    got = run(sd.vmap(nz, x, xs), {xs: batch})
    np.testing.assert_allclose(got, np.stack([H.data({x: b}) for b in batch]), rtol=1e-13)

    (P,) = dependency_patterns([nz], x)
    J = sd.evaluate(sd.jacobian(nz, x), {x: xv})
    assert P.shape == (nz.shape[0], n)
    assert np.all(P.toarray().astype(bool)[np.abs(J) > 0])            # every numerically non-zero entry is in it
    rows = np.repeat(np.arange(n), np.diff(H.pattern.indptr))
    cols = H.pattern.indices
    expected = np.zeros((nz.shape[0], n), bool)           # H[r, c] reads x[r], x[c] and neighbours
    for q, (r, c) in enumerate(zip(rows, cols)):
        expected[q, max(min(r, c) - 1, 0):max(r, c) + 2] = True
    assert np.all(expected[P.toarray().astype(bool)])


def test_diagonals_to_csr_checks_its_inputs():
    d = sd.tensor("d", (5,))
    with pytest.raises(ShapeError, match=r"diagonals_to_csr: expected 3 diagonals of shape \(5,\)"):
        DiagonalsToCSR(((-1,), (0,), (1,)), (5,), False)(d, d)
    with pytest.raises(ShapeError, match="diagonals_to_csr: expected 2 diagonals"):
        DiagonalsToCSR(((0,), (1,)), (5,), False)(d, sd.tensor("e", (4,)))
    with pytest.raises(ShapeError, match="the mask must be a bool constant of shape"):
        DiagonalsToCSR(((0,), (1,)), (5,), True)(d, d, sd.constant(np.ones((5, 3), bool)))


def test_printing_names_the_op():
    _, _, nz = _nonzeros(5)
    text = sd.pretty(nz) if hasattr(sd, "pretty") else sd.dprint(nz, file=None)
    assert "diagonals_to_csr" in str(text)
