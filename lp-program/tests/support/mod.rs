//! Builders for IR programs and the brute-force oracle the solver is
//! checked against: every job enumerated, every tile resolved, the DAG
//! built by hash maps.
#![allow(dead_code)]

use lp_program::ir::{
    Expr, Family, Instr, Item, LoopNode, MatrixInfo, Program, Role, TileKey, TileRef,
};
use lp_program::{JobId, Plan};
use lp_std::{Init, Kernel, MatrixHeader};
use std::collections::{BTreeMap, BTreeSet};

pub fn c(v: i64) -> Expr {
    Expr::Const(v)
}
pub fn v(d: u8) -> Expr {
    Expr::Var(d)
}
pub fn add(a: Expr, b: Expr) -> Expr {
    Expr::Add(Box::new(a), Box::new(b))
}
pub fn mul(a: Expr, b: Expr) -> Expr {
    Expr::Mul(Box::new(a), Box::new(b))
}
pub fn pow(a: Expr, b: Expr) -> Expr {
    Expr::Pow(Box::new(a), Box::new(b))
}

pub fn matrix(
    name: &str,
    n: usize,
    b: usize,
    sym: bool,
    role: Role,
    versions: Vec<u32>,
    base: Option<u32>,
) -> MatrixInfo {
    MatrixInfo {
        name: name.into(),
        header: MatrixHeader::new([n, n], [b, b], sym),
        role,
        init: (role == Role::Input).then_some(Init::Spd { seed: 1 }),
        versions,
        base,
    }
}

/// `m` declared lower triangular.
pub fn lower(mut m: MatrixInfo) -> MatrixInfo {
    m.header.triangle = Some(lp_std::Triangle::Lower);
    m
}

/// A program under construction: loops and families appended in program
/// order through a stack of open loops.
pub struct Builder {
    pub program: Program,
    open: Vec<(u32, Vec<u32>)>,
}

impl Builder {
    pub fn new(matrices: Vec<MatrixInfo>) -> Builder {
        Builder {
            program: Program {
                matrices,
                loops: vec![],
                families: vec![],
                body: vec![],
                source: "test.lp".into(),
            },
            open: vec![],
        }
    }

    fn push_item(&mut self, item: Item) {
        match self.open.last() {
            Some((l, _)) => self.program.loops[*l as usize].body.push(item),
            None => self.program.body.push(item),
        }
    }

    pub fn open(&mut self, var: &str, start: Expr, end: Expr, step: Expr) {
        let id = self.program.loops.len() as u32;
        self.program.loops.push(LoopNode {
            var: var.into(),
            start,
            end,
            step,
            body: vec![],
        });
        self.push_item(Item::Loop(id));
        let mut path = self.open.last().map(|(_, p)| p.clone()).unwrap_or_default();
        path.push(id);
        self.open.push((id, path));
    }

    pub fn close(&mut self) {
        self.open.pop();
    }

    /// A family loading `loads` and writing `writes`, with one kernel
    /// instruction between (ADD of the loads, or the single load).
    pub fn family(
        &mut self,
        name: &str,
        loads: Vec<(u32, Vec<Expr>)>,
        writes: Vec<(u32, Vec<Expr>)>,
    ) {
        let mut instrs = Vec::new();
        for (k, (m, index)) in loads.iter().enumerate() {
            instrs.push(Instr::Load {
                dst: k as u32,
                tile: TileRef {
                    matrix: *m,
                    index: index.clone(),
                },
            });
        }
        let mut regs = loads.len() as u32;
        let mut value = 0;
        if loads.len() >= 2 {
            instrs.push(Instr::Apply {
                dsts: vec![regs],
                kernel: Kernel::Add,
                args: vec![0, 1],
            });
            value = regs;
            regs += 1;
        }
        for (m, index) in writes {
            instrs.push(Instr::Write {
                tile: TileRef { matrix: m, index },
                src: value,
            });
        }
        let loops = self.open.last().map(|(_, p)| p.clone()).unwrap_or_default();
        let id = self.program.families.len() as u32;
        let lines = vec![1; instrs.len()];
        self.program.families.push(Family {
            name: name.into(),
            loops,
            instrs,
            num_regs: regs.max(1),
            line: 1,
            lines,
            priority: None,
        });
        self.push_item(Item::Family(id));
    }
}

