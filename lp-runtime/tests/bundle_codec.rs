//! The bundle file format and the structural checks the runtime relies on.

use lp_runtime::bundle::{
    Bundle, BundleError, FORMAT_VERSION, Instr, Job, MatrixInfo, Role, TileIndex, TileKey,
};
use lp_std::{Init, Kernel, MatrixHeader};
use std::collections::HashMap;

fn key(matrix: u32, i: u32, j: u32) -> TileKey {
    TileKey { matrix, i, j }
}

/// The seed's 2 x 2 Cholesky, lowered by hand: A (sym input, spd init),
/// L (output), S (temp trailing update).
fn cholesky_2x2() -> Bundle {
    let sym = MatrixHeader::new([6, 6], [4, 4], true);
    let full = MatrixHeader::new([6, 6], [4, 4], false);
    let matrices = vec![
        MatrixInfo {
            name: "A".into(),
            header: sym.clone(),
            role: Role::Input,
            init: Some(Init::Spd { seed: 7 }),
        },
        MatrixInfo {
            name: "L".into(),
            header: full,
            role: Role::Output,
            init: None,
        },
        MatrixInfo {
            name: "S".into(),
            header: sym,
            role: Role::Temp,
            init: None,
        },
    ];
    let (a, l, s) = (0, 1, 2);
    let job = |name: &str, instrs: Vec<Instr>, num_regs, children: Vec<u32>, in_degree| Job {
        name: name.into(),
        instrs,
        num_regs,
        children,
        in_degree,
    };
    let jobs = vec![
        job(
            "chol_0",
            vec![
                Instr::Load {
                    dst: 0,
                    tile: key(a, 0, 0),
                    transpose: false,
                },
                Instr::Apply {
                    dst: 1,
                    kernel: Kernel::Chol,
                    args: vec![0],
                },
                Instr::Write {
                    tile: key(l, 0, 0),
                    src: 1,
                },
            ],
            2,
            vec![1],
            0,
        ),
        job(
            "trsm_1_0",
            vec![
                Instr::Load {
                    dst: 0,
                    tile: key(a, 1, 0),
                    transpose: false,
                },
                Instr::Load {
                    dst: 1,
                    tile: key(l, 0, 0),
                    transpose: false,
                },
                Instr::Apply {
                    dst: 2,
                    kernel: Kernel::Trsm,
                    args: vec![0, 1],
                },
                Instr::Write {
                    tile: key(l, 1, 0),
                    src: 2,
                },
            ],
            3,
            vec![2],
            1,
        ),
        job(
            "syrk_1_1",
            vec![
                Instr::Load {
                    dst: 0,
                    tile: key(a, 1, 1),
                    transpose: false,
                },
                Instr::Load {
                    dst: 1,
                    tile: key(l, 1, 0),
                    transpose: false,
                },
                // The same tile loaded twice counts as one reader.
                Instr::Load {
                    dst: 2,
                    tile: key(l, 1, 0),
                    transpose: false,
                },
                Instr::Apply {
                    dst: 3,
                    kernel: Kernel::Syrk,
                    args: vec![0, 1, 2],
                },
                Instr::Write {
                    tile: key(s, 1, 1),
                    src: 3,
                },
            ],
            4,
            vec![3],
            1,
        ),
        job(
            "chol_1",
            vec![
                Instr::Load {
                    dst: 0,
                    tile: key(s, 1, 1),
                    transpose: false,
                },
                Instr::Apply {
                    dst: 1,
                    kernel: Kernel::Chol,
                    args: vec![0],
                },
                Instr::Write {
                    tile: key(l, 1, 1),
                    src: 1,
                },
            ],
            2,
            vec![],
            1,
        ),
    ];
    Bundle { matrices, jobs }
}

