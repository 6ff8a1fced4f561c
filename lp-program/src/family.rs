//! A job family compiled for the solver: its iteration domain as affine
//! constraints, its tile references as affine maps, and the numbering of its
//! jobs.
//!
//! # Internal variables
//!
//! The solver works on unit-stride *internal* variables `t_0 .. t_{d-1}`,
//! one per enclosing loop. A loop with step 1 has `v = t`; a loop with step
//! `s > 1` and affine start has `v = start + s t` with `t >= 0`, so that
//! strided loops need no congruences. Every loop variable is then an affine
//! form in the internal variables of its own and the enclosing loops, and
//! the domain is a set of constraints *per level*: the constraints of level
//! `m` involve `t_m` and outer variables only, so enumerating in nesting
//! order needs no projection at all.
//!
//! Bounds may use `min` (end), `max` (start) and `floor`/`ceil` division by
//! a constant: each is one or more linear constraints (`v < ceil(e / c)` is
//! `c v < e`).
//!
//! # Exponent variables
//!
//! A loop variable that appears in an exponent (`2^level`) makes an
//! expression non-affine. Such a variable must have bounds that depend on
//! nothing but other exponent variables; the family is then *specialised*:
//! one affine copy ([`Spec`]) per combination of exponent values, in which
//! those variables are constants. Tree reductions have `log2(N)` levels, so
//! this costs a factor of a few dozen at most.
//!
//! # Job numbers
//!
//! A job is numbered by its loop values inside the family's bounding box
//! (row-major, the innermost loop fastest), offset by the family's base, so
//! a job id is computed and decoded in a few multiplications and needs no
//! table. Flat programs have a 1 x ... box per family: their jobs are 0, 1,
//! 2, ... in source order.

use crate::ir::{EvalError, Expr, Family, Instr, LoopNode, Program};
use crate::lin::{Lin, MAX_DEPTH};
use std::fmt;

/// Every coefficient and constant of a compiled form stays below this in
/// magnitude, and every loop value below [`VALUE_LIMIT`], so that
/// [`Lin::eval`] on the hot path cannot overflow (16 * 2^24 * 2^33 < 2^63).
pub const LIMIT: u64 = 1 << 24;
pub const VALUE_LIMIT: u64 = 1 << 33;
/// Most combinations of exponent values one family may have.
pub const MAX_SPECS: usize = 4096;

/// Where in a family an expression sits, for error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Site {
    /// The start, end or step of the loop at this depth of the family.
    LoopStart(usize),
    LoopEnd(usize),
    LoopStep(usize),
    /// Component `component` of the tile reference of instruction `instr`.
    Index {
        instr: usize,
        component: usize,
    },
}

/// Why a family cannot be compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FamilyError {
    TooDeep {
        depth: usize,
    },
    /// An expression the solver cannot handle where it stands; `node` is
    /// the offending subexpression's pre-order index within the site's
    /// expression.
    NotAffine {
        site: Site,
        node: usize,
        why: &'static str,
    },
    /// An expression with no value (an overflow, a division by zero, a
    /// negative exponent); `node` as for `NotAffine`.
    NoValue {
        site: Site,
        node: usize,
        error: EvalError,
    },
    /// A step that is not a positive constant.
    BadStep {
        site: Site,
        value: Option<i64>,
    },
    /// An exponent variable whose bounds depend on other loop variables.
    ExponentVarBounds {
        depth: usize,
    },
    TooManySpecs,
    /// Numbers past the solver's limits, or overflowing 64 bits.
    TooLarge {
        site: Option<Site>,
    },
    /// The loops' ranges (each loop's count of values, outermost first)
    /// multiply past 2^64: the jobs cannot be numbered.
    TooManyJobs {
        lens: Vec<u64>,
    },
}

