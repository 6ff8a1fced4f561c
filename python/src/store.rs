//! `lambdapack.Store`: where BigMatrix tiles live.
//!
//! Specs: `mem` (this process's shared memory store), `dir:PATH` (one
//! `.npy` file per tile), `s3://BUCKET/PREFIX` (with the `aws` feature).
//! Opening the same spec twice gives the same store, so two BigMatrix
//! handles on one directory share its write pool and byte counts, and a
//! BigMatrix in S3 is read in place by a run given its store's spec.
//! `Store.memory()` makes a new private memory store.

use lp_runtime::store::maintenance::{self, MaintenanceError};
use lp_runtime::store::{MemStore, Store};
use lpc::runner::StoreSpec;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A memory store: it lives in this process only.
    Mem,
    Dir,
    S3,
}

/// A tile store. See the module docs.
#[pyclass(module = "lambdapack", name = "Store", frozen)]
pub struct PyStore {
    pub store: Arc<dyn Store>,
    pub spec: String,
    pub kind: Kind,
}

type Registry = Mutex<HashMap<String, Weak<dyn Store>>>;

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

fn shared_memory() -> Arc<dyn Store> {
    static MEM: OnceLock<Arc<dyn Store>> = OnceLock::new();
    MEM.get_or_init(|| Arc::new(MemStore::new())).clone()
}

fn open_spec(spec: &str) -> PyResult<(Arc<dyn Store>, String, Kind)> {
    if spec == "mem" {
        return Ok((shared_memory(), spec.to_string(), Kind::Mem));
    }
    // One store per place, however the spec spells it.
    // `spec` as kept: a directory's absolute path, so that a handle (and
    // its pickle) names the same directory after a `chdir` or in another
    // process.
    let (key, kind, open, spec): (String, Kind, Opener, String) = match spec.strip_prefix("s3://") {
        Some(rest) => {
            let place = S3Place::parse(rest)?;
            let key = place.to_string();
            let open = Box::new(move || s3::open(&place));
            (key, Kind::S3, open, spec.to_string())
        }
        None => {
            let (key, parsed) = dir_spec(spec)?;
            let open = move || parsed.open().map_err(PyValueError::new_err);
            (key.clone(), Kind::Dir, Box::new(open), key)
        }
    };
    let mut registry = registry().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(store) = registry.get(&key).and_then(Weak::upgrade) {
        return Ok((store, spec, kind));
    }
    let store = open()?;
    registry.insert(key, Arc::downgrade(&store));
    Ok((store, spec, kind))
}

type Opener = Box<dyn FnOnce() -> PyResult<Arc<dyn Store>>>;

/// A `dir:PATH` spec: its registry key (`dir:` and the canonical path) and
/// the parsed spec, of that path. The directory is created if needed.
fn dir_spec(spec: &str) -> PyResult<(String, StoreSpec)> {
    let parsed = StoreSpec::parse(spec)
        .ok()
        .filter(|p| matches!(p, StoreSpec::Dir(_)))
        .ok_or_else(|| {
            PyValueError::new_err(format!(
                "store: expected \"mem\", \"dir:PATH\" or \"s3://BUCKET/PREFIX\", found {spec:?}"
            ))
        })?;
    let StoreSpec::Dir(path) = &parsed else {
        unreachable!("filtered above")
    };
    // A root inside another store's own folders is refused before anything
    // is created there (that store's gc would take the folder for its own).
    lp_runtime::store::location::validate_root_dir(path)
        .map_err(|e| PyValueError::new_err(format!("cannot open store {}: {e}", path.display())))?;
    if let Err(e) = std::fs::create_dir_all(path) {
        // DirStore::open says why in lpc's words ("it is a file, not a
        // directory" where create_dir_all says only "File exists").
        let why = parsed.open().err();
        return Err(PyValueError::new_err(why.unwrap_or_else(|| {
            format!("cannot open store {}: {e}", path.display())
        })));
    }
    // Opened at its absolute path: a relative one would move with the
    // process's working directory.
    let (key, parsed) = match std::fs::canonicalize(path) {
        Ok(absolute) => (
            format!("dir:{}", absolute.display()),
            StoreSpec::Dir(absolute),
        ),
        Err(_) => (spec.to_string(), parsed),
    };
    Ok((key, parsed))
}

