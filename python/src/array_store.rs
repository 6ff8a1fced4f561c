//! A store that serves a run's numpy inputs from the caller's arrays.
//!
//! Importing an input array would store its tiles before the run: a second
//! copy of the matrix (half of one for a `sym` matrix, whose lower tiles
//! only are stored) held until the run ends. An [`ArrayStore`] instead cuts
//! an input's tile from the array's buffer each time a job reads it (a
//! tile read is a copy in a directory or S3 store as well), and passes
//! every other matrix, and every header and document, to the run's view
//! of its store (`lp_runtime::store::RunStore`, which maps the program's
//! names to the run's locations).
//!
//! A `sym` input may be read by its lower triangle only
//! ([`ArrayStore::read_lower`], for the numpy-like functions, as numpy's
//! `cholesky` reads it): each diagonal tile is then built from its lower
//! triangle, mirrored, whatever its upper triangle holds, and is not
//! checked for symmetry.
//!
//! An output that no job reads may go straight into the array the call
//! returns ([`ArrayStore::add_output`]): each tile is copied into it when
//! its job stores it, and freed, instead of living in the store until the
//! run ends and is exported. A GEMM's product then never holds a copy of
//! itself beside the array, and the memory of its tiles serves the next
//! ones.
//!
//! Jobs run without the GIL, so reading the buffers is safe under two
//! rules: the store holds a reference to each array, so it stays alive;
//! and nothing writes an input array during the call. The run never does;
//! another Python thread must not (the caller's contract, as for numpy's
//! own routines that release the GIL; `docs/python.md` says so). An output
//! array is the module's own until the call returns, and each of its tiles
//! is written by the first of the deliveries of its job that stores it.

use crate::array::{OutputArray, SharedArray};
use crate::write_once::WriteOnce;
use lp_program::MatrixInfo;
use lp_runtime::store::{Store, StoreError, StoreLayer, StoreResult};
use lp_std::Tile;
use lpc::runner::{self, ImportError};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// See the module docs.
pub struct ArrayStore {
    inner: Arc<dyn Store>,
    inputs: HashMap<String, Input>,
    outputs: HashMap<String, Output>,
    /// The `sym` inputs read by their lower triangle only.
    lower: HashSet<String>,
}

/// An output matrix written into the array the call returns.
struct Output {
    info: MatrixInfo,
    array: OutputArray,
    /// Which tiles are in the array, row by row of the grid.
    written: WriteOnce,
}

impl Output {
    fn index(&self, i: usize, j: usize) -> usize {
        i * self.info.header.grid()[1] + j
    }

    /// The array's block of tile (i, j), which must be in the grid.
    fn block(&self, i: usize, j: usize) -> (usize, usize, [usize; 2]) {
        let header = &self.info.header;
        let shape = header.tile(i, j);
        let [r, c] = header.tile_shape;
        (i * r, j * c, [shape.rows, shape.cols])
    }

    /// Copies `tile` into the block of tile (i, j), as the matrix has it
    /// (`MatrixHeader::masked`: zero outside a triangular matrix's
    /// triangle, as an export reads it), unless another delivery of its
    /// job has (it stored the same bits).
    fn write(&self, i: usize, j: usize, tile: Arc<Tile>) {
        let header = &self.info.header;
        if header.is_zero_tile(i, j) {
            // Zero by declaration, whatever was stored: `finish_outputs`.
            return;
        }
        let tile = header.masked(i, j, tile);
        let (r0, c0, shape) = self.block(i, j);
        debug_assert_eq!(shape, [tile.nrows(), tile.ncols()]);
        self.written.write(self.index(i, j), || {
            // SAFETY: the claim makes this thread the block's only writer,
            // and `read` reads only a written block.
            unsafe { self.array.write(r0, c0, shape, Some(Tile::as_ref(&tile))) };
        });
    }

    /// Tile (i, j) as written, or `None` if it is not in the grid or not
    /// written yet.
    fn read(&self, i: usize, j: usize) -> Option<Tile> {
        let written = self.info.header.contains(i, j) && self.is_written(i, j);
        written.then(|| {
            let (r0, c0, [rows, cols]) = self.block(i, j);
            // SAFETY: a written block is never written again.
            unsafe { self.array.shared().read(r0, c0, rows, cols) }
        })
    }

