//! How many integer points a loop nest has, counted without visiting them:
//! the number of jobs of a family, and of the jobs where some index
//! equations hold (a `SYRK` whose two operands are one tile).
//!
//! A nest is a family's constraints by level (a constraint of level `m`
//! mentions `t_m` and outer variables only, [`crate::family::Spec`]).
//! Equalities are substituted first: one whose deepest variable has a unit
//! coefficient gives that variable as a form of the outer ones, which
//! leaves a nest one level shallower. The two innermost levels are then
//! summed in closed form and only the levels outside them are enumerated,
//! so a nest of depth 3 over a grid of side `N` (the Cholesky's updates)
//! costs `N` steps, not `N^2`, and one of depth 2 costs a few operations.
//!
//! The closed form: for a value `s` of the outer of the two levels, the
//! inner one runs from `max_i ceil(L_i(s))` to `min_j floor(U_j(s))`, each
//! `L_i`, `U_j` a line in `s` (a constraint divided by its coefficient on
//! the inner variable). Between the points where two lines of a side cross
//! the largest `L` and the smallest `U` stay the same lines (a ceiling or
//! floor keeps the order of its arguments), and the inner count is
//! `D(s) = floor(U(s)) - ceil(L(s)) + 1` where `U(s) >= L(s)` and 0 elsewhere
//! (`D > U - L - 1 >= -1` on one side, `D <= U - L + 1 < 1` on the other), a
//! half-line of `s` on each piece. Sums of `floor((a s + b) / m)` over a
//! range take `O(log)` steps ([`floor_sum`]).
//!
//! What the closed form does not take (an equality whose deepest variable
//! has a coefficient other than ±1, a level without a lower or upper
//! bound, numbers past 128 bits) is `None`: the caller enumerates.

use crate::lin::{Lin, MAXV};

/// The count of [`points`], and the values it enumerated to get it (the
/// outer levels' values, each an inner sum in closed form).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counted {
    pub points: u64,
    pub steps: u64,
}

/// The number of points of the nest `levels` (constraints `l >= 0`,
/// `levels[m]` mentioning `t_m` and outer variables only) at which every
/// form of `equal` is zero, saturating at `u64::MAX`; `None` when the
/// closed form does not apply.
pub fn points(levels: &[Vec<Lin>], equal: &[Lin]) -> Option<Counted> {
    let nest = match Nest::new(levels, equal)? {
        Some(nest) => nest,
        None => {
            return Some(Counted {
                points: 0,
                steps: 0,
            });
        }
    };
    let mut counter = Counter {
        levels: &nest.levels,
        steps: 0,
        scratch: Scratch::default(),
    };
    let total = counter.from(0, &mut [0; MAXV])?;
    Some(Counted {
        points: total.min(u64::MAX as u128) as u64,
        steps: counter.steps,
    })
}

/// Constraints by level, every one at the level of its deepest variable.
struct Nest {
    levels: Vec<Vec<Lin>>,
}

impl Nest {
    /// The nest of `levels` restricted to `equal`, the equalities
    /// substituted away; `Some(None)` when it is empty for certain (a
    /// constraint or equality on constants alone fails).
    fn new(levels: &[Vec<Lin>], equal: &[Lin]) -> Option<Option<Nest>> {
        let depth = levels.len();
        if depth > MAXV {
            return None;
        }
        let mut cons: Vec<Lin> = levels.iter().flatten().copied().collect();
        let mut equal: Vec<Lin> = equal.to_vec();
        let mut depth = depth;
        loop {
            // Equalities on constants alone hold or empty the nest.
            let mut k = 0;
            while k < equal.len() {
                if equal[k].is_const() {
                    if equal[k].c != 0 {
                        return Some(None);
                    }
                    equal.swap_remove(k);
                } else {
                    k += 1;
                }
            }
            if equal.is_empty() {
                break;
            }
            // One whose deepest variable has a unit coefficient gives that
            // variable; with none, the closed form does not apply.
            let (e, m) = equal.iter().enumerate().find_map(|(k, e)| {
                let m = e.last_var()?;
                (e.a[m].abs() == 1).then_some((k, m))
            })?;
            let e = equal.swap_remove(e);
            if m >= depth {
                return None;
            }
            // e = a t_m + rest = 0, so t_m = -a rest (a = ±1).
            let a = e.a[m];
            let mut rest = e;
            rest.a[m] = 0;
            let by = rest.checked_scale(-a)?;
            for l in cons.iter_mut().chain(equal.iter_mut()) {
                *l = remove_var(&l.substitute(m, &by)?, m);
            }
            depth -= 1;
        }
        let mut out = vec![Vec::new(); depth];
        for l in cons {
            match l.last_var() {
                None if l.c < 0 => return Some(None),
                None => {}
                Some(m) if m >= depth => return None,
                Some(m) => out[m].push(l),
            }
        }
        Some(Some(Nest { levels: out }))
    }
}

