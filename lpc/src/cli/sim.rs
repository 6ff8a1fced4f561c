//! `lpc sim`: predict a run from the protocol and a cost model (`lp-sim`):
//! makespan, bounds, utilisation, requests and dollars; `--plot` draws the
//! utilisation as SVG, `--trace` writes the simulated run as Chrome trace
//! events, `--sweep` tabulates several sizes or worker counts.

use crate::cli::{CompileArgs, human_bytes, parse_size, write_atomically};
use lp_program::Plan;
use lp_sim::clock::secs;
use lp_sim::engine::{SimError, check_workers};
use lp_sim::model::{Kind, figure_text};
use lp_sim::{Model, Report, SimOptions, simulate};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod sweep;

#[derive(clap::Args)]
pub struct Args {
    /// A `.lp` program or a bundle written by `lpc build`.
    program: String,
    /// Workers: threads (`local`) or the Lambda concurrency (`lambda`).
    #[arg(long)]
    workers: Option<u64>,
    /// A built-in model (`local`, `lambda`, `emulated`) or a model file (TOML; see
    /// docs/simulator.md).
    #[arg(long, default_value = "local")]
    model: String,
    /// Write the utilisation over time as an SVG plot.
    #[arg(long, value_name = "FILE")]
    plot: Option<PathBuf>,
    /// Write the simulated run as Chrome trace events (as `lpc run
    /// --trace`), at most --trace-jobs job executions.
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// The most job executions --trace records.
    #[arg(long, value_name = "N", default_value_t = 20_000, requires = "trace")]
    trace_jobs: usize,
    /// Simulate every combination: `workers=100,1000`, or a program
    /// parameter (`tile` means `b`, the library's tile size) (repeatable,
    /// once per name; at most 10000 combinations).
    #[arg(long, value_name = "NAME=V1,V2,...", value_parser = sweep::parse_sweep)]
    sweep: Vec<sweep::Sweep>,
    /// Threads models: memory for tiles of initialised inputs kept for
    /// their later loads, as `lpc run --input-cache` (e.g. `512MiB`; `0`
    /// generates a tile at every load) [default: 1GiB].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    input_cache: Option<u64>,
    /// Print the model's figures and their sources, and exit.
    #[arg(long)]
    show_model: bool,
    #[command(flatten)]
    compile: CompileArgs,
}

/// The options of a simulation on `workers` workers, without a trace.
fn options(args: &Args, workers: u64) -> SimOptions {
    let defaults = SimOptions::new(workers);
    SimOptions {
        input_budget: args.input_cache.unwrap_or(defaults.input_budget),
        ..defaults
    }
}

/// An error worth one line; 2 for usage and I/O, 1 for a failed simulation.
struct Fail(u8, String);

impl Fail {
    /// Prints the refusal; the exit code it ends with.
    fn said(self) -> ExitCode {
        let Fail(code, message) = self;
        lpc::say!("error: {message}");
        ExitCode::from(code)
    }
}

/// Neither `--workers` nor `--sweep workers=...` was given.
const WORKERS_REQUIRED: &str = "--workers is required (or --sweep workers=...)";

pub fn run(args: Args) -> ExitCode {
    execute(&args).unwrap_or_else(Fail::said)
}

