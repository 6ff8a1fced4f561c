use crate::ast::Span;

/// A syntax error, carrying the span the diagnostic points at.
///
/// Rendering (codespan) happens in `lpc`, the only crate that prints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyntaxError {
    /// Characters that form no token.
    InvalidToken { span: Span },
    /// A token the grammar does not allow here; `expected` lists what would be
    /// allowed, in a human form (`"a register"`, `"`,`"`, ...).
    UnexpectedToken {
        span: Span,
        found: String,
        expected: Vec<String>,
    },
    /// The file ended inside a construct.
    UnexpectedEof { span: Span, expected: Vec<String> },
    /// An integer literal that does not fit in 64 bits.
    IntegerOverflow { span: Span },
}
