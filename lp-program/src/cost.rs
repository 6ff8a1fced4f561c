//! What a job costs and touches, from its tiles' shapes: the flops of its
//! kernels (by `lp_std::Kernel::flops`, the count the run summary uses),
//! its most expensive kernel, its first write, and whether it reads an
//! input or writes an output. For graph views and statistics.

use crate::ir::{Instr, Role, TileKey};
use crate::plan::{Located, Plan};
use lp_std::{Kernel, Shape};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct JobCost {
    pub flops: f64,
    /// The kernel that costs the most flops in the job.
    pub main_kernel: Option<Kernel>,
    /// The first tile the job writes.
    pub first_write: Option<TileKey>,
    pub reads_input: bool,
    pub writes_output: bool,
}

/// The cost of the located job; kernels whose operands have no shape (a
/// tile out of range) are skipped.
pub fn job_cost(plan: &Plan, loc: &Located) -> JobCost {
    let program = plan.program();
    let family = plan.family(loc.family);
    let mut cost = JobCost::default();
    for (k, instr) in family.instrs.iter().enumerate() {
        let Ok(Some(r)) = plan.resolve(loc, k) else {
            continue;
        };
        let role = program.matrices[r.key.matrix as usize].role;
        match instr {
            Instr::Load { .. } => cost.reads_input |= role == Role::Input,
            Instr::Write { .. } => {
                cost.first_write.get_or_insert(r.key);
                cost.writes_output |= role == Role::Output;
            }
            Instr::Apply { .. } => {}
        }
    }
    let mut main = -1.0;
    for (pc, kernel, args, shapes) in kernels(plan, loc) {
        let flops = kernel.flops(&shapes, |x, y| same_tile(plan, loc, pc, args[x], args[y]));
        cost.flops += flops;
        if flops > main {
            main = flops;
            cost.main_kernel = Some(kernel);
        }
    }
    cost
}

/// The flops of every job of `family`, from the shapes one of its jobs
/// sees (exact when no tile is ragged: every job then sees the same), its
/// kernels with a symmetric result counted in the jobs where their
/// operands are one tile ([`Plan::count_same_loads`]) and in the others
/// apart. Nothing is enumerated but the loops outside the innermost.
pub fn family_flops(plan: &Plan, family: u32) -> f64 {
    let mut first = None;
    plan.family_jobs(family, &mut |id, _| {
        first = Some(id);
        false
    });
    let Some(loc) = first.and_then(|id| plan.locate(id)) else {
        return 0.0;
    };
    let count = plan.family_job_count(family) as f64;
    let instrs = &plan.family(family).instrs;
    let mut total = 0.0;
    for (pc, kernel, args, shapes) in kernels(plan, &loc) {
        let general = kernel.flops_for(&shapes, false);
        total += general * count;
        let Some((x, y)) = kernel.symmetric_pair() else {
            continue;
        };
        let same = if args[x] == args[y] {
            count
        } else {
            match (
                definition(&instrs[..pc], args[x]),
                definition(&instrs[..pc], args[y]),
            ) {
                (Some(p), Some(q)) => plan.count_same_loads(family, p, q) as f64,
                _ => 0.0,
            }
        };
        total += (kernel.flops_for(&shapes, true) - general) * same;
    }
    total
}

/// Whether registers `x` and `y`, read by instruction `pc` of the located
/// job, hold the same tile: they are the same register, or each was last
/// defined by a load of one tile (a job loads a tile once, and both
/// registers then share it). This is how a diagonal `SYRK`, whose A and B
/// are both `L[i, k]`, is recognised ([`lp_std::Kernel::flops`]).
pub fn same_tile(plan: &Plan, loc: &Located, pc: usize, x: u32, y: u32) -> bool {
    if x == y {
        return true;
    }
    let instrs = &plan.family(loc.family).instrs[..pc];
    let loaded = |r: u32| plan.resolve(loc, definition(instrs, r)?).ok().flatten();
    matches!((loaded(x), loaded(y)), (Some(a), Some(b)) if a == b)
}

/// The last of `instrs` that defines register `r`, if it is a load.
fn definition(instrs: &[Instr], r: u32) -> Option<usize> {
    let def = instrs.iter().rposition(|i| match i {
        Instr::Load { dst, .. } => *dst == r,
        Instr::Apply { dsts, .. } => dsts.contains(&r),
        Instr::Write { .. } => false,
    })?;
    matches!(instrs[def], Instr::Load { .. }).then_some(def)
}

/// The kernel instructions of the located job with their operand
/// registers and shapes, in order; kernels whose operands have no shape (a
/// tile out of range) or do not fit are left out.
fn kernels<'p>(plan: &'p Plan, loc: &Located) -> Vec<(usize, Kernel, &'p [u32], Vec<Shape>)> {
    let program = plan.program();
    let family = plan.family(loc.family);
    let mut regs: Vec<Option<Shape>> = vec![None; family.num_regs as usize];
    let mut out = Vec::new();
    for (pc, instr) in family.instrs.iter().enumerate() {
        match instr {
            Instr::Load { dst, .. } => {
                let Ok(Some(r)) = plan.resolve(loc, pc) else {
                    continue;
                };
                let info = &program.matrices[r.key.matrix as usize];
                let (i, j) = if r.transpose {
                    (r.key.j, r.key.i)
                } else {
                    (r.key.i, r.key.j)
                };
                if let Some(slot) = regs.get_mut(*dst as usize) {
                    *slot = Some(info.header.tile(i as usize, j as usize));
                }
            }
            Instr::Apply { dsts, kernel, args } => {
                let shapes: Option<Vec<Shape>> = args
                    .iter()
                    .map(|&a| regs.get(a as usize).copied().flatten())
                    .collect();
                let Some(shapes) = shapes else { continue };
                let Ok(results) = kernel.result_shapes(&shapes) else {
                    continue;
                };
                for (&dst, shape) in dsts.iter().zip(results) {
                    if let Some(slot) = regs.get_mut(dst as usize) {
                        *slot = Some(shape);
                    }
                }
                out.push((pc, *kernel, args.as_slice(), shapes));
            }
            Instr::Write { .. } => {}
        }
    }
    out
}
