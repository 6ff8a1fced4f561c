//! The abstract syntax tree of a lambdapack program.
//!
//! The tree borrows every name from the source text (`&'src str`), so a
//! generated program with millions of instructions costs no allocation per
//! identifier; memory stays linear in the source size. Every node carries the
//! byte [`Span`] it was parsed from, so that any later phase can point a
//! diagnostic at it.
//!
//! The tree is deliberately *syntactic*: opcodes are plain identifiers,
//! operands are registers or tile references whatever the opcode, and
//! expressions are trees of names and integers whatever the names mean
//! (program parameters or loop variables). What an opcode means, which names
//! are in scope and which expressions are affine is decided by the checker in
//! `lpc`, which keeps this crate free of execution knowledge and lets new
//! kernels arrive without touching the grammar.
//!
//! A program is flat (a list of jobs) or a loop program (jobs inside `for`
//! nests); the flat form is the loop form with no loops, so both share one
//! tree: [`Program::items`] holds jobs and loops in source order.

/// A half-open byte range `start..end` into the source text.
///
/// `u32` offsets keep nodes small; a source file is limited to 4 GiB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span {
            start: start as u32,
            end: end as u32,
        }
    }

    /// The smallest span covering both `self` and `other`.
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// A whole `.lp` file: parameters, matrix declarations, and jobs and loops.
///
/// Declarations and jobs may be interleaved; a parameter or matrix is
/// visible in the whole file wherever it is declared.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Program<'src> {
    pub params: Vec<Param<'src>>,
    pub matrices: Vec<MatrixDecl<'src>>,
    /// Top-level jobs and loops, in source order.
    pub items: Vec<Item<'src>>,
    /// The names that lines with a syntax error would have declared
    /// (parameters, matrices, loop variables): their uses are not errors
    /// of their own, the syntax error is.
    pub unparsed_names: Vec<&'src str>,
}

impl<'src> Program<'src> {
    /// Every job of the program, loop bodies included, in source order.
    pub fn jobs(&self) -> Jobs<'_, 'src> {
        Jobs {
            stack: vec![self.items.iter()],
        }
    }

    /// Whether the program has any `for` loop.
    pub fn has_loops(&self) -> bool {
        self.items.iter().any(|i| matches!(i, Item::Loop(_)))
    }
}

/// Iterator over the jobs of a program in source order (see
/// [`Program::jobs`]).
pub struct Jobs<'a, 'src> {
    stack: Vec<std::slice::Iter<'a, Item<'src>>>,
}

impl<'a, 'src> Iterator for Jobs<'a, 'src> {
    type Item = &'a Job<'src>;

    fn next(&mut self) -> Option<&'a Job<'src>> {
        loop {
            let top = self.stack.last_mut()?;
            match top.next() {
                Some(Item::Job(job)) => return Some(job),
                Some(Item::Loop(l)) => self.stack.push(l.body.iter()),
                None => {
                    self.stack.pop();
                }
            }
        }
    }
}

/// A job or a loop, at the top level or inside a loop body.
#[derive(Clone, Debug, PartialEq)]
pub enum Item<'src> {
    Job(Job<'src>),
    Loop(Loop<'src>),
}

/// A name: a parameter, a loop variable, a matrix, a job label, an opcode, a
/// dtype, a function or an initialiser.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ident<'src> {
    pub name: &'src str,
    pub span: Span,
}

/// An unsigned integer literal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Int {
    pub value: u64,
    pub span: Span,
}

