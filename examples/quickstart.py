"""symdiff quickstart: build a model, derive its gradient graph, print it and evaluate it.

Run:  python examples/quickstart.py
"""
import numpy as np

import symdiff as sd

# 1. A symbolic L2-regularised logistic regression: X is (n, 30), n is a named dim.
X = sd.tensor("X", shape=("n", 30))
y = sd.tensor("y", shape=("n",))
w = sd.tensor("w", shape=(30,))
b = sd.scalar("b")
z = X @ w + b
loss = sd.mean(sd.softplus(-(2 * y - 1) * z)) + 1e-3 * sd.sum(w * w)

# 2. build_grad adds the gradient nodes to the same graph.
gw, gb = sd.grad(loss, [w, b])

# 3. Print the gradient graph (common subexpressions become temporaries t1, t2, ...).
print("loss =", loss)
print("d loss / d b:")
print(gb)

# 4. Evaluate with the NumPy reference evaluator and check against finite differences.
rng = np.random.default_rng(0)
values = {X: rng.normal(size=(100, 30)), y: (rng.random(100) > 0.5) * 1.0,
          w: 0.1 * rng.normal(size=30), b: 0.1}
loss_v, gw_v, gb_v = sd.evaluate([loss, gw, gb], values)
print(f"loss = {loss_v:.6f}, |grad w| = {np.linalg.norm(gw_v):.6f}, grad b = {gb_v:.6f}")
print("max finite-difference error:", sd.check_grad(loss, [w, b], values))

# 5. Compile loss and gradients to one Numba kernel and call it. The first calls are answered at
#    once by the NumPy tier while the kernel compiles in a child process (tiered execution);
#    wait_compiled() waits for the switch.
f = sd.function([X, y, w, b], [loss, gw, gb])
loss_c, gw_c, gb_c = f(values[X], values[y], values[w], 0.1)
print(f"first call ({f.mode} tier): loss = {loss_c:.6f}")
f.wait_compiled()
loss_c, gw_c, gb_c = f(values[X], values[y], values[w], 0.1)
print(f"compiled ({f.mode}): loss = {loss_c:.6f} (max |difference| to NumPy: {np.max(np.abs(gw_c - gw_v)):.1e}), "
      f"from disk cache: {f.from_cache}")

# 6. The Hessian with respect to w is a graph too: X^T diag(p(1-p)) X / n + 2e-3 I.
H = sd.hessian(loss, w)
print("Hessian shape", H.shape, "symmetric:", np.allclose(sd.evaluate(H, values), sd.evaluate(H, values).T))
