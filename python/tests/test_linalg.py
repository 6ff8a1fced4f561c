"""The numpy-like functions against numpy and scipy, by LAPACK's test
ratios (residual / (n ||A|| eps) below THRESH)."""

import numpy as np
import pytest
import scipy.linalg

import lambdapack as lp
from conftest import EPS, THRESH, norm1, ratio, spd

# Sizes that divide the tile and sizes that leave ragged last tiles.
SIZES = [(128, 32), (150, 32), (97, 40)]


@pytest.mark.parametrize("n,tile", SIZES)
def test_cholesky_factors_spd_matrix(rng, n, tile):
    a = spd(rng, n)
    L = lp.cholesky(a, tile=tile)
    assert isinstance(L, np.ndarray) and L.shape == (n, n)
    assert np.array_equal(L, np.tril(L))
    assert ratio(a - L @ L.T, norm1(a), n) < THRESH
    expected = np.linalg.cholesky(a)
    assert np.linalg.norm(L - expected) / np.linalg.norm(expected) < n * EPS * 100


def test_cholesky_upper_is_scipy_default(rng):
    a = spd(rng, 90)
    U = lp.cholesky(a, lower=False, tile=32)
    np.testing.assert_allclose(U, scipy.linalg.cholesky(a), rtol=0, atol=1e-10 * np.abs(U).max())


def test_cholesky_chooses_a_tile_and_takes_other_dtypes(rng):
    a = (spd(rng, 64) * 100).astype(np.int64)
    L = lp.cholesky(a)
    assert ratio(a - L @ L.T, norm1(a), 64) < THRESH


def test_cholesky_reads_only_the_lower_triangle(rng):
    a = spd(rng, 96)
    garbage = a.copy()
    garbage[np.triu_indices(96, 32)] = 1e6  # above the diagonal tiles only
    np.testing.assert_array_equal(lp.cholesky(garbage, tile=32), lp.cholesky(a, tile=32))


def test_cholesky_of_bigmatrix_returns_bigmatrix_in_its_store(rng, tiles):
    a = spd(rng, 100)
    A = lp.BigMatrix.from_numpy(a, 25, store=tiles, symmetric=True, name="A")
    L = lp.cholesky(A)
    assert isinstance(L, lp.BigMatrix)
    assert L.store == A.store and L.tile == (25, 25) and L.triangle == "lower"
    l = L.numpy()
    assert ratio(a - l @ l.T, norm1(a), 100) < THRESH
    np.testing.assert_array_equal(L.get_block(2, 1), l[50:75, 25:50])


def test_not_positive_definite_raises_linalgerror_with_where(rng):
    a = spd(rng, 64)
    a[40, 40] = -1e4
    with pytest.raises(np.linalg.LinAlgError) as info:
        lp.cholesky(a, tile=16)
    e = info.value
    assert isinstance(e, lp.NotPositiveDefiniteError)
    assert (e.job, e.kernel, e.tile) == ("chol[2]", "CHOL", "S[2, 2, 2]")
    assert e.source == "cholesky.lp:21"
    assert e.output == "L[2, 2]"
    assert str(e).startswith(
        'job "chol[2]" (cholesky.lp:21): CHOL on S[2, 2, 2] (result for L[2, 2]): '
        "matrix is not positive definite (pivot "
    )


def _asymmetric():
    """The audit's example: only the upper triangle makes it asymmetric."""
    a = 4 * np.eye(8)
    a[0, 7] = 1.0
    return a


def _lower_mirrored(a):
    """The symmetric matrix of ``a``'s lower triangle: what numpy reads."""
    return np.tril(a) + np.tril(a, -1).T


@pytest.mark.parametrize("tile", [2, 4, 8, None])
def test_cholesky_reads_only_the_lower_triangle_whatever_the_tile(tile):
    a = _asymmetric()
    sym = _lower_mirrored(a)
    L = lp.cholesky(a, tile=tile, verify=True)
    np.testing.assert_array_equal(L, lp.cholesky(sym, tile=tile))  # bitwise
    expected = np.linalg.cholesky(sym)
    assert np.linalg.norm(L - expected) / np.linalg.norm(expected) < 1e-14
    # The upper triangle is never read: NaNs there change nothing.
    garbage = a.copy()
    garbage[np.triu_indices(8, 1)] = np.nan
    np.testing.assert_array_equal(lp.cholesky(garbage, tile=tile), L)


