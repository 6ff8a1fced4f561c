//! The program IR: what `lpc` produces from a checked `.lp` file, what a
//! bundle stores, and what the runtime executes.
//!
//! A program is a tree of loops whose leaves are *job families*: a family is
//! one labelled job body, and it stands for one job per iteration of its
//! enclosing loops. A flat program is the same tree with no loops: every
//! family then has exactly one job. Names are resolved (matrices and
//! registers are indices), parameters are substituted (they are numbers by
//! now), and every index, bound and step is an [`Expr`] over the enclosing
//! loop variables. Nothing here grows with the matrix: the DAG is never
//! stored, it is solved from these expressions on demand (`plan.rs`).

use lp_std::{Init, Kernel, MatrixHeader};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A job: its family and, within the family's bounding box of loop
/// values, its iteration (see `family::Family::job_id`). Flat programs number
/// their jobs 0, 1, 2, ... in source order.
pub type JobId = u64;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Program {
    pub matrices: Vec<MatrixInfo>,
    pub loops: Vec<LoopNode>,
    pub families: Vec<Family>,
    /// The top-level loops and families, in program order.
    pub body: Vec<Item>,
    /// The source file's name, for messages that point back at it.
    pub source: String,
}

/// A loop or a family, at the top level or in a loop body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Item {
    Loop(u32),
    Family(u32),
}

/// `for var in range(start, end, step)`: `var` takes `start`, `start +
/// step`, ... while below `end`. The expressions are over the loops that
/// enclose this one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoopNode {
    pub var: String,
    pub start: Expr,
    pub end: Expr,
    pub step: Expr,
    pub body: Vec<Item>,
}

/// A labelled job body and the loops around it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Family {
    /// The label. A job is named `name[v0, v1, ...]` by the values of the
    /// enclosing loop variables; a job of a flat program is named by its
    /// label as written (which may carry literal indices).
    pub name: String,
    /// The enclosing loops, outermost first (indices into
    /// [`Program::loops`]).
    pub loops: Vec<u32>,
    pub instrs: Vec<Instr>,
    /// Registers are numbered `0..num_regs` within the job.
    pub num_regs: u32,
    /// 1-based source line of the label, and of each instruction.
    pub line: u32,
    pub lines: Vec<u32>,
    /// The stated priority (`LABEL: priority EXPR`), over the enclosing
    /// loop variables: jobs with larger values run first where a backend
    /// has a choice.
    pub priority: Option<Expr>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Instr {
    /// `dst = tile` (the transpose of the stored tile for an upper tile of a
    /// symmetric matrix: decided per job, from the indices).
    Load {
        dst: u32,
        tile: TileRef,
    },
    Write {
        tile: TileRef,
        src: u32,
    },
    /// `dsts = kernel(args)`: one register per result of the kernel.
    Apply {
        dsts: Vec<u32>,
        kernel: Kernel,
        args: Vec<u32>,
    },
}

/// A tile reference in a family: the matrix, then one expression per
/// version dimension and two for the tile index.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TileRef {
    pub matrix: u32,
    pub index: Vec<Expr>,
}

impl Instr {
    pub fn tile(&self) -> Option<&TileRef> {
        match self {
            Instr::Load { tile, .. } | Instr::Write { tile, .. } => Some(tile),
            Instr::Apply { .. } => None,
        }
    }

    /// The tile the instruction loads (`false`) or writes (`true`); `None`
    /// for a kernel.
    pub fn access(&self) -> Option<(&TileRef, bool)> {
        match self {
            Instr::Load { tile, .. } => Some((tile, false)),
            Instr::Write { tile, .. } => Some((tile, true)),
            Instr::Apply { .. } => None,
        }
    }
}

