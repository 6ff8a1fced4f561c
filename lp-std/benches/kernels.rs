//! What `Kernel::apply` costs on top of faer's raw in-place call, for the
//! Cholesky's kernels and the product on one core; then every tile kernel's
//! GFLOP/s through `Kernel::apply`, and `.npy` and initialiser throughput
//! for a 1024 x 1024 tile.
//!
//! Run: `cargo bench -p lp-std --bench kernels` (optionally with sizes as
//! arguments, e.g. `-- 512 1024 2048`, and `rounds=N`). Each figure is a
//! median of repeated runs after a warm-up, in thread CPU time (robust to
//! other load on the machine).
//!
//! The comparison runs, in each of `rounds` rounds (default 3), faer's raw
//! call, `Kernel::apply_reusing` with the consumed operand handed over (the
//! runtime's case when nothing else holds that tile), and `Kernel::apply`
//! on shared operands (which must copy the consumed one first), each on a
//! fresh copy of the consumed operand made outside the timing; it prints
//! the medians over the rounds and the median of the per-round ratios.

mod timing;

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt::factor as llt;
use faer::linalg::matmul::matmul;
use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::linalg::triangular_solve;
use faer::{Accum, Par};
use lp_std::{Init, Kernel, MatrixHeader, Shape, Tile, npy};
use std::borrow::Cow;
use std::hint::black_box;
use timing::{median, timed, timed_with};

fn row(label: &str, n: usize, flops: f64, (wall, cpu): (f64, f64)) {
    println!(
        "{label:<22} {n:>6} {:>10.3} {:>9.1} {:>10.3} {:>9.1}",
        wall * 1e3,
        flops / wall / 1e9,
        cpu * 1e3,
        flops / cpu / 1e9
    );
}

fn tile(init: Init, n: usize) -> Tile {
    init.tile(&MatrixHeader::new([n, n], [n, n], false), 0, 0)
}

/// Operands of one comparison: the kernel's, in order, with the consumed
/// one (index 0) copied fresh for every call.
struct Case<'a> {
    label: &'static str,
    kernel: Kernel,
    args: Vec<&'a Tile>,
    /// faer's raw call, given the fresh copy of operand 0.
    raw: Box<dyn Fn(&mut Tile) + 'a>,
}

fn compare(n: usize, rounds: usize, case: &Case<'_>) {
    let shapes: Vec<Shape> = case
        .args
        .iter()
        .map(|t| Shape::new(t.nrows(), t.ncols()))
        .collect();
    let flops = case
        .kernel
        .flops(&shapes, |x, y| std::ptr::eq(case.args[x], case.args[y]));
    let fresh = || case.args[0].clone();
    let (mut raw, mut owned, mut shared) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        raw.push(timed_with(fresh, |mut t| (case.raw)(&mut t)).1);
        owned.push(
            timed_with(fresh, |t| {
                let mut args: Vec<Cow<'_, Tile>> =
                    case.args.iter().map(|&a| Cow::Borrowed(a)).collect();
                args[0] = Cow::Owned(t);
                case.kernel.apply_reusing(black_box(args)).unwrap()
            })
            .1,
        );
        shared.push(
            timed_with(
                || (),
                |()| case.kernel.apply(black_box(&case.args)).unwrap(),
            )
            .1,
        );
    }
    let ratio = |v: &[f64]| median(v.iter().zip(&raw).map(|(x, r)| x / r).collect());
    let (r, o, s) = (
        median(raw.clone()),
        median(owned.clone()),
        median(shared.clone()),
    );
    println!(
        "{:<24} {n:>5} {:>9.3} {:>7.1} {:>9.3} {:>7.3} {:>9.3} {:>7.3}",
        case.label,
        r * 1e3,
        flops / r / 1e9,
        o * 1e3,
        ratio(&owned),
        s * 1e3,
        ratio(&shared),
    );
}

