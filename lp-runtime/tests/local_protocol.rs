//! The protocol end to end on the local backend: every job runs once and in
//! dependency order, duplicates and lost deliveries are absorbed, temps are
//! freed, and runs stop cleanly on cancellation and stalls.

mod scheduler_support;

use lp_program::{JobId, Plan, Program, Role};
use lp_runtime::local::{Interpose, LocalOptions, run_local, run_local_with};
use lp_runtime::matrix::{TileAt, load_tile};
use lp_runtime::metrics::RunSummary;
use lp_runtime::protocol::{Counters, InterceptedCounters, Launcher, ProtoResult, RunError};
use lp_runtime::store::{Store, StoreLayer, StoreResult};
use lp_runtime::verify::{self, Check};
use lp_std::Tile;
use scheduler_support::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn opts(workers: usize) -> LocalOptions {
    LocalOptions {
        workers,
        ..LocalOptions::default()
    }
}

fn run_copy_dag(parents: &[Vec<usize>], workers: usize) -> RunSummary {
    let plan = plan(copy_dag(parents));
    let store = copy_dag_store(parents.len());
    let summary = run_local(&plan, store.clone(), &opts(workers), &|_| {}).expect("run completes");
    assert_copy_dag_done(&store, parents.len());
    assert_eq!(summary.jobs, parents.len() as u64);
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
        assert_eq!(s.critical_path_jobs, Some(3));
        // Each job loads IN once; the children load 1, 1 and 2 parent tiles.
        assert_eq!(s.bytes_loaded, 8 * (4 + 4));
    }
}

#[test]
fn wide_fan_out_runs_every_job_once() {
    let s = run_copy_dag(&fan_out(500), 2);
    assert_eq!(s.critical_path_jobs, Some(3));
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
    assert_eq!(s.critical_path_jobs, Some(30));
}

/// Per job, the launches the protocol itself made.
type Launches = Arc<Mutex<HashMap<JobId, usize>>>;

/// Counts, per job, the launches the protocol itself makes (the winners of
/// `try_mark_launched`).
fn counting_launches(
    inner: Arc<dyn Counters>,
    launched: Launches,
) -> InterceptedCounters<Arc<dyn Counters>> {
    InterceptedCounters::new(inner).on_try_mark_launched(move |inner, job| {
        let won = inner.try_mark_launched(job)?;
        if won {
            *launched.lock().unwrap().entry(job).or_insert(0) += 1;
        }
        Ok(won)
    })
}

/// Delivers every completion record twice, and counts the launches the
/// protocol itself makes (in `launched`).
fn double_counters(
    inner: Arc<dyn Counters>,
    launched: Launches,
) -> InterceptedCounters<InterceptedCounters<Arc<dyn Counters>>> {
    InterceptedCounters::new(counting_launches(inner, launched)).on_record_done(
        |inner, child, parent| {
            let first = inner.record_done(child, parent)?;
            let second = inner.record_done(child, parent)?;
            // Not equality: other parents may finish in between. Counts
            // only grow, except that once the child finished (its state
            // dropped) a record counts 0; that a replay never counts twice
            // shows in the exactly-once launches below.
            assert!(
                second >= first || second == 0,
                "the count went down: {first} then {second}"
            );
            Ok(second)
        },
    )
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
        let plan = plan(copy_dag(&parents));
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
            run_local_with(&plan, store.clone(), &opts(workers), &|_| {}, &interpose).unwrap();
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
        assert_eq!(launched.len(), parents.len());
        for job in 0..parents.len() as JobId {
            assert_eq!(launched.get(&job), Some(&1), "launches of job {job}");
        }
        // A second delivery of a finished job is dropped before it executes;
        // one racing the first copy may execute, and the run still counts
        // each job once.
        assert_eq!(summary.jobs, parents.len() as u64);
        assert!(summary.executions >= parents.len() as u64);
    }
}

/// Drops the first delivery of every job, like a lost invocation.
struct LossyLauncher {
    inner: Arc<dyn Launcher>,
    seen: Mutex<HashMap<JobId, usize>>,
    dropped: Mutex<usize>,
}

