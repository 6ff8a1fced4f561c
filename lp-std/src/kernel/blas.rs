//! The products and triangular solves on the system's OpenBLAS (the
//! `openblas` feature), in place of faer's.
//!
//! On hosts with AVX2 but no AVX-512 (a Zen 3 host, cpu family 25 model 1)
//! faer's one-core product ran at 0.74-0.86x the speed of OpenBLAS's
//! `dgemm` (one process, interleaved rounds: docs/performance.md), and the
//! Cholesky's tile kernels are mostly products, so there the tiled
//! Cholesky cannot reach `dpotrf`'s time on faer. Tiled runtimes such as
//! PLASMA and numpywren call the vendor BLAS for their tile kernels for the
//! same reason. The LU and QR kernels' rectangular products and the LU's
//! unit triangular solves go through here too; the rest of the
//! factorisations (`CHOL`, the LU's pivoting, the QR's reflectors and
//! triangular products) stays on faer; `CHOL` is a small share of the
//! Cholesky's flops, and its error reports read faer's pivots.
//!
//! The triangular solves recurse onto `dgemm` (`trisolve.rs`, leaves of 64
//! rows on faer) rather than call `dtrsm`: Debian's OpenBLAS 0.3.21 ran
//! `dtrsm` on one thread at 10-27 GFLOP/s on 512-2048 tiles, against
//! `dgemm`'s 42-52, on an Intel host (cpu family 6 model 167), where the
//! recursion ran a Cholesky's `TRSM_RLT`s at 42 GFLOP/s against 25.
//!
//! BLAS reads a transposed operand natively (`CblasTrans` on a row-major
//! view), so nothing is copied to column-major here; a row-major
//! destination (a right solve's Bᵀ) is computed as its column-major
//! transpose.

use super::trisolve::{Triangle, left_operand, recursive_solve};
use crate::Tile;
use cblas_sys::{CBLAS_LAYOUT, CBLAS_TRANSPOSE, CBLAS_UPLO, cblas_dgemm, cblas_dsyrk};
use faer::{Accum, MatMut, MatRef};
use std::ffi::c_int;
use std::sync::Once;

unsafe extern "C" {
    /// OpenBLAS's own call (not CBLAS): the threads its routines use.
    fn openblas_set_num_threads(n: c_int);
    /// OpenBLAS's own calls: the name of the kernels it picked for this
    /// CPU, and its build configuration (static strings).
    fn openblas_get_corename() -> *const std::ffi::c_char;
    fn openblas_get_config() -> *const std::ffi::c_char;
}

/// The kernels OpenBLAS picked for this CPU (`SkylakeX`, `Haswell`, `Zen`;
/// `Prescott`, its generic x86-64 ones, for a CPU it does not know).
pub fn core_name() -> String {
    // SAFETY: a call without arguments or state.
    owned(unsafe { openblas_get_corename() })
}

/// OpenBLAS's build configuration (`DYNAMIC_ARCH` when it picks its
/// kernels at run time, and so obeys `OPENBLAS_CORETYPE`).
pub fn config() -> String {
    // SAFETY: a call without arguments or state.
    owned(unsafe { openblas_get_config() })
}

/// A string OpenBLAS returned, NUL-terminated and static (checked for null
/// all the same).
fn owned(text: *const std::ffi::c_char) -> String {
    if text.is_null() {
        return "unknown".to_string();
    }
    // SAFETY: non-null, and OpenBLAS's strings are NUL-terminated and live
    // as long as the library.
    unsafe { std::ffi::CStr::from_ptr(text) }
        .to_string_lossy()
        .into_owned()
}

/// Kernels run one per worker thread: parallelism comes from the DAG, and
/// OpenBLAS's own threads would compete with the other workers for the
/// cores (as `Par::Seq` keeps faer's from doing).
fn one_thread() {
    static ONCE: Once = Once::new();
    // SAFETY: called before any other OpenBLAS routine of this process
    // that runs through this module, with a valid count.
    ONCE.call_once(|| unsafe { openblas_set_num_threads(1) });
}

/// A column-major matrix, or the transpose of one, as BLAS takes it:
/// (transpose flag, leading dimension); `None` for any other layout.
fn layout(m: MatRef<'_, f64>) -> Option<(CBLAS_TRANSPOSE, c_int)> {
    let (rs, cs) = (m.row_stride(), m.col_stride());
    if rs == 1 && cs >= m.nrows().max(1) as isize {
        Some((CBLAS_TRANSPOSE::CblasNoTrans, dim(cs)))
    } else if cs == 1 && rs >= m.ncols().max(1) as isize {
        Some((CBLAS_TRANSPOSE::CblasTrans, dim(rs)))
    } else {
        None
    }
}

/// The leading dimension of a column-major destination, if it is one.
fn leading(m: &MatMut<'_, f64>) -> Option<c_int> {
    let cs = m.col_stride();
    (m.row_stride() == 1 && cs >= m.nrows().max(1) as isize).then(|| dim(cs))
}

