//! [`run_lambda`]: the driver of a run on Lambda, the counterpart of
//! `local::run_local`. It schedules nothing itself: it uploads the bundle,
//! writes the run item, launches the root jobs through the same
//! `try_mark_launched` gate workers use, and then only watches. Every
//! `poll` it reads the run item (status, metrics for the progress bar) and,
//! every `lease / 4`, the job items: a job launched longer ago than the
//! lease and not finished lost its worker (killed, timed out, invocation
//! dropped) and is launched again. Jobs are deterministic and SSA, so a
//! relaunch that races a slow original is harmless. The first job error a
//! worker records in the run item stops the run.
//!
//! Inputs must already be in the store (as for the local backend); temp
//! tiles left by duplicates are swept at the end.

use super::dynamo::{DynamoCounters, RunRecord, RunStatus};
use super::lambda::{WorkerPayload, bundle_key};
use super::{AwsClients, AwsError, LambdaLauncher, S3Store};
use crate::metrics::{Progress, RunSummary};
use crate::protocol::driver::{Relaunches, launch_roots, relaunch_overdue, sweep_temps};
use crate::protocol::{
    BackendError, Counters, JobError, Launcher, ProtoResult, RunError, critical_path_jobs,
};
use crate::requests::Bill;
use crate::store::runs::fresh_run_id;
use crate::store::{Namespace, RunStore};
use lp_program::{Plan, bundle};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Where a run's state lives and how it is watched.
#[derive(Clone, Debug)]
pub struct LambdaRunOptions {
    pub bucket: String,
    pub prefix: String,
    pub table: String,
    pub function: String,
    /// The run's id and where its inputs are; a fresh id
    /// ([`fresh_run_id`]) and no supplied inputs by default.
    pub namespace: Namespace,
    /// A job launched this long ago and not finished is launched again.
    /// Keep it above the function's timeout.
    pub lease: Duration,
    /// How often the run item is read (and `progress` called).
    pub poll: Duration,
    /// Give up (and report the run as stalled) after this long.
    pub timeout: Duration,
    /// Set it (e.g. from a Ctrl-C handler) to stop watching.
    pub stop: Arc<AtomicBool>,
}

impl LambdaRunOptions {
    pub fn new(bucket: &str, prefix: &str, table: &str, function: &str) -> LambdaRunOptions {
        LambdaRunOptions {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
            table: table.to_string(),
            function: function.to_string(),
            namespace: Namespace::new(fresh_run_id()),
            lease: Duration::from_secs(16 * 60),
            poll: Duration::from_millis(500),
            timeout: Duration::from_secs(24 * 3600),
            stop: Arc::new(AtomicBool::new(false)),
        }
    }
}

/// The summary of a completed run plus where its state lives.
#[derive(Clone, Debug, PartialEq)]
pub struct LambdaRunSummary {
    pub run_id: String,
    pub summary: RunSummary,
    /// Invocations the driver itself sent (roots and relaunches).
    pub driver_invocations: u64,
    /// Requests of the workers (from the run item) and of the driver, and
    /// the workers' time.
    pub bill: Bill,
    /// Why the temp tiles duplicates left could not be swept, if they could
    /// not: the run succeeded, and its outputs stand.
    pub sweep_failed: Option<String>,
}

/// Consecutive failed invokes by the driver after which the run stops.
const MAX_LAUNCH_FAILURES: u32 = 5;

/// Runs `plan` on Lambda, with `launcher` delivering jobs (normally a
/// [`LambdaLauncher`]; tests pass in-process workers).
pub fn run_lambda(
    clients: &AwsClients,
    plan: &Plan,
    opts: &LambdaRunOptions,
    progress: &dyn Fn(&Progress),
) -> Result<LambdaRunSummary, RunError> {
    run_lambda_with(clients, plan, opts, progress, &|payload| {
        Arc::new(LambdaLauncher::new(clients, payload))
    })
}

