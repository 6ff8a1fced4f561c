//! `lpc graph (--dot | --stats) FILE|-`: the job DAG as Graphviz DOT, or its
//! statistics.

use super::{CompileArgs, finish_output, load_plan};
use lpc::graph;
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
    /// Enumerate at most N jobs (DOT refuses a larger program; statistics
    /// then leave out what needs every job). Default: 20,000 for DOT,
    /// 4,000,000 for statistics. Whatever N, at most the jobs whose DAG
    /// fits in half of the memory this process may use (about 200 bytes a job).
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
    #[command(flatten)]
    pub compile: CompileArgs,
    /// The program (source or bundle), or `-` for stdin.
    pub file: String,
}

pub fn run(args: Args) -> ExitCode {
    let plan = match load_plan(&args.file, &args.compile.options()) {
        Ok(plan) => plan,
        Err(code) => return code,
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let default = if args.dot { 20_000 } else { 4_000_000 };
    let limit = graph::Limit::new(
        args.limit.unwrap_or(default),
        lp_runtime::local::physical_memory(),
    );
    let result = if args.dot {
        match graph::write_dot(&plan, limit, &mut out) {
            Ok(r) => r,
            Err(too_many) if limit.bound != graph::Bound::Requested => {
                lpc::say!(
                    "error: cannot draw the program: {}",
                    limit.refusal(too_many.jobs)
                );
                return ExitCode::from(2);
            }
            Err(too_many) => {
                lpc::say!(
                    "error: the program has {} jobs, more than the {} `--dot` draws; pass --limit {} to draw it anyway",
                    too_many.jobs,
                    too_many.limit,
                    too_many.jobs
                );
                return ExitCode::from(2);
            }
        }
    } else {
        write!(out, "{}", graph::stats(&plan, limit))
    };
    finish_output(result.and_then(|_| out.flush()), "the graph")
}
