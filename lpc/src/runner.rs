//! Running a program: the steps `lpc run` and the Python package
//! (`python/`) share, so that both validate, import, run, export and verify
//! the same way and say the same things.
//!
//! The steps, in the order a caller takes them (each is a function here;
//! callers print or raise between them):
//!
//! 1. [`StoreSpec::parse`] and [`StoreSpec::open`]: where tiles live.
//! 2. [`check_bindings`]: every input and output named is a matrix of the
//!    right kind, every input without an initialiser is supplied, before a
//!    tile is computed ([`BindingError`] renders the CLI's wording; other
//!    callers match on the variants); [`check_workers`],
//!    `check_destination` per file the run writes and [`check_memory`]:
//!    what this machine and file system cannot do, refused as a
//!    [`Refusal`] before anything runs.
//! 3. `crate::placement` puts the inputs in the store (a whole `.npy` file
//!    streamed in chunks of whole tiles by `lp_runtime::matrix`) and writes
//!    the outputs' headers; an in-memory array is cut into tiles by
//!    [`import_array`], straight from the caller's buffer, one tile at a
//!    time, with no whole-matrix copy.
//! 4. [`run_local`] (or another backend through [`classify`]): the run, with
//!    a progress callback and a stop flag; a stopped run is
//!    [`RunFailure::Interrupted`].
//! 5. [`verify()`]: the residual check, and [`export_npy_staged`] (committed
//!    once every output is written) or [`export_array`]: an output as one
//!    matrix.
//!
//! Nothing here prints: errors are values whose `Display` is the one-line
//! message `lpc run` shows after `error: `.

use faer::prelude::ReborrowMut;
use faer::{MatMut, MatRef};
use lp_program::{MatrixInfo, Plan, Program, Role};
use lp_runtime::local::{LocalOptions, Schedule};
use lp_runtime::matrix::{self, MatrixError, TileAt};
use lp_runtime::metrics::{Progress, RunSummary};
use lp_runtime::protocol::RunError;
use lp_runtime::store::{DirStore, MemStore, Store, StoreError};
use lp_runtime::verify::{self, Check, Verification};
use lp_std::{Init, Tile};
use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// Where the tiles of a local run live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreSpec {
    /// In memory, for this run (or this process) only.
    Mem,
    /// One `.npy` file per tile under a directory: for matrices larger than
    /// RAM, and for tiles that outlive the process.
    Dir(PathBuf),
}

impl StoreSpec {
    /// `mem` or `dir:PATH`.
    pub fn parse(s: &str) -> Result<StoreSpec, String> {
        match s.split_once(':') {
            None if s == "mem" => Ok(StoreSpec::Mem),
            Some(("dir", path)) if !path.is_empty() => Ok(StoreSpec::Dir(PathBuf::from(path))),
            _ => Err(format!("expected `mem` or `dir:PATH`, found `{s}`")),
        }
    }

    /// A new store of this kind (a memory store starts empty; a directory
    /// is created if needed).
    pub fn open(&self) -> Result<Arc<dyn Store>, String> {
        Ok(match self {
            StoreSpec::Mem => Arc::new(MemStore::new()),
            StoreSpec::Dir(path) => Arc::new(
                DirStore::open(path)
                    .map_err(|e| format!("cannot open store {}: {e}", path.display()))?,
            ),
        })
    }
}

/// A binding that does not fit the program. `Display` is `lpc run`'s
/// wording (with its `--input`/`--output` flags).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BindingError {
    /// No matrix of that name; `known` lists the program's matrices.
    NoSuchMatrix {
        name: String,
        output: bool,
        known: String,
    },
    NotAnInput {
        name: String,
    },
    InputTwice {
        name: String,
    },
    NotAFile {
        name: String,
        path: PathBuf,
    },
    /// A versioned matrix named as a whole-matrix output.
    Versioned {
        name: String,
    },
    /// A temp named as an output: its tiles are gone by the end.
    Temp {
        name: String,
    },
    OutputFileTwice {
        path: PathBuf,
    },
    /// An input with no initialiser that nothing supplies.
    Unsupplied {
        name: String,
    },
}

