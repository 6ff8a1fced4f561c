//! Views of the job DAG: Graphviz DOT and summary statistics.
//!
//! Both walk the lowered program once. DOT output is streamed to a writer
//! (an 8 x 8-tile Cholesky is small, a 64 x 64 one has 45,760 nodes; nothing
//! is built in memory first). Jobs that read an input matrix are drawn blue,
//! jobs that write an output matrix green with a double border, so the
//! sources and sinks of the data are visible at a glance. Statistics use
//! Kahn's algorithm over the bundle's children and in-degrees: a job's
//! level is one more than its deepest parent's, which gives the critical
//! path in jobs, the critical path in flops (the largest flop sum along any
//! path) and the width profile (jobs per level) in one linear pass.

use crate::lower::JobGraph;
use lp_runtime::bundle::{Bundle, TileKey};
use petgraph::visit::EdgeRef;
use std::io::{self, Write};

fn tile_text(bundle: &Bundle, key: TileKey) -> String {
    format!(
        "{}[{}, {}]",
        bundle.matrices[key.matrix as usize].name, key.i, key.j
    )
}

/// DOT strings are double-quoted; names come from identifiers, but escape
/// anyway so that no name can break the file.
fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Writes the DAG as a Graphviz digraph.
pub fn write_dot(bundle: &Bundle, graph: &JobGraph, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "digraph lambdapack {{")?;
    writeln!(out, "  rankdir=TB;")?;
    writeln!(
        out,
        "  node [shape=box, style=\"rounded,filled\", fillcolor=\"#ffffff\", fontname=\"Helvetica\", fontsize=10];"
    )?;
    writeln!(
        out,
        "  edge [fontname=\"Helvetica\", fontsize=8, color=\"#555555\"];"
    )?;
    writeln!(
        out,
        "  legend [shape=note, style=filled, fillcolor=\"#f8f9fa\", label=\"blue: reads an input matrix\\ngreen, double border: writes an output matrix\"];"
    )?;
    for (n, job) in bundle.jobs.iter().enumerate() {
        let meta = &graph.meta[n];
        let mut label = escape(&job.name);
        if let Some(k) = meta.main_kernel {
            label.push_str("\\n");
            label.push_str(k.name());
        }
        if let Some(t) = meta.first_write {
            label.push_str("\\n-> ");
            label.push_str(&escape(&tile_text(bundle, t)));
        }
        let mut attrs = format!("label=\"{label}\"");
        match (meta.reads_input, meta.writes_output) {
            (true, true) => {
                attrs.push_str(", fillcolor=\"#cfe2ff\", color=\"#198754\", peripheries=2")
            }
            (true, false) => attrs.push_str(", fillcolor=\"#cfe2ff\""),
            (false, true) => {
                attrs.push_str(", fillcolor=\"#d1e7dd\", color=\"#198754\", peripheries=2")
            }
            (false, false) => {}
        }
        writeln!(out, "  j{n} [{attrs}];")?;
    }
    for e in graph.dag.edge_references() {
        writeln!(
            out,
            "  j{} -> j{} [label=\"{}\"];",
            e.source().index(),
            e.target().index(),
            escape(&tile_text(bundle, *e.weight()))
        )?;
    }
    writeln!(out, "}}")
}

/// Summary statistics of a DAG.
#[derive(Clone, Debug, PartialEq)]
pub struct GraphStats {
    pub jobs: usize,
    /// Tile dependencies: one per (parent, child, tile).
    pub edges: usize,
    /// Distinct (parent, child) pairs.
    pub parent_child_pairs: usize,
    pub instructions: usize,
    pub total_flops: f64,
    /// Number of levels: jobs on the longest path.
    pub critical_path_jobs: usize,
    /// The largest sum of job flops along any path.
    pub critical_path_flops: f64,
    pub max_width: usize,
    /// Jobs per level; level 0 holds the jobs without parents.
    pub width_by_level: Vec<usize>,
}

/// Computes [`GraphStats`] in one pass over the (acyclic) program.
pub fn stats(bundle: &Bundle, graph: &JobGraph) -> GraphStats {
    let n = bundle.jobs.len();
    let mut remaining: Vec<u32> = bundle.jobs.iter().map(|j| j.in_degree).collect();
    let mut level = vec![0usize; n];
    let mut path_flops: Vec<f64> = graph.meta.iter().map(|m| m.flops).collect();
    let mut ready: Vec<usize> = (0..n).filter(|&j| remaining[j] == 0).collect();
    let mut width_by_level: Vec<usize> = Vec::new();
    let mut pairs = 0;
    while let Some(job) = ready.pop() {
        if width_by_level.len() <= level[job] {
            width_by_level.resize(level[job] + 1, 0);
        }
        width_by_level[level[job]] += 1;
        for &child in &bundle.jobs[job].children {
            let c = child as usize;
            pairs += 1;
            level[c] = level[c].max(level[job] + 1);
            path_flops[c] = path_flops[c].max(path_flops[job] + graph.meta[c].flops);
            remaining[c] -= 1;
            if remaining[c] == 0 {
                ready.push(c);
            }
        }
    }
    GraphStats {
        jobs: n,
        edges: graph.dag.edge_count(),
        parent_child_pairs: pairs,
        instructions: graph.instructions,
        total_flops: graph.meta.iter().map(|m| m.flops).sum(),
        critical_path_jobs: width_by_level.len(),
        critical_path_flops: path_flops.iter().copied().fold(0.0, f64::max),
        max_width: width_by_level.iter().copied().max().unwrap_or(0),
        width_by_level,
    }
}

fn flops_text(flops: f64) -> String {
    const UNITS: [(f64, &str); 4] = [
        (1e15, "PFLOP"),
        (1e12, "TFLOP"),
        (1e9, "GFLOP"),
        (1e6, "MFLOP"),
    ];
    for (scale, unit) in UNITS {
        if flops >= scale {
            return format!("{:.3} {unit}", flops / scale);
        }
    }
    format!("{flops:.0} FLOP")
}

impl std::fmt::Display for GraphStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let share = if self.total_flops > 0.0 {
            100.0 * self.critical_path_flops / self.total_flops
        } else {
            0.0
        };
        writeln!(f, "jobs:                {}", self.jobs)?;
        writeln!(
            f,
            "edges:               {} tile dependencies, {} parent-child pairs",
            self.edges, self.parent_child_pairs
        )?;
        writeln!(f, "instructions:        {}", self.instructions)?;
        writeln!(f, "total flops:         {}", flops_text(self.total_flops))?;
        writeln!(f, "critical path:       {} jobs", self.critical_path_jobs)?;
        writeln!(
            f,
            "critical path flops: {} ({share:.1}% of the total)",
            flops_text(self.critical_path_flops)
        )?;
        writeln!(f, "max width:           {} jobs", self.max_width)?;
        let profile: Vec<String> = self.width_by_level.iter().map(|w| w.to_string()).collect();
        writeln!(f, "width by level:      {}", profile.join(" "))
    }
}
