//! One-core GFLOP/s of every tile kernel through `Kernel::apply`, next to
//! faer's raw in-place call on preallocated tiles (what `apply` costs on top:
//! the fresh result tile and the operand copy), plus `.npy` and initialiser
//! throughput for a 1024 x 1024 tile.
//!
//! Run: `cargo bench -p lp-std --bench kernels` (optionally with sizes as
//! arguments, e.g. `-- 256 512`). Each figure is the median of repeated runs
//! after a warm-up; compare with docs' machine baselines measured the same way.

mod timing;

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt::factor as llt;
use faer::linalg::matmul::matmul;
use faer::linalg::triangular_solve;
use faer::{Accum, Par};
use lp_std::{Init, Kernel, MatrixHeader, Shape, Tile, npy};
use std::hint::black_box;
use timing::timed;

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

fn main() {
    // Arguments: tile sizes for the kernels (default 256 512 1024), or
    // `io` for the .npy and initialiser figures only.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let io_only = args.iter().any(|a| a == "io");
    let sizes: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let sizes = if io_only {
        vec![]
    } else if sizes.is_empty() {
        vec![256, 512, 1024]
    } else {
        sizes
    };
    println!("one core, Par::Seq; GFLOP/s by the LAPACK counts of Kernel::flops");
    println!("(cpu = on-CPU time of the thread, robust to other load on the machine)");
    println!(
        "{:<22} {:>6} {:>10} {:>9} {:>10} {:>9}",
        "kernel", "b", "wall ms", "GFLOP/s", "cpu ms", "GFLOP/s"
    );
    for &n in &sizes {
        let spd = tile(Init::Spd { seed: 1 }, n);
        let l = Kernel::Chol.apply(&[&spd]).unwrap().remove(0);
        let a = tile(Init::Random { seed: 2 }, n);
        let b = tile(Init::Random { seed: 3 }, n);
        let c = tile(Init::Random { seed: 4 }, n);
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
            (
                "GEMM c, a, b",
                Kernel::Gemm {
                    ta: false,
                    tb: false,
                },
                vec![&c, &a, &b],
            ),
            (
                "GEMM a, b",
                Kernel::Gemm {
                    ta: false,
                    tb: false,
                },
                vec![&a, &b],
            ),
            (
                "GEMM_NT c, a, b",
                Kernel::Gemm {
                    ta: false,
                    tb: true,
                },
                vec![&c, &a, &b],
            ),
            (
                "GEMM_TN c, a, b",
                Kernel::Gemm {
                    ta: true,
                    tb: false,
                },
                vec![&c, &a, &b],
            ),
            (
                "GEMM_TT c, a, b",
                Kernel::Gemm { ta: true, tb: true },
                vec![&c, &a, &b],
            ),
            ("ADD", Kernel::Add, vec![&a, &b]),
        ];
        for (label, kernel, args) in cases {
            let shapes: Vec<Shape> = args
                .iter()
                .map(|t| Shape::new(t.nrows(), t.ncols()))
                .collect();
            let flops = kernel.flops(&shapes);
            let secs = timed(|| {
                black_box(kernel.apply(black_box(&args)).unwrap());
            });
            row(label, n, flops, secs);
        }

        // faer's raw in-place calls on preallocated outputs: the ceiling.
        let mut out = c.clone();
        let secs = timed(|| {
            out.copy_from(&spd);
            let params = Default::default();
            let mut mem =
                MemBuffer::new(llt::cholesky_in_place_scratch::<f64>(n, Par::Seq, params));
            llt::cholesky_in_place(
                out.as_mut(),
                Default::default(),
                Par::Seq,
                MemStack::new(&mut mem),
                params,
            )
            .unwrap();
        });
        let f = (n as f64).powi(3) / 3.0;
        row("  raw faer POTRF", n, f, secs);
        let secs = timed(|| {
            out.copy_from(&b);
            triangular_solve::solve_lower_triangular_in_place(
                l.as_ref(),
                out.as_mut().transpose_mut(),
                Par::Seq,
            );
        });
        let f = (n as f64).powi(3);
        row("  raw faer TRSM_RLT X L^T", n, f, secs);
        let secs = timed(|| {
            matmul(
                out.as_mut(),
                Accum::Add,
                a.as_ref(),
                b.as_ref().transpose(),
                -1.0,
                Par::Seq,
            );
        });
        let f = 2.0 * (n as f64).powi(3);
        row("  raw faer C -= A B^T", n, f, secs);
        let secs = timed(|| {
            // The same update with B^T copied to column-major first.
            let bt = b.transpose().to_owned();
            matmul(
                out.as_mut(),
                Accum::Add,
                a.as_ref(),
                bt.as_ref(),
                -1.0,
                Par::Seq,
            );
        });
        row("  raw faer, B^T copied", n, f, secs);
        let secs = timed(|| {
            matmul(
                out.as_mut(),
                Accum::Add,
                a.as_ref(),
                b.as_ref(),
                -1.0,
                Par::Seq,
            );
        });
        row("  raw faer C -= A B", n, f, secs);
    }

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