impl fmt::Display for BindingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BindingError::NoSuchMatrix {
                name,
                output,
                known,
            } => {
                let flag = if *output { "--output" } else { "--input" };
                write!(
                    f,
                    "{flag} {name}: no matrix `{name}` (the program has {known})"
                )
            }
            BindingError::NotAnInput { name } => {
                write!(f, "--input {name}: `{name}` is not an input matrix")
            }
            BindingError::InputTwice { name } => write!(f, "--input {name} is given twice"),
            BindingError::NotAFile { name, path } => {
                write!(f, "--input {name}: {} is not a file", path.display())
            }
            BindingError::Versioned { name } => write!(
                f,
                "--output {name}: `{name}` is versioned; only plain matrices are written to `.npy` files"
            ),
            BindingError::Temp { name } => write!(f, "--output {name}: {}", temp_output(name)),
            BindingError::OutputFileTwice { path } => {
                write!(f, "--output: {} is named twice", path.display())
            }
            BindingError::Unsupplied { name } => write!(
                f,
                "input matrix `{name}` has no initialiser; supply it with --input {name}=FILE.npy"
            ),
        }
    }
}

impl std::error::Error for BindingError {}

/// `plan` with the initialisers of the `supplied` inputs dropped: such an
/// input is read from its file or stored matrix alone, and a tile missing
/// there must fail the run, not be made up by the initialiser the
/// program declares (which once answered, silently, for a stored matrix
/// written only in part).
pub fn without_initialisers(plan: Plan, supplied: &[&str]) -> Result<Plan, String> {
    let mut program = plan.program().clone();
    for m in &mut program.matrices {
        if supplied.contains(&m.name.as_str()) {
            m.init = None;
        }
    }
    with_initialisers(plan, program)
}

/// `plan`, or the plan of `bound` (its program with the inputs'
/// initialisers changed by how they are supplied) when an initialiser did
/// change. Used by `lpc run` and the Python package alike.
pub fn with_initialisers(plan: Plan, bound: Program) -> Result<Plan, String> {
    let original = &plan.program().matrices;
    if bound
        .matrices
        .iter()
        .zip(original)
        .all(|(b, o)| b.init == o.init)
    {
        return Ok(plan);
    }
    // Initialisers enter none of the plan's checks.
    Plan::new(bound).map_err(|e| {
        format!("internal error: the program with its inputs bound does not plan: {e:?}")
    })
}

/// Why temp `name` cannot be an output, for `lpc run` and Python alike.
pub fn temp_output(name: &str) -> String {
    format!(
        "`{name}` is a temp of the program (a run frees its tiles as it goes); \
         only its inputs and outputs can be read back"
    )
}

/// An input or output named by the caller; `file` is the `.npy` file it
/// is read from or written to, if it is one.
#[derive(Clone, Copy, Debug)]
pub struct Binding<'a> {
    pub name: &'a str,
    pub file: Option<&'a Path>,
}

fn find<'p>(program: &'p Program, name: &str) -> Option<&'p MatrixInfo> {
    program.matrices.iter().find(|m| m.name == name)
}

fn matrix_names(program: &Program) -> String {
    let names: Vec<&str> = program.matrices.iter().map(|m| m.name.as_str()).collect();
    names.join(", ")
}

