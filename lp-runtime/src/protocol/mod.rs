//! The decentralised scheduling protocol (`docs/runtime.md`), written once
//! against two small traits so that every backend runs the same code:
//! [`Counters`] (completion records, launch flags, temp-tile reader counts)
//! and [`Launcher`] (deliver a job to some worker). The local backend
//! implements them with atomics and a work queue, the Lambda backend with
//! DynamoDB conditional updates and asynchronous invocations.
//!
//! The DAG itself comes from the plan (`lp_program::Plan`), which solves a
//! job's children, in-degree and a tile's readers from the program when
//! asked: the protocol never holds the DAG.
//!
//! * [`counters`]: the traits, and the fault-injection wrapper;
//! * [`job`]: one delivery of one job ([`run_job`]);
//! * [`driver`]: what every driver does (launch roots, relaunch overdue
//!   jobs, sweep temps);
//! * [`priority`]: critical path first (bottom levels, or the program's
//!   stated priorities);
//! * [`urgent`]: the queue that hands out the most urgent job first;
//! * [`error`]: job and run errors.

pub mod counters;
pub mod driver;
pub mod error;
pub mod job;
pub mod priority;
pub mod urgent;

pub use counters::{
    BackendError, Counters, InterceptedCounters, Launcher, ProtoResult, count_release,
};
pub use error::{FailureKind, JobError, RunError};
pub use job::{JobContext, run_job};
pub use priority::Priorities;
pub use urgent::UrgentQueue;

use lp_program::Plan;
use lp_program::dag::JobGraph;

/// Programs up to this many jobs get their critical path in the run
/// summary (it needs the whole DAG).
pub const CRITICAL_PATH_LIMIT: u64 = 500_000;

/// The longest chain of dependent jobs, in jobs, for a program small enough
/// to enumerate (`None` otherwise).
pub fn critical_path_jobs(plan: &Plan) -> Option<usize> {
    let graph = JobGraph::build(plan, CRITICAL_PATH_LIMIT).ok()?;
    Some(graph.bottom_levels(&|_| 0.0)?.1)
}
