//! What `lpc check` can find wrong with a program.
//!
//! One enum, one variant per check. A variant carries the spans a diagnostic
//! points at (the offending use first, then the related definitions) and the
//! few names its message needs; it knows nothing about rendering, which
//! happens in exactly one place, `diagnostics.rs`. Names are owned `String`s:
//! errors are rare, so the copy costs nothing on the fast path.

use grammar::ast::Span;

/// A tile written as `M[i, j]` (or `S[k, i, j]` for a versioned matrix) in
/// messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TileName {
    pub matrix: String,
    pub index: Vec<i64>,
}

impl std::fmt::Display for TileName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let index: Vec<String> = self.index.iter().map(|i| i.to_string()).collect();
        write!(f, "{}[{}]", self.matrix, index.join(", "))
    }
}

/// One edge of a dependency cycle: job `child` loads `tile` (at `load`),
/// which job `parent` writes (at `write`).
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
    // ----- parameters and expressions -----
    DuplicateParam {
        span: Span,
        first: Span,
        name: String,
    },
    /// A parameter with no default that `--set` did not give a value.
    ParamUnset {
        span: Span,
        name: String,
    },
    /// A `--set` of a parameter whose default is computed from others
    /// (`from`); `span` is the default.
    ComputedParamSet {
        span: Span,
        name: String,
        from: Vec<String>,
    },
    /// A parameter's default (of `param`) that uses `name`: the parameter
    /// itself, or one declared after it (at `decl`).
    ParamUsedTooEarly {
        span: Span,
        param: String,
        name: String,
        decl: Option<Span>,
    },
    /// A name that is neither a parameter nor a loop variable in scope;
    /// `known` lists what is.
    UnknownName {
        span: Span,
        name: String,
        known: Vec<String>,
    },
    /// A loop variable that reuses the name of a parameter or of an
    /// enclosing loop's variable.
    ShadowedName {
        span: Span,
        first: Span,
        name: String,
    },
    /// An expression that has no value (overflow, division by zero, a
    /// negative exponent), or is written in a form the language does not
    /// have (`a / b` outside `floor`/`ceil`, an unknown function); `message`
    /// says which.
    BadExpr {
        span: Span,
        message: String,
        help: Option<String>,
    },
    /// A loop variable where a constant is needed (a flat label's index).
    NotConstant {
        span: Span,
        what: &'static str,
    },
    /// An index, bound or step the dependency solver cannot handle where it
    /// stands (not affine, a variable step, ...).
    NotAffine {
        span: Span,
        message: String,
    },
    /// A loop step that is not positive, or not a constant (nor a power of
    /// exponent variables).
    BadStep {
        span: Span,
        message: String,
    },
    /// The loop nest, or its numbers, exceed the solver's limits.
    SolverLimit {
        span: Span,
        message: String,
    },
    /// `syrk[k, i]:` inside a loop.
    LabelIndexInLoop {
        span: Span,
        name: String,
        vars: Vec<String>,
    },

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
    /// A symmetric matrix that is not square, or a structured one whose
    /// tiles are not; `kind` is "symmetric", "lower-triangular", ...
    NotSquare {
        span: Span,
        structure: Span,
        kind: &'static str,
        what: &'static str,
        rows: u64,
        cols: u64,
    },
    /// More tiles along one side than a tile index can hold (u32).
    GridTooLarge {
        span: Span,
        tiles: u64,
    },
    /// More version dimensions than [`lp_program::MAX_VERSION_DIMENSIONS`],
    /// or more versions in all than [`lp_program::MAX_VERSIONS`] (the
    /// product of the counts, `versions`).
    TooManyVersions {
        span: Span,
        dimensions: usize,
        versions: u128,
    },
    /// A dimension, tile size or version count that is negative.
    NegativeDimension {
        span: Span,
        value: i64,
    },
    /// An initialiser's seed below zero (`spd(-1)`).
    NegativeSeed {
        span: Span,
        init: String,
        value: i64,
    },
    /// `= NAME` on a versioned matrix names no input of the same shape.
    BadBase {
        span: Span,
        matrix: String,
        message: String,
    },
    /// A versioned matrix declared `input`.
    VersionedInput {
        span: Span,
        role: Span,
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
    /// `names`: the results the opcode defines, by role.
    MissingDestination {
        span: Span,
        opcode: String,
        names: &'static [&'static str],
    },
    /// Result registers that do not match the opcode's results (`names`).
    ResultCount {
        span: Span,
        opcode: String,
        names: &'static [&'static str],
        found: usize,
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
    /// `job` names the iteration when the family has loops.
    ShapeMismatch {
        span: Span,
        related: Option<Span>,
        opcode: String,
        message: String,
        job: Option<String>,
    },
    WriteShape {
        span: Span,
        reg: Span,
        tile: TileName,
        tile_shape: String,
        reg_shape: String,
        job: Option<String>,
    },

    // ----- tiles -----
    UnknownMatrix {
        span: Span,
        name: String,
    },
    /// A tile reference with the wrong number of indices for its matrix.
    IndexCount {
        span: Span,
        matrix: String,
        expected: usize,
        found: usize,
        decl: Span,
    },
    /// Index `component` of the tile is outside `0..size`; `job` names the
    /// iteration in a loop.
    TileOutOfGrid {
        span: Span,
        tile: TileName,
        component: usize,
        /// Version sizes, then the tile grid.
        sizes: Vec<u64>,
        decl: Span,
        job: Option<String>,
    },
    WriteToInput {
        span: Span,
        role: Span,
        matrix: String,
    },
    /// A write outside the stored triangle of a symmetric or triangular
    /// matrix; `kind` is "symmetric", "lower-triangular" or
    /// "upper-triangular".
    WriteOutsideTriangle {
        span: Span,
        structure: Span,
        kind: &'static str,
        tile: TileName,
        job: Option<String>,
    },
    /// A write to version 0 of a versioned matrix, which is its base input.
    WriteToBase {
        span: Span,
        base: Span,
        tile: TileName,
        base_name: String,
        job: Option<String>,
    },
    /// `jobs` names both writers when one is in a loop.
    TileWrittenTwice {
        span: Span,
        first: Span,
        tile: TileName,
        jobs: Option<(String, String)>,
    },
    TileNeverWritten {
        span: Span,
        decl: Span,
        tile: TileName,
        loads: u64,
        job: Option<String>,
    },

    // ----- graph -----
    /// The jobs of a cycle in order; each edge's child is the next edge's
    /// parent and the last child is the first parent.
    Cycle {
        edges: Vec<CycleEdge>,
    },
    /// A load whose tile is written later in program order, in a program
    /// with too many jobs to search for a cycle.
    Unordered {
        span: Span,
        write: Span,
        tile: TileName,
        loader: String,
        writer: String,
        jobs: u64,
        limit: u64,
    },
    /// A question the dependency solver could not decide.
    Undecided {
        span: Span,
        question: &'static str,
    },

    // ----- warnings -----
    UnusedRegister {
        span: Span,
        name: String,
    },
    TempNeverRead {
        span: Span,
        tile: TileName,
        job: Option<String>,
    },
    /// The temp tiles a write may leave unread are more than `limit`.
    TempReadUnchecked {
        span: Span,
        limit: u64,
    },
    /// A stated priority with no value at job `job` (`message` says why).
    PriorityNoValue {
        span: Span,
        job: String,
        message: String,
    },
    /// Output tiles that no job writes, aggregated per matrix; `missing`
    /// lists the first few.
    OutputNotWritten {
        decl: Span,
        matrix: String,
        count: u64,
        expected: u64,
        missing: Vec<TileName>,
    },
}

