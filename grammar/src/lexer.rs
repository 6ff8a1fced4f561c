//! The lexer: source text to `(start, Tok, end)` triples for the parser.
//!
//! The tokens are a logos enum, a single DFA compiled at build time, so
//! lexing costs a few nanoseconds per byte and never allocates: identifiers
//! and register names are slices of the source.
//!
//! [`Lexer`] wraps the logos lexer and is what the parser consumes. It never
//! fails; lexical problems become [`SyntaxError`]s collected on the side and
//! the token stream goes on:
//!
//! * A run of characters that forms no token is reported once as
//!   [`SyntaxError::InvalidToken`] and handed to the parser as a single
//!   [`Tok::Error`], which no rule accepts: the parser then drops the rest of
//!   the line, as for any other syntax error, without reporting it twice.
//! * An integer that overflows `u64` is reported as
//!   [`SyntaxError::IntegerOverflow`] and handed on as `u64::MAX`, so the
//!   line still parses and no second error follows from the same mistake.
//! * The language is line oriented and every line ends with a newline token;
//!   a file whose last line has no `\n` gets an empty-span newline at the end
//!   of the file, so the grammar needs no special case for it.
//!
//! Comments (`;` to the end of the line), spaces and tabs are skipped. A lone
//! `\r` that is not part of `\r\n` is an invalid token.
//!
//! Token payloads never copy the source, and an invalid run is one token
//! however long: a file of a million NUL bytes is one error, not a million.

use crate::ast::Span;
use crate::error::SyntaxError;
use logos::Logos;

/// What went wrong inside one logos token.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LexError {
    /// Characters that start no token.
    #[default]
    Invalid,
    /// A decimal literal larger than `u64::MAX`.
    Overflow,
}

/// A token of the lambdapack assembly language.
#[derive(Logos, Clone, Copy, Debug, PartialEq, Eq)]
#[logos(error = LexError)]
#[logos(skip r"[ \t]+")]
// A comment stops at the newline, so the greedy repetition reads one line.
#[logos(skip(r";[^\n]*", allow_greedy = true))]
pub enum Tok<'src> {
    #[regex(r"\r?\n")]
    Newline,
    #[token(":")]
    Colon,
    #[token(",")]
    Comma,
    #[token("[")]
    LBracket,
    #[token("]")]
    RBracket,
    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token("=")]
    Equals,
    #[token("{")]
    LBrace,
    #[token("}")]
    RBrace,
    #[token("+")]
    Plus,
    #[token("-")]
    Minus,
    #[token("*")]
    Star,
    #[token("/")]
    Slash,
    #[token("^")]
    Caret,

    #[token("matrix")]
    Matrix,
    #[token("sym")]
    Sym,
    #[token("lower")]
    Lower,
    #[token("upper")]
    Upper,
    #[token("tile")]
    Tile,
    #[token("input")]
    Input,
    #[token("output")]
    Output,
    #[token("temp")]
    Temp,
    #[token("param")]
    Param,
    #[token("for")]
    For,
    #[token("in")]
    In,
    #[token("range")]
    Range,

    #[regex(r"[A-Za-z_][A-Za-z0-9_]*")]
    Ident(&'src str),
    #[regex(r"[0-9]+", |lex| lex.slice().parse::<u64>().map_err(|_| LexError::Overflow))]
    Int(u64),
    /// `%NAME`; the payload excludes the `%`.
    #[regex(r"%[A-Za-z0-9_]+", |lex| &lex.slice()[1..])]
    Reg(&'src str),

    /// Characters that form no token (already reported by the lexer).
    Error,
}

impl Tok<'_> {
    /// How a diagnostic names this token when it was found where it does not
    /// belong.
    pub fn describe(&self) -> String {
        match self {
            Tok::Newline => "the end of the line".to_string(),
            Tok::Colon => "`:`".to_string(),
            Tok::Comma => "`,`".to_string(),
            Tok::LBracket => "`[`".to_string(),
            Tok::RBracket => "`]`".to_string(),
            Tok::LParen => "`(`".to_string(),
            Tok::RParen => "`)`".to_string(),
            Tok::Equals => "`=`".to_string(),
            Tok::LBrace => "`{`".to_string(),
            Tok::RBrace => "`}`".to_string(),
            Tok::Plus => "`+`".to_string(),
            Tok::Minus => "`-`".to_string(),
            Tok::Star => "`*`".to_string(),
            Tok::Slash => "`/`".to_string(),
            Tok::Caret => "`^`".to_string(),
            Tok::Matrix => keyword("matrix"),
            Tok::Sym => keyword("sym"),
            Tok::Lower => keyword("lower"),
            Tok::Upper => keyword("upper"),
            Tok::Tile => keyword("tile"),
            Tok::Input => keyword("input"),
            Tok::Output => keyword("output"),
            Tok::Temp => keyword("temp"),
            Tok::Param => keyword("param"),
            Tok::For => keyword("for"),
            Tok::In => keyword("in"),
            Tok::Range => keyword("range"),
            Tok::Ident(name) => format!("the identifier `{}`", clip(name)),
            Tok::Int(value) => format!("the integer `{value}`"),
            Tok::Reg(name) => format!("the register `%{}`", clip(name)),
            Tok::Error => "an invalid token".to_string(),
        }
    }
}

