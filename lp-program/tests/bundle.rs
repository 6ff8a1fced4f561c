//! The bundle file format ([`lp_program::bundle`]) and the checks a runtime
//! relies on before it trusts a program: round trips of a flat and a loop
//! program, content keys, damaged files, and structural validation with
//! its messages.

mod support;

use lp_program::Plan;
use lp_program::bundle::{
    BundleError, FORMAT_VERSION, MAX_REGISTERS, content_key, decode, encode, is_bundle, validate,
    wrap,
};
use lp_program::ir::{Expr, Family, Instr, Item, MatrixInfo, Program, Role, TileKey, TileRef};
use lp_std::{Init, Kernel, MatrixHeader};

fn at(matrix: u32, i: i64, j: i64) -> TileRef {
    TileRef {
        matrix,
        index: vec![Expr::Const(i), Expr::Const(j)],
    }
}

fn key(matrix: u32, i: u32, j: u32) -> TileKey {
    TileKey {
        matrix,
        version: 0,
        i,
        j,
    }
}

fn load(dst: u32, tile: TileRef) -> Instr {
    Instr::Load { dst, tile }
}

fn write(tile: TileRef, src: u32) -> Instr {
    Instr::Write { tile, src }
}

fn apply(dst: u32, kernel: Kernel, args: Vec<u32>) -> Instr {
    Instr::Apply {
        dsts: vec![dst],
        kernel,
        args,
    }
}

const A: u32 = 0;
const L: u32 = 1;
const S: u32 = 2;

/// The 2 x 2 tile Cholesky, flat (every family one job, as `lpc expand`
/// writes it): A (sym input, spd init, ragged 6 x 6 in tiles of 4), L
/// (output), S (sym temp, the trailing update).
fn cholesky_2x2() -> Program {
    let sym = MatrixHeader::new([6, 6], [4, 4], true);
    let full = MatrixHeader::new([6, 6], [4, 4], false);
    let info = |name: &str, header: &MatrixHeader, role, init| MatrixInfo {
        name: name.into(),
        header: header.clone(),
        role,
        init,
        versions: vec![],
        base: None,
    };
    let matrices = vec![
        info("A", &sym, Role::Input, Some(Init::Spd { seed: 7 })),
        info("L", &full, Role::Output, None),
        info("S", &sym, Role::Temp, None),
    ];
    let family = |name: &str, line: u32, instrs: Vec<Instr>, num_regs| Family {
        name: name.into(),
        loops: vec![],
        num_regs,
        line,
        lines: (0..instrs.len() as u32).map(|k| line + 1 + k).collect(),
        priority: None,
        instrs,
    };
    let families = vec![
        family(
            "chol_0",
            1,
            vec![
                load(0, at(A, 0, 0)),
                apply(1, Kernel::Chol, vec![0]),
                write(at(L, 0, 0), 1),
            ],
            2,
        ),
        family(
            "trsm_1_0",
            5,
            vec![
                load(0, at(A, 1, 0)),
                load(1, at(L, 0, 0)),
                apply(2, Kernel::from_name("TRSM_RLT").unwrap(), vec![0, 1]),
                write(at(L, 1, 0), 2),
            ],
            3,
        ),
        family(
            "syrk_1_1",
            10,
            vec![
                load(0, at(A, 1, 1)),
                load(1, at(L, 1, 0)),
                // The same tile loaded twice counts as one reader.
                load(2, at(L, 1, 0)),
                apply(3, Kernel::Syrk, vec![0, 1, 2]),
                write(at(S, 1, 1), 3),
            ],
            4,
        ),
        family(
            "chol_1",
            16,
            vec![
                load(0, at(S, 1, 1)),
                apply(1, Kernel::Chol, vec![0]),
                write(at(L, 1, 1), 1),
            ],
            2,
        ),
    ];
    Program {
        matrices,
        loops: vec![],
        body: (0..4).map(Item::Family).collect(),
        families,
        source: "chol.lp".into(),
    }
}

