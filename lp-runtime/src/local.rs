//! The local backend: the protocol of [`crate::scheduler`] on threads.
//!
//! * [`LocalCounters`] keeps the protocol state in atomics. Idempotent
//!   completion uses one `AtomicBool` per DAG edge (numpywren's later Redis
//!   design): `record_done(child, parent)` flips the flag of edge
//!   parent -> child and bumps the child's `AtomicU32` only if the flip
//!   happened, so memory is O(jobs + edges) and nothing takes a lock.
//! * [`LocalQueue`] is the [`Launcher`]: a mutex-guarded deque with a condvar.
//!   Most jobs never touch it, because a finishing job continues with its
//!   first ready child on the same thread.
//! * [`run_local`] starts `workers` threads, launches the roots through the
//!   same `try_mark_launched` gate as every other job, and acts as the driver:
//!   progress snapshots, lease expiry and relaunch, first-error stop,
//!   cancellation, stall detection, and a final sweep of stray temp tiles.
//!
//! Leases: a job's lease clock starts when it is marked launched and
//! restarts when a worker takes it. A delivery waiting in the queue is not
//! lost, so it never expires there; what expires is a delivery that never
//! reached the queue or a job whose worker hung. Locally that needs a bug or
//! a fault-injecting [`Launcher`] (see [`Interpose`]), so the default lease is
//! long.

use crate::bundle::{Bundle, JobId, Role, TileIndex, TileKey};
use crate::metrics::{Metrics, Progress, RunSummary};
use crate::scheduler::{
    BackendError, Counters, JobContext, JobError, Launcher, ProtoResult, RunError, RunPlan,
    check_structure, critical_path_jobs, run_job,
};
use crate::store::Store;
use crate::trace::Tracer;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Options of a local run.
#[derive(Clone, Debug)]
pub struct LocalOptions {
    /// Worker threads; 0 means the number of cores.
    pub workers: usize,
    /// A job launched but not finished this long is delivered again. Only a
    /// dead or hung worker makes this matter locally.
    pub lease: Duration,
    /// How often `progress` is called.
    pub progress_interval: Duration,
    /// Write a Chrome trace here at the end of the run.
    pub trace: Option<PathBuf>,
    /// Set it (e.g. from a Ctrl-C handler) to stop the run between jobs.
    pub stop: Arc<AtomicBool>,
}

