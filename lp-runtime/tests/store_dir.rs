//! Directory-store specifics: the on-disk layout numpy reads, damaged files,
//! recycling of deleted tile files, and bytes held across reopening.

use lp_runtime::store::{DirStore, Store, StoreError};
use lp_std::{MatrixHeader, Tile};
use std::process::Command;
use std::sync::Arc;

fn tile(rows: usize, cols: usize, salt: f64) -> Arc<Tile> {
    Arc::new(Tile::from_fn(rows, cols, |r, c| {
        salt + r as f64 * 0.5 - c as f64 * 1024.0
    }))
}

#[test]
fn tiles_and_headers_are_files_numpy_and_json_read() {
    let tmp = tempfile::tempdir().unwrap();
    let store = DirStore::open(tmp.path()).unwrap();
    store.put_tile("A", 2, 1, tile(3, 2, 0.125)).unwrap();
    store
        .put_header("A", &MatrixHeader::new([11, 5], [3, 2], false))
        .unwrap();
    let tile_path = tmp.path().join("A").join("2_1.npy");
    assert_eq!(store.tile_path("A", 2, 1).unwrap(), tile_path);
    let out = Command::new("python3")
        .arg("-c")
        .arg(format!(
            "import numpy as np, json\nt = np.load({t:?})\nprint(t.dtype, t.shape, t.flags.f_contiguous)\n\
             print(t.tolist())\nprint(json.load(open({h:?})))",
            t = tile_path.to_str().unwrap(),
            h = tmp.path().join("A").join("header.json").to_str().unwrap()
        ))
        .output()
        .expect("python3 is required");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named 'numpy'"),
        "this test needs numpy: pip install numpy"
    );
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "float64 (3, 2) True\n\
         [[0.125, -1023.875], [0.625, -1023.375], [1.125, -1022.875]]\n\
         {'shape': [11, 5], 'tile_shape': [3, 2], 'dtype': 'f64', 'symmetric': False, 'triangle': None}\n"
    );
    // The store's private pool directory is not a matrix and never listed.
    let mut names: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["A", "~pool"]);
}

#[test]
fn corrupt_and_truncated_tiles_are_errors_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let store = DirStore::open(tmp.path()).unwrap();
    store.put_tile("A", 0, 0, tile(4, 4, 1.0)).unwrap();
    let path = store.tile_path("A", 0, 0).unwrap();
    let good = std::fs::read(&path).unwrap();

    std::fs::write(&path, &good[..good.len() - 3]).unwrap();
    match store.get_tile("A", 0, 0) {
        Err(e @ StoreError::Corrupt { .. }) => assert_eq!(
            e.to_string(),
            format!(
                "corrupt tile A[0, 0] ({}): truncated or oversized .npy payload: shape (4, 4) \
                 needs 128 bytes, found 125",
                path.display()
            )
        ),
        other => panic!("expected Corrupt, got {other:?}"),
    }

    let mut garbage = good.clone();
    garbage[..6].copy_from_slice(b"NOTNPY");
    std::fs::write(&path, &garbage).unwrap();
    let err = store.get_tile("A", 0, 0).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "corrupt tile A[0, 0] ({}): not a .npy file (wrong magic bytes)",
            path.display()
        )
    );

    // A tile with contiguous columns (rows a multiple of 8) takes the
    // store's direct-read path; damage must be caught there too.
    store.put_tile("A", 1, 0, tile(16, 2, 1.0)).unwrap();
    let path16 = store.tile_path("A", 1, 0).unwrap();
    let good16 = std::fs::read(&path16).unwrap();
    std::fs::write(&path16, &good16[..good16.len() - 8]).unwrap();
    assert_eq!(
        store.get_tile("A", 1, 0).unwrap_err().to_string(),
        format!(
            "corrupt tile A[1, 0] ({}): truncated or oversized .npy payload: shape (16, 2) \
             needs 256 bytes, found 248",
            path16.display()
        )
    );
    let mut longer = good16.clone();
    longer.extend_from_slice(&[0; 8]);
    std::fs::write(&path16, &longer).unwrap();
    assert!(
        store
            .get_tile("A", 1, 0)
            .unwrap_err()
            .to_string()
            .contains("found 264")
    );
    std::fs::write(&path16, &good16).unwrap();
    assert_eq!(
        *store.get_tile("A", 1, 0).unwrap().unwrap(),
        *tile(16, 2, 1.0)
    );

    std::fs::write(&path, b"").unwrap();
    let err = store.get_tile("A", 0, 0).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");

    std::fs::write(tmp.path().join("A").join("header.json"), b"{\"shape\": [").unwrap();
    let err = store.get_header("A").unwrap_err();
    assert!(
        err.to_string().starts_with(&format!(
            "corrupt header of matrix A ({}): ",
            tmp.path().join("A").join("header.json").display()
        )),
        "{err}"
    );
}

