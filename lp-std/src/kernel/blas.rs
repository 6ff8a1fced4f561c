//! The products and triangular solves on the system's OpenBLAS (the
//! `openblas` feature), in place of faer's.
//!
//! On hosts with AVX2 but no AVX-512 (a Zen 3 host, cpu family 25 model 1)
//! faer's one-core product ran at 0.8x OpenBLAS's `dgemm` in one process,
//! calls interleaved (docs/performance.md), and the Cholesky's tile
//! kernels are mostly products, so there the tiled Cholesky cannot reach
//! `dpotrf`'s time on faer. Tiled runtimes such as PLASMA and numpywren
//! call the vendor BLAS for their tile kernels for the same reason. The
//! factorisations (`CHOL`, LU, QR) stay on faer: they are a small share of
//! the flops and their error reports read faer's pivots.
//!
//! BLAS reads a transposed operand natively (`CblasTrans` on a row-major
//! view), so nothing is copied to column-major here.

use crate::Tile;
use cblas_sys::{
    CBLAS_DIAG, CBLAS_LAYOUT, CBLAS_SIDE, CBLAS_TRANSPOSE, CBLAS_UPLO, cblas_dgemm, cblas_dsyrk,
    cblas_dtrsm,
};
use faer::{Accum, MatMut, MatRef};
use std::ffi::c_int;
use std::sync::Once;

unsafe extern "C" {
    /// OpenBLAS's own call (not CBLAS): the threads its routines use.
    fn openblas_set_num_threads(n: c_int);
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
/// (transpose flag, leading dimension).
fn operand(m: MatRef<'_, f64>) -> (CBLAS_TRANSPOSE, c_int) {
    if m.row_stride() == 1 {
        (
            CBLAS_TRANSPOSE::CblasNoTrans,
            dim(m.col_stride().max(m.nrows().max(1) as isize)),
        )
    } else {
        assert_eq!(
            m.col_stride(),
            1,
            "BLAS reads column-major tiles or their transposes"
        );
        (
            CBLAS_TRANSPOSE::CblasTrans,
            dim(m.row_stride().max(m.ncols().max(1) as isize)),
        )
    }
}

/// The leading dimension of a column-major destination.
fn leading(m: &MatMut<'_, f64>) -> c_int {
    assert_eq!(m.row_stride(), 1, "BLAS writes column-major tiles");
    dim(m.col_stride().max(m.nrows().max(1) as isize))
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
    let (m, n, k) = (dst.nrows(), dst.ncols(), a.ncols());
    if m == 0 || n == 0 {
        return;
    }
    one_thread();
    let beta = match accum {
        Accum::Add => 1.0,
        Accum::Replace => 0.0,
    };
    let ((ta, lda), (tb, ldb), ldc) = (operand(a), operand(b), leading(&dst));
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
pub fn lower_update(c: MatMut<'_, f64>, a: &Tile, alpha: f64) {
    let a = a.as_ref();
    let (n, k) = (c.nrows(), a.ncols());
    if n == 0 {
        return;
    }
    one_thread();
    let ((ta, lda), ldc) = (operand(a), leading(&c));
    // SAFETY: as in `product`; dsyrk touches only C's lower triangle.
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

/// X with `op(T) X = B` (`left`) or `X op(T) = B` in B's place, reading
/// only T's lower (`lower`) or upper triangle; op(T) = Tᵀ when `trans`.
pub fn solve(t: &Tile, b: &mut Tile, left: bool, lower: bool, trans: bool) {
    let (t, b) = (t.as_ref(), b.as_mut());
    let (m, n) = (b.nrows(), b.ncols());
    if m == 0 || n == 0 {
        return;
    }
    one_thread();
    let ((stored, ldt), ldb) = (operand(t), leading(&b));
    assert!(
        matches!(stored, CBLAS_TRANSPOSE::CblasNoTrans),
        "a triangular factor is a column-major tile"
    );
    // SAFETY: T is square (m x m on the left, n x n on the right: the
    // caller validated the shapes) and B is m x n, at the given strides.
    unsafe {
        cblas_dtrsm(
            CBLAS_LAYOUT::CblasColMajor,
            if left {
                CBLAS_SIDE::CblasLeft
            } else {
                CBLAS_SIDE::CblasRight
            },
            if lower {
                CBLAS_UPLO::CblasLower
            } else {
                CBLAS_UPLO::CblasUpper
            },
            if trans {
                CBLAS_TRANSPOSE::CblasTrans
            } else {
                CBLAS_TRANSPOSE::CblasNoTrans
            },
            CBLAS_DIAG::CblasNonUnit,
            dim(m),
            dim(n),
            1.0,
            t.as_ptr(),
            ldt,
            b.as_ptr_mut(),
            ldb,
        )
    }
}
