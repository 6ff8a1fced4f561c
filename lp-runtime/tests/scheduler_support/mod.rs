//! Shared helpers for the scheduler and local-backend tests: a recording
//! in-memory store and hand-built programs (lp-runtime cannot depend on
//! lpc): flat programs, whose every family is one job numbered in order,
//! and the loop form of the Cholesky.
#![allow(dead_code)]

use lp_program::{
    Expr, Family, Instr, Item, JobId, LoopNode, MatrixInfo, Plan, Program, Role, TileKey, TileRef,
};
use lp_runtime::store::{Store, StoreError, StoreResult};
use lp_std::{Init, Kernel, MatrixHeader, Tile};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// An in-memory store that counts puts per tile and tracks the bytes it
/// holds, so tests can check "written once" and "freed".
#[derive(Default)]
pub struct RecordingStore {
    pub state: Mutex<StoreState>,
    /// Puts to this matrix fail, to test store errors.
    pub fail_puts_to: Option<String>,
    /// Every read sleeps this long, to make jobs slow.
    pub read_delay: Option<std::time::Duration>,
    /// `take_tile` hands the tile over and forgets it, as the memory store
    /// does.
    pub hand_over: bool,
}

#[derive(Default)]
pub struct StoreState {
    pub tiles: HashMap<(String, usize, usize), Arc<Tile>>,
    pub puts: HashMap<(String, usize, usize), usize>,
    pub deletes: usize,
    /// Tiles handed over by `take_tile`.
    pub takes: usize,
    /// Those not deleted or written since (`Store::taken`).
    pub taken: std::collections::HashSet<(String, usize, usize)>,
    pub bytes_held: usize,
    pub peak_bytes_held: usize,
}

fn bytes(t: &Tile) -> usize {
    t.nrows() * t.ncols() * 8
}

impl RecordingStore {
    pub fn new() -> Arc<RecordingStore> {
        Arc::new(RecordingStore::default())
    }

    /// A store that hands temp tiles over to their only reader.
    pub fn handing_over() -> Arc<RecordingStore> {
        Arc::new(RecordingStore {
            hand_over: true,
            ..RecordingStore::default()
        })
    }

    /// Stores a tile without counting it as a put by the run.
    pub fn seed(&self, matrix: &str, i: usize, j: usize, tile: Tile) {
        let mut s = self.state.lock().unwrap();
        s.bytes_held += bytes(&tile);
        s.peak_bytes_held = s.peak_bytes_held.max(s.bytes_held);
        s.tiles.insert((matrix.to_string(), i, j), Arc::new(tile));
    }

    pub fn tile(&self, matrix: &str, i: usize, j: usize) -> Option<Arc<Tile>> {
        self.state
            .lock()
            .unwrap()
            .tiles
            .get(&(matrix.to_string(), i, j))
            .cloned()
    }

    pub fn puts(&self, matrix: &str, i: usize, j: usize) -> usize {
        *self
            .state
            .lock()
            .unwrap()
            .puts
            .get(&(matrix.to_string(), i, j))
            .unwrap_or(&0)
    }

    pub fn tiles_of(&self, matrix: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .tiles
            .keys()
            .filter(|k| k.0 == matrix)
            .count()
    }

