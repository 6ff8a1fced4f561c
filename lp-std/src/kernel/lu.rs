//! LU tile kernels with incremental (pairwise) pivoting, after PLASMA's
//! `dgetrf_incpiv` (Buttari, Langou, Kurzak, Dongarra 2009): `getrf` factors a
//! diagonal tile, `gessm` applies that to the tiles right of it, `tstrf`
//! factors the diagonal tile's U stacked on a tile below it, and `ssssm`
//! applies that to the pair of tiles right of them.
//!
//! The whole algorithm on a grid of `t x t` tiles `A[i][j]` (square diagonal
//! tiles; the last row and column of tiles may be ragged):
//!
//! ```text
//! for k in 0..t:
//!     (lu, p) = getrf(A[k][k]);  U = upper triangle of lu
//!     for j > k:  A[k][j] = gessm(lu, p, A[k][j])
//!     for i > k:
//!         (U, L[i][k], LX[i][k], P[i][k]) = tstrf(U, A[i][k])
//!         for j > k:  (A[k][j], A[i][j]) = ssssm(A[k][j], A[i][j], L[i][k], LX[i][k], P[i][k])
//!     A[k][k] = U                    // upper triangular
//! ```
//!
//! after which the tiles on and above the diagonal form an upper triangular
//! U, and `A x = b` is solved by applying the same `gessm` and `ssssm` steps
//! to the row tiles of `b`, in the same order, then back substitution with U.
//!
//! Pivots are stored as `k x 1` tiles of exact small integers (0-based);
//! [`getrf`] and [`tstrf`] document what they index. Factors are not checked
//! for singularity here: a zero pivot in one tile is normal (another tile
//! below may hold the pivot), so the kernels record it and carry on, as
//! LAPACK's `dgetrf` does. The final diagonal tiles of U decide; check them
//! with [`check_upper`] before a back substitution.
//!
//! Non-finite input never panics and is never an error here: NaN and
//! infinities propagate into the results as in LAPACK (pivot indices stay in
//! range), and [`check_upper`] then reports a non-finite diagonal entry.
//!
//! Like the other kernels, these run on the threads `super::threads` gives
//! (one unless a caller lends idle cores) and
//! validate shapes themselves, by their opcodes' rules
//! (`Kernel::result_shapes`), so that a direct call refuses a bad operand
//! with the message `lpc check` gives. Each comes in two forms: one reads its
//! operands as views and writes fresh tiles (`ssssm`), the other
//! (`ssssm_reusing`) takes the tiles it transforms by value and computes in
//! their buffers, which is what `Kernel::apply_reusing` calls with the tiles
//! a job holds alone, so that a tile read from disk or S3 is not copied.

use super::threads::par;
use super::transpose::zero_below_diagonal;
use super::{Kernel, KernelError, Shape, ShapeError, inner_block, level3, shapes};
use crate::Tile;
use faer::linalg::matmul::matmul;
use faer::prelude::{Reborrow, ReborrowMut};
use faer::{Accum, MatMut, MatRef};

/// Panels this narrow are factored column by column: below this the
/// recursion's bookkeeping costs more than its level-3 products save.
const UNBLOCKED_WIDTH: usize = 16;

/// LU factorization with partial pivoting (row interchanges) of an `m x n`
/// tile A, as LAPACK's `dgetrf`: with `k = min(m, n)`,
///
/// `P A = L U`,
///
/// where L is `m x k` unit lower trapezoidal, U is `k x n` upper trapezoidal
/// and `P = P_{k-1} ... P_1 P_0` with `P_i` the interchange of rows `i` and
/// `p[i]` (`i <= p[i] < m`).
///
/// Returns `(lu, p)`: `lu` is `m x n` with U on and above the diagonal and
/// the strictly lower part of L below it (its unit diagonal is not stored);
/// `p` is `k x 1` holding `p[i]` as an exact integer.
///
/// Each pivot is the entry of largest magnitude in its column (the first one
/// on ties). A column with no nonzero candidate gives `U[i][i] = 0` and zero
/// multipliers, not an error: factorisation continues, as in `dgetrf`.
/// NaN and infinities propagate (see the module documentation). Never fails
/// today; the `Result` is for uniformity with the other kernels.
pub fn getrf(a: MatRef<'_, f64>) -> Result<(Tile, Tile), KernelError> {
    getrf_reusing(a.to_owned())
}

