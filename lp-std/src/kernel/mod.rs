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
//! Kernels run single-threaded (`Par::Seq`): parallelism comes from the
//! DAG. Every kernel validates its operand count and shapes first, so a
//! corrupted bundle gives a [`KernelError`], never a panic inside faer.
//! Triangular operands are read from their own triangle only, and triangular
//! results have an exactly zero other triangle.

pub mod dense;
pub mod lu;
pub mod qr;
mod shapes;

use crate::Tile;
use serde::{Deserialize, Serialize};

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
    /// `SYRK c, a, b`: C - A Bᵀ.
    Syrk,
    /// `GEMM[_NT|_TN|_TT] a, b`: op(A) op(B); with three operands
    /// `GEMM c, a, b`: C + op(A) op(B). `ta`/`tb` say whether A/B are transposed.
    Gemm { ta: bool, tb: bool },
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
            KernelError::NotPositiveDefinite { pivot, value } => write!(
                f,
                "matrix is not positive definite (pivot {pivot} is {value:e})"
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
pub const ALL_KERNELS: [Kernel; 17] = {
    const fn trsm(i: usize) -> Kernel {
        Kernel::Trsm {
            left: i & 4 == 0,
            lower: i & 2 == 0,
            trans: i & 1 != 0,
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
        Kernel::Gemm {
            ta: false,
            tb: false,
        },
        Kernel::Gemm {
            ta: false,
            tb: true,
        },
        Kernel::Gemm {
            ta: true,
            tb: false,
        },
        Kernel::Gemm { ta: true, tb: true },
        Kernel::Add,
        Kernel::Sub,
    ]
};

/// `TRSM_{side}{uplo}{trans}`, indexed by `[left][lower][trans]`.
const TRSM_NAMES: [[[&str; 2]; 2]; 2] = [
    [["TRSM_RUN", "TRSM_RUT"], ["TRSM_RLN", "TRSM_RLT"]],
    [["TRSM_LUN", "TRSM_LUT"], ["TRSM_LLN", "TRSM_LLT"]],
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
            Kernel::Gemm {
                ta: false,
                tb: false,
            } => "GEMM",
            Kernel::Gemm {
                ta: false,
                tb: true,
            } => "GEMM_NT",
            Kernel::Gemm {
                ta: true,
                tb: false,
            } => "GEMM_TN",
            Kernel::Gemm { ta: true, tb: true } => "GEMM_TT",
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
            Kernel::Chol | Kernel::Invrs => (1, 1),
            Kernel::Trsm { .. } | Kernel::Add | Kernel::Sub => (2, 2),
            Kernel::Syrk => (3, 3),
            Kernel::Gemm { .. } => (2, 3),
        }
    }

    /// The operand roles, for messages: `["c", "a", "b"]` and so on.
    pub fn operand_names(self, count: usize) -> &'static [&'static str] {
        match self {
            Kernel::Chol => &["a"],
            Kernel::Invrs => &["l"],
            Kernel::Trsm { .. } => &["b", "t"],
            Kernel::Syrk => &["c", "a", "b"],
            Kernel::Gemm { .. } if count == 3 => &["c", "a", "b"],
            Kernel::Gemm { .. } => &["a", "b"],
            Kernel::Add | Kernel::Sub => &["a", "b"],
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
        }
    }

    /// Floating-point operations of one application, by the usual LAPACK
    /// counts (n³/3 for a Cholesky, 2mnk for a product, ...).
    pub fn flops(self, args: &[Shape]) -> f64 {
        let f = |x: usize| x as f64;
        match self {
            Kernel::Chol | Kernel::Invrs => f(args[0].rows).powi(3) / 3.0,
            // m² n for a left solve of an m x n B, m n² for a right one.
            Kernel::Trsm { left, .. } => {
                let (m, n) = (f(args[0].rows), f(args[0].cols));
                if left { m * m * n } else { m * n * n }
            }
            Kernel::Syrk => 2.0 * f(args[1].rows) * f(args[2].rows) * f(args[1].cols),
            Kernel::Gemm { ta, tb } => {
                let first = args.len() - 2;
                let a = if ta { args[first].t() } else { args[first] };
                let n = if tb {
                    args[first + 1].rows
                } else {
                    args[first + 1].cols
                };
                2.0 * f(a.rows) * f(a.cols) * f(n)
            }
            Kernel::Add | Kernel::Sub => f(args[0].rows) * f(args[0].cols),
        }
    }

    /// Computes the kernel on `args`, in operand order (`c, a, b` for
    /// `SYRK` and three-operand `GEMM`): one tile per result.
    ///
    /// Validates the operand count and shapes first (the same rules as
    /// [`Kernel::result_shapes`]), so it never panics on bad operands.
    pub fn apply(self, args: &[&Tile]) -> Result<Vec<Tile>, KernelError> {
        let shapes: Vec<Shape> = args
            .iter()
            .map(|t| Shape::new(t.nrows(), t.ncols()))
            .collect();
        self.result_shapes(&shapes)?;
        let one = |t: Tile| vec![t];
        Ok(match self {
            Kernel::Chol => one(dense::cholesky(args[0])?),
            Kernel::Invrs => one(dense::invert_lower(args[0])?),
            Kernel::Trsm { left, lower, trans } => {
                one(dense::trsm(args[0], args[1], left, lower, trans)?)
            }
            Kernel::Syrk => one(dense::syrk(args[0], args[1], args[2])),
            Kernel::Gemm { ta, tb } => one(dense::gemm(args, ta, tb)),
            Kernel::Add => one(args[0] + args[1]),
            Kernel::Sub => one(args[0] - args[1]),
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
