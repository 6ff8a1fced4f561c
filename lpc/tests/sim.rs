//! `lpc sim` through the real binary: the report's text, `--sweep`,
//! `--plot`, `--trace`, `--show-model`, and its errors. Timings use the
//! round-figure model of lp-sim's hand-timed tests (lp-sim/tests/exact.rs
//! explains every number).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const EXACT_MODEL: &str = include_str!("../../lp-sim/tests/exact.toml");

fn lpc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lpc"))
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .output()
        .expect("lpc runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The exact model written to a file in `dir`.
fn exact_model(dir: &Path) -> PathBuf {
    let path = dir.join("exact.toml");
    std::fs::write(&path, EXACT_MODEL).expect("write the model");
    path
}

fn cholesky_2x2(model: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "sim",
        "lib/cholesky.lp",
        "--set",
        "n=200",
        "--model",
        model.to_str().expect("utf-8 path"),
    ];
    args.extend_from_slice(extra);
    lpc(&args)
}

#[test]
fn report_of_a_2x2_cholesky() {
    let dir = tempfile::tempdir().expect("temp dir");
    let model = exact_model(dir.path());
    let out = cholesky_2x2(&model, &["--set", "b=100", "--workers", "2"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let expected = "\
simulated 4 jobs on 2 workers (exact model)
  makespan      144.0 ms
  bounds        critical path 132.0 ms, busy time / workers 71.5 ms
  utilisation   49.7% of worker time busy
  compute       0.00 GFLOP, 0.0 GFLOP/s
  transfers     loaded 468.8 KiB, stored 312.5 KiB
  executions    4 (0 relaunched after a lease; 0 killed at the time limit)
  requests      store: 3 GET, 4 PUT, 1 DELETE; counters: 4 reads, 12 writes, 0 query pages (0 read units)
  launches      queue: 1 (the rest continued on their parent's worker)
  cost          $0.0000 (compute $0.0000, invocations $0.0000, store $0.0000, counters $0.0000)
  tiles held    at most 3 at once (1 temps, 78.1 KiB of temps)
";
    assert_eq!(text(&out.stdout), expected);
}

#[test]
fn sweep_prints_a_table() {
    let dir = tempfile::tempdir().expect("temp dir");
    let model = exact_model(dir.path());
    let out = cholesky_2x2(
        &model,
        &["--sweep", "tile=100,200", "--sweep", "workers=1,2"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    // b = 200 is one CHOL job: launch 1 ms, generate A (40,000 elements at
    // 1e6/s = 40, no request), CHOL 8e6/3 flops at 1/30 GFLOP/s = 80, write
    // 2 + 320,000 B at 10 MB/s = 34, finish 1: 156 ms. Threads are "billed"
    // for the whole run at the model's 1 GB: 0.144 x 2 = 0.3 GB-s.
    let expected = "\
b\tworkers\tjobs\tmakespan s\tcrit. path s\tutil. %\tGB-s\tdollars\tpeak tiles
100\t1\t4\t0.144\t0.132\t99.3\t0.1\t0.0000\t3
100\t2\t4\t0.144\t0.132\t49.7\t0.3\t0.0000\t3
200\t1\t1\t0.156\t0.154\t99.4\t0.2\t0.0000\t1
200\t2\t1\t0.156\t0.154\t49.7\t0.3\t0.0000\t1
";
    assert_eq!(text(&out.stdout), expected);
}

#[test]
fn plot_and_trace_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let model = exact_model(dir.path());
    let svg = dir.path().join("u.svg");
    let trace = dir.path().join("t.json");
    let out = cholesky_2x2(
        &model,
        &[
            "--set",
            "b=100",
            "--workers",
            "2",
            "--plot",
            svg.to_str().unwrap(),
            "--trace",
            trace.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let svg = std::fs::read_to_string(svg).expect("the plot");
    assert!(svg.starts_with("<svg"), "{svg}");
    assert!(svg.contains("<polyline"));
    let jobs = trace_jobs(&trace);
    assert_eq!(jobs.len(), 4, "{jobs:?}");
    // As `lpc run --trace`: a worker's idle slices, each ending where it
    // takes the job it names. The Cholesky of 2 x 2 tiles is a chain that
    // worker 0 runs from its root, each job continuing with its child: its
    // one idle slice is the root's launch (the model's 1 ms queue latency),
    // and worker 1, which never takes a job, has none.
    let trace: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&trace).unwrap()).unwrap();
    let events = trace["traceEvents"].as_array().unwrap();
    let slices = |cat: &str| -> Vec<(u64, f64, f64, String)> {
        let of = |e: &serde_json::Value| {
            let job = e["args"]["job"].as_str().or(e["name"].as_str());
            let ts = e["ts"].as_f64().unwrap();
            let dur = e["dur"].as_f64().unwrap();
            (
                e["tid"].as_u64().unwrap(),
                ts,
                dur,
                job.unwrap().to_string(),
            )
        };
        events.iter().filter(|e| e["cat"] == cat).map(of).collect()
    };
    let idle = slices("idle");
    let idle_takes: Vec<(u64, &str)> = idle.iter().map(|i| (i.0, i.3.as_str())).collect();
    assert_eq!(idle_takes, [(0, "chol[0]")], "{idle:?}");
    assert_eq!((idle[0].1, idle[0].2), (0.0, 1000.0), "{idle:?}");
    let job_slices = slices("job");
    let chol0 = job_slices.iter().find(|s| s.3 == "chol[0]").unwrap();
    assert_eq!((chol0.0, chol0.1), (0, 1000.0), "{job_slices:?}");
    let stdout = text(&out.stdout);
    let waits = stdout.lines().find(|l| l.starts_with("  waits")).unwrap();
    // The root is ready from the start: its hand-off is the only wait.
    assert_eq!(
        waits,
        "  waits         workers idled 1.0 ms in all while a job was ready \
         (longest 1.0 ms, then took chol[0])"
    );
}

/// A file the simulation could not write is a usage error found before
/// it runs, as for `lpc run`.
#[test]
fn unwritable_plot_and_trace_paths_are_refused_first() {
    let dir = tempfile::tempdir().expect("temp dir");
    let model = exact_model(dir.path());
    let d = dir.path().display();
    for (option, path) in [("--trace", "t.json"), ("--plot", "u.svg")] {
        let path = format!("{d}/missing/{path}");
        let out = cholesky_2x2(&model, &["--set", "b=100", "--workers", "2", option, &path]);
        assert_eq!(
            (out.status.code(), text(&out.stdout), text(&out.stderr)),
            (
                Some(2),
                String::new(),
                format!(
                    "error: {option}: cannot write {path}: directory {d}/missing does not exist\n"
                )
            )
        );
    }
    // One file for both, which would be the plot alone at the end.
    let both = format!("{d}/out");
    let args = [
        "--set",
        "b=100",
        "--workers",
        "2",
        "--trace",
        &both,
        "--plot",
        &both,
    ];
    let out = cholesky_2x2(&model, &args);
    assert_eq!(
        (out.status.code(), text(&out.stdout), text(&out.stderr)),
        (
            Some(2),
            String::new(),
            format!("error: --plot: cannot write {both}: --trace writes it too\n")
        )
    );
}

/// `--trace-jobs` limits a trace: without `--trace` it would do nothing,
/// silently.
#[test]
fn trace_jobs_without_a_trace_is_a_usage_error() {
    let (code, err) = error_of(&[
        "sim",
        "lib/cholesky.lp",
        "--workers",
        "2",
        "--trace-jobs",
        "5",
    ]);
    assert_eq!(
        (code, err.as_str()),
        (
            Some(2),
            "error: the following required arguments were not provided:\n  --trace <FILE>\n\n\
             Usage: lpc sim --trace <FILE> --workers <WORKERS> --trace-jobs <N> <PROGRAM>\n\n\
             For more information, try '--help'.\n"
        )
    );
}

/// The job slices of a trace `lpc sim --trace` wrote, in order of start.
fn trace_jobs(path: &Path) -> Vec<String> {
    let trace: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("the trace")).expect("JSON");
    let mut jobs: Vec<(f64, String)> = trace["traceEvents"]
        .as_array()
        .expect("traceEvents")
        .iter()
        .filter(|e| e["cat"] == "job")
        .map(|e| {
            let name = e["name"].as_str().expect("a job's name");
            (e["ts"].as_f64().expect("a start"), name.to_string())
        })
        .collect();
    jobs.sort_by(|a, b| a.0.total_cmp(&b.0));
    jobs.into_iter().map(|(_, name)| name).collect()
}

#[test]
fn built_in_models_name_their_sources() {
    // The emulated model adds its two tables of transfer times by size.
    for (model, count) in [
        ("local", 32),
        ("lambda", 32),
        ("emulated", 34),
        ("models/local-zen3.toml", 32),
        ("models/local-zen5.toml", 32),
    ] {
        let out = lpc(&["sim", "lib/cholesky.lp", "--model", model, "--show-model"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let stdout = text(&out.stdout);
        let name = model
            .trim_start_matches("models/")
            .trim_end_matches(".toml");
        assert!(stdout.starts_with(&format!("model {name} ")), "{stdout}");
        let figures = stdout
            .lines()
            .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
            .count();
        let sources = stdout
            .lines()
            .filter(|l| l.trim_start().starts_with("source: "))
            .count();
        assert_eq!(figures, count, "{stdout}");
        assert_eq!(sources, figures);
    }
    let out = lpc(&[
        "sim",
        "lib/cholesky.lp",
        "--model",
        "lambda",
        "--show-model",
    ]);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("https://docs.aws.amazon.com/lambda/latest/dg/scaling-behavior.html"));
    assert!(stdout.contains("https://aws.amazon.com/s3/pricing/"));
    // The emulated model's fitted figures name the command that measured
    // them.
    let out = lpc(&[
        "sim",
        "lib/cholesky.lp",
        "--model",
        "emulated",
        "--show-model",
    ]);
    let stdout = text(&out.stdout);
    let fitted = [
        "store.get_latency_s",
        "store.get_seconds_by_size",
        "counters.write_latency_s",
        "worker.cpu_share",
        "platform.host_contention",
        "platform.invoke_delivery_s",
    ];
    for figure in fitted {
        let at = stdout
            .find(&format!("  {figure} = "))
            .unwrap_or_else(|| panic!("no {figure} in {stdout}"));
        let source = stdout[at..].lines().nth(1).unwrap_or_default();
        assert!(
            source.contains("cargo bench -p lpc --features aws --bench emulated -- calibrate"),
            "{figure}: {source}"
        );
    }
}

#[test]
fn lambda_report_has_requests_and_dollars() {
    let out = lpc(&[
        "sim",
        "lib/cholesky.lp",
        "--set",
        "n=4096",
        "--set",
        "b=1024",
        "--workers",
        "2000",
        "--model",
        "lambda",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("simulated 20 jobs on 2000 Lambda concurrency (lambda model)\n"));
    assert!(stdout.contains("  note          2000 workers is above the account limit of 1000"));
    // 4 x 4 tiles: 20 jobs, one PUT each; loads: 4 CHOL x 1, 6 TRSM x 2,
    // 4 off-diagonal SYRK x 3 and 6 diagonal SYRK x 2 (L[i, k] loaded
    // once), 40 in all, of which the 10 of A's lower tiles are generated
    // without a GET.
    assert!(
        stdout.contains("S3: 30 GET, 20 PUT, 10 DELETE;"),
        "{stdout}"
    );
    assert!(stdout.contains(" GB-s\n"), "{stdout}");
    assert!(stdout.contains("  cost          $"), "{stdout}");
}

fn error_of(args: &[&str]) -> (Option<i32>, String) {
    let out = lpc(args);
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    (out.status.code(), text(&out.stderr))
}

#[test]
fn model_errors_name_the_file_the_key_and_the_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bad.toml");
    let bad = EXACT_MODEL.replace(
        "get_latency_s = { value = 0.001",
        "get_latency_s = { value = -1.0",
    );
    std::fs::write(&path, &bad).unwrap();
    let line = bad
        .lines()
        .position(|l| l.starts_with("get_latency_s"))
        .unwrap()
        + 1;
    let p = path.to_str().unwrap();
    let (code, err) = error_of(&["sim", "lib/cholesky.lp", "--workers", "1", "--model", p]);
    assert_eq!(code, Some(2));
    assert_eq!(
        err,
        format!(
            "error: model {p}, line {line}: `store.get_latency_s` must be a non-negative number, found -1\n"
        )
    );

    let unknown = EXACT_MODEL.replace("[counters]\n", "[counters]\nlatency = 3\n");
    std::fs::write(&path, unknown).unwrap();
    let (code, err) = error_of(&["sim", "lib/cholesky.lp", "--workers", "1", "--model", p]);
    assert_eq!(code, Some(2));
    assert!(
        err.starts_with(&format!("error: model {p}: TOML parse error at line ")),
        "{err}"
    );
    assert!(err.contains("unknown field `latency`"), "{err}");

    let table = EXACT_MODEL.replace(
        "[counters]\n",
        "get_seconds_by_size = { value = [[2e6, 0.01], [1e6, 0.02]], source = \"test\" }\n[counters]\n",
    );
    std::fs::write(&path, &table).unwrap();
    let line = table
        .lines()
        .position(|l| l.starts_with("get_seconds_by_size"))
        .unwrap()
        + 1;
    let (code, err) = error_of(&["sim", "lib/cholesky.lp", "--workers", "1", "--model", p]);
    assert_eq!(code, Some(2));
    assert_eq!(
        err,
        format!(
            "error: model {p}, line {line}: `store.get_seconds_by_size` must be [[bytes, seconds], ...], \
             sizes positive and ascending, seconds non-negative\n"
        )
    );

    let kernel = EXACT_MODEL.replace("SYRK = ", "SYRKK = ");
    std::fs::write(&path, kernel).unwrap();
    let (_, err) = error_of(&["sim", "lib/cholesky.lp", "--workers", "1", "--model", p]);
    assert!(
        err.contains("`kernels.gflops` names `SYRKK`, which is no kernel"),
        "{err}"
    );

    let (code, err) = error_of(&[
        "sim",
        "lib/cholesky.lp",
        "--workers",
        "1",
        "--model",
        "nosuch",
    ]);
    assert_eq!(code, Some(2));
    assert_eq!(
        err,
        "error: no model `nosuch`: the built-in models are local, lambda and emulated, or name a .toml file\n"
    );
}

#[test]
fn bad_flags_are_usage_errors() {
    // With a sweep too, before any of its points is compiled.
    for sweep in [&[][..], &["--sweep", "b=256,512"]] {
        let mut args = vec!["sim", "lib/cholesky.lp", "--workers", "0"];
        args.extend_from_slice(sweep);
        let (code, err) = error_of(&args);
        assert_eq!(
            (code, err.as_str()),
            (
                Some(2),
                "error: --workers: a simulation takes at least 1 worker\n"
            ),
            "{args:?}"
        );
    }
    let (code, err) = error_of(&[
        "sim",
        "lib/cholesky.lp",
        "--sweep",
        "tile=big",
        "--workers",
        "1",
    ]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("`big` is not an integer (in `tile=big`)"),
        "{err}"
    );
    let (code, err) = error_of(&["sim", "lib/cholesky.lp"]);
    assert_eq!(
        (code, err.as_str()),
        (
            Some(2),
            "error: --workers is required (or --sweep workers=...)\n"
        )
    );
    let (code, err) = error_of(&["sim", "lib/cholesky.lp", "--workers", "99999999999"]);
    assert_eq!(code, Some(2));
    assert_eq!(
        err,
        "error: --workers: 99999999999 workers are more than the simulator takes (1000000)\n"
    );
}

/// `--input-cache` is `lpc run`'s: three jobs reading one generated tile
/// (`tests/pass/three_readers.lp`; 10 ms to generate with the exact
/// model), each adding (10 ms) and writing (10 ms) on one worker, the
/// roots launched at 1, 2 and 3 ms: the first job generates the tile and
/// keeps it for the others (31 + 1 ms, then 20 + 1 twice: 74 ms); with no
/// budget each job generates it (32 + 31 + 31: 94 ms), in a sweep as well.
/// A Lambda model refuses the option.
#[test]
fn the_input_cache_is_lpc_runs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let model = exact_model(dir.path());
    let (program, model) = ("tests/pass/three_readers.lp", model.to_str().unwrap());
    let makespan = |extra: &[&str]| {
        let mut args = vec!["sim", program, "--workers", "1", "--model", model];
        args.extend_from_slice(extra);
        let out = lpc(&args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let stdout = text(&out.stdout);
        let line = stdout.lines().find(|l| l.contains("makespan"));
        line.expect("a makespan").to_string()
    };
    assert_eq!(makespan(&[]), "  makespan      74.0 ms");
    assert_eq!(
        makespan(&["--input-cache", "1MiB"]),
        "  makespan      74.0 ms"
    );
    assert_eq!(makespan(&["--input-cache", "0"]), "  makespan      94.0 ms");
    let out = lpc(&[
        "sim",
        program,
        "--model",
        model,
        "--sweep",
        "workers=1",
        "--input-cache",
        "0",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "workers\tjobs\tmakespan s\tcrit. path s\tutil. %\tGB-s\tdollars\tpeak tiles\n\
         1\t3\t0.094\t0.030\t98.9\t0.1\t0.0000\t3\n"
    );
    let (code, err) = error_of(&[
        "sim",
        program,
        "--workers",
        "1",
        "--model",
        "lambda",
        "--input-cache",
        "1GiB",
    ]);
    assert_eq!(
        (code, err.as_str()),
        (
            Some(2),
            "error: --input-cache: model `lambda` simulates Lambda workers, which keep no \
             generated inputs; the option applies to threads models (`lpc run`'s local \
             backend)\n"
        )
    );
}

/// The local model's queue hands out the most urgent job first, as `lpc
/// run`'s does: on one worker, after the first short job, the chain (the
/// longest remaining path) runs before the two short jobs written ahead of
/// it, where a first-in, first-out queue would run them first.
#[test]
fn threads_run_the_critical_path_first() {
    let dir = tempfile::tempdir().expect("temp dir");
    let model = exact_model(dir.path());
    let program = dir.path().join("p.lp");
    let mut src = String::from(
        "matrix A : f64[100, 100] tile [100, 100] input = random(1)
matrix S : f64[100, 300] tile [100, 100] output
matrix T : f64[100, 200] tile [100, 100] temp
matrix C : f64[100, 100] tile [100, 100] output
",
    );
    for k in 0..3 {
        src += &format!(
            "s{k}:\n    %a = S3_LOAD A[0, 0]\n    %b = ADD %a, %a\n    S3_WRITE S[0, {k}], %b\n"
        );
    }
    src += "c0:\n    %a = S3_LOAD A[0, 0]\n    %b = ADD %a, %a\n    S3_WRITE T[0, 0], %b\n";
    src += "c1:\n    %a = S3_LOAD T[0, 0]\n    %b = ADD %a, %a\n    S3_WRITE T[0, 1], %b\n";
    src += "c2:\n    %a = S3_LOAD T[0, 1]\n    %b = ADD %a, %a\n    S3_WRITE C[0, 0], %b\n";
    std::fs::write(&program, src).unwrap();
    let trace = dir.path().join("t.json");
    let out = lpc(&[
        "sim",
        program.to_str().unwrap(),
        "--workers",
        "1",
        "--model",
        model.to_str().unwrap(),
        "--trace",
        trace.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(trace_jobs(&trace), ["s0", "c0", "c1", "c2", "s1", "s2"]);
}

/// Figures that pass validation but add up to centuries (a latency of
/// 1e10 s) end the simulation with an error instead of wrapping the
/// nanosecond clock around (a panic in debug builds, nonsense figures in
/// release ones).
#[test]
fn a_run_past_the_clock_horizon_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("slow.toml");
    let slow = EXACT_MODEL.replace(
        "get_latency_s = { value = 0.001,",
        "get_latency_s = { value = 2e10,",
    );
    assert_ne!(slow, EXACT_MODEL);
    std::fs::write(&path, slow).unwrap();
    let out = cholesky_2x2(&path, &["--set", "b=100", "--workers", "2"]);
    assert_eq!(
        (out.status.code(), text(&out.stderr)),
        (
            Some(1),
            "error: the simulated run passes 36 years of virtual time after 1 of 4 jobs: \
             check the model's latencies and rates, and the program's sizes\n"
                .to_string()
        )
    );
}

/// `base` with each `(start, line)`: the line starting with `start`
/// replaced by `line`, written to `dir/name`.
fn model_file(dir: &Path, name: &str, base: &str, changes: &[(&str, &str)]) -> PathBuf {
    let mut text = base.to_string();
    for (start, line) in changes {
        let at = text
            .find(&format!("\n{start}"))
            .unwrap_or_else(|| panic!("no line `{start}`"))
            + 1;
        let end = at + text[at..].find('\n').expect("a whole line");
        text.replace_range(at..end, line);
    }
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write the model");
    path
}

/// The line of `path` that starts with `start`.
fn line_of(path: &Path, start: &str) -> usize {
    let text = std::fs::read_to_string(path).expect("the model");
    text.lines()
        .position(|l| l.starts_with(start))
        .expect("the line")
        + 1
}

const LAMBDA_MODEL: &str = include_str!("../../models/lambda.toml");

/// Every poll is a request and an event: a poll of 0 (or 5e-324 s) would
/// simulate billions of them per simulated second, and hang. Under 1 ms
/// is refused, negative zero included; 1 ms runs.
#[test]
fn a_poll_under_a_millisecond_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (value, shown) in [
        ("0.0", "0"),
        ("-0.0", "-0"),
        ("1e-308", "1e-308"),
        ("5e-324", "5e-324"),
        ("1e-6", "0.000001"),
        ("0.000999", "0.000999"),
    ] {
        let poll = format!("poll_s = {{ value = {value}, source = \"test\" }}");
        let path = model_file(dir.path(), "m.toml", LAMBDA_MODEL, &[("poll_s", &poll)]);
        let line = line_of(&path, "poll_s");
        let p = path.to_str().unwrap();
        let (code, err) = error_of(&["sim", "lib/cholesky.lp", "--workers", "10", "--model", p]);
        assert_eq!(
            (code, err),
            (
                Some(2),
                format!(
                    "error: model {p}, line {line}: `driver.poll_s` must be at least 0.001 \
                     (1 ms: every poll is a simulated request), found {shown}\n"
                )
            )
        );
    }
    let poll = "poll_s = { value = 0.001, source = \"test\" }";
    let path = model_file(dir.path(), "m.toml", LAMBDA_MODEL, &[("poll_s", poll)]);
    let p = path.to_str().unwrap();
    let out = lpc(&["sim", "lib/cholesky.lp", "--workers", "10", "--model", p]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// One job, timed by hand in the tests below.
const ONE_JOB: &str = include_str!("../../tests/pass/one_job.lp");

/// A relaunch runs its job again only if it arrives while the job is
/// unfinished. One job of 30 ms on the exact model with a 10 ms lease,
/// checked every 2.5 ms: launched at 1 ms, it starts at once (restamping
/// its lease), its writes are durable at 31 ms and it is finished at 32.
/// The check at 12.5 ms relaunches it (1 ms). On two workers the second
/// worker runs it again from 13.5 ms; the check at 25 ms relaunches that
/// run in turn, whose delivery waits for a worker and finds the job
/// finished at 32 ms: 2 relaunched, 1 of them ran again. On one worker
/// the first relaunch waits and finds the job finished: 1 relaunched, 0
/// ran again.
#[test]
fn a_relaunch_counts_as_a_repeat_only_if_it_ran() {
    let dir = tempfile::tempdir().expect("temp dir");
    let lease = "lease_s = { value = 0.01, source = \"test\" }";
    let model = model_file(dir.path(), "m.toml", EXACT_MODEL, &[("lease_s", lease)]);
    let program = dir.path().join("one.lp");
    std::fs::write(&program, ONE_JOB).unwrap();
    let args = |workers| {
        let (program, model) = (program.to_str().unwrap(), model.to_str().unwrap());
        lpc(&["sim", program, "--workers", workers, "--model", model])
    };
    let out = args("2");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let expected = "\
simulated 1 jobs on 2 workers (exact model)
  makespan      32.0 ms
  bounds        critical path 30.0 ms, busy time / workers 15.5 ms
  utilisation   48.4% of worker time busy
  compute       0.00 GFLOP, 0.0 GFLOP/s
  transfers     loaded 78.1 KiB, stored 78.1 KiB
  executions    2 (2 relaunched after a lease, 1 of them ran again; 0 killed at the time limit)
  requests      store: 0 GET, 2 PUT, 0 DELETE; counters: 3 reads, 4 writes, 0 query pages (0 read units)
  launches      queue: 3 (the rest continued on their parent's worker)
  cost          $0.0000 (compute $0.0000, invocations $0.0000, store $0.0000, counters $0.0000)
  tiles held    at most 1 at once (0 temps, 0 B of temps)
";
    assert_eq!(text(&out.stdout), expected);
    let out = args("1");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let line = text(&out.stdout)
        .lines()
        .find(|l| l.starts_with("  executions"))
        .map(str::to_string);
    assert_eq!(
        line.as_deref(),
        Some(
            "  executions    1 (1 relaunched after a lease, 0 of them ran again; \
             0 killed at the time limit)"
        )
    );
}

/// `lpc sim` of one job of 1000 s (its input generated at 10 elements/s)
/// with a lease of 1 us, checked every 1 ms, on `workers` workers of the
/// exact model, on Lambda or threads: its exit code and stderr.
fn one_long_job_with_a_short_lease(lambda: bool, workers: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut changes = vec![
        ("poll_s", "poll_s = { value = 0.001, source = \"test\" }"),
        ("lease_s", "lease_s = { value = 1e-6, source = \"test\" }"),
        (
            "init_elements_per_s",
            "init_elements_per_s = { value = { zeros = 1e6, identity = 1e6, random = 10.0, \
             spd = 1e6 }, source = \"test\" }",
        ),
    ];
    if lambda {
        changes.push(("kind", "kind = \"lambda\""));
    }
    let model = model_file(dir.path(), "m.toml", EXACT_MODEL, &changes);
    let program = dir.path().join("one.lp");
    std::fs::write(&program, ONE_JOB).unwrap();
    let (program, model) = (program.to_str().unwrap(), model.to_str().unwrap());
    error_of(&["sim", program, "--workers", workers, "--model", model])
}

/// A lease far shorter than the jobs, on the threads kind: each lease
/// check relaunches the running job, an idle worker runs it again at once
/// (restamping its lease), and so on while idle workers are left. On
/// 20,000 workers the 10,101st relaunch passes the bound of 100 per job
/// and 10,000.
#[test]
fn a_lease_far_shorter_than_the_jobs_is_refused() {
    let (code, err) = one_long_job_with_a_short_lease(false, "20000");
    assert_eq!(
        (code, err.as_str()),
        (
            Some(1),
            "error: the driver relaunched 10101 jobs after their lease expired, more than the \
             simulator takes (10100: 100 per job and 10000), after 0 of 1 jobs finished: the \
             model's `driver.lease_s` (0.000001 s) is far shorter than its jobs take\n"
        )
    );
}

/// On Lambda the driver gives up on a job whose lease expired 5 times
/// (it outruns the function's timeout, or its worker dies every time), and
/// so does the simulated driver, at the fifth expiry.
#[test]
fn a_job_overdue_after_its_last_relaunch_fails_the_run_on_lambda() {
    let (code, err) = one_long_job_with_a_short_lease(true, "2");
    assert_eq!(
        (code, err.as_str()),
        (
            Some(1),
            "error: the driver fails the run: job \"double\": driver: its lease (0.000001 s) \
             expired 5 times without it finishing: it takes longer than the function's timeout \
             allows, or its worker dies every time (smaller tiles, more memory or a longer \
             timeout)\n"
        )
    );
}

/// Busy and billed worker time add up over the workers, past what a
/// nanosecond count holds: 100 threads for 5e8 s (A generated at 2e-5
/// elements/s) are 1,585 years of billed time.
#[test]
fn worker_time_past_584_years_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let rates = "init_elements_per_s = { value = { zeros = 1e6, identity = 1e6, random = 1e6, \
                 spd = 2e-5 }, source = \"test\" }";
    let model = model_file(
        dir.path(),
        "m.toml",
        EXACT_MODEL,
        &[("init_elements_per_s", rates)],
    );
    let out = lpc(&[
        "sim",
        "lib/cholesky.lp",
        "--set",
        "n=100",
        "--set",
        "b=100",
        "--workers",
        "100",
        "--model",
        model.to_str().unwrap(),
    ]);
    assert_eq!(
        (out.status.code(), text(&out.stdout), text(&out.stderr)),
        (
            Some(1),
            String::new(),
            "error: the workers' simulated time adds up to more than 584 years: check the \
             model's latencies and rates, the program's sizes and the number of workers\n"
                .to_string()
        )
    );
}

/// Figures are finite, their products need not be: a cost that overflows
/// is refused, naming the figures behind it; a large finite one is
/// printed in scientific notation rather than in 300 digits. The 2 x 2
/// Cholesky's threads are billed 0.144 s x 2 at 1e308 MB, 1 $/GB-s:
/// 2.8125e304 dollars.
#[test]
fn costs_that_overflow_are_refused_and_large_ones_readable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let put = "store_put = { value = 1e308, source = \"test\" }";
    let model = model_file(dir.path(), "put.toml", EXACT_MODEL, &[("store_put", put)]);
    let out = cholesky_2x2(&model, &["--set", "b=100", "--workers", "2"]);
    assert_eq!(
        (out.status.code(), text(&out.stdout), text(&out.stderr)),
        (
            Some(1),
            String::new(),
            "error: the simulated store cost is not a finite number: check the model's \
             prices.store_get, store_put and store_delete\n"
                .to_string()
        )
    );
    let changes = [
        (
            "memory_mb",
            "memory_mb = { value = 1e308, source = \"test\" }",
        ),
        (
            "gb_second",
            "gb_second = { value = 1.0, source = \"test\" }",
        ),
    ];
    let model = model_file(dir.path(), "memory.toml", EXACT_MODEL, &changes);
    let out = cholesky_2x2(&model, &["--set", "b=100", "--workers", "2"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let cost = stdout.lines().find(|l| l.starts_with("  cost"));
    assert_eq!(
        cost,
        Some(
            "  cost          $2.812e304 (compute $2.812e304, invocations $0.0000, \
             store $0.0000, counters $0.0000)"
        )
    );
}

/// A point of a table with a third number would be read as its first
/// two, silently; it is refused at its line, as a rate of 0 that would
/// make a transposed load free while 1e-308 makes it take centuries.
#[test]
fn table_points_of_three_numbers_and_zero_rates_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cases = [
        (
            "CHOL",
            "CHOL = [[1, 0.03333333333333333, 5]]",
            "`kernels.gflops` entry CHOL must be [[size, GFLOP/s], ...], sizes ascending, \
             all positive",
        ),
        (
            "put_latency_s",
            "put_latency_s = { value = 0.002, source = \"test\" }\n\
             put_seconds_by_size = { value = [[1e6, 0.01],\n    [2e6, 0.02, 1]], source = \"test\" }",
            "`store.put_seconds_by_size` must be [[bytes, seconds], ...], sizes positive and \
             ascending, seconds non-negative",
        ),
        (
            "transpose_bytes_per_s",
            "transpose_bytes_per_s = { value = 0.0, source = \"test\" }",
            "`store.transpose_bytes_per_s` must be a positive number, found 0",
        ),
        // A count of environments read as a whole number, silently.
        (
            "scaling_environments",
            "scaling_environments = { value = 1.5, source = \"test\" }",
            "`platform.scaling_environments` must be a whole number, found 1.5",
        ),
        // Every figure has a source, those that are not numbers too.
        (
            "cache_last_job",
            "cache_last_job = { value = false, source = \" \" }",
            "`worker.cache_last_job` has an empty source",
        ),
        // Query costs of items this large overflowed the request counts.
        (
            "item_bytes",
            "item_bytes = { value = 1e300, source = \"test\" }",
            "`counters.item_bytes` must be at most 409600 (DynamoDB's item size limit), \
             found 1e300",
        ),
    ];
    for (start, line, message) in cases {
        let path = model_file(dir.path(), "m.toml", EXACT_MODEL, &[(start, line)]);
        // The offending point's own line.
        let line = match start {
            "put_latency_s" => line_of(&path, "    [2e6"),
            _ => line_of(&path, start),
        };
        let p = path.to_str().unwrap();
        let (code, err) = error_of(&["sim", "lib/cholesky.lp", "--workers", "1", "--model", p]);
        assert_eq!(
            (code, err),
            (
                Some(2),
                format!("error: model {p}, line {line}: {message}\n")
            )
        );
    }
}

/// `lpc sim ARGS` with `--model` the exact model, expecting a refusal
/// before anything is printed: (exit code, stderr).
fn sweep_error(model: &Path, args: &[&str]) -> (Option<i32>, String) {
    let mut all = vec!["sim", "--model", model.to_str().expect("utf-8 path")];
    all.extend_from_slice(args);
    error_of(&all)
}

/// Two setters of one thing would print a column for a value the
/// simulation did not use, so they are refused, naming both.
#[test]
fn a_sweep_of_something_set_twice_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let model = exact_model(dir.path());
    let cases: [(&[&str], &str); 5] = [
        (
            &[
                "--sweep",
                "tile=100,200",
                "--sweep",
                "b=100",
                "--workers",
                "1",
            ],
            "error: --sweep tile=... and --sweep b=... both set `b` (`tile` means `b`): \
             give all its values in one --sweep\n",
        ),
        (
            &["--sweep", "b=100", "--sweep", "tile=200", "--workers", "1"],
            "error: --sweep b=... and --sweep tile=... both set `b` (`tile` means `b`): \
             give all its values in one --sweep\n",
        ),
        (
            &["--sweep", "b=100,200", "--sweep", "b=50", "--workers", "1"],
            "error: --sweep b=... is given twice: give all its values in one --sweep b=V1,V2,...\n",
        ),
        (
            &["--set", "b=50", "--sweep", "tile=100", "--workers", "1"],
            "error: --sweep tile=... and --set b=50 both set `b` (`tile` means `b`): drop one\n",
        ),
        (
            &["--sweep", "workers=1,2", "--workers", "3"],
            "error: --sweep workers=... and --workers 3 both set the number of workers: drop one\n",
        ),
    ];
    for (args, expected) in cases {
        let mut all = vec!["lib/cholesky.lp", "--set", "n=200"];
        all.extend_from_slice(args);
        let (code, err) = sweep_error(&model, &all);
        assert_eq!((code, err.as_str()), (Some(2), expected), "{args:?}");
    }
}

/// `--plot` and `--trace` describe one simulation, and a sweep makes
/// several: they are refused rather than ignored.
#[test]
fn plot_and_trace_are_refused_with_a_sweep() {
    let dir = tempfile::tempdir().expect("temp dir");
    let model = exact_model(dir.path());
    let file = dir.path().join("out");
    let file = file.to_str().unwrap();
    for (option, expected) in [
        (
            "--plot",
            "error: --plot draws the utilisation of one simulation, and --sweep makes several: \
             give the point to plot with --set and --workers instead\n",
        ),
        (
            "--trace",
            "error: --trace records one simulation, and --sweep makes several: \
             give the point to trace with --set and --workers instead\n",
        ),
    ] {
        let args = ["lib/cholesky.lp", "--sweep", "workers=1,2", option, file];
        let (code, err) = sweep_error(&model, &args);
        assert_eq!((code, err.as_str()), (Some(2), expected));
        assert!(!Path::new(file).exists());
    }
}

/// A sweep's bad names and worker counts are reported as the sweep's,
/// not as a `--set`'s or a `--workers`'.
#[test]
fn sweep_errors_name_the_sweep() {
    let dir = tempfile::tempdir().expect("temp dir");
    let model = exact_model(dir.path());
    let program = dir.path().join("m.lp");
    std::fs::write(
        &program,
        "param m = 4\nmatrix A : f64[m, m] tile [m, m] input = random(1)\n\
         matrix C : f64[m, m] tile [m, m] output\nj:\n    %a = S3_LOAD A[0, 0]\n    \
         S3_WRITE C[0, 0], %a\n",
    )
    .unwrap();
    let program = program.to_str().unwrap();
    let cases: [(&[&str], &str); 6] = [
        (
            &["lib/cholesky.lp", "--sweep", "bogus=1,2", "--workers", "1"],
            "error: --sweep bogus=...: the program has no parameter `bogus` (it has n, b, seed, nt)\n",
        ),
        (
            &[program, "--sweep", "tile=2", "--workers", "1"],
            "error: --sweep tile=...: the program has no parameter `b` (`tile` means `b`; it has m)\n",
        ),
        (
            &["lib/cholesky.lp", "--sweep", "workers=1,0"],
            "error: --sweep workers=...: a simulation takes at least 1 worker\n",
        ),
        (
            &["lib/cholesky.lp", "--sweep", "workers=-1"],
            "error: --sweep workers=...: a simulation takes at least 1 worker\n",
        ),
        (
            &["lib/cholesky.lp", "--sweep", "workers=2000000"],
            "error: --sweep workers=...: 2000000 workers are more than the simulator takes (1000000)\n",
        ),
        (
            &["lib/cholesky.lp", "--sweep", "b=100"],
            "error: --workers is required (or --sweep workers=...)\n",
        ),
    ];
    for (args, expected) in cases {
        let (code, err) = sweep_error(&model, args);
        assert_eq!((code, err.as_str()), (Some(2), expected), "{args:?}");
    }
    // A bundle's parameters are fixed; its worker count can be swept.
    let bundle = dir.path().join("c.lpb");
    let bundle = bundle.to_str().unwrap();
    let out = lpc(&[
        "build",
        "lib/cholesky.lp",
        "--set",
        "n=200",
        "--set",
        "b=100",
        "-o",
        bundle,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (code, err) = sweep_error(&model, &[bundle, "--sweep", "tile=100", "--workers", "1"]);
    assert_eq!(
        (code, err),
        (
            Some(2),
            format!(
                "error: --sweep tile=... applies to a program, not to the bundle {bundle} \
                 (its parameters are fixed)\n"
            )
        )
    );
    let out = lpc(&[
        "sim",
        bundle,
        "--model",
        model.to_str().unwrap(),
        "--sweep",
        "workers=1",
    ]);
    assert_eq!(
        (out.status.code(), text(&out.stderr)),
        (Some(0), String::new())
    );
}

/// A list that names nothing, gives no value or repeats one is a usage
/// error of the flag itself.
#[test]
fn malformed_sweep_lists_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let model = exact_model(dir.path());
    for (sweep, why) in [
        ("=1", "no name before `=` (in `=1`)"),
        ("b=", "no values after `=` (in `b=`)"),
        (
            "b=100,,200",
            "a value is missing between commas (in `b=100,,200`)",
        ),
        (
            "b=100,200,",
            "a value is missing between commas (in `b=100,200,`)",
        ),
        ("b=100,+100", "100 is given twice (in `b=100,+100`)"),
    ] {
        let (code, err) = sweep_error(
            &model,
            &["lib/cholesky.lp", "--sweep", sweep, "--workers", "1"],
        );
        assert_eq!(
            (code, err),
            (
                Some(2),
                format!(
                    "error: invalid value '{sweep}' for '--sweep <NAME=V1,V2,...>': {why}\n\n\
                     For more information, try '--help'.\n"
                )
            )
        );
    }
    let values = |n: usize| {
        let v: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
        v.join(",")
    };
    let (b, n) = (format!("b={}", values(200)), format!("n={}", values(51)));
    let (code, err) = sweep_error(
        &model,
        &[
            "lib/cholesky.lp",
            "--sweep",
            &b,
            "--sweep",
            &n,
            "--workers",
            "1",
        ],
    );
    assert_eq!(
        (code, err.as_str()),
        (
            Some(2),
            "error: --sweep makes 10200 combinations (200 x 51 values), more than the 10000 lpc sim takes\n"
        )
    );
}

/// Every point is compiled before the table starts: a value that makes
/// no valid program prints the diagnostics and the point, and no table.
#[test]
fn a_point_that_does_not_compile_prints_no_table() {
    let dir = tempfile::tempdir().expect("temp dir");
    let model = exact_model(dir.path());
    let args = [
        "lib/cholesky.lp",
        "--set",
        "n=200",
        "--sweep",
        "seed=1,-1",
        "--workers",
        "1",
    ];
    let (code, err) = sweep_error(&model, &args);
    let expected = "\
error: a seed cannot be negative, found -1
   ┌─ lib/cholesky.lp:16:50
   │
16 │ matrix A : sym f64[n, n] tile [b, b] input = spd(seed)
   │                                                  ^^^^ the seed of `spd`

error: could not compile: 1 error
error: the --sweep point seed=-1 does not compile
";
    assert_eq!((code, err.as_str()), (Some(1), expected));
}

/// A point can still fail in its simulation; the rows before it stand,
/// and the error names the point. Here A's tiles generate at 2e-5
/// elements/s: n = 100 is one tile (5e8 s), n = 200 three in a row on one
/// worker (1.5e9 s), past the clock's 2^60 ns.
#[test]
fn a_point_that_fails_to_simulate_is_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("slow.toml");
    let slow = EXACT_MODEL.replace("spd = 1e6 }", "spd = 2e-5 }");
    assert_ne!(slow, EXACT_MODEL);
    std::fs::write(&path, slow).unwrap();
    let error = "error: at the --sweep point n=200: the simulated run passes 36 years of virtual \
                 time after 2 of 4 jobs: check the model's latencies and rates, and the program's sizes\n";
    let header = "n\tjobs\tmakespan s\tcrit. path s\tutil. %\tGB-s\tdollars\tpeak tiles\n";
    let row = "100\t1\t500000000.022\t500000000.020\t100.0\t500000000.0\t0.0000\t1\n";
    for (values, stdout) in [
        ("n=100,200", format!("{header}{row}")),
        ("n=200,100", String::new()),
    ] {
        let out = lpc(&[
            "sim",
            "lib/cholesky.lp",
            "--set",
            "b=100",
            "--sweep",
            values,
            "--workers",
            "1",
            "--model",
            path.to_str().unwrap(),
        ]);
        assert_eq!(
            (out.status.code(), text(&out.stdout), text(&out.stderr)),
            (Some(1), stdout, error.to_string())
        );
    }
}

/// The program is read once, so a sweep of a program on stdin compiles
/// every point from the same text; the same warnings at every point are
/// printed once.
#[test]
fn a_sweep_reads_its_program_once() {
    use std::io::Write;
    use std::process::Stdio;
    let dir = tempfile::tempdir().expect("temp dir");
    let model = exact_model(dir.path());
    let mut child = Command::new(env!("CARGO_BIN_EXE_lpc"))
        .args([
            "sim",
            "-",
            "--set",
            "n=200",
            "--sweep",
            "tile=100,200",
            "--workers",
            "1",
        ])
        .args(["--model", model.to_str().unwrap()])
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("lpc runs");
    let src = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../lib/cholesky.lp"))
        .expect("the program");
    child.stdin.take().unwrap().write_all(&src).unwrap();
    let out = child.wait_with_output().expect("lpc ends");
    // The rows of `sweep_prints_a_table` on one worker.
    let expected = "\
b\tjobs\tmakespan s\tcrit. path s\tutil. %\tGB-s\tdollars\tpeak tiles
100\t4\t0.144\t0.132\t99.3\t0.1\t0.0000\t3
200\t1\t0.156\t0.154\t99.4\t0.2\t0.0000\t1
";
    assert_eq!(
        (out.status.code(), text(&out.stdout), text(&out.stderr)),
        (Some(0), expected.to_string(), String::new())
    );

    let program = dir.path().join("w.lp");
    std::fs::write(
        &program,
        "param m = 4\nmatrix A : f64[m, m] tile [m, m] input = random(1)\n\
         matrix C : f64[m, m] tile [m, m] output\nj:\n    %a = S3_LOAD A[0, 0]\n    \
         %b = ADD %a, %a\n    S3_WRITE C[0, 0], %a\n",
    )
    .unwrap();
    let p = program.to_str().unwrap();
    let out = lpc(&[
        "sim",
        p,
        "--sweep",
        "m=4,8",
        "--workers",
        "1",
        "--model",
        model.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout).lines().count(),
        3,
        "{}",
        text(&out.stdout)
    );
    let warning = format!(
        "warning: unused register `%b`
  ┌─ {p}:6:5
  │
6 │     %b = ADD %a, %a
  │     ^^ defined here and never used

warning: 1 warning emitted
"
    );
    assert_eq!(text(&out.stderr), warning);
}
