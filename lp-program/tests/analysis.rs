//! The analyses on hand-built programs (the `.lp` cases under `tests/`
//! cover them through `lpc check`, with their diagnostics).

mod support;
use lp_program::Plan;
use lp_program::analysis::{Finding, Options, analyse, check_refs};
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
