//! The simulator against small cases timed by hand.
//!
//! One model with round figures (below) makes every step a whole number of
//! milliseconds on 100 x 100 tiles (80,000 bytes):
//!
//! * a load of a stored tile: GET 1 ms + 80,000 B / 10 MB/s = 9 ms; of a
//!   lazy input: 10,000 elements / 1e6 per s = 10 ms, with no request;
//! * a write: PUT 2 ms + 8 ms = 10 ms;
//! * every kernel: 10 ms (ADD 1e4 flops at 1e-3 GFLOP/s, CHOL 1e6/3 at
//!   1/30, TRSM 1e6 at 0.1, SYRK 2e6 at 0.2), but a SYRK of one tile: 1e6
//!   flops, 5 ms;
//! * a counter update 1 ms; a counter read, a launch, a delivery and a
//!   DELETE cost nothing, and so does a transposed load's copy (80,000 B
//!   at 1e15 B/s is 0.08 ns, rounded to 0).
//!
//! The protocol's own steps then add, per finished job: 1 ms per child
//! recorded, 1 ms per child it wins the launch of, 1 ms to mark it finished
//! and 1 ms per temp tile it read; the driver's launch of a root costs 1 ms.

use lp_program::Plan;
use lp_sim::report::Requests;
use lp_sim::{Model, Report, SimOptions, simulate};
use lpc::frontend::{CompileOptions, compile_source};

/// The test model (also used by lpc/tests/sim.rs).
const MODEL: &str = include_str!("exact.toml");

const MS: u64 = 1_000_000;

fn plan(src: &str, settings: &[(&str, i64)]) -> Plan {
    let opts = CompileOptions {
        settings: settings.iter().map(|&(n, v)| (n.to_string(), v)).collect(),
        ..CompileOptions::default()
    };
    let outcome = compile_source(src, "test.lp", &opts).expect("known settings");
    assert!(
        outcome.diagnostics.is_empty(),
        "{:?}",
        outcome.diagnostics.len()
    );
    outcome.compiled.expect("compiles").checked.plan
}

fn run(plan: &Plan, workers: u64) -> Report {
    run_with(plan, workers, &[])
}

/// `run` with figures of the test model replaced (`(old line start, new
/// line)`).
fn run_with(plan: &Plan, workers: u64, changes: &[(&str, &str)]) -> Report {
    let mut text = MODEL.to_string();
    for (start, line) in changes {
        let at = text.find(start).unwrap_or_else(|| panic!("no `{start}`"));
        let end = at + text[at..].find('\n').unwrap();
        text.replace_range(at..end, line);
    }
    let model = Model::parse(&text, "exact").expect("the test model parses");
    let opts = SimOptions::new(workers);
    simulate(plan, &model, &opts).expect("simulates")
}

const CHAIN: &str = "
matrix A : f64[100, 100] tile [100, 100] input = random(1)
matrix T1 : f64[100, 100] tile [100, 100] temp
matrix T2 : f64[100, 100] tile [100, 100] temp
matrix C : f64[100, 100] tile [100, 100] output
first:
    %a = S3_LOAD A[0, 0]
    %b = ADD %a, %a
    S3_WRITE T1[0, 0], %b
second:
    %a = S3_LOAD T1[0, 0]
    %b = ADD %a, %a
    S3_WRITE T2[0, 0], %b
third:
    %a = S3_LOAD T2[0, 0]
    %b = ADD %a, %a
    S3_WRITE C[0, 0], %b
";

