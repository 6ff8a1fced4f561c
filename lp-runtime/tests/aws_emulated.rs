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
//! The programs are built in the IR by `scheduler_support` (lp-runtime
//! cannot depend on lpc): the flat tiled Cholesky (one family per job, a
//! temp matrix per step) and its loop form (three families over a
//! versioned temp `S` whose version 0 is `A`). The end-to-end tests compare
//! the factor computed through the lambda backend bit for bit with the
//! local backend's run of the same plan.

mod emulator_support;
mod scheduler_support;

use aws_sdk_dynamodb::types::AttributeValue;
use emulator_support::*;
use lp_program::{JobId, Plan, Program, Role, TileKey, bundle};
use lp_runtime::aws::dynamo::{DynamoCounters, ITEM_TTL, RunStatus, TTL_ATTRIBUTE};
use lp_runtime::aws::lambda::{WorkerHooks, WorkerPayload, bundle_key, handle_job};
use lp_runtime::aws::{
    ATTEMPTS_IN_TIME, AwsClients, AwsOptions, LambdaRunOptions, LambdaRunSummary, S3Store,
    create_table, driver::run_lambda_with,
};
use lp_runtime::protocol::{
    BackendError, Counters, FailureKind, InterceptedCounters, JobError, Launcher, ProtoResult,
    RunError,
};
use lp_runtime::store::{MemStore, Namespace, RunStore, Store};
use lp_std::{MatrixHeader, Tile};
use scheduler_support::{A, Body, L, cholesky_flat, cholesky_jobs, cholesky_loops};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
        S3Store::at_root(&clients, &bucket)
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
        S3Store::new(&self.clients, &self.bucket, prefix).expect("a valid test prefix")
    }

    fn counters(&self, run: &str) -> DynamoCounters {
        DynamoCounters::new(&self.clients, &self.table, run)
    }
}

// ---------------------------------------------------------------------------
// Tiles and tiled Cholesky programs

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

/// The plan of a program the runtime's validation accepts.
fn checked(program: Program) -> Plan {
    scheduler_support::plan(program)
}

/// Right-looking tiled Cholesky of an `n x n`-tile SPD matrix `A` into `L`,
/// flat: one job per kernel call, trailing updates in temps `S1..S{n-1}`.
/// `A` has no initialiser: its tiles must be in the store
/// ([`put_spd_input`]), so a run reads its input from S3.
fn cholesky_flat_stored(n: usize, tile: usize) -> Plan {
    let mut program = cholesky_flat(n, tile, Body::Kernels);
    program.matrices[A as usize].init = None;
    checked(program)
}

/// The loop form of the same Cholesky (families `chol`, `trsm`, `syrk`
/// over the versioned temp `S[n]`, `S[0]` being `A`), on `A = spd(7)`
/// generated by whoever loads a tile of it: nothing to upload.
fn cholesky_loop(n: usize, tile: usize) -> Plan {
    checked(cholesky_loops(n, tile, Body::Kernels))
}

