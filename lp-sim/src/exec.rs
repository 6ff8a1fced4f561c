//! The modelled part of a job: how long its body takes.
//!
//! The instructions are walked as `lp_runtime::protocol::job::execute`
//! runs them, with the same rules: a tile named twice in one job is loaded
//! once; a tile of an input with an initialiser is generated, with no
//! request (`lp_runtime::store::Namespace::generated`; on the threads
//! platform once, and kept for its later loads: `SimStore::kept_input`),
//! and a tile outside a triangular matrix's triangle is zeros with no
//! request (`lp_runtime::matrix::load_tile`); an upper tile of a symmetric
//! matrix is the stored lower tile transposed (a copy); a temp tile no job
//! reads is not stored (`job::write`); a duplicate that finds a temp it needs
//! freed and its job finished, or taken by the execution that will finish
//! it, stops quietly (`job::load`). A store that hands temps over (the
//! memory store, on the threads platform) gives a temp tile to its only
//! reader when that loads it once (`job::hands_over`); the take happens
//! when the body is costed, at the job's start. Each load costs
//! its request latencies plus its bytes over the worker's bandwidth
//! (nothing if the worker's previous job held the tile and the model keeps
//! it), each kernel its flops over the model's rate at that size, each
//! write its request latencies plus its bytes. A tile larger than one part
//! takes two GET round trips and, above the multipart threshold, three
//! PUT round trips (`lp_runtime::requests::{get_rounds, put_rounds}`). A
//! model may instead give the time of a whole transfer by object size (a
//! table), for services whose times are not a latency plus a bandwidth.

use crate::clock::{Ns, ns};
use crate::model::{Model, size_pairs};
use crate::store::SimStore;
use lp_program::{Instr, Located, Plan, Resolved, Role, TileKey};
use lp_runtime::protocol::job::hands_over;
use lp_runtime::requests::{get_requests, get_rounds, put_requests, put_rounds};
use lp_runtime::store::Store;
use lp_std::{Init, Shape};

/// A piece of a job's timeline, for the trace.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Step {
    pub what: StepKind,
    /// From the start of the job body.
    pub offset: Ns,
    pub duration: Ns,
    pub tile: Option<TileKey>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepKind {
    Load,
    /// A kernel's name and useful flops.
    Kernel(&'static str, u64),
    Write,
}

/// A job body's cost.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Body {
    /// From the first load to the last write durable.
    pub duration: Ns,
    pub flops: f64,
    pub bytes_loaded: u64,
    pub bytes_stored: u64,
    pub gets: u64,
    pub puts: u64,
    /// Tiles written (stored when the body ends).
    pub written: Vec<TileKey>,
    /// Tiles loaded or written: what a caching worker would hold next.
    pub touched: Vec<TileKey>,
    /// Filled only when tracing.
    pub steps: Vec<Step>,
}

impl Body {
    /// The body `factor` times as long (a host shared with busy workers):
    /// every step stretched, its offsets with it.
    pub fn stretch(&mut self, factor: f64) {
        let scale = |t: Ns| (t as f64 * factor).round() as Ns;
        self.duration = scale(self.duration);
        for s in &mut self.steps {
            s.offset = scale(s.offset);
            s.duration = scale(s.duration);
        }
    }
}

/// What running a job body came to.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Ran(Body),
    /// A duplicate whose first copy finished and freed a temp it loads, or
    /// took it to update in place.
    Dropped,
    /// A tile the job loads is in no store and has no writer that ran: the
    /// run cannot go on (a protocol bug, never a model's doing).
    Missing(TileKey),
}

/// Per-request costs in nanoseconds, per-byte costs in seconds.
pub struct Costs {
    get: Ns,
    put: Ns,
    read_s_per_byte: f64,
    write_s_per_byte: f64,
    transpose_s_per_byte: f64,
    get_table: Option<Vec<(f64, f64)>>,
    put_table: Option<Vec<(f64, f64)>>,
    cache: bool,
}

/// Seconds to move an object of `bytes` where the model gives a table by
/// size: linear between (0, `latency`) and the table's points, beyond the
/// last point at `s_per_byte`.
fn from_table(table: &[(f64, f64)], latency: Ns, bytes: f64, s_per_byte: f64) -> Ns {
    let mut prev = (0.0, crate::clock::secs(latency));
    for &(b, t) in table {
        if bytes <= b {
            let f = (bytes - prev.0) / (b - prev.0);
            return ns(prev.1 + f * (t - prev.1));
        }
        prev = (b, t);
    }
    ns(prev.1 + (bytes - prev.0) * s_per_byte)
}

