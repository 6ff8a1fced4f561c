//! Integer points of small polytopes: the decision procedure behind every
//! static question about a loop program ("can two writes meet?", "is this
//! load outside the grid anywhere?", "can a dependency point backwards?").
//!
//! A [`System`] is a conjunction of affine constraints `a·x + c >= 0` and
//! `a·x + c = 0` over `n` integer variables, with concrete coefficients (a
//! program's parameters are numbers by the time it is analysed). Its
//! questions are answered without enumerating the variables' ranges:
//!
//! 1. Equalities with a unit coefficient are solved for that variable and
//!    substituted away (index equations such as `i' = i + 1` are all of this
//!    kind). Others stay as a pair of inequalities.
//! 2. Fourier-Motzkin elimination projects the system onto its first
//!    variables, one variable at a time, normalising every derived
//!    constraint by the gcd of its coefficients and rounding its constant
//!    down (valid for integer points, and it keeps unit-coefficient systems
//!    exact).
//! 3. A depth-first search then fixes the variables in order, each within
//!    the bounds its projection gives once the earlier ones are fixed. For
//!    the projections of step 2 every value tried extends to a point except
//!    where a non-unit coefficient leaves gaps, and there the search simply
//!    backtracks: the answer is exact, and only its cost depends on the
//!    shape.
//!
//! Every step is budgeted (derived constraints and search nodes); a system
//! that exhausts its budget, or whose numbers overflow, is
//! [`Decision::Undecided`], and the caller falls back to something slower or
//! says so. None of the programs in the library come near the budget.

use crate::lin::{Lin, MAXV, div_ceil, div_floor, gcd};

/// The answer to a question about a system.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision<T> {
    Yes(T),
    No,
    /// The budget ran out or a number overflowed.
    Undecided,
}

impl<T> Decision<T> {
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Decision<U> {
        match self {
            Decision::Yes(t) => Decision::Yes(f(t)),
            Decision::No => Decision::No,
            Decision::Undecided => Decision::Undecided,
        }
    }
}

/// How much work one question may take.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    pub constraints: usize,
    pub nodes: u64,
}

impl Default for Budget {
    fn default() -> Budget {
        Budget {
            constraints: 20_000,
            nodes: 2_000_000,
        }
    }
}

/// Constraints over the variables `x_0 .. x_{n-1}`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct System {
    pub n: usize,
    /// `l >= 0` for each `l`.
    pub ge: Vec<Lin>,
    /// `l = 0` for each `l`.
    pub eq: Vec<Lin>,
}

/// Normalises `a·x + c >= 0` for integer `x`: divides the coefficients by
/// their gcd and rounds the constant down. `None` for a constraint with no
/// variable (true or false on its own, see [`trivial`]).
fn normalise_ge(l: &Lin) -> Option<Lin> {
    let g = l.a.iter().fold(0, |g, &a| gcd(g, a));
    if g == 0 {
        return None;
    }
    let mut r = *l;
    if g > 1 {
        for a in &mut r.a {
            *a /= g;
        }
        r.c = div_floor(l.c, g);
    }
    Some(r)
}

/// For a constraint without variables: whether `c >= 0` holds.
fn trivial(l: &Lin) -> bool {
    l.c >= 0
}

impl System {
    pub fn new(n: usize) -> System {
        assert!(n <= MAXV, "at most {MAXV} variables");
        System {
            n,
            ge: Vec::new(),
            eq: Vec::new(),
        }
    }

    /// `l >= 0`.
    pub fn ge0(&mut self, l: Lin) -> &mut System {
        self.ge.push(l);
        self
    }

    /// `l = 0`.
    pub fn eq0(&mut self, l: Lin) -> &mut System {
        self.eq.push(l);
        self
    }

    /// `a >= b`, `None` on overflow.
    pub fn ge2(&mut self, a: &Lin, b: &Lin) -> Option<&mut System> {
        Some(self.ge0(a.checked_sub(b)?))
    }

    /// `a = b`, `None` on overflow.
    pub fn eq2(&mut self, a: &Lin, b: &Lin) -> Option<&mut System> {
        Some(self.eq0(a.checked_sub(b)?))
    }

    /// `a < b`, that is `b - a - 1 >= 0`; `None` on overflow.
    pub fn lt2(&mut self, a: &Lin, b: &Lin) -> Option<&mut System> {
        let mut d = b.checked_sub(a)?;
        d.c = d.c.checked_sub(1)?;
        Some(self.ge0(d))
    }

