//! Runs sharing one directory store (docs/runtime.md, "Runs sharing a
//! store"), through the real `lpc`: concurrent runs of different programs
//! get exactly the answers they get alone, a stale import never stands in
//! for a declared input, a killed run is collected by `lpc store gc`
//! without touching other runs' outputs, and published results are read by
//! name.

mod common;

use common::{LPC, lpc, workspace};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn lib(name: &str) -> String {
    workspace()
        .join("lib")
        .join(name)
        .to_str()
        .unwrap()
        .to_string()
}

/// `lpc run` arguments of one case: a library program with its settings.
fn case(k: usize) -> Vec<String> {
    let args: Vec<String> = match k % 4 {
        0 => vec![lib("cholesky.lp"), "--set".into(), format!("seed={k}")],
        1 => vec![lib("gemm.lp"), "--set".into(), format!("seed_a={k}")],
        2 => vec![lib("trsolve.lp"), "--set".into(), format!("seed_b={k}")],
        _ => vec![lib("cholesky.lp"), "--set".into(), "seed=7".into()],
    };
    let sizes = match k % 4 {
        1 => [
            "--set", "m=256", "--set", "n=192", "--set", "k=160", "--set", "b=32",
        ]
        .as_slice(),
        2 => ["--set", "n=256", "--set", "nrhs=96", "--set", "b=32"].as_slice(),
        _ => ["--set", "n=320", "--set", "b=32"].as_slice(),
    };
    args.into_iter()
        .chain(sizes.iter().map(|s| s.to_string()))
        .collect()
}

fn output_name(k: usize) -> &'static str {
    match k % 4 {
        1 => "C",
        2 => "X",
        _ => "L",
    }
}

fn spawn_run(args: &[String], store: &str, out: &Path, k: usize) -> Child {
    Command::new(LPC)
        .arg("run")
        .args(args)
        .args(["--quiet", "--workers", "1", "--verify", "--store", store])
        .arg("--output")
        .arg(format!("{}={}", output_name(k), out.display()))
        .stderr(Stdio::piped())
        .spawn()
        .expect("lpc starts")
}