impl Default for LocalOptions {
    fn default() -> LocalOptions {
        LocalOptions {
            workers: 0,
            lease: Duration::from_secs(300),
            progress_interval: Duration::from_millis(100),
            trace: None,
            stop: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl LocalOptions {
    pub fn effective_workers(&self) -> usize {
        if self.workers > 0 {
            self.workers
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        }
    }
}

/// Wrappers around the local protocol objects, for fault-injection tests
/// (duplicate completions, lost deliveries) and instrumentation.
#[derive(Default)]
pub struct Interpose<'a> {
    pub counters: Option<&'a WrapCounters<'a>>,
    pub launcher: Option<&'a WrapLauncher<'a>>,
}

/// Wraps the local counters in another [`Counters`] implementation.
pub type WrapCounters<'a> = dyn Fn(Arc<dyn Counters>) -> Arc<dyn Counters> + 'a;
/// Wraps the local queue in another [`Launcher`] implementation.
pub type WrapLauncher<'a> = dyn Fn(Arc<dyn Launcher>) -> Arc<dyn Launcher> + 'a;

/// Protocol state of one local run in atomics.
pub struct LocalCounters {
    start: Instant,
    /// Index of each job's first outgoing edge in `edge_done`.
    edge_base: Vec<u32>,
    children: Vec<Vec<JobId>>,
    edge_done: Vec<AtomicBool>,
    parents_done: Vec<AtomicU32>,
    launched: Vec<AtomicBool>,
    finished: Vec<AtomicBool>,
    /// Milliseconds since `start` of the last (re)launch, plus one.
    launched_at: Vec<AtomicU64>,
    launched_count: AtomicUsize,
    finished_count: AtomicUsize,
    tiles: TileIndex,
    /// Readers still to finish, per dense tile index (temps only).
    readers: Vec<AtomicU32>,
}

impl LocalCounters {
    pub fn new(bundle: &Bundle, plan: &RunPlan) -> LocalCounters {
        let n = bundle.jobs.len();
        let mut edge_base = Vec::with_capacity(n);
        let mut edges = 0u32;
        for job in &bundle.jobs {
            edge_base.push(edges);
            edges += job.children.len() as u32;
        }
        let atomics_u32 = |k: usize| (0..k).map(|_| AtomicU32::new(0)).collect::<Vec<_>>();
        let flags = |k: usize| (0..k).map(|_| AtomicBool::new(false)).collect::<Vec<_>>();
        LocalCounters {
            start: Instant::now(),
            edge_base,
            children: bundle.jobs.iter().map(|j| j.children.clone()).collect(),
            edge_done: flags(edges as usize),
            parents_done: atomics_u32(n),
            launched: flags(n),
            finished: flags(n),
            launched_at: (0..n).map(|_| AtomicU64::new(0)).collect(),
            launched_count: AtomicUsize::new(0),
            finished_count: AtomicUsize::new(0),
            tiles: plan.tiles.clone(),
            readers: plan
                .temp_readers_dense
                .iter()
                .map(|&c| AtomicU32::new(c))
                .collect(),
        }
    }

    fn stamp(&self, job: JobId) {
        let ms = self.start.elapsed().as_millis() as u64 + 1;
        self.launched_at[job as usize].store(ms, SeqCst);
    }

    fn check_job(&self, job: JobId) -> ProtoResult<usize> {
        if (job as usize) < self.launched.len() {
            Ok(job as usize)
        } else {
            Err(BackendError {
                message: format!("job {job} is out of range ({} jobs)", self.launched.len()),
            })
        }
    }
}

impl Counters for LocalCounters {
    fn record_done(&self, child: JobId, parent: JobId) -> ProtoResult<u32> {
        let c = self.check_job(child)?;
        let p = self.check_job(parent)?;
        let Ok(pos) = self.children[p].binary_search(&child) else {
            return Err(BackendError {
                message: format!("job {child} is not a child of job {parent}"),
            });
        };
        let edge = self.edge_base[p] as usize + pos;
        if self.edge_done[edge].swap(true, SeqCst) {
            Ok(self.parents_done[c].load(SeqCst))
        } else {
            Ok(self.parents_done[c].fetch_add(1, SeqCst) + 1)
        }
    }

    fn try_mark_launched(&self, job: JobId) -> ProtoResult<bool> {
        let j = self.check_job(job)?;
        if self.launched[j].swap(true, SeqCst) {
            return Ok(false);
        }
        self.stamp(job);
        self.launched_count.fetch_add(1, SeqCst);
        Ok(true)
    }

    fn note_relaunch(&self, job: JobId) -> ProtoResult<()> {
        self.check_job(job)?;
        self.stamp(job);
        Ok(())
    }

    fn note_started(&self, job: JobId) -> ProtoResult<()> {
        self.check_job(job)?;
        self.stamp(job);
        Ok(())
    }

    fn mark_finished(&self, job: JobId) -> ProtoResult<bool> {
        let j = self.check_job(job)?;
        if self.finished[j].swap(true, SeqCst) {
            return Ok(false);
        }
        self.finished_count.fetch_add(1, SeqCst);
        Ok(true)
    }

    fn is_finished(&self, job: JobId) -> ProtoResult<bool> {
        Ok(self.finished[self.check_job(job)?].load(SeqCst))
    }

    fn release_reader(&self, tile: TileKey) -> ProtoResult<u32> {
        self.readers[self.tiles.index(tile)]
            .fetch_update(SeqCst, SeqCst, |c| c.checked_sub(1))
            .map(|old| old - 1)
            .map_err(|_| BackendError {
                message: format!("temp tile {tile:?} released more often than it has readers"),
            })
    }

    fn overdue(&self, lease: Duration) -> ProtoResult<Vec<JobId>> {
        let now = self.start.elapsed().as_millis() as u64 + 1;
        let lease = lease.as_millis() as u64;
        Ok((0..self.launched.len())
            .filter(|&j| {
                let at = self.launched_at[j].load(SeqCst);
                self.launched[j].load(SeqCst)
                    && !self.finished[j].load(SeqCst)
                    && at != 0
                    && now.saturating_sub(at) >= lease
            })
            .map(|j| j as JobId)
            .collect())
    }

    fn launched_and_finished(&self) -> ProtoResult<(usize, usize)> {
        Ok((
            self.launched_count.load(SeqCst),
            self.finished_count.load(SeqCst),
        ))
    }
}

/// The local work queue; launching a job pushes it.
pub struct LocalQueue {
    jobs: Mutex<VecDeque<JobId>>,
    available: Condvar,
    /// Jobs queued plus chains being run. Zero with unfinished jobs and no
    /// lease pending means nothing will ever run again.
    in_flight: AtomicUsize,
    closed: AtomicBool,
    /// Per job, deliveries sitting in the queue. A queued delivery is not
    /// lost, so the driver does not count its wait against the lease.
    queued: Vec<AtomicU32>,
}

impl LocalQueue {
    /// A queue for a bundle of `jobs` jobs.
    pub fn new(jobs: usize) -> LocalQueue {
        LocalQueue {
            jobs: Mutex::new(VecDeque::new()),
            available: Condvar::new(),
            in_flight: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            queued: (0..jobs).map(|_| AtomicU32::new(0)).collect(),
        }
    }

    fn is_queued(&self, job: JobId) -> bool {
        self.queued
            .get(job as usize)
            .is_some_and(|q| q.load(SeqCst) > 0)
    }

    /// Called once a popped job's lease has been restarted.
    fn taken(&self, job: JobId) {
        if let Some(q) = self.queued.get(job as usize) {
            q.fetch_sub(1, SeqCst);
        }
    }

    /// The next job, or `None` after `timeout` or once the queue is closed.
    fn pop(&self, timeout: Duration) -> Option<JobId> {
        let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(job) = jobs.pop_front() {
                return Some(job);
            }
            if self.closed.load(SeqCst) {
                return None;
            }
            let (guard, result) = self
                .available
                .wait_timeout(jobs, timeout)
                .unwrap_or_else(|p| p.into_inner());
            jobs = guard;
            if result.timed_out() {
                return jobs.pop_front();
            }
        }
    }

    fn close(&self) {
        let _guard = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        self.closed.store(true, SeqCst);
        self.available.notify_all();
    }
}

impl Launcher for LocalQueue {
    fn launch(&self, job: JobId) -> ProtoResult<()> {
        let Some(queued) = self.queued.get(job as usize) else {
            return Err(BackendError {
                message: format!("job {job} is out of range ({} jobs)", self.queued.len()),
            });
        };
        queued.fetch_add(1, SeqCst);
        self.in_flight.fetch_add(1, SeqCst);
        self.jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(job);
        self.available.notify_one();
        Ok(())
    }
}

/// Wakes the driver early (run complete, or an error).
struct Wake {
    flag: Mutex<bool>,
    cv: Condvar,
}

impl Wake {
    fn notify(&self) {
        *self.flag.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.cv.notify_all();
    }

