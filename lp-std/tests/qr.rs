//! The QR tile kernels against what a numerical user checks, with LAPACK's
//! test ratios (as in `dqrt04` for `dgeqrt` and `dqrt05` for `dtpqrt`):
//! each ratio is a residual divided by `dimension * norm * eps` and must
//! stay below 30, which a backward-stable factorization meets with a wide
//! margin whatever the conditioning of the input (they stay below about 1.2
//! here), while a wrong factor gives ratios many orders of magnitude
//! larger. Q is always built explicitly by applying the kernels to the
//! identity, and compared with `I - Y T Yᵀ` formed densely from the returned
//! V and T, so the full T (not only the diagonal blocks the applications
//! read) is checked. Norms are 1-norms (largest column sum).

use lp_std::kernel::qr::{
    flops_geqrt, flops_ormqr, flops_tsmqr, flops_tsqrt, flops_ttqrt, geqrt, ormqr, tsmqr, tsqrt,
    ttqrt,
};
use lp_std::{Init, KernelError, MatrixHeader, Tile};

const THRESH: f64 = 30.0;
const EPS: f64 = f64::EPSILON;

/// Ragged and square shapes for `geqrt` and `ormqr`: square, tall, wide, a
/// single entry, single rows and columns, and sizes that straddle the inner
/// block (several blocks, a ragged last one; 1030 columns take blocks of
/// 257, `inner_block`'s wider blocks of large tiles).
const SHAPES: [(usize, usize); 15] = [
    (1, 1),
    (1, 3),
    (3, 1),
    (2, 2),
    (7, 5),
    (5, 7),
    (64, 64),
    (65, 65),
    (100, 100),
    (130, 64),
    (300, 200),
    (200, 300),
    (257, 129),
    (129, 257),
    (1040, 1030),
];

/// `(n, m)`: R `n x n` over A `m x n` for `tsqrt` and `tsmqr`.
const TS_SHAPES: [(usize, usize); 11] = [
    (1, 1),
    (1, 3),
    (3, 1),
    (5, 7),
    (7, 5),
    (64, 64),
    (65, 130),
    (100, 100),
    (129, 257),
    (200, 300),
    (1030, 20),
];

fn random(rows: usize, cols: usize, seed: u64) -> Tile {
    Init::Random { seed }.tile(&MatrixHeader::new([rows, cols], [rows, cols], false), 0, 0)
}

fn eye(n: usize) -> Tile {
    Tile::identity(n, n)
}

/// The 1-norm: the largest column sum of absolute values (NaN-propagating).
fn norm1(a: &Tile) -> f64 {
    (0..a.ncols())
        .map(|j| (0..a.nrows()).map(|i| a[(i, j)].abs()).sum::<f64>())
        .fold(0.0, |acc, s| {
            if s.is_nan() || acc.is_nan() {
                f64::NAN
            } else {
                acc.max(s)
            }
        })
}

fn transpose(a: &Tile) -> Tile {
    a.transpose().to_owned()
}

fn stack(top: &Tile, bottom: &Tile) -> Tile {
    assert_eq!(top.ncols(), bottom.ncols());
    let n = top.nrows();
    Tile::from_fn(n + bottom.nrows(), top.ncols(), |i, j| {
        if i < n {
            top[(i, j)]
        } else {
            bottom[(i - n, j)]
        }
    })
}

fn rows(a: &Tile, start: usize, count: usize) -> Tile {
    a.as_ref().subrows(start, count).to_owned()
}

fn cols(a: &Tile, start: usize, count: usize) -> Tile {
    a.as_ref().subcols(start, count).to_owned()
}

fn triu(a: &Tile) -> Tile {
    Tile::from_fn(
        a.nrows(),
        a.ncols(),
        |i, j| if i <= j { a[(i, j)] } else { 0.0 },
    )
}

/// An upper triangular operand whose strictly lower part is NaN, to prove
/// that the kernels never read it.
fn upper_with_nan_below(n: usize, seed: u64) -> Tile {
    let r = random(n, n, seed);
    Tile::from_fn(n, n, |i, j| if i <= j { r[(i, j)] } else { f64::NAN })
}

