//! [`Plan`]: the one interface the runtime asks about a program's DAG.
//!
//! A job's tiles, its children and in-degree, a tile's readers and writer,
//! the roots and the number of jobs: every answer is computed when asked,
//! from the program's expressions, and nothing is allocated per job or per
//! tile of the whole program. Loop families answer through their compiled
//! index maps ([`crate::solve::Solver`]); the jobs of loop-free families (a
//! flat program is made of nothing else) answer through two sorted arrays
//! of their constant tile keys, so a flat program costs a binary search per
//! question and memory linear in its text, as before.

use crate::family::{self, Compiled, FamilyError};
use crate::ir::{EvalError, Family, Instr, Item, JobId, Program, Role, TileKey};
use crate::lin::{Lin, MAX_DEPTH};
use crate::polytope::{Budget, System};
use crate::solve::Solver;
use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

/// Most loads of one matrix (and the versioned matrices based on it) in
/// one family for which [`Plan::readers`] counts the jobs naming a tile
/// through several of them by inclusion-exclusion, with one solver per
/// subset of those loads made by [`Plan::new`] (11 at this limit). A family
/// with more enumerates its readers of such a tile.
const MAX_JOINT: usize = 4;

/// A tile reference of one job, resolved: the stored tile and whether the
/// job sees its transpose (an upper tile of a symmetric matrix).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub key: TileKey,
    pub transpose: bool,
}

/// Why a tile reference has no stored tile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefError {
    /// Coordinate `component` is `value`, outside `0..size`.
    OutOfRange {
        component: usize,
        value: i64,
        size: u64,
    },
    /// A write outside the stored triangle: above the diagonal of a
    /// symmetric or `lower` matrix, below that of an `upper` one.
    TriangleWrite,
    /// A write to version 0 of a versioned matrix, which is its base input.
    BaseWrite,
    /// A malformed reference (wrong number of coordinates, no such matrix).
    Malformed,
}

/// Why a program cannot be planned.
#[derive(Clone, Debug, PartialEq)]
pub enum PlanError {
    Family {
        family: u32,
        error: FamilyError,
    },
    Ref {
        family: u32,
        instr: u32,
        error: RefError,
    },
    /// The index equations of a reference exceed the solver's limits.
    Solver {
        family: u32,
        instr: u32,
    },
    /// More jobs than a 64-bit job number can count.
    TooManyJobs,
}

impl fmt::Display for RefError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RefError::OutOfRange {
                component,
                value,
                size,
            } => {
                write!(f, "index {component} is {value}, outside 0..{size}")
            }
            RefError::TriangleWrite => write!(f, "write outside the stored triangle"),
            RefError::BaseWrite => write!(f, "write to version 0, which is an input"),
            RefError::Malformed => write!(f, "malformed tile reference"),
        }
    }
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::Family { family, error } => write!(f, "job family {family}: {error}"),
            PlanError::Ref {
                family,
                instr,
                error,
            } => {
                write!(f, "job family {family}, instruction {instr}: {error}")
            }
            PlanError::Solver { family, instr } => write!(
                f,
                "job family {family}, instruction {instr}: index equations too large for the solver"
            ),
            PlanError::TooManyJobs => write!(f, "more jobs than 64-bit job numbers can count"),
        }
    }
}

impl std::error::Error for PlanError {}

/// A tile reference of a loop family, ready to solve.
#[derive(Clone, Debug)]
struct Ref {
    family: u32,
    spec: u32,
    instr: u32,
    solver: Solver,
}

/// Where a job lives: its family, loop values and (for a loop family) spec
/// and internal point.
#[derive(Clone, Copy, Debug)]
pub struct Located {
    pub family: u32,
    pub spec: u32,
    pub values: [i64; MAX_DEPTH],
    pub t: [i64; MAX_DEPTH],
}

impl Located {
    pub fn values(&self, depth: usize) -> &[i64] {
        &self.values[..depth]
    }
}

#[derive(Clone, Debug)]
pub struct Plan {
    program: Program,
    /// `None` for a loop-free family.
    compiled: Vec<Option<Compiled>>,
    /// First job number of each family (ascending).
    bases: Vec<u64>,
    id_space: u64,
    loads: Vec<Vec<Ref>>,
    writes: Vec<Vec<Ref>>,
    /// Distinct `(tile, family)` pairs: a loop-free job loading a tile
    /// twice is one reader.
    const_loads: Vec<(TileKey, u32)>,
    const_writes: Vec<(TileKey, u32)>,
    /// The solvers of several loads of one family at once, by family,
    /// spec and the set of the loads' instructions (a bit per instruction):
    /// the jobs that name one tile through all of them.
    joint: HashMap<(u32, u32, u64), Solver>,
    /// For each matrix, the versioned matrices whose version 0 it is.
    bases_of: Vec<Vec<u32>>,
    /// Whether each family applies a kernel (most of a flat program's
    /// jobs only move tiles; read while its instructions are at hand).
    has_kernels: Vec<bool>,
    count: OnceLock<u64>,
}

