//! `lambdapack.run`'s native half: bind numpy arrays and BigMatrix handles
//! to a program's matrices, run it with the GIL released, and hand back
//! numpy arrays or BigMatrix handles with the summary.
//!
//! Every step is `lpc::runner`'s (as `lpc run`); what is Python's own:
//!
//! * **Names.** In a store the caller can see (a directory, the process's
//!   memory store, a BigMatrix's store), every matrix the run creates gets
//!   the run's tag (`L-<tag>`, `S-<tag>.3`), so runs never overwrite each
//!   other's or the caller's matrices; a BigMatrix input in the run's store
//!   with the program's tiling is read where it is (the program's matrix
//!   is renamed to it: no copy). A run with no store of the caller's uses a
//!   private memory store and the program's names.
//! * **Arrays.** An input array is never imported: the run's store
//!   ([`ArrayStore`]) cuts a tile from its buffer whenever a job reads one.
//!   An output array is allocated (Fortran order, lazily by the OS) before
//!   the run and filled after it tile by tile, each tile freed once copied.
//!   Freed tiles' memory goes back to the OS during the run ([`memory`]).
//! * **Ctrl-C.** The work runs on its own thread; the calling thread waits
//!   with the GIL released, 100 ms at a time, and between waits checks for
//!   signals (Python's handler has set them) and draws progress. A signal
//!   sets the stop flag; the run stops between jobs, the matrices it
//!   created are deleted, and the signal's exception (KeyboardInterrupt)
//!   is raised: no partial output.

use crate::array::{self, ArrayView};
use crate::array_store::ArrayStore;
use crate::bigmatrix::PyBigMatrix;
use crate::errors::{matrix_error, raise, raise_with, run_error};
use crate::memory;
use crate::program;
use crate::store::PyStore;
use faer::MatMut;
use lp_program::{MatrixInfo, Plan, Program, Role};
use lp_runtime::matrix::{self, MatrixError};
use lp_runtime::metrics::{Progress, RunSummary};
use lp_runtime::store::Store;
use lp_runtime::verify::{Check, Verification};
use lp_std::Tile;
use lpc::runner::{self, Binding, BindingError, ImportError, RunFailure, RunOptions};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
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
        verification,
    })
}

/// What supplies a program's input.
enum Supplied<'py> {
    Array(ArrayView<'py>),
    Matrix(Py<PyBigMatrix>),
}

/// How each program matrix is bound in the run.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Use {
    /// Created by the run (temps, outputs, inputs with an initialiser).
    Run,
    /// The array `supplied[k]`, whose tiles the run's [`ArrayStore`] cuts
    /// from it as jobs read them.
    Array(usize),
    /// The BigMatrix `supplied[k]` (in another store or tiling), copied.
    Copied(usize),
    /// The caller's BigMatrix `supplied[k]`, read in place.
    InPlace(usize),
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

/// Decides every matrix's [`Use`], checks shapes, and returns the program
/// as it will run (renamed where the store is shared).
fn layout(
    program: &Program,
    supplied: &[(String, Supplied)],
    store: &PyStore,
    shared: bool,
    tag: &str,
) -> PyResult<(Program, Vec<Use>)> {
    let mut renamed = program.clone();
    let mut uses = Vec::new();
    for info in renamed.matrices.iter_mut() {
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
            (Some(k), Some(Supplied::Matrix(m))) if in_place(m.get(), info, store) => {
                info.name = m.get().name.clone();
                info.init = m.get().init;
                Use::InPlace(k)
            }
            (Some(k), Some(Supplied::Array(_))) => {
                info.init = None;
                Use::Array(k)
            }
            (Some(k), _) => {
                info.init = None;
                Use::Copied(k)
            }
            _ => Use::Run,
        };
        if shared && use_ != Use::InPlace(found.unwrap_or(usize::MAX)) {
            info.name = format!("{}-{tag}", info.name);
        }
        uses.push(use_);
    }
    Ok((renamed, uses))
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
    Headers(String),
    Import(String, ImportError),
    Copy(MatrixError),
    Run(RunFailure),
    Read(MatrixError),
    Panicked,
}

