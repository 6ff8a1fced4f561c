//! A store that records its flushes and document writes in order, and
//! fails its flushes when told to (a disk error): for the tests of what is
//! flushed before what (`Store::sync`), here and in `lpc`'s tests.

use lp_runtime::store::{MemStore, Store, StoreError, StoreLayer, StoreResult};
use std::sync::Mutex;

#[derive(Default)]
pub struct Journal {
    pub inner: MemStore,
    fail_sync: bool,
    events: Mutex<Vec<String>>,
}

impl Journal {
    /// A journal whose every flush fails.
    pub fn failing() -> Journal {
        Journal {
            fail_sync: true,
            ..Journal::default()
        }
    }

    /// `sync LOCATION` and `doc LOCATION/DOC`, in the order they came.
    pub fn events(&self) -> Vec<String> {
        self.events.lock().unwrap().clone()
    }
}

impl StoreLayer for Journal {
    fn inner(&self) -> &dyn Store {
        &self.inner
    }

    fn sync(&self, location: &str) -> StoreResult<()> {
        self.events.lock().unwrap().push(format!("sync {location}"));
        match self.fail_sync {
            true => Err(StoreError::Io {
                what: format!("flushing {location} to disk"),
                source: std::io::Error::other("disk error"),
            }),
            false => self.inner.sync(location),
        }
    }

    fn put_doc(&self, location: &str, doc: &str, bytes: &[u8]) -> StoreResult<()> {
        self.events
            .lock()
            .unwrap()
            .push(format!("doc {location}/{doc}"));
        self.inner.put_doc(location, doc, bytes)
    }
}
