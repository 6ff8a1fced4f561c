//! Stated priorities that do not evaluate.
//!
//! A job whose `priority` expression has no value (an overflow, a division
//! by zero) ranks after every other job at run time. A program that meant
//! that would have said so with a small constant, so it is most likely a
//! mistake, and a warning: the program still runs.
//!
//! Jobs are not enumerated. A flat job's priority is a constant; a loop
//! family's is evaluated at the corners of its domain taken in nesting
//! order (each loop at its first or its last value, given the outer ones'),
//! where a priority that grows with the loop values is largest: a few jobs
//! per family, so a failure between them can go unseen.

use super::SourceMap;
use crate::error::CheckError;
use lp_program::family::Spec;
use lp_program::ir::EvalError;
use lp_program::{Expr, Plan};

/// Most jobs evaluated per family (a family has up to 4096 specs of 2^8
/// corners each).
const MAX_EVALUATIONS: usize = 1 << 16;

/// Pushes a warning for each family whose stated priority does not
/// evaluate at one of the jobs tried.
pub fn check(plan: &Plan, spans: &SourceMap, errors: &mut Vec<CheckError>) {
    let program = plan.program();
    for (f, family) in program.families.iter().enumerate() {
        let (Some(expr), Some(span)) = (&family.priority, spans.families[f].priority) else {
            continue;
        };
        let failure = match plan.compiled(f as u32) {
            None if family.loops.is_empty() => expr.eval(&[]).err().map(|e| (Vec::new(), e)),
            None => None,
            Some(c) => c
                .specs
                .iter()
                .flat_map(|spec| (0..1usize << c.depth).map(move |corner| (spec, corner)))
                .take(MAX_EVALUATIONS)
                .find_map(|(spec, corner)| fails_at(expr, spec, corner)),
        };
        if let Some((values, error)) = failure {
            errors.push(CheckError::PriorityNoValue {
                span,
                job: program.job_name_long(family, &values),
                message: error.to_string(),
            });
        }
    }
}

/// The loop values at corner `corner` of `spec`'s domain, and the error,
/// if `expr` does not evaluate there.
fn fails_at(expr: &Expr, spec: &Spec, corner: usize) -> Option<(Vec<i64>, EvalError)> {
    let depth = spec.user.len();
    let mut t = vec![0; depth];
    corner_point(spec, corner, &mut t)?;
    let mut values = vec![0; depth];
    spec.user_values(&t, &mut values);
    expr.eval(&values).err().map(|e| (values, e))
}

/// Sets `t` to corner `corner` of the domain: loop `m` at its last value
/// when bit `m` is set, else at its first, given the outer loops' values.
/// `None` when a loop has no value there, or when the corner repeats one
/// with a bit clear (a loop of one value).
fn corner_point(spec: &Spec, corner: usize, t: &mut [i64]) -> Option<()> {
    for m in 0..t.len() {
        let (lo, hi) = spec.range(m, &t[..m]);
        let last = corner >> m & 1 == 1;
        if lo > hi || (last && lo == hi) {
            return None;
        }
        t[m] = if last { hi } else { lo };
    }
    Some(())
}
