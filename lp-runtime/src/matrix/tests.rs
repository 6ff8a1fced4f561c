//! Chunked streaming of `.npy` files: the chunk plans stay within their
//! budget, and a band cut into chunks gives exactly the tiles and bytes of
//! the unchunked path; and the words of a symmetry refusal. (The numpy
//! round trips are in `tests/store_matrix.rs`.)

use super::*;
use crate::store::MemStore;
use lp_program::Role;
use std::sync::atomic::AtomicU64;

fn info(name: &str, shape: [usize; 2], tile: [usize; 2], symmetric: bool) -> MatrixInfo {
    MatrixInfo {
        name: name.into(),
        header: MatrixHeader::new(shape, tile, symmetric),
        role: Role::Input,
        init: None,
        versions: vec![],
        base: None,
    }
}

/// Element (r, c) of the test matrices: distinct, non-integer, exact in f64.
fn value(r: usize, c: usize) -> f64 {
    r as f64 * 1000.0 + c as f64 + 0.25
}

/// The bytes of a `.npy` file holding `at(r, c)` in either order.
fn npy_bytes(rows: usize, cols: usize, fortran: bool, at: impl Fn(usize, usize) -> f64) -> Vec<u8> {
    let mut bytes = npy::header_bytes(rows, cols);
    if !fortran {
        // Same dict in C order, padded to the same 64-byte alignment.
        let dict =
            format!("{{'descr': '<f8', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
        let total = (10 + dict.len() + 1).div_ceil(64) * 64;
        bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend_from_slice(&((total - 10) as u16).to_le_bytes());
        bytes.extend_from_slice(dict.as_bytes());
        bytes.resize(total - 1, b' ');
        bytes.push(b'\n');
    }
    let (header, _) = npy::parse_header(&bytes).unwrap();
    assert_eq!(header.fortran_order, fortran);
    let (outer, inner) = if fortran { (cols, rows) } else { (rows, cols) };
    for o in 0..outer {
        for i in 0..inner {
            let (r, c) = if fortran { (i, o) } else { (o, i) };
            bytes.extend_from_slice(&at(r, c).to_le_bytes());
        }
    }
    bytes
}

/// Every stored tile of `matrix`, sorted.
fn tiles(store: &MemStore, matrix: &str) -> Vec<((usize, usize), Tile)> {
    list(store, matrix)
        .unwrap()
        .into_iter()
        .map(|(i, j)| {
            (
                (i, j),
                (*store.get_tile(matrix, i, j).unwrap().unwrap()).clone(),
            )
        })
        .collect()
}

fn tile_bytes(shape: Shape) -> usize {
    shape.rows * shape.cols * F64
}

/// The bytes of `tiles` of band `bj` a chunk plan covers, and of its
/// largest tile.
fn column_chunk_bytes(header: &MatrixHeader, bj: usize, tiles: &Range<usize>) -> (usize, usize) {
    let sizes = tiles.clone().map(|bi| tile_bytes(header.tile(bi, bj)));
    (sizes.clone().sum(), sizes.max().unwrap())
}

fn row_chunk_bytes(header: &MatrixHeader, bi: usize, tiles: &Range<usize>) -> (usize, usize) {
    let sizes = tiles.clone().map(|bj| tile_bytes(header.tile(bi, bj)));
    (sizes.clone().sum(), sizes.max().unwrap())
}

/// Checks that `plan` covers `expected` in order with non-empty chunks,
/// each within `budget` unless it is one tile larger than the budget, and
/// is one chunk when the whole band fits.
fn check_plan(
    plan: Vec<Range<usize>>,
    expected: Range<usize>,
    budget: usize,
    bytes: impl Fn(&Range<usize>) -> (usize, usize),
    ctx: &str,
) {
    let mut next = expected.start;
    for tiles in &plan {
        assert!(
            tiles.start == next && tiles.end > tiles.start,
            "{ctx}: {plan:?}"
        );
        next = tiles.end;
        let (total, largest) = bytes(tiles);
        let one_large_tile = tiles.len() == 1 && largest > budget;
        assert!(
            total <= budget || one_large_tile,
            "{ctx}: {tiles:?} is {total} bytes"
        );
    }
    assert_eq!(next, expected.end, "{ctx}: {plan:?}");
    if bytes(&expected).0 <= budget {
        assert_eq!(plan, vec![expected], "{ctx}: a band that fits is one chunk");
    }
}

#[test]
fn chunk_plans_never_exceed_the_budget_unless_one_tile_does() {
    let shapes = [
        ([23, 17], [5, 4]),
        ([19, 19], [4, 4]),
        ([10, 7], [10, 7]),
        ([7, 9], [3, 10]),
    ];
    for (shape, tile) in shapes {
        for symmetric in [false, true] {
            if symmetric && (shape[0] != shape[1] || tile[0] != tile[1]) {
                continue;
            }
            let header = MatrixHeader::new(shape, tile, symmetric);
            let [grid_rows, grid_cols] = header.grid();
            for budget in [0, 1, 8, 100, 160, 161, 320, 500, 1000, 3000, usize::MAX] {
                for bj in 0..grid_cols {
                    let first = if symmetric { bj } else { 0 };
                    let ctx = format!("{shape:?} in {tile:?}, column band {bj}, budget {budget}");
                    let plan = column_chunks(&header, bj, first, budget).collect();
                    check_plan(
                        plan,
                        first..grid_rows,
                        budget,
                        |t| column_chunk_bytes(&header, bj, t),
                        &ctx,
                    );
                }
                for bi in 0..grid_rows {
                    let last = if symmetric { bi } else { grid_cols - 1 };
                    let ctx = format!("{shape:?} in {tile:?}, row band {bi}, budget {budget}");
                    let plan = row_chunks(&header, bi, last, budget).collect();
                    check_plan(
                        plan,
                        0..last + 1,
                        budget,
                        |t| row_chunk_bytes(&header, bi, t),
                        &ctx,
                    );
                }
            }
        }
    }
    // The benchmark's case: a 128 MiB band of 16 tiles in a quarter of it.
    let header = MatrixHeader::new([16384, 16384], [1024, 1024], false);
    assert_eq!(column_chunks(&header, 0, 0, 32 << 20).count(), 4);
    assert_eq!(column_chunks(&header, 0, 0, CHUNK_BUDGET).count(), 1);
}

/// Budgets that cut the test matrices' bands into one tile per chunk, a
/// few tiles per chunk, and not at all.
const BUDGETS: [usize; 3] = [1, 400, usize::MAX];

#[test]
fn chunked_import_and_export_equal_the_unchunked_path() {
    let tmp = tempfile::tempdir().unwrap();
    // "L"'s first tile (520 x 512, 2 MiB) is transposed out of a C-order
    // file with streaming stores (`lp_std::kernel::transpose_into`).
    let cases = [
        ("A", [23, 17], [5, 4], false),
        ("S", [19, 19], [4, 4], true),
        ("L", [600, 530], [520, 512], false),
    ];
    for (name, shape, tile, symmetric) in cases {
        let m = info(name, shape, tile, symmetric);
        let [rows, cols] = shape;
        let full = |r: usize, c: usize| match symmetric {
            true => value(r.max(c), r.min(c)),
            false => value(r, c),
        };
        // A symmetric input's strictly upper tiles are never read: NaN there
        // would fail the import or the comparison below.
        let in_file = |r: usize, c: usize| match symmetric && c / tile[1] > r / tile[0] {
            true => f64::NAN,
            false => full(r, c),
        };
        let expected_export = npy_bytes(rows, cols, true, full);
        let reference = MemStore::new();
        for fortran in [true, false] {
            let path = tmp.path().join(format!("{name}-{fortran}.npy"));
            std::fs::write(&path, npy_bytes(rows, cols, fortran, in_file)).unwrap();
            import_npy_within(&reference, &m, &path, 1, usize::MAX, Transfer::unwatched()).unwrap();
            let unchunked = tiles(&reference, name);
            for &(ij, ref t) in &unchunked {
                let origin = (ij.0 * tile[0], ij.1 * tile[1]);
                let want = Tile::from_fn(t.nrows(), t.ncols(), |r, c| {
                    full(origin.0 + r, origin.1 + c)
                });
                assert_eq!(*t, want, "{name} tile {ij:?}");
            }
            for budget in BUDGETS {
                for workers in [1, 3] {
                    let store = MemStore::new();
                    let read = AtomicU64::new(0);
                    let transfer = Transfer {
                        stop: &AtomicBool::new(false),
                        progress: &|bytes| {
                            read.fetch_add(bytes, Ordering::SeqCst);
                        },
                    };
                    import_npy_within(&store, &m, &path, workers, budget, transfer).unwrap();
                    let ctx =
                        format!("{name}, fortran {fortran}, budget {budget}, {workers} workers");
                    assert!(tiles(&store, name) == unchunked, "{ctx}");
                    assert_eq!(read.into_inner(), import_bytes(&m.header), "{ctx}");
                }
            }
        }
        for budget in BUDGETS {
            let out = tmp.path().join(format!("{name}-out-{budget}.npy"));
            let written_bytes = AtomicU64::new(0);
            let transfer = Transfer {
                stop: &AtomicBool::new(false),
                progress: &|bytes| {
                    written_bytes.fetch_add(bytes, Ordering::SeqCst);
                },
            };
            export_npy_within(&reference, &m, &out, transfer, budget)
                .and_then(Staged::commit)
                .unwrap();
            assert_eq!(written_bytes.into_inner(), (rows * cols * 8) as u64);
            let written = std::fs::read(&out).unwrap();
            assert!(
                written == expected_export,
                "{name} exported with budget {budget}"
            );
        }
    }
}

#[test]
fn chunked_import_checks_every_diagonal_tile_and_names_the_element() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("nearly_sym.npy");
    let m = info("S", [19, 19], [4, 4], true);
    // Element (14, 13) lies in diagonal tile 3, read in its own chunk.
    let at = |r: usize, c: usize| {
        value(r.max(c), r.min(c)) + if (r, c) == (14, 13) { 1e-3 } else { 0.0 }
    };
    std::fs::write(&path, npy_bytes(19, 19, true, at)).unwrap();
    for workers in [1, 2] {
        let err = import_npy_within(
            &MemStore::new(),
            &m,
            &path,
            workers,
            1,
            Transfer::unwatched(),
        )
        .unwrap_err();
        match err {
            MatrixError::NotSymmetric { row, col, .. } => assert_eq!((row, col), (14, 13)),
            other => panic!("{other:?}"),
        }
    }
}

