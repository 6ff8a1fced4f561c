//! `lpc store ls|gc|rm STORE`: what a shared store holds, and removing what
//! is no longer wanted (`lp_runtime::store::maintenance`; docs/runtime.md,
//! "Runs sharing a store").

use crate::cli::aws::AwsArgs;
use crate::cli::human_bytes;
use lp_runtime::store::location;
use lp_runtime::store::maintenance::{self, Collected, Listing, RunStatus, STALE_AFTER};
use lp_runtime::store::{DirStore, Store};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(clap::Subcommand)]
pub enum Command {
    /// List matrices with their origin, size and run, bundles, and stores
    /// nested in this one.
    Ls(Target),
    /// Remove what dead runs left behind: namespaces of runs that are no
    /// longer alive, interrupted imports, bundles no run needs and
    /// recycled-file pools of exited processes. Finished runs keep their
    /// outputs.
    Gc {
        #[command(flatten)]
        target: Target,
        /// A run on another machine is dead after this many seconds
        /// without a heartbeat (runs on this machine are checked directly).
        #[arg(long, value_name = "SECONDS", default_value_t = STALE_AFTER.as_secs())]
        stale_after: u64,
    },
    /// Remove a matrix (a name, `~inputs/KEY`, `~runs/RUN/NAME`), a whole
    /// run (`~runs/RUN`) or a bundle (`~bundles/KEY.lpb`), as `lpc store
    /// ls` shows them.
    Rm {
        #[command(flatten)]
        target: Target,
        /// What to remove (repeatable).
        #[arg(required = true)]
        names: Vec<String>,
    },
}

#[derive(clap::Args)]
pub struct Target {
    /// `dir:PATH`, or `s3://BUCKET/PREFIX` (with the lambda backend built in).
    store: String,
    #[command(flatten)]
    aws: AwsArgs,
}

enum Opened {
    Dir(Arc<DirStore>),
    Other(Arc<dyn Store>),
}

impl Opened {
    fn store(&self) -> &dyn Store {
        match self {
            Opened::Dir(d) => d.as_ref(),
            Opened::Other(s) => s.as_ref(),
        }
    }
}

fn open(target: &Target) -> Result<Opened, String> {
    let spec = target.store.as_str();
    if let Some(path) = spec.strip_prefix("dir:").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        if !path.is_dir() {
            return Err(format!("{}: no such store directory", path.display()));
        }
        let store = DirStore::open(&path).map_err(|e| format!("cannot open {spec}: {e}"))?;
        return Ok(Opened::Dir(Arc::new(store)));
    }
    if let Some(rest) = spec.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        return crate::cli::aws::s3_store(&target.aws, bucket, prefix.trim_end_matches('/'))
            .map(Opened::Other);
    }
    Err(format!(
        "expected `dir:PATH` or `s3://BUCKET/PREFIX`, found `{spec}`"
    ))
}

/// A command's lines, and the error that ended it if one did: the lines
/// of the work done before the error are printed all the same.
type Outcome = (String, Result<(), String>);

pub fn run(command: Command) -> ExitCode {
    let opened = |target: &Target, command: &dyn Fn(&Opened) -> Outcome| match open(target) {
        Ok(store) => command(&store),
        Err(e) => (String::new(), Err(e)),
    };
    let (text, result) = match command {
        Command::Ls(target) => opened(&target, &|s| ls(s.store(), &target.store)),
        Command::Gc {
            target,
            stale_after,
        } => opened(&target, &|s| gc(s, Duration::from_secs(stale_after))),
        Command::Rm { target, names } => opened(&target, &|s| rm(s.store(), &target.store, &names)),
    };
    // The text is printed after the work: a reader that leaves early
    // (`lpc store rm ... | head -1`) stops no removal.
    use std::io::Write;
    let written = super::finish_output(
        std::io::stdout().lock().write_all(text.as_bytes()),
        "the listing",
    );
    match result {
        Ok(()) => written,
        Err(message) => {
            lpc::say!("error: {message}");
            ExitCode::from(2)
        }
    }
}

/// The four fields of `entry`'s line; `spec` is the listed store's.
fn describe(entry: &Listing, spec: &str) -> [String; 4] {
    let location = entry.location.clone();
    if let Some(problem) = &entry.problem {
        return [
            location,
            "(unreadable)".into(),
            String::new(),
            problem.clone(),
        ];
    }
    if let Some(nested) = &entry.nested {
        let how = nested.clone().in_store(spec).to_string();
        return [location, "(another store)".into(), String::new(), how];
    }
    let size = match &entry.header {
        Some(h) => h.to_string(),
        None => "(no header)".to_string(),
    };
    let bytes = entry
        .bytes()
        .map_or_else(|| "size unknown".to_string(), human_bytes);
    let stored = format!("{} tiles, {bytes}", entry.tiles.len());
    if entry.is_orphan() {
        let what = "orphaned tiles of a removed run (no record; lpc store gc removes them)";
        return [location, size, stored, what.to_string()];
    }
    let mut origin = match &entry.origin {
        Some(o) => o.describe(),
        None if entry.is_run_temporary() => "temporary of the run".to_string(),
        None if entry.is_incomplete_import() => {
            "an interrupted import (lpc store gc removes it)".to_string()
        }
        None => "written block by block".to_string(),
    };
    if let Some(dangling) = &entry.dangling {
        let remedy = format!("lpc store rm {}", dangling.name);
        origin = dangling.with_remedy(&remedy).to_string();
    } else if let Some(to) = &entry.link {
        origin = format!("-> {to}: {origin}");
    }
    let state = match entry.run {
        Some(RunStatus::Running) => "running",
        Some(RunStatus::Finished) => "finished",
        Some(RunStatus::Dead) => "dead (lpc store gc removes it)",
        Some(RunStatus::NoRecord) => "no record (lpc store gc removes it)",
        None => "",
    };
    [location, size, stored, format!("{origin} {state}")]
}