/// Every input names an input matrix (once; a file input names a file),
/// every output an input or output matrix (a plain one unless
/// `versioned_outputs`), no
/// output file twice; with `require_inputs`, every input without an
/// initialiser is supplied (a fresh memory store holds only what is
/// supplied now; a directory store may hold an earlier import).
pub fn check_bindings(
    program: &Program,
    inputs: &[Binding],
    outputs: &[Binding],
    versioned_outputs: bool,
    require_inputs: bool,
) -> Result<(), BindingError> {
    let no_such = |name: &str, output| BindingError::NoSuchMatrix {
        name: name.to_string(),
        output,
        known: matrix_names(program),
    };
    let mut supplied = HashSet::new();
    for input in inputs {
        let name = input.name.to_string();
        match find(program, input.name) {
            None => return Err(no_such(input.name, false)),
            Some(m) if m.role != Role::Input => return Err(BindingError::NotAnInput { name }),
            Some(_) if !supplied.insert(input.name) => {
                return Err(BindingError::InputTwice { name });
            }
            Some(_) => {}
        }
        if let Some(path) = input.file.filter(|p| !p.is_file()) {
            let path = path.to_path_buf();
            return Err(BindingError::NotAFile { name, path });
        }
    }
    let mut files = HashSet::new();
    for output in outputs {
        match find(program, output.name) {
            None => return Err(no_such(output.name, true)),
            Some(m) if m.role == Role::Temp => {
                let name = output.name.to_string();
                return Err(BindingError::Temp { name });
            }
            Some(m) if !m.versions.is_empty() && !versioned_outputs => {
                let name = output.name.to_string();
                return Err(BindingError::Versioned { name });
            }
            Some(_) => {}
        }
        if let Some(path) = output.file.filter(|p| !files.insert(*p)) {
            let path = path.to_path_buf();
            return Err(BindingError::OutputFileTwice { path });
        }
    }
    let unsupplied = program
        .matrices
        .iter()
        .find(|m| m.role == Role::Input && m.init.is_none() && !supplied.contains(m.name.as_str()));
    match unsupplied {
        Some(m) if require_inputs => Err(BindingError::Unsupplied {
            name: m.name.clone(),
        }),
        _ => Ok(()),
    }
}

/// A run refused before it starts, because of what this machine or the
/// file system cannot do. `Display` is `lpc run`'s wording.
#[derive(Debug)]
pub enum Refusal {
    /// More worker threads than a local run starts
    /// (`lp_runtime::local::MAX_WORKERS`).
    TooManyWorkers { workers: usize, most: usize },
    /// A file the run would write (an output, the trace) cannot be
    /// written at `path`; `option` is the flag that names it
    /// (`--output L`, `--trace`).
    Unwritable {
        option: String,
        path: PathBuf,
        why: Unwritable,
    },
    /// One tile of `matrix` (a `rows` x `cols` block of doubles, allocated
    /// whole) is larger than the memory this process may use.
    TileTooLarge {
        matrix: String,
        rows: usize,
        cols: usize,
        /// Wider than `u64`: a tile of a huge declared shape overflows it.
        bytes: u128,
        memory: u64,
    },
}

/// Why a file cannot be written where a run would write it.
#[derive(Debug)]
pub enum Unwritable {
    IsADirectory,
    /// The directory it would go in does not exist.
    NoDirectory(PathBuf),
    /// What would be its directory is a file.
    NotADirectory(PathBuf),
    /// No file can be created in its directory (permissions, a read-only
    /// file system).
    Denied(PathBuf, std::io::Error),
    /// It is a device, a pipe or a socket (`lp_runtime::atomic_file`
    /// refuses to replace one).
    NotAFile,
    /// It is a file the command reads: `it is {0}` ("the program being
    /// run", "the input file of matrix A").
    Read(String),
    /// Another flag of the command (`{0}`) writes the same file.
    WrittenBy(String),
}

/// A file a command reads, which none it writes may replace: (what it is,
/// for the error, "the program being run"; its path).
pub type ReadFile<'a> = (String, &'a Path);

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::TooManyWorkers { workers, most } => {
                write!(
                    f,
                    "--workers {workers} is more than a local run takes ({most})"
                )
            }
            Refusal::Unwritable { option, path, why } => {
                write!(f, "{option}: cannot write {}: ", path.display())?;
                match why {
                    Unwritable::IsADirectory => f.write_str("it is a directory"),
                    Unwritable::NoDirectory(dir) => {
                        write!(f, "directory {} does not exist", dir.display())
                    }
                    Unwritable::NotADirectory(dir) => {
                        write!(f, "{} is not a directory", dir.display())
                    }
                    Unwritable::Denied(dir, e) => {
                        write!(f, "cannot create a file in {}: {e}", dir.display())
                    }
                    Unwritable::NotAFile => f.write_str("it is not a regular file"),
                    Unwritable::Read(what) => write!(f, "it is {what}"),
                    Unwritable::WrittenBy(option) => write!(f, "{option} writes it too"),
                }
            }
            Refusal::TileTooLarge {
                matrix,
                rows,
                cols,
                bytes,
                memory,
            } => write!(
                f,
                "matrix {matrix}: one tile is {rows} x {cols} doubles, {}, \
                 more than the memory this process may use ({}); choose a smaller tile size",
                bytes_text(*bytes),
                bytesize::ByteSize(*memory).display().iec()
            ),
        }
    }
}

