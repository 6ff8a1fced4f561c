//! Where a run's matrices go in a store that other runs share, and getting
//! its inputs there (docs/runtime.md, "Runs sharing a store"):
//!
//! * an input from a `.npy` file is stored by content, under
//!   `~inputs/<key>` with the key from the file's BLAKE3 hash and the
//!   matrix's tiling: two different files never share tiles, and importing
//!   the same file again costs one hash and one read of `origin.json`,
//!   which is written last and so marks a complete import;
//! * an input with an initialiser and no file is read from the location
//!   of its initialiser's key (`~inputs/<key>`), never where an import of
//!   the same name went; its tiles are generated on demand, so nothing is
//!   written there;
//! * an input named in the store (`--input A=store:NAME`) is read where the
//!   name resolves at the start of the run (a published result or a matrix
//!   written block by block), after its geometry is checked;
//! * temporaries and outputs live under the run's namespace.
//!
//! The origin of every location is recorded beside its header; a location
//! whose recorded origin is not the one the program declares is refused
//! rather than read.

use crate::runner::ImportError;
use lp_program::{MatrixInfo, Program, Role};
use lp_runtime::matrix::{self, MatrixError, Transfer};
use lp_runtime::store::maintenance;
use lp_runtime::store::namespace::Origin;
use lp_runtime::store::{Namespace, Store, StoreError};
use lp_std::MatrixHeader;
use std::fmt;
use std::io::{self, Read};
use std::path::Path;

/// Where an input's tiles come from.
#[derive(Clone, Copy, Debug)]
pub enum InputSource<'a> {
    /// A whole `.npy` file.
    File(&'a Path),
    /// A matrix already in the store, by the name a user gave it.
    Stored(&'a str),
    /// A location the caller resolved and checked itself (the Python
    /// package's BigMatrix handles, read in place).
    At(&'a str),
    /// Tiles the caller supplies during the run, never read from the store
    /// (the Python package's arrays, served from memory, or copies it
    /// writes): the run's own location, `~runs/<run>/<name>`, where no
    /// other run's tiles can be.
    Caller,
}

/// Why a run's matrices could not be placed.
#[derive(Debug)]
pub enum PlacementError {
    Store(StoreError),
    Import {
        path: String,
        error: ImportError,
    },
    Hash {
        path: String,
        error: io::Error,
    },
    /// `--input A=store:NAME` with no such matrix in the store; `dangling`
    /// when NAME is a published name whose matrix is gone.
    NoStoredMatrix {
        input: String,
        name: String,
        dangling: Option<maintenance::DanglingLink>,
    },
    /// A stored matrix whose geometry is not the program's.
    Geometry {
        input: String,
        name: String,
        stored: Box<MatrixHeader>,
        declared: Box<MatrixHeader>,
    },
    /// An import whose location lost tiles while it was written: another
    /// process's `lpc store gc` took it for an interrupted import.
    ImportLost {
        path: String,
        location: String,
    },
    /// A location holding tiles of another origin than the declared one.
    Origin {
        matrix: String,
        location: String,
        found: Box<Origin>,
        declared: Box<Origin>,
    },
}

impl PlacementError {
    /// Whether a stop (Ctrl-C) ended the placement.
    pub fn is_interrupted(&self) -> bool {
        matches!(
            self,
            PlacementError::Import {
                error: ImportError::Matrix(MatrixError::Interrupted { .. }),
                ..
            }
        )
    }
}

impl fmt::Display for PlacementError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlacementError::Store(e) => e.fmt(f),
            PlacementError::Import { path, error } => write!(f, "cannot import {path}: {error}"),
            PlacementError::Hash { path, error } => write!(f, "cannot read {path}: {error}"),
            PlacementError::NoStoredMatrix {
                input,
                name,
                dangling: None,
            } => write!(
                f,
                "--input {input}=store:{name}: the store has no matrix `{name}`"
            ),
            PlacementError::NoStoredMatrix {
                input,
                name,
                dangling: Some(dangling),
            } => {
                let remedy = format!("`lpc store rm {name}`");
                let sentence = dangling.with_remedy(&remedy);
                write!(f, "--input {input}=store:{name}: {sentence}")
            }
            PlacementError::Geometry {
                input,
                name,
                stored,
                declared,
            } => write!(
                f,
                "--input {input}=store:{name}: `{name}` is {stored} but the program's {input} is {declared}"
            ),
            PlacementError::ImportLost { path, location } => write!(
                f,
                "cannot import {path}: tiles of {location} were removed while they were \
                 written (an `lpc store gc` at the same time?); run again"
            ),
            PlacementError::Origin {
                matrix,
                location,
                found,
                declared,
            } => write!(
                f,
                "the tiles at {location} are {}, not {} as the program declares {matrix}; \
                 remove them (lpc store rm) and run again",
                found.describe(),
                declared.describe()
            ),
        }
    }
}

