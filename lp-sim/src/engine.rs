//! The event loop: deliveries, job bodies, the protocol's steps at their
//! virtual times, the driver's polls and lease checks.
//!
//! A job runs as its backend runs it (`local.rs`'s worker loop, or
//! `aws::lambda::handle_job` per invocation, with `run_job` inside):
//!
//! 1. (Lambda) one consistent read of the run's status; then
//!    `is_finished` (a finished job's delivery is dropped) and
//!    `note_started`, on the simulated counters;
//! 2. the body, modelled ([`crate::exec`]) and stretched by the model's
//!    host contention if other workers are busy as it starts: its writes
//!    become durable at the end, an event;
//! 3. at that event, the protocol's own `complete_and_finish` records the
//!    completions, launches the ready children but the first, marks the
//!    job finished and frees the temps whose last reader it was, each
//!    request charged on the worker's clock; (Lambda) one metrics update;
//! 4. the worker continues with the child it was handed, on Lambda only
//!    while twice the last job's time plus 5 s fits before the invocation's
//!    time limit (`handle_job`'s rule, mirrored: it is not callable here),
//!    else launches it and ends the invocation.
//!
//! The driver launches the roots with `protocol::driver::launch_roots`,
//! polls (one read each, on Lambda), and every `lease / 4` (Lambda: at
//! least one poll) reads the job items (one Query) and relaunches overdue
//! jobs with `protocol::driver::relaunch_overdue`; on Lambda, as that
//! driver does, a job overdue after its last allowed relaunch fails the
//! run. An invocation that outlives the platform's time limit is killed;
//! its job stays launched and unfinished until the lease relaunches it.

use crate::clock::{Cursor, HORIZON, Ns, ns, secs};
use crate::counters::{CounterCosts, SimCounters};
use crate::exec::{self, Body, Costs, Outcome, StepKind};
use crate::launcher::SimLauncher;
use crate::model::{Kind, Model, figure_text};
use crate::platform::{Placement, Platform};
use crate::report::{Report, Tally};
use crate::store::SimStore;
use crate::timeline::Timeline;
use foldhash::HashMap;
use lp_program::{JobId, Plan};
use lp_runtime::metrics::Metrics;
use lp_runtime::protocol::JobError;
use lp_runtime::protocol::driver::{Relaunches, launch_roots, relaunch_overdue};
use lp_runtime::protocol::job::complete_and_finish;
use lp_runtime::protocol::{JobContext, Priorities, RunError};
use lp_runtime::trace::{Slice, Tracer};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

/// What to simulate beyond the program and the model.
#[derive(Clone, Debug)]
pub struct SimOptions {
    /// Threads, or the Lambda concurrency (reserved concurrency; may exceed
    /// the model's account limit, as a raised quota).
    pub workers: u64,
    /// Write a Chrome trace here (as `lpc run --trace` does) of at most
    /// `trace_jobs` job executions.
    pub trace: Option<std::path::PathBuf>,
    pub trace_jobs: usize,
    /// Threads: the bytes of generated input tiles kept for their later
    /// loads, as `lpc run --input-cache` (`SimStore::kept_input`); unused
    /// on Lambda, whose workers keep none.
    pub input_budget: u64,
}

impl SimOptions {
    /// `workers` workers, no trace, and `lpc run`'s default budget for
    /// kept inputs.
    pub fn new(workers: u64) -> SimOptions {
        SimOptions {
            workers,
            trace: None,
            trace_jobs: 0,
            input_budget: lp_runtime::local::DEFAULT_INPUT_BUDGET,
        }
    }
}

/// Most workers a simulation takes: threads and trace buffers are
/// allocated per worker, so the count must not come unchecked from a flag.
pub const MAX_WORKERS: u64 = 1_000_000;

