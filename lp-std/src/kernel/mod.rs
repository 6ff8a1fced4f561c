//! The tile kernels: what each compute opcode means, which operand shapes fit,
//! how many flops it costs, and (in `apply`) the computation itself.
//!
//! Semantics live here once and serve both sides: `lpc check` calls
//! [`Kernel::result_shapes`] to verify a program statically and
//! [`Kernel::flops`] for DAG statistics, and the runtime calls
//! [`Kernel::apply`] on real tiles. Memory opcodes (`S3_LOAD`, `S3_WRITE`) and
//! `RET` are not kernels; the checker handles them itself.
//!
//! Conventions: `CHOL` returns the lower factor L with A = L Lᵀ (as in
//! numpywren); a triangular solve takes the factor itself, not its inverse;
//! `SYRK c, a, b` is the three-operand trailing update C - A Bᵀ. The
//! kernels of each factorization live in their own file ([`dense`] for the
//! Cholesky family and the products, [`lu`], [`qr`]); this file is the
//! table: names, operand and result counts, and the dispatch.
//!
//! Kernels run single-threaded: parallelism comes from the DAG, except
//! that a caller may lend a kernel idle cores ([`with_lent_cores`]). With
//! the `openblas` feature the products and triangular solves call the
//! system's OpenBLAS instead of faer (`blas.rs`). Every kernel validates
//! its operand count and shapes first, so a corrupted bundle gives a
//! [`KernelError`], never a panic inside faer.
//! Triangular operands are read from their own triangle only, and triangular
//! results have an exactly zero other triangle.
//!
//! Operands are shared (`Cow::Borrowed`) or handed over (`Cow::Owned`, see
//! [`Kernel::apply_reusing`]): a kernel whose result has an operand's shape
//! computes it in a handed-over operand's buffer instead of a fresh tile.
//! Two shared operands at one address are the same tile, which is how a
//! `SYRK` of a diagonal tile (A and B both `L[i, k]`) is recognised: its
//! result is symmetric, so only its lower triangle is computed.

#[cfg(feature = "openblas")]
mod blas;
pub mod dense;
#[cfg(not(feature = "openblas"))]
mod faer_level3;
mod llt;
pub mod lu;
pub mod qr;
mod shapes;
mod threads;
mod transpose;
mod trisolve;

use threads::for_kernel;
pub use threads::{threads, with_lent_cores, with_threads};
/// A symmetric tile completed from its lower triangle (what a `SYRK` of
/// one tile does to its result; the Python package's symmetric inputs too),
/// a transposition (the runtime's transposed loads), and a copy between
/// views of either layout (arrays cut into tiles).
pub use transpose::{copy_view, mirror_lower, transpose_into};

// The products and solves `dense`, `lu` and `qr` are built on: faer's, or the
// system OpenBLAS's with the `openblas` feature (the same functions in
// each).
#[cfg(feature = "openblas")]
use blas as level3;
#[cfg(not(feature = "openblas"))]
use faer_level3 as level3;

use crate::Tile;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// The library the products and triangular solves run on, with its
/// version when the build knows it: `faer`, or `OpenBLAS 0.3.21` with the
/// `openblas` feature (kernel speeds differ).
pub const KERNELS: &str = env!("LP_STD_KERNELS");

/// [`KERNELS`], and with OpenBLAS the kernels it picked for this CPU
/// (`OpenBLAS 0.3.21, SkylakeX kernels`), which set its speed as much as
/// its version: `lpc --version` prints it.
pub fn kernels() -> String {
    #[cfg(feature = "openblas")]
    {
        format!("{KERNELS}, {} kernels", blas::core_name())
    }
    #[cfg(not(feature = "openblas"))]
    {
        match gemm_crate_products() {
            Some(which) => format!("{KERNELS}, {which} on the gemm crate"),
            None => KERNELS.to_string(),
        }
    }
}

/// Which tile products this host runs on the `gemm` crate rather than
/// faer: all (an Intel CPU with AVX-512), those from a transposed right-hand
/// side (an AMD Zen 4), or none (`faer_level3.rs` says why; never with
/// `openblas`).
pub fn gemm_crate_products() -> Option<&'static str> {
    #[cfg(feature = "openblas")]
    {
        None
    }
    #[cfg(not(feature = "openblas"))]
    {
        faer_level3::gemm_crate_products()
    }
}

