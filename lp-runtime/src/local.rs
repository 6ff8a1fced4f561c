//! The local backend: the protocol of [`crate::protocol`] on threads.
//!
//! * [`LocalCounters`] keeps the protocol state in memory that follows the
//!   run, not the program: an entry per job in flight (its finished
//!   parents and its launch time), sharded behind mutexes, removed when the
//!   job finishes, and one bit per finished job (pages of a bitset,
//!   allocated as jobs finish). Nothing is allocated per job or per tile of
//!   the whole program up front, so a program of millions of jobs starts at
//!   once and a run's memory is that of its frontier.
//! * [`LocalQueue`] is the [`Launcher`]: a mutex-guarded queue, most urgent
//!   first ([`UrgentQueue`]), with a condvar. Most jobs never touch it,
//!   because a finishing job continues with its most urgent ready child on
//!   the same thread.
//! * [`run_local`] starts `workers` threads, launches the roots through the
//!   same `try_mark_launched` gate as every other job, and acts as the
//!   driver: progress snapshots, lease expiry and relaunch, first-error
//!   stop, cancellation, stall detection, and a final sweep of stray temp
//!   tiles (the last three shared with the Lambda driver,
//!   `protocol::driver`).
//!
//! Leases: a job's lease clock starts when it is marked launched and
//! restarts when a worker takes it. A delivery waiting in the queue is not
//! lost, so it never expires there; what expires is a delivery that never
//! reached the queue or a job whose worker hung. Locally that needs a bug or
//! a fault-injecting [`Launcher`] (see [`Interpose`]), so the default lease is
//! long.

use crate::metrics::{CpuTime, GeneratedCounts, Metrics, Progress, RunSummary};
use crate::protocol::driver::{Relaunches, launch_roots, relaunch_overdue, sweep_temps};
use crate::protocol::{
    BackendError, Counters, JobContext, JobError, Launcher, Priorities, ProtoResult, RunError,
    UrgentQueue, count_release, critical_path_jobs, run_job,
};
use crate::store::{GeneratedInputs, Store};
use crate::trace::{IdleWaits, Slice, Tracer};
use lp_program::{JobId, Plan, TileKey};
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
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
    /// Which ready job runs next.
    pub schedule: Schedule,
    /// Bytes of generated input tiles kept for their later readers
    /// ([`GeneratedInputs`]); 0 generates a tile at every load.
    pub input_budget: u64,
    /// Inputs (matrix numbers) whose tiles in the store are the run's own
    /// copies, read by nothing after the run (`lpc run`'s imports into its
    /// memory store, unless `--verify` or an `--output` reads them after
    /// it): a tile's only reader updates it
    /// in place instead of copying it, and a tile several jobs read is
    /// deleted after the last, freeing its memory for later tiles
    /// ([`JobContext::consumed_inputs`]).
    pub consumed_inputs: Vec<u32>,
}

/// The default [`LocalOptions::input_budget`]: 1 GiB.
pub const DEFAULT_INPUT_BUDGET: u64 = 1 << 30;

/// The order of ready jobs on the local backend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Schedule {
    /// Critical path first ([`Priorities`]), for programs small enough to
    /// have them; launch order beyond.
    #[default]
    CriticalPath,
    /// Launch order (first launched, first run), continuing with the first
    /// ready child: for comparison.
    Fifo,
}

impl Default for LocalOptions {
    fn default() -> LocalOptions {
        LocalOptions {
            workers: 0,
            lease: Duration::from_secs(300),
            progress_interval: Duration::from_millis(100),
            trace: None,
            stop: Arc::new(AtomicBool::new(false)),
            schedule: Schedule::default(),
            input_budget: DEFAULT_INPUT_BUDGET,
            consumed_inputs: Vec::new(),
        }
    }
}

impl LocalOptions {
    pub fn effective_workers(&self) -> usize {
        effective_workers(self.workers)
    }

