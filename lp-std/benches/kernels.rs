//! One-core GFLOP/s of every tile kernel through `Kernel::apply`, next to
//! faer's raw in-place call on preallocated tiles (what `apply` costs on top:
//! the fresh result tile and the operand copy), plus `.npy` and initialiser
//! throughput for a 1024 x 1024 tile.
//!
//! Run: `cargo bench -p lp-std --bench kernels` (optionally with sizes as
//! arguments, e.g. `-- 256 512`). Each figure is the median of repeated runs
//! after a warm-up; compare with docs' machine baselines measured the same way.

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt::factor as llt;
use faer::linalg::matmul::matmul;
use faer::linalg::triangular_solve;
use faer::{Accum, Par};
use lp_std::{Init, Kernel, MatrixHeader, Shape, Tile, npy};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Median seconds of `f` over at least 5 runs and about 0.5 s.
fn median_secs(mut f: impl FnMut()) -> f64 {
    f();
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < 5 || (start.elapsed() < Duration::from_millis(500) && times.len() < 200) {
        let t = Instant::now();
        f();
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn tile(init: Init, n: usize) -> Tile {
    init.tile(&MatrixHeader::new([n, n], [n, n], false), 0, 0)
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![256, 512, 1024]
    } else {
        sizes
    };
    println!("one core, Par::Seq; GFLOP/s by the LAPACK counts of Kernel::flops");
    println!("{:<22} {:>6} {:>10} {:>9}", "kernel", "b", "ms", "GFLOP/s");
    for &n in &sizes {
        let spd = tile(Init::Spd { seed: 1 }, n);
        let l = Kernel::Chol.apply(&[&spd]).unwrap();
        let a = tile(Init::Random { seed: 2 }, n);
        let b = tile(Init::Random { seed: 3 }, n);
        let c = tile(Init::Random { seed: 4 }, n);
        let cases: Vec<(&str, Kernel, Vec<&Tile>)> = vec![
            ("CHOL", Kernel::Chol, vec![&spd]),
            ("INVRS", Kernel::Invrs, vec![&l]),
            ("TRSM (X L^T = B)", Kernel::Trsm, vec![&b, &l]),
            ("TRSM_L (L X = B)", Kernel::TrsmL, vec![&b, &l]),
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
            let secs = median_secs(|| {
                black_box(kernel.apply(black_box(&args)).unwrap());
            });
            println!(
                "{label:<22} {n:>6} {:>10.3} {:>9.1}",
                secs * 1e3,
                flops / secs / 1e9
            );
        }

        // faer's raw in-place calls on preallocated outputs: the ceiling.
        let mut out = c.clone();
        let secs = median_secs(|| {
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
        println!(
            "{:<22} {n:>6} {:>10.3} {:>9.1}",
            "  raw faer POTRF",
            secs * 1e3,
            f / secs / 1e9
        );
        let secs = median_secs(|| {
            out.copy_from(&b);
            triangular_solve::solve_lower_triangular_in_place(
                l.as_ref(),
                out.as_mut().transpose_mut(),
                Par::Seq,
            );
        });
        let f = (n as f64).powi(3);
        println!(
            "{:<22} {n:>6} {:>10.3} {:>9.1}",
            "  raw faer TRSM X L^T",
            secs * 1e3,
            f / secs / 1e9
        );
        let secs = median_secs(|| {
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
        println!(
            "{:<22} {n:>6} {:>10.3} {:>9.1}",
            "  raw faer C -= A B^T",
            secs * 1e3,
            f / secs / 1e9
        );
    }

    let n = 1024;
    let t = tile(Init::Random { seed: 5 }, n);
    let bytes = npy::encode_tile(&t);
    let mb = bytes.len() as f64 / 1e6;
    println!("\n.npy and initialisers, {n}x{n} f64 ({mb:.1} MB)");
    let report = |label: &str, secs: f64| {
        println!(
            "{label:<34} {:>8.3} ms {:>7.1} GB/s",
            secs * 1e3,
            mb / 1e3 / secs
        )
    };
    report(
        "encode_tile",
        median_secs(|| {
            black_box(npy::encode_tile(black_box(&t)));
        }),
    );
    let mut buf = Vec::with_capacity(bytes.len());
    report(
        "write_tile into a reused Vec",
        median_secs(|| {
            buf.clear();
            npy::write_tile(&mut buf, black_box(&t)).unwrap();
        }),
    );
    report(
        "decode_tile (Fortran order)",
        median_secs(|| {
            black_box(npy::decode_tile(black_box(&bytes)).unwrap());
        }),
    );
    report(
        "read_tile from a byte slice",
        median_secs(|| {
            black_box(npy::read_tile(&mut black_box(&bytes[..])).unwrap());
        }),
    );
    let path = std::env::temp_dir().join(format!("lp-std-bench-{}.npy", std::process::id()));
    std::fs::write(&path, &bytes).unwrap();
    report(
        "read_tile from a file (page cache)",
        median_secs(|| {
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
            median_secs(|| {
                black_box(init.tile(&header, i, j));
            }),
        );
    }
    report(
        "Tile::zeros (allocation floor)",
        median_secs(|| {
            black_box(Tile::zeros(n, n));
        }),
    );
}
