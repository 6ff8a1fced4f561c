//! Every kernel against an exact small case and against naive triple-loop
//! references on random tiles of several shapes (square, non-square, 1x1),
//! plus the errors a bad operand must give.
//!
//! Tolerances: the inputs are well conditioned (triangular factors and SPD
//! matrices are strictly diagonally dominant, condition number below 3), and
//! faer's kernels are backward stable, so the normwise relative error is
//! bounded by a small multiple of n * eps * cond, about 1e-13 for n = 100;
//! 1e-12 leaves room for the blocked summation orders without hiding a wrong
//! result (any real bug gives errors of order 1).

use faer::mat;
use lp_std::{Init, Kernel, KernelError, MatrixHeader, Shape, Tile};
use std::borrow::Cow;

/// X Lᵀ = B: the Cholesky's panel solve.
const TRSM_RLT: Kernel = Kernel::Trsm {
    left: false,
    lower: true,
    trans: true,
};
/// L X = B: forward substitution.
const TRSM_LLN: Kernel = Kernel::Trsm {
    left: true,
    lower: true,
    trans: false,
};

const TOL: f64 = 1e-12;

fn random(rows: usize, cols: usize, seed: u64) -> Tile {
    Init::Random { seed }.tile(&MatrixHeader::new([rows, cols], [rows, cols], false), 0, 0)
}

/// A well-conditioned lower-triangular factor: random strictly lower part
/// in [-1, 1), diagonal n + 1 (strictly diagonally dominant).
/// The upper triangle is filled with NaN to prove kernels never read it.
fn lower(n: usize, seed: u64) -> Tile {
    let mut l = random(n, n, seed);
    for j in 0..n {
        for i in 0..j {
            l[(i, j)] = f64::NAN;
        }
        l[(j, j)] = n as f64 + 1.0;
    }
    l
}

fn spd(n: usize, seed: u64) -> Tile {
    Init::Spd { seed }.tile(&MatrixHeader::new([n, n], [n, n], true), 0, 0)
}

/// The lower triangle, with exact zeros above.
fn tril(a: &Tile) -> Tile {
    Tile::from_fn(
        a.nrows(),
        a.ncols(),
        |i, j| if i >= j { a[(i, j)] } else { 0.0 },
    )
}

fn naive_matmul(a: &Tile, b: &Tile) -> Tile {
    assert_eq!(a.ncols(), b.nrows());
    let mut c = Tile::zeros(a.nrows(), b.ncols());
    for i in 0..a.nrows() {
        for j in 0..b.ncols() {
            let mut s = 0.0;
            for k in 0..a.ncols() {
                s += a[(i, k)] * b[(k, j)];
            }
            c[(i, j)] = s;
        }
    }
    c
}

fn transpose(a: &Tile) -> Tile {
    a.transpose().to_owned()
}

/// Naive Cholesky (Cholesky-Banachiewicz) on the lower triangle.
fn naive_cholesky(a: &Tile) -> Tile {
    let n = a.nrows();
    let mut l = Tile::zeros(n, n);
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[(i, k)] * l[(j, k)]).sum();
            if i == j {
                l[(i, i)] = (a[(i, i)] - s).sqrt();
            } else {
                l[(i, j)] = (a[(i, j)] - s) / l[(j, j)];
            }
        }
    }
    l
}

/// Naive forward substitution: X with L X = B.
fn naive_forward(l: &Tile, b: &Tile) -> Tile {
    let mut x = Tile::zeros(b.nrows(), b.ncols());
    for c in 0..b.ncols() {
        for i in 0..b.nrows() {
            let s: f64 = (0..i).map(|k| l[(i, k)] * x[(k, c)]).sum();
            x[(i, c)] = (b[(i, c)] - s) / l[(i, i)];
        }
    }
    x
}

fn max_abs(a: &Tile) -> f64 {
    let mut m = 0.0f64;
    for j in 0..a.ncols() {
        for i in 0..a.nrows() {
            m = m.max(a[(i, j)].abs());
        }
    }
    m
}

/// max |got - want| / max |want| (1 when want is zero), NaN-propagating.
fn rel_err(got: &Tile, want: &Tile) -> f64 {
    assert_eq!(
        (got.nrows(), got.ncols()),
        (want.nrows(), want.ncols()),
        "shapes differ"
    );
    let mut e = 0.0f64;
    for j in 0..got.ncols() {
        for i in 0..got.nrows() {
            let d = (got[(i, j)] - want[(i, j)]).abs();
            if d.is_nan() {
                return f64::NAN;
            }
            e = e.max(d);
        }
    }
    let scale = max_abs(want);
    e / if scale == 0.0 { 1.0 } else { scale }
}

fn assert_close(what: &str, got: &Tile, want: &Tile) {
    let e = rel_err(got, want);
    assert!(e < TOL, "{what}: relative error {e:e} exceeds {TOL:e}");
}

fn assert_upper_zero(what: &str, l: &Tile) {
    for j in 0..l.ncols() {
        for i in 0..j.min(l.nrows()) {
            assert_eq!(l[(i, j)], 0.0, "{what}: upper entry ({i}, {j}) is not zero");
        }
    }
}

fn apply(k: Kernel, args: &[&Tile]) -> Tile {
    k.apply(args)
        .map(|mut results| results.remove(0))
        .unwrap_or_else(|e| panic!("{} failed: {e}", k.name()))
}

const SIZES: [usize; 4] = [1, 7, 64, 100];
/// (rows, cols) of the right-hand sides: square, non-square, 1x1.
const RHS: [(usize, usize); 4] = [(1, 1), (7, 5), (64, 64), (100, 37)];

#[test]
fn chol_exact_small_case() {
    let a = mat![
        [4.0, 12.0, -16.0],
        [12.0, 37.0, -43.0],
        [-16.0, -43.0, 98.0]
    ];
    let want = mat![[2.0, 0.0, 0.0], [6.0, 1.0, 0.0], [-8.0, 5.0, 3.0]];
    assert_eq!(apply(Kernel::Chol, &[&a]), want);
}

#[test]
fn chol_reads_only_the_lower_triangle() {
    let mut a = mat![
        [4.0, 12.0, -16.0],
        [12.0, 37.0, -43.0],
        [-16.0, -43.0, 98.0]
    ];
    a[(0, 1)] = f64::NAN;
    a[(0, 2)] = 1e300;
    a[(1, 2)] = -7.0;
    let want = mat![[2.0, 0.0, 0.0], [6.0, 1.0, 0.0], [-8.0, 5.0, 3.0]];
    assert_eq!(apply(Kernel::Chol, &[&a]), want);
}

