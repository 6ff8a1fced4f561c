//! One-core GFLOP/s of the incremental-pivoting LU kernels (`kernel::lu`)
//! on square tiles, next to faer's partial-pivoting LU of a tile and faer's
//! product of the same size: the two ceilings they are made of.
//!
//! Run: `cargo bench -p lp-std --bench lu` (optionally with tile sizes as
//! arguments, e.g. `-- 256 512`). Each figure is the median of repeated runs
//! after a warm-up; GFLOP/s are by the useful counts of `lu::flops_*` (the
//! LAPACK count for GETRF), so blocking overhead shows as a lower rate.
//!
//! The kernels' times include first-touch page faults on their fresh result
//! tiles: glibc hands large freed blocks back to the kernel, so every call
//! faults its results in again, which costs TSTRF (three `n x n` results)
//! the most. `-- keep-memory` tells glibc to keep freed memory instead, to
//! show the arithmetic alone.

mod timing;

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::lu::partial_pivoting::factor as plu;
use faer::linalg::matmul::matmul;
use faer::{Accum, Par};
use lp_std::kernel::lu;
use lp_std::{Init, MatrixHeader, Tile};
use std::hint::black_box;
use timing::timed;

fn row(label: &str, n: usize, flops: f64, (wall, cpu): (f64, f64)) {
    println!(
        "{label:<30} {n:>6} {:>10.3} {:>9.1} {:>10.3} {:>9.1}",
        wall * 1e3,
        flops / wall / 1e9,
        cpu * 1e3,
        flops / cpu / 1e9
    );
}

fn random(n: usize, seed: u64) -> Tile {
    Init::Random { seed }.tile(&MatrixHeader::new([n, n], [n, n], false), 0, 0)
}

/// Stops glibc from returning freed blocks to the kernel, so that fresh
/// tiles reuse pages that are already mapped.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_memory() -> bool {
    // SAFETY: mallopt only tunes the allocator; no allocation is live across
    // a change that could invalidate it.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30) == 1
            && libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30) == 1
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_memory() -> bool {
    false
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let kept = args.iter().any(|a| a == "keep-memory") && keep_memory();
    let sizes: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() {
        vec![256, 512, 1024]
    } else {
        sizes
    };
    println!("one core, Par::Seq; inner block kernel::inner_block(b); GFLOP/s by lu::flops_*");
    if kept {
        println!("(keep-memory: freed tiles stay mapped, so no page faults on results)");
    }
    println!("(cpu = on-CPU time of the thread, robust to other load on the machine)");
    println!(
        "{:<30} {:>6} {:>10} {:>9} {:>10} {:>9}",
        "kernel", "b", "wall ms", "GFLOP/s", "cpu ms", "GFLOP/s"
    );
    for &n in &sizes {
        let a = random(n, 1);
        let below = random(n, 2);
        let (b1, b2) = (random(n, 3), random(n, 4));
        let (lu, p) = lu::getrf(a.as_ref()).unwrap();
        let (_, l, lx, tp) = lu::tstrf(lu.as_ref(), below.as_ref()).unwrap();

        let secs = timed(|| {
            black_box(lu::getrf(black_box(a.as_ref())).unwrap());
        });
        row("GETRF (P A = L U)", n, lu::flops_getrf(n, n), secs);
        let secs = timed(|| {
            black_box(lu::gessm(lu.as_ref(), p.as_ref(), black_box(b1.as_ref())).unwrap());
        });
        row("GESSM (L^-1 P B)", n, lu::flops_gessm(n, n, n), secs);
        let secs = timed(|| {
            black_box(lu::tstrf(lu.as_ref(), black_box(below.as_ref())).unwrap());
        });
        row("TSTRF ([U; A] = L U2)", n, lu::flops_tstrf(n, n), secs);
        let secs = timed(|| {
            let args = (b1.as_ref(), b2.as_ref(), l.as_ref(), lx.as_ref());
            black_box(lu::ssssm(args.0, args.1, args.2, args.3, tp.as_ref()).unwrap());
        });
        row("SSSSM (T [A1; A2])", n, lu::flops_ssssm(n, n, n), secs);

        // faer's raw in-place calls on preallocated tiles: the ceilings.
        let mut out = Tile::zeros(n, n);
        let (mut perm, mut perm_inv) = (vec![0usize; n], vec![0usize; n]);
        let params = Default::default();
        let mut mem = MemBuffer::new(plu::lu_in_place_scratch::<usize, f64>(
            n,
            n,
            Par::Seq,
            params,
        ));
        let secs = timed(|| {
            out.copy_from(&a);
            plu::lu_in_place(
                out.as_mut(),
                &mut perm,
                &mut perm_inv,
                Par::Seq,
                MemStack::new(&mut mem),
                params,
            );
        });
        row(
            "  raw faer LU (partial piv)",
            n,
            lu::flops_getrf(n, n),
            secs,
        );
        let secs = timed(|| {
            matmul(
                out.as_mut(),
                Accum::Add,
                b1.as_ref(),
                b2.as_ref(),
                -1.0,
                Par::Seq,
            );
        });
        row("  raw faer C -= A B", n, 2.0 * (n as f64).powi(3), secs);
    }
}
