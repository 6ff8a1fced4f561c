//! One delivery of one job, as every backend executes it ([`run_job`]).
//!
//! 1. A delivery of an already finished job is dropped (duplicates are
//!    normal).
//! 2. `execute`: the instructions run in order over a register file;
//!    every `S3_WRITE` is durable in the store before anything else is
//!    recorded.
//! 3. `complete`: for each child (solved from the plan, never stored),
//!    `record_done(child, parent)` is an idempotent set-add returning the
//!    number of *distinct* finished parents; the completion that makes it
//!    equal the child's in-degree and wins `try_mark_launched` makes the
//!    child ready. The job continues with its most urgent ready child (the
//!    first of equals) on the same thread (saves a launch, as Wukong does)
//!    and launches the rest.
//! 4. `finish`: `mark_finished` comes last, so a worker that dies anywhere
//!    before it leaves the job "launched, not finished" and the driver's
//!    lease relaunches it. Only the first finish releases the temp tiles
//!    the job read, so replays never free a tile twice.
//!
//! Jobs are SSA and deterministic, so a duplicate execution writes the same
//! bytes; the only hazard is a duplicate that loads a temp tile after the
//! first copy took it (a tile handed over) or finished and freed it. Such a
//! load finds the tile missing, sees it taken or the job finished
//! (`is_duplicate`), and stops quietly. A duplicate that re-writes a
//! freed temp leaves a stray tile, which the driver sweeps at the end.

use super::counters::{Counters, Launcher};
use super::error::{FailureKind, JobError, RunError};
use crate::matrix::{MatrixError, MatrixResult, Read, read_tile};
use crate::metrics::Metrics;
use crate::store::Store;
use crate::trace::{Slice, Tracer};
use lp_program::{Instr, JobId, Located, MatrixInfo, Plan, RefError, Resolved, Role, TileKey};
use lp_std::{Shape, Tile};
use std::borrow::Cow;
use std::sync::Arc;

/// Everything a worker needs to execute jobs of one run.
pub struct JobContext<'a> {
    pub plan: &'a Plan,
    pub store: &'a dyn Store,
    pub counters: &'a dyn Counters,
    pub launcher: &'a dyn Launcher,
    pub metrics: &'a Metrics,
    pub tracer: Option<&'a Tracer>,
    /// Inputs (matrix numbers) whose stored tiles are this run's own
    /// copies, which nothing reads after it: as a temp's, such a tile is
    /// deleted after its last reader, or handed to it by a memory store
    /// ([`hands_over`]) when it has only one.
    pub consumed_inputs: &'a [u32],
}

/// Builds the errors of one job: its name and the source line of the
/// instruction that failed.
struct Failing<'a> {
    ctx: &'a JobContext<'a>,
    job: JobId,
    loc: &'a Located,
}

impl Failing<'_> {
    /// The job's failure at instruction `instr` (its family's line when
    /// `None`); a kernel's sets its kind after.
    fn error(
        &self,
        instr: Option<usize>,
        op: &str,
        tile: Option<TileKey>,
        output: Option<TileKey>,
        message: String,
    ) -> JobError {
        let program = self.ctx.plan.program();
        let family = self.ctx.plan.family(self.loc.family);
        let line = instr
            .and_then(|k| family.lines.get(k))
            .copied()
            .unwrap_or(family.line);
        JobError {
            job: self.ctx.plan.job_name(self.job),
            source: (line > 0).then(|| format!("{}:{line}", program.source)),
            op: op.to_string(),
            tile: tile.map(|t| program.tile_name(t)),
            output: output.map(|t| program.tile_name(t)),
            message,
            kind: FailureKind::Other,
        }
    }
}

fn tile_bytes(info: &MatrixInfo, tile: TileKey) -> u64 {
    let s = info.header.tile(tile.i as usize, tile.j as usize);
    (s.rows * s.cols * std::mem::size_of::<f64>()) as u64
}