impl fmt::Display for FamilyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FamilyError::TooDeep { depth } => {
                write!(
                    f,
                    "loops nested {depth} deep; at most {MAX_DEPTH} are supported"
                )
            }
            FamilyError::NotAffine { why, .. } => write!(f, "{why}"),
            FamilyError::NoValue { error, .. } => write!(f, "{error}"),
            FamilyError::BadStep { value: Some(v), .. } => {
                write!(f, "a loop step must be positive, found {v}")
            }
            FamilyError::BadStep { value: None, .. } => write!(
                f,
                "a loop step must be a constant or a power of exponent variables"
            ),
            FamilyError::ExponentVarBounds { .. } => write!(
                f,
                "a loop variable used in an exponent must have constant bounds"
            ),
            FamilyError::TooManySpecs => write!(
                f,
                "more than {MAX_SPECS} combinations of exponent-variable values"
            ),
            FamilyError::TooLarge { .. } => write!(
                f,
                "numbers too large for the dependency solver (loop values must stay below \
                 2^33 and coefficients below 2^24)"
            ),
            FamilyError::TooManyJobs { lens } => {
                let lens: Vec<String> = lens.iter().map(u64::to_string).collect();
                write!(
                    f,
                    "the loops around this job span {} values, more jobs than 64-bit job numbers can count",
                    lens.join(" x ")
                )
            }
        }
    }
}

/// One affine copy of a family, with its exponent variables fixed.
#[derive(Clone, Debug)]
pub struct Spec {
    /// `user[d]`: loop variable `d` as a form in the internal variables.
    pub user: Vec<Lin>,
    /// For each level, how to recover the internal variable from the loop
    /// value: `t = (v - start(t_<m)) / step`, with `start` `None` when
    /// `t = v` (step 1 or a fixed exponent variable).
    pub inverse: Vec<(Option<Lin>, i64)>,
    /// `levels[m]`: constraints `l >= 0` whose deepest variable is `t_m`.
    pub levels: Vec<Vec<Lin>>,
    /// Per instruction: the affine components of its tile reference (None
    /// for kernels).
    pub refs: Vec<Option<Vec<Lin>>>,
    /// Per loop level, the fixed value of an exponent variable.
    pub pinned: Vec<Option<i64>>,
}

/// A family ready for questions.
#[derive(Clone, Debug)]
pub struct Compiled {
    pub depth: usize,
    pub specs: Vec<Spec>,
    /// Bounding box of the loop values (inclusive), outermost first.
    pub box_lo: Vec<i64>,
    pub box_len: Vec<u64>,
    /// Jobs numbers `base .. base + box size` belong to this family.
    pub base: u64,
    pub box_size: u64,
}

/// Why an expression has no affine form where it stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Why {
    /// A form the solver cannot take there.
    NotAffine(&'static str),
    /// The expression has no value.
    NoValue(EvalError),
    /// A constraint of a loop bound needs numbers past 64 bits (the
    /// expression itself has a value).
    TooLarge,
}

/// A failure of [`to_lin`]: the pre-order index of the node it is about,
/// and why.
pub type LinFailure = (usize, Why);

/// Converts `e` to an affine form given the loop variables as forms.
pub fn to_lin(e: &Expr, user: &[Lin]) -> Result<Lin, LinFailure> {
    let mut counter = 0;
    lin_of(e, user, &mut counter)
}

/// `Some(l)` or an overflow at node `me`.
fn fits(l: Option<Lin>, me: usize) -> Result<Lin, LinFailure> {
    l.ok_or((me, Why::NoValue(EvalError::Overflow)))
}

