//! Front-end throughput on generated Cholesky programs: parse, check and
//! lower the 64 x 64-tile (45,760 jobs) and 128 x 128-tile (357,760 jobs)
//! programs, and report the time of each phase and the peak resident memory.
//!
//! Each size runs in a child process of its own (this binary re-executed
//! with `--tiles N`), so that the peak memory (`VmHWM` in
//! `/proc/self/status`) belongs to that size alone. Targets: 64 x 64 under
//! 1 s, 128 x 128 under 10 s, memory linear in the program size.
//!
//! Run: `cargo bench -p lpc --bench check` (optionally `-- 32 64 128`).

use std::process::Command;
use std::time::Instant;

/// Peak resident set size of this process, in MiB (Linux only).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn measure(tiles: usize) {
    let tile = 256;
    let started = Instant::now();
    let mut text = Vec::new();
    lp_std::generate::cholesky(&mut text, tiles * tile, tile, 42).unwrap();
    let text = String::from_utf8(text).unwrap();
    let generate = started.elapsed().as_secs_f64();
    let text_rss = peak_rss_mib();

    let started = Instant::now();
    let (program, syntax_errors) = grammar::parse(&text);
    let parse = started.elapsed().as_secs_f64();
    assert!(syntax_errors.is_empty());

    let started = Instant::now();
    let (checked, errors) = lpc::check::check(&program);
    let check = started.elapsed().as_secs_f64();
    assert!(errors.is_empty());
    let checked = checked.unwrap();
    let instructions = checked.instructions;
    drop(program);

    let started = Instant::now();
    let lowered = lpc::lower::lower(checked).unwrap();
    let lower = started.elapsed().as_secs_f64();
    let jobs = lowered.bundle.jobs.len();
    assert_eq!(jobs as u64, lp_std::generate::cholesky_jobs(tiles as u64));

    let total = parse + check + lower;
    let fmt_mib = |m: Option<f64>| m.map_or("n/a".to_string(), |m| format!("{m:.0} MiB"));
    println!(
        "{tiles:>3} x {tiles:<3} tiles: {jobs:>7} jobs, {instructions:>8} instructions, {:>5.1} MB text | \
         parse {parse:.3} s, check {check:.3} s, lower {lower:.3} s, total {total:.3} s | \
         peak RSS {} (text alone {}) | generate {generate:.3} s",
        text.len() as f64 / 1e6,
        fmt_mib(peak_rss_mib()),
        fmt_mib(text_rss),
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, tiles] = args.as_slice()
        && flag == "--tiles"
    {
        measure(tiles.parse().expect("--tiles N"));
        return;
    }
    // `cargo bench` passes `--bench`; any numbers are sizes to run.
    let mut sizes: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    if sizes.is_empty() {
        sizes = vec![64, 128];
    }
    let exe = std::env::current_exe().unwrap();
    for tiles in sizes {
        let status = Command::new(&exe)
            .args(["--tiles", &tiles.to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "the {tiles} x {tiles} run failed");
    }
}
