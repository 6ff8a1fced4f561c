//! The static analyses: what `lpc check` (and a runtime decoding a bundle)
//! must know about a program before anything runs, decided from the index
//! expressions rather than by enumerating jobs.
//!
//! Phase 1 ([`check_refs`]) compiles every family and asks, per tile
//! reference, whether any iteration puts it outside its matrix, above the
//! diagonal of a symmetric matrix (a write) or onto the base version of a
//! versioned matrix (a write). Phase 2 needs every reference in range and
//! works on a [`Plan`]:
//!
//! * [`writes`]: no tile is written twice (pairs of write references whose
//!   maps can meet inside their domains);
//! * [`coverage`]: every loaded tile of a non-input has a writer, and the
//!   warnings "temp written but never read" and "output never written";
//! * [`order`]: the jobs form a DAG, proved by showing that every
//!   dependency goes forward in program order; when it does not, the DAG is
//!   enumerated (up to a limit) and searched for a cycle.
//!
//! Loop-free families (all of a flat program) are handled through the
//! plan's sorted tile keys, never pairwise, so a flat program costs what it
//! cost before loops existed. Every finding names a concrete job (its family
//! and loop values) so that a diagnostic can say which iteration is wrong.

pub mod coverage;
pub mod order;
pub mod pieces;
pub mod refs;
mod residues;
pub mod writes;

use crate::family::{Compiled, FamilyError, Spec};
use crate::ir::{Program, TileKey};
use crate::lin::{Lin, MAX_DEPTH};
use crate::plan::Plan;
use crate::polytope::{Budget, System};

pub use refs::check_refs;

/// A place in the program at one iteration: instruction `instr` of family
/// `family` in its job at loop values `values`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct At {
    pub family: u32,
    pub instr: u32,
    pub values: Vec<i64>,
}

/// One edge of a dependency cycle: `child.instr` loads `tile`, which
/// `parent.instr` writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CycleEdge {
    pub parent: At,
    pub child: At,
    pub tile: TileKey,
}

/// What an analysis found wrong, or worth a warning.
#[derive(Clone, Debug, PartialEq)]
pub enum Finding {
    /// The family's loops or indices are beyond the solver.
    Family {
        family: u32,
        error: FamilyError,
    },
    /// Coordinate `component` of the reference is `value`, outside
    /// `0..size`.
    OutOfRange {
        at: At,
        component: usize,
        value: i64,
        size: u64,
    },
    /// A write outside the stored triangle (see [`crate::plan::RefError`]).
    TriangleWrite {
        at: At,
    },
    /// A write to version 0 of a versioned matrix, which is its base input.
    BaseWrite {
        at: At,
    },
    /// Two writes of one tile (`first` before `second` in program order).
    WrittenTwice {
        first: At,
        second: At,
        tile: TileKey,
    },
    /// A load of a non-input tile that no job writes; `loads` counts the
    /// loads of that tile when they are all of loop-free jobs (else 1).
    NeverWritten {
        at: At,
        tile: TileKey,
        loads: u64,
    },
    Cycle {
        edges: Vec<CycleEdge>,
    },
    /// A dependency that goes backwards in program order, in a program too
    /// large to enumerate in search of a cycle (`jobs` jobs).
    Unordered {
        write: At,
        load: At,
        tile: TileKey,
        jobs: u64,
    },
    /// The solver could not decide a question about instruction `instr` of
    /// `family` (its numbers overflow, or the question exceeds the budget).
    Undecided {
        family: u32,
        instr: u32,
        question: &'static str,
    },
    /// Warning: a temp tile written and never loaded.
    TempNeverRead {
        at: At,
        tile: TileKey,
    },
    /// Warning: whether every temp tile instruction `instr` of `family`
    /// writes is loaded was left open: the tiles the solver could not
    /// rule out are more than the enumeration limit.
    TempReadUnchecked {
        family: u32,
        instr: u32,
    },
    /// Warning: `count` of the `expected` tiles of an output are never
    /// written; `missing` lists the first few (version components, row,
    /// column).
    OutputNotWritten {
        matrix: u32,
        count: u64,
        expected: u64,
        missing: Vec<Vec<u64>>,
    },
}

