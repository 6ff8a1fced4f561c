//! End-to-end runs of the real `lpc` binary, checked against numpy.
//!
//! `tests/run/*.lp`: each program is run with `--verify`, every matrix is
//! exported to `.npy`, and numpy recomputes the answer from the exported
//! inputs (so initialisers are covered too): `numpy.linalg.cholesky` for a
//! Cholesky, `A @ B` for a GEMM, `numpy.linalg.solve(tril(L), B)` for a
//! triangular solve; for the solves, least squares and QR, LAPACK's own
//! test ratio (backward error over n ε, below 30). A program the residual
//! check does not recognise states
//! what must hold in `; expect: X == Y` lines (exact equality). The report is
//! an insta snapshot, so adding a case is adding a file.
//!
//! The remaining tests cover what a user meets when things go wrong: a
//! matrix that is not SPD, a corrupted tile file, a truncated bundle, an
//! interrupted run, and `.npy` inputs written by numpy itself.

mod common;

use common::{LPC, lpc, python, workspace};
use lp_runtime::verify::Check;
use std::path::Path;
use std::process::Command;

/// Prints the largest error relative to the reference's largest entry.
const REFERENCE: &str = r#"
import sys, numpy as np
kind, d = sys.argv[1], sys.argv[2]
ld = lambda name: np.load(f"{d}/{name}.npy")
if kind == "cholesky":
    a, l = ld("A"), ld("L")
    assert np.array_equal(a, a.T), "A is not symmetric"
    ref = np.linalg.cholesky(a)
    assert not np.triu(l, 1).any(), "L has entries above the diagonal"
    got = l
elif kind == "gemm":
    ref, got = ld("A") @ ld("B"), ld("C")
elif kind == "trsolve":
    ref, got = np.linalg.solve(np.tril(ld("L")), ld("B")), ld("X")
print(np.abs(got - ref).max() / np.abs(ref).max())
"#;

/// Prints LAPACK's test ratio for the answer (below 30 passes).
const RATIO: &str = r#"
import sys, numpy as np
kind, d = sys.argv[1], sys.argv[2]
ld = lambda name: np.load(f"{d}/{name}.npy")
n1 = lambda x: np.linalg.norm(x, 1)
eps = np.finfo(float).eps
a = ld("A")
m, n = a.shape
if kind == "solve":
    b, x = ld("B"), ld("X")
    print(n1(a @ x - b) / (n1(a) * n1(x) * n * eps))
elif kind == "lstsq":
    b, x = ld("B"), ld("X")
    print(n1(a.T @ (a @ x - b)) / (n1(a) * (n1(a) * n1(x) + n1(b)) * m * eps))
elif kind == "qr":
    r = ld("R")
    assert not np.tril(r, -1).any(), "R has entries below the diagonal"
    print(n1(a.T @ a - r.T @ r) / (n1(a) ** 2 * m * eps))
"#;

const EQUAL: &str = r#"
import sys, numpy as np
x, y = np.load(sys.argv[1]), np.load(sys.argv[2])
print("equal" if x.shape == y.shape and np.array_equal(x, y) else f"different: {x.shape} {y.shape}")
"#;

