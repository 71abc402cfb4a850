"""ADBench's LSTM objective written once against a NumPy-like module and its ``lax``.

ADBench (Srajer, Kukelova and Fitzgibbon, arXiv 1807.10129) times a stacked LSTM that predicts
each next character of a sequence. Here the recurrence over the sequence is ``lax.scan``, so the
same function runs with ``(symdiff.numpy, symdiff.lax)`` - the whole 1023-step loop is one node
of symdiff's graph, differentiated into one reverse loop and compiled to one Numba loop - and
with ``(jax.numpy, jax.lax)``, which is how ``tests/test_loops.py`` checks it and
``benchmarks/loops.py`` times it.

* ``lstm_objective(np_, lax, main_params, extra_params, state, sequence)``: minus the average
  log-likelihood of the next character (ADBench's objective);
* ``load_lstm(path)``: reads ADBench's ``lstm_l{L}_c{C}.txt`` (kept in ``shared/data/adbench``).

Run:  python examples/lstm.py    (prints the value, the gradient's norm and timings)
"""
# symdiff-test: timeout=300
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "adbench" / "lstm"


def load_lstm(path) -> dict:
    """Read ``lstm_l{L}_c{C}.txt``: main_params (2L, 4b), extra_params (3, b), state (2L, b),
    sequence (C, b)."""
    tok = Path(path).read_text().split()
    L, C, b = (int(t) for t in tok[:3])
    vals = np.array(tok[3:], dtype=np.float64)
    sizes = [2 * L * 4 * b, 3 * b, 2 * L * b, C * b]
    if vals.size != sum(sizes):
        raise ValueError(f"{path}: an LSTM file with L={L}, C={C}, b={b} holds {sum(sizes)} numbers, found {vals.size}")
    parts = np.split(vals, np.cumsum(sizes)[:-1])
    return {"main_params": parts[0].reshape(2 * L, 4 * b), "extra_params": parts[1].reshape(3, b),
            "state": parts[2].reshape(2 * L, b), "sequence": parts[3].reshape(C, b)}


def _sigmoid(np_, x):
    return 1 / (1 + np_.exp(-x))


def lstm_model(np_, weight, bias, hidden, cell, inp):
    """One LSTM cell: ADBench's gate layout (forget, input, output, change)."""
    b = hidden.shape[0]
    gates = np_.concatenate([inp, hidden, inp, hidden]) * weight + bias
    forget = _sigmoid(np_, gates[0:b])
    ingate = _sigmoid(np_, gates[b:2 * b])
    outgate = _sigmoid(np_, gates[2 * b:3 * b])
    change = np_.tanh(gates[3 * b:])
    cell = cell * forget + ingate * change
    hidden = outgate * np_.tanh(cell)
    return hidden, cell


def lstm_predict(np_, w, w2, s, x):
    """The stacked LSTM's prediction for one input and its new state."""
    x = x * w2[0]
    rows = []
    for i in range(0, s.shape[0], 2):
        hidden, cell = lstm_model(np_, w[i], w[i + 1], s[i], s[i + 1], x)
        rows += [hidden, cell]
        x = hidden
    return x * w2[1] + w2[2], np_.stack(rows)


def lstm_objective(np_, lax, main_params, extra_params, state, sequence):
    """ADBench's objective: minus the mean log-likelihood of each next character."""
    C, b = sequence.shape

    def step(s, pair):
        inp, gold = pair
        ypred, s = lstm_predict(np_, main_params, extra_params, s, inp)
        ynorm = ypred - np_.log(np_.sum(np_.exp(ypred)) + 2)
        return s, np_.sum(gold * ynorm)

    _, terms = lax.scan(step, state, (sequence[:-1], sequence[1:]))
    return -np_.sum(terms) / ((C - 1) * b)


def lstm_objective_numpy(main_params, extra_params, state, sequence) -> float:
    """The objective with a plain Python loop over NumPy arrays (an independent reference)."""
    total, s = 0.0, state
    for t in range(sequence.shape[0] - 1):
        ypred, s = lstm_predict(np, main_params, extra_params, s, sequence[t])
        ynorm = ypred - np.log(np.sum(np.exp(ypred)) + 2)
        total += np.sum(sequence[t + 1] * ynorm)
    return -total / ((sequence.shape[0] - 1) * sequence.shape[1])


def symdiff_lstm(shapes: dict):
    """The compiled objective and its gradients with respect to the parameters."""
    import symdiff as sd
    import symdiff.numpy as snp

    v = {k: sd.tensor(k, shape) for k, shape in shapes.items()}
    f = lstm_objective(snp, sd.lax, v["main_params"], v["extra_params"], v["state"], v["sequence"])
    g = sd.grad(f, [v["main_params"], v["extra_params"]])
    return sd.function(list(v.values()), [f, *g])


def main() -> None:
    path = DATA / "lstm_l2_c1024.txt"
    if not path.exists():
        print(f"ADBench data not found at {path}; skipping")
        return
    d = load_lstm(path)
    t0 = time.perf_counter()
    F = symdiff_lstm({k: v.shape for k, v in d.items()})
    t1 = time.perf_counter()
    f, gw, gw2 = F(*d.values())
    t2 = time.perf_counter()
    for _ in range(10):
        F(*d.values())
    t3 = time.perf_counter()
    ref = lstm_objective_numpy(*d.values())
    print(f"LSTM l2 c1024: f = {f:.12f} (NumPy loop {ref:.12f}), |grad| = {np.linalg.norm(gw):.6f}")
    print(f"build + compile {t1 - t0:.2f} s, first call {t2 - t1:.3f} s, per call {(t3 - t2) / 10 * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
