//! One job body: registers, opcodes and operands, checked once per family
//! (whatever its loops), and lowered to IR instructions with the spans of
//! every piece, so that later checks (shapes, tiles) can point at the text.
//!
//! * Registers are job-local. The body is walked twice: once to number its
//!   definitions (so a use before a later definition can point at it), once
//!   to check every instruction in order. The map of all definitions across
//!   jobs, needed only to explain "register from another job", is built
//!   lazily on the first such error.
//! * A kernel operand may be a tile: it is loaded first, into a register of
//!   its own (numbered after the named ones), as if by an `S3_LOAD`.
//! * An instruction with an error is not lowered; a register it defines is
//!   not reported as unused (the error is enough).

use super::decl::Matrix;
use super::scope::Scope;
use crate::error::CheckError;
use grammar::ast::{self, Operand, Span};
use lp_program::{Family, Instr, Role, TileRef};
use lp_std::Kernel;
use std::collections::HashMap;
use std::collections::hash_map::Entry;

/// Where each piece of one IR instruction came from.
#[derive(Clone, Debug, Default)]
pub struct InstrSpans {
    /// The instruction; for an implicit load, its tile operand.
    pub span: Span,
    pub opcode: Span,
    /// Kernel arguments: each operand's text; a write: the tile, then the
    /// register.
    pub operands: Vec<Span>,
    /// Kernel arguments: where each operand's value was defined.
    pub defs: Vec<Option<Span>>,
    pub tile: Option<TileSpans>,
}

/// A tile reference's text, and for each index component the spans of its
/// IR nodes in pre-order.
#[derive(Clone, Debug, Default)]
pub struct TileSpans {
    pub span: Span,
    pub components: Vec<Vec<Span>>,
}

#[derive(Clone, Debug, Default)]
pub struct FamilySpans {
    pub label: Span,
    pub instrs: Vec<InstrSpans>,
    /// The expression after `priority`.
    pub priority: Option<Span>,
}

/// One register of the job being checked.
struct Reg {
    index: u32,
    /// Index of the defining instruction in the job.
    def_instr: u32,
    span: Span,
    used: bool,
    lowered: bool,
}

/// What checking a job needs from the program around it.
pub struct JobContext<'a, 'src> {
    pub program: &'a ast::Program<'src>,
    pub matrices: &'a [Matrix<'a, 'src>],
    pub index: &'a HashMap<&'src str, u32>,
    /// Register name -> (job label, first definition), built on first need.
    pub other_job_defs: Option<HashMap<&'src str, (&'src str, Span)>>,
    /// 1-based line of each byte offset's line start, for IR line numbers.
    pub line_starts: &'a [u32],
}

impl<'src> JobContext<'_, 'src> {
    fn line(&self, span: Span) -> u32 {
        self.line_starts.partition_point(|&s| s <= span.start) as u32
    }
}

/// Checks `job` (whose enclosing loops are `loops`) and lowers it.
pub fn check_job<'src>(
    cx: &mut JobContext<'_, 'src>,
    scope: &Scope<'src>,
    job: &ast::Job<'src>,
    loops: &[u32],
    errors: &mut Vec<CheckError>,
) -> (Family, FamilySpans) {
    let (mut regs, order) = number_definitions(job, errors);
    let mut out = Lowering {
        instrs: Vec::with_capacity(job.body.len()),
        lines: Vec::with_capacity(job.body.len()),
        spans: Vec::with_capacity(job.body.len()),
        next_reg: order.len() as u32,
    };
    // Pass 2: check every instruction in order.
    for (n, instr) in job.body.iter().enumerate() {
        check_instruction(cx, scope, job, n, instr, &mut regs, &mut out, errors);
    }
    report_unused(&regs, &order, errors);
    // Over the same names as the job's indices: parameters and loop variables.
    let priority = job.priority.as_ref().and_then(|e| {
        scope
            .lower(e, &mut Vec::new())
            .map_err(|err| errors.push(*err))
            .ok()
    });
    let family = Family {
        name: String::new(),
        loops: loops.to_vec(),
        instrs: out.instrs,
        num_regs: out.next_reg,
        line: cx.line(job.label.span),
        lines: out.lines,
        priority,
    };
    (
        family,
        FamilySpans {
            label: job.label.span,
            instrs: out.spans,
            priority: job.priority.as_ref().map(|e| e.span()),
        },
    )
}