    /// The names of the matrices with a tile in the store, sorted.
    pub fn matrices(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .state
            .lock()
            .unwrap()
            .tiles
            .keys()
            .map(|k| k.0.clone())
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

impl Store for RecordingStore {
    fn get_tile(&self, matrix: &str, i: usize, j: usize) -> StoreResult<Option<Arc<Tile>>> {
        if let Some(delay) = self.read_delay {
            std::thread::sleep(delay);
        }
        Ok(self.tile(matrix, i, j))
    }

    fn take_tile(&self, matrix: &str, i: usize, j: usize) -> StoreResult<Option<Arc<Tile>>> {
        if !self.hand_over {
            return self.get_tile(matrix, i, j);
        }
        if let Some(delay) = self.read_delay {
            std::thread::sleep(delay);
        }
        let mut s = self.state.lock().unwrap();
        let key = (matrix.to_string(), i, j);
        let taken = s.tiles.remove(&key);
        if let Some(t) = &taken {
            s.takes += 1;
            s.bytes_held -= bytes(t);
            s.taken.insert(key);
        }
        Ok(taken)
    }

    fn hands_over_tiles(&self) -> bool {
        self.hand_over
    }

    fn taken(&self, matrix: &str, i: usize, j: usize) -> StoreResult<bool> {
        let s = self.state.lock().unwrap();
        Ok(s.taken.contains(&(matrix.to_string(), i, j)))
    }

    fn put_tile(&self, matrix: &str, i: usize, j: usize, tile: Arc<Tile>) -> StoreResult<()> {
        if self.fail_puts_to.as_deref() == Some(matrix) {
            return Err(StoreError::Io {
                what: format!("{matrix}/{i}_{j}.npy"),
                source: std::io::Error::other("disk full"),
            });
        }
        let mut s = self.state.lock().unwrap();
        let key = (matrix.to_string(), i, j);
        *s.puts.entry(key.clone()).or_insert(0) += 1;
        s.taken.remove(&key);
        s.bytes_held += bytes(&tile);
        if let Some(old) = s.tiles.insert(key, tile) {
            s.bytes_held -= bytes(&old);
        }
        s.peak_bytes_held = s.peak_bytes_held.max(s.bytes_held);
        Ok(())
    }

    fn delete_tile(&self, matrix: &str, i: usize, j: usize) -> StoreResult<()> {
        let mut s = self.state.lock().unwrap();
        s.deletes += 1;
        s.taken.remove(&(matrix.to_string(), i, j));
        if let Some(old) = s.tiles.remove(&(matrix.to_string(), i, j)) {
            s.bytes_held -= bytes(&old);
        }
        Ok(())
    }

    fn list_tiles(&self, matrix: &str) -> StoreResult<Vec<(usize, usize)>> {
        let s = self.state.lock().unwrap();
        Ok(s.tiles
            .keys()
            .filter(|k| k.0 == matrix)
            .map(|k| (k.1, k.2))
            .collect())
    }

    fn get_header(&self, _matrix: &str) -> StoreResult<Option<MatrixHeader>> {
        Ok(None)
    }

    fn put_header(&self, _matrix: &str, _header: &MatrixHeader) -> StoreResult<()> {
        Ok(())
    }
}

/// The source file name every test program claims (job errors cite it).
pub const SOURCE: &str = "test.lp";

/// A plain (unversioned, non-symmetric) matrix of `rows_tiles x cols_tiles`
/// tiles of `tile x tile`, with no initialiser.
pub fn matrix(
    name: &str,
    rows_tiles: usize,
    cols_tiles: usize,
    tile: usize,
    role: Role,
) -> MatrixInfo {
    MatrixInfo {
        name: name.to_string(),
        header: MatrixHeader::new([rows_tiles * tile, cols_tiles * tile], [tile, tile], false),
        role,
        init: None,
        versions: vec![],
        base: None,
    }
}

/// The stored tile (i, j) of a plain matrix.
pub fn key(matrix: u32, i: u32, j: u32) -> TileKey {
    TileKey {
        matrix,
        version: 0,
        i,
        j,
    }
}

pub fn c(v: i64) -> Expr {
    Expr::Const(v)
}

/// The variable of the enclosing loop at `depth` (0: outermost).
pub fn var(depth: u8) -> Expr {
    Expr::Var(depth)
}

pub fn plus(a: Expr, b: i64) -> Expr {
    Expr::Add(Box::new(a), Box::new(c(b)))
}

/// A reference to a tile of `matrix` (version components first).
pub fn at(matrix: u32, index: Vec<Expr>) -> TileRef {
    TileRef { matrix, index }
}

/// Tile (i, j) of a plain matrix, with constant indices.
pub fn tile(matrix: u32, i: usize, j: usize) -> TileRef {
    at(matrix, vec![c(i as i64), c(j as i64)])
}

pub fn load(dst: u32, tile: TileRef) -> Instr {
    Instr::Load { dst, tile }
}

pub fn write(tile: TileRef, src: u32) -> Instr {
    Instr::Write { tile, src }
}

pub fn apply(dst: u32, kernel: Kernel, args: Vec<u32>) -> Instr {
    Instr::Apply {
        dsts: vec![dst],
        kernel,
        args,
    }
}

/// Registers an instruction list needs: one past the highest it names.
pub fn registers(instrs: &[Instr]) -> u32 {
    instrs
        .iter()
        .map(|i| match i {
            Instr::Load { dst, .. } => dst + 1,
            Instr::Write { src, .. } => src + 1,
            Instr::Apply { dsts, args, .. } => dsts.iter().chain(args).fold(0, |m, a| m.max(a + 1)),
        })
        .max()
        .unwrap_or(0)
}

/// A family with no loops: one job. Lines are given by [`flat`].
pub fn job(name: &str, instrs: Vec<Instr>) -> Family {
    Family {
        name: name.to_string(),
        loops: vec![],
        num_regs: registers(&instrs),
        lines: vec![0; instrs.len()],
        priority: None,
        instrs,
        line: 0,
    }
}

/// A flat program: every family is one job, numbered in order. Each
/// family's label gets its own source line, each instruction the next
/// ones, and a blank line separates jobs (job 0 is at line 1, its first
/// instruction at line 2).
pub fn flat(matrices: Vec<MatrixInfo>, mut families: Vec<Family>) -> Program {
    let mut line = 1;
    for f in &mut families {
        f.line = line;
        f.lines = (0..f.instrs.len() as u32).map(|k| line + 1 + k).collect();
        line += f.instrs.len() as u32 + 2;
    }
    let body = (0..families.len() as u32).map(Item::Family).collect();
    Program {
        matrices,
        loops: vec![],
        families,
        body,
        source: SOURCE.to_string(),
    }
}

/// Appends an instruction to family `f`, on the line after its last one.
pub fn push_instr(program: &mut Program, f: usize, instr: Instr) {
    let fam = &mut program.families[f];
    let line = fam.lines.last().copied().unwrap_or(fam.line) + 1;
    fam.instrs.push(instr);
    fam.lines.push(line);
    fam.num_regs = fam.num_regs.max(registers(&fam.instrs));
}

/// The plan of a program that must pass the runtime's validation (what
/// `lp_program::bundle::decode` checks).
pub fn plan(program: Program) -> Plan {
    lp_program::bundle::validate(program)
        .unwrap_or_else(|e| panic!("the test program is invalid: {e}"))
}

/// The plan of a program without validating it (for programs a checked
/// bundle could not hold).
pub fn unchecked_plan(program: Program) -> Plan {
    Plan::new(program).unwrap_or_else(|e| panic!("the test program has no plan: {e}"))
}

/// Every job of a plan in program order, with its name.
pub fn jobs_of(plan: &Plan) -> Vec<(JobId, String)> {
    let mut out = Vec::new();
    plan.walk(&mut |_, _, id| {
        out.push((id, plan.job_name(id)));
        true
    });
    out
}

/// A "copy DAG" over `n` jobs: matrix 0 is input `IN` (n x 1 tiles of 1x1,
/// tile j holding j), matrix 1 is output `OUT`. Job j loads IN[j, 0], then
/// every parent's OUT tile (so a job that ran before a parent fails with a
/// missing tile), and writes register 0 to OUT[j, 0]. `parents[j]` lists
/// job j's parents.
pub fn copy_dag(parents: &[Vec<usize>]) -> Program {
    let n = parents.len();
    let jobs = (0..n)
        .map(|j| {
            let mut instrs = vec![load(0, tile(0, j, 0))];
            for (r, &p) in parents[j].iter().enumerate() {
                instrs.push(load(1 + r as u32, tile(1, p, 0)));
            }
            instrs.push(write(tile(1, j, 0), 0));
            job(&format!("job_{j}"), instrs)
        })
        .collect();
    flat(
        vec![
            matrix("IN", n, 1, 1, Role::Input),
            matrix("OUT", n, 1, 1, Role::Output),
        ],
        jobs,
    )
}

/// A store seeded with the `IN` tiles of [`copy_dag`].
pub fn copy_dag_store(n: usize) -> Arc<RecordingStore> {
    let store = RecordingStore::new();
    for j in 0..n {
        store.seed("IN", j, 0, Tile::from_fn(1, 1, |_, _| j as f64));
    }
    store
}

/// Checks that every job of a copy DAG wrote its tile exactly once with the
/// right value.
pub fn assert_copy_dag_done(store: &RecordingStore, n: usize) {
    for j in 0..n {
        let tile = store
            .tile("OUT", j, 0)
            .unwrap_or_else(|| panic!("OUT[{j}, 0] missing"));
        assert_eq!(tile[(0, 0)], j as f64, "OUT[{j}, 0]");
        assert_eq!(store.puts("OUT", j, 0), 1, "puts of OUT[{j}, 0]");
    }
}

pub fn diamond() -> Vec<Vec<usize>> {
    vec![vec![], vec![0], vec![0], vec![1, 2]]
}

/// One root, `width` middle jobs, one sink.
pub fn fan_out(width: usize) -> Vec<Vec<usize>> {
    let mut p = vec![vec![]];
    p.extend((0..width).map(|_| vec![0]));
    p.push((1..=width).collect());
    p
}

/// A reproducible random DAG: each job has up to `max_parents` parents
/// among the earlier jobs (a small LCG keeps the tests dependency-free).
pub fn random_dag(n: usize, max_parents: usize, seed: u64) -> Vec<Vec<usize>> {
    let mut state = seed;
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
            let mut ps: Vec<usize> = (0..k).map(|_| next() % j).collect();
            ps.sort();
            ps.dedup();
            ps
        })
        .collect()
}

