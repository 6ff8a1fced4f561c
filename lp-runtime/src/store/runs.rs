//! The life of a run in a shared store: its record (`~runs/<run>/run.json`),
//! a heartbeat while it runs, and the clean-up when it ends.
//!
//! A run that finishes keeps its outputs under `~runs/<run>/` (temporaries
//! were freed after their last reader) and says so in its record; a run
//! that fails or is stopped removes its whole namespace, since a partial
//! factor is no answer. A run that dies without either (SIGKILL, a power
//! cut) leaves a record still saying `running`, which `lpc store gc`
//! recognises as dead ([`RunRecord::is_dead`]): on this machine at once,
//! from the process identity it records; elsewhere once its heartbeat is
//! older than the staleness limit.

use super::location::{RUN_DOC, run_root};
use super::{Store, StoreError, StoreResult};
use serde::{Deserialize, Serialize};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Inside each directory store's pool folder: the [`ProcessId`] that owns it.
pub const OWNER_FILE: &str = "owner.json";

/// How often a running run rewrites its record.
pub const HEARTBEAT: Duration = Duration::from_secs(30);

/// A process, told apart from a later process with the same pid: the
/// kernel's boot id (a random UUID per boot, not a host name) and the
/// process's start time in clock ticks since boot. Empty `boot` where the
/// system does not say (then only heartbeats tell liveness). A pid means
/// something only in its PID namespace (a container's process 1 is not
/// the host's), so `ns` names that namespace; a record without one (an
/// older version's) is judged by its heartbeat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessId {
    pub boot: String,
    #[serde(default)]
    pub ns: String,
    pub pid: u32,
    pub start: u64,
}

fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// This process's PID namespace, `pid:[4026531836]`; empty where the
/// system does not say.
fn pid_namespace() -> String {
    std::fs::read_link("/proc/self/ns/pid")
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Field 22 of `/proc/<pid>/stat` (the start time); the command name before
/// it is parenthesised and may hold spaces, so fields are counted after
/// its closing parenthesis.
fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

impl ProcessId {
    pub fn current() -> ProcessId {
        let pid = std::process::id();
        ProcessId {
            boot: boot_id(),
            ns: pid_namespace(),
            pid,
            start: start_ticks(pid).unwrap_or(0),
        }
    }

    /// Whether the process still runs, if this process can tell: `None`
    /// when it was started on another machine, another boot, or in another
    /// PID namespace (another container), where its pid names some other
    /// process here.
    pub fn is_alive(&self) -> Option<bool> {
        let (boot, ns) = (boot_id(), pid_namespace());
        if boot.is_empty() || boot != self.boot || ns.is_empty() || ns != self.ns {
            return None;
        }
        Some(start_ticks(self.pid) == Some(self.start))
    }
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A new run id, unique across processes and machines in practice: the
/// time in nanoseconds and the process id.
pub fn fresh_run_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("run-{nanos:x}-{:x}", std::process::id())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    Running,
    /// Finished successfully; its outputs stay until removed.
    Finished,
}

/// `~runs/<run>/run.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    pub run: String,
    /// The program, as the user named it (a file name or `<stdin>`).
    pub program: String,
    pub state: RunState,
    pub owner: ProcessId,
    pub started: u64,
    /// Last sign of life (seconds since the epoch).
    pub heartbeat: u64,
}

impl RunRecord {
    pub fn read(store: &dyn Store, run: &str) -> StoreResult<Option<RunRecord>> {
        let root = run_root(run);
        let Some(bytes) = store.get_doc(&root, RUN_DOC)? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StoreError::Corrupt {
                what: format!("{root}/{RUN_DOC}"),
                reason: e.to_string(),
            })
    }

    fn write(&self, store: &dyn Store) -> StoreResult<()> {
        let json = serde_json::to_vec_pretty(self).expect("a run record always serialises");
        store.put_doc(&run_root(&self.run), RUN_DOC, &json)
    }

    /// A run still `running` whose process is gone (this machine can
    /// tell), or whose heartbeat is older than `stale_after`.
    pub fn is_dead(&self, now: u64, stale_after: Duration) -> bool {
        if self.state != RunState::Running {
            return false;
        }
        match self.owner.is_alive() {
            Some(alive) => !alive,
            None => now.saturating_sub(self.heartbeat) > stale_after.as_secs(),
        }
    }
}