#[test]
fn chol_random_spd_against_reference() {
    for (seed, n) in SIZES.into_iter().enumerate() {
        let a = spd(n, seed as u64);
        let l = apply(Kernel::Chol, &[&a]);
        assert_upper_zero("CHOL", &l);
        assert_close(
            &format!("CHOL {n}: L L^T = A"),
            &naive_matmul(&l, &transpose(&l)),
            &a,
        );
        assert_close(&format!("CHOL {n}: naive factor"), &l, &naive_cholesky(&a));
    }
}

#[test]
fn invrs_exact_small_case() {
    let l = mat![
        [2.0, f64::NAN, f64::NAN],
        [6.0, 1.0, f64::NAN],
        [-8.0, 5.0, 4.0]
    ];
    // By hand: column 0 of the inverse solves L x = e0: x = (1/2, -3, (8/2 - 5*(-3))/4).
    let want = mat![[0.5, 0.0, 0.0], [-3.0, 1.0, 0.0], [4.75, -1.25, 0.25]];
    assert_eq!(apply(Kernel::Invrs, &[&l]), want);
}

#[test]
fn invrs_random_against_reference() {
    for (seed, n) in SIZES.into_iter().enumerate() {
        let l = lower(n, seed as u64);
        let inv = apply(Kernel::Invrs, &[&l]);
        assert_upper_zero("INVRS", &inv);
        let identity = Tile::identity(n, n);
        assert_close(
            &format!("INVRS {n}: L inv = I"),
            &naive_matmul(&tril(&l), &inv),
            &identity,
        );
        assert_close(
            &format!("INVRS {n}: naive"),
            &inv,
            &naive_forward(&l, &identity),
        );
    }
}

#[test]
fn trsm_exact_small_case() {
    // X L^T = B with L = [[2, 0], [6, 1]] and X = [[1, 2], [3, 4], [0.5, -1]].
    let l = mat![[2.0, f64::NAN], [6.0, 1.0]];
    let x = mat![[1.0, 2.0], [3.0, 4.0], [0.5, -1.0]];
    let b = mat![[2.0, 8.0], [6.0, 22.0], [1.0, 2.0]];
    assert_eq!(apply(TRSM_RLT, &[&b, &l]), x);
}

#[test]
fn trsm_random_against_reference() {
    for (seed, (m, n)) in RHS.into_iter().enumerate() {
        let b = random(m, n, 100 + seed as u64);
        let l = lower(n, seed as u64);
        let x = apply(TRSM_RLT, &[&b, &l]);
        let what = format!("TRSM_RLT B {m}x{n}");
        assert_close(
            &format!("{what}: X L^T = B"),
            &naive_matmul(&x, &transpose(&tril(&l))),
            &b,
        );
        // X^T solves L X^T = B^T.
        assert_close(
            &format!("{what}: naive"),
            &x,
            &transpose(&naive_forward(&l, &transpose(&b))),
        );
    }
}

#[test]
fn trsm_l_exact_small_case() {
    // L X = B with L = [[2, 0], [6, 1]], X = [[1, 2, 3], [4, 5, -6]].
    let l = mat![[2.0, f64::NAN], [6.0, 1.0]];
    let x = mat![[1.0, 2.0, 3.0], [4.0, 5.0, -6.0]];
    let b = mat![[2.0, 4.0, 6.0], [10.0, 17.0, 12.0]];
    assert_eq!(apply(TRSM_LLN, &[&b, &l]), x);
}

#[test]
fn trsm_l_random_against_reference() {
    for (seed, (m, n)) in RHS.into_iter().enumerate() {
        let b = random(m, n, 200 + seed as u64);
        let l = lower(m, seed as u64);
        let x = apply(TRSM_LLN, &[&b, &l]);
        let what = format!("TRSM_LLN B {m}x{n}");
        assert_close(
            &format!("{what}: L X = B"),
            &naive_matmul(&tril(&l), &x),
            &b,
        );
        assert_close(&format!("{what}: naive"), &x, &naive_forward(&l, &b));
    }
}

#[test]
fn syrk_exact_small_case() {
    let c = mat![[10.0, 20.0], [30.0, 40.0], [50.0, 60.0]];
    let a = mat![[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]];
    let b = mat![[1.0, 0.0], [0.0, 1.0]];
    // A B^T = A: C - A.
    let want = mat![[9.0, 18.0], [27.0, 36.0], [45.0, 54.0]];
    assert_eq!(apply(Kernel::Syrk, &[&c, &a, &b]), want);
}

/// (m, k, n): op(A) is m x k, op(B) is k x n. The last has every dimension
/// past 128, from which AVX-512 hosts run products on the `gemm` crate
/// rather than faer (Intel's every product, Zen 4's those from a
/// transposed B: `src/kernel/faer_level3.rs`), ragged to both crates'
/// register blocks.
const PRODUCTS: [(usize, usize, usize); 6] = [
    (1, 1, 1),
    (7, 5, 3),
    (64, 64, 64),
    (100, 37, 51),
    (3, 0, 4),
    (130, 257, 129),
];

#[test]
fn syrk_random_against_reference() {
    for (seed, (m, k, n)) in PRODUCTS.into_iter().enumerate() {
        let s = 300 + 3 * seed as u64;
        let (c, a, b) = (random(m, n, s), random(m, k, s + 1), random(n, k, s + 2));
        let got = apply(Kernel::Syrk, &[&c, &a, &b]);
        let want = &c - naive_matmul(&a, &transpose(&b));
        assert_close(&format!("SYRK {m}x{k}x{n}"), &got, &want);
    }
}

