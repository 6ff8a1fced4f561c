//! Structured fuzzing without nightly: random programs built from the
//! language's own pieces (parameters, declarations with odd shapes and
//! versions, loops with random bounds and steps, labels, instructions with
//! random opcodes, registers and tile operands whose indices are random
//! expressions over the loop variables, stray tokens), so that most inputs
//! get past the parser and exercise the checker, the dependency solver and
//! the analyses. Nothing may panic, every diagnostic must render, and a
//! program that compiles must survive a bundle round trip (whose decoding
//! re-runs the safety analyses) and its views.
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

/// An index or bound: integers, loop variables, parameters and the
/// operators and functions of the language, sometimes ill-formed.
fn expr() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        (0u64..6).prop_map(|v| v.to_string()),
        prop::sample::select(vec!["i", "j", "k", "nt", "q"]).prop_map(str::to_string),
        int().prop_map(|v| v.to_string()),
    ];
    leaf.prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (
                inner.clone(),
                prop::sample::select(vec!["+", "-", "*", "^", "/"]),
                inner.clone()
            )
                .prop_map(|(a, op, b)| format!("{a} {op} {b}")),
            inner.clone().prop_map(|a| format!("-{a}")),
            (
                prop::sample::select(vec!["ceil", "floor", "min", "max", "log2", "sqrt"]),
                inner.clone(),
                inner
            )
                .prop_map(|(f, a, b)| match f {
                    "ceil" | "floor" => format!("{f}({a} / {b})"),
                    "min" | "max" => format!("{f}({a}, {b})"),
                    _ => format!("{f}({a})"),
                }),
        ]
    })
}

fn operand() -> impl Strategy<Value = String> {
    prop_oneof![
        reg(),
        (name(), int(), int()).prop_map(|(m, i, j)| format!("{m}[{i}, {j}]")),
        (name(), prop::collection::vec(expr(), 1..4))
            .prop_map(|(m, ix)| format!("{m}[{}]", ix.join(", "))),
    ]
}

fn line() -> impl Strategy<Value = String> {
    let opcode = prop::sample::select(vec![
        "S3_LOAD",
        "S3_WRITE",
        "RET",
        "CHOL",
        "INVRS",
        "TRSM_RLT",
        "TRSM_LLN",
        "SYRK",
        "GEMM",
        "GEMM_NT",
        "GEMM_TN",
        "GEMM_TT",
        "GEMM_SUB",
        "GEMM_SUB_TN",
        "ADD",
        "SUB",
        "FOO",
    ]);
    let decl = (
        (name(), prop::option::of(expr())).prop_map(|(m, v)| match v {
            Some(v) => format!("{m}[{v}]"),
            None => m,
        }),
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
            " = A",
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
    let param = (
        prop::sample::select(vec!["nt", "q", "n"]),
        prop::option::of(expr()),
    )
        .prop_map(|(p, d)| match d {
            Some(d) => format!("param {p} = {d}"),
            None => format!("param {p}"),
        });
    let for_line = (
        prop::sample::select(vec!["i", "j", "k", "nt"]),
        prop::collection::vec(expr(), 0..4),
    )
        .prop_map(|(v, args)| format!("for {v} in range({}) {{", args.join(", ")));
    prop_oneof![
        6 => instr,
        2 => decl,
        1 => param,
        2 => for_line,
        2 => Just("}".to_string()),
        2 => prop::sample::select(vec!["j0:", "j1:", "j2:", "j0 :", "j0[1, 2]:", "j1[i]:"]).prop_map(str::to_string),
        // Priorities, evaluated by the checker at the corners of a family's
        // domain and by the runtime for every job.
        1 => (prop::sample::select(vec!["j0", "j1", "j2[i]"]), expr())
            .prop_map(|(label, p)| format!("{label}: priority {p}")),
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
        let outcome = lpc::compile_source(&src, "fuzz.lp", &Default::default()).expect("no settings");
        let _ = lpc::diagnostics::render_plain("fuzz.lp", &src, &outcome.diagnostics);
        let _ = lpc::diagnostics::render_json("fuzz.lp", &src, &outcome.diagnostics);
        if let Some(compiled) = outcome.compiled {
            let plan = compiled.plan();
            let mut dot = Vec::new();
            if let Ok(written) = lpc::graph::write_dot(plan, 10_000, &mut dot) {
                written.unwrap();
            }
            let _ = lpc::graph::stats(plan, 10_000);
            // The flat expansion writes every job (`lpc expand` streams it
            // to its output): into memory here, so only as many as the
            // views above take. A loop to 2^32 once filled 24 GiB in a run
            // of a million cases.
            if plan.job_count() <= 10_000 {
                let mut flat = Vec::new();
                lpc::expand::write_flat(plan, "fuzz", &mut flat).unwrap();
            }
            let bytes = lp_program::bundle::encode(compiled.program());
            let decoded = lp_program::bundle::decode(&bytes);
            prop_assert!(decoded.is_ok(), "a checked program is a valid bundle: {:?}", decoded.err());
        }
    }

    #[test]
    fn arbitrary_text_never_panics(src in "\\PC{0,200}") {
        let outcome = lpc::compile_source(&src, "fuzz.lp", &Default::default()).expect("no settings");
        let _ = lpc::diagnostics::render_plain("fuzz.lp", &src, &outcome.diagnostics);
    }
}