/// Executes one delivery of `job` and returns the ready child this worker
/// should run next, if any (the other ready children are launched).
/// `worker` only labels trace slices.
pub fn run_job(ctx: &JobContext<'_>, job: JobId, worker: usize) -> Result<Option<JobId>, RunError> {
    let Some(loc) = ctx.plan.locate(job) else {
        return Err(RunError::InvalidBundle(format!(
            "invalid bundle: job {job} is not a job of the program"
        )));
    };
    if ctx.counters.is_finished(job)? {
        return Ok(None);
    }
    ctx.counters.note_started(job)?;
    ctx.metrics.add_execution();
    let start = ctx.tracer.map(|t| t.now_us());
    let fail = Failing {
        ctx,
        job,
        loc: &loc,
    };
    let Some(flops) = execute(ctx, &fail, worker)? else {
        return Ok(None);
    };
    let next = complete(ctx, job)?;
    finish(ctx, &fail, flops)?;
    if let (Some(tr), Some(t0)) = (ctx.tracer, start) {
        tr.record(worker, Slice::Job, job, None, t0);
    }
    Ok(next)
}

/// Steps 3 and 4 of a delivery whose instructions have already run (its
/// writes are durable): the completions, the launches and the finish, by
/// the same functions [`run_job`] calls. For a simulator (`lp-sim`) that
/// models the execution itself but must take the protocol's decisions with
/// the protocol's code; returns the ready child to continue with.
pub fn complete_and_finish(
    ctx: &JobContext<'_>,
    job: JobId,
    flops: f64,
) -> Result<Option<JobId>, RunError> {
    let Some(loc) = ctx.plan.locate(job) else {
        return Err(RunError::InvalidBundle(format!(
            "invalid bundle: job {job} is not a job of the program"
        )));
    };
    let fail = Failing {
        ctx,
        job,
        loc: &loc,
    };
    let next = complete(ctx, job)?;
    finish(ctx, &fail, flops)?;
    Ok(next)
}

/// A job's registers: values, where each came from (the tile it was
/// loaded from, or its first operand's origin for a kernel result) for
/// error messages, and the last instruction that reads each. Indices are
/// checked: a plan built without validation gets an error, not a panic.
struct Registers {
    values: Vec<Option<Arc<Tile>>>,
    origin: Vec<Option<TileKey>>,
    last_read: Vec<Option<usize>>,
}

impl Registers {
    fn new(instrs: &[Instr], num_regs: usize) -> Registers {
        let mut last_read = vec![None; num_regs];
        for (pc, instr) in instrs.iter().enumerate() {
            let reads = match instr {
                Instr::Load { .. } => &[][..],
                Instr::Write { src, .. } => std::slice::from_ref(src),
                Instr::Apply { args, .. } => args,
            };
            for &r in reads {
                if let Some(last) = last_read.get_mut(r as usize) {
                    *last = Some(pc);
                }
            }
        }
        Registers {
            values: vec![None; num_regs],
            origin: vec![None; num_regs],
            last_read,
        }
    }

    fn get(&self, r: u32) -> Option<&Arc<Tile>> {
        self.values.get(r as usize)?.as_ref()
    }

    fn origin(&self, r: u32) -> Option<TileKey> {
        self.origin.get(r as usize).copied().flatten()
    }

    fn set(&mut self, r: u32, value: Arc<Tile>, origin: Option<TileKey>) -> Result<(), String> {
        let n = self.values.len();
        let slot = self
            .values
            .get_mut(r as usize)
            .ok_or(format!("register {r} is out of range ({n} registers)"))?;
        *slot = Some(value);
        self.origin[r as usize] = origin;
        Ok(())
    }

    /// Empties the registers among `read` that instruction `pc` reads for
    /// the last time, so that their tiles' only holders may be the kernel's
    /// operands.
    fn release(&mut self, pc: usize, read: &[u32]) {
        for &r in read {
            if self.last_read.get(r as usize) == Some(&Some(pc)) {
                self.values[r as usize] = None;
            }
        }
    }
}

/// How many of a job's loads name the stored tile `key` (a `sym` tile and
/// its mirror are one stored tile).
fn loads_naming(
    instrs: &[Instr],
    resolved: &[Result<Option<Resolved>, RefError>],
    key: TileKey,
) -> usize {
    let loads = instrs.iter().zip(resolved);
    loads
        .filter(|(i, r)| matches!((i, r), (Instr::Load { .. }, Ok(Some(t))) if t.key == key))
        .count()
}