    /// An integer point of the system, if it has one.
    pub fn find_point(&self, budget: Budget) -> Decision<Vec<i64>> {
        let mut found = None;
        match self.search(budget, true, &mut |p| {
            found = Some(p.to_vec());
            false
        }) {
            Some(()) => match found {
                Some(p) => Decision::Yes(p),
                None => Decision::No,
            },
            None => Decision::Undecided,
        }
    }

    /// Whether the system has an integer point.
    pub fn is_feasible(&self, budget: Budget) -> Decision<()> {
        self.find_point(budget).map(|_| ())
    }

    /// Calls `visit` with the integer points in lexicographic order of
    /// `(x_0, x_1, ...)` until it returns false. `None` if the budget ran out
    /// (some points may have been visited).
    pub fn points_lex(&self, budget: Budget, visit: &mut dyn FnMut(&[i64]) -> bool) -> Option<()> {
        self.search(budget, false, visit)
    }

    /// The system projected onto its first `keep` variables: the set of
    /// `(x_0 .. x_{keep-1})` for which some values of the others satisfy
    /// it. The flag says whether the projection is exact for integer
    /// points (true when every eliminated variable had a unit coefficient
    /// in an equality, or on one side of each Fourier-Motzkin pair); an
    /// inexact projection may contain extra points. `None` when the budget
    /// ran out or a number overflowed.
    pub fn project(&self, keep: usize, mut budget: Budget) -> Option<(System, bool)> {
        let outcome = (|| -> Result<(System, bool), Stop> {
            let Units { eqs, ges, .. } = solve_units(&self.eq, &self.ge, &|v| v >= keep, true)?;
            let mut exact = true;
            let (mut kept_eqs, mut all) = (Vec::new(), ges);
            for e in eqs {
                if (keep..self.n).any(|v| e.a[v] != 0) {
                    // An equality left on an eliminated variable without a
                    // unit coefficient: two inequalities, and the shadow
                    // may gain points.
                    exact = false;
                    all.push(e);
                    all.push(e.checked_scale(-1).ok_or(Stop::Exhausted)?);
                } else {
                    kept_eqs.push(e);
                }
            }
            let mut cur = normalised(&all)?;
            for v in (keep..self.n).rev() {
                let (next, exact_here) = eliminate(&cur, v, &mut budget)?;
                exact &= exact_here;
                cur = next;
            }
            Ok((
                System {
                    n: keep,
                    ge: cur,
                    eq: kept_eqs,
                },
                exact,
            ))
        })();
        match outcome {
            Ok(r) => Some(r),
            Err(Stop::Empty) => Some((System::infeasible(keep), true)),
            Err(Stop::Exhausted) => None,
        }
    }

    /// Where an inexact projection onto the first `keep` variables comes
    /// from a stride: once the unit equalities are solved, an equality
    /// `a·x + b·y + c = 0` whose coefficients on the eliminated `y` share a
    /// factor `g > 1` admits only the kept points with `a·x + c ≡ 0 (mod
    /// g)`, a lattice that Fourier-Motzkin cannot express. Returns a kept
    /// variable `k` whose coefficient `g` does not divide, and the modulus
    /// `g / gcd(a_k, g)` of its residues: on one residue class (`x_k = m u +
    /// r`) the equality loses `x_k` from the congruence, and may become a
    /// unit equality or none at all. `None` when no equality has such a
    /// factor, or the system is empty or overflows.
    pub fn stride(&self, keep: usize) -> Option<(usize, i64)> {
        let Units { eqs, .. } = solve_units(&self.eq, &self.ge, &|v| v >= keep, true).ok()?;
        eqs.iter().find_map(|e| {
            let g = (keep..self.n).fold(0, |g, v| gcd(g, e.a[v]));
            if g <= 1 {
                return None;
            }
            let k = (0..keep).find(|&k| e.a[k] % g != 0)?;
            Some((k, g / gcd(e.a[k], g)))
        })
    }

