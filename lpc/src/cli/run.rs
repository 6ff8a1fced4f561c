//! `lpc run`: execute a program or bundle on the local backend (threads
//! over a memory or directory store) or on the lambda backend (S3,
//! DynamoDB, Lambda workers; `cli::aws`), with inputs from `.npy` files,
//! outputs to `.npy` files, a progress bar, a summary, an optional Chrome
//! trace (local) and an optional residual check. Both backends go through
//! the same steps (`lpc::runner`, which the Python package shares): headers
//! and inputs into the store, the run, then outputs and verification read
//! back from the store. This module adds the flags, the progress bar, the
//! summary and the exit codes.
//!
//! Order of work, chosen so that a mistake costs nothing: every argument is
//! validated against the program, the machine (worker count, tile size)
//! and the file system (every file the run will write) before a tile is
//! computed; outputs are exported only after a successful and verified run
//! (each through a temp file renamed into place), and Ctrl-C stops the
//! workers between jobs and writes no output.

use crate::cli::aws::{AwsArgs, Lambda};
use crate::cli::{CompileArgs, human_bytes, human_duration, parse_size};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use lp_program::Plan;
use lp_runtime::local::Schedule;
use lp_runtime::matrix::{MatrixError, Transfer};
use lp_runtime::metrics::{KernelTime, Progress, RunSummary};
use lp_runtime::store::maintenance;
use lp_runtime::store::runs::{RunGuard, fresh_run_id};
use lp_runtime::store::{Namespace, RunStore, Store, validate_matrix_name};
use lp_runtime::verify::Check;
use lpc::placement::InputSource;
use lpc::runner::{self, Binding, RunFailure, RunOptions, StoreSpec};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[derive(clap::Args)]
pub struct Args {
    /// A `.lp` program or a bundle written by `lpc build`.
    program: String,
    /// `local` (threads on this machine) or `lambda` (tiles in S3, counters
    /// in DynamoDB, one Lambda invocation per job; needs --bucket, --table).
    #[arg(long, value_enum, default_value_t = Backend::Local)]
    backend: Backend,
    /// Local backend: where tiles live, `mem` (in memory) or `dir:PATH` (one
    /// `.npy` file per tile under PATH; for matrices larger than RAM).
    #[arg(long, default_value = "mem", value_parser = parse_store)]
    store: StoreSpec,
    /// Worker threads (default: the number of cores; at most 1024).
    #[arg(long, value_parser = parse_workers)]
    workers: Option<usize>,
    /// Supply input matrix NAME from a whole `.npy` file, or from matrix
    /// STORED of the store with `NAME=store:STORED` (repeatable).
    #[arg(long, value_name = "NAME=FILE", value_parser = parse_input)]
    input: Vec<(String, Input)>,
    /// Write matrix NAME to a whole `.npy` file after the run (and after
    /// --verify passes) (repeatable).
    #[arg(long, value_name = "NAME=FILE", value_parser = parse_binding)]
    output: Vec<(String, PathBuf)>,
    /// After a successful (and verified, with --verify) run, publish output
    /// NAME in the store as AS (default: NAME), for later runs to read with
    /// `--input X=store:AS` (repeatable; needs a store that outlives the
    /// run, `--store dir:PATH` or the lambda backend's). Atomic: a reader
    /// sees the old matrix or the new one.
    #[arg(long, value_name = "NAME[=AS]", value_parser = parse_publish)]
    publish: Vec<(String, String)>,
    /// Check the answer with random probe vectors (Cholesky, GEMM,
    /// triangular solve, solve, least squares, QR, LU: the library's
    /// programs, by their matrix names) before any output is written; exit 1
    /// and write nothing if the residual is too large. The check reads the
    /// inputs after the run, so their imported tiles are copied, not
    /// updated in place.
    #[arg(long)]
    verify: bool,
    /// Write a Chrome trace (open it in Perfetto) of every job and kernel.
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// Which ready job a worker runs next (local backend): `critical-path`
    /// (the longest remaining chain of work first: the program's stated
    /// priorities, else bottom levels for programs up to 500,000 jobs) or
    /// `fifo` (launch order).
    #[arg(long, value_enum, default_value_t = ScheduleArg::CriticalPath)]
    schedule: ScheduleArg,
    /// Local backend: memory for tiles of initialised inputs (`spd(42)`, not
    /// supplied with --input), generated once and kept for their later
    /// loads, e.g. `512MiB`, `4GiB`; `0` generates a tile at every load
    /// [default: 1GiB].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    input_cache: Option<u64>,
    /// Re-deliver a job launched but not finished after this many seconds
    /// (default: 300 locally, 960 on Lambda, above its 15-minute limit).
    #[arg(long, value_name = "SECONDS")]
    lease: Option<u64>,
    /// No progress bar (it is also hidden when stderr is not a terminal).
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    compile: CompileArgs,
    #[command(flatten)]
    aws: AwsArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum ScheduleArg {
    CriticalPath,
    Fifo,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Backend {
    Local,
    Lambda,
}

/// A worker count given explicitly; 0 is refused rather than read as
/// "the default", which is what leaving the option out says.
fn parse_workers(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("a run needs at least one worker".to_string()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

fn parse_store(s: &str) -> Result<StoreSpec, String> {
    StoreSpec::parse(s)
}

/// Where `--input` takes a matrix from.
#[derive(Clone, Debug)]
enum Input {
    File(PathBuf),
    Stored(String),
}

impl Input {
    fn as_source(&self) -> InputSource<'_> {
        match self {
            Input::File(path) => InputSource::File(path),
            Input::Stored(name) => InputSource::Stored(name),
        }
    }
}

fn parse_input(s: &str) -> Result<(String, Input), String> {
    let (name, file) = parse_binding(s)?;
    Ok(match file.to_str().and_then(|f| f.strip_prefix("store:")) {
        Some(stored) => {
            validate_matrix_name(stored).map_err(|e| e.to_string())?;
            (name, Input::Stored(stored.to_string()))
        }
        None => (name, Input::File(file)),
    })
}

fn parse_publish(s: &str) -> Result<(String, String), String> {
    let (name, as_name) = match s.split_once('=') {
        Some((name, as_name)) => (name, as_name),
        None => (s, s),
    };
    validate_matrix_name(as_name).map_err(|e| e.to_string())?;
    Ok((name.to_string(), as_name.to_string()))
}

fn parse_binding(s: &str) -> Result<(String, PathBuf), String> {
    match s.split_once('=') {
        Some((name, file)) if !name.is_empty() && !file.is_empty() => {
            Ok((name.to_string(), PathBuf::from(file)))
        }
        _ => Err(format!("expected NAME=FILE, found `{s}`")),
    }
}

/// An error already worth one line to the user; the exit code is 2 for
/// usage and I/O problems and 1 for a failed run or check.
struct Fail(u8, String);

pub fn run(args: Args) -> ExitCode {
    match execute(args) {
        Ok(code) => code,
        Err(Fail(code, message)) => {
            lpc::say!("error: {message}");
            ExitCode::from(code)
        }
    }
}

/// The runtime's options from the command line's.
fn run_options(args: &Args) -> RunOptions {
    RunOptions {
        workers: args.workers.unwrap_or(0),
        lease: args.lease.map(|secs| Duration::from_secs(secs.max(1))),
        trace: args.trace.clone(),
        schedule: match args.schedule {
            ScheduleArg::CriticalPath => Schedule::CriticalPath,
            ScheduleArg::Fifo => Schedule::Fifo,
        },
        input_budget: args.input_cache,
        ..RunOptions::default()
    }
}

fn execute(args: Args) -> Result<ExitCode, Fail> {
    runner::check_workers(args.workers.unwrap_or(0)).map_err(refused)?;
    let mut opts = run_options(&args);
    let stop = opts.stop.clone();
    // A second Ctrl-C while stopping exits at once, as the default
    // handler would, but without a half-written output beside its file.
    let _ = ctrlc::set_handler(move || {
        if stop.swap(true, Ordering::SeqCst) {
            lp_runtime::atomic_file::remove_unfinished();
            std::process::exit(130);
        }
    });
    let plan = match super::load_plan(&args.program, &args.compile.options()) {
        Ok(plan) => plan,
        Err(code) => return Ok(code),
    };
    let check = preflight(&plan, &args)?;
    let supplied: Vec<&str> = args.input.iter().map(|(name, _)| name.as_str()).collect();
    let plan = runner::without_initialisers(plan, &supplied).map_err(|e| Fail(2, e))?;
    let program = plan.program();
    let lambda = match args.backend {
        Backend::Local => None,
        Backend::Lambda => Some(Lambda::connect(&args.aws).map_err(|e| Fail(2, e))?),
    };
    // A local run's kernels are this process's (Lambda's, the workers').
    if let (None, Some(warning)) = (&lambda, lp_std::kernel::kernels_warning()) {
        lpc::say!("warning: {warning}");
    }
    let shared: Arc<dyn Store> = match &lambda {
        Some(lambda) => lambda.store(),
        None => args.store.open().map_err(|e| Fail(2, e))?,
    };
    for (name, as_name) in &args.publish {
        maintenance::check_publishable(shared.as_ref(), as_name)
            .map_err(|e| Fail(2, format!("--publish {name}: {e}")))?;
    }
    // From here on, dropping the guard (an error, Ctrl-C) removes
    // everything this run wrote to the store.
    let guard = RunGuard::begin(shared.clone(), &fresh_run_id(), &program_label(&args))
        .map_err(|e| Fail(2, format!("cannot start a run in the store: {e}")))?;
    let ns = place(shared.as_ref(), program, &guard.run(), &args, &opts.stop)?;
    opts.consumed_inputs = consumed_inputs(&args, program, &ns);
    let store: Arc<dyn Store> = Arc::new(RunStore::new(shared.clone(), program, &ns));
    let placed = Placed {
        shared,
        store,
        guard,
        ns,
    };

    // A trace that could not be written fails the command, but only once
    // the finished run's outputs are written and kept: they are whole.
    let trace_failure = match run_plan(&plan, &placed, lambda.as_ref(), &opts, args.quiet)? {
        Ok(summary) => {
            print_summary(&summary);
            None
        }
        Err(failure) => Some(failure),
    };
    if let Some(bill) = lambda.as_ref().and_then(|l| l.bill()) {
        crate::cli::bill::print(&bill);
    }
    if let (Some(path), None) = (&args.trace, &trace_failure) {
        lpc::say!(
            "  trace         {} (open it in https://ui.perfetto.dev)",
            path.display()
        );
    }
    deliver(placed, program, check, &args, &opts.stop)?;
    match trace_failure {
        Some(failure) => Err(Fail(2, failure.to_string())),
        None => Ok(ExitCode::SUCCESS),
    }
}

/// A finished run's answer, in order: verified (a wrong answer is not
/// written, kept or published), written to the `--output` files, its
/// temporaries removed, the run recorded finished, outputs published.
/// Ctrl-C (`stop`) during the check or while the outputs are written
/// abandons every output file (none is renamed into place) and the run, as
/// during the run; once the files are renamed, the run completes.
fn deliver(
    placed: Placed,
    program: &lp_program::Program,
    check: Option<Check>,
    args: &Args,
    stop: &AtomicBool,
) -> Result<(), Fail> {
    let Placed {
        shared,
        store,
        guard,
        ns,
    } = placed;
    let store = store.as_ref();
    let verified = match check {
        Some(check) => report_verification(store, program, check, stop)?,
        None => true,
    };
    if !verified {
        return Err(Fail(
            1,
            "the answer failed verification; no output written".to_string(),
        ));
    }
    // Every file is written before any is renamed into place: a failure
    // or a stop in the second leaves the first's earlier file as it was.
    let mut staged = Vec::new();
    for (name, path) in &args.output {
        let info = find(program, name);
        let [rows, cols] = info.header.shape;
        let bar = bytes_bar(
            rows as u64 * cols as u64 * 8,
            &format!("writing {name}"),
            args.quiet,
        );
        let transfer = Transfer {
            stop,
            progress: &|bytes| bar.inc(bytes),
        };
        let written = runner::export_npy_staged(store, info, path, transfer);
        bar.finish_and_clear();
        staged.push(written.map_err(|e| write_failure(path, e))?);
    }
    // The last point of return: a stop that no export heard (it came after
    // the last chunk, or there is no --output) still keeps nothing.
    if stop.load(Ordering::SeqCst) {
        return Err(Fail(130, "interrupted; no output written".to_string()));
    }
    for (staged, (name, path)) in staged.into_iter().zip(&args.output) {
        staged.commit().map_err(|e| write_failure(path, e))?;
        lpc::say!("  {:<14}{name} to {}", "wrote", path.display());
    }
    lpc::placement::remove_temps(store, program)
        .map_err(|e| Fail(2, format!("cannot remove the run's temporaries: {e}")))?;
    // Finished before published: a published name never points into a run
    // that `lpc store gc` could take for dead.
    guard
        .finish()
        .map_err(|e| Fail(2, format!("cannot record the finished run: {e}")))?;
    keep_outputs(shared.as_ref(), &ns, program, args)
}

/// An `--output` file not written: a stop (exit 130) or an error (2).
fn write_failure(path: &Path, e: MatrixError) -> Fail {
    match e {
        MatrixError::Interrupted { .. } => Fail(130, e.to_string()),
        e => Fail(2, format!("cannot write {}: {e}", path.display())),
    }
}

/// A run's place in the store: the store as given (`shared`), the run's
/// view of it (its namespace's inputs and outputs), and the guard that
/// removes what the run wrote unless it finishes.
struct Placed {
    shared: Arc<dyn Store>,
    store: Arc<dyn Store>,
    guard: RunGuard,
    ns: Namespace,
}

fn refused(e: runner::Refusal) -> Fail {
    Fail(2, e.to_string())
}

/// Everything that can be checked before the run, so that a mistake costs
/// no compute: the bindings, the check `--verify` will make (returned),
/// every file the run will write, and that a tile fits in this machine's
/// memory (a lambda run's tiles live in its workers).
fn preflight(plan: &Plan, args: &Args) -> Result<Option<Check>, Fail> {
    let program = plan.program();
    check_bindings(plan, args)?;
    let check = args.verify.then(|| detect_check(program)).transpose()?;
    if args.backend == Backend::Lambda && args.trace.is_some() {
        return Err(Fail(2, "--trace is only for the local backend".to_string()));
    }
    let outputs = args
        .output
        .iter()
        .map(|(name, path)| (format!("--output {name}"), path.as_path()));
    let trace = args
        .trace
        .iter()
        .map(|path| ("--trace".to_string(), path.as_path()));
    let writes: Vec<_> = outputs.chain(trace).collect();
    let program_file = (
        "the program being run".to_string(),
        Path::new(&args.program),
    );
    let inputs = args.input.iter().filter_map(|(name, input)| match input {
        Input::File(path) => Some((format!("the input file of matrix {name}"), path.as_path())),
        Input::Stored(_) => None,
    });
    let reads: Vec<_> = std::iter::once(program_file).chain(inputs).collect();
    runner::check_destinations(&writes, &reads).map_err(refused)?;
    if let (Backend::Local, Some(memory)) = (args.backend, lp_runtime::local::physical_memory()) {
        runner::check_memory(program, memory).map_err(refused)?;
    }
    Ok(check)
}

/// Whether the run's store outlives the process (a memory store ends
/// with it).
fn persistent(args: &Args) -> bool {
    args.backend == Backend::Lambda || args.store != StoreSpec::Mem
}

/// The inputs the run may consume (update in place at their last reads
/// instead of copying them, and free after them): those it imported from
/// files into its own memory store, which ends with the process, unless
/// `--verify` or an `--output` of the input will read them after the run.
/// A file given for two inputs is imported once, to one location: those
/// two are kept.
fn consumed_inputs(args: &Args, program: &lp_program::Program, ns: &Namespace) -> Vec<u32> {
    if args.backend != Backend::Local || args.store != StoreSpec::Mem || args.verify {
        return Vec::new();
    }
    let alone = |location: &String| ns.inputs.values().filter(|&l| l == location).count() == 1;
    let consumed = |name: &str| {
        let from_file = args
            .input
            .iter()
            .any(|(n, input)| n == name && matches!(input, Input::File(_)));
        let exported = args.output.iter().any(|(n, _)| n == name);
        from_file && !exported && ns.inputs.get(name).is_some_and(alone)
    };
    (0..program.matrices.len() as u32)
        .filter(|&k| consumed(&program.matrices[k as usize].name))
        .collect()
}

/// The program file's name, not its path: run records are shared with
/// other users of the store.
fn program_label(args: &Args) -> String {
    match std::path::Path::new(&args.program).file_name() {
        Some(name) if args.program != "-" => name.to_string_lossy().into_owned(),
        _ => "<stdin>".to_string(),
    }
}

fn find<'p>(program: &'p lp_program::Program, name: &str) -> &'p lp_program::MatrixInfo {
    program
        .matrices
        .iter()
        .find(|m| m.name == name)
        .expect("bindings are checked first")
}

fn detect_check(program: &lp_program::Program) -> Result<Check, Fail> {
    Check::detect(program).ok_or_else(|| {
        Fail(
            2,
            format!(
                "--verify does not recognise this program; it knows {}",
                Check::KNOWN
            ),
        )
    })
}

/// The run's namespace in the store, with its inputs in place; a stop
/// (Ctrl-C) ends the reading of input files between chunks.
fn place(
    store: &dyn Store,
    program: &lp_program::Program,
    run: &str,
    args: &Args,
    stop: &AtomicBool,
) -> Result<Namespace, Fail> {
    let supplied: Vec<(&str, InputSource)> = args
        .input
        .iter()
        .map(|(name, source)| (name.as_str(), source.as_source()))
        .collect();
    // Imports run before any job, on this machine: as many threads as
    // workers, up to its cores (a lambda run's workers are elsewhere).
    let cores = lp_runtime::local::effective_workers(0);
    let workers = lp_runtime::local::effective_workers(args.workers.unwrap_or(0)).min(cores);
    let total = lpc::placement::placement_bytes(program, &supplied);
    let bar = bytes_bar(total, "reading the inputs", args.quiet || total == 0);
    let transfer = Transfer {
        stop,
        progress: &|bytes| bar.inc(bytes),
    };
    let placed = lpc::placement::place_with(
        store,
        program,
        &program_label(args),
        run,
        &supplied,
        workers,
        transfer,
    );
    bar.finish_and_clear();
    placed.map_err(|e| match e.is_interrupted() {
        true => Fail(
            130,
            "interrupted while reading the inputs; nothing ran".to_string(),
        ),
        false => Fail(2, e.to_string()),
    })
}

/// Publishes what `--publish` asks for and says where the outputs stay
/// (nowhere, for a memory store: it ends with the process).
fn keep_outputs(
    store: &dyn Store,
    ns: &Namespace,
    program: &lp_program::Program,
    args: &Args,
) -> Result<(), Fail> {
    for (name, as_name) in &args.publish {
        let location = ns.location(find(program, name));
        maintenance::publish(store, as_name, &location)
            .map_err(|e| Fail(2, format!("--publish {name}: {e}")))?;
        lpc::say!("  {:<14}{name} as {as_name}", "published");
    }
    if persistent(args) {
        lpc::say!(
            "  {:<14}outputs under {} (lpc store rm to remove them)",
            "kept",
            lp_runtime::store::location::run_root(&ns.run)
        );
    }
    Ok(())
}

/// The run itself, on the chosen backend, with a progress bar: its
/// summary, or (`Ok(Err)`) the failure to write the trace of a run that
/// finished.
fn run_plan(
    plan: &Plan,
    placed: &Placed,
    lambda: Option<&Lambda>,
    opts: &RunOptions,
    quiet: bool,
) -> Result<Result<RunSummary, RunFailure>, Fail> {
    let bar = progress_bar(plan.job_count(), quiet);
    let progress = |p: &Progress| update(&bar, p);
    let summary = match lambda {
        Some(lambda) => runner::classify(
            lambda.run(plan, &placed.ns, opts.lease, opts.stop.clone(), &progress),
            &opts.stop,
        ),
        None => runner::run_local(plan, placed.store.clone(), opts, &progress),
    };
    bar.finish_and_clear();
    match summary {
        Ok(summary) => Ok(Ok(summary)),
        Err(e @ RunFailure::TraceUnwritten(_)) => Ok(Err(e)),
        Err(e @ RunFailure::Interrupted(_)) => Err(Fail(130, e.to_string())),
        Err(e @ RunFailure::Failed(_)) => Err(Fail(1, e.to_string())),
    }
}

/// Prints the verdict; whether the check passed.
fn report_verification(
    store: &dyn Store,
    program: &lp_program::Program,
    check: Check,
    stop: &AtomicBool,
) -> Result<bool, Fail> {
    let result = runner::verify(store, program, check, stop).map_err(|e| match e {
        runner::VerifyError::Read(e) => Fail(1, format!("verification could not read a tile: {e}")),
        runner::VerifyError::Stopped => Fail(
            130,
            "interrupted while verifying; no output written".to_string(),
        ),
    })?;
    let verdict = if result.passed() { "ok" } else { "FAILED" };
    lpc::say!(
        "  {:<14}{} = {:.3e} (tolerance {:.1e}): {verdict}",
        "verify",
        result.formula,
        result.residual,
        result.tolerance
    );
    Ok(result.passed())
}

/// Every `--input` names an input matrix, every `--output` a matrix; every
/// input without an initialiser is supplied; no file is named twice.
fn check_bindings(plan: &Plan, args: &Args) -> Result<(), Fail> {
    let inputs: Vec<Binding> = args
        .input
        .iter()
        .map(|(name, input)| Binding {
            name,
            file: match input {
                Input::File(path) => Some(path),
                Input::Stored(_) => None,
            },
        })
        .collect();
    let outputs: Vec<Binding> = args
        .output
        .iter()
        .map(|(name, path)| Binding {
            name,
            file: Some(path),
        })
        .collect();
    // Every input is supplied now or initialised: a run never picks up
    // whatever an earlier run left in the store.
    runner::check_bindings(plan.program(), &inputs, &outputs, false, true)
        .map_err(|e| Fail(2, e.to_string()))?;
    if let Some((first, again, as_name)) = lpc::placement::published_twice(&args.publish) {
        return Err(Fail(
            2,
            format!("--publish {again}: --publish {first} publishes as `{as_name}` too"),
        ));
    }
    for (name, _) in &args.publish {
        if !lpc::placement::publishable(plan.program(), name) {
            return Err(Fail(
                2,
                format!("--publish {name}: `{name}` is not a plain output matrix of the program"),
            ));
        }
        if !persistent(args) {
            return Err(Fail(
                2,
                format!(
                    "--publish {name}: the memory store ends with the run; publish into a \
                     store that outlives it (--store dir:PATH)"
                ),
            ));
        }
    }
    Ok(())
}

/// A bar of `total` bytes for a whole-file transfer: a matrix larger than
/// RAM takes minutes to read or write.
fn bytes_bar(total: u64, what: &str, quiet: bool) -> ProgressBar {
    let bar = bar(total, "{bytes}/{total_bytes} {msg}", quiet);
    bar.set_message(what.to_string());
    bar
}

fn progress_bar(jobs: u64, quiet: bool) -> ProgressBar {
    bar(jobs, "{pos}/{len} jobs  {msg}", quiet)
}

/// A bar on stderr (hidden with `quiet`, and by indicatif when stderr is
/// no terminal) whose text after the bar is `counts`.
fn bar(total: u64, counts: &str, quiet: bool) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if quiet {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    let template = format!("{{spinner}} [{{elapsed_precise}}] {{bar:32}} {counts}");
    bar.set_style(ProgressStyle::with_template(&template).expect("a valid template"));
    bar
}

fn update(bar: &ProgressBar, p: &Progress) {
    bar.set_position(p.jobs_done);
    let secs = p.elapsed.as_secs_f64().max(1e-9);
    bar.set_message(format!(
        "{:.1} GFLOP/s  loaded {}  stored {}{}",
        p.flops_done / secs / 1e9,
        human_bytes(p.bytes_loaded),
        human_bytes(p.bytes_stored),
        if p.retries > 0 {
            format!("  retries {}", p.retries)
        } else {
            String::new()
        }
    ));
}

fn print_summary(s: &RunSummary) {
    // The lambda backend reports no worker count: invocations come and go.
    let on = match s.workers {
        0 => "Lambda".to_string(),
        1 => "1 worker".to_string(),
        n => format!("{n} workers"),
    };
    lpc::say!(
        "finished {} jobs in {} on {on}",
        s.jobs,
        human_duration(s.wall)
    );
    let line = |label: &str, value: String| lpc::say!("  {label:<14}{value}");
    line(
        "compute",
        format!(
            "{:.2} GFLOP, {:.1} GFLOP/s",
            s.flops / 1e9,
            s.gflops_per_second()
        ),
    );
    line("loaded", human_bytes(s.bytes_loaded));
    line("stored", human_bytes(s.bytes_stored));
    if s.workers > 0 {
        line(
            "peak temps",
            format!("{} held at once", human_bytes(s.peak_temp_bytes)),
        );
    }
    line(
        "executions",
        format!(
            "{} ({} retries after an expired lease)",
            s.executions, s.retries
        ),
    );
    if let Some(jobs) = s.critical_path_jobs {
        line("critical path", format!("{jobs} jobs"));
    }
    if let Some(inputs) = inputs_line(s) {
        line("inputs", inputs);
    }
    if !s.worker_idle.is_empty() {
        line("idle", idle_per_worker(s));
    }
    if let Some(n) = s.jobs_on_lent_cores {
        line(
            "lent cores",
            format!("{n} jobs ran on more than one core, lent by workers waiting for a job"),
        );
    }
    if let Some(w) = &s.idle_waits {
        line("waits", super::idle_waits(w));
    }
    if let Some(cpu) = s.cpu {
        line(
            "cpu",
            format!(
                "user {}, system {}",
                human_duration(cpu.user),
                human_duration(cpu.system)
            ),
        );
    }
    for (i, k) in kernel_lines(&s.kernels).into_iter().enumerate() {
        line(if i == 0 { "kernels" } else { "" }, k);
    }
}

/// What became of the inputs' tiles, if anything worth a line: generated
/// tiles kept for later loads, imported ones updated in place.
fn inputs_line(s: &RunSummary) -> Option<String> {
    let mut inputs = Vec::new();
    if let Some(g) = s.generated_inputs.filter(|g| g.tiles > 0) {
        inputs.push(format!(
            "{} tiles generated, {} loads served by kept tiles",
            g.tiles, g.reused
        ));
    }
    if s.inputs_consumed > 0 {
        inputs.push(format!(
            "{} imported tiles updated in place, not copied",
            s.inputs_consumed
        ));
    }
    (!inputs.is_empty()).then(|| inputs.join("; "))
}

/// "w0 12.0 ms (1%), w1 ...": each worker's idle time and its share of
/// the run.
fn idle_per_worker(s: &RunSummary) -> String {
    let wall = s.wall.as_secs_f64().max(1e-9);
    let each: Vec<String> = s
        .worker_idle
        .iter()
        .enumerate()
        .map(|(w, idle)| {
            let share = 100.0 * idle.as_secs_f64() / wall;
            format!("w{w} {} ({share:.0}%)", human_duration(*idle))
        })
        .collect();
    each.join(", ")
}

/// One line per kernel, the longest first: its calls, its time summed over
/// the workers, and its rate in that time (where a run's time goes: a
/// kernel below the others' rate is the one to look at).
fn kernel_lines(kernels: &[KernelTime]) -> Vec<String> {
    let width = kernels
        .iter()
        .map(|k| k.name.chars().count())
        .max()
        .unwrap_or(0);
    kernels
        .iter()
        .map(|k| {
            let rate = if k.flops > 0.0 {
                format!("  {:.1} GFLOP/s", k.gflops_per_second())
            } else {
                String::new()
            };
            format!(
                "{:<width$} {:>6} calls {:>10}{rate}",
                k.name,
                k.calls,
                human_duration(k.busy)
            )
        })
        .collect()
}