fn lin_of(e: &Expr, user: &[Lin], n: &mut usize) -> Result<Lin, LinFailure> {
    let me = *n;
    *n += 1;
    let bin = |a: &Expr, b: &Expr, n: &mut usize| -> Result<(Lin, Lin), LinFailure> {
        Ok((lin_of(a, user, n)?, lin_of(b, user, n)?))
    };
    let konst = |l: &Lin| l.is_const().then_some(l.c);
    let not_affine = |why| Err((me, Why::NotAffine(why)));
    Ok(match e {
        Expr::Const(c) => Lin::constant(*c),
        Expr::Var(d) => match user.get(*d as usize) {
            Some(l) => *l,
            None => return not_affine("a loop variable that is not in scope"),
        },
        Expr::Add(a, b) => {
            let (a, b) = bin(a, b, n)?;
            fits(a.checked_add(&b), me)?
        }
        Expr::Sub(a, b) => {
            let (a, b) = bin(a, b, n)?;
            fits(a.checked_sub(&b), me)?
        }
        Expr::Neg(a) => fits(lin_of(a, user, n)?.checked_scale(-1), me)?,
        Expr::Mul(a, b) => {
            let (la, lb) = bin(a, b, n)?;
            match (konst(&la), konst(&lb)) {
                (Some(c), _) => fits(lb.checked_scale(c), me)?,
                (_, Some(c)) => fits(la.checked_scale(c), me)?,
                _ => {
                    return not_affine(
                        "a product of two loop variables is not affine: one factor must be \
                         a constant",
                    );
                }
            }
        }
        Expr::Pow(a, b) => {
            let (la, lb) = bin(a, b, n)?;
            match (konst(&la), konst(&lb)) {
                (Some(x), Some(y)) => Lin::constant(fold(e, x, y).map_err(|w| (me, w))?),
                _ => return not_affine("a power needs a constant base"),
            }
        }
        Expr::FloorDiv(a, b) | Expr::CeilDiv(a, b) => {
            let (la, lb) = bin(a, b, n)?;
            match (konst(&la), konst(&lb)) {
                (Some(x), Some(y)) => Lin::constant(fold(e, x, y).map_err(|w| (me, w))?),
                _ => {
                    return not_affine(
                        "a division of a loop variable is allowed only in loop bounds",
                    );
                }
            }
        }
        Expr::Min(xs) => min_max(xs, false, user, n, me)?,
        Expr::Max(xs) => min_max(xs, true, user, n, me)?,
    })
}

/// The value of the binary node `e` on operand values `x` and `y`:
/// evaluated on the values, not on `e`'s operands, which may be pinned loop
/// variables (an exponent variable's value).
fn fold(e: &Expr, x: i64, y: i64) -> Result<i64, Why> {
    let (x, y) = (Box::new(Expr::Const(x)), Box::new(Expr::Const(y)));
    let folded = match e {
        Expr::Pow(..) => Expr::Pow(x, y),
        Expr::FloorDiv(..) => Expr::FloorDiv(x, y),
        Expr::CeilDiv(..) => Expr::CeilDiv(x, y),
        _ => unreachable!("only powers and divisions are folded"),
    };
    folded.eval(&[]).map_err(Why::NoValue)
}

/// [`lin_of`] of `min(xs)` (or `max(xs)` when `max`): only of constants
/// (or pinned loop variables); node `me` is the one an error points at.
fn min_max(
    xs: &[Expr],
    max: bool,
    user: &[Lin],
    n: &mut usize,
    me: usize,
) -> Result<Lin, LinFailure> {
    let mut values = Vec::with_capacity(xs.len());
    let mut all_const = true;
    for x in xs {
        let l = lin_of(x, user, n)?;
        all_const &= l.is_const();
        values.push(l.c);
    }
    if !all_const {
        return Err((
            me,
            Why::NotAffine(
                "`min` and `max` of loop variables are allowed only in loop bounds \
                 (`min` in an end, `max` in a start)",
            ),
        ));
    }
    let v = if max {
        values.into_iter().max()
    } else {
        values.into_iter().min()
    };
    Ok(Lin::constant(v.ok_or((
        me,
        Why::NotAffine("`min` and `max` need an argument"),
    ))?))
}

/// Which side of a loop range a bound is on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    /// `v >= e`
    Start,
    /// `v < e`
    End,
}

