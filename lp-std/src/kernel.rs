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

/// Every kernel, for documentation, completion and exhaustive tests.
pub const ALL_KERNELS: [Kernel; 11] = [
    Kernel::Chol,
    Kernel::Invrs,
    Kernel::Trsm,
    Kernel::TrsmL,
    Kernel::Syrk,
    Kernel::Gemm { ta: false, tb: false },
    Kernel::Gemm { ta: false, tb: true },
    Kernel::Gemm { ta: true, tb: false },
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
            Kernel::Gemm { ta: false, tb: false } => "GEMM",
            Kernel::Gemm { ta: false, tb: true } => "GEMM_NT",
            Kernel::Gemm { ta: true, tb: false } => "GEMM_TN",
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
                Err(err(i, None, format!("{what} must be a square tile, found {}", args[i])))
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
                        format!("A B^T needs A and B to have the same number of columns: A is {a}, B is {b}"),
                    ));
                }
                let product = Shape::new(a.rows, b.rows);
                if c != product {
                    return Err(err(
                        0,
                        Some(1),
                        format!("C - A B^T needs C to be {product} (the shape of A B^T), found {c}"),
                    ));
                }
                Ok(c)
            }
            Kernel::Gemm { ta, tb } => {
                let (first, c) = if args.len() == 3 { (1, Some(args[0])) } else { (0, None) };
                let a = if ta { args[first].t() } else { args[first] };
                let b = if tb { args[first + 1].t() } else { args[first + 1] };
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
            Kernel::Gemm { ta: false, tb: false } => "A B",
            Kernel::Gemm { ta: false, tb: true } => "A B^T",
            Kernel::Gemm { ta: true, tb: false } => "A^T B",
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
