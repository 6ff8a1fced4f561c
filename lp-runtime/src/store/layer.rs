//! Stores that wrap another store and change a few of its methods: the
//! generated inputs of a local run, the Python package's in-memory arrays,
//! the worker's fault injection, tests' counting stores.
//!
//! A wrapper implements [`StoreLayer`]: it names its inner store and writes
//! only the methods it changes; every other method goes to the inner store
//! unchanged, and [`Store`] comes from the blanket impl below. So a new
//! `Store` method reaches every wrapper without editing any of them, and no
//! wrapper can forget to forward one (a hand-written forwarder that missed
//! `usage` or the documents fell back to the trait's defaults).

use super::{Store, StoreResult, StoreUsage, StoredBundle};
use lp_std::{MatrixHeader, Tile};
use std::sync::Arc;

/// A store over [`StoreLayer::inner`]; see the module doc. The methods are
/// [`Store`]'s, with the same contracts.
pub trait StoreLayer: Send + Sync {
    /// The store every method this layer does not change goes to.
    fn inner(&self) -> &dyn Store;

    fn get_tile(&self, matrix: &str, i: usize, j: usize) -> StoreResult<Option<Arc<Tile>>> {
        self.inner().get_tile(matrix, i, j)
    }
    /// Asked only for a temp matrix's tiles, which no layer changes.
    fn take_tile(&self, matrix: &str, i: usize, j: usize) -> StoreResult<Option<Arc<Tile>>> {
        self.inner().take_tile(matrix, i, j)
    }
    fn hands_over_tiles(&self) -> bool {
        self.inner().hands_over_tiles()
    }
    fn taken(&self, matrix: &str, i: usize, j: usize) -> StoreResult<bool> {
        self.inner().taken(matrix, i, j)
    }
    fn put_tile(&self, matrix: &str, i: usize, j: usize, tile: Arc<Tile>) -> StoreResult<()> {
        self.inner().put_tile(matrix, i, j, tile)
    }
    fn delete_tile(&self, matrix: &str, i: usize, j: usize) -> StoreResult<()> {
        self.inner().delete_tile(matrix, i, j)
    }
    fn list_tiles(&self, matrix: &str) -> StoreResult<Vec<(usize, usize)>> {
        self.inner().list_tiles(matrix)
    }
    fn tile_bytes(&self, matrix: &str) -> StoreResult<Option<u64>> {
        self.inner().tile_bytes(matrix)
    }
    fn get_header(&self, matrix: &str) -> StoreResult<Option<MatrixHeader>> {
        self.inner().get_header(matrix)
    }
    fn put_header(&self, matrix: &str, header: &MatrixHeader) -> StoreResult<()> {
        self.inner().put_header(matrix, header)
    }
    fn create_header(&self, matrix: &str, header: &MatrixHeader) -> StoreResult<bool> {
        self.inner().create_header(matrix, header)
    }
    fn get_doc(&self, location: &str, doc: &str) -> StoreResult<Option<Vec<u8>>> {
        self.inner().get_doc(location, doc)
    }
    fn put_doc(&self, location: &str, doc: &str, bytes: &[u8]) -> StoreResult<()> {
        self.inner().put_doc(location, doc, bytes)
    }
    fn list_children(&self, location: &str) -> StoreResult<Vec<String>> {
        self.inner().list_children(location)
    }
    fn remove_all(&self, location: &str) -> StoreResult<()> {
        self.inner().remove_all(location)
    }
    fn bundles(&self) -> StoreResult<Vec<StoredBundle>> {
        self.inner().bundles()
    }
    fn remove_bundle(&self, name: &str) -> StoreResult<()> {
        self.inner().remove_bundle(name)
    }
    fn usage(&self) -> Option<StoreUsage> {
        self.inner().usage()
    }
    fn sync(&self, location: &str) -> StoreResult<()> {
        self.inner().sync(location)
    }
}

impl<T: StoreLayer> Store for T {
    fn get_tile(&self, matrix: &str, i: usize, j: usize) -> StoreResult<Option<Arc<Tile>>> {
        StoreLayer::get_tile(self, matrix, i, j)
    }
    fn take_tile(&self, matrix: &str, i: usize, j: usize) -> StoreResult<Option<Arc<Tile>>> {
        StoreLayer::take_tile(self, matrix, i, j)
    }
    fn hands_over_tiles(&self) -> bool {
        StoreLayer::hands_over_tiles(self)
    }
    fn taken(&self, matrix: &str, i: usize, j: usize) -> StoreResult<bool> {
        StoreLayer::taken(self, matrix, i, j)
    }
    fn put_tile(&self, matrix: &str, i: usize, j: usize, tile: Arc<Tile>) -> StoreResult<()> {
        StoreLayer::put_tile(self, matrix, i, j, tile)
    }
    fn delete_tile(&self, matrix: &str, i: usize, j: usize) -> StoreResult<()> {
        StoreLayer::delete_tile(self, matrix, i, j)
    }
    fn list_tiles(&self, matrix: &str) -> StoreResult<Vec<(usize, usize)>> {
        StoreLayer::list_tiles(self, matrix)
    }
    fn tile_bytes(&self, matrix: &str) -> StoreResult<Option<u64>> {
        StoreLayer::tile_bytes(self, matrix)
    }
    fn get_header(&self, matrix: &str) -> StoreResult<Option<MatrixHeader>> {
        StoreLayer::get_header(self, matrix)
    }
    fn put_header(&self, matrix: &str, header: &MatrixHeader) -> StoreResult<()> {
        StoreLayer::put_header(self, matrix, header)
    }
    fn create_header(&self, matrix: &str, header: &MatrixHeader) -> StoreResult<bool> {
        StoreLayer::create_header(self, matrix, header)
    }
    fn get_doc(&self, location: &str, doc: &str) -> StoreResult<Option<Vec<u8>>> {
        StoreLayer::get_doc(self, location, doc)
    }
    fn put_doc(&self, location: &str, doc: &str, bytes: &[u8]) -> StoreResult<()> {
        StoreLayer::put_doc(self, location, doc, bytes)
    }
    fn list_children(&self, location: &str) -> StoreResult<Vec<String>> {
        StoreLayer::list_children(self, location)
    }
    fn remove_all(&self, location: &str) -> StoreResult<()> {
        StoreLayer::remove_all(self, location)
    }
    fn bundles(&self) -> StoreResult<Vec<StoredBundle>> {
        StoreLayer::bundles(self)
    }
    fn remove_bundle(&self, name: &str) -> StoreResult<()> {
        StoreLayer::remove_bundle(self, name)
    }
    fn usage(&self) -> Option<StoreUsage> {
        StoreLayer::usage(self)
    }
    fn sync(&self, location: &str) -> StoreResult<()> {
        StoreLayer::sync(self, location)
    }
}
