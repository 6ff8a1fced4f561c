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
//! * `~bundles/<key>.lpb`: the programs lambda workers run (only the
//!   lambda backend writes them, to S3; a directory store lists and removes
//!   them all the same, as a copy of a prefix holds them);
//! * `~pool/`: a directory store's recycled files, not a location.
//!
//! These are a store's own folders ([`OWN_FOLDERS`]). A store's own root
//! must not lie in one of them of a store above it ([`validate_root_dir`]),
//! and an S3 prefix has no part starting with `~` at all
//! ([`validate_prefix`]): that store would take the nested one's runs and
//! names for its own.
//!
//! Every store validates a location before it becomes part of a path or
//! key, and keeps tile `(i, j)` of a location as [`super::tile_file_name`]
//! beside the location's header and documents ([`DOCS`]).

use super::{StoreError, StoreResult};
use lp_std::MatrixHeader;
use std::path::{Component, Path};

/// The namespace of runs: `~runs/<run>/...`.
pub const RUNS: &str = "~runs";
/// The namespace of inputs stored by origin: `~inputs/<key>`.
pub const INPUTS: &str = "~inputs";

/// Where the lambda backend keeps program bundles, by content.
pub const BUNDLES: &str = "~bundles";
/// A directory store's private folder (recycled files; `DirStore`).
pub const POOL_DIR: &str = "~pool";

/// Every folder a store keeps at its root for itself, the one list of them
/// (root rules, [`super::maintenance::nested_store`], messages).
pub const OWN_FOLDERS: [&str; 4] = [RUNS, INPUTS, BUNDLES, POOL_DIR];

/// [`OWN_FOLDERS`] as messages give them: `` `~runs`, `~inputs`, ... ``.
pub fn own_folders_text() -> String {
    let quoted: Vec<String> = OWN_FOLDERS.iter().map(|f| format!("`{f}`")).collect();
    quoted.join(", ")
}

/// Where a matrix came from (`origin.json` beside its header).
pub const ORIGIN_DOC: &str = "origin.json";
/// What a run is doing (`~runs/<run>/run.json`).
pub const RUN_DOC: &str = "run.json";
/// A published name's pointer to the location that holds its tiles.
pub const LINK_DOC: &str = "link.json";
/// Every document a store keeps beside tiles; nothing else is accepted, so
/// a document can never be mistaken for a tile or a header.
pub const DOCS: [&str; 3] = [ORIGIN_DOC, RUN_DOC, LINK_DOC];

/// The longest matrix name, in bytes.
pub const MAX_NAME_LEN: usize = 200;

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

/// Why a directory or S3 prefix cannot be a store's root
/// ([`StoreError::InvalidRoot`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RootProblem {
    /// A part named as one of a store's own folders ([`OWN_FOLDERS`]):
    /// the rule of directories and of S3 prefixes.
    Namespace,
    /// A part starting with `~` that is not one of [`OWN_FOLDERS`]: the
    /// rule of S3 prefixes only, as `~` marks a store's own folders.
    Tilde,
    /// A part that is not a valid name, for this reason.
    Name(&'static str),
}

fn invalid_root(part: &str, problem: RootProblem) -> StoreError {
    StoreError::InvalidRoot {
        part: part.to_string(),
        problem,
    }
}

/// Rejects an S3 key prefix (slashes around it ignored) with a part that
/// starts with `~` or is not a valid name: a store at the shorter prefix
/// could neither list such a part as a name nor tell it from its own
/// folders (its `gc` would take `~runs/x` for a dead run).
pub fn validate_prefix(prefix: &str) -> StoreResult<()> {
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() {
        return Ok(());
    }
    for part in prefix.split('/') {
        if OWN_FOLDERS.contains(&part) {
            return Err(invalid_root(part, RootProblem::Namespace));
        }
        if part.starts_with('~') {
            return Err(invalid_root(part, RootProblem::Tilde));
        }
        if let Err(StoreError::InvalidName { reason, .. }) = validate_matrix_name(part) {
            return Err(invalid_root(part, RootProblem::Name(reason)));
        }
    }
    Ok(())
}