#[test]
fn gemm_variants_exact_small_case() {
    let a = mat![[1.0, 2.0], [3.0, 4.0]];
    let b = mat![[5.0, 6.0], [7.0, 8.0]];
    let c = mat![[1.0, 1.0], [1.0, -1.0]];
    let cases = [
        ("GEMM", mat![[19.0, 22.0], [43.0, 50.0]]),
        ("GEMM_NT", mat![[17.0, 23.0], [39.0, 53.0]]),
        ("GEMM_TN", mat![[26.0, 30.0], [38.0, 44.0]]),
        ("GEMM_TT", mat![[23.0, 31.0], [34.0, 46.0]]),
    ];
    for (name, product) in cases {
        let k = Kernel::from_name(name).unwrap();
        assert_eq!(apply(k, &[&a, &b]), product, "{name} a, b");
        assert_eq!(apply(k, &[&c, &a, &b]), &c + &product, "{name} c, a, b");
        let sub = name.replacen("GEMM", "GEMM_SUB", 1);
        let k = Kernel::from_name(&sub).unwrap();
        assert_eq!(apply(k, &[&c, &a, &b]), &c - &product, "{sub} c, a, b");
        assert_eq!(
            shape_message(k, &[&a, &b]),
            format!("{sub} takes 3 operands, found 2")
        );
    }
}

#[test]
fn gemm_variants_random_against_reference() {
    for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
        let kernel = Kernel::Gemm { ta, tb, sub: false };
        let minus = Kernel::Gemm { ta, tb, sub: true };
        for (seed, (m, k, n)) in PRODUCTS.into_iter().enumerate() {
            let s = 400 + 3 * seed as u64;
            // Store the operands so that op() gives m x k and k x n.
            let a = if ta { random(k, m, s) } else { random(m, k, s) };
            let b = if tb {
                random(n, k, s + 1)
            } else {
                random(k, n, s + 1)
            };
            let c = random(m, n, s + 2);
            let op = |x: &Tile, t: bool| if t { transpose(x) } else { x.clone() };
            let product = naive_matmul(&op(&a, ta), &op(&b, tb));
            let what = format!("{} {m}x{k}x{n}", kernel.name());
            assert_close(&format!("{what} a, b"), &apply(kernel, &[&a, &b]), &product);
            assert_close(
                &format!("{what} c, a, b"),
                &apply(kernel, &[&c, &a, &b]),
                &(&c + &product),
            );
            assert_close(
                &format!("{} {m}x{k}x{n}", minus.name()),
                &apply(minus, &[&c, &a, &b]),
                &(&c - &product),
            );
        }
    }
}

#[test]
fn add_sub_exact_and_random() {
    let a = mat![[1.0, 2.5], [-3.0, 4.0]];
    let b = mat![[0.5, 0.5], [1.0, -4.0]];
    assert_eq!(apply(Kernel::Add, &[&a, &b]), mat![[1.5, 3.0], [-2.0, 0.0]]);
    assert_eq!(apply(Kernel::Sub, &[&a, &b]), mat![[0.5, 2.0], [-4.0, 8.0]]);
    for (seed, (m, n)) in RHS.into_iter().enumerate() {
        let (a, b) = (
            random(m, n, 500 + seed as u64),
            random(m, n, 600 + seed as u64),
        );
        let add = apply(Kernel::Add, &[&a, &b]);
        let sub = apply(Kernel::Sub, &[&a, &b]);
        for j in 0..n {
            for i in 0..m {
                // One rounding each: element-wise results are exact to the bit.
                assert_eq!(add[(i, j)], a[(i, j)] + b[(i, j)]);
                assert_eq!(sub[(i, j)], a[(i, j)] - b[(i, j)]);
            }
        }
    }
}

#[test]
fn chol_not_spd_names_pivot_and_value() {
    let a = mat![[1.0, 2.0], [2.0, 1.0]];
    let err = Kernel::Chol.apply(&[&a]).unwrap_err();
    // Schur complement at pivot 1: 1 - 2 * 2 / 1 = -3.
    assert_eq!(
        err,
        KernelError::NotPositiveDefinite {
            pivot: 1,
            value: -3.0
        }
    );
    assert_eq!(
        err.to_string(),
        "matrix is not positive definite (pivot 1 is -3e0)"
    );
}

#[test]
fn chol_not_spd_deep_in_a_blocked_factorisation() {
    // A large tile with one bad diagonal entry: faer fails inside a block,
    // and the reported value must be the true Schur complement entry.
    let n = 100;
    let bad = 70;
    let mut a = spd(n, 9);
    a[(bad, bad)] = 0.1;
    let err = Kernel::Chol.apply(&[&a]).unwrap_err();
    let KernelError::NotPositiveDefinite { pivot, value } = err else {
        panic!("expected NotPositiveDefinite, got {err:?}");
    };
    assert_eq!(pivot, bad);
    let l = naive_cholesky(&a);
    let want = a[(bad, bad)] - (0..bad).map(|k| l[(bad, k)] * l[(bad, k)]).sum::<f64>();
    assert!(want < 0.0, "the reference pivot {want} should be negative");
    assert!(
        (value - want).abs() < 1e-10 * want.abs(),
        "pivot value {value}, want {want}"
    );
}

#[test]
fn chol_nan_input_is_an_error_not_a_nan_result() {
    let a = mat![[f64::NAN, 0.0], [0.0, 1.0]];
    let err = Kernel::Chol.apply(&[&a]).unwrap_err();
    assert!(
        matches!(err, KernelError::NotPositiveDefinite { pivot: 0, value } if value.is_nan()),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "pivot 0 is NaN: the matrix holds a NaN or an infinity, or its factorization overflowed"
    );
}

#[test]
fn singular_triangular_factors_are_errors() {
    let l = mat![[2.0, 0.0, 0.0], [1.0, 3.0, 0.0], [1.0, 1.0, 0.0]];
    let b = Tile::ones(3, 3);
    let want = KernelError::Singular {
        index: 2,
        value: 0.0,
    };
    assert_eq!(Kernel::Invrs.apply(&[&l]).unwrap_err(), want);
    assert_eq!(TRSM_RLT.apply(&[&b, &l]).unwrap_err(), want);
    assert_eq!(TRSM_LLN.apply(&[&b, &l]).unwrap_err(), want);
    assert_eq!(
        want.to_string(),
        "triangular factor is singular (diagonal entry 2 is 0e0)"
    );
    let l = mat![[f64::INFINITY]];
    assert_eq!(
        Kernel::Invrs.apply(&[&l]).unwrap_err().to_string(),
        "diagonal entry 0 of the triangular factor is inf: it holds a NaN or an infinity, \
         or its factorization overflowed"
    );
}

fn shape_message(k: Kernel, args: &[&Tile]) -> String {
    match k.apply(args) {
        Err(KernelError::Shape(e)) => e.message,
        other => panic!("{}: expected a shape error, got {other:?}", k.name()),
    }
}

