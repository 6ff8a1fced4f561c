//! `lambdapack.run`'s native half: bind numpy arrays and BigMatrix handles
//! to a program's matrices, run it with the GIL released, and hand back
//! numpy arrays or BigMatrix handles with the summary.
//!
//! Every step is `lpc run`'s (`lpc::runner`, `lpc::placement` and
//! `lp_runtime::store`'s run namespaces; docs/runtime.md, "Runs sharing a
//! store"): the run gets a record with a heartbeat (`RunGuard`) and a
//! namespace (`~runs/<run>/`) in its store, inputs with an initialiser are
//! read by origin, outputs carry their origin, and a run that fails, is
//! stopped or is killed leaves nothing that `lpc store gc` does not
//! remove. What is Python's own:
//!
//! * **Arrays.** An input array is never imported: the run's store
//!   ([`ArrayStore`], over the run's view of its store) cuts a tile from
//!   its buffer whenever a job reads one. An output array is allocated
//!   (Fortran order, lazily by the OS) before the run and filled as its
//!   jobs store its tiles when no job reads it
//!   ([`ArrayStore::add_output`]), otherwise after the run, tile by tile,
//!   each tile freed once copied. Freed tiles' memory goes back to the OS
//!   as the array fills and when the run ends ([`crate::memory`]).
//! * **BigMatrix inputs** in the run's store with the program's tiling are
//!   read where they are (no copy); others are copied into the run's
//!   namespace, and removed with it.
//! * **What stays.** Outputs returned as BigMatrix handles (`bigmatrix=True`,
//!   versioned outputs) and published ones (`publish=`) stay under the
//!   run's namespace, the run marked finished; a handle reads them at that
//!   location, read-only. A run that keeps nothing removes its namespace.
//!   In a memory store the handles share a [`Lease`]: the run goes with
//!   the last of them (unless an output is published).
//! * **Ctrl-C.** The work runs on its own thread; the calling thread waits
//!   with the GIL released, 100 ms at a time, and between waits checks for
//!   signals (Python's handler has set them) and draws progress. A signal
//!   sets the stop flag; the run stops between jobs, its namespace is
//!   removed, and the signal's exception (KeyboardInterrupt) is raised: no
//!   partial output.