    fn wait(&self, timeout: Duration) {
        let mut woken = self.flag.lock().unwrap_or_else(|p| p.into_inner());
        if !*woken {
            woken = self
                .cv
                .wait_timeout(woken, timeout)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        *woken = false;
    }
}

/// Runs `bundle` on local threads against `store`, calling `progress` about
/// every `opts.progress_interval` and once at the end.
pub fn run_local(
    bundle: &Bundle,
    store: Arc<dyn Store>,
    opts: &LocalOptions,
    progress: &dyn Fn(&Progress),
) -> Result<RunSummary, RunError> {
    run_local_with(bundle, store, opts, progress, &Interpose::default())
}

/// [`run_local`] with the protocol objects wrapped by `interpose`.
pub fn run_local_with(
    bundle: &Bundle,
    store: Arc<dyn Store>,
    opts: &LocalOptions,
    progress: &dyn Fn(&Progress),
    interpose: &Interpose<'_>,
) -> Result<RunSummary, RunError> {
    check_structure(bundle).map_err(RunError::InvalidBundle)?;
    let started = Instant::now();
    let total = bundle.jobs.len();
    let workers = opts.effective_workers();
    let plan = RunPlan::new(bundle);
    let local_counters: Arc<dyn Counters> = Arc::new(LocalCounters::new(bundle, &plan));
    let counters = match interpose.counters {
        Some(wrap) => wrap(local_counters),
        None => local_counters,
    };
    let queue = Arc::new(LocalQueue::new(total));
    let launcher = match interpose.launcher {
        Some(wrap) => wrap(queue.clone()),
        None => queue.clone() as Arc<dyn Launcher>,
    };
    let metrics = Metrics::default();
    let tracer = opts.trace.as_ref().map(|_| Tracer::new(workers));
    let ctx = JobContext {
        bundle,
        plan: &plan,
        store: store.as_ref(),
        counters: counters.as_ref(),
        launcher: launcher.as_ref(),
        metrics: &metrics,
        tracer: tracer.as_ref(),
    };
    let abort = AtomicBool::new(false);
    let first_error: Mutex<Option<RunError>> = Mutex::new(None);
    let wake = Wake {
        flag: Mutex::new(false),
        cv: Condvar::new(),
    };
    let fail = |e: RunError| {
        let mut slot = first_error.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(e);
        }
        abort.store(true, SeqCst);
        wake.notify();
    };
    let snapshot = |elapsed: Duration| {
        let m = metrics.snapshot();
        Progress {
            jobs_done: m.jobs_done as usize,
            jobs_total: total,
            flops_done: m.flops_done,
            bytes_loaded: m.bytes_loaded,
            bytes_stored: m.bytes_stored,
            retries: m.retries,
            elapsed,
        }
    };

