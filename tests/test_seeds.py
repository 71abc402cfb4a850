"""The worked examples of the seed notes (/work/shared/seeds), with the numbers they print.

Tolerances follow the printed rounding (half a unit in the last printed digit). Every gradient is
also checked against central finite differences, and against the closed forms the notes derive.
"""
from __future__ import annotations

import numpy as np
import pytest

import symdiff as sd


def half_unit(printed: str) -> float:
    """Half a unit in the last digit of a printed decimal, e.g. '0.017' -> 0.0005."""
    digits = len(printed.split(".")[1]) if "." in printed else 0
    return 0.5 * 10.0 ** (-digits)


def assert_printed(value, printed, units=0.5):
    """``value`` rounds to the printed number(s) (strings, possibly nested lists).

    ``units``: the tolerance in units of the last printed digit (0.5: correctly rounded; 1 where
    the notes carried an already-rounded intermediate forward)."""
    value = np.asarray(value, dtype=float)
    flat_p = np.asarray(printed, dtype=object).reshape(-1)
    flat_v = value.reshape(-1)
    assert flat_v.size == flat_p.size, (value, printed)
    for v, p in zip(flat_v, flat_p):
        tol = 2 * units * half_unit(p)
        assert abs(v - float(p)) <= tol * (1 + 1e-9), f"{v} does not round to the printed {p} (tolerance {tol})"


def fd_check(target, wrt, values):
    """Symbolic gradient against central differences (raises sd.GradCheckError)."""
    sd.check_grad(target, wrt, values, rtol=1e-6, atol=1e-8)


# ---------------------------------------------------------------------------------------------
# seed 001: y = 1/x^2; f(u, v) = v/u with u = x^2, v = x; x^T A x
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("xv", [0.5, 1.0, -2.0, 3.0])
def test_seed001_one_over_x_squared(run, xv):
    x = sd.scalar("x")
    z = x ** 2          # g(u) = u^2
    y = 1.0 / z         # f(u) = 1/u
    dz, dx = sd.grad(y, [z, x])
    yv, dzv, dxv = run([y, dz, dx], {x: xv})
    assert np.isclose(yv, 1 / xv ** 2, rtol=1e-14)
    assert np.isclose(dzv, -1 / (xv ** 2) ** 2, rtol=1e-14)   # dy/dz = -1/z^2
    assert np.isclose(dxv, -2 * xv / (xv ** 2) ** 2, rtol=1e-14)  # -2x/z^2
    assert np.isclose(dxv, -2 / xv ** 3, rtol=1e-14)           # "We can simplify this to get -2/x^3"
    fd_check(y, x, {x: xv})


@pytest.mark.parametrize("xv", [0.5, 1.5, -2.0])
def test_seed001_shared_input_v_over_u(run, xv):
    """Two backward paths into x: their gradients add up (dy/dx = -1/x^2)."""
    x = sd.scalar("x")
    z = x ** 2          # u = x^2
    y = x / z           # f(u, v) = v/u with v = x
    assert len(sd.get_consumers(x, [y])) == 2
    dz, dx = sd.grad(y, [z, x])
    yv, dzv, dxv = run([y, dz, dx], {x: xv})
    assert np.isclose(yv, 1 / xv, rtol=1e-14)
    assert np.isclose(dzv, -xv / (xv ** 2) ** 2, rtol=1e-14)        # dy/dz = -x/z^2
    path_z = -xv / (xv ** 2) ** 2 * 2 * xv                          # through z
    path_v = 1 / xv ** 2                                            # directly, df/dv = 1/u
    assert np.isclose(dxv, path_z + path_v, rtol=1e-14)
    assert np.isclose(dxv, -1 / xv ** 2, rtol=1e-14)
    fd_check(y, x, {x: xv})


