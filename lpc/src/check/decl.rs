//! Matrix declarations: dimensions (constant expressions over parameters),
//! versions, roles, initialisers and bases.

use super::scope::Scope;
use crate::error::CheckError;
use grammar::ast::{self, RoleKind, StructureKind};
use lp_program::{MAX_VERSION_DIMENSIONS, MAX_VERSIONS, MatrixInfo, Role};
use lp_std::{Dims, HeaderError, Init, InitError, MatrixHeader, Triangle};
use std::collections::HashMap;
use std::collections::hash_map::Entry;

/// A declared matrix as the checker sees it.
pub struct Matrix<'a, 'src> {
    pub decl: &'a ast::MatrixDecl<'src>,
    /// `None` when the declaration is invalid: references to the matrix are
    /// then not checked further.
    pub info: Option<MatrixInfo>,
}

impl Matrix<'_, '_> {
    pub fn name(&self) -> &str {
        self.decl.name.name
    }
    pub fn role(&self) -> Role {
        role(self.decl.role.kind)
    }
}

pub fn role(kind: RoleKind) -> Role {
    match kind {
        RoleKind::Input => Role::Input,
        RoleKind::Output => Role::Output,
        RoleKind::Temp => Role::Temp,
    }
}

/// Checks every declaration; the matrices in declaration order (duplicates
/// left out) and an index by name.
pub fn declarations<'a, 'src>(
    decls: &'a [ast::MatrixDecl<'src>],
    scope: &Scope<'src>,
    errors: &mut Vec<CheckError>,
) -> (Vec<Matrix<'a, 'src>>, HashMap<&'src str, u32>) {
    let mut matrices: Vec<Matrix<'a, 'src>> = Vec::with_capacity(decls.len());
    let mut index: HashMap<&'src str, u32> = HashMap::with_capacity(decls.len());
    for decl in decls {
        match index.entry(decl.name.name) {
            Entry::Occupied(first) => {
                errors.push(CheckError::DuplicateMatrix {
                    span: decl.name.span,
                    first: matrices[*first.get() as usize].decl.name.span,
                    name: decl.name.name.to_string(),
                });
                continue;
            }
            Entry::Vacant(slot) => {
                slot.insert(matrices.len() as u32);
            }
        }
        let info = one(decl, scope, errors);
        matrices.push(Matrix { decl, info });
    }
    // Bases, now that every matrix is known.
    for m in 0..matrices.len() {
        let decl = matrices[m].decl;
        let Some(init) = &decl.init else { continue };
        if decl.versions.is_empty() || matrices[m].info.is_none() {
            continue;
        }
        match base(&matrices, &index, m, init) {
            Ok(b) => matrices[m].info.as_mut().expect("checked").base = Some(b),
            Err(e) => {
                errors.push(*e);
                matrices[m].info = None;
            }
        }
    }
    (matrices, index)
}

fn base(
    matrices: &[Matrix<'_, '_>],
    index: &HashMap<&str, u32>,
    m: usize,
    init: &ast::Init<'_>,
) -> Result<u32, Box<CheckError>> {
    let name = matrices[m].name().to_string();
    let fail = |message: String| {
        Box::new(CheckError::BadBase {
            span: init.span,
            matrix: name.clone(),
            message,
        })
    };
    if init.call {
        return Err(fail(
            "a versioned matrix has no initialiser: `= A` names the input matrix that is its version 0".to_string(),
        ));
    }
    let Some(&b) = index.get(init.name.name) else {
        return Err(fail(format!(
            "no matrix named `{}`",
            grammar::lexer::clip(init.name.name)
        )));
    };
    let base = &matrices[b as usize];
    if base.role() != Role::Input || !base.decl.versions.is_empty() {
        return Err(fail(format!(
            "`{}` is not a plain input matrix",
            base.name()
        )));
    }
    let (Some(bi), Some(mi)) = (&base.info, &matrices[m].info) else {
        // The base's own declaration is in error; that error is enough.
        return Err(fail(format!("`{}` is not a valid matrix", base.name())));
    };
    if bi.header != mi.header {
        return Err(fail(format!(
            "`{}` is {} but `{}` is {}: a base must have the same shape, tiles and structure",
            base.name(),
            bi.header.declared_type(),
            matrices[m].name(),
            mi.header.declared_type()
        )));
    }
    Ok(b)
}

/// A dimension: a positive constant.
fn dimension(
    e: &ast::Expr<'_>,
    what: &'static str,
    scope: &Scope<'_>,
    errors: &mut Vec<CheckError>,
) -> Option<u64> {
    let value = match scope.constant(e, what) {
        Ok(v) => v,
        Err(err) => {
            errors.push(*err);
            return None;
        }
    };
    match value {
        0 => {
            errors.push(CheckError::ZeroDimension {
                span: e.span(),
                what,
            });
            None
        }
        v if v < 0 => {
            errors.push(CheckError::NegativeDimension {
                span: e.span(),
                value: v,
            });
            None
        }
        v => Some(v as u64),
    }
}

/// The triangle a `lower` or `upper` declaration states.
fn triangle(decl: &ast::MatrixDecl<'_>) -> Option<Triangle> {
    match decl.structure?.kind {
        StructureKind::Lower => Some(Triangle::Lower),
        StructureKind::Upper => Some(Triangle::Upper),
        StructureKind::Sym => None,
    }
}

