//! Semantic checks: everything `lpc check` verifies after parsing, and the
//! lowering of a checked program to the IR (`lp_program::Program`).
//!
//! The phases, each in its own module:
//! 1. [`scope`]: parameters (defaults and `--set` values) and the names of
//!    expressions;
//! 2. [`decl`]: matrix declarations;
//! 3. [`job`]: every job body once (registers, opcodes, operands), lowered
//!    with the loops around it; a loop program is checked per family, never
//!    per job, so its size does not matter;
//! 4. the index-dependent checks of `lp_program::analysis`: tiles in range,
//!    [`shapes`] at one iteration per shape class, write-once, coverage,
//!    acyclicity and the tile-level warnings, decided from the index
//!    expressions; [`findings`] turns what they find into errors with spans;
//!    and [`priority`], stated priorities that do not evaluate.
//!
//! Each phase runs when the ones it depends on found no error: a tile check
//! on a program whose declarations are wrong would only echo them. Errors
//! come back sorted by position, warnings after errors.

pub mod decl;
pub mod findings;
pub mod job;
pub mod priority;
pub mod scope;
pub mod shapes;

use crate::error::CheckError;
use grammar::ast::{self, Span};
use job::{FamilySpans, JobContext};
use lp_program::analysis::{self, Options, pieces};
use lp_program::{Item, LoopNode, Plan, Program};
use scope::{Scope, Setting};

/// Checks a parsed program: [`lower`] then [`analyse`] (see there).
pub fn check(
    source: &str,
    name: &str,
    program: &ast::Program<'_>,
    settings: &[Setting],
    options: &Options,
    syntax_ok: bool,
) -> (Option<Checked>, Vec<CheckError>) {
    analyse(lower(source, name, program, settings, syntax_ok), options)
}
use std::collections::HashMap;

/// Where each IR loop's expressions came from (pre-order node spans).
#[derive(Clone, Debug, Default)]
pub struct LoopSpans {
    pub header: Span,
    pub start: Vec<Span>,
    pub end: Vec<Span>,
    pub step: Vec<Span>,
}

/// Where each matrix's declaration is.
#[derive(Clone, Copy, Debug, Default)]
pub struct MatrixSpans {
    pub decl: Span,
    pub name: Span,
    /// The `sym`, `lower` or `upper` keyword.
    pub structure: Option<Span>,
    pub init: Option<Span>,
}

/// The text behind every IR family, loop and matrix.
#[derive(Clone, Debug, Default)]
pub struct SourceMap {
    pub families: Vec<FamilySpans>,
    pub loops: Vec<LoopSpans>,
    pub matrices: Vec<MatrixSpans>,
}

/// A program that passed every check (warnings aside).
pub struct Checked {
    pub plan: Plan,
    pub spans: SourceMap,
}

/// A program lowered to the IR, with the errors of the checks that need its
/// text; what [`analyse`] works on once the syntax tree is gone.
pub struct Lowered {
    ir: Program,
    spans: SourceMap,
    errors: Vec<CheckError>,
    /// Whether the later checks may run (declarations and syntax sound).
    sound: bool,
}