/// The constraints `v >= e` (start) or `v < e` (end), where `e` may be a
/// `max` (start), a `min` (end) or a division by a positive constant.
fn bound(
    v: &Lin,
    e: &Expr,
    side: Side,
    user: &[Lin],
    counter: &mut usize,
    out: &mut Vec<Lin>,
) -> Result<(), LinFailure> {
    let me = *counter;
    // The bound has a value; the constraint over the loop variable does not
    // fit (a start of -2^63).
    let too_large = |l: Option<Lin>| l.ok_or((me, Why::TooLarge));
    match (e, side) {
        (Expr::Max(xs), Side::Start) | (Expr::Min(xs), Side::End) => {
            *counter += 1;
            for x in xs {
                bound(v, x, side, user, counter, out)?;
            }
            Ok(())
        }
        (Expr::FloorDiv(a, b) | Expr::CeilDiv(a, b), _) => {
            *counter += 1;
            let la = lin_of(a, user, counter)?;
            let lb = lin_of(b, user, counter)?;
            if la.is_const() && lb.is_const() {
                let c = fold(e, la.c, lb.c).map_err(|w| (me, w))?;
                return bound(v, &Expr::Const(c), side, user, &mut 0, out);
            }
            if !lb.is_const() || lb.c <= 0 {
                return Err((
                    me,
                    Why::NotAffine("a division in a loop bound must be by a positive constant"),
                ));
            }
            let c = lb.c;
            let cv = too_large(v.checked_scale(c))?;
            let floor = matches!(e, Expr::FloorDiv(..));
            let l = match (side, floor) {
                // v >= ceil(a/c)  <=>  c v - a >= 0
                (Side::Start, false) => cv.checked_sub(&la),
                // v >= floor(a/c) <=>  c v - a + c - 1 >= 0
                (Side::Start, true) => cv
                    .checked_sub(&la)
                    .and_then(|l| l.checked_add(&Lin::constant(c - 1))),
                // v < ceil(a/c)   <=>  a - c v - 1 >= 0
                (Side::End, false) => la
                    .checked_sub(&cv)
                    .and_then(|l| l.checked_sub(&Lin::constant(1))),
                // v < floor(a/c)  <=>  a - c v - c >= 0
                (Side::End, true) => la
                    .checked_sub(&cv)
                    .and_then(|l| l.checked_sub(&Lin::constant(c))),
            };
            out.push(too_large(l)?);
            Ok(())
        }
        _ => {
            let le = lin_of(e, user, counter)?;
            let l = match side {
                Side::Start => v.checked_sub(&le),
                Side::End => le
                    .checked_sub(v)
                    .and_then(|l| l.checked_sub(&Lin::constant(1))),
            };
            out.push(too_large(l)?);
            Ok(())
        }
    }
}

/// The loop variables (depths) of `family` that occur in an exponent of any
/// of its loop bounds or tile indices.
pub fn exponent_vars(program: &Program, family: &Family) -> Vec<bool> {
    let mut out = vec![false; family.loops.len()];
    let mut mark = |d: u8| {
        if let Some(slot) = out.get_mut(d as usize) {
            *slot = true;
        }
    };
    for &l in &family.loops {
        let node = &program.loops[l as usize];
        for e in [&node.start, &node.end, &node.step] {
            e.visit_exponent_vars(&mut mark);
        }
    }
    for instr in &family.instrs {
        if let Some(t) = instr.tile() {
            for e in &t.index {
                e.visit_exponent_vars(&mut mark);
            }
        }
    }
    out
}

/// The family error of a [`to_lin`] or [`bound`] failure at `site`.
fn failure(site: Site) -> impl Fn(LinFailure) -> FamilyError {
    move |(node, why)| match why {
        Why::NotAffine(why) => FamilyError::NotAffine { site, node, why },
        Why::NoValue(error) => FamilyError::NoValue { site, node, error },
        Why::TooLarge => FamilyError::TooLarge { site: Some(site) },
    }
}