@pytest.mark.parametrize("tile", [4, 2])  # BigMatrix read in place, copied
def test_cholesky_of_unsymmetric_bigmatrix_reads_its_lower_triangle(tiles, tile):
    a = _asymmetric()
    A = lp.BigMatrix.from_numpy(a, 4, store=tiles, name="A")
    L = lp.cholesky(A, tile=tile, bigmatrix=False)
    np.testing.assert_array_equal(L, lp.cholesky(_lower_mirrored(a), tile=tile))


def _gram(rng):
    """A float32 Gram matrix not quite symmetric (beyond 1e-10 relative),
    as float32 rounding may leave one, which numpy does not mind. Whether a
    product rounds it so depends on the BLAS kernel (OpenBLAS's SkylakeX
    sgemm gives an exactly symmetric one), so one element of the upper
    triangle is set one ulp off its mirror."""
    x = rng.standard_normal((500, 200)).astype(np.float32)
    g = x.T.copy() @ x
    g[3, 7] = np.nextafter(g[7, 3], np.float32(np.inf))
    assert g.dtype == np.float32 and not np.array_equal(g, g.T)
    return g


def test_cholesky_accepts_float32_gram_matrix_as_numpy(rng):
    g = _gram(rng)
    L = lp.cholesky(g)
    sym = _lower_mirrored(g.astype(np.float64))
    # Computed in float64, returned in numpy's float32, rounded once.
    assert L.dtype == np.float32
    np.testing.assert_array_equal(L, lp.cholesky(sym).astype(np.float32))
    expected = np.linalg.cholesky(sym)
    assert np.linalg.norm(L - expected) / np.linalg.norm(expected) < 2.0**-24 + 1e-14
    single = np.linalg.cholesky(g)  # numpy's own, in float32
    assert np.linalg.norm(L - single) / np.linalg.norm(single) < 1e-5
    # lpc run's import check (kept by lp.run) refuses it.
    with pytest.raises(ValueError, match="is not symmetric but matrix A is declared sym"):
        lp.run("cholesky", inputs={"A": g}, params={"n": 200, "b": 200})


@pytest.mark.parametrize("tile", [2, 4, 8, None])
def test_solve_pos_reads_only_the_lower_triangle_whatever_the_tile(rng, tile):
    a = _asymmetric()
    sym = _lower_mirrored(a)
    b = rng.standard_normal((8, 3))
    x = lp.solve(a, b, assume_a="pos", tile=tile, verify=True)
    np.testing.assert_array_equal(x, lp.solve(sym, b, assume_a="pos", tile=tile))  # bitwise
    expected = scipy.linalg.solve(sym, b, assume_a="pos")
    assert np.linalg.norm(x - expected) / np.linalg.norm(expected) < 1e-14


def test_solve_pos_accepts_float32_gram_matrix_as_numpy(rng):
    g = _gram(rng)
    b = rng.standard_normal(200)
    x = lp.solve(g, b, assume_a="pos")
    sym = _lower_mirrored(g.astype(np.float64))
    np.testing.assert_array_equal(x, lp.solve(sym, b, assume_a="pos"))
    expected = np.linalg.solve(sym, b)
    assert np.linalg.norm(x - expected) / np.linalg.norm(expected) < 1e-13
    single = np.linalg.solve(g, b.astype(np.float32))
    assert np.linalg.norm(x - single) / np.linalg.norm(single) < 1e-4


