//! The incremental-pivoting LU kernels, checked the way LAPACK's test suite
//! checks a factorization: scaled residuals that must stay below 30.
//!
//! - Each kernel against a dense reference on its own small problem:
//!   `||P A - L U|| / (n ||A|| eps)` for `getrf` (LAPACK's `dget01`),
//!   `||P A - L A'|| / (m ||L|| ||A'|| eps)` for `gessm`, and for `tstrf` and
//!   `ssssm` the stacked problem rebuilt by undoing the transformation with
//!   naive loops (`T^-1 [u2; 0]` must give back `[U; A]`), plus a line-by-line
//!   port of PLASMA's `core_dtstrf` that must choose the same pivots.
//! - The whole `dgetrf_incpiv` chained from the kernels on 2x2 and 3x3 tile
//!   grids (ragged too), then `A x = b` solved with the factors and the
//!   backward error `||A x - b|| / (||A|| ||x|| n eps)` (`dget02`) checked, on
//!   random, permutation, zero-diagonal-tile and condition-1e12 matrices.
//! - A singular matrix (exact zero on U's diagonal, reported with its index),
//!   exact structure (zeros where the layout promises them), non-finite input
//!   and bad shapes (errors, never panics).
//!
//! Norms are 1-norms (largest column sum), as in LAPACK's tests.

use faer::linalg::triangular_solve::solve_upper_triangular_in_place;
use faer::{MatRef, Par};
use lp_std::kernel::inner_block;
use lp_std::kernel::lu;
use lp_std::{Init, KernelError, MatrixHeader, Tile};

const EPS: f64 = f64::EPSILON;
/// LAPACK's threshold for the test ratios.
const THRESH: f64 = 30.0;

fn random(rows: usize, cols: usize, seed: u64) -> Tile {
    Init::Random { seed }.tile(&MatrixHeader::new([rows, cols], [rows, cols], false), 0, 0)
}

fn norm1(a: MatRef<'_, f64>) -> f64 {
    (0..a.ncols())
        .map(|j| (0..a.nrows()).map(|i| a[(i, j)].abs()).sum::<f64>())
        .fold(0.0, f64::max)
}

fn triu(a: MatRef<'_, f64>) -> Tile {
    Tile::from_fn(
        a.nrows(),
        a.ncols(),
        |i, j| if i <= j { a[(i, j)] } else { 0.0 },
    )
}

/// The unit lower trapezoidal `m x min(m, n)` factor stored below the
/// diagonal of `lu`.
fn unit_lower(lu: &Tile) -> Tile {
    let k = lu.nrows().min(lu.ncols());
    Tile::from_fn(lu.nrows(), k, |i, j| match i.cmp(&j) {
        std::cmp::Ordering::Greater => lu[(i, j)],
        std::cmp::Ordering::Equal => 1.0,
        std::cmp::Ordering::Less => 0.0,
    })
}

fn pivots(p: &Tile) -> Vec<usize> {
    assert_eq!(p.ncols(), 1);
    (0..p.nrows())
        .map(|i| {
            let v = p[(i, 0)];
            assert!(v >= 0.0 && v.fract() == 0.0, "pivot {i} is {v}");
            v as usize
        })
        .collect()
}

/// `P A`: the interchanges of row `i` and `p[i]`, in order.
fn permuted(a: &Tile, p: &[usize]) -> Tile {
    let mut a = a.clone();
    for (i, &v) in p.iter().enumerate() {
        for j in 0..a.ncols() {
            let t = a[(i, j)];
            a[(i, j)] = a[(v, j)];
            a[(v, j)] = t;
        }
    }
    a
}

fn stack(top: &Tile, bottom: &Tile) -> Tile {
    let (n, m) = (top.nrows(), bottom.nrows());
    Tile::from_fn(n + m, top.ncols(), |i, j| {
        if i < n {
            top[(i, j)]
        } else {
            bottom[(i - n, j)]
        }
    })
}

// ---------------------------------------------------------------- getrf

/// Textbook right-looking LU with partial pivoting (first maximum on ties).
fn naive_getf2(a: &Tile) -> (Tile, Vec<usize>) {
    let mut a = a.clone();
    let (m, n) = (a.nrows(), a.ncols());
    let mut p = vec![0; m.min(n)];
    for j in 0..m.min(n) {
        let mut best = j;
        for i in j + 1..m {
            if a[(i, j)].abs() > a[(best, j)].abs() {
                best = i;
            }
        }
        p[j] = best;
        for q in 0..n {
            let t = a[(j, q)];
            a[(j, q)] = a[(best, q)];
            a[(best, q)] = t;
        }
        if a[(j, j)] != 0.0 {
            for i in j + 1..m {
                a[(i, j)] /= a[(j, j)];
            }
        }
        for q in j + 1..n {
            for i in j + 1..m {
                a[(i, q)] -= a[(i, j)] * a[(j, q)];
            }
        }
    }
    (a, p)
}

/// `||P A - L U||_1 / (n ||A||_1 eps)`.
fn getrf_ratio(a: &Tile, lu: &Tile, p: &[usize]) -> f64 {
    let k = a.nrows().min(a.ncols());
    let u = triu(lu.as_ref().subrows(0, k));
    let residual = permuted(a, p) - unit_lower(lu) * u;
    norm1(residual.as_ref()) / (a.ncols().max(1) as f64 * norm1(a.as_ref()) * EPS)
}

