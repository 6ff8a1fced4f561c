//! `lambdapack.BigMatrix`: a matrix stored as a grid of tiles in a store,
//! as numpywren's BigMatrix. The object is a handle (store, name, location,
//! header, initialiser, origin): it holds no tile data, so it pickles as
//! its store's spec and its location and is reopened from the header on
//! the other side.
//!
//! A handle's name is what the user calls the matrix (docs/runtime.md,
//! "Runs sharing a store"): a matrix written block by block (its name is
//! its location, and it is writable), a published name (read where its
//! link pointed when the handle was opened), or a run's output by its
//! location (`~runs/<run>/L`, as `lpc store ls` shows it). A run's output
//! is read-only: publishing promises readers the whole matrix a run wrote.

use crate::array::{self, ArrayView};
use crate::errors::{matrix_error, raise, store_error};
use crate::lease::Lease;
use crate::store::{Kind, PyStore, memory_pickle_error};
use lp_program::{MatrixInfo, Role};
use lp_runtime::matrix::{self, TileAt, symmetry_refusal};
use lp_runtime::store::location::RUNS;
use lp_runtime::store::maintenance::{self, MaintenanceError};
use lp_runtime::store::namespace::Origin;
use lp_runtime::store::{Store, StoreResult, validate_location, validate_matrix_name};
use lp_std::{Init, MatrixHeader, Tile};
use lpc::runner;
use pyo3::exceptions::{PyMemoryError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// BigMatrix(name, shape=None, tile=None, *, store="mem", symmetric=False, init=None)
///
/// A matrix stored as a grid of tiles (blocks) in a store. With a shape and
/// a tile shape, creates the matrix (writing its header) or opens it if the
/// store already has one of that name and the same structure; with neither,
/// opens an existing matrix from its header. `tile` is an int (square
/// tiles) or a (rows, cols) pair; the last tile row and column are ragged
/// when it does not divide the shape. A symmetric matrix stores only its
/// lower blocks (i >= j); `get_block(i, j)` with i < j returns the
/// transpose of block (j, i). `init` ("zeros", "identity", "random(SEED)",
/// "spd(SEED)") gives the values of blocks that were never written; it
/// belongs to this handle and is not stored. Opening a published name
/// (`lpc run --publish`, `run(publish=...)`, `BigMatrix.publish`) reads
/// the run's output it points to, read-only.
#[pyclass(module = "lambdapack", name = "BigMatrix", frozen)]
pub struct PyBigMatrix {
    pub store: Py<PyStore>,
    /// What the user calls it (see the module docs).
    pub name: String,
    /// Where its tiles are: `name`, or where a published name pointed.
    pub location: String,
    pub header: MatrixHeader,
    pub init: Option<Init>,
    /// Where the tiles came from, if the store records it (a run's output,
    /// an input stored by origin); `None` for a matrix written block by
    /// block.
    pub origin: Option<Origin>,
    /// Frees the tiles with the last handle on them, for what the user did
    /// not name in a memory store (`crate::lease`).
    pub lease: Option<Arc<Lease>>,
}

/// `v` by `lambdapack._arrays.as_int`, the package's one rule for the ints
/// it is given (a bool refused, one past 64 bits "too large", each naming
/// `what`).
fn as_int(v: &Bound<'_, PyAny>, what: &str) -> PyResult<i64> {
    let as_int = v.py().import("lambdapack._arrays")?.getattr("as_int")?;
    as_int.call1((v, what))?.extract()
}

/// A pair of ints, each by [`as_int`]; `None` if `v` is not a pair.
fn int_pair(v: &Bound<'_, PyAny>, what: [&str; 2]) -> PyResult<Option<(i64, i64)>> {
    match v.extract::<(Bound<'_, PyAny>, Bound<'_, PyAny>)>() {
        Ok((a, b)) => Ok(Some((as_int(&a, what[0])?, as_int(&b, what[1])?))),
        Err(_) => Ok(None),
    }
}

fn parse_tile(tile: &Bound<'_, PyAny>) -> PyResult<[usize; 2]> {
    if let Some((r, c)) = int_pair(tile, ["tile rows", "tile cols"])? {
        return Ok([positive(r, "tile rows")?, positive(c, "tile cols")?]);
    }
    match as_int(tile, "tile") {
        Ok(b) => Ok([positive(b, "tile")?, positive(b, "tile")?]),
        Err(e) if e.is_instance_of::<PyTypeError>(tile.py()) => Err(PyTypeError::new_err(
            "tile must be an int or a (rows, cols) pair of ints",
        )),
        Err(e) => Err(e),
    }
}

/// `shape=` as a (rows, cols) pair of ints.
fn parse_shape(shape: &Bound<'_, PyAny>) -> PyResult<(i64, i64)> {
    int_pair(shape, ["rows", "cols"])?.ok_or_else(|| {
        PyTypeError::new_err(format!(
            "shape must be a (rows, cols) pair of ints, found {}",
            shape
                .repr()
                .map_or_else(|_| "?".to_string(), |r| r.to_string())
        ))
    })
}

fn positive(v: i64, what: &str) -> PyResult<usize> {
    if v > 0 {
        Ok(v as usize)
    } else {
        Err(PyValueError::new_err(format!(
            "{what} must be positive, found {v}"
        )))
    }
}

/// The header of a new matrix of `shape` in tiles of `tile` (an int or a
/// pair), checked.
fn new_header(
    shape: (i64, i64),
    tile: &Bound<'_, PyAny>,
    symmetric: bool,
) -> PyResult<MatrixHeader> {
    let tile = parse_tile(tile)?;
    let shape = [positive(shape.0, "rows")?, positive(shape.1, "cols")?];
    if symmetric && (shape[0] != shape[1] || tile[0] != tile[1]) {
        return Err(PyValueError::new_err(format!(
            "a symmetric matrix must be square with square tiles, found {} x {} in tiles of {} x {}",
            shape[0], shape[1], tile[0], tile[1]
        )));
    }
    Ok(MatrixHeader::new(shape, tile, symmetric))
}

/// A matrix at `location` as `lp_runtime::matrix` reads it.
fn input_info(location: &str, header: MatrixHeader, init: Option<Init>) -> MatrixInfo {
    MatrixInfo {
        name: location.to_string(),
        header,
        role: Role::Input,
        init,
        versions: Vec::new(),
        base: None,
    }
}

/// Refuses, before allocating it, a `shape` array of matrix `name` larger
/// than the memory this process may use, by the rule `run` refuses a tile
/// by (a tile is allocated whole, so a larger one could only abort).
fn check_fits(name: &str, shape: [usize; 2]) -> Result<(), runner::Refusal> {
    match lp_runtime::local::physical_memory() {
        Some(memory) => runner::check_tile_fits(name, shape, memory),
        None => Ok(()),
    }
}

/// An array that cannot be stored as the matrix, as `from_numpy` says it.
fn import_error(e: runner::ImportError) -> PyErr {
    let name = match &e {
        runner::ImportError::NotSymmetric { matrix, .. } => matrix.as_str(),
        runner::ImportError::Shape { matrix, .. } => matrix.as_str(),
        _ => return PyValueError::new_err(e.to_string()),
    };
    PyValueError::new_err(array_refusal(&e, name, &format!("array {name}")))
}

/// An import's refusal of the array for matrix `name`, which the caller
/// calls `what` (`array A`, `inputs["A"]`).
pub fn array_refusal(e: &runner::ImportError, name: &str, what: &str) -> String {
    match *e {
        runner::ImportError::NotSymmetric {
            row,
            col,
            value,
            mirror,
            ..
        } => symmetry_refusal(what, name, (row, col, value, mirror)),
        ref e => e
            .to_string()
            .replace(&format!("the array for {name}"), what),
    }
}

/// `zeros`, `identity`, `random(SEED)`, `spd(SEED)`.
pub fn parse_init(text: &str) -> PyResult<Init> {
    let bad = || {
        PyValueError::new_err(format!(
            "init must be \"zeros\", \"identity\", \"random(SEED)\" or \"spd(SEED)\", found {text:?}"
        ))
    };
    let text = text.trim();
    let (name, args) = match text.split_once('(') {
        None => (text, Vec::new()),
        Some((name, rest)) => {
            let inner = rest.strip_suffix(')').ok_or_else(bad)?;
            let args: Result<Vec<u64>, _> = inner
                .split(',')
                .filter(|a| !a.trim().is_empty())
                .map(|a| a.trim().parse::<u64>())
                .collect();
            (name.trim(), args.map_err(|_| bad())?)
        }
    };
    Init::from_call(name, &args).map_err(|_| bad())
}

/// The location and header of `name`: a user's name (a published one
/// followed to the location it points at) or a location as `lpc store ls`
/// shows it (`~runs/<run>/L`).
fn locate(store: &dyn Store, name: &str) -> StoreResult<Option<(String, MatrixHeader)>> {
    if name.starts_with('~') {
        validate_location(name)?;
        return Ok(store.get_header(name)?.map(|h| (name.to_string(), h)));
    }
    maintenance::resolve(store, name)
}

/// The refusal of a [`maintenance::DanglingLink`]: the name is neither a
/// matrix to open nor free to create one under (replacing it would
/// silently repoint a name others may read).
fn dangling_error(py: Python<'_>, spec: &str, dangling: &maintenance::DanglingLink) -> PyErr {
    let remedy = format!("Store.remove({:?})", dangling.name);
    raise(
        py,
        "BlockNotFoundError",
        format!("{} (store {spec})", dangling.with_remedy(&remedy)),
    )
}

/// The initialiser a handle on tiles of `origin` reads never-written
/// tiles with: a run's output's are zero (as `lpc::runner::as_output`
/// reads them), an initialiser's are its values, an import stores them
/// all. A given `init` must agree; with no recorded origin, it is the
/// handle's own.
fn init_for(name: &str, origin: Option<&Origin>, given: Option<Init>) -> PyResult<Option<Init>> {
    let implied = match origin {
        None => return Ok(given),
        Some(Origin::Run { .. }) => Some(Init::Zeros),
        Some(Origin::Init { init }) => Some(parse_init(init)?),
        Some(Origin::Import { .. }) => None,
    };
    match (given, origin) {
        (Some(g), Some(o)) if Some(g) != implied => Err(PyValueError::new_err(format!(
            "init={:?} does not fit matrix {name:?}: its tiles are {}",
            g.call(),
            o.describe()
        ))),
        _ => Ok(implied),
    }
}

/// Publishes `location` (a run's output) in `store` as `name`.
fn publish_at(py: Python<'_>, store: &dyn Store, name: &str, location: &str) -> PyResult<()> {
    py.detach(|| maintenance::publish(store, name, location))
        .map_err(|e| publish_error(py, name, e))
}

/// Why `name` could not be published, as an exception.
pub fn publish_error(py: Python<'_>, name: &str, e: MaintenanceError) -> PyErr {
    match e {
        MaintenanceError::Store(e) => store_error(py, &e),
        e @ MaintenanceError::NotFound { .. } => raise(
            py,
            "BlockNotFoundError",
            format!("cannot publish {name:?}: {e}"),
        ),
        e => raise(py, "StoreError", format!("cannot publish {name:?}: {e}")),
    }
}

/// A name for a matrix the caller did not name: unique in this process, and
/// across processes sharing a directory (time and process id).
pub fn fresh_name(stem: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{stem}-{:x}-{:x}{n}", std::process::id(), nanos)
}

/// A block index as Python gave it (any int up to 128 bits, so that a huge
/// one is outside the grid rather than an `OverflowError`): refused when
/// negative; `None` when past any grid.
fn index(v: i128, what: &str) -> PyResult<Option<usize>> {
    if v < 0 {
        return Err(Python::attach(|py| {
            raise(py, "BlockIndexError", format!("{what} {v} is negative"))
        }));
    }
    Ok(usize::try_from(v).ok())
}

impl PyBigMatrix {
    fn store_arc(&self) -> Arc<dyn lp_runtime::store::Store> {
        self.store.get().store.clone()
    }

    /// The matrix as `lp_runtime::matrix` reads it (at its location).
    pub fn info(&self) -> MatrixInfo {
        input_info(&self.location, self.header.clone(), self.init)
    }

    pub fn open(
        py: Python<'_>,
        store: Py<PyStore>,
        name: &str,
        init: Option<Init>,
    ) -> PyResult<PyBigMatrix> {
        let s = store.get().store.clone();
        // The matrix, or else where a dangling link points.
        type Found =
            Result<(String, MatrixHeader, Option<Origin>), Option<maintenance::DanglingLink>>;
        let found = py.detach(|| -> StoreResult<Found> {
            let Some((location, header)) = locate(s.as_ref(), name)? else {
                return Ok(Err(maintenance::dangling(s.as_ref(), name)?));
            };
            let origin = Origin::read(s.as_ref(), &location)?;
            Ok(Ok((location, header, origin)))
        });
        let spec = &store.get().spec;
        let (location, header, origin) = match found.map_err(|e| store_error(py, &e))? {
            Ok(found) => found,
            Err(Some(dangling)) => return Err(dangling_error(py, spec, &dangling)),
            Err(None) => {
                return Err(raise(
                    py,
                    "BlockNotFoundError",
                    format!(
                        "no matrix {name:?} in store {spec}: to create one, give its shape and tile"
                    ),
                ));
            }
        };
        let init = init_for(name, origin.as_ref(), init)?;
        let lease = Lease::find(store.get(), &location);
        Ok(PyBigMatrix {
            store,
            name: name.to_string(),
            location,
            header,
            init,
            origin,
            lease,
        })
    }

    /// Creates the header, or checks that an existing one matches (a
    /// published name included: the handle then reads the published
    /// matrix). Says whether it created the matrix.
    fn create(
        py: Python<'_>,
        store: Py<PyStore>,
        name: &str,
        header: MatrixHeader,
        init: Option<Init>,
    ) -> PyResult<(PyBigMatrix, bool)> {
        validate_matrix_name(name).map_err(|e| store_error(py, &e))?;
        let s = store.get().store.clone();
        let found = py.detach(|| -> StoreResult<_> {
            let found = maintenance::resolve(s.as_ref(), name)?;
            let dangling = match found {
                None => maintenance::dangling(s.as_ref(), name)?,
                Some(_) => None,
            };
            Ok((found.map(|(_, h)| h), dangling))
        });
        let (found, dangling) = found.map_err(|e| store_error(py, &e))?;
        if let Some(dangling) = dangling {
            return Err(dangling_error(py, &store.get().spec, &dangling));
        }
        // Created in one step (`Store::create_header`): of two processes
        // creating one name at once, one writes its tiles and the other
        // finds the matrix, never both. One found gone again (its creator's
        // import failed and removed it) is created anew.
        let (created, existing) = match found {
            Some(found) => (false, Some(found)),
            None => py
                .detach(|| -> StoreResult<_> {
                    for _ in 0..3 {
                        if s.create_header(name, &header)? {
                            return Ok((true, None));
                        }
                        if let Some(existing) = s.get_header(name)? {
                            return Ok((false, Some(existing)));
                        }
                    }
                    Ok((false, None))
                })
                .map_err(|e| store_error(py, &e))?,
        };
        if let Some(existing) = existing.filter(|existing| *existing != header) {
            return Err(PyValueError::new_err(format!(
                "matrix {name:?} already exists in store {} as {}, not {}",
                store.get().spec,
                existing.declared_type(),
                header.declared_type()
            )));
        }
        Ok((PyBigMatrix::open(py, store, name, init)?, created))
    }

    /// A handle on the output a run keeps at `location`, called `name`.
    pub fn output(
        store: Py<PyStore>,
        name: String,
        location: String,
        header: MatrixHeader,
        origin: Origin,
        lease: Option<Arc<Lease>>,
    ) -> PyBigMatrix {
        PyBigMatrix {
            store,
            name,
            location,
            header,
            init: Some(Init::Zeros),
            origin: Some(origin),
            lease,
        }
    }

    /// Refuses to read a run's output that has been removed since the
    /// handle was opened: its initialiser (zeros, for the blocks a program
    /// never writes) would otherwise stand in for every block.
    pub(crate) fn check_present(&self, py: Python<'_>) -> PyResult<()> {
        if !self.location.starts_with('~') {
            return Ok(());
        }
        self.check_header(py)
    }

    /// That the matrix's header is still in the store, wherever it is: a
    /// write through a handle to a removed matrix would otherwise leave
    /// headerless tiles, which a new matrix of that name would take up.
    fn check_header(&self, py: Python<'_>) -> PyResult<()> {
        let store = self.store_arc();
        match py.detach(|| store.get_header(&self.location)) {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(raise(
                py,
                "BlockNotFoundError",
                format!(
                    "matrix {:?} is no longer in the store: {} was removed",
                    self.name, self.location
                ),
            )),
            Err(e) => Err(store_error(py, &e)),
        }
    }

    /// Refuses to change what the store keeps in its namespaces: a run's
    /// output (module docs), an input stored by origin.
    fn check_writable(&self, py: Python<'_>) -> PyResult<()> {
        if !self.location.starts_with('~') {
            return Ok(());
        }
        let what = match &self.origin {
            Some(origin) => origin.describe(),
            None => format!("stored at {}", self.location),
        };
        Err(raise(
            py,
            "BlockError",
            format!(
                "matrix {:?} is read-only: it is {what}, kept whole for its readers \
                 (copy it with BigMatrix.from_numpy(m.numpy(), ...) to change it)",
                self.name
            ),
        ))
    }

    /// Block (i, j) checked against the grid, in messages as `A[i, j]`.
    fn block_index(&self, py: Python<'_>, i: i128, j: i128) -> PyResult<(usize, usize)> {
        let (row, col) = (index(i, "block row")?, index(j, "block column")?);
        let inside = row.zip(col).filter(|&(r, c)| self.header.contains(r, c));
        let Some((i, j)) = inside else {
            let [gr, gc] = self.header.grid();
            return Err(raise(
                py,
                "BlockIndexError",
                format!(
                    "block {}[{i}, {j}] is outside its {gr} x {gc} grid of blocks",
                    self.name
                ),
            ));
        };
        Ok((i, j))
    }

    /// A block that may be written: not above a symmetric matrix's
    /// diagonal, not outside a triangular matrix's triangle, not of a
    /// run's output.
    fn writable_block(&self, py: Python<'_>, i: i128, j: i128) -> PyResult<(usize, usize)> {
        let (i, j) = self.block_index(py, i, j)?;
        let name = &self.name;
        if self.header.symmetric && i < j {
            return Err(raise(
                py,
                "BlockError",
                format!(
                    "block {name}[{i}, {j}] is in the upper half of symmetric matrix {name}, \
                     which stores only blocks with i >= j: write block [{j}, {i}] instead"
                ),
            ));
        }
        if self.header.is_zero_tile(i, j) {
            let triangle = self.header.structure().unwrap_or("triangular");
            return Err(raise(
                py,
                "BlockError",
                format!(
                    "block {name}[{i}, {j}] is outside the triangle of {triangle} matrix {name} \
                     (zero by declaration, never stored)"
                ),
            ));
        }
        self.check_writable(py)?;
        Ok((i, j))
    }
}

/// A tile as a new Fortran-order numpy array.
pub fn tile_to_numpy<'py>(py: Python<'py>, tile: &Tile) -> PyResult<Bound<'py, PyAny>> {
    let out = array::empty(py, tile.nrows(), tile.ncols())?;
    let mut view = ArrayView::new(&out, "block")?;
    view.as_mat_mut()?.copy_from(tile.as_ref());
    Ok(out)
}

