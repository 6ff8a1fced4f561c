//! Assembles the [`Program`] from the lines the parser recognises.
//!
//! The grammar reduces one line at a time and hands it here; grouping
//! instructions into jobs and jobs into loops is done by this builder, not
//! by grammar rules, so that a job or loop of any length costs no parser
//! stack, and so that the rules "an instruction must follow a label" and
//! "braces balance" get their own clear errors instead of a generic
//! "unexpected token".
//!
//! A job runs from its label to the next label, declaration, loop header or
//! closing brace; a bad line (a syntax error) does not end it, so one typo
//! does not orphan the rest of the job. Open loops are a stack of frames;
//! `}` closes the innermost, and the end of the file closes what is left
//! (with an error per unclosed loop).
//!
//! Expressions are built here too, node by node as the grammar reduces them,
//! so that the nesting limit ([`MAX_EXPR_DEPTH`]) holds for every tree that
//! exists at any moment, including the ones a syntax error later throws
//! away: no tree ever grows more than one level past the limit, so nothing
//! (not `Drop`, not a later pass) can recurse on a depth taken from the
//! source. See [`Builder::limit`].

use crate::ast::{
    BinOp, Binary, Call, Expr, Ident, Instr, Int, Item, Job, Loop, MAX_EXPR_DEPTH, MAX_LOOP_DEPTH,
    MatrixDecl, Operand, Param, Program, Reg, Span,
};
use crate::error::{SyntaxError, from_parse_error};
use crate::lexer::Tok;
use lalrpop_util::ErrorRecovery;
use std::collections::HashSet;

/// The word after a label's colon that introduces its priority.
const PRIORITY: &str = "priority";

/// A loop whose `}` has not been seen yet.
struct Frame<'src> {
    header: Loop<'src>,
}

pub struct Builder<'src> {
    source: &'src str,
    program: Program<'src>,
    frames: Vec<Frame<'src>>,
    /// Loop headers refused for [`MAX_LOOP_DEPTH`] whose `}` is still to
    /// come: those braces close nothing.
    refused: usize,
    /// Whether instructions now go to the last item of the innermost open
    /// body (a job).
    in_job: bool,
    /// Whether the instruction-outside-a-job error was already given for the
    /// current run of orphan instructions.
    orphan_reported: bool,
    /// The operands of the instruction being parsed, moved into the
    /// instruction (one exact-size allocation) when its line is complete.
    operands: Vec<Operand<'src>>,
    /// The result registers of the instruction being parsed, likewise.
    dests: Vec<Reg<'src>>,
    /// The spans of the `0` placeholders standing for expressions deeper than
    /// [`MAX_EXPR_DEPTH`] that no line has received yet (see
    /// [`Builder::limit`]). A placeholder's span covers operators, so it is
    /// never the span of a real integer literal.
    too_deep: HashSet<Span>,
    errors: Vec<SyntaxError>,
}

impl<'src> Builder<'src> {
    pub fn new(source: &'src str) -> Builder<'src> {
        Builder {
            source,
            program: Program::default(),
            frames: Vec::new(),
            refused: 0,
            in_job: false,
            orphan_reported: false,
            operands: Vec::new(),
            dests: Vec::new(),
            too_deep: HashSet::new(),
            errors: Vec::new(),
        }
    }

    /// `-e`, spanning `l..r`.
    pub fn neg(&mut self, e: Expr<'src>, l: usize, r: usize) -> Expr<'src> {
        self.limit(Expr::Neg(Box::new(e), Span::new(l, r)))
    }

    /// `lhs op rhs`, spanning `l..r`.
    pub fn binary(
        &mut self,
        op: BinOp,
        lhs: Expr<'src>,
        rhs: Expr<'src>,
        l: usize,
        r: usize,
    ) -> Expr<'src> {
        self.limit(Expr::Binary(Box::new(Binary {
            op,
            lhs,
            rhs,
            span: Span::new(l, r),
        })))
    }

    /// `name(args)`, spanning `l..r`.
    pub fn call(
        &mut self,
        name: Ident<'src>,
        args: Vec<Expr<'src>>,
        l: usize,
        r: usize,
    ) -> Expr<'src> {
        self.limit(Expr::Call(Box::new(Call {
            name,
            args,
            span: Span::new(l, r),
        })))
    }