/// Checks and lowers instruction `n` of `job`, marking the registers it
/// names as used and those it defines as lowered.
#[allow(clippy::too_many_arguments)]
fn check_instruction<'src>(
    cx: &mut JobContext<'_, 'src>,
    scope: &Scope<'src>,
    job: &ast::Job<'src>,
    n: usize,
    instr: &ast::Instr<'src>,
    regs: &mut HashMap<&'src str, Reg>,
    out: &mut Lowering,
    errors: &mut Vec<CheckError>,
) {
    // Every register named counts as used, whatever errors the
    // instruction has: an unused-register warning would only echo them.
    for op in &instr.operands {
        if let Operand::Reg(r) = op
            && let Some(reg) = regs.get_mut(r.name)
        {
            reg.used = true;
        }
    }
    // The registers this instruction defines, where it is their first
    // definition.
    let dests: Vec<Option<u32>> = instr
        .dests
        .iter()
        .map(|d| {
            let r = &regs[d.name];
            (r.span == d.span).then_some(r.index)
        })
        .collect();
    let line = cx.line(instr.span);
    let defines = match instr.opcode.name {
        "S3_LOAD" => load(cx, scope, instr, &dests, line, out, errors),
        // A write defines no register, whatever it claims.
        "S3_WRITE" => {
            write(cx, scope, job, instr, n, regs, line, out, errors);
            false
        }
        "RET" => {
            ret(job, instr, n, errors);
            false
        }
        name => match Kernel::from_name(name) {
            Some(kernel) => apply(
                cx, scope, job, instr, n, kernel, &dests, regs, line, out, errors,
            ),
            None => {
                errors.push(CheckError::UnknownOpcode {
                    span: instr.opcode.span,
                    found: grammar::lexer::clip(name),
                });
                false
            }
        },
    };
    if defines {
        for d in &instr.dests {
            if let Some(r) = regs.get_mut(d.name)
                && r.span == d.span
            {
                r.lowered = true;
            }
        }
    }
}

/// Warns of registers defined and never used. Registers whose definition
/// failed to check are not reported: the error already says what is wrong
/// with them; nor are those named `%_...`, results a job does not need.
fn report_unused(regs: &HashMap<&str, Reg>, order: &[&str], errors: &mut Vec<CheckError>) {
    for name in order {
        let reg = &regs[name];
        if !reg.used && reg.lowered && !name.starts_with('_') {
            errors.push(CheckError::UnusedRegister {
                span: reg.span,
                name: name.to_string(),
            });
        }
    }
}

/// Pass 1 of [`check_job`]: numbers each register by its first definition
/// (in order, so lowered register numbers follow the source).
fn number_definitions<'src>(
    job: &ast::Job<'src>,
    errors: &mut Vec<CheckError>,
) -> (HashMap<&'src str, Reg>, Vec<&'src str>) {
    let mut regs: HashMap<&'src str, Reg> = HashMap::new();
    let mut order: Vec<&'src str> = Vec::new();
    for (n, instr) in job.body.iter().enumerate() {
        for dest in &instr.dests {
            match regs.entry(dest.name) {
                Entry::Occupied(first) => errors.push(CheckError::RegisterRedefined {
                    span: dest.span,
                    first: first.get().span,
                    name: dest.name.to_string(),
                }),
                Entry::Vacant(slot) => {
                    slot.insert(Reg {
                        index: order.len() as u32,
                        def_instr: n as u32,
                        span: dest.span,
                        used: false,
                        lowered: false,
                    });
                    order.push(dest.name);
                }
            }
        }
    }
    (regs, order)
}