/// Checks a parsed program with the parameter values `settings` as far as
/// its text is needed (parameters, declarations, every job body), and
/// lowers it. A program with syntax errors (`syntax_ok` false) stops there:
/// the rest would reason about a program with lines missing.
pub fn lower(
    source: &str,
    name: &str,
    program: &ast::Program<'_>,
    settings: &[Setting],
    syntax_ok: bool,
) -> Lowered {
    let mut errors = Vec::new();
    let scope = Scope::new(&program.params, settings, &mut errors);
    let (matrices, index) = decl::declarations(&program.matrices, &scope, &mut errors);
    let declarations_ok =
        errors.iter().all(|e| e.is_warning()) && matrices.iter().all(|m| m.info.is_some());
    let line_starts: Vec<u32> = std::iter::once(0)
        .chain(source.match_indices('\n').map(|(i, _)| i as u32 + 1))
        .collect();
    let mut tree = Tree {
        scope,
        cx: JobContext {
            program,
            matrices: &matrices,
            index: &index,
            other_job_defs: None,
            line_starts: &line_starts,
        },
        loops: Vec::new(),
        families: Vec::new(),
        spans: SourceMap::default(),
        open: Vec::new(),
        names: Names::default(),
    };
    let body = walk_items(&mut tree, &program.items, &mut errors);
    let ir = Program {
        matrices: matrices.iter().filter_map(|m| m.info.clone()).collect(),
        loops: tree.loops,
        families: tree.families,
        body,
        source: name.to_string(),
    };
    let mut spans = tree.spans;
    spans.matrices = matrices
        .iter()
        .map(|m| MatrixSpans {
            decl: m.decl.span,
            name: m.decl.name.span,
            structure: m.decl.structure.map(|s| s.span),
            init: m.decl.init.as_ref().map(|i| i.span),
        })
        .collect();
    Lowered {
        ir,
        spans,
        errors,
        sound: declarations_ok && syntax_ok,
    }
}

/// The checks of the IR: tiles in range, shapes, write-once, coverage,
/// acyclicity and the tile-level warnings. Returns the checked form when
/// there is no error (warnings may be present), and every error and
/// warning found, sorted.
pub fn analyse(lowered: Lowered, options: &Options) -> (Option<Checked>, Vec<CheckError>) {
    let Lowered {
        ir,
        spans,
        mut errors,
        sound,
    } = lowered;
    let finish = |mut errors: Vec<CheckError>, checked: Option<Checked>| {
        errors.sort_by_key(|e| (e.is_warning(), e.primary_span().start));
        let ok = errors.iter().all(|e| e.is_warning());
        (checked.filter(|_| ok), errors)
    };
    if !sound {
        return finish(errors, None);
    }

    // Tiles in range, then shapes at each shape class.
    let (compiled, refs) = analysis::check_refs(&ir, options);
    let mapper = findings::Mapper {
        program: &ir,
        spans: &spans,
        max_jobs: options.max_jobs,
    };
    errors.extend(refs.iter().filter_map(|f| mapper.map(f)));
    for (f, family) in ir.families.iter().enumerate() {
        if family.loops.is_empty() {
            shapes::check(&ir, family, &spans.families[f], &[], None, &mut errors);
            continue;
        }
        let Some(c) = &compiled[f] else { continue };
        let Some(witnesses) = pieces::shape_witnesses(&ir, Some(c), f as u32) else {
            continue;
        };
        for w in witnesses {
            let job = Some(ir.job_name_long(family, &w));
            if shapes::check(&ir, family, &spans.families[f], &w, job, &mut errors) {
                break;
            }
        }
    }
    if errors.iter().any(|e| !e.is_warning()) {
        return finish(errors, None);
    }

    // Write-once, coverage, order, warnings.
    let plan = match Plan::new(ir) {
        Ok(plan) => plan,
        Err(e) => {
            // check_refs passed, so only the solver's limits are left.
            errors.push(CheckError::SolverLimit {
                span: Span::default(),
                message: e.to_string(),
            });
            return finish(errors, None);
        }
    };
    let found = analysis::analyse(&plan, options);
    let mapper = findings::Mapper {
        program: plan.program(),
        spans: &spans,
        max_jobs: options.max_jobs,
    };
    errors.extend(found.iter().filter_map(|f| mapper.map(f)));
    priority::check(&plan, &spans, &mut errors);
    finish(errors, Some(Checked { plan, spans }))
}

/// Job labels seen so far: a job is named by its label (a flat job, with
/// its indices), and a loop family's label may not be any other job's.
#[derive(Default)]
struct Names {
    flat: HashMap<String, Span>,
    flat_labels: HashMap<String, Span>,
    loop_labels: HashMap<String, Span>,
}

struct Tree<'a, 'src> {
    scope: Scope<'src>,
    cx: JobContext<'a, 'src>,
    loops: Vec<LoopNode>,
    families: Vec<lp_program::Family>,
    spans: SourceMap,
    /// The IR loops enclosing the current item.
    open: Vec<u32>,
    names: Names,
}