struct Work<'a> {
    plan: &'a Plan,
    store: Arc<ArrayStore>,
    /// The [`Use::Copied`] inputs: (matrix, its BigMatrix's store, how to
    /// read it there).
    copies: Vec<(usize, Arc<dyn Store>, MatrixInfo)>,
    exports: Vec<(usize, MatMut<'a, f64>)>,
    /// Matrices whose headers are written (those kept in the store).
    kept: Vec<bool>,
    uses: Vec<Use>,
    check: Option<Check>,
    opts: RunOptions,
    workers: usize,
    /// A directory store's root, whose emptied matrix folders are removed.
    dir: Option<PathBuf>,
}

/// Copies BigMatrix `src` into the tiles of `dst` (another store or
/// tiling), assembling each destination tile from the source tiles it
/// overlaps.
fn copy_matrix(
    from: &dyn Store,
    src: &MatrixInfo,
    to: &dyn Store,
    dst: &MatrixInfo,
    stop: &AtomicBool,
) -> Result<(), MatrixError> {
    let [sr, sc] = src.header.tile_shape;
    let [dr, dc] = dst.header.tile_shape;
    for (i, j) in runner::stored_tiles(dst) {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let shape = dst.header.tile(i, j);
        let (r0, c0) = (i * dr, j * dc);
        let mut tile = Tile::zeros(shape.rows, shape.cols);
        for si in r0 / sr..=(r0 + shape.rows - 1) / sr {
            for sj in c0 / sc..=(c0 + shape.cols - 1) / sc {
                let part = matrix::load_tile(from, src, 0, si, sj, false)?;
                // The overlap, in global coordinates.
                let (top, left) = ((si * sr).max(r0), (sj * sc).max(c0));
                let bottom = (si * sr + part.nrows()).min(r0 + shape.rows);
                let right = (sj * sc + part.ncols()).min(c0 + shape.cols);
                let (h, w) = (bottom - top, right - left);
                tile.as_mut()
                    .submatrix_mut(top - r0, left - c0, h, w)
                    .copy_from(part.as_ref().submatrix(top - si * sr, left - sj * sc, h, w));
            }
        }
        to.put_tile(&dst.name, i, j, Arc::new(tile))?;
    }
    Ok(())
}

impl Work<'_> {
    fn program(&self) -> &Program {
        self.plan.program()
    }

    /// Checks the input arrays and copies the BigMatrix inputs to copy.
    fn import(&self) -> Result<(), WorkError> {
        let matrices = &self.program().matrices;
        for (info, use_) in matrices.iter().zip(&self.uses) {
            if let Use::Array(_) = use_ {
                self.store
                    .check_input(info)
                    .map_err(|e| WorkError::Import(info.name.clone(), e))?;
            }
        }
        let stop = self.opts.stop.as_ref();
        for (k, from, src) in &self.copies {
            copy_matrix(from.as_ref(), src, self.store.as_ref(), &matrices[*k], stop)
                .map_err(WorkError::Copy)?;
        }
        Ok(())
    }

    fn run(
        mut self,
        latest: &Mutex<Option<Progress>>,
    ) -> Result<(RunSummary, Option<Verification>), WorkError> {
        self.import()?;
        let progress =
            |p: &Progress| *latest.lock().unwrap_or_else(|e| e.into_inner()) = Some(p.clone());
        let summary = runner::run_local(self.plan, self.store.clone(), &self.opts, &progress)
            .map_err(WorkError::Run)?;
        let verification = self
            .check
            .map(|c| runner::verify(self.store.as_ref(), self.program(), c))
            .transpose()
            .map_err(WorkError::Read)?;
        let plan = self.plan;
        for (k, out) in std::mem::take(&mut self.exports) {
            runner::export_array(self.store.as_ref(), &plan.program().matrices[k], out, true)
                .map_err(WorkError::Read)?;
        }
        // The kept matrices' headers last: a run that fails leaves no
        // header behind (a store's trait deletes tiles, not headers).
        let kept = &self.kept;
        let program = plan.program();
        runner::write_headers(self.store.as_ref(), program, &|info| {
            let k = program.matrices.iter().position(|m| m.name == info.name);
            !k.is_some_and(|k| kept[k])
        })
        .map_err(WorkError::Headers)?;
        Ok((summary, verification))
    }

    /// Removes matrix `name`'s folder from a directory store once its tiles
    /// are gone: the `Store` trait deletes tiles, not headers, and an empty
    /// folder or a lone header of a run that failed would look like output.
    /// `remove_dir` refuses a folder that still holds anything.
    fn remove_folder(&self, name: &str) {
        if let Some(root) = &self.dir {
            let folder = root.join(name);
            let _ = std::fs::remove_file(folder.join("header.json"));
            let _ = std::fs::remove_dir(&folder);
        }
    }

    /// Deletes the tiles of the matrices the run made that nobody keeps
    /// (after a failure: all it made). Best effort: the run's result or
    /// error matters more than a stray tile.
    fn clean(&self, failed: bool) {
        for (k, info) in self.program().matrices.iter().enumerate() {
            let made = matches!(self.uses[k], Use::Run | Use::Copied(_));
            if made && (failed || !self.kept[k]) {
                for v in 0..info.version_count() as u32 {
                    let name = info.stored_name(v);
                    let _ = matrix::free_matrix(self.store.as_ref(), &name);
                    self.remove_folder(&name);
                }
            }
        }
    }
}