/// Checks one matrix declaration; `None` when it is too broken to lower.
fn one(
    decl: &ast::MatrixDecl<'_>,
    scope: &Scope<'_>,
    errors: &mut Vec<CheckError>,
) -> Option<MatrixInfo> {
    let mut valid = true;
    if decl.dtype.name != "f64" {
        valid = false;
        errors.push(CheckError::UnknownDtype {
            span: decl.dtype.span,
            found: grammar::lexer::clip(decl.dtype.name),
        });
    }
    let role = role(decl.role.kind);
    let versions = versions(decl, role, scope, errors);
    let mut init = None;
    if let Some(i) = &decl.init
        && decl.versions.is_empty()
    {
        init = initialiser(i, scope, errors);
        if role != Role::Input {
            errors.push(CheckError::InitOnNonInput {
                init: i.span,
                role: decl.role.span,
                matrix: decl.name.name.to_string(),
            });
        }
    }
    // Checked even when the rest is invalid, to report every error at once.
    let header = header(decl, scope, errors);
    let (versions, header) = (versions?, header?);
    valid.then(|| MatrixInfo {
        name: decl.name.name.to_string(),
        header,
        role,
        init,
        versions,
        base: None,
    })
}

/// The version counts of a versioned matrix (inputs have none).
fn versions(
    decl: &ast::MatrixDecl<'_>,
    role: Role,
    scope: &Scope<'_>,
    errors: &mut Vec<CheckError>,
) -> Option<Vec<u32>> {
    let mut valid = true;
    let mut counts = Vec::with_capacity(decl.versions.len());
    for v in &decl.versions {
        match dimension(v, "version count", scope, errors) {
            Some(n) => counts.push(n),
            None => valid = false,
        }
    }
    // The limits a bundle's decoding enforces (`lp_program::bundle`), so
    // that every program that checks can be built and run from its bundle.
    let total = counts
        .iter()
        .fold(1u128, |n, &c| n.saturating_mul(c.into()));
    if valid && (counts.len() > MAX_VERSION_DIMENSIONS || total > u128::from(MAX_VERSIONS)) {
        let (first, last) = (&decl.versions[0], &decl.versions[counts.len() - 1]);
        errors.push(CheckError::TooManyVersions {
            span: first.span().to(last.span()),
            dimensions: counts.len(),
            versions: total,
        });
        valid = false;
    }
    // Used only when valid: then each count fits in 32 bits, as their
    // product does.
    let versions = counts.into_iter().map(|n| n as u32).collect();
    if !decl.versions.is_empty() && role == Role::Input {
        valid = false;
        errors.push(CheckError::VersionedInput {
            span: decl.name.span,
            role: decl.role.span,
        });
    }
    valid.then_some(versions)
}

/// The header: a positive shape and tile shape, which obey
/// [`MatrixHeader::violations`] (the rules a header from a store or a
/// bundle must obey too).
fn header(
    decl: &ast::MatrixDecl<'_>,
    scope: &Scope<'_>,
    errors: &mut Vec<CheckError>,
) -> Option<MatrixHeader> {
    let mut valid = true;
    let mut dims = [[0usize; 2]; 2];
    for (slot, (pair, what)) in dims
        .iter_mut()
        .zip([(&decl.shape, "shape"), (&decl.tile, "tile shape")])
    {
        for k in 0..2 {
            match dimension(&pair[k], what, scope, errors) {
                Some(v) => match usize::try_from(v) {
                    Ok(v) => slot[k] = v,
                    // Only where usize is narrower than 64 bits: more
                    // tiles than the grid can index at tile 1.
                    Err(_) => {
                        valid = false;
                        errors.push(CheckError::GridTooLarge {
                            span: pair[k].span(),
                            tiles: v,
                        });
                    }
                },
                None => valid = false,
            }
        }
    }
    if !valid {
        return None;
    }
    let header = MatrixHeader::new(dims[0], dims[1], decl.symmetric().is_some())
        .with_triangle(triangle(decl));
    let broken = header.violations();
    for violation in &broken {
        errors.push(match *violation {
            HeaderError::NotSquare { kind, of, dims } => {
                let exprs = match of {
                    Dims::Shape => &decl.shape,
                    Dims::Tile => &decl.tile,
                };
                CheckError::NotSquare {
                    span: exprs[0].span().to(exprs[1].span()),
                    structure: decl.structure.map_or(decl.name.span, |s| s.span),
                    kind,
                    what: of.squared(),
                    rows: dims[0] as u64,
                    cols: dims[1] as u64,
                }
            }
            HeaderError::GridTooLarge { side, tiles } => CheckError::GridTooLarge {
                span: decl.shape[side].span(),
                tiles: tiles as u64,
            },
            // The declaration has one structure, `f64` (checked apart, with
            // its span) and positive dimensions.
            ref other => unreachable!("a declaration cannot give a header that breaks `{other}`"),
        });
    }
    broken.is_empty().then_some(header)
}

fn initialiser(
    init: &ast::Init<'_>,
    scope: &Scope<'_>,
    errors: &mut Vec<CheckError>,
) -> Option<Init> {
    let mut args = Vec::with_capacity(init.args.len());
    for a in &init.args {
        match scope.constant(a, "an initialiser's argument") {
            Ok(v) if v >= 0 => args.push(v as u64),
            // Every initialiser's argument is a seed.
            Ok(v) => {
                errors.push(CheckError::NegativeSeed {
                    span: a.span(),
                    init: init.name.name.to_string(),
                    value: v,
                });
                return None;
            }
            Err(e) => {
                errors.push(*e);
                return None;
            }
        }
    }
    match Init::from_call(init.name.name, &args) {
        Ok(i) => Some(i),
        Err(InitError::Unknown) => {
            errors.push(CheckError::UnknownInit {
                span: init.name.span,
                found: grammar::lexer::clip(init.name.name),
            });
            None
        }
        Err(InitError::Arity { expected }) => {
            errors.push(CheckError::InitArity {
                span: init.span,
                init: init.name.name.to_string(),
                expected,
                found: args.len(),
            });
            None
        }
    }
}
