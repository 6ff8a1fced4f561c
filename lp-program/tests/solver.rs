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
            (Just(loops), prop::collection::vec(load, 1..=2), write).prop_map(
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
    }
}
