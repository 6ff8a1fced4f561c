//! `lpc expand FILE|- [--set NAME=VALUE]...`: the flat program a program
//! means (see `lpc::expand`).

use super::{CompileArgs, finish_output, load_plan};
use lpc::expand;
use std::io::{BufWriter, Write};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// The program (source or bundle), or `-` for stdin.
    pub file: String,
    #[command(flatten)]
    pub compile: CompileArgs,
}

pub fn run(args: Args) -> ExitCode {
    let plan = match load_plan(&args.file, &args.compile.options()) {
        Ok(plan) => plan,
        Err(code) => return code,
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let header = header(&args.file, &args.compile.settings);
    let result = expand::write_flat(&plan, &header, &mut out);
    finish_output(result.and_then(|_| out.flush()), "the expansion")
}

/// The comment that opens an expansion: where it came from.
pub fn header(file: &str, settings: &[lpc::frontend::Setting]) -> String {
    let sets: String = settings
        .iter()
        .map(|(n, v)| format!(" --set {n}={v}"))
        .collect();
    format!("Expanded by `lpc expand {file}{sets}`: one job per iteration, in program order.")
}