use crate::array::{self, ArrayView, OutputArray, SharedArray};
use crate::array_store::ArrayStore;
use crate::bigmatrix::{self, PyBigMatrix};
use crate::errors::{matrix_error, raise, raise_with, run_error, store_error};
use crate::lease::Lease;
use crate::program;
use crate::store::PyStore;
use faer::MatMut;
use lp_program::{MatrixInfo, Plan, Program, Role};
use lp_runtime::matrix::{self, MatrixError, TileAt};
use lp_runtime::metrics::{Progress, RunSummary};
use lp_runtime::store::location::run_root;
use lp_runtime::store::maintenance::{self, MaintenanceError};
use lp_runtime::store::namespace::Origin;
use lp_runtime::store::runs::{RunGuard, fresh_run_id};
use lp_runtime::store::{Namespace, RunStore, Store, StoreError, validate_matrix_name};
use lp_runtime::verify::{Check, Verification};
use lp_std::Tile;
use lpc::placement::{self, InputSource, PlacementError};
use lpc::runner::{self, Binding, BindingError, ImportError, RunFailure, RunOptions};
use pyo3::exceptions::{PyKeyboardInterrupt, PyMemoryError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// The residual check of a run (`verify=True`).
#[pyclass(module = "lambdapack", name = "Verification", frozen, get_all)]
pub struct PyVerification {
    /// The formula evaluated, e.g. `‖A X − L (Lᵀ X)‖ / (‖A‖ ‖X‖)`.
    pub formula: &'static str,
    pub residual: f64,
    pub tolerance: f64,
    pub passed: bool,
}

#[pymethods]
impl PyVerification {
    fn __repr__(&self) -> String {
        format!(
            "Verification({} = {:.3e}, tolerance {:.1e}: {})",
            self.formula,
            self.residual,
            self.tolerance,
            if self.passed { "ok" } else { "FAILED" }
        )
    }
}

/// What a finished run reports (the summary `lpc run` prints).
#[pyclass(module = "lambdapack", name = "RunSummary", frozen, get_all)]
pub struct PySummary {
    pub wall_seconds: f64,
    pub workers: usize,
    /// Distinct jobs of the program.
    pub jobs: u64,
    /// Job executions, re-deliveries included.
    pub executions: u64,
    pub retries: u64,
    pub flops: f64,
    pub gflops_per_second: f64,
    pub bytes_loaded: u64,
    pub bytes_stored: u64,
    /// Most bytes of temp tiles held at once.
    pub peak_temp_bytes: u64,
    /// The longest chain of dependent jobs (programs of at most 500,000 jobs).
    pub critical_path_jobs: Option<usize>,
    /// Per worker, the seconds it ran no job.
    pub worker_idle_seconds: Vec<f64>,
    /// Jobs that ran on more than one core, lent by workers waiting for a
    /// job.
    pub jobs_on_lent_cores: u64,
    /// Seconds workers idled while a job was ready, in all (a traced run's
    /// only: `trace=`).
    pub idle_while_ready_seconds: Option<f64>,
    /// Per kernel, the longest first: (name, calls, seconds summed over
    /// the workers, useful flops).
    pub kernels: Vec<(&'static str, u64, f64, f64)>,
    /// The process's user and system CPU seconds during the run (all its
    /// threads); system time is where first touching memory is paid.
    pub user_seconds: Option<f64>,
    pub system_seconds: Option<f64>,
    /// The residual check, when the run was asked to verify.
    pub verification: Option<Py<PyVerification>>,
}

#[pymethods]
impl PySummary {
    fn __repr__(&self) -> String {
        format!(
            "RunSummary(jobs={}, wall_seconds={:.3}, gflops_per_second={:.1}, workers={})",
            self.jobs, self.wall_seconds, self.gflops_per_second, self.workers
        )
    }
}

fn summary(py: Python<'_>, s: &RunSummary, v: Option<&Verification>) -> PyResult<PySummary> {
    let verification = v
        .map(|v| {
            Py::new(
                py,
                PyVerification {
                    formula: v.formula,
                    residual: v.residual,
                    tolerance: v.tolerance,
                    passed: v.passed(),
                },
            )
        })
        .transpose()?;
    Ok(PySummary {
        wall_seconds: s.wall.as_secs_f64(),
        workers: s.workers,
        jobs: s.jobs,
        executions: s.executions,
        retries: s.retries,
        flops: s.flops,
        gflops_per_second: s.gflops_per_second(),
        bytes_loaded: s.bytes_loaded,
        bytes_stored: s.bytes_stored,
        peak_temp_bytes: s.peak_temp_bytes,
        critical_path_jobs: s.critical_path_jobs,
        worker_idle_seconds: s.worker_idle.iter().map(|d| d.as_secs_f64()).collect(),
        jobs_on_lent_cores: s.jobs_on_lent_cores.unwrap_or(0),
        idle_while_ready_seconds: s.idle_waits.as_ref().map(|w| w.total.as_secs_f64()),
        user_seconds: s.cpu.map(|c| c.user.as_secs_f64()),
        system_seconds: s.cpu.map(|c| c.system.as_secs_f64()),
        kernels: s
            .kernels
            .iter()
            .map(|k| (k.name, k.calls, k.busy.as_secs_f64(), k.flops))
            .collect(),
        verification,
    })
}

/// What supplies a program's input.
enum Supplied<'py> {
    Array(ArrayView<'py>),
    Matrix(Py<PyBigMatrix>),
}

/// How each program matrix is bound in the run.
#[derive(Clone, PartialEq, Eq)]
enum Use {
    /// Made by the run (temps, outputs, inputs read by their origin).
    Run,
    /// The array `supplied[k]`, whose tiles the run's [`ArrayStore`] cuts
    /// from it as jobs read them.
    Array(usize),
    /// The BigMatrix `supplied[k]` (in another store or tiling), copied
    /// into the run's namespace.
    Copied(usize),
    /// A BigMatrix of the run's store, read in place at this location.
    InPlace(String),
}

fn supplied<'py>(
    py: Python<'py>,
    inputs: &Bound<'py, PyDict>,
) -> PyResult<Vec<(String, Supplied<'py>)>> {
    let as_matrix = py.import("lambdapack._arrays")?.getattr("as_matrix")?;
    let mut out = Vec::new();
    for (key, value) in inputs.iter() {
        let name: String = key.extract()?;
        let what = format!("inputs[{name:?}]");
        let data = match value.cast::<PyBigMatrix>() {
            Ok(m) => Supplied::Matrix(m.clone().unbind()),
            Err(_) => {
                let array = as_matrix.call1((value, what.as_str()))?;
                Supplied::Array(ArrayView::new(&array, &what)?)
            }
        };
        out.push((name, data));
    }
    Ok(out)
}

/// `lpc run`'s binding errors in the words of `lambdapack.run`.
fn binding_error(e: BindingError) -> PyErr {
    let message = match e {
        BindingError::NoSuchMatrix {
            name,
            output,
            known,
        } => {
            let arg = if output { "outputs" } else { "inputs" };
            format!("{arg}: the program has no matrix `{name}` (it has {known})")
        }
        BindingError::NotAnInput { name } => {
            format!("inputs: `{name}` is not an input matrix of the program")
        }
        BindingError::Unsupplied { name } => format!(
            "input matrix `{name}` has no initialiser; pass it as inputs={{\"{name}\": array}}"
        ),
        BindingError::Temp { name } => format!("outputs: {}", runner::temp_output(&name)),
        other => other.to_string(),
    };
    PyValueError::new_err(message)
}

/// Whether the program's matrix can read BigMatrix `m` in place: same
/// store, shape and tiling, and nothing the program reads that `m` does
/// not store (a symmetric `m` lacks upper tiles, a triangular one the
/// other triangle).
fn in_place(m: &PyBigMatrix, info: &MatrixInfo, store: &PyStore) -> bool {
    let (h, p) = (&m.header, &info.header);
    m.store.get().same(store)
        && h.shape == p.shape
        && h.tile_shape == p.tile_shape
        && (!h.symmetric || p.symmetric)
        && (h.triangle.is_none() || h.triangle == p.triangle)
}

/// Decides every matrix's [`Use`] and checks shapes; returns the program
/// as it will run: an input read in place takes its handle's initialiser
/// (for blocks never written). Every other supplied input has all its
/// tiles supplied, so its initialiser is never used.
fn layout(
    program: &Program,
    supplied: &[(String, Supplied)],
    store: &PyStore,
) -> PyResult<(Program, Vec<Use>)> {
    let mut bound = program.clone();
    let mut uses = Vec::new();
    for info in bound.matrices.iter_mut() {
        let found = supplied.iter().position(|(n, _)| *n == info.name);
        let shape = match found.map(|k| &supplied[k].1) {
            Some(Supplied::Array(a)) => Some(a.shape()),
            Some(Supplied::Matrix(m)) => Some(m.get().header.shape),
            None => None,
        };
        if let Some(shape) = shape.filter(|s| *s != info.header.shape) {
            return Err(PyValueError::new_err(format!(
                "inputs[{:?}] is {} x {} but the program's {} is {} x {}",
                info.name,
                shape[0],
                shape[1],
                info.name,
                info.header.shape[0],
                info.header.shape[1]
            )));
        }
        let use_ = match (found, found.map(|k| &supplied[k].1)) {
            (_, Some(Supplied::Matrix(m))) if in_place(m.get(), info, store) => {
                info.init = m.get().init;
                Use::InPlace(m.get().location.clone())
            }
            (Some(k), Some(Supplied::Array(_))) => Use::Array(k),
            (Some(k), _) => Use::Copied(k),
            _ => Use::Run,
        };
        uses.push(use_);
    }
    Ok((bound, uses))
}

/// Checks a general matrix at `at`, read in place as `sym` input `info`,
/// as an array input is checked ([`ArrayStore::check_input`]): the jobs
/// read only its lower triangle, so its diagonal tiles must be symmetric.
/// A `sym` matrix at `at` is, by construction.
fn check_symmetric_at(store: &dyn Store, info: &MatrixInfo, at: &str) -> Result<(), ImportError> {
    let header = match store.get_header(at) {
        Ok(Some(h)) if !h.symmetric => h,
        Ok(_) => return Ok(()),
        Err(e) => return Err(ImportError::Matrix(MatrixError::from(e))),
    };
    let stored = MatrixInfo {
        name: at.to_string(),
        header,
        ..info.clone()
    };
    check_diagonal(store, &stored, info)
}

/// That the diagonal tiles of `stored` are symmetric, errors naming
/// `declared`, the program's matrix they stand for.
fn check_diagonal(
    store: &dyn Store,
    stored: &MatrixInfo,
    declared: &MatrixInfo,
) -> Result<(), ImportError> {
    for d in 0..stored.header.grid()[0] {
        let tile =
            matrix::load_tile(store, stored, TileAt::new(d, d)).map_err(ImportError::Matrix)?;
        runner::check_symmetric(&tile, declared, d * stored.header.tile_shape[0])?;
    }
    Ok(())
}

/// A value handed from the work thread to the waiting one.
struct Slot<T> {
    value: Mutex<Option<T>>,
    ready: Condvar,
}

impl<T> Slot<T> {
    fn put(&self, value: T) {
        *self.value.lock().unwrap_or_else(|e| e.into_inner()) = Some(value);
        self.ready.notify_all();
    }

    fn wait(&self, timeout: Duration) -> Option<T> {
        let guard = self.value.lock().unwrap_or_else(|e| e.into_inner());
        let (mut guard, _) = self
            .ready
            .wait_timeout_while(guard, timeout, |v| v.is_none())
            .unwrap_or_else(|e| e.into_inner());
        guard.take()
    }
}

/// What fails in the work thread, named for the caller.
enum WorkError {
    /// The run's record could not be written.
    Begin(StoreError),
    Place(PlacementError),
    Import(String, ImportError),
    Copy(MatrixError),
    Run(RunFailure),
    Read(MatrixError),
    Verification(Verification),
    /// The stop flag was set after the jobs (the caller holds the signal's
    /// exception to raise).
    Stopped,
    /// Clearing the temporaries or recording the finished run.
    Finish(StoreError),
    Publish(String, MaintenanceError),
    Panicked,
}

/// What a finished run hands back.
struct Done {
    summary: RunSummary,
    verification: Option<Verification>,
    /// Where the kept outputs are.
    ns: Namespace,
}

/// The [`Use::Array`] inputs: (matrix, its array).
type ArrayInputs = Vec<(usize, SharedArray)>;
/// The [`Use::Copied`] inputs: (matrix, its BigMatrix's store, how to read
/// it there).
type CopiedInputs = Vec<(usize, Arc<dyn Store>, MatrixInfo)>;

struct Work<'a> {
    plan: &'a Plan,
    /// The store the run shares with others (it sees locations).
    shared: Arc<dyn Store>,
    /// The program's name in the run's record and its outputs' origins.
    label: String,
    uses: Vec<Use>,
    arrays: ArrayInputs,
    copies: CopiedInputs,
    exports: Vec<(usize, MatMut<'a, f64>)>,
    /// Outputs whose tiles go straight into their arrays
    /// ([`ArrayStore::add_output`]) instead of being exported.
    direct: Vec<(usize, OutputArray)>,
    /// Outputs that stay in the store (returned as handles or published).
    kept: Vec<bool>,
    /// (output, name to publish it as).
    publish: Vec<(usize, String)>,
    check: Option<Check>,
    /// Read `sym` inputs by their lower triangle only
    /// ([`ArrayStore::read_lower`]).
    lower_only: bool,
    opts: RunOptions,
}

/// Copies BigMatrix `src` into the tiles of `dst` (another store or
/// tiling), assembling each destination tile from the source tiles it
/// overlaps. With `lower` (a `sym` input read by its lower triangle, as
/// numpy reads it), what lies strictly above the diagonal is the mirror of
/// what lies below, and is never read from `src`, which may hold nothing
/// there.
fn copy_matrix(
    from: &dyn Store,
    src: &MatrixInfo,
    to: &dyn Store,
    dst: &MatrixInfo,
    lower: bool,
    stop: &AtomicBool,
) -> Result<(), MatrixError> {
    let [dr, dc] = dst.header.tile_shape;
    for (i, j) in runner::stored_tiles(dst) {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let shape = dst.header.tile(i, j);
        let tile = region(from, src, [i * dr, j * dc], [shape.rows, shape.cols], lower)?;
        to.put_tile(&dst.name, i, j, Arc::new(tile))?;
    }
    Ok(())
}

/// The `size` rows and columns of `src` from global position `at`, from
/// the source tiles they overlap; with `lower`, a piece strictly above the
/// diagonal is the transpose of its mirror below it.
fn region(
    from: &dyn Store,
    src: &MatrixInfo,
    [r0, c0]: [usize; 2],
    [rows, cols]: [usize; 2],
    lower: bool,
) -> Result<Tile, MatrixError> {
    let [sr, sc] = src.header.tile_shape;
    let mut tile = Tile::zeros(rows, cols);
    for si in r0 / sr..=(r0 + rows - 1) / sr {
        for sj in c0 / sc..=(c0 + cols - 1) / sc {
            // The overlap, in global coordinates.
            let shape = src.header.tile(si, sj);
            let (top, left) = ((si * sr).max(r0), (sj * sc).max(c0));
            let bottom = (si * sr + shape.rows).min(r0 + rows);
            let right = (sj * sc + shape.cols).min(c0 + cols);
            let (h, w) = (bottom - top, right - left);
            let mut into = tile.as_mut().submatrix_mut(top - r0, left - c0, h, w);
            if lower && bottom <= left {
                let mirror = region(from, src, [left, top], [w, h], false)?;
                lp_std::kernel::transpose_into(mirror.as_ref(), into);
            } else {
                let part = matrix::load_tile(from, src, TileAt::new(si, sj))?;
                into.copy_from(part.as_ref().submatrix(top - si * sr, left - sj * sc, h, w));
            }
        }
    }
    Ok(tile)
}

impl Work<'_> {
    fn program(&self) -> &Program {
        self.plan.program()
    }

    /// The run's namespace, with its inputs placed as `lpc run` places
    /// them (initialised inputs by origin, checked).
    fn place(&self, run: &str) -> Result<Namespace, WorkError> {
        let program = self.program();
        let supplied: Vec<(&str, InputSource)> = program
            .matrices
            .iter()
            .zip(&self.uses)
            .filter_map(|(info, use_)| match use_ {
                Use::Run => None,
                Use::Array(_) | Use::Copied(_) => Some((info.name.as_str(), InputSource::Caller)),
                Use::InPlace(at) => Some((info.name.as_str(), InputSource::At(at))),
            })
            .collect();
        placement::place(self.shared.as_ref(), program, &self.label, run, &supplied)
            .map_err(WorkError::Place)
    }

    /// The store the jobs see: the input arrays over the run's view of
    /// the shared store, with the arrays checked and the copies made.
    fn run_store(&mut self, ns: &Namespace) -> Result<Arc<ArrayStore>, WorkError> {
        let program = self.plan.program();
        let view = RunStore::new(self.shared.clone(), program, ns);
        let mut store = ArrayStore::new(Arc::new(view));
        if self.lower_only {
            let supplied = program.matrices.iter().zip(&self.uses);
            for (info, _) in supplied.filter(|(m, u)| m.header.symmetric && **u != Use::Run) {
                store.read_lower(info);
            }
        }
        for (k, array) in std::mem::take(&mut self.direct) {
            store.add_output(&program.matrices[k], array);
        }
        for (k, array) in std::mem::take(&mut self.arrays) {
            let info = &program.matrices[k];
            store.add_input(info, array);
            store
                .check_input(info)
                .map_err(|e| WorkError::Import(info.name.clone(), e))?;
        }
        if !self.lower_only {
            for (info, use_) in program.matrices.iter().zip(&self.uses) {
                if let (Use::InPlace(at), true) = (use_, info.header.symmetric) {
                    check_symmetric_at(self.shared.as_ref(), info, at)
                        .map_err(|e| WorkError::Import(info.name.clone(), e))?;
                }
            }
        }
        let stop = self.opts.stop.as_ref();
        for (k, from, src) in &self.copies {
            let dst = &program.matrices[*k];
            let lower = self.lower_only && dst.header.symmetric;
            copy_matrix(from.as_ref(), src, &store, dst, lower, stop).map_err(WorkError::Copy)?;
            if dst.header.symmetric && !self.lower_only {
                // As an array's: the jobs read the copy's lower triangle.
                check_diagonal(&store, dst, dst)
                    .map_err(|e| WorkError::Import(dst.name.clone(), e))?;
            }
        }
        Ok(Arc::new(store))
    }

    fn run(mut self, latest: &Mutex<Option<Progress>>) -> Result<Done, WorkError> {
        // From here on, dropping the guard (an error, a stop, a panic)
        // removes everything this run wrote to the store.
        let guard = RunGuard::begin(self.shared.clone(), &fresh_run_id(), &self.label)
            .map_err(WorkError::Begin)?;
        let ns = self.place(&guard.run())?;
        let store = self.run_store(&ns)?;
        let progress =
            |p: &Progress| *latest.lock().unwrap_or_else(|e| e.into_inner()) = Some(p.clone());
        let summary = runner::run_local(self.plan, store.clone(), &self.opts, &progress)
            .map_err(WorkError::Run)?;
        store.finish_outputs();
        let stop = self.opts.stop.as_ref();
        let verification = self
            .check
            .map(|c| runner::verify(store.as_ref(), self.program(), c, stop))
            .transpose()
            .map_err(|e| match e {
                runner::VerifyError::Read(e) => WorkError::Read(e),
                runner::VerifyError::Stopped => WorkError::Stopped,
            })?;
        if let Some(v) = verification.as_ref().filter(|v| !v.passed()) {
            // A wrong answer is not kept, let alone published.
            return Err(WorkError::Verification(v.clone()));
        }
        let plan = self.plan;
        for (k, out) in std::mem::take(&mut self.exports) {
            let free = !self.kept[k];
            runner::export_array(store.as_ref(), &plan.program().matrices[k], out, free)
                .map_err(WorkError::Read)?;
        }
        // A stop that came after the last job must not keep or publish:
        // its signal's exception says nothing was.
        if stop.load(Ordering::SeqCst) {
            return Err(WorkError::Stopped);
        }
        self.keep(store.as_ref(), guard, &ns)?;
        Ok(Done {
            summary,
            verification,
            ns,
        })
    }

    /// Leaves in the store only the kept outputs, in the run's namespace,
    /// the run marked finished, then publishes what was asked. A run that
    /// keeps nothing removes its namespace (record included).
    fn keep(&self, store: &dyn Store, guard: RunGuard, ns: &Namespace) -> Result<(), WorkError> {
        if !self.kept.contains(&true) {
            drop(guard);
            return Ok(());
        }
        let program = self.program();
        placement::remove_temps(store, program).map_err(WorkError::Finish)?;
        for (k, info) in program.matrices.iter().enumerate() {
            let unkept = info.role == Role::Output && !self.kept[k];
            if unkept || matches!(self.uses[k], Use::Copied(_)) {
                for version in 0..info.version_count() as u32 {
                    store
                        .remove_all(&info.stored_name(version))
                        .map_err(WorkError::Finish)?;
                }
            }
        }
        // Finished before published: a name never points into a run that
        // `lpc store gc` could take for dead.
        guard.finish().map_err(WorkError::Finish)?;
        for (k, name) in &self.publish {
            let location = ns.location(&program.matrices[*k]);
            maintenance::publish(self.shared.as_ref(), name, &location)
                .map_err(|e| WorkError::Publish(name.clone(), e))?;
        }
        Ok(())
    }
}

