//! Householder QR tile kernels in compact WY form, after PLASMA's tile QR
//! (Buttari, Langou, Kurzak, Dongarra 2009; `core_dgeqrt`, `core_dormqr`,
//! `core_dtsqrt`, `core_dtsmqr`) with LAPACK's conventions (`dgeqrt`,
//! `dgemqrt`, `dtpqrt`, `dtpmqrt`): [`geqrt`] factors a diagonal tile,
//! [`ormqr`] applies that to the tiles right of it, [`tsqrt`] factors the
//! diagonal tile's R stacked on a tile below it, and [`tsmqr`] applies that
//! to the pair of tiles right of them. [`ttqrt`] is [`tsqrt`] for a lower
//! tile that is upper triangular too (PLASMA's `core_dttqrt`: two R factors,
//! as a TSQR tree combines them), whose factors [`tsmqr`] applies alike.
//!
//! The whole algorithm on a grid of tiles `A[i][j]` (`t` tile rows and
//! columns):
//!
//! ```text
//! for k in 0..t:
//!     (V, T, R) = geqrt(A[k][k])
//!     for j > k:  A[k][j] = ormqr(V, T, A[k][j], transpose = true)
//!     for i > k:
//!         (R, V[i][k], T[i][k]) = tsqrt(R, A[i][k])
//!         for j > k:  (A[k][j], A[i][j]) = tsmqr(A[k][j], A[i][j], V[i][k], T[i][k], transpose = true)
//!     A[k][k] = R                    // upper triangular
//! ```
//!
//! after which the tiles on and above the diagonal form R with `A = Q R`,
//! and `Qᵀ b` is the same sequence of `ormqr` and `tsmqr` steps applied to
//! the row tiles of `b`, in the same order (`Q b`: the reverse order, with
//! `transpose = false`).
//!
//! Conventions. Every orthogonal factor is `Q = I - Y T Yᵀ` with Y the
//! reflectors as columns and T the *full* upper triangular factor of all of
//! them (LAPACK's `dlarft`): `Q = H_0 H_1 ... H_{k-1}`, `H_j = I - tau_j y_j
//! y_jᵀ`, `tau_j = T[j][j]` in `[0, 2]`. A reflector with nothing left to
//! annihilate has `tau = 0` (it is the identity), never a NaN. Because T is
//! the full factor, each diagonal block `T[J][J]` of it is the T of the
//! reflectors J alone, so the applications work block by block (64
//! reflectors, 128 from 1024: `apply_block`), as `dgemqrt` does, and never
//! read T's off-diagonal blocks (any block size would do: it need not be
//! the one the factorization used, and from 1024 columns it is not).
//!
//! Cost. Everything of order n³ is a product (general or triangular):
//! the factorizations work on panels of [`inner_block`]`(k)` columns, each
//! factored by LAPACK's `dgeqrt3` recursion, with a blocked update of the
//! columns right of the panel. Forming the full T (rather than only its
//! diagonal blocks, as PLASMA stores it) costs extra: about `n³/3 +
//! (m n² - 2n³/3)` flops in `geqrt` of an `m x n` tile (`m >= n`) and `n³/3 +
//! m n²` in `tsqrt`, not counted in the `flops_*` figures, which are the
//! useful flops by LAPACK's counts. On one core that made `geqrt` about
//! 1.3-1.4x and `tsqrt` 1.45-1.5x slower than the same code keeping only
//! T's diagonal blocks (`benches/qr.rs`, b = 512 and 1024); the
//! applications are unaffected.
//!
//! Like the other kernels, these run on the threads `super::threads` gives
//! (one unless a caller lends idle cores) and
//! validate shapes themselves, by their opcodes' rules (as the LU's do, see
//! `super::lu`); each reads views and writes fresh tiles, or in its
//! `_reusing` form computes in the buffers of the tiles it takes by value. NaN and infinite inputs never
//! panic; they propagate into the results.

use super::threads::par;
use super::transpose::zero_below_diagonal;
use super::{Kernel, KernelError, Shape, inner_block, level3};
use crate::Tile;
use faer::linalg::householder::make_householder_in_place;
use faer::linalg::matmul::dot::inner_prod;
use faer::linalg::matmul::triangular::{self as tri, BlockStructure};
use faer::prelude::{Reborrow, ReborrowMut};
use faer::{Accum, ColMut, ColRef, Conj, MatMut, MatRef};

const RECT: BlockStructure = BlockStructure::Rectangular;

