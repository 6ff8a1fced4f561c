//! Transposition of column-major tiles, and the triangle operations that
//! complete a symmetric or triangular result.

use crate::Tile;
use faer::prelude::{IntoConst, ReborrowMut};
use faer::{MatMut, MatRef};

/// Transposes go block by block, `BLOCK` columns of the source by `BLOCK`
/// columns of the destination, so that the lines and pages in use stay
/// few, and within a block `MICRO x MICRO` piece by piece through
/// registers: each column of a piece is read, and written, contiguously.
const BLOCK: usize = 64;
const MICRO: usize = 8;

/// Sets every entry below a tile's diagonal to zero (a triangular factor
/// computed in an operand's buffer).
pub fn zero_below_diagonal(t: &mut Tile) {
    for j in 0..t.ncols() {
        let below = (j + 1).min(t.nrows());
        t.col_as_slice_mut(j)[below..].fill(0.0);
    }
}

/// Copies the strict lower triangle of a square tile onto its upper one.
pub fn mirror_lower(m: &mut Tile) {
    let n = m.nrows();
    for j0 in (0..n).step_by(MICRO) {
        let end = (j0 + MICRO).min(n);
        // The strip's diagonal piece, element by element.
        for i in j0 + 1..end {
            for k in j0..i {
                m[(k, i)] = m[(i, k)];
            }
        }
        // Below it, columns j0..end, rows end..: their transpose is rows
        // j0..end of the columns right of the strip.
        let (_, right, left, _) = m.as_mut().split_at_mut(end, end);
        let below = left.into_const().subcols(j0, end - j0);
        transpose_into(below, right.subrows_mut(j0, end - j0));
    }
}

/// dst = srcᵀ, for a column-major `src` and `dst` (`dst` has a row per
/// column of `src`).
pub fn transpose_into(src: MatRef<'_, f64>, mut dst: MatMut<'_, f64>) {
    let (m, n) = (src.nrows(), src.ncols());
    for c0 in (0..n).step_by(BLOCK) {
        let w = BLOCK.min(n - c0);
        for r0 in (0..m).step_by(BLOCK) {
            let h = BLOCK.min(m - r0);
            let sources: [&[f64]; BLOCK] = std::array::from_fn(|k| {
                if k < w {
                    &contiguous(src.col(c0 + k))[r0..r0 + h]
                } else {
                    &[]
                }
            });
            let block = dst.rb_mut().submatrix_mut(c0, r0, w, h);
            let mut columns = block.col_iter_mut().map(|c| {
                let c = c.try_as_col_major_mut().expect("a tile is column-major");
                c.as_slice_mut()
            });
            let mut targets: [&mut [f64]; BLOCK] =
                std::array::from_fn(|_| columns.next().unwrap_or(&mut []));
            for c in (0..w).step_by(MICRO) {
                for r in (0..h).step_by(MICRO) {
                    let (pw, ph) = (MICRO.min(w - c), MICRO.min(h - r));
                    let mut piece = [[0.0; MICRO]; MICRO];
                    for (k, column) in piece[..pw].iter_mut().enumerate() {
                        column[..ph].copy_from_slice(&sources[c + k][r..r + ph]);
                    }
                    for (i, target) in targets[r..r + ph].iter_mut().enumerate() {
                        for (d, column) in target[c..c + pw].iter_mut().zip(&piece) {
                            *d = column[i];
                        }
                    }
                }
            }
        }
    }
}

fn contiguous(column: faer::ColRef<'_, f64>) -> &[f64] {
    column
        .try_as_col_major()
        .expect("a tile is column-major")
        .as_slice()
}
