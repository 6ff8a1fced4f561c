//! BigMatrix operations against numpy: `.npy` import/export on ragged
//! tilings, symmetric matrices, initialisers, and the errors a user sees.

use lp_program::{MatrixInfo, Role};
use lp_runtime::matrix::{self, MatrixError, TileAt};
use lp_runtime::store::{DirStore, MemStore, Store};
use lp_std::{Init, MatrixHeader, Tile};
use std::path::Path;
use std::process::Command;

/// Runs a python3 script with numpy; fails the test (never skips) if numpy
/// is missing.
fn python(script: &str) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(format!("import numpy as np\n{script}"))
        .output()
        .expect("python3 must be installed to run this test");
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("No module named 'numpy'") {
        panic!("numpy is required by this test: pip install numpy");
    }
    assert!(out.status.success(), "python failed:\n{stderr}");
    String::from_utf8(out.stdout).unwrap()
}

/// Element (r, c) of the test matrices: distinct, non-integer, exact in f64.
fn value(r: usize, c: usize) -> f64 {
    r as f64 * 1000.0 + c as f64 + 0.25
}

const PY_VALUE: &str = "def value(r, c): return r * 1000.0 + c + 0.25\n\
                        def full(n, m): return np.fromfunction(value, (n, m), dtype=np.float64)\n";

fn info(
    name: &str,
    shape: [usize; 2],
    tile: [usize; 2],
    symmetric: bool,
    init: Option<Init>,
) -> MatrixInfo {
    MatrixInfo {
        name: name.into(),
        header: MatrixHeader::new(shape, tile, symmetric),
        role: Role::Input,
        init,
        versions: vec![],
        base: None,
    }
}

fn stores(dir: &Path) -> Vec<(&'static str, Box<dyn Store>)> {
    vec![
        ("mem", Box::new(MemStore::new())),
        ("dir", Box::new(DirStore::open(dir.join("store")).unwrap())),
    ]
}

#[test]
fn import_export_round_trip_on_ragged_tilings() {
    let tmp = tempfile::tempdir().unwrap();
    let (c_path, f_path) = (tmp.path().join("c.npy"), tmp.path().join("f.npy"));
    python(&format!(
        "{PY_VALUE}a = full(10, 7)\nnp.save({c:?}, a)\nnp.save({f:?}, np.asfortranarray(a))\n\
         assert not np.load({c:?}).flags.f_contiguous and np.load({f:?}).flags.f_contiguous",
        c = c_path.to_str().unwrap(),
        f = f_path.to_str().unwrap()
    ));
    let mut outputs = Vec::new();
    for (kind, store) in stores(tmp.path()) {
        for tile in [[4, 3], [10, 7], [3, 10], [1, 1], [7, 2]] {
            for (order, input) in [("C", &c_path), ("F", &f_path)] {
                let ctx = format!("{kind} store, tile {tile:?}, {order} order");
                let m = info("A", [10, 7], tile, false, None);
                matrix::free_matrix(&*store, "A").unwrap();
                matrix::import_npy(&*store, &m, input).unwrap();
                assert_eq!(matrix::get_header(&*store, "A").unwrap(), m.header, "{ctx}");
                let [gr, gc] = m.header.grid();
                let expected: Vec<_> = (0..gr).flat_map(|i| (0..gc).map(move |j| (i, j))).collect();
                assert_eq!(matrix::list(&*store, "A").unwrap(), expected, "{ctx}");
                for &(i, j) in &expected {
                    let t = matrix::load_tile(&*store, &m, TileAt::new(i, j)).unwrap();
                    let s = m.header.tile(i, j);
                    assert_eq!((t.nrows(), t.ncols()), (s.rows, s.cols), "{ctx}");
                    for r in 0..s.rows {
                        for c in 0..s.cols {
                            assert_eq!(
                                t[(r, c)],
                                value(i * tile[0] + r, j * tile[1] + c),
                                "{ctx} ({i},{j})"
                            );
                        }
                    }
                }
                let out = tmp
                    .path()
                    .join(format!("out-{kind}-{}x{}-{order}.npy", tile[0], tile[1]));
                matrix::export_npy(&*store, &m, &out, matrix::Transfer::unwatched()).unwrap();
                outputs.push(out.to_str().unwrap().to_string());
            }
        }
    }
    // One python run checks every exported file: dtype, shape, exact values.
    let verdicts = python(&format!(
        "{PY_VALUE}for out in {outputs:?}:\n    b = np.load(out)\n    \
         ok = b.dtype == np.float64 and b.shape == (10, 7) and np.array_equal(b, full(10, 7))\n    \
         print(out, 'exact' if ok else 'differs')"
    ));
    let expected: String = outputs.iter().map(|o| format!("{o} exact\n")).collect();
    assert_eq!(verdicts, expected);
}

