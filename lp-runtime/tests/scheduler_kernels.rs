//! Jobs that compute: kernel results land in the store, flops are counted
//! from the operand shapes (the useful ones), kernels that compute in a
//! tile they were handed give the bits of those that copy, and a kernel
//! failure stops the run with the job, opcode and tiles named.

mod scheduler_support;

use lp_program::{Program, Role};
use lp_runtime::local::{LocalOptions, run_local};
use lp_runtime::protocol::RunError;
use lp_runtime::store::{DirStore, Store};
use lp_std::{Init, Kernel, Tile};
use scheduler_support::*;
use std::sync::Arc;

/// Job `local_k` factors A[k, k] into L[k, k]; job `after_k` copies L[k, k]
/// to C[k, 0], so it is a child of `local_k`.
fn chol_program(tiles: usize, b: usize) -> Program {
    let mut jobs = Vec::new();
    for k in 0..tiles {
        jobs.push(job(
            &format!("local_{k}"),
            vec![
                load(0, tile(0, k, k)),
                apply(1, Kernel::Chol, vec![0]),
                write(tile(1, k, k), 1),
            ],
        ));
        jobs.push(job(
            &format!("after_{k}"),
            vec![load(0, tile(1, k, k)), write(tile(2, k, 0), 0)],
        ));
    }
    flat(
        vec![
            matrix("A", tiles, tiles, b, Role::Input),
            matrix("L", tiles, tiles, b, Role::Output),
            matrix("C", tiles, 1, b, Role::Output),
        ],
        jobs,
    )
}

fn spd3() -> Tile {
    let a = [[4.0, 2.0, 0.0], [2.0, 5.0, 1.0], [0.0, 1.0, 3.0]];
    Tile::from_fn(3, 3, |i, j| a[i][j])
}

#[test]
fn cholesky_tiles_are_factored_and_flops_counted() {
    let plan = plan(chol_program(2, 3));
    let store = RecordingStore::new();
    store.seed("A", 0, 0, spd3());
    store.seed("A", 1, 1, spd3());
    let summary = run_local(&plan, store.clone(), &LocalOptions::default(), &|_| {}).unwrap();
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
    assert_eq!(summary.critical_path_jobs, Some(2));
}

#[test]
fn non_spd_tile_stops_the_run_naming_job_opcode_and_tiles() {
    let plan = plan(chol_program(1, 2));
    let store = RecordingStore::new();
    // [[1, 2], [2, 1]]: the second pivot is 1 - 2 * 2 = -3.
    store.seed(
        "A",
        0,
        0,
        Tile::from_fn(2, 2, |i, j| if i == j { 1.0 } else { 2.0 }),
    );
    let err = run_local(&plan, store.clone(), &LocalOptions::default(), &|_| {}).unwrap_err();
    // local_0 is on line 1, its CHOL on line 3.
    assert_eq!(
        err.to_string(),
        "job \"local_0\" (test.lp:3): CHOL on A[0, 0] (result for L[0, 0]): matrix is not positive definite (pivot 1 is -3e0), entry (1, 1) of A"
    );
    assert_eq!(store.tiles_of("L"), 0);
    assert_eq!(store.tiles_of("C"), 0, "the failing job's child never ran");
}

#[test]
fn a_kernel_failure_in_a_loop_program_names_the_iteration_and_the_version() {
    // A[1, 1] = 0 makes the trailing tile S[1, 1, 1] = -L[1, 0] L[1, 0]^T,
    // which is not positive definite: chol[1] fails on it.
    let plan = plan(cholesky_loops(2, 2, Body::Kernels));
    let store = RecordingStore::new();
    store.seed("A", 1, 1, Tile::zeros(2, 2));
    let err = run_local(
        &plan,
        store.clone(),
        &LocalOptions {
            workers: 2,
            ..LocalOptions::default()
        },
        &|_| {},
    )
    .unwrap_err();
    let prefix = "job \"chol[1]\" (test.lp:4): CHOL on S[1, 1, 1] (result for L[1, 1]): matrix is not positive definite (pivot 0 is ";
    assert!(err.to_string().starts_with(prefix), "{err}");
    // Pivot 0 of the second 2 x 2 diagonal tile is row 2 of the matrix.
    assert!(
        err.to_string()
            .ends_with("), entry (2, 2) of S, whose version 0 is A"),
        "{err}"
    );
    let RunError::Job(e) = err else {
        unreachable!()
    };
    assert_eq!((e.job.as_str(), e.op.as_str()), ("chol[1]", "CHOL"));
    assert_eq!(
        (e.tile.as_deref(), e.output.as_deref()),
        (Some("S[1, 1, 1]"), Some("L[1, 1]"))
    );
    assert_eq!(store.puts("S.1", 1, 1), 1, "the trailing update ran");
    assert!(store.tile("L", 1, 1).is_none());
}