#[test]
fn getrf_factors_random_tiles_of_every_shape() {
    for (seed, (m, n)) in [
        (1, 1),
        (2, 2),
        (5, 5),
        (7, 3),
        (3, 7),
        (1, 6),
        (6, 1),
        (17, 17),
        (33, 20),
        (20, 33),
        (130, 70),
        (70, 130),
        (257, 257),
    ]
    .into_iter()
    .enumerate()
    {
        let a = random(m, n, seed as u64 + 10);
        let (lu, p) = lu::getrf(a.as_ref()).unwrap();
        assert_eq!((lu.nrows(), lu.ncols()), (m, n));
        assert_eq!((p.nrows(), p.ncols()), (m.min(n), 1));
        let p = pivots(&p);
        for (i, &v) in p.iter().enumerate() {
            assert!(i <= v && v < m, "{m}x{n}: pivot {i} is {v}");
        }
        let ratio = getrf_ratio(&a, &lu, &p);
        assert!(ratio < THRESH, "{m}x{n}: ||PA - LU|| ratio {ratio}");
        // Partial pivoting bounds every multiplier by 1.
        let l = unit_lower(&lu);
        assert!(l.norm_max() <= 1.0, "{m}x{n}: a multiplier exceeds 1");

        // The recursion chooses the textbook pivots and gives its factors.
        let (naive, naive_p) = naive_getf2(&a);
        assert_eq!(p, naive_p, "{m}x{n}: pivots differ from unblocked LU");
        let diff = (&lu - &naive).norm_max() / norm1(a.as_ref());
        assert!(diff < 1e-13, "{m}x{n}: differs from unblocked LU by {diff}");
    }
}

#[test]
fn getrf_swaps_an_antidiagonal_tile() {
    let a = faer::mat![[0.0, 1.0], [1.0, 0.0]];
    let (lu, p) = lu::getrf(a.as_ref()).unwrap();
    assert_eq!(pivots(&p), [1, 1]);
    assert_eq!(lu, faer::mat![[1.0, 0.0], [0.0, 1.0]]);
}

#[test]
fn getrf_records_a_zero_pivot_column_and_continues() {
    // Column 2 is zero: LAPACK's dgetrf reports info = 3 and goes on.
    let mut a = random(6, 6, 3);
    for i in 0..6 {
        a[(i, 2)] = 0.0;
    }
    let (lu, p) = lu::getrf(a.as_ref()).unwrap();
    let p = pivots(&p);
    assert_eq!(p[2], 2, "a zero column keeps its row");
    assert_eq!(lu[(2, 2)], 0.0);
    assert!(lu.as_ref().is_all_finite(), "zero pivot gave NaN or inf");
    for i in 3..6 {
        assert_eq!(lu[(i, 2)], 0.0, "multipliers of a zero column are zero");
    }
    assert!(getrf_ratio(&a, &lu, &p) < THRESH);
    assert_eq!(
        lu::check_upper(lu.as_ref()),
        Err(KernelError::Singular {
            index: 2,
            value: 0.0
        })
    );

    let zero = Tile::zeros(4, 3);
    let (lu, p) = lu::getrf(zero.as_ref()).unwrap();
    assert_eq!(lu, zero);
    assert_eq!(pivots(&p), [0, 1, 2]);
}

#[test]
fn getrf_propagates_non_finite_input_without_panicking() {
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        for (i, j) in [(0, 0), (3, 1), (1, 4), (4, 4)] {
            let mut a = random(5, 5, 4);
            a[(i, j)] = bad;
            let (lu, p) = lu::getrf(a.as_ref()).unwrap();
            for (r, &v) in pivots(&p).iter().enumerate() {
                assert!(r <= v && v < 5);
            }
            assert!(
                matches!(
                    lu::check_upper(lu.as_ref()),
                    Err(KernelError::Singular { value, .. }) if !value.is_finite()
                ),
                "{bad} at ({i}, {j}) did not reach U's diagonal"
            );
        }
    }
}

#[test]
fn check_upper_accepts_nonsingular_and_names_the_first_bad_entry() {
    let u = faer::mat![[2.0, 1.0, 5.0], [f64::NAN, 1e-300, 1.0], [0.0, 0.0, -3.0]];
    assert_eq!(lu::check_upper(u.as_ref()), Ok(()));
    let mut v = u.clone();
    v[(2, 2)] = 0.0;
    assert_eq!(
        lu::check_upper(v.as_ref()),
        Err(KernelError::Singular {
            index: 2,
            value: 0.0
        })
    );
    v[(1, 1)] = f64::INFINITY;
    assert!(matches!(
        lu::check_upper(v.as_ref()),
        Err(KernelError::Singular { index: 1, value }) if value == f64::INFINITY
    ));
    assert_eq!(lu::check_upper(Tile::zeros(0, 0).as_ref()), Ok(()));
}

// ---------------------------------------------------------------- gessm