fn as_float_matrix<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    obj.py()
        .import("lambdapack._arrays")?
        .getattr("as_matrix")?
        .call1((obj, "block"))
}

#[pymethods]
impl PyBigMatrix {
    #[new]
    #[pyo3(signature = (name, shape=None, tile=None, *, store=None, symmetric=false, init=None))]
    fn py_new(
        py: Python<'_>,
        name: &str,
        shape: Option<&Bound<'_, PyAny>>,
        tile: Option<&Bound<'_, PyAny>>,
        store: Option<&Bound<'_, PyAny>>,
        symmetric: bool,
        init: Option<&str>,
    ) -> PyResult<PyBigMatrix> {
        let store = match store {
            Some(arg) => PyStore::from_arg(py, arg)?,
            None => Py::new(py, PyStore::open("mem")?)?,
        };
        let init = init.map(parse_init).transpose()?;
        let (shape, tile) = match (shape, tile) {
            (None, None) => return PyBigMatrix::open(py, store, name, init),
            (Some(shape), Some(tile)) => (shape, tile),
            _ => {
                return Err(PyTypeError::new_err(
                    "BigMatrix needs both shape and tile (or neither, to open an existing matrix)",
                ));
            }
        };
        let header = new_header(parse_shape(shape)?, tile, symmetric)?;
        Ok(PyBigMatrix::create(py, store, name, header, init)?.0)
    }