/// `||a - b||_1 / (dim * scale * eps)`: LAPACK's test ratio.
fn ratio(a: &Tile, b: &Tile, dim: usize, scale: f64) -> f64 {
    assert_eq!(a.shape(), b.shape());
    let scale = if scale == 0.0 { 1.0 } else { scale };
    norm1(&(a - b)) / (dim.max(1) as f64 * scale * EPS)
}

fn assert_ratio(what: &str, value: f64) {
    eprintln!("RATIO {value:10.3e} {what}");
    assert!(value < THRESH, "{what}: test ratio {value:e} >= {THRESH}");
}

/// The exact structure of `geqrt`'s results for an `m x n` input.
fn assert_geqrt_structure(v: &Tile, t: &Tile, r: &Tile, m: usize, n: usize) {
    let k = m.min(n);
    assert_eq!(v.shape(), (m, k));
    assert_eq!(t.shape(), (k, k));
    assert_eq!(r.shape(), (k, n));
    for j in 0..k {
        assert_eq!(v[(j, j)], 1.0, "V's diagonal at {j}");
        for i in 0..j {
            assert_eq!(v[(i, j)], 0.0, "V above the diagonal at ({i}, {j})");
        }
        for i in j + 1..k {
            assert_eq!(t[(i, j)], 0.0, "T below the diagonal at ({i}, {j})");
        }
    }
    for j in 0..n {
        for i in j + 1..k {
            assert_eq!(r[(i, j)], 0.0, "R below the diagonal at ({i}, {j})");
        }
    }
}

/// `I - Y T Yᵀ`, formed densely.
fn dense_q(y: &Tile, t: &Tile) -> Tile {
    let n = y.nrows();
    eye(n) - y * t * transpose(y)
}

/// `[I; V]` for `tsqrt`'s reflectors.
fn ts_basis(v: &Tile) -> Tile {
    stack(&eye(v.ncols()), v)
}

/// Q of `tsqrt` applied to the identity with `tsmqr`.
fn ts_q(v: &Tile, t: &Tile, transpose: bool) -> Tile {
    let (n, m) = (v.ncols(), v.nrows());
    let id = eye(n + m);
    let (top, bottom) = tsmqr(
        rows(&id, 0, n).as_ref(),
        rows(&id, n, m).as_ref(),
        v.as_ref(),
        t.as_ref(),
        transpose,
    )
    .unwrap();
    stack(&top, &bottom)
}

/// Every check of one `geqrt` + `ormqr` on `a`.
fn check_geqrt(a: &Tile, label: &str) {
    let (m, n) = a.shape();
    let k = m.min(n);
    let (v, t, r) = geqrt(a.as_ref()).unwrap();
    assert_geqrt_structure(&v, &t, &r, m, n);
    for j in 0..k {
        let tau = t[(j, j)];
        assert!((0.0..=2.0).contains(&tau), "{label}: tau_{j} = {tau}");
    }
    let anorm = norm1(a);
    let q = ormqr(v.as_ref(), t.as_ref(), eye(m).as_ref(), false).unwrap();
    let qt = ormqr(v.as_ref(), t.as_ref(), eye(m).as_ref(), true).unwrap();
    assert_ratio(
        &format!("{label}: ||A - Q R|| / (max(m,n) ||A|| eps)"),
        ratio(a, &(cols(&q, 0, k) * &r), m.max(n), anorm),
    );
    assert_ratio(
        &format!("{label}: ||I - Qᵀ Q|| / (m eps)"),
        ratio(&eye(m), &(transpose(&q) * &q), m, 1.0),
    );
    assert_ratio(
        &format!("{label}: ||Q - (I - V T Vᵀ)|| / (m eps)"),
        ratio(&q, &dense_q(&v, &t), m, 1.0),
    );
    assert_ratio(
        &format!("{label}: ||ormqr(Qᵀ) - Qᵀ|| / (m eps)"),
        ratio(&qt, &transpose(&q), m, 1.0),
    );
    // Qᵀ A = [R; 0], straight from the application kernel.
    let qta = ormqr(v.as_ref(), t.as_ref(), a.as_ref(), true).unwrap();
    let r0 = stack(&r, &Tile::zeros(m - k, n));
    assert_ratio(
        &format!("{label}: ||Qᵀ A - [R; 0]|| / (max(m,n) ||A|| eps)"),
        ratio(&qta, &r0, m.max(n), anorm),
    );
    // A general right-hand side, both ways.
    let c = random(m, 3, 99);
    let cnorm = norm1(&c);
    let qtc = ormqr(v.as_ref(), t.as_ref(), c.as_ref(), true).unwrap();
    assert_ratio(
        &format!("{label}: ||ormqr(C, T) - Qᵀ C|| / (m ||C|| eps)"),
        ratio(&qtc, &(&qt * &c), m, cnorm),
    );
    let qc = ormqr(v.as_ref(), t.as_ref(), c.as_ref(), false).unwrap();
    assert_ratio(
        &format!("{label}: ||ormqr(C) - Q C|| / (m ||C|| eps)"),
        ratio(&qc, &(&q * &c), m, cnorm),
    );
}

