//! One behavioural suite run against every store backend: what the scheduler
//! and the CLI rely on, whatever the backend.

use lp_runtime::store::{DirStore, MemStore, Store, StoreError};
use lp_std::{MatrixHeader, Tile};
use std::collections::BTreeSet;
use std::sync::Arc;

/// A tile whose every element encodes its position and a salt, so a tile
/// read from the wrong key or with stale bytes cannot compare equal.
fn tile(rows: usize, cols: usize, salt: f64) -> Arc<Tile> {
    Arc::new(Tile::from_fn(rows, cols, |r, c| {
        salt * 1000.0 + r as f64 + c as f64 / 1024.0
    }))
}

fn put_get_roundtrip(store: &dyn Store) {
    assert!(store.get_tile("A", 0, 0).unwrap().is_none());
    let t = tile(3, 5, 1.0);
    store.put_tile("A", 0, 1, t.clone()).unwrap();
    let got = store
        .get_tile("A", 0, 1)
        .unwrap()
        .expect("tile just written");
    assert_eq!(*got, *t);
    assert!(store.get_tile("A", 1, 0).unwrap().is_none());
    assert!(store.get_tile("B", 0, 1).unwrap().is_none());
    // Overwriting replaces the whole tile, shape included.
    let t2 = tile(2, 2, 2.0);
    store.put_tile("A", 0, 1, t2.clone()).unwrap();
    assert_eq!(*store.get_tile("A", 0, 1).unwrap().unwrap(), *t2);
    // An empty (0-column) tile is still a tile.
    store.put_tile("E", 0, 0, tile(4, 0, 0.0)).unwrap();
    let e = store.get_tile("E", 0, 0).unwrap().unwrap();
    assert_eq!((e.nrows(), e.ncols()), (4, 0));
}

fn delete_and_list(store: &dyn Store) {
    for (i, j) in [(0, 0), (1, 0), (1, 1), (12, 7)] {
        store
            .put_tile("M", i, j, tile(2, 3, (i * 10 + j) as f64))
            .unwrap();
    }
    store.put_tile("other", 5, 5, tile(1, 1, 9.0)).unwrap();
    let listed: BTreeSet<_> = store.list_tiles("M").unwrap().into_iter().collect();
    assert_eq!(listed, BTreeSet::from([(0, 0), (1, 0), (1, 1), (12, 7)]));
    store.delete_tile("M", 1, 0).unwrap();
    // Deleting an absent tile, or a tile of an unknown matrix, is not an error.
    store.delete_tile("M", 1, 0).unwrap();
    store.delete_tile("nobody", 0, 0).unwrap();
    assert!(store.get_tile("M", 1, 0).unwrap().is_none());
    let listed: BTreeSet<_> = store.list_tiles("M").unwrap().into_iter().collect();
    assert_eq!(listed, BTreeSet::from([(0, 0), (1, 1), (12, 7)]));
    assert_eq!(
        *store.get_tile("M", 12, 7).unwrap().unwrap(),
        *tile(2, 3, 127.0)
    );
    assert_eq!(
        store.list_tiles("unknown").unwrap(),
        Vec::<(usize, usize)>::new()
    );
}

fn headers(store: &dyn Store) {
    assert_eq!(store.get_header("H").unwrap(), None);
    let h = MatrixHeader::new([10, 7], [4, 3], false);
    store.put_header("H", &h).unwrap();
    assert_eq!(store.get_header("H").unwrap(), Some(h));
    let h2 = MatrixHeader::new([9, 9], [4, 4], true);
    store.put_header("H", &h2).unwrap();
    assert_eq!(store.get_header("H").unwrap(), Some(h2));
    assert!(store.list_tiles("H").unwrap().is_empty());
}