/// A store that sets `stop` when tile `at` is read: Ctrl-C in the middle
/// of an export.
struct StopAt<'a> {
    store: &'a MemStore,
    at: (usize, usize),
    stop: &'a AtomicBool,
}

impl Store for StopAt<'_> {
    fn get_tile(
        &self,
        matrix: &str,
        i: usize,
        j: usize,
    ) -> crate::store::StoreResult<Option<Arc<Tile>>> {
        if (i, j) == self.at {
            self.stop.store(true, Ordering::SeqCst);
        }
        self.store.get_tile(matrix, i, j)
    }
    fn put_tile(
        &self,
        matrix: &str,
        i: usize,
        j: usize,
        tile: Arc<Tile>,
    ) -> crate::store::StoreResult<()> {
        self.store.put_tile(matrix, i, j, tile)
    }
    fn delete_tile(&self, matrix: &str, i: usize, j: usize) -> crate::store::StoreResult<()> {
        self.store.delete_tile(matrix, i, j)
    }
    fn list_tiles(&self, matrix: &str) -> crate::store::StoreResult<Vec<(usize, usize)>> {
        self.store.list_tiles(matrix)
    }
    fn get_header(&self, matrix: &str) -> crate::store::StoreResult<Option<MatrixHeader>> {
        self.store.get_header(matrix)
    }
    fn put_header(&self, matrix: &str, header: &MatrixHeader) -> crate::store::StoreResult<()> {
        self.store.put_header(matrix, header)
    }
}