/// An integer expression: a dimension, a tile index, a loop bound, a seed.
///
/// Names are parameters or loop variables; which, and whether the
/// expression is allowed where it stands (affine in the loop variables, a
/// constant), is the checker's business. `/` exists only so that the checker
/// can say how to write a division: `floor(a / b)` or `ceil(a / b)`.
///
/// Parentheses have no node: `(a + b)` is the `a + b` node, spanning
/// `a + b`, while a node around it spans them (`(a + b) * c`).
///
/// Every expression in a parsed [`Program`] is at most [`MAX_EXPR_DEPTH`]
/// levels deep (a deeper one is a syntax error and is replaced by `0`), so
/// recursive passes over expressions, and the derived `Drop`, `Clone`,
/// `PartialEq` and `Debug`, cannot overflow the stack however the source
/// nests.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr<'src> {
    Int(Int),
    Name(Ident<'src>),
    /// `-e`; `span` covers the minus sign and the operand.
    Neg(Box<Expr<'src>>, Span),
    Binary(Box<Binary<'src>>),
    /// `name(arg, ...)`: `ceil`, `floor`, `min`, `max`, `log2`.
    Call(Box<Call<'src>>),
}

/// The deepest expression the parser accepts: a leaf (integer or name) is
/// one level, and each operator, unary minus or call adds one above its
/// deepest operand; parentheses add none. `-(-x)` is 3 levels, `a + b * c`
/// is 3. A deeper expression is [`crate::SyntaxError::ExpressionTooDeep`].
pub const MAX_EXPR_DEPTH: usize = 64;

/// The deepest loop nest the parser builds: a `for` inside this many open
/// loops is [`crate::SyntaxError::LoopsTooDeep`] and its body joins the
/// enclosing one, so recursive passes over the tree stay shallow whatever
/// the source nests. (The dependency solver accepts fewer; `lpc` says so.)
pub const MAX_LOOP_DEPTH: usize = 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    /// `a ^ b`, a power.
    Pow,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Pow => "^",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Binary<'src> {
    pub op: BinOp,
    pub lhs: Expr<'src>,
    pub rhs: Expr<'src>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Call<'src> {
    pub name: Ident<'src>,
    pub args: Vec<Expr<'src>>,
    pub span: Span,
}

impl<'src> Expr<'src> {
    pub fn span(&self) -> Span {
        match self {
            Expr::Int(i) => i.span,
            Expr::Name(n) => n.span,
            Expr::Neg(_, span) => *span,
            Expr::Binary(b) => b.span,
            Expr::Call(c) => c.span,
        }
    }

    /// The names the expression uses, each once, in order of appearance
    /// (not the names of the functions it calls).
    pub fn names(&self) -> Vec<&'src str> {
        fn walk<'src>(e: &Expr<'src>, out: &mut Vec<&'src str>) {
            match e {
                Expr::Int(_) => {}
                Expr::Name(n) => {
                    if !out.contains(&n.name) {
                        out.push(n.name);
                    }
                }
                Expr::Neg(inner, _) => walk(inner, out),
                Expr::Binary(b) => {
                    walk(&b.lhs, out);
                    walk(&b.rhs, out);
                }
                Expr::Call(c) => c.args.iter().for_each(|a| walk(a, out)),
            }
        }
        let mut out = Vec::new();
        walk(self, &mut out);
        out
    }
}

/// `param NAME [= DEFAULT]`: a program parameter, set with `--set NAME=VALUE`
/// or taking its default. A line may declare several, separated by commas;
/// each is its own `Param`.
#[derive(Clone, Debug, PartialEq)]
pub struct Param<'src> {
    pub name: Ident<'src>,
    pub default: Option<Expr<'src>>,
    pub span: Span,
}

