//! Phase 1: every family compiles, and no iteration of any tile reference
//! is outside its matrix, writes above the diagonal of a symmetric matrix,
//! or writes the base version of a versioned one.

use super::{At, Finding, Options, RefView, flat_at, ref_views};
use crate::family::{self, Compiled};
use crate::ir::Program;
use crate::lin::Lin;
use crate::plan::{RefError, canonical};
use crate::polytope::{Decision, System};
use lp_std::Triangle;

/// The compiled families (`None` for loop-free ones and for families that
/// failed to compile) and the phase-1 findings.
pub fn check_refs(program: &Program, options: &Options) -> (Vec<Option<Compiled>>, Vec<Finding>) {
    let mut findings = Vec::new();
    let mut compiled = Vec::with_capacity(program.families.len());
    for (f, fam) in program.families.iter().enumerate() {
        if fam.loops.is_empty() {
            compiled.push(None);
            flat_refs(program, f as u32, &mut findings);
            continue;
        }
        match family::compile(program, fam, 0) {
            Ok(c) => compiled.push(Some(c)),
            Err(error) => {
                compiled.push(None);
                findings.push(Finding::Family {
                    family: f as u32,
                    error,
                });
            }
        }
    }
    for r in ref_views(program, &compiled) {
        match loop_ref(program, &r, options) {
            Ok(None) => {}
            Ok(Some(finding)) => findings.push(finding),
            Err(question) => findings.push(Finding::Undecided {
                family: r.family,
                instr: r.instr,
                question,
            }),
        }
    }
    (compiled, findings)
}

fn flat_refs(program: &Program, f: u32, findings: &mut Vec<Finding>) {
    for (k, instr) in program.families[f as usize].instrs.iter().enumerate() {
        let Some((tile, write)) = instr.access() else {
            continue;
        };
        let Ok(comps) = tile
            .index
            .iter()
            .map(|e| e.eval(&[]))
            .collect::<Result<Vec<_>, _>>()
        else {
            continue;
        };
        let at = flat_at(f, k as u32);
        match canonical(program, tile.matrix, &comps, write) {
            Ok(_) | Err(RefError::Malformed) => {}
            Err(RefError::OutOfRange {
                component,
                value,
                size,
            }) => findings.push(Finding::OutOfRange {
                at,
                component,
                value,
                size,
            }),
            Err(RefError::TriangleWrite) => findings.push(Finding::TriangleWrite { at }),
            Err(RefError::BaseWrite) => findings.push(Finding::BaseWrite { at }),
        }
    }
}

/// The first problem of one loop reference, with the iteration showing it;
/// `Err` names the question the solver could not decide.
fn loop_ref(
    program: &Program,
    r: &RefView<'_>,
    options: &Options,
) -> Result<Option<Finding>, &'static str> {
    if let Some(finding) = out_of_range(program, r, options)? {
        return Ok(Some(finding));
    }
    if r.write {
        return misplaced_write(program, r, options);
    }
    Ok(None)
}

/// The iteration domain of a reference's family, as a system.
fn domain(r: &RefView<'_>) -> System {
    let mut sys = System::new(r.depth);
    r.spec.domain(0, &mut sys);
    sys
}

/// [`loop_ref`]: an index of the reference outside its matrix.
fn out_of_range(
    program: &Program,
    r: &RefView<'_>,
    options: &Options,
) -> Result<Option<Finding>, &'static str> {
    const RANGE: &str = "whether this tile is inside its matrix";
    let info = &program.matrices[r.matrix as usize];
    let nv = info.versions.len();
    let grid = info.header.grid();
    for (c, comp) in r.comps.iter().enumerate() {
        let size = if c < nv {
            info.versions[c] as i64
        } else {
            grid[c - nv] as i64
        };
        for below in [true, false] {
            let mut sys = domain(r);
            // comp <= -1, or comp >= size
            let l = if below {
                Lin::constant(-1).checked_sub(comp)
            } else {
                comp.checked_sub(&Lin::constant(size))
            };
            sys.ge0(l.ok_or(RANGE)?);
            match sys.find_point(options.budget) {
                Decision::Yes(t) => {
                    return Ok(Some(Finding::OutOfRange {
                        at: r.at(&t),
                        component: c,
                        value: comp.eval(&t),
                        size: size as u64,
                    }));
                }
                Decision::No => {}
                Decision::Undecided => return Err(RANGE),
            }
        }
    }
    Ok(None)
}

/// [`loop_ref`]: a write to the base version of a versioned matrix, or
/// outside a triangular matrix's stored triangle.
fn misplaced_write(
    program: &Program,
    r: &RefView<'_>,
    options: &Options,
) -> Result<Option<Finding>, &'static str> {
    const WRITE: &str = "where this write lands";
    let info = &program.matrices[r.matrix as usize];
    let nv = info.versions.len();
    let hit = |extra: &dyn Fn(&mut System) -> Option<()>| -> Result<Option<At>, &'static str> {
        let mut sys = domain(r);
        extra(&mut sys).ok_or(WRITE)?;
        match sys.find_point(options.budget) {
            Decision::Yes(t) => Ok(Some(r.at(&t))),
            Decision::No => Ok(None),
            Decision::Undecided => Err(WRITE),
        }
    };
    if info.base.is_some() {
        let zero = |sys: &mut System| {
            for comp in &r.comps[..nv] {
                sys.eq0(*comp);
            }
            Some(())
        };
        if let Some(at) = hit(&zero)? {
            return Ok(Some(Finding::BaseWrite { at }));
        }
    }
    // Outside the stored triangle: i < j for a symmetric or lower matrix,
    // i > j for an upper one.
    let (i, j) = (&r.comps[nv], &r.comps[nv + 1]);
    let outside = match info.header.triangle {
        Some(Triangle::Upper) => Some((j, i)),
        Some(Triangle::Lower) => Some((i, j)),
        None if info.header.symmetric => Some((i, j)),
        None => None,
    };
    if let Some((small, large)) = outside {
        let below = |sys: &mut System| {
            sys.lt2(small, large)?;
            Some(())
        };
        if let Some(at) = hit(&below)? {
            return Ok(Some(Finding::TriangleWrite { at }));
        }
    }
    Ok(None)
}
