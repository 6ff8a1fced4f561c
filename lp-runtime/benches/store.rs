//! Store throughput for the tile size that matters (1024 x 1024 f64, 8 MiB):
//! the directory store's write path with and without file recycling, its
//! read path from the page cache, and the in-memory store.
//!
//! The write workload is the one a right-looking Cholesky produces: a stream
//! of new temporary tiles, each deleted a few tiles later (after its last
//! reader). Without recycling each put creates a new file; with it, a put
//! overwrites a pooled file in place and renames it.
//!
//! Run: `cargo bench -p lp-runtime --bench store` (optionally
//! `LP_BENCH_DIR=<dir>` to choose the filesystem, `LP_BENCH_TILES=<n>`).
//! Prints the median of 5 rounds per case, in ms per tile and GB/s.

use lp_runtime::store::{DirStore, MemStore, Store};
use lp_std::Tile;
use std::sync::Arc;
use std::time::Instant;

const N: usize = 1024;
const ROUNDS: usize = 5;
/// Tiles live this many puts before they are deleted.
const WINDOW: usize = 8;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn report(name: &str, seconds_per_tile: f64) {
    let bytes = (N * N * 8) as f64;
    println!(
        "{name:<44} {:>8.3} ms/tile {:>7.2} GB/s",
        seconds_per_tile * 1e3,
        bytes / seconds_per_tile / 1e9
    );
}

/// Puts `tiles` tiles, deleting each `WINDOW` puts later; seconds per put
/// (delete time included: it is part of the steady state).
fn temp_stream(store: &dyn Store, tiles: usize, tile: &Arc<Tile>, round: usize) -> f64 {
    let name = format!("T{round}");
    let start = Instant::now();
    for k in 0..tiles {
        store.put_tile(&name, k, 0, tile.clone()).unwrap();
        if k >= WINDOW {
            store.delete_tile(&name, k - WINDOW, 0).unwrap();
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    for k in tiles.saturating_sub(WINDOW)..tiles {
        store.delete_tile(&name, k, 0).unwrap();
    }
    elapsed / tiles as f64
}

fn main() {
    let tiles: usize = std::env::var("LP_BENCH_TILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(128);
    let base = std::env::var_os("LP_BENCH_DIR")
        .map(Into::into)
        .unwrap_or_else(std::env::temp_dir);
    let tile = Arc::new(Tile::from_fn(N, N, |r, c| (r * N + c) as f64));
    println!("tile {N} x {N} f64 (8 MiB), {tiles} tiles per round, median of {ROUNDS} rounds");

    let dir = tempfile::tempdir_in(&base).unwrap();
    // Recycling off: every put creates a new file, every delete unlinks.
    let fresh = DirStore::open(dir.path().join("fresh"))
        .unwrap()
        .with_pool_limit(0);
    let t = median(
        (0..ROUNDS)
            .map(|r| temp_stream(&fresh, tiles, &tile, r))
            .collect(),
    );
    report("dir put+delete, new file per tile", t);

    let recycling = DirStore::open(dir.path().join("recycling")).unwrap();
    // Warm the pool once, as a long run does after its first few tiles.
    temp_stream(&recycling, WINDOW + 1, &tile, 99);
    let t = median(
        (0..ROUNDS)
            .map(|r| temp_stream(&recycling, tiles, &tile, r))
            .collect(),
    );
    report("dir put+delete, recycled files (default)", t);

    // Reads from the page cache.
    for k in 0..WINDOW {
        recycling.put_tile("R", k, 0, tile.clone()).unwrap();
    }
    let t = median(
        (0..ROUNDS)
            .map(|_| {
                let start = Instant::now();
                for k in 0..tiles {
                    let got = recycling.get_tile("R", k % WINDOW, 0).unwrap().unwrap();
                    std::hint::black_box(got);
                }
                start.elapsed().as_secs_f64() / tiles as f64
            })
            .collect(),
    );
    report("dir get (page cache)", t);

    // The get's two parts: the raw file read and the .npy decode.
    let path = recycling.tile_path("R", 0, 0).unwrap();
    let mut buf = Vec::new();
    let t = median(
        (0..ROUNDS)
            .map(|_| {
                let start = Instant::now();
                for _ in 0..tiles {
                    use std::io::Read;
                    buf.clear();
                    std::fs::File::open(&path)
                        .unwrap()
                        .read_to_end(&mut buf)
                        .unwrap();
                }
                start.elapsed().as_secs_f64() / tiles as f64
            })
            .collect(),
    );
    report("  of which: open + read_to_end", t);
    let t = median(
        (0..ROUNDS)
            .map(|_| {
                let start = Instant::now();
                for _ in 0..tiles {
                    std::hint::black_box(lp_std::npy::decode_tile(&buf).unwrap());
                }
                start.elapsed().as_secs_f64() / tiles as f64
            })
            .collect(),
    );
    report("  of which: npy::decode_tile", t);

    let mem = MemStore::new();
    let t = median(
        (0..ROUNDS)
            .map(|r| temp_stream(&mem, tiles, &tile, r))
            .collect(),
    );
    report("mem put+delete", t);
    mem.put_tile("R", 0, 0, tile.clone()).unwrap();
    let start = Instant::now();
    let gets = 1_000_000;
    for _ in 0..gets {
        std::hint::black_box(mem.get_tile("R", 0, 0).unwrap());
    }
    let per_get = start.elapsed().as_secs_f64() / gets as f64;
    println!(
        "{:<44} {:>8.3} us/get",
        "mem get (Arc clone)",
        per_get * 1e6
    );
}
