//! One-core GFLOP/s of the QR tile kernels (`lp_std::kernel::qr`) on
//! `b x b` tiles, next to faer's own dense QR (`qr_in_place`) and its
//! application of Qᵀ, and faer's GEMM of the same size, so that each line
//! reads as a fraction of GEMM speed.
//!
//! Run: `cargo bench -p lp-std --bench qr` (optionally with tile sizes as
//! arguments, e.g. `-- 256 512`). Each figure is the median of repeated runs
//! after a warm-up. GFLOP/s use the useful-flop counts of `qr::flops_*`
//! (LAPACK's), so the extra work of forming the full T in GEQRT and TSQRT
//! shows as a lower rate, not as more flops. "% of GEMM" compares rates on
//! thread CPU time. The "3 fresh b x b tiles" line is the cost of
//! allocating and first touching the three result tiles GEQRT and TSQRT
//! return (faer's in-place QR fills its input): on machines where fresh
//! pages are dear it is a visible part of those kernels' time.

mod timing;

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::householder;
use faer::linalg::matmul::matmul;
use faer::linalg::qr::no_pivoting::factor::{
    qr_in_place, qr_in_place_scratch, recommended_block_size,
};
use faer::{Accum, Conj, Par};
use lp_std::kernel::qr;
use lp_std::{Init, MatrixHeader, Tile};
use std::hint::black_box;
use timing::timed;

fn row(label: &str, n: usize, flops: f64, (wall, cpu): (f64, f64), gemm: f64) -> f64 {
    let rate = flops / if cpu.is_nan() { wall } else { cpu } / 1e9;
    let gemm = if gemm.is_nan() { rate } else { gemm };
    println!(
        "{label:<28} {n:>5} {:>9.2} {:>8.1} {:>9.2} {:>8.1} {:>7.0}%",
        wall * 1e3,
        flops / wall / 1e9,
        cpu * 1e3,
        flops / cpu / 1e9,
        100.0 * rate / gemm
    );
    rate
}

fn random(rows: usize, cols: usize, seed: u64) -> Tile {
    Init::Random { seed }.tile(&MatrixHeader::new([rows, cols], [rows, cols], false), 0, 0)
}

/// faer's dense QR of `a`: the factored matrix and its block coefficients.
fn faer_qr(a: &Tile) -> (Tile, Tile) {
    let (m, n) = a.shape();
    let bs = recommended_block_size::<f64>(m, n);
    let mut qr = a.clone();
    let mut coeff = Tile::zeros(bs, m.min(n));
    let params = Default::default();
    let mut mem = MemBuffer::new(qr_in_place_scratch::<f64>(m, n, bs, Par::Seq, params));
    qr_in_place(
        qr.as_mut(),
        coeff.as_mut(),
        Par::Seq,
        MemStack::new(&mut mem),
        params,
    );
    (qr, coeff)
}

/// faer's `Qᵀ C` for its own dense QR, on a copy of `c`.
fn faer_qt(qr: &Tile, coeff: &Tile, c: &Tile) -> Tile {
    let mut out = c.clone();
    let mut mem =
        MemBuffer::new(
            householder::apply_block_householder_sequence_transpose_on_the_left_in_place_scratch::<
                f64,
            >(qr.nrows(), coeff.nrows(), c.ncols()),
        );
    householder::apply_block_householder_sequence_transpose_on_the_left_in_place_with_conj(
        qr.as_ref(),
        coeff.as_ref(),
        Conj::Yes,
        out.as_mut(),
        Par::Seq,
        MemStack::new(&mut mem),
    );
    out
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".to_string())
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
    println!(
        "one core, Par::Seq, inner block kernel::inner_block(b), CPU: {}",
        cpu_model()
    );
    println!("GFLOP/s by the useful-flop counts of qr::flops_* (LAPACK's); % = of GEMM, cpu time");
    println!(
        "{:<28} {:>5} {:>9} {:>8} {:>9} {:>8} {:>8}",
        "kernel", "b", "wall ms", "GFLOP/s", "cpu ms", "GFLOP/s", "of GEMM"
    );
    for &n in &sizes {
        let (a, b, c) = (random(n, n, 1), random(n, n, 2), random(n, n, 3));
        let mut out = c.clone();
        let gemm_flops = 2.0 * (n as f64).powi(3);
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
        let gemm = row("GEMM C -= A B (faer)", n, gemm_flops, secs, f64::NAN);
        let (wall, cpu) = timed(|| {
            black_box((Tile::zeros(n, n), Tile::zeros(n, n), Tile::zeros(n, n)));
        });
        println!(
            "{:<28} {n:>5} {:>9.2} {:>8} {:>9.2}",
            "  3 fresh b x b tiles",
            wall * 1e3,
            "",
            cpu * 1e3
        );
        let f = qr::flops_geqrt(n, n);
        let secs = timed(|| {
            black_box(qr::geqrt(black_box(a.as_ref())).unwrap());
        });
        row("GEQRT", n, f, secs, gemm);
        let secs = timed(|| {
            black_box(faer_qr(black_box(&a)));
        });
        row("  faer QR b x b", n, f, secs, gemm);

        let (v, t, r) = qr::geqrt(a.as_ref()).unwrap();
        let f = qr::flops_ormqr(n, n, n);
        for (label, transpose) in [("ORMQR Q^T C", true), ("ORMQR Q C", false)] {
            let secs = timed(|| {
                black_box(qr::ormqr(v.as_ref(), t.as_ref(), c.as_ref(), transpose).unwrap());
            });
            row(label, n, f, secs, gemm);
        }
        let (fqr, fcoeff) = faer_qr(&a);
        let secs = timed(|| {
            black_box(faer_qt(&fqr, &fcoeff, &c));
        });
        row("  faer Q^T C (its QR)", n, f, secs, gemm);

        let f = qr::flops_tsqrt(n, n);
        let secs = timed(|| {
            black_box(qr::tsqrt(r.as_ref(), b.as_ref()).unwrap());
        });
        row("TSQRT", n, f, secs, gemm);
        // Two R factors, as a TSQR tree combines them.
        let f = qr::flops_ttqrt(n, n);
        let secs = timed(|| {
            black_box(qr::ttqrt(r.as_ref(), r.as_ref()).unwrap());
        });
        row("TTQRT (R over R)", n, f, secs, gemm);
        let stacked = Tile::from_fn(2 * n, n, |i, j| {
            if i < n {
                if i <= j { r[(i, j)] } else { 0.0 }
            } else {
                b[(i - n, j)]
            }
        });
        let secs = timed(|| {
            black_box(faer_qr(black_box(&stacked)));
        });
        row(
            "  faer QR 2b x b, [R; A]",
            n,
            qr::flops_geqrt(2 * n, n),
            secs,
            gemm,
        );

        let (_, v2, t2) = qr::tsqrt(r.as_ref(), b.as_ref()).unwrap();
        let f = qr::flops_tsmqr(n, n, n);
        for (label, transpose) in [("TSMQR Q^T", true), ("TSMQR Q", false)] {
            let secs = timed(|| {
                black_box(
                    qr::tsmqr(a.as_ref(), c.as_ref(), v2.as_ref(), t2.as_ref(), transpose).unwrap(),
                );
            });
            row(label, n, f, secs, gemm);
        }
        println!();
    }
}