/// OpenBLAS's build configuration (`openblas_get_config`: whether it picks
/// its kernels at run time, `DYNAMIC_ARCH`, among others); `None` with faer.
pub fn library_config() -> Option<String> {
    #[cfg(feature = "openblas")]
    {
        Some(blas::config())
    }
    #[cfg(not(feature = "openblas"))]
    {
        None
    }
}

/// What to tell a user whose OpenBLAS runs its generic x86-64 kernels
/// (`Prescott`) on a CPU with AVX2: a library older than the CPU, at a
/// fraction of its speed (Debian's 0.3.21 on an Emerald Rapids host,
/// docs/performance.md). `None` otherwise, and always with faer.
pub fn kernels_warning() -> Option<String> {
    #[cfg(all(feature = "openblas", target_arch = "x86_64"))]
    {
        let core = blas::core_name();
        if core.eq_ignore_ascii_case("prescott") && std::is_x86_feature_detected!("avx2") {
            let suggested = match std::is_x86_feature_detected!("avx512f") {
                true => "SkylakeX",
                false => "Haswell",
            };
            return Some(format!(
                "{KERNELS} runs its generic {core} kernels on this CPU (what it picks for a CPU \
                 it does not know), at a fraction of the CPU's speed; set \
                 OPENBLAS_CORETYPE={suggested} (kernels this CPU can run) or link a newer \
                 OpenBLAS"
            ));
        }
    }
    None
}

/// The inner block size `ib` of the LU's and QR's tile kernels on a tile
/// of `n` columns (reflectors, for a QR application): the width of the
/// panels they factor, and apply, one at a time. 64 on tiles narrower than
/// 1024, `n / 4` from 1024 on.
///
/// A wider block makes each panel's update of the rest of the tile a
/// product with a longer inner dimension, in fewer passes over the tile,
/// but adds about `n ib` flops of triangular work per column updated (an
/// eighth more at `n / 4`) and widens the panels. Whole runs on a Zen 3
/// host with OpenBLAS kernels, `farm-bench` against 64 (n = 8192 `gesv`,
/// 16384 x 4096 `qr`; docs/performance.md): at tile 1024, `n / 4` took
/// 0.84-0.94x (`gesv`, three runs) and 0.89x (`qr`) the time, `n / 2`
/// 1.04x (`gesv`); at tile 2048, `n / 4` took 0.89-0.95x (`gesv`) and 0.91x
/// (`qr`), `n / 8` 0.94x (`gesv`); at
/// tile 512, 128 took 1.04-1.05x and 256 1.07x. With faer's kernels `n / 4`
/// made no difference at 1024 and 2048 (0.98-0.99x `gesv`), and one-core
/// sweeps of the kernels (`benches/lu.rs`, `benches/qr.rs`, 32 to 128) had
/// found 64 within 7 % of the best on every tile from 256 to 2048.
pub fn inner_block(n: usize) -> usize {
    if n >= 1024 { n / 4 } else { 64 }
}

/// The shape of a tile or register value: `rows x cols`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Shape {
    pub rows: usize,
    pub cols: usize,
}

impl Shape {
    pub fn new(rows: usize, cols: usize) -> Shape {
        Shape { rows, cols }
    }

    pub fn is_square(self) -> bool {
        self.rows == self.cols
    }

    pub fn t(self) -> Shape {
        Shape::new(self.cols, self.rows)
    }

    pub(crate) fn of(t: faer::MatRef<'_, f64>) -> Shape {
        Shape::new(t.nrows(), t.ncols())
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}", self.rows, self.cols)
    }
}