/// Every check of one `tsqrt` + `tsmqr` on `[triu(r); a]`.
fn check_tsqrt(r: &Tile, a: &Tile, label: &str) {
    let (r2, v, t) = tsqrt(r.as_ref(), a.as_ref()).unwrap();
    check_stacked(r, a, (r2, v, t), label);
}

/// Every check of one `ttqrt` + `tsmqr` on `[triu(r); triu(a)]`, given A
/// with NaN below its diagonal (never read); V must come back upper
/// triangular.
fn check_ttqrt(r: &Tile, a: &Tile, label: &str) {
    let (m, n) = a.shape();
    let nan_below = Tile::from_fn(m, n, |i, j| if i <= j { a[(i, j)] } else { f64::NAN });
    let (r2, v, t) = ttqrt(r.as_ref(), nan_below.as_ref()).unwrap();
    for j in 0..n {
        for i in j + 1..m {
            assert_eq!(
                v[(i, j)],
                0.0,
                "{label}: V below the diagonal at ({i}, {j})"
            );
        }
    }
    check_stacked(r, &triu(a), (r2, v, t), label);
}

/// The checks of a stacked factorization `(r2, v, t)` of `[triu(r); a]`.
fn check_stacked(r: &Tile, a: &Tile, (r2, v, t): (Tile, Tile, Tile), label: &str) {
    let (n, m) = (r.nrows(), a.nrows());
    assert_eq!((r2.shape(), v.shape(), t.shape()), ((n, n), (m, n), (n, n)));
    for j in 0..n {
        assert!(
            (0.0..=2.0).contains(&t[(j, j)]),
            "{label}: tau_{j} = {}",
            t[(j, j)]
        );
        for i in j + 1..n {
            assert_eq!(
                r2[(i, j)],
                0.0,
                "{label}: R2 below the diagonal at ({i}, {j})"
            );
            assert_eq!(
                t[(i, j)],
                0.0,
                "{label}: T below the diagonal at ({i}, {j})"
            );
        }
    }
    let full = stack(&triu(r), a);
    let fnorm = norm1(&full);
    let q = ts_q(&v, &t, false);
    let qt = ts_q(&v, &t, true);
    let dim = n + m;
    let r2_0 = stack(&r2, &Tile::zeros(m, n));
    assert_ratio(
        &format!("{label}: ||[R; A] - Q [R2; 0]|| / ((n+m) ||[R; A]|| eps)"),
        ratio(&full, &(&q * &r2_0), dim, fnorm),
    );
    assert_ratio(
        &format!("{label}: ||I - Qᵀ Q|| / ((n+m) eps)"),
        ratio(&eye(dim), &(transpose(&q) * &q), dim, 1.0),
    );
    assert_ratio(
        &format!("{label}: ||Q - (I - [I;V] T [I;V]ᵀ)|| / ((n+m) eps)"),
        ratio(&q, &dense_q(&ts_basis(&v), &t), dim, 1.0),
    );
    assert_ratio(
        &format!("{label}: ||tsmqr(Qᵀ) - Qᵀ|| / ((n+m) eps)"),
        ratio(&qt, &transpose(&q), dim, 1.0),
    );
    // tsmqr(Qᵀ) on [R; A] itself must give [R2; 0].
    let (top, bottom) = tsmqr(triu(r).as_ref(), a.as_ref(), v.as_ref(), t.as_ref(), true).unwrap();
    assert_ratio(
        &format!("{label}: ||Qᵀ [R; A] - [R2; 0]|| / ((n+m) ||[R; A]|| eps)"),
        ratio(&stack(&top, &bottom), &r2_0, dim, fnorm),
    );
}

