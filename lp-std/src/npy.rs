//! Tiles as NumPy `.npy` files: little-endian f64, two dimensions.
//!
//! Writing always produces version 1.0 with `fortran_order: True`, because a
//! [`Tile`] is column-major: the payload is then the columns' raw bytes, with
//! no transpose, and `numpy.load` reads it as is. Reading accepts versions
//! 1.0, 2.0 and 3.0 (numpy picks 2.0 only for huge headers) in either order;
//! C order costs a transpose. Only `'<f8'` is accepted: any other dtype is an
//! error naming it, not a silent conversion.
//!
//! The fast path parses the small header and copies the payload straight
//! into the tile's column storage. The header helpers ([`header_bytes`],
//! [`parse_header`], [`read_header`]) exist so that a caller can stream one
//! whole-matrix `.npy` larger than RAM (`lp_runtime::matrix`): write or read
//! the header, then byte ranges of rows or columns.
//!
//! Format reference: numpy's `numpy/lib/format.py`. The header is a Python
//! dict literal, padded with spaces and a final newline so that the payload
//! starts at a multiple of 64 bytes.

use crate::Tile;
use std::io::{Read, Write};

const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// numpy aligns the payload to this many bytes.
const ALIGN: usize = 64;
const F64: usize = std::mem::size_of::<f64>();
/// The longest header dict this module reads. The length field is the
/// file's word (up to 4 GiB in versions 2.0 and 3.0), so it is bounded
/// before anything is read by it: a 2-D float64 header is under 128 bytes
/// (numpy pads it to 64-byte alignment, plus room to grow the shape in
/// place), and numpy itself refuses headers over 10000 bytes unless told
/// otherwise (`max_header_size`). 1 MiB is a hundred times numpy's bound,
/// and costs nothing to hold.
pub const MAX_HEADER_LEN: usize = 1 << 20;
/// The largest payload [`read_tile`] allocates a tile for before reading
/// it. A reader has no length to check a header's shape against, so a
/// damaged header could make it allocate (and zero) whatever the shape
/// says; a larger payload is read first, through `take`, so that memory
/// grows only with bytes that exist, then copied. 64 MiB (a 2896 x 2896
/// tile) keeps the one-copy path for common tile sizes while bounding
/// what a few bytes claiming a huge shape can cost.
const PREALLOC_LIMIT: u64 = 64 << 20;

/// What a `.npy` header says about a two-dimensional f64 array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NpyHeader {
    /// `[rows, cols]`.
    pub shape: [usize; 2],
    /// Column-major payload (true) or row-major (false).
    pub fortran_order: bool,
}

impl NpyHeader {
    /// Payload size in bytes.
    /// Saturates instead of overflowing for absurd shapes, so that such a
    /// header fails the payload length check rather than wrapping around.
    pub fn payload_len(&self) -> u64 {
        (self.shape[0] as u64)
            .saturating_mul(self.shape[1] as u64)
            .saturating_mul(F64 as u64)
    }
}

/// Why bytes are not a `.npy` tile this module can read.
#[derive(Debug)]
pub enum NpyError {
    /// The file does not start with `\x93NUMPY`.
    BadMagic,
    UnsupportedVersion {
        major: u8,
        minor: u8,
    },
    /// The header dict cannot be parsed, or lacks a key.
    BadHeader(String),
    /// A dtype other than little-endian f64.
    UnsupportedDtype(String),
    /// An array that is not two-dimensional.
    NotTwoDimensional(Vec<usize>),
    /// A header length field over [`MAX_HEADER_LEN`]: a damaged file, or
    /// not one this module writes or numpy reads by default.
    HeaderTooLong {
        len: usize,
    },
    /// The input ends inside the header.
    TruncatedHeader {
        needed: usize,
        found: usize,
    },
    /// The payload length does not match the header's shape.
    PayloadSize {
        shape: [usize; 2],
        expected: u64,
        found: u64,
    },
    /// The header's shape cannot be allocated.
    TooLarge {
        shape: [usize; 2],
    },
    Io(std::io::Error),
}