/// What the work thread hands back.
type WorkResult = Result<(RunSummary, Option<Verification>), WorkError>;

/// Runs `work` on its own thread while this one waits with the GIL
/// released, checking for signals and drawing progress between waits and
/// handing freed memory back to the OS at each.
fn supervise<'a>(
    py: Python<'_>,
    work: Work<'a>,
    progress: Option<&Bound<'_, PyAny>>,
) -> (WorkResult, Option<PyErr>) {
    let slot = Slot {
        value: Mutex::new(None),
        ready: Condvar::new(),
    };
    let latest: Mutex<Option<Progress>> = Mutex::new(None);
    let stop = work.opts.stop.clone();
    std::thread::scope(|s| {
        s.spawn(|| {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let cleaner = work.shallow();
                let result = work.run(&latest);
                cleaner.clean(result.is_err());
                result
            }));
            slot.put(result.unwrap_or(Err(WorkError::Panicked)));
        });
        let mut pending: Option<PyErr> = None;
        loop {
            let waited = py.detach(|| {
                let result = slot.wait(Duration::from_millis(100));
                memory::release_free_memory();
                result
            });
            if let Some(result) = waited {
                return (result, pending);
            }
            if pending.is_some() {
                continue;
            }
            if let Err(e) = py.check_signals() {
                stop.store(true, Ordering::SeqCst);
                pending = Some(e);
                continue;
            }
            let snapshot = latest.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let (Some(cb), Some(p)) = (progress, snapshot) {
                let args = (
                    p.jobs_done,
                    p.jobs_total,
                    p.flops_done,
                    p.elapsed.as_secs_f64(),
                );
                if let Err(e) = cb.call1(args) {
                    stop.store(true, Ordering::SeqCst);
                    pending = Some(e);
                }
            }
        }
    })
}

impl<'a> Work<'a> {
    /// The same run without its borrowed buffers (for cleaning up).
    fn shallow(&self) -> Work<'a> {
        Work {
            plan: self.plan,
            store: self.store.clone(),
            copies: Vec::new(),
            exports: Vec::new(),
            kept: self.kept.clone(),
            uses: self.uses.clone(),
            check: self.check,
            opts: self.opts.clone(),
            workers: self.workers,
            dir: self.dir.clone(),
        }
    }
}

fn work_error(py: Python<'_>, e: WorkError) -> PyErr {
    match e {
        WorkError::Headers(m) => raise(py, "StoreError", m),
        WorkError::Import(name, e) => match e {
            ImportError::NotSymmetric { .. } | ImportError::Shape { .. } => {
                PyValueError::new_err(e.to_string().replace(
                    &format!("the array for {name}"),
                    &format!("inputs[{:?}]", base_name(&name)),
                ))
            }
            ImportError::Store(e) => crate::errors::store_error(py, &e),
            e => raise(py, "StoreError", format!("cannot import {name}: {e}")),
        },
        WorkError::Copy(e) | WorkError::Read(e) => matrix_error(py, &e),
        WorkError::Run(RunFailure::Failed(e)) => run_error(py, &e),
        WorkError::Run(e) => raise(py, "RunError", e.to_string()),
        WorkError::Panicked => PyRuntimeError::new_err(
            "internal error: the run panicked (please report it with the program)",
        ),
    }
}