/// Panels this narrow are factored one column at a time: below this, the
/// recursion's many small products cost more in call overhead than their
/// level-3 speed saves.
const LEAF: usize = 8;

/// QR factorization of an `m x n` tile A (any shape), as LAPACK's `dgeqrt`
/// with a full T: with `k = min(m, n)`,
///
/// `A = Q [R; 0]`,  `Q = I - V T Vᵀ` (`m x m`, orthogonal),
///
/// where V is `m x k` unit lower trapezoidal, stored explicitly (ones on the
/// diagonal, exact zeros above it; column j is the reflector `y_j`, zero in
/// rows `< j`), T is the `k x k` upper triangular factor of all k reflectors
/// (exact zeros below its diagonal; `T[j][j] = tau_j`), and R is `k x n`
/// upper trapezoidal (exact zeros below its diagonal). Returns `(v, t, r)`.
///
/// As in LAPACK's `dlarfg`, reflector j maps the column x it reduces (rows
/// `j..m` at that step) to `R[j][j] = -sign(x_0) ||x||`; a column with
/// nothing below its diagonal to annihilate gets `tau_j = 0` and keeps its
/// diagonal entry.
/// Never fails; the `Result` is for uniformity with the other kernels.
pub fn geqrt(a: MatRef<'_, f64>) -> Result<(Tile, Tile, Tile), KernelError> {
    geqrt_reusing(a.to_owned())
}

/// [`geqrt`] in A's buffer, which becomes the larger of V and R.
pub fn geqrt_reusing(mut work: Tile) -> Result<(Tile, Tile, Tile), KernelError> {
    let (m, n) = work.shape();
    let k = m.min(n);
    let mut t = Tile::zeros(k, k);
    let ib = inner_block(k);
    let mut s = Scratch::new(ib.min(k) * n);
    for j0 in (0..k).step_by(ib) {
        let sb = ib.min(k - j0);
        let (done, todo) = work.as_mut().split_at_col_mut(j0);
        let (mut v_j, rest) = todo.subrows_mut(j0, m - j0).split_at_col_mut(sb);
        let (t_prev, t_up, _, mut t_jj) = t
            .as_mut()
            .submatrix_mut(0, 0, j0 + sb, j0 + sb)
            .split_at_mut(j0, j0);
        factor_panel(v_j.rb_mut(), t_jj.rb_mut(), &mut s);
        apply_unit(v_j.rb(), t_jj.rb(), rest, true, &mut s);
        if j0 > 0 {
            // This panel's reflectors are zero above row j0, so their Gram
            // block with the earlier ones is over rows j0..m.
            let (mut g, scratch) = s.pair(j0, sb);
            gram_unit(done.rb().subrows(j0, m - j0), v_j.rb(), g.rb_mut());
            couple(t_prev.rb(), g.rb(), t_jj.rb(), t_up, scratch);
        }
    }
    // The working tile becomes the larger result (fresh pages cost as much
    // as a copy on these machines); only the other one is allocated.
    if m >= n {
        let mut r = Tile::zeros(k, n);
        for j in 0..n {
            let col = work.col_as_slice_mut(j);
            r.col_as_slice_mut(j)[..=j].copy_from_slice(&col[..=j]);
            col[..j].fill(0.0);
            col[j] = 1.0;
        }
        Ok((work, t, r))
    } else {
        let mut v = Tile::zeros(m, k);
        for j in 0..k {
            let col = work.col_as_slice_mut(j);
            let dst = v.col_as_slice_mut(j);
            dst[j] = 1.0;
            dst[j + 1..].copy_from_slice(&col[j + 1..]);
            col[j + 1..].fill(0.0);
        }
        Ok((v, t, work))
    }
}

/// Applies the orthogonal factor of [`geqrt`] to an `m x nc` tile C:
/// returns `Qᵀ C` if `transpose`, else `Q C`, where
///
/// `Q = I - V T Vᵀ`,
///
/// V is `m x k` (`k <= m`) and T is `k x k`. V is taken as unit lower
/// trapezoidal: only its strictly lower part is read (its diagonal is taken
/// as 1, its upper part as 0). Only the upper triangles of T's diagonal
/// blocks are read, of 64 reflectors (128 from k = 1024: `apply_block`):
/// for T the full factor of V's reflectors, as [`geqrt`] gives, these are
/// the factors of the blocks' reflectors, and `Q = Q_0 Q_1 ... Q_last` with
/// `Q_J = I - V_J T_JJ V_Jᵀ`, which is how the product is applied. With
/// `(v, t, r) = geqrt(a)`, `ormqr(v, t, a, true)` is `[r; 0]` up to
/// rounding.
///
/// Errors: [`KernelError::Shape`] if V has more columns than rows, T is not
/// `k x k`, or C does not have V's row count.
pub fn ormqr(
    v: MatRef<'_, f64>,
    t: MatRef<'_, f64>,
    c: MatRef<'_, f64>,
    transpose: bool,
) -> Result<Tile, KernelError> {
    ormqr_reusing(v, t, c.to_owned(), transpose)
}

