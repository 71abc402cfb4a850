"""Jacobians, Hessians, jvp/vjp/hvp: finite differences, closed forms and graph structure."""
import numpy as np
import pytest
import sympy

import symdiff as sd
from symdiff.graph import Variable, toposort

RNG = np.random.default_rng(7)


def fd_jacobian(y, x, values, eps=1e-6):
    """Rows of the Jacobian from sd.numeric_grad of each entry of y."""
    m = int(np.prod(y.shape))
    flat = sd.reshape(y, (m,))
    rows = [sd.numeric_grad(flat[i], [x], values, eps)[0] for i in range(m)]
    return np.stack(rows).reshape(*y.shape, *x.shape)


def ops_in(node):
    return {n.op.name for n in toposort([node]) if n.op is not None}


# ---------------------------------------------------------------------------------------------
# Jacobians
# ---------------------------------------------------------------------------------------------
def test_jacobian_vector_function(run):
    x = sd.tensor("x", (3,))
    A = RNG.normal(size=(4, 3))
    y = sd.tanh(sd.constant(A) @ x) * sd.sum(x * x) + sd.concatenate([x, x[:1]])
    J = sd.jacobian(y, x)
    assert J.shape == (4, 3)
    vals = {x: RNG.normal(size=3)}
    np.testing.assert_allclose(run(J, vals), fd_jacobian(y, x, vals), rtol=1e-6, atol=1e-8)


