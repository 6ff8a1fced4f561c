//! `remove_unfinished`, what an exit without unwinding (a second Ctrl-C)
//! calls, in a process of its own: it removes every live temporary file of
//! the process, which would race with other tests' files.

use lp_runtime::atomic_file::{AtomicFile, remove_unfinished, write_atomically};
use std::io::Write;

#[test]
fn an_exit_without_unwinding_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let names = || {
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    write_atomically(&dir.path().join("done.npy"), b"whole").unwrap();
    let mut first = AtomicFile::create(&dir.path().join("L.npy")).unwrap();
    first.file().write_all(b"half").unwrap();
    let second = AtomicFile::create(&dir.path().join("U.npy")).unwrap();
    assert_eq!(names().len(), 3, "{:?}", names());
    remove_unfinished();
    assert_eq!(names(), ["done.npy"]);
    // Whatever still holds one finds its file gone, and no destination
    // appears.
    assert!(first.commit().is_err());
    drop(second);
    assert_eq!(names(), ["done.npy"]);
    assert_eq!(
        std::fs::read(dir.path().join("done.npy")).unwrap(),
        b"whole"
    );
}
