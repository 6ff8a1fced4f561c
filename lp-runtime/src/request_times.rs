//! How long the remote requests of a run took, by the kinds a cost model
//! gives a latency to (`lp-sim`'s models: `store.get_latency_s`,
//! `counters.write_latency_s`, ...), so that a model can be fitted to a
//! run and a run compared with its prediction.
//!
//! Each call is timed where it is made, as its caller waits for it: a tile
//! read from the first request to the last byte (a large tile's ranges
//! included), a write until the store acknowledges it, a counter update
//! until DynamoDB answers. Tile transfers also record their bytes, so that
//! runs with different tile sizes separate a latency from a bandwidth.
//! Workers add their times to the run item with their request counts
//! (`crate::requests`); `lpc run --backend lambda` prints the means.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// A kind of timed call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timed {
    /// A tile read that found the tile.
    TileGet,
    /// A tile read that found nothing (a lazily initialised input's tile).
    TileAbsent,
    TilePut,
    TileDelete,
    /// A consistent GetItem.
    CounterRead,
    /// An UpdateItem, conditional or not.
    CounterWrite,
    /// An asynchronous Invoke (until Lambda accepts it).
    Invoke,
}

impl Timed {
    pub const ALL: [Timed; 7] = [
        Timed::TileGet,
        Timed::TileAbsent,
        Timed::TilePut,
        Timed::TileDelete,
        Timed::CounterRead,
        Timed::CounterWrite,
        Timed::Invoke,
    ];

    /// A short name (also the stem of the run item's attributes).
    pub fn name(self) -> &'static str {
        match self {
            Timed::TileGet => "get",
            Timed::TileAbsent => "absent",
            Timed::TilePut => "put",
            Timed::TileDelete => "delete",
            Timed::CounterRead => "read",
            Timed::CounterWrite => "write",
            Timed::Invoke => "invoke",
        }
    }
}

/// The calls of one kind: how many, their total time and bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Waited {
    pub calls: u64,
    pub micros: u64,
    pub bytes: u64,
}

impl Waited {
    /// Mean seconds per call; `None` without calls.
    pub fn mean_seconds(&self) -> Option<f64> {
        (self.calls > 0).then(|| self.micros as f64 / 1e6 / self.calls as f64)
    }

    /// Mean bytes per call; `None` without calls.
    pub fn mean_bytes(&self) -> Option<f64> {
        (self.calls > 0).then(|| self.bytes as f64 / self.calls as f64)
    }
}

/// Every kind's calls (a snapshot, or a difference of two).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestTimes([Waited; 7]);

impl RequestTimes {
    pub fn get(&self, kind: Timed) -> Waited {
        self.0[kind as usize]
    }

    pub fn set(&mut self, kind: Timed, waited: Waited) {
        self.0[kind as usize] = waited;
    }

    /// `self - earlier`, field by field (saturating).
    pub fn since(&self, earlier: &RequestTimes) -> RequestTimes {
        self.zip(earlier, u64::saturating_sub)
    }

    /// `self + other`, field by field.
    pub fn plus(&self, other: &RequestTimes) -> RequestTimes {
        self.zip(other, |a, b| a + b)
    }

    fn zip(&self, other: &RequestTimes, f: impl Fn(u64, u64) -> u64) -> RequestTimes {
        let mut out = RequestTimes::default();
        for (o, (a, b)) in out.0.iter_mut().zip(self.0.iter().zip(&other.0)) {
            *o = Waited {
                calls: f(a.calls, b.calls),
                micros: f(a.micros, b.micros),
                bytes: f(a.bytes, b.bytes),
            };
        }
        out
    }
}

/// Calls timed as they end, from any thread.
#[derive(Debug, Default)]
pub struct Timer([[AtomicU64; 3]; 7]);

impl Timer {
    pub fn record(&self, kind: Timed, bytes: u64, elapsed: Duration) {
        let [calls, micros, b] = &self.0[kind as usize];
        calls.fetch_add(1, Relaxed);
        micros.fetch_add(elapsed.as_micros() as u64, Relaxed);
        b.fetch_add(bytes, Relaxed);
    }

    pub fn snapshot(&self) -> RequestTimes {
        let mut out = RequestTimes::default();
        for (o, [calls, micros, bytes]) in out.0.iter_mut().zip(&self.0) {
            *o = Waited {
                calls: calls.load(Relaxed),
                micros: micros.load(Relaxed),
                bytes: bytes.load(Relaxed),
            };
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_add_up_and_differences_give_the_calls_between() {
        let t = Timer::default();
        t.record(Timed::TileGet, 2_097_280, Duration::from_millis(40));
        let before = t.snapshot();
        t.record(Timed::TileGet, 2_097_280, Duration::from_millis(60));
        t.record(Timed::CounterWrite, 0, Duration::from_micros(900));
        let after = t.snapshot();
        let d = after.since(&before);
        assert_eq!(
            d.get(Timed::TileGet),
            Waited {
                calls: 1,
                micros: 60_000,
                bytes: 2_097_280
            }
        );
        assert_eq!(d.get(Timed::CounterWrite).mean_seconds(), Some(0.0009));
        assert_eq!(before.plus(&d), after);
        let get = after.get(Timed::TileGet);
        assert_eq!(
            (get.mean_seconds(), get.mean_bytes()),
            (Some(0.05), Some(2_097_280.0))
        );
        assert_eq!(after.get(Timed::Invoke).mean_seconds(), None);
    }

    #[test]
    fn names_are_distinct() {
        let mut names: Vec<&str> = Timed::ALL.iter().map(|t| t.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Timed::ALL.len());
        assert!(Timed::ALL.iter().enumerate().all(|(i, t)| *t as usize == i));
    }
}
