"""Derive a gradient graph and look at it in every form symdiff prints.

Run:  python examples/print_gradient_graph.py [output.svg]

A one-hidden-layer tanh network with a softmax cross-entropy loss; its gradient with respect to
the first layer's weights is printed as infix math with temporaries (``sd.pretty``), as a tree with
shared nodes shown once (``sd.dprint``), and drawn with Graphviz when ``dot`` is installed. A
scalar formula then goes through SymPy: its LaTeX, and its 4th derivative checked against SymPy's.
"""
import sys

import numpy as np
import sympy as sp

import symdiff as sd

# 1. The model: X is (n, 4), a batch of n rows; Y holds one-hot labels.
X = sd.tensor("X", ("n", 4))
Y = sd.tensor("Y", ("n", 3))
W1, b1 = sd.tensor("W1", (4, 8)), sd.tensor("b1", (8,))
W2, b2 = sd.tensor("W2", (8, 3)), sd.tensor("b2", (3,))
h = sd.tanh(X @ W1 + b1)
loss = -sd.mean(sd.sum(Y * sd.log_softmax(h @ W2 + b2, axis=1), axis=1))
gW1 = sd.grad(loss, W1)

# 2. Infix math: shared subexpressions become temporaries t1, t2, ...
print("== pretty ==")
print(sd.pretty({"loss": loss, "dloss/dW1": gW1}))

# 3. The tree: each node once, gradient nodes marked with what they are the gradient of.
print("\n== dprint ==")
sd.dprint(gW1, shapes=True)

# 4. Graphviz: the DOT source always, a picture when the `dot` program is installed.
dot_source = sd.to_dot({"dloss/dW1": gW1})
print(f"\n== to_dot: {len(dot_source.splitlines())} lines of DOT ==")
if len(sys.argv) > 1:
    try:
        print("wrote", sd.render({"dloss/dW1": gW1}, sys.argv[1]))
    except sd.GraphvizNotFoundError as exc:
        print(exc)

# 5. Scalar formulas through SymPy: LaTeX, and an independent check of a 4th derivative.
x = sd.scalar("x")
f = sd.exp(sd.sin(x ** 2))
d4 = f
for _ in range(4):
    d4 = sd.grad(d4, x)
t = sp.Symbol("x", real=True)
ours = float(sd.evaluate(d4, {x: 0.7}))
theirs = float(sp.diff(sp.exp(sp.sin(t ** 2)), t, 4).subs(t, 0.7))
print("\n== SymPy ==")
print("f =", sd.latex(f))
print(f"d^4f/dx^4 at 0.7: symdiff {ours:.15g}, SymPy {theirs:.15g}")
assert np.isclose(ours, theirs, rtol=1e-12)

# 6. A custom op from a SymPy formula differentiates like a built-in one.
softsign = sd.elementwise("softsign", lambda s: s / (1 + sp.Abs(s)))
g = sd.grad(softsign(x) * x, x)
print("d/dx softsign(x) * x =", sd.pretty(g), "=", float(sd.evaluate(g, {x: 0.5})))
