//! The jobs form a DAG.
//!
//! Program order (the order of the flat expansion) is a total order of the
//! jobs. If every dependency goes forward in it, the DAG has no cycle, and
//! that is decided per pair of a write and a load reference: is there a
//! meeting point where the writer does not come first? With `c` loops
//! common to both families, "does not come first" is a union of `c + 1`
//! polytopes: the writer's loop values lexicographically above the reader's
//! at some common level, or equal on all of them with the writer's family
//! not before the reader's (which includes a job loading its own write).
//! Library programs, written as the sequential algorithms they come from,
//! always pass. A program that does not is enumerated (up to a limit) and
//! searched for a real cycle, which is reported as a path of jobs.

use super::{At, CycleEdge, Finding, Options, RefView, flat_at, meeting, ref_views};
use crate::dag::JobGraph;
use crate::ir::{Instr, JobId, Program, Role, TileKey};
use crate::lin::Lin;
use crate::plan::Plan;
use crate::polytope::{Decision, System};
use std::cmp::Ordering;

/// The order of two jobs (their instructions ignored) in the flat expansion.
pub fn program_order(program: &Program, a: &At, b: &At) -> Ordering {
    let (fa, fb) = (
        &program.families[a.family as usize],
        &program.families[b.family as usize],
    );
    let common = fa
        .loops
        .iter()
        .zip(&fb.loops)
        .take_while(|(x, y)| x == y)
        .count();
    a.values[..common]
        .cmp(&b.values[..common])
        .then(a.family.cmp(&b.family))
}

/// The first instruction at or after `from` of job `job` that loads
/// (`write` false) or writes `tile`.
pub fn instr_touching(
    plan: &Plan,
    job: JobId,
    tile: TileKey,
    write: bool,
    from: u32,
) -> Option<u32> {
    let loc = plan.locate(job)?;
    let instrs = &plan.family(loc.family).instrs;
    (from as usize..instrs.len())
        .find(|&k| {
            matches!(
                (&instrs[k], write),
                (Instr::Load { .. }, false) | (Instr::Write { .. }, true)
            ) && plan
                .resolve(&loc, k)
                .ok()
                .flatten()
                .is_some_and(|r| r.key == tile)
        })
        .map(|k| k as u32)
}

fn at_of(plan: &Plan, job: JobId, instr: u32) -> Option<At> {
    let loc = plan.locate(job)?;
    let depth = plan.family(loc.family).loops.len();
    Some(At {
        family: loc.family,
        instr,
        values: loc.values(depth).to_vec(),
    })
}

pub fn check(plan: &Plan, options: &Options) -> Vec<Finding> {
    let backward = match first_backward(plan, options) {
        Ok(None) => return Vec::new(),
        Ok(Some(b)) => b,
        Err(finding) => return vec![finding],
    };
    match JobGraph::build(plan, options.max_jobs) {
        Ok(graph) => cycles(plan, &graph),
        Err(too_many) => vec![Finding::Unordered {
            write: backward.0,
            load: backward.1,
            tile: backward.2,
            jobs: too_many.jobs,
        }],
    }
}

/// The cycles of an enumerated graph as findings.
pub fn cycles(plan: &Plan, graph: &JobGraph) -> Vec<Finding> {
    graph
        .cycles()
        .into_iter()
        .map(|path| {
            let edges = path
                .into_iter()
                .map(|e| {
                    let (p, c) = graph.dag.edge_endpoints(e).expect("edge exists");
                    let w = graph.dag[e];
                    let (parent, child) = (graph.jobs[p.index()], graph.jobs[c.index()]);
                    let write = instr_touching(plan, parent, w.tile, true, 0).unwrap_or(0);
                    CycleEdge {
                        parent: at_of(plan, parent, write).expect("graph jobs exist"),
                        child: at_of(plan, child, w.load).expect("graph jobs exist"),
                        tile: w.tile,
                    }
                })
                .collect();
            Finding::Cycle { edges }
        })
        .collect()
}

/// The first dependency that does not go forward in program order, as
/// (write, load, tile); `Err` when the solver cannot decide.
fn first_backward(plan: &Plan, options: &Options) -> Result<Option<(At, At, TileKey)>, Finding> {
    if let Some(found) = flat_load_backward(plan).or_else(|| flat_write_backward(plan)) {
        return Ok(Some(found));
    }
    loop_backward(plan, options)
}

