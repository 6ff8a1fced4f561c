//! What a trace says about scheduling: how long ready jobs waited while a
//! worker sat idle. An idle worker takes a ready job as soon as it is
//! queued, so in a correct run this is the hand-off latency alone
//! (microseconds a job); more would be a job that a worker could have run
//! and did not, whatever its priority (docs/runtime.md, "The protocol").

use super::{Slice, Tracer};
use lp_program::{JobId, Plan};
use std::collections::HashMap;
use std::time::Duration;

/// Ready jobs against idle workers, from a trace's records.
#[derive(Clone, Debug, PartialEq)]
pub struct IdleWaits {
    /// Summed over jobs and workers: the time a job was ready (every parent
    /// finished) and not yet started while that worker was idle.
    pub total: Duration,
    /// The job (its name) with the largest such time, and that time.
    pub longest: Option<(String, Duration)>,
}

impl Tracer {
    /// The [`IdleWaits`] of the run traced so far. A job is ready when the
    /// last of its parents ends (roots at the start of the trace); its first
    /// execution counts.
    pub fn idle_waits(&self, plan: &Plan) -> IdleWaits {
        let mut runs: HashMap<JobId, (f64, f64)> = HashMap::new();
        let mut idle: Vec<Vec<(f64, f64)>> = Vec::with_capacity(self.workers.len());
        for buffer in &self.workers {
            let records = buffer.lock().unwrap_or_else(|p| p.into_inner());
            let mut slices = Vec::new();
            for r in records.iter() {
                let span = (r.start_us, r.start_us + r.dur_us);
                match r.slice {
                    Slice::Job => {
                        let first = runs.entry(r.job).or_insert(span);
                        if span.0 < first.0 {
                            *first = span;
                        }
                    }
                    Slice::Idle => slices.push(span),
                    _ => {}
                }
            }
            slices.sort_by(|a, b| a.0.total_cmp(&b.0));
            idle.push(slices);
        }
        let mut parents = Vec::new();
        let mut total = 0.0;
        let mut longest: Option<(JobId, f64)> = None;
        for (&job, &(start, _)) in &runs {
            plan.parents(job, &mut parents);
            let ready = parents
                .iter()
                .filter_map(|p| runs.get(p))
                .fold(0.0, |t: f64, &(_, end)| t.max(end));
            let waited: f64 = idle.iter().map(|w| covered(w, ready, start)).sum();
            total += waited;
            if waited > 0.0 && longest.is_none_or(|(_, l)| waited > l) {
                longest = Some((job, waited));
            }
        }
        let us = |t: f64| Duration::from_secs_f64(t * 1e-6);
        IdleWaits {
            total: us(total),
            longest: longest.map(|(job, t)| (plan.job_name(job), us(t))),
        }
    }
}

/// The time in `from..to` that `slices` (in time order, disjoint) cover.
fn covered(slices: &[(f64, f64)], from: f64, to: f64) -> f64 {
    let first = slices.partition_point(|s| s.1 <= from);
    slices[first..]
        .iter()
        .take_while(|s| s.0 < to)
        .map(|s| s.1.min(to) - s.0.max(from))
        .filter(|d| *d > 0.0)
        .sum()
}
