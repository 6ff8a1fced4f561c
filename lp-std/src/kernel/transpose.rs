//! Transposed operands for the products, and the mirror that completes a
//! symmetric result.
//!
//! faer's product runs slower with a transposed (row-major) right-hand
//! side than with a column-major one once tiles are large: its x86 kernel
//! packs that operand only for tall products and otherwise reads it in
//! place, a cache line and a page per step of the inner dimension. So
//! `SYRK`, `GEMM_NT` and `GEMM_TT` copy a large Bᵀ to column-major first,
//! into a buffer each thread keeps, so that the copy allocates nothing
//! after a thread's first product (`benches/kernels.rs` measures both).

use crate::Tile;
use faer::prelude::{IntoConst, ReborrowMut};
use faer::{MatMut, MatRef};
use std::cell::RefCell;

/// The side from which copying Bᵀ pays: on 256 tiles the copy cost more
/// than it saved.
const MIN_SIDE: usize = 384;

/// Blocks are copied through registers in `MICRO x MICRO` pieces (each
/// column of a piece is one cache line), grouped `MACRO x MACRO` so that a
/// group's columns stay few.
const MICRO: usize = 8;
const MACRO: usize = 64;

thread_local! {
    /// The column-major copy of a Bᵀ. Kernels run one at a time on a
    /// thread (`Par::Seq`); the buffer keeps the size of the largest tile
    /// the thread has transposed.
    static SCRATCH: RefCell<Vec<f64>> = const { RefCell::new(Vec::new()) };
}

/// Calls `f` with Bᵀ: a view of `b` when it is small, else a column-major
/// copy in this thread's scratch buffer.
pub fn with_transposed<R>(b: &Tile, f: impl FnOnce(MatRef<'_, f64>) -> R) -> R {
    let (rows, cols) = (b.ncols(), b.nrows());
    if rows < MIN_SIDE || cols < MIN_SIDE {
        return f(b.as_ref().transpose());
    }
    SCRATCH.with_borrow_mut(|buffer| {
        if buffer.len() < rows * cols {
            buffer.resize(rows * cols, 0.0);
        }
        let mut t = MatMut::from_column_major_slice_mut(&mut buffer[..rows * cols], rows, cols);
        pieces(cols, rows, |r, c, h, w| {
            let piece = read(b.as_ref(), r, c, h, w);
            write_transposed(t.rb_mut(), &piece, r, c, h, w);
        });
        f(t.into_const())
    })
}

/// Copies the strict lower triangle of a square tile onto its upper one.
pub fn mirror_lower(m: &mut Tile) {
    let n = m.nrows();
    pieces(n, n, |r, c, h, w| {
        if r > c {
            let piece = read(m.as_ref(), r, c, h, w);
            write_transposed(m.as_mut(), &piece, r, c, h, w);
        } else if r == c {
            // A piece on the diagonal: its own strict lower triangle.
            for i in r + 1..r + h {
                for k in c..i {
                    m[(k, i)] = m[(i, k)];
                }
            }
        }
    });
}

type Piece = [[f64; MICRO]; MICRO];

/// Calls `f(r, c, h, w)` for the `h x w` pieces at `(r, c)` that tile an
/// `m x n` matrix (`MICRO` on a side, smaller at the ragged edges).
fn pieces(m: usize, n: usize, mut f: impl FnMut(usize, usize, usize, usize)) {
    for c0 in (0..n).step_by(MACRO) {
        for r0 in (0..m).step_by(MACRO) {
            for c in (c0..n.min(c0 + MACRO)).step_by(MICRO) {
                for r in (r0..m.min(r0 + MACRO)).step_by(MICRO) {
                    f(r, c, MICRO.min(m - r), MICRO.min(n - c));
                }
            }
        }
    }
}

/// The `h x w` piece of `m` at `(r, c)`, by columns.
fn read(m: MatRef<'_, f64>, r: usize, c: usize, h: usize, w: usize) -> Piece {
    let mut piece = [[0.0; MICRO]; MICRO];
    for (k, column) in piece[..w].iter_mut().enumerate() {
        column[..h].copy_from_slice(&contiguous(m.col(c + k))[r..r + h]);
    }
    piece
}

/// Writes the transpose of an `h x w` piece at `(c, r)` of `m`.
fn write_transposed(mut m: MatMut<'_, f64>, piece: &Piece, r: usize, c: usize, h: usize, w: usize) {
    for i in 0..h {
        let column = m.rb_mut().col_mut(r + i).try_as_col_major_mut();
        let column = &mut column.expect("a tile is column-major").as_slice_mut()[c..c + w];
        for (d, source) in column.iter_mut().zip(&piece[..w]) {
            *d = source[i];
        }
    }
}

fn contiguous(column: faer::ColRef<'_, f64>) -> &[f64] {
    column
        .try_as_col_major()
        .expect("a tile is column-major")
        .as_slice()
}