impl std::error::Error for PlacementError {}

impl From<StoreError> for PlacementError {
    fn from(e: StoreError) -> Self {
        PlacementError::Store(e)
    }
}

/// The BLAKE3 hash of a file's bytes, streamed.
fn hash_file(path: &Path, transfer: &Transfer<'_>) -> Result<String, PlacementError> {
    let failed = |error| PlacementError::Hash {
        path: path.display().to_string(),
        error,
    };
    let mut file = std::fs::File::open(path).map_err(failed)?;
    let mut hasher = blake3::Hasher::new();
    let mut buffer = vec![0; 8 << 20];
    loop {
        transfer
            .check(path, true)
            .map_err(|e| import_error(path, e))?;
        let read = match file.read(&mut buffer) {
            // A signal (Ctrl-C) during the read: the check above decides.
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            read => read.map_err(failed)?,
        };
        if read == 0 {
            return Ok(hasher.finalize().to_hex().to_string());
        }
        hasher.update(&buffer[..read]);
        (transfer.progress)(read as u64);
    }
}

fn import_error(path: &Path, error: MatrixError) -> PlacementError {
    PlacementError::Import {
        path: path.display().to_string(),
        error: ImportError::Matrix(error),
    }
}

/// The bytes placing `supplied` reads from files, hash and import (what a
/// [`place_with`] transfer hears in all when nothing was imported before).
pub fn placement_bytes(program: &Program, supplied: &[(&str, InputSource)]) -> u64 {
    let mut bytes = 0;
    for (name, source) in supplied {
        let (InputSource::File(path), Some(info)) =
            (source, program.matrices.iter().find(|m| m.name == *name))
        else {
            continue;
        };
        let size = std::fs::metadata(path).map_or(0, |m| m.len());
        bytes += size + matrix::import_bytes(&info.header);
    }
    bytes
}

/// Checks that `location` holds tiles of `declared` origin, or nothing
/// yet; returns whether the origin is already recorded (a complete import).
fn check_origin(
    store: &dyn Store,
    info: &MatrixInfo,
    location: &str,
    declared: &Origin,
) -> Result<bool, PlacementError> {
    match Origin::read(store, location)? {
        None => Ok(false),
        Some(found) if origin_matches(&found, declared) => Ok(true),
        Some(found) => Err(PlacementError::Origin {
            matrix: info.name.clone(),
            location: location.to_string(),
            found: Box::new(found),
            declared: Box::new(declared.clone()),
        }),
    }
}

/// Equal origins, except for an import's file name (the content decides).
fn origin_matches(a: &Origin, b: &Origin) -> bool {
    match (a, b) {
        (Origin::Import { blake3: x, .. }, Origin::Import { blake3: y, .. }) => x == y,
        _ => a == b,
    }
}