#[test]
fn gessm_applies_the_factorization_to_a_tile_row() {
    for (seed, (m, n, nc)) in [(1, 1, 1), (5, 5, 3), (7, 3, 4), (3, 7, 5), (130, 130, 70)]
        .into_iter()
        .enumerate()
    {
        let a = random(m, n, 20 + seed as u64);
        let b = random(m, nc, 30 + seed as u64);
        let (lu, p) = lu::getrf(a.as_ref()).unwrap();
        let b2 = lu::gessm(lu.as_ref(), p.as_ref(), b.as_ref()).unwrap();
        assert_eq!((b2.nrows(), b2.ncols()), (m, nc));

        // L is m x m: L's k columns, then the identity's.
        let k = m.min(n);
        let l = unit_lower(&lu);
        let full_l = Tile::from_fn(m, m, |i, j| {
            if j < k {
                l[(i, j)]
            } else if i == j {
                1.0
            } else {
                0.0
            }
        });
        let residual = permuted(&b, &pivots(&p)) - &full_l * &b2;
        let ratio = norm1(residual.as_ref())
            / (m as f64 * norm1(full_l.as_ref()) * norm1(b2.as_ref()) * EPS);
        assert!(
            ratio < THRESH,
            "{m}x{n} on {nc}: ||PA - LA'|| ratio {ratio}"
        );

        // On a square tile this is the right part of the wide tile's LU.
        if m == n {
            let wide = Tile::from_fn(
                m,
                n + nc,
                |i, j| {
                    if j < n { a[(i, j)] } else { b[(i, j - n)] }
                },
            );
            let (wide_lu, _) = lu::getrf(wide.as_ref()).unwrap();
            let diff = (wide_lu.as_ref().subcols(n, nc) - &b2).norm_max();
            assert!(diff < 1e-12, "{m}x{n}: U12 differs by {diff}");
        }
    }
}

// ---------------------------------------------------------------- tstrf, ssssm

/// Panels of `inner_block(n)` columns: `(j0, sb)`.
fn panels(n: usize) -> Vec<(usize, usize)> {
    let ib = inner_block(n);
    (0..n).step_by(ib).map(|j0| (j0, ib.min(n - j0))).collect()
}

/// `T^-1 [x1; x2]` with naive loops: each panel's `T_J^-1 = Pi_J^-1 [L1 0;
/// L2 I]`, undone from the last panel to the first.
fn untransform(l: &Tile, lx: &Tile, p: &[usize], x1: &Tile, x2: &Tile) -> (Tile, Tile) {
    let (mut y1, mut y2) = (x1.clone(), x2.clone());
    let (m, n) = (l.nrows(), l.ncols());
    for (j0, sb) in panels(n).into_iter().rev() {
        for q in 0..y1.ncols() {
            let top: Vec<f64> = (0..sb).map(|r| y1[(j0 + r, q)]).collect();
            for i in 0..m {
                y2[(i, q)] += (0..sb).map(|r| l[(i, j0 + r)] * top[r]).sum::<f64>();
            }
            for i in 0..sb {
                let below: f64 = (0..i).map(|r| lx[(j0 + i, j0 + r)] * top[r]).sum();
                y1[(j0 + i, q)] = top[i] + below;
            }
        }
        for c in (j0..j0 + sb).rev() {
            if p[c] != c {
                for q in 0..y1.ncols() {
                    std::mem::swap(&mut y1[(c, q)], &mut y2[(p[c] - n, q)]);
                }
            }
        }
    }
    (y1, y2)
}

/// PLASMA's `core_dtstrf` (with its inner `core_dssssm` calls), ported loop
/// for loop, 0-based. Returns its U, its L2 (the A tile on exit), its
/// `ib x n` L1 and its pivots.
fn plasma_tstrf(u: &Tile, a: &Tile, ib: usize) -> (Tile, Tile, Tile, Vec<usize>) {
    let (nb, n, m) = (u.nrows(), u.ncols(), a.nrows());
    let (mut u, mut a) = (triu(u.as_ref()), a.clone());
    let mut l = Tile::zeros(ib, n);
    let mut work = Tile::zeros(m, ib);
    let mut ipiv = vec![0; n];
    for ii in (0..n).step_by(ib) {
        let sb = ib.min(n - ii);
        for i in 0..sb {
            let c = ii + i;
            let mut im = 0;
            for r in 1..m {
                if a[(r, c)].abs() > a[(im, c)].abs() {
                    im = r;
                }
            }
            ipiv[c] = c;
            if a[(im, c)].abs() > u[(c, c)].abs() {
                for j in 0..i {
                    std::mem::swap(&mut l[(i, ii + j)], &mut work[(im, j)]);
                }
                for j in c..ii + sb {
                    std::mem::swap(&mut u[(c, j)], &mut a[(im, j)]);
                }
                ipiv[c] = nb + im;
                for j in 0..i {
                    a[(im, ii + j)] = 0.0;
                }
            }
            let alpha = 1.0 / u[(c, c)];
            for r in 0..m {
                a[(r, c)] *= alpha;
                work[(r, i)] = a[(r, c)];
            }
            for j in c + 1..ii + sb {
                for r in 0..m {
                    a[(r, j)] -= a[(r, c)] * u[(c, j)];
                }
            }
        }
        for j in ii + sb..n {
            for i in 0..sb {
                if ipiv[ii + i] != ii + i {
                    std::mem::swap(&mut u[(ii + i, j)], &mut a[(ipiv[ii + i] - nb, j)]);
                }
            }
            for i in 0..sb {
                for r in 0..i {
                    u[(ii + i, j)] -= l[(i, ii + r)] * u[(ii + r, j)];
                }
            }
            for r in 0..m {
                for i in 0..sb {
                    a[(r, j)] -= work[(r, i)] * u[(ii + i, j)];
                }
            }
        }
    }
    (u, a, l, ipiv)
}

