//! `lpc store ls|gc|rm STORE`: what a shared store holds, and removing what
//! is no longer wanted (`lp_runtime::store::maintenance`; docs/runtime.md,
//! "Runs sharing a store").

use crate::cli::aws::AwsArgs;
use crate::cli::human_bytes;
use lp_runtime::store::maintenance::{self, Listing, RunStatus, STALE_AFTER};
use lp_runtime::store::{DirStore, Store};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(clap::Subcommand)]
pub enum Command {
    /// List matrices with their origin, size and run.
    Ls(Target),
    /// Remove what dead runs left behind: namespaces of runs that are no
    /// longer alive and recycled-file pools of exited processes. Finished
    /// runs keep their outputs.
    Gc {
        #[command(flatten)]
        target: Target,
        /// A run on another machine is dead after this many seconds
        /// without a heartbeat (runs on this machine are checked directly).
        #[arg(long, value_name = "SECONDS", default_value_t = STALE_AFTER.as_secs())]
        stale_after: u64,
    },
    /// Remove a matrix (a name, `~inputs/KEY`, `~runs/RUN/NAME`) or a whole
    /// run (`~runs/RUN`), as `lpc store ls` shows them.
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

pub fn run(command: Command) -> ExitCode {
    let result = match command {
        Command::Ls(target) => open(&target).and_then(|s| ls(s.store())),
        Command::Gc {
            target,
            stale_after,
        } => open(&target).and_then(|s| gc(&s, Duration::from_secs(stale_after))),
        Command::Rm { target, names } => open(&target).and_then(|s| rm(s.store(), &names)),
    };
    // The text is printed after the work: a reader that leaves early
    // (`lpc store rm ... | head -1`) stops no removal.
    match result {
        Ok(text) => {
            use std::io::Write;
            super::finish_output(
                std::io::stdout().lock().write_all(text.as_bytes()),
                "the listing",
            )
        }
        Err(message) => {
            lpc::say!("error: {message}");
            ExitCode::from(2)
        }
    }
}

fn describe(entry: &Listing) -> [String; 4] {
    if let Some(problem) = &entry.problem {
        let location = entry.location.clone();
        return [
            location,
            "(unreadable)".into(),
            String::new(),
            problem.clone(),
        ];
    }
    let size = match &entry.header {
        Some(h) => h.to_string(),
        None => "(no header)".to_string(),
    };
    let bytes = entry
        .bytes()
        .map_or_else(|| "size unknown".to_string(), human_bytes);
    let stored = format!("{} tiles, {bytes}", entry.tiles.len());
    let mut origin = match &entry.origin {
        Some(o) => o.describe(),
        None if entry.is_run_temporary() => "temporary of the run".to_string(),
        None if entry.is_incomplete_import() => {
            "an interrupted import (lpc store gc removes it)".to_string()
        }
        None => "written block by block".to_string(),
    };
    match (&entry.link, &entry.header) {
        (Some(to), None) => {
            origin = format!(
                "-> {to}, which is no longer in the store (lpc store rm {} removes the name)",
                entry.location
            )
        }
        (Some(to), Some(_)) => origin = format!("-> {to}: {origin}"),
        (None, _) => {}
    }
    let state = match entry.run {
        Some(RunStatus::Running) => "running",
        Some(RunStatus::Finished) => "finished",
        Some(RunStatus::Dead) => "dead (lpc store gc removes it)",
        Some(RunStatus::NoRecord) => "no record (lpc store gc removes it)",
        None => "",
    };
    [
        entry.location.clone(),
        size,
        stored,
        format!("{origin} {state}"),
    ]
}

fn ls(store: &dyn Store) -> Result<String, String> {
    let entries = maintenance::list(store).map_err(|e| e.to_string())?;
    if entries.is_empty() {
        return Ok("(empty)\n".to_string());
    }
    let mut text = String::new();
    for entry in &entries {
        let [location, size, stored, origin] = describe(entry);
        text += &format!("{location}\t{size}\t{stored}\t{}\n", origin.trim_end());
    }
    Ok(text)
}

fn gc(store: &Opened, stale_after: Duration) -> Result<String, String> {
    let runs =
        maintenance::collect_dead_runs(store.store(), stale_after).map_err(|e| e.to_string())?;
    let mut text: String = runs
        .iter()
        .map(|run| format!("removed dead run {run}\n"))
        .collect();
    let imports = maintenance::collect_incomplete_imports(store.store(), stale_after)
        .map_err(|e| e.to_string())?;
    for at in &imports {
        text += &format!("removed interrupted import {at}\n");
    }
    let pools = match store {
        Opened::Dir(dir) => dir
            .collect_dead_pools(stale_after)
            .map_err(|e| e.to_string())?,
        Opened::Other(_) => 0,
    };
    text += &format!(
        "gc: {} dead run(s), {} interrupted import(s) and {pools} stale pool(s) removed\n",
        runs.len(),
        imports.len()
    );
    Ok(text)
}

/// Removes `names` in order; the first failure stops there, after saying
/// what was removed before it.
fn rm(store: &dyn Store, names: &[String]) -> Result<String, String> {
    let mut text = String::new();
    for name in names {
        if let Err(e) = maintenance::remove(store, name) {
            let _ = std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes());
            return Err(format!("cannot remove {name}: {e}"));
        }
        text += &format!("removed {name}\n");
    }
    Ok(text)
}