fn finish(child: Child, what: &str) -> Output {
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `count` different runs at once in one directory store: each output is
/// byte for byte the output of the same run alone in a memory store.
fn concurrent_runs(count: usize) {
    let dir = tempfile::tempdir().unwrap();
    let shared = format!("dir:{}", dir.path().join("store").display());
    let alone: Vec<PathBuf> = (0..count)
        .map(|k| {
            let out = dir.path().join(format!("alone{k}.npy"));
            finish(spawn_run(&case(k), "mem", &out, k), "alone");
            out
        })
        .collect();
    let together: Vec<(PathBuf, Child)> = (0..count)
        .map(|k| {
            let out = dir.path().join(format!("together{k}.npy"));
            let child = spawn_run(&case(k), &shared, &out, k);
            (out, child)
        })
        .collect();
    for (k, (out, child)) in together.into_iter().enumerate() {
        finish(child, &format!("concurrent run {k}"));
        assert_eq!(
            std::fs::read(&out).unwrap(),
            std::fs::read(&alone[k]).unwrap(),
            "run {k} ({:?}) differs from the same run alone",
            case(k)
        );
    }
    // Nothing but the finished runs' outputs and the inputs' records.
    let listing = String::from_utf8(lpc(&["store", "ls", &shared]).stdout).unwrap();
    let runs = listing.lines().filter(|l| l.starts_with("~runs/")).count();
    assert_eq!(runs, count, "{listing}");
    assert!(!listing.contains("running"), "{listing}");
}

#[test]
fn two_concurrent_runs_in_one_directory_store_get_their_own_answers() {
    concurrent_runs(2);
}

#[test]
fn eight_concurrent_runs_of_different_programs_get_their_own_answers() {
    concurrent_runs(8);
}

fn run_ok<S: AsRef<str>>(args: &[S]) -> String {
    let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    let out = lpc(&args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "lpc {args:?}: {stderr}");
    stderr
}

#[test]
fn a_stale_import_never_replaces_the_declared_input() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let store = format!("dir:{d}/store");
    let chol = lib("cholesky.lp");
    let sizes = ["--set", "n=200", "--set", "b=64"];
    // An SPD matrix that is not spd(42).
    common::python(
        "import numpy as np, sys\n\
         r = np.random.default_rng(3).standard_normal((200, 200))\n\
         np.save(sys.argv[1], r @ r.T + 200 * np.eye(200))",
        &[&format!("{d}/a1.npy")],
    );
    let with = |extra: &[&str]| -> Vec<String> {
        let mut v = vec!["run", &chol, "--quiet", "--verify"];
        v.extend_from_slice(&sizes);
        v.extend_from_slice(extra);
        v.into_iter().map(str::to_string).collect()
    };
    let import = format!("A={d}/a1.npy");
    run_ok(&with(&[
        "--store",
        &store,
        "--input",
        &import,
        "--output",
        &format!("L={d}/l1.npy"),
    ]));
    run_ok(&with(&[
        "--store",
        &store,
        "--output",
        &format!("L={d}/l2.npy"),
    ]));
    run_ok(&with(&["--output", &format!("L={d}/l3.npy")]));
    let read = |f: &str| std::fs::read(format!("{d}/{f}")).unwrap();
    assert_eq!(
        read("l2.npy"),
        read("l3.npy"),
        "the run used spd(42), not the import"
    );
    assert_ne!(read("l1.npy"), read("l2.npy"));
    // Importing the same file again is free: the tiles are found by content.
    let again = run_ok(&with(&["--store", &store, "--input", &import]));
    assert!(again.contains("verify"), "{again}");
    let listing = String::from_utf8(lpc(&["store", "ls", &store]).stdout).unwrap();
    let imports = listing
        .lines()
        .filter(|l| l.contains("import of a1.npy"))
        .count();
    assert_eq!(imports, 1, "{listing}");

    // An import stopped before its origin (written last) is listed as
    // such and collected; the next run imports the file again.
    let inputs = dir.path().join("store").join("~inputs");
    let key = std::fs::read_dir(&inputs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name();
    let key = key.to_str().unwrap();
    std::fs::remove_file(inputs.join(key).join("origin.json")).unwrap();
    let listing = String::from_utf8(lpc(&["store", "ls", &store]).stdout).unwrap();
    let line = listing.lines().find(|l| l.starts_with("~inputs/")).unwrap();
    assert_eq!(
        line,
        format!(
            "~inputs/{key}\t200 x 200 in 64 x 64 tiles, symmetric\t10 tiles, 204.5 KiB\t\
             an interrupted import (lpc store gc removes it)"
        )
    );
    let gc = String::from_utf8(lpc(&["store", "gc", &store]).stdout).unwrap();
    assert_eq!(
        gc,
        format!(
            "removed interrupted import ~inputs/{key}\n\
             gc: 0 dead run(s), 1 interrupted import(s) and 0 stale pool(s) removed\n"
        )
    );
    assert!(!inputs.join(key).exists());
    run_ok(&with(&["--store", &store, "--input", &import]));
    assert!(inputs.join(key).join("origin.json").is_file());
}

/// Waits until `dir` holds a file with a name ending in `.npy`.
fn wait_for_tiles(dir: &Path) {
    let started = Instant::now();
    loop {
        let found = walk(dir)
            .iter()
            .any(|p| p.extension().is_some_and(|e| e == "npy"));
        if found {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no tile appeared in {dir:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `lpc`'s way of writing a byte count.
fn human_bytes(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn a_killed_run_is_collected_and_other_runs_outputs_stay() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let store = format!("dir:{}", root.display());
    let chol = lib("cholesky.lp");
    let kept = dir.path().join("kept.npy");
    run_ok(&[
        "run",
        &chol,
        "--quiet",
        "--set",
        "n=256",
        "--set",
        "b=64",
        "--store",
        &store,
        "--publish",
        "L=kept",
        "--output",
        &format!("L={}", kept.display()),
    ]);
    let before = String::from_utf8(lpc(&["store", "ls", &store]).stdout).unwrap();

    let mut victim = Command::new(LPC)
        .args([
            "run",
            &chol,
            "--quiet",
            "--workers",
            "1",
            "--set",
            "n=1536",
            "--set",
            "b=64",
            "--store",
            &store,
        ])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_tiles(&root.join("~runs"));
    // Wait for a temp tile of the victim itself, not only the kept run's.
    let started = Instant::now();
    while !walk(&root.join("~runs"))
        .iter()
        .any(|p| p.to_string_lossy().contains("/S."))
    {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the victim wrote no temp tile"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Live, its temporaries are listed as such, with the bytes they hold.
    let live = String::from_utf8(lpc(&["store", "ls", &store]).stdout).unwrap();
    let temps: Vec<&str> = live
        .lines()
        .filter(|l| l.contains("/S.") && !before.lines().any(|b| b == *l))
        .collect();
    assert!(!temps.is_empty(), "{live}");
    for line in &temps {
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(fields[1], "(no header)", "{line}");
        assert_eq!(fields[3], "temporary of the run running", "{line}");
    }
    // (A temporary may be emptied between its listing and its sizing.)
    assert!(temps.iter().any(|l| !l.ends_with(" 0 B")), "{live}");
    victim.kill().unwrap();
    victim.wait().unwrap();
    // Killed, it is dead at once (this machine sees its process gone), and
    // its temporaries' sizes are their files'.
    let during = String::from_utf8(lpc(&["store", "ls", &store]).stdout).unwrap();
    let victims: Vec<&str> = during
        .lines()
        .filter(|l| !before.lines().any(|b| b == *l))
        .collect();
    assert!(!victims.is_empty(), "{during}");
    for line in &victims {
        assert!(
            line.ends_with(" dead (lpc store gc removes it)"),
            "the killed run is not listed as dead: {line}"
        );
        let fields: Vec<&str> = line.split('\t').collect();
        if fields[0].contains("/S.") {
            let files = walk(&root.join(fields[0]));
            let bytes: u64 = files.iter().map(|f| f.metadata().unwrap().len()).sum();
            let stored = format!("{} tiles, {}", files.len(), human_bytes(bytes));
            let expected = [
                "(no header)",
                &stored,
                "temporary of the run dead (lpc store gc removes it)",
            ];
            assert_eq!(fields[1..], expected, "{line}");
        }
    }
    assert!(
        root.join("~pool").read_dir().unwrap().count() >= 1,
        "the victim's pool is left behind"
    );

    let gc = lpc(&["store", "gc", &store]);
    let gc_out = String::from_utf8_lossy(&gc.stdout);
    assert!(gc.status.success(), "{gc_out}");
    assert!(
        gc_out.contains("gc: 1 dead run(s), 0 interrupted import(s) and 1 stale pool(s) removed"),
        "{gc_out}"
    );
    let after = String::from_utf8(lpc(&["store", "ls", &store]).stdout).unwrap();
    assert_eq!(
        after, before,
        "exactly what was there before the killed run"
    );
    assert!(
        !root.join("~pool").exists() || root.join("~pool").read_dir().unwrap().count() == 0,
        "pools left: {:?}",
        walk(&root.join("~pool"))
    );
    // The kept result still reads back whole: run a solve with it.
    run_ok(&[
        "run",
        &lib("trsolve.lp"),
        "--quiet",
        "--verify",
        "--set",
        "n=256",
        "--set",
        "nrhs=64",
        "--set",
        "b=64",
        "--store",
        &store,
        "--input",
        "L=store:kept",
    ]);
}

#[test]
fn published_results_are_read_by_name_and_protected_from_removal() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let store = format!("dir:{d}/store");
    let chol = lib("cholesky.lp");
    let trsolve = lib("trsolve.lp");
    let sizes = ["--set", "n=192", "--set", "b=64"];
    let mut args = vec![
        "run",
        chol.as_str(),
        "--quiet",
        "--store",
        &store,
        "--publish",
        "L=factor",
    ];
    args.extend_from_slice(&sizes);
    let published = run_ok(&args);
    assert!(
        published.contains("  published     L as factor\n"),
        "{published}"
    );

    // A solve reads it by name, verified against the published tiles.
    let solve = [
        "run",
        &trsolve,
        "--quiet",
        "--verify",
        "--set",
        "n=192",
        "--set",
        "nrhs=32",
        "--set",
        "b=64",
        "--store",
        &store,
        "--input",
        "L=store:factor",
    ];
    run_ok(&solve);

    // Wrong geometry, unknown names: refused before anything runs.
    let out = lpc(&[
        "run",
        &trsolve,
        "--quiet",
        "--set",
        "n=192",
        "--set",
        "nrhs=32",
        "--set",
        "b=32",
        "--store",
        &store,
        "--input",
        "L=store:factor",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: --input L=store:factor: `factor` is 192 x 192 in 64 x 64 tiles, lower but the program's L is 192 x 192 in 32 x 32 tiles, lower\n"
    );
    let out = lpc(&[
        "run",
        &trsolve,
        "--quiet",
        "--store",
        &store,
        "--input",
        "L=store:nope",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: --input L=store:nope: the store has no matrix `nope`\n"
    );

    // The run the name points into cannot be removed while it does.
    let listing = String::from_utf8(lpc(&["store", "ls", &store]).stdout).unwrap();
    let run = listing
        .lines()
        .find_map(|l| l.strip_prefix("~runs/"))
        .and_then(|l| l.split('/').next())
        .expect("the run is listed")
        .to_string();
    let out = lpc(&["store", "rm", &store, &format!("~runs/{run}")]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "error: cannot remove ~runs/{run}: `~runs/{run}` is published as `factor`; remove `factor` first\n"
        )
    );
    // Removing the name, then the run, leaves the store with inputs only.
    run_ok(&["store", "rm", &store, "factor", &format!("~runs/{run}")]);
    let listing = String::from_utf8(lpc(&["store", "ls", &store]).stdout).unwrap();
    assert!(
        listing
            .lines()
            .all(|l| l.starts_with("~inputs/") || l.starts_with("~runs/")),
        "{listing}"
    );
    assert!(!listing.contains(&run), "{listing}");
    let out = lpc(&["store", "rm", &store, "factor"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: cannot remove factor: no matrix or run `factor` in the store\n"
    );
}

/// Two runs publishing one name at once: the name ends up pointing at one
/// run's whole output (the later write), which reads back equal to that
/// run's own `--output`; the other run's output stays in its namespace.
#[test]
fn two_runs_publishing_one_name_leave_one_whole_result() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let store = format!("dir:{}/store", d.display());
    let children: Vec<Child> = [1, 2]
        .map(|seed| {
            Command::new(LPC)
                .args(["run", &lib("cholesky.lp"), "--quiet", "--workers", "1"])
                .args([
                    "--set",
                    "n=256",
                    "--set",
                    "b=32",
                    "--set",
                    &format!("seed={seed}"),
                ])
                .args(["--store", &store, "--publish", "L=factor"])
                .arg("--output")
                .arg(format!("L={}/l{seed}.npy", d.display()))
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .into_iter()
        .collect();
    for child in children {
        finish(child, "publishing run");
    }
    // Read the published factor back by name, through a program that
    // copies it out.
    let copy = d.join("copy.lp");
    std::fs::write(
        &copy,
        "param n = 256, b = 32, nt = ceil(n / b)\n\
         matrix L : lower f64[n, n] tile [b, b] input\n\
         matrix C : lower f64[n, n] tile [b, b] output\n\
         for i in range(nt) {\n    for j in range(i + 1) {\n        copy:\n            \
         %t = S3_LOAD L[i, j]\n            S3_WRITE C[i, j], %t\n    }\n}\n",
    )
    .unwrap();
    let out = format!("C={}/published.npy", d.display());
    run_ok(&[
        "run",
        copy.to_str().unwrap(),
        "--quiet",
        "--store",
        &store,
        "--input",
        "L=store:factor",
        "--output",
        &out,
    ]);
    let published = std::fs::read(d.join("published.npy")).unwrap();
    let own: Vec<Vec<u8>> = [1, 2]
        .map(|s| std::fs::read(d.join(format!("l{s}.npy"))).unwrap())
        .into();
    assert_ne!(own[0], own[1]);
    assert!(
        published == own[0] || published == own[1],
        "the published factor is one run's whole output"
    );
    let listing = String::from_utf8(lpc(&["store", "ls", &store]).stdout).unwrap();
    let outputs = listing
        .lines()
        .filter(|l| l.starts_with("~runs/") && l.contains("/L\t"))
        .count();
    assert_eq!(outputs, 2, "both outputs stay: {listing}");
}

/// One input tile read by every job of a 5,000-job loop (twice per job):
/// whether the run keeps the generated tile or regenerates it at each load
/// (`--input-cache 0`), every row of C is A + A. (That a load no longer
/// lists the tile's readers, which made such a run quadratic, is
/// `GeneratedInputs`' and `Plan::readers`' own tests, at two billion.)
#[test]
fn an_input_tile_read_by_every_job_is_served_without_listing_its_readers() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let prog = d.join("shared.lp");
    std::fs::write(
        &prog,
        "param n = 5000\n\
         matrix A : f64[2, 2] tile [2, 2] input = random(3)\n\
         matrix C : f64[2 * n, 2] tile [2, 2] output\n\
         for i in range(n) {\n    cp:\n        %x = ADD A[0, 0], A[0, 0]\n        \
         S3_WRITE C[i, 0], %x\n}\n",
    )
    .unwrap();
    let prog = prog.to_str().unwrap();
    for (cache, out) in [("0", "c0.npy"), ("1MiB", "c1.npy")] {
        let c = format!("C={}", d.join(out).display());
        let a = format!("A={}", d.join("a.npy").display());
        run_ok(&[
            "run",
            prog,
            "--quiet",
            "--input-cache",
            cache,
            "--output",
            &c,
            "--output",
            &a,
        ]);
    }
    let rows = common::python(
        "import numpy as np, sys\n\
         a = np.load(sys.argv[1])\n\
         for f in sys.argv[2:]:\n    \
         c = np.load(f)\n    \
         assert c.shape == (10000, 2), c.shape\n    \
         assert (c == np.tile(a + a, (5000, 1))).all(), f\n\
         print(len(sys.argv) - 2)",
        &[
            d.join("a.npy").to_str().unwrap(),
            d.join("c0.npy").to_str().unwrap(),
            d.join("c1.npy").to_str().unwrap(),
        ],
    );
    assert_eq!(rows.trim(), "2");
}

/// A corrupt header or link is one unreadable line of `lpc store ls`, not
/// the end of the listing; `rm` still tells a missing name from a corrupt
/// one, and removes the corrupt one.
#[test]
fn a_corrupt_entry_is_listed_and_removable_without_hiding_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let store = format!("dir:{d}");
    published_cholesky(&store, "good");
    std::fs::create_dir(dir.path().join("bad")).unwrap();
    std::fs::write(
        dir.path().join("bad/header.json"),
        r#"{"shape":[4,4],"tile_shape":[0,0],"dtype":"f64","symmetric":false,"triangle":null}"#,
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("badlink")).unwrap();
    std::fs::write(
        dir.path().join("badlink/link.json"),
        r#"{"location":"../../etc","published":1}"#,
    )
    .unwrap();
    // Not JSON at all: before any `rm` looked for links into what it
    // removes, this link stopped every removal.
    std::fs::create_dir(dir.path().join("notjson")).unwrap();
    std::fs::write(dir.path().join("notjson/link.json"), "{trunc").unwrap();
    let out = lpc(&["store", "ls", &store]);
    assert_eq!(out.status.code(), Some(0));
    let listing = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(lines.len(), 5, "{listing}");
    assert_eq!(
        lines[0],
        format!(
            "bad\t(unreadable)\t\tcorrupt header of matrix bad ({d}/bad/header.json): \
             a matrix tile shape cannot be zero, found 0 x 0"
        )
    );
    assert_eq!(
        lines[1],
        "badlink\t(unreadable)\t\tits link.json points at `../../etc`: invalid matrix name \
         \"../../etc\": each part of a location must be a valid matrix name"
    );
    assert!(
        lines[2].starts_with("good\t64 x 64 in 32 x 32 tiles, lower\t3 tiles"),
        "{listing}"
    );
    assert_eq!(
        lines[3],
        "notjson\t(unreadable)\t\tcorrupt notjson/link.json: key must be a string at line 1 \
         column 2"
    );
    let out = lpc(&["store", "rm", &store, "nonexist"]);
    assert_eq!(
        (out.status.code(), String::from_utf8(out.stderr).unwrap()),
        (
            Some(2),
            "error: cannot remove nonexist: no matrix or run `nonexist` in the store\n".to_string()
        )
    );
    // Names are removed in order; the first that fails stops the command,
    // after what it removed before is said.
    let out = lpc(&["store", "rm", &store, "bad", "nonexist", "badlink"]);
    assert_eq!(
        (
            out.status.code(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap()
        ),
        (
            Some(2),
            "removed bad\n".to_string(),
            "error: cannot remove nonexist: no matrix or run `nonexist` in the store\n".to_string()
        )
    );
    let out = lpc(&["store", "rm", &store, "badlink", "notjson"]);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "removed badlink\nremoved notjson\n"
    );
    assert_eq!(out.status.code(), Some(0));
    for gone in ["bad", "badlink", "notjson"] {
        assert!(!dir.path().join(gone).exists(), "{gone}");
    }
}

/// `lpc run` of a 64 x 64 trsolve (tiles of 32) in `store`, its L the
/// stored matrix `name`.
fn small_trsolve(store: &str, name: &str, extra: &[&str]) -> Output {
    let trsolve = lib("trsolve.lp");
    let input = format!("L=store:{name}");
    let mut args = vec![
        "run", &trsolve, "--quiet", "--store", store, "--input", &input,
    ];
    args.extend_from_slice(&["--set", "n=64", "--set", "nrhs=32", "--set", "b=32"]);
    args.extend_from_slice(extra);
    lpc(&args)
}

/// An input read from the store is read from there alone: a tile missing
/// there fails the run, where the program's initialiser once filled it in
/// silently (a wrong answer that passed its own verification).
#[test]
fn a_stored_input_missing_a_tile_fails_instead_of_using_the_initialiser() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let store = format!("dir:{d}");
    published_cholesky(&store, "factor");
    let link = std::fs::read_to_string(dir.path().join("factor/link.json")).unwrap();
    let location = link.split('"').nth(3).unwrap();
    std::fs::remove_file(dir.path().join(location).join("1_0.npy")).unwrap();
    let out = small_trsolve(&store, "factor", &["--verify"]);
    assert_eq!(
        (out.status.code(), String::from_utf8(out.stderr).unwrap()),
        (
            Some(1),
            "error: run failed: job \"update[0, 1, 0]\" (trsolve.lp:16): S3_LOAD on L[1, 0]: \
             the tile is not in the store and L has no initialiser\n"
                .to_string()
        )
    );
}

/// Publishing over a matrix written block by block is refused before the
/// run, not after it (which left the run's outputs behind for nothing).
#[test]
fn publishing_over_a_matrix_is_refused_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    std::fs::create_dir(dir.path().join("A")).unwrap();
    std::fs::write(
        dir.path().join("A/header.json"),
        r#"{"shape":[64,64],"tile_shape":[32,32],"dtype":"f64","symmetric":false,"triangle":null}"#,
    )
    .unwrap();
    let chol = lib("cholesky.lp");
    let store = format!("dir:{d}");
    let out = lpc(&[
        "run",
        &chol,
        "--quiet",
        "--store",
        &store,
        "--publish",
        "L=A",
        "--set",
        "n=64",
        "--set",
        "b=32",
    ]);
    assert_eq!(
        (out.status.code(), String::from_utf8(out.stderr).unwrap()),
        (
            Some(2),
            "error: --publish L: `A` is a matrix written block by block, not a published \
             result; remove it first (lpc store rm) to publish under its name\n"
                .to_string()
        )
    );
    assert!(!dir.path().join("~runs").exists(), "nothing ran");
}

/// A published name whose matrix is gone (older versions published removed
/// outputs) is said to be one, by `ls` and by a run reading it, naming the
/// fix, where both called it a matrix that is not there.
#[test]
fn a_dangling_published_name_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let store = format!("dir:{d}");
    std::fs::create_dir(dir.path().join("ghost")).unwrap();
    std::fs::write(
        dir.path().join("ghost/link.json"),
        r#"{"location":"~runs/run-1-2/L","published":1}"#,
    )
    .unwrap();
    let out = lpc(&["store", "ls", &store]);
    assert_eq!(
        (out.status.code(), String::from_utf8(out.stdout).unwrap()),
        (
            Some(0),
            "ghost\t(no header)\t0 tiles, 0 B\tthe published name `ghost` points at \
             ~runs/run-1-2/L, which is no longer in the store (lpc store rm ghost removes the \
             name)\n"
                .to_string()
        )
    );
    let out = small_trsolve(&store, "ghost", &[]);
    assert_eq!(
        (out.status.code(), String::from_utf8(out.stderr).unwrap()),
        (
            Some(2),
            "error: --input L=store:ghost: the published name `ghost` points at ~runs/run-1-2/L, \
             which is no longer in the store (`lpc store rm ghost` removes the name)\n"
                .to_string()
        )
    );
    let out = lpc(&["store", "rm", &store, "ghost"]);
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "removed ghost\n");
}

/// `lpc store ARGS...`: its exit code, stdout and stderr.
fn store_cmd(args: &[&str]) -> (Option<i32>, String, String) {
    let mut all = vec!["store"];
    all.extend_from_slice(args);
    let out = lpc(&all);
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// A 64 x 64 Cholesky (tiles of 32) in `store`, publishing L as `name`.
fn published_cholesky(store: &str, name: &str) {
    let publish = format!("L={name}");
    run_ok(&[
        "run",
        &lib("cholesky.lp"),
        "--quiet",
        "--set",
        "n=64",
        "--set",
        "b=32",
        "--store",
        store,
        "--publish",
        &publish,
    ]);
}

/// A store inside another (`dir:ROOT/sub`) is one entry of the outer
/// store's listing, which `rm` refuses (it once removed the whole nested
/// store, runs and published names included) and `gc` leaves alone.
#[test]
fn a_store_nested_in_another_is_listed_as_such_and_never_removed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let outer = format!("dir:{d}");
    published_cholesky(&format!("dir:{d}/sub"), "fac");
    // A store of matrices written block by block has nothing but them.
    std::fs::create_dir_all(dir.path().join("blocks/M")).unwrap();
    std::fs::write(
        dir.path().join("blocks/M/header.json"),
        r#"{"shape":[4,4],"tile_shape":[2,2],"dtype":"f64","symmetric":false,"triangle":null}"#,
    )
    .unwrap();
    let inner_before = store_cmd(&["ls", &format!("dir:{d}/sub")]);
    assert_eq!(inner_before.0, Some(0));
    assert!(
        inner_before.1.starts_with("fac\t64 x 64"),
        "{inner_before:?}"
    );
    assert_eq!(
        store_cmd(&["ls", &outer]),
        (
            Some(0),
            format!(
                "blocks\t(another store)\t\tit holds `M`; manage it as dir:{d}/blocks\n\
                 sub\t(another store)\t\tit holds runs; manage it as dir:{d}/sub\n"
            ),
            String::new()
        )
    );
    for (target, nested, holds) in [
        ("sub", "sub", "runs"),
        ("sub/fac", "sub", "runs"),
        ("blocks", "blocks", "`M`"),
    ] {
        assert_eq!(
            store_cmd(&["rm", &format!("{outer}/"), target]),
            (
                Some(2),
                String::new(),
                format!(
                    "error: cannot remove {target}: `{nested}` is another store (it holds \
                     {holds}); manage it as dir:{d}/{nested}\n"
                )
            )
        );
    }
    assert_eq!(
        store_cmd(&["gc", &outer]),
        (
            Some(0),
            "gc: 0 dead run(s), 0 interrupted import(s) and 0 stale pool(s) removed\n".into(),
            String::new()
        )
    );
    assert_eq!(store_cmd(&["ls", &format!("dir:{d}/sub")]), inner_before);
    assert!(dir.path().join("blocks/M/header.json").is_file());
}

/// A store root inside another store's own folders is refused before the
/// run; one such folder left by an older version, or any folder no store
/// writes, is one line of `ls` and `gc`, which go on with the rest (they
/// once stopped at it, exit 2).
#[test]
fn a_root_in_a_stores_own_folders_is_refused_and_a_bad_entry_never_ends_ls_or_gc() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out = lpc(&[
        "run",
        &lib("cholesky.lp"),
        "--quiet",
        "--store",
        &format!("dir:{d}/~runs"),
    ]);
    let refusal = "its path has a part `~runs`, the name of one of a store's own folders \
                   (`~runs`, `~inputs`, `~bundles`, `~pool`): a store above it would take this \
                   store's contents for its own";
    assert_eq!(
        (out.status.code(), String::from_utf8(out.stderr).unwrap()),
        (
            Some(2),
            format!("error: cannot open store {d}/~runs: {refusal}\n")
        )
    );
    assert!(!dir.path().join("~runs").exists(), "nothing was created");

    // What an older version left: a store at `~runs` (its own runs, bundles
    // and a published name), beside a real run and a folder no run makes.
    let store = format!("dir:{d}");
    published_cholesky(&store, "fac");
    let runs = dir.path().join("~runs");
    let run = std::fs::read_dir(&runs).unwrap().next().unwrap().unwrap();
    let run = run.file_name().into_string().unwrap();
    for folder in ["~runs/run-1/L", "~bundles", "mine", "bad name/L"] {
        std::fs::create_dir_all(runs.join(folder)).unwrap();
    }
    std::fs::write(runs.join("mine/link.json"), "{}").unwrap();
    let ls = store_cmd(&["ls", &store]);
    let expected = format!(
        "fac\t64 x 64 in 32 x 32 tiles, lower\t3 tiles, 24.0 KiB\t-> ~runs/{run}/L: L of run \
         {run} (cholesky.lp)\n\
         ~runs\t(another store)\t\tit holds runs; lpc store leaves it alone (no store can be \
         opened there)\n\
         ~runs/bad name\t(unreadable)\t\tinvalid matrix name \"~runs/bad name\": each part of \
         a location must be a valid matrix name\n\
         ~runs/{run}/L\t64 x 64 in 32 x 32 tiles, lower\t3 tiles, 24.0 KiB\tL of run {run} \
         (cholesky.lp) finished\n"
    );
    assert_eq!(ls, (Some(0), expected.clone(), String::new()));
    assert_eq!(
        store_cmd(&["gc", &store]),
        (
            Some(0),
            "skipped ~runs/bad name: invalid matrix name \"~runs/bad name\": each part of a \
             location must be a valid matrix name\n\
             skipped ~runs/mine: `~runs` also holds another store (it holds runs), and this \
             may be one of its names\n\
             gc: 0 dead run(s), 0 interrupted import(s) and 0 stale pool(s) removed\n"
                .to_string(),
            String::new()
        )
    );
    assert!(runs.join("mine/link.json").is_file());
    assert_eq!(
        store_cmd(&["ls", &store]),
        (Some(0), expected, String::new())
    );
}

/// Writes a bundle file `~bundles/<name>` of `bytes` bytes into the
/// directory store at `root`, last written `age` ago.
fn put_bundle(root: &Path, name: &str, bytes: usize, age: Duration) {
    let dir = root.join("~bundles");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, vec![7u8; bytes]).unwrap();
    let file = std::fs::File::options().write(true).open(&path).unwrap();
    file.set_modified(std::time::SystemTime::now() - age)
        .unwrap();
}

