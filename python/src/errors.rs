//! Rust errors as the exceptions of `lambdapack.errors`.
//!
//! The exception classes are defined in Python (so that `LinAlgError` can
//! derive from `numpy.linalg.LinAlgError` and every class has a docstring
//! `help()` shows); this module looks them up when it raises.

use lp_runtime::matrix::MatrixError;
use lp_runtime::protocol::{FailureKind, JobError, RunError};
use lp_runtime::store::StoreError;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

/// An instance of `lambdapack.errors.<class>` with `message`, and the
/// keyword attributes set on it.
pub fn raise(py: Python<'_>, class: &str, message: impl Into<String>) -> PyErr {
    raise_with(py, class, message, &[])
}

pub fn raise_with(
    py: Python<'_>,
    class: &str,
    message: impl Into<String>,
    attrs: &[(&str, Option<String>)],
) -> PyErr {
    let message = message.into();
    let build = || -> PyResult<PyErr> {
        let cls = py.import("lambdapack.errors")?.getattr(class)?;
        let instance = cls.call1((message.clone(),))?;
        for (name, value) in attrs {
            instance.setattr(*name, value.clone())?;
        }
        Ok(PyErr::from_value(instance))
    };
    // Only a broken installation (no lambdapack.errors) gets here.
    build().unwrap_or_else(|e| PyRuntimeError::new_err(format!("{message} ({e})")))
}

pub fn store_error(py: Python<'_>, e: &StoreError) -> PyErr {
    match e {
        StoreError::InvalidName { .. } => raise(py, "InvalidNameError", e.to_string()),
        _ => raise(py, "StoreError", e.to_string()),
    }
}

/// A BigMatrix operation's error: a missing block is a `LookupError`, an
/// index outside the grid an `IndexError`, a tile of the wrong shape in
/// the store a `StoreError`.
pub fn matrix_error(py: Python<'_>, e: &MatrixError) -> PyErr {
    match e {
        MatrixError::Store(e) => store_error(py, e),
        MatrixError::Missing { .. } | MatrixError::NoHeader { .. } => {
            raise(py, "BlockNotFoundError", e.to_string())
        }
        MatrixError::OutOfGrid { .. } => raise(py, "BlockIndexError", e.to_string()),
        _ => raise(py, "StoreError", e.to_string()),
    }
}

/// A failed job: `NotPositiveDefiniteError` or `SingularMatrixError` (both
/// `numpy.linalg.LinAlgError`s) when the failure's kind says so, else
/// `JobFailedError`; each carries the job, its source line, the kernel and
/// the tile.
fn job_error(py: Python<'_>, e: &JobError) -> PyErr {
    let class = match e.kind {
        FailureKind::NotPositiveDefinite => "NotPositiveDefiniteError",
        FailureKind::Singular => "SingularMatrixError",
        FailureKind::Other => "JobFailedError",
    };
    raise_with(
        py,
        class,
        e.to_string(),
        &[
            ("job", Some(e.job.clone())),
            ("source", e.source.clone()),
            ("kernel", Some(e.op.clone())),
            ("tile", e.tile.clone()),
            ("output", e.output.clone()),
            ("reason", Some(e.message.clone())),
        ],
    )
}

pub fn run_error(py: Python<'_>, e: &RunError) -> PyErr {
    match e {
        RunError::Job(job) => job_error(py, job),
        _ => raise(py, "RunError", e.to_string()),
    }
}