/// Compiles `family` (its job numbers start at `base`).
pub fn compile(program: &Program, family: &Family, base: u64) -> Result<Compiled, FamilyError> {
    let depth = family.loops.len();
    if depth > MAX_DEPTH {
        return Err(FamilyError::TooDeep { depth });
    }
    let loops: Vec<&LoopNode> = family
        .loops
        .iter()
        .map(|&l| &program.loops[l as usize])
        .collect();
    let exponent = exponent_vars(program, family);

    let combos = exponent_combos(&loops, &exponent)?;
    let mut specs = Vec::with_capacity(combos.len());
    for pinned in combos {
        specs.push(specialise(family, &loops, pinned)?);
    }

    let (box_lo, box_len, box_size) = bounding_box(&specs, depth)?;
    Ok(Compiled {
        depth,
        specs,
        box_lo,
        box_len,
        base,
        box_size,
    })
}

/// Every combination of values of the exponent variables (the depths marked
/// in `exponent`), in nesting order; the other depths stay `None`.
fn exponent_combos(
    loops: &[&LoopNode],
    exponent: &[bool],
) -> Result<Vec<Vec<Option<i64>>>, FamilyError> {
    let depth = loops.len();
    let mut combos: Vec<Vec<Option<i64>>> = vec![vec![None; depth]];
    for d in 0..depth {
        if !exponent[d] {
            continue;
        }
        let node = loops[d];
        let mut next = Vec::new();
        for combo in &combos {
            let mut allowed = true;
            for e in [&node.start, &node.end, &node.step] {
                e.visit_vars(&mut |v| {
                    allowed &= combo.get(v as usize).is_some_and(|c| c.is_some())
                });
            }
            if !allowed {
                return Err(FamilyError::ExponentVarBounds { depth: d });
            }
            let vals: Vec<i64> = combo.iter().map(|c| c.unwrap_or(0)).collect();
            let eval = |e: &Expr, site| {
                e.eval(&vals).map_err(|error| FamilyError::NoValue {
                    site,
                    node: 0,
                    error,
                })
            };
            let (start, end) = (
                eval(&node.start, Site::LoopStart(d))?,
                eval(&node.end, Site::LoopEnd(d))?,
            );
            let step = eval(&node.step, Site::LoopStep(d))?;
            if step <= 0 {
                return Err(FamilyError::BadStep {
                    site: Site::LoopStep(d),
                    value: Some(step),
                });
            }
            let mut v = start;
            while v < end {
                let mut c = combo.clone();
                c[d] = Some(v);
                next.push(c);
                if next.len() > MAX_SPECS {
                    return Err(FamilyError::TooManySpecs);
                }
                v = v.checked_add(step).ok_or(FamilyError::TooLarge {
                    site: Some(Site::LoopStep(d)),
                })?;
            }
        }
        combos = next;
    }
    Ok(combos)
}

/// The job-id box: its low corner, side lengths and size, by interval
/// arithmetic over each spec's levels (a superset of the domain, so ids stay
/// unique across specs at the cost of some unused ones).
fn bounding_box(specs: &[Spec], depth: usize) -> Result<(Vec<i64>, Vec<u64>, u64), FamilyError> {
    let mut box_lo = vec![i64::MAX; depth];
    let mut box_hi = vec![i64::MIN; depth];
    for spec in specs {
        let Some((lo, hi)) = spec_box(spec) else {
            continue;
        };
        for d in 0..depth {
            box_lo[d] = box_lo[d].min(lo[d]);
            box_hi[d] = box_hi[d].max(hi[d]);
        }
    }
    let mut box_len = Vec::with_capacity(depth);
    for d in 0..depth {
        let len = if box_lo[d] > box_hi[d] {
            0
        } else {
            let site = if box_lo[d].unsigned_abs() >= VALUE_LIMIT {
                Some(Site::LoopStart(d))
            } else if box_hi[d].unsigned_abs() >= VALUE_LIMIT {
                Some(Site::LoopEnd(d))
            } else {
                None
            };
            if site.is_some() {
                return Err(FamilyError::TooLarge { site });
            }
            (box_hi[d] as i128 - box_lo[d] as i128 + 1) as u64
        };
        box_len.push(len);
    }
    let box_size = box_len
        .iter()
        .try_fold(1u64, |size, &len| size.checked_mul(len))
        .ok_or_else(|| FamilyError::TooManyJobs {
            lens: box_len.clone(),
        })?;
    if box_size == 0 {
        box_lo = vec![0; depth];
    }
    Ok((box_lo, box_len, box_size))
}