/// A run in progress: its record is written at [`RunGuard::begin`] and
/// refreshed every [`HEARTBEAT`]; [`RunGuard::finish`] marks it finished,
/// and dropping the guard otherwise (failure, Ctrl-C, an early return)
/// removes the run's namespace.
pub struct RunGuard {
    store: Arc<dyn Store>,
    record: Arc<Mutex<RunRecord>>,
    stop: Option<mpsc::Sender<()>>,
    heartbeat: Option<JoinHandle<()>>,
    finished: bool,
}

impl RunGuard {
    /// Starts run `run` of `program` in `store`.
    pub fn begin(store: Arc<dyn Store>, run: &str, program: &str) -> StoreResult<RunGuard> {
        let now = now_secs();
        let record = RunRecord {
            run: run.to_string(),
            program: program.to_string(),
            state: RunState::Running,
            owner: ProcessId::current(),
            started: now,
            heartbeat: now,
        };
        record.write(store.as_ref())?;
        let record = Arc::new(Mutex::new(record));
        let (stop, stopped) = mpsc::channel::<()>();
        let beat = {
            let (store, record) = (store.clone(), record.clone());
            std::thread::Builder::new()
                .name("lp-heartbeat".to_string())
                .spawn(move || {
                    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(HEARTBEAT) {
                        let mut record = record.lock().unwrap_or_else(|e| e.into_inner());
                        record.heartbeat = now_secs();
                        // A missed beat only makes the run look older to gc.
                        let _ = record.write(store.as_ref());
                    }
                })
                .ok()
        };
        Ok(RunGuard {
            store,
            record,
            stop: Some(stop),
            heartbeat: beat,
            finished: false,
        })
    }

    pub fn run(&self) -> String {
        self.lock().run.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RunRecord> {
        self.record.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stop_heartbeat(&mut self) {
        drop(self.stop.take());
        if let Some(beat) = self.heartbeat.take() {
            let _ = beat.join();
        }
    }

    /// Marks the run finished: its outputs stay in the store, flushed to
    /// disk before the record says so ([`Store::sync`]). If that fails the
    /// run is not finished, and its namespace goes.
    pub fn finish(mut self) -> StoreResult<()> {
        self.stop_heartbeat();
        self.store.sync(&run_root(&self.run()))?;
        self.finished = true;
        let mut record = self.lock().clone();
        record.state = RunState::Finished;
        record.heartbeat = now_secs();
        record.write(self.store.as_ref())
    }
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        self.stop_heartbeat();
        if !self.finished {
            let root = run_root(&self.lock().run);
            // Best effort: what is left is a dead run that `gc` removes.
            let _ = self.store.remove_all(&root);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This process is alive to itself; the same pid and start time
    /// recorded in another PID namespace, or by an older version that
    /// recorded none, is for the heartbeat to judge: there the pid names
    /// another process (or none) of this namespace.
    #[test]
    fn a_process_is_judged_only_from_its_own_pid_namespace() {
        let me = ProcessId::current();
        assert!(!me.ns.is_empty(), "Linux names the PID namespace");
        assert_eq!(me.is_alive(), Some(true));
        let elsewhere = ProcessId {
            ns: "pid:[1]".to_string(),
            ..me.clone()
        };
        assert_eq!(elsewhere.is_alive(), None);
        let old: ProcessId = serde_json::from_str(&format!(
            r#"{{"boot":"{}","pid":{},"start":{}}}"#,
            me.boot, me.pid, me.start
        ))
        .unwrap();
        assert_eq!(old.ns, "");
        assert_eq!(old.is_alive(), None);
        let gone = ProcessId {
            start: me.start + 1,
            ..me
        };
        assert_eq!(gone.is_alive(), Some(false));
    }
}