#[test]
fn symmetric_matrices_store_lower_tiles_and_export_full() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("sym.npy");
    python(&format!(
        "{PY_VALUE}a = full(9, 9)\na = np.tril(a) + np.tril(a, -1).T\nnp.save({p:?}, np.asfortranarray(a))\n\
         np.save({c:?}, a)",
        p = input.to_str().unwrap(),
        c = tmp.path().join("sym_c.npy").to_str().unwrap()
    ));
    let sym_value = |r: usize, c: usize| value(r.max(c), r.min(c));
    for (kind, store) in stores(tmp.path()) {
        for file in ["sym.npy", "sym_c.npy"] {
            let m = info("S", [9, 9], [4, 4], true, None);
            matrix::free_matrix(&*store, "S").unwrap();
            matrix::import_npy(&*store, &m, &tmp.path().join(file)).unwrap();
            assert_eq!(
                matrix::list(&*store, "S").unwrap(),
                vec![(0, 0), (1, 0), (1, 1), (2, 0), (2, 1), (2, 2)],
                "{kind} {file}: only lower tiles are stored"
            );
            // An upper tile is served as the transpose of its lower twin.
            let upper = matrix::load_tile(&*store, &m, TileAt::new(0, 2)).unwrap();
            assert_eq!((upper.nrows(), upper.ncols()), (4, 1));
            for r in 0..4 {
                assert_eq!(upper[(r, 0)], sym_value(r, 8));
            }
            let out = tmp.path().join(format!("sym-out-{kind}-{file}"));
            matrix::export_npy(&*store, &m, &out, matrix::Transfer::unwatched()).unwrap();
            let verdict = python(&format!(
                "b = np.load({o:?})\nprint('exact' if np.array_equal(b, np.load({i:?})) else 'differs')",
                o = out.to_str().unwrap(),
                i = input.to_str().unwrap()
            ));
            assert_eq!(verdict.trim(), "exact", "{kind} {file}");
        }
    }
}

#[test]
fn import_errors_name_the_file_and_the_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let p = |name: &str| tmp.path().join(name);
    python(&format!(
        "{PY_VALUE}np.save({a:?}, full(6, 5))\na = full(6, 6)\na = np.tril(a) + np.tril(a, -1).T\n\
         a[5, 4] += 1e-3\nnp.save({b:?}, a)\nnp.save({c:?}, np.zeros((6, 6), dtype=np.float32))",
        a = p("6x5.npy").to_str().unwrap(),
        b = p("nearly_sym.npy").to_str().unwrap(),
        c = p("f32.npy").to_str().unwrap()
    ));
    let store = MemStore::new();
    let err = matrix::import_npy(
        &store,
        &info("A", [6, 6], [4, 4], false, None),
        &p("6x5.npy"),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{} holds a 6 x 5 array but matrix A is 6 x 6",
            p("6x5.npy").display()
        )
    );
    let err = matrix::import_npy(
        &store,
        &info("S", [6, 6], [4, 4], true, None),
        &p("nearly_sym.npy"),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{} is not symmetric but matrix S is declared sym: element (5, 4) is 5.004251e3, \
             element (4, 5) is 5.00425e3",
            p("nearly_sym.npy").display()
        )
    );
    let err = matrix::import_npy(
        &store,
        &info("A", [6, 6], [4, 4], false, None),
        &p("f32.npy"),
    )
    .unwrap_err();
    assert!(matches!(err, MatrixError::Npy { .. }), "{err:?}");
    assert!(err.to_string().contains("'<f4'"), "{err}");
    // Truncated: the header promises more payload than the file holds.
    let bytes = std::fs::read(p("6x5.npy")).unwrap();
    std::fs::write(p("short.npy"), &bytes[..bytes.len() - 8]).unwrap();
    let err = matrix::import_npy(
        &store,
        &info("A", [6, 5], [4, 4], false, None),
        &p("short.npy"),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: truncated or oversized .npy payload: shape (6, 5) needs 240 bytes, found 232",
            p("short.npy").display()
        )
    );
    let err = matrix::import_npy(
        &store,
        &info("A", [6, 5], [4, 4], false, None),
        &p("absent.npy"),
    )
    .unwrap_err();
    assert!(matches!(err, MatrixError::Io { .. }), "{err:?}");
    assert!(
        store.list_tiles("A").unwrap().is_empty(),
        "a failed import stores nothing"
    );
}