/// A run-tagged name without its tag, for messages.
fn base_name(name: &str) -> &str {
    name.split('-').next().unwrap_or(name)
}

/// A tag unique to one run: in the process (a counter) and across the
/// processes sharing a directory (the process id and the clock).
fn run_tag() -> String {
    crate::bigmatrix::fresh_name("run")
        .trim_start_matches("run-")
        .to_string()
}

/// The native half of `lambdapack.run` (see `lambdapack/_api.py`, which
/// documents the arguments and converts them).
#[pyfunction]
#[pyo3(signature = (program, params, inputs, outputs, keep, store, workers, verify, trace, progress))]
#[allow(clippy::too_many_arguments)]
pub fn run_program<'py>(
    py: Python<'py>,
    program: &Bound<'py, PyAny>,
    params: Option<&Bound<'py, PyDict>>,
    inputs: &Bound<'py, PyDict>,
    outputs: Option<Vec<String>>,
    keep: bool,
    store: Option<&Bound<'py, PyAny>>,
    workers: usize,
    verify: bool,
    trace: Option<PathBuf>,
    progress: Option<&Bound<'py, PyAny>>,
) -> PyResult<(Bound<'py, PyDict>, PySummary)> {
    let plan = program::plan(py, program, params)?;
    let supplied = supplied(py, inputs)?;
    let original = plan.program();
    // By default, every output of the program.
    let outputs = outputs.unwrap_or_else(|| {
        let outputs = original.matrices.iter().filter(|m| m.role == Role::Output);
        outputs.map(|m| m.name.clone()).collect()
    });
    fn bindings(names: Vec<&str>) -> Vec<Binding<'_>> {
        names
            .into_iter()
            .map(|name| Binding { name, file: None })
            .collect()
    }
    runner::check_bindings(
        original,
        &bindings(supplied.iter().map(|(n, _)| n.as_str()).collect()),
        &bindings(outputs.iter().map(String::as_str).collect()),
        true,
        true,
    )
    .map_err(binding_error)?;
    let check = match verify {
        true => Some(Check::detect(original).ok_or_else(|| {
            PyValueError::new_err(format!(
                "verify=True does not recognise this program; it knows {}",
                Check::KNOWN
            ))
        })?),
        false => None,
    };
    let caller_store = match store {
        Some(arg) => Some(PyStore::from_arg(py, arg)?),
        None => supplied.iter().find_map(|(_, s)| match s {
            Supplied::Matrix(m) => Some(m.get().store.clone_ref(py)),
            Supplied::Array(_) => None,
        }),
    };
    let shared = caller_store.is_some();
    let store_obj = match caller_store {
        Some(s) => s,
        None => Py::new(py, PyStore::private_memory())?,
    };
    let mut wanted = Vec::new();
    for name in &outputs {
        let k = original.matrices.iter().position(|m| m.name == *name);
        wanted.push((
            name.clone(),
            k.ok_or_else(|| {
                PyValueError::new_err(format!("outputs: the program has no matrix `{name}`"))
            })?,
        ));
    }
    let (renamed, uses) = layout(original, &supplied, store_obj.get(), shared, &run_tag())?;
    let plan = if shared || uses.iter().any(|u| matches!(u, Use::InPlace(_))) {
        Plan::new(renamed).map_err(|e| {
            // Renaming matrices cannot make a valid program invalid.
            PyRuntimeError::new_err(format!(
                "internal error: the renamed program does not plan: {e:?}"
            ))
        })?
    } else {
        plan
    };
    finish_run(
        py, &plan, supplied, uses, &wanted, keep, store_obj, workers, check, trace, progress,
    )
}