/// Whether a load after instruction `pc` loads `tile` again: the job then
/// keeps the tile, so that it reads it once and both registers hold one
/// value (a diagonal `SYRK` is recognised by that).
fn loaded_again(
    instrs: &[Instr],
    resolved: &[Result<Option<Resolved>, RefError>],
    pc: usize,
    tile: Resolved,
) -> bool {
    let mut later = instrs.iter().zip(resolved).skip(pc + 1);
    later.any(|(i, r)| matches!((i, r), (Instr::Load { .. }, Ok(Some(t))) if *t == tile))
}

/// Runs the job's instructions; the flops done, or `None` when this is a
/// duplicate whose first copy already finished (and freed a temp it needs).
fn execute(
    ctx: &JobContext<'_>,
    fail: &Failing<'_>,
    worker: usize,
) -> Result<Option<f64>, RunError> {
    let plan = ctx.plan;
    let family = plan.family(fail.loc.family);
    let most = lp_program::bundle::MAX_REGISTERS;
    if family.num_regs > most {
        let why = format!("{} registers (at most {most})", family.num_regs);
        return Err(fail.error(None, "job", None, None, why).into());
    }
    let mut run = Execution {
        instrs: &family.instrs,
        resolved: (0..family.instrs.len())
            .map(|pc| plan.resolve(fail.loc, pc))
            .collect(),
        regs: Registers::new(&family.instrs, family.num_regs as usize),
        loaded: Vec::new(),
    };
    let mut flops = 0.0;
    for (pc, instr) in family.instrs.iter().enumerate() {
        let t0 = ctx.tracer.map(|t| t.now_us());
        let tile = run.resolved[pc]
            .clone()
            .map_err(|e| fail.error(Some(pc), "tile", None, None, e.to_string()))?;
        let (slice, key) = match (instr, tile) {
            (Instr::Load { dst, .. }, Some(tile)) => {
                if !run.load(ctx, fail, pc, *dst, tile)? {
                    return Ok(None);
                }
                (Slice::Load, Some(tile.key))
            }
            (Instr::Apply { dsts, kernel, args }, _) => {
                let done = apply(ctx, fail, pc, *kernel, args, dsts, &mut run.regs)?;
                flops += done;
                let name = kernel.name();
                let first = args.first().and_then(|&a| run.regs.origin(a));
                let flops = done.round() as u64;
                (Slice::Kernel { name, flops }, first)
            }
            (Instr::Write { src, .. }, Some(tile)) => {
                run.write(ctx, fail, pc, *src, tile.key)?;
                (Slice::Write, Some(tile.key))
            }
            (_, None) => {
                return Err(fail
                    .error(Some(pc), "tile", None, None, "no tile".into())
                    .into());
            }
        };
        if let (Some(tr), Some(t0)) = (ctx.tracer, t0) {
            tr.record(worker, slice, fail.job, key, t0);
        }
    }
    Ok(Some(flops))
}

/// One execution's state: the tiles its instructions name, its registers,
/// and the tiles it loaded that a later load reads again.
struct Execution<'p> {
    instrs: &'p [Instr],
    resolved: Vec<Result<Option<Resolved>, RefError>>,
    regs: Registers,
    /// A job that names one tile twice (a diagonal SYRK loads L[i, k] as
    /// both operands) reads it once.
    loaded: Vec<(Resolved, Arc<Tile>)>,
}