    /// Enforces [`MAX_EXPR_DEPTH`] on a node just built from operands that
    /// obey it (every node goes through here, innermost first).
    ///
    /// A node deeper than the limit, or built on a placeholder of a deeper
    /// one, is replaced by a placeholder: the integer `0` with the node's
    /// span, remembered in `too_deep`. The placeholder is a leaf, so a
    /// source nesting a million levels builds nodes at most one level past
    /// the limit at any time, and a placeholder swallows the levels above
    /// it: the outermost expression ends up as one placeholder, reported
    /// once when a line receives it ([`Builder::received`]).
    ///
    /// Measuring the depth walks the node's subtree; a node is walked once
    /// per ancestor and has at most `MAX_EXPR_DEPTH` of them, so the cost
    /// stays linear in the source.
    fn limit(&mut self, node: Expr<'src>) -> Expr<'src> {
        let mut placeholder_below = false;
        if !self.too_deep.is_empty() {
            for child in children(&node) {
                if let Expr::Int(i) = child
                    && self.too_deep.remove(&i.span)
                {
                    placeholder_below = true;
                }
            }
        }
        if !placeholder_below && depth(&node) <= MAX_EXPR_DEPTH {
            return node;
        }
        let span = node.span();
        dismantle(node);
        self.too_deep.insert(span);
        Expr::Int(Int { value: 0, span })
    }

    /// Called on every expression a line hands over (the roots: a
    /// placeholder is never below another node): reports a placeholder as
    /// [`SyntaxError::ExpressionTooDeep`] and leaves it in the tree.
    fn received(&mut self, expr: &Expr<'src>) {
        if let Expr::Int(i) = expr
            && !self.too_deep.is_empty()
            && self.too_deep.remove(&i.span)
        {
            self.errors
                .push(SyntaxError::ExpressionTooDeep { span: i.span });
        }
    }

    /// The body that new jobs and loops go to: the innermost open loop's, or
    /// the program's top level.
    fn body(&mut self) -> &mut Vec<Item<'src>> {
        match self.frames.last_mut() {
            Some(frame) => &mut frame.header.body,
            None => &mut self.program.items,
        }
    }

    /// Ends the current job (if any) before a line that is not part of it.
    fn end_job(&mut self) {
        self.trim_last_job();
        self.in_job = false;
        self.orphan_reported = false;
    }

    /// Declarations belong at the top level; inside a loop they are an
    /// error, but are still recorded so that the rest of the file checks.
    fn top_level(&mut self, span: Span) {
        if let Some(frame) = self.frames.last() {
            self.errors.push(SyntaxError::DeclarationInLoop {
                span,
                loop_header: frame.header.span,
            });
        }
    }

    pub fn declaration(&mut self, decl: MatrixDecl<'src>) {
        let init_args = decl.init.iter().flat_map(|i| &i.args);
        for e in decl
            .versions
            .iter()
            .chain(&decl.shape)
            .chain(&decl.tile)
            .chain(init_args)
        {
            self.received(e);
        }
        self.top_level(decl.span);
        self.program.matrices.push(decl);
        self.end_job();
    }

    /// A `param` line: its parameters, and the span of the line from `param`
    /// to its last token.
    pub fn params(&mut self, params: Vec<Param<'src>>, span: Span) {
        for e in params.iter().filter_map(|p| p.default.as_ref()) {
            self.received(e);
        }
        self.top_level(span);
        self.program.params.extend(params);
        self.end_job();
    }

    /// A label line: `label` is the name, `index` what follows it in
    /// brackets (if anything), `end` the end of its `:`.
    pub fn label(
        &mut self,
        label: Ident<'src>,
        index: Vec<Expr<'src>>,
        priority: Option<(Ident<'src>, Expr<'src>)>,
        end: usize,
    ) {
        for e in index.iter().chain(priority.as_ref().map(|(_, e)| e)) {
            self.received(e);
        }
        let priority = match priority {
            Some((word, e)) if word.name == PRIORITY => Some(e),
            Some((word, _)) => {
                self.errors.push(SyntaxError::UnexpectedToken {
                    span: word.span,
                    found: format!("the identifier `{}`", word.name),
                    expected: vec![format!("`{PRIORITY}`"), "a newline".to_string()],
                });
                None
            }
            None => None,
        };
        self.trim_last_job();
        let job = Job {
            label,
            index,
            priority,
            body: Vec::new(),
            span: Span::new(label.span.start as usize, end),
        };
        self.body().push(Item::Job(job));
        self.in_job = true;
        self.orphan_reported = false;
    }

