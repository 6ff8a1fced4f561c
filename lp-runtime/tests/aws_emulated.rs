//! The lambda backend against the local emulators that
//! `scripts/emulators.sh start` runs (s3s-fs for S3, dynalite for DynamoDB,
//! `cargo lambda watch --only-lambda-apis` for Lambda). Run with
//!
//! ```text
//! scripts/emulators.sh start && . "$(scripts/emulators.sh env)"
//! cargo test -p lp-runtime --features aws --test 'aws_*'
//! scripts/emulators.sh stop
//! ```
//!
//! A missing emulator fails the tests (never skips them).
//!
//! Every test talks to the emulators through `emulator_support::Proxy`, which
//! counts requests and injects throttling. Workers run in-process (the same
//! `handle_job` the `lp-worker` binary runs, on threads): lpc's `lambda`
//! tests run the real binary.
//!
//! The end-to-end tests compare the Cholesky factor computed through the
//! lambda backend bit for bit with the local backend's.

mod emulator_support;

use emulator_support::*;
use lp_runtime::aws::dynamo::{DynamoCounters, RunStatus};
use lp_runtime::aws::lambda::{WorkerHooks, WorkerPayload, bundle_key, handle_job};
use lp_runtime::aws::{
    AwsClients, AwsOptions, LambdaRunOptions, S3Store, create_table, driver::run_lambda_with,
};
use lp_runtime::bundle::{Bundle, Instr, Job, JobId, MatrixInfo, Role, TileKey};
use lp_runtime::scheduler::{
    BackendError, Counters, InterceptedCounters, JobError, Launcher, ProtoResult, RunError,
};
use lp_runtime::store::{MemStore, Store};
use lp_std::{Kernel, MatrixHeader, Tile};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

// ---------------------------------------------------------------------------
// Stack: proxies in front of the three emulators, clients, bucket and table

struct Stack {
    s3: Proxy,
    dynamodb: Proxy,
    /// The relay the clients' Lambda endpoint points at (202 shim).
    _lambda: Proxy,
    clients: AwsClients,
    bucket: String,
    table: String,
}

impl Stack {
    fn new() -> Stack {
        let ep = endpoints();
        let s3 = Proxy::start(&ep.s3, Service::S3, false);
        let dynamodb = Proxy::start(&ep.dynamodb, Service::DynamoDb, false);
        let lambda = Proxy::start(&ep.lambda, Service::Lambda, true);
        let clients = AwsClients::connect(&AwsOptions {
            region: None,
            endpoint_url: None,
            s3_endpoint: Some(s3.url.clone()),
            dynamodb_endpoint: Some(dynamodb.url.clone()),
            lambda_endpoint: Some(lambda.url.clone()),
        });
        let bucket = unique("lp-test");
        let table = unique("lp-test");
        S3Store::new(&clients, &bucket, "")
            .create_bucket()
            .expect("create the test bucket on the S3 emulator");
        create_table(&clients, &table).expect("create the test table on the DynamoDB emulator");
        s3.reset_counts();
        dynamodb.reset_counts();
        Stack {
            s3,
            dynamodb,
            _lambda: lambda,
            clients,
            bucket,
            table,
        }
    }

    fn store(&self, prefix: &str) -> S3Store {
        S3Store::new(&self.clients, &self.bucket, prefix)
    }

    fn counters(&self, run: &str) -> DynamoCounters {
        DynamoCounters::new(&self.clients, &self.table, run, Arc::new(HashMap::new()))
    }
}

// ---------------------------------------------------------------------------
// Tiles and a tiled Cholesky bundle

/// A deterministic tile with entries that are not round numbers.
fn test_tile(rows: usize, cols: usize, seed: u64) -> Tile {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    Tile::from_fn(rows, cols, |_, _| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    })
}

fn bits(t: &Tile) -> Vec<u64> {
    let mut out = Vec::with_capacity(t.nrows() * t.ncols());
    for j in 0..t.ncols() {
        for i in 0..t.nrows() {
            out.push(t[(i, j)].to_bits());
        }
    }
    out
}

