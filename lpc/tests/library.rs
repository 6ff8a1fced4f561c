//! The library's loop programs (`lib/*.lp`): they check with no diagnostic
//! for many sizes, ragged edge tiles included, their DAGs have the job
//! counts and shapes the algorithms imply, the Cholesky draws the same DAG
//! as the flat 8 x 8 program `lpc gen` wrote before loops existed, and every
//! loop program means exactly the flat program `lpc expand` prints for it.

use lp_program::dag::JobGraph;
use lp_program::{Plan, Role};
use lpc::diagnostics::render_plain;
use lpc::frontend::Setting;
use lpc::{CompileOptions, Compiled, compile_source, expand, library};
use petgraph::visit::EdgeRef;
use proptest::prelude::*;
use std::collections::BTreeSet;
use std::path::Path;

fn compile_clean(name: &str, src: &str, settings: &[Setting]) -> Compiled {
    let opts = CompileOptions {
        settings: settings.to_vec(),
        ..CompileOptions::default()
    };
    let outcome = compile_source(src, name, &opts).expect("known parameters");
    assert!(
        outcome.diagnostics.is_empty(),
        "{}",
        render_plain(name, src, &outcome.diagnostics)
    );
    outcome.compiled.expect("no error")
}

fn lib(name: &str, settings: &[(&str, i64)]) -> Compiled {
    let settings: Vec<Setting> = settings.iter().map(|(n, v)| (n.to_string(), *v)).collect();
    compile_clean(name, library::source(name).unwrap(), &settings)
}

/// Every edge as (parent name, child name, tile name).
fn edges(plan: &Plan) -> BTreeSet<(String, String, String)> {
    let graph = JobGraph::build(plan, 1_000_000).expect("small program");
    graph
        .dag
        .edge_references()
        .map(|e| {
            (
                plan.job_name(graph.jobs[e.source().index()]),
                plan.job_name(graph.jobs[e.target().index()]),
                plan.program().tile_name(e.weight().tile),
            )
        })
        .collect()
}

fn job_names(plan: &Plan) -> Vec<String> {
    let mut names = Vec::new();
    plan.walk(&mut |_, _, id| {
        names.push(plan.job_name(id));
        true
    });
    names
}

/// The flat expansion of `compiled`, compiled again: the same jobs, in the
/// same order, with the same names and the same DAG.
fn assert_expansion_means_the_same(compiled: &Compiled) {
    let mut text = Vec::new();
    expand::write_flat(compiled.plan(), "expansion", &mut text).unwrap();
    let text = String::from_utf8(text).unwrap();
    let flat = compile_clean("expanded.lp", &text, &[]);
    assert!(flat.program().families.iter().all(|f| f.loops.is_empty()));
    assert_eq!(job_names(flat.plan()), job_names(compiled.plan()));
    assert_eq!(edges(flat.plan()), edges(compiled.plan()));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn cholesky_checks_clean_with_the_formula_job_count(n in 1u64..60, b in 1u64..20) {
        let t = n.div_ceil(b);
        prop_assume!(t <= 12);
        let compiled = lib("cholesky", &[("n", n as i64), ("b", b as i64)]);
        let plan = compiled.plan();
        prop_assert_eq!(plan.job_count(), t + t * (t - 1) / 2 + (t - 1) * t * (t + 1) / 6);
        // One source (the first CHOL) and one sink (the last CHOL).
        let mut roots = 0;
        plan.roots(&mut |_| roots += 1);
        prop_assert_eq!(roots, 1);
        let stats = lpc::graph::stats(plan, 1_000_000);
        // CHOL, TRSM_RLT, SYRK per step, then the last CHOL: 3(T-1) + 1 levels.
        prop_assert_eq!(stats.paths.unwrap().critical_path_jobs as u64, 3 * (t - 1) + 1);
        if t <= 5 {
            assert_expansion_means_the_same(&compiled);
        }
    }

    #[test]
    fn gemm_checks_clean_with_a_chain_per_output_tile(
        m in 1u64..40, n in 1u64..40, k in 1u64..40, b in 1u64..16,
    ) {
        let (mt, nt, kt) = (m.div_ceil(b), n.div_ceil(b), k.div_ceil(b));
        prop_assume!(mt * nt * kt <= 2000);
        let compiled = lib("gemm", &[("m", m as i64), ("n", n as i64), ("k", k as i64), ("b", b as i64)]);
        let plan = compiled.plan();
        prop_assert_eq!(plan.job_count(), mt * nt * kt);
        let stats = lpc::graph::stats(plan, 1_000_000).paths.unwrap();
        prop_assert_eq!(stats.critical_path_jobs as u64, kt);
        prop_assert_eq!(stats.edges as u64, mt * nt * (kt - 1));
        if mt * nt * kt <= 60 {
            assert_expansion_means_the_same(&compiled);
        }
    }

    #[test]
    fn trsolve_checks_clean(n in 1u64..40, nrhs in 1u64..20, b in 1u64..16) {
        let (t, r) = (n.div_ceil(b), nrhs.div_ceil(b));
        prop_assume!(t <= 12);
        let compiled = lib("trsolve", &[("n", n as i64), ("nrhs", nrhs as i64), ("b", b as i64)]);
        // Per right-hand-side column block: a solve per row block, and an
        // update per block above it.
        prop_assert_eq!(compiled.plan().job_count(), r * (t + t * (t - 1) / 2));
        if t <= 5 && r <= 2 {
            assert_expansion_means_the_same(&compiled);
        }
    }
}

