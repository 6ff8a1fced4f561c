//! The bundle: a checked program lowered to what the runtime executes.
//!
//! Names are resolved to dense indices (matrices, job-local registers), the
//! loads of upper tiles of symmetric matrices are canonicalised to the stored
//! lower tile plus a transpose flag, and every job knows its children and its
//! in-degree. `lpc` produces it; the runtime never sees `.lp` text.
//!
//! On disk (and in an object store, content-addressed by
//! [`Bundle::content_key`]) a bundle is `LPBUNDLE`, a little-endian u32
//! format version, the u64 payload length, the blake3 hash of the payload,
//! then the payload: the IR below in postcard. The length and hash make a
//! truncated or corrupted bundle a clear error; the version makes a bundle
//! from another `lpc` a clear error rather than a misread (postcard is not
//! self-describing). [`Bundle::decode`] also runs [`Bundle::validate`], so
//! the scheduler may index by the bundle's ids without bounds worries.

use lp_std::{Init, Kernel, MatrixHeader};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Index of a job in [`Bundle::jobs`].
pub type JobId = u32;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bundle {
    pub matrices: Vec<MatrixInfo>,
    pub jobs: Vec<Job>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    Input,
    Output,
    Temp,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MatrixInfo {
    pub name: String,
    pub header: MatrixHeader,
    pub role: Role,
    pub init: Option<Init>,
}

/// One stored tile: matrix index and tile (block) coordinates. For a
/// symmetric matrix always a lower tile, i >= j.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TileKey {
    pub matrix: u32,
    pub i: u32,
    pub j: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub name: String,
    pub instrs: Vec<Instr>,
    /// Registers are numbered 0..num_regs within the job.
    pub num_regs: u32,
    /// Jobs that load a tile this job writes, each once, ascending.
    pub children: Vec<JobId>,
    /// Number of distinct parent jobs.
    pub in_degree: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Instr {
    /// `dst = tile`, or its transpose (an upper tile of a symmetric matrix).
    Load {
        dst: u32,
        tile: TileKey,
        transpose: bool,
    },
    Write {
        tile: TileKey,
        src: u32,
    },
    Apply {
        dst: u32,
        kernel: Kernel,
        args: Vec<u32>,
    },
}

// ---------------------------------------------------------------------------
// The bundle file format.

/// The first bytes of every bundle file.
pub const MAGIC: &[u8; 8] = b"LPBUNDLE";
/// The format version this build writes and reads. Bump it whenever the IR
/// types above change: postcard is not self-describing, so an old reader
/// would otherwise misread a new bundle.
pub const FORMAT_VERSION: u32 = 1;
/// magic, version (u32 LE), payload length (u64 LE), blake3 of the payload.
const PREFIX_LEN: usize = 8 + 4 + 8 + 32;

/// Why bytes are not a bundle this runtime can trust.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BundleError {
    /// The input does not start with [`MAGIC`].
    NotABundle,
    /// Written by another format version.
    Version { found: u32, supported: u32 },
    /// Fewer bytes than the header promises (an interrupted copy).
    Truncated { expected: u64, found: u64 },
    /// Bytes after the payload.
    TrailingBytes { expected: u64, found: u64 },
    /// The payload does not hash to the recorded hash.
    HashMismatch { recorded: String, computed: String },
    /// The payload hashes right but does not decode (a writer bug).
    Malformed(String),
    /// Decodes, but fails a structural check ([`Bundle::validate`]).
    Invalid(String),
}

impl std::fmt::Display for BundleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BundleError::NotABundle => {
                write!(
                    f,
                    "not a lambdapack bundle (missing the LPBUNDLE magic bytes)"
                )
            }
            BundleError::Version { found, supported } => write!(
                f,
                "bundle format version {found} is not supported (this lpc reads version \
                 {supported}); rebuild the bundle with this lpc"
            ),
            BundleError::Truncated { expected, found } => write!(
                f,
                "truncated bundle: expected {expected} bytes, found {found}"
            ),
            BundleError::TrailingBytes { expected, found } => write!(
                f,
                "corrupted bundle: expected {expected} bytes, found {found}"
            ),
            BundleError::HashMismatch { recorded, computed } => write!(
                f,
                "corrupted bundle: payload hash is {computed}, the bundle records {recorded}"
            ),
            BundleError::Malformed(why) => write!(f, "malformed bundle payload: {why}"),
            BundleError::Invalid(why) => write!(f, "invalid bundle: {why}"),
        }
    }
}