/// [`ormqr`] in C's buffer.
pub fn ormqr_reusing(
    v: MatRef<'_, f64>,
    t: MatRef<'_, f64>,
    mut c: Tile,
    transpose: bool,
) -> Result<Tile, KernelError> {
    let kernel = Kernel::Ormqr { trans: transpose };
    kernel.result_shapes(&[Shape::of(v), Shape::of(t), Shape::of(c.as_ref())])?;
    let (m, k) = v.shape();
    let mut scratch = Scratch::new(apply_block(k).min(k) * c.ncols());
    for (j0, sb) in blocks(k, transpose) {
        apply_unit(
            v.submatrix(j0, j0, m - j0, sb),
            t.submatrix(j0, j0, sb, sb),
            c.as_mut().subrows_mut(j0, m - j0),
            transpose,
            &mut scratch,
        );
    }
    Ok(c)
}

/// QR factorization of an `n x n` upper triangular R stacked on an `m x n`
/// tile A, as LAPACK's `dtpqrt` (PLASMA's `core_dtsqrt`) with a full T:
///
/// `[R; A] = Q [R2; 0]`,  `Q = I - [I; V] T [I; V]ᵀ` (`(n+m) x (n+m)`),
///
/// so reflector j is `y_j = [e_j; v_j]`, with `v_j` column j of V. Returns
/// `(r2, v, t)`: R2 is `n x n` upper triangular (exact zeros below its
/// diagonal), V is `m x n` (full) and T the `n x n` upper triangular factor
/// of all n reflectors (exact zeros below its diagonal). Only R's upper
/// triangle is read: the strictly lower part may hold anything.
///
/// Errors: [`KernelError::Shape`] if R is not square or A does not have as
/// many columns as R.
pub fn tsqrt(r: MatRef<'_, f64>, a: MatRef<'_, f64>) -> Result<(Tile, Tile, Tile), KernelError> {
    tsqrt_reusing(r.to_owned(), a.to_owned())
}

/// [`tsqrt`] in R's buffer, which becomes R2, and A's, which becomes V.
pub fn tsqrt_reusing(r2: Tile, v: Tile) -> Result<(Tile, Tile, Tile), KernelError> {
    stacked_qr(r2, v, false)
}

/// [`tsqrt`] of an R stacked on an upper triangular (or trapezoidal) A, as
/// LAPACK's `dtpqrt` with `l = n` (PLASMA's `core_dttqrt`): only A's upper
/// triangle is read, the rest taken as zero, and V comes back upper
/// triangular (exact zeros below its diagonal). Reflector j then has
/// nothing below row j of A to annihilate, so the work on column j is on
/// j + 1 of A's rows, not all m: `2n³/3` flops for a square A against
/// [`tsqrt`]'s `2n³`. The combining step of a TSQR tree, where both tiles
/// are R factors.
pub fn ttqrt(r: MatRef<'_, f64>, a: MatRef<'_, f64>) -> Result<(Tile, Tile, Tile), KernelError> {
    ttqrt_reusing(r.to_owned(), a.to_owned())
}

/// [`ttqrt`] in R's buffer, which becomes R2, and A's, which becomes V.
pub fn ttqrt_reusing(r2: Tile, v: Tile) -> Result<(Tile, Tile, Tile), KernelError> {
    stacked_qr(r2, v, true)
}

