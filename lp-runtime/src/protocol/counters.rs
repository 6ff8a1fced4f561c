//! The two traits every backend implements: [`Counters`] (the shared
//! protocol state of a run: completion records, launch flags, leases, temp
//! tile reader counts) and [`Launcher`] (deliver a job to some worker).

use lp_program::{JobId, TileKey};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A failure of the coordination backend itself (a counter table, a queue,
/// an invocation API), as opposed to a failure of a job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendError {
    pub message: String,
    /// Whether the same request may pass when tried again later: the
    /// service throttled it or failed on its side. Launchers say so; a
    /// driver none of whose first jobs could be launched fails at once
    /// unless it is.
    pub transient: bool,
}

impl BackendError {
    /// A failure that trying again would not mend.
    pub fn new(message: impl Into<String>) -> BackendError {
        BackendError {
            message: message.into(),
            transient: false,
        }
    }
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

pub type ProtoResult<T> = Result<T, BackendError>;

/// One more release of temp `tile`, whose releases so far a counting
/// backend keeps in `count`: how many of its `readers` are left. More
/// releases than readers is an error, not a wrap-around: the tile was
/// deleted at zero, and a reader may still have needed it.
pub fn count_release(count: &mut u32, tile: TileKey, readers: u32) -> ProtoResult<u32> {
    *count += 1;
    readers.checked_sub(*count).ok_or_else(|| {
        BackendError::new(format!(
            "temp tile {tile:?} released more often than its {readers} readers"
        ))
    })
}

/// The shared protocol state of one run.
///
/// Every method must be safe to call concurrently from many workers and
/// must be idempotent where stated: deliveries and completions may repeat.
/// Nothing here knows the DAG: in-degrees and reader counts come from the
/// plan and are passed in, so a backend holds state only for the jobs and
/// tiles a run has touched.
pub trait Counters: Send + Sync {
    /// Adds `parent` to `child`'s set of finished parents and returns the
    /// number of distinct finished parents. Recording the same parent twice
    /// does not change the count.
    fn record_done(&self, child: JobId, parent: JobId) -> ProtoResult<u32>;
    /// Sets `job`'s launched flag (and its launched-at time) if it was not
    /// set: true for exactly one caller per job.
    fn try_mark_launched(&self, job: JobId) -> ProtoResult<bool>;
    /// Restarts `job`'s lease for a deliberate re-delivery by the driver.
    fn note_relaunch(&self, job: JobId) -> ProtoResult<()>;
    /// A worker started executing `job`: backends whose deliveries can wait
    /// in a queue restart the lease here, so a long backlog is not mistaken
    /// for lost deliveries. Where a delivery starts at once (an invocation),
    /// the launch time is close enough and this does nothing.
    ///
    /// Deliberately without a default body: a wrapper (fault injection,
    /// instrumentation) must forward it, not silently drop it.
    fn note_started(&self, job: JobId) -> ProtoResult<()>;
    /// Sets `job`'s finished flag; true only for the first caller.
    fn mark_finished(&self, job: JobId) -> ProtoResult<bool>;
    fn is_finished(&self, job: JobId) -> ProtoResult<bool>;
    /// Records that `reader`, one of the `readers` jobs that load temp
    /// `tile`, has finished, and returns how many are still to finish. The
    /// protocol calls it once per (reading job, tile); a backend whose
    /// request may be applied and then retried (DynamoDB, when the answer
    /// is lost) must count one reader once, so that a tile is never freed
    /// before its last reader is done.
    fn release_reader(&self, tile: TileKey, reader: JobId, readers: u32) -> ProtoResult<u32>;
    /// Jobs launched but not finished whose (re)launch is older than `lease`.
    fn overdue(&self, lease: Duration) -> ProtoResult<Vec<JobId>>;
    /// How many jobs are launched and how many finished, for the driver.
    fn launched_and_finished(&self) -> ProtoResult<(u64, u64)>;
}

type RecordDoneHook<C> = dyn Fn(&C, JobId, JobId) -> ProtoResult<u32> + Send + Sync;
type JobHook<C> = dyn Fn(&C, JobId) -> ProtoResult<bool> + Send + Sync;

/// Counters that forward every step to `inner` except the ones given a
/// hook. Fault injection (the worker's `LP_WORKER_FAULT`) and the protocol
/// tests intercept only the steps a crash, a replay or a lost record
/// happens at; everything else, including `note_started`, must reach the
/// real backend, and forwarding it in one place keeps a wrapper from
/// dropping a step by omission.
pub struct InterceptedCounters<C> {
    inner: C,
    record_done: Option<Box<RecordDoneHook<C>>>,
    try_mark_launched: Option<Box<JobHook<C>>>,
    is_finished: Option<Box<JobHook<C>>>,
}

impl<C: Counters> InterceptedCounters<C> {
    pub fn new(inner: C) -> InterceptedCounters<C> {
        InterceptedCounters {
            inner,
            record_done: None,
            try_mark_launched: None,
            is_finished: None,
        }
    }

