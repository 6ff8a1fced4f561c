//! The level-3 operations the dense kernels are built on, on faer:
//! products, the lower half of a symmetric update, triangular solves, and
//! the Cholesky factorisation built on them. The `openblas` feature
//! replaces this module by `blas.rs`, with the same functions.
//!
//! faer's x86 product reads a transposed (row-major) right-hand side in
//! place unless the product is tall, a cache line per step of the inner
//! dimension, and its triangular solve works on a transposed view the same
//! way. How much that costs depends on the host:
//!
//! * With AVX-512 on AMD (Zen 4 and Zen 5 hosts; `benches/kernels.rs`, 7
//!   interleaved rounds) the view ran as fast as a column-major copy made
//!   first, or faster, at 768, 896, 1000, 1152, 1536, 2048 and 3072 rows
//!   (the copy costing 1-6 % of a product and 3-12 % of the half product
//!   of a symmetric `SYRK`). With columns 8 KiB apart (1024 rows) the view
//!   made the product 12-16 % slower and the half product 5-9 %; 4 KiB
//!   apart (512 rows), the product 4-8 % (on a Zen 5 host 20-45 % at both),
//!   while the half product ran faster from the view. So there Bᵀ is copied
//!   at those strides only; since the transposes stream, a Zen 5 host
//!   copies it for the half product from 1024 rows ([`ZEN5_COPY_HALF_FROM`]).
//! * With AVX2 only (a Zen 3 host, cpu family 25 model 1) the view is slow
//!   at every size from 512 rows: the product from the view took 1.4x the
//!   time of copy-then-product at 512-1536 rows and 2.5x at 2048 (15 GFLOP/s
//!   against 35), the half product 1.1-1.25x and 2.0-2.4x, and the right solve
//!   (`X Lᵀ = B` as a left solve on the transposed view) 1.9x the left one
//!   at 2048 (copying Bᵀ there and back: 0.65-0.69x the view's time at
//!   2048, 0.95x at 1536, 1.04-1.12x at 1024).
//! * With AVX-512 on Intel (an Emerald Rapids host, family 6 model 207,
//!   2026-12-02, 3 interleaved rounds) the view is as slow as on AVX2: the
//!   copy-then-product took 0.53-0.62x the view's time at 512, 1024 and
//!   2048 rows (at 2048, 31.5 GFLOP/s from the view, 70 for a column-major
//!   product), the half product 0.61-0.71x, and the right solve 0.80x at
//!   2048 but 1.34x at 512 (at 1024, 0.74x and 1.06x in two runs).
//!
//! So the view is kept only where it was measured fast, AMD's AVX-512
//! hosts; everywhere else (and on other architectures, where nothing was
//! measured) a product's transposed operand is copied from 512 rows, a
//! right solve's from 1536, except on AVX-512 hosts, whose solves run on
//! the `gemm` crate and read the view (below), as do all of Intel's
//! products and AMD's from a transposed operand. On AMD the view then
//! serves only the lower half of a symmetric product, which that crate
//! lacks, and products too small for the crate.
//!
//! The copies go to a buffer each thread keeps, so that they allocate
//! nothing after a thread's first product.
//!
//! On Intel's AVX-512 hosts the products themselves run on the `gemm`
//! crate (faer's author's older product, which packs both operands) rather
//! than faer's: on an Intel host of cpu family 6 model 167 (2026-12-02,
//! `farm-bench`, 5 interleaved pairs) a threaded loop of tile products
//! (8192³ in tiles, two threads) took 0.95x faer's time on 512 tiles, 0.92x
//! on 1024 and 0.94x on 2048; one core alone, faer's matched OpenBLAS's
//! there (`docs/performance.md`, "A second Intel host"). AMD's hosts keep
//! faer's other products: on a Zen 4 host (cpu family 25 model 17,
//! 2026-12-03) a Cholesky at n = 8192 with the crate's took 0.97x the time
//! on 1024 tiles and 1.06x on 2048, GEMM 8192³ on 2048 tiles 1.01x
//! (`farm-bench`, 3-5 pairs).
//! AVX2 keeps faer's products, where nothing was measured. The crate packs
//! both operands before it multiplies, so it gets a transposed operand as
//! a view: on the model 167 host, C - A Bᵀ from the view took 0.93-0.96x
//! the time of copying Bᵀ first (medians of 20-160 interleaved pairs, on
//! 512, 1024 and 2048 tiles, one thread or two).
//!
//! On those hosts the triangular solves recurse on the `gemm` crate too
//! (`trisolve.rs`): T's halves split the solve into two half-size solves
//! and a product (`B2 - T21 X1`) on the crate, down to blocks of 64 that
//! faer solves.
//! faer's own solve ran a Cholesky's `TRSM`s (`X Lᵀ = B`) at 12-15
//! GFLOP/s inside `lpc run` on 1024 tiles from the view, 23 on a copy. On
//! the same host (2026-12-03, two threads each running the same variant,
//! medians of interleaved pairs) the recursion from the view took 0.67x
//! the time of copy-then-faer at 1024 rows (40 pairs; 34-36 GFLOP/s), 0.75x
//! at 2048 (12 pairs), and 0.89x faer's on the view at 512 (120 pairs); a
//! left solve on a column-major B, 0.94-0.97x faer's at 512-2048. Leaves
//! of 32 or 128 took 2-4 % longer than 64 at 1024. So no right solve copies
//! its operand there. (Emerald Rapids takes the same path, not measured.)
//! From 2048 rows `CHOL` recurses the same way, onto that solve and the
//! lower update ([`cholesky_in_place`]).
//!
//! AMD's AVX-512 hosts solve by the same recursion. On a Zen 4 host (cpu
//! family 25 model 17, 2026-12-03, two threads each running the same
//! variant, medians of 11-41 calls per variant) the recursion from the view
//! took 0.86-0.93x the time of faer's solve on the view at 1024 rows, and
//! the same time at 512 and 2048 (0.99-1.02x); a recursion onto faer's
//! products gained nothing (0.98x at 1024). Inside `lpc run` of a Cholesky
//! at n = 8192 on 1024 tiles the `TRSM`s ran at 42.6-43.7 GFLOP/s against
//! 38.6-39.7, the run 0.99x the time (7 `farm-bench` pairs); the left
//! solves of `trsolve` kept their rate (37.6 against 37.8).
//!
//! AMD's products from a transposed right-hand side (`C - A Bᵀ`, the
//! Cholesky's `SYRK` off the diagonal) run on the crate too: on a Zen 4
//! host (`lpc run`, the run's own time, alternated with faer's path,
//! medians of 3-5 pairs, 2026-12-04) a Cholesky at n = 16384 took 0.97x
//! the time on 1024 tiles (`SYRK` at 52.7 GFLOP/s against 50.6), 0.95x on
//! 512 and 0.99x on 2048; at n = 8192, 0.96x on 512 tiles, 0.97x on 1024
//! and 1.00x on 2048. On a Zen 5 host (cpu family 26 model 2, 2026-12-04,
//! four runs of `scripts/bench_lapack.py`, the two paths alternated) the
//! Cholesky's `SYRK`s ran at 100-105 GFLOP/s on 512 tiles against 91-96,
//! 96-108 on 1024 against 98-103 (faer's path copies Bᵀ there), and
//! 96-102 on 2048 against 79-90; its time against `dpotrf`'s went from
//! 0.96-1.12 to 0.92-1.06 at n = 8192 and from 1.00-1.22 to 0.97-1.10 at
//! 16384 (`docs/performance.md`, "A Zen 5 host again"). Their other
//! products stay on faer (above).

