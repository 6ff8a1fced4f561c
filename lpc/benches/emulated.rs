//! The `emulated` model (`models/emulated.toml`): fitted to emulated runs
//! of `lpc run --backend lambda`, and checked against others. Needs the
//! emulators and release builds of `lpc` and `lp-worker`:
//!
//! ```text
//! cargo build --release -p lpc -p lp-runtime --features lpc/aws,lp-runtime/aws --bins
//! scripts/emulators.sh start && . "$(scripts/emulators.sh env)"
//! cargo bench -p lpc --features aws --bench emulated -- calibrate [--reps N] --out FILE \
//!     CONFIG... [--check CONFIG...]
//! cargo bench -p lpc --features aws --bench emulated -- check --model FILE [--reps N] CONFIG...
//! ```
//!
//! A CONFIG is `PROGRAM:NAME=VALUE,...,w=W`: a library program (`cholesky`,
//! `gemm`, ...), its parameters, and W, the `lp-worker` processes serving
//! the run (`cholesky:n=4096,b=512,w=2`). Every run gets fresh workers, a
//! fresh bucket and table (deleted afterwards), and starts once the
//! machine has been idle for 2 s or after 10 s of waiting (other tenants'
//! builds decide a run's time: the tables give the load average at each
//! run's end); the configurations are run in turn, `--reps` times
//! over (default 3). A run's time is `lpc`'s own ("finished N jobs in T":
//! from the bundle upload to the driver seeing the run done); what the
//! workers recorded is read back from the run item.
//!
//! `calibrate` fits a model to the runs of its CONFIGs (`lp_sim::calibrate`
//! says how: they need runs on one worker with at least two tile sizes, and
//! runs on two workers for the contention), writes it to FILE, and prints
//! the request times per configuration and, as markdown tables, the
//! measured and predicted times of the CONFIGs and of the `--check` ones,
//! measured in the same rounds but not fitted on. `check` prints that
//! table for an existing model.

#[path = "../../lp-runtime/tests/emulator_support/mod.rs"]
mod emulator_support;
mod support;

use emulator_support::{Pool, endpoints, unique};
use lp_program::Plan;
use lp_runtime::aws::{AwsClients, AwsOptions, DynamoCounters, S3Store};
use lp_runtime::requests::Bill;
use lp_sim::calibrate::{Measured, Training};
use lpc::frontend::{CompileOptions, compile_source};
use std::path::{Path, PathBuf};
use std::process::Command;

const LPC: &str = env!("CARGO_BIN_EXE_lpc");

/// The command of this file, for the sources of the figures it writes.
const COMMAND: &str = "cargo bench -p lpc --features aws --bench emulated -- calibrate";

fn main() {
    // `cargo bench` appends `--bench`.
    let mut args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let usage = "usage: emulated calibrate [--reps N] --out FILE CONFIG... | \
                 check --model FILE [--reps N] CONFIG...";
    let command = if args.is_empty() {
        String::new()
    } else {
        args.remove(0)
    };
    let reps: usize = take_flag(&mut args, "--reps").unwrap_or(3);
    match command.as_str() {
        "calibrate" => {
            // Relative to the workspace root, as the documented command
            // writes it (cargo runs benches in lpc/); checked before the
            // half hour of measurements, not after.
            let out: PathBuf = take_flag(&mut args, "--out").expect(usage);
            let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(out);
            let dir = out.parent().expect("a file name");
            if !dir.is_dir() {
                eprintln!("--out {}: no directory {}", out.display(), dir.display());
                std::process::exit(2);
            }
            calibrate(&args, reps, &out);
        }
        "check" => {
            let model: String = take_flag(&mut args, "--model").expect(usage);
            check(&args, reps, &model);
        }
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    }
}

/// `--NAME VALUE` from `args` (removed), parsed.
fn take_flag<T: std::str::FromStr>(args: &mut Vec<String>, name: &str) -> Option<T> {
    let at = args.iter().position(|a| a == name)?;
    let value = args
        .get(at + 1)
        .unwrap_or_else(|| panic!("{name} needs a value"))
        .clone();
    args.drain(at..at + 2);
    Some(
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name} {value}: not a valid value")),
    )
}

/// One configuration: a library program, its parameters, the workers.
struct Config {
    label: String,
    program: String,
    sets: Vec<(String, i64)>,
    workers: usize,
}