#[test]
fn bad_operands_are_shape_errors() {
    let sq = Tile::zeros(3, 3);
    let wide = Tile::zeros(3, 5);
    assert_eq!(
        shape_message(Kernel::Chol, &[&wide]),
        "the matrix to factor must be a square tile, found 3x5"
    );
    assert_eq!(
        shape_message(Kernel::Invrs, &[&wide]),
        "the triangular factor must be a square tile, found 3x5"
    );
    assert_eq!(
        shape_message(TRSM_RLT, &[&wide, &sq]),
        "X L^T = B needs B to have as many columns as L has rows: B is 3x5, L is 3x3"
    );
    assert_eq!(
        shape_message(TRSM_LLN, &[&sq, &Tile::zeros(4, 4)]),
        "L X = B needs B to have as many rows as L: B is 3x3, L is 4x4"
    );
    assert_eq!(
        shape_message(Kernel::Syrk, &[&sq, &sq, &wide]),
        "A B^T needs A and B to have the same number of columns: A is 3x3, B is 3x5"
    );
    assert_eq!(
        shape_message(
            Kernel::Gemm {
                ta: false,
                tb: false,
                sub: false,
            },
            &[&wide, &wide]
        ),
        "A B needs the inner dimensions to agree: op(A) is 3x5, op(B) is 3x5"
    );
    assert_eq!(
        shape_message(
            Kernel::Gemm {
                ta: true,
                tb: false,
                sub: false,
            },
            &[&sq, &wide, &sq]
        ),
        "C + A^T B needs C to be 5x3, found 3x3"
    );
    assert_eq!(
        shape_message(
            Kernel::from_name("GEMM_SUB_TN").unwrap(),
            &[&sq, &wide, &sq]
        ),
        "C - A^T B needs C to be 5x3, found 3x3"
    );
    assert_eq!(
        shape_message(Kernel::Add, &[&sq, &wide]),
        "element-wise ADD needs equal shapes: 3x3 and 3x5"
    );
    assert_eq!(
        shape_message(
            Kernel::Gemm {
                ta: false,
                tb: false,
                sub: false,
            },
            &[&sq, &sq, &sq, &sq]
        ),
        "GEMM takes 2 or 3 operands, found 4"
    );
    assert_eq!(
        shape_message(Kernel::Chol, &[]),
        "CHOL takes 1 operand, found 0"
    );
    let err = Kernel::Sub.apply(&[&sq]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "operand shapes do not fit: SUB takes 2 operands, found 1"
    );
}

#[test]
fn apply_agrees_with_result_shapes() {
    // apply and the static checker agree on every kernel's result shape.
    let (a, b, c) = (random(4, 3, 1), random(3, 3, 2), random(4, 3, 3));
    let l = lower(3, 4);
    let c4 = Tile::zeros(4, 4);
    let cases: Vec<(Kernel, Vec<&Tile>)> = vec![
        (TRSM_RLT, vec![&a, &l]),
        (Kernel::Syrk, vec![&c4, &a, &c]),
        (
            Kernel::Gemm {
                ta: false,
                tb: false,
                sub: false,
            },
            vec![&a, &b],
        ),
        (
            Kernel::Gemm {
                ta: true,
                tb: false,
                sub: false,
            },
            vec![&a, &c],
        ),
        (Kernel::Add, vec![&a, &c]),
    ];
    for (k, args) in cases {
        let shapes: Vec<Shape> = args
            .iter()
            .map(|t| Shape::new(t.nrows(), t.ncols()))
            .collect();
        let want = k.result_shapes(&shapes).unwrap()[0];
        let got = apply(k, &args);
        assert_eq!(Shape::new(got.nrows(), got.ncols()), want, "{}", k.name());
    }
}

#[test]
fn large_products_with_transposed_b_against_reference() {
    // SYRK, GEMM_NT and GEMM_TT copy B^T to column-major when B's columns
    // are 512 or 1024 entries apart (from 512 on hosts without AVX-512) and
    // the product is too small for the `gemm` crate: cover that path with
    // non-square shapes. Only B (n x k) must be large; a short A keeps the
    // reference cheap (and the product off the crate).
    let (m, k, n) = (9, 390, 512);
    let s = 700;
    let c = random(m, n, s);
    let a = random(m, k, s + 1);
    let at = transpose(&a);
    let b = random(n, k, s + 2);
    let product = naive_matmul(&a, &transpose(&b));
    assert_close(
        "SYRK large",
        &apply(Kernel::Syrk, &[&c, &a, &b]),
        &(&c - &product),
    );
    let nt = Kernel::Gemm {
        ta: false,
        tb: true,
        sub: false,
    };
    let tt = Kernel::Gemm {
        ta: true,
        tb: true,
        sub: false,
    };
    assert_close("GEMM_NT large", &apply(nt, &[&a, &b]), &product);
    assert_close(
        "GEMM_NT large c",
        &apply(nt, &[&c, &a, &b]),
        &(&c + &product),
    );
    assert_close(
        "GEMM_TT large",
        &apply(tt, &[&c, &at, &b]),
        &(&c + &product),
    );
    assert_close(
        "GEMM_SUB_NT large",
        &apply(Kernel::from_name("GEMM_SUB_NT").unwrap(), &[&c, &a, &b]),
        &(&c - &product),
    );
}

/// Upper triangle of `a` (exact zeros below).
fn triu(a: &Tile) -> Tile {
    transpose(&tril(&transpose(a)))
}

#[test]
fn every_triangular_solve_against_reference() {
    // Each of the eight TRSM_{side}{uplo}{trans} on a ragged right-hand
    // side: the factor's other triangle is NaN (never read), and the
    // residual of the equation the name states is checked. A right-hand
    // side of 1536 rows takes the right solves' copied-transpose path on
    // hosts without AVX-512 (kernel/faer_level3.rs).
    for (m, n) in [(37, 23), (1536, 7)] {
        for left in [true, false] {
            for lower in [true, false] {
                for trans in [false, true] {
                    let k = Kernel::Trsm { left, lower, trans };
                    if left && m > 64 {
                        continue; // a 1536 x 1536 factor: slow, and no copy
                    }
                    let b = random(m, n, 300);
                    let size = if left { m } else { n };
                    let l = self::lower(size, 7);
                    // An upper factor: the transpose of a lower one, NaN below.
                    let t = if lower {
                        l.clone()
                    } else {
                        Tile::from_fn(size, size, |i, j| if i <= j { l[(j, i)] } else { f64::NAN })
                    };
                    let clean = if lower { tril(&t) } else { triu(&t) };
                    let op = if trans { transpose(&clean) } else { clean };
                    let x = apply(k, &[&b, &t]);
                    let product = if left {
                        naive_matmul(&op, &x)
                    } else {
                        naive_matmul(&x, &op)
                    };
                    assert_close(k.name(), &product, &b);
                }
            }
        }
    }
}