/// A tile's layout: tiles are column-major, so BLAS always takes them.
fn tile_layout(m: MatRef<'_, f64>) -> (CBLAS_TRANSPOSE, c_int) {
    layout(m).expect("a tile is column-major")
}

fn tile_leading(m: &MatMut<'_, f64>) -> c_int {
    leading(m).expect("a tile is column-major")
}

/// B := L⁻¹ B in B's place, for the unit lower triangle of L (the LU
/// kernels' solves): the same recursion onto `dgemm` as [`solve`].
pub fn solve_unit_lower(l: MatRef<'_, f64>, b: MatMut<'_, f64>) {
    recursive_solve(l, b, Triangle::UnitLower, subtract);
}

/// Tiles are validated against the program's declared sizes, far below
/// `c_int::MAX` elements a side.
fn dim(n: impl TryInto<c_int>) -> c_int {
    n.try_into()
        .unwrap_or_else(|_| panic!("a tile dimension exceeds BLAS's 32-bit sizes"))
}

/// dst + alpha A op(B) (`Accum::Add`) or alpha A op(B) in dst's place,
/// op(B) = Bᵀ when `tb`.
pub fn product(
    dst: MatMut<'_, f64>,
    accum: Accum,
    a: MatRef<'_, f64>,
    b: &Tile,
    tb: bool,
    alpha: f64,
) {
    let b = if tb {
        b.as_ref().transpose()
    } else {
        b.as_ref()
    };
    matmul(dst, accum, a, b, alpha);
}

/// dst + alpha A B (`Accum::Add`) or alpha A B on views (the LU and QR
/// kernels' products); faer's product for a view BLAS cannot take (no
/// column, or row, of contiguous elements).
pub fn matmul(
    dst: MatMut<'_, f64>,
    accum: Accum,
    a: MatRef<'_, f64>,
    b: MatRef<'_, f64>,
    alpha: f64,
) {
    if dst.row_stride() != 1 && dst.col_stride() == 1 {
        // A row-major destination (a right solve's Bᵀ): Cᵀ = Bᵀ Aᵀ is
        // column-major.
        return matmul(
            dst.transpose_mut(),
            accum,
            b.transpose(),
            a.transpose(),
            alpha,
        );
    }
    let (Some((ta, lda)), Some((tb, ldb)), Some(ldc)) = (layout(a), layout(b), leading(&dst))
    else {
        faer::linalg::matmul::matmul(dst, accum, a, b, alpha, faer::Par::Seq);
        return;
    };
    let (m, n, k) = (dst.nrows(), dst.ncols(), a.ncols());
    if m == 0 || n == 0 {
        return;
    }
    one_thread();
    let beta = match accum {
        Accum::Add => 1.0,
        Accum::Replace => 0.0,
    };
    // SAFETY: the views cover m x k, k x n and m x n elements at the given
    // strides, and BLAS reads and writes only those (beta = 0 ignores C's
    // old contents, NaN included).
    unsafe {
        cblas_dgemm(
            CBLAS_LAYOUT::CblasColMajor,
            ta,
            tb,
            dim(m),
            dim(n),
            dim(k),
            alpha,
            a.as_ptr(),
            lda,
            b.as_ptr(),
            ldb,
            beta,
            dst.as_ptr_mut(),
            ldc,
        )
    }
}

/// The lower triangle of C + alpha A Aᵀ in C's place (C's upper triangle
/// keeps whatever it held).
pub fn lower_update(c: MatMut<'_, f64>, a: MatRef<'_, f64>, alpha: f64) {
    let (n, k) = (c.nrows(), a.ncols());
    if n == 0 {
        return;
    }
    one_thread();
    let ((ta, lda), ldc) = (tile_layout(a), tile_leading(&c));
    // SAFETY: as in `matmul`; dsyrk touches only C's lower triangle.
    unsafe {
        cblas_dsyrk(
            CBLAS_LAYOUT::CblasColMajor,
            CBLAS_UPLO::CblasLower,
            ta,
            dim(n),
            dim(k),
            alpha,
            a.as_ptr(),
            lda,
            1.0,
            c.as_ptr_mut(),
            ldc,
        )
    }
}

/// `CHOL` stays on faer here (see the module doc).
pub(super) use super::llt::faer_cholesky as cholesky_in_place;

/// X with `op(T) X = B` (`left`) or `X op(T) = B` in B's place, reading
/// only T's lower (`lower`) or upper triangle; op(T) = Tᵀ when `trans`.
/// A recursion whose updates run on `dgemm` rather than `dtrsm`, which
/// OpenBLAS runs below `dgemm`'s rate on one thread (docs/performance.md,
/// "Tile kernels on OpenBLAS"); a right solve recurses on Bᵀ's view.
pub fn solve(t: &Tile, b: &mut Tile, left: bool, lower: bool, trans: bool) {
    let (t, b) = (t.as_ref(), b.as_mut());
    // X op(T) = B is op(T)ᵀ Xᵀ = Bᵀ.
    let (b, trans) = if left {
        (b, trans)
    } else {
        (b.transpose_mut(), !trans)
    };
    let (op_t, triangle) = left_operand(t, lower, trans);
    recursive_solve(op_t, b, triangle, subtract);
}

