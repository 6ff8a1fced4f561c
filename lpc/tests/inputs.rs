//! Getting a run's inputs in place (issue #9, item 4): a lazily
//! initialised input tile is generated once per run and kept for its later
//! readers, with outputs byte for byte those of generating it at every load;
//! `--input` files imported on several threads give the tiles of a
//! sequential import; an imported input's tiles are updated in place by
//! their last readers unless something reads them after the run.

mod common;
#[path = "../../lp-runtime/tests/journal_support/mod.rs"]
mod journal_support;

use common::{LPC, python, workspace};
use journal_support::Journal;
use lp_program::{Plan, Program, Role};
use lp_runtime::local::{LocalOptions, run_local};
use lp_runtime::matrix::{self, TileAt, Transfer};
use lp_runtime::store::namespace::Origin;
use lp_runtime::store::{GeneratedInputs, MemStore, Namespace, RunStore, Store, StoreResult};
use lp_std::Tile;
use lpc::frontend::{CompileOptions, Compiled, compile_source};
use lpc::placement::{InputSource, PlacementError, place_with};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Places posv's inputs in `store` as its run `run-1` would.
fn place_posv(
    store: &dyn Store,
    program: &Program,
    supplied: &[(&str, InputSource)],
    workers: usize,
    transfer: Transfer<'_>,
) -> Result<Namespace, PlacementError> {
    place_with(
        store, program, "posv.lp", "run-1", supplied, workers, transfer,
    )
}

fn compile(lib: &str, settings: &[(&str, i64)]) -> Compiled {
    let src = std::fs::read_to_string(workspace().join("lib").join(lib)).unwrap();
    let opts = CompileOptions {
        settings: settings.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        ..CompileOptions::default()
    };
    compile_source(&src, lib, &opts)
        .expect("known settings")
        .compiled
        .expect("the library compiles")
}

/// A memory store that counts the tile reads of each matrix.
#[derive(Default)]
struct Counting {
    inner: MemStore,
    gets: Mutex<HashMap<(String, usize, usize), u32>>,
}

impl Counting {
    fn gets(&self, matrix: &str, i: usize, j: usize) -> u32 {
        self.gets.lock().unwrap()[&(matrix.to_string(), i, j)]
    }

    fn gets_of(&self, matrix: &str) -> Vec<u32> {
        let gets = self.gets.lock().unwrap();
        let mut v: Vec<u32> = gets
            .iter()
            .filter(|((m, _, _), _)| m == matrix)
            .map(|(_, &n)| n)
            .collect();
        v.sort();
        v
    }
}

// By path: with `StoreLayer` in scope, `get_tile` on a layer would be ambiguous.
impl lp_runtime::store::StoreLayer for Counting {
    fn inner(&self) -> &dyn Store {
        &self.inner
    }
    fn get_tile(&self, matrix: &str, i: usize, j: usize) -> StoreResult<Option<Arc<Tile>>> {
        *self
            .gets
            .lock()
            .unwrap()
            .entry((matrix.to_string(), i, j))
            .or_insert(0) += 1;
        self.inner.get_tile(matrix, i, j)
    }
}

/// Runs `plan` on one worker keeping `budget` bytes of generated inputs;
/// the store, and every tile of `output` as raw bits. One worker, because
/// the counts are exact only then: two first loads of a tile at the same
/// time both ask the store before either keeps it (the tile is still
/// generated once).
fn run(plan: &Plan, budget: u64, output: &str) -> (Arc<Counting>, Vec<Vec<u64>>) {
    let store = Arc::new(Counting::default());
    let opts = LocalOptions {
        workers: 1,
        input_budget: budget,
        ..LocalOptions::default()
    };
    run_local(plan, store.clone(), &opts, &|_| {}).expect("the run succeeds");
    let info = plan
        .program()
        .matrices
        .iter()
        .find(|m| m.name == output)
        .unwrap();
    let [rows, cols] = info.header.grid();
    let mut bits = Vec::new();
    for i in 0..rows {
        for j in 0..cols {
            let t = store.inner.get_tile(output, i, j).unwrap().expect("stored");
            bits.push(
                (0..t.ncols())
                    .flat_map(|c| t.col_as_slice(c).iter().map(|v| v.to_bits()))
                    .collect(),
            );
        }
    }
    (store, bits)
}