impl std::error::Error for Refusal {}

/// Refuses more worker threads than a local run starts, before anything
/// is allocated per worker.
pub fn check_workers(workers: usize) -> Result<(), Refusal> {
    let most = lp_runtime::local::MAX_WORKERS;
    if workers > most {
        return Err(Refusal::TooManyWorkers { workers, most });
    }
    Ok(())
}

/// Checks, before anything is computed, that the files a command writes
/// (`writes`: the flag that names each, `--output L`, `--trace`, and its
/// path) can be written the way every output is (`lp_runtime::atomic_file`:
/// a temp file beside it, renamed over it), so that a mistyped path costs
/// no run; that none is a file the command reads (`reads`); and that no two
/// name one file, which one would silently replace.
pub fn check_destinations(
    writes: &[(String, &Path)],
    reads: &[ReadFile<'_>],
) -> Result<(), Refusal> {
    let mut written: Vec<(&str, PathBuf)> = Vec::new();
    for (option, path) in writes {
        let refuse = |why| Refusal::Unwritable {
            option: option.clone(),
            path: path.to_path_buf(),
            why,
        };
        check_destination(path).map_err(refuse)?;
        if let Some((what, _)) = reads.iter().find(|(_, read)| same_file(path, read)) {
            return Err(refuse(Unwritable::Read(what.clone())));
        }
        // The file's place, whether it exists yet or not (its directory
        // does: checked above).
        let place = destination_key(path);
        if let Some((first, _)) = written.iter().find(|(_, p)| *p == place) {
            return Err(refuse(Unwritable::WrittenBy(first.to_string())));
        }
        written.push((option, place));
    }
    Ok(())
}

/// The file a destination is written to: a symbolic link's target (the
/// write replaces that file, `lp_runtime::atomic_file`), else its
/// directory's canonical path and its own name, so that `x.npy` and
/// `./x.npy` meet.
fn destination_key(path: &Path) -> PathBuf {
    if path.is_symlink()
        && let Ok(target) = std::fs::canonicalize(path)
    {
        return target;
    }
    let dir = directory_of(path);
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    match path.file_name() {
        Some(name) => dir.join(name),
        None => path.to_path_buf(),
    }
}

/// The directory a file at `path` goes in (`.` for a bare name).
fn directory_of(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Whether one file can be written at `path`.
fn check_destination(path: &Path) -> Result<(), Unwritable> {
    if path.is_dir() {
        return Err(Unwritable::IsADirectory);
    }
    let dir = directory_of(path);
    if !dir.exists() {
        return Err(Unwritable::NoDirectory(dir.to_path_buf()));
    }
    if !dir.is_dir() {
        return Err(Unwritable::NotADirectory(dir.to_path_buf()));
    }
    // The write's own first step, undone on drop: this answers for
    // permissions, read-only mounts and ACLs alike.
    match lp_runtime::atomic_file::AtomicFile::create(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => Err(Unwritable::NotAFile),
        Err(e) => Err(Unwritable::Denied(dir.to_path_buf(), e)),
    }
}

/// Whether `a` and `b` name one existing file, through whatever paths,
/// symbolic or hard links: the same device and inode.
#[cfg(unix)]
pub fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

/// Whether `a` and `b` name one existing file: the same canonical path.
#[cfg(not(unix))]
pub fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Refuses a program one of whose tiles is larger than `memory` bytes
/// (this machine's, `lp_runtime::local::physical_memory`): a kernel gets
/// its tiles whole, in RAM, so such a run could only fail (or abort) at
/// its first allocation. Only the headers are read, so the check itself
/// allocates nothing sized by the program's parameters.
pub fn check_memory(program: &Program, memory: u64) -> Result<(), Refusal> {
    for info in &program.matrices {
        // Tile (0, 0) is a full tile, the largest there is.
        let tile = info.header.tile(0, 0);
        check_tile_fits(&info.name, [tile.rows, tile.cols], memory)?;
    }
    Ok(())
}

/// "N bytes (X GiB)": a size exact to the byte, and readable.
pub fn bytes_text(bytes: u128) -> String {
    let readable = u64::try_from(bytes).map_or("over 16 EiB".to_string(), |b| {
        bytesize::ByteSize(b).display().iec().to_string()
    });
    format!("{bytes} bytes ({readable})")
}

/// Refuses one `rows x cols` tile (or block) of `matrix` larger than
/// `memory` bytes, before anything of that size is allocated.
pub fn check_tile_fits(matrix: &str, [rows, cols]: [usize; 2], memory: u64) -> Result<(), Refusal> {
    let bytes = rows as u128 * cols as u128 * std::mem::size_of::<f64>() as u128;
    if bytes > memory as u128 {
        return Err(Refusal::TileTooLarge {
            matrix: matrix.to_string(),
            rows,
            cols,
            bytes,
            memory,
        });
    }
    Ok(())
}

/// Why an input could not be stored.
#[derive(Debug)]
pub enum ImportError {
    /// From a `.npy` file (the message names the file).
    Matrix(MatrixError),
    /// An array whose shape is not the matrix's.
    Shape {
        matrix: String,
        array: [usize; 2],
        header: [usize; 2],
    },
    /// An array for a `sym` matrix whose diagonal tiles are not symmetric.
    NotSymmetric {
        matrix: String,
        row: usize,
        col: usize,
        value: f64,
        mirror: f64,
    },
    Store(StoreError),
    /// The stop flag was set between tiles.
    Stopped,
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImportError::Matrix(e) => e.fmt(f),
            ImportError::Shape {
                matrix,
                array,
                header,
            } => write!(
                f,
                "the array for {matrix} is {} x {} but matrix {matrix} is {} x {}",
                array[0], array[1], header[0], header[1]
            ),
            ImportError::NotSymmetric {
                matrix,
                row,
                col,
                value,
                mirror,
            } => f.write_str(&lp_runtime::matrix::symmetry_refusal(
                format_args!("the array for {matrix}"),
                matrix,
                (*row, *col, *value, *mirror),
            )),
            ImportError::Store(e) => e.fmt(f),
            ImportError::Stopped => f.write_str("stopped"),
        }
    }
}

