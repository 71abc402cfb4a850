"""vmap: every batching rule checked op by op against a Python loop over the batch."""
import itertools

import numpy as np
import pytest

import symdiff as sd
from symdiff.graph import toposort
from symdiff.vmap import BatchingError

RNG = np.random.default_rng(1234)
B = 3


def _check_vmap(build, shape, run=None, positive=False, extra=None):
    """vmap(build(x)) over a batch of values equals build(x) evaluated slice by slice."""
    x = sd.tensor("x", shape)
    y = build(x)
    xs = sd.tensor("xs", (B, *shape))
    yb = sd.vmap(y, x, xs)
    assert yb.shape == (B, *y.shape)
    vals = RNG.normal(size=(B, *shape))
    if positive:
        vals = np.abs(vals) + 0.5
    extra = extra or {}
    got = (run or sd.evaluate)(yb, {xs: vals, **extra})
    want = np.stack([np.asarray(sd.evaluate(y, {x: v, **extra})) for v in vals])
    np.testing.assert_allclose(np.asarray(got, dtype=float), want.astype(float), rtol=1e-12, atol=1e-12)
    return yb


C34 = RNG.normal(size=(3, 4))

ELEMENTWISE = {
    "add_higher_rank_unbatched": (lambda x: x + C34, (4,)),
    "mul_both_batched": (lambda x: x * sd.exp(x), (2, 3)),
    "sub_scalar": (lambda x: 2.0 - x, (4,)),
    "div": (lambda x: x / (1.5 + x * x), (4,)),
    "pow": (lambda x: x ** 3, (4,)),
    "neg_tanh": (lambda x: -sd.tanh(x), (2, 2)),
    "where": (lambda x: sd.where(x > 0, x, 2 * x), (5,)),
    "maximum": (lambda x: sd.maximum(x, C34), (4,)),
    "clip": (lambda x: sd.clip(x, -0.3, 0.4), (4,)),
    "leaky_relu": (lambda x: sd.leaky_relu(x, 0.1), (4,)),
    "cast": (lambda x: sd.cast(x, "float32") * 2, (4,)),
    "scalar_var": (lambda x: x * C34, ()),
    "unary_chain": (lambda x: sd.softplus(sd.sin(x)) + sd.sigmoid(x), (3,)),
}


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise(name):
    build, shape = ELEMENTWISE[name]
    _check_vmap(build, shape)


REDUCTIONS = {
    "sum_axis1": (lambda x: sd.sum(x, axis=1), (3, 4)),
    "sum_all": (lambda x: sd.sum(x), (3, 4)),
    "max_keepdims": (lambda x: sd.max(x, axis=0, keepdims=True), (3, 4)),
    "min": (lambda x: sd.min(x, axis=-1), (3, 4)),
    "mean": (lambda x: sd.mean(x, axis=(0, 2)), (2, 3, 2)),
    "softmax": (lambda x: sd.softmax(x, axis=0), (3, 4)),
    "log_softmax": (lambda x: sd.log_softmax(x, axis=-1), (3, 4)),
    "logsumexp": (lambda x: sd.logsumexp(x, axis=1, keepdims=True), (3, 4)),
    "logsumexp_all": (lambda x: sd.logsumexp(x), (3, 4)),
}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reductions_and_softmax(name):
    build, shape = REDUCTIONS[name]
    _check_vmap(build, shape)


STRUCTURE = {
    "transpose": (lambda x: x.T, (3, 4)),
    "transpose_axes": (lambda x: sd.transpose(x, (2, 0, 1)), (2, 3, 4)),
    "reshape": (lambda x: x.reshape(2, 6), (3, 4)),
    "broadcast_to": (lambda x: sd.broadcast_to(x, (2, 3, 4)), (4,)),
    "expand_dims": (lambda x: sd.expand_dims(x, (0, 2)), (3, 4)),
    "squeeze": (lambda x: sd.squeeze(x, 1), (3, 1, 4)),
    "index": (lambda x: x[1:, ::-2], (3, 5)),
    "index_int_none": (lambda x: x[None, 0], (3, 5)),
    "index_grad": (lambda x: sd.grad(sd.sum(x[1:3] ** 2), x), (5,)),
    "concatenate_mixed": (lambda x: sd.concatenate([x, C34[:, :2], x * 2], axis=1), (3, 2)),
    "stack": (lambda x: sd.stack([x, C34[0]], axis=0), (4,)),
    "outer_a": (lambda x: sd.outer(x, C34[0]), (3,)),
    "outer_b": (lambda x: sd.outer(C34[0], x), (3,)),
    "outer_both": (lambda x: sd.outer(x, sd.exp(x)), (3,)),
}


