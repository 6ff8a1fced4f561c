//! Where a family's tile shapes change: one iteration per combination of
//! "this index is the last, ragged, tile row or column" that some iteration
//! realises. Shapes are constant between those boundaries, so checking the
//! kernels' shape rules at these iterations checks them at all of them.

use crate::family::Compiled;
use crate::ir::Program;
use crate::lin::{Lin, MAX_DEPTH};
use crate::polytope::{Budget, Decision, System};

/// Most shape classes reported per family.
pub const MAX_PIECES: usize = 256;

/// Loop values of one iteration per shape class of `family`, compiled as
/// `compiled` (`[[]]` for a loop-free family; empty for a family with no
/// jobs). `None` when the solver could not decide which classes exist.
pub fn shape_witnesses(
    program: &Program,
    compiled: Option<&Compiled>,
    family: u32,
) -> Option<Vec<Vec<i64>>> {
    let Some(c) = compiled else {
        return Some(vec![Vec::new()]);
    };
    let fam = &program.families[family as usize];
    let mut out = Vec::new();
    for spec in &c.specs {
        // The distinct "index = last tile" predicates of ragged dimensions.
        let mut predicates: Vec<Lin> = Vec::new();
        for (k, instr) in fam.instrs.iter().enumerate() {
            let Some(tile) = instr.tile() else { continue };
            let info = &program.matrices[tile.matrix as usize];
            let nv = info.versions.len();
            let comps = spec.refs[k].as_ref().expect("tile instructions have maps");
            let grid = info.header.grid();
            for d in 0..2 {
                if info.header.shape[d].is_multiple_of(info.header.tile_shape[d]) {
                    continue;
                }
                let last = comps[nv + d].checked_sub(&Lin::constant(grid[d] as i64 - 1))?;
                if !predicates.contains(&last) {
                    predicates.push(last);
                }
            }
        }
        let mut sys = System::new(c.depth);
        spec.domain(0, &mut sys);
        let mut values = [0i64; MAX_DEPTH];
        let mut leaf = |t: &[i64]| {
            spec.user_values(t, &mut values[..c.depth]);
            out.push(values[..c.depth].to_vec());
        };
        if !split(&sys, &predicates, &mut leaf)? {
            return None;
        }
        if out.len() > MAX_PIECES {
            out.truncate(MAX_PIECES);
            break;
        }
    }
    Some(out)
}

/// Depth-first over the predicates, each either `= 0` or `< 0` (an index
/// is at most the last); reports a point of each feasible leaf. `Some(false)`
/// when the budget ran out.
fn split(sys: &System, predicates: &[Lin], leaf: &mut dyn FnMut(&[i64])) -> Option<bool> {
    let budget = Budget::default();
    let Some((p, rest)) = predicates.split_first() else {
        return match sys.find_point(budget) {
            Decision::Yes(t) => {
                leaf(&t);
                Some(true)
            }
            Decision::No => Some(true),
            Decision::Undecided => Some(false),
        };
    };
    for at_last in [true, false] {
        let mut next = sys.clone();
        if at_last {
            next.eq0(*p);
        } else {
            next.ge0(p.checked_scale(-1)?.checked_sub(&Lin::constant(1))?);
        }
        match next.is_feasible(budget) {
            Decision::No => continue,
            Decision::Undecided => return Some(false),
            Decision::Yes(()) => {}
        }
        if !split(&next, rest, leaf)? {
            return Some(false);
        }
    }
    Some(true)
}