impl Config {
    fn parse(spec: &str) -> Config {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let (name, rest) = spec.split_once(':').unwrap_or((spec, ""));
        let mut sets = Vec::new();
        let mut workers = None;
        for kv in rest.split(',').filter(|s| !s.is_empty()) {
            let (k, v) = kv
                .split_once('=')
                .unwrap_or_else(|| panic!("{spec}: `{kv}` is not NAME=VALUE"));
            let v: i64 = v
                .parse()
                .unwrap_or_else(|_| panic!("{spec}: `{v}` is not an integer"));
            if k == "w" {
                workers = Some(v as usize);
            } else {
                sets.push((k.to_string(), v));
            }
        }
        let program = workspace.join(format!("lib/{name}.lp"));
        assert!(
            program.is_file(),
            "{spec}: no library program {}",
            program.display()
        );
        Config {
            label: spec.to_string(),
            program: program.to_str().unwrap().to_string(),
            sets,
            workers: workers.unwrap_or_else(|| panic!("{spec}: give the workers as w=W")),
        }
    }

    fn plan(&self) -> Plan {
        let source = std::fs::read_to_string(&self.program).unwrap();
        let opts = CompileOptions {
            settings: self.sets.clone(),
            ..CompileOptions::default()
        };
        let outcome = compile_source(&source, &self.program, &opts).unwrap();
        outcome.compiled.expect("the program compiles").checked.plan
    }
}

/// The line of `lpc`'s summary that starts with `label`.
fn line<'a>(summary: &'a str, label: &str) -> &'a str {
    summary
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("no `{label}` line in:\n{summary}"))
}

/// `lpc`'s own time for the run: "finished N jobs in T on Lambda".
fn reported_seconds(summary: &str) -> f64 {
    let finished = line(summary, "finished ");
    let t = finished
        .split(" in ")
        .nth(1)
        .unwrap()
        .trim_end_matches(" on Lambda");
    if let Some(ms) = t.strip_suffix(" ms") {
        return ms.parse::<f64>().unwrap() / 1e3;
    }
    if let Some(s) = t.strip_suffix(" s") {
        return s.parse().unwrap();
    }
    let (m, s) = t.split_once("m ").unwrap();
    m.parse::<f64>().unwrap() * 60.0 + s.trim_end_matches('s').parse::<f64>().unwrap()
}

/// One emulated run of `c` on fresh workers, a fresh bucket and table: its
/// time, and what the workers recorded in the run item.
fn run_once(c: &Config, lp_worker: &Path, logs: &Path) -> (f64, Bill) {
    let ep = endpoints();
    let pool = Pool::start(lp_worker, c.workers, None, logs);
    let (bucket, table) = (unique("lp-emulated"), unique("lp-emulated"));
    let env = [
        ("LP_S3_ENDPOINT", ep.s3.as_str()),
        ("LP_DYNAMODB_ENDPOINT", ep.dynamodb.as_str()),
        ("LP_LAMBDA_ENDPOINT", pool.lambda.url.as_str()),
    ];
    let lpc = |args: &[String]| {
        let out = Command::new(LPC)
            .args(args)
            .envs(env)
            .output()
            .expect("lpc runs");
        let text = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "lpc {args:?} failed:\n{text}");
        text
    };
    lpc(&support::aws_init(&bucket, &table));
    let sets: Vec<String> = c
        .sets
        .iter()
        .flat_map(|(name, value)| ["--set".into(), format!("{name}={value}")])
        .collect();
    let summary = lpc(&support::lambda_run(&c.program, &bucket, &table, &sets));
    // "run run-... (table T, s3://B/P)": the workers' own record of it.
    let run_id = line(&summary, "run run-")
        .split_whitespace()
        .nth(1)
        .unwrap();
    let clients = AwsClients::connect(&AwsOptions {
        s3_endpoint: Some(ep.s3.clone()),
        dynamodb_endpoint: Some(ep.dynamodb.clone()),
        ..AwsOptions::default()
    });
    let record = DynamoCounters::new(&clients, &table, run_id)
        .run_record()
        .expect("read the run item")
        .expect("the run item exists");
    remove(&clients, &bucket, &table);
    for label in ["finished", "requests", "latency", "workers", "cost"] {
        eprintln!("#   {}", line(&summary, label));
    }
    (reported_seconds(&summary), record.bill)
}