/// first: root launch 1 ms; body 10 + 10 + 10 = 30 (writes durable at 31);
/// record + launch second 2, finish 1: done at 34, continues with second.
/// second: body 9 + 10 + 10 = 29 (63); record + launch 2, finish 1,
/// release T1 1: 67. third: body 29 (96); finish 1, release T2 1: 98.
#[test]
fn chain_on_one_worker() {
    let r = run(&plan(CHAIN, &[]), 1);
    assert_eq!(r.makespan, 98 * MS);
    // The bodies back to back: 30 + 29 + 29.
    assert_eq!(r.critical_path, 88 * MS);
    // Busy from each job's start to its protocol steps' end: 33 + 33 + 31.
    assert_eq!(r.busy, 97 * MS);
    assert_eq!(
        r.requests,
        Requests {
            // second's and third's loads; first's input is generated.
            store_gets: 2,
            store_puts: 3,
            store_deletes: 2,
            counter_reads: 3,
            counter_writes: 10,
            counter_queries: 0,
            query_read_units: 0,
            invocations: 1,
        }
    );
    // The memory store hands T1 over to second, its only reader, before
    // T2 is written, and T2 to third before C is: one tile at a time, as
    // `lpc run` of this program reports (peak temps 78.1 KiB).
    assert_eq!((r.peak_tiles, r.peak_temp_tiles), (1, 1));
    assert_eq!(r.executions, 3);
}

const FORK_JOIN: &str = "
matrix A : f64[100, 100] tile [100, 100] input = random(1)
matrix X : f64[100, 100] tile [100, 100] temp
matrix Y : f64[100, 200] tile [100, 100] temp
matrix C : f64[100, 100] tile [100, 100] output
fork:
    %a = S3_LOAD A[0, 0]
    %b = ADD %a, %a
    S3_WRITE X[0, 0], %b
left:
    %a = S3_LOAD X[0, 0]
    %b = ADD %a, %a
    S3_WRITE Y[0, 0], %b
right:
    %a = S3_LOAD X[0, 0]
    %b = ADD %a, %a
    S3_WRITE Y[0, 1], %b
join:
    %a = S3_LOAD Y[0, 0]
    %b = S3_LOAD Y[0, 1]
    %c = ADD %a, %b
    S3_WRITE C[0, 0], %c
";

/// fork (worker 0): root launch 1; body 30 (31); left ready 2 (33), right
/// ready 2 and launched at 35, finish 1: 36, continues with left.
/// right (worker 1, idle): starts at 35, body 29 (64); records join 1,
/// finish 1, releases X 1 (one reader left): 67.
/// left: starts at 36, body 29 (65); records join 1 (complete) + launch 1,
/// finish 1, releases X 1 (last reader, deleted): 69, continues with join.
/// join: body 9 + 9 + 10 + 10 = 38 (107); finish 1, releases Y[0, 0] and
/// Y[0, 1] 2: 110.
#[test]
fn fork_join_on_two_workers() {
    let r = run(&plan(FORK_JOIN, &[]), 2);
    assert_eq!(r.makespan, 110 * MS);
    // fork 30, then left or right 29, then join 38.
    assert_eq!(r.critical_path, 97 * MS);
    // Worker 0: fork 35, left 33, join 41; worker 1: right 32.
    assert_eq!(r.busy, 141 * MS);
    assert_eq!(r.work_bound, 70 * MS + MS / 2);
    assert_eq!(r.requests.store_gets, 4);
    assert_eq!(r.requests.store_puts, 4);
    assert_eq!(r.requests.store_deletes, 3);
    assert_eq!(r.requests.counter_writes, 16);
    // The driver's launch of the root, and fork's launch of right.
    assert_eq!(r.requests.invocations, 2);
}

/// On one worker the launched `right` waits in the queue behind left.
/// fork ends at 36 as above; left 36-65, records join 1 (not complete),
/// finish 1, releases X 1 (one reader left): 68. right leaves the queue at
/// 68, body 29 (97), records join 1 + launch 1, finish 1, releases X 1:
/// 101. join 101 + 38 = 139, + 3: 142.
#[test]
fn fork_join_on_one_worker() {
    let r = run(&plan(FORK_JOIN, &[]), 1);
    assert_eq!(r.makespan, 142 * MS);
    assert_eq!(r.critical_path, 97 * MS);
}

