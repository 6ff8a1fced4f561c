//! A run's lazily initialised input tiles, generated once and kept until
//! their last reader (docs/runtime.md, "Lazy initialisers").
//!
//! An input declared with an initialiser (`A = spd(42)`) and not supplied
//! has no tiles in the store: each load generates its tile. A GEMM reads
//! each tile of A and B once per tile of the other dimension (8 times at
//! 8192 with tiles of 1024), and generation is not free (about 5 % of such
//! a run's CPU time). [`GeneratedInputs`] wraps the run's store: the first
//! load of such a tile generates it, and if the program reads the tile
//! again (its reader count is solved from the plan) it is kept in memory
//! until its last reader has loaded it, then dropped, so that last reader
//! holds the only reference (a kernel may then consume it in place).
//!
//! Nothing is written to the store, so no store grows and no other run can
//! ever read these tiles: provenance is the run's own declaration. Tiles
//! the store does hold (an import, or tiles of the same origin cached
//! there) are read from it as before. The kept tiles are bounded by a byte
//! budget; past it, tiles are generated at each load as before. A program
//! that reads each input tile once (a Cholesky's A) keeps nothing.

use super::{Store, StoreLayer, StoreResult};
use lp_program::{Plan, Role, TileKey};
use lp_std::{MatrixHeader, Tile};
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};

/// What [`KeptTiles::load`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kept {
    /// A kept tile serves the load; after the last one it is kept no more.
    Served { last: bool },
    /// Not kept, and a tile of the load's size fits the budget: call
    /// [`KeptTiles::keep`] once the tile's readers are counted.
    Fits,
    /// Not kept, and the budget is full: the load generates its tile.
    Full,
}

/// Which generated tiles are kept, and for how many more loads: the rule
/// of the local backend ([`GeneratedInputs`]), which the simulator follows
/// too (`lp_sim`'s store), so that both keep the same tiles.
///
/// The first load of a tile that later loads read keeps it if it fits the
/// budget, and its last load drops it. A tile loaded while the budget was
/// full may be kept by a later load, for the loads that remain: its loads
/// are counted until then, since a tile kept for all its readers would
/// outlive its last one and hold the budget until the run ends.
#[derive(Debug)]
pub struct KeptTiles<K> {
    budget: u64,
    bytes: u64,
    /// Each kept tile's loads to come and its bytes.
    kept: HashMap<K, (u32, u64)>,
    /// Loads so far of tiles generated while the budget was full.
    unkept: HashMap<K, u32>,
}

impl<K: Hash + Eq + Copy> KeptTiles<K> {
    /// Keeping at most `budget` bytes at a time (0 keeps nothing and
    /// counts nothing).
    pub fn new(budget: u64) -> KeptTiles<K> {
        KeptTiles {
            budget,
            bytes: 0,
            kept: HashMap::new(),
            unkept: HashMap::new(),
        }
    }

    /// One load of `key` if a kept tile serves it: whether it was the
    /// last (the tile is kept no more). Counts nothing otherwise.
    pub fn serve(&mut self, key: K) -> Option<bool> {
        let (left, size) = self.kept.get_mut(&key)?;
        *left -= 1;
        if *left > 0 {
            return Some(false);
        }
        self.bytes -= *size;
        self.kept.remove(&key);
        Some(true)
    }

    /// One load of `key`, a tile of `bytes`.
    pub fn load(&mut self, key: K, bytes: u64) -> Kept {
        if let Some(last) = self.serve(key) {
            return Kept::Served { last };
        }
        if self.budget > 0 && self.bytes.saturating_add(bytes) <= self.budget {
            return Kept::Fits;
        }
        if self.budget > 0 {
            *self.unkept.entry(key).or_default() += 1;
        }
        Kept::Full
    }

    /// After [`Kept::Fits`]: keeps `key` for the loads of its `readers` in
    /// all that are still to come, if any; whether it is kept.
    pub fn keep(&mut self, key: K, bytes: u64, readers: u32) -> bool {
        let done = self.unkept.remove(&key).unwrap_or(0) + 1;
        let left = readers.saturating_sub(done);
        if left == 0 {
            return false;
        }
        self.kept.insert(key, (left, bytes));
        self.bytes += bytes;
        true
    }

    /// [`KeptTiles::load`], then [`KeptTiles::keep`] where it fits:
    /// whether a kept tile served the load (else it generates its tile).
    pub fn load_or_keep(&mut self, key: K, bytes: u64, readers: impl FnOnce() -> u32) -> bool {
        match self.load(key, bytes) {
            Kept::Served { .. } => true,
            Kept::Fits => {
                self.keep(key, bytes, readers());
                false
            }
            Kept::Full => false,
        }
    }

    /// Bytes kept now.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Whether no tile is kept now (the tests check that none outlives its
    /// last load).
    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }
}

/// Tile `(i, j)` of input matrix number `matrix`.
type Key = (u32, usize, usize);

/// Where a kept tile goes: filled by its first load (loads of it at the
/// same time wait for that).
type Cell = Arc<OnceLock<Arc<Tile>>>;

struct Held {
    book: KeptTiles<Key>,
    cells: HashMap<Key, Cell>,
}

