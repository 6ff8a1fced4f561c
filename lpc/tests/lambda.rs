//! `lpc run --backend lambda` end to end: the real `lpc` binary drives, real
//! `lp-worker` processes serve the invocations, against the emulators that
//! `scripts/emulators.sh start` runs (s3s-fs, dynalite, `cargo lambda watch
//! --only-lambda-apis`). Run with
//!
//! ```text
//! scripts/emulators.sh start && . "$(scripts/emulators.sh env)"
//! cargo test -p lp-runtime -p lpc \
//!     --features lp-runtime/aws,lp-runtime/fault-injection,lpc/aws \
//!     --test aws_emulated --test lambda
//! scripts/emulators.sh stop
//! ```
//!
//! (building lp-runtime's test makes cargo build its `lp-worker` too, with
//! the `fault-injection` feature the worker-kill tests need: a worker built
//! without it ignores `LP_WORKER_FAULT`, and those tests refuse to run it).
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
//!
//! The programs: `lpc gen cholesky` prints the library's loop Cholesky with
//! its parameters set, `--flat` its flat expansion (one job per
//! iteration); `lib/cholesky.lp` itself runs with `--set`. `lpc gen posv`
//! and `lpc gen qr` are the library's SPD solve and tile QR, whose kernels
//! have several results and whose outputs include a versioned matrix.

#[path = "../../lp-runtime/tests/emulator_support/mod.rs"]
mod emulator_support;

use emulator_support::{
    FaultPlan, Pool, Proxy, Service, endpoints, lambda_function_not_found, lambda_throttled,
    refusing_endpoint, s3_access_denied, silent_endpoint, unique,
};
use lpc::frontend::{CompileOptions, compile_source};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const LPC: &str = env!("CARGO_BIN_EXE_lpc");

static SERIAL: Mutex<()> = Mutex::new(());

/// The command that builds everything these tests need.
const BUILD: &str = "cargo test -p lp-runtime -p lpc --features \
     lp-runtime/aws,lp-runtime/fault-injection,lpc/aws --test aws_emulated --test lambda";

/// `lp-worker` is lp-runtime's binary: built into the same target dir.
fn lp_worker() -> PathBuf {
    let path = Path::new(LPC).with_file_name("lp-worker");
    assert!(
        path.is_file(),
        "{} is missing: run this test as scripts/test.sh does (`{BUILD}`), which builds it",
        path.display()
    );
    path
}

/// `lp-worker`, checked to be built with the `fault-injection` feature
/// (only such a build carries the code that honours `LP_WORKER_FAULT`; a
/// production build would ignore the fault and the test would wait for a
/// crash that never comes).
fn lp_worker_with_faults() -> PathBuf {
    let path = lp_worker();
    // (std's searcher is optimised even in a debug build of this test.)
    let binary = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
    assert!(
        binary.contains("lp-worker: injected fault"),
        "{} was built without lp-runtime's `fault-injection` feature, so it cannot inject \
         LP_WORKER_FAULT: run this test as scripts/test.sh does (`{BUILD}`)",
        path.display()
    );
    path
}

/// A path in the repository.
fn repo(path: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    root.join(path).to_str().unwrap().to_string()
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
    // dynalite has no UpdateTimeToLive; AWS prints the expiry instead.
    assert_eq!(
        stderr(&out),
        format!(
            "bucket {bucket} ready\ntable {table} ready\nwarning: this DynamoDB endpoint does not \
             implement time-to-live (UnknownOperationException); the items of every run stay in \
             {table}\n"
        )
    );
    (bucket, table)
}

/// How a Cholesky program is generated.
#[derive(Clone, Copy, PartialEq)]
enum Form {
    /// `lpc gen cholesky`: the loop program.
    Loop,
    /// `lpc gen cholesky --flat`: one job per iteration.
    Flat,
}

