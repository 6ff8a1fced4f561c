//! What a person does to a shared store between runs: list what it holds,
//! publish a run's output under a stable name, resolve such a name, remove
//! a matrix, and collect what dead runs left behind (`lpc store
//! ls|gc|rm`; docs/runtime.md, "Runs sharing a store").
//!
//! A published name is a pointer, `<name>/link.json`, to the location that
//! holds the tiles (`~runs/<run>/L`). Publishing writes that one document,
//! which every store writes whole, so a reader resolves the name to the old
//! matrix or to the new one, never to a mix; when two runs publish one name
//! at once, the later write wins, and the other run's output stays in its
//! namespace. A reader resolves a name once, at the start of its run, and
//! keeps reading the location it resolved.

use super::location::{self, INPUTS, LINK_DOC, RUNS};
use super::namespace::Origin;
use super::runs::{RunRecord, RunState, now_secs};
use super::{Store, StoreError, StoreResult, validate_matrix_name};
use lp_std::MatrixHeader;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// `<name>/link.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub location: String,
    /// When it was published (seconds since the epoch).
    pub published: u64,
}

fn corrupt(what: String) -> impl FnOnce(serde_json::Error) -> StoreError {
    move |e| StoreError::Corrupt {
        what,
        reason: e.to_string(),
    }
}

/// Why a maintenance request was refused.
#[derive(Debug)]
pub enum MaintenanceError {
    Store(StoreError),
    /// Nothing of that name in the store.
    NotFound {
        name: String,
    },
    /// Publishing over a matrix written block by block, not a link.
    NotALink {
        name: String,
    },
    /// Removing a location a published name points into.
    Published {
        location: String,
        name: String,
    },
    /// Removing a run that is still running.
    Running {
        run: String,
    },
}

impl std::fmt::Display for MaintenanceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MaintenanceError::Store(e) => e.fmt(f),
            MaintenanceError::NotFound { name } => {
                write!(f, "no matrix or run `{name}` in the store")
            }
            MaintenanceError::NotALink { name } => write!(
                f,
                "`{name}` is a matrix written block by block, not a published result; \
                 remove it first (lpc store rm) to publish under its name"
            ),
            MaintenanceError::Published { location, name } => write!(
                f,
                "`{location}` is published as `{name}`; remove `{name}` first"
            ),
            MaintenanceError::Running { run } => {
                write!(f, "run `{run}` is still running; stop it first")
            }
        }
    }
}

impl std::error::Error for MaintenanceError {}

impl From<StoreError> for MaintenanceError {
    fn from(e: StoreError) -> Self {
        MaintenanceError::Store(e)
    }
}

pub type MaintenanceResult<T> = Result<T, MaintenanceError>;

/// The link stored at user name `name`, if it is one.
pub fn read_link(store: &dyn Store, name: &str) -> StoreResult<Option<Link>> {
    match store.get_doc(name, LINK_DOC)? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(corrupt(format!("{name}/{LINK_DOC}"))),
    }
}

/// The location holding the tiles of user name `name` (a published link's
/// target, or the name itself for a matrix written block by block), with
/// its header; `None` if the store has no such matrix.
pub fn resolve(store: &dyn Store, name: &str) -> StoreResult<Option<(String, MatrixHeader)>> {
    validate_matrix_name(name)?;
    let location = match read_link(store, name)? {
        Some(link) => link.location,
        None => name.to_string(),
    };
    Ok(store.get_header(&location)?.map(|h| (location, h)))
}

/// Where user name `name` points when it is a published name whose matrix
/// is gone (removed after it was published; older versions also published
/// removed outputs): such a name is neither a matrix to read nor free to
/// create one under, and only removing it frees it.
pub fn dangling_link(store: &dyn Store, name: &str) -> StoreResult<Option<String>> {
    if name.starts_with('~') {
        return Ok(None);
    }
    match read_link(store, name)? {
        Some(link) if store.get_header(&link.location)?.is_none() => Ok(Some(link.location)),
        _ => Ok(None),
    }
}

/// Publishes the matrix at `location` (a run's output) as user name `name`;
/// a location with no header (removed) is [`MaintenanceError::NotFound`].
pub fn publish(store: &dyn Store, name: &str, location: &str) -> MaintenanceResult<()> {
    check_publishable(store, name)?;
    // A link to a removed matrix would dangle: its readers could neither
    // open the name nor create a matrix under it.
    if store.get_header(location)?.is_none() {
        return Err(MaintenanceError::NotFound {
            name: location.to_string(),
        });
    }
    let link = Link {
        location: location.to_string(),
        published: now_secs(),
    };
    let json = serde_json::to_vec_pretty(&link).expect("a link always serialises");
    Ok(store.put_doc(name, LINK_DOC, &json)?)
}

/// Whether user name `name` can be published to: a valid name that is free
/// or already a link (not a matrix written block by block). A run asks
/// before it starts, so that a refusal costs no run.
pub fn check_publishable(store: &dyn Store, name: &str) -> MaintenanceResult<()> {
    validate_matrix_name(name)?;
    if read_link(store, name)?.is_none() && store.get_header(name)?.is_some() {
        return Err(MaintenanceError::NotALink {
            name: name.to_string(),
        });
    }
    Ok(())
}

