//! Parse throughput on a generated tiled-Cholesky-shaped program.
//!
//! Generates the same kind of text `lpc gen cholesky` does (one job per
//! CHOL / TRSM_RLT / SYRK step, loads, a kernel, a write, `RET`), for a tile grid
//! of `N` x `N` (default 128, about 60 MB; set `LP_BENCH_TILES` to change
//! it), then times `grammar::parse` and prints MB/s. Run with
//! `cargo bench -p grammar --bench parse`.

use std::fmt::Write;
use std::time::Instant;

fn cholesky_text(n: usize) -> String {
    let size = n * 4096;
    let mut s = String::new();
    writeln!(s, "; tiled Cholesky, {n} x {n} tiles").unwrap();
    writeln!(
        s,
        "matrix A : sym f64[{size}, {size}] tile [4096, 4096] input = spd(42)"
    )
    .unwrap();
    writeln!(s, "matrix L : f64[{size}, {size}] tile [4096, 4096] output").unwrap();
    for k in 0..n {
        writeln!(
            s,
            "matrix S{k} : sym f64[{size}, {size}] tile [4096, 4096] temp"
        )
        .unwrap();
    }
    let src = |k: usize| {
        if k == 0 {
            "A".to_string()
        } else {
            format!("S{k}")
        }
    };
    let mut job = 0;
    for k in 0..n {
        writeln!(
            s,
            "\nchol_{job}:\n    %0 = S3_LOAD {}[{k}, {k}]\n    %1 = CHOL %0\n    S3_WRITE L[{k}, {k}], %1\n    RET",
            src(k)
        )
        .unwrap();
        job += 1;
        for i in k + 1..n {
            writeln!(
                s,
                "trsm_{job}:\n    %0 = S3_LOAD {}[{i}, {k}]\n    %1 = S3_LOAD L[{k}, {k}]\n    %2 = TRSM_RLT %0, %1\n    S3_WRITE L[{i}, {k}], %2\n    RET",
                src(k)
            )
            .unwrap();
            job += 1;
        }
        for i in k + 1..n {
            for j in k + 1..=i {
                writeln!(
                    s,
                    "syrk_{job}:  ; trailing update\n    %0 = S3_LOAD {}[{i}, {j}]\n    %1 = S3_LOAD L[{i}, {k}]\n    %2 = S3_LOAD L[{j}, {k}]\n    %3 = SYRK %0, %1, %2\n    S3_WRITE S{}[{i}, {j}], %3\n    RET",
                    src(k),
                    k + 1
                )
                .unwrap();
                job += 1;
            }
        }
    }
    s
}

/// CPU time of this thread, where Linux tells it: the machines this runs on
/// are shared, and wall time there can be several times the CPU time.
fn thread_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos: u64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(nanos as f64 / 1e9)
}

fn main() {
    let tiles = std::env::var("LP_BENCH_TILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(128);
    let text = cholesky_text(tiles);
    let mb = text.len() as f64 / 1e6;
    let start = Instant::now();
    let cpu_start = thread_cpu_seconds();
    let tokens = grammar::lexer::Lexer::new(&text).count();
    let lex_seconds = start.elapsed().as_secs_f64();
    let lex_cpu = thread_cpu_seconds().zip(cpu_start).map(|(b, a)| b - a);
    println!(
        "lex only: {tokens} tokens, wall {lex_seconds:.3} s = {:.0} MB/s; cpu {}",
        mb / lex_seconds,
        rate(mb, lex_cpu)
    );
    let mut best = f64::INFINITY;
    let mut best_cpu = None::<f64>;
    let mut summary = (0, 0);
    for _ in 0..3 {
        let start = Instant::now();
        let cpu_start = thread_cpu_seconds();
        let (program, errors) = grammar::parse(&text);
        let seconds = start.elapsed().as_secs_f64();
        if let Some(cpu) = thread_cpu_seconds().zip(cpu_start).map(|(b, a)| b - a) {
            best_cpu = Some(best_cpu.map_or(cpu, |b| b.min(cpu)));
        }
        assert!(errors.is_empty(), "generated text has errors: {errors:?}");
        summary = (
            program.jobs().count(),
            program.jobs().map(|j| j.body.len()).sum::<usize>(),
        );
        best = best.min(seconds);
        drop(program);
    }
    println!(
        "parse: {tiles}x{tiles} tiles, {mb:.1} MB, {} jobs, {} instructions: best of 3, wall {best:.3} s = {:.0} MB/s; cpu {}",
        summary.0,
        summary.1,
        mb / best,
        rate(mb, best_cpu)
    );
    // The source text plus one tree (each run's tree is dropped before the
    // next parse starts).
    if let Some(peak) = peak_rss_mb() {
        println!("peak RSS {peak:.0} MB ({:.1} x the source size)", peak / mb);
    }
}

/// Peak resident memory of the process, where Linux tells it.
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn rate(mb: f64, seconds: Option<f64>) -> String {
    match seconds {
        Some(s) => format!("{s:.3} s = {:.0} MB/s", mb / s),
        None => "not available".to_string(),
    }
}
