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
//! second at the limit). A program can instead state each job family's
//! priority as an expression of its indices (`LABEL: priority EXPR`, as
//! PaRSEC's task classes do): then that expression orders the jobs at any
//! size, evaluated when a job is queued, and no graph is built for it.
//! `lib/cholesky.lp` states its bottom levels in closed form
//! (`lpc/tests/priority.rs` checks that they order its jobs as the computed
//! ones do). Other programs over the limit run in delivery order (first
//! launched, first run).

use lp_program::cost::job_flops;
use lp_program::dag::JobGraph;
use lp_program::{JobId, Plan};
use std::sync::Arc;

/// Programs up to this many jobs get priorities (and their critical path in
/// the run summary).
pub const PRIORITY_LIMIT: u64 = super::CRITICAL_PATH_LIMIT;

/// A job number space at most this many times the number of jobs is kept
/// as a table indexed by job number (a loop family's numbers span its
/// loops' bounding box: a triangular nest of depth 3 uses a sixth of it).
const DENSE_FACTOR: u64 = 8;

/// Every job's priority (its bottom level, or the program's stated one),
/// and the DAG's critical path. The default ranks every job equal (0), for
/// a queue that keeps launch order.
#[derive(Clone, Debug, Default)]
pub struct Priorities {
    levels: Levels,
    /// Jobs on the longest chain of dependent jobs, a by-product of the
    /// bottom levels: `None` for a program that states its priorities (no
    /// graph is built for them; [`super::critical_path_jobs`] builds one
    /// where the figure is reported) or has over [`PRIORITY_LIMIT`] jobs.
    pub critical_path_jobs: Option<usize>,
}

/// Bottom levels by job number. The scheduler looks one up for every ready
/// job, so no hashing: a table where job numbers are dense enough (a flat
/// program's are 0..n), a sorted list otherwise.
#[derive(Clone, Debug)]
enum Levels {
    /// Indexed by job number; 0 where no job has the number.
    Dense(Vec<f64>),
    /// Sorted by job number.
    Sorted(Vec<(JobId, f64)>),
    /// The program's own expressions, evaluated per job.
    Stated(Arc<Plan>),
}

impl Default for Levels {
    fn default() -> Levels {
        Levels::Dense(Vec::new())
    }
}

/// `job`'s stated priority, if its family states one; one that does not
/// evaluate (an overflow) ranks below every other.
pub fn stated(plan: &Plan, job: JobId) -> Option<f64> {
    plan.stated_priority(job)
        .map(|p| p.map_or(f64::MIN, |p| p as f64))
}

impl Priorities {
    /// The priorities the program states, if it states any; otherwise the
    /// bottom levels of `plan`'s jobs, in flops (plus one per job, so that a
    /// chain of jobs without kernels still counts its length), or `None` for
    /// a program over [`PRIORITY_LIMIT`] jobs.
    pub fn compute(plan: &Plan) -> Option<Priorities> {
        Self::compute_until(plan, &mut |_| true)
    }

    /// [`Priorities::compute`], calling `go_on` every few thousand jobs
    /// while it enumerates the DAG (with how many of `3 * plan.job_count()`
    /// steps are done: the graph's two passes, then the jobs' flops) and
    /// giving up with `None` as soon as it returns false.
    pub fn compute_until(plan: &Plan, go_on: &mut dyn FnMut(u64) -> bool) -> Option<Priorities> {
        if plan.states_priorities() {
            return Some(Priorities {
                levels: Levels::Stated(Arc::new(plan.clone())),
                critical_path_jobs: None,
            });
        }
        let graph = JobGraph::build_until(plan, PRIORITY_LIMIT, go_on).ok()??;
        // In program order, which walks the families in memory order (the
        // topological pass visits them scattered: a cache miss per job).
        let done = 2 * graph.jobs.len() as u64;
        let mut flops = Vec::with_capacity(graph.jobs.len());
        for (n, &job) in graph.jobs.iter().enumerate() {
            let n = n as u64;
            if n > 0 && n.is_multiple_of(JobGraph::TICK_JOBS) && !go_on(done + n) {
                return None;
            }
            flops.push(plan.locate(job).map_or(0.0, |loc| job_flops(plan, &loc)) + 1.0);
        }
        let (bottom, critical_path_jobs) = graph.bottom_levels(&|n| flops[n])?;
        let space = plan.id_space();
        let levels = if space <= DENSE_FACTOR * graph.jobs.len() as u64 {
            let mut table = vec![0.0; space as usize];
            for (&job, &level) in graph.jobs.iter().zip(&bottom) {
                table[job as usize] = level;
            }
            Levels::Dense(table)
        } else {
            let mut list: Vec<(JobId, f64)> = graph.jobs.iter().copied().zip(bottom).collect();
            list.sort_unstable_by_key(|&(job, _)| job);
            Levels::Sorted(list)
        };
        Some(Priorities {
            levels,
            critical_path_jobs: Some(critical_path_jobs),
        })
    }

    /// The job's priority (0 for a job the plan does not have, and for
    /// one whose family states none; the lowest for a stated priority that
    /// does not evaluate, such as one that overflows).
    pub fn of(&self, job: JobId) -> f64 {
        match &self.levels {
            Levels::Dense(table) => usize::try_from(job)
                .ok()
                .and_then(|j| table.get(j))
                .copied()
                .unwrap_or(0.0),
            Levels::Sorted(list) => list
                .binary_search_by_key(&job, |&(j, _)| j)
                .map_or(0.0, |k| list[k].1),
            Levels::Stated(plan) => stated(plan, job).unwrap_or(0.0),
        }
    }
}
