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
//!
//! A store may hold another store below it (`dir:ROOT/sub`, an S3 prefix
//! under another): [`nested_store`] is the one rule that tells one, and
//! listing, removal and collection leave it alone. One entry that cannot be
//! read never ends a listing or a collection: it is reported and the rest
//! goes on.

use super::location::{self, BUNDLES, INPUTS, LINK_DOC, OWN_FOLDERS, POOL_DIR, RUNS};
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
    /// Removing a bundle while a run is running, which may need it (no
    /// record says which bundle a run runs).
    BundleMayBeInUse {
        bundle: String,
        run: String,
    },
    /// Removing another store nested in this one, or a location in it.
    Nested(NestedStore),
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
            MaintenanceError::BundleMayBeInUse { bundle, run } => write!(
                f,
                "run `{run}` is running and may need `{bundle}`; remove it once no run is running"
            ),
            MaintenanceError::Nested(nested) => {
                let (at, holds) = (&nested.location, &nested.holds);
                write!(f, "`{at}` is another store (it holds {holds}); ")?;
                nested.advise(f)
            }
        }
    }
}

impl std::error::Error for MaintenanceError {}

impl MaintenanceError {
    /// The error of a removal from the store `spec` (`dir:PATH`,
    /// `s3://BUCKET/PREFIX`): a nested store is then named by its own spec.
    pub fn in_store(self, spec: &str) -> Self {
        match self {
            MaintenanceError::Nested(nested) => MaintenanceError::Nested(nested.in_store(spec)),
            other => other,
        }
    }
}

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

/// A published name whose matrix is gone (removed after it was published;
/// older versions also published removed outputs): such a name is neither
/// a matrix to read nor free to create one under, and only removing it
/// frees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DanglingLink {
    /// The published name.
    pub name: String,
    /// The location its link points at.
    pub to: String,
}

impl DanglingLink {
    /// The one rule: a link whose target has no header (`target`, the
    /// header read at the link's location) dangles.
    fn of(name: &str, link: &Link, target: Option<&MatrixHeader>) -> Option<DanglingLink> {
        target.is_none().then(|| DanglingLink {
            name: name.to_string(),
            to: link.location.clone(),
        })
    }

    /// The one sentence saying so, with `remedy`, the way to remove the
    /// name where it is shown (`` `lpc store rm NAME` ``,
    /// `Store.remove("NAME")`): "the published name `fac` points at
    /// ~runs/R/L, which is no longer in the store (`lpc store rm fac`
    /// removes the name)".
    pub fn with_remedy<'a>(&'a self, remedy: &'a str) -> impl std::fmt::Display + 'a {
        struct Sentence<'a>(&'a DanglingLink, &'a str);
        impl std::fmt::Display for Sentence<'_> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let (DanglingLink { name, to }, remedy) = (self.0, self.1);
                write!(
                    f,
                    "the published name `{name}` points at {to}, which is no longer in the \
                     store ({remedy} removes the name)"
                )
            }
        }
        Sentence(self, remedy)
    }
}

/// User name `name`, if it is a [`DanglingLink`].
pub fn dangling(store: &dyn Store, name: &str) -> StoreResult<Option<DanglingLink>> {
    if name.starts_with('~') {
        return Ok(None);
    }
    match read_link(store, name)? {
        Some(link) => Ok(DanglingLink::of(
            name,
            &link,
            store.get_header(&link.location)?.as_ref(),
        )),
        None => Ok(None),
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
    // A name is a promise that the matrix is there, after a crash too.
    store.sync(location)?;
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

/// What shows a location to be another store ([`nested_store`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Holds {
    Runs,
    Inputs,
    Bundles,
    /// A directory store's recycled files.
    Pool,
    /// A location below a name at the root (a matrix, a published name).
    Location(String),
}

impl std::fmt::Display for Holds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Holds::Runs => f.write_str("runs"),
            Holds::Inputs => f.write_str("inputs"),
            Holds::Bundles => f.write_str("bundles"),
            Holds::Pool => f.write_str("recycled files"),
            Holds::Location(name) => write!(f, "`{name}`"),
        }
    }
}

