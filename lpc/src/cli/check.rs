//! `lpc check FILE|- [--set NAME=VALUE]... [--deny warnings] [--format human|json]`.

use super::CompileArgs;
use std::process::ExitCode;

/// Lints that `--deny` can turn into errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Lint {
    Warnings,
}

#[derive(clap::Args)]
pub struct Args {
    /// The program to check (`-` for stdin), or a bundle to validate as
    /// `lpc run` does.
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
    // A bundle is validated as `lpc run` validates it.
    match super::load_plan(&args.file, &opts) {
        Ok(_) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}