/// The bundles' lines, or one saying why they cannot be listed.
fn bundle_lines(store: &dyn Store) -> Vec<[String; 4]> {
    match store.bundles() {
        Ok(bundles) => bundles
            .into_iter()
            .map(|b| {
                [
                    location::bundle_location(&b.name),
                    "(program bundle)".to_string(),
                    human_bytes(b.bytes),
                    "lambda workers run it (lpc store gc removes it when no run is running)"
                        .to_string(),
                ]
            })
            .collect(),
        Err(e) => vec![[
            location::BUNDLES.to_string(),
            "(unreadable)".to_string(),
            String::new(),
            e.to_string(),
        ]],
    }
}

fn ls(store: &dyn Store, spec: &str) -> Outcome {
    let entries = match maintenance::list(store) {
        Ok(entries) => entries,
        Err(e) => return (String::new(), Err(e.to_string())),
    };
    let lines: Vec<[String; 4]> = entries
        .iter()
        .map(|entry| describe(entry, spec))
        .chain(bundle_lines(store))
        .collect();
    if lines.is_empty() {
        return ("(empty)\n".to_string(), Ok(()));
    }
    let mut text = String::new();
    for [location, size, stored, origin] in &lines {
        text += &format!("{location}\t{size}\t{stored}\t{}\n", origin.trim_end());
    }
    (text, Ok(()))
}

/// The lines of one collection: what it removed (`removed {what} X`) and
/// what it left alone, with why.
fn collected_lines(collected: &Collected, what: &str) -> String {
    let removed = collected
        .removed
        .iter()
        .map(|x| format!("removed {what} {x}\n"));
    let skipped = collected
        .skipped
        .iter()
        .map(|(at, why)| format!("skipped {at}: {why}\n"));
    removed.chain(skipped).collect()
}

/// Runs every collection, each whatever the others did: one that fails
/// neither hides what the others removed nor stops them.
fn gc(store: &Opened, stale_after: Duration) -> Outcome {
    let failed = |e: lp_runtime::store::StoreError| e.to_string();
    let s = store.store();
    let phases = [
        (
            "dead run",
            maintenance::collect_dead_runs(s, stale_after).map_err(failed),
        ),
        (
            "interrupted import",
            maintenance::collect_incomplete_imports(s, stale_after).map_err(failed),
        ),
        (
            "unused bundle",
            maintenance::collect_unused_bundles(s, stale_after).map_err(failed),
        ),
    ];
    let pools = match store {
        Opened::Dir(dir) => dir.collect_dead_pools(stale_after).map_err(failed),
        Opened::Other(_) => Ok(0),
    };
    let (text, error) = gc_report(&phases, &pools);
    (text, error.map_or(Ok(()), Err))
}

/// `gc`'s lines from its collections (`removed dead run R`, ..., and the
/// count line), and the error naming each that failed, if any.
fn gc_report(
    phases: &[(&str, Result<Collected, String>); 3],
    pools: &Result<usize, String>,
) -> (String, Option<String>) {
    let mut text = String::new();
    let mut errors = Vec::new();
    let mut counts = [0; 3];
    for ((what, result), count) in phases.iter().zip(&mut counts) {
        match result {
            Ok(collected) => {
                text += &collected_lines(collected, what);
                *count = collected.removed.len();
            }
            Err(e) => errors.push(format!("cannot collect {what}s: {e}")),
        }
    }
    let pools = match pools {
        Ok(n) => *n,
        Err(e) => {
            errors.push(format!("cannot collect stale pools: {e}"));
            0
        }
    };
    let [runs, imports, bundles] = counts;
    // Bundles are counted only where some were removed, so that the line
    // of a store without any (every local run's) reads as it always did.
    let bundles = match bundles {
        0 => String::new(),
        n => format!(", {n} unused bundle(s)"),
    };
    text += &format!(
        "gc: {runs} dead run(s), {imports} interrupted import(s){bundles} and {pools} stale \
         pool(s) removed\n"
    );
    let error = (!errors.is_empty()).then(|| errors.join("; "));
    (text, error)
}

/// Removes `names` in order; the first failure stops there, after saying
/// what was removed before it.
fn rm(store: &dyn Store, spec: &str, names: &[String]) -> Outcome {
    let mut text = String::new();
    for name in names {
        if let Err(e) = maintenance::remove(store, name).map_err(|e| e.in_store(spec)) {
            return (text, Err(format!("cannot remove {name}: {e}")));
        }
        text += &format!("removed {name}\n");
    }
    (text, Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A collection that fails neither hides what the others removed nor
    /// stops the count line; the error names it.
    #[test]
    fn a_failed_collection_keeps_the_others_removals() {
        let runs = Collected {
            removed: vec!["run-1-2".into()],
            skipped: Vec::new(),
        };
        let phases = [
            ("dead run", Ok(runs)),
            (
                "interrupted import",
                Err("listing /d/~inputs: denied".into()),
            ),
            ("unused bundle", Ok(Collected::default())),
        ];
        let (text, error) = gc_report(&phases, &Ok(1));
        assert_eq!(
            text,
            "removed dead run run-1-2\n\
             gc: 1 dead run(s), 0 interrupted import(s) and 1 stale pool(s) removed\n"
        );
        assert_eq!(
            error.as_deref(),
            Some("cannot collect interrupted imports: listing /d/~inputs: denied")
        );
    }
}
