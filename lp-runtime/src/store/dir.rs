//! The directory store: one `.npy` file per tile, one `header.json` per
//! matrix, under a root directory.
//!
//! Layout: `<root>/<location>/header.json` and
//! `<root>/<location>/<i>_<j>.npy` (Fortran-order little-endian f64, so
//! `numpy.load` opens any tile), documents beside them
//! (`super::location`). Locations are validated before any path is formed,
//! and `~` (which a valid name cannot contain) marks the store's private
//! directory `<root>/~pool/`, so it can never collide with a matrix. Each
//! open store has its own pool folder there, holding an `owner.json` that
//! names its process (`super::runs::ProcessId`), so that `lpc store gc`
//! can tell a crashed process's pool from a live one.
//!
//! # Write path
//!
//! Measured on the target machine for an 8 MiB tile: creating a new file per
//! tile sustains only about 0.5 GB/s (15 ms: the filesystem allocates and
//! zeroes fresh blocks), `File::create` over an existing file costs 5.5 ms
//! (truncation frees the blocks first), but overwriting a preallocated file in
//! place takes 0.25 ms. A right-looking Cholesky writes O(N^3) temporary
//! tiles and the runtime deletes each one after its last reader, so the store
//! recycles: [`Store::delete_tile`] renames the file into a free pool (keyed
//! by byte size) instead of unlinking it, and [`Store::put_tile`] takes a
//! pooled file of the same size, overwrites it in place, then renames it to
//! the tile's name. The rename is what makes a put atomic: readers see the
//! old file or the whole new one, never a partial tile, so an output matrix is
//! never half-written on disk. Without a pooled file, the tile is written to
//! a fresh temporary file in the pool directory and renamed the same way.
//! The pool is capped ([`DirStore::with_pool_limit`]); beyond it deleted
//! files are unlinked. Each store instance has its own pool subdirectory,
//! removed when the store is dropped.
//!
//! # Durability
//!
//! No `fsync` per tile: it would cost about 1 ms per 8 MiB tile and buys
//! nothing for temps. Tiles are deterministic functions of the inputs and
//! every job may be re-run, so after a crash of the process the run is
//! simply re-run; what matters then is that no file ever holds a partial
//! tile, which the rename guarantees.
//!
//! A crash of the machine is another matter: a renamed tile whose bytes
//! had not reached the disk may come back empty, or, where the file was a
//! pooled one overwritten in place, holding the tile it held before, with
//! a valid header. So what outlives a run is flushed before anything says
//! it is complete ([`Store::sync`]: every file of the location, then its
//! folders): an import before its origin is recorded, a run's outputs
//! before its record says it finished, a matrix before a name is published
//! for it.
//!
//! # Read path
//!
//! `open`, `fstat` (for the size), a `read` of the first 4 KiB (the header),
//! then one `read` of the rest straight into the new tile's storage (tiles
//! whose columns are not contiguous, and damaged files, go through a
//! per-thread buffer and `npy::decode_tile`). Because deleted files are recycled, a reader
//! racing a delete could in principle see its open file overwritten with
//! another tile; after reading, the store checks that the path still names
//! the file it read (one `stat`), and otherwise reads again (or reports the
//! tile absent if it is gone). The runtime never deletes a tile before its
//! last reader finishes, so this only guards duplicate (re-launched) jobs.
//!
//! # Bytes held
//!
//! File bytes (header included) of the tiles under the root: counted once at
//! open, then updated on every put and delete. Pooled files are not counted.
//!
//! Nothing holds a whole matrix in memory: a matrix larger than RAM is just
//! more files.

use super::location::{
    BUNDLES, POOL_DIR, is_bundle_name, validate_bundle_name, validate_doc, validate_header,
    validate_listing, validate_location, validate_root_dir,
};
use super::{Store, StoreError, StoreResult, StoreUsage, StoredBundle};
use lp_std::{MatrixHeader, Tile, npy};
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

const HEADER_FILE: &str = "header.json";
/// Default cap on the bytes kept in the free pool.
pub const DEFAULT_POOL_LIMIT: u64 = 2 << 30;

/// Distinguishes several stores opened by one process on the same root.
static INSTANCE: AtomicU64 = AtomicU64::new(0);

thread_local! {
    // One reusable I/O buffer per thread: a fresh 8 MiB allocation per tile
    // would page-fault 2048 pages on every read and write.
    static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Gives `from`'s file the name `to` unless `to` exists: false if it did.
/// `link` refuses an existing name in the same step as it makes the new
/// one. A file system without hard links (FAT, some FUSE mounts) gets
/// [`rename_new`].
fn link_new(from: &Path, to: &Path) -> io::Result<bool> {
    match fs::hard_link(from, to) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::Unsupported | ErrorKind::PermissionDenied
            ) =>
        {
            rename_new(from, to)
        }
        Err(e) => Err(e),
    }
}