/// What the jobs of a Cholesky-shaped program compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body {
    /// Every job writes its first operand: L ends up equal to the lower
    /// tiles of A, and no kernel runs (the input is seeded by
    /// [`cholesky_shaped_store`]).
    Copy,
    /// The tiled Cholesky's kernels (CHOL, TRSM_RLT, SYRK) on `A = spd(7)`: L
    /// is its Cholesky factor.
    Kernels,
}

/// The matrix index of the input `A` and the output `L` in both forms.
pub const A: u32 = 0;
pub const L: u32 = 1;

/// `A` (sym input) and `L` (output) of a Cholesky-shaped program.
fn cholesky_matrices(t: usize, b: usize, body: Body) -> Vec<MatrixInfo> {
    let mut a = matrix("A", t, t, b, Role::Input);
    a.header.symmetric = true;
    if body == Body::Kernels {
        a.init = Some(Init::Spd { seed: 7 });
    }
    vec![a, matrix("L", t, t, b, Role::Output)]
}

/// The instructions of one Cholesky step: load `loads` into registers 0..,
/// then (with kernels) apply `kernel` to them all, and write the result.
fn step(body: Body, kernel: Kernel, loads: Vec<TileRef>, out: TileRef) -> Vec<Instr> {
    let n = loads.len() as u32;
    let mut instrs: Vec<Instr> = loads
        .into_iter()
        .enumerate()
        .map(|(r, t)| load(r as u32, t))
        .collect();
    match body {
        Body::Copy => instrs.push(write(out, 0)),
        Body::Kernels => {
            instrs.push(apply(n, kernel, (0..n).collect()));
            instrs.push(write(out, n));
        }
    }
    instrs
}

