//! The README's Cholesky (the library's loop program `lib/cholesky.lp` with
//! its defaults: n = 4096 in 8 x 8 tiles of 512) on the emulated AWS stack
//! against the local backend, and the requests per job it costs. Needs the
//! emulators and a release `lp-worker`:
//!
//! ```text
//! cargo build --release -p lp-runtime --features aws --bin lp-worker
//! scripts/emulators.sh start && . "$(scripts/emulators.sh env)"
//! cargo bench -p lpc --features aws --bench lambda
//! ```
//!
//! Prints, for `LP_BENCH_WORKERS` worker processes (default 2, one per core
//! here) and `LP_BENCH_REPS` repetitions (default 3):
//! * wall time of `lpc run` on the local backend (same worker count) and on
//!   the lambda backend, and their ratio; both factors must be equal to
//!   the bit;
//! * one more lambda run with S3 and DynamoDB behind counting relays: S3
//!   GETs and PUTs, DynamoDB reads and writes and invocations, per job and
//!   against the lower bound the program implies (one GET per distinct tile
//!   a job loads, one PUT per write, one set-add per DAG edge and a
//!   finished flag per job, a launched flag and an invocation per job no
//!   worker continued with), counted on the plan the bundle holds.

#[path = "../../lp-runtime/tests/emulator_support/mod.rs"]
mod emulator_support;
mod support;

use emulator_support::{Pool, Proxy, Service, endpoints, plan_counts, unique};
use lp_program::Plan;
use lpc::frontend::{CompileOptions, compile_source};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const LPC: &str = env!("CARGO_BIN_EXE_lpc");

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn run(args: &[String], env: &[(&str, &str)]) -> (Duration, String) {
    let started = Instant::now();
    let out = Command::new(LPC)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("lpc runs");
    let wall = started.elapsed();
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "lpc {args:?} failed:\n{text}");
    (wall, text)
}

fn main() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let program = workspace.join("lib/cholesky.lp");
    let lp_worker = Path::new(LPC).with_file_name("lp-worker");
    assert!(
        lp_worker.is_file(),
        "build {} first: cargo build --release -p lp-runtime --features aws --bin lp-worker",
        lp_worker.display()
    );
    let workers = env_or("LP_BENCH_WORKERS", 2);
    let reps = env_or("LP_BENCH_REPS", 3);
    let ep = endpoints();
    let dir = tempfile::tempdir().unwrap();
    let out = |name: &str| -> PathBuf { dir.path().join(name) };
    let program = program.to_str().unwrap().to_string();

    let local_args = vec![
        "run".to_string(),
        program.clone(),
        "--quiet".into(),
        "--workers".into(),
        workers.to_string(),
        "--output".into(),
        format!("L={}", out("L-local.npy").display()),
    ];
    let mut local = Vec::new();
    for _ in 0..reps {
        local.push(run(&local_args, &[]).0);
    }
    let expected = std::fs::read(out("L-local.npy")).unwrap();

    let l_lambda = out("L-lambda.npy");
    let lambda_run = |s3: &str, dynamodb: &str, lambda: &str| {
        lambda_run(&program, &l_lambda, &expected, [s3, dynamodb, lambda])
    };

    let mut lambda = Vec::new();
    for _ in 0..reps {
        let pool = Pool::start(&lp_worker, workers, None, dir.path());
        lambda.push(lambda_run(&ep.s3, &ep.dynamodb, &pool.lambda.url).0);
    }

    let best = |v: &[Duration]| v.iter().min().copied().unwrap();
    let secs = |v: &[Duration]| {
        v.iter()
            .map(|d| format!("{:.2}", d.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let bound = bounds(&program);
    println!(
        "README Cholesky (lib/cholesky.lp) n=4096 tile 512 ({} jobs), {workers} workers, {reps} reps",
        bound.jobs
    );
    println!("  local  wall s: {}", secs(&local));
    println!("  lambda wall s: {}", secs(&lambda));
    println!(
        "  lambda / local (best of each): {:.1}",
        best(&lambda).as_secs_f64() / best(&local).as_secs_f64()
    );

    // Requests: the same run with S3 and DynamoDB behind counting relays.
    let s3 = Proxy::start(&ep.s3, Service::S3, false);
    let dynamodb = Proxy::start(&ep.dynamodb, Service::DynamoDb, false);
    let pool = Pool::start_with(
        &lp_worker,
        workers,
        None,
        dir.path(),
        &s3.url,
        &dynamodb.url,
    );
    let (_, text) = lambda_run(&s3.url, &dynamodb.url, &pool.lambda.url);
    let counts: BTreeMap<String, u64> = s3
        .counts()
        .into_iter()
        .chain(dynamodb.counts())
        .chain(pool.lambda.counts())
        .collect();
    print_requests(&counts, &bound, &text);
}

/// One `lpc run --backend lambda` of `program` on a fresh bucket and table
/// against the S3, DynamoDB and Lambda endpoints given, writing L to
/// `l_path`, which must equal `expected` to the byte; its wall time and
/// summary.
fn lambda_run(
    program: &str,
    l_path: &Path,
    expected: &[u8],
    [s3, dynamodb, lambda]: [&str; 3],
) -> (Duration, String) {
    let (bucket, table) = (unique("lpc-bench"), unique("lpc-bench"));
    let env = [
        ("LP_S3_ENDPOINT", s3),
        ("LP_DYNAMODB_ENDPOINT", dynamodb),
        ("LP_LAMBDA_ENDPOINT", lambda),
    ];
    run(&support::aws_init(&bucket, &table), &env);
    let output = ["--output".into(), format!("L={}", l_path.display())];
    let result = run(
        &support::lambda_run(program, &bucket, &table, &output),
        &env,
    );
    assert!(
        std::fs::read(l_path).unwrap() == expected,
        "the lambda backend's L differs from the local backend's"
    );
    result
}

/// The counted run's requests per job against the bounds the plan implies,
/// and its summary.
fn print_requests(counts: &BTreeMap<String, u64>, bound: &Bounds, summary: &str) {
    println!("  requests (driver + workers, incl. set-up and output download):");
    let jobs = bound.jobs as f64;
    for (op, n) in counts {
        println!("    {op:<24} {n:>6}  {:>6.2}/job", *n as f64 / jobs);
    }
    println!(
        "  lower bound: {} GETs (loads), {} PUTs (writes), {} DynamoDB writes \
         ({} edges + {} finished + {} launched), at most {} invocations",
        bound.loads,
        bound.writes,
        bound.edges + 2 * bound.jobs,
        bound.edges,
        bound.jobs,
        bound.jobs,
        bound.jobs
    );
    println!(
        "  summary of the counted run:\n{}",
        summary
            .lines()
            .map(|l| format!("    {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

struct Bounds {
    jobs: usize,
    loads: usize,
    writes: usize,
    edges: usize,
}

/// Jobs, loads (distinct tiles per job: a job that names a tile twice reads
/// it once), writes and parent-child edges, from the plan `lpc` compiles
/// the program to (the one the bundle carries).
fn bounds(program: &str) -> Bounds {
    let source = std::fs::read_to_string(program).unwrap();
    let outcome = compile_source(&source, program, &CompileOptions::default()).unwrap();
    let compiled = outcome.compiled.expect("the program compiles");
    let plan: &Plan = compiled.plan();
    let (loads, writes, edges) = plan_counts(plan);
    Bounds {
        jobs: plan.job_count() as usize,
        loads,
        writes,
        edges,
    }
}
