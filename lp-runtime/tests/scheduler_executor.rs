//! The job executor and the local counters, driven directly: idempotent
//! completion records, replays, error messages naming job/opcode/tile, and
//! the trace file.

mod scheduler_support;

use lp_program::{JobId, Plan, Role, TileKey};
use lp_runtime::local::{LocalCounters, LocalOptions, run_local};
use lp_runtime::metrics::Metrics;
use lp_runtime::protocol::{
    Counters, InterceptedCounters, JobContext, Launcher, ProtoResult, RunError, run_job,
};
use lp_runtime::store::{Store, StoreLayer, StoreResult};
use scheduler_support::*;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
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

/// The protocol objects of a run driven by hand.
struct Harness {
    counters: LocalCounters,
    launcher: RecordingLauncher,
    metrics: Metrics,
}

impl Harness {
    fn new() -> Harness {
        Harness {
            counters: LocalCounters::new(),
            launcher: RecordingLauncher::default(),
            metrics: Metrics::default(),
        }
    }

    fn ctx<'a>(&'a self, plan: &'a Plan, store: &'a dyn Store) -> JobContext<'a> {
        JobContext {
            plan,
            store,
            counters: &self.counters,
            launcher: &self.launcher,
            metrics: &self.metrics,
            tracer: None,
            consumed_inputs: &[],
        }
    }
}

#[test]
fn record_done_counts_distinct_parents() {
    let counters = LocalCounters::new();
    assert_eq!(counters.record_done(3, 1).unwrap(), 1);
    assert_eq!(
        counters.record_done(3, 1).unwrap(),
        1,
        "a replayed parent counts once"
    );
    assert_eq!(counters.record_done(3, 2).unwrap(), 2);
    assert_eq!(counters.record_done(3, 2).unwrap(), 2);
    // Job numbers need not be dense (loop programs number jobs by their
    // iteration's place in a bounding box).
    assert_eq!(counters.record_done(1 << 40, 7).unwrap(), 1);
    // The counters know no DAG (the old "job 3 is not a child of job 0"
    // check is the plan's business now); a replayed parent of a finished
    // child records nothing and makes nobody ready.
    assert!(counters.mark_finished(3).unwrap());
    assert_eq!(counters.record_done(3, 0).unwrap(), 0);
    assert_eq!(counters.record_done(3, 1).unwrap(), 0);
}

#[test]
fn launch_and_finish_flags_are_won_once() {
    let counters = LocalCounters::new();
    assert!(counters.try_mark_launched(2).unwrap());
    assert!(!counters.try_mark_launched(2).unwrap());
    assert!(!counters.is_finished(2).unwrap());
    assert!(counters.mark_finished(2).unwrap());
    assert!(!counters.mark_finished(2).unwrap());
    assert!(counters.is_finished(2).unwrap());
    assert!(
        !counters.try_mark_launched(2).unwrap(),
        "a finished job is never launched again"
    );
    assert_eq!(counters.launched_and_finished().unwrap(), (1, 1));
}

#[test]
fn overdue_lists_launched_unfinished_jobs_past_the_lease() {
    let counters = LocalCounters::new();
    counters.try_mark_launched(0).unwrap();
    counters.try_mark_launched(1).unwrap();
    counters.mark_finished(1).unwrap();
    // A job with a finished parent but no launch is not overdue.
    counters.record_done(2, 1).unwrap();
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
    std::thread::sleep(Duration::from_millis(20));
    counters.note_started(0).unwrap();
    assert_eq!(
        counters.overdue(Duration::from_millis(10)).unwrap(),
        Vec::<JobId>::new(),
        "a start restarts the lease"
    );
}

#[test]
fn release_reader_counts_down_to_the_last_reader() {
    let counters = LocalCounters::new();
    let (s, t) = (
        TileKey {
            matrix: 2,
            version: 1,
            i: 1,
            j: 1,
        },
        TileKey {
            matrix: 2,
            version: 2,
            i: 1,
            j: 1,
        },
    );
    assert_eq!(counters.release_reader(s, 7, 3).unwrap(), 2);
    assert_eq!(
        counters.release_reader(t, 7, 1).unwrap(),
        0,
        "versions are distinct tiles"
    );
    assert_eq!(counters.release_reader(s, 7, 3).unwrap(), 1);
    assert_eq!(counters.release_reader(s, 7, 3).unwrap(), 0);
    // Readers disagreeing with the releases already counted.
    assert_eq!(counters.release_reader(s, 7, 3).unwrap(), 2);
    let err = counters.release_reader(s, 7, 1).unwrap_err();
    assert!(
        err.message
            .ends_with("released more often than its 1 readers"),
        "{}",
        err.message
    );
}

