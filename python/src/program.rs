//! Programs from Python: source text, a `.lp` or bundle file, a bundle's
//! bytes or a library program's name, compiled with `params`; and
//! `lambdapack.check`, which returns the diagnostics instead of printing
//! them.

use crate::errors::raise_with;
use codespan_reporting::diagnostic::{LabelStyle, Severity};
use codespan_reporting::files::{Files, SimpleFile};
use lp_program::{Plan, bundle};
use lpc::diagnostics::{self, Diag};
use lpc::frontend::{CompileOptions, SettingError, SourceOutcome, compile_source};
use lpc::library;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use std::path::PathBuf;

/// One diagnostic of a program: what `lpc check` prints, as fields.
#[pyclass(module = "lambdapack", name = "Diagnostic", frozen, get_all)]
pub struct PyDiagnostic {
    /// The one-line message.
    pub message: String,
    /// "error", "warning", "note" or "help".
    pub severity: &'static str,
    /// 1-based line and column of the primary label (None without one).
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// The rustc-style text `lpc check` prints, source excerpt included.
    pub rendered: String,
}

#[pymethods]
impl PyDiagnostic {
    fn __repr__(&self) -> String {
        let at = match (self.line, self.column) {
            (Some(l), Some(c)) => format!(" at {l}:{c}"),
            _ => String::new(),
        };
        format!("<Diagnostic {}{at}: {}>", self.severity, self.message)
    }

    fn __str__(&self) -> String {
        self.rendered.clone()
    }
}

/// Where a program comes from.
pub enum Source {
    Text { name: String, text: String },
    Bundle { name: String, bytes: Vec<u8> },
}

/// Text with a newline is source; a library program's name is that
/// program; anything else (a str or a path) is a file, read as a bundle if
/// it starts with the bundle magic and as `.lp` source otherwise.
pub fn source(obj: &Bound<'_, PyAny>) -> PyResult<Source> {
    if let Ok(bytes) = obj.cast::<PyBytes>() {
        let bytes = bytes.as_bytes().to_vec();
        if !bundle::is_bundle(&bytes) {
            return Err(PyValueError::new_err(
                "program: these bytes are not a bundle (`lpc build` writes one)",
            ));
        }
        let name = "<bundle>".to_string();
        return Ok(Source::Bundle { name, bytes });
    }
    let path: PathBuf = match obj.extract::<String>() {
        // Blank text is an empty program (valid), not a path.
        Ok(text) if text.contains('\n') || text.trim().is_empty() => {
            let name = "<string>".to_string();
            return Ok(Source::Text { name, text });
        }
        Ok(text) => match library::source(&text) {
            Some(src) => {
                let (name, text) = (format!("{text}.lp"), src.to_string());
                return Ok(Source::Text { name, text });
            }
            None => PathBuf::from(text),
        },
        Err(_) => obj.extract::<PathBuf>().map_err(|_| {
            PyTypeError::new_err(
                "program must be source text, a path, a library name or bundle bytes",
            )
        })?,
    };
    let bytes = std::fs::read(&path).map_err(|e| {
        pyo3::exceptions::PyFileNotFoundError::new_err(format!(
            "cannot read program {}: {e} (not a library program either: {})",
            path.display(),
            library::names().join(", ")
        ))
    })?;
    let name = path.display().to_string();
    if bundle::is_bundle(&bytes) {
        return Ok(Source::Bundle { name, bytes });
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| PyValueError::new_err(format!("{name} is not UTF-8 text")))?;
    Ok(Source::Text { name, text })
}

/// `params` as `--set` values.
fn settings(params: Option<&Bound<'_, PyDict>>) -> PyResult<Vec<(String, i64)>> {
    let mut out = Vec::new();
    if let Some(params) = params {
        for (k, v) in params.iter() {
            let name: String = k
                .extract()
                .map_err(|_| PyTypeError::new_err("params keys must be parameter names (str)"))?;
            let value: i64 = v
                .extract()
                .map_err(|_| PyTypeError::new_err(format!("params[{name:?}] must be an int")))?;
            out.push((name, value));
        }
    }
    Ok(out)
}

fn compile(name: &str, text: &str, settings: Vec<(String, i64)>) -> PyResult<SourceOutcome> {
    let opts = CompileOptions {
        settings,
        ..CompileOptions::default()
    };
    compile_source(text, name, &opts).map_err(|e| match e {
        SettingError::Unknown { name, known } => {
            let known = if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            };
            PyValueError::new_err(format!(
                "params: the program has no parameter `{name}` (it has {known})"
            ))
        }
        // A dict names each parameter once.
        e @ SettingError::Twice { .. } => PyValueError::new_err(e.to_string()),
    })
}

