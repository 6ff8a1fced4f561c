//! The tile kernels: what each compute opcode means, which operand shapes fit,
//! how many flops it costs, and (in `apply`) the computation itself.
//!
//! Semantics live here once and serve both sides: `lpc check` calls
//! [`Kernel::result_shape`] to verify a program statically and
//! [`Kernel::flops`] for DAG statistics, and the runtime calls
//! [`Kernel::apply`] on real tiles. Memory opcodes (`S3_LOAD`, `S3_WRITE`) and
//! `RET` are not kernels; the checker handles them itself.
//!
//! Conventions (lower-triangular, as in numpywren): `CHOL` returns L with
//! A = L L^T; `TRSM b, l` solves X L^T = B with the factor itself, not its
//! inverse; `SYRK c, a, b` is the three-operand trailing update C - A B^T.
//!
//! `apply` runs faer's in-place `linalg` routines with `Par::Seq`: a tile
//! kernel is single-threaded because parallelism comes from the DAG, and the
//! in-place APIs with explicit scratch avoid the wrappers' extra copies. Every
//! kernel writes into one fresh tile (operands are shared, read-only values)
//! and validates operand count and shapes itself, so a corrupted bundle gives
//! a [`KernelError`], never a panic inside faer. Triangular operands are read
//! from their lower triangle only and triangular results have an exactly zero
//! upper triangle.

pub mod lu;
pub mod qr;

use crate::Tile;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt::factor::{self as llt, LltError, LltParams, LltRegularization};
use faer::linalg::matmul::matmul;
use faer::linalg::{triangular_inverse, triangular_solve};
use faer::{Accum, Par, Spec};
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
    /// `CHOL a`: lower Cholesky factor L of an SPD tile, A = L L^T.
    Chol,
    /// `INVRS l`: inverse of a lower-triangular tile.
    Invrs,
    /// `TRSM b, l`: X with X L^T = B (right side, L lower, transposed).
    Trsm,
    /// `TRSM_L b, l`: X with L X = B (left side, L lower): forward substitution.
    TrsmL,
    /// `SYRK c, a, b`: C - A B^T.
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
pub const ALL_KERNELS: [Kernel; 11] = [
    Kernel::Chol,
    Kernel::Invrs,
    Kernel::Trsm,
    Kernel::TrsmL,
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
];

