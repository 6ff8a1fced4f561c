//! Syntax errors, and their translation from lalrpop's parse errors.
//!
//! lalrpop reports what it expected as raw terminal names (`"\",\""`,
//! `IDENT`). Users should read what the grammar wanted in words, and the same
//! terminal means different things in different places: an identifier after
//! `matrix` is a matrix name, after `%0 =` an opcode, after an opcode a tile.
//! Errors are rare, so [`from_parse_error`] re-lexes the start of the line the
//! error is on to learn where in the line it happened, and names each expected
//! terminal for that place. Names are deduplicated and listed in a fixed order
//! so that diagnostics are stable.

use crate::ast::Span;
use crate::lexer::Tok;
use lalrpop_util::ParseError;
use logos::Logos;
use std::fmt;

/// A syntax error, carrying the span the diagnostic points at.
///
/// Rendering (codespan) happens in `lpc`, the only crate that prints; the
/// [`fmt::Display`] text is the one-line message and [`SyntaxError::help`] an
/// optional hint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyntaxError {
    /// Characters that form no token; a run of adjacent ones is one error.
    InvalidToken { span: Span },
    /// A token the grammar does not allow here. `found` names it
    /// (``"`,`"``, ``"the identifier `foo`"``, ``"`tile`, a reserved
    /// keyword"``, ...); `expected` lists what would be allowed, in a
    /// human form (``"a register such as `%0`"``, ``"`,`"``, `"a newline"`, ...),
    /// deduplicated, never empty.
    UnexpectedToken {
        span: Span,
        found: String,
        expected: Vec<String>,
    },
    /// The file ended inside a construct; `span` is empty, at the end of the
    /// file.
    UnexpectedEof { span: Span, expected: Vec<String> },
    /// An integer literal that does not fit in 64 bits. The literal is kept in
    /// the tree as `u64::MAX`.
    IntegerOverflow { span: Span },
    /// An instruction before the first label, or after a declaration that
    /// ended the previous job. Reported once for a run of such instructions,
    /// on the first; the instructions are not in the tree.
    InstructionOutsideJob { span: Span },
    /// The source is longer than `u32::MAX` bytes, the limit of [`Span`]. It
    /// is the only error then, and the program is empty.
    SourceTooLarge { len: usize },
    /// A `}` with no open loop.
    UnmatchedBrace { span: Span },
    /// A `for` whose `}` never comes; `span` is the loop header. The loop
    /// runs to the end of the file in the tree.
    UnclosedLoop { span: Span },
    /// A `param` or `matrix` line inside a loop body (it is still recorded).
    DeclarationInLoop { span: Span, loop_header: Span },
    /// `range()` with no argument or more than three; `span` is the loop
    /// header. The loop is kept, with an empty range (`end` is `0`).
    RangeArity { span: Span, found: usize },
    /// An expression more than [`MAX_EXPR_DEPTH`](crate::ast::MAX_EXPR_DEPTH) levels deep. It is
    /// replaced in the tree by the integer `0` spanning it (`span`), so that
    /// no tree is ever deep enough to overflow a recursive pass (or `Drop`).
    ExpressionTooDeep { span: Span },
    /// A loop header inside [`crate::ast::MAX_LOOP_DEPTH`] open loops; the
    /// loop is not opened (its `}` closes nothing).
    LoopsTooDeep { span: Span },
}

impl SyntaxError {
    /// The span the diagnostic points at (empty at 0 for
    /// [`SyntaxError::SourceTooLarge`], which has no place in the text).
    pub fn span(&self) -> Span {
        match self {
            SyntaxError::InvalidToken { span }
            | SyntaxError::UnexpectedToken { span, .. }
            | SyntaxError::UnexpectedEof { span, .. }
            | SyntaxError::IntegerOverflow { span }
            | SyntaxError::InstructionOutsideJob { span }
            | SyntaxError::UnmatchedBrace { span }
            | SyntaxError::UnclosedLoop { span }
            | SyntaxError::DeclarationInLoop { span, .. }
            | SyntaxError::RangeArity { span, .. }
            | SyntaxError::ExpressionTooDeep { span }
            | SyntaxError::LoopsTooDeep { span } => *span,
            SyntaxError::SourceTooLarge { .. } => Span::default(),
        }
    }