/// Another store inside this one, at `location`: a name at the root, or
/// (left by older versions, which took any S3 prefix) a folder in `~runs`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NestedStore {
    pub location: String,
    pub holds: Holds,
    /// The nested store's own spec, when the caller named the outer one
    /// ([`NestedStore::in_store`]).
    pub spec: Option<String>,
}

impl NestedStore {
    fn at(location: impl Into<String>, holds: Holds) -> Self {
        NestedStore {
            location: location.into(),
            holds,
            spec: None,
        }
    }

    /// Names the nested store by its own spec, given the outer store's;
    /// one inside a namespace folder has none a store can be opened at.
    pub fn in_store(mut self, spec: &str) -> Self {
        if !self.location.starts_with('~') {
            self.spec = Some(format!("{}/{}", spec.trim_end_matches('/'), self.location));
        }
        self
    }

    /// How to manage it instead: by its own spec, or not at all from here.
    fn advise(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.spec {
            Some(spec) => write!(f, "manage it as {spec}"),
            None if self.location.starts_with('~') => {
                f.write_str("lpc store leaves it alone (no store can be opened there)")
            }
            None => f.write_str("manage it as a store of its own"),
        }
    }
}

/// `lpc store ls`'s words: `it holds runs; manage it as dir:/data/sub`.
impl std::fmt::Display for NestedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "it holds {}; ", self.holds)?;
        self.advise(f)
    }
}

/// The rule for another store nested in this one, defined once: a
/// location that holds one of a store's own folders
/// ([`location::OWN_FOLDERS`]: every store a run used holds `~runs`) is
/// one; so is a name
/// at the root with any location below it, as a matrix's folder holds only
/// its tiles and documents and a published name's only its link (a store
/// of matrices written block by block holds nothing else).
pub fn nested_store(store: &dyn Store, location: &str) -> StoreResult<Option<NestedStore>> {
    let children = store.list_children(location)?;
    Ok(holds_store(&children, !location.contains('/'))
        .map(|holds| NestedStore::at(location, holds)))
}

fn holds_store(children: &[String], at_root: bool) -> Option<Holds> {
    for folder in OWN_FOLDERS {
        if children.iter().any(|c| c == folder) {
            return Some(match folder {
                RUNS => Holds::Runs,
                INPUTS => Holds::Inputs,
                BUNDLES => Holds::Bundles,
                POOL_DIR => Holds::Pool,
                _ => unreachable!("every own folder is named"),
            });
        }
    }
    match children.first() {
        Some(child) if at_root => Some(Holds::Location(child.clone())),
        _ => None,
    }
}

/// The entries of namespace `namespace` (`~runs`, `~inputs`), and the
/// store nested in the namespace folder itself, if it is one (older
/// versions took `--prefix '~runs'`): that store's own folders are then
/// not entries of this one.
fn namespace_entries(
    store: &dyn Store,
    namespace: &str,
) -> StoreResult<(Vec<String>, Option<NestedStore>)> {
    let mut entries = store.list_children(namespace)?;
    let nested = holds_store(&entries, false).map(|holds| NestedStore::at(namespace, holds));
    if nested.is_some() {
        entries.retain(|e| !e.starts_with('~'));
    }
    Ok((entries, nested))
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
    /// For a published name whose matrix is gone ([`dangling`]'s rule).
    pub dangling: Option<DanglingLink>,
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
    /// Another store nested in this one, listed as such and nothing more.
    pub nested: Option<NestedStore>,
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
        self.run.is_some_and(|r| r != RunStatus::NoRecord) && self.origin.is_none()
    }

    /// Tiles in the namespace of a run that was removed (a worker of a
    /// cancelled run can write one after the clean-up): temporaries or
    /// outputs, nothing tells which any more, and `gc` removes them.
    pub fn is_orphan(&self) -> bool {
        self.run == Some(RunStatus::NoRecord) && self.origin.is_none()
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
        dangling: None,
        run,
        tiles: store.list_tiles(&location)?,
        stored_bytes,
        location,
        problem: None,
        nested: None,
    })
}