def test_seed001_quadratic_form(run):
    """f = x^T A x: df/dx = (A^T + A) x, df/dA = x x^T; and y = x^T A x + b^T x + c."""
    rng = np.random.default_rng(1)
    x, A = sd.vector("x", 3), sd.matrix("A", 3, 3)
    b, c = sd.vector("b", 3), sd.scalar("c")
    f = x @ A @ x
    y = f + b @ x + c
    gx, gA = sd.grad(f, [x, A])
    yx, yA, yb, yc = sd.grad(y, [x, A, b, c])
    xv, Av, bv, cv = rng.standard_normal(3), rng.standard_normal((3, 3)), rng.standard_normal(3), 0.7
    vals = {x: xv, A: Av, b: bv, c: cv}
    fv, yv, gxv, gAv, yxv, yAv, ybv, ycv = run([f, y, gx, gA, yx, yA, yb, yc], vals)
    assert np.isclose(fv, xv @ Av @ xv, rtol=1e-13)
    assert np.isclose(yv, xv @ Av @ xv + bv @ xv + cv, rtol=1e-13)
    np.testing.assert_allclose(gxv, (Av.T + Av) @ xv, rtol=1e-13)
    np.testing.assert_allclose(gAv, np.outer(xv, xv), rtol=1e-13)
    np.testing.assert_allclose(yxv, (Av.T + Av) @ xv + bv, rtol=1e-13)
    np.testing.assert_allclose(yAv, np.outer(xv, xv), rtol=1e-13)
    np.testing.assert_allclose(ybv, xv, rtol=1e-13)
    assert ycv == 1.0
    fd_check(y, [x, A, b, c], vals)
    # the Hessian of x^T A x is A + A^T
    H = np.array(run([sd.grad(gx[i], x) for i in range(3)], vals))
    np.testing.assert_allclose(H, Av + Av.T, rtol=1e-13)


# ---------------------------------------------------------------------------------------------
# seed 002: f = (x + y) z; the sigmoid neuron; gate patterns; vectorised max(0, x)
# ---------------------------------------------------------------------------------------------
def test_seed002_x_plus_y_times_z(run):
    x, y, z = sd.scalar("x"), sd.scalar("y"), sd.scalar("z")
    q = x + y
    f = q * z
    dq, dx, dy, dz = sd.grad(f, [q, x, y, z])
    vals = {x: -2.0, y: 5.0, z: -4.0}
    qv, fv, dqv, dxv, dyv, dzv = run([q, f, dq, dx, dy, dz], vals)
    assert qv == 3.0 and fv == -12.0
    assert dqv == -4.0   # df/dq = z
    assert dzv == 3.0    # df/dz = q
    assert dxv == -4.0 and dyv == -4.0   # chain rule: df/dq * dq/dx
    fd_check(f, [x, y, z], vals)


def test_seed002_sigmoid_neuron(run):
    """f(w, x) = 1 / (1 + exp(-(w0 x0 + w1 x1 + w2))) at w = (2, -3, -3), x = (-1, -2)."""
    w0, w1, w2 = sd.scalar("w0"), sd.scalar("w1"), sd.scalar("w2")
    x0, x1 = sd.scalar("x0"), sd.scalar("x1")
    dot = w0 * x0 + w1 * x1 + w2
    neg = dot * -1.0
    e = sd.exp(neg)
    d = e + 1.0
    f = 1.0 / d
    vals = {w0: 2.0, x0: -1.0, w1: -3.0, x1: -2.0, w2: -3.0}
    gnodes = sd.grad(f, [d, e, neg, dot, w0, x0, w1, x1, w2])
    out = run([dot, neg, e, d, f, *gnodes], vals)
    fwd, grads = out[:5], out[5:]
    # forward values of the circuit
    assert_printed(fwd, ["1.00", "-1.00", "0.37", "1.37", "0.73"])
    # backward: -1/1.37^2 = -0.53 at d and e, (e^-1)(-0.53) = -0.20 at neg, 0.20 at the dot
    assert_printed(grads[:4], ["-0.53", "-0.53", "-0.20", "0.20"])
    # the inputs: w0 = -0.20, x0 = 0.39, w1 = -0.39, x1 = -0.59, w2 = 0.20
    assert_printed(grads[4:], ["-0.20", "0.39", "-0.39", "-0.59", "0.20"])
    # closed form: the sigmoid gate's local gradient (1 - sigma) sigma
    s = 1 / (1 + np.exp(-1.0))
    np.testing.assert_allclose(grads[4:], np.array([-1.0, 2.0, -2.0, -3.0, 1.0]) * (1 - s) * s, rtol=1e-14)
    fd_check(f, [w0, x0, w1, x1, w2], vals)
    # the same neuron with the sigmoid gate and vectors gives the same gradients
    w, xx = sd.vector("w", 3), sd.vector("x", 2)
    f2 = sd.sigmoid(w[:2] @ xx + w[2])
    gw, gx = sd.grad(f2, [w, xx])
    vals2 = {w: np.array([2.0, -3.0, -3.0]), xx: np.array([-1.0, -2.0])}
    f2v, gwv, gxv = run([f2, gw, gx], vals2)
    assert np.isclose(f2v, out[4], rtol=1e-15)
    np.testing.assert_allclose(gwv, [grads[4], grads[6], grads[8]], rtol=1e-14)
    np.testing.assert_allclose(gxv, [grads[5], grads[7]], rtol=1e-14)
    fd_check(f2, [w, xx], vals2)