fn diagnostic(name: &str, text: &str, d: &Diag) -> PyDiagnostic {
    let file = SimpleFile::new(name, text);
    let location = d
        .labels
        .iter()
        .find(|l| l.style == LabelStyle::Primary)
        .and_then(|l| file.location((), l.range.start).ok());
    PyDiagnostic {
        message: d.message.clone(),
        severity: match d.severity {
            Severity::Bug | Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
            Severity::Help => "help",
        },
        line: location.as_ref().map(|l| l.line_number),
        column: location.as_ref().map(|l| l.column_number),
        rendered: diagnostics::render_plain(name, text, std::slice::from_ref(d)),
    }
}

/// The program compiled with `params`, as the plan the runtime executes;
/// errors raise `lambdapack.ProgramError` carrying the diagnostics.
pub fn plan(
    py: Python<'_>,
    obj: &Bound<'_, PyAny>,
    params: Option<&Bound<'_, PyDict>>,
) -> PyResult<Plan> {
    let settings = settings(params)?;
    match source(obj)? {
        Source::Bundle { name, bytes } => {
            if !settings.is_empty() {
                return Err(PyValueError::new_err(format!(
                    "params apply to a program, not to the bundle {name} (its parameters are fixed)"
                )));
            }
            bundle::decode(&bytes)
                .map_err(|e| crate::errors::raise(py, "ProgramError", format!("{name}: {e}")))
        }
        Source::Text { name, text } => {
            let outcome = compile(&name, &text, settings)?;
            let errors = outcome.errors();
            match outcome.compiled {
                Some(compiled) => Ok(compiled.checked.plan),
                None => Err(program_error(
                    py,
                    &name,
                    &text,
                    &outcome.diagnostics,
                    errors,
                )),
            }
        }
    }
}

fn program_error(py: Python<'_>, name: &str, text: &str, diags: &[Diag], errors: usize) -> PyErr {
    let rendered = diagnostics::render_plain(name, text, diags);
    let list: Vec<PyDiagnostic> = diags.iter().map(|d| diagnostic(name, text, d)).collect();
    let err = raise_with(
        py,
        "ProgramError",
        format!(
            "{name} does not compile: {errors} error{}\n{rendered}",
            if errors == 1 { "" } else { "s" }
        ),
        &[],
    );
    let value = err.value(py);
    let list: PyResult<Vec<Py<PyDiagnostic>>> = list.into_iter().map(|d| Py::new(py, d)).collect();
    if let Ok(list) = list {
        let _ = value.setattr("diagnostics", list);
    }
    err
}

/// check(program, params=None) -> list[Diagnostic]
///
/// Compiles a program (source text, a .lp path or a library program's
/// name) with `params` and returns every diagnostic, errors and warnings,
/// without raising for program errors: an empty list means the program is
/// clean. `lpc check` prints the same diagnostics.
#[pyfunction]
#[pyo3(signature = (program, params=None))]
pub fn check(
    program: &Bound<'_, PyAny>,
    params: Option<&Bound<'_, PyDict>>,
) -> PyResult<Vec<PyDiagnostic>> {
    let settings = settings(params)?;
    match source(program)? {
        Source::Bundle { name, bytes } => match bundle::decode(&bytes) {
            Ok(_) => Ok(Vec::new()),
            Err(e) => Ok(vec![PyDiagnostic {
                message: format!("{name}: {e}"),
                severity: "error",
                line: None,
                column: None,
                rendered: format!("error: {name}: {e}\n"),
            }]),
        },
        Source::Text { name, text } => {
            let outcome = compile(&name, &text, settings)?;
            Ok(outcome
                .diagnostics
                .iter()
                .map(|d| diagnostic(&name, &text, d))
                .collect())
        }
    }
}

/// library() -> dict[str, str]: the library's programs and what each
/// computes (their names work wherever a program is taken).
#[pyfunction]
pub fn library_programs() -> Vec<(&'static str, &'static str)> {
    library::names()
        .into_iter()
        .map(|n| (n, library::summary(n)))
        .collect()
}

/// The parameters a library program declares, in order.
#[pyfunction]
pub fn library_params(name: &str) -> Vec<&'static str> {
    library::params(name)
}