    let outcome = std::thread::scope(|scope| {
        for worker in 0..workers {
            let (ctx, queue, abort, stop, fail, wake) =
                (&ctx, &queue, &abort, &opts.stop, &fail, &wake);
            scope.spawn(move || {
                let halted = || abort.load(SeqCst) || stop.load(SeqCst);
                while !halted() && !queue.closed.load(SeqCst) {
                    let Some(job) = queue.pop(Duration::from_millis(50)) else {
                        continue;
                    };
                    // Restart the lease before the job stops counting as
                    // queued, so the driver never sees it as neither.
                    if let Err(e) = ctx.counters.note_started(job) {
                        fail(e.into());
                    }
                    queue.taken(job);
                    let mut next = Some(job);
                    while let Some(j) = next {
                        if halted() {
                            break;
                        }
                        next = match run_job_guarded(ctx, j, worker) {
                            Ok(n) => n,
                            Err(e) => {
                                fail(e);
                                None
                            }
                        };
                    }
                    queue.in_flight.fetch_sub(1, SeqCst);
                    match ctx.counters.launched_and_finished() {
                        Ok((_, finished)) if finished == total => wake.notify(),
                        Ok(_) => {}
                        Err(e) => fail(e.into()),
                    }
                }
            });
        }
        let result = drive(
            &ctx,
            opts,
            total,
            &queue,
            &abort,
            &first_error,
            &wake,
            &snapshot,
            progress,
            started,
        );
        if result.is_err() {
            abort.store(true, SeqCst);
        }
        queue.close();
        result
    });
    // Workers have joined; a failure recorded after the driver decided wins
    // over a later symptom of it.
    if let Some(e) = first_error.lock().unwrap_or_else(|p| p.into_inner()).take() {
        write_trace(tracer.as_ref(), bundle, opts).ok();
        return Err(e);
    }
    outcome?;
    let stray_temp_tiles = sweep_temps(bundle, store.as_ref())?;
    write_trace(tracer.as_ref(), bundle, opts)?;
    let wall = started.elapsed();
    progress(&snapshot(wall));
    let m = metrics.snapshot();
    Ok(RunSummary {
        wall,
        workers,
        jobs: total,
        executions: m.executions,
        retries: m.retries,
        flops: m.flops_done,
        bytes_loaded: m.bytes_loaded,
        bytes_stored: m.bytes_stored,
        critical_path_jobs: critical_path_jobs(bundle),
        peak_temp_bytes: m.peak_temp_bytes,
        stray_temp_tiles,
    })
}

/// Runs a job, turning a panic (a bug, never bad input) into a job error so
/// that one faulty kernel stops the run instead of silently killing a worker.
fn run_job_guarded(
    ctx: &JobContext<'_>,
    job: JobId,
    worker: usize,
) -> Result<Option<JobId>, RunError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_job(ctx, job, worker))) {
        Ok(result) => result,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Err(RunError::Job(JobError {
                job: ctx.bundle.jobs[job as usize].name.clone(),
                op: "job".to_string(),
                tile: None,
                output: None,
                message: format!("internal error (panic): {message}"),
            }))
        }
    }
}