/// What the work thread hands back.
type WorkResult = Result<Done, WorkError>;

/// Runs `work` on its own thread while this one waits with the GIL
/// released, 100 ms at a time, checking for signals and calling `tick` in
/// between, and hands the memory `work` freed back to the OS once it has
/// ended. A signal (Ctrl-C) or a failing `tick` sets `stop`, which `work`
/// must heed, and is returned once `work` has ended, with its result
/// (`Err` if it panicked).
pub fn wait_for<T: Send>(
    py: Python<'_>,
    stop: &AtomicBool,
    work: impl FnOnce() -> T + Send,
    mut tick: impl FnMut() -> PyResult<()>,
) -> (std::thread::Result<T>, Option<PyErr>) {
    let slot = Slot {
        value: Mutex::new(None),
        ready: Condvar::new(),
    };
    std::thread::scope(|s| {
        s.spawn(|| {
            // Caught, so that the slot is always filled.
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
            slot.put(result);
        });
        let mut pending: Option<PyErr> = None;
        loop {
            let waited = py.detach(|| {
                let result = slot.wait(Duration::from_millis(100));
                if result.is_some() {
                    lp_runtime::alloc::purge();
                }
                result
            });
            if let Some(result) = waited {
                return (result, pending);
            }
            if pending.is_some() {
                continue;
            }
            if let Err(e) = py.check_signals().and_then(|()| tick()) {
                stop.store(true, Ordering::SeqCst);
                pending = Some(e);
            }
        }
    })
}