fn within_limits(l: &Lin) -> bool {
    l.a.iter().all(|a| a.unsigned_abs() < LIMIT) && l.c.unsigned_abs() < VALUE_LIMIT * LIMIT
}

/// The affine form of one spec: each loop value as a function of the
/// internal variables, the constraints of each level, and each tile index.
fn specialise(
    family: &Family,
    loops: &[&LoopNode],
    pinned: Vec<Option<i64>>,
) -> Result<Spec, FamilyError> {
    let depth = loops.len();
    let mut user: Vec<Lin> = Vec::with_capacity(depth);
    let mut inverse = Vec::with_capacity(depth);
    let mut levels: Vec<Vec<Lin>> = vec![Vec::new(); depth];
    for (m, node) in loops.iter().enumerate() {
        let t = Lin::var(m);
        if let Some(p) = pinned[m] {
            // A fixed exponent variable: v = p and t = p.
            user.push(Lin::constant(p));
            inverse.push((None, 1));
            levels[m].push(t.checked_sub(&Lin::constant(p)).expect("small"));
            levels[m].push(Lin::constant(p).checked_sub(&t).expect("small"));
            continue;
        }
        let (v, inv, out) = level(m, node, &user)?;
        inverse.push(inv);
        for l in out {
            // Constraints of level m mention t_m; one that does not (a
            // bound that is a constant, e.g. start 0 of a strided loop
            // rewritten) belongs to the deepest variable it mentions.
            let at = l.last_var().unwrap_or(m).min(m);
            levels[at].push(l);
        }
        user.push(v);
    }
    let refs = index_maps(family, &user)?;
    Ok(Spec {
        user,
        inverse,
        levels,
        refs,
        pinned,
    })
}

/// Loop `m` of a spec: its value in terms of the internal variable t_m (t_m
/// itself for unit steps, `start + step t_m` otherwise), the inverse map,
/// and the constraints (each `>= 0`) its bounds put on t_0..=t_m. Numbers
/// past the solver's limits are blamed on the bound they come from.
#[allow(clippy::type_complexity)]
fn level(
    m: usize,
    node: &LoopNode,
    user: &[Lin],
) -> Result<(Lin, (Option<Lin>, i64), Vec<Lin>), FamilyError> {
    let t = Lin::var(m);
    let too_large = |site| FamilyError::TooLarge { site: Some(site) };
    let step = step_of(m, node, user)?;
    let mut out = Vec::new();
    let (v, inverse) = if step == 1 {
        bound(&t, &node.start, Side::Start, user, &mut 0, &mut out)
            .map_err(failure(Site::LoopStart(m)))?;
        (t, (None, 1))
    } else {
        let start = to_lin(&node.start, user).map_err(|(node, why)| match why {
            Why::NotAffine(_) => FamilyError::NotAffine {
                site: Site::LoopStart(m),
                node,
                why: "a loop with a step needs an affine start",
            },
            _ => failure(Site::LoopStart(m))((node, why)),
        })?;
        if !within_limits(&start) {
            return Err(too_large(Site::LoopStart(m)));
        }
        // v = start + step t, t >= 0
        out.push(t);
        let v = start
            .checked_add(&t.checked_scale(step).ok_or(too_large(Site::LoopStep(m)))?)
            .ok_or(too_large(Site::LoopStart(m)))?;
        (v, (Some(start), step))
    };
    if !out.iter().all(within_limits) {
        return Err(too_large(Site::LoopStart(m)));
    }
    let from_start = out.len();
    bound(&v, &node.end, Side::End, user, &mut 0, &mut out).map_err(failure(Site::LoopEnd(m)))?;
    if !out[from_start..].iter().all(within_limits) {
        return Err(too_large(Site::LoopEnd(m)));
    }
    Ok((v, inverse, out))
}

