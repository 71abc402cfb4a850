"""Nonlinear least squares: ``scipy.optimize.least_squares`` fed with compiled residuals and the
exact sparse Jacobian.

    res = sd.optimize.least_squares(r, x, x0, inputs={data: values})
    res.x, res.cost, res.fun, res.jac (a scipy.sparse CSR matrix), res.nfev, res.njev

``r`` is a symbolic residual vector (any shape: it is flattened in C order), ``x`` the one
variable it is minimised over. The residuals are compiled with ``sd.function``; the Jacobian is a
``SparseJacobian`` (pattern from the graph, rows or columns coloured, one compiled call per
evaluation), so SciPy gets exact values rather than finite differences over a ``jac_sparsity``.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import scipy.optimize
import scipy.sparse as sp

from .errors import InputError, SymdiffError
from .graph import Node, Variable, toposort
from .types import format_shape

__all__ = ["least_squares"]


def _fixed_inputs(fn: str, graphs: list[Node], x: Variable, inputs: Mapping | None) -> dict:
    """The values of every variable of ``graphs`` other than ``x`` from ``inputs`` (keyed by
    variable or name), as arrays; a clear error for a missing or unknown one."""
    inputs = dict(inputs or {})
    others = [v for v in toposort(graphs) if isinstance(v, Variable) and v is not x]
    by_name = {}
    for key, value in inputs.items():
        name = key.name if isinstance(key, Variable) else key
        if not isinstance(name, str):
            raise InputError(f"{fn}: inputs must be keyed by variables or their names, got {key!r:.60}")
        by_name[name] = value
    fixed = {}
    for v in others:
        if v in inputs:
            fixed[v] = np.asarray(inputs[v], dtype=v.dtype)
        elif v.name in by_name:
            fixed[v] = np.asarray(by_name[v.name], dtype=v.dtype)
        else:
            raise InputError(f"{fn}: the problem uses the variable {v.name!r} of shape {format_shape(v.shape)}; "
                             "give its value in inputs={...}")
    return fixed


def _static(fn: str, x: Node) -> tuple[int, ...]:
    if not isinstance(x, Variable):
        raise SymdiffError(f"{fn}: x must be a symdiff variable (sd.tensor), got {type(x).__name__}")
    if not all(isinstance(d, int) for d in x.shape):
        raise SymdiffError(f"{fn}: x has shape {format_shape(x.shape)} with named dims; give it a static shape")
    if x.dtype.kind != "f":
        raise SymdiffError(f"{fn}: x must be a float variable, got {x.dtype}")
    return tuple(x.shape)


def _start(fn: str, x: Variable, x0) -> np.ndarray:
    z = np.asarray(x0, dtype=x.dtype)
    if z.shape != tuple(x.shape) and z.size != int(np.prod(x.shape)):
        raise InputError(f"{fn}: x0 has shape {z.shape} but {x.name!r} has shape {format_shape(x.shape)}")
    if z.shape != tuple(x.shape):
        raise InputError(f"{fn}: x0 has shape {z.shape} but {x.name!r} has shape {format_shape(x.shape)}; "
                         "reshape it")
    return np.ascontiguousarray(z).ravel()


def least_squares(residuals: Node, x: Variable, x0, *, inputs: Mapping | None = None,
                  compiled: bool | str | None = None, colouring: str = "auto", **kwargs):
    """Minimise ``0.5 * sum(residuals**2)`` over ``x`` with ``scipy.optimize.least_squares``.

    ``residuals``: a symdiff node (flattened in C order); ``x``: the variable, started at ``x0``
    (its shape); ``inputs``: values of the other variables the residuals use. Other keyword
    arguments go to SciPy (``method``, ``loss``, ``bounds``, ``x_scale``, ``ftol``, ...; with
    ``method="lm"`` the Jacobian is passed dense, as SciPy requires). ``compiled``/``colouring``
    are those of ``SparseJacobian``. Returns SciPy's ``OptimizeResult`` with ``x`` in ``x``'s
    shape, ``jac`` a CSR matrix, and ``n_colours``/``colouring`` of the Jacobian.
    """
    from .compiler import function
    from .ops import structure as S
    from .sparsity import SparseJacobian

    fn = "least_squares"
    if not isinstance(residuals, Node):
        raise SymdiffError(f"{fn}: residuals must be a symdiff node, got {type(residuals).__name__}")
    shape = _static(fn, x)
    if "jac" in kwargs or "jac_sparsity" in kwargs:
        raise InputError(f"{fn}: the exact sparse Jacobian is computed by symdiff; do not pass jac/jac_sparsity")
    fixed = _fixed_inputs(fn, [residuals], x, inputs)
    z0 = _start(fn, x, x0)
    r = S.reshape(residuals, (-1,))
    variables = [x, *fixed]
    rest = list(fixed.values())
    if compiled is False:
        from .evaluate import evaluate

        def res_fn(*arrays):
            return evaluate(r, dict(zip(variables, arrays)))
    else:
        res_fn = function(variables, r, mode=compiled if isinstance(compiled, str) else "auto")
    J = SparseJacobian(residuals, x, compiled=compiled, colouring=colouring)
    values = dict(fixed)
    dense = kwargs.get("method") == "lm"

    def fun(z):
        return np.asarray(res_fn(z.reshape(shape), *rest), dtype=np.float64)

    def jac(z):
        values[x] = z.reshape(shape)
        m = J(values)
        return m.toarray() if dense else m

    res = scipy.optimize.least_squares(fun, z0, jac=jac, **kwargs)
    res.x = res.x.reshape(shape)
    res.n_colours, res.colouring = J.n_colours, J.side
    return res
