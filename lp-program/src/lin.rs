//! Affine forms `a·x + c` over a few integer variables: loop bounds, tile
//! indices and the constraints the solver works with.
//!
//! The variables are a family's loop variables (at most [`MAX_DEPTH`]), or,
//! in a question about two families at once, the variables of both (at most
//! [`MAXV`]); a form is a fixed array so that building and evaluating one
//! never allocates. Arithmetic is checked: a program whose numbers overflow
//! 64 bits is refused, never wrapped.

/// The deepest loop nest a job family may have.
pub const MAX_DEPTH: usize = 8;
/// Variables of one affine form: two families' loop variables.
pub const MAXV: usize = 2 * MAX_DEPTH;

/// `a[0] x_0 + ... + a[MAXV-1] x_{MAXV-1} + c`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Lin {
    pub a: [i64; MAXV],
    pub c: i64,
}

impl Lin {
    pub const ZERO: Lin = Lin { a: [0; MAXV], c: 0 };

    pub fn constant(c: i64) -> Lin {
        Lin { c, ..Lin::ZERO }
    }

    /// The variable `x_k`.
    pub fn var(k: usize) -> Lin {
        let mut l = Lin::ZERO;
        l.a[k] = 1;
        l
    }

    pub fn is_const(&self) -> bool {
        self.a.iter().all(|&a| a == 0)
    }

    /// The highest variable index with a non-zero coefficient.
    pub fn last_var(&self) -> Option<usize> {
        self.a.iter().rposition(|&a| a != 0)
    }

    pub fn checked_add(&self, o: &Lin) -> Option<Lin> {
        let mut r = Lin::ZERO;
        for k in 0..MAXV {
            r.a[k] = self.a[k].checked_add(o.a[k])?;
        }
        r.c = self.c.checked_add(o.c)?;
        Some(r)
    }

    pub fn checked_sub(&self, o: &Lin) -> Option<Lin> {
        self.checked_add(&o.checked_scale(-1)?)
    }

    pub fn checked_scale(&self, s: i64) -> Option<Lin> {
        let mut r = Lin::ZERO;
        for k in 0..MAXV {
            r.a[k] = self.a[k].checked_mul(s)?;
        }
        r.c = self.c.checked_mul(s)?;
        Some(r)
    }

    /// The value at `x` (variables past `x.len()` count as zero). The
    /// caller keeps magnitudes in range (see `family::LIMIT`), so this is
    /// plain arithmetic on the hot path.
    #[inline]
    pub fn eval(&self, x: &[i64]) -> i64 {
        let mut v = self.c;
        for (a, x) in self.a.iter().zip(x) {
            v += a * x;
        }
        v
    }

    /// The value at `x`, `None` on overflow.
    pub fn checked_eval(&self, x: &[i64]) -> Option<i64> {
        let mut v = self.c;
        for (a, x) in self.a.iter().zip(x) {
            v = v.checked_add(a.checked_mul(*x)?)?;
        }
        Some(v)
    }

    /// The same form with variable `k` renamed to `k + offset` (the second
    /// family of a pair question).
    pub fn shifted(&self, offset: usize) -> Lin {
        let mut r = Lin::constant(self.c);
        for k in 0..MAXV - offset {
            r.a[k + offset] = self.a[k];
        }
        r
    }

    /// Replaces variable `k` by the form `by`: `self` with `x_k := by`.
    pub fn substitute(&self, k: usize, by: &Lin) -> Option<Lin> {
        let a = self.a[k];
        if a == 0 {
            return Some(*self);
        }
        let mut rest = *self;
        rest.a[k] = 0;
        rest.checked_add(&by.checked_scale(a)?)
    }

    /// The form with every coefficient and the constant divided by `g`,
    /// which divides them all (an equality brought to lowest terms).
    pub fn divided(&self, g: i64) -> Lin {
        let mut r = *self;
        for a in &mut r.a {
            *a /= g;
        }
        r.c /= g;
        r
    }
}

pub fn gcd(a: i64, b: i64) -> i64 {
    let (mut a, mut b) = (a.unsigned_abs(), b.unsigned_abs());
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a as i64
}

/// `floor(a / b)` for `b > 0`.
pub fn div_floor(a: i64, b: i64) -> i64 {
    let q = a / b;
    if (a % b != 0) && (a < 0) { q - 1 } else { q }
}

/// `ceil(a / b)` for `b > 0`.
pub fn div_ceil(a: i64, b: i64) -> i64 {
    let q = a / b;
    if (a % b != 0) && (a > 0) { q + 1 } else { q }
}

/// Every integer point of the box `[lo, hi]^n`, in lexicographic order:
/// the brute-force reference the counting and polytope tests compare with.
#[cfg(test)]
pub(crate) fn box_points(n: usize, lo: i64, hi: i64) -> impl Iterator<Item = Vec<i64>> {
    let mut next = (lo <= hi).then(|| vec![lo; n]);
    std::iter::from_fn(move || {
        let point = next.take()?;
        let mut odometer = point.clone();
        for k in (0..n).rev() {
            if odometer[k] < hi {
                odometer[k] += 1;
                next = Some(odometer);
                break;
            }
            odometer[k] = lo;
        }
        Some(point)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_box_has_every_point_once_in_order() {
        let points: Vec<Vec<i64>> = box_points(2, -1, 1).collect();
        assert_eq!(points.len(), 9);
        assert_eq!(
            points[..4],
            [vec![-1, -1], vec![-1, 0], vec![-1, 1], vec![0, -1]]
        );
        assert_eq!(box_points(0, 0, 0).collect::<Vec<_>>(), [Vec::<i64>::new()]);
        assert_eq!(box_points(2, 1, 0).count(), 0);
    }

    #[test]
    fn rounding_divisions() {
        assert_eq!((div_floor(7, 2), div_ceil(7, 2)), (3, 4));
        assert_eq!((div_floor(-7, 2), div_ceil(-7, 2)), (-4, -3));
        assert_eq!((div_floor(6, 3), div_ceil(-6, 3)), (2, -2));
    }

    #[test]
    fn substitution_and_shift() {
        // 2x0 + 3x1 + 1 with x0 := x1 - 4 is 5x1 - 7.
        let mut l = Lin::constant(1);
        l.a[0] = 2;
        l.a[1] = 3;
        let mut by = Lin::constant(-4);
        by.a[1] = 1;
        let s = l.substitute(0, &by).unwrap();
        assert_eq!((s.a[0], s.a[1], s.c), (0, 5, -7));
        assert_eq!(s.shifted(3).a[4], 5);
        assert_eq!(s.eval(&[9, 2]), 3);
    }
}