impl std::fmt::Display for NpyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NpyError::BadMagic => write!(f, "not a .npy file (wrong magic bytes)"),
            NpyError::UnsupportedVersion { major, minor } => {
                write!(
                    f,
                    "unsupported .npy format version {major}.{minor} (1.0 to 3.0 are read)"
                )
            }
            NpyError::BadHeader(why) => write!(f, "malformed .npy header: {why}"),
            NpyError::UnsupportedDtype(d) => write!(
                f,
                "unsupported .npy dtype '{d}': only little-endian float64 ('<f8') is supported"
            ),
            NpyError::NotTwoDimensional(shape) => {
                write!(
                    f,
                    "expected a 2-D array, found shape {}",
                    python_shape(shape)
                )
            }
            NpyError::HeaderTooLong { len } => write!(
                f,
                ".npy header length {len} is over the limit of {MAX_HEADER_LEN} bytes \
                 (a 2-D float64 header takes about 128): a damaged file, or not a matrix of floats"
            ),
            NpyError::TruncatedHeader { needed, found } => write!(
                f,
                "truncated .npy header: needs {needed} bytes, found {found}"
            ),
            NpyError::PayloadSize {
                shape,
                expected,
                found,
            } => write!(
                f,
                "truncated or oversized .npy payload: shape ({}, {}) needs {expected} bytes, found {found}",
                shape[0], shape[1]
            ),
            NpyError::TooLarge { shape } => write!(
                f,
                ".npy shape ({}, {}) is too large to allocate",
                shape[0], shape[1]
            ),
            NpyError::Io(e) => write!(f, "reading .npy: {e}"),
        }
    }
}

impl std::error::Error for NpyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            NpyError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for NpyError {
    fn from(e: std::io::Error) -> NpyError {
        NpyError::Io(e)
    }
}

fn python_shape(shape: &[usize]) -> String {
    match shape {
        [one] => format!("({one},)"),
        _ => {
            let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
            format!("({})", dims.join(", "))
        }
    }
}

/// A version 1.0 header for a Fortran-order `rows x cols` f64 array,
/// padded so that the payload starts at a multiple of 64 bytes.
pub fn header_bytes(rows: usize, cols: usize) -> Vec<u8> {
    let dict = format!("{{'descr': '<f8', 'fortran_order': True, 'shape': ({rows}, {cols}), }}");
    // magic (6) + version (2) + length (2) + dict + padding + '\n'
    let unpadded = MAGIC.len() + 2 + 2 + dict.len() + 1;
    let total = unpadded.div_ceil(ALIGN) * ALIGN;
    let header_len = total - MAGIC.len() - 4;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    // A 2-D shape's dict is far below 64 KiB, the version 1.0 limit.
    out.extend_from_slice(&(header_len as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out.resize(total - 1, b' ');
    out.push(b'\n');
    out
}

/// How many bytes the fixed preamble takes and how long the dict is.
fn preamble(bytes: &[u8]) -> Result<(usize, usize), NpyError> {
    let have = bytes.len();
    if have < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        // A prefix of the magic is a truncated file, not a wrong one.
        if have < MAGIC.len() && MAGIC.starts_with(bytes) {
            return Err(NpyError::TruncatedHeader {
                needed: 10,
                found: have,
            });
        }
        return Err(NpyError::BadMagic);
    }
    if have < 8 {
        return Err(NpyError::TruncatedHeader {
            needed: 10,
            found: have,
        });
    }
    let (major, minor) = (bytes[6], bytes[7]);
    let len_bytes = match (major, minor) {
        (1, 0) => 2,
        (2, 0) | (3, 0) => 4,
        _ => return Err(NpyError::UnsupportedVersion { major, minor }),
    };
    let start = 8 + len_bytes;
    if have < start {
        return Err(NpyError::TruncatedHeader {
            needed: start,
            found: have,
        });
    }
    let mut len = [0u8; 4];
    len[..len_bytes].copy_from_slice(&bytes[8..start]);
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_HEADER_LEN {
        return Err(NpyError::HeaderTooLong { len });
    }
    Ok((start, len))
}

/// Parses the header at the start of `bytes`; returns it and the offset of
/// the payload. `bytes` may be just a prefix of the file.
pub fn parse_header(bytes: &[u8]) -> Result<(NpyHeader, usize), NpyError> {
    let (start, dict_len) = preamble(bytes)?;
    let end = start + dict_len;
    if bytes.len() < end {
        return Err(NpyError::TruncatedHeader {
            needed: end,
            found: bytes.len(),
        });
    }
    let dict = std::str::from_utf8(&bytes[start..end])
        .map_err(|_| NpyError::BadHeader("the header is not text".to_string()))?;
    Ok((parse_dict(dict)?, end))
}

/// Reads exactly the header from `r`, leaving it at the payload; returns the
/// header and the payload's offset in the file.
pub fn read_header<R: Read>(r: &mut R) -> Result<(NpyHeader, usize), NpyError> {
    let mut fixed = [0u8; 12];
    let mut have = 0;
    // Read the 10-byte version 1.0 preamble, then 2 more bytes if the
    // version says the length field is 4 bytes long.
    let mut want = 10;
    while have < want {
        let n = match r.read(&mut fixed[have..want]) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            read => read?,
        };
        if n == 0 {
            preamble(&fixed[..have])?;
            return Err(NpyError::TruncatedHeader {
                needed: want,
                found: have,
            });
        }
        have += n;
        if have >= 8 && matches!((fixed[6], fixed[7]), (2, 0) | (3, 0)) {
            want = 12;
        }
    }
    let (start, dict_len) = preamble(&fixed[..have])?;
    let mut all = fixed[..start].to_vec();
    // Through `take`, not a buffer of the length field's size: memory grows
    // only with the bytes the input really holds.
    Read::take(&mut *r, dict_len as u64).read_to_end(&mut all)?;
    if all.len() < start + dict_len {
        // A short header is truncation, not I/O.
        return Err(NpyError::TruncatedHeader {
            needed: start + dict_len,
            found: all.len(),
        });
    }
    parse_header(&all)
}