/// `l` without variable `m` (which it no longer mentions): the variables
/// after it renumbered one lower.
fn remove_var(l: &Lin, m: usize) -> Lin {
    let mut r = *l;
    for k in m..MAXV - 1 {
        r.a[k] = l.a[k + 1];
    }
    r.a[MAXV - 1] = 0;
    r
}

/// One bound of the inner of two levels, `(p s + q) / b` with `b > 0`: a
/// lower bound rounds it up, an upper bound down.
#[derive(Clone, Copy, Debug)]
struct Line {
    p: i128,
    q: i128,
    b: i128,
}

impl Line {
    /// The sign of `self(s) - other(s)`.
    fn cmp_at(&self, other: &Line, s: i128) -> Option<std::cmp::Ordering> {
        let x = self.p.checked_mul(s)?.checked_add(self.q)?;
        let y = other.p.checked_mul(s)?.checked_add(other.q)?;
        Some(x.checked_mul(other.b)?.cmp(&y.checked_mul(self.b)?))
    }

    fn cmp_slope(&self, other: &Line) -> Option<std::cmp::Ordering> {
        Some(
            self.p
                .checked_mul(other.b)?
                .cmp(&other.p.checked_mul(self.b)?),
        )
    }

    /// The first integer past the real point where `self` and `other`
    /// cross, if they do.
    fn crossing(&self, other: &Line) -> Option<Option<i128>> {
        // (p1 b2 - p2 b1) s + (q1 b2 - q2 b1) = 0
        let k = self
            .p
            .checked_mul(other.b)?
            .checked_sub(other.p.checked_mul(self.b)?)?;
        let c = self
            .q
            .checked_mul(other.b)?
            .checked_sub(other.q.checked_mul(self.b)?)?;
        if k == 0 {
            return Some(None);
        }
        // s = -c / k; the first integer above floor(s).
        Some(Some(floor_div(c.checked_neg()?, k)?.checked_add(1)?))
    }
}

fn floor_div(a: i128, b: i128) -> Option<i128> {
    let (a, b) = if b < 0 {
        (a.checked_neg()?, b.checked_neg()?)
    } else {
        (a, b)
    };
    (b != 0).then(|| a.div_euclid(b))
}

fn ceil_div(a: i128, b: i128) -> Option<i128> {
    floor_div(a.checked_neg()?, b)?.checked_neg()
}

struct Counter<'a> {
    levels: &'a [Vec<Lin>],
    steps: u64,
    /// Buffers of [`Counter::two_levels`], kept between its calls.
    scratch: Scratch,
}

#[derive(Default)]
struct Scratch {
    lowers: Vec<Line>,
    uppers: Vec<Line>,
    cuts: Vec<i128>,
}

