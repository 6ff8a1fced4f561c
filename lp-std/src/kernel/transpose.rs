//! Transposed operands for the products, and the mirror that completes a
//! symmetric result.
//!
//! faer's x86 product reads a transposed (row-major) right-hand side in
//! place unless the product is tall, a cache line per step of the inner
//! dimension, and its triangular solve works on a transposed view the same
//! way. How much that costs depends on the vector width faer dispatches to:
//!
//! * With AVX-512 (Zen 4 and Zen 5 hosts; `benches/kernels.rs`, 7
//!   interleaved rounds) the view ran as fast as a column-major copy made
//!   first, or faster, at 768, 896, 1000, 1152, 1536, 2048 and 3072 rows
//!   (the copy costing 1-6 % of a product and 3-12 % of the half product
//!   of a symmetric `SYRK`). With columns 8 KiB apart (1024 rows) the view
//!   made the product 12-16 % slower and the half product 5-9 %; 4 KiB
//!   apart (512 rows), the product 4-8 % (on a Zen 5 host 20-45 % at both),
//!   while the half product ran faster from the view. So there Bᵀ is copied
//!   at those strides only.
//! * With AVX2 only (a Zen 3 host, cpu family 25 model 1) the view is slow
//!   at every size from 512 rows: the product from the view took 1.4x the
//!   time of copy-then-product at 512-1536 rows and 2.5x at 2048 (15 GFLOP/s
//!   against 35), the half product 1.1-1.25x and 2.0-2.4x, and the right solve
//!   (`X Lᵀ = B` as a left solve on the transposed view) 1.9x the left one
//!   at 2048 (copying Bᵀ there and back: 0.65-0.69x the view's time at
//!   2048, 0.95x at 1536, 1.04-1.12x at 1024). There (and on other
//!   architectures, where nothing was measured) a product's transposed
//!   operand is copied from 512 rows, a right solve's from 1536.
//!
//! The copies go to a buffer each thread keeps, so that they allocate
//! nothing after a thread's first product.

use crate::Tile;
use faer::prelude::{IntoConst, ReborrowMut};
use faer::{MatMut, MatRef};
use std::cell::RefCell;

/// With AVX-512: B's column strides (in elements) at which Bᵀ is copied,
/// for a whole product and for the lower half of a symmetric one.
const SLOW_STRIDES: [isize; 2] = [512, 1024];
const SLOW_STRIDES_HALF: [isize; 1] = [1024];

/// Without AVX-512: the smallest stride at which a product's, and a right
/// solve's, transposed operand is copied.
const COPY_FROM: isize = 512;
const COPY_FROM_SOLVE: isize = 1536;

/// Whether faer's kernels here use 512-bit vectors (see the module doc).
fn wide_vectors() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether a product reads Bᵀ (of its lower half only when `half`) from a
/// column-major copy rather than a view, for B's column stride `stride`.
fn copy_for_product(stride: isize, half: bool) -> bool {
    if !wide_vectors() {
        return stride >= COPY_FROM;
    }
    let slow: &[isize] = if half {
        &SLOW_STRIDES_HALF
    } else {
        &SLOW_STRIDES
    };
    slow.contains(&stride)
}

/// Whether a right solve `X op(T) = B` runs as a left solve on a
/// column-major copy of Bᵀ rather than on the transposed view.
pub fn copy_for_solve(stride: isize) -> bool {
    !wide_vectors() && stride >= COPY_FROM_SOLVE
}

/// Transposes go block by block, `BLOCK` columns of the source by `BLOCK`
/// columns of the destination, so that the lines and pages in use stay
/// few, and within a block `MICRO x MICRO` piece by piece through
/// registers: each column of a piece is read, and written, contiguously.
const BLOCK: usize = 64;
const MICRO: usize = 8;

thread_local! {
    /// The column-major copy of a Bᵀ. Kernels run one at a time on a
    /// thread (`Par::Seq`); the buffer keeps the size of the largest tile
    /// the thread has transposed.
    static SCRATCH: RefCell<Vec<f64>> = const { RefCell::new(Vec::new()) };
}

/// Calls `f` with Bᵀ, the right-hand side of a product (of its lower half
/// only when `half`): a view of `b`, or at a slow stride a column-major
/// copy in this thread's scratch buffer.
pub fn with_transposed<R>(b: &Tile, half: bool, f: impl FnOnce(MatRef<'_, f64>) -> R) -> R {
    if !copy_for_product(b.col_stride(), half) {
        return f(b.as_ref().transpose());
    }
    with_scratch(b.ncols(), b.nrows(), |mut t| {
        transpose_into(b.as_ref(), t.rb_mut());
        f(t.into_const())
    })
}

/// Calls `f` with a column-major copy of `m`ᵀ that it may change, then
/// copies it back into `m` transposed.
pub fn with_transposed_mut<R>(m: &mut Tile, f: impl FnOnce(MatMut<'_, f64>) -> R) -> R {
    with_scratch(m.ncols(), m.nrows(), |mut t| {
        transpose_into(m.as_ref(), t.rb_mut());
        let result = f(t.rb_mut());
        transpose_into(t.into_const(), m.as_mut());
        result
    })
}

/// This thread's scratch buffer as a `rows x cols` column-major matrix.
fn with_scratch<R>(rows: usize, cols: usize, f: impl FnOnce(MatMut<'_, f64>) -> R) -> R {
    SCRATCH.with_borrow_mut(|buffer| {
        if buffer.len() < rows * cols {
            buffer.resize(rows * cols, 0.0);
        }
        f(MatMut::from_column_major_slice_mut(
            &mut buffer[..rows * cols],
            rows,
            cols,
        ))
    })
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
fn transpose_into(src: MatRef<'_, f64>, mut dst: MatMut<'_, f64>) {
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