/// A flat Cholesky-shaped program on `t x t` tiles of `b x b`: matrix 0 is
/// the input `A` (symmetric), matrix 1 the output `L`, matrices 2.. the
/// temps `S1`, `S2`, ... (the trailing matrix after step k, symmetric like
/// A). Job kinds as in a tiled Cholesky: chol_k reads S_k[k, k]; trsm_k_i
/// reads S_k[i, k] and L[k, k]; syrk_k_i_j reads S_k[i, j], L[i, k],
/// L[j, k] and writes S_{k+1}[i, j] (S_0 is A). With [`Body::Copy`] every
/// job writes its first operand, so no kernel is needed.
pub fn cholesky_flat(t: usize, b: usize, body: Body) -> Program {
    let s = |k: usize| if k == 0 { A } else { 1 + k as u32 };
    let mut matrices = cholesky_matrices(t, b, body);
    for k in 1..t {
        let mut temp = matrices[A as usize].clone();
        temp.name = format!("S{k}");
        temp.role = Role::Temp;
        temp.init = None;
        matrices.push(temp);
    }
    let mut jobs = Vec::new();
    for k in 0..t {
        jobs.push(job(
            &format!("chol_{k}"),
            step(body, Kernel::Chol, vec![tile(s(k), k, k)], tile(L, k, k)),
        ));
        for i in k + 1..t {
            jobs.push(job(
                &format!("trsm_{k}_{i}"),
                step(
                    body,
                    Kernel::from_name("TRSM_RLT").unwrap(),
                    vec![tile(s(k), i, k), tile(L, k, k)],
                    tile(L, i, k),
                ),
            ));
        }
        for i in k + 1..t {
            for j in k + 1..=i {
                jobs.push(job(
                    &format!("syrk_{k}_{i}_{j}"),
                    step(
                        body,
                        Kernel::Syrk,
                        vec![tile(s(k), i, j), tile(L, i, k), tile(L, j, k)],
                        tile(s(k + 1), i, j),
                    ),
                ));
            }
        }
    }
    flat(matrices, jobs)
}

/// [`cholesky_flat`] with [`Body::Copy`].
pub fn cholesky_shaped(t: usize, b: usize) -> Program {
    cholesky_flat(t, b, Body::Copy)
}

/// A loop program under construction: loops and families appended in
/// program order through a stack of open loops; every loop header, family
/// label and instruction on its own source line.
pub struct LoopBuilder {
    pub program: Program,
    open: Vec<u32>,
    line: u32,
}

impl LoopBuilder {
    pub fn new(matrices: Vec<MatrixInfo>) -> LoopBuilder {
        LoopBuilder {
            program: Program {
                matrices,
                loops: vec![],
                families: vec![],
                body: vec![],
                source: SOURCE.to_string(),
            },
            open: vec![],
            line: 1,
        }
    }

