//! Run-wide counters the workers bump and the driver snapshots for progress
//! and the summary. Plain relaxed atomics: they are statistics, never used to
//! decide anything, so no ordering with the protocol state is needed. The
//! per-kernel times sit behind a lock, taken once per kernel call.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

#[derive(Debug, Default)]
pub struct Metrics {
    executions: AtomicU64,
    jobs_done: AtomicU64,
    /// Rounded to whole flops per job; the rounding error is far below what
    /// a GFLOP/s figure shows.
    flops_done: AtomicU64,
    bytes_loaded: AtomicU64,
    bytes_stored: AtomicU64,
    retries: AtomicU64,
    temp_bytes_held: AtomicU64,
    peak_temp_bytes: AtomicU64,
    inputs_consumed: AtomicU64,
    /// By kernel name; the lock is uncontended next to the microseconds a
    /// call takes at the least.
    kernels: Mutex<BTreeMap<&'static str, KernelTime>>,
}

/// The calls of one kernel over a run, summed over the workers.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct KernelTime {
    pub name: &'static str,
    pub calls: u64,
    /// Time in the kernel, summed over the workers that ran it.
    pub busy: Duration,
    /// Useful flops (`Kernel::flops`).
    pub flops: f64,
}

impl KernelTime {
    /// The rate while the kernel ran: flops per second of its own time,
    /// whichever worker ran it.
    pub fn gflops_per_second(&self) -> f64 {
        gflops_per_second(self.flops, self.busy)
    }
}

/// `flops` done in `time`, in GFLOP/s; 0 in no time.
fn gflops_per_second(flops: f64, time: Duration) -> f64 {
    let secs = time.as_secs_f64();
    if secs > 0.0 { flops / secs / 1e9 } else { 0.0 }
}

/// A point-in-time copy of [`Metrics`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MetricsSnapshot {
    /// Job executions started, duplicates included.
    pub executions: u64,
    /// Distinct jobs finished.
    pub jobs_done: u64,
    pub flops_done: f64,
    pub bytes_loaded: u64,
    pub bytes_stored: u64,
    /// Deliberate re-deliveries after a lease expired.
    pub retries: u64,
    pub temp_bytes_held: u64,
    pub peak_temp_bytes: u64,
    /// Input tiles handed over to their last reader
    /// ([`RunSummary::inputs_consumed`]).
    pub inputs_consumed: u64,
}

impl Metrics {
    pub fn add_execution(&self) {
        self.executions.fetch_add(1, Relaxed);
    }

    pub fn add_finished(&self, flops: f64) {
        self.jobs_done.fetch_add(1, Relaxed);
        if flops > 0.0 {
            self.flops_done.fetch_add(flops.round() as u64, Relaxed);
        }
    }

    pub fn add_loaded(&self, bytes: u64) {
        self.bytes_loaded.fetch_add(bytes, Relaxed);
    }

    pub fn add_stored(&self, bytes: u64) {
        self.bytes_stored.fetch_add(bytes, Relaxed);
    }

    pub fn add_retry(&self) {
        self.retries.fetch_add(1, Relaxed);
    }

    pub fn add_kernel(&self, name: &'static str, busy: Duration, flops: f64) {
        let mut kernels = self.kernels.lock().unwrap_or_else(|p| p.into_inner());
        let k = kernels.entry(name).or_insert(KernelTime {
            name,
            ..KernelTime::default()
        });
        k.calls += 1;
        k.busy += busy;
        k.flops += flops;
    }

    /// The kernels' times, the longest first.
    pub fn kernel_times(&self) -> Vec<KernelTime> {
        let kernels = self.kernels.lock().unwrap_or_else(|p| p.into_inner());
        let mut times: Vec<KernelTime> = kernels.values().copied().collect();
        times.sort_by(|a, b| b.busy.cmp(&a.busy).then(a.name.cmp(b.name)));
        times
    }

    pub fn temp_allocated(&self, bytes: u64) {
        let held = self.temp_bytes_held.fetch_add(bytes, Relaxed) + bytes;
        self.peak_temp_bytes.fetch_max(held, Relaxed);
    }

    pub fn temp_freed(&self, bytes: u64) {
        // Saturating: a duplicate that re-wrote a freed temp is not counted
        // as allocated twice, but its stray tile may be freed by the sweep.
        let _ = self
            .temp_bytes_held
            .fetch_update(Relaxed, Relaxed, |h| Some(h.saturating_sub(bytes)));
    }

    /// An input tile was handed over to its last reader.
    pub fn input_consumed(&self) {
        self.inputs_consumed.fetch_add(1, Relaxed);
    }