/// Runs `work` with [`wait_for`], drawing progress between waits.
fn supervise<'a>(
    py: Python<'_>,
    work: Work<'a>,
    progress: Option<&Bound<'_, PyAny>>,
) -> (WorkResult, Option<PyErr>) {
    let latest: Mutex<Option<Progress>> = Mutex::new(None);
    let stop = work.opts.stop.clone();
    let draw = || {
        let snapshot = latest.lock().unwrap_or_else(|e| e.into_inner()).take();
        match (progress, snapshot) {
            (Some(cb), Some(p)) => {
                let args = (
                    p.jobs_done,
                    p.jobs_total,
                    p.flops_done,
                    p.elapsed.as_secs_f64(),
                );
                cb.call1(args).map(drop)
            }
            _ => Ok(()),
        }
    };
    // A panic unwinds through the run's guard, which removes its namespace.
    let (result, pending) = wait_for(py, &stop, || work.run(&latest), draw);
    (result.unwrap_or(Err(WorkError::Panicked)), pending)
}

fn work_error(py: Python<'_>, e: WorkError) -> PyErr {
    match e {
        WorkError::Begin(e) => raise(
            py,
            "StoreError",
            format!("cannot start a run in the store: {e}"),
        ),
        WorkError::Place(PlacementError::Store(e)) => store_error(py, &e),
        WorkError::Place(e) => raise(py, "StoreError", e.to_string()),
        WorkError::Import(name, e) => match e {
            ImportError::NotSymmetric { .. } | ImportError::Shape { .. } => PyValueError::new_err(
                crate::bigmatrix::array_refusal(&e, &name, &format!("inputs[{name:?}]")),
            ),
            ImportError::Store(e) => store_error(py, &e),
            e => raise(py, "StoreError", format!("cannot import {name}: {e}")),
        },
        WorkError::Copy(e) | WorkError::Read(e) => matrix_error(py, &e),
        WorkError::Run(RunFailure::Failed(e)) => run_error(py, &e),
        WorkError::Run(e) => raise(py, "RunError", e.to_string()),
        WorkError::Verification(v) => raise_with(
            py,
            "VerificationError",
            format!(
                "the answer failed verification: {} = {:.3e} (tolerance {:.1e})",
                v.formula, v.residual, v.tolerance
            ),
            &[],
        ),
        WorkError::Stopped => raise(py, "RunError", "the run was stopped".to_string()),
        WorkError::Finish(e) => store_error(py, &e),
        WorkError::Publish(name, e) => bigmatrix::publish_error(py, &name, e),
        WorkError::Panicked => PyRuntimeError::new_err(
            "internal error: the run panicked (please report it with the program)",
        ),
    }
}

