//! Tiled Cholesky on the local backend against faer's whole-matrix Cholesky
//! on the same cores, measured in the same run (the machines are shared and
//! noisy: only same-run ratios mean anything).
//!
//!     cargo bench -p lpc --bench cholesky                 # n = 8192 and 16384
//!     LP_BENCH=4096:512,8192:1024 cargo bench -p lpc --bench cholesky
//!
//! Both sides factor the same `spd(42)` matrix. The tiled side starts from a
//! store that already holds A's tiles, so both time the factorisation alone;
//! the baseline runs faer's `cholesky_in_place` with `Par::rayon(workers)`.
//! Each figure is the median of `LP_BENCH_REPS` runs (default 3).

use faer::Par;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt::factor::{self as llt, LltParams, LltRegularization};
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
    println!("tiled Cholesky vs faer whole-matrix Cholesky, {workers} threads, median of {reps}");
    println!(
        "{:>6} {:>5} {:>12} {:>12} {:>9} {:>9} {:>6}",
        "n", "tile", "faer s", "tiled s", "faer GF/s", "tiled GF/s", "ratio"
    );
    for case in cases.split(',') {
        let (n, tile) = case.split_once(':').expect("LP_BENCH entries are N:TILE");
        let (n, tile): (usize, usize) = (n.parse().expect("N"), tile.parse().expect("TILE"));
        let flops = (n as f64).powi(3) / 3.0;
        let faer = median((0..reps).map(|_| faer_whole(n, workers)).collect());
        let tiled = median((0..reps).map(|_| tiled_run(n, tile, workers)).collect());
        let gf = |d: Duration| flops / d.as_secs_f64() / 1e9;
        println!(
            "{n:>6} {tile:>5} {:>12.3} {:>12.3} {:>9.1} {:>9.1} {:>6.2}",
            faer.as_secs_f64(),
            tiled.as_secs_f64(),
            gf(faer),
            gf(tiled),
            gf(tiled) / gf(faer)
        );
    }
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

fn tiled_run(n: usize, tile: usize, workers: usize) -> Duration {
    let mut text = Vec::new();
    lp_std::generate::cholesky(&mut text, n, tile, SEED).expect("in-memory write");
    let text = String::from_utf8(text).expect("generated text is UTF-8");
    let outcome = lpc::frontend::compile_source(&text);
    let bundle = outcome.compiled.expect("generated programs compile").bundle;
    let store = Arc::new(MemStore::new());
    let a = bundle
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
    let summary = run_local(&bundle, store, &opts, &|_| {}).expect("the run succeeds");
    summary.wall
}