/// Renames `from` to `to` unless `to` exists: false if it did. On Linux
/// `renameat2(RENAME_NOREPLACE)` refuses an existing name in the same step;
/// where the file system does not take that flag (or elsewhere) it is a
/// check, then a rename, and between the two another writer can come, as
/// docs/runtime.md says.
fn rename_new(from: &Path, to: &Path) -> io::Result<bool> {
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{CWD, RenameFlags, renameat_with};
        use rustix::io::Errno;
        match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
            Ok(()) => return Ok(true),
            Err(Errno::EXIST) => return Ok(false),
            // The file system (or an old kernel) does not know the flag, or
            // a sandbox's seccomp policy refuses the call (EPERM: older
            // container profiles); a plain rename may still be allowed.
            Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP | Errno::PERM) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if to.exists() {
        return Ok(false);
    }
    fs::rename(from, to).map(|()| true)
}

/// Whether a small file's write replaces one already there.
#[derive(Clone, Copy)]
enum Place {
    Replace,
    New,
}

#[derive(Default)]
struct Pool {
    by_size: HashMap<u64, Vec<PathBuf>>,
    bytes: u64,
}

/// Tiles as `.npy` files under a directory. See the module docs.
pub struct DirStore {
    root: PathBuf,
    pool_dir: PathBuf,
    pool: Mutex<Pool>,
    pool_limit: u64,
    next_temp: AtomicU64,
    /// Matrix directories known to exist, to skip a `mkdir` per put.
    made_dirs: Mutex<HashSet<String>>,
    held: AtomicU64,
    peak: AtomicU64,
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> StoreError {
    let what = what.into();
    move |source| StoreError::Io { what, source }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The entries of `dir`, as they are read: none when it does not exist
/// (nothing was stored there yet, or it was removed), errors naming it.
fn dir_entries(dir: &Path) -> StoreResult<impl Iterator<Item = StoreResult<fs::DirEntry>> + '_> {
    let listing = move || io_err(format!("listing {}", dir.display()));
    let entries = match fs::read_dir(dir) {
        Ok(entries) => Some(entries),
        Err(e) if e.kind() == ErrorKind::NotFound => None,
        Err(e) => return Err(listing()(e)),
    };
    Ok(entries
        .into_iter()
        .flatten()
        .map(move |e| e.map_err(listing())))
}

/// Writes `pool_dir`'s `owner.json`: this process, for `lpc store gc` to
/// tell a live pool from a dead one's.
fn write_owner(pool_dir: &Path) -> StoreResult<()> {
    let owner = pool_dir.join(super::runs::OWNER_FILE);
    let me = serde_json::to_vec(&super::runs::ProcessId::current()).expect("serialises");
    fs::write(&owner, me).map_err(io_err(format!("writing {}", owner.display())))
}

impl DirStore {
    /// Opens (creating if needed) a store rooted at `root`.
    pub fn open(root: impl Into<PathBuf>) -> StoreResult<DirStore> {
        let root = root.into();
        validate_root_dir(&root)?;
        let what = format!("creating store directory {}", root.display());
        if root.exists() && !root.is_dir() {
            // create_dir_all would say only "File exists".
            let e = io::Error::new(ErrorKind::AlreadyExists, "it is a file, not a directory");
            return Err(io_err(what)(e));
        }
        fs::create_dir_all(&root).map_err(io_err(what))?;
        let pool_dir = Self::create_pool_dir(&root.join(POOL_DIR))?;
        write_owner(&pool_dir)?;
        let held = Self::scan_bytes(&root)?;
        Ok(DirStore {
            root,
            pool_dir,
            pool: Mutex::new(Pool::default()),
            pool_limit: DEFAULT_POOL_LIMIT,
            next_temp: AtomicU64::new(0),
            made_dirs: Mutex::new(HashSet::new()),
            held: AtomicU64::new(held),
            peak: AtomicU64::new(held),
        })
    }

    /// A new, empty pool folder of this instance in `pools`. Its name is
    /// this process's pid and instance number, which tell people whose it
    /// is, and the time: processes in different PID namespaces (two
    /// containers, each its own process 1) share a store and must never
    /// share a pool, whose files one would rename over the other's tiles.
    /// Created, never cleared: a folder of that name is someone else's.
    fn create_pool_dir(pools: &Path) -> StoreResult<PathBuf> {
        fs::create_dir_all(pools).map_err(io_err(format!("creating {}", pools.display())))?;
        let instance = INSTANCE.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        loop {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            let dir = pools.join(format!("{pid}-{instance}-{nanos:x}"));
            match fs::create_dir(&dir) {
                Ok(()) => return Ok(dir),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io_err(format!("creating {}", dir.display()))(e)),
            }
        }
    }

    /// Caps the bytes of deleted tile files kept for reuse (0 disables
    /// recycling: every delete unlinks, every put creates a new file).
    pub fn with_pool_limit(mut self, bytes: u64) -> DirStore {
        self.pool_limit = bytes;
        self
    }