/// The listing of `location`, or an entry saying why it cannot be read.
fn listing_or_problem(store: &dyn Store, location: String, run: Option<RunStatus>) -> Listing {
    listing(store, location.clone(), run)
        .unwrap_or_else(|e| unreadable(location, run, e.to_string()))
}

fn unreadable(location: String, run: Option<RunStatus>, problem: String) -> Listing {
    Listing {
        problem: Some(problem),
        ..bare(location, run)
    }
}

fn nested_entry(nested: NestedStore) -> Listing {
    let location = nested.location.clone();
    Listing {
        nested: Some(nested),
        ..bare(location, None)
    }
}

/// An entry that says nothing yet.
fn bare(location: String, run: Option<RunStatus>) -> Listing {
    Listing {
        location,
        header: None,
        origin: None,
        link: None,
        dangling: None,
        run,
        tiles: Vec::new(),
        stored_bytes: None,
        problem: None,
        nested: None,
    }
}

/// Everything the store holds: user names (matrices and published links),
/// inputs by origin, and each run's matrices; another store nested in it
/// is one entry, and an entry that cannot be read is listed with the
/// reason (bundles: [`Store::bundles`]).
pub fn list(store: &dyn Store) -> StoreResult<Vec<Listing>> {
    let mut out = Vec::new();
    for name in store.list_children("")? {
        // A store's own folders (`~` marks them) are not names.
        if !name.starts_with('~') {
            out.push(list_name(store, name));
        }
    }
    let (keys, nested) = namespace_entries(store, INPUTS)?;
    out.extend(nested.map(nested_entry));
    for key in keys {
        out.push(listing_or_problem(
            store,
            location::input_location(&key),
            None,
        ));
    }
    let now = now_secs();
    let (runs, nested) = namespace_entries(store, RUNS)?;
    out.extend(nested.map(nested_entry));
    for run in runs {
        list_run(store, &run, now, &mut out);
    }
    Ok(out)
}

/// The entry of user name `name`: a nested store, a published link or a
/// matrix.
fn list_name(store: &dyn Store, name: String) -> Listing {
    match nested_store(store, &name) {
        Ok(Some(nested)) => return nested_entry(nested),
        Ok(None) => {}
        Err(e) => return unreadable(name, None, e.to_string()),
    }
    match read_link(store, &name) {
        Ok(Some(link)) => {
            let mut entry = listing(store, link.location.clone(), None).unwrap_or_else(|e| {
                let why = format!("its {LINK_DOC} points at `{}`: {e}", link.location);
                unreadable(name.clone(), None, why)
            });
            if entry.problem.is_none() {
                entry.dangling = DanglingLink::of(&name, &link, entry.header.as_ref());
            }
            entry.location = name;
            entry.link = Some(link.location);
            entry
        }
        Ok(None) => listing_or_problem(store, name, None),
        Err(e) => unreadable(name, None, e.to_string()),
    }
}

/// The entries of run `run`: one per matrix, or one saying why the run
/// cannot be read (a folder no run could have made).
fn list_run(store: &dyn Store, run: &str, now: u64, out: &mut Vec<Listing>) {
    let root = location::run_root(run);
    let read = run_status(store, run, now, STALE_AFTER)
        .and_then(|status| Ok((status, store.list_children(&root)?)));
    let (status, children) = match read {
        Ok(read) => read,
        Err(e) => return out.push(unreadable(root, None, e.to_string())),
    };
    if let Some(holds) = holds_store(&children, false) {
        return out.push(nested_entry(NestedStore::at(root, holds)));
    }
    for name in children {
        out.push(listing_or_problem(
            store,
            location::join(&root, &name),
            Some(status),
        ));
    }
}

/// The published names pointing at or below `location`.
fn links_into(store: &dyn Store, location: &str) -> StoreResult<Vec<String>> {
    let below = format!("{location}/");
    let mut names = Vec::new();
    for name in store.list_children("")? {
        if name.starts_with('~') {
            continue;
        }
        // A link that does not parse points nowhere: it must not stop the
        // removal of anything else, itself included.
        let link = match read_link(store, &name) {
            Err(StoreError::Corrupt { .. }) => None,
            read => read?,
        };
        if let Some(link) = link
            && (link.location == location || link.location.starts_with(&below))
        {
            names.push(name);
        }
    }
    Ok(names)
}