/// Right-looking tiled Cholesky of an `n x n`-tile SPD matrix `A` into `L`:
/// one job per kernel call, trailing updates in temps `S1..S{n-1}`.
fn cholesky_bundle(n: usize, tile: usize) -> Bundle {
    let size = n * tile;
    let mut matrices = vec![
        MatrixInfo {
            name: "A".to_string(),
            header: MatrixHeader::new([size, size], [tile, tile], true),
            role: Role::Input,
            init: None,
        },
        MatrixInfo {
            name: "L".to_string(),
            header: MatrixHeader::new([size, size], [tile, tile], false),
            role: Role::Output,
            init: None,
        },
    ];
    for k in 1..n {
        matrices.push(MatrixInfo {
            name: format!("S{k}"),
            header: MatrixHeader::new([size, size], [tile, tile], true),
            role: Role::Temp,
            init: None,
        });
    }
    // Matrix index of the trailing matrix at step k: A for 0, S{k} after.
    let trailing = |k: usize| if k == 0 { 0 } else { (k + 1) as u32 };
    let t = |m: u32, i: usize, j: usize| TileKey {
        matrix: m,
        i: i as u32,
        j: j as u32,
    };
    let load = |dst: u32, tile: TileKey| Instr::Load {
        dst,
        tile,
        transpose: false,
    };
    let mut jobs = Vec::new();
    let job = |name: String, instrs: Vec<Instr>, num_regs: u32| Job {
        name,
        instrs,
        num_regs,
        children: Vec::new(),
        in_degree: 0,
    };
    for k in 0..n {
        jobs.push(job(
            format!("chol_{k}"),
            vec![
                load(0, t(trailing(k), k, k)),
                Instr::Apply {
                    dst: 1,
                    kernel: Kernel::Chol,
                    args: vec![0],
                },
                Instr::Write {
                    tile: t(1, k, k),
                    src: 1,
                },
            ],
            2,
        ));
        for i in k + 1..n {
            jobs.push(job(
                format!("trsm_{i}_{k}"),
                vec![
                    load(0, t(trailing(k), i, k)),
                    load(1, t(1, k, k)),
                    Instr::Apply {
                        dst: 2,
                        kernel: Kernel::Trsm,
                        args: vec![0, 1],
                    },
                    Instr::Write {
                        tile: t(1, i, k),
                        src: 2,
                    },
                ],
                3,
            ));
        }
        for i in k + 1..n {
            for j in k + 1..=i {
                jobs.push(job(
                    format!("syrk_{i}_{j}_{k}"),
                    vec![
                        load(0, t(trailing(k), i, j)),
                        load(1, t(1, i, k)),
                        load(2, t(1, j, k)),
                        Instr::Apply {
                            dst: 3,
                            kernel: Kernel::Syrk,
                            args: vec![0, 1, 2],
                        },
                        Instr::Write {
                            tile: t(trailing(k + 1), i, j),
                            src: 3,
                        },
                    ],
                    4,
                ));
            }
        }
    }
    let mut writer: HashMap<TileKey, usize> = HashMap::new();
    for (id, job) in jobs.iter().enumerate() {
        for instr in &job.instrs {
            if let Instr::Write { tile, .. } = instr {
                writer.insert(*tile, id);
            }
        }
    }
    let mut children: Vec<Vec<JobId>> = vec![Vec::new(); jobs.len()];
    for (id, job) in jobs.iter().enumerate() {
        for instr in &job.instrs {
            if let Instr::Load { tile, .. } = instr
                && let Some(&w) = writer.get(tile)
            {
                children[w].push(id as JobId);
            }
        }
    }
    for (id, mut c) in children.into_iter().enumerate() {
        c.sort_unstable();
        c.dedup();
        for &child in &c {
            jobs[child as usize].in_degree += 1;
        }
        jobs[id].children = c;
    }
    Bundle { matrices, jobs }
}