/// The driver loop on the calling thread.
#[allow(clippy::too_many_arguments)]
fn drive(
    ctx: &JobContext<'_>,
    opts: &LocalOptions,
    total: usize,
    queue: &LocalQueue,
    abort: &AtomicBool,
    first_error: &Mutex<Option<RunError>>,
    wake: &Wake,
    snapshot: &dyn Fn(Duration) -> Progress,
    progress: &dyn Fn(&Progress),
    started: Instant,
) -> Result<(), RunError> {
    for (id, job) in ctx.bundle.jobs.iter().enumerate() {
        if job.in_degree == 0 && ctx.counters.try_mark_launched(id as JobId)? {
            ctx.launcher.launch(id as JobId)?;
        }
    }
    let lease_check = (opts.lease / 4).max(Duration::from_millis(1));
    let tick = opts
        .progress_interval
        .min(lease_check)
        .max(Duration::from_millis(1));
    let mut last_progress = Instant::now();
    let mut last_lease_check = Instant::now();
    loop {
        let (launched, finished) = ctx.counters.launched_and_finished()?;
        if finished == total {
            return Ok(());
        }
        if abort.load(SeqCst)
            || first_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_some()
        {
            return Ok(());
        }
        if opts.stop.load(SeqCst) {
            return Err(RunError::Cancelled {
                jobs_done: finished,
                jobs_total: total,
            });
        }
        if last_progress.elapsed() >= opts.progress_interval {
            progress(&snapshot(started.elapsed()));
            last_progress = Instant::now();
        }
        if last_lease_check.elapsed() >= lease_check {
            for job in ctx.counters.overdue(opts.lease)? {
                if queue.is_queued(job) {
                    continue;
                }
                ctx.counters.note_relaunch(job)?;
                ctx.launcher.launch(job)?;
                ctx.metrics.add_retry();
            }
            last_lease_check = Instant::now();
        }
        // Nothing queued or running (read first), and every launched job
        // finished: no worker and no lease can make progress any more.
        if queue.in_flight.load(SeqCst) == 0 {
            let (launched_now, finished_now) = ctx.counters.launched_and_finished()?;
            if launched_now == launched && launched_now == finished_now && finished_now < total {
                return Err(RunError::Stalled {
                    jobs_done: finished_now,
                    jobs_total: total,
                });
            }
        }
        wake.wait(tick);
    }
}

/// Deletes temp tiles still in the store (left by duplicate executions).
fn sweep_temps(bundle: &Bundle, store: &dyn Store) -> Result<usize, RunError> {
    let mut swept = 0;
    for info in bundle.matrices.iter().filter(|m| m.role == Role::Temp) {
        let tiles = store.list_tiles(&info.name).map_err(|e| {
            RunError::Backend(BackendError {
                message: format!("listing temp matrix {}: {}", info.name, e),
            })
        })?;
        for (i, j) in tiles {
            store.delete_tile(&info.name, i, j).map_err(|e| {
                RunError::Backend(BackendError {
                    message: format!("deleting temp tile {}[{i}, {j}]: {}", info.name, e),
                })
            })?;
            swept += 1;
        }
    }
    Ok(swept)
}

fn write_trace(
    tracer: Option<&Tracer>,
    bundle: &Bundle,
    opts: &LocalOptions,
) -> Result<(), RunError> {
    match (tracer, &opts.trace) {
        (Some(t), Some(path)) => t
            .write(bundle, path)
            .map_err(|e| RunError::Trace(format!("{}: {e}", path.display()))),
        _ => Ok(()),
    }
}
