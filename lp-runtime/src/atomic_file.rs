//! Whole-or-nothing files: the one way the workspace writes a file a user
//! reads (exported matrices, bundles, traces, plots). The bytes go to a
//! temporary file beside the destination, are flushed to disk, and the file
//! is renamed over the destination: a reader, or a crash at any point, sees
//! the old file or the whole new one, never a part, and a failed write
//! leaves no temporary behind (`tempfile` removes it on drop). The directory
//! store's tile writes keep their own path (`store/dir.rs`), which recycles
//! files instead of creating one per tile.
//!
//! The file gets the permissions a plain `File::create` would give it: a
//! new file `0666` less the umask, a replaced one the permission bits it
//! had (not the `0600` of a temporary file).

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use tempfile::NamedTempFile;

/// A file being written in place of `dest`; nothing reaches `dest` until
/// [`AtomicFile::commit`].
pub struct AtomicFile {
    /// `None` once committed.
    temp: Option<NamedTempFile>,
    dest: PathBuf,
}

/// The temporary files of the [`AtomicFile`]s alive in this process, for
/// [`remove_unfinished`]: an exit that skips destructors (a second Ctrl-C)
/// would otherwise leave them behind.
static UNFINISHED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn unfinished() -> MutexGuard<'static, Vec<PathBuf>> {
    // A panic while holding the lock leaves a list that is still whole.
    UNFINISHED.lock().unwrap_or_else(|e| e.into_inner())
}

fn forget(path: &Path) {
    let mut list = unfinished();
    if let Some(k) = list.iter().position(|p| p == path) {
        list.swap_remove(k);
    }
}

/// Removes the temporary files of every [`AtomicFile`] not yet committed
/// or dropped: for a process about to exit without unwinding.
pub fn remove_unfinished() {
    for path in unfinished().drain(..) {
        let _ = std::fs::remove_file(path);
    }
}

impl AtomicFile {
    /// A new, empty temporary file in `dest`'s directory. A symbolic link
    /// is written through, as `File::create` would: the file it names is
    /// replaced and the link stays. A device, a pipe or a socket is
    /// refused (`InvalidInput`): a rename would replace it, not fill it.
    pub fn create(dest: &Path) -> io::Result<AtomicFile> {
        let dest = &destination(dest)?;
        let dir = dest
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = dest
            .file_name()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"))?;
        let prefix = format!(".{}.", name.to_string_lossy());
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".partial");
        let replaced = replaced_permissions(dest);
        #[cfg(unix)]
        if replaced.is_none() {
            use std::os::unix::fs::PermissionsExt;
            // Masked by the umask when the file is created, as by `File::create`.
            builder.permissions(std::fs::Permissions::from_mode(0o666));
        }
        let temp = builder.tempfile_in(dir)?;
        if let Some(permissions) = replaced {
            temp.as_file().set_permissions(permissions)?;
        }
        unfinished().push(temp.path().to_path_buf());
        Ok(AtomicFile {
            temp: Some(temp),
            dest: dest.to_path_buf(),
        })
    }

    fn temp(&self) -> &NamedTempFile {
        self.temp.as_ref().expect("only commit takes the file")
    }

    /// The temporary file, to write to.
    pub fn file(&mut self) -> &mut File {
        self.temp
            .as_mut()
            .expect("only commit takes the file")
            .as_file_mut()
    }

    /// The temporary file's path, for error messages.
    pub fn path(&self) -> &Path {
        self.temp().path()
    }

    /// Flushes the written bytes to disk and renames the file over the
    /// destination.
    pub fn commit(mut self) -> io::Result<()> {
        self.temp().as_file().sync_all()?;
        let temp = self.temp.take().expect("only commit takes the file");
        let path = temp.path().to_path_buf();
        let persisted = temp.persist(&self.dest);
        forget(&path);
        // A failed rename hands the file back; dropping it removes it.
        persisted.map(drop).map_err(|e| e.error)
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if let Some(temp) = &self.temp {
            forget(temp.path());
        }
    }
}

/// The file a write to `dest` replaces (see [`AtomicFile::create`]).
fn destination(dest: &Path) -> io::Result<PathBuf> {
    let real = match dest.is_symlink() {
        // A dangling link is replaced, as there is no file to write to.
        true => std::fs::canonicalize(dest).unwrap_or_else(|_| dest.to_path_buf()),
        false => dest.to_path_buf(),
    };
    match std::fs::metadata(&real) {
        Ok(m) if !m.is_file() => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "it is not a regular file",
        )),
        _ => Ok(real),
    }
}

/// The permission bits of the file `dest` replaces, if it replaces one
/// (the temporary file takes them before it holds anything). Only the
/// `rwx` bits: the new file is not setuid because the old one was.
#[cfg(unix)]
fn replaced_permissions(dest: &Path) -> Option<std::fs::Permissions> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dest).ok()?.permissions().mode();
    Some(std::fs::Permissions::from_mode(mode & 0o777))
}

/// Elsewhere the temporary file's permissions stand.
#[cfg(not(unix))]
fn replaced_permissions(_dest: &Path) -> Option<std::fs::Permissions> {
    None
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

    #[cfg(unix)]
    #[test]
    fn a_link_is_written_through_and_a_device_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("real.npy");
        std::fs::write(&target, b"old").unwrap();
        let link = dir.path().join("link.npy");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        write_atomically(&link, b"new").unwrap();
        assert!(link.is_symlink(), "the link stays");
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        let e = write_atomically(Path::new("/dev/null"), b"x").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(e.to_string(), "it is not a regular file");
    }

    /// A new file gets what `File::create` gives one beside it (0666 less
    /// the umask), a replaced file keeps its mode, whatever it was.
    #[cfg(unix)]
    #[test]
    fn new_files_get_the_umask_mode_and_replaced_files_keep_theirs() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        let plain = dir.path().join("plain");
        File::create(&plain).unwrap();
        let fresh = dir.path().join("fresh.npy");
        write_atomically(&fresh, b"new").unwrap();
        assert_eq!(format!("{:o}", mode(&fresh)), format!("{:o}", mode(&plain)));
        for kept in [0o644, 0o640, 0o604, 0o755] {
            let old = dir.path().join(format!("old{kept:o}.npy"));
            std::fs::write(&old, b"old").unwrap();
            std::fs::set_permissions(&old, std::fs::Permissions::from_mode(kept)).unwrap();
            write_atomically(&old, b"new").unwrap();
            assert_eq!(std::fs::read(&old).unwrap(), b"new");
            assert_eq!(format!("{:o}", mode(&old)), format!("{kept:o}"));
        }
    }
}
