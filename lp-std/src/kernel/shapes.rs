//! The shape rules of every kernel: which operand shapes fit, and the shape
//! of each result. `lpc check` applies them statically and
//! [`Kernel::apply`] again before computing, with the same messages.

use super::{Kernel, Shape, ShapeError};

fn err(operand: usize, related: Option<usize>, message: String) -> ShapeError {
    ShapeError {
        operand,
        related,
        message,
    }
}

fn square(args: &[Shape], i: usize, what: &str) -> Result<(), ShapeError> {
    if args[i].is_square() {
        Ok(())
    } else {
        Err(err(
            i,
            None,
            format!("{what} must be a square tile, found {}", args[i]),
        ))
    }
}

impl Kernel {
    /// The shape of each result (see [`Kernel::result_names`]), or why the
    /// operand shapes do not fit.
    pub fn result_shapes(self, args: &[Shape]) -> Result<Vec<Shape>, ShapeError> {
        self.check_arity(args.len())?;
        let one = |s: Shape| vec![s];
        match self {
            Kernel::Chol => {
                square(args, 0, "the matrix to factor")?;
                Ok(one(args[0]))
            }
            Kernel::Invrs => {
                square(args, 0, "the triangular factor")?;
                Ok(one(args[0]))
            }
            Kernel::Trsm { left, lower, trans } => trsm(args, left, lower, trans).map(one),
            Kernel::Syrk => syrk(args).map(one),
            Kernel::Gemm { ta, tb } => gemm(args, ta, tb).map(one),
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
                Ok(one(args[0]))
            }
        }
    }
}

/// `TRSM_* b, t`: T square, with as many rows as B has rows (left) or
/// columns (right).
fn trsm(args: &[Shape], left: bool, lower: bool, trans: bool) -> Result<Shape, ShapeError> {
    let t = if lower { "L" } else { "U" };
    square(args, 1, "the triangular factor")?;
    let op = if trans {
        format!("{t}^T")
    } else {
        t.to_string()
    };
    let (b, f) = (args[0], args[1]);
    let message = if left && b.rows != f.rows {
        format!("{op} X = B needs B to have as many rows as {t}: B is {b}, {t} is {f}")
    } else if !left && b.cols != f.rows {
        format!("X {op} = B needs B to have as many columns as {t} has rows: B is {b}, {t} is {f}")
    } else {
        return Ok(b);
    };
    Err(err(0, Some(1), message))
}

/// `SYRK c, a, b`: C - A Bᵀ.
fn syrk(args: &[Shape]) -> Result<Shape, ShapeError> {
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

/// `GEMM* a, b` or `GEMM* c, a, b`.
fn gemm(args: &[Shape], ta: bool, tb: bool) -> Result<Shape, ShapeError> {
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
    let text = match (ta, tb) {
        (false, false) => "A B",
        (false, true) => "A B^T",
        (true, false) => "A^T B",
        (true, true) => "A^T B^T",
    };
    if a.cols != b.rows {
        return Err(err(
            first + 1,
            Some(first),
            format!("{text} needs the inner dimensions to agree: op(A) is {a}, op(B) is {b}"),
        ));
    }
    let product = Shape::new(a.rows, b.cols);
    match c {
        Some(c) if c != product => Err(err(
            0,
            Some(first),
            format!("C + {text} needs C to be {product}, found {c}"),
        )),
        _ => Ok(product),
    }
}