/// [`tsqrt_reusing`] (A full) or [`ttqrt_reusing`] (A upper triangular,
/// `triangle`): panels of [`inner_block`]`(n)` columns, each factored,
/// applied to the columns right of it, and coupled into the full T. With a
/// triangular A, panel `J` works on A's first `j0 + sb` rows only (the
/// reflectors are zero below them, so the rows below stay as they are).
pub(super) fn stacked_qr(
    mut r2: Tile,
    mut v: Tile,
    triangle: bool,
) -> Result<(Tile, Tile, Tile), KernelError> {
    Kernel::Tsqrt { triangle }.result_shapes(&[Shape::of(r2.as_ref()), Shape::of(v.as_ref())])?;
    let (n, m) = (r2.nrows(), v.nrows());
    // Only R's upper triangle is read, and with `triangle` only A's.
    zero_below_diagonal(&mut r2);
    if triangle {
        zero_below_diagonal(&mut v);
    }
    let mut t = Tile::zeros(n, n);
    let ib = inner_block(n);
    let mut s = Scratch::new(ib.min(n) * n);
    for j0 in (0..n).step_by(ib) {
        let sb = ib.min(n - j0);
        // The rows of A the panel's reflectors reach, and those of the
        // reflectors before it.
        let (rows, done_rows) = if triangle {
            ((j0 + sb).min(m), j0.min(m))
        } else {
            (m, m)
        };
        let (r_jj, r_rest) = r2
            .as_mut()
            .submatrix_mut(j0, j0, sb, n - j0)
            .split_at_col_mut(sb);
        let (done, todo) = v.as_mut().subrows_mut(0, rows).split_at_col_mut(j0);
        let (mut v_j, v_rest) = todo.split_at_col_mut(sb);
        let (t_prev, t_up, _, mut t_jj) = t
            .as_mut()
            .submatrix_mut(0, 0, j0 + sb, j0 + sb)
            .split_at_mut(j0, j0);
        factor_ts_panel(r_jj, v_j.rb_mut(), t_jj.rb_mut(), &mut s);
        apply_ts(v_j.rb(), t_jj.rb(), r_rest, v_rest, true, &mut s);
        if j0 > 0 {
            // The identity parts of two different reflector blocks are
            // orthogonal: their Gram block is V's alone.
            let (mut g, scratch) = s.pair(j0, sb);
            level3::matmul(
                g.rb_mut(),
                Accum::Replace,
                done.rb().subrows(0, done_rows).transpose(),
                v_j.rb().subrows(0, done_rows),
                1.0,
            );
            couple(t_prev.rb(), g.rb(), t_jj.rb(), t_up, scratch);
        }
    }
    Ok((r2, v, t))
}

/// Applies the orthogonal factor of [`tsqrt`] to A1 (`k' x nc`, in R's tile
/// row) stacked on A2 (`m x nc`, in A's tile row), as LAPACK's `dtpmqrt`
/// (PLASMA's `core_dtsmqr`): with `k` = V's column count (`k <= k'`) and
/// A1 = `[A1_top; A1_rest]` (A1_top its first k rows), returns `(a1', a2')`
/// with
///
/// `[a1'_top; a2'] = op(Q) [A1_top; A2]`,  `a1'_rest = A1_rest`,
///
/// `Q = I - [I; V] T [I; V]ᵀ`, `op(Q) = Qᵀ` if `transpose`, else Q. So the
/// rows of A1 below its k-th take no part and come back unchanged (the
/// identity part of the reflectors covers only the first k rows). V is
/// `m x k` (full), T `k x k`; only the upper triangles of T's diagonal
/// blocks are read (see [`ormqr`]). The identity part is
/// never multiplied: the cost is `4 k m nc` flops plus `k ib nc` for the
/// blocks' triangular factors.
///
/// Errors: [`KernelError::Shape`] if T is not `k x k`, A1 has fewer than k
/// rows, A2 does not have V's row count, or A1 and A2 differ in columns.
pub fn tsmqr(
    a1: MatRef<'_, f64>,
    a2: MatRef<'_, f64>,
    v: MatRef<'_, f64>,
    t: MatRef<'_, f64>,
    transpose: bool,
) -> Result<(Tile, Tile), KernelError> {
    tsmqr_reusing(a1.to_owned(), a2.to_owned(), v, t, transpose)
}

/// [`tsmqr`] in A1's and A2's buffers.
pub fn tsmqr_reusing(
    mut a1: Tile,
    mut a2: Tile,
    v: MatRef<'_, f64>,
    t: MatRef<'_, f64>,
    transpose: bool,
) -> Result<(Tile, Tile), KernelError> {
    let tiles = [a1.as_ref(), a2.as_ref(), v, t];
    Kernel::Tsmqr { trans: transpose }.result_shapes(&tiles.map(Shape::of))?;
    let k = v.ncols();
    let mut scratch = Scratch::new(apply_block(k).min(k) * a1.ncols());
    for (j0, sb) in blocks(k, transpose) {
        apply_ts(
            v.subcols(j0, sb),
            t.submatrix(j0, j0, sb, sb),
            a1.as_mut().subrows_mut(j0, sb),
            a2.as_mut(),
            transpose,
            &mut scratch,
        );
    }
    Ok((a1, a2))
}

