"""Sparse Hessians: sparsity patterns from the graph, row colouring, compressed products.

``hessian(f, x, sparse=True)`` returns a ``SparseHessian``. Building it:

1. **Pattern.** Index-level dependency patterns are propagated through the graph of
   ``g = grad(f, x)``: each node gets a boolean ``scipy.sparse`` matrix whose rows are the node's
   entries (C order) and whose columns are the entries of ``x``; entry ``(i, j)`` says "entry i
   may depend on x_j". Each op declares its rule as the method ``op.pattern`` (shared helpers in
   ``symdiff.patterns``). The Hessian's pattern
   is that of ``g`` (made symmetric).
2. **Colouring.** ``hessian_colouring`` keeps the colouring with the fewest colours among the
   greedy distance-2 colouring (Curtis-Powell-Reid: no two rows of one colour share a non-zero
   column) and star colourings (``symdiff.colouring``: an arrowhead needs 2 colours, not ``n``);
   ``colouring="acyclic"`` asks for an acyclic colouring (fewer colours, values by substitution).
3. **Compressed Hessian.** One graph computes ``S^T H`` for the 0/1 seed matrix ``S`` of the
   colouring: the Hessian-vector product graph batched (``vmap``) over the colours, so its cost
   grows with the number of colours, not with ``n``.
4. **Read-back.** ``H[i, j] = (S^T H)[colour(i), j]`` (distance-2), or that or
   ``(S^T H)[colour(j), i]`` (star: whichever holds ``H[i, j]`` alone), inside the same kernel.

``sd.jacobian(r, x, sparse=True)`` gives a ``SparseJacobian`` built the same way, colouring the
rows (``k`` VJPs) or the columns (``k`` JVPs) of ``dr/dx``, whichever needs fewer colours.

Calling the object with values (``H(values)``) gives a ``scipy.sparse.csr_matrix``;
``H.data(values)`` gives just the non-zeros, aligned with ``H.pattern``.

The same patterns and colouring (``Compression``-style seeds) let ``jacobian``/``hessian``
compute *dense* results of sparse structure from one seed per colour (``compress=``).
"""
from __future__ import annotations

from typing import Callable, Mapping

import numpy as np
import scipy.sparse as sp

from .errors import GradError, ShapeError
from .evaluate import bind_inputs
from .graph import Constant, Node, Variable, toposort
from . import patterns
from .ops import extra as X
from .patterns import PatternError
from .types import concrete_shape, format_shape


def _binary(P):
    return patterns.binary(P)


def _empty(rows: int, nx: int):
    return patterns.empty(rows, nx)


def _size(shape) -> int:
    return patterns.size(shape)


def _constant_bytes(node: Node) -> int:
    """The bytes of the constant arrays in the graph of ``node`` (what a kernel of it reads
    besides its inputs)."""
    return sum(int(np.asarray(n.value).nbytes) for n in toposort([node]) if isinstance(n, Constant))


def dependency_patterns(outputs, x: Node, dims: Mapping | None = None,
                        max_nnz: int | None = None) -> list[sp.csr_matrix]:
    """For each output, a sparse 0/1 matrix (rows: its entries, columns: entries of ``x``, both in
    C order) marking which entries of ``x`` each entry may depend on (through differentiable
    paths). ``dims`` binds named dims. Dependencies are structural, so the pattern may contain
    entries that happen to be zero, never miss one that is not. A node whose pattern has more
    than ``max_nnz`` non-zeros raises ``DensePatternError`` (the pattern is nearly dense)."""
    dims = dict(dims or {})
    outs = [outputs] if isinstance(outputs, Node) else list(outputs)
    try:
        nx = _size(concrete_shape(x.shape, dims))

        def check(node, P):
            if max_nnz is not None and P.nnz > max_nnz:
                raise DensePatternError(
                    f"sparsity pattern: the {node.op.name} node of shape {format_shape(node.shape)} depends on "
                    f"{P.nnz} (entry, x entry) pairs, over the budget of {max_nnz}: the pattern is "
                    f"(nearly) dense for x of {nx} entries")

        pats = patterns.propagate(outs, {x: sp.identity(nx, dtype=np.float64, format="csr")}, dims, check)
    except ShapeError as exc:
        raise PatternError(f"sparsity pattern: {exc}; pass values binding every named dim") from None
    return [pats[o] if pats[o] is not None else _empty(_size(concrete_shape(o.shape, dims)), nx) for o in outs]


def hessian_pattern(f: Node, x: Node, dims: Mapping | None = None) -> sp.csr_matrix:
    """The (symmetric) sparsity pattern of the Hessian of ``f`` wrt ``x`` as a boolean CSR matrix."""
    from .grad import grad

    (P,) = dependency_patterns([grad(f, x)], x, dims)
    return _binary(P + P.T).astype(bool)


# ---------------------------------------------------------------------------------------------
# Colouring
# ---------------------------------------------------------------------------------------------
class DensePatternError(PatternError):
    """A sparse Jacobian or Hessian was asked for, but its pattern is (nearly) dense."""