/// Removes `target`: a user name (a published link only: the run's output
/// it points to stays), `~inputs/<key>`, a whole run `~runs/<run>` or one
/// of its matrices, or a bundle `~bundles/<key>.lpb`. Refuses a running
/// run, a location that a published name points into, and another store
/// nested in this one ([`nested_store`]) or anything in it.
pub fn remove(store: &dyn Store, target: &str) -> MaintenanceResult<()> {
    let target = target.trim_end_matches('/');
    if let Some(name) = target.strip_prefix(&format!("{BUNDLES}/")) {
        return remove_bundle(store, name);
    }
    let not_found = || MaintenanceError::NotFound {
        name: target.to_string(),
    };
    location::validate_location(target).map_err(|_| not_found())?;
    let mut parts = target.splitn(3, '/');
    let (first, second) = (parts.next().unwrap_or_default(), parts.next());
    // The nested store the target would be in: its first part, or its run.
    let container = match (first, second) {
        (RUNS, Some(run)) => Some(location::run_root(run)),
        (INPUTS, _) => None,
        (name, _) => Some(name.to_string()),
    };
    if let Some(container) = container
        && let Some(nested) = nested_store(store, &container)?
    {
        return Err(MaintenanceError::Nested(nested));
    }
    if let (RUNS, Some(run)) = (first, second)
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

/// Removes bundle `~bundles/<name>`, unless a run is running: no record
/// says which bundle a run runs, and a cold worker fetches it.
fn remove_bundle(store: &dyn Store, name: &str) -> MaintenanceResult<()> {
    let bundle = location::bundle_location(name);
    if !store.bundles()?.iter().any(|b| b.name == name) {
        return Err(MaintenanceError::NotFound { name: bundle });
    }
    if let Some(run) = running_run(store, now_secs(), STALE_AFTER)? {
        return Err(MaintenanceError::BundleMayBeInUse { bundle, run });
    }
    Ok(store.remove_bundle(name)?)
}

/// How long a run on another machine may go without a heartbeat before
/// `gc` calls it dead: ten heartbeats.
pub const STALE_AFTER: Duration = Duration::from_secs(300);

/// What a collection removed, and what it left alone, with why: an entry
/// it could not read, or another store nested in this one. One such entry
/// never stops the collection of the others.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Collected {
    /// Runs (their ids), or locations (inputs, bundles).
    pub removed: Vec<String>,
    /// Location, and why it was left.
    pub skipped: Vec<(String, String)>,
}

/// A run of the store that is running, if any. A record that cannot be
/// read is no live run's: a live run rewrites its record whole at every
/// heartbeat.
fn running_run(store: &dyn Store, now: u64, stale_after: Duration) -> StoreResult<Option<String>> {
    for run in store.list_children(RUNS)? {
        if let Ok(RunStatus::Running) = run_status(store, &run, now, stale_after) {
            return Ok(Some(run));
        }
    }
    Ok(None)
}

/// Removes the inputs whose import never finished
/// ([`Listing::is_incomplete_import`]), unless a run of the store is
/// running: imports happen inside a run, so one may be importing now.
pub fn collect_incomplete_imports(
    store: &dyn Store,
    stale_after: Duration,
) -> StoreResult<Collected> {
    let mut collected = Collected::default();
    if running_run(store, now_secs(), stale_after)?.is_some() {
        return Ok(collected);
    }
    let (keys, nested) = namespace_entries(store, INPUTS)?;
    for key in keys {
        let at = location::input_location(&key);
        match Origin::read(store, &at) {
            Ok(origin) if is_incomplete_import(&at, origin.as_ref()) => match &nested {
                // Its names have no origin either.
                Some(nested) => collected.skipped.push((at, in_nested(nested))),
                // A run that began since the check above may be importing
                // this very location: asked again just before (an import
                // also checks its tiles before it calls itself whole).
                None if running_run(store, now_secs(), stale_after)?.is_some() => break,
                None => {
                    store.remove_all(&at)?;
                    collected.removed.push(at);
                }
            },
            Ok(_) => {}
            Err(e) => collected.skipped.push((at, e.to_string())),
        }
    }
    Ok(collected)
}

