//! Assembles the [`Program`] from the lines the parser recognises.
//!
//! The grammar reduces one line at a time and hands it here; grouping
//! instructions into jobs is done by this builder, not by grammar rules, so
//! that a job of any length costs no parser stack, and so that the rule "an
//! instruction must follow a label" gets its own clear error instead of a
//! generic "unexpected token".
//!
//! A job runs from its label to the next label or declaration; a bad line
//! (a syntax error) does not end it, so one typo does not orphan the rest of
//! the job.

use crate::ast::{Ident, Instr, Job, MatrixDecl, Operand, Program, Reg, Span};
use crate::error::{SyntaxError, from_parse_error};
use crate::lexer::Tok;
use lalrpop_util::ErrorRecovery;

pub struct Builder<'src> {
    source: &'src str,
    program: Program<'src>,
    /// Whether instructions now go to `program.jobs.last()`.
    in_job: bool,
    /// Whether the instruction-outside-a-job error was already given for the
    /// current run of orphan instructions.
    orphan_reported: bool,
    /// The operands of the instruction being parsed, moved into the
    /// instruction (one exact-size allocation) when its line is complete.
    operands: Vec<Operand<'src>>,
    errors: Vec<SyntaxError>,
}

impl<'src> Builder<'src> {
    pub fn new(source: &'src str) -> Builder<'src> {
        Builder {
            source,
            program: Program::default(),
            in_job: false,
            orphan_reported: false,
            operands: Vec::new(),
            errors: Vec::new(),
        }
    }

    pub fn declaration(&mut self, decl: MatrixDecl<'src>) {
        self.program.matrices.push(decl);
        self.in_job = false;
        self.orphan_reported = false;
    }

    /// A label line: `label` is the name, `end` the end of its `:`.
    pub fn label(&mut self, label: Ident<'src>, end: usize) {
        self.trim_last_job();
        self.program.jobs.push(Job {
            label,
            body: Vec::new(),
            span: Span::new(label.span.start as usize, end),
        });
        self.in_job = true;
        self.orphan_reported = false;
    }

    pub fn operand(&mut self, operand: Operand<'src>) {
        self.operands.push(operand);
    }

    /// An instruction starting at `start`, whose operands were handed to
    /// [`Builder::operand`] just before.
    pub fn instruction(&mut self, dest: Option<Reg<'src>>, opcode: Ident<'src>, start: usize) {
        let end = self.operands.last().map_or(opcode.span, |o| o.span()).end;
        let instr = Instr {
            dest,
            opcode,
            operands: self.operands.drain(..).collect(),
            span: Span {
                start: start as u32,
                end,
            },
        };
        match self.program.jobs.last_mut() {
            Some(job) if self.in_job => {
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
        // Operands of the bad line may have been reduced before the error.
        self.operands.clear();
        self.push_parse_error(recovery.error);
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
        if let Some(job) = self.program.jobs.last_mut() {
            job.body.shrink_to_fit();
        }
    }

    pub fn finish(mut self) -> (Program<'src>, Vec<SyntaxError>) {
        self.trim_last_job();
        (self.program, self.errors)
    }
}

/// lalrpop's type syntax has no arrays.
pub type IntPair = [crate::ast::Int; 2];