/// Useful flops of [`geqrt`] on an `m x n` tile: LAPACK's `dgeqrf` count
/// (LAWN 41, multiplications plus additions), `2n²(m - n/3)` to leading
/// order for `m >= n` and `2m²(n - m/3)` for `m < n` (`4n³/3` square). Not
/// counted: forming T (see the module documentation).
pub fn flops_geqrt(m: usize, n: usize) -> f64 {
    let (m, n) = (m as f64, n as f64);
    if m > n {
        let core = n * (n * (0.5 - n / 3.0 + m));
        (core + n * (m + 23.0 / 6.0)) + (core + n * 5.0 / 6.0)
    } else {
        let core = m * (m * (-0.5 - m / 3.0 + n));
        (core + m * (2.0 * n + 23.0 / 6.0)) + (core + m * (n + 5.0 / 6.0))
    }
}

/// Useful flops of [`ormqr`] with k reflectors on an `m x nc` tile:
/// LAPACK's `dormqr` count from the left (LAWN 41), `4 m nc k - 2 nc k² +
/// 3 nc k` (`2n³` for square tiles).
pub fn flops_ormqr(m: usize, nc: usize, k: usize) -> f64 {
    let (m, nc, k) = (m as f64, nc as f64, k as f64);
    nc * k * (4.0 * m - 2.0 * k + 3.0)
}

/// Useful flops of [`tsqrt`] on an `n x n` R over an `m x n` A, counted as
/// LAWN 41 counts `dgeqr2`: per column j, `3m` to form the reflector (norm
/// and scaling of its m-vector) and `4m + 2` for each of the `n - 1 - j`
/// columns right of it; `2 m n² + m n + n² - n` in all (`2n³` square).
pub fn flops_tsqrt(m: usize, n: usize) -> f64 {
    let (m, n) = (m as f64, n as f64);
    3.0 * m * n + (4.0 * m + 2.0) * n * (n - 1.0) / 2.0
}

/// Useful flops of [`ttqrt`] on an `n x n` R over an `m x n` upper
/// triangular A, counted as [`flops_tsqrt`] with column j's reflector
/// `min(j + 1, m)` rows long: `n(n+1)(4n+5)/6 + n(n-1)` for `m >= n`
/// (`2n³/3` to leading order).
pub fn flops_ttqrt(m: usize, n: usize) -> f64 {
    let (m, n) = (m as f64, n as f64);
    let k = m.min(n);
    // Reflectors 0..k are j + 1 rows long, the rest (when m < n) m rows:
    // the sum over j of length * (3 + 4 (n - 1 - j)), plus 2 per column
    // updated.
    let growing = (4.0 * n - 1.0) * k * (k + 1.0) / 2.0 - 4.0 * (k - 1.0) * k * (k + 1.0) / 3.0;
    let full = m * (n - k) * (2.0 * n - 2.0 * k + 1.0);
    growing + full + n * (n - 1.0)
}

/// Useful flops of [`tsmqr`] with k reflectors of an `m`-row V on `nc`
/// columns, counted as [`flops_tsqrt`]: `4m + 2` per reflector and column,
/// `4 m k nc + 2 k nc` (`4n³` for square tiles).
pub fn flops_tsmqr(m: usize, nc: usize, k: usize) -> f64 {
    let (m, nc, k) = (m as f64, nc as f64, k as f64);
    k * nc * (4.0 * m + 2.0)
}

/// Two work matrices for the blocked updates: `W = Yᵀ C` and `op(T) W`, or
/// a Gram block and its product with a triangular factor. One pair of
/// buffers serves every step of a kernel, in turn.
struct Scratch {
    first: Vec<f64>,
    second: Vec<f64>,
}

impl Scratch {
    /// Room for any pair of `rows x cols` matrices with `rows cols <= len`.
    fn new(len: usize) -> Scratch {
        Scratch {
            first: vec![0.0; len],
            second: vec![0.0; len],
        }
    }

    fn pair(&mut self, rows: usize, cols: usize) -> (MatMut<'_, f64>, MatMut<'_, f64>) {
        let len = rows * cols;
        (
            MatMut::from_column_major_slice_mut(&mut self.first[..len], rows, cols),
            MatMut::from_column_major_slice_mut(&mut self.second[..len], rows, cols),
        )
    }
}

