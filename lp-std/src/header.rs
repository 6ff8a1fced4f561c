//! The BigMatrix header: what `<prefix>/<matrix>/header.json` holds, and the
//! tile-grid arithmetic (including ragged edge tiles) every crate relies on.

use crate::kernel::Shape;
use serde::{Deserialize, Serialize};

/// Shape, tile shape, dtype and symmetry of one BigMatrix.
///
/// Edge tiles are ragged: when the tile shape does not divide the shape, the
/// last tile row/column is smaller. A symmetric matrix stores only tiles
/// (i, j) with i >= j.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MatrixHeader {
    pub shape: [usize; 2],
    pub tile_shape: [usize; 2],
    /// Always `"f64"` today; kept in the header so that numpy-side tools and
    /// later dtypes can read it.
    pub dtype: String,
    pub symmetric: bool,
}

impl MatrixHeader {
    pub fn new(shape: [usize; 2], tile_shape: [usize; 2], symmetric: bool) -> MatrixHeader {
        MatrixHeader {
            shape,
            tile_shape,
            dtype: "f64".to_string(),
            symmetric,
        }
    }

    /// Number of tile rows and tile columns.
    pub fn grid(&self) -> [usize; 2] {
        [
            self.shape[0].div_ceil(self.tile_shape[0]),
            self.shape[1].div_ceil(self.tile_shape[1]),
        ]
    }

    /// The shape of tile (i, j), smaller at the ragged edges.
    /// The caller ensures (i, j) is inside [`MatrixHeader::grid`].
    pub fn tile(&self, i: usize, j: usize) -> Shape {
        let [tr, tc] = self.tile_shape;
        Shape::new(
            tr.min(self.shape[0] - i * tr),
            tc.min(self.shape[1] - j * tc),
        )
    }

    pub fn contains(&self, i: usize, j: usize) -> bool {
        let [gr, gc] = self.grid();
        i < gr && j < gc
    }
}
