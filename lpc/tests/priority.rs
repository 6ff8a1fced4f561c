//! Stated priorities (`LABEL: priority EXPR`): `lib/cholesky.lp` states its
//! jobs' bottom levels in closed form, so that a Cholesky too large for the
//! runtime to enumerate (over `PRIORITY_LIMIT` jobs) still runs critical
//! path first. Here they are checked against the bottom levels computed from
//! the DAG, and the runtime is checked to use them.

use lp_program::cost::job_flops;
use lp_program::dag::JobGraph;
use lp_runtime::protocol::Priorities;
use lpc::diagnostics::render_plain;
use lpc::{CompileOptions, Compiled, compile_source, expand, library};

fn cholesky(n: i64, b: i64) -> Compiled {
    let opts = CompileOptions {
        settings: vec![("n".to_string(), n), ("b".to_string(), b)],
        ..CompileOptions::default()
    };
    let src = library::source("cholesky").unwrap();
    let outcome = compile_source(src, "cholesky", &opts).expect("known parameters");
    assert!(
        outcome.diagnostics.is_empty(),
        "{}",
        render_plain("cholesky", src, &outcome.diagnostics)
    );
    outcome.compiled.expect("no error")
}

/// In units of b³/3 flops, the stated priority of every job equals its
/// bottom level (the flops on the longest chain from it to the end, its
/// own included), exactly: the same numbers, so the same order.
#[test]
fn the_cholesky_states_its_bottom_levels() {
    for nt in 1..=12 {
        let b = 16;
        let compiled = cholesky(nt * b, b);
        let plan = compiled.plan();
        let graph = JobGraph::build(plan, 1_000_000).expect("small program");
        let flops: Vec<f64> = graph
            .jobs
            .iter()
            .map(|&j| job_flops(plan, &plan.locate(j).unwrap()))
            .collect();
        let (bottom, _) = graph.bottom_levels(&|n| flops[n]).expect("acyclic");
        let unit = (b * b * b) as f64 / 3.0;
        for (&job, &level) in graph.jobs.iter().zip(&bottom) {
            let stated = plan
                .stated_priority(job)
                .expect("stated")
                .expect("evaluates");
            assert_eq!(
                stated as f64 * unit,
                level,
                "nt = {nt}: {} states {stated}, its bottom level is {} b³/3",
                plan.job_name(job),
                level / unit
            );
        }
    }
}

/// The runtime's priorities are the stated ones, at any size: a 300 x 300
/// tile Cholesky (4.5 M jobs, over the limit for computed bottom levels)
/// still has them, and its first factorization is the most urgent job.
#[test]
fn the_runtime_uses_stated_priorities_beyond_the_enumeration_limit() {
    let compiled_small = cholesky(8 * 16, 16);
    let small = compiled_small.plan();
    let p = Priorities::compute(small).expect("stated");
    let mut jobs = Vec::new();
    small.walk(&mut |_, _, id| {
        jobs.push(id);
        true
    });
    for &job in &jobs {
        assert_eq!(
            p.of(job),
            small.stated_priority(job).unwrap().unwrap() as f64
        );
    }
    // Stated priorities build no graph, so they carry no critical path.
    assert_eq!(p.critical_path_jobs, None);
    assert_eq!(
        lp_runtime::protocol::critical_path_jobs(small),
        Some(3 * 8 - 2)
    );

    let nt = 300;
    let compiled_large = cholesky(nt * 16, 16);
    let large = compiled_large.plan();
    assert!(large.job_count() > lp_runtime::protocol::priority::PRIORITY_LIMIT);
    let p = Priorities::compute(large).expect("stated priorities need no graph");
    assert_eq!(p.critical_path_jobs, None);
    let chol0 = large.job_id(0, &[0]);
    assert_eq!(large.job_name(chol0), "chol[0]");
    assert_eq!(p.of(chol0), (9 * nt - 10) as f64);
}