use super::threads::{gemm_parallelism, par};
use super::transpose::transpose_into;
use super::trisolve::{SOLVE_LEAF, Triangle, faer_solve, left_operand, recursive_solve, split};
use crate::Tile;
use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::prelude::{IntoConst, Reborrow, ReborrowMut};
use faer::{Accum, Mat, MatMut, MatRef};
use std::cell::RefCell;

/// dst + alpha A op(B) (`Accum::Add`) or alpha A op(B) in dst's place,
/// op(B) = Bᵀ when `tb`.
pub fn product(
    dst: MatMut<'_, f64>,
    accum: Accum,
    a: MatRef<'_, f64>,
    b: &Tile,
    tb: bool,
    alpha: f64,
) {
    // The `gemm` crate packs both operands, so it reads a view at no cost
    // and a copy would be wasted (see the module doc).
    let (m, n, k) = (dst.nrows(), dst.ncols(), a.ncols());
    let packs = on_gemm_crate(m, n, k, tb);
    match (tb, packs) {
        (true, false) => with_transposed(b.as_ref(), false, |bt| matmul(dst, accum, a, bt, alpha)),
        (true, true) => gemm_crate_matmul(dst, accum, a, b.as_ref().transpose(), alpha),
        (false, _) => matmul(dst, accum, a, b.as_ref(), alpha),
    }
}