/// `RET`: no destination, no operands, and only as the last instruction.
fn ret(job: &ast::Job<'_>, instr: &ast::Instr<'_>, n: usize, errors: &mut Vec<CheckError>) {
    unexpected_dest(instr, errors);
    if !instr.operands.is_empty() {
        operand_count(instr, "0", errors);
    }
    let last = job.body.len() - 1;
    if n != last {
        errors.push(CheckError::RetNotLast {
            span: instr.opcode.span,
            last: job.body[last].span,
        });
    }
}

struct Lowering {
    instrs: Vec<Instr>,
    lines: Vec<u32>,
    spans: Vec<InstrSpans>,
    next_reg: u32,
}

impl Lowering {
    fn push(&mut self, instr: Instr, line: u32, spans: InstrSpans) {
        self.instrs.push(instr);
        self.lines.push(line);
        self.spans.push(spans);
    }
}

/// Resolves a tile reference: the matrix, the index count, and each index
/// lowered with the names in scope.
fn tile_ref(
    cx: &JobContext<'_, '_>,
    scope: &Scope<'_>,
    t: &ast::TileRef<'_>,
    errors: &mut Vec<CheckError>,
) -> Option<(TileRef, TileSpans)> {
    let Some(&m) = cx.index.get(t.matrix.name) else {
        errors.push(CheckError::UnknownMatrix {
            span: t.matrix.span,
            name: grammar::lexer::clip(t.matrix.name),
        });
        return None;
    };
    let matrix = &cx.matrices[m as usize];
    let expected = matrix.decl.versions.len() + 2;
    if t.index.len() != expected {
        errors.push(CheckError::IndexCount {
            span: t.span,
            matrix: matrix.name().to_string(),
            expected,
            found: t.index.len(),
            decl: matrix.decl.span,
        });
        return None;
    }
    let mut index = Vec::with_capacity(expected);
    // Node spans point the solver's complaints at a piece of an index; a
    // job outside any loop has constant indices the solver never rejects,
    // so a big flat program does not pay for them.
    let in_loop = scope.depth() > 0;
    let mut components = Vec::with_capacity(if in_loop { expected } else { 0 });
    let mut ok = true;
    let mut spans = Vec::new();
    for e in &t.index {
        spans.clear();
        match scope.lower(e, &mut spans) {
            Ok(ir) => index.push(ir),
            Err(err) => {
                errors.push(*err);
                ok = false;
            }
        }
        if in_loop {
            components.push(spans.clone());
        }
    }
    // References to an invalid declaration are not checked further.
    (ok && matrix.info.is_some()).then_some((
        TileRef { matrix: m, index },
        TileSpans {
            span: t.span,
            components,
        },
    ))
}

fn load(
    cx: &JobContext<'_, '_>,
    scope: &Scope<'_>,
    instr: &ast::Instr<'_>,
    dests: &[Option<u32>],
    line: u32,
    out: &mut Lowering,
    errors: &mut Vec<CheckError>,
) -> bool {
    let dest = result_count(instr, &["r"], dests, errors).and_then(|d| d[0]);
    if instr.operands.len() != 1 {
        operand_count(instr, "1", errors);
        return false;
    }
    let t = match &instr.operands[0] {
        Operand::Tile(t) => t,
        other => {
            operand_kind(instr, other.span(), "a tile such as `A[0, 0]`", errors);
            return false;
        }
    };
    let Some((tile, spans)) = tile_ref(cx, scope, t, errors) else {
        return false;
    };
    let Some(dst) = dest else { return false };
    out.push(
        Instr::Load { dst, tile },
        line,
        InstrSpans {
            span: instr.span,
            opcode: instr.opcode.span,
            operands: vec![t.span],
            defs: vec![],
            tile: Some(spans),
        },
    );
    true
}