/// Checks `publish=`: plain outputs of the program, valid names, and a
/// store of the caller's to publish in.
fn check_publish(
    py: Python<'_>,
    program: &Program,
    publish: &[(String, String)],
    shared: bool,
) -> PyResult<Vec<(usize, String)>> {
    if let Some((first, again, as_name)) = placement::published_twice(publish) {
        return Err(PyValueError::new_err(format!(
            "publish: `{again}` and `{first}` are both to be published as `{as_name}`"
        )));
    }
    let mut out = Vec::new();
    for (name, as_name) in publish {
        if !placement::publishable(program, name) {
            return Err(PyValueError::new_err(format!(
                "publish: `{name}` is not a plain output matrix of the program"
            )));
        }
        validate_matrix_name(as_name).map_err(|e| store_error(py, &e))?;
        if !shared {
            return Err(PyValueError::new_err(format!(
                "publish: the run has no store to publish `{name}` in; pass store= \
                 (\"dir:PATH\", \"s3://BUCKET/PREFIX\" or a Store)"
            )));
        }
        let k = program.matrices.iter().position(|m| m.name == *name);
        out.push((k.expect("publishable names a matrix"), as_name.clone()));
    }
    Ok(out)
}

/// The native half of `lambdapack.run` (see `lambdapack/_api.py`, which
/// documents the arguments and converts them). `lower_only` (the
/// numpy-like functions', never `run`'s) reads the `sym` inputs by their
/// lower triangle only, as numpy does, instead of checking their diagonal
/// tiles for symmetry as `lpc run` does.
#[pyfunction]
#[pyo3(signature = (program, params, inputs, outputs, keep, publish, store, workers, verify, trace, progress, lower_only=false))]
#[allow(clippy::too_many_arguments)]
pub fn run_program<'py>(
    py: Python<'py>,
    program: &Bound<'py, PyAny>,
    params: Option<&Bound<'py, PyDict>>,
    inputs: &Bound<'py, PyDict>,
    outputs: Option<Vec<String>>,
    keep: bool,
    publish: Vec<(String, String)>,
    store: Option<&Bound<'py, PyAny>>,
    workers: usize,
    verify: bool,
    trace: Option<PathBuf>,
    progress: Option<&Bound<'py, PyAny>>,
    lower_only: bool,
) -> PyResult<(Bound<'py, PyDict>, PySummary)> {
    let plan = program::plan(py, program, params)?;
    let supplied = supplied(py, inputs)?;
    let original = plan.program();
    let outputs = checked_outputs(original, &supplied, outputs)?;
    check_limits(original, workers)?;
    if let Some(path) = &trace {
        check_trace(original, path)?;
    }
    let check = verify.then(|| verify_check(original)).transpose()?;
    let caller_store = match store {
        Some(arg) => Some(PyStore::from_arg(py, arg)?),
        None => supplied.iter().find_map(|(_, s)| match s {
            Supplied::Matrix(m) => Some(m.get().store.clone_ref(py)),
            Supplied::Array(_) => None,
        }),
    };
    let publish = check_publish(py, original, &publish, caller_store.is_some())?;
    let store_obj = match caller_store {
        Some(s) => s,
        None => Py::new(py, PyStore::private_memory())?,
    };
    // Checked now, as `lpc run` does: a refusal after the run cost it.
    for (_, as_name) in &publish {
        maintenance::check_publishable(store_obj.get().store.as_ref(), as_name)
            .map_err(|e| bigmatrix::publish_error(py, as_name, e))?;
    }
    let wanted: Vec<(String, usize)> = outputs
        .iter()
        .map(|name| {
            let k = original.matrices.iter().position(|m| m.name == *name);
            (name.clone(), k.expect("outputs are checked"))
        })
        .collect();
    // A run's output removed since its handle was opened would read as its
    // initialiser (zeros) everywhere: refused, as reading it is.
    for (_, s) in &supplied {
        if let Supplied::Matrix(m) = s {
            m.get().check_present(py)?;
        }
    }
    let (bound, uses) = layout(original, &supplied, store_obj.get())?;
    let plan = runner::with_initialisers(plan, bound).map_err(PyRuntimeError::new_err)?;
    let request = Request {
        outputs: &wanted,
        keep,
        publish,
        check,
        workers,
        trace,
        lower_only,
    };
    finish_run(py, &plan, supplied, uses, request, store_obj, progress)
}