    /// File bytes of the tiles currently under the root.
    pub fn bytes_held(&self) -> u64 {
        self.held.load(Ordering::Relaxed)
    }

    /// The largest [`DirStore::bytes_held`] since the store was opened.
    pub fn peak_bytes_held(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }

    /// Removes the pool folders of other store instances whose process is
    /// gone (their `owner.json` says so), or, for a process of another
    /// machine or boot, that were not touched for `stale_after`; returns
    /// how many were removed. A crashed process leaves its pool behind.
    pub fn collect_dead_pools(&self, stale_after: std::time::Duration) -> StoreResult<usize> {
        let pools = self.root.join(POOL_DIR);
        let mut removed = 0;
        for entry in dir_entries(&pools)? {
            let entry = entry?;
            let dir = entry.path();
            if dir == self.pool_dir {
                continue;
            }
            let owner: Option<super::runs::ProcessId> = fs::read(dir.join(super::runs::OWNER_FILE))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok());
            let idle = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > stale_after);
            let dead = match owner.and_then(|o| o.is_alive()) {
                Some(alive) => !alive,
                None => idle,
            };
            if dead {
                fs::remove_dir_all(&dir).map_err(io_err(format!("removing {}", dir.display())))?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Bytes of deleted tile files waiting in the pool for reuse.
    pub fn pooled_bytes(&self) -> u64 {
        lock(&self.pool).bytes
    }

    /// The path of tile (i, j) of `matrix` (the location must be valid).
    pub fn tile_path(&self, matrix: &str, i: usize, j: usize) -> StoreResult<PathBuf> {
        validate_location(matrix)?;
        Ok(self.root.join(matrix).join(super::tile_file_name(i, j)))
    }

    /// Calls `visit` with each tile file of `matrix` and its coordinates.
    fn tile_files(
        &self,
        matrix: &str,
        visit: &mut dyn FnMut((usize, usize), &fs::DirEntry),
    ) -> StoreResult<()> {
        validate_location(matrix)?;
        let dir = self.root.join(matrix);
        for entry in dir_entries(&dir)? {
            let entry = entry?;
            if let Some(ij) = entry
                .file_name()
                .to_str()
                .and_then(super::parse_tile_file_name)
            {
                visit(ij, &entry);
            }
        }
        Ok(())
    }

    /// File bytes of the tiles at and below `dir`, skipping the pool.
    fn scan_bytes(dir: &Path) -> StoreResult<u64> {
        let mut total = 0;
        for entry in dir_entries(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() && name != POOL_DIR {
                total += Self::scan_bytes(&entry.path())?;
            } else if kind.is_file() && super::parse_tile_file_name(name).is_some() {
                total += entry.metadata().map(|m| m.len()).unwrap_or(0);
            }
        }
        Ok(total)
    }

    /// Writes a small file whole (staged in the pool, renamed into place).
    fn put_small_file(&self, location: &str, file: &str, bytes: &[u8]) -> StoreResult<()> {
        self.place_small_file(location, file, bytes, Place::Replace)
            .map(|_| ())
    }

    /// Writes a small file whole through a temporary file, renamed over the
    /// old one (`Place::Replace`) or put where there is none (`Place::New`,
    /// [`link_new`]; false if there was one).
    fn place_small_file(
        &self,
        location: &str,
        file: &str,
        bytes: &[u8],
        place: Place,
    ) -> StoreResult<bool> {
        let dest = self.root.join(location).join(file);
        let put = || -> StoreResult<bool> {
            self.ensure_matrix_dir(location)?;
            let path = self.fresh_temp_path();
            fs::write(&path, bytes).map_err(io_err(format!("writing {}", path.display())))?;
            let placed = match place {
                Place::Replace => fs::rename(&path, &dest).map(|()| true),
                Place::New => link_new(&path, &dest),
            };
            // Still there after a link, or a failed rename.
            let _ = fs::remove_file(&path);
            placed.map_err(|e| io_err(format!("writing {}", dest.display()))(e))
        };
        match put() {
            // The folder was removed behind the store's back: make it again.
            Err(StoreError::Io { source, .. }) if source.kind() == ErrorKind::NotFound => {
                lock(&self.made_dirs).remove(location);
                put()
            }
            other => other,
        }
    }

    fn place_header(&self, matrix: &str, header: &MatrixHeader, place: Place) -> StoreResult<bool> {
        validate_location(matrix)?;
        validate_header(matrix, header)?;
        let mut json = serde_json::to_vec_pretty(header).expect("a header always serialises");
        json.push(b'\n');
        self.place_small_file(matrix, HEADER_FILE, &json, place)
    }

    fn read_small_file(&self, location: &str, file: &str) -> StoreResult<Option<Vec<u8>>> {
        let path = self.root.join(location).join(file);
        match fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(format!("reading {}", path.display()))(e)),
        }
    }

    fn add_held(&self, added: u64, removed: u64) {
        if added >= removed {
            let now = self.held.fetch_add(added - removed, Ordering::Relaxed) + (added - removed);
            self.peak.fetch_max(now, Ordering::Relaxed);
        } else {
            // Saturate: a file deleted behind the store's back must not wrap.
            let _ = self
                .held
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |h| {
                    Some(h.saturating_sub(removed - added))
                });
        }
    }

    fn ensure_matrix_dir(&self, matrix: &str) -> StoreResult<PathBuf> {
        let dir = self.root.join(matrix);
        if !lock(&self.made_dirs).contains(matrix) {
            fs::create_dir_all(&dir).map_err(io_err(format!("creating {}", dir.display())))?;
            lock(&self.made_dirs).insert(matrix.to_string());
        }
        Ok(dir)
    }

    fn fresh_temp_path(&self) -> PathBuf {
        let n = self.next_temp.fetch_add(1, Ordering::Relaxed);
        self.pool_dir.join(format!("t{n}"))
    }

    /// Writes the concatenation of `parts` to a file in the pool directory,
    /// reusing a pooled file of exactly that size if there is one; returns
    /// its path.
    fn write_staged(&self, parts: &[&[u8]]) -> StoreResult<PathBuf> {
        let size: u64 = parts.iter().map(|p| p.len() as u64).sum();
        let write_all = |f: &mut File| parts.iter().try_for_each(|p| f.write_all(p));
        let pooled = {
            let mut pool = lock(&self.pool);
            let taken = pool.by_size.get_mut(&size).and_then(Vec::pop);
            if taken.is_some() {
                pool.bytes -= size;
            }
            taken
        };
        if let Some(path) = pooled {
            // Same size, so overwriting from offset 0 replaces every byte and
            // the filesystem keeps the already allocated blocks.
            let written = OpenOptions::new()
                .write(true)
                .open(&path)
                .and_then(|mut f| write_all(&mut f));
            match written {
                Ok(()) => return Ok(path),
                // The pooled file vanished or failed: fall back to a new one.
                Err(_) => {
                    let _ = fs::remove_file(&path);
                }
            }
        }
        let path = self.fresh_temp_path();
        let create = || File::create(&path).and_then(|mut f| write_all(&mut f));
        match create() {
            // Another process's gc removed the pool: it judges a process of
            // another PID namespace by the folder's age, and this one may
            // have been idle that long. Made again, with its owner.
            Err(e) if e.kind() == ErrorKind::NotFound => {
                fs::create_dir_all(&self.pool_dir)
                    .map_err(io_err(format!("creating {}", self.pool_dir.display())))?;
                write_owner(&self.pool_dir)?;
                create()
            }
            written => written,
        }
        .map_err(io_err(format!("writing {}", path.display())))?;
        Ok(path)
    }

    /// Moves `parts` into place at `dest` by staging and renaming; returns
    /// the size of the file it replaced (0 if none).
    fn put_file(&self, parts: &[&[u8]], dest: &Path) -> StoreResult<u64> {
        let staged = self.write_staged(parts)?;
        let replaced = fs::metadata(dest).map(|m| m.len()).unwrap_or(0);
        if let Err(e) = fs::rename(&staged, dest) {
            let _ = fs::remove_file(&staged);
            return Err(io_err(format!("renaming into {}", dest.display()))(e));
        }
        Ok(replaced)
    }
}