/// Parses numpy's header dict: `{'descr': '<f8', 'fortran_order': False,
/// 'shape': (3, 4), }` with keys in any order.
fn parse_dict(text: &str) -> Result<NpyHeader, NpyError> {
    let bad = |why: &str| NpyError::BadHeader(format!("{why} in {:?}", text.trim_end()));
    let body = text
        .trim()
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .ok_or_else(|| bad("expected a {...} dict"))?;
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    let mut rest = body.trim_start();
    while !rest.is_empty() {
        let (key, after) = quoted(rest).ok_or_else(|| bad("expected a quoted key"))?;
        let after = after
            .trim_start()
            .strip_prefix(':')
            .ok_or_else(|| bad("expected ':' after a key"))?
            .trim_start();
        let after = match key {
            "descr" => {
                let (d, after) = quoted(after).ok_or_else(|| bad("'descr' is not a string"))?;
                descr = Some(d.to_string());
                after
            }
            "fortran_order" => {
                if let Some(a) = after.strip_prefix("True") {
                    fortran = Some(true);
                    a
                } else if let Some(a) = after.strip_prefix("False") {
                    fortran = Some(false);
                    a
                } else {
                    return Err(bad("'fortran_order' is not True or False"));
                }
            }
            "shape" => {
                let inner = after
                    .strip_prefix('(')
                    .ok_or_else(|| bad("'shape' is not a tuple"))?;
                let close = inner
                    .find(')')
                    .ok_or_else(|| bad("'shape' is not closed"))?;
                let dims = inner[..close]
                    .split(',')
                    .map(str::trim)
                    .filter(|d| !d.is_empty())
                    .map(|d| {
                        d.parse::<usize>()
                            .map_err(|_| bad("'shape' holds a non-integer"))
                    })
                    .collect::<Result<Vec<usize>, NpyError>>()?;
                shape = Some(dims);
                &inner[close + 1..]
            }
            other => return Err(bad(&format!("unknown key '{other}'"))),
        };
        let after = after.trim_start();
        rest = match after.strip_prefix(',') {
            Some(a) => a.trim_start(),
            None if after.is_empty() => after,
            None => return Err(bad("expected ',' between entries")),
        };
    }
    let descr = descr.ok_or_else(|| bad("missing 'descr'"))?;
    let fortran_order = fortran.ok_or_else(|| bad("missing 'fortran_order'"))?;
    let shape = shape.ok_or_else(|| bad("missing 'shape'"))?;
    // numpy writes '<f8'; '=f8' is native order, little-endian on every
    // machine we run on; anything else is refused.
    if descr != "<f8" && !(descr == "=f8" && cfg!(target_endian = "little")) {
        return Err(NpyError::UnsupportedDtype(descr));
    }
    match shape[..] {
        [rows, cols] => Ok(NpyHeader {
            shape: [rows, cols],
            fortran_order,
        }),
        _ => Err(NpyError::NotTwoDimensional(shape)),
    }
}