/// The library's loop Cholesky (`lib/cholesky.lp` in IR form).
fn cholesky_loops(nt: i64) -> Program {
    support::cholesky(nt)
}

fn ok(program: Program) -> Plan {
    validate(program).unwrap_or_else(|e| panic!("expected a valid program: {e}"))
}

fn round_trip(program: &Program) -> Vec<u8> {
    let bytes = encode(program);
    assert!(is_bundle(&bytes));
    assert_eq!(&bytes[..8], b"LPBUNDLE");
    assert_eq!(
        u32::from_le_bytes(bytes[8..12].try_into().unwrap()),
        FORMAT_VERSION
    );
    assert_eq!(
        u64::from_le_bytes(bytes[12..20].try_into().unwrap()),
        bytes.len() as u64 - 52
    );
    let plan = decode(&bytes).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plan.program(), program);
    // The key is the hash recorded in the file, in hex, and stable.
    let recorded: String = bytes[20..52].iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(content_key(program), recorded);
    assert_eq!(content_key(program).len(), 64);
    assert_eq!(encode(plan.program()), bytes);
    bytes
}

#[test]
fn flat_round_trip_is_exact_and_content_addressed() {
    let program = cholesky_2x2();
    round_trip(&program);
    let plan = decode(&encode(&program)).unwrap();
    assert_eq!(plan.job_count(), 4);
    let mut other = program.clone();
    other.families[0].name = "chol_zero".into();
    assert_ne!(content_key(&other), content_key(&program));
    let mut other = program.clone();
    other.families[3].line = 17;
    assert_ne!(
        content_key(&other),
        content_key(&program),
        "source lines are part of the content"
    );
}

#[test]
fn loop_round_trip_is_exact_and_its_size_does_not_grow_with_the_matrix() {
    let small = round_trip(&cholesky_loops(4));
    let large = round_trip(&cholesky_loops(1 << 20));
    // Only the numbers differ: a few bytes of varints, not the DAG.
    assert!(
        large.len() <= small.len() + 64,
        "{} vs {} bytes",
        large.len(),
        small.len()
    );
    assert_eq!(decode(&small).unwrap().job_count(), 4 + 6 + 10);
    assert_ne!(
        content_key(&cholesky_loops(4)),
        content_key(&cholesky_loops(5))
    );
    assert_ne!(
        content_key(&cholesky_loops(4)),
        content_key(&cholesky_2x2())
    );
}

#[test]
fn another_version_is_refused_naming_both_versions() {
    let mut bytes = encode(&cholesky_2x2());
    bytes[8..12].copy_from_slice(&7u32.to_le_bytes());
    let err = decode(&bytes).err().unwrap();
    assert_eq!(
        err,
        BundleError::Version {
            found: 7,
            supported: FORMAT_VERSION
        }
    );
    assert_eq!(
        err.to_string(),
        format!(
            "bundle format version 7 is not supported (this lpc reads version {FORMAT_VERSION}); \
             rebuild the bundle with this lpc"
        )
    );
}

#[test]
fn every_corrupted_payload_byte_is_detected() {
    for program in [cholesky_2x2(), cholesky_loops(3)] {
        let bytes = encode(&program);
        for pos in 52..bytes.len() {
            let mut bad = bytes.clone();
            bad[pos] ^= 0x40;
            match decode(&bad) {
                Err(BundleError::HashMismatch { recorded, computed }) => {
                    assert_eq!(recorded, content_key(&program));
                    assert_ne!(recorded, computed);
                }
                Err(other) => panic!("byte {pos} flipped: expected a hash mismatch, got {other:?}"),
                Ok(_) => panic!("byte {pos} flipped: decoded"),
            }
        }
        let mut bad = bytes.clone();
        bad[30] ^= 1; // inside the recorded hash
        let recorded: String = bad[20..52].iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            decode(&bad).err().unwrap().to_string(),
            format!(
                "corrupted bundle: payload hash is {}, the bundle records {recorded}",
                content_key(&program)
            )
        );
    }
}

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    let bytes = encode(&cholesky_2x2());
    for len in 1..bytes.len() {
        let err = decode(&bytes[..len]).err().unwrap();
        let expected_total = if len < 52 { 52 } else { bytes.len() as u64 };
        assert_eq!(
            err,
            BundleError::Truncated {
                expected: expected_total,
                found: len as u64
            },
            "prefix of {len} bytes"
        );
    }
    assert_eq!(
        decode(&bytes[..100]).err().unwrap().to_string(),
        format!(
            "truncated bundle: expected {} bytes, found 100",
            bytes.len()
        )
    );
    assert_eq!(decode(&[]).err().unwrap(), BundleError::NotABundle);
}

