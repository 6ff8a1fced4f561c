//! Coverage: every loaded tile of a non-input has a writer; and, as
//! warnings, every temp tile written is loaded and every output tile is
//! written.
//!
//! Each is "region R is covered by the images of references `c_1 .. c_n`",
//! asked in R's own variables: R starts as the pieces to cover (a load
//! reference's domain, split by orientation for a symmetric matrix and
//! without the base version of a versioned one; a write reference's domain;
//! an output's tile grid), and each covering reference's image, projected
//! into R's variables, is subtracted piece by piece (`P \ C` is the union of
//! `P ∧ c_1 ∧ .. ∧ c_{k-1} ∧ not c_k` over C's constraints, kept only when
//! feasible). An image that is a lattice (a strided reference seen from
//! another, as in a tree reduction) is subtracted from each residue class
//! of the piece (see the `residues` module); any other image the
//! projection cannot compute exactly is not subtracted. Whatever remains at the end is
//! enumerated (up to the analysis limit) and each tile asked of the plan
//! directly, which also accounts for loop-free jobs. In the library
//! programs nothing remains.

use super::order::instr_touching;
use super::{Finding, Options, RefView, flat_at, ref_views, residues};
use crate::ir::{MatrixInfo, Program, Role, TileKey};
use crate::lin::{Lin, MAXV};
use crate::plan::{Plan, canonical};
use crate::polytope::{Budget, Decision, System};
use lp_std::Triangle;
use std::cmp::Ordering;

/// A piece of a region: its constraints, how its points map to tile
/// coordinates (versions, row, column), and to the region's own variables
/// (the identity until a piece is split by residue).
#[derive(Clone)]
pub(super) struct Piece {
    pub sys: System,
    pub comps: Vec<Lin>,
    pub origin: Vec<Lin>,
}

impl Piece {
    /// The whole of `sys`, a region over its own variables.
    fn new(sys: System, comps: Vec<Lin>) -> Piece {
        let origin = (0..sys.n).map(Lin::var).collect();
        Piece { sys, comps, origin }
    }
}

/// `p` without the points of `c` (both over the same variables).
fn subtract(p: &System, c: &System, budget: Budget) -> Vec<System> {
    let mut out = Vec::new();
    let mut prefix = p.clone();
    let mut push = |sys: System| {
        if sys.is_feasible(budget) != Decision::No {
            out.push(sys);
        }
    };
    for e in &c.eq {
        for side in [1i64, -1] {
            // e >= 1 or -e >= 1
            let mut sys = prefix.clone();
            if let Some(l) = e
                .checked_scale(side)
                .and_then(|l| l.checked_sub(&Lin::constant(1)))
            {
                sys.ge0(l);
                push(sys);
            }
        }
        prefix.eq0(*e);
    }
    for g in &c.ge {
        if p.ge.contains(g) {
            continue;
        }
        // g <= -1, i.e. -g - 1 >= 0
        let mut sys = prefix.clone();
        if let Some(l) = g
            .checked_scale(-1)
            .and_then(|l| l.checked_sub(&Lin::constant(1)))
        {
            sys.ge0(l);
            push(sys);
        }
        prefix.ge0(*g);
    }
    out
}

/// Subtracts from `pieces` (over `n` variables) the image of `cover`: the
/// points whose coordinates `cover` reaches at some iteration of its
/// domain. `cover_comps` may be `cover`'s components swapped.
fn subtract_image(
    pieces: Vec<Piece>,
    n: usize,
    cover: &RefView<'_>,
    cover_comps: &[Lin],
    budget: Budget,
) -> Vec<Piece> {
    if n + cover.depth > MAXV {
        return pieces;
    }
    let cover = Cover {
        n,
        reference: cover,
        comps: cover_comps,
        budget,
    };
    let mut out = Vec::new();
    for piece in pieces {
        out.extend(cover.subtract_from(piece, residues::MAX_CLASSES).0);
    }
    out
}

/// A covering reference, as [`subtract_image`] subtracts it from pieces
/// over `n` variables.
struct Cover<'a> {
    n: usize,
    reference: &'a RefView<'a>,
    comps: &'a [Lin],
    budget: Budget,
}

