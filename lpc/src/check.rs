//! Semantic checks: everything `lpc check` verifies after parsing, in one
//! linear pass over the program plus a pass over its tile table.
//!
//! Design:
//! * Matrices are resolved to dense indices first, so every later lookup of a
//!   tile is a hash of a small [`TileKey`] (matrix, i, j), never a string
//!   compare or a pairwise scan; the 128 x 128-tile Cholesky (a few million
//!   instructions) checks in seconds with memory linear in its size.
//! * Registers are job-local. Each job is walked twice: once to number its
//!   definitions (so a use before a later definition can point at it), once
//!   to check every instruction in order. The map of all definitions across
//!   jobs, needed only to explain "register from another job", is built
//!   lazily on the first such error.
//! * A value whose shape is unknown because of an earlier error carries
//!   `None` and silences the shape checks that depend on it, so one mistake
//!   gives one diagnostic, not a cascade.
//! * While checking, instructions are lowered to the bundle form
//!   ([`lp_runtime::bundle::Instr`]); when no error was found that form, the
//!   resolved matrices and the tile dependencies make up [`Checked`], which
//!   `lower.rs` turns into the DAG and the bundle.
//! * Output tiles never written are reported once per matrix. A
//!   non-symmetric output with a square tile grid whose writes all lie on or
//!   below the diagonal is taken to be a lower-triangular result (a Cholesky
//!   factor): only its lower tiles are expected, the upper ones read as zero.
//! * The tile-level warnings (temp never read, output never written) are
//!   given only for a program without errors: with errors they mostly echo
//!   them.

use crate::error::{CheckError, TileName};
use grammar::ast::{self, Operand, RoleKind, Span};
use lp_runtime::bundle::{Instr, MatrixInfo, Role, TileKey};
use lp_std::{Init, Kernel, MatrixHeader, Shape};
use std::collections::HashMap;
use std::collections::hash_map::Entry;

/// A job after checking, in the bundle's instruction form.
#[derive(Clone, Debug)]
pub struct CheckedJob {
    pub name: String,
    pub label: Span,
    pub instrs: Vec<Instr>,
    pub num_regs: u32,
    /// Total flops of the job's kernels.
    pub flops: f64,
    /// The kernel that costs the most flops in this job, for graph labels.
    pub main_kernel: Option<Kernel>,
    /// The first tile the job writes, for graph labels.
    pub first_write: Option<TileKey>,
    pub reads_input: bool,
    pub writes_output: bool,
}

/// A load of a tile that another (or the same) job writes: one dependency.
#[derive(Clone, Copy, Debug)]
pub struct Dependency {
    pub parent: u32,
    pub child: u32,
    pub tile: TileKey,
    pub load: Span,
    pub write: Span,
}

/// A program that passed every check (warnings aside).
#[derive(Clone, Debug)]
pub struct Checked {
    pub matrices: Vec<MatrixInfo>,
    pub jobs: Vec<CheckedJob>,
    /// In the order of the loads in the source, grouped by child job.
    pub dependencies: Vec<Dependency>,
    pub instructions: usize,
}

impl Checked {
    pub fn tile_name(&self, key: TileKey) -> TileName {
        TileName {
            matrix: self.matrices[key.matrix as usize].name.clone(),
            i: key.i as u64,
            j: key.j as u64,
        }
    }
}

