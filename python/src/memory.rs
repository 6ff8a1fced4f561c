//! The module's allocator, and giving the memory of freed tiles back to
//! the OS.
//!
//! A run allocates and frees tiles by the thousand, from several threads.
//! The module's Rust code allocates with jemalloc, as `lpc` does
//! (`lp_runtime::alloc`), which reuses a freed tile for the next one of
//! its size. The host's glibc malloc, which the module used before, kept
//! freed tiles in its arenas (an 8192 x 8192 Cholesky from numpy held 1.0
//! to 1.3 copies of the matrix beyond its input and output), and
//! returning them with `malloc_trim` ten times a second made each reuse
//! fault its pages in again: that Cholesky took 1.3-1.4x jemalloc's time
//! on 512 tiles (`docs/python.md`, "Benchmark").
//!
//! jemalloc returns its free pages to the OS only after a decay period
//! and only when it is next called, which a Python session may not do for
//! a long time: an output array's export gives them back as it frees the
//! tiles it copied (`lpc::runner::export_array`), and `run::wait_for` when
//! a run ends (both by `lp_runtime::alloc::purge`).

lp_runtime::global_allocator!();
