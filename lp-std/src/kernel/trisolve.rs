//! Triangular solves on views, T X = B in B's place: faer's, or a recursion
//! on T's halves whose updates of B go to a product its caller chooses and
//! whose leaves faer solves. `faer_level3.rs` recurses onto the `gemm`
//! crate on AVX-512 hosts (it says by how much that beat faer's own solve
//! there), and `blas.rs` onto `dgemm`, which beat OpenBLAS's
//! one-thread `dtrsm` (`docs/performance.md`, "Tile kernels on OpenBLAS").
//! A right solve `X op(T) = B` is the left solve `op(T)ᵀ Xᵀ = Bᵀ` on
//! B's transposed view, so only left solves recurse.

use super::threads::par;
use faer::linalg::triangular_solve;
use faer::prelude::{Reborrow, ReborrowMut};
use faer::{MatMut, MatRef};

/// Which triangle of T a solve reads.
#[derive(Clone, Copy, Debug)]
pub(super) enum Triangle {
    Lower,
    /// The lower triangle with ones on the diagonal (not read).
    UnitLower,
    Upper,
}

/// op(T) (Tᵀ when `trans`) and the triangle of it that a solve reads, for
/// T's lower (`lower`) or upper triangle: op(T) is lower triangular when T
/// is lower and not transposed, or upper and transposed.
pub(super) fn left_operand(
    t: MatRef<'_, f64>,
    lower: bool,
    trans: bool,
) -> (MatRef<'_, f64>, Triangle) {
    let t = if trans { t.transpose() } else { t };
    let triangle = if lower != trans {
        Triangle::Lower
    } else {
        Triangle::Upper
    };
    (t, triangle)
}

/// faer's solve, on this thread's kernel threads.
pub(super) fn faer_solve(t: MatRef<'_, f64>, b: MatMut<'_, f64>, triangle: Triangle) {
    match triangle {
        Triangle::Lower => triangular_solve::solve_lower_triangular_in_place(t, b, par()),
        Triangle::UnitLower => triangular_solve::solve_unit_lower_triangular_in_place(t, b, par()),
        Triangle::Upper => triangular_solve::solve_upper_triangular_in_place(t, b, par()),
    }
}

/// The order up to which [`recursive_solve`] leaves a diagonal block to
/// faer (64 ran slightly faster than 32 or 128 on the `gemm` crate; see
/// `faer_level3.rs`).
pub(super) const SOLVE_LEAF: usize = 64;

/// Where a recursion on n > [`SOLVE_LEAF`] rows splits them: about half,
/// a multiple of the leaf (so that the blocks faer gets are whole leaves
/// but the last), below n.
pub(super) fn split(n: usize) -> usize {
    (n / 2).next_multiple_of(SOLVE_LEAF)
}

/// dst - A B in dst's place: the recursion's update of B.
pub(super) type Subtract = fn(MatMut<'_, f64>, MatRef<'_, f64>, MatRef<'_, f64>);

/// T X = B in B's place as a recursion on T's halves: for a lower T,
/// X1 = T11⁻¹ B1, then B2 - T21 X1 by `subtract`, then
/// X2 = T22⁻¹ (B2 - T21 X1); for an upper T, the same from the bottom.
pub(super) fn recursive_solve(
    t: MatRef<'_, f64>,
    mut b: MatMut<'_, f64>,
    triangle: Triangle,
    subtract: Subtract,
) {
    let n = t.nrows();
    if n <= SOLVE_LEAF {
        return faer_solve(t, b, triangle);
    }
    let h = split(n);
    let (t11, t12, t21, t22) = t.split_at(h, h);
    let (mut b1, mut b2) = b.rb_mut().split_at_row_mut(h);
    if let Triangle::Upper = triangle {
        recursive_solve(t22, b2.rb_mut(), triangle, subtract);
        subtract(b1.rb_mut(), t12, b2.rb());
        recursive_solve(t11, b1, triangle, subtract);
    } else {
        recursive_solve(t11, b1.rb_mut(), triangle, subtract);
        subtract(b2.rb_mut(), t21, b1.rb());
        recursive_solve(t22, b2, triangle, subtract);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faer::{Accum, Mat, Par};

    fn faer_subtract(dst: MatMut<'_, f64>, a: MatRef<'_, f64>, b: MatRef<'_, f64>) {
        faer::linalg::matmul::matmul(dst, Accum::Add, a, b, -1.0, Par::Seq);
    }

    /// The recursion against faer's solve: each triangle, T read directly
    /// or through a transposed view, B column-major or a row-major view (a
    /// right solve's Bᵀ), on an order that splits raggedly (200 = 128 + 72,
    /// then 64 + 8), with 70 right-hand sides and with one. (The products
    /// the callers pass are tested against faer's where they live.)
    #[test]
    fn the_recursive_solve_agrees_with_faer() {
        for nrhs in [70, 1] {
            recursive_solve_agrees_with_faer(200, nrhs);
        }
    }

    fn recursive_solve_agrees_with_faer(n: usize, nrhs: usize) {
        // Diagonally dominant: the solves are well conditioned, so the two
        // orders of operations agree to a few ulps.
        let t = Mat::from_fn(n, n, |i, j| {
            if i == j {
                n as f64
            } else {
                ((i * 7 + j * 3) % 11) as f64 - 5.0
            }
        });
        let tt = t.transpose().to_owned();
        let b = Mat::from_fn(n, nrhs, |i, j| ((i * 5 + j * 2) % 13) as f64 - 6.0);
        let bt = b.transpose().to_owned();
        for triangle in [Triangle::Lower, Triangle::UnitLower, Triangle::Upper] {
            for t_view in [t.as_ref(), tt.transpose()] {
                for rhs_row_major in [false, true] {
                    let mut want = b.clone();
                    faer_solve(t_view, want.as_mut(), triangle);
                    let got = if rhs_row_major {
                        let mut xt = bt.clone();
                        let x = xt.as_mut().transpose_mut();
                        recursive_solve(t_view, x, triangle, faer_subtract);
                        xt.transpose().to_owned()
                    } else {
                        let mut x = b.clone();
                        recursive_solve(t_view, x.as_mut(), triangle, faer_subtract);
                        x
                    };
                    let error = (&got - &want).norm_max() / want.norm_max();
                    assert!(
                        error < 1e-14,
                        "{triangle:?}, {nrhs} right-hand sides, T transposed: {}, B row-major: \
                         {rhs_row_major}: {error:e}",
                        t_view.row_stride() != 1
                    );
                }
            }
        }
    }
}