def test_float32_operands_give_float32_results_as_numpy(rng):
    """numpy keeps float32 (its dtype decides the result's); lambdapack
    computes in float64 and rounds the result once. Mixed or integer
    operands give float64, as numpy.linalg's do."""
    f32 = np.float32
    a = spd(rng, 70).astype(f32)
    b = rng.standard_normal((70, 3)).astype(f32)
    tall = rng.standard_normal((90, 40)).astype(f32)
    wide = rng.standard_normal((90, 5)).astype(f32)
    up = lambda x: x.astype(np.float64)  # noqa: E731
    results = {
        "cholesky": (lp.cholesky(a, tile=32), lp.cholesky(up(a), tile=32), np.linalg.cholesky(a)),
        "solve gen": (lp.solve(a, b, tile=32), lp.solve(up(a), up(b), tile=32), np.linalg.solve(a, b)),
        "solve pos": (lp.solve(a, b[:, 0], assume_a="pos", tile=32),
                      lp.solve(up(a), up(b[:, 0]), assume_a="pos", tile=32),
                      scipy.linalg.solve(a, b[:, 0], assume_a="pos")),
        "matmul": (lp.matmul(tall.T, wide, tile=32), lp.matmul(up(tall.T), up(wide), tile=32), tall.T @ wide),
        "lstsq": (lp.lstsq(tall, wide, tile=32), lp.lstsq(up(tall), up(wide), tile=32),
                  np.linalg.lstsq(tall, wide, rcond=None)[0]),
        "qr r": (lp.qr(tall, mode="r", tile=32), lp.qr(up(tall), mode="r", tile=32), np.linalg.qr(tall, mode="r")),
        "lu u": (lp.lu(a, tile=32).u, lp.lu(up(a), tile=32).u, scipy.linalg.lu(a)[2]),
    }
    for name, (single, double, numpys) in results.items():
        assert single.dtype == numpys.dtype == f32, name
        np.testing.assert_array_equal(single, double.astype(f32), err_msg=name)
    assert lp.matmul(tall[:, 0], wide[:, 0]).dtype == np.dot(tall[:, 0], wide[:, 0]).dtype == f32
    assert lp.solve(a, up(b), tile=32).dtype == np.linalg.solve(a, up(b)).dtype == np.float64
    ints = (spd(rng, 8) * 100).astype(np.int64)
    assert lp.cholesky(ints).dtype == np.linalg.cholesky(ints).dtype == np.float64


def _below():
    """Asymmetric below the diagonal (the test of the former check)."""
    a = np.eye(8)
    a[3, 1] = 0.5
    return a


@pytest.mark.parametrize(
    "a,b,element",
    [
        (_asymmetric(), 8, "element (7, 0) is 0e0, element (0, 7) is 1e0"),
        (_asymmetric(), 4, None),  # tile (0, 0) is symmetric: the run goes on
        (_below(), 4, "element (3, 1) is 5e-1, element (1, 3) is 0e0"),
    ],
)
def test_run_still_checks_sym_input_as_lpc_run(a, b, element):
    """``lp.run`` keeps ``lpc run``'s import check: the diagonal tiles of an
    array for a ``sym`` matrix must be symmetric (1e-10 relative)."""
    if element is None:
        L = lp.run("cholesky", inputs={"A": a}, params={"n": 8, "b": b})["L"]
        np.testing.assert_array_equal(L, lp.cholesky(a, tile=b))
        return
    with pytest.raises(ValueError) as info:
        lp.run("cholesky", inputs={"A": a}, params={"n": 8, "b": b})
    assert str(info.value) == 'inputs["A"] is not symmetric but matrix A is declared sym: ' + element


def test_run_of_library_program_without_params_refuses_the_shape():
    """The audit's call, as it is: the program's default n is 4096."""
    with pytest.raises(ValueError) as info:
        lp.run("cholesky", inputs={"A": _asymmetric()})
    assert str(info.value) == 'inputs["A"] is 8 x 8 but the program\'s A is 4096 x 4096'


@pytest.mark.parametrize("n,tile", SIZES)
@pytest.mark.parametrize("assume_a", ["pos", "gen"])
def test_solve_matches_lapack_ratio(rng, n, tile, assume_a):
    a = spd(rng, n) if assume_a == "pos" else rng.standard_normal((n, n))
    b = rng.standard_normal((n, 5))
    x = lp.solve(a, b, assume_a=assume_a, tile=tile)
    assert x.shape == (n, 5)
    # LAPACK's dget04-style ratio: ||b - a x|| / (n ||a|| ||x|| eps).
    assert ratio(b - a @ x, norm1(a) * norm1(x), n) < THRESH
    expected = scipy.linalg.solve(a, b, assume_a=assume_a)
    cond = np.linalg.cond(a, 1)
    assert norm1(x - expected) / norm1(expected) < THRESH * n * cond * EPS


def test_solve_vector_right_hand_side_gives_vector(rng):
    a = rng.standard_normal((70, 70))
    b = rng.standard_normal(70)
    x = lp.solve(a, b, tile=32)
    assert x.shape == (70,)
    np.testing.assert_allclose(x, np.linalg.solve(a, b), rtol=1e-8, atol=1e-10)