class DensePatternWarning(UserWarning):
    """A sparse Hessian's pattern is nearly dense: every column is computed, as a dense Hessian would."""


# A row colouring needs at least as many colours as the densest column has non-zeros; beyond this
# share of the rows it cannot save much, and the greedy colouring's work (the sum of the squared
# column degrees) grows towards n^3: every row then gets a colour of its own, without colouring.
DENSE_FRACTION = 0.5
COLOURING_WORK = 2e9   # about 5 s of the compiled greedy colouring
DENSE_WARN_ROWS = 256  # nearly dense patterns with more rows than this warn (DensePatternWarning)


def colouring_bounds(P: sp.spmatrix) -> tuple[int, int, float]:
    """``(lower, column, work)``: a lower bound on the colours of any row colouring of ``P`` (the
    non-zeros of its densest column), that column, and the greedy colouring's work."""
    degrees = np.diff(sp.csc_matrix(P).indptr)
    if degrees.size == 0:
        return 0, 0, 0.0
    j = int(np.argmax(degrees))
    return int(degrees[j]), j, float(np.sum(degrees.astype(np.float64) ** 2))


def guarded_colouring(P: sp.spmatrix, itemsize: int = 8, max_bytes: int | None = None,
                      what: str = "sparse Hessian") -> tuple[np.ndarray, int]:
    """``colour_rows(P)``, never going dense silently: ``MemoryLimitError`` when any colouring would
    need a compressed product (colours x columns) over the memory limit (a dense row/column, as in
    an arrowhead), every row its own colour without colouring when the pattern is nearly dense
    (``DensePatternWarning`` for more than ``DENSE_WARN_ROWS`` rows)."""
    import warnings

    from .jacobian import MemoryLimitError, get_memory_limit

    m, n = P.shape
    limit = get_memory_limit() if max_bytes is None else int(max_bytes)
    lower, column, work = colouring_bounds(P)

    def refuse(k: int, why: str):
        return MemoryLimitError(
            f"{what}: {why}, so it needs at least {k} Hessian-vector products and the compressed "
            f"product ({k} x {n}) would take {k * n * itemsize / 2**30:.3g} GiB, over the memory limit of "
            f"{limit / 2**30:.3g} GiB. Use sd.hvp for products with the Hessian (no matrix formed), or "
            "raise the limit with sd.set_memory_limit(nbytes)")

    if lower * n * itemsize > limit:
        raise refuse(lower, f"column {column} of its {m} x {n} pattern has {lower} non-zeros (a dense row "
                            "and column, which a row colouring cannot share)")
    if lower > DENSE_FRACTION * m or work > COLOURING_WORK:
        if m * n * itemsize > limit:
            raise refuse(m, f"its {m} x {n} pattern is nearly dense ({P.nnz} non-zeros)")
        if m > DENSE_WARN_ROWS:
            why = (f"column {column} has non-zeros in {lower} of the {m} rows (a dense row and column)"
                   if lower > DENSE_FRACTION * m and P.nnz < DENSE_FRACTION * m * n else
                   f"the pattern is nearly dense ({P.nnz} non-zeros)")
            warnings.warn(f"{what}: {why}, so a row colouring cannot share products: all {m} columns are "
                          "computed, as a dense Hessian would (sd.hessian(f, x) gives the same for less)",
                          DensePatternWarning, stacklevel=4)
        return np.arange(m, dtype=np.int64), m
    return colour_rows(P)


def _greedy_colouring_py(row_ptr, row_cols, col_ptr, col_rows, n):
    """Greedy distance-2 colouring of the rows of a pattern given as CSR (rows -> columns) and
    CSC (columns -> rows) arrays: row i avoids the colours of all rows sharing a column with it."""
    colour = np.full(n, -1, dtype=np.int64)
    forbidden = np.full(n + 1, -1, dtype=np.int64)
    ncol = 0
    for i in range(n):
        for p in range(row_ptr[i], row_ptr[i + 1]):
            j = row_cols[p]
            for q in range(col_ptr[j], col_ptr[j + 1]):
                c = colour[col_rows[q]]
                if c >= 0:
                    forbidden[c] = i
        c = 0
        while forbidden[c] == i:
            c += 1
        colour[i] = c
        ncol = max(ncol, c + 1)
    return colour, ncol


_colouring_impl = []


def _colouring_kernel():
    if not _colouring_impl:
        try:
            from .compiler.lazyjit import numba as _numba  # with the safe cache locator

            numba = _numba()

            _colouring_impl.append(numba.njit(cache=True)(_greedy_colouring_py))
        except Exception:  # numba missing or failing: the pure-Python loop is still correct
            _colouring_impl.append(_greedy_colouring_py)
    return _colouring_impl[0]


