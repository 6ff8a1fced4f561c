//! The bundle: a checked program lowered to what the runtime executes.
//!
//! Names are resolved to dense indices (matrices, job-local registers), the
//! loads of upper tiles of symmetric matrices are canonicalised to the stored
//! lower tile plus a transpose flag, and every job knows its children and its
//! in-degree. `lpc` produces it; the runtime never sees `.lp` text.

use lp_std::{Init, Kernel, MatrixHeader};
use serde::{Deserialize, Serialize};

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
    Load { dst: u32, tile: TileKey, transpose: bool },
    Write { tile: TileKey, src: u32 },
    Apply { dst: u32, kernel: Kernel, args: Vec<u32> },
}