#[test]
fn programs_in_tests_run() {
    insta::glob!("../../tests/run", "*.lp", |path| {
        let src = std::fs::read_to_string(path).unwrap();
        let compiled = lpc::frontend::compile_source(&src, "run.lp", &Default::default())
            .expect("no settings")
            .compiled
            .expect("run programs compile");
        let program = compiled.program();
        let out_dir = tempfile::tempdir().unwrap();
        let dir = out_dir.path().to_str().unwrap();
        let mut args = vec!["run".to_string(), path.to_str().unwrap().to_string()];
        args.extend(["--verify", "--quiet"].map(String::from));
        let check = Check::detect(program);
        if check.is_none() {
            args.retain(|a| a != "--verify");
        }
        for m in &program.matrices {
            if m.role != lp_program::Role::Temp {
                args.push("--output".into());
                args.push(format!("{}={dir}/{}.npy", m.name, m.name));
            }
        }
        let out = lpc(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "lpc run failed:\n{stderr}");

        let mut report = Vec::new();
        match check {
            Some(check) => {
                let (kind, what) = match check {
                    Check::Cholesky { .. } => ("cholesky", "L against numpy.linalg.cholesky(A)"),
                    Check::Gemm { .. } => ("gemm", "C against A @ B"),
                    Check::TriSolve { .. } => {
                        ("trsolve", "X against numpy.linalg.solve(tril(L), B)")
                    }
                    Check::Solve { .. } => ("solve", "‖A X − B‖ / (‖A‖ ‖X‖ n ε)"),
                    Check::LeastSquares { .. } => {
                        ("lstsq", "‖Aᵀ (A X − B)‖ / (‖A‖ (‖A‖ ‖X‖ + ‖B‖) m ε)")
                    }
                    Check::Qr { .. } => ("qr", "‖AᵀA − RᵀR‖ / (‖A‖² m ε)"),
                    Check::Lu { .. } => panic!("LU runs are tested in tests/algorithms.rs"),
                };
                if matches!(kind, "cholesky" | "gemm" | "trsolve") {
                    let err: f64 = python(REFERENCE, &[kind, dir]).trim().parse().unwrap();
                    assert!(err < 1e-12, "{what}: relative error {err:e}");
                    report.push(format!("{what}: relative error below 1e-12"));
                } else {
                    let ratio: f64 = python(RATIO, &[kind, dir]).trim().parse().unwrap();
                    assert!(ratio < 30.0, "{what} = {ratio}");
                    report.push(format!("{what}: below LAPACK's threshold of 30"));
                }
                let verify = stderr
                    .lines()
                    .find(|l| l.contains("verify"))
                    .expect("a verify line");
                assert!(verify.ends_with(": ok"), "{verify}");
                report.push("lpc --verify: ok".to_string());
            }
            None => {
                let expectations: Vec<_> = src
                    .lines()
                    .filter_map(|l| l.strip_prefix("; expect: "))
                    .collect();
                assert!(
                    !expectations.is_empty(),
                    "unverifiable program without `; expect:` lines"
                );
                for e in expectations {
                    let (x, y) = e.split_once(" == ").expect("`; expect: X == Y`");
                    let verdict = python(
                        EQUAL,
                        &[&format!("{dir}/{x}.npy"), &format!("{dir}/{y}.npy")],
                    );
                    assert_eq!(verdict.trim(), "equal", "{e}");
                    report.push(format!("{x} == {y}: exactly equal"));
                }
            }
        }
        let jobs = stderr.lines().find(|l| l.starts_with("finished")).unwrap();
        report.insert(0, jobs.split(" in ").next().unwrap().to_string());
        insta::assert_snapshot!(report.join("\n"));
    });
}

#[test]
fn non_spd_input_names_job_kernel_and_tile_and_writes_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let prog = dir.path().join("bad.lp");
    // random(1) is symmetric-storage but not positive definite.
    std::fs::write(
        &prog,
        "matrix A : sym f64[6, 6] tile [3, 3] input = random(1)\n\
         matrix L : f64[6, 6] tile [3, 3] output\n\
         step_0:\n    %0 = S3_LOAD A[0, 0]\n    %1 = CHOL %0\n    S3_WRITE L[0, 0], %1\n",
    )
    .unwrap();
    let out_file = dir.path().join("L.npy");
    let out = lpc(&[
        "run",
        prog.to_str().unwrap(),
        "--quiet",
        "--output",
        &format!("L={}", out_file.display()),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let error = stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .expect("an error line");
    assert!(
        error.starts_with(
            "error: run failed: job \"step_0\" (bad.lp:5): CHOL on A[0, 0] (result for L[0, 0]): \
             matrix is not positive definite (pivot "
        ),
        "{error}"
    );
    assert!(!out_file.exists(), "no output file after a failed run");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "nothing but the program"
    );
}

