"""Colourings (symdiff/colouring.py): star, acyclic and distance-2 colour counts against the known
optimum of each test pattern, exact values recovered from the compressed products, never more
colours than the greedy distance-2 colouring."""
import numpy as np
import pytest
import scipy.sparse as sp

import symdiff as sd
from symdiff import colouring as C
from symdiff.sparsity import colour_rows

RNG = np.random.default_rng(13)


def arrowhead(n):
    P = sp.lil_matrix((n, n), dtype=bool)
    P[0, :] = True
    P[:, 0] = True
    P.setdiag(True)
    return P.tocsr()


def banded(n, k):
    i = np.arange(n)
    return sp.csr_matrix(np.abs(i[:, None] - i[None, :]) <= k)


def blocks(nb, b):
    return sp.block_diag([np.ones((b, b), bool)] * nb, format="csr")


def exact_minimum(P, valid, kmax):
    """The fewest colours of a colouring that ``valid`` accepts, by backtracking over the vertices
    in order (colour classes up to relabelling). Sound because star and acyclic colourings are
    hereditary: the colouring of the first v vertices must already be valid on their induced graph."""
    n = P.shape[0]
    A = C._adjacency(P).toarray()
    for k in range(1, kmax + 1):
        col = -np.ones(n, dtype=np.int64)

        def extend(v):
            if v == n:
                return True
            for c in range(min(k, (col[:v].max() + 2) if v else 1)):
                if np.any(A[v, :v] & (col[:v] == c)):
                    continue
                col[v] = c
                if valid(P[:v + 1, :v + 1], col[:v + 1]) and extend(v + 1):
                    return True
                col[v] = -1
            return False

        if extend(0):
            return k
    raise AssertionError("no colouring within kmax")


def recovered(P, col):
    """Values recovered from ``S^T H`` for a random symmetric H with pattern P."""
    H = sp.csr_matrix(P, dtype=float)
    H.data = RNG.normal(size=H.nnz)
    H = (H + H.T).tocsr()
    H.sort_indices()
    n = P.shape[0]
    S = np.zeros((n, col.k))
    S[np.arange(n), col.colours] = 1.0
    B = (H @ S).T                                    # k x n: row c is H s_c
    got = B.ravel()[col.take] if col.take is not None else col.substitution.solve(B)
    return got, H.data


# Known optima (each derived in the comment; the small banded ones also by exhaustive search below):
#   arrowhead n x n: star 2 (hub one colour, all leaves another; 1 is impossible with an edge);
#     distance-2 needs n (every two rows share column 0).
#   banded, half-bandwidth k: distance-2 2k+1 (rows i, i+2k share column i+k; i mod 2k+1 works);
#     star 2k+1 too (exhaustive search on n = 4k+2, and hereditary); acyclic k+1 (a clique of
#     k+1 consecutive vertices; i mod k+1 leaves no two-coloured cycle).
#   block diagonal, blocks of b: b for every method (a clique of b; blocks share nothing).
CASES = [
    ("arrowhead", arrowhead(40), {"distance2": 40, "star": 2, "acyclic": 2}),
    ("tridiagonal", banded(30, 1), {"distance2": 3, "star": 3, "acyclic": 2}),
    ("banded_k2", banded(30, 2), {"distance2": 5, "star": 5, "acyclic": 3}),
    ("banded_k3", banded(40, 3), {"distance2": 7, "star": 7, "acyclic": 4}),
    ("blocks_4", blocks(6, 4), {"distance2": 4, "star": 4, "acyclic": 4}),
]


@pytest.mark.parametrize("name,P,optimum", CASES, ids=[c[0] for c in CASES])
def test_colour_counts_are_optimal_and_values_exact(name, P, optimum):
    for method, best in optimum.items():
        col = C.symmetric_colouring(P, method)
        assert col.k == best, (method, col.candidates)
        got, want = recovered(P, col)
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)
    assert C.is_star_colouring(P, C.symmetric_colouring(P, "star").colours)
    assert C.is_acyclic_colouring(P, C.symmetric_colouring(P, "acyclic").colours)
    auto = C.symmetric_colouring(P)
    assert auto.k == min(optimum["distance2"], optimum["star"])
    assert auto.k <= colour_rows(P)[1]


@pytest.mark.parametrize("k", [1, 2])
def test_banded_optima_by_exhaustive_search(k):
    P = banded(4 * k + 2, k)
    assert exact_minimum(P, C.is_star_colouring, 2 * k + 1) == 2 * k + 1
    assert exact_minimum(P, C.is_acyclic_colouring, 2 * k + 1) == k + 1
    assert exact_minimum(arrowhead(7), C.is_star_colouring, 7) == 2


def test_invalid_colourings_are_refused():
    P = banded(8, 1)
    two = np.arange(8) % 2                           # a path in two colours: not a star colouring
    assert not C.is_star_colouring(P, two)
    with pytest.raises(C.ColouringError, match="star"):
        C.symmetric_take(P, two)
    with pytest.raises(C.ColouringError, match="share a colour"):
        C.symmetric_take(P, np.zeros(8, dtype=np.int64))
    cycle = sp.csr_matrix(banded(4, 1) + sp.csr_matrix(([1, 1], ([0, 3], [3, 0])), shape=(4, 4)))
    assert not C.is_acyclic_colouring(cycle, np.array([0, 1, 0, 1]))
    with pytest.raises(C.ColouringError, match="acyclic"):
        C.substitution_plan(cycle, np.array([0, 1, 0, 1]))
    with pytest.raises(sd.SymdiffError, match="unknown method"):
        C.symmetric_colouring(P, "greedy")