/// `lpc graph --dot --set n=4096` of the library Cholesky is the DAG of the
/// flat 8 x 8 program the generator wrote before loops existed
/// (`examples/cholesky_8x8.lp`): the same jobs, named `chol[k]`,
/// `trsm[k, i]`, `syrk[k, i, j]` instead of `chol_k`, `trsm_i_k`,
/// `syrk_k_i_j`, and the same tile on every edge (`S[k, i, j]` for `Sk[i, j]`).
#[test]
fn the_loop_cholesky_draws_the_dag_of_the_old_flat_program() {
    let loop_form = lib("cholesky", &[("n", 4096), ("b", 512)]);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/cholesky_8x8.lp");
    let flat_src = std::fs::read_to_string(path).unwrap();
    let flat = compile_clean("cholesky_8x8.lp", &flat_src, &[]);
    let rename_job = |name: &str| -> String {
        let parts: Vec<&str> = name.split('_').collect();
        match parts.as_slice() {
            ["chol", k] => format!("chol[{k}]"),
            ["trsm", i, k] => format!("trsm[{k}, {i}]"),
            ["syrk", k, i, j] => format!("syrk[{k}, {i}, {j}]"),
            _ => panic!("unexpected job {name}"),
        }
    };
    let rename_tile = |tile: &str| -> String {
        match tile.strip_prefix('S') {
            Some(rest) => {
                let (k, ij) = rest.split_once('[').unwrap();
                format!("S[{k}, {ij}")
            }
            None => tile.to_string(),
        }
    };
    let renamed: BTreeSet<(String, String, String)> = edges(flat.plan())
        .into_iter()
        .map(|(p, c, t)| (rename_job(&p), rename_job(&c), rename_tile(&t)))
        .collect();
    assert_eq!(renamed, edges(loop_form.plan()));
    let mut old_jobs: Vec<String> = job_names(flat.plan())
        .iter()
        .map(|n| rename_job(n))
        .collect();
    let mut new_jobs = job_names(loop_form.plan());
    old_jobs.sort();
    new_jobs.sort();
    assert_eq!(old_jobs, new_jobs);
    // And the drawing itself: one node per job, one edge per dependency.
    let mut dot = Vec::new();
    lpc::graph::write_dot(loop_form.plan(), 1000, &mut dot)
        .unwrap()
        .unwrap();
    let dot = String::from_utf8(dot).unwrap();
    let is_node = |l: &&str| {
        l.strip_prefix("  j")
            .and_then(|rest| rest.split_once(' '))
            .is_some_and(|(n, rest)| n.bytes().all(|b| b.is_ascii_digit()) && rest.starts_with('['))
    };
    let is_edge = |l: &&str| l.starts_with("  j") && l.split(' ').nth(3) == Some("->");
    assert_eq!(dot.lines().filter(is_node).count(), 120);
    assert_eq!(dot.lines().filter(is_edge).count(), renamed.len());
}