/// dst - A B in dst's place on `dgemm` (the recursive solve's updates).
fn subtract(dst: MatMut<'_, f64>, a: MatRef<'_, f64>, b: MatRef<'_, f64>) {
    matmul(dst, Accum::Add, a, b, -1.0);
}

#[cfg(test)]
mod tests {
    //! The view layouts the kernels' own tests do not reach: transposed
    //! views and views BLAS cannot take (faer's fallback), against faer.
    use super::*;
    use faer::Mat;

    fn random(rows: usize, cols: usize, seed: u64) -> Mat<f64> {
        Mat::from_fn(rows, cols, |i, j| {
            let x = (i as u64 * 7919 + j as u64 * 104_729 + seed * 1_299_709) % 1000;
            x as f64 / 500.0 - 1.0
        })
    }

    fn assert_close(got: MatRef<'_, f64>, want: MatRef<'_, f64>) {
        let scale = want.norm_max().max(1.0);
        let error = (got - want).norm_max();
        assert!(error <= 1e-12 * scale, "off by {error}");
    }

    #[test]
    fn products_on_any_view_match_faer() {
        let (a, b, c) = (random(9, 6, 1), random(6, 5, 2), random(9, 5, 3));
        let (at, bt) = (a.transpose().to_owned(), b.transpose().to_owned());
        // Column-major, transposed, and with reversed rows or columns (no
        // unit stride: faer's product).
        let views = [
            (a.as_ref(), b.as_ref()),
            (at.transpose(), bt.transpose()),
            (a.as_ref().reverse_rows(), b.as_ref()),
            (a.as_ref(), b.as_ref().reverse_cols()),
        ];
        for accum in [Accum::Add, Accum::Replace] {
            for (va, vb) in views {
                let (mut got, mut want) = (c.clone(), c.clone());
                matmul(got.as_mut(), accum, va, vb, -0.5);
                let seq = faer::Par::Seq;
                faer::linalg::matmul::matmul(want.as_mut(), accum, va, vb, -0.5, seq);
                assert_close(got.as_ref(), want.as_ref());
                // Into a row-major destination (a right solve's Bᵀ).
                let mut got_t = c.transpose().to_owned();
                matmul(got_t.as_mut().transpose_mut(), accum, va, vb, -0.5);
                assert_close(got_t.transpose(), want.as_ref());
            }
        }
    }

    /// Right solves past a leaf's rows, which recurse on Bᵀ's row-major
    /// view, for each triangle and op(T): X op(T) reproduces B.
    #[test]
    fn right_solves_that_recurse_match_b() {
        let n = 150;
        let noise = random(n, n, 6);
        let t = Mat::from_fn(n, n, |i, j| if i == j { n as f64 } else { noise[(i, j)] });
        let b = random(40, n, 7);
        for (lower, trans) in [(true, false), (true, true), (false, false), (false, true)] {
            let mut x = b.clone();
            solve(&t, &mut x, false, lower, trans);
            let read = |i: usize, j: usize| (lower && i >= j) || (!lower && i <= j);
            let triangle = Mat::from_fn(n, n, |i, j| if read(i, j) { t[(i, j)] } else { 0.0 });
            let op = if trans {
                triangle.transpose().to_owned()
            } else {
                triangle
            };
            assert_close((&x * &op).as_ref(), b.as_ref());
        }
    }

    #[test]
    fn unit_lower_solves_on_any_view_match_faer() {
        let l = random(7, 7, 4);
        let lt = l.transpose().to_owned();
        let b = random(7, 3, 5);
        // L itself, L as a transposed view of its stored transpose, and a
        // view with reversed columns of the right-hand side (faer's).
        for (view, reversed) in [
            (l.as_ref(), false),
            (lt.transpose(), false),
            (l.as_ref(), true),
        ] {
            let mut got = b.clone();
            let mut want = b.clone();
            let seq = faer::Par::Seq;
            if reversed {
                solve_unit_lower(view, got.as_mut().reverse_cols_mut());
                faer::linalg::triangular_solve::solve_unit_lower_triangular_in_place(
                    view,
                    want.as_mut().reverse_cols_mut(),
                    seq,
                );
            } else {
                solve_unit_lower(view, got.as_mut());
                faer::linalg::triangular_solve::solve_unit_lower_triangular_in_place(
                    view,
                    want.as_mut(),
                    seq,
                );
            }
            assert_close(got.as_ref(), want.as_ref());
        }
    }
}
