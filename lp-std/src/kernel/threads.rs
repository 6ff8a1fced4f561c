//! How many threads a tile kernel runs on. One, unless its caller lends it
//! cores that would otherwise idle ([`with_lent_cores`]) and its operands
//! are large enough to gain from them ([`LEND_FROM`]): the local backend
//! lends cores when other workers wait for a job, which happens on the
//! critical path (a Cholesky's first `CHOL`, its last steps) where no other
//! job can start until this one ends.
//!
//! The count is read at every call a kernel makes into faer or the `gemm`
//! crate, not once per job: a worker that runs out of jobs while another
//! worker's kernel runs lends its core from that kernel's next call on,
//! and takes it back from the call after a job is queued for it. The
//! kernels that last longest make many such calls: the products and a
//! diagonal `SYRK`'s lower update run one per block of their inner
//! dimension for that, and where the products run on the `gemm` crate the
//! solves and `CHOL` recurse onto them (`faer_level3.rs`, `trisolve.rs`).
//! faer's and the `gemm` crate's parallel products, solves and
//! factorisations split the result among their threads, so a kernel gives
//! the same bits on any number of them (`tests/kernels.rs` checks this).

use faer::Par;
use std::cell::Cell;
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Kernels whose largest operand has fewer rows and columns than this run
/// on one thread even when cores are lent. Measured on an Intel host (cpu
/// family 6 model 167, 2026-12-03, medians of 5-2000 calls): on two threads
/// faer's `CHOL` took 1.9x its one-thread time at 128 rows, 2.3x at 256 and
/// 1.3x at 512, about the same at 1000 and 0.64-0.74x at 2048; the `gemm`
/// crate's product 1.07x at 128, 0.99x at 256 and 0.66x at 512.
const LEND_FROM: usize = 1024;

thread_local! {
    /// The count of cores lent to this thread's kernels, read when a kernel
    /// calls into faer or the `gemm` crate; null outside
    /// [`with_lent_cores`], which borrows the count while it is set.
    static LENT: Cell<*const AtomicUsize> = const { Cell::new(ptr::null()) };
    /// Whether a kernel ran a call on lent cores inside the current
    /// [`with_lent_cores`].
    static USED: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with this thread's kernels (those of at least `LEND_FROM`
/// rows or columns) on one thread plus as many as `lent` counts at each of
/// their calls, of rayon's global pool when more than one; returns `f`'s
/// result and whether a call ran on lent cores.
pub fn with_lent_cores<R>(lent: &AtomicUsize, f: impl FnOnce() -> R) -> (R, bool) {
    let _restore = Restore(LENT.replace(lent));
    USED.set(false);
    let result = f();
    (result, USED.replace(false))
}

/// [`with_lent_cores`] with a fixed count: `threads` in all.
pub fn with_threads<R>(threads: usize, f: impl FnOnce() -> R) -> (R, bool) {
    with_lent_cores(&AtomicUsize::new(threads.saturating_sub(1)), f)
}

/// Runs a kernel's body `f`, whose largest operand has `largest` rows or
/// columns, on one thread when it is too small to gain from more.
pub(crate) fn for_kernel<R>(largest: usize, f: impl FnOnce() -> R) -> R {
    if largest >= LEND_FROM {
        return f();
    }
    let _restore = Restore(LENT.replace(ptr::null()));
    f()
}

/// Restores this thread's lent cores even if the code it guards panics, so
/// that [`LENT`] never outlives the borrow it was set from.
struct Restore(*const AtomicUsize);

impl Drop for Restore {
    fn drop(&mut self) {
        LENT.set(self.0);
    }
}

/// The threads this thread's kernels run on now.
pub fn threads() -> usize {
    // SAFETY: a non-null LENT points to the count that the innermost
    // running `with_lent_cores` on this thread borrows (`Restore` puts the
    // outer value back before that borrow ends, also after `for_kernel`
    // nulls it for a small kernel).
    let lent = unsafe { LENT.get().as_ref() };
    lent.map_or(1, |n| 1 + n.load(Relaxed))
}

/// [`threads`] for a call about to run, noting when it runs on lent cores.
fn threads_for_call() -> usize {
    let n = threads();
    if n > 1 {
        USED.set(true);
    }
    n
}

/// faer's parallelism for this thread's next call.
pub(crate) fn par() -> Par {
    match threads_for_call() {
        1 => Par::Seq,
        n => Par::rayon(n),
    }
}

/// The `gemm` crate's parallelism for this thread's next call.
#[cfg(not(feature = "openblas"))]
pub(crate) fn gemm_parallelism() -> gemm::Parallelism {
    match threads_for_call() {
        1 => gemm::Parallelism::None,
        n => gemm::Parallelism::Rayon(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kernel reads the lent cores at each call: a worker that goes idle
    /// while the kernel runs lends its core from the next call on, and
    /// takes it back as soon as it is counted out.
    #[test]
    fn each_call_reads_the_cores_lent_now() {
        let lent = AtomicUsize::new(0);
        let ((), used) = with_lent_cores(&lent, || {
            for_kernel(LEND_FROM, || {
                assert_eq!(par(), Par::Seq);
                lent.store(1, Relaxed);
                assert_eq!(par(), Par::rayon(2));
                lent.store(0, Relaxed);
                assert_eq!(par(), Par::Seq);
            })
        });
        assert!(used, "a call ran on a lent core");
        assert_eq!(threads(), 1, "nothing lent outside with_lent_cores");
    }

    /// A kernel below `LEND_FROM` keeps one thread however many cores are
    /// lent, and the kernels after it take them again.
    #[test]
    fn a_small_kernel_keeps_one_thread() {
        let ((), used) = with_threads(2, || {
            for_kernel(LEND_FROM - 1, || {
                assert_eq!(par(), Par::Seq);
                for_kernel(LEND_FROM, || assert_eq!(par(), Par::Seq));
            });
        });
        assert!(!used, "a small kernel ran on a lent core");
        let ((), used) = with_threads(2, || {
            let _ = std::panic::catch_unwind(|| for_kernel(1, || panic!("a failing kernel")));
            for_kernel(LEND_FROM, || assert_eq!(par(), Par::rayon(2)));
        });
        assert!(
            used,
            "the kernel after a small one that panicked took the lent core"
        );
    }
}