impl Execution<'_> {
    /// `S3_LOAD` of `tile` into register `dst`; false when the tile is gone
    /// because this is a duplicate whose first copy already finished.
    fn load(
        &mut self,
        ctx: &JobContext<'_>,
        fail: &Failing<'_>,
        pc: usize,
        dst: u32,
        tile: Resolved,
    ) -> Result<bool, RunError> {
        let value = match self.loaded.iter().position(|(r, _)| *r == tile) {
            Some(k) => self.loaded.swap_remove(k).1,
            None => {
                let take = handed_over(
                    ctx,
                    tile.key,
                    || loads_naming(self.instrs, &self.resolved, tile.key),
                    || ctx.plan.readers(tile.key),
                );
                let Some(value) = load(ctx, fail, pc, tile, take)? else {
                    return Ok(false);
                };
                ctx.metrics
                    .add_loaded((value.nrows() * value.ncols() * 8) as u64);
                value
            }
        };
        if loaded_again(self.instrs, &self.resolved, pc, tile) {
            self.loaded.push((tile, value.clone()));
        }
        self.regs
            .set(dst, value, Some(tile.key))
            .map_err(|m| fail.error(Some(pc), "S3_LOAD", Some(tile.key), None, m))?;
        Ok(true)
    }

    /// `S3_WRITE` of register `src` to `tile`.
    fn write(
        &self,
        ctx: &JobContext<'_>,
        fail: &Failing<'_>,
        pc: usize,
        src: u32,
        tile: TileKey,
    ) -> Result<(), RunError> {
        let value = self.regs.get(src).cloned().ok_or_else(|| {
            let why = format!("register {src} holds no value");
            fail.error(Some(pc), "S3_WRITE", Some(tile), None, why)
        })?;
        write(ctx, fail, pc, tile, value)
    }
}

/// Runs one kernel instruction; its flops.
fn apply(
    ctx: &JobContext<'_>,
    fail: &Failing<'_>,
    pc: usize,
    kernel: lp_std::Kernel,
    args: &[u32],
    dsts: &[u32],
    regs: &mut Registers,
) -> Result<f64, RunError> {
    let family = ctx.plan.family(fail.loc.family);
    let first = args.first().and_then(|&a| regs.origin(a));
    let output = result_destination(ctx.plan, fail.loc, &family.instrs[pc + 1..], pc + 1, dsts);
    let error = |tile: Option<TileKey>, message: String| {
        RunError::from(fail.error(Some(pc), kernel.name(), tile, output, message))
    };
    let (held, shapes) =
        operands(kernel, args, regs).map_err(|(tile, why)| error(tile.or(first), why))?;
    let symmetric = kernel.is_symmetric(|x, y| Arc::ptr_eq(&held[x], &held[y]));
    let flops = kernel.flops_for(&shapes, symmetric);
    regs.release(pc, args);
    // A tile that only this kernel's operands hold now (read for the last
    // time, not in the store's memory, not cached for a later load) is
    // handed over: the kernel computes its result in it.
    let mut taken: Vec<Result<Tile, Arc<Tile>>> = held.into_iter().map(Arc::try_unwrap).collect();
    let operands: Vec<Cow<'_, Tile>> = taken
        .iter_mut()
        .map(|t| match t {
            Ok(t) => Cow::Owned(std::mem::replace(t, Tile::new())),
            Err(shared) => Cow::Borrowed(&**shared),
        })
        .collect();
    // Timed always: a kernel takes microseconds at the least, two clock
    // reads tens of nanoseconds.
    let start = std::time::Instant::now();
    let results = kernel.apply_reusing(operands);
    ctx.metrics
        .add_kernel(kernel.timed_as(symmetric), start.elapsed(), flops);
    let results = results.map_err(|e| {
        let operand = match &e {
            lp_std::KernelError::Shape(shape) => shape.operand,
            _ => kernel.factor_operand(),
        };
        let tile = args.get(operand).and_then(|&a| regs.origin(a));
        let message = kernel_message(ctx.plan, &e, tile);
        JobError {
            kind: FailureKind::of(&e),
            ..fail.error(Some(pc), kernel.name(), tile.or(first), output, message)
        }
    })?;
    if results.len() != dsts.len() {
        return Err(error(
            first,
            format!(
                "has {} results, found {} registers",
                results.len(),
                dsts.len()
            ),
        ));
    }
    for (&dst, result) in dsts.iter().zip(results) {
        regs.set(dst, Arc::new(result), first)
            .map_err(|m| error(first, m))?;
    }
    Ok(flops)
}

/// What is wrong with a kernel's operands: the tile to blame, if the
/// fault is one operand's, and why.
type OperandFault = (Option<TileKey>, String);