fn comparisons(n: usize, rounds: usize) {
    let spd = tile(Init::Spd { seed: 1 }, n);
    let l = Kernel::Chol.apply(&[&spd]).unwrap().remove(0);
    let a = tile(Init::Random { seed: 2 }, n);
    let b = tile(Init::Random { seed: 3 }, n);
    let c = tile(Init::Random { seed: 4 }, n);
    let rect = BlockStructure::Rectangular;
    let cases = [
        Case {
            label: "CHOL",
            kernel: Kernel::Chol,
            args: vec![&spd],
            raw: Box::new(|out| {
                let params = Default::default();
                let mut mem =
                    MemBuffer::new(llt::cholesky_in_place_scratch::<f64>(n, Par::Seq, params));
                let stack = MemStack::new(&mut mem);
                llt::cholesky_in_place(out.as_mut(), Default::default(), Par::Seq, stack, params)
                    .unwrap();
            }),
        },
        Case {
            label: "TRSM_RLT (X L^T = B)",
            kernel: Kernel::from_name("TRSM_RLT").unwrap(),
            args: vec![&b, &l],
            raw: Box::new(|out| {
                let rhs = out.as_mut().transpose_mut();
                triangular_solve::solve_lower_triangular_in_place(l.as_ref(), rhs, Par::Seq);
            }),
        },
        Case {
            label: "SYRK (C - A B^T)",
            kernel: Kernel::Syrk,
            args: vec![&c, &a, &b],
            raw: Box::new(|out| {
                let bt = b.as_ref().transpose();
                matmul(out.as_mut(), Accum::Add, a.as_ref(), bt, -1.0, Par::Seq);
            }),
        },
        Case {
            label: "SYRK diagonal (C - A A^T)",
            kernel: Kernel::Syrk,
            args: vec![&spd, &a, &a],
            raw: Box::new(|out| {
                let lower = BlockStructure::TriangularLower;
                let at = a.as_ref().transpose();
                let (dst, lhs) = (out.as_mut(), a.as_ref());
                triangular::matmul(dst, lower, Accum::Add, lhs, rect, at, rect, -1.0, Par::Seq);
            }),
        },
        Case {
            label: "GEMM c, a, b",
            kernel: Kernel::Gemm {
                ta: false,
                tb: false,
                sub: false,
            },
            args: vec![&c, &a, &b],
            raw: Box::new(|out| {
                matmul(
                    out.as_mut(),
                    Accum::Add,
                    a.as_ref(),
                    b.as_ref(),
                    1.0,
                    Par::Seq,
                );
            }),
        },
        Case {
            label: "GEMM_NT c, a, b",
            kernel: Kernel::Gemm {
                ta: false,
                tb: true,
                sub: false,
            },
            args: vec![&c, &a, &b],
            raw: Box::new(|out| {
                let bt = b.as_ref().transpose();
                matmul(out.as_mut(), Accum::Add, a.as_ref(), bt, 1.0, Par::Seq);
            }),
        },
    ];
    for case in &cases {
        compare(n, rounds, case);
    }
}

/// GFLOP/s of every tile kernel through `Kernel::apply` on shared operands.
fn all_kernels(n: usize) {
    let spd = tile(Init::Spd { seed: 1 }, n);
    let l = Kernel::Chol.apply(&[&spd]).unwrap().remove(0);
    let a = tile(Init::Random { seed: 2 }, n);
    let b = tile(Init::Random { seed: 3 }, n);
    let c = tile(Init::Random { seed: 4 }, n);
    let gemm = |ta, tb| Kernel::Gemm { ta, tb, sub: false };
    let cases: Vec<(&str, Kernel, Vec<&Tile>)> = vec![
        ("CHOL", Kernel::Chol, vec![&spd]),
        ("INVRS", Kernel::Invrs, vec![&l]),
        (
            "TRSM_RLT (X L^T = B)",
            Kernel::from_name("TRSM_RLT").unwrap(),
            vec![&b, &l],
        ),
        (
            "TRSM_LLN (L X = B)",
            Kernel::from_name("TRSM_LLN").unwrap(),
            vec![&b, &l],
        ),
        ("SYRK (C - A B^T)", Kernel::Syrk, vec![&c, &a, &b]),
        ("SYRK diagonal", Kernel::Syrk, vec![&c, &a, &a]),
        ("GEMM c, a, b", gemm(false, false), vec![&c, &a, &b]),
        ("GEMM a, b", gemm(false, false), vec![&a, &b]),
        ("GEMM_NT c, a, b", gemm(false, true), vec![&c, &a, &b]),
        ("GEMM_TN c, a, b", gemm(true, false), vec![&c, &a, &b]),
        ("GEMM_TT c, a, b", gemm(true, true), vec![&c, &a, &b]),
        ("ADD", Kernel::Add, vec![&a, &b]),
    ];
    for (label, kernel, args) in cases {
        let shapes: Vec<Shape> = args
            .iter()
            .map(|t| Shape::new(t.nrows(), t.ncols()))
            .collect();
        let flops = kernel.flops(&shapes, |x, y| std::ptr::eq(args[x], args[y]));
        let secs = timed(|| {
            black_box(kernel.apply(black_box(&args)).unwrap());
        });
        row(label, n, flops, secs);
    }
}