#[test]
fn deleted_files_are_recycled_for_tiles_of_the_same_size() {
    let tmp = tempfile::tempdir().unwrap();
    let store = DirStore::open(tmp.path()).unwrap();
    store.put_tile("T", 0, 0, tile(32, 32, 1.0)).unwrap();
    let file_size = std::fs::metadata(store.tile_path("T", 0, 0).unwrap())
        .unwrap()
        .len();
    assert_eq!(file_size, 128 + 32 * 32 * 8);
    assert_eq!(store.pooled_bytes(), 0);
    store.delete_tile("T", 0, 0).unwrap();
    assert_eq!(
        store.pooled_bytes(),
        file_size,
        "the deleted file waits in the pool"
    );
    assert!(!store.tile_path("T", 0, 0).unwrap().exists());
    // A tile of another size does not take it...
    store.put_tile("T", 1, 0, tile(16, 32, 2.0)).unwrap();
    assert_eq!(store.pooled_bytes(), file_size);
    // ...a tile of the same size does, and reads back with its own values.
    store.put_tile("U", 5, 5, tile(32, 32, 3.0)).unwrap();
    assert_eq!(store.pooled_bytes(), 0);
    assert_eq!(
        *store.get_tile("U", 5, 5).unwrap().unwrap(),
        *tile(32, 32, 3.0)
    );
    assert_eq!(
        *store.get_tile("T", 1, 0).unwrap().unwrap(),
        *tile(16, 32, 2.0)
    );

    // With a pool limit below one file, deletes unlink.
    let tmp2 = tempfile::tempdir().unwrap();
    let small = DirStore::open(tmp2.path())
        .unwrap()
        .with_pool_limit(file_size - 1);
    small.put_tile("T", 0, 0, tile(32, 32, 1.0)).unwrap();
    small.delete_tile("T", 0, 0).unwrap();
    assert_eq!(small.pooled_bytes(), 0);
}

#[test]
fn bytes_held_survive_reopening_and_the_pool_is_removed_on_drop() {
    let tmp = tempfile::tempdir().unwrap();
    let size = 128 + 8 * 8 * 8;
    {
        let store = DirStore::open(tmp.path()).unwrap();
        for k in 0..3 {
            store.put_tile("A", k, 0, tile(8, 8, k as f64)).unwrap();
        }
        assert_eq!(store.bytes_held(), 3 * size);
        store.delete_tile("A", 2, 0).unwrap();
        assert_eq!(store.bytes_held(), 2 * size);
        assert_eq!(store.peak_bytes_held(), 3 * size);
    }
    assert!(
        !tmp.path().join("~pool").exists(),
        "pooled files are freed when the store is dropped"
    );
    let store = DirStore::open(tmp.path()).unwrap();
    assert_eq!(store.bytes_held(), 2 * size);
    assert_eq!(
        *store.get_tile("A", 1, 0).unwrap().unwrap(),
        *tile(8, 8, 1.0)
    );
    let mut listed = store.list_tiles("A").unwrap();
    listed.sort();
    assert_eq!(listed, [(0, 0), (1, 0)]);
}

#[test]
fn readers_racing_rewrites_see_whole_tiles() {
    // Re-run jobs rewrite tiles with identical bytes, and recycled files are
    // overwritten in place: a reader must always see one whole tile.
    let tmp = tempfile::tempdir().unwrap();
    let store = DirStore::open(tmp.path()).unwrap();
    let a = tile(64, 64, 1.0);
    store.put_tile("R", 0, 0, a.clone()).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| {
            for k in 0..200 {
                store.put_tile("R", 0, 0, a.clone()).unwrap();
                // Churn same-size files through the pool.
                store
                    .put_tile("X", k, 0, tile(64, 64, k as f64 + 7.0))
                    .unwrap();
                store.delete_tile("X", k, 0).unwrap();
            }
        });
        for _ in 0..200 {
            let got = store
                .get_tile("R", 0, 0)
                .unwrap()
                .expect("R[0, 0] is never deleted");
            assert_eq!(*got, *a);
        }
    });
}
