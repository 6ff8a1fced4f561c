//! faer's Cholesky factorisation, written once for both level-3 backends:
//! the openblas build's `CHOL` (`blas.rs`), and `faer_level3.rs`'s (whole
//! tiles, or the leaves of its recursion on the `gemm` crate's hosts).

use super::threads::par;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt::factor::{self as llt, LltError, LltParams, LltRegularization};
use faer::{MatMut, Spec};

/// faer's Cholesky factorisation of A in place: the factor in A's lower
/// triangle, read alone (faer uses the upper one as workspace;
/// tests/kernels.rs checks that NaN there changes nothing), or the index
/// of the first pivot that is not positive, the columns before it final.
pub(super) fn faer_cholesky(a: MatMut<'_, f64>) -> Result<(), usize> {
    let params: Spec<LltParams, f64> = Default::default();
    let n = a.nrows();
    let mut scratch = MemBuffer::new(llt::cholesky_in_place_scratch::<f64>(n, par(), params));
    let stack = MemStack::new(&mut scratch);
    match llt::cholesky_in_place(a, LltRegularization::default(), par(), stack, params) {
        Ok(_) => Ok(()),
        Err(LltError::NonPositivePivot { index }) => Err(index),
    }
}
