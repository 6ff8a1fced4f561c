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

    /// Adds every constraint of `other` (over the same variables).
    pub fn extend(&mut self, other: &System) {
        self.ge.extend_from_slice(&other.ge);
        self.eq.extend_from_slice(&other.eq);
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
    pub fn project(&self, keep: usize, budget: Budget) -> Option<(System, bool)> {
        let n = self.n;
        let mut exact = true;
        let mut eqs = self.eq.clone();
        let mut ges = self.ge.clone();
        // Solve equalities for eliminated variables with unit coefficients.
        loop {
            let found = eqs
                .iter()
                .enumerate()
                .find_map(|(k, e)| (keep..n).find(|&v| e.a[v].abs() == 1).map(|v| (k, v)));
            let Some((k, v)) = found else { break };
            let e = eqs.swap_remove(k);
            let av = e.a[v];
            let mut rest = e;
            rest.a[v] = 0;
            let by = rest.checked_scale(-av)?;
            for other in eqs.iter_mut().chain(ges.iter_mut()) {
                *other = other.substitute(v, &by)?;
            }
        }
        let mut kept_eqs = Vec::new();
        for e in eqs {
            if (keep..n).any(|v| e.a[v] != 0) {
                exact = false;
                ges.push(e);
                ges.push(e.checked_scale(-1)?);
            } else if !e.is_const() {
                kept_eqs.push(e);
            } else if e.c != 0 {
                return Some((System::infeasible(keep), true));
            }
        }
        let mut cur: Vec<Lin> = Vec::with_capacity(ges.len());
        for l in &ges {
            match normalise_ge(l) {
                Some(l) => cur.push(l),
                None if trivial(l) => {}
                None => return Some((System::infeasible(keep), true)),
            }
        }
        dedup(&mut cur);
        for v in (keep..n).rev() {
            let (mut next, mut pos, mut neg) = (Vec::new(), Vec::new(), Vec::new());
            for l in &cur {
                match l.a[v].signum() {
                    0 => next.push(*l),
                    1 => pos.push(*l),
                    _ => neg.push(*l),
                }
            }
            for p in &pos {
                for q in &neg {
                    if p.a[v] != 1 && q.a[v] != -1 {
                        exact = false;
                    }
                    let combined = p
                        .checked_scale(-q.a[v])?
                        .checked_add(&q.checked_scale(p.a[v])?)?;
                    match normalise_ge(&combined) {
                        Some(l) => next.push(l),
                        None if trivial(&combined) => {}
                        None => return Some((System::infeasible(keep), exact)),
                    }
                    if next.len() > budget.constraints {
                        return None;
                    }
                }
            }
            dedup(&mut next);
            cur = next;
        }
        Some((
            System {
                n: keep,
                ge: cur,
                eq: kept_eqs,
            },
            exact,
        ))
    }

    /// A system over `n` variables with no point.
    pub fn infeasible(n: usize) -> System {
        let mut s = System::new(n);
        s.ge0(Lin::constant(-1));
        s
    }

    /// The search behind [`System::find_point`] and [`System::points_lex`].
    /// With `substitute`, unit equalities are solved first (faster, but the
    /// visiting order is then over the remaining variables).
    fn search(
        &self,
        mut budget: Budget,
        substitute: bool,
        visit: &mut dyn FnMut(&[i64]) -> bool,
    ) -> Option<()> {
        let n = self.n;
        let mut ge: Vec<Lin> = Vec::with_capacity(self.ge.len() + 2 * self.eq.len());
        // Solved variables: x_k = form over the remaining variables.
        let mut solved: Vec<(usize, Lin)> = Vec::new();
        let mut eqs: Vec<Lin> = self.eq.clone();
        let mut ges: Vec<Lin> = self.ge.clone();
        loop {
            let mut progressed = false;
            let mut k = 0;
            while k < eqs.len() {
                let e = eqs[k];
                if e.is_const() {
                    if e.c != 0 {
                        return Some(());
                    }
                    eqs.swap_remove(k);
                    continue;
                }
                let g = e.a.iter().fold(0, |g, &a| gcd(g, a));
                if e.c % g != 0 {
                    return Some(());
                }
                let unit = if substitute {
                    (0..n).find(|&v| e.a[v].abs() == g)
                } else {
                    None
                };
                let Some(v) = unit.filter(|_| g == 1) else {
                    k += 1;
                    continue;
                };
                // a_v x_v + rest = 0 with a_v = ±1: x_v = -a_v * rest.
                let mut rest = e;
                let av = rest.a[v];
                rest.a[v] = 0;
                let by = rest.checked_scale(-av)?;
                for other in eqs.iter_mut().chain(ges.iter_mut()) {
                    *other = other.substitute(v, &by)?;
                }
                for (_, form) in solved.iter_mut() {
                    *form = form.substitute(v, &by)?;
                }
                solved.push((v, by));
                eqs.swap_remove(k);
                progressed = true;
            }
            if !progressed {
                break;
            }
        }
        for e in &eqs {
            ge.push(*e);
            ge.push(e.checked_scale(-1)?);
        }
        for g in &ges {
            ge.push(*g);
        }
        let solved_vars: Vec<bool> = (0..n)
            .map(|v| solved.iter().any(|(s, _)| *s == v))
            .collect();
        let free: Vec<usize> = (0..n).filter(|&v| !solved_vars[v]).collect();

        // Normalise, drop the trivially true, stop at the trivially false.
        let mut base = Vec::with_capacity(ge.len());
        for l in &ge {
            match normalise_ge(l) {
                Some(l) => base.push(l),
                None if trivial(l) => {}
                None => return Some(()),
            }
        }
        dedup(&mut base);

        // proj[k] holds the constraints over free[0..k]; proj[r] is the
        // whole system. The bounds of free[k] come from proj[k + 1].
        let r = free.len();
        let mut proj: Vec<Vec<Lin>> = vec![Vec::new(); r + 1];
        proj[r] = base;
        for k in (0..r).rev() {
            let v = free[k];
            let (mut keep, mut pos, mut neg) = (Vec::new(), Vec::new(), Vec::new());
            for l in &proj[k + 1] {
                match l.a[v].signum() {
                    0 => keep.push(*l),
                    1 => pos.push(*l),
                    _ => neg.push(*l),
                }
            }
            for p in &pos {
                for q in &neg {
                    // p: a x_v + P >= 0 (a > 0); q: -b x_v + Q >= 0 (b > 0)
                    // => b P + a Q >= 0.
                    let combined = p
                        .checked_scale(-q.a[v])?
                        .checked_add(&q.checked_scale(p.a[v])?)?;
                    match normalise_ge(&combined) {
                        Some(l) => keep.push(l),
                        None if trivial(&combined) => {}
                        None => return Some(()),
                    }
                    if keep.len() > budget.constraints {
                        return None;
                    }
                }
            }
            dedup(&mut keep);
            budget.constraints = budget.constraints.saturating_sub(keep.len());
            proj[k] = keep;
        }

        let mut x = vec![0i64; n];
        let mut stopped = false;
        let ok = dfs(
            0,
            &free,
            &proj,
            &solved,
            &mut x,
            &mut budget,
            visit,
            &mut stopped,
        );
        if ok { Some(()) } else { None }
    }
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
        let mut out = Vec::new();
        let mut x = vec![lo; s.n];
        loop {
            if s.ge.iter().all(|l| l.eval(&x) >= 0) && s.eq.iter().all(|l| l.eval(&x) == 0) {
                out.push(x.clone());
            }
            let mut k = s.n;
            loop {
                if k == 0 {
                    return out;
                }
                k -= 1;
                if x[k] < hi {
                    x[k] += 1;
                    break;
                }
                x[k] = lo;
            }
        }
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