/// Where an S3 store is: `s3://BUCKET/PREFIX`, the prefix without slashes
/// at either end (as `S3Store` keys it).
struct S3Place {
    bucket: String,
    prefix: String,
}

impl S3Place {
    /// `rest` is the spec after `s3://`.
    fn parse(rest: &str) -> PyResult<S3Place> {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(PyValueError::new_err(
                "store: s3://BUCKET/PREFIX needs a bucket",
            ));
        }
        Ok(S3Place {
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
        })
    }
}

impl std::fmt::Display for S3Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

/// S3 stores, with the `aws` feature.
#[cfg(feature = "aws")]
mod s3 {
    use super::S3Place;
    use lp_runtime::aws::{AwsClients, AwsOptions, S3Store};
    use lp_runtime::store::Store;
    use pyo3::PyResult;
    use pyo3::exceptions::PyValueError;
    use std::sync::{Arc, OnceLock};

    /// One set of clients for the process, configured when the first S3
    /// store opens: region and credentials from the standard AWS chain,
    /// endpoints from `LP_AWS_ENDPOINT_URL` or `LP_S3_ENDPOINT` (as `lpc`
    /// and the worker read them).
    fn clients() -> &'static AwsClients {
        static CLIENTS: OnceLock<AwsClients> = OnceLock::new();
        CLIENTS.get_or_init(|| AwsClients::connect(&AwsOptions::from_env()))
    }

    pub fn open(place: &S3Place) -> PyResult<Arc<dyn Store>> {
        let store = S3Store::new(clients(), &place.bucket, &place.prefix)
            .map_err(|e| PyValueError::new_err(format!("cannot open store {place}: {e}")))?;
        Ok(Arc::new(store))
    }

    /// Creates the bucket; one that exists and is the caller's is fine.
    pub fn create_bucket(place: &S3Place) -> Result<(), String> {
        S3Store::at_root(clients(), &place.bucket)
            .create_bucket()
            .map_err(|e| e.to_string())
    }
}

/// Without the `aws` feature, an S3 spec says how to build with it.
#[cfg(not(feature = "aws"))]
mod s3 {
    use super::S3Place;
    use lp_runtime::store::Store;
    use pyo3::PyResult;
    use pyo3::exceptions::PyValueError;
    use std::sync::Arc;

    fn unsupported() -> pyo3::PyErr {
        PyValueError::new_err(
            "this lambdapack was built without S3 support; build it with the `aws` feature \
             (MATURIN_PEP517_ARGS=\"--features aws\" pip install ./python)",
        )
    }

    pub fn open(_: &S3Place) -> PyResult<Arc<dyn Store>> {
        Err(unsupported())
    }

    pub fn create_bucket(_: &S3Place) -> Result<(), String> {
        Err(unsupported().to_string())
    }
}

impl PyStore {
    pub fn open(spec: &str) -> PyResult<PyStore> {
        let (store, spec, kind) = open_spec(spec)?;
        Ok(PyStore { store, spec, kind })
    }

    pub fn private_memory() -> PyStore {
        PyStore {
            store: Arc::new(MemStore::new()),
            spec: "mem (private)".to_string(),
            kind: Kind::Mem,
        }
    }

    /// A `Store` or a spec string, as every `store=` argument takes.
    pub fn from_arg(py: Python<'_>, arg: &Bound<'_, PyAny>) -> PyResult<Py<PyStore>> {
        if let Ok(store) = arg.cast::<PyStore>() {
            return Ok(store.clone().unbind());
        }
        match arg.extract::<String>() {
            Ok(spec) => Py::new(py, PyStore::open(&spec)?),
            Err(_) => Err(PyTypeError::new_err(
                "store must be a lambdapack.Store or a spec such as \"mem\" or \"dir:PATH\"",
            )),
        }
    }

    pub fn same(&self, other: &PyStore) -> bool {
        Arc::ptr_eq(&self.store, &other.store)
    }
}