/// The two forms of the 2 x 2-tile Cholesky shape, with the names of their
/// four jobs, of the temp matrix as stored and of its one tile.
fn two_by_two() -> Vec<(
    Plan,
    [&'static str; 4],
    &'static str,
    &'static str,
    &'static str,
)> {
    vec![
        (
            plan(cholesky_shaped(2, 2)),
            ["chol_0", "trsm_0_1", "syrk_0_1_1", "chol_1"],
            "S1",
            "S1[1, 1]",
            "job \"chol_1\" (test.lp:17): S3_LOAD on S1[1, 1]: the tile is not in the store and S1 has no initialiser",
        ),
        (
            plan(cholesky_loops(2, 2, Body::Copy)),
            ["chol[0]", "trsm[0, 1]", "syrk[0, 1, 1]", "chol[1]"],
            "S.1",
            "S[1, 1, 1]",
            "job \"chol[1]\" (test.lp:3): S3_LOAD on S[1, 1, 1]: the tile is not in the store and S has no initialiser",
        ),
    ]
}

#[test]
fn replayed_job_neither_relaunches_children_nor_frees_twice() {
    // chol_0, trsm_0_1, syrk_0_1_1 (writes temp S1[1, 1], or S[1, 1, 1] in
    // the loop form), chol_1 (reads it). The temp tile has one reader.
    for (plan, names, stored, tile, message) in two_by_two() {
        let jobs = jobs_of(&plan);
        assert_eq!(
            jobs.iter().map(|(_, n)| n.as_str()).collect::<Vec<_>>(),
            names
        );
        let id: Vec<JobId> = jobs.iter().map(|(id, _)| *id).collect();
        let store = cholesky_shaped_store(2, 2);
        // Counters that can forget that jobs finished, so a delivery
        // re-executes: the worst case of a worker dying after recording its
        // children but before finishing, or of a duplicate that started just
        // before the first copy finished.
        let always_forget = Arc::new(AtomicBool::new(true));
        let forget_once = Arc::new(AtomicBool::new(false));
        let counters = {
            let (always, once) = (always_forget.clone(), forget_once.clone());
            InterceptedCounters::new(LocalCounters::new()).on_is_finished(move |inner, job| {
                if always.load(SeqCst) || once.swap(false, SeqCst) {
                    return Ok(false);
                }
                inner.is_finished(job)
            })
        };
        let launcher = RecordingLauncher::default();
        let metrics = Metrics::default();
        let ctx = JobContext {
            plan: &plan,
            store: store.as_ref(),
            counters: &counters,
            launcher: &launcher,
            metrics: &metrics,
            tracer: None,
            consumed_inputs: &[],
        };
        assert!(counters.try_mark_launched(id[0]).unwrap());
        assert_eq!(
            run_job(&ctx, id[0], 0).unwrap(),
            Some(id[1]),
            "{} continues with {}",
            names[0],
            names[1]
        );
        assert_eq!(
            run_job(&ctx, id[0], 0).unwrap(),
            None,
            "the replay makes nobody ready again"
        );
        assert_eq!(run_job(&ctx, id[1], 0).unwrap(), Some(id[2]));
        assert_eq!(run_job(&ctx, id[2], 0).unwrap(), Some(id[3]));
        assert_eq!(run_job(&ctx, id[2], 0).unwrap(), None);
        assert_eq!(store.tiles_of(stored), 1, "{tile} stored as {stored}");
        assert_eq!(run_job(&ctx, id[3], 0).unwrap(), None);
        assert_eq!(store.tiles_of(stored), 0, "freed after its only reader");
        // A duplicate of chol_1 that started before the first copy finished
        // finds the temp freed; the job is finished, so it stops quietly.
        always_forget.store(false, SeqCst);
        forget_once.store(true, SeqCst);
        assert_eq!(run_job(&ctx, id[3], 0).unwrap(), None);
        // Without the finished record the same missing tile is a real error.
        always_forget.store(true, SeqCst);
        let err = run_job(&ctx, id[3], 0).unwrap_err();
        assert_eq!(err.to_string(), message);
        let RunError::Job(e) = err else {
            unreachable!()
        };
        assert_eq!((e.op.as_str(), e.tile.as_deref()), ("S3_LOAD", Some(tile)));
        assert!(
            launcher.launched.lock().unwrap().is_empty(),
            "every ready child ran in-thread"
        );
        let m = metrics.snapshot();
        assert_eq!(m.executions, 8);
        assert_eq!(m.jobs_done, 4, "replays do not count as finished jobs");
        assert_eq!(store.state.lock().unwrap().deletes, 1);
    }
}

/// The loop form of `two_by_two`, whose chol[1] is the only reader of the
/// temp S[1, 1, 1] (stored as `S.1`), on a store that hands tiles over: one
/// execution gets it, and a duplicate finds it gone.
fn handed_over_cholesky() -> (Plan, Vec<JobId>, Arc<RecordingStore>) {
    let plan = plan(cholesky_loops(2, 2, Body::Copy));
    let id = jobs_of(&plan).iter().map(|(id, _)| *id).collect();
    let store = RecordingStore::handing_over();
    for (i, j) in lower_tiles(2) {
        let tile = lp_std::Tile::from_fn(2, 2, |_, _| (10 * i + j) as f64);
        store.seed("A", i, j, tile);
    }
    (plan, id, store)
}

/// Runs the jobs before chol[1], lets a first execution of chol[1] take its
/// tile from `recording` (`store`'s innermost store) and keep running, then
/// delivers a duplicate of chol[1]: what that delivery returned, and the
/// jobs finished.
fn deliver_a_duplicate_of_chol_1(
    plan: &Plan,
    id: &[JobId],
    store: &dyn Store,
    recording: &RecordingStore,
    counters: &dyn Counters,
) -> (Result<Option<JobId>, RunError>, u64) {
    let launcher = RecordingLauncher::default();
    let metrics = Metrics::default();
    let ctx = JobContext {
        plan,
        store,
        counters,
        launcher: &launcher,
        metrics: &metrics,
        tracer: None,
        consumed_inputs: &[],
    };
    assert!(counters.try_mark_launched(id[0]).unwrap());
    assert_eq!(run_job(&ctx, id[0], 0).unwrap(), Some(id[1]));
    assert_eq!(run_job(&ctx, id[1], 0).unwrap(), Some(id[2]));
    assert_eq!(run_job(&ctx, id[2], 0).unwrap(), Some(id[3]));
    assert!(recording.take_tile("S.1", 1, 1).unwrap().is_some());
    let delivered = run_job(&ctx, id[3], 0);
    (delivered, metrics.snapshot().jobs_done)
}

#[test]
fn a_duplicate_stops_when_the_copy_that_took_its_tile_finishes_meanwhile() {
    let (plan, id, store) = handed_over_cholesky();
    // The duplicate asks whether chol[1] finished twice: as its delivery
    // starts, and if it must tell a duplicate from a tile never written.
    // Between that second answer ("no") and anything after it, the first
    // execution finishes: it marks the job finished, then frees the tile.
    let calls = Arc::new(AtomicUsize::new(0));
    let counters = {
        let (calls, store, chol_1) = (calls.clone(), store.clone(), id[3]);
        InterceptedCounters::new(LocalCounters::new()).on_is_finished(move |inner, job| {
            let finished = inner.is_finished(job)?;
            if job == chol_1 && calls.fetch_add(1, SeqCst) == 1 {
                assert!(inner.mark_finished(job)?);
                store.delete_tile("S.1", 1, 1).unwrap();
            }
            Ok(finished)
        })
    };
    let (delivered, finished) =
        deliver_a_duplicate_of_chol_1(&plan, &id, store.as_ref(), &store, &counters);
    assert_eq!(delivered.unwrap(), None, "the duplicate stops quietly");
    assert_eq!(store.puts("L", 1, 1), 0, "and writes nothing");
    assert_eq!(finished, 3);
}

/// A store whose `S.1[1, 1]` is written again, as by a late duplicate of its
/// writer (the same bytes: with `Body::Copy`, A[1, 1]), just before anyone
/// asks whether it was taken.
struct WrittenAgain {
    inner: Arc<RecordingStore>,
    done: AtomicBool,
}

impl StoreLayer for WrittenAgain {
    fn inner(&self) -> &dyn Store {
        &*self.inner
    }
    fn taken(&self, matrix: &str, i: usize, j: usize) -> StoreResult<bool> {
        if (matrix, i, j) == ("S.1", 1, 1) && !self.done.swap(true, SeqCst) {
            let tile = lp_std::Tile::from_fn(2, 2, |_, _| 11.0);
            self.inner.put_tile(matrix, i, j, Arc::new(tile))?;
        }
        self.inner.taken(matrix, i, j)
    }
}

#[test]
fn a_duplicate_loads_again_a_tile_its_writer_wrote_again() {
    let (plan, id, store) = handed_over_cholesky();
    let layer = WrittenAgain {
        inner: store.clone(),
        done: AtomicBool::new(false),
    };
    let counters = LocalCounters::new();
    let (delivered, finished) =
        deliver_a_duplicate_of_chol_1(&plan, &id, &layer, &store, &counters);
    // Found neither taken nor finished, the tile is there again: the
    // duplicate takes it and does the job, as the first execution would.
    assert_eq!(delivered.unwrap(), None);
    assert_eq!(store.puts("L", 1, 1), 1, "the duplicate wrote L[1, 1]");
    assert_eq!(
        *store.tile("L", 1, 1).unwrap(),
        lp_std::Tile::from_fn(2, 2, |_, _| 11.0)
    );
    assert_eq!(finished, 4);
}

#[test]
fn delivery_of_a_finished_job_is_dropped() {
    let plan = plan(copy_dag(&diamond()));
    let store = copy_dag_store(4);
    let h = Harness::new();
    let ctx = h.ctx(&plan, store.as_ref());
    assert_eq!(run_job(&ctx, 0, 0).unwrap(), Some(1));
    assert_eq!(*h.launcher.launched.lock().unwrap(), vec![2]);
    assert_eq!(run_job(&ctx, 0, 0).unwrap(), None);
    assert_eq!(h.metrics.snapshot().executions, 1);
    assert_eq!(store.puts("OUT", 0, 0), 1);
}

// New: job numbers come from the plan, and a number that is no job (past
// the end, or a hole in a loop family's numbering) is a clear error.
#[test]
fn a_job_number_that_is_no_job_is_a_clear_error() {
    let plan = plan(copy_dag(&diamond()));
    let store = copy_dag_store(4);
    let h = Harness::new();
    let err = run_job(&h.ctx(&plan, store.as_ref()), 4, 0).unwrap_err();
    assert_eq!(
        err,
        RunError::InvalidBundle("invalid bundle: job 4 is not a job of the program".into())
    );
    assert_eq!(
        err.to_string(),
        "invalid bundle: job 4 is not a job of the program"
    );
    assert_eq!(h.metrics.snapshot().executions, 0);

    let plan = loop_cholesky_plan();
    let ids: Vec<JobId> = jobs_of(&plan).into_iter().map(|(id, _)| id).collect();
    let hole = (0..plan.id_space())
        .find(|id| !ids.contains(id))
        .expect("the loop numbering has holes");
    let err = run_job(&h.ctx(&plan, store.as_ref()), hole, 0).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("invalid bundle: job {hole} is not a job of the program")
    );
    assert_eq!(plan.job_name(hole), format!("job #{hole}"));
}

