//! What outlives a run is flushed to disk before anything says it is
//! complete (`Store::sync`; docs/runtime.md, "Stores"): a finished run's
//! outputs before its record says so, a matrix before a name is published
//! for it; a flush that fails leaves nothing claiming otherwise. And the
//! directory store's flush itself, on a real folder.

mod journal_support;

use journal_support::Journal;
use lp_runtime::store::location::{LINK_DOC, RUN_DOC, run_root};
use lp_runtime::store::maintenance;
use lp_runtime::store::runs::{RunGuard, RunRecord, RunState};
use lp_runtime::store::{DirStore, Store};
use lp_std::{MatrixHeader, Tile};
use std::sync::Arc;

/// A run's output: a header and one tile under the run's root.
fn write_output(store: &dyn Store, run: &str) -> String {
    let at = format!("{}/L", run_root(run));
    store
        .put_header(&at, &MatrixHeader::new([2, 2], [2, 2], false))
        .unwrap();
    store
        .put_tile(&at, 0, 0, Arc::new(Tile::zeros(2, 2)))
        .unwrap();
    at
}

/// The record is written when the run begins; finishing flushes the run's
/// root (its outputs) and only then rewrites the record as finished.
#[test]
fn a_run_is_flushed_before_its_record_says_it_finished() {
    let store = Arc::new(Journal::default());
    let guard = RunGuard::begin(store.clone(), "r1", "chol.lp").unwrap();
    write_output(store.as_ref(), "r1");
    guard.finish().unwrap();
    let record = format!("doc ~runs/r1/{RUN_DOC}");
    assert_eq!(
        store.events(),
        [record.clone(), "sync ~runs/r1".to_string(), record]
    );
    let state = RunRecord::read(store.as_ref(), "r1")
        .unwrap()
        .unwrap()
        .state;
    assert_eq!(state, RunState::Finished);
}

/// A run whose outputs cannot be flushed is not finished: the error says
/// what failed, and the run's namespace is removed as a failed run's is,
/// so no record vouches for outputs that may not be on disk.
#[test]
fn a_run_whose_outputs_cannot_be_flushed_is_not_finished() {
    let store = Arc::new(Journal::failing());
    let guard = RunGuard::begin(store.clone(), "r1", "chol.lp").unwrap();
    let output = write_output(store.as_ref(), "r1");
    let e = guard.finish().unwrap_err();
    assert_eq!(e.to_string(), "flushing ~runs/r1 to disk: disk error");
    let store: &dyn Store = store.as_ref();
    assert_eq!(RunRecord::read(store, "r1").unwrap(), None);
    assert_eq!(store.get_header(&output).unwrap(), None);
    assert_eq!(store.list_tiles(&output).unwrap(), []);
}

/// Publishing flushes the matrix before it writes the name's link; a
/// failed flush writes no link.
#[test]
fn a_matrix_is_flushed_before_a_name_is_published_for_it() {
    let store = Journal::default();
    let output = write_output(&store, "r1");
    maintenance::publish(&store, "factor", &output).unwrap();
    let link = format!("doc factor/{LINK_DOC}");
    assert_eq!(store.events(), [format!("sync {output}"), link]);

    let store = Journal::failing();
    let output = write_output(&store, "r1");
    let e = maintenance::publish(&store, "factor", &output).unwrap_err();
    assert_eq!(e.to_string(), "flushing ~runs/r1/L to disk: disk error");
    assert_eq!(store.events(), [format!("sync {output}")]);
    assert_eq!(maintenance::read_link(&store, "factor").unwrap(), None);
}

/// On a directory store: a location with tiles and documents flushes, and
/// so does one with folders below; one that was never written (or was
/// removed) has nothing to flush; a name that is no location is refused,
/// naming it. (That the bytes reach the disk only a crash of the machine
/// would show.)
#[test]
fn a_directory_store_flushes_a_location_or_says_why_not() {
    let root = tempfile::tempdir().unwrap();
    let store = Arc::new(DirStore::open(root.path()).unwrap());
    let run = RunGuard::begin(store.clone(), "r1", "chol.lp").unwrap();
    let output = write_output(store.as_ref(), "r1");
    store.sync(&output).unwrap();
    store.sync("~runs/r1").unwrap();
    store.sync("never-written").unwrap();
    run.finish().unwrap();
    let e = store.sync("../outside").unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid matrix name \"../outside\": each part of a location must be a valid matrix name"
    );
}