/// dst + alpha A B (`Accum::Add`) or alpha A B on views (the products of
/// the tile kernels, the LU's and the QR's among them).
pub fn matmul(
    mut dst: MatMut<'_, f64>,
    accum: Accum,
    a: MatRef<'_, f64>,
    b: MatRef<'_, f64>,
    alpha: f64,
) {
    if on_gemm_crate(dst.nrows(), dst.ncols(), a.ncols(), false) {
        gemm_crate_matmul(dst, accum, a, b, alpha);
    } else {
        in_depth_blocks(a.ncols(), |start, depth, first| {
            let (a, b) = (a.subcols(start, depth), b.subrows(start, depth));
            let accum = if first { accum } else { Accum::Add };
            faer::linalg::matmul::matmul(dst.rb_mut(), accum, a, b, alpha, par());
        });
    }
}

/// The depth of the blocks of the inner dimension in which the products
/// and the lower update run. The `gemm` crate splits that dimension the
/// same way, into as few equal blocks as its depth allows (its
/// `kernel_params`, never below 512); on a model 167 host a product in
/// blocks of 512 gave the bits of one call, so there the blocks are the
/// crate's own.
const DEPTH_BLOCK: usize = 512;

/// Calls `f(start, depth, first)` on each block of an inner dimension of
/// `k`, in order: as few as blocks of at most [`DEPTH_BLOCK`] allow, equal
/// but for the last, one (empty) for `k` = 0. The products and the lower
/// update make one call per block so that each block takes the cores lent
/// at its start (`threads.rs`); the blocks cost nothing measured (one
/// process, two threads each running the same variant, medians of 20-60
/// interleaved pairs on a model 167 host: 0.99-1.01x one call's time on
/// 1024 and 2048 tiles for the `gemm` crate's product, faer's and faer's
/// lower update; on a Zen 4 host, 1.00-1.01x for faer's product at 2048,
/// from both column-major operands and from a transposed view, in two runs
/// of 9 calls, though a first run of 5 gave 1.05x from the view).
fn in_depth_blocks(k: usize, mut f: impl FnMut(usize, usize, bool)) {
    let depth = k.div_ceil(k.div_ceil(DEPTH_BLOCK).max(1)).max(1);
    for start in (0..k.max(1)).step_by(depth) {
        f(start, depth.min(k - start), start == 0);
    }
}

/// [`matmul`] on the `gemm` crate, whatever the host (the tests call it on
/// every host), one call per block of the inner dimension.
fn gemm_crate_matmul(
    mut dst: MatMut<'_, f64>,
    accum: Accum,
    a: MatRef<'_, f64>,
    b: MatRef<'_, f64>,
    alpha: f64,
) {
    let (m, n, k) = (dst.nrows(), dst.ncols(), a.ncols());
    assert!(a.nrows() == m && b.nrows() == k && b.ncols() == n);
    in_depth_blocks(k, |start, depth, first| {
        let (a, b) = (a.subcols(start, depth), b.subrows(start, depth));
        // SAFETY: the shapes agree (asserted above), each pointer and its
        // strides describe a live view of those shapes, and `dst`, a unique
        // borrow, overlaps neither operand. The crate computes
        // dst := 1 dst + alpha A B, reading dst only when told to (not in
        // the first block of a product that replaces dst).
        unsafe {
            gemm::gemm(
                m,
                n,
                depth,
                dst.rb_mut().as_ptr_mut(),
                dst.col_stride(),
                dst.row_stride(),
                !first || accum == Accum::Add,
                a.as_ptr(),
                a.col_stride(),
                a.row_stride(),
                b.as_ptr(),
                b.col_stride(),
                b.row_stride(),
                1.0,
                alpha,
                false,
                false,
                false,
                gemm_parallelism(),
            );
        }
    });
}

