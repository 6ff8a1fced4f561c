//! Lazy initialisers, numpywren's `parent_fn`: an input matrix declared with
//! one of these produces each tile where it is read, with no upload.
//!
//! Every element is a pure function of (seed, global row, global column), so
//! a matrix has the same bytes whatever its tiling, backend or worker. The
//! function is part of the file format in all but name: the same seed must
//! give the same matrix forever, so it is fixed here exactly.
//!
//! # The element hash
//!
//! With `splitmix64` the finaliser of Steele, Lea and Flood's SplitMix64
//! (all arithmetic wrapping on u64):
//!
//! ```text
//! splitmix64(x): z = x + 0x9E3779B97F4A7C15
//!                z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
//!                z = (z ^ (z >> 27)) * 0x94D049BB133111EB
//!                return z ^ (z >> 31)
//! s       = splitmix64(seed)
//! R(r)    = splitmix64(s + 2 r)          (row key)
//! C(c)    = splitmix64(s + 2 c + 1)      (column key)
//! hash(seed, r, c) = splitmix64(R(r) ^ C(c))
//! unit(h)   = (h >> 12) * 2^-52          in [0, 1), exact in f64
//! signed(h) = (h >> 12) * 2^-51 - 1      in [-1, 1), exact in f64
//! ```
//!
//! Both maps keep the top 52 bits of the hash and are computed without an
//! integer-to-float conversion: those bits become the mantissa of a float
//! in [1, 2), from which an exact affine map gives the result.
//!
//! `splitmix64` is a bijection, and row and column keys come from inputs of
//! different parity, so all keys are distinct. Splitting the hash into
//! per-row and per-column keys lets a tile precompute its keys once and
//! spend one `splitmix64` per element, in a loop the compiler vectorises. On
//! x86-64 that loop is also compiled for AVX-512 and AVX2 and picked at run
//! time (the 64-bit multiplies are what a baseline SSE2 build lacks); every
//! variant computes the same bits.
//!
//! # The initialisers
//!
//! * `zeros`: 0.
//! * `identity`: 1 where the global row equals the global column, else 0
//!   (so off-diagonal and ragged tiles are right, and non-square matrices get
//!   a rectangular identity).
//! * `random(seed)`: `signed(hash(seed, r, c))`, independent uniform in
//!   [-1, 1).
//! * `spd(seed)`: symmetric, element (r, c) off the diagonal is
//!   `signed(hash(seed, max(r, c), min(r, c)))` (so its lower triangle is
//!   that of `random(seed)`), and the diagonal is `n + unit(hash(seed, r,
//!   r))` with n the matrix order (the larger dimension if the header is not
//!   square). Each row's off-diagonal entries sum in absolute value to less
//!   than n - 1 < n, so the matrix is strictly diagonally dominant with a
//!   positive diagonal, hence SPD (Gershgorin: eigenvalues in [1, 2n + 1)).
//!   In practice the off-diagonal part has spectral norm about
//!   1.15 sqrt(n), so the condition number is about 1 + 2.3 / sqrt(n): well
//!   conditioned at every size, which keeps residual checks meaningful.

use crate::{MatrixHeader, Tile};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Init {
    Zeros,
    Identity,
    /// Independent uniform entries in [-1, 1).
    Random {
        seed: u64,
    },
    /// A symmetric positive definite matrix (see the module documentation).
    Spd {
        seed: u64,
    },
}

/// Why a call such as `spd(42)` names no initialiser.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InitError {
    Unknown,
    /// The initialiser takes `expected` arguments.
    Arity {
        expected: usize,
    },
}

impl Init {
    /// Every initialiser as written in `.lp` source, with its arguments.
    pub const SIGNATURES: [&'static str; 4] = ["zeros", "identity", "random(SEED)", "spd(SEED)"];

    /// The initialiser `name(args...)`.
    pub fn from_call(name: &str, args: &[u64]) -> Result<Init, InitError> {
        let expected = match name {
            "zeros" | "identity" => 0,
            "random" | "spd" => 1,
            _ => return Err(InitError::Unknown),
        };
        if args.len() != expected {
            return Err(InitError::Arity { expected });
        }
        Ok(match name {
            "zeros" => Init::Zeros,
            "identity" => Init::Identity,
            "random" => Init::Random { seed: args[0] },
            _ => Init::Spd { seed: args[0] },
        })
    }

    /// The call that names this initialiser in source, `spd(42)`.
    pub fn call(&self) -> String {
        match self {
            Init::Zeros => "zeros".to_string(),
            Init::Identity => "identity".to_string(),
            Init::Random { seed } => format!("random({seed})"),
            Init::Spd { seed } => format!("spd({seed})"),
        }
    }
}

#[inline(always)]
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The per-seed row and column keys of the element hash.
#[derive(Clone, Copy)]
struct Keys {
    s: u64,
}

impl Keys {
    fn new(seed: u64) -> Keys {
        Keys {
            s: splitmix64(seed),
        }
    }