    /// [`effective_workers`](Self::effective_workers), refused above
    /// [`MAX_WORKERS`]: per-worker state is allocated before any thread
    /// starts, and an absurd count would abort on that allocation rather
    /// than fail.
    fn checked_workers(&self) -> Result<usize, RunError> {
        match self.effective_workers() {
            workers if workers > MAX_WORKERS => Err(RunError::Backend(BackendError::new(format!(
                "{workers} workers is more than a local run takes ({MAX_WORKERS})"
            )))),
            workers => Ok(workers),
        }
    }
}

/// The most worker threads a local run starts. A kernel runs on one thread
/// and is compute-bound, so workers beyond the cores only take turns on
/// them; 1024 is above the hardware threads of the largest common hosts
/// (two 192-core sockets with SMT give 768) and far below the point where
/// threads run into the OS's limits (`ulimit -u`, systemd's `TasksMax`,
/// address space for their stacks) or per-worker state outgrows memory.
pub const MAX_WORKERS: usize = 1024;

/// `workers`, or the number of cores for 0 (at most [`MAX_WORKERS`]).
pub fn effective_workers(workers: usize) -> usize {
    if workers > 0 {
        workers
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_WORKERS))
    }
}

mod memory;

/// The physical memory this process may use, in bytes: the machine's
/// (`MemTotal` of `/proc/meminfo`), or less where a cgroup memory limit (v1
/// or v2: a container, a systemd slice) holds this process, since
/// `MemTotal` is then still the host's and the kernel kills the process at
/// the limit. `None` where `MemTotal` cannot be read (not Linux). It bounds
/// what one tile can take: a tile is allocated whole, in RAM.
pub fn physical_memory() -> Option<u64> {
    memory::memory_limit(|path| std::fs::read_to_string(path).ok())
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

/// `inner`, or what `wrap` makes of it.
fn wrapped<T: ?Sized>(inner: Arc<T>, wrap: Option<&dyn Fn(Arc<T>) -> Arc<T>>) -> Arc<T> {
    match wrap {
        Some(wrap) => wrap(inner),
        None => inner,
    }
}

const SHARDS: usize = 64;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A hash map split into independently locked shards by key.
struct Sharded<K, V> {
    shards: Vec<Mutex<HashMap<K, V>>>,
}

impl<K: std::hash::Hash + Eq, V> Sharded<K, V> {
    fn new() -> Sharded<K, V> {
        Sharded {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    fn shard(&self, key: &K) -> MutexGuard<'_, HashMap<K, V>> {
        use std::hash::{BuildHasher, RandomState};
        static HASHER: std::sync::OnceLock<RandomState> = std::sync::OnceLock::new();
        let h = HASHER.get_or_init(RandomState::new).hash_one(key);
        lock(&self.shards[h as usize % SHARDS])
    }
}

/// One bit per job number, in pages of 2^16 bits allocated on first use.
struct BitSet {
    pages: Sharded<u64, Box<[u64; 1024]>>,
}

impl BitSet {
    /// Sets the bit; whether it was clear.
    fn insert(&self, n: u64) -> bool {
        let mut shard = self.pages.shard(&(n >> 16));
        let page = shard.entry(n >> 16).or_insert_with(|| Box::new([0; 1024]));
        let (word, bit) = (((n >> 6) & 1023) as usize, n & 63);
        let was = page[word] >> bit & 1;
        page[word] |= 1 << bit;
        was == 0
    }

    fn contains(&self, n: u64) -> bool {
        let shard = self.pages.shard(&(n >> 16));
        shard
            .get(&(n >> 16))
            .is_some_and(|p| p[((n >> 6) & 1023) as usize] >> (n & 63) & 1 == 1)
    }
}

/// The state of a job launched or with a finished parent, until it
/// finishes.
#[derive(Default)]
struct InFlight {
    /// Distinct finished parents.
    parents: Vec<JobId>,
    /// Milliseconds since the run started of the last (re)launch, plus one;
    /// 0 until launched.
    launched_at: u64,
}

/// Protocol state of one local run (see the module doc).
pub struct LocalCounters {
    start: Instant,
    jobs: Sharded<JobId, InFlight>,
    finished: BitSet,
    /// Readers finished per temp tile, until the last one.
    released: Sharded<TileKey, u32>,
    launched_count: AtomicU64,
    finished_count: AtomicU64,
}

impl Default for LocalCounters {
    fn default() -> LocalCounters {
        LocalCounters::new()
    }
}

impl LocalCounters {
    pub fn new() -> LocalCounters {
        LocalCounters {
            start: Instant::now(),
            jobs: Sharded::new(),
            finished: BitSet {
                pages: Sharded::new(),
            },
            released: Sharded::new(),
            launched_count: AtomicU64::new(0),
            finished_count: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64 + 1
    }

    fn stamp(&self, job: JobId) {
        let now = self.now_ms();
        if let Some(state) = self.jobs.shard(&job).get_mut(&job)
            && state.launched_at != 0
        {
            state.launched_at = now;
        }
    }
}

impl Counters for LocalCounters {
    // The finished set is read and written under the job's shard lock: a
    // finish between a check and the shard update would drop the job's
    // state (its launch stamp) and let a late record or launch recreate it,
    // launching a finished job again.
    fn record_done(&self, child: JobId, parent: JobId) -> ProtoResult<u32> {
        let mut shard = self.jobs.shard(&child);
        if self.finished.contains(child) {
            // A replayed parent of a finished child: nothing to launch.
            return Ok(0);
        }
        let state = shard.entry(child).or_default();
        if !state.parents.contains(&parent) {
            state.parents.push(parent);
        }
        Ok(state.parents.len() as u32)
    }

    fn try_mark_launched(&self, job: JobId) -> ProtoResult<bool> {
        let now = self.now_ms();
        let mut shard = self.jobs.shard(&job);
        if self.finished.contains(job) {
            return Ok(false);
        }
        let state = shard.entry(job).or_default();
        if state.launched_at != 0 {
            return Ok(false);
        }
        state.launched_at = now;
        self.launched_count.fetch_add(1, SeqCst);
        Ok(true)
    }

    fn note_relaunch(&self, job: JobId) -> ProtoResult<()> {
        self.stamp(job);
        Ok(())
    }

    fn note_started(&self, job: JobId) -> ProtoResult<()> {
        self.stamp(job);
        Ok(())
    }

    fn mark_finished(&self, job: JobId) -> ProtoResult<bool> {
        let mut shard = self.jobs.shard(&job);
        if !self.finished.insert(job) {
            return Ok(false);
        }
        shard.remove(&job);
        self.finished_count.fetch_add(1, SeqCst);
        Ok(true)
    }

    fn is_finished(&self, job: JobId) -> ProtoResult<bool> {
        Ok(self.finished.contains(job))
    }

    // Calls are never retried here: a count is enough.
    fn release_reader(&self, tile: TileKey, _reader: JobId, readers: u32) -> ProtoResult<u32> {
        let mut shard = self.released.shard(&tile);
        let left = count_release(shard.entry(tile).or_insert(0), tile, readers)?;
        if left == 0 {
            shard.remove(&tile);
        }
        Ok(left)
    }

    fn overdue(&self, lease: Duration) -> ProtoResult<Vec<JobId>> {
        let now = self.now_ms();
        let lease = lease.as_millis() as u64;
        let mut out = Vec::new();
        for shard in &self.jobs.shards {
            for (&job, state) in lock(shard).iter() {
                if state.launched_at != 0 && now.saturating_sub(state.launched_at) >= lease {
                    out.push(job);
                }
            }
        }
        Ok(out)
    }

    fn launched_and_finished(&self) -> ProtoResult<(u64, u64)> {
        Ok((
            self.launched_count.load(SeqCst),
            self.finished_count.load(SeqCst),
        ))
    }
}

#[derive(Default)]
struct Waiting {
    queue: UrgentQueue,
    /// Per job, the deliveries popped or waiting whose lease has not been
    /// restarted yet ([`LocalQueue::taken`]).
    count: HashMap<JobId, u32>,
    /// Workers blocked in [`LocalQueue::pop`] now.
    waiting: usize,
}

/// The local work queue; launching a job pushes it. Jobs leave it most
/// urgent first ([`Priorities`]: critical path first), equally urgent ones
/// (every job, without priorities) in launch order.
pub struct LocalQueue {
    /// A queued delivery is not lost, so the driver does not count its wait
    /// against the lease.
    jobs: Mutex<Waiting>,
    available: Condvar,
    /// Jobs queued plus chains being run. Zero with unfinished jobs and no
    /// lease pending means nothing will ever run again.
    in_flight: AtomicUsize,
    closed: AtomicBool,
    priorities: Arc<Priorities>,
    /// Workers waiting for a job that no queued job will reach: as many
    /// cores are free for the kernels running on the other workers, which
    /// borrow them (`lp_std::kernel::with_lent_cores`). A queued job is
    /// counted against the waiting workers because one of them is about to
    /// wake for it. Published under the lock whenever the waiting workers
    /// or the queued jobs change, so that kernels read it without the lock.
    idle: AtomicUsize,
}

impl Default for LocalQueue {
    fn default() -> LocalQueue {
        LocalQueue::new(Arc::default())
    }
}

impl LocalQueue {
    pub fn new(priorities: Arc<Priorities>) -> LocalQueue {
        LocalQueue {
            jobs: Mutex::new(Waiting::default()),
            available: Condvar::new(),
            in_flight: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            priorities,
            idle: AtomicUsize::new(0),
        }
    }

    /// The jobs waiting in the queue (or popped, their lease not restarted
    /// yet) now.
    fn queued(&self) -> std::collections::HashSet<JobId> {
        let jobs = lock(&self.jobs);
        jobs.count
            .iter()
            .filter(|&(_, &n)| n > 0)
            .map(|(&job, _)| job)
            .collect()
    }

    /// The next job, or `None` after `timeout` or once the queue is closed.
    /// The job still counts as queued until [`LocalQueue::taken`].
    fn pop(&self, timeout: Duration) -> Option<JobId> {
        let mut jobs = lock(&self.jobs);
        loop {
            if let Some(job) = jobs.queue.pop() {
                self.publish_idle(&jobs);
                return Some(job);
            }
            if self.closed.load(SeqCst) {
                return None;
            }
            jobs.waiting += 1;
            self.publish_idle(&jobs);
            let (guard, result) = self
                .available
                .wait_timeout(jobs, timeout)
                .unwrap_or_else(|p| p.into_inner());
            jobs = guard;
            jobs.waiting -= 1;
            self.publish_idle(&jobs);
            if result.timed_out() {
                let job = jobs.queue.pop();
                self.publish_idle(&jobs);
                return job;
            }
        }
    }

    fn publish_idle(&self, jobs: &Waiting) {
        let idle = jobs.waiting.saturating_sub(jobs.queue.len());
        self.idle.store(idle, SeqCst);
    }

    /// Waits, up to `timeout`, until `workers` workers wait for a job, so
    /// that the roots launched next find the other workers' cores free to
    /// lend (a Cholesky's one root, its first `CHOL`, runs alone).
    fn await_waiting(&self, workers: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while lock(&self.jobs).waiting < workers && Instant::now() < deadline {
            std::thread::sleep(Duration::from_micros(100));
        }
    }

    /// Called once a popped job's lease has been restarted.
    fn taken(&self, job: JobId) {
        let mut jobs = lock(&self.jobs);
        if let Entry::Occupied(mut e) = jobs.count.entry(job) {
            *e.get_mut() -= 1;
            if *e.get() == 0 {
                e.remove();
            }
        }
    }

    fn close(&self) {
        let _guard = lock(&self.jobs);
        self.closed.store(true, SeqCst);
        self.available.notify_all();
    }
}

impl Launcher for LocalQueue {
    fn launch(&self, job: JobId) -> ProtoResult<()> {
        self.in_flight.fetch_add(1, SeqCst);
        let priority = self.priority(job);
        {
            let mut jobs = lock(&self.jobs);
            *jobs.count.entry(job).or_insert(0) += 1;
            jobs.queue.push(job, priority);
            self.publish_idle(&jobs);
        }
        self.available.notify_one();
        Ok(())
    }

    fn priority(&self, job: JobId) -> f64 {
        self.priorities.of(job)
    }
}

/// Wakes the driver early (run complete, or an error).
struct Wake {
    flag: Mutex<bool>,
    cv: Condvar,
}

impl Wake {
    fn notify(&self) {
        *lock(&self.flag) = true;
        self.cv.notify_all();
    }

    fn wait(&self, timeout: Duration) {
        let mut woken = lock(&self.flag);
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

/// The shared state of one local run, for the workers and the driver.
struct Run<'a> {
    ctx: JobContext<'a>,
    queue: &'a LocalQueue,
    opts: &'a LocalOptions,
    total: u64,
    abort: AtomicBool,
    first_error: Mutex<Option<RunError>>,
    wake: Wake,
    started: Instant,
    /// Per worker, nanoseconds spent running jobs.
    busy: Vec<AtomicU64>,
    /// Jobs run with cores that idle workers lent them.
    lent: AtomicU64,
}

impl<'a> Run<'a> {
    fn new(
        ctx: JobContext<'a>,
        queue: &'a LocalQueue,
        opts: &'a LocalOptions,
        workers: usize,
    ) -> Run<'a> {
        Run {
            total: ctx.plan.job_count(),
            ctx,
            queue,
            opts,
            abort: AtomicBool::new(false),
            first_error: Mutex::new(None),
            wake: Wake {
                flag: Mutex::new(false),
                cv: Condvar::new(),
            },
            started: Instant::now(),
            busy: (0..workers).map(|_| AtomicU64::new(0)).collect(),
            lent: AtomicU64::new(0),
        }
    }

    fn fail(&self, e: RunError) {
        let mut slot = lock(&self.first_error);
        if slot.is_none() {
            *slot = Some(e);
        }
        self.abort.store(true, SeqCst);
        self.wake.notify();
    }

    /// Per worker, the part of `wall` it spent not running a job.
    fn idle(&self, wall: Duration) -> Vec<Duration> {
        self.busy
            .iter()
            .map(|b| wall.saturating_sub(Duration::from_nanos(b.load(SeqCst))))
            .collect()
    }

    fn halted(&self) -> bool {
        self.abort.load(SeqCst) || self.opts.stop.load(SeqCst)
    }

    fn snapshot(&self) -> Progress {
        let m = self.ctx.metrics.snapshot();
        Progress {
            jobs_done: m.jobs_done,
            jobs_total: self.total,
            flops_done: m.flops_done,
            bytes_loaded: m.bytes_loaded,
            bytes_stored: m.bytes_stored,
            retries: m.retries,
            elapsed: self.started.elapsed(),
        }
    }

    /// A worker thread: takes a job, runs it and the ready children it is
    /// handed, until the run ends.
    fn worker(&self, worker: usize) {
        let tracer = self.ctx.tracer;
        let mut idle_since = tracer.map(|t| t.now_us());
        while !self.halted() && !self.queue.closed.load(SeqCst) {
            let Some(job) = self.queue.pop(Duration::from_millis(50)) else {
                continue;
            };
            if let (Some(t), Some(t0)) = (tracer, idle_since) {
                t.record(worker, Slice::Idle, job, None, t0);
            }
            let chain = Instant::now();
            // Restart the lease before the job stops counting as queued, so
            // the driver never sees it as neither.
            if let Err(e) = self.ctx.counters.note_started(job) {
                self.fail(e.into());
            }
            self.queue.taken(job);
            let mut next = Some(job);
            while let Some(j) = next {
                if self.halted() {
                    break;
                }
                // Idle workers lend their cores to the job's kernels for as
                // long as they idle (the kernels' results are the same bits
                // on any number of threads).
                let idle = &self.queue.idle;
                let (result, lent) =
                    lp_std::kernel::with_lent_cores(idle, || run_job_guarded(&self.ctx, j, worker));
                if lent {
                    self.lent.fetch_add(1, SeqCst);
                }
                next = match result {
                    Ok(n) => n,
                    Err(e) => {
                        self.fail(e);
                        None
                    }
                };
            }
            self.busy[worker].fetch_add(chain.elapsed().as_nanos() as u64, SeqCst);
            idle_since = tracer.map(|t| t.now_us());
            self.queue.in_flight.fetch_sub(1, SeqCst);
            match self.ctx.counters.launched_and_finished() {
                Ok((_, finished)) if finished == self.total => self.wake.notify(),
                Ok(_) => {}
                Err(e) => self.fail(e.into()),
            }
        }
    }
}

/// Runs `plan` on local threads against `store`, calling `progress` about
/// every `opts.progress_interval` and once at the end.
pub fn run_local(
    plan: &Plan,
    store: Arc<dyn Store>,
    opts: &LocalOptions,
    progress: &dyn Fn(&Progress),
) -> Result<RunSummary, RunError> {
    run_local_with(plan, store, opts, progress, &Interpose::default())
}

/// [`run_local`] with the protocol objects wrapped by `interpose`.
pub fn run_local_with(
    plan: &Plan,
    store: Arc<dyn Store>,
    opts: &LocalOptions,
    progress: &dyn Fn(&Progress),
    interpose: &Interpose<'_>,
) -> Result<RunSummary, RunError> {
    let workers = opts.checked_workers()?;
    let counters = wrapped::<dyn Counters>(Arc::new(LocalCounters::new()), interpose.counters);
    let (queue, computed_path) = ready_queue(plan, opts, progress)?;
    let launcher = wrapped::<dyn Launcher>(queue.clone(), interpose.launcher);
    let metrics = Metrics::default();
    let tracer = opts.trace.as_ref().map(|_| Tracer::new(workers));
    let inputs = GeneratedInputs::new(store.as_ref(), plan, opts.input_budget);
    let ctx = JobContext {
        plan,
        store: &inputs,
        counters: counters.as_ref(),
        launcher: launcher.as_ref(),
        metrics: &metrics,
        tracer: tracer.as_ref(),
        consumed_inputs: &opts.consumed_inputs,
    };
    let cpu_at_start = CpuTime::of_process();
    let run = Run::new(ctx, &queue, opts, workers);
    let outcome = std::thread::scope(|scope| {
        let result = start_workers(scope, &run, workers).and_then(|()| drive(&run, progress));
        if result.is_err() {
            run.abort.store(true, SeqCst);
        }
        queue.close();
        result
    });
    // Workers have joined; a failure recorded after the driver decided wins
    // over a later symptom of it.
    if let Some(e) = lock(&run.first_error).take() {
        write_trace(tracer.as_ref(), plan, opts).ok();
        return Err(e);
    }
    outcome?;
    let stray_temp_tiles = sweep_temps(plan, store.as_ref())?;
    let idle_waits = write_trace(tracer.as_ref(), plan, opts)?;
    let wall = run.started.elapsed();
    // Over the same span as `wall` (the critical path below is not the
    // run's work).
    let cpu = cpu_at_start
        .zip(CpuTime::of_process())
        .map(|(start, end)| end.since(start));
    progress(&run.snapshot());
    // Computed bottom levels bring the critical path along; stated ones
    // build no graph, so it is built here (or refused at once when the
    // program is over the limit).
    let critical_path_jobs = computed_path.or_else(|| critical_path_jobs(plan));
    let m = metrics.snapshot();
    Ok(RunSummary {
        wall,
        workers,
        jobs: run.total,
        executions: m.executions,
        retries: m.retries,
        flops: m.flops_done,
        bytes_loaded: m.bytes_loaded,
        bytes_stored: m.bytes_stored,
        critical_path_jobs,
        worker_idle: run.idle(wall),
        jobs_on_lent_cores: Some(run.lent.load(SeqCst)),
        idle_waits,
        peak_temp_bytes: m.peak_temp_bytes,
        stray_temp_tiles,
        generated_inputs: Some(GeneratedCounts {
            tiles: inputs.generated(),
            reused: inputs.reused(),
        }),
        inputs_consumed: m.inputs_consumed,
        kernels: metrics.kernel_times(),
        cpu,
    })
}

/// How long computing the priorities may keep a run silent: past it,
/// progress (no job done yet) comes every `progress_interval`.
const QUIET_PRIORITIES: Duration = Duration::from_secs(2);

/// The ready queue, ordered as `opts.schedule` asks, and the critical
/// path's job count when computing the priorities found it. Computing
/// bottom levels enumerates the DAG (seconds near the limit of half a
/// million jobs): `opts.stop` abandons it, and the run, before any job
/// starts; past [`QUIET_PRIORITIES`] `progress` is called every
/// `opts.progress_interval` meanwhile.
fn ready_queue(
    plan: &Plan,
    opts: &LocalOptions,
    progress: &dyn Fn(&Progress),
) -> Result<(Arc<LocalQueue>, Option<usize>), RunError> {
    let started = Instant::now();
    let mut last_progress = started;
    let priorities = Priorities::compute_until(plan, &mut |_| {
        if started.elapsed() >= QUIET_PRIORITIES
            && last_progress.elapsed() >= opts.progress_interval
        {
            progress(&Progress {
                jobs_done: 0,
                jobs_total: plan.job_count(),
                flops_done: 0.0,
                bytes_loaded: 0,
                bytes_stored: 0,
                retries: 0,
                elapsed: started.elapsed(),
            });
            last_progress = Instant::now();
        }
        !opts.stop.load(SeqCst)
    });
    let computed_path = priorities.as_ref().and_then(|p| p.critical_path_jobs);
    let order = match opts.schedule {
        Schedule::CriticalPath => priorities.unwrap_or_default(),
        Schedule::Fifo => Priorities::default(),
    };
    if opts.stop.load(SeqCst) {
        return Err(RunError::Cancelled {
            jobs_done: 0,
            jobs_total: plan.job_count(),
        });
    }
    Ok((Arc::new(LocalQueue::new(Arc::new(order))), computed_path))
}

/// Starts the worker threads. A thread the OS refuses (a limit on
/// threads, or no memory for its stack) fails the run instead of
/// panicking: the caller aborts the run and closes the queue, so the
/// threads already started exit and are joined.
fn start_workers<'scope, 'a: 'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    run: &'scope Run<'a>,
    workers: usize,
) -> Result<(), RunError> {
    for worker in 0..workers {
        std::thread::Builder::new()
            .name(format!("lp-worker-{worker}"))
            .spawn_scoped(scope, move || run.worker(worker))
            .map_err(|e| {
                RunError::Backend(BackendError::new(format!(
                    "cannot start worker thread {} of {workers}: {e}",
                    worker + 1
                )))
            })?;
    }
    Ok(())
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
            Err(RunError::Job(Box::new(JobError {
                job: ctx.plan.job_name(job),
                ..JobError::of_run("job", format!("internal error (panic): {message}"))
            })))
        }
    }
}

