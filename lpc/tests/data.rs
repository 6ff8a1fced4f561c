//! Tests as data. Every `.lp` file under the repository's `tests/` is a case:
//! `pass/` must compile with no diagnostic at all, `fail/` must fail with at
//! least one error, `warn/` must compile with warnings only; the full
//! rendered diagnostic text of `fail/` and `warn/` files is snapshotted in
//! `snapshots/`, so a case is added by adding a file (and accepting its
//! snapshot). The examples must compile cleanly and their DOT is snapshotted.

use lpc::diagnostics::render_plain;
use lpc::{CompileOptions, SourceOutcome, compile_source};
use std::path::Path;

/// The path as shown in diagnostics: relative to the repository root, so
/// that snapshots do not depend on where the checkout lives.
fn display_name(path: &Path) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    path.strip_prefix(root).unwrap().display().to_string()
}

fn compile(path: &Path) -> (String, String, SourceOutcome) {
    let src = std::fs::read_to_string(path).unwrap();
    let name = display_name(path);
    let outcome = compile_source(&src, &name, &CompileOptions::default()).expect("no --set");
    (name, src, outcome)
}

#[test]
fn pass_programs_compile_without_diagnostics() {
    insta::glob!("../../tests", "pass/*.lp", |path| {
        let (name, src, outcome) = compile(path);
        let text = render_plain(&name, &src, &outcome.diagnostics);
        assert!(outcome.diagnostics.is_empty(), "{name}:\n{text}");
        assert!(outcome.compiled.is_some(), "{name}");
    });
}

#[test]
fn fail_programs_report_errors() {
    insta::glob!("../../tests", "fail/*.lp", |path| {
        let (name, src, outcome) = compile(path);
        let text = render_plain(&name, &src, &outcome.diagnostics);
        assert!(outcome.errors() > 0, "{name} compiled:\n{text}");
        assert!(outcome.compiled.is_none(), "{name}");
        insta::assert_snapshot!(text);
    });
}

#[test]
fn warn_programs_compile_with_warnings() {
    insta::glob!("../../tests", "warn/*.lp", |path| {
        let (name, src, outcome) = compile(path);
        let text = render_plain(&name, &src, &outcome.diagnostics);
        assert_eq!(outcome.errors(), 0, "{name}:\n{text}");
        assert!(outcome.warnings() > 0, "{name}");
        assert!(outcome.compiled.is_some(), "{name}");
        insta::assert_snapshot!(text);
    });
}

#[test]
fn examples_compile_cleanly_and_their_dot_is_stable() {
    insta::glob!("../../examples", "*.lp", |path| {
        let (name, src, outcome) = compile(path);
        let text = render_plain(&name, &src, &outcome.diagnostics);
        assert!(outcome.diagnostics.is_empty(), "{name}:\n{text}");
        let compiled = outcome.compiled.unwrap();
        let mut dot = Vec::new();
        lpc::graph::write_dot(compiled.plan(), 100_000, &mut dot)
            .unwrap()
            .unwrap();
        insta::assert_snapshot!(String::from_utf8(dot).unwrap());
    });
}

/// A temp whose readers the solver cannot subtract exactly (17 residue
/// classes) is counted tile by tile; past the enumeration limit the check
/// says it was left open instead of passing in silence.
#[test]
fn a_temp_check_past_the_enumeration_limit_says_so() {
    let name = "strided_temp.lp";
    let src = "\
matrix A : f64[40, 1] tile [1, 1] input = random(1)
matrix T : f64[40, 1] tile [1, 1] temp
matrix O : f64[2, 17] tile [1, 1] output
for i in range(34) {
    copy:
        %a = ADD A[i, 0], A[i, 0]
        S3_WRITE T[i, 0], %a
}
for j in range(2) {
    for r in range(17) {
        use:
            %t = ADD T[17 * j + r, 0], T[17 * j + r, 0]
            S3_WRITE O[j, r], %t
    }
}
";
    let clean = compile_source(src, name, &CompileOptions::default()).expect("no --set");
    assert!(
        clean.diagnostics.is_empty(),
        "{}",
        render_plain(name, src, &clean.diagnostics)
    );
    let mut opts = CompileOptions::default();
    opts.analysis.max_jobs = 33;
    let outcome = compile_source(src, name, &opts).expect("no --set");
    assert!(outcome.compiled.is_some());
    assert_eq!(
        render_plain(name, src, &outcome.diagnostics),
        "\
warning: cannot check that every temp tile this instruction writes is read
  ┌─ strided_temp.lp:7:9
  │
7 │         S3_WRITE T[i, 0], %a
  │         ^^^^^^^^^^^^^^^^^^^^ written here
  │
  = note: the tiles the dependency solver cannot rule out are more than the 33 lpc enumerates; a tile no job reads only costs the work of writing it

"
    );
}