#[pymethods]
impl PyStore {
    /// Store(spec): "mem" (this process's memory store), "dir:PATH" (one
    /// .npy file per tile under PATH, for matrices larger than RAM or shared
    /// between processes) or "s3://BUCKET/PREFIX" (builds with the aws
    /// feature). The same spec always gives the same store.
    #[new]
    fn py_new(spec: &str) -> PyResult<PyStore> {
        PyStore::open(spec)
    }

    /// A new, empty memory store private to its holders (runs use one when
    /// no store is given).
    #[staticmethod]
    fn memory() -> PyStore {
        PyStore::private_memory()
    }

    /// The spec the store was opened with.
    #[getter]
    fn spec(&self) -> &str {
        &self.spec
    }

    /// "mem", "dir" or "s3".
    #[getter]
    fn kind(&self) -> &'static str {
        match self.kind {
            Kind::Mem => "mem",
            Kind::Dir => "dir",
            Kind::S3 => "s3",
        }
    }

    /// Whether other processes can open this store (not a memory store).
    #[getter]
    fn shareable(&self) -> bool {
        self.kind != Kind::Mem
    }

    /// create_bucket(): creates the bucket of an "s3://BUCKET/PREFIX" store
    /// (a bucket that exists and is yours is fine), as `lpc aws init
    /// --create-bucket` does.
    fn create_bucket(&self, py: Python<'_>) -> PyResult<()> {
        let place = match self.spec.strip_prefix("s3://") {
            Some(rest) if self.kind == Kind::S3 => S3Place::parse(rest)?,
            _ => {
                return Err(PyValueError::new_err(format!(
                    "create_bucket: {} is not an S3 store",
                    self.__repr__()
                )));
            }
        };
        py.detach(|| s3::create_bucket(&place))
            .map_err(|e| crate::errors::raise(py, "StoreError", e))
    }

    /// remove(name): removes what `lpc store rm` removes: a published name
    /// (its link only: the run's output stays), a matrix written block by
    /// block, a run's output (`~runs/RUN/NAME`, a handle's `location`), a
    /// whole run (`~runs/RUN`), an input stored by origin (`~inputs/KEY`)
    /// or a program bundle (`~bundles/KEY.lpb`). Refuses a run that is
    /// still running, a location a published name points into (remove the
    /// name first), and a store nested in this one (open it by its own
    /// spec instead).
    fn remove(&self, py: Python<'_>, name: &str) -> PyResult<()> {
        let store = self.store.clone();
        py.detach(|| maintenance::remove(store.as_ref(), name))
            .map_err(|e| e.in_store(&self.spec))
            .map_err(|e| match e {
                MaintenanceError::Store(e) => crate::errors::store_error(py, &e),
                MaintenanceError::NotFound { .. } => {
                    crate::errors::raise(py, "BlockNotFoundError", e.to_string())
                }
                e => crate::errors::raise(py, "StoreError", format!("cannot remove {name}: {e}")),
            })
    }

    /// (bytes held now, peak bytes held) for stores that count them, else None.
    fn usage(&self) -> Option<(u64, u64)> {
        self.store
            .usage()
            .map(|u| (u.bytes_held, u.peak_bytes_held))
    }

    fn __repr__(&self) -> String {
        format!("Store({:?})", self.spec)
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<PyStore>().is_ok_and(|o| self.same(o.get()))
    }

    fn __hash__(&self) -> u64 {
        Arc::as_ptr(&self.store) as *const () as u64
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, (String,))> {
        let this = slf.get();
        if this.kind == Kind::Mem {
            return Err(memory_pickle_error(slf.py(), "this Store"));
        }
        let cls = slf.get_type().into_any();
        Ok((cls, (this.spec.clone(),)))
    }
}

/// Why nothing in a memory store can be pickled: its tiles are in this
/// process's memory, which another process cannot see.
pub fn memory_pickle_error(py: Python<'_>, what: &str) -> PyErr {
    let message = format!(
        "{what} lives in a memory store, which exists only in this process, so it \
         cannot be pickled or sent to another process; use a directory store \
         (store=\"dir:PATH\") to share matrices between processes"
    );
    match py
        .import("pickle")
        .and_then(|m| m.getattr("PicklingError"))
        .and_then(|cls| cls.call1((message.clone(),)))
    {
        Ok(instance) => PyErr::from_value(instance),
        Err(e) => e,
    }
}
