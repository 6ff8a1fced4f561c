//! The BigMatrix header: what `<prefix>/<matrix>/header.json` holds, and the
//! tile-grid arithmetic (including ragged edge tiles) every crate relies on.

use crate::Tile;
use crate::kernel::Shape;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Shape, tile shape, dtype and structure of one BigMatrix.
///
/// Edge tiles are ragged: when the tile shape does not divide the shape, the
/// last tile row/column is smaller. A symmetric matrix stores only tiles
/// (i, j) with i >= j. A triangular matrix is zero outside its triangle:
/// its tiles there are never stored, and its diagonal tiles read as zero
/// on the other side of the diagonal whatever is stored.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MatrixHeader {
    pub shape: [usize; 2],
    pub tile_shape: [usize; 2],
    /// Always `"f64"` today; kept in the header so that numpy-side tools and
    /// later dtypes can read it.
    pub dtype: String,
    pub symmetric: bool,
    /// `Some` for a matrix declared `lower` or `upper`. (Header files
    /// written before triangular matrices existed have no such field: they
    /// read as `None`. It is always written: bundles are postcard, which
    /// cannot skip a field.)
    #[serde(default)]
    pub triangle: Option<Triangle>,
}

/// Which triangle of a triangular matrix may be non-zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Triangle {
    Lower,
    Upper,
}

impl Triangle {
    /// The keyword that declares it.
    pub fn keyword(self) -> &'static str {
        match self {
            Triangle::Lower => "lower",
            Triangle::Upper => "upper",
        }
    }
}

/// "8192 x 8192 in 512 x 512 tiles, symmetric": what a user recognises
/// their matrix by in a listing or a refusal.
impl std::fmt::Display for MatrixHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ([m, n], [bm, bn]) = (self.shape, self.tile_shape);
        write!(f, "{m} x {n} in {bm} x {bn} tiles")?;
        if self.symmetric {
            f.write_str(", symmetric")?;
        }
        if let Some(t) = self.triangle {
            write!(f, ", {}", t.keyword())?;
        }
        Ok(())
    }
}

impl MatrixHeader {
    pub fn new(shape: [usize; 2], tile_shape: [usize; 2], symmetric: bool) -> MatrixHeader {
        MatrixHeader {
            shape,
            tile_shape,
            dtype: "f64".to_string(),
            symmetric,
            triangle: None,
        }
    }

    /// The same header, declared triangular.
    pub fn with_triangle(mut self, triangle: Option<Triangle>) -> MatrixHeader {
        self.triangle = triangle;
        self
    }

    /// Whether tile (i, j) lies wholly outside a triangular matrix's
    /// triangle (so is zero by declaration). Tiles are square for a
    /// triangular matrix, so this is a comparison of tile indices.
    pub fn is_zero_tile(&self, i: usize, j: usize) -> bool {
        match self.triangle {
            Some(Triangle::Lower) => i < j,
            Some(Triangle::Upper) => i > j,
            None => false,
        }
    }

    /// Tile (i, j) as the declared matrix has it: for a diagonal tile of a
    /// triangular matrix, `tile` with the other side of the diagonal set to
    /// zero (copied only when something there is not zero already).
    pub fn masked(&self, i: usize, j: usize, tile: Arc<Tile>) -> Arc<Tile> {
        let Some(triangle) = self.triangle else {
            return tile;
        };
        if i != j {
            return tile;
        }
        // Rows of column c outside the triangle: above the diagonal for a
        // lower matrix, below it for an upper one.
        let rows = tile.nrows();
        let outside = |c: usize| match triangle {
            Triangle::Lower => 0..c.min(rows),
            Triangle::Upper => (c + 1).min(rows)..rows,
        };
        let dirty =
            (0..tile.ncols()).any(|c| tile.col_as_slice(c)[outside(c)].iter().any(|&v| v != 0.0));
        if !dirty {
            return tile;
        }
        let mut clean = (*tile).clone();
        for c in 0..clean.ncols() {
            clean.col_as_slice_mut(c)[outside(c)].fill(0.0);
        }
        Arc::new(clean)
    }

    /// The structure keyword a declaration writes: `sym`, `lower`, `upper`,
    /// or none for a general matrix.
    pub fn structure(&self) -> Option<&'static str> {
        match self.triangle {
            Some(t) => Some(t.keyword()),
            None if self.symmetric => Some("sym"),
            None => None,
        }
    }

    /// The type as a declaration writes it: `sym f64[8, 8] tile [4, 4]`.
    pub fn declared_type(&self) -> String {
        let structure = self
            .structure()
            .map(|s| format!("{s} "))
            .unwrap_or_default();
        format!(
            "{structure}{}[{}, {}] tile [{}, {}]",
            self.dtype, self.shape[0], self.shape[1], self.tile_shape[0], self.tile_shape[1]
        )
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
