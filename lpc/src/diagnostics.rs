//! The one place where errors become what a user reads.
//!
//! [`syntax`] and [`check`] turn a [`SyntaxError`] or a [`CheckError`] into a
//! codespan-reporting [`Diagnostic`] in rustc's style: a one-line message, the
//! primary label on the offending use, secondary labels on the related
//! definitions, and notes or help where they tell the user what to do.
//! [`render_text`] prints them like rustc (colour only on a terminal), and
//! [`render_json`] as JSON lines for editors: one object per diagnostic with
//! its severity, message, labels (file, byte range, 1-based line and column)
//! and notes.

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
fn range(src: &str, span: Span) -> std::ops::Range<usize> {
    let clamp = |mut at: usize| {
        at = at.min(src.len());
        while !src.is_char_boundary(at) {
            at -= 1;
        }
        at
    };
    let start = clamp(span.start as usize);
    let mut end = clamp(span.end as usize).max(start);
    // A label that runs into the next line (an unexpected end of line)
    // stops at the line break.
    if let Some(newline) = src[start..end].find(['\n', '\r']) {
        end = start + newline;
    }
    start..end
}

fn primary(src: &str, span: Span) -> Label<()> {
    Label::primary((), range(src, span))
}

fn secondary(src: &str, span: Span) -> Label<()> {
    Label::secondary((), range(src, span))
}

/// A syntax error as a diagnostic. The grammar crate owns the wording (its
/// `Display` is the message, `help()` the hint); the label says what is at
/// the place pointed at.
pub fn syntax(src: &str, e: &SyntaxError) -> Diag {
    let span = e.span();
    let label = match e {
        SyntaxError::InvalidToken { .. } => {
            format!("{:?} is not part of the language", &src[range(src, span)])
        }
        SyntaxError::UnexpectedToken { expected, .. } => format!("expected {}", one_of(expected)),
        SyntaxError::UnexpectedEof { .. } => "the file ends here".to_string(),
        SyntaxError::IntegerOverflow { .. } => "larger than 18446744073709551615".to_string(),
        SyntaxError::InstructionOutsideJob { .. } => "not inside a job".to_string(),
        _ => String::new(),
    };
    let mut diag = Diag::error()
        .with_message(e.to_string())
        .with_labels(vec![primary(src, span).with_message(label)]);
    if let Some(help) = e.help() {
        diag = diag.with_notes(vec![format!("help: {help}")]);
    }
    diag
}