#[derive(Debug)]
pub enum SimError {
    NoWorkers,
    TooManyWorkers(u64),
    /// The protocol code failed (a bug: simulated services never fail).
    Protocol(RunError),
    /// A job loads a tile that no finished job wrote.
    Missing {
        job: String,
        tile: String,
    },
    /// Events ran out with jobs left.
    Stalled {
        done: u64,
        total: u64,
    },
    /// A job was killed at the platform's time limit twice.
    TooLong {
        job: String,
        limit_s: f64,
    },
    /// Writing the trace failed.
    Trace(String),
    /// Virtual time passed [`HORIZON`].
    PastHorizon {
        done: u64,
        total: u64,
    },
    /// The Lambda driver fails the run: a job's lease expired once more
    /// than [`Relaunches::lambda`] allows.
    RelaunchesSpent(Box<JobError>),
    /// The driver relaunched more than [`max_relaunches`] jobs.
    Relaunches {
        relaunches: u64,
        done: u64,
        total: u64,
        lease_s: f64,
    },
    /// The workers' busy or billed time adds up past `u64::MAX` ns.
    WorkerTime,
    /// A price or a worker's memory made a cost (or the GB-seconds) of the
    /// report infinite: (what, the model's figures behind it).
    Cost(&'static str, &'static str),
}

/// Most lease relaunches a simulation makes before it stops: a lease far
/// shorter than the jobs relaunches every running job at each lease check
/// (Lambda's driver skips none), which would simulate duplicates without
/// end rather than a run.
pub fn max_relaunches(jobs: u64) -> u64 {
    jobs.saturating_mul(RELAUNCHES_PER_JOB)
        .saturating_add(EXTRA_RELAUNCHES)
}

const RELAUNCHES_PER_JOB: u64 = 100;
const EXTRA_RELAUNCHES: u64 = 10_000;

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimError::NoWorkers => write!(f, "a simulation takes at least 1 worker"),
            SimError::TooManyWorkers(w) => write!(
                f,
                "{w} workers are more than the simulator takes ({MAX_WORKERS})"
            ),
            SimError::Protocol(e) => write!(f, "the protocol failed: {e}"),
            SimError::Missing { job, tile } => {
                write!(f, "job {job} loads {tile}, which no finished job wrote")
            }
            SimError::Stalled { done, total } => {
                write!(f, "the simulation stalled after {done} of {total} jobs")
            }
            SimError::TooLong { job, limit_s } => write!(
                f,
                "job {job} cannot finish within the platform's {limit_s} s invocation limit \
                 (killed twice); use smaller tiles or more memory"
            ),
            SimError::Trace(m) => write!(f, "could not write the trace: {m}"),
            SimError::PastHorizon { done, total } => write!(
                f,
                "the simulated run passes {} years of virtual time after {done} of {total} jobs: \
                 check the model's latencies and rates, and the program's sizes",
                HORIZON / 1_000_000_000 / 31_557_600
            ),
            SimError::RelaunchesSpent(e) => write!(f, "the driver fails the run: {e}"),
            SimError::Relaunches {
                relaunches,
                done,
                total,
                lease_s,
            } => write!(
                f,
                "the driver relaunched {relaunches} jobs after their lease expired, more than \
                 the simulator takes ({}: {RELAUNCHES_PER_JOB} per job and {EXTRA_RELAUNCHES}), \
                 after {done} of {total} jobs finished: the model's `driver.lease_s` ({} s) is \
                 far shorter than its jobs take",
                max_relaunches(*total),
                figure_text(*lease_s)
            ),
            SimError::WorkerTime => write!(
                f,
                "the workers' simulated time adds up to more than {} years: check the model's \
                 latencies and rates, the program's sizes and the number of workers",
                u64::MAX / 1_000_000_000 / 31_557_600
            ),
            SimError::Cost(what, figures) => write!(
                f,
                "the simulated {what} is not a finite number: check the model's {figures}"
            ),
        }
    }
}

impl std::error::Error for SimError {}

impl From<RunError> for SimError {
    fn from(e: RunError) -> SimError {
        SimError::Protocol(e)
    }
}

/// Events, ordered by time and then by when they were scheduled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// A delivery reaches the platform.
    Arrive(JobId),
    /// A new environment's handler starts with this job.
    Ready(usize, JobId),
    /// The body on this worker has its writes durable.
    Written(usize),
    /// This worker goes on with the child its last job handed it (an
    /// event, so that deliveries due earlier are placed first).
    Continue(usize, JobId),
    /// The invocation on this worker hits its time limit.
    Killed(usize),
    /// The driver polls (and, when due, checks leases).
    Tick,
    /// A scaling window frees slots for waiting deliveries.
    Retry,
}

