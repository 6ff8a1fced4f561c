//! Tile shapes, checked at one iteration per shape class of a family (see
//! `lp_program::analysis::pieces`): for a flat job that is the job itself,
//! for a loop family one iteration per combination of ragged edge tiles it
//! touches. The kernels' shape rules are `lp_std::Kernel`'s, the same the
//! runtime applies.

use super::job::FamilySpans;
use crate::error::{CheckError, TileName};
use lp_program::{Family, Instr, Program};
use lp_std::Shape;

/// The tile reference's indices at loop values `values` (`None` if one has
/// no value: phase 1 reports it).
pub fn indices(tile: &lp_program::TileRef, values: &[i64]) -> Option<Vec<i64>> {
    tile.index.iter().map(|e| e.eval(values).ok()).collect()
}

/// The shape of the tile at `index` (versions, row, column), if in range.
fn tile_shape(program: &Program, matrix: u32, index: &[i64]) -> Option<Shape> {
    let h = &program.matrices[matrix as usize].header;
    let [gr, gc] = h.grid();
    let n = index.len();
    let (i, j) = (index[n - 2], index[n - 1]);
    (i >= 0 && j >= 0 && (i as usize) < gr && (j as usize) < gc)
        .then(|| h.tile(i as usize, j as usize))
}

pub fn tile_name(program: &Program, matrix: u32, index: Vec<i64>) -> TileName {
    TileName {
        matrix: program.matrices[matrix as usize].name.clone(),
        index,
    }
}

/// Checks the shapes of `family` at loop values `values`; `job` names the
/// iteration for a loop family. Returns whether an error was found.
pub fn check(
    program: &Program,
    family: &Family,
    spans: &FamilySpans,
    values: &[i64],
    job: Option<String>,
    errors: &mut Vec<CheckError>,
) -> bool {
    let mut regs: Vec<Option<Shape>> = vec![None; family.num_regs as usize];
    let mut failed = false;
    for (k, instr) in family.instrs.iter().enumerate() {
        let s = &spans.instrs[k];
        match instr {
            Instr::Load { dst, tile } => {
                let shape =
                    indices(tile, values).and_then(|ix| tile_shape(program, tile.matrix, &ix));
                if let Some(slot) = regs.get_mut(*dst as usize) {
                    *slot = shape;
                }
            }
            Instr::Apply { dsts, kernel, args } => {
                let shapes: Option<Vec<Shape>> = args
                    .iter()
                    .map(|&a| regs.get(a as usize).copied().flatten())
                    .collect();
                let results = shapes.and_then(|shapes| match kernel.result_shapes(&shapes) {
                    Ok(results) => Some(results),
                    Err(e) => {
                        let operand = e.operand.min(args.len().saturating_sub(1));
                        errors.push(CheckError::ShapeMismatch {
                            span: s.operands[operand],
                            related: e.related.and_then(|r| s.defs.get(r).copied().flatten()),
                            opcode: kernel.name().to_string(),
                            message: e.message,
                            job: job.clone(),
                        });
                        failed = true;
                        None
                    }
                });
                for (k, &dst) in dsts.iter().enumerate() {
                    if let Some(slot) = regs.get_mut(dst as usize) {
                        *slot = results.as_ref().map(|r| r[k]);
                    }
                }
            }
            Instr::Write { tile, src } => {
                let Some(index) = indices(tile, values) else {
                    continue;
                };
                let (Some(want), Some(Some(have))) = (
                    tile_shape(program, tile.matrix, &index),
                    regs.get(*src as usize),
                ) else {
                    continue;
                };
                if want != *have {
                    errors.push(CheckError::WriteShape {
                        span: s.operands[1],
                        reg: s.defs[1].unwrap_or(s.operands[1]),
                        tile: tile_name(program, tile.matrix, index),
                        tile_shape: want.to_string(),
                        reg_shape: have.to_string(),
                        job: job.clone(),
                    });
                    failed = true;
                }
            }
        }
    }
    failed
}