/// B := L⁻¹ B in B's place, for the unit lower triangle of L (the LU
/// kernels' solves).
pub fn solve_unit_lower(l: MatRef<'_, f64>, b: MatMut<'_, f64>) {
    solve_views(l, b, Triangle::UnitLower);
}

/// The lower triangle of C + alpha A Aᵀ in C's place (C's upper triangle
/// keeps whatever it held).
pub fn lower_update(mut c: MatMut<'_, f64>, a: MatRef<'_, f64>, alpha: f64) {
    let rect = BlockStructure::Rectangular;
    with_transposed(a, true, |at| {
        in_depth_blocks(a.ncols(), |start, depth, _| {
            triangular::matmul(
                c.rb_mut(),
                BlockStructure::TriangularLower,
                Accum::Add,
                a.subcols(start, depth),
                rect,
                at.subrows(start, depth),
                rect,
                alpha,
                par(),
            )
        })
    });
}

/// X with `op(T) X = B` (`left`) or `X op(T) = B` in B's place.
pub fn solve(t: &Tile, b: &mut Tile, left: bool, lower: bool, trans: bool) {
    if left {
        solve_left(t, b.as_mut(), lower, trans);
    } else if copy_for_solve(b.col_stride()) {
        // X op(T) = B is op(T)ᵀ Xᵀ = Bᵀ: a left solve on Bᵀ, here on a
        // column-major copy (see the module doc).
        with_transposed_mut(b, |xt| solve_left(t, xt, lower, !trans));
    } else {
        solve_left(t, b.as_mut().transpose_mut(), lower, !trans);
    }
}

/// op(T) X = B in B's place, reading T's lower (`lower`) or upper triangle.
fn solve_left(t: &Tile, rhs: MatMut<'_, f64>, lower: bool, trans: bool) {
    let (t, triangle) = left_operand(t.as_ref(), lower, trans);
    solve_views(t, rhs, triangle);
}

/// T X = B in B's place on views, for T's triangle `triangle`.
fn solve_views(t: MatRef<'_, f64>, b: MatMut<'_, f64>, triangle: Triangle) {
    if host().solves_recurse {
        recursive_solve(t, b, triangle, gemm_crate_subtract);
    } else {
        faer_solve(t, b, triangle);
    }
}

/// dst - A B in dst's place on the `gemm` crate (the recursive solve's
/// updates).
fn gemm_crate_subtract(dst: MatMut<'_, f64>, a: MatRef<'_, f64>, b: MatRef<'_, f64>) {
    gemm_crate_matmul(dst, Accum::Add, a, b, -1.0);
}

/// The order from which [`cholesky_in_place`] recurses where the products
/// run on the `gemm` crate. On an Intel host (cpu family 6 model 167,
/// 2026-12-03) `CHOL` took 0.73x faer's time at 2048 rows through
/// `Kernel::apply` (the kernel bench, 5 rounds); a prototype, two threads
/// each factoring its own tile (medians of 20 interleaved pairs), 0.71-0.73x
/// at 2048 (leaves of 512 or 1024 alike) but 1.02x at 1024.
const CHOL_RECURSE_FROM: usize = 2048;

/// A's lower Cholesky factor in A's lower triangle (the upper one is
/// workspace), or the index of the first pivot that is not positive, the
/// columns before it final. Where the products run on the `gemm` crate,
/// from [`CHOL_RECURSE_FROM`] rows, it recurses on A's halves (L11 from
/// A11, L21 = A21 L11⁻ᵀ, then the factor of A22 - L21 L21ᵀ), as LAPACK's
/// `dpotrf2` does: the solve and the update then run at the crate's rate,
/// where faer's own blocked factorisation runs its updates on faer's
/// product.
pub fn cholesky_in_place(a: MatMut<'_, f64>) -> Result<(), usize> {
    let from = if host().gemm_crate {
        CHOL_RECURSE_FROM
    } else {
        usize::MAX
    };
    recursive_cholesky(a, from)
}

