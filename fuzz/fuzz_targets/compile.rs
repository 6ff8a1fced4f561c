//! Parse, check and lower arbitrary UTF-8: nothing may panic, every
//! diagnostic must render, and a program that compiles must survive a
//! bundle round trip (whose decoding re-runs the safety analyses).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|src: &str| {
    let Ok(outcome) = lpc::compile_source(src, "fuzz.lp", &Default::default()) else {
        return;
    };
    let _ = lpc::diagnostics::render_plain("fuzz.lp", src, &outcome.diagnostics);
    let _ = lpc::diagnostics::render_json("fuzz.lp", src, &outcome.diagnostics);
    if let Some(compiled) = outcome.compiled {
        let bytes = lp_program::bundle::encode(compiled.program());
        assert!(lp_program::bundle::decode(&bytes).is_ok());
    }
});