/// The stored tile of matrix `matrix` at coordinates `comps` (versions, row,
/// column), for a load (`write` false) or a write.
pub fn canonical(
    program: &Program,
    matrix: u32,
    comps: &[i64],
    write: bool,
) -> Result<Resolved, RefError> {
    let info = program
        .matrices
        .get(matrix as usize)
        .ok_or(RefError::Malformed)?;
    let r = info.versions.len();
    if comps.len() != r + 2 {
        return Err(RefError::Malformed);
    }
    let grid = info.header.grid();
    for (c, &value) in comps.iter().enumerate() {
        let size = if c < r {
            info.versions[c] as u64
        } else {
            grid[c - r] as u64
        };
        if value < 0 || value as u64 >= size {
            return Err(RefError::OutOfRange {
                component: c,
                value,
                size,
            });
        }
    }
    let (i, j) = (comps[r] as u32, comps[r + 1] as u32);
    let (matrix, version, symmetric) = match info.base {
        Some(base) if comps[..r].iter().all(|&v| v == 0) => {
            if write {
                return Err(RefError::BaseWrite);
            }
            (base, 0, program.matrices[base as usize].header.symmetric)
        }
        _ => (
            matrix,
            info.linear_version(&comps[..r]),
            info.header.symmetric,
        ),
    };
    if write
        && program.matrices[matrix as usize]
            .header
            .is_zero_tile(i as usize, j as usize)
    {
        return Err(RefError::TriangleWrite);
    }
    if symmetric && i < j {
        if write {
            return Err(RefError::TriangleWrite);
        }
        return Ok(Resolved {
            key: TileKey {
                matrix,
                version,
                i: j,
                j: i,
            },
            transpose: true,
        });
    }
    Ok(Resolved {
        key: TileKey {
            matrix,
            version,
            i,
            j,
        },
        transpose: false,
    })
}

impl Plan {
    /// Compiles every family and indexes the tile references. Fails on the
    /// first reference outside its matrix (`analysis` reports them all,
    /// with places, before a program gets here).
    pub fn new(program: Program) -> Result<Plan, PlanError> {
        let nm = program.matrices.len();
        let mut compiled = Vec::with_capacity(program.families.len());
        let mut bases = Vec::with_capacity(program.families.len());
        let mut next: u64 = 0;
        let mut refs = LoopRefs {
            loads: vec![Vec::new(); nm],
            writes: vec![Vec::new(); nm],
        };
        let mut consts = ConstRefs::default();
        let mut has_kernels = Vec::with_capacity(program.families.len());
        for (f, fam) in program.families.iter().enumerate() {
            let f = f as u32;
            bases.push(next);
            has_kernels.push(fam.instrs.iter().any(|i| matches!(i, Instr::Apply { .. })));
            if fam.loops.is_empty() {
                consts.add(&program, f, fam)?;
                compiled.push(None);
                next = next.checked_add(1).ok_or(PlanError::TooManyJobs)?;
                continue;
            }
            let c = family::compile(&program, fam, next)
                .map_err(|error| PlanError::Family { family: f, error })?;
            refs.add(f, fam, &c)?;
            next = next.checked_add(c.box_size).ok_or(PlanError::TooManyJobs)?;
            compiled.push(Some(c));
        }
        consts.loads.sort_unstable();
        consts.loads.dedup();
        consts.writes.sort_unstable();
        let joint = joint_solvers(&program, &compiled);
        let mut bases_of = vec![Vec::new(); nm];
        for (m, info) in program.matrices.iter().enumerate() {
            if let Some(b) = info.base {
                bases_of[b as usize].push(m as u32);
            }
        }
        Ok(Plan {
            program,
            compiled,
            bases,
            id_space: next,
            loads: refs.loads,
            writes: refs.writes,
            const_loads: consts.loads,
            const_writes: consts.writes,
            joint,
            bases_of,
            has_kernels,
            count: OnceLock::new(),
        })
    }

    pub fn program(&self) -> &Program {
        &self.program
    }

    /// The compiled form of a loop family (`None` for a loop-free one).
    pub fn compiled(&self, family: u32) -> Option<&Compiled> {
        self.compiled[family as usize].as_ref()
    }

    /// Job numbers are below this.
    pub fn id_space(&self) -> u64 {
        self.id_space
    }

    /// Where job `id` lives, or `None` if no job has that number.
    pub fn locate(&self, id: JobId) -> Option<Located> {
        if id >= self.id_space {
            return None;
        }
        let f = self.bases.partition_point(|&b| b <= id) - 1;
        let mut loc = Located {
            family: f as u32,
            spec: 0,
            values: [0; MAX_DEPTH],
            t: [0; MAX_DEPTH],
        };
        match &self.compiled[f] {
            None => (id == self.bases[f]).then_some(loc),
            Some(c) => {
                c.values_of(id, &mut loc.values);
                let spec = c.locate(&loc.values[..c.depth], &mut loc.t)?;
                loc.spec = spec as u32;
                Some(loc)
            }
        }
    }

    /// The job number of `family` at loop values `values`.
    pub fn job_id(&self, family: u32, values: &[i64]) -> JobId {
        match &self.compiled[family as usize] {
            None => self.bases[family as usize],
            Some(c) => c.job_id(values),
        }
    }

    /// Whether `family` applies a kernel.
    pub fn has_kernels(&self, family: u32) -> bool {
        self.has_kernels[family as usize]
    }

    pub fn family(&self, family: u32) -> &Family {
        &self.program.families[family as usize]
    }

