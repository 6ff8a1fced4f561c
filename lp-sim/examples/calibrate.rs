//! Measures the figures of the `local` model on this machine: one-core
//! GFLOP/s of the kernels the library's Cholesky and GEMM use, through
//! `Kernel::apply` (what a job calls), the initialisers' elements per
//! second and the transposed-load copy, and prints them as model lines.
//!
//! Run: `cargo run --release -p lp-sim --example calibrate -- [--threads T]
//! [SIZES...]` (default sizes 512 1024 2048, T = 1). With T = 2 two threads
//! run the same kernel at once, as two workers do, and the per-thread rate
//! is reported. Medians of 5 timed runs after a warm-up, in thread CPU time
//! (the machine is shared: wall time would include other tenants' work).

use lp_std::{Init, Kernel, MatrixHeader, Shape, Tile};
use std::time::Instant;

/// CPU time of the calling thread, in seconds: the first field of
/// /proc/thread-self/schedstat (nanoseconds on a CPU). The machine is shared,
/// so wall time would measure the other tenants; a worker thread's kernels
/// are charged the CPU time they need. Falls back to wall time elsewhere.
fn thread_cpu() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: f64 = text.split_whitespace().next()?.parse().ok()?;
    Some(ns / 1e9)
}

/// Seconds of one call of `f`, by CPU time when available (median of 5
/// after a warm-up).
fn one(f: &(dyn Fn() + Sync)) -> Vec<f64> {
    let t = Instant::now();
    f();
    // The kernel's CPU time is accounted at scheduler ticks: repeat short
    // calls to at least 50 ms per sample.
    let reps = (0.05 / t.elapsed().as_secs_f64().max(1e-6))
        .ceil()
        .clamp(1.0, 1000.0) as usize;
    (0..5)
        .map(|_| {
            let (c, t) = (thread_cpu(), Instant::now());
            for _ in 0..reps {
                f();
            }
            let total = match (c, thread_cpu()) {
                (Some(a), Some(b)) => b - a,
                _ => t.elapsed().as_secs_f64(),
            };
            total / reps as f64
        })
        .collect()
}

/// Median seconds of `f` on each of `threads` threads running together.
fn timed(threads: usize, f: &(dyn Fn() + Sync)) -> f64 {
    let times: Vec<f64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads).map(|_| s.spawn(|| one(f))).collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    lp_sim::fit::median(&times).expect("timed runs")
}

fn tile(init: Init, b: usize, i: usize, j: usize) -> Tile {
    let header = MatrixHeader::new([4 * b, 4 * b], [b, b], matches!(init, Init::Spd { .. }));
    init.tile(&header, i, j)
}

fn kernels(threads: usize, b: usize) {
    let spd = tile(Init::Spd { seed: 42 }, b, 0, 0);
    let l = Kernel::Chol.apply(&[&spd]).unwrap().remove(0);
    let x = tile(Init::Random { seed: 1 }, b, 1, 0);
    let y = tile(Init::Random { seed: 2 }, b, 2, 0);
    let c = tile(Init::Random { seed: 3 }, b, 2, 1);
    let trsm = Kernel::from_name("TRSM_RLT").unwrap();
    let gemm = Kernel::from_name("GEMM").unwrap();
    let cases: [(Kernel, Vec<&Tile>); 4] = [
        (Kernel::Chol, vec![&spd]),
        (trsm, vec![&x, &l]),
        (Kernel::Syrk, vec![&c, &x, &y]),
        (gemm, vec![&c, &x, &y]),
    ];
    for (k, args) in cases {
        let shapes: Vec<Shape> = args
            .iter()
            .map(|t| Shape::new(t.nrows(), t.ncols()))
            .collect();
        let secs = timed(threads, &|| {
            std::hint::black_box(k.apply(&args).unwrap());
        });
        println!(
            "{} b={b}: {:.1} GFLOP/s",
            k.name(),
            k.flops(&shapes, |i, j| std::ptr::eq(args[i], args[j])) / secs / 1e9
        );
    }
}

fn main() {
    let mut threads = 1;
    let mut sizes = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--threads" {
            threads = args.next().and_then(|t| t.parse().ok()).unwrap_or(1);
        } else if let Ok(b) = a.parse() {
            sizes.push(b);
        }
    }
    if sizes.is_empty() {
        sizes = vec![512, 1024, 2048];
    }
    println!("threads {threads}");
    for &b in &sizes {
        kernels(threads, b);
    }
    let b = 1024;
    let elements = (b * b) as f64;
    for (name, init) in [
        ("zeros", Init::Zeros),
        ("identity", Init::Identity),
        ("random", Init::Random { seed: 1 }),
        ("spd", Init::Spd { seed: 1 }),
    ] {
        let secs = timed(threads, &|| {
            std::hint::black_box(tile(init, b, 1, 0));
        });
        println!("init {name}: {:.3e} elements/s", elements / secs);
    }
    let x = tile(Init::Random { seed: 1 }, b, 1, 0);
    let secs = timed(threads, &|| {
        std::hint::black_box(x.transpose().to_owned());
    });
    println!("transpose copy: {:.3e} bytes/s", elements * 8.0 / secs);
}
