//! The Cholesky family and the products: `CHOL`, `INVRS`, the triangular
//! solves, `SYRK` and `GEMM`. The products and solves run on the level-3
//! operations of `level3` (faer's, or OpenBLAS's with the `openblas`
//! feature); `CHOL` and `INVRS` on faer's in-place routines with explicit
//! scratch (the wrappers' extra copies cost measurably on tiles).
//!
//! A kernel whose result has an operand's shape takes that operand as a
//! `Cow` and computes in it: in the caller's buffer when it was handed over
//! (`Cow::Owned`), in a copy of a shared one. Shapes were validated by the
//! caller ([`super::Kernel::apply_reusing`]).

use super::KernelError;
use super::level3::{cholesky_in_place, lower_update, product, solve};
use super::threads::par;
use super::transpose::mirror_lower;
use crate::Tile;
use faer::Accum;
use faer::linalg::triangular_inverse;
use std::borrow::Cow;

/// Inverse of a lower-triangular tile.
pub fn invert_lower(l: &Tile) -> Result<Tile, KernelError> {
    check_triangular(l)?;
    let mut out = Tile::zeros(l.nrows(), l.ncols());
    // faer writes only the lower triangle of the inverse, so the zeroed
    // upper triangle stays exactly zero.
    triangular_inverse::invert_lower_triangular(out.as_mut(), l.as_ref(), par());
    Ok(out)
}

/// X with `op(T) X = B` (`left`) or `X op(T) = B`, reading only the lower
/// (`lower`) or upper triangle of T; op(T) = Tᵀ when `trans`. X takes B's
/// place.
pub fn trsm(
    b: Cow<'_, Tile>,
    t: &Tile,
    left: bool,
    lower: bool,
    trans: bool,
) -> Result<Tile, KernelError> {
    check_triangular(t)?;
    let mut out = b.into_owned();
    solve(t, &mut out, left, lower, trans);
    Ok(out)
}

/// C - A Bᵀ, in C's place. When A and B are the same tile (`symmetric`)
/// the result is symmetric: only its lower triangle is computed, from C's
/// lower triangle (half the flops), and mirrored onto the upper one, so
/// the result is a whole symmetric tile whatever C's upper triangle held.
pub fn syrk(c: Cow<'_, Tile>, a: &Tile, b: &Tile, symmetric: bool) -> Tile {
    let mut out = c.into_owned();
    if symmetric {
        lower_update(out.as_mut(), a.as_ref(), -1.0);
        mirror_lower(&mut out);
    } else {
        product(out.as_mut(), Accum::Add, a.as_ref(), b, true, -1.0);
    }
    out
}

/// alpha op(A) op(B), or C + alpha op(A) op(B) in C's place when `c` is
/// given (alpha = -1: `GEMM_SUB`).
pub fn gemm(c: Option<Cow<'_, Tile>>, a: &Tile, b: &Tile, ta: bool, tb: bool, alpha: f64) -> Tile {
    let a = if ta {
        a.as_ref().transpose()
    } else {
        a.as_ref()
    };
    let (mut out, accum) = match c {
        Some(c) => (c.into_owned(), Accum::Add),
        None => {
            let cols = if tb { b.nrows() } else { b.ncols() };
            (Tile::zeros(a.nrows(), cols), Accum::Replace)
        }
    };
    product(out.as_mut(), accum, a, b, tb, alpha);
    out
}

/// Lower Cholesky factor of `a`, reading only its lower triangle, in A's
/// place.
pub fn cholesky(a: Cow<'_, Tile>) -> Result<Tile, KernelError> {
    let n = a.nrows();
    // A failure is reported with A's diagonal, which the factorisation
    // overwrites.
    let diagonal: Vec<f64> = (0..n).map(|i| a[(i, i)]).collect();
    let mut l = a.into_owned();
    match cholesky_in_place(l.as_mut()) {
        Ok(()) => {
            // The result's upper triangle must be exactly zero.
            for j in 1..n {
                l.col_as_slice_mut(j)[..j].fill(0.0);
            }
            Ok(l)
        }
        Err(index) => {
            // The columns before `index` are final, so the failing Schur
            // complement entry is a_jj - sum_k l_jk^2 over those columns.
            let done: f64 = (0..index).map(|k| l[(index, k)] * l[(index, k)]).sum();
            Err(KernelError::NotPositiveDefinite {
                pivot: index,
                value: diagonal[index] - done,
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