    /// Whether any family states its priority (`LABEL: priority EXPR`).
    pub fn states_priorities(&self) -> bool {
        self.program.families.iter().any(|f| f.priority.is_some())
    }

    /// Job `id`'s stated priority, `None` when its family states none. The
    /// loop values come straight from the job number, without the spec
    /// search of [`Plan::locate`]: the scheduler asks for every job it queues.
    pub fn stated_priority(&self, id: JobId) -> Option<Result<i64, EvalError>> {
        if id >= self.id_space {
            return None;
        }
        let f = self.bases.partition_point(|&b| b <= id) - 1;
        let expr = self.program.families[f].priority.as_ref()?;
        let mut values = [0; MAX_DEPTH];
        let depth = match &self.compiled[f] {
            Some(c) => {
                c.values_of(id, &mut values);
                c.depth
            }
            None => 0,
        };
        Some(expr.eval(&values[..depth]))
    }

    /// `syrk[1, 4, 3]`, or `job #id` for a number that is no job.
    pub fn job_name(&self, id: JobId) -> String {
        match self.locate(id) {
            Some(loc) => {
                let fam = self.family(loc.family);
                self.program.job_name(fam, loc.values(fam.loops.len()))
            }
            None => format!("job #{id}"),
        }
    }

    /// The tile of instruction `instr` of the located job (`None` for a
    /// kernel instruction).
    pub fn resolve(&self, loc: &Located, instr: usize) -> Result<Option<Resolved>, RefError> {
        let fam = self.family(loc.family);
        let Some((tile, write)) = fam.instrs[instr].access() else {
            return Ok(None);
        };
        let mut comps = [0i64; MAX_DEPTH + 4];
        let n = tile.index.len();
        if n > comps.len() {
            return Err(RefError::Malformed);
        }
        match &self.compiled[loc.family as usize] {
            None => {
                for (c, e) in tile.index.iter().enumerate() {
                    comps[c] = e.eval(&[]).map_err(|_| RefError::Malformed)?;
                }
            }
            Some(c) => {
                let maps = c.specs[loc.spec as usize].refs[instr]
                    .as_ref()
                    .ok_or(RefError::Malformed)?;
                for (k, l) in maps.iter().enumerate() {
                    comps[k] = l.eval(&loc.t[..c.depth]);
                }
            }
        }
        canonical(&self.program, tile.matrix, &comps[..n], write).map(Some)
    }

    /// The target coordinates of a stored tile as seen through references
    /// to `matrix` (the tile's own matrix, or a versioned matrix whose base
    /// it is: then version 0).
    fn target(&self, tile: TileKey, matrix: u32, swap: bool, out: &mut Vec<i64>) {
        out.clear();
        let info = &self.program.matrices[matrix as usize];
        if matrix == tile.matrix {
            out.extend(info.version_of(tile.version).iter().map(|&v| v as i64));
        } else {
            out.extend(std::iter::repeat_n(0, info.versions.len()));
        }
        let (i, j) = if swap {
            (tile.j, tile.i)
        } else {
            (tile.i, tile.j)
        };
        out.push(i as i64);
        out.push(j as i64);
    }

    /// Solves the references `refs` for `tile` (seen through `matrix`),
    /// calling `found` with each job; stops when `found` returns false.
    fn solve_refs(
        &self,
        refs: &[Ref],
        tile: TileKey,
        matrix: u32,
        symmetric_loads: bool,
        found: &mut dyn FnMut(JobId) -> bool,
    ) -> bool {
        let mut target = Vec::with_capacity(6);
        let orientations: &[bool] = if symmetric_loads && tile.i != tile.j {
            &[false, true]
        } else {
            &[false]
        };
        for r in refs {
            let c = self.compiled[r.family as usize]
                .as_ref()
                .expect("refs are of loop families");
            let spec = &c.specs[r.spec as usize];
            for &swap in orientations {
                self.target(tile, matrix, swap, &mut target);
                let mut go_on = true;
                let mut values = [0i64; MAX_DEPTH];
                r.solver.solve(spec, &target, &mut |t| {
                    spec.user_values(t, &mut values[..c.depth]);
                    go_on = found(c.job_id(&values[..c.depth]));
                    go_on
                });
                if !go_on {
                    return false;
                }
            }
        }
        true
    }

    /// Calls `found` with every job that loads `tile` (a loop job loading
    /// it twice is reported twice); stops when `found` returns false.
    pub fn readers_of(&self, tile: TileKey, found: &mut dyn FnMut(JobId) -> bool) {
        let start = self.const_loads.partition_point(|(k, _)| *k < tile);
        for (k, f) in &self.const_loads[start..] {
            if *k != tile {
                break;
            }
            if !found(self.bases[*f as usize]) {
                return;
            }
        }
        let Some(info) = self.program.matrices.get(tile.matrix as usize) else {
            return;
        };
        let sym = info.header.symmetric;
        if !self.solve_refs(
            &self.loads[tile.matrix as usize],
            tile,
            tile.matrix,
            sym,
            found,
        ) {
            return;
        }
        if tile.version == 0 {
            for &s in &self.bases_of[tile.matrix as usize] {
                if !self.solve_refs(&self.loads[s as usize], tile, s, sym, found) {
                    return;
                }
            }
        }
    }