impl Cover<'_> {
    /// `piece` without the image, and whether any point was taken away.
    /// An image the projection cannot compute exactly because of a stride
    /// is computed on each residue class of the strided variable (at most
    /// `classes` of them, all splits included); failing that, the piece is
    /// kept whole and the final enumeration decides its points.
    fn subtract_from(&self, piece: Piece, classes: u64) -> (Vec<Piece>, bool) {
        let n = self.n;
        let mut sys = piece.sys.clone();
        sys.n = n + self.reference.depth;
        self.reference.spec.domain(n, &mut sys);
        let mut ok = true;
        for (mine, theirs) in piece.comps.iter().zip(self.comps) {
            ok &= sys.eq2(mine, &theirs.shifted(n)).is_some();
        }
        let projected = if ok {
            sys.project(n, self.budget)
        } else {
            None
        };
        let image = match projected {
            Some((image, true)) => image,
            Some((_, false)) => return self.by_residue(piece, &sys, classes),
            None => return (vec![piece], false),
        };
        let taken = image.is_feasible(self.budget) != Decision::No;
        let rest = subtract(&piece.sys, &image, self.budget)
            .into_iter()
            .map(|rest| Piece {
                sys: rest,
                comps: piece.comps.clone(),
                origin: piece.origin.clone(),
            })
            .collect();
        (rest, taken)
    }

    /// [`Cover::subtract_from`] on each residue class of the variable that
    /// `meeting` (the piece and the cover meeting) has a stride on. Split
    /// pieces are kept only if some class lost points, so that a cover
    /// that misses the piece leaves it as it was.
    fn by_residue(&self, piece: Piece, meeting: &System, classes: u64) -> (Vec<Piece>, bool) {
        let parts = meeting
            .stride(self.n)
            .and_then(|(k, m)| residues::by_residue(&piece, k, m, classes, self.budget));
        let Some(parts) = parts.filter(|p| !p.is_empty()) else {
            return (vec![piece], false);
        };
        // Every split, even into one class, uses up part of the allowance,
        // so that splitting ends.
        let left = classes / parts.len().max(2) as u64;
        let mut out = Vec::new();
        let mut taken = false;
        for part in parts {
            let (rest, t) = self.subtract_from(part, left);
            out.extend(rest);
            taken |= t;
        }
        if taken {
            (out, true)
        } else {
            (vec![piece], false)
        }
    }
}

/// Enumerates the pieces' points (up to `limit` in all), calling `visit`
/// with each point (in the region's variables) and its coordinates until
/// it returns false. `false` when the limit was reached first.
fn enumerate(pieces: &[Piece], limit: u64, visit: &mut dyn FnMut(&[i64], &[i64]) -> bool) -> bool {
    let mut seen = 0u64;
    let mut over = false;
    let (mut comps, mut origin) = (Vec::new(), Vec::new());
    for piece in pieces {
        let mut go_on = true;
        let done = piece.sys.points_lex(
            Budget {
                constraints: 100_000,
                nodes: limit.saturating_mul(8),
            },
            &mut |x| {
                seen += 1;
                if seen > limit {
                    over = true;
                    return false;
                }
                comps.clear();
                comps.extend(piece.comps.iter().map(|c| c.eval(x)));
                origin.clear();
                origin.extend(piece.origin.iter().map(|c| c.eval(x)));
                go_on = visit(&origin, &comps);
                go_on
            },
        );
        if done.is_none() {
            over = true;
        }
        if over || !go_on {
            break;
        }
    }
    !over
}

/// The pieces of a reference's domain, in the reference's own variables.
fn domain_pieces(r: &RefView<'_>) -> Vec<Piece> {
    let mut sys = System::new(r.depth);
    r.spec.domain(0, &mut sys);
    vec![Piece::new(sys, r.comps.to_vec())]
}

/// Splits pieces of loads of a symmetric matrix by orientation: `i >= j`
/// keeps the components, `i < j` swaps them (the stored tile is `(j, i)`).
fn by_orientation(pieces: Vec<Piece>, nv: usize) -> Vec<Piece> {
    let mut out = Vec::new();
    for p in pieces {
        let (i, j) = (p.comps[nv], p.comps[nv + 1]);
        let mut lower = p.sys.clone();
        if lower.ge2(&i, &j).is_some() {
            out.push(Piece {
                sys: lower,
                comps: p.comps.clone(),
                origin: p.origin.clone(),
            });
        }
        let mut upper = p.sys.clone();
        if upper.lt2(&i, &j).is_some() {
            let mut comps = p.comps.clone();
            comps.swap(nv, nv + 1);
            out.push(Piece {
                sys: upper,
                comps,
                origin: p.origin.clone(),
            });
        }
    }
    out
}

/// Removes the points whose versions are all 0 (the base input).
fn without_base(pieces: Vec<Piece>, nv: usize) -> Vec<Piece> {
    let mut out = Vec::new();
    for p in pieces {
        for k in 0..nv {
            let mut sys = p.sys.clone();
            for c in &p.comps[..k] {
                sys.eq0(*c);
            }
            if let Some(l) = p.comps[k].checked_sub(&Lin::constant(1)) {
                sys.ge0(l);
                out.push(Piece {
                    sys,
                    comps: p.comps.clone(),
                    origin: p.origin.clone(),
                });
            }
        }
    }
    out
}

fn stored(program: &Program, matrix: u32, comps: &[i64]) -> Option<TileKey> {
    canonical(program, matrix, comps, false)
        .ok()
        .map(|r| r.key)
        .filter(|k| !zero_tile(program, *k))
}

