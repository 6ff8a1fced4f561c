//! Timing shared by lp-std's benches (kernels, lu, qr): medians of wall
//! and on-CPU time, because the machines are shared and noisy.

// Each bench uses a part of this module.
#![allow(dead_code)]

use std::time::{Duration, Instant};

/// This thread's time on a CPU, which a shared, oversubscribed machine
/// inflates far less than wall time.
#[cfg(unix)]
pub fn thread_cpu_secs() -> Option<f64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for the call to fill.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (rc == 0).then_some(ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9)
}

#[cfg(not(unix))]
pub fn thread_cpu_secs() -> Option<f64> {
    None
}

/// Median wall seconds of `f` and median on-CPU seconds (NaN where the
/// platform cannot tell), over at least 5 runs and about 0.5 s.
pub fn timed(mut f: impl FnMut()) -> (f64, f64) {
    timed_with(|| (), |()| f())
}

/// [`timed`] for a call that consumes an input: `setup` makes a fresh one
/// before each call, and neither it nor dropping the call's result is
/// timed.
pub fn timed_with<T, U>(mut setup: impl FnMut() -> T, mut f: impl FnMut(T) -> U) -> (f64, f64) {
    drop(f(setup()));
    let (mut wall, mut cpu) = (Vec::new(), Vec::new());
    let start = Instant::now();
    while wall.len() < 5 || (start.elapsed() < Duration::from_millis(500) && wall.len() < 200) {
        let input = setup();
        let c = thread_cpu_secs();
        let t = Instant::now();
        let output = f(input);
        wall.push(t.elapsed().as_secs_f64());
        cpu.push(match (c, thread_cpu_secs()) {
            (Some(a), Some(b)) => b - a,
            _ => f64::NAN,
        });
        drop(output);
    }
    (median(wall), median(cpu))
}

/// The median of `v` (the upper one for an even count).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