def test_seed002_gate_patterns(run):
    """add distributes, max routes, mul switches; gradients add at branches."""
    x, y, z, w = sd.scalar("x"), sd.scalar("y"), sd.scalar("z"), sd.scalar("w")
    vals = {x: 3.0, y: -4.0, z: 2.0, w: -1.0}
    f = 2.0 * (x * y + sd.maximum(z, w))
    dx, dy, dz, dw = sd.grad(f, [x, y, z, w])
    got = run([f, dx, dy, dz, dw], vals)
    assert got[0] == 2.0 * (-12.0 + 2.0)
    # mul "switches": dx = y * upstream, dy = x * upstream; max routes all to z; add passes 2 to both
    assert list(map(float, got[1:])) == [2.0 * -4.0, 2.0 * 3.0, 2.0, 0.0]
    fd_check(f, [x, y, z, w], vals)
    # gradients add at branches: x used three times
    g = x * x + sd.sin(x)
    (gx,) = run([sd.grad(g, x)], {x: 0.3})
    assert np.isclose(gx, 2 * 0.3 + np.cos(0.3), rtol=1e-15)


def test_seed002_vectorised_max_jacobian(run):
    """f(x) = max(0, x) elementwise on 4096-d: the Jacobian is diagonal, so the VJP is D * (x > 0)."""
    rng = np.random.default_rng(4)
    x = sd.vector("x", 4096)
    D = sd.vector("D", 4096)
    f = sd.relu(x)
    g = sd.grad(f, x, seed=D)
    xv, Dv = rng.standard_normal(4096), rng.standard_normal(4096)
    fv, gv = run([f, g], {x: xv, D: Dv})
    np.testing.assert_array_equal(fv, np.maximum(xv, 0))
    np.testing.assert_array_equal(gv, Dv * (xv > 0))
    # FD on a small copy (away from the kink)
    xs = sd.vector("xs", 16)
    xsv = rng.choice([-1, 1], 16) * rng.uniform(0.1, 1, 16)
    fd_check(sd.relu(xs), xs, {xs: xsv})


