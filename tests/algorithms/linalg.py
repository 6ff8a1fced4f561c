"""numpy's side of lpc/tests/algorithms.rs: the input matrices of a case, and
LAPACK's test ratios of what `lpc run` computed from them.

    python3 linalg.py make KIND M N NRHS SEED DIR
    python3 linalg.py check ALGORITHM M N NRHS TILE DIR
    python3 linalg.py schur K DIR

`make` writes DIR/A.npy (M x N, of the KIND below) and, if NRHS > 0,
DIR/B.npy (M x NRHS, standard normal).

`check` reads the inputs back with what the run wrote: DIR/X.npy (posv,
gesv, lstsq; for lu, the X of a gesv on the same A and B), DIR/U.npy and
DIR/P.npy (lu), DIR/R.npy and DIR/V.npy (qr, tsqr), and the versioned
outputs, which only exist as tiles, under the one run's namespace in
DIR/store (docs/runtime.md: `<root>/~runs/<run>/<matrix>.<version>/<i>_<j>.npy`). It prints one line per
measurement:

    ratio NAME VALUE DESCRIPTION    a LAPACK-style test ratio, passes below 30
    count NAME VALUE DESCRIPTION    entries that must not be there, passes at 0

`schur` prints the Schur complement of DIR/A.npy's leading K x K block at
(K, K): the pivot a Cholesky meets at row K.

Norms are 1-norms (LAPACK's test programs use them) unless a line says
otherwise; eps is the unit roundoff numpy reports for float64.
"""

import sys
from pathlib import Path

import numpy as np

EPS = np.finfo(np.float64).eps


def n1(x):
    return np.linalg.norm(x, 1)


def ratio(name, value, what):
    print(f"ratio {name} {float(value)!r} {what}")


def count(name, value, what):
    print(f"count {name} {int(value)} {what}")


# ---------------------------------------------------------------- inputs