#[test]
fn trailing_bytes_and_foreign_files_are_refused() {
    let mut bytes = encode(&cholesky_2x2());
    let n = bytes.len() as u64;
    bytes.push(0);
    let err = decode(&bytes).err().unwrap();
    assert_eq!(
        err,
        BundleError::TrailingBytes {
            expected: n,
            found: n + 1
        }
    );
    assert_eq!(
        err.to_string(),
        format!("corrupted bundle: expected {n} bytes, found {}", n + 1)
    );
    let err = decode(b"matrix A : f64[8, 8] tile [4, 4] input\n")
        .err()
        .unwrap();
    assert_eq!(err, BundleError::NotABundle);
    assert_eq!(
        err.to_string(),
        "not a lambdapack bundle (missing the LPBUNDLE magic bytes)"
    );
    assert!(!is_bundle(b"; a .lp file"));
}

#[test]
fn a_well_hashed_payload_that_does_not_decode_is_malformed() {
    let bytes = wrap(&[0xffu8; 3]);
    assert!(bytes.starts_with(b"LPBUNDLE"));
    let err = decode(&bytes).err().unwrap();
    assert!(matches!(err, BundleError::Malformed(_)), "{err:?}");
    assert!(
        err.to_string().starts_with("malformed bundle payload: "),
        "{err}"
    );
}

/// Checks that the `mutate`d `program` fails validation with exactly
/// `message`, both directly and when decoded from a well-hashed file.
fn assert_invalid_program(mut program: Program, mutate: impl FnOnce(&mut Program), message: &str) {
    mutate(&mut program);
    assert_eq!(
        validate(program.clone()).err(),
        Some(BundleError::Invalid(message.to_string()))
    );
    assert_eq!(
        decode(&encode(&program)).err().unwrap().to_string(),
        format!("invalid bundle: {message}")
    );
}

fn assert_invalid(mutate: impl FnOnce(&mut Program), message: &str) {
    assert_invalid_program(cholesky_2x2(), mutate, message);
}