impl DirStore {
    /// [`DirStore::put_file`], recreating the matrix directory if it was
    /// removed behind the store's back; returns (bytes written, bytes
    /// replaced).
    fn put_parts(&self, matrix: &str, parts: &[&[u8]], dest: &Path) -> StoreResult<(u64, u64)> {
        let size = parts.iter().map(|p| p.len() as u64).sum();
        let replaced = match self.put_file(parts, dest) {
            Err(StoreError::Io { source, .. }) if source.kind() == ErrorKind::NotFound => {
                lock(&self.made_dirs).remove(matrix);
                self.ensure_matrix_dir(matrix)?;
                self.put_file(parts, dest)?
            }
            other => other?,
        };
        Ok((size, replaced))
    }
}

/// Whether a non-empty tile's columns are stored back to back.
fn is_contiguous(tile: &Tile) -> bool {
    let (rows, cols) = (tile.nrows(), tile.ncols());
    rows > 0
        && cols > 0
        && (cols == 1 || tile.col_stride() == rows as isize)
        && tile.row_stride() == 1
}

/// The tile's storage as bytes, if its columns are stored back to back
/// (faer pads each column to a multiple of 8 rows, so tiles whose row count
/// is a multiple of 8, every full tile in practice, qualify).
fn contiguous_bytes(tile: &Tile) -> Option<&[u8]> {
    if !is_contiguous(tile) {
        return None;
    }
    // SAFETY: the tile owns rows * cols f64 stored contiguously from
    // `as_ptr()` (checked strides); f64 has no padding and u8 alignment 1, and
    // the byte view borrows the tile. The .npy payload is little-endian,
    // which lp-std's codec already requires of the target.
    Some(unsafe {
        std::slice::from_raw_parts(
            tile.as_ptr().cast::<u8>(),
            tile.nrows() * tile.ncols() * std::mem::size_of::<f64>(),
        )
    })
}

