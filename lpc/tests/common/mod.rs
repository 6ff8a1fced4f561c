//! Helpers shared by the tests that run the real `lpc` binary and check its
//! answers with numpy (`run.rs`, `algorithms.rs`).

// Each test crate that includes this module uses a different subset of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const LPC: &str = env!("CARGO_BIN_EXE_lpc");

/// The repository root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

pub fn lpc(args: &[&str]) -> Output {
    Command::new(LPC).args(args).output().expect("lpc runs")
}

/// Runs `python3 ARGS...` and returns its stdout; fails the test, with
/// python's stderr, if it fails.
pub fn python3(args: &[&str]) -> String {
    run_python(&args.join(" "), args)
}

/// Runs the python `script` with `args` (its `sys.argv[1..]`) and returns
/// its stdout.
pub fn python(script: &str, args: &[&str]) -> String {
    let mut all = vec!["-c", script];
    all.extend_from_slice(args);
    run_python("a script", &all)
}

fn run_python(what: &str, args: &[&str]) -> String {
    let out = Command::new("python3")
        .args(args)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "python3 {what} failed (numpy is required: `pip install numpy`, which scripts/test.sh \
         does):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
