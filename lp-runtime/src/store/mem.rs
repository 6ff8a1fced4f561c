//! The in-memory store: tiles shared as `Arc<Tile>`, never serialised.
//!
//! Jobs on the local backend hand tiles to each other through this store, so
//! `get_tile` must be a hash lookup plus an `Arc` clone. The map is two-level:
//! a read-mostly map from matrix name to a per-matrix slot (looked up by
//! `&str`, so a get allocates nothing), and inside each slot the tiles are
//! spread over [`SHARDS`] mutex-protected maps so that workers writing
//! different tiles of one matrix rarely contend on the same lock.
//!
//! Bytes held (current and peak) are counted in atomics on every put and
//! delete; the run summary reports the peak.

use super::location::{self, validate_doc, validate_listing, validate_location};
use super::{Store, StoreResult, StoreUsage};
use lp_std::{MatrixHeader, Tile};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// Tile-map shards per matrix; a power of two a few times the worker count.
const SHARDS: usize = 16;

/// A tile, or `None` where `take_tile` handed one over (until it is
/// deleted or written again), so that [`Store::taken`] can tell a tile
/// handed over from one never written.
type TileMap = HashMap<(usize, usize), Option<Arc<Tile>>>;

/// The bytes of a map's tiles (a handed-over one holds none).
fn map_bytes(map: &TileMap) -> u64 {
    map.values().flatten().map(|t| tile_bytes(t)).sum()
}

#[derive(Default)]
struct MatrixSlot {
    header: Mutex<Option<MatrixHeader>>,
    docs: Mutex<HashMap<String, Vec<u8>>>,
    shards: [Mutex<TileMap>; SHARDS],
}

impl MatrixSlot {
    fn shard(&self, i: usize, j: usize) -> &Mutex<TileMap> {
        // Neighbouring tiles land in different shards; a multiplicative mix
        // keeps whole tile rows or columns from sharing one shard.
        let h = (i.wrapping_mul(0x9E37_79B9) ^ j.wrapping_mul(0x85EB_CA6B)) >> 4;
        &self.shards[(h ^ i ^ j) % SHARDS]
    }
}

/// Tiles and headers in memory. See the module docs.
#[derive(Default)]
pub struct MemStore {
    matrices: RwLock<HashMap<String, Arc<MatrixSlot>>>,
    held: AtomicU64,
    peak: AtomicU64,
}

pub(crate) fn tile_bytes(tile: &Tile) -> u64 {
    (tile.nrows() * tile.ncols() * std::mem::size_of::<f64>()) as u64
}

// Lock poisoning only means another thread panicked while holding the lock;
// the maps are still consistent (every critical section is one insert or
// remove), so recover the guard instead of propagating the panic.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl MemStore {
    pub fn new() -> MemStore {
        MemStore::default()
    }

    /// Bytes of tile data currently held (rows x cols x 8 per tile).
    pub fn bytes_held(&self) -> u64 {
        self.held.load(Ordering::Relaxed)
    }

    /// The largest [`MemStore::bytes_held`] seen since the store was created.
    pub fn peak_bytes_held(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }

    fn slot(&self, matrix: &str) -> Option<Arc<MatrixSlot>> {
        let map = self.matrices.read().unwrap_or_else(|e| e.into_inner());
        map.get(matrix).cloned()
    }

    fn slot_or_create(&self, matrix: &str) -> Arc<MatrixSlot> {
        if let Some(slot) = self.slot(matrix) {
            return slot;
        }
        let mut map = self.matrices.write().unwrap_or_else(|e| e.into_inner());
        map.entry(matrix.to_string()).or_default().clone()
    }

    fn add_held(&self, added: u64, removed: u64) {
        if added >= removed {
            let now = self.held.fetch_add(added - removed, Ordering::Relaxed) + (added - removed);
            self.peak.fetch_max(now, Ordering::Relaxed);
        } else {
            self.held.fetch_sub(removed - added, Ordering::Relaxed);
        }
    }
}

impl Store for MemStore {
    fn get_tile(&self, matrix: &str, i: usize, j: usize) -> StoreResult<Option<Arc<Tile>>> {
        validate_location(matrix)?;
        let Some(slot) = self.slot(matrix) else {
            return Ok(None);
        };
        Ok(lock(slot.shard(i, j)).get(&(i, j)).cloned().flatten())
    }

    fn take_tile(&self, matrix: &str, i: usize, j: usize) -> StoreResult<Option<Arc<Tile>>> {
        validate_location(matrix)?;
        let Some(slot) = self.slot(matrix) else {
            return Ok(None);
        };
        let mut shard = lock(slot.shard(i, j));
        let Some(entry) = shard.get_mut(&(i, j)) else {
            return Ok(None);
        };
        let taken = entry.take();
        if let Some(tile) = &taken {
            self.add_held(0, tile_bytes(tile));
        }
        Ok(taken)
    }