#[test]
fn geqrt_factors_random_tiles_of_every_shape() {
    for (seed, &(m, n)) in SHAPES.iter().enumerate() {
        check_geqrt(&random(m, n, seed as u64 + 1), &format!("random {m}x{n}"));
    }
}

#[test]
fn geqrt_is_backward_stable_on_ill_conditioned_tiles() {
    for &(m, n) in &[(40, 40), (150, 100), (100, 150), (257, 129)] {
        // Columns scaled over 12 orders of magnitude: cond(A) ~ 1e12.
        let a = random(m, n, 7);
        let scaled = Tile::from_fn(m, n, |i, j| {
            a[(i, j)] * 10f64.powf(-12.0 * j as f64 / (n - 1) as f64)
        });
        check_geqrt(&scaled, &format!("column-scaled {m}x{n}"));
        // U diag(sigma) Wᵀ with singular values from 1 to 1e-12: the
        // ill-conditioning is not visible in any single column.
        let k = m.min(n);
        let u = random(m, m, 8).qr().compute_Q();
        let w = random(n, n, 9).qr().compute_Q();
        let sigma = Tile::from_fn(m, n, |i, j| {
            if i == j {
                10f64.powf(-12.0 * i as f64 / (k - 1) as f64)
            } else {
                0.0
            }
        });
        check_geqrt(&(&u * &sigma * transpose(&w)), &format!("graded {m}x{n}"));
    }
}

#[test]
fn geqrt_handles_zero_columns_without_nan() {
    for &(m, n) in &[(6, 4), (4, 6), (130, 100), (100, 130)] {
        let mut a = random(m, n, 11);
        for j in (0..n).step_by(3) {
            a.col_mut(j).fill(0.0);
        }
        check_geqrt(&a, &format!("every third column zero {m}x{n}"));
        let (v, t, r) = geqrt(a.as_ref()).unwrap();
        assert_eq!(t[(0, 0)], 0.0, "a zero first column needs no reflection");
        for x in v
            .col_iter()
            .chain(t.col_iter())
            .chain(r.col_iter())
            .flat_map(|c| c.iter())
        {
            assert!(x.is_finite());
        }
        // The zero tile: Q = I exactly.
        let (v, t, r) = geqrt(Tile::zeros(m, n).as_ref()).unwrap();
        let k = m.min(n);
        assert_eq!(v, Tile::identity(m, k));
        assert_eq!(t, Tile::zeros(k, k));
        assert_eq!(r, Tile::zeros(k, n));
    }
}

#[test]
fn geqrt_of_an_upper_triangular_tile_is_exact() {
    // Nothing below the diagonal: every tau is 0, Q = I and R = A bit for bit.
    for &(m, n) in &[(5, 5), (5, 8), (70, 70)] {
        let a = triu(&random(m, n, 12));
        let (v, t, r) = geqrt(a.as_ref()).unwrap();
        assert_eq!(t, Tile::zeros(m, m));
        assert_eq!(v, Tile::identity(m, m));
        assert_eq!(r, a);
    }
}

#[test]
fn tsqrt_factors_stacked_tiles_of_every_shape() {
    for (seed, &(n, m)) in TS_SHAPES.iter().enumerate() {
        let seed = 2 * seed as u64 + 20;
        let r = upper_with_nan_below(n, seed);
        check_tsqrt(
            &r,
            &random(m, n, seed + 1),
            &format!("R {n}x{n} over A {m}x{n}"),
        );
    }
}

/// `ttqrt` on R over an upper triangular (or trapezoidal: wide, tall) A,
/// and on tiles wide enough for several inner blocks (1030 columns take
/// blocks of 257, whose later panels reach more of A's rows); its factors
/// are the ones `tsqrt` gives for the same two triangles.
#[test]
fn ttqrt_factors_stacked_triangles_of_every_shape() {
    for (seed, &(n, m)) in TS_SHAPES
        .iter()
        .chain(&[(1030, 1030), (300, 200)])
        .enumerate()
    {
        let seed = 2 * seed as u64 + 60;
        let (r, a) = (upper_with_nan_below(n, seed), random(m, n, seed + 1));
        let label = format!("R {n}x{n} over upper A {m}x{n}");
        check_ttqrt(&r, &a, &label);
        let (tt, ts) = (
            ttqrt(r.as_ref(), a.as_ref()).unwrap(),
            tsqrt(r.as_ref(), triu(&a).as_ref()).unwrap(),
        );
        let scale = norm1(&stack(&triu(&r), &triu(&a)));
        for (what, x, y, s) in [
            ("R2", &tt.0, &ts.0, scale),
            ("V", &tt.1, &ts.1, 1.0),
            ("T", &tt.2, &ts.2, 1.0),
        ] {
            assert_ratio(
                &format!("{label}: ||{what} - tsqrt's|| / ((n+m) eps)"),
                ratio(x, y, n + m, s),
            );
        }
    }
}