    /// `for VAR in range(ARGS) {`: `range(END)`, `range(START, END)` or
    /// `range(START, END, STEP)`.
    pub fn open_loop(&mut self, var: Ident<'src>, args: Vec<Expr<'src>>, span: Span) {
        for e in &args {
            self.received(e);
        }
        let count = args.len();
        let mut args = args.into_iter();
        let (start, end, step) = match count {
            1 => (None, args.next(), None),
            2 | 3 => (args.next(), args.next(), args.next()),
            _ => {
                self.errors
                    .push(SyntaxError::RangeArity { span, found: count });
                // Kept, with an empty range (`push_loop`).
                (None, None, None)
            }
        };
        self.push_loop(var, start, end, step, span);
    }

    /// Opens a loop; one without an `end` has an empty range (a header
    /// whose range is unusable: its body is still checked and its `}`
    /// still matches).
    fn push_loop(
        &mut self,
        var: Ident<'src>,
        start: Option<Expr<'src>>,
        end: Option<Expr<'src>>,
        step: Option<Expr<'src>>,
        span: Span,
    ) {
        self.end_job();
        if self.frames.len() >= MAX_LOOP_DEPTH {
            self.errors.push(SyntaxError::LoopsTooDeep { span });
            self.refused += 1;
            return;
        }
        let header = Loop {
            var,
            start,
            end: end.unwrap_or(Expr::Int(Int { value: 0, span })),
            step,
            body: Vec::new(),
            span,
            close: span,
        };
        self.frames.push(Frame { header });
    }

    /// A `}` line.
    pub fn close_loop(&mut self, span: Span) {
        self.end_job();
        if self.refused > 0 {
            self.refused -= 1;
            return;
        }
        match self.frames.pop() {
            Some(frame) => {
                let mut finished = frame.header;
                finished.close = span;
                self.body().push(Item::Loop(finished));
            }
            None => self.errors.push(SyntaxError::UnmatchedBrace { span }),
        }
    }

    pub fn operand(&mut self, operand: Operand<'src>) {
        self.operands.push(operand);
    }

    /// A result register of the instruction being parsed.
    pub fn dest(&mut self, reg: Reg<'src>) {
        self.dests.push(reg);
    }

    /// An instruction starting at `start`, whose operands were handed to
    /// [`Builder::operand`] just before.
    pub fn instruction(&mut self, opcode: Ident<'src>, start: usize) {
        let end = self.operands.last().map_or(opcode.span, |o| o.span()).end;
        let operands: Vec<Operand<'src>> = self.operands.drain(..).collect();
        let dests: Vec<Reg<'src>> = self.dests.drain(..).collect();
        for operand in &operands {
            if let Operand::Tile(tile) = operand {
                for e in &tile.index {
                    self.received(e);
                }
            }
        }
        let instr = Instr {
            dests,
            opcode,
            operands,
            span: Span {
                start: start as u32,
                end,
            },
        };
        let in_job = self.in_job;
        match self.body().last_mut() {
            Some(Item::Job(job)) if in_job => {
                job.span = job.span.to(instr.span);
                job.body.push(instr);
            }
            _ => {
                if !self.orphan_reported {
                    self.errors
                        .push(SyntaxError::InstructionOutsideJob { span: instr.span });
                    self.orphan_reported = true;
                }
            }
        }
    }

    pub fn syntax_error(
        &mut self,
        recovery: ErrorRecovery<usize, Tok<'src>, std::convert::Infallible>,
    ) {
        // Operands and results of the bad line may have been reduced before
        // the error.
        self.operands.clear();
        self.dests.clear();
        let start = error_line_start(self.source, &recovery.error);
        let end = self.source[start..]
            .find('\n')
            .map_or(self.source.len(), |i| start + i);
        self.recover_declaration(start, &self.source[start..end]);
        self.push_parse_error(recovery.error);
    }

