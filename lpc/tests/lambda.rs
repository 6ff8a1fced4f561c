//! `lpc run --backend lambda` end to end: the real `lpc` binary drives, real
//! `lp-worker` processes serve the invocations, against the emulators that
//! `scripts/emulators.sh start` runs (s3s-fs, dynalite, `cargo lambda watch
//! --only-lambda-apis`). Run with
//!
//! ```text
//! scripts/emulators.sh start && . "$(scripts/emulators.sh env)"
//! cargo test -p lp-runtime -p lpc --features lp-runtime/aws,lpc/aws \
//!     --test aws_emulated --test lambda
//! scripts/emulators.sh stop
//! ```
//!
//! (building lp-runtime's test makes cargo build its `lp-worker` too).
//!
//! (scripts/test.sh does all of it.) A missing emulator or worker binary
//! fails the tests, never skips them.
//!
//! Each test starts its own pool of worker processes polling the emulator's
//! runtime API for the function `lp-worker` (cargo-lambda serves only the
//! workspace's binary names), so the tests take turns ([`SERIAL`]): a pool
//! must only ever serve its own test's invocations, because a pool may carry
//! an injected fault (`LP_WORKER_FAULT`). Every answer is compared bit for
//! bit with the local backend's.

#[path = "../../lp-runtime/tests/emulator_support/mod.rs"]
mod emulator_support;

use emulator_support::{Pool, endpoints, unique};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

const LPC: &str = env!("CARGO_BIN_EXE_lpc");

static SERIAL: Mutex<()> = Mutex::new(());

/// `lp-worker` is lp-runtime's binary: built into the same target dir.
fn lp_worker() -> PathBuf {
    let path = Path::new(LPC).with_file_name("lp-worker");
    assert!(
        path.is_file(),
        "{} is missing: run this test as scripts/test.sh does (`cargo test -p lp-runtime -p lpc \
         --features lp-runtime/aws,lpc/aws --test aws_emulated --test lambda`), which builds it",
        path.display()
    );
    path
}

