//! Lazy initialisers, numpywren's `parent_fn`: an input matrix declared with
//! one of these produces each tile where it is read, with no upload.
//!
//! Every element is a pure function of (seed, global row, global column), so
//! a matrix has the same bytes whatever its tiling, backend or worker.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Init {
    Zeros,
    Identity,
    /// Independent uniform entries in [-1, 1).
    Random { seed: u64 },
    /// A symmetric positive definite matrix (see `docs/language.md`).
    Spd { seed: u64 },
}
