//! What `lpc check` can find wrong with a program.
//!
//! One enum, one variant per check. A variant carries the spans a diagnostic
//! points at (the offending use first, then the related definitions) and the
//! few names its message needs; it knows nothing about rendering, which
//! happens in exactly one place, `diagnostics.rs`. Names are owned `String`s:
//! errors are rare, so the copy costs nothing on the fast path.

use grammar::ast::Span;

/// A tile written as `M[i, j]` in messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TileName {
    pub matrix: String,
    pub i: u64,
    pub j: u64,
}

impl std::fmt::Display for TileName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}[{}, {}]", self.matrix, self.i, self.j)
    }
}

/// One edge of a dependency cycle: `child` loads `tile` (at `load`), which
/// `parent` writes (at `write`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CycleEdge {
    pub parent: String,
    pub child: String,
    pub tile: TileName,
    pub load: Span,
    pub write: Span,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckError {
    // ----- declarations -----
    UnknownDtype {
        span: Span,
        found: String,
    },
    UnknownInit {
        span: Span,
        found: String,
    },
    InitArity {
        span: Span,
        init: String,
        expected: usize,
        found: usize,
    },
    InitOnNonInput {
        init: Span,
        role: Span,
        matrix: String,
    },
    DuplicateMatrix {
        span: Span,
        first: Span,
        name: String,
    },
    DuplicateJob {
        span: Span,
        first: Span,
        name: String,
    },
    /// A zero dimension; `what` is "shape" or "tile shape".
    ZeroDimension {
        span: Span,
        what: &'static str,
    },
    /// `sym` on a non-square matrix or with non-square tiles.
    SymmetricNotSquare {
        span: Span,
        sym: Span,
        what: &'static str,
        rows: u64,
        cols: u64,
    },
    /// More tiles along one side than a tile index can hold (u32).
    GridTooLarge {
        span: Span,
        tiles: u64,
    },

    // ----- registers -----
    RegisterRedefined {
        span: Span,
        first: Span,
        name: String,
    },
    UseBeforeDefinition {
        span: Span,
        later_def: Span,
        name: String,
    },
    RegisterFromOtherJob {
        span: Span,
        def: Span,
        name: String,
        other_job: String,
    },
    UndefinedRegister {
        span: Span,
        name: String,
    },

    // ----- instruction forms -----
    UnknownOpcode {
        span: Span,
        found: String,
    },
    MissingDestination {
        span: Span,
        opcode: String,
    },
    UnexpectedDestination {
        span: Span,
        opcode: String,
    },
    /// `expected` is a human description such as "1" or "2 or 3".
    OperandCount {
        span: Span,
        opcode: String,
        expected: String,
        found: usize,
    },
    /// An operand of the wrong kind: a tile where a register is needed or the
    /// reverse.
    OperandKind {
        span: Span,
        opcode: String,
        expected: &'static str,
    },
    RetNotLast {
        span: Span,
        last: Span,
    },

    // ----- shapes -----
    ShapeMismatch {
        span: Span,
        related: Option<Span>,
        opcode: String,
        message: String,
    },
    WriteShape {
        span: Span,
        reg: Span,
        tile: TileName,
        tile_shape: String,
        reg_shape: String,
    },

    // ----- tiles -----
    UnknownMatrix {
        span: Span,
        name: String,
    },
    TileOutOfGrid {
        span: Span,
        tile: TileName,
        grid: [u64; 2],
        decl: Span,
    },
    WriteToInput {
        span: Span,
        role: Span,
        matrix: String,
    },
    WriteUpperTriangle {
        span: Span,
        sym: Span,
        tile: TileName,
    },
    TileWrittenTwice {
        span: Span,
        first: Span,
        tile: TileName,
    },
    TileNeverWritten {
        span: Span,
        decl: Span,
        tile: TileName,
        loads: usize,
    },

    // ----- graph -----
    /// The jobs of a cycle in order; each edge's child is the next edge's
    /// parent and the last child is the first parent.
    Cycle {
        edges: Vec<CycleEdge>,
    },

    // ----- warnings -----
    UnusedRegister {
        span: Span,
        name: String,
    },
    TempNeverRead {
        span: Span,
        tile: TileName,
    },
    /// Output tiles that no job writes, aggregated per matrix; `missing`
    /// lists the first few.
    OutputNotWritten {
        decl: Span,
        matrix: String,
        count: u64,
        expected: u64,
        missing: Vec<(u64, u64)>,
    },
}

impl CheckError {
    pub fn is_warning(&self) -> bool {
        matches!(
            self,
            CheckError::UnusedRegister { .. }
                | CheckError::TempNeverRead { .. }
                | CheckError::OutputNotWritten { .. }
        )
    }
}
