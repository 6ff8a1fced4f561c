//! `.npy` tiles: round trips, both orders, every malformed input, and
//! numpy itself reading what we write and writing what we read.

use lp_std::npy::{self, NpyError, NpyHeader};
use lp_std::{Init, MatrixHeader, Tile};
use std::process::Command;

fn random(rows: usize, cols: usize, seed: u64) -> Tile {
    Init::Random { seed }.tile(&MatrixHeader::new([rows, cols], [rows, cols], false), 0, 0)
}

/// A hand-built file: header dict text (padded as numpy does) + payload.
fn npy_file(version: (u8, u8), dict: &str, payload: &[u8]) -> Vec<u8> {
    let len_bytes = if version.0 == 1 { 2 } else { 4 };
    let mut text = dict.to_string();
    while !(6 + 2 + len_bytes + text.len() + 1).is_multiple_of(64) {
        text.push(' ');
    }
    text.push('\n');
    let mut out = b"\x93NUMPY".to_vec();
    out.extend_from_slice(&[version.0, version.1]);
    if len_bytes == 2 {
        out.extend_from_slice(&(text.len() as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(text.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(payload);
    out
}

fn le_bytes(values: &[f64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

#[test]
fn header_is_numpy_v1_fortran_and_aligned() {
    let h = npy::header_bytes(3, 4);
    // numpy pads the header so that the payload is 64-byte aligned: this
    // dict needs two blocks, as numpy's own header for a (3, 4) array.
    assert_eq!(h.len(), 128);
    assert_eq!(&h[..8], b"\x93NUMPY\x01\x00");
    assert_eq!(u16::from_le_bytes([h[8], h[9]]) as usize, h.len() - 10);
    let text = std::str::from_utf8(&h[10..]).unwrap();
    assert_eq!(
        text.trim_end(),
        "{'descr': '<f8', 'fortran_order': True, 'shape': (3, 4), }"
    );
    assert!(text.ends_with('\n'));
    let (header, offset) = npy::parse_header(&h).unwrap();
    assert_eq!(
        header,
        NpyHeader {
            shape: [3, 4],
            fortran_order: true
        }
    );
    assert_eq!(offset, 128);
}

#[test]
fn round_trip_bytes_and_streams() {
    for (rows, cols) in [(1, 1), (7, 5), (64, 64), (100, 37), (0, 3), (3, 0)] {
        let tile = random(rows, cols, (rows * 1000 + cols) as u64);
        let bytes = npy::encode_tile(&tile);
        // The payload is the raw column-major data: no transpose.
        let (_, offset) = npy::parse_header(&bytes).unwrap();
        let mut want_payload = Vec::new();
        for j in 0..cols {
            for i in 0..rows {
                want_payload.extend_from_slice(&tile[(i, j)].to_le_bytes());
            }
        }
        assert_eq!(&bytes[offset..], &want_payload[..], "{rows}x{cols} payload");
        assert_eq!(
            npy::decode_tile(&bytes).unwrap(),
            tile,
            "{rows}x{cols} decode"
        );
        let mut written = Vec::new();
        npy::write_tile(&mut written, &tile).unwrap();
        assert_eq!(written, bytes, "{rows}x{cols} write_tile");
        assert_eq!(
            npy::read_tile(&mut &bytes[..]).unwrap(),
            tile,
            "{rows}x{cols} read_tile"
        );
    }
}

#[test]
fn reads_c_order_and_other_versions() {
    // numpy.save's default: C order. Rows of [[1, 2, 3], [4, 5, 6]].
    let payload = le_bytes(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let want = faer::mat![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]];
    for version in [(1, 0), (2, 0), (3, 0)] {
        let file = npy_file(
            version,
            "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }",
            &payload,
        );
        assert_eq!(
            npy::decode_tile(&file).unwrap(),
            want,
            "version {version:?}"
        );
        assert_eq!(
            npy::read_tile(&mut &file[..]).unwrap(),
            want,
            "version {version:?}"
        );
    }
    // Keys in another order, no trailing comma, a large C-order tile.
    let tile = random(70, 45, 3);
    let mut rows = Vec::new();
    for i in 0..70 {
        for j in 0..45 {
            rows.push(tile[(i, j)]);
        }
    }
    let file = npy_file(
        (1, 0),
        "{'shape': (70, 45), 'fortran_order': False, 'descr': '<f8'}",
        &le_bytes(&rows),
    );
    assert_eq!(npy::decode_tile(&file).unwrap(), tile);
}

#[test]
fn payload_length_is_the_elements_bytes() {
    let f = NpyHeader {
        shape: [3, 4],
        fortran_order: true,
    };
    assert_eq!(f.payload_len(), 96);
}

fn err(bytes: &[u8]) -> NpyError {
    let decoded = npy::decode_tile(bytes).unwrap_err();
    let read = npy::read_tile(&mut &bytes[..]).unwrap_err();
    // Both entry points must agree on the diagnosis.
    assert_eq!(decoded.to_string(), read.to_string());
    decoded
}

#[test]
fn malformed_inputs_give_the_right_error() {
    let good = npy::encode_tile(&random(4, 3, 1));

    let mut wrong_magic = good.clone();
    wrong_magic[1] = b'X';
    let e = err(&wrong_magic);
    assert!(matches!(e, NpyError::BadMagic));
    assert_eq!(e.to_string(), "not a .npy file (wrong magic bytes)");

    let mut version = good.clone();
    version[6] = 4;
    let e = err(&version);
    assert_eq!(
        e.to_string(),
        "unsupported .npy format version 4.0 (1.0 to 3.0 are read)"
    );

    let f4 = npy_file(
        (1, 0),
        "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }",
        &[0; 16],
    );
    let e = err(&f4);
    assert!(matches!(&e, NpyError::UnsupportedDtype(d) if d == "<f4"));
    assert_eq!(
        e.to_string(),
        "unsupported .npy dtype '<f4': only little-endian float64 ('<f8') is supported"
    );
    let big_endian = npy_file(
        (1, 0),
        "{'descr': '>f8', 'fortran_order': True, 'shape': (2, 2), }",
        &[0; 32],
    );
    assert!(matches!(err(&big_endian), NpyError::UnsupportedDtype(d) if d == ">f8"));

    let one_d = npy_file(
        (1, 0),
        "{'descr': '<f8', 'fortran_order': False, 'shape': (5,), }",
        &[0; 40],
    );
    assert_eq!(
        err(&one_d).to_string(),
        "expected a 2-D array, found shape (5,)"
    );

    let no_shape = npy_file((1, 0), "{'descr': '<f8', 'fortran_order': False, }", &[]);
    let e = err(&no_shape);
    assert!(matches!(e, NpyError::BadHeader(_)));
    assert_eq!(
        e.to_string(),
        "malformed .npy header: missing 'shape' in \"{'descr': '<f8', 'fortran_order': False, }\""
    );

    let garbage = npy_file(
        (1, 0),
        "{'descr': '<f8', 'fortran_order': maybe, 'shape': (1, 1), }",
        &[0; 8],
    );
    assert!(
        err(&garbage)
            .to_string()
            .starts_with("malformed .npy header: 'fortran_order' is not True or False")
    );

    // Truncated inside the preamble, inside the dict, inside the payload.
    let e = err(&good[..4]);
    assert_eq!(
        e.to_string(),
        "truncated .npy header: needs 10 bytes, found 4"
    );
    let e = err(&good[..40]);
    assert_eq!(
        e.to_string(),
        "truncated .npy header: needs 128 bytes, found 40"
    );
    let e = err(&good[..good.len() - 3]);
    assert!(
        matches!(
            e,
            NpyError::PayloadSize {
                shape: [4, 3],
                expected: 96,
                found: 93
            }
        ),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "truncated or oversized .npy payload: shape (4, 3) needs 96 bytes, found 93"
    );

    // Bytes after the payload: the header's shape is wrong.
    let mut long = good.clone();
    long.extend_from_slice(&[0; 8]);
    assert!(matches!(
        err(&long),
        NpyError::PayloadSize {
            expected: 96,
            found: 104,
            ..
        }
    ));

    // A header claiming an absurd shape is an error, not an allocation abort.
    let huge = npy_file(
        (1, 0),
        "{'descr': '<f8', 'fortran_order': False, 'shape': (4000000000, 4000000000), }",
        &[0; 8],
    );
    assert!(matches!(err(&huge), NpyError::PayloadSize { found: 8, .. }));
}

/// A reader that counts the bytes it hands out.
struct Counting<'a> {
    bytes: &'a [u8],
    read: usize,
}

impl std::io::Read for Counting<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.bytes.read(buf)?;
        self.read += n;
        Ok(n)
    }
}

#[test]
fn a_huge_header_length_is_refused_before_anything_is_read_by_it() {
    for version in [2u8, 3] {
        // 128 bytes whose length field claims a 4 GiB header.
        let mut file = b"\x93NUMPY".to_vec();
        file.extend_from_slice(&[version, 0]);
        file.extend_from_slice(&0xffff_fff0u32.to_le_bytes());
        file.extend_from_slice(b"{'descr': '<f8', ");
        file.resize(128, b' ');
        let message = ".npy header length 4294967280 is over the limit of 1048576 bytes \
                       (a 2-D float64 header takes about 128): a damaged file, or not a \
                       matrix of floats";
        let e = err(&file);
        assert!(
            matches!(e, NpyError::HeaderTooLong { len: 0xffff_fff0 }),
            "{e:?}"
        );
        assert_eq!(e.to_string(), message);
        let mut reader = Counting {
            bytes: &file,
            read: 0,
        };
        let e = npy::read_header(&mut reader).unwrap_err();
        assert_eq!(e.to_string(), message);
        // The preamble only: nothing was read (or allocated) by the length.
        assert_eq!(reader.read, 12, "version {version}");
    }
    // Under the limit but longer than the input: truncation, after reading
    // only what is there.
    let mut file = b"\x93NUMPY\x02\x00".to_vec();
    file.extend_from_slice(&(npy::MAX_HEADER_LEN as u32).to_le_bytes());
    file.resize(128, b' ');
    assert_eq!(
        npy::read_header(&mut &file[..]).unwrap_err().to_string(),
        "truncated .npy header: needs 1048588 bytes, found 128"
    );
    // A long but legal header (numpy pads to grow the shape in place) reads.
    let padded = format!(
        "{{'descr': '<f8', 'fortran_order': True, 'shape': (1, 1), }}{}",
        " ".repeat(5000)
    );
    let file = npy_file((2, 0), &padded, &le_bytes(&[2.5]));
    assert_eq!(npy::decode_tile(&file).unwrap()[(0, 0)], 2.5);
    assert_eq!(npy::read_tile(&mut &file[..]).unwrap()[(0, 0)], 2.5);
}

#[test]
fn a_huge_shape_with_few_bytes_allocates_nothing_by_the_shape() {
    // Fortran order is read straight into a tile of the header's shape;
    // an 80 GB shape over 8 bytes must fail on the payload, not allocate
    // (and zero) 80 GB first, or fail on an allocation it never needed.
    let huge = npy_file(
        (1, 0),
        "{'descr': '<f8', 'fortran_order': True, 'shape': (100000, 100000), }",
        &[0; 8],
    );
    let e = err(&huge);
    assert!(
        matches!(
            e,
            NpyError::PayloadSize {
                expected: 80_000_000_000,
                found: 8,
                ..
            }
        ),
        "{e:?}"
    );
}

/// Runs a Python snippet with numpy; fails the test (never skips it) when
/// numpy is missing.
fn python(script: &str, args: &[&std::path::Path]) -> String {
    let probe = Command::new("python3")
        .args(["-c", "import numpy"])
        .output();
    match probe {
        Ok(o) if o.status.success() => {}
        _ => panic!(
            "this test needs python3 with numpy: run `pip install numpy` \
             (scripts/test.sh installs it)"
        ),
    }
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn numpy_reads_our_tiles_and_we_read_numpys() {
    let dir = std::env::temp_dir().join(format!("lp-std-npy-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ours = dir.join("ours.npy");
    let tile = random(7, 5, 42);
    npy::write_tile(&mut std::fs::File::create(&ours).unwrap(), &tile).unwrap();
    // numpy prints every element with repr(), which round-trips f64 exactly.
    let printed = python(
        "import sys, numpy as np\n\
         a = np.load(sys.argv[1])\n\
         assert a.dtype == np.float64 and a.shape == (7, 5), (a.dtype, a.shape)\n\
         print('\\n'.join(repr(float(x)) for x in a.ravel(order='F')))",
        &[&ours],
    );
    let values: Vec<f64> = printed.lines().map(|l| l.parse().unwrap()).collect();
    let want: Vec<f64> = (0..5)
        .flat_map(|j| (0..7).map(move |i| (i, j)))
        .map(|(i, j)| tile[(i, j)])
        .collect();
    assert_eq!(values, want);

    // numpy writes C order (its default) and Fortran order; values chosen
    // so that they are exact in decimal: (i + 1) * 0.25 - j * 1.5.
    let c_file = dir.join("c.npy");
    let f_file = dir.join("f.npy");
    python(
        "import sys, numpy as np\n\
         a = np.fromfunction(lambda i, j: (i + 1) * 0.25 - j * 1.5, (6, 4))\n\
         np.save(sys.argv[1], a)\n\
         np.save(sys.argv[2], np.asfortranarray(a))",
        &[&c_file, &f_file],
    );
    let want = Tile::from_fn(6, 4, |i, j| (i as f64 + 1.0) * 0.25 - j as f64 * 1.5);
    for file in [&c_file, &f_file] {
        let bytes = std::fs::read(file).unwrap();
        assert_eq!(
            npy::decode_tile(&bytes).unwrap(),
            want,
            "{}",
            file.display()
        );
        let read = npy::read_tile(&mut std::fs::File::open(file).unwrap()).unwrap();
        assert_eq!(read, want, "{}", file.display());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
