//! The lambdapack assembly language: tokens, grammar and a spanned AST.
//!
//! This crate knows nothing about execution: it turns text into an
//! [`ast::Program`] and a list of [`SyntaxError`]s, and never fails outright;
//! the parser recovers at line boundaries so that one run reports several
//! syntax errors. Meaning (opcodes, shapes, dependencies) lives in `lpc`.
//!
//! Pipeline: [`lexer::Lexer`] (logos) feeds `(start, token, end)` triples to
//! the lalrpop parser (`parser.lalrpop`), whose line actions hand each
//! parameter line, declaration, loop header, `}`, label and instruction to a
//! builder that groups instructions into jobs and jobs into loops. Lexical
//! errors, parse errors and builder errors are merged and sorted by
//! position. The language is described in `docs/language.md`.
//!
//! Nothing here recurses on the nesting of the source: the parser's stack is
//! a `Vec`, and the builder refuses expressions deeper than
//! [`ast::MAX_EXPR_DEPTH`] as it builds them (one
//! [`SyntaxError::ExpressionTooDeep`] each), so any tree [`parse`] returns
//! is shallow enough for recursive passes. (The nesting of `for` loops is
//! not limited: a source nesting them tens of thousands deep builds a tree
//! whose drop recurses that deep.)

pub mod ast;
mod builder;
mod error;
pub mod lexer;

lalrpop_util::lalrpop_mod!(
    #[allow(clippy::all, unused_parens)]
    parser
);

pub use error::SyntaxError;

/// Parses a whole `.lp` file.
///
/// Always returns a program: the parts that parsed, with the syntax errors
/// found on the way (empty when the file is well formed), sorted by position.
/// A line with a syntax error is left out of the program; the lines around it
/// are kept. An expression nested more than [`ast::MAX_EXPR_DEPTH`] levels
/// deep is kept as the integer `0` spanning it, with an error.
pub fn parse(source: &str) -> (ast::Program<'_>, Vec<SyntaxError>) {
    if let Some(error) = too_large(source.len()) {
        return (ast::Program::default(), vec![error]);
    }
    let mut lexer = lexer::Lexer::new(source);
    let mut builder = builder::Builder::new(source);
    let result = parser::ProgramParser::new().parse(&mut builder, &mut lexer);
    if let Err(error) = result {
        // Recovery is per line and every line ends in a newline the grammar
        // accepts, so this is not expected; keep the error all the same.
        builder.push_parse_error(error);
    }
    let (program, parse_errors) = builder.finish();
    // Lexical errors first, so that at one position the lexical cause comes
    // before the parse error it led to (the sort is stable).
    let mut errors = lexer.into_errors();
    errors.extend(parse_errors);
    errors.sort_by_key(|e| e.span().start);
    (program, errors)
}

/// Spans are `u32` offsets: a longer source would wrap them.
fn too_large(len: usize) -> Option<SyntaxError> {
    (len > u32::MAX as usize).then_some(SyntaxError::SourceTooLarge { len })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_past_u32_offsets_are_refused() {
        assert_eq!(too_large(u32::MAX as usize), None);
        assert_eq!(
            too_large(u32::MAX as usize + 1),
            Some(SyntaxError::SourceTooLarge {
                len: u32::MAX as usize + 1
            })
        );
    }
}
