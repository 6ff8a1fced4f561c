//! The job executor and the local counters, driven directly: idempotent
//! completion records, replays, error messages naming job/opcode/tile, and
//! the trace file.

mod scheduler_support;

use lp_runtime::bundle::{Instr, JobId, Role};
use lp_runtime::local::{LocalCounters, LocalOptions, run_local};
use lp_runtime::metrics::Metrics;
use lp_runtime::scheduler::{
    Counters, InterceptedCounters, JobContext, Launcher, ProtoResult, RunError, RunPlan, run_job,
};
use lp_runtime::store::Store;
use scheduler_support::*;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
struct RecordingLauncher {
    launched: Mutex<Vec<JobId>>,
}

impl Launcher for RecordingLauncher {
    fn launch(&self, job: JobId) -> ProtoResult<()> {
        self.launched.lock().unwrap().push(job);
        Ok(())
    }
}

#[test]
fn record_done_counts_distinct_parents() {
    let bundle = copy_dag(&diamond());
    let counters = LocalCounters::new(&bundle, &RunPlan::new(&bundle));
    assert_eq!(counters.record_done(3, 1).unwrap(), 1);
    assert_eq!(
        counters.record_done(3, 1).unwrap(),
        1,
        "a replayed parent counts once"
    );
    assert_eq!(counters.record_done(3, 2).unwrap(), 2);
    assert_eq!(counters.record_done(3, 2).unwrap(), 2);
    let err = counters.record_done(3, 0).unwrap_err();
    assert_eq!(err.message, "job 3 is not a child of job 0");
}

#[test]
fn launch_and_finish_flags_are_won_once() {
    let bundle = copy_dag(&diamond());
    let counters = LocalCounters::new(&bundle, &RunPlan::new(&bundle));
    assert!(counters.try_mark_launched(2).unwrap());
    assert!(!counters.try_mark_launched(2).unwrap());
    assert!(!counters.is_finished(2).unwrap());
    assert!(counters.mark_finished(2).unwrap());
    assert!(!counters.mark_finished(2).unwrap());
    assert!(counters.is_finished(2).unwrap());
    assert_eq!(counters.launched_and_finished().unwrap(), (1, 1));
}

#[test]
fn overdue_lists_launched_unfinished_jobs_past_the_lease() {
    let bundle = copy_dag(&diamond());
    let counters = LocalCounters::new(&bundle, &RunPlan::new(&bundle));
    counters.try_mark_launched(0).unwrap();
    counters.try_mark_launched(1).unwrap();
    counters.mark_finished(1).unwrap();
    assert_eq!(
        counters.overdue(Duration::from_secs(60)).unwrap(),
        Vec::<JobId>::new()
    );
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(
        counters.overdue(Duration::from_millis(10)).unwrap(),
        vec![0]
    );
    counters.note_relaunch(0).unwrap();
    assert_eq!(
        counters.overdue(Duration::from_millis(10)).unwrap(),
        Vec::<JobId>::new()
    );
}

