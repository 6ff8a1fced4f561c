//! The decentralised scheduling protocol (DESIGN.md section 5), written once
//! against two small traits so that every backend runs the same code:
//! [`Counters`] (completion records, launch flags, temp-tile reader counts)
//! and [`Launcher`] (deliver a job to some worker). The local backend
//! implements them with atomics and a work queue; the Lambda backend will
//! implement them with DynamoDB conditional updates and async invocations.
//!
//! A job's life, as [`run_job`] executes it:
//! 1. a delivery of an already finished job is dropped (duplicates are normal);
//! 2. the instructions run in order over a register file; every `S3_WRITE` is
//!    durable in the store before anything else is recorded;
//! 3. for each child, `record_done(child, parent)` is an idempotent set-add
//!    returning the number of *distinct* finished parents; the completion
//!    that makes it equal the child's in-degree and wins `try_mark_launched`
//!    makes the child ready. The job continues with the first ready child on
//!    the same thread (saves a launch, as Wukong does) and launches the rest;
//! 4. `mark_finished` comes last, so a worker that dies anywhere before it
//!    leaves the job "launched, not finished" and the driver's lease relaunches
//!    it. Only the first finish (per job) releases the temp tiles the job read,
//!    so replays never free a tile twice.
//!
//! Jobs are SSA and deterministic, so a duplicate execution writes the same
//! bytes; the only hazard is a duplicate that loads a temp tile after the
//! first copy finished and freed it. Such a load finds the tile missing, sees
//! the job finished, and stops quietly. A duplicate that re-writes a freed
//! temp leaves a stray tile, which the driver sweeps at the end of the run.

