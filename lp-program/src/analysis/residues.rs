//! Splitting a piece of a region by the residue of one of its variables.
//!
//! The image of a strided reference, seen in another reference's
//! variables, is a lattice: level `l + 1` of a tree reduction loads node
//! `2^(l + 2) u` of what level `l` writes at node `2^(l + 1) t`, that is
//! every even `t`. A projection cannot say "t is even", so coverage could
//! not subtract such an image and had to enumerate what it left, one tile
//! per point of the tree. Fixed to one residue class (`t = 2 t' + r`), the
//! image is exact again: all of the even class, none of the odd one.

use super::coverage::Piece;
use crate::lin::Lin;
use crate::polytope::{Budget, Decision};

/// Most classes one piece is split into for one covering reference (a
/// tree's stride gives 2, and a piece narrower than its stride no more
/// classes than values). Past it the piece is left whole, and its points
/// are enumerated as before.
pub(super) const MAX_CLASSES: u64 = 16;

/// The parts of `piece`, one per residue modulo `m` of its variable `k` that
/// the piece's bounds on `x_k` leave room for, each with `x_k = m x_k' + r`
/// substituted (so over as many variables as `piece`), the empty ones left
/// out. `None` when there would be more than `limit` parts, or the bounds
/// are unknown, or a number overflows.
pub(super) fn by_residue(
    piece: &Piece,
    k: usize,
    m: i64,
    limit: u64,
    budget: Budget,
) -> Option<Vec<Piece>> {
    let (lo, hi) = piece.sys.bounds(k, budget)?;
    let width = (hi as i128 - lo as i128 + 1) as u128;
    let classes = width.min(m as u128);
    if classes as u64 > limit {
        return None;
    }
    let mut parts = Vec::with_capacity(classes as usize);
    for v in lo..lo.checked_add(classes as i64)? {
        let mut by = Lin::var(k).checked_scale(m)?;
        by.c = v.rem_euclid(m);
        let part = substituted(piece, k, &by)?;
        if part.sys.is_feasible(budget) != Decision::No {
            parts.push(part);
        }
    }
    Some(parts)
}

/// `piece` with its variable `k` replaced by the form `by` everywhere: in
/// its constraints, its tile coordinates and its map back to the region.
fn substituted(piece: &Piece, k: usize, by: &Lin) -> Option<Piece> {
    let each =
        |ls: &[Lin]| -> Option<Vec<Lin>> { ls.iter().map(|l| l.substitute(k, by)).collect() };
    let mut sys = piece.sys.clone();
    sys.ge = each(&piece.sys.ge)?;
    sys.eq = each(&piece.sys.eq)?;
    Some(Piece {
        sys,
        comps: each(&piece.comps)?,
        origin: each(&piece.origin)?,
    })
}