/// The loop programs of `tests/pass` mean their expansions too.
#[test]
fn pass_loop_programs_mean_their_expansions() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/pass");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let src = std::fs::read_to_string(&path).unwrap();
        if !src.contains("for ") {
            continue;
        }
        let compiled = compile_clean(path.file_name().unwrap().to_str().unwrap(), &src, &[]);
        assert_expansion_means_the_same(&compiled);
        checked += 1;
    }
    assert!(checked >= 3, "only {checked} loop programs in tests/pass");
}

/// Past the number of jobs the checker will enumerate (4,000,000 by
/// default), a program is proven acyclic only if program order shows every
/// tile written before it is loaded. Every library program must pass at
/// such sizes: they are the sizes the library is for. `tsqr` has 0x555555
/// tiles (near the solver's limit of 2^23, where a level's stride reaches
/// 2^24), so that most levels carry a node, written by a pair or by a carry:
/// its strided levels are solved, not walked tile by tile (which took 7.5 s
/// per million tiles in a release build).
#[test]
fn library_programs_check_clean_beyond_enumeration() {
    let sizes: &[(&str, &[(&str, i64)])] = &[
        ("cholesky", &[("n", 1 << 20), ("b", 256)]),
        ("posv", &[("n", 1 << 18), ("nrhs", 1 << 16), ("b", 256)]),
        ("gesv", &[("n", 1 << 18), ("nrhs", 1 << 16), ("b", 256)]),
        ("lu", &[("n", 1 << 18), ("b", 256)]),
        ("qr", &[("m", 1 << 20), ("n", 1 << 14), ("b", 256)]),
        ("lstsq", &[("m", 1 << 20), ("n", 1 << 14), ("b", 256)]),
        (
            "gemm",
            &[("m", 1 << 16), ("n", 1 << 16), ("k", 1 << 16), ("b", 256)],
        ),
        ("trsolve", &[("n", 1 << 18), ("nrhs", 1 << 16), ("b", 256)]),
        ("tsqr", &[("m", 0x555555 * 256), ("n", 64), ("b", 256)]),
    ];
    for (name, _) in library::PROGRAMS {
        let (_, settings) = sizes
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no size beyond enumeration for {name}"));
        let jobs = lib(name, settings).plan().job_count();
        assert!(jobs > 4_000_000, "{name}: only {jobs} jobs");
    }
}

/// A parameter computed from others (`nt = ceil(n / b)`) is part of the
/// program: setting it would make the tile grid disagree with the sizes
/// (an L with tiles that no job writes), so neither `--set` nor `lpc gen`
/// takes it.
#[test]
fn computed_parameters_cannot_be_set() {
    let src = library::source("cholesky").unwrap();
    let opts = CompileOptions {
        settings: vec![("n".into(), 1000), ("nt".into(), 2)],
        ..CompileOptions::default()
    };
    let outcome = compile_source(src, "lib/cholesky.lp", &opts).unwrap();
    assert!(outcome.compiled.is_none());
    let line = src.lines().position(|l| l.starts_with("param n")).unwrap() + 1;
    let width = line.to_string().len();
    let pad = " ".repeat(width);
    assert_eq!(
        render_plain("lib/cholesky.lp", src, &outcome.diagnostics),
        format!(
            "error: parameter `nt` is computed from other parameters and cannot be set\n\
             {pad} ┌─ lib/cholesky.lp:{line}:42\n\
             {pad} │\n\
             {line} │ param n = 4096, b = 512, seed = 42, nt = ceil(n / b)\n\
             {pad} │                                          ^^^^^^^^^^^ computed from `n`, `b`\n\
             {pad} │\n\
             {pad} = help: set `n`, `b` instead\n\n"
        )
    );
    let generated = std::process::Command::new(env!("CARGO_BIN_EXE_lpc"))
        .args(["gen", "cholesky", "--n", "1000", "--set", "nt=2"])
        .output()
        .unwrap();
    assert_eq!(generated.status.code(), Some(2));
    assert!(generated.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&generated.stderr),
        "error: --set nt: `cholesky` computes `nt` from `n`, `b`; set those instead\n"
    );
}