    /// Inclusive bounds of `x_k` over the system's rational shadow (they
    /// contain every integer point's `x_k`). `None` when the system is
    /// empty or unbounded in `x_k`, or the budget ran out.
    pub fn bounds(&self, k: usize, budget: Budget) -> Option<(i64, i64)> {
        // Projection keeps the first variables: swap x_k to the front.
        let front = |l: &Lin| {
            let mut l = *l;
            l.a.swap(0, k);
            l
        };
        let swapped = System {
            n: self.n,
            ge: self.ge.iter().map(front).collect(),
            eq: self.eq.iter().map(front).collect(),
        };
        let (shadow, _) = swapped.project(1, budget)?;
        let (mut lo, mut hi) = (i64::MIN, i64::MAX);
        let negated: Vec<Lin> = shadow
            .eq
            .iter()
            .map(|e| e.checked_scale(-1))
            .collect::<Option<_>>()?;
        for l in shadow.ge.iter().chain(&shadow.eq).chain(&negated) {
            // a x + c >= 0
            let (a, c) = (l.a[0], l.c);
            if a > 0 {
                lo = lo.max(div_ceil(c.checked_neg()?, a));
            } else if a < 0 {
                hi = hi.min(div_floor(c, a.checked_neg()?));
            } else if c < 0 {
                return None;
            }
        }
        (lo != i64::MIN && hi != i64::MAX && lo <= hi).then_some((lo, hi))
    }

    /// A system over `n` variables with no point.
    pub fn infeasible(n: usize) -> System {
        let mut s = System::new(n);
        s.ge0(Lin::constant(-1));
        s
    }

    /// The search behind [`System::find_point`] and [`System::points_lex`].
    /// With `substitute`, unit equalities are solved first (faster, but the
    /// visiting order is then over the remaining variables). `None` when
    /// the budget ran out or a number overflowed.
    fn search(
        &self,
        mut budget: Budget,
        substitute: bool,
        visit: &mut dyn FnMut(&[i64]) -> bool,
    ) -> Option<()> {
        let Prepared { free, proj, solved } = match self.prepare(substitute, &mut budget) {
            Ok(p) => p,
            Err(Stop::Empty) => return Some(()),
            Err(Stop::Exhausted) => return None,
        };
        let mut x = vec![0i64; self.n];
        let mut stopped = false;
        dfs(
            0,
            &free,
            &proj,
            &solved,
            &mut x,
            &mut budget,
            visit,
            &mut stopped,
        )
        .then_some(())
    }

    /// The projections [`System::search`] walks: the free variables (those
    /// no unit equality solved), and `proj[k]`, the constraints over
    /// `free[0..k]` (`proj[free.len()]` is the whole system), so that the
    /// bounds of `free[k]` come from `proj[k + 1]`.
    fn prepare(&self, substitute: bool, budget: &mut Budget) -> Result<Prepared, Stop> {
        // Equalities are solved as written: dividing them by their gcd could
        // solve other variables, and so change the point `find_point` reports.
        let Units { eqs, ges, solved } = solve_units(&self.eq, &self.ge, &|_| substitute, false)?;
        let mut all = ges;
        for e in eqs {
            all.push(e);
            all.push(e.checked_scale(-1).ok_or(Stop::Exhausted)?);
        }
        let free: Vec<usize> = (0..self.n)
            .filter(|&v| !solved.iter().any(|(s, _)| *s == v))
            .collect();
        let r = free.len();
        let mut proj: Vec<Vec<Lin>> = vec![Vec::new(); r + 1];
        proj[r] = normalised(&all)?;
        for k in (0..r).rev() {
            proj[k] = eliminate(&proj[k + 1], free[k], budget)?.0;
        }
        Ok(Prepared { free, proj, solved })
    }
}

/// See [`System::prepare`].
struct Prepared {
    free: Vec<usize>,
    proj: Vec<Vec<Lin>>,
    solved: Vec<(usize, Lin)>,
}

/// The result of [`solve_units`].
struct Units {
    /// The equalities left (none has a unit coefficient on an accepted
    /// variable).
    eqs: Vec<Lin>,
    ges: Vec<Lin>,
    /// Each solved variable as a form over the remaining ones.
    solved: Vec<(usize, Lin)>,
}

/// Why a computation on a system stopped early.
enum Stop {
    /// The system has no point.
    Empty,
    /// The budget ran out or a number overflowed.
    Exhausted,
}