/// lib/cholesky.lp with 2 x 2 tiles of 100: chol[0], trsm[0, 1],
/// syrk[0, 1, 1], chol[1], a chain (syrk loads A[1, 1] and L[1, 0] only).
/// chol[0]: launch 1; load A[0, 0] (lazy spd) 10, CHOL 10, write 10: 31;
/// record + launch 2, finish 1: 34. trsm: A[1, 0] 10, L[0, 0] 9, TRSM 10,
/// write 10 = 39: 73; + 3: 76. syrk: A[1, 1] 10, L[1, 0] 9 (its second
/// operand is the same tile, loaded once), SYRK 5, write 10 = 34: 110;
/// then 3 more: 113. chol[1]: S[1, 1, 1] 9, CHOL 10, write 10 = 29: 142;
/// finish 1, release S[1, 1, 1] 1: 144.
#[test]
fn cholesky_2x2() {
    let src = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../lib/cholesky.lp"))
        .expect("lib/cholesky.lp");
    let p = plan(&src, &[("n", 200), ("b", 100)]);
    assert_eq!(p.job_count(), 4);
    let r = run(&p, 2);
    assert_eq!(r.makespan, 144 * MS);
    assert_eq!(r.critical_path, 132 * MS);
    // L[0, 0], L[1, 0] and S[1, 1, 1]; A's tiles are generated.
    assert_eq!(r.requests.store_gets, 3);
    assert_eq!(r.requests.store_puts, 4);
    assert_eq!(r.requests.store_deletes, 1);
    assert_eq!(r.requests.invocations, 1);
    // 2 CHOL (1e6 / 3 each), TRSM 1e6, SYRK of one tile 1e6; the metrics
    // count whole flops.
    assert_eq!(r.flops, 2_666_666.0);
}

/// cholesky_2x2 with a rate of its own for the symmetric `SYRK` (the name
/// `lpc run`'s summary times it under), half SYRK's: its 1e6 flops take 10
/// ms instead of 5, on the critical path: 5 ms later.
#[test]
fn a_symmetric_syrk_takes_its_own_rate_where_the_model_gives_one() {
    let src = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../lib/cholesky.lp"))
        .expect("lib/cholesky.lp");
    let p = plan(&src, &[("n", 200), ("b", 100)]);
    let own = "SYRK = [[1, 0.2]]\n\"SYRK (A Aᵀ)\" = [[1, 0.1]]";
    let r = run_with(&p, 2, &[("SYRK = ", own)]);
    assert_eq!(r.makespan, 149 * MS);
}

/// The chain with a GET latency of 4 ms instead of 1: second's and
/// third's loads take 3 ms more each; first's input is generated without
/// a request, so it does not: 6 ms later.
#[test]
fn a_generated_input_costs_no_request() {
    let slow = "get_latency_s = { value = 0.004, source = \"test\" }";
    let r = run_with(&plan(CHAIN, &[]), 1, &[("get_latency_s", slow)]);
    assert_eq!(r.makespan, 104 * MS);
}

/// `read[k]` for k = 0, 1, 2: each loads one generated n x n tile, adds it
/// to itself and writes its own.
const THREE_READERS: &str = include_str!("../../tests/pass/three_readers.lp");

/// On the threads platform (`lpc run`'s local backend) the first load of a
/// generated tile that later loads read keeps it for them: the first
/// job's body is 10 + 10 + 10 ms, the others' 0 + 10 + 10; each finishes in
/// 1 ms: busy 31 + 21 + 21.
#[test]
fn a_generated_tile_read_again_is_generated_once() {
    let r = run(&plan(THREE_READERS, &[]), 1);
    assert_eq!(r.busy, 73 * MS);
}

/// Past the local backend's budget for kept inputs (1 GiB) a generated
/// tile is generated at every load: a 12,000 x 12,000 tile (1.152 GB) is
/// generated in 144 s, added in 144 s and written in three round trips (6
/// ms, as `large_tiles_take_several_round_trips`) + 115.2 s by each job,
/// which finishes in 1 ms: 403.207 s, three times.
#[test]
fn a_generated_tile_past_the_budget_is_generated_at_each_load() {
    let r = run(&plan(THREE_READERS, &[("n", 12_000)]), 1);
    assert_eq!(r.busy, 3 * 403_207 * MS);
}