/// Checks a parsed program. Returns the checked form when there is no error
/// (warnings may be present), and every error and warning found.
pub fn check(program: &ast::Program<'_>) -> (Option<Checked>, Vec<CheckError>) {
    let mut checker = Checker {
        program,
        errors: Vec::new(),
        matrices: Vec::new(),
        matrix_index: HashMap::with_capacity(program.matrices.len()),
        writes: HashMap::new(),
        loads: Vec::new(),
        other_job_defs: None,
    };
    checker.declarations();
    let mut jobs = Vec::with_capacity(program.jobs.len());
    let mut labels: HashMap<&str, Span> = HashMap::with_capacity(program.jobs.len());
    let mut regs = Registers::default();
    let mut instructions = 0;
    for (index, job) in program.jobs.iter().enumerate() {
        match labels.entry(job.label.name) {
            Entry::Occupied(first) => checker.errors.push(CheckError::DuplicateJob {
                span: job.label.span,
                first: *first.get(),
                name: job.label.name.to_string(),
            }),
            Entry::Vacant(slot) => {
                slot.insert(job.label.span);
            }
        }
        instructions += job.body.len();
        jobs.push(checker.job(index as u32, job, &mut regs));
    }
    let dependencies = checker.tiles();
    checker
        .errors
        .sort_by_key(|e| (e.is_warning(), primary_start(e)));
    let has_errors = checker.errors.iter().any(|e| !e.is_warning());
    let checked = (!has_errors).then(|| Checked {
        matrices: checker
            .matrices
            .iter()
            .map(|m| MatrixInfo {
                name: m.name.to_string(),
                header: m.header.clone().expect("valid when there is no error"),
                role: m.role,
                init: m.init,
            })
            .collect(),
        jobs,
        dependencies,
        instructions,
    });
    (checked, checker.errors)
}

fn primary_start(e: &CheckError) -> u32 {
    use CheckError::*;
    let span = match e {
        UnknownDtype { span, .. }
        | UnknownInit { span, .. }
        | InitArity { span, .. }
        | DuplicateMatrix { span, .. }
        | DuplicateJob { span, .. }
        | ZeroDimension { span, .. }
        | SymmetricNotSquare { span, .. }
        | GridTooLarge { span, .. }
        | RegisterRedefined { span, .. }
        | UseBeforeDefinition { span, .. }
        | RegisterFromOtherJob { span, .. }
        | UndefinedRegister { span, .. }
        | UnknownOpcode { span, .. }
        | MissingDestination { span, .. }
        | UnexpectedDestination { span, .. }
        | OperandCount { span, .. }
        | OperandKind { span, .. }
        | RetNotLast { span, .. }
        | ShapeMismatch { span, .. }
        | WriteShape { span, .. }
        | UnknownMatrix { span, .. }
        | TileOutOfGrid { span, .. }
        | WriteToInput { span, .. }
        | WriteUpperTriangle { span, .. }
        | TileWrittenTwice { span, .. }
        | TileNeverWritten { span, .. }
        | UnusedRegister { span, .. }
        | TempNeverRead { span, .. } => *span,
        InitOnNonInput { init, .. } => *init,
        OutputNotWritten { decl, .. } => *decl,
        Cycle { edges } => edges.first().map(|e| e.load).unwrap_or_default(),
    };
    span.start
}

struct Matrix<'src> {
    name: &'src str,
    decl: &'src ast::MatrixDecl<'src>,
    /// `None` when the declaration is invalid: tile references to it are
    /// then not checked further.
    header: Option<MatrixHeader>,
    grid: [u64; 2],
    role: Role,
    init: Option<Init>,
    symmetric: bool,
    /// Any write strictly above the diagonal (decides whether a
    /// non-symmetric output is a lower-triangular result).
    writes_upper: bool,
    writes: u64,
}

struct Write {
    job: u32,
    span: Span,
    read: bool,
}

struct Load {
    tile: TileKey,
    job: u32,
    span: Span,
}

/// One register of the job being checked.
struct Reg {
    index: u32,
    /// Index of the defining instruction in the job.
    def_instr: u32,
    span: Span,
    shape: Option<Shape>,
    used: bool,
}

/// Job-local register table, reused across jobs to avoid reallocation.
#[derive(Default)]
struct Registers<'src> {
    map: HashMap<&'src str, Reg>,
    order: Vec<&'src str>,
}

struct Checker<'a, 'src> {
    program: &'a ast::Program<'src>,
    errors: Vec<CheckError>,
    matrices: Vec<Matrix<'a>>,
    matrix_index: HashMap<&'src str, u32>,
    writes: HashMap<TileKey, Write>,
    loads: Vec<Load>,
    /// Register name -> (job, first definition), built on first need.
    other_job_defs: Option<HashMap<&'src str, (u32, Span)>>,
}

/// A tile reference resolved against its matrix.
struct ResolvedTile {
    key: TileKey,
    transpose: bool,
    shape: Shape,
}

