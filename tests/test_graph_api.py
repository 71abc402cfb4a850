"""The graph vocabulary of seed 004 and the properties of build_grad: get_operation, get_inputs,
get_consumers, toposort, reuse of forward nodes, pruning, disconnected variables, seeds
(vector-Jacobian products), the grad table, higher-order derivatives and role/grad_of marks."""
from __future__ import annotations

import numpy as np
import pytest

import symdiff as sd
from symdiff.ops import elementwise as ew


def op_names(nodes):
    return [n.op.name for n in nodes if n.op is not None]


# ---------------------------------------------------------------------------------------------
# get_operation / get_inputs / get_consumers / Graph
# ---------------------------------------------------------------------------------------------
def test_get_operation_and_inputs():
    x, y = sd.vector("x", 3), sd.vector("y", 3)
    c = sd.constant([1.0, 2.0, 3.0])
    s = x + y
    m = s * c
    e = sd.exp(m)
    assert sd.get_operation(x) is None and sd.get_operation(c) is None
    assert sd.get_operation(s).name == "add"
    assert sd.get_operation(m).name == "mul"
    assert sd.get_operation(e).name == "exp"
    assert sd.get_operation(e) == sd.get_operation(sd.exp(y))  # ops are values
    assert sd.get_inputs(s) == [x, y]
    assert sd.get_inputs(m) == [s, c]
    assert sd.get_inputs(e) == [m]
    assert sd.get_inputs(x) == [] and sd.get_inputs(c) == []
    assert isinstance(sd.get_inputs(s), list)
    r = sd.sum(e, axis=0)
    assert sd.get_operation(r).name == "sum" and sd.get_operation(r).params == {"axis": (0,), "keepdims": False}


def test_get_consumers_lists_each_consumer_once():
    x = sd.vector("x", 3)
    sq = x * x           # uses x twice
    s = sd.sin(x)
    y = sd.sum(sq + s)
    cons = sd.get_consumers(x, [y])
    assert len(cons) == 2
    assert set(cons) == {sq, s}
    (add,) = sd.get_consumers(sq, [y])
    assert sd.get_inputs(add) == [sq, s]
    # graph given as a Graph, a single node, or a list
    G = sd.Graph([y])
    assert set(sd.get_consumers(x, G)) == {sq, s}
    assert set(sd.get_consumers(x, y)) == {sq, s}
    assert sd.get_consumers(y, G) == []
    # only consumers inside the graph count
    other = sd.cos(x)
    assert other not in sd.get_consumers(x, G)
    assert other in sd.get_consumers(x, [y, other])
    # a node outside the graph has no consumers there
    assert sd.get_consumers(sd.vector("z", 3), G) == []


def test_graph_object():
    x, w = sd.vector("x", 3), sd.vector("w", 3)
    y = sd.sum(sd.tanh(x * w) * x)
    G = sd.Graph([y])
    assert G.outputs == [y]
    assert x in G and w in G and y in G
    assert sd.scalar("q") not in G
    assert set(G.variables()) == {x, w}
    assert G.nodes == sd.toposort([y])
    for n in G.nodes:
        for c in G.consumers[n]:
            assert n in c.inputs


# ---------------------------------------------------------------------------------------------
# toposort
# ---------------------------------------------------------------------------------------------
def _random_dag(rng, n_vars=3, n_ops=40):
    nodes = [sd.vector(f"v{i}", 2) for i in range(n_vars)]
    for _ in range(n_ops):
        k = rng.integers(0, 4)
        a = nodes[rng.integers(len(nodes))]
        b = nodes[rng.integers(len(nodes))]
        if k == 0:
            nodes.append(a + b)
        elif k == 1:
            nodes.append(a * b)
        elif k == 2:
            nodes.append(sd.sin(a))
        else:
            nodes.append(sd.tanh(a - b))
    return nodes


def _ancestors(roots):
    seen, stack = set(), list(roots)
    while stack:
        n = stack.pop()
        if n not in seen:
            seen.add(n)
            stack.extend(n.inputs)
    return seen