# ---------------------------------------------------------------------------------------------
# seed 003: a 2-2-1 tanh network, one full backprop iteration with numbers
# ---------------------------------------------------------------------------------------------
def test_seed003_tanh_network_iteration(run):
    W0, W1 = sd.matrix("W0", 2, 2), sd.matrix("W1", 1, 2)
    x0, y = sd.vector("x0", 2), sd.scalar("y")
    x1 = W0 @ x0
    x2 = sd.tanh(x1)
    x3 = W1 @ x2                          # shape (1,)
    L = 0.5 * sd.sum((x3 - y) ** 2)
    gx3, gx2, gx1, gW0, gW1 = sd.grad(L, [x3, x2, x1, W0, W1])
    eta = 0.2
    W0_new = W0 - eta * gW0
    W1_new = W1 - eta * gW1
    vals = {W0: np.array([[1.0, -3.0], [0.2, 1.0]]), W1: np.array([[1.0, -1.0]]),
            x0: np.array([1.0, 0.1]), y: 0.5}
    out = run([x1, x2, x3, L, gx3, gx2, gx1, gW0, gW1, W0_new, W1_new], vals)
    x1v, x2v, x3v, Lv, gx3v, gx2v, gx1v, gW0v, gW1v, W0n, W1n = out
    # forward pass
    np.testing.assert_allclose(x1v, [0.7, 0.3], rtol=1e-14)
    assert_printed(x2v, ["0.604", "0.291"])
    assert_printed(x3v, ["0.313"])
    assert_printed(Lv, "0.017")
    # backward pass
    assert_printed(gx3v, ["-0.1869"])
    assert_printed(gx2v, ["-0.1869", "0.1869"])
    # the notes multiply the rounded -0.1869 by 1 - tanh^2: -0.11863 prints as -0.1186, while the
    # exact value is -0.118661; one unit of the last digit covers the carried rounding
    assert_printed(gx1v, ["-0.1186", "0.171"], units=1)
    # dL/dW0 in row-major math is outer(dL/dx1, x0) (the slide writes its transpose)
    assert_printed(gW0v, [["-0.1186", "-0.01186"], ["0.171", "0.0171"]], units=1)
    np.testing.assert_allclose(gW0v, np.outer(gx1v, [1.0, 0.1]), rtol=1e-14)
    assert_printed(gW1v, [["-0.113", "-0.054"]])
    np.testing.assert_allclose(gW1v, gx3v[0] * x2v[None, :], rtol=1e-14)
    # one gradient step with step size 0.2
    assert_printed(W0n, [["1.02", "-3.0"], ["0.17", "1.0"]])
    assert_printed(W1n, [["1.02", "-0.989"]])
    # closed forms of the backward recipe
    np.testing.assert_allclose(gx1v, gx2v * (1 - np.tanh(x1v) ** 2), rtol=1e-14)
    fd_check(L, [W0, W1, x0, y], vals)


def test_seed003_parameter_sharing_sums_gradients(run):
    w, a, b = sd.scalar("w"), sd.scalar("a"), sd.scalar("b")
    f = sd.tanh(w * a) + sd.tanh(w * b)
    g = sd.grad(f, w)
    vals = {w: 0.4, a: 1.5, b: -0.7}
    fv, gv = run([f, g], vals)
    assert np.isclose(gv, 1.5 * (1 - np.tanh(0.6) ** 2) - 0.7 * (1 - np.tanh(-0.28) ** 2), rtol=1e-14)
    fd_check(f, [w, a, b], vals)


def test_seed003_second_order_hessian(run):
    """First vs second order: the Hessian of the network loss by differentiating the gradient."""
    W0 = sd.matrix("W0", 2, 2)
    x0 = np.array([1.0, 0.1])
    L = 0.5 * (sd.sum(sd.tanh(W0 @ x0) * np.array([1.0, -1.0])) - 0.5) ** 2
    g = sd.grad(L, W0)
    rows = [sd.grad(g[i, j], W0) for i in range(2) for j in range(2)]
    vals = {W0: np.array([[1.0, -3.0], [0.2, 1.0]])}
    H = np.array(run(rows, vals)).reshape(4, 4)
    np.testing.assert_allclose(H, H.T, rtol=1e-12, atol=1e-15)
    for i in range(2):
        for j in range(2):
            num = sd.numeric_grad(g[i, j], [W0], vals)[0].reshape(-1)
            np.testing.assert_allclose(H[2 * i + j], num, rtol=1e-6, atol=1e-8)


# ---------------------------------------------------------------------------------------------
# seed 004: XOR with ReLU; e = (a + b)(b + 1); exp(sin(x^2)); the 9-path example
# ---------------------------------------------------------------------------------------------
def _xor_net():
    X = sd.matrix("X", "n", 2)
    W, c = sd.matrix("W", 2, 2), sd.vector("c", 2)
    w, b = sd.vector("w", 2), sd.scalar("b")
    h = sd.relu(X @ W + c)            # h = max(0, W^T x + c) for each row x
    f = h @ w + b
    return X, W, c, w, b, h, f