    /// BigMatrix.open(name, store="mem", init=None): the existing matrix
    /// `name`, from the header in `store`.
    #[staticmethod]
    #[pyo3(name = "open", signature = (name, store=None, init=None))]
    fn open_existing(
        py: Python<'_>,
        name: &str,
        store: Option<&Bound<'_, PyAny>>,
        init: Option<&str>,
    ) -> PyResult<PyBigMatrix> {
        let store = match store {
            Some(arg) => PyStore::from_arg(py, arg)?,
            None => Py::new(py, PyStore::open("mem")?)?,
        };
        let init = init.map(parse_init).transpose()?;
        PyBigMatrix::open(py, store, name, init)
    }

    /// BigMatrix.from_numpy(array, tile, *, name=None, store="mem", symmetric=False)
    ///
    /// Stores a 2-D array as a new BigMatrix, cut into tiles straight from
    /// the array's buffer (no whole-matrix copy); a name that exists is
    /// refused (remove it first to replace it). A symmetric matrix takes
    /// the array's lower triangle; its diagonal blocks must be symmetric
    /// (checked before anything is written). Ctrl-C stops the import
    /// between tiles; a failed or stopped import removes the matrix it
    /// created. In a directory store the matrix is flushed to disk before
    /// it is returned. Without a name, a matrix in a memory store is freed
    /// with its last handle.
    #[staticmethod]
    #[pyo3(signature = (array, tile, *, name=None, store=None, symmetric=false))]
    fn from_numpy(
        py: Python<'_>,
        array: &Bound<'_, PyAny>,
        tile: &Bound<'_, PyAny>,
        name: Option<&str>,
        store: Option<&Bound<'_, PyAny>>,
        symmetric: bool,
    ) -> PyResult<PyBigMatrix> {
        let array = py
            .import("lambdapack._arrays")?
            .getattr("as_matrix")?
            .call1((array, "array"))?;
        let view = ArrayView::new(&array, "array")?;
        let [rows, cols] = view.shape();
        let header = new_header((rows as i64, cols as i64), tile, symmetric)?;
        let store = match store {
            Some(arg) => PyStore::from_arg(py, arg)?,
            None => Py::new(py, PyStore::open("mem")?)?,
        };
        let named = name.is_some();
        let name = name.map_or_else(|| fresh_name("array"), str::to_string);
        let mat = view.as_mat();
        // Checked before anything is written, so that a refused array
        // leaves no matrix behind to block its name.
        if symmetric {
            let info = input_info(&name, header.clone(), None);
            let b = header.tile_shape[0];
            for d in 0..header.grid()[0] {
                let n = header.tile(d, d).rows;
                let mut tile = Tile::zeros(n, n);
                tile.copy_from(mat.submatrix(d * b, d * b, n, n));
                runner::check_symmetric(&tile, &info, d * b).map_err(import_error)?;
            }
        }
        let (this, created) = PyBigMatrix::create(py, store, &name, header, None)?;
        if !created {
            // A published name's output is read-only (said as such); a
            // matrix written block by block is someone's data, and two
            // imports into one name would mix their tiles.
            this.check_writable(py)?;
            return Err(PyValueError::new_err(format!(
                "matrix {name:?} already exists in store {}: from_numpy creates a new matrix, \
                 so remove it first (Store.remove({name:?})) or choose another name",
                this.store.get().spec
            )));
        }
        let (store, info) = (this.store_arc(), this.info());
        let stop = AtomicBool::new(false);
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        // On disk before it is returned, as a run's outputs are
        // (`Store::sync`): a named matrix outlives this process.
        let import = || {
            runner::import_array(store.as_ref(), &info, mat, workers, &stop)?;
            store
                .sync(&this.location)
                .map_err(runner::ImportError::Store)
        };
        // Ctrl-C stops the import between tiles.
        let (result, interrupted) = crate::run::wait_for(py, &stop, import, || Ok(()));
        let failed = match (interrupted, result) {
            (Some(e), _) => Some(e),
            (None, Ok(Ok(()))) => None,
            (None, Ok(Err(runner::ImportError::Store(e)))) => Some(store_error(py, &e)),
            (None, Ok(Err(e))) => Some(import_error(e)),
            (None, Err(_)) => Some(PyRuntimeError::new_err(
                "internal error: from_numpy panicked (please report it)",
            )),
        };
        if let Some(e) = failed {
            // A half-written matrix nobody asked for: the user sees the
            // error, not its tiles.
            let _ = py.detach(|| store.remove_all(&this.location));
            return Err(e);
        }
        let lease = match named {
            true => None,
            false => Lease::new(this.store.get(), &this.location, Vec::new()),
        };
        Ok(PyBigMatrix { lease, ..this })
    }

    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    #[getter]
    fn shape(&self) -> (usize, usize) {
        (self.header.shape[0], self.header.shape[1])
    }

