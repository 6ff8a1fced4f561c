//! The bundle: a checked program as the runtime receives it.
//!
//! A bundle holds the IR ([`Program`]) with its parameters already
//! substituted, never the expanded DAG, so its size is the program's, not
//! the matrix's: the loop Cholesky is the same few kilobytes for 8 tiles or
//! a million. On disk (and in an object store, content-addressed by
//! [`content_key`]) it is `LPBUNDLE`, a little-endian u32 format version,
//! the u64 payload length, the blake3 hash of the payload, then the payload
//! in postcard. The length and hash make a truncated or corrupted bundle a
//! clear error; the version makes a bundle from another `lpc` a clear error
//! rather than a misread (postcard is not self-describing).
//!
//! [`decode`] also runs [`validate`]: a runtime must not trust the producer,
//! because its replay safety rests on write-once and its scheduling on the
//! DAG being acyclic. Validation checks the structure (every index in
//! range, registers defined before use, operand counts, the loop tree) and
//! then reruns the analyses that safety needs: every reference in range,
//! write-once and acyclicity.

use crate::analysis::{self, Finding, Options};
use crate::ir::{Expr, Instr, Item, MAX_VERSION_DIMENSIONS, MAX_VERSIONS, Program, Role, TileRef};
use crate::plan::Plan;
use lp_std::Kernel;
use std::fmt;

/// The first bytes of every bundle file.
pub const MAGIC: &[u8; 8] = b"LPBUNDLE";
/// The format version this build writes and reads. Bump it whenever the IR
/// types change: postcard is not self-describing, so an old reader would
/// otherwise misread a new bundle. Version 2 is the loop IR; 3 adds
/// multi-result instructions and the systematic triangular solves, 4 stated
/// priorities, 5 `GEMM_SUB`.
pub const FORMAT_VERSION: u32 = 5;
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
    /// Decodes, but fails a check ([`validate`]).
    Invalid(String),
}

impl fmt::Display for BundleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BundleError::NotABundle => write!(
                f,
                "not a lambdapack bundle (missing the LPBUNDLE magic bytes)"
            ),
            BundleError::Version { found, supported } => write!(
                f,
                "bundle format version {found} is not supported (this lpc reads version \
                 {supported}); rebuild the bundle with this lpc"
            ),
            BundleError::Truncated { expected, found } => {
                write!(
                    f,
                    "truncated bundle: expected {expected} bytes, found {found}"
                )
            }
            BundleError::TrailingBytes { expected, found } => {
                write!(
                    f,
                    "corrupted bundle: expected {expected} bytes, found {found}"
                )
            }
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