#[allow(clippy::too_many_arguments)]
fn write<'src>(
    cx: &mut JobContext<'_, 'src>,
    scope: &Scope<'src>,
    job: &ast::Job<'src>,
    instr: &ast::Instr<'src>,
    n: usize,
    regs: &mut HashMap<&'src str, Reg>,
    line: u32,
    out: &mut Lowering,
    errors: &mut Vec<CheckError>,
) -> bool {
    unexpected_dest(instr, errors);
    if instr.operands.len() != 2 {
        operand_count(instr, "2", errors);
        return false;
    }
    let t = match &instr.operands[0] {
        Operand::Tile(t) => Some(t),
        other => {
            operand_kind(instr, other.span(), "a tile such as `L[0, 0]`", errors);
            None
        }
    };
    let src = match &instr.operands[1] {
        Operand::Reg(r) => use_reg(cx, job, n as u32, r, regs, errors).map(|s| (s, r.span)),
        other => {
            operand_kind(instr, other.span(), "a register such as `%0`", errors);
            None
        }
    };
    let Some(t) = t else { return false };
    let Some((tile, spans)) = tile_ref(cx, scope, t, errors) else {
        return false;
    };
    let matrix = &cx.matrices[tile.matrix as usize];
    if matrix.role() == Role::Input {
        errors.push(CheckError::WriteToInput {
            span: t.span,
            role: matrix.decl.role.span,
            matrix: matrix.name().to_string(),
        });
        return false;
    }
    let Some(((src, def), reg_span)) = src else {
        return false;
    };
    out.push(
        Instr::Write { tile, src },
        line,
        InstrSpans {
            span: instr.span,
            opcode: instr.opcode.span,
            operands: vec![t.span, reg_span],
            defs: vec![None, Some(def)],
            tile: Some(spans),
        },
    );
    true
}

#[allow(clippy::too_many_arguments)]
fn apply<'src>(
    cx: &mut JobContext<'_, 'src>,
    scope: &Scope<'src>,
    job: &ast::Job<'src>,
    instr: &ast::Instr<'src>,
    n: usize,
    kernel: Kernel,
    dests: &[Option<u32>],
    regs: &mut HashMap<&'src str, Reg>,
    line: u32,
    out: &mut Lowering,
    errors: &mut Vec<CheckError>,
) -> bool {
    let dsts = result_count(instr, kernel.result_names(), dests, errors)
        .and_then(|d| d.iter().copied().collect::<Option<Vec<u32>>>());
    let (lo, hi) = kernel.arity();
    let count = instr.operands.len();
    let mut args = Vec::with_capacity(count);
    let mut defs = Vec::with_capacity(count);
    let mut loads = Vec::new();
    let mut ok = true;
    for op in &instr.operands {
        match op {
            Operand::Reg(r) => match use_reg(cx, job, n as u32, r, regs, errors) {
                Some((index, def)) => {
                    args.push(index);
                    defs.push(Some(def));
                }
                None => ok = false,
            },
            // An implicit load into a register of its own.
            Operand::Tile(t) => match tile_ref(cx, scope, t, errors) {
                Some((tile, spans)) => {
                    let dst = out.next_reg + loads.len() as u32;
                    args.push(dst);
                    defs.push(Some(t.span));
                    loads.push((Instr::Load { dst, tile }, spans, t.span));
                }
                None => ok = false,
            },
        }
    }
    if count < lo || count > hi {
        let expected = if lo == hi {
            lo.to_string()
        } else {
            format!("{lo} or {hi}")
        };
        operand_count(instr, &expected, errors);
        return false;
    }
    let Some(dsts) = dsts else { return false };
    if !ok {
        return false;
    }
    push_loads(out, loads, line);
    out.push(
        Instr::Apply { dsts, kernel, args },
        line,
        InstrSpans {
            span: instr.span,
            opcode: instr.opcode.span,
            operands: instr.operands.iter().map(|o| o.span()).collect(),
            defs,
            tile: None,
        },
    );
    true
}