/// A well-scaled upper triangular U whose lower triangle is NaN, to prove
/// the kernels never read it.
fn upper_with_garbage(n: usize, seed: u64) -> Tile {
    let mut u = random(n, n, seed);
    for j in 0..n {
        u[(j, j)] += if u[(j, j)] < 0.0 { -1.0 } else { 1.0 };
        for i in j + 1..n {
            u[(i, j)] = f64::NAN;
        }
    }
    u
}

/// Stacked shapes `(n, m)`: U is `n x n`, A is `m x n`; several panels and
/// ragged last panels when `n` is above the inner block size: 64 on small
/// tiles, `n / 4` from 1024 columns on (1030: four panels of 257 and one
/// of 2).
fn stacked_shapes() -> Vec<(usize, usize)> {
    let ib = inner_block(1);
    vec![
        (1, 1),
        (3, 3),
        (3, 1),
        (1, 3),
        (7, 7),
        (20, 50),
        (ib, ib),
        (ib + 1, 2 * ib + 3),
        (2 * ib + 5, 20),
        (130, 70),
        (1030, 5),
    ]
}

#[test]
fn tstrf_factors_the_stacked_tiles() {
    for (seed, (n, m)) in stacked_shapes().into_iter().enumerate() {
        let seed = 40 + 2 * seed as u64;
        let u = upper_with_garbage(n, seed);
        let a = random(m, n, seed + 1);
        let (u2, l, lx, p) = lu::tstrf(u.as_ref(), a.as_ref()).unwrap();
        assert_eq!((u2.nrows(), u2.ncols()), (n, n));
        assert_eq!((l.nrows(), l.ncols()), (m, n));
        assert_eq!((lx.nrows(), lx.ncols()), (n, n));
        assert_eq!((p.nrows(), p.ncols()), (n, 1));
        let p = pivots(&p);

        // Layout: u2 upper triangular, lx block diagonal with unit
        // diagonal blocks, pivots either the U row itself or a row of A.
        for j in 0..n {
            for i in j + 1..n {
                assert_eq!(u2[(i, j)], 0.0, "u2 not upper triangular at ({i}, {j})");
            }
        }
        for (j0, sb) in panels(n) {
            for j in j0..j0 + sb {
                for i in 0..n {
                    let inside = i > j && i < j0 + sb;
                    if i == j {
                        assert_eq!(lx[(i, j)], 1.0);
                    } else if !inside {
                        assert_eq!(lx[(i, j)], 0.0, "lx outside its blocks at ({i}, {j})");
                    }
                }
            }
        }
        for (c, &v) in p.iter().enumerate() {
            assert!(v == c || (n..n + m).contains(&v), "pivot {c} is {v}");
        }
        assert!(
            l.norm_max() <= 1.0 && lx.norm_max() <= 1.0,
            "multiplier above 1"
        );

        // T^-1 [u2; 0] gives back [U; A].
        let (top, bottom) = untransform(&l, &lx, &p, &u2, &Tile::zeros(m, n));
        let original = stack(&triu(u.as_ref()), &a);
        let residual = stack(&top, &bottom) - &original;
        let ratio = norm1(residual.as_ref()) / (n as f64 * norm1(original.as_ref()) * EPS);
        assert!(
            ratio < THRESH,
            "n={n} m={m}: ||[U;A] - T^-1 [U2;0]|| ratio {ratio}"
        );

        // ssssm with the same factors takes [U; A] to [u2; 0].
        let (x1, x2) = lu::ssssm(
            triu(u.as_ref()).as_ref(),
            a.as_ref(),
            l.as_ref(),
            lx.as_ref(),
            pivots_tile(&p).as_ref(),
        )
        .unwrap();
        let residual = stack(&(x1 - &u2), &x2);
        let ratio = norm1(residual.as_ref()) / (n as f64 * norm1(original.as_ref()) * EPS);
        assert!(
            ratio < THRESH,
            "n={n} m={m}: ||T [U;A] - [U2;0]|| ratio {ratio}"
        );

        // PLASMA's kernel, run on the same tiles, pivots the same way and
        // produces the same factors (lx's blocks are its L1, l its L2).
        let (pu, pl2, pl1, pp) = plasma_tstrf(&u, &a, inner_block(n));
        assert_eq!(p, pp, "n={n} m={m}: pivots differ from PLASMA's");
        let scale = norm1(original.as_ref());
        assert!(
            (&u2 - &pu).norm_max() < 1e-12 * scale,
            "U differs from PLASMA's"
        );
        assert!((&l - &pl2).norm_max() < 1e-12, "L differs from PLASMA's");
        for (j0, sb) in panels(n) {
            for j in j0..j0 + sb {
                for i in j + 1..j0 + sb {
                    let d = (lx[(i, j)] - pl1[(i - j0, j)]).abs();
                    assert!(d < 1e-12, "LX differs from PLASMA's L1 at ({i}, {j})");
                }
            }
        }
    }
}

fn pivots_tile(p: &[usize]) -> Tile {
    Tile::from_fn(p.len(), 1, |i, _| p[i] as f64)
}

