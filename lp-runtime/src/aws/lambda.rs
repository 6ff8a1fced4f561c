//! Job delivery on Lambda: [`LambdaLauncher`] sends one asynchronous
//! (`InvocationType=Event`) invocation per job with a small JSON
//! [`WorkerPayload`], and [`handle_job`] is what the `lp-worker` function
//! runs for each invocation.
//!
//! The bundle travels once: the driver stores it under a content key
//! (`<prefix>/~bundles/<content key>.lpb`, in a namespace no matrix name can enter) and each invocation names that key.
//! A worker fetches it on its first invocation, checks that the bytes hash
//! to the key (a truncated or foreign object is refused), validates it
//! (write-once and acyclicity included), and keeps its plan in a static for
//! the life of the (warm) Lambda container. A bundle holds the program, not
//! its DAG: a worker solves the children of its job from it.
//!
//! A worker runs its job through the shared protocol core
//! ([`crate::protocol::run_job`]) with the S3 store, DynamoDB counters and
//! this launcher, then keeps going with the one ready child the core hands
//! back while the invocation's time budget allows it (the child's inputs are
//! mostly the tiles just written; the saved invocation is the Wukong win).

use super::dynamo::{DynamoCounters, MetricsDelta, RunStatus};
use super::{AwsClients, AwsError, S3Store, SdkError, block_on};
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::protocol::{
    BackendError, Counters, JobContext, JobError, Launcher, ProtoResult, RunError, run_job,
};
use crate::request_times::{RequestTimes, Timed};
use crate::requests::{Bill, RequestCounts, RequestTally};
use crate::store::{Namespace, RunStore, Store};
use aws_sdk_lambda::error::ProvideErrorMetadata;
use lp_program::{JobId, Plan, bundle};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What one invocation carries: where the run's state lives and which job
/// to run. Bucket, prefix, table and function travel with the job rather
/// than in the function's configuration, so that one deployed function
/// serves every run its role allows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerPayload {
    pub bundle_key: String,
    pub job_id: JobId,
    pub bucket: String,
    #[serde(default)]
    pub prefix: String,
    pub table: String,
    pub function: String,
    /// The run's view of the store: its id (`run_id`), where its inputs
    /// are (`inputs`) and which are generated (`generated`), as fields of
    /// the payload itself.
    #[serde(flatten)]
    pub namespace: Namespace,
}

/// Where a program's bundle is stored: content-addressed by
/// `bundle::content_key`, so a bundle is uploaded once and every invocation
/// names it.
pub fn bundle_key(store: &S3Store, plan: &Plan) -> String {
    store.key(&format!(
        "{}/{}.lpb",
        crate::store::location::BUNDLES,
        bundle::content_key(plan.program())
    ))
}

/// Decodes bundle bytes fetched from `key`. `bundle::decode` refuses
/// corrupt, truncated, foreign or invalid bytes; the key must also name
/// this bundle.
pub fn decode_bundle(key: &str, bytes: &[u8]) -> Result<Plan, String> {
    let expected = key
        .rsplit('/')
        .next()
        .and_then(|name| name.strip_suffix(".lpb"))
        .ok_or_else(|| format!("{key} is not a bundle content key"))?;
    let plan = bundle::decode(bytes).map_err(|e| format!("bundle {key}: {e}"))?;
    let found = bundle::content_key(plan.program());
    if found != expected {
        return Err(format!(
            "bundle {key} has content key {found}: the object is not this bundle"
        ));
    }
    Ok(plan)
}

/// Sends each job as one asynchronous invocation of the worker function.
#[derive(Clone, Debug)]
pub struct LambdaLauncher {
    client: aws_sdk_lambda::Client,
    template: WorkerPayload,
    requests: Arc<crate::requests::RequestTally>,
}

impl LambdaLauncher {
    /// `template` is the payload of every launch with its `job_id` replaced.
    pub fn new(clients: &AwsClients, template: WorkerPayload) -> LambdaLauncher {
        LambdaLauncher {
            client: clients.lambda.clone(),
            template,
            requests: clients.requests.clone(),
        }
    }
}

