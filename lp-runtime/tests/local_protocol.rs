//! The protocol end to end on the local backend: every job runs once and in
//! dependency order, duplicates and lost deliveries are absorbed, temps are
//! freed, and runs stop cleanly on cancellation and stalls.

mod scheduler_support;

use lp_runtime::bundle::{Bundle, JobId};
use lp_runtime::local::{Interpose, LocalOptions, run_local, run_local_with};
use lp_runtime::metrics::RunSummary;
use lp_runtime::scheduler::{Counters, InterceptedCounters, Launcher, ProtoResult, RunError};
use lp_runtime::store::Store;
use scheduler_support::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn opts(workers: usize) -> LocalOptions {
    LocalOptions {
        workers,
        ..LocalOptions::default()
    }
}

fn run_copy_dag(parents: &[Vec<usize>], workers: usize) -> RunSummary {
    let bundle = copy_dag(parents);
    let store = copy_dag_store(parents.len());
    let summary =
        run_local(&bundle, store.clone(), &opts(workers), &|_| {}).expect("run completes");
    assert_copy_dag_done(&store, parents.len());
    assert_eq!(summary.jobs, parents.len());
    assert_eq!(
        summary.executions,
        parents.len() as u64,
        "every job executes exactly once"
    );
    assert_eq!(summary.retries, 0);
    assert_eq!(summary.bytes_stored, 8 * parents.len() as u64);
    summary
}

#[test]
fn diamond_runs_every_job_once_in_order() {
    for workers in [1, 2, 4] {
        let s = run_copy_dag(&diamond(), workers);
        assert_eq!(s.critical_path_jobs, 3);
        // Each job loads IN once; the children load 1, 1 and 2 parent tiles.
        assert_eq!(s.bytes_loaded, 8 * (4 + 4));
    }
}

#[test]
fn wide_fan_out_runs_every_job_once() {
    let s = run_copy_dag(&fan_out(500), 2);
    assert_eq!(s.critical_path_jobs, 3);
}

#[test]
fn random_dags_run_every_job_once() {
    for seed in 1..=5 {
        run_copy_dag(&random_dag(400, 4, seed), 3);
    }
}

#[test]
fn chains_run_every_job_once() {
    let mut parents = Vec::new();
    for c in 0..20 {
        for k in 0..30 {
            parents.push(if k == 0 { vec![] } else { vec![c * 30 + k - 1] });
        }
    }
    let s = run_copy_dag(&parents, 2);
    assert_eq!(s.critical_path_jobs, 30);
}

/// Delivers every completion record twice, and counts the launches the
/// protocol itself makes (in `launched`).
fn double_counters(
    inner: Arc<dyn Counters>,
    launched: Arc<Mutex<HashMap<JobId, usize>>>,
) -> InterceptedCounters<Arc<dyn Counters>> {
    InterceptedCounters::new(inner)
        .on_record_done(|inner, child, parent| {
            let first = inner.record_done(child, parent)?;
            let second = inner.record_done(child, parent)?;
            // Not equality: other parents may finish in between, and a
            // duplicate execution of `parent` on another worker may have set
            // the edge flag without having bumped the count yet. Counts only
            // grow; that a replay never counts twice shows in the
            // exactly-once launches below.
            assert!(
                second >= first,
                "the count went down: {first} then {second}"
            );
            Ok(second)
        })
        .on_try_mark_launched(move |inner, job| {
            let won = inner.try_mark_launched(job)?;
            if won {
                *launched.lock().unwrap().entry(job).or_insert(0) += 1;
            }
            Ok(won)
        })
}

/// Delivers every launch twice.
struct DoubleLauncher {
    inner: Arc<dyn Launcher>,
}

impl Launcher for DoubleLauncher {
    fn launch(&self, job: JobId) -> ProtoResult<()> {
        self.inner.launch(job)?;
        self.inner.launch(job)
    }
}

