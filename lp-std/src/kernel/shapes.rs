//! The shape rules of every kernel: which operand shapes fit, and the shape
//! of each result. `lpc check` applies them statically, and
//! [`Kernel::apply`] and the public functions of [`super::lu`] and
//! [`super::qr`] (which tests and benches call directly) again before
//! computing, with the same messages.

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
            Kernel::Gemm { ta, tb, sub } => gemm(args, ta, tb, sub).map(one),
            Kernel::Getrf => {
                let a = args[0];
                Ok(vec![a, Shape::new(a.rows.min(a.cols), 1)])
            }
            Kernel::Gessm => gessm(args).map(one),
            Kernel::Tstrf => tstrf(args),
            Kernel::Ssssm => ssssm(args),
            Kernel::Geqrt => {
                let a = args[0];
                let k = a.rows.min(a.cols);
                Ok(vec![
                    Shape::new(a.rows, k),
                    Shape::new(k, k),
                    Shape::new(k, a.cols),
                ])
            }
            Kernel::Ormqr { .. } => ormqr(args).map(one),
            Kernel::Tsqrt { .. } => tsqrt(args),
            Kernel::Tsmqr { .. } => tsmqr(args),
            Kernel::Triu => Ok(one(args[0])),
            Kernel::Top => {
                let (x, r) = (args[0], args[1]);
                if x.rows < r.rows {
                    return Err(err(
                        0,
                        Some(1),
                        format!(
                            "the top rows(R) rows of X need X to have as many: X is {x}, R is {r}"
                        ),
                    ));
                }
                Ok(one(Shape::new(r.rows, x.cols)))
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

/// A pivot operand `p` at `operand`: `k x 1`.
fn pivots(p: Shape, operand: usize, k: usize, of: &str) -> Result<(), ShapeError> {
    if p == Shape::new(k, 1) {
        return Ok(());
    }
    Err(err(
        operand,
        None,
        format!("the pivots of {of} are {k}x1, found {p}"),
    ))
}

/// The pivots `p` of a `TSTRF` with multipliers `l`, which
/// [`super::lu::ssssm`] takes as a fifth operand: the `SSSSM` opcode has
/// none, its pivots ride on LX's diagonal.
pub(super) fn ssssm_pivots(l: Shape, p: Shape) -> Result<(), ShapeError> {
    pivots(p, 4, l.cols, &format!("a {l} L"))
}

/// `GESSM lu, p, a`: A has as many rows as the factor.
fn gessm(args: &[Shape]) -> Result<Shape, ShapeError> {
    let (lu, a) = (args[0], args[2]);
    pivots(args[1], 1, lu.rows.min(lu.cols), &format!("a {lu} factor"))?;
    if a.rows != lu.rows {
        return Err(err(
            2,
            Some(0),
            format!("L^-1 P A needs A to have as many rows as the factor: A is {a}, LU is {lu}"),
        ));
    }
    Ok(a)
}

/// `TSTRF u, a`: U square, A with as many columns.
fn tstrf(args: &[Shape]) -> Result<Vec<Shape>, ShapeError> {
    square(args, 0, "the triangular factor U")?;
    let (u, a) = (args[0], args[1]);
    if a.cols != u.cols {
        return Err(err(
            1,
            Some(0),
            format!("[U; A] needs A to have as many columns as U: A is {a}, U is {u}"),
        ));
    }
    Ok(vec![u, a, u])
}

/// `SSSSM a1, a2, l, lx`, with L (`m x n`) from a `TSTRF`.
fn ssssm(args: &[Shape]) -> Result<Vec<Shape>, ShapeError> {
    let (a1, a2, l, lx) = (args[0], args[1], args[2], args[3]);
    let n = l.cols;
    let rules = [
        (a1.rows == n, 0, 2, "A1 to have a row per column of L"),
        (a2.rows == l.rows, 1, 2, "A2 to have as many rows as L"),
        (a2.cols == a1.cols, 1, 0, "A2 to have as many columns as A1"),
        (
            lx == Shape::new(n, n),
            3,
            2,
            "LX to be square with a row per column of L",
        ),
    ];
    for (ok, operand, related, what) in rules {
        if !ok {
            return Err(err(
                operand,
                Some(related),
                format!("SSSSM needs {what}: A1 is {a1}, A2 is {a2}, L is {l}, LX is {lx}"),
            ));
        }
    }
    Ok(vec![a1, a2])
}

/// The reflectors V (`m x k`; `tall`: k <= m, as a `GEQRT`'s) and their
/// factor T (`k x k`) of a QR kernel at operands `v` and `v + 1`.
fn reflectors(args: &[Shape], v: usize, what: &str, tall: bool) -> Result<(), ShapeError> {
    let (vs, t) = (args[v], args[v + 1]);
    if tall && vs.cols > vs.rows {
        return Err(err(
            v,
            None,
            format!("{what} needs V to have no more columns than rows, found {vs}"),
        ));
    }
    if t != Shape::new(vs.cols, vs.cols) {
        return Err(err(
            v + 1,
            Some(v),
            format!(
                "{what} needs T to be k x k for the k = {} columns of V: T is {t}",
                vs.cols
            ),
        ));
    }
    Ok(())
}

/// `ORMQR_* v, t, c`: C has V's rows.
fn ormqr(args: &[Shape]) -> Result<Shape, ShapeError> {
    reflectors(args, 0, "ORMQR", true)?;
    let (v, c) = (args[0], args[2]);
    if c.rows != v.rows {
        return Err(err(
            2,
            Some(0),
            format!("Q C needs C to have as many rows as V: C is {c}, V is {v}"),
        ));
    }
    Ok(c)
}

/// `TSQRT r, a` and `TTQRT r, a`: R square, A with as many columns.
fn tsqrt(args: &[Shape]) -> Result<Vec<Shape>, ShapeError> {
    square(args, 0, "the triangular factor R")?;
    let (r, a) = (args[0], args[1]);
    if a.cols != r.cols {
        return Err(err(
            1,
            Some(0),
            format!("[R; A] needs A to have as many columns as R: A is {a}, R is {r}"),
        ));
    }
    Ok(vec![r, a, r])
}

/// `TSMQR_* a1, a2, v, t`: the first k rows of A1 stacked on A2 (V's rows).
fn tsmqr(args: &[Shape]) -> Result<Vec<Shape>, ShapeError> {
    reflectors(args, 2, "TSMQR", false)?;
    let (a1, a2, v) = (args[0], args[1], args[2]);
    let rules = [
        (a1.rows >= v.cols, 0, 2, "A1 to have a row per column of V"),
        (a2.rows == v.rows, 1, 2, "A2 to have as many rows as V"),
        (a2.cols == a1.cols, 1, 0, "A2 to have as many columns as A1"),
    ];
    for (ok, operand, related, what) in rules {
        if !ok {
            return Err(err(
                operand,
                Some(related),
                format!("TSMQR needs {what}: A1 is {a1}, A2 is {a2}, V is {v}"),
            ));
        }
    }
    Ok(vec![a1, a2])
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
fn gemm(args: &[Shape], ta: bool, tb: bool, sub: bool) -> Result<Shape, ShapeError> {
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
            format!(
                "C {} {text} needs C to be {product}, found {c}",
                if sub { "-" } else { "+" }
            ),
        )),
        _ => Ok(product),
    }
}
