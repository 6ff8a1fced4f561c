//! Views of the job DAG: Graphviz DOT and summary statistics.
//!
//! DOT needs every job, so it is drawn from the enumerated DAG
//! (`lp_program::dag::JobGraph`) and refused past a limit of jobs unless the
//! user raises it: a drawing of fifty thousand nodes helps nobody, and of a
//! hundred million cannot be made. Jobs that read an input matrix are drawn
//! blue, jobs that write an output matrix green with a double border, so
//! the sources and sinks of the data are visible at a glance.
//!
//! Statistics are computed without enumerating where they can be: the
//! number of jobs and instructions from the loop bounds, the total flops
//! from one job per family when no tile is ragged (the jobs whose `SYRK`
//! operands are one tile counted from the index equations). The critical
//! path, the width profile and the edges need the DAG, which is enumerated
//! only up to the limit.

use lp_program::cost::{JobCost, family_flops, job_cost};
use lp_program::dag::{JobGraph, TooManyJobs};
use lp_program::{Plan, TileKey};
use petgraph::visit::EdgeRef;
use std::io::{self, Write};

/// DOT strings are double-quoted; names come from identifiers, but escape
/// anyway so that no name can break the file.
fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

fn cost_of(plan: &Plan, id: u64) -> JobCost {
    plan.locate(id)
        .map(|loc| job_cost(plan, &loc))
        .unwrap_or_default()
}

/// How many jobs may be enumerated, and what set that number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub jobs: u64,
    pub bound: Bound,
}

/// What bounds [`Limit::jobs`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    /// The caller's `--limit` (or its default).
    Requested,
    /// Half of the memory this process may use.
    Memory,
    /// The DAG's 32-bit numbering ([`JobGraph::MAX_JOBS`]): it binds
    /// before memory on hosts with more than about 214 GB.
    Numbering,
}

impl Limit {
    /// `requested`, bounded by the DAG that fits in half of `memory` bytes
    /// (at [`JobGraph::BYTES_PER_JOB`]) and by [`JobGraph::MAX_JOBS`].
    pub fn new(requested: u64, memory: Option<u64>) -> Limit {
        let fits = memory.map_or(u64::MAX, |m| m / 2 / JobGraph::BYTES_PER_JOB);
        let (jobs, bound) = [
            (requested, Bound::Requested),
            (fits, Bound::Memory),
            (JobGraph::MAX_JOBS, Bound::Numbering),
        ]
        .into_iter()
        .min_by_key(|&(jobs, _)| jobs)
        .expect("three candidates");
        Limit { jobs, bound }
    }

    /// Why a program of `jobs` jobs was not enumerated, and what to do.
    pub fn refusal(&self, jobs: u64) -> String {
        match self.bound {
            Bound::Requested => format!("more than {} jobs (--limit raises it)", self.jobs),
            Bound::Memory => format!(
                "its {jobs} jobs need about {} to enumerate, more than half of the memory this process may use (enough for {} jobs)",
                bytes_text(jobs.saturating_mul(JobGraph::BYTES_PER_JOB)),
                self.jobs
            ),
            Bound::Numbering => format!(
                "its {jobs} jobs are more than the {} a job graph can number",
                self.jobs
            ),
        }
    }
}

impl From<u64> for Limit {
    fn from(jobs: u64) -> Limit {
        Limit::new(jobs, None)
    }
}

fn bytes_text(bytes: u64) -> String {
    const GB: f64 = 1e9;
    if bytes as f64 >= GB {
        format!("{:.1} GB", bytes as f64 / GB)
    } else {
        format!("{:.1} MB", bytes as f64 / 1e6)
    }
}

/// Writes the DAG as a Graphviz digraph; refuses past `limit` jobs.
pub fn write_dot(
    plan: &Plan,
    limit: impl Into<Limit>,
    out: &mut impl Write,
) -> Result<io::Result<()>, TooManyJobs> {
    let graph = JobGraph::build(plan, limit.into().jobs)?;
    Ok(dot(plan, &graph, out))
}

fn dot(plan: &Plan, graph: &JobGraph, out: &mut impl Write) -> io::Result<()> {
    let tile_text = |key: TileKey| plan.program().tile_name(key);
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
    for (n, &id) in graph.jobs.iter().enumerate() {
        let cost = cost_of(plan, id);
        let mut label = escape(&plan.job_name(id));
        if let Some(k) = cost.main_kernel {
            label.push_str("\\n");
            label.push_str(k.name());
        }
        if let Some(t) = cost.first_write {
            label.push_str("\\n-> ");
            label.push_str(&escape(&tile_text(t)));
        }
        let mut attrs = format!("label=\"{label}\"");
        match (cost.reads_input, cost.writes_output) {
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
            escape(&tile_text(e.weight().tile))
        )?;
    }
    writeln!(out, "}}")
}

/// What needs the enumerated DAG.
#[derive(Clone, Debug, PartialEq)]
pub struct PathStats {
    /// Tile dependencies: one per (parent, child, tile).
    pub edges: usize,
    /// Distinct (parent, child) pairs.
    pub parent_child_pairs: usize,
    /// Number of levels: jobs on the longest path.
    pub critical_path_jobs: usize,
    /// The largest sum of job flops along any path.
    pub critical_path_flops: f64,
    pub max_width: usize,
    /// Jobs per level; level 0 holds the jobs without parents.
    pub width_by_level: Vec<usize>,
}