impl Kernel {
    /// The opcode as written in `.lp` source.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Chol => "CHOL",
            Kernel::Invrs => "INVRS",
            Kernel::Trsm => "TRSM",
            Kernel::TrsmL => "TRSM_L",
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
            Kernel::Trsm | Kernel::TrsmL | Kernel::Add | Kernel::Sub => (2, 2),
            Kernel::Syrk => (3, 3),
            Kernel::Gemm { .. } => (2, 3),
        }
    }

    /// The operand roles, for messages: `["c", "a", "b"]` and so on.
    pub fn operand_names(self, count: usize) -> &'static [&'static str] {
        match self {
            Kernel::Chol => &["a"],
            Kernel::Invrs => &["l"],
            Kernel::Trsm | Kernel::TrsmL => &["b", "l"],
            Kernel::Syrk => &["c", "a", "b"],
            Kernel::Gemm { .. } if count == 3 => &["c", "a", "b"],
            Kernel::Gemm { .. } => &["a", "b"],
            Kernel::Add | Kernel::Sub => &["a", "b"],
        }
    }

    /// The shape of the result, or why the operand shapes do not fit.
    ///
    /// The caller has checked the operand count against [`Kernel::arity`].
    pub fn result_shape(self, args: &[Shape]) -> Result<Shape, ShapeError> {
        let err = |operand: usize, related: Option<usize>, message: String| ShapeError {
            operand,
            related,
            message,
        };
        let square = |i: usize, what: &str| {
            if args[i].is_square() {
                Ok(())
            } else {
                Err(err(
                    i,
                    None,
                    format!("{what} must be a square tile, found {}", args[i]),
                ))
            }
        };
        match self {
            Kernel::Chol => {
                square(0, "the matrix to factor")?;
                Ok(args[0])
            }
            Kernel::Invrs => {
                square(0, "the triangular factor")?;
                Ok(args[0])
            }
            Kernel::Trsm => {
                square(1, "the triangular factor")?;
                if args[0].cols != args[1].rows {
                    return Err(err(
                        0,
                        Some(1),
                        format!(
                            "X L^T = B needs B to have as many columns as L has rows: B is {}, L is {}",
                            args[0], args[1]
                        ),
                    ));
                }
                Ok(args[0])
            }
            Kernel::TrsmL => {
                square(1, "the triangular factor")?;
                if args[0].rows != args[1].rows {
                    return Err(err(
                        0,
                        Some(1),
                        format!(
                            "L X = B needs B to have as many rows as L: B is {}, L is {}",
                            args[0], args[1]
                        ),
                    ));
                }
                Ok(args[0])
            }
            Kernel::Syrk => {
                let (c, a, b) = (args[0], args[1], args[2]);
                if a.cols != b.cols {
                    return Err(err(
                        2,
                        Some(1),
                        format!(
                            "A B^T needs A and B to have the same number of columns: A is {a}, B is {b}"
                        ),
                    ));
                }
                let product = Shape::new(a.rows, b.rows);
                if c != product {
                    return Err(err(
                        0,
                        Some(1),
                        format!(
                            "C - A B^T needs C to be {product} (the shape of A B^T), found {c}"
                        ),
                    ));
                }
                Ok(c)
            }
            Kernel::Gemm { ta, tb } => {
                let (first, c) = if args.len() == 3 {
                    (1, Some(args[0]))
                } else {
                    (0, None)
                };
                let a = if ta { args[first].t() } else { args[first] };
                let b = if tb {
                    args[first + 1].t()
                } else {
                    args[first + 1]
                };
                if a.cols != b.rows {
                    return Err(err(
                        first + 1,
                        Some(first),
                        format!(
                            "{} needs the inner dimensions to agree: op(A) is {a}, op(B) is {b}",
                            self.product_text()
                        ),
                    ));
                }
                let product = Shape::new(a.rows, b.cols);
                match c {
                    Some(c) if c != product => Err(err(
                        0,
                        Some(first),
                        format!(
                            "C + {} needs C to be {product}, found {c}",
                            self.product_text()
                        ),
                    )),
                    _ => Ok(product),
                }
            }
            Kernel::Add | Kernel::Sub => {
                if args[0] != args[1] {
                    return Err(err(
                        1,
                        Some(0),
                        format!(
                            "element-wise {} needs equal shapes: {} and {}",
                            self.name(),
                            args[0],
                            args[1]
                        ),
                    ));
                }
                Ok(args[0])
            }
        }
    }

    fn product_text(self) -> &'static str {
        match self {
            Kernel::Gemm {
                ta: false,
                tb: false,
            } => "A B",
            Kernel::Gemm {
                ta: false,
                tb: true,
            } => "A B^T",
            Kernel::Gemm {
                ta: true,
                tb: false,
            } => "A^T B",
            _ => "A^T B^T",
        }
    }

    /// Floating-point operations of one application, by the usual LAPACK
    /// counts (n^3/3 for a Cholesky, 2mnk for a product, ...).
    pub fn flops(self, args: &[Shape]) -> f64 {
        let f = |x: usize| x as f64;
        match self {
            Kernel::Chol | Kernel::Invrs => f(args[0].rows).powi(3) / 3.0,
            Kernel::Trsm => f(args[0].rows) * f(args[0].cols).powi(2),
            Kernel::TrsmL => f(args[0].rows).powi(2) * f(args[0].cols),
            Kernel::Syrk => 2.0 * f(args[1].rows) * f(args[2].rows) * f(args[1].cols),
            Kernel::Gemm { ta, .. } => {
                let first = args.len() - 2;
                let a = if ta { args[first].t() } else { args[first] };
                let n = if let Kernel::Gemm { tb: true, .. } = self {
                    args[first + 1].rows
                } else {
                    args[first + 1].cols
                };
                2.0 * f(a.rows) * f(a.cols) * f(n)
            }
            Kernel::Add | Kernel::Sub => f(args[0].rows) * f(args[0].cols),
        }
    }
}