    /// The tile (block) shape, (rows, cols).
    #[getter]
    fn tile(&self) -> (usize, usize) {
        (self.header.tile_shape[0], self.header.tile_shape[1])
    }

    /// The number of block rows and block columns.
    #[getter]
    fn grid(&self) -> (usize, usize) {
        let [r, c] = self.header.grid();
        (r, c)
    }

    #[getter]
    fn symmetric(&self) -> bool {
        self.header.symmetric
    }

    /// "lower" or "upper" for a triangular matrix (a factor), else None.
    #[getter]
    fn triangle(&self) -> Option<&'static str> {
        self.header.triangle.map(|t| t.keyword())
    }

    #[getter]
    fn dtype<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        py.import("numpy")?.getattr("dtype")?.call1(("float64",))
    }

    #[getter]
    fn init(&self) -> Option<String> {
        self.init.as_ref().map(Init::call)
    }

    #[getter]
    fn store(&self, py: Python<'_>) -> Py<PyStore> {
        self.store.clone_ref(py)
    }

    /// Where the tiles are in the store: the name itself, or for a
    /// published name the run's output it pointed at when opened
    /// (`~runs/<run>/L`, as `lpc store ls` shows it).
    #[getter]
    fn location(&self) -> &str {
        &self.location
    }

    /// Where the tiles came from, as `lpc store ls` says it ("L of run
    /// run-... (cholesky.lp)", "spd(42)", "import of a.npy (blake3 ...)"),
    /// or None for a matrix written block by block.
    #[getter]
    fn origin(&self) -> Option<String> {
        self.origin.as_ref().map(Origin::describe)
    }

    /// publish(name) -> BigMatrix: publishes this run's output in its store
    /// under `name`, as `lpc run --publish` does, and returns a handle on
    /// it. Later runs and other processes open it by that name. Atomic: a
    /// reader sees the previous matrix of that name or this one; when two
    /// runs publish one name, the later write wins and the other output
    /// stays under its run's location. A matrix written block by block
    /// cannot be published (nor published over).
    fn publish(&self, py: Python<'_>, name: &str) -> PyResult<PyBigMatrix> {
        if !self.location.starts_with(&format!("{RUNS}/")) {
            return Err(PyValueError::new_err(format!(
                "publish: matrix {:?} is not a run's output (only those can be published)",
                self.name
            )));
        }
        // A removed output would leave the name pointing at nothing.
        self.check_header(py)?;
        publish_at(py, self.store_arc().as_ref(), name, &self.location)?;
        Ok(PyBigMatrix {
            store: self.store.clone_ref(py),
            name: name.to_string(),
            location: self.location.clone(),
            header: self.header.clone(),
            init: self.init,
            origin: self.origin.clone(),
            lease: self.lease.clone(),
        })
    }

    /// get_block(i, j) -> numpy.ndarray: a copy of block (i, j) (for a
    /// symmetric matrix with i < j, the transpose of block (j, i); for a
    /// triangular one, zero outside its triangle).
    fn get_block<'py>(&self, py: Python<'py>, i: i128, j: i128) -> PyResult<Bound<'py, PyAny>> {
        let (i, j) = self.block_index(py, i, j)?;
        self.check_present(py)?;
        let block = self.header.tile(i, j);
        check_fits(&self.name, [block.rows, block.cols])
            .map_err(|e| PyMemoryError::new_err(e.to_string()))?;
        let (store, info) = (self.store_arc(), self.info());
        let tile = py
            .detach(|| matrix::load_tile(store.as_ref(), &info, TileAt::new(i, j)))
            .map_err(|e| matrix_error(py, &e))?;
        tile_to_numpy(py, &tile)
    }

    /// put_block(block, i, j): stores `block` (a 2-D array of block (i, j)'s
    /// exact shape) as block (i, j), replacing what was there.
    fn put_block(
        &self,
        py: Python<'_>,
        block: &Bound<'_, PyAny>,
        i: i128,
        j: i128,
    ) -> PyResult<()> {
        let (i, j) = self.writable_block(py, i, j)?;
        self.check_header(py)?;
        let block = as_float_matrix(block)?;
        let view = ArrayView::new(&block, "block")?;
        let expected = self.header.tile(i, j);
        let [rows, cols] = view.shape();
        if [rows, cols] != [expected.rows, expected.cols] {
            return Err(raise(
                py,
                "BlockError",
                format!(
                    "block {}[{i}, {j}] is {} x {}, but the block given is {rows} x {cols}",
                    self.name, expected.rows, expected.cols
                ),
            ));
        }
        let mut tile = Tile::zeros(rows, cols);
        tile.copy_from(view.as_mat());
        if self.header.symmetric && i == j {
            let origin = i * self.header.tile_shape[0];
            runner::check_symmetric(&tile, &self.info(), origin).map_err(|e| {
                let name = &self.name;
                let message = match e {
                    runner::ImportError::NotSymmetric {
                        row,
                        col,
                        value,
                        mirror,
                        ..
                    } => symmetry_refusal(
                        format_args!("block {name}[{i}, {j}]"),
                        name,
                        (row, col, value, mirror),
                    ),
                    e => e.to_string(),
                };
                raise(py, "BlockError", message)
            })?;
        }
        let store = self.store_arc();
        py.detach(|| store.put_tile(&self.location, i, j, Arc::new(tile)))
            .map_err(|e| store_error(py, &e))
    }

    /// flush(): puts the blocks of this matrix in a directory store on disk
    /// (`fsync`, as a run's outputs and `from_numpy`'s matrices are before
    /// they are returned), so that blocks written with `put_block` survive
    /// a crash of the machine, not only of this process. A memory or S3
    /// store has nothing to do.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        self.check_header(py)?;
        let store = self.store_arc();
        py.detach(|| store.sync(&self.location))
            .map_err(|e| store_error(py, &e))
    }

    /// delete_block(i, j): removes block (i, j) from the store (it then
    /// reads as the initialiser's values, or is missing).
    fn delete_block(&self, py: Python<'_>, i: i128, j: i128) -> PyResult<()> {
        let (i, j) = self.writable_block(py, i, j)?;
        self.store_arc()
            .delete_tile(&self.location, i, j)
            .map_err(|e| store_error(py, &e))
    }

    /// The (i, j) of every stored block, sorted.
    fn blocks(&self, py: Python<'_>) -> PyResult<Vec<(usize, usize)>> {
        matrix::list(self.store_arc().as_ref(), &self.location).map_err(|e| matrix_error(py, &e))
    }

    /// numpy() -> numpy.ndarray: the whole matrix (Fortran order), every
    /// block read as get_block reads it.
    fn numpy<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.check_present(py)?;
        let [rows, cols] = self.header.shape;
        // The whole matrix is one array: refused as a tile that size
        // would be, in words about the array (every tile fits if it does).
        match check_fits(&self.name, [rows, cols]) {
            Ok(()) => {}
            Err(runner::Refusal::TileTooLarge { memory, .. }) => {
                return Err(PyMemoryError::new_err(format!(
                    "matrix {} is {rows} x {cols} doubles, more than the memory this process \
                     may use ({memory} bytes), and numpy() returns it whole: read it block by \
                     block with get_block(i, j)",
                    self.name
                )));
            }
            Err(e) => return Err(PyMemoryError::new_err(e.to_string())),
        }
        let out = array::empty(py, rows, cols)?;
        let mut view = ArrayView::new(&out, "array")?;
        let mat = view.as_mat_mut()?;
        let (store, info) = (self.store_arc(), self.info());
        py.detach(|| runner::export_array(store.as_ref(), &info, mat, false))
            .map_err(|e| matrix_error(py, &e))?;
        Ok(out)
    }

    /// free() -> int: deletes every stored block (the header stays, so the
    /// matrix can be written again); returns how many were deleted.
    fn free(&self, py: Python<'_>) -> PyResult<usize> {
        self.check_writable(py)?;
        let store = self.store_arc();
        py.detach(|| matrix::free_matrix(store.as_ref(), &self.location))
            .map_err(|e| matrix_error(py, &e))
    }

    fn __repr__(&self) -> String {
        let structure = self
            .header
            .structure()
            .map(|s| format!(", {s}"))
            .unwrap_or_default();
        let location = match self.location != self.name {
            true => format!(", location={:?}", self.location),
            false => String::new(),
        };
        format!(
            "BigMatrix({:?}, shape=({}, {}), tile=({}, {}){structure}{location}, store={:?})",
            self.name,
            self.header.shape[0],
            self.header.shape[1],
            self.header.tile_shape[0],
            self.header.tile_shape[1],
            self.store.get().spec
        )
    }

    /// Pickles as (store spec, location, init): the other process reads
    /// the tiles this handle reads, even if its published name has been
    /// published again since. A matrix in a memory store cannot be
    /// pickled (raises pickle.PicklingError).
    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let py = slf.py();
        let this = slf.get();
        if this.store.get().kind == Kind::Mem {
            return Err(memory_pickle_error(
                py,
                &format!("BigMatrix {:?}", this.name),
            ));
        }
        let open = slf.get_type().getattr("open")?;
        let args = PyTuple::new(
            py,
            [
                this.location.clone().into_pyobject(py)?.into_any(),
                this.store.get().spec.clone().into_pyobject(py)?.into_any(),
                this.init().into_pyobject(py)?.into_any(),
            ],
        )?;
        Ok((open, args))
    }

    /// A handle is immutable: a copy is the same handle (the tiles are not
    /// copied).
    fn __copy__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __deepcopy__(slf: Py<Self>, _memo: &Bound<'_, PyAny>) -> Py<Self> {
        slf
    }
}
