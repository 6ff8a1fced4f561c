//! Scheduler overhead: 100,000 jobs with no instructions on 2 workers, so
//! everything measured is protocol (completion records, launch flags, the
//! queue, the driver). Target: at most 5 microseconds per job.
//!
//! Two shapes: 1000 independent chains of 100 (mostly in-thread
//! continuation) and a random DAG where each job has up to 3 parents among
//! the previous 1000 jobs (many launches through the queue).
//!
//! `cargo bench -p lp-runtime --bench scheduler`

use lp_runtime::bundle::{Bundle, Job, JobId};
use lp_runtime::local::{LocalOptions, run_local};
use lp_runtime::store::{Store, StoreResult};
use lp_std::{MatrixHeader, Tile};
use std::sync::Arc;
use std::time::Instant;

/// Trivial jobs never touch the store.
struct NoStore;

impl Store for NoStore {
    fn get_tile(&self, _: &str, _: usize, _: usize) -> StoreResult<Option<Arc<Tile>>> {
        Ok(None)
    }
    fn put_tile(&self, _: &str, _: usize, _: usize, _: Arc<Tile>) -> StoreResult<()> {
        Ok(())
    }
    fn delete_tile(&self, _: &str, _: usize, _: usize) -> StoreResult<()> {
        Ok(())
    }
    fn list_tiles(&self, _: &str) -> StoreResult<Vec<(usize, usize)>> {
        Ok(Vec::new())
    }
    fn get_header(&self, _: &str) -> StoreResult<Option<MatrixHeader>> {
        Ok(None)
    }
    fn put_header(&self, _: &str, _: &MatrixHeader) -> StoreResult<()> {
        Ok(())
    }
}

fn bundle_from_parents(parents: &[Vec<usize>]) -> Bundle {
    let mut children: Vec<Vec<JobId>> = vec![Vec::new(); parents.len()];
    for (j, ps) in parents.iter().enumerate() {
        for &p in ps {
            children[p].push(j as JobId);
        }
    }
    let jobs = parents
        .iter()
        .zip(children)
        .enumerate()
        .map(|(j, (ps, mut cs))| {
            cs.sort();
            cs.dedup();
            Job {
                name: format!("job_{j}"),
                instrs: Vec::new(),
                num_regs: 0,
                children: cs,
                in_degree: ps.len() as u32,
            }
        })
        .collect();
    Bundle {
        matrices: Vec::new(),
        jobs,
    }
}

fn chains(count: usize, length: usize) -> Vec<Vec<usize>> {
    (0..count * length)
        .map(|j| if j % length == 0 { vec![] } else { vec![j - 1] })
        .collect()
}

fn random(n: usize, max_parents: usize, window: usize) -> Vec<Vec<usize>> {
    let mut state = 0x5eed_u64;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as usize
    };
    (0..n)
        .map(|j| {
            if j == 0 {
                return vec![];
            }
            let k = next() % (max_parents + 1);
            let lo = j.saturating_sub(window);
            let mut ps: Vec<usize> = (0..k).map(|_| lo + next() % (j - lo)).collect();
            ps.sort();
            ps.dedup();
            ps
        })
        .collect()
}

fn main() {
    let workers = 2;
    let opts = LocalOptions {
        workers,
        ..LocalOptions::default()
    };
    let store: Arc<dyn Store> = Arc::new(NoStore);
    for (name, parents) in [
        ("1000 chains of 100", chains(1000, 100)),
        ("random DAG, <=3 parents", random(100_000, 3, 1000)),
    ] {
        let bundle = bundle_from_parents(&parents);
        let mut best = f64::INFINITY;
        for _ in 0..5 {
            let t = Instant::now();
            let summary = run_local(&bundle, store.clone(), &opts, &|_| {}).expect("run completes");
            let us = t.elapsed().as_secs_f64() * 1e6 / bundle.jobs.len() as f64;
            assert_eq!(summary.jobs, bundle.jobs.len());
            best = best.min(us);
        }
        println!(
            "{name}: {} jobs on {workers} workers: {best:.2} us/job (best of 5, target <= 5)",
            bundle.jobs.len()
        );
    }
}