impl Kernel {
    /// Computes the kernel on `args`, in operand order (`c, a, b` for
    /// `SYRK` and three-operand `GEMM`).
    ///
    /// Validates the operand count and shapes first (the same rules as
    /// [`Kernel::result_shape`]), so it never panics on bad operands.
    pub fn apply(self, args: &[&Tile]) -> Result<Tile, KernelError> {
        let (min, max) = self.arity();
        if args.len() < min || args.len() > max {
            let expected = if min == max {
                format!("{min}")
            } else {
                format!("{min} or {max}")
            };
            return Err(KernelError::Shape(ShapeError {
                operand: args.len().min(max).saturating_sub(1),
                related: None,
                message: format!(
                    "{} takes {expected} operand{}, found {}",
                    self.name(),
                    if max == 1 { "" } else { "s" },
                    args.len()
                ),
            }));
        }
        let shapes: Vec<Shape> = args
            .iter()
            .map(|t| Shape::new(t.nrows(), t.ncols()))
            .collect();
        self.result_shape(&shapes)?;
        Ok(match self {
            Kernel::Chol => cholesky(args[0])?,
            Kernel::Invrs => {
                check_triangular(args[0])?;
                let mut out = Tile::zeros(args[0].nrows(), args[0].ncols());
                // faer writes only the lower triangle of the inverse, so the
                // zeroed upper triangle stays exactly zero.
                triangular_inverse::invert_lower_triangular(out.as_mut(), args[0].as_ref(), SEQ);
                out
            }
            Kernel::Trsm => {
                let (b, l) = (args[0], args[1]);
                check_triangular(l)?;
                // X L^T = B is L X^T = B^T: a left solve on the transposed
                // view. (Copying B^T to column-major and back, as the
                // products do, measured 10-25% slower here.)
                let mut out = b.clone();
                triangular_solve::solve_lower_triangular_in_place(
                    l.as_ref(),
                    out.as_mut().transpose_mut(),
                    SEQ,
                );
                out
            }
            Kernel::TrsmL => {
                let (b, l) = (args[0], args[1]);
                check_triangular(l)?;
                let mut out = b.clone();
                triangular_solve::solve_lower_triangular_in_place(l.as_ref(), out.as_mut(), SEQ);
                out
            }
            Kernel::Syrk => {
                let (c, a, b) = (args[0], args[1], args[2]);
                let bt = transposed_if_large(b);
                let bt = bt.as_ref().map_or(b.as_ref().transpose(), |t| t.as_ref());
                let mut out = c.clone();
                matmul(out.as_mut(), Accum::Add, a.as_ref(), bt, -1.0, SEQ);
                out
            }
            Kernel::Gemm { ta, tb } => {
                let first = args.len() - 2;
                let a = if ta {
                    args[first].as_ref().transpose()
                } else {
                    args[first].as_ref()
                };
                let bt;
                let b = if tb {
                    bt = transposed_if_large(args[first + 1]);
                    bt.as_ref()
                        .map_or(args[first + 1].as_ref().transpose(), |t| t.as_ref())
                } else {
                    args[first + 1].as_ref()
                };
                if args.len() == 3 {
                    let mut out = args[0].clone();
                    matmul(out.as_mut(), Accum::Add, a, b, 1.0, SEQ);
                    out
                } else {
                    let mut out = Tile::zeros(a.nrows(), b.ncols());
                    matmul(out.as_mut(), Accum::Replace, a, b, 1.0, SEQ);
                    out
                }
            }
            Kernel::Add => args[0] + args[1],
            Kernel::Sub => args[0] - args[1],
        })
    }
}