    /// A hint on how to fix the error, where there is a useful one.
    pub fn help(&self) -> Option<&'static str> {
        match self {
            SyntaxError::InstructionOutsideJob { .. } => {
                Some("instructions must be inside a job; add a label such as `job_0:` above")
            }
            SyntaxError::IntegerOverflow { .. } => {
                Some("integers must be at most 18446744073709551615")
            }
            SyntaxError::UnclosedLoop { .. } => Some("close the loop body with a `}` line"),
            SyntaxError::DeclarationInLoop { .. } => Some(
                "move the declaration above the loop: parameters and matrices are declared once, at the top level",
            ),
            SyntaxError::RangeArity { .. } => {
                Some("write `range(END)`, `range(START, END)` or `range(START, END, STEP)`")
            }
            // Keep in step with MAX_EXPR_DEPTH (a unit test checks). A user
            // who wrote no parentheses sees a flat chain, so say that it
            // counts.
            SyntaxError::ExpressionTooDeep { .. } => Some(
                "at most 64 levels of nesting: each operator, minus sign and call is a level, and \
                 a chain nests to the left (`a + b + c` is `(a + b) + c`), one level per operator; \
                 parentheses add none",
            ),
            _ => None,
        }
    }
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyntaxError::InvalidToken { .. } => write!(f, "invalid token"),
            SyntaxError::UnexpectedToken {
                found, expected, ..
            } => write!(f, "expected {}, found {found}", one_of(expected)),
            SyntaxError::UnexpectedEof { expected, .. } => {
                write!(f, "unexpected end of file, expected {}", one_of(expected))
            }
            SyntaxError::IntegerOverflow { .. } => {
                write!(f, "integer literal does not fit in 64 bits")
            }
            SyntaxError::InstructionOutsideJob { .. } => write!(f, "instruction outside a job"),
            SyntaxError::SourceTooLarge { len } => write!(
                f,
                "source file is {len} bytes; the limit is {} bytes",
                u32::MAX
            ),
            SyntaxError::UnmatchedBrace { .. } => write!(f, "`}}` without an open loop"),
            SyntaxError::UnclosedLoop { .. } => write!(f, "loop is never closed"),
            SyntaxError::DeclarationInLoop { .. } => {
                write!(f, "declaration inside a loop")
            }
            SyntaxError::RangeArity { found, .. } => {
                write!(f, "`range` takes 1 to 3 arguments, found {found}")
            }
            SyntaxError::ExpressionTooDeep { .. } => write!(f, "expression nested too deeply"),
            SyntaxError::LoopsTooDeep { .. } => write!(
                f,
                "loops nested more than {} deep",
                crate::ast::MAX_LOOP_DEPTH
            ),
        }
    }
}

impl std::error::Error for SyntaxError {}