/// An integer expression over the enclosing loop variables.
///
/// In a bundle an expression travels as its nodes in prefix order
/// ([`Flat`]) and is rebuilt without recursion, refusing a tree deeper than
/// [`MAX_EXPR_DEPTH`]: decoding an untrusted bundle never recurses on its
/// nesting, and every later recursive pass over a decoded tree is shallow.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "Flat", try_from = "Flat")]
pub enum Expr {
    Const(i64),
    /// The variable of the enclosing loop at this depth (0: outermost).
    Var(u8),
    Add(Box<Expr>, Box<Expr>),
    Sub(Box<Expr>, Box<Expr>),
    Mul(Box<Expr>, Box<Expr>),
    Neg(Box<Expr>),
    /// `base ^ exponent`, a power (`2^level` strides of tree reductions).
    Pow(Box<Expr>, Box<Expr>),
    FloorDiv(Box<Expr>, Box<Expr>),
    CeilDiv(Box<Expr>, Box<Expr>),
    Min(Vec<Expr>),
    Max(Vec<Expr>),
}

/// The deepest expression a bundle may hold (the grammar's own limit, so
/// that every program `lpc` accepts encodes).
pub const MAX_EXPR_DEPTH: usize = 64;

/// One node of an expression in prefix order; operators are followed by
/// their operands.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
enum Node {
    Const(i64),
    Var(u8),
    Add,
    Sub,
    Mul,
    Neg,
    Pow,
    FloorDiv,
    CeilDiv,
    Min(u32),
    Max(u32),
}

/// An expression as a bundle stores it (see [`Expr`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Flat(Vec<Node>);

impl From<Expr> for Flat {
    fn from(e: Expr) -> Flat {
        fn push(e: &Expr, out: &mut Vec<Node>) {
            let (node, args): (Node, Vec<&Expr>) = match e {
                Expr::Const(c) => (Node::Const(*c), vec![]),
                Expr::Var(d) => (Node::Var(*d), vec![]),
                Expr::Add(a, b) => (Node::Add, vec![a, b]),
                Expr::Sub(a, b) => (Node::Sub, vec![a, b]),
                Expr::Mul(a, b) => (Node::Mul, vec![a, b]),
                Expr::Neg(a) => (Node::Neg, vec![a]),
                Expr::Pow(a, b) => (Node::Pow, vec![a, b]),
                Expr::FloorDiv(a, b) => (Node::FloorDiv, vec![a, b]),
                Expr::CeilDiv(a, b) => (Node::CeilDiv, vec![a, b]),
                Expr::Min(xs) => (Node::Min(xs.len() as u32), xs.iter().collect()),
                Expr::Max(xs) => (Node::Max(xs.len() as u32), xs.iter().collect()),
            };
            out.push(node);
            for a in args {
                push(a, out);
            }
        }
        let mut out = Vec::new();
        push(&e, &mut out);
        Flat(out)
    }
}

impl TryFrom<Flat> for Expr {
    type Error = String;

    /// Rebuilds the tree from the back of the prefix sequence with an
    /// explicit stack of (subtree, depth).
    fn try_from(flat: Flat) -> Result<Expr, String> {
        let mut stack: Vec<(Expr, usize)> = Vec::new();
        for node in flat.0.into_iter().rev() {
            let arity = match node {
                Node::Const(_) | Node::Var(_) => 0,
                Node::Neg => 1,
                Node::Min(n) | Node::Max(n) => n as usize,
                _ => 2,
            };
            if arity > stack.len() {
                return Err("malformed expression".to_string());
            }
            let args: Vec<(Expr, usize)> =
                (0..arity).map(|_| stack.pop().expect("checked")).collect();
            let depth = 1 + args.iter().map(|(_, d)| *d).max().unwrap_or(0);
            if depth > MAX_EXPR_DEPTH {
                return Err(format!("expression nested deeper than {MAX_EXPR_DEPTH}"));
            }
            let mut args = args.into_iter().map(|(e, _)| e);
            let mut next = || Box::new(args.next().expect("arity"));
            let e = match node {
                Node::Const(c) => Expr::Const(c),
                Node::Var(d) => Expr::Var(d),
                Node::Add => Expr::Add(next(), next()),
                Node::Sub => Expr::Sub(next(), next()),
                Node::Mul => Expr::Mul(next(), next()),
                Node::Neg => Expr::Neg(next()),
                Node::Pow => Expr::Pow(next(), next()),
                Node::FloorDiv => Expr::FloorDiv(next(), next()),
                Node::CeilDiv => Expr::CeilDiv(next(), next()),
                Node::Min(_) => Expr::Min(args.collect()),
                Node::Max(_) => Expr::Max(args.collect()),
            };
            stack.push((e, depth));
        }
        match (stack.pop(), stack.is_empty()) {
            (Some((e, _)), true) => Ok(e),
            _ => Err("malformed expression".to_string()),
        }
    }
}

