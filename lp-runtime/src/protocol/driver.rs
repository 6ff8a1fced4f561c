//! What every driver does, whatever its backend: launch the roots through
//! the same `try_mark_launched` gate workers use, relaunch the jobs whose
//! lease expired, and sweep the temp tiles duplicates left behind. The
//! local driver (`local.rs`) and the Lambda driver (`aws/driver.rs`) differ
//! only in how they wait and what a failed launch means to them.

use super::counters::{BackendError, Counters, Launcher, ProtoResult};
use super::error::RunError;
use crate::store::Store;
use lp_program::{JobId, Plan, Role};
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

/// Launches again every job launched longer than `lease` ago and not
/// finished, except those `skip` says are waiting for a worker already;
/// `launched(job, result)` is told each relaunch's outcome.
pub fn relaunch_overdue(
    counters: &dyn Counters,
    launcher: &dyn Launcher,
    lease: Duration,
    skip: &dyn Fn(JobId) -> bool,
    launched: &mut dyn FnMut(JobId, ProtoResult<()>) -> ProtoResult<()>,
) -> ProtoResult<()> {
    for job in counters.overdue(lease)? {
        if skip(job) {
            continue;
        }
        counters.note_relaunch(job)?;
        launched(job, launcher.launch(job))?;
    }
    Ok(())
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
