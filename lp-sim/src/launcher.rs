//! [`SimLauncher`]: the protocol's `Launcher` on a virtual clock. A launch
//! is one request (an Invoke, a queue push) charged to the caller's
//! [`Cursor`]; the engine collects the launches after each protocol call
//! and delivers each job to the platform when its request completes.

use crate::clock::{Cursor, Ns};
use crate::report::Tally;
use lp_program::JobId;
use lp_runtime::protocol::{Launcher, Priorities, ProtoResult};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};

pub struct SimLauncher {
    cursor: Cursor,
    request: Ns,
    tally: Arc<Tally>,
    launched: Mutex<Vec<(JobId, Ns)>>,
    /// Which ready child a worker continues with, as the local queue's
    /// `priority` says (all equal on Lambda).
    priorities: Arc<Priorities>,
}

impl SimLauncher {
    pub fn new(
        cursor: Cursor,
        request: Ns,
        tally: Arc<Tally>,
        priorities: Arc<Priorities>,
    ) -> SimLauncher {
        SimLauncher {
            cursor,
            request,
            tally,
            launched: Mutex::new(Vec::new()),
            priorities,
        }
    }

    /// The launches since the last call: job and the time its request
    /// completed, in order.
    pub fn take(&self) -> Vec<(JobId, Ns)> {
        std::mem::take(&mut *self.launched.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Launcher for SimLauncher {
    fn launch(&self, job: JobId) -> ProtoResult<()> {
        let at = self.cursor.advance(self.request);
        self.tally.invocations.fetch_add(1, Relaxed);
        self.launched
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((job, at));
        Ok(())
    }

    fn priority(&self, job: JobId) -> f64 {
        self.priorities.of(job)
    }
}
