//! Parse, check and lower arbitrary UTF-8: nothing may panic, and every
//! diagnostic must render.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|src: &str| {
    let outcome = lpc::compile_source(src);
    let _ = lpc::diagnostics::render_plain("fuzz.lp", src, &outcome.diagnostics);
    let _ = lpc::diagnostics::render_json("fuzz.lp", src, &outcome.diagnostics);
});