    /// Calls `found` with every job that writes `tile` (more than one only
    /// in a program that breaks write-once).
    pub fn writers_of(&self, tile: TileKey, found: &mut dyn FnMut(JobId) -> bool) {
        let start = self.const_writes.partition_point(|(k, _)| *k < tile);
        for (k, f) in &self.const_writes[start..] {
            if *k != tile {
                break;
            }
            if !found(self.bases[*f as usize]) {
                return;
            }
        }
        if let Some(refs) = self.writes.get(tile.matrix as usize) {
            self.solve_refs(refs, tile, tile.matrix, false, found);
        }
    }

    /// The constant tile keys of loop-free families, sorted: `(key,
    /// family)` for loads (`write` false) or writes.
    pub fn flat_keys(&self, write: bool) -> &[(TileKey, u32)] {
        if write {
            &self.const_writes
        } else {
            &self.const_loads
        }
    }

    /// Every compiled loop family (`None` for loop-free ones).
    pub fn compiled_families(&self) -> &[Option<Compiled>] {
        &self.compiled
    }

    /// Whether some job may load a tile of matrix `matrix`: one of its
    /// own, or, through a versioned matrix based on it, its version 0.
    /// A versioned matrix that any job loads counts whatever the version,
    /// which overstates but never misses.
    pub fn is_loaded(&self, matrix: u32) -> bool {
        let named = |m: u32| {
            // `const_loads` is sorted by key, whose first field is the matrix.
            let first = self.const_loads.partition_point(|(k, _)| k.matrix < m);
            self.loads
                .get(m as usize)
                .is_some_and(|refs| !refs.is_empty())
                || self
                    .const_loads
                    .get(first)
                    .is_some_and(|(k, _)| k.matrix == m)
        };
        named(matrix)
            || self
                .bases_of
                .get(matrix as usize)
                .is_some_and(|based| based.iter().any(|&m| named(m)))
    }

    /// Number of distinct jobs that load `tile` (saturating at
    /// `u32::MAX`), counted without listing them: loop-free jobs by a
    /// binary search, each family's jobs by `family_readers`.
    pub fn readers(&self, tile: TileKey) -> u32 {
        let flat = self.const_loads.partition_point(|(k, _)| *k <= tile)
            - self.const_loads.partition_point(|(k, _)| *k < tile);
        let mut total = flat as u64;
        let Some(info) = self.program.matrices.get(tile.matrix as usize) else {
            return total as u32;
        };
        let swaps: &[bool] = if info.header.symmetric && tile.i != tile.j {
            &[false, true]
        } else {
            &[false]
        };
        // The loads that can name the tile: of its matrix, and of the
        // versioned matrices based on it at version 0 (as `readers_of`).
        // `loads` is in family, spec and instruction order, so only a
        // merge with those needs sorting.
        let m = tile.matrix;
        let own = self.loads[m as usize].iter().map(|r| (r, m));
        let mut refs: Vec<(&Ref, u32)> = own.collect();
        if tile.version == 0 && !self.bases_of[m as usize].is_empty() {
            for &s in &self.bases_of[m as usize] {
                refs.extend(self.loads[s as usize].iter().map(|r| (r, s)));
            }
            refs.sort_by_key(|(r, _)| (r.family, r.spec, r.instr));
        }
        let mut scratch = Vec::with_capacity(MAX_DEPTH + 4);
        for group in refs.chunk_by(|(a, _), (b, _)| (a.family, a.spec) == (b.family, b.spec)) {
            let readers = self.family_readers(group, tile, swaps, &mut scratch);
            total = total.saturating_add(readers);
        }
        total.min(u32::MAX as u64) as u32
    }

    /// The number of distinct jobs of one family and spec that name `tile`
    /// through any of the loads `group` (each through its matrix, in each
    /// orientation of `swaps`). A load counts its jobs alone; when several
    /// name the tile, their jobs are counted by inclusion-exclusion over the
    /// joint solvers (the orientations of one load never meet: a tile off
    /// the diagonal differs from its transpose), or without those
    /// enumerated, each counted at its first load naming the tile.
    fn family_readers(
        &self,
        group: &[(&Ref, u32)],
        tile: TileKey,
        swaps: &[bool],
        scratch: &mut Vec<i64>,
    ) -> u64 {
        let (family, spec) = (group[0].0.family, group[0].0.spec);
        let c = self.compiled[family as usize]
            .as_ref()
            .expect("refs are of loop families");
        let spec_ref = &c.specs[spec as usize];
        let mut alone = 0u64;
        // The loads naming the tile somewhere: the others change no count.
        let mut live = [0usize; MAX_JOINT];
        let mut lives = 0;
        for (k, &(r, matrix)) in group.iter().enumerate() {
            let mut counted = 0u64;
            for &swap in swaps {
                self.target(tile, matrix, swap, scratch);
                counted = counted.saturating_add(r.solver.count(spec_ref, scratch));
            }
            if counted > 0 {
                if lives < MAX_JOINT {
                    live[lives] = k;
                }
                lives += 1;
            }
            alone = alone.saturating_add(counted);
        }
        if lives <= 1 {
            return alone;
        }
        // Past MAX_JOINT live loads only the enumeration counts: give it all.
        let live: Vec<usize> = if lives <= MAX_JOINT {
            live[..lives].to_vec()
        } else {
            (0..group.len()).collect()
        };
        let mut targets = Vec::with_capacity(live.len() * swaps.len());
        for &k in &live {
            for &swap in swaps {
                let mut target = Vec::with_capacity(MAX_DEPTH + 4);
                self.target(tile, group[k].1, swap, &mut target);
                targets.push(target);
            }
        }
        let target = |k: usize, o: usize| -> &[i64] { &targets[k * swaps.len() + o] };
        let joint = |members: &[usize]| -> Option<&Solver> {
            if let [k] = members {
                return Some(&group[live[*k]].0.solver);
            }
            let mut bits = 0u64;
            for &k in members {
                bits |= 1u64.checked_shl(group[live[k]].0.instr)?;
            }
            self.joint.get(&(family, spec, bits))
        };
        let counted = (live.len() <= MAX_JOINT)
            .then(|| inclusion_exclusion(live.len(), swaps.len(), &joint, &target, spec_ref))
            .flatten();
        counted.unwrap_or_else(|| {
            let loads: Vec<(&Ref, &[Lin])> = live
                .iter()
                .map(|&k| {
                    let r = group[k].0;
                    (r, spec_ref.refs[r.instr as usize].as_deref().unwrap_or(&[]))
                })
                .collect();
            count_first_namings(&loads, swaps.len(), &target, spec_ref)
        })
    }