/// [`getrf`] in A's buffer, which becomes `lu`.
pub fn getrf_reusing(mut a: Tile) -> Result<(Tile, Tile), KernelError> {
    let mut piv = vec![0; a.nrows().min(a.ncols())];
    lu_in_place(a.as_mut(), &mut piv);
    Ok((a, pivot_tile(&piv)))
}

/// Applies [`getrf`]'s transformation to the `m x nc` tile A in the same
/// tile row:
///
/// `A' = L^-1 P A`,
///
/// with P from `p` (`k x 1`, the interchanges applied in order `i = 0..k`)
/// and L the `m x m` unit lower triangular matrix whose first `k` columns
/// are L from `lu` (`m x n`, `k = min(m, n)`) and whose other columns are
/// those of the identity. Only the strictly lower part of `lu`'s first `k`
/// columns is read.
///
/// Errors: [`KernelError::Shape`] if `lu` and `a` differ in row count, `p`
/// is not `k x 1`, or a pivot is not an integer in `0..m`.
pub fn gessm(
    lu: MatRef<'_, f64>,
    p: MatRef<'_, f64>,
    a: MatRef<'_, f64>,
) -> Result<Tile, KernelError> {
    gessm_reusing(lu, p, a.to_owned())
}

/// [`gessm`] in A's buffer.
pub fn gessm_reusing(
    lu: MatRef<'_, f64>,
    p: MatRef<'_, f64>,
    mut a: Tile,
) -> Result<Tile, KernelError> {
    Kernel::Gessm.result_shapes(&[Shape::of(lu), Shape::of(p), Shape::of(a.as_ref())])?;
    let (m, k) = (lu.nrows(), lu.nrows().min(lu.ncols()));
    let piv = pivots(p, 1, |_, v| v < m, &format!("a row index in 0..{m}"))?;
    swap_rows(a.as_mut(), &piv);
    let (mut top, bottom) = a.as_mut().split_at_row_mut(k);
    level3::solve_unit_lower(lu.submatrix(0, 0, k, k), top.rb_mut());
    if m > k {
        level3::matmul(
            bottom,
            Accum::Add,
            lu.submatrix(k, 0, m - k, k),
            top.rb(),
            -1.0,
        );
    }
    Ok(a)
}

/// LU factorization with pairwise pivoting of an `n x n` upper triangular U
/// stacked on an `m x n` tile A, as PLASMA's `core_dtstrf`. Only U's upper
/// triangle is read.
///
/// Returns `(u2, l, lx, p)`. `p` is `n x 1`; `p[c]` names the row of the
/// stacked `[U; A]` that was interchanged with row `c` (a row of U) at step
/// `c`: `p[c] = c` means no interchange, and `p[c] = n + r` means row `r` of
/// A. (PLASMA stores the same values 1-based.) `u2` is the new `n x n` upper
/// triangular factor (exact zeros below its diagonal), `l` the `m x n`
/// multipliers, and `lx` an `n x n` block diagonal matrix: its diagonal
/// blocks, over the panels `J = j0..j0+sb` of [`inner_block`]`(n)` columns (the
/// last one ragged), are the unit lower triangular `sb x sb` factors `L1_J`
/// (ones on the diagonal), and all other entries are exact zeros. (So an
/// `lx` tile is only meaningful to a build with the same `inner_block`.)
///
/// In math: the panels are eliminated in order, and for panel J,
///
/// `T_J = [L1_J 0; L2_J I]^-1 Pi_J`,
///
/// acting on the rows `J` of the U part and all `m` rows of the A part (and
/// as the identity on the other rows of U), where `Pi_J` applies the
/// interchanges of `(c, p[c])`, `c` in J, in order, and `L2_J = l[:, J]`. Then
///
/// `T_last ... T_1 T_0 [U; A] = [u2; 0]`.
///
/// Each panel is partial pivoting on the stacked panel (LAPACK-style within
/// it: its multipliers move with the interchanges), and the pivot at step
/// `c` is the largest-magnitude candidate among row `c` of U and the rows of
/// A (U's row on ties, then the first row of A). The multipliers in `l` and `lx` are at most 1 in
/// magnitude. A zero pivot column leaves `u2[c][c] = 0` and zero multipliers
/// (see [`check_upper`]).
///
/// Errors: [`KernelError::Shape`] if U is not square or A does not have as
/// many columns as U.
pub fn tstrf(
    u: MatRef<'_, f64>,
    a: MatRef<'_, f64>,
) -> Result<(Tile, Tile, Tile, Tile), KernelError> {
    tstrf_reusing(u.to_owned(), a.to_owned())
}

