//! Span helpers shared by the integration tests: spans are located by the
//! text they cover, so a test reads as the source it parses.
#![allow(dead_code)]

use grammar::ast::{Ident, Int, Reg, Span};

/// The span of the `nth` (0-based) occurrence of `needle` inside the first
/// occurrence of `context` in `src`.
pub fn within(src: &str, context: &str, needle: &str, nth: usize) -> Span {
    let base = src
        .find(context)
        .unwrap_or_else(|| panic!("{context:?} is not in the source"));
    let start = base
        + context
            .match_indices(needle)
            .nth(nth)
            .unwrap_or_else(|| panic!("{needle:?} occurs fewer than {} times", nth + 1))
            .0;
    Span::new(start, start + needle.len())
}

/// The span of the first occurrence of `needle`.
pub fn span(src: &str, needle: &str) -> Span {
    within(src, needle, needle, 0)
}

pub fn ident<'s>(src: &'s str, context: &str, name: &str) -> Ident<'s> {
    let span = within(src, context, name, 0);
    Ident {
        name: &src[span.range()],
        span,
    }
}

pub fn int(src: &str, context: &str, text: &str, nth: usize) -> Int {
    Int {
        value: text.parse().unwrap(),
        span: within(src, context, text, nth),
    }
}

pub fn reg<'s>(src: &'s str, context: &str, text: &str) -> Reg<'s> {
    let span = within(src, context, text, 0);
    Reg {
        name: &src[span.start as usize + 1..span.end as usize],
        span,
    }
}
