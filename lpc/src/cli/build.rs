//! `lpc build`: compile a program into a bundle file.

use super::{CompileArgs, write_atomically};
use lp_program::bundle;
use lpc::compile_file;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// The program (`-` reads standard input).
    file: String,
    /// Where to write the bundle (not the program itself).
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
    #[command(flatten)]
    compile: CompileArgs,
}

pub fn run(args: Args) -> ExitCode {
    if args.file != "-" && lpc::runner::same_file(Path::new(&args.file), &args.output) {
        lpc::say!(
            "error: cannot write {}: it is the program being built (a bundle would replace its source)",
            args.output.display()
        );
        return ExitCode::from(2);
    }
    let compiled = match compile_file(&args.file, &args.compile.options()) {
        Ok(compiled) => compiled,
        Err(code) => return code,
    };
    let program = compiled.program();
    let bytes = bundle::encode(program);
    if let Err(e) = write_atomically(&args.output, &bytes) {
        lpc::say!("error: cannot write {}: {e}", args.output.display());
        return ExitCode::from(2);
    }
    lpc::say!(
        "wrote {} ({} jobs, {} bytes, content key {})",
        args.output.display(),
        compiled.plan().job_count(),
        bytes.len(),
        bundle::content_key(program)
    );
    ExitCode::SUCCESS
}
