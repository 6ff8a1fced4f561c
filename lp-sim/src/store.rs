//! [`SimStore`]: which tiles the store holds, without their bytes.
//!
//! The engine records a job's writes when they become durable; the
//! protocol's own `finish` deletes a temp tile after its last reader
//! through `Store::delete_tile`, which here is one request charged to the
//! caller's [`Cursor`]. So the tiles held at once, and their peak, follow
//! from the protocol's real freeing decisions.
//!
//! On the threads platform it is the memory store, which hands a temp tile
//! over to its only reader (`Store::take_tile`): the tile leaves the store
//! when that reader loads it, and a duplicate of the reader that looks for
//! it later finds it taken and stops, as in a real run. There, too, the
//! local backend keeps a generated input tile that later loads read, within
//! its budget (`lp_runtime::store::GeneratedInputs`), and
//! [`SimStore::kept_input`] keeps the same ones (`KeptTiles`, the rule
//! both share), so that only the first load pays for generating.

use crate::clock::{Cursor, Ns};
use crate::report::Tally;
use lp_program::{Program, Role, TileKey};
use lp_runtime::store::{KeptTiles, Store, StoreError, StoreResult};
use lp_std::{MatrixHeader, Tile};
// foldhash, not SipHash: a lookup per simulated load (see counters.rs).
use foldhash::{HashMap, HashSet};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Default)]
struct Held {
    tiles: HashSet<TileKey>,
    /// Handed over and not deleted or written again since.
    taken: HashSet<TileKey>,
    temp_tiles: u64,
    temp_bytes: u64,
    peak_tiles: u64,
    peak_temp_tiles: u64,
    peak_temp_bytes: u64,
}

pub struct SimStore {
    /// Stored name (`S.3`) to (matrix, version).
    names: HashMap<String, (u32, u32)>,
    temp: Vec<bool>,
    headers: Vec<MatrixHeader>,
    hands_over: bool,
    /// Generated input tiles kept for later loads (threads only).
    inputs: Mutex<KeptTiles<TileKey>>,
    held: Mutex<Held>,
    cursor: Cursor,
    delete: Ns,
    tally: Arc<Tally>,
}

/// Tiles and bytes held at once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Peaks {
    pub tiles: u64,
    pub temp_tiles: u64,
    pub temp_bytes: u64,
}

impl SimStore {
    /// `hands_over`: the store hands temp tiles over as the memory store
    /// does ([`SimStore::take`]); `input_budget`: the bytes of generated
    /// input tiles kept for later loads ([`SimStore::kept_input`]; 0 keeps
    /// none).
    pub fn new(
        program: &Program,
        hands_over: bool,
        input_budget: u64,
        cursor: Cursor,
        delete: Ns,
        tally: Arc<Tally>,
    ) -> SimStore {
        let mut names = HashMap::default();
        for (m, info) in program.matrices.iter().enumerate() {
            // Versioned temps can have many versions; names are built once.
            for v in 0..info.version_count() as u32 {
                names.insert(info.stored_name(v), (m as u32, v));
            }
        }
        SimStore {
            names,
            temp: program
                .matrices
                .iter()
                .map(|m| m.role == Role::Temp)
                .collect(),
            headers: program.matrices.iter().map(|m| m.header.clone()).collect(),
            hands_over,
            inputs: Mutex::new(KeptTiles::new(input_budget)),
            held: Mutex::new(Held::default()),
            cursor,
            delete,
            tally,
        }
    }

    fn bytes(&self, tile: TileKey) -> u64 {
        let s = self.headers[tile.matrix as usize].tile(tile.i as usize, tile.j as usize);
        (s.rows * s.cols * 8) as u64
    }

    fn lock(&self) -> MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn contains(&self, tile: TileKey) -> bool {
        self.lock().tiles.contains(&tile)
    }

