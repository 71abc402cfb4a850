"""The virtual machine (mode="vm"): elementwise runs on the compiled interpreter, the rest NumPy."""
import numpy as np
import pytest

import symdiff as sd
from symdiff.compiler import vm
from symdiff.ops import elementwise as E

RNG = np.random.default_rng(11)

UNARY = {
    E.Neg: sd.neg, E.Exp: sd.exp, E.Log: sd.log, E.Log1p: sd.log1p, E.Expm1: sd.expm1, E.Sqrt: sd.sqrt,
    E.Sin: sd.sin, E.Cos: sd.cos, E.Tan: sd.tan, E.Tanh: sd.tanh, E.Sigmoid: sd.sigmoid,
    E.Softplus: sd.softplus, E.Abs: sd.abs, E.Relu: sd.relu,
}
BINARY = {E.Add: sd.add, E.Sub: sd.sub, E.Mul: sd.mul, E.Div: sd.div, E.Maximum: sd.maximum,
          E.Minimum: sd.minimum, E.Pow: sd.power}


def _agree(outputs, inputs: dict, rtol=1e-12):
    f = sd.function(list(inputs), outputs, mode="vm")
    got = f(*inputs.values())
    ref = sd.evaluate(outputs, inputs)
    for g, r in zip(got if isinstance(got, list) else [got], ref if isinstance(ref, list) else [ref]):
        r = np.asarray(r)
        scale = float(np.max(np.abs(r[np.isfinite(r)]), initial=1.0))
        np.testing.assert_allclose(g, r, rtol=rtol, atol=rtol * scale)
    return f


def test_every_interpreter_op_is_tested():
    assert set(UNARY) == set(vm.UNARY) and set(BINARY) == set(vm.BINARY)


@pytest.mark.parametrize("cls", list(UNARY), ids=lambda c: c.name)
def test_unary_ops_on_arrays_and_scalars(cls):
    x, s = sd.tensor("x", ("n",)), sd.scalar("s")
    fn = UNARY[cls]
    y = fn(x * 0.5) + fn(s) * x     # array and scalar forms in one run
    z = sd.sum(fn(y * 0.1) * x)      # ...ending in a sum
    xv = RNG.uniform(0.1, 0.9, 50)
    f = _agree([y, z, sd.grad(z, [x, s])[0]], {x: xv, s: 0.3})
    assert f._call._schedule.runs >= 1
    _agree(y, {x: np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1000.0, -1000.0]), s: 0.3})


@pytest.mark.parametrize("cls", list(BINARY), ids=lambda c: c.name)
def test_binary_ops_in_all_operand_kinds(cls):
    x, y, s = sd.tensor("x", (40,)), sd.tensor("y", (40,)), sd.scalar("s")
    fn = BINARY[cls]
    out = fn(x, y) + fn(x, s) + fn(s, y) + fn(s, s * 0.5) * x   # aa, as, sa, ss
    loss = sd.sum(out * out)
    xv, yv = RNG.uniform(0.5, 2.0, 40), RNG.uniform(0.5, 2.0, 40)
    _agree([out, loss, *sd.grad(loss, [x, y, s])], {x: xv, y: yv, s: 1.3}, rtol=1e-11)


def test_tanh_chain_is_one_run_and_its_gradient_is_right():
    x = sd.tensor("x", (30,))
    h = x
    for _ in range(300):
        h = sd.tanh(h)
    s = sd.sum(h)
    g = sd.grad(s, x)
    xv = RNG.normal(size=30)
    f = _agree([s, g], {x: xv})
    assert f.mode == "vm" and f._call._schedule.runs == 1
    # the gradient by hand: d tanh = 1 - tanh^2 at every level
    hs, v = [], xv
    for _ in range(300):
        v = np.tanh(v)
        hs.append(v)
    gh = np.ones(30)
    for v in hs:
        gh *= 1 - v * v
    np.testing.assert_allclose(f(xv)[1], gh, rtol=1e-11)
    # registers are reused as values die: far fewer rows than instructions
    run = next(step[0] for step in f._call._schedule.steps if isinstance(step[0], vm.Run))
    assert run.n_arrays <= 305 and run.code.shape[0] >= 900