def test_random_patterns_never_beat_by_greedy():
    for seed in range(8):
        A = sp.random(80, 80, density=0.04, random_state=seed, format="csr")
        P = ((A + A.T + sp.identity(80)) != 0)
        auto = C.symmetric_colouring(P)
        assert auto.k <= colour_rows(P)[1]
        for method in ("star", "acyclic", "auto"):
            got, want = recovered(P, C.symmetric_colouring(P, method))
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_jacobian_side_choice():
    """A dense row: the rows need 2 colours (the dense row, then all others), the columns n;
    a dense column: the reverse. Banded m x n with half-bandwidth k: 2k+1 either way."""
    n = 30
    dense_row = sp.vstack([sp.csr_matrix(np.ones((1, n), bool)), sp.identity(n, dtype=bool)]).tocsr()
    col = C.jacobian_colouring(dense_row)
    assert (col.side, col.k) == ("rows", 2) and col.candidates["columns/natural"] == n
    col = C.jacobian_colouring(dense_row.T)
    assert (col.side, col.k) == ("columns", 2)
    col = C.jacobian_colouring(banded(n, 2))
    assert col.k == 5 and col.side == "columns"         # ties go to columns (forward mode)
    assert C.jacobian_colouring(banded(n, 2), "rows").side == "rows"


def bi_recovered(P, col):
    """The CSR values of a random J with pattern P, read from the JVP and VJP blocks of a
    bicolouring as the compiled kernel reads them, and the true values."""
    P = sp.csr_matrix(P, dtype=bool)
    P.sort_indices()
    m, n = P.shape
    J = sp.csr_matrix((RNG.normal(size=P.nnz), P.indices, P.indptr), shape=P.shape)
    Sc = np.zeros((col.k_cols, n))
    keep = col.col_colours >= 0
    Sc[col.col_colours[keep], np.flatnonzero(keep)] = 1.0
    Sr = np.zeros((col.k_rows, m))
    keep = col.row_colours >= 0
    Sr[col.row_colours[keep], np.flatnonzero(keep)] = 1.0
    blocks_ = np.concatenate([(J @ Sc.T).T.ravel(), (Sr @ J).ravel()])   # JVPs (k_cols, m), VJPs (k_rows, n)
    return blocks_[col.take], J.data


def arrowhead_rect(m, n):
    P = sp.lil_matrix((m, n), dtype=bool)
    P[0, :] = True
    P[:, 0] = True
    for i in range(min(m, n)):
        P[i, i] = True
    return P.tocsr()


@pytest.mark.parametrize("m, n", [(40, 40), (60, 25), (25, 60)])
def test_bicolouring_of_an_arrowhead_needs_three_products(m, n):
    """Dense first row and column plus a diagonal: one side alone needs min(m, n)-ish colours
    (every row meets the dense column, every column the dense row); 1 VJP (the first row) and 2
    JVPs (the first column, then all others, which share no row below the first) give it all,
    and 2 products cannot (two JVPs would need the dense row apart, two VJPs the dense column)."""
    P = arrowhead_rect(m, n)
    rows, cols = C.jacobian_colouring(P, "rows"), C.jacobian_colouring(P, "columns")
    assert rows.k >= min(m, n) - 1 and cols.k >= min(m, n) - 1
    bi = C.bicolouring(P)
    assert bi.side == "bicolour" and bi.k == 3 and bi.k_rows + bi.k_cols == 3
    got, want = bi_recovered(P, bi)
    np.testing.assert_array_equal(got, want)
    auto = C.jacobian_colouring(P)
    assert auto.side == "bicolour" and auto.k == 3
    assert auto.candidates["columns/natural"] == cols.k and "bicolour/rows>=%d" % n in auto.candidates


def test_bicolouring_exact_on_random_and_structured_patterns():
    cases = [sp.random(70, 50, density=0.05, random_state=s, format="csr") != 0 for s in range(6)]
    dense_rows = sp.random(80, 60, density=0.03, random_state=9, format="lil") != 0
    dense_rows = sp.lil_matrix(dense_rows)
    dense_rows[[3, 40], :] = True
    dense_rows[:, [7, 8, 30]] = True
    cases += [sp.csr_matrix(dense_rows), banded(30, 2), sp.csr_matrix((5, 4), dtype=bool), sp.identity(6, format="csr")]
    for P in cases:
        bi = C.bicolouring(P)
        got, want = bi_recovered(P, bi)
        np.testing.assert_array_equal(got, want)
        auto = C.jacobian_colouring(P)
        one_sided = min(C.jacobian_colouring(P, "rows").k, C.jacobian_colouring(P, "columns").k)
        assert auto.k <= one_sided
        assert (auto.side == "bicolour") == (auto.k < one_sided)   # chosen only when strictly fewer
    # a few dense rows and columns on a sparse background: both sides pay for them, bicolouring not
    P = sp.csr_matrix(dense_rows)
    assert C.bicolouring(P).k < min(C.jacobian_colouring(P, "rows").k, C.jacobian_colouring(P, "columns").k)