impl Counter<'_> {
    /// The points of levels `m..` given the outer values `t[..m]`.
    fn from(&mut self, m: usize, t: &mut [i128; MAXV]) -> Option<u128> {
        let depth = self.levels.len();
        if m == depth {
            return Some(1);
        }
        if m + 2 == depth {
            return self.two_levels(m, t);
        }
        let (lo, hi) = self.range(m, t)?;
        if m + 1 == depth {
            return Some(if lo > hi { 0 } else { (hi - lo + 1) as u128 });
        }
        let mut total: u128 = 0;
        let mut v = lo;
        while v <= hi {
            self.steps += 1;
            t[m] = v;
            total = total.saturating_add(self.from(m + 1, t)?);
            v += 1;
        }
        Some(total)
    }

    /// The rest of constraint `l` at the outer values `t[..m]`.
    fn rest(l: &Lin, m: usize, t: &[i128; MAXV]) -> Option<i128> {
        let mut r = l.c as i128;
        for k in 0..m {
            r = r.checked_add((l.a[k] as i128).checked_mul(t[k])?)?;
        }
        Some(r)
    }

    /// The range of `t_m` (inclusive; empty when lo > hi); `None` when a
    /// side is unbounded.
    fn range(&self, m: usize, t: &[i128; MAXV]) -> Option<(i128, i128)> {
        let (mut lo, mut hi) = (None::<i128>, None::<i128>);
        for l in &self.levels[m] {
            let a = l.a[m] as i128;
            let rest = Self::rest(l, m, t)?;
            if a > 0 {
                let v = ceil_div(-rest, a)?;
                lo = Some(lo.map_or(v, |lo| lo.max(v)));
            } else if a < 0 {
                let v = floor_div(rest, -a)?;
                hi = Some(hi.map_or(v, |hi| hi.min(v)));
            } else if rest < 0 {
                return Some((1, 0));
            }
        }
        Some((lo?, hi?))
    }

    /// The points of the two innermost levels `m` (values `s`) and `m + 1`
    /// (values `u`), in closed form (see the module's documentation).
    fn two_levels(&mut self, m: usize, t: &[i128; MAXV]) -> Option<u128> {
        let (lo, hi) = self.range(m, t)?;
        let mut scratch = std::mem::take(&mut self.scratch);
        let total = self.two_levels_in(m, t, (lo, hi), &mut scratch);
        self.scratch = scratch;
        total
    }

    /// [`Counter::two_levels`] with `s` in `lo..=hi` by level `m`'s own
    /// bounds, in the buffers `scratch`.
    fn two_levels_in(
        &self,
        m: usize,
        t: &[i128; MAXV],
        (mut lo, mut hi): (i128, i128),
        scratch: &mut Scratch,
    ) -> Option<u128> {
        let Scratch {
            lowers,
            uppers,
            cuts,
        } = scratch;
        lowers.clear();
        uppers.clear();
        cuts.clear();
        for l in &self.levels[m + 1] {
            // b u + c s + r >= 0
            let (b, c) = (l.a[m + 1] as i128, l.a[m] as i128);
            let r = Self::rest(l, m, t)?;
            if b > 0 {
                // u >= (-c s - r) / b
                lowers.push(Line { p: -c, q: -r, b });
            } else if b < 0 {
                // u <= (c s + r) / -b
                uppers.push(Line { p: c, q: r, b: -b });
            } else if c > 0 {
                lo = lo.max(ceil_div(-r, c)?);
            } else if c < 0 {
                hi = hi.min(floor_div(r, -c)?);
            } else if r < 0 {
                return Some(0);
            }
        }
        if lowers.is_empty() || uppers.is_empty() {
            return None;
        }
        if lo > hi {
            return Some(0);
        }
        // Where the largest lower or the smallest upper bound may change.
        cuts.push(lo);
        for side in [&*lowers, &*uppers] {
            for (i, x) in side.iter().enumerate() {
                for y in &side[i + 1..] {
                    if let Some(cut) = x.crossing(y)?
                        && lo < cut
                        && cut <= hi
                    {
                        cuts.push(cut);
                    }
                }
            }
        }
        cuts.sort_unstable();
        cuts.dedup();
        let mut total: u128 = 0;
        for (k, &start) in cuts.iter().enumerate() {
            let end = cuts
                .get(k + 1)
                .map_or(Some(hi), |&next| next.checked_sub(1))?;
            total = total.checked_add(Self::piece(lowers, uppers, start, end)?)?;
        }
        Some(total)
    }

    /// The points with `s` in `start..=end`, where no two bounds of a side
    /// cross strictly inside.
    fn piece(lowers: &[Line], uppers: &[Line], start: i128, end: i128) -> Option<u128> {
        use std::cmp::Ordering::*;
        // The binding bounds at `start` (the largest lower, the smallest
        // upper), ties broken by the slope: the one that stays binding to
        // the right.
        let binding = |lines: &[Line], wins| -> Option<Line> {
            let mut best = lines[0];
            for x in &lines[1..] {
                match x.cmp_at(&best, start)? {
                    Equal if x.cmp_slope(&best)? == wins => best = *x,
                    o if o == wins => best = *x,
                    _ => {}
                }
            }
            Some(best)
        };
        let (low, up) = (binding(lowers, Greater)?, binding(uppers, Less)?);
        // up(s) >= low(s): alpha s + beta >= 0.
        let alpha =
            up.p.checked_mul(low.b)?
                .checked_sub(low.p.checked_mul(up.b)?)?;
        let beta =
            up.q.checked_mul(low.b)?
                .checked_sub(low.q.checked_mul(up.b)?)?;
        let (mut start, mut end) = (start, end);
        if alpha > 0 {
            start = start.max(ceil_div(beta.checked_neg()?, alpha)?);
        } else if alpha < 0 {
            end = end.min(floor_div(beta, alpha.checked_neg()?)?);
        } else if beta < 0 {
            return Some(0);
        }
        if start > end {
            return Some(0);
        }
        let n = end.checked_sub(start)?.checked_add(1)?;
        // sum floor(up(s)) - ceil(low(s)) + 1, ceil(x) = -floor(-x).
        let ups = floor_sum(n, up.b, up.p, up.p.checked_mul(start)?.checked_add(up.q)?)?;
        let lows = floor_sum(
            n,
            low.b,
            low.p.checked_neg()?,
            low.p
                .checked_mul(start)?
                .checked_add(low.q)?
                .checked_neg()?,
        )?;
        let sum = ups.checked_add(lows)?.checked_add(n)?;
        u128::try_from(sum).ok()
    }
}