const SEQ: Par = Par::Seq;

/// `b^T` as a column-major tile when `b` is large enough for that to pay.
///
/// faer's product ran 1.2-1.45x slower with a transposed (row-major)
/// right-hand side than with a column-major one on 512 and 1024 tiles (one
/// core, `benches/kernels.rs`), while this cache-blocked copy costs O(n^2):
/// so `SYRK`, `GEMM_NT` and `GEMM_TT`, the Cholesky trailing updates, copy
/// first. On 256 tiles the copy cost more than it saved.
fn transposed_if_large(b: &Tile) -> Option<Tile> {
    const MIN_SIDE: usize = 384;
    (b.nrows() >= MIN_SIDE && b.ncols() >= MIN_SIDE).then(|| transposed(b))
}

fn transposed(b: &Tile) -> Tile {
    const BLOCK: usize = 32;
    let (rows, cols) = (b.nrows(), b.ncols());
    let mut t = Tile::zeros(cols, rows);
    let mut sources: [&[f64]; BLOCK] = [&[]; BLOCK];
    for j0 in (0..cols).step_by(BLOCK) {
        let width = BLOCK.min(cols - j0);
        for (k, source) in sources[..width].iter_mut().enumerate() {
            *source = b.col_as_slice(j0 + k);
        }
        // Row i of this 32-column strip of b is 32 contiguous values of
        // column i of t: 32 sequential read streams, one contiguous write.
        for i in 0..rows {
            let dst = &mut t.col_as_slice_mut(i)[j0..j0 + width];
            for (d, source) in dst.iter_mut().zip(&sources[..width]) {
                *d = source[i];
            }
        }
    }
    t
}

/// Lower Cholesky factor of `a`, reading only its lower triangle.
fn cholesky(a: &Tile) -> Result<Tile, KernelError> {
    let n = a.nrows();
    // Copy only the lower triangle: the input's upper one may hold anything.
    let mut l = Tile::zeros(n, n);
    for j in 0..n {
        l.col_as_slice_mut(j)[j..].copy_from_slice(&a.col_as_slice(j)[j..]);
    }
    let params: Spec<LltParams, f64> = Default::default();
    let mut scratch = MemBuffer::new(llt::cholesky_in_place_scratch::<f64>(n, SEQ, params));
    let result = llt::cholesky_in_place(
        l.as_mut(),
        LltRegularization::default(),
        SEQ,
        MemStack::new(&mut scratch),
        params,
    );
    match result {
        Ok(_) => {
            // faer uses the upper triangle as workspace; the result's must
            // be exactly zero.
            for j in 1..n {
                l.col_as_slice_mut(j)[..j].fill(0.0);
            }
            Ok(l)
        }
        Err(LltError::NonPositivePivot { index }) => {
            // faer's factorisation is left-looking: when it stops at `index`
            // the columns before it are final, so the failing Schur
            // complement entry is a_jj - sum_k l_jk^2 over those columns.
            let done: f64 = (0..index).map(|k| l[(index, k)] * l[(index, k)]).sum();
            Err(KernelError::NotPositiveDefinite {
                pivot: index,
                value: a[(index, index)] - done,
            })
        }
    }
}

/// A zero or non-finite diagonal makes the triangular solve or inverse
/// produce infinities and NaNs silently; refuse it instead.
fn check_triangular(l: &Tile) -> Result<(), KernelError> {
    for i in 0..l.nrows() {
        let value = l[(i, i)];
        if value == 0.0 || !value.is_finite() {
            return Err(KernelError::Singular { index: i, value });
        }
    }
    Ok(())
}