/// An SPD matrix (M M^T + size I) as lower tiles of `A`, into `stores`.
fn put_spd_input(plan: &Plan, stores: &[&dyn Store], seed: u64) {
    let info = &plan.program().matrices[A as usize];
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

/// The factor the local backend computes from the same plan (with the SPD
/// input of `seed` uploaded first when `A` has no initialiser).
fn local_reference(plan: &Plan, seed: u64) -> Arc<MemStore> {
    let store = Arc::new(MemStore::new());
    if plan.program().matrices[A as usize].init.is_none() {
        put_spd_input(plan, &[store.as_ref()], seed);
    }
    lp_runtime::local::run_local(
        plan,
        store.clone(),
        &lp_runtime::local::LocalOptions {
            workers: 2,
            ..Default::default()
        },
        &|_| {},
    )
    .expect("the local backend runs the Cholesky");
    store
}

fn assert_same_factor(plan: &Plan, expected: &dyn Store, actual: &dyn Store) {
    let [n, _] = plan.program().matrices[L as usize].header.grid();
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

/// The store names of every temp tile a run may write: each temp matrix,
/// or each stored version of a versioned one (`S.1`, `S.2`, ...).
fn temp_names(plan: &Plan) -> Vec<String> {
    let mut names = Vec::new();
    for info in plan.program().matrices.iter() {
        if info.role != Role::Temp {
            continue;
        }
        let first = u32::from(info.base.is_some());
        for version in first..info.version_count() as u32 {
            names.push(info.stored_name(version));
        }
    }
    names
}

fn assert_temps_swept(plan: &Plan, store: &dyn Store) {
    let names = temp_names(plan);
    assert!(!names.is_empty(), "the program has temps");
    for name in names {
        assert_eq!(
            store.list_tiles(&name).unwrap(),
            vec![],
            "temp {name} swept"
        );
    }
}

// ---------------------------------------------------------------------------
// In-process workers: the same handle_job the Lambda binary runs

/// Delivers each launch to `handle_job` on a new thread, optionally twice
/// (duplicate delivery), and failing the first launch of chosen jobs (a
/// failed invoke). The payload of a launch is the launcher's template with
/// the job replaced, and it travels as the JSON a Lambda invocation
/// carries (recorded in `payloads`). The workers it starts launch their
/// children through it too, from their own payload as `LambdaLauncher`
/// does, so a run never leaves the process.
#[derive(Clone)]
struct ThreadLauncher {
    shared: Arc<Deliveries>,
    template: WorkerPayload,
}

/// What every [`ThreadLauncher`] of a run shares.
struct Deliveries {
    clients: AwsClients,
    hooks: WorkerHooks,
    duplicate: bool,
    failing: Mutex<Vec<JobId>>,
    launches: AtomicU64,
    errors: Mutex<Vec<String>>,
    /// The JSON body of every invocation, in launch order.
    payloads: Mutex<Vec<String>>,
    /// The driver's payload template.
    template: Mutex<Option<WorkerPayload>>,
}

impl Deliveries {
    fn errors(&self) -> Vec<String> {
        self.errors.lock().unwrap().clone()
    }
}

impl Launcher for ThreadLauncher {
    fn launch(&self, job: JobId) -> ProtoResult<()> {
        let st = &self.shared;
        st.launches.fetch_add(1, SeqCst);
        {
            let mut failing = st.failing.lock().unwrap();
            if let Some(pos) = failing.iter().position(|&j| j == job) {
                failing.remove(pos);
                return Err(BackendError::new(format!(
                    "injected: invoke for job {job} failed"
                )));
            }
        }
        let body = serde_json::to_string(&WorkerPayload {
            job_id: job,
            ..self.template.clone()
        })
        .unwrap();
        st.payloads.lock().unwrap().push(body.clone());
        let payload: WorkerPayload = serde_json::from_str(&body).unwrap();
        let shared = self.shared.clone();
        let hooks = WorkerHooks {
            launcher: Some(Arc::new(move |payload: &WorkerPayload| {
                Box::new(ThreadLauncher {
                    shared: shared.clone(),
                    template: payload.clone(),
                }) as Box<dyn Launcher>
            })),
            ..st.hooks.clone()
        };
        let copies = if st.duplicate { 2 } else { 1 };
        for _ in 0..copies {
            let st = self.shared.clone();
            let payload = payload.clone();
            let hooks = hooks.clone();
            std::thread::spawn(move || {
                if let Err(e) = handle_job(&st.clients, &payload, None, &hooks) {
                    st.errors.lock().unwrap().push(format!("job {job}: {e}"));
                }
            });
        }
        Ok(())
    }
}

/// How a run with in-process workers is set up.
struct InProcess {
    prefix: &'static str,
    hooks: WorkerHooks,
    duplicate: bool,
    failing: Vec<JobId>,
    lease: Duration,
}

impl InProcess {
    fn new(prefix: &'static str) -> InProcess {
        InProcess {
            prefix,
            hooks: WorkerHooks::default(),
            duplicate: false,
            failing: vec![],
            // Long: only the fault tests want a lease to expire.
            lease: Duration::from_secs(60),
        }
    }

    fn run(
        self,
        stack: &Stack,
        plan: &Plan,
    ) -> (Result<LambdaRunSummary, RunError>, Arc<Deliveries>) {
        let deliveries = Arc::new(Deliveries {
            clients: stack.clients.clone(),
            hooks: self.hooks,
            duplicate: self.duplicate,
            failing: Mutex::new(self.failing),
            launches: AtomicU64::new(0),
            errors: Mutex::new(Vec::new()),
            payloads: Mutex::new(Vec::new()),
            template: Mutex::new(None),
        });
        let mut opts =
            LambdaRunOptions::new(&stack.bucket, self.prefix, &stack.table, "in-process");
        opts.lease = self.lease;
        if plan.program().matrices[A as usize].init.is_none() {
            // Uploaded under the user's name `A` (`put_spd_input`).
            opts.namespace
                .inputs
                .insert("A".to_string(), "A".to_string());
        }
        opts.poll = Duration::from_millis(100);
        opts.timeout = Duration::from_secs(300);
        let result = run_lambda_with(&stack.clients, plan, &opts, &|_| {}, &|template| {
            *deliveries.template.lock().unwrap() = Some(template.clone());
            Arc::new(ThreadLauncher {
                shared: deliveries.clone(),
                template,
            })
        });
        (result, deliveries)
    }
}

/// Run `run`'s view of the store under `prefix`, where its factor and
/// temps are (an uploaded `A` is read under the user's name `A`).
fn run_view(stack: &Stack, plan: &Plan, prefix: &str, run: &str) -> RunStore {
    let mut ns = Namespace::new(run);
    if plan.program().matrices[A as usize].init.is_none() {
        ns.inputs.insert("A".to_string(), "A".to_string());
    }
    RunStore::new(Arc::new(stack.store(prefix)), plan.program(), &ns)
}

/// Every job launched and finished exactly once in DynamoDB, the run
/// succeeded, and its `jobs_done` metric counts each job once.
fn assert_each_job_counted_once(stack: &Stack, plan: &Plan, run_id: &str) {
    let counters = stack.counters(run_id);
    let total = plan.job_count();
    let (launched, finished) = counters.launched_and_finished().unwrap();
    assert_eq!((launched, finished), (total, total));
    let record = counters.run_record().unwrap().unwrap();
    assert_eq!(record.status, RunStatus::Succeeded);
    assert_eq!(record.jobs_total, total);
    assert_eq!(record.jobs_done, total, "jobs_done counts each job once");
}

/// A completed run with in-process workers.
struct Ran {
    summary: LambdaRunSummary,
    deliveries: Arc<Deliveries>,
    /// The run's requests (driver and workers), counted before the test
    /// read anything back.
    s3: BTreeMap<String, u64>,
    dynamodb: BTreeMap<String, u64>,
}

/// Runs `plan` with the in-process workers `setup` describes, after
/// uploading the input if the plan reads it from the store, and checks the
/// run succeeded with the local backend's factor, each job counted once.
fn run_and_compare(stack: &Stack, plan: &Plan, setup: InProcess) -> Ran {
    let expected = local_reference(plan, SEED);
    let prefix = setup.prefix;
    let store = stack.store(prefix);
    if plan.program().matrices[A as usize].init.is_none() {
        put_spd_input(plan, &[&store], SEED);
    }
    stack.s3.reset_counts();
    stack.dynamodb.reset_counts();
    let (result, deliveries) = setup.run(stack, plan);
    let (s3, dynamodb) = (stack.s3.counts(), stack.dynamodb.counts());
    let summary =
        result.unwrap_or_else(|e| panic!("run failed: {e}; workers: {:?}", deliveries.errors()));
    let view = run_view(stack, plan, prefix, &summary.run_id);
    assert_same_factor(plan, expected.as_ref(), &view);
    assert_each_job_counted_once(stack, plan, &summary.run_id);
    Ran {
        summary,
        deliveries,
        s3,
        dynamodb,
    }
}

// ---------------------------------------------------------------------------
// S3 store

/// `create_header` is a conditional PUT (`If-None-Match: *`): it writes a
/// header only where there is none, and says which it did. (The emulator
/// checks the condition before it writes, not in one step as S3 does, so
/// racing writers are tested on the local stores: store_suite.rs.)
#[test]
fn s3_create_header_writes_only_where_there_is_none() {
    let stack = Stack::new();
    let store = stack.store("c");
    let first = MatrixHeader::new([8, 8], [4, 4], false);
    let second = MatrixHeader::new([8, 8], [2, 2], true);
    assert!(store.create_header("N", &first).unwrap());
    assert!(!store.create_header("N", &second).unwrap());
    assert_eq!(store.get_header("N").unwrap(), Some(first));
    // put_header still replaces; creating after a removal creates again.
    store.put_header("N", &second).unwrap();
    assert_eq!(store.get_header("N").unwrap(), Some(second.clone()));
    store.remove_all("N").unwrap();
    assert!(store.create_header("N", &second).unwrap());
    assert_eq!(store.get_header("N").unwrap(), Some(second));
}

/// A creating PUT that S3 carried out but whose answer was lost is tried
/// again, and the retry finds the header (412): its token says it is this
/// creation's own, so the creator is not told it lost.
#[test]
fn s3_create_header_whose_answer_was_lost_is_still_its_own() {
    let stack = Stack::new();
    let store = stack.store("lost");
    let header = MatrixHeader::new([8, 8], [4, 4], false);
    stack.s3.reset_counts();
    stack.s3.inject_after_forwarding(FaultPlan {
        every: 1,
        limit: 1,
        response: s3_slow_down(),
    });
    assert!(store.create_header("N", &header).unwrap());
    assert_eq!(stack.s3.faults_sent(), 1);
    // The PUT was tried again, and the 412 checked with a HEAD: at least
    // those, since the SDK sends a request again when its connection fails
    // under it (a keep-alive connection closed, say), and the proxy counts
    // each sending. A CI-mode run on 2026-12-04 counted two HEADs once; it
    // did not recur in 10 runs. (A PUT's target ends in its `x-id` query,
    // not in `header.json`.)
    let counts = stack.s3.counts();
    let count = |op: &str| counts.get(op).copied().unwrap_or(0);
    assert!(
        count("s3 PUT") >= 2 && count("s3 HEAD header") >= 1,
        "{counts:?}"
    );
    // Another creator, with its own token, is told the name exists.
    assert!(!stack.store("lost").create_header("N", &header).unwrap());
    assert_eq!(store.get_header("N").unwrap(), Some(header));
}

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
        "invalid matrix name \"../x\": each part of a location must be a valid matrix name"
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

/// A 32 MiB tile over a link slow enough that its PUT and GET take several
/// attempt timeouts each: the timeouts cut waits for an answer, not
/// transfers (a PUT's attempt gets time for its bytes; a GET's body is read
/// after its attempt).
#[test]
fn a_large_tile_outlasts_the_attempt_timeout_on_a_slow_link() {
    let stack = Stack::new();
    let attempt = Duration::from_millis(500);
    let clients = AwsClients::connect_with_timeout(
        &AwsOptions {
            s3_endpoint: Some(slow_link(&endpoints().s3, 8 << 20)),
            ..AwsOptions::default()
        },
        attempt,
    );
    let store = S3Store::new(&clients, &stack.bucket, "slow").unwrap();
    // 2048 x 2048 f64: 32 MiB, one PUT (below the multipart threshold).
    let tile = test_tile(2048, 2048, 3);
    let started = std::time::Instant::now();
    store.put_tile("B", 0, 0, Arc::new(tile.clone())).unwrap();
    let put = started.elapsed();
    let back = store.get_tile("B", 0, 0).unwrap().unwrap();
    assert!(bits(&back) == bits(&tile), "the tile came back different");
    assert!(
        put > attempt * ATTEMPTS_IN_TIME,
        "the PUT took {put:?}: the link was not slow enough to test anything"
    );
}

/// A missing key read without `s3:ListBucket` is a 403 on AWS, not a 404:
/// the error names the permission instead of calling the tile absent or
/// reporting a bare "access denied".
#[test]
fn a_403_for_a_missing_tile_names_the_missing_permission() {
    let stack = Stack::new();
    let store = stack.store("denied");
    stack.s3.inject(FaultPlan {
        every: 1,
        limit: 1,
        response: s3_access_denied(),
    });
    let err = store.get_tile("~runs/r1/S.1", 3, 2).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "GET s3://{bucket}/denied/~runs/r1/S.1/3_2.npy: access denied (AccessDenied, HTTP \
             403): either this role may not s3:GetObject the key, or the key does not exist and \
             the role lacks s3:ListBucket on arn:aws:s3:::{bucket} for prefix \
             denied/~runs/r1/S.1/ (without it S3 answers 403 instead of 404 for a missing key; \
             docs/aws.md lists the policies)",
            bucket = stack.bucket
        )
    );
    assert_eq!(
        stack.s3.faults_sent(),
        1,
        "not retried: a 403 does not go away"
    );
    // With the permission (the emulator), the same read is an absent tile.
    assert!(store.get_tile("~runs/r1/S.1", 3, 2).unwrap().is_none());
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
    let threads: Vec<_> = (0..16u64)
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
    // Version 3 of a versioned temp: its reader count is its own, not the
    // count of the same tile of another version.
    let tile = TileKey {
        matrix: 2,
        version: 3,
        i: 1,
        j: 0,
    };
    let other_version = TileKey { version: 4, ..tile };
    let counters = stack.counters("run-c");
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
    // The reader count comes from the plan with each release; a release
    // applied and then retried (its answer lost) counts its reader once.
    assert_eq!(counters.release_reader(tile, 5, 2).unwrap(), 1);
    assert_eq!(counters.release_reader(tile, 5, 2).unwrap(), 1);
    assert_eq!(counters.release_reader(other_version, 5, 1).unwrap(), 0);
    assert_eq!(counters.release_reader(tile, 6, 2).unwrap(), 0);
    let first = JobError {
        job: "chol[0]".to_string(),
        source: Some("cholesky.lp:10".to_string()),
        op: "CHOL".to_string(),
        tile: Some("A[0, 0]".to_string()),
        output: Some("L[0, 0]".to_string()),
        message: "matrix is not positive definite (pivot 0 is -1e0)".to_string(),
        kind: FailureKind::NotPositiveDefinite,
    };
    assert!(counters.fail_run(&first).unwrap());
    let second = JobError {
        job: "chol[1]".to_string(),
        source: None,
        ..first.clone()
    };
    assert!(!counters.fail_run(&second).unwrap(), "the first error wins");
    assert_eq!(
        counters.run_record().unwrap().unwrap().status,
        RunStatus::Failed(first)
    );
    // Every item of the run (jobs, tiles, the run) expires a week after
    // its last write, through the table's time-to-live attribute.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (client, table) = (stack.clients.dynamodb.clone(), stack.table.clone());
    let items = lp_runtime::aws::block_on(async move {
        client
            .query()
            .table_name(table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S("run-c".to_string()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .items
            .unwrap_or_default()
    });
    assert_eq!(items.len(), 5, "2 jobs, 2 tiles and the run");
    let week = ITEM_TTL.as_secs();
    for item in &items {
        let expires: u64 = item[TTL_ATTRIBUTE].as_n().unwrap().parse().unwrap();
        assert!(
            (now + week - 60..=now + week + 60).contains(&expires),
            "{item:?} expires at {expires}, not about {}",
            now + week
        );
    }
}

#[test]
fn job_numbers_beyond_32_bits_are_items_like_any_other() {
    // A loop family numbers its jobs over the bounding box of its loops:
    // job numbers of a large program do not fit 32 bits.
    let stack = Stack::new();
    let counters = stack.counters("run-e");
    let (child, parents) = (5u64 << 40, [(1u64 << 33) + 7, 1u64 << 62]);
    assert_eq!(counters.record_done(child, parents[0]).unwrap(), 1);
    assert_eq!(counters.record_done(child, parents[1]).unwrap(), 2);
    assert_eq!(
        counters.record_done(child, parents[0]).unwrap(),
        2,
        "a replayed parent counts once"
    );
    assert!(counters.try_mark_launched(child).unwrap());
    assert!(!counters.try_mark_launched(child).unwrap());
    std::thread::sleep(Duration::from_millis(30));
    assert_eq!(
        counters.overdue(Duration::from_millis(10)).unwrap(),
        vec![child]
    );
    assert!(counters.mark_finished(child).unwrap());
    assert!(counters.is_finished(child).unwrap());
    assert!(
        !counters.is_finished(child + 1).unwrap(),
        "job numbers are not truncated"
    );
    assert_eq!(counters.launched_and_finished().unwrap(), (1, 1));
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
        assert_eq!(counters.record_done(1, parent).unwrap() as u64, parent + 1);
    }
    assert_eq!(stack.dynamodb.faults_sent(), 3);
}

// ---------------------------------------------------------------------------
// ---------------------------------------------------------------------------
// Whole runs with in-process workers

const SEED: u64 = 42;

#[test]
fn cholesky_runs_bit_identical_to_local_with_request_counts() {
    let stack = Stack::new();
    let plan = cholesky_flat_stored(4, 16);
    let Ran {
        summary,
        deliveries,
        s3,
        dynamodb,
    } = run_and_compare(&stack, &plan, InProcess::new("plain"));
    let jobs = plan.job_count();
    assert_eq!(jobs, cholesky_jobs(4));
    assert_eq!(summary.summary.executions, jobs, "no duplicate executions");
    assert_eq!(summary.summary.stray_temp_tiles, 0);
    let (loads, writes, edges) = plan_counts(&plan);
    let count = |op: &str| s3.get(op).copied().unwrap_or(0);
    assert_eq!(
        count("s3 PUT bundle"),
        1,
        "the bundle is stored once: {s3:?}"
    );
    assert!(count("s3 GET bundle") >= 1, "{s3:?}");
    assert_eq!(
        count("s3 PUT"),
        writes as u64,
        "one PUT per tile written, every tile written once: {s3:?}"
    );
    assert_eq!(
        count("s3 GET"),
        loads as u64,
        "one GET per distinct tile a job loads: {s3:?}"
    );
    eprintln!(
        "wall {:?}, retries {}, executions {}",
        summary.summary.wall, summary.summary.retries, summary.summary.executions
    );
    eprintln!(
        "requests for {jobs} jobs ({loads} loads, {writes} writes, {edges} edges): S3 {s3:?}, \
         DynamoDB {dynamodb:?}, invocations {}",
        deliveries.launches.load(SeqCst)
    );
}

/// The loop form of the Cholesky (three families over a versioned temp,
/// job numbers from the loops' bounding boxes) through the lambda backend:
/// the same factor as the local backend's run of the same plan, each job
/// once, the versions of the temp swept, and invocations that carry the
/// bundle's key, never the program.
#[test]
fn loop_cholesky_runs_bit_identical_to_local_with_small_payloads() {
    let stack = Stack::new();
    let plan = cholesky_loop(4, 16);
    assert!(
        plan.program().families.iter().all(|f| !f.loops.is_empty()),
        "a loop program"
    );
    assert_eq!(plan.job_count(), cholesky_jobs(4));
    let setup = InProcess::new("loop");
    let prefix = setup.prefix;
    let Ran {
        summary,
        deliveries,
        s3,
        ..
    } = run_and_compare(&stack, &plan, setup);
    assert_eq!(
        summary.summary.executions,
        plan.job_count(),
        "no duplicate executions"
    );
    let store = stack.store(prefix);
    assert_temps_swept(&plan, &run_view(&stack, &plan, prefix, &summary.run_id));
    // What is left: the factor and the bundle. `A = spd(7)` is generated
    // where it is read and the temps are gone.
    let key = bundle_key(&store, &plan);
    for k in store.list_keys(&format!("{prefix}/")).unwrap() {
        assert!(
            k == key || k.starts_with(&format!("{prefix}/~runs/{}/L/", summary.run_id)),
            "unexpected object {k} after the run"
        );
    }
    assert_eq!(
        s3.get("s3 PUT bundle"),
        Some(&1),
        "the bundle is stored once: {s3:?}"
    );

    // The payloads: the driver's template and every invocation.
    let template = deliveries.template.lock().unwrap().clone().unwrap();
    assert_eq!(
        template,
        WorkerPayload {
            bundle_key: key.clone(),
            job_id: 0,
            bucket: stack.bucket.clone(),
            prefix: prefix.to_string(),
            table: stack.table.clone(),
            function: "in-process".to_string(),
            // `A = spd(7)`: no input to point at.
            namespace: Namespace::new(summary.run_id.clone()),
        }
    );
    assert!(
        key.ends_with(&format!(
            "/~bundles/{}.lpb",
            bundle::content_key(plan.program())
        )),
        "{key}"
    );
    let payloads = deliveries.payloads.lock().unwrap().clone();
    assert_eq!(payloads.len() as u64, deliveries.launches.load(SeqCst));
    assert!(!payloads.is_empty(), "the roots were invoked");
    let bundle_bytes = bundle::encode(plan.program()).len();
    let mut launched: Vec<JobId> = Vec::new();
    for body in &payloads {
        let value: serde_json::Value = serde_json::from_str(body).unwrap();
        let fields = value.as_object().expect("a JSON object");
        let mut names: Vec<&str> = fields.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "bucket",
                "bundle_key",
                "function",
                "generated",
                "inputs",
                "job_id",
                "prefix",
                "run_id",
                "table"
            ],
            "{body}"
        );
        let payload: WorkerPayload = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(
            WorkerPayload {
                job_id: 0,
                ..payload.clone()
            },
            template,
            "only the job differs from the template: {body}"
        );
        assert!(
            plan.locate(payload.job_id).is_some(),
            "{body} names a job of the program"
        );
        // Nothing in it grows with the program: names, a key and a number.
        assert!(body.len() < 400, "a {}-byte payload: {body}", body.len());
        launched.push(payload.job_id);
    }
    let mut distinct = launched.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        launched.len(),
        "no job invoked twice in a run without faults: {launched:?}"
    );
    eprintln!(
        "loop Cholesky: {} jobs, {} invocations, payloads of {} to {} bytes, bundle {bundle_bytes} bytes",
        plan.job_count(),
        payloads.len(),
        payloads.iter().map(String::len).min().unwrap(),
        payloads.iter().map(String::len).max().unwrap(),
    );
}