/// [`tstrf`] in U's buffer, which becomes `u2`, and A's, which becomes `l`.
pub fn tstrf_reusing(u: Tile, a: Tile) -> Result<(Tile, Tile, Tile, Tile), KernelError> {
    Kernel::Tstrf.result_shapes(&[Shape::of(u.as_ref()), Shape::of(a.as_ref())])?;
    let n = u.nrows();
    let ib = inner_block(n);
    let mut scratch = Tile::zeros(ib.min(n) + a.nrows(), ib.min(n));
    let mut f = Stacked {
        u2: u,
        l: a,
        lx: Tile::zeros(n, n),
        piv: vec![0; n],
    };
    // Only U's upper triangle is read.
    zero_below_diagonal(&mut f.u2);
    for j0 in (0..n).step_by(ib) {
        let sb = ib.min(n - j0);
        f.factor_panel(j0, sb, scratch.as_mut());
        f.update_right_of_panel(j0, sb);
    }
    Ok((f.u2, f.l, f.lx, pivot_tile(&f.piv)))
}

/// [`tstrf`]'s results while it works on them.
struct Stacked {
    u2: Tile,
    l: Tile,
    lx: Tile,
    piv: Vec<usize>,
}

impl Stacked {
    /// Factors the panel of columns `j0..j0+sb`: the stacked `[U_JJ; A_J]`
    /// copied into `scratch`, by the same recursive LU as `getrf`, so that
    /// even the panel work is mostly level 3 (PLASMA does rank-1 updates).
    /// U_JJ's rows below its diagonal start zero and stay zero (their
    /// multipliers are 0), so they never win a pivot search: the pivots are
    /// exactly PLASMA's.
    fn factor_panel(&mut self, j0: usize, sb: usize, scratch: MatMut<'_, f64>) {
        let (n, m) = (self.u2.nrows(), self.l.nrows());
        let mut s = scratch.submatrix_mut(0, 0, sb + m, sb);
        let (mut top, mut bottom) = s.rb_mut().split_at_row_mut(sb);
        top.fill(0.0);
        top.copy_from_triangular_upper(self.u2.as_ref().submatrix(j0, j0, sb, sb));
        bottom.copy_from(self.l.as_ref().subcols(j0, sb));
        let piv = &mut self.piv[j0..j0 + sb];
        lu_in_place(s.rb_mut(), piv);
        for (i, v) in piv.iter_mut().enumerate() {
            debug_assert!(*v == i || *v >= sb, "a zero row of U won a pivot search");
            *v = if *v < sb { j0 + i } else { n + *v - sb };
        }
        let (top, bottom) = s.rb().split_at_row(sb);
        self.u2
            .as_mut()
            .submatrix_mut(j0, j0, sb, sb)
            .copy_from_triangular_upper(top);
        let mut l1 = self.lx.as_mut().submatrix_mut(j0, j0, sb, sb);
        l1.copy_from_strict_triangular_lower(top);
        l1.diagonal_mut().fill(1.0);
        self.l.as_mut().subcols_mut(j0, sb).copy_from(bottom);
    }