#[test]
fn duplicate_completions_and_deliveries_launch_each_job_once() {
    for (parents, workers) in [
        (random_dag(300, 3, 7), 2),
        (fan_out(200), 3),
        (diamond(), 2),
    ] {
        let bundle = copy_dag(&parents);
        let store = copy_dag_store(parents.len());
        let launched = Arc::new(Mutex::new(HashMap::new()));
        let wrap_counters = |inner: Arc<dyn Counters>| -> Arc<dyn Counters> {
            Arc::new(double_counters(inner, launched.clone()))
        };
        let wrap_launcher =
            |inner: Arc<dyn Launcher>| -> Arc<dyn Launcher> { Arc::new(DoubleLauncher { inner }) };
        let interpose = Interpose {
            counters: Some(&wrap_counters),
            launcher: Some(&wrap_launcher),
        };
        let summary =
            run_local_with(&bundle, store.clone(), &opts(workers), &|_| {}, &interpose).unwrap();
        for j in 0..parents.len() {
            assert_eq!(
                store.tile("OUT", j, 0).unwrap()[(0, 0)],
                j as f64,
                "OUT[{j}, 0]"
            );
            // The second delivery of a launch may race the first and write
            // the same bytes again (harmless: SSA), but no more often.
            let puts = store.puts("OUT", j, 0);
            assert!((1..=2).contains(&puts), "OUT[{j}, 0] written {puts} times");
        }
        let launched = launched.lock().unwrap();
        for job in 0..parents.len() as JobId {
            assert_eq!(launched.get(&job), Some(&1), "launches of job {job}");
        }
        // A second delivery of a finished job is dropped before it executes;
        // one racing the first copy may execute, and the run still counts
        // each job once.
        assert_eq!(summary.jobs, parents.len());
        assert!(summary.executions >= parents.len() as u64);
    }
}

/// Drops the first delivery of every job, like a lost invocation.
struct LossyLauncher {
    inner: Arc<dyn Launcher>,
    seen: Mutex<HashMap<JobId, usize>>,
    dropped: Mutex<usize>,
}

impl Launcher for LossyLauncher {
    fn launch(&self, job: JobId) -> ProtoResult<()> {
        let mut seen = self.seen.lock().unwrap();
        let n = seen.entry(job).or_insert(0);
        *n += 1;
        if *n == 1 {
            *self.dropped.lock().unwrap() += 1;
            return Ok(());
        }
        self.inner.launch(job)
    }
}

#[test]
fn lost_deliveries_are_relaunched_after_the_lease() {
    // Fan-out: the root's first ready child continues on the same thread, the
    // other 9 go through the launcher, as does the root itself.
    let parents = fan_out(10);
    let bundle = copy_dag(&parents);
    let store = copy_dag_store(parents.len());
    let lossy: Mutex<Option<Arc<LossyLauncher>>> = Mutex::new(None);
    let wrap = |inner: Arc<dyn Launcher>| -> Arc<dyn Launcher> {
        let l = Arc::new(LossyLauncher {
            inner,
            seen: Mutex::new(HashMap::new()),
            dropped: Mutex::new(0),
        });
        *lossy.lock().unwrap() = Some(l.clone());
        l
    };
    let options = LocalOptions {
        workers: 2,
        lease: Duration::from_millis(100),
        ..LocalOptions::default()
    };
    let interpose = Interpose {
        counters: None,
        launcher: Some(&wrap),
    };
    let summary = run_local_with(&bundle, store.clone(), &options, &|_| {}, &interpose).unwrap();
    assert_copy_dag_done(&store, parents.len());
    let dropped = *lossy
        .lock()
        .unwrap()
        .as_ref()
        .unwrap()
        .dropped
        .lock()
        .unwrap();
    assert_eq!(
        dropped, 10,
        "the root and 9 of the middle jobs went through the launcher"
    );
    assert_eq!(summary.retries, 10);
    assert_eq!(summary.executions, parents.len() as u64);
}

#[test]
fn single_lost_root_delivery_is_retried_once() {
    let bundle = copy_dag(&diamond());
    let store = copy_dag_store(4);
    let wrap = |inner: Arc<dyn Launcher>| -> Arc<dyn Launcher> {
        Arc::new(LossyLauncher {
            inner,
            seen: Mutex::new(HashMap::new()),
            dropped: Mutex::new(0),
        })
    };
    let options = LocalOptions {
        workers: 2,
        lease: Duration::from_millis(50),
        ..LocalOptions::default()
    };
    let interpose = Interpose {
        counters: None,
        launcher: Some(&wrap),
    };
    let summary = run_local_with(&bundle, store.clone(), &options, &|_| {}, &interpose).unwrap();
    assert_copy_dag_done(&store, 4);
    // The diamond's root is launched by the driver, the second middle job by
    // the root; the first middle job and the sink continue in-thread.
    assert_eq!(summary.retries, 2);
}

