//! Critical path first on the local backend: priorities are the jobs' bottom
//! levels, and a worker always runs the most urgent ready job.

mod scheduler_support;

use lp_program::cost::job_cost;
use lp_program::{JobId, Plan};
use lp_runtime::local::{Interpose, LocalOptions, Schedule, run_local_with};
use lp_runtime::protocol::{Counters, InterceptedCounters, Launcher, Priorities, ProtoResult};
use lp_runtime::store::MemStore;
use lp_runtime::trace::{IdleWaits, Slice, Tracer};
use scheduler_support::*;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    assert_eq!(p.critical_path_jobs, Some(3 * 7 - 2));
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
    seen.lock().unwrap().clone()
}

/// What one worker does under critical path first, replayed from the
/// plan: run the job; continue with its most urgent newly ready child (the
/// first of equals) and queue the others; with none, take the most urgent
/// queued job (the earliest queued of equals). Roots are queued first.
fn list_schedule(plan: &Plan, p: &Priorities) -> Vec<JobId> {
    let mut queue: Vec<(f64, u64, JobId)> = Vec::new();
    let mut seq = 0;
    plan.roots(&mut |job| {
        seq += 1;
        queue.push((p.of(job), seq, job));
    });
    let mut done_parents: HashMap<JobId, u32> = HashMap::new();
    let (mut order, mut children) = (Vec::new(), Vec::new());
    let mut next: Option<JobId> = None;
    loop {
        let job = match next.take() {
            Some(job) => job,
            None => {
                let Some(best) = (0..queue.len()).max_by(|&a, &b| {
                    let (pa, sa, _) = queue[a];
                    let (pb, sb, _) = queue[b];
                    pa.total_cmp(&pb).then(sb.cmp(&sa))
                }) else {
                    return order;
                };
                queue.swap_remove(best).2
            }
        };
        order.push(job);
        plan.children(job, &mut children);
        let ready: Vec<JobId> = children
            .iter()
            .copied()
            .filter(|&c| {
                let n = done_parents.entry(c).or_insert(0);
                *n += 1;
                *n == plan.in_degree(c)
            })
            .collect();
        for &c in &ready {
            if next.is_none_or(|n| p.of(c) > p.of(n)) {
                next = Some(c);
            }
        }
        for &c in ready.iter().filter(|&&c| Some(c) != next) {
            seq += 1;
            queue.push((p.of(c), seq, c));
        }
    }
}

#[test]
fn one_worker_runs_the_cholesky_in_critical_path_order() {
    let plan = plan(cholesky_loops(6, 4, Body::Copy));
    let p = Priorities::compute(&plan).unwrap();
    let order = execution_order(&plan, Schedule::CriticalPath);
    assert_eq!(order.len() as u64, plan.job_count(), "each job once");
    let names = |jobs: &[JobId]| jobs.iter().map(|&j| plan.job_name(j)).collect::<Vec<_>>();
    assert_eq!(names(&order), names(&list_schedule(&plan, &p)));
    // The next panel goes first: chol[1] runs before any update of step 1.
    let position = |name: &str| names(&order).iter().position(|n| n == name).unwrap();
    assert!(position("chol[1]") < position("syrk[0, 5, 5]"));
    // Launch order is another order (the replay above is not trivial).
    let fifo = names(&execution_order(&plan, Schedule::Fifo));
    assert_ne!(fifo, names(&order));
}