    /// Keeps what a line that failed to parse would have declared: its
    /// names (so that their uses are not reported as undefined, one error
    /// per use), and for a loop header ending in `{`, a loop with an empty
    /// range (so that its `}` matches and its body is still checked, as
    /// for a range with too many arguments).
    fn recover_declaration(&mut self, start: usize, line: &'src str) {
        let tokens: Vec<(Tok<'src>, Span)> = logos::Logos::lexer(line)
            .spanned()
            // Characters that form no token still count as a token: `@for`
            // is no loop header.
            .map(|(tok, r)| {
                (
                    tok.unwrap_or(Tok::Error),
                    Span::new(start + r.start, start + r.end),
                )
            })
            .filter(|(tok, _)| *tok != Tok::Newline)
            .collect();
        match tokens.first().map(|(tok, _)| *tok) {
            Some(Tok::Param) => {
                let mut depth = 0i32;
                let mut at_name = true;
                for (tok, _) in &tokens[1..] {
                    match tok {
                        Tok::Ident(name) if at_name && depth == 0 => {
                            self.program.unparsed_names.push(name)
                        }
                        Tok::LParen | Tok::LBracket => depth += 1,
                        Tok::RParen | Tok::RBracket => depth -= 1,
                        _ => {}
                    }
                    at_name = *tok == Tok::Comma && depth == 0;
                }
            }
            Some(Tok::Matrix) => {
                if let Some((Tok::Ident(name), _)) = tokens.get(1) {
                    self.program.unparsed_names.push(name);
                }
            }
            Some(Tok::For) if tokens.last().map(|(tok, _)| *tok) == Some(Tok::LBrace) => {
                let span = tokens[0].1.to(tokens[tokens.len() - 1].1);
                match tokens.get(1) {
                    Some(&(Tok::Ident(name), var_span)) => {
                        self.program.unparsed_names.push(name);
                        let var = Ident {
                            name,
                            span: var_span,
                        };
                        self.push_loop(var, None, None, None, span);
                    }
                    // No variable to bind: the braces still balance.
                    _ => {
                        self.end_job();
                        self.refused += 1;
                    }
                }
            }
            _ => {}
        }
    }

    pub fn push_parse_error(
        &mut self,
        error: lalrpop_util::ParseError<usize, Tok<'src>, std::convert::Infallible>,
    ) {
        if let Some(error) = from_parse_error(self.source, error) {
            self.errors.push(error);
        }
    }

    /// Gives back the growth slack of the last job's body: a generated
    /// program has hundreds of thousands of 5-6 instruction jobs, and a body
    /// grown to capacity 8 would waste a quarter of the tree's memory.
    fn trim_last_job(&mut self) {
        if let Some(Item::Job(job)) = self.body().last_mut() {
            job.body.shrink_to_fit();
        }
    }

    pub fn finish(mut self) -> (Program<'src>, Vec<SyntaxError>) {
        self.trim_last_job();
        let eof = Span::new(self.source.len(), self.source.len());
        while let Some(frame) = self.frames.pop() {
            self.errors.push(SyntaxError::UnclosedLoop {
                span: frame.header.span,
            });
            let mut finished = frame.header;
            finished.close = eof;
            self.body().push(Item::Loop(finished));
        }
        (self.program, self.errors)
    }
}

/// The operands of an expression node, left to right.
fn children<'a, 'src>(e: &'a Expr<'src>) -> impl Iterator<Item = &'a Expr<'src>> {
    let (first, rest): (Option<&'a Expr<'src>>, &'a [Expr<'src>]) = match e {
        Expr::Int(_) | Expr::Name(_) => (None, &[]),
        Expr::Neg(inner, _) => (Some(inner), &[]),
        Expr::Binary(b) => (Some(&b.lhs), std::slice::from_ref(&b.rhs)),
        Expr::Call(c) => (None, &c.args),
    };
    first.into_iter().chain(rest)
}

