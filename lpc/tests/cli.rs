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
    // A size set through --set follows the same rule (a tile of 0 once
    // divided by zero in `qr`'s size check).
    for (algorithm, setting) in [("qr", "b=0"), ("gemm", "k=-1"), ("tsqr", "m=0")] {
        let out = lpc(&["gen", algorithm, "--set", setting], None);
        assert_eq!(out.status.code(), Some(2), "{algorithm} {setting}");
        let param = &setting[..1];
        let expected = format!("error: --set {setting}: `{param}` is a size, at least 1\n");
        assert_eq!(text(&out.stderr), expected);
        assert_eq!(text(&out.stdout), "");
    }
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
    // 4096^3/3 per CHOL and INVRS, 4096^3 for TRSM_RLT, 4096^3 for the SYRK
    // of L[1, 0] (loaded into two registers) by itself: its lower triangle.
    let b3 = 4096f64.powi(3);
    let total = 4.0 * b3 / 3.0 + b3 + b3;
    assert_eq!(
        text(&out.stdout),
        format!(
            "jobs:                5\n\
             edges:               3 tile dependencies, 3 parent-child pairs\n\
             instructions:        19\n\
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
fn graph_stats_of_a_program_without_jobs() {
    let out = lpc(
        &["graph", "--stats", "-"],
        Some(b"matrix A : f64[4, 4] tile [2, 2] input = random(1)\n"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "jobs:                0\n\
         edges:               0 tile dependencies, 0 parent-child pairs\n\
         instructions:        0\n\
         total flops:         0 FLOP\n\
         critical path:       0 jobs\n\
         critical path flops: 0 FLOP (0.0% of the total)\n\
         max width:           0 jobs\n\
         width by level:      \n"
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

/// `lpc` with `OPENBLAS_CORETYPE` set to `core` (which OpenBLAS builds for
/// several CPUs obey) or unset.
fn lpc_on_core(args: &[&str], core: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lpc"));
    command.args(args).env_remove("OPENBLAS_CORETYPE");
    if let Some(core) = core {
        command.env("OPENBLAS_CORETYPE", core);
    }
    command.output().unwrap()
}

/// The version line names the tile kernels' library, on which every
/// timing depends: faer (with the `gemm` crate's products on an AVX-512
/// CPU: all of them on Intel's, those from a transposed right-hand side on
/// AMD's Zen 4), or OpenBLAS, its version and the kernels it
/// picked for this CPU with `openblas`.
#[test]
fn version_names_the_kernels_library() {
    let out = lpc(&["--version"], None);
    assert_eq!(out.status.code(), Some(0));
    let stdout = text(&out.stdout);
    let start = format!("lpc {} (tile kernels: ", env!("CARGO_PKG_VERSION"));
    if cfg!(feature = "openblas") {
        let openblas = format!("{start}OpenBLAS 0.");
        assert!(
            stdout.starts_with(&openblas) && stdout.ends_with(" kernels)\n"),
            "{stdout}"
        );
        if cfg!(target_arch = "x86_64") {
            assert_runtime_kernel_choice();
            let out = lpc_on_core(&["--version"], Some("Haswell"));
            assert!(
                text(&out.stdout).ends_with(", Haswell kernels)\n"),
                "{out:?}"
            );
        }
    } else if let Some(which) = lp_std::kernel::gemm_crate_products() {
        // Every product (Intel's AVX-512), or those from a transposed
        // operand (Zen 4): the two lines a user may see.
        assert!(
            ["products", "transposed products"].contains(&which),
            "{which}"
        );
        assert_eq!(stdout, format!("{start}faer, {which} on the gemm crate)\n"));
    } else {
        assert_eq!(stdout, format!("{start}faer)\n"));
    }
}

/// The tests force OpenBLAS's kernels with `OPENBLAS_CORETYPE`, which only
/// a build that picks them at run time obeys: Debian's, which
/// scripts/test.sh installs, is one.
fn assert_runtime_kernel_choice() {
    let config = lp_std::kernel::library_config().unwrap();
    assert!(config.contains("DYNAMIC_ARCH"), "{config}");
}

/// An OpenBLAS that runs its generic kernels (`Prescott`, what it picks on
/// a CPU it does not know) on a CPU with AVX2 is named in a warning before
/// a local run, with the setting that gives the CPU's own; other kernels,
/// and faer, say nothing.
#[cfg(target_arch = "x86_64")]
#[test]
fn a_local_run_warns_of_generic_openblas_kernels() {
    let program = repo("tests/run/cholesky_single_tile.lp");
    let args = ["run", program.as_str(), "--quiet"];
    // What the run printed before its summary ("finished 1 jobs in ...").
    let before_summary = |core: &str| {
        let out = lpc_on_core(&args, Some(core));
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let stderr = text(&out.stderr);
        let summary = stderr.find("finished 1 jobs").expect(&stderr);
        stderr[..summary].to_string()
    };
    if !cfg!(feature = "openblas") {
        assert_eq!(before_summary("Prescott"), "");
        return;
    }
    assert_runtime_kernel_choice();
    // Every x86-64 host the suite runs on has AVX2 (Haswell's kernels).
    assert!(std::is_x86_feature_detected!("avx2"));
    assert_eq!(before_summary("Haswell"), "");
    let suggested = match std::is_x86_feature_detected!("avx512f") {
        true => "SkylakeX",
        false => "Haswell",
    };
    assert_eq!(
        before_summary("Prescott"),
        format!(
            "warning: {} runs its generic Prescott kernels on this CPU (what it picks for a \
             CPU it does not know), at a fraction of the CPU's speed; set \
             OPENBLAS_CORETYPE={suggested} (kernels this CPU can run) or link a newer OpenBLAS\n",
            lp_std::kernel::KERNELS
        )
    );
}

// ----- the loop form on the command line -----

#[test]
fn gen_prints_the_library_program_with_its_parameters_set() {
    let out = lpc(&["gen", "cholesky", "--n", "12", "--tile", "4"], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let program = text(&out.stdout);
    assert!(
        program.contains("\nparam n = 12, b = 4, seed = 42, nt = ceil(n / b)\n"),
        "{program}"
    );
    assert!(program.contains("for k in range(nt) {"), "{program}");
    // It checks clean, and --set reaches any parameter.
    let out = lpc(&["check", "-"], Some(program.as_bytes()));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = lpc(&["gen", "gemm", "--set", "seed_a=9"], None);
    assert!(text(&out.stdout).contains("seed_a = 9"));
}

/// Sizes an algorithm cannot take are one clear usage error (exit 2)
/// rather than the shape errors of the program they would make.
#[test]
fn gen_refuses_sizes_the_algorithm_cannot_take() {
    for (args, expected) in [
        (
            &["gen", "qr", "--m", "100", "--n", "200"][..],
            "error: `qr` needs m >= n (a tall or square A), found m = 100, n = 200\n",
        ),
        (
            &[
                "gen", "tsqr", "--m", "32768", "--n", "1024", "--tile", "512",
            ][..],
            "error: `tsqr` needs tiles of at least n = 1024 rows (each tile row of A is one b x n \
             leaf whose QR must have n reflectors), found a tile of 512: choose --tile 1024 or \
             more\n",
        ),
        (
            &["gen", "tsqr", "--m", "1050", "--n", "200", "--tile", "300"][..],
            "error: `tsqr` needs every tile to have at least n = 200 rows, but the last of m = \
             1050 in tiles of 300 has 150: choose a tile size that divides m or leaves at least n\n",
        ),
    ] {
        let out = lpc(args, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(text(&out.stderr), expected, "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn gen_flat_and_expand_print_the_same_flat_program() {
    let flat = lpc(
        &["gen", "cholesky", "--n", "8", "--tile", "4", "--flat"],
        None,
    );
    assert_eq!(flat.status.code(), Some(0), "{}", text(&flat.stderr));
    let expanded = lpc(
        &[
            "expand",
            &repo("lib/cholesky.lp"),
            "--set",
            "n=8",
            "--set",
            "b=4",
        ],
        None,
    );
    assert_eq!(
        expanded.status.code(),
        Some(0),
        "{}",
        text(&expanded.stderr)
    );
    // Identical but for the first comment line, which says how it was made.
    let body = |o: &Output| text(&o.stdout).split_once('\n').unwrap().1.to_string();
    assert_eq!(body(&flat), body(&expanded));
    assert_eq!(
        body(&flat),
        "matrix A : sym f64[8, 8] tile [4, 4] input = spd(42)
matrix L : lower f64[8, 8] tile [4, 4] output
matrix S[2] : sym f64[8, 8] tile [4, 4] temp = A

chol[0]: priority 8
    %0 = S3_LOAD S[0, 0, 0]
    %1 = CHOL %0
    S3_WRITE L[0, 0], %1

trsm[0, 1]: priority 7
    %0 = S3_LOAD S[0, 1, 0]
    %1 = S3_LOAD L[0, 0]
    %2 = TRSM_RLT %0, %1
    S3_WRITE L[1, 0], %2

syrk[0, 1, 1]: priority 4
    %0 = S3_LOAD S[0, 1, 1]
    %1 = S3_LOAD L[1, 0]
    %2 = S3_LOAD L[1, 0]
    %3 = SYRK %0, %1, %2
    S3_WRITE S[1, 1, 1], %3

chol[1]: priority 1
    %0 = S3_LOAD S[1, 1, 1]
    %1 = CHOL %0
    S3_WRITE L[1, 1], %1
"
    );
    // The flat program is itself a valid program.
    let out = lpc(&["check", "-"], Some(&flat.stdout));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn settings_that_name_no_parameter_are_usage_errors() {
    let out = lpc(
        &["check", &repo("lib/cholesky.lp"), "--set", "tiles=4"],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "error: --set tiles: the program has no parameter `tiles` (it has n, b, seed, nt)\n"
    );
    let out = lpc(&["check", &repo("lib/cholesky.lp"), "--set", "n=big"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("`big` is not an integer"),
        "{}",
        text(&out.stderr)
    );
    let out = lpc(
        &["check", &repo("examples/cholesky_2x2.lp"), "--set", "n=4"],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "error: --set n: the program has no parameters\n"
    );
}

/// A line with a syntax error is left out of the tree, parameters and all,
/// so a `--set` of one of its parameters is no usage error: the syntax
/// errors are what is wrong. A name set twice is refused all the same.
#[test]
fn syntax_errors_are_shown_whatever_is_set() {
    let cases: [(&str, &[&str], i32, &str); 3] = [
        (
            "param n = 16, b = 4 @\n",
            &["--set", "n=8"],
            1,
            "\
error: invalid token
  ┌─ <stdin>:1:21
  │
1 │ param n = 16, b = 4 @
  │                     ^ \"@\" is not part of the language

error: could not compile: 1 error
",
        ),
        (
            "param for = 1\n",
            &["--set", "for=2"],
            1,
            "\
error: expected a parameter name, found `for`, a reserved keyword
  ┌─ <stdin>:1:7
  │
1 │ param for = 1
  │       ^^^ expected a parameter name

error: could not compile: 1 error
",
        ),
        (
            "param a = max()\n",
            &["--set", "a=5", "--set", "a=6"],
            2,
            "error: --set a is given twice (a=5, then a=6): give it once\n",
        ),
    ];
    for (src, sets, code, stderr) in cases {
        let args: Vec<&str> = ["check", "-"].iter().chain(sets).copied().collect();
        let out = lpc(&args, Some(src.as_bytes()));
        assert_eq!(
            (out.status.code(), text(&out.stderr).as_str()),
            (Some(code), stderr),
            "{src}"
        );
    }
}

/// A default is part of the text, and the text must be valid whatever is
/// set: `--set` does not hide what is wrong with the default it overrides.
#[test]
fn a_default_is_checked_when_set() {
    let src = "param a = log2(8), b = ceil(log2(0)), c = c\n";
    let out = lpc(
        &["check", "-", "--set", "a=5", "--set", "b=5", "--set", "c=5"],
        Some(src.as_bytes()),
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "\
error: a logarithm must say how it rounds
  ┌─ <stdin>:1:11
  │
1 │ param a = log2(8), b = ceil(log2(0)), c = c
  │           ^^^^^^^ here
  │
  = help: write `ceil(log2(a))` or `floor(log2(a))`

error: `log2` of 0 is undefined
  ┌─ <stdin>:1:29
  │
1 │ param a = log2(8), b = ceil(log2(0)), c = c
  │                             ^^^^^^^ here

error: the default of parameter `c` uses `c` itself
  ┌─ <stdin>:1:43
  │
1 │ param a = log2(8), b = ceil(log2(0)), c = c
  │                                           ^ used in its own default
  │
  = help: a default may use the parameters declared before it

error: could not compile: 3 errors
"
    );
}

/// A parameter set twice is refused, where the last value silently won
/// (and `lpc gen` wrote `param n = 8 = 4096`, a program that did not
/// compile).
#[test]
fn a_parameter_set_twice_is_a_usage_error() {
    let chol = repo("lib/cholesky.lp");
    let cases: [(&[&str], &str); 3] = [
        (
            &["check", &chol, "--set", "b=1", "--set", "b=2"],
            "error: --set b is given twice (b=1, then b=2): give it once\n",
        ),
        (
            &["gen", "cholesky", "--set", "n=4", "--set", "n=8"],
            "error: --set n is given twice (n=4, then n=8): give it once\n",
        ),
        (
            &["gen", "cholesky", "--tile", "2048", "--set", "b=1024"],
            "error: --tile 2048 and --set b=1024 both set `b`: drop one\n",
        ),
    ];
    for (args, message) in cases {
        let out = lpc(args, None);
        assert_eq!(
            (
                out.status.code(),
                text(&out.stderr).as_str(),
                text(&out.stdout).as_str()
            ),
            (Some(2), message, ""),
            "{args:?}"
        );
    }
}

#[test]
fn dot_refuses_a_program_larger_than_its_limit() {
    let lib = repo("lib/cholesky.lp");
    let args = [
        "graph",
        "--dot",
        lib.as_str(),
        "--set",
        "n=65536",
        "--set",
        "b=1024",
    ];
    let out = lpc(&args, None);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "error: the program has 45760 jobs, more than the 20000 `--dot` draws; \
         pass --limit 45760 to draw it anyway\n"
    );
    assert_eq!(text(&out.stdout), "");
    let mut more = args.to_vec();
    more.extend(["--limit", "45760"]);
    let out = lpc(&more, None);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout).matches("label=\"syrk[").count(), 43680);
}

#[test]
fn stats_of_a_program_too_large_to_enumerate() {
    // 1024 x 1024 tiles: 179 million jobs, counted, never enumerated; the
    // flops are LAPACK's n^3 / 3 = 2^60 / 3, the diagonal SYRKs (i = j)
    // counted apart from the index equations.
    let lib = repo("lib/cholesky.lp");
    let out = lpc(
        &[
            "graph",
            "--stats",
            &lib,
            "--set",
            "n=1048576",
            "--set",
            "b=1024",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "jobs:                179481600\n\
         instructions:        896882176\n\
         total flops:         384.307 PFLOP\n\
         critical path, edges and widths: not computed: more than 4000000 jobs (--limit raises it)\n"
    );
}

#[test]
fn a_limit_beyond_memory_is_refused_in_words() {
    // 20.8 billion jobs at about 200 bytes each: more than any machine's
    // memory, which bounds --limit instead of the allocator aborting.
    let lib = repo("lib/cholesky.lp");
    // Past about 214 GB of memory, the DAG's 32-bit numbering binds first.
    let fits = lp_runtime::local::physical_memory().expect("MemTotal") / 2 / 200;
    let numbered = lp_program::dag::JobGraph::MAX_JOBS;
    let why = if fits < numbered {
        format!(
            "its 20845835000 jobs need about 4169.2 GB to enumerate, more than half of \
             the memory this process may use (enough for {fits} jobs)"
        )
    } else {
        format!("its 20845835000 jobs are more than the {numbered} a job graph can number")
    };
    let args = |view| {
        [
            "graph",
            view,
            "--limit",
            "1000000000000",
            &lib,
            "--set",
            "n=1000000",
            "--set",
            "b=200",
        ]
        .map(String::from)
    };
    let out = lpc(&args("--stats").each_ref().map(|s| s.as_str()), None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!(
            "jobs:                20845835000\n\
             instructions:        104216667500\n\
             total flops:         333.333 PFLOP\n\
             critical path, edges and widths: not computed: {why}\n"
        )
    );
    let out = lpc(&args("--dot").each_ref().map(|s| s.as_str()), None);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(text(&out.stdout), "");
    assert_eq!(
        text(&out.stderr),
        format!("error: cannot draw the program: {why}\n")
    );
}

#[test]
fn diagnostics_are_capped_and_never_echo_a_huge_token() {
    // 200,000 bad lines: 100 diagnostics, then a count of the rest.
    let bad = "@\n".repeat(200_000);
    let out = lpc(&["check", "-"], Some(bad.as_bytes()));
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.matches("error: invalid token").count(), 100);
    assert!(
        stderr.contains(
            "note: 199900 more diagnostics are not shown (--max-diagnostics 200000 shows more)"
        ),
        "{}",
        &stderr[stderr.len() - 300..]
    );
    assert!(stderr.ends_with("error: could not compile: 200000 errors\n"));
    assert!(stderr.len() < 30_000, "{} bytes", stderr.len());
    let out = lpc(
        &["check", "-", "--max-diagnostics", "3"],
        Some(bad.as_bytes()),
    );
    assert_eq!(text(&out.stderr).matches("error: invalid token").count(), 3);

    // A million NUL bytes: one error, a line's worth of output.
    let out = lpc(&["check", "-"], Some(&vec![0u8; 1_000_000]));
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert_eq!(
        stderr,
        "error: invalid token\n \
         = at line 1, column 1 (a line too long to show): \"\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\
         \\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\"... (1000000 bytes) is not part of the language\n\n\
         error: could not compile: 1 error\n"
    );
}

#[test]
fn input_cache_bounds_the_kept_generated_tiles_and_the_summary_counts_them() {
    // 3 x 3 tiles of 32 (8 KiB): each tile of A and B is read by 3 jobs,
    // each of the zero matrix Z by 1 (so it is never kept); 4 KiB keeps
    // no tile.
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "lib/gemm.lp", "--quiet", "--workers", "1"];
        for set in ["m=96", "n=96", "k=96", "b=32"] {
            args.extend(["--set", set]);
        }
        args.extend(extra);
        let args: Vec<String> = args
            .iter()
            .map(|a| a.replace("lib/", &repo("lib/")))
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = lpc(&args, None);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let stderr = text(&out.stderr);
        let line = stderr
            .lines()
            .find(|l| l.trim_start().starts_with("inputs "))
            .unwrap_or_else(|| panic!("no inputs line:\n{stderr}"))
            .to_string();
        line.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    assert_eq!(
        run(&[]),
        "inputs 27 tiles generated, 36 loads served by kept tiles"
    );
    assert_eq!(
        run(&["--input-cache", "0"]),
        "inputs 63 tiles generated, 0 loads served by kept tiles"
    );
    assert_eq!(
        run(&["--input-cache", "4KiB"]),
        "inputs 63 tiles generated, 0 loads served by kept tiles"
    );
    let out = lpc(
        &["run", &repo("lib/gemm.lp"), "--input-cache", "lots"],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("invalid value 'lots' for '--input-cache <SIZE>'"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_traced_run_says_how_long_workers_idled_beside_ready_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("t.json");
    let run = |extra: &[&str]| {
        let program = repo("lib/cholesky.lp");
        let mut args = vec!["run", &program, "--quiet", "--workers", "2"];
        args.extend(["--set", "n=256", "--set", "b=64"]);
        args.extend(extra);
        let out = lpc(&args, None);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        text(&out.stderr)
            .lines()
            .find(|l| l.trim_start().starts_with("waits "))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
    };
    assert_eq!(run(&[]), None, "only a traced run measures its waits");
    let line = run(&["--trace", trace.to_str().unwrap()]).expect("a waits line");
    // Times vary; the wording and the units do not.
    let duration = |t: &str| {
        let number = t.strip_suffix(" ms").or_else(|| t.strip_suffix(" s"));
        assert!(
            number.is_some_and(|n| n.parse::<f64>().is_ok()),
            "{t:?} in {line}"
        );
    };
    let rest = line
        .strip_prefix("waits workers idled ")
        .unwrap_or_else(|| panic!("{line}"));
    let (total, rest) = rest
        .split_once(" in all while a job was ready")
        .unwrap_or_else(|| panic!("{line}"));
    duration(total);
    if !rest.is_empty() {
        let (t, job) = rest
            .strip_prefix(" (longest ")
            .and_then(|r| r.strip_suffix(')'))
            .and_then(|r| r.split_once(", then took "))
            .unwrap_or_else(|| panic!("{line}"));
        duration(t);
        assert!(
            ["chol[", "trsm[", "syrk["]
                .iter()
                .any(|f| job.starts_with(f)),
            "{line}"
        );
    }
    let events: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&trace).unwrap()).unwrap();
    let events = events["traceEvents"].as_array().unwrap();
    let idle = events.iter().filter(|e| e["cat"] == "idle").count();
    assert!(
        idle >= 2,
        "each worker's wait for its first job is an idle slice"
    );
    // The ready-jobs counter: trsm[0, 1..3] are ready at once when chol[0]
    // ends, and the count ends at 0.
    let ready: Vec<i64> = events
        .iter()
        .filter(|e| e["ph"] == "C" && e["name"] == "ready jobs")
        .map(|e| e["args"]["ready"].as_i64().unwrap())
        .collect();
    assert!(ready.iter().all(|&n| n >= 0), "{ready:?}");
    assert!(ready.iter().any(|&n| n >= 2), "{ready:?}");
    assert_eq!(ready.last(), Some(&0), "{ready:?}");
}

/// The summary's kernel lines and the trace's kernel slices, on a
/// Cholesky of 4 x 4 tiles of 256: CHOL runs 4 times (b³/3 flops each,
/// 5,592,405 rounded), TRSM 6 (b³), SYRK 6 times on a diagonal tile (b³,
/// the lower half; timed apart in the summary) and 4 off it (2b³). Tiles
/// of 256 make each kernel's time at least a few tenths of a millisecond,
/// which the summary shows as more than "0.0 ms" on any host.
#[test]
fn a_run_reports_each_kernels_calls_time_and_rate() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("t.json");
    let program = repo("lib/cholesky.lp");
    let out = lpc(
        &[
            "run",
            &program,
            "--quiet",
            "--workers",
            "2",
            "--set",
            "n=1024",
            "--set",
            "b=256",
            "--trace",
            trace.to_str().unwrap(),
        ],
        None,
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // "  kernels       SYRK (A Aᵀ)      6 calls     1.2 ms  20.1 GFLOP/s",
    // then the other kernels under it, the longest first: times and rates
    // vary, the names, counts, units and the alignment do not.
    let lines: Vec<&str> = stderr
        .lines()
        .skip_while(|l| !l.starts_with("  kernels "))
        .take(5)
        .collect();
    assert!(
        lines.len() == 5 && lines[4].starts_with("  trace "),
        "{stderr}"
    );
    let lines = &lines[..4];
    // The name column is as wide as the widest name.
    let width = "SYRK (A Aᵀ)".chars().count();
    let mut calls = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let label = if i == 0 { "kernels" } else { "" };
        let fields = line
            .strip_prefix(&format!("  {label:<14}"))
            .unwrap_or_else(|| panic!("{line:?} in {stderr}"));
        let (name, counts) = fields.split_at(fields.char_indices().nth(width).unwrap().0);
        let words: Vec<&str> = counts.split_whitespace().collect();
        let [count, "calls", time, unit, rate, "GFLOP/s"] = words[..] else {
            panic!("{line:?}");
        };
        assert!(["ms", "s"].contains(&unit), "{line:?}");
        assert!(time.parse::<f64>().unwrap() > 0.0, "{line:?}");
        assert!(rate.parse::<f64>().unwrap() > 0.0, "{line:?}");
        calls.push((name.trim_end().to_string(), count.parse::<u32>().unwrap()));
    }
    calls.sort();
    let want = [
        ("CHOL", 4),
        ("SYRK", 4),
        ("SYRK (A Aᵀ)", 6),
        ("TRSM_RLT", 6),
    ]
    .map(|(n, c)| (n.to_string(), c));
    assert_eq!(calls, want, "{stderr}");

    let events: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&trace).unwrap()).unwrap();
    let mut flops = std::collections::BTreeMap::new();
    for e in events["traceEvents"].as_array().unwrap() {
        if e["cat"] == "kernel" {
            let rate = &e["args"]["GFLOP/s"];
            assert!(rate.as_f64().is_some_and(|r| r >= 0.0), "{e}");
            *flops
                .entry(e["name"].as_str().unwrap().to_string())
                .or_insert(0) += e["args"]["flops"].as_u64().unwrap();
        }
    }
    let b3 = 256 * 256 * 256;
    let want = [
        ("CHOL", 4 * 5_592_405),
        ("SYRK", 6 * b3 + 4 * 2 * b3),
        ("TRSM_RLT", 6 * b3),
    ]
    .map(|(n, f)| (n.to_string(), f));
    assert_eq!(flops, want.into_iter().collect(), "flops per kernel");
}

/// `lpc gen cholesky` written to `dir/name`: `n` x `n` in tiles of `tile`.
fn gen_cholesky(dir: &std::path::Path, name: &str, n: u32, tile: u32) -> String {
    let out = lpc(
        &[
            "gen",
            "cholesky",
            "--n",
            &n.to_string(),
            "--tile",
            &tile.to_string(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let path = dir.join(name);
    std::fs::write(&path, &out.stdout).unwrap();
    path.display().to_string()
}

#[test]
fn run_refuses_more_workers_than_it_takes() {
    let dir = tempfile::tempdir().unwrap();
    let program = gen_cholesky(dir.path(), "chol.lp", 96, 32);
    for workers in ["1025", "100000", "99999999999"] {
        let out = lpc(&["run", &program, "--quiet", "--workers", workers], None);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
        assert_eq!(
            text(&out.stderr),
            format!("error: --workers {workers} is more than a local run takes (1024)\n")
        );
    }
    // Zero is refused, not read as the default (leaving the option out).
    let out = lpc(&["run", &program, "--quiet", "--workers", "0"], None);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "error: invalid value '0' for '--workers <WORKERS>': a run needs at least one worker\n\n\
         For more information, try '--help'.\n"
    );
}

#[test]
fn a_worker_thread_the_os_refuses_fails_the_run_without_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let program = gen_cholesky(dir.path(), "chol.lp", 96, 32);
    // Threads get stacks of 1 PiB by default, which no OS maps: the first
    // worker cannot start (nor can Ctrl-C's handler thread, which lpc can
    // do without).
    let out = Command::new(env!("CARGO_BIN_EXE_lpc"))
        .args(["run", &program, "--quiet", "--workers", "2"])
        .env("RUST_MIN_STACK", (1u64 << 50).to_string())
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with(
            "error: run failed: scheduler backend failed: cannot start worker thread 1 of 2: "
        ),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn a_failed_verification_writes_no_output_and_keeps_the_old_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = gen_cholesky(dir.path(), "chol.lp", 96, 32);
    // The panel solve with the wrong transpose: a wrong factor.
    let bad = dir.path().join("bad.lp");
    let source = std::fs::read_to_string(&good).unwrap();
    assert!(source.contains("TRSM_RLT"));
    std::fs::write(&bad, source.replace("TRSM_RLT", "TRSM_RLN")).unwrap();
    let old = dir.path().join("old.npy");
    std::fs::write(&old, "an earlier answer").unwrap();
    let fresh = dir.path().join("fresh.npy");
    let out = lpc(
        &[
            "run",
            bad.to_str().unwrap(),
            "--quiet",
            "--verify",
            "--output",
            &format!("L={}", old.display()),
            "--output",
            &format!("L={}", fresh.display()),
        ],
        None,
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let verify = stderr
        .lines()
        .find(|l| l.trim_start().starts_with("verify "))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(verify.ends_with(": FAILED"), "{stderr}");
    assert!(
        stderr.ends_with("\nerror: the answer failed verification; no output written\n"),
        "{stderr}"
    );
    assert!(!stderr.contains("wrote"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&old).unwrap(), "an earlier answer");
    assert!(!fresh.exists());
    let mut left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, ["bad.lp", "chol.lp", "old.npy"], "no temp file left");
}

/// The last component of a path.
fn base(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

#[test]
fn output_and_trace_paths_are_checked_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let program = gen_cholesky(dir.path(), "chol.lp", 96, 32);
    let d = dir.path().display().to_string();
    std::fs::write(dir.path().join("file"), "").unwrap();
    let good = format!("L={d}/L.npy");
    let to_itself = format!("L={program}");
    let input = format!("A={d}/file");
    // A link to a file another flag writes: the write would replace it.
    std::fs::write(dir.path().join("tgt.npy"), "").unwrap();
    std::os::unix::fs::symlink(dir.path().join("tgt.npy"), dir.path().join("lnk")).unwrap();
    let tgt = format!("L={d}/tgt.npy");
    let cases: [(&[&str], String); 12] = [
        (
            &["--output", &format!("S={d}/S.npy")],
            "--output S: `S` is a temp of the program (a run frees its tiles as it goes); \
             only its inputs and outputs can be read back"
                .to_string(),
        ),
        (
            &["--output", &to_itself],
            format!("--output L: cannot write {program}: it is the program being run"),
        ),
        (
            &["--output", "L=/dev/null"],
            "--output L: cannot write /dev/null: it is not a regular file".to_string(),
        ),
        (
            &["--output", &format!("L={d}/missing/d/L.npy")],
            format!(
                "--output L: cannot write {d}/missing/d/L.npy: directory {d}/missing/d does not exist"
            ),
        ),
        (
            &["--output", &format!("L={d}")],
            format!("--output L: cannot write {d}: it is a directory"),
        ),
        (
            &["--output", &format!("L={d}/file/x.npy")],
            format!("--output L: cannot write {d}/file/x.npy: {d}/file is not a directory"),
        ),
        (
            &["--output", &good, "--trace", &format!("{d}/missing/t.json")],
            format!(
                "--trace: cannot write {d}/missing/t.json: directory {d}/missing does not exist"
            ),
        ),
        (
            &["--trace", &d],
            format!("--trace: cannot write {d}: it is a directory"),
        ),
        // A file the run reads, or writes under another flag.
        (
            &["--input", &input, "--trace", &format!("{d}/file")],
            format!("--trace: cannot write {d}/file: it is the input file of matrix A"),
        ),
        (
            &["--output", &good, "--trace", &format!("{d}/./L.npy")],
            format!("--trace: cannot write {d}/./L.npy: --output L writes it too"),
        ),
        (
            &["--output", &tgt, "--trace", &format!("{d}/lnk")],
            format!("--trace: cannot write {d}/lnk: --output L writes it too"),
        ),
        (
            &[
                "--output",
                &good,
                "--output",
                &format!("L={d}/../{}/L.npy", base(&d)),
            ],
            format!(
                "--output L: cannot write {d}/../{}/L.npy: --output L writes it too",
                base(&d)
            ),
        ),
    ];
    for (extra, message) in cases {
        let mut args = vec!["run", &program, "--quiet"];
        args.extend(extra);
        let out = lpc(&args, None);
        // One line, and no summary: nothing ran.
        assert_eq!(text(&out.stderr), format!("error: {message}\n"));
        assert_eq!(out.status.code(), Some(2));
    }
    let mut left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["chol.lp", "file", "lnk", "tgt.npy"],
        "nothing written, no probe left"
    );
}

#[cfg(unix)]
#[test]
fn a_trace_that_cannot_be_written_at_the_end_keeps_the_outputs() {
    let dir = tempfile::tempdir().unwrap();
    // 816 jobs on one worker over a directory store: about a second.
    let program = gen_cholesky(dir.path(), "chol.lp", 512, 32);
    let store = dir.path().join("store");
    let traces = dir.path().join("traces");
    std::fs::create_dir(&traces).unwrap();
    let output = dir.path().join("L.npy");
    let child = Command::new(env!("CARGO_BIN_EXE_lpc"))
        .args(["run", &program, "--quiet", "--workers", "1", "--store"])
        .arg(format!("dir:{}", store.display()))
        .arg("--output")
        .arg(format!("L={}", output.display()))
        .arg("--trace")
        .arg(traces.join("t.json"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The run record appears once the paths are checked and the run
    // begins; the trace's directory goes away while it computes.
    let started = std::time::Instant::now();
    let runs = store.join("~runs");
    while !std::fs::read_dir(&runs).is_ok_and(|mut d| d.next().is_some()) {
        assert!(started.elapsed().as_secs() < 20, "the run never began");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    std::fs::remove_dir(&traces).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let last = stderr.lines().last().unwrap();
    assert!(
        last.starts_with(&format!(
            "error: could not write the trace: {}: No such file or directory",
            traces.join("t.json").display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("  wrote         L to {}\n", output.display())),
        "{stderr}"
    );
    assert!(
        stderr.contains("  kept          outputs under ~runs/run-"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&output).unwrap().len(), 128 + 512 * 512 * 8);
}

#[test]
fn publishing_needs_a_store_that_outlives_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let program = gen_cholesky(dir.path(), "chol.lp", 96, 32);
    let out = lpc(&["run", &program, "--quiet", "--publish", "L"], None);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "error: --publish L: the memory store ends with the run; publish into a store that \
         outlives it (--store dir:PATH)\n"
    );
    let store = format!("dir:{}", dir.path().join("store").display());
    let out = lpc(
        &[
            "run",
            &program,
            "--quiet",
            "--store",
            &store,
            "--publish",
            "L",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("  published     L as L\n"));
    // One name published twice: the second would replace the first.
    let args = ["run", &program, "--quiet", "--store", &store];
    let twice = ["--publish", "L=f", "--publish", "L=g", "--publish", "L=f"];
    let out = lpc(&[&args[..], &twice[..]].concat(), None);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "error: --publish L: --publish L publishes as `f` too\n"
    );
}

#[test]
fn a_tile_larger_than_memory_is_refused_before_the_run() {
    let program = repo("lib/cholesky.lp");
    let sets = ["--set", "n=4000000", "--set", "b=2000000"];
    let mut args = vec!["run", &program, "--quiet"];
    args.extend(sets);
    let out = lpc(&args, None);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    // The machine's memory varies; the rest does not.
    let (head, tail) = stderr
        .split_once("more than the memory this process may use (")
        .unwrap_or_else(|| panic!("{stderr}"));
    assert_eq!(
        head,
        "error: matrix A: one tile is 2000000 x 2000000 doubles, 32000000000000 bytes (29.1 TiB), "
    );
    let (memory, rest) = tail.split_once(')').unwrap_or_else(|| panic!("{stderr}"));
    assert!(memory.ends_with("iB") || memory.ends_with(" B"), "{stderr}");
    assert_eq!(rest, "; choose a smaller tile size\n");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn run_help_names_every_program_verify_checks() {
    let out = lpc(&["run", "--help"], None);
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        help.contains(
            "--verify Check the answer with random probe vectors (Cholesky, GEMM, triangular \
             solve, solve, least squares, QR, LU: the library's programs, by their matrix names)"
        ),
        "{help}"
    );
}

/// `lpc run ... 2>&1 | head -1`: the reader of stderr leaves at once, and
/// the run still writes its output and exits 0 (a broken stderr once made
/// the first summary line panic, losing the output).
#[cfg(unix)]
#[test]
fn a_closed_stderr_loses_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let program = gen_cholesky(dir.path(), "chol.lp", 96, 32);
    let output = dir.path().join("L.npy");
    let mut child = Command::new(env!("CARGO_BIN_EXE_lpc"))
        .args(["run", &program, "--verify", "--output"])
        .arg(format!("L={}", output.display()))
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stderr.take());
    drop(child.stdout.take());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(output.is_file());
    // The same for a listing on stdout whose reader left.
    let mut child = Command::new(env!("CARGO_BIN_EXE_lpc"))
        .args(["graph", "--dot", &program])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        (out.status.code(), text(&out.stderr)),
        (Some(0), String::new())
    );
}

/// `expand` and `graph` take a bundle as `run` and `check` do; `build`,
/// which reads a program's source, says what it was given instead: a
/// bundle, or bytes that are not UTF-8 text.
#[test]
fn a_bundle_or_binary_given_for_source_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let program = gen_cholesky(dir.path(), "chol.lp", 96, 32);
    let bundle = dir.path().join("chol.lpb").display().to_string();
    let built = lpc(&["build", &program, "-o", &bundle], None);
    assert!(built.status.success());
    let views: [&[&str]; 3] = [&["graph", "--stats"], &["graph", "--dot"], &["expand"]];
    for view in views {
        let of = |file: &str| {
            let out = lpc(&[view, &[file]].concat(), None);
            assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
            // An expansion's first line names its file.
            let skip = usize::from(view == ["expand"]);
            let lines: Vec<String> = text(&out.stdout)
                .lines()
                .skip(skip)
                .map(String::from)
                .collect();
            lines.join("\n")
        };
        assert_eq!(of(&bundle), of(&program), "{view:?}");
    }
    let other = dir.path().join("other.lpb").display().to_string();
    let out = lpc(&["build", &bundle, "-o", &other], None);
    assert_eq!(
        (out.status.code(), text(&out.stderr)),
        (
            Some(2),
            format!(
                "error: cannot read {bundle}: it is a bundle (`lpc build`'s output), \
                 and this command reads a program's source\n"
            )
        )
    );
    let binary = dir.path().join("bad.lp");
    std::fs::write(&binary, b"param n = 3\xff\n").unwrap();
    let out = lpc(&["check", binary.to_str().unwrap()], None);
    assert_eq!(
        (out.status.code(), text(&out.stderr)),
        (
            Some(2),
            format!(
                "error: cannot read {}: it is not UTF-8 text (byte 11)\n",
                binary.display()
            )
        )
    );
}

#[test]
fn a_store_path_that_is_a_file_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let program = gen_cholesky(dir.path(), "chol.lp", 96, 32);
    let file = dir.path().join("afile");
    std::fs::write(&file, "").unwrap();
    let store = format!("dir:{}", file.display());
    let out = lpc(&["run", &program, "--store", &store], None);
    assert_eq!(
        (out.status.code(), text(&out.stderr)),
        (
            Some(2),
            format!(
                "error: cannot open store {0}: creating store directory {0}: it is a file, not a directory\n",
                file.display()
            )
        )
    );
}

/// Seconds of a duration as `lpc` prints it ("850.0 ms", "3.49 s").
fn printed_seconds(text: &str) -> f64 {
    match text.split_once(' ') {
        Some((value, "ms")) => value.parse::<f64>().unwrap() / 1e3,
        Some((value, "s")) => value.parse().unwrap(),
        _ => panic!("not a duration: {text:?}"),
    }
}

/// The summary's `cpu` line: the process's user and system time during
/// the run. A Cholesky at n = 2048 on one worker computes for tens of
/// milliseconds at least, and one worker thread (with the driver beside
/// it) cannot spend more than twice the run's time.
#[test]
fn a_run_reports_its_cpu_time() {
    let program = repo("lib/cholesky.lp");
    let args = ["run", &program, "--quiet", "--workers", "1"];
    let out = lpc(
        &[&args[..], &["--set", "n=2048", "--set", "b=512"]].concat(),
        None,
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let find = |prefix: &str| {
        let line = stderr.lines().find_map(|l| l.strip_prefix(prefix));
        line.unwrap_or_else(|| panic!("no {prefix:?} line in {stderr}"))
    };
    let wall = find("finished ").split(" in ").nth(1).unwrap();
    let wall = printed_seconds(wall.strip_suffix(" on 1 worker").unwrap());
    let cpu = find("  cpu           user ");
    let (user, system) = cpu.split_once(", system ").unwrap();
    let (user, system) = (printed_seconds(user), printed_seconds(system));
    assert!(user >= 0.01, "{cpu}");
    assert!(
        user + system <= 2.0 * wall + 0.1,
        "{cpu} in a run of {wall} s"
    );
}

/// A Cholesky of 2 x 2 tiles is a chain of four jobs: on two workers one
/// of them waits throughout and lends its core to the jobs the other runs
/// (the kernels give the same bits either way: lp-std's
/// `every_kernel_gives_the_same_bits_on_lent_cores`); a lone worker has
/// none to lend.
#[test]
fn a_run_says_how_many_jobs_ran_on_lent_cores() {
    let program = repo("lib/cholesky.lp");
    let lent = |workers: &str| {
        let args = ["run", &program, "--quiet", "--workers", workers];
        let out = lpc(
            &[&args[..], &["--set", "n=2048", "--set", "b=1024"]].concat(),
            None,
        );
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        let line = stderr
            .lines()
            .find(|l| l.starts_with("  lent cores "))
            .unwrap_or_else(|| panic!("no lent cores line in {stderr}"));
        let count = line
            .strip_prefix("  lent cores    ")
            .and_then(|rest| {
                rest.strip_suffix(
                    " jobs ran on more than one core, lent by workers waiting for a job",
                )
            })
            .unwrap_or_else(|| panic!("{line:?}"));
        count.parse::<u64>().unwrap()
    };
    assert_eq!(lent("1"), 0);
    // The first job may start before the other worker waits; the next
    // three start while it does.
    let on_two = lent("2");
    assert!((1..=4).contains(&on_two), "{on_two} of 4 jobs");
}