/// The idle-wait measure on a hand-made trace: job_0 runs 0-100 µs, then
/// job_1 and job_2 are ready. Worker 0 idles 100-300 µs (one job or two
/// waiting throughout: 200 µs) and takes job_1; worker 1 idles 0-200 µs, of
/// which 100-200 with jobs waiting, and takes job_2. Worker time counts,
/// not job time: 300 µs, where the two jobs' waits add up to 500.
#[test]
fn idle_waits_add_up_the_worker_time_idle_beside_ready_jobs() {
    let plan = plan(copy_dag(&[vec![], vec![0], vec![0]]));
    let jobs = jobs_of(&plan);
    let (j0, j1, j2) = (jobs[0].0, jobs[1].0, jobs[2].0);
    let t = Tracer::new(2);
    t.record_span(0, Slice::Job, j0, None, 0.0, 100.0);
    t.record_span(0, Slice::Idle, j1, None, 100.0, 200.0);
    t.record_span(0, Slice::Job, j1, None, 300.0, 50.0);
    t.record_span(1, Slice::Idle, j2, None, 0.0, 200.0);
    t.record_span(1, Slice::Job, j2, None, 200.0, 60.0);
    let w = t.idle_waits(&plan);
    assert_eq!(w.total.as_micros(), 300);
    assert_eq!(
        w.longest,
        Some(("job_1".to_string(), Duration::from_micros(200)))
    );
    // The trace's counter track: two jobs ready at 100 µs, one at 200, none
    // at 300 (job_0 was taken at once and never counts).
    let json = t.to_json(&plan);
    let counter: Vec<(f64, i64)> = json["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["ph"] == "C")
        .map(|e| {
            (
                e["ts"].as_f64().unwrap(),
                e["args"]["ready"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(counter, [(100.0, 2), (200.0, 1), (300.0, 0)]);
}

/// A Cholesky's traced run on two workers: no worker idles beside a ready
/// job longer than a thread's wake-up. The queue's `pop` polls every 50
/// ms, so a lost wake-up would show as stretches of up to 50 ms; the bound,
/// 40 ms, leaves the OS its share on a loaded machine (up to 17 ms in 20
/// runs beside four busy loops on two cores). A virtual machine whose host
/// takes its CPU away for a moment can still stretch one wait past it, so
/// the run is tried up to three times: a lost wake-up would show in every
/// run (each has dozens of waits), a hiccup of the host in one. The last
/// run delivers every launch 40 ms late (as a slow launcher would), to
/// show that the measure sees such waits.
#[test]
fn no_ready_job_waits_while_a_worker_idles() {
    let plan = plan(cholesky_loops(4, 128, Body::Kernels));
    let dir = tempfile::tempdir().unwrap();
    let run = |interpose: &Interpose<'_>| {
        let opts = LocalOptions {
            workers: 2,
            trace: Some(dir.path().join("trace.json")),
            ..LocalOptions::default()
        };
        let store = Arc::new(MemStore::new());
        let summary =
            run_local_with(&plan, store, &opts, &|_| {}, interpose).expect("the run completes");
        summary.idle_waits.expect("a traced run measures its waits")
    };
    let longest = |waits: &IdleWaits| waits.longest.as_ref().map_or(Duration::ZERO, |(_, t)| *t);
    let bound = Duration::from_millis(40);
    let mut attempts = Vec::new();
    while attempts.len() < 3 && attempts.last().is_none_or(|w| longest(w) >= bound) {
        attempts.push(run(&Interpose::default()));
    }
    assert!(
        attempts.last().is_some_and(|w| longest(w) < bound),
        "in each of three runs a worker idled 40 ms or more beside a ready job: {attempts:?}"
    );
    let late = |inner: Arc<dyn Launcher>| -> Arc<dyn Launcher> { Arc::new(Late(inner)) };
    let delayed = run(&Interpose {
        counters: None,
        launcher: Some(&late),
    });
    assert!(
        delayed.total >= Duration::from_millis(40),
        "launches 40 ms late, yet workers idled beside ready jobs only {delayed:?}"
    );
}

/// Delivers each launch 40 ms after it is asked for, from another thread.
struct Late(Arc<dyn Launcher>);

impl Launcher for Late {
    fn launch(&self, job: JobId) -> ProtoResult<()> {
        let inner = self.0.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(40));
            inner.launch(job).expect("the local queue accepts a launch");
        });
        Ok(())
    }

    fn priority(&self, job: JobId) -> f64 {
        self.0.priority(job)
    }
}
