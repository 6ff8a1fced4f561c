//! Freeing a memory store's matrices that no one can reach any more.
//!
//! A memory store lives as long as a `Store` or a BigMatrix holds it, and
//! the `"mem"` store is the process's for good; without this module, the
//! tiles of every `from_numpy` without a name and of every run output
//! returned as a handle would stay in it until the process ends (nothing
//! else can see them, so nothing else would remove them). A [`Lease`]
//! ties such matrices to their handles: every handle on them holds it, and
//! when the last one goes, the lease removes what it covers, as
//! `Store.remove` would.
//!
//! Only what the user did not name is leased: a matrix created with a name
//! (`BigMatrix(name, ...)`, `from_numpy(..., name=...)`) stays until
//! `Store.remove`, since the user may open it again by that name; a
//! published run output stays with its name (`maintenance::remove` refuses
//! a location a published name points into). Directory and S3 stores are
//! shared between processes, which may open anything in them, so nothing
//! there is leased.

use crate::store::{Kind, PyStore};
use lp_runtime::store::Store;
use lp_runtime::store::location::RUNS;
use lp_runtime::store::maintenance;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};

/// See the module docs.
pub struct Lease {
    store: Arc<dyn Store>,
    /// What goes with the last handle: a matrix, or a whole run
    /// (`~runs/<run>`).
    root: String,
    /// A run's outputs that handles read, removed one by one when the run
    /// as a whole cannot be (one of its outputs is published).
    locations: Vec<String>,
}

/// The live leases, by (store, root), so that a handle opened on a leased
/// matrix by its location shares the lease instead of losing its tiles
/// when the first handles go.
type Registry = Mutex<HashMap<(usize, String), Weak<Lease>>>;

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

fn lock() -> std::sync::MutexGuard<'static, HashMap<(usize, String), Weak<Lease>>> {
    registry().lock().unwrap_or_else(|e| e.into_inner())
}

fn key(store: &Arc<dyn Store>, root: &str) -> (usize, String) {
    (Arc::as_ptr(store) as *const () as usize, root.to_string())
}

/// The lease root of `location`: its run for a run's output, else itself.
fn root_of(location: &str) -> String {
    match location
        .strip_prefix(RUNS)
        .and_then(|r| r.strip_prefix('/'))
    {
        Some(rest) => format!("{RUNS}/{}", rest.split('/').next().unwrap_or(rest)),
        None => location.to_string(),
    }
}

impl Lease {
    /// A lease on `root` (a matrix, or a run's namespace with the output
    /// `locations` handles read) in `store`, if it is a memory store.
    pub fn new(store: &PyStore, root: &str, locations: Vec<String>) -> Option<Arc<Lease>> {
        if store.kind != Kind::Mem {
            return None;
        }
        let lease = Arc::new(Lease {
            store: store.store.clone(),
            root: root.to_string(),
            locations,
        });
        lock().insert(key(&store.store, root), Arc::downgrade(&lease));
        Some(lease)
    }

    /// The live lease covering `location` in `store`, if any.
    pub fn find(store: &PyStore, location: &str) -> Option<Arc<Lease>> {
        if store.kind != Kind::Mem {
            return None;
        }
        let key = key(&store.store, &root_of(location));
        lock().get(&key).and_then(Weak::upgrade)
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let key = key(&self.store, &self.root);
        {
            let mut leases = lock();
            // A new lease on the same root may have replaced this one.
            if leases.get(&key).is_some_and(|w| w.strong_count() == 0) {
                leases.remove(&key);
            }
        }
        // Removal cannot be reported from a destructor; what fails (a
        // published output, something already removed) stays as it is.
        let store = self.store.as_ref();
        if maintenance::remove(store, &self.root).is_err() {
            for location in &self.locations {
                let _ = maintenance::remove(store, location);
            }
        }
    }
}
