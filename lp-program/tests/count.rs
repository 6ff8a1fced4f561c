//! What must not enumerate the jobs: counting them, counting the jobs
//! whose loads name one tile, finding the first roots, and a DAG
//! enumeration its caller stops. Each at a size where an enumeration
//! could not finish (the Cholesky at 100,000 tiles a side has 1.7e14 jobs,
//! and its updates' two outer loops alone 5e9 iterations), and with the
//! steps taken counted where the interface says how many.

mod support;
use lp_program::Plan;
use lp_program::count::points;
use lp_program::dag::JobGraph;
use lp_program::ir::Role;
use support::*;

fn syrk_family(plan: &Plan) -> u32 {
    (0..plan.program().families.len() as u32)
        .find(|&f| plan.family(f).name == "syrk")
        .expect("the Cholesky has updates")
}

#[test]
fn the_jobs_of_a_cholesky_of_trillions_are_counted_in_steps_linear_in_its_side() {
    const NT: i64 = 100_000;
    let plan = Plan::new(cholesky(NT)).unwrap();
    let n = NT as u64;
    assert_eq!(
        plan.job_count(),
        n + n * (n - 1) / 2 + (n - 1) * n * (n + 1) / 6
    );
    for f in 0..plan.program().families.len() as u32 {
        for spec in &plan.compiled(f).expect("loop families").specs {
            let counted = points(&spec.levels, &[]).expect("a closed form");
            assert_eq!(counted.points, plan.family_job_count(f));
            // The outer loop's values only (the updates' k), never (k, i).
            assert!(counted.steps <= n, "{} steps", counted.steps);
        }
    }
    // The diagonal updates (L[i, k] and L[j, k] one tile): j = i.
    assert_eq!(
        plan.count_same_loads(syrk_family(&plan), 1, 2),
        n * (n - 1) / 2
    );
}

#[test]
fn jobs_loading_one_tile_twice_are_counted_as_enumeration_finds_them() {
    for nt in 1..=9 {
        let plan = Plan::new(cholesky(nt)).unwrap();
        let syrk = syrk_family(&plan);
        let mut diagonal = 0;
        plan.walk(&mut |f, values, _| {
            diagonal += u64::from(f == syrk && values[1] == values[2]);
            true
        });
        assert_eq!(plan.count_same_loads(syrk, 1, 2), diagonal, "nt = {nt}");
        assert_eq!(plan.count_same_loads(syrk, 0, 1), 0, "nt = {nt}");
    }
}

#[test]
fn finding_roots_stops_when_its_caller_does() {
    // 2^40 jobs, every one a root (they load an input only).
    const SIDE: i64 = 1 << 20;
    let mut b = Builder::new(vec![
        matrix("A", 4, 4, false, Role::Input, vec![], None),
        matrix("C", SIDE as usize, 1, false, Role::Output, vec![], None),
    ]);
    b.open("i", c(0), c(SIDE), c(1));
    b.open("j", c(0), c(SIDE), c(1));
    b.family(
        "cp",
        vec![(0, vec![c(0), c(0)])],
        vec![(1, vec![v(0), v(1)])],
    );
    b.close();
    b.close();
    let plan = Plan::new(b.program).unwrap();
    assert_eq!(plan.job_count(), 1 << 40);
    let mut seen = Vec::new();
    let complete = plan.roots_until(&mut |id| {
        seen.push(id);
        seen.len() < 3
    });
    assert!(!complete);
    assert_eq!(seen, vec![0, 1, 2]);
}

#[test]
fn a_dag_enumeration_stops_at_its_first_tick_when_told_to() {
    let plan = Plan::new(cholesky(40)).unwrap();
    let jobs = plan.job_count();
    assert!(jobs > 2 * JobGraph::TICK_JOBS);
    let mut ticks = Vec::new();
    let built = JobGraph::build_until(&plan, u64::MAX, &mut |done| {
        ticks.push(done);
        false
    });
    assert!(matches!(built, Ok(None)));
    assert_eq!(ticks, vec![JobGraph::TICK_JOBS]);
    // Told to go on, it ticks through both passes and builds the graph.
    ticks.clear();
    let graph = JobGraph::build_until(&plan, u64::MAX, &mut |done| {
        ticks.push(done);
        true
    })
    .unwrap()
    .expect("not stopped");
    assert_eq!(graph.jobs.len() as u64, jobs);
    assert_eq!(ticks.len() as u64, 2 * ((jobs - 1) / JobGraph::TICK_JOBS));
    assert!(ticks.windows(2).all(|w| w[0] < w[1]));
    assert!(*ticks.last().unwrap() < 2 * jobs);
}