/// A compute opcode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Kernel {
    /// `CHOL a`: lower Cholesky factor L of an SPD tile, A = L Lᵀ.
    Chol,
    /// `INVRS l`: inverse of a lower-triangular tile.
    Invrs,
    /// `TRSM_{S}{U}{T} b, t`: the triangular solve `op(T) X = B` (side `L`,
    /// `left`) or `X op(T) = B` (side `R`), T lower (`L`) or upper (`U`)
    /// triangular, op(T) = T (`N`) or Tᵀ (`T`, `trans`).
    Trsm {
        left: bool,
        lower: bool,
        trans: bool,
    },
    /// `SYRK c, a, b`: C - A Bᵀ; when A and B are the same tile, the
    /// symmetric C - A Aᵀ from C's lower triangle, in half the flops.
    Syrk,
    /// `GEMM[_NT|_TN|_TT] a, b`: op(A) op(B); with three operands
    /// `GEMM c, a, b`: C + op(A) op(B). `ta`/`tb` say whether A/B are
    /// transposed. `sub` (`GEMM_SUB[_NT|_TN|_TT] c, a, b`, three operands
    /// only): C - op(A) op(B), a solve's update in one pass over C.
    Gemm { ta: bool, tb: bool, sub: bool },
    /// `GETRF a`: LU with partial pivoting of a tile, `P A = L U`:
    /// results `lu` (L below the diagonal, U on and above) and `p`.
    Getrf,
    /// `GESSM lu, p, a`: `L⁻¹ P A` with the factors of a `GETRF`.
    Gessm,
    /// `TSTRF u, a`: LU with pairwise pivoting of U stacked on A: results
    /// `u` (the new U), `l` (the multipliers) and `lx` (the inner panels'
    /// unit lower factors below its diagonal, the pivots on it).
    Tstrf,
    /// `SSSSM a1, a2, l, lx`: a `TSTRF`'s transformation applied to A1
    /// stacked on A2: results `a1`, `a2`.
    Ssssm,
    /// `GEQRT a`: Householder QR of a tile, `A = Q [R; 0]` with
    /// `Q = I - V T Vᵀ`: results `v`, `t`, `r`.
    Geqrt,
    /// `ORMQR_N v, t, c` / `ORMQR_T v, t, c`: `Q C` / `Qᵀ C` with the Q of
    /// a `GEQRT`.
    Ormqr { trans: bool },
    /// `TSQRT r, a`: QR of an upper triangular R stacked on A,
    /// `[R; A] = Q [R2; 0]`: results `r`, `v`, `t`. `TTQRT r, a`
    /// (`triangle`): the same with A upper triangular too, only its upper
    /// triangle read (a TSQR tree's combining step), in a third of the
    /// flops.
    Tsqrt { triangle: bool },
    /// `TSMQR_N a1, a2, v, t` / `TSMQR_T ...`: `Q` / `Qᵀ` of a `TSQRT`
    /// applied to A1 stacked on A2: results `a1`, `a2`.
    Tsmqr { trans: bool },
    /// `TRIU t`: the upper triangle of T, refusing a zero or non-finite
    /// diagonal entry (the singularity check of an LU's final U).
    Triu,
    /// `TOP x, r`: the first rows(R) rows of X (the part of Qᵀ B that a
    /// least-squares back substitution with R uses).
    Top,
    /// `ADD a, b`: A + B.
    Add,
    /// `SUB a, b`: A - B.
    Sub,
}

/// Operand shapes that do not fit an opcode.
///
/// `operand` is the index of the operand the diagnostic points at;
/// `related` the index of the operand it conflicts with, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShapeError {
    pub operand: usize,
    pub related: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for ShapeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ShapeError {}

/// Why a kernel could not produce its result.
#[derive(Clone, Debug, PartialEq)]
pub enum KernelError {
    /// Wrong operand count or operand shapes (only a corrupted bundle gets
    /// past `lpc check` with these).
    Shape(ShapeError),
    /// `CHOL` met a pivot that is not positive: `pivot` is the 0-based
    /// column, `value` the Schur complement's diagonal entry there (what
    /// would have been square-rooted; NaN if the input held NaN).
    NotPositiveDefinite { pivot: usize, value: f64 },
    /// A triangular factor (`INVRS l`, `TRSM b, l`, `TRSM_L b, l`) has a zero
    /// or non-finite diagonal entry `value` at 0-based index `index`.
    Singular { index: usize, value: f64 },
}