/// Whether `bytes` start like a bundle (to tell a bundle from `.lp` text).
pub fn is_bundle(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

fn payload(program: &Program) -> Vec<u8> {
    // Every IR type is plain data (strings, integers, vectors, enums);
    // postcard cannot fail on it except by running out of memory.
    postcard::to_stdvec(program).expect("the IR always serialises")
}

/// The bundle file of `program`.
pub fn encode(program: &Program) -> Vec<u8> {
    wrap(&payload(program))
}

/// A bundle file around `payload`, whatever it holds: the header with its
/// length and hash, then the payload. [`encode`]'s, and the fuzz target's
/// and tests' way to hand [`decode`] a well-hashed payload of their own.
pub fn wrap(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(PREFIX_LEN + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(blake3::hash(payload).as_bytes());
    out.extend_from_slice(payload);
    out
}

/// The content address of `program`: the hex blake3 hash of its payload
/// (the hash [`encode`] records). Postcard encoding is deterministic, so
/// equal programs have equal keys.
pub fn content_key(program: &Program) -> String {
    blake3::hash(&payload(program)).to_hex().to_string()
}

/// Decodes and validates a bundle file into a plan; any damage is an
/// error, never a panic.
pub fn decode(bytes: &[u8]) -> Result<Plan, BundleError> {
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
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
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
    let payload_len = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
    let expected = (PREFIX_LEN as u64).saturating_add(payload_len);
    let found = bytes.len() as u64;
    if found < expected {
        return Err(BundleError::Truncated { expected, found });
    }
    if found > expected {
        return Err(BundleError::TrailingBytes { expected, found });
    }
    let recorded: [u8; 32] = bytes[20..52].try_into().expect("32 bytes");
    let payload = &bytes[PREFIX_LEN..];
    let computed = blake3::hash(payload);
    if computed.as_bytes() != &recorded {
        return Err(BundleError::HashMismatch {
            recorded: blake3::Hash::from_bytes(recorded).to_hex().to_string(),
            computed: computed.to_hex().to_string(),
        });
    }
    let program: Program =
        postcard::from_bytes(payload).map_err(|e| BundleError::Malformed(e.to_string()))?;
    validate(program)
}

/// Whether `name` is a language identifier (matrix names become store
/// keys; versions are stored as `name.v`, which needs `.`-free names).
pub fn is_identifier(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The checks a runtime needs before trusting a program (see the module
/// doc), and the plan it runs from.
pub fn validate(program: Program) -> Result<Plan, BundleError> {
    structure(&program).map_err(BundleError::Invalid)?;
    let options = Options::default();
    let (_, findings) = analysis::check_refs(&program, &options);
    if let Some(f) = findings.first() {
        return Err(BundleError::Invalid(describe(&program, f)));
    }
    let plan = Plan::new(program).map_err(|e| BundleError::Invalid(e.to_string()))?;
    let mut findings = analysis::writes::check(&plan, &options);
    if findings.is_empty() {
        findings = analysis::order::check(&plan, &options);
    }
    if let Some(f) = findings.first() {
        return Err(BundleError::Invalid(describe(plan.program(), f)));
    }
    Ok(plan)
}

/// A finding as one line, for a runtime that has no source to point at.
pub fn describe(program: &Program, finding: &Finding) -> String {
    let job =
        |at: &analysis::At| program.job_name(&program.families[at.family as usize], &at.values);
    let key = |k| program.tile_name(k);
    let instr = |at: &analysis::At| format!("job {}, instruction {}", job(at), at.instr);
    let family = |f: &u32| &program.families[*f as usize].name;
    match finding {
        Finding::Family { family: f, error } => format!("job family {}: {error}", family(f)),
        Finding::OutOfRange {
            at,
            component,
            value,
            size,
        } => format!(
            "{}: index {component} is {value}, outside 0..{size}",
            instr(at)
        ),
        Finding::TriangleWrite { at } => {
            format!("{}: write outside the stored triangle", instr(at))
        }
        Finding::BaseWrite { at } => {
            format!("{}: write to version 0, which is an input", instr(at))
        }
        Finding::WrittenTwice {
            first,
            second,
            tile,
        } => {
            format!(
                "tile {} is written twice: by {} and by {}",
                key(*tile),
                job(first),
                job(second)
            )
        }
        Finding::NeverWritten { at, tile, .. } => {
            format!("tile {} loaded by {} is never written", key(*tile), job(at))
        }
        Finding::Cycle { edges } => {
            let path: Vec<String> = edges.iter().map(|e| job(&e.parent)).collect();
            format!("dependency cycle: {} -> {}", path.join(" -> "), path[0])
        }
        Finding::Unordered {
            write,
            load,
            tile,
            jobs,
        } => format!(
            "{} loads {}, which {} writes later in program order, and the program's {jobs} jobs are too many to search for a cycle",
            job(load),
            key(*tile),
            job(write)
        ),
        Finding::Undecided {
            family: f,
            instr,
            question,
        } => format!(
            "job family {}, instruction {instr}: cannot decide {question}",
            family(f)
        ),
        Finding::TempReadUnchecked { family: f, instr } => format!(
            "job family {}, instruction {instr}: cannot check that every temp tile it writes is read",
            family(f)
        ),
        Finding::TempNeverRead { at, tile } => format!(
            "temp tile {} written by {} is never read",
            key(*tile),
            job(at)
        ),
        Finding::OutputNotWritten {
            matrix,
            count,
            expected,
            ..
        } => format!(
            "{count} of {expected} tiles of output {} are never written",
            program.matrices[*matrix as usize].name
        ),
    }
}

/// Most registers one job may have: a register file is allocated per job,
/// so its size must not come from an untrusted number.
pub const MAX_REGISTERS: u32 = 1 << 16;

/// Structural checks: everything the analyses and the runtime index by is
/// in range, the loop tree is a tree visited in family order, registers are
/// written before they are read.
fn structure(p: &Program) -> Result<(), String> {
    for (m, info) in p.matrices.iter().enumerate() {
        matrix(p, m, info)?;
    }
    tree(p)?;
    p.families.iter().try_for_each(|fam| family(p, fam))
}

fn matrix(p: &Program, m: usize, info: &crate::ir::MatrixInfo) -> Result<(), String> {
    let fail = |what: &str| Err(format!("matrix {}: {what}", info.name));
    if !is_identifier(&info.name) {
        return Err(format!("matrix {m}: {:?} is not a valid name", info.name));
    }
    let h = &info.header;
    if h.tile_shape.contains(&0) || h.shape.contains(&0) {
        return fail("a zero dimension");
    }
    if h.dtype != "f64" {
        return fail(&format!("unsupported dtype {:?}", h.dtype));
    }
    if h.symmetric && (h.shape[0] != h.shape[1] || h.tile_shape[0] != h.tile_shape[1]) {
        return fail("symmetric but not square");
    }
    if h.triangle.is_some() && (h.symmetric || h.tile_shape[0] != h.tile_shape[1]) {
        return fail("triangular but symmetric or with tiles that are not square");
    }
    if h.grid().iter().any(|&g| g > u32::MAX as usize) {
        return fail("more than 2^32 tiles per side");
    }
    if info.versions.contains(&0) || info.version_count() > MAX_VERSIONS {
        return fail(&format!(
            "version counts must be 1 or more, at most {MAX_VERSIONS} in all"
        ));
    }
    if info.versions.len() > MAX_VERSION_DIMENSIONS {
        return fail(&format!(
            "more than {MAX_VERSION_DIMENSIONS} version dimensions"
        ));
    }
    if let Some(b) = info.base {
        let Some(base) = p.matrices.get(b as usize) else {
            return fail(&format!("base {b} out of range"));
        };
        if base.role != Role::Input
            || !base.versions.is_empty()
            || base.header != info.header
            || info.versions.is_empty()
        {
            return fail(&format!(
                "base {} is not a plain input of the same shape",
                base.name
            ));
        }
    }
    Ok(())
}

/// The loop tree: every loop and family exactly once, families in
/// increasing order (program order), each family's loop path its position
/// in the tree, every bound over the loops around it.
fn tree(p: &Program) -> Result<(), String> {
    let mut seen_loops = vec![false; p.loops.len()];
    let mut next_family = 0usize;
    // (items, next index, whether the items are a loop body)
    let mut stack: Vec<(&[Item], usize, bool)> = vec![(&p.body, 0, false)];
    let mut path: Vec<u32> = Vec::new();
    while let Some((items, k, in_loop)) = stack.pop() {
        let Some(item) = items.get(k) else {
            if in_loop {
                path.pop();
            }
            continue;
        };
        stack.push((items, k + 1, in_loop));
        match *item {
            Item::Family(f) => {
                if f as usize != next_family {
                    return Err(format!(
                        "family {f} is out of program order (expected {next_family})"
                    ));
                }
                let fam = p
                    .families
                    .get(f as usize)
                    .ok_or(format!("family {f} out of range"))?;
                if fam.loops != path {
                    return Err(format!(
                        "family {}: its loops do not match its place in the tree",
                        fam.name
                    ));
                }
                next_family += 1;
            }
            Item::Loop(l) => {
                let node = p
                    .loops
                    .get(l as usize)
                    .ok_or(format!("loop {l} out of range"))?;
                if std::mem::replace(&mut seen_loops[l as usize], true) {
                    return Err(format!("loop {l} appears twice in the tree"));
                }
                if path.len() >= crate::lin::MAX_DEPTH {
                    return Err(format!(
                        "loops nested deeper than {}",
                        crate::lin::MAX_DEPTH
                    ));
                }
                let depth = path.len() as u8;
                for e in [&node.start, &node.end, &node.step] {
                    vars_below(e, depth)
                        .map_err(|d| format!("loop {}: variable {d} is not in scope", node.var))?;
                }
                path.push(l);
                stack.push((&node.body, 0, true));
            }
        }
    }
    if next_family != p.families.len() || seen_loops.contains(&false) {
        return Err("the loop tree does not hold every loop and family".to_string());
    }
    Ok(())
}

/// A family's registers, operand counts and tile references.
fn family(p: &Program, fam: &crate::ir::Family) -> Result<(), String> {
    let at = |k: usize| format!("job family {}, instruction {k}", fam.name);
    if fam.num_regs > MAX_REGISTERS {
        return Err(format!(
            "job family {}: {} registers (at most {MAX_REGISTERS})",
            fam.name, fam.num_regs
        ));
    }
    if fam.lines.len() != fam.instrs.len() {
        return Err(format!(
            "job family {}: line table does not match its instructions",
            fam.name
        ));
    }
    let depth = fam.loops.len() as u8;
    let mut written = vec![false; fam.num_regs as usize];
    let define = |k: usize, r: u32, written: &mut Vec<bool>| -> Result<(), String> {
        *written
            .get_mut(r as usize)
            .ok_or(format!("{}: register %{r} out of range", at(k)))? = true;
        Ok(())
    };
    let read = |k: usize, r: u32, written: &[bool]| -> Result<(), String> {
        match written.get(r as usize) {
            Some(true) => Ok(()),
            Some(false) => Err(format!(
                "{}: register %{r} read before it is written",
                at(k)
            )),
            None => Err(format!("{}: register %{r} out of range", at(k))),
        }
    };
    for (k, instr) in fam.instrs.iter().enumerate() {
        if let Some(t) = instr.tile() {
            tile_ref(p, t, depth).map_err(|m| format!("{}: {m}", at(k)))?;
        }
        match instr {
            Instr::Load { dst, .. } => define(k, *dst, &mut written)?,
            Instr::Write { tile, src } => {
                read(k, *src, &written)?;
                if p.matrices[tile.matrix as usize].role == Role::Input {
                    return Err(format!(
                        "{}: write to input matrix {}",
                        at(k),
                        p.matrices[tile.matrix as usize].name
                    ));
                }
            }
            Instr::Apply { dsts, kernel, args } => {
                apply_shape(*kernel, dsts, args).map_err(|m| format!("{}: {m}", at(k)))?;
                for &a in args {
                    read(k, a, &written)?;
                }
                for &d in dsts {
                    define(k, d, &mut written)?;
                }
            }
        }
    }
    Ok(())
}

/// Whether `t` names a matrix of `p` with one index per version dimension
/// and two for the tile, over loop variables in scope at `depth`.
fn tile_ref(p: &Program, t: &TileRef, depth: u8) -> Result<(), String> {
    let info = p.matrices.get(t.matrix as usize).ok_or(format!(
        "matrix {} out of range ({} matrices)",
        t.matrix,
        p.matrices.len()
    ))?;
    if t.index.len() != info.versions.len() + 2 {
        return Err(format!(
            "{} indices for matrix {}",
            t.index.len(),
            info.name
        ));
    }
    for e in &t.index {
        vars_below(e, depth).map_err(|d| format!("loop variable {d} is not in scope"))?;
    }
    Ok(())
}

/// Whether a kernel instruction has as many operands and results as its
/// kernel takes.
fn apply_shape(kernel: Kernel, dsts: &[u32], args: &[u32]) -> Result<(), String> {
    let (lo, hi) = kernel.arity();
    if args.len() < lo || args.len() > hi {
        return Err(format!(
            "{} takes {lo} to {hi} operands, found {}",
            kernel.name(),
            args.len()
        ));
    }
    let results = kernel.result_names().len();
    if dsts.len() != results {
        return Err(format!(
            "{} has {results} results, found {}",
            kernel.name(),
            dsts.len()
        ));
    }
    Ok(())
}

/// `Err(d)` if `e` uses a variable at depth `d >= depth`.
fn vars_below(e: &Expr, depth: u8) -> Result<(), u8> {
    let mut bad = None;
    e.visit_vars(&mut |d| {
        if d >= depth {
            bad = Some(d);
        }
    });
    bad.map_or(Ok(()), Err)
}
