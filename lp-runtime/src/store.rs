//! Tile stores: where BigMatrix tiles and headers live.
//!
//! One trait, several backends (in-memory, local directory, later S3). The
//! trait works in whole tiles (`Arc<Tile>`) rather than bytes so that the
//! in-memory store shares tiles between jobs with no serialisation on the hot
//! path; stores that persist bytes encode tiles as `.npy`.
//!
//! Layout of a persisting store (documented in `docs/runtime.md`):
//! `<root>/<location>/header.json` and `<root>/<location>/<i>_<j>.npy`,
//! where a location is a user's matrix name (`A`) or a path in one of the
//! store's namespaces (`~runs/<run>/L`, `~inputs/<key>`: see [`location`]).
//! Locations are validated ([`validate_location`]) before they become part
//! of a path or key.

use lp_std::{MatrixHeader, Tile};
use std::sync::Arc;

mod dir;
pub mod generated;
pub mod layer;
pub mod location;
pub mod maintenance;
mod mem;
pub mod namespace;
pub mod runs;

pub use dir::{DEFAULT_POOL_LIMIT, DirStore};
pub use generated::{GeneratedInputs, Kept, KeptTiles};
pub use layer::StoreLayer;
pub use location::{validate_location, validate_matrix_name};
pub use mem::MemStore;
pub use namespace::{Namespace, RunStore};