@pytest.mark.parametrize("seed", range(5))
def test_toposort_order_property(seed):
    rng = np.random.default_rng(seed)
    nodes = _random_dag(rng)
    outs = [nodes[-1], nodes[-5], nodes[rng.integers(len(nodes))]]
    order = sd.toposort(outs)
    pos = {n: i for i, n in enumerate(order)}
    assert len(pos) == len(order), "each node once"
    assert set(order) == _ancestors(outs), "exactly the ancestors"
    for n in order:
        for i in n.inputs:
            assert pos[i] < pos[n], "inputs before consumers"
    assert sd.toposort(outs) == order, "deterministic"


def test_toposort_includes_outputs_and_shared_nodes_once():
    x = sd.scalar("x")
    a = sd.exp(x)
    y = a * a + a
    order = sd.toposort([y, a, y])
    assert order.count(a) == 1 and order.count(y) == 1 and order.count(x) == 1
    assert order[-1] is y
    assert sd.toposort([x]) == [x]


# ---------------------------------------------------------------------------------------------
# gradient nodes reuse forward nodes
# ---------------------------------------------------------------------------------------------
def _count_ops(nodes, name):
    return sum(1 for n in sd.toposort(nodes) if n.op is not None and n.op.name == name)


def test_grad_of_exp_references_the_exp_node(run):
    x = sd.vector("x", 3)
    e = sd.exp(x)
    y = sd.sum(e * np.array([1.0, 2.0, 3.0]))
    g = sd.grad(y, x)
    assert e in set(sd.toposort([g])), "the forward exp node is an ancestor of its gradient"
    assert _count_ops([y, g], "exp") == 1, "build_grad does not create a second exp node"
    xv = np.array([0.1, -0.5, 1.0])
    (gv,) = run([g], {x: xv})
    np.testing.assert_allclose(gv, np.exp(xv) * [1, 2, 3], rtol=1e-14)
    # the scalar case: the gradient of exp(x) is the exp node itself
    s = sd.scalar("s")
    es = sd.exp(s)
    gs = sd.grad(es, s)
    assert gs is es or es in set(sd.toposort([gs]))
    assert _count_ops([es, gs], "exp") == 1


@pytest.mark.parametrize(
    "name,f",
    [("tanh", sd.tanh), ("sigmoid", sd.sigmoid), ("sqrt", lambda x: sd.sqrt(x * x + 1.0)),
     ("expm1", sd.expm1), ("softmax", sd.softmax), ("log_softmax", sd.log_softmax),
     ("tan", lambda x: sd.tan(0.5 * x)), ("div", lambda x: 1.0 / (x * x + 1.0))],
)
def test_gradients_reuse_outputs_and_never_recompute(run, name, f):
    """bprop rules that use the op's output reference the forward node; no op node is duplicated."""
    x = sd.vector("x", 3)
    y = f(x)
    t = sd.sum(y * np.array([0.5, -1.0, 2.0]))
    g = sd.grad(t, x)
    fwd_ops = {n.op.name for n in sd.toposort([y]) if n.op is not None}
    for op in fwd_ops:
        if op in ("mul", "add", "div"):
            continue  # the gradient legitimately builds new products and sums
        assert _count_ops([t, g], op) == _count_ops([t], op), f"{op} recomputed in the gradient"
    assert y in set(sd.toposort([g]))
    xv = np.array([0.3, -0.8, 1.1])
    yv, gv = run([t, g], {x: xv})
    (num,) = sd.numeric_grad(t, [x], {x: xv})
    np.testing.assert_allclose(gv, num, rtol=1e-6, atol=1e-8)


def test_gradient_lives_in_the_same_graph():
    x, w = sd.vector("x", 3), sd.vector("w", 3)
    h = sd.tanh(x * w)
    y = sd.sum(h)
    gw = sd.grad(y, w)
    anc = set(sd.toposort([gw]))
    assert h in anc and x in anc
    # the forward graph is unchanged by build_grad
    before = sd.toposort([y])
    sd.grad(y, [x, w])
    assert sd.toposort([y]) == before