#[test]
fn ssssm_applies_the_transformation_to_the_tiles_beside() {
    for (seed, (n, m)) in stacked_shapes().into_iter().enumerate() {
        let seed = 60 + 4 * seed as u64;
        let u = upper_with_garbage(n, seed);
        let a = random(m, n, seed + 1);
        let (_, l, lx, p) = lu::tstrf(u.as_ref(), a.as_ref()).unwrap();
        for nc in [1, 5, 40] {
            let a1 = random(n, nc, seed + 2);
            let a2 = random(m, nc, seed + 3);
            let (b1, b2) = lu::ssssm(
                a1.as_ref(),
                a2.as_ref(),
                l.as_ref(),
                lx.as_ref(),
                p.as_ref(),
            )
            .unwrap();
            assert_eq!(
                (b1.nrows(), b1.ncols(), b2.nrows(), b2.ncols()),
                (n, nc, m, nc)
            );
            let (y1, y2) = untransform(&l, &lx, &pivots(&p), &b1, &b2);
            let residual = stack(&(y1 - &a1), &(y2 - &a2));
            let scale = norm1(stack(&a1, &a2).as_ref()).max(norm1(stack(&b1, &b2).as_ref()));
            let ratio = norm1(residual.as_ref()) / (n as f64 * scale * EPS);
            assert!(ratio < THRESH, "n={n} m={m} nc={nc}: ratio {ratio}");
        }
    }
}

#[test]
fn tstrf_takes_pivots_from_below_a_zero_u() {
    // U = 0: every pivot comes from A, and U2 is A's partial-pivoting U.
    let a = random(9, 4, 70);
    let (u2, l, _, p) = lu::tstrf(Tile::zeros(4, 4).as_ref(), a.as_ref()).unwrap();
    assert!(pivots(&p).iter().all(|&v| v >= 4));
    let (lu_a, _) = lu::getrf(a.as_ref()).unwrap();
    assert!((&u2 - triu(lu_a.as_ref().subrows(0, 4))).norm_max() < 1e-14);
    assert!(l.as_ref().is_all_finite());

    // A zero column of [U; A]: u2 keeps the zero pivot, no NaN anywhere.
    let mut a = random(5, 3, 71);
    a.as_mut().subcols_mut(1, 1).fill(0.0);
    let mut u = upper_with_garbage(3, 72);
    u[(0, 1)] = 0.0;
    u[(1, 1)] = 0.0;
    let (u2, l, lx, p) = lu::tstrf(u.as_ref(), a.as_ref()).unwrap();
    assert_eq!(u2[(1, 1)], 0.0);
    assert!(u2.as_ref().is_all_finite() && l.as_ref().is_all_finite());
    assert!(lx.as_ref().is_all_finite());
    assert_eq!(pivots(&p)[1], 1);
    assert_eq!(
        lu::check_upper(u2.as_ref()),
        Err(KernelError::Singular {
            index: 1,
            value: 0.0
        })
    );
}

#[test]
fn empty_tiles_are_fine() {
    let (lu, p) = lu::getrf(Tile::zeros(0, 0).as_ref()).unwrap();
    assert_eq!((lu.nrows(), p.nrows(), p.ncols()), (0, 0, 1));
    let out = lu::gessm(lu.as_ref(), p.as_ref(), Tile::zeros(0, 3).as_ref()).unwrap();
    assert_eq!((out.nrows(), out.ncols()), (0, 3));
    let u = upper_with_garbage(3, 73);
    let (u2, l, lx, p) = lu::tstrf(u.as_ref(), Tile::zeros(0, 3).as_ref()).unwrap();
    assert_eq!(u2, triu(u.as_ref()));
    assert_eq!((l.nrows(), lx.nrows()), (0, 3));
    assert_eq!(pivots(&p), [0, 1, 2]);
    let a1 = random(3, 2, 74);
    let (b1, b2) = lu::ssssm(
        a1.as_ref(),
        Tile::zeros(0, 2).as_ref(),
        l.as_ref(),
        lx.as_ref(),
        p.as_ref(),
    )
    .unwrap();
    assert_eq!((b1, b2.nrows()), (a1, 0));
}

// ---------------------------------------------------------------- dgetrf_incpiv

/// The factors of `dgetrf_incpiv` on a grid of tiles.
struct IncPiv {
    /// Start row/column of each tile row/column, and `n` at the end.
    offsets: Vec<usize>,
    /// `u[k][j]`, `j >= k`: the tiles of U (upper triangular on the diagonal).
    u: Vec<Vec<Tile>>,
    /// `getrf`'s `(lu, p)` of each diagonal tile.
    diag: Vec<(Tile, Tile)>,
    /// `tstrf`'s `(l, lx, p)` for tile `(i, k)`, `i > k`.
    below: Vec<Vec<Option<(Tile, Tile, Tile)>>>,
}

fn offsets(n: usize, b: usize) -> Vec<usize> {
    let mut o: Vec<usize> = (0..n).step_by(b).collect();
    o.push(n);
    o
}

fn tile_of(a: &Tile, o: &[usize], i: usize, j: usize) -> Tile {
    let (r, c) = (o[i], o[j]);
    a.as_ref()
        .submatrix(r, c, o[i + 1] - r, o[j + 1] - c)
        .to_owned()
}