/// Splits `'text'rest` (or with double quotes) into `text` and `rest`.
fn quoted(s: &str) -> Option<(&str, &str)> {
    let quote = s.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let inner = &s[1..];
    let end = inner.find(quote)?;
    Some((&inner[..end], &inner[end + 1..]))
}

/// A column's values as their little-endian bytes.
fn column_bytes(col: &[f64]) -> &[u8] {
    #[cfg(target_endian = "little")]
    {
        // SAFETY: f64 has no padding and u8 has alignment 1; the byte view
        // covers exactly the slice's memory and borrows it.
        unsafe { std::slice::from_raw_parts(col.as_ptr().cast::<u8>(), std::mem::size_of_val(col)) }
    }
    #[cfg(not(target_endian = "little"))]
    compile_error!("lp-std's .npy fast path assumes a little-endian target");
}

/// Values' storage as writable bytes, to read a payload straight into it
/// (a column of a tile, or an importer's buffer).
pub fn values_bytes_mut(values: &mut [f64]) -> &mut [u8] {
    // SAFETY: as in `column_bytes`; every bit pattern is a valid f64, so any
    // bytes written through the view leave valid values.
    unsafe {
        std::slice::from_raw_parts_mut(
            values.as_mut_ptr().cast::<u8>(),
            std::mem::size_of_val(values),
        )
    }
}

/// The whole `.npy` file for `tile` (Fortran order).
pub fn encode_tile(tile: &Tile) -> Vec<u8> {
    let (rows, cols) = (tile.nrows(), tile.ncols());
    let mut out = header_bytes(rows, cols);
    out.reserve_exact(rows * cols * F64);
    for j in 0..cols {
        out.extend_from_slice(column_bytes(tile.col_as_slice(j)));
    }
    out
}

/// Writes `tile` as a `.npy` file (Fortran order) to `w`.
pub fn write_tile<W: Write>(w: &mut W, tile: &Tile) -> std::io::Result<()> {
    w.write_all(&header_bytes(tile.nrows(), tile.ncols()))?;
    for j in 0..tile.ncols() {
        w.write_all(column_bytes(tile.col_as_slice(j)))?;
    }
    Ok(())
}

/// Decodes a whole `.npy` file held in memory.
pub fn decode_tile(bytes: &[u8]) -> Result<Tile, NpyError> {
    let (header, offset) = parse_header(bytes)?;
    let payload = &bytes[offset..];
    check_payload(&header, payload.len() as u64)?;
    tile_from_payload(&header, payload)
}

/// A zero tile, or an error instead of an allocation failure abort, so that
/// a corrupted header with a huge shape is a clean error.
fn alloc_tile(shape: [usize; 2]) -> Result<Tile, NpyError> {
    let [rows, cols] = shape;
    let mut tile = Tile::new();
    tile.try_reserve(rows, cols)
        .map_err(|_| NpyError::TooLarge { shape })?;
    tile.resize_with(rows, cols, |_, _| 0.0);
    Ok(tile)
}

fn check_payload(header: &NpyHeader, found: u64) -> Result<(), NpyError> {
    let expected = header.payload_len();
    if found != expected {
        return Err(NpyError::PayloadSize {
            shape: header.shape,
            expected,
            found,
        });
    }
    Ok(())
}