impl std::fmt::Display for KernelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KernelError::Shape(e) => write!(f, "operand shapes do not fit: {}", e.message),
            // A NaN or infinite pivot says nothing about definiteness or
            // singularity: a non-finite number reached it.
            KernelError::NotPositiveDefinite { pivot, value } if !value.is_finite() => write!(
                f,
                "pivot {pivot} is {value:e}: the matrix holds a NaN or an infinity, or its factorization overflowed"
            ),
            KernelError::NotPositiveDefinite { pivot, value } => write!(
                f,
                "matrix is not positive definite (pivot {pivot} is {value:e})"
            ),
            KernelError::Singular { index, value } if !value.is_finite() => write!(
                f,
                "diagonal entry {index} of the triangular factor is {value:e}: it holds a NaN or an infinity, or its factorization overflowed"
            ),
            KernelError::Singular { index, value } => write!(
                f,
                "triangular factor is singular (diagonal entry {index} is {value:e})"
            ),
        }
    }
}

impl std::error::Error for KernelError {}

impl From<ShapeError> for KernelError {
    fn from(e: ShapeError) -> KernelError {
        KernelError::Shape(e)
    }
}

/// Every kernel, for documentation, completion and exhaustive tests.
pub const ALL_KERNELS: [Kernel; 34] = {
    const fn trsm(i: usize) -> Kernel {
        Kernel::Trsm {
            left: i & 4 == 0,
            lower: i & 2 == 0,
            trans: i & 1 != 0,
        }
    }
    const fn gemm(i: usize) -> Kernel {
        Kernel::Gemm {
            ta: i & 2 != 0,
            tb: i & 1 != 0,
            sub: i & 4 != 0,
        }
    }
    [
        Kernel::Chol,
        Kernel::Invrs,
        trsm(0),
        trsm(1),
        trsm(2),
        trsm(3),
        trsm(4),
        trsm(5),
        trsm(6),
        trsm(7),
        Kernel::Syrk,
        gemm(0),
        gemm(1),
        gemm(2),
        gemm(3),
        gemm(4),
        gemm(5),
        gemm(6),
        gemm(7),
        Kernel::Getrf,
        Kernel::Gessm,
        Kernel::Tstrf,
        Kernel::Ssssm,
        Kernel::Geqrt,
        Kernel::Ormqr { trans: false },
        Kernel::Ormqr { trans: true },
        Kernel::Tsqrt { triangle: false },
        Kernel::Tsqrt { triangle: true },
        Kernel::Tsmqr { trans: false },
        Kernel::Tsmqr { trans: true },
        Kernel::Triu,
        Kernel::Top,
        Kernel::Add,
        Kernel::Sub,
    ]
};

/// The [`Kernel::timed_as`] name of a symmetric `SYRK` (`C - A Aᵀ`).
pub const SYMMETRIC_SYRK: &str = "SYRK (A Aᵀ)";

/// `TRSM_{side}{uplo}{trans}`, indexed by `[left][lower][trans]`.
const TRSM_NAMES: [[[&str; 2]; 2]; 2] = [
    [["TRSM_RUN", "TRSM_RUT"], ["TRSM_RLN", "TRSM_RLT"]],
    [["TRSM_LUN", "TRSM_LUT"], ["TRSM_LLN", "TRSM_LLT"]],
];

/// `GEMM[_SUB]{,_NT,_TN,_TT}`, indexed by `[sub][ta][tb]`.
const GEMM_NAMES: [[[&str; 2]; 2]; 2] = [
    [["GEMM", "GEMM_NT"], ["GEMM_TN", "GEMM_TT"]],
    [["GEMM_SUB", "GEMM_SUB_NT"], ["GEMM_SUB_TN", "GEMM_SUB_TT"]],
];

