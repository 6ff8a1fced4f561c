//! Virtual time: whole nanoseconds since the run started, so that exact
//! cases add up exactly, and the cursor that charges requests.
//!
//! The protocol code the simulator runs (`complete_and_finish`, the driver
//! steps) makes its requests through the simulated counters, launcher and
//! store one after the other, as a real worker does. Each of those adds its
//! latency to the shared [`Cursor`], which the engine sets to the moment
//! the caller starts and reads back when the protocol code returns: the
//! requests of one call run back to back on the caller's clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Nanoseconds of virtual time.
pub type Ns = u64;

/// Virtual time the simulator runs to: about 36 years. A model or a
/// program whose run would pass it (a latency of 1e10 s, a rate of 1e-300,
/// a tile of 8 million squared) is refused (`SimError::PastHorizon`), not
/// wrapped around: every duration is capped at it and every sum saturates,
/// so one past it stays past it.
pub const HORIZON: Ns = 1 << 60;

/// Seconds to whole nanoseconds (rounded; negative and NaN give 0; at most
/// [`HORIZON`]).
pub fn ns(seconds: f64) -> Ns {
    if seconds.is_finite() && seconds > 0.0 {
        ((seconds * 1e9).round() as Ns).min(HORIZON)
    } else if seconds == f64::INFINITY {
        HORIZON
    } else {
        0
    }
}

pub fn secs(t: Ns) -> f64 {
    t as f64 / 1e9
}

/// The virtual clock of whoever is making requests now (the simulation is
/// single-threaded; atomics only because the protocol traits are `Sync`).
#[derive(Clone, Debug, Default)]
pub struct Cursor(Arc<AtomicU64>);

impl Cursor {
    pub fn set(&self, t: Ns) {
        self.0.store(t, Relaxed);
    }

    pub fn now(&self) -> Ns {
        self.0.load(Relaxed)
    }

    /// Charges a request of `d`; returns the time it completes.
    pub fn advance(&self, d: Ns) -> Ns {
        let end = self.now().saturating_add(d);
        self.set(end);
        end
    }
}