/// PLASMA's `dgetrf_incpiv`, one kernel call per task of its DAG (indexed
/// as in PLASMA's loops).
#[allow(clippy::needless_range_loop)]
fn factor(a: &Tile, b: usize) -> IncPiv {
    let o = offsets(a.nrows(), b);
    let t = o.len() - 1;
    let mut tiles: Vec<Vec<Tile>> = (0..t)
        .map(|i| (0..t).map(|j| tile_of(a, &o, i, j)).collect())
        .collect();
    let mut diag = Vec::new();
    let mut below: Vec<Vec<Option<(Tile, Tile, Tile)>>> = vec![vec![None; t]; t];
    for k in 0..t {
        let (lu, p) = lu::getrf(tiles[k][k].as_ref()).unwrap();
        for j in k + 1..t {
            tiles[k][j] = lu::gessm(lu.as_ref(), p.as_ref(), tiles[k][j].as_ref()).unwrap();
        }
        let mut u = triu(lu.as_ref());
        for i in k + 1..t {
            let (u2, l, lx, p) = lu::tstrf(u.as_ref(), tiles[i][k].as_ref()).unwrap();
            for j in k + 1..t {
                let (x1, x2) = lu::ssssm(
                    tiles[k][j].as_ref(),
                    tiles[i][j].as_ref(),
                    l.as_ref(),
                    lx.as_ref(),
                    p.as_ref(),
                )
                .unwrap();
                tiles[k][j] = x1;
                tiles[i][j] = x2;
            }
            u = u2;
            below[i][k] = Some((l, lx, p));
        }
        tiles[k][k] = u;
        diag.push((lu, p));
    }
    let u = tiles
        .into_iter()
        .enumerate()
        .map(|(k, row)| row.into_iter().skip(k).collect())
        .collect();
    IncPiv {
        offsets: o,
        u,
        diag,
        below,
    }
}

/// The dense U assembled from its tiles.
fn assemble_u(f: &IncPiv) -> Tile {
    let o = &f.offsets;
    let n = *o.last().unwrap();
    let mut u = Tile::zeros(n, n);
    for (k, row) in f.u.iter().enumerate() {
        for (d, tile) in row.iter().enumerate() {
            let j = k + d;
            u.as_mut()
                .submatrix_mut(o[k], o[j], tile.nrows(), tile.ncols())
                .copy_from(tile);
        }
    }
    u
}

/// Solves `A x = b`: the kernels' transformations applied to `b`'s row
/// tiles in the factorization's order, then back substitution with U after
/// checking each diagonal tile.
fn solve(f: &IncPiv, b: &Tile) -> Result<Tile, KernelError> {
    let o = &f.offsets;
    let t = o.len() - 1;
    let mut bt: Vec<Tile> = (0..t)
        .map(|i| b.as_ref().subrows(o[i], o[i + 1] - o[i]).to_owned())
        .collect();
    for k in 0..t {
        let (lu, p) = &f.diag[k];
        bt[k] = lu::gessm(lu.as_ref(), p.as_ref(), bt[k].as_ref())?;
        for i in k + 1..t {
            let (l, lx, p) = f.below[i][k].as_ref().unwrap();
            let (x1, x2) = lu::ssssm(
                bt[k].as_ref(),
                bt[i].as_ref(),
                l.as_ref(),
                lx.as_ref(),
                p.as_ref(),
            )?;
            bt[k] = x1;
            bt[i] = x2;
        }
    }
    for k in (0..t).rev() {
        for j in k + 1..t {
            bt[k] = &bt[k] - &f.u[k][j - k] * &bt[j];
        }
        let ukk = &f.u[k][0];
        lu::check_upper(ukk.as_ref()).map_err(|e| match e {
            KernelError::Singular { index, value } => KernelError::Singular {
                index: o[k] + index,
                value,
            },
            e => e,
        })?;
        solve_upper_triangular_in_place(ukk.as_ref(), bt[k].as_mut(), Par::Seq);
    }
    let mut x = Tile::zeros(b.nrows(), b.ncols());
    for (k, xk) in bt.iter().enumerate() {
        x.as_mut().subrows_mut(o[k], xk.nrows()).copy_from(xk);
    }
    Ok(x)
}

/// LAPACK's `dget02`: the largest `||b - A x||_1 / (||A||_1 ||x||_1 n eps)`
/// over the right-hand sides.
fn backward_error(a: &Tile, x: &Tile, b: &Tile) -> f64 {
    let r = b - a * x;
    let n = a.ncols() as f64;
    (0..b.ncols())
        .map(|j| {
            norm1(r.as_ref().subcols(j, 1))
                / (norm1(a.as_ref()) * norm1(x.as_ref().subcols(j, 1)) * n * EPS)
        })
        .fold(0.0, f64::max)
}

/// Factors `a` with tiles of `b`, solves for two right-hand sides and
/// checks the backward error and U's structure. Returns the solution.
fn check_solve(name: &str, a: &Tile, b: usize) -> Tile {
    let n = a.nrows();
    let f = factor(a, b);
    let u = assemble_u(&f);
    for j in 0..n {
        for i in j + 1..n {
            assert_eq!(u[(i, j)], 0.0, "{name}: U has {} at ({i}, {j})", u[(i, j)]);
        }
    }
    let rhs = random(n, 2, 99);
    let x = solve(&f, &rhs).unwrap_or_else(|e| panic!("{name}: {e}"));
    let ratio = backward_error(a, &x, &rhs);
    assert!(ratio < THRESH, "{name}: backward error ratio {ratio}");
    x
}