/// The widest block of reflectors an application applies at once.
const APPLY_BLOCK: usize = 128;

/// How many of `k` reflectors [`ormqr`] and [`tsmqr`] apply at once: the
/// factorizations' [`inner_block`]`(k)`, at most [`APPLY_BLOCK`]. Each block
/// costs a pass over the tiles it updates and `ib` flops per reflector and
/// column for its triangular factor. On a Zen 5 host (2026-12-05) a `qr` at
/// 16384 x 4096 on 1024 tiles took 0.94x the time with blocks of 128
/// instead of the factorizations' 256 (`farm-bench -n 9`, pairs 0.92-0.98)
/// and an `lstsq` at 32768 x 4096 0.96x (5 pairs, 0.93-0.99); on 2048
/// tiles, 128 or 256 instead of 512 took 1.00-1.01x (5 pairs each). One
/// `TSMQR_T` of 1024 tiles, one core: 35-37 ms with 128, 37-39 with 256,
/// 40-42 with 512, 36-38 with 64.
fn apply_block(k: usize) -> usize {
    inner_block(k).min(APPLY_BLOCK)
}

/// The blocks `(j0, size)` of `k` reflectors, in the order that applies
/// `Qᵀ` (first to last) or `Q` (last to first).
fn blocks(k: usize, transpose: bool) -> Vec<(usize, usize)> {
    let ib = apply_block(k);
    let mut all: Vec<_> = (0..k).step_by(ib).map(|j0| (j0, ib.min(k - j0))).collect();
    if !transpose {
        all.reverse();
    }
    all
}

/// Householder QR of a `p x w` panel (`p >= w`) in place, by LAPACK's
/// `dgeqrt3` recursion: R in the upper triangle, the reflectors' entries
/// below the diagonal (unit diagonal implied) and their full `w x w` factor
/// in `t` (only its upper triangle written).
fn factor_panel(a: MatMut<'_, f64>, t: MatMut<'_, f64>, s: &mut Scratch) {
    let (p, w) = a.shape();
    if w <= LEAF {
        factor_leaf(a, t);
        return;
    }
    let w1 = w / 2;
    let (mut left, mut right) = a.split_at_col_mut(w1);
    let (mut t11, t12, _, mut t22) = t.split_at_mut(w1, w1);
    factor_panel(left.rb_mut(), t11.rb_mut(), s);
    apply_unit(left.rb(), t11.rb(), right.rb_mut(), true, s);
    let mut right = right.subrows_mut(w1, p - w1);
    factor_panel(right.rb_mut(), t22.rb_mut(), s);
    let (mut g, scratch) = s.pair(w1, w - w1);
    gram_unit(left.rb().subrows(w1, p - w1), right.rb(), g.rb_mut());
    couple(t11.rb(), g.rb(), t22.rb(), t12, scratch);
}

/// [`factor_panel`] for the stacked `[R; A]` of [`tsqrt`]: R `w x w` upper
/// triangular (only its upper triangle read and written), A `m x w`
/// overwritten by V.
fn factor_ts_panel(
    r: MatMut<'_, f64>,
    mut a: MatMut<'_, f64>,
    t: MatMut<'_, f64>,
    s: &mut Scratch,
) {
    let w = r.ncols();
    if w <= LEAF {
        factor_ts_leaf(r, a, t);
        return;
    }
    let w1 = w / 2;
    let (r11, r12, _, r22) = r.split_at_mut(w1, w1);
    let (mut a1, mut a2) = a.rb_mut().split_at_col_mut(w1);
    let (mut t11, t12, _, mut t22) = t.split_at_mut(w1, w1);
    factor_ts_panel(r11, a1.rb_mut(), t11.rb_mut(), s);
    apply_ts(a1.rb(), t11.rb(), r12, a2.rb_mut(), true, s);
    factor_ts_panel(r22, a2.rb_mut(), t22.rb_mut(), s);
    let (mut g, scratch) = s.pair(w1, w - w1);
    level3::matmul(
        g.rb_mut(),
        Accum::Replace,
        a1.rb().transpose(),
        a2.rb(),
        1.0,
    );
    couple(t11.rb(), g.rb(), t22.rb(), t12, scratch);
}

