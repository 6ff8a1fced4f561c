//! Write-once: no tile is written by two jobs, or twice by one.
//!
//! Tiles written by loop-free jobs are grouped through the plan's sorted
//! keys, and each is asked for its other writers (a solve per loop
//! reference). Two loop references `a` and `b` to the same matrix conflict
//! when the system "`t_a` in `a`'s domain, `t_b` in `b`'s, `a(t_a) = b(t_b)`"
//! has an integer point; a reference against itself needs `t_a < t_b`
//! (lexicographically), one `t_a`-prefix-equal disjunct per loop level.

use super::order::{instr_touching, program_order};
use super::{At, Finding, Options, RefView, flat_at, meeting, ref_views};
use crate::ir::{JobId, TileKey};
use crate::lin::Lin;
use crate::plan::Plan;
use crate::polytope::{Decision, System};
use std::cmp::Ordering;

const QUESTION: &str = "whether two writes of this instruction can hit the same tile";

pub fn check(plan: &Plan, options: &Options) -> Vec<Finding> {
    let mut out = Vec::new();
    flat_writes(plan, &mut out);
    let program = plan.program();
    let refs: Vec<RefView<'_>> = ref_views(program, plan.compiled_families())
        .into_iter()
        .filter(|r| r.write)
        .collect();
    for (x, a) in refs.iter().enumerate() {
        for b in &refs[x..] {
            if a.matrix != b.matrix {
                continue;
            }
            match meet_twice(a, b, std::ptr::eq(a, b), options) {
                Decision::No => {}
                Decision::Yes((ta, tb)) => {
                    let (p, q) = (a.at(&ta), b.at(&tb));
                    let tile = plan
                        .locate(plan.job_id(p.family, &p.values))
                        .and_then(|loc| plan.resolve(&loc, p.instr as usize).ok().flatten())
                        .map(|r| r.key);
                    if let Some(tile) = tile {
                        out.push(ordered(program, p, q, tile));
                    }
                }
                Decision::Undecided => out.push(Finding::Undecided {
                    family: a.family,
                    instr: a.instr,
                    question: QUESTION,
                }),
            }
        }
    }
    out
}

/// A point where `a` and `b` write the same tile; for a reference with
/// itself, two distinct iterations.
fn meet_twice(
    a: &RefView<'_>,
    b: &RefView<'_>,
    same: bool,
    options: &Options,
) -> Decision<(Vec<i64>, Vec<i64>)> {
    let Some(base) = meeting(a, b, b.comps) else {
        return Decision::Undecided;
    };
    let split = |p: Vec<i64>| (p[..a.depth].to_vec(), p[a.depth..].to_vec());
    if !same {
        return base.find_point(options.budget).map(split);
    }
    // t_a < t_b lexicographically: equal on 0..m, smaller at m.
    for m in 0..a.depth {
        let mut sys: System = base.clone();
        for k in 0..m {
            sys.eq2(&Lin::var(k), &Lin::var(a.depth + k));
        }
        sys.lt2(&Lin::var(m), &Lin::var(a.depth + m));
        match sys.find_point(options.budget) {
            Decision::No => {}
            other => return other.map(split),
        }
    }
    Decision::No
}

fn ordered(program: &crate::ir::Program, p: At, q: At, tile: TileKey) -> Finding {
    if program_order(program, &p, &q) == Ordering::Greater {
        Finding::WrittenTwice {
            first: q,
            second: p,
            tile,
        }
    } else {
        Finding::WrittenTwice {
            first: p,
            second: q,
            tile,
        }
    }
}

/// Tiles written by loop-free jobs: against each other (adjacent in the
/// sorted keys) and against loop writers (a solve per tile).
fn flat_writes(plan: &Plan, out: &mut Vec<Finding>) {
    let program = plan.program();
    let keys = plan.flat_keys(true);
    let mut start = 0;
    while start < keys.len() {
        let key = keys[start].0;
        let mut end = start;
        while end < keys.len() && keys[end].0 == key {
            end += 1;
        }
        let first_family = keys[start].1;
        // The places are worked out only for a report.
        let first_instr = || instr_touching(plan, plan.job_id(first_family, &[]), key, true, 0);
        let first = || flat_at(first_family, first_instr().unwrap_or(0));
        if end - start > 1 {
            // Another loop-free write of the same tile: the next instruction
            // writing it in the same job, or the first in the next job.
            let f = keys[start + 1].1;
            let after = if f == first_family {
                first_instr().map_or(0, |i| i + 1)
            } else {
                0
            };
            let instr = instr_touching(plan, plan.job_id(f, &[]), key, true, after).unwrap_or(0);
            out.push(Finding::WrittenTwice {
                first: first(),
                second: flat_at(f, instr),
                tile: key,
            });
        } else {
            let mut other: Option<JobId> = None;
            let own = plan.job_id(first_family, &[]);
            plan.writers_of(key, &mut |j| {
                if j != own {
                    other = Some(j);
                    return false;
                }
                true
            });
            if let Some(j) = other
                && let Some(loc) = plan.locate(j)
            {
                let depth = plan.family(loc.family).loops.len();
                let instr = instr_touching(plan, j, key, true, 0).unwrap_or(0);
                let q = At {
                    family: loc.family,
                    instr,
                    values: loc.values(depth).to_vec(),
                };
                out.push(ordered(program, first(), q, key));
            }
        }
        start = end;
    }
}
