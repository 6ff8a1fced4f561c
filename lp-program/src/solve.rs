//! "Which iterations of this family touch tile T?": the question behind a
//! job's children, its in-degree and a tile's readers, answered in
//! microseconds without sympy (numpywren's solver) and without a table.
//!
//! A tile reference is an affine map `R(t) = M t + m` from the family's
//! internal loop variables to tile coordinates (versions, then row and
//! column). For a target tile `T`, the iterations touching it solve
//! `M t = T - m`. [`Solver::new`] brings that system to echelon form once
//! per reference, eliminating the *innermost* variables first (fraction-free,
//! every row divided by its gcd), so that each row determines one variable
//! from the target and the variables *outside* it:
//!
//! ```text
//! p_m t_m + sum_{k < m} a_k t_k = sum_j w_j T_j + c
//! ```
//!
//! A query then walks the loop levels outermost first: a level with a row
//! is computed (one division, a divisibility test and a range test), a level
//! without one is enumerated over its loop range. Rows left with no variable
//! are conditions on `T` alone, tested before anything else. The work is
//! the number of solutions plus, for a variable the index does not pin
//! down, the values of its range that fail an inner test.

use crate::family::{LIMIT, Spec};
use crate::lin::{Lin, MAX_DEPTH};

/// One echelon row: `pivot * t_var + sum outer[k] t_k = sum w[j] T_j + c`.
#[derive(Clone, Debug)]
struct Row {
    pivot: i64,
    outer: [i64; MAX_DEPTH],
    w: Vec<i64>,
    c: i64,
}

/// An augmented row `a t + w T = c` during elimination, in i128 so that
/// the products of a fraction-free step cannot overflow.
struct Aug {
    a: [i128; MAX_DEPTH],
    w: Vec<i128>,
    c: i128,
}

impl Aug {
    /// Component `j` of an index map: `l(t) = T_j`, i.e. `a t - T_j = -c`.
    fn of_component(j: usize, l: &Lin, comps: usize, depth: usize) -> Aug {
        let mut a = [0i128; MAX_DEPTH];
        for k in 0..depth {
            a[k] = l.a[k] as i128;
        }
        let mut w = vec![0i128; comps];
        w[j] = -1;
        Aug {
            a,
            w,
            c: -(l.c as i128),
        }
    }

    /// Divides the row by the gcd of its entries.
    fn normalise(&mut self) {
        let mut g: i128 = 0;
        for v in self.a.iter().chain(&self.w).chain(std::iter::once(&self.c)) {
            g = gcd_i128(g, *v);
        }
        if g > 1 {
            for v in self.a.iter_mut().chain(self.w.iter_mut()) {
                *v /= g;
            }
            self.c /= g;
        }
    }

    /// `self` with variable `k` eliminated by `pivot` (fraction-free).
    fn eliminate(&self, pivot: &Aug, k: usize) -> Aug {
        let (pa, ia) = (pivot.a[k], self.a[k]);
        let mut next = Aug {
            a: [0; MAX_DEPTH],
            w: self
                .w
                .iter()
                .zip(&pivot.w)
                .map(|(&x, &y)| pa * x - ia * y)
                .collect(),
            c: pa * self.c - ia * pivot.c,
        };
        for q in 0..MAX_DEPTH {
            next.a[q] = pa * self.a[q] - ia * pivot.a[q];
        }
        next.normalise();
        next
    }
}

/// Brings `rows` to echelon form, innermost variable first. Returns which
/// rows became pivots and, per variable, the index of its pivot row.
fn echelon(rows: &mut [Aug], depth: usize) -> (Vec<bool>, Vec<Option<usize>>) {
    let mut used = vec![false; rows.len()];
    let mut pivots: Vec<Option<usize>> = vec![None; depth];
    for k in (0..depth).rev() {
        let Some(p) = (0..rows.len()).find(|&i| !used[i] && rows[i].a[k] != 0) else {
            continue;
        };
        used[p] = true;
        pivots[k] = Some(p);
        for i in 0..rows.len() {
            if !used[i] && rows[i].a[k] != 0 {
                rows[i] = rows[i].eliminate(&rows[p], k);
            }
        }
    }
    (used, pivots)
}

/// The solved form of one tile reference of one spec.
#[derive(Clone, Debug)]
pub struct Solver {
    depth: usize,
    /// `rows[m]`: the row that determines `t_m`, if any.
    rows: Vec<Option<Row>>,
    /// Conditions on the target alone: `sum w[j] T_j + c = 0`.
    checks: Vec<(Vec<i64>, i64)>,
}