#[test]
fn triangular_solve_names_are_systematic() {
    let names: Vec<&str> = lp_std::kernel::ALL_KERNELS
        .iter()
        .filter(|k| matches!(k, Kernel::Trsm { .. }))
        .map(|k| k.name())
        .collect();
    assert_eq!(
        names,
        [
            "TRSM_LLN", "TRSM_LLT", "TRSM_LUN", "TRSM_LUT", "TRSM_RLN", "TRSM_RLT", "TRSM_RUN",
            "TRSM_RUT"
        ]
    );
    for name in names {
        assert_eq!(Kernel::from_name(name).map(Kernel::name), Some(name));
    }
}

/// Every kernel's times go under its name, a symmetric `SYRK`'s under
/// `SYRK (A Aᵀ)`, and each name reads back as what it stands for (a
/// simulator model's rate tables are keyed by these names).
#[test]
fn timed_names_read_back() {
    for k in lp_std::kernel::ALL_KERNELS {
        for symmetric in [false, true] {
            let name = k.timed_as(symmetric);
            let symmetric = symmetric && k == Kernel::Syrk;
            assert_eq!(Kernel::from_timed_as(name), Some((k, symmetric)), "{name}");
        }
    }
    assert_eq!(Kernel::Syrk.timed_as(true), "SYRK (A Aᵀ)");
    assert_eq!(Kernel::from_timed_as("SYRK (A A^T)"), None);
}

/// Applies `k` to `args` and checks its results against the shapes and the
/// result count the checker uses (`result_shapes`, `result_names`).
fn apply_checking_shapes(k: Kernel, args: &[&Tile]) -> Vec<Tile> {
    let shape = |t: &Tile| Shape::new(t.nrows(), t.ncols());
    let want = k.result_shapes(&args.iter().map(|t| shape(t)).collect::<Vec<_>>());
    let got = k
        .apply(args)
        .unwrap_or_else(|e| panic!("{}: {e}", k.name()));
    assert_eq!(
        got.iter().map(shape).collect::<Vec<_>>(),
        want.unwrap(),
        "{}",
        k.name()
    );
    assert_eq!(got.len(), k.result_names().len(), "{}", k.name());
    got
}

#[test]
fn lu_kernels_agree_with_their_result_shapes() {
    // A ragged pair of tiles as in a tiled LU: the diagonal tile 5x5, the
    // tile below it 3x5, the tiles right of them 5x4 and 3x4.
    let (d, below, right, corner) = (
        random(5, 5, 1),
        random(3, 5, 2),
        random(5, 4, 3),
        random(3, 4, 4),
    );
    let lup = apply_checking_shapes(Kernel::Getrf, &[&d]);
    apply_checking_shapes(Kernel::Gessm, &[&lup[0], &lup[1], &right]);
    let t = apply_checking_shapes(Kernel::Tstrf, &[&lup[0], &below]);
    apply_checking_shapes(Kernel::Ssssm, &[&right, &corner, &t[1], &t[2]]);
    let u = apply_checking_shapes(Kernel::Triu, &[&t[0]]);
    assert_upper_zero_below(&u[0]);
    assert_eq!(
        shape_message(Kernel::Gessm, &[&lup[0], &Tile::zeros(4, 1), &right]),
        "the pivots of a 5x5 factor are 5x1, found 4x1"
    );
    assert_eq!(
        shape_message(Kernel::Ssssm, &[&corner, &corner, &t[1], &t[2]]),
        "SSSSM needs A1 to have a row per column of L: A1 is 3x4, A2 is 3x4, L is 3x5, LX is 5x5"
    );
}

#[test]
fn triu_refuses_a_singular_factor_and_names_the_entry() {
    let u = mat![[2.0, 1.0], [7.0, 0.0]];
    assert_eq!(
        Kernel::Triu.apply(&[&u]).unwrap_err(),
        KernelError::Singular {
            index: 1,
            value: 0.0
        }
    );
    let u = mat![[2.0, 1.0], [7.0, 3.0]];
    assert_eq!(apply(Kernel::Triu, &[&u]), mat![[2.0, 1.0], [0.0, 3.0]]);
}

fn assert_upper_zero_below(u: &Tile) {
    for j in 0..u.ncols() {
        for i in j + 1..u.nrows() {
            assert_eq!(u[(i, j)], 0.0, "entry ({i}, {j}) below the diagonal");
        }
    }
}

#[test]
fn qr_kernels_agree_with_their_result_shapes() {
    // A tall diagonal tile (7x5, as the last column of a ragged QR with
    // m > n), a short tile below it (3x5), and tiles right of them (7x4,
    // 3x4).
    let (d, below, right, corner) = (
        random(7, 5, 1),
        random(3, 5, 2),
        random(7, 4, 3),
        random(3, 4, 4),
    );
    let [ormqr_n, ormqr_t, tsmqr_n, tsmqr_t] =
        ["ORMQR_N", "ORMQR_T", "TSMQR_N", "TSMQR_T"].map(|n| Kernel::from_name(n).unwrap());
    let vtr = apply_checking_shapes(Kernel::Geqrt, &[&d]);
    let c = apply_checking_shapes(ormqr_t, &[&vtr[0], &vtr[1], &right]);
    // Q (Qᵀ C) = C.
    assert_close(
        "ORMQR_N after ORMQR_T",
        &apply_checking_shapes(ormqr_n, &[&vtr[0], &vtr[1], &c[0]])[0],
        &right,
    );
    let rvt = apply_checking_shapes(Kernel::Tsqrt { triangle: false }, &[&vtr[2], &below]);
    let pair = apply_checking_shapes(tsmqr_t, &[&c[0], &corner, &rvt[1], &rvt[2]]);
    let back = apply_checking_shapes(tsmqr_n, &[&pair[0], &pair[1], &rvt[1], &rvt[2]]);
    assert_close("TSMQR_N after TSMQR_T", &back[1], &corner);
    assert_eq!(
        shape_message(ormqr_t, &[&vtr[0], &vtr[1], &corner]),
        "Q C needs C to have as many rows as V: C is 3x4, V is 7x5"
    );
    assert_eq!(
        shape_message(tsmqr_t, &[&c[0], &corner, &rvt[1], &vtr[0]]),
        "TSMQR needs T to be k x k for the k = 5 columns of V: T is 7x5"
    );
}