/// Mutable twin of [`contiguous_bytes`], to read a payload straight into a
/// tile.
fn contiguous_bytes_mut(tile: &mut Tile) -> Option<&mut [u8]> {
    if !is_contiguous(tile) {
        return None;
    }
    // SAFETY: as in `contiguous_bytes`; every bit pattern is a valid f64.
    Some(unsafe {
        std::slice::from_raw_parts_mut(
            tile.as_ptr_mut().cast::<u8>(),
            tile.nrows() * tile.ncols() * std::mem::size_of::<f64>(),
        )
    })
}

impl Drop for DirStore {
    fn drop(&mut self) {
        // Pooled files are free space the run no longer needs.
        let _ = fs::remove_dir_all(&self.pool_dir);
        let _ = fs::remove_dir(self.root.join(POOL_DIR));
    }
}

/// Bytes of a tile file read before its header is parsed: every 2-D
/// header numpy writes fits.
const HEAD: usize = 4096;

/// Reads and decodes the open tile file of length `len`. I/O failures are
/// the outer error; bytes that are not a tile the inner one.
fn read_and_decode(
    file: &mut File,
    len: u64,
    buf: &mut Vec<u8>,
) -> io::Result<Result<Tile, npy::NpyError>> {
    let head_len = len.min(HEAD as u64) as usize;
    let mut head = [0u8; HEAD];
    file.read_exact(&mut head[..head_len])?;
    if let Ok((header, offset)) = npy::parse_header(&head[..head_len]) {
        let [rows, cols] = header.shape;
        // Fast path, every full tile this store writes: read the payload
        // straight into the tile's storage (one copy, from the page cache).
        if header.fortran_order && (offset as u64).checked_add(header.payload_len()) == Some(len) {
            let mut tile = Tile::new();
            // Fallible, so a sparse file claiming a huge shape is an error.
            if tile.try_reserve(rows, cols).is_ok() {
                tile.resize_with(rows, cols, |_, _| 0.0);
                if let Some(bytes) = contiguous_bytes_mut(&mut tile) {
                    let in_head = head_len - offset;
                    bytes[..in_head].copy_from_slice(&head[offset..head_len]);
                    file.read_exact(&mut bytes[in_head..])?;
                    return Ok(Ok(tile));
                }
            }
        }
    }
    // Everything else (C order, ragged tiles, damaged files) goes through
    // the codec, which reports exactly what is wrong.
    buf.clear();
    buf.extend_from_slice(&head[..head_len]);
    file.read_to_end(buf)?;
    Ok(npy::decode_tile(buf))
}