fn loop_cholesky_plan() -> Plan {
    plan(cholesky_loops(3, 2, Body::Copy))
}

#[test]
fn missing_input_tile_stops_the_run_naming_job_opcode_and_tile() {
    // A chain 0 -> 1 -> 2 -> 3 where job 1's input tile IN[1, 0] is absent.
    let parents = vec![vec![], vec![0], vec![1], vec![2]];
    let plan = plan(copy_dag(&parents));
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
    let err = run_local(&plan, store.clone(), &opts, &|_| {}).unwrap_err();
    // job_1 is on line 5 of its source, its load of IN[1, 0] on line 6.
    assert_eq!(
        err.to_string(),
        "job \"job_1\" (test.lp:6): S3_LOAD on IN[1, 0]: the tile is not in the store and IN has no initialiser"
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
    let plan = plan(copy_dag(&diamond()));
    let store = Arc::new(RecordingStore {
        fail_puts_to: Some("OUT".to_string()),
        ..RecordingStore::default()
    });
    for j in 0..4 {
        store.seed("IN", j, 0, lp_std::Tile::from_fn(1, 1, |_, _| j as f64));
    }
    let err = run_local(&plan, store.clone(), &LocalOptions::default(), &|_| {}).unwrap_err();
    assert_eq!(
        err.to_string(),
        "job \"job_0\" (test.lp:3): S3_WRITE on OUT[0, 0]: OUT/0_0.npy: disk full"
    );
    let RunError::Job(e) = err else {
        panic!("expected a job error, got {err:?}")
    };
    assert_eq!(e.source.as_deref(), Some("test.lp:3"));
}

#[test]
fn empty_register_is_rejected_by_validation_and_by_the_executor() {
    let mut program = copy_dag(&diamond());
    push_instr(&mut program, 2, write(tile(1, 2, 0), 7));
    assert_eq!(program.families[2].num_regs, 8);
    let err = lp_program::bundle::validate(program.clone()).expect_err("invalid");
    assert_eq!(
        err.to_string(),
        "invalid bundle: job family job_2, instruction 3: register %7 read before it is written"
    );
    // The executor does not trust that validation ran: no panic either.
    let store = copy_dag_store(4);
    store.seed("OUT", 0, 0, lp_std::Tile::from_fn(1, 1, |_, _| 0.0));
    let plan = unchecked_plan(program);
    let h = Harness::new();
    let err = run_job(&h.ctx(&plan, store.as_ref()), 2, 0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "job \"job_2\" (test.lp:14): S3_WRITE on OUT[2, 0]: register 7 holds no value"
    );
}

/// Runs job 0 of a one-job program built without validation; the result,
/// or the panic's message.
fn run_unvalidated(
    instrs: Vec<lp_program::Instr>,
    num_regs: u32,
) -> Result<Result<Option<JobId>, Box<RunError>>, String> {
    let mut program = flat(
        vec![
            matrix("IN", 1, 1, 1, Role::Input),
            matrix("OUT", 1, 1, 1, Role::Output),
        ],
        vec![job("j", instrs)],
    );
    program.families[0].num_regs = num_regs;
    let plan = unchecked_plan(program);
    let store = RecordingStore::new();
    store.seed("IN", 0, 0, lp_std::Tile::from_fn(1, 1, |_, _| 1.0));
    let h = Harness::new();
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_job(&h.ctx(&plan, store.as_ref()), 0, 0).map_err(Box::new)
    }))
    .map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

