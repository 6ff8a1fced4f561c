//! The Cholesky family and the products: `CHOL`, `INVRS`, the triangular
//! solves, `SYRK` and `GEMM`, on faer's in-place routines with explicit
//! scratch (the wrappers' extra copies cost measurably on tiles).
//!
//! Every function here returns one fresh tile: operands are shared,
//! read-only values. Shapes were validated by the caller
//! ([`super::Kernel::apply`]).

use super::KernelError;
use crate::Tile;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt::factor::{self as llt, LltError, LltParams, LltRegularization};
use faer::linalg::matmul::matmul;
use faer::linalg::{triangular_inverse, triangular_solve};
use faer::{Accum, Par, Spec};

/// Inverse of a lower-triangular tile.
pub fn invert_lower(l: &Tile) -> Result<Tile, KernelError> {
    check_triangular(l)?;
    let mut out = Tile::zeros(l.nrows(), l.ncols());
    // faer writes only the lower triangle of the inverse, so the zeroed
    // upper triangle stays exactly zero.
    triangular_inverse::invert_lower_triangular(out.as_mut(), l.as_ref(), SEQ);
    Ok(out)
}

/// X with `op(T) X = B` (`left`) or `X op(T) = B`, reading only the lower
/// (`lower`) or upper triangle of T; op(T) = Tᵀ when `trans`.
pub fn trsm(b: &Tile, t: &Tile, left: bool, lower: bool, trans: bool) -> Result<Tile, KernelError> {
    check_triangular(t)?;
    let mut out = b.clone();
    // X op(T) = B is op(T)ᵀ Xᵀ = Bᵀ: a left solve on the transposed view.
    // (Copying Bᵀ to column-major and back, as the products do, measured
    // 10-25% slower here.)
    let (rhs, trans) = if left {
        (out.as_mut(), trans)
    } else {
        (out.as_mut().transpose_mut(), !trans)
    };
    // op(T) is lower triangular when T is lower and not transposed, or
    // upper and transposed.
    let t = if trans {
        t.as_ref().transpose()
    } else {
        t.as_ref()
    };
    if lower != trans {
        triangular_solve::solve_lower_triangular_in_place(t, rhs, SEQ);
    } else {
        triangular_solve::solve_upper_triangular_in_place(t, rhs, SEQ);
    }
    Ok(out)
}

/// C - A Bᵀ.
pub fn syrk(c: &Tile, a: &Tile, b: &Tile) -> Tile {
    let bt = transposed_if_large(b);
    let bt = bt.as_ref().map_or(b.as_ref().transpose(), |t| t.as_ref());
    let mut out = c.clone();
    matmul(out.as_mut(), Accum::Add, a.as_ref(), bt, -1.0, SEQ);
    out
}

/// op(A) op(B), or C + op(A) op(B) with three operands `[c, a, b]`.
pub fn gemm(args: &[&Tile], ta: bool, tb: bool) -> Tile {
    let first = args.len() - 2;
    let a = if ta {
        args[first].as_ref().transpose()
    } else {
        args[first].as_ref()
    };
    let bt;
    let b = if tb {
        bt = transposed_if_large(args[first + 1]);
        bt.as_ref()
            .map_or(args[first + 1].as_ref().transpose(), |t| t.as_ref())
    } else {
        args[first + 1].as_ref()
    };
    if args.len() == 3 {
        let mut out = args[0].clone();
        matmul(out.as_mut(), Accum::Add, a, b, 1.0, SEQ);
        out
    } else {
        let mut out = Tile::zeros(a.nrows(), b.ncols());
        matmul(out.as_mut(), Accum::Replace, a, b, 1.0, SEQ);
        out
    }
}

const SEQ: Par = Par::Seq;

/// `b^T` as a column-major tile when `b` is large enough for that to pay.
///
/// faer's product ran 1.2-1.45x slower with a transposed (row-major)
/// right-hand side than with a column-major one on 512 and 1024 tiles (one
/// core, `benches/kernels.rs`), while this cache-blocked copy costs O(n^2):
/// so `SYRK`, `GEMM_NT` and `GEMM_TT`, the Cholesky trailing updates, copy
/// first. On 256 tiles the copy cost more than it saved.
fn transposed_if_large(b: &Tile) -> Option<Tile> {
    const MIN_SIDE: usize = 384;
    (b.nrows() >= MIN_SIDE && b.ncols() >= MIN_SIDE).then(|| transposed(b))
}

fn transposed(b: &Tile) -> Tile {
    const BLOCK: usize = 32;
    let (rows, cols) = (b.nrows(), b.ncols());
    let mut t = Tile::zeros(cols, rows);
    let mut sources: [&[f64]; BLOCK] = [&[]; BLOCK];
    for j0 in (0..cols).step_by(BLOCK) {
        let width = BLOCK.min(cols - j0);
        for (k, source) in sources[..width].iter_mut().enumerate() {
            *source = b.col_as_slice(j0 + k);
        }
        // Row i of this 32-column strip of b is 32 contiguous values of
        // column i of t: 32 sequential read streams, one contiguous write.
        for i in 0..rows {
            let dst = &mut t.col_as_slice_mut(i)[j0..j0 + width];
            for (d, source) in dst.iter_mut().zip(&sources[..width]) {
                *d = source[i];
            }
        }
    }
    t
}

/// Lower Cholesky factor of `a`, reading only its lower triangle.
pub fn cholesky(a: &Tile) -> Result<Tile, KernelError> {
    let n = a.nrows();
    // Copy only the lower triangle: the input's upper one may hold anything.
    let mut l = Tile::zeros(n, n);
    for j in 0..n {
        l.col_as_slice_mut(j)[j..].copy_from_slice(&a.col_as_slice(j)[j..]);
    }
    let params: Spec<LltParams, f64> = Default::default();
    let mut scratch = MemBuffer::new(llt::cholesky_in_place_scratch::<f64>(n, SEQ, params));
    let result = llt::cholesky_in_place(
        l.as_mut(),
        LltRegularization::default(),
        SEQ,
        MemStack::new(&mut scratch),
        params,
    );
    match result {
        Ok(_) => {
            // faer uses the upper triangle as workspace; the result's must
            // be exactly zero.
            for j in 1..n {
                l.col_as_slice_mut(j)[..j].fill(0.0);
            }
            Ok(l)
        }
        Err(LltError::NonPositivePivot { index }) => {
            // faer's factorisation is left-looking: when it stops at `index`
            // the columns before it are final, so the failing Schur
            // complement entry is a_jj - sum_k l_jk^2 over those columns.
            let done: f64 = (0..index).map(|k| l[(index, k)] * l[(index, k)]).sum();
            Err(KernelError::NotPositiveDefinite {
                pivot: index,
                value: a[(index, index)] - done,
            })
        }
    }
}

/// A zero or non-finite diagonal makes the triangular solve or inverse
/// produce infinities and NaNs silently; refuse it instead.
pub fn check_triangular(l: &Tile) -> Result<(), KernelError> {
    for i in 0..l.nrows() {
        let value = l[(i, i)];
        if value == 0.0 || !value.is_finite() {
            return Err(KernelError::Singular { index: i, value });
        }
    }
    Ok(())
}