#[test]
fn a_chunked_export_stopped_within_its_last_band_leaves_no_file() {
    let tmp = tempfile::tempdir().unwrap();
    let store = MemStore::new();
    let m = info("A", [23, 17], [5, 4], false);
    let path = tmp.path().join("a.npy");
    std::fs::write(&path, npy_bytes(23, 17, true, value)).unwrap();
    import_npy_within(&store, &m, &path, 1, 1, Transfer::unwatched()).unwrap();
    let out = tmp.path().join("out.npy");
    std::fs::write(&out, b"previous contents").unwrap();
    // Tile (2, 4) is the third of five chunks of the last band.
    let stop = AtomicBool::new(false);
    let stopping = StopAt {
        store: &store,
        at: (2, 4),
        stop: &stop,
    };
    let err = export_npy_within(
        &stopping,
        &m,
        &out,
        Transfer {
            stop: &stop,
            progress: &|_| {},
        },
        1,
    )
    .unwrap_err();
    assert!(matches!(err, MatrixError::Interrupted { .. }), "{err:?}");
    assert_eq!(std::fs::read(&out).unwrap(), b"previous contents");
    let mut names: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, ["a.npy", "out.npy"].map(std::ffi::OsString::from));
}

#[test]
fn a_non_finite_entry_is_named_as_the_cause_of_an_asymmetry() {
    assert_eq!(
        symmetry_refusal("a.npy", "A", (3, 1, 2.5, -1.0)),
        "a.npy is not symmetric but matrix A is declared sym: \
         element (3, 1) is 2.5e0, element (1, 3) is -1e0"
    );
    assert_eq!(
        symmetry_refusal("a.npy", "A", (3, 1, f64::NAN, f64::NAN)),
        "a.npy holds inf or NaN, whose symmetry cannot be checked, but matrix A is declared sym: \
         element (3, 1) is NaN"
    );
    let mut tile = Tile::identity(4, 4);
    tile[(0, 2)] = f64::NAN;
    tile[(2, 0)] = f64::NAN;
    assert_eq!(asymmetry(&tile).map(|(r, c, ..)| (r, c)), Some((2, 0)));
    // Checked before any pair: an infinity on the diagonal would make the
    // tolerance infinite and pass the asymmetric pair below it.
    let mut tile = Tile::identity(4, 4);
    tile[(3, 3)] = f64::INFINITY;
    tile[(1, 0)] = 5.0;
    let found = asymmetry(&tile).map(|(r, c, v, _)| (r, c, v));
    assert_eq!(found, Some((3, 3, f64::INFINITY)));
}

