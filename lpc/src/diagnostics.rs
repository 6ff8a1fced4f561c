//! The one place where errors become what a user reads.
//!
//! [`syntax`] and [`check`] turn a [`SyntaxError`] or a [`CheckError`] into a
//! codespan-reporting [`Diagnostic`] in rustc's style: a one-line message, the
//! primary label on the offending use, secondary labels on the related
//! definitions, and notes or help where they tell the user what to do.
//! [`emit_stderr`] prints them like rustc (colour only on a terminal;
//! [`render_plain`] without colour), and [`render_json`] as JSON lines for
//! editors: one object per diagnostic with its severity, message, labels
//! (file, byte range, 1-based line and column) and notes.

use crate::error::{CheckError, TileName};

use codespan_reporting::diagnostic::{Diagnostic, Label, Severity};
use codespan_reporting::files::{Files, SimpleFile};
use codespan_reporting::term;
use grammar::SyntaxError;
use grammar::ast::Span;
use std::io::Write;

/// A diagnostic about the single file being compiled.
pub type Diag = Diagnostic<()>;

/// How diagnostics are printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// rustc-style text.
    #[default]
    Human,
    /// One JSON object per line.
    Json,
}

/// A span made safe to render: inside the source and on char boundaries.
fn range(src: &str, span: std::ops::Range<usize>) -> std::ops::Range<usize> {
    let clamp = |mut at: usize| {
        at = at.min(src.len());
        while !src.is_char_boundary(at) {
            at -= 1;
        }
        at
    };
    let start = clamp(span.start);
    let mut end = clamp(span.end).max(start);
    // A label that runs into the next line (an unexpected end of line)
    // stops at the line break, `\r\n` or `\n` (a lone `\r` is a token).
    if let Some(newline) = src[start..end].find('\n') {
        end = start + newline;
        if src[start..end].ends_with('\r') {
            end -= 1;
        }
    }
    start..end
}

fn bytes(span: Span) -> std::ops::Range<usize> {
    span.start as usize..span.end as usize
}

/// The primary label: the place the message is about. Its span is made safe
/// to render by [`within`], once for the whole diagnostic.
fn p(span: Span, msg: String) -> Label<()> {
    Label::primary((), bytes(span)).with_message(msg)
}

/// A secondary label: a related place (a definition, an earlier use).
fn s(span: Span, msg: String) -> Label<()> {
    Label::secondary((), bytes(span)).with_message(msg)
}

/// `d` with every label's span made safe to render in `src` ([`range`]).
fn within(src: &str, mut d: Diag) -> Diag {
    for l in &mut d.labels {
        l.range = range(src, l.range.clone());
    }
    d
}

/// A syntax error as a diagnostic. The grammar crate owns the wording (its
/// `Display` is the message, `help()` the hint); the label says what is at
/// the place pointed at.
pub fn syntax(src: &str, e: &SyntaxError) -> Diag {
    let span = e.span();
    let label = match e {
        SyntaxError::InvalidToken { .. } => {
            let text = &src[range(src, bytes(span))];
            let shown: String = text.chars().take(grammar::lexer::CLIP).collect();
            if shown.len() < text.len() {
                format!(
                    "{shown:?}... ({} bytes) is not part of the language",
                    text.len()
                )
            } else {
                format!("{text:?} is not part of the language")
            }
        }
        SyntaxError::UnexpectedToken { expected, .. } => format!("expected {}", one_of(expected)),
        SyntaxError::UnexpectedEof { .. } => "the file ends here".to_string(),
        SyntaxError::IntegerOverflow { .. } => "larger than 18446744073709551615".to_string(),
        SyntaxError::InstructionOutsideJob { .. } => "not inside a job".to_string(),
        SyntaxError::UnmatchedBrace { .. } => "no loop is open here".to_string(),
        SyntaxError::UnclosedLoop { .. } => "this loop has no `}`".to_string(),
        SyntaxError::DeclarationInLoop { .. } => "declared inside a loop".to_string(),
        SyntaxError::RangeArity { .. } => "here".to_string(),
        SyntaxError::ExpressionTooDeep { .. } | SyntaxError::LoopsTooDeep { .. } => {
            "too deep".to_string()
        }
        SyntaxError::SourceTooLarge { .. } => String::new(),
    };
    let mut labels = vec![p(span, label)];
    if let SyntaxError::DeclarationInLoop { loop_header, .. } = e {
        labels.push(s(*loop_header, "the loop opens here".into()));
    }
    let mut diag = Diag::error()
        .with_message(e.to_string())
        .with_labels(labels);
    if let Some(help) = e.help() {
        diag = diag.with_notes(vec![format!("help: {help}")]);
    }
    within(src, diag)
}