def test_jacobian_matrix_shapes_and_several_variables():
    W = sd.tensor("W", (2, 3))
    v = sd.tensor("v", (3,))
    y = sd.softmax(W * v, axis=1)                    # (2, 3)
    JW, Jv = sd.jacobian(y, [W, v])
    assert JW.shape == (2, 3, 2, 3) and Jv.shape == (2, 3, 3)
    vals = {W: RNG.normal(size=(2, 3)), v: RNG.normal(size=3)}
    got = sd.evaluate([JW, Jv], vals)
    np.testing.assert_allclose(got[0], fd_jacobian(y, W, vals), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(got[1], fd_jacobian(y, v, vals), rtol=1e-6, atol=1e-8)


def test_jacobian_is_one_vectorised_graph():
    """No per-row graphs: the Jacobian of an n-vector has O(1) nodes, not O(n)."""
    sizes = []
    for n in (4, 40):
        x = sd.tensor("x", (n,))
        J = sd.jacobian(sd.sin(x) * sd.sum(sd.exp(x)), x)
        sizes.append(len(toposort([J])))
    assert sizes[0] == sizes[1]


def test_jacobian_scalar_output_is_gradient():
    x = sd.tensor("x", (3,))
    f = sd.sum(sd.sin(x) * x)
    vals = {x: RNG.normal(size=3)}
    np.testing.assert_allclose(sd.evaluate(sd.jacobian(f, x), vals), sd.evaluate(sd.grad(f, x), vals))


def test_jacobian_disconnected():
    x = sd.tensor("x", (3,))
    z = sd.tensor("z", (2,))
    y = sd.exp(x)
    J = sd.jacobian(y, z)
    assert J.shape == (3, 2)
    np.testing.assert_array_equal(sd.evaluate(J, {}), np.zeros((3, 2)))
    with pytest.raises(sd.DisconnectedError):
        sd.jacobian(y, z, disconnected="raise")


def test_jacobian_needs_static_output_size():
    x = sd.tensor("x", ("n",))
    with pytest.raises(sd.ShapeError, match="static"):
        sd.jacobian(sd.exp(x), x)


# ---------------------------------------------------------------------------------------------
# Hessians
# ---------------------------------------------------------------------------------------------
def test_hessian_against_fd_of_gradient_and_symmetric():
    x = sd.tensor("x", (4,))
    f = sd.sum(sd.exp(x[:-1] * x[1:])) + sd.logsumexp(x) * sd.sum(sd.sin(x))
    H = sd.hessian(f, x)
    vals = {x: RNG.normal(size=4) * 0.5}
    Hv = sd.evaluate(H, vals)
    np.testing.assert_allclose(Hv, fd_jacobian(sd.grad(f, x), x, vals), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(Hv, Hv.T, rtol=1e-12, atol=1e-14)


def test_hessian_blocks_of_several_variables():
    a = sd.tensor("a", (2,))
    B = sd.tensor("B", (2, 2))
    f = sd.sum(sd.tanh(B @ a)) + sd.sum(a * a * a) * sd.sum(B)
    H = sd.hessian(f, [a, B])
    assert [[h.shape for h in row] for row in H] == [[(2, 2), (2, 2, 2)], [(2, 2, 2), (2, 2, 2, 2)]]
    vals = {a: RNG.normal(size=2), B: RNG.normal(size=(2, 2))}
    got = sd.evaluate([h for row in H for h in row], vals)
    g = sd.grad(f, [a, B])
    for k, (i, j) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        want = fd_jacobian(g[i], [a, B][j], vals)
        np.testing.assert_allclose(got[k], want, rtol=1e-6, atol=1e-7)
    # symmetry across blocks: d2f/da dB = (d2f/dB da)^T
    np.testing.assert_allclose(got[1], np.transpose(got[2], (2, 0, 1)), rtol=1e-12)


def test_quadratic_form_hessian_is_A_plus_AT(run):
    d = 5
    x = sd.tensor("x", (d,))
    A = sd.tensor("A", (d, d))
    b = sd.tensor("b", (d,))
    H = sd.hessian(x @ A @ x + b @ x, x)
    variables = {n for n in toposort([H]) if isinstance(n, Variable)}
    assert variables == {A}                     # no dependence on x or b
    assert ops_in(H) == {"add", "transpose"}    # literally A + A^T
    Av = RNG.normal(size=(d, d))
    np.testing.assert_allclose(run(H, {A: Av}), Av + Av.T, rtol=1e-14)
    assert "A + A.T" in sd.pretty(H)


def test_logistic_hessian_closed_form_and_structure(run):
    n_feat, lam = 6, 0.01
    X = sd.tensor("X", ("n", n_feat))
    y = sd.tensor("y", ("n",))
    w = sd.tensor("w", (n_feat,))
    b = sd.scalar("b")
    loss = sd.mean(sd.softplus(-(2 * y - 1) * (X @ w + b))) + lam * sd.sum(w * w)
    H = sd.hessian(loss, w)
    nodes = toposort([H])
    # no n x d x d temporary, and a single product contracting over the n samples
    assert all(node.ndim <= 2 for node in nodes)
    products = [node for node in nodes if node.op is not None and node.op.name == "matmul"
                and any("n" in i.shape for i in node.inputs) and "n" not in node.shape]
    assert len(products) == 1 and products[0].shape == (n_feat, n_feat)
    Xv = RNG.normal(size=(40, n_feat))
    yv = (RNG.random(40) > 0.5) * 1.0
    wv, bv = RNG.normal(size=n_feat) * 0.3, 0.2
    p = 1 / (1 + np.exp(-(Xv @ wv + bv)))
    closed = Xv.T @ (Xv * (p * (1 - p))[:, None]) / 40 + 2 * lam * np.eye(n_feat)
    np.testing.assert_allclose(run(H, {X: Xv, y: yv, w: wv, b: bv}), closed, rtol=1e-12, atol=1e-15)


def test_diagonal_hessian_folds():
    x = sd.tensor("x", (4,))
    H = sd.hessian(sd.sum(x * x), x)
    assert isinstance(H, sd.Constant)           # 2 I, folded to a constant
    np.testing.assert_array_equal(H.value, 2 * np.eye(4))
    He = sd.hessian(sd.sum(sd.exp(x)), x)       # I * exp(x): no matmul, no sum
    assert ops_in(He) <= {"mul", "exp"}


def test_hessian_errors():
    x = sd.tensor("x", (3,))
    with pytest.raises(sd.GradError, match="scalar"):
        sd.hessian(sd.exp(x), x)
    with pytest.raises(sd.MemoryLimitError, match="memory limit"):
        sd.hessian(sd.sum(x), x, max_bytes=8)
    big = sd.tensor("big", (100_000,))
    with pytest.raises(sd.MemoryLimitError, match="sparse=True"):
        sd.hessian(sd.sum(big ** 4), big)        # 80 GB dense: refused, never allocated
    old = sd.get_memory_limit()
    try:
        sd.set_memory_limit(64)                  # the 3 x 3 float64 Jacobian takes 72 bytes
        assert sd.get_memory_limit() == 64
        with pytest.raises(sd.MemoryLimitError):
            sd.jacobian(sd.exp(x), x)
    finally:
        sd.set_memory_limit(old)
    with pytest.raises(sd.SymdiffError):
        sd.set_memory_limit(-1)


# ---------------------------------------------------------------------------------------------
# Vector products
# ---------------------------------------------------------------------------------------------
def test_jvp_vjp_hvp_against_dense(run):
    x = sd.tensor("x", (4,))
    y = sd.sin(x[1:] * x[:-1]) * sd.exp(x[0])            # (3,)
    f = sd.sum(y * y) + sd.sum(sd.log1p(x * x))
    t = sd.tensor("t", (4,))
    v = sd.tensor("v", (3,))
    J = sd.jacobian(y, x)
    H = sd.hessian(f, x)
    jv, vj, hv = sd.jvp(y, x, t), sd.vjp(y, x, v), sd.hvp(f, x, t)
    assert jv.shape == (3,) and vj.shape == (4,) and hv.shape == (4,)
    vals = {x: RNG.normal(size=4), t: RNG.normal(size=4), v: RNG.normal(size=3)}
    Jv, Hv = sd.evaluate([J, H], vals)
    jvv, vjv, hvv = run([jv, vj, hv], vals)
    np.testing.assert_allclose(jvv, Jv @ vals[t], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(vjv, vals[v] @ Jv, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(hvv, Hv @ vals[t], rtol=1e-12, atol=1e-14)


def test_jvp_does_not_need_the_seed():
    """The double-VJP seed is eliminated: jvp's graph only needs x and t."""
    x = sd.tensor("x", (3,))
    t = sd.tensor("t", (3,))
    for y in (sd.maximum(x, 0.2) * sd.max(x), sd.where(x > 0, x * x, -x) / (1 + x * x), sd.softmax(x)):
        jv = sd.jvp(y, x, t)
        assert {n for n in toposort([jv]) if isinstance(n, Variable)} <= {x, t}
        xv, tv = RNG.normal(size=3), RNG.normal(size=3)
        Jv = sd.evaluate(sd.jacobian(y, x), {x: xv})
        np.testing.assert_allclose(sd.evaluate(jv, {x: xv, t: tv}), Jv @ tv, rtol=1e-12, atol=1e-14)


def test_jvp_several_variables_and_disconnected():
    a = sd.tensor("a", (2,))
    b = sd.tensor("b", (2,))
    c = sd.tensor("c", (2,))
    y = a * sd.exp(b)
    ta, tb, tc = RNG.normal(size=2), RNG.normal(size=2), RNG.normal(size=2)
    av, bv = RNG.normal(size=2), RNG.normal(size=2)
    got = sd.evaluate(sd.jvp(y, [a, b, c], [ta, tb, tc]), {a: av, b: bv})
    np.testing.assert_allclose(got, ta * np.exp(bv) + av * np.exp(bv) * tb, rtol=1e-12)


def test_hvp_does_not_form_the_hessian():
    n = 200
    x = sd.tensor("x", (n,))
    v = sd.tensor("v", (n,))
    f = sd.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    hv = sd.hvp(f, x, v)
    assert all(node.ndim <= 1 for node in toposort([hv]))
    xv, vv = RNG.normal(size=n), RNG.normal(size=n)
    H = sd.evaluate(sd.hessian(f, x), {x: xv})
    np.testing.assert_allclose(sd.evaluate(hv, {x: xv, v: vv}), H @ vv, rtol=1e-10)


def test_vector_product_shape_errors():
    x = sd.tensor("x", (3,))
    y = sd.exp(x)
    with pytest.raises(sd.ShapeError, match="tangent"):
        sd.jvp(y, x, np.ones(4))
    with pytest.raises(sd.ShapeError):
        sd.vjp(y, x, np.ones(2))
    with pytest.raises(sd.ShapeError):
        sd.hvp(sd.sum(y), x, np.ones((3, 1)))
    with pytest.raises(sd.GradError, match="scalar"):
        sd.hvp(y, x, np.ones(3))


# ---------------------------------------------------------------------------------------------
# Higher derivatives
# ---------------------------------------------------------------------------------------------
def test_fourth_derivative_against_sympy(run):
    x = sd.scalar("x")
    f = sd.exp(sd.sin(x * x))
    d2 = sd.hessian(f, x)
    d4 = sd.jacobian(sd.jacobian(d2, x), x)
    s = sympy.Symbol("s")
    want = float(sympy.diff(sympy.exp(sympy.sin(s ** 2)), s, 4).subs(s, 0.7))
    np.testing.assert_allclose(run(d4, {x: 0.7}), want, rtol=1e-12)
    # the same through hessian of a hessian (a scalar x, so shapes stay ())
    np.testing.assert_allclose(sd.evaluate(sd.hessian(d2, x), {x: 0.7}), want, rtol=1e-12)


UNARY = [sd.sin, sd.tanh, sd.sigmoid, lambda z: z * z, lambda z: sd.exp(0.3 * z), sd.softplus]
BINARY = [lambda a, b: a * b, lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a / (1.5 + b * b)]


def random_graph(x, rng, n_ops=6):
    """A small random expression of x: elementwise ops, shifts, reductions and products."""
    pool = [x]
    A = sd.constant(rng.normal(size=(3, 3)))
    for _ in range(n_ops):
        kind = rng.integers(5)
        a = pool[rng.integers(len(pool))]
        if kind == 0:
            pool.append(UNARY[rng.integers(len(UNARY))](a))
        elif kind == 1:
            b = pool[rng.integers(len(pool))]
            pool.append(BINARY[rng.integers(len(BINARY))](a, b))
        elif kind == 2:
            pool.append(A @ a)
        elif kind == 3:
            pool.append(sd.concatenate([a[1:], a[:1]]) * 0.7)
        else:
            pool.append(a * sd.sum(sd.sin(a)) * 0.3)
    return sd.sum(pool[-1] * sd.constant(rng.normal(size=3))) + 0.1 * sd.sum(pool[-2])


@pytest.mark.parametrize("seed", range(6))
def test_third_derivatives_of_random_graphs(seed):
    rng = np.random.default_rng(seed)
    x = sd.tensor("x", (3,))
    f = random_graph(x, rng)
    H = sd.hessian(f, x)
    T = sd.jacobian(H, x)
    assert T.shape == (3, 3, 3)
    xv = rng.normal(size=3) * 0.5
    Tv = sd.evaluate(T, {x: xv})
    eps = 1e-5
    fd = np.zeros((3, 3, 3))
    for k in range(3):
        e = np.zeros(3)
        e[k] = eps
        fd[:, :, k] = (sd.evaluate(H, {x: xv + e}) - sd.evaluate(H, {x: xv - e})) / (2 * eps)
    np.testing.assert_allclose(Tv, fd, rtol=1e-5, atol=1e-6 * max(1.0, np.abs(fd).max()))
    for perm in [(1, 0, 2), (0, 2, 1), (2, 1, 0)]:     # third derivatives are symmetric
        np.testing.assert_allclose(Tv, np.transpose(Tv, perm), rtol=1e-9, atol=1e-10 * max(1.0, np.abs(Tv).max()))


def test_hessian_graph_is_printable():
    x = sd.tensor("x", (3,))
    H = sd.hessian(sd.sum(sd.exp(x) * x[0]), x)
    assert isinstance(sd.pretty(H), str) and str(H)


# ---------------------------------------------------------------------------------------------
# Third derivatives of the random programs of tests/test_hypothesis.py (the shared generator)
# ---------------------------------------------------------------------------------------------
try:
    from hypothesis import HealthCheck, given, settings
    from test_hypothesis import _max_gap_ok, build, programs
except ImportError:  # pragma: no cover - hypothesis or the generator missing
    programs = None


if programs is not None:

    @settings(max_examples=60, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @given(programs())
    def test_third_derivatives_of_hypothesis_programs(program):
        """jacobian(hessian(f, x0), x0) against central differences of the symbolic Hessian."""
        xs, target, values, rng = build(program)
        if not _max_gap_ok(target, values):
            return
        x0 = xs[0]                                   # always of shape (2, 3)
        H = sd.hessian(target, x0)
        T = sd.jacobian(H, x0)
        assert H.shape == (2, 3, 2, 3) and T.shape == (2, 3, 2, 3, 2, 3)
        Hv, Tv = sd.evaluate([H, T], values)
        np.testing.assert_allclose(Hv, np.transpose(Hv, (2, 3, 0, 1)), rtol=1e-9, atol=1e-12)
        eps = 1e-5
        fd = np.zeros((2, 3, 2, 3, 2, 3))
        base = values[x0]
        for idx in np.ndindex(2, 3):
            e = np.zeros((2, 3))
            e[idx] = eps
            up = sd.evaluate(H, {**values, x0: base + e})
            down = sd.evaluate(H, {**values, x0: base - e})
            fd[(...,) + idx] = (up - down) / (2 * eps)
        scale = max(1.0, float(np.abs(fd).max()))
        np.testing.assert_allclose(Tv, fd, rtol=1e-4, atol=1e-5 * scale)


# ---------------------------------------------------------------------------------------------
# Compressed dense Jacobians (colouring + scatter)
# ---------------------------------------------------------------------------------------------
def test_banded_dense_hessian_is_compressed(run):
    """A banded Hessian propagates 3 seeds (one per colour), not n, then scatters."""
    n = 200
    x = sd.tensor("x", (n,))
    f = sd.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    H = sd.hessian(f, x)
    nodes = toposort([H])
    assert H.op.name == "scatter"
    assert max(int(np.prod(node.shape)) for node in nodes if node is not H) <= 3 * n
    xv = RNG.normal(size=n)
    full = sd.evaluate(sd.hessian(f, x, compress=False), {x: xv})
    np.testing.assert_allclose(run(H, {x: xv}), full, rtol=1e-13, atol=1e-12)


def test_compressed_jacobian_several_variables_and_grad():
    """Shared colouring across blocks; the scatter differentiates (third derivatives)."""
    n = 20
    a = sd.tensor("a", (n,))
    b = sd.tensor("b", (n,))
    y = sd.sin(a) * b + sd.concatenate([a[1:] * b[:-1], a[:1]])
    Ja, Jb = sd.jacobian(y, [a, b], compress=True)
    Ja0, Jb0 = sd.jacobian(y, [a, b], compress=False)
    vals = {a: RNG.normal(size=n), b: RNG.normal(size=n)}
    got = sd.evaluate([Ja, Jb, Ja0, Jb0], vals)
    np.testing.assert_allclose(got[0], got[2], rtol=1e-14)
    np.testing.assert_allclose(got[1], got[3], rtol=1e-14)
    # a derivative through the scatter
    t = sd.sum(Ja * sd.constant(RNG.normal(size=(n, n))))
    sd.check_grad(t, [a, b], vals)


def test_compress_falls_back_with_named_dims():
    X = sd.tensor("X", ("n", 20))
    w = sd.tensor("w", (20,))
    H = sd.hessian(sd.sum(sd.exp(X @ w)), w, compress=None)   # the pattern needs n: identity seeds
    assert H.op.name != "scatter"
    Xv, wv = RNG.normal(size=(5, 20)) * 0.1, RNG.normal(size=20)
    e = np.exp(Xv @ wv)
    np.testing.assert_allclose(sd.evaluate(H, {X: Xv, w: wv}), Xv.T @ (Xv * e[:, None]), rtol=1e-12)


def test_scatter_op_rules():
    from symdiff.ops.extra import scatter

    x = sd.tensor("x", (2, 3))
    src, dst = np.array([0, 4, 5]), np.array([7, 1, 3])
    s = scatter(sd.exp(x), src, dst, (3, 3))
    xv = RNG.normal(size=(2, 3))
    want = np.zeros(9)
    want[dst] = np.exp(xv).ravel()[src]
    np.testing.assert_allclose(sd.evaluate(s, {x: xv}), want.reshape(3, 3))
    sd.check_grad(sd.sum(s * RNG.normal(size=(3, 3))), x, {x: xv})
    X = sd.tensor("X", (4, 2, 3))
    Xv = RNG.normal(size=(4, 2, 3))
    batched = sd.evaluate(sd.vmap(s, x, X), {X: Xv})
    np.testing.assert_allclose(batched, np.stack([sd.evaluate(s, {x: v}) for v in Xv]))
    from symdiff.sparsity import dependency_patterns

    (P,) = dependency_patterns([s], x)
    assert sorted(zip(*P.nonzero())) == sorted(zip(dst.tolist(), src.tolist()))


def test_gather_op_rules(run):
    from symdiff.errors import ShapeError
    from symdiff.ops.extra import gather
    from symdiff.sparsity import dependency_patterns

    x = sd.tensor("x", (2, 3))
    idx = np.array([5, 0, 3, 4])
    s = gather(sd.exp(x) * x, idx)
    xv = RNG.normal(size=(2, 3))
    np.testing.assert_allclose(run(s, {x: xv}), (np.exp(xv) * xv).ravel()[idx], rtol=1e-14)
    w = RNG.normal(size=4)
    loss = sd.sum(s * w)
    g = sd.grad(loss, x)
    want = np.zeros(6)
    want[idx] = w * (np.exp(xv) * (1 + xv)).ravel()[idx]  # d/dx (x e^x) = e^x (1 + x)
    np.testing.assert_allclose(run(g, {x: xv}), want.reshape(2, 3), rtol=1e-13)
    sd.check_grad(loss, x, {x: xv})
    X = sd.tensor("X", (4, 2, 3))
    Xv = RNG.normal(size=(4, 2, 3))
    np.testing.assert_allclose(sd.evaluate(sd.vmap(s, x, X), {X: Xv}),
                               np.stack([sd.evaluate(s, {x: v}) for v in Xv]))
    (P,) = dependency_patterns([s], x)
    assert sorted(zip(*P.nonzero())) == sorted(zip(range(4), idx.tolist()))
    for bad in ([1, 1], [-1], [6]):
        with pytest.raises(ShapeError, match="gather"):
            gather(x, bad)
    n = sd.tensor("n", ("k",))
    short = gather(n, [0, 4])  # a named dim: checked when the size is known
    with pytest.raises(ShapeError, match="out of bounds"):
        sd.evaluate(short, {n: np.ones(3)})
    with pytest.raises(ShapeError, match="out of bounds"):
        sd.function([n], short)(np.ones(3))


# ---------------------------------------------------------------------------------------------
# symdiff.rewrite: clone and simplify
# ---------------------------------------------------------------------------------------------
def test_clone_replaces_and_shares():
    x = sd.tensor("x", (3,))
    u = sd.tensor("u", (3,))
    shared = sd.exp(x)
    y = shared * u + sd.sin(u)
    y0 = sd.clone(y, {u: sd.zeros((3,))})            # rebuilt through the constructors: 0 folds
    assert u not in set(toposort([y0]))
    xv = RNG.normal(size=3)
    np.testing.assert_allclose(sd.evaluate(y0, {x: xv}), np.zeros(3))
    y1 = sd.clone([y], {u: sd.constant(np.ones(3))})[0]
    assert shared in set(toposort([y1]))             # untouched nodes are shared, not copied
    np.testing.assert_allclose(sd.evaluate(y1, {x: xv}), np.exp(xv) + np.sin(1))
    with pytest.raises(sd.ShapeError):
        sd.clone(y, {u: sd.zeros((2,))})


SIMPLIFY_CASES = {
    # name: (build(x, M) -> node, ops that must be gone after simplify)
    "sum_of_broadcast": (lambda x, M: sd.sum(sd.broadcast_to(x, (5, 4)), axis=0), {"broadcast_to"}),
    "sum_of_zeros": (lambda x, M: sd.sum(sd.zeros((4, 4)) * 3.0, axis=1) + x, {"sum"}),
    "transpose_transpose": (lambda x, M: sd.transpose(sd.transpose(M * 2)), {"transpose"}),
    "matmul_identity": (lambda x, M: sd.constant(np.eye(4)) @ M + M @ sd.constant(np.eye(4)), {"matmul"}),
    "matmul_shifted_identity": (lambda x, M: sd.constant(np.eye(4)[:, 1:]) @ M[1:], {"matmul"}),
    "index_grad_of_zero": (lambda x, M: sd.grad(sd.sum(x[1:] * 0.0), x) + x, {"index_grad"}),
    "add_neg": (lambda x, M: x + (-sd.exp(x)), {"neg"}),
    "sub_self": (lambda x, M: sd.exp(x) - sd.exp(x) + x, {"exp"}),
    "fold_unary_of_constant": (lambda x, M: sd.exp(sd.zeros((4,))) * x, {"exp"}),
}


@pytest.mark.parametrize("name", sorted(SIMPLIFY_CASES))
def test_simplify_rules(name):
    build, gone = SIMPLIFY_CASES[name]
    x = sd.tensor("x", (4,))
    M = sd.tensor("M", (4, 4))
    y = build(x, M)
    s = sd.simplify(y)
    assert not (ops_in(s) & gone), (name, ops_in(s))
    vals = {x: RNG.normal(size=4), M: RNG.normal(size=(4, 4))}
    used = {n for n in toposort([y]) if isinstance(n, Variable)}
    vals = {k: v for k, v in vals.items() if k in used}
    np.testing.assert_allclose(sd.evaluate(s, vals), sd.evaluate(y, vals), rtol=1e-12, atol=1e-14)


def test_simplify_merges_common_subexpressions_and_small_factors():
    x = sd.tensor("x", (3, 5))
    v = sd.tensor("v", (5,))
    y = ((x * sd.exp(v)) * sd.sin(v)) * 2.0 + sd.tanh(x) * sd.tanh(x)
    s = sd.simplify(y)
    nodes = toposort([s])
    assert sum(1 for n in nodes if n.op is not None and n.op.name == "tanh") == 1
    # the (5,)-sized factors are multiplied together before touching the (3, 5) operand
    big_muls = [n for n in nodes if n.op is not None and n.op.name == "mul" and n.shape == (3, 5)]
    assert len(big_muls) == 2                       # x * (small) and tanh * tanh
    vals = {x: RNG.normal(size=(3, 5)), v: RNG.normal(size=5)}
    np.testing.assert_allclose(sd.evaluate(s, vals), sd.evaluate(y, vals), rtol=1e-12, atol=1e-14)