/// Deletes what a run left (its outputs, its table), so that many runs
/// do not fill the emulators' disk and memory.
fn remove(clients: &AwsClients, bucket: &str, table: &str) {
    let store = S3Store::at_root(clients, bucket);
    for key in store.list_keys("").expect("list the run's objects") {
        store.delete_object(&key).expect("delete an object");
    }
    let (s3, dynamodb) = (clients.s3.clone(), clients.dynamodb.clone());
    let (bucket, table) = (bucket.to_string(), table.to_string());
    lp_runtime::aws::block_on(async move {
        s3.delete_bucket()
            .bucket(bucket)
            .send()
            .await
            .expect("delete the bucket");
        dynamodb
            .delete_table()
            .table_name(table)
            .send()
            .await
            .expect("delete the table");
    });
}

/// The runs of one configuration: their times, the workers' records, and
/// the machine's one-minute load average as each ended.
#[derive(Clone, Default)]
struct Runs {
    seconds: Vec<f64>,
    bills: Vec<Bill>,
    loads: Vec<f64>,
}

/// Runs every configuration `reps` times, in turn.
fn measure(configs: &[Config], reps: usize) -> Vec<Runs> {
    let lp_worker: PathBuf = Path::new(LPC).with_file_name("lp-worker");
    assert!(
        lp_worker.is_file(),
        "build {} first: cargo build --release -p lpc -p lp-runtime \
         --features lpc/aws,lp-runtime/aws --bins",
        lp_worker.display()
    );
    let logs = tempfile::tempdir().unwrap();
    let mut out = vec![Runs::default(); configs.len()];
    for rep in 0..reps {
        for (c, runs) in configs.iter().zip(&mut out) {
            wait_for_idle();
            let (secs, bill) = run_once(c, &lp_worker, logs.path());
            let get = bill.times.get(lp_runtime::request_times::Timed::TileGet);
            let load = loadavg();
            eprintln!(
                "# rep {rep} {}: {secs:.2} s, tile reads {:.1} ms (load average {load:.2})",
                c.label,
                get.mean_seconds().unwrap_or(0.0) * 1e3,
            );
            runs.seconds.push(secs);
            runs.bills.push(bill);
            runs.loads.push(load);
        }
    }
    out
}

/// Idle CPU time and total CPU time so far, from /proc/stat (jiffies).
fn cpu_times() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait ...
    let idle = fields.get(3)? + fields.get(4).unwrap_or(&0);
    Some((idle, fields.iter().sum()))
}

/// Waits (at most `IDLE_WAIT`) until the machine's CPUs were at least
/// `IDLE_SHARE` idle over the last 2 s, so that a run starts when the
/// machine's other tenants (builds, benchmarks) are not running; what
/// starts during a run still shows in its time.
fn wait_for_idle() {
    const IDLE_SHARE: f64 = 0.9;
    const IDLE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);
    let started = std::time::Instant::now();
    loop {
        let Some((idle0, total0)) = cpu_times() else {
            return;
        };
        std::thread::sleep(std::time::Duration::from_secs(2));
        let Some((idle1, total1)) = cpu_times() else {
            return;
        };
        let share = (idle1 - idle0) as f64 / (total1 - total0).max(1) as f64;
        if share >= IDLE_SHARE {
            return;
        }
        if started.elapsed() > IDLE_WAIT {
            eprintln!(
                "# the machine stayed busy ({:.0} % idle): running anyway",
                share * 100.0
            );
            return;
        }
    }
}

/// The one-minute load average (NaN where /proc/loadavg is unreadable).
fn loadavg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