impl Solver {
    /// The solver of index map `comps` (one form per tile coordinate) over
    /// `depth` internal variables. `None` when elimination makes the numbers
    /// exceed the solver's limits (no program of the library comes close).
    pub fn new(comps: &[Lin], depth: usize) -> Option<Solver> {
        let mut rows: Vec<Aug> = comps
            .iter()
            .enumerate()
            .map(|(j, l)| Aug::of_component(j, l, comps.len(), depth))
            .collect();
        let (used, pivots) = echelon(&mut rows, depth);
        // Coefficients below LIMIT and constants below 2^58 keep a query's
        // arithmetic (targets and loop values below 2^33) inside i64.
        let small =
            |v: i128| -> Option<i64> { (v.unsigned_abs() < LIMIT as u128).then_some(v as i64) };
        let constant =
            |v: i128| -> Option<i64> { (v.unsigned_abs() < 1u128 << 58).then_some(v as i64) };
        let mut out_rows: Vec<Option<Row>> = vec![None; depth];
        for k in 0..depth {
            let Some(p) = pivots[k] else { continue };
            let row = &rows[p];
            let mut outer = [0i64; MAX_DEPTH];
            for q in 0..k {
                outer[q] = small(row.a[q])?;
            }
            // p t_k + outer t + w T = c, kept as p t_k + outer t = (-w) T + c.
            out_rows[k] = Some(Row {
                pivot: small(row.a[k])?,
                outer,
                w: row.w.iter().map(|&v| small(-v)).collect::<Option<_>>()?,
                c: constant(row.c)?,
            });
        }
        let mut checks = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            if used[i] {
                continue;
            }
            // w T = c, kept as (-w) T + c = 0.
            let w: Vec<i64> = row.w.iter().map(|&v| small(-v)).collect::<Option<_>>()?;
            checks.push((w, constant(row.c)?));
        }
        Some(Solver {
            depth,
            rows: out_rows,
            checks,
        })
    }

    /// Calls `found(t)` for every internal point of `spec` that the
    /// reference maps to `target`, in lexicographic order; stops early when
    /// `found` returns false.
    pub fn solve(&self, spec: &Spec, target: &[i64], found: &mut dyn FnMut(&[i64]) -> bool) {
        if let Some(rhs) = self.rhs(target) {
            self.walk(0, spec, &rhs, &mut [0; MAX_DEPTH], found);
        }
    }

    /// The number of internal points of `spec` that the reference maps to
    /// `target`: [`Solver::solve`]'s walk, except that a free innermost
    /// level is counted by its range instead of enumerated, so a tile read
    /// by every iteration of one loop costs a few operations, not one per
    /// reader.
    pub fn count(&self, spec: &Spec, target: &[i64]) -> u64 {
        let Some(rhs) = self.rhs(target) else {
            return 0;
        };
        self.count_from(0, spec, &rhs, &mut [0; MAX_DEPTH])
    }

    /// The right-hand side of each row at `target`, or `None` when a
    /// condition on the target alone fails.
    fn rhs(&self, target: &[i64]) -> Option<[i64; MAX_DEPTH]> {
        let dot = |w: &[i64]| -> i64 { w.iter().zip(target).map(|(a, b)| a * b).sum() };
        if self.checks.iter().any(|(w, c)| dot(w) + c != 0) {
            return None;
        }
        let mut rhs = [0i64; MAX_DEPTH];
        for (m, row) in self.rows.iter().enumerate() {
            if let Some(row) = row {
                rhs[m] = dot(&row.w) + row.c;
            }
        }
        Some(rhs)
    }

    /// The value row `m` gives `t_m` from the outer variables, if it is an
    /// integer inside `lo..=hi`.
    fn pinned(row: &Row, rhs: i64, t: &[i64], (lo, hi): (i64, i64)) -> Option<i64> {
        let mut v = rhs;
        for (k, &tk) in t.iter().enumerate() {
            v -= row.outer[k] * tk;
        }
        if v % row.pivot != 0 {
            return None;
        }
        let value = v / row.pivot;
        (lo..=hi).contains(&value).then_some(value)
    }

    fn count_from(
        &self,
        m: usize,
        spec: &Spec,
        rhs: &[i64; MAX_DEPTH],
        t: &mut [i64; MAX_DEPTH],
    ) -> u64 {
        if m == self.depth {
            return 1;
        }
        let (lo, hi) = spec.range(m, &t[..m]);
        match &self.rows[m] {
            Some(row) => match Self::pinned(row, rhs[m], &t[..m], (lo, hi)) {
                Some(value) => {
                    t[m] = value;
                    self.count_from(m + 1, spec, rhs, t)
                }
                None => 0,
            },
            None if m + 1 == self.depth => (hi as i128 - lo as i128 + 1).max(0) as u64,
            None => {
                let mut total = 0u64;
                for value in lo..=hi {
                    t[m] = value;
                    total = total.saturating_add(self.count_from(m + 1, spec, rhs, t));
                }
                total
            }
        }
    }

    fn walk(
        &self,
        m: usize,
        spec: &Spec,
        rhs: &[i64; MAX_DEPTH],
        t: &mut [i64; MAX_DEPTH],
        found: &mut dyn FnMut(&[i64]) -> bool,
    ) -> bool {
        if m == self.depth {
            return found(&t[..self.depth]);
        }
        let (lo, hi) = spec.range(m, &t[..m]);
        match &self.rows[m] {
            Some(row) => match Self::pinned(row, rhs[m], &t[..m], (lo, hi)) {
                Some(value) => {
                    t[m] = value;
                    self.walk(m + 1, spec, rhs, t, found)
                }
                None => true,
            },
            None => {
                let mut value = lo;
                while value <= hi {
                    t[m] = value;
                    if !self.walk(m + 1, spec, rhs, t, found) {
                        return false;
                    }
                    value += 1;
                }
                true
            }
        }
    }
}

fn gcd_i128(a: i128, b: i128) -> i128 {
    let (mut a, mut b) = (a.unsigned_abs(), b.unsigned_abs());
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a as i128
}