fn duplicate_deliveries_change_nothing(plan: &Plan, prefix: &'static str) {
    let stack = Stack::new();
    let mut setup = InProcess::new(prefix);
    setup.duplicate = true;
    let summary = run_and_compare(&stack, plan, setup).summary;
    assert_temps_swept(plan, &run_view(&stack, plan, prefix, &summary.run_id));
    eprintln!(
        "{prefix}: executions {}, stray temp tiles swept {}",
        summary.summary.executions, summary.summary.stray_temp_tiles
    );
}

#[test]
fn duplicate_deliveries_of_every_invocation_change_nothing() {
    duplicate_deliveries_change_nothing(&cholesky_flat_stored(3, 8), "dup");
}

#[test]
fn duplicate_deliveries_of_a_loop_program_change_nothing() {
    duplicate_deliveries_change_nothing(&cholesky_loop(3, 8), "dup-loop");
}

#[test]
fn a_worker_dying_after_its_writes_is_relaunched_after_the_lease() {
    let stack = Stack::new();
    let plan = cholesky_flat_stored(3, 8);
    assert_eq!(plan.job_name(1), "trsm_0_1");
    let crashed = Arc::new(AtomicBool::new(false));
    let flag = crashed.clone();
    // trsm_0_1 (job 1) writes L[1, 0], then dies before recording it.
    let mut setup = InProcess::new("crash");
    setup.hooks = WorkerHooks {
        counters: Some(Arc::new(move |inner| {
            let flag = flag.clone();
            Box::new(
                InterceptedCounters::new(inner).on_record_done(move |inner, child, parent| {
                    if parent == 1 && !flag.swap(true, SeqCst) {
                        return Err(BackendError::new(
                            "injected: worker died after its writes".to_string(),
                        ));
                    }
                    inner.record_done(child, parent)
                }),
            ) as Box<dyn Counters>
        })),
        ..WorkerHooks::default()
    };
    setup.lease = Duration::from_secs(2);
    let Ran {
        summary,
        deliveries,
        ..
    } = run_and_compare(&stack, &plan, setup);
    assert!(crashed.load(SeqCst), "the injected crash happened");
    let errors = deliveries.errors();
    assert_eq!(errors.len(), 1, "exactly the injected failure: {errors:?}");
    assert!(summary.summary.retries >= 1, "the lease relaunched the job");
}