/// The step of loop `m`: a positive constant (once exponent variables are
/// pinned) small enough to be a coefficient.
fn step_of(m: usize, node: &LoopNode, user: &[Lin]) -> Result<i64, FamilyError> {
    let site = Site::LoopStep(m);
    let step = to_lin(&node.step, user).map_err(failure(site))?;
    if !step.is_const() {
        return Err(FamilyError::BadStep { site, value: None });
    }
    if step.c <= 0 {
        return Err(FamilyError::BadStep {
            site,
            value: Some(step.c),
        });
    }
    if step.c.unsigned_abs() >= LIMIT {
        return Err(FamilyError::TooLarge { site: Some(site) });
    }
    Ok(step.c)
}

/// Each load's and write's tile index as an affine map of the loop values.
fn index_maps(family: &Family, user: &[Lin]) -> Result<Vec<Option<Vec<Lin>>>, FamilyError> {
    let mut refs = Vec::with_capacity(family.instrs.len());
    for (k, instr) in family.instrs.iter().enumerate() {
        refs.push(match instr {
            Instr::Load { tile, .. } | Instr::Write { tile, .. } => {
                let mut comps = Vec::with_capacity(tile.index.len());
                for (c, e) in tile.index.iter().enumerate() {
                    let site = Site::Index {
                        instr: k,
                        component: c,
                    };
                    let l = to_lin(e, user).map_err(failure(site))?;
                    if !within_limits(&l) {
                        return Err(FamilyError::TooLarge { site: Some(site) });
                    }
                    comps.push(l);
                }
                Some(comps)
            }
            Instr::Apply { .. } => None,
        });
    }
    Ok(refs)
}

/// Inclusive bounds of each loop value over a spec's domain (a superset:
/// interval arithmetic), or `None` when some level is empty.
fn spec_box(spec: &Spec) -> Option<(Vec<i64>, Vec<i64>)> {
    let depth = spec.levels.len();
    let mut tlo = vec![0i64; depth];
    let mut thi = vec![0i64; depth];
    for m in 0..depth {
        let (mut lo, mut hi) = (i64::MIN, i64::MAX);
        for l in &spec.levels[m] {
            let a = l.a[m];
            // a t_m + rest >= 0 with rest <= rmax.
            let mut rmax = l.c as i128;
            for k in 0..m {
                let (x, y) = (
                    l.a[k] as i128 * tlo[k] as i128,
                    l.a[k] as i128 * thi[k] as i128,
                );
                rmax += x.max(y);
            }
            if a > 0 {
                // t_m >= -rest/a, weakest at rest = rmax
                lo = lo.max(div_ceil_i128(-rmax, a as i128));
            } else if a < 0 {
                hi = hi.min(div_floor_i128(rmax, -(a as i128)));
            }
        }
        if lo == i64::MIN || hi == i64::MAX || lo > hi {
            return None;
        }
        tlo[m] = lo;
        thi[m] = hi;
    }
    let mut lo = Vec::with_capacity(depth);
    let mut hi = Vec::with_capacity(depth);
    for m in 0..depth {
        let u = &spec.user[m];
        let (mut a, mut b) = (u.c as i128, u.c as i128);
        for k in 0..depth {
            let (x, y) = (
                u.a[k] as i128 * tlo[k] as i128,
                u.a[k] as i128 * thi[k] as i128,
            );
            a += x.min(y);
            b += x.max(y);
        }
        lo.push(a.clamp(i64::MIN as i128, i64::MAX as i128) as i64);
        hi.push(b.clamp(i64::MIN as i128, i64::MAX as i128) as i64);
    }
    Some((lo, hi))
}