fn execute(args: &Args) -> Result<ExitCode, Fail> {
    let model = Model::load(&args.model).map_err(|e| Fail(2, e.to_string()))?;
    if args.show_model {
        print_model(&model);
        return Ok(ExitCode::SUCCESS);
    }
    // Before a sweep too, which would otherwise compile every point first.
    if let Some(workers) = args.workers {
        check_workers(workers).map_err(|e| Fail(2, format!("--workers: {e}")))?;
    }
    if args.input_cache.is_some() && model.kind() != Kind::Threads {
        return Err(Fail(
            2,
            format!(
                "--input-cache: model `{}` simulates Lambda workers, which keep no generated \
                 inputs; the option applies to threads models (`lpc run`'s local backend)",
                model.name()
            ),
        ));
    }
    if !args.sweep.is_empty() {
        return Ok(sweep::run(args, &model));
    }
    let workers = args
        .workers
        .ok_or_else(|| Fail(2, WORKERS_REQUIRED.to_string()))?;
    let plan = match load_plan(args) {
        Ok(plan) => plan,
        Err(code) => return Ok(code),
    };
    check_destinations(args)?;
    let opts = SimOptions {
        trace: args.trace.clone(),
        trace_jobs: args.trace_jobs,
        ..options(args, workers)
    };
    let report = simulate(&plan, &model, &opts).map_err(|e| match e {
        SimError::Trace(_) => Fail(2, e.to_string()),
        _ => Fail(1, e.to_string()),
    })?;
    print_report(&report, &model);
    if let Some(path) = &args.trace {
        lpc::say!(
            "  trace         {} (open it in https://ui.perfetto.dev)",
            path.display()
        );
    }
    if let Some(path) = &args.plot {
        let title = format!(
            "{}: {} jobs on {} workers ({} model)",
            args.program, report.jobs, report.workers, report.model
        );
        let svg = lp_sim::svg::utilisation(&report, &title);
        write_atomically(path, svg.as_bytes())
            .map_err(|e| Fail(2, format!("cannot write {}: {e}", path.display())))?;
        lpc::say!("  plot          {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// The files a simulation writes are checked before it runs, as `lpc
/// run`'s are: a mistyped path costs no simulation.
fn check_destinations(args: &Args) -> Result<(), Fail> {
    let trace = args
        .trace
        .iter()
        .map(|path| ("--trace".to_string(), path.as_path()));
    let plot = args
        .plot
        .iter()
        .map(|path| ("--plot".to_string(), path.as_path()));
    let writes: Vec<_> = trace.chain(plot).collect();
    let program = (
        "the program being run".to_string(),
        Path::new(&args.program),
    );
    lpc::runner::check_destinations(&writes, &[program]).map_err(|e| Fail(2, e.to_string()))
}

/// The program as `--set` gives it.
fn load_plan(args: &Args) -> Result<Plan, ExitCode> {
    super::load_plan(&args.program, &args.compile.options())
}

fn print_model(model: &Model) {
    lpc::outln!(
        "model {} ({:?}): {}",
        model.name(),
        model.kind(),
        model.file.description
    );
    for (field, value, source) in model.figures() {
        lpc::outln!("  {field} = {value}\n      source: {source}");
    }
}

fn seconds(t: u64) -> String {
    let s = secs(t);
    if s < 1.0 {
        format!("{:.1} ms", s * 1e3)
    } else if s < 600.0 {
        format!("{s:.2} s")
    } else {
        format!("{:.0} s ({:.2} h)", s, s / 3600.0)
    }
}

/// The report's first line, and a note when the concurrency asked for is
/// above the account's limit.
fn print_heading(r: &Report, model: &Model, lambda: bool) {
    let on = if lambda {
        "Lambda concurrency"
    } else {
        "workers"
    };
    lpc::outln!(
        "simulated {} jobs on {} {on} ({} model)",
        r.jobs,
        r.workers,
        r.model
    );
    let limit = model.file.platform.concurrency_limit.get();
    if lambda && r.workers as f64 > limit {
        lpc::outln!(
            "  {:<14}{} workers is above the account limit of {limit}: it assumes a raised quota",
            "note",
            r.workers
        );
    }
}

fn print_report(r: &Report, model: &Model) {
    let lambda = r.kind == Kind::Lambda;
    print_heading(r, model, lambda);
    let line = |label: &str, value: String| lpc::outln!("  {label:<14}{value}");
    let mut makespan = seconds(r.makespan);
    if lambda {
        makespan.push_str(&format!(
            " (the driver sees it at {})",
            seconds(r.driver_done)
        ));
    }
    line("makespan", makespan);
    line(
        "bounds",
        format!(
            "critical path {}, busy time / workers {}",
            seconds(r.critical_path),
            seconds(r.work_bound)
        ),
    );
    line(
        "utilisation",
        format!("{:.1}% of worker time busy", 100.0 * r.utilisation()),
    );
    let gflops = r.flops / secs(r.makespan).max(1e-12) / 1e9;
    line(
        "compute",
        format!("{:.2} GFLOP, {gflops:.1} GFLOP/s", r.flops / 1e9),
    );
    line(
        "transfers",
        format!(
            "loaded {}, stored {}",
            human_bytes(r.bytes_loaded),
            human_bytes(r.bytes_stored)
        ),
    );
    // A relaunch runs its job again only if it arrives before the job
    // finished: the count of relaunches alone would read as repeated runs.
    let repeats = if r.relaunches > 0 {
        format!(", {} of them ran again", r.repeats())
    } else {
        String::new()
    };
    line(
        "executions",
        format!(
            "{} ({} relaunched after a lease{repeats}; {} killed at the time limit)",
            r.executions, r.relaunches, r.killed
        ),
    );
    print_requests(r, lambda);
    print_cost(r, model, lambda);
    line(
        "tiles held",
        format!(
            "at most {} at once ({} temps, {} of temps)",
            r.peak_tiles,
            r.peak_temp_tiles,
            human_bytes(r.peak_temp_bytes)
        ),
    );
    if let Some(w) = &r.idle_waits {
        line("waits", super::idle_waits(w));
    }
}

fn print_requests(r: &Report, lambda: bool) {
    let q = &r.requests;
    let (store, counters, launches) = if lambda {
        ("S3", "DynamoDB", "Lambda")
    } else {
        ("store", "counters", "queue")
    };
    let line = |label: &str, value: String| lpc::outln!("  {label:<14}{value}");
    line(
        "requests",
        format!(
            "{store}: {} GET, {} PUT, {} DELETE; {counters}: {} reads, {} writes, {} query pages ({} read units)",
            q.store_gets,
            q.store_puts,
            q.store_deletes,
            q.counter_reads,
            q.counter_writes,
            q.counter_queries,
            q.query_read_units
        ),
    );
    line(
        "launches",
        format!(
            "{launches}: {} (the rest continued on their parent's worker)",
            q.invocations
        ),
    );
}

/// `x` with `decimals` decimals, or in scientific notation where that
/// would run to more than 15 digits before the point (a model's figures
/// may be as large as 1e308).
fn fixed(x: f64, decimals: usize) -> String {
    if x.abs() >= 1e15 {
        format!("{x:.3e}")
    } else {
        format!("{x:.decimals$}")
    }
}

fn print_cost(r: &Report, model: &Model, lambda: bool) {
    let line = |label: &str, value: String| lpc::outln!("  {label:<14}{value}");
    if lambda {
        line(
            "workers",
            format!(
                "{} environments, {} cold starts; billed {} at {} MB = {} GB-s",
                r.environments,
                r.cold_starts,
                seconds(r.billed),
                figure_text(model.file.worker.memory_mb.get()),
                fixed(r.gb_seconds, 1)
            ),
        );
    }
    let d = &r.dollars;
    let dollars = |x: f64| format!("${}", fixed(x, 4));
    line(
        "cost",
        format!(
            "{} (compute {}, invocations {}, store {}, counters {})",
            dollars(d.total()),
            dollars(d.compute),
            dollars(d.invocations),
            dollars(d.store),
            dollars(d.counters)
        ),
    );
}