/// Why an expression has no value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EvalError {
    Overflow,
    DivisionByZero,
    NegativeExponent,
    /// A variable deeper than the values given.
    UnboundVar(u8),
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EvalError::Overflow => write!(f, "the value overflows 64 bits"),
            EvalError::DivisionByZero => write!(f, "division by zero"),
            EvalError::NegativeExponent => write!(f, "negative exponent"),
            EvalError::UnboundVar(d) => write!(f, "loop variable {d} is not bound here"),
        }
    }
}

impl Expr {
    /// The value with loop variable `d` equal to `vars[d]`.
    pub fn eval(&self, vars: &[i64]) -> Result<i64, EvalError> {
        use EvalError::*;
        let bin = |a: &Expr, b: &Expr| -> Result<(i64, i64), EvalError> {
            Ok((a.eval(vars)?, b.eval(vars)?))
        };
        match self {
            Expr::Const(c) => Ok(*c),
            Expr::Var(d) => vars.get(*d as usize).copied().ok_or(UnboundVar(*d)),
            Expr::Add(a, b) => {
                let (a, b) = bin(a, b)?;
                a.checked_add(b).ok_or(Overflow)
            }
            Expr::Sub(a, b) => {
                let (a, b) = bin(a, b)?;
                a.checked_sub(b).ok_or(Overflow)
            }
            Expr::Mul(a, b) => {
                let (a, b) = bin(a, b)?;
                a.checked_mul(b).ok_or(Overflow)
            }
            Expr::Neg(a) => a.eval(vars)?.checked_neg().ok_or(Overflow),
            Expr::Pow(a, b) => {
                let (a, b) = bin(a, b)?;
                let e = u32::try_from(b)
                    .map_err(|_| if b < 0 { NegativeExponent } else { Overflow })?;
                a.checked_pow(e).ok_or(Overflow)
            }
            Expr::FloorDiv(a, b) | Expr::CeilDiv(a, b) => {
                let (a, b) = bin(a, b)?;
                if b == 0 {
                    return Err(DivisionByZero);
                }
                let q = a.checked_div(b).ok_or(Overflow)?;
                let inexact = a % b != 0;
                let negative = (a < 0) != (b < 0);
                Ok(match self {
                    Expr::FloorDiv(..) if inexact && negative => q - 1,
                    Expr::CeilDiv(..) if inexact && !negative => q + 1,
                    _ => q,
                })
            }
            Expr::Min(xs) | Expr::Max(xs) => {
                let mut best: Option<i64> = None;
                for x in xs {
                    let v = x.eval(vars)?;
                    best = Some(match (best, self) {
                        (None, _) => v,
                        (Some(b), Expr::Min(_)) => b.min(v),
                        (Some(b), _) => b.max(v),
                    });
                }
                best.ok_or(Overflow)
            }
        }
    }

    /// The deepest loop variable the expression uses.
    pub fn max_var(&self) -> Option<u8> {
        let mut deepest = None;
        self.visit_vars(&mut |d| deepest = Some(deepest.map_or(d, |m: u8| m.max(d))));
        deepest
    }

    /// Calls `f` with every variable occurrence.
    pub fn visit_vars(&self, f: &mut dyn FnMut(u8)) {
        match self {
            Expr::Const(_) => {}
            Expr::Var(d) => f(*d),
            Expr::Neg(a) => a.visit_vars(f),
            Expr::Add(a, b)
            | Expr::Sub(a, b)
            | Expr::Mul(a, b)
            | Expr::Pow(a, b)
            | Expr::FloorDiv(a, b)
            | Expr::CeilDiv(a, b) => {
                a.visit_vars(f);
                b.visit_vars(f);
            }
            Expr::Min(xs) | Expr::Max(xs) => xs.iter().for_each(|x| x.visit_vars(f)),
        }
    }