#[test]
fn a_queue_backlog_longer_than_the_lease_is_not_relaunched() {
    // 12 independent jobs of about 20 ms on one worker: the last waits about
    // 220 ms in the queue, more than twice the lease, yet every job runs
    // well within the lease once started.
    let parents: Vec<Vec<usize>> = (0..12).map(|_| vec![]).collect();
    let bundle = copy_dag(&parents);
    let store = Arc::new(RecordingStore {
        read_delay: Some(Duration::from_millis(20)),
        ..RecordingStore::default()
    });
    for j in 0..12 {
        store.seed("IN", j, 0, lp_std::Tile::from_fn(1, 1, |_, _| j as f64));
    }
    let options = LocalOptions {
        workers: 1,
        lease: Duration::from_millis(100),
        ..LocalOptions::default()
    };
    let summary = run_local(&bundle, store.clone(), &options, &|_| {}).unwrap();
    assert_copy_dag_done(&store, 12);
    assert_eq!(summary.retries, 0);
    assert_eq!(summary.executions, 12);
}

#[test]
fn temps_are_freed_and_peak_stays_below_their_sum() {
    let (t, b) = (4, 8);
    let bundle = cholesky_shaped(t, b);
    let temp_tiles: usize = (1..t).map(|k| (t - k) * (t - k + 1) / 2).sum();
    let tile_bytes = (b * b * 8) as u64;
    for workers in [1, 2] {
        let store = cholesky_shaped_store(t, b);
        let summary = run_local(&bundle, store.clone(), &opts(workers), &|_| {}).unwrap();
        for i in 0..t {
            for j in 0..=i {
                let tile = store.tile("L", i, j).unwrap();
                assert_eq!(tile[(b - 1, b - 1)], (10 * i + j) as f64, "L[{i}, {j}]");
            }
        }
        for k in 1..t {
            assert_eq!(store.tiles_of(&format!("S{k}")), 0, "temps of S{k} left");
        }
        assert_eq!(
            summary.stray_temp_tiles, 0,
            "freed by reader counts, not by the sweep"
        );
        assert!(summary.peak_temp_bytes > 0);
        assert!(
            summary.peak_temp_bytes < temp_tiles as u64 * tile_bytes,
            "peak {} vs all temps {}",
            summary.peak_temp_bytes,
            temp_tiles as u64 * tile_bytes
        );
        let state = store.state.lock().unwrap();
        assert_eq!(state.deletes, temp_tiles, "each temp deleted once");
    }
}

#[test]
fn temps_without_readers_are_never_stored() {
    use lp_runtime::bundle::{Instr, Role};
    let mut bundle = copy_dag(&diamond());
    bundle.matrices.push(matrix("T", 4, 1, 1, Role::Temp));
    bundle.jobs[1].instrs.push(Instr::Write {
        tile: key(2, 1, 0),
        src: 0,
    });
    let store = copy_dag_store(4);
    let summary = run_local(&bundle, store.clone(), &opts(2), &|_| {}).unwrap();
    assert_eq!(store.puts("T", 1, 0), 0);
    assert_eq!(summary.bytes_stored, 8 * 4);
    assert_eq!(summary.peak_temp_bytes, 0);
}

#[test]
fn stop_flag_cancels_the_run() {
    let bundle = copy_dag(&fan_out(50));
    let store = copy_dag_store(52);
    let options = LocalOptions {
        workers: 2,
        stop: Arc::new(AtomicBool::new(true)),
        ..LocalOptions::default()
    };
    let err = run_local(&bundle, store.clone(), &options, &|_| {}).unwrap_err();
    assert_eq!(
        err,
        RunError::Cancelled {
            jobs_done: 0,
            jobs_total: 52
        }
    );
    assert_eq!(err.to_string(), "run cancelled after 0 of 52 jobs");
    assert_eq!(store.tiles_of("OUT"), 0);
}