@pytest.mark.parametrize("name", sorted(STRUCTURE))
def test_structure(name):
    build, shape = STRUCTURE[name]
    _check_vmap(build, shape)


A_SHAPES = [(3,), (2, 3), (2, 2, 3)]   # (.., m, k) with k = 3
B_SHAPES = [(3,), (3, 4), (2, 3, 4)]   # (.., k, n)


@pytest.mark.parametrize("sa,sb,which", list(itertools.product(A_SHAPES, B_SHAPES, ["a", "b", "both"])))
def test_matmul_all_combinations(sa, sb, which):
    """Every rank combination of matmul with a, b, or both batched."""
    na, nb = int(np.prod(sa)), int(np.prod(sb))
    A, Bc = RNG.normal(size=sa), RNG.normal(size=sb)

    def build(x):
        a = x[:na].reshape(sa) if which in ("a", "both") else sd.constant(A)
        b = x[na:].reshape(sb) if which in ("b", "both") else sd.constant(Bc)
        return a @ b

    _check_vmap(build, (na + nb,))


def test_matrix_vector_batch_is_one_matrix_product():
    """A @ v over a batch of v becomes V @ A^T (one GEMM), not a stack of matrix-vector products."""
    A = sd.tensor("A", (4, 3))
    v = sd.tensor("v", (3,))
    V = sd.tensor("V", (5, 3))
    out = sd.vmap(A @ v, v, V)
    mm = [n for n in toposort([out]) if n.op is not None and n.op.name == "matmul"]
    assert len(mm) == 1 and mm[0].ndim == 2
    Av, Vv = RNG.normal(size=(4, 3)), RNG.normal(size=(5, 3))
    np.testing.assert_allclose(sd.evaluate(out, {A: Av, V: Vv}), Vv @ Av.T)


def test_named_batch_and_named_dims(run):
    """A named batch dim and named dims in the graph (mean over n uses a size node)."""
    X = sd.tensor("X", ("n", 3))
    w = sd.tensor("w", (3,))
    W = sd.tensor("W", ("B", 3))
    y = sd.mean(sd.tanh(X @ w)) + sd.sum(w * w)
    yb = sd.vmap(y, w, W)
    assert yb.shape == ("B",)
    Xv, Wv = RNG.normal(size=(7, 3)), RNG.normal(size=(4, 3))
    got = run(yb, {X: Xv, W: Wv})
    want = [np.mean(np.tanh(Xv @ wi)) + wi @ wi for wi in Wv]
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_unbatched_outputs_and_sharing():
    """Outputs not depending on var are broadcast; nodes not depending on var are reused."""
    x = sd.tensor("x", (3,))
    c = sd.tensor("c", (3,))
    shared = sd.exp(c)
    y = shared * x
    X = sd.tensor("X", (2, 3))
    yb, cb = sd.vmap([y, shared], x, X)
    assert cb.shape == (2, 3)
    assert shared in set(toposort([yb]))
    np.testing.assert_allclose(sd.evaluate(cb, {c: np.ones(3)}), np.full((2, 3), np.e))


def test_vmap_result_is_differentiable():
    """Batched graphs differentiate again (this is what higher derivatives rely on)."""
    x = sd.tensor("x", (3,))
    y = sd.tensor("y", (3,))
    Y = sd.tensor("Y", (4, 3))
    A = RNG.normal(size=(2, 3))
    out = sd.vmap(sd.sum(sd.tanh(sd.constant(A) @ (x * y))), y, Y)
    g = sd.grad(sd.sum(out ** 2), x)
    sd.check_grad(sd.sum(out ** 2), x, {x: RNG.normal(size=3), Y: RNG.normal(size=(4, 3))})
    assert g.shape == (3,)


def test_bad_batched_shape():
    x = sd.tensor("x", (3,))
    with pytest.raises(sd.ShapeError, match="vmap"):
        sd.vmap(x * 2, x, sd.tensor("X", (4, 2)))


def test_unknown_op_is_named():
    from symdiff.ops.base import Op

    class Mystery(Op):
        name = "mystery"

        def infer(self, x):
            return x.shape, x.dtype

        def perform(self, values, node, dims):
            return values[0]

    x = sd.tensor("x", (3,))
    with pytest.raises(BatchingError, match="mystery"):
        sd.vmap(Mystery()(x), x, sd.tensor("X", (2, 3)))


def test_max_bytes_guard():
    x = sd.tensor("x", (1000,))
    with pytest.raises(sd.MemoryLimitError, match="memory limit"):
        sd.vmap(sd.outer(x, x), x, sd.tensor("X", (1000, 1000)), max_bytes=10**6)