# ---------------------------------------------------------------------------------------------
# pruning
# ---------------------------------------------------------------------------------------------
def test_pruning_no_gradient_work_outside_between(monkeypatch):
    """Only nodes that are ancestors of the target AND descendants of wrt get bprop calls."""
    calls = []
    for cls in (ew.Sin, ew.Cos, ew.Exp, ew.Tanh, ew.Log):
        orig = cls.bprop

        def spy(self, inputs, output, D, _orig=orig):
            calls.append(self.name)
            return _orig(self, inputs, output, D)

        monkeypatch.setattr(cls, "bprop", spy)

    x, v, w = sd.vector("x", 3), sd.vector("v", 3), sd.vector("w", 3)
    side = sd.sum(sd.sin(v) * 2.0)                 # depends only on v: not between y and x
    c = sd.exp(w)                                  # ancestor of y, not a descendant of x
    downstream = sd.log(x * x + 1.0)               # descendant of x, not an ancestor of y
    y = sd.sum(sd.tanh(x) * c) + side
    table = sd.build_grad(y, [x])
    assert calls == ["tanh"], calls
    assert set(table) == {x}
    anc = set(sd.toposort([table[x]]))
    assert not any(n.op is not None and n.op.name in ("cos", "sin", "log") for n in anc)
    assert downstream not in anc
    xv, wv = np.array([0.1, 0.2, 0.3]), np.array([0.0, 1.0, -1.0])
    (gv,) = sd.evaluate([table[x]], {x: xv, w: wv})
    np.testing.assert_allclose(gv, (1 - np.tanh(xv) ** 2) * np.exp(wv), rtol=1e-14)
    # with v in wrt, sin's bprop runs (once), tanh's too
    calls.clear()
    sd.build_grad(y, [x, v])
    assert sorted(calls) == ["sin", "tanh"]


def test_each_consumer_bprop_runs_once(monkeypatch):
    calls = []
    orig = ew.Mul.bprop

    def spy(self, inputs, output, D):
        calls.append(output)
        return orig(self, inputs, output, D)

    monkeypatch.setattr(ew.Mul, "bprop", spy)
    x = sd.scalar("x")
    sq = x * x
    y = sd.exp(sq)
    sd.grad(y, x)
    assert calls.count(sq) == 1


# ---------------------------------------------------------------------------------------------
# disconnected variables
# ---------------------------------------------------------------------------------------------
def test_disconnected_gets_zeros(run):
    x, z = sd.vector("x", 3), sd.tensor("z", (2, 2))
    y = sd.sum(sd.sin(x))
    gx, gz = sd.grad(y, [x, z])
    assert gz.shape == (2, 2) and gz.dtype == np.float64
    xv = np.array([0.1, 0.2, 0.3])
    gxv, gzv = run([gx, gz], {x: xv})
    np.testing.assert_array_equal(gzv, np.zeros((2, 2)))
    np.testing.assert_allclose(gxv, np.cos(xv), rtol=1e-15)
    # float32 and named dims
    z32 = sd.tensor("z32", ("n", 3), dtype="float32")
    g32 = sd.grad(y, z32)
    assert g32.shape == ("n", 3) and g32.dtype == np.float32
    got, _ = sd.evaluate([g32, z32], {z32: np.ones((4, 3), dtype=np.float32)})
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, np.zeros((4, 3)))


def test_disconnected_raise():
    x, z = sd.vector("x", 3), sd.scalar("z")
    y = sd.sum(x * 2.0)
    with pytest.raises(sd.DisconnectedError, match="z") as info:
        sd.grad(y, [x, z], disconnected="raise")
    assert isinstance(info.value, sd.GradError) and isinstance(info.value, sd.SymdiffError)
    with pytest.raises(sd.DisconnectedError):
        sd.build_grad(y, [z], disconnected="raise")
    # connected variables do not raise
    assert sd.grad(y, x, disconnected="raise").shape == (3,)