use crate::bundle::{Bundle, Instr, JobId, MatrixInfo, Role, TileIndex, TileKey};
use crate::matrix::{MatrixError, load_tile};
use crate::metrics::Metrics;
use crate::store::Store;
use crate::trace::{Slice, Tracer};
use lp_std::{Kernel, Shape, Tile};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A failure of the coordination backend itself (a counter table, a queue,
/// an invocation API), as opposed to a failure of a job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendError {
    pub message: String,
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

pub type ProtoResult<T> = Result<T, BackendError>;

/// The shared protocol state of one run.
///
/// Every method must be safe to call concurrently from many workers and
/// must be idempotent where stated: deliveries and completions may repeat.
pub trait Counters: Send + Sync {
    /// Adds `parent` to `child`'s set of finished parents and returns the
    /// number of distinct finished parents. Recording the same parent twice
    /// does not change the count.
    fn record_done(&self, child: JobId, parent: JobId) -> ProtoResult<u32>;
    /// Sets `job`'s launched flag (and its launched-at time) if it was not
    /// set: true for exactly one caller per job.
    fn try_mark_launched(&self, job: JobId) -> ProtoResult<bool>;
    /// Restarts `job`'s lease for a deliberate re-delivery by the driver.
    fn note_relaunch(&self, job: JobId) -> ProtoResult<()>;
    /// A worker started executing `job`: backends whose deliveries can wait
    /// in a queue restart the lease here, so a long backlog is not mistaken
    /// for lost deliveries. Where a delivery starts at once (an invocation),
    /// the launch time is close enough and this does nothing.
    ///
    /// Deliberately without a default body: a wrapper (fault injection,
    /// instrumentation) must forward it, not silently drop it.
    fn note_started(&self, job: JobId) -> ProtoResult<()>;
    /// Sets `job`'s finished flag; true only for the first caller.
    fn mark_finished(&self, job: JobId) -> ProtoResult<bool>;
    fn is_finished(&self, job: JobId) -> ProtoResult<bool>;
    /// Decrements the number of jobs still to read temp `tile` and returns
    /// what remains. Called at most once per (reading job, tile).
    fn release_reader(&self, tile: TileKey) -> ProtoResult<u32>;
    /// Jobs launched but not finished whose (re)launch is older than `lease`.
    fn overdue(&self, lease: Duration) -> ProtoResult<Vec<JobId>>;
    /// How many jobs are launched and how many finished, for the driver.
    fn launched_and_finished(&self) -> ProtoResult<(usize, usize)>;
}

type RecordDoneHook<C> = dyn Fn(&C, JobId, JobId) -> ProtoResult<u32> + Send + Sync;
type JobHook<C> = dyn Fn(&C, JobId) -> ProtoResult<bool> + Send + Sync;

/// Counters that forward every step to `inner` except the ones given a
/// hook. Fault injection (the worker's `LP_WORKER_FAULT`) and the protocol
/// tests intercept only the steps a crash, a replay or a lost record
/// happens at; everything else, including `note_started`, must reach the
/// real backend, and forwarding it in one place keeps a wrapper from
/// dropping a step by omission.
pub struct InterceptedCounters<C> {
    inner: C,
    record_done: Option<Box<RecordDoneHook<C>>>,
    try_mark_launched: Option<Box<JobHook<C>>>,
    is_finished: Option<Box<JobHook<C>>>,
}

impl<C: Counters> InterceptedCounters<C> {
    pub fn new(inner: C) -> InterceptedCounters<C> {
        InterceptedCounters {
            inner,
            record_done: None,
            try_mark_launched: None,
            is_finished: None,
        }
    }

    /// Runs `hook(inner, child, parent)` instead of `record_done`.
    pub fn on_record_done(
        mut self,
        hook: impl Fn(&C, JobId, JobId) -> ProtoResult<u32> + Send + Sync + 'static,
    ) -> Self {
        self.record_done = Some(Box::new(hook));
        self
    }

    /// Runs `hook(inner, job)` instead of `try_mark_launched`.
    pub fn on_try_mark_launched(
        mut self,
        hook: impl Fn(&C, JobId) -> ProtoResult<bool> + Send + Sync + 'static,
    ) -> Self {
        self.try_mark_launched = Some(Box::new(hook));
        self
    }

    /// Runs `hook(inner, job)` instead of `is_finished`.
    pub fn on_is_finished(
        mut self,
        hook: impl Fn(&C, JobId) -> ProtoResult<bool> + Send + Sync + 'static,
    ) -> Self {
        self.is_finished = Some(Box::new(hook));
        self
    }
}

impl<C: Counters> Counters for InterceptedCounters<C> {
    fn record_done(&self, child: JobId, parent: JobId) -> ProtoResult<u32> {
        match &self.record_done {
            Some(hook) => hook(&self.inner, child, parent),
            None => self.inner.record_done(child, parent),
        }
    }
    fn try_mark_launched(&self, job: JobId) -> ProtoResult<bool> {
        match &self.try_mark_launched {
            Some(hook) => hook(&self.inner, job),
            None => self.inner.try_mark_launched(job),
        }
    }
    fn note_relaunch(&self, job: JobId) -> ProtoResult<()> {
        self.inner.note_relaunch(job)
    }
    fn note_started(&self, job: JobId) -> ProtoResult<()> {
        self.inner.note_started(job)
    }
    fn mark_finished(&self, job: JobId) -> ProtoResult<bool> {
        self.inner.mark_finished(job)
    }
    fn is_finished(&self, job: JobId) -> ProtoResult<bool> {
        match &self.is_finished {
            Some(hook) => hook(&self.inner, job),
            None => self.inner.is_finished(job),
        }
    }
    fn release_reader(&self, tile: TileKey) -> ProtoResult<u32> {
        self.inner.release_reader(tile)
    }
    fn overdue(&self, lease: Duration) -> ProtoResult<Vec<JobId>> {
        self.inner.overdue(lease)
    }
    fn launched_and_finished(&self) -> ProtoResult<(usize, usize)> {
        self.inner.launched_and_finished()
    }
}

/// Shared counters are counters (wrappers hold them as `Arc<dyn Counters>`).
impl<T: Counters + ?Sized> Counters for Arc<T> {
    fn record_done(&self, child: JobId, parent: JobId) -> ProtoResult<u32> {
        (**self).record_done(child, parent)
    }
    fn try_mark_launched(&self, job: JobId) -> ProtoResult<bool> {
        (**self).try_mark_launched(job)
    }
    fn note_relaunch(&self, job: JobId) -> ProtoResult<()> {
        (**self).note_relaunch(job)
    }
    fn note_started(&self, job: JobId) -> ProtoResult<()> {
        (**self).note_started(job)
    }
    fn mark_finished(&self, job: JobId) -> ProtoResult<bool> {
        (**self).mark_finished(job)
    }
    fn is_finished(&self, job: JobId) -> ProtoResult<bool> {
        (**self).is_finished(job)
    }
    fn release_reader(&self, tile: TileKey) -> ProtoResult<u32> {
        (**self).release_reader(tile)
    }
    fn overdue(&self, lease: Duration) -> ProtoResult<Vec<JobId>> {
        (**self).overdue(lease)
    }
    fn launched_and_finished(&self) -> ProtoResult<(usize, usize)> {
        (**self).launched_and_finished()
    }
}

/// Delivers a job to a worker: a queue push locally, an async invocation on
/// Lambda. A delivery may be lost; the driver's lease covers that.
pub trait Launcher: Send + Sync {
    fn launch(&self, job: JobId) -> ProtoResult<()>;
}

/// Facts derived once from the bundle that every worker needs.
#[derive(Debug)]
pub struct RunPlan {
    /// Dense numbering of every tile of every matrix.
    pub tiles: TileIndex,
    /// Per dense tile index: how many distinct jobs load it if it is a temp
    /// tile, else 0. A temp tile with no reader is never stored.
    pub temp_readers_dense: Vec<u32>,
    /// The same counts keyed by tile, temps with readers only (what a remote
    /// counter table is initialised from).
    pub temp_readers: HashMap<TileKey, u32>,
}

impl RunPlan {
    /// The bundle must be valid ([`Bundle::validate`]): tiles in their grids.
    pub fn new(bundle: &Bundle) -> RunPlan {
        let (tiles, mut dense) = bundle.reader_counts_dense();
        for (m, info) in bundle.matrices.iter().enumerate() {
            if info.role != Role::Temp {
                let [rows, cols] = info.header.grid();
                for i in 0..rows {
                    for j in 0..cols {
                        let key = TileKey {
                            matrix: m as u32,
                            i: i as u32,
                            j: j as u32,
                        };
                        dense[tiles.index(key)] = 0;
                    }
                }
            }
        }
        let temp_readers = bundle
            .reader_counts()
            .into_iter()
            .filter(|(tile, _)| is_temp(bundle, *tile))
            .collect();
        RunPlan {
            tiles,
            temp_readers_dense: dense,
            temp_readers,
        }
    }

    pub fn temp_readers_of(&self, tile: TileKey) -> u32 {
        self.temp_readers_dense[self.tiles.index(tile)]
    }
}

/// [`Bundle::validate`] with the message as a string, for
/// [`RunError::InvalidBundle`].
pub fn check_structure(bundle: &Bundle) -> Result<(), String> {
    bundle.validate().map_err(|e| e.to_string())
}

/// The distinct temp tiles `instrs` loads, into `out` (cleared first).
fn temp_loads(bundle: &Bundle, instrs: &[Instr], out: &mut Vec<TileKey>) {
    out.clear();
    for instr in instrs {
        if let Instr::Load { tile, .. } = instr
            && is_temp(bundle, *tile)
            && !out.contains(tile)
        {
            out.push(*tile);
        }
    }
}

fn is_temp(bundle: &Bundle, tile: TileKey) -> bool {
    bundle
        .matrices
        .get(tile.matrix as usize)
        .is_some_and(|m| m.role == Role::Temp)
}

/// The longest chain of dependent jobs, counted in jobs (0 for no jobs).
/// Children that are out of range are ignored here; validation reports them.
pub fn critical_path_jobs(bundle: &Bundle) -> usize {
    let n = bundle.jobs.len();
    let mut indegree = vec![0u32; n];
    for job in &bundle.jobs {
        for &c in &job.children {
            if let Some(d) = indegree.get_mut(c as usize) {
                *d += 1;
            }
        }
    }
    let mut depth = vec![1usize; n];
    let mut ready: Vec<usize> = (0..n).filter(|&j| indegree[j] == 0).collect();
    let mut longest = 0;
    while let Some(j) = ready.pop() {
        longest = longest.max(depth[j]);
        for &c in &bundle.jobs[j].children {
            let c = c as usize;
            if c < n {
                depth[c] = depth[c].max(depth[j] + 1);
                indegree[c] -= 1;
                if indegree[c] == 0 {
                    ready.push(c);
                }
            }
        }
    }
    longest
}

/// Everything a worker needs to execute jobs of one run.
pub struct JobContext<'a> {
    pub bundle: &'a Bundle,
    pub plan: &'a RunPlan,
    pub store: &'a dyn Store,
    pub counters: &'a dyn Counters,
    pub launcher: &'a dyn Launcher,
    pub metrics: &'a Metrics,
    pub tracer: Option<&'a Tracer>,
}