/// A symmetric tile given by its lower triangle: the upper one mirrors it.
fn symmetric_from_lower(a: &Tile) -> Tile {
    Tile::from_fn(a.nrows(), a.ncols(), |i, j| a[(i.max(j), i.min(j))])
}

/// (m, k) of a symmetric SYRK: C is m x m, A is m x k. 1024 x 9 takes the
/// copied-transpose path (columns 1024 apart), and so does 1100 x 7
/// everywhere but on Zen 4, which reads the view there; 3 x 0 has no inner
/// dimension.
const SYMMETRIC: [(usize, usize); 7] = [
    (1, 1),
    (7, 5),
    (64, 64),
    (100, 37),
    (3, 0),
    (1024, 9),
    (1100, 7),
];

#[test]
fn syrk_of_one_tile_is_the_symmetric_update_from_the_lower_triangle() {
    for (seed, (m, k)) in SYMMETRIC.into_iter().enumerate() {
        let s = 800 + 2 * seed as u64;
        let a = random(m, k, s);
        // C's upper triangle is NaN: a symmetric update must not read it.
        let lower = random(m, m, s + 1);
        let c = Tile::from_fn(m, m, |i, j| if i >= j { lower[(i, j)] } else { f64::NAN });
        let got = apply(Kernel::Syrk, &[&c, &a, &a]);
        let want = symmetric_from_lower(&lower) - naive_matmul(&a, &transpose(&a));
        assert_close(&format!("symmetric SYRK {m}x{k}"), &got, &want);
        assert_eq!(
            got,
            transpose(&got),
            "symmetric SYRK {m}x{k}: not symmetric"
        );
    }
}

#[test]
fn syrk_of_two_tiles_with_equal_values_is_the_general_update() {
    // Only the same tile makes the update symmetric: a copy of A is another
    // tile, and C's upper triangle (here not C's lower one mirrored) is used.
    let (m, k) = (100, 37);
    let (c, a) = (random(m, m, 820), random(m, k, 821));
    let copy = a.clone();
    let got = apply(Kernel::Syrk, &[&c, &a, &copy]);
    assert_close(
        "SYRK of equal tiles",
        &got,
        &(&c - naive_matmul(&a, &transpose(&a))),
    );
}

#[test]
fn flops_count_the_symmetric_update_as_its_lower_triangle() {
    let shapes = [
        Shape::new(100, 100),
        Shape::new(100, 37),
        Shape::new(100, 37),
    ];
    assert_eq!(Kernel::Syrk.symmetric_pair(), Some((1, 2)));
    assert_eq!(Kernel::Syrk.flops(&shapes, |_, _| false), 740_000.0);
    assert_eq!(
        Kernel::Syrk.flops(&shapes, |x, y| (x, y) == (1, 2)),
        370_000.0
    );
    let gemm = Kernel::Gemm {
        ta: false,
        tb: true,
        sub: false,
    };
    assert_eq!(gemm.symmetric_pair(), None);
    assert_eq!(gemm.flops(&shapes, |_, _| true), 740_000.0);
}

/// The reusing kernels on a handed-over operand 0 and the others shared:
/// the result must be what `apply` computes, to the bit, in operand 0's
/// buffer (no copy).
fn assert_computed_in_place(what: &str, k: Kernel, args: &[&Tile]) {
    assert_computed_in(what, k, args, 0);
}

/// The same with operand `given` handed over instead.
fn assert_computed_in(what: &str, k: Kernel, args: &[&Tile], given: usize) {
    assert_computed_in_buffers(what, k, args, &[(given, 0)]);
}

/// The operands named by `moves` handed over, the others shared: every
/// result must be what `apply` computes, to the bit, and each `(operand,
/// result)` of `moves` must be that result computed in that operand's
/// buffer.
fn assert_computed_in_buffers(what: &str, k: Kernel, args: &[&Tile], moves: &[(usize, usize)]) {
    let want = k.apply(args).unwrap_or_else(|e| panic!("{what}: {e}"));
    let mut operands: Vec<Cow<'_, Tile>> = args.iter().map(|&t| Cow::Borrowed(t)).collect();
    let mut buffers = Vec::new();
    for &(given, result) in moves {
        let mine = args[given].clone();
        buffers.push((mine.as_ptr(), result));
        operands[given] = Cow::Owned(mine);
    }
    let got = k
        .apply_reusing(operands)
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(got, want, "{what}: differs from apply");
    for (buffer, result) in buffers {
        assert_eq!(
            got[result].as_ptr(),
            buffer,
            "{what}: result {result} not computed in place"
        );
    }
}

