//! The lambdapack compiler: semantic checks, lowering to the job DAG and to a
//! runtime bundle, and the rendering of every diagnostic (the only crate that
//! prints).
//!
//! Pipeline: `grammar::parse` -> [`check::check`] -> [`lower::lower`], driven
//! by [`frontend::compile_source`] (pure) and [`frontend::compile_file`]
//! (reads a file, prints diagnostics, maps to exit codes). [`graph`] renders
//! the DAG as Graphviz DOT and computes its statistics; all diagnostic text
//! and JSON comes from [`diagnostics`].

pub mod check;
pub mod diagnostics;
pub mod error;
pub mod frontend;
pub mod graph;
pub mod lower;

pub use frontend::{CompileOptions, Compiled, SourceOutcome, compile_file, compile_source};