/// [`run_lambda`] with the launcher built by `make_launcher` from the
/// payload template of the run.
pub fn run_lambda_with(
    clients: &AwsClients,
    plan: &Plan,
    opts: &LambdaRunOptions,
    progress: &dyn Fn(&Progress),
    make_launcher: &dyn Fn(WorkerPayload) -> Arc<dyn Launcher>,
) -> Result<LambdaRunSummary, RunError> {
    let started = Instant::now();
    let store = S3Store::new(clients, &opts.bucket, &opts.prefix)
        .map_err(|e| RunError::Backend(BackendError::new(format!("the S3 prefix: {e}"))))?;
    let template = start(clients, &store, plan, opts)?;
    let run_id = template.namespace.run.clone();
    let counters = DynamoCounters::new(clients, &opts.table, &run_id);
    let launcher = make_launcher(template);
    let mut launches = Launches::default();
    let watched = launch_first_jobs(plan, &counters, launcher.as_ref(), opts, &mut launches)
        .and_then(|()| {
            watch(
                plan,
                &counters,
                launcher.as_ref(),
                opts,
                progress,
                &mut launches,
                started,
            )
        });
    let record = match watched {
        Ok(record) => record,
        Err(e) => {
            // However the driver gives up (a request that failed through
            // all of the SDK's retries included), the workers must stop
            // too: the caller removes the run's namespace next. The first
            // error recorded wins, so a run already failed keeps its own.
            let _ = counters.fail_run(&JobError::of_run("driver", e.to_string()));
            return Err(e);
        }
    };
    let view = RunStore::new(Arc::new(store), plan.program(), &opts.namespace);
    // The run has succeeded: a failed sweep leaves tiles for `lpc store
    // gc`, not an error that would discard the outputs.
    let (stray_temp_tiles, sweep_failed) = match sweep_temps(plan, &view) {
        Ok(swept) => (swept, None),
        Err(e) => (0, Some(e.to_string())),
    };
    let bill = Bill {
        requests: record.bill.requests.plus(&clients.requests.snapshot()),
        times: record.bill.times.plus(&clients.requests.times()),
        ..record.bill
    };
    Ok(LambdaRunSummary {
        run_id,
        driver_invocations: launches.driver_invocations,
        bill,
        sweep_failed,
        summary: RunSummary {
            wall: started.elapsed(),
            workers: 0,
            jobs: plan.job_count(),
            executions: record.executions,
            retries: launches.retries,
            flops: record.flops,
            bytes_loaded: record.bytes_loaded,
            bytes_stored: record.bytes_stored,
            critical_path_jobs: critical_path_jobs(plan),
            peak_temp_bytes: 0,
            stray_temp_tiles,
            worker_idle: Vec::new(),
            jobs_on_lent_cores: None,
            idle_waits: None,
            generated_inputs: None,
            inputs_consumed: 0,
            kernels: Vec::new(),
            cpu: None,
        },
    })
}

/// Launches the root jobs. A root whose invoke fails is overdue after one
/// lease and launched again like any lost job, but a run none of whose
/// roots could be launched fails at once with the first invoke's error
/// (nothing runs: waiting out leases would only hide it). The launching
/// stops early when no root was launched yet and an invoke failed for a
/// lasting reason (a missing function, no permission, an endpoint that
/// refuses or never answers: every other invoke would fail the same way,
/// after the SDK's retries each), or [`MAX_LAUNCH_FAILURES`] did, each
/// throttled through all of the SDK's attempts.
/// A cancellation stops the launching; `watch` then fails the run.
fn launch_first_jobs(
    plan: &Plan,
    counters: &DynamoCounters,
    launcher: &dyn Launcher,
    opts: &LambdaRunOptions,
    launches: &mut Launches,
) -> Result<(), RunError> {
    let (mut launched, mut first_error) = (0u64, None);
    launch_roots(plan, counters, launcher, &mut |_, result| {
        launches.driver_invocations += 1;
        match result {
            Ok(()) => {
                launched += 1;
                launches.failures = 0;
            }
            Err(e) => {
                launches.failures += 1;
                let hopeless =
                    launched == 0 && (!e.transient || launches.failures >= MAX_LAUNCH_FAILURES);
                first_error.get_or_insert(e);
                if hopeless {
                    return Ok(ControlFlow::Break(()));
                }
            }
        }
        Ok(if opts.stop.load(Ordering::SeqCst) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        })
    })?;
    match first_error {
        Some(e) if launched == 0 => {
            let _ = counters.fail_run(&JobError::of_run("driver", &e.message));
            Err(RunError::Backend(e))
        }
        _ => Ok(()),
    }
}

