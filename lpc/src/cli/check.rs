//! `lpc check FILE|- [--set NAME=VALUE]... [--deny warnings] [--format human|json]`.

use super::CompileArgs;
use lpc::compile_file;
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
    #[command(flatten)]
    pub compile: CompileArgs,
}

pub fn run(args: Args) -> ExitCode {
    let mut opts = args.compile.options();
    opts.deny_warnings = args.deny == Some(Lint::Warnings);
    match compile_file(&args.file, &opts) {
        Ok(_) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}