#[test]
fn lu_and_qr_kernels_compute_in_the_tiles_they_transform() {
    // Ragged shapes, and 1024 columns for the LU's and QR's wider panels
    // (`inner_block`).
    for (m, n, nc) in [(51, 37, 23), (1030, 1024, 9)] {
        let a = random(n, n, 920);
        let below = random(m, n, 921);
        let right = random(n, nc, 922);
        let right_below = random(m, nc, 923);
        let what = |name: &str| format!("{name} {m}x{n} on {nc} columns");
        let k = |name: &str| Kernel::from_name(name).unwrap();

        assert_computed_in_buffers(&what("GETRF"), k("GETRF"), &[&a], &[(0, 0)]);
        let [lu, p] = <[Tile; 2]>::try_from(k("GETRF").apply(&[&a]).unwrap()).unwrap();
        assert_computed_in_buffers(&what("GESSM"), k("GESSM"), &[&lu, &p, &right], &[(2, 0)]);
        let u = transpose(&lower(n, 924));
        let tstrf = [&u, &below];
        assert_computed_in_buffers(&what("TSTRF"), k("TSTRF"), &tstrf, &[(0, 0), (1, 1)]);
        let [_, l, lx] = <[Tile; 3]>::try_from(k("TSTRF").apply(&tstrf).unwrap()).unwrap();
        let ssssm = [&right, &right_below, &l, &lx];
        assert_computed_in_buffers(&what("SSSSM"), k("SSSSM"), &ssssm, &[(0, 0), (1, 1)]);

        // GEQRT's buffer becomes V when the tile is tall, R when it is wide.
        assert_computed_in_buffers(&what("GEQRT"), k("GEQRT"), &[&below], &[(0, 0)]);
        let wide = transpose(&below);
        assert_computed_in_buffers(&what("GEQRT wide"), k("GEQRT"), &[&wide], &[(0, 2)]);
        let [v, t, _] = <[Tile; 3]>::try_from(k("GEQRT").apply(&[&below]).unwrap()).unwrap();
        for name in ["ORMQR_T", "ORMQR_N"] {
            let ormqr = [&v, &t, &right_below];
            assert_computed_in_buffers(&what(name), k(name), &ormqr, &[(2, 0)]);
        }
        let tsqrt = [&u, &below];
        assert_computed_in_buffers(&what("TSQRT"), k("TSQRT"), &tsqrt, &[(0, 0), (1, 1)]);
        assert_computed_in_buffers(&what("TTQRT"), k("TTQRT"), &tsqrt, &[(0, 0), (1, 1)]);
        let [_, v, t] = <[Tile; 3]>::try_from(k("TSQRT").apply(&tsqrt).unwrap()).unwrap();
        for name in ["TSMQR_T", "TSMQR_N"] {
            let tsmqr = [&right, &right_below, &v, &t];
            assert_computed_in_buffers(&what(name), k(name), &tsmqr, &[(0, 0), (1, 1)]);
        }
    }
}

#[test]
fn handed_over_operands_take_the_result() {
    // Ragged and non-square shapes; B with 512 rows reaches the copied Bᵀ.
    let (m, k, n) = (100, 37, 51);
    let (c, a, b) = (random(m, n, 900), random(m, k, 901), random(n, k, 902));
    assert_computed_in_place("SYRK", Kernel::Syrk, &[&c, &a, &b]);
    let (big_c, big_a, big_b) = (
        random(512, 512, 903),
        random(512, 37, 904),
        random(512, 37, 912),
    );
    assert_computed_in_place("SYRK large", Kernel::Syrk, &[&big_c, &big_a, &big_b]);
    assert_computed_in_place("symmetric SYRK", Kernel::Syrk, &[&big_c, &big_a, &big_a]);
    let (huge_c, huge_a) = (random(1024, 1024, 913), random(1024, 9, 914));
    assert_computed_in_place(
        "symmetric SYRK 1024",
        Kernel::Syrk,
        &[&huge_c, &huge_a, &huge_a],
    );
    for (ta, tb, sub) in (0..8).map(|i| (i & 2 != 0, i & 1 != 0, i & 4 != 0)) {
        let gemm = Kernel::Gemm { ta, tb, sub };
        let a = if ta { transpose(&a) } else { a.clone() };
        let b = if tb { b.clone() } else { transpose(&b) };
        assert_computed_in_place(gemm.name(), gemm, &[&c, &a, &b]);
    }
    for left in [true, false] {
        for lower in [true, false] {
            for trans in [false, true] {
                let trsm = Kernel::Trsm { left, lower, trans };
                let t = self::lower(if left { m } else { n }, 905);
                let t = if lower { t } else { transpose(&t) };
                assert_computed_in_place(trsm.name(), trsm, &[&c, &t]);
            }
        }
    }
    let d = random(m, n, 906);
    assert_computed_in_place("ADD", Kernel::Add, &[&c, &d]);
    assert_computed_in_place("SUB", Kernel::Sub, &[&c, &d]);
    // A solve's `SUB R, %u`: only the product %u is handed over.
    assert_computed_in("ADD into B", Kernel::Add, &[&c, &d], 1);
    assert_computed_in("SUB into B", Kernel::Sub, &[&c, &d], 1);
    let u = transpose(&self::lower(m, 907));
    assert_computed_in_place("TRIU", Kernel::Triu, &[&u]);
    for n in [7, 100, 400] {
        assert_computed_in_place(&format!("CHOL {n}"), Kernel::Chol, &[&spd(n, 908)]);
    }
}

#[test]
fn chol_in_place_reads_only_the_lower_triangle() {
    // faer works in the handed-over tile, whose upper triangle it uses as
    // workspace: NaN there must change nothing, to the bit.
    for n in [3, 100, 400] {
        let a = spd(n, 910);
        let nan_above = Tile::from_fn(n, n, |i, j| if i >= j { a[(i, j)] } else { f64::NAN });
        let got = Kernel::Chol
            .apply_reusing(vec![Cow::Owned(nan_above)])
            .unwrap()
            .remove(0);
        assert_eq!(got, apply(Kernel::Chol, &[&tril(&a)]), "CHOL {n}");
    }
    // A failure reports the input's diagonal, which the factorisation
    // overwrote.
    let mut a = spd(100, 911);
    a[(70, 70)] = 0.1;
    let shared = Kernel::Chol.apply(&[&a]).unwrap_err();
    let owned = Kernel::Chol.apply_reusing(vec![Cow::Owned(a)]).unwrap_err();
    assert!(matches!(
        shared,
        KernelError::NotPositiveDefinite { pivot: 70, .. }
    ));
    assert_eq!(owned, shared);
}

/// A tile large enough that `CHOL` recurses on its halves where the
/// products run on the `gemm` crate (from 2048 rows; at 2050 the halves
/// are ragged): L Lᵀ = A, the upper triangle exactly zero, the same bits on
/// lent cores, and a failing pivot in either half named with its Schur
/// complement entry.
#[test]
fn chol_of_a_large_tile() {
    let n = 2050;
    let a = spd(n, 913);
    let l = apply(Kernel::Chol, &[&a]);
    assert_upper_zero("CHOL 2050", &l);
    let product = &l * l.transpose();
    assert_close("CHOL 2050: L L^T = A", &tril(&product), &tril(&a));
    let (two, used) = lp_std::kernel::with_threads(2, || apply(Kernel::Chol, &[&a]));
    assert!(used, "CHOL 2050 ran on one thread");
    assert!(two == l, "CHOL 2050 differs on two threads");
    // A smaller diagonal entry at `bad` changes no column of L before it.
    for bad in [700, 1800] {
        let mut b = a.clone();
        b[(bad, bad)] = 0.1;
        let err = Kernel::Chol.apply(&[&b]).unwrap_err();
        let KernelError::NotPositiveDefinite { pivot, value } = err else {
            panic!("expected NotPositiveDefinite, got {err:?}");
        };
        assert_eq!(pivot, bad);
        let want = 0.1 - (0..bad).map(|k| l[(bad, k)] * l[(bad, k)]).sum::<f64>();
        assert!(want < 0.0, "the reference pivot {want} should be negative");
        assert!(
            (value - want).abs() < 1e-10 * want.abs(),
            "pivot value {value}, want {want}"
        );
    }
}