/// Uploads the bundle and writes the run item; returns the payload template
/// every invocation of the run is made from.
fn start(
    clients: &AwsClients,
    store: &S3Store,
    plan: &Plan,
    opts: &LambdaRunOptions,
) -> Result<WorkerPayload, RunError> {
    let key = bundle_key(store, plan);
    store.put_object(&key, bundle::encode(plan.program()))?;
    DynamoCounters::new(clients, &opts.table, &opts.namespace.run).start_run(plan.job_count())?;
    Ok(WorkerPayload {
        bundle_key: key,
        job_id: 0,
        bucket: opts.bucket.clone(),
        prefix: opts.prefix.clone(),
        table: opts.table.clone(),
        function: opts.function.clone(),
        namespace: opts.namespace.clone(),
    })
}

/// The driver's own invocations.
#[derive(Default)]
struct Launches {
    driver_invocations: u64,
    /// Consecutive failed invokes.
    failures: u32,
    retries: u64,
}

impl Launches {
    /// A relaunch: the job's lease was restarted before the invoke, so a
    /// failed invoke is tried again once that lease expires; only a run of
    /// failures (a missing function, no permission) ends the run.
    fn relaunched(&mut self, launched: ProtoResult<()>) -> ProtoResult<()> {
        self.driver_invocations += 1;
        self.retries += 1;
        match launched {
            Ok(()) => self.failures = 0,
            Err(e) => {
                self.failures += 1;
                if self.failures >= MAX_LAUNCH_FAILURES {
                    return Err(e);
                }
            }
        }
        Ok(())
    }
}

/// The progress a run item records.
fn record_progress(record: &RunRecord, total: u64, retries: u64, started: Instant) -> Progress {
    Progress {
        jobs_done: record.jobs_done,
        jobs_total: total,
        flops_done: record.flops,
        bytes_loaded: record.bytes_loaded,
        bytes_stored: record.bytes_stored,
        retries,
        elapsed: started.elapsed(),
    }
}

/// Watches the run until it succeeds (the final run item) or fails, is
/// cancelled or times out (the error), relaunching overdue jobs.
fn watch(
    plan: &Plan,
    counters: &DynamoCounters,
    launcher: &dyn Launcher,
    opts: &LambdaRunOptions,
    progress: &dyn Fn(&Progress),
    launches: &mut Launches,
    started: Instant,
) -> Result<RunRecord, RunError> {
    let total = plan.job_count();
    let lease_check = (opts.lease / 4).max(opts.poll);
    let mut last_lease_check = Instant::now();
    let mut relaunches = Relaunches::lambda();
    loop {
        let record = counters
            .run_record()?
            .ok_or_else(|| RunError::from(AwsError::new("run item", "the run item vanished")))?;
        progress(&record_progress(&record, total, launches.retries, started));
        match &record.status {
            RunStatus::Failed(error) => return Err(RunError::Job(Box::new(error.clone()))),
            RunStatus::Succeeded => return Ok(record),
            RunStatus::Running => {}
        }
        // `jobs_done` comes from metric ADDs that follow `mark_finished`, so
        // a worker killed between the two leaves it short for good: the
        // finished flags decide, read when the metric says "done" and at
        // every lease check, whose one Query over the run's job items also
        // finds the overdue jobs.
        let lease_due = last_lease_check.elapsed() >= lease_check;
        let check = lease_due
            .then(|| counters.lease_check(opts.lease))
            .transpose()?;
        let finished = match &check {
            Some(check) => Some(check.finished),
            None if record.jobs_done >= total => Some(counters.launched_and_finished()?.1),
            None => None,
        };
        if finished == Some(total) {
            counters.succeed_run()?;
            continue;
        }
        let stop = |message: &str| {
            let _ = counters.fail_run(&JobError::of_run("driver", message));
        };
        if opts.stop.load(Ordering::SeqCst) {
            stop("cancelled by the driver");
            return Err(RunError::Cancelled {
                jobs_done: record.jobs_done,
                jobs_total: total,
            });
        }
        if started.elapsed() > opts.timeout {
            stop("the driver timed out");
            return Err(RunError::Stalled {
                jobs_done: record.jobs_done,
                jobs_total: total,
            });
        }
        if let Some(check) = check {
            let spent = relaunch_overdue(
                check.overdue,
                counters,
                launcher,
                &mut relaunches,
                &|_| false,
                &mut |_, l| launches.relaunched(l),
            )?;
            if let Some(job) = spent {
                let error = relaunches.spent_error(plan, job, opts.lease);
                let _ = counters.fail_run(&error);
                return Err(RunError::Job(Box::new(error)));
            }
            last_lease_check = Instant::now();
        }
        std::thread::sleep(opts.poll);
    }
}