/// Solves the equalities that have a unit coefficient on a variable `which`
/// accepts for that variable, substituting it everywhere; returns the other
/// equalities, the inequalities, and the solved variables as forms over the
/// remaining ones. An equality whose coefficients' gcd does not divide its
/// constant has no integer point. With `divide`, an equality is first
/// divided by that gcd, which turns the index equations of strided loops
/// (`2^l u = 2^(l + 1) t + 2^l`) into unit ones (`u = 2 t + 1`).
fn solve_units(
    eq: &[Lin],
    ge: &[Lin],
    which: &dyn Fn(usize) -> bool,
    divide: bool,
) -> Result<Units, Stop> {
    let (mut eqs, mut ges) = (eq.to_vec(), ge.to_vec());
    let mut solved: Vec<(usize, Lin)> = Vec::new();
    let mut k = 0;
    while k < eqs.len() {
        let mut e = eqs[k];
        if e.is_const() {
            if e.c != 0 {
                return Err(Stop::Empty);
            }
            eqs.swap_remove(k);
            continue;
        }
        let g = e.a.iter().fold(0, |g, &a| gcd(g, a));
        if e.c % g != 0 {
            return Err(Stop::Empty);
        }
        if divide && g > 1 {
            e = e.divided(g);
            eqs[k] = e;
        }
        let Some(v) = (0..MAXV).find(|&v| e.a[v].abs() == 1 && which(v)) else {
            k += 1;
            continue;
        };
        // a_v x_v + rest = 0 with a_v = ±1: x_v = -a_v * rest.
        let mut rest = e;
        let av = rest.a[v];
        rest.a[v] = 0;
        let by = rest.checked_scale(-av).ok_or(Stop::Exhausted)?;
        eqs.swap_remove(k);
        for other in eqs.iter_mut().chain(ges.iter_mut()) {
            *other = other.substitute(v, &by).ok_or(Stop::Exhausted)?;
        }
        for (_, form) in solved.iter_mut() {
            *form = form.substitute(v, &by).ok_or(Stop::Exhausted)?;
        }
        solved.push((v, by));
        // A substitution may turn an earlier equality into a unit one.
        k = 0;
    }
    Ok(Units { eqs, ges, solved })
}

/// The constraints normalised (see [`normalise_ge`]) and deduplicated,
/// without the trivially true; `Empty` on a trivially false one.
fn normalised(ls: &[Lin]) -> Result<Vec<Lin>, Stop> {
    let mut out = Vec::with_capacity(ls.len());
    for l in ls {
        match normalise_ge(l) {
            Some(l) => out.push(l),
            None if trivial(l) => {}
            None => return Err(Stop::Empty),
        }
    }
    dedup(&mut out);
    Ok(out)
}

/// Fourier-Motzkin elimination of variable `v`: the constraints that do not
/// mention it, and for each pair of a lower and an upper bound on it their
/// combination. The flag says whether the shadow is exact for integers
/// (every pair has a unit coefficient on one side).
fn eliminate(ls: &[Lin], v: usize, budget: &mut Budget) -> Result<(Vec<Lin>, bool), Stop> {
    let (mut next, mut pos, mut neg) = (Vec::new(), Vec::new(), Vec::new());
    for l in ls {
        match l.a[v].signum() {
            0 => next.push(*l),
            1 => pos.push(*l),
            _ => neg.push(*l),
        }
    }
    let mut exact = true;
    for p in &pos {
        for q in &neg {
            exact &= p.a[v] == 1 || q.a[v] == -1;
            // p: a x_v + P >= 0 (a > 0); q: -b x_v + Q >= 0 (b > 0)
            // => b P + a Q >= 0.
            let combined = p
                .checked_scale(-q.a[v])
                .and_then(|l| l.checked_add(&q.checked_scale(p.a[v])?))
                .ok_or(Stop::Exhausted)?;
            match normalise_ge(&combined) {
                Some(l) => next.push(l),
                None if trivial(&combined) => {}
                None => return Err(Stop::Empty),
            }
            if next.len() > budget.constraints {
                return Err(Stop::Exhausted);
            }
        }
    }
    dedup(&mut next);
    budget.constraints = budget.constraints.saturating_sub(next.len());
    Ok((next, exact))
}

/// Removes duplicate constraints, keeping for each coefficient vector the
/// tightest (smallest) constant.
fn dedup(ls: &mut Vec<Lin>) {
    ls.sort_unstable_by(|x, y| x.a.cmp(&y.a).then(x.c.cmp(&y.c)));
    ls.dedup_by(|later, earlier| later.a == earlier.a);
}