/// The implicit loads of a kernel's tile operands, each into the register
/// numbered for it (from `out.next_reg`), the tile reference's span
/// standing for the instruction.
fn push_loads(out: &mut Lowering, loads: Vec<(Instr, TileSpans, Span)>, line: u32) {
    out.next_reg += loads.len() as u32;
    for (load, spans, span) in loads {
        let spans = InstrSpans {
            span,
            opcode: span,
            operands: vec![span],
            defs: vec![],
            tile: Some(spans),
        };
        out.push(load, line, spans);
    }
}

/// Resolves a register use: its index and definition when it refers to an
/// earlier definition in this job.
fn use_reg<'src>(
    cx: &mut JobContext<'_, 'src>,
    job: &ast::Job<'src>,
    instr: u32,
    r: &ast::Reg<'src>,
    regs: &mut HashMap<&'src str, Reg>,
    errors: &mut Vec<CheckError>,
) -> Option<(u32, Span)> {
    if let Some(reg) = regs.get_mut(r.name) {
        reg.used = true;
        if reg.def_instr < instr {
            return Some((reg.index, reg.span));
        }
        errors.push(CheckError::UseBeforeDefinition {
            span: r.span,
            later_def: reg.span,
            name: r.name.to_string(),
        });
        return None;
    }
    let program = cx.program;
    let defs = cx.other_job_defs.get_or_insert_with(|| {
        let mut defs = HashMap::new();
        for job in program.jobs() {
            for instr in &job.body {
                for d in &instr.dests {
                    defs.entry(d.name).or_insert((job.label.name, d.span));
                }
            }
        }
        defs
    });
    match defs.get(r.name) {
        Some(&(other, def)) if def.start < job.span.start || def.start > job.span.end => errors
            .push(CheckError::RegisterFromOtherJob {
                span: r.span,
                def,
                name: r.name.to_string(),
                other_job: other.to_string(),
            }),
        _ => errors.push(CheckError::UndefinedRegister {
            span: r.span,
            name: r.name.to_string(),
        }),
    }
    None
}

/// The instruction's result registers when there is one per name in
/// `names` (each `None` where it redefines a register); otherwise reports
/// the missing or miscounted results.
fn result_count<'d>(
    instr: &ast::Instr<'_>,
    names: &'static [&'static str],
    dests: &'d [Option<u32>],
    errors: &mut Vec<CheckError>,
) -> Option<&'d [Option<u32>]> {
    if dests.len() == names.len() {
        return Some(dests);
    }
    let opcode = instr.opcode.name.to_string();
    errors.push(match (instr.dests.first(), instr.dests.last()) {
        (Some(first), Some(last)) => CheckError::ResultCount {
            span: first.span.to(last.span),
            opcode,
            names,
            found: dests.len(),
        },
        _ => CheckError::MissingDestination {
            span: instr.opcode.span,
            opcode,
            names,
        },
    });
    None
}

fn unexpected_dest(instr: &ast::Instr<'_>, errors: &mut Vec<CheckError>) {
    if let (Some(first), Some(last)) = (instr.dests.first(), instr.dests.last()) {
        errors.push(CheckError::UnexpectedDestination {
            span: first.span.to(last.span),
            opcode: instr.opcode.name.to_string(),
        });
    }
}

fn operand_count(instr: &ast::Instr<'_>, expected: &str, errors: &mut Vec<CheckError>) {
    let span = match (instr.operands.first(), instr.operands.last()) {
        (Some(a), Some(b)) => a.span().to(b.span()),
        _ => instr.opcode.span,
    };
    errors.push(CheckError::OperandCount {
        span,
        opcode: instr.opcode.name.to_string(),
        expected: expected.to_string(),
        found: instr.operands.len(),
    });
}

fn operand_kind(
    instr: &ast::Instr<'_>,
    span: Span,
    expected: &'static str,
    errors: &mut Vec<CheckError>,
) {
    errors.push(CheckError::OperandKind {
        span,
        opcode: instr.opcode.name.to_string(),
        expected,
    });
}