def test_dependence_only_through_a_condition_has_zero_gradient(run):
    x, z = sd.vector("x", 3), sd.vector("z", 3)
    y = sd.sum(sd.where(z > 0.0, x * x, -x))
    gx, gz = sd.grad(y, [x, z])
    xv, zv = np.array([1.0, 2.0, 3.0]), np.array([1.0, -1.0, 2.0])
    gxv, gzv = run([gx, gz], {x: xv, z: zv})
    np.testing.assert_array_equal(gzv, np.zeros(3))
    np.testing.assert_allclose(gxv, np.where(zv > 0, 2 * xv, -1.0))


# ---------------------------------------------------------------------------------------------
# seeds: vector-Jacobian products
# ---------------------------------------------------------------------------------------------
def test_non_scalar_target_needs_seed():
    x = sd.vector("x", 3)
    with pytest.raises(sd.GradError, match="seed"):
        sd.grad(sd.sin(x), x)


def test_vector_jacobian_product(run):
    rng = np.random.default_rng(2)
    A = rng.standard_normal((4, 3))
    x = sd.vector("x", 3)
    y = sd.sin(A @ x) * sd.concatenate([x, x[:1]])      # R^3 -> R^4
    Dv = rng.standard_normal(4)
    xv = rng.standard_normal(3)
    # seed as a constant array, as a node, and as a variable
    D = sd.vector("D", 4)
    g_arr = sd.grad(y, x, seed=Dv)
    g_var = sd.grad(y, x, seed=D)
    g_node = sd.grad(y, x, seed=sd.constant(Dv))
    ga, gv, gn = run([g_arr, g_var, g_node], {x: xv, D: Dv})
    (num,) = sd.numeric_grad(sd.sum(y * Dv), [x], {x: xv})
    for g in (ga, gv, gn):
        np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-8)
    # the full Jacobian row by row (unit seeds) against FD columns
    J = np.array(run([sd.grad(y, x, seed=np.eye(4)[i]) for i in range(4)], {x: xv}))
    h = 1e-6
    J_fd = np.stack([(sd.evaluate(y, {x: xv + h * e}) - sd.evaluate(y, {x: xv - h * e})) / (2 * h)
                     for e in np.eye(3)], axis=1)
    np.testing.assert_allclose(J, J_fd, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(ga, Dv @ J, rtol=1e-12)


def test_seed_on_matrix_target_and_scalar_seed_for_scalar_target(run):
    X = sd.matrix("X", 2, 3)
    y = sd.tanh(X) * X
    Dv = np.arange(6.0).reshape(2, 3) - 2.5
    Xv = np.linspace(-1, 1, 6).reshape(2, 3)
    (g,) = run([sd.grad(y, X, seed=Dv)], {X: Xv})
    (num,) = sd.numeric_grad(sd.sum(y * Dv), [X], {X: Xv})
    np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-8)
    s = sd.sum(y)
    (g2,) = run([sd.grad(s, X, seed=3.0)], {X: Xv})
    (g1,) = run([sd.grad(s, X)], {X: Xv})
    np.testing.assert_allclose(g2, 3.0 * g1, rtol=1e-14)


# ---------------------------------------------------------------------------------------------
# build_grad's table; grad(single) vs grad([list])
# ---------------------------------------------------------------------------------------------
def test_build_grad_returns_dict_keyed_by_wrt():
    x, w, b = sd.vector("x", 3), sd.vector("w", 3), sd.scalar("b")
    h = x * w
    y = sd.sum(sd.tanh(h)) + b
    table = sd.build_grad(y, [w, h, b, x])
    assert isinstance(table, dict)
    assert list(table) == [w, h, b, x]
    for k, g in table.items():
        assert isinstance(g, sd.Node) and g.shape == k.shape
    vals = {x: np.array([0.5, -1.0, 2.0]), w: np.array([1.0, 0.3, -0.2]), b: 0.1}
    gw, gh, gb, gx = sd.evaluate([table[w], table[h], table[b], table[x]], vals)
    dh = 1 - np.tanh(vals[x] * vals[w]) ** 2
    np.testing.assert_allclose(gh, dh, rtol=1e-14)
    np.testing.assert_allclose(gw, dh * vals[x], rtol=1e-14)
    np.testing.assert_allclose(gx, dh * vals[w], rtol=1e-14)
    assert gb == 1.0