#[test]
fn replayed_job_neither_relaunches_children_nor_frees_twice() {
    // 2x2-tile Cholesky shape: chol_0, trsm_0_1, syrk_0_1_1 (writes temp
    // S1[1, 1]), chol_1 (reads it). S1[1, 1] has one reader.
    let bundle = cholesky_shaped(2, 2);
    let names: Vec<&str> = bundle.jobs.iter().map(|j| j.name.as_str()).collect();
    assert_eq!(names, ["chol_0", "trsm_0_1", "syrk_0_1_1", "chol_1"]);
    let store = cholesky_shaped_store(2, 2);
    let plan = RunPlan::new(&bundle);
    // Counters that can forget that jobs finished, so a delivery
    // re-executes: the worst case of a worker dying after recording its
    // children but before finishing, or of a duplicate that started just
    // before the first copy finished.
    let always_forget = Arc::new(AtomicBool::new(true));
    let forget_once = Arc::new(AtomicBool::new(false));
    let counters = {
        let (always, once) = (always_forget.clone(), forget_once.clone());
        InterceptedCounters::new(LocalCounters::new(&bundle, &plan)).on_is_finished(
            move |inner, job| {
                if always.load(SeqCst) || once.swap(false, SeqCst) {
                    return Ok(false);
                }
                inner.is_finished(job)
            },
        )
    };
    let launcher = RecordingLauncher::default();
    let metrics = Metrics::default();
    let ctx = JobContext {
        bundle: &bundle,
        plan: &plan,
        store: store.as_ref(),
        counters: &counters,
        launcher: &launcher,
        metrics: &metrics,
        tracer: None,
    };
    assert!(counters.try_mark_launched(0).unwrap());
    assert_eq!(
        run_job(&ctx, 0, 0).unwrap(),
        Some(1),
        "chol_0 continues with trsm_0_1"
    );
    assert_eq!(
        run_job(&ctx, 0, 0).unwrap(),
        None,
        "the replay makes nobody ready again"
    );
    assert_eq!(run_job(&ctx, 1, 0).unwrap(), Some(2));
    assert_eq!(run_job(&ctx, 2, 0).unwrap(), Some(3));
    assert_eq!(run_job(&ctx, 2, 0).unwrap(), None);
    assert_eq!(store.tiles_of("S1"), 1);
    assert_eq!(run_job(&ctx, 3, 0).unwrap(), None);
    assert_eq!(store.tiles_of("S1"), 0, "freed after its only reader");
    // A duplicate of chol_1 that started before the first copy finished
    // finds S1[1, 1] freed; the job is finished, so it stops quietly.
    always_forget.store(false, SeqCst);
    forget_once.store(true, SeqCst);
    assert_eq!(run_job(&ctx, 3, 0).unwrap(), None);
    // Without the finished record the same missing tile is a real error.
    always_forget.store(true, SeqCst);
    let err = run_job(&ctx, 3, 0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "job \"chol_1\": S3_LOAD on S1[1, 1]: the tile is not in the store and S1 has no initialiser"
    );
    assert!(
        launcher.launched.lock().unwrap().is_empty(),
        "every ready child ran in-thread"
    );
    let m = metrics.snapshot();
    assert_eq!(m.executions, 8);
    assert_eq!(m.jobs_done, 4, "replays do not count as finished jobs");
    assert_eq!(store.state.lock().unwrap().deletes, 1);
}

#[test]
fn delivery_of_a_finished_job_is_dropped() {
    let bundle = copy_dag(&diamond());
    let store = copy_dag_store(4);
    let plan = RunPlan::new(&bundle);
    let counters = LocalCounters::new(&bundle, &plan);
    let launcher = RecordingLauncher::default();
    let metrics = Metrics::default();
    let ctx = JobContext {
        bundle: &bundle,
        plan: &plan,
        store: store.as_ref(),
        counters: &counters,
        launcher: &launcher,
        metrics: &metrics,
        tracer: None,
    };
    assert_eq!(run_job(&ctx, 0, 0).unwrap(), Some(1));
    assert_eq!(*launcher.launched.lock().unwrap(), vec![2]);
    assert_eq!(run_job(&ctx, 0, 0).unwrap(), None);
    assert_eq!(metrics.snapshot().executions, 1);
    assert_eq!(store.puts("OUT", 0, 0), 1);
}

#[test]
fn missing_input_tile_stops_the_run_naming_job_opcode_and_tile() {
    // A chain 0 -> 1 -> 2 -> 3 where job 1's input tile IN[1, 0] is absent.
    let parents = vec![vec![], vec![0], vec![1], vec![2]];
    let bundle = copy_dag(&parents);
    let store = copy_dag_store(4);
    store
        .state
        .lock()
        .unwrap()
        .tiles
        .remove(&("IN".to_string(), 1, 0));
    let opts = LocalOptions {
        workers: 2,
        ..LocalOptions::default()
    };
    let err = run_local(&bundle, store.clone(), &opts, &|_| {}).unwrap_err();
    assert_eq!(
        err.to_string(),
        "job \"job_1\": S3_LOAD on IN[1, 0]: the tile is not in the store and IN has no initialiser"
    );
    assert!(store.tile("OUT", 0, 0).is_some());
    assert_eq!(
        store.tiles_of("OUT"),
        1,
        "nothing after the failing job ran"
    );
}

#[test]
fn store_write_failure_names_the_tile() {
    let bundle = copy_dag(&diamond());
    let store = Arc::new(RecordingStore {
        fail_puts_to: Some("OUT".to_string()),
        ..RecordingStore::default()
    });
    for j in 0..4 {
        store.seed("IN", j, 0, lp_std::Tile::from_fn(1, 1, |_, _| j as f64));
    }
    let err = run_local(&bundle, store.clone(), &LocalOptions::default(), &|_| {}).unwrap_err();
    assert_eq!(
        err.to_string(),
        "job \"job_0\": S3_WRITE on OUT[0, 0]: OUT/0_0.npy: disk full"
    );
    assert!(matches!(err, RunError::Job(_)));
}