/// A body in progress on a worker.
struct Running {
    job: JobId,
    /// The job's start (before its status reads).
    start: Ns,
    /// `handle_job`'s `started`: after the run-status read.
    started: Ns,
    end: Ns,
    body: Body,
    /// End of the body on the critical-path clock.
    cp_end: Ns,
}

/// Per-run constants from the model.
struct Timing {
    delivery: Ns,
    read: Ns,
    write: Ns,
    poll: Ns,
    lease: Duration,
    lease_check: Ns,
    max_invocation: Ns,
    item_bytes: f64,
}

impl Timing {
    fn new(model: &Model) -> Timing {
        let m = &model.file;
        let lease = Duration::from_nanos(ns(m.driver.lease_s.get()));
        let poll = ns(m.driver.poll_s.get());
        // As the drivers do: lease / 4, and on Lambda at least one poll.
        let floor = if model.kind() == Kind::Lambda {
            poll
        } else {
            1_000_000
        };
        Timing {
            delivery: ns(m.platform.invoke_delivery_s.get()),
            read: ns(m.counters.read_latency_s.get()),
            write: ns(m.counters.write_latency_s.get()),
            poll,
            lease,
            lease_check: (lease.as_nanos() as Ns / 4).max(floor),
            max_invocation: ns(m.platform.max_invocation_s.get()),
            item_bytes: m.counters.item_bytes.get(),
        }
    }
}

struct Sim<'a> {
    plan: &'a Plan,
    model: &'a Model,
    costs: Costs,
    t: Timing,
    cursor: Cursor,
    tally: Arc<Tally>,
    counters: SimCounters,
    launcher: SimLauncher,
    store: SimStore,
    metrics: Metrics,
    platform: Platform,
    events: BinaryHeap<Reverse<(Ns, u64, Event)>>,
    seq: u64,
    /// An event was scheduled at or past [`HORIZON`]: the run ends at once,
    /// rather than after the driver's ticks walked the clock up to it.
    past_horizon: bool,
    running: HashMap<usize, Running>,
    total: u64,
    executions: u64,
    relaunches: u64,
    /// Each job's relaunches, against the Lambda driver's limit.
    per_job: Relaunches,
    killed: HashMap<JobId, u32>,
    kills: u64,
    cold_starts: u64,
    busy: Ns,
    billed: Ns,
    critical_path: Ns,
    last_finish: Ns,
    retry_pending: bool,
    last_lease_check: Ns,
    timeline: Timeline,
    tracer: Option<Tracer>,
    trace_left: usize,
}

/// Refuses a worker count the simulator does not take: none, or more than
/// [`MAX_WORKERS`]. [`simulate`] checks it; `lpc sim` checks its flags with
/// it before it reads the program.
pub fn check_workers(workers: u64) -> Result<(), SimError> {
    if workers == 0 {
        Err(SimError::NoWorkers)
    } else if workers > MAX_WORKERS {
        Err(SimError::TooManyWorkers(workers))
    } else {
        Ok(())
    }
}

/// A virtual time in the trace's microseconds.
fn us(t: Ns) -> f64 {
    t as f64 / 1e3
}

/// Simulates running `plan` under `model`.
pub fn simulate(plan: &Plan, model: &Model, opts: &SimOptions) -> Result<Report, SimError> {
    check_workers(opts.workers)?;
    let mut sim = Sim::new(plan, model, opts);
    sim.start()?;
    sim.run()?;
    let idle_waits = match (&sim.tracer, &opts.trace) {
        (Some(tracer), Some(path)) => Some(
            tracer
                .write(plan, path)
                .map_err(|e| SimError::Trace(format!("{}: {e}", path.display())))?,
        ),
        _ => None,
    };
    Ok(Report {
        idle_waits,
        ..sim.report(opts.workers)?
    })
}