/// `lpc` with the driver's endpoints pointed at the emulators (Lambda
/// through the pool's relay).
fn lpc(args: &[&str], lambda_endpoint: Option<&str>) -> Output {
    let ep = endpoints();
    Command::new(LPC)
        .args(args)
        .env("LP_S3_ENDPOINT", &ep.s3)
        .env("LP_DYNAMODB_ENDPOINT", &ep.dynamodb)
        .env("LP_LAMBDA_ENDPOINT", lambda_endpoint.unwrap_or(&ep.lambda))
        .output()
        .expect("lpc runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A fresh bucket and table, made by `lpc aws init`.
fn init_resources() -> (String, String) {
    let (bucket, table) = (unique("lpc-test"), unique("lpc-test"));
    let out = lpc(
        &[
            "aws",
            "init",
            "--bucket",
            &bucket,
            "--table",
            &table,
            "--create-bucket",
        ],
        None,
    );
    assert!(out.status.success(), "lpc aws init: {}", stderr(&out));
    assert_eq!(
        stderr(&out),
        format!("bucket {bucket} ready\ntable {table} ready\n")
    );
    (bucket, table)
}

/// An 8 x 8-tile Cholesky (n = 512, tile 64) as a `.lp` file in `dir`.
fn cholesky_program(dir: &Path) -> PathBuf {
    let out = Command::new(LPC)
        .args([
            "gen", "cholesky", "--n", "512", "--tile", "64", "--seed", "7",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "lpc gen: {}", stderr(&out));
    let path = dir.join("cholesky.lp");
    std::fs::write(&path, &out.stdout).unwrap();
    path
}

/// L from the local backend, as `.npy` bytes.
fn local_factor(program: &Path, dir: &Path) -> Vec<u8> {
    let path = dir.join("L-local.npy");
    let out = Command::new(LPC)
        .args(["run", program.to_str().unwrap(), "--quiet", "--output"])
        .arg(format!("L={}", path.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "local run: {}", stderr(&out));
    std::fs::read(path).unwrap()
}

/// Runs `program` on the lambda backend with a pool of `workers` processes
/// (carrying `fault`), verified, and returns the summary text and L.
fn lambda_run(
    program: &Path,
    dir: &Path,
    workers: usize,
    fault: Option<&str>,
    lease_secs: u32,
) -> (String, Vec<u8>, usize) {
    let (bucket, table) = init_resources();
    let mut pool = Pool::start(&lp_worker(), workers, fault, dir);
    let path = dir.join("L-lambda.npy");
    let out = lpc(
        &[
            "run",
            program.to_str().unwrap(),
            "--backend",
            "lambda",
            "--bucket",
            &bucket,
            "--prefix",
            "runs/chol",
            "--table",
            &table,
            "--lease",
            &lease_secs.to_string(),
            "--verify",
            "--quiet",
            "--output",
            &format!("L={}", path.display()),
        ],
        Some(&pool.lambda.url),
    );
    let text = stderr(&out);
    let mut logs = String::new();
    for k in 0..workers {
        let log = std::fs::read_to_string(dir.join(format!("worker-{k}.log"))).unwrap_or_default();
        logs.push_str(&format!("--- worker {k}\n{log}"));
    }
    assert!(
        out.status.success(),
        "lambda run failed:\n{text}\nworkers:\n{logs}"
    );
    let exited = pool.exited();
    (text, std::fs::read(path).unwrap(), exited)
}

fn line<'a>(text: &'a str, label: &str) -> &'a str {
    text.lines()
        .find(|l| l.trim_start().starts_with(label))
        .unwrap_or_else(|| panic!("no `{label}` line in:\n{text}"))
}

/// "executions   121 (1 retries after an expired lease)" -> (121, 1).
fn executions(text: &str) -> (u64, u64) {
    let l = line(text, "executions");
    let numbers: Vec<u64> = l
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    (numbers[0], numbers[1])
}

const JOBS: u64 = 8 + 28 + 84; // CHOL, TRSM, SYRK/GEMM updates of 8 x 8 tiles

#[test]
fn cholesky_on_lambda_workers_matches_the_local_backend_bit_for_bit() {
    let _turn = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let program = cholesky_program(dir.path());
    let expected = local_factor(&program, dir.path());
    let (text, factor, exited) = lambda_run(&program, dir.path(), 4, None, 120);
    assert!(factor == expected, "L differs from the local backend's");
    assert_eq!(exited, 0, "no worker died");
    let finished = line(&text, "finished");
    assert!(
        finished.starts_with(&format!("finished {JOBS} jobs in "))
            && finished.ends_with(" on Lambda"),
        "{text}"
    );
    assert!(
        line(&text, "run run-").contains(" (table lpc-test-"),
        "{text}"
    );
    assert_eq!(executions(&text), (JOBS, 0), "{text}");
    assert!(
        line(&text, "verify").ends_with(": ok"),
        "the residual check passed:\n{text}"
    );
}

/// Runs the Cholesky with `fault` (given the marker file the fault creates
/// when it fires) in the pool, with a 3 s lease, and checks that it fired
/// once, killed its worker, and that the lease recovered the run with the
/// local backend's factor.
fn assert_run_survives(fault: impl Fn(&Path) -> String) {
    let _turn = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let program = cholesky_program(dir.path());
    let expected = local_factor(&program, dir.path());
    let marker = dir.path().join("fault-fired");
    let (text, factor, exited) = lambda_run(&program, dir.path(), 4, Some(&fault(&marker)), 3);
    assert!(marker.exists(), "the fault fired");
    assert_eq!(exited, 1, "exactly the faulted worker died");
    assert!(factor == expected, "L differs from the local backend's");
    let (runs, retries) = executions(&text);
    assert!(retries >= 1, "the lease relaunched the job:\n{text}");
    // Not equality: the killed execution added no metrics, but a job that
    // waited in the emulator's queue longer than the short lease may run
    // twice on a loaded machine.
    assert!(runs >= JOBS, "{text}");
}

#[test]
fn a_worker_killed_mid_kernel_is_replaced_after_the_lease() {
    // The worker about to store L[5, 2] (trsm of step 2, mid-DAG) exits: it
    // loaded its inputs and ran its kernel, and nothing reached S3.
    assert_run_survives(|marker| format!("exit-before-write:L:5:2:{}", marker.display()));
}

#[test]
fn a_worker_killed_before_recording_completions_is_replaced_after_the_lease() {
    // Job 1 (the first TRSM) writes its tile, then its worker exits before
    // telling any child: only the lease can get the run going again.
    assert_run_survives(|marker| format!("exit-before-completions:1:{}", marker.display()));
}

#[test]
fn a_matrix_that_is_not_spd_stops_the_run_naming_job_kernel_and_tile() {
    let _turn = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("notspd.lp");
    let out = Command::new(LPC)
        .args(["gen", "cholesky", "--n", "128", "--tile", "64"])
        .output()
        .unwrap();
    // -I: symmetric, not positive definite.
    let source = String::from_utf8(out.stdout)
        .unwrap()
        .replace("input = spd(42)", "input");
    std::fs::write(&program, source).unwrap();
    let input = dir.path().join("minus_identity.npy");
    write_npy_minus_identity(&input, 128);
    let (bucket, table) = init_resources();
    let pool = Pool::start(&lp_worker(), 2, None, dir.path());
    let out = lpc(
        &[
            "run",
            program.to_str().unwrap(),
            "--backend",
            "lambda",
            "--bucket",
            &bucket,
            "--table",
            &table,
            "--quiet",
            "--input",
            &format!("A={}", input.display()),
            "--output",
            &format!("L={}", dir.path().join("L.npy").display()),
        ],
        Some(&pool.lambda.url),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stderr(&out);
    assert!(
        text.starts_with(
            "error: run failed: job \"chol_0\": CHOL on A[0, 0] (result for L[0, 0]): "
        ),
        "{text}"
    );
    assert!(!dir.path().join("L.npy").exists(), "no output written");
}

/// A Fortran-order float64 `.npy` of -I.
fn write_npy_minus_identity(path: &Path, n: usize) {
    let mut header = format!("{{'descr': '<f8', 'fortran_order': True, 'shape': ({n}, {n}), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for c in 0..n {
        for r in 0..n {
            let v: f64 = if r == c { -1.0 } else { 0.0 };
            bytes.extend_from_slice(&v.to_le_bytes());
        }
    }
    std::fs::write(path, bytes).unwrap();
}