def test_seed004_xor(run):
    X, W, c, w, b, h, f = _xor_net()
    Xv = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    vals = {X: Xv, W: np.array([[1.0, 1.0], [1.0, 1.0]]), c: np.array([0.0, -1.0]),
            w: np.array([1.0, -2.0]), b: 0.0}
    y = sd.vector("y", "n")
    vals[y] = np.array([0.0, 1.0, 1.0, 0.0])
    loss = sd.mean((f - y) ** 2)
    grads = sd.grad(loss, [W, c, w, b])
    fv, hv, lv, *gv = run([f, h, loss, *grads], vals)
    np.testing.assert_array_equal(fv, [0.0, 1.0, 1.0, 0.0])    # perfectly match
    # [0, 1] and [1, 0] are both mapped to h = [1, 0]
    np.testing.assert_array_equal(hv[1], [1.0, 0.0])
    np.testing.assert_array_equal(hv[2], [1.0, 0.0])
    assert lv == 0.0
    for g in gv:                                                  # a minimum: zero gradient
        np.testing.assert_array_equal(g, np.zeros(np.shape(g)))
    # FD at a nearby point, away from the ReLU kinks
    rng = np.random.default_rng(0)
    near = {X: Xv, y: vals[y], W: vals[W] + 0.1 * rng.standard_normal((2, 2)), c: vals[c] + np.array([0.05, -0.07]),
            w: vals[w] + 0.1 * rng.standard_normal(2), b: 0.03}
    pre = sd.evaluate(X @ W + c, near)
    assert np.min(np.abs(pre)) > 1e-3
    fd_check(loss, [W, c, w, b], near)


def test_seed004_e_equals_a_plus_b_times_b_plus_1(run):
    a, b = sd.scalar("a"), sd.scalar("b")
    c = a + b
    d = b + 1.0
    e = c * d
    assert len(sd.get_consumers(b, [e])) == 2
    dc, dd, da, db = sd.grad(e, [c, d, a, b])
    vals = {a: 2.0, b: 1.0}
    cv, dv, ev, dcv, ddv, dav, dbv = run([c, d, e, dc, dd, da, db], vals)
    assert (cv, dv, ev) == (3.0, 2.0, 6.0)      # expression evaluates to 6
    assert dcv == 2.0 and ddv == 3.0            # de/dc = d, de/dd = c
    assert dav == 2.0                           # 2 x 1 = 2
    assert dbv == 5.0                           # 2 x 1 + 3 x 1 = 5
    fd_check(e, [a, b], vals)


@pytest.mark.parametrize("xv", [0.3, -1.1, 2.0])
def test_seed004_exp_sin_x_squared(run, xv):
    x = sd.scalar("x")
    f = sd.exp(sd.sin(x ** 2))
    (g,) = run([sd.grad(f, x)], {x: xv})
    assert np.isclose(g, np.exp(np.sin(xv ** 2)) * np.cos(xv ** 2) * 2 * xv, rtol=1e-14)
    fd_check(f, x, {x: xv})


def test_seed004_nine_paths(run):
    """X reaches Y by three paths and Y reaches Z by three: dZ/dX = (a + b + c)(d + e + f)."""
    X = sd.scalar("X")
    Y = sd.sin(X) + X * X + sd.exp(X)
    Z = Y * Y + sd.cos(Y) + 3.0 * Y
    xv = 0.4
    yv = np.sin(xv) + xv * xv + np.exp(xv)
    (g,) = run([sd.grad(Z, X)], {X: xv})
    assert np.isclose(g, (np.cos(xv) + 2 * xv + np.exp(xv)) * (2 * yv - np.sin(yv) + 3.0), rtol=1e-13)
    fd_check(Z, X, {X: xv})


