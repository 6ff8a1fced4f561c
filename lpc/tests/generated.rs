//! Property tests: programs from the generators check with no diagnostic
//! at all, for many sizes including ragged edge tiles, and their DAGs have
//! the job counts and shapes the algorithms imply.

use lp_std::generate;
use lpc::compile_source;
use lpc::diagnostics::render_plain;
use proptest::prelude::*;

fn compile_clean(text: Vec<u8>) -> lpc::Compiled {
    let src = String::from_utf8(text).unwrap();
    let outcome = compile_source(&src);
    assert!(
        outcome.diagnostics.is_empty(),
        "{}",
        render_plain("generated.lp", &src, &outcome.diagnostics)
    );
    outcome.compiled.unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn cholesky_checks_clean_with_the_formula_job_count(n in 1usize..60, tile in 1usize..20) {
        let tiles = n.div_ceil(tile) as u64;
        prop_assume!(tiles <= 14);
        let mut text = Vec::new();
        generate::cholesky(&mut text, n, tile, 42).unwrap();
        let compiled = compile_clean(text);
        let t = tiles;
        prop_assert_eq!(compiled.bundle.jobs.len() as u64, t + t * (t - 1) / 2 + (t - 1) * t * (t + 1) / 6);
        // One source (the first CHOL) and one sink (the last CHOL).
        let sources = compiled.bundle.jobs.iter().filter(|j| j.in_degree == 0).count();
        let sinks = compiled.bundle.jobs.iter().filter(|j| j.children.is_empty()).count();
        prop_assert_eq!((sources, sinks), (1, 1));
        let stats = lpc::graph::stats(&compiled.bundle, &compiled.graph);
        // CHOL, TRSM, SYRK per step, then the last CHOL: 3(T-1) + 1 levels.
        prop_assert_eq!(stats.critical_path_jobs as u64, 3 * (t - 1) + 1);
    }

    #[test]
    fn gemm_checks_clean_with_one_job_per_output_tile(
        m in 1usize..40, n in 1usize..40, k in 1usize..40, tile in 1usize..16,
    ) {
        prop_assume!(m.div_ceil(tile) * n.div_ceil(tile) * k.div_ceil(tile) <= 2000);
        let mut text = Vec::new();
        generate::gemm(&mut text, [m, n, k], tile, [1, 2]).unwrap();
        let compiled = compile_clean(text);
        prop_assert_eq!(compiled.bundle.jobs.len(), m.div_ceil(tile) * n.div_ceil(tile));
        prop_assert_eq!(compiled.graph.dag.edge_count(), 0);
    }

    #[test]
    fn trsolve_checks_clean(n in 1usize..40, nrhs in 1usize..20, tile in 1usize..16) {
        prop_assume!(n.div_ceil(tile) <= 12);
        let mut text = Vec::new();
        generate::trsolve(&mut text, n, nrhs, tile, [42, 2]).unwrap();
        let compiled = compile_clean(text);
        let (t, r) = (n.div_ceil(tile), nrhs.div_ceil(tile));
        prop_assert_eq!(compiled.bundle.jobs.len(), t * r);
        let stats = lpc::graph::stats(&compiled.bundle, &compiled.graph);
        prop_assert_eq!(stats.critical_path_jobs, t);
    }
}

#[test]
fn cholesky_bundle_of_two_tiles_matches_the_seed_structure() {
    let mut text = Vec::new();
    generate::cholesky(&mut text, 8, 4, 7).unwrap();
    let compiled = compile_clean(text);
    let b = &compiled.bundle;
    let names: Vec<&str> = b.jobs.iter().map(|j| j.name.as_str()).collect();
    assert_eq!(names, ["chol_0", "trsm_1_0", "syrk_0_1_1", "chol_1"]);
    let children: Vec<&[u32]> = b.jobs.iter().map(|j| j.children.as_slice()).collect();
    assert_eq!(children, [&[1u32][..], &[2], &[3], &[]]);
    let in_degree: Vec<u32> = b.jobs.iter().map(|j| j.in_degree).collect();
    assert_eq!(in_degree, [0, 1, 1, 1]);
    assert_eq!(
        b.matrices
            .iter()
            .map(|m| m.name.as_str())
            .collect::<Vec<_>>(),
        ["A", "L", "S1"]
    );
    assert_eq!(b.matrices[0].init, Some(lp_std::Init::Spd { seed: 7 }));
}