impl<'a> Sim<'a> {
    fn new(plan: &'a Plan, model: &'a Model, opts: &SimOptions) -> Sim<'a> {
        let m = &model.file;
        let cursor = Cursor::default();
        let tally = Arc::new(Tally::default());
        let lambda = model.kind() == Kind::Lambda;
        let t = Timing::new(model);
        let costs = CounterCosts {
            read: t.read,
            write: t.write,
            restamp_on_start: !lambda,
        };
        let request = ns(m.platform.invoke_request_s.get());
        let delete = ns(m.store.delete_latency_s.get());
        // Threads order their queue and each worker's next child as the
        // local backend does (critical path first); on Lambda every job is
        // equally urgent (a program over the limit without stated
        // priorities too, as in `lpc run`).
        let priorities = Arc::new(if lambda {
            Priorities::default()
        } else {
            Priorities::compute(plan).unwrap_or_default()
        });
        Sim {
            plan,
            model,
            costs: Costs::new(model),
            t,
            counters: SimCounters::new(plan, cursor.clone(), costs, tally.clone()),
            launcher: SimLauncher::new(cursor.clone(), request, tally.clone(), priorities.clone()),
            // Threads are `lpc run`'s local backend on its memory store,
            // keeping generated inputs within its budget.
            store: SimStore::new(
                plan.program(),
                !lambda,
                if lambda { 0 } else { opts.input_budget },
                cursor.clone(),
                delete,
                tally.clone(),
            ),
            cursor,
            tally,
            metrics: Metrics::default(),
            platform: Platform::new(model, opts.workers, priorities),
            events: BinaryHeap::new(),
            seq: 0,
            past_horizon: false,
            running: HashMap::default(),
            total: plan.job_count(),
            executions: 0,
            relaunches: 0,
            per_job: if lambda {
                Relaunches::lambda()
            } else {
                Relaunches::unlimited()
            },
            killed: HashMap::default(),
            kills: 0,
            cold_starts: 0,
            busy: 0,
            billed: 0,
            critical_path: 0,
            last_finish: 0,
            retry_pending: false,
            last_lease_check: 0,
            timeline: Timeline::default(),
            tracer: opts
                .trace
                .as_ref()
                .map(|_| Tracer::new(opts.workers as usize)),
            trace_left: if opts.trace.is_some() {
                opts.trace_jobs
            } else {
                0
            },
        }
    }

    fn lambda(&self) -> bool {
        self.platform.kind == Kind::Lambda
    }

    fn push(&mut self, at: Ns, e: Event) {
        // A time limit's kill that far out never comes if the job ends.
        self.past_horizon |= at >= HORIZON && !matches!(e, Event::Killed(_));
        self.seq += 1;
        self.events.push(Reverse((at, self.seq, e)));
    }

    fn ctx(&self) -> JobContext<'_> {
        JobContext {
            plan: self.plan,
            store: &self.store,
            counters: &self.counters,
            launcher: &self.launcher,
            metrics: &self.metrics,
            tracer: None,
            consumed_inputs: &[],
        }
    }

    /// Turns the launches the protocol just made into deliveries.
    fn deliver_launches(&mut self) {
        for (job, at) in self.launcher.take() {
            self.push(at.saturating_add(self.t.delivery), Event::Arrive(job));
        }
    }

    /// The driver's start: the roots, through the protocol's own gate.
    fn start(&mut self) -> Result<(), SimError> {
        self.cursor.set(0);
        launch_roots(self.plan, &self.counters, &self.launcher, &mut |_, r| {
            r.map(|()| std::ops::ControlFlow::Continue(()))
        })
        .map_err(RunError::from)?;
        self.deliver_launches();
        self.push(self.tick_step(), Event::Tick);
        Ok(())
    }

    /// The driver's period: its poll on Lambda, its lease check for
    /// threads (whose driver makes no request in between). Ticks fall on
    /// its multiples.
    fn tick_step(&self) -> Ns {
        if self.lambda() {
            self.t.poll.max(1)
        } else {
            self.t.lease_check.max(1)
        }
    }

    fn run(&mut self) -> Result<(), SimError> {
        while self.counters.finished_count() < self.total {
            let Some(Reverse((now, _, event))) = self.events.pop() else {
                return Err(SimError::Stalled {
                    done: self.counters.finished_count(),
                    total: self.total,
                });
            };
            if now >= HORIZON || self.past_horizon {
                return Err(SimError::PastHorizon {
                    done: self.counters.finished_count(),
                    total: self.total,
                });
            }
            match event {
                Event::Arrive(job) => self.arrive(job, now)?,
                Event::Ready(env, job) => {
                    let ended = self.begin(env, job, now, now - self.platform.cold)?;
                    self.ended(env, ended)?;
                }
                Event::Written(env) => self.written(env, now)?,
                Event::Continue(env, job) => {
                    let ended = self.start_job(env, job, now)?;
                    self.ended(env, ended)?;
                }
                Event::Killed(env) => self.kill(env, now)?,
                Event::Tick => self.tick(now)?,
                Event::Retry => self.retry(now)?,
            }
        }
        Ok(())
    }

    fn arrive(&mut self, job: JobId, now: Ns) -> Result<(), SimError> {
        match self.platform.place(job, now) {
            Placement::Start(env) => {
                let ended = self.begin(env, job, now, now)?;
                self.ended(env, ended)
            }
            Placement::Cold(env, ready) => {
                self.cold_starts += 1;
                self.push(ready, Event::Ready(env, job));
                Ok(())
            }
            Placement::Queued(retry) => {
                if let Some(at) = retry
                    && !self.retry_pending
                {
                    self.retry_pending = true;
                    self.push(at, Event::Retry);
                }
                Ok(())
            }
        }
    }

    fn retry(&mut self, now: Ns) -> Result<(), SimError> {
        self.retry_pending = false;
        let (started, next) = self.platform.retry(now);
        for (env, job, ready) in started {
            self.cold_starts += 1;
            self.push(ready, Event::Ready(env, job));
        }
        if let Some(at) = next {
            self.retry_pending = true;
            self.push(at, Event::Retry);
        }
        Ok(())
    }

    /// An invocation (or a thread's take from the queue) starts `job`.
    fn begin(
        &mut self,
        env: usize,
        job: JobId,
        now: Ns,
        billed_from: Ns,
    ) -> Result<Option<Ns>, SimError> {
        let bill_cold = self.model.file.platform.bill_cold_start.get();
        let e = &mut self.platform.envs[env];
        e.invocation_start = now;
        e.billed_from = if bill_cold { billed_from } else { now };
        e.cached.clear();
        if let (Some(since), Some(tracer)) = (e.idle_since.take(), &self.tracer) {
            // As `lpc run --trace`: the slice ends where the worker takes
            // its next job, and names that job.
            if self.trace_left > 0 && now > since {
                tracer.record_span(env, Slice::Idle, job, None, us(since), us(now - since));
            }
        }
        self.start_job(env, job, now)
    }

    /// Steps 1 and 2 of a job on `env` at `now`; `Some(end)` if the job
    /// ran no body (finished, or a duplicate that found its temps freed)
    /// and the invocation ends at `end`, which the caller carries out.
    fn start_job(&mut self, env: usize, job: JobId, now: Ns) -> Result<Option<Ns>, SimError> {
        use lp_runtime::protocol::Counters;
        self.cursor.set(now);
        if self.lambda() {
            self.status_read();
        }
        let started = self.cursor.now();
        let finished = self.counters.is_finished(job).map_err(RunError::from)?;
        let Some(loc) = self.plan.locate(job).filter(|_| !finished) else {
            return Ok(Some(self.cursor.now()));
        };
        self.counters.note_started(job).map_err(RunError::from)?;
        self.metrics.add_execution();
        self.executions += 1;
        let run = exec::Run {
            plan: self.plan,
            model: self.model,
            costs: &self.costs,
            store: &self.store,
            cached: &self.platform.envs[env].cached,
            finished,
            trace: self.trace_left > 0,
        };
        let mut body = match exec::body(&run, &loc) {
            Outcome::Ran(body) => body,
            Outcome::Dropped => return Ok(Some(self.cursor.now())),
            Outcome::Missing(tile) => {
                return Err(SimError::Missing {
                    job: self.plan.job_name(job),
                    tile: self.plan.program().tile_name(tile),
                });
            }
        };
        let contention = self.model.file.platform.host_contention.get();
        if contention > 0.0 {
            body.stretch(1.0 + contention * self.platform.others_busy() as f64);
        }
        self.tally.store_gets.fetch_add(body.gets, Relaxed);
        self.tally.store_puts.fetch_add(body.puts, Relaxed);
        let end = self.cursor.now().saturating_add(body.duration);
        let cp_end = self.counters.parents_end(job) + (end - now);
        let deadline = self.deadline(env);
        self.running.insert(
            env,
            Running {
                job,
                start: now,
                started,
                end,
                body,
                cp_end,
            },
        );
        match deadline {
            Some(d) if end > d => self.push(d, Event::Killed(env)),
            _ => self.push(end, Event::Written(env)),
        }
        Ok(None)
    }

    /// Ends the invocation on `env` if its job ran no body.
    fn ended(&mut self, env: usize, ended: Option<Ns>) -> Result<(), SimError> {
        match ended {
            Some(at) => self.end_invocation(env, at),
            None => Ok(()),
        }
    }

    /// When the current invocation on `env` is killed, if ever.
    fn deadline(&self, env: usize) -> Option<Ns> {
        (self.lambda() && self.t.max_invocation > 0).then(|| {
            self.platform.envs[env]
                .invocation_start
                .saturating_add(self.t.max_invocation)
        })
    }

    /// `handle_job`'s read of the run item before each job.
    fn status_read(&self) {
        self.cursor.advance(self.t.read);
        self.tally.counter_reads.fetch_add(1, Relaxed);
    }

    /// `handle_job`'s metrics update after each job.
    fn metrics_write(&self) {
        self.cursor.advance(self.t.write);
        self.tally.counter_writes.fetch_add(1, Relaxed);
    }

    /// Steps 3 and 4: the body's writes are durable at `now`.
    fn written(&mut self, env: usize, now: Ns) -> Result<(), SimError> {
        let r = self
            .running
            .remove(&env)
            .expect("a body runs on this worker");
        for &tile in &r.body.written {
            self.store.insert(tile);
        }
        self.metrics.add_loaded(r.body.bytes_loaded);
        self.metrics.add_stored(r.body.bytes_stored);
        self.counters.set_recording_end(r.cp_end);
        self.critical_path = self.critical_path.max(r.cp_end);
        self.cursor.set(now);
        let next = complete_and_finish(&self.ctx(), r.job, r.body.flops)?;
        if self.lambda() {
            self.metrics_write();
        }
        let done = self.cursor.now();
        self.last_finish = self.last_finish.max(done);
        self.account(env, &r, done);
        self.deliver_launches();
        if self.model.file.worker.cache_last_job.get() {
            self.platform.envs[env].cached = r.body.touched;
        }
        let Some(child) = next else {
            return self.end_invocation(env, done);
        };
        if let Some(d) = self.deadline(env) {
            // handle_job: continue only if a job as long as the last one
            // fits twice with a 5 s margin.
            let needed = 2 * (done - r.started) + 5_000_000_000;
            if d.saturating_sub(done) < needed {
                use lp_runtime::protocol::Launcher;
                self.launcher.launch(child).map_err(RunError::from)?;
                self.deliver_launches();
                return self.end_invocation(env, self.cursor.now());
            }
        }
        self.push(done, Event::Continue(env, child));
        Ok(())
    }

    /// Busy time, the timeline and the trace of one job on `env`.
    fn account(&mut self, env: usize, r: &Running, done: Ns) {
        self.busy = self.busy.saturating_add(done - r.start);
        self.timeline.busy(r.start, done);
        let Some(tracer) = &self.tracer else { return };
        if self.trace_left == 0 {
            return;
        }
        self.trace_left -= 1;
        let body_start = r.end - r.body.duration;
        for s in &r.body.steps {
            let slice = match s.what {
                StepKind::Load => Slice::Load,
                StepKind::Write => Slice::Write,
                StepKind::Kernel(name, flops) => Slice::Kernel { name, flops },
            };
            let start = body_start + s.offset;
            tracer.record_span(env, slice, r.job, s.tile, us(start), us(s.duration));
        }
        tracer.record_span(
            env,
            Slice::Job,
            r.job,
            None,
            us(r.start),
            us(done - r.start),
        );
    }

    /// The invocation on `env` ends at `now`; the worker takes the next
    /// waiting delivery or idles. A loop, not a recursion through `begin`:
    /// a queue of duplicates whose jobs finished ends one invocation after
    /// another at once, and it can be thousands long.
    fn end_invocation(&mut self, env: usize, mut now: Ns) -> Result<(), SimError> {
        loop {
            if self.lambda() {
                // Lambda bills whole milliseconds.
                let billed = (now - self.platform.envs[env].billed_from).div_ceil(1_000_000);
                self.billed = self.billed.saturating_add(billed.saturating_mul(1_000_000));
            }
            let Some(job) = self.platform.release(env) else {
                self.platform.envs[env].idle_since = Some(now);
                return Ok(());
            };
            match self.begin(env, job, now, now)? {
                Some(ended) => now = ended,
                None => return Ok(()),
            }
        }
    }

    /// The invocation on `env` hit its time limit at `now`.
    fn kill(&mut self, env: usize, now: Ns) -> Result<(), SimError> {
        let r = self
            .running
            .remove(&env)
            .expect("a body runs on this worker");
        self.kills += 1;
        self.busy = self.busy.saturating_add(now - r.start);
        self.timeline.busy(r.start, now);
        let kills = self.killed.entry(r.job).or_insert(0);
        *kills += 1;
        if *kills >= 2 {
            return Err(SimError::TooLong {
                job: self.plan.job_name(r.job),
                limit_s: secs(self.t.max_invocation),
            });
        }
        self.end_invocation(env, now)
    }

    /// The driver: a poll, and when due a lease check with relaunches.
    fn tick(&mut self, now: Ns) -> Result<(), SimError> {
        if self.lambda() {
            self.tally.counter_reads.fetch_add(1, Relaxed);
        }
        if now >= self.last_lease_check + self.t.lease_check {
            self.last_lease_check = now;
            self.lease_check(now)?;
        }
        if self.events.is_empty() && self.running.is_empty() {
            // Nothing will happen but ticks: unless a lease can relaunch a
            // launched job, no job will ever run again.
            use lp_runtime::protocol::Counters;
            let (launched, finished) = self
                .counters
                .launched_and_finished()
                .map_err(RunError::from)?;
            if launched == finished {
                return Err(SimError::Stalled {
                    done: finished,
                    total: self.total,
                });
            }
        }
        let step = self.tick_step();
        let idle = self.skip_idle_ticks(now, step);
        let next = step.saturating_mul(idle + 1).saturating_add(now);
        self.push(next, Event::Tick);
        Ok(())
    }

    /// Counts the ticks after `now` that can change nothing, and returns
    /// how many: those before the next event and before the first lease
    /// check that finds a job overdue. Each is still a poll (and some a
    /// lease check's Query) on the bill, but not an event, so that a long
    /// run with a short poll costs no more events than its jobs do.
    fn skip_idle_ticks(&mut self, now: Ns, step: Ns) -> u64 {
        let next_event = self.events.peek().map(|Reverse((at, _, _))| *at);
        let lease = self.t.lease.as_nanos() as Ns;
        let (lambda, platform) = (self.lambda(), &self.platform);
        // As `lease_check` skips: the local driver passes queued jobs over.
        let skip = |job| !lambda && platform.is_queued(job);
        let due = self.counters.first_overdue(lease, &skip);
        if next_event.is_none() && due.is_none() {
            return 0;
        }
        let before_event = next_event.map_or(u64::MAX, |at| at.saturating_sub(now + 1) / step);
        // Lease checks fall every `every` ticks, the first at `first`.
        let every = self.t.lease_check.div_ceil(step).max(1);
        let first = every - (now - self.last_lease_check) / step;
        let before_relaunch = due.map_or(u64::MAX, |due| {
            let at = now + first * step;
            let later = due.saturating_sub(at).div_ceil(every * step);
            first + later * every - 1
        });
        let idle = before_event.min(before_relaunch);
        let checks = if idle >= first {
            (idle - first) / every + 1
        } else {
            0
        };
        if checks > 0 {
            self.last_lease_check = now + (first + (checks - 1) * every) * step;
        }
        if lambda {
            let (pages, units) = self.query_cost();
            self.tally.counter_reads.fetch_add(idle, Relaxed);
            self.tally
                .counter_queries
                .fetch_add(checks * pages, Relaxed);
            self.tally
                .query_read_units
                .fetch_add(checks * units, Relaxed);
        }
        idle
    }

    /// The Query of a lease check on Lambda: pages and read units.
    fn query_cost(&self) -> (u64, u64) {
        // One Query over the run's job items, paged by 1 MB.
        let (items, _) = self.counters.items_and_launched();
        let bytes = items as f64 * self.t.item_bytes;
        let units = (bytes / 4096.0).ceil() as u64;
        let pages = ((bytes / 1_048_576.0).ceil() as u64).max(1);
        (pages, units)
    }

    fn lease_check(&mut self, now: Ns) -> Result<(), SimError> {
        use lp_runtime::protocol::Counters;
        if self.lambda() {
            let (pages, units) = self.query_cost();
            self.tally.counter_queries.fetch_add(pages, Relaxed);
            self.tally.query_read_units.fetch_add(units, Relaxed);
        }
        self.cursor.set(now);
        let platform = &self.platform;
        let lambda = self.lambda();
        let mut relaunched = 0;
        let overdue = self
            .counters
            .overdue(self.t.lease)
            .map_err(RunError::from)?;
        let spent = relaunch_overdue(
            overdue,
            &self.counters,
            &self.launcher,
            &mut self.per_job,
            &|job| !lambda && platform.is_queued(job),
            &mut |_, r| {
                relaunched += 1;
                r
            },
        )
        .map_err(RunError::from)?;
        if let Some(job) = spent {
            let error = self.per_job.spent_error(self.plan, job, self.t.lease);
            return Err(SimError::RelaunchesSpent(Box::new(error)));
        }
        self.relaunches += relaunched;
        if self.relaunches > max_relaunches(self.total) {
            return Err(SimError::Relaunches {
                relaunches: self.relaunches,
                done: self.counters.finished_count(),
                total: self.total,
                lease_s: self.model.file.driver.lease_s.get(),
            });
        }
        self.deliver_launches();
        Ok(())
    }

    fn report(mut self, workers: u64) -> Result<Report, SimError> {
        let makespan = self.last_finish;
        let lambda = self.lambda();
        let driver_done = if lambda {
            makespan.div_ceil(self.t.poll.max(1)) * self.t.poll.max(1) + self.t.read
        } else {
            makespan
        };
        for e in &self.platform.envs {
            self.timeline.live(e.created, makespan.max(e.created));
        }
        if !lambda {
            self.billed = makespan.saturating_mul(workers);
        }
        // The sums saturate rather than wrap: a saturated one is refused.
        if self.busy == Ns::MAX || self.billed == Ns::MAX {
            return Err(SimError::WorkerTime);
        }
        let requests = self.tally.snapshot();
        let (gb_seconds, dollars) = Report::price(self.model, &requests, self.billed);
        if let Some((what, figures)) = dollars.overflow(gb_seconds) {
            return Err(SimError::Cost(what, figures));
        }
        let peaks = self.store.peaks();
        let m = self.metrics.snapshot();
        Ok(Report {
            model: self.model.name().to_string(),
            kind: self.platform.kind,
            workers,
            jobs: self.total,
            executions: self.executions,
            relaunches: self.relaunches,
            killed: self.kills,
            makespan,
            driver_done,
            critical_path: self.critical_path,
            work_bound: self.busy / workers,
            busy: self.busy,
            flops: m.flops_done,
            bytes_loaded: m.bytes_loaded,
            bytes_stored: m.bytes_stored,
            requests,
            billed: self.billed,
            gb_seconds,
            dollars,
            environments: self.platform.envs.len() as u64,
            cold_starts: self.cold_starts,
            peak_tiles: peaks.tiles,
            peak_temp_tiles: peaks.temp_tiles,
            peak_temp_bytes: peaks.temp_bytes,
            timeline: self.timeline,
            idle_waits: None,
        })
    }
}
