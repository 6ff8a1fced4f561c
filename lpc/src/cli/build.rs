//! `lpc build`: compile a program into a bundle file.

use crate::cli::write_atomically;
use lpc::diagnostics::Format;
use lpc::frontend::{CompileOptions, compile_file};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// The program (`-` reads standard input).
    file: String,
    /// Where to write the bundle.
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
    /// Diagnostic format.
    #[arg(long, value_enum, default_value = "human")]
    format: Format,
}

pub fn run(args: Args) -> ExitCode {
    let opts = CompileOptions {
        format: args.format,
        deny_warnings: false,
    };
    let compiled = match compile_file(&args.file, &opts) {
        Ok(compiled) => compiled,
        Err(code) => return code,
    };
    let bytes = compiled.bundle.encode();
    if let Err(e) = write_atomically(&args.output, &bytes) {
        eprintln!("error: cannot write {}: {e}", args.output.display());
        return ExitCode::from(2);
    }
    eprintln!(
        "wrote {} ({} jobs, {} bytes, content key {})",
        args.output.display(),
        compiled.bundle.jobs.len(),
        bytes.len(),
        compiled.bundle.content_key()
    );
    ExitCode::SUCCESS
}