#[test]
fn an_import_stops_between_chunks_when_asked() {
    let tmp = tempfile::tempdir().unwrap();
    let m = info("A", [23, 17], [5, 4], false);
    let path = tmp.path().join("a.npy");
    std::fs::write(&path, npy_bytes(23, 17, true, value)).unwrap();
    let store = MemStore::new();
    let stop = AtomicBool::new(false);
    let chunks = AtomicU64::new(0);
    // Stopped after the first chunk (one tile of 5 x 4).
    let transfer = Transfer {
        stop: &stop,
        progress: &|_| {
            chunks.fetch_add(1, Ordering::SeqCst);
            stop.store(true, Ordering::SeqCst);
        },
    };
    let err = import_npy_within(&store, &m, &path, 1, 1, transfer).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("interrupted; {} not imported", path.display())
    );
    assert_eq!(chunks.into_inner(), 1);
    assert_eq!(store.list_tiles("A").unwrap(), [(0, 0)]);
}

#[test]
fn a_npy_file_with_a_huge_header_length_is_refused_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("a.npy");
    // Version 2.0, a header length field of 0xfffffff0, 128 bytes in all.
    let mut file = b"\x93NUMPY\x02\x00".to_vec();
    file.extend_from_slice(&0xffff_fff0u32.to_le_bytes());
    file.resize(128, b' ');
    std::fs::write(&path, &file).unwrap();
    let store = MemStore::new();
    let e = import_npy(&store, &info("A", [4, 4], [2, 2], false), &path).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}: .npy header length 4294967280 is over the limit of 1048576 bytes \
             (a 2-D float64 header takes about 128): a damaged file, or not a matrix of floats",
            path.display()
        )
    );
    assert!(store.get_header("A").unwrap().is_none());
}