impl std::error::Error for ImportError {}

/// The tiles an import stores: every tile, except the upper ones of a
/// symmetric matrix and those outside a triangular matrix's triangle.
pub fn stored_tiles(info: &MatrixInfo) -> Vec<(usize, usize)> {
    let header = &info.header;
    let [rows, cols] = header.grid();
    let mut tiles = Vec::new();
    for j in 0..cols {
        for i in 0..rows {
            if !(header.is_zero_tile(i, j) || header.symmetric && i < j) {
                tiles.push((i, j));
            }
        }
    }
    tiles
}

/// Cuts `array` into the tiles of `info`, straight from its buffer: the only
/// copies are the tiles themselves (no whole-matrix copy, whatever the
/// strides). For a `sym` matrix only the lower tiles are read, and the
/// diagonal tiles are checked for symmetry (as `matrix::import_npy` does);
/// for a triangular one only the tiles meeting its triangle.
pub fn import_array(
    store: &dyn Store,
    info: &MatrixInfo,
    array: MatRef<f64>,
    workers: usize,
    stop: &AtomicBool,
) -> Result<(), ImportError> {
    let header = &info.header;
    if [array.nrows(), array.ncols()] != header.shape {
        return Err(ImportError::Shape {
            matrix: info.name.clone(),
            array: [array.nrows(), array.ncols()],
            header: header.shape,
        });
    }
    let tiles = stored_tiles(info);
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let cut = || -> Result<(), ImportError> {
        loop {
            let k = next.fetch_add(1, Ordering::Relaxed);
            let Some(&(i, j)) = tiles.get(k) else {
                return Ok(());
            };
            if stop.load(Ordering::Relaxed) {
                return Err(ImportError::Stopped);
            }
            if failed.load(Ordering::Relaxed) {
                return Ok(());
            }
            let shape = header.tile(i, j);
            let (r0, c0) = (i * header.tile_shape[0], j * header.tile_shape[1]);
            let mut tile = Tile::zeros(shape.rows, shape.cols);
            lp_std::kernel::copy_view(
                array.submatrix(r0, c0, shape.rows, shape.cols),
                tile.as_mut(),
            );
            if header.symmetric && i == j {
                check_symmetric(&tile, info, r0)?;
            }
            store
                .put_tile(&info.name, i, j, Arc::new(tile))
                .map_err(ImportError::Store)?;
        }
    };
    let threads = workers.clamp(1, tiles.len().max(1));
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let result = cut();
                    if result.is_err() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    result
                })
            })
            .collect();
        // Every thread is joined; the first error (in thread order) wins.
        let results: Vec<_> = handles
            .into_iter()
            .map(|h| h.join().unwrap_or(Err(ImportError::Stopped)))
            .collect();
        results.into_iter().collect::<Result<Vec<()>, _>>()
    })?;
    Ok(())
}