/// The run's store, generating its initialised inputs' missing tiles once
/// (see the module doc).
pub struct GeneratedInputs<'a> {
    inner: &'a dyn Store,
    plan: &'a Plan,
    /// The stored name of each input with an initialiser, and its matrix
    /// (a program has a few: a list is the fastest lookup).
    inputs: Vec<(String, u32)>,
    held: Mutex<Held>,
    /// Tiles kept now (read without the lock).
    kept: AtomicUsize,
    generated: AtomicU64,
    /// Loads served by a kept tile without generating it.
    reused: AtomicU64,
}

impl<'a> GeneratedInputs<'a> {
    /// `inner` seen through `plan`'s initialised inputs, keeping at most
    /// `budget` bytes of generated tiles at a time.
    pub fn new(inner: &'a dyn Store, plan: &'a Plan, budget: u64) -> GeneratedInputs<'a> {
        let inputs = plan
            .program()
            .matrices
            .iter()
            .enumerate()
            .filter(|(_, m)| m.role == Role::Input && m.init.is_some())
            .map(|(k, m)| (m.stored_name(0), k as u32))
            .collect();
        GeneratedInputs {
            inner,
            plan,
            inputs,
            held: Mutex::new(Held {
                book: KeptTiles::new(budget),
                cells: HashMap::new(),
            }),
            kept: AtomicUsize::new(0),
            generated: AtomicU64::new(0),
            reused: AtomicU64::new(0),
        }
    }

    /// Tiles generated so far.
    pub fn generated(&self) -> u64 {
        self.generated.load(Relaxed)
    }

    /// Loads served so far by a kept tile, without generating it.
    pub fn reused(&self) -> u64 {
        self.reused.load(Relaxed)
    }

    /// Bytes of generated tiles kept now.
    pub fn kept_bytes(&self) -> u64 {
        self.lock().book.bytes()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn header(&self, matrix: u32) -> &MatrixHeader {
        &self.plan.program().matrices[matrix as usize].header
    }

    fn generate(&self, (matrix, i, j): Key) -> Arc<Tile> {
        let info = &self.plan.program().matrices[matrix as usize];
        let init = info.init.as_ref().expect("only initialised inputs");
        self.generated.fetch_add(1, Relaxed);
        Arc::new(init.tile(&info.header, i, j))
    }

    /// The cell of a kept tile that served a load, dropped from the kept
    /// ones after its `last` load.
    fn served(&self, held: &mut Held, key: Key, last: bool) -> Cell {
        if !last {
            return held.cells[&key].clone();
        }
        self.kept.fetch_sub(1, Relaxed);
        held.cells.remove(&key).expect("a kept tile's cell")
    }

    /// The cell to generate `key` into and keep, if it has loads to come
    /// and fits the budget (another load may have made it meanwhile). The
    /// readers are counted only for a tile that could be kept, outside the
    /// lock: past the budget (`--input-cache 0`) a load costs no counting.
    /// The load is counted once: by the book's `load` when the budget is
    /// full or a kept tile serves it, else by its `keep`.
    fn keep(&self, key: Key) -> Option<Cell> {
        let (matrix, i, j) = key;
        let shape = self.header(matrix).tile(i, j);
        let bytes = (shape.rows * shape.cols * 8) as u64;
        let mut readers = None;
        loop {
            let mut held = self.lock();
            match held.book.load(key, bytes) {
                Kept::Served { last } => return Some(self.served(&mut held, key, last)),
                Kept::Full => return None,
                Kept::Fits => {}
            }
            if let Some(readers) = readers {
                if !held.book.keep(key, bytes, readers) {
                    return None;
                }
                let cell = Cell::default();
                held.cells.insert(key, cell.clone());
                self.kept.fetch_add(1, Relaxed);
                return Some(cell);
            }
            // Count outside the lock, then look again.
            drop(held);
            readers = Some(self.plan.readers(TileKey {
                matrix,
                version: 0,
                i: i as u32,
                j: j as u32,
            }));
        }
    }

    /// The tile in `cell`, generated if this is the first load. The cell
    /// is dropped on return, so the last load (whose cell is no longer
    /// kept) holds the only reference unless another load still runs.
    fn fill(&self, key: Key, cell: Cell) -> Arc<Tile> {
        let mut made = false;
        let tile = cell
            .get_or_init(|| {
                made = true;
                self.generate(key)
            })
            .clone();
        if !made {
            self.reused.fetch_add(1, Relaxed);
        }
        tile
    }
}

