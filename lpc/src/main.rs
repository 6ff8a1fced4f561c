//! `lpc`: the lambdapack command line. Each subcommand lives in `cli/`.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod cli;

lp_runtime::global_allocator!();

/// The version line names the tile kernels' library: their speed, and so
/// any timing, depends on it.
fn version() -> String {
    format!(
        "{} (tile kernels: {})",
        env!("CARGO_PKG_VERSION"),
        lp_std::kernel::kernels()
    )
}

#[derive(Parser)]
#[command(
    name = "lpc",
    version = version(),
    about = "The lambdapack compiler and runtime driver"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parse and verify a program; rustc-style diagnostics, exit 1 on error.
    Check(cli::check::Args),
    /// Print the job DAG (Graphviz DOT with --dot, statistics with --stats).
    Graph(cli::graph::Args),
    /// Print a program of the library (`lpc gen --help` lists them)
    /// with its parameters set; --flat prints its expansion.
    Gen(cli::generate::Args),
    /// Print the flat program a (loop) program means: one job per
    /// iteration, every index a number.
    Expand(cli::expand::Args),
    /// Compile a program into a bundle, the form the runtime executes.
    Build(cli::build::Args),
    /// Execute a program or bundle (locally, or on AWS Lambda with
    /// --backend lambda).
    Run(cli::run::Args),
    /// Simulate a run at fleet scale with a cost model: makespan, bounds,
    /// utilisation, requests and dollars.
    Sim(cli::sim::Args),
    /// List a shared store's matrices and runs, collect what dead runs
    /// left, remove matrices.
    #[command(subcommand)]
    Store(cli::store::Command),
    /// Set up the AWS resources of the lambda backend.
    #[command(subcommand)]
    Aws(cli::aws::Command),
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Check(args) => cli::check::run(args),
        Command::Graph(args) => cli::graph::run(args),
        Command::Gen(args) => cli::generate::run(args),
        Command::Expand(args) => cli::expand::run(args),
        Command::Build(args) => cli::build::run(args),
        Command::Run(args) => cli::run::run(args),
        Command::Sim(args) => cli::sim::run(args),
        Command::Store(command) => cli::store::run(command),
        Command::Aws(command) => cli::aws::init(command),
    }
}

#[cfg(test)]
mod tests {
    /// jemalloc runs with lambdapack's options: a misnamed options symbol
    /// would be ignored silently and bring back a page fault per page of
    /// every large tile.
    #[test]
    fn the_allocator_is_jemalloc_with_large_tiles_kept_for_reuse() {
        assert_eq!(
            lp_runtime::alloc::size_option("oversize_threshold"),
            Some(0)
        );
    }

    /// jemalloc asks for huge pages, unless the host has no THP setting to
    /// ask (jemalloc then reports "not supported").
    #[test]
    fn the_allocator_asks_for_huge_pages() {
        let setting = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled");
        let want = if setting.is_ok_and(|s| {
            s.contains("[madvise]") || s.contains("[always]") || s.contains("[never]")
        }) {
            "always"
        } else {
            "not supported"
        };
        assert_eq!(lp_runtime::alloc::str_option("thp").as_deref(), Some(want));
    }
}
