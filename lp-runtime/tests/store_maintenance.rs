//! What `lpc store ls|gc|rm` do to a shared store, on the memory and
//! directory stores (`lp_runtime::store::maintenance`; docs/runtime.md,
//! "Runs sharing a store"): another store nested in one is listed as such
//! and never removed or collected, one entry that cannot be read never ends
//! a listing or a collection, and bundles are listed, removed and
//! collected.

use lp_runtime::store::maintenance::{
    self, Collected, Holds, MaintenanceError, NestedStore, STALE_AFTER,
};
use lp_runtime::store::runs::RunGuard;
use lp_runtime::store::{DirStore, MemStore, Store, StoreError, StoreResult, StoredBundle};
use lp_std::{MatrixHeader, Tile};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn header() -> MatrixHeader {
    MatrixHeader::new([4, 4], [2, 2], false)
}

fn nested_message(store: &dyn Store, target: &str) -> String {
    match maintenance::remove(store, target) {
        Err(e @ MaintenanceError::Nested(_)) => e.to_string(),
        other => panic!("removing {target}: {other:?}"),
    }
}

/// A store of matrices written block by block, nested in another: what
/// both stores show.
fn a_name_with_a_location_below_is_another_store(store: &dyn Store) {
    store.put_header("sub/M", &header()).unwrap();
    store.put_header("A", &header()).unwrap();
    store
        .put_tile("A", 0, 0, Arc::new(Tile::zeros(2, 2)))
        .unwrap();
    let nested = NestedStore {
        location: "sub".into(),
        holds: Holds::Location("M".into()),
        spec: None,
    };
    assert_eq!(
        maintenance::nested_store(store, "sub").unwrap(),
        Some(nested.clone())
    );
    assert_eq!(maintenance::nested_store(store, "A").unwrap(), None);
    let listed = maintenance::list(store).unwrap();
    let entries: Vec<_> = listed
        .iter()
        .map(|e| (e.location.as_str(), e.nested.clone()))
        .collect();
    assert_eq!(entries, [("A", None), ("sub", Some(nested.clone()))]);
    assert_eq!(
        nested.in_store("dir:/data/").to_string(),
        "it holds `M`; manage it as dir:/data/sub"
    );
    for target in ["sub", "sub/M", "sub/"] {
        assert_eq!(
            nested_message(store, target),
            "`sub` is another store (it holds `M`); manage it as a store of its own"
        );
    }
    let e = maintenance::remove(store, "sub/M").unwrap_err();
    assert_eq!(
        e.in_store("s3://bucket/p").to_string(),
        "`sub` is another store (it holds `M`); manage it as s3://bucket/p/sub"
    );
    assert!(store.get_header("sub/M").unwrap().is_some());
    maintenance::remove(store, "A").unwrap();
    assert!(store.list_tiles("A").unwrap().is_empty());
}

#[test]
fn a_name_with_a_location_below_is_another_store_in_memory_and_on_disk() {
    a_name_with_a_location_below_is_another_store(&MemStore::new());
    let tmp = tempfile::tempdir().unwrap();
    a_name_with_a_location_below_is_another_store(&DirStore::open(tmp.path()).unwrap());
}

/// A run (finished, and a dead one's leftovers) in `dir:ROOT/sub`.
fn store_with_runs(root: &Path) {
    let inner: Arc<dyn Store> = Arc::new(DirStore::open(root).unwrap());
    let guard = RunGuard::begin(inner.clone(), "run-1-1", "p.lp").unwrap();
    inner.put_header("~runs/run-1-1/L", &header()).unwrap();
    guard.finish().unwrap();
    // A tile of a removed run: what gc of that store would collect.
    inner
        .put_tile("~runs/run-2-2/L", 0, 0, Arc::new(Tile::zeros(2, 2)))
        .unwrap();
}

#[test]
fn a_store_nested_in_a_directory_store_is_never_removed_or_collected() {
    let tmp = tempfile::tempdir().unwrap();
    store_with_runs(&tmp.path().join("sub"));
    let outer = DirStore::open(tmp.path()).unwrap();
    let nested = NestedStore {
        location: "sub".into(),
        holds: Holds::Runs,
        spec: None,
    };
    let listed = maintenance::list(&outer).unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].nested, Some(nested));
    assert_eq!(
        nested_message(&outer, "sub"),
        "`sub` is another store (it holds runs); manage it as a store of its own"
    );
    assert_eq!(
        maintenance::collect_dead_runs(&outer, Duration::ZERO).unwrap(),
        Collected::default()
    );
    assert_eq!(
        maintenance::collect_incomplete_imports(&outer, Duration::ZERO).unwrap(),
        Collected::default()
    );
    let inner = DirStore::open(tmp.path().join("sub")).unwrap();
    let runs: Vec<_> = maintenance::list(&inner)
        .unwrap()
        .into_iter()
        .map(|e| (e.is_orphan(), e.location))
        .map(|(orphan, at)| (at, orphan))
        .collect();
    assert_eq!(
        runs,
        [
            ("~runs/run-1-1/L".to_string(), false),
            ("~runs/run-2-2/L".to_string(), true)
        ]
    );
}