/// [`cholesky_in_place`] recursing from `from` rows whatever the host (the
/// tests call it on every host with a small `from`).
fn recursive_cholesky(a: MatMut<'_, f64>, from: usize) -> Result<(), usize> {
    let n = a.nrows();
    // Two leaves at least, so that the split below leaves A22 rows.
    if n < from.max(2 * SOLVE_LEAF) {
        return super::llt::faer_cholesky(a);
    }
    let h = split(n);
    let (mut a11, _, mut a21, mut a22) = a.split_at_mut(h, h);
    recursive_cholesky(a11.rb_mut(), from)?;
    // X L11ᵀ = A21 is L11 Xᵀ = A21ᵀ: a left solve on A21's transposed view.
    solve_views(a11.rb(), a21.rb_mut().transpose_mut(), Triangle::Lower);
    lower_update(a22.rb_mut(), a21.rb(), -1.0);
    recursive_cholesky(a22, from).map_err(|index| h + index)
}

/// Where the view is fast: B's column strides (in elements) at which Bᵀ is
/// still copied, for a whole product (one too small for the `gemm` crate)
/// and, on Zen 4, for the lower half of a symmetric one.
const SLOW_STRIDES: [isize; 2] = [512, 1024];
const SLOW_STRIDES_HALF: [isize; 1] = [1024];

/// On Zen 5, the stride from which the lower half of a symmetric product
/// reads a copy of Bᵀ. On a Zen 5 host (cpu family 26 model 2, 2026-12-04,
/// one thread, medians of 3-5 alternated calls, copy included) the copy
/// took 0.99x the view's time at 1024 rows, 0.89-0.91x at 1536 and 2048
/// and 0.85x at 3072, but 1.12x at 768; in `lpc run` of a Cholesky at n =
/// 16384 on 2048 tiles the diagonal `SYRK`s ran at 91-103 GFLOP/s against
/// 85-92 (three alternated runs). Zen 4 keeps the strides measured there
/// before the transposes streamed (`transpose.rs`), not measured since.
const ZEN5_COPY_HALF_FROM: isize = 1024;

/// Elsewhere: the smallest stride at which a product's, and a right
/// solve's, transposed operand is copied.
const COPY_FROM: isize = 512;
const COPY_FROM_SOLVE: isize = 1536;

/// The smallest dimension from which a product goes to the `gemm` crate
/// where it is the faster. Below 512 the two are even: on a model 167 host
/// the crate took 0.99-1.00x faer's time at 96-256 cubed and with an inner
/// dimension of 128, 1.01-1.04x with 64 (`docs/performance.md`, "Small
/// products"), so smaller ones keep faer's small-matrix kernels.
const GEMM_CRATE_FROM: usize = 128;

/// Whether an m x k by k x n product, from a transposed right-hand side
/// when `transposed`, runs on the `gemm` crate.
fn on_gemm_crate(m: usize, n: usize, k: usize, transposed: bool) -> bool {
    let host = host();
    (host.gemm_crate || transposed && host.transposed_gemm_crate)
        && m.min(n).min(k) >= GEMM_CRATE_FROM
}

/// Which products run on the `gemm` crate here (`lpc --version` says so):
/// all of them, those from a transposed right-hand side, or none.
pub fn gemm_crate_products() -> Option<&'static str> {
    let host = host();
    if host.gemm_crate {
        Some("products")
    } else if host.transposed_gemm_crate {
        Some("transposed products")
    } else {
        None
    }
}

/// Which of the measured behaviours (see the module doc) this host has.
struct Host {
    /// faer reads a transposed view fast: 512-bit vectors on an AMD core.
    fast_transposed_view: bool,
    /// The `gemm` crate's products beat faer's: 512-bit vectors on an
    /// Intel core.
    gemm_crate: bool,
    /// The `gemm` crate's products from a transposed right-hand side beat
    /// faer's, from the view or a copy: 512-bit vectors on an AMD core
    /// (Zen 4 and Zen 5).
    transposed_gemm_crate: bool,
    /// From this stride the lower half of a symmetric product reads a copy
    /// of Bᵀ (Zen 5); `None`: at [`SLOW_STRIDES_HALF`] only.
    copy_half_from: Option<isize>,
    /// Triangular solves recurse onto the `gemm` crate's products, which
    /// read a right solve's transposed operand as fast as a copy: 512-bit
    /// vectors on either vendor's core. Elsewhere that operand is copied
    /// from [`COPY_FROM_SOLVE`].
    solves_recurse: bool,
}