/// The driver loop on the calling thread.
fn drive(run: &Run<'_>, progress: &dyn Fn(&Progress)) -> Result<(), RunError> {
    let ctx = &run.ctx;
    let opts = run.opts;
    let mut last_progress = Instant::now();
    // Threads start in tens of microseconds; a stalled one delays the
    // run by at most this.
    run.queue
        .await_waiting(run.busy.len(), Duration::from_millis(100));
    // Workers start on the first roots at once; the progress shows them
    // (and a stop or a failure ends the launching) while the rest launch.
    launch_roots(ctx.plan, ctx.counters, ctx.launcher, &mut |_, launched| {
        launched?;
        if last_progress.elapsed() < opts.progress_interval {
            return Ok(ControlFlow::Continue(()));
        }
        progress(&run.snapshot());
        last_progress = Instant::now();
        let halt =
            opts.stop.load(SeqCst) || run.abort.load(SeqCst) || lock(&run.first_error).is_some();
        Ok(if halt {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        })
    })?;
    let lease_check = (opts.lease / 4).max(Duration::from_millis(1));
    let tick = opts
        .progress_interval
        .min(lease_check)
        .max(Duration::from_millis(1));
    let mut last_lease_check = Instant::now();
    loop {
        let (launched, finished) = ctx.counters.launched_and_finished()?;
        if finished == run.total {
            return Ok(());
        }
        if run.abort.load(SeqCst) || lock(&run.first_error).is_some() {
            return Ok(());
        }
        if opts.stop.load(SeqCst) {
            return Err(RunError::Cancelled {
                jobs_done: finished,
                jobs_total: run.total,
            });
        }
        if last_progress.elapsed() >= opts.progress_interval {
            progress(&run.snapshot());
            last_progress = Instant::now();
        }
        if last_lease_check.elapsed() >= lease_check {
            relaunch_lost(run)?;
            last_lease_check = Instant::now();
        }
        // Nothing queued or running (read first), and every launched job
        // finished: no worker and no lease can make progress any more.
        if run.queue.in_flight.load(SeqCst) == 0 {
            let (launched_now, finished_now) = ctx.counters.launched_and_finished()?;
            if launched_now == launched && launched_now == finished_now && finished_now < run.total
            {
                return Err(RunError::Stalled {
                    jobs_done: finished_now,
                    jobs_total: run.total,
                });
            }
        }
        run.wake.wait(tick);
    }
}