/// Where a run stands, as `lpc store ls` shows it and `lpc store gc`
/// decides it ([`run_status`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunStatus {
    Running,
    Finished,
    /// Its record says running, but its process is gone or its heartbeat
    /// stale ([`RunRecord::is_dead`]): `gc` removes it.
    Dead,
    /// No record (what an interrupted removal leaves): `gc` removes it.
    NoRecord,
}

impl RunStatus {
    /// Whether `gc` removes the run.
    pub fn is_collectable(self) -> bool {
        matches!(self, RunStatus::Dead | RunStatus::NoRecord)
    }
}

/// The status of run `run`, a run on another machine being dead after
/// `stale_after` without a heartbeat: the one liveness test of `ls`, `gc`
/// and `rm`.
pub fn run_status(
    store: &dyn Store,
    run: &str,
    now: u64,
    stale_after: Duration,
) -> StoreResult<RunStatus> {
    Ok(match RunRecord::read(store, run)? {
        None => RunStatus::NoRecord,
        Some(record) if record.is_dead(now, stale_after) => RunStatus::Dead,
        Some(record) => match record.state {
            RunState::Running => RunStatus::Running,
            RunState::Finished => RunStatus::Finished,
        },
    })
}

/// One line of `lpc store ls`.
#[derive(Clone, Debug, PartialEq)]
pub struct Listing {
    /// A user name, `~inputs/<key>` or `~runs/<run>/<name>`.
    pub location: String,
    pub header: Option<MatrixHeader>,
    pub origin: Option<Origin>,
    /// For a published name: where its tiles are.
    pub link: Option<String>,
    /// For a run's matrix: the run's status.
    pub run: Option<RunStatus>,
    /// The stored tiles.
    pub tiles: Vec<(usize, usize)>,
    /// What the store says the tiles take ([`Store::tile_bytes`]), asked
    /// only for a matrix with no header.
    pub stored_bytes: Option<u64>,
    /// Why the entry could not be read (a corrupt header or link): one bad
    /// entry does not hide the rest of the listing.
    pub problem: Option<String>,
}

impl Listing {
    /// Bytes of the stored tiles: their values (ragged edge tiles counted
    /// exactly) when the header gives their shapes, else what the store
    /// says they take; `None` when neither can tell.
    pub fn bytes(&self) -> Option<u64> {
        let Some(h) = &self.header else {
            return self.stored_bytes;
        };
        let tile_bytes = |&(i, j): &(usize, usize)| {
            let t = h.tile(i, j);
            (t.rows * t.cols * std::mem::size_of::<f64>()) as u64
        };
        Some(
            self.tiles
                .iter()
                .filter(|ij| h.contains(ij.0, ij.1))
                .map(tile_bytes)
                .sum(),
        )
    }

    /// A temporary of a run: a matrix in a run's namespace without the
    /// origin that the run's placement gives each of its outputs.
    pub fn is_run_temporary(&self) -> bool {
        self.run.is_some() && self.origin.is_none()
    }

    /// An input whose import stopped before its origin, written last,
    /// said it was whole (an interrupted run): no run takes it, and `gc`
    /// removes it.
    pub fn is_incomplete_import(&self) -> bool {
        is_incomplete_import(&self.location, self.origin.as_ref())
    }
}

fn is_incomplete_import(location: &str, origin: Option<&Origin>) -> bool {
    location.starts_with(&format!("{INPUTS}/")) && origin.is_none()
}

fn listing(store: &dyn Store, location: String, run: Option<RunStatus>) -> StoreResult<Listing> {
    let header = store.get_header(&location)?;
    let stored_bytes = match header {
        Some(_) => None,
        None => store.tile_bytes(&location)?,
    };
    Ok(Listing {
        header,
        origin: Origin::read(store, &location)?,
        link: None,
        run,
        tiles: store.list_tiles(&location)?,
        stored_bytes,
        location,
        problem: None,
    })
}

/// The listing of `location`, or an entry saying why it cannot be read.
fn listing_or_problem(store: &dyn Store, location: String, run: Option<RunStatus>) -> Listing {
    listing(store, location.clone(), run)
        .unwrap_or_else(|e| unreadable(location, run, e.to_string()))
}

fn unreadable(location: String, run: Option<RunStatus>, problem: String) -> Listing {
    Listing {
        location,
        header: None,
        origin: None,
        link: None,
        run,
        tiles: Vec::new(),
        stored_bytes: None,
        problem: Some(problem),
    }
}