/// This host, asked once: `cpuid` traps to the hypervisor in a virtual
/// machine.
fn host() -> &'static Host {
    static HOST: std::sync::OnceLock<Host> = std::sync::OnceLock::new();
    HOST.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            // Leaf 0's vendor string is EBX, EDX, ECX.
            let id = std::arch::x86_64::__cpuid(0);
            let vendor = (id.ebx, id.edx, id.ecx);
            let amd = vendor == (0x6874_7541, 0x6974_6e65, 0x444d_4163); // "AuthenticAMD"
            let intel = vendor == (0x756e_6547, 0x4965_6e69, 0x6c65_746e); // "GenuineIntel"
            let avx512 = std::is_x86_feature_detected!("avx512f");
            let (fast_transposed_view, gemm_crate) = (amd && avx512, intel && avx512);
            // Leaf 1's EAX: the base family (bits 8-11), plus the extended
            // family (bits 20-27) when the base is 15. Zen 5 is family 26.
            let eax = std::arch::x86_64::__cpuid(1).eax;
            let base = (eax >> 8) & 0xf;
            let family = base + if base == 0xf { (eax >> 20) & 0xff } else { 0 };
            Host {
                fast_transposed_view,
                gemm_crate,
                transposed_gemm_crate: fast_transposed_view,
                copy_half_from: (fast_transposed_view && family == 26)
                    .then_some(ZEN5_COPY_HALF_FROM),
                solves_recurse: fast_transposed_view || gemm_crate,
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            Host {
                fast_transposed_view: false,
                gemm_crate: false,
                transposed_gemm_crate: false,
                copy_half_from: None,
                solves_recurse: false,
            }
        }
    })
}

/// Whether a product reads Bᵀ (of its lower half only when `half`) from a
/// column-major copy rather than a view, for B's column stride `stride`.
fn copy_for_product(stride: isize, half: bool) -> bool {
    let host = host();
    if !host.fast_transposed_view {
        return stride >= COPY_FROM;
    }
    match (half, host.copy_half_from) {
        (true, Some(from)) => stride >= from,
        (true, None) => SLOW_STRIDES_HALF.contains(&stride),
        (false, _) => SLOW_STRIDES.contains(&stride),
    }
}

/// Whether a right solve `X op(T) = B` runs as a left solve on a
/// column-major copy of Bᵀ rather than on the transposed view.
pub fn copy_for_solve(stride: isize) -> bool {
    !host().solves_recurse && stride >= COPY_FROM_SOLVE
}

thread_local! {
    /// The column-major copy of a Bᵀ. Kernels run one at a time on a
    /// thread; the buffer keeps the size of the largest tile the thread
    /// has transposed. A `Mat`, not a `Vec`, for its columns aligned to
    /// cache lines, which the transposes stream into whole.
    static SCRATCH: RefCell<Mat<f64>> = const { RefCell::new(Mat::new()) };
}