    /// The job that writes `tile`, if any (write-once: at most one).
    pub fn writer(&self, tile: TileKey) -> Option<JobId> {
        let start = self.const_writes.partition_point(|(k, _)| *k < tile);
        if let Some((k, f)) = self.const_writes.get(start)
            && *k == tile
        {
            return Some(self.bases[*f as usize]);
        }
        let mut writer = None;
        self.solve_refs(
            self.writes.get(tile.matrix as usize)?,
            tile,
            tile.matrix,
            false,
            &mut |j| {
                writer = Some(j);
                false
            },
        );
        writer
    }

    /// The tiles job `loc` loads or writes, resolved, in instruction order.
    pub fn tiles(
        &self,
        loc: &Located,
        write: bool,
        out: &mut Vec<TileKey>,
    ) -> Result<(), RefError> {
        out.clear();
        for (k, instr) in self.family(loc.family).instrs.iter().enumerate() {
            let wanted = matches!(
                (instr, write),
                (Instr::Load { .. }, false) | (Instr::Write { .. }, true)
            );
            if wanted && let Some(r) = self.resolve(loc, k)? {
                out.push(r.key);
            }
        }
        Ok(())
    }

    /// The distinct jobs that load a tile job `id` writes, ascending.
    pub fn children(&self, id: JobId, out: &mut Vec<JobId>) {
        out.clear();
        let Some(loc) = self.locate(id) else { return };
        let mut written = Vec::new();
        if self.tiles(&loc, true, &mut written).is_err() {
            return;
        }
        for tile in written {
            self.readers_of(tile, &mut |j| {
                if j != id {
                    out.push(j);
                }
                true
            });
        }
        out.sort_unstable();
        out.dedup();
    }

    /// The distinct jobs that write a tile job `id` loads, ascending.
    pub fn parents(&self, id: JobId, out: &mut Vec<JobId>) {
        out.clear();
        let Some(loc) = self.locate(id) else { return };
        let mut loaded = Vec::new();
        if self.tiles(&loc, false, &mut loaded).is_err() {
            return;
        }
        for tile in loaded {
            if self.program.matrices[tile.matrix as usize].role == Role::Input {
                continue;
            }
            if let Some(w) = self.writer(tile)
                && w != id
            {
                out.push(w);
            }
        }
        out.sort_unstable();
        out.dedup();
    }

    /// Number of distinct parent jobs.
    pub fn in_degree(&self, id: JobId) -> u32 {
        let mut parents = Vec::new();
        self.parents(id, &mut parents);
        parents.len() as u32
    }

    /// Calls `visit(family, loop values, job)` for every job in program
    /// order (the order of the flat expansion); stops when it returns false.
    pub fn walk(&self, visit: &mut dyn FnMut(u32, &[i64], JobId) -> bool) {
        let mut values = Vec::with_capacity(MAX_DEPTH);
        self.walk_items(&self.program.body, &mut values, visit);
    }

    fn walk_items(
        &self,
        items: &[Item],
        values: &mut Vec<i64>,
        visit: &mut dyn FnMut(u32, &[i64], JobId) -> bool,
    ) -> bool {
        for item in items {
            match *item {
                Item::Family(f) => {
                    let id = self.job_id(f, values);
                    if !visit(f, values, id) {
                        return false;
                    }
                }
                Item::Loop(l) => {
                    let node = &self.program.loops[l as usize];
                    let (Ok(start), Ok(end), Ok(step)) = (
                        node.start.eval(values),
                        node.end.eval(values),
                        node.step.eval(values),
                    ) else {
                        continue;
                    };
                    if step <= 0 {
                        continue;
                    }
                    let mut v = start;
                    while v < end {
                        values.push(v);
                        let go_on = self.walk_items(&node.body, values, visit);
                        values.pop();
                        if !go_on {
                            return false;
                        }
                        v = match v.checked_add(step) {
                            Some(v) => v,
                            None => break,
                        };
                    }
                }
            }
        }
        true
    }