def test_mixed_graph_runs_matmul_and_softmax_with_numpy():
    X, W = sd.tensor("X", ("n", 4)), sd.tensor("W", (4, 3))
    h = X @ W
    for _ in range(6):
        h = sd.tanh(h) * 1.5 + 0.1
    loss = sd.sum(sd.log_softmax(h, axis=1) * h) + sd.sum(sd.exp(W) * W)
    grads = sd.grad(loss, [X, W])
    Xv, Wv = RNG.normal(size=(7, 4)), RNG.normal(size=(4, 3))
    f = _agree([loss, *grads], {X: Xv, W: Wv})
    assert f._call._schedule.runs >= 2
    sd.check_grad(loss, [X, W], {X: Xv, W: Wv})


def test_zero_length_dims_float32_and_bad_input():
    x = sd.tensor("x", ("n",))
    y = sd.sum(sd.exp(sd.tanh(x) * 2.0 - 1.0) * x + 1.0)
    f = sd.function([x], [y, sd.grad(y, x)], mode="vm")
    val, g = f(np.zeros(0))
    assert val == 0.0 and g.shape == (0,)
    with pytest.raises(sd.DTypeError):
        f(np.array(["a"]))
    with pytest.raises(sd.InputError):
        f()
    x32 = sd.tensor("x32", (5,), dtype="float32")  # float32 ops run with NumPy, in float32
    y32 = sd.tanh(sd.tanh(sd.tanh(sd.tanh(x32)))) * 2.0
    f32 = sd.function([x32], y32, mode="vm")
    assert f32(np.ones(5, np.float32)).dtype == np.float32 and f32._call._schedule.runs == 0


def test_auto_mode_falls_back_to_the_vm_for_large_graphs(monkeypatch):
    monkeypatch.setenv("SYMDIFF_MAX_JIT_LINES", "5")
    x = sd.tensor("x", (20,))
    y = sd.sum(sd.sin(x) * sd.exp(x) + sd.tanh(x) ** 2.0)
    f = _agree([y, sd.grad(y, x)], {x: RNG.normal(size=20)})
    f_auto = sd.function([x], y)
    assert f_auto.mode == "vm" and "interpreter" in f_auto.source


def test_scalar_chains_run_on_the_interpreter():
    """Runs of 0-d ops need no array at all; their constants are loaded once, when built."""
    x, y = sd.scalar("x"), sd.scalar("y")
    h = x
    for k in range(200):
        h = sd.tanh(h * 0.9 + y) * 1.01 + 1e-3 * k
    gx, gy = sd.grad(h, [x, y])
    f = _agree([h, gx, gy], {x: 0.3, y: -0.2})
    assert f._call._schedule.runs == 1
    run = next(step[0] for step in f._call._schedule.steps if isinstance(step[0], vm.Run))
    assert run.n_arrays == 0 and len(run.scalar_in) == 2   # x and y; constants are pre-filled
    sd.check_grad(h, [x, y], {x: 0.3, y: -0.2})
    assert f(x=0.3, y=-0.2)[0] == f(0.3, -0.2)[0]


def test_the_interpreter_holds_the_graphs_opcodes_and_compiles_before_the_first_call():
    x = sd.tensor("x", (25,))
    y = sd.sum(sd.exp(sd.tanh(x) * 2.0 - 1.0))
    f = sd.function([x], [y, sd.grad(y, x)], mode="vm")
    schedule = f._call._schedule
    run = next(step[0] for step in schedule.steps if isinstance(step[0], vm.Run))
    used = {int(op) for op in run.code[:, 0]}
    assert schedule.opcodes == sorted(used)
    assert run.interpret is vm.interpreter(used)  # one compiled interpreter per opcode set
    assert len(run.interpret.signatures) == 1     # compiled when the function was built
    source = vm.interpreter_source(used)
    assert source.count(" op == ") == len(used) < len(vm.OPCODES)
    assert vm.interpreter_source().count(" op == ") == len(vm.OPCODES)
    xv = RNG.normal(size=25)
    _agree([y, sd.grad(y, x)], {x: xv})
