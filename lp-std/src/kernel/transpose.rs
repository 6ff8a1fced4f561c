//! Transposition of column-major tiles (and copies between views of either
//! layout, which are transpositions when the layouts differ), and the
//! triangle operations that complete a symmetric or triangular result.

use crate::Tile;
use faer::prelude::{IntoConst, ReborrowMut};
use faer::{MatMut, MatRef};

/// Transposes go in strips of `MICRO` columns of the source, each read down
/// its whole height, `MICRO x MICRO` piece by piece through registers: the
/// strip's columns are `MICRO` sequential streams the prefetcher follows.
/// Measured against 64 x 64 blocks (2026-12-02, an Intel host, single
/// transposes of 500-2048 rows): 0.80-0.87x the time with the source in
/// cache, 0.57-0.87x with it in memory.
const MICRO: usize = 8;

/// From this many bytes of destination a transpose writes its pieces with
/// non-temporal stores (x86-64 only, where SSE2's `movntpd` is always
/// there). A piece's row is a whole cache line of the destination, and an
/// ordinary store first reads that line from memory (a read for
/// ownership): a transpose writes a line in each of 8 columns per piece,
/// far apart, so those reads were its cost. On an Intel host (cpu family 6
/// model 167, 2026-12-03, medians of 21) a 1024 x 1024 transpose took 1.5
/// ms with streaming stores against 5.8-7.9 ms, and 7.0 against 22.9-32.6
/// ms at 2048 (10-11 against 2-3 GB/s moved; huge pages and padded strides
/// changed nothing, so neither the TLB nor cache sets were the cause). At
/// 256 x 256 (512 KiB, in L2) streaming took 0.19 ms against 0.08 with
/// ordinary stores: below the threshold the destination stays in cache for
/// its reader. On a Zen 4 host (cpu family 25 model 17, 2026-12-04) a
/// Cholesky at n = 8192 on 1024 tiles with ordinary stores took 1.07x the
/// time (9 interleaved pairs), so AMD streams too.
const STREAM_FROM_BYTES: usize = 1 << 20;

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
    let stream = streams(n * n / 2);
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
        transpose_strips(below, right.subrows_mut(j0, end - j0), stream);
    }
    if stream {
        stream_fence();
    }
}

/// dst = srcᵀ, for a column-major `src` and `dst` (`dst` has a row per
/// column of `src`).
pub fn transpose_into(src: MatRef<'_, f64>, dst: MatMut<'_, f64>) {
    let stream = streams(dst.nrows() * dst.ncols());
    transpose_strips(src, dst, stream);
    if stream {
        stream_fence();
    }
}

/// dst = src for views of any layout: a transpose in strips where one is
/// row-major and the other column-major (a C-order numpy array cut into
/// tiles: copying column by column would read one element per row, each
/// on another cache line), else faer's copy.
pub fn copy_view(src: MatRef<'_, f64>, mut dst: MatMut<'_, f64>) {
    let row_major = |row_stride: isize, col_stride: isize| row_stride != 1 && col_stride == 1;
    if row_major(src.row_stride(), src.col_stride()) && dst.row_stride() == 1 {
        transpose_into(src.transpose(), dst);
    } else if src.row_stride() == 1 && row_major(dst.row_stride(), dst.col_stride()) {
        transpose_into(src, dst.transpose_mut());
    } else {
        dst.copy_from(src);
    }
}

/// Whether a transpose writing `entries` entries streams them (see
/// [`STREAM_FROM_BYTES`]).
fn streams(entries: usize) -> bool {
    cfg!(target_arch = "x86_64") && entries * size_of::<f64>() >= STREAM_FROM_BYTES
}

/// [`transpose_into`] without the closing fence: with `stream`, whole
/// aligned rows of a piece go out as non-temporal stores.
fn transpose_strips(src: MatRef<'_, f64>, mut dst: MatMut<'_, f64>, stream: bool) {
    let (m, n) = (src.nrows(), src.ncols());
    for c0 in (0..n).step_by(MICRO) {
        let w = MICRO.min(n - c0);
        let sources: [&[f64]; MICRO] = std::array::from_fn(|k| {
            if k < w {
                contiguous(src.col(c0 + k))
            } else {
                &[]
            }
        });
        for r in (0..m).step_by(MICRO) {
            let h = MICRO.min(m - r);
            let mut piece = [[0.0; MICRO]; MICRO];
            if (w, h) == (MICRO, MICRO) {
                for (column, source) in piece.iter_mut().zip(&sources) {
                    *column = source[r..r + MICRO].try_into().expect("a whole piece");
                }
            } else {
                for (column, source) in piece[..w].iter_mut().zip(&sources) {
                    column[..h].copy_from_slice(&source[r..r + h]);
                }
            }
            for i in 0..h {
                let target = dst.rb_mut().col_mut(r + i);
                let target = target
                    .try_as_col_major_mut()
                    .expect("a tile is column-major");
                let target = &mut target.as_slice_mut()[c0..c0 + w];
                let row = piece.map(|column| column[i]);
                if !(stream && stream_row(target, row)) {
                    for (d, value) in target.iter_mut().zip(row) {
                        *d = value;
                    }
                }
            }
        }
    }
}

