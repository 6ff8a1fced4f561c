//! What a trace says about scheduling: how long workers sat idle while a
//! job was ready. An idle worker takes a queued job at once, so in a
//! correct run this is the hand-off latency alone (microseconds a job);
//! more would be a job that a worker could have run and did not, whatever
//! its priority (docs/runtime.md, "The protocol").

use super::{Slice, Tracer};
use lp_program::{JobId, Plan};
use std::collections::HashMap;
use std::time::Duration;

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
        let mut runs: HashMap<JobId, (f64, f64)> = HashMap::new();
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
        let mut parents = Vec::new();
        let mut waiting: Vec<(f64, f64)> = Vec::new();
        for (&job, &(start, _)) in &runs {
            plan.parents(job, &mut parents);
            let ready = parents
                .iter()
                .filter_map(|p| runs.get(p))
                .fold(0.0, |t: f64, &(_, end)| t.max(end));
            if start > ready {
                waiting.push((ready, start));
            }
        }
        let waiting = union(waiting);
        let mut total = 0.0;
        let mut longest: Option<(JobId, f64)> = None;
        for ((from, to), took) in idle {
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
}

/// The intervals merged into disjoint ones, in time order.
fn union(mut spans: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut out: Vec<(f64, f64)> = Vec::with_capacity(spans.len());
    for (from, to) in spans {
        match out.last_mut() {
            Some(last) if from <= last.1 => last.1 = last.1.max(to),
            _ => out.push((from, to)),
        }
    }
    out
}

/// The time in `from..to` that `spans` (disjoint, in time order) cover.
fn covered(spans: &[(f64, f64)], from: f64, to: f64) -> f64 {
    let first = spans.partition_point(|s| s.1 <= from);
    spans[first..]
        .iter()
        .take_while(|s| s.0 < to)
        .map(|s| s.1.min(to) - s.0.max(from))
        .sum()
}
