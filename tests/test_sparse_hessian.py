"""Sparse Hessians: graph-derived patterns, colourings, compressed evaluation."""
import time

import numpy as np
import pytest
import scipy.sparse as sp

import symdiff as sd
from symdiff.sparsity import colour_rows, dependency_patterns, hessian_pattern
from checks import rosenbrock, rosenbrock_hessian

RNG = np.random.default_rng(3)


def check_colouring(pattern, colours, kind="distance2"):
    """No two rows of one colour share a non-zero column (distance-2), or (star) a distance-1
    colouring in which every path on four vertices uses three colours."""
    if kind == "star":
        from symdiff.colouring import is_star_colouring

        assert is_star_colouring(pattern, colours)
        return
    P = sp.csc_matrix(pattern)
    for j in range(P.shape[1]):
        rows = P.indices[P.indptr[j]:P.indptr[j + 1]]
        assert len(set(colours[rows])) == len(rows)


def test_rosenbrock_1000_tridiagonal():
    n = 1000
    x = sd.tensor("x", (n,))
    H = sd.hessian(rosenbrock(x), x, sparse=True)
    assert isinstance(H, sd.SparseHessian)
    H.compiled = False                             # NumPy evaluation (the compiled path: below)
    P = H.pattern
    assert P.nnz == 2998
    assert np.array_equal(P.toarray(), np.abs(np.subtract.outer(np.arange(n), np.arange(n))) <= 1)
    assert H.n_colours == 3
    check_colouring(P, H.colours)
    assert H.compressed.shape == (3, n)          # 3 batched Hessian-vector products, not n
    xv = RNG.normal(size=n)
    Hv = H({x: xv})
    assert sp.issparse(Hv) and Hv.shape == (n, n) and Hv.nnz == 2998
    assert abs(Hv - rosenbrock_hessian(xv)).max() < 1e-9
    dense = sd.evaluate(sd.hessian(rosenbrock(x), x), {x: xv})
    np.testing.assert_allclose(Hv.toarray(), dense, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(H.data({"x": xv}), Hv.data)   # names work as keys


def test_rosenbrock_100000():
    """A dense Hessian would need 80 GB; the sparse one costs O(non-zeros)."""
    n = 100_000
    x = sd.tensor("x", (n,))
    t0 = time.perf_counter()
    H = sd.SparseHessian(rosenbrock(x), x, compiled=False)
    xv = RNG.normal(size=n)
    Hv = H({x: xv})
    elapsed = time.perf_counter() - t0
    assert Hv.nnz == 3 * n - 2 and H.n_colours == 3
    assert abs(Hv - rosenbrock_hessian(xv)).max() < 1e-8
    assert elapsed < 20


def test_compiled_sparse_hessian(run):
    n = 50
    x = sd.tensor("x", (n,))
    H = sd.hessian(rosenbrock(x), x, sparse=True)
    H.compiled = run.backend == "numba"
    xv = RNG.normal(size=n)
    seeds = H.seed_inputs                             # the seed matrix, an input of this stencil's graph
    assert len(seeds) == 1 and next(iter(seeds.values())).shape == (3, n)
    compressed = run(H.compressed, {x: xv, **seeds})  # the compressed graph through each backend
    assert compressed.shape == (3, n)
    assert abs(H({x: xv}) - rosenbrock_hessian(xv)).max() < 1e-9
    # the non-zeros come straight out of one graph (gather inside the kernel), keyed by node or name
    data = run(H._only_plan().nonzeros, {x: xv, **seeds})
    np.testing.assert_array_equal(H.data({"x": xv}), data)
    np.testing.assert_allclose(data, np.asarray(rosenbrock_hessian(xv)[H.pattern.nonzero()]).ravel(), rtol=1e-12)
    with pytest.raises(sd.InputError, match="x"):
        H.data({"y": xv})                             # a missing value: named, before any kernel runs
    with pytest.raises(sd.ShapeError):
        H.data({x: xv[:-1]})


PATTERN_CASES = {
    "diagonal": lambda x: sd.sum(sd.exp(x) + x ** 4),
    "arrow": lambda x: sd.sum(x[0] * sd.sin(x)),
    "banded_5": lambda x: sd.sum((x[2:] - x[:-2]) ** 2 * x[1:-1]),
    "blocks": lambda x: sd.sum(sd.logsumexp(x.reshape(3, 4), axis=1)),
    "softmax_rows": lambda x: sd.sum(sd.softmax(x.reshape(4, 3), axis=1) * np.arange(12.0).reshape(4, 3)),
    "transpose_reduce": lambda x: sd.sum(sd.max(x.reshape(3, 4).T, axis=0) ** 2) + sd.sum(sd.tanh(x)),
    "matmul_dense": lambda x: sd.sum(sd.tanh(sd.constant(RNG.normal(size=(2, 12))) @ x)),
    "outer": lambda x: sd.sum(sd.outer(x[:3], x[3:6]) ** 2),
    "where_concat": lambda x: sd.sum(sd.where(x > 0, x ** 3, -x) * sd.concatenate([x[6:], x[:6]])),
    "matrix_product": lambda x: sd.sum(sd.exp(x[:6].reshape(2, 3) @ x[6:].reshape(3, 2))),
}


@pytest.mark.parametrize("name", sorted(PATTERN_CASES))
def test_pattern_covers_true_hessian_and_values_match(name):
    n = 12
    x = sd.tensor("x", (n,))
    f = PATTERN_CASES[name](x)
    H = sd.SparseHessian(f, x, compiled=False)      # as hessian(f, x, sparse=True), no compile time
    xv = RNG.normal(size=n)
    dense = sd.evaluate(sd.hessian(f, x), {x: xv})
    # the pattern contains every non-zero of the Hessian
    assert not np.any((np.abs(dense) > 1e-12) & ~H.pattern.toarray())
    check_colouring(H.pattern, H.colours, H.colouring)
    np.testing.assert_allclose(H({x: xv}).toarray(), dense, rtol=1e-11, atol=1e-11)


def test_pattern_sizes_are_structural():
    x = sd.tensor("x", (12,))
    assert hessian_pattern(PATTERN_CASES["diagonal"](x), x).nnz == 12
    assert hessian_pattern(PATTERN_CASES["arrow"](x), x).nnz == 12 + 2 * 11
    assert hessian_pattern(PATTERN_CASES["blocks"](x), x).nnz == 3 * 16
    H = sd.hessian(PATTERN_CASES["diagonal"](x), x, sparse=True)
    assert H.n_colours == 1


def test_dependency_patterns_of_a_jacobian():
    """Rows: output entries; columns: entries of x."""
    x = sd.tensor("x", (5,))
    y = sd.concatenate([x[1:] * x[:-1], sd.sum(x, keepdims=True)])
    (P,) = dependency_patterns([y], x)
    want = np.zeros((5, 5), bool)
    for i in range(4):
        want[i, [i, i + 1]] = True
    want[4] = True
    np.testing.assert_array_equal(P.toarray() > 0, want)


def arrow_hessian(xv):
    """Hessian of sum(x**4) + x[0] * sum(sin(x)), by hand."""
    H = np.diag(12 * xv ** 2 - xv[0] * np.sin(xv))
    H[0, 1:] += np.cos(xv[1:])
    H[1:, 0] += np.cos(xv[1:])
    H[0, 0] += 2 * np.cos(xv[0])
    return H


def test_named_dims_pattern_at_first_call():
    x = sd.tensor("x", ("n",))
    H = sd.SparseHessian(sd.sum(x ** 4) + x[0] * sd.sum(sd.sin(x)), x, compiled=False)
    with pytest.raises(sd.SymdiffError, match="first"):
        H.pattern
    for n in (20, 30):                               # one plan per size
        xv = RNG.normal(size=n)
        Hv = H({x: xv})
        # an arrowhead: 2 star colours (hub, leaves), where a distance-2 colouring needs n
        assert Hv.nnz == 3 * n - 2 and H._plans[(("n", n),)].n_colours == 2
        np.testing.assert_allclose(Hv.toarray(), arrow_hessian(xv), rtol=1e-12, atol=1e-12)


def test_colouring_random_patterns():
    for seed in range(5):
        A = sp.random(60, 60, density=0.05, random_state=seed, format="csr")
        P = ((A + A.T + sp.identity(60)) != 0).astype(bool)
        colours, k = colour_rows(P)
        check_colouring(P, colours)
        assert k <= 60 and colours.max() + 1 == k


def test_sparse_hessian_errors():
    x = sd.tensor("x", (3,))
    with pytest.raises(sd.GradError, match="scalar"):
        sd.hessian(sd.exp(x), x, sparse=True)
    with pytest.raises(sd.GradError, match="one variable"):
        sd.hessian(sd.sum(x), [x, x], sparse=True)


_PAIRS = np.random.default_rng(11).integers(0, 16, size=(2, 20))
COMPILED_CASES = {
    "banded": lambda x: sd.sum((x[2:] - x[:-2]) ** 2 * x[1:-1]) + sd.sum(sd.exp(x)),
    "arrowhead": lambda x: sd.sum(x[0] * sd.sin(x)) + sd.sum(x ** 4),
    "blocks": lambda x: sd.sum(sd.logsumexp(x.reshape(4, 4), axis=1)),
    "random": lambda x: sd.sum(sd.sin(x[_PAIRS[0]] * x[_PAIRS[1]])),
    "constant_coefficients": lambda x: sd.sum(sd.constant(np.linspace(1, 2, 15)) * x[1:] * x[:-1]) + sd.sum(3 * x ** 2),
}


@pytest.mark.parametrize("name", sorted(COMPILED_CASES))
def test_compiled_values_match_dense(name):
    """The compiled values path (seed matrix fed as an input or folded as a constant, whichever
    reads fewer bytes) against the dense Hessian and central differences of the gradient."""
    from symdiff.sparsity import _constant_bytes

    n = 16
    x = sd.tensor("x", (n,))
    f = COMPILED_CASES[name](x)
    H = sd.hessian(f, x, sparse=True)
    plan = H._only_plan()
    assert (plan.seed_var is None) == (not H.seed_inputs)
    if name == "constant_coefficients":  # a constant Hessian: folding the seeds removes all the work
        assert plan.seed_var is None and _constant_bytes(plan.compressed) > 0
    xv = RNG.normal(size=n)
    dense = sd.evaluate(sd.hessian(f, x), {x: xv})
    for _ in range(2):                # the first call compiles, the second takes the cached fast path
        np.testing.assert_allclose(H({x: xv}).toarray(), dense, rtol=1e-10, atol=1e-10)
    np.testing.assert_array_equal(H.data({"x": xv}), H.data({x: xv}))
    g = sd.function([x], sd.grad(f, x), mode="numpy")
    eps = 1e-6
    fd = np.stack([(g(xv + eps * e) - g(xv - eps * e)) / (2 * eps) for e in np.eye(n)], axis=1)
    np.testing.assert_allclose(H({x: xv}).toarray(), fd, rtol=1e-5, atol=1e-5)
    with pytest.raises(sd.ShapeError):
        H.data({x: xv[:-1]})          # the cached fast path still checks the shape
    H.compiled = False                # switching to NumPy after compiling: the same values
    np.testing.assert_allclose(H.data({x: xv}), H.data({"x": xv}), rtol=0, atol=0)
    np.testing.assert_allclose(H({x: xv}).toarray(), dense, rtol=1e-10, atol=1e-10)


def test_compiled_values_named_dims():
    x = sd.tensor("x", ("n",))
    f = rosenbrock(x)
    H = sd.hessian(f, x, sparse=True)
    for n in (7, 30):
        xv = RNG.normal(size=n)
        np.testing.assert_allclose(H({"x": xv}).toarray(), rosenbrock_hessian(xv).toarray(), rtol=1e-11, atol=1e-9)