impl LossyLauncher {
    fn new(inner: Arc<dyn Launcher>) -> LossyLauncher {
        LossyLauncher {
            inner,
            seen: Mutex::new(HashMap::new()),
            dropped: Mutex::new(0),
        }
    }
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
    let plan = plan(copy_dag(&parents));
    let store = copy_dag_store(parents.len());
    let lossy: Mutex<Option<Arc<LossyLauncher>>> = Mutex::new(None);
    let wrap = |inner: Arc<dyn Launcher>| -> Arc<dyn Launcher> {
        let l = Arc::new(LossyLauncher::new(inner));
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
    let summary = run_local_with(&plan, store.clone(), &options, &|_| {}, &interpose).unwrap();
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
    let plan = plan(copy_dag(&diamond()));
    let store = copy_dag_store(4);
    let wrap =
        |inner: Arc<dyn Launcher>| -> Arc<dyn Launcher> { Arc::new(LossyLauncher::new(inner)) };
    let options = LocalOptions {
        workers: 2,
        lease: Duration::from_millis(50),
        ..LocalOptions::default()
    };
    let interpose = Interpose {
        counters: None,
        launcher: Some(&wrap),
    };
    let summary = run_local_with(&plan, store.clone(), &options, &|_| {}, &interpose).unwrap();
    assert_copy_dag_done(&store, 4);
    // The diamond's root is launched by the driver, the second middle job by
    // the root; the first middle job and the sink continue in-thread.
    assert_eq!(summary.retries, 2);
}

#[test]
fn a_queue_backlog_longer_than_the_lease_is_not_relaunched() {
    // 30 independent jobs of about 20 ms on one worker: the last waits about
    // 580 ms in the queue, nearly twice the lease, yet every job runs well
    // within the lease once started. (This caught the driver reading the
    // queue after the leases: a job taken in between was relaunched.)
    let jobs = 30;
    let parents: Vec<Vec<usize>> = (0..jobs).map(|_| vec![]).collect();
    let plan = plan(copy_dag(&parents));
    let store = Arc::new(RecordingStore {
        read_delay: Some(Duration::from_millis(20)),
        ..RecordingStore::default()
    });
    for j in 0..jobs {
        store.seed("IN", j, 0, lp_std::Tile::from_fn(1, 1, |_, _| j as f64));
    }
    let options = LocalOptions {
        workers: 1,
        lease: Duration::from_millis(300),
        ..LocalOptions::default()
    };
    let summary = run_local(&plan, store.clone(), &options, &|_| {}).unwrap();
    assert_copy_dag_done(&store, jobs);
    assert_eq!(summary.retries, 0);
    assert_eq!(summary.executions, jobs as u64);
}

#[test]
fn temps_are_freed_and_peak_stays_below_their_sum() {
    let (t, b) = (4, 8);
    let plan = plan(cholesky_shaped(t, b));
    let temp_tiles = cholesky_temp_tiles(t);
    let tile_bytes = (b * b * 8) as u64;
    for workers in [1, 2] {
        let store = cholesky_shaped_store(t, b);
        let summary = run_local(&plan, store.clone(), &opts(workers), &|_| {}).unwrap();
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

/// Runs `plan` counting the launches of each job; checks that every job of
/// the plan was launched and executed exactly once.
fn run_once_each(plan: &Plan, store: Arc<RecordingStore>, workers: usize) -> RunSummary {
    let launched = Arc::new(Mutex::new(HashMap::new()));
    let wrap = |inner: Arc<dyn Counters>| -> Arc<dyn Counters> {
        Arc::new(counting_launches(inner, launched.clone()))
    };
    let interpose = Interpose {
        counters: Some(&wrap),
        launcher: None,
    };
    let summary = run_local_with(plan, store, &opts(workers), &|_| {}, &interpose).unwrap();
    let launched = launched.lock().unwrap();
    let jobs = jobs_of(plan);
    assert_eq!(jobs.len() as u64, plan.job_count());
    assert_eq!(launched.len(), jobs.len(), "launched jobs");
    for (id, name) in &jobs {
        assert_eq!(launched.get(id), Some(&1), "launches of {name}");
    }
    assert_eq!(summary.jobs, plan.job_count());
    assert_eq!(
        summary.executions,
        plan.job_count(),
        "every job executes exactly once"
    );
    assert_eq!(summary.retries, 0);
    summary
}

#[test]
fn loop_cholesky_computes_exactly_the_flat_cholesky() {
    let b = 3;
    for body in [Body::Copy, Body::Kernels] {
        for t in [1, 2, 4] {
            for workers in [1, 3] {
                let ctx = format!("{body:?}, {t} x {t} tiles, {workers} workers");
                let seeded = || {
                    if body == Body::Copy {
                        cholesky_shaped_store(t, b)
                    } else {
                        RecordingStore::new()
                    }
                };
                let flat_plan = plan(cholesky_flat(t, b, body));
                let flat_store = seeded();
                let flat = run_once_each(&flat_plan, flat_store.clone(), workers);
                let loop_plan = plan(cholesky_loops(t, b, body));
                let loop_store = seeded();
                let looped = run_once_each(&loop_plan, loop_store.clone(), workers);
                assert_eq!(loop_plan.job_count(), cholesky_jobs(t), "{ctx}");
                assert_eq!(flat_plan.job_count(), cholesky_jobs(t), "{ctx}");
                let chain = Some(3 * t - 2);
                assert_eq!(
                    (flat.critical_path_jobs, looped.critical_path_jobs),
                    (chain, chain),
                    "{ctx}"
                );
                assert_eq!(looped.flops, flat.flops, "{ctx}");
                assert_eq!(looped.bytes_stored, flat.bytes_stored, "{ctx}");
                for i in 0..t {
                    for j in 0..=i {
                        let (f, l) = (
                            flat_store.tile("L", i, j).unwrap(),
                            loop_store.tile("L", i, j).unwrap(),
                        );
                        assert_eq!(*l, *f, "{ctx}: L[{i}, {j}]");
                        assert_eq!(loop_store.puts("L", i, j), 1, "{ctx}: puts of L[{i}, {j}]");
                        if body == Body::Copy {
                            assert_eq!(l[(0, 0)], (10 * i + j) as f64, "{ctx}: L[{i}, {j}]");
                        }
                    }
                }
                // Version k of S (k >= 1) is the trailing matrix after step
                // k - 1: its lower tiles (i, j) with k <= j <= i, each
                // written once, under the name S.k, then freed by its last
                // reader. Version 0 is A and never stored.
                for k in 1..t {
                    for i in k..t {
                        for j in k..=i {
                            assert_eq!(
                                loop_store.puts(&format!("S.{k}"), i, j),
                                1,
                                "{ctx}: puts of S[{k}, {i}, {j}]"
                            );
                        }
                    }
                }
                let puts: usize = loop_store
                    .state
                    .lock()
                    .unwrap()
                    .puts
                    .keys()
                    .filter(|k| k.0.starts_with("S."))
                    .count();
                assert_eq!(puts, cholesky_temp_tiles(t), "{ctx}: temp tiles written");
                let left = if body == Body::Copy {
                    vec!["A", "L"]
                } else {
                    vec!["L"]
                };
                assert_eq!(loop_store.matrices(), left, "{ctx}: every temp freed");
                assert_eq!(
                    loop_store.state.lock().unwrap().deletes,
                    cholesky_temp_tiles(t),
                    "{ctx}: temps deleted once"
                );
                assert_eq!(
                    (looped.stray_temp_tiles, flat.stray_temp_tiles),
                    (0, 0),
                    "{ctx}"
                );
                if t == 1 {
                    assert_eq!(looped.peak_temp_bytes, 0, "{ctx}: no temp");
                } else {
                    assert!(looped.peak_temp_bytes > 0, "{ctx}: temps counted");
                }
                if t > 2 {
                    let all = (cholesky_temp_tiles(t) * b * b * 8) as u64;
                    assert!(
                        looped.peak_temp_bytes < all,
                        "{ctx}: peak {} vs all temps {all}",
                        looped.peak_temp_bytes
                    );
                }
            }
        }
    }
}

/// Runs `plan` on three workers whose every completion is recorded twice
/// and whose every launch is delivered twice, or (`lossy`) sometimes lost
/// and relaunched when its 50 ms lease expires; returns the summary and
/// the launches per job.
fn run_unreliably(
    plan: &Plan,
    store: Arc<RecordingStore>,
    consumed_inputs: Vec<u32>,
    lossy: bool,
) -> Result<(RunSummary, Launches), RunError> {
    let launched = Arc::new(Mutex::new(HashMap::new()));
    let wrap_counters = |inner: Arc<dyn Counters>| -> Arc<dyn Counters> {
        Arc::new(double_counters(inner, launched.clone()))
    };
    let wrap_launcher = |inner: Arc<dyn Launcher>| -> Arc<dyn Launcher> {
        if lossy {
            Arc::new(LossyLauncher::new(inner))
        } else {
            Arc::new(DoubleLauncher { inner })
        }
    };
    let interpose = Interpose {
        counters: Some(&wrap_counters),
        launcher: Some(&wrap_launcher),
    };
    let options = LocalOptions {
        workers: 3,
        lease: Duration::from_millis(50),
        consumed_inputs,
        ..LocalOptions::default()
    };
    let summary = run_local_with(plan, store, &options, &|_| {}, &interpose)?;
    Ok((summary, launched))
}

/// How a store treats the Cholesky's tiles in
/// [`loop_cholesky_absorbs_duplicates_and_lost_deliveries`].
#[derive(Clone, Copy, PartialEq)]
enum Handing {
    /// Every reader gets a shared tile.
    Nothing,
    /// A temp tile's only reader takes it (the memory store).
    Temps,
    /// So does an input tile's, the input imported and consumed
    /// (`LocalOptions::consumed_inputs`, as `lpc run` sets it).
    TempsAndInput,
}

#[test]
fn loop_cholesky_absorbs_duplicates_and_lost_deliveries() {
    let (t, b) = (5, 3);
    let reference = RecordingStore::new();
    run_local(
        &plan(cholesky_flat(t, b, Body::Kernels)),
        reference.clone(),
        &opts(2),
        &|_| {},
    )
    .unwrap();
    let generated = cholesky_loops(t, b, Body::Kernels);
    // The same A, imported: its lower tiles in the store, no initialiser.
    let mut imported = generated.clone();
    let a = &mut imported.matrices[A as usize];
    let init = a.init.take().expect("A is generated");
    let a_tiles: Vec<_> = lower_tiles(t)
        .map(|(i, j)| ((i, j), init.tile(&a.header, i, j)))
        .collect();
    let (generated, imported) = (plan(generated), plan(imported));
    // The first execution takes a handed-over tile, a duplicate finds it
    // gone.
    let handings = [Handing::Nothing, Handing::Temps, Handing::TempsAndInput];
    for (lossy, handing) in [false, true]
        .into_iter()
        .flat_map(|l| handings.map(|h| (l, h)))
    {
        let (store, plan, consumed_inputs) = match handing {
            Handing::Nothing => (RecordingStore::new(), &generated, vec![]),
            Handing::Temps => (RecordingStore::handing_over(), &generated, vec![]),
            Handing::TempsAndInput => {
                let store = RecordingStore::handing_over();
                for ((i, j), tile) in &a_tiles {
                    store.seed("A", *i, *j, tile.clone());
                }
                (store, &imported, vec![A])
            }
        };
        let (summary, launched) = run_unreliably(plan, store.clone(), consumed_inputs, lossy)
            .unwrap_or_else(|e| panic!("{e}"));
        let ctx = format!(
            "{}, {}",
            if lossy {
                "lost deliveries"
            } else {
                "duplicates"
            },
            match handing {
                Handing::Nothing => "nothing handed over",
                Handing::Temps => "temps handed over",
                Handing::TempsAndInput => "temps and the input handed over",
            }
        );
        let launched = launched.lock().unwrap();
        for (id, name) in jobs_of(plan) {
            assert_eq!(launched.get(&id), Some(&1), "{ctx}: launches of {name}");
        }
        assert_eq!(summary.jobs, cholesky_jobs(t), "{ctx}");
        if lossy {
            assert!(
                summary.retries > 0,
                "{ctx}: lost deliveries were relaunched"
            );
        }
        for (i, j) in lower_tiles(t) {
            assert_eq!(
                store.tile("L", i, j),
                reference.tile("L", i, j),
                "{ctx}: L[{i}, {j}]"
            );
        }
        // Temps a duplicate re-wrote after their last reader freed them
        // are swept at the end: none is left. The consumed input's tiles
        // went to their readers.
        assert_eq!(store.matrices(), ["L"], "{ctx}: temps left");
        // Every temp tile (each has one reader) was handed over once, and
        // every tile of the consumed input: a duplicate never took one
        // again.
        let takes = store.state.lock().unwrap().takes;
        let expected = match handing {
            Handing::Nothing => 0,
            Handing::Temps => cholesky_temp_tiles(t),
            Handing::TempsAndInput => cholesky_temp_tiles(t) + a_tiles.len(),
        };
        assert_eq!(takes, expected, "{ctx}: tiles handed over");
    }
}

#[test]
fn a_consumed_input_is_updated_in_place_and_counted_as_no_temp() {
    let (t, b) = (4, 3);
    let mut program = cholesky_loops(t, b, Body::Kernels);
    let a = &mut program.matrices[A as usize];
    let init = a.init.take().expect("A is generated");
    let header = a.header.clone();
    let plan = plan(program);
    let run = |consumed_inputs: Vec<u32>| {
        let store = RecordingStore::handing_over();
        for (i, j) in lower_tiles(t) {
            store.seed("A", i, j, init.tile(&header, i, j));
        }
        let options = LocalOptions {
            consumed_inputs,
            ..opts(1)
        };
        let summary = run_local(&plan, store.clone(), &options, &|_| {}).unwrap();
        let takes = store.state.lock().unwrap().takes;
        (summary, takes, store)
    };
    let (kept, kept_takes, kept_store) = run(vec![]);
    let (consumed, consumed_takes, consumed_store) = run(vec![A]);
    for (i, j) in lower_tiles(t) {
        assert_eq!(
            consumed_store.tile("L", i, j),
            kept_store.tile("L", i, j),
            "L[{i}, {j}]"
        );
        assert!(kept_store.tile("A", i, j).is_some(), "A[{i}, {j}] kept");
    }
    assert_eq!(consumed_store.matrices(), ["L"]);
    assert_eq!(consumed_takes, kept_takes + lower_tiles(t).count());
    // One worker, the same order: the same temps held at the peak (an
    // input tile taken is no temp freed).
    assert_eq!(consumed.peak_temp_bytes, kept.peak_temp_bytes);
    assert!(kept.peak_temp_bytes > 0);
}

/// `C[k, 0] = X[0, 0] + X[0, 1]` for k < 4: four jobs read each tile of
/// input X; then `C[4, 0] = Y[0, 0] + Y[0, 1]`, a job as costly (so queued
/// after them in launch order) on another input.
fn sums_of_one_input() -> Program {
    let b = 3;
    let jobs = (0..5)
        .map(|k| {
            let input = if k < 4 { 0 } else { 2 };
            let instrs = vec![
                load(0, tile(input, 0, 0)),
                load(1, tile(input, 0, 1)),
                apply(2, lp_std::Kernel::Add, vec![0, 1]),
                write(tile(1, k, 0), 2),
            ];
            job(&format!("sum_{k}"), instrs)
        })
        .collect();
    flat(
        vec![
            matrix("X", 1, 2, b, Role::Input),
            matrix("C", 5, 1, b, Role::Output),
            matrix("Y", 1, 2, b, Role::Input),
        ],
        jobs,
    )
}

/// A memory store seeded with equal X and Y for [`sums_of_one_input`], and
/// their two tiles.
fn sums_store() -> (Arc<RecordingStore>, [Tile; 2]) {
    let tiles = [
        Tile::from_fn(3, 3, |i, j| (i + 10 * j) as f64),
        Tile::from_fn(3, 3, |i, j| 0.5 + (100 * i + j) as f64),
    ];
    let store = RecordingStore::handing_over();
    for name in ["X", "Y"] {
        for (j, t) in tiles.iter().enumerate() {
            store.seed(name, 0, j, t.clone());
        }
    }
    (store, tiles)
}

#[test]
fn a_consumed_input_read_by_several_jobs_is_freed_after_its_last_reader() {
    let plan = plan(sums_of_one_input());
    for (lossy, consumed) in [(false, false), (false, true), (true, false), (true, true)] {
        let ctx = format!("lossy {lossy}, consumed {consumed}");
        let (store, [x0, x1]) = sums_store();
        let consumed_inputs = if consumed { vec![0] } else { vec![] };
        let (summary, _) = run_unreliably(&plan, store.clone(), consumed_inputs, lossy)
            .unwrap_or_else(|e| panic!("{ctx}: {e}"));
        assert_eq!(summary.jobs, 5, "{ctx}");
        let sum = Tile::from_fn(3, 3, |i, j| x0[(i, j)] + x1[(i, j)]);
        for k in 0..5 {
            assert_eq!(
                store.tile("C", k, 0).as_deref(),
                Some(&sum),
                "{ctx}: C[{k}, 0]"
            );
        }
        // Four readers each: no tile is handed over; a consumed input's are
        // deleted once the last has finished, a duplicate finding them gone.
        let expected: &[&str] = if consumed {
            &["C", "Y"]
        } else {
            &["C", "X", "Y"]
        };
        assert_eq!(store.matrices(), expected, "{ctx}");
        assert_eq!(store.state.lock().unwrap().takes, 0, "{ctx}");
        assert_eq!(summary.inputs_consumed, 0, "{ctx}");
        assert_eq!(summary.peak_temp_bytes, 0, "{ctx}: no temp");
    }
}

/// A late duplicate of X's last reader (one worker, every delivery twice,
/// in launch order; the second told at its start that its job is not
/// finished, as a delivery racing the first would be) loads the consumed
/// input after its tiles were deleted, and stops as a duplicate. The job
/// on Y, queued after it, keeps the run open until it has run.
#[test]
fn a_late_duplicate_finding_a_freed_input_tile_gone_stops() {
    let plan = plan(sums_of_one_input());
    let (store, [x0, x1]) = sums_store();
    let last = jobs_of(&plan).iter().find(|(_, n)| n == "sum_3").unwrap().0;
    let checks = Arc::new(AtomicU64::new(0));
    let wrap_counters = |inner: Arc<dyn Counters>| -> Arc<dyn Counters> {
        let checks = checks.clone();
        Arc::new(
            InterceptedCounters::new(inner).on_is_finished(move |inner, job| {
                let finished = inner.is_finished(job)?;
                // The second delivery's first check.
                let lie = job == last && checks.fetch_add(1, Ordering::SeqCst) == 1;
                Ok(finished && !lie)
            }),
        )
    };
    let wrap_launcher =
        |inner: Arc<dyn Launcher>| -> Arc<dyn Launcher> { Arc::new(DoubleLauncher { inner }) };
    let interpose = Interpose {
        counters: Some(&wrap_counters),
        launcher: Some(&wrap_launcher),
    };
    let options = LocalOptions {
        consumed_inputs: vec![0],
        ..opts(1)
    };
    let summary = run_local_with(&plan, store.clone(), &options, &|_| {}, &interpose).unwrap();
    assert_eq!(summary.jobs, 5);
    // Its start, the lie, and the check that stopped it at the load.
    assert_eq!(checks.load(Ordering::SeqCst), 3);
    let sum = Tile::from_fn(3, 3, |i, j| x0[(i, j)] + x1[(i, j)]);
    assert_eq!(store.tile("C", 3, 0).as_deref(), Some(&sum));
    assert_eq!(store.matrices(), ["C", "Y"]);
}

#[test]
fn loop_cholesky_with_kernels_passes_the_residual_check() {
    let (t, b) = (5, 4);
    let program = cholesky_loops(t, b, Body::Kernels);
    let check = Check::detect(&program).expect("a Cholesky");
    let plan = plan(program);
    let store = RecordingStore::new();
    run_local(&plan, store.clone(), &opts(2), &|_| {}).unwrap();
    let program = plan.program();
    let v = verify::verify(program, check, |m, _, i, j| {
        load_tile(store.as_ref(), &program.matrices[m], TileAt::new(i, j))
    })
    .unwrap();
    assert!(v.passed(), "residual {} above {}", v.residual, v.tolerance);
}

#[test]
fn temps_without_readers_are_never_stored() {
    let mut program = copy_dag(&diamond());
    program.matrices.push(matrix("T", 4, 1, 1, Role::Temp));
    push_instr(&mut program, 1, write(tile(2, 1, 0), 0));
    let store = copy_dag_store(4);
    let summary = run_local(&plan(program), store.clone(), &opts(2), &|_| {}).unwrap();
    assert_eq!(store.puts("T", 1, 0), 0);
    assert_eq!(summary.bytes_stored, 8 * 4);
    assert_eq!(summary.peak_temp_bytes, 0);
}

/// A store that loses every write to `T` (as a bug would), on a store that
/// hands temps over.
struct LosesTemps {
    inner: Arc<RecordingStore>,
}

impl StoreLayer for LosesTemps {
    fn inner(&self) -> &dyn Store {
        &*self.inner
    }
    fn put_tile(&self, matrix: &str, i: usize, j: usize, tile: Arc<Tile>) -> StoreResult<()> {
        match matrix {
            "T" => Ok(()),
            _ => self.inner.put_tile(matrix, i, j, tile),
        }
    }
}

/// Only a tile handed over to another execution makes a missing temp a
/// duplicate's: one never written is an error naming it, on a store that
/// hands temps over too (not a silent stop, which would leave the job
/// unfinished and the run hanging).
#[test]
fn a_missing_temp_that_was_not_handed_over_is_an_error() {
    let mut program = copy_dag(&diamond());
    program.matrices.push(matrix("T", 4, 1, 1, Role::Temp));
    push_instr(&mut program, 1, write(tile(2, 1, 0), 0));
    push_instr(&mut program, 3, load(9, tile(2, 1, 0)));
    let inner = RecordingStore::handing_over();
    for j in 0..4 {
        inner.seed("IN", j, 0, Tile::from_fn(1, 1, |_, _| j as f64));
    }
    let store = Arc::new(LosesTemps { inner });
    let err = run_local(&plan(program), store, &opts(2), &|_| {}).unwrap_err();
    assert_eq!(
        err.to_string(),
        "job \"job_3\" (test.lp:20): S3_LOAD on T[1, 0]: the tile is not in the store and T \
         has no initialiser"
    );
}

#[test]
fn stop_flag_cancels_the_run() {
    let plan = plan(copy_dag(&fan_out(50)));
    let store = copy_dag_store(52);
    let options = LocalOptions {
        workers: 2,
        stop: Arc::new(AtomicBool::new(true)),
        ..LocalOptions::default()
    };
    let err = run_local(&plan, store.clone(), &options, &|_| {}).unwrap_err();
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
    let plan = plan(copy_dag(&parents));
    let store = copy_dag_store(parents.len());
    let stop = Arc::new(AtomicBool::new(false));
    let options = LocalOptions {
        workers: 2,
        stop: stop.clone(),
        progress_interval: Duration::from_millis(1),
        ..LocalOptions::default()
    };
    let err = run_local(&plan, store.clone(), &options, &|p| {
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

/// Counts the launches that reach the local queue.
struct CountingLauncher {
    inner: Arc<dyn Launcher>,
    launches: Arc<AtomicU64>,
}

impl Launcher for CountingLauncher {
    fn launch(&self, job: JobId) -> ProtoResult<()> {
        self.launches.fetch_add(1, Ordering::SeqCst);
        self.inner.launch(job)
    }
}

#[test]
fn progress_and_a_stop_reach_a_run_while_its_roots_launch() {
    // 100,000 roots: launching them all before the first progress would
    // leave a large run silent, and deaf to Ctrl-C, for minutes.
    let roots = 100_000;
    let plan = plan(copy_dag(&vec![vec![]; roots]));
    let store = copy_dag_store(roots);
    let launches = Arc::new(AtomicU64::new(0));
    let wrap = |inner: Arc<dyn Launcher>| -> Arc<dyn Launcher> {
        Arc::new(CountingLauncher {
            inner,
            launches: launches.clone(),
        })
    };
    let interpose = Interpose {
        counters: None,
        launcher: Some(&wrap),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let options = LocalOptions {
        workers: 2,
        stop: stop.clone(),
        progress_interval: Duration::ZERO,
        ..LocalOptions::default()
    };
    let launched_at_first_progress = Mutex::new(None);
    let err = run_local_with(
        &plan,
        store,
        &options,
        &|_| {
            let mut first = launched_at_first_progress.lock().unwrap();
            first.get_or_insert(launches.load(Ordering::SeqCst));
            stop.store(true, Ordering::SeqCst);
        },
        &interpose,
    )
    .unwrap_err();
    assert!(matches!(err, RunError::Cancelled { jobs_total, .. } if jobs_total == roots as u64));
    // The first progress came after the first root, and the stop it set
    // ended the launching there.
    assert_eq!(*launched_at_first_progress.lock().unwrap(), Some(1));
    assert_eq!(launches.load(Ordering::SeqCst), 1);
}

#[test]
fn lost_completion_records_are_reported_as_a_stall_not_a_hang() {
    let plan = plan(copy_dag(&diamond()));
    // Loses every completion record: a broken counter backend.
    let wrap = |inner: Arc<dyn Counters>| -> Arc<dyn Counters> {
        Arc::new(InterceptedCounters::new(inner).on_record_done(|_, _, _| Ok(0)))
    };
    let interpose = Interpose {
        counters: Some(&wrap),
        launcher: None,
    };
    let err = run_local_with(&plan, copy_dag_store(4), &opts(2), &|_| {}, &interpose).unwrap_err();
    assert_eq!(
        err.to_string(),
        "run stalled after 1 of 4 jobs: no job is ready or running"
    );
}

// Replaces "cyclic_bundle_is_rejected_before_running": the runtime now takes
// a plan, and the cycle check is part of `lp_program::bundle::validate`
// (which `decode` runs). A plan built without validation has no root, and
// the run reports a stall instead of hanging.
#[test]
fn cyclic_program_is_rejected_by_validation_and_stalls_unvalidated() {
    let cyclic = || copy_dag(&[vec![1], vec![0]]);
    let err = lp_program::bundle::validate(cyclic()).expect_err("a cycle is invalid");
    assert_eq!(
        err.to_string(),
        "invalid bundle: dependency cycle: job_0 -> job_1 -> job_0"
    );
    let store = copy_dag_store(2);
    let err = run_local(&unchecked_plan(cyclic()), store.clone(), &opts(2), &|_| {}).unwrap_err();
    assert_eq!(
        err,
        RunError::Stalled {
            jobs_done: 0,
            jobs_total: 2
        }
    );
    assert_eq!(
        err.to_string(),
        "run stalled after 0 of 2 jobs: no job is ready or running"
    );
    assert_eq!(store.tiles_of("OUT"), 0);
}

// Replaces "inconsistent_in_degree_is_rejected_before_running": in-degrees
// are no longer stored (the plan solves them from the tiles), so they
// cannot disagree. What can still be wrong about the DAG in a flat bundle
// is a tile two jobs write, which breaks the write-once rule replays rely
// on.
#[test]
fn a_tile_written_by_two_jobs_is_rejected_before_running() {
    let mut program = copy_dag(&diamond());
    push_instr(&mut program, 3, write(tile(1, 2, 0), 0));
    let err = lp_program::bundle::validate(program).expect_err("a tile written twice is invalid");
    assert_eq!(
        err.to_string(),
        "invalid bundle: tile OUT[2, 0] is written twice: by job_2 and by job_3"
    );
}

#[test]
fn progress_reports_reach_the_total() {
    let plan = plan(copy_dag(&fan_out(100)));
    let store = copy_dag_store(102);
    let last = Mutex::new(None);
    run_local(&plan, store, &opts(2), &|p| {
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
    run_local(&plan(copy_dag(&diamond())), store, &opts(1), &|_| {}).unwrap();
}

#[test]
fn empty_program_completes_at_once() {
    let program = Program {
        matrices: vec![],
        loops: vec![],
        families: vec![],
        body: vec![],
        source: SOURCE.into(),
    };
    let summary = run_local(&plan(program), RecordingStore::new(), &opts(2), &|_| {}).unwrap();
    assert_eq!(
        (summary.jobs, summary.executions, summary.critical_path_jobs),
        (0, 0, Some(0))
    );
}
