//! Where things live in a store: the names a user gives matrices, and the
//! store's own namespaces, which no user name can enter.
//!
//! A *location* is a `/`-separated path of segments, each a valid matrix
//! name ([`validate_matrix_name`]), except that the first may name one of
//! the reserved namespaces below. `~` cannot appear in a matrix name, so a
//! user's matrix `runs` and the namespace `~runs` never collide:
//!
//! * `A`: a matrix the user named (a BigMatrix, or a published result);
//! * `~runs/<run>/<name>`: the temporaries and outputs of one run
//!   (docs/runtime.md, "Runs sharing a store");
//! * `~inputs/<key>`: an input's tiles, stored under a key derived from
//!   their origin (an initialiser, or an imported file's content hash), so
//!   that tiles of different origins can never be read for one another;
//! * `~bundles/<key>.lpb` (S3 only): the programs lambda workers run.
//!
//! Every store validates a location before it becomes part of a path or
//! key, and keeps tile `(i, j)` of a location as [`super::tile_file_name`]
//! beside the location's header and documents ([`DOCS`]).

use super::{StoreError, StoreResult};
use lp_std::MatrixHeader;

/// The namespace of runs: `~runs/<run>/...`.
pub const RUNS: &str = "~runs";
/// The namespace of inputs stored by origin: `~inputs/<key>`.
pub const INPUTS: &str = "~inputs";

/// Where the lambda backend keeps program bundles, by content.
pub const BUNDLES: &str = "~bundles";
/// A directory store's private folder (recycled files; `DirStore`).
pub const POOL_DIR: &str = "~pool";

/// Where a matrix came from (`origin.json` beside its header).
pub const ORIGIN_DOC: &str = "origin.json";
/// What a run is doing (`~runs/<run>/run.json`).
pub const RUN_DOC: &str = "run.json";
/// A published name's pointer to the location that holds its tiles.
pub const LINK_DOC: &str = "link.json";
/// Every document a store keeps beside tiles; nothing else is accepted, so
/// a document can never be mistaken for a tile or a header.
pub const DOCS: [&str; 3] = [ORIGIN_DOC, RUN_DOC, LINK_DOC];

/// Rejects names that could escape the store root or break the key layout.
/// The longest matrix name, in bytes.
pub const MAX_NAME_LEN: usize = 200;

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
    // A directory store makes the name a file name (at most 255 bytes on
    // common file systems), with room for a version's suffix.
    if name.len() > MAX_NAME_LEN {
        return bad("the name is longer than 200 bytes");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
    {
        return bad("only ASCII letters, digits, '_', '-' and '.' are allowed");
    }
    Ok(())
}

/// Rejects locations that are not a user's name or a path in a reserved
/// namespace (see the module docs); `""` (the root) is not a location.
pub fn validate_location(location: &str) -> StoreResult<()> {
    let mut segments = location.split('/');
    let first = segments.next().unwrap_or_default();
    let reserved = first == RUNS || first == INPUTS;
    if !reserved && !location.contains('/') {
        return validate_matrix_name(location);
    }
    let in_path = |_| StoreError::InvalidName {
        name: location.to_string(),
        reason: "each part of a location must be a valid matrix name",
    };
    if !reserved {
        validate_matrix_name(first).map_err(in_path)?;
    }
    let mut depth = 1;
    for segment in segments {
        validate_matrix_name(segment).map_err(in_path)?;
        depth += 1;
    }
    if reserved && depth == 1 {
        return Err(StoreError::InvalidName {
            name: location.to_string(),
            reason: "a namespace is not a matrix",
        });
    }
    Ok(())
}

/// [`validate_location`], or `""` (the root), for listings.
pub fn validate_listing(location: &str) -> StoreResult<()> {
    if location.is_empty() || location == RUNS || location == INPUTS {
        return Ok(());
    }
    validate_location(location)
}

/// Rejects a document name that is not one of [`DOCS`].
pub fn validate_doc(doc: &str) -> StoreResult<()> {
    if DOCS.contains(&doc) {
        Ok(())
    } else {
        Err(StoreError::InvalidName {
            name: doc.to_string(),
            reason: "not a document a store keeps",
        })
    }
}

/// `~runs/<run>`: everything run `run` wrote.
pub fn run_root(run: &str) -> String {
    format!("{RUNS}/{run}")
}

/// Where run `run` keeps its matrix `stored_name` (`L`, `S.3`).
pub fn in_run(run: &str, stored_name: &str) -> String {
    format!("{RUNS}/{run}/{stored_name}")
}

/// `~inputs/<key>`.
pub fn input_location(key: &str) -> String {
    format!("{INPUTS}/{key}")
}

/// `parent/child`, or `child` at the root.
pub fn join(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_string()
    } else {
        format!("{parent}/{child}")
    }
}

/// Refuses to store a header the rest of the code cannot use
/// ([`MatrixHeader::validate`]). Headers read back from bytes are checked
/// as they are parsed; this keeps a store from ever holding a bad one in
/// the first place, the memory store included, which parses nothing.
pub fn validate_header(location: &str, header: &MatrixHeader) -> StoreResult<()> {
    header.validate().map_err(|e| StoreError::Corrupt {
        what: format!("header given for matrix {location}"),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_and_namespaced_paths_are_locations_and_nothing_else() {
        for ok in ["A", "L.2.4", "~runs/r1/L", "~inputs/0af3", "~runs/r1/S.3"] {
            assert!(validate_location(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "~runs",
            "~pool/x",
            "~other/x",
            "A/../B",
            "~runs/r1/../../x",
            "~runs//L",
            "a b",
            "/A",
            "A/",
        ] {
            assert!(validate_location(bad).is_err(), "{bad}");
        }
        assert!(validate_listing("").is_ok());
        assert!(validate_listing("~runs").is_ok());
        assert!(validate_doc("run.json").is_ok());
        assert!(validate_doc("header.json").is_err());
        assert!(validate_doc("0_0.npy").is_err());
    }
}
