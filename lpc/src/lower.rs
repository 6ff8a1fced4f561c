//! Lowering: a checked program becomes the job DAG (petgraph) and the
//! runtime [`Bundle`].
//!
//! The checker already matched every load with the write of the same tile
//! through a hash map, so the dependencies arrive as a list grouped by child
//! job; building the graph is one pass over it, deduplicating within each
//! child's (short) slice. Node `n` of the graph is job `n` of the bundle.
//!
//! Cycles are found with a topological sort (iterative, linear); only when it
//! fails are the strongly connected components computed, and in each
//! non-trivial one a shortest cycle through one of its jobs is found by a
//! breadth-first search, so the diagnostic prints a concrete path of jobs
//! with the loads and writes that close it.

use crate::check::{Checked, CheckedJob};
use crate::error::{CheckError, CycleEdge};
use lp_runtime::bundle::{self, Bundle, JobId, TileKey};
use lp_std::Kernel;
use petgraph::graph::{DiGraph, EdgeIndex, NodeIndex};
use std::collections::VecDeque;

/// What graph views need to know about a job beyond the bundle.
#[derive(Clone, Debug)]
pub struct JobMeta {
    pub flops: f64,
    pub main_kernel: Option<Kernel>,
    pub first_write: Option<TileKey>,
    pub reads_input: bool,
    pub writes_output: bool,
}

/// The job DAG: node `n` is job `n`; an edge parent -> child carries the
/// tile the child loads and the parent writes (one edge per distinct tile).
#[derive(Clone, Debug)]
pub struct JobGraph {
    pub dag: DiGraph<(), TileKey, u32>,
    pub meta: Vec<JobMeta>,
    pub instructions: usize,
}

/// A lowered program: the runtime's bundle and the DAG it came from.
#[derive(Clone, Debug)]
pub struct Lowered {
    pub bundle: Bundle,
    pub graph: JobGraph,
}

/// Builds the DAG and the bundle; a dependency cycle is an error.
pub fn lower(checked: Checked) -> Result<Lowered, Vec<CheckError>> {
    let jobs = checked.jobs.len();
    let mut dag: DiGraph<(), TileKey, u32> =
        DiGraph::with_capacity(jobs, checked.dependencies.len());
    for _ in 0..jobs {
        dag.add_node(());
    }
    // Edge index -> dependency index, for cycle diagnostics.
    let mut edge_source: Vec<u32> = Vec::with_capacity(checked.dependencies.len());
    let mut children: Vec<Vec<JobId>> = vec![Vec::new(); jobs];
    let mut in_degree = vec![0u32; jobs];
    let mut scratch: Vec<(u32, TileKey, u32)> = Vec::new();
    let deps = &checked.dependencies;
    let mut start = 0;
    while start < deps.len() {
        let child = deps[start].child;
        let mut end = start;
        while end < deps.len() && deps[end].child == child {
            end += 1;
        }
        scratch.clear();
        scratch.extend((start..end).map(|d| (deps[d].parent, deps[d].tile, d as u32)));
        scratch.sort_unstable_by_key(|&(p, t, d)| (p, t, d));
        scratch.dedup_by_key(|&mut (p, t, _)| (p, t));
        let mut last_parent = None;
        for &(parent, tile, d) in &scratch {
            dag.add_edge(
                NodeIndex::new(parent as usize),
                NodeIndex::new(child as usize),
                tile,
            );
            edge_source.push(d);
            if last_parent != Some(parent) {
                last_parent = Some(parent);
                in_degree[child as usize] += 1;
                children[parent as usize].push(child);
            }
        }
        start = end;
    }
    if petgraph::algo::toposort(&dag, None).is_err() {
        return Err(cycles(&checked, &dag, &edge_source));
    }
    let mut meta = Vec::with_capacity(jobs);
    let mut bundle_jobs = Vec::with_capacity(jobs);
    for (n, job) in checked.jobs.into_iter().enumerate() {
        let CheckedJob {
            name,
            instrs,
            num_regs,
            flops,
            main_kernel,
            first_write,
            reads_input,
            writes_output,
            ..
        } = job;
        meta.push(JobMeta {
            flops,
            main_kernel,
            first_write,
            reads_input,
            writes_output,
        });
        bundle_jobs.push(bundle::Job {
            name,
            instrs,
            num_regs,
            children: std::mem::take(&mut children[n]),
            in_degree: in_degree[n],
        });
    }
    Ok(Lowered {
        bundle: Bundle {
            matrices: checked.matrices,
            jobs: bundle_jobs,
        },
        graph: JobGraph {
            dag,
            meta,
            instructions: checked.instructions,
        },
    })
}

/// One error per strongly connected component that holds a cycle.
fn cycles(
    checked: &Checked,
    dag: &DiGraph<(), TileKey, u32>,
    edge_source: &[u32],
) -> Vec<CheckError> {
    let mut component = vec![u32::MAX; dag.node_count()];
    let sccs = petgraph::algo::kosaraju_scc(dag);
    let mut errors = Vec::new();
    for (c, scc) in sccs.iter().enumerate() {
        for n in scc {
            component[n.index()] = c as u32;
        }
    }
    for (c, scc) in sccs.iter().enumerate() {
        let start = *scc.iter().min().expect("components are non-empty");
        let self_loop = dag
            .edges_connecting(start, start)
            .next()
            .map(|e| petgraph::visit::EdgeRef::id(&e));
        let path: Vec<EdgeIndex<u32>> = if let Some(e) = self_loop {
            vec![e]
        } else if scc.len() > 1 {
            shortest_cycle(dag, start, &component, c as u32)
        } else {
            continue;
        };
        let edges = path
            .into_iter()
            .map(|e| {
                let dep = &checked.dependencies[edge_source[e.index()] as usize];
                CycleEdge {
                    parent: checked.jobs[dep.parent as usize].name.clone(),
                    child: checked.jobs[dep.child as usize].name.clone(),
                    tile: checked.tile_name(dep.tile),
                    load: dep.load,
                    write: dep.write,
                }
            })
            .collect();
        errors.push(CheckError::Cycle { edges });
    }
    errors.sort_by_key(|e| match e {
        CheckError::Cycle { edges } => edges[0].load.start,
        _ => 0,
    });
    errors
}

/// A shortest cycle through `start` inside its component, as edges.
fn shortest_cycle(
    dag: &DiGraph<(), TileKey, u32>,
    start: NodeIndex<u32>,
    component: &[u32],
    c: u32,
) -> Vec<EdgeIndex<u32>> {
    use petgraph::visit::EdgeRef;
    let mut via: Vec<Option<EdgeIndex<u32>>> = vec![None; dag.node_count()];
    let mut queue = VecDeque::from([start]);
    let mut closing = None;
    'bfs: while let Some(n) = queue.pop_front() {
        for e in dag.edges(n) {
            let t = e.target();
            if component[t.index()] != c {
                continue;
            }
            if t == start {
                closing = Some(e.id());
                break 'bfs;
            }
            if via[t.index()].is_none() {
                via[t.index()] = Some(e.id());
                queue.push_back(t);
            }
        }
    }
    let mut path = vec![closing.expect("a component with two jobs has a cycle")];
    let mut n = dag.edge_endpoints(path[0]).unwrap().0;
    while n != start {
        let e = via[n.index()].unwrap();
        path.push(e);
        n = dag.edge_endpoints(e).unwrap().0;
    }
    path.reverse();
    path
}
