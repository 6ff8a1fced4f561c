//! Critical path first on the local backend: priorities are the jobs' bottom
//! levels, and a worker always runs the most urgent ready job.

mod scheduler_support;

use lp_program::cost::job_cost;
use lp_program::{JobId, Plan};
use lp_runtime::local::{Interpose, LocalOptions, Schedule, run_local_with};
use lp_runtime::protocol::{Counters, InterceptedCounters, Priorities};
use scheduler_support::*;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// Bottom levels by the definition, recursively over the plan's own
/// `children` (not the enumerated graph the runtime uses).
fn bottom_level(plan: &Plan, job: JobId, memo: &mut HashMap<JobId, f64>) -> f64 {
    if let Some(&b) = memo.get(&job) {
        return b;
    }
    let mut children = Vec::new();
    plan.children(job, &mut children);
    let rest = children
        .iter()
        .map(|&c| bottom_level(plan, c, memo))
        .fold(0.0, f64::max);
    let own = job_cost(plan, &plan.locate(job).unwrap()).flops + 1.0;
    memo.insert(job, own + rest);
    own + rest
}

fn all_jobs(plan: &Plan) -> Vec<JobId> {
    let mut jobs = Vec::new();
    plan.walk(&mut |_, _, id| {
        jobs.push(id);
        true
    });
    jobs
}

#[test]
fn priorities_are_the_bottom_levels_in_flops() {
    // Ragged: 7 x 7 tiles of 10 over a 64 x 64 matrix.
    let plan = plan(cholesky_loops(7, 10, Body::Kernels));
    let p = Priorities::compute(&plan).expect("a small program has priorities");
    let mut memo = HashMap::new();
    for job in all_jobs(&plan) {
        let expected = bottom_level(&plan, job, &mut memo);
        let got = p.of(job);
        assert!(
            (got - expected).abs() <= 1e-9 * expected,
            "{}: {got} vs {expected}",
            plan.job_name(job)
        );
    }
    // The first factorization starts the longest chain.
    let chol0 = all_jobs(&plan)[0];
    assert_eq!(plan.job_name(chol0), "chol[0]");
    assert!(all_jobs(&plan).iter().all(|&j| p.of(j) <= p.of(chol0)));
    assert_eq!(p.critical_path_jobs, 3 * 7 - 2);
}

/// The jobs one worker ran, in order: each job's first `is_finished` check
/// (a delivery starts with it).
fn execution_order(plan: &Plan, schedule: Schedule) -> Vec<JobId> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let wrap = move |inner: Arc<dyn Counters>| -> Arc<dyn Counters> {
        let log = log.clone();
        Arc::new(
            InterceptedCounters::new(inner).on_is_finished(move |inner, job| {
                log.lock().unwrap().push(job);
                inner.is_finished(job)
            }),
        )
    };
    let opts = LocalOptions {
        workers: 1,
        schedule,
        ..LocalOptions::default()
    };
    let interpose = Interpose {
        counters: Some(&wrap),
        launcher: None,
    };
    let store = cholesky_shaped_store(6, 4);
    run_local_with(plan, store, &opts, &|_| {}, &interpose).expect("the run completes");
    let order = seen.lock().unwrap().clone();
    order
}

#[test]
fn one_worker_always_runs_the_most_urgent_ready_job() {
    let plan = plan(cholesky_loops(6, 4, Body::Copy));
    let p = Priorities::compute(&plan).unwrap();
    let order = execution_order(&plan, Schedule::CriticalPath);
    assert_eq!(order.len() as u64, plan.job_count(), "each job once");
    // Replay: at each step, the job run has the largest priority of the
    // jobs whose parents have all run.
    let mut done = HashSet::new();
    let mut parents = Vec::new();
    let jobs = all_jobs(&plan);
    for (step, &job) in order.iter().enumerate() {
        let ready = jobs.iter().filter(|&&j| {
            parents.clear();
            plan.parents(j, &mut parents);
            !done.contains(&j) && parents.iter().all(|q| done.contains(q))
        });
        let best = ready.map(|&j| p.of(j)).fold(f64::MIN, f64::max);
        assert_eq!(
            p.of(job),
            best,
            "step {step}: ran {} while a more urgent job was ready",
            plan.job_name(job)
        );
        done.insert(job);
    }
    // Launch order does not do that: it runs a trailing update before the
    // next panel's factorization at some step.
    let fifo = execution_order(&plan, Schedule::Fifo);
    assert_ne!(fifo, order);
}