    /// Number of jobs of one family.
    pub fn family_job_count(&self, family: u32) -> u64 {
        match &self.compiled[family as usize] {
            None => 1,
            Some(c) => c.specs.iter().map(|s| count_points(s, &[])).sum(),
        }
    }

    /// How many jobs of `family` load one tile at both instructions `p`
    /// and `q` (the diagonal jobs of a `SYRK` of `L[i, k]` and `L[j, k]`):
    /// those where the two references agree component by component, or,
    /// for a versioned matrix and its base, where the versioned reference
    /// is at version 0 (its base's tile, see [`canonical`]) and the tile
    /// indices agree. Counted like [`Plan::family_job_count`], the
    /// equalities substituted and the innermost loops summed in closed form.
    pub fn count_same_loads(&self, family: u32, p: usize, q: usize) -> u64 {
        let instrs = &self.family(family).instrs;
        let (Some(Instr::Load { tile: tp, .. }), Some(Instr::Load { tile: tq, .. })) =
            (instrs.get(p), instrs.get(q))
        else {
            return 0;
        };
        let Some(c) = &self.compiled[family as usize] else {
            let Some(loc) = self.locate(self.bases[family as usize]) else {
                return 0;
            };
            let (a, b) = (self.resolve(&loc, p), self.resolve(&loc, q));
            return matches!((a, b), (Ok(Some(a)), Ok(Some(b))) if a == b) as u64;
        };
        let base = |m: u32| self.program.matrices.get(m as usize).and_then(|i| i.base);
        let (mp, mq) = (tp.matrix, tq.matrix);
        // Which references must be at version 0 to reach the same matrix.
        let (zero_p, zero_q) = if mp == mq {
            (false, false)
        } else if base(mp) == Some(mq) {
            (true, false)
        } else if base(mq) == Some(mp) {
            (false, true)
        } else if base(mp).is_some() && base(mp) == base(mq) {
            (true, true)
        } else {
            return 0;
        };
        c.specs
            .iter()
            .map(|spec| {
                let (Some(rp), Some(rq)) = (&spec.refs[p], &spec.refs[q]) else {
                    return 0;
                };
                let equal = same_tile_forms(rp, rq, zero_p, zero_q);
                equal.map_or(0, |equal| count_points(spec, &equal))
            })
            .sum()
    }

    /// Number of jobs, counted from the loop bounds: the two innermost loops
    /// of each family in closed form, the loops outside them enumerated
    /// ([`crate::count`]), so the Cholesky's trillions of jobs on a grid of
    /// side `N` cost `N` steps.
    pub fn job_count(&self) -> u64 {
        *self.count.get_or_init(|| {
            (0..self.compiled.len() as u32).fold(0u64, |total, f| {
                total.saturating_add(self.family_job_count(f))
            })
        })
    }

    /// The jobs of `family` (in its lexicographic order).
    pub fn family_jobs(&self, family: u32, visit: &mut dyn FnMut(JobId, &[i64]) -> bool) {
        let Some(c) = &self.compiled[family as usize] else {
            visit(self.bases[family as usize], &[]);
            return;
        };
        let mut values = [0i64; MAX_DEPTH];
        for spec in &c.specs {
            let mut go_on = true;
            let mut t = [0i64; MAX_DEPTH];
            each_point(spec, 0, &mut t, &mut |t| {
                spec.user_values(t, &mut values[..c.depth]);
                go_on = visit(c.job_id(&values[..c.depth]), &values[..c.depth]);
                go_on
            });
            if !go_on {
                return;
            }
        }
    }

    /// Calls `visit` with every job that has no parent: the jobs whose every
    /// load reads an input (directly, or as version 0 of a versioned
    /// matrix). Only the candidate iterations are visited: a family that
    /// loads a non-input tile anywhere contributes the iterations where
    /// every such load is of a base version. This relies on what `lpc check`
    /// guarantees: every loaded tile of a non-input matrix has a writer, and
    /// no job loads a tile it writes itself.
    pub fn roots(&self, visit: &mut dyn FnMut(JobId)) {
        self.roots_until(&mut |id| {
            visit(id);
            true
        });
    }

    /// [`Plan::roots`], stopping as soon as `visit` returns false (a
    /// program can have billions of roots, and a driver that stops
    /// launching them must not wait for the rest to be found); returns
    /// whether it went through every root.
    pub fn roots_until(&self, visit: &mut dyn FnMut(JobId) -> bool) -> bool {
        for (f, fam) in self.program.families.iter().enumerate() {
            let f = f as u32;
            let Some(c) = &self.compiled[f as usize] else {
                let id = self.bases[f as usize];
                if self.in_degree(id) == 0 && !visit(id) {
                    return false;
                }
                continue;
            };
            'specs: for spec in &c.specs {
                let mut sys = System::new(c.depth);
                spec.domain(0, &mut sys);
                for (k, instr) in fam.instrs.iter().enumerate() {
                    let Instr::Load { tile, .. } = instr else {
                        continue;
                    };
                    let info = &self.program.matrices[tile.matrix as usize];
                    if info.role == Role::Input {
                        continue;
                    }
                    if info.base.is_none() {
                        continue 'specs;
                    }
                    let maps = spec.refs[k].as_ref().expect("loads have maps");
                    for l in &maps[..info.versions.len()] {
                        sys.eq0(*l);
                    }
                }
                let mut values = [0i64; MAX_DEPTH];
                let mut go_on = true;
                sys.points_lex(
                    Budget {
                        constraints: 100_000,
                        nodes: u64::MAX,
                    },
                    &mut |t| {
                        spec.user_values(t, &mut values[..c.depth]);
                        let id = c.job_id(&values[..c.depth]);
                        if self.in_degree(id) == 0 {
                            go_on = visit(id);
                        }
                        go_on
                    },
                );
                if !go_on {
                    return false;
                }
            }
        }
        true
    }
}

