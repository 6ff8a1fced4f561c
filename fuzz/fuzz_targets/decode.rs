//! Decode a well-hashed bundle around arbitrary payload bytes. The hash
//! proves only that the payload arrived whole, not who made it, so the
//! decoder and the checks it re-runs must refuse a hostile payload in
//! words: no panic, no allocation sized by a number in the bytes. A plan
//! that decodes is then used as a worker uses it: its first jobs located,
//! their tiles resolved, each tile's writer and readers solved.
//!
//! Seed it with real payloads (a bundle less its 52-byte header), which
//! the mutations then damage: `fuzz/seed-decode.sh` writes them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lp_program::bundle::{decode, wrap};

fuzz_target!(|payload: &[u8]| {
    let Ok(plan) = decode(&wrap(payload)) else {
        return;
    };
    let mut jobs = Vec::new();
    plan.walk(&mut |_, _, id| {
        jobs.push(id);
        jobs.len() < 64
    });
    for id in jobs {
        let Some(loc) = plan.locate(id) else {
            continue;
        };
        for k in 0..plan.family(loc.family).instrs.len() {
            if let Ok(Some(r)) = plan.resolve(&loc, k) {
                let _ = plan.writer(r.key);
                let _ = plan.readers(r.key);
            }
        }
    }
});