#[test]
fn generated_input_tiles_are_made_once_and_the_product_is_unchanged() {
    // 37 x 23 times 23 x 31 in tiles of 10: 4 x 3 times 3 x 4 tiles, ragged.
    let gemm = compile("gemm.lp", &[("m", 37), ("k", 23), ("n", 31), ("b", 10)]);
    let plan = gemm.plan();
    let (kept, c_kept) = run(plan, 1 << 30, "C");
    let (regenerated, c_regenerated) = run(plan, 0, "C");
    assert_eq!(c_kept, c_regenerated, "C differs bit for bit");
    // Each tile of A is read by the 4 jobs of its row of C, each of B by the
    // 4 of its column; kept, the store is asked once (then the tile is
    // generated, and later readers get it from memory).
    assert_eq!(kept.gets_of("A"), vec![1; 12]);
    assert_eq!(kept.gets_of("B"), vec![1; 12]);
    assert_eq!(regenerated.gets_of("A"), vec![4; 12]);
    assert_eq!(regenerated.gets_of("B"), vec![4; 12]);
    // A budget below a whole tile (800 bytes) keeps only ragged edge tiles:
    // each whole tile is generated for each of its readers.
    let (small, c_small) = run(plan, 799, "C");
    assert_eq!(c_small, c_kept);
    for (i, j) in [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)] {
        assert_eq!(small.gets("A", i, j), 4, "A[{i}, {j}]");
    }
}