/// `lpc expand` prints each job's priority as a number, and the flat
/// program it prints states the same priorities job for job.
#[test]
fn expand_keeps_the_priorities() {
    let compiled = cholesky(4 * 16, 16);
    let mut flat = Vec::new();
    expand::write_flat(compiled.plan(), "expansion", &mut flat).unwrap();
    let flat = String::from_utf8(flat).unwrap();
    assert!(flat.contains("\nchol[0]: priority 26\n"), "{flat}");
    assert!(flat.contains("\nsyrk[0, 3, 1]: priority 22\n"), "{flat}");
    let outcome = compile_source(&flat, "flat", &CompileOptions::default()).unwrap();
    let flat = outcome.compiled.expect("the flat form checks");
    let flat_plan = flat.plan();
    let mut names = Vec::new();
    compiled.plan().walk(&mut |_, _, id| {
        names.push((
            compiled.plan().job_name(id),
            compiled.plan().stated_priority(id),
        ));
        true
    });
    let mut flat_names = Vec::new();
    flat_plan.walk(&mut |_, _, id| {
        flat_names.push((flat_plan.job_name(id), flat_plan.stated_priority(id)));
        true
    });
    assert_eq!(names, flat_names);
}

/// A priority that does not evaluate (here, for k = 0) ranks below every
/// value, i64::MIN (k = 2) included: `lpc expand` prints one that does not
/// evaluate either, with the reason, and i64::MIN, which has no literal, as
/// a difference; the flat program orders the jobs the same.
#[test]
fn expand_keeps_the_extreme_priorities() {
    let src = "\
param n = 6, b = 2, nt = ceil(n / b)
matrix A : sym f64[n, n] tile [b, b] input = spd(1)
matrix L : lower f64[n, n] tile [b, b] output
for k in range(nt) {
    chol: priority 4611686018427387904 * (2 - 2 * k)
        %l = CHOL A[k, k]
        S3_WRITE L[k, k], %l
}
";
    let outcome = compile_source(src, "overflow", &CompileOptions::default()).unwrap();
    let compiled = outcome.compiled.expect("warnings only");
    let mut flat = Vec::new();
    expand::write_flat(compiled.plan(), "expansion", &mut flat).unwrap();
    let flat = String::from_utf8(flat).unwrap();
    let heads: Vec<&str> = flat.lines().filter(|l| l.starts_with("chol[")).collect();
    assert_eq!(
        heads,
        [
            "chol[0]: priority 9223372036854775807 + 1 ; does not evaluate (the value overflows \
             64 bits)",
            "chol[1]: priority 0",
            "chol[2]: priority -9223372036854775807 - 1",
        ]
    );
    let flat_outcome = compile_source(&flat, "flat", &CompileOptions::default()).unwrap();
    let flat_compiled = flat_outcome.compiled.expect("the flat form checks");
    let stated = |plan: &lp_program::Plan, job: &str| {
        let mut found = None;
        plan.walk(&mut |_, _, id| {
            if plan.job_name(id) == job {
                found = plan.stated_priority(id);
            }
            found.is_none()
        });
        found.expect("a stated priority")
    };
    for job in ["chol[0]", "chol[1]", "chol[2]"] {
        assert_eq!(
            stated(flat_compiled.plan(), job),
            stated(compiled.plan(), job),
            "{job}"
        );
    }
    let order = |plan: &lp_program::Plan| {
        let p = Priorities::compute(plan).expect("small program");
        let mut jobs = Vec::new();
        plan.walk(&mut |_, _, id| {
            jobs.push((plan.job_name(id), id));
            true
        });
        jobs.sort_by(|a, b| p.of(b.1).total_cmp(&p.of(a.1)));
        jobs.into_iter().map(|(name, _)| name).collect::<Vec<_>>()
    };
    assert_eq!(order(compiled.plan()), ["chol[1]", "chol[2]", "chol[0]"]);
    assert_eq!(
        order(flat_compiled.plan()),
        ["chol[1]", "chol[2]", "chol[0]"]
    );
}