/// Bundles are listed, removed by name and collected once no run is
/// running (they once stayed for good, unlisted: `ls` said `(empty)`).
#[test]
fn bundles_are_listed_removable_and_collected_when_no_run_needs_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let store = format!("dir:{d}");
    let hour = Duration::from_secs(3600);
    let (old, new, gone) = ("0af3.lpb", "b2c4.lpb", "c5d6.lpb");
    put_bundle(dir.path(), old, 335, hour);
    put_bundle(dir.path(), new, 2048, Duration::ZERO);
    put_bundle(dir.path(), gone, 10, hour);
    let line = |name: &str, size: &str| {
        format!(
            "~bundles/{name}\t(program bundle)\t{size}\tlambda workers run it (lpc store gc \
             removes it when no run is running)\n"
        )
    };
    assert_eq!(
        store_cmd(&["ls", &store]).1,
        line(old, "335 B") + &line(new, "2.0 KiB") + &line(gone, "10 B")
    );
    // A running run (on another machine, heartbeat fresh) may need any.
    let record = dir.path().join("~runs/run-9-9");
    std::fs::create_dir_all(&record).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    std::fs::write(
        record.join("run.json"),
        format!(
            r#"{{"run":"run-9-9","program":"p.lp","state":"running",
                "owner":{{"boot":"","pid":1,"start":0}},"started":{now},"heartbeat":{now}}}"#
        ),
    )
    .unwrap();
    assert_eq!(
        store_cmd(&["rm", &store, &format!("~bundles/{gone}")]),
        (
            Some(2),
            String::new(),
            format!(
                "error: cannot remove ~bundles/{gone}: run `run-9-9` is running and may need \
                 `~bundles/{gone}`; remove it once no run is running\n"
            )
        )
    );
    let idle = "gc: 0 dead run(s), 0 interrupted import(s) and 0 stale pool(s) removed\n";
    assert_eq!(
        store_cmd(&["gc", &store]),
        (Some(0), idle.into(), String::new())
    );
    std::fs::remove_dir_all(&record).unwrap();
    assert_eq!(
        store_cmd(&[
            "rm",
            &store,
            &format!("~bundles/{gone}"),
            "~bundles/nope.lpb"
        ]),
        (
            Some(2),
            format!("removed ~bundles/{gone}\n"),
            "error: cannot remove ~bundles/nope.lpb: no matrix or run `~bundles/nope.lpb` in \
             the store\n"
                .into()
        )
    );
    // Only the bundle older than --stale-after goes.
    assert_eq!(
        store_cmd(&["gc", &store]),
        (
            Some(0),
            format!(
                "removed unused bundle ~bundles/{old}\n\
                 gc: 0 dead run(s), 0 interrupted import(s), 1 unused bundle(s) and 0 stale \
                 pool(s) removed\n"
            ),
            String::new()
        )
    );
    assert_eq!(store_cmd(&["ls", &store]).1, line(new, "2.0 KiB"));
    put_bundle(dir.path(), new, 2048, Duration::from_secs(60));
    assert_eq!(
        store_cmd(&["gc", &store, "--stale-after", "30"]).1,
        format!(
            "removed unused bundle ~bundles/{new}\n\
             gc: 0 dead run(s), 0 interrupted import(s), 1 unused bundle(s) and 0 stale \
             pool(s) removed\n"
        )
    );
    assert_eq!(store_cmd(&["ls", &store]).1, "(empty)\n");
    assert!(!dir.path().join("~bundles").exists());
}