def test_grad_single_vs_list(run):
    x, w = sd.vector("x", 3), sd.vector("w", 3)
    y = sd.sum(sd.sin(x) * w)
    g_single = sd.grad(y, x)
    g_list = sd.grad(y, [x])
    g_tuple = sd.grad(y, (x, w))
    assert isinstance(g_single, sd.Node)
    assert isinstance(g_list, list) and len(g_list) == 1
    assert isinstance(g_tuple, list) and len(g_tuple) == 2
    vals = {x: np.array([0.1, 0.2, 0.3]), w: np.array([1.0, 2.0, 3.0])}
    a, b, c, d = run([g_single, g_list[0], g_tuple[0], g_tuple[1]], vals)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    np.testing.assert_allclose(a, np.cos(vals[x]) * vals[w], rtol=1e-15)
    np.testing.assert_allclose(d, np.sin(vals[x]), rtol=1e-15)


def test_grad_wrt_target_and_intermediate(run):
    x = sd.vector("x", 2)
    h = sd.exp(x)
    y = sd.sum(h * h)
    gy, gh = sd.grad(y, [y, h])
    xv = np.array([0.2, -0.3])
    gyv, ghv = run([gy, gh], {x: xv})
    assert gyv == 1.0
    np.testing.assert_allclose(ghv, 2 * np.exp(xv), rtol=1e-15)


# ---------------------------------------------------------------------------------------------
# higher order
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("xv", [0.4, -1.3, 2.1])
def test_third_derivative_of_sin_x_squared(run, xv):
    x = sd.scalar("x")
    f = sd.sin(x ** 2)
    d1 = sd.grad(f, x)
    d2 = sd.grad(d1, x)
    d3 = sd.grad(d2, x)
    v1, v2, v3 = run([d1, d2, d3], {x: xv})
    s, c = np.sin(xv ** 2), np.cos(xv ** 2)
    assert np.isclose(v1, 2 * xv * c, rtol=1e-13)
    assert np.isclose(v2, 2 * c - 4 * xv ** 2 * s, rtol=1e-13)
    assert np.isclose(v3, -12 * xv * s - 8 * xv ** 3 * c, rtol=1e-12)
    # and each level against finite differences of the one below
    for lower, upper in ((f, d1), (d1, d2), (d2, d3)):
        (num,) = sd.numeric_grad(lower, [x], {x: xv})
        assert np.isclose(sd.evaluate(upper, {x: xv}), num, rtol=1e-6, atol=1e-8)