/// Imports `path` for input `info` by content, on `workers` threads;
/// returns its location.
fn place_file(
    store: &dyn Store,
    info: &MatrixInfo,
    path: &Path,
    workers: usize,
    transfer: &Transfer<'_>,
) -> Result<String, PlacementError> {
    let blake3 = hash_file(path, transfer)?;
    let file = path
        .file_name()
        .map_or_else(String::new, |f| f.to_string_lossy().into_owned());
    let origin = Origin::Import { blake3, file };
    let location = lp_runtime::store::location::input_location(&origin.input_key(&info.header));
    if !check_origin(store, info, &location, &origin)? {
        let mut at = info.clone();
        at.name = location.clone();
        matrix::import_npy_with(store, &at, path, workers, *transfer).map_err(|e| {
            if refuses_content(&e) {
                // Every import of these bytes in this tiling is refused
                // alike, so no run can complete this location: what this
                // one wrote is no one's input. (If removing fails, gc
                // takes it for the interrupted import it looks like.)
                let _ = store.remove_all(&location);
            }
            import_error(path, e.naming(&info.name))
        })?;
        // Last: its presence says the import is whole, so it is written
        // only over every tile (a gc that ran at the start of this run
        // may have removed some for an interrupted import's), on disk.
        if !holds_every_tile(store, &at)? {
            return Err(PlacementError::ImportLost {
                path: path.display().to_string(),
                location,
            });
        }
        store.sync(&location)?;
        origin.write(store, &location)?;
    }
    Ok(location)
}

/// Whether the store holds `info`'s header and every tile it stores.
fn holds_every_tile(store: &dyn Store, info: &MatrixInfo) -> Result<bool, StoreError> {
    if store.get_header(&info.name)?.is_none() {
        return Ok(false);
    }
    let held: std::collections::HashSet<(usize, usize)> =
        store.list_tiles(&info.name)?.into_iter().collect();
    Ok(crate::runner::stored_tiles(info)
        .iter()
        .all(|t| held.contains(t)))
}

/// Whether an import failed for what the file holds (its shape, its
/// values, its `.npy` encoding), rather than for a stop or an I/O error
/// that another import of the same bytes might not meet.
fn refuses_content(e: &MatrixError) -> bool {
    matches!(
        e,
        MatrixError::ShapeMismatch { .. }
            | MatrixError::NotSymmetric { .. }
            | MatrixError::Npy { .. }
    )
}

/// Resolves `name` in the store for input `info`, checking its geometry.
fn place_stored(
    store: &dyn Store,
    info: &MatrixInfo,
    name: &str,
) -> Result<String, PlacementError> {
    let Some((location, stored)) = maintenance::resolve(store, name)? else {
        return Err(PlacementError::NoStoredMatrix {
            input: info.name.clone(),
            name: name.to_string(),
            dangling: maintenance::dangling(store, name)?,
        });
    };
    let declared = &info.header;
    let same = stored.shape == declared.shape
        && stored.tile_shape == declared.tile_shape
        && stored.symmetric == declared.symmetric
        && stored.triangle == declared.triangle;
    if !same {
        return Err(PlacementError::Geometry {
            input: info.name.clone(),
            name: name.to_string(),
            stored: Box::new(stored),
            declared: Box::new(declared.clone()),
        });
    }
    Ok(location)
}

/// A namespace for run `run` of `program` in `store`: supplied inputs are
/// placed (imported by content or resolved by name), initialised inputs
/// get their origin's location (checked, not written), and the outputs'
/// headers and origins are written in the run's namespace.
pub fn place(
    store: &dyn Store,
    program: &Program,
    program_label: &str,
    run: &str,
    supplied: &[(&str, InputSource)],
) -> Result<Namespace, PlacementError> {
    place_with(
        store,
        program,
        program_label,
        run,
        supplied,
        1,
        Transfer::unwatched(),
    )
}