    fn push_item(&mut self, item: Item) {
        match self.open.last() {
            Some(&l) => self.program.loops[l as usize].body.push(item),
            None => self.program.body.push(item),
        }
    }

    /// `for var in range(start, end, step) {`
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
        self.open.push(id);
        self.line += 1;
    }

    /// `}`
    pub fn close(&mut self) {
        self.open.pop();
        self.line += 1;
    }

    pub fn family(&mut self, name: &str, instrs: Vec<Instr>) {
        let id = self.program.families.len() as u32;
        let line = self.line;
        self.line += instrs.len() as u32 + 1;
        self.program.families.push(Family {
            name: name.into(),
            loops: self.open.clone(),
            num_regs: registers(&instrs),
            lines: (0..instrs.len() as u32).map(|k| line + 1 + k).collect(),
            priority: None,
            instrs,
            line,
        });
        self.push_item(Item::Family(id));
    }

    pub fn finish(self) -> Program {
        assert!(self.open.is_empty(), "a loop is still open");
        self.program
    }
}

/// The matrix index of the versioned temp `S` of [`cholesky_loops`].
pub const S: u32 = 2;

/// The loop form of [`cholesky_flat`], as in `lib/cholesky.lp`: families
/// `chol` (loop k), `trsm` (loops k, i) and `syrk` (loops k, i, j) over a
/// versioned temp `S[t]` whose version 0 is `A` (`S[0, i, j]` is
/// `A[i, j]`), so that step k reads `S[k, ...]` and writes
/// `S[k + 1, ...]`. Version v is stored as `S.v`.
pub fn cholesky_loops(t: usize, b: usize, body: Body) -> Program {
    let mut matrices = cholesky_matrices(t, b, body);
    let mut temp = matrices[A as usize].clone();
    temp.name = "S".into();
    temp.role = Role::Temp;
    temp.init = None;
    temp.versions = vec![t as u32];
    temp.base = Some(A);
    matrices.push(temp);
    let (k, i, j) = (var(0), var(1), var(2));
    let nt = c(t as i64);
    let mut p = LoopBuilder::new(matrices);
    p.open("k", c(0), nt.clone(), c(1));
    p.family(
        "chol",
        step(
            body,
            Kernel::Chol,
            vec![at(S, vec![k.clone(), k.clone(), k.clone()])],
            at(L, vec![k.clone(), k.clone()]),
        ),
    );
    p.open("i", plus(k.clone(), 1), nt.clone(), c(1));
    p.family(
        "trsm",
        step(
            body,
            Kernel::from_name("TRSM_RLT").unwrap(),
            vec![
                at(S, vec![k.clone(), i.clone(), k.clone()]),
                at(L, vec![k.clone(), k.clone()]),
            ],
            at(L, vec![i.clone(), k.clone()]),
        ),
    );
    p.open("j", plus(k.clone(), 1), plus(i.clone(), 1), c(1));
    p.family(
        "syrk",
        step(
            body,
            Kernel::Syrk,
            vec![
                at(S, vec![k.clone(), i.clone(), j.clone()]),
                at(L, vec![i.clone(), k.clone()]),
                at(L, vec![j.clone(), k.clone()]),
            ],
            at(S, vec![plus(k.clone(), 1), i, j]),
        ),
    );
    p.close();
    p.close();
    p.close();
    p.finish()
}

/// Number of jobs of a Cholesky on `t x t` tiles.
pub fn cholesky_jobs(t: usize) -> u64 {
    let t = t as u64;
    t + t * (t - 1) / 2 + (t - 1) * t * (t + 1) / 6
}

/// Number of temp tiles a Cholesky on `t x t` tiles writes: the lower
/// trailing matrix after each step but the last.
pub fn cholesky_temp_tiles(t: usize) -> usize {
    (1..t).map(|k| (t - k) * (t - k + 1) / 2).sum()
}

/// The tiles (i, j) of the lower triangle of a `t` x `t` tile grid, row
/// by row.
pub fn lower_tiles(t: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..t).flat_map(|i| (0..=i).map(move |j| (i, j)))
}

/// Seeds the lower tiles of `A` for [`Body::Copy`], tile (i, j) filled
/// with 10 i + j.
pub fn cholesky_shaped_store(t: usize, b: usize) -> Arc<RecordingStore> {
    let store = RecordingStore::new();
    for (i, j) in lower_tiles(t) {
        store.seed("A", i, j, Tile::from_fn(b, b, |_, _| (10 * i + j) as f64));
    }
    store
}