def test_hessian_vector_product(run):
    rng = np.random.default_rng(3)
    x, v = sd.vector("x", 4), sd.vector("v", 4)
    A = rng.standard_normal((4, 4))
    f = sd.sum(sd.softplus(A @ x)) + sd.sum(x ** 4) / 4
    g = sd.grad(f, x)
    hv = sd.grad(sd.sum(g * v), x)
    xv, vv = rng.standard_normal(4), rng.standard_normal(4)
    (hvv,) = run([hv], {x: xv, v: vv})
    s = 1 / (1 + np.exp(-(A @ xv)))
    H = A.T @ np.diag(s * (1 - s)) @ A + np.diag(3 * xv ** 2)
    np.testing.assert_allclose(hvv, H @ vv, rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# role and grad_of marks
# ---------------------------------------------------------------------------------------------
def test_role_and_grad_of_marks():
    x, w = sd.vector("x", 3), sd.vector("w", 3)
    h = sd.sin(x * w)
    y = sd.sum(h * h)
    fwd = sd.toposort([y])
    assert all(n.role == "forward" for n in fwd)
    table = sd.build_grad(y, [x, w, h])
    gx, gw, gh = table[x], table[w], table[h]
    new = set(sd.toposort([gx, gw, gh])) - set(fwd)
    assert new, "the gradient adds nodes"
    for n in new:
        if n.op is not None:
            assert n.role == "grad", n
    assert gx.role == "grad" and gx.grad_of is x
    assert gw.role == "grad" and gw.grad_of is w
    assert gh.role == "grad" and gh.grad_of is h
    assert all(n.role == "forward" and n.grad_of is None for n in fwd)
    # nodes built after build_grad are forward nodes again
    z = sd.exp(gx)
    assert z.role == "forward" and z.grad_of is None


def test_role_restored_after_a_failing_build_grad():
    x, z = sd.vector("x", 3), sd.scalar("z")
    with pytest.raises(sd.DisconnectedError):
        sd.grad(sd.sum(x), z, disconnected="raise")
    assert sd.exp(x).role == "forward"


def test_second_order_gradient_nodes_are_marked():
    x = sd.scalar("x")
    g = sd.grad(sd.sin(x) * x, x)
    g2 = sd.grad(g, x)
    assert g2.role == "grad" and g2.grad_of is x


# ---------------------------------------------------------------------------------------------
# evaluate: each node once, names as keys, scalars
# ---------------------------------------------------------------------------------------------
def test_evaluate_computes_each_node_once(monkeypatch):
    calls = []
    orig = ew.Elemwise.perform

    def spy(self, values, node, dims):
        calls.append(self.name)
        return orig(self, values, node, dims)

    monkeypatch.setattr(ew.Elemwise, "perform", spy)
    x = sd.vector("x", 3)
    e = sd.exp(x)
    y = sd.sum(e * e)
    g = sd.grad(y, x)
    sd.evaluate([y, g, e], {x: np.zeros(3)})
    assert calls.count("exp") == 1


def test_evaluate_by_name_and_scalar_results():
    x, s = sd.vector("x", 2), sd.scalar("s")
    y = sd.sum(x) * s
    v = sd.evaluate(y, {"x": [1.0, 2.0], "s": 2.0})
    assert isinstance(v, np.float64) and v == 6.0
    vs = sd.evaluate([y, x * s], {x: [1.0, 2.0], s: 2.0})
    assert isinstance(vs, list) and isinstance(vs[1], np.ndarray)
    np.testing.assert_array_equal(vs[1], [2.0, 4.0])


# ---------------------------------------------------------------------------------------------
# named dims in gradient graphs
# ---------------------------------------------------------------------------------------------
def test_gradient_over_named_dims(run):
    X, w = sd.tensor("X", ("n", 3)), sd.vector("w", 3)
    loss = sd.mean(sd.softplus(X @ w))
    gw, gX = sd.grad(loss, [w, X])
    Xv = np.random.default_rng(0).standard_normal((5, 3))
    wv = np.array([0.5, -1.0, 0.25])
    gwv, gXv = run([gw, gX], {X: Xv, w: wv})
    s = 1 / (1 + np.exp(-(Xv @ wv)))
    np.testing.assert_allclose(gwv, Xv.T @ s / 5, rtol=1e-13)
    np.testing.assert_allclose(gXv, np.outer(s, wv) / 5, rtol=1e-13)
    num = sd.numeric_grad(loss, [w, X], {X: Xv, w: wv})
    np.testing.assert_allclose(gwv, num[0], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(gXv, num[1], rtol=1e-6, atol=1e-8)


def test_gradient_with_named_dims_evaluates_on_its_own():
    X, w = sd.tensor("X", ("n", 3)), sd.vector("w", 3)
    Xv = np.ones((2, 3))
    g = sd.grad(sd.sum(X), X)
    np.testing.assert_array_equal(sd.evaluate(g, {X: Xv}), np.ones((2, 3)))
    gx = sd.grad(sd.sum(X * w), X)
    np.testing.assert_array_equal(sd.evaluate(gx, {X: Xv, w: np.arange(3.0)}), np.tile(np.arange(3.0), (2, 1)))
