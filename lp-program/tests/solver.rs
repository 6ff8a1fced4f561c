//! The solver against brute-force expansion: the Cholesky of the library,
//! then random loop programs.

mod support;
use lp_program::Plan;
use support::*;

#[test]
fn cholesky_dag_matches_brute_force() {
    for nt in 1..=6 {
        let plan = Plan::new(cholesky(nt)).unwrap();
        let b = brute(&plan);
        assert!(!b.duplicate_write);
        assert_agrees(&plan, &b, true);
        let n = nt as u64;
        assert_eq!(
            plan.job_count(),
            n + n * (n - 1) / 2 + (n - 1) * n * (n + 1) / 6
        );
    }
}

use lp_program::ir::{Expr, Role};
use proptest::prelude::*;

/// An index expression over the loop variables `0..depth`: a small affine
/// combination, or a power of an exponent loop.
fn index_expr(depth: usize, power_var: Option<u8>) -> impl Strategy<Value = Expr> {
    let terms = prop::collection::vec(
        (
            0..depth.max(1) as u8,
            prop::sample::select(vec![0i64, 1, 1, 1, -1, 2]),
        ),
        0..=2,
    );
    (terms, 0i64..=4, any::<bool>()).prop_map(move |(terms, k, use_power)| {
        let mut e = c(k + 8);
        for (var, coef) in terms {
            if (var as usize) < depth {
                e = add(e, mul(c(coef), v(var)));
            }
        }
        if let (Some(p), true) = (power_var, use_power) {
            e = add(e, pow(c(2), v(p)));
        }
        e
    })
}

#[derive(Clone, Debug)]
struct LoopSpec {
    start: i64,
    /// start from the previous loop variable (+ start) instead of a constant
    relative: bool,
    end: i64,
    end_relative: bool,
    step: i64,
    power: bool,
}

fn loop_spec() -> impl Strategy<Value = LoopSpec> {
    (
        0i64..=1,
        prop::bool::weighted(0.3),
        3i64..=7,
        prop::bool::weighted(0.6),
        prop::sample::select(vec![1i64, 1, 2]),
        prop::bool::weighted(0.2),
    )
        .prop_map(
            |(start, relative, end, end_relative, step, power)| LoopSpec {
                start,
                relative,
                end,
                end_relative,
                step,
                power,
            },
        )
}

#[derive(Clone, Debug)]
struct FamilySpec {
    loops: Vec<LoopSpec>,
    loads: Vec<(u32, [Expr; 3])>,
    write: (u32, [Expr; 3]),
}

fn family_spec() -> impl Strategy<Value = FamilySpec> {
    prop_oneof![1 => Just(Vec::new()), 4 => prop::collection::vec(loop_spec(), 1..=3)]
        .prop_flat_map(|loops| {
            let depth = loops.len();
            let power = loops.iter().position(|l| l.power).map(|p| p as u8);
            let idx = move || {
                [
                    index_expr(depth, power),
                    index_expr(depth, power),
                    index_expr(depth, power),
                ]
            };
            let load = (prop::sample::select(vec![0u32, 0, 1, 1, 2, 3]), idx());
            let write = (prop::sample::select(vec![1u32, 2, 3]), idx());
            (Just(loops), prop::collection::vec(load, 1..=3), write).prop_map(
                |(loops, loads, write)| FamilySpec {
                    loops,
                    loads,
                    write,
                },
            )
        })
}

fn build(families: &[FamilySpec], sym: bool) -> lp_program::Program {
    // 32 tiles per side; S is versioned (32 versions) with base A.
    let n = 32 * 2;
    let mut b = Builder::new(vec![
        matrix("A", n, 2, sym, Role::Input, vec![], None),
        matrix("S", n, 2, sym, Role::Temp, vec![32], Some(0)),
        matrix("O", n, 2, false, Role::Output, vec![], None),
        matrix("T", n, 2, false, Role::Temp, vec![], None),
    ]);
    let refs = |m: u32, idx: &[Expr; 3]| -> (u32, Vec<Expr>) {
        if m == 1 {
            (m, idx.to_vec())
        } else {
            (m, idx[1..].to_vec())
        }
    };
    for (f, fam) in families.iter().enumerate() {
        for (d, l) in fam.loops.iter().enumerate() {
            if l.power {
                // An exponent variable: constant bounds.
                b.open(&format!("p{d}"), c(0), c(3), c(1));
                continue;
            }
            let prev = (d > 0 && !fam.loops[d - 1].power).then(|| v(d as u8 - 1));
            let start = match (&prev, l.relative) {
                (Some(p), true) => add(p.clone(), c(l.start)),
                _ => c(l.start),
            };
            let end = match (&prev, l.end_relative) {
                (Some(p), true) => add(p.clone(), c(l.end)),
                _ => c(l.end),
            };
            b.open(&format!("v{d}"), start, end, c(l.step));
        }
        let loads = fam.loads.iter().map(|(m, i)| refs(*m, i)).collect();
        b.family(
            &format!("f{f}"),
            loads,
            vec![refs(fam.write.0, &fam.write.1)],
        );
        for _ in &fam.loops {
            b.close();
        }
    }
    b.program
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, max_global_rejects: 100_000, ..ProptestConfig::default() })]
    /// Random loop programs: whenever a program is valid (every tile in
    /// range, written once), every answer of the plan (job count, job ids,
    /// children, in-degrees, readers, writers, roots) equals the brute-force
    /// expansion's.
    #[test]
    fn random_programs_match_brute_force(families in prop::collection::vec(family_spec(), 1..=3), sym in any::<bool>()) {
        let program = build(&families, sym);
        let Ok(plan) = Plan::new(program) else { return Ok(()) };
        let mut valid = true;
        plan.walk(&mut |f, _, id| {
            let loc = plan.locate(id).unwrap();
            for k in 0..plan.family(f).instrs.len() {
                valid &= plan.resolve(&loc, k).is_ok();
            }
            valid
        });
        prop_assume!(valid);
        let b = brute(&plan);
        prop_assume!(!b.duplicate_write);
        // `roots` assumes what the checker guarantees: every loaded tile of
        // a non-input has a writer, and no job loads its own write.
        let program = plan.program();
        let covered = b.loads.iter().all(|(job, tiles)| tiles.iter().all(|t| {
            program.matrices[t.matrix as usize].role == Role::Input
                || b.writer.get(t).is_some_and(|w| w != job)
        }));
        assert_agrees(&plan, &b, covered);
        // A matrix some job loads a tile of is never said to be unloaded.
        for (t, _) in b.readers.iter().filter(|(_, jobs)| !jobs.is_empty()) {
            prop_assert!(plan.is_loaded(t.matrix), "{t:?} is loaded");
        }
    }
}

