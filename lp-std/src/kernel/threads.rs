//! How many threads a tile kernel runs on. One, unless its caller lends it
//! cores that would otherwise idle ([`with_threads`]) and its operands
//! are large enough to gain from them ([`LEND_FROM`]): the local backend
//! lends cores when other workers wait for a job, which happens on the
//! critical path (a Cholesky's first `CHOL`, its last steps) where no other
//! job can start until this one ends. faer's and the `gemm` crate's
//! parallel products, solves and factorisations split the result among
//! their threads, so a kernel gives the same bits on any number of them
//! (`tests/kernels.rs` checks this).

use faer::Par;
use std::cell::Cell;

/// Kernels whose largest operand has fewer rows and columns than this run
/// on one thread even when cores are lent. Measured on an Intel host (cpu
/// family 6 model 167, 2026-12-03, medians of 5-2000 calls): on two threads
/// faer's `CHOL` took 1.9x its one-thread time at 128 rows, 2.3x at 256 and
/// 1.3x at 512, about the same at 1000 and 0.64-0.74x at 2048; the `gemm`
/// crate's product 1.07x at 128, 0.99x at 256 and 0.66x at 512.
const LEND_FROM: usize = 1024;

thread_local! {
    static THREADS: Cell<usize> = const { Cell::new(1) };
    /// Whether a kernel ran on lent threads inside the current
    /// [`with_threads`].
    static USED: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with this thread's kernels (those of at least [`LEND_FROM`]
/// rows or columns) on `threads` threads, of rayon's global pool when more
/// than one; returns `f`'s result and whether a kernel ran on them.
pub fn with_threads<R>(threads: usize, f: impl FnOnce() -> R) -> (R, bool) {
    let _restore = Restore(THREADS.replace(threads.max(1)));
    USED.set(false);
    let result = f();
    (result, USED.replace(false))
}

/// Runs a kernel's body `f`, whose largest operand has `largest` rows or
/// columns, on one thread when it is too small to gain from more.
pub(crate) fn for_kernel<R>(largest: usize, f: impl FnOnce() -> R) -> R {
    if threads() == 1 {
        return f();
    }
    if largest < LEND_FROM {
        let _restore = Restore(THREADS.replace(1));
        return f();
    }
    USED.set(true);
    f()
}

/// Restores this thread's setting even if the code it guards panics.
struct Restore(usize);

impl Drop for Restore {
    fn drop(&mut self) {
        THREADS.set(self.0);
    }
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