impl Kernel {
    /// The opcode as written in `.lp` source.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Chol => "CHOL",
            Kernel::Invrs => "INVRS",
            Kernel::Trsm { left, lower, trans } => {
                TRSM_NAMES[left as usize][lower as usize][trans as usize]
            }
            Kernel::Syrk => "SYRK",
            Kernel::Gemm { ta, tb, sub } => GEMM_NAMES[sub as usize][ta as usize][tb as usize],
            Kernel::Getrf => "GETRF",
            Kernel::Gessm => "GESSM",
            Kernel::Tstrf => "TSTRF",
            Kernel::Ssssm => "SSSSM",
            Kernel::Geqrt => "GEQRT",
            Kernel::Ormqr { trans: false } => "ORMQR_N",
            Kernel::Ormqr { trans: true } => "ORMQR_T",
            Kernel::Tsqrt { triangle: false } => "TSQRT",
            Kernel::Tsqrt { triangle: true } => "TTQRT",
            Kernel::Tsmqr { trans: false } => "TSMQR_N",
            Kernel::Tsmqr { trans: true } => "TSMQR_T",
            Kernel::Triu => "TRIU",
            Kernel::Top => "TOP",
            Kernel::Add => "ADD",
            Kernel::Sub => "SUB",
        }
    }

    pub fn from_name(name: &str) -> Option<Kernel> {
        ALL_KERNELS.into_iter().find(|k| k.name() == name)
    }

    /// The accepted operand counts, inclusive.
    pub fn arity(self) -> (usize, usize) {
        match self {
            Kernel::Chol | Kernel::Invrs | Kernel::Getrf | Kernel::Geqrt | Kernel::Triu => (1, 1),
            Kernel::Trsm { .. }
            | Kernel::Tstrf
            | Kernel::Tsqrt { .. }
            | Kernel::Top
            | Kernel::Add
            | Kernel::Sub => (2, 2),
            Kernel::Syrk
            | Kernel::Gessm
            | Kernel::Ormqr { .. }
            | Kernel::Gemm { sub: true, .. } => (3, 3),
            Kernel::Ssssm | Kernel::Tsmqr { .. } => (4, 4),
            Kernel::Gemm { sub: false, .. } => (2, 3),
        }
    }

    /// The operand a numerical failure ([`KernelError::NotPositiveDefinite`],
    /// [`KernelError::Singular`]) is about, so that an error names the tile
    /// at fault: for a triangular solve the factor it divides by, not the
    /// right-hand side it was handed first.
    pub fn factor_operand(self) -> usize {
        match self {
            Kernel::Trsm { .. } => 1,
            _ => 0,
        }
    }

    /// The results, by role: one register is defined per name, in order
    /// (`%v, %t, %r = GEQRT %a`).
    pub fn result_names(self) -> &'static [&'static str] {
        match self {
            Kernel::Chol => &["l"],
            Kernel::Invrs => &["inverse"],
            Kernel::Trsm { .. } => &["x"],
            Kernel::Syrk | Kernel::Gemm { .. } | Kernel::Add | Kernel::Sub => &["c"],
            Kernel::Getrf => &["lu", "p"],
            Kernel::Gessm => &["a"],
            Kernel::Tstrf => &["u", "l", "lx"],
            Kernel::Ssssm => &["a1", "a2"],
            Kernel::Geqrt => &["v", "t", "r"],
            Kernel::Ormqr { .. } => &["c"],
            Kernel::Tsqrt { .. } => &["r", "v", "t"],
            Kernel::Tsmqr { .. } => &["a1", "a2"],
            Kernel::Triu => &["u"],
            Kernel::Top => &["x"],
        }
    }

    /// The operands whose being the same tile makes an application's
    /// result symmetric, computed in half the flops: `SYRK`'s A and B
    /// (`L[i, k]` twice in a Cholesky's update of a diagonal tile).
    pub fn symmetric_pair(self) -> Option<(usize, usize)> {
        (self == Kernel::Syrk).then_some((1, 2))
    }

    /// Whether an application's result is symmetric: its
    /// [`Kernel::symmetric_pair`] is the same tile, as `same(x, y)` says.
    pub fn is_symmetric(self, same: impl FnOnce(usize, usize) -> bool) -> bool {
        self.symmetric_pair().is_some_and(|(x, y)| same(x, y))
    }

    /// How a run's summary (and a simulator model's rate table) names an
    /// application's time: the kernel's name, or for a symmetric `SYRK`
    /// [`SYMMETRIC_SYRK`], which runs another code path at another rate.
    pub fn timed_as(self, symmetric: bool) -> &'static str {
        if symmetric && self.symmetric_pair().is_some() {
            SYMMETRIC_SYRK
        } else {
            self.name()
        }
    }

    /// The kernel and symmetry that a [`Kernel::timed_as`] name stands for.
    pub fn from_timed_as(name: &str) -> Option<(Kernel, bool)> {
        if name == SYMMETRIC_SYRK {
            return Some((Kernel::Syrk, true));
        }
        Kernel::from_name(name).map(|k| (k, false))
    }

    /// Floating-point operations of one application, by the usual LAPACK
    /// counts (n³/3 for a Cholesky, 2mnk for a product, ...): the useful
    /// work, which is what the kernel does. `same(x, y)` says whether
    /// operands `x` and `y` are the same tile (the same register, or loads
    /// of the same tile; see [`Kernel::symmetric_pair`]).
    pub fn flops(self, args: &[Shape], same: impl FnOnce(usize, usize) -> bool) -> f64 {
        let symmetric = self.is_symmetric(same);
        self.flops_for(args, symmetric)
    }

    /// [`Kernel::flops`] of an application whose result is symmetric or
    /// not. A symmetric `SYRK` computes the lower triangle only: m²k flops
    /// (the leading term, as for CHOL), so that a tiled Cholesky's kernels
    /// add up to LAPACK's n³/3.
    pub fn flops_for(self, args: &[Shape], symmetric: bool) -> f64 {
        let f = |x: usize| x as f64;
        match self {
            Kernel::Chol | Kernel::Invrs => f(args[0].rows).powi(3) / 3.0,
            // m² n for a left solve of an m x n B, m n² for a right one.
            Kernel::Trsm { left, .. } => {
                let (m, n) = (f(args[0].rows), f(args[0].cols));
                if left { m * m * n } else { m * n * n }
            }
            Kernel::Syrk => {
                let product = f(args[1].rows) * f(args[2].rows) * f(args[1].cols);
                if symmetric { product } else { 2.0 * product }
            }
            Kernel::Gemm { ta, tb, .. } => {
                let first = args.len() - 2;
                let a = if ta { args[first].t() } else { args[first] };
                let n = if tb {
                    args[first + 1].rows
                } else {
                    args[first + 1].cols
                };
                2.0 * f(a.rows) * f(a.cols) * f(n)
            }
            Kernel::Getrf => lu::flops_getrf(args[0].rows, args[0].cols),
            Kernel::Gessm => lu::flops_gessm(args[0].rows, args[0].cols, args[2].cols),
            Kernel::Tstrf => lu::flops_tstrf(args[1].rows, args[1].cols),
            Kernel::Ssssm => lu::flops_ssssm(args[2].rows, args[2].cols, args[0].cols),
            Kernel::Geqrt => qr::flops_geqrt(args[0].rows, args[0].cols),
            Kernel::Ormqr { .. } => qr::flops_ormqr(args[0].rows, args[2].cols, args[0].cols),
            Kernel::Tsqrt { triangle: false } => qr::flops_tsqrt(args[1].rows, args[1].cols),
            Kernel::Tsqrt { triangle: true } => qr::flops_ttqrt(args[1].rows, args[1].cols),
            Kernel::Tsmqr { .. } => qr::flops_tsmqr(args[1].rows, args[1].cols, args[2].cols),
            Kernel::Add | Kernel::Sub | Kernel::Triu => f(args[0].rows) * f(args[0].cols),
            Kernel::Top => 0.0,
        }
    }

    /// Computes the kernel on shared operands, in operand order (`c, a, b`
    /// for `SYRK` and three-operand `GEMM`): one tile per result.
    ///
    /// Validates the operand count and shapes first (the same rules as
    /// [`Kernel::result_shapes`]), so it never panics on bad operands.
    pub fn apply(self, args: &[&Tile]) -> Result<Vec<Tile>, KernelError> {
        self.apply_reusing(args.iter().map(|&t| Cow::Borrowed(t)).collect())
    }

    /// [`Kernel::apply`] with operands the caller may hand over: the result
    /// is computed in the buffer of a handed-over (`Cow::Owned`) operand
    /// of its shape, and in a copy of a shared one. The operand that takes
    /// the result: `CHOL`'s A, a triangular solve's B, `SYRK`'s, `GEMM_SUB`'s
    /// and three-operand `GEMM`'s C, `ADD`'s and `SUB`'s A (or B when only B
    /// is handed over), `TRIU`'s T; of the LU and QR kernels, each tile
    /// that a result replaces (`GETRF`'s A, `GESSM`'s A, `TSTRF`'s U and A,
    /// `SSSSM`'s and `TSMQR`'s A1 and A2, `GEQRT`'s A, `ORMQR`'s C,
    /// `TSQRT`'s and `TTQRT`'s R and A). `INVRS` and `TOP` write fresh tiles.
    pub fn apply_reusing(self, args: Vec<Cow<'_, Tile>>) -> Result<Vec<Tile>, KernelError> {
        let shapes: Vec<Shape> = args
            .iter()
            .map(|t| Shape::new(t.nrows(), t.ncols()))
            .collect();
        self.result_shapes(&shapes)?;
        let largest = shapes.iter().map(|s| s.rows.max(s.cols)).max();
        for_kernel(largest.unwrap_or(0), || self.apply_dense(args))
    }

    /// The Cholesky family, the products and the element-wise kernels, in a
    /// handed-over operand's buffer where the result has its shape (the
    /// others through [`Kernel::apply_factorisation`]); shapes already
    /// validated.
    fn apply_dense(self, args: Vec<Cow<'_, Tile>>) -> Result<Vec<Tile>, KernelError> {
        let one = |t: Tile| Ok(vec![t]);
        match self {
            Kernel::Chol => {
                let [a] = operands(args);
                one(dense::cholesky(a)?)
            }
            Kernel::Trsm { left, lower, trans } => {
                let [b, t] = operands(args);
                one(dense::trsm(b, &t, left, lower, trans)?)
            }
            Kernel::Syrk => {
                // Two shared operands at one address are one tile.
                let same = |x: usize, y: usize| match (&args[x], &args[y]) {
                    (Cow::Borrowed(p), Cow::Borrowed(q)) => std::ptr::eq(*p, *q),
                    _ => false,
                };
                let symmetric = self.is_symmetric(same);
                let [c, a, b] = operands(args);
                one(dense::syrk(c, &a, &b, symmetric))
            }
            Kernel::Gemm { ta, tb, sub } if args.len() == 3 => {
                let [c, a, b] = operands(args);
                let alpha = if sub { -1.0 } else { 1.0 };
                one(dense::gemm(Some(c), &a, &b, ta, tb, alpha))
            }
            Kernel::Gemm { ta, tb, .. } => {
                let [a, b] = operands(args);
                one(dense::gemm(None, &a, &b, ta, tb, 1.0))
            }
            Kernel::Triu => {
                let [t] = operands(args);
                lu::check_upper((*t).as_ref())?;
                let mut u = t.into_owned();
                transpose::zero_below_diagonal(&mut u);
                one(u)
            }
            Kernel::Add | Kernel::Sub => {
                let [a, b] = operands(args);
                one(add_or_sub(a, b, self == Kernel::Sub))
            }
            _ => self.apply_factorisation(args),
        }
    }

    /// The LU and QR kernels, in the buffers of the tiles they transform
    /// when those were handed over, and `INVRS` and `TOP`, which write fresh
    /// tiles; shapes already validated.
    fn apply_factorisation(self, args: Vec<Cow<'_, Tile>>) -> Result<Vec<Tile>, KernelError> {
        let one = |t: Tile| vec![t];
        let pair = |(x, y): (Tile, Tile)| vec![x, y];
        let triple = |(x, y, z): (Tile, Tile, Tile)| vec![x, y, z];
        Ok(match self {
            Kernel::Invrs => one(dense::invert_lower(&args[0])?),
            Kernel::Top => one(args[0].subrows(0, args[1].nrows()).to_owned()),
            Kernel::Getrf => {
                let [a] = operands(args);
                pair(lu::getrf_reusing(a.into_owned())?)
            }
            Kernel::Gessm => {
                let [lu, p, a] = operands(args);
                one(lu::gessm_reusing(
                    (*lu).as_ref(),
                    (*p).as_ref(),
                    a.into_owned(),
                )?)
            }
            Kernel::Tstrf => {
                let [u, a] = operands(args);
                let (u, l, mut lx, p) = lu::tstrf_reusing(u.into_owned(), a.into_owned())?;
                // The unit diagonal of lx's blocks is implied: the pivots
                // take its place, so one tile carries both.
                for c in 0..lx.nrows() {
                    lx[(c, c)] = p[(c, 0)];
                }
                vec![u, l, lx]
            }
            Kernel::Ssssm => {
                let [a1, a2, l, lx] = operands(args);
                let p = Tile::from_fn(lx.nrows(), 1, |c, _| lx[(c, c)]);
                // ssssm reads only the strictly lower part of lx's blocks.
                let (a1, a2) = (a1.into_owned(), a2.into_owned());
                pair(lu::ssssm_reusing(
                    a1,
                    a2,
                    (*l).as_ref(),
                    (*lx).as_ref(),
                    p.as_ref(),
                )?)
            }
            Kernel::Geqrt => {
                let [a] = operands(args);
                triple(qr::geqrt_reusing(a.into_owned())?)
            }
            Kernel::Ormqr { trans } => {
                let [v, t, c] = operands(args);
                one(qr::ormqr_reusing(
                    (*v).as_ref(),
                    (*t).as_ref(),
                    c.into_owned(),
                    trans,
                )?)
            }
            Kernel::Tsqrt { triangle } => {
                let [r, a] = operands(args);
                triple(qr::stacked_qr(r.into_owned(), a.into_owned(), triangle)?)
            }
            Kernel::Tsmqr { trans } => {
                let [a1, a2, v, t] = operands(args);
                let (a1, a2) = (a1.into_owned(), a2.into_owned());
                pair(qr::tsmqr_reusing(
                    a1,
                    a2,
                    (*v).as_ref(),
                    (*t).as_ref(),
                    trans,
                )?)
            }
            Kernel::Chol
            | Kernel::Trsm { .. }
            | Kernel::Syrk
            | Kernel::Gemm { .. }
            | Kernel::Triu
            | Kernel::Add
            | Kernel::Sub => unreachable!("{} is a dense kernel", self.name()),
        })
    }

    /// An operand count outside [`Kernel::arity`] as a shape error.
    fn check_arity(self, count: usize) -> Result<(), ShapeError> {
        let (min, max) = self.arity();
        if (min..=max).contains(&count) {
            return Ok(());
        }
        let expected = if min == max {
            format!("{min}")
        } else {
            format!("{min} or {max}")
        };
        Err(ShapeError {
            operand: count.min(max).saturating_sub(1),
            related: None,
            message: format!(
                "{} takes {expected} operand{}, found {count}",
                self.name(),
                if max == 1 { "" } else { "s" },
            ),
        })
    }
}