#[test]
fn incpiv_solves_random_matrices() {
    for (n, b) in [
        (6, 3),
        (7, 3),
        (9, 3),
        (8, 4),
        (256, 128),
        (300, 128),
        (300, 100),
        (2 * 64 + 7, 64 + 3),
        // A 1024 tile (panels of 256) beside a ragged 76 one (panels of 64).
        (1100, 1024),
    ] {
        let a = random(n, n, n as u64);
        check_solve(&format!("random n={n} tile {b}"), &a, b);
    }
}

fn permutation(perm: &[usize]) -> Tile {
    Tile::from_fn(
        perm.len(),
        perm.len(),
        |i, j| {
            if perm[i] == j { 1.0 } else { 0.0 }
        },
    )
}

#[test]
fn incpiv_solves_permutation_matrices() {
    // Every diagonal tile of the reversal (for even tile counts) and of a
    // cyclic shift by a tile is zero: LU without pivoting fails at once.
    for (n, b) in [(6, 3), (7, 3), (256, 128), (300, 128)] {
        let reversal: Vec<usize> = (0..n).rev().collect();
        let shift: Vec<usize> = (0..n).map(|i| (i + b) % n).collect();
        // A fixed pseudo-random permutation (Fisher-Yates on a hash).
        let mut shuffled: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = (lp_std::init::splitmix64(i as u64) % (i as u64 + 1)) as usize;
            shuffled.swap(i, j);
        }
        for (what, perm) in [
            ("reversal", reversal),
            ("shift", shift),
            ("shuffle", shuffled),
        ] {
            let a = permutation(&perm);
            let x = check_solve(&format!("{what} n={n} tile {b}"), &a, b);
            // Only swaps and multipliers of 0: the solution is exact.
            let rhs = random(n, 2, 99);
            assert_eq!(&a * &x, rhs, "{what} n={n}: solution not exact");
        }
    }
}

#[test]
fn incpiv_solves_matrices_with_a_zero_diagonal_tile() {
    for (n, b) in [(4, 2), (6, 3), (256, 128)] {
        let h = n / 2;
        // [[0, I], [I, 0]] and [[0, B], [C, D]].
        let swap = Tile::from_fn(n, n, |i, j| if (i + h) % n == j { 1.0 } else { 0.0 });
        check_solve(&format!("[[0, I], [I, 0]] n={n}"), &swap, b);
        let mut a = random(n, n, 80 + n as u64);
        a.as_mut().submatrix_mut(0, 0, h, h).fill(0.0);
        check_solve(&format!("[[0, B], [C, D]] n={n}"), &a, b);
    }
}

/// `Q1 diag(s) Q2^T` with singular values from 1 down to `1/cond`.
fn ill_conditioned(n: usize, cond: f64, seed: u64) -> Tile {
    let q1 = random(n, n, seed).qr().compute_Q();
    let q2 = random(n, n, seed + 1).qr().compute_Q();
    let s = Tile::from_fn(n, n, |i, j| {
        if i == j {
            cond.powf(-(i as f64) / (n as f64 - 1.0))
        } else {
            0.0
        }
    });
    &q1 * &s * q2.transpose()
}

#[test]
fn incpiv_is_backward_stable_on_ill_conditioned_matrices() {
    for (n, b) in [(7, 3), (300, 128)] {
        let a = ill_conditioned(n, 1e12, 90 + n as u64);
        let x = check_solve(&format!("cond 1e12 n={n} tile {b}"), &a, b);
        assert!(x.as_ref().is_all_finite());
        // The forward error is allowed to be (and is) about cond * eps: the
        // test matrix really is ill-conditioned, only the backward error is
        // small.
        let x_true = random(n, 1, 7);
        let x = solve(&factor(&a, b), &(&a * &x_true)).unwrap();
        let forward = norm1((&x - &x_true).as_ref()) / norm1(x_true.as_ref());
        assert!(forward > 1e-9 && forward < 1e12 * EPS * n as f64 * THRESH);
    }
}

#[test]
fn incpiv_reports_a_singular_matrix_with_its_index() {
    // A zero column j stays exactly zero through every update, so U[j][j]
    // is exactly 0: the kernels all succeed, the check names the index.
    for (n, b, j) in [(7, 3, 4), (6, 3, 0), (300, 128, 200), (300, 128, 299)] {
        let mut a = random(n, n, 100 + j as u64);
        a.as_mut().subcols_mut(j, 1).fill(0.0);
        let f = factor(&a, b);
        let u = assemble_u(&f);
        assert_eq!(u[(j, j)], 0.0, "n={n}: U[{j}][{j}] is {}", u[(j, j)]);
        assert!(u.as_ref().is_all_finite(), "n={n}: a zero pivot made NaN");
        let k = j / b;
        assert_eq!(
            lu::check_upper(f.u[k][0].as_ref()),
            Err(KernelError::Singular {
                index: j - k * b,
                value: 0.0
            })
        );
        assert_eq!(
            solve(&f, &random(n, 1, 5)),
            Err(KernelError::Singular {
                index: j,
                value: 0.0
            })
        );
    }
}