/// Checks a diagonal tile of `sym` matrix `info` (whose first row and
/// column are `origin`) for symmetry, by [`matrix::asymmetry`]'s rule.
pub fn check_symmetric(tile: &Tile, info: &MatrixInfo, origin: usize) -> Result<(), ImportError> {
    match matrix::asymmetry(tile) {
        None => Ok(()),
        Some((r, c, value, mirror)) => Err(ImportError::NotSymmetric {
            matrix: info.name.clone(),
            row: origin + r,
            col: origin + c,
            value,
            mirror,
        }),
    }
}

/// Options of a local run.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Worker threads; 0 means the number of cores.
    pub workers: usize,
    /// Re-deliver a job launched but not finished after this long (the
    /// backend's default if `None`).
    pub lease: Option<Duration>,
    /// Write a Chrome trace here.
    pub trace: Option<PathBuf>,
    /// Set it (from a Ctrl-C handler) to stop the run between jobs.
    pub stop: Arc<AtomicBool>,
    /// Which ready job runs next (local backend).
    pub schedule: Schedule,
    /// Bytes of generated input tiles kept for later loads (the backend's
    /// default if `None`).
    pub input_budget: Option<u64>,
    /// Inputs (matrix numbers) whose stored tiles the run may update in
    /// place, being its own copies that nothing reads after it
    /// (`LocalOptions::consumed_inputs`; local backend).
    pub consumed_inputs: Vec<u32>,
}

/// Why a run did not finish.
#[derive(Clone, Debug, PartialEq)]
pub enum RunFailure {
    /// The stop flag was set; nothing is exported.
    Interrupted(RunError),
    Failed(RunError),
    /// Every job finished but the trace could not be written: the run's
    /// outputs are whole and may still be verified, exported and kept.
    TraceUnwritten(RunError),
}