/// Builds the tile from a payload of exactly the right length.
fn tile_from_payload(header: &NpyHeader, payload: &[u8]) -> Result<Tile, NpyError> {
    let [rows, cols] = header.shape;
    let mut tile = alloc_tile(header.shape)?;
    // Zeroing and then copying whole columns measured faster than filling
    // the tile element by element in one pass.
    if header.fortran_order {
        for j in 0..cols {
            let col = tile.col_as_slice_mut(j);
            let start = j * rows * F64;
            values_bytes_mut(col).copy_from_slice(&payload[start..start + rows * F64]);
        }
    } else {
        // Row-major: transpose in blocks of columns so that both the reads
        // (along a row) and the writes (down a few columns) stay in cache.
        const BLOCK: usize = 32;
        for c0 in (0..cols).step_by(BLOCK) {
            let c1 = (c0 + BLOCK).min(cols);
            for i in 0..rows {
                let row = &payload[(i * cols + c0) * F64..(i * cols + c1) * F64];
                for (k, value) in row.chunks_exact(F64).enumerate() {
                    tile[(i, c0 + k)] = f64::from_le_bytes(value.try_into().unwrap());
                }
            }
        }
    }
    Ok(tile)
}

/// Reads one `.npy` tile from `r`, which must end right after the payload.
/// Fortran order is read straight into the tile's columns, up to
/// `PREALLOC_LIMIT` (64 MiB) of payload.
pub fn read_tile<R: Read>(r: &mut R) -> Result<Tile, NpyError> {
    let (header, _) = read_header(r)?;
    let [_, cols] = header.shape;
    let expected = header.payload_len();
    let tile = if header.fortran_order && cols > 0 && expected <= PREALLOC_LIMIT {
        let mut tile = alloc_tile(header.shape)?;
        match storage_bytes_mut(&mut tile) {
            // One read straight into the tile: the fast path.
            Some(storage) => {
                let got = read_up_to(r, storage)?;
                check_payload(&header, got as u64)?;
                tile
            }
            // Padded columns (a ragged row count): one read, then a copy,
            // rather than one system call per column.
            None => read_payload_then_copy(r, &header)?,
        }
    } else {
        read_payload_then_copy(r, &header)?
    };
    // Bytes after the payload mean the header's shape is wrong.
    let mut probe = [0u8; 4096];
    let extra = read_up_to(r, &mut probe)?;
    if extra > 0 {
        let mut found = expected + extra as u64;
        loop {
            let n = read_up_to(r, &mut probe)?;
            if n == 0 {
                break;
            }
            found += n as u64;
        }
        return Err(NpyError::PayloadSize {
            shape: header.shape,
            expected,
            found,
        });
    }
    Ok(tile)
}

fn read_payload_then_copy<R: Read>(r: &mut R, header: &NpyHeader) -> Result<Tile, NpyError> {
    // Read through `take` so that a huge shape in a corrupted header
    // allocates only what the input really holds.
    let mut payload = Vec::new();
    Read::take(&mut *r, header.payload_len()).read_to_end(&mut payload)?;
    check_payload(header, payload.len() as u64)?;
    tile_from_payload(header, &payload)
}

/// The whole tile's storage as bytes, when its columns are adjacent (faer
/// pads each column to a SIMD multiple of rows, so not always).
fn storage_bytes_mut(tile: &mut Tile) -> Option<&mut [u8]> {
    let (rows, cols) = (tile.nrows(), tile.ncols());
    if cols > 1 && tile.col_stride() != rows as isize {
        return None;
    }
    let len = rows * cols * F64;
    // SAFETY: with a column stride equal to the row count, the tile's
    // rows * cols elements are one initialised, contiguous allocation that
    // `tile` lends mutably for the returned lifetime; every bit pattern is a
    // valid f64.
    Some(unsafe { std::slice::from_raw_parts_mut(tile.as_ptr_mut().cast::<u8>(), len) })
}

/// Fills `buf` as far as the input goes; returns how many bytes it read.
fn read_up_to<R: Read>(r: &mut R, buf: &mut [u8]) -> Result<usize, NpyError> {
    let mut have = 0;
    while have < buf.len() {
        match r.read(&mut buf[have..]) {
            Ok(0) => break,
            Ok(n) => have += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(have)
}