/// With read times by size, second's and third's 100 x 100 tiles (80,128
/// bytes as `.npy`) take a third of the way from 5 ms at 40,064 bytes to
/// 29 ms at 160,256: 13 ms instead of 9, 8 ms more in all (98 + 8).
#[test]
fn read_times_by_size_replace_latency_and_bandwidth() {
    let table = "get_seconds_by_size = { value = [[40064.0, 0.005], [160256.0, 0.029]], \
                 source = \"test\" }\ntranspose_bytes_per_s = { value = 1e15, source = \"test\" }";
    let r = run_with(&plan(CHAIN, &[]), 1, &[("transpose_bytes_per_s", table)]);
    assert_eq!(r.makespan, 106 * MS);
}

/// A 4096 x 4096 tile (134,217,856 bytes as `.npy`) is read in 9 ranges
/// after a first one (two round trips: 2 ms) and written in 9 parts
/// between a create and a complete (three: 6 ms), each way 13,421.7728 ms
/// at 10 MB/s. Root launch 1 ms, body 26,851.5456 ms, finish 1 ms.
#[test]
fn large_tiles_take_several_round_trips() {
    let copy = "
matrix A : f64[4096, 4096] tile [4096, 4096] input
matrix C : f64[4096, 4096] tile [4096, 4096] output
copy:
    %a = S3_LOAD A[0, 0]
    S3_WRITE C[0, 0], %a
";
    let r = run(&plan(copy, &[]), 1);
    assert_eq!(r.makespan, 26_853_545_600);
    assert_eq!((r.requests.store_gets, r.requests.store_puts), (9, 11));
}

/// fork_join_on_two_workers with a host contention of 0.5: a body that
/// starts while the other worker is busy takes 1.5 times as long.
/// fork starts alone (1-31) and finishes at 36; right starts at 35 while
/// worker 0 finishes fork: 29 x 1.5 = 43.5 (78.5), then records join 1,
/// finish 1, releases X 1: 81.5. left starts at 36 with right running:
/// 43.5 (79.5), records join (complete) and wins its launch 2, finish 1,
/// releases X 1 (the last reader): 83.5. join starts at 83.5 with worker 1
/// idle: 38 (121.5), + 3: 124.5.
#[test]
fn bodies_stretch_while_other_workers_are_busy() {
    let contention = "host_contention = { value = 0.5, source = \"test\" }";
    let r = run_with(&plan(FORK_JOIN, &[]), 2, &[("host_contention", contention)]);
    assert_eq!(r.makespan, 124_500_000);
    // fork 35, left 47.5, join 41; right 46.5.
    assert_eq!(r.busy, 170 * MS);
}

#[test]
fn gemm_sub_takes_gemms_rate_unless_the_model_gives_it_one() {
    let kernel = |name| lp_std::Kernel::from_name(name).unwrap();
    let seconds = |text: &str, name| {
        let model = Model::parse(text, "exact").expect("the test model parses");
        model.kernel_seconds(kernel(name), false, 100, 2e6)
    };
    // Without a GEMM table both fall back to the default (1e-3 GFLOP/s).
    assert_eq!(seconds(MODEL, "GEMM_SUB"), 2.0);
    let gemm = MODEL.replace("SYRK = [[1, 0.2]]", "SYRK = [[1, 0.2]]\nGEMM = [[1, 0.5]]");
    assert_eq!(seconds(&gemm, "GEMM"), 0.004);
    assert_eq!(seconds(&gemm, "GEMM_SUB"), 0.004);
    // GEMM_NT has no table: a transposed operand is not the same call.
    assert_eq!(seconds(&gemm, "GEMM_SUB_NT"), 2.0);
    let own = gemm.replace(
        "GEMM = [[1, 0.5]]",
        "GEMM = [[1, 0.5]]\nGEMM_SUB = [[1, 0.25]]",
    );
    assert_eq!(seconds(&own, "GEMM_SUB"), 0.008);
}