#[test]
fn structural_damage_is_named() {
    ok(cholesky_2x2());
    assert_invalid(
        |p| p.families[0].instrs[0] = load(5, at(A, 0, 0)),
        "job family chol_0, instruction 0: register %5 out of range",
    );
    assert_invalid(
        |p| p.families[0].instrs[1] = apply(1, Kernel::Chol, vec![1]),
        "job family chol_0, instruction 1: register %1 read before it is written",
    );
    assert_invalid(
        |p| p.families[0].instrs[2] = write(at(L, 0, 0), 3),
        "job family chol_0, instruction 2: register %3 out of range",
    );
    assert_invalid(
        |p| p.families[0].instrs[1] = apply(1, Kernel::Chol, vec![0, 0]),
        "job family chol_0, instruction 1: CHOL takes 1 to 1 operands, found 2",
    );
    assert_invalid(
        |p| p.families[0].num_regs = MAX_REGISTERS + 1,
        &format!(
            "job family chol_0: {} registers (at most {MAX_REGISTERS})",
            MAX_REGISTERS + 1
        ),
    );
    assert_invalid(
        |p| p.families[1].instrs[0] = load(0, at(9, 1, 0)),
        "job family trsm_1_0, instruction 0: matrix 9 out of range (3 matrices)",
    );
    assert_invalid(
        |p| {
            p.families[1].instrs[0] = load(
                0,
                TileRef {
                    matrix: A,
                    index: vec![Expr::Const(0); 3],
                },
            )
        },
        "job family trsm_1_0, instruction 0: 3 indices for matrix A",
    );
    assert_invalid(
        |p| {
            p.families[1].instrs[0] = load(
                0,
                TileRef {
                    matrix: A,
                    index: vec![Expr::Const(1), Expr::Var(0)],
                },
            )
        },
        "job family trsm_1_0, instruction 0: loop variable 0 is not in scope",
    );
    assert_invalid(
        |p| p.families[0].instrs[2] = write(at(A, 0, 0), 1),
        "job family chol_0, instruction 2: write to input matrix A",
    );
    assert_invalid(
        |p| p.families[1].instrs[0] = load(0, at(A, 2, 0)),
        "job trsm_1_0, instruction 0: index 0 is 2, outside 0..2",
    );
    assert_invalid(
        |p| p.families[1].instrs[0] = load(0, at(A, 1, -1)),
        "job trsm_1_0, instruction 0: index 1 is -1, outside 0..2",
    );
    assert_invalid(
        |p| p.families[2].instrs[4] = write(at(S, 0, 1), 3),
        "job syrk_1_1, instruction 4: write outside the stored triangle",
    );
    assert_invalid(
        |p| p.families[3].instrs[2] = write(at(L, 0, 0), 1),
        "tile L[0, 0] is written twice: by chol_0 and by chol_1",
    );
    assert_invalid(
        |p| p.families[1].instrs.push(write(at(L, 1, 0), 2)),
        "job family trsm_1_0: line table does not match its instructions",
    );
    // chol_0 also loads S[1, 1], which syrk_1_1 writes after needing
    // chol_0's L[0, 0] (through trsm_1_0).
    assert_invalid(
        |p| {
            let f = &mut p.families[0];
            f.instrs.push(load(2, at(S, 1, 1)));
            f.lines.push(5);
            f.num_regs = 3;
        },
        "dependency cycle: chol_0 -> trsm_1_0 -> syrk_1_1 -> chol_0",
    );
    assert_invalid(
        |p| p.matrices[2].name = "../S".into(),
        "matrix 2: \"../S\" is not a valid name",
    );
    assert_invalid(
        |p| p.matrices[2].name = "S.1".into(),
        "matrix 2: \"S.1\" is not a valid name",
    );
    // Counts whose product passes 2^64 (it wrapped to 0 in a release
    // build and overflowed in a debug one before it saturated).
    assert_invalid(
        |p| p.matrices[2].versions = vec![65536; 4],
        "matrix S: version counts must be 1 or more, at most 4294967295 in all",
    );
    assert_invalid(
        |p| p.matrices[2].versions = vec![2; 5],
        "matrix S: more than 4 version dimensions",
    );
    assert_invalid(
        |p| p.body.swap(0, 1),
        "family 1 is out of program order (expected 0)",
    );
    assert_invalid(
        |p| p.body.truncate(3),
        "the loop tree does not hold every loop and family",
    );
}