/// An SPD matrix (M M^T + size I) as lower tiles of `A`, into `stores`.
fn put_spd_input(bundle: &Bundle, stores: &[&dyn Store], seed: u64) {
    let info = &bundle.matrices[0];
    let [n, _] = info.header.grid();
    let [tile, _] = info.header.tile_shape;
    let size = info.header.shape[0];
    let m = test_tile(size, size, seed);
    let mut a = &m * m.transpose();
    for d in 0..size {
        a[(d, d)] += size as f64;
    }
    for store in stores {
        store.put_header("A", &info.header).unwrap();
        for i in 0..n {
            for j in 0..=i {
                let t = a
                    .as_ref()
                    .submatrix(i * tile, j * tile, tile, tile)
                    .to_owned();
                store.put_tile("A", i, j, Arc::new(t)).unwrap();
            }
        }
    }
}

fn local_reference(bundle: &Bundle, seed: u64) -> Arc<MemStore> {
    let store = Arc::new(MemStore::new());
    put_spd_input(bundle, &[store.as_ref()], seed);
    lp_runtime::local::run_local(
        bundle,
        store.clone(),
        &lp_runtime::local::LocalOptions {
            workers: 2,
            ..Default::default()
        },
        &|_| {},
    )
    .expect("the local backend runs the Cholesky bundle");
    store
}