/// One job, timed by hand in the tests below.
const ONE: &str = include_str!("../../tests/pass/one_job.lp");

/// On Lambda with a 1 ms poll, one job of 1000 s: the driver polls a
/// million times, and a relaunch falls between two events. The root's
/// launch takes 1 ms; the body generates A at 10 elements/s (1000 s), adds
/// (10 ms) and writes (10 ms): its writes are durable at 1000.021 s, its
/// finish and metrics take 2 ms (1000.023 s). The polls at 1 ms to
/// 1,000.020 s are 1,000,020 reads (the one at 1000.021 s comes after the
/// writes, which were due first). The lease (700 s) is checked every 175
/// s: at 175, 350, 525, 700, 875 s, five Queries of one page; the job,
/// launched at 1 ms, is overdue from 700.001 s, so the check at 875 s
/// relaunches it (1 ms) onto a second environment, where it runs again.
/// Reads: the polls, and a status read and a finished check per start;
/// writes: the launch, the relaunch, the finish and the metrics; PUTs: the
/// write of each body, counted as it starts.
#[test]
fn polls_between_events_are_counted_not_simulated() {
    let changes = [
        ("kind", "kind = \"lambda\""),
        ("poll_s", "poll_s = { value = 0.001, source = \"test\" }"),
        ("lease_s", "lease_s = { value = 700.0, source = \"test\" }"),
        (
            "init_elements_per_s",
            "init_elements_per_s = { value = { zeros = 1e6, identity = 1e6, random = 10.0, \
             spd = 1e6 }, source = \"test\" }",
        ),
    ];
    let r = run_with(&plan(ONE, &[]), 2, &changes);
    assert_eq!(r.makespan, 1_000_023 * MS);
    assert_eq!((r.executions, r.relaunches, r.repeats()), (2, 1, 1));
    assert_eq!(
        r.requests,
        Requests {
            store_gets: 0,
            store_puts: 2,
            store_deletes: 0,
            counter_reads: 1_000_024,
            counter_writes: 4,
            counter_queries: 5,
            query_read_units: 5,
            invocations: 2,
        }
    );
}

/// `CHAIN` with second's kernel a `SUB` of 1 s (1e4 flops at 1e-5
/// GFLOP/s), under a 300 ms lease checked every 75 ms, on two workers.
/// first runs as in `chain_on_one_worker` (1 to 34 ms) and worker 0
/// continues with second, restarting its lease at 34: second takes T1 from
/// the memory store (its only reader) and runs to 1057 (body 9 + 1000 + 10,
/// then record and launch third 2, finish 1, release T1 1); third runs to
/// 1088. second is overdue from 334 ms, so the check at 375 relaunches it
/// onto worker 1, whose execution restarts the lease, finds T1 taken and
/// stops at once; the same at 750. So five executions, two relaunches, and
/// nothing more than the three jobs' own work: busy 33 + 1023 + 31 ms,
/// two GETs (second's and third's), as in a real run on the memory store,
/// where the duplicates stop at their load of T1.
#[test]
fn a_duplicate_finds_its_handed_over_temp_taken_and_stops() {
    let src = CHAIN.replacen(
        "%b = ADD %a, %a\n    S3_WRITE T2",
        "%b = SUB %a, %a\n    S3_WRITE T2",
        1,
    );
    let changes = [
        ("SYRK = ", "SUB = [[1, 0.00001]]"),
        ("lease_s", "lease_s = { value = 0.3, source = \"test\" }"),
    ];
    let r = run_with(&plan(&src, &[]), 2, &changes);
    assert_eq!((r.executions, r.relaunches), (5, 2));
    assert_eq!(r.makespan, 1088 * MS);
    assert_eq!(r.busy, 1087 * MS);
    assert_eq!(r.requests.store_gets, 2);
    assert_eq!((r.peak_tiles, r.peak_temp_tiles), (1, 1));
}