    /// Hands a held temp tile over to its only reader: the store holds it
    /// no more (nor counts it), and remembers why. False if it was not
    /// held.
    pub fn take(&self, tile: TileKey) -> bool {
        if !self.remove(tile) {
            return false;
        }
        self.lock().taken.insert(tile);
        true
    }

    /// Whether the tile is gone because [`SimStore::take`] handed it over.
    pub fn is_taken(&self, tile: TileKey) -> bool {
        self.lock().taken.contains(&tile)
    }

    /// A write became durable (no request here: the engine charged it).
    pub fn insert(&self, tile: TileKey) {
        let bytes = self.bytes(tile);
        let temp = self.temp[tile.matrix as usize];
        let mut h = self.lock();
        h.taken.remove(&tile);
        if !h.tiles.insert(tile) {
            return;
        }
        if temp {
            h.temp_tiles += 1;
            h.temp_bytes += bytes;
            h.peak_temp_tiles = h.peak_temp_tiles.max(h.temp_tiles);
            h.peak_temp_bytes = h.peak_temp_bytes.max(h.temp_bytes);
        }
        h.peak_tiles = h.peak_tiles.max(h.tiles.len() as u64);
    }

    pub fn peaks(&self) -> Peaks {
        let h = self.lock();
        Peaks {
            tiles: h.peak_tiles,
            temp_tiles: h.peak_temp_tiles,
            temp_bytes: h.peak_temp_bytes,
        }
    }

    /// Counts a load of a tile of a generated input that `readers` loads
    /// read in all; true if a tile kept by an earlier load serves it, so
    /// that this one generates nothing (the local backend's rule,
    /// `KeptTiles`).
    pub fn kept_input(&self, tile: TileKey, readers: impl FnOnce() -> u32) -> bool {
        let bytes = self.bytes(tile);
        let mut inputs = self.inputs.lock().unwrap_or_else(|p| p.into_inner());
        inputs.load_or_keep(tile, bytes, readers)
    }

    /// Forgets a tile; whether it was held.
    fn remove(&self, tile: TileKey) -> bool {
        let bytes = self.bytes(tile);
        let temp = self.temp[tile.matrix as usize];
        let mut h = self.lock();
        let held = h.tiles.remove(&tile);
        if held && temp {
            h.temp_tiles -= 1;
            h.temp_bytes -= bytes;
        }
        held
    }
}

fn unsupported(what: &str) -> StoreError {
    StoreError::Corrupt {
        what: what.to_string(),
        reason: "the simulated store holds no bytes".to_string(),
    }
}

/// Only `delete_tile` is reached by the protocol code the simulator runs
/// (`finish`); the rest answer as an empty store would.
impl Store for SimStore {
    fn get_tile(&self, _matrix: &str, _i: usize, _j: usize) -> StoreResult<Option<Arc<Tile>>> {
        Ok(None)
    }

    fn put_tile(&self, matrix: &str, _i: usize, _j: usize, _tile: Arc<Tile>) -> StoreResult<()> {
        Err(unsupported(matrix))
    }

    fn delete_tile(&self, matrix: &str, i: usize, j: usize) -> StoreResult<()> {
        self.cursor.advance(self.delete);
        self.tally.store_deletes.fetch_add(1, Relaxed);
        if let Some(&(m, version)) = self.names.get(matrix) {
            let tile = TileKey {
                matrix: m,
                version,
                i: i as u32,
                j: j as u32,
            };
            self.remove(tile);
            self.lock().taken.remove(&tile);
        }
        Ok(())
    }

    fn hands_over_tiles(&self) -> bool {
        self.hands_over
    }

    fn list_tiles(&self, _matrix: &str) -> StoreResult<Vec<(usize, usize)>> {
        Ok(Vec::new())
    }

    fn get_header(&self, _matrix: &str) -> StoreResult<Option<MatrixHeader>> {
        Ok(None)
    }

    fn put_header(&self, matrix: &str, _header: &MatrixHeader) -> StoreResult<()> {
        Err(unsupported(matrix))
    }
}
