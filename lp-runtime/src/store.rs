//! Tile stores: where BigMatrix tiles and headers live.
//!
//! One trait, several backends (in-memory, local directory, later S3). The
//! trait works in whole tiles (`Arc<Tile>`) rather than bytes so that the
//! in-memory store shares tiles between jobs with no serialisation on the hot
//! path; stores that persist bytes encode tiles as `.npy`.
//!
//! Layout of a persisting store (documented in `docs/runtime.md`):
//! `<root>/<matrix>/header.json` and `<root>/<matrix>/<i>_<j>.npy`.
//! Matrix names are validated ([`validate_matrix_name`]) before they become
//! part of a path or key.

use lp_std::{MatrixHeader, Tile};
use std::sync::Arc;

mod dir;
mod mem;

pub use dir::{DEFAULT_POOL_LIMIT, DirStore};
pub use mem::MemStore;

#[derive(Debug)]
pub enum StoreError {
    /// A name that would escape the store or smuggle a separator into a key.
    InvalidName { name: String, reason: &'static str },
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

pub trait Store: Send + Sync {
    /// Tile (i, j) of `matrix` as stored, or `None` if it was never written.
    fn get_tile(&self, matrix: &str, i: usize, j: usize) -> StoreResult<Option<Arc<Tile>>>;
    /// Stores a whole tile atomically: readers see the old state or the new
    /// tile, never a partial one.
    fn put_tile(&self, matrix: &str, i: usize, j: usize, tile: Arc<Tile>) -> StoreResult<()>;
    /// Removes a tile; removing an absent tile is not an error.
    fn delete_tile(&self, matrix: &str, i: usize, j: usize) -> StoreResult<()>;
    /// The (i, j) of every stored tile of `matrix`, in no particular order.
    fn list_tiles(&self, matrix: &str) -> StoreResult<Vec<(usize, usize)>>;
    fn get_header(&self, matrix: &str) -> StoreResult<Option<MatrixHeader>>;
    fn put_header(&self, matrix: &str, header: &MatrixHeader) -> StoreResult<()>;
    /// Bytes held now and at peak, for stores that can count them cheaply
    /// (a remote object store cannot, and reports `None`).
    fn usage(&self) -> Option<StoreUsage> {
        None
    }
}

/// Rejects names that could escape the store root or break the key layout.
pub fn validate_matrix_name(name: &str) -> StoreResult<()> {
    let bad = |reason| {
        Err(StoreError::InvalidName {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("the name is empty");
    }
    if name == "." || name == ".." {
        return bad("the name is a relative path component");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
    {
        return bad("only ASCII letters, digits, '_', '-' and '.' are allowed");
    }
    Ok(())
}
