//! Optional Chrome trace-event output (`{"traceEvents": [...]}`), which opens
//! in Perfetto or chrome://tracing: one "X" (complete) slice per job
//! execution and nested slices for each load, kernel (with its flops and
//! rate) and write, with pid = the run and tid = the worker thread, and a
//! counter track of the jobs ready and not yet started.
//!
//! Workers append compact records (ids and static names, no strings built)
//! to their own buffer, so the hot path is a clock read and an uncontended
//! push; names are resolved and JSON written once, at the end. With tracing
//! off the executor holds `None` and skips even the clock reads.

use lp_program::{JobId, Plan, TileKey};
use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

mod waits;
pub use waits::IdleWaits;
use waits::Readiness;

/// What a slice covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slice {
    Job,
    /// A worker waiting for a ready job; `job` is the one it then took.
    Idle,
    Load,
    Write,
    /// A kernel call and its useful flops, which the trace shows with the
    /// call's rate.
    Kernel {
        name: &'static str,
        flops: u64,
    },
}

#[derive(Clone, Copy, Debug)]
struct Record {
    slice: Slice,
    job: JobId,
    tile: Option<TileKey>,
    start_us: f64,
    dur_us: f64,
}

pub struct Tracer {
    start: Instant,
    workers: Vec<Mutex<Vec<Record>>>,
}

impl Tracer {
    pub fn new(workers: usize) -> Tracer {
        Tracer {
            start: Instant::now(),
            workers: (0..workers.max(1))
                .map(|_| Mutex::new(Vec::new()))
                .collect(),
        }
    }

    /// Microseconds since the tracer was created.
    pub fn now_us(&self) -> f64 {
        self.start.elapsed().as_secs_f64() * 1e6
    }

    /// Records a slice that started at `start_us` and ends now.
    pub fn record(
        &self,
        worker: usize,
        slice: Slice,
        job: JobId,
        tile: Option<TileKey>,
        start_us: f64,
    ) {
        let end = self.now_us();
        self.record_span(worker, slice, job, tile, start_us, end - start_us);
    }

    /// Records a slice with a given start and duration (a simulated run's
    /// virtual clock, for `lpc sim --trace`).
    pub fn record_span(
        &self,
        worker: usize,
        slice: Slice,
        job: JobId,
        tile: Option<TileKey>,
        start_us: f64,
        dur_us: f64,
    ) {
        let buffer = &self.workers[worker % self.workers.len()];
        buffer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Record {
                slice,
                job,
                tile,
                start_us,
                dur_us,
            });
    }

    /// The trace as a JSON value, names resolved against `plan`.
    pub fn to_json(&self, plan: &Plan) -> Value {
        self.json(plan, &self.readiness(plan))
    }

    fn json(&self, plan: &Plan, readiness: &Readiness) -> Value {
        let mut events = Vec::new();
        for (tid, buffer) in self.workers.iter().enumerate() {
            events.push(json!({
                "name": "thread_name", "ph": "M", "pid": 1, "tid": tid,
                "args": {"name": format!("worker {tid}")},
            }));
            let records = buffer.lock().unwrap_or_else(|p| p.into_inner());
            for r in records.iter() {
                let job_name = plan.job_name(r.job);
                let (name, cat) = match r.slice {
                    Slice::Job => (job_name.clone(), "job"),
                    Slice::Idle => ("idle".to_string(), "idle"),
                    Slice::Load => ("S3_LOAD".to_string(), "load"),
                    Slice::Write => ("S3_WRITE".to_string(), "write"),
                    Slice::Kernel { name, .. } => (name.to_string(), "kernel"),
                };
                let mut args = json!({"job": job_name});
                if let Some(tile) = r.tile {
                    args["tile"] = Value::String(plan.program().tile_name(tile));
                }
                if let Slice::Kernel { flops, .. } = r.slice {
                    args["flops"] = flops.into();
                    // A thousand flops per microsecond is a GFLOP/s.
                    let rate = flops as f64 / r.dur_us.max(1e-3) / 1e3;
                    args["GFLOP/s"] = ((rate * 10.0).round() / 10.0).into();
                }
                events.push(json!({
                    "name": name, "cat": cat, "ph": "X", "pid": 1, "tid": tid,
                    "ts": r.start_us, "dur": r.dur_us, "args": args,
                }));
            }
        }
        events.extend(readiness.counter());
        json!({"traceEvents": events, "displayTimeUnit": "ms"})
    }

    /// Writes the trace to `path` whole or not at all
    /// ([`crate::atomic_file`]), so a failed write never leaves a truncated
    /// trace behind, and returns its [`IdleWaits`] (worked out once for
    /// both).
    pub fn write(&self, plan: &Plan, path: &Path) -> std::io::Result<IdleWaits> {
        let readiness = self.readiness(plan);
        let mut file = crate::atomic_file::AtomicFile::create(path)?;
        let mut writer = std::io::BufWriter::new(file.file());
        serde_json::to_writer(&mut writer, &self.json(plan, &readiness))?;
        writer.flush()?;
        drop(writer);
        file.commit()?;
        Ok(readiness.idle_waits(plan))
    }
}