/// The right-looking Cholesky on `nt` tiles per side, as in
/// `lib/cholesky.lp`: A (input), L (output), S[nt] (temp, S[0] = A).
pub fn cholesky(nt: i64) -> Program {
    let n = (nt as usize) * 4;
    let mut b = Builder::new(vec![
        matrix("A", n, 4, true, Role::Input, vec![], None),
        lower(matrix("L", n, 4, false, Role::Output, vec![], None)),
        matrix("S", n, 4, true, Role::Temp, vec![nt as u32], Some(0)),
    ]);
    let (a, l, s) = (0, 1, 2);
    let _ = a;
    b.open("k", c(0), c(nt), c(1));
    b.family(
        "chol",
        vec![(s, vec![v(0), v(0), v(0)])],
        vec![(l, vec![v(0), v(0)])],
    );
    b.open("i", add(v(0), c(1)), c(nt), c(1));
    b.family(
        "trsm",
        vec![(s, vec![v(0), v(1), v(0)]), (l, vec![v(0), v(0)])],
        vec![(l, vec![v(1), v(0)])],
    );
    b.open("j", add(v(0), c(1)), add(v(1), c(1)), c(1));
    b.family(
        "syrk",
        vec![
            (s, vec![v(0), v(1), v(2)]),
            (l, vec![v(1), v(0)]),
            (l, vec![v(2), v(0)]),
        ],
        vec![(s, vec![add(v(0), c(1)), v(1), v(2)])],
    );
    b.close();
    b.close();
    b.close();
    b.program
}

/// The DAG by brute force.
pub struct Brute {
    pub jobs: Vec<JobId>,
    pub writer: BTreeMap<TileKey, JobId>,
    pub readers: BTreeMap<TileKey, BTreeSet<JobId>>,
    pub loads: BTreeMap<JobId, Vec<TileKey>>,
    pub writes: BTreeMap<JobId, Vec<TileKey>>,
    /// Whether some tile is written twice.
    pub duplicate_write: bool,
}

pub fn brute(plan: &Plan) -> Brute {
    let mut b = Brute {
        jobs: vec![],
        writer: BTreeMap::new(),
        readers: BTreeMap::new(),
        loads: BTreeMap::new(),
        writes: BTreeMap::new(),
        duplicate_write: false,
    };
    plan.walk(&mut |f, _values, id| {
        let loc = plan.locate(id).expect("walked jobs locate");
        assert_eq!(loc.family, f);
        b.jobs.push(id);
        let fam = plan.family(f);
        for (k, instr) in fam.instrs.iter().enumerate() {
            let Some(r) = plan.resolve(&loc, k).expect("tiles in range") else {
                continue;
            };
            match instr {
                Instr::Load { .. } => {
                    b.readers.entry(r.key).or_default().insert(id);
                    b.loads.entry(id).or_default().push(r.key);
                }
                Instr::Write { .. } => {
                    if b.writer.insert(r.key, id).is_some() {
                        b.duplicate_write = true;
                    }
                    b.writes.entry(id).or_default().push(r.key);
                }
                Instr::Apply { .. } => {}
            }
        }
        true
    });
    b
}

/// Asserts that every answer of `plan` agrees with brute force.
pub fn assert_agrees(plan: &Plan, b: &Brute, check_roots: bool) {
    let program = plan.program();
    assert_eq!(plan.job_count(), b.jobs.len() as u64, "job count");
    let mut sorted = b.jobs.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), b.jobs.len(), "job ids are distinct");
    let mut expected_roots = BTreeSet::new();
    for &id in &b.jobs {
        let mut kids = BTreeSet::new();
        for t in b.writes.get(&id).into_iter().flatten() {
            for &r in b.readers.get(t).into_iter().flatten() {
                if r != id {
                    kids.insert(r);
                }
            }
        }
        let mut got = Vec::new();
        plan.children(id, &mut got);
        assert_eq!(
            got,
            kids.into_iter().collect::<Vec<_>>(),
            "children of {}",
            plan.job_name(id)
        );
        let mut parents = BTreeSet::new();
        for t in b.loads.get(&id).into_iter().flatten() {
            if program.matrices[t.matrix as usize].role == Role::Input {
                continue;
            }
            if let Some(&w) = b.writer.get(t)
                && w != id
            {
                parents.insert(w);
            }
        }
        assert_eq!(
            plan.in_degree(id) as usize,
            parents.len(),
            "in-degree of {}",
            plan.job_name(id)
        );
        if parents.is_empty() {
            expected_roots.insert(id);
        }
    }
    for (t, rs) in &b.readers {
        assert_eq!(
            plan.readers(*t) as usize,
            rs.len(),
            "readers of {}",
            program.tile_name(*t)
        );
        if program.matrices[t.matrix as usize].role != Role::Input {
            assert_eq!(
                plan.writer(*t),
                b.writer.get(t).copied(),
                "writer of {}",
                program.tile_name(*t)
            );
        }
    }
    if check_roots {
        let mut roots = BTreeSet::new();
        plan.roots(&mut |id| {
            roots.insert(id);
        });
        assert_eq!(roots, expected_roots, "roots");
    }
}
