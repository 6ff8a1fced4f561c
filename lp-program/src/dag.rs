//! The job DAG, enumerated: for the views that need every job (DOT, the
//! critical path, the width profile) and for the cycle search when program
//! order does not prove a program acyclic. The runtime never builds it.
//!
//! Node `n` is the `n`-th job in program order; an edge parent -> child
//! carries the tile the child loads and the parent writes (one edge per
//! distinct tile) and the index of the child's load instruction.

use crate::ir::{Instr, JobId, Role, TileKey};
use crate::plan::Plan;
use petgraph::graph::{DiGraph, EdgeIndex, NodeIndex};
use petgraph::visit::EdgeRef;
use std::collections::{HashMap, VecDeque};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edge {
    pub tile: TileKey,
    /// The child's instruction that loads the tile.
    pub load: u32,
}

pub struct JobGraph {
    /// Job number of each node.
    pub jobs: Vec<JobId>,
    pub dag: DiGraph<(), Edge, u32>,
}

/// The program has more jobs than the limit allows enumerating.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooManyJobs {
    pub jobs: u64,
    pub limit: u64,
}

impl JobGraph {
    /// Memory the enumerated DAG and the views computed from it (levels,
    /// sorted edge pairs) take per job, rounded up from the library
    /// Cholesky's 197 (about three edges a job; `lpc graph --stats` peaked
    /// at 41 MiB for 172k jobs and 263 MiB for 1.35M).
    /// Callers that let a user raise the limit bound it by this, so that a
    /// large limit is refused in words instead of by the allocator.
    pub const BYTES_PER_JOB: u64 = 200;

    /// Nodes and edges are numbered in 32 bits, and a job has a few edges.
    pub const MAX_JOBS: u64 = u32::MAX as u64 / 8;

    /// How many jobs [`JobGraph::build_until`] enumerates between two calls
    /// of its `go_on`.
    pub const TICK_JOBS: u64 = 4096;

    /// Enumerates every job and edge; refuses past `limit` jobs (or
    /// [`Self::MAX_JOBS`]) before doing any work.
    pub fn build(plan: &Plan, limit: u64) -> Result<JobGraph, TooManyJobs> {
        Ok(Self::build_until(plan, limit, &mut |_| true)?.expect("never stopped"))
    }

    /// [`JobGraph::build`], calling `go_on(steps done)` every
    /// [`Self::TICK_JOBS`] jobs of each of its two passes (the jobs, then
    /// their edges: `2 * plan.job_count()` steps in all) and giving up with
    /// `Ok(None)` as soon as it returns false: half a million jobs take
    /// seconds, which a run fills with progress and through which it
    /// honours a stop.
    pub fn build_until(
        plan: &Plan,
        limit: u64,
        go_on: &mut dyn FnMut(u64) -> bool,
    ) -> Result<Option<JobGraph>, TooManyJobs> {
        let count = plan.job_count();
        let limit = limit.min(Self::MAX_JOBS);
        if count > limit {
            return Err(TooManyJobs { jobs: count, limit });
        }
        let Some(jobs) = Self::list_jobs(plan, count, go_on) else {
            return Ok(None);
        };
        let nodes = Nodes::of(&jobs);
        let mut dag: DiGraph<(), Edge, u32> = DiGraph::with_capacity(jobs.len(), jobs.len() * 2);
        for _ in 0..jobs.len() {
            dag.add_node(());
        }
        let mut seen: Vec<(u32, TileKey)> = Vec::new();
        for (n, &id) in jobs.iter().enumerate() {
            if n > 0 && (n as u64).is_multiple_of(Self::TICK_JOBS) && !go_on(count + n as u64) {
                return Ok(None);
            }
            in_edges(plan, id, &nodes, &mut seen, &mut |parent, edge| {
                dag.add_edge(NodeIndex::new(parent as usize), NodeIndex::new(n), edge);
            });
        }
        Ok(Some(JobGraph { jobs, dag }))
    }

    /// Every job number in program order (the first pass of
    /// [`JobGraph::build_until`]), or `None` when `go_on` stops it.
    fn list_jobs(
        plan: &Plan,
        count: u64,
        go_on: &mut dyn FnMut(u64) -> bool,
    ) -> Option<Vec<JobId>> {
        let mut jobs = Vec::with_capacity(count as usize);
        let mut stopped = false;
        plan.walk(&mut |_, _, id| {
            jobs.push(id);
            if (jobs.len() as u64).is_multiple_of(Self::TICK_JOBS) {
                stopped = !go_on(jobs.len() as u64);
            }
            !stopped
        });
        (!stopped).then_some(jobs)
    }

    /// Nodes in a topological order, or `None` if the graph has a cycle:
    /// program order when every edge points forward in it (the usual case:
    /// a job reads what earlier jobs wrote; checking costs one pass over
    /// the edges, a search several), a depth-first search otherwise.
    pub fn topo_order(&self) -> Option<Vec<NodeIndex<u32>>> {
        let forward = self
            .dag
            .edge_references()
            .all(|e| e.source().index() < e.target().index());
        if forward {
            return Some(self.dag.node_indices().collect());
        }
        petgraph::algo::toposort(&self.dag, None).ok()
    }