fn calibrate(specs: &[String], reps: usize, out: &Path) {
    // Configurations after `--check` are measured with the others, in
    // turn, but not fitted on.
    let split = specs.iter().position(|s| s == "--check");
    let (fitted_on, checked) = specs.split_at(split.unwrap_or(specs.len()));
    let checked = checked.get(1..).unwrap_or_default();
    let configs: Vec<Config> = fitted_on
        .iter()
        .chain(checked)
        .map(|s| Config::parse(s))
        .collect();
    let mut measured = measure(&configs, reps);
    let checks = measured.split_off(fitted_on.len());
    let training: Vec<Training> = configs
        .iter()
        .map(|c| (c, c.plan()))
        .zip(&measured)
        .map(|((c, plan), runs)| Training {
            label: c.label.clone(),
            plan,
            workers: c.workers as u64,
            measured: Measured::from_runs(&runs.seconds, &runs.bills),
        })
        .collect();
    println!("Request times the workers measured (mean ms per call; MiB per transfer):\n");
    request_table(configs.iter().zip(measured.iter().chain(&checks)));
    let command = format!("{COMMAND} --reps {reps} {}", fitted_on.join(" "));
    let text = lp_sim::calibrate::emulated_model(&training, &command)
        .unwrap_or_else(|e| panic!("calibration failed: {e}"));
    lp_runtime::atomic_file::write_atomically(out, text.as_bytes())
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));
    eprintln!("# wrote {}", out.display());
    let model = lp_sim::Model::parse(&text, &out.display().to_string()).unwrap();
    println!("\nFitted on:\n");
    check_table(&model, &configs[..fitted_on.len()], &measured);
    if !checks.is_empty() {
        println!("\nPredicted:\n");
        check_table(&model, &configs[fitted_on.len()..], &checks);
    }
}

fn check(specs: &[String], reps: usize, model: &str) {
    let model = lp_sim::Model::load(model).unwrap_or_else(|e| panic!("{e}"));
    let configs: Vec<Config> = specs.iter().map(|s| Config::parse(s)).collect();
    let measured = measure(&configs, reps);
    check_table(&model, &configs, &measured);
}

fn check_table(model: &lp_sim::Model, configs: &[Config], measured: &[Runs]) {
    let plans: Vec<Plan> = configs.iter().map(Config::plan).collect();
    let rows: Vec<Row> = configs
        .iter()
        .zip(&plans)
        .zip(measured)
        .map(|((config, plan), runs)| Row { config, plan, runs })
        .collect();
    table(model, &rows);
}

/// The mean time of each kind of request per configuration, from what the
/// workers recorded.
fn request_table<'a>(rows: impl Iterator<Item = (&'a Config, &'a Runs)>) {
    use lp_runtime::request_times::Timed;
    let kinds = Timed::ALL.map(|k| k.name());
    println!("| config | {} |", kinds.join(" | "));
    println!("|---|{}", "---:|".repeat(kinds.len()));
    for (c, runs) in rows {
        let times = runs.bills.iter().fold(
            Default::default(),
            |t: lp_runtime::request_times::RequestTimes, b| t.plus(&b.times),
        );
        let cells: Vec<String> = Timed::ALL
            .iter()
            .map(|&k| {
                let w = times.get(k);
                match (w.mean_seconds(), w.mean_bytes()) {
                    (Some(s), Some(b)) if b > 0.0 => {
                        format!("{:.2} ({:.2})", s * 1e3, b / 1048576.0)
                    }
                    (Some(s), _) => format!("{:.2}", s * 1e3),
                    _ => "-".into(),
                }
            })
            .collect();
        println!("| {} | {} |", c.label, cells.join(" | "));
    }
}

/// A configuration's measured runs.
struct Row<'a> {
    config: &'a Config,
    plan: &'a Plan,
    runs: &'a Runs,
}

/// Measured and predicted run times (and the workers' busy time) as a
/// markdown table.
fn table(model: &lp_sim::Model, rows: &[Row]) {
    println!(
        "| config | jobs | measured, s | median | predicted, s | predicted / measured | \
         workers busy, s: measured | predicted | load average at the runs' ends |"
    );
    println!("|---|---:|---|---:|---:|---:|---:|---:|---|");
    for r in rows {
        let opts = lp_sim::SimOptions::new(r.config.workers as u64);
        let report = lp_sim::simulate(r.plan, model, &opts)
            .unwrap_or_else(|e| panic!("{}: {e}", r.config.label));
        let predicted = lp_sim::clock::secs(report.driver_done);
        let median = lp_sim::fit::median(&r.runs.seconds).expect("runs");
        let list = |v: &[f64]| {
            v.iter()
                .map(|s| format!("{s:.2}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let busy = Measured::from_runs(&r.runs.seconds, &r.runs.bills).busy_s;
        println!(
            "| {} | {} | {} | {median:.2} | {predicted:.2} | {:.2} | {busy:.2} | {:.2} | {} |",
            r.config.label,
            r.plan.job_count(),
            list(&r.runs.seconds),
            predicted / median,
            lp_sim::clock::secs(report.busy),
            list(&r.runs.loads),
        );
    }
}