    /// Applies the panel's `T_J` to the columns right of it (PLASMA's inner
    /// `core_dssssm` call).
    fn update_right_of_panel(&mut self, j0: usize, sb: usize) {
        let n = self.u2.nrows();
        let rest = n - j0 - sb;
        if rest == 0 {
            return;
        }
        let (done, right) = self.l.as_mut().split_at_col_mut(j0 + sb);
        apply_panel(
            self.u2.as_mut().submatrix_mut(j0, j0 + sb, sb, rest),
            right,
            self.lx.as_ref().submatrix(j0, j0, sb, sb),
            done.rb().subcols(j0, sb),
            &self.piv[j0..j0 + sb],
            j0,
            n,
        );
    }
}

/// Applies [`tstrf`]'s transformation to the tiles right of its operands,
/// as PLASMA's `core_dssssm`: for A1 (`n x nc`, in U's tile row) stacked on
/// A2 (`m x nc`, in A's tile row), returns `(a1', a2')` with
///
/// `[a1'; a2'] = T_last ... T_1 T_0 [A1; A2]`,
///
/// the `T_J` as in [`tstrf`], built from `l` (`m x n`), `lx` (`n x n`) and
/// `p` (`n x 1`). Only the strictly lower parts of `lx`'s diagonal
/// [`inner_block`]`(n)` blocks are read (the same `n` as the `tstrf` that
/// made them, so the two agree on the blocks).
///
/// Errors: [`KernelError::Shape`] if the shapes do not fit each other, or a
/// pivot `p[c]` is neither `c` nor an integer in `n..n+m`.
pub fn ssssm(
    a1: MatRef<'_, f64>,
    a2: MatRef<'_, f64>,
    l: MatRef<'_, f64>,
    lx: MatRef<'_, f64>,
    p: MatRef<'_, f64>,
) -> Result<(Tile, Tile), KernelError> {
    ssssm_reusing(a1.to_owned(), a2.to_owned(), l, lx, p)
}

/// [`ssssm`] in A1's and A2's buffers.
pub fn ssssm_reusing(
    mut a1: Tile,
    mut a2: Tile,
    l: MatRef<'_, f64>,
    lx: MatRef<'_, f64>,
    p: MatRef<'_, f64>,
) -> Result<(Tile, Tile), KernelError> {
    let tiles = [a1.as_ref(), a2.as_ref(), l, lx];
    Kernel::Ssssm.result_shapes(&tiles.map(Shape::of))?;
    shapes::ssssm_pivots(Shape::of(l), Shape::of(p))?;
    let (m, n) = (l.nrows(), l.ncols());
    let piv = pivots(
        p,
        4,
        |c, v| v == c || (n..n + m).contains(&v),
        &format!("its own index or an A row in {n}..{}", n + m),
    )?;
    let ib = inner_block(n);
    for j0 in (0..n).step_by(ib) {
        let sb = ib.min(n - j0);
        apply_panel(
            a1.as_mut().subrows_mut(j0, sb),
            a2.as_mut(),
            lx.submatrix(j0, j0, sb, sb),
            l.subcols(j0, sb),
            &piv[j0..j0 + sb],
            j0,
            n,
        );
    }
    Ok((a1, a2))
}

/// Refuses an upper triangular (or trapezoidal) factor that back
/// substitution cannot use: returns [`KernelError::Singular`] with the first
/// 0-based diagonal index whose entry is exactly zero or not finite.
///
/// Apply it to the final diagonal tiles of U (after every [`tstrf`] of their
/// column), not to `getrf`'s factor of a single tile: a zero there is
/// repaired by pivots from the tiles below. Exact zeros only, as LAPACK's
/// `info > 0`: an ill-conditioned but nonsingular U passes.
pub fn check_upper(u: MatRef<'_, f64>) -> Result<(), KernelError> {
    for index in 0..u.nrows().min(u.ncols()) {
        let value = u[(index, index)];
        if value == 0.0 || !value.is_finite() {
            return Err(KernelError::Singular { index, value });
        }
    }
    Ok(())
}