/// A job whose worker dies every time (as one outrunning the function's
/// timeout would) is relaunched a few times, then fails the run naming it,
/// instead of being relaunched every lease until the driver's own timeout.
#[test]
fn a_job_that_never_finishes_fails_the_run_after_a_few_relaunches() {
    let stack = Stack::new();
    let plan = cholesky_flat_stored(3, 8);
    assert_eq!(plan.job_name(1), "trsm_0_1");
    let mut setup = InProcess::new("never");
    setup.hooks = WorkerHooks {
        counters: Some(Arc::new(|inner| {
            Box::new(
                InterceptedCounters::new(inner).on_record_done(|inner, child, parent| {
                    if parent == 1 {
                        return Err(BackendError::new("injected: worker died".to_string()));
                    }
                    inner.record_done(child, parent)
                }),
            ) as Box<dyn Counters>
        })),
        ..WorkerHooks::default()
    };
    setup.lease = Duration::from_secs(1);
    let store = stack.store(setup.prefix);
    put_spd_input(&plan, &[&store], SEED);
    let (result, deliveries) = setup.run(&stack, &plan);
    let expected = "its lease (1 s) expired 5 times without it finishing: it takes longer \
                    than the function's timeout allows, or its worker dies every time \
                    (smaller tiles, more memory or a longer timeout)";
    match result {
        Err(RunError::Job(e)) => {
            assert_eq!((e.job.as_str(), e.op.as_str()), ("trsm_0_1", "driver"));
            assert_eq!(e.message, expected);
        }
        other => panic!("expected the driver to fail the run, got {other:?}"),
    }
    // Its first execution (on its parent's worker) and one per relaunch;
    // the run item says why.
    assert_eq!(deliveries.errors().len(), 5, "{:?}", deliveries.errors());
    let run = deliveries.template.lock().unwrap().clone().unwrap();
    let record = stack.counters(&run.namespace.run).run_record().unwrap();
    assert!(
        matches!(record.map(|r| r.status), Some(RunStatus::Failed(e)) if e.message == expected),
        "the run item says failed"
    );
}