/// The operands of `kernel` in registers `args` and their shapes, checked
/// against the kernel's arity and shapes.
fn operands(
    kernel: lp_std::Kernel,
    args: &[u32],
    regs: &Registers,
) -> Result<(Vec<Arc<Tile>>, Vec<Shape>), OperandFault> {
    let (lo, hi) = kernel.arity();
    if args.len() < lo || args.len() > hi {
        let why = format!("takes {lo} to {hi} operands, found {}", args.len());
        return Err((None, why));
    }
    let mut held = Vec::with_capacity(args.len());
    for &a in args {
        let value = regs.get(a);
        held.push(Arc::clone(
            value.ok_or_else(|| (None, format!("register {a} holds no value")))?,
        ));
    }
    let shapes: Vec<Shape> = held
        .iter()
        .map(|t| Shape::new(t.nrows(), t.ncols()))
        .collect();
    if let Err(e) = kernel.result_shapes(&shapes) {
        let tile = args.get(e.operand).and_then(|&a| regs.origin(a));
        return Err((tile, e.message));
    }
    Ok((held, shapes))
}

/// A kernel's error, with the index of a failing diagonal entry of a
/// diagonal tile in the whole matrix: the kernel knows only its place in
/// the tile (pivot 6 of `S[2, 2, 2]` is entry (70, 70) of `S` in tiles of
/// 32), which is not what a user looks up in their matrix.
fn kernel_message(plan: &Plan, e: &lp_std::KernelError, tile: Option<TileKey>) -> String {
    use lp_std::KernelError::{NotPositiveDefinite, Singular};
    let local = match e {
        NotPositiveDefinite { pivot: k, .. } | Singular { index: k, .. } => *k,
        _ => return e.to_string(),
    };
    let Some(tile) = tile.filter(|t| t.i == t.j) else {
        return e.to_string();
    };
    let matrices = &plan.program().matrices;
    let info = &matrices[tile.matrix as usize];
    let at = tile.i as usize * info.header.tile_shape[0] + local;
    // A versioned temp's rows are its base's (the trailing matrix S of a
    // Cholesky is A updated), which is the matrix the user knows.
    let base = match info.base {
        Some(b) => format!(", whose version 0 is {}", matrices[b as usize].name),
        None => String::new(),
    };
    format!("{e}, entry ({at}, {at}) of {}{base}", info.name)
}

/// Loads `tile`, taking it from the store when `take` ([`handed_over`]);
/// `None` when this execution is a duplicate that must stop.
fn load(
    ctx: &JobContext<'_>,
    fail: &Failing<'_>,
    pc: usize,
    tile: Resolved,
    take: bool,
) -> Result<Option<Arc<Tile>>, RunError> {
    let info = &ctx.plan.program().matrices[tile.key.matrix as usize];
    let read = if take { Read::Take } else { Read::Get };
    let missing = |loaded: &MatrixResult<_>| matches!(loaded, Err(MatrixError::Missing { .. }));
    let mut loaded = read_tile(ctx.store, info, tile.into(), read);
    if missing(&loaded) && disposable(ctx, tile.key.matrix) {
        if is_duplicate(ctx, fail, pc, tile.key, take)? {
            return Ok(None);
        }
        if take {
            // Neither taken nor finished: a late duplicate of the tile's
            // writer may have stored it again since the first load (a write
            // clears the taken mark; see `is_duplicate`), and this one then
            // finds it.
            loaded = read_tile(ctx.store, info, tile.into(), read);
            if missing(&loaded) && is_duplicate(ctx, fail, pc, tile.key, take)? {
                return Ok(None);
            }
        }
    }
    match loaded {
        Ok(v) => {
            match (take, info.role) {
                // The store holds it no more: the result written into its
                // buffer is the temp from now on.
                (true, Role::Temp) => ctx.metrics.temp_freed(tile_bytes(info, tile.key)),
                (true, _) => ctx.metrics.input_consumed(),
                (false, _) => {}
            }
            Ok(Some(v))
        }
        Err(MatrixError::Missing { .. }) => {
            let why = format!(
                "the tile is not in the store and {} has no initialiser",
                info.name
            );
            Err(fail
                .error(Some(pc), "S3_LOAD", Some(tile.key), None, why)
                .into())
        }
        Err(e) => Err(fail
            .error(Some(pc), "S3_LOAD", Some(tile.key), None, e.to_string())
            .into()),
    }
}