#[cfg(unix)]
fn same_file(a: &fs::Metadata, b: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_file(_: &fs::Metadata, _: &fs::Metadata) -> bool {
    true
}

impl Store for DirStore {
    fn get_tile(&self, matrix: &str, i: usize, j: usize) -> StoreResult<Option<Arc<Tile>>> {
        let path = self.tile_path(matrix, i, j)?;
        let read_err = || io_err(format!("reading {}", path.display()));
        // A put over this tile (a re-run job) or a delete can swap the file
        // while we read it: re-read until the path still names the file we
        // read, so the bytes are one whole tile.
        let decoded = loop {
            let mut file = match File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(read_err()(e)),
            };
            let meta = file.metadata().map_err(read_err())?;
            let decoded = BUFFER
                .with_borrow_mut(|buf| read_and_decode(&mut file, meta.len(), buf))
                .map_err(read_err())?;
            match fs::metadata(&path) {
                Ok(now) if same_file(&meta, &now) => break decoded,
                Ok(_) => continue,
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(read_err()(e)),
            }
        };
        let tile = decoded.map_err(|e| StoreError::Corrupt {
            what: format!("tile {matrix}[{i}, {j}] ({})", path.display()),
            reason: e.to_string(),
        })?;
        Ok(Some(Arc::new(tile)))
    }

    fn put_tile(&self, matrix: &str, i: usize, j: usize, tile: Arc<Tile>) -> StoreResult<()> {
        let dest = self.tile_path(matrix, i, j)?;
        self.ensure_matrix_dir(matrix)?;
        let header = npy::header_bytes(tile.nrows(), tile.ncols());
        let (size, replaced) = match contiguous_bytes(&tile) {
            // The .npy header, then the tile's own storage: no encoding copy.
            Some(payload) => self.put_parts(matrix, &[&header, payload], &dest)?,
            None => BUFFER.with_borrow_mut(|buf| {
                buf.clear();
                npy::write_tile(buf, &tile).map_err(io_err("encoding a tile"))?;
                self.put_parts(matrix, &[buf], &dest)
            })?,
        };
        self.add_held(size, replaced);
        Ok(())
    }

    fn delete_tile(&self, matrix: &str, i: usize, j: usize) -> StoreResult<()> {
        let path = self.tile_path(matrix, i, j)?;
        let size = match fs::metadata(&path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_err(format!("deleting {}", path.display()))(e)),
        };
        let recycle = {
            let pool = lock(&self.pool);
            pool.bytes + size <= self.pool_limit
        };
        let gone = if recycle {
            let slot = self.fresh_temp_path();
            match fs::rename(&path, &slot) {
                Ok(()) => {
                    let mut pool = lock(&self.pool);
                    pool.by_size.entry(size).or_default().push(slot);
                    pool.bytes += size;
                    true
                }
                Err(e) if e.kind() == ErrorKind::NotFound => false,
                Err(e) => return Err(io_err(format!("deleting {}", path.display()))(e)),
            }
        } else {
            match fs::remove_file(&path) {
                Ok(()) => true,
                Err(e) if e.kind() == ErrorKind::NotFound => false,
                Err(e) => return Err(io_err(format!("deleting {}", path.display()))(e)),
            }
        };
        if gone {
            self.add_held(0, size);
        }
        Ok(())
    }

    fn list_tiles(&self, matrix: &str) -> StoreResult<Vec<(usize, usize)>> {
        let mut out = Vec::new();
        self.tile_files(matrix, &mut |ij, _| out.push(ij))?;
        Ok(out)
    }

    fn tile_bytes(&self, matrix: &str) -> StoreResult<Option<u64>> {
        let mut bytes = 0;
        self.tile_files(matrix, &mut |_, entry| {
            // A file deleted since the listing holds nothing.
            bytes += entry.metadata().map_or(0, |m| m.len());
        })?;
        Ok(Some(bytes))
    }

    fn get_header(&self, matrix: &str) -> StoreResult<Option<MatrixHeader>> {
        validate_location(matrix)?;
        let Some(bytes) = self.read_small_file(matrix, HEADER_FILE)? else {
            return Ok(None);
        };
        // Parsing validates the header (`MatrixHeader::validate`): a tile
        // shape of zero or a dtype we do not hold is corrupt, like bad JSON.
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StoreError::Corrupt {
                what: format!(
                    "header of matrix {matrix} ({})",
                    self.root.join(matrix).join(HEADER_FILE).display()
                ),
                reason: e.to_string(),
            })
    }

    fn put_header(&self, matrix: &str, header: &MatrixHeader) -> StoreResult<()> {
        self.place_header(matrix, header, Place::Replace)
            .map(|_| ())
    }

    fn create_header(&self, matrix: &str, header: &MatrixHeader) -> StoreResult<bool> {
        self.place_header(matrix, header, Place::New)
    }

    fn get_doc(&self, location: &str, doc: &str) -> StoreResult<Option<Vec<u8>>> {
        validate_location(location)?;
        validate_doc(doc)?;
        self.read_small_file(location, doc)
    }

    fn put_doc(&self, location: &str, doc: &str, bytes: &[u8]) -> StoreResult<()> {
        validate_location(location)?;
        validate_doc(doc)?;
        self.put_small_file(location, doc, bytes)
    }

    fn list_children(&self, parent: &str) -> StoreResult<Vec<String>> {
        validate_listing(parent)?;
        let dir = self.root.join(parent);
        let mut out = Vec::new();
        for entry in dir_entries(&dir)? {
            let entry = entry?;
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            match entry.file_name().into_string() {
                Ok(name) if is_dir && name != POOL_DIR => out.push(name),
                _ => {}
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    fn remove_all(&self, location: &str) -> StoreResult<()> {
        validate_location(location)?;
        let dir = self.root.join(location);
        let bytes = Self::scan_bytes(&dir)?;
        match fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(format!("removing {}", dir.display()))(e)),
        }
        let below = format!("{location}/");
        lock(&self.made_dirs).retain(|m| m != location && !m.starts_with(&below));
        self.add_held(0, bytes);
        Ok(())
    }

    fn bundles(&self) -> StoreResult<Vec<StoredBundle>> {
        let dir = self.root.join(BUNDLES);
        let mut out = Vec::new();
        for entry in dir_entries(&dir)? {
            let entry = entry?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            // A bundle removed since the listing is gone, not an error.
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_file() && is_bundle_name(&name) {
                let modified = meta.modified().ok().and_then(|t| {
                    let since = t.duration_since(std::time::UNIX_EPOCH).ok()?;
                    Some(since.as_secs())
                });
                out.push(StoredBundle {
                    name,
                    bytes: meta.len(),
                    modified,
                });
            }
        }
        out.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn remove_bundle(&self, name: &str) -> StoreResult<()> {
        validate_bundle_name(name)?;
        let path = self.root.join(BUNDLES).join(name);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(format!("removing {}", path.display()))(e)),
        }
        // Only if empty: the last bundle leaves no folder behind.
        let _ = fs::remove_dir(self.root.join(BUNDLES));
        Ok(())
    }

    fn usage(&self) -> Option<StoreUsage> {
        Some(StoreUsage {
            bytes_held: self.bytes_held(),
            peak_bytes_held: self.peak_bytes_held(),
        })
    }

    /// Flushes every file at and below `location`, then each folder from
    /// there up to the root, so that the renames that put the files in
    /// place are on disk too (module doc, "Durability").
    fn sync(&self, location: &str) -> StoreResult<()> {
        validate_location(location)?;
        let dir = self.root.join(location);
        let (mut files, mut folders) = (Vec::new(), Vec::new());
        list_tree(&dir, &mut files, &mut folders)?;
        // Files before the folders that name them. Several at once keep
        // the disk's queue full: 288 MiB of fresh 8 MiB tiles flushed in
        // 0.15-0.18 s on 8 threads against 0.19-0.24 s on one (the
        // project's machine kind, 2026-12-04).
        crate::parallel::try_each(files.len(), FLUSHERS, || (), |k, _| sync_path(&files[k]))?;
        let below = folders.iter().rev().map(PathBuf::as_path);
        for folder in below.chain(dir.ancestors().skip(1)) {
            sync_path(folder)?;
            if folder == self.root {
                break;
            }
        }
        Ok(())
    }
}