    /// One shortest cycle per strongly connected component that has one,
    /// as edge lists in path order, sorted by their first job.
    pub fn cycles(&self) -> Vec<Vec<EdgeIndex<u32>>> {
        let sccs = petgraph::algo::kosaraju_scc(&self.dag);
        let mut component = vec![u32::MAX; self.dag.node_count()];
        for (c, scc) in sccs.iter().enumerate() {
            for n in scc {
                component[n.index()] = c as u32;
            }
        }
        let mut out = Vec::new();
        for (c, scc) in sccs.iter().enumerate() {
            let start = *scc.iter().min().expect("components are non-empty");
            if let Some(e) = self.dag.edges_connecting(start, start).next() {
                out.push(vec![e.id()]);
            } else if scc.len() > 1 {
                out.push(self.shortest_cycle(start, &component, c as u32));
            }
        }
        out.sort_by_key(|path| self.dag.edge_endpoints(path[0]).map(|(p, _)| p.index()));
        out
    }

    /// A shortest cycle through `start` inside its component, by BFS.
    fn shortest_cycle(
        &self,
        start: NodeIndex<u32>,
        component: &[u32],
        c: u32,
    ) -> Vec<EdgeIndex<u32>> {
        let mut via: Vec<Option<EdgeIndex<u32>>> = vec![None; self.dag.node_count()];
        let mut queue = VecDeque::from([start]);
        let mut closing = None;
        'bfs: while let Some(n) = queue.pop_front() {
            for e in self.dag.edges(n) {
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
        let mut path = vec![closing.expect("a component of two or more jobs has a cycle")];
        let mut n = self.dag.edge_endpoints(path[0]).expect("edge exists").0;
        while n != start {
            let e = via[n.index()].expect("reached by the search");
            path.push(e);
            n = self.dag.edge_endpoints(e).expect("edge exists").0;
        }
        path.reverse();
        path
    }

    /// Each node's bottom level: the largest sum of `weight` along a chain
    /// starting at it (its own weight included) and running to the end of
    /// the DAG; and the number of jobs on the longest chain of the DAG. One
    /// pass over a reverse topological order. `None` for a cyclic graph.
    pub fn bottom_levels(&self, weight: &dyn Fn(usize) -> f64) -> Option<(Vec<f64>, usize)> {
        let order = self.topo_order()?;
        let n = self.dag.node_count();
        let mut below = vec![0.0f64; n];
        let mut chain = vec![0u32; n];
        for node in order.into_iter().rev() {
            let (mut rest, mut jobs) = (0.0f64, 0u32);
            for e in self.dag.edges(node) {
                let c = e.target().index();
                rest = rest.max(below[c]);
                jobs = jobs.max(chain[c]);
            }
            below[node.index()] = weight(node.index()) + rest;
            chain[node.index()] = jobs + 1;
        }
        let longest = chain.iter().copied().max().unwrap_or(0) as usize;
        Some((below, longest))
    }

    /// Longest-path facts in one pass over a topological order: each node's
    /// level (jobs on the longest chain ending at it, minus one) and the
    /// largest sum of `weight` along a chain ending at it. `None` for a
    /// cyclic graph.
    pub fn longest_paths(&self, weight: &dyn Fn(usize) -> f64) -> Option<(Vec<usize>, Vec<f64>)> {
        let order = self.topo_order()?;
        let n = self.dag.node_count();
        let mut level = vec![0usize; n];
        let mut path: Vec<f64> = (0..n).map(weight).collect();
        for node in order {
            let i = node.index();
            for e in self.dag.edges(node) {
                let c = e.target().index();
                level[c] = level[c].max(level[i] + 1);
                path[c] = path[c].max(path[i] + weight(c));
            }
        }
        Some((level, path))
    }
}

/// The node of each job number: flat programs number their jobs 0..n in
/// program order, loop programs need a map.
enum Nodes {
    Dense(u64),
    Map(HashMap<JobId, u32>),
}

impl Nodes {
    fn of(jobs: &[JobId]) -> Nodes {
        if jobs.iter().enumerate().all(|(n, &id)| id == n as u64) {
            return Nodes::Dense(jobs.len() as u64);
        }
        Nodes::Map(
            jobs.iter()
                .enumerate()
                .map(|(n, &id)| (id, n as u32))
                .collect(),
        )
    }

    fn get(&self, id: JobId) -> Option<u32> {
        match self {
            Nodes::Dense(count) => (id < *count).then_some(id as u32),
            Nodes::Map(index) => index.get(&id).copied(),
        }
    }
}

/// Calls `add(parent, edge)` for each edge into job `id`: one per distinct
/// tile it loads that a job writes (inputs have no writer). `seen` is
/// scratch.
fn in_edges(
    plan: &Plan,
    id: JobId,
    nodes: &Nodes,
    seen: &mut Vec<(u32, TileKey)>,
    add: &mut dyn FnMut(u32, Edge),
) {
    let Some(loc) = plan.locate(id) else { return };
    seen.clear();
    for (k, instr) in plan.family(loc.family).instrs.iter().enumerate() {
        if !matches!(instr, Instr::Load { .. }) {
            continue;
        }
        let Ok(Some(r)) = plan.resolve(&loc, k) else {
            continue;
        };
        if plan.program().matrices[r.key.matrix as usize].role == Role::Input {
            continue;
        }
        let Some(parent) = plan.writer(r.key).and_then(|w| nodes.get(w)) else {
            continue;
        };
        if seen.contains(&(parent, r.key)) {
            continue;
        }
        seen.push((parent, r.key));
        add(
            parent,
            Edge {
                tile: r.key,
                load: k as u32,
            },
        );
    }
}
