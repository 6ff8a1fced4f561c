//! The memory allocator of lambdapack's programs (`lpc`, `lp-worker`).
//!
//! A run allocates and frees tiles by the thousand: every load from a
//! directory or S3 store, every kernel's result. glibc's malloc hands
//! tiles of 32 MiB (tile 2048) back to the OS on every free and faults
//! them in again, page by page, on the next allocation: in an out-of-core
//! Cholesky (n = 32768, tile 2048) a quarter of the CPU time was system
//! time, most of it faulting in and zeroing fresh pages. Smaller tiles stay in glibc's arenas,
//! which keep far more memory than the live tiles (`docs/performance.md`,
//! "Out of core").
//!
//! jemalloc reuses freed tiles of the same size class at once and returns
//! unused pages to the OS after a decay period (10 s). By default it sends
//! allocations of 8 MiB and more (`oversize_threshold`) to an arena that
//! purges them immediately, which is glibc's problem again for every tile
//! of 1024 or more; [`MALLOC_CONF`] switches that off.
//!
//! A binary opts in with [`global_allocator!`](crate::global_allocator);
//! libraries (the Python module among them) keep their host's allocator.

pub use tikv_jemallocator::Jemalloc;

/// jemalloc's options, read at its first allocation (before `main`).
/// `MALLOC_CONF` in the environment still overrides them.
pub const MALLOC_CONF: &[u8; 21] = b"oversize_threshold:0\0";

/// Makes jemalloc with [`MALLOC_CONF`] the allocator of the binary that
/// invokes it (once, at the crate root of a binary).
#[macro_export]
macro_rules! global_allocator {
    () => {
        #[global_allocator]
        static GLOBAL: $crate::alloc::Jemalloc = $crate::alloc::Jemalloc;

        // jemalloc reads its compiled-in options from this symbol (the
        // crate prefixes jemalloc's symbols with `_rjem_`).
        #[unsafe(export_name = "_rjem_malloc_conf")]
        static MALLOC_CONF: &[u8; $crate::alloc::MALLOC_CONF.len()] = $crate::alloc::MALLOC_CONF;
    };
}

/// The value of jemalloc's option `opt.NAME` (a `size_t` option), if
/// jemalloc is this process's allocator and knows the option.
pub fn size_option(name: &str) -> Option<usize> {
    let key = std::ffi::CString::new(format!("opt.{name}")).ok()?;
    let mut value: usize = 0;
    let mut len = std::mem::size_of::<usize>();
    // SAFETY: `key` is NUL-terminated, `value` and `len` describe a
    // writable size_t, and no new value is passed.
    let status = unsafe {
        tikv_jemalloc_sys::mallctl(
            key.as_ptr(),
            (&raw mut value).cast(),
            &raw mut len,
            std::ptr::null_mut(),
            0,
        )
    };
    (status == 0).then_some(value)
}