impl StoreLayer for GeneratedInputs<'_> {
    fn inner(&self) -> &dyn Store {
        self.inner
    }
    fn get_tile(&self, matrix: &str, i: usize, j: usize) -> StoreResult<Option<Arc<Tile>>> {
        let Some(&(_, m)) = self.inputs.iter().find(|(name, _)| name == matrix) else {
            return self.inner.get_tile(matrix, i, j);
        };
        let key = (m, i, j);
        // Kept tiles first (a tile is kept only after the store lacked it);
        // with none kept (an imported input), not even the lock.
        if self.kept.load(Relaxed) > 0 {
            let mut held = self.lock();
            if let Some(last) = held.book.serve(key) {
                let cell = self.served(&mut held, key, last);
                drop(held);
                return Ok(Some(self.fill(key, cell)));
            }
        }
        if let Some(stored) = self.inner.get_tile(matrix, i, j)? {
            return Ok(Some(stored));
        }
        Ok(Some(match self.keep(key) {
            Some(kept) => self.fill(key, kept),
            None => self.generate(key),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::mem::MemStore;
    use lp_program::ir::{Expr, Family, Instr, Item, LoopNode, MatrixInfo, Program, TileRef};
    use lp_std::Init;

    /// `for i in range(jobs) { cp: %x = ADD A[0, 0], A[0, 0]; S3_WRITE
    /// C[i, 0], %x }`, A being `random(3)` in one 2 x 2 tile.
    fn one_tile_read_by(jobs: i64) -> Plan {
        let matrix = |name: &str, rows: usize, role, init| MatrixInfo {
            name: name.into(),
            header: MatrixHeader::new([rows, 2], [2, 2], false),
            role,
            init,
            versions: vec![],
            base: None,
        };
        let at = |matrix, i| TileRef {
            matrix,
            index: vec![i, Expr::Const(0)],
        };
        let load = |dst| Instr::Load {
            dst,
            tile: at(0, Expr::Const(0)),
        };
        let cp = Family {
            name: "cp".into(),
            loops: vec![0],
            instrs: vec![
                load(0),
                load(1),
                Instr::Apply {
                    dsts: vec![2],
                    kernel: lp_std::Kernel::Add,
                    args: vec![0, 1],
                },
                Instr::Write {
                    tile: at(1, Expr::Var(0)),
                    src: 2,
                },
            ],
            num_regs: 3,
            line: 1,
            lines: vec![1; 4],
            priority: None,
        };
        let program = Program {
            matrices: vec![
                matrix("A", 2, Role::Input, Some(Init::Random { seed: 3 })),
                matrix("C", 2 * jobs as usize, Role::Output, None),
            ],
            loops: vec![LoopNode {
                var: "i".into(),
                start: Expr::Const(0),
                end: Expr::Const(jobs),
                step: Expr::Const(1),
                body: vec![Item::Family(0)],
            }],
            families: vec![cp],
            body: vec![Item::Loop(0)],
            source: "test.lp".into(),
        };
        Plan::new(program).unwrap()
    }

    /// Two tiles of 8 bytes read 3 times each, a budget of one: X is kept
    /// at its first load; Y's first, with the budget full, generates; once
    /// X's last load drops it, Y's second load keeps Y for its one load to
    /// come, after which nothing is kept. (Kept for all 3 readers, Y would
    /// have outlived its last load and held the budget for good.)
    #[test]
    fn a_tile_kept_after_a_full_budget_is_kept_for_the_loads_that_remain() {
        let mut book = KeptTiles::new(8);
        let readers = 3;
        let mut steps = Vec::new();
        for key in ['X', 'Y', 'X', 'X', 'Y', 'Y'] {
            let found = book.load(key, 8);
            if found == Kept::Fits {
                assert!(book.keep(key, 8, readers), "{key}");
            }
            steps.push((key, found, book.bytes()));
        }
        let served = |last| Kept::Served { last };
        assert_eq!(
            steps,
            [
                ('X', Kept::Fits, 8),
                ('Y', Kept::Full, 8),
                ('X', served(false), 8),
                ('X', served(true), 0),
                ('Y', Kept::Fits, 8),
                ('Y', served(true), 0),
            ]
        );
        assert!(book.is_empty());
        // A tile with no loads to come is not kept, nor is anything with
        // no budget.
        assert_eq!(book.load('Z', 8), Kept::Fits);
        assert!(!book.keep('Z', 8, 1));
        let mut none = KeptTiles::new(0);
        assert_eq!(none.load('X', 8), Kept::Full);
        assert!(!none.load_or_keep('X', 8, || 3));
        assert!(none.is_empty());
    }

    /// A tile read by two billion jobs: each load counts its readers from
    /// the index equations, or not at all past the budget, so 10,000 loads
    /// take milliseconds (listing the readers took 16 GB per load), and
    /// every load gets A's tile.
    #[test]
    fn a_tile_with_billions_of_readers_is_kept_or_regenerated_without_listing_them() {
        let plan = one_tile_read_by(2_000_000_000);
        let store = MemStore::default();
        let info = &plan.program().matrices[0];
        let expected = info.init.as_ref().unwrap().tile(&info.header, 0, 0);
        let started = std::time::Instant::now();
        for (budget, generated, reused, kept) in [(1 << 20, 1, 9_999, 32), (0, 10_000, 0, 0)] {
            let inputs = GeneratedInputs::new(&store, &plan, budget);
            for _ in 0..10_000 {
                let tile = Store::get_tile(&inputs, "A", 0, 0).unwrap().unwrap();
                assert_eq!(*tile, expected);
            }
            assert_eq!(
                (inputs.generated(), inputs.reused(), inputs.kept_bytes()),
                (generated, reused, kept),
                "budget {budget}"
            );
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }
}
