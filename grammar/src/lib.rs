//! The lambdapack assembly language: tokens, grammar and a spanned AST.
//!
//! This crate knows nothing about execution: it turns text into an
//! [`ast::Program`] and a list of [`SyntaxError`]s, and never fails outright;
//! the parser recovers at line boundaries so that one run reports several
//! syntax errors. Meaning (opcodes, shapes, dependencies) lives in `lpc`.

pub mod ast;
mod error;
pub mod lexer;

pub use error::SyntaxError;

/// Parses a whole `.lp` file.
///
/// Always returns a program: the parts that parsed, with the syntax errors
/// found on the way (empty when the file is well formed).
pub fn parse(source: &str) -> (ast::Program<'_>, Vec<SyntaxError>) {
    let _ = source;
    unimplemented!("the lalrpop parser lands with the grammar work")
}