#[test]
fn stop_flag_set_mid_run_stops_between_jobs() {
    let parents: Vec<Vec<usize>> = (0..20_000)
        .map(|j| if j == 0 { vec![] } else { vec![j - 1] })
        .collect();
    let bundle = copy_dag(&parents);
    let store = copy_dag_store(parents.len());
    let stop = Arc::new(AtomicBool::new(false));
    let options = LocalOptions {
        workers: 2,
        stop: stop.clone(),
        progress_interval: Duration::from_millis(1),
        ..LocalOptions::default()
    };
    let err = run_local(&bundle, store.clone(), &options, &|p| {
        if p.jobs_done > 0 {
            stop.store(true, Ordering::SeqCst);
        }
    })
    .unwrap_err();
    let RunError::Cancelled {
        jobs_done,
        jobs_total,
    } = err
    else {
        panic!("expected a cancellation, got {err}");
    };
    assert_eq!(jobs_total, 20_000);
    assert!(jobs_done < jobs_total, "cancelled after {jobs_done}");
}

#[test]
fn lost_completion_records_are_reported_as_a_stall_not_a_hang() {
    let bundle = copy_dag(&diamond());
    // Loses every completion record: a broken counter backend.
    let wrap = |inner: Arc<dyn Counters>| -> Arc<dyn Counters> {
        Arc::new(InterceptedCounters::new(inner).on_record_done(|_, _, _| Ok(0)))
    };
    let interpose = Interpose {
        counters: Some(&wrap),
        launcher: None,
    };
    let err =
        run_local_with(&bundle, copy_dag_store(4), &opts(2), &|_| {}, &interpose).unwrap_err();
    assert_eq!(
        err.to_string(),
        "run stalled after 1 of 4 jobs: no job is ready or running"
    );
}

#[test]
fn cyclic_bundle_is_rejected_before_running() {
    let mut bundle: Bundle = copy_dag(&[vec![], vec![]]);
    bundle.jobs[0].children = vec![1];
    bundle.jobs[1].children = vec![0];
    bundle.jobs[0].in_degree = 1;
    bundle.jobs[1].in_degree = 1;
    let err = run_local(&bundle, copy_dag_store(2), &opts(2), &|_| {}).unwrap_err();
    assert!(matches!(err, RunError::InvalidBundle(_)), "{err}");
}

#[test]
fn inconsistent_in_degree_is_rejected_before_running() {
    let mut bundle = copy_dag(&diamond());
    bundle.jobs[3].in_degree = 3;
    let store = copy_dag_store(4);
    let err = run_local(&bundle, store.clone(), &opts(2), &|_| {}).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid bundle: job 3 (job_3): in-degree 3 but 2 jobs list it as a child"
    );
    assert_eq!(store.tiles_of("OUT"), 0);
}

#[test]
fn progress_reports_reach_the_total() {
    let bundle = copy_dag(&fan_out(100));
    let store = copy_dag_store(102);
    let last = Mutex::new(None);
    run_local(&bundle, store, &opts(2), &|p| {
        *last.lock().unwrap() = Some(p.clone())
    })
    .unwrap();
    let last = last.into_inner().unwrap().unwrap();
    assert_eq!((last.jobs_done, last.jobs_total), (102, 102));
    assert_eq!(last.bytes_stored, 8 * 102);
}

#[test]
fn stores_are_shared_as_trait_objects() {
    // The CLI passes `Arc<dyn Store>`; make sure that coerces from a concrete store.
    let store: Arc<dyn Store> = copy_dag_store(4);
    run_local(&copy_dag(&diamond()), store, &opts(1), &|_| {}).unwrap();
}

#[test]
fn empty_bundle_completes_at_once() {
    let bundle = Bundle {
        matrices: Vec::new(),
        jobs: Vec::new(),
    };
    let summary = run_local(&bundle, RecordingStore::new(), &opts(2), &|_| {}).unwrap();
    assert_eq!(
        (summary.jobs, summary.executions, summary.critical_path_jobs),
        (0, 0, 0)
    );
}