impl<'a, 'src> Checker<'a, 'src> {
    fn declarations(&mut self) {
        for decl in &self.program.matrices {
            let mut valid = true;
            if decl.dtype.name != "f64" {
                valid = false;
                self.errors.push(CheckError::UnknownDtype {
                    span: decl.dtype.span,
                    found: decl.dtype.name.to_string(),
                });
            }
            let role = match decl.role.kind {
                RoleKind::Input => Role::Input,
                RoleKind::Output => Role::Output,
                RoleKind::Temp => Role::Temp,
            };
            let init = decl.init.as_ref().and_then(|init| self.init(init));
            if let Some(init) = &decl.init
                && role != Role::Input
            {
                self.errors.push(CheckError::InitOnNonInput {
                    init: init.span,
                    role: decl.role.span,
                    matrix: decl.name.name.to_string(),
                });
            }
            for (dims, what) in [(&decl.shape, "shape"), (&decl.tile, "tile shape")] {
                for d in dims {
                    if d.value == 0 {
                        valid = false;
                        self.errors
                            .push(CheckError::ZeroDimension { span: d.span, what });
                    }
                }
            }
            if let Some(sym) = decl.symmetric {
                for (dims, what) in [
                    (&decl.shape, "a square shape"),
                    (&decl.tile, "square tiles"),
                ] {
                    if dims[0].value != dims[1].value {
                        valid = false;
                        self.errors.push(CheckError::SymmetricNotSquare {
                            span: dims[0].span.to(dims[1].span),
                            sym,
                            what,
                            rows: dims[0].value,
                            cols: dims[1].value,
                        });
                    }
                }
            }
            let mut grid = [0u64; 2];
            if valid {
                for k in 0..2 {
                    grid[k] = decl.shape[k].value.div_ceil(decl.tile[k].value);
                    if grid[k] > u32::MAX as u64 || decl.shape[k].value > usize::MAX as u64 {
                        valid = false;
                        self.errors.push(CheckError::GridTooLarge {
                            span: decl.shape[k].span,
                            tiles: grid[k],
                        });
                    }
                }
            }
            let header = valid.then(|| {
                MatrixHeader::new(
                    [decl.shape[0].value as usize, decl.shape[1].value as usize],
                    [decl.tile[0].value as usize, decl.tile[1].value as usize],
                    decl.symmetric.is_some(),
                )
            });
            match self.matrix_index.entry(decl.name.name) {
                Entry::Occupied(first) => {
                    self.errors.push(CheckError::DuplicateMatrix {
                        span: decl.name.span,
                        first: self.matrices[*first.get() as usize].decl.name.span,
                        name: decl.name.name.to_string(),
                    });
                    continue;
                }
                Entry::Vacant(slot) => {
                    slot.insert(self.matrices.len() as u32);
                }
            }
            self.matrices.push(Matrix {
                name: decl.name.name,
                decl,
                header,
                grid,
                role,
                init,
                symmetric: decl.symmetric.is_some(),
                writes_upper: false,
                writes: 0,
            });
        }
    }

    fn init(&mut self, init: &ast::Init<'_>) -> Option<Init> {
        let expected = match init.name.name {
            "zeros" | "identity" => 0,
            "random" | "spd" => 1,
            other => {
                self.errors.push(CheckError::UnknownInit {
                    span: init.name.span,
                    found: other.to_string(),
                });
                return None;
            }
        };
        if init.args.len() != expected {
            self.errors.push(CheckError::InitArity {
                span: init.span,
                init: init.name.name.to_string(),
                expected,
                found: init.args.len(),
            });
            return None;
        }
        Some(match init.name.name {
            "zeros" => Init::Zeros,
            "identity" => Init::Identity,
            "random" => Init::Random {
                seed: init.args[0].value,
            },
            _ => Init::Spd {
                seed: init.args[0].value,
            },
        })
    }