    pub fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            executions: self.executions.load(Relaxed),
            jobs_done: self.jobs_done.load(Relaxed),
            flops_done: self.flops_done.load(Relaxed) as f64,
            bytes_loaded: self.bytes_loaded.load(Relaxed),
            bytes_stored: self.bytes_stored.load(Relaxed),
            retries: self.retries.load(Relaxed),
            temp_bytes_held: self.temp_bytes_held.load(Relaxed),
            peak_temp_bytes: self.peak_temp_bytes.load(Relaxed),
            inputs_consumed: self.inputs_consumed.load(Relaxed),
        }
    }
}

/// A periodic snapshot for a progress bar.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    pub jobs_done: u64,
    pub jobs_total: u64,
    pub flops_done: f64,
    pub bytes_loaded: u64,
    pub bytes_stored: u64,
    pub retries: u64,
    pub elapsed: std::time::Duration,
}

/// What a completed run reports.
#[derive(Clone, Debug, PartialEq)]
pub struct RunSummary {
    pub wall: std::time::Duration,
    pub workers: usize,
    /// Distinct jobs (every job of the program, once).
    pub jobs: u64,
    /// Job executions, duplicates and relaunches included.
    pub executions: u64,
    /// Re-deliveries by the driver after a lease expired.
    pub retries: u64,
    pub flops: f64,
    pub bytes_loaded: u64,
    pub bytes_stored: u64,
    /// The longest chain of dependent jobs, in jobs, for a program small
    /// enough to enumerate (`protocol::CRITICAL_PATH_LIMIT`).
    pub critical_path_jobs: Option<usize>,
    /// Most bytes of temp tiles held in the store at any one time, as the
    /// scheduler counts them (every store). The store's own figure, inputs
    /// and outputs included, is `Store::usage` where the store keeps one.
    pub peak_temp_bytes: u64,
    /// Temp tiles left behind by duplicate executions and deleted at the end
    /// (0 in a run without duplicates).
    pub stray_temp_tiles: usize,
    /// Per worker, the time it ran no job (waiting for a ready job, and at
    /// the end); empty where workers come and go (Lambda).
    pub worker_idle: Vec<std::time::Duration>,
    /// Jobs that ran a kernel call on more than one core, lent by workers
    /// waiting for a job (`lp_std::kernel::with_lent_cores`); `None` where
    /// workers do not share a machine (Lambda).
    pub jobs_on_lent_cores: Option<u64>,
    /// How long workers idled while a job was ready, from the trace's
    /// records; `None` without `--trace` (the local backend's only).
    pub idle_waits: Option<crate::trace::IdleWaits>,
    /// Tiles of initialised inputs (`spd(42)`) generated, and loads served
    /// by a tile kept from an earlier load; `None` where the driver cannot
    /// see them (Lambda: each worker generates its own).
    pub generated_inputs: Option<GeneratedCounts>,
    /// Tiles of consumed inputs (`LocalOptions::consumed_inputs`) handed
    /// to their last readers, which updated them in place: no copy of them
    /// was made. 0 where there are none (Lambda, the Python package).
    pub inputs_consumed: u64,
    /// Time and rate per kernel, the longest first; empty where the
    /// driver cannot see the workers' (Lambda).
    pub kernels: Vec<KernelTime>,
    /// The CPU time the process spent during the run; `None` where the
    /// workers are other processes (Lambda) or the platform has no
    /// `getrusage`.
    pub cpu: Option<CpuTime>,
}

/// CPU time, user and system (the kernel's: page faults, file I/O).
/// System time is where a run pays for first touching memory, which on a
/// virtual machine can cost from nothing to a second of a run that takes
/// two (docs/performance.md, "An upper-form Cholesky").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuTime {
    pub user: Duration,
    pub system: Duration,
}

impl CpuTime {
    /// This process's CPU time so far, all threads.
    pub fn of_process() -> Option<CpuTime> {
        #[cfg(unix)]
        {
            let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
            // SAFETY: `usage` is a valid place for the struct getrusage
            // fills in; it is read only when the call succeeds.
            if unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) } != 0 {
                return None;
            }
            // SAFETY: filled by the successful call above.
            let usage = unsafe { usage.assume_init() };
            let time = |t: libc::timeval| {
                let micros = u64::try_from(t.tv_usec).unwrap_or(0);
                Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
                    + Duration::from_micros(micros)
            };
            Some(CpuTime {
                user: time(usage.ru_utime),
                system: time(usage.ru_stime),
            })
        }
        #[cfg(not(unix))]
        {
            None
        }
    }

    /// The time spent since `earlier`.
    pub fn since(self, earlier: CpuTime) -> CpuTime {
        CpuTime {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
        }
    }
}

/// See [`RunSummary::generated_inputs`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GeneratedCounts {
    pub tiles: u64,
    pub reused: u64,
}

impl RunSummary {
    pub fn gflops_per_second(&self) -> f64 {
        gflops_per_second(self.flops, self.wall)
    }
}