/// `|A_1 ∪ ... ∪ A_n|`, where `A_k` is the set of points of `spec` that load
/// `k` maps to one of its `orientations` targets (`target(k, o)`), summed
/// over the subsets of loads with alternating signs, each subset in each
/// assignment of orientations counted by its joint solver (`joint`; `None`
/// when one is missing).
fn inclusion_exclusion<'s>(
    n: usize,
    orientations: usize,
    joint: &dyn Fn(&[usize]) -> Option<&'s Solver>,
    target: &dyn Fn(usize, usize) -> &'s [i64],
    spec: &family::Spec,
) -> Option<u64> {
    let mut total: i128 = 0;
    let mut members = Vec::with_capacity(n);
    let mut joined = Vec::new();
    for subset in 1u32..(1 << n) {
        members.clear();
        members.extend((0..n).filter(|&k| subset & (1 << k) != 0));
        let solver = joint(&members)?;
        let sign = if members.len() % 2 == 1 { 1 } else { -1 };
        // Each assignment of an orientation to every member, as digits.
        for assignment in 0..orientations.pow(members.len() as u32) {
            joined.clear();
            let mut digits = assignment;
            for &k in &members {
                joined.extend_from_slice(target(k, digits % orientations));
                digits /= orientations;
            }
            total += sign * solver.count(spec, &joined) as i128;
        }
    }
    Some(total.clamp(0, u64::MAX as i128) as u64)
}

/// The points of `spec` at which one of `loads` (a solver and the index
/// map it solves) names its target in one of `orientations`
/// (`target(k, o)`), each counted at the first load and orientation that
/// does: an enumeration, for the loads [`inclusion_exclusion`] cannot take.
fn count_first_namings<'s>(
    loads: &[(&Ref, &[Lin])],
    orientations: usize,
    target: &dyn Fn(usize, usize) -> &'s [i64],
    spec: &family::Spec,
) -> u64 {
    let names = |k: usize, o: usize, t: &[i64]| {
        let map = loads[k].1;
        map.iter().zip(target(k, o)).all(|(l, &v)| l.eval(t) == v)
    };
    let mut count = 0u64;
    for (k, (r, _)) in loads.iter().enumerate() {
        for o in 0..orientations {
            r.solver.solve(spec, target(k, o), &mut |t| {
                let earlier = (0..k).any(|q| (0..orientations).any(|p| names(q, p, t)))
                    || (0..o).any(|p| names(k, p, t));
                count += u64::from(!earlier);
                true
            });
        }
    }
    count
}

/// Solvers of the loads of each family, spec and class (a matrix and the
/// versioned matrices based on it) taken several at once: every subset of
/// two or more, for classes of at most [`MAX_JOINT`] loads. A subset whose
/// joint system exceeds the solver's limits is left out (its tiles'
/// readers are then enumerated).
fn joint_solvers(
    program: &Program,
    compiled: &[Option<Compiled>],
) -> HashMap<(u32, u32, u64), Solver> {
    let mut joint = HashMap::new();
    let class = |m: u32| program.matrices[m as usize].base.unwrap_or(m);
    for (f, c) in compiled.iter().enumerate() {
        let Some(c) = c else { continue };
        let fam = &program.families[f];
        let mut loads: Vec<(u32, usize)> = fam
            .instrs
            .iter()
            .enumerate()
            .filter_map(|(k, i)| match i {
                Instr::Load { tile, .. } if k < 64 => Some((class(tile.matrix), k)),
                _ => None,
            })
            .collect();
        loads.sort_unstable();
        for same in loads.chunk_by(|a, b| a.0 == b.0) {
            if same.len() < 2 || same.len() > MAX_JOINT {
                continue;
            }
            for (s, spec) in c.specs.iter().enumerate() {
                for subset in 1u32..(1 << same.len()) {
                    if subset.count_ones() < 2 {
                        continue;
                    }
                    let mut bits = 0u64;
                    let mut comps = Vec::new();
                    for (b, &(_, k)) in same.iter().enumerate() {
                        if subset & (1 << b) != 0 {
                            bits |= 1 << k;
                            comps.extend_from_slice(spec.refs[k].as_deref().unwrap_or(&[]));
                        }
                    }
                    if let Some(solver) = Solver::new(&comps, c.depth) {
                        joint.insert((f as u32, s as u32, bits), solver);
                    }
                }
            }
        }
    }
    joint
}

