//! The lambdapack compiler: semantic checks, lowering to the program IR
//! (`lp_program`), views of the DAG, the flat expansion, the library of
//! algorithms, and the rendering of every diagnostic (the only crate that
//! prints).
//!
//! Pipeline: `grammar::parse` -> [`check::check`] (which lowers to the IR
//! and runs `lp_program`'s analyses), driven by [`frontend::compile_source`]
//! (pure) and [`frontend::compile_file`] (reads a file, prints diagnostics,
//! maps to exit codes). [`graph`] renders the DAG as Graphviz DOT and
//! computes its statistics, [`expand`] prints the flat program a loop
//! program means, [`library`] holds `lib/*.lp`; all diagnostic text and
//! JSON comes from [`diagnostics`]. [`runner`] holds the steps of a run
//! that `lpc run` and the Python package share.

/// `eprintln!` that cannot panic: a closed or broken stderr (`lpc run ...
/// 2>&1 | head -1`) must not abort a run whose outputs are still to be
/// written and published. What cannot be said is dropped.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// `println!` that cannot panic, for reports printed while work remains
/// (`lpc sim ... --trace t.json | head -3` still writes its trace). A
/// listing that must be whole goes through `cli::finish_output` instead.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

pub mod check;
pub mod diagnostics;
pub mod error;
pub mod expand;
pub mod frontend;
pub mod graph;
pub mod library;
pub mod placement;
pub mod runner;

pub use frontend::{CompileOptions, Compiled, SourceOutcome, compile_file, compile_source};