/// The flop count of `ttqrt` is the sum over its reflectors, column j's
/// `min(j + 1, m)` rows long, that `flops_tsqrt` makes with m each.
#[test]
fn ttqrt_flops_sum_its_reflectors() {
    for &(m, n) in &[(1, 1), (4, 1), (1, 4), (5, 5), (3, 8), (8, 3), (1024, 1024)] {
        let by_column: f64 = (0..n)
            .map(|j| {
                let len = (j + 1).min(m) as f64;
                3.0 * len + (4.0 * len + 2.0) * (n - 1 - j) as f64
            })
            .sum();
        assert_eq!(flops_ttqrt(m, n), by_column, "{m} x {n}");
    }
    let n = 1024.0f64;
    assert!((flops_ttqrt(1024, 1024) / (2.0 * n.powi(3) / 3.0) - 1.0).abs() < 0.01);
}

#[test]
fn tsqrt_is_backward_stable_on_ill_conditioned_and_zero_columns() {
    for &(n, m) in &[(40, 40), (100, 150), (129, 257)] {
        let (r, a) = (random(n, n, 30), random(m, n, 31));
        let scale = |j: usize| 10f64.powf(-12.0 * j as f64 / (n - 1) as f64);
        let r = Tile::from_fn(n, n, |i, j| r[(i, j)] * scale(j));
        let a = Tile::from_fn(m, n, |i, j| a[(i, j)] * scale(j));
        check_tsqrt(&r, &a, &format!("column-scaled {n}+{m}x{n}"));
        // Zero columns in A (R's diagonal stays, nothing to annihilate), and
        // a column zero in both.
        let mut a = random(m, n, 32);
        let mut r = random(n, n, 33);
        for j in (0..n).step_by(3) {
            a.col_mut(j).fill(0.0);
        }
        r.col_mut(1).fill(0.0);
        a.col_mut(1).fill(0.0);
        check_tsqrt(&r, &a, &format!("zero columns {n}+{m}x{n}"));
        let (r2, v, t) = tsqrt(r.as_ref(), a.as_ref()).unwrap();
        assert_eq!(t[(0, 0)], 0.0);
        for x in r2
            .col_iter()
            .chain(v.col_iter())
            .chain(t.col_iter())
            .flat_map(|c| c.iter())
        {
            assert!(x.is_finite());
        }
    }
    // All zero: Q = I exactly.
    let (r2, v, t) = tsqrt(Tile::zeros(4, 4).as_ref(), Tile::zeros(6, 4).as_ref()).unwrap();
    assert_eq!(
        (r2, v, t),
        (Tile::zeros(4, 4), Tile::zeros(6, 4), Tile::zeros(4, 4))
    );
}

#[test]
fn tsmqr_round_trips_and_leaves_extra_rows_of_a1_alone() {
    let (n, m, nc) = (70, 90, 33);
    let (_, v, t) = tsqrt(random(n, n, 40).as_ref(), random(m, n, 41).as_ref()).unwrap();
    // A1 with 5 rows more than there are reflectors.
    let (a1, a2) = (random(n + 5, nc, 42), random(m, nc, 43));
    let (b1, b2) = tsmqr(a1.as_ref(), a2.as_ref(), v.as_ref(), t.as_ref(), true).unwrap();
    assert_eq!(b1.shape(), a1.shape());
    assert_eq!(
        rows(&b1, n, 5),
        rows(&a1, n, 5),
        "rows past k must come back unchanged"
    );
    let (c1, c2) = tsmqr(b1.as_ref(), b2.as_ref(), v.as_ref(), t.as_ref(), false).unwrap();
    let scale = norm1(&stack(&a1, &a2));
    assert_ratio(
        "||Q Qᵀ [A1; A2] - [A1; A2]||",
        ratio(&stack(&c1, &c2), &stack(&a1, &a2), n + m, scale),
    );
    // The top k rows behave as the k-row operand does.
    let (d1, d2) = tsmqr(
        rows(&a1, 0, n).as_ref(),
        a2.as_ref(),
        v.as_ref(),
        t.as_ref(),
        true,
    )
    .unwrap();
    assert_eq!((rows(&b1, 0, n), b2), (d1, d2));
}

