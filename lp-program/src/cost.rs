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
    let mut regs: Vec<Option<Shape>> = vec![None; family.num_regs as usize];
    let mut cost = JobCost::default();
    let mut main = -1.0;
    for (k, instr) in family.instrs.iter().enumerate() {
        match instr {
            Instr::Load { dst, .. } => {
                let Ok(Some(r)) = plan.resolve(loc, k) else {
                    continue;
                };
                let info = &program.matrices[r.key.matrix as usize];
                cost.reads_input |= info.role == Role::Input;
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
                let flops = kernel.flops(&shapes);
                cost.flops += flops;
                if flops > main {
                    main = flops;
                    cost.main_kernel = Some(*kernel);
                }
                for (&dst, shape) in dsts.iter().zip(results) {
                    if let Some(slot) = regs.get_mut(dst as usize) {
                        *slot = Some(shape);
                    }
                }
            }
            Instr::Write { .. } => {
                let Ok(Some(r)) = plan.resolve(loc, k) else {
                    continue;
                };
                cost.first_write.get_or_insert(r.key);
                cost.writes_output |= program.matrices[r.key.matrix as usize].role == Role::Output;
            }
        }
    }
    cost
}