/// The trace's destination, checked as `lpc run` checks it: a mistyped
/// path costs no run.
fn check_trace(program: &Program, path: &std::path::Path) -> PyResult<()> {
    let source = (
        "the program being run".to_string(),
        std::path::Path::new(&program.source),
    );
    runner::check_destinations(&[("trace".to_string(), path)], &[source])
        .map_err(|e| PyValueError::new_err(e.to_string()))
}

/// The check `verify=True` asks for, or why this program has none.
fn verify_check(program: &Program) -> PyResult<Check> {
    Check::detect(program).ok_or_else(|| {
        PyValueError::new_err(format!(
            "verify=True does not recognise this program; it knows {}",
            Check::KNOWN
        ))
    })
}

/// What `lpc run` refuses before running (`runner::Refusal`).
fn check_limits(program: &Program, workers: usize) -> PyResult<()> {
    let most = lp_runtime::local::MAX_WORKERS;
    if workers > most {
        let message = format!("workers must be at most {most}, found {workers}");
        return Err(PyValueError::new_err(message));
    }
    if let Some(memory) = lp_runtime::local::physical_memory() {
        runner::check_memory(program, memory).map_err(|e| PyMemoryError::new_err(e.to_string()))?;
    }
    Ok(())
}

/// The outputs asked for (by default, every output of the program), after
/// `lpc run`'s checks of the inputs and outputs named.
fn checked_outputs(
    program: &Program,
    supplied: &[(String, Supplied<'_>)],
    outputs: Option<Vec<String>>,
) -> PyResult<Vec<String>> {
    let outputs = outputs.unwrap_or_else(|| {
        let outputs = program.matrices.iter().filter(|m| m.role == Role::Output);
        outputs.map(|m| m.name.clone()).collect()
    });
    fn bindings(names: Vec<&str>) -> Vec<Binding<'_>> {
        names
            .into_iter()
            .map(|name| Binding { name, file: None })
            .collect()
    }
    runner::check_bindings(
        program,
        &bindings(supplied.iter().map(|(n, _)| n.as_str()).collect()),
        &bindings(outputs.iter().map(String::as_str).collect()),
        true,
        true,
    )
    .map_err(binding_error)?;
    Ok(outputs)
}

/// What the caller asked of a run, checked.
struct Request<'a> {
    outputs: &'a [(String, usize)],
    /// Outputs as BigMatrix handles.
    keep: bool,
    publish: Vec<(usize, String)>,
    check: Option<Check>,
    workers: usize,
    trace: Option<PathBuf>,
    /// Read `sym` inputs by their lower triangle only (the numpy-like
    /// functions).
    lower_only: bool,
}

