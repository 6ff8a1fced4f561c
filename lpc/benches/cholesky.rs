//! Tiled Cholesky on the local backend against faer's whole-matrix Cholesky
//! on the same cores, measured in the same run (the machines are shared and
//! noisy: only same-run ratios mean anything); and the library's loop
//! program against its flat expansion, which must compute the same factor
//! bit for bit in the same time.
//!
//!     cargo bench -p lpc --bench cholesky                 # n = 8192 and 16384
//!     LP_BENCH=4096:512,8192:1024 cargo bench -p lpc --bench cholesky
//!
//! All sides factor the same `spd(42)` matrix. The tiled sides start from a
//! store that already holds A's tiles, so every side times the
//! factorisation alone; the baseline runs faer's `cholesky_in_place` with
//! `Par::rayon(workers)`. The three are interleaved, run after run; each
//! figure is the median of `LP_BENCH_REPS` runs (default 3).

use faer::Par;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt::factor::{self as llt, LltParams, LltRegularization};
use lp_program::Plan;
use lp_runtime::local::{LocalOptions, run_local};
use lp_runtime::store::{MemStore, Store};
use lp_std::{Init, MatrixHeader, Tile};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SEED: u64 = 42;

fn main() {
    let cases = std::env::var("LP_BENCH").unwrap_or_else(|_| "8192:1024,16384:1024".into());
    let reps: usize = std::env::var("LP_BENCH_REPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let workers: usize = std::env::var("LP_BENCH_WORKERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    println!(
        "tiled Cholesky (loop program, and its flat expansion) vs faer whole-matrix Cholesky, {workers} threads, median of {reps}"
    );
    println!(
        "{:>6} {:>5} {:>9} {:>9} {:>9} {:>9} {:>9} {:>11} {:>10}",
        "n",
        "tile",
        "faer s",
        "loop s",
        "flat s",
        "faer GF/s",
        "loop GF/s",
        "loop/faer",
        "loop/flat"
    );
    for case in cases.split(',') {
        let (n, tile) = case.split_once(':').expect("LP_BENCH entries are N:TILE");
        let (n, tile): (usize, usize) = (n.parse().expect("N"), tile.parse().expect("TILE"));
        let flops = (n as f64).powi(3) / 3.0;
        let (loop_plan, flat_plan) = plans(n, tile);
        let (mut faer, mut looped, mut flat) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..reps {
            faer.push(faer_whole(n, workers));
            let (t, loop_factor) = tiled_run(&loop_plan, workers);
            looped.push(t);
            let (t, flat_factor) = tiled_run(&flat_plan, workers);
            flat.push(t);
            assert!(
                same_tiles(&loop_factor, &flat_factor),
                "the loop and flat factors differ"
            );
        }
        let (faer, looped, flat) = (median(faer), median(looped), median(flat));
        let gf = |d: Duration| flops / d.as_secs_f64() / 1e9;
        println!(
            "{n:>6} {tile:>5} {:>9.3} {:>9.3} {:>9.3} {:>9.1} {:>9.1} {:>11.3} {:>10.3}",
            faer.as_secs_f64(),
            looped.as_secs_f64(),
            flat.as_secs_f64(),
            gf(faer),
            gf(looped),
            looped.as_secs_f64() / faer.as_secs_f64(),
            looped.as_secs_f64() / flat.as_secs_f64(),
        );
    }
    println!("(the loop and flat factors were equal bit for bit in every run)");
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn faer_whole(n: usize, workers: usize) -> Duration {
    let header = MatrixHeader::new([n, n], [n, n], true);
    let mut a: Tile = Init::Spd { seed: SEED }.tile(&header, 0, 0);
    let par = Par::rayon(workers);
    let params: faer::Spec<LltParams, f64> = Default::default();
    let mut scratch = MemBuffer::new(llt::cholesky_in_place_scratch::<f64>(n, par, params));
    let start = Instant::now();
    llt::cholesky_in_place(
        a.as_mut(),
        LltRegularization::default(),
        par,
        MemStack::new(&mut scratch),
        params,
    )
    .expect("spd(42) is positive definite");
    start.elapsed()
}

/// The library Cholesky for `n` in `tile`-tiles, as a loop program and as
/// its flat expansion.
fn plans(n: usize, tile: usize) -> (Plan, Plan) {
    let opts = lpc::CompileOptions {
        settings: vec![
            ("n".into(), n as i64),
            ("b".into(), tile as i64),
            ("seed".into(), SEED as i64),
        ],
        ..lpc::CompileOptions::default()
    };
    let src = lpc::library::source("cholesky").expect("in the library");
    let compile = |src: &str, opts: &lpc::CompileOptions| {
        lpc::compile_source(src, "cholesky.lp", opts)
            .expect("known parameters")
            .compiled
            .expect("the library compiles")
            .checked
            .plan
    };
    let loop_plan = compile(src, &opts);
    let mut flat = Vec::new();
    lpc::expand::write_flat(&loop_plan, "flat", &mut flat).expect("in-memory write");
    let flat_plan = compile(
        &String::from_utf8(flat).expect("UTF-8"),
        &lpc::CompileOptions::default(),
    );
    (loop_plan, flat_plan)
}

/// Runs `plan` from a store holding A's tiles; the time and the store.
fn tiled_run(plan: &Plan, workers: usize) -> (Duration, Arc<MemStore>) {
    let store = Arc::new(MemStore::new());
    let a = plan
        .program()
        .matrices
        .iter()
        .find(|m| m.name == "A")
        .expect("input A");
    let init = a.init.expect("A has an initialiser");
    let [grid, _] = a.header.grid();
    for i in 0..grid {
        for j in 0..=i {
            let t = Arc::new(init.tile(&a.header, i, j));
            store.put_tile("A", i, j, t).expect("memory store");
        }
    }
    let opts = LocalOptions {
        workers,
        ..LocalOptions::default()
    };
    let summary = run_local(plan, store.clone(), &opts, &|_| {}).expect("the run succeeds");
    (summary.wall, store)
}

/// Whether the two stores hold the same tiles of `L`, bit for bit.
fn same_tiles(a: &MemStore, b: &MemStore) -> bool {
    let mut tiles = a.list_tiles("L").expect("memory store");
    tiles.sort_unstable();
    tiles == {
        let mut t = b.list_tiles("L").expect("memory store");
        t.sort_unstable();
        t
    } && tiles.iter().all(|&(i, j)| {
        let (x, y) = (
            a.get_tile("L", i, j).unwrap().unwrap(),
            b.get_tile("L", i, j).unwrap().unwrap(),
        );
        (0..x.ncols()).all(|c| {
            x.col_as_slice(c)
                .iter()
                .zip(y.col_as_slice(c))
                .all(|(p, q)| p.to_bits() == q.to_bits())
        })
    })
}
