//! Critical path first: which ready job a backend with a choice runs next.
//!
//! A job's priority is its *bottom level*: the flops on the longest chain of
//! jobs from it to the end of the DAG, its own included. Running the ready
//! job with the largest bottom level first is the classic list-scheduling
//! rule (HEFT's upward rank): the jobs that hold up the end of the run go
//! first, and the jobs that merely fill the machine wait for idle workers.
//! In a right-looking Cholesky that puts the next panel's factorization and
//! its solves ahead of the trailing updates that nothing needs yet.
//!
//! Bottom levels need the whole DAG, so they are computed for programs of at
//! most [`PRIORITY_LIMIT`] jobs (one pass over the enumerated graph, about a
//! second at the limit); larger programs run in delivery order (first
//! launched, first run).

use lp_program::cost::job_cost;
use lp_program::dag::JobGraph;
use lp_program::{JobId, Plan};
use std::collections::HashMap;

/// Programs up to this many jobs get priorities (and their critical path in
/// the run summary).
pub const PRIORITY_LIMIT: u64 = super::CRITICAL_PATH_LIMIT;

/// Every job's bottom level, and the DAG's critical path.
#[derive(Clone, Debug, Default)]
pub struct Priorities {
    bottom: HashMap<JobId, f64>,
    /// Jobs on the longest chain of dependent jobs.
    pub critical_path_jobs: usize,
}

impl Priorities {
    /// The bottom levels of `plan`'s jobs, in flops (plus one per job, so
    /// that a chain of jobs without kernels still counts its length); `None`
    /// for a program over [`PRIORITY_LIMIT`] jobs.
    pub fn compute(plan: &Plan) -> Option<Priorities> {
        let graph = JobGraph::build(plan, PRIORITY_LIMIT).ok()?;
        let flops = |n: usize| {
            let cost = plan
                .locate(graph.jobs[n])
                .map_or(0.0, |loc| job_cost(plan, &loc).flops);
            cost + 1.0
        };
        let bottom = graph.bottom_levels(&flops)?;
        let (levels, _) = graph.longest_paths(&|_| 0.0)?;
        Some(Priorities {
            bottom: graph.jobs.iter().copied().zip(bottom).collect(),
            critical_path_jobs: levels.iter().max().map_or(0, |l| l + 1),
        })
    }

    /// The job's bottom level (0 for a job the plan does not have).
    pub fn of(&self, job: JobId) -> f64 {
        self.bottom.get(&job).copied().unwrap_or(0.0)
    }
}
