//! Giving the memory of freed tiles back to the OS while a run goes on.
//!
//! A run allocates and frees tiles by the thousand, from several threads.
//! glibc's malloc serves blocks of a tile's size from its arenas once the
//! first one is freed (it then raises its mmap threshold above them) and
//! keeps freed ones there, so the process's resident memory creeps up to
//! far more than the tiles live at any moment: an 8192 x 8192 Cholesky
//! from numpy held 1.0 to 1.3 copies of the matrix beyond its input and
//! output while its temp tiles peaked at 0.02 to 0.37 copies, and 0.01 to
//! 0.17 copies with the trim (`docs/python.md`). `malloc_trim` returns the
//! free pages of every arena to the OS; the thread that waits for a run
//! calls it each time it wakes (ten times a second). The price is a page
//! fault for each page reused after a trim.

/// Returns the allocator's free pages to the OS (glibc; elsewhere there is
/// nothing to do).
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes the arenas' locks itself, so any thread may
    // call it at any time; it only releases pages no allocation holds.
    unsafe {
        libc::malloc_trim(0);
    }
}