def colour_rows(pattern: sp.spmatrix) -> tuple[np.ndarray, int]:
    """Greedy distance-2 (Curtis-Powell-Reid) colouring of the rows of ``pattern``: rows of one
    colour share no non-zero column, so one product with the sum of their unit seeds recovers
    each of them. Returns ``(colour of each row, number of colours)``."""
    R = sp.csr_matrix(pattern)
    C = sp.csc_matrix(pattern)
    n = R.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64), 0
    colour, ncol = _colouring_kernel()(
        R.indptr.astype(np.int64), R.indices.astype(np.int64),
        C.indptr.astype(np.int64), C.indices.astype(np.int64), n,
    )
    return np.asarray(colour), int(ncol)


def hessian_colouring(P: sp.spmatrix, itemsize: int = 8, max_bytes: int | None = None,
                      method: str = "auto", what: str = "sparse Hessian"):
    """The colouring of the symmetric pattern ``P`` (a ``colouring.SymmetricColouring``) with the
    fewest colours among greedy distance-2 and star colourings (``method="auto"``; or one method,
    see ``colouring.symmetric_colouring``), with ``guarded_colouring``'s guards: a pattern too
    dense or too costly to colour gets ``guarded_colouring``'s answer (a refusal, or one colour
    per row), and a compressed product (colours x n) over the memory limit is refused."""
    from .colouring import SymmetricColouring, symmetric_colouring, symmetric_take
    from .jacobian import MemoryLimitError, get_memory_limit

    P = sp.csr_matrix(P)
    n = P.shape[0]
    _, _, work = colouring_bounds(P)
    if work > COLOURING_WORK or P.nnz > DENSE_FRACTION * n * n:
        colours, k = guarded_colouring(P, itemsize, max_bytes, what)
        return SymmetricColouring(colours, k, "distance2", symmetric_take(P, colours), None, {"guarded": k})
    chosen = symmetric_colouring(P, method)
    limit = get_memory_limit() if max_bytes is None else int(max_bytes)
    if chosen.k * n * itemsize > limit:
        raise MemoryLimitError(
            f"{what}: the best colouring of its {n} x {n} pattern ({chosen.method}) needs {chosen.k} Hessian-vector "
            f"products and the compressed product ({chosen.k} x {n}) would take {chosen.k * n * itemsize / 2**30:.3g} GiB, "
            f"over the memory limit of {limit / 2**30:.3g} GiB. Use sd.hvp for products with the Hessian (no matrix "
            "formed), or raise the limit with sd.set_memory_limit(nbytes)")
    return chosen


class Compression:
    """How to get a Jacobian with pattern ``P`` (rows: outputs, columns: inputs) from ``k`` VJPs.

    ``seeds`` (k, m): row c is the sum of the unit seeds of the rows of colour c; the compressed
    Jacobian ``seeds @ J`` (k, n) holds ``J[i, j]`` at ``(colour[i], j)``. ``take`` (flat
    positions in the compressed array) and ``pos`` (flat positions ``i * n + j`` in ``J``) list
    the non-zeros in CSR order.
    """

    def __init__(self, P: sp.spmatrix, dtype=np.float64, max_bytes: int | None = None):
        P = sp.csr_matrix(P)
        P.sum_duplicates()
        m, n = P.shape
        self.pattern = P.astype(bool)
        self.colours, self.k = guarded_colouring(P, np.dtype(dtype).itemsize, max_bytes)
        k = max(self.k, 1)
        self.seeds = np.zeros((k, m), dtype=dtype)
        self.seeds[self.colours, np.arange(m)] = 1.0
        rows = np.repeat(np.arange(m, dtype=np.int64), np.diff(P.indptr))
        cols = P.indices.astype(np.int64)
        self.take = self.colours[rows] * n + cols
        self.pos = rows * n + cols
        self.indptr, self.indices = P.indptr, P.indices


# ---------------------------------------------------------------------------------------------
# The sparse Hessian object
# ---------------------------------------------------------------------------------------------
# Patterns of nodes with more non-zeros than this (and than half of n^2) are refused as dense:
# building them costs about a microsecond per non-zero.
PATTERN_NNZ = 10_000_000