/// A job that failed: which job, which operation, on which tile, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct JobError {
    pub job: String,
    /// The opcode: a kernel name, `S3_LOAD` or `S3_WRITE`.
    pub op: String,
    /// The tile the failing operand came from, e.g. `S3[3, 3]`.
    pub tile: Option<String>,
    /// The tile the result would have been written to, if known.
    pub output: Option<String>,
    pub message: String,
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "job \"{}\": {}", self.job, self.op)?;
        if let Some(tile) = &self.tile {
            write!(f, " on {tile}")?;
        }
        if let Some(out) = &self.output {
            write!(f, " (result for {out})")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Why a run did not complete.
#[derive(Clone, Debug, PartialEq)]
pub enum RunError {
    /// The first job failure; the run stopped taking jobs.
    Job(JobError),
    Backend(BackendError),
    /// The bundle fails [`Bundle::validate`]; nothing ran. The message is
    /// complete (it starts with "invalid bundle").
    InvalidBundle(String),
    /// The stop flag was set (Ctrl-C).
    Cancelled {
        jobs_done: usize,
        jobs_total: usize,
    },
    /// No job is queued, running or leased, yet some never ran: a bundle
    /// whose in-degrees do not match its edges.
    Stalled {
        jobs_done: usize,
        jobs_total: usize,
    },
    /// Writing the trace file failed.
    Trace(String),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Job(e) => e.fmt(f),
            RunError::Backend(e) => write!(f, "scheduler backend failed: {e}"),
            RunError::InvalidBundle(m) => f.write_str(m),
            RunError::Cancelled {
                jobs_done,
                jobs_total,
            } => write!(f, "run cancelled after {jobs_done} of {jobs_total} jobs"),
            RunError::Stalled {
                jobs_done,
                jobs_total,
            } => write!(
                f,
                "run stalled after {jobs_done} of {jobs_total} jobs: no job is ready or running"
            ),
            RunError::Trace(m) => write!(f, "could not write the trace: {m}"),
        }
    }
}