/// [`factor_panel`] one column at a time (LAPACK's `dgeqr2` and `dlarft`),
/// for `w <= LEAF`: the work is `O(p w²)`, dot products and updates.
fn factor_leaf(mut a: MatMut<'_, f64>, mut t: MatMut<'_, f64>) {
    let (p, w) = a.shape();
    for j in 0..w {
        let (done, todo) = a.rb_mut().split_at_col_mut(j);
        let (mut col, mut rest) = todo.split_at_col_mut(1);
        let (mut head, tail) = col.rb_mut().col_mut(0).split_at_row_mut(j + 1);
        let tau = reflector(&mut head[j], tail);
        let v = col.rb().col(0).subrows(j + 1, p - j - 1);
        if tau != 0.0 {
            for c in 0..rest.ncols() {
                let (mut top, bottom) = rest.rb_mut().col_mut(c).split_at_row_mut(j + 1);
                let s = tau * (top[j] + dot(v, bottom.rb()));
                top[j] -= s;
                axpy(bottom, -s, v);
            }
        }
        // Reflector i < j is v_i = a[j][i] in row j (where v_j has its
        // implicit 1) and a[j+1.., i] below.
        let gram = |i: usize| done[(j, i)] + dot(done.rb().col(i).subrows(j + 1, p - j - 1), v);
        t_column(t.rb_mut(), j, tau, gram);
    }
}

/// [`factor_ts_panel`] one column at a time (LAPACK's `dtpqrt2`), for
/// `w <= LEAF`.
fn factor_ts_leaf(mut r: MatMut<'_, f64>, mut a: MatMut<'_, f64>, mut t: MatMut<'_, f64>) {
    let w = r.ncols();
    for j in 0..w {
        let (done, todo) = a.rb_mut().split_at_col_mut(j);
        let (mut col, mut rest) = todo.split_at_col_mut(1);
        let tau = reflector(&mut r[(j, j)], col.rb_mut().col_mut(0));
        let v = col.rb().col(0);
        if tau != 0.0 {
            for c in 0..rest.ncols() {
                let s = tau * (r[(j, j + 1 + c)] + dot(v, rest.rb().col(c)));
                r[(j, j + 1 + c)] -= s;
                axpy(rest.rb_mut().col_mut(c), -s, v);
            }
        }
        // The identity parts of different reflectors are orthogonal.
        t_column(t.rb_mut(), j, tau, |i| dot(done.rb().col(i), v));
    }
}

/// Column j of the factor T of reflectors `0..=j` (`dlarft`): `T[j][j] =
/// tau` and `T[..j][j] = -tau T[..j][..j] z` with `z_i = y_iᵀ y_j`, given by
/// `gram(i)`. Only the upper triangle of T is read or written.
fn t_column(mut t: MatMut<'_, f64>, j: usize, tau: f64, gram: impl Fn(usize) -> f64) {
    let mut z = [0.0; LEAF];
    for (i, zi) in z[..j].iter_mut().enumerate() {
        *zi = gram(i);
    }
    for i in 0..j {
        let sum: f64 = (i..j).map(|l| t[(i, l)] * z[l]).sum();
        // A tau = 0 reflector is decoupled: its column stays exactly zero.
        t[(i, j)] = if tau == 0.0 { 0.0 } else { -tau * sum };
    }
    t[(j, j)] = tau;
}

fn dot(x: ColRef<'_, f64>, y: ColRef<'_, f64>) -> f64 {
    inner_prod(x.transpose(), Conj::No, y, Conj::No)
}

/// `y += alpha x`.
fn axpy(y: ColMut<'_, f64>, alpha: f64, x: ColRef<'_, f64>) {
    faer::zip!(y, x).for_each(|faer::unzip!(y, x)| *y += alpha * *x);
}

/// The reflector `H = I - tau [1; v] [1; v]ᵀ` with `H [head; tail] = [beta;
/// 0]`: writes beta to `head` and v to `tail`, returns tau. faer's
/// `make_householder_in_place` gives `1/tau`; a tail of norm below the
/// smallest normal number is left as nothing to annihilate (tau = 0) and
/// cleared, so that V holds exact zeros there.
fn reflector(head: &mut f64, mut tail: ColMut<'_, f64>) -> f64 {
    let tau = make_householder_in_place(head, tail.rb_mut()).tau.recip();
    if tau == 0.0 {
        tail.fill(0.0);
    }
    tau
}