#[test]
fn round_trip_is_exact_and_content_addressed() {
    let bundle = cholesky_2x2();
    let bytes = bundle.encode();
    assert!(Bundle::is_bundle(&bytes));
    assert_eq!(&bytes[..8], b"LPBUNDLE");
    assert_eq!(
        u32::from_le_bytes(bytes[8..12].try_into().unwrap()),
        FORMAT_VERSION
    );
    let back = Bundle::decode(&bytes).unwrap();
    assert_eq!(back, bundle);
    // The key is the hash recorded in the file, in hex, and stable.
    let recorded: String = bytes[20..52].iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(bundle.content_key(), recorded);
    assert_eq!(bundle.content_key().len(), 64);
    assert_eq!(back.encode(), bytes);
    let mut other = bundle.clone();
    other.jobs[0].name = "chol_zero".into();
    assert_ne!(other.content_key(), bundle.content_key());
}

#[test]
fn another_version_is_refused_naming_both_versions() {
    let mut bytes = cholesky_2x2().encode();
    bytes[8..12].copy_from_slice(&7u32.to_le_bytes());
    let err = Bundle::decode(&bytes).unwrap_err();
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
    let bytes = cholesky_2x2().encode();
    for pos in 52..bytes.len() {
        let mut bad = bytes.clone();
        bad[pos] ^= 0x40;
        match Bundle::decode(&bad) {
            Err(BundleError::HashMismatch { recorded, computed }) => {
                assert_eq!(recorded, cholesky_2x2().content_key());
                assert_ne!(recorded, computed);
            }
            other => panic!("byte {pos} flipped: expected a hash mismatch, got {other:?}"),
        }
    }
    let mut bad = bytes.clone();
    bad[30] ^= 1; // inside the recorded hash
    let msg = Bundle::decode(&bad).unwrap_err().to_string();
    assert!(
        msg.starts_with("corrupted bundle: payload hash is "),
        "{msg}"
    );
}

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    let bytes = cholesky_2x2().encode();
    for len in 1..bytes.len() {
        let err = Bundle::decode(&bytes[..len]).unwrap_err();
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
        Bundle::decode(&bytes[..100]).unwrap_err().to_string(),
        format!(
            "truncated bundle: expected {} bytes, found 100",
            bytes.len()
        )
    );
    assert_eq!(Bundle::decode(&[]).unwrap_err(), BundleError::NotABundle);
}

#[test]
fn trailing_bytes_and_foreign_files_are_refused() {
    let mut bytes = cholesky_2x2().encode();
    let n = bytes.len() as u64;
    bytes.push(0);
    assert_eq!(
        Bundle::decode(&bytes).unwrap_err(),
        BundleError::TrailingBytes {
            expected: n,
            found: n + 1
        }
    );
    let err = Bundle::decode(b"matrix A : f64[8, 8] tile [4, 4] input\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "not a lambdapack bundle (missing the LPBUNDLE magic bytes)"
    );
    assert!(!Bundle::is_bundle(b"; a .lp file"));
}

/// Checks that `mutate`d bundles fail validation with exactly `message`, both
/// directly and when decoded from a well-hashed file.
fn assert_invalid(mutate: impl FnOnce(&mut Bundle), message: &str) {
    let mut bundle = cholesky_2x2();
    mutate(&mut bundle);
    assert_eq!(
        bundle.validate(),
        Err(BundleError::Invalid(message.to_string()))
    );
    assert_eq!(
        Bundle::decode(&bundle.encode()).unwrap_err().to_string(),
        format!("invalid bundle: {message}")
    );
}

