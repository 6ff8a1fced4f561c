//! `lpc check FILE|- [--set NAME=VALUE]... [--deny warnings] [--format human|json]`.

use super::CompileArgs;
use lp_program::bundle;
use lpc::compile_file;
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
    if args.file != "-" {
        // A bundle is recognised by its magic bytes, as by `lpc run` and
        // `lpc sim`; anything else is read as source.
        match std::fs::read(&args.file) {
            Ok(bytes) if bundle::is_bundle(&bytes) => return check_bundle(&args, &bytes),
            Ok(_) => {}
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", args.file);
                return ExitCode::from(2);
            }
        }
    }
    let mut opts = args.compile.options();
    opts.deny_warnings = args.deny == Some(Lint::Warnings);
    match compile_file(&args.file, &opts) {
        Ok(_) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}

/// Decodes the bundle with the validation `lpc run` applies (structure,
/// then the range, write-once and acyclicity analyses); a bundle has no
/// parameters to set and its refusals are `lpc run`'s, exit 2.
fn check_bundle(args: &Args, bytes: &[u8]) -> ExitCode {
    let path = &args.file;
    if !args.compile.settings.is_empty() {
        eprintln!(
            "error: --set applies to a program, not to the bundle {path} (its parameters are fixed)"
        );
        return ExitCode::from(2);
    }
    match bundle::decode(bytes) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {path}: {e}");
            ExitCode::from(2)
        }
    }
}
