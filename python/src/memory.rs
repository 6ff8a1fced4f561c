//! Giving the memory of freed tiles back to the OS while a run goes on.
//!
//! A run allocates and frees tiles by the thousand, from several threads.
//! glibc's malloc serves blocks of a tile's size from its arenas once the
//! first one is freed (it then raises its mmap threshold above them) and
//! keeps freed ones there, so the process's resident memory creeps up to
//! far more than the tiles live at any moment: an 8192 x 8192 Cholesky
//! from numpy held 0.8 to 1.1 copies of the matrix beyond its input and
//! output with 0.02 copies of tiles live (`docs/python.md`). `malloc_trim`
//! returns the free pages of every arena to the OS; the thread that waits
//! for a run calls it each time it wakes (ten times a second).

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