/// A bundle holds the program, not its DAG: its size does not grow with
/// the matrix, and stays far below a Lambda payload-sized object (64 KiB).
#[test]
fn bundles_of_any_size_are_a_few_kilobytes() {
    let mut sizes = Vec::new();
    for nt in [8i64, 256, 1024, 1 << 20] {
        let compiled = lib("cholesky", &[("n", nt * 1024), ("b", 1024)]);
        sizes.push(lp_program::bundle::encode(compiled.program()).len());
    }
    assert!(sizes.iter().all(|&s| s < 64 * 1024), "{sizes:?}");
    assert!(
        sizes.iter().max().unwrap() - sizes.iter().min().unwrap() < 64,
        "{sizes:?}"
    );
    for (name, _) in library::PROGRAMS {
        let compiled = lib(name, &[]);
        let program = compiled.program();
        assert!(
            program.matrices.iter().any(|m| m.role == Role::Output),
            "{name}"
        );
        assert!(
            lp_program::bundle::encode(program).len() < 64 * 1024,
            "{name}"
        );
    }
}

/// `lpc graph --stats` of a program too large to enumerate counts each
/// family's flops from one job and the index equations
/// (`lp_program::cost::family_flops`): on every library program (whose
/// default tiles divide the sizes), and on a SYRK whose A and B are one
/// tile through a base (`S[0]` is `A`) only when i = j, that must be the
/// sum over the jobs.
#[test]
fn family_flops_are_the_sum_over_their_jobs() {
    const THROUGH_A_BASE: &str = "\
param n = 8, b = 2, nt = 4
matrix A : f64[n, n] tile [b, b] input = random(1)
matrix S[2] : f64[n, n] tile [b, b] temp = A
matrix C : f64[n, n] tile [b, b] output
for i in range(nt) {
    for j in range(nt) {
        upd:
            %r = SYRK A[i, j], A[i, 0], S[0, j, 0]
            S3_WRITE C[i, j], %r
    }
}
";
    let mut programs: Vec<(String, Compiled)> = library::names()
        .into_iter()
        .map(|name| (name.to_string(), lib(name, &[])))
        .collect();
    let base = compile_clean("base.lp", THROUGH_A_BASE, &[]);
    programs.push(("through a base".to_string(), base));
    for (name, compiled) in &programs {
        let plan = compiled.plan();
        let mut summed = 0.0;
        plan.walk(&mut |_, _, id| {
            summed += lp_program::cost::job_cost(plan, &plan.locate(id).unwrap()).flops;
            true
        });
        let families = plan.program().families.len() as u32;
        let counted: f64 = (0..families)
            .map(|f| lp_program::cost::family_flops(plan, f))
            .sum();
        assert!(
            (counted - summed).abs() <= 1e-12 * summed,
            "{name}: {counted} != {summed}"
        );
    }
    // 16 updates of 2 x 2 by 2 x 2 tiles: 16 flops, 8 for the 4 with i = j.
    let plan = programs.last().unwrap().1.plan();
    assert_eq!(
        lp_program::cost::family_flops(plan, 0),
        12.0 * 16.0 + 4.0 * 8.0
    );
}