    fn hands_over_tiles(&self) -> bool {
        true
    }

    fn taken(&self, matrix: &str, i: usize, j: usize) -> StoreResult<bool> {
        validate_location(matrix)?;
        let Some(slot) = self.slot(matrix) else {
            return Ok(false);
        };
        Ok(matches!(lock(slot.shard(i, j)).get(&(i, j)), Some(None)))
    }

    fn put_tile(&self, matrix: &str, i: usize, j: usize, tile: Arc<Tile>) -> StoreResult<()> {
        validate_location(matrix)?;
        let slot = self.slot_or_create(matrix);
        let added = tile_bytes(&tile);
        let old = lock(slot.shard(i, j)).insert((i, j), Some(tile)).flatten();
        self.add_held(added, old.as_deref().map_or(0, tile_bytes));
        Ok(())
    }

    fn delete_tile(&self, matrix: &str, i: usize, j: usize) -> StoreResult<()> {
        validate_location(matrix)?;
        let Some(slot) = self.slot(matrix) else {
            return Ok(());
        };
        let old = lock(slot.shard(i, j)).remove(&(i, j)).flatten();
        if let Some(old) = old {
            self.add_held(0, tile_bytes(&old));
        }
        Ok(())
    }

    fn list_tiles(&self, matrix: &str) -> StoreResult<Vec<(usize, usize)>> {
        validate_location(matrix)?;
        let Some(slot) = self.slot(matrix) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for shard in &slot.shards {
            let map = lock(shard);
            out.extend(map.iter().filter(|(_, t)| t.is_some()).map(|(&k, _)| k));
        }
        Ok(out)
    }

    fn tile_bytes(&self, matrix: &str) -> StoreResult<Option<u64>> {
        validate_location(matrix)?;
        let Some(slot) = self.slot(matrix) else {
            return Ok(Some(0));
        };
        let bytes = slot
            .shards
            .iter()
            .map(|shard| map_bytes(&lock(shard)))
            .sum();
        Ok(Some(bytes))
    }

    fn get_header(&self, matrix: &str) -> StoreResult<Option<MatrixHeader>> {
        validate_location(matrix)?;
        Ok(self
            .slot(matrix)
            .and_then(|slot| lock(&slot.header).clone()))
    }

    fn put_header(&self, matrix: &str, header: &MatrixHeader) -> StoreResult<()> {
        validate_location(matrix)?;
        location::validate_header(matrix, header)?;
        *lock(&self.slot_or_create(matrix).header) = Some(header.clone());
        Ok(())
    }

    fn create_header(&self, matrix: &str, header: &MatrixHeader) -> StoreResult<bool> {
        validate_location(matrix)?;
        location::validate_header(matrix, header)?;
        let slot = self.slot_or_create(matrix);
        let mut held = lock(&slot.header);
        if held.is_some() {
            return Ok(false);
        }
        *held = Some(header.clone());
        Ok(true)
    }

    fn get_doc(&self, location: &str, doc: &str) -> StoreResult<Option<Vec<u8>>> {
        validate_location(location)?;
        validate_doc(doc)?;
        Ok(self
            .slot(location)
            .and_then(|slot| lock(&slot.docs).get(doc).cloned()))
    }

    fn put_doc(&self, location: &str, doc: &str, bytes: &[u8]) -> StoreResult<()> {
        validate_location(location)?;
        validate_doc(doc)?;
        lock(&self.slot_or_create(location).docs).insert(doc.to_string(), bytes.to_vec());
        Ok(())
    }

    fn list_children(&self, parent: &str) -> StoreResult<Vec<String>> {
        validate_listing(parent)?;
        let map = self.matrices.read().unwrap_or_else(|e| e.into_inner());
        let prefix = location::join(parent, "");
        let mut out: Vec<String> = map
            .keys()
            .filter_map(|key| key.strip_prefix(&prefix))
            .map(|rest| rest.split('/').next().unwrap_or(rest).to_string())
            .collect();
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    fn remove_all(&self, at: &str) -> StoreResult<()> {
        validate_location(at)?;
        let below = format!("{at}/");
        let removed: Vec<Arc<MatrixSlot>> = {
            let mut map = self.matrices.write().unwrap_or_else(|e| e.into_inner());
            let keys: Vec<String> = map
                .keys()
                .filter(|k| *k == at || k.starts_with(&below))
                .cloned()
                .collect();
            keys.iter().filter_map(|k| map.remove(k)).collect()
        };
        for slot in removed {
            for shard in &slot.shards {
                let bytes = map_bytes(&lock(shard));
                self.add_held(0, bytes);
            }
        }
        Ok(())
    }

    fn usage(&self) -> Option<StoreUsage> {
        Some(StoreUsage {
            bytes_held: self.bytes_held(),
            peak_bytes_held: self.peak_bytes_held(),
        })
    }
}