/// [`first_backward`] among the loads of loop-free jobs.
fn flat_load_backward(plan: &Plan) -> Option<(At, At, TileKey)> {
    let program = plan.program();
    // Loads of loop-free jobs: against their writer, whatever it is. A
    // loop-free job shares no loop with any other, so program order is the
    // order of the families (the places are worked out only for a report).
    for &(key, g) in plan.flat_keys(false) {
        if program.matrices[key.matrix as usize].role == Role::Input {
            continue;
        }
        let Some(w) = plan.writer(key) else { continue };
        let Some(loc) = plan.locate(w) else { continue };
        if loc.family < g {
            continue;
        }
        let Some(write) = at_of(plan, w, instr_touching(plan, w, key, true, 0).unwrap_or(0)) else {
            continue;
        };
        let load = flat_at(
            g,
            instr_touching(plan, plan.job_id(g, &[]), key, false, 0).unwrap_or(0),
        );
        return Some((write, load, key));
    }
    None
}

/// [`first_backward`] among the writes of loop-free jobs.
fn flat_write_backward(plan: &Plan) -> Option<(At, At, TileKey)> {
    let program = plan.program();
    // Writes of loop-free jobs: against their loop readers.
    for &(key, f) in plan.flat_keys(true) {
        let write = flat_at(
            f,
            instr_touching(plan, plan.job_id(f, &[]), key, true, 0).unwrap_or(0),
        );
        let mut found = None;
        plan.readers_of(key, &mut |r| {
            let Some(loc) = plan.locate(r) else {
                return true;
            };
            if plan.family(loc.family).loops.is_empty() {
                return true;
            }
            let load = at_of(plan, r, instr_touching(plan, r, key, false, 0).unwrap_or(0))
                .expect("located");
            if program_order(program, &write, &load) != Ordering::Less {
                found = Some(load);
                return false;
            }
            true
        });
        if let Some(load) = found {
            return Some((write, load, key));
        }
    }
    None
}

/// [`first_backward`] among loop writes and loop loads.
fn loop_backward(plan: &Plan, options: &Options) -> Result<Option<(At, At, TileKey)>, Finding> {
    let program = plan.program();
    // Loop writes against loop loads.
    let refs = ref_views(program, plan.compiled_families());
    for w in refs.iter().filter(|r| r.write) {
        let sym = program.matrices[w.matrix as usize].header.symmetric;
        for l in refs.iter().filter(|r| !r.write && r.matrix == w.matrix) {
            let swapped = l.swapped();
            let orientations: Vec<&[crate::lin::Lin]> = if sym {
                vec![l.comps, &swapped]
            } else {
                vec![l.comps]
            };
            for comps in orientations {
                match backward_point(program, w, l, comps, options) {
                    Decision::No => {}
                    Decision::Yes((tw, tl)) => {
                        let (write, load) = (w.at(&tw), l.at(&tl));
                        let loc = plan
                            .locate(plan.job_id(write.family, &write.values))
                            .expect("a job");
                        let tile = plan
                            .resolve(&loc, write.instr as usize)
                            .ok()
                            .flatten()
                            .expect("in range")
                            .key;
                        return Ok(Some((write, load, tile)));
                    }
                    Decision::Undecided => {
                        return Err(Finding::Undecided {
                            family: l.family,
                            instr: l.instr,
                            question: "whether this load comes after the write of its tile",
                        });
                    }
                }
            }
        }
    }
    Ok(None)
}

/// A meeting point of write `w` and load `l` (with `l`'s components
/// `l_comps`) where the writer does not come first in program order.
fn backward_point(
    program: &Program,
    w: &RefView<'_>,
    l: &RefView<'_>,
    l_comps: &[Lin],
    options: &Options,
) -> Decision<(Vec<i64>, Vec<i64>)> {
    let Some(base) = meeting(w, l, l_comps) else {
        return Decision::Undecided;
    };
    let (fw, fl) = (
        &program.families[w.family as usize],
        &program.families[l.family as usize],
    );
    let common = fw
        .loops
        .iter()
        .zip(&fl.loops)
        .take_while(|(x, y)| x == y)
        .count();
    let split = |p: Vec<i64>| (p[..w.depth].to_vec(), p[w.depth..].to_vec());
    let prefix_equal = |sys: &mut System, m: usize| {
        for k in 0..m {
            sys.eq2(&Lin::var(k), &Lin::var(w.depth + k));
        }
    };
    for m in 0..common {
        let mut sys = base.clone();
        prefix_equal(&mut sys, m);
        // writer's t_m above the reader's
        sys.lt2(&Lin::var(w.depth + m), &Lin::var(m));
        match sys.find_point(options.budget) {
            Decision::No => {}
            other => return other.map(split),
        }
    }
    if w.family >= l.family {
        let mut sys = base;
        prefix_equal(&mut sys, common);
        return sys.find_point(options.budget).map(split);
    }
    Decision::No
}