def test_solve_singular_raises_linalgerror():
    a = np.ones((40, 40))
    with pytest.raises(np.linalg.LinAlgError) as info:
        lp.solve(a, np.ones(40), tile=20)
    e = info.value
    assert isinstance(e, lp.SingularMatrixError)
    assert e.kernel.startswith("TRSM") and e.job and e.tile
    assert "triangular factor is singular" in str(e)
    assert str(e).startswith(f'job "{e.job}" ({e.source}): {e.kernel} on {e.tile}')


def test_nan_input_raises_linalgerror_saying_so(rng):
    """numpy's cholesky raises LinAlgError on a NaN (LAPACK's dpotrf stops
    at a NaN pivot); lambdapack's factorizations do too, and say why."""
    a = spd(rng, 40)
    a[25, 3] = a[3, 25] = np.nan
    with pytest.raises(lp.NotPositiveDefiniteError) as info:
        lp.cholesky(a, tile=8)
    assert str(info.value).endswith(
        ": the matrix holds a NaN or an infinity, or its factorization overflowed, entry (25, 25) of S, "
        "whose version 0 is A"
    ), str(info.value)
    with pytest.raises(lp.SingularMatrixError) as info:
        lp.solve(a, np.ones(40), tile=8)
    assert "of the triangular factor is NaN: it holds a NaN or an infinity" in str(info.value)


def test_solve_argument_errors(rng):
    a = rng.standard_normal((10, 10))
    with pytest.raises(ValueError, match=r"^assume_a must be 'gen' or 'pos', found 'sym'$"):
        lp.solve(a, np.ones(10), assume_a="sym")
    with pytest.raises(ValueError, match=r"^solve: a is 10 x 10 but b has 9 rows$"):
        lp.solve(a, np.ones(9))
    with pytest.raises(ValueError, match=r"^a must be square, found shape \(10, 9\)$"):
        lp.solve(a[:, :9], np.ones(10))


@pytest.mark.parametrize("m,k,n,tile", [(64, 64, 64, 32), (70, 45, 33, 16)])
def test_matmul(rng, m, k, n, tile):
    a, b = rng.standard_normal((m, k)), rng.standard_normal((k, n))
    c = lp.matmul(a, b, tile=tile)
    # ||c - ab|| / (k ||a|| ||b|| eps), as LAPACK's dgemm tests.
    assert ratio(c - a @ b, norm1(a) * norm1(b), k) < THRESH


def test_matmul_vectors_follow_numpy(rng):
    a, v = rng.standard_normal((20, 30)), rng.standard_normal(30)
    w = rng.standard_normal(20)
    np.testing.assert_allclose(lp.matmul(a, v), a @ v, rtol=1e-12)
    np.testing.assert_allclose(lp.matmul(w, a), w @ a, rtol=1e-12)
    assert lp.matmul(a, v).shape == (20,)
    dot = lp.matmul(w, w)
    assert type(dot) is np.float64 and type(w @ w) is np.float64
    np.testing.assert_allclose(dot, w @ w, rtol=1e-12)
    with pytest.raises(ValueError, match=r"^matmul: a is 20 x 30 but b is 20 x 30 \(inner dimensions differ\)$"):
        lp.matmul(a, a)


def test_matmul_of_strided_views(rng):
    a = rng.standard_normal((60, 80))
    view = a[::2, 1::2]  # 30 x 40, non-contiguous: read in place
    b = np.asfortranarray(rng.standard_normal((40, 10)))
    np.testing.assert_allclose(lp.matmul(view, b, tile=16), view @ b, rtol=1e-12, atol=1e-12)