/// Every kernel gives the same bits on two threads (cores an idle worker
/// lends it, `kernel::with_threads`) as on one: a run's results must not
/// depend on which jobs happened to run while others waited. The tiles are
/// ragged and large enough (1030 rows, past the 1024 from which a kernel
/// takes lent cores) that faer and the `gemm` crate split the work; the
/// LU's and QR's kernels take their operands from the ones before them, as
/// in a factorisation's first step. Below 1024 a kernel keeps one thread,
/// and so do the products on the OpenBLAS build.
#[test]
fn every_kernel_gives_the_same_bits_on_lent_cores() {
    let n = 1030;
    let (l, s) = (lower(n, 1), spd(n, 2));
    let (a, b, c) = (random(n, n, 3), random(n, n, 4), random(n, n, 5));
    let (panel, below, corner) = (random(300, n, 6), random(300, n, 7), random(300, 300, 8));
    let (right, tall) = (random(n, 300, 9), random(n + 37, n, 10));
    let tall_right = random(n + 37, 300, 11);
    let lup = apply_checking_shapes(Kernel::Getrf, &[&a]);
    let t = apply_checking_shapes(Kernel::Tstrf, &[&lup[0], &below]);
    let vtr = apply_checking_shapes(Kernel::Geqrt, &[&tall]);
    let rvt = apply_checking_shapes(Kernel::Tsqrt { triangle: false }, &[&vtr[2], &below]);
    let mut cases: Vec<(Kernel, Vec<&Tile>)> = vec![
        (Kernel::Chol, vec![&s]),
        (Kernel::Invrs, vec![&l]),
        (TRSM_RLT, vec![&panel, &l]),
        (TRSM_LLN, vec![&b, &l]),
        (Kernel::Syrk, vec![&c, &a, &a]),
        (Kernel::Syrk, vec![&c, &a, &b]),
        (Kernel::Getrf, vec![&a]),
        (Kernel::Gessm, vec![&lup[0], &lup[1], &right]),
        (Kernel::Tstrf, vec![&lup[0], &below]),
        (Kernel::Ssssm, vec![&right, &corner, &t[1], &t[2]]),
        (Kernel::Geqrt, vec![&tall]),
        (Kernel::Tsqrt { triangle: false }, vec![&vtr[2], &below]),
        (Kernel::Tsqrt { triangle: true }, vec![&vtr[2], &vtr[2]]),
    ];
    for trans in [false, true] {
        cases.push((Kernel::Ormqr { trans }, vec![&vtr[0], &vtr[1], &tall_right]));
        cases.push((
            Kernel::Tsmqr { trans },
            vec![&right, &corner, &rvt[1], &rvt[2]],
        ));
    }
    for (ta, tb) in [(false, false), (true, false), (false, true)] {
        cases.push((Kernel::Gemm { ta, tb, sub: true }, vec![&c, &a, &b]));
    }
    for (k, args) in cases {
        let one = k.apply(&args).unwrap();
        let (two, used) = lp_std::kernel::with_threads(2, || {
            assert_eq!(lp_std::kernel::threads(), 2);
            k.apply(&args).unwrap()
        });
        // OpenBLAS runs on one thread (`blas.rs`): there the kernels that
        // are its products alone take no lent core.
        let openblas_alone =
            cfg!(feature = "openblas") && matches!(k, Kernel::Syrk | Kernel::Gemm { .. });
        assert_eq!(used, !openblas_alone, "{} on lent cores", k.name());
        assert_eq!(lp_std::kernel::threads(), 1, "restored after {}", k.name());
        assert!(one == two, "{} differs on two threads", k.name());
    }
    let small = random(1023, 8, 12);
    let (_, used) = lp_std::kernel::with_threads(2, || Kernel::Geqrt.apply(&[&small]).unwrap());
    assert!(!used, "a kernel below 1024 rows keeps one thread");
}

/// The same bits again when the lent cores come and go while a kernel
/// runs, as they do when another worker runs out of jobs or gets one
/// (`kernel::with_lent_cores` reads the count at each call the kernel
/// makes): a thread flips the count between none and one every 100 µs
/// while the kernels that make many calls run, the products and the lower
/// update by blocks of their inner dimension, `CHOL` of 2050 rows, a
/// solve, and the LU's panel factorisation.
#[test]
fn kernels_give_the_same_bits_while_lent_cores_come_and_go() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
    let n = 1030;
    let (l, s, big) = (lower(n, 21), spd(n, 22), spd(2050, 23));
    let (a, b, c) = (random(n, n, 24), random(n, n, 25), random(n, n, 26));
    let cases: Vec<(Kernel, Vec<&Tile>)> = vec![
        (Kernel::Chol, vec![&big]),
        (Kernel::Chol, vec![&s]),
        (TRSM_RLT, vec![&b, &l]),
        (Kernel::Syrk, vec![&c, &a, &a]),
        (Kernel::Syrk, vec![&c, &a, &b]),
        (
            Kernel::Gemm {
                ta: false,
                tb: true,
                sub: true,
            },
            vec![&c, &a, &b],
        ),
        (Kernel::Getrf, vec![&a]),
    ];
    let lent = AtomicUsize::new(0);
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Relaxed) {
                lent.store(1 - lent.load(Relaxed), Relaxed);
                std::thread::sleep(std::time::Duration::from_micros(100));
            }
        });
        let mut lent_to_some = false;
        for (k, args) in &cases {
            let one = k.apply(args).unwrap();
            let (varying, used) = lp_std::kernel::with_lent_cores(&lent, || k.apply(args).unwrap());
            assert!(
                one == varying,
                "{} differs with lent cores coming and going",
                k.name()
            );
            lent_to_some |= used;
        }
        done.store(true, Relaxed);
        assert!(lent_to_some, "no kernel ran a call on a lent core");
    });
}