    /// Runs `hook(inner, child, parent)` instead of `record_done`.
    pub fn on_record_done(
        mut self,
        hook: impl Fn(&C, JobId, JobId) -> ProtoResult<u32> + Send + Sync + 'static,
    ) -> Self {
        self.record_done = Some(Box::new(hook));
        self
    }

    /// Runs `hook(inner, job)` instead of `try_mark_launched`.
    pub fn on_try_mark_launched(
        mut self,
        hook: impl Fn(&C, JobId) -> ProtoResult<bool> + Send + Sync + 'static,
    ) -> Self {
        self.try_mark_launched = Some(Box::new(hook));
        self
    }

    /// Runs `hook(inner, job)` instead of `is_finished`.
    pub fn on_is_finished(
        mut self,
        hook: impl Fn(&C, JobId) -> ProtoResult<bool> + Send + Sync + 'static,
    ) -> Self {
        self.is_finished = Some(Box::new(hook));
        self
    }
}

impl<C: Counters> Counters for InterceptedCounters<C> {
    fn record_done(&self, child: JobId, parent: JobId) -> ProtoResult<u32> {
        match &self.record_done {
            Some(hook) => hook(&self.inner, child, parent),
            None => self.inner.record_done(child, parent),
        }
    }
    fn try_mark_launched(&self, job: JobId) -> ProtoResult<bool> {
        match &self.try_mark_launched {
            Some(hook) => hook(&self.inner, job),
            None => self.inner.try_mark_launched(job),
        }
    }
    fn note_relaunch(&self, job: JobId) -> ProtoResult<()> {
        self.inner.note_relaunch(job)
    }
    fn note_started(&self, job: JobId) -> ProtoResult<()> {
        self.inner.note_started(job)
    }
    fn mark_finished(&self, job: JobId) -> ProtoResult<bool> {
        self.inner.mark_finished(job)
    }
    fn is_finished(&self, job: JobId) -> ProtoResult<bool> {
        match &self.is_finished {
            Some(hook) => hook(&self.inner, job),
            None => self.inner.is_finished(job),
        }
    }
    fn release_reader(&self, tile: TileKey, reader: JobId, readers: u32) -> ProtoResult<u32> {
        self.inner.release_reader(tile, reader, readers)
    }
    fn overdue(&self, lease: Duration) -> ProtoResult<Vec<JobId>> {
        self.inner.overdue(lease)
    }
    fn launched_and_finished(&self) -> ProtoResult<(u64, u64)> {
        self.inner.launched_and_finished()
    }
}

/// Shared counters are counters (wrappers hold them as `Arc<dyn Counters>`).
impl<T: Counters + ?Sized> Counters for Arc<T> {
    fn record_done(&self, child: JobId, parent: JobId) -> ProtoResult<u32> {
        (**self).record_done(child, parent)
    }
    fn try_mark_launched(&self, job: JobId) -> ProtoResult<bool> {
        (**self).try_mark_launched(job)
    }
    fn note_relaunch(&self, job: JobId) -> ProtoResult<()> {
        (**self).note_relaunch(job)
    }
    fn note_started(&self, job: JobId) -> ProtoResult<()> {
        (**self).note_started(job)
    }
    fn mark_finished(&self, job: JobId) -> ProtoResult<bool> {
        (**self).mark_finished(job)
    }
    fn is_finished(&self, job: JobId) -> ProtoResult<bool> {
        (**self).is_finished(job)
    }
    fn release_reader(&self, tile: TileKey, reader: JobId, readers: u32) -> ProtoResult<u32> {
        (**self).release_reader(tile, reader, readers)
    }
    fn overdue(&self, lease: Duration) -> ProtoResult<Vec<JobId>> {
        (**self).overdue(lease)
    }
    fn launched_and_finished(&self) -> ProtoResult<(u64, u64)> {
        (**self).launched_and_finished()
    }
}

/// Delivers a job to a worker: a queue push locally, an async invocation on
/// Lambda. A delivery may be lost; the driver's lease covers that.
pub trait Launcher: Send + Sync {
    fn launch(&self, job: JobId) -> ProtoResult<()>;
    /// How urgent `job` is for this launcher's deliveries (`priority`:
    /// higher first); a worker finishing a job continues with its most
    /// urgent ready child. Launchers that cannot order deliveries (a Lambda
    /// invocation runs when it runs) leave every job equal, and the first
    /// ready child is continued with.
    fn priority(&self, _job: JobId) -> f64 {
        0.0
    }
}
