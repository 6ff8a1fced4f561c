//! Jobs that compute: kernel results land in the store, flops are counted
//! from the operand shapes, and a kernel failure stops the run with the job,
//! opcode and tiles named.

mod scheduler_support;

use lp_runtime::bundle::{Bundle, Instr, Role};
use lp_runtime::local::{LocalOptions, run_local};
use lp_std::{Kernel, Tile};
use scheduler_support::*;

/// Job `local_k` factors A[k, k] into L[k, k]; job `after_k` copies L[k, k]
/// to C[k, 0], so it is a child of `local_k`.
fn chol_bundle(tiles: usize, b: usize) -> Bundle {
    let mut jobs = Vec::new();
    for k in 0..tiles as u32 {
        jobs.push(job(
            &format!("local_{k}"),
            vec![
                Instr::Load {
                    dst: 0,
                    tile: key(0, k, k),
                    transpose: false,
                },
                Instr::Apply {
                    dst: 1,
                    kernel: Kernel::Chol,
                    args: vec![0],
                },
                Instr::Write {
                    tile: key(1, k, k),
                    src: 1,
                },
            ],
        ));
        jobs.push(job(
            &format!("after_{k}"),
            vec![
                Instr::Load {
                    dst: 0,
                    tile: key(1, k, k),
                    transpose: false,
                },
                Instr::Write {
                    tile: key(2, k, 0),
                    src: 0,
                },
            ],
        ));
    }
    Bundle {
        matrices: vec![
            matrix("A", tiles, tiles, b, Role::Input),
            matrix("L", tiles, tiles, b, Role::Output),
            matrix("C", tiles, 1, b, Role::Output),
        ],
        jobs: link(jobs),
    }
}

fn spd3() -> Tile {
    let a = [[4.0, 2.0, 0.0], [2.0, 5.0, 1.0], [0.0, 1.0, 3.0]];
    Tile::from_fn(3, 3, |i, j| a[i][j])
}

#[test]
fn cholesky_tiles_are_factored_and_flops_counted() {
    let bundle = chol_bundle(2, 3);
    let store = RecordingStore::new();
    store.seed("A", 0, 0, spd3());
    store.seed("A", 1, 1, spd3());
    let summary = run_local(&bundle, store.clone(), &LocalOptions::default(), &|_| {}).unwrap();
    let expected = [[2.0, 0.0, 0.0], [1.0, 2.0, 0.0], [0.0, 0.5, 2.75f64.sqrt()]];
    for k in 0..2 {
        let l = store.tile("L", k, k).unwrap();
        let c = store.tile("C", k, 0).unwrap();
        for i in 0..3 {
            for j in 0..3 {
                assert!(
                    (l[(i, j)] - expected[i][j]).abs() < 1e-14,
                    "L[{k}, {k}]({i}, {j}) = {}",
                    l[(i, j)]
                );
                assert_eq!(c[(i, j)], l[(i, j)]);
            }
        }
    }
    // Two 3x3 Cholesky factorisations at n^3 / 3 flops each.
    assert_eq!(summary.flops, 18.0);
    assert_eq!(summary.critical_path_jobs, 2);
}

#[test]
fn non_spd_tile_stops_the_run_naming_job_opcode_and_tiles() {
    let bundle = chol_bundle(1, 2);
    let store = RecordingStore::new();
    // [[1, 2], [2, 1]]: the second pivot is 1 - 2 * 2 = -3.
    store.seed(
        "A",
        0,
        0,
        Tile::from_fn(2, 2, |i, j| if i == j { 1.0 } else { 2.0 }),
    );
    let err = run_local(&bundle, store.clone(), &LocalOptions::default(), &|_| {}).unwrap_err();
    assert_eq!(
        err.to_string(),
        "job \"local_0\": CHOL on A[0, 0] (result for L[0, 0]): matrix is not positive definite (pivot 1 is -3e0)"
    );
    assert_eq!(store.tiles_of("L"), 0);
    assert_eq!(store.tiles_of("C"), 0, "the failing job's child never ran");
}