    /// Calls `f` with every variable that occurs in an exponent.
    pub fn visit_exponent_vars(&self, f: &mut dyn FnMut(u8)) {
        match self {
            Expr::Const(_) | Expr::Var(_) => {}
            Expr::Pow(a, b) => {
                a.visit_exponent_vars(f);
                b.visit_vars(f);
            }
            Expr::Neg(a) => a.visit_exponent_vars(f),
            Expr::Add(a, b)
            | Expr::Sub(a, b)
            | Expr::Mul(a, b)
            | Expr::FloorDiv(a, b)
            | Expr::CeilDiv(a, b) => {
                a.visit_exponent_vars(f);
                b.visit_exponent_vars(f);
            }
            Expr::Min(xs) | Expr::Max(xs) => xs.iter().for_each(|x| x.visit_exponent_vars(f)),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    Input,
    Output,
    Temp,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Input => "input",
            Role::Output => "output",
            Role::Temp => "temp",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MatrixInfo {
    pub name: String,
    pub header: MatrixHeader,
    pub role: Role,
    pub init: Option<Init>,
    /// Sizes of the leading version dimensions (`matrix S[8] : ...` has
    /// `[8]`); empty for a plain matrix.
    pub versions: Vec<u32>,
    /// For a versioned matrix: the input matrix that is its version 0
    /// (`matrix S[8] : ... temp = A`). Version 0 is then never stored: a
    /// load of `S[0, i, j]` reads `A[i, j]`.
    pub base: Option<u32>,
}

/// The most version dimensions a matrix may have (`matrix S[a, b, c, d]`),
/// in a program and in a bundle.
pub const MAX_VERSION_DIMENSIONS: usize = 4;

/// The most versions a matrix may have in all: a tile key numbers its
/// version in 32 bits.
pub const MAX_VERSIONS: u64 = u32::MAX as u64;

impl MatrixInfo {
    /// Number of versions (1 for a plain matrix), saturating: a bundle's
    /// counts are bytes from outside until validation has refused more
    /// than [`MAX_VERSIONS`].
    pub fn version_count(&self) -> u64 {
        let count = |n: u64, &v: &u32| n.saturating_mul(u64::from(v));
        self.versions.iter().fold(1, count)
    }

    /// The version components of linear version `v` (row-major over
    /// [`MatrixInfo::versions`]).
    pub fn version_of(&self, mut v: u32) -> Vec<u32> {
        let mut out = vec![0; self.versions.len()];
        for (slot, &size) in out.iter_mut().zip(&self.versions).rev() {
            *slot = v % size.max(1);
            v /= size.max(1);
        }
        out
    }

    /// The linear version of the components (which must be in range).
    pub fn linear_version(&self, components: &[i64]) -> u32 {
        let mut v: u64 = 0;
        for (&c, &size) in components.iter().zip(&self.versions) {
            v = v * size as u64 + c as u64;
        }
        v as u32
    }

    /// The name the store keeps version `v` under: the matrix's own name for
    /// a plain matrix, `S.3` (`R.2.5` with two version dimensions) for a
    /// version of a versioned one. `.` cannot appear in a language
    /// identifier, so this never collides with another matrix.
    pub fn stored_name(&self, version: u32) -> String {
        if self.versions.is_empty() {
            return self.name.clone();
        }
        let mut name = self.name.clone();
        for c in self.version_of(version) {
            name.push('.');
            name.push_str(&c.to_string());
        }
        name
    }
}

/// One stored tile: matrix, linear version (0 for a plain matrix) and tile
/// (block) coordinates. For a symmetric matrix always a lower tile, i >= j.
/// Version 0 of a versioned matrix with a base is never a key: it is the
/// base matrix's tile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TileKey {
    pub matrix: u32,
    pub version: u32,
    pub i: u32,
    pub j: u32,
}

impl Program {
    /// `S[1, 4, 3]`-style name of a tile, as written in `.lp` source.
    pub fn tile_name(&self, tile: TileKey) -> String {
        let Some(info) = self.matrices.get(tile.matrix as usize) else {
            return format!("?[{}, {}]", tile.i, tile.j);
        };
        let mut s = format!("{}[", info.name);
        for c in info.version_of(tile.version) {
            s.push_str(&format!("{c}, "));
        }
        s.push_str(&format!("{}, {}]", tile.i, tile.j));
        s
    }

    /// The variable names of a family's loops, outermost first.
    pub fn loop_vars(&self, family: &Family) -> Vec<&str> {
        family
            .loops
            .iter()
            .map(|&l| self.loops[l as usize].var.as_str())
            .collect()
    }

    /// The name of a job of `family` at loop values `point`:
    /// `syrk[1, 4, 3]`, or the label itself for a job of a flat program.
    pub fn job_name(&self, family: &Family, point: &[i64]) -> String {
        if family.loops.is_empty() {
            return family.name.clone();
        }
        let values: Vec<String> = point.iter().map(|v| v.to_string()).collect();
        format!("{}[{}]", family.name, values.join(", "))
    }

    /// The name with the loop variables spelled out, for diagnostics:
    /// `syrk[k=1, i=4, j=3]`.
    pub fn job_name_long(&self, family: &Family, point: &[i64]) -> String {
        if family.loops.is_empty() {
            return family.name.clone();
        }
        let values: Vec<String> = self
            .loop_vars(family)
            .iter()
            .zip(point)
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
        format!("{}[{}]", family.name, values.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(e: Expr) -> Box<Expr> {
        Box::new(e)
    }

    #[test]
    fn evaluation_rounds_and_checks() {
        use Expr::*;
        let e = FloorDiv(b(Const(-7)), b(Const(2)));
        assert_eq!(e.eval(&[]), Ok(-4));
        assert_eq!(CeilDiv(b(Const(7)), b(Const(2))).eval(&[]), Ok(4));
        assert_eq!(
            CeilDiv(b(Var(0)), b(Const(0))).eval(&[3]),
            Err(EvalError::DivisionByZero)
        );
        assert_eq!(
            Pow(b(Const(2)), b(Const(64))).eval(&[]),
            Err(EvalError::Overflow)
        );
        assert_eq!(Pow(b(Const(2)), b(Var(1))).eval(&[0, 10]), Ok(1024));
        assert_eq!(Max(vec![Var(0), Const(3)]).eval(&[1]), Ok(3));
    }

    #[test]
    fn expressions_travel_flat_and_deep_ones_are_refused() {
        use Expr::*;
        let e = Add(
            b(Mul(b(Const(2)), b(Var(1)))),
            b(Max(vec![Var(0), Neg(b(Const(3))), Const(4)])),
        );
        let bytes = postcard::to_stdvec(&e).unwrap();
        assert_eq!(postcard::from_bytes::<Expr>(&bytes).unwrap(), e);
        // A chain of a million negations, encoded by hand: refused, and
        // nothing on the way recurses on its depth.
        let mut nodes = vec![Node::Neg; 1_000_000];
        nodes.push(Node::Const(1));
        let bytes = postcard::to_stdvec(&Flat(nodes.clone())).unwrap();
        assert!(postcard::from_bytes::<Expr>(&bytes).is_err());
        assert_eq!(
            Expr::try_from(Flat(nodes)),
            Err("expression nested deeper than 64".to_string())
        );
        let bytes = postcard::to_stdvec(&Flat(vec![Node::Add, Node::Const(1)])).unwrap();
        assert!(postcard::from_bytes::<Expr>(&bytes).is_err());
    }

    #[test]
    fn versions_linearise_row_major() {
        let info = MatrixInfo {
            name: "R".into(),
            header: MatrixHeader::new([4, 4], [2, 2], false),
            role: Role::Temp,
            init: None,
            versions: vec![3, 5],
            base: None,
        };
        assert_eq!(info.linear_version(&[2, 4]), 14);
        assert_eq!(info.version_of(14), vec![2, 4]);
        assert_eq!(info.stored_name(14), "R.2.4");
    }
}