#[test]
fn loop_damage_is_named_with_the_iteration() {
    ok(cholesky_loops(4));
    let family = |p: &Program, name: &str| p.families.iter().position(|f| f.name == name).unwrap();
    // trsm writes L[i, 0] instead of L[i, k]: trsm[0, i] and trsm[1, i]
    // write the same tile.
    assert_invalid_program(
        cholesky_loops(4),
        |p| {
            let f = family(p, "trsm");
            let Instr::Write { tile, .. } = p.families[f].instrs.last_mut().unwrap() else {
                unreachable!()
            };
            tile.index[1] = Expr::Const(0);
        },
        "tile L[2, 0] is written twice: by trsm[0, 2] and by trsm[1, 2]",
    );
    // syrk writes S[k, i, j]: at k = 0 that is A, an input.
    assert_invalid_program(
        cholesky_loops(4),
        |p| {
            let f = family(p, "syrk");
            let Instr::Write { tile, .. } = p.families[f].instrs.last_mut().unwrap() else {
                unreachable!()
            };
            tile.index[0] = Expr::Var(0);
        },
        "job syrk[0, 1, 1], instruction 4: write to version 0, which is an input",
    );
    // The i loop runs to nt + 1: trsm[0, 4] writes L[4, 0] of a 4 x 4 grid.
    assert_invalid_program(
        cholesky_loops(4),
        |p| p.loops[1].end = Expr::Const(5),
        "job trsm[0, 4], instruction 0: index 1 is 4, outside 0..4",
    );
    // trsm[k, i] loads L[i, i] instead of L[k, k]: chol[i] writes it, and
    // chol[i] needs trsm[k, i] first (through the trailing updates).
    assert_invalid_program(
        cholesky_loops(3),
        |p| {
            let f = family(p, "trsm");
            p.families[f].instrs[1] = Instr::Load {
                dst: 1,
                tile: TileRef {
                    matrix: L,
                    index: vec![Expr::Var(1), Expr::Var(1)],
                },
            };
        },
        "dependency cycle: trsm[0, 1] -> syrk[0, 1, 1] -> chol[1] -> trsm[0, 1]",
    );
}

#[test]
fn upper_loads_of_a_symmetric_matrix_are_the_stored_twin_transposed() {
    // Validation used to reject a load of an upper tile; the plan now
    // resolves it to the stored lower tile, transposed.
    let mut program = cholesky_2x2();
    program.families[1].instrs[0] = load(0, at(A, 0, 1));
    let plan = ok(program);
    let loc = plan.locate(1).unwrap();
    let r = plan.resolve(&loc, 0).unwrap().unwrap();
    assert_eq!((r.key, r.transpose), (key(A, 1, 0), true));
    let r = plan.resolve(&plan.locate(2).unwrap(), 0).unwrap().unwrap();
    assert_eq!((r.key, r.transpose), (key(A, 1, 1), false));
}

#[test]
fn reader_counts_count_distinct_jobs() {
    let plan = ok(cholesky_2x2());
    for (tile, readers) in [
        (key(A, 0, 0), 1),
        (key(A, 1, 0), 1),
        (key(A, 1, 1), 1),
        (key(L, 0, 0), 1),
        (key(L, 1, 0), 1), // loaded twice by one job
        (key(L, 1, 1), 0),
        (key(S, 1, 1), 1),
        (key(S, 0, 0), 0),
    ] {
        assert_eq!(
            plan.readers(tile),
            readers,
            "{}",
            plan.program().tile_name(tile)
        );
    }
    let mut children = Vec::new();
    plan.children(0, &mut children);
    assert_eq!(children, [1]);
    assert_eq!(
        (plan.in_degree(0), plan.in_degree(2), plan.in_degree(3)),
        (0, 1, 1)
    );
    // The loop form: S[1, 2, 1] (written by syrk[0, 2, 1]) is read by
    // trsm[1, 2] only; S[1, 2, 2] by syrk[1, 2, 2], loading it once.
    let plan = ok(cholesky_loops(3));
    let s = |v, i, j| TileKey {
        matrix: S,
        version: v,
        i,
        j,
    };
    assert_eq!(plan.readers(s(1, 2, 1)), 1);
    assert_eq!(plan.readers(s(1, 2, 2)), 1);
    assert_eq!(plan.readers(s(2, 2, 2)), 1);
    // A[1, 1] is S[0, 1, 1]: read by syrk[0, 1, 1].
    assert_eq!(plan.readers(key(A, 1, 1)), 1);
    assert_eq!(plan.program().tile_name(s(2, 2, 2)), "S[2, 2, 2]");
}