/// `sum_{i = 0}^{n - 1} floor((a i + b) / m)` for `n >= 0`, `m > 0`, in
/// `O(log m)` steps (the Euclidean-like reduction of AtCoder's library).
pub fn floor_sum(n: i128, m: i128, a: i128, b: i128) -> Option<i128> {
    if n < 0 || m <= 0 {
        return None;
    }
    if n == 0 {
        return Some(0);
    }
    let pairs = n.checked_mul(n - 1)? / 2;
    let mut total: i128 = 0;
    let (mut a, mut b) = (a, b);
    if a < 0 {
        let r = a.rem_euclid(m);
        total = total.checked_sub(pairs.checked_mul((r - a) / m)?)?;
        a = r;
    }
    if b < 0 {
        let r = b.rem_euclid(m);
        total = total.checked_sub(n.checked_mul((r - b) / m)?)?;
        b = r;
    }
    total.checked_add(floor_sum_unsigned(n, m, a, b)?)
}

/// [`floor_sum`] for `0 <= a`, `0 <= b`.
fn floor_sum_unsigned(n: i128, m: i128, a: i128, b: i128) -> Option<i128> {
    let (mut n, mut m, mut a, mut b) = (n, m, a, b);
    let mut total: i128 = 0;
    loop {
        if a >= m {
            let pairs = n.checked_mul(n - 1)? / 2;
            total = total.checked_add(pairs.checked_mul(a / m)?)?;
            a %= m;
        }
        if b >= m {
            total = total.checked_add(n.checked_mul(b / m)?)?;
            b %= m;
        }
        let y_max = a.checked_mul(n)?.checked_add(b)?;
        if y_max < m {
            return Some(total);
        }
        n = y_max / m;
        b = y_max % m;
        std::mem::swap(&mut m, &mut a);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lin(a: &[i64], c: i64) -> Lin {
        let mut l = Lin::constant(c);
        l.a[..a.len()].copy_from_slice(a);
        l
    }

    #[test]
    fn floor_sums_match_their_definition() {
        for n in 0..12i128 {
            for m in 1..7i128 {
                for a in -9..10i128 {
                    for b in -20..20i128 {
                        let want: i128 = (0..n).map(|i| (a * i + b).div_euclid(m)).sum();
                        assert_eq!(floor_sum(n, m, a, b), Some(want), "{n} {m} {a} {b}");
                    }
                }
            }
        }
    }

    /// The points of a nest by enumeration over a box.
    fn brute(levels: &[Vec<Lin>], equal: &[Lin], bound: i64) -> u64 {
        crate::lin::box_points(levels.len(), -bound, bound)
            .filter(|t| {
                levels.iter().flatten().all(|l| l.eval(t) >= 0)
                    && equal.iter().all(|e| e.eval(t) == 0)
            })
            .count() as u64
    }

    /// A small deterministic generator (xorshift).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn range(&mut self, lo: i64, hi: i64) -> i64 {
            lo + (self.next() % (hi - lo + 1) as u64) as i64
        }
    }

    /// Random nests of depth 1 to 3 with coefficients up to 3 (so bounds
    /// with floors and ceilings), several bounds per side, and random
    /// equalities, against enumeration; every variable kept inside
    /// `-B..=B` by explicit bounds.
    #[test]
    fn random_nests_match_enumeration() {
        const B: i64 = 5;
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut closed = 0;
        for case in 0..3000 {
            let depth = rng.range(1, 3) as usize;
            let mut levels = vec![Vec::new(); depth];
            for m in 0..depth {
                // The box: t_m >= -B, t_m <= B.
                levels[m].push(lin(&[&vec![0; m][..], &[1]].concat(), B));
                levels[m].push(lin(&[&vec![0; m][..], &[-1]].concat(), B));
                for _ in 0..rng.range(1, 4) {
                    let mut a: Vec<i64> = (0..=m).map(|_| rng.range(-3, 3)).collect();
                    if a[m] == 0 {
                        a[m] = if rng.next().is_multiple_of(2) { 1 } else { -2 };
                    }
                    levels[m].push(lin(&a, rng.range(-12, 12)));
                }
            }
            let mut equal = Vec::new();
            for _ in 0..rng.range(0, 2) {
                let a: Vec<i64> = (0..depth).map(|_| rng.range(-2, 2)).collect();
                equal.push(lin(&a, rng.range(-3, 3)));
            }
            let want = brute(&levels, &equal, B);
            match points(&levels, &equal) {
                Some(got) => {
                    assert_eq!(got.points, want, "case {case}: {levels:?} {equal:?}");
                    closed += 1;
                }
                // Only an equality without a unit coefficient on its
                // deepest variable is left to enumeration.
                None => assert!(!equal.is_empty(), "case {case}: {levels:?}"),
            }
        }
        assert!(closed > 1500, "{closed}");
    }

    /// The Cholesky's update nest `0 <= k < N, k < i < N, k < j <= i` over
    /// a grid of side 100,000: N^3 / 6 points, counted in N steps (not the
    /// N^2 / 2 of an enumeration of all levels but the innermost).
    #[test]
    fn a_depth_three_nest_is_counted_in_linear_steps() {
        const N: i64 = 100_000;
        let levels = vec![
            vec![lin(&[1], 0), lin(&[-1], N - 1)],
            vec![lin(&[-1, 1], -1), lin(&[0, -1], N - 1)],
            vec![lin(&[-1, 0, 1], -1), lin(&[0, 1, -1], 0)],
        ];
        let n = N as u128;
        // sum_k (N - 1 - k)(N - k) / 2
        let want: u128 = (0..n).map(|k| (n - 1 - k) * (n - k) / 2).sum();
        let got = points(&levels, &[]).unwrap();
        assert_eq!(got.points as u128, want);
        assert!(got.steps <= N as u64, "{} steps", got.steps);
        // With the diagonal j = i: N (N - 1) / 2 points, in no steps at all.
        let diagonal = points(&levels, &[lin(&[0, 1, -1], 0)]).unwrap();
        assert_eq!(diagonal.points as u128, n * (n - 1) / 2);
        assert_eq!(diagonal.steps, 0);
    }
}
