//! Structured fuzzing without nightly: random programs built from the
//! language's own pieces (declarations with odd shapes, labels, instructions
//! with random opcodes, registers and tile operands, stray tokens), so that
//! most inputs get past the parser and exercise the checker and the lowering.
//! Nothing may panic and every diagnostic must render.
//!
//! A short run is part of the suite; `LPC_FUZZ_CASES=200000 cargo test -p lpc
//! --test fuzz --release` runs a long one. The cargo-fuzz target in `fuzz/`
//! covers arbitrary bytes where a nightly toolchain is available.

use proptest::prelude::*;

fn name() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["A", "B", "L", "S", "T", "x"]).prop_map(str::to_string)
}

fn int() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..4, 0u64..20, Just(u64::MAX), Just(u32::MAX as u64 + 1)]
}

fn reg() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u8..6).prop_map(|r| format!("%{r}")),
        Just("%a".to_string())
    ]
}

fn operand() -> impl Strategy<Value = String> {
    prop_oneof![
        reg(),
        (name(), int(), int()).prop_map(|(m, i, j)| format!("{m}[{i}, {j}]")),
    ]
}

fn line() -> impl Strategy<Value = String> {
    let opcode = prop::sample::select(vec![
        "S3_LOAD", "S3_WRITE", "RET", "CHOL", "INVRS", "TRSM", "TRSM_L", "SYRK", "GEMM", "GEMM_NT",
        "GEMM_TN", "GEMM_TT", "ADD", "SUB", "FOO",
    ]);
    let decl = (
        name(),
        any::<bool>(),
        prop::sample::select(vec!["f64", "f32"]),
        (int(), int(), int(), int()),
        prop::sample::select(vec!["input", "output", "temp"]),
        prop::sample::select(vec![
            "",
            " = spd(3)",
            " = zeros",
            " = random",
            " = nope(1, 2)",
        ]),
    )
        .prop_map(|(m, sym, dtype, (r, c, tr, tc), role, init)| {
            let sym = if sym { "sym " } else { "" };
            format!("matrix {m} : {sym}{dtype}[{r}, {c}] tile [{tr}, {tc}] {role}{init}")
        });
    let instr = (
        prop::option::of(reg()),
        opcode,
        prop::collection::vec(operand(), 0..4),
    )
        .prop_map(|(dest, op, operands)| {
            let dest = dest.map(|d| format!("{d} = ")).unwrap_or_default();
            format!("    {dest}{op} {}", operands.join(", "))
        });
    prop_oneof![
        3 => instr,
        1 => decl,
        1 => prop::sample::select(vec!["j0:", "j1:", "j2:", "j0 :"]).prop_map(str::to_string),
        1 => "[ -~]{0,12}",
    ]
}

fn cases() -> u32 {
    std::env::var("LPC_FUZZ_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(500)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn random_programs_never_panic(lines in prop::collection::vec(line(), 0..30)) {
        let src = lines.join("\n");
        let outcome = lpc::compile_source(&src);
        let _ = lpc::diagnostics::render_plain("fuzz.lp", &src, &outcome.diagnostics);
        let _ = lpc::diagnostics::render_json("fuzz.lp", &src, &outcome.diagnostics);
        if let Some(compiled) = outcome.compiled {
            let mut dot = Vec::new();
            lpc::graph::write_dot(&compiled.bundle, &compiled.graph, &mut dot).unwrap();
            let _ = lpc::graph::stats(&compiled.bundle, &compiled.graph);
        }
    }

    #[test]
    fn arbitrary_text_never_panics(src in "\\PC{0,200}") {
        let outcome = lpc::compile_source(&src);
        let _ = lpc::diagnostics::render_plain("fuzz.lp", &src, &outcome.diagnostics);
    }
}