/// Folders no store writes: a run whose name is not one, a corrupt run
/// record, beside a removed run's orphaned tile and an interrupted import.
#[test]
fn one_bad_entry_never_ends_a_listing_or_a_collection() {
    let tmp = tempfile::tempdir().unwrap();
    let store = DirStore::open(tmp.path()).unwrap();
    std::fs::create_dir_all(tmp.path().join("~runs/a b/L")).unwrap();
    std::fs::create_dir_all(tmp.path().join("~runs/run-3-4/L")).unwrap();
    std::fs::write(tmp.path().join("~runs/run-3-4/run.json"), "not json").unwrap();
    let zeros = || Arc::new(Tile::zeros(2, 2));
    store.put_tile("~runs/run-1-2/L", 1, 0, zeros()).unwrap();
    store.put_tile("~inputs/k", 0, 0, zeros()).unwrap();
    let bad_name = "invalid matrix name \"~runs/a b\": each part of a location must be a \
                    valid matrix name";
    let corrupt = "corrupt ~runs/run-3-4/run.json: expected ident at line 1 column 2";
    let listed: Vec<_> = maintenance::list(&store)
        .unwrap()
        .into_iter()
        .map(|e| {
            let kind = match () {
                _ if e.is_orphan() => "orphan",
                _ if e.is_incomplete_import() => "interrupted import",
                _ => "",
            };
            (e.location, e.problem, kind)
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("~inputs/k".into(), None, "interrupted import"),
            ("~runs/a b".into(), Some(bad_name.into()), ""),
            ("~runs/run-1-2/L".into(), None, "orphan"),
            ("~runs/run-3-4".into(), Some(corrupt.into()), ""),
        ]
    );
    assert_eq!(
        maintenance::collect_dead_runs(&store, STALE_AFTER).unwrap(),
        Collected {
            removed: vec!["run-1-2".into()],
            skipped: vec![
                ("~runs/a b".into(), bad_name.into()),
                ("~runs/run-3-4".into(), corrupt.into())
            ],
        }
    );
    // A record that cannot be read is no running run's: imports go.
    assert_eq!(
        maintenance::collect_incomplete_imports(&store, STALE_AFTER).unwrap(),
        Collected {
            removed: vec!["~inputs/k".into()],
            skipped: Vec::new(),
        }
    );
    assert!(tmp.path().join("~runs/a b/L").is_dir());
}

fn put_bundle(root: &Path, name: &str, bytes: usize, age: Duration) -> u64 {
    let dir = root.join("~bundles");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), vec![1u8; bytes]).unwrap();
    let when = SystemTime::now() - age;
    let file = std::fs::File::options()
        .write(true)
        .open(dir.join(name))
        .unwrap();
    file.set_modified(when).unwrap();
    when.duration_since(UNIX_EPOCH).unwrap().as_secs()
}

#[test]
fn bundles_are_listed_removed_and_collected_once_no_run_is_running() {
    assert_eq!(MemStore::new().bundles().unwrap(), []);
    let tmp = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(DirStore::open(tmp.path()).unwrap());
    let hour = Duration::from_secs(3600);
    let old = put_bundle(tmp.path(), "0af3.lpb", 335, hour);
    let new = put_bundle(tmp.path(), "b2c4.lpb", 20, Duration::ZERO);
    std::fs::write(tmp.path().join("~bundles/notes.txt"), "not a bundle").unwrap();
    let bundle = |name: &str, bytes, modified| StoredBundle {
        name: name.into(),
        bytes,
        modified: Some(modified),
    };
    assert_eq!(
        store.bundles().unwrap(),
        [bundle("0af3.lpb", 335, old), bundle("b2c4.lpb", 20, new)]
    );
    let running = RunGuard::begin(store.clone(), "run-5-5", "p.lp").unwrap();
    assert_eq!(
        maintenance::collect_unused_bundles(store.as_ref(), STALE_AFTER).unwrap(),
        Collected::default()
    );
    let refused = maintenance::remove(store.as_ref(), "~bundles/0af3.lpb").unwrap_err();
    assert_eq!(
        refused.to_string(),
        "run `run-5-5` is running and may need `~bundles/0af3.lpb`; remove it once no run \
         is running"
    );
    drop(running);
    assert_eq!(
        maintenance::collect_unused_bundles(store.as_ref(), STALE_AFTER).unwrap(),
        Collected {
            removed: vec!["~bundles/0af3.lpb".into()],
            skipped: Vec::new(),
        }
    );
    for missing in ["~bundles/0af3.lpb", "~bundles/notes.txt", "~bundles/"] {
        let e = maintenance::remove(store.as_ref(), missing).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "no matrix or run `{}` in the store",
                missing.trim_end_matches('/')
            )
        );
    }
    maintenance::remove(store.as_ref(), "~bundles/b2c4.lpb").unwrap();
    assert_eq!(store.bundles().unwrap(), []);
    let e = store.remove_bundle("../x.lpb").unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid matrix name \"../x.lpb\": a bundle's name is its content key and `.lpb`"
    );
}