#[allow(clippy::too_many_arguments)]
fn finish_run<'py>(
    py: Python<'py>,
    plan: &Plan,
    supplied: Vec<(String, Supplied<'py>)>,
    uses: Vec<Use>,
    outputs: &[(String, usize)],
    keep: bool,
    store_obj: Py<PyStore>,
    workers: usize,
    check: Option<Check>,
    trace: Option<PathBuf>,
    progress: Option<&Bound<'py, PyAny>>,
) -> PyResult<(Bound<'py, PyDict>, PySummary)> {
    let program = plan.program();
    // Output arrays first, so that a bad request fails before the run.
    let mut arrays: Vec<(usize, Bound<'py, PyAny>)> = Vec::new();
    let mut kept = vec![false; program.matrices.len()];
    for &(_, k) in outputs {
        let info = &program.matrices[k];
        if keep || !info.versions.is_empty() {
            kept[k] = true;
        } else {
            arrays.push((
                k,
                array::empty(py, info.header.shape[0], info.header.shape[1])?,
            ));
        }
    }
    let mut views: Vec<(usize, ArrayView<'py>)> = Vec::new();
    for (k, a) in &arrays {
        views.push((*k, ArrayView::new(a, "output")?));
    }
    let exports: Vec<(usize, MatMut<f64>)> = views
        .iter_mut()
        .map(|(k, v)| v.as_mat_mut().map(|m| (*k, m)))
        .collect::<PyResult<_>>()?;
    let mut array_store = ArrayStore::new(store_obj.get().store.clone());
    let mut copies = Vec::new();
    for (k, use_) in uses.iter().enumerate() {
        match *use_ {
            Use::Array(s) | Use::Copied(s) => match &supplied[s].1 {
                Supplied::Array(a) => array_store.add_input(&program.matrices[k], a.share()),
                Supplied::Matrix(m) => {
                    let m = m.get();
                    copies.push((k, m.store.get().store.clone(), m.info()));
                }
            },
            Use::Run | Use::InPlace(_) => {}
        }
    }
    let workers = if workers == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        workers
    };
    let work = Work {
        plan,
        store: Arc::new(array_store),
        copies,
        exports,
        kept: kept.clone(),
        uses,
        check,
        opts: RunOptions {
            workers,
            trace,
            ..RunOptions::default()
        },
        workers,
        dir: store_obj.get().dir(),
    };
    let (result, pending) = supervise(py, work, progress);
    if let Some(e) = pending {
        return Err(e);
    }
    let (run_summary, verification) = result.map_err(|e| work_error(py, e))?;
    let summary = summary(py, &run_summary, verification.as_ref())?;
    if let Some(v) = verification.as_ref().filter(|v| !v.passed()) {
        return Err(raise_with(
            py,
            "VerificationError",
            format!(
                "the answer failed verification: {} = {:.3e} (tolerance {:.1e})",
                v.formula, v.residual, v.tolerance
            ),
            &[],
        ));
    }
    let result = collect(py, program, outputs, arrays, &kept, &store_obj)?;
    Ok((result, summary))
}

/// The outputs by name: the filled arrays, and BigMatrix handles on the
/// kept matrices (a list of handles for a versioned one).
fn collect<'py>(
    py: Python<'py>,
    program: &Program,
    outputs: &[(String, usize)],
    arrays: Vec<(usize, Bound<'py, PyAny>)>,
    kept: &[bool],
    store_obj: &Py<PyStore>,
) -> PyResult<Bound<'py, PyDict>> {
    let result = PyDict::new(py);
    let name_of = |k: usize| {
        outputs
            .iter()
            .find(|(_, o)| *o == k)
            .map(|(n, _)| n.clone())
    };
    for (k, a) in arrays {
        result.set_item(name_of(k), a)?;
    }
    for (name, k) in outputs.iter().filter(|(_, k)| kept[*k]) {
        let info = &program.matrices[*k];
        let handles = handles(py, store_obj, info)?;
        if info.versions.is_empty() {
            result.set_item(name, handles.into_iter().next())?;
        } else {
            result.set_item(name, handles)?;
        }
    }
    Ok(result)
}

/// BigMatrix handles on every version of a kept output (read as outputs
/// are: tiles the program never writes are zero).
fn handles(
    py: Python<'_>,
    store: &Py<PyStore>,
    info: &MatrixInfo,
) -> PyResult<Vec<Py<PyBigMatrix>>> {
    let init = (info.role == Role::Output).then_some(lp_std::Init::Zeros);
    (0..info.version_count() as u32)
        .map(|v| {
            let handle = PyBigMatrix {
                store: store.clone_ref(py),
                name: info.stored_name(v),
                header: info.header.clone(),
                init,
            };
            Py::new(py, handle)
        })
        .collect()
}
