//! `lpc check FILE|- [--deny warnings] [--format human|json]`.

use lpc::diagnostics::Format;
use lpc::{CompileOptions, compile_file};
use std::process::ExitCode;

/// Lints that `--deny` can turn into errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Lint {
    Warnings,
}

#[derive(clap::Args)]
pub struct Args {
    /// The program to check, or `-` for stdin.
    pub file: String,
    /// Treat warnings as errors (`--deny warnings`).
    #[arg(long, value_name = "LINT")]
    pub deny: Option<Lint>,
    /// How to print diagnostics.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

pub fn run(args: Args) -> ExitCode {
    let opts = CompileOptions {
        format: args.format,
        deny_warnings: args.deny == Some(Lint::Warnings),
    };
    match compile_file(&args.file, &opts) {
        Ok(_) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}