#[test]
fn a_kept_tile_is_generated_once_and_dropped_after_its_last_reader() {
    let gemm = compile("gemm.lp", &[("m", 20), ("k", 20), ("n", 30), ("b", 10)]);
    let plan = gemm.plan();
    let store = MemStore::default();
    let inputs = GeneratedInputs::new(&store, plan, 1 << 30);
    // A[1, 0] has 3 readers (the jobs of row 1 of C), loaded from 3 threads.
    let tiles: Vec<Arc<Tile>> = std::thread::scope(|s| {
        let loads: Vec<_> = (0..3)
            .map(|_| s.spawn(|| inputs.get_tile("A", 1, 0).unwrap().unwrap()))
            .collect();
        loads.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(inputs.generated(), 1);
    assert_eq!(inputs.kept_bytes(), 0, "dropped after its last reader");
    let info = &plan.program().matrices[0];
    assert_eq!(info.name, "A");
    let expected = info.init.as_ref().unwrap().tile(&info.header, 1, 0);
    for t in &tiles {
        assert!(Arc::ptr_eq(t, &tiles[0]), "one tile, shared");
        assert_eq!(**t, expected);
    }
    // Z is read once: generated for its reader, never kept.
    let z = inputs.get_tile("Z", 0, 0).unwrap().unwrap();
    assert_eq!((inputs.generated(), inputs.kept_bytes()), (2, 0));
    assert_eq!(Arc::strong_count(&z), 1);
}

/// Placement marks an initialised input with nothing stored as generated,
/// and the run's store answers its loads without asking the store
/// underneath (on S3, a GET answered 404 per load saved); an input whose
/// origin someone cached in the store is read from there as before.
#[test]
fn inputs_stored_nowhere_are_generated_without_asking_the_store() {
    let gemm = compile("gemm.lp", &[("m", 20), ("k", 20), ("n", 30), ("b", 10)]);
    let (program, plan) = (gemm.program(), gemm.plan());
    let info = |name: &str| program.matrices.iter().find(|m| m.name == name).unwrap();
    let shared = Arc::new(Counting::default());
    // A's origin document at its location: tiles of it may be there.
    let a_at = Namespace::new("earlier").location(info("A"));
    let a_origin = Origin::Init {
        init: info("A").init.as_ref().unwrap().call(),
    };
    a_origin.write(&shared.inner, &a_at).unwrap();
    let ns = place_with(
        shared.as_ref(),
        program,
        "gemm.lp",
        "run-1",
        &[],
        1,
        Transfer::unwatched(),
    )
    .unwrap();
    let generated: BTreeSet<String> = ["B", "Z"].map(String::from).into();
    assert_eq!(ns.generated, generated);

    let store = Arc::new(RunStore::new(shared.clone(), program, &ns));
    let opts = LocalOptions {
        workers: 1,
        ..LocalOptions::default()
    };
    run_local(plan, store, &opts, &|_| {}).expect("the run succeeds");
    // A's 2 x 2 tiles were asked for once each (then kept for their other
    // readers); B's and Z's never.
    assert_eq!(shared.gets_of(&a_at), vec![1; 4]);
    for name in ["B", "Z"] {
        assert_eq!(shared.gets_of(&ns.location(info(name))), Vec::<u32>::new());
    }
}

/// Writes `name.npy` into `dir`: a `rows x cols` matrix of distinct values,
/// in Fortran order when `fortran`, symmetric when `sym`.
fn write_npy(dir: &Path, name: &str, rows: usize, cols: usize, fortran: bool, sym: bool) {
    let script = r#"
import sys, numpy as np
path, r, c, fortran, sym = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1", sys.argv[5] == "1"
a = np.arange(r * c, dtype=np.float64).reshape(r, c) / 7.0 + 1.0
if sym:
    a = a + a.T
np.save(path, np.asfortranarray(a) if fortran else np.ascontiguousarray(a))
"#;
    let path = dir.join(format!("{name}.npy"));
    let flag = |b: bool| if b { "1" } else { "0" };
    python(
        script,
        &[
            path.to_str().unwrap(),
            &rows.to_string(),
            &cols.to_string(),
            flag(fortran),
            flag(sym),
        ],
    );
}

#[test]
fn parallel_imports_give_the_tiles_of_a_sequential_one() {
    // posv: A symmetric (n x n), B general (n x nrhs); ragged tiles of 16.
    let posv = compile("posv.lp", &[("n", 70), ("nrhs", 37), ("b", 16)]);
    let program = posv.program();
    let files = tempfile::tempdir().unwrap();
    for (fortran, order) in [(true, "F"), (false, "C")] {
        write_npy(files.path(), &format!("A{order}"), 70, 70, fortran, true);
        write_npy(files.path(), &format!("B{order}"), 70, 37, fortran, false);
    }
    for order in ["F", "C"] {
        let a = files.path().join(format!("A{order}.npy"));
        let b = files.path().join(format!("B{order}.npy"));
        let supplied = [("A", InputSource::File(&a)), ("B", InputSource::File(&b))];
        let place = |workers: usize| {
            let store = MemStore::default();
            let ns = place_posv(&store, program, &supplied, workers, Transfer::unwatched())
                .expect("the inputs import");
            (store, ns)
        };
        let (one, ns_one) = place(1);
        for workers in [2, 3, 5] {
            let (many, ns_many) = place(workers);
            assert_eq!(ns_many, ns_one);
            for info in program.matrices.iter().filter(|m| m.role == Role::Input) {
                let at = ns_one.location(info);
                let mut tiles = one.list_tiles(&at).unwrap();
                tiles.sort();
                let mut again = many.list_tiles(&at).unwrap();
                again.sort();
                assert_eq!(tiles, again, "{} ({order}, {workers} workers)", info.name);
                assert!(!tiles.is_empty());
                for (i, j) in tiles {
                    let x = one.get_tile(&at, i, j).unwrap().unwrap();
                    let y = many.get_tile(&at, i, j).unwrap().unwrap();
                    assert_eq!(x, y, "{}[{i}, {j}]", info.name);
                }
            }
        }
    }
    // The same tiles as the values in the file: one spot check per input.
    let a = files.path().join("AC.npy");
    let store = MemStore::default();
    let supplied = [("A", InputSource::File(&a))];
    let ns = place_posv(&store, program, &supplied, 2, Transfer::unwatched()).unwrap();
    let info = program.matrices.iter().find(|m| m.name == "A").unwrap();
    let mut at = info.clone();
    at.name = ns.location(info);
    let t = matrix::load_tile(&store, &at, TileAt::new(4, 2)).unwrap();
    // Element (64 + 1, 32 + 3) of a + aᵀ with a[r, c] = (70 r + c) / 7 + 1.
    let entry = |r: usize, c: usize| (70 * r + c) as f64 / 7.0 + 1.0;
    assert_eq!(t[(1, 3)], entry(65, 35) + entry(35, 65));
}

#[test]
fn placement_reports_the_bytes_it_reads_and_stops_when_asked() {
    let posv = compile("posv.lp", &[("n", 70), ("nrhs", 37), ("b", 16)]);
    let program = posv.program();
    let files = tempfile::tempdir().unwrap();
    write_npy(files.path(), "A", 70, 70, true, true);
    write_npy(files.path(), "B", 70, 37, false, false);
    let (a, b) = (files.path().join("A.npy"), files.path().join("B.npy"));
    let supplied = [("A", InputSource::File(&a)), ("B", InputSource::File(&b))];
    // Each file is hashed whole, then imported: the symmetric A from its
    // diagonal tiles down.
    let total = lpc::placement::placement_bytes(program, &supplied);
    let size = |p: &Path| std::fs::metadata(p).unwrap().len();
    let a_lower: u64 = (0..4).map(|bj| 16 * (70 - 16 * bj)).sum::<u64>() + 6 * (70 - 64);
    assert_eq!(total, size(&a) + size(&b) + 8 * (a_lower + 70 * 37));
    let read = AtomicU64::new(0);
    let never = AtomicBool::new(false);
    let counting = Transfer {
        stop: &never,
        progress: &|bytes| {
            read.fetch_add(bytes, Ordering::SeqCst);
        },
    };
    let store = MemStore::default();
    let ns = place_posv(&store, program, &supplied, 2, counting).unwrap();
    assert_eq!(read.load(Ordering::SeqCst), total);
    // Stopped at its first chunk, a placement ends with an interruption
    // and records no import as whole (no origin).
    let stop = AtomicBool::new(false);
    let stopping = Transfer {
        stop: &stop,
        progress: &|_| stop.store(true, Ordering::SeqCst),
    };
    let fresh = MemStore::default();
    let err = place_posv(&fresh, program, &supplied, 1, stopping).unwrap_err();
    assert!(err.is_interrupted(), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "cannot import {}: interrupted; {} not imported",
            a.display(),
            a.display()
        )
    );
    for info in program.matrices.iter().filter(|m| m.role == Role::Input) {
        let at = ns.location(info);
        assert_eq!(Origin::read(&fresh, &at).unwrap(), None, "{}", info.name);
        assert_eq!(fresh.list_tiles(&at).unwrap(), [], "{}", info.name);
    }
}

/// A store in which another process's `lpc store gc` removes the import's
/// first tile as soon as it is written (it took the location, which has no
/// origin record yet, for an interrupted import).
#[derive(Default)]
struct Collected {
    inner: MemStore,
}

impl lp_runtime::store::StoreLayer for Collected {
    fn inner(&self) -> &dyn Store {
        &self.inner
    }

    fn put_tile(&self, matrix: &str, i: usize, j: usize, tile: Arc<Tile>) -> StoreResult<()> {
        self.inner.put_tile(matrix, i, j, tile)?;
        if matrix.starts_with("~inputs/") && (i, j) == (0, 0) {
            self.inner.delete_tile(matrix, i, j)?;
        }
        Ok(())
    }
}

/// posv at n = 70 on tiles of 16 (the last ragged), and an `.npy` file of
/// its A in a folder that lives as long as the returned guard.
fn posv_with_a_file() -> (Compiled, tempfile::TempDir, std::path::PathBuf) {
    let posv = compile("posv.lp", &[("n", 70), ("nrhs", 37), ("b", 16)]);
    let files = tempfile::tempdir().unwrap();
    write_npy(files.path(), "A", 70, 70, true, true);
    let a = files.path().join("A.npy");
    (posv, files, a)
}

/// An import that lost a tile while it was written is an error, and its
/// location gets no origin record: the record would vouch for tiles that
/// are not there, and every later run would reuse them.
#[test]
fn an_import_that_lost_a_tile_is_never_called_whole() {
    let (posv, _files, a) = posv_with_a_file();
    let program = posv.program();
    let store = Collected::default();
    let supplied = [("A", InputSource::File(&a))];
    let e = place_posv(&store, program, &supplied, 2, Transfer::unwatched()).unwrap_err();
    let message = e.to_string();
    let path = a.display();
    assert!(
        message.starts_with(&format!("cannot import {path}: tiles of ~inputs/")),
        "{message}"
    );
    assert!(
        message.ends_with(
            " were removed while they were written (an `lpc store gc` at the same time?); \
             run again"
        ),
        "{message}"
    );
    let imports = store.inner.list_children("~inputs").unwrap();
    assert_eq!(imports.len(), 1, "{imports:?}");
    let at = format!("~inputs/{}", imports[0]);
    assert_eq!(Origin::read(&store.inner, &at).unwrap(), None);
}

/// An import is flushed to disk before its origin record says it is whole
/// (after a crash of the machine, a record over tiles that never reached
/// the disk would have every later run reuse them); a failed flush is an
/// error naming what it flushed, and writes no record.
#[test]
fn an_import_is_flushed_before_its_origin_vouches_for_it() {
    let (posv, _files, a) = posv_with_a_file();
    let program = posv.program();
    let supplied = [("A", InputSource::File(&a))];

    let store = Journal::default();
    let ns = place_posv(&store, program, &supplied, 2, Transfer::unwatched()).unwrap();
    let at = ns.inputs["A"].clone();
    // The outputs' origins are written too, in the run's namespace.
    let events: Vec<String> = store
        .events()
        .into_iter()
        .filter(|e| e.contains(&at))
        .collect();
    assert_eq!(
        events,
        [format!("sync {at}"), format!("doc {at}/origin.json")]
    );

    let store = Journal::failing();
    let e = place_posv(&store, program, &supplied, 2, Transfer::unwatched()).unwrap_err();
    assert_eq!(e.to_string(), format!("flushing {at} to disk: disk error"));
    assert_eq!(Origin::read(&store.inner, &at).unwrap(), None);
}

/// `lpc run ARGS --quiet --workers 1`, which must succeed within a minute
/// (a tile taken from under its other reader would stall the run): the
/// summary's `inputs` line, if any, with its spaces collapsed.
fn run_lpc<S: AsRef<str>>(args: &[S]) -> Option<String> {
    let mut all = vec!["run", "--quiet", "--workers", "1"];
    all.extend(args.iter().map(AsRef::as_ref));
    let mut child = Command::new(LPC)
        .args(&all)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("lpc starts");
    let started = Instant::now();
    while child.try_wait().expect("lpc runs").is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            child.kill().ok();
            panic!("lpc {all:?} still running after a minute");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("lpc ran");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "lpc {all:?}:\n{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.trim_start().starts_with("inputs "))?;
    Some(line.split_whitespace().collect::<Vec<_>>().join(" "))
}

#[test]
fn imported_inputs_are_updated_in_place_unless_read_after_the_run() {
    // posv on ragged 16-row tiles: A's 15 lower tiles (read as S[0]) and
    // B's 5 x 3 (read as R[0]) each have one reader.
    let dir = tempfile::tempdir().unwrap();
    let at = |name: &str| dir.path().join(name).display().to_string();
    let spd = r#"
import sys, numpy as np
rng = np.random.default_rng(3)
m = rng.uniform(-1, 1, (70, 70))
np.save(sys.argv[1], np.asfortranarray(m @ m.T + 70 * np.eye(70)))
np.save(sys.argv[2], rng.uniform(-1, 1, (70, 37)))
"#;
    python(spd, &[&at("A.npy"), &at("B.npy")]);
    let posv = workspace().join("lib/posv.lp").display().to_string();
    let args = |x: &str| -> Vec<String> {
        let sizes = ["--set", "n=70", "--set", "nrhs=37", "--set", "b=16"];
        let files = [
            "--input".to_string(),
            format!("A={}", at("A.npy")),
            "--input".to_string(),
            format!("B={}", at("B.npy")),
            "--output".to_string(),
            format!("X={}", at(x)),
        ];
        [posv.clone()]
            .into_iter()
            .chain(sizes.map(String::from))
            .chain(files)
            .collect()
    };
    assert_eq!(
        run_lpc(&args("consumed.npy")),
        Some("inputs 30 imported tiles updated in place, not copied".to_string())
    );
    // --verify reads A and B after the run: they are kept, and copied.
    let mut verified = args("verified.npy");
    verified.push("--verify".to_string());
    assert_eq!(run_lpc(&verified), None);
    // An --output of an input reads it after the run too: A is kept (and
    // written as it was read), B's 15 tiles alone are consumed.
    let mut exported = args("exported.npy");
    exported.extend(["--output".to_string(), format!("A={}", at("A_out.npy"))]);
    assert_eq!(
        run_lpc(&exported),
        Some("inputs 15 imported tiles updated in place, not copied".to_string())
    );
    // The same bits either way (the kernels compute in place or on a
    // copy alike), and numpy's solution.
    let check = r#"
import sys, numpy as np
d = sys.argv[1]
a, b = np.load(f"{d}/A.npy"), np.load(f"{d}/B.npy")
x, y = np.load(f"{d}/consumed.npy"), np.load(f"{d}/verified.npy")
assert np.array_equal(x, y), "in place and copied differ"
assert np.array_equal(x, np.load(f"{d}/exported.npy")), "B alone in place differs"
assert np.array_equal(a, np.load(f"{d}/A_out.npy")), "A's export differs from A"
r = np.linalg.norm(a @ x - b) / (np.linalg.norm(a) * np.linalg.norm(x))
assert r < 1e-14, r
print("ok")
"#;
    assert_eq!(python(check, &[&at("")]).trim(), "ok");
}

#[test]
fn one_file_for_two_inputs_is_kept_for_both() {
    // A file imported for two inputs is stored once, at one location: a
    // hand-over to A's reader would take B's tile from under B's.
    let dir = tempfile::tempdir().unwrap();
    write_npy(dir.path(), "M", 6, 6, false, false);
    let program = dir.path().join("add.lp");
    std::fs::write(
        &program,
        "matrix A : f64[6, 6] tile [3, 3] input\n\
         matrix B : f64[6, 6] tile [3, 3] input\n\
         matrix C : f64[6, 6] tile [3, 3] output\n\
         for i in range(2) {\n\
         for j in range(2) {\n\
         add:\n\
         %c = ADD A[i, j], B[i, j]\n\
         S3_WRITE C[i, j], %c\n\
         }\n\
         }\n",
    )
    .unwrap();
    let at = |name: &str| dir.path().join(name).display().to_string();
    let (program, m, c) = (at("add.lp"), at("M.npy"), at("C.npy"));
    let (a, b, c) = (format!("A={m}"), format!("B={m}"), format!("C={c}"));
    let line = run_lpc(&[&program, "--input", &a, "--input", &b, "--output", &c]);
    assert_eq!(line, None);
    let check = r#"
import sys, numpy as np
m, c = np.load(sys.argv[1]), np.load(sys.argv[2])
assert np.array_equal(c, 2 * m), c
print("ok")
"#;
    assert_eq!(python(check, &[&at("M.npy"), &at("C.npy")]).trim(), "ok");
}
