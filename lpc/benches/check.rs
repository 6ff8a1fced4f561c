//! Front-end throughput: `lpc check` of the library Cholesky
//!
//! * as a loop program, for 256 x 256 tiles (2.8 million jobs) and 1024 x
//!   1024 tiles (179 million jobs): targets under 1 s and 100 MiB, and under
//!   10 s; nothing may grow with the number of jobs;
//! * as flat programs (its expansion), for 64 x 64 tiles (45,760 jobs) and
//!   128 x 128 tiles (357,760 jobs): targets under 1 s and 10 s, memory
//!   linear in the program text.
//!
//! Each case runs in a child process of its own (this binary re-executed
//! with `--case NAME`), so that the peak memory (`VmHWM` in
//! `/proc/self/status`) belongs to that case alone.
//!
//! Run: `cargo bench -p lpc --bench check` (optionally `-- loop:256 flat:64`).

use std::process::Command;
use std::time::Instant;

/// Peak resident set size of this process, in MiB (Linux only).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn fmt_mib(m: Option<f64>) -> String {
    m.map_or("n/a".to_string(), |m| format!("{m:.0} MiB"))
}

fn settings(tiles: usize) -> Vec<(String, i64)> {
    let tile = 256;
    vec![
        ("n".into(), (tiles * tile) as i64),
        ("b".into(), tile as i64),
    ]
}

/// The loop program, checked for `tiles` x `tiles` tiles.
fn check_loop(tiles: usize) {
    let src = lpc::library::source("cholesky").expect("in the library");
    let opts = lpc::CompileOptions {
        settings: settings(tiles),
        ..lpc::CompileOptions::default()
    };
    let started = Instant::now();
    let outcome = lpc::compile_source(src, "cholesky.lp", &opts).expect("known parameters");
    let check = started.elapsed().as_secs_f64();
    assert!(outcome.diagnostics.is_empty());
    let compiled = outcome.compiled.expect("compiles");
    let started = Instant::now();
    let jobs = compiled.plan().job_count();
    let count = started.elapsed().as_secs_f64();
    let bundle = lp_program::bundle::encode(compiled.program()).len();
    println!(
        "loop {tiles:>4} x {tiles:<4} tiles: {jobs:>10} jobs | check {check:.3} s, count jobs {count:.3} s | \
         bundle {bundle} bytes | peak RSS {}",
        fmt_mib(peak_rss_mib())
    );
}

/// The flat expansion, parsed and checked, for `tiles` x `tiles` tiles.
fn check_flat(tiles: usize) {
    let src = lpc::library::source("cholesky").expect("in the library");
    let opts = lpc::CompileOptions {
        settings: settings(tiles),
        ..lpc::CompileOptions::default()
    };
    let compiled = lpc::compile_source(src, "cholesky.lp", &opts)
        .expect("known parameters")
        .compiled
        .expect("compiles");
    let started = Instant::now();
    let mut text = Vec::new();
    lpc::expand::write_flat(compiled.plan(), "flat", &mut text).expect("in-memory write");
    drop(compiled);
    let text = String::from_utf8(text).expect("UTF-8");
    let expand = started.elapsed().as_secs_f64();
    let text_rss = peak_rss_mib();
    let started = Instant::now();
    let (program, syntax_errors) = grammar::parse(&text);
    let parse = started.elapsed().as_secs_f64();
    assert!(syntax_errors.is_empty());
    drop(program);
    let started = Instant::now();
    let outcome = lpc::compile_source(&text, "flat.lp", &lpc::CompileOptions::default())
        .expect("no settings");
    let total = started.elapsed().as_secs_f64();
    assert!(outcome.diagnostics.is_empty());
    let jobs = outcome.compiled.expect("compiles").plan().job_count();
    println!(
        "flat {tiles:>4} x {tiles:<4} tiles: {jobs:>10} jobs, {:>5.1} MB text | parse {parse:.3} s, \
         parse + check + plan {total:.3} s | peak RSS {} (text alone {}) | expand {expand:.3} s",
        text.len() as f64 / 1e6,
        fmt_mib(peak_rss_mib()),
        fmt_mib(text_rss),
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(pos) = args.iter().position(|a| a == "--case") {
        let case = &args[pos + 1];
        let (kind, tiles) = case.split_once(':').expect("KIND:TILES");
        let tiles: usize = tiles.parse().expect("a tile count");
        match kind {
            "loop" => check_loop(tiles),
            "flat" => check_flat(tiles),
            _ => panic!("unknown case {case}"),
        }
        return;
    }
    let mut cases: Vec<String> = args.into_iter().filter(|a| a.contains(':')).collect();
    if cases.is_empty() {
        cases = ["loop:256", "loop:1024", "flat:64", "flat:128"]
            .map(String::from)
            .to_vec();
    }
    let exe = std::env::current_exe().expect("the bench binary");
    for case in cases {
        let status = Command::new(&exe)
            .args(["--case", &case])
            .status()
            .expect("re-run the bench");
        assert!(status.success(), "case {case} failed");
    }
}