/// `lpc gen cholesky --n N --tile B --seed 7` (with `--flat` for the flat
/// form) as `cholesky.lp` in `dir`; its path and text.
fn cholesky_program(dir: &Path, n: u32, tile: u32, form: Form) -> (PathBuf, String) {
    let (n, tile) = (n.to_string(), tile.to_string());
    let mut args = vec!["gen", "cholesky", "--n", &n, "--tile", &tile, "--seed", "7"];
    if form == Form::Flat {
        args.push("--flat");
    }
    let out = Command::new(LPC).args(&args).output().unwrap();
    assert!(out.status.success(), "lpc gen: {}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    let path = dir.join("cholesky.lp");
    std::fs::write(&path, &text).unwrap();
    (path, text)
}

/// The number of job `job` (`trsm[0, 1]`) of the program `text` named
/// `name`, as the runtime numbers it (what `LP_WORKER_FAULT` names).
fn job_number(text: &str, name: &str, job: &str) -> u64 {
    let outcome = compile_source(text, name, &CompileOptions::default()).expect("no --set");
    let compiled = outcome.compiled.expect("the program compiles");
    let plan = compiled.plan();
    let mut found = None;
    plan.walk(&mut |_, _, id| {
        if plan.job_name(id) == job {
            found = Some(id);
        }
        found.is_none()
    });
    found.unwrap_or_else(|| panic!("no job {job} in {name}"))
}

/// L from the local backend for `program` (a path and any `--set`s), as
/// `.npy` bytes.
fn local_factor(program: &[String], dir: &Path) -> Vec<u8> {
    local_outputs(program, dir, &["L"]).remove(0)
}

/// The matrices `outputs` from the local backend for `program` (a path and
/// any `--set`s), as `.npy` bytes.
fn local_outputs(program: &[String], dir: &Path, outputs: &[&str]) -> Vec<Vec<u8>> {
    let paths: Vec<PathBuf> = outputs
        .iter()
        .map(|name| dir.join(format!("{name}-local.npy")))
        .collect();
    let mut command = Command::new(LPC);
    command.arg("run").args(program).arg("--quiet");
    for (name, path) in outputs.iter().zip(&paths) {
        command
            .arg("--output")
            .arg(format!("{name}={}", path.display()));
    }
    let out = command.output().unwrap();
    assert!(out.status.success(), "local run: {}", stderr(&out));
    paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// Runs `program` (a path and any `--set`s) on the lambda backend with a
/// pool of `workers` processes of `lp_worker` (carrying `fault`), verified,
/// and returns the summary text, L and how many workers exited.
fn lambda_run(
    program: &[String],
    dir: &Path,
    lp_worker: &Path,
    workers: usize,
    fault: Option<&str>,
    lease_secs: u32,
) -> (String, Vec<u8>, usize) {
    let (text, mut outputs, exited) =
        lambda_run_outputs(program, dir, lp_worker, workers, fault, lease_secs, &["L"]);
    (text, outputs.remove(0), exited)
}

/// [`lambda_run`] exporting the matrices `outputs` (as `.npy` bytes).
fn lambda_run_outputs(
    program: &[String],
    dir: &Path,
    lp_worker: &Path,
    workers: usize,
    fault: Option<&str>,
    lease_secs: u32,
    outputs: &[&str],
) -> (String, Vec<Vec<u8>>, usize) {
    let (bucket, table) = init_resources();
    let mut pool = Pool::start(lp_worker, workers, fault, dir);
    let paths: Vec<PathBuf> = outputs
        .iter()
        .map(|name| dir.join(format!("{name}-lambda.npy")))
        .collect();
    let mut args: Vec<String> = vec!["run".into()];
    args.extend(program.iter().cloned());
    for a in [
        "--backend",
        "lambda",
        "--bucket",
        &bucket,
        "--prefix",
        "runs/test",
        "--table",
        &table,
        "--lease",
        &lease_secs.to_string(),
        "--verify",
        "--quiet",
    ] {
        args.push(a.to_string());
    }
    for (name, path) in outputs.iter().zip(&paths) {
        args.push("--output".into());
        args.push(format!("{name}={}", path.display()));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = lpc(&args, Some(&pool.lambda.url));
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
    let outputs = paths.iter().map(|p| std::fs::read(p).unwrap()).collect();
    (text, outputs, exited)
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

/// Checks the summary of a clean run of `jobs` jobs: all finished on
/// Lambda, each executed once, the residual check passed.
fn assert_clean_run(text: &str, jobs: u64) {
    let finished = line(text, "finished");
    assert!(
        finished.starts_with(&format!("finished {jobs} jobs in "))
            && finished.ends_with(" on Lambda"),
        "{text}"
    );
    assert!(
        line(text, "run run-").contains(" (table lpc-test-"),
        "{text}"
    );
    assert_eq!(executions(text), (jobs, 0), "{text}");
    assert!(
        line(text, "verify").ends_with(": ok"),
        "the residual check passed:\n{text}"
    );
}

/// Jobs of a Cholesky on `t x t` tiles: CHOL, TRSM and SYRK updates.
fn cholesky_jobs(t: u64) -> u64 {
    t + t * (t - 1) / 2 + (t - 1) * t * (t + 1) / 6
}

const JOBS: u64 = 8 + 28 + 84; // 8 x 8 tiles

#[test]
fn flat_cholesky_on_lambda_workers_matches_the_local_backend_bit_for_bit() {
    let _turn = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let (program, text) = cholesky_program(dir.path(), 512, 64, Form::Flat);
    assert!(
        text.contains("\ntrsm[0, 1]: priority 61\n"),
        "the flat form has one job per iteration"
    );
    let program = [program.to_str().unwrap().to_string()];
    let expected = local_factor(&program, dir.path());
    let (text, factor, exited) = lambda_run(&program, dir.path(), &lp_worker(), 4, None, 120);
    assert!(factor == expected, "L differs from the local backend's");
    assert_eq!(exited, 0, "no worker died");
    assert_clean_run(&text, JOBS);
    // The workers timed their requests: every tile read and written is a
    // 64 x 64 tile, 32,896 bytes as `.npy`. A's tiles (`spd`, stored
    // nowhere) were generated without asking S3, so no GET found nothing.
    let latency = line(&text, "latency");
    assert!(!latency.contains("absent"), "{latency}");
    for kind in [
        "S3 GET ",
        "PUT ",
        "DynamoDB read ",
        "write ",
        "Lambda invoke ",
    ] {
        assert!(latency.contains(kind), "{latency}");
    }
    assert_eq!(latency.matches(" ms (32.1 KiB)").count(), 2, "{latency}");
}

/// The library's loop Cholesky, run from `lib/cholesky.lp` with `--set`:
/// the bundle holds the loops, the workers solve the DAG from them. `n` is
/// not a multiple of `b`, so the last row and column of tiles are narrow.
#[test]
fn library_loop_cholesky_on_lambda_workers_matches_the_local_backend_bit_for_bit() {
    let _turn = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let program: Vec<String> = [&repo("lib/cholesky.lp"), "--set", "n=200", "--set", "b=64"]
        .map(String::from)
        .to_vec();
    let expected = local_factor(&program, dir.path());
    let (text, factor, exited) = lambda_run(&program, dir.path(), &lp_worker(), 3, None, 120);
    assert!(
        factor == expected,
        "L differs from the local backend's run of the same program"
    );
    assert_eq!(exited, 0, "no worker died");
    assert_clean_run(&text, cholesky_jobs(4));
}

/// `lpc gen ARGS...` (a library program with its sizes set) as `NAME.lp`
/// in `dir`, with its number of jobs.
fn library_program(dir: &Path, args: &[&str]) -> (String, u64) {
    let out = Command::new(LPC).arg("gen").args(args).output().unwrap();
    assert!(out.status.success(), "lpc gen: {}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    let name = format!("{}.lp", args[0]);
    let path = dir.join(&name);
    std::fs::write(&path, &text).unwrap();
    let outcome = compile_source(&text, &name, &CompileOptions::default()).expect("no --set");
    let jobs = outcome
        .compiled
        .expect("the program compiles")
        .plan()
        .job_count();
    (path.to_str().unwrap().to_string(), jobs)
}

/// Runs the library program `gen_args` (`lpc gen` arguments) locally and on
/// Lambda workers, and checks that the Lambda run is clean and verified and
/// that each of `outputs` is the local backend's, bit for bit.
fn assert_library_program_on_lambda_matches_local(gen_args: &[&str], outputs: &[&str]) {
    let _turn = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let (program, jobs) = library_program(dir.path(), gen_args);
    let program = [program];
    let expected = local_outputs(&program, dir.path(), outputs);
    let (text, got, exited) =
        lambda_run_outputs(&program, dir.path(), &lp_worker(), 3, None, 120, outputs);
    for ((name, got), expected) in outputs.iter().zip(&got).zip(&expected) {
        assert!(got == expected, "{name} differs from the local backend's");
    }
    assert_eq!(exited, 0, "no worker died");
    assert_clean_run(&text, jobs);
}

/// The SPD solve: the Cholesky, forward and backward substitution in one
/// DAG, with ragged tiles (100 = 3 x 32 + 4 rows, 40 = 32 + 8 right-hand
/// sides).
#[test]
fn posv_on_lambda_workers_matches_the_local_backend_bit_for_bit() {
    assert_library_program_on_lambda_matches_local(
        &["posv", "--n", "100", "--nrhs", "40", "--tile", "32"],
        &["X"],
    );
}

/// The tile QR: kernels with several results (GEQRT, TSQRT, TSMQR_T) and a
/// versioned output (T, left in the bucket), tall and ragged (150 x 100 in
/// 32 x 32 tiles). R and V are compared.
#[test]
fn qr_on_lambda_workers_matches_the_local_backend_bit_for_bit() {
    assert_library_program_on_lambda_matches_local(
        &["qr", "--m", "150", "--n", "100", "--tile", "32"],
        &["R", "V"],
    );
}

/// Runs the loop Cholesky with `fault` (given the program's text and the
/// marker file the fault creates when it fires) in the pool, with a 3 s
/// lease, and checks that it fired once, killed its worker, and that the
/// lease recovered the run with the local backend's factor.
fn assert_run_survives(fault: impl Fn(&str, &Path) -> String) {
    let _turn = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let lp_worker = lp_worker_with_faults();
    let dir = tempfile::tempdir().unwrap();
    let (program, source) = cholesky_program(dir.path(), 512, 64, Form::Loop);
    assert!(source.contains("for k in range(nt)"), "a loop program");
    let program = [program.to_str().unwrap().to_string()];
    let expected = local_factor(&program, dir.path());
    let marker = dir.path().join("fault-fired");
    let fault = fault(&source, &marker);
    let (text, factor, exited) = lambda_run(&program, dir.path(), &lp_worker, 4, Some(&fault), 3);
    assert!(marker.exists(), "the fault {fault} fired");
    assert_eq!(exited, 1, "exactly the faulted worker died");
    assert!(factor == expected, "L differs from the local backend's");
    let (runs, retries) = executions(&text);
    assert!(retries >= 1, "the lease relaunched the job:\n{text}");
    // Not equality: the killed execution added no metrics, but a job that
    // waited in the emulator's queue longer than the short lease may run
    // twice on a loaded machine.
    assert!(runs >= JOBS, "{text}");
    assert!(
        line(&text, "verify").ends_with(": ok"),
        "the residual check passed:\n{text}"
    );
}

#[test]
fn a_worker_killed_mid_kernel_is_replaced_after_the_lease() {
    // The worker about to store L[5, 2] (trsm of step 2, mid-DAG) exits: it
    // loaded its inputs and ran its kernel, and nothing reached S3.
    assert_run_survives(|_, marker| format!("exit-before-write:L:5:2:{}", marker.display()));
}

#[test]
fn a_worker_killed_before_recording_completions_is_replaced_after_the_lease() {
    // The first TRSM writes its tile, then its worker exits before telling
    // any child: only the lease can get the run going again. Its number
    // comes from the loops' bounding boxes, as the workers compute it.
    assert_run_survives(|source, marker| {
        let job = job_number(source, "cholesky.lp", "trsm[0, 1]");
        format!("exit-before-completions:{job}:{}", marker.display())
    });
}

#[test]
fn a_matrix_that_is_not_spd_stops_the_run_naming_job_kernel_and_tile() {
    let _turn = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let (_, source) = cholesky_program(dir.path(), 128, 64, Form::Loop);
    // -I: symmetric, not positive definite.
    assert!(source.contains("input = spd(seed)"), "{source}");
    let source = source.replace("input = spd(seed)", "input");
    let program = dir.path().join("notspd.lp");
    std::fs::write(&program, &source).unwrap();
    let chol_line = 1 + source
        .lines()
        .position(|l| l.contains("= CHOL "))
        .expect("a CHOL instruction");
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
            // A job lost to a transient emulator error is relaunched
            // within seconds rather than after the default 16 minutes.
            "--lease",
            "10",
            "--input",
            &format!("A={}", input.display()),
            "--output",
            &format!("L={}", dir.path().join("L.npy").display()),
        ],
        Some(&pool.lambda.url),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stderr(&out);
    // S[0, 0, 0] is version 0 of S: A's tile.
    assert!(
        text.starts_with(&format!(
            "error: run failed: job \"chol[0]\" (notspd.lp:{chol_line}): CHOL on A[0, 0] \
             (result for L[0, 0]): "
        )),
        "{text}"
    );
    assert!(!dir.path().join("L.npy").exists(), "no output written");
    // The failed run removed its namespace; the imported input stays,
    // stored by content, and so does the program's bundle (`gc` removes it
    // once it is stale).
    let ls = lpc(&["store", "ls", &format!("s3://{bucket}")], None);
    let listing = String::from_utf8_lossy(&ls.stdout);
    assert!(ls.status.success(), "{}", stderr(&ls));
    let mut lines: Vec<&str> = listing.lines().collect();
    lines.sort();
    assert_eq!(lines.len(), 2, "{listing}");
    assert!(
        lines[0].starts_with("~bundles/") && lines[0].contains("\t(program bundle)\t"),
        "{listing}"
    );
    assert!(
        lines[1].starts_with("~inputs/") && lines[1].contains("import of minus_identity.npy"),
        "{listing}"
    );
}

/// Two runs of one program with different seeds, at once under one prefix,
/// then an import and a run that declares `spd(seed)` in the same prefix:
/// every answer is the one the run gets alone on the local backend.
#[test]
fn runs_sharing_a_prefix_stay_apart_and_a_stale_import_is_never_read() {
    let _turn = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (bucket, table) = init_resources();
    let pool = Pool::start(&lp_worker(), 3, None, d);
    let program = |seed: u32| -> Vec<String> {
        [
            &repo("lib/cholesky.lp"),
            "--set",
            "n=160",
            "--set",
            "b=32",
            "--set",
        ]
        .map(String::from)
        .into_iter()
        .chain([format!("seed={seed}")])
        .collect()
    };
    let lambda = |seed: u32, extra: &[String]| -> Command {
        let ep = endpoints();
        let mut c = Command::new(LPC);
        c.arg("run")
            .args(program(seed))
            .args([
                "--backend",
                "lambda",
                "--bucket",
                &bucket,
                "--prefix",
                "shared",
            ])
            .args(["--table", &table, "--lease", "30", "--quiet", "--verify"])
            .args(extra)
            .env("LP_S3_ENDPOINT", &ep.s3)
            .env("LP_DYNAMODB_ENDPOINT", &ep.dynamodb)
            .env("LP_LAMBDA_ENDPOINT", &pool.lambda.url);
        c
    };
    let output = |name: &str| {
        vec![
            "--output".to_string(),
            format!("L={}", d.join(name).display()),
        ]
    };
    let children: Vec<_> = [1, 2]
        .map(|seed| {
            lambda(seed, &output(&format!("l{seed}.npy")))
                .spawn()
                .unwrap()
        })
        .into_iter()
        .collect();
    for (k, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "concurrent run {k}: {}", stderr(&out));
    }
    for seed in [1, 2] {
        let expected = local_factor(&program(seed), d);
        let got = std::fs::read(d.join(format!("l{seed}.npy"))).unwrap();
        assert!(got == expected, "seed {seed}: L differs from the run alone");
    }
    // An imported A, then a run that declares A = spd(3) in the same prefix.
    let imported = d.join("a.npy");
    write_npy_minus_identity(&imported, 160);
    let mut with_import = output("stale.npy");
    with_import.extend(["--input".to_string(), format!("A={}", imported.display())]);
    let out = lambda(3, &with_import).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "-I is not SPD: {}",
        stderr(&out)
    );
    let out = lambda(3, &output("l3.npy")).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let got = std::fs::read(d.join("l3.npy")).unwrap();
    assert!(
        got == local_factor(&program(3), d),
        "the run read spd(3), not the import"
    );
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

// ---------------------------------------------------------------------------
// Misconfiguration: errors before or at the start of a run, never a hang

/// `lpc args` with the endpoints pointed at the emulators, then `env` set
/// (an endpoint override, `LP_AWS_TIMEOUT`); its output and how long it
/// took. Killed (and the test failed) after `limit`: these runs must end
/// on their own, long before any lease.
fn lpc_within(args: &[&str], env: &[(&str, &str)], limit: Duration) -> (Output, Duration) {
    let ep = endpoints();
    let mut command = Command::new(LPC);
    command
        .args(args)
        .env("LP_S3_ENDPOINT", &ep.s3)
        .env("LP_DYNAMODB_ENDPOINT", &ep.dynamodb)
        .env("LP_LAMBDA_ENDPOINT", &ep.lambda)
        .env_remove("LP_AWS_TIMEOUT")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    let started = Instant::now();
    let mut child = command.spawn().expect("lpc runs");
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("lpc {args:?} still ran after {limit:?}:\n{}", stderr(&out));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    (out, started.elapsed())
}

/// The arguments of a lambda run of `examples/cholesky_2x2.lp` on `bucket`
/// and `table` (with the default lease: 16 minutes), plus `extra`.
fn run_args(bucket: &str, table: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "run",
        &repo("examples/cholesky_2x2.lp"),
        "--backend",
        "lambda",
        "--bucket",
        bucket,
        "--prefix",
        "runs/qa",
        "--table",
        table,
        "--quiet",
    ]
    .map(String::from)
    .to_vec();
    args.extend(extra.iter().map(|a| a.to_string()));
    args
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// A wrong `--function`: the first invoke's answer ends the run at once,
/// naming the function, whether the endpoint answers as AWS does or as the
/// emulator does (a 404 without an error code).
#[test]
fn a_missing_function_fails_the_run_at_once_naming_it() {
    let (bucket, table) = init_resources();
    let aws = Proxy::start(&endpoints().lambda, Service::Lambda, true);
    aws.inject(FaultPlan::always(lambda_function_not_found("no-such-fn")));
    let emulator = endpoints().lambda;
    for (endpoint, answer) in [
        (
            aws.url.as_str(),
            "ResourceNotFoundException: Function not found: \
             arn:aws:lambda:us-east-1:123456789012:function:no-such-fn",
        ),
        (
            emulator.as_str(),
            "HTTP 404 (the answer names no error code)",
        ),
    ] {
        let args = run_args(&bucket, &table, &["--function", "no-such-fn"]);
        let (out, took) = lpc_within(
            &strs(&args),
            &[("LP_LAMBDA_ENDPOINT", endpoint)],
            Duration::from_secs(120),
        );
        assert_eq!(
            stderr(&out),
            format!(
                "error: run failed: scheduler backend failed: invoke Lambda function \
                 no-such-fn for job 0: {answer}\n"
            )
        );
        assert_eq!(out.status.code(), Some(1));
        assert!(took < Duration::from_secs(60), "{took:?}");
    }
    assert_eq!(aws.faults_sent(), 1, "one invoke, not retried");
}

/// A Lambda endpoint that refuses connections, or accepts them and never
/// answers: the run fails after the SDK's retries, not after five leases.
#[test]
fn an_unreachable_lambda_endpoint_fails_the_run_at_once() {
    let (bucket, table) = init_resources();
    let args = run_args(&bucket, &table, &[]);
    let (out, took) = lpc_within(
        &strs(&args),
        &[("LP_LAMBDA_ENDPOINT", &refusing_endpoint())],
        Duration::from_secs(120),
    );
    assert_eq!(
        stderr(&out),
        "error: run failed: scheduler backend failed: invoke Lambda function lp-worker for job \
         0: dispatch failure: io error: client error (Connect): tcp connect error: Connection \
         refused (os error 111)\n"
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(took < Duration::from_secs(60), "{took:?}");

    let (out, took) = lpc_within(
        &strs(&args),
        &[
            ("LP_LAMBDA_ENDPOINT", &silent_endpoint()),
            ("LP_AWS_TIMEOUT", "1"),
        ],
        Duration::from_secs(120),
    );
    assert_eq!(
        stderr(&out),
        "error: run failed: scheduler backend failed: invoke Lambda function lp-worker for job \
         0: request has timed out: operation timeout (all attempts including retries) occurred \
         after 3s; LP_AWS_TIMEOUT=SECONDS sets how long an attempt may wait for an answer\n"
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(took < Duration::from_secs(30), "{took:?}");
}

/// Throttling is retried: a root invoke throttled a few times is sent
/// again and the run completes. Roots throttled through all of the SDK's
/// attempts, none launched, fail the run at once (nothing runs).
#[test]
fn throttled_root_invokes_are_retried() {
    let _turn = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let (program, _) = cholesky_program(dir.path(), 128, 64, Form::Loop);
    let (bucket, table) = init_resources();
    let pool = Pool::start(&lp_worker(), 2, None, dir.path());
    pool.lambda.inject(FaultPlan {
        every: 1,
        limit: 3,
        response: lambda_throttled(),
    });
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
            "--lease",
            "60",
            "--quiet",
            "--verify",
        ],
        Some(&pool.lambda.url),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(pool.lambda.faults_sent(), 3);
    assert!(line(&stderr(&out), "verify").ends_with(": ok"));

    let always = Proxy::start(&endpoints().lambda, Service::Lambda, true);
    always.inject(FaultPlan::always(lambda_throttled()));
    let args = run_args(&bucket, &table, &[]);
    let (out, _) = lpc_within(
        &strs(&args),
        &[("LP_LAMBDA_ENDPOINT", &always.url)],
        Duration::from_secs(120),
    );
    assert_eq!(
        stderr(&out),
        "error: run failed: scheduler backend failed: invoke Lambda function lp-worker for job \
         0: TooManyRequestsException: Rate Exceeded.\n"
    );
    assert_eq!(out.status.code(), Some(1));
    // Every attempt the SDK makes (8) for each root (the program has two).
    assert_eq!(always.faults_sent(), 16);
}

/// An S3 or DynamoDB endpoint that accepts connections and never answers
/// is an error naming the request within `ATTEMPTS_IN_TIME` attempt
/// timeouts (`LP_AWS_TIMEOUT`, 1 s here), before the run.
#[test]
fn a_silent_s3_or_dynamodb_endpoint_is_an_error_within_the_timeout() {
    let (bucket, table) = init_resources();
    let silent = silent_endpoint();
    let ls = format!("s3://{bucket}");
    let run = run_args(&bucket, &table, &[]);
    let cases: [(&[&str], &str, &str); 3] = [
        (
            &["store", "ls", &ls],
            "LP_S3_ENDPOINT",
            &format!("LIST s3://{bucket}/"),
        ),
        (
            &strs(&run),
            "LP_S3_ENDPOINT",
            &format!("LIST s3://{bucket}/runs/qa/"),
        ),
        (
            &strs(&run),
            "LP_DYNAMODB_ENDPOINT",
            &format!("read DynamoDB table {table}"),
        ),
    ];
    for (args, variable, what) in cases {
        let (out, took) = lpc_within(
            args,
            &[(variable, &silent), ("LP_AWS_TIMEOUT", "1")],
            Duration::from_secs(60),
        );
        assert_eq!(
            stderr(&out),
            format!(
                "error: {what}: request has timed out: operation timeout (all attempts \
                 including retries) occurred after 3s; LP_AWS_TIMEOUT=SECONDS sets how long an \
                 attempt may wait for an answer\n"
            ),
            "{args:?} with {variable} silent"
        );
        assert_eq!(out.status.code(), Some(2));
        assert!(took < Duration::from_secs(20), "{took:?}");
    }
}

/// A missing table or bucket is a configuration error before the run that
/// says how to create it; an S3 refusal reads as its code and message.
#[test]
fn a_missing_table_or_bucket_is_refused_before_the_run() {
    let (bucket, table) = init_resources();
    let missing_bucket = unique("lpc-missing");
    for (args, message) in [
        (
            run_args(&bucket, "no-such-table", &[]),
            format!(
                "DynamoDB table no-such-table does not exist; create it with `lpc aws init \
                 --bucket {bucket} --table no-such-table`"
            ),
        ),
        (
            run_args(&missing_bucket, &table, &["--region", "us-east-1"]),
            format!(
                "S3 bucket {missing_bucket} does not exist; create it with `lpc aws init \
                 --bucket {missing_bucket} --table {table} --create-bucket --region us-east-1`"
            ),
        ),
    ] {
        let (out, _) = lpc_within(&strs(&args), &[], Duration::from_secs(60));
        assert_eq!(stderr(&out), format!("error: {message}\n"));
        assert_eq!(out.status.code(), Some(2));
    }
    let s3 = Proxy::start(&endpoints().s3, Service::S3, false);
    s3.inject(FaultPlan::always(s3_access_denied()));
    let args = run_args(&bucket, &table, &[]);
    let (out, _) = lpc_within(
        &strs(&args),
        &[("LP_S3_ENDPOINT", &s3.url)],
        Duration::from_secs(60),
    );
    assert_eq!(
        stderr(&out),
        format!("error: LIST s3://{bucket}/runs/qa/: AccessDenied: Access Denied\n")
    );
    assert_eq!(out.status.code(), Some(2));
}

/// `lpc aws init --create-bucket` again leaves the bucket and the table as
/// they are (the emulator answers BucketAlreadyExists for the caller's own
/// bucket).
#[test]
fn aws_init_a_second_time_finds_everything_ready() {
    let (bucket, table) = init_resources();
    let args = [
        "aws",
        "init",
        "--bucket",
        &bucket,
        "--table",
        &table,
        "--create-bucket",
    ];
    let (out, _) = lpc_within(&args, &[], Duration::from_secs(60));
    assert_eq!(
        stderr(&out),
        format!(
            "bucket {bucket} ready\ntable {table} ready\nwarning: this DynamoDB endpoint does not \
             implement time-to-live (UnknownOperationException); the items of every run stay in \
             {table}\n"
        )
    );
    assert_eq!(out.status.code(), Some(0));
}

/// `lpc aws init --bucket BUCKET --table TABLE EXTRA... --create-bucket`.
fn aws_init(bucket: &str, table: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["aws", "init", "--bucket", bucket, "--table", table]
        .map(String::from)
        .to_vec();
    args.extend(extra.iter().map(|a| a.to_string()));
    args.push("--create-bucket".into());
    args
}

/// Commands with a bad name or setting: the arguments, the environment
/// they run in, the message.
type Refused = (
    Vec<String>,
    &'static [(&'static str, &'static str)],
    &'static str,
);

fn refused_names() -> Vec<Refused> {
    vec![
        (
            aws_init("qa-b1/x", "t-qa", &[]),
            &[],
            "--bucket: \"qa-b1/x\" is not an S3 bucket name: '/' is not allowed (only lowercase \
             letters, digits, dots and hyphens are)",
        ),
        (
            aws_init("Bad_Bucket!!", "t-qa", &[]),
            &[],
            "--bucket: \"Bad_Bucket!!\" is not an S3 bucket name: 'B' is not allowed (only \
             lowercase letters, digits, dots and hyphens are)",
        ),
        (
            aws_init("ab", "t-qa", &[]),
            &[],
            "--bucket: \"ab\" is not an S3 bucket name: a bucket name is 3 to 63 characters long",
        ),
        (
            aws_init("qa-b1-", "t-qa", &[]),
            &[],
            "--bucket: \"qa-b1-\" is not an S3 bucket name: a bucket name begins and ends with a \
             letter or a digit",
        ),
        (
            aws_init("qa..b1", "t-qa", &[]),
            &[],
            "--bucket: \"qa..b1\" is not an S3 bucket name: a bucket name has no two adjacent \
             dots",
        ),
        (
            aws_init("192.168.5.4", "t-qa", &[]),
            &[],
            "--bucket: \"192.168.5.4\" is not an S3 bucket name: a bucket name is not an IP \
             address",
        ),
        (
            aws_init("qa-b1", "t qa", &[]),
            &[],
            "--table: \"t qa\" is not a DynamoDB table name: ' ' is not allowed (only letters, \
             digits, underscores, hyphens and dots are)",
        ),
        (
            aws_init("qa-b1", "t-qa", &["--region", "not a region/.."]),
            &[],
            "--region: \"not a region/..\" is not an AWS region: a region is lowercase letters, \
             digits and hyphens, like us-east-1",
        ),
        (
            aws_init("qa-b1", "t-qa", &[]),
            &[("AWS_REGION", "Not/A-Region")],
            "the region of the AWS configuration: \"Not/A-Region\" is not an AWS region: a \
             region is lowercase letters, digits and hyphens, like us-east-1",
        ),
        (
            aws_init("qa-b1", "t-qa", &[]),
            &[("LP_AWS_TIMEOUT", "soon")],
            "LP_AWS_TIMEOUT=\"soon\" is not a number of seconds between 0 and 86400",
        ),
        (
            ["store", "ls", "s3://Bad_Bucket"]
                .map(String::from)
                .to_vec(),
            &[],
            "s3://Bad_Bucket: \"Bad_Bucket\" is not an S3 bucket name: 'B' is not allowed (only \
             lowercase letters, digits, dots and hyphens are)",
        ),
        (
            ["store", "ls", "s3://qa-b1/data/~runs/"]
                .map(String::from)
                .to_vec(),
            &[],
            "cannot open s3://qa-b1/data/~runs: its path has a part `~runs`, the name of one of \
             a store's own folders (`~runs`, `~inputs`, `~bundles`, `~pool`): a store above it \
             would take this store's contents for its own",
        ),
        (
            run_args("qa-b1", "t-qa", &[])
                .into_iter()
                .map(|a| if a == "runs/qa" { "runs/a b".into() } else { a })
                .collect(),
            &[],
            "--prefix: its path has a part `a b`, which is not a valid name (only ASCII letters, \
             digits, '_', '-' and '.' are allowed): a store above it could not list it",
        ),
        (
            run_args("qa-b1/x", "t-qa", &[]),
            &[],
            "--bucket: \"qa-b1/x\" is not an S3 bucket name: '/' is not allowed (only lowercase \
             letters, digits, dots and hyphens are)",
        ),
    ]
}

/// Bad names and regions are refused before any request (every endpoint
/// refuses connections here), saying what is wrong with them.
#[test]
fn bad_bucket_table_and_region_names_are_refused_before_any_request() {
    let nowhere = refusing_endpoint();
    let unreachable = [
        ("LP_S3_ENDPOINT", nowhere.as_str()),
        ("LP_DYNAMODB_ENDPOINT", nowhere.as_str()),
        ("LP_LAMBDA_ENDPOINT", nowhere.as_str()),
    ];
    for (args, env, message) in refused_names() {
        let mut env = env.to_vec();
        env.extend_from_slice(&unreachable);
        let (out, _) = lpc_within(&strs(&args), &env, Duration::from_secs(30));
        assert_eq!(stderr(&out), format!("error: {message}\n"), "{args:?}");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}