/// [`place`], importing files on `workers` threads: the files at once, and
/// the bands of one file at once when there are fewer files than workers.
/// `transfer` hears every chunk of the files read (their hash, then their
/// import: [`placement_bytes`] in all) and may stop the placement.
pub fn place_with(
    store: &dyn Store,
    program: &Program,
    program_label: &str,
    run: &str,
    supplied: &[(&str, InputSource)],
    workers: usize,
    transfer: Transfer<'_>,
) -> Result<Namespace, PlacementError> {
    let mut ns = Namespace::new(run);
    for (info, location) in place_supplied(store, program, run, supplied, (workers, transfer))? {
        ns.inputs.insert(info.name.clone(), location);
    }
    for info in &program.matrices {
        match (info.role, &info.init) {
            (Role::Input, Some(init)) if !ns.inputs.contains_key(&info.name) => {
                // Generated on demand, so nothing is written there; tiles
                // someone cached there must be of this initialiser, and
                // where there are none, loads need not ask the store.
                let origin = Origin::Init { init: init.call() };
                if !check_origin(store, info, &ns.location(info), &origin)? {
                    ns.generated.insert(info.name.clone());
                }
            }
            (Role::Output, _) => {
                let origin = Origin::Run {
                    run: run.to_string(),
                    program: program_label.to_string(),
                    matrix: info.name.clone(),
                };
                for version in 0..info.version_count() as u32 {
                    let at = ns.version_location(info, version);
                    store.put_header(&at, &info.header)?;
                    origin.write(store, &at)?;
                }
            }
            _ => {}
        }
    }
    Ok(ns)
}

/// The first name `publish` ((matrix, name) pairs) gives twice, as (the
/// matrix it names first, the matrix it names again, the name): the second
/// publish would replace the first.
pub fn published_twice(publish: &[(String, String)]) -> Option<(&str, &str, &str)> {
    publish.iter().enumerate().find_map(|(k, (again, name))| {
        let (first, _) = publish[..k].iter().find(|(_, n)| n == name)?;
        Some((first.as_str(), again.as_str(), name.as_str()))
    })
}

/// Whether output `name` of `program` may be published under a stable
/// name (`lpc run --publish`, the Python package's `publish=`): a plain
/// (unversioned) output matrix.
pub fn publishable(program: &Program, name: &str) -> bool {
    program
        .matrices
        .iter()
        .any(|m| m.name == name && m.role == Role::Output && m.versions.is_empty())
}

/// The location of each supplied input, in `supplied`'s order; after a
/// failure, the first failing input's error.
fn place_supplied<'p>(
    store: &dyn Store,
    program: &'p Program,
    run: &str,
    supplied: &[(&str, InputSource)],
    (workers, transfer): (usize, Transfer<'_>),
) -> Result<Vec<(&'p MatrixInfo, String)>, PlacementError> {
    let infos: Vec<&MatrixInfo> = supplied
        .iter()
        .map(|(name, _)| {
            program
                .matrices
                .iter()
                .find(|m| m.name == *name)
                .expect("bindings are checked before placement")
        })
        .collect();
    let files = supplied
        .iter()
        .filter(|(_, s)| matches!(s, InputSource::File(_)))
        .count();
    let per_file = (workers / files.max(1)).max(1);
    let placed = std::sync::Mutex::new(vec![String::new(); supplied.len()]);
    lp_runtime::parallel::try_each(
        supplied.len(),
        workers,
        || (),
        |k, _| -> Result<(), PlacementError> {
            let location = match supplied[k].1 {
                InputSource::File(path) => place_file(store, infos[k], path, per_file, &transfer)?,
                InputSource::Stored(stored) => place_stored(store, infos[k], stored)?,
                InputSource::At(location) => location.to_string(),
                InputSource::Caller => lp_runtime::store::location::in_run(run, &infos[k].name),
            };
            placed.lock().unwrap_or_else(|p| p.into_inner())[k] = location;
            Ok(())
        },
    )?;
    let placed = placed.into_inner().unwrap_or_else(|p| p.into_inner());
    Ok(infos.into_iter().zip(placed).collect())
}

/// Removes what is left of a finished run's temporaries (their tiles were
/// freed after their last reader; folders and duplicates' strays remain).
/// `store` is the run's view.
pub fn remove_temps(store: &dyn Store, program: &Program) -> Result<(), StoreError> {
    for info in program.matrices.iter().filter(|m| m.role == Role::Temp) {
        for version in 0..info.version_count() as u32 {
            store.remove_all(&info.stored_name(version))?;
        }
    }
    Ok(())
}