    fn job(
        &mut self,
        job_index: u32,
        job: &'a ast::Job<'src>,
        regs: &mut Registers<'src>,
    ) -> CheckedJob {
        regs.map.clear();
        regs.order.clear();
        // Pass 1: number the definitions.
        for (n, instr) in job.body.iter().enumerate() {
            let Some(dest) = instr.dest else { continue };
            match regs.map.entry(dest.name) {
                Entry::Occupied(first) => self.errors.push(CheckError::RegisterRedefined {
                    span: dest.span,
                    first: first.get().span,
                    name: dest.name.to_string(),
                }),
                Entry::Vacant(slot) => {
                    slot.insert(Reg {
                        index: regs.order.len() as u32,
                        def_instr: n as u32,
                        span: dest.span,
                        shape: None,
                        used: false,
                    });
                    regs.order.push(dest.name);
                }
            }
        }
        // Pass 2: check every instruction in order.
        let mut out = CheckedJob {
            name: job.label.name.to_string(),
            label: job.label.span,
            instrs: Vec::with_capacity(job.body.len()),
            num_regs: regs.order.len() as u32,
            flops: 0.0,
            main_kernel: None,
            first_write: None,
            reads_input: false,
            writes_output: false,
        };
        let mut main_flops = -1.0;
        let last = job.body.len().saturating_sub(1);
        for (n, instr) in job.body.iter().enumerate() {
            let opcode = instr.opcode.name;
            // Every register named counts as used, whatever errors the
            // instruction has: an unused-register warning would only echo
            // them.
            for op in &instr.operands {
                if let Operand::Reg(r) = op
                    && let Some(reg) = regs.map.get_mut(r.name)
                {
                    reg.used = true;
                }
            }
            // The value this instruction defines, if it is the register's
            // first definition.
            let dest = instr.dest.and_then(|d| {
                let r = &regs.map[d.name];
                (r.span == d.span).then_some(r.index)
            });
            match opcode {
                "S3_LOAD" => {
                    if instr.dest.is_none() {
                        self.missing_dest(instr);
                    }
                    let Some(tile_ref) = self.single_tile_operand(instr) else {
                        continue;
                    };
                    let Some(tile) = self.resolve_tile(tile_ref) else {
                        continue;
                    };
                    self.loads.push(Load {
                        tile: tile.key,
                        job: job_index,
                        span: tile_ref.span,
                    });
                    if self.matrices[tile.key.matrix as usize].role == Role::Input {
                        out.reads_input = true;
                    }
                    if let (Some(d), Some(dst)) = (instr.dest, dest) {
                        regs.map.get_mut(d.name).unwrap().shape = Some(tile.shape);
                        out.instrs.push(Instr::Load {
                            dst,
                            tile: tile.key,
                            transpose: tile.transpose,
                        });
                    }
                }
                "S3_WRITE" => {
                    self.unexpected_dest(instr);
                    if instr.operands.len() != 2 {
                        self.operand_count(instr, "2");
                        continue;
                    }
                    let tile_ref = match &instr.operands[0] {
                        Operand::Tile(t) => Some(t),
                        other => {
                            self.operand_kind(instr, other.span(), "a tile such as `L[0, 0]`");
                            None
                        }
                    };
                    let src = match &instr.operands[1] {
                        Operand::Reg(r) => self.use_reg(job_index, n as u32, r, regs),
                        other => {
                            self.operand_kind(instr, other.span(), "a register such as `%0`");
                            None
                        }
                    };
                    let Some(tile_ref) = tile_ref else { continue };
                    let Some((tile, shape)) = self.resolve_write(job_index, tile_ref) else {
                        continue;
                    };
                    out.first_write.get_or_insert(tile);
                    if self.matrices[tile.matrix as usize].role == Role::Output {
                        out.writes_output = true;
                    }
                    if let Some((src, reg_shape)) = src {
                        if let Some(reg_shape) = reg_shape
                            && reg_shape != shape
                        {
                            let Operand::Reg(r) = &instr.operands[1] else {
                                unreachable!()
                            };
                            self.errors.push(CheckError::WriteShape {
                                span: r.span,
                                reg: regs.map[r.name].span,
                                tile: self.tile_name(tile_ref),
                                tile_shape: shape.to_string(),
                                reg_shape: reg_shape.to_string(),
                            });
                        }
                        out.instrs.push(Instr::Write { tile, src });
                    }
                }
                "RET" => {
                    self.unexpected_dest(instr);
                    if !instr.operands.is_empty() {
                        self.operand_count(instr, "0");
                    }
                    if n != last {
                        self.errors.push(CheckError::RetNotLast {
                            span: instr.opcode.span,
                            last: job.body[last].span,
                        });
                    }
                }
                name => {
                    let Some(kernel) = Kernel::from_name(name) else {
                        self.errors.push(CheckError::UnknownOpcode {
                            span: instr.opcode.span,
                            found: name.to_string(),
                        });
                        continue;
                    };
                    if instr.dest.is_none() {
                        self.missing_dest(instr);
                    }
                    let (lo, hi) = kernel.arity();
                    let count = instr.operands.len();
                    let mut args = Vec::with_capacity(count);
                    let mut shapes = Vec::with_capacity(count);
                    let mut defs = Vec::with_capacity(count);
                    for op in &instr.operands {
                        match op {
                            Operand::Reg(r) => {
                                let used = self.use_reg(job_index, n as u32, r, regs);
                                if let Some((index, shape)) = used {
                                    args.push(index);
                                    defs.push(regs.map[r.name].span);
                                    if let Some(s) = shape {
                                        shapes.push(s);
                                    }
                                }
                            }
                            Operand::Tile(t) => self.operand_kind(
                                instr,
                                t.span,
                                "a register (load the tile with `S3_LOAD` first)",
                            ),
                        }
                    }
                    if count < lo || count > hi {
                        let expected = if lo == hi {
                            lo.to_string()
                        } else {
                            format!("{lo} or {hi}")
                        };
                        self.operand_count(instr, &expected);
                        continue;
                    }
                    if shapes.len() != count {
                        continue;
                    }
                    match kernel.result_shape(&shapes) {
                        Ok(shape) => {
                            let flops = kernel.flops(&shapes);
                            out.flops += flops;
                            if flops > main_flops {
                                main_flops = flops;
                                out.main_kernel = Some(kernel);
                            }
                            if let (Some(d), Some(dst)) = (instr.dest, dest) {
                                regs.map.get_mut(d.name).unwrap().shape = Some(shape);
                                out.instrs.push(Instr::Apply { dst, kernel, args });
                            }
                        }
                        Err(e) => {
                            let operand = e.operand.min(count - 1);
                            self.errors.push(CheckError::ShapeMismatch {
                                span: instr.operands[operand].span(),
                                related: e.related.and_then(|r| defs.get(r).copied()),
                                opcode: name.to_string(),
                                message: e.message,
                            });
                        }
                    }
                }
            }
        }
        for name in &regs.order {
            let reg = &regs.map[name];
            // A register without a shape comes from an instruction that
            // had an error; that error is enough.
            if !reg.used && reg.shape.is_some() {
                self.errors.push(CheckError::UnusedRegister {
                    span: reg.span,
                    name: name.to_string(),
                });
            }
        }
        out
    }