/// Summary statistics of a DAG.
#[derive(Clone, Debug, PartialEq)]
pub struct GraphStats {
    pub jobs: u64,
    pub instructions: u64,
    pub total_flops: f64,
    /// Whether `total_flops` counts edge tiles as full ones (a program with
    /// ragged tiles, too large to enumerate).
    pub flops_approximate: bool,
    /// `None` when the program has more jobs than the limit.
    pub paths: Option<PathStats>,
    pub limit: Limit,
}

/// Computes [`GraphStats`], enumerating at most `limit` jobs.
pub fn stats(plan: &Plan, limit: impl Into<Limit>) -> GraphStats {
    let limit = limit.into();
    let program = plan.program();
    let jobs = plan.job_count();
    let instructions = (0..program.families.len() as u32)
        .map(|f| {
            plan.family_job_count(f)
                .saturating_mul(plan.family(f).instrs.len() as u64)
        })
        .sum();
    let ragged = program.matrices.iter().any(|m| {
        m.header.shape[0] % m.header.tile_shape[0] != 0
            || m.header.shape[1] % m.header.tile_shape[1] != 0
    });
    let graph = JobGraph::build(plan, limit.jobs).ok();
    let mut costs: Vec<f64> = Vec::new();
    let total_flops = match &graph {
        Some(g) => {
            costs = g.jobs.iter().map(|&id| cost_of(plan, id).flops).collect();
            costs.iter().sum()
        }
        // From one job per family (an estimate when a tile is ragged).
        None => (0..program.families.len() as u32)
            .map(|f| family_flops(plan, f))
            .sum(),
    };
    let paths = graph.as_ref().and_then(|g| {
        let (level, path) = g.longest_paths(&|n| costs[n])?;
        let mut width_by_level = Vec::new();
        for &l in &level {
            if width_by_level.len() <= l {
                width_by_level.resize(l + 1, 0);
            }
            width_by_level[l] += 1;
        }
        let mut pairs: Vec<(usize, usize)> = g
            .dag
            .edge_references()
            .map(|e| (e.source().index(), e.target().index()))
            .collect();
        pairs.sort_unstable();
        pairs.dedup();
        Some(PathStats {
            edges: g.dag.edge_count(),
            parent_child_pairs: pairs.len(),
            critical_path_jobs: width_by_level.len(),
            critical_path_flops: path.iter().copied().fold(0.0, f64::max),
            max_width: width_by_level.iter().copied().max().unwrap_or(0),
            width_by_level,
        })
    });
    GraphStats {
        jobs,
        instructions,
        total_flops,
        flops_approximate: graph.is_none() && ragged,
        paths,
        limit,
    }
}

fn flops_text(flops: f64) -> String {
    const UNITS: [(f64, &str); 5] = [
        (1e18, "EFLOP"),
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
    // + 0.0: an empty sum is -0.0 in Rust, which would print as "-0".
    format!("{:.0} FLOP", flops + 0.0)
}

impl std::fmt::Display for GraphStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "jobs:                {}", self.jobs)?;
        let approx = if self.flops_approximate {
            " (approximate: edge tiles counted as full tiles)"
        } else {
            ""
        };
        let Some(p) = &self.paths else {
            writeln!(f, "instructions:        {}", self.instructions)?;
            writeln!(
                f,
                "total flops:         {}{approx}",
                flops_text(self.total_flops)
            )?;
            return writeln!(
                f,
                "critical path, edges and widths: not computed: {}",
                self.limit.refusal(self.jobs)
            );
        };
        let share = if self.total_flops > 0.0 {
            100.0 * p.critical_path_flops / self.total_flops
        } else {
            0.0
        };
        writeln!(
            f,
            "edges:               {} tile dependencies, {} parent-child pairs",
            p.edges, p.parent_child_pairs
        )?;
        writeln!(f, "instructions:        {}", self.instructions)?;
        writeln!(f, "total flops:         {}", flops_text(self.total_flops))?;
        writeln!(f, "critical path:       {} jobs", p.critical_path_jobs)?;
        writeln!(
            f,
            "critical path flops: {} ({share:.1}% of the total)",
            flops_text(p.critical_path_flops)
        )?;
        writeln!(f, "max width:           {} jobs", p.max_width)?;
        let profile: Vec<String> = p.width_by_level.iter().map(|w| w.to_string()).collect();
        writeln!(f, "width by level:      {}", profile.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::{Bound, Limit};

    #[test]
    fn the_smallest_bound_sets_the_limit_and_says_why() {
        const GB: u64 = 1_000_000_000;
        let requested = Limit::new(1000, Some(16 * GB));
        assert_eq!(requested.bound, Bound::Requested);
        assert_eq!(
            requested.refusal(5000),
            "more than 1000 jobs (--limit raises it)"
        );
        // 8 GB at 200 bytes a job.
        let memory = Limit::new(u64::MAX, Some(16 * GB));
        assert_eq!(
            memory.refusal(1_000_000_000),
            "its 1000000000 jobs need about 200.0 GB to enumerate, more than half of the \
             memory this process may use (enough for 40000000 jobs)"
        );
        // 512 GB would hold 2.56 billion jobs, more than 32-bit numbers allow.
        let numbering = Limit::new(u64::MAX, Some(1024 * GB));
        assert_eq!(
            numbering.refusal(1_000_000_000),
            "its 1000000000 jobs are more than the 536870911 a job graph can number"
        );
        assert_eq!(
            Limit::new(7, None),
            Limit {
                jobs: 7,
                bound: Bound::Requested
            }
        );
    }
}