fn walk_items<'a, 'src>(
    tree: &mut Tree<'a, 'src>,
    items: &'a [ast::Item<'src>],
    errors: &mut Vec<CheckError>,
) -> Vec<Item> {
    let mut body = Vec::with_capacity(items.len());
    for item in items {
        match item {
            ast::Item::Job(job) => {
                let name = job_name(tree, job, errors);
                let (mut family, spans) =
                    job::check_job(&mut tree.cx, &tree.scope, job, &tree.open, errors);
                family.name = name;
                body.push(Item::Family(tree.families.len() as u32));
                tree.families.push(family);
                tree.spans.families.push(spans);
            }
            ast::Item::Loop(l) => {
                let mut spans = LoopSpans {
                    header: l.span,
                    ..LoopSpans::default()
                };
                let lower = |tree: &Tree<'_, '_>,
                             e: &ast::Expr<'_>,
                             spans: &mut Vec<Span>,
                             errors: &mut Vec<CheckError>| {
                    tree.scope.lower(e, spans).unwrap_or_else(|err| {
                        errors.push(*err);
                        lp_program::Expr::Const(0)
                    })
                };
                let start = match &l.start {
                    Some(e) => lower(tree, e, &mut spans.start, errors),
                    None => {
                        spans.start.push(l.span);
                        lp_program::Expr::Const(0)
                    }
                };
                let end = lower(tree, &l.end, &mut spans.end, errors);
                let step = match &l.step {
                    Some(e) => lower(tree, e, &mut spans.step, errors),
                    None => {
                        spans.step.push(l.span);
                        lp_program::Expr::Const(1)
                    }
                };
                let id = tree.loops.len() as u32;
                tree.loops.push(LoopNode {
                    var: l.var.name.to_string(),
                    start,
                    end,
                    step,
                    body: Vec::new(),
                });
                tree.spans.loops.push(spans);
                tree.scope.push_loop(l.var, errors);
                tree.open.push(id);
                let inner = walk_items(tree, &l.body, errors);
                tree.open.pop();
                tree.scope.pop_loop();
                tree.loops[id as usize].body = inner;
                body.push(Item::Loop(id));
            }
        }
    }
    body
}

/// The family name of `job`, checking labels for duplicates: a flat job is
/// named by its label and its (constant) indices, a loop family by its
/// label, which no other job may share.
fn job_name(tree: &mut Tree<'_, '_>, job: &ast::Job<'_>, errors: &mut Vec<CheckError>) -> String {
    let label = job.label;
    let duplicate = |span: Span, first: Span, name: &str| CheckError::DuplicateJob {
        span,
        first,
        name: name.to_string(),
    };
    if tree.scope.depth() > 0 {
        if !job.index.is_empty() {
            errors.push(CheckError::LabelIndexInLoop {
                span: job.span,
                name: label.name.to_string(),
                vars: tree.scope.loop_vars(),
            });
        }
        let first = tree
            .names
            .loop_labels
            .get(label.name)
            .or(tree.names.flat_labels.get(label.name));
        if let Some(&first) = first {
            errors.push(duplicate(label.span, first, label.name));
        } else {
            tree.names
                .loop_labels
                .insert(label.name.to_string(), label.span);
        }
        return label.name.to_string();
    }
    let mut name = label.name.to_string();
    if !job.index.is_empty() {
        let mut values = Vec::with_capacity(job.index.len());
        for e in &job.index {
            match tree.scope.constant(e, "a job label's index") {
                Ok(v) => values.push(v.to_string()),
                Err(err) => errors.push(*err),
            }
        }
        name = format!("{}[{}]", label.name, values.join(", "));
    }
    if let Some(&first) = tree.names.loop_labels.get(label.name) {
        errors.push(duplicate(label.span, first, label.name));
    } else if let Some(&first) = tree.names.flat.get(&name) {
        errors.push(duplicate(label.span, first, &name));
    } else {
        tree.names.flat.insert(name.clone(), label.span);
        tree.names
            .flat_labels
            .entry(label.name.to_string())
            .or_insert(label.span);
    }
    name
}
