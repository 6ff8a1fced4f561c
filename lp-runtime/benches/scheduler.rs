//! Scheduler overhead: 100,000 jobs that copy a 1 x 1 tile on 2 workers,
//! through a store that hands every load the same tile and drops every
//! write, so everything measured is protocol (the plan's children,
//! in-degrees and readers, completion records, launch flags, the queue, the
//! driver). Target: at most 5 microseconds per job.
//!
//! Three shapes: 1000 independent chains of 100 as a flat program (mostly
//! in-thread continuation), the same chains as a loop program (the plan
//! solves every dependency), and a random flat DAG where each job has up to
//! 3 parents among the previous 1000 jobs (many launches through the
//! queue).
//!
//! `cargo bench -p lp-runtime --bench scheduler`

use lp_program::Plan;
use lp_program::ir::{Expr, Family, Instr, Item, LoopNode, MatrixInfo, Program, Role, TileRef};
use lp_runtime::local::{LocalOptions, run_local};
use lp_runtime::store::{Store, StoreResult};
use lp_std::{Init, MatrixHeader, Tile};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

/// Every load gets the same 1 x 1 tile; writes and deletes are dropped.
struct NoStore;

fn one() -> Arc<Tile> {
    static ONE: OnceLock<Arc<Tile>> = OnceLock::new();
    ONE.get_or_init(|| Arc::new(Tile::zeros(1, 1))).clone()
}

impl Store for NoStore {
    fn get_tile(&self, _: &str, _: usize, _: usize) -> StoreResult<Option<Arc<Tile>>> {
        Ok(Some(one()))
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

fn matrix(
    name: &str,
    rows: usize,
    cols: usize,
    role: Role,
    versions: Vec<u32>,
    base: Option<u32>,
) -> MatrixInfo {
    MatrixInfo {
        name: name.into(),
        header: MatrixHeader::new([rows, cols], [1, 1], false),
        role,
        init: (role == Role::Input).then_some(Init::Zeros),
        versions,
        base,
    }
}

fn tile(matrix: u32, index: &[Expr]) -> TileRef {
    TileRef {
        matrix,
        index: index.to_vec(),
    }
}

/// Job j loads IN[j, 0] and its parents' T tiles, and writes T[j, 0].
fn flat_program(parents: &[Vec<usize>]) -> Program {
    let n = parents.len();
    let families = parents
        .iter()
        .enumerate()
        .map(|(j, ps)| {
            let c = |v: usize| Expr::Const(v as i64);
            let mut instrs = vec![Instr::Load {
                dst: 0,
                tile: tile(0, &[c(j), c(0)]),
            }];
            for (r, &p) in ps.iter().enumerate() {
                instrs.push(Instr::Load {
                    dst: 1 + r as u32,
                    tile: tile(1, &[c(p), c(0)]),
                });
            }
            instrs.push(Instr::Write {
                tile: tile(1, &[c(j), c(0)]),
                src: 0,
            });
            let lines = vec![0; instrs.len()];
            Family {
                name: format!("job_{j}"),
                loops: vec![],
                num_regs: 1 + ps.len() as u32,
                instrs,
                line: 0,
                lines,
                priority: None,
            }
        })
        .collect();
    Program {
        matrices: vec![
            matrix("IN", n, 1, Role::Input, vec![], None),
            matrix("T", n, 1, Role::Output, vec![], None),
        ],
        loops: vec![],
        families,
        body: (0..n as u32).map(Item::Family).collect(),
        source: "bench.lp".into(),
    }
}

/// `count` chains of `length` as a loop program: step[c, k] loads version
/// k of chain c's tile and writes version k + 1 (version 0 is the input).
fn loop_chains(count: usize, length: usize) -> Program {
    let v = |d: u8| Expr::Var(d);
    let plus1 = Expr::Add(Box::new(Expr::Var(1)), Box::new(Expr::Const(1)));
    let loops = vec![
        LoopNode {
            var: "c".into(),
            start: Expr::Const(0),
            end: Expr::Const(count as i64),
            step: Expr::Const(1),
            body: vec![Item::Loop(1)],
        },
        LoopNode {
            var: "k".into(),
            start: Expr::Const(0),
            end: Expr::Const(length as i64),
            step: Expr::Const(1),
            body: vec![Item::Family(0)],
        },
    ];
    let instrs = vec![
        Instr::Load {
            dst: 0,
            tile: tile(1, &[v(1), v(0), Expr::Const(0)]),
        },
        Instr::Write {
            tile: tile(1, &[plus1, v(0), Expr::Const(0)]),
            src: 0,
        },
    ];
    Program {
        matrices: vec![
            matrix("IN", count, 1, Role::Input, vec![], None),
            matrix(
                "T",
                count,
                1,
                Role::Output,
                vec![length as u32 + 1],
                Some(0),
            ),
        ],
        loops,
        families: vec![Family {
            name: "step".into(),
            loops: vec![0, 1],
            num_regs: 1,
            instrs,
            line: 0,
            lines: vec![0, 0],
            priority: None,
        }],
        body: vec![Item::Loop(0)],
        source: "bench.lp".into(),
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
    for (name, program) in [
        ("1000 chains of 100, flat", flat_program(&chains(1000, 100))),
        ("1000 chains of 100, loops", loop_chains(1000, 100)),
        (
            "random DAG, <=3 parents",
            flat_program(&random(100_000, 3, 1000)),
        ),
    ] {
        let plan: Plan = lp_program::bundle::validate(program).expect("a valid program");
        let jobs = plan.job_count();
        let mut best = f64::INFINITY;
        for _ in 0..5 {
            let t = Instant::now();
            let summary = run_local(&plan, store.clone(), &opts, &|_| {}).expect("run completes");
            let us = t.elapsed().as_secs_f64() * 1e6 / jobs as f64;
            assert_eq!(summary.jobs, jobs);
            best = best.min(us);
        }
        println!(
            "{name}: {jobs} jobs on {workers} workers: {best:.2} us/job (best of 5, target <= 5)"
        );
    }
}