/// Fixes `free[k..]` in increasing order; false when the budget ran out.
#[allow(clippy::too_many_arguments)]
fn dfs(
    k: usize,
    free: &[usize],
    proj: &[Vec<Lin>],
    solved: &[(usize, Lin)],
    x: &mut [i64],
    budget: &mut Budget,
    visit: &mut dyn FnMut(&[i64]) -> bool,
    stopped: &mut bool,
) -> bool {
    if budget.nodes == 0 {
        return false;
    }
    budget.nodes -= 1;
    if k == free.len() {
        for (v, form) in solved.iter().rev() {
            match form.checked_eval(x) {
                Some(value) => x[*v] = value,
                None => return false,
            }
        }
        if !visit(x) {
            *stopped = true;
        }
        return true;
    }
    let v = free[k];
    let (mut lo, mut hi) = (i64::MIN, i64::MAX);
    for l in &proj[k + 1] {
        let a = l.a[v];
        if a == 0 {
            continue;
        }
        let mut rest = *l;
        rest.a[v] = 0;
        let Some(r) = rest.checked_eval(x) else {
            return false;
        };
        // a x_v + r >= 0
        if a > 0 {
            lo = lo.max(div_ceil(-r, a));
        } else {
            hi = hi.min(div_floor(r, -a));
        }
    }
    if lo == i64::MIN || hi == i64::MAX {
        // An unbounded variable: every program variable is bounded by its
        // loop, so this is a caller's mistake; refuse rather than loop.
        return false;
    }
    let mut value = lo;
    while value <= hi {
        x[v] = value;
        if !dfs(k + 1, free, proj, solved, x, budget, visit, stopped) {
            return false;
        }
        if *stopped {
            return true;
        }
        value += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lin(a: &[i64], c: i64) -> Lin {
        let mut l = Lin::constant(c);
        l.a[..a.len()].copy_from_slice(a);
        l
    }

    /// All integer points of a box-bounded system by brute force.
    fn brute(s: &System, lo: i64, hi: i64) -> Vec<Vec<i64>> {
        crate::lin::box_points(s.n, lo, hi)
            .filter(|x| s.ge.iter().all(|l| l.eval(x) >= 0) && s.eq.iter().all(|l| l.eval(x) == 0))
            .collect()
    }

    #[test]
    fn triangle_with_an_equality() {
        // 0 <= i < 5, 0 <= j <= i, i = 2j + 1
        let mut s = System::new(2);
        s.ge0(lin(&[1, 0], 0))
            .ge0(lin(&[-1, 0], 4))
            .ge0(lin(&[0, 1], 0))
            .ge0(lin(&[1, -1], 0))
            .eq0(lin(&[1, -2], -1));
        let mut seen = Vec::new();
        s.points_lex(Budget::default(), &mut |p| {
            seen.push(p.to_vec());
            true
        })
        .unwrap();
        assert_eq!(seen, vec![vec![1, 0], vec![3, 1]]);
        assert_eq!(s.find_point(Budget::default()), Decision::Yes(vec![1, 0]));
    }

    #[test]
    fn parity_gap_is_empty() {
        // 2x = 2y + 1 has no integer point.
        let mut s = System::new(2);
        s.ge0(lin(&[1, 0], 0))
            .ge0(lin(&[-1, 0], 10))
            .ge0(lin(&[0, 1], 0))
            .ge0(lin(&[0, -1], 10))
            .eq0(lin(&[2, -2], -1));
        assert_eq!(s.find_point(Budget::default()), Decision::No);
    }

    #[test]
    fn strided_equalities_project_exactly() {
        // 0 <= x <= 9, 0 <= y <= 20, 4y = 8x + 4: y = 2x + 1 once divided,
        // so the shadow on x is exact.
        let mut s = System::new(2);
        s.ge0(lin(&[1, 0], 0))
            .ge0(lin(&[-1, 0], 9))
            .ge0(lin(&[0, 1], 0))
            .ge0(lin(&[0, -1], 20))
            .eq0(lin(&[-8, 4], -4));
        let (p, exact) = s.project(1, Budget::default()).unwrap();
        assert!(exact);
        assert_eq!(p.bounds(0, Budget::default()), Some((0, 9)));
        assert_eq!(s.stride(1), None);
    }

    #[test]
    fn a_stride_names_the_variable_and_its_modulus() {
        // x = 2y: the even x, which no projection expresses.
        let mut s = System::new(2);
        s.ge0(lin(&[1, 0], -3))
            .ge0(lin(&[-1, 0], 11))
            .ge0(lin(&[0, 1], 0))
            .eq0(lin(&[1, -2], 0));
        assert!(!s.project(1, Budget::default()).unwrap().1);
        assert_eq!(s.stride(1), Some((0, 2)));
        assert_eq!(s.bounds(0, Budget::default()), Some((3, 11)));
        // 6x = 4y + 2: 3x = 2y + 1, x odd (modulus 2, not 4).
        let mut t = System::new(2);
        t.eq0(lin(&[6, -4], -2));
        assert_eq!(t.stride(1), Some((0, 2)));
        // Empty, or without a common factor: no stride.
        let mut e = System::new(2);
        e.eq0(lin(&[2, -2], -1));
        assert_eq!(e.stride(1), None);
        let mut f = System::new(3);
        f.eq0(lin(&[1, -2, -3], 0));
        assert_eq!(f.stride(1), None);
    }

    use proptest::prelude::*;

    fn small_lin(n: usize) -> impl Strategy<Value = Lin> {
        (prop::collection::vec(-2i64..=2, n), -6i64..=6).prop_map(|(a, c)| lin(&a, c))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        /// An exact projection has exactly the brute-force shadow; an
        /// inexact one contains it.
        #[test]
        fn projection_is_the_shadow(
            seed_ge in prop::collection::vec(small_lin(3), 0..4),
            seed_eq in prop::collection::vec(small_lin(3), 0..2),
        ) {
            let mut s = System::new(3);
            for k in 0..3 {
                s.ge0(Lin::constant(4).checked_add(&Lin::var(k)).unwrap());
                s.ge0(Lin::constant(4).checked_sub(&Lin::var(k)).unwrap());
            }
            for l in &seed_ge { s.ge0(*l); }
            for l in &seed_eq { s.eq0(*l); }
            let mut shadow: Vec<Vec<i64>> = brute(&s, -4, 4).into_iter().map(|p| p[..1].to_vec()).collect();
            shadow.dedup();
            let (p, exact) = s.project(1, Budget::default()).unwrap();
            let mut got = Vec::new();
            let mut bounded = p.clone();
            bounded.ge0(Lin::constant(4).checked_add(&Lin::var(0)).unwrap());
            bounded.ge0(Lin::constant(4).checked_sub(&Lin::var(0)).unwrap());
            bounded.points_lex(Budget::default(), &mut |x| { got.push(x.to_vec()); true }).unwrap();
            if exact {
                prop_assert_eq!(&got, &shadow);
            } else {
                prop_assert!(shadow.iter().all(|x| got.contains(x)));
            }
        }

        /// The search finds exactly the points brute force finds, in the
        /// same order, for random systems inside the box [-4, 4]^n.
        #[test]
        fn agrees_with_brute_force(
            n in 1usize..=3,
            seed_ge in prop::collection::vec(small_lin(3), 0..4),
            seed_eq in prop::collection::vec(small_lin(3), 0..2),
        ) {
            let mut s = System::new(n);
            for k in 0..n {
                s.ge0(Lin { c: 4, ..lin(&[0; 0], 0) }.checked_add(&Lin::var(k)).unwrap());
                s.ge0(Lin::constant(4).checked_sub(&Lin::var(k)).unwrap());
            }
            let trim = |l: &Lin| { let mut t = Lin::constant(l.c); t.a[..n].copy_from_slice(&l.a[..n]); t };
            for l in &seed_ge { s.ge0(trim(l)); }
            for l in &seed_eq { s.eq0(trim(l)); }
            let expected = brute(&s, -4, 4);
            let mut seen = Vec::new();
            s.points_lex(Budget::default(), &mut |p| { seen.push(p.to_vec()); true }).unwrap();
            prop_assert_eq!(&seen, &expected);
            match s.find_point(Budget::default()) {
                Decision::Yes(p) => prop_assert!(expected.contains(&p)),
                Decision::No => prop_assert!(expected.is_empty()),
                Decision::Undecided => prop_assert!(false, "undecided"),
            }
        }
    }
}
