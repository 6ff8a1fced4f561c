//! The real `lpc` binary: exit codes (0 clean, 1 errors or denied warnings,
//! 2 usage or I/O errors), stdin input, `--format json`, `graph --stats`
//! and `gen` piped into `check`.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn repo(path: &str) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    root.join(path).display().to_string()
}

fn lpc(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lpc"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or_default()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[test]
fn clean_program_exits_0_silently() {
    let out = lpc(&["check", &repo("examples/cholesky_2x2.lp")], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
    assert_eq!(text(&out.stdout), "");
}

#[test]
fn errors_exit_1_with_a_summary() {
    let out = lpc(&["check", &repo("tests/fail/tile_written_twice.lp")], None);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("error: tile L[0, 0] is written twice\n"),
        "{stderr}"
    );
    assert!(
        stderr.ends_with("error: could not compile: 1 error\n"),
        "{stderr}"
    );
}

#[test]
fn missing_file_exits_2_with_one_line() {
    let out = lpc(&["check", "no/such/file.lp"], None);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "error: cannot read no/such/file.lp: No such file or directory (os error 2)\n"
    );
}

#[test]
fn usage_error_exits_2() {
    let out = lpc(&["check", "--format", "xml", "x.lp"], None);
    assert_eq!(out.status.code(), Some(2));
    let out = lpc(&["gen", "cholesky", "--n", "8", "--tile", "0"], None);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(text(&out.stderr), "error: --tile must be at least 1\n");
    assert_eq!(text(&out.stdout), "");
}

#[test]
fn warnings_exit_0_unless_denied() {
    let file = repo("tests/warn/unused_register.lp");
    let out = lpc(&["check", &file], None);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stderr).ends_with("warning: 1 warning emitted\n"));
    let out = lpc(&["check", "--deny", "warnings", &file], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).ends_with("error: 1 warning denied (--deny warnings)\n"));
}

#[test]
fn stdin_is_read_with_dash() {
    let src = std::fs::read(repo("tests/fail/unknown_matrix.lp")).unwrap();
    let out = lpc(&["check", "-"], Some(&src));
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("┌─ <stdin>:5:18"), "{stderr}");
}

#[test]
fn json_format_gives_one_object_per_diagnostic() {
    let out = lpc(
        &[
            "check",
            "--format",
            "json",
            &repo("tests/fail/register_defined_twice.lp"),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    let objects: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objects.len(), 1, "{stderr}");
    let d = &objects[0];
    assert_eq!(d["severity"], "error");
    assert_eq!(d["message"], "register `%0` is defined twice");
    let labels = d["labels"].as_array().unwrap();
    assert_eq!(labels.len(), 2);
    assert_eq!(labels[0]["style"], "primary");
    assert_eq!(labels[0]["line"], 6);
    assert_eq!(labels[0]["column"], 5);
    assert_eq!(labels[0]["message"], "defined again here");
    assert_eq!(labels[1]["style"], "secondary");
    assert_eq!(labels[1]["line"], 5);
    assert!(
        labels[0]["file"]
            .as_str()
            .unwrap()
            .ends_with("register_defined_twice.lp")
    );
    assert_eq!(d["notes"].as_array().unwrap().len(), 1);
}

#[test]
fn generated_cholesky_checks_clean_through_a_pipe() {
    let gen_out = lpc(&["gen", "cholesky", "--n", "1000", "--tile", "128"], None);
    assert_eq!(gen_out.status.code(), Some(0));
    let out = lpc(&["check", "--deny", "warnings", "-"], Some(&gen_out.stdout));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn graph_stats_of_the_seed_example() {
    let out = lpc(
        &["graph", "--stats", &repo("examples/cholesky_2x2.lp")],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // 4096^3/3 per CHOL and INVRS, 4096^3 for TRSM, 2 * 4096^3 for SYRK.
    let b3 = 4096f64.powi(3);
    let total = 4.0 * b3 / 3.0 + b3 + 2.0 * b3;
    assert_eq!(
        text(&out.stdout),
        format!(
            "jobs:                5\n\
             edges:               3 tile dependencies, 3 parent-child pairs\n\
             instructions:        24\n\
             total flops:         {:.3} GFLOP\n\
             critical path:       4 jobs\n\
             critical path flops: {:.3} GFLOP (100.0% of the total)\n\
             max width:           2 jobs\n\
             width by level:      2 1 1 1\n",
            total / 1e9,
            total / 1e9
        )
    );
}

#[test]
fn graph_needs_a_view() {
    let out = lpc(&["graph", &repo("examples/cholesky_2x2.lp")], None);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_lambda_backend_needs_a_bucket_and_a_table() {
    let program = repo("examples/cholesky_2x2.lp");
    let out = lpc(&["run", &program, "--backend", "lambda"], None);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "error: the lambda backend needs --bucket BUCKET\n"
    );
    let out = lpc(
        &["run", &program, "--backend", "lambda", "--bucket", "b"],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "error: the lambda backend needs --table TABLE\n"
    );
}

/// The default build has no AWS SDKs: the lambda commands say how to get them.
#[cfg(not(feature = "aws"))]
#[test]
fn without_the_aws_feature_the_lambda_commands_explain_the_build() {
    let expected = "error: this lpc was built without the lambda backend; build it with \
                    `cargo build --release -p lpc --features aws`\n";
    let program = repo("examples/cholesky_2x2.lp");
    let out = lpc(
        &[
            "run",
            &program,
            "--backend",
            "lambda",
            "--bucket",
            "b",
            "--table",
            "t",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(text(&out.stderr), expected);
    let out = lpc(&["aws", "init", "--bucket", "b", "--table", "t"], None);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(text(&out.stderr), expected);
}
