//! Work split over a few threads: imports and exports of whole matrices,
//! which the run's workers would otherwise wait for.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};

/// Runs `task(k, scratch)` for every `k` in `0..n` on up to `workers`
/// threads (the calling one included), each with its own `scratch` from
/// `init`. After a task fails no new one starts, and the error of the
/// failed task with the lowest `k` is returned.
pub fn try_each<S, E: Send>(
    n: usize,
    workers: usize,
    init: impl Fn() -> S + Sync,
    task: impl Fn(usize, &mut S) -> Result<(), E> + Sync,
) -> Result<(), E> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let first_error: Mutex<Option<(usize, E)>> = Mutex::new(None);
    let work = || {
        let mut scratch = init();
        while !failed.load(Relaxed) {
            let k = next.fetch_add(1, Relaxed);
            if k >= n {
                break;
            }
            if let Err(e) = task(k, &mut scratch) {
                failed.store(true, Relaxed);
                let mut slot = first_error.lock().unwrap_or_else(|p| p.into_inner());
                if slot.as_ref().is_none_or(|(j, _)| k < *j) {
                    *slot = Some((k, e));
                }
            }
        }
    };
    std::thread::scope(|s| {
        for _ in 1..workers.clamp(1, n.max(1)) {
            s.spawn(work);
        }
        work();
    });
    match first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some((_, e)) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_task_runs_once_and_the_lowest_failure_wins() {
        for workers in [1, 2, 5] {
            let ran = Mutex::new(Vec::new());
            try_each(
                20,
                workers,
                || (),
                |k, _| -> Result<(), ()> {
                    ran.lock().unwrap().push(k);
                    Ok(())
                },
            )
            .unwrap();
            let mut ran = ran.into_inner().unwrap();
            ran.sort();
            assert_eq!(ran, (0..20).collect::<Vec<_>>());
            let err = try_each(
                20,
                workers,
                || (),
                |k, _| if k % 7 == 3 { Err(k) } else { Ok(()) },
            );
            // Task 3 fails first in any order that starts it; 10 and 17 may
            // have started before the failure was seen.
            assert_eq!(err, Err(3));
        }
    }
}