def test_seed004_no_path_explosion(run):
    """Thirty of those diamonds in a row have 9^30 paths; backprop stays linear in size."""
    X = sd.scalar("X")
    Y = X
    for _ in range(30):
        Y = 0.3 * (sd.sin(Y) + 0.5 * Y + sd.tanh(Y))
    g = sd.grad(Y, X)
    n_nodes = len(sd.toposort([g]))
    assert n_nodes < 40 * 30
    xv = 0.7
    yv, gv = run([Y, g], {X: xv})
    # closed form by the product of local derivatives
    y, prod = xv, 1.0
    for _ in range(30):
        prod *= 0.3 * (np.cos(y) + 0.5 + 1 - np.tanh(y) ** 2)
        y = 0.3 * (np.sin(y) + 0.5 * y + np.tanh(y))
    assert np.isclose(yv, y, rtol=1e-13) and np.isclose(gv, prod, rtol=1e-12)
    fd_check(Y, X, {X: xv})


# ---------------------------------------------------------------------------------------------
# seed 000: backprop recipes for linear layers, sigmoid, ReLU, softmax + cross-entropy
# ---------------------------------------------------------------------------------------------
def test_seed000_linear_layer_recipe(run):
    """z = W a + b: dz/da delta = W^T delta, dz/dW delta = delta a^T, dz/db delta = delta."""
    rng = np.random.default_rng(5)
    W, a, bb = sd.matrix("W", 4, 3), sd.vector("a", 3), sd.vector("b", 4)
    delta = sd.vector("delta", 4)
    z = W @ a + bb
    ga, gW, gb = sd.grad(z, [a, W, bb], seed=delta)
    vals = {W: rng.standard_normal((4, 3)), a: rng.standard_normal(3), bb: rng.standard_normal(4),
            delta: rng.standard_normal(4)}
    gav, gWv, gbv = run([ga, gW, gb], vals)
    np.testing.assert_allclose(gav, vals[W].T @ vals[delta], rtol=1e-13)
    np.testing.assert_allclose(gWv, np.outer(vals[delta], vals[a]), rtol=1e-13)
    np.testing.assert_allclose(gbv, vals[delta], rtol=1e-13)
    fd_check(sd.sum(z * vals[delta]), [W, a, bb], {k: v for k, v in vals.items() if k is not delta})


def test_seed000_softmax_cross_entropy(run):
    """-log softmax(theta x)[y]: gradient wrt the scores is p - onehot(y)."""
    rng = np.random.default_rng(6)
    theta, x = sd.matrix("theta", 4, 3), sd.vector("x", 3)
    s = theta @ x
    loss = -sd.log_softmax(s)[2]
    gs, gtheta = sd.grad(loss, [s, theta])
    vals = {theta: rng.standard_normal((4, 3)), x: rng.standard_normal(3)}
    sv, lv, gsv, gtv = run([s, loss, gs, gtheta], vals)
    p = np.exp(sv - sv.max()) / np.exp(sv - sv.max()).sum()
    onehot = np.eye(4)[2]
    assert np.isclose(lv, -np.log(p[2]), rtol=1e-13)
    np.testing.assert_allclose(gsv, p - onehot, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(gtv, np.outer(p - onehot, vals[x]), rtol=1e-12, atol=1e-15)
    fd_check(loss, [theta, x], vals)


def test_seed000_sigmoid_and_relu_recipes(run):
    rng = np.random.default_rng(8)
    z = sd.vector("z", 5)
    delta = rng.standard_normal(5)
    zv = np.array([-1.3, -0.2, 0.4, 1.1, 2.0])
    gs = sd.grad(sd.sigmoid(z), z, seed=delta)
    gr = sd.grad(sd.relu(z), z, seed=delta)
    gsv, grv = run([gs, gr], {z: zv})
    s = 1 / (1 + np.exp(-zv))
    np.testing.assert_allclose(gsv, delta * s * (1 - s), rtol=1e-13)
    np.testing.assert_allclose(grv, delta * (zv > 0), rtol=1e-15)
    fd_check(sd.sum(sd.sigmoid(z) * delta) + sd.sum(sd.relu(z) * delta), z, {z: zv})