/// At most [`CLIP`] characters of `text`, with an ellipsis and the length
/// when it is longer: a message names the offending token, it does not echo
/// a megabyte of it.
/// Control characters are escaped (`\r`): printed raw, they would move
/// the terminal's cursor instead of showing what the source holds.
pub fn clip(text: &str) -> String {
    let escaped = |s: &str| -> String {
        s.chars()
            .map(|c| match c.is_control() {
                true => c.escape_default().to_string(),
                false => c.to_string(),
            })
            .collect()
    };
    match text.char_indices().nth(CLIP) {
        None => escaped(text),
        Some((cut, _)) => format!("{}… ({} bytes)", escaped(&text[..cut]), text.len()),
    }
}

/// How many characters of one token a message shows.
pub const CLIP: usize = 40;

fn keyword(word: &str) -> String {
    format!("`{word}`, a reserved keyword")
}

/// The parser's input item. The lexer never fails, hence `Infallible`.
pub type Spanned<'src> = Result<(usize, Tok<'src>, usize), std::convert::Infallible>;

/// The token stream the parser consumes, with the lexical errors it found.
pub struct Lexer<'src> {
    inner: logos::Lexer<'src, Tok<'src>>,
    len: usize,
    /// A token read ahead while merging a run of invalid characters.
    pending: Option<(Result<Tok<'src>, LexError>, std::ops::Range<usize>)>,
    /// Whether the last token handed out was a newline (or nothing yet was).
    at_line_start: bool,
    finished: bool,
    errors: Vec<SyntaxError>,
}

impl<'src> Lexer<'src> {
    pub fn new(source: &'src str) -> Lexer<'src> {
        Lexer {
            inner: Tok::lexer(source),
            len: source.len(),
            pending: None,
            at_line_start: true,
            finished: false,
            errors: Vec::new(),
        }
    }

    /// The lexical errors found so far, in source order.
    pub fn into_errors(self) -> Vec<SyntaxError> {
        self.errors
    }

    fn next_raw(&mut self) -> Option<(Result<Tok<'src>, LexError>, std::ops::Range<usize>)> {
        if let Some(pending) = self.pending.take() {
            return Some(pending);
        }
        let tok = self.inner.next()?;
        Some((tok, self.inner.span()))
    }
}

impl<'src> Iterator for Lexer<'src> {
    type Item = Spanned<'src>;