impl Launcher for LambdaLauncher {
    fn launch(&self, job: JobId) -> ProtoResult<()> {
        let payload = WorkerPayload {
            job_id: job,
            ..self.template.clone()
        };
        let body = serde_json::to_vec(&payload).expect("the payload always serialises");
        let request = self
            .client
            .invoke()
            .function_name(&self.template.function)
            .invocation_type(aws_sdk_lambda::types::InvocationType::Event)
            .payload(aws_sdk_lambda::primitives::Blob::new(body));
        let what = format!(
            "invoke Lambda function {} for job {job}",
            self.template.function
        );
        self.requests.add(crate::requests::Request::Invoke, 1);
        let send = move || {
            block_on(async move {
                match request.send().await {
                    Ok(out) if out.function_error().is_some() => Err(BackendError::new(
                        AwsError::new(
                            what,
                            format!(
                                "function error {}",
                                out.function_error().unwrap_or_default()
                            ),
                        )
                        .to_string(),
                    )),
                    Ok(_) => Ok(()),
                    Err(e) => Err(BackendError {
                        transient: transient_invoke_error(&e),
                        message: AwsError::sdk(what, e).to_string(),
                    }),
                }
            })
        };
        self.requests.timed(send, |_| (Timed::Invoke, 0))
    }
}

/// Error codes of Lambda's Invoke that time may mend: throttling, a
/// function being created or updated, a fault on Lambda's side.
const TRANSIENT_INVOKE_CODES: [&str; 5] = [
    "TooManyRequestsException",
    "EC2ThrottledException",
    "ResourceConflictException",
    "ResourceNotReadyException",
    "ServiceException",
];

/// Whether a failed invoke may pass when tried again later: Lambda
/// throttled it or failed on its side ([`transient_answer`]). A missing
/// function, a refused permission, an endpoint that refuses connections or
/// never answers (no answer at all) will fail the same way every time.
fn transient_invoke_error<E: ProvideErrorMetadata>(e: &SdkError<E>) -> bool {
    match e {
        aws_sdk_s3::error::SdkError::ServiceError(context) => {
            transient_answer(context.err().code(), context.raw().status().as_u16())
        }
        _ => false,
    }
}

/// Whether Lambda's answer to an invoke says that time may mend it: a code
/// of [`TRANSIENT_INVOKE_CODES`], or HTTP 429 or 5xx (after the SDK's
/// retries).
fn transient_answer(code: Option<&str>, status: u16) -> bool {
    code.is_some_and(|c| TRANSIENT_INVOKE_CODES.contains(&c)) || status == 429 || status >= 500
}

/// A bundle's plan, cached for the life of the process.
struct CachedPlan {
    key: String,
    plan: Arc<Plan>,
}

static PLAN_CACHE: Mutex<Option<CachedPlan>> = Mutex::new(None);

/// Why a worker has no plan: a failed read (another invocation may
/// succeed), or a bundle that is missing or invalid (none ever will: the
/// key names the content).
enum NoPlan {
    Read(String),
    Refused(String),
}

fn cached_plan(store: &S3Store, key: &str) -> Result<Arc<Plan>, NoPlan> {
    let mut cache = PLAN_CACHE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(c) = cache.as_ref()
        && c.key == key
    {
        return Ok(c.plan.clone());
    }
    let bytes = store
        .get_object(key)
        .map_err(|e| NoPlan::Read(e.to_string()))?
        .ok_or_else(|| {
            NoPlan::Refused(format!(
                "bundle s3://{}/{key} does not exist",
                store.bucket()
            ))
        })?;
    let plan = Arc::new(decode_bundle(key, &bytes).map_err(NoPlan::Refused)?);
    *cache = Some(CachedPlan {
        key: key.to_string(),
        plan: plan.clone(),
    });
    Ok(plan)
}

/// What the last metrics update of an invocation reported up to.
#[derive(Clone, Copy)]
struct Reported {
    requests: RequestCounts,
    times: RequestTimes,
    at: Instant,
}

impl Reported {
    fn now() -> Reported {
        Reported {
            requests: RequestCounts::default(),
            times: RequestTimes::default(),
            at: Instant::now(),
        }
    }
}

/// The requests, their times and the milliseconds since the last metrics
/// update, the update about to carry them included (its time goes with the
/// next one); `last` moves on to now.
fn bill_since(tally: &RequestTally, last: &mut Reported) -> Bill {
    let now = tally.snapshot();
    let mut requests = now.since(&last.requests);
    requests.dynamo_write += 1;
    last.requests = now;
    // The update is counted here, so the tally's count of it is not new.
    last.requests.dynamo_write += 1;
    let times = tally.times();
    let since = times.since(&last.times);
    last.times = times;
    let busy_ms = last.at.elapsed().as_millis() as u64;
    last.at = Instant::now();
    Bill {
        requests,
        busy_ms,
        mb_ms: busy_ms * memory_mb(),
        times: since,
    }
}