fn assert_same_factor(bundle: &Bundle, expected: &dyn Store, actual: &dyn Store) {
    let [n, _] = bundle.matrices[1].header.grid();
    for i in 0..n {
        for j in 0..=i {
            let e = expected.get_tile("L", i, j).unwrap().expect("local L tile");
            let a = actual
                .get_tile("L", i, j)
                .unwrap()
                .unwrap_or_else(|| panic!("L[{i}, {j}] missing from S3"));
            assert_eq!(
                bits(&e),
                bits(&a),
                "L[{i}, {j}] differs from the local backend's"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// In-process workers: the same handle_job the Lambda binary runs

/// Delivers each launch to `handle_job` on a new thread, optionally twice
/// (duplicate delivery), and failing the first launch of chosen jobs (a
/// failed invoke). The workers it starts launch their children through it
/// too, so a run never leaves the process.
#[derive(Clone)]
struct ThreadLauncher {
    shared: Arc<ThreadLauncherState>,
}

struct ThreadLauncherState {
    clients: AwsClients,
    template: WorkerPayload,
    hooks: WorkerHooks,
    duplicate: bool,
    failing: Mutex<Vec<JobId>>,
    launches: AtomicU64,
    errors: Arc<Mutex<Vec<String>>>,
}

impl Launcher for ThreadLauncher {
    fn launch(&self, job: JobId) -> ProtoResult<()> {
        let st = &self.shared;
        st.launches.fetch_add(1, SeqCst);
        {
            let mut failing = st.failing.lock().unwrap();
            if let Some(pos) = failing.iter().position(|&j| j == job) {
                failing.remove(pos);
                return Err(BackendError {
                    message: format!("injected: invoke for job {job} failed"),
                });
            }
        }
        let me = self.clone();
        let hooks = WorkerHooks {
            launcher: Some(Arc::new(move |_| Box::new(me.clone()) as Box<dyn Launcher>)),
            ..st.hooks.clone()
        };
        let copies = if st.duplicate { 2 } else { 1 };
        for _ in 0..copies {
            let clients = st.clients.clone();
            let payload = WorkerPayload {
                job_id: job,
                ..st.template.clone()
            };
            let hooks = hooks.clone();
            let errors = st.errors.clone();
            std::thread::spawn(move || {
                if let Err(e) = handle_job(&clients, &payload, None, &hooks) {
                    errors.lock().unwrap().push(format!("job {job}: {e}"));
                }
            });
        }
        Ok(())
    }
}

fn run_in_process(
    stack: &Stack,
    bundle: &Bundle,
    prefix: &str,
    hooks: WorkerHooks,
    duplicate: bool,
    failing: Vec<JobId>,
    lease: Duration,
) -> (
    Result<lp_runtime::aws::LambdaRunSummary, RunError>,
    Arc<Mutex<Vec<String>>>,
    u64,
) {
    let errors = Arc::new(Mutex::new(Vec::new()));
    let launches = Arc::new(Mutex::new(None::<ThreadLauncher>));
    let mut opts = LambdaRunOptions::new(&stack.bucket, prefix, &stack.table, "in-process");
    opts.lease = lease;
    opts.poll = Duration::from_millis(100);
    opts.timeout = Duration::from_secs(300);
    let result = run_lambda_with(&stack.clients, bundle, &opts, &|_| {}, &|template| {
        let l = ThreadLauncher {
            shared: Arc::new(ThreadLauncherState {
                clients: stack.clients.clone(),
                template,
                hooks: hooks.clone(),
                duplicate,
                failing: Mutex::new(failing.clone()),
                launches: AtomicU64::new(0),
                errors: errors.clone(),
            }),
        };
        *launches.lock().unwrap() = Some(l.clone());
        Arc::new(l)
    });
    let n = launches
        .lock()
        .unwrap()
        .as_ref()
        .map_or(0, |l| l.shared.launches.load(SeqCst));
    (result, errors, n)
}

/// Jobs whose `finished` flag is set, and the run's metric counters.
fn assert_each_job_counted_once(stack: &Stack, bundle: &Bundle, run_id: &str) {
    let counters = stack.counters(run_id);
    let (launched, finished) = counters.launched_and_finished().unwrap();
    assert_eq!((launched, finished), (bundle.jobs.len(), bundle.jobs.len()));
    let record = counters.run_record().unwrap().unwrap();
    assert_eq!(record.status, RunStatus::Succeeded);
    assert_eq!(
        record.jobs_done,
        bundle.jobs.len() as u64,
        "jobs_done counts each job once"
    );
}

// ---------------------------------------------------------------------------
// S3 store

#[test]
fn s3_store_round_trips_tiles_and_headers_in_the_directory_layout() {
    let stack = Stack::new();
    let store = stack.store("runs/r1");
    let tile = test_tile(5, 3, 1);
    assert!(
        store.get_tile("A", 0, 0).unwrap().is_none(),
        "a missing tile is None, not an error"
    );
    assert!(store.get_header("A").unwrap().is_none());
    store.put_tile("A", 2, 1, Arc::new(tile.clone())).unwrap();
    store
        .put_tile("A", 0, 0, Arc::new(test_tile(4, 4, 2)))
        .unwrap();
    let header = MatrixHeader::new([12, 8], [4, 4], false);
    store.put_header("A", &header).unwrap();
    let back = store.get_tile("A", 2, 1).unwrap().unwrap();
    assert_eq!(bits(&back), bits(&tile));
    assert_eq!((back.nrows(), back.ncols()), (5, 3));
    assert_eq!(store.get_header("A").unwrap(), Some(header));
    let mut keys = store.list_keys("runs/r1/").unwrap();
    keys.sort();
    assert_eq!(
        keys,
        [
            "runs/r1/A/0_0.npy",
            "runs/r1/A/2_1.npy",
            "runs/r1/A/header.json"
        ]
    );
    let mut tiles = store.list_tiles("A").unwrap();
    tiles.sort();
    assert_eq!(tiles, [(0, 0), (2, 1)]);
    store.delete_tile("A", 2, 1).unwrap();
    store.delete_tile("A", 2, 1).unwrap();
    assert!(store.get_tile("A", 2, 1).unwrap().is_none());
    let err = store.put_tile("../x", 0, 0, Arc::new(tile)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid matrix name \"../x\": only ASCII letters, digits, '_', '-' and '.' are allowed"
    );
    let counts = stack.s3.counts();
    assert_eq!(counts.get("s3 HEAD"), None, "no HEAD requests: {counts:?}");
}

#[test]
fn s3_store_transfers_a_large_tile_in_parts() {
    let stack = Stack::new();
    let store = stack.store("big");
    // 3000 x 3000 f64 = 72 MB: above the multipart threshold, 5 parts.
    let tile = test_tile(3000, 3000, 7);
    store.put_tile("B", 0, 0, Arc::new(tile.clone())).unwrap();
    let back = store.get_tile("B", 0, 0).unwrap().unwrap();
    assert!(
        bits(&back) == bits(&tile),
        "the large tile came back different"
    );
    let counts = stack.s3.counts();
    assert_eq!(
        counts.get("s3 PUT"),
        Some(&5),
        "one PUT per part: {counts:?}"
    );
    assert_eq!(
        counts.get("s3 GET"),
        Some(&5),
        "one ranged GET per part: {counts:?}"
    );
}

#[test]
fn s3_store_retries_slow_down_responses() {
    let stack = Stack::new();
    let store = stack.store("");
    stack.s3.inject(FaultPlan {
        every: 2,
        limit: 6,
        response: s3_slow_down(),
    });
    let tile = test_tile(4, 4, 3);
    for i in 0..6 {
        store.put_tile("T", i, 0, Arc::new(tile.clone())).unwrap();
    }
    for i in 0..6 {
        let back = store.get_tile("T", i, 0).unwrap().unwrap();
        assert_eq!(bits(&back), bits(&tile));
    }
    assert_eq!(stack.s3.faults_sent(), 6, "every injected 503 was retried");
}

#[test]
fn s3_store_works_from_inside_tokio_runtimes() {
    let stack = Stack::new();
    let store = Arc::new(stack.store("rt"));
    let tile = test_tile(3, 3, 4);
    // On a worker thread of a multi-threaded runtime (the Lambda handler's
    // situation): must neither panic nor deadlock.
    let multi = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let s = store.clone();
    let t = tile.clone();
    multi.block_on(async move {
        tokio::spawn(async move {
            s.put_tile("M", 0, 0, Arc::new(t)).unwrap();
            s.get_tile("M", 0, 0).unwrap().unwrap()
        })
        .await
        .unwrap()
    });
    // On a current-thread runtime.
    let single = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let back = single.block_on(async { store.get_tile("M", 0, 0).unwrap().unwrap() });
    assert_eq!(bits(&back), bits(&tile));
}

// ---------------------------------------------------------------------------
// DynamoDB counters

#[test]
fn record_done_counts_each_parent_once_under_concurrent_duplicates() {
    let stack = Stack::new();
    let counters = Arc::new(stack.counters("run-a"));
    let max_seen = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..16u32)
        .map(|t| {
            let c = counters.clone();
            let max_seen = max_seen.clone();
            std::thread::spawn(move || {
                // Thread t records parents t % 8 and (t + 3) % 8: every
                // parent is recorded by four threads.
                for parent in [t % 8, (t + 3) % 8] {
                    let n = c.record_done(100, parent).unwrap();
                    assert!((1..=8).contains(&n), "count {n} out of range");
                    max_seen.fetch_max(n as u64, SeqCst);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(max_seen.load(SeqCst), 8);
    // A replay of every parent leaves the count at 8.
    for parent in 0..8 {
        assert_eq!(counters.record_done(100, parent).unwrap(), 8);
    }
}

#[test]
fn try_mark_launched_succeeds_exactly_once_under_16_concurrent_callers() {
    let stack = Stack::new();
    let counters = Arc::new(stack.counters("run-b"));
    let wins = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let c = counters.clone();
            let wins = wins.clone();
            std::thread::spawn(move || {
                if c.try_mark_launched(7).unwrap() {
                    wins.fetch_add(1, SeqCst);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(wins.load(SeqCst), 1);
    assert!(!counters.try_mark_launched(7).unwrap());
    assert!(
        counters.try_mark_launched(8).unwrap(),
        "another job has its own flag"
    );
}

#[test]
fn job_run_and_tile_items_follow_the_protocol() {
    let stack = Stack::new();
    let tile = TileKey {
        matrix: 2,
        i: 1,
        j: 0,
    };
    let counters = DynamoCounters::new(
        &stack.clients,
        &stack.table,
        "run-c",
        Arc::new(HashMap::from([(tile, 2)])),
    );
    counters.start_run(3).unwrap();
    assert!(counters.start_run(3).is_err(), "a run id cannot be reused");
    assert!(counters.try_mark_launched(0).unwrap());
    assert!(counters.try_mark_launched(1).unwrap());
    assert!(!counters.is_finished(0).unwrap());
    assert!(counters.mark_finished(0).unwrap());
    assert!(
        !counters.mark_finished(0).unwrap(),
        "only the first finish counts"
    );
    assert!(counters.is_finished(0).unwrap());
    assert_eq!(counters.launched_and_finished().unwrap(), (2, 1));
    assert_eq!(
        counters.overdue(Duration::from_secs(60)).unwrap(),
        Vec::<JobId>::new()
    );
    std::thread::sleep(Duration::from_millis(30));
    assert_eq!(
        counters.overdue(Duration::from_millis(10)).unwrap(),
        vec![1]
    );
    assert_eq!(counters.release_reader(tile).unwrap(), 1);
    assert_eq!(counters.release_reader(tile).unwrap(), 0);
    let first = JobError {
        job: "chol_0".to_string(),
        op: "CHOL".to_string(),
        tile: Some("A[0, 0]".to_string()),
        output: Some("L[0, 0]".to_string()),
        message: "matrix is not positive definite (pivot 0 is -1e0)".to_string(),
    };
    assert!(counters.fail_run(&first).unwrap());
    let second = JobError {
        job: "chol_1".to_string(),
        ..first.clone()
    };
    assert!(!counters.fail_run(&second).unwrap(), "the first error wins");
    assert_eq!(
        counters.run_record().unwrap().unwrap().status,
        RunStatus::Failed(first)
    );
}

#[test]
fn counters_retry_dynamodb_throttling() {
    let stack = Stack::new();
    let counters = stack.counters("run-d");
    stack.dynamodb.inject(FaultPlan {
        every: 3,
        limit: 3,
        response: dynamodb_throttled(),
    });
    for parent in 0..10 {
        assert_eq!(counters.record_done(1, parent).unwrap(), parent + 1);
    }
    assert_eq!(stack.dynamodb.faults_sent(), 3);
}

// ---------------------------------------------------------------------------
// Whole runs with in-process workers: faults

const SEED: u64 = 42;

#[test]
fn cholesky_runs_bit_identical_to_local_with_request_counts() {
    let stack = Stack::new();
    let bundle = cholesky_bundle(4, 16);
    let expected = local_reference(&bundle, SEED);
    let store = stack.store("plain");
    put_spd_input(&bundle, &[&store], SEED);
    stack.s3.reset_counts();
    stack.dynamodb.reset_counts();
    let (result, errors, launches) = run_in_process(
        &stack,
        &bundle,
        "plain",
        WorkerHooks::default(),
        false,
        vec![],
        Duration::from_secs(8),
    );
    let summary =
        result.unwrap_or_else(|e| panic!("run failed: {e}; workers: {:?}", errors.lock().unwrap()));
    assert_same_factor(&bundle, expected.as_ref(), &store);
    assert_each_job_counted_once(&stack, &bundle, &summary.run_id);
    assert_eq!(
        summary.summary.executions,
        bundle.jobs.len() as u64,
        "no duplicate executions"
    );
    let jobs = bundle.jobs.len() as f64;
    let loads: usize = bundle
        .jobs
        .iter()
        .map(|j| {
            j.instrs
                .iter()
                .filter(|i| matches!(i, Instr::Load { .. }))
                .count()
        })
        .sum();
    let writes: usize = bundle
        .jobs
        .iter()
        .map(|j| {
            j.instrs
                .iter()
                .filter(|i| matches!(i, Instr::Write { .. }))
                .count()
        })
        .sum();
    let edges: usize = bundle.jobs.iter().map(|j| j.children.len()).sum();
    eprintln!(
        "wall {:?}, retries {}, executions {}",
        summary.summary.wall, summary.summary.retries, summary.summary.executions
    );
    eprintln!(
        "requests for {} jobs ({loads} loads, {writes} writes, {edges} edges): S3 {:?}, DynamoDB {:?}, invocations {launches}",
        jobs,
        stack.s3.counts(),
        stack.dynamodb.counts()
    );
}

#[test]
fn duplicate_deliveries_of_every_invocation_change_nothing() {
    let stack = Stack::new();
    let bundle = cholesky_bundle(3, 8);
    let expected = local_reference(&bundle, SEED);
    let store = stack.store("dup");
    put_spd_input(&bundle, &[&store], SEED);
    let (result, errors, _) = run_in_process(
        &stack,
        &bundle,
        "dup",
        WorkerHooks::default(),
        true,
        vec![],
        Duration::from_secs(8),
    );
    let summary =
        result.unwrap_or_else(|e| panic!("run failed: {e}; workers: {:?}", errors.lock().unwrap()));
    assert_same_factor(&bundle, expected.as_ref(), &store);
    assert_each_job_counted_once(&stack, &bundle, &summary.run_id);
    for info in bundle.matrices.iter().filter(|m| m.role == Role::Temp) {
        assert_eq!(
            store.list_tiles(&info.name).unwrap(),
            vec![],
            "temp {} swept",
            info.name
        );
    }
}

#[test]
fn a_worker_dying_after_its_writes_is_relaunched_after_the_lease() {
    let stack = Stack::new();
    let bundle = cholesky_bundle(3, 8);
    let expected = local_reference(&bundle, SEED);
    let store = stack.store("crash");
    put_spd_input(&bundle, &[&store], SEED);
    let crashed = Arc::new(AtomicBool::new(false));
    let flag = crashed.clone();
    // trsm_1_0 (job 1) writes L[1, 0], then dies before recording it.
    let hooks = WorkerHooks {
        counters: Some(Arc::new(move |inner| {
            let flag = flag.clone();
            Box::new(
                InterceptedCounters::new(inner).on_record_done(move |inner, child, parent| {
                    if parent == 1 && !flag.swap(true, SeqCst) {
                        return Err(BackendError {
                            message: "injected: worker died after its writes".to_string(),
                        });
                    }
                    inner.record_done(child, parent)
                }),
            ) as Box<dyn Counters>
        })),
        ..WorkerHooks::default()
    };
    let (result, errors, _) = run_in_process(
        &stack,
        &bundle,
        "crash",
        hooks,
        false,
        vec![],
        Duration::from_secs(2),
    );
    let summary = result.unwrap_or_else(|e| panic!("run failed: {e}"));
    assert!(crashed.load(SeqCst), "the injected crash happened");
    assert_eq!(
        errors.lock().unwrap().len(),
        1,
        "exactly the injected failure: {:?}",
        errors.lock().unwrap()
    );
    assert!(summary.summary.retries >= 1, "the lease relaunched the job");
    assert_same_factor(&bundle, expected.as_ref(), &store);
    assert_each_job_counted_once(&stack, &bundle, &summary.run_id);
}

#[test]
fn a_failed_invoke_is_covered_by_the_lease() {
    let stack = Stack::new();
    let bundle = cholesky_bundle(3, 8);
    let expected = local_reference(&bundle, SEED);
    let store = stack.store("lost");
    put_spd_input(&bundle, &[&store], SEED);
    // Every launch of a job after chol_0 goes through the launcher; fail
    // the first launch of job 2 (trsm_2_0, launched by chol_0's worker).
    let (result, _errors, _) = run_in_process(
        &stack,
        &bundle,
        "lost",
        WorkerHooks::default(),
        false,
        vec![2],
        Duration::from_secs(2),
    );
    let summary = result.unwrap_or_else(|e| panic!("run failed: {e}"));
    assert!(
        summary.summary.retries >= 1,
        "the lease relaunched the lost job"
    );
    assert_same_factor(&bundle, expected.as_ref(), &store);
    assert_each_job_counted_once(&stack, &bundle, &summary.run_id);
}

#[test]
fn throttled_s3_and_dynamodb_still_give_the_same_factor() {
    let stack = Stack::new();
    let bundle = cholesky_bundle(3, 8);
    let expected = local_reference(&bundle, SEED);
    let store = stack.store("throttle");
    put_spd_input(&bundle, &[&store], SEED);
    stack.s3.inject(FaultPlan {
        every: 4,
        limit: 10,
        response: s3_slow_down(),
    });
    stack.dynamodb.inject(FaultPlan {
        every: 4,
        limit: 10,
        response: dynamodb_throttled(),
    });
    let (result, errors, _) = run_in_process(
        &stack,
        &bundle,
        "throttle",
        WorkerHooks::default(),
        false,
        vec![],
        Duration::from_secs(60),
    );
    let summary =
        result.unwrap_or_else(|e| panic!("run failed: {e}; workers: {:?}", errors.lock().unwrap()));
    assert_eq!(stack.s3.faults_sent(), 10);
    assert_eq!(stack.dynamodb.faults_sent(), 10);
    assert_same_factor(&bundle, expected.as_ref(), &store);
    assert_each_job_counted_once(&stack, &bundle, &summary.run_id);
}

#[test]
fn a_kernel_error_stops_the_run_naming_job_kernel_and_tile() {
    let stack = Stack::new();
    let bundle = cholesky_bundle(2, 4);
    let store = stack.store("notspd");
    store.put_header("A", &bundle.matrices[0].header).unwrap();
    for (i, j) in [(0, 0), (1, 0), (1, 1)] {
        // -I is symmetric but not positive definite.
        let t = Tile::from_fn(4, 4, |r, c| if r == c && i == j { -1.0 } else { 0.0 });
        store.put_tile("A", i, j, Arc::new(t)).unwrap();
    }
    let (result, _errors, _) = run_in_process(
        &stack,
        &bundle,
        "notspd",
        WorkerHooks::default(),
        false,
        vec![],
        Duration::from_secs(60),
    );
    match result {
        Err(RunError::Job(e)) => {
            assert_eq!(e.job, "chol_0");
            assert_eq!(e.op, "CHOL");
            assert_eq!(e.tile.as_deref(), Some("A[0, 0]"));
        }
        other => panic!("expected a job error, got {other:?}"),
    }
}

#[test]
fn a_worker_drops_its_job_once_the_run_has_ended() {
    let stack = Stack::new();
    let bundle = cholesky_bundle(2, 4);
    let store = stack.store("ended");
    put_spd_input(&bundle, &[&store], SEED);
    let key = bundle_key(&store, &bundle);
    store.put_object(&key, bundle.encode()).unwrap();
    let run = unique("run");
    let counters = stack.counters(&run);
    counters.start_run(bundle.jobs.len()).unwrap();
    // What the driver does on Ctrl-C.
    let cancelled = JobError {
        job: String::new(),
        op: "driver".to_string(),
        tile: None,
        output: None,
        message: "cancelled by the driver".to_string(),
    };
    assert!(counters.fail_run(&cancelled).unwrap());
    let payload = WorkerPayload {
        bundle_key: key,
        run_id: run,
        job_id: 0,
        bucket: stack.bucket.clone(),
        prefix: "ended".to_string(),
        table: stack.table.clone(),
        function: "unused".to_string(),
    };
    let report = handle_job(&stack.clients, &payload, None, &WorkerHooks::default()).unwrap();
    assert!(report.run_ended, "{report:?}");
    assert_eq!(report.jobs_run, Vec::<JobId>::new());
    assert_eq!(store.list_tiles("L").unwrap(), vec![], "nothing computed");
    let record = counters.run_record().unwrap().unwrap();
    assert_eq!(record.status, RunStatus::Failed(cancelled));
    assert_eq!(record.executions, 0);
}
