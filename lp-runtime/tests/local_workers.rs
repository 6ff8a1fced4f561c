//! The local backend's worker count: up to `MAX_WORKERS` run, and more are
//! refused before anything is allocated per worker (rather than aborting
//! on that allocation, or panicking when the OS refuses a thread).

mod scheduler_support;

use lp_runtime::local::{LocalOptions, MAX_WORKERS, run_local};
use lp_runtime::protocol::{BackendError, RunError};
use scheduler_support::*;

fn run_with(workers: usize) -> Result<(), RunError> {
    let parents = [vec![], vec![0], vec![0], vec![1, 2]];
    let store = copy_dag_store(parents.len());
    let opts = LocalOptions {
        workers,
        ..LocalOptions::default()
    };
    run_local(&plan(copy_dag(&parents)), store.clone(), &opts, &|_| {})?;
    assert_copy_dag_done(&store, parents.len());
    Ok(())
}

#[test]
fn the_most_workers_run_and_one_more_is_refused() {
    run_with(MAX_WORKERS).expect("the most workers run");
    // usize::MAX / 8 workers' state alone would be more bytes than exist.
    for workers in [MAX_WORKERS + 1, usize::MAX / 8] {
        assert_eq!(
            run_with(workers),
            Err(RunError::Backend(BackendError::new(format!(
                "{workers} workers is more than a local run takes (1024)"
            ))))
        );
    }
}
