//! The compiled lambdapack program: the IR `lpc` produces and the runtime
//! executes, its bundle encoding, the dependency solver that derives a job's
//! parents, children and readers from the program's index expressions, and
//! the static analyses that decide write-once, coverage and acyclicity from
//! the same expressions without enumerating jobs.
//!
//! Layers, bottom up: [`lin`] (affine forms), [`polytope`] (integer points
//! of small polytopes), [`ir`] (the program), [`family`] (a family compiled
//! to affine constraints and maps), [`solve`] (index equations in echelon
//! form), [`count`] (a family's jobs counted in closed form), [`plan`] (the
//! runtime's questions), [`analysis`] (the checks),
//! [`dag`] (the enumerated DAG, for views and cycle reports).

// Affine forms are fixed arrays indexed by variable number, and the solver's
// loops read best with the index they are about.
#![allow(clippy::needless_range_loop)]

pub mod analysis;
pub mod bundle;
pub mod cost;
pub mod count;
pub mod dag;
pub mod family;
pub mod ir;
pub mod lin;
pub mod plan;
pub mod polytope;
pub mod solve;

pub use ir::{
    Expr, Family, Instr, Item, JobId, LoopNode, MAX_VERSION_DIMENSIONS, MAX_VERSIONS, MatrixInfo,
    Program, Role, TileKey, TileRef,
};
pub use plan::{Located, Plan, PlanError, RefError, Resolved};