/// The operands of a kernel whose arity [`Kernel::result_shapes`] has
/// checked, as an array.
fn operands<const N: usize>(args: Vec<Cow<'_, Tile>>) -> [Cow<'_, Tile>; N] {
    match args.try_into() {
        Ok(array) => array,
        Err(args) => unreachable!("{} operands where {N} were validated", args.len()),
    }
}

/// A + B, or A - B when `sub`, in a handed-over operand's buffer: A's, or
/// B's when only B was handed over (a solve's `SUB R, %u`: R is shared
/// with the store, the product %u is the job's own), so that neither is
/// copied.
fn add_or_sub(a: Cow<'_, Tile>, b: Cow<'_, Tile>, sub: bool) -> Tile {
    match (a, b) {
        (Cow::Borrowed(a), Cow::Owned(mut b)) => {
            for j in 0..b.ncols() {
                let (x, y) = (b.col_as_slice_mut(j), a.col_as_slice(j));
                if sub {
                    x.iter_mut().zip(y).for_each(|(x, y)| *x = y - *x);
                } else {
                    x.iter_mut().zip(y).for_each(|(x, y)| *x += y);
                }
            }
            b
        }
        (a, b) => {
            let mut a = a.into_owned();
            if sub {
                a -= &*b;
            } else {
                a += &*b;
            }
            a
        }
    }
}