#[test]
fn a_tiled_cholesky_counts_the_flops_of_lapack() {
    // The diagonal SYRKs (L[i, k] as both A and B) compute half a product:
    // the kernels then add up to n^3 / 3, here n = 9 (the metrics count
    // whole flops per job, and 3^3 / 3 is whole), in the loop form and in
    // the flat one (where the two loads are two registers).
    for program in [
        cholesky_loops(3, 3, Body::Kernels),
        cholesky_flat(3, 3, Body::Kernels),
    ] {
        let plan = plan(program);
        let store = RecordingStore::new();
        let summary = run_local(&plan, store, &LocalOptions::default(), &|_| {}).unwrap();
        assert_eq!(summary.flops, 243.0);
    }
}

#[test]
fn kernels_that_compute_in_the_tiles_they_read_write_the_same_factor() {
    // A directory store hands every load a tile of its own, which CHOL,
    // TRSM and SYRK then compute in; the recording store keeps the tiles it
    // hands out, so those kernels copy first. The factors must agree to the
    // bit, ragged edge tiles included (n = 13, tiles of 4).
    let mut program = cholesky_loops(4, 4, Body::Kernels);
    for m in &mut program.matrices {
        m.header = lp_std::MatrixHeader::new([13, 13], [4, 4], m.header.symmetric);
    }
    let plan = plan(program);
    let copied = RecordingStore::new();
    run_local(&plan, copied.clone(), &LocalOptions::default(), &|_| {}).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let in_place = Arc::new(DirStore::open(tmp.path()).unwrap());
    run_local(&plan, in_place.clone(), &LocalOptions::default(), &|_| {}).unwrap();
    for i in 0..4 {
        for j in 0..=i {
            let want = copied.tile("L", i, j).unwrap();
            let got = in_place.get_tile("L", i, j).unwrap().unwrap();
            assert_eq!(got, want, "L[{i}, {j}]");
        }
    }
}

#[test]
fn a_tile_loaded_again_after_a_kernel_computed_in_it_is_unchanged() {
    // X is generated afresh at each load, so the TRSM reading it last could
    // compute in it; but the job loads X again afterwards, and must see the
    // tile as it was (loaded once, so the TRSM copies it).
    let mut x = matrix("X", 1, 1, 5, Role::Input);
    x.init = Some(Init::Random { seed: 3 });
    let mut t = matrix("T", 1, 1, 5, Role::Input);
    t.init = Some(Init::Spd { seed: 4 });
    let trsm = Kernel::from_name("TRSM_LLN").unwrap();
    let program = flat(
        vec![
            x.clone(),
            t.clone(),
            matrix("Y", 1, 1, 5, Role::Output),
            matrix("Z", 1, 1, 5, Role::Output),
        ],
        vec![job(
            "solve",
            vec![
                load(0, tile(0, 0, 0)),
                load(1, tile(1, 0, 0)),
                apply(2, trsm, vec![0, 1]),
                load(3, tile(0, 0, 0)),
                write(tile(2, 0, 0), 2),
                write(tile(3, 0, 0), 3),
            ],
        )],
    );
    let store = RecordingStore::new();
    let summary = run_local(
        &plan(program),
        store.clone(),
        &LocalOptions::default(),
        &|_| {},
    )
    .unwrap();
    let x = x.init.unwrap().tile(&x.header, 0, 0);
    let t = t.init.unwrap().tile(&t.header, 0, 0);
    assert_eq!(*store.tile("Z", 0, 0).unwrap(), x);
    assert_eq!(
        *store.tile("Y", 0, 0).unwrap(),
        trsm.apply(&[&x, &t]).unwrap().remove(0)
    );
    assert_eq!(summary.bytes_loaded, 2 * 5 * 5 * 8, "X and T, each once");
}