impl Costs {
    pub fn new(model: &Model) -> Costs {
        let s = &model.file.store;
        let per = |rate: f64| if rate > 0.0 { 1.0 / rate } else { 0.0 };
        Costs {
            get: ns(s.get_latency_s.get()),
            put: ns(s.put_latency_s.get()),
            read_s_per_byte: per(s.read_bytes_per_s.get()),
            write_s_per_byte: per(s.write_bytes_per_s.get()),
            transpose_s_per_byte: per(s.transpose_bytes_per_s.get()),
            get_table: s.get_seconds_by_size.as_ref().map(size_pairs),
            put_table: s.put_seconds_by_size.as_ref().map(size_pairs),
            cache: model.file.worker.cache_last_job.get(),
        }
    }
}

/// Context of one body: who runs it and what it may find.
pub struct Run<'a> {
    pub plan: &'a Plan,
    pub model: &'a Model,
    pub costs: &'a Costs,
    pub store: &'a SimStore,
    /// Tiles the worker's previous job touched (used if the model caches).
    pub cached: &'a [TileKey],
    pub finished: bool,
    pub trace: bool,
}

/// The cost of the located job's body.
pub fn body(run: &Run<'_>, loc: &Located) -> Outcome {
    let family = run.plan.family(loc.family);
    // A bundle's register count is not trusted: at most the runtime's limit
    // (a register beyond it is ignored here; the runtime refuses the job).
    let num_regs = family.num_regs.min(lp_program::bundle::MAX_REGISTERS) as usize;
    let mut regs: Vec<Option<Shape>> = vec![None; num_regs];
    let mut loaded: Vec<Resolved> = Vec::new();
    // Each load of the job by tile, where a store hands tiles over.
    let mut loads = Vec::new();
    if run.store.hands_over_tiles() && run.plan.tiles(loc, false, &mut loads).is_err() {
        loads.clear();
    }
    let mut b = Body::default();
    for (pc, instr) in family.instrs.iter().enumerate() {
        let Ok(resolved) = run.plan.resolve(loc, pc) else {
            continue;
        };
        let (what, tile, d) = match (instr, resolved) {
            (Instr::Load { dst, .. }, Some(r)) => {
                let d = if loaded.contains(&r) {
                    0
                } else {
                    match load(run, r, &loads, &mut b) {
                        Ok(d) => d,
                        Err(outcome) => return outcome,
                    }
                };
                loaded.push(r);
                set(&mut regs, *dst, Some(shape_of(run.plan, r)));
                (StepKind::Load, Some(r.key), d)
            }
            (Instr::Apply { dsts, kernel, args }, _) => {
                let shapes: Option<Vec<Shape>> = args
                    .iter()
                    .map(|&a| regs.get(a as usize).copied().flatten())
                    .collect();
                let Some(shapes) = shapes else { continue };
                let results = kernel.result_shapes(&shapes).unwrap_or_default();
                for (&dst, s) in dsts.iter().zip(results) {
                    set(&mut regs, dst, Some(s));
                }
                let same = |x, y| lp_program::cost::same_tile(run.plan, loc, pc, args[x], args[y]);
                let symmetric = kernel.is_symmetric(same);
                let flops = kernel.flops_for(&shapes, symmetric);
                b.flops += flops;
                let size = shapes.first().map_or(0, |s| s.rows.max(s.cols));
                let d = ns(run.model.kernel_seconds(*kernel, symmetric, size, flops));
                (
                    StepKind::Kernel(kernel.name(), flops.round() as u64),
                    None,
                    d,
                )
            }
            (Instr::Write { .. }, Some(r)) => {
                (StepKind::Write, Some(r.key), write(run, r.key, &mut b))
            }
            _ => continue,
        };
        if run.trace {
            b.steps.push(Step {
                what,
                offset: b.duration,
                duration: d,
                tile,
            });
        }
        b.duration = b.duration.saturating_add(d);
    }
    Outcome::Ran(b)
}

fn set(regs: &mut [Option<Shape>], r: u32, s: Option<Shape>) {
    if let Some(slot) = regs.get_mut(r as usize) {
        *slot = s;
    }
}

/// The shape a register gets from a load (transposed if the job sees the
/// transpose).
fn shape_of(plan: &Plan, r: Resolved) -> Shape {
    let header = &plan.program().matrices[r.key.matrix as usize].header;
    let s = header.tile(r.key.i as usize, r.key.j as usize);
    if r.transpose { s.t() } else { s }
}