/// Rejects a store directory inside one of a store's own folders
/// ([`OWN_FOLDERS`]: `/data/~runs/mine`), which the store at `/data` would
/// take for its own. Other names are the user's business: a store above lists a part it
/// cannot read as such and leaves it alone.
pub fn validate_root_dir(root: &Path) -> StoreResult<()> {
    for part in root.components() {
        if let Component::Normal(part) = part
            && let Some(part) = part.to_str()
            && OWN_FOLDERS.contains(&part)
        {
            return Err(invalid_root(part, RootProblem::Namespace));
        }
    }
    Ok(())
}

/// The suffix of a bundle's name, `<content key>.lpb`.
pub const BUNDLE_SUFFIX: &str = ".lpb";

/// Rejects a name that is not a bundle's under `~bundles/`: a valid name
/// ending in [`BUNDLE_SUFFIX`] (anything else there is not a bundle).
pub fn validate_bundle_name(name: &str) -> StoreResult<()> {
    let key = name.strip_suffix(BUNDLE_SUFFIX).unwrap_or_default();
    if key.is_empty() || validate_matrix_name(name).is_err() {
        return Err(StoreError::InvalidName {
            name: name.to_string(),
            reason: "a bundle's name is its content key and `.lpb`",
        });
    }
    Ok(())
}

/// [`validate_bundle_name`], as a test.
pub fn is_bundle_name(name: &str) -> bool {
    validate_bundle_name(name).is_ok()
}

/// `~bundles/<name>`.
pub fn bundle_location(name: &str) -> String {
    format!("{BUNDLES}/{name}")
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

    #[test]
    fn a_root_inside_a_stores_own_folders_is_refused_naming_the_part() {
        for ok in ["", "/", "runs/chol1", "/runs/chol1/", "a.b-c_d"] {
            assert!(validate_prefix(ok).is_ok(), "{ok}");
        }
        let refused = |prefix: &str| validate_prefix(prefix).unwrap_err().to_string();
        assert_eq!(
            refused("~runs"),
            "its path has a part `~runs`, the name of one of a store's own folders (`~runs`, \
             `~inputs`, `~bundles`, `~pool`): a store above it would take this store's \
             contents for its own"
        );
        assert_eq!(
            refused("runs/~x/y"),
            "its path has a part `~x`, and a part of an S3 prefix may not start with `~`, \
             which marks a store's own folders (`~runs`, `~inputs`, `~bundles`, `~pool`): a \
             store above it could not tell this store's contents from its own"
        );
        assert_eq!(
            refused("a b/c"),
            "its path has a part `a b`, which is not a valid name (only ASCII letters, \
             digits, '_', '-' and '.' are allowed): a store above it could not list it"
        );
        assert_eq!(
            refused("a//c"),
            "its path has a part ``, which is not a valid name (the name is empty): a store \
             above it could not list it"
        );
        assert!(validate_root_dir(Path::new("/tmp/~me/store")).is_ok());
        assert!(validate_root_dir(Path::new("/tmp/d/sub")).is_ok());
        for bad in [
            "/tmp/x/~runs",
            "/tmp/x/~inputs/k",
            "rel/~bundles",
            "/d/~pool/1-0",
        ] {
            assert!(
                matches!(
                    validate_root_dir(Path::new(bad)),
                    Err(StoreError::InvalidRoot {
                        problem: RootProblem::Namespace,
                        ..
                    })
                ),
                "{bad}"
            );
        }
        assert!(is_bundle_name("0af3.lpb"));
        for not in [".lpb", "x.lpb.tmp", "a b.lpb", "x", "../x.lpb"] {
            assert!(!is_bundle_name(not), "{not}");
        }
    }
}