impl std::error::Error for BundleError {}

impl Bundle {
    /// Whether `bytes` start like a bundle (to tell a bundle from `.lp` text).
    pub fn is_bundle(bytes: &[u8]) -> bool {
        bytes.starts_with(MAGIC)
    }

    fn payload(&self) -> Vec<u8> {
        // Every IR type is plain data (strings, integers, vectors, enums);
        // postcard cannot fail on it except by running out of memory.
        postcard::to_stdvec(self).expect("the bundle IR always serialises")
    }

    /// The bundle file: magic, format version, payload length, blake3 hash of
    /// the payload, then the postcard payload.
    pub fn encode(&self) -> Vec<u8> {
        let payload = self.payload();
        let mut out = Vec::with_capacity(PREFIX_LEN + payload.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        out.extend_from_slice(blake3::hash(&payload).as_bytes());
        out.extend_from_slice(&payload);
        out
    }

    /// Decodes and validates a bundle file; any damage is an error, never a
    /// panic.
    pub fn decode(bytes: &[u8]) -> Result<Bundle, BundleError> {
        if !bytes.starts_with(MAGIC) {
            // A prefix of the magic is a truncated bundle, not another file.
            if bytes.len() < MAGIC.len() && MAGIC.starts_with(bytes) && !bytes.is_empty() {
                return Err(BundleError::Truncated {
                    expected: PREFIX_LEN as u64,
                    found: bytes.len() as u64,
                });
            }
            return Err(BundleError::NotABundle);
        }
        if bytes.len() < MAGIC.len() + 4 {
            return Err(BundleError::Truncated {
                expected: PREFIX_LEN as u64,
                found: bytes.len() as u64,
            });
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().unwrap());
        if version != FORMAT_VERSION {
            return Err(BundleError::Version {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        if bytes.len() < PREFIX_LEN {
            return Err(BundleError::Truncated {
                expected: PREFIX_LEN as u64,
                found: bytes.len() as u64,
            });
        }
        let payload_len = u64::from_le_bytes(bytes[12..20].try_into().unwrap());
        let expected = (PREFIX_LEN as u64).saturating_add(payload_len);
        let found = bytes.len() as u64;
        if found < expected {
            return Err(BundleError::Truncated { expected, found });
        }
        if found > expected {
            return Err(BundleError::TrailingBytes { expected, found });
        }
        let recorded: [u8; 32] = bytes[20..52].try_into().unwrap();
        let payload = &bytes[PREFIX_LEN..];
        let computed = blake3::hash(payload);
        if computed.as_bytes() != &recorded {
            return Err(BundleError::HashMismatch {
                recorded: blake3::Hash::from_bytes(recorded).to_hex().to_string(),
                computed: computed.to_hex().to_string(),
            });
        }
        let bundle: Bundle =
            postcard::from_bytes(payload).map_err(|e| BundleError::Malformed(e.to_string()))?;
        bundle.validate()?;
        Ok(bundle)
    }

    /// The bundle's content address: the hex blake3 hash of its payload (the
    /// hash recorded in [`Bundle::encode`]'s output). Postcard encoding is
    /// deterministic, so equal bundles have equal keys.
    pub fn content_key(&self) -> String {
        blake3::hash(&self.payload()).to_hex().to_string()
    }

    /// Structural checks a runtime needs before trusting a bundle, so that a
    /// hand-made or damaged bundle fails with a message instead of an index
    /// panic or a run that never finishes: matrix, tile and register indices
    /// in range, registers written before they are read within a job, kernel
    /// operand counts, no write to an input or to the upper triangle of a
    /// symmetric matrix, children ascending and in range, in-degrees equal to
    /// the number of jobs listing each job as a child, and no cycle.
    /// Linear in the bundle's size.
    pub fn validate(&self) -> Result<(), BundleError> {
        let invalid = |msg: String| Err(BundleError::Invalid(msg));
        for (m, info) in self.matrices.iter().enumerate() {
            if let Err(e) = crate::store::validate_matrix_name(&info.name) {
                return invalid(format!("matrix {m}: {e}"));
            }
            let h = &info.header;
            if h.tile_shape.contains(&0) {
                return invalid(format!(
                    "matrix {}: tile shape has a zero dimension",
                    info.name
                ));
            }
            if h.dtype != "f64" {
                return invalid(format!(
                    "matrix {}: unsupported dtype {:?}",
                    info.name, h.dtype
                ));
            }
            if h.symmetric && h.shape[0] != h.shape[1] {
                return invalid(format!("matrix {}: symmetric but not square", info.name));
            }
        }
        let num_jobs = self.jobs.len();
        if u32::try_from(num_jobs).is_err() {
            return invalid(format!("{num_jobs} jobs do not fit a 32-bit job id"));
        }
        let mut parents = vec![0u32; num_jobs];
        let mut written = Vec::new();
        for (id, job) in self.jobs.iter().enumerate() {
            let at = |k: usize| format!("job {id} ({}), instruction {k}", job.name);
            written.clear();
            written.resize(job.num_regs as usize, false);
            let check_tile = |k: usize, tile: &TileKey, write: bool| -> Result<(), BundleError> {
                let Some(info) = self.matrices.get(tile.matrix as usize) else {
                    return invalid(format!(
                        "{}: matrix index {} out of range ({} matrices)",
                        at(k),
                        tile.matrix,
                        self.matrices.len()
                    ));
                };
                let (i, j) = (tile.i as usize, tile.j as usize);
                if !info.header.contains(i, j) {
                    let [gr, gc] = info.header.grid();
                    return invalid(format!(
                        "{}: tile {}[{i}, {j}] outside its {gr} x {gc} tile grid",
                        at(k),
                        info.name
                    ));
                }
                if info.header.symmetric && i < j {
                    return invalid(format!(
                        "{}: upper tile {}[{i}, {j}] of a symmetric matrix is not stored",
                        at(k),
                        info.name
                    ));
                }
                if write && info.role == Role::Input {
                    return invalid(format!("{}: write to input matrix {}", at(k), info.name));
                }
                Ok(())
            };
            let read = |k: usize, r: u32, written: &[bool]| -> Result<(), BundleError> {
                match written.get(r as usize) {
                    Some(true) => Ok(()),
                    Some(false) => invalid(format!(
                        "{}: register %{r} read before it is written",
                        at(k)
                    )),
                    None => invalid(format!(
                        "{}: register %{r} out of range ({} registers)",
                        at(k),
                        job.num_regs
                    )),
                }
            };
            let define = |k: usize, r: u32, written: &mut [bool]| -> Result<(), BundleError> {
                match written.get_mut(r as usize) {
                    Some(slot) => {
                        *slot = true;
                        Ok(())
                    }
                    None => invalid(format!(
                        "{}: register %{r} out of range ({} registers)",
                        at(k),
                        job.num_regs
                    )),
                }
            };
            for (k, instr) in job.instrs.iter().enumerate() {
                match instr {
                    Instr::Load { dst, tile, .. } => {
                        check_tile(k, tile, false)?;
                        define(k, *dst, &mut written)?;
                    }
                    Instr::Write { tile, src } => {
                        check_tile(k, tile, true)?;
                        read(k, *src, &written)?;
                    }
                    Instr::Apply { dst, kernel, args } => {
                        let (lo, hi) = kernel.arity();
                        if args.len() < lo || args.len() > hi {
                            return invalid(format!(
                                "{}: {} takes {lo} to {hi} operands, found {}",
                                at(k),
                                kernel.name(),
                                args.len()
                            ));
                        }
                        for &a in args {
                            read(k, a, &written)?;
                        }
                        define(k, *dst, &mut written)?;
                    }
                }
            }
            let mut previous: Option<JobId> = None;
            for &child in &job.children {
                if child as usize >= num_jobs {
                    return invalid(format!(
                        "job {id} ({}): child {child} out of range ({num_jobs} jobs)",
                        job.name
                    ));
                }
                if child as usize == id {
                    return invalid(format!("job {id} ({}) lists itself as a child", job.name));
                }
                if previous.is_some_and(|p| p >= child) {
                    return invalid(format!(
                        "job {id} ({}): children are not strictly ascending",
                        job.name
                    ));
                }
                previous = Some(child);
                parents[child as usize] += 1;
            }
        }
        for (id, job) in self.jobs.iter().enumerate() {
            if parents[id] != job.in_degree {
                return invalid(format!(
                    "job {id} ({}): in-degree {} but {} jobs list it as a child",
                    job.name, job.in_degree, parents[id]
                ));
            }
        }
        // Kahn's algorithm: a cycle would leave jobs that never become ready.
        let mut remaining = parents;
        let mut ready: Vec<usize> = (0..num_jobs).filter(|&j| remaining[j] == 0).collect();
        let mut done = 0;
        while let Some(j) = ready.pop() {
            done += 1;
            for &c in &self.jobs[j].children {
                remaining[c as usize] -= 1;
                if remaining[c as usize] == 0 {
                    ready.push(c as usize);
                }
            }
        }
        if done < num_jobs {
            let stuck = (0..num_jobs).find(|&j| remaining[j] > 0).unwrap();
            return invalid(format!(
                "dependency cycle: job {stuck} ({}) can never become ready",
                self.jobs[stuck].name
            ));
        }
        Ok(())
    }

    /// How many distinct jobs load each tile; the runtime frees a temp tile
    /// when its last reader has finished. One hash-map entry per loaded tile:
    /// O(loads) time, and a job loading one tile twice counts once. For the
    /// hot path prefer [`Bundle::reader_counts_dense`].
    pub fn reader_counts(&self) -> HashMap<TileKey, u32> {
        let mut counts = HashMap::new();
        let mut seen = Vec::new();
        for job in &self.jobs {
            distinct_loads(job, &mut seen);
            for &tile in &seen {
                *counts.entry(tile).or_insert(0) += 1;
            }
        }
        counts
    }

    /// [`Bundle::reader_counts`] as a flat vector indexed by
    /// [`TileIndex::index`]: one u32 per tile of every matrix's grid (so
    /// memory is the total grid size, not the number of loaded tiles), and
    /// lookups are an add and a multiply instead of a hash.
    pub fn reader_counts_dense(&self) -> (TileIndex, Vec<u32>) {
        let index = TileIndex::new(self);
        let mut counts = vec![0u32; index.len()];
        let mut seen = Vec::new();
        for job in &self.jobs {
            distinct_loads(job, &mut seen);
            for &tile in &seen {
                counts[index.index(tile)] += 1;
            }
        }
        (index, counts)
    }
}

/// The tiles `job` loads, each once.
fn distinct_loads(job: &Job, out: &mut Vec<TileKey>) {
    out.clear();
    out.extend(job.instrs.iter().filter_map(|instr| match instr {
        Instr::Load { tile, .. } => Some(*tile),
        _ => None,
    }));
    out.sort_unstable();
    out.dedup();
}

/// A dense numbering of every tile of every matrix of a bundle: matrix m's
/// tiles occupy `offsets[m]..offsets[m + 1]`, row-major within its grid.
#[derive(Clone, Debug)]
pub struct TileIndex {
    offsets: Vec<usize>,
    grid_cols: Vec<usize>,
}

impl TileIndex {
    pub fn new(bundle: &Bundle) -> TileIndex {
        let mut offsets = vec![0];
        let mut grid_cols = Vec::with_capacity(bundle.matrices.len());
        for info in &bundle.matrices {
            let [gr, gc] = info.header.grid();
            offsets.push(offsets.last().unwrap() + gr * gc);
            grid_cols.push(gc);
        }
        TileIndex { offsets, grid_cols }
    }

    /// Total number of tiles.
    pub fn len(&self) -> usize {
        *self.offsets.last().unwrap()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The dense index of `tile`; the tile must be inside its matrix's grid
    /// (true of every tile of a validated bundle).
    pub fn index(&self, tile: TileKey) -> usize {
        let m = tile.matrix as usize;
        self.offsets[m] + tile.i as usize * self.grid_cols[m] + tile.j as usize
    }
}