/// The function's memory size, which Lambda gives its runtime in the
/// environment; 0 where it does not (emulators, in-process workers).
fn memory_mb() -> u64 {
    std::env::var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// The plan of the payload's bundle, holding the payload's job. A bundle
/// the worker refuses fails the run at once (it can never become valid, so
/// every relaunch would refuse it too); one it cannot read yet is a backend
/// error, left to the lease.
fn open_plan(
    clients: &AwsClients,
    s3: &S3Store,
    payload: &WorkerPayload,
) -> Result<Arc<Plan>, RunError> {
    let plan = match cached_plan(s3, &payload.bundle_key) {
        Ok(plan) => plan,
        Err(NoPlan::Read(message)) => return Err(RunError::Backend(BackendError::new(message))),
        Err(NoPlan::Refused(message)) => {
            let run = DynamoCounters::new(clients, &payload.table, &payload.namespace.run);
            let _ = run.fail_run(&JobError::of_run("bundle", message.clone()));
            return Err(RunError::InvalidBundle(message));
        }
    };
    if plan.locate(payload.job_id).is_none() {
        return Err(RunError::InvalidBundle(format!(
            "invalid bundle: job {} is not a job of the program",
            payload.job_id
        )));
    }
    Ok(plan)
}

/// What the run item gains from this worker since its last update.
fn metrics_delta(now: &MetricsSnapshot, reported: &MetricsSnapshot, bill: Bill) -> MetricsDelta {
    MetricsDelta {
        jobs_done: now.jobs_done - reported.jobs_done,
        executions: now.executions - reported.executions,
        flops: now.flops_done - reported.flops_done,
        bytes_loaded: now.bytes_loaded - reported.bytes_loaded,
        bytes_stored: now.bytes_stored - reported.bytes_stored,
        bill,
    }
}

/// What one invocation did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WorkerReport {
    /// Jobs executed by this invocation (the delivered one and the children
    /// it continued with), in order.
    pub jobs_run: Vec<JobId>,
    /// A ready child handed to a new invocation because time ran short.
    pub handed_off: Option<JobId>,
    /// The run had failed, been cancelled or finished: the job was dropped.
    pub run_ended: bool,
}

/// Test hooks: wrap the counters or the store a worker uses (to inject
/// throttling or a crash between the tile writes and the completions), or
/// deliver the jobs it launches some other way (in-process workers).
pub type CountersWrap = dyn Fn(DynamoCounters) -> Box<dyn Counters> + Send + Sync;
pub type StoreWrap = dyn Fn(Arc<dyn Store>) -> Box<dyn Store> + Send + Sync;
pub type LauncherMake = dyn Fn(&WorkerPayload) -> Box<dyn Launcher> + Send + Sync;

#[derive(Clone, Default)]
pub struct WorkerHooks {
    pub counters: Option<Arc<CountersWrap>>,
    pub store: Option<Arc<StoreWrap>>,
    /// Replaces the [`LambdaLauncher`] the worker launches children with.
    pub launcher: Option<Arc<LauncherMake>>,
}

/// The run's view of the bucket ([`RunStore`]), wrapped by the test hook if
/// there is one (the hook sees the program's names, as jobs do).
fn run_store(
    s3: S3Store,
    plan: &Plan,
    payload: &WorkerPayload,
    hooks: &WorkerHooks,
) -> Arc<dyn Store> {
    let view: Arc<dyn Store> = Arc::new(RunStore::new(
        Arc::new(s3),
        plan.program(),
        &payload.namespace,
    ));
    match &hooks.store {
        Some(wrap) => Arc::from(wrap(view)),
        None => view,
    }
}

/// Runs the delivered job, then ready children it is handed, until none is
/// left or `deadline` is too close to start another (that child is
/// launched instead). A job error marks the run failed (first error wins)
/// and is returned, and so does a bundle the worker refuses (it can never
/// become valid, so every relaunch would refuse it too); a backend error is
/// returned without marking the run, since a relaunch after the lease may
/// succeed.
pub fn handle_job(
    clients: &AwsClients,
    payload: &WorkerPayload,
    deadline: Option<Instant>,
    hooks: &WorkerHooks,
) -> Result<WorkerReport, RunError> {
    // This invocation's requests, apart from other invocations in the
    // process (in-process test workers share one set of clients).
    let clients = &clients.with_own_tally();
    // From here on, every request and millisecond is billed to the run.
    let billed = Reported::now();
    let s3 = S3Store::new(clients, &payload.bucket, &payload.prefix)
        .map_err(|e| RunError::Backend(BackendError::new(format!("the payload's prefix: {e}"))))?;
    let plan = open_plan(clients, &s3, payload)?;
    let dynamo = DynamoCounters::new(clients, &payload.table, &payload.namespace.run);
    let run_counters = dynamo.clone();
    let counters: Box<dyn Counters> = match &hooks.counters {
        Some(wrap) => wrap(dynamo),
        None => Box::new(dynamo),
    };
    let store = run_store(s3, &plan, payload, hooks);
    let launcher: Box<dyn Launcher> = match &hooks.launcher {
        Some(make) => make(payload),
        None => Box::new(LambdaLauncher::new(clients, payload.clone())),
    };
    let metrics = Metrics::default();
    let ctx = JobContext {
        plan: &plan,
        store: store.as_ref(),
        counters: counters.as_ref(),
        launcher: launcher.as_ref(),
        metrics: &metrics,
        tracer: None,
        // A worker's loads are its own copies already (S3 hands none over).
        consumed_inputs: &[],
    };
    let chain = Chain {
        ctx: &ctx,
        run: &run_counters,
        requests: &clients.requests,
        deadline,
    };
    chain.run(payload.job_id, billed)
}