/// The depth of an expression, a leaf being 1 (see [`MAX_EXPR_DEPTH`]),
/// measured with an explicit stack.
fn depth(e: &Expr<'_>) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(e, 1)];
    while let Some((e, level)) = stack.pop() {
        deepest = deepest.max(level);
        stack.extend(children(e).map(|c| (c, level + 1)));
    }
    deepest
}

/// Drops an expression node by node with an explicit stack: each node's
/// operands are moved out of their boxes before the node is freed, so the
/// (recursive) drop glue only ever sees leaves, whatever the depth.
fn dismantle(e: Expr<'_>) {
    let mut stack = vec![e];
    while let Some(e) = stack.pop() {
        match e {
            Expr::Int(_) | Expr::Name(_) => {}
            Expr::Neg(inner, _) => stack.push(*inner),
            Expr::Binary(b) => {
                let Binary { lhs, rhs, .. } = *b;
                stack.push(lhs);
                stack.push(rhs);
            }
            Expr::Call(c) => stack.extend(c.args),
        }
    }
}

/// Where the line of a parse error starts. An error at a line's end is
/// found at its newline, which belongs to the line it ends.
fn error_line_start<T>(
    source: &str,
    error: &lalrpop_util::ParseError<usize, T, std::convert::Infallible>,
) -> usize {
    use lalrpop_util::ParseError as E;
    let at = match error {
        E::InvalidToken { location } | E::UnrecognizedEof { location, .. } => *location,
        E::UnrecognizedToken { token, .. } | E::ExtraToken { token } => token.0,
        E::User { error } => match *error {},
    };
    let at = at.min(source.len());
    source[..at].rfind('\n').map_or(0, |i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(value: u64) -> Expr<'static> {
        Expr::Int(Int {
            value,
            span: Span::new(0, 1),
        })
    }

    /// `levels` nested negations of `1`, built bottom-up without recursion.
    fn negations(levels: usize) -> Expr<'static> {
        let mut e = leaf(1);
        for _ in 1..levels {
            e = Expr::Neg(Box::new(e), Span::new(0, 1));
        }
        e
    }

    #[test]
    fn depth_counts_levels_not_nodes() {
        assert_eq!(depth(&leaf(1)), 1);
        assert_eq!(depth(&negations(5)), 5);
        let sum = Expr::Binary(Box::new(Binary {
            op: BinOp::Add,
            lhs: negations(3),
            rhs: Expr::Call(Box::new(Call {
                name: Ident {
                    name: "f",
                    span: Span::new(0, 1),
                },
                args: vec![leaf(1), negations(4), leaf(2)],
                span: Span::new(0, 1),
            })),
            span: Span::new(0, 1),
        }));
        assert_eq!(depth(&sum), 6);
        assert_eq!(children(&sum).count(), 2);
    }

    #[test]
    fn dismantling_a_deep_tree_does_not_recurse() {
        // A million levels would overflow any stack if dropped recursively.
        let deep = negations(1_000_000);
        std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || dismantle(deep))
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn the_help_states_the_limit() {
        let help = SyntaxError::ExpressionTooDeep {
            span: Span::default(),
        }
        .help()
        .unwrap();
        assert!(
            help.starts_with(&format!("at most {MAX_EXPR_DEPTH} levels of nesting:")),
            "{help}"
        );
    }

    #[test]
    fn a_placeholder_swallows_the_levels_above_it() {
        let mut builder = Builder::new("");
        let mut e = leaf(1);
        for level in 2..=MAX_EXPR_DEPTH + 10 {
            e = builder.neg(e, 0, level);
            if level <= MAX_EXPR_DEPTH {
                assert!(matches!(e, Expr::Neg(..)));
            } else {
                // The placeholder spans the outermost node built so far.
                assert_eq!(
                    e,
                    Expr::Int(Int {
                        value: 0,
                        span: Span::new(0, level)
                    })
                );
                assert_eq!(builder.too_deep.len(), 1);
            }
        }
        builder.received(&e);
        assert!(builder.too_deep.is_empty());
        assert_eq!(
            builder.errors,
            vec![SyntaxError::ExpressionTooDeep {
                span: Span::new(0, MAX_EXPR_DEPTH + 10)
            }]
        );
    }
}
