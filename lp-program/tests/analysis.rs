//! The analyses on hand-built programs (the `.lp` cases under `tests/`
//! cover them through `lpc check`, with their diagnostics).

mod support;
use lp_program::Plan;
use lp_program::analysis::{Finding, Options, analyse, check_refs};
use lp_program::{Expr, Role};
use support::*;

fn findings(program: lp_program::Program) -> Vec<Finding> {
    let (_, mut f) = check_refs(&program, &Options::default());
    if f.is_empty() {
        let plan = Plan::new(program).unwrap();
        f = analyse(&plan, &Options::default());
    }
    f
}

#[test]
fn the_cholesky_is_clean_at_every_size() {
    for nt in [1, 2, 3, 8, 64, 256] {
        assert_eq!(findings(cholesky(nt)), vec![], "nt = {nt}");
    }
}

#[test]
fn a_trailing_update_into_its_own_version_is_written_twice_and_cyclic() {
    // syrk writes S[k, i, j] instead of S[k + 1, i, j]: the tile it loads.
    let mut p = cholesky(4);
    let syrk = p.families.iter().position(|f| f.name == "syrk").unwrap();
    if let lp_program::Instr::Write { tile, .. } = p.families[syrk].instrs.last_mut().unwrap() {
        tile.index[0] = v(0);
    }
    let f = findings(p);
    assert!(matches!(f[0], Finding::BaseWrite { .. }), "{f:?}");
}

/// A tree reduction of `nt` nodes as `lib/tsqr.lp` has it: level `l` pairs
/// the nodes `2^l` apart at every `2^(l + 1)`-th node, and carries the last
/// node up when it has no partner.
fn tree(nt: i64) -> lp_program::Program {
    let levels = 64 - (nt - 1).leading_zeros() as i64;
    let sub = |a: Expr, b: Expr| add(a, mul(c(-1), b));
    let floor = |a: Expr, b: Expr| Expr::FloorDiv(Box::new(a), Box::new(b));
    let mut b = Builder::new(vec![
        matrix("A", nt as usize, 1, false, Role::Input, vec![], None),
        matrix(
            "R",
            nt as usize,
            1,
            false,
            Role::Temp,
            vec![levels as u32 + 1],
            None,
        ),
        matrix("S", 1, 1, false, Role::Output, vec![], None),
    ]);
    let (a, r, s) = (0, 1, 2);
    b.open("i", c(0), c(nt), c(1));
    b.family(
        "leaf",
        vec![(a, vec![v(0), c(0)])],
        vec![(r, vec![c(0), v(0), c(0)])],
    );
    b.close();
    b.open("l", c(0), c(levels), c(1));
    let half = pow(c(2), v(0));
    let step = pow(c(2), add(v(0), c(1)));
    b.open("i", c(0), sub(c(nt), half.clone()), step.clone());
    b.family(
        "pair",
        vec![
            (r, vec![v(0), v(1), c(0)]),
            (r, vec![v(0), add(v(1), half.clone()), c(0)]),
        ],
        vec![(r, vec![add(v(0), c(1)), v(1), c(0)])],
    );
    b.close();
    // The last multiple of 2^(l + 1), unpaired when it has no node 2^l on.
    let last = mul(floor(c(nt - 1), step.clone()), step);
    let unpaired = add(sub(add(last.clone(), half), c(nt)), c(1));
    let end = add(
        last.clone(),
        Expr::Min(vec![c(1), Expr::Max(vec![c(0), unpaired])]),
    );
    b.open("s", last, end, c(1));
    b.family(
        "carry",
        vec![(r, vec![v(0), v(1), c(0)])],
        vec![(r, vec![add(v(0), c(1)), v(1), c(0)])],
    );
    b.close();
    b.close();
    b.family(
        "root",
        vec![(r, vec![c(levels), c(0), c(0)])],
        vec![(s, vec![c(0), c(0)])],
    );
    b.program
}

/// The strided levels of a tree are covered by solving, not by walking
/// the nodes: with no job to enumerate allowed, trees of over a million
/// nodes are still proven to load only written tiles. (Sizes where a
/// level carries a node that a pair or a carry wrote.)
#[test]
fn a_tree_reduction_is_checked_without_enumerating_its_nodes() {
    let no_enumeration = Options {
        max_jobs: 0,
        ..Options::default()
    };
    for nt in [1, 2, 5, 6, 8, 11, 13, (1 << 20) + 1, 3 << 19] {
        let (_, refs) = check_refs(&tree(nt), &no_enumeration);
        assert_eq!(refs, vec![], "nt = {nt}");
        let plan = Plan::new(tree(nt)).unwrap();
        // Loads are proven with nothing enumerated; whether every temp
        // tile is read leaves one point for the count.
        assert_eq!(
            analyse(&plan, &no_enumeration),
            vec![Finding::TempReadUnchecked {
                family: (nt > 1) as u32,
                instr: if nt > 1 { 3 } else { 1 },
            }],
            "nt = {nt}"
        );
        let one = Options {
            max_jobs: 1,
            ..Options::default()
        };
        assert_eq!(analyse(&plan, &one), vec![], "nt = {nt}");
    }
}