impl CheckError {
    /// The name an "undefined" error is about: a parameter, loop variable
    /// or matrix that no declaration made.
    pub fn undefined_name(&self) -> Option<&str> {
        match self {
            CheckError::UnknownName { name, .. } | CheckError::UnknownMatrix { name, .. } => {
                Some(name)
            }
            _ => None,
        }
    }

    /// The span the diagnostic's primary label points at.
    pub fn primary_span(&self) -> Span {
        use CheckError::*;
        match self {
            DuplicateParam { span, .. }
            | ParamUnset { span, .. }
            | ComputedParamSet { span, .. }
            | ParamUsedTooEarly { span, .. }
            | UnknownName { span, .. }
            | ShadowedName { span, .. }
            | BadExpr { span, .. }
            | NotConstant { span, .. }
            | NotAffine { span, .. }
            | BadStep { span, .. }
            | SolverLimit { span, .. }
            | LabelIndexInLoop { span, .. }
            | UnknownDtype { span, .. }
            | UnknownInit { span, .. }
            | InitArity { span, .. }
            | DuplicateMatrix { span, .. }
            | DuplicateJob { span, .. }
            | ZeroDimension { span, .. }
            | NotSquare { span, .. }
            | GridTooLarge { span, .. }
            | TooManyVersions { span, .. }
            | NegativeDimension { span, .. }
            | NegativeSeed { span, .. }
            | BadBase { span, .. }
            | VersionedInput { span, .. }
            | RegisterRedefined { span, .. }
            | UseBeforeDefinition { span, .. }
            | RegisterFromOtherJob { span, .. }
            | UndefinedRegister { span, .. }
            | UnknownOpcode { span, .. }
            | MissingDestination { span, .. }
            | ResultCount { span, .. }
            | UnexpectedDestination { span, .. }
            | OperandCount { span, .. }
            | OperandKind { span, .. }
            | RetNotLast { span, .. }
            | ShapeMismatch { span, .. }
            | WriteShape { span, .. }
            | UnknownMatrix { span, .. }
            | IndexCount { span, .. }
            | TileOutOfGrid { span, .. }
            | WriteToInput { span, .. }
            | WriteOutsideTriangle { span, .. }
            | WriteToBase { span, .. }
            | TileWrittenTwice { span, .. }
            | TileNeverWritten { span, .. }
            | Unordered { span, .. }
            | Undecided { span, .. }
            | UnusedRegister { span, .. }
            | TempNeverRead { span, .. }
            | TempReadUnchecked { span, .. }
            | PriorityNoValue { span, .. } => *span,
            InitOnNonInput { init, .. } => *init,
            OutputNotWritten { decl, .. } => *decl,
            Cycle { edges } => edges.first().map(|e| e.load).unwrap_or_default(),
        }
    }

    pub fn is_warning(&self) -> bool {
        matches!(
            self,
            CheckError::UnusedRegister { .. }
                | CheckError::TempNeverRead { .. }
                | CheckError::TempReadUnchecked { .. }
                | CheckError::PriorityNoValue { .. }
                | CheckError::OutputNotWritten { .. }
        )
    }
}