fn finish_run<'py>(
    py: Python<'py>,
    plan: &Plan,
    supplied: Vec<(String, Supplied<'py>)>,
    uses: Vec<Use>,
    request: Request,
    store_obj: Py<PyStore>,
    progress: Option<&Bound<'py, PyAny>>,
) -> PyResult<(Bound<'py, PyDict>, PySummary)> {
    let program = plan.program();
    // Output arrays first, so that a bad request fails before the run.
    let Destinations {
        arrays,
        kept,
        handles,
    } = destinations(py, program, &request)?;
    let mut views: Vec<(usize, ArrayView<'py>)> = Vec::new();
    for (k, a) in &arrays {
        views.push((*k, ArrayView::new(a, "output")?));
    }
    let (direct, exported): (Vec<_>, Vec<_>) = views
        .iter_mut()
        .partition(|(k, _)| writes_directly(plan, &request, &kept, *k));
    let direct: Vec<(usize, OutputArray)> = direct
        .into_iter()
        .map(|(k, v)| OutputArray::new(v).map(|a| (*k, a)))
        .collect::<PyResult<_>>()?;
    let exports: Vec<(usize, MatMut<f64>)> = exported
        .into_iter()
        .map(|(k, v)| v.as_mat_mut().map(|m| (*k, m)))
        .collect::<PyResult<_>>()?;
    let (inputs, copies) = input_sources(&uses, &supplied);
    let workers = if request.workers == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        request.workers
    };
    let work = Work {
        plan,
        shared: store_obj.get().store.clone(),
        label: program.source.clone(),
        uses,
        arrays: inputs,
        copies,
        exports,
        direct,
        kept,
        publish: request.publish.clone(),
        check: request.check,
        lower_only: request.lower_only,
        opts: RunOptions {
            workers,
            trace: request.trace,
            ..RunOptions::default()
        },
    };
    let (result, pending) = supervise(py, work, progress);
    let done = after_interrupt(py, result, pending)?.map_err(|e| work_error(py, e))?;
    let summary = summary(py, &done.summary, done.verification.as_ref())?;
    let locations = handles.iter().flat_map(|&k| {
        let info = &program.matrices[k];
        let versions = 0..info.version_count() as u32;
        versions.map(|v| done.ns.version_location(info, v))
    });
    let locations: Vec<String> = locations.collect();
    let lease = match locations.is_empty() {
        true => None,
        false => Lease::new(store_obj.get(), &run_root(&done.ns.run), locations),
    };
    let out = Outputs {
        program,
        ns: &done.ns,
        store: &store_obj,
        publish: &request.publish,
        lease,
    };
    let result = results(py, &out, request.outputs, &arrays, &handles)?;
    Ok((result, summary))
}

/// The run's result, or the Python exception raised while it ran (a
/// progress callback's, or Ctrl-C). Ctrl-C after the run kept its outputs
/// (while it published them, say) leaves the run whole and what it
/// published in place, so its results are returned and the interrupt is
/// raised right after, in the caller's next statement, as if it had come a
/// moment later.
fn after_interrupt(
    py: Python<'_>,
    result: WorkResult,
    pending: Option<PyErr>,
) -> PyResult<WorkResult> {
    match (result, pending) {
        (Ok(done), Some(e)) if e.is_instance_of::<PyKeyboardInterrupt>(py) => {
            // SAFETY: called with the GIL held; it only flags the interrupt.
            unsafe { pyo3::ffi::PyErr_SetInterrupt() };
            Ok(Ok(done))
        }
        (_, Some(e)) => Err(e),
        (result, None) => Ok(result),
    }
}

/// Where a run's outputs go.
struct Destinations<'py> {
    /// The outputs returned as numpy arrays, allocated before the run.
    arrays: Vec<(usize, Bound<'py, PyAny>)>,
    /// Per matrix: its tiles stay in the store after the run.
    kept: Vec<bool>,
    /// The outputs returned as BigMatrix handles.
    handles: Vec<usize>,
}

fn destinations<'py>(
    py: Python<'py>,
    program: &Program,
    request: &Request,
) -> PyResult<Destinations<'py>> {
    let mut to = Destinations {
        arrays: Vec::new(),
        kept: vec![false; program.matrices.len()],
        handles: Vec::new(),
    };
    for (k, _) in &request.publish {
        to.kept[*k] = true;
    }
    let mut arrays = Vec::new();
    for &(_, k) in request.outputs {
        let info = &program.matrices[k];
        if request.keep || !info.versions.is_empty() {
            to.kept[k] = true;
            to.handles.push(k);
        } else {
            arrays.push(k);
        }
    }
    if let Some(memory) = lp_runtime::local::physical_memory() {
        check_arrays_fit(program, &arrays, memory)?;
    }
    for k in arrays {
        let [rows, cols] = program.matrices[k].header.shape;
        to.arrays.push((k, array::empty(py, rows, cols)?));
    }
    Ok(to)
}

