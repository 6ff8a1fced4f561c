//! Coverage against brute-force expansion, on random strided programs
//! (the images that coverage splits by residue): a load instruction is
//! reported for a tile no job writes exactly when one of its jobs loads
//! such a tile, and a temp write for a tile no job loads exactly when one
//! of its jobs writes such a tile.

mod support;
use lp_program::analysis::{Finding, Options, analyse, check_refs};
use lp_program::ir::{Instr, Role};
use lp_program::{Plan, TileKey};
use proptest::prelude::*;
use std::collections::BTreeSet;
use support::*;

/// A loop: constant bounds, a step, and whether its step is `2^p` (or
/// `2^(p + 1)`) of an enclosing exponent loop `p in range(3)`.
#[derive(Clone, Debug)]
struct LoopSpec {
    start: i64,
    end: i64,
    step: i64,
    tree: Option<i64>,
}

#[derive(Clone, Debug)]
struct FamilySpec {
    loops: Vec<LoopSpec>,
    /// (matrix, offset, coefficient per loop, whether `2^p` is added)
    loads: Vec<(u32, i64, Vec<i64>, bool)>,
    write: (u32, i64, Vec<i64>, bool),
}

const A: u32 = 0;
const T: u32 = 1;
const O: u32 = 2;

fn loop_spec() -> impl Strategy<Value = LoopSpec> {
    (
        0i64..=3,
        6i64..=24,
        prop::sample::select(vec![1i64, 2, 2, 3, 4]),
        prop::option::weighted(0.3, 0i64..=1),
    )
        .prop_map(|(start, end, step, tree)| LoopSpec {
            start,
            end,
            step,
            tree,
        })
}

fn reference(
    depth: usize,
    matrices: Vec<u32>,
) -> impl Strategy<Value = (u32, i64, Vec<i64>, bool)> {
    let coefs = prop::collection::vec(prop::sample::select(vec![0i64, 1, 1, 2, 3, 4]), depth);
    (
        prop::sample::select(matrices),
        0i64..=6,
        coefs,
        prop::bool::weighted(0.3),
    )
}

fn family_spec() -> impl Strategy<Value = FamilySpec> {
    prop::collection::vec(loop_spec(), 1..=2).prop_flat_map(|loops| {
        let depth = loops.len();
        let loads = prop::collection::vec(reference(depth, vec![A, T, T, T]), 1..=2);
        let write = reference(depth, vec![T, T, O]);
        (Just(loops), loads, write).prop_map(|(loops, loads, write)| FamilySpec {
            loops,
            loads,
            write,
        })
    })
}

/// The program of `families` over tiles of one column: `A` input, `T`
/// temp, `O` output, 200 tile rows each (every index in range). A family with a tree loop sits in
/// an exponent loop `p`, which its indices may also use (`+ 2^p`).
fn build(families: &[FamilySpec]) -> lp_program::Program {
    let n = 200;
    let mut b = Builder::new(vec![
        matrix("A", n, 1, false, Role::Input, vec![], None),
        matrix("T", n, 1, false, Role::Temp, vec![], None),
        matrix("O", n, 1, false, Role::Output, vec![], None),
    ]);
    for (f, fam) in families.iter().enumerate() {
        let tree = fam.loops.iter().any(|l| l.tree.is_some());
        let shift = tree as u8;
        if tree {
            b.open("p", c(0), c(3), c(1));
        }
        for (d, l) in fam.loops.iter().enumerate() {
            let step = match l.tree {
                Some(k) => pow(c(2), add(v(0), c(k))),
                None => c(l.step),
            };
            b.open(&format!("v{d}"), c(l.start), c(l.end), step);
        }
        let index = |(m, offset, coefs, power): &(u32, i64, Vec<i64>, bool)| {
            let mut row = c(*offset);
            for (d, &k) in coefs.iter().enumerate() {
                row = add(row, mul(c(k), v(d as u8 + shift)));
            }
            if *power && tree {
                row = add(row, pow(c(2), v(0)));
            }
            (*m, vec![row, c(0)])
        };
        let loads = fam.loads.iter().map(index).collect();
        b.family(&format!("f{f}"), loads, vec![index(&fam.write)]);
        for _ in 0..fam.loops.len() + shift as usize {
            b.close();
        }
    }
    b.program
}

/// Instructions, as (family, instruction).
type Places = BTreeSet<(u32, u32)>;

/// The instructions brute force finds at fault: loads of a `T` tile no job
/// writes, and writes of a `T` tile no job loads.
fn brute_faults(plan: &Plan) -> (Places, Places) {
    let b = brute(plan);
    let loaded: BTreeSet<TileKey> = b.loads.values().flatten().copied().collect();
    let (mut unwritten, mut unread) = (BTreeSet::new(), BTreeSet::new());
    plan.walk(&mut |f, _, id| {
        let loc = plan.locate(id).unwrap();
        for (k, instr) in plan.family(f).instrs.iter().enumerate() {
            let Ok(Some(r)) = plan.resolve(&loc, k) else {
                continue;
            };
            if r.key.matrix != T {
                continue;
            }
            match instr {
                Instr::Load { .. } if !b.writer.contains_key(&r.key) => {
                    unwritten.insert((f, k as u32));
                }
                Instr::Write { .. } if !loaded.contains(&r.key) => {
                    unread.insert((f, k as u32));
                }
                _ => {}
            }
        }
        true
    });
    (unwritten, unread)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, max_global_rejects: 100_000, ..ProptestConfig::default() })]
    #[test]
    fn random_strided_programs_match_brute_force(families in prop::collection::vec(family_spec(), 1..=3)) {
        let program = build(&families);
        let (_, refs) = check_refs(&program, &Options::default());
        prop_assume!(refs.is_empty());
        let plan = Plan::new(program).unwrap();
        let (unwritten, unread) = brute_faults(&plan);
        let findings = analyse(&plan, &Options::default());
        prop_assume!(!findings.iter().any(|f| matches!(f, Finding::WrittenTwice { .. })));
        let places = |pick: &dyn Fn(&Finding) -> bool| -> Places {
            findings.iter().filter(|f| pick(f)).map(|f| match f {
                Finding::NeverWritten { at, .. } | Finding::TempNeverRead { at, .. } => (at.family, at.instr),
                _ => unreachable!(),
            }).collect()
        };
        prop_assert!(!findings.iter().any(|f| matches!(f, Finding::Undecided { .. })), "{findings:?}");
        prop_assert_eq!(places(&|f| matches!(f, Finding::NeverWritten { .. })), unwritten);
        // Temps are checked once the program has no error.
        if !findings.iter().any(|f| !f.is_warning()) {
            prop_assert_eq!(places(&|f| matches!(f, Finding::TempNeverRead { .. })), unread);
        }
    }
}