#[derive(Debug)]
pub enum StoreError {
    /// A name that would escape the store or smuggle a separator into a key.
    InvalidName { name: String, reason: &'static str },
    /// A directory or S3 prefix that cannot hold a store: `part` of its
    /// path is one no store above it could tell from its own folders.
    InvalidRoot {
        part: String,
        problem: location::RootProblem,
    },
    /// Bytes that are not a valid tile or header; `what` names the object.
    Corrupt { what: String, reason: String },
    Io {
        what: String,
        source: std::io::Error,
    },
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::InvalidName { name, reason } => {
                write!(f, "invalid matrix name {name:?}: {reason}")
            }
            StoreError::InvalidRoot { part, problem } => match problem {
                location::RootProblem::Namespace => write!(
                    f,
                    "its path has a part `{part}`, the name of one of a store's own folders \
                     ({}): a store above it would take this store's contents for its own",
                    location::own_folders_text()
                ),
                location::RootProblem::Tilde => write!(
                    f,
                    "its path has a part `{part}`, and a part of an S3 prefix may not start \
                     with `~`, which marks a store's own folders ({}): a store above it could \
                     not tell this store's contents from its own",
                    location::own_folders_text()
                ),
                location::RootProblem::Name(reason) => write!(
                    f,
                    "its path has a part `{part}`, which is not a valid name ({reason}): \
                     a store above it could not list it"
                ),
            },
            StoreError::Corrupt { what, reason } => write!(f, "corrupt {what}: {reason}"),
            StoreError::Io { what, source } => write!(f, "{what}: {source}"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Tile bytes a store holds now and at most since it was opened (the run
/// summary reports the peak: temp tiles freed after their last reader keep
/// it O(N^2) tiles for a Cholesky).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreUsage {
    pub bytes_held: u64,
    pub peak_bytes_held: u64,
}

/// A program bundle a store holds, `~bundles/<name>` (the lambda backend
/// uploads one per program content: docs/aws.md).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredBundle {
    /// `<content key>.lpb`.
    pub name: String,
    pub bytes: u64,
    /// When it was last written (seconds since the epoch), if the store
    /// says.
    pub modified: Option<u64>,
}

pub trait Store: Send + Sync {
    /// Tile (i, j) of `matrix` as stored, or `None` if it was never written.
    fn get_tile(&self, matrix: &str, i: usize, j: usize) -> StoreResult<Option<Arc<Tile>>>;
    /// Tile (i, j) of a temp matrix for its only reader, which may update
    /// it in place: a store that holds tiles in memory hands its own over
    /// and forgets it ([`Store::hands_over_tiles`]), so that the kernel
    /// does not copy a tile nobody else will read. Other stores read it as
    /// [`Store::get_tile`] does (a tile read from a file or an object is
    /// the reader's alone anyway).
    fn take_tile(&self, matrix: &str, i: usize, j: usize) -> StoreResult<Option<Arc<Tile>>> {
        self.get_tile(matrix, i, j)
    }
    /// Whether [`Store::take_tile`] removes the tile: then a later read of
    /// it finds none, and [`Store::taken`] says why.
    fn hands_over_tiles(&self) -> bool {
        false
    }
    /// Whether the tile is gone because [`Store::take_tile`] handed it over
    /// (and nothing deleted or wrote it since): a duplicate execution of
    /// its reader then stops, where a tile never written is an error
    /// (`protocol::job`).
    fn taken(&self, _matrix: &str, _i: usize, _j: usize) -> StoreResult<bool> {
        Ok(false)
    }
    /// Stores a whole tile atomically: readers see the old state or the new
    /// tile, never a partial one.
    fn put_tile(&self, matrix: &str, i: usize, j: usize, tile: Arc<Tile>) -> StoreResult<()>;
    /// Removes a tile; removing an absent tile is not an error.
    fn delete_tile(&self, matrix: &str, i: usize, j: usize) -> StoreResult<()>;
    /// The (i, j) of every stored tile of `matrix`, in no particular order.
    fn list_tiles(&self, matrix: &str) -> StoreResult<Vec<(usize, usize)>>;
    /// The bytes `matrix`'s stored tiles take in the store (files or
    /// objects, `.npy` headers included), when the store can tell without
    /// reading them; `None` when it cannot. `lpc store ls` shows it for a
    /// matrix with no header, whose tiles' shapes nothing else gives.
    fn tile_bytes(&self, _matrix: &str) -> StoreResult<Option<u64>> {
        Ok(None)
    }
    fn get_header(&self, matrix: &str) -> StoreResult<Option<MatrixHeader>>;
    fn put_header(&self, matrix: &str, header: &MatrixHeader) -> StoreResult<()>;
    /// Writes `matrix`'s header unless it has one, in one step that no
    /// other writer can come between: `Ok(true)` if this call wrote it,
    /// `Ok(false)` if a header was there. Of two processes creating one
    /// matrix at once, one creates it and the other is told so, where
    /// reading first and writing after would let both write its tiles.
    /// The default reads, then writes: for stand-ins used by one process.
    fn create_header(&self, matrix: &str, header: &MatrixHeader) -> StoreResult<bool> {
        if self.get_header(matrix)?.is_some() {
            return Ok(false);
        }
        self.put_header(matrix, header)?;
        Ok(true)
    }
    // The four methods below are what shared stores need (run records,
    // origins, published names, clean-up: `maintenance`, `runs`). Every
    // store a user can name implements them; the defaults are for
    // stand-ins (the simulator's, tests', benches'), which keep no
    // documents and never hold a run's namespace.

    /// Small JSON document `doc` (one of [`location::DOCS`]) at `location`,
    /// or `None` if there is none.
    fn get_doc(&self, location: &str, doc: &str) -> StoreResult<Option<Vec<u8>>> {
        Err(no_documents(location, doc))
    }
    /// Writes a document whole: readers see the old one or the new one.
    fn put_doc(&self, location: &str, doc: &str, _bytes: &[u8]) -> StoreResult<()> {
        Err(no_documents(location, doc))
    }
    /// The names of the locations one level below `location` (`""` is the
    /// root) that hold anything, in no particular order.
    fn list_children(&self, location: &str) -> StoreResult<Vec<String>> {
        Err(no_documents(location, "a listing"))
    }
    /// Deletes everything at and below `location` (tiles, header,
    /// documents); deleting nothing is not an error.
    fn remove_all(&self, location: &str) -> StoreResult<()> {
        Err(no_documents(location, "a removal"))
    }
    /// The bundles under `~bundles/` (`lpc store ls|gc|rm`); a store that
    /// never holds one (memory, stand-ins) has none.
    fn bundles(&self) -> StoreResult<Vec<StoredBundle>> {
        Ok(Vec::new())
    }
    /// Deletes bundle `name` (`<key>.lpb`); deleting an absent one is not
    /// an error.
    fn remove_bundle(&self, name: &str) -> StoreResult<()> {
        Err(no_documents(name, "a removal"))
    }
    /// Bytes held now and at peak, for stores that can count them cheaply
    /// (a remote object store cannot, and reports `None`).
    fn usage(&self) -> Option<StoreUsage> {
        None
    }
    /// Makes everything at and below `location` durable: once this
    /// returns, a crash of the machine (not only of the process) cannot
    /// take back or corrupt what was written there. Called before a
    /// store records something as complete for later readers to trust (an
    /// import's origin, a finished run's record, a published name). A
    /// store whose writes are durable when they return (memory, which no
    /// crash spares anyway; S3) has nothing to do.
    fn sync(&self, _location: &str) -> StoreResult<()> {
        Ok(())
    }
}

fn no_documents(location: &str, what: &str) -> StoreError {
    StoreError::Io {
        what: format!("{location}: {what}"),
        source: std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "this store keeps no documents",
        ),
    }
}

/// The name of tile (i, j)'s object within its matrix's folder or prefix,
/// `<i>_<j>.npy`: the one tile layout of every store (docs/runtime.md), so
/// a directory store's files and an S3 prefix's objects are the same.
pub fn tile_file_name(i: usize, j: usize) -> String {
    format!("{i}_{j}.npy")
}

/// [`tile_file_name`] backwards: `3_12.npy` -> (3, 12); anything else (the
/// header, temporaries, stray files) is not a tile.
pub fn parse_tile_file_name(name: &str) -> Option<(usize, usize)> {
    let (i, j) = name.strip_suffix(".npy")?.split_once('_')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(i) || !digits(j) {
        return None;
    }
    Some((i.parse().ok()?, j.parse().ok()?))
}

#[cfg(test)]
mod tile_name_tests {
    use super::{parse_tile_file_name, tile_file_name};

    #[test]
    fn tile_names_round_trip_and_others_are_not_tiles() {
        assert_eq!(tile_file_name(3, 12), "3_12.npy");
        assert_eq!(parse_tile_file_name("3_12.npy"), Some((3, 12)));
        for not_tile in [
            "header.json",
            "3_12.npy.tmp",
            "_1.npy",
            "1_.npy",
            "a_1.npy",
            "1_2_3.npy",
            "-1_2.npy",
            "+3_1.npy",
            "sub/3_1.npy",
        ] {
            assert_eq!(parse_tile_file_name(not_tile), None, "{not_tile}");
        }
    }
}