/// Of several writers creating one matrix at once, exactly one creates it,
/// and its header is the one kept; a later creation changes nothing.
fn create_header_once(stores: &[&dyn Store]) {
    let header = |t: usize| MatrixHeader::new([64, 64], [t + 1, t + 1], false);
    let created: Vec<bool> = std::thread::scope(|s| {
        let writers: Vec<_> = (0..8)
            .map(|t| {
                let store = stores[t % stores.len()];
                s.spawn(move || store.create_header("N", &header(t)).unwrap())
            })
            .collect();
        writers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let winners: Vec<usize> = (0..8).filter(|&t| created[t]).collect();
    assert_eq!(winners.len(), 1, "{created:?}");
    let kept = Some(header(winners[0]));
    for store in stores {
        assert_eq!(store.get_header("N").unwrap(), kept);
        assert!(!store.create_header("N", &header(9)).unwrap());
        assert_eq!(store.get_header("N").unwrap(), kept);
    }
    let bad = stores[0].create_header("a b", &header(0)).unwrap_err();
    assert!(matches!(bad, StoreError::InvalidName { .. }), "{bad:?}");
}

fn rejects_bad_names(store: &dyn Store) {
    for bad in [
        "../x", "a/../b", "~pool/x", "~runs", "", "..", ".", "a\\b", "/abs", "x y", "é",
    ] {
        let check = |r: Result<(), StoreError>, op: &str| match r {
            Err(StoreError::InvalidName { name, .. }) => assert_eq!(name, bad, "{op}"),
            other => panic!("{op} on {bad:?} should be InvalidName, got {other:?}"),
        };
        check(store.put_tile(bad, 0, 0, tile(1, 1, 0.0)), "put_tile");
        check(store.get_tile(bad, 0, 0).map(drop), "get_tile");
        check(store.delete_tile(bad, 0, 0), "delete_tile");
        check(store.list_tiles(bad).map(drop), "list_tiles");
        check(store.get_header(bad).map(drop), "get_header");
        check(
            store.put_header(bad, &MatrixHeader::new([1, 1], [1, 1], false)),
            "put_header",
        );
    }
}

fn concurrent_puts(store: &dyn Store) {
    const THREADS: usize = 4;
    const PER_THREAD: usize = 50;
    std::thread::scope(|s| {
        for t in 0..THREADS {
            s.spawn(move || {
                for k in 0..PER_THREAD {
                    // Same size everywhere so a recycling store reuses files across threads.
                    let salt = (t * PER_THREAD + k) as f64;
                    store.put_tile("C", t, k, tile(8, 8, salt)).unwrap();
                    if k % 3 == 0 {
                        store.delete_tile("C", t, k).unwrap();
                    }
                }
            });
        }
    });
    let mut expected = BTreeSet::new();
    for t in 0..THREADS {
        for k in 0..PER_THREAD {
            let got = store.get_tile("C", t, k).unwrap();
            if k % 3 == 0 {
                assert!(got.is_none(), "tile ({t}, {k}) was deleted");
            } else {
                expected.insert((t, k));
                assert_eq!(
                    *got.unwrap(),
                    *tile(8, 8, (t * PER_THREAD + k) as f64),
                    "tile ({t}, {k})"
                );
            }
        }
    }
    let listed: BTreeSet<_> = store.list_tiles("C").unwrap().into_iter().collect();
    assert_eq!(listed, expected);
}

/// Deleted tiles' storage may be recycled; the new tile must read back with
/// its own content, never the old bytes.
fn recycled_storage_has_new_content(store: &dyn Store) {
    for round in 0..5 {
        for k in 0..4 {
            store
                .put_tile("R", round, k, tile(16, 16, (round * 4 + k) as f64))
                .unwrap();
        }
        if round > 0 {
            for k in 0..4 {
                store.delete_tile("R", round - 1, k).unwrap();
            }
        }
    }
    for k in 0..4 {
        assert_eq!(
            *store.get_tile("R", 4, k).unwrap().unwrap(),
            *tile(16, 16, (16 + k) as f64)
        );
        assert!(store.get_tile("R", 3, k).unwrap().is_none());
    }
}

fn usage_counts_tile_bytes(store: &dyn Store) {
    let usage = |s: &dyn Store| s.usage().expect("this store counts bytes");
    let base = usage(store).bytes_held;
    store.put_tile("U", 0, 0, tile(10, 10, 0.0)).unwrap();
    let first = usage(store).bytes_held - base;
    store.put_tile("U", 1, 0, tile(10, 20, 0.0)).unwrap();
    let both = usage(store).bytes_held - base;
    // In-memory stores count element bytes, directory stores file bytes
    // (a .npy header of at most 128 bytes for these shapes on top).
    assert!((800..=800 + 128).contains(&first), "{first}");
    assert!((2400..=2400 + 256).contains(&both), "{both}");
    store.delete_tile("U", 0, 0).unwrap();
    assert_eq!(usage(store).bytes_held - base, both - first);
    assert!(usage(store).peak_bytes_held - base >= both);
    store.delete_tile("U", 1, 0).unwrap();
    assert_eq!(usage(store).bytes_held, base);
}

/// `take_tile` reads the tile; a store that hands tiles over forgets it
/// (its bytes with it), so the reader's copy is the only one; the others
/// keep it.
fn take_tile(store: &dyn Store) {
    let t = tile(10, 10, 3.0);
    store.put_tile("T", 2, 1, t.clone()).unwrap();
    let before = store.usage().map(|u| u.bytes_held);
    let taken = store.take_tile("T", 2, 1).unwrap().expect("a stored tile");
    assert_eq!(*taken, *t);
    let after = store.usage().map(|u| u.bytes_held);
    if store.hands_over_tiles() {
        assert!(store.get_tile("T", 2, 1).unwrap().is_none());
        assert!(store.take_tile("T", 2, 1).unwrap().is_none());
        assert_eq!(before.zip(after).map(|(b, a)| b - a), Some(800));
        // Gone because taken, which a tile never written is not; neither
        // is listed.
        assert!(store.taken("T", 2, 1).unwrap());
        assert!(store.list_tiles("T").unwrap().is_empty());
        // Its last reader's delete finds nothing, which is no error, and
        // ends the mark; so does a new write.
        store.delete_tile("T", 2, 1).unwrap();
        assert!(!store.taken("T", 2, 1).unwrap());
        store.put_tile("T", 2, 1, t.clone()).unwrap();
        store.take_tile("T", 2, 1).unwrap().unwrap();
        store.put_tile("T", 2, 1, t.clone()).unwrap();
        assert!(!store.taken("T", 2, 1).unwrap());
        assert_eq!(*store.get_tile("T", 2, 1).unwrap().unwrap(), *t);
    } else {
        assert_eq!(*store.get_tile("T", 2, 1).unwrap().unwrap(), *t);
        assert_eq!(before, after);
    }
    assert!(!store.taken("T", 0, 0).unwrap());
    assert!(store.take_tile("T", 0, 0).unwrap().is_none());
    assert!(store.take_tile("nobody", 0, 0).unwrap().is_none());
}

macro_rules! suite {
    ($module:ident, $make:expr) => {
        mod $module {
            use super::*;
            #[test]
            fn put_get_roundtrip() {
                let (store, _guard) = $make;
                super::put_get_roundtrip(&*store);
            }
            #[test]
            fn delete_and_list() {
                let (store, _guard) = $make;
                super::delete_and_list(&*store);
            }
            #[test]
            fn headers() {
                let (store, _guard) = $make;
                super::headers(&*store);
            }
            #[test]
            fn create_header_once() {
                let (store, _guard) = $make;
                super::create_header_once(&[&*store]);
            }
            #[test]
            fn rejects_bad_names() {
                let (store, _guard) = $make;
                super::rejects_bad_names(&*store);
            }
            #[test]
            fn concurrent_puts() {
                let (store, _guard) = $make;
                super::concurrent_puts(&*store);
            }
            #[test]
            fn recycled_storage_has_new_content() {
                let (store, _guard) = $make;
                super::recycled_storage_has_new_content(&*store);
            }
            #[test]
            fn take_tile() {
                let (store, _guard) = $make;
                super::take_tile(&*store);
            }
            #[test]
            fn usage_counts_tile_bytes() {
                let (store, _guard) = $make;
                super::usage_counts_tile_bytes(&*store);
            }
        }
    };
}

suite!(mem, (Box::new(MemStore::new()) as Box<dyn Store>, ()));

fn dir_store() -> (Box<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (Box::new(DirStore::open(dir.path()).unwrap()), dir)
}

/// The same directory store with recycling off: every put is a new file.
fn dir_store_no_pool() -> (Box<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (
        Box::new(DirStore::open(dir.path()).unwrap().with_pool_limit(0)),
        dir,
    )
}

suite!(dir, dir_store());
suite!(dir_no_pool, dir_store_no_pool());

/// Processes creating one matrix in one directory: each has its own
/// `DirStore` (and its own cache of the folders it made).
#[test]
fn dir_stores_on_one_directory_create_a_header_once() {
    let dir = tempfile::tempdir().unwrap();
    let stores: Vec<DirStore> = (0..4)
        .map(|_| DirStore::open(dir.path()).unwrap())
        .collect();
    let stores: Vec<&dyn Store> = stores.iter().map(|s| s as &dyn Store).collect();
    create_header_once(&stores);
    let files = |dir: &std::path::Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    };
    assert_eq!(files(&dir.path().join("N")), ["header.json"]);
    // The losers' temporary files are gone from their pools.
    for pool in std::fs::read_dir(dir.path().join("~pool")).unwrap() {
        assert_eq!(files(&pool.unwrap().path()), ["owner.json"]);
    }
}

#[test]
fn mem_store_shares_tiles_without_copying() {
    let store = MemStore::new();
    let t = tile(4, 4, 1.0);
    store.put_tile("A", 0, 0, t.clone()).unwrap();
    let got = store.get_tile("A", 0, 0).unwrap().unwrap();
    assert!(Arc::ptr_eq(&t, &got));
}

/// The memory store hands over the very tile it held: its reader is then
/// the only holder and updates it in place.
#[test]
fn mem_store_hands_its_tile_over() {
    let store = MemStore::new();
    assert!(store.hands_over_tiles());
    store.put_tile("A", 0, 0, tile(4, 4, 1.0)).unwrap();
    let taken = store.take_tile("A", 0, 0).unwrap().unwrap();
    assert!(Arc::into_inner(taken).is_some(), "another holder is left");
    assert_eq!(store.bytes_held(), 0);
}

#[test]
fn mem_store_peak_survives_deletes() {
    let store = MemStore::new();
    store.put_tile("A", 0, 0, tile(100, 100, 0.0)).unwrap();
    store.put_tile("A", 1, 0, tile(100, 50, 0.0)).unwrap();
    store.delete_tile("A", 0, 0).unwrap();
    store.put_tile("A", 2, 0, tile(10, 10, 0.0)).unwrap();
    assert_eq!(store.bytes_held(), 40_000 + 800);
    assert_eq!(store.peak_bytes_held(), 80_000 + 40_000);
}