/// A tile outside a triangular matrix's triangle: zero by declaration, so
/// never written and never missing.
fn zero_tile(program: &Program, key: TileKey) -> bool {
    program.matrices[key.matrix as usize]
        .header
        .is_zero_tile(key.i as usize, key.j as usize)
}

/// Every loaded tile of a non-input matrix has a writer.
pub fn loads_written(plan: &Plan, options: &Options) -> Vec<Finding> {
    let program = plan.program();
    let mut out = Vec::new();
    let keys = plan.flat_keys(false);
    let mut start = 0;
    while start < keys.len() {
        let (key, f) = keys[start];
        let mut end = start;
        while end < keys.len() && keys[end].0 == key {
            end += 1;
        }
        if program.matrices[key.matrix as usize].role != Role::Input
            && !zero_tile(program, key)
            && plan.writer(key).is_none()
        {
            let instr = instr_touching(plan, plan.job_id(f, &[]), key, false, 0).unwrap_or(0);
            out.push(Finding::NeverWritten {
                at: flat_at(f, instr),
                tile: key,
                loads: (end - start) as u64,
            });
        }
        start = end;
    }
    let refs = ref_views(program, plan.compiled_families());
    for l in refs.iter().filter(|r| !r.write) {
        let info = &program.matrices[l.matrix as usize];
        if info.role == Role::Input {
            continue;
        }
        let nv = info.versions.len();
        let mut pieces = domain_pieces(l);
        if info.base.is_some() {
            pieces = without_base(pieces, nv);
        }
        if info.header.symmetric {
            pieces = by_orientation(pieces, nv);
        }
        for w in refs.iter().filter(|w| w.write && w.matrix == l.matrix) {
            pieces = subtract_image(pieces, l.depth, w, w.comps, options.budget);
        }
        let mut found = None;
        let complete = enumerate(&pieces, options.max_jobs, &mut |t, comps| {
            let Some(tile) = stored(program, l.matrix, comps) else {
                return true;
            };
            if plan.writer(tile).is_none() {
                found = Some((l.at(t), tile));
                return false;
            }
            true
        });
        match found {
            Some((at, tile)) => out.push(Finding::NeverWritten { at, tile, loads: 1 }),
            None if !complete => out.push(Finding::Undecided {
                family: l.family,
                instr: l.instr,
                question: "whether every tile this instruction loads is written",
            }),
            None => {}
        }
    }
    out
}

/// Warning: temp tiles written and never loaded.
pub fn temps_read(plan: &Plan, options: &Options) -> Vec<Finding> {
    let program = plan.program();
    let mut out = Vec::new();
    let temp = |m: u32| program.matrices[m as usize].role == Role::Temp;
    let keys = plan.flat_keys(true);
    for (n, &(key, f)) in keys.iter().enumerate() {
        if !temp(key.matrix) || (n > 0 && keys[n - 1].0 == key) {
            continue;
        }
        if plan.readers(key) == 0 {
            let instr = instr_touching(plan, plan.job_id(f, &[]), key, true, 0).unwrap_or(0);
            out.push(Finding::TempNeverRead {
                at: flat_at(f, instr),
                tile: key,
            });
        }
    }
    let refs = ref_views(program, plan.compiled_families());
    for w in refs.iter().filter(|r| r.write && temp(r.matrix)) {
        let sym = program.matrices[w.matrix as usize].header.symmetric;
        let mut pieces = domain_pieces(w);
        for l in refs.iter().filter(|l| !l.write && l.matrix == w.matrix) {
            pieces = subtract_image(pieces, w.depth, l, l.comps, options.budget);
            if sym {
                pieces = subtract_image(pieces, w.depth, l, &l.swapped(), options.budget);
            }
        }
        let mut found = None;
        let complete = enumerate(&pieces, options.max_jobs, &mut |t, comps| {
            let Some(tile) = stored(program, w.matrix, comps) else {
                return true;
            };
            if plan.readers(tile) == 0 {
                found = Some((w.at(t), tile));
                return false;
            }
            true
        });
        match found {
            Some((at, tile)) => out.push(Finding::TempNeverRead { at, tile }),
            None if !complete => out.push(Finding::TempReadUnchecked {
                family: w.family,
                instr: w.instr,
            }),
            None => {}
        }
    }
    out
}

/// The tiles of a `gr x gc` grid that meet `triangle` (all without one),
/// in closed form: grids may have billions of rows.
fn tiles_in(triangle: Option<Triangle>, gr: u128, gc: u128) -> u64 {
    let m = gr.min(gc);
    let n = match triangle {
        // Row i holds min(i + 1, gc) tiles.
        Some(Triangle::Lower) => m * (m + 1) / 2 + (gr - m) * gc,
        // Row i < min(gr, gc) holds gc - i tiles, the others none.
        Some(Triangle::Upper) => m * gc - m * (m.max(1) - 1) / 2,
        None => gr * gc,
    };
    n.min(u64::MAX as u128) as u64
}