#[test]
fn a_directory_store_inside_a_stores_own_folder_is_refused_before_it_is_made() {
    let tmp = tempfile::tempdir().unwrap();
    for folder in ["~runs", "~inputs/x", "~bundles", "~pool/1-0"] {
        let root = tmp.path().join("d").join(folder);
        let e = DirStore::open(&root).err().expect("refused");
        assert!(matches!(e, StoreError::InvalidRoot { .. }), "{e:?}");
        let part = folder.split('/').next().unwrap();
        assert_eq!(
            e.to_string(),
            format!(
                "its path has a part `{part}`, the name of one of a store's own folders \
                 (`~runs`, `~inputs`, `~bundles`, `~pool`): a store above it would take this \
                 store's contents for its own"
            )
        );
        assert!(!tmp.path().join("d").exists());
    }
    DirStore::open(tmp.path().join("~mine/store")).unwrap();
}

/// A directory store whose first listing of bundles is followed at once by
/// what a starting lambda run does: it uploads its bundle again (under the
/// same name, so with a new date). Its bundles' dates are given only for
/// the names in `dated`.
struct RunStartsDuringCollection {
    dir: DirStore,
    root: std::path::PathBuf,
    uploads: &'static str,
    listings: std::sync::atomic::AtomicUsize,
    dated: &'static [&'static str],
}

impl Store for RunStartsDuringCollection {
    fn get_tile(&self, m: &str, i: usize, j: usize) -> StoreResult<Option<Arc<Tile>>> {
        self.dir.get_tile(m, i, j)
    }
    fn put_tile(&self, m: &str, i: usize, j: usize, t: Arc<Tile>) -> StoreResult<()> {
        self.dir.put_tile(m, i, j, t)
    }
    fn delete_tile(&self, m: &str, i: usize, j: usize) -> StoreResult<()> {
        self.dir.delete_tile(m, i, j)
    }
    fn list_tiles(&self, m: &str) -> StoreResult<Vec<(usize, usize)>> {
        self.dir.list_tiles(m)
    }
    fn get_header(&self, m: &str) -> StoreResult<Option<MatrixHeader>> {
        self.dir.get_header(m)
    }
    fn put_header(&self, m: &str, h: &MatrixHeader) -> StoreResult<()> {
        self.dir.put_header(m, h)
    }
    fn list_children(&self, location: &str) -> StoreResult<Vec<String>> {
        self.dir.list_children(location)
    }
    fn get_doc(&self, location: &str, doc: &str) -> StoreResult<Option<Vec<u8>>> {
        self.dir.get_doc(location, doc)
    }
    fn bundles(&self) -> StoreResult<Vec<StoredBundle>> {
        let mut listed = self.dir.bundles()?;
        for b in &mut listed {
            if !self.dated.contains(&b.name.as_str()) {
                b.modified = None;
            }
        }
        let first = self
            .listings
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            == 0;
        if first {
            put_bundle(&self.root, self.uploads, 7, Duration::ZERO);
        }
        Ok(listed)
    }
    fn remove_bundle(&self, name: &str) -> StoreResult<()> {
        self.dir.remove_bundle(name)
    }
}

/// A bundle uploaded again after the collection listed it (a run started)
/// is kept, and so is one whose date the store does not give; the other
/// stale bundles go.
#[test]
fn a_bundle_written_again_during_the_collection_or_without_a_date_is_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let hour = Duration::from_secs(3600);
    for name in ["0af3.lpb", "b2c4.lpb", "c5d6.lpb"] {
        put_bundle(tmp.path(), name, 10, hour);
    }
    let store = RunStartsDuringCollection {
        dir: DirStore::open(tmp.path()).unwrap(),
        root: tmp.path().to_path_buf(),
        uploads: "b2c4.lpb",
        listings: Default::default(),
        dated: &["0af3.lpb", "b2c4.lpb"],
    };
    assert_eq!(
        maintenance::collect_unused_bundles(&store, STALE_AFTER).unwrap(),
        Collected {
            removed: vec!["~bundles/0af3.lpb".into()],
            skipped: Vec::new(),
        }
    );
    let left: Vec<_> = store
        .dir
        .bundles()
        .unwrap()
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert_eq!(left, ["b2c4.lpb", "c5d6.lpb"]);
}