    fn next(&mut self) -> Option<Spanned<'src>> {
        let Some((tok, span)) = self.next_raw() else {
            if self.finished {
                return None;
            }
            self.finished = true;
            if self.at_line_start {
                return None;
            }
            // The last line has no `\n`: end it with an empty newline.
            self.at_line_start = true;
            return Some(Ok((self.len, Tok::Newline, self.len)));
        };
        let tok = match tok {
            Ok(tok) => tok,
            Err(LexError::Overflow) => {
                self.errors.push(SyntaxError::IntegerOverflow {
                    span: Span::new(span.start, span.end),
                });
                Tok::Int(u64::MAX)
            }
            Err(LexError::Invalid) => {
                // Merge adjacent invalid characters into one error.
                let start = span.start;
                let mut end = span.end;
                while let Some((next, next_span)) = self.next_raw() {
                    if next == Err(LexError::Invalid) && next_span.start == end {
                        end = next_span.end;
                    } else {
                        self.pending = Some((next, next_span));
                        break;
                    }
                }
                self.errors.push(SyntaxError::InvalidToken {
                    span: Span::new(start, end),
                });
                self.at_line_start = false;
                return Some(Ok((start, Tok::Error, end)));
            }
        };
        self.at_line_start = tok == Tok::Newline;
        Some(Ok((span.start, tok, span.end)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<(usize, Tok<'_>, usize)> {
        Lexer::new(src).map(|t| t.unwrap()).collect()
    }

    #[test]
    fn keywords_identifiers_registers_and_comments() {
        assert_eq!(
            kinds("matrix sym1 %acc 42 ; note\r\n"),
            vec![
                (0, Tok::Matrix, 6),
                (7, Tok::Ident("sym1"), 11),
                (12, Tok::Reg("acc"), 16),
                (17, Tok::Int(42), 19),
                (27, Tok::Newline, 28),
            ]
        );
    }

    #[test]
    fn loop_and_expression_tokens() {
        assert_eq!(
            kinds("param for in range{}+-*/^ in_ range2"),
            vec![
                (0, Tok::Param, 5),
                (6, Tok::For, 9),
                (10, Tok::In, 12),
                (13, Tok::Range, 18),
                (18, Tok::LBrace, 19),
                (19, Tok::RBrace, 20),
                (20, Tok::Plus, 21),
                (21, Tok::Minus, 22),
                (22, Tok::Star, 23),
                (23, Tok::Slash, 24),
                (24, Tok::Caret, 25),
                (26, Tok::Ident("in_"), 29),
                (30, Tok::Ident("range2"), 36),
                (36, Tok::Newline, 36),
            ]
        );
        assert_eq!(Tok::For.describe(), "`for`, a reserved keyword");
        assert_eq!(Tok::Caret.describe(), "`^`");
    }

    #[test]
    fn long_tokens_are_clipped_in_messages() {
        let long = "x".repeat(100);
        assert_eq!(clip("short"), "short");
        assert_eq!(clip(&long[..CLIP]), long[..CLIP]);
        assert_eq!(
            Tok::Ident(&long).describe(),
            format!("the identifier `{}… (100 bytes)`", &long[..CLIP])
        );
        // Characters, not bytes: the cut stays on a char boundary.
        let wide = "é".repeat(50);
        assert_eq!(clip(&wide), format!("{}… (100 bytes)", "é".repeat(CLIP)));
    }

    #[test]
    fn missing_final_newline_gets_an_empty_one() {
        assert_eq!(
            kinds("RET"),
            vec![(0, Tok::Ident("RET"), 3), (3, Tok::Newline, 3)]
        );
        assert_eq!(kinds(""), vec![]);
        assert_eq!(kinds("; only a comment"), vec![]);
    }

    #[test]
    fn invalid_runs_merge_and_overflow_saturates() {
        let mut lexer = Lexer::new("a @é# 18446744073709551616 b");
        let toks: Vec<_> = lexer.by_ref().map(|t| t.unwrap()).collect();
        assert_eq!(
            toks,
            vec![
                (0, Tok::Ident("a"), 1),
                (2, Tok::Error, 6),
                (7, Tok::Int(u64::MAX), 27),
                (28, Tok::Ident("b"), 29),
                (29, Tok::Newline, 29),
            ]
        );
        assert_eq!(
            lexer.into_errors(),
            vec![
                SyntaxError::InvalidToken {
                    span: Span::new(2, 6)
                },
                SyntaxError::IntegerOverflow {
                    span: Span::new(7, 27)
                },
            ]
        );
    }
}