#[test]
fn registers_out_of_range_and_wrong_arity_fail_the_job_without_a_panic() {
    use lp_std::Kernel;
    // Every one of these is rejected by validation; a plan built without it
    // must still fail the job, naming it, not panic (the old executor
    // checked: "register 5 is out of range", "takes 1 to 1 operands").
    let cases = vec![
        (
            "load into register 5 of 1",
            vec![load(5, tile(0, 0, 0)), write(tile(1, 0, 0), 0)],
            1,
        ),
        (
            "write from register 5 of 1",
            vec![load(0, tile(0, 0, 0)), write(tile(1, 0, 0), 5)],
            1,
        ),
        (
            "kernel operand 5 of 2",
            vec![
                load(0, tile(0, 0, 0)),
                apply(1, Kernel::Chol, vec![5]),
                write(tile(1, 0, 0), 1),
            ],
            2,
        ),
        (
            "kernel result into 5 of 2",
            vec![
                load(0, tile(0, 0, 0)),
                apply(5, Kernel::Chol, vec![0]),
                write(tile(1, 0, 0), 0),
            ],
            2,
        ),
        (
            "CHOL with no operand",
            vec![
                load(0, tile(0, 0, 0)),
                apply(1, Kernel::Chol, vec![]),
                write(tile(1, 0, 0), 1),
            ],
            2,
        ),
    ];
    let mut failures = Vec::new();
    for (what, instrs, regs) in cases {
        match run_unvalidated(instrs, regs) {
            Ok(Err(e)) if matches!(&*e, RunError::Job(j) if j.job == "j") => {}
            Ok(other) => failures.push(format!("{what}: expected a job error, got {other:?}")),
            Err(panic) => failures.push(format!("{what}: panicked: {panic}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn upper_loads_of_a_symmetric_matrix_read_the_stored_twin_transposed() {
    // One job: load A[0, 1] of a symmetric A (stored as A[1, 0]), write it
    // to B[0, 1]. The transpose is decided by the plan, not the program.
    let mut a = matrix("A", 2, 2, 2, Role::Input);
    a.header.symmetric = true;
    let program = flat(
        vec![a, matrix("B", 2, 2, 2, Role::Output)],
        vec![job(
            "t",
            vec![load(0, tile(0, 0, 1)), write(tile(1, 0, 1), 0)],
        )],
    );
    let plan = plan(program);
    let store = RecordingStore::new();
    store.seed(
        "A",
        1,
        0,
        lp_std::Tile::from_fn(2, 2, |i, j| (10 * i + j) as f64),
    );
    run_local(&plan, store.clone(), &LocalOptions::default(), &|_| {}).unwrap();
    let b = store.tile("B", 0, 1).unwrap();
    assert_eq!(
        [b[(0, 0)], b[(0, 1)], b[(1, 0)], b[(1, 1)]],
        [0.0, 10.0, 1.0, 11.0]
    );
    assert_eq!(store.matrices(), ["A", "B"], "nothing stored under A[0, 1]");
}

/// Runs `plan` with a trace and returns its "X" slices.
fn traced(plan: &Plan, store: Arc<RecordingStore>) -> Vec<serde_json::Value> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trace.json");
    let opts = LocalOptions {
        workers: 2,
        trace: Some(path.clone()),
        ..LocalOptions::default()
    };
    run_local(plan, store, &opts, &|_| {}).unwrap();
    let trace: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let events = trace["traceEvents"].as_array().unwrap();
    events.iter().filter(|e| e["ph"] == "X").cloned().collect()
}

/// Every load/write/kernel slice lies inside its job's slice on the same
/// thread, and every idle slice ends before the job its worker then took.
fn assert_nested(slices: &[serde_json::Value]) {
    for s in slices.iter().filter(|e| e["cat"] == "idle") {
        let (end, tid) = (
            s["ts"].as_f64().unwrap() + s["dur"].as_f64().unwrap(),
            &s["tid"],
        );
        let took = slices
            .iter()
            .find(|j| j["cat"] == "job" && j["name"] == s["args"]["job"] && &j["tid"] == tid);
        let start = took.map_or(f64::MIN, |j| j["ts"].as_f64().unwrap());
        assert!(
            end <= start + 1e-6,
            "{s} does not end before its job {took:?}"
        );
    }
    for s in slices
        .iter()
        .filter(|e| e["cat"] != "job" && e["cat"] != "idle")
    {
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

fn job_slices(slices: &[serde_json::Value]) -> Vec<String> {
    let mut jobs: Vec<String> = slices
        .iter()
        .filter(|e| e["cat"] == "job")
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect();
    jobs.sort();
    jobs
}

#[test]
fn trace_has_one_slice_per_job_and_nested_loads_and_writes() {
    let slices = traced(&plan(copy_dag(&diamond())), copy_dag_store(4));
    assert_eq!(job_slices(&slices), ["job_0", "job_1", "job_2", "job_3"]);
    // Loads: 4 of IN plus 4 parent tiles; writes: 4.
    assert_eq!(slices.iter().filter(|e| e["name"] == "S3_LOAD").count(), 8);
    assert_eq!(slices.iter().filter(|e| e["name"] == "S3_WRITE").count(), 4);
    let sink_write = slices
        .iter()
        .find(|e| e["name"] == "S3_WRITE" && e["args"]["job"] == "job_3")
        .unwrap();
    assert_eq!(sink_write["args"]["tile"], "OUT[3, 0]");
    assert_nested(&slices);
}

#[test]
fn trace_of_a_loop_program_names_iterations_and_versioned_tiles() {
    let slices = traced(
        &plan(cholesky_loops(2, 2, Body::Kernels)),
        RecordingStore::new(),
    );
    assert_eq!(
        job_slices(&slices),
        ["chol[0]", "chol[1]", "syrk[0, 1, 1]", "trsm[0, 1]"]
    );
    let syrk_write = slices
        .iter()
        .find(|e| e["name"] == "S3_WRITE" && e["args"]["job"] == "syrk[0, 1, 1]")
        .unwrap();
    assert_eq!(syrk_write["args"]["tile"], "S[1, 1, 1]");
    // S[0, 1, 1] is A[1, 1]: the trace names the tile actually read.
    let syrk_load = slices
        .iter()
        .find(|e| e["name"] == "S3_LOAD" && e["args"]["job"] == "syrk[0, 1, 1]")
        .unwrap();
    assert_eq!(syrk_load["args"]["tile"], "A[1, 1]");
    // One slice per kernel: CHOL twice, TRSM_RLT and SYRK once.
    for (kernel, n) in [("CHOL", 2), ("TRSM_RLT", 1), ("SYRK", 1)] {
        assert_eq!(
            slices
                .iter()
                .filter(|e| e["cat"] == "kernel" && e["name"] == kernel)
                .count(),
            n,
            "{kernel}"
        );
    }
    assert_nested(&slices);
}

#[test]
fn stores_see_only_whole_tiles() {
    // Compile-time check that the executor works through `&dyn Store`.
    fn takes(_: &dyn Store) {}
    takes(copy_dag_store(1).as_ref());
}