def make(kind, m, n, nrhs, seed, d):
    rng = np.random.default_rng(seed)

    def orthonormal(rows, cols):
        # Q of a Gaussian matrix, signs fixed: Haar distributed columns.
        q, r = np.linalg.qr(rng.standard_normal((rows, cols)))
        return q * np.sign(np.diag(r))

    # Singular values 1 .. 1e-12, log-spaced: condition number 1e12.
    s = np.logspace(0, -12, n)
    if kind == "random":
        a = rng.standard_normal((m, n))
    elif kind == "spd":
        g = rng.standard_normal((n, n))
        a = g @ g.T / n + np.eye(n)
    elif kind == "cond12":
        a = (orthonormal(m, n) * s) @ orthonormal(n, n).T
    elif kind == "spd_cond12":
        q = orthonormal(n, n)
        a = (q * s) @ q.T
        # Exactly symmetric: lpc reads only the lower triangle of a `sym` A.
        a = (a + a.T) / 2
    elif kind == "derangement":
        # A permutation matrix with no fixed point: every diagonal entry is
        # zero, so LU without pivoting fails at the first step.
        while True:
            p = rng.permutation(n)
            if (p != np.arange(n)).all():
                break
        a = np.eye(n)[p]
    elif kind == "swap_blocks":
        # [[0, I], [I, 0]] (a cyclic shift by n/2 when n is odd): the
        # diagonal tiles are zero, so only pivots from the tiles below help.
        a = np.eye(n)[(np.arange(n) + n // 2) % n]
    elif kind == "zero_column":
        # Exactly singular: column 5 stays zero through any elimination, so
        # U[5, 5] is an exact zero (two equal columns are not enough: in
        # floating point their difference leaves a tiny nonzero pivot, as in
        # LAPACK).
        a = rng.standard_normal((m, n))
        a[:, 5] = 0.0
    elif kind == "not_spd":
        # SPD except entry (40, 40): its leading 40 x 40 block is SPD, and
        # the Schur complement at 40 is -1 minus a nonnegative number, so a
        # Cholesky fails exactly at row 40.
        g = rng.standard_normal((n, n))
        a = g @ g.T / n + np.eye(n)
        a[40, 40] = -1.0
    else:
        raise SystemExit(f"linalg.py: unknown matrix kind {kind!r}")
    assert a.shape == (m, n), (kind, a.shape, (m, n))
    np.save(d / "A.npy", a)
    if nrhs > 0:
        np.save(d / "B.npy", rng.standard_normal((m, nrhs)))


# ---------------------------------------------------------------- checks


def solve_ratios(a, b, x):
    n = a.shape[0]
    ratio(
        "backward",
        n1(a @ x - b) / (n1(a) * n1(x) * n * EPS),
        "‖A X − B‖ / (‖A‖ ‖X‖ n ε)",
    )
    # LAPACK's dget04: the forward error against numpy's solution, over
    # the condition number times ε.
    xr = np.linalg.solve(a, b)
    ratio(
        "forward",
        n1(x - xr) / (n1(xr) * np.linalg.cond(a, 1) * EPS),
        "‖X − numpy.linalg.solve(A, B)‖ / (‖X‖ κ₁(A) ε)",
    )


def load_tile(d, matrix, i, j):
    runs = sorted((d / "store" / "~runs").iterdir())
    if len(runs) != 1:
        raise SystemExit(f"linalg.py: expected one run in {d / 'store'}, found {len(runs)}")
    path = runs[0] / matrix / f"{i}_{j}.npy"
    if not path.exists():
        raise SystemExit(f"linalg.py: no tile {path.relative_to(d)}")
    return np.load(path)


def lu_ratios(d, a, tile):
    n = a.shape[0]
    nt = -(-n // tile)
    u, piv = np.load(d / "U.npy"), np.load(d / "P.npy")
    count("u_below_diagonal", np.count_nonzero(np.tril(u, -1)), "nonzero entries of U below its diagonal")
    # det A = det U times the sign of the row interchanges: P[k] holds
    # GETRF's pivots of diagonal tile k (p[i] != i swaps row i), the
    # diagonal of LX[i, k, k] TSTRF's pivots for rows k and i (p[c] != c
    # swaps row c with a row of tile i). The unit lower factors have
    # determinant 1.
    swaps = 0
    for k in range(nt):
        rows = min(tile, n - k * tile)
        swaps += np.count_nonzero(piv[k * tile : k * tile + rows, 0] != np.arange(rows))
        for i in range(k + 1, nt):
            p = np.diag(load_tile(d, f"LX.{i}", k, k))
            swaps += np.count_nonzero(p != np.arange(len(p)))
    diag = np.diag(u)
    sign_u = np.prod(np.sign(diag)) * (-1) ** swaps
    logdet_u = np.sum(np.log(np.abs(diag)))
    sign, logdet = np.linalg.slogdet(a)
    count("det_sign", sign_u != sign, "sign of det(U) times (-1)^swaps differs from numpy's slogdet")
    # A backward stable factorization is exact for A + E, ‖E‖₂ ≲ c n ε ‖A‖₂,
    # and log|det(A + E)| − log|det A| = log|det(I + A⁻¹E)|, which is
    # tr(A⁻¹E) to first order, at most ‖E‖₂ ‖A⁻¹‖_* (‖·‖_* the nuclear
    # norm, the sum of A⁻¹'s singular values). numpy's slogdet has an
    # error of the same kind, so the difference over ‖A‖₂ ‖A⁻¹‖_* n ε is a
    # backward error ratio. (The nuclear norm, not n ‖A⁻¹‖₂: for the
    # log-spaced singular values of an ill-conditioned case it is about
    # three times 1/σ_min, not n times, so the bound keeps its teeth.)
    sv = np.linalg.svd(a, compute_uv=False)
    ratio(
        "logdet",
        abs(logdet_u - logdet) / (sv[0] * np.sum(1 / sv) * n * EPS),
        "|log|det U| − numpy's log|det A|| / (‖A‖₂ ‖A⁻¹‖_* n ε)",
    )


def apply_right(q, rows, y, t):
    """Q (I − Y T Yᵀ), the reflector block Y acting on `rows` of Q's columns."""
    qy = q[:, rows] @ y
    q[:, rows] -= (qy @ t) @ y.T


def q_ratios(a, r, q):
    m, n = a.shape
    ratio(
        "factorization",
        n1(a - q[:, :n] @ r) / (n1(a) * m * EPS),
        "‖A − Q R‖ / (‖A‖ m ε), Q rebuilt from V and T",
    )
    ratio("orthogonality", n1(np.eye(m) - q.T @ q) / (m * EPS), "‖I − QᵀQ‖ / (m ε)")


def r_ratios(a, r):
    m, n = a.shape
    count("r_below_diagonal", np.count_nonzero(np.tril(r, -1)), "nonzero entries of R below its diagonal")
    ratio("gram", n1(a.T @ a - r.T @ r) / (n1(a) ** 2 * m * EPS), "‖AᵀA − RᵀR‖ / (‖A‖² m ε)")
    # R is unique up to the signs of its rows (full rank A), so |R| must be
    # numpy's |R|; each has a backward error of order m ε ‖A‖, which moves
    # R by up to κ₂(A) times as much (first order).
    rn = np.linalg.qr(a, mode="r")
    ratio(
        "r_vs_numpy",
        n1(np.abs(r) - np.abs(rn)) / (np.linalg.cond(a) * n1(a) * m * EPS),
        "‖|R| − |numpy.linalg.qr(A, mode='r')|‖ / (κ₂(A) ‖A‖ m ε)",
    )


def qr_q(d, m, n, tile):
    """Q of lib/qr.lp: for each step k, the GEQRT of diagonal tile k (V[k, k],
    T[k, k, k]), then the TSQRT with each tile i below (reflectors
    [e_j; v_j]: the identity on the first n_k rows of tile row k, V[i, k]
    on tile row i; T[i, k, k]), multiplied in that order."""
    v = np.load(d / "V.npy")
    mt, nt = -(-m // tile), -(-n // tile)
    q = np.eye(m)
    for k in range(nt):
        cols = slice(k * tile, min(n, (k + 1) * tile))
        nk = cols.stop - cols.start
        rows_k = slice(k * tile, min(m, (k + 1) * tile))
        apply_right(q, rows_k, v[rows_k, cols], load_tile(d, f"T.{k}", k, k))
        for i in range(k + 1, mt):
            rows_i = slice(i * tile, min(m, (i + 1) * tile))
            rows = np.r_[k * tile : k * tile + nk, rows_i]
            y = np.vstack([np.eye(nk), v[rows_i, cols]])
            apply_right(q, rows, y, load_tile(d, f"T.{i}", k, k))
    return q


def tsqr_q(d, m, n, tile):
    """Q of lib/tsqr.lp: each tile's GEQRT (V[i, 0], TL[i, 0]), then the
    tree: at level l, node i paired with i + 2^l by a TTQRT (VT[l, i, 0],
    TT[l, i, 0]) whose reflectors [e_j; v_j] act on the n rows holding
    each node's R (the first n rows of its tile). Blocks of one level act
    on disjoint rows, so only the order of the levels matters."""
    v = np.load(d / "V.npy")
    mt = -(-m // tile)
    levels = int(np.ceil(np.log2(mt))) if mt > 1 else 0
    q = np.eye(m)
    for i in range(mt):
        rows = slice(i * tile, min(m, (i + 1) * tile))
        apply_right(q, rows, v[rows], load_tile(d, "TL", i, 0))
    for l in range(levels):
        for i in range(0, mt - 2**l, 2 ** (l + 1)):
            j = i + 2**l
            rows = np.r_[i * tile : i * tile + n, j * tile : j * tile + n]
            y = np.vstack([np.eye(n), load_tile(d, f"VT.{l}", i, 0)])
            apply_right(q, rows, y, load_tile(d, f"TT.{l}", i, 0))
    return q


def lstsq_ratios(a, b, x):
    m, n = a.shape
    ratio(
        "normal_equations",
        n1(a.T @ (a @ x - b)) / (n1(a) * (n1(a) * n1(x) + n1(b)) * m * EPS),
        "‖Aᵀ(A X − B)‖ / (‖A‖ (‖A‖ ‖X‖ + ‖B‖) m ε)",
    )
    # The forward error against numpy's answer, over the least squares
    # condition number κ (1 + κ ‖R‖ / (‖A‖ ‖X‖)), R the residual (Golub
    # and Van Loan 5.3.8; 2-norm κ): vacuous for an ill-conditioned A,
    # sharp for a well-conditioned one.
    xr = np.linalg.lstsq(a, b, rcond=None)[0]
    kappa = np.linalg.cond(a)
    res = n1(a @ xr - b)
    ratio(
        "vs_numpy",
        n1(x - xr) / (n1(xr) * kappa * (1 + kappa * res / (n1(a) * n1(xr))) * m * EPS),
        "‖X − numpy.linalg.lstsq(A, B)‖ / (‖X‖ κ(A) (1 + κ(A) ‖A X − B‖ / (‖A‖ ‖X‖)) m ε)",
    )


def check(alg, m, n, nrhs, tile, d):
    a = np.load(d / "A.npy")
    assert a.shape == (m, n), a.shape
    ld = lambda name: np.load(d / f"{name}.npy")
    if alg in ("posv", "gesv"):
        solve_ratios(a, ld("B"), ld("X"))
    elif alg == "lu":
        lu_ratios(d, a, tile)
        solve_ratios(a, ld("B"), ld("X"))
    elif alg == "lstsq":
        lstsq_ratios(a, ld("B"), ld("X"))
    elif alg in ("qr", "tsqr"):
        r = ld("R")
        r_ratios(a, r)
        q = (qr_q if alg == "qr" else tsqr_q)(d, m, n, tile)
        q_ratios(a, r, q)
    else:
        raise SystemExit(f"linalg.py: unknown algorithm {alg!r}")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "make":
        kind, m, n, nrhs, seed, d = args
        make(kind, int(m), int(n), int(nrhs), int(seed), Path(d))
    elif cmd == "schur":
        k, d = int(args[0]), Path(args[1])
        a = np.load(d / "A.npy")
        print(repr(float(a[k, k] - a[k, :k] @ np.linalg.solve(a[:k, :k], a[:k, k]))))
    elif cmd == "check":
        alg, m, n, nrhs, tile, d = args
        check(alg, int(m), int(n), int(nrhs), int(tile), Path(d))
    else:
        raise SystemExit(f"linalg.py: unknown command {cmd!r}")