/// Everything the store holds: user names (matrices and published links),
/// inputs by origin, and each run's matrices.
pub fn list(store: &dyn Store) -> StoreResult<Vec<Listing>> {
    let mut out = Vec::new();
    for name in store.list_children("")? {
        // The namespaces (`~runs`, `~inputs`, `~bundles`) are not names.
        if name.starts_with('~') {
            continue;
        }
        match read_link(store, &name) {
            Ok(Some(link)) => {
                let mut entry = listing(store, link.location.clone(), None).unwrap_or_else(|e| {
                    let why = format!("its {LINK_DOC} points at `{}`: {e}", link.location);
                    unreadable(name.clone(), None, why)
                });
                entry.location = name;
                entry.link = Some(link.location);
                out.push(entry);
            }
            Ok(None) => out.push(listing_or_problem(store, name, None)),
            Err(e) => out.push(unreadable(name, None, e.to_string())),
        }
    }
    for key in store.list_children(INPUTS)? {
        out.push(listing_or_problem(
            store,
            location::input_location(&key),
            None,
        ));
    }
    let now = now_secs();
    for run in store.list_children(RUNS)? {
        let status = run_status(store, &run, now, STALE_AFTER)?;
        let root = location::run_root(&run);
        for name in store.list_children(&root)? {
            out.push(listing_or_problem(
                store,
                location::join(&root, &name),
                Some(status),
            ));
        }
    }
    Ok(out)
}

/// The published names pointing at or below `location`.
fn links_into(store: &dyn Store, location: &str) -> StoreResult<Vec<String>> {
    let below = format!("{location}/");
    let mut names = Vec::new();
    for name in store.list_children("")? {
        if name.starts_with('~') {
            continue;
        }
        if let Some(link) = read_link(store, &name)?
            && (link.location == location || link.location.starts_with(&below))
        {
            names.push(name);
        }
    }
    Ok(names)
}

/// Removes `target`: a user name (a published link only: the run's output
/// it points to stays), `~inputs/<key>`, a whole run `~runs/<run>` or one
/// of its matrices. Refuses a running run and a location that a published
/// name points into.
pub fn remove(store: &dyn Store, target: &str) -> MaintenanceResult<()> {
    let target = target.trim_end_matches('/');
    let not_found = || MaintenanceError::NotFound {
        name: target.to_string(),
    };
    location::validate_location(target).map_err(|_| not_found())?;
    let mut parts = target.splitn(3, '/');
    if let (Some(RUNS), Some(run)) = (parts.next(), parts.next())
        && run_status(store, run, now_secs(), STALE_AFTER)? == RunStatus::Running
    {
        return Err(MaintenanceError::Running {
            run: run.to_string(),
        });
    }
    // Existence first: a missing name is "not found" even when some other
    // name's link is corrupt. (The header is not read: a corrupt one is
    // what a user removes.)
    let exists = store.get_doc(target, LINK_DOC)?.is_some()
        || !store.list_children(target)?.is_empty()
        || !store.list_tiles(target)?.is_empty()
        || store.get_header(target).map_or(true, |h| h.is_some());
    if !exists {
        return Err(not_found());
    }
    if let Some(name) = links_into(store, target)?.into_iter().next() {
        return Err(MaintenanceError::Published {
            location: target.to_string(),
            name,
        });
    }
    Ok(store.remove_all(target)?)
}

/// How long a run on another machine may go without a heartbeat before
/// `gc` calls it dead: ten heartbeats.
pub const STALE_AFTER: Duration = Duration::from_secs(300);

/// Removes the inputs whose import never finished
/// ([`Listing::is_incomplete_import`]), unless a run of the store is
/// running: imports happen inside a run, so one may be importing now.
/// Returns their locations.
pub fn collect_incomplete_imports(
    store: &dyn Store,
    stale_after: Duration,
) -> StoreResult<Vec<String>> {
    let now = now_secs();
    for run in store.list_children(RUNS)? {
        if run_status(store, &run, now, stale_after)? == RunStatus::Running {
            return Ok(Vec::new());
        }
    }
    let mut removed = Vec::new();
    for key in store.list_children(INPUTS)? {
        let at = location::input_location(&key);
        if is_incomplete_import(&at, Origin::read(store, &at)?.as_ref()) {
            store.remove_all(&at)?;
            removed.push(at);
        }
    }
    Ok(removed)
}

/// Removes the namespace of every collectable run ([`RunStatus::Dead`],
/// [`RunStatus::NoRecord`]); returns the runs removed. Finished runs keep
/// their outputs.
pub fn collect_dead_runs(store: &dyn Store, stale_after: Duration) -> StoreResult<Vec<String>> {
    let now = now_secs();
    let mut removed = Vec::new();
    for run in store.list_children(RUNS)? {
        if run_status(store, &run, now, stale_after)?.is_collectable() {
            store.remove_all(&location::run_root(&run))?;
            removed.push(run);
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemStore;

    #[test]
    fn publishing_a_removed_location_writes_no_link() {
        let store = MemStore::new();
        let location = "~runs/run-1-2/L";
        let err = publish(&store, "factor", location).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no matrix or run `~runs/run-1-2/L` in the store"
        );
        assert_eq!(read_link(&store, "factor").unwrap(), None);
        let header = MatrixHeader::new([4, 4], [2, 2], false);
        store.put_header(location, &header).unwrap();
        publish(&store, "factor", location).unwrap();
        assert_eq!(
            resolve(&store, "factor").unwrap(),
            Some((location.to_string(), header))
        );
    }
}
