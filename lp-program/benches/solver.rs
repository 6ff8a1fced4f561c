//! The dependency work the protocol does per job, solved on demand from a
//! loop program: the Cholesky on 256 x 256 tiles (2.8 million jobs; the
//! target is a median under 10 µs per job).
//!
//! For every job of a sample (every `stride`-th job in program order, all
//! three kinds), the time of what `protocol::job` asks the plan when the
//! job finishes: its children, the in-degree of each child, and the
//! readers of each temp tile it loaded. Reported as median, 90th and 99th
//! percentiles, maximum and mean, per job and per kind.
//!
//!     cargo bench -p lp-program --bench solver              # 256 tiles
//!     LP_BENCH_TILES=128 cargo bench -p lp-program --bench solver

#[path = "../tests/support/mod.rs"]
mod support;

use lp_program::{Plan, Role};
use std::collections::BTreeMap;
use std::time::Instant;

fn main() {
    let tiles: i64 = std::env::var("LP_BENCH_TILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let started = Instant::now();
    let plan = Plan::new(support::cholesky(tiles)).expect("the Cholesky plans");
    let setup = started.elapsed();
    let jobs = plan.job_count();
    let stride = (jobs / 200_000).max(1);
    let mut sample = Vec::new();
    let mut n = 0u64;
    plan.walk(&mut |f, _, id| {
        if n.is_multiple_of(stride) {
            sample.push((f, id));
        }
        n += 1;
        true
    });
    let mut children = Vec::new();
    let mut loaded = Vec::new();
    let mut per_kind: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut all = Vec::with_capacity(sample.len());
    let mut sink = 0u64;
    for &(f, id) in &sample {
        let t0 = Instant::now();
        plan.children(id, &mut children);
        for &c in &children {
            sink += plan.in_degree(c) as u64;
        }
        let loc = plan.locate(id).expect("a job");
        plan.tiles(&loc, false, &mut loaded).expect("in range");
        for &tile in &loaded {
            if plan.program().matrices[tile.matrix as usize].role == Role::Temp {
                sink += plan.readers(tile) as u64;
            }
        }
        let us = t0.elapsed().as_secs_f64() * 1e6;
        all.push(us);
        per_kind
            .entry(plan.family(f).name.clone())
            .or_default()
            .push(us);
    }
    let summary = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        let at = |q: f64| v[((v.len() - 1) as f64 * q) as usize];
        format!(
            "median {:>7.2} µs  p90 {:>7.2}  p99 {:>8.2}  max {:>9.2}  mean {:>7.2}  ({} jobs)",
            at(0.5),
            at(0.9),
            at(0.99),
            v[v.len() - 1],
            v.iter().sum::<f64>() / v.len() as f64,
            v.len()
        )
    };
    println!(
        "Cholesky on {tiles} x {tiles} tiles: {jobs} jobs, plan built in {:.3} ms; per job: children, their in-degrees, the readers of its temp loads",
        setup.as_secs_f64() * 1e3
    );
    println!("  all   {}", summary(&mut all));
    for (kind, v) in &mut per_kind {
        println!("  {kind:<5} {}", summary(v));
    }
    assert!(sink > 0);
}