/// Whether a [disposable](disposable) tile missing from the store means
/// this execution is a duplicate, whose work is another's: another
/// execution of its job took the tile to update in place and will finish,
/// or its job finished and freed the tile. Otherwise the missing tile is an
/// error.
///
/// The store is asked first. An execution marks its job finished before it
/// deletes the tiles it read, and a deletion forgets that a tile was taken,
/// so a tile found neither taken nor finished was never written. Asked the
/// other way round, the execution that took the tile could finish between
/// the two answers: not finished yet, then not taken any more. A late
/// duplicate of the tile's writer can still store it again between this
/// execution's load and these questions (the tile is then there, not taken,
/// and the job not finished): [`load`] loads it once more for that.
fn is_duplicate(
    ctx: &JobContext<'_>,
    fail: &Failing<'_>,
    pc: usize,
    tile: TileKey,
    take: bool,
) -> Result<bool, RunError> {
    if take {
        let info = &ctx.plan.program().matrices[tile.matrix as usize];
        let stored = info.stored_name(tile.version);
        let taken = ctx
            .store
            .taken(&stored, tile.i as usize, tile.j as usize)
            .map_err(|e| {
                let why = e.to_string();
                fail.error(Some(pc), "S3_LOAD", Some(tile), None, why)
            })?;
        if taken {
            return Ok(true);
        }
    }
    Ok(ctx.counters.is_finished(fail.job)?)
}

/// Whether the store hands a tile over to this job: a temp tile, or a
/// consumed input's ([`JobContext::consumed_inputs`]), whose only
/// reader this job is (`readers`), naming it in one load (`loads`), from a
/// store that can give up its copy (memory), so that a kernel updating it
/// does so in place instead of copying it first. Nothing else reads it,
/// and every execution of this job loads it at the same step: the first
/// takes it, a duplicate finds it taken and stops. (A job that also loads
/// its mirror would find it taken at its second load.) The counts are
/// asked for last, only where the store and matrix allow a hand-over.
fn handed_over(
    ctx: &JobContext<'_>,
    tile: TileKey,
    loads: impl FnOnce() -> usize,
    readers: impl FnOnce() -> u32,
) -> bool {
    hands_over(
        disposable(ctx, tile.matrix),
        ctx.store.hands_over_tiles(),
        loads,
        readers,
    )
}

/// Whether matrix `matrix`'s tiles are of no use once their readers have
/// run, so that the store frees each after its last reader (or hands it to
/// that reader): a temp's, or a consumed input's
/// ([`JobContext::consumed_inputs`]).
fn disposable(ctx: &JobContext<'_>, matrix: u32) -> bool {
    match ctx.plan.program().matrices[matrix as usize].role {
        Role::Temp => true,
        Role::Input => ctx.consumed_inputs.contains(&matrix),
        Role::Output => false,
    }
}

/// `handed_over`'s rule on its facts, for the simulator (`lp-sim`) too:
/// a tile nothing needs once its readers have run (`disposable`: a temp's,
/// or a consumed input's), from a store that hands tiles over
/// (`store_hands_over`), loaded `loads` times by the job, read by `readers`
/// jobs in all.
pub fn hands_over(
    disposable: bool,
    store_hands_over: bool,
    loads: impl FnOnce() -> usize,
    readers: impl FnOnce() -> u32,
) -> bool {
    disposable && store_hands_over && loads() == 1 && readers() == 1
}