/// Flops of [`getrf`] on an `m x n` tile, by LAPACK's count (LAWN 41):
/// `2n^3/3` to leading order for a square tile.
pub fn flops_getrf(m: usize, n: usize) -> f64 {
    let (m, n) = (m as f64, n as f64);
    let (k, other) = (m.min(n), m.max(n));
    let muls = 0.5 * k * (k * (other - k / 3.0 - 1.0) + other) + 2.0 * k / 3.0;
    let adds = 0.5 * k * (k * (other - k / 3.0) - other) + k / 6.0;
    muls + adds
}

/// Flops of [`gessm`] with an `m x n` factor on an `m x nc` tile
/// (`k = min(m, n)`): `k(k-1) nc` for the triangular solve plus
/// `2 (m-k) k nc` for the product; `n^2 nc` to leading order when square.
pub fn flops_gessm(m: usize, n: usize, nc: usize) -> f64 {
    let (m, k, nc) = (m as f64, m.min(n) as f64, nc as f64);
    nc * k * (2.0 * m - k - 1.0)
}

/// Useful flops of [`tstrf`] on an `n x n` U over an `m x n` A: the `m n`
/// multipliers and the rank-1 updates `2 m (n-1-c)` at each step `c`, which
/// sum to `m n^2`. Not counted: the blocking's extra work on U's rows
/// (triangular solves with each panel's `L1`), at most `n^2 ib` flops.
pub fn flops_tstrf(m: usize, n: usize) -> f64 {
    m as f64 * (n as f64).powi(2)
}

/// Useful flops of [`ssssm`] with an `m x n` L on `nc` columns: the products
/// `2 m n nc`. Not counted: the triangular solves with `lx`, about
/// `n (ib-1) nc` flops of blocking overhead. (Chained as in
/// `dgetrf_incpiv`, the useful counts of the four kernels sum to LU's
/// `2N^3/3` to leading order.)
pub fn flops_ssssm(m: usize, n: usize, nc: usize) -> f64 {
    2.0 * m as f64 * n as f64 * nc as f64
}

/// One panel step `T_J` of [`tstrf`] applied to `x1` (the rows J of the top
/// tile, `sb x nc`) and `x2` (the bottom tile, `m x nc`); `piv` holds
/// `p[j0..j0+sb]` in stacked coordinates (`n` rows of the top tile).
fn apply_panel(
    mut x1: MatMut<'_, f64>,
    mut x2: MatMut<'_, f64>,
    l1: MatRef<'_, f64>,
    l2: MatRef<'_, f64>,
    piv: &[usize],
    j0: usize,
    n: usize,
) {
    for j in 0..x1.ncols() {
        let (c1, c2) = (col(x1.rb_mut(), j), col(x2.rb_mut(), j));
        for (i, &v) in piv.iter().enumerate() {
            if v != j0 + i {
                std::mem::swap(&mut c1[i], &mut c2[v - n]);
            }
        }
    }
    level3::solve_unit_lower(l1, x1.rb_mut());
    level3::matmul(x2, Accum::Add, l2, x1.rb(), -1.0);
}

/// Recursive LU with partial pivoting in place (LAPACK's `dgetrf2`):
/// factor the left half, update the right half, factor its lower part, then
/// apply those interchanges back to the left half's multipliers.
fn lu_in_place(mut a: MatMut<'_, f64>, piv: &mut [usize]) {
    let (m, n) = a.shape();
    let k = m.min(n);
    if k <= UNBLOCKED_WIDTH {
        lu_unblocked(a, piv);
        return;
    }
    let n1 = k / 2;
    let (mut left, mut right) = a.rb_mut().split_at_col_mut(n1);
    lu_in_place(left.rb_mut(), &mut piv[..n1]);
    swap_rows(right.rb_mut(), &piv[..n1]);
    let (l11, mut l21) = left.split_at_row_mut(n1);
    let (mut a12, mut a22) = right.split_at_row_mut(n1);
    level3::solve_unit_lower(l11.rb(), a12.rb_mut());
    level3::matmul(a22.rb_mut(), Accum::Add, l21.rb(), a12.rb(), -1.0);
    lu_in_place(a22, &mut piv[n1..k]);
    swap_rows(l21.rb_mut(), &piv[n1..k]);
    for v in &mut piv[n1..k] {
        *v += n1;
    }
}