fn div_floor_i128(a: i128, b: i128) -> i64 {
    let q = a.div_euclid(b);
    q.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

fn div_ceil_i128(a: i128, b: i128) -> i64 {
    let q = -((-a).div_euclid(b));
    q.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

impl Spec {
    /// The range of `t_m` given the outer internal variables `t[..m]`
    /// (inclusive; empty when lo > hi).
    #[inline]
    pub fn range(&self, m: usize, t: &[i64]) -> (i64, i64) {
        let (mut lo, mut hi) = (i64::MIN, i64::MAX);
        for l in &self.levels[m] {
            let a = l.a[m];
            let mut rest = l.c;
            for k in 0..m {
                rest += l.a[k] * t[k];
            }
            if a > 0 {
                lo = lo.max(crate::lin::div_ceil(-rest, a));
            } else if a < 0 {
                hi = hi.min(crate::lin::div_floor(rest, -a));
            } else if rest < 0 {
                return (1, 0);
            }
        }
        (lo, hi)
    }

    /// Whether the internal point `t` satisfies every constraint.
    pub fn contains(&self, t: &[i64]) -> bool {
        self.levels.iter().flatten().all(|l| l.eval(t) >= 0)
    }

    /// The loop values of internal point `t`.
    pub fn user_values(&self, t: &[i64], out: &mut [i64]) {
        for (o, u) in out.iter_mut().zip(&self.user) {
            *o = u.eval(t);
        }
    }

    /// The internal point of loop values `v`, if `v` lies on this spec's
    /// lattice (strides) and pinned values.
    pub fn internal(&self, v: &[i64], out: &mut [i64]) -> bool {
        for m in 0..self.user.len() {
            if let Some(p) = self.pinned[m]
                && v[m] != p
            {
                return false;
            }
            let (start, step) = &self.inverse[m];
            out[m] = match start {
                None => v[m],
                Some(s) => {
                    let d = v[m] - s.eval(&out[..m]);
                    if d % step != 0 {
                        return false;
                    }
                    d / step
                }
            };
        }
        true
    }

    /// All constraints of the domain, as a system over `t_0 .. t_{d-1}`
    /// shifted to start at variable `offset`.
    pub fn domain(&self, offset: usize, sys: &mut crate::polytope::System) {
        for l in self.levels.iter().flatten() {
            sys.ge0(l.shifted(offset));
        }
    }
}

impl Compiled {
    /// The job number of loop values `v` (which must be inside the box).
    pub fn job_id(&self, v: &[i64]) -> u64 {
        let mut id: u64 = 0;
        for d in 0..self.depth {
            id = id * self.box_len[d] + (v[d] - self.box_lo[d]) as u64;
        }
        self.base + id
    }

    /// The loop values of job number `id` of this family (`base <= id <
    /// base + box_size`).
    pub fn values_of(&self, id: u64, out: &mut [i64]) {
        let mut rest = id - self.base;
        for d in (0..self.depth).rev() {
            let len = self.box_len[d].max(1);
            out[d] = self.box_lo[d] + (rest % len) as i64;
            rest /= len;
        }
    }

    /// The spec and internal point of loop values `v`, if `v` is a job of
    /// this family.
    pub fn locate(&self, v: &[i64], t: &mut [i64]) -> Option<usize> {
        (0..self.specs.len())
            .find(|&s| self.specs[s].internal(v, t) && self.specs[s].contains(&t[..self.depth]))
    }
}
