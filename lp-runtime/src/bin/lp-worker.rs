//! `lp-worker`: the Lambda function that runs lambdapack jobs. Each
//! invocation carries a small JSON [`WorkerPayload`] (bundle key, run id,
//! job id, where the run's state lives); the worker runs that job and the
//! ready children it is handed while its time budget lasts, recording
//! everything in S3 and DynamoDB (see `lp_runtime::aws::lambda`).
//!
//! The handler is async only at its edge: the job itself runs on tokio's
//! blocking pool (`spawn_blocking`), because kernels are CPU-bound and the
//! store and counters are synchronous facades over the SDKs (their requests
//! run on `lp_runtime::aws`'s own runtime).
//!
//! Endpoints for emulators come from `LP_S3_ENDPOINT`, `LP_DYNAMODB_ENDPOINT`,
//! `LP_LAMBDA_ENDPOINT` or `LP_AWS_ENDPOINT_URL`; region and credentials from
//! the standard chain (Lambda sets them for the function's role).

use lambda_runtime::{Error, LambdaEvent, service_fn};
use lp_runtime::aws::lambda::{WorkerHooks, handle_job};
use lp_runtime::aws::{AwsClients, AwsOptions, S3Store, WorkerPayload};
use lp_runtime::bundle::JobId;
use lp_runtime::scheduler::{Counters, InterceptedCounters, RunError};
use lp_runtime::store::{Store, StoreResult};
use lp_std::{MatrixHeader, Tile};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn clients() -> &'static AwsClients {
    static CLIENTS: OnceLock<AwsClients> = OnceLock::new();
    CLIENTS.get_or_init(|| AwsClients::connect(&AwsOptions::from_env()))
}

/// Fault injection for the fault-tolerance tests, off unless
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
fn hooks() -> &'static WorkerHooks {
    static HOOKS: OnceLock<WorkerHooks> = OnceLock::new();
    HOOKS.get_or_init(|| match std::env::var("LP_WORKER_FAULT") {
        Ok(spec) => fault_hooks(&spec).unwrap_or_else(|| {
            eprintln!("lp-worker: ignoring malformed LP_WORKER_FAULT={spec:?}");
            WorkerHooks::default()
        }),
        Err(_) => WorkerHooks::default(),
    })
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
    inner: S3Store,
    tile: (String, usize, usize),
    marker: PathBuf,
}

impl Store for ExitBeforeWrite {
    fn get_tile(&self, matrix: &str, i: usize, j: usize) -> StoreResult<Option<Arc<Tile>>> {
        self.inner.get_tile(matrix, i, j)
    }
    fn put_tile(&self, matrix: &str, i: usize, j: usize, tile: Arc<Tile>) -> StoreResult<()> {
        if (matrix, i, j) == (self.tile.0.as_str(), self.tile.1, self.tile.2) && claim(&self.marker)
        {
            exit(&format!("before writing {matrix}[{i}, {j}]"));
        }
        self.inner.put_tile(matrix, i, j, tile)
    }
    fn delete_tile(&self, matrix: &str, i: usize, j: usize) -> StoreResult<()> {
        self.inner.delete_tile(matrix, i, j)
    }
    fn list_tiles(&self, matrix: &str) -> StoreResult<Vec<(usize, usize)>> {
        self.inner.list_tiles(matrix)
    }
    fn get_header(&self, matrix: &str) -> StoreResult<Option<MatrixHeader>> {
        self.inner.get_header(matrix)
    }
    fn put_header(&self, matrix: &str, header: &MatrixHeader) -> StoreResult<()> {
        self.inner.put_header(matrix, header)
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

/// The invocation's deadline as an `Instant`. Lambda gives epoch millis;
/// cargo-lambda's emulator gives the remaining millis instead, recognisable
/// as a "date" before 2001.
fn deadline_of(deadline_ms: u64) -> Option<Instant> {
    if deadline_ms < 1_000_000_000_000 {
        return Some(Instant::now() + Duration::from_millis(deadline_ms));
    }
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()?
        .as_millis() as u64;
    Some(Instant::now() + Duration::from_millis(deadline_ms.saturating_sub(now_ms)))
}

async fn handle(event: LambdaEvent<WorkerPayload>) -> Result<serde_json::Value, Error> {
    let (payload, context) = event.into_parts();
    let deadline = deadline_of(context.deadline);
    let job = payload.job_id;
    let outcome =
        tokio::task::spawn_blocking(move || handle_job(clients(), &payload, deadline, hooks()))
            .await
            .map_err(|e| format!("job {job}: the worker thread failed: {e}"))?;
    match outcome {
        Ok(report) => Ok(serde_json::json!({
            "jobs_run": report.jobs_run,
            "handed_off": report.handed_off,
            "run_ended": report.run_ended,
        })),
        // Recorded in the run item, which stops the run: a success here
        // keeps Lambda from retrying a deterministic failure.
        Err(RunError::Job(e)) => Ok(serde_json::json!({ "job_error": e.to_string() })),
        // A backend failure (throttling past the retries, a lost table) is
        // returned, so Lambda's own async retry delivers the job again.
        Err(e) => Err(format!("job {job}: {e}").into()),
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handle)).await
}