    /// Resolves a register use; `Some((index, shape))` when it refers to an
    /// earlier definition in this job.
    fn use_reg(
        &mut self,
        job_index: u32,
        instr: u32,
        r: &ast::Reg<'src>,
        regs: &mut Registers<'src>,
    ) -> Option<(u32, Option<Shape>)> {
        if let Some(reg) = regs.map.get_mut(r.name) {
            reg.used = true;
            if reg.def_instr < instr {
                return Some((reg.index, reg.shape));
            }
            self.errors.push(CheckError::UseBeforeDefinition {
                span: r.span,
                later_def: reg.span,
                name: r.name.to_string(),
            });
            return None;
        }
        let program = self.program;
        let defs = self.other_job_defs.get_or_insert_with(|| {
            let mut defs = HashMap::new();
            for (j, job) in program.jobs.iter().enumerate() {
                for instr in &job.body {
                    if let Some(d) = instr.dest {
                        defs.entry(d.name).or_insert((j as u32, d.span));
                    }
                }
            }
            defs
        });
        match defs.get(r.name) {
            Some(&(job, def)) if job != job_index => {
                self.errors.push(CheckError::RegisterFromOtherJob {
                    span: r.span,
                    def,
                    name: r.name.to_string(),
                    other_job: program.jobs[job as usize].label.name.to_string(),
                })
            }
            _ => self.errors.push(CheckError::UndefinedRegister {
                span: r.span,
                name: r.name.to_string(),
            }),
        }
        None
    }

