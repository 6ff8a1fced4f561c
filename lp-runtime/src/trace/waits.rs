//! What a trace says about scheduling: how long workers sat idle while a
//! job was ready. An idle worker takes a queued job at once, so in a
//! correct run this is the hand-off latency alone (microseconds a job);
//! more would be a job that a worker could have run and did not, whatever
//! its priority (docs/runtime.md, "The protocol").

use super::{Slice, Tracer};
use lp_program::{JobId, Plan};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

/// A stretch of a trace's time, in microseconds from its start: `(from, to)`.
type Span = (f64, f64);

/// Idle workers against ready jobs, from a trace's records.
#[derive(Clone, Debug, PartialEq)]
pub struct IdleWaits {
    /// Summed over workers: the time a worker was idle while some job was
    /// ready (every parent finished) and not yet started.
    pub total: Duration,
    /// The largest such time within one idle slice, with the job the worker
    /// took at its end (its name).
    pub longest: Option<(String, Duration)>,
}

impl Tracer {
    /// The [`IdleWaits`] of the run traced so far. A job is ready when the
    /// last of its parents ends (roots at the start of the trace); its first
    /// execution counts.
    pub fn idle_waits(&self, plan: &Plan) -> IdleWaits {
        self.readiness(plan).idle_waits(plan)
    }

    /// When jobs were ready and workers idle: solving every job's parents
    /// once serves both the trace's counter track and [`IdleWaits`].
    pub(super) fn readiness(&self, plan: &Plan) -> Readiness {
        let (runs, idle) = self.jobs_and_idle();
        Readiness {
            waiting: ready_spans(plan, &runs),
            idle,
        }
    }

    /// Each job's first execution, and each idle slice with the job the
    /// worker took at its end.
    fn jobs_and_idle(&self) -> (HashMap<JobId, Span>, Vec<(Span, JobId)>) {
        let mut runs: HashMap<JobId, Span> = HashMap::new();
        let mut idle = Vec::new();
        for buffer in &self.workers {
            for r in buffer.lock().unwrap_or_else(|p| p.into_inner()).iter() {
                let span = (r.start_us, r.start_us + r.dur_us);
                match r.slice {
                    Slice::Job => {
                        let first = runs.entry(r.job).or_insert(span);
                        if span.0 < first.0 {
                            *first = span;
                        }
                    }
                    Slice::Idle => idle.push((span, r.job)),
                    _ => {}
                }
            }
        }
        (runs, idle)
    }
}

/// A trace's ready jobs and idle workers (see [`Tracer::readiness`]).
pub(super) struct Readiness {
    /// `(ready, start)` of each job that did not start the moment it was
    /// ready.
    waiting: Vec<Span>,
    /// Each idle slice, with the job the worker took at its end.
    idle: Vec<(Span, JobId)>,
}

impl Readiness {
    pub(super) fn idle_waits(&self, plan: &Plan) -> IdleWaits {
        let waiting = union(self.waiting.clone());
        let mut total = 0.0;
        let mut longest: Option<(JobId, f64)> = None;
        for &((from, to), took) in &self.idle {
            let t = covered(&waiting, from, to);
            total += t;
            if t > 0.0 && longest.is_none_or(|(_, l)| t > l) {
                longest = Some((took, t));
            }
        }
        let us = |t: f64| Duration::from_secs_f64(t * 1e-6);
        IdleWaits {
            total: us(total),
            longest: longest.map(|(job, t)| (plan.job_name(job), us(t))),
        }
    }

    /// The number of ready jobs not yet started, over time, as Chrome trace
    /// counter events: a track beside the workers' that is 0 wherever one
    /// of them idles, in a run that wastes no worker.
    pub(super) fn counter(&self) -> Vec<Value> {
        let mut steps: Vec<(f64, i64)> = self
            .waiting
            .iter()
            .flat_map(|&(ready, start)| [(ready, 1), (start, -1)])
            .collect();
        steps.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut events: Vec<Value> = Vec::new();
        let mut ready = 0;
        for (i, &(t, step)) in steps.iter().enumerate() {
            ready += step;
            // One event per instant, with the count after all its steps.
            if steps.get(i + 1).is_none_or(|next| next.0 > t) {
                events.push(json!({
                    "name": "ready jobs", "ph": "C", "pid": 1, "ts": t,
                    "args": {"ready": ready},
                }));
            }
        }
        events
    }
}

/// For each job that did not start the moment it was ready, when it was
/// ready (its last parent's end, 0 for a root) and when it started.
fn ready_spans(plan: &Plan, runs: &HashMap<JobId, Span>) -> Vec<Span> {
    let mut parents = Vec::new();
    let mut spans = Vec::new();
    for (&job, &(start, _)) in runs {
        plan.parents(job, &mut parents);
        let ready = parents
            .iter()
            .filter_map(|p| runs.get(p))
            .fold(0.0, |t: f64, &(_, end)| t.max(end));
        if start > ready {
            spans.push((ready, start));
        }
    }
    spans
}

/// The intervals merged into disjoint ones, in time order.
fn union(mut spans: Vec<Span>) -> Vec<Span> {
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for (from, to) in spans {
        match out.last_mut() {
            Some(last) if from <= last.1 => last.1 = last.1.max(to),
            _ => out.push((from, to)),
        }
    }
    out
}

/// The time in `from..to` that `spans` (disjoint, in time order) cover.
fn covered(spans: &[Span], from: f64, to: f64) -> f64 {
    let first = spans.partition_point(|s| s.1 <= from);
    spans[first..]
        .iter()
        .take_while(|s| s.0 < to)
        .map(|s| s.1.min(to) - s.0.max(from))
        .sum()
}