/// A tile a worker of a cancelled run writes after the run's clean-up is
/// an orphan of a removed run, whatever matrix it is of (it was called a
/// temporary of the run, even for the output L).
#[test]
fn a_tile_written_after_its_run_was_removed_is_listed_as_orphaned() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let store = format!("dir:{d}");
    let l = dir.path().join("~runs/run-1-2/L");
    std::fs::create_dir_all(&l).unwrap();
    std::fs::write(l.join("1_0.npy"), vec![0u8; 8320]).unwrap();
    assert_eq!(
        store_cmd(&["ls", &store]),
        (
            Some(0),
            "~runs/run-1-2/L\t(no header)\t1 tiles, 8.1 KiB\torphaned tiles of a removed run \
             (no record; lpc store gc removes them)\n"
                .into(),
            String::new()
        )
    );
    assert_eq!(
        store_cmd(&["gc", &store]).1,
        "removed dead run run-1-2\n\
         gc: 1 dead run(s), 0 interrupted import(s) and 0 stale pool(s) removed\n"
    );
    assert_eq!(store_cmd(&["ls", &store]).1, "(empty)\n");
}

/// An input refused for what its file holds leaves no tiles behind (it
/// once left an "interrupted import" of the tiles before the refusal).
#[test]
fn an_input_refused_during_its_import_leaves_nothing_in_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    common::python(
        "import numpy as np, sys\n\
         r = np.random.default_rng(1).standard_normal((64, 64))\n\
         a = r @ r.T + 64 * np.eye(64)\n\
         a[40, 40] = np.nan\n\
         np.save(sys.argv[1], a)",
        &[&format!("{d}/nan.npy")],
    );
    let store = format!("dir:{d}/store");
    let out = lpc(&[
        "run",
        &lib("cholesky.lp"),
        "--quiet",
        "--set",
        "n=64",
        "--set",
        "b=32",
        "--store",
        &store,
        "--input",
        &format!("A={d}/nan.npy"),
    ]);
    assert_eq!(
        (out.status.code(), String::from_utf8(out.stderr).unwrap()),
        (
            Some(2),
            format!(
                "error: cannot import {d}/nan.npy: {d}/nan.npy holds inf or NaN, whose \
                 symmetry cannot be checked, but matrix A is declared sym: element (40, 40) \
                 is NaN\n"
            )
        )
    );
    assert_eq!(store_cmd(&["ls", &store]).1, "(empty)\n");
    let inputs = dir.path().join("store/~inputs");
    assert!(
        !inputs.exists() || inputs.read_dir().unwrap().count() == 0,
        "{:?}",
        walk(&inputs)
    );
}

/// A collection of `gc` that fails (here `~inputs` is a file, where a
/// folder should be) is named, exit 2, after what the others removed,
/// which they once left unsaid.
#[test]
fn gc_says_what_it_removed_before_a_collection_fails() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let run = dir.path().join("~runs/run-1-2/L");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::write(run.join("0_0.npy"), "tile").unwrap();
    std::fs::write(dir.path().join("~inputs"), "not a folder").unwrap();
    let (code, stdout, stderr) = store_cmd(&["gc", &format!("dir:{d}")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(
        stdout,
        "removed dead run run-1-2\n\
         gc: 1 dead run(s), 0 interrupted import(s) and 0 stale pool(s) removed\n"
    );
    assert!(
        stderr.starts_with(&format!(
            "error: cannot collect interrupted imports: listing {d}/~inputs: "
        )),
        "{stderr}"
    );
    assert!(!dir.path().join("~runs/run-1-2").exists());
}
