//! The analyses' findings (`lp_program::analysis`) as check errors: each
//! job and instruction they name becomes the span of its text, and each job
//! in a loop is named with its iteration (`syrk[k=1, i=4, j=3]`).

use super::SourceMap;
use super::shapes::tile_name;
use crate::error::{CheckError, CycleEdge, TileName};
use grammar::ast::Span;
use lp_program::analysis::{At, Finding};
use lp_program::family::{FamilyError, Site};
use lp_program::{Program, TileKey};
use lp_std::Triangle;

pub struct Mapper<'a> {
    pub program: &'a Program,
    pub spans: &'a SourceMap,
    /// Passed on to the error of a program too large to enumerate.
    pub max_jobs: u64,
}

impl Mapper<'_> {
    /// `syrk[k=1, i=4, j=3]` for a job in a loop, `None` for a flat job
    /// (its message names its tile and label already).
    fn job(&self, at: &At) -> Option<String> {
        let fam = &self.program.families[at.family as usize];
        (!fam.loops.is_empty()).then(|| self.program.job_name_long(fam, &at.values))
    }

    /// The job's name whether flat or not.
    fn name(&self, at: &At) -> String {
        let fam = &self.program.families[at.family as usize];
        self.program.job_name_long(fam, &at.values)
    }

    fn tile_span(&self, at: &At) -> Span {
        let s = &self.spans.families[at.family as usize].instrs[at.instr as usize];
        s.tile.as_ref().map_or(s.span, |t| t.span)
    }

    fn instr_span(&self, family: u32, instr: u32) -> Span {
        self.spans.families[family as usize].instrs[instr as usize].span
    }

    fn key_name(&self, key: TileKey) -> TileName {
        let info = &self.program.matrices[key.matrix as usize];
        let mut index: Vec<i64> = info
            .version_of(key.version)
            .iter()
            .map(|&v| v as i64)
            .collect();
        index.push(key.i as i64);
        index.push(key.j as i64);
        TileName {
            matrix: info.name.clone(),
            index,
        }
    }

    /// The tile an instruction references at its job's iteration, as
    /// written (before canonicalisation).
    fn written_tile(&self, at: &At) -> Option<TileName> {
        let fam = &self.program.families[at.family as usize];
        let tile = fam.instrs[at.instr as usize].tile()?;
        let index = super::shapes::indices(tile, &at.values)?;
        Some(tile_name(self.program, tile.matrix, index))
    }

    /// The span of the expression at `site` in family `f`, narrowed to node
    /// `node` (pre-order) when known.
    fn site_span(&self, f: u32, site: Site, node: Option<usize>) -> Span {
        let fam = &self.program.families[f as usize];
        let nodes: &[Span] = match site {
            Site::LoopStart(d) | Site::LoopEnd(d) | Site::LoopStep(d) => {
                let l = &self.spans.loops[fam.loops[d] as usize];
                match site {
                    Site::LoopStart(_) => &l.start,
                    Site::LoopEnd(_) => &l.end,
                    _ => &l.step,
                }
            }
            Site::Index { instr, component } => self.spans.families[f as usize].instrs[instr]
                .tile
                .as_ref()
                .and_then(|t| t.components.get(component))
                .map_or(&[][..], |c| c.as_slice()),
        };
        node.and_then(|n| nodes.get(n))
            .or(nodes.first())
            .copied()
            .unwrap_or(self.spans.families[f as usize].label)
    }

    fn family_error(&self, f: u32, error: &FamilyError) -> CheckError {
        let label = self.spans.families[f as usize].label;
        match error {
            FamilyError::NotAffine { site, node, why } => CheckError::NotAffine {
                span: self.site_span(f, *site, Some(*node)),
                message: why.to_string(),
            },
            FamilyError::NoValue { site, node, .. } => CheckError::BadExpr {
                span: self.site_span(f, *site, Some(*node)),
                message: error.to_string(),
                help: None,
            },
            FamilyError::BadStep { site, .. } => CheckError::BadStep {
                span: self.site_span(f, *site, None),
                message: error.to_string(),
            },
            FamilyError::ExponentVarBounds { depth } => {
                let fam = &self.program.families[f as usize];
                CheckError::SolverLimit {
                    span: self.spans.loops[fam.loops[*depth] as usize].header,
                    message: error.to_string(),
                }
            }
            FamilyError::TooLarge { site: Some(site) } => CheckError::SolverLimit {
                span: self.site_span(f, *site, None),
                message: error.to_string(),
            },
            FamilyError::TooDeep { .. }
            | FamilyError::TooManySpecs
            | FamilyError::TooManyJobs { .. }
            | FamilyError::TooLarge { site: None } => CheckError::SolverLimit {
                span: label,
                message: error.to_string(),
            },
        }
    }

    fn out_of_range(&self, at: &At, component: usize) -> Option<CheckError> {
        let fam = &self.program.families[at.family as usize];
        let tile = fam.instrs[at.instr as usize].tile()?;
        let info = &self.program.matrices[tile.matrix as usize];
        let mut sizes: Vec<u64> = info.versions.iter().map(|&v| v as u64).collect();
        sizes.extend(info.header.grid().iter().map(|&g| g as u64));
        Some(CheckError::TileOutOfGrid {
            span: self.tile_span(at),
            tile: self.written_tile(at)?,
            component,
            sizes,
            decl: self.spans.matrices[tile.matrix as usize].decl,
            job: self.job(at),
        })
    }

    fn output_not_written(
        &self,
        matrix: u32,
        count: u64,
        expected: u64,
        missing: &[Vec<u64>],
    ) -> CheckError {
        let name = &self.program.matrices[matrix as usize].name;
        CheckError::OutputNotWritten {
            decl: self.spans.matrices[matrix as usize].name,
            matrix: name.clone(),
            count,
            expected,
            missing: missing
                .iter()
                .map(|m| TileName {
                    matrix: name.clone(),
                    index: m.iter().map(|&v| v as i64).collect(),
                })
                .collect(),
        }
    }

    fn triangle_write(&self, at: &At) -> Option<CheckError> {
        let program = self.program;
        let tile = program.families[at.family as usize].instrs[at.instr as usize].tile()?;
        let m = &self.spans.matrices[tile.matrix as usize];
        let kind = program.matrices[tile.matrix as usize]
            .header
            .triangle
            .map_or("symmetric", Triangle::adjective);
        Some(CheckError::WriteOutsideTriangle {
            span: self.tile_span(at),
            structure: m.structure.unwrap_or(m.decl),
            kind,
            tile: self.written_tile(at)?,
            job: self.job(at),
        })
    }

    fn base_write(&self, at: &At) -> Option<CheckError> {
        let program = self.program;
        let tile = program.families[at.family as usize].instrs[at.instr as usize].tile()?;
        let base = program.matrices[tile.matrix as usize].base?;
        let spans = &self.spans.matrices[tile.matrix as usize];
        Some(CheckError::WriteToBase {
            span: self.tile_span(at),
            base: spans.init.unwrap_or(spans.decl),
            tile: self.written_tile(at)?,
            base_name: program.matrices[base as usize].name.clone(),
            job: self.job(at),
        })
    }

    pub fn map(&self, finding: &Finding) -> Option<CheckError> {
        Some(match finding {
            Finding::Family { family, error } => self.family_error(*family, error),
            Finding::OutOfRange { at, component, .. } => self.out_of_range(at, *component)?,
            Finding::TriangleWrite { at } => self.triangle_write(at)?,
            Finding::BaseWrite { at } => self.base_write(at)?,
            Finding::WrittenTwice {
                first,
                second,
                tile,
            } => {
                let flat = self.job(first).is_none() && self.job(second).is_none();
                CheckError::TileWrittenTwice {
                    span: self.tile_span(second),
                    first: self.tile_span(first),
                    tile: self.key_name(*tile),
                    jobs: (!flat).then(|| (self.name(first), self.name(second))),
                }
            }
            Finding::NeverWritten { at, tile, loads } => CheckError::TileNeverWritten {
                span: self.tile_span(at),
                decl: self.spans.matrices[tile.matrix as usize].decl,
                tile: self.key_name(*tile),
                loads: *loads,
                job: self.job(at),
            },
            Finding::Cycle { edges } => CheckError::Cycle {
                edges: edges
                    .iter()
                    .map(|e| CycleEdge {
                        parent: self.name(&e.parent),
                        child: self.name(&e.child),
                        tile: self.key_name(e.tile),
                        load: self.tile_span(&e.child),
                        write: self.tile_span(&e.parent),
                    })
                    .collect(),
            },
            Finding::Unordered {
                write,
                load,
                tile,
                jobs,
            } => CheckError::Unordered {
                span: self.tile_span(load),
                write: self.tile_span(write),
                tile: self.key_name(*tile),
                loader: self.name(load),
                writer: self.name(write),
                jobs: *jobs,
                limit: self.max_jobs,
            },
            Finding::Undecided {
                family,
                instr,
                question,
            } => CheckError::Undecided {
                span: self.instr_span(*family, *instr),
                question,
            },
            Finding::TempReadUnchecked { family, instr } => CheckError::TempReadUnchecked {
                span: self.instr_span(*family, *instr),
                limit: self.max_jobs,
            },
            Finding::TempNeverRead { at, tile } => CheckError::TempNeverRead {
                span: self.tile_span(at),
                tile: self.key_name(*tile),
                job: self.job(at),
            },
            Finding::OutputNotWritten {
                matrix,
                count,
                expected,
                missing,
            } => self.output_not_written(*matrix, *count, *expected, missing),
        })
    }
}
