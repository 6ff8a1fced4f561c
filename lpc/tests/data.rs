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