impl fmt::Display for RunFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunFailure::Interrupted(e) => write!(f, "interrupted; no output written ({e})"),
            RunFailure::Failed(e) => write!(f, "run failed: {e}"),
            RunFailure::TraceUnwritten(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for RunFailure {}

/// A backend's result, with a failure after the stop flag was set
/// counted as an interruption (whatever error the stop surfaced as).
pub fn classify(
    result: Result<RunSummary, RunError>,
    stop: &AtomicBool,
) -> Result<RunSummary, RunFailure> {
    match result {
        Ok(summary) => Ok(summary),
        Err(e) if stop.load(Ordering::SeqCst) => Err(RunFailure::Interrupted(e)),
        // The local backend writes the trace only once every job finished.
        Err(e @ RunError::Trace(_)) => Err(RunFailure::TraceUnwritten(e)),
        Err(e) => Err(RunFailure::Failed(e)),
    }
}

/// Runs `plan` on this machine's threads over `store`.
pub fn run_local(
    plan: &Plan,
    store: Arc<dyn Store>,
    opts: &RunOptions,
    progress: &dyn Fn(&Progress),
) -> Result<RunSummary, RunFailure> {
    let defaults = LocalOptions::default();
    let local = LocalOptions {
        workers: opts.workers,
        lease: opts.lease.unwrap_or(defaults.lease),
        trace: opts.trace.clone(),
        stop: opts.stop.clone(),
        schedule: opts.schedule,
        input_budget: opts.input_budget.unwrap_or(defaults.input_budget),
        consumed_inputs: opts.consumed_inputs.clone(),
        ..defaults
    };
    classify(
        lp_runtime::local::run_local(plan, store, &local, progress),
        &opts.stop,
    )
}

/// `info` as a finished run's output reads: every tile the program writes
/// is stored, and the others (the upper tiles of a triangular factor) are
/// zero.
pub fn as_output(info: &MatrixInfo) -> MatrixInfo {
    let mut info = info.clone();
    if info.role == Role::Output {
        info.init = Some(Init::Zeros);
    }
    info
}

/// Writes matrix `info` (read as [`as_output`]) to a whole `.npy` file
/// beside `path`, which committing renames into place.
pub fn export_npy_staged(
    store: &dyn Store,
    info: &MatrixInfo,
    path: &Path,
    transfer: matrix::Transfer<'_>,
) -> Result<matrix::Staged, MatrixError> {
    matrix::export_npy_staged(store, &as_output(info), path, transfer)
}

/// Copies matrix `info` (read as [`as_output`]: symmetric matrices in
/// full, triangular ones with zeros) into `out`, tile by tile. With
/// `free`, each stored tile is deleted once copied and its memory given
/// back to the OS ([`lp_runtime::alloc::purge`]; jemalloc would keep it
/// for tiles no one allocates any more while `out`'s fresh pages fill), so
/// that the store and `out` together hold little more than one copy of
/// the matrix.
pub fn export_array(
    store: &dyn Store,
    info: &MatrixInfo,
    mut out: MatMut<f64>,
    free: bool,
) -> Result<(), MatrixError> {
    let info = as_output(info);
    let header = &info.header;
    assert_eq!([out.nrows(), out.ncols()], header.shape, "caller's buffer");
    let [rows, cols] = header.grid();
    for j in 0..cols {
        for i in 0..rows {
            let tile = matrix::load_tile(store, &info, TileAt::new(i, j))?;
            let (r0, c0) = (i * header.tile_shape[0], j * header.tile_shape[1]);
            lp_std::kernel::copy_view(
                Tile::as_ref(&tile),
                out.rb_mut()
                    .submatrix_mut(r0, c0, tile.nrows(), tile.ncols()),
            );
        }
        // A symmetric matrix's upper tiles are its lower ones transposed:
        // only free a tile column once every later column has read it.
        if free && !header.symmetric {
            for i in 0..rows {
                store.delete_tile(&info.name, i, j)?;
            }
            lp_runtime::alloc::purge();
        }
    }
    if free && header.symmetric {
        matrix::free_matrix(store, &info.name)?;
        lp_runtime::alloc::purge();
    }
    Ok(())
}

/// Why [`verify()`] gave no verdict.
#[derive(Debug)]
pub enum VerifyError {
    /// A tile could not be read.
    Read(MatrixError),
    /// The stop flag was set (Ctrl-C): the check ended between two tiles.
    Stopped,
}

/// Checks a finished run's answer with random probe vectors, tile by tile
/// (minutes for a large matrix in a directory store), until `stop` is set.
pub fn verify(
    store: &dyn Store,
    program: &Program,
    check: Check,
    stop: &AtomicBool,
) -> Result<Verification, VerifyError> {
    verify::verify(program, check, |m, version, i, j| {
        if stop.load(Ordering::SeqCst) {
            return Err(VerifyError::Stopped);
        }
        let at = TileAt::new(i, j).at_version(version);
        matrix::load_tile(store, &program.matrices[m], at).map_err(VerifyError::Read)
    })
}