/// A run none of whose roots could be launched fails at once with the
/// invoke's error, instead of waiting a lease per relaunch.
#[test]
fn a_failed_root_invoke_fails_the_run_at_once() {
    let stack = Stack::new();
    let plan = cholesky_flat_stored(3, 8);
    let mut setup = InProcess::new("root-lost");
    setup.failing = vec![0];
    setup.lease = Duration::from_secs(3600);
    let store = stack.store(setup.prefix);
    put_spd_input(&plan, &[&store], SEED);
    let started = std::time::Instant::now();
    let (result, deliveries) = setup.run(&stack, &plan);
    match result {
        Err(RunError::Backend(e)) => assert_eq!(e.message, "injected: invoke for job 0 failed"),
        other => panic!("expected the invoke's error, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "no lease waited"
    );
    assert_eq!(deliveries.launches.load(SeqCst), 1, "nothing else launched");
    // The run is recorded failed, so no worker would pick it up.
    let run = deliveries.template.lock().unwrap().clone().unwrap();
    let record = stack.counters(&run.namespace.run).run_record().unwrap();
    assert!(
        matches!(record.map(|r| r.status), Some(RunStatus::Failed(e))
            if e.message == "injected: invoke for job 0 failed"),
        "the run item says failed"
    );
}

#[test]
fn a_failed_invoke_is_covered_by_the_lease() {
    let stack = Stack::new();
    let plan = cholesky_flat_stored(3, 8);
    // chol_0's worker continues with its first ready child (job 1) and
    // invokes the other (job 2, trsm_0_2): fail that invoke.
    assert_eq!(plan.job_name(2), "trsm_0_2");
    let mut setup = InProcess::new("lost");
    setup.failing = vec![2];
    setup.lease = Duration::from_secs(2);
    let Ran {
        summary,
        deliveries,
        ..
    } = run_and_compare(&stack, &plan, setup);
    assert!(
        deliveries.failing.lock().unwrap().is_empty(),
        "the injected invoke failure happened"
    );
    assert!(
        summary.summary.retries >= 1,
        "the lease relaunched the lost job"
    );
}

#[test]
fn throttled_s3_and_dynamodb_still_give_the_same_factor() {
    let stack = Stack::new();
    let plan = cholesky_flat_stored(3, 8);
    let expected = local_reference(&plan, SEED);
    let store = stack.store("throttle");
    put_spd_input(&plan, &[&store], SEED);
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
    let mut setup = InProcess::new("throttle");
    setup.lease = Duration::from_secs(60);
    let (result, deliveries) = setup.run(&stack, &plan);
    let summary =
        result.unwrap_or_else(|e| panic!("run failed: {e}; workers: {:?}", deliveries.errors()));
    assert_eq!(stack.s3.faults_sent(), 10);
    assert_eq!(stack.dynamodb.faults_sent(), 10);
    let view = run_view(&stack, &plan, "throttle", &summary.run_id);
    assert_same_factor(&plan, expected.as_ref(), &view);
    assert_each_job_counted_once(&stack, &plan, &summary.run_id);
}

/// Runs `plan` with `-I` (symmetric, not positive definite) as `A`, which
/// must have no initialiser, and returns the job error that stopped it.
fn run_on_minus_identity(plan: &Plan, prefix: &'static str) -> JobError {
    let stack = Stack::new();
    let store = stack.store(prefix);
    let info = &plan.program().matrices[A as usize];
    assert!(info.init.is_none());
    store.put_header("A", &info.header).unwrap();
    let [n, _] = info.header.grid();
    let [b, _] = info.header.tile_shape;
    for i in 0..n {
        for j in 0..=i {
            let t = Tile::from_fn(b, b, |r, c| if r == c && i == j { -1.0 } else { 0.0 });
            store.put_tile("A", i, j, Arc::new(t)).unwrap();
        }
    }
    let mut setup = InProcess::new(prefix);
    setup.lease = Duration::from_secs(60);
    let (result, _) = setup.run(&stack, plan);
    match result {
        Err(RunError::Job(e)) => {
            let keys = store.list_keys(&format!("{prefix}/")).unwrap();
            assert!(
                !keys
                    .iter()
                    .any(|k| k.contains("/L/") && k.ends_with(".npy")),
                "nothing written: {keys:?}"
            );
            *e
        }
        other => panic!("expected a job error, got {other:?}"),
    }
}

#[test]
fn a_kernel_error_stops_the_run_naming_job_kernel_and_tile() {
    let e = run_on_minus_identity(&cholesky_flat_stored(2, 4), "notspd");
    assert_eq!(e.job, "chol_0");
    assert_eq!(e.op, "CHOL");
    assert_eq!(e.tile.as_deref(), Some("A[0, 0]"));
    assert_eq!(e.output.as_deref(), Some("L[0, 0]"));
    // chol_0 is on line 1, its load on line 2 and its CHOL on line 3.
    assert_eq!(e.source.as_deref(), Some("test.lp:3"));
    assert_eq!(
        e.message,
        "matrix is not positive definite (pivot 0 is -1e0), entry (0, 0) of A"
    );
    // The kind comes back through the run's DynamoDB record, for callers
    // (Python's exception classes) that must not parse the message.
    assert_eq!(e.kind, FailureKind::NotPositiveDefinite);
}

#[test]
fn a_kernel_error_in_a_loop_program_names_the_iteration_and_the_base_tile() {
    let mut program = cholesky_loops(2, 4, Body::Kernels);
    program.matrices[A as usize].init = None;
    let plan = checked(program);
    let chol = &plan.program().families[0];
    assert_eq!(chol.name, "chol");
    let line = chol.lines[1];
    let e = run_on_minus_identity(&plan, "notspd-loop");
    assert_eq!(e.job, "chol[0]");
    assert_eq!(e.op, "CHOL");
    // S[0, 0, 0] is version 0 of S: the input's tile.
    assert_eq!(e.tile.as_deref(), Some("A[0, 0]"));
    assert_eq!(e.output.as_deref(), Some("L[0, 0]"));
    assert_eq!(e.source, Some(format!("test.lp:{line}")));
}

#[test]
fn a_worker_drops_its_job_once_the_run_has_ended() {
    let stack = Stack::new();
    let plan = cholesky_flat_stored(2, 4);
    let store = stack.store("ended");
    put_spd_input(&plan, &[&store], SEED);
    let key = bundle_key(&store, &plan);
    store
        .put_object(&key, bundle::encode(plan.program()))
        .unwrap();
    let run = unique("run");
    let counters = stack.counters(&run);
    counters.start_run(plan.job_count()).unwrap();
    // What the driver does on Ctrl-C.
    let cancelled = JobError::of_run("driver", "cancelled by the driver");
    assert!(counters.fail_run(&cancelled).unwrap());
    let payload = WorkerPayload {
        bundle_key: key,
        job_id: 0,
        bucket: stack.bucket.clone(),
        prefix: "ended".to_string(),
        table: stack.table.clone(),
        function: "unused".to_string(),
        namespace: Namespace {
            inputs: [("A".to_string(), "A".to_string())].into(),
            ..Namespace::new(run)
        },
    };
    let report = handle_job(&stack.clients, &payload, None, &WorkerHooks::default()).unwrap();
    assert!(report.run_ended, "{report:?}");
    assert_eq!(report.jobs_run, Vec::<JobId>::new());
    let view = run_view(&stack, &plan, "ended", &payload.namespace.run);
    assert_eq!(view.list_tiles("L").unwrap(), vec![], "nothing computed");
    let record = counters.run_record().unwrap().unwrap();
    assert_eq!(record.status, RunStatus::Failed(cancelled));
    assert_eq!(record.executions, 0);
}

/// A launcher for a worker run by hand: records what it would invoke.
struct Recorded(Arc<Mutex<Vec<JobId>>>);

impl Launcher for Recorded {
    fn launch(&self, job: JobId) -> ProtoResult<()> {
        self.0.lock().unwrap().push(job);
        Ok(())
    }
}

#[test]
fn a_worker_refuses_a_corrupt_truncated_or_foreign_bundle() {
    // A refused bundle can never become valid (its key names its content),
    // so the worker fails the run at once rather than leaving the job to be
    // relaunched until the driver times out.
    let stack = Stack::new();
    let plan = cholesky_loop(2, 4);
    let store = stack.store("refused");
    let key = bundle_key(&store, &plan);
    let good = bundle::encode(plan.program());
    let launched = Arc::new(Mutex::new(Vec::new()));
    let l = launched.clone();
    let hooks = WorkerHooks {
        launcher: Some(Arc::new(move |_: &WorkerPayload| {
            Box::new(Recorded(l.clone())) as Box<dyn Launcher>
        })),
        ..WorkerHooks::default()
    };
    let payload = |run: &str| WorkerPayload {
        bundle_key: key.clone(),
        job_id: 0,
        bucket: stack.bucket.clone(),
        prefix: "refused".to_string(),
        table: stack.table.clone(),
        function: "unused".to_string(),
        namespace: Namespace::new(run),
    };
    let mut corrupt = good.clone();
    *corrupt.last_mut().unwrap() ^= 0x55;
    // Another program's valid bundle, stored under this program's key.
    let foreign = bundle::encode(&cholesky_loops(3, 4, Body::Kernels));
    let cases: [(&str, Vec<u8>, &str); 5] = [
        ("corrupt", corrupt, "corrupted bundle: payload hash is "),
        (
            "truncated",
            good[..good.len() - 9].to_vec(),
            "truncated bundle: expected ",
        ),
        ("foreign", foreign, " is not this bundle"),
        (
            "not a bundle",
            b"matrix A : f64[4, 4] tile [2, 2] input\n".to_vec(),
            "not a lambdapack bundle",
        ),
        ("missing", Vec::new(), "does not exist"),
    ];
    for (what, bytes, expected) in cases {
        if what == "missing" {
            store.delete_object(&key).unwrap();
        } else {
            store.put_object(&key, bytes).unwrap();
        }
        let run = unique("run");
        let counters = stack.counters(&run);
        counters.start_run(plan.job_count()).unwrap();
        let message = match handle_job(&stack.clients, &payload(&run), None, &hooks) {
            Err(RunError::InvalidBundle(m)) => m,
            other => panic!("{what}: expected a refused bundle, got {other:?}"),
        };
        assert!(
            message.contains(expected) && message.contains(&key),
            "{what}: {message}"
        );
        assert_eq!(counters.launched_and_finished().unwrap(), (0, 0));
        // The run is failed with the worker's reason, which the driver
        // reports without a job name.
        match counters.run_record().unwrap().unwrap().status {
            RunStatus::Failed(e) => assert_eq!(e.to_string(), format!("bundle: {message}")),
            other => panic!("{what}: the run is {other:?}"),
        }
    }
    assert_eq!(store.list_tiles("L").unwrap(), vec![], "nothing computed");
    assert_eq!(launched.lock().unwrap().len(), 0);
    // The bundle itself, restored, in a new run: the same invocation runs.
    store.put_object(&key, good).unwrap();
    let run = unique("run");
    let counters = stack.counters(&run);
    counters.start_run(plan.job_count()).unwrap();
    let report = handle_job(&stack.clients, &payload(&run), None, &hooks).unwrap();
    assert_eq!(report.jobs_run.first(), Some(&0), "{report:?}");
    assert!(counters.is_finished(0).unwrap());
}