#[test]
fn corrupted_tile_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let prog = dir.path().join("p.lp");
    std::fs::write(
        &prog,
        "matrix A : f64[4, 4] tile [4, 4] input\n\
         matrix B : f64[4, 4] tile [4, 4] output\n\
         copy:\n    %0 = S3_LOAD A[0, 0]\n    %1 = ADD %0, %0\n    S3_WRITE B[0, 0], %1\n",
    )
    .unwrap();
    // A matrix written block by block (by the Python package, say), read
    // by name.
    let store = dir.path().join("store");
    std::fs::create_dir_all(store.join("A")).unwrap();
    std::fs::write(
        store.join("A/header.json"),
        r#"{"shape": [4, 4], "tile_shape": [4, 4], "dtype": "f64", "symmetric": false}"#,
    )
    .unwrap();
    std::fs::write(store.join("A/0_0.npy"), b"\x93NUMPY garbage").unwrap();
    let out = lpc(&[
        "run",
        prog.to_str().unwrap(),
        "--quiet",
        "--store",
        &format!("dir:{}", store.display()),
        "--input",
        "A=store:A",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("job \"copy\""), "{stderr}");
    assert!(
        stderr.contains("0_0.npy"),
        "the corrupt file is named: {stderr}"
    );
    // The failed run removed everything it wrote; the caller's A stays.
    let left: Vec<_> = std::fs::read_dir(store.join("~runs")).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
    assert!(store.join("A/0_0.npy").exists());
}

