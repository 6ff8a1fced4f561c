//! The whole front end behind two calls: source text in, a bundle (and the
//! DAG it came from) plus diagnostics out.
//!
//! [`compile_source`] is pure (no I/O, no printing) and is what tests,
//! benches and the fuzz target call. [`compile_file`] is what the CLI
//! subcommands call: it reads a file or stdin, compiles, prints every
//! diagnostic to stderr in the chosen format, and maps the outcome to the
//! exit code convention (0 clean, 1 errors or denied warnings, 2 usage or I/O
//! errors).

use crate::check;
use crate::diagnostics::{self, Diag, Format};
use crate::lower::{self, JobGraph};
use codespan_reporting::diagnostic::Severity;
use lp_runtime::bundle::Bundle;
use std::io::Read;
use std::process::ExitCode;

#[derive(Clone, Copy, Debug, Default)]
pub struct CompileOptions {
    pub format: Format,
    /// Treat warnings as errors (`--deny warnings`).
    pub deny_warnings: bool,
}

/// A program that compiled: what the runtime executes and what graph views
/// show.
#[derive(Clone, Debug)]
pub struct Compiled {
    pub bundle: Bundle,
    pub graph: JobGraph,
    pub warnings: usize,
}

/// The outcome of compiling one source text.
#[derive(Debug)]
pub struct SourceOutcome {
    /// `Some` when there is no error (warnings may be present).
    pub compiled: Option<Compiled>,
    /// Every diagnostic, syntax errors first, in source order within each
    /// phase.
    pub diagnostics: Vec<Diag>,
}

impl SourceOutcome {
    pub fn errors(&self) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity >= Severity::Error)
            .count()
    }

    pub fn warnings(&self) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Warning)
            .count()
    }
}

/// Parses, checks and lowers one source text. Never panics on any input.
///
/// Semantic checks run even when there are syntax errors (on the parts that
/// parsed), so one run reports as much as it can; the dependency-cycle check
/// needs a program free of other errors and runs last.
pub fn compile_source(src: &str) -> SourceOutcome {
    let (program, syntax_errors) = grammar::parse(src);
    let mut diagnostics: Vec<Diag> = syntax_errors
        .iter()
        .map(|e| diagnostics::syntax(src, e))
        .collect();
    let (checked, check_errors) = check::check(&program);
    diagnostics.extend(check_errors.iter().map(|e| diagnostics::check(src, e)));
    let warnings = check_errors.iter().filter(|e| e.is_warning()).count();
    let compiled = match checked {
        Some(checked) if syntax_errors.is_empty() => match lower::lower(checked) {
            Ok(lowered) => Some(Compiled {
                bundle: lowered.bundle,
                graph: lowered.graph,
                warnings,
            }),
            Err(cycles) => {
                // Cycles are errors: they go before the warnings.
                let at = diagnostics
                    .iter()
                    .position(|d| d.severity == Severity::Warning)
                    .unwrap_or(diagnostics.len());
                diagnostics.splice(at..at, cycles.iter().map(|e| diagnostics::check(src, e)));
                None
            }
        },
        _ => None,
    };
    SourceOutcome {
        compiled,
        diagnostics,
    }
}

/// Reads `path` (`-` for stdin), compiles it and prints its diagnostics to
/// stderr. `Err` carries the exit code the command should end with.
pub fn compile_file(path: &str, opts: &CompileOptions) -> Result<Compiled, ExitCode> {
    let (name, src) = read_source(path)?;
    let outcome = compile_source(&src);
    diagnostics::emit_stderr(opts.format, &name, &src, &outcome.diagnostics);
    let (errors, warnings) = (outcome.errors(), outcome.warnings());
    if opts.format == Format::Human && (errors > 0 || warnings > 0) {
        eprintln!("{}", summary(errors, warnings, opts.deny_warnings));
    }
    match outcome.compiled {
        Some(compiled) if !(opts.deny_warnings && warnings > 0) => Ok(compiled),
        _ => Err(ExitCode::from(1)),
    }
}

fn summary(errors: usize, warnings: usize, deny_warnings: bool) -> String {
    let count = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    match (errors, warnings) {
        (0, w) if deny_warnings => {
            format!("error: {} denied (--deny warnings)", count(w, "warning"))
        }
        (0, w) => format!("warning: {} emitted", count(w, "warning")),
        (e, 0) => format!("error: could not compile: {}", count(e, "error")),
        (e, w) => format!(
            "error: could not compile: {}, {}",
            count(e, "error"),
            count(w, "warning")
        ),
    }
}

/// The display name and text of a source; an I/O error is printed as one
/// line and becomes exit code 2.
pub fn read_source(path: &str) -> Result<(String, String), ExitCode> {
    let result = if path == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).map(|_| text)
    } else {
        std::fs::read_to_string(path)
    };
    match result {
        Ok(text) => Ok((
            if path == "-" {
                "<stdin>".to_string()
            } else {
                path.to_string()
            },
            text,
        )),
        Err(e) => {
            eprintln!("error: cannot read {path}: {e}");
            Err(ExitCode::from(2))
        }
    }
}