/// Right-looking LU of a narrow panel, one column at a time (`dgetf2`).
fn lu_unblocked(mut a: MatMut<'_, f64>, piv: &mut [usize]) {
    let (m, n) = a.shape();
    for j in 0..m.min(n) {
        let column = col(a.rb_mut(), j);
        // `>` skips NaN candidates, so a NaN cannot become a pivot index out
        // of thin air; it still propagates through the updates.
        let mut best = j;
        for i in j + 1..m {
            if column[i].abs() > column[best].abs() {
                best = i;
            }
        }
        piv[j] = best;
        if best != j {
            for q in 0..n {
                col(a.rb_mut(), q).swap(j, best);
            }
        }
        let column = col(a.rb_mut(), j);
        let pivot = column[j];
        // A zero pivot means the whole candidate column is zero: leave the
        // zero multipliers (dgetf2), instead of 0/0 = NaN.
        if pivot.abs() >= f64::MIN_POSITIVE {
            let r = pivot.recip();
            column[j + 1..].iter_mut().for_each(|x| *x *= r);
        } else if pivot != 0.0 {
            // Subnormal: 1/pivot would overflow.
            column[j + 1..].iter_mut().for_each(|x| *x /= pivot);
        }
        // faer's product, not a plain loop: it dispatches to the machine's
        // widest SIMD at run time, which this crate's baseline build cannot.
        let (_, u_row, l_col, trailing) = a.rb_mut().split_at_mut(j + 1, j + 1);
        matmul(
            trailing,
            Accum::Add,
            l_col.rb().col(j).as_mat(),
            u_row.rb().row(j).as_mat(),
            -1.0,
            par(),
        );
    }
}

/// Applies the interchanges `piv` (row `i` with row `piv[i]`, in order) to
/// every column of `a`.
fn swap_rows(mut a: MatMut<'_, f64>, piv: &[usize]) {
    for j in 0..a.ncols() {
        let column = col(a.rb_mut(), j);
        for (i, &v) in piv.iter().enumerate() {
            column.swap(i, v);
        }
    }
}

/// Column `j` of a working tile: the kernels only make these by slicing
/// fresh column-major `Tile`s, whose columns are contiguous.
fn col(a: MatMut<'_, f64>, j: usize) -> &mut [f64] {
    a.col_mut(j)
        .try_as_col_major_mut()
        .expect("working tiles are column-major")
        .as_slice_mut()
}

fn pivot_tile(piv: &[usize]) -> Tile {
    Tile::from_fn(piv.len(), 1, |i, _| piv[i] as f64)
}

/// Reads a pivot tile, its shape already checked by the kernel's rule in
/// `shapes.rs`, whose entries `v` at `i` satisfy `valid(i, v)`, as `usize`s.
/// A bad entry is a [`KernelError::Shape`] too: to the caller it is a
/// corrupted operand, like a pivot tile of the wrong size.
fn pivots(
    p: MatRef<'_, f64>,
    operand: usize,
    valid: impl Fn(usize, usize) -> bool,
    what: &str,
) -> Result<Vec<usize>, KernelError> {
    (0..p.nrows())
        .map(|i| {
            let x = p[(i, 0)];
            // The range check comes first so that the cast is exact.
            let v = (x >= 0.0 && x < usize::MAX as f64 && x.fract() == 0.0).then_some(x as usize);
            v.filter(|&v| valid(i, v)).ok_or_else(|| {
                KernelError::Shape(ShapeError {
                    operand,
                    related: None,
                    message: format!("pivot {i} is {x}, not {what}"),
                })
            })
        })
        .collect()
}