/// Threads flushing a location's files ([`DirStore::sync`]).
const FLUSHERS: usize = 8;

/// Adds the files at and below `dir` to `files`, and `dir` and the folders
/// below it to `folders`, each folder before those inside it.
fn list_tree(dir: &Path, files: &mut Vec<PathBuf>, folders: &mut Vec<PathBuf>) -> StoreResult<()> {
    folders.push(dir.to_path_buf());
    for entry in dir_entries(dir)? {
        let entry = entry?;
        match entry.file_type().is_ok_and(|t| t.is_dir()) {
            true => list_tree(&entry.path(), files, folders)?,
            false => files.push(entry.path()),
        }
    }
    Ok(())
}

/// `fsync` of the file or folder at `path` (Linux flushes through a
/// read-only descriptor, and a folder can only be opened so); a file
/// removed meanwhile has nothing left to flush.
fn sync_path(path: &Path) -> StoreResult<()> {
    match File::open(path).and_then(|f| f.sync_all()) {
        Err(e) if e.kind() != ErrorKind::NotFound => {
            Err(io_err(format!("flushing {} to disk", path.display()))(e))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemStore;

    /// The step a file system without hard links gets: of writers racing
    /// to give one name to their files, one does and the rest are told the
    /// name exists, their files left where they were.
    #[test]
    fn rename_new_gives_a_name_once() {
        let tmp = tempfile::tempdir().unwrap();
        let to = tmp.path().join("header.json");
        let writers = 8;
        let froms: Vec<PathBuf> = (0..writers)
            .map(|w| {
                let from = tmp.path().join(format!("staged-{w}"));
                fs::write(&from, format!("writer {w}")).unwrap();
                from
            })
            .collect();
        let barrier = std::sync::Barrier::new(writers);
        let won: Vec<bool> = std::thread::scope(|s| {
            let racers: Vec<_> = froms
                .iter()
                .map(|from| {
                    s.spawn(|| {
                        barrier.wait();
                        rename_new(from, &to).unwrap()
                    })
                })
                .collect();
            racers.into_iter().map(|r| r.join().unwrap()).collect()
        });
        let winners: Vec<usize> = (0..writers).filter(|&w| won[w]).collect();
        assert_eq!(winners.len(), 1, "{won:?}");
        let w = winners[0];
        assert_eq!(fs::read_to_string(&to).unwrap(), format!("writer {w}"));
        for (v, from) in froms.iter().enumerate() {
            assert_eq!(from.exists(), v != w, "writer {v}'s staged file");
        }
        // Sequentially too: an existing name is refused and kept.
        assert!(!rename_new(&froms[(w + 1) % writers], &to).unwrap());
        assert_eq!(fs::read_to_string(&to).unwrap(), format!("writer {w}"));
    }

    #[test]
    fn a_header_the_code_cannot_use_is_corrupt_naming_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let store = DirStore::open(tmp.path()).unwrap();
        let path = tmp.path().join("T").join(HEADER_FILE);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        let cases = [
            (
                r#"{"shape": [4, 4], "tile_shape": [0, 0], "dtype": "f64", "symmetric": false}"#,
                "a matrix tile shape cannot be zero, found 0 x 0",
            ),
            (
                r#"{"shape": [4, 4], "tile_shape": [2, 2], "dtype": "f32", "symmetric": false}"#,
                "unknown element type \"f32\": only \"f64\" is supported",
            ),
            (
                r#"{"shape": [4, 6], "tile_shape": [2, 3], "dtype": "f64", "symmetric": false,
                    "triangle": "lower"}"#,
                "a lower-triangular matrix needs square tiles, found 2 x 3",
            ),
        ];
        for (json, reason) in cases {
            fs::write(&path, json).unwrap();
            let e = store.get_header("T").unwrap_err();
            assert!(matches!(e, StoreError::Corrupt { .. }), "{e:?}");
            assert_eq!(
                e.to_string(),
                format!("corrupt header of matrix T ({}): {reason}", path.display())
            );
        }
    }

    /// Each open store gets a new pool folder of its own, and leaves the
    /// folders it finds as they are (one named by a pid, as a crashed
    /// process of an earlier version left it): two containers' processes 1
    /// share the store's `~pool` and must not share, or empty, a pool.
    #[test]
    fn a_pool_folder_is_new_and_nobody_elses_is_touched() {
        let tmp = tempfile::tempdir().unwrap();
        let pools = tmp.path().join(POOL_DIR);
        let theirs = pools.join(format!("{}-0", std::process::id()));
        fs::create_dir_all(&theirs).unwrap();
        fs::write(theirs.join("t0"), "a file being renamed into place").unwrap();
        let made: Vec<PathBuf> = (0..3)
            .map(|_| DirStore::create_pool_dir(&pools).unwrap())
            .collect();
        let mut all: Vec<PathBuf> = fs::read_dir(&pools)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        all.sort();
        assert_eq!(all.len(), 4, "{all:?}");
        for dir in &made {
            assert!(all.contains(dir) && fs::read_dir(dir).unwrap().next().is_none());
        }
        assert_eq!(
            fs::read_to_string(theirs.join("t0")).unwrap(),
            "a file being renamed into place"
        );
    }

    /// A store whose pool folder another process's gc removed (it judges
    /// a process of another PID namespace by the folder's age) makes it
    /// again at its next write, owner included, instead of failing every
    /// write from then on.
    #[test]
    fn a_pool_removed_under_a_live_store_is_made_again() {
        let tmp = tempfile::tempdir().unwrap();
        let store = DirStore::open(tmp.path()).unwrap();
        fs::remove_dir_all(&store.pool_dir).unwrap();
        store
            .put_tile("T", 0, 0, Arc::new(Tile::zeros(2, 2)))
            .unwrap();
        assert_eq!(
            *store.get_tile("T", 0, 0).unwrap().unwrap(),
            Tile::zeros(2, 2)
        );
        let owner = fs::read(store.pool_dir.join(super::super::runs::OWNER_FILE)).unwrap();
        let owner: super::super::runs::ProcessId = serde_json::from_slice(&owner).unwrap();
        assert_eq!(owner.is_alive(), Some(true));
    }

    /// A tile file whose header claims a shape of 2^80 elements, over a
    /// payload of 8 bytes: refused as corrupt, with no overflow on the way
    /// (the payload's size saturates; the offset added to it must too).
    #[test]
    fn a_tile_claiming_an_astronomic_shape_is_corrupt() {
        let tmp = tempfile::tempdir().unwrap();
        let store = DirStore::open(tmp.path()).unwrap();
        store
            .put_tile("T", 0, 0, Arc::new(Tile::zeros(1, 1)))
            .unwrap();
        let dict = "{'descr': '<f8', 'fortran_order': True, \
                    'shape': (1099511627776, 1099511627776), }";
        let mut npy = b"\x93NUMPY\x01\x00".to_vec();
        let padded = (10 + dict.len() + 1).next_multiple_of(64) - 10;
        npy.extend_from_slice(&(padded as u16).to_le_bytes());
        npy.extend_from_slice(format!("{dict:<width$}\n", width = padded - 1).as_bytes());
        npy.extend_from_slice(&[0; 8]);
        let file = tmp.path().join("T").join("0_0.npy");
        assert!(file.is_file(), "the tile's file is where the test writes");
        fs::write(&file, npy).unwrap();
        let e = store.get_tile("T", 0, 0).unwrap_err();
        assert!(matches!(e, StoreError::Corrupt { .. }), "{e:?}");
    }

    #[test]
    fn no_store_takes_a_header_the_code_cannot_use() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DirStore::open(tmp.path()).unwrap();
        let mem = MemStore::new();
        let bad = MatrixHeader::new([4, 4], [0, 4], false);
        for store in [&dir as &dyn Store, &mem] {
            let e = store.put_header("T", &bad).unwrap_err();
            assert_eq!(
                e.to_string(),
                "corrupt header given for matrix T: a matrix tile shape cannot be zero, \
                 found 0 x 4"
            );
            assert!(store.get_header("T").unwrap().is_none());
        }
    }
}