/// `a`, `a or b`, `a, b or c`.
fn one_of(items: &[String]) -> String {
    match items {
        [] => "nothing".to_string(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// Translates one lalrpop error; `None` for a [`Tok::Error`] token, which the
/// lexer has already reported as [`SyntaxError::InvalidToken`].
pub(crate) fn from_parse_error(
    source: &str,
    error: ParseError<usize, Tok<'_>, std::convert::Infallible>,
) -> Option<SyntaxError> {
    match error {
        ParseError::UnrecognizedToken {
            token: (_, Tok::Error, _),
            ..
        } => None,
        // The lexer ends an unterminated last line with an empty newline: a
        // construct cut short there is cut short by the end of the file.
        ParseError::UnrecognizedToken {
            token: (start, Tok::Newline, end),
            expected,
        } if start == end => Some(SyntaxError::UnexpectedEof {
            span: Span::new(start, end),
            expected: expected_names(source, start, &expected),
        }),
        ParseError::UnrecognizedToken {
            token: (start, tok, end),
            expected,
        } => Some(SyntaxError::UnexpectedToken {
            span: Span::new(start, end),
            found: match tok {
                // As written: an overflowing literal is `u64::MAX` by now.
                Tok::Int(_) => format!("the integer `{}`", crate::lexer::clip(&source[start..end])),
                _ => tok.describe(),
            },
            expected: expected_names(source, start, &expected),
        }),
        ParseError::UnrecognizedEof { location, expected } => Some(SyntaxError::UnexpectedEof {
            span: Span::new(location, location),
            expected: expected_names(source, location, &expected),
        }),
        // Neither happens with this grammar and lexer (every line, the last
        // included, ends in a newline the grammar accepts), but an error is
        // still better than losing one.
        ParseError::ExtraToken {
            token: (start, tok, end),
        } => Some(SyntaxError::UnexpectedToken {
            span: Span::new(start, end),
            found: tok.describe(),
            expected: vec!["the end of the file".to_string()],
        }),
        ParseError::InvalidToken { location } => Some(SyntaxError::InvalidToken {
            span: Span::new(location, location),
        }),
        ParseError::User { error } => match error {},
    }
}

/// The kind of line an error is on and the token just before it.
struct Place<'src> {
    first: Option<Tok<'src>>,
    previous: Option<Tok<'src>>,
}

fn place(source: &str, at: usize) -> Place<'_> {
    let line_start = source[..at].rfind('\n').map_or(0, |i| i + 1);
    let mut tokens = Tok::lexer(&source[line_start..at]).filter_map(Result::ok);
    let first = tokens.next();
    let previous = tokens.last().or(first);
    Place { first, previous }
}

/// Human names for lalrpop's expected terminals at byte `at`, in a fixed
/// order, without duplicates.
///
/// Where an expression may start (an integer is among the expected
/// terminals), its possible first tokens are named once, as "an
/// expression"; after a complete expression the five operators are named
/// once, as "an operator".
fn expected_names(source: &str, at: usize, raw: &[String]) -> Vec<String> {
    let place = place(source, at);
    let terminals: Vec<&str> = raw.iter().map(|t| t.trim_matches('"')).collect();
    let expression_start = terminals.contains(&"INT");
    let mut named: Vec<(u8, &'static str)> = terminals
        .iter()
        .filter_map(|&terminal| match terminal {
            "INT" | "IDENT" | "(" | "-" if expression_start => Some((4, "an expression")),
            "+" | "-" | "*" | "/" | "^" => Some((15, "an operator")),
            _ => name_terminal(terminal, &place),
        })
        .collect();
    named.sort_unstable();
    named.dedup();
    named
        .into_iter()
        .map(|(_, name)| name.to_string())
        .collect()
}

/// A terminal's rank in the listing and its name at `place`.
fn name_terminal(terminal: &str, place: &Place<'_>) -> Option<(u8, &'static str)> {
    Some(match terminal {
        "matrix" => (0, "`matrix`"),
        "param" => (0, "`param`"),
        "for" => (0, "`for`"),
        "}" => (0, "`}`"),
        "sym" | "lower" | "upper" => (1, "a structure (`sym`, `lower` or `upper`)"),
        "REG" => (2, "a register such as `%0`"),
        "IDENT" => (3, name_identifier(place)),
        "INT" => (4, "an integer"),
        ":" => (5, "`:`"),
        "," => (6, "`,`"),
        "[" => (7, "`[`"),
        "]" => (8, "`]`"),
        "(" => (9, "`(`"),
        ")" => (10, "`)`"),
        "=" => (11, "`=`"),
        "tile" => (12, "`tile`"),
        "input" | "output" | "temp" => (13, "a role (`input`, `output` or `temp`)"),
        "in" => (13, "`in`"),
        "range" => (13, "`range`"),
        "{" => (13, "`{`"),
        "NEWLINE" => (14, "a newline"),
        _ => return None,
    })
}

fn name_identifier(place: &Place<'_>) -> &'static str {
    let declaration = place.first == Some(Tok::Matrix);
    match (place.first, place.previous) {
        (_, None) => "a label or an opcode",
        (Some(Tok::Param), _) => "a parameter name",
        (Some(Tok::For), _) => "a loop variable",
        (_, Some(Tok::Matrix)) if declaration => "a matrix name",
        (_, Some(Tok::Colon | Tok::Sym | Tok::Lower | Tok::Upper)) if declaration => {
            "a dtype such as `f64`"
        }
        (_, Some(Tok::Equals)) if declaration => "an initialiser such as `zeros` or `spd(42)`",
        _ if declaration => "an identifier",
        (_, Some(Tok::Equals)) => "an opcode",
        // After an opcode or a `,`: an operand.
        _ => "a tile such as `A[0, 0]`",
    }
}