def test_lu_one_tile_is_lapack_getrf(rng):
    a = rng.standard_normal((48, 48))
    f = lp.lu(a, tile=48)
    packed, piv = scipy.linalg.lu_factor(a)
    np.testing.assert_allclose(f.u, np.triu(packed), rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.tril(f.l, -1), np.tril(packed, -1), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(f.piv, piv)


@pytest.mark.parametrize("n,tile", SIZES)
def test_lu_tiled_factor_determinant_and_growth(rng, n, tile):
    a = rng.standard_normal((n, n))
    f = lp.lu(a, tile=tile)
    assert np.array_equal(f.u, np.triu(f.u))
    sign, logdet = np.linalg.slogdet(a)
    # |det(a)| = prod |u_ii|: pairwise pivoting only permutes rows.
    assert abs(np.sum(np.log(np.abs(np.diag(f.u)))) - logdet) < 1e-8 * n
    assert np.abs(f.u).max() < 10 * n * np.abs(a).max()
    assert f.piv.shape == (n,) and f.piv.min() >= 0 and f.piv.max() < tile
    nt = -(-n // tile)
    assert sorted(f.lx) == [(i, k) for i in range(nt) for k in range(i)]


@pytest.mark.parametrize("m,n,tile", [(128, 128, 32), (150, 70, 32), (97, 40, 40)])
def test_qr(rng, m, n, tile):
    a = rng.standard_normal((m, n))
    q, r = lp.qr(a, tile=tile)
    Q = np.asarray(q)
    assert Q.shape == (m, n) and r.shape == (n, n)
    assert np.array_equal(r, np.triu(r))
    # LAPACK's dqrt01 ratios: ||a - QR|| / (m ||a|| eps), ||I - QᵀQ|| / (m eps).
    assert ratio(a - Q @ r, norm1(a), m) < THRESH
    assert ratio(np.eye(n) - Q.T @ Q, 1.0, m) < THRESH
    # R is unique up to the sign of each row.
    r_np = np.linalg.qr(a, mode="r")
    np.testing.assert_allclose(np.abs(r), np.abs(r_np), rtol=0, atol=1e-10 * np.abs(r_np).max())
    y = rng.standard_normal(m)
    np.testing.assert_allclose(q.T @ y, Q.T @ y, rtol=0, atol=1e-10 * np.abs(y).max())
    np.testing.assert_allclose(lp.qr(a, mode="r", tile=tile), r, rtol=0, atol=1e-12 * np.abs(r).max())


def test_qr_rejects_wide_and_unknown_modes(rng):
    with pytest.raises(ValueError, match=r"^qr needs m >= n \(a tall or square matrix\), found 3 x 5$"):
        lp.qr(np.ones((3, 5)))
    with pytest.raises(ValueError, match=r"^mode must be 'reduced' or 'r', found 'complete'$"):
        lp.qr(np.ones((5, 3)), mode="complete")


@pytest.mark.parametrize("m,n,tile", [(128, 64, 32), (150, 70, 32)])
def test_lstsq(rng, m, n, tile):
    a = rng.standard_normal((m, n))
    b = rng.standard_normal((m, 3))
    x = lp.lstsq(a, b, tile=tile)
    expected = np.linalg.lstsq(a, b, rcond=None)[0]
    cond = np.linalg.cond(a)
    assert norm1(x - expected) / norm1(expected) < THRESH * m * cond * EPS
    # The residual is orthogonal to a's columns (LAPACK's dqrt17 idea).
    assert ratio(a.T @ (b - a @ x), norm1(a) * norm1(b), m) < THRESH
    xv = lp.lstsq(a, b[:, 0], tile=tile)
    assert xv.shape == (n,)
    np.testing.assert_allclose(xv, x[:, 0], rtol=1e-10, atol=1e-12)


def test_complex_input_is_refused():
    with pytest.raises(TypeError, match=r"^a: lambdapack computes in float64; complex values are not supported$"):
        lp.cholesky(np.eye(4, dtype=complex))


def test_help_explains_every_function():
    for f in (lp.cholesky, lp.matmul, lp.solve, lp.lu, lp.qr, lp.lstsq, lp.run, lp.check):
        assert f.__doc__ and "{options}" not in f.__doc__
    assert "assume_a" in lp.solve.__doc__ and "tile : int" in lp.solve.__doc__


def test_lu_one_tile_solves_with_scipy_lu_solve(rng):
    a = rng.standard_normal((40, 40))
    b = rng.standard_normal((40, 3))
    f = lp.lu(a, tile=40)
    packed, piv = scipy.linalg.lu_factor(a)
    np.testing.assert_allclose(np.tril(f.l, -1) + f.u, packed, rtol=0, atol=1e-12)
    x = scipy.linalg.lu_solve((np.tril(f.l, -1) + f.u, f.piv), b)
    np.testing.assert_allclose(x, np.linalg.solve(a, b), rtol=1e-9, atol=1e-12)


def test_empty_operands_give_numpy_results_without_running():
    z = np.zeros
    cases = [
        (lp.cholesky(z((0, 0))), np.linalg.cholesky(z((0, 0)))),
        (lp.cholesky(z((0, 0)), lower=False), scipy.linalg.cholesky(z((0, 0)))),
        (lp.solve(z((0, 0)), z(0)), scipy.linalg.solve(z((0, 0)), z(0))),
        (lp.solve(z((0, 0)), z((0, 3)), assume_a="pos"), scipy.linalg.solve(z((0, 0)), z((0, 3)), assume_a="pos")),
        (lp.solve(np.eye(6), z((6, 0))), scipy.linalg.solve(np.eye(6), z((6, 0)))),
        (lp.matmul(z((3, 0)), z((0, 4))), np.matmul(z((3, 0)), z((0, 4)))),
        (lp.matmul(z((0, 3)), np.ones(3)), np.matmul(z((0, 3)), np.ones(3))),
        (lp.lstsq(z((5, 0)), np.ones(5)), np.linalg.lstsq(z((5, 0)), np.ones(5), rcond=None)[0]),
        (lp.lstsq(np.ones((5, 3)), z((5, 0))), np.linalg.lstsq(np.ones((5, 3)), z((5, 0)), rcond=None)[0]),
        (lp.qr(z((5, 0)), mode="r"), np.linalg.qr(z((5, 0)), mode="r")),
        (np.asarray(lp.qr(z((5, 0)))[0]), np.linalg.qr(z((5, 0)))[0]),
        (lp.lu(z((0, 0))).u, scipy.linalg.lu_factor(z((0, 0)))[0]),
        (lp.lu(z((0, 0))).piv, scipy.linalg.lu_factor(z((0, 0)))[1]),
    ]
    for ours, theirs in cases:
        assert (ours.shape, ours.dtype.kind) == (theirs.shape, theirs.dtype.kind)
        np.testing.assert_array_equal(ours, theirs)
    with pytest.raises(ValueError) as info:
        lp.matmul(z((3, 0)), z((0, 4)), bigmatrix=True)
    assert str(info.value) == (
        "matmul: an operand has no elements, so the result is the 3 x 4 numpy array of zeros "
        "numpy gives; a BigMatrix cannot hold it (pass bigmatrix=False)"
    )


def test_implicit_q_shapes_transpose_and_errors(rng):
    h = rng.standard_normal((9, 4))
    q, r = lp.qr(h, tile=3)
    Q = np.linalg.qr(h)[0]
    assert q.shape == (9, 4) and q.T.shape == (4, 9) and q.T.T is q
    np.testing.assert_allclose(np.abs(np.asarray(q.T)), np.abs(Q.T), rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.asarray(q.T), np.asarray(q).T, rtol=0, atol=0)
    y = rng.standard_normal(9)
    np.testing.assert_allclose(q.T @ y, np.asarray(q).T @ y, rtol=0, atol=1e-12)
    cases = [
        (lambda: q @ (np.ones(4) * 1j), TypeError, "x: lambdapack computes in float64; complex values are not supported"),
        (lambda: q.T @ (np.ones(9) * 1j), TypeError, "y: lambdapack computes in float64; complex values are not supported"),
        (lambda: q @ np.ones(5), ValueError, "Q is 9 x 4 (the full Q 9 x 9): x must have 4 or 9 rows, found 5"),
        (lambda: q.T @ np.ones(4), ValueError, "Q.T is 4 x 9: y must have 9 rows, found 4"),
        (lambda: q.apply(np.ones(4)), ValueError, "the full Q is 9 x 9: x must have 9 rows, found 4"),
        (lambda: q @ np.ones((9, 2, 2)), ValueError, "x must be 1-D or 2-D, found 3-D with shape (9, 2, 2)"),
    ]
    for action, cls, message in cases:
        with pytest.raises(cls) as info:
            action()
        assert type(info.value) is cls and str(info.value) == message


def test_numpy_integers_are_taken_for_tile_and_workers(rng):
    a = spd(rng, 40)
    L = lp.cholesky(a, tile=np.int64(16), workers=np.int64(2))
    np.testing.assert_array_equal(L, lp.cholesky(a, tile=16, workers=2))
    with pytest.raises(TypeError) as info:
        lp.cholesky(a, workers=2.0)
    assert str(info.value) == "workers must be an int, found 2.0 (float)"
    with pytest.raises(ValueError) as info:
        lp.cholesky(a, tile=np.int32(0))
    assert str(info.value) == "tile must be a positive int, found 0"