/// One invocation's chain of jobs: the delivered one, then the ready
/// children each hands it.
struct Chain<'a> {
    ctx: &'a JobContext<'a>,
    /// The run's record and metrics, which the test hooks do not wrap.
    run: &'a DynamoCounters,
    requests: &'a RequestTally,
    deadline: Option<Instant>,
}

impl Chain<'_> {
    fn run(&self, first: JobId, mut billed: Reported) -> Result<WorkerReport, RunError> {
        let mut report = WorkerReport::default();
        let mut reported = MetricsSnapshot::default();
        let mut job = first;
        loop {
            // A failed or cancelled run stops here, at the next job of every
            // worker still busy, rather than computing the rest of its DAG.
            // One consistent read per job.
            let running = match self.run.run_record() {
                Ok(running) => running,
                // A child is claimed (no one else will launch it): it goes
                // to a new invocation rather than waiting out a lease. The
                // delivered job's failure is the invocation's, which Lambda
                // delivers again.
                Err(e) if !report.jobs_run.is_empty() => {
                    eprintln!("lp-worker: job {job} handed off: reading the run's status: {e}");
                    return self.hand_off(report, job);
                }
                Err(e) => return Err(e.into()),
            };
            if !running.is_some_and(|r| r.status == RunStatus::Running) {
                report.run_ended = true;
                return Ok(report);
            }
            let started = Instant::now();
            let outcome = run_job(self.ctx, job, 0);
            let now = self.ctx.metrics.snapshot();
            let last_billed = billed;
            let delta = metrics_delta(&now, &reported, bill_since(self.requests, &mut billed));
            let next = match outcome {
                Ok(next) => next,
                Err(RunError::Job(e)) => {
                    let _ = self.run.add_metrics(delta);
                    let _ = self.run.fail_run(&e);
                    return Err(RunError::Job(e));
                }
                Err(e) => return Err(e),
            };
            report.jobs_run.push(job);
            match self.run.add_metrics(delta) {
                Ok(()) => reported = now,
                // The finished flags, not the metrics, say when the run is
                // done, so a lost update loses no work: a claimed child
                // still runs, and this update's figures go with the
                // child's.
                Err(e) if next.is_some() => {
                    billed = last_billed;
                    eprintln!("lp-worker: the metrics of job {job} wait for the next update: {e}");
                }
                Err(e) => return Err(e.into()),
            }
            let Some(child) = next else {
                return Ok(report);
            };
            // Continue only if a job as long as the last one fits twice with
            // a margin; otherwise a new invocation with a full budget takes
            // it.
            let needed = started.elapsed() * 2 + Duration::from_secs(5);
            let left = self
                .deadline
                .map(|d| d.saturating_duration_since(Instant::now()));
            if left.is_some_and(|left| left < needed) {
                return self.hand_off(report, child);
            }
            job = child;
        }
    }

    /// Ends the chain by launching `job`, claimed by this invocation, in a
    /// new one.
    fn hand_off(&self, mut report: WorkerReport, job: JobId) -> Result<WorkerReport, RunError> {
        self.ctx.launcher.launch(job)?;
        report.handed_off = Some(job);
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_and_faults_on_lambdas_side_are_transient_the_rest_lasts() {
        for (code, status) in [
            (Some("TooManyRequestsException"), 429),
            (Some("ServiceException"), 500),
            (Some("ResourceNotReadyException"), 502),
            (None, 503),
            (None, 429),
        ] {
            assert!(transient_answer(code, status), "{code:?} {status}");
        }
        for (code, status) in [
            (Some("ResourceNotFoundException"), 404),
            (Some("AccessDeniedException"), 403),
            (None, 404),
            (Some("TooManyRequestsExceptionally"), 400),
        ] {
            assert!(!transient_answer(code, status), "{code:?} {status}");
        }
    }
}