impl Finding {
    pub fn is_warning(&self) -> bool {
        matches!(
            self,
            Finding::TempNeverRead { .. }
                | Finding::TempReadUnchecked { .. }
                | Finding::OutputNotWritten { .. }
        )
    }
}

/// Limits of the analyses.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Most jobs enumerated when a question cannot be decided symbolically
    /// (a program whose dependencies do not follow program order, or a
    /// region the solver cannot project exactly).
    pub max_jobs: u64,
    pub budget: Budget,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            max_jobs: 4_000_000,
            budget: Budget::default(),
        }
    }
}

/// Runs the phase-2 analyses (see the module doc) on a program whose
/// references passed [`check_refs`].
pub fn analyse(plan: &Plan, options: &Options) -> Vec<Finding> {
    let mut findings = writes::check(plan, options);
    findings.extend(coverage::loads_written(plan, options));
    if !findings.iter().any(|f| !f.is_warning()) {
        findings.extend(order::check(plan, options));
    }
    if !findings.iter().any(|f| !f.is_warning()) {
        findings.extend(coverage::temps_read(plan, options));
        findings.extend(coverage::outputs_written(plan, options));
    }
    findings
}

/// A tile reference of a loop family in one spec: what pair questions are
/// asked about.
#[derive(Clone, Copy)]
pub(crate) struct RefView<'a> {
    pub family: u32,
    pub instr: u32,
    pub matrix: u32,
    pub write: bool,
    pub depth: usize,
    pub spec: &'a Spec,
    pub comps: &'a [Lin],
}

impl RefView<'_> {
    /// The job and instruction at internal point `t`.
    pub fn at(&self, t: &[i64]) -> At {
        let mut values = [0i64; MAX_DEPTH];
        self.spec.user_values(t, &mut values[..self.depth]);
        At {
            family: self.family,
            instr: self.instr,
            values: values[..self.depth].to_vec(),
        }
    }

    /// The reference's components with row and column swapped (how an
    /// upper load of a symmetric matrix meets its stored tile).
    pub fn swapped(&self) -> Vec<Lin> {
        let mut c = self.comps.to_vec();
        let n = c.len();
        c.swap(n - 2, n - 1);
        c
    }
}

/// Every tile reference of every loop family, spec by spec.
pub(crate) fn ref_views<'a>(
    program: &'a Program,
    compiled: &'a [Option<Compiled>],
) -> Vec<RefView<'a>> {
    let mut out = Vec::new();
    for (f, c) in compiled.iter().enumerate() {
        let Some(c) = c else { continue };
        let fam = &program.families[f];
        for spec in &c.specs {
            for (k, instr) in fam.instrs.iter().enumerate() {
                let Some((tile, write)) = instr.access() else {
                    continue;
                };
                out.push(RefView {
                    family: f as u32,
                    instr: k as u32,
                    matrix: tile.matrix,
                    write,
                    depth: c.depth,
                    spec,
                    comps: spec.refs[k].as_deref().expect("loads and writes have maps"),
                });
            }
        }
    }
    out
}

/// The system over `[t_a, t_b]` of two references meeting: both in their
/// domains and `a(t_a) = b(t_b)` component by component (`b_comps` may be
/// `b`'s components swapped). `None` on overflow.
pub(crate) fn meeting(a: &RefView<'_>, b: &RefView<'_>, b_comps: &[Lin]) -> Option<System> {
    let mut sys = System::new(a.depth + b.depth);
    a.spec.domain(0, &mut sys);
    b.spec.domain(a.depth, &mut sys);
    for (ca, cb) in a.comps.iter().zip(b_comps) {
        sys.eq2(ca, &cb.shifted(a.depth))?;
    }
    Some(sys)
}

/// The job and instruction of a loop-free family.
pub(crate) fn flat_at(family: u32, instr: u32) -> At {
    At {
        family,
        instr,
        values: Vec::new(),
    }
}