/// Whether output `k`, returned as a numpy array, is written into it as
/// its jobs store its tiles ([`ArrayStore::add_output`]): when no job reads
/// it (a read would cut the tile back from the array where the store hands
/// over the tile it holds), when it is not `sym` (only an export fills in
/// the upper half), and when the store need not hold it after the run (it
/// is not kept, published or read by the residual check).
fn writes_directly(plan: &Plan, request: &Request, kept: &[bool], k: usize) -> bool {
    let info = &plan.program().matrices[k];
    !kept[k] && request.check.is_none() && !info.header.symmetric && !plan.is_loaded(k as u32)
}

/// Refuses, before the run, outputs returned as numpy arrays that together
/// need more than this machine's `memory`: numpy's allocation may succeed
/// (memory is overcommitted) and the process be killed when the run fills
/// them in, its work lost.
fn check_arrays_fit(program: &Program, arrays: &[usize], memory: u64) -> PyResult<()> {
    let bytes = |k: usize| {
        let [rows, cols] = program.matrices[k].header.shape;
        rows as u128 * cols as u128 * std::mem::size_of::<f64>() as u128
    };
    let total: u128 = arrays.iter().map(|&k| bytes(k)).sum();
    if total <= memory as u128 {
        return Ok(());
    }
    let each: Vec<String> = arrays
        .iter()
        .map(|&k| {
            let [rows, cols] = program.matrices[k].header.shape;
            format!("{} {rows} x {cols}", program.matrices[k].name)
        })
        .collect();
    Err(PyMemoryError::new_err(format!(
        "the outputs returned as numpy arrays ({}) need {}, more than this machine's memory \
         ({}): ask for BigMatrix handles instead (bigmatrix=True, with a dir: store)",
        each.join(", "),
        runner::bytes_text(total),
        runner::bytes_text(memory as u128)
    )))
}

/// What each input of the run reads: a caller's numpy array (cut into
/// tiles as jobs read them) or a BigMatrix of another store (copied).
fn input_sources(uses: &[Use], supplied: &[(String, Supplied<'_>)]) -> (ArrayInputs, CopiedInputs) {
    let mut inputs = Vec::new();
    let mut copies = Vec::new();
    for (k, use_) in uses.iter().enumerate() {
        match use_source(use_).map(|s| &supplied[s].1) {
            Some(Supplied::Array(a)) => inputs.push((k, a.share())),
            Some(Supplied::Matrix(m)) => {
                let m = m.get();
                copies.push((k, m.store.get().store.clone(), m.info()));
            }
            None => {}
        }
    }
    (inputs, copies)
}

/// The dict `run` returns: each requested output as the numpy array the
/// run filled, or as BigMatrix handles (a list of them for a versioned
/// matrix).
fn results<'py>(
    py: Python<'py>,
    out: &Outputs<'_>,
    outputs: &[(String, usize)],
    arrays: &[(usize, Bound<'py, PyAny>)],
    handles: &[usize],
) -> PyResult<Bound<'py, PyDict>> {
    let result = PyDict::new(py);
    for &(_, k) in outputs {
        let name = &out.program.matrices[k].name;
        if let Some((_, a)) = arrays.iter().find(|(j, _)| *j == k) {
            result.set_item(name, a)?;
        }
    }
    for &k in handles {
        let info = &out.program.matrices[k];
        let versions = out.handles(py, info)?;
        if info.versions.is_empty() {
            result.set_item(&info.name, versions.into_iter().next())?;
        } else {
            result.set_item(&info.name, versions)?;
        }
    }
    Ok(result)
}

/// The supplied input a [`Use`] takes its values from, if it copies or
/// serves one.
fn use_source(use_: &Use) -> Option<usize> {
    match *use_ {
        Use::Array(k) | Use::Copied(k) => Some(k),
        Use::Run | Use::InPlace(_) => None,
    }
}

/// Where a finished run's kept outputs are.
struct Outputs<'a> {
    program: &'a Program,
    ns: &'a Namespace,
    store: &'a Py<PyStore>,
    publish: &'a [(usize, String)],
    /// What every handle holds in a memory store (`crate::lease`).
    lease: Option<Arc<Lease>>,
}

impl Outputs<'_> {
    /// BigMatrix handles on every version of a kept output, at its
    /// location in the run's namespace, called by its published name if
    /// it has one, else by that location.
    fn handles(&self, py: Python<'_>, info: &MatrixInfo) -> PyResult<Vec<Py<PyBigMatrix>>> {
        let k = self
            .program
            .matrices
            .iter()
            .position(|m| m.name == info.name);
        let published = self
            .publish
            .iter()
            .find(|(j, _)| Some(*j) == k)
            .map(|(_, name)| name.clone());
        let origin = Origin::Run {
            run: self.ns.run.clone(),
            program: self.program.source.clone(),
            matrix: info.name.clone(),
        };
        (0..info.version_count() as u32)
            .map(|v| {
                let location = self.ns.version_location(info, v);
                let name = published.clone().unwrap_or_else(|| location.clone());
                let handle = PyBigMatrix::output(
                    self.store.clone_ref(py),
                    name,
                    location,
                    info.header.clone(),
                    origin.clone(),
                    self.lease.clone(),
                );
                Py::new(py, handle)
            })
            .collect()
    }
}