/// `a`, `a or b`, `a, b or c`.
fn one_of(items: &[String]) -> String {
    match items {
        [] => "something else".to_string(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

const OPCODES_HELP: &str = "the opcodes are S3_LOAD, S3_WRITE, RET, CHOL, INVRS, TRSM, TRSM_L, \
                            SYRK, GEMM, GEMM_NT, GEMM_TN, GEMM_TT, ADD and SUB";

fn plural(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

fn tiles_list(matrix: &str, tiles: &[(u64, u64)]) -> String {
    let names: Vec<String> = tiles
        .iter()
        .map(|&(i, j)| {
            TileName {
                matrix: matrix.to_string(),
                i,
                j,
            }
            .to_string()
        })
        .collect();
    names.join(", ")
}

/// A check error or warning as a diagnostic.
pub fn check(src: &str, e: &CheckError) -> Diag {
    use CheckError::*;
    let p = |span: Span, msg: String| primary(src, span).with_message(msg);
    let s = |span: Span, msg: String| secondary(src, span).with_message(msg);
    let error = Diag::error;
    match e {
        UnknownDtype { span, found } => error()
            .with_message(format!("unknown element type `{found}`"))
            .with_labels(vec![p(*span, "only `f64` is supported".into())]),
        UnknownInit { span, found } => error()
            .with_message(format!("unknown initialiser `{found}`"))
            .with_labels(vec![p(*span, "not an initialiser".into())])
            .with_notes(vec![
                "help: the initialisers are `zeros`, `identity`, `random(SEED)` and `spd(SEED)`"
                    .into(),
            ]),
        InitArity { span, init, expected, found } => error()
            .with_message(format!(
                "`{init}` takes {}, found {found}",
                plural(*expected as u64, "argument", "arguments")
            ))
            .with_labels(vec![p(*span, format!("expected {expected}"))]),
        InitOnNonInput { init, role, matrix } => error()
            .with_message(format!("`{matrix}` has an initialiser but is not an input"))
            .with_labels(vec![
                p(*init, "only input matrices are initialised".into()),
                s(*role, format!("`{matrix}` is declared `{}` here", &src[range(src, *role)])),
            ])
            .with_notes(vec!["help: remove the initialiser, or declare the matrix `input`".into()]),
        DuplicateMatrix { span, first, name } => error()
            .with_message(format!("matrix `{name}` is declared twice"))
            .with_labels(vec![p(*span, "declared again here".into()), s(*first, "first declared here".into())]),
        DuplicateJob { span, first, name } => error()
            .with_message(format!("job label `{name}` is used twice"))
            .with_labels(vec![p(*span, "used again here".into()), s(*first, "first used here".into())]),
        ZeroDimension { span, what } => error()
            .with_message(format!("a matrix {what} cannot be zero"))
            .with_labels(vec![p(*span, "zero".into())]),
        SymmetricNotSquare { span, sym, what, rows, cols } => error()
            .with_message(format!("a symmetric matrix needs {what}, found {rows} x {cols}"))
            .with_labels(vec![p(*span, "not square".into()), s(*sym, "declared symmetric here".into())]),
        GridTooLarge { span, tiles } => error()
            .with_message(format!("too many tiles along one side: {tiles}"))
            .with_labels(vec![p(*span, format!("at most {} tiles per side", u32::MAX))]),
        RegisterRedefined { span, first, name } => error()
            .with_message(format!("register `%{name}` is defined twice"))
            .with_labels(vec![p(*span, "defined again here".into()), s(*first, "first defined here".into())])
            .with_notes(vec!["note: registers are single-assignment: give the new value a new name".into()]),
        UseBeforeDefinition { span, later_def, name } => error()
            .with_message(format!("register `%{name}` is used before it is defined"))
            .with_labels(vec![p(*span, "used here".into()), s(*later_def, "defined later here".into())]),
        RegisterFromOtherJob { span, def, name, other_job } => error()
            .with_message(format!("register `%{name}` belongs to job `{other_job}`"))
            .with_labels(vec![
                p(*span, "used here, in another job".into()),
                s(*def, format!("defined here, in job `{other_job}`")),
            ])
            .with_notes(vec![format!(
                "help: registers are local to a job: write the value to a tile in `{other_job}` and load it here"
            )]),
        UndefinedRegister { span, name } => error()
            .with_message(format!("register `%{name}` is not defined"))
            .with_labels(vec![p(*span, "not defined in this job".into())]),
        UnknownOpcode { span, found } => error()
            .with_message(format!("unknown opcode `{found}`"))
            .with_labels(vec![p(*span, "not an opcode".into())])
            .with_notes(vec![format!("help: {OPCODES_HELP}")]),
        MissingDestination { span, opcode } => error()
            .with_message(format!("`{opcode}` needs a destination register"))
            .with_labels(vec![p(*span, "its result is not assigned".into())])
            .with_notes(vec![format!("help: write `%r = {opcode} ...`")]),
        UnexpectedDestination { span, opcode } => error()
            .with_message(format!("`{opcode}` produces no value"))
            .with_labels(vec![p(*span, "nothing to assign".into())])
            .with_notes(vec!["help: remove the assignment".into()]),
        OperandCount { span, opcode, expected, found } => error()
            .with_message(format!(
                "`{opcode}` takes {expected} {}, found {found}",
                if expected == "1" { "operand" } else { "operands" }
            ))
            .with_labels(vec![p(*span, format!("expected {expected}"))]),
        OperandKind { span, opcode, expected } => error()
            .with_message(format!("`{opcode}` expects {expected} here"))
            .with_labels(vec![p(*span, format!("expected {expected}"))]),
        RetNotLast { span, last } => error()
            .with_message("`RET` must be the last instruction of its job")
            .with_labels(vec![p(*span, "the job returns here".into()), s(*last, "but the job goes on to here".into())]),
        ShapeMismatch { span, related, opcode, message } => {
            let mut labels = vec![p(*span, message.clone())];
            if let Some(r) = related {
                labels.push(s(*r, "the operand it must agree with is defined here".into()));
            }
            error()
                .with_message(format!("tile shapes do not fit `{opcode}`"))
                .with_labels(labels)
        }
        WriteShape { span, reg, tile, tile_shape, reg_shape } => error()
            .with_message(format!("cannot write a {reg_shape} value to tile {tile}, which is {tile_shape}"))
            .with_labels(vec![p(*span, format!("this is {reg_shape}")), s(*reg, "defined here".into())])
            .with_notes(vec![
                "note: edge tiles are smaller when the tile size does not divide the matrix size".into(),
            ]),
        UnknownMatrix { span, name } => error()
            .with_message(format!("no matrix named `{name}`"))
            .with_labels(vec![p(*span, "not declared".into())]),
        TileOutOfGrid { span, tile, grid, decl } => error()
            .with_message(format!(
                "tile {tile} is outside the {} x {} tile grid of `{}`",
                grid[0], grid[1], tile.matrix
            ))
            .with_labels(vec![
                p(*span, "out of bounds".into()),
                s(*decl, format!("`{}` has {} x {} tiles", tile.matrix, grid[0], grid[1])),
            ]),
        WriteToInput { span, role, matrix } => error()
            .with_message(format!("cannot write to input matrix `{matrix}`"))
            .with_labels(vec![p(*span, "written here".into()), s(*role, "declared input here".into())]),
        WriteUpperTriangle { span, sym, tile } => error()
            .with_message(format!(
                "cannot write tile {tile} above the diagonal of symmetric matrix `{}`",
                tile.matrix
            ))
            .with_labels(vec![p(*span, "upper tile".into()), s(*sym, "declared symmetric here".into())])
            .with_notes(vec![format!(
                "help: a symmetric matrix stores only tiles (i, j) with i >= j: write {} instead; loading {tile} reads its transpose",
                TileName { matrix: tile.matrix.clone(), i: tile.j, j: tile.i }
            )]),
        TileWrittenTwice { span, first, tile } => error()
            .with_message(format!("tile {tile} is written twice"))
            .with_labels(vec![p(*span, "written again here".into()), s(*first, "first written here".into())])
            .with_notes(vec!["note: every tile is written at most once in a program".into()]),
        TileNeverWritten { span, decl, tile, loads } => {
            let label = if *loads > 1 {
                format!("loaded here ({loads} loads in all)")
            } else {
                "loaded here".to_string()
            };
            error()
                .with_message(format!("tile {tile} is loaded but no job writes it"))
                .with_labels(vec![p(*span, label), s(*decl, format!("`{}` is not an input", tile.matrix))])
                .with_notes(vec![format!(
                    "help: declare `{}` as `input`, or add a job that writes {tile}",
                    tile.matrix
                )])
        }
        Cycle { edges } => {
            let mut path: Vec<&str> = edges.iter().map(|e| e.parent.as_str()).collect();
            path.push(edges[0].parent.as_str());
            let mut labels = Vec::new();
            for (n, e) in edges.iter().enumerate() {
                let msg = format!("`{}` loads {}", e.child, e.tile);
                labels.push(if n == 0 { p(e.load, msg) } else { s(e.load, msg) });
                labels.push(s(e.write, format!("written by `{}`", e.parent)));
            }
            error()
                .with_message(format!("dependency cycle between jobs: {}", path.join(" -> ")))
                .with_labels(labels)
                .with_notes(vec!["note: a job runs only after every job that writes a tile it loads".into()])
        }
        UnusedRegister { span, name } => Diag::warning()
            .with_message(format!("unused register `%{name}`"))
            .with_labels(vec![p(*span, "defined here and never used".into())]),
        TempNeverRead { span, tile } => Diag::warning()
            .with_message(format!("temp tile {tile} is written but never read"))
            .with_labels(vec![p(*span, "written here".into())]),
        OutputNotWritten { decl, matrix, count, expected, missing } => {
            let more = if *count > missing.len() as u64 { ", ..." } else { "" };
            Diag::warning()
                .with_message(format!("{count} of {expected} tiles of output `{matrix}` are never written"))
                .with_labels(vec![p(*decl, "declared as an output here".into())])
                .with_notes(vec![format!("note: not written: {}{more}", tiles_list(matrix, missing))])
        }
    }
}

/// Renders diagnostics like rustc, without colour (tests, pipes).
pub fn render_plain(name: &str, src: &str, diags: &[Diag]) -> String {
    let file = SimpleFile::new(name, src);
    let config = term::Config::default();
    let mut out = String::new();
    for d in diags {
        term::emit_to_string(&mut out, &config, &file, d).expect("spans are clamped to the source");
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
            let file = SimpleFile::new(name, src);
            let config = term::Config::default();
            for d in diags {
                let _ = term::emit_to_write_style(&mut lock, &config, &file, d);
            }
        }
        Format::Human => {
            let _ = stderr
                .lock()
                .write_all(render_plain(name, src, diags).as_bytes());
        }
    }
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