#[test]
fn truncated_bundle_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("c.lpb");
    let example = workspace().join("examples/cholesky_4x4.lp");
    let out = lpc(&[
        "build",
        example.to_str().unwrap(),
        "-o",
        bundle.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The whole bundle runs...
    let out = lpc(&["run", bundle.to_str().unwrap(), "--quiet", "--verify"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // ...a truncated one is refused before anything runs.
    let bytes = std::fs::read(&bundle).unwrap();
    std::fs::write(&bundle, &bytes[..bytes.len() - 10]).unwrap();
    let out = lpc(&["run", bundle.to_str().unwrap(), "--quiet"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with(&format!("error: {}: ", bundle.display())),
        "{stderr}"
    );
    assert!(stderr.contains("truncated"), "{stderr}");
}

#[test]
fn npy_input_written_by_numpy_and_directory_store() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    // numpy writes a C-order SPD matrix; we factor it from a directory store.
    python(
        "import sys, numpy as np\n\
         r = np.random.default_rng(5).standard_normal((70, 70))\n\
         np.save(sys.argv[1] + '/A.npy', r @ r.T + 70 * np.eye(70))",
        &[d],
    );
    let prog = dir.path().join("chol.lp");
    let text = lpc(&["gen", "cholesky", "--n", "70", "--tile", "16"]).stdout;
    let text = String::from_utf8(text)
        .unwrap()
        .replace(" input = spd(seed)", " input");
    std::fs::write(&prog, text).unwrap();
    let out = lpc(&[
        "run",
        prog.to_str().unwrap(),
        "--quiet",
        "--verify",
        "--store",
        &format!("dir:{d}/store"),
        "--input",
        &format!("A={d}/A.npy"),
        "--output",
        &format!("L={d}/L.npy"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err: f64 = python(
        "import sys, numpy as np\n\
         a, l = np.load(sys.argv[1] + '/A.npy'), np.load(sys.argv[1] + '/L.npy')\n\
         r = np.linalg.cholesky(a)\n\
         print(np.abs(l - r).max() / np.abs(r).max())",
        &[d],
    )
    .trim()
    .parse()
    .unwrap();
    assert!(err < 1e-12, "relative error {err:e}");
    // Each stored tile is itself a .npy file numpy opens.
    let tile = python(
        "import sys, numpy as np\nprint(np.load(sys.argv[1]).shape)",
        &[&format!(
            "{d}/store/~runs/{}/L/4_0.npy",
            only_run(&format!("{d}/store"))
        )],
    );
    assert_eq!(tile.trim(), "(6, 16)");
}

/// The id of the one run in directory store `root`.
fn only_run(root: &str) -> String {
    let runs: Vec<_> = std::fs::read_dir(format!("{root}/~runs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs[0].clone()
}

#[test]
fn missing_input_is_a_usage_error() {
    let prog = workspace().join("tests/pass/inputs_without_initialiser.lp");
    let out = lpc(&["run", prog.to_str().unwrap(), "--quiet"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("has no initialiser; supply it with --input"),
        "{stderr}"
    );
}

/// Ctrl-C, and the SIGTERM of `kill`, `timeout` or a CI cancellation (and
/// SIGHUP), cancel a run alike: the workers stop, the store is cleaned,
/// and no output is written (where SIGTERM used to kill the process and
/// leave the run's namespace behind).
#[cfg(unix)]
#[test]
fn interrupt_stops_cleanly_without_output() {
    for signal in ["-INT", "-TERM", "-HUP"] {
        interrupted_by(signal);
    }
}

#[cfg(unix)]
fn interrupted_by(signal: &str) {
    let dir = tempfile::tempdir().unwrap();
    let prog = dir.path().join("big.lp");
    // 64 x 64 tiles: 45,760 jobs, several seconds in a test build.
    let text = lpc(&["gen", "cholesky", "--n", "2048", "--tile", "32"]).stdout;
    std::fs::write(&prog, text).unwrap();
    let out_file = dir.path().join("L.npy");
    let store = dir.path().join("store");
    let child = Command::new(LPC)
        .args([
            "run",
            prog.to_str().unwrap(),
            "--quiet",
            "--workers",
            "1",
            "--store",
            &format!("dir:{}", store.display()),
            "--output",
        ])
        .arg(format!("L={}", out_file.display()))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{signal}: {stderr}");
    assert!(
        stderr.contains("interrupted; no output written"),
        "{signal}: {stderr}"
    );
    assert!(!out_file.exists());
    // Nothing of the run is left in the store: no namespace, no pool.
    let left: Vec<_> = std::fs::read_dir(store.join("~runs")).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
    assert!(
        !store.join("~pool").exists(),
        "the recycled-file pool is removed"
    );
}

/// An input file that does not fit its matrix is named as the user named
/// it, not by the content-addressed location the import goes to.
#[test]
fn input_errors_name_the_programs_matrix() {
    let dir = tempfile::tempdir().unwrap();
    let prog = |n: &str| {
        let path = dir.path().join(format!("chol{n}.lp"));
        let text = lpc(&["gen", "cholesky", "--n", n, "--tile", "300"]).stdout;
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let (small, large) = (prog("700"), prog("1000"));
    // Factors to feed back as inputs: one of the wrong size, one that is
    // not symmetric.
    let factor = |prog: &str, name: &str| {
        let path = dir.path().join(name).to_str().unwrap().to_string();
        let out = lpc(&["run", prog, "--quiet", "--output", &format!("L={path}")]);
        assert_eq!(out.status.code(), Some(0));
        path
    };
    let (l700, l1000) = (factor(&small, "l700.npy"), factor(&large, "l1000.npy"));
    let out = lpc(&["run", &large, "--quiet", "--input", &format!("A={l700}")]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "error: cannot import {l700}: {l700} holds a 700 x 700 array but matrix A is 1000 x 1000\n"
        )
    );
    let out = lpc(&["run", &large, "--quiet", "--input", &format!("A={l1000}")]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let want = format!(
        "error: cannot import {l1000}: {l1000} is not symmetric but matrix A is declared sym: \
         element (1, 0) is "
    );
    assert!(stderr.starts_with(&want), "{stderr}");
}

/// `lpc run` of a 4096 x 4096 x 64 product (tiles of 512) in a directory
/// store in `dir`, with `extra` arguments, sent SIGINT once its jobs have
/// finished (the summary's first line): its exit code and stderr.
#[cfg(unix)]
fn interrupted_after_the_jobs(dir: &Path, extra: &[String]) -> (Option<i32>, String) {
    use std::io::{BufRead, BufReader, Read};
    let prog = dir.join("gemm.lp");
    let text = lpc(&[
        "gen", "gemm", "--m", "4096", "--n", "4096", "--k", "64", "--tile", "512",
    ])
    .stdout;
    std::fs::write(&prog, text).unwrap();
    let mut child = Command::new(LPC)
        .args(["run", prog.to_str().unwrap(), "--store"])
        .arg(format!("dir:{}", dir.join("store").display()))
        .args(extra)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("finished 64 jobs") {
        let mut line = String::new();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "{seen}");
        seen.push_str(&line);
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    stderr.read_to_string(&mut seen).unwrap();
    (child.wait().unwrap().code(), seen)
}

/// Ctrl-C after the jobs finished, while the output is being written (2 s
/// for this 128 MiB matrix in a test build), abandons the file and the run.
#[cfg(unix)]
#[test]
fn interrupt_while_writing_the_output_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("C.npy");
    let extra = [
        "--quiet".to_string(),
        "--output".to_string(),
        format!("C={}", out_file.display()),
    ];
    let (code, seen) = interrupted_after_the_jobs(dir.path(), &extra);
    assert_eq!(code, Some(130), "{seen}");
    let error = format!("error: interrupted; {} not written\n", out_file.display());
    assert!(seen.ends_with(&error), "{seen}");
    let files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(files.len(), 2, "only the program and the store: {files:?}");
    let left: Vec<_> = std::fs::read_dir(dir.path().join("store/~runs"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Ctrl-C after the jobs finished, while `--verify` reads the answer back
/// (most of a second for this product in a test build, minutes for a large
/// matrix in a directory store), stops the check: exit 130, nothing kept or
/// published. The stop flag used to be read again only by an `--output`'s
/// export, so without one the run went on to publish and exit 0.
#[cfg(unix)]
#[test]
fn interrupt_while_verifying_keeps_and_publishes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let extra = ["--verify", "--publish", "C=product"].map(String::from);
    let (code, seen) = interrupted_after_the_jobs(dir.path(), &extra);
    assert_eq!(code, Some(130), "{seen}");
    // The check ends at its next tile; should the signal come after its
    // last, the outputs' last point of return says the same.
    assert!(
        seen.ends_with("error: interrupted while verifying; no output written\n")
            || seen.ends_with("error: interrupted; no output written\n"),
        "{seen}"
    );
    let store = dir.path().join("store");
    assert!(!store.join("product").exists(), "nothing is published");
    let left: Vec<_> = std::fs::read_dir(store.join("~runs")).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

/// The loop Cholesky of the library and its flat expansion compute the same
/// factor, bit for bit, and run the same number of jobs.
#[test]
fn loop_and_flat_programs_compute_identical_factors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let flat = d.join("flat.lp");
    let text = lpc(&["gen", "cholesky", "--n", "100", "--tile", "16", "--flat"]).stdout;
    std::fs::write(&flat, text).unwrap();
    let lib = workspace().join("lib/cholesky.lp");
    let (lib, flat) = (lib.to_str().unwrap(), flat.to_str().unwrap());
    let loop_out = format!("L={}", d.join("loop.npy").display());
    let flat_out = format!("L={}", d.join("flat.npy").display());
    let runs: [Vec<&str>; 2] = [
        vec![
            "run", lib, "--set", "n=100", "--set", "b=16", "--quiet", "--verify", "--output",
            &loop_out,
        ],
        vec!["run", flat, "--quiet", "--verify", "--output", &flat_out],
    ];
    let mut jobs = Vec::new();
    for args in &runs {
        let out = lpc(args);
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(out.status.success(), "{stderr}");
        let finished = stderr.lines().find(|l| l.starts_with("finished")).unwrap();
        jobs.push(finished.split(" in ").next().unwrap().to_string());
    }
    assert_eq!(jobs[0], jobs[1]);
    assert_eq!(jobs[0], "finished 84 jobs");
    let a = std::fs::read(d.join("loop.npy")).unwrap();
    let b = std::fs::read(d.join("flat.npy")).unwrap();
    assert!(a == b, "the two factors differ");
}

/// A program may declare a grid of billions of tiles and touch a few: no
/// run allocates per declared tile.
#[test]
fn a_huge_grid_with_few_tiles_runs_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let prog = dir.path().join("huge.lp");
    std::fs::write(
        &prog,
        "; 4e9 x 4e9 tiles of 1 x 1 declared, two touched.\n\
         matrix A : f64[4000000000, 4000000000] tile [1, 1] input = random(3)\n\
         matrix B : lower f64[4000000000, 4000000000] tile [1, 1] output\n\
         for i in range(2) {\n    copy:\n        %b = ADD A[i, 0], A[i, 0]\n        S3_WRITE B[i, 0], %b\n}\n",
    )
    .unwrap();
    let started = std::time::Instant::now();
    let out = lpc(&["run", prog.to_str().unwrap(), "--quiet"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("finished 2 jobs"), "{stderr}");
    // The warning counts the untouched output tiles without listing them.
    assert!(
        stderr.contains("warning: 8000000001999999998 of 8000000002000000000 tiles of output `B` are never written"),
        "{stderr}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
}

/// `--verify` on answers a residual's plain arithmetic got wrong: the
/// exact zero solution of a zero right-hand side (0 / 0), and matrices
/// scaled near either end of the double range (norms whose squares or
/// products overflow or underflow). Each is a correct answer and passes.
#[test]
fn verify_passes_exact_and_extremely_scaled_answers() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    python(
        "import numpy as np, sys\n\
         d = sys.argv[1]; r = np.random.default_rng(5)\n\
         g = r.standard_normal((40, 40)) + 40 * np.eye(40)\n\
         np.save(f'{d}/g.npy', g); np.save(f'{d}/z.npy', np.zeros((40, 3)))\n\
         np.save(f'{d}/big.npy', 1e200 * g)\n\
         s = g @ g.T; np.save(f'{d}/tiny.npy', 1e-200 * s)",
        &[d],
    );
    let generate = |name: &str, sizes: &[&str]| {
        let out = lpc(&[&["gen", name][..], sizes].concat());
        assert!(out.status.success());
        let path = format!("{d}/{name}.lp");
        std::fs::write(&path, out.stdout).unwrap();
        path
    };
    let gesv = generate("gesv", &["--n", "40", "--nrhs", "3", "--tile", "16"]);
    let qr = generate("qr", &["--m", "40", "--n", "40", "--tile", "16"]);
    let chol = generate("cholesky", &["--n", "40", "--tile", "16"]);
    let cases: [(&str, &[String]); 3] = [
        (&gesv, &[format!("A={d}/g.npy"), format!("B={d}/z.npy")]),
        (&qr, &[format!("A={d}/big.npy")]),
        (&chol, &[format!("A={d}/tiny.npy")]),
    ];
    for (program, inputs) in cases {
        let mut args = vec!["run", program, "--verify", "--quiet"];
        for input in inputs {
            args.extend(["--input", input]);
        }
        let out = lpc(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{program}: {stderr}");
        let verify = stderr
            .lines()
            .find(|l| l.trim_start().starts_with("verify"))
            .unwrap();
        assert!(verify.ends_with(": ok"), "{program}: {verify}");
    }
}
