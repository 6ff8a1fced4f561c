//! How many threads a tile kernel runs on. One, unless its caller lends it
//! cores that would otherwise idle ([`with_threads`]): the local backend
//! does so when other workers wait for a job, which happens on the
//! critical path (a Cholesky's first `CHOL`, its last steps) where no other
//! job can start until this one ends. faer's and the `gemm` crate's
//! parallel products, solves and factorisations split the result among
//! their threads, so a kernel gives the same bits on any number of them
//! (`tests/kernels.rs` checks this).

use faer::Par;
use std::cell::Cell;

thread_local! {
    static THREADS: Cell<usize> = const { Cell::new(1) };
}

/// Runs `f` with this thread's kernels on `threads` threads (of rayon's
/// global pool when more than one).
pub fn with_threads<R>(threads: usize, f: impl FnOnce() -> R) -> R {
    /// Restores the caller's setting even if `f` panics.
    struct Restore(usize);
    impl Drop for Restore {
        fn drop(&mut self) {
            THREADS.set(self.0);
        }
    }
    let _restore = Restore(THREADS.replace(threads.max(1)));
    f()
}

/// The threads this thread's kernels run on now.
pub fn threads() -> usize {
    THREADS.get()
}

/// faer's parallelism for this thread's kernels.
pub(crate) fn par() -> Par {
    match threads() {
        1 => Par::Seq,
        n => Par::rayon(n),
    }
}

/// The `gemm` crate's parallelism for this thread's kernels.
#[cfg(not(feature = "openblas"))]
pub(crate) fn gemm_parallelism() -> gemm::Parallelism {
    match threads() {
        1 => gemm::Parallelism::None,
        n => gemm::Parallelism::Rayon(n),
    }
}