/// Relaunches the jobs whose lease ran out and that wait in no queue: lost
/// deliveries.
fn relaunch_lost(run: &Run<'_>) -> Result<(), RunError> {
    let ctx = &run.ctx;
    // The queue is read before the leases: a job taken from it after this
    // read restarted its lease before it left, so it is in one read or not
    // overdue in the other. Read after, a job taken in between would be
    // neither, and relaunched.
    let queued = run.queue.queued();
    // Locally an overdue job is a lost delivery, never one that outruns a
    // time limit: no relaunch is the last.
    relaunch_overdue(
        ctx.counters.overdue(run.opts.lease)?,
        ctx.counters,
        ctx.launcher,
        &mut Relaunches::unlimited(),
        &|job| queued.contains(&job),
        &mut |_, launched| {
            ctx.metrics.add_retry();
            launched
        },
    )?;
    Ok(())
}

/// Writes the trace, if the run keeps one, and returns its idle waits. A
/// run that finished writes it after its last job and sweep, so a
/// [`RunError::Trace`] from [`run_local`] means every job finished and
/// only the trace is missing (callers keep the run's outputs).
fn write_trace(
    tracer: Option<&Tracer>,
    plan: &Plan,
    opts: &LocalOptions,
) -> Result<Option<IdleWaits>, RunError> {
    match (tracer, &opts.trace) {
        (Some(t), Some(path)) => t
            .write(plan, path)
            .map(Some)
            .map_err(|e| RunError::Trace(format!("{}: {e}", path.display()))),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A worker blocked in `pop` lends its core; once a job is queued for
    /// it, it no longer does, whether or not it has woken yet.
    #[test]
    fn a_waiting_worker_is_idle_until_a_job_is_queued_for_it() {
        let queue = LocalQueue::default();
        assert_eq!(queue.idle.load(SeqCst), 0);
        std::thread::scope(|s| {
            let waiter = s.spawn(|| queue.pop(Duration::from_secs(60)));
            let deadline = Instant::now() + Duration::from_secs(10);
            while queue.idle.load(SeqCst) == 0 {
                assert!(Instant::now() < deadline, "the waiter never waited");
                std::thread::sleep(Duration::from_millis(1));
            }
            assert_eq!(queue.idle.load(SeqCst), 1);
            queue.launch(7).unwrap();
            assert_eq!(queue.idle.load(SeqCst), 0);
            assert_eq!(waiter.join().unwrap(), Some(7));
        });
        assert_eq!(queue.idle.load(SeqCst), 0);
    }
}