#[test]
fn incpiv_reports_non_finite_input() {
    for (i, j) in [(0, 0), (5, 1), (2, 6), (6, 6)] {
        let mut a = random(7, 7, 110);
        a[(i, j)] = f64::NAN;
        let f = factor(&a, 3);
        assert!(
            matches!(
                solve(&f, &random(7, 1, 5)),
                Err(KernelError::Singular { value, .. }) if value.is_nan()
            ),
            "NaN at ({i}, {j}) not reported"
        );
    }
}

// ---------------------------------------------------------------- shapes

fn shape_error_at<T: std::fmt::Debug>(result: Result<T, KernelError>, operand: usize) {
    match result {
        Err(KernelError::Shape(e)) => {
            assert_eq!(e.operand, operand, "wrong operand in: {}", e.message)
        }
        other => panic!("expected a shape error at operand {operand}, got {other:?}"),
    }
}

#[test]
fn bad_shapes_and_pivots_are_errors_not_panics() {
    let a3 = random(3, 3, 120);
    let (lu3, p3) = lu::getrf(a3.as_ref()).unwrap();
    let col = |values: &[f64]| Tile::from_fn(values.len(), 1, |i, _| values[i]);

    // gessm(lu, p, a)
    shape_error_at(
        lu::gessm(lu3.as_ref(), p3.as_ref(), random(4, 2, 1).as_ref()),
        2,
    );
    shape_error_at(
        lu::gessm(lu3.as_ref(), col(&[0.0, 1.0]).as_ref(), a3.as_ref()),
        1,
    );
    shape_error_at(
        lu::gessm(lu3.as_ref(), random(3, 2, 2).as_ref(), a3.as_ref()),
        1,
    );
    for bad in [
        [0.0, 1.5, 2.0],
        [0.0, -1.0, 2.0],
        [0.0, f64::NAN, 2.0],
        [0.0, 3.0, 2.0],
        [f64::INFINITY, 1.0, 2.0],
        [1e300, 1.0, 2.0],
    ] {
        shape_error_at(lu::gessm(lu3.as_ref(), col(&bad).as_ref(), a3.as_ref()), 1);
    }

    // tstrf(u, a)
    shape_error_at(
        lu::tstrf(random(3, 4, 3).as_ref(), random(2, 4, 4).as_ref()),
        0,
    );
    shape_error_at(lu::tstrf(a3.as_ref(), random(5, 2, 5).as_ref()), 1);

    // ssssm(a1, a2, l, lx, p)
    let (_, l, lx, p) = lu::tstrf(a3.as_ref(), random(5, 3, 6).as_ref()).unwrap();
    let (a1, a2) = (random(3, 4, 7), random(5, 4, 8));
    let ok = lu::ssssm(
        a1.as_ref(),
        a2.as_ref(),
        l.as_ref(),
        lx.as_ref(),
        p.as_ref(),
    );
    assert!(ok.is_ok());
    let r = |a1: &Tile, a2: &Tile, lx: &Tile, p: &Tile| {
        lu::ssssm(
            a1.as_ref(),
            a2.as_ref(),
            l.as_ref(),
            lx.as_ref(),
            p.as_ref(),
        )
    };
    shape_error_at(r(&random(2, 4, 9), &a2, &lx, &p), 0);
    shape_error_at(r(&a1, &random(4, 4, 9), &lx, &p), 1);
    shape_error_at(r(&a1, &random(5, 3, 9), &lx, &p), 1);
    shape_error_at(r(&a1, &a2, &random(3, 2, 9), &p), 3);
    shape_error_at(r(&a1, &a2, &lx, &col(&[0.0, 1.0])), 4);
    for bad in [
        [1.0, 1.0, 2.0], // another row of U
        [0.0, 1.0, 8.0], // past A's last row (n + m = 8)
        [0.0, 1.0, -3.0],
        [0.0, f64::NAN, 2.0],
        [0.0, 3.5, 2.0],
    ] {
        shape_error_at(r(&a1, &a2, &lx, &col(&bad)), 4);
    }
}

#[test]
fn flop_counts_match_the_lapack_formulas() {
    let n = 300.0_f64;
    let getrf = lu::flops_getrf(300, 300);
    assert!((getrf - (2.0 * n.powi(3) / 3.0 - n * n / 2.0 + 5.0 * n / 6.0)).abs() < 1e-6);
    assert_eq!(lu::flops_getrf(300, 100), lu::flops_getrf(100, 300));
    assert_eq!(lu::flops_gessm(300, 300, 300), n * n * (n - 1.0));
    assert_eq!(lu::flops_tstrf(300, 300), n.powi(3));
    assert_eq!(lu::flops_ssssm(300, 300, 300), 2.0 * n.powi(3));
    // The incpiv DAG on t x t tiles of b adds up to LU's 2N^3/3 at leading
    // order (t getrf, t(t-1)/2 gessm and tstrf, sum (t-k-1)^2 ssssm).
    let (t, b) = (40usize, 100usize);
    let mut total = 0.0;
    for k in 0..t {
        total += lu::flops_getrf(b, b);
        let r = (t - k - 1) as f64;
        total += r * (lu::flops_gessm(b, b, b) + lu::flops_tstrf(b, b));
        total += r * r * lu::flops_ssssm(b, b, b);
    }
    let big_n = (t * b) as f64;
    let lu_flops = 2.0 * big_n.powi(3) / 3.0;
    assert!(
        (total / lu_flops - 1.0).abs() < 0.05,
        "{total} vs {lu_flops}"
    );
}