/// `a`, `a or b`, `a, b or c`.
fn one_of(items: &[String]) -> String {
    match items {
        [] => "something else".to_string(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// "the opcodes are S3_LOAD, S3_WRITE, RET, CHOL, ..., ADD and SUB", from
/// the kernel table.
fn opcodes_help() -> String {
    let mut names: Vec<&str> = vec!["S3_LOAD", "S3_WRITE", "RET"];
    names.extend(lp_std::kernel::ALL_KERNELS.iter().map(|k| k.name()));
    let last = names.pop().unwrap_or_default();
    format!("the opcodes are {} and {last}", names.join(", "))
}

/// "the initialisers are `zeros`, ... and `spd(SEED)`", from the table.
fn initialisers_help() -> String {
    let mut names: Vec<String> = lp_std::Init::SIGNATURES
        .iter()
        .map(|s| format!("`{s}`"))
        .collect();
    let last = names.pop().unwrap_or_default();
    format!("help: the initialisers are {} and {last}", names.join(", "))
}

/// A note naming the iteration of a loop family a diagnostic is about.
fn in_job(job: &Option<String>) -> Vec<String> {
    job.iter().map(|j| format!("note: in job `{j}`")).collect()
}

fn plural(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `%r` for one result, `%v, %t, %r` (the kernel's names) for several.
fn result_regs(names: &[&str]) -> String {
    if names.len() == 1 {
        return "%r".to_string();
    }
    let regs: Vec<String> = names.iter().map(|n| format!("%{n}")).collect();
    regs.join(", ")
}

fn tiles_list(tiles: &[TileName]) -> String {
    let names: Vec<String> = tiles.iter().map(|t| t.to_string()).collect();
    names.join(", ")
}

/// A check error or warning as a diagnostic.
pub fn check(src: &str, e: &CheckError) -> Diag {
    use CheckError::*;
    // Exhaustive, so a new variant must be given a group; each group renders
    // the variants listed here and nothing else.
    let diag = match e {
        DuplicateParam { .. }
        | ParamUnset { .. }
        | ComputedParamSet { .. }
        | ParamUsedTooEarly { .. }
        | UnknownName { .. }
        | ShadowedName { .. }
        | BadExpr { .. }
        | NotConstant { .. }
        | NotAffine { .. }
        | BadStep { .. }
        | SolverLimit { .. } => names(e),
        LabelIndexInLoop { .. }
        | NegativeSeed { .. }
        | BadBase { .. }
        | VersionedInput { .. }
        | UnknownInit { .. }
        | InitArity { .. }
        | InitOnNonInput { .. }
        | DuplicateMatrix { .. }
        | DuplicateJob { .. } => declarations(src, e),
        NegativeDimension { .. }
        | IndexCount { .. }
        | UnknownDtype { .. }
        | ZeroDimension { .. }
        | NotSquare { .. }
        | GridTooLarge { .. }
        | TooManyVersions { .. } => shapes(e),
        RegisterRedefined { .. }
        | UseBeforeDefinition { .. }
        | RegisterFromOtherJob { .. }
        | UndefinedRegister { .. } => registers(e),
        UnknownOpcode { .. }
        | MissingDestination { .. }
        | ResultCount { .. }
        | UnexpectedDestination { .. }
        | OperandCount { .. }
        | OperandKind { .. }
        | RetNotLast { .. }
        | ShapeMismatch { .. }
        | WriteShape { .. } => instructions(e),
        UnknownMatrix { .. } | TileOutOfGrid { .. } => references(e),
        WriteToInput { .. } | WriteOutsideTriangle { .. } | WriteToBase { .. } => writes(e),
        TileWrittenTwice { .. } | TileNeverWritten { .. } => once(e),
        Cycle { .. } | Unordered { .. } | Undecided { .. } => order(e),
        UnusedRegister { .. }
        | TempNeverRead { .. }
        | TempReadUnchecked { .. }
        | PriorityNoValue { .. }
        | OutputNotWritten { .. } => warnings(e),
    };
    within(src, diag)
}

/// Diagnostics for parameters, names and expressions.
fn names(e: &CheckError) -> Diag {
    use CheckError::*;
    match e {
        DuplicateParam { span, first, name } => Diag::error()
            .with_message(format!("parameter `{name}` is declared twice"))
            .with_labels(vec![p(*span, "declared again here".into()), s(*first, "first declared here".into())]),
        ParamUnset { span, name } => Diag::error()
            .with_message(format!("parameter `{name}` has no value"))
            .with_labels(vec![p(*span, "declared without a default".into())])
            .with_notes(vec![format!("help: give it a default (`param {name} = ...`) or a value: `--set {name}=VALUE`")]),
        ComputedParamSet { span, name, from } => {
            let from: Vec<String> = from.iter().map(|n| format!("`{n}`")).collect();
            Diag::error()
                .with_message(format!("parameter `{name}` is computed from other parameters and cannot be set"))
                .with_labels(vec![p(*span, format!("computed from {}", from.join(", ")))])
                .with_notes(vec![format!("help: set {} instead", from.join(", "))])
        }
        ParamUsedTooEarly { span, param, name, decl: None } => Diag::error()
            .with_message(format!("the default of parameter `{param}` uses `{name}` itself"))
            .with_labels(vec![p(*span, "used in its own default".into())])
            .with_notes(vec!["help: a default may use the parameters declared before it".into()]),
        ParamUsedTooEarly { span, param, name, decl: Some(decl) } => Diag::error()
            .with_message(format!("the default of parameter `{param}` uses `{name}`, which is declared after it"))
            .with_labels(vec![p(*span, "used here".into()), s(*decl, format!("`{name}` is declared here"))])
            .with_notes(vec![
                "note: parameters are evaluated in declaration order".into(),
                format!("help: declare `{name}` before `{param}`"),
            ]),
        UnknownName { span, name, known } => {
            let diag = Diag::error()
                .with_message(format!("no parameter or loop variable named `{name}`"))
                .with_labels(vec![p(*span, "not defined".into())]);
            if known.is_empty() {
                diag
            } else {
                diag.with_notes(vec![format!("note: the names in scope here are {}", known.join(", "))])
            }
        }
        ShadowedName { span, first, name } => Diag::error()
            .with_message(format!("loop variable `{name}` hides an earlier `{name}`"))
            .with_labels(vec![p(*span, "defined again here".into()), s(*first, "first defined here".into())])
            .with_notes(vec!["help: give the loop variable another name".into()]),
        BadExpr { span, message, help } => {
            let diag = Diag::error().with_message(message.clone()).with_labels(vec![p(*span, "here".into())]);
            match help {
                Some(h) => diag.with_notes(vec![format!("help: {h}")]),
                None => diag,
            }
        }
        NotConstant { span, what } => Diag::error()
            .with_message(format!("{what} must be a constant"))
            .with_labels(vec![p(*span, "uses a loop variable".into())]),
        NotAffine { span, message } => Diag::error()
            .with_message(message.clone())
            .with_labels(vec![p(*span, "here".into())])
            .with_notes(vec![
                "note: tile indices must be affine in the loop variables (sums of constant multiples); loop bounds may \
                 also use `min` (end), `max` (start), and `floor` or `ceil` of a division by a constant"
                    .into(),
            ]),
        BadStep { span, message } | SolverLimit { span, message } => Diag::error()
            .with_message(message.clone())
            .with_labels(vec![p(*span, "here".into())]),
        _ => unreachable!("check() sends {e:?} elsewhere"),
    }
}

/// Diagnostics for the declarations of matrices (names, roles, bases,
/// initialisers) and job labels.
fn declarations(src: &str, e: &CheckError) -> Diag {
    use CheckError::*;
    match e {
        LabelIndexInLoop { span, name, vars } => Diag::error()
            .with_message("a job inside a loop is named by its loop variables")
            .with_labels(vec![p(*span, "indices written here".into())])
            .with_notes(vec![format!("help: write `{name}:`; its jobs are named `{name}[{}]`", vars.join(", "))]),
        NegativeSeed { span, init, value } => Diag::error()
            .with_message(format!("a seed cannot be negative, found {value}"))
            .with_labels(vec![p(*span, format!("the seed of `{init}`"))]),
        BadBase { span, matrix, message } => Diag::error()
            .with_message(format!("`{matrix}` cannot start from this matrix"))
            .with_labels(vec![p(*span, message.clone())])
            .with_notes(vec![format!(
                "note: `matrix {matrix}[N] : ... = A` makes the input `A` version 0 of `{matrix}`"
            )]),
        VersionedInput { span, role } => Diag::error()
            .with_message("a versioned matrix cannot be an input")
            .with_labels(vec![p(*span, "versioned".into()), s(*role, "declared input here".into())])
            .with_notes(vec![
                "help: declare it `temp` or `output`, with `= A` to make an input `A` its version 0".into(),
            ]),
        UnknownInit { span, found } => Diag::error()
            .with_message(format!("unknown initialiser `{found}`"))
            .with_labels(vec![p(*span, "not an initialiser".into())])
            .with_notes(vec![initialisers_help()]),
        InitArity { span, init, expected, found } => Diag::error()
            .with_message(format!(
                "`{init}` takes {}, found {found}",
                plural(*expected as u64, "argument", "arguments")
            ))
            .with_labels(vec![p(*span, format!("expected {expected}"))]),
        InitOnNonInput { init, role, matrix } => Diag::error()
            .with_message(format!("`{matrix}` has an initialiser but is not an input"))
            .with_labels(vec![
                p(*init, "only input matrices are initialised".into()),
                s(*role, format!("`{matrix}` is declared `{}` here", &src[range(src, bytes(*role))])),
            ])
            .with_notes(vec!["help: remove the initialiser, or declare the matrix `input`".into()]),
        DuplicateMatrix { span, first, name } => Diag::error()
            .with_message(format!("matrix `{name}` is declared twice"))
            .with_labels(vec![p(*span, "declared again here".into()), s(*first, "first declared here".into())]),
        DuplicateJob { span, first, name } => Diag::error()
            .with_message(format!("job label `{name}` is used twice"))
            .with_labels(vec![p(*span, "used again here".into()), s(*first, "first used here".into())]),
        _ => unreachable!("check() sends {e:?} elsewhere"),
    }
}

/// Diagnostics for matrix shapes, tiles and element types, and for the
/// number of indices a reference gives.
fn shapes(e: &CheckError) -> Diag {
    use CheckError::*;
    match e {
        NegativeDimension { span, value } => Diag::error()
            .with_message(format!("a size cannot be negative, found {value}"))
            .with_labels(vec![p(*span, "negative".into())]),
        IndexCount {
            span,
            matrix,
            expected,
            found,
            decl,
        } => {
            let diag = Diag::error()
                .with_message(format!(
                    "`{matrix}` takes {expected} indices, found {found}"
                ))
                .with_labels(vec![
                    p(*span, format!("expected {expected}")),
                    s(*decl, format!("`{matrix}` is declared here")),
                ]);
            if *expected > 2 {
                diag.with_notes(vec![format!(
                    "note: a versioned matrix is indexed by {} version ind{}, then the tile row and column",
                    expected - 2,
                    if *expected == 3 { "ex" } else { "ices" }
                )])
            } else {
                diag
            }
        }
        UnknownDtype { span, found } => Diag::error()
            .with_message(format!("unknown element type `{found}`"))
            .with_labels(vec![p(*span, "only `f64` is supported".into())]),
        ZeroDimension { span, what } => Diag::error()
            .with_message(format!("a matrix {what} cannot be zero"))
            .with_labels(vec![p(*span, "zero".into())]),
        NotSquare {
            span,
            structure,
            kind,
            what,
            rows,
            cols,
        } => Diag::error()
            .with_message(format!(
                "{} {kind} matrix needs {what}, found {rows} x {cols}",
                if kind.starts_with('u') { "an" } else { "a" }
            ))
            .with_labels(vec![
                p(*span, "not square".into()),
                s(*structure, format!("declared {kind} here")),
            ]),
        GridTooLarge { span, tiles } => Diag::error()
            .with_message(format!("too many tiles along one side: {tiles}"))
            .with_labels(vec![p(
                *span,
                format!("at most {} tiles per side", u32::MAX),
            )]),
        TooManyVersions {
            span, dimensions, ..
        } if *dimensions > lp_program::MAX_VERSION_DIMENSIONS => Diag::error()
            .with_message(format!("too many version dimensions: {dimensions}"))
            .with_labels(vec![p(
                *span,
                format!("at most {}", lp_program::MAX_VERSION_DIMENSIONS),
            )]),
        TooManyVersions { span, versions, .. } => Diag::error()
            .with_message(format!("too many versions: {versions} in all"))
            .with_labels(vec![p(
                *span,
                format!(
                    "at most {} in all (the product of the counts)",
                    lp_program::MAX_VERSIONS
                ),
            )]),
        _ => unreachable!("check() sends {e:?} elsewhere"),
    }
}

/// Diagnostics for registers: defined twice, used before, outside or
/// without a definition.
fn registers(e: &CheckError) -> Diag {
    use CheckError::*;
    match e {
        RegisterRedefined { span, first, name } => Diag::error()
            .with_message(format!("register `%{name}` is defined twice"))
            .with_labels(vec![p(*span, "defined again here".into()), s(*first, "first defined here".into())])
            .with_notes(vec!["note: registers are single-assignment: give the new value a new name".into()]),
        UseBeforeDefinition { span, later_def, name } => Diag::error()
            .with_message(format!("register `%{name}` is used before it is defined"))
            .with_labels(vec![p(*span, "used here".into()), s(*later_def, "defined later here".into())]),
        RegisterFromOtherJob { span, def, name, other_job } => Diag::error()
            .with_message(format!("register `%{name}` belongs to job `{other_job}`"))
            .with_labels(vec![
                p(*span, "used here, in another job".into()),
                s(*def, format!("defined here, in job `{other_job}`")),
            ])
            .with_notes(vec![format!(
                "help: registers are local to a job: write the value to a tile in `{other_job}` and load it here"
            )]),
        UndefinedRegister { span, name } => Diag::error()
            .with_message(format!("register `%{name}` is not defined"))
            .with_labels(vec![p(*span, "not defined in this job".into())]),
        _ => unreachable!("check() sends {e:?} elsewhere"),
    }
}

/// Diagnostics for opcodes, destinations, operands and shapes.
fn instructions(e: &CheckError) -> Diag {
    use CheckError::*;
    match e {
        UnknownOpcode { span, found } => Diag::error()
            .with_message(format!("unknown opcode `{found}`"))
            .with_labels(vec![p(*span, "not an opcode".into())])
            .with_notes(vec![format!("help: {}", opcodes_help())]),
        MissingDestination {
            span,
            opcode,
            names,
        } => {
            let (what, assigned) = if names.len() == 1 {
                ("a destination register".to_string(), "its result is not assigned")
            } else {
                (format!("{} destination registers", names.len()), "its results are not assigned")
            };
            Diag::error()
                .with_message(format!("`{opcode}` needs {what}"))
                .with_labels(vec![p(*span, assigned.into())])
                .with_notes(vec![format!("help: write `{} = {opcode} ...`", result_regs(names))])
        }
        ResultCount {
            span,
            opcode,
            names,
            found,
        } => Diag::error()
            .with_message(format!(
                "`{opcode}` has {}, found {found} destination registers",
                plural(names.len() as u64, "result", "results")
            ))
            .with_labels(vec![p(*span, format!("expected {}", names.len()))])
            .with_notes(vec![format!("help: write `{} = {opcode} ...`", result_regs(names))]),
        UnexpectedDestination { span, opcode } => Diag::error()
            .with_message(format!("`{opcode}` produces no value"))
            .with_labels(vec![p(*span, "nothing to assign".into())])
            .with_notes(vec!["help: remove the assignment".into()]),
        OperandCount { span, opcode, expected, found } => Diag::error()
            .with_message(format!(
                "`{opcode}` takes {expected} {}, found {found}",
                if expected == "1" { "operand" } else { "operands" }
            ))
            .with_labels(vec![p(*span, format!("expected {expected}"))]),
        OperandKind { span, opcode, expected } => Diag::error()
            .with_message(format!("`{opcode}` expects {expected} here"))
            .with_labels(vec![p(*span, format!("expected {expected}"))]),
        RetNotLast { span, last } => Diag::error()
            .with_message("`RET` must be the last instruction of its job")
            .with_labels(vec![p(*span, "the job returns here".into()), s(*last, "but the job goes on to here".into())]),
        ShapeMismatch { span, related, opcode, message, job } => {
            let mut labels = vec![p(*span, message.clone())];
            if let Some(r) = related {
                labels.push(s(*r, "the operand it must agree with is defined here".into()));
            }
            Diag::error()
                .with_message(format!("tile shapes do not fit `{opcode}`"))
                .with_labels(labels)
                .with_notes(in_job(job))
        }
        WriteShape { span, reg, tile, tile_shape, reg_shape, job } => Diag::error()
            .with_message(format!("cannot write a {reg_shape} value to tile {tile}, which is {tile_shape}"))
            .with_labels(vec![p(*span, format!("this is {reg_shape}")), s(*reg, "defined here".into())])
            .with_notes(
                in_job(job)
                    .into_iter()
                    .chain(["note: edge tiles are smaller when the tile size does not divide the matrix size".into()])
                    .collect(),
            ),
        _ => unreachable!("check() sends {e:?} elsewhere"),
    }
}

/// Diagnostics for tile references.
fn references(e: &CheckError) -> Diag {
    use CheckError::*;
    match e {
        UnknownMatrix { span, name } => Diag::error()
            .with_message(format!("no matrix named `{name}`"))
            .with_labels(vec![p(*span, "not declared".into())]),
        TileOutOfGrid {
            span,
            tile,
            component,
            sizes,
            decl,
            job,
        } => {
            let versions = sizes.len() - 2;
            let grid = &sizes[versions..];
            let (message, has) = if *component < versions {
                let v: Vec<String> = sizes[..versions].iter().map(|s| s.to_string()).collect();
                (
                    format!(
                        "tile {tile} is outside the {} versions of `{}`",
                        v.join(" x "),
                        tile.matrix
                    ),
                    format!("`{}` has {} versions", tile.matrix, v.join(" x ")),
                )
            } else {
                (
                    format!(
                        "tile {tile} is outside the {} x {} tile grid of `{}`",
                        grid[0], grid[1], tile.matrix
                    ),
                    format!("`{}` has {} x {} tiles", tile.matrix, grid[0], grid[1]),
                )
            };
            Diag::error()
                .with_message(message)
                .with_labels(vec![p(*span, "out of bounds".into()), s(*decl, has)])
                .with_notes(in_job(job))
        }
        _ => unreachable!("check() sends {e:?} elsewhere"),
    }
}

/// Diagnostics for writes to tiles a job may not write.
fn writes(e: &CheckError) -> Diag {
    use CheckError::*;
    match e {
        WriteToInput { span, role, matrix } => Diag::error()
            .with_message(format!("cannot write to input matrix `{matrix}`"))
            .with_labels(vec![
                p(*span, "written here".into()),
                s(*role, "declared input here".into()),
            ]),
        WriteOutsideTriangle {
            span,
            structure,
            kind,
            tile,
            job,
        } => {
            let mut mirror = tile.clone();
            let n = mirror.index.len();
            mirror.index.swap(n - 2, n - 1);
            let (side, label) = if *kind == "upper-triangular" {
                ("below", "lower tile")
            } else {
                ("above", "upper tile")
            };
            let help = if *kind == "symmetric" {
                format!(
                    "help: a symmetric matrix stores only tiles (i, j) with i >= j: write {mirror} instead; loading {tile} reads its transpose"
                )
            } else {
                let article = if kind.starts_with('u') { "an" } else { "a" };
                format!(
                    "help: {article} {kind} matrix is zero {side} its diagonal: its tiles there are never written, and loading one gives zeros"
                )
            };
            Diag::error()
                .with_message(format!(
                    "cannot write tile {tile} {side} the diagonal of {kind} matrix `{}`",
                    tile.matrix
                ))
                .with_labels(vec![
                    p(*span, label.into()),
                    s(*structure, format!("declared {kind} here")),
                ])
                .with_notes(in_job(job).into_iter().chain([help]).collect())
        }
        WriteToBase {
            span,
            base,
            tile,
            base_name,
            job,
        } => Diag::error()
            .with_message(format!(
                "cannot write tile {tile}: version 0 of `{}` is the input `{base_name}`",
                tile.matrix
            ))
            .with_labels(vec![
                p(*span, "written here".into()),
                s(*base, format!("`{base_name}` is version 0 here")),
            ])
            .with_notes(in_job(job)),
        _ => unreachable!("check() sends {e:?} elsewhere"),
    }
}

/// Diagnostics for the write-once rule.
fn once(e: &CheckError) -> Diag {
    use CheckError::*;
    match e {
        TileWrittenTwice {
            span,
            first,
            tile,
            jobs,
        } => {
            let message = match jobs {
                Some((a, b)) if a == b => format!("tile {tile} is written twice by `{a}`"),
                Some((a, b)) => format!("tile {tile} is written twice: by `{a}` and by `{b}`"),
                None => format!("tile {tile} is written twice"),
            };
            let labels = if span == first {
                vec![p(*span, "written here by both".into())]
            } else {
                vec![
                    p(*span, "written again here".into()),
                    s(*first, "first written here".into()),
                ]
            };
            Diag::error()
                .with_message(message)
                .with_labels(labels)
                .with_notes(vec![
                    "note: every tile is written at most once in a program".into(),
                ])
        }
        TileNeverWritten {
            span,
            decl,
            tile,
            loads,
            job,
        } => {
            let label = if *loads > 1 {
                format!("loaded here ({loads} loads in all)")
            } else {
                "loaded here".to_string()
            };
            Diag::error()
                .with_message(format!("tile {tile} is loaded but no job writes it"))
                .with_labels(vec![
                    p(*span, label),
                    s(*decl, format!("`{}` is not an input", tile.matrix)),
                ])
                .with_notes(
                    in_job(job)
                        .into_iter()
                        .chain([format!(
                            "help: declare `{}` as `input`, or add a job that writes {tile}",
                            tile.matrix
                        )])
                        .collect(),
                )
        }
        _ => unreachable!("check() sends {e:?} elsewhere"),
    }
}

/// Diagnostics for the order of jobs.
fn order(e: &CheckError) -> Diag {
    use CheckError::*;
    match e {
        Cycle { edges } => {
            let mut path: Vec<&str> = edges.iter().map(|e| e.parent.as_str()).collect();
            path.push(edges[0].parent.as_str());
            let mut labels = Vec::new();
            for (n, e) in edges.iter().enumerate() {
                let msg = format!("`{}` loads {}", e.child, e.tile);
                labels.push(if n == 0 { p(e.load, msg) } else { s(e.load, msg) });
                labels.push(s(e.write, format!("written by `{}`", e.parent)));
            }
            Diag::error()
                .with_message(format!("dependency cycle between jobs: {}", path.join(" -> ")))
                .with_labels(labels)
                .with_notes(vec!["note: a job runs only after every job that writes a tile it loads".into()])
        }
        Unordered { span, write, tile, loader, writer, jobs, limit } => Diag::error()
            .with_message("cannot show that the jobs form a DAG")
            .with_labels(vec![
                p(*span, format!("`{loader}` loads {tile}")),
                s(*write, format!("written by `{writer}`, later in program order")),
            ])
            .with_notes(vec![format!(
                "note: the program has {jobs} jobs, more than the {limit} lpc enumerates to look for a cycle; \
                 order the statements so that every tile is written before it is loaded"
            )]),
        Undecided { span, question } => Diag::error()
            .with_message(format!("cannot decide {question}"))
            .with_labels(vec![p(*span, "here".into())])
            .with_notes(vec!["note: the index expressions are beyond lpc's dependency solver".into()]),
        _ => unreachable!("check() sends {e:?} elsewhere"),
    }
}

/// Diagnostics for warnings.
fn warnings(e: &CheckError) -> Diag {
    use CheckError::*;
    match e {
        UnusedRegister { span, name } => Diag::warning()
            .with_message(format!("unused register `%{name}`"))
            .with_labels(vec![p(*span, "defined here and never used".into())]),
        TempNeverRead { span, tile, job } => Diag::warning()
            .with_message(format!("temp tile {tile} is written but never read"))
            .with_labels(vec![p(*span, "written here".into())])
            .with_notes(in_job(job)),
        TempReadUnchecked { span, limit } => Diag::warning()
            .with_message("cannot check that every temp tile this instruction writes is read")
            .with_labels(vec![p(*span, "written here".into())])
            .with_notes(vec![format!(
                "note: the tiles the dependency solver cannot rule out are more than the {limit} lpc enumerates; \
                 a tile no job reads only costs the work of writing it"
            )]),
        PriorityNoValue { span, job, message } => Diag::warning()
            .with_message(format!("the priority of `{job}` does not evaluate: {message}"))
            .with_labels(vec![p(*span, "here".into())])
            .with_notes(vec![
                "note: a job whose priority does not evaluate runs after every job whose priority does".into(),
            ]),
        OutputNotWritten {
            decl,
            matrix,
            count,
            expected,
            missing,
        } => {
            let more = if *count > missing.len() as u64 {
                ", ..."
            } else {
                ""
            };
            Diag::warning()
                .with_message(format!(
                    "{count} of {expected} tiles of output `{matrix}` are never written"
                ))
                .with_labels(vec![p(*decl, "declared as an output here".into())])
                .with_notes(vec![format!(
                    "note: not written: {}{more}",
                    tiles_list(missing)
                )])
        }
        _ => unreachable!("check() sends {e:?} elsewhere"),
    }
}

/// Lines longer than this are not echoed under a diagnostic: a label there
/// becomes a note with its line and column (a file of a million NUL bytes
/// is one line, and one error about it should not print megabytes).
pub const LONG_LINE: usize = 240;

/// `d` with every label that sits on a line longer than [`LONG_LINE`]
/// turned into a note.
fn fit(src: &str, d: &Diag) -> Diag {
    let long = |at: usize| {
        let start = src[..at].rfind('\n').map_or(0, |i| i + 1);
        let end = src[at..].find('\n').map_or(src.len(), |i| at + i);
        (end - start > LONG_LINE).then(|| {
            let line = src[..start].matches('\n').count() + 1;
            let column = src[start..at].chars().count() + 1;
            (line, column)
        })
    };
    if d.labels.iter().all(|l| long(l.range.start).is_none()) {
        return d.clone();
    }
    let mut out = d.clone();
    out.labels.clear();
    let mut notes = Vec::new();
    for l in &d.labels {
        match long(l.range.start) {
            Some((line, column)) => notes.push(format!(
                "at line {line}, column {column} (a line too long to show): {}",
                l.message
            )),
            None => out.labels.push(l.clone()),
        }
    }
    notes.extend(d.notes.iter().cloned());
    out.notes = notes;
    out
}

/// Renders diagnostics like rustc, without colour (tests, pipes).
pub fn render_plain(name: &str, src: &str, diags: &[Diag]) -> String {
    let file = SimpleFile::new(name, shown(src));
    let config = term::Config::default();
    let mut out = String::new();
    for d in diags {
        term::emit_to_string(&mut out, &config, &file, &fit(src, d))
            .expect("spans are clamped to the source");
    }
    out
}

/// Prints diagnostics to stderr in the chosen format; colour only when
/// stderr is a terminal.
pub fn emit_stderr(format: Format, name: &str, src: &str, diags: &[Diag]) {
    use std::io::IsTerminal;
    let stderr = std::io::stderr();
    match format {
        Format::Json => {
            let _ = stderr
                .lock()
                .write_all(render_json(name, src, diags).as_bytes());
        }
        Format::Human if stderr.is_terminal() => {
            use term::termcolor::{ColorChoice, StandardStream};
            let stream = StandardStream::stderr(ColorChoice::Auto);
            let mut lock = stream.lock();
            let file = SimpleFile::new(name, shown(src));
            let config = term::Config::default();
            for d in diags {
                let _ = term::emit_to_write_style(&mut lock, &config, &file, &fit(src, d));
            }
        }
        Format::Human => {
            let _ = stderr
                .lock()
                .write_all(render_plain(name, src, diags).as_bytes());
        }
    }
}

/// The source as a snippet shows it: an ASCII control character other than
/// a newline or a tab (a stray carriage return) would move the terminal's
/// cursor, so it shows as a space, byte for byte (spans stay valid). The
/// message names it (`lexer::clip` escapes it).
fn shown(src: &str) -> std::borrow::Cow<'_, str> {
    let hidden = |c: char| c.is_ascii_control() && c != '\n' && c != '\t';
    if !src.contains(hidden) {
        return std::borrow::Cow::Borrowed(src);
    }
    std::borrow::Cow::Owned(src.replace(hidden, " "))
}

/// Renders diagnostics as JSON lines.
pub fn render_json(name: &str, src: &str, diags: &[Diag]) -> String {
    let file = SimpleFile::new(name, src);
    let mut out = String::new();
    for d in diags {
        let labels: Vec<serde_json::Value> = d
            .labels
            .iter()
            .map(|l| {
                let start = file.location((), l.range.start).ok();
                let end = file.location((), l.range.end).ok();
                serde_json::json!({
                    "style": match l.style {
                        codespan_reporting::diagnostic::LabelStyle::Primary => "primary",
                        codespan_reporting::diagnostic::LabelStyle::Secondary => "secondary",
                    },
                    "file": name,
                    "start": l.range.start,
                    "end": l.range.end,
                    "line": start.as_ref().map(|s| s.line_number),
                    "column": start.as_ref().map(|s| s.column_number),
                    "end_line": end.as_ref().map(|s| s.line_number),
                    "end_column": end.as_ref().map(|s| s.column_number),
                    "message": l.message,
                })
            })
            .collect();
        let severity = match d.severity {
            Severity::Bug => "bug",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
            Severity::Help => "help",
        };
        let object = serde_json::json!({
            "severity": severity,
            "message": d.message,
            "labels": labels,
            "notes": d.notes,
        });
        out.push_str(&object.to_string());
        out.push('\n');
    }
    out
}
