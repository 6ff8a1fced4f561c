//! The abstract syntax tree of a lambdapack program.
//!
//! The tree borrows every name from the source text (`&'src str`), so a
//! generated program with millions of instructions costs no allocation per
//! identifier; memory stays linear in the source size. Every node carries the
//! byte [`Span`] it was parsed from, so that any later phase can point a
//! diagnostic at it.
//!
//! The tree is deliberately *syntactic*: opcodes are plain identifiers and
//! operands are registers or tile references, whatever the opcode. What an
//! opcode means, how many operands it takes and which shapes fit is decided by
//! the checker in `lpc`, which keeps this crate free of execution knowledge
//! and lets new kernels arrive without touching the grammar.

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

/// A whole `.lp` file: matrix declarations and jobs, in source order.
///
/// Declarations and jobs may be interleaved; a matrix is visible to every job
/// in the file wherever it is declared.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Program<'src> {
    pub matrices: Vec<MatrixDecl<'src>>,
    pub jobs: Vec<Job<'src>>,
}

/// A name: a matrix, a job label, an opcode, a dtype or an initialiser.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ident<'src> {
    pub name: &'src str,
    pub span: Span,
}

/// An unsigned integer literal (a dimension, a tile index, a seed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Int {
    pub value: u64,
    pub span: Span,
}

/// `matrix NAME : [sym] DTYPE[ROWS, COLS] tile [TROWS, TCOLS] ROLE [= INIT]`
#[derive(Clone, Debug, PartialEq)]
pub struct MatrixDecl<'src> {
    pub name: Ident<'src>,
    /// The span of the `sym` keyword when the matrix is symmetric.
    pub symmetric: Option<Span>,
    pub dtype: Ident<'src>,
    pub shape: [Int; 2],
    pub tile: [Int; 2],
    pub role: Role,
    /// A lazy initialiser such as `spd(42)`; only meaningful on inputs.
    pub init: Option<Init<'src>>,
    pub span: Span,
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

/// A lazy initialiser call, `NAME` or `NAME(ARG, ...)`; the checker knows the
/// valid names (`zeros`, `identity`, `random(seed)`, `spd(seed)`).
#[derive(Clone, Debug, PartialEq)]
pub struct Init<'src> {
    pub name: Ident<'src>,
    pub args: Vec<Int>,
    pub span: Span,
}

/// `LABEL:` followed by straight-line instructions up to the next label,
/// declaration or end of file.
#[derive(Clone, Debug, PartialEq)]
pub struct Job<'src> {
    pub label: Ident<'src>,
    pub body: Vec<Instr<'src>>,
    pub span: Span,
}

/// `[%DEST =] OPCODE [OPERAND, ...]`, one per line.
#[derive(Clone, Debug, PartialEq)]
pub struct Instr<'src> {
    pub dest: Option<Reg<'src>>,
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

/// `MATRIX[I, J]`: one tile of a matrix, by tile (block) index.
///
/// Indices are literals today. A later loop form (`for i in range(...)`) would
/// make them expressions over loop variables; that is why they are a node of
/// their own and not bare integers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TileRef<'src> {
    pub matrix: Ident<'src>,
    pub index: [Int; 2],
    pub span: Span,
}