/// Calls `f` with Bᵀ, the right-hand side of a product (of its lower half
/// only when `half`): a view of `b`, or at a slow stride a column-major
/// copy in this thread's scratch buffer.
pub fn with_transposed<R>(
    b: MatRef<'_, f64>,
    half: bool,
    f: impl FnOnce(MatRef<'_, f64>) -> R,
) -> R {
    if !copy_for_product(b.col_stride(), half) {
        return f(b.transpose());
    }
    with_scratch(b.ncols(), b.nrows(), |mut t| {
        transpose_into(b, t.rb_mut());
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
        if buffer.nrows() < rows || buffer.ncols() < cols {
            *buffer = Mat::zeros(rows.max(buffer.nrows()), cols.max(buffer.ncols()));
        }
        f(buffer.as_mut().submatrix_mut(0, 0, rows, cols))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use faer::Mat;

    /// The blocks of an inner dimension cover it in order, at most
    /// `DEPTH_BLOCK` deep and as few as that allows, equal but for the last,
    /// the first marked: one empty block for an empty dimension (a product
    /// that replaces dst still zeroes it), three for a ragged tile of 1030.
    #[test]
    fn depth_blocks_cover_the_inner_dimension() {
        let blocks = |k| {
            let mut got = vec![];
            in_depth_blocks(k, |start, depth, first| got.push((start, depth, first)));
            got
        };
        assert_eq!(blocks(0), [(0, 0, true)]);
        assert_eq!(blocks(1), [(0, 1, true)]);
        assert_eq!(blocks(512), [(0, 512, true)]);
        assert_eq!(blocks(513), [(0, 257, true), (257, 256, false)]);
        let three = [(0, 344, true), (344, 344, false), (688, 342, false)];
        assert_eq!(blocks(1030), three);
        let four = [
            (0, 512, true),
            (512, 512, false),
            (1024, 512, false),
            (1536, 512, false),
        ];
        assert_eq!(blocks(2048), four);
    }

    /// The recursive Cholesky against faer's on every host, over several
    /// levels with ragged halves (300 rows recursing from 100: 192 and
    /// 108, then 128 and 64, then 64 and 64), and a failing pivot in each
    /// block named at its index in the whole matrix.
    #[test]
    fn the_recursive_cholesky_agrees_with_faer() {
        let n = 300;
        let g = Mat::from_fn(n, n, |i, j| ((i * 31 + j * 17) % 23) as f64 - 11.0);
        let mut a = &g * g.transpose();
        for i in 0..n {
            a[(i, i)] += n as f64;
        }
        let mut want = a.clone();
        super::super::llt::faer_cholesky(want.as_mut()).unwrap();
        let mut got = a.clone();
        recursive_cholesky(got.as_mut(), 100).unwrap();
        let scale = want[(0, 0)].abs();
        for j in 0..n {
            for i in j..n {
                let d = (got[(i, j)] - want[(i, j)]).abs();
                assert!(
                    d <= 1e-12 * scale,
                    "({i}, {j}): {} against {}",
                    got[(i, j)],
                    want[(i, j)]
                );
            }
        }
        // A negative diagonal entry fails at its own pivot (the columns
        // before it do not read it).
        for bad in [10, 100, 150, 250, 299] {
            let mut b = a.clone();
            b[(bad, bad)] = -1.0;
            assert_eq!(recursive_cholesky(b.as_mut(), 100), Err(bad));
        }
    }

    /// The `gemm` crate's path against faer's product on every host (only
    /// AVX-512 hosts take it, Intel's for every product, AMD's for those
    /// from a transposed right-hand side): both accumulations,
    /// either operand transposed (row-major) and a strided submatrix as the
    /// destination, on ragged sizes.
    #[test]
    fn the_gemm_crate_path_agrees_with_faer() {
        let (m, k, n) = (130, 257, 129);
        let value =
            |seed: usize| move |i: usize, j: usize| ((i * 31 + j * 17 + seed) % 23) as f64 - 11.0;
        let a = Mat::from_fn(m, k, value(1));
        let b = Mat::from_fn(k, n, value(2));
        let (at, bt) = (a.transpose().to_owned(), b.transpose().to_owned());
        let c = Mat::from_fn(m + 3, n + 2, value(3));
        for accum in [Accum::Replace, Accum::Add] {
            for transposed in [(false, false), (true, false), (false, true)] {
                let lhs = if transposed.0 {
                    at.transpose()
                } else {
                    a.as_ref()
                };
                let rhs = if transposed.1 {
                    bt.transpose()
                } else {
                    b.as_ref()
                };
                let mut want = c.clone();
                faer::linalg::matmul::matmul(
                    want.as_mut().submatrix_mut(2, 1, m, n),
                    accum,
                    a.as_ref(),
                    b.as_ref(),
                    -0.5,
                    faer::Par::Seq,
                );
                let mut got = c.clone();
                gemm_crate_matmul(
                    got.as_mut().submatrix_mut(2, 1, m, n),
                    accum,
                    lhs,
                    rhs,
                    -0.5,
                );
                // Integer entries: every partial sum is exact in f64, so
                // the two orders of summation agree to the bit.
                assert!(got == want, "{accum:?}, transposed (A, B): {transposed:?}");
            }
        }
    }
}
