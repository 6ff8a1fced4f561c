//! Measures the figures of the `local` model on this machine: one-core
//! GFLOP/s of the kernels the library's Cholesky and GEMM use, called as a
//! job calls them (`Kernel::apply_reusing`, the result's operand handed
//! over), the initialisers' elements per second and the transposed-load
//! copy.
//!
//! Run: `cargo run --release -p lp-sim --example calibrate -- [--threads T]
//! [SIZES...]` (default sizes 512 1024 2048, T = 1). With T = 2 two threads
//! run the same kernel at once, as two workers do, and the per-thread rate
//! is reported. Medians of at least 5 timed calls and half a second after
//! a warm-up, in thread CPU time (the machine is shared: wall time would
//! include other tenants' work).

use lp_std::{Init, Kernel, MatrixHeader, Shape, Tile};
use std::borrow::Cow;

// lpc's allocator, so that tiles sit on the huge pages they get in a run
// (lp-runtime/src/alloc.rs): on the system allocator the kernels ran 5-25 %
// slower here (one run each, 2026-12-04).
lp_runtime::global_allocator!();

// The benches' timing (thread CPU time from `clock_gettime`: the machine
// is shared, so wall time would measure the other tenants; /proc's
// schedstat, read here before, moved at scheduler ticks and put the rates
// on steps 5 % apart).
#[path = "../../lp-std/benches/timing/mod.rs"]
mod timing;

/// Median seconds of `f` on each of `threads` threads running together, in
/// CPU time where the platform tells it (else wall time). Each call gets
/// its own `prepare()`, made outside the timing: a kernel consumes the copy
/// of its operand it is handed.
fn timed<T>(threads: usize, prepare: &(dyn Fn() -> T + Sync), f: &(dyn Fn(T) + Sync)) -> f64 {
    let times: Vec<f64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let (wall, cpu) = timing::timed_with(prepare, f);
                    if cpu.is_finite() { cpu } else { wall }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    timing::median(times)
}

fn tile(init: Init, b: usize, i: usize, j: usize) -> Tile {
    let header = MatrixHeader::new([4 * b, 4 * b], [b, b], matches!(init, Init::Spd { .. }));
    init.tile(&header, i, j)
}

/// Each kernel as a run calls it: the operand that takes the result (the
/// first) handed over, a copy the job alone holds, the others shared
/// (`Kernel::apply_reusing`, docs/performance.md "Tile kernels").
fn kernels(threads: usize, b: usize) {
    let spd = tile(Init::Spd { seed: 42 }, b, 0, 0);
    let l = Kernel::Chol.apply(&[&spd]).unwrap().remove(0);
    let x = tile(Init::Random { seed: 1 }, b, 1, 0);
    let y = tile(Init::Random { seed: 2 }, b, 2, 0);
    let c = tile(Init::Random { seed: 3 }, b, 2, 1);
    let trsm = Kernel::from_name("TRSM_RLT").unwrap();
    let gemm = Kernel::from_name("GEMM").unwrap();
    // The symmetric `SYRK` (a diagonal tile's update) is timed apart, under
    // the name a run's summary gives it, which the model's table takes.
    let cases: [(Kernel, Vec<&Tile>); 5] = [
        (Kernel::Chol, vec![&spd]),
        (trsm, vec![&x, &l]),
        (Kernel::Syrk, vec![&c, &x, &y]),
        (Kernel::Syrk, vec![&spd, &x, &x]),
        (gemm, vec![&c, &x, &y]),
    ];
    for (k, args) in cases {
        let shapes: Vec<Shape> = args
            .iter()
            .map(|t| Shape::new(t.nrows(), t.ncols()))
            .collect();
        let symmetric = k.is_symmetric(|i, j| std::ptr::eq(args[i], args[j]));
        let secs = timed(threads, &|| args[0].clone(), &|consumed| {
            let mut operands: Vec<Cow<'_, Tile>> = args.iter().map(|&t| Cow::Borrowed(t)).collect();
            operands[0] = Cow::Owned(consumed);
            std::hint::black_box(k.apply_reusing(operands).unwrap());
        });
        println!(
            "{} b={b}: {:.1} GFLOP/s",
            k.timed_as(symmetric),
            k.flops_for(&shapes, symmetric) / secs / 1e9
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
        let secs = timed(threads, &|| (), &|()| {
            std::hint::black_box(tile(init, b, 1, 0));
        });
        println!("init {name}: {:.3e} elements/s", elements / secs);
    }
    // As a run copies an upper tile of a symmetric matrix from the stored
    // lower one (lp_runtime::matrix::read_tile).
    let x = tile(Init::Random { seed: 1 }, b, 1, 0);
    let secs = timed(threads, &|| (), &|()| {
        let mut transposed = Tile::zeros(x.ncols(), x.nrows());
        lp_std::kernel::transpose_into(x.as_ref(), transposed.as_mut());
        std::hint::black_box(transposed);
    });
    println!("transpose copy: {:.3e} bytes/s", elements * 8.0 / secs);
}