/// `[A00 A01; A10 A11]`, tile rows `b0 = n0` and `b1` and tile columns `n0`,
/// `n1`, by the tile algorithm: the R of dense QR up to row signs, and Q R
/// rebuilt from the kernels must give back A.
#[test]
fn two_by_two_tiled_qr_matches_dense_qr() {
    for &(n0, b1, n1) in &[(4, 6, 3), (64, 64, 64), (100, 90, 60), (129, 140, 70)] {
        let a = random(n0 + b1, n0 + n1, 50 + n0 as u64);
        let tile = |r0: usize, nr: usize, c0: usize, nc: usize| {
            a.as_ref().submatrix(r0, c0, nr, nc).to_owned()
        };
        let (a00, a01) = (tile(0, n0, 0, n0), tile(0, n0, n0, n1));
        let (a10, a11) = (tile(n0, b1, 0, n0), tile(n0, b1, n0, n1));

        let (v0, t0, r0) = geqrt(a00.as_ref()).unwrap();
        let c01 = ormqr(v0.as_ref(), t0.as_ref(), a01.as_ref(), true).unwrap();
        let (r00, v1, t1) = tsqrt(r0.as_ref(), a10.as_ref()).unwrap();
        let (r01, c11) = tsmqr(c01.as_ref(), a11.as_ref(), v1.as_ref(), t1.as_ref(), true).unwrap();
        let (v2, t2, r11) = geqrt(c11.as_ref()).unwrap();

        // The first column alone is the 2x1 tiled QR.
        let first = stack(&a00, &a10);
        let dense_first = first.qr();
        assert_abs_r_matches(&r00, dense_first.thin_R(), &first, "2x1 R");

        let r = Tile::from_fn(n0 + n1, n0 + n1, |i, j| match (i < n0, j < n0) {
            (true, true) => r00[(i, j)],
            (true, false) => r01[(i, j - n0)],
            (false, true) => 0.0,
            (false, false) => r11[(i - n0, j - n0)],
        });
        let dense = a.qr();
        assert_abs_r_matches(&r, dense.thin_R(), &a, "2x2 R");

        // Q R = diag(Q0, I) Q1 diag(I, Q2) [R; 0], applied tile by tile.
        let x1 = Tile::from_fn(b1, n0 + n1, |i, j| {
            if j >= n0 && i < n1 {
                r11[(i, j - n0)]
            } else {
                0.0
            }
        });
        let x1 = ormqr(v2.as_ref(), t2.as_ref(), x1.as_ref(), false).unwrap();
        let x0 = rows(&r, 0, n0);
        let (x0, x1) = tsmqr(x0.as_ref(), x1.as_ref(), v1.as_ref(), t1.as_ref(), false).unwrap();
        let x0 = ormqr(v0.as_ref(), t0.as_ref(), x0.as_ref(), false).unwrap();
        let dim = n0 + b1;
        assert_ratio(
            "2x2 ||A - Q R|| / (m ||A|| eps)",
            ratio(&a, &stack(&x0, &x1), dim, norm1(&a)),
        );
    }
}

/// `| |R| - |R_dense| |_1 / (m ||A||_1 eps)`: rows may differ in sign only.
/// R's forward error is the backward error times a condition number, which
/// is small for these random tiles.
fn assert_abs_r_matches(r: &Tile, dense: faer::MatRef<'_, f64>, a: &Tile, label: &str) {
    assert_eq!(r.shape(), dense.shape());
    let abs_r = Tile::from_fn(r.nrows(), r.ncols(), |i, j| r[(i, j)].abs());
    let abs_d = Tile::from_fn(r.nrows(), r.ncols(), |i, j| dense[(i, j)].abs());
    assert_ratio(
        &format!("{label}: || |R| - |R_dense| || / (m ||A|| eps)"),
        ratio(&abs_r, &abs_d, a.nrows(), norm1(a)),
    );
}