fn write(
    ctx: &JobContext<'_>,
    fail: &Failing<'_>,
    pc: usize,
    tile: TileKey,
    value: Arc<Tile>,
) -> Result<(), RunError> {
    let info = &ctx.plan.program().matrices[tile.matrix as usize];
    if info.role == Role::Temp && ctx.plan.readers(tile) == 0 {
        // Nobody reads it: storing it would only cost memory.
        return Ok(());
    }
    let bytes = (value.nrows() * value.ncols() * 8) as u64;
    ctx.store
        .put_tile(
            &info.stored_name(tile.version),
            tile.i as usize,
            tile.j as usize,
            value,
        )
        .map_err(|e| fail.error(Some(pc), "S3_WRITE", Some(tile), None, e.to_string()))?;
    ctx.metrics.add_stored(bytes);
    if info.role == Role::Temp {
        ctx.metrics.temp_allocated(tile_bytes(info, tile));
    }
    Ok(())
}

/// Records this job's completion with each child; returns the first child
/// that became ready (for this worker to run next) and launches the others.
fn complete(ctx: &JobContext<'_>, job: JobId) -> Result<Option<JobId>, RunError> {
    let mut children = Vec::new();
    ctx.plan.children(job, &mut children);
    // The ready children, kept at the front of the list.
    let mut ready = 0;
    for k in 0..children.len() {
        let child = children[k];
        let done = ctx.counters.record_done(child, job)?;
        if done == ctx.plan.in_degree(child) && ctx.counters.try_mark_launched(child)? {
            children[ready] = child;
            ready += 1;
        }
    }
    let ready = &children[..ready];
    // Continue with the most urgent ready child (the first of equals);
    // deliver the others. A single ready child needs no comparison. The
    // program's stated priorities order them on every backend; without
    // them, the launcher's (local bottom levels; none on Lambda).
    let urgency =
        |job| super::priority::stated(ctx.plan, job).unwrap_or_else(|| ctx.launcher.priority(job));
    let next = match ready {
        [] => return Ok(None),
        [_] => 0,
        _ => {
            let mut best = (0, urgency(ready[0]));
            for (k, &child) in ready.iter().enumerate().skip(1) {
                let p = urgency(child);
                if p > best.1 {
                    best = (k, p);
                }
            }
            best.0
        }
    };
    for (k, &child) in ready.iter().enumerate() {
        if k != next {
            ctx.launcher.launch(child)?;
        }
    }
    Ok(Some(ready[next]))
}

/// Marks the job finished; the first finish releases the
/// [disposable](disposable) tiles it read and deletes those whose last
/// reader it was.
fn finish(ctx: &JobContext<'_>, fail: &Failing<'_>, flops: f64) -> Result<(), RunError> {
    if !ctx.counters.mark_finished(fail.job)? {
        return Ok(());
    }
    ctx.metrics.add_finished(flops);
    let program = ctx.plan.program();
    let mut loaded = Vec::new();
    ctx.plan
        .tiles(fail.loc, false, &mut loaded)
        .map_err(|e| fail.error(None, "tile", None, None, e.to_string()))?;
    loaded.retain(|t| disposable(ctx, t.matrix));
    loaded.sort_unstable();
    for run in loaded.chunk_by(|a, b| a == b) {
        let (tile, loads) = (run[0], run.len());
        let readers = ctx.plan.readers(tile);
        if ctx.counters.release_reader(tile, fail.job, readers)? == 0 {
            let info = &program.matrices[tile.matrix as usize];
            ctx.store
                .delete_tile(
                    &info.stored_name(tile.version),
                    tile.i as usize,
                    tile.j as usize,
                )
                .map_err(|e| fail.error(None, "S3_DELETE", Some(tile), None, e.to_string()))?;
            // A tile handed over was counted freed when it was taken.
            if info.role == Role::Temp && !handed_over(ctx, tile, || loads, || readers) {
                ctx.metrics.temp_freed(tile_bytes(info, tile));
            }
        }
    }
    Ok(())
}

/// The tile a kernel result in `dsts` is written to, if a later instruction
/// (`rest`, starting at index `first`) writes that register directly.
fn result_destination(
    plan: &Plan,
    loc: &Located,
    rest: &[Instr],
    first: usize,
    dsts: &[u32],
) -> Option<TileKey> {
    let k = rest
        .iter()
        .position(|i| matches!(i, Instr::Write { src, .. } if dsts.contains(src)))?;
    plan.resolve(loc, first + k).ok().flatten().map(|r| r.key)
}