/// Which matrices some job loads: a matrix loaded only through a versioned
/// matrix based on it counts, an output no job reads does not.
#[test]
fn a_matrix_is_loaded_when_a_job_reads_it_or_a_version_based_on_it() {
    let mut b = Builder::new(vec![
        matrix("A", 8, 2, false, Role::Input, vec![], None),
        matrix("S", 8, 2, false, Role::Temp, vec![2], Some(0)),
        matrix("B", 8, 2, false, Role::Input, vec![], None),
        matrix("C", 8, 2, false, Role::Output, vec![], None),
    ]);
    b.open("i", c(0), c(4), c(1));
    b.family(
        "up",
        vec![(1, vec![c(0), v(0), c(0)])],
        vec![(1, vec![c(1), v(0), c(0)])],
    );
    b.close();
    b.family(
        "out",
        vec![(2, vec![c(0), c(0)])],
        vec![(3, vec![c(0), c(0)])],
    );
    let plan = Plan::new(b.program).unwrap();
    let loaded: Vec<bool> = (0..4).map(|m| plan.is_loaded(m)).collect();
    assert_eq!(loaded, [true, true, true, false]);
}

/// A tile read by every job of two 2-billion-job loops, twice per job and
/// in both orientations of a symmetric matrix, and by a versioned matrix
/// at its base version: its readers are counted from the index equations
/// (a list of them would take 32 GB), and each job counts once.
#[test]
fn readers_of_a_tile_read_by_billions_of_jobs_are_counted_not_listed() {
    use lp_program::ir::TileKey;
    const N: i64 = 2_000_000_000;
    let mut b = Builder::new(vec![
        matrix("A", 8, 2, true, Role::Input, vec![], None),
        matrix("S", 8, 2, true, Role::Temp, vec![2], Some(0)),
        matrix("C", 2 * N as usize, 2, false, Role::Output, vec![], None),
    ]);
    b.open("i", c(0), c(N), c(1));
    // A[0, 0] twice, A[1, 0] as itself and as its transpose A[0, 1], and
    // S[0, 1, 0], which is A[1, 0] again.
    let loads = vec![
        (0, vec![c(0), c(0)]),
        (0, vec![c(0), c(0)]),
        (0, vec![c(1), c(0)]),
        (0, vec![c(0), c(1)]),
    ];
    b.family("cp", loads, vec![(2, vec![v(0), c(0)])]);
    b.family(
        "sv",
        vec![(1, vec![c(0), c(1), c(0)])],
        vec![(2, vec![v(0), c(1)])],
    );
    b.close();
    let plan = Plan::new(b.program).unwrap();
    let tile = |matrix, version, i, j| TileKey {
        matrix,
        version,
        i,
        j,
    };
    let started = std::time::Instant::now();
    for _ in 0..10_000 {
        assert_eq!(plan.readers(tile(0, 0, 0, 0)), N as u32);
    }
    assert_eq!(plan.readers(tile(0, 0, 1, 0)), 2 * N as u32);
    assert_eq!(plan.readers(tile(0, 0, 1, 1)), 0);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "{:?} for 10,000 counts",
        started.elapsed()
    );
}

/// Loop-free jobs each loading one tile twice: one reader per job, found
/// by a binary search however many jobs share the tile.
#[test]
fn readers_of_a_tile_shared_by_many_loop_free_jobs_count_each_job_once() {
    use lp_program::ir::TileKey;
    let n = 20_000;
    let mut b = Builder::new(vec![
        matrix("A", 4, 2, false, Role::Input, vec![], None),
        matrix("C", 2 * n, 2, false, Role::Output, vec![], None),
    ]);
    for i in 0..n as i64 {
        let loads = vec![(0, vec![c(0), c(0)]), (0, vec![c(0), c(0)])];
        b.family(&format!("cp{i}"), loads, vec![(1, vec![c(i), c(0)])]);
    }
    let plan = Plan::new(b.program).unwrap();
    let a = |i, j| TileKey {
        matrix: 0,
        version: 0,
        i,
        j,
    };
    let started = std::time::Instant::now();
    for _ in 0..n {
        assert_eq!(plan.readers(a(0, 0)), n as u32);
    }
    assert_eq!(plan.readers(a(1, 0)), 0);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "{:?} for {n} counts",
        started.elapsed()
    );
}
