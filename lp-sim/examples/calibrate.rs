//! Measures the figures of the `local` model on this machine: one-core
//! GFLOP/s of the kernels the library's Cholesky, GEMM, LU and QR use,
//! called as a job calls them (`Kernel::apply_reusing`, the operands that
//! take the results handed over), the initialisers' elements per second
//! and the transposed-load copy.
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

/// Each kernel as a run calls it: the operands that take its results
/// handed over, copies the job alone holds, the others shared
/// (`Kernel::apply_reusing`, docs/performance.md "Tile kernels"). The
/// Cholesky's and GEMM's kernels, the solves', then the LU's and the QR's,
/// each on operands the kernel before it made, as in a factorisation's
/// first step.
fn kernels(threads: usize, b: usize) {
    let k = |name: &str| Kernel::from_name(name).unwrap();
    let apply = |name: &str, args: &[&Tile]| k(name).apply(args).unwrap();
    let spd = tile(Init::Spd { seed: 42 }, b, 0, 0);
    let l = Kernel::Chol.apply(&[&spd]).unwrap().remove(0);
    let x = tile(Init::Random { seed: 1 }, b, 1, 0);
    let y = tile(Init::Random { seed: 2 }, b, 2, 0);
    let c = tile(Init::Random { seed: 3 }, b, 2, 1);
    let [lu, p] = <[Tile; 2]>::try_from(apply("GETRF", &[&x])).unwrap();
    let [_, ll, lx] = <[Tile; 3]>::try_from(apply("TSTRF", &[&lu, &y])).unwrap();
    let [v, t, r] = <[Tile; 3]>::try_from(apply("GEQRT", &[&x])).unwrap();
    let [_, vs, ts] = <[Tile; 3]>::try_from(apply("TSQRT", &[&r, &y])).unwrap();
    let [_, _, r2] = <[Tile; 3]>::try_from(apply("GEQRT", &[&y])).unwrap();
    // The symmetric `SYRK` (a diagonal tile's update) is timed apart, under
    // the name a run's summary gives it, which the model's table takes.
    let cases: [(Kernel, Vec<&Tile>, &[usize]); 19] = [
        (Kernel::Chol, vec![&spd], &[0]),
        (k("TRSM_RLT"), vec![&x, &l], &[0]),
        (Kernel::Syrk, vec![&c, &x, &y], &[0]),
        (Kernel::Syrk, vec![&spd, &x, &x], &[0]),
        (k("GEMM"), vec![&c, &x, &y], &[0]),
        // The solves' kernels (posv, trsolve, gesv's and lstsq's back
        // substitutions); `GETRF`'s factor holds an upper triangle.
        (k("TRSM_LLN"), vec![&x, &l], &[0]),
        (k("TRSM_LLT"), vec![&x, &l], &[0]),
        (k("TRSM_LUN"), vec![&x, &lu], &[0]),
        (k("GEMM_SUB"), vec![&c, &x, &y], &[0]),
        (k("GEMM_SUB_TN"), vec![&c, &x, &y], &[0]),
        (k("GETRF"), vec![&x], &[0]),
        (k("GESSM"), vec![&lu, &p, &c], &[2]),
        (k("TSTRF"), vec![&lu, &y], &[0, 1]),
        (k("SSSSM"), vec![&c, &x, &ll, &lx], &[0, 1]),
        (k("GEQRT"), vec![&x], &[0]),
        (k("ORMQR_T"), vec![&v, &t, &c], &[2]),
        (k("TSQRT"), vec![&r, &y], &[0, 1]),
        (k("TTQRT"), vec![&r, &r2], &[0, 1]),
        (k("TSMQR_T"), vec![&c, &x, &vs, &ts], &[0, 1]),
    ];
    for (k, args, handed) in cases {
        let shapes: Vec<Shape> = args
            .iter()
            .map(|t| Shape::new(t.nrows(), t.ncols()))
            .collect();
        let symmetric = k.is_symmetric(|i, j| std::ptr::eq(args[i], args[j]));
        let own = || {
            handed
                .iter()
                .map(|&i| args[i].clone())
                .collect::<Vec<Tile>>()
        };
        let secs = timed(threads, &own, &|consumed| {
            let mut operands: Vec<Cow<'_, Tile>> = args.iter().map(|&t| Cow::Borrowed(t)).collect();
            for (&i, tile) in handed.iter().zip(consumed) {
                operands[i] = Cow::Owned(tile);
            }
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