/// Writes a whole row of a piece to `target` with non-temporal stores when
/// `target` is a whole row aligned to 16 bytes (a tile's columns are
/// aligned to 64, so then it is one cache line); false if it wrote nothing.
#[cfg(target_arch = "x86_64")]
fn stream_row(target: &mut [f64], row: [f64; MICRO]) -> bool {
    use std::arch::x86_64::{_mm_set_pd, _mm_stream_pd};
    let Ok(target) = <&mut [f64; MICRO]>::try_from(target) else {
        return false;
    };
    if target.as_ptr().addr() % 16 != 0 {
        return false;
    }
    for (pair, values) in target.chunks_exact_mut(2).zip(row.chunks_exact(2)) {
        // SAFETY: `pair` is two f64s inside `target`, and `target` is
        // 16-byte aligned, so each pair is too, as `movntpd` requires.
        unsafe { _mm_stream_pd(pair.as_mut_ptr(), _mm_set_pd(values[1], values[0])) };
    }
    true
}

#[cfg(not(target_arch = "x86_64"))]
fn stream_row(_target: &mut [f64], _row: [f64; MICRO]) -> bool {
    false
}

/// Orders the non-temporal stores before every later store: they are
/// weakly ordered, so without the fence a thread that is handed the tile
/// (through a lock's release) could read stale lines.
fn stream_fence() {
    // SAFETY: SSE, which `sfence` needs, is part of every x86-64 CPU.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        std::arch::x86_64::_mm_sfence()
    };
}

fn contiguous(column: faer::ColRef<'_, f64>) -> &[f64] {
    column
        .try_as_col_major()
        .expect("a tile is column-major")
        .as_slice()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every shape a strip or a piece can end short in: fewer than 8 rows
    /// or columns, whole pieces, and ragged edges both ways; the source and
    /// the destination column strides differ from their heights (views),
    /// and the destination is either a view one row off its tile's aligned
    /// columns (no row can stream) or a whole tile (every whole row can);
    /// with and without streaming stores.
    #[test]
    fn transposes_every_shape() {
        for (m, n) in [
            (1, 1),
            (3, 7),
            (8, 8),
            (9, 16),
            (16, 9),
            (13, 517),
            (517, 13),
            (600, 520),
        ] {
            let big = Tile::from_fn(m + 5, n + 2, |i, j| (i * 1000 + j) as f64 + 0.5);
            let src = big.as_ref().submatrix(2, 1, m, n);
            for stream in [false, true] {
                let mut out = Tile::from_fn(n + 3, m + 4, |_, _| -1.0);
                transpose_strips(src, out.as_mut().submatrix_mut(1, 2, n, m), stream);
                stream_fence();
                for i in 0..n + 3 {
                    for j in 0..m + 4 {
                        let inside = (1..n + 1).contains(&i) && (2..m + 2).contains(&j);
                        let expected = if inside { src[(j - 2, i - 1)] } else { -1.0 };
                        assert_eq!(out[(i, j)], expected, "{m} x {n}, {stream}: ({i}, {j})");
                    }
                }
                let mut whole = Tile::from_fn(n, m, |_, _| -1.0);
                transpose_strips(src, whole.as_mut(), stream);
                stream_fence();
                assert_eq!(whole, src.transpose(), "{m} x {n}, {stream}");
            }
        }
    }

    /// A copy between column-major and row-major views, each way and
    /// each to itself, below and above the streaming size.
    #[test]
    fn copies_views_of_either_layout() {
        for (m, n) in [(13, 7), (600, 520)] {
            let want = Tile::from_fn(m, n, |i, j| (i * 1000 + j) as f64);
            let row_major = Tile::from_fn(n, m, |j, i| want[(i, j)]);
            for src in [want.as_ref(), row_major.as_ref().transpose()] {
                let mut col = Tile::zeros(m, n);
                copy_view(src, col.as_mut());
                assert_eq!(col, want, "{m} x {n} to column-major");
                let mut row = Tile::zeros(n, m);
                copy_view(src, row.as_mut().transpose_mut());
                assert_eq!(
                    row.as_ref().transpose(),
                    want.as_ref(),
                    "{m} x {n} to row-major"
                );
            }
        }
    }

    /// The mirror of a tile too small to stream and of one large enough
    /// (600 x 600: 1.4 MiB in the upper triangle), with a ragged last strip.
    #[test]
    fn mirrors_the_lower_triangle() {
        for n in [13, 600] {
            assert_eq!(streams(n * n / 2), n == 600);
            let original = Tile::from_fn(n, n, |i, j| (i * 1000 + j) as f64);
            let mut m = original.clone();
            mirror_lower(&mut m);
            for j in 0..n {
                for i in 0..n {
                    let expected = original[(i.max(j), i.min(j))];
                    assert_eq!(m[(i, j)], expected, "{n}: ({i}, {j})");
                }
            }
        }
    }
}