#[test]
fn load_tile_generates_transposes_and_names_missing_tiles() {
    let store = MemStore::new();
    let spd = info("A", [7, 7], [3, 3], true, Some(Init::Spd { seed: 11 }));
    let generated = matrix::load_tile(&store, &spd, TileAt::new(2, 1)).unwrap();
    assert_eq!(*generated, Init::Spd { seed: 11 }.tile(&spd.header, 2, 1));
    let t = matrix::load_tile(&store, &spd, TileAt::new(1, 2)).unwrap();
    assert_eq!(*t, generated.transpose().to_owned());
    let t = matrix::load_tile(
        &store,
        &spd,
        TileAt {
            transpose: true,
            ..TileAt::new(2, 1)
        },
    )
    .unwrap();
    assert_eq!(*t, generated.transpose().to_owned());
    // A stored tile wins over the initialiser.
    let stored = Tile::from_fn(1, 3, value);
    store.put_tile("A", 2, 1, stored.clone().into()).unwrap();
    assert_eq!(
        *matrix::load_tile(&store, &spd, TileAt::new(2, 1)).unwrap(),
        stored
    );

    let plain = info("L", [7, 7], [3, 3], false, None);
    let err = matrix::load_tile(&store, &plain, TileAt::new(2, 0)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "tile L[2, 0] is not in the store and L has no initialiser"
    );
    let err = matrix::load_tile(&store, &plain, TileAt::new(3, 0)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "tile L[3, 0] is outside its 3 x 3 tile grid"
    );
    store.put_tile("L", 0, 0, Tile::zeros(2, 3).into()).unwrap();
    let err = matrix::load_tile(&store, &plain, TileAt::new(0, 0)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "tile L[0, 0] is 2x3 but the header implies 3x3"
    );
}

#[test]
fn load_tile_reads_a_version_under_its_stored_name() {
    let store = MemStore::new();
    let mut s = info("S", [4, 4], [2, 2], true, None);
    s.role = Role::Temp;
    s.versions = vec![3];
    assert_eq!(s.stored_name(2), "S.2");
    let stored = Tile::from_fn(2, 2, value);
    store.put_tile("S.2", 1, 0, stored.clone().into()).unwrap();
    assert_eq!(
        *matrix::load_tile(&store, &s, TileAt::new(1, 0).at_version(2)).unwrap(),
        stored
    );
    // The upper tile of a symmetric version is its stored twin, transposed.
    assert_eq!(
        *matrix::load_tile(&store, &s, TileAt::new(0, 1).at_version(2)).unwrap(),
        stored.transpose().to_owned()
    );
    // Another version of the same tile is another stored tile.
    let err = matrix::load_tile(&store, &s, TileAt::new(1, 0).at_version(1)).unwrap_err();
    assert!(matches!(err, MatrixError::Missing { .. }), "{err:?}");
    assert!(store.list_tiles("S").unwrap().is_empty());
}

#[test]
fn failed_export_leaves_no_file() {
    let tmp = tempfile::tempdir().unwrap();
    let store = MemStore::new();
    let m = info("L", [4, 4], [2, 2], false, None);
    for (i, j) in [(0, 0), (1, 0), (1, 1)] {
        store.put_tile("L", i, j, Tile::zeros(2, 2).into()).unwrap();
    }
    let out = tmp.path().join("L.npy");
    std::fs::write(&out, b"previous contents").unwrap();
    let err = matrix::export_npy(&store, &m, &out, matrix::Transfer::unwatched()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "tile L[0, 1] is not in the store and L has no initialiser"
    );
    // The old file is untouched and no temporary file is left beside it.
    assert_eq!(std::fs::read(&out).unwrap(), b"previous contents");
    let names: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("L.npy")]);
}

#[test]
fn export_of_an_initialised_matrix_matches_the_generator() {
    let tmp = tempfile::tempdir().unwrap();
    let store = MemStore::new();
    let m = info("I", [5, 4], [2, 3], false, Some(Init::Identity));
    let out = tmp.path().join("I.npy");
    matrix::export_npy(&store, &m, &out, matrix::Transfer::unwatched()).unwrap();
    let verdict = python(&format!(
        "b = np.load({o:?})\nprint('exact' if np.array_equal(b, np.eye(5, 4)) else b)",
        o = out.to_str().unwrap()
    ));
    assert_eq!(verdict.trim(), "exact");
}

#[test]
fn free_matrix_deletes_every_tile_and_keeps_the_header() {
    let store = MemStore::new();
    let m = info("T", [4, 4], [2, 2], false, None);
    matrix::put_header(&store, "T", &m.header).unwrap();
    for (i, j) in [(0, 0), (1, 0), (1, 1)] {
        store.put_tile("T", i, j, Tile::zeros(2, 2).into()).unwrap();
    }
    assert_eq!(matrix::free_matrix(&store, "T").unwrap(), 3);
    assert!(matrix::list(&store, "T").unwrap().is_empty());
    assert_eq!(matrix::get_header(&store, "T").unwrap(), m.header);
    assert_eq!(store.bytes_held(), 0);
    let err = matrix::get_header(&store, "nothing").unwrap_err();
    assert_eq!(err.to_string(), "matrix nothing has no header in the store");
}
