//! `lambdapack._native`: the Rust half of the `lambdapack` Python package.
//!
//! The package binds the workspace's crates directly (no `lpc` process):
//! programs compile with `lpc::frontend`, runs go through `lpc::runner`
//! (the steps `lpc run` takes), tiles live in `lp_runtime` stores. The
//! Python half (`python/lambdapack/`) adds the numpy-like functions, the
//! exception classes, the progress bar and the documentation.
//!
//! Modules: [`array`](mod@array) (numpy buffers as faer views),
//! [`array_store`] (a run's numpy inputs and outputs as a store),
//! [`store`] (`Store`), [`bigmatrix`] (`BigMatrix`), [`lease`] (a memory
//! store's unnamed matrices freed with their last handle), [`program`]
//! (`check`, program sources), [`run`] (`run`, `RunSummary`), [`memory`]
//! (the allocator; freed tiles back to the OS), [`errors`] (Rust errors as
//! Python exceptions), [`write_once`] (an output's tiles, each written
//! once).

// The crate has no Rust API: its documentation is of its private modules.
#![allow(rustdoc::private_intra_doc_links)]

mod array;
mod array_store;
mod bigmatrix;
mod errors;
mod lease;
mod memory;
mod program;
mod run;
mod store;
mod write_once;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<store::PyStore>()?;
    m.add_class::<bigmatrix::PyBigMatrix>()?;
    m.add_class::<program::PyDiagnostic>()?;
    m.add_class::<run::PySummary>()?;
    m.add_class::<run::PyVerification>()?;
    m.add_function(wrap_pyfunction!(program::check, m)?)?;
    m.add_function(wrap_pyfunction!(program::library_programs, m)?)?;
    m.add_function(wrap_pyfunction!(program::library_params, m)?)?;
    m.add_function(wrap_pyfunction!(run::run_program, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