/// The stored tiles of a matrix as one piece over (versions..., row,
/// column): every index within its size, and row >= column (lower) or
/// column >= row (upper) for a triangle.
fn stored_grid(info: &MatrixInfo, triangle: Option<Triangle>) -> Piece {
    let nv = info.versions.len();
    let [gr, gc] = info.header.grid();
    let n = nv + 2;
    let mut sys = System::new(n);
    for k in 0..n {
        let size = match k.cmp(&nv) {
            Ordering::Less => info.versions[k] as i64,
            Ordering::Equal => gr as i64,
            Ordering::Greater => gc as i64,
        };
        sys.ge0(Lin::var(k));
        sys.lt2(&Lin::var(k), &Lin::constant(size));
    }
    let (row, col) = (Lin::var(nv), Lin::var(nv + 1));
    match triangle {
        Some(Triangle::Lower) => {
            sys.ge2(&row, &col);
        }
        Some(Triangle::Upper) => {
            sys.ge2(&col, &row);
        }
        None => {}
    }
    Piece::new(sys, (0..n).map(Lin::var).collect())
}

/// Warning: tiles of a plain output that no job writes. Only the stored
/// triangle of a symmetric or triangular output is expected, as declared.
pub fn outputs_written(plan: &Plan, options: &Options) -> Vec<Finding> {
    let program = plan.program();
    let refs = ref_views(program, plan.compiled_families());
    let mut out = Vec::new();
    for (m, info) in program.matrices.iter().enumerate() {
        let m = m as u32;
        // A versioned output holds per-step results (the T factors of each
        // pairing of a tiled QR): which tiles of which version exist is the
        // program's layout, so only plain outputs are checked.
        if info.role != Role::Output || !info.versions.is_empty() {
            continue;
        }
        let nv = info.versions.len();
        let [gr, gc] = info.header.grid();
        let writes: Vec<&RefView<'_>> = refs.iter().filter(|r| r.write && r.matrix == m).collect();
        let flat: Vec<TileKey> = {
            let mut k: Vec<TileKey> = plan
                .flat_keys(true)
                .iter()
                .filter(|(k, _)| k.matrix == m)
                .map(|(k, _)| *k)
                .collect();
            k.dedup();
            k
        };
        let triangle = match info.header.triangle {
            None if info.header.symmetric => Some(Triangle::Lower),
            t => t,
        };
        let per_version = tiles_in(triangle, gr as u128, gc as u128);
        let expected = per_version.saturating_mul(info.version_count());
        // Each job writes one tile per write instruction (write-once has
        // been checked), so the tiles written are counted, not listed.
        let mut instrs: Vec<(u32, u32)> = writes.iter().map(|w| (w.family, w.instr)).collect();
        instrs.sort_unstable();
        instrs.dedup();
        let written = instrs.iter().fold(flat.len() as u64, |n, &(f, _)| {
            n.saturating_add(plan.family_job_count(f))
        });
        if written >= expected {
            continue;
        }
        // The grid (its triangle if declared so) minus the loop writes'
        // images; the rest enumerated, minus the flat writes.
        let n = nv + 2;
        let mut pieces = vec![stored_grid(info, triangle)];
        for w in &writes {
            pieces = subtract_image(pieces, n, w, w.comps, options.budget);
        }
        let mut missing: Vec<Vec<u64>> = Vec::new();
        enumerate(&pieces, options.max_jobs, &mut |_, comps| {
            if let Some(key) = stored(program, m, comps)
                && flat.binary_search(&key).is_err()
                && plan.writer(key).is_none()
            {
                missing.push(comps.iter().map(|&c| c as u64).collect());
            }
            missing.len() < 4096
        });
        missing.sort_unstable();
        missing.truncate(4);
        out.push(Finding::OutputNotWritten {
            matrix: m,
            count: expected - written,
            expected,
            missing,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_in_a_triangle_match_counting() {
        for gr in 0..8u128 {
            for gc in 0..8u128 {
                let count = |inside: &dyn Fn(u128, u128) -> bool| {
                    (0..gr)
                        .flat_map(|i| (0..gc).map(move |j| (i, j)))
                        .filter(|&(i, j)| inside(i, j))
                        .count() as u64
                };
                assert_eq!(
                    tiles_in(Some(Triangle::Lower), gr, gc),
                    count(&|i, j| i >= j)
                );
                assert_eq!(
                    tiles_in(Some(Triangle::Upper), gr, gc),
                    count(&|i, j| i <= j)
                );
                assert_eq!(tiles_in(None, gr, gc), count(&|_, _| true));
            }
        }
    }
}