fn io() {
    let n = 1024;
    let t = tile(Init::Random { seed: 5 }, n);
    let bytes = npy::encode_tile(&t);
    let mb = bytes.len() as f64 / 1e6;
    println!("\n.npy and initialisers, {n}x{n} f64 ({mb:.1} MB)");
    println!("{:<34} {:>8} {:>7} {:>8}", "", "wall ms", "GB/s", "cpu ms");
    let report = |label: &str, (wall, cpu): (f64, f64)| {
        println!(
            "{label:<34} {:>8.3} {:>7.1} {:>8.3}",
            wall * 1e3,
            mb / 1e3 / wall,
            cpu * 1e3
        )
    };
    report(
        "encode_tile",
        timed(|| {
            black_box(npy::encode_tile(black_box(&t)));
        }),
    );
    let mut buf = Vec::with_capacity(bytes.len());
    report(
        "write_tile into a reused Vec",
        timed(|| {
            buf.clear();
            npy::write_tile(&mut buf, black_box(&t)).unwrap();
        }),
    );
    report(
        "decode_tile (Fortran order)",
        timed(|| {
            black_box(npy::decode_tile(black_box(&bytes)).unwrap());
        }),
    );
    report(
        "read_tile from a byte slice",
        timed(|| {
            black_box(npy::read_tile(&mut black_box(&bytes[..])).unwrap());
        }),
    );
    let path = std::env::temp_dir().join(format!("lp-std-bench-{}.npy", std::process::id()));
    std::fs::write(&path, &bytes).unwrap();
    report(
        "read_tile from a file (page cache)",
        timed(|| {
            let mut f = std::fs::File::open(&path).unwrap();
            black_box(npy::read_tile(&mut f).unwrap());
        }),
    );
    std::fs::remove_file(&path).unwrap();
    let header = MatrixHeader::new([4 * n, 4 * n], [n, n], true);
    for (label, init) in [
        ("Init::Random tile", Init::Random { seed: 9 }),
        ("Init::Spd diagonal tile", Init::Spd { seed: 9 }),
        ("Init::Spd tile above the diagonal", Init::Spd { seed: 9 }),
    ] {
        let (i, j) = if label.contains("above") {
            (0, 1)
        } else {
            (1, 1)
        };
        report(
            label,
            timed(|| {
                black_box(init.tile(&header, i, j));
            }),
        );
    }
    report(
        "Tile::zeros (allocation floor)",
        timed(|| {
            black_box(Tile::zeros(n, n));
        }),
    );
}

fn main() {
    // Arguments: tile sizes (default 256 512 1024), `rounds=N`, or `io`
    // for the .npy and initialiser figures only.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let io_only = args.iter().any(|a| a == "io");
    let rounds = args
        .iter()
        .find_map(|a| a.strip_prefix("rounds=")?.parse().ok())
        .unwrap_or(3);
    let sizes: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let sizes = if io_only {
        vec![]
    } else if sizes.is_empty() {
        vec![256, 512, 1024]
    } else {
        sizes
    };
    if !sizes.is_empty() {
        println!("one core, Par::Seq; thread CPU ms, medians of {rounds} interleaved rounds;");
        println!("GFLOP/s by Kernel::flops; ratios to raw faer are medians of per-round ratios");
        println!(
            "{:<24} {:>5} {:>9} {:>7} {:>9} {:>7} {:>9} {:>7}",
            "kernel", "b", "raw ms", "GFLOP/s", "owned ms", "/ raw", "shared ms", "/ raw"
        );
    }
    for &n in &sizes {
        comparisons(n, rounds);
    }
    if !sizes.is_empty() {
        println!("\nevery kernel through Kernel::apply on shared operands");
        println!(
            "{:<22} {:>6} {:>10} {:>9} {:>10} {:>9}",
            "kernel", "b", "wall ms", "GFLOP/s", "cpu ms", "GFLOP/s"
        );
    }
    for &n in &sizes {
        all_kernels(n);
    }
    io();
}