/// Why a collection leaves an entry of a namespace that also holds another
/// store alone.
fn in_nested(nested: &NestedStore) -> String {
    format!(
        "`{}` also holds another store (it holds {}), and this may be one of its names",
        nested.location, nested.holds
    )
}

/// Removes the namespace of every collectable run ([`RunStatus::Dead`],
/// [`RunStatus::NoRecord`]); the runs removed are given by id. Finished
/// runs keep their outputs.
pub fn collect_dead_runs(store: &dyn Store, stale_after: Duration) -> StoreResult<Collected> {
    let now = now_secs();
    let mut collected = Collected::default();
    let (runs, in_runs) = namespace_entries(store, RUNS)?;
    for run in runs {
        let root = location::run_root(&run);
        let read = match run_status(store, &run, now, stale_after) {
            Ok(status) if !status.is_collectable() => continue,
            Ok(status) => store.list_children(&root).map(|below| (status, below)),
            Err(e) => Err(e),
        };
        let (status, below) = match read {
            Ok(read) => read,
            Err(e) => {
                collected.skipped.push((root, e.to_string()));
                continue;
            }
        };
        if let Some(holds) = holds_store(&below, false) {
            let why = format!("another store, not a run (it holds {holds})");
            collected.skipped.push((root, why));
        } else if let (RunStatus::NoRecord, true, Some(in_runs)) =
            (status, below.is_empty(), &in_runs)
        {
            // A name of the store in `~runs` (a published name, a matrix)
            // has no record and, unlike a run, no location below it.
            collected.skipped.push((root, in_nested(in_runs)));
        } else {
            store.remove_all(&root)?;
            collected.removed.push(run);
        }
    }
    Ok(collected)
}

/// Removes the bundles written more than `stale_after` ago, unless a run
/// of the store is running. No record says which bundle a run runs; only a
/// running run needs one (a cold worker fetches it), and a run writes its
/// record before it uploads its bundle, so a bundle older than that with
/// no run running is none's. A bundle whose date the store does not give
/// is kept.
///
/// The lambda driver uploads a run's bundle again under the same name at
/// every start, so a run may start while the bundles are collected. Just
/// before deleting, the collection checks again that no run is running
/// and lists the bundles again, keeping any written since the first
/// listing. What is left is the time between that second listing and the
/// deletions: a run that uploads its bundle then loses it, and its first
/// cold worker fails the run with "bundle s3://BUCKET/KEY does not exist"
/// (running it again uploads the bundle again).
pub fn collect_unused_bundles(store: &dyn Store, stale_after: Duration) -> StoreResult<Collected> {
    let now = now_secs();
    let mut collected = Collected::default();
    if running_run(store, now, stale_after)?.is_some() {
        return Ok(collected);
    }
    let listed = match store.bundles() {
        Ok(bundles) => bundles,
        Err(e) => {
            collected.skipped.push((BUNDLES.to_string(), e.to_string()));
            return Ok(collected);
        }
    };
    let stale: Vec<_> = listed
        .into_iter()
        .filter(|b| {
            b.modified
                .is_some_and(|t| now.saturating_sub(t) > stale_after.as_secs())
        })
        .collect();
    if stale.is_empty() || running_run(store, now_secs(), stale_after)?.is_some() {
        return Ok(collected);
    }
    // Written again since the first listing (a run started), or gone.
    let again = store.bundles()?;
    for bundle in stale {
        let unchanged = again
            .iter()
            .any(|b| b.name == bundle.name && b.modified == bundle.modified);
        if unchanged {
            store.remove_bundle(&bundle.name)?;
            collected
                .removed
                .push(location::bundle_location(&bundle.name));
        }
    }
    Ok(collected)
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