/// One distinct load (`loads`: each of the job's loads by tile, where the
/// store hands tiles over): its time, or why the job cannot load it.
fn load(run: &Run<'_>, r: Resolved, loads: &[TileKey], b: &mut Body) -> Result<Ns, Outcome> {
    let info = &run.plan.program().matrices[r.key.matrix as usize];
    let header = &info.header;
    let (i, j) = (r.key.i as usize, r.key.j as usize);
    let shape = header.tile(i, j);
    let elements = (shape.rows * shape.cols) as f64;
    let bytes = (shape.rows * shape.cols * 8) as u64;
    let rates = run.model.file.store.init_elements_per_s.get();
    b.touched.push(r.key);
    if header.is_zero_tile(i, j) {
        return Ok(ns(elements / rates.zeros));
    }
    let take = hands_over(
        info.role == Role::Temp,
        run.store.hands_over_tiles(),
        || loads.iter().filter(|&&t| t == r.key).count(),
        || run.plan.readers(r.key),
    );
    let stored = match info.role {
        Role::Input => info.init.is_none(),
        Role::Temp if take => run.store.take(r.key),
        Role::Temp | Role::Output => run.store.contains(r.key),
    };
    let transpose = if r.transpose {
        bytes as f64 * run.costs.transpose_s_per_byte
    } else {
        0.0
    };
    if stored {
        b.bytes_loaded += bytes;
        if run.costs.cache && run.cached.contains(&r.key) {
            return Ok(ns(transpose));
        }
        let object = npy_bytes(bytes);
        b.gets += get_requests(Some(object));
        let c = run.costs;
        let read = match &c.get_table {
            Some(t) => from_table(t, c.get, object as f64, c.read_s_per_byte),
            None => (c.get.saturating_mul(get_rounds(object)))
                .saturating_add(ns(bytes as f64 * c.read_s_per_byte)),
        };
        return Ok(read + ns(transpose));
    }
    let rate = match info.init {
        Some(Init::Zeros) => rates.zeros,
        Some(Init::Identity) => rates.identity,
        Some(Init::Random { .. }) => rates.random,
        Some(Init::Spd { .. }) => rates.spd,
        None if info.role == Role::Temp && (run.finished || take && run.store.is_taken(r.key)) => {
            return Err(Outcome::Dropped);
        }
        None => return Err(Outcome::Missing(r.key)),
    };
    b.bytes_loaded += bytes;
    if run.store.kept_input(r.key, || run.plan.readers(r.key)) {
        return Ok(ns(transpose));
    }
    Ok(ns(elements / rate + transpose))
}

/// A tile's object size: its elements and a `.npy` header (one 64-byte
/// aligned block for two-dimensional f64 arrays, lp_std::npy).
fn npy_bytes(elements_bytes: u64) -> usize {
    (elements_bytes as usize).saturating_add(128)
}

/// One write: its time (none for a temp no job reads, which is not stored).
fn write(run: &Run<'_>, tile: TileKey, b: &mut Body) -> Ns {
    let info = &run.plan.program().matrices[tile.matrix as usize];
    if info.role == Role::Temp && run.plan.readers(tile) == 0 {
        return 0;
    }
    let s = info.header.tile(tile.i as usize, tile.j as usize);
    let bytes = (s.rows * s.cols * 8) as u64;
    b.bytes_stored += bytes;
    let object = npy_bytes(bytes);
    b.puts += put_requests(object);
    b.written.push(tile);
    b.touched.push(tile);
    let c = run.costs;
    match &c.put_table {
        Some(t) => from_table(t, c.put, object as f64, c.write_s_per_byte),
        None => c.put * put_rounds(object) + ns(bytes as f64 * c.write_s_per_byte),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_size_table_is_linear_from_the_latency_and_extends_at_the_bandwidth() {
        // 1 ms at size 0, 5 ms at 1000 bytes, 25 ms at 3000 bytes; beyond,
        // 1 us per byte.
        let table = [(1000.0, 0.005), (3000.0, 0.025)];
        let t = |bytes: f64| from_table(&table, 1_000_000, bytes, 1e-6);
        assert_eq!(t(0.0), 1_000_000);
        assert_eq!(t(500.0), 3_000_000);
        assert_eq!(t(1000.0), 5_000_000);
        assert_eq!(t(2000.0), 15_000_000);
        assert_eq!(t(4000.0), 26_000_000);
    }
}