#[test]
fn bad_shapes_are_errors_not_panics() {
    let shape_error = |e: KernelError| match e {
        KernelError::Shape(s) => (s.operand, s.related),
        other => panic!("expected a shape error, got {other:?}"),
    };
    let (v, t, c) = (random(6, 4, 1), random(4, 4, 2), random(6, 3, 3));
    let err = |v: &Tile, t: &Tile, c: &Tile| {
        shape_error(ormqr(v.as_ref(), t.as_ref(), c.as_ref(), true).unwrap_err())
    };
    assert_eq!(
        err(&random(4, 6, 1), &random(6, 6, 2), &random(4, 3, 3)),
        (0, None)
    );
    assert_eq!(err(&v, &random(4, 3, 2), &c), (1, Some(0)));
    assert_eq!(err(&v, &random(3, 3, 2), &c), (1, Some(0)));
    assert_eq!(err(&v, &t, &random(5, 3, 3)), (2, Some(0)));

    let tserr = |r: &Tile, a: &Tile| shape_error(tsqrt(r.as_ref(), a.as_ref()).unwrap_err());
    assert_eq!(tserr(&random(3, 4, 1), &random(5, 4, 2)), (0, None));
    assert_eq!(tserr(&random(4, 4, 1), &random(5, 3, 2)), (1, Some(0)));

    let (a1, a2, vv) = (random(4, 3, 4), random(6, 3, 5), random(6, 4, 6));
    let mqerr = |a1: &Tile, a2: &Tile, v: &Tile, t: &Tile| {
        shape_error(tsmqr(a1.as_ref(), a2.as_ref(), v.as_ref(), t.as_ref(), false).unwrap_err())
    };
    assert_eq!(mqerr(&a1, &a2, &vv, &random(4, 5, 7)), (3, Some(2)));
    assert_eq!(mqerr(&random(3, 3, 4), &a2, &vv, &t), (0, Some(2)));
    assert_eq!(mqerr(&a1, &random(5, 3, 5), &vv, &t), (1, Some(2)));
    assert_eq!(mqerr(&a1, &random(6, 2, 5), &vv, &t), (1, Some(0)));
}

#[test]
fn empty_tiles_give_empty_results() {
    for &(m, n) in &[(0, 0), (0, 3), (3, 0)] {
        let (v, t, r) = geqrt(Tile::zeros(m, n).as_ref()).unwrap();
        assert_eq!((v.shape(), t.shape(), r.shape()), ((m, 0), (0, 0), (0, n)));
        assert_eq!(
            ormqr(v.as_ref(), t.as_ref(), Tile::zeros(m, 2).as_ref(), true)
                .unwrap()
                .shape(),
            (m, 2)
        );
    }
    // No rows below R: [R; A] is already triangular, so Q = I.
    let r = triu(&random(3, 3, 60));
    let (r2, v, t) = tsqrt(r.as_ref(), Tile::zeros(0, 3).as_ref()).unwrap();
    assert_eq!((r2, v.shape(), t), (r, (0, 3), Tile::zeros(3, 3)));
    let (r2, v, t) = tsqrt(Tile::zeros(0, 0).as_ref(), Tile::zeros(5, 0).as_ref()).unwrap();
    assert_eq!((r2.shape(), v.shape(), t.shape()), ((0, 0), (5, 0), (0, 0)));
}

#[test]
fn nan_and_inf_inputs_do_not_panic() {
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        for &(m, n) in &[(5, 5), (130, 70), (70, 130)] {
            let mut a = random(m, n, 70);
            a[(m / 2, n / 2)] = bad;
            let (v, t, r) = geqrt(a.as_ref()).unwrap();
            assert_eq!(
                (v.shape(), t.shape(), r.shape()),
                ((m, m.min(n)), (m.min(n), m.min(n)), (m.min(n), n))
            );
            ormqr(v.as_ref(), t.as_ref(), a.as_ref(), true).unwrap();
            let (r2, v, t) = tsqrt(triu(&random(n, n, 71)).as_ref(), a.as_ref()).unwrap();
            tsmqr(r2.as_ref(), a.as_ref(), v.as_ref(), t.as_ref(), false).unwrap();
            // A bad operand to an application must not panic either.
            let (v, t, _) = geqrt(random(m, n, 72).as_ref()).unwrap();
            ormqr(v.as_ref(), t.as_ref(), a.as_ref(), false).unwrap();
        }
    }
}

