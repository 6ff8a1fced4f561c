//! Shared helpers for the scheduler and local-backend tests: a recording
//! in-memory store and hand-built bundles (lp-runtime cannot depend on lpc).
#![allow(dead_code)]

use lp_runtime::bundle::{Bundle, Instr, Job, JobId, MatrixInfo, Role, TileKey};
use lp_runtime::store::{Store, StoreError, StoreResult};
use lp_std::{MatrixHeader, Tile};
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
}

#[derive(Default)]
pub struct StoreState {
    pub tiles: HashMap<(String, usize, usize), Arc<Tile>>,
    pub puts: HashMap<(String, usize, usize), usize>,
    pub deletes: usize,
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
}

impl Store for RecordingStore {
    fn get_tile(&self, matrix: &str, i: usize, j: usize) -> StoreResult<Option<Arc<Tile>>> {
        if let Some(delay) = self.read_delay {
            std::thread::sleep(delay);
        }
        Ok(self.tile(matrix, i, j))
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
    }
}

pub fn key(matrix: u32, i: u32, j: u32) -> TileKey {
    TileKey { matrix, i, j }
}

/// Fills in `children` and `in_degree` from the loads and writes, the way
/// lowering does: a job is a child of the job that writes a tile it loads.
pub fn link(mut jobs: Vec<Job>) -> Vec<Job> {
    let mut writer: HashMap<TileKey, JobId> = HashMap::new();
    for (id, job) in jobs.iter().enumerate() {
        for instr in &job.instrs {
            if let Instr::Write { tile, .. } = instr {
                writer.insert(*tile, id as JobId);
            }
        }
    }
    let mut children: Vec<Vec<JobId>> = vec![Vec::new(); jobs.len()];
    for (id, job) in jobs.iter().enumerate() {
        for instr in &job.instrs {
            if let Instr::Load { tile, .. } = instr
                && let Some(&w) = writer.get(tile)
            {
                children[w as usize].push(id as JobId);
            }
        }
    }
    for c in &mut children {
        c.sort();
        c.dedup();
    }
    for job in jobs.iter_mut() {
        job.in_degree = 0;
    }
    for c in &children {
        for &child in c {
            jobs[child as usize].in_degree += 1;
        }
    }
    for (job, c) in jobs.iter_mut().zip(children) {
        job.children = c;
    }
    jobs
}

pub fn job(name: &str, instrs: Vec<Instr>) -> Job {
    let num_regs = instrs
        .iter()
        .map(|i| match i {
            Instr::Load { dst, .. } | Instr::Apply { dst, .. } => dst + 1,
            Instr::Write { src, .. } => src + 1,
        })
        .max()
        .unwrap_or(0);
    Job {
        name: name.to_string(),
        instrs,
        num_regs,
        children: Vec::new(),
        in_degree: 0,
    }
}

/// A "copy DAG" over `n` jobs: matrix 0 is input `IN` (n x 1 tiles of 1x1,
/// tile j holding j), matrix 1 is output `OUT`. Job j loads IN[j, 0], then
/// every parent's OUT tile (so a job that ran before a parent fails with a
/// missing tile), and writes register 0 to OUT[j, 0]. `parents[j]` lists
/// job j's parents.
pub fn copy_dag(parents: &[Vec<usize>]) -> Bundle {
    let n = parents.len();
    let jobs = (0..n)
        .map(|j| {
            let mut instrs = vec![Instr::Load {
                dst: 0,
                tile: key(0, j as u32, 0),
                transpose: false,
            }];
            for (r, &p) in parents[j].iter().enumerate() {
                instrs.push(Instr::Load {
                    dst: 1 + r as u32,
                    tile: key(1, p as u32, 0),
                    transpose: false,
                });
            }
            instrs.push(Instr::Write {
                tile: key(1, j as u32, 0),
                src: 0,
            });
            job(&format!("job_{j}"), instrs)
        })
        .collect();
    Bundle {
        matrices: vec![
            matrix("IN", n, 1, 1, Role::Input),
            matrix("OUT", n, 1, 1, Role::Output),
        ],
        jobs: link(jobs),
    }
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

/// A Cholesky-shaped DAG of copies on `t x t` tiles of `b x b`: matrix 0 is
/// the input `A`, matrix 1 the output `L`, matrices 2.. the temps `S1`,
/// `S2`, ... (the trailing matrix after step k). Job kinds as in a tiled
/// Cholesky: chol_k reads S_k[k, k]; trsm_k_i reads S_k[i, k] and L[k, k];
/// syrk_k_i_j reads S_k[i, j], L[i, k], L[j, k] and writes S_{k+1}[i, j].
/// Every job writes its first operand, so no kernel is needed.
pub fn cholesky_shaped(t: usize, b: usize) -> Bundle {
    let s = |k: usize| if k == 0 { 0 } else { 1 + k as u32 };
    let mut matrices = vec![
        matrix("A", t, t, b, Role::Input),
        matrix("L", t, t, b, Role::Output),
    ];
    for k in 1..t {
        matrices.push(matrix(&format!("S{k}"), t, t, b, Role::Temp));
    }
    let ld = |dst: u32, m: u32, i: usize, j: usize| Instr::Load {
        dst,
        tile: key(m, i as u32, j as u32),
        transpose: false,
    };
    let wr = |m: u32, i: usize, j: usize| Instr::Write {
        tile: key(m, i as u32, j as u32),
        src: 0,
    };
    let mut jobs = Vec::new();
    for k in 0..t {
        jobs.push(job(
            &format!("chol_{k}"),
            vec![ld(0, s(k), k, k), wr(1, k, k)],
        ));
        for i in k + 1..t {
            jobs.push(job(
                &format!("trsm_{k}_{i}"),
                vec![ld(0, s(k), i, k), ld(1, 1, k, k), wr(1, i, k)],
            ));
        }
        for i in k + 1..t {
            for j in k + 1..=i {
                jobs.push(job(
                    &format!("syrk_{k}_{i}_{j}"),
                    vec![
                        ld(0, s(k), i, j),
                        ld(1, 1, i, k),
                        ld(2, 1, j, k),
                        wr(s(k + 1), i, j),
                    ],
                ));
            }
        }
    }
    Bundle {
        matrices,
        jobs: link(jobs),
    }
}

/// Seeds the lower tiles of `A` for [`cholesky_shaped`], tile (i, j) filled
/// with 10 i + j.
pub fn cholesky_shaped_store(t: usize, b: usize) -> Arc<RecordingStore> {
    let store = RecordingStore::new();
    for i in 0..t {
        for j in 0..=i {
            store.seed("A", i, j, Tile::from_fn(b, b, |_, _| (10 * i + j) as f64));
        }
    }
    store
}
