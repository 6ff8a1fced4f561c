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
use lp_runtime::aws::{AwsClients, AwsOptions, WorkerPayload};
use lp_runtime::protocol::RunError;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

lp_runtime::global_allocator!();

fn clients() -> &'static AwsClients {
    static CLIENTS: OnceLock<AwsClients> = OnceLock::new();
    CLIENTS.get_or_init(|| AwsClients::connect(&AwsOptions::from_env()))
}

/// The worker's hooks: none in a production build; with the
/// `fault-injection` feature (the fault-tolerance tests), what
/// `LP_WORKER_FAULT` asks for (see `fault.rs`).
fn hooks() -> &'static WorkerHooks {
    static HOOKS: OnceLock<WorkerHooks> = OnceLock::new();
    HOOKS.get_or_init(|| {
        #[cfg(feature = "fault-injection")]
        {
            fault::hooks_from_env()
        }
        #[cfg(not(feature = "fault-injection"))]
        {
            WorkerHooks::default()
        }
    })
}

#[cfg(feature = "fault-injection")]
mod fault;

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
        // returned, so Lambda's own async retry delivers the job again; it
        // is logged too, since an asynchronous invoke's error reaches no
        // caller and the log is the only place it shows.
        Err(e) => {
            eprintln!("lp-worker: job {job}: {e}");
            Err(format!("job {job}: {e}").into())
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handle)).await
}