    /// Whether tile (i, j), which must be in the grid, is in the array.
    fn is_written(&self, i: usize, j: usize) -> bool {
        self.written.is_written(self.index(i, j))
    }

    /// Every tile of the grid, row by row.
    fn tiles(&self) -> impl Iterator<Item = (usize, usize)> + use<> {
        let [rows, cols] = self.info.header.grid();
        (0..rows).flat_map(move |i| (0..cols).map(move |j| (i, j)))
    }
}

/// An input matrix and the array holding its values.
struct Input {
    info: MatrixInfo,
    array: SharedArray,
}

impl Input {
    /// Tile (i, j), which must be in the grid, cut from the array.
    fn tile(&self, i: usize, j: usize) -> Tile {
        let header = &self.info.header;
        let shape = header.tile(i, j);
        let [r, c] = header.tile_shape;
        // SAFETY: nothing writes an input array during a run (module docs).
        unsafe { self.array.read(i * r, j * c, shape.rows, shape.cols) }
    }

    /// Diagonal tile (d, d) of a `sym` matrix, which must be in the grid,
    /// built from the lower triangle of the array's block.
    fn diagonal_tile(&self, d: usize) -> Tile {
        let header = &self.info.header;
        let n = header.tile(d, d).rows;
        // SAFETY: nothing writes an input array during a run (module docs).
        unsafe { self.array.read_symmetric(d * header.tile_shape[0], n) }
    }
}

impl ArrayStore {
    pub fn new(inner: Arc<dyn Store>) -> ArrayStore {
        ArrayStore {
            inner,
            inputs: HashMap::new(),
            outputs: HashMap::new(),
            lower: HashSet::new(),
        }
    }

    /// Reads `sym` input `info` (an array or a matrix of the inner store)
    /// by its lower triangle only: its diagonal tiles are built from their
    /// lower triangle, mirrored, and [`check_input`](Self::check_input)
    /// does not check them.
    pub fn read_lower(&mut self, info: &MatrixInfo) {
        debug_assert!(info.header.symmetric);
        self.lower.insert(info.name.clone());
    }

    /// Serves input `info`'s tiles from `array` (of `info`'s shape).
    pub fn add_input(&mut self, info: &MatrixInfo, array: SharedArray) {
        debug_assert_eq!(array.shape(), info.header.shape);
        let input = Input {
            info: info.clone(),
            array,
        };
        self.inputs.insert(info.name.clone(), input);
    }

    /// Writes output `info`'s tiles into `array` (of `info`'s shape, not
    /// `sym`, one version) as they are stored, rather than storing them.
    pub fn add_output(&mut self, info: &MatrixInfo, array: OutputArray) {
        debug_assert!(!info.header.symmetric && info.versions.is_empty());
        let [rows, cols] = info.header.grid();
        let output = Output {
            info: info.clone(),
            array,
            written: WriteOnce::new(rows * cols),
        };
        self.outputs.insert(info.name.clone(), output);
    }

    /// Fills the tiles of the outputs that no job wrote with zeros, as an
    /// export reads them (`runner::as_output`: the upper tiles of a
    /// triangular factor). Called once the run's jobs have all finished.
    pub fn finish_outputs(&self) {
        for output in self.outputs.values() {
            for (i, j) in output.tiles() {
                let (r0, c0, shape) = output.block(i, j);
                output.written.write(output.index(i, j), || {
                    // SAFETY: the run's jobs have all finished (and no job
                    // writes a tile outside a triangle: `write`).
                    unsafe { output.array.write(r0, c0, shape, None) };
                });
            }
        }
    }

    /// Checks input `info` before the run as an import would
    /// (`runner::import_array`): a `sym` matrix's diagonal tiles must be
    /// symmetric, since the jobs read only its lower triangle (unless it is
    /// [read by its lower triangle](Self::read_lower)).
    pub fn check_input(&self, info: &MatrixInfo) -> Result<(), ImportError> {
        let (Some(input), true) = (self.inputs.get(&info.name), info.header.symmetric) else {
            return Ok(());
        };
        if self.lower.contains(&info.name) {
            return Ok(());
        }
        for d in 0..info.header.grid()[0] {
            let origin = d * info.header.tile_shape[0];
            runner::check_symmetric(&input.tile(d, d), info, origin)?;
        }
        Ok(())
    }