impl std::error::Error for RunError {}

impl From<BackendError> for RunError {
    fn from(e: BackendError) -> RunError {
        RunError::Backend(e)
    }
}

/// `S3[3, 3]`-style name of a tile, as written in `.lp` source.
pub fn tile_name(bundle: &Bundle, tile: TileKey) -> String {
    let matrix = bundle
        .matrices
        .get(tile.matrix as usize)
        .map_or("?", |m| m.name.as_str());
    format!("{matrix}[{}, {}]", tile.i, tile.j)
}

/// A store error as one line (kept for backends written against it; it is
/// the error's `Display`).
pub fn describe_store_error(e: &crate::store::StoreError) -> String {
    e.to_string()
}

fn tile_bytes(info: &MatrixInfo, tile: TileKey) -> u64 {
    let s = info.header.tile(tile.i as usize, tile.j as usize);
    (s.rows * s.cols * std::mem::size_of::<f64>()) as u64
}

fn apply_kernel(kernel: Kernel, args: &[&Tile]) -> Result<Tile, String> {
    kernel.apply(args).map_err(|e| e.to_string())
}

/// Executes one delivery of `job_id` and returns the ready child this worker
/// should run next, if any (the other ready children are launched).
///
/// `worker` only labels trace slices.
pub fn run_job(
    ctx: &JobContext<'_>,
    job_id: JobId,
    worker: usize,
) -> Result<Option<JobId>, RunError> {
    let bundle = ctx.bundle;
    let job = &bundle.jobs[job_id as usize];
    if ctx.counters.is_finished(job_id)? {
        return Ok(None);
    }
    ctx.counters.note_started(job_id)?;
    ctx.metrics.add_execution();
    let job_start = ctx.tracer.map(|t| t.now_us());
    let fail = |op: &str, tile: Option<TileKey>, output: Option<TileKey>, message: String| {
        RunError::Job(JobError {
            job: job.name.clone(),
            op: op.to_string(),
            tile: tile.map(|t| tile_name(bundle, t)),
            output: output.map(|t| tile_name(bundle, t)),
            message,
        })
    };
    let num_regs = job.num_regs as usize;
    let mut regs: Vec<Option<Arc<Tile>>> = vec![None; num_regs];
    // Where each register's value came from, for error messages: the tile it
    // was loaded from, or the first operand's origin for a kernel result.
    let mut origin: Vec<Option<TileKey>> = vec![None; num_regs];
    let mut flops = 0.0;
    for (pc, instr) in job.instrs.iter().enumerate() {
        match instr {
            Instr::Load {
                dst,
                tile,
                transpose,
            } => {
                let t0 = ctx.tracer.map(|t| t.now_us());
                let Some(info) = bundle.matrices.get(tile.matrix as usize) else {
                    return Err(fail(
                        "S3_LOAD",
                        None,
                        None,
                        format!("matrix {} does not exist", tile.matrix),
                    ));
                };
                if *dst as usize >= num_regs {
                    return Err(fail(
                        "S3_LOAD",
                        Some(*tile),
                        None,
                        format!("register {dst} is out of range"),
                    ));
                }
                let value = match load_tile(
                    ctx.store,
                    info,
                    tile.i as usize,
                    tile.j as usize,
                    *transpose,
                ) {
                    Ok(v) => v,
                    Err(MatrixError::Missing { .. })
                        if info.role == Role::Temp && ctx.counters.is_finished(job_id)? =>
                    {
                        // A duplicate of a job whose first copy finished and
                        // freed this temp: the work is already done.
                        return Ok(None);
                    }
                    Err(MatrixError::Missing { .. }) => {
                        let why = format!(
                            "the tile is not in the store and {} has no initialiser",
                            info.name
                        );
                        return Err(fail("S3_LOAD", Some(*tile), None, why));
                    }
                    Err(e) => return Err(fail("S3_LOAD", Some(*tile), None, e.to_string())),
                };
                ctx.metrics
                    .add_loaded((value.nrows() * value.ncols() * 8) as u64);
                regs[*dst as usize] = Some(value);
                origin[*dst as usize] = Some(*tile);
                if let (Some(tr), Some(t0)) = (ctx.tracer, t0) {
                    tr.record(worker, Slice::Load, job_id, Some(*tile), t0);
                }
            }
            Instr::Apply { dst, kernel, args } => {
                let t0 = ctx.tracer.map(|t| t.now_us());
                let first_origin = args
                    .first()
                    .and_then(|&a| origin.get(a as usize).copied().flatten());
                let output = result_destination(&job.instrs[pc + 1..], *dst);
                let mut operands: Vec<&Tile> = Vec::with_capacity(args.len());
                for &a in args {
                    match regs.get(a as usize) {
                        Some(Some(t)) => operands.push(t),
                        _ => {
                            return Err(fail(
                                kernel.name(),
                                first_origin,
                                output,
                                format!("register {a} holds no value"),
                            ));
                        }
                    }
                }
                if *dst as usize >= num_regs {
                    return Err(fail(
                        kernel.name(),
                        first_origin,
                        output,
                        format!("register {dst} is out of range"),
                    ));
                }
                let shapes: Vec<Shape> = operands
                    .iter()
                    .map(|t| Shape::new(t.nrows(), t.ncols()))
                    .collect();
                let (lo, hi) = kernel.arity();
                if shapes.len() < lo || shapes.len() > hi {
                    return Err(fail(
                        kernel.name(),
                        first_origin,
                        output,
                        format!("takes {lo} to {hi} operands, found {}", shapes.len()),
                    ));
                }
                if let Err(e) = kernel.result_shape(&shapes) {
                    let tile = args.get(e.operand).and_then(|&a| origin[a as usize]);
                    return Err(fail(
                        kernel.name(),
                        tile.or(first_origin),
                        output,
                        e.message,
                    ));
                }
                let result = apply_kernel(*kernel, &operands)
                    .map_err(|m| fail(kernel.name(), first_origin, output, m))?;
                flops += kernel.flops(&shapes);
                regs[*dst as usize] = Some(Arc::new(result));
                origin[*dst as usize] = first_origin;
                if let (Some(tr), Some(t0)) = (ctx.tracer, t0) {
                    tr.record(
                        worker,
                        Slice::Kernel(kernel.name()),
                        job_id,
                        first_origin,
                        t0,
                    );
                }
            }
            Instr::Write { tile, src } => {
                let t0 = ctx.tracer.map(|t| t.now_us());
                let Some(info) = bundle.matrices.get(tile.matrix as usize) else {
                    return Err(fail(
                        "S3_WRITE",
                        None,
                        None,
                        format!("matrix {} does not exist", tile.matrix),
                    ));
                };
                let Some(Some(value)) = regs.get(*src as usize) else {
                    return Err(fail(
                        "S3_WRITE",
                        Some(*tile),
                        None,
                        format!("register {src} holds no value"),
                    ));
                };
                if info.role == Role::Temp && ctx.plan.temp_readers_of(*tile) == 0 {
                    // Nobody reads it: storing it would only cost memory.
                    continue;
                }
                ctx.store
                    .put_tile(&info.name, tile.i as usize, tile.j as usize, value.clone())
                    .map_err(|e| fail("S3_WRITE", Some(*tile), None, e.to_string()))?;
                ctx.metrics
                    .add_stored((value.nrows() * value.ncols() * 8) as u64);
                if info.role == Role::Temp {
                    ctx.metrics.temp_allocated(tile_bytes(info, *tile));
                }
                if let (Some(tr), Some(t0)) = (ctx.tracer, t0) {
                    tr.record(worker, Slice::Write, job_id, Some(*tile), t0);
                }
            }
        }
    }
    drop(regs);

    let mut next = None;
    for &child in &job.children {
        let done = ctx.counters.record_done(child, job_id)?;
        if done == bundle.jobs[child as usize].in_degree && ctx.counters.try_mark_launched(child)? {
            if next.is_none() {
                next = Some(child);
            } else {
                ctx.launcher.launch(child)?;
            }
        }
    }
    if ctx.counters.mark_finished(job_id)? {
        ctx.metrics.add_finished(flops);
        let mut loaded = Vec::new();
        temp_loads(bundle, &job.instrs, &mut loaded);
        for tile in loaded {
            if ctx.counters.release_reader(tile)? == 0 {
                let info = &bundle.matrices[tile.matrix as usize];
                ctx.store
                    .delete_tile(&info.name, tile.i as usize, tile.j as usize)
                    .map_err(|e| fail("S3_DELETE", Some(tile), None, e.to_string()))?;
                ctx.metrics.temp_freed(tile_bytes(info, tile));
            }
        }
    }
    if let (Some(tr), Some(t0)) = (ctx.tracer, job_start) {
        tr.record(worker, Slice::Job, job_id, None, t0);
    }
    Ok(next)
}

/// The tile a kernel result in `dst` is written to, if a later instruction
/// writes that register directly.
fn result_destination(rest: &[Instr], dst: u32) -> Option<TileKey> {
    rest.iter().find_map(|i| match i {
        Instr::Write { tile, src } if *src == dst => Some(*tile),
        _ => None,
    })
}
