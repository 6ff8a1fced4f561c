//! What every driver does, whatever its backend: launch the roots through
//! the same `try_mark_launched` gate workers use, relaunch the jobs whose
//! lease expired, and sweep the temp tiles duplicates left behind. The
//! local driver (`local.rs`) and the Lambda driver (`aws/driver.rs`) differ
//! only in how they wait, what a failed launch means to them, and whether
//! a job's relaunches have a limit ([`Relaunches`]).

use super::counters::{BackendError, Counters, Launcher, ProtoResult};
use super::error::{JobError, RunError};
use crate::store::Store;
use lp_program::{JobId, Plan, Role};
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::time::Duration;

/// Launches every root job (a job with no parent) that no one launched
/// yet. `launched(job, result)` is told each launch's outcome (a remote
/// driver may tolerate failed invokes: the lease relaunches them) and says
/// whether to go on: a program can have millions of roots, and launching
/// them takes minutes, which a driver fills with progress and through
/// which it honours a cancellation.
pub fn launch_roots(
    plan: &Plan,
    counters: &dyn Counters,
    launcher: &dyn Launcher,
    launched: &mut dyn FnMut(JobId, ProtoResult<()>) -> ProtoResult<ControlFlow<()>>,
) -> ProtoResult<()> {
    let mut result = Ok(ControlFlow::Continue(()));
    // Stops looking for roots as soon as the driver stops launching them.
    plan.roots_until(&mut |job| {
        result = match counters.try_mark_launched(job) {
            Ok(true) => launched(job, launcher.launch(job)),
            Ok(false) => Ok(ControlFlow::Continue(())),
            Err(e) => Err(e),
        };
        matches!(result, Ok(ControlFlow::Continue(())))
    });
    result.map(|_| ())
}

/// Lease expiries of one job, past the first, after which the Lambda
/// driver stops relaunching it and fails the run: with the lease above the
/// function's timeout, a job that overran it this many times in a row will
/// not finish (it outruns the timeout, or its worker dies every time), and
/// relaunching it until the driver's own timeout only bills a day.
const MAX_RELAUNCHES_PER_JOB: u32 = 4;

/// How many times each job was relaunched, against a limit.
#[derive(Debug)]
pub struct Relaunches {
    per_job: HashMap<JobId, u32>,
    limit: u32,
}

impl Relaunches {
    /// The Lambda driver's limit (and its simulation's).
    pub fn lambda() -> Relaunches {
        Relaunches::limited(MAX_RELAUNCHES_PER_JOB)
    }

    /// As many relaunches as it takes: a driver whose overdue jobs can only
    /// be lost deliveries, never jobs that outrun a time limit.
    pub fn unlimited() -> Relaunches {
        Relaunches::limited(u32::MAX)
    }

    fn limited(limit: u32) -> Relaunches {
        Relaunches {
            per_job: HashMap::new(),
            limit,
        }
    }

    fn spent(&self, job: JobId) -> bool {
        self.per_job.get(&job).is_some_and(|&n| n >= self.limit)
    }

    /// Counts a relaunch of `job`; without a limit there is nothing to
    /// count against (the local driver makes a fresh one per lease check).
    fn count(&mut self, job: JobId) {
        if self.limit < u32::MAX {
            *self.per_job.entry(job).or_insert(0) += 1;
        }
    }

    /// The error that fails a run whose job `job` is overdue after its
    /// last allowed relaunch.
    pub fn spent_error(&self, plan: &Plan, job: JobId, lease: Duration) -> JobError {
        JobError {
            job: plan.job_name(job),
            message: format!(
                "its lease ({} s) expired {} times without it finishing: it takes longer than \
                 the function's timeout allows, or its worker dies every time (smaller tiles, \
                 more memory or a longer timeout)",
                lease.as_secs_f64(),
                self.limit.saturating_add(1)
            ),
            ..JobError::of_run("driver", String::new())
        }
    }
}

/// Launches again the `overdue` jobs (`Counters::overdue`: launched
/// longer than a lease ago and not finished), except those `skip` says are
/// waiting for a worker already; `launched(job, result)` is told each
/// relaunch's outcome. If one of them was relaunched as often as
/// `relaunches` allows, nothing is relaunched and that job is returned: the
/// run is to fail, and relaunching the others would only bill their
/// workers. The caller reads `overdue`, so that a backend can answer it in
/// the same read as its other questions (the Lambda driver's one Query).
pub fn relaunch_overdue(
    mut overdue: Vec<JobId>,
    counters: &dyn Counters,
    launcher: &dyn Launcher,
    relaunches: &mut Relaunches,
    skip: &dyn Fn(JobId) -> bool,
    launched: &mut dyn FnMut(JobId, ProtoResult<()>) -> ProtoResult<()>,
) -> ProtoResult<Option<JobId>> {
    overdue.retain(|&job| !skip(job));
    if let Some(&job) = overdue.iter().find(|&&job| relaunches.spent(job)) {
        return Ok(Some(job));
    }
    for job in overdue {
        counters.note_relaunch(job)?;
        relaunches.count(job);
        launched(job, launcher.launch(job))?;
    }
    Ok(None)
}

/// Deletes the temp tiles still in the store at the end of a run (left by
/// duplicate executions); returns how many.
pub fn sweep_temps(plan: &Plan, store: &dyn Store) -> Result<usize, RunError> {
    let mut swept = 0;
    let program = plan.program();
    for info in program.matrices.iter().filter(|m| m.role == Role::Temp) {
        // Version 0 of a matrix with a base is the base, never stored.
        let first = u32::from(info.base.is_some());
        for version in first..info.version_count() as u32 {
            let name = info.stored_name(version);
            let fail = |e: crate::store::StoreError| {
                RunError::Backend(BackendError::new(format!(
                    "sweeping temp matrix {name}: {e}"
                )))
            };
            for (i, j) in store.list_tiles(&name).map_err(fail)? {
                store.delete_tile(&name, i, j).map_err(fail)?;
                swept += 1;
            }
        }
    }
    Ok(swept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::LocalCounters;
    use std::sync::Mutex;

    /// Keeps the jobs it is asked to deliver.
    #[derive(Default)]
    struct Deliveries(Mutex<Vec<JobId>>);

    impl Launcher for Deliveries {
        fn launch(&self, job: JobId) -> ProtoResult<()> {
            self.0.lock().unwrap().push(job);
            Ok(())
        }
    }

    #[test]
    fn a_job_past_its_last_relaunch_stops_the_pass_before_any_relaunch() {
        let counters = LocalCounters::new();
        for job in [3, 5] {
            assert!(counters.try_mark_launched(job).unwrap());
        }
        let deliveries = Deliveries::default();
        let mut relaunches = Relaunches::limited(1);
        // With no lease, every launched and unfinished job is overdue.
        let mut pass = |skip: &dyn Fn(JobId) -> bool| {
            let no_lease = Duration::ZERO;
            relaunch_overdue(
                counters.overdue(no_lease).unwrap(),
                &counters,
                &deliveries,
                &mut relaunches,
                skip,
                &mut |_, l| l,
            )
        };
        assert_eq!(pass(&|job| job == 5).unwrap(), None);
        assert_eq!(pass(&|_| false).unwrap(), Some(3));
        assert_eq!(*deliveries.0.lock().unwrap(), [3]);
        // Skipped, a spent job does not stop the pass.
        assert_eq!(pass(&|job| job == 3).unwrap(), None);
        assert_eq!(*deliveries.0.lock().unwrap(), [3, 5]);
    }
}