    fn single_tile_operand<'i>(
        &mut self,
        instr: &'i ast::Instr<'src>,
    ) -> Option<&'i ast::TileRef<'src>> {
        if instr.operands.len() != 1 {
            self.operand_count(instr, "1");
            return None;
        }
        match &instr.operands[0] {
            Operand::Tile(t) => Some(t),
            other => {
                self.operand_kind(instr, other.span(), "a tile such as `A[0, 0]`");
                None
            }
        }
    }

    /// Resolves a tile reference for a load: matrix, grid bounds, the
    /// canonical stored tile and the loaded value's shape.
    fn resolve_tile(&mut self, t: &ast::TileRef<'_>) -> Option<ResolvedTile> {
        let Some(&m) = self.matrix_index.get(t.matrix.name) else {
            self.errors.push(CheckError::UnknownMatrix {
                span: t.matrix.span,
                name: t.matrix.name.to_string(),
            });
            return None;
        };
        let matrix = &self.matrices[m as usize];
        let header = matrix.header.as_ref()?;
        let (i, j) = (t.index[0].value, t.index[1].value);
        if i >= matrix.grid[0] || j >= matrix.grid[1] {
            let e = CheckError::TileOutOfGrid {
                span: t.span,
                tile: self.tile_name(t),
                grid: matrix.grid,
                decl: matrix.decl.span,
            };
            self.errors.push(e);
            return None;
        }
        let shape = header.tile(i as usize, j as usize);
        let transpose = matrix.symmetric && i < j;
        let (i, j) = if transpose { (j, i) } else { (i, j) };
        Some(ResolvedTile {
            key: TileKey {
                matrix: m,
                i: i as u32,
                j: j as u32,
            },
            transpose,
            shape,
        })
    }

    /// Resolves the tile of an `S3_WRITE` and records the write.
    fn resolve_write(&mut self, job: u32, t: &ast::TileRef<'_>) -> Option<(TileKey, Shape)> {
        let tile = self.resolve_tile(t)?;
        let matrix = &self.matrices[tile.key.matrix as usize];
        if matrix.role == Role::Input {
            self.errors.push(CheckError::WriteToInput {
                span: t.span,
                role: matrix.decl.role.span,
                matrix: matrix.name.to_string(),
            });
            return None;
        }
        if tile.transpose {
            self.errors.push(CheckError::WriteUpperTriangle {
                span: t.span,
                sym: matrix.decl.symmetric.unwrap_or(matrix.decl.span),
                tile: self.tile_name(t),
            });
            return None;
        }
        match self.writes.entry(tile.key) {
            Entry::Occupied(first) => {
                let first = first.get().span;
                self.errors.push(CheckError::TileWrittenTwice {
                    span: t.span,
                    first,
                    tile: self.tile_name(t),
                });
                return None;
            }
            Entry::Vacant(slot) => {
                slot.insert(Write {
                    job,
                    span: t.span,
                    read: false,
                });
            }
        }
        let matrix = &mut self.matrices[tile.key.matrix as usize];
        matrix.writes += 1;
        matrix.writes_upper |= tile.key.i < tile.key.j;
        Some((tile.key, tile.shape))
    }

    /// After all jobs: match loads with writes (dependencies and "never
    /// written" errors), then the tile-level warnings.
    fn tiles(&mut self) -> Vec<Dependency> {
        let mut dependencies = Vec::new();
        // Tiles loaded but never written, one error per tile at its first load.
        let mut unwritten: HashMap<TileKey, usize> = HashMap::new();
        let mut unwritten_order: Vec<(TileKey, Span)> = Vec::new();
        for load in &self.loads {
            if let Some(write) = self.writes.get_mut(&load.tile) {
                write.read = true;
                dependencies.push(Dependency {
                    parent: write.job,
                    child: load.job,
                    tile: load.tile,
                    load: load.span,
                    write: write.span,
                });
            } else if self.matrices[load.tile.matrix as usize].role != Role::Input {
                let count = unwritten.entry(load.tile).or_insert(0);
                if *count == 0 {
                    unwritten_order.push((load.tile, load.span));
                }
                *count += 1;
            }
        }
        for (key, span) in unwritten_order {
            let matrix = &self.matrices[key.matrix as usize];
            self.errors.push(CheckError::TileNeverWritten {
                span,
                decl: matrix.decl.span,
                tile: TileName {
                    matrix: matrix.name.to_string(),
                    i: key.i as u64,
                    j: key.j as u64,
                },
                loads: unwritten[&key],
            });
        }
        // The tile-level warnings below are often consequences of an error
        // (a rejected write leaves its tile unwritten), so, like rustc's
        // lints after a type error, they wait until the errors are fixed.
        if self.errors.iter().any(|e| !e.is_warning()) {
            return dependencies;
        }
        // Temp tiles written and never read, in source order.
        let mut unread: Vec<(TileKey, Span)> = self
            .writes
            .iter()
            .filter(|(k, w)| !w.read && self.matrices[k.matrix as usize].role == Role::Temp)
            .map(|(k, w)| (*k, w.span))
            .collect();
        unread.sort_by_key(|(_, span)| span.start);
        for (key, span) in unread {
            let matrix = &self.matrices[key.matrix as usize];
            self.errors.push(CheckError::TempNeverRead {
                span,
                tile: TileName {
                    matrix: matrix.name.to_string(),
                    i: key.i as u64,
                    j: key.j as u64,
                },
            });
        }
        // Output tiles never written, one warning per matrix.
        for (m, matrix) in self.matrices.iter().enumerate() {
            if matrix.role != Role::Output || matrix.header.is_none() {
                continue;
            }
            let [gr, gc] = matrix.grid;
            let lower_only = matrix.symmetric || (gr == gc && !matrix.writes_upper);
            let expected = if lower_only {
                gr * (gr + 1) / 2
            } else {
                gr * gc
            };
            if matrix.writes >= expected {
                continue;
            }
            // Scans stop after a few missing tiles, so this costs at most
            // the number of writes plus a constant.
            let mut missing = Vec::new();
            'scan: for i in 0..gr {
                for j in 0..if lower_only { i + 1 } else { gc } {
                    let key = TileKey {
                        matrix: m as u32,
                        i: i as u32,
                        j: j as u32,
                    };
                    if !self.writes.contains_key(&key) {
                        missing.push((i, j));
                        if missing.len() == 4 {
                            break 'scan;
                        }
                    }
                }
            }
            self.errors.push(CheckError::OutputNotWritten {
                decl: matrix.decl.name.span,
                matrix: matrix.name.to_string(),
                count: expected - matrix.writes,
                expected,
                missing,
            });
        }
        dependencies
    }

    fn tile_name(&self, t: &ast::TileRef<'_>) -> TileName {
        TileName {
            matrix: t.matrix.name.to_string(),
            i: t.index[0].value,
            j: t.index[1].value,
        }
    }

    fn missing_dest(&mut self, instr: &ast::Instr<'_>) {
        self.errors.push(CheckError::MissingDestination {
            span: instr.opcode.span,
            opcode: instr.opcode.name.to_string(),
        });
    }

    fn unexpected_dest(&mut self, instr: &ast::Instr<'_>) {
        if let Some(d) = instr.dest {
            self.errors.push(CheckError::UnexpectedDestination {
                span: d.span,
                opcode: instr.opcode.name.to_string(),
            });
        }
    }

    fn operand_count(&mut self, instr: &ast::Instr<'_>, expected: &str) {
        let span = match (instr.operands.first(), instr.operands.last()) {
            (Some(a), Some(b)) => a.span().to(b.span()),
            _ => instr.opcode.span,
        };
        self.errors.push(CheckError::OperandCount {
            span,
            opcode: instr.opcode.name.to_string(),
            expected: expected.to_string(),
            found: instr.operands.len(),
        });
    }

    fn operand_kind(&mut self, instr: &ast::Instr<'_>, span: Span, expected: &'static str) {
        self.errors.push(CheckError::OperandKind {
            span,
            opcode: instr.opcode.name.to_string(),
            expected,
        });
    }
}
