//! Fault injection for the fault-tolerance tests, compiled into `lp-worker`
//! only with the `fault-injection` feature, so that no production worker
//! carries a way to make it crash.

use lp_program::JobId;
use lp_runtime::aws::lambda::WorkerHooks;
use lp_runtime::protocol::{Counters, InterceptedCounters};
use lp_runtime::store::{Store, StoreLayer, StoreResult};
use lp_std::Tile;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The hooks `LP_WORKER_FAULT` asks for, off unless
/// `LP_WORKER_FAULT` is set to one of
///
/// * `exit-before-completions:<job>:<marker file>`: the first worker process
///   to finish the writes of job `<job>` exits on the spot, before recording
///   any completion;
/// * `exit-before-write:<matrix>:<i>:<j>:<marker file>`: the first worker
///   process about to store tile `<matrix>[<i>, <j>]` exits instead: its job
///   loaded its inputs and ran its kernels, and nothing it computed reached
///   S3, as for a container killed mid-kernel.
///
/// "First" is the process that creates the marker file, so a fault fires
/// once across a pool of workers, as the one Lambda container killed.
pub fn hooks_from_env() -> WorkerHooks {
    match std::env::var("LP_WORKER_FAULT") {
        Ok(spec) => fault_hooks(&spec).unwrap_or_else(|| {
            eprintln!("lp-worker: ignoring malformed LP_WORKER_FAULT={spec:?}");
            WorkerHooks::default()
        }),
        Err(_) => WorkerHooks::default(),
    }
}

fn fault_hooks(spec: &str) -> Option<WorkerHooks> {
    let (kind, rest) = spec.split_once(':')?;
    match kind {
        "exit-before-completions" => {
            let (job, marker) = rest.split_once(':')?;
            let job: JobId = job.parse().ok()?;
            let marker = PathBuf::from(marker);
            Some(WorkerHooks {
                counters: Some(Arc::new(move |inner| {
                    let marker = marker.clone();
                    Box::new(InterceptedCounters::new(inner).on_record_done(
                        move |inner, child, parent| {
                            if parent == job && claim(&marker) {
                                exit(&format!("after the writes of job {parent}"));
                            }
                            inner.record_done(child, parent)
                        },
                    )) as Box<dyn Counters>
                })),
                ..WorkerHooks::default()
            })
        }
        "exit-before-write" => {
            let mut parts = rest.splitn(4, ':');
            let matrix = parts.next()?.to_string();
            let i: usize = parts.next()?.parse().ok()?;
            let j: usize = parts.next()?.parse().ok()?;
            let marker = PathBuf::from(parts.next()?);
            Some(WorkerHooks {
                store: Some(Arc::new(move |inner| {
                    Box::new(ExitBeforeWrite {
                        inner,
                        tile: (matrix.clone(), i, j),
                        marker: marker.clone(),
                    }) as Box<dyn Store>
                })),
                ..WorkerHooks::default()
            })
        }
        _ => None,
    }
}

fn exit(when: &str) -> ! {
    eprintln!("lp-worker: injected fault: exiting {when}");
    std::process::exit(86);
}

struct ExitBeforeWrite {
    inner: Arc<dyn Store>,
    tile: (String, usize, usize),
    marker: PathBuf,
}

impl StoreLayer for ExitBeforeWrite {
    fn inner(&self) -> &dyn Store {
        &*self.inner
    }
    fn put_tile(&self, matrix: &str, i: usize, j: usize, tile: Arc<Tile>) -> StoreResult<()> {
        if (matrix, i, j) == (self.tile.0.as_str(), self.tile.1, self.tile.2) && claim(&self.marker)
        {
            exit(&format!("before writing {matrix}[{i}, {j}]"));
        }
        self.inner.put_tile(matrix, i, j, tile)
    }
}

/// Creates `marker`; true for the one process that created it, so that a
/// fault fires once across the worker pool.
fn claim(marker: &Path) -> bool {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(marker)
        .is_ok()
}