/// `C = op(Q) C` for `Q = I - V T Vᵀ`, V `p x w` unit lower trapezoidal
/// (strictly lower part read) and T's upper triangle read: LAPACK's
/// `dlarfb`.
fn apply_unit(
    v: MatRef<'_, f64>,
    t: MatRef<'_, f64>,
    c: MatMut<'_, f64>,
    transpose: bool,
    s: &mut Scratch,
) {
    let w = v.ncols();
    let (mut w1, mut w2) = s.pair(w, c.ncols());
    let (v_top, v_bot) = v.split_at_row(w);
    let (c_top, c_bot) = c.split_at_row_mut(w);
    tri::matmul(
        w1.rb_mut(),
        RECT,
        Accum::Replace,
        v_top.transpose(),
        BlockStructure::UnitTriangularUpper,
        c_top.rb(),
        RECT,
        1.0,
        par(),
    );
    level3::matmul(w1.rb_mut(), Accum::Add, v_bot.transpose(), c_bot.rb(), 1.0);
    mul_t(t, transpose, w1.rb(), w2.rb_mut());
    tri::matmul(
        c_top,
        RECT,
        Accum::Add,
        v_top,
        BlockStructure::UnitTriangularLower,
        w2.rb(),
        RECT,
        -1.0,
        par(),
    );
    level3::matmul(c_bot, Accum::Add, v_bot, w2.rb(), -1.0);
}

/// `[C1; C2] = op(Q) [C1; C2]` for `Q = I - [I; V] T [I; V]ᵀ`, V `m x w`
/// full, C1 `w x nc`: the identity part is an addition, not a product.
fn apply_ts(
    v: MatRef<'_, f64>,
    t: MatRef<'_, f64>,
    c1: MatMut<'_, f64>,
    c2: MatMut<'_, f64>,
    transpose: bool,
    s: &mut Scratch,
) {
    let (mut w1, mut w2) = s.pair(v.ncols(), c1.ncols());
    w1.copy_from(c1.rb());
    level3::matmul(w1.rb_mut(), Accum::Add, v.transpose(), c2.rb(), 1.0);
    mul_t(t, transpose, w1.rb(), w2.rb_mut());
    faer::zip!(c1, w2.rb()).for_each(|faer::unzip!(c, w)| *c -= *w);
    level3::matmul(c2, Accum::Add, v, w2.rb(), -1.0);
}

/// `dst = op(T) src`, reading T's upper triangle; `op(T) = Tᵀ` if
/// `transpose`.
fn mul_t(t: MatRef<'_, f64>, transpose: bool, src: MatRef<'_, f64>, dst: MatMut<'_, f64>) {
    let (t, structure) = if transpose {
        (t.transpose(), BlockStructure::TriangularLower)
    } else {
        (t, BlockStructure::TriangularUpper)
    };
    tri::matmul(
        dst,
        RECT,
        Accum::Replace,
        t,
        structure,
        src,
        RECT,
        1.0,
        par(),
    );
}

/// `dst = Lᵀ Y` for L `q x j` and Y `q x w` unit lower trapezoidal
/// (`q >= w`, strictly lower part read).
fn gram_unit(l: MatRef<'_, f64>, y: MatRef<'_, f64>, mut dst: MatMut<'_, f64>) {
    let w = y.ncols();
    let (l_top, l_bot) = l.split_at_row(w);
    let (y_top, y_bot) = y.split_at_row(w);
    tri::matmul(
        dst.rb_mut(),
        RECT,
        Accum::Replace,
        l_top.transpose(),
        RECT,
        y_top,
        BlockStructure::UnitTriangularLower,
        1.0,
        par(),
    );
    level3::matmul(dst, Accum::Add, l_bot.transpose(), y_bot, 1.0);
}

/// The off-diagonal block of the factor of two consecutive reflector
/// blocks, `T12 = -T11 (Y1ᵀ Y2) T22` (`dlarft`'s recursion, as in
/// `dgeqrt3`), given the Gram block `g = Y1ᵀ Y2`. A `tau = 0` reflector has a
/// zero row and column in its T, so it stays decoupled.
fn couple(
    t11: MatRef<'_, f64>,
    g: MatRef<'_, f64>,
    t22: MatRef<'_, f64>,
    t12: MatMut<'_, f64>,
    mut scratch: MatMut<'_, f64>,
) {
    tri::matmul(
        scratch.rb_mut(),
        RECT,
        Accum::Replace,
        g,
        RECT,
        t22,
        BlockStructure::TriangularUpper,
        1.0,
        par(),
    );
    tri::matmul(
        t12,
        RECT,
        Accum::Replace,
        t11,
        BlockStructure::TriangularUpper,
        scratch.rb(),
        RECT,
        -1.0,
        par(),
    );
}