/// Calls `visit` with every internal point of `spec`, lexicographically.
pub fn each_point(
    spec: &family::Spec,
    m: usize,
    t: &mut [i64; MAX_DEPTH],
    visit: &mut dyn FnMut(&[i64]) -> bool,
) -> bool {
    let depth = spec.levels.len();
    if m == depth {
        return visit(&t[..depth]);
    }
    let (lo, hi) = spec.range(m, &t[..m]);
    let mut v = lo;
    while v <= hi {
        t[m] = v;
        if !each_point(spec, m + 1, t, visit) {
            return false;
        }
        v += 1;
    }
    true
}

/// The forms that vanish where references `rp` and `rq` (affine maps of
/// one family's variables) name one tile: all components equal when
/// neither must be at version 0 (one matrix), else the tile indices equal
/// and the version components of those that must be at version 0 zero.
fn same_tile_forms(rp: &[Lin], rq: &[Lin], zero_p: bool, zero_q: bool) -> Option<Vec<Lin>> {
    if !zero_p && !zero_q {
        return rp.iter().zip(rq).map(|(a, b)| a.checked_sub(b)).collect();
    }
    let (vp, vq) = (rp.len().checked_sub(2)?, rq.len().checked_sub(2)?);
    let mut equal = Vec::new();
    if zero_p {
        equal.extend_from_slice(&rp[..vp]);
    }
    if zero_q {
        equal.extend_from_slice(&rq[..vq]);
    }
    for (a, b) in rp[vp..].iter().zip(&rq[vq..]) {
        equal.push(a.checked_sub(b)?);
    }
    Some(equal)
}

/// Number of internal points of `spec` at which every form of `equal` is
/// zero: in closed form over the two innermost levels, the equalities
/// substituted ([`crate::count::points`]), or, where that does not apply,
/// by [`enumerate_points`].
fn count_points(spec: &family::Spec, equal: &[Lin]) -> u64 {
    match crate::count::points(&spec.levels, equal) {
        Some(counted) => counted.points,
        None => enumerate_points(spec, 0, &mut [0; MAX_DEPTH], equal),
    }
}

/// [`count_points`] by enumerating all levels but the last (where each form
/// pins the innermost variable or not).
fn enumerate_points(spec: &family::Spec, m: usize, t: &mut [i64; MAX_DEPTH], equal: &[Lin]) -> u64 {
    let depth = spec.levels.len();
    if depth == 0 {
        return equal.iter().all(|e| e.c == 0) as u64;
    }
    let (mut lo, mut hi) = spec.range(m, &t[..m]);
    if m + 1 < depth {
        let mut total = 0u64;
        for v in lo..=hi {
            t[m] = v;
            total = total.saturating_add(enumerate_points(spec, m + 1, t, equal));
        }
        return total;
    }
    for e in equal {
        let a = e.a[m];
        let rest = e.c + (0..m).map(|k| e.a[k] * t[k]).sum::<i64>();
        if a == 0 {
            if rest != 0 {
                return 0;
            }
        } else if rest % a != 0 {
            return 0;
        } else {
            lo = lo.max(-rest / a);
            hi = hi.min(-rest / a);
        }
    }
    if lo > hi { 0 } else { (hi - lo + 1) as u64 }
}

/// Per matrix, the loop families' loads and writes of it, as solvers from
/// a tile to the jobs that name it.
struct LoopRefs {
    loads: Vec<Vec<Ref>>,
    writes: Vec<Vec<Ref>>,
}

impl LoopRefs {
    fn add(&mut self, f: u32, fam: &Family, c: &Compiled) -> Result<(), PlanError> {
        for (s, spec) in c.specs.iter().enumerate() {
            for (k, instr) in fam.instrs.iter().enumerate() {
                let Some((tile, write)) = instr.access() else {
                    continue;
                };
                let comps = spec.refs[k].as_ref().expect("loads and writes have a map");
                let solver = Solver::new(comps, c.depth).ok_or(PlanError::Solver {
                    family: f,
                    instr: k as u32,
                })?;
                let r = Ref {
                    family: f,
                    spec: s as u32,
                    instr: k as u32,
                    solver,
                };
                let side = if write {
                    &mut self.writes
                } else {
                    &mut self.loads
                };
                side[tile.matrix as usize].push(r);
            }
        }
        Ok(())
    }
}

/// The tiles the one-job families (no loops) load and write, with the
/// family; sorted once all are added.
#[derive(Default)]
struct ConstRefs {
    loads: Vec<(TileKey, u32)>,
    writes: Vec<(TileKey, u32)>,
}

impl ConstRefs {
    fn add(&mut self, program: &Program, f: u32, fam: &Family) -> Result<(), PlanError> {
        for (k, instr) in fam.instrs.iter().enumerate() {
            let Some((tile, write)) = instr.access() else {
                continue;
            };
            let error = |error| PlanError::Ref {
                family: f,
                instr: k as u32,
                error,
            };
            let comps: Vec<i64> = tile
                .index
                .iter()
                .map(|e| e.eval(&[]).map_err(|_| RefError::Malformed))
                .collect::<Result<_, _>>()
                .map_err(error)?;
            let r = canonical(program, tile.matrix, &comps, write).map_err(error)?;
            let side = if write {
                &mut self.writes
            } else {
                &mut self.loads
            };
            side.push((r.key, f));
        }
        Ok(())
    }
}