class _Plan:
    """Everything that depends on the concrete shapes: pattern, colours, compressed graph."""

    def __init__(self, x: Node, g: Node, dims: dict, colouring: str = "auto"):
        from .grad import grad
        from .ops import structure as S
        from .ops.indexing import take
        from .jacobian import _seed
        from .rewrite import simplify
        from .vmap import vmap

        nx = _size(concrete_shape(x.shape, dims))
        try:
            (P,) = dependency_patterns([g], x, dims, max_nnz=max(PATTERN_NNZ, nx * nx // 2))
        except DensePatternError as exc:
            raise DensePatternError(
                f"hessian(..., sparse=True) of {x.name!r}: {exc}. A sparse Hessian saves nothing here: use "
                "sd.hessian(f, x) (dense) or sd.hvp (products, no matrix)") from None
        full = sp.csr_matrix(_binary(P + P.T))
        full.sum_duplicates()
        full.sort_indices()
        col = hessian_colouring(full, x.dtype.itemsize, method=colouring)
        self.pattern, self.colours, self.n_colours = full.astype(bool), col.colours, col.k
        self.colouring, self.candidates, self.substitution = col.method, col.candidates, col.substitution
        nx = self.pattern.shape[0]
        self.k = k = max(self.n_colours, 1)
        seeds = np.zeros((k, nx), dtype=x.dtype)
        seeds[self.colours, np.arange(nx)] = 1.0
        seeds = seeds.reshape((k, *concrete_shape(x.shape, dims)))
        v = _seed(x, "v")
        product = grad(g, x, seed=v)
        seed_var = Variable("_seeds", (k, *x.shape), x.dtype)
        as_input = simplify(vmap(product, v, seed_var))
        # the seed matrix fed as an input: the kernel reads its one array at shifted positions
        # (named dims need it). With static shapes it may instead be a constant, which
        # ``simplify`` folds into the graph: that pays when the folding removes work (seeds
        # times a constant matrix), but for a stencil it turns the seeds into several
        # seed-shaped constants (v[1:], v[:-1], 2 v ...), each streamed through the kernel at
        # every call (Rosenbrock: 3 of them, 15-30% of its time). Keep whichever graph holds
        # fewer constant bytes, counting the fed seed matrix.
        self.seed_var, self.seeds, self.compressed = seed_var, seeds, as_input
        if all(isinstance(d, int) for d in x.shape):
            folded = simplify(vmap(product, v, Constant(seeds)))
            if _constant_bytes(folded) <= _constant_bytes(as_input) + seeds.nbytes:
                self.seed_var, self.seeds, self.compressed = None, None, folded
        # the non-zeros, picked out of S^T H inside the same graph (and the same kernel); a star
        # colouring reads some entries twice (H[i, j] and H[j, i]), which gather does not allow;
        # an acyclic colouring returns S^T H itself, solved by substitution after the call
        if col.substitution is not None:
            self.take = None
            self.nonzeros = S.reshape(self.compressed, (-1,))
        else:
            self.take = col.take
            distinct, inverse = np.unique(col.take, return_inverse=True)
            if distinct.shape[0] == col.take.shape[0]:
                self.nonzeros = X.gather(self.compressed, col.take)
            else:
                self.nonzeros = take(X.gather(self.compressed, distinct), inverse.astype(np.int64))
        # a stencil Hessian (each diagonal a graph on x: ``symdiff.stencil``) skips the seeds,
        # the compressed product and the gather: its values are written where they are computed
        self.route = "compressed"
        stencil_nonzeros = self._stencil(product, v, x, dims, full) if colouring == "auto" else None
        if stencil_nonzeros is not None:
            self.route, self.nonzeros, self.substitution = "stencil", stencil_nonzeros, None
        self.variables = [n for n in toposort([self.nonzeros]) if isinstance(n, Variable)]
        self.indptr, self.indices = full.indptr, full.indices
        self.shape = (nx, nx)
        self.fn = None

    @staticmethod
    def _stencil(product: Node, v: Variable, x: Node, dims: dict, full: sp.csr_matrix) -> Node | None:
        """The CSR values as one ``diagonals_to_csr`` of the Hessian's diagonals, or ``None`` when
        the product is no stencil (or its diagonals would hold far more entries than the pattern)."""
        from . import stencil
        from .rewrite import simplify

        shape = concrete_shape(x.shape, dims)
        if not shape or not all(isinstance(d, int) for d in x.shape):
            return None
        diags = stencil.diagonals(simplify(product), v, shape)
        if diags is None:
            return None
        layout = stencil.csr_layout(full, shape, list(diags))
        if layout is None:
            return None
        present, band = layout
        if present.size > 4 * max(full.nnz, 1):
            return None
        offsets = list(diags)
        nodes = simplify(list(diags.values()))
        mask = [] if band else [Constant(present)]
        return X.DiagonalsToCSR(tuple(offsets), tuple(shape), not band)(*nodes, *mask)

    @property
    def feeds_seeds(self) -> bool:
        """Whether the values' graph takes the seed matrix as an input (the compressed route with
        ``seed_var``); the caller then passes ``seeds`` for it."""
        return self.route == "compressed" and self.seed_var is not None

    def lower_triangle(self) -> Node | None:
        """The non-zeros with row >= column (what IPOPT takes), in CSR order, as one node of the
        values' graph; ``None`` for an acyclic colouring (its values are solved after the call)."""
        if self.route == "stencil":
            op, diags = self.nonzeros.op, self.nonzeros.inputs
            keep = [t for t, s in enumerate(op.offsets) if tuple(s) <= (0,) * len(s)]  # C order: s <= 0
            mask = [Constant(np.ascontiguousarray(op.present(diags)[:, keep]))] if op.masked else []
            return X.DiagonalsToCSR(tuple(op.offsets[t] for t in keep), op.shape, op.masked)(
                *[diags[t] for t in keep], *mask)
        if self.take is None:
            return None
        rows = np.repeat(np.arange(self.shape[0], dtype=np.int64), np.diff(self.indptr))
        return X.gather(self.compressed, self.take[rows >= self.indices])

    def compile(self, compiled: bool | None) -> Callable:
        """``fn(*arrays)`` (one per ``self.variables``) returning the non-zeros: a compiled
        ``sd.function`` (which checks its arguments; ``compiled`` may name its ``mode``, e.g.
        ``"numba"`` for a graph over the automatic jit budget), or the NumPy evaluator if
        ``compiled=False``."""
        if self.fn is None:
            if compiled is False:
                from .evaluate import evaluate

                self.fn = lambda *arrays: evaluate(self.nonzeros, dict(zip(self.variables, arrays)))
            else:
                from .compiler import function

                mode = compiled if isinstance(compiled, str) else "auto"
                self.fn = function(self.variables, self.nonzeros, mode=mode)
            if self.substitution is not None:
                compressed, solve = self.fn, self.substitution.solve
                self.fn = lambda *arrays: solve(compressed(*arrays))
        return self.fn

    def data(self, values: dict, compiled: bool | None) -> np.ndarray:
        """The non-zeros in the order of the pattern's CSR arrays; ``values`` keyed by node."""
        fn = self.compile(compiled)
        return fn(*[self.seeds if v is self.seed_var else values[v] for v in self.variables])


class _SparseMatrix:
    """What sparse Hessians and Jacobians share: one plan (pattern, colouring, compiled values)
    per binding of the named dims, the input binding, and the CSR results. Subclasses set
    ``_target`` (the graph the values are computed from) and ``_make_plan(dims)``."""

    _plans: dict
    _variables: list | None
    _static: bool

    def _setup(self, target: Node, x: Node, colouring: str, methods, what: str) -> None:
        """Check ``colouring`` against ``methods``, set the shared state, and build the plan at
        once when every shape is static."""
        if colouring not in methods:
            raise PatternError(f"{what}: colouring must be one of {', '.join(methods)}, got {colouring!r}")
        self.colouring_method = colouring
        self._target = target
        self._variables = None
        self._plans = {}
        self._static = all(isinstance(d, int) for d in x.shape) and all(
            all(isinstance(d, int) for d in n.shape) for n in toposort([target]))
        if self._static:
            self._plan({})

    def _plan(self, dims: dict):
        key = tuple(sorted(dims.items()))
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = self._make_plan(dims)
        return plan

    def _only_plan(self):
        if not self._plans:
            raise PatternError(f"the graph has named dims: call the {type(self).__name__} with values first, "
                               "so the pattern can be derived")
        return next(iter(self._plans.values()))

    pattern = property(lambda self: self._only_plan().pattern, doc="The boolean CSR pattern.")
    n_colours = property(lambda self: self._only_plan().n_colours, doc="The number of compressed products.")
    compressed = property(lambda self: self._only_plan().compressed, doc="The compressed product's node.")
    nnz = property(lambda self: self.pattern.nnz, doc="The number of structural non-zeros.")

    def _bind(self, values: Mapping):
        if self._variables is None:
            self._variables = [n for n in toposort([self._target]) if isinstance(n, Variable)]
            if self.x not in self._variables:
                self._variables.append(self.x)
        bound, dims = bind_inputs(self._variables, values)
        return self._plan({} if self._static else dims), bound

    def data(self, values: Mapping) -> np.ndarray:
        """The non-zeros at ``values``, aligned with ``pattern.indices`` / ``pattern.indptr``
        (skips building a scipy matrix: the fast path for a solver that takes raw CSR arrays)."""
        return self._data(values)[1]

    def __call__(self, values: Mapping) -> sp.csr_matrix:
        """The matrix at ``values`` (a mapping from variables or names to arrays) as CSR."""
        plan, data = self._data(values)
        return sp.csr_matrix((data, plan.indices, plan.indptr), shape=plan.shape)

    evaluate = __call__


class SparseHessian(_SparseMatrix):
    """The Hessian of a scalar ``f`` wrt ``x`` as a sparse matrix, from ``hessian(f, x, sparse=True)``.

    Attributes (available once the shapes are known: at once for static shapes, else after the
    first call): ``pattern`` (boolean CSR, rows/columns are entries of ``x`` in C order),
    ``colours`` and ``n_colours`` (the colouring), ``colouring`` (its kind: ``"distance2"``,
    ``"star"`` or ``"acyclic"``), ``route`` (``"stencil"``: the diagonals written straight into
    the CSR data, see ``symdiff.stencil``; or ``"compressed"``), ``compressed`` (the graph node
    computing ``S^T H``, what the compressed route evaluates: one batched
    Hessian-vector product per colour; the seed matrix ``S`` is a constant of it or, where that
    reads less, an input: ``seed_inputs`` gives its value).

    ``H(values)`` (or ``H.evaluate(values)``), with ``values`` mapping variables (or names) to
    arrays as in ``sd.evaluate``, returns a ``scipy.sparse.csr_matrix`` of shape
    ``(x.size, x.size)``. Only the non-zeros are computed.
    """

    def __init__(self, f: Node, x: Node, *, compiled: bool | None = None, colouring: str = "auto"):
        from .colouring import SYMMETRIC_METHODS
        from .grad import grad

        if f.shape != ():
            raise GradError(f"hessian: f must be a scalar, got shape {format_shape(f.shape)}")
        self.f, self.x, self.compiled = f, x, compiled
        self._fast = None  # (compiled, plan, fn, x, seeds) once compiled, for static shapes
        self.gradient = grad(f, x)
        self._setup(self.gradient, x, colouring, SYMMETRIC_METHODS, "hessian(..., sparse=True)")

    def _make_plan(self, dims: dict) -> _Plan:
        return _Plan(self.x, self.gradient, dims, self.colouring_method)

    @property
    def colours(self) -> np.ndarray:
        return self._only_plan().colours

    @property
    def colouring(self) -> str:
        """The colouring used: ``"distance2"``, ``"star"`` or ``"acyclic"``."""
        return self._only_plan().colouring

    @property
    def route(self) -> str:
        """How the values are computed: ``"stencil"`` (the Hessian's diagonals, read off the
        product graph and written straight into the CSR data: ``symdiff.stencil``) or
        ``"compressed"`` (one Hessian-vector product per colour, then the non-zeros picked out)."""
        return self._only_plan().route

    @property
    def seed_inputs(self) -> dict:
        """``{seed variable: seed matrix}`` to add to the values when evaluating ``compressed``
        yourself (the seed matrix is an input of that graph when it is cheaper so), else ``{}``."""
        plan = self._only_plan()
        return {} if plan.seed_var is None else {plan.seed_var: plan.seeds}

    def _data(self, values: Mapping) -> tuple[_Plan, np.ndarray]:
        fast = self._fast
        if fast is not None and fast[0] is self.compiled:  # static, compiled, x the one variable
            _, plan, fn, x, seeds = fast
            xv = values[x] if x in values else values.get(x.name)
            if xv is not None:  # the compiled function checks it
                return plan, fn(xv) if seeds is None else fn(seeds, xv)
        if self._static and self.compiled is not False:
            # fast path: the compiled function checks its own arguments
            plan = self._only_plan()
            if fast is None:
                fn = plan.compile(self.compiled)
                rest = [v for v in plan.variables if v is not plan.seed_var]
                if len(rest) == 1 and rest[0] is self.x and plan.variables[-1] is self.x:
                    seeds = plan.seeds if plan.feeds_seeds else None
                    self._fast = (self.compiled, plan, fn, self.x, seeds)
            try:  # (a constant Hessian's function takes no x: bind_inputs checks its shape)
                args = [plan.seeds if v is plan.seed_var else values[v] if v in values else values[v.name]
                        for v in plan.variables]
            except KeyError:
                pass  # let bind_inputs name what is missing
            else:
                if self.x in plan.variables:
                    return plan, plan.compile(self.compiled)(*args)
        plan, bound = self._bind(values)
        return plan, plan.data(bound, self.compiled)

    def __repr__(self) -> str:
        if self._plans:
            p = self._only_plan()
            return (f"<SparseHessian of {self.x.name} {p.shape[0]}x{p.shape[1]}, {p.pattern.nnz} non-zeros, "
                    f"{p.n_colours} colours ({p.colouring})>")
        return f"<SparseHessian of {self.x.name} (pattern derived at the first call)>"


# ---------------------------------------------------------------------------------------------
# The sparse Jacobian object
# ---------------------------------------------------------------------------------------------
# Seconds of Numba compile time per generated kernel line, measured on the ADBench BA Jacobian
# (533 lines: 11.5-19 s cold on a quiet 2-core machine, 26-45 s when another compile shares it;
# docs/sparse.md), and how far over the automatic jit budget a sparse Jacobian may still switch
# to Numba (as graphs with loops do).
COMPILE_SECONDS_PER_LINE = 0.03
SPARSE_LINES_FACTOR = 4


class _VMThenNumba:
    """A sparse Jacobian's values on the virtual machine until the time spent there reaches the
    estimated Numba compile time, then compiled with Numba (the "ski rental" rule).

    ``sd.function``'s automatic mode sends graphs over the jit budget to the VM, which is right
    for a function called a few times but not for a Jacobian called hundreds of times inside an
    optimiser (the BA Jacobian: 7x slower per call there). Compiling at once would cost 30 s even
    for a problem whose calls take a millisecond; waiting until the VM has cost as much as the
    compile never spends more than twice the better of the two choices, whatever the number of
    calls. Kernels over ``SPARSE_LINES_FACTOR`` times the budget stay on the VM."""

    def __init__(self, plan: "_JacobianPlan", vm: Callable):
        from .compiler.codegen import Lowering
        from .compiler.function import max_jit_lines

        self.plan, self.vm, self.mode, self.spent = plan, vm, "vm", 0.0
        lowering = Lowering(plan.variables, [plan.nonzeros])
        limit = SPARSE_LINES_FACTOR * max_jit_lines()
        self.lines = lowering.min_lines()
        if self.lines <= limit:
            self.lines = lowering.source().count("\n")
        self.budget = self.lines * COMPILE_SECONDS_PER_LINE if self.lines <= limit else float("inf")

    def __call__(self, *arrays):
        import time

        if self.spent >= self.budget:
            from .compiler import function

            fn = function(self.plan.variables, self.plan.nonzeros, mode="numba")
            self.plan.fn, self.mode = fn, "numba"   # later calls go straight to the kernel
            return fn(*arrays)
        t0 = time.perf_counter()
        out = self.vm(*arrays)
        self.spent += time.perf_counter() - t0
        return out


class _JacobianPlan(_Plan):
    """A ``_Plan`` for ``dy/dx``: the pattern, a row or column colouring and the compressed graph
    (``k`` batched VJPs for rows, ``k`` batched JVPs for columns); compiling and evaluating are
    ``_Plan``'s."""

    def __init__(self, y: Node, x: Node, dims: dict, mode: str = "auto"):
        from .colouring import jacobian_colouring
        from .grad import grad
        from .jacobian import MemoryLimitError, _seed, get_memory_limit, jvp
        from .rewrite import simplify
        from .vmap import vmap

        ny = _size(concrete_shape(y.shape, dims))
        nx = _size(concrete_shape(x.shape, dims))
        try:
            (P,) = dependency_patterns([y], x, dims, max_nnz=max(PATTERN_NNZ, nx * ny // 2))
        except DensePatternError as exc:
            raise DensePatternError(
                f"jacobian(..., sparse=True) of {x.name!r}: {exc}. A sparse Jacobian saves nothing here: use "
                "sd.jacobian(y, x) (dense), sd.vjp or sd.jvp") from None
        P = sp.csr_matrix(_binary(P))
        P.sum_duplicates()
        P.sort_indices()
        static = all(isinstance(d, int) for d in (*x.shape, *y.shape))
        if mode == "bicolour" and not static:
            raise PatternError(f"jacobian(..., sparse=True, colouring='bicolour'): {x.name!r} or the output has named "
                               "dims; a bicolouring needs static shapes (use 'auto', 'rows' or 'columns')")
        col = jacobian_colouring(P, mode, work_limit=COLOURING_WORK, bicolour=static)
        self.pattern, self.colours, self.n_colours, self.side = P.astype(bool), col.colours, col.k, col.side
        self.candidates, self.substitution, self.colouring = col.candidates, None, col.side
        self.row_colours, self.col_colours = col.row_colours, col.col_colours
        self.k = k = max(col.k, 1)
        limit = get_memory_limit()
        if k * (nx + ny) * x.dtype.itemsize > limit:
            raise MemoryLimitError(
                f"jacobian(..., sparse=True): its {ny} x {nx} pattern needs {k} colours ({col.side}), and the "
                f"compressed product ({k} x {nx if col.side == 'rows' else ny}) would take over the memory limit of "
                f"{limit / 2**30:.3g} GiB. Use sd.vjp / sd.jvp, or raise the limit with sd.set_memory_limit(nbytes)")
        dtype = x.dtype if x.dtype.kind == "f" else np.float64

        def batched(side: str, colours: np.ndarray, count: int, batch=None) -> Node:
            """``count`` JVPs (``side="columns"``) or VJPs (``"rows"``) batched with ``vmap``, their
            seeds the sums of the unit vectors of each colour (-1: in no seed)."""
            seeded = y if side == "rows" else x
            u = _seed(seeded, "u")
            if batch is None:
                seeds = np.zeros((count, colours.shape[0]), dtype=dtype)
                keep = colours >= 0
                seeds[colours[keep], np.flatnonzero(keep)] = 1.0
                batch = Constant(seeds.reshape((count, *concrete_shape(seeded.shape, dims))))
            product = grad(y, x, seed=u) if side == "rows" else jvp(y, x, u)
            return simplify(vmap(product, u, batch))

        self.seed_var, self.seeds = None, None
        if col.side == "bicolour":  # the JVP block (k_cols, m), then the VJP block (k_rows, n), flattened
            from .ops.structure import concatenate, reshape

            parts = [reshape(batched(s, c, kc), (kc * w,)) for s, c, kc, w in
                     (("columns", col.col_colours, col.k_cols, ny), ("rows", col.row_colours, col.k_rows, nx)) if kc]
            self.compressed = concatenate(parts) if len(parts) > 1 else parts[0]
        elif all(isinstance(d, int) for d in (y if col.side == "rows" else x).shape):
            self.compressed = batched(col.side, col.colours, k)
        else:  # named dims: the seed matrix is fed as an input
            seeded = y if col.side == "rows" else x
            width = ny if col.side == "rows" else nx
            seeds = np.zeros((k, width), dtype=dtype)
            seeds[self.colours, np.arange(width)] = 1.0
            self.seeds = seeds.reshape((k, *concrete_shape(seeded.shape, dims)))
            self.seed_var = Variable("_seeds", (k, *seeded.shape), seeded.dtype if seeded.dtype.kind == "f" else dtype)
            self.compressed = batched(col.side, col.colours, k, self.seed_var)
        self.take = col.take
        self.nonzeros = X.gather(self.compressed, col.take)
        self.variables = [n for n in toposort([self.nonzeros]) if isinstance(n, Variable)]
        self.indptr, self.indices = P.indptr, P.indices
        self.shape = (ny, nx)
        self.fn = None

    def compile(self, compiled: bool | str | None) -> Callable:
        """``_Plan.compile``; with ``compiled=None``, a kernel that ``sd.function`` sends to the VM
        switches to Numba once the VM has cost the estimated compile time (``_VMThenNumba``)."""
        if self.fn is None:
            fn = super().compile(compiled)
            if compiled is None and getattr(fn, "mode", None) == "vm":
                self.fn = _VMThenNumba(self, fn)
        return self.fn


class SparseJacobian(_SparseMatrix):
    """The Jacobian ``dy/dx`` as a sparse matrix, from ``jacobian(y, x, sparse=True)``.

    Rows are the entries of ``y``, columns those of ``x`` (both in C order). Attributes (at once
    for static shapes, else after the first call): ``pattern`` (boolean CSR), ``side``
    (``"rows"``: ``k`` vector-Jacobian products give ``S^T J``; ``"columns"``: ``k``
    Jacobian-vector products give ``J S``: whichever needs fewer colours; ``"bicolour"``: some
    non-zeros from JVPs, the others from VJPs, chosen by ``colouring="auto"`` only when that
    needs fewer products than both sides, see ``symdiff.colouring.bicolouring``), ``colours`` and
    ``n_colours`` (the number of products), ``compressed`` (the graph node of the ``k`` batched products). ``compiled``:
    ``None`` compiles with ``sd.function``'s automatic mode, except that a kernel over its jit
    budget (up to 4x) runs on the virtual machine only until the time spent there reaches the
    estimated Numba compile time, then is compiled with Numba (``mode`` says which runs now); a
    mode name (``"numba"``, ``"vm"``) forces one, ``False`` evaluates with NumPy.

    ``J(values)`` returns a ``scipy.sparse.csr_matrix``; ``J.data(values)`` the non-zeros aligned
    with ``pattern`` (one compiled call: products and read-back in one kernel).
    """

    def __init__(self, y: Node, x: Node, *, compiled: bool | str | None = None, colouring: str = "auto"):
        if not isinstance(y, Node):
            raise GradError(f"jacobian(..., sparse=True): y must be a symdiff node, got {type(y).__name__}")
        if not isinstance(x, Node):
            raise GradError(f"jacobian(..., sparse=True): x must be a symdiff node, got {type(x).__name__}")
        if x.dtype.kind != "f":
            raise GradError(f"jacobian(..., sparse=True): x must be a float tensor, got {x.dtype}")
        from .colouring import JACOBIAN_METHODS

        self.y, self.x, self.compiled = y, x, compiled
        self._setup(y, x, colouring, JACOBIAN_METHODS, "jacobian(..., sparse=True)")

    def _make_plan(self, dims: dict) -> _JacobianPlan:
        return _JacobianPlan(self.y, self.x, dims, self.colouring_method)

    colours = property(lambda self: self._only_plan().colours,
                       doc="The colour of each row or column (bicolour: of each column, -1 in no seed).")
    row_colours = property(lambda self: self._only_plan().row_colours,
                           doc="Bicolour: the colour of each row in the VJP seeds (-1 in none); else None.")
    side = property(lambda self: self._only_plan().side, doc="'rows' (VJPs), 'columns' (JVPs) or 'bicolour' (both).")
    shape = property(lambda self: self._only_plan().shape, doc="(y.size, x.size)")

    @property
    def mode(self) -> str | None:
        """How the values are computed now: ``"numba"``, ``"vm"``, ``"numpy"`` (``sd.function``'s
        modes), ``"evaluate"`` (``compiled=False``), or ``None`` before the first call."""
        fn = self._only_plan().fn
        if fn is None:
            return None
        return getattr(fn, "mode", "evaluate")

    def _data(self, values: Mapping) -> tuple[_JacobianPlan, np.ndarray]:
        plan = self._only_plan() if self._static else None
        if plan is not None and self.compiled is not False and self.x in plan.variables:
            try:
                args = [values[v] if v in values else values[v.name] for v in plan.variables]
            except KeyError:
                pass  # let bind_inputs name what is missing
            else:
                return plan, plan.compile(self.compiled)(*args)
        plan, bound = self._bind(values)
        return plan, plan.data(bound, self.compiled)

    def __repr__(self) -> str:
        if self._plans:
            p = self._only_plan()
            return (f"<SparseJacobian of {self.y.op.name if self.y.op else self.y.name} wrt {self.x.name} "
                    f"{p.shape[0]}x{p.shape[1]}, {p.pattern.nnz} non-zeros, {p.n_colours} colours ({p.side})>")
        return f"<SparseJacobian wrt {self.x.name} (pattern derived at the first call)>"
