//! The memory allocator of lambdapack's programs (`lpc`, `lp-worker`) and
//! of the Python module's Rust code.
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
//! It also asks for transparent huge pages (`thp:always`, which advises
//! `MADV_HUGEPAGE` on jemalloc's memory; hosts whose THP setting is
//! `madvise`, the common default, give huge pages only to memory so
//! advised). A tile is then faulted in 2 MiB at a time instead of 4 KiB,
//! and the kernels' strided reads miss the TLB less: on an Intel host (cpu
//! family 6 model 167) a Cholesky at n = 8192 took about 400 page faults
//! instead of 76,000-112,000, half the system time and 0.92x the wall time
//! on 1024 tiles, and at n = 32768 0.89x in memory and 0.93x out of core
//! (`docs/performance.md`, "Huge pages"). Where THP is `never` the advice
//! does nothing.
//!
//! A binary or a `cdylib` opts in with
//! [`global_allocator!`](crate::global_allocator). In a `cdylib` (the
//! Python module) jemalloc serves only that library's Rust allocations
//! (its symbols are prefixed, so the host's `malloc` is untouched), and
//! since jemalloc returns decayed pages only when it is next called, a
//! library calls [`purge`] to give the memory of its freed tiles back at
//! once when it goes quiet (the module: as an output array fills, and at
//! the end of each run).

pub use tikv_jemallocator::Jemalloc;

/// jemalloc's options, read at its first allocation (before `main`).
/// `MALLOC_CONF` in the environment still overrides them.
pub const MALLOC_CONF: &[u8; 32] = b"oversize_threshold:0,thp:always\0";

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

/// Returns the free pages of every jemalloc arena to the OS (nothing
/// where jemalloc is not this code's allocator).
pub fn purge() {
    // jemalloc's `MALLCTL_ARENAS_ALL`: the pseudo-arena naming them all.
    const PURGE_ALL_ARENAS: &std::ffi::CStr = c"arena.4096.purge";
    // SAFETY: the name is NUL-terminated and the call reads and writes
    // nothing; purging only releases pages no allocation holds.
    unsafe {
        tikv_jemalloc_sys::mallctl(
            PURGE_ALL_ARENAS.as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        );
    }
}

/// The value of jemalloc's option `opt.NAME` (a `size_t` option), if
/// jemalloc is this process's allocator and knows the option.
pub fn size_option(name: &str) -> Option<usize> {
    read_option(name, 0usize)
}

/// The value of jemalloc's option `opt.NAME` (a string option, such as
/// `thp`), if jemalloc is this process's allocator and knows the option.
pub fn str_option(name: &str) -> Option<String> {
    let value = read_option(name, std::ptr::null::<std::ffi::c_char>())?;
    // SAFETY: jemalloc's string options point at NUL-terminated strings
    // that live as long as the process.
    (!value.is_null()).then(|| {
        unsafe { std::ffi::CStr::from_ptr(value) }
            .to_string_lossy()
            .into_owned()
    })
}

/// Reads `opt.NAME` into a `T`, which must be the option's C type (jemalloc
/// checks only its size).
fn read_option<T: Copy>(name: &str, mut value: T) -> Option<T> {
    let key = std::ffi::CString::new(format!("opt.{name}")).ok()?;
    let mut len = std::mem::size_of::<T>();
    // SAFETY: `key` is NUL-terminated, `value` and `len` describe a
    // writable `T`, the option's type (the callers' contract), and no new
    // value is passed.
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