#[test]
fn empty_register_is_rejected_by_validation_and_by_the_executor() {
    let mut bundle = copy_dag(&diamond());
    bundle.jobs[2].instrs.push(Instr::Write {
        tile: key(1, 2, 0),
        src: 7,
    });
    bundle.jobs[2].num_regs = 8;
    let store = copy_dag_store(4);
    let err = run_local(&bundle, store.clone(), &LocalOptions::default(), &|_| {}).unwrap_err();
    assert!(matches!(err, RunError::InvalidBundle(_)), "{err}");
    assert_eq!(store.tiles_of("OUT"), 0, "nothing ran");
    // The executor does not trust that validation ran: no panic either.
    store.seed("OUT", 0, 0, lp_std::Tile::from_fn(1, 1, |_, _| 0.0));
    let plan = RunPlan::new(&bundle);
    let counters = LocalCounters::new(&bundle, &plan);
    let launcher = RecordingLauncher::default();
    let metrics = Metrics::default();
    let ctx = JobContext {
        bundle: &bundle,
        plan: &plan,
        store: store.as_ref(),
        counters: &counters,
        launcher: &launcher,
        metrics: &metrics,
        tracer: None,
    };
    let err = run_job(&ctx, 2, 0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "job \"job_2\": S3_WRITE on OUT[2, 0]: register 7 holds no value"
    );
}

#[test]
fn transposed_loads_read_the_stored_twin() {
    // One job: load A[1, 0] transposed, write it to B[0, 1].
    let mut a = matrix("A", 2, 2, 2, Role::Input);
    a.header.symmetric = true;
    let bundle = lp_runtime::bundle::Bundle {
        matrices: vec![a, matrix("B", 2, 2, 2, Role::Output)],
        jobs: link(vec![job(
            "t",
            vec![
                Instr::Load {
                    dst: 0,
                    tile: key(0, 1, 0),
                    transpose: true,
                },
                Instr::Write {
                    tile: key(1, 0, 1),
                    src: 0,
                },
            ],
        )]),
    };
    let store = RecordingStore::new();
    store.seed(
        "A",
        1,
        0,
        lp_std::Tile::from_fn(2, 2, |i, j| (10 * i + j) as f64),
    );
    run_local(&bundle, store.clone(), &LocalOptions::default(), &|_| {}).unwrap();
    let b = store.tile("B", 0, 1).unwrap();
    assert_eq!(
        [b[(0, 0)], b[(0, 1)], b[(1, 0)], b[(1, 1)]],
        [0.0, 10.0, 1.0, 11.0]
    );
}

#[test]
fn trace_has_one_slice_per_job_and_nested_loads_and_writes() {
    let bundle = copy_dag(&diamond());
    let dir = std::env::temp_dir().join(format!("lp-trace-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("trace.json");
    let opts = LocalOptions {
        workers: 2,
        trace: Some(path.clone()),
        ..LocalOptions::default()
    };
    run_local(&bundle, copy_dag_store(4), &opts, &|_| {}).unwrap();
    let trace: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let events = trace["traceEvents"].as_array().unwrap();
    let slices: Vec<_> = events.iter().filter(|e| e["ph"] == "X").collect();
    let mut jobs: Vec<&str> = slices
        .iter()
        .filter(|e| e["cat"] == "job")
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    jobs.sort();
    assert_eq!(jobs, ["job_0", "job_1", "job_2", "job_3"]);
    // Loads: 4 of IN plus 4 parent tiles; writes: 4.
    assert_eq!(slices.iter().filter(|e| e["name"] == "S3_LOAD").count(), 8);
    assert_eq!(slices.iter().filter(|e| e["name"] == "S3_WRITE").count(), 4);
    let sink_write = slices
        .iter()
        .find(|e| e["name"] == "S3_WRITE" && e["args"]["job"] == "job_3")
        .unwrap();
    assert_eq!(sink_write["args"]["tile"], "OUT[3, 0]");
    // Every load/write lies inside its job's slice on the same thread.
    for s in slices.iter().filter(|e| e["cat"] != "job") {
        let parent = slices
            .iter()
            .find(|j| j["cat"] == "job" && j["name"] == s["args"]["job"])
            .unwrap();
        assert_eq!(parent["tid"], s["tid"]);
        let (js, jd) = (
            parent["ts"].as_f64().unwrap(),
            parent["dur"].as_f64().unwrap(),
        );
        let (ss, sd) = (s["ts"].as_f64().unwrap(), s["dur"].as_f64().unwrap());
        assert!(
            js <= ss && ss + sd <= js + jd + 1e-6,
            "{s} outside {parent}"
        );
    }
}

#[test]
fn stores_see_only_whole_tiles() {
    // Compile-time check that the executor works through `&dyn Store`.
    fn takes(_: &dyn Store) {}
    takes(copy_dag_store(1).as_ref());
}
