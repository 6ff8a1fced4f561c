//! Whole-or-nothing files: the one way the workspace writes a file a user
//! reads (exported matrices, bundles, traces, plots). The bytes go to a
//! temporary file beside the destination, are flushed to disk, and the file
//! is renamed over the destination: a reader, or a crash at any point, sees
//! the old file or the whole new one, never a part, and a failed write
//! leaves no temporary behind (`tempfile` removes it on drop). The directory
//! store's tile writes keep their own path (`store/dir.rs`), which recycles
//! files instead of creating one per tile.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use tempfile::NamedTempFile;

/// A file being written in place of `dest`; nothing reaches `dest` until
/// [`AtomicFile::commit`].
pub struct AtomicFile {
    temp: NamedTempFile,
    dest: PathBuf,
}

impl AtomicFile {
    /// A new, empty temporary file in `dest`'s directory.
    pub fn create(dest: &Path) -> io::Result<AtomicFile> {
        let dir = dest
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = dest
            .file_name()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"))?;
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{}.", name.to_string_lossy()))
            .suffix(".partial")
            .tempfile_in(dir)?;
        Ok(AtomicFile {
            temp,
            dest: dest.to_path_buf(),
        })
    }

    /// The temporary file, to write to.
    pub fn file(&mut self) -> &mut File {
        self.temp.as_file_mut()
    }

    /// The temporary file's path, for error messages.
    pub fn path(&self) -> &Path {
        self.temp.path()
    }

    /// Flushes the written bytes to disk and renames the file over the
    /// destination.
    pub fn commit(self) -> io::Result<()> {
        self.temp.as_file().sync_all()?;
        self.temp.persist(&self.dest).map_err(|e| e.error)?;
        Ok(())
    }
}

/// Writes `bytes` as the whole content of `path`, atomically.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = AtomicFile::create(path)?;
    file.file().write_all(bytes)?;
    file.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_appears_whole_and_a_dropped_one_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.bin");
        std::fs::write(&dest, b"old").unwrap();
        let mut file = AtomicFile::create(&dest).unwrap();
        file.file().write_all(b"new content").unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"old", "not before commit");
        file.commit().unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"new content");

        let mut abandoned = AtomicFile::create(&dest).unwrap();
        abandoned.file().write_all(b"half").unwrap();
        drop(abandoned);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["out.bin"], "no temporary left behind");
        assert_eq!(std::fs::read(&dest).unwrap(), b"new content");
    }
}