#[test]
fn flop_counts_have_the_classic_leading_terms() {
    let n = 3000usize;
    let cube = (n as f64).powi(3);
    let close = |x: f64, y: f64| (x / y - 1.0).abs() < 2e-3;
    assert!(close(flops_geqrt(n, n), 4.0 * cube / 3.0));
    assert!(close(
        flops_geqrt(2 * n, n),
        2.0 * (n as f64).powi(2) * (2.0 * n as f64 - n as f64 / 3.0)
    ));
    assert!(close(
        flops_geqrt(n, 2 * n),
        2.0 * (n as f64).powi(2) * (2.0 * n as f64 - n as f64 / 3.0)
    ));
    assert!(close(flops_ormqr(n, n, n), 2.0 * cube));
    assert!(close(flops_tsqrt(n, n), 2.0 * cube));
    assert!(close(flops_tsmqr(n, n, n), 4.0 * cube));
    // Exact small cases: one reflector of length 2 on one column (a dot
    // product and an update of 2 entries each, plus the scalar work).
    assert_eq!(flops_tsmqr(1, 1, 1), 6.0);
    assert_eq!(flops_ormqr(5, 2, 0), 0.0);
    assert_eq!(flops_tsqrt(4, 1), 12.0);
}

#[test]
fn results_do_not_depend_on_the_operand_layout() {
    // Transposed (row-major) views as operands give the same results as
    // column-major copies.
    let a = random(90, 80, 80);
    let at = transpose(&a);
    let (v, t, r) = geqrt(a.as_ref()).unwrap();
    let (v2, t2, r2) = geqrt(at.transpose()).unwrap();
    assert_eq!((v, t, r), (v2, t2, r2));
    let c = random(90, 70, 81);
    let ct = transpose(&c);
    let (v, t, _) = geqrt(a.as_ref()).unwrap();
    assert_eq!(
        ormqr(v.as_ref(), t.as_ref(), ct.transpose(), true).unwrap(),
        ormqr(v.as_ref(), t.as_ref(), c.as_ref(), true).unwrap()
    );
}

#[test]
fn applications_read_only_the_documented_parts_of_v_and_t() {
    // NaN wherever the kernels promise not to read: V's diagonal and upper
    // part (ormqr), T's lower triangle and its blocks off the diagonal
    // inner_block blocks (both).
    let ib = lp_std::kernel::inner_block(1);
    let (m, n, nc) = (2 * ib + 30, 2 * ib + 20, 7);
    let in_diagonal_block = |i: usize, j: usize| i <= j && i / ib == j / ib;
    let a = random(m, n, 90);
    let (v, t, _) = geqrt(a.as_ref()).unwrap();
    let v_nan = Tile::from_fn(m, n, |i, j| if i > j { v[(i, j)] } else { f64::NAN });
    let t_nan = Tile::from_fn(n, n, |i, j| {
        if in_diagonal_block(i, j) {
            t[(i, j)]
        } else {
            f64::NAN
        }
    });
    let c = random(m, nc, 91);
    for transpose in [true, false] {
        assert_eq!(
            ormqr(v_nan.as_ref(), t_nan.as_ref(), c.as_ref(), transpose).unwrap(),
            ormqr(v.as_ref(), t.as_ref(), c.as_ref(), transpose).unwrap()
        );
    }
    let (_, v, t) = tsqrt(random(n, n, 92).as_ref(), a.as_ref()).unwrap();
    let t_nan = Tile::from_fn(n, n, |i, j| {
        if in_diagonal_block(i, j) {
            t[(i, j)]
        } else {
            f64::NAN
        }
    });
    let (a1, a2) = (random(n, nc, 93), random(m, nc, 94));
    for transpose in [true, false] {
        assert_eq!(
            tsmqr(
                a1.as_ref(),
                a2.as_ref(),
                v.as_ref(),
                t_nan.as_ref(),
                transpose
            )
            .unwrap(),
            tsmqr(a1.as_ref(), a2.as_ref(), v.as_ref(), t.as_ref(), transpose).unwrap()
        );
    }
}
