//! `lpc graph (--dot | --stats) FILE|-`: the job DAG as Graphviz DOT, or its
//! statistics.

use lpc::diagnostics::Format;
use lpc::graph;
use lpc::{CompileOptions, compile_file};
use std::io::{BufWriter, Write};
use std::process::ExitCode;

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("view").required(true).args(["dot", "stats"])))]
pub struct Args {
    /// Print Graphviz DOT (render with `dot -Tsvg`).
    #[arg(long)]
    pub dot: bool,
    /// Print jobs, edges, critical path, total flops and the width profile.
    #[arg(long)]
    pub stats: bool,
    /// How to print diagnostics.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// The program, or `-` for stdin.
    pub file: String,
}

pub fn run(args: Args) -> ExitCode {
    let opts = CompileOptions {
        format: args.format,
        deny_warnings: false,
    };
    let compiled = match compile_file(&args.file, &opts) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let result = if args.dot {
        graph::write_dot(&compiled.bundle, &compiled.graph, &mut out)
    } else {
        write!(out, "{}", graph::stats(&compiled.bundle, &compiled.graph))
    };
    match result.and_then(|_| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: cannot write the graph: {e}");
            ExitCode::from(2)
        }
    }
}