#[test]
fn structural_damage_is_named() {
    assert_eq!(cholesky_2x2().validate(), Ok(()));
    assert_invalid(
        |b| {
            b.jobs[1].instrs[0] = Instr::Load {
                dst: 0,
                tile: key(9, 1, 0),
                transpose: false,
            }
        },
        "job 1 (trsm_1_0), instruction 0: matrix index 9 out of range (3 matrices)",
    );
    assert_invalid(
        |b| {
            b.jobs[1].instrs[0] = Instr::Load {
                dst: 0,
                tile: key(0, 2, 0),
                transpose: false,
            }
        },
        "job 1 (trsm_1_0), instruction 0: tile A[2, 0] outside its 2 x 2 tile grid",
    );
    assert_invalid(
        |b| {
            b.jobs[1].instrs[0] = Instr::Load {
                dst: 0,
                tile: key(0, 0, 1),
                transpose: false,
            }
        },
        "job 1 (trsm_1_0), instruction 0: upper tile A[0, 1] of a symmetric matrix is not stored",
    );
    assert_invalid(
        |b| {
            b.jobs[0].instrs[2] = Instr::Write {
                tile: key(0, 0, 0),
                src: 1,
            }
        },
        "job 0 (chol_0), instruction 2: write to input matrix A",
    );
    assert_invalid(
        |b| {
            b.jobs[0].instrs[1] = Instr::Apply {
                dst: 1,
                kernel: Kernel::Chol,
                args: vec![1],
            }
        },
        "job 0 (chol_0), instruction 1: register %1 read before it is written",
    );
    assert_invalid(
        |b| {
            b.jobs[0].instrs[0] = Instr::Load {
                dst: 5,
                tile: key(0, 0, 0),
                transpose: false,
            }
        },
        "job 0 (chol_0), instruction 0: register %5 out of range (2 registers)",
    );
    assert_invalid(
        |b| {
            b.jobs[0].instrs[1] = Instr::Apply {
                dst: 1,
                kernel: Kernel::Chol,
                args: vec![0, 0],
            }
        },
        "job 0 (chol_0), instruction 1: CHOL takes 1 to 1 operands, found 2",
    );
    assert_invalid(
        |b| b.jobs[0].children = vec![4],
        "job 0 (chol_0): child 4 out of range (4 jobs)",
    );
    assert_invalid(
        |b| b.jobs[0].children = vec![0],
        "job 0 (chol_0) lists itself as a child",
    );
    assert_invalid(
        |b| {
            b.jobs[0].children = vec![2, 1];
            b.jobs[2].in_degree = 2;
        },
        "job 0 (chol_0): children are not strictly ascending",
    );
    assert_invalid(
        |b| b.jobs[3].in_degree = 2,
        "job 3 (chol_1): in-degree 2 but 1 jobs list it as a child",
    );
    assert_invalid(
        |b| {
            b.jobs[3].children = vec![1];
            b.jobs[1].in_degree = 2;
        },
        "dependency cycle: job 1 (trsm_1_0) can never become ready",
    );
    assert_invalid(
        |b| b.matrices[2].name = "../S".into(),
        "matrix 2: invalid matrix name \"../S\": only ASCII letters, digits, '_', '-' and '.' are allowed",
    );
}

#[test]
fn reader_counts_count_distinct_jobs() {
    let bundle = cholesky_2x2();
    let expected: HashMap<TileKey, u32> = [
        (key(0, 0, 0), 1),
        (key(0, 1, 0), 1),
        (key(0, 1, 1), 1),
        (key(1, 0, 0), 1),
        (key(1, 1, 0), 1), // loaded twice by one job
        (key(2, 1, 1), 1),
    ]
    .into();
    assert_eq!(bundle.reader_counts(), expected);

    let (index, dense) = bundle.reader_counts_dense();
    assert_eq!(index.len(), 3 * 4);
    assert_eq!(dense.iter().sum::<u32>(), 6);
    for (tile, count) in &expected {
        assert_eq!(dense[index.index(*tile)], *count, "{tile:?}");
    }
    // Distinct tiles get distinct slots.
    let idx = TileIndex::new(&bundle);
    let mut slots: Vec<usize> = (0..3)
        .flat_map(|m| (0..2).flat_map(move |i| (0..2).map(move |j| key(m, i, j))))
        .map(|t| idx.index(t))
        .collect();
    slots.sort();
    assert_eq!(slots, (0..12).collect::<Vec<_>>());
}
