//! Span helpers shared by the integration tests: spans are located by the
//! text they cover, so a test reads as the source it parses.
#![allow(dead_code)]

use grammar::ast::{BinOp, Binary, Call, Expr, Ident, Int, Item, Job, Loop, Program, Reg, Span};

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

/// Like [`within`], counting only whole-word occurrences of `needle`: not
/// preceded or followed by a letter, digit, `_` or `%`. The `k` of
/// `S[k, k1]` is occurrence 0 and there is no occurrence 1; the `0` of `%0`
/// is no occurrence.
pub fn word(src: &str, context: &str, needle: &str, nth: usize) -> Span {
    let base = src
        .find(context)
        .unwrap_or_else(|| panic!("{context:?} is not in the source"));
    let in_word =
        |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || "_%".contains(c));
    let start = base
        + context
            .match_indices(needle)
            .filter(|&(i, _)| {
                !in_word(context[..i].chars().next_back())
                    && !in_word(context[i + needle.len()..].chars().next())
            })
            .nth(nth)
            .unwrap_or_else(|| panic!("{needle:?} occurs fewer than {} times as a word", nth + 1))
            .0;
    Span::new(start, start + needle.len())
}

pub fn ident<'s>(src: &'s str, context: &str, name: &str) -> Ident<'s> {
    let span = within(src, context, name, 0);
    Ident {
        name: &src[span.range()],
        span,
    }
}

/// The `nth` whole-word occurrence of `name` in `context`, as an identifier.
pub fn ident_word<'s>(src: &'s str, context: &str, name: &str, nth: usize) -> Ident<'s> {
    let span = word(src, context, name, nth);
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

/// The integer expression at the `nth` whole-word occurrence of `text`.
pub fn num<'s>(src: &'s str, context: &str, text: &str, nth: usize) -> Expr<'s> {
    Expr::Int(Int {
        value: text.parse().unwrap(),
        span: word(src, context, text, nth),
    })
}

/// The name expression at the `nth` whole-word occurrence of `name`.
pub fn name<'s>(src: &'s str, context: &str, name: &str, nth: usize) -> Expr<'s> {
    Expr::Name(ident_word(src, context, name, nth))
}

/// `lhs op rhs`, spanning from the start of `lhs` to the end of `rhs` (use
/// [`binary_spanning`] when parentheses are around an operand).
pub fn binary<'s>(op: BinOp, lhs: Expr<'s>, rhs: Expr<'s>) -> Expr<'s> {
    let span = lhs.span().to(rhs.span());
    binary_spanning(op, lhs, rhs, span)
}

pub fn binary_spanning<'s>(op: BinOp, lhs: Expr<'s>, rhs: Expr<'s>, span: Span) -> Expr<'s> {
    Expr::Binary(Box::new(Binary { op, lhs, rhs, span }))
}

/// `-e`, spanning `span`.
pub fn neg(e: Expr<'_>, span: Span) -> Expr<'_> {
    Expr::Neg(Box::new(e), span)
}

pub fn call<'s>(name: Ident<'s>, args: Vec<Expr<'s>>, span: Span) -> Expr<'s> {
    Expr::Call(Box::new(Call { name, args, span }))
}

/// The value of an integer expression (panics on anything else).
pub fn value(e: &Expr<'_>) -> u64 {
    match e {
        Expr::Int(i) => i.value,
        other => panic!("expected an integer, found {other:?}"),
    }
}

/// The job of an item (panics on a loop).
pub fn job<'a, 's>(item: &'a Item<'s>) -> &'a Job<'s> {
    match item {
        Item::Job(job) => job,
        Item::Loop(l) => panic!("expected a job, found the loop at {:?}", l.span),
    }
}

/// The loop of an item (panics on a job).
pub fn lp<'a, 's>(item: &'a Item<'s>) -> &'a Loop<'s> {
    match item {
        Item::Loop(l) => l,
        Item::Job(job) => panic!("expected a loop, found the job {}", job.label.name),
    }
}

/// The shape of a program's items: labels, and `for VAR { ... }` for loops,
/// e.g. `["a", "for k { b, for i { c } }"]`.
pub fn outline(program: &Program<'_>) -> Vec<String> {
    fn describe(item: &Item<'_>) -> String {
        match item {
            Item::Job(job) => job.label.name.to_string(),
            Item::Loop(l) => {
                let body: Vec<String> = l.body.iter().map(describe).collect();
                if body.is_empty() {
                    format!("for {} {{}}", l.var.name)
                } else {
                    format!("for {} {{ {} }}", l.var.name, body.join(", "))
                }
            }
        }
    }
    program.items.iter().map(describe).collect()
}