/// `matrix NAME[VERSIONS] : [sym|lower|upper] DTYPE[ROWS, COLS] tile [TROWS, TCOLS] ROLE [= INIT]`
#[derive(Clone, Debug, PartialEq)]
pub struct MatrixDecl<'src> {
    pub name: Ident<'src>,
    /// Extra leading index dimensions of a versioned matrix (`S[NT]`: the
    /// tiles are `S[k, i, j]`); empty for a plain matrix.
    pub versions: Vec<Expr<'src>>,
    /// `sym`, `lower` or `upper`, if written.
    pub structure: Option<Structure>,
    pub dtype: Ident<'src>,
    pub shape: [Expr<'src>; 2],
    pub tile: [Expr<'src>; 2],
    pub role: Role,
    /// `= spd(42)` on an input (a lazy initialiser), or `= A` on a versioned
    /// matrix (its version 0 is the input `A`).
    pub init: Option<Init<'src>>,
    pub span: Span,
}

/// A matrix's structure qualifier and its span.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Structure {
    pub kind: StructureKind,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StructureKind {
    /// Symmetric: only the lower tiles are stored.
    Sym,
    /// Lower triangular: zero above the diagonal.
    Lower,
    /// Upper triangular: zero below the diagonal.
    Upper,
}

impl MatrixDecl<'_> {
    /// The span of `sym` when the matrix is declared symmetric.
    pub fn symmetric(&self) -> Option<Span> {
        self.structure
            .filter(|s| s.kind == StructureKind::Sym)
            .map(|s| s.span)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RoleKind {
    Input,
    Output,
    Temp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Role {
    pub kind: RoleKind,
    pub span: Span,
}

/// `NAME` or `NAME(ARG, ...)` after `=` in a declaration: an initialiser
/// (`zeros`, `identity`, `random(seed)`, `spd(seed)`) or, on a versioned
/// matrix, the input matrix that is its version 0.
#[derive(Clone, Debug, PartialEq)]
pub struct Init<'src> {
    pub name: Ident<'src>,
    pub args: Vec<Expr<'src>>,
    /// Whether the arguments were written in parentheses (`spd()` has, `A`
    /// has not).
    pub call: bool,
    pub span: Span,
}

/// `for VAR in range(START, END[, STEP]) { ... }`, or `range(END)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Loop<'src> {
    pub var: Ident<'src>,
    pub start: Option<Expr<'src>>,
    pub end: Expr<'src>,
    pub step: Option<Expr<'src>>,
    /// Jobs and loops of the body, in source order.
    pub body: Vec<Item<'src>>,
    /// The header, `for` to `{`.
    pub span: Span,
    /// The closing `}` (empty at the end of the file when it is missing).
    pub close: Span,
}

/// `LABEL:` followed by straight-line instructions up to the next label,
/// declaration, loop or closing brace, or the end of the file.
///
/// A job of a flat program may carry integer indices, `syrk[1, 4, 3]:` (the
/// form `lpc expand` prints); inside a loop a label is a plain name and the
/// job is named by the values of its loop variables.
#[derive(Clone, Debug, PartialEq)]
pub struct Job<'src> {
    pub label: Ident<'src>,
    /// The indices written after the label, if any.
    pub index: Vec<Expr<'src>>,
    /// `priority EXPR` after the colon: how urgent the job is, over the
    /// parameters and loop variables (larger runs first).
    pub priority: Option<Expr<'src>>,
    pub body: Vec<Instr<'src>>,
    pub span: Span,
}

/// `[%DEST, ... =] OPCODE [OPERAND, ...]`, one per line.
#[derive(Clone, Debug, PartialEq)]
pub struct Instr<'src> {
    /// The result registers, in order (none for `S3_WRITE` and `RET`).
    pub dests: Vec<Reg<'src>>,
    pub opcode: Ident<'src>,
    pub operands: Vec<Operand<'src>>,
    pub span: Span,
}

/// A register, `%0` or `%name`; `name` excludes the `%`, `span` includes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Reg<'src> {
    pub name: &'src str,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Operand<'src> {
    Reg(Reg<'src>),
    Tile(TileRef<'src>),
}

impl Operand<'_> {
    pub fn span(&self) -> Span {
        match self {
            Operand::Reg(r) => r.span,
            Operand::Tile(t) => t.span,
        }
    }
}

/// `MATRIX[I, J]`, or `MATRIX[V, ..., I, J]` for a versioned matrix: one
/// tile, by tile (block) index. Indices are expressions over parameters and
/// loop variables.
#[derive(Clone, Debug, PartialEq)]
pub struct TileRef<'src> {
    pub matrix: Ident<'src>,
    pub index: Vec<Expr<'src>>,
    pub span: Span,
}