    fn refuse(matrix: &str, i: usize, j: usize, what: &str) -> StoreError {
        StoreError::Io {
            what: format!("tile {matrix}[{i}, {j}]"),
            source: std::io::Error::other(format!("cannot {what}")),
        }
    }
}

/// Documents, listings, removals of other locations and headers are the
/// run's store's: an input array has no location in it
/// (`lpc::placement::InputSource::Caller`).
impl StoreLayer for ArrayStore {
    fn inner(&self) -> &dyn Store {
        &*self.inner
    }

    /// An input's tile is any tile of its grid: the runtime asks only for
    /// those an import would store (`matrix::load_tile` reads the upper
    /// tiles of a `sym` matrix as the lower ones transposed).
    /// A diagonal tile of an input [read by its lower
    /// triangle](ArrayStore::read_lower) is built from that triangle.
    fn get_tile(&self, matrix: &str, i: usize, j: usize) -> StoreResult<Option<Arc<Tile>>> {
        if let Some(output) = self.outputs.get(matrix) {
            return Ok(output.read(i, j).map(Arc::new));
        }
        let lower = i == j && self.lower.contains(matrix);
        match self.inputs.get(matrix) {
            Some(input) if input.info.header.contains(i, j) => match lower {
                true => Ok(Some(Arc::new(input.diagonal_tile(i)))),
                false => Ok(Some(Arc::new(input.tile(i, j)))),
            },
            Some(_) => Ok(None),
            None => {
                let tile = self.inner.get_tile(matrix, i, j)?;
                Ok(match (tile, lower) {
                    (Some(tile), true) => {
                        let mut tile = Arc::unwrap_or_clone(tile);
                        lp_std::kernel::mirror_lower(&mut tile);
                        Some(Arc::new(tile))
                    }
                    (tile, _) => tile,
                })
            }
        }
    }

    /// Programs never write their inputs (the checker refuses it), so a
    /// write to one is an error, not a write into the caller's array.
    /// An output's tile is copied into its array (module docs).
    fn put_tile(&self, matrix: &str, i: usize, j: usize, tile: Arc<Tile>) -> StoreResult<()> {
        if let Some(output) = self.outputs.get(matrix) {
            if !output.info.header.contains(i, j) {
                return Err(Self::refuse(
                    matrix,
                    i,
                    j,
                    "write a tile outside an output array's grid",
                ));
            }
            output.write(i, j, tile);
            return Ok(());
        }
        match self.inputs.contains_key(matrix) {
            true => Err(Self::refuse(matrix, i, j, "write a tile of an input array")),
            false => self.inner.put_tile(matrix, i, j, tile),
        }
    }

    /// An output's array keeps what was written to it: the call returns it.
    fn delete_tile(&self, matrix: &str, i: usize, j: usize) -> StoreResult<()> {
        if self.outputs.contains_key(matrix) {
            return Ok(());
        }
        match self.inputs.contains_key(matrix) {
            true => Err(Self::refuse(
                matrix,
                i,
                j,
                "delete a tile of an input array",
            )),
            false => self.inner.delete_tile(matrix, i, j),
        }
    }

    fn list_tiles(&self, matrix: &str) -> StoreResult<Vec<(usize, usize)>> {
        if let Some(output) = self.outputs.get(matrix) {
            return Ok(output
                .tiles()
                .filter(|&(i, j)| output.is_written(i, j))
                .collect());
        }
        match self.inputs.get(matrix) {
            Some(input) => Ok(runner::stored_tiles(&input.info)),
            None => self.inner.list_tiles(matrix),
        }
    }

    fn remove_all(&self, location: &str) -> StoreResult<()> {
        match self.inputs.contains_key(location) {
            true => Ok(()),
            false => self.inner.remove_all(location),
        }
    }
}