    #[inline(always)]
    fn row(self, r: usize) -> u64 {
        splitmix64(self.s.wrapping_add((r as u64).wrapping_mul(2)))
    }

    #[inline(always)]
    fn col(self, c: usize) -> u64 {
        splitmix64(
            self.s
                .wrapping_add((c as u64).wrapping_mul(2))
                .wrapping_add(1),
        )
    }
}

/// `hash(seed, r, c)` of the module documentation.
pub fn hash(seed: u64, r: usize, c: usize) -> u64 {
    let keys = Keys::new(seed);
    splitmix64(keys.row(r) ^ keys.col(c))
}

/// 1 + (h >> 12) * 2^-52, in [1, 2).
#[inline(always)]
fn one_to_two(h: u64) -> f64 {
    f64::from_bits(0x3FF0_0000_0000_0000 | (h >> 12))
}

#[inline(always)]
fn signed(h: u64) -> f64 {
    one_to_two(h) * 2.0 - 3.0
}

#[inline(always)]
fn unit(h: u64) -> f64 {
    one_to_two(h) - 1.0
}

impl Init {
    /// Element (r, c) (global indices) of a matrix of shape `shape`.
    pub fn element(&self, shape: [usize; 2], r: usize, c: usize) -> f64 {
        match *self {
            Init::Zeros => 0.0,
            Init::Identity => f64::from(u8::from(r == c)),
            Init::Random { seed } => signed(hash(seed, r, c)),
            Init::Spd { seed } => {
                if r == c {
                    spd_order(shape) + unit(hash(seed, r, r))
                } else {
                    signed(hash(seed, r.max(c), r.min(c)))
                }
            }
        }
    }

    /// Tile (i, j) of the matrix `header` describes, ragged at the edges.
    ///
    /// The caller ensures (i, j) is inside [`MatrixHeader::grid`]. A
    /// symmetric header changes nothing: the tile is the same as the one a
    /// full matrix would hold there.
    pub fn tile(&self, header: &MatrixHeader, i: usize, j: usize) -> Tile {
        let shape = header.tile(i, j);
        let (r0, c0) = (i * header.tile_shape[0], j * header.tile_shape[1]);
        let (rows, cols) = (shape.rows, shape.cols);
        let mut tile = Tile::zeros(rows, cols);
        match *self {
            Init::Zeros => {}
            Init::Identity => {
                for c in 0..cols {
                    let r = (c0 + c).wrapping_sub(r0);
                    if r < rows {
                        tile[(r, c)] = 1.0;
                    }
                }
            }
            Init::Random { seed } => {
                let keys = Keys::new(seed);
                let row_keys: Vec<u64> = (r0..r0 + rows).map(|r| keys.row(r)).collect();
                for c in 0..cols {
                    let ck = keys.col(c0 + c);
                    fill(tile.col_as_slice_mut(c), &row_keys, ck);
                }
            }
            Init::Spd { seed } => {
                let keys = Keys::new(seed);
                let n = spd_order(header.shape);
                // Below the diagonal (r > c) the element uses R(r) ^ C(c);
                // above it, R(c) ^ C(r): both need the tile rows' keys.
                let row_keys: Vec<u64> = (r0..r0 + rows).map(|r| keys.row(r)).collect();
                let row_as_col: Vec<u64> = (r0..r0 + rows).map(|r| keys.col(r)).collect();
                for c in 0..cols {
                    let gc = c0 + c;
                    let col = tile.col_as_slice_mut(c);
                    // Rows [0, split) of this column lie above the diagonal.
                    let split = gc.saturating_sub(r0).min(rows);
                    fill(&mut col[..split], &row_as_col[..split], keys.row(gc));
                    fill(&mut col[split..], &row_keys[split..], keys.col(gc));
                    if split < rows && r0 + split == gc {
                        col[split] = n + unit(splitmix64(keys.row(gc) ^ keys.col(gc)));
                    }
                }
            }
        }
        tile
    }
}

/// The `n` of the spd diagonal.
fn spd_order(shape: [usize; 2]) -> f64 {
    shape[0].max(shape[1]) as f64
}

/// out[k] = signed(splitmix64(keys[k] ^ other)): the hot loop.
fn fill(out: &mut [f64], keys: &[u64], other: u64) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512dq")
        {
            // SAFETY: the CPU supports the features the function is built for.
            return unsafe { fill_avx512(out, keys, other) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: as above.
            return unsafe { fill_avx2(out, keys, other) };
        }
    }
    fill_portable(out, keys, other)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
fn fill_avx512(out: &mut [f64], keys: &[u64], other: u64) {
    fill_portable(out, keys, other)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn fill_avx2(out: &mut [f64], keys: &[u64], other: u64) {
    fill_portable(out, keys, other)
}

/// Branch-free, so that it vectorises for whatever features the caller was
/// compiled with (it is inlined into each variant above).
#[inline(always)]
fn fill_portable(out: &mut [f64], keys: &[u64], other: u64) {
    for (o, &k) in out.iter_mut().zip(keys) {
        *o = signed(splitmix64(k ^ other));
    }
}
