//! What a simulation reports: times, bounds, utilisation, requests per
//! service and their price, GB-seconds, tiles held.

use crate::clock::{Ns, secs};
use crate::model::{Kind, Model};
use crate::timeline::Timeline;
use lp_runtime::trace::IdleWaits;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;

/// Requests counted as they are made (atomics only because the protocol
/// traits are `Sync`; the simulation is single-threaded).
#[derive(Debug, Default)]
pub struct Tally {
    pub store_gets: AtomicU64,
    pub store_puts: AtomicU64,
    pub store_deletes: AtomicU64,
    pub counter_reads: AtomicU64,
    pub counter_writes: AtomicU64,
    pub counter_queries: AtomicU64,
    /// Read units of the queries (items x item size / 4 KB).
    pub query_read_units: AtomicU64,
    pub invocations: AtomicU64,
}

/// A snapshot of a [`Tally`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Requests {
    pub store_gets: u64,
    pub store_puts: u64,
    pub store_deletes: u64,
    pub counter_reads: u64,
    pub counter_writes: u64,
    pub counter_queries: u64,
    pub query_read_units: u64,
    pub invocations: u64,
}

impl Tally {
    pub fn snapshot(&self) -> Requests {
        Requests {
            store_gets: self.store_gets.load(Relaxed),
            store_puts: self.store_puts.load(Relaxed),
            store_deletes: self.store_deletes.load(Relaxed),
            counter_reads: self.counter_reads.load(Relaxed),
            counter_writes: self.counter_writes.load(Relaxed),
            counter_queries: self.counter_queries.load(Relaxed),
            query_read_units: self.query_read_units.load(Relaxed),
            invocations: self.invocations.load(Relaxed),
        }
    }
}

/// Dollars by what they pay for.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Dollars {
    pub compute: f64,
    pub invocations: f64,
    pub store: f64,
    pub counters: f64,
}

impl Dollars {
    pub fn total(&self) -> f64 {
        self.compute + self.invocations + self.store + self.counters
    }

    /// The first figure that overflowed to infinity (the model's figures
    /// are finite, their products need not be), as (what, the figures
    /// behind it).
    pub fn overflow(&self, gb_seconds: f64) -> Option<(&'static str, &'static str)> {
        [
            (gb_seconds, "GB-seconds", "worker.memory_mb"),
            (
                self.compute,
                "compute cost",
                "worker.memory_mb and prices.gb_second",
            ),
            (self.invocations, "invocation cost", "prices.invocation"),
            (
                self.store,
                "store cost",
                "prices.store_get, store_put and store_delete",
            ),
            (
                self.counters,
                "counter cost",
                "prices.counter_write_unit and counter_read_unit",
            ),
            (self.total(), "total cost", "prices"),
        ]
        .into_iter()
        .find(|(value, _, _)| !value.is_finite())
        .map(|(_, what, figures)| (what, figures))
    }
}

/// The result of one simulation.
#[derive(Clone, Debug)]
pub struct Report {
    pub model: String,
    pub kind: Kind,
    pub workers: u64,
    pub jobs: u64,
    /// Job executions, duplicates included (those that found their temps
    /// freed and stopped too).
    pub executions: u64,
    /// Re-deliveries the driver sent after a lease expired (`lpc run`'s
    /// "retries"), whether or not they ran: one that arrives after its job
    /// finished ends at once, and one still in flight at the end never
    /// arrives.
    pub relaunches: u64,
    /// Invocations killed at the platform's time limit.
    pub killed: u64,
    /// When the last job finished.
    pub makespan: Ns,
    /// When the driver sees the run complete (its next poll).
    pub driver_done: Ns,
    /// The longest chain of job executions (start to durable writes), with
    /// no waiting: no schedule can finish sooner with these durations.
    pub critical_path: Ns,
    /// Busy time of all workers divided by the workers: no schedule on
    /// this many workers can finish sooner either.
    pub work_bound: Ns,
    /// Sum of the workers' busy time (jobs and their requests).
    pub busy: Ns,
    pub flops: f64,
    pub bytes_loaded: u64,
    pub bytes_stored: u64,
    pub requests: Requests,
    /// Billed invocation time (GB-seconds = this x memory).
    pub billed: Ns,
    pub gb_seconds: f64,
    pub dollars: Dollars,
    /// Environments ever created (Lambda), or the threads.
    pub environments: u64,
    pub cold_starts: u64,
    pub peak_tiles: u64,
    pub peak_temp_tiles: u64,
    pub peak_temp_bytes: u64,
    pub timeline: Timeline,
    /// With a trace: how long workers idled while a job was ready, from the
    /// trace's slices (as `lpc run --trace` reports).
    pub idle_waits: Option<IdleWaits>,
}

impl Report {
    /// Executions beyond each job's first. A job is launched once by the
    /// protocol (its launched flag), so every one of them is a lease
    /// relaunch that ran, a killed job's included.
    pub fn repeats(&self) -> u64 {
        self.executions.saturating_sub(self.jobs)
    }

    /// Fraction of worker time spent busy, from the start to the makespan.
    pub fn utilisation(&self) -> f64 {
        let span = self.makespan as f64 * self.workers as f64;
        if span > 0.0 {
            self.busy as f64 / span
        } else {
            0.0
        }
    }

    /// Prices `requests` and the billed time under `model`.
    pub fn price(model: &Model, requests: &Requests, billed: Ns) -> (f64, Dollars) {
        let p = &model.file.prices;
        let gb = model.file.worker.memory_mb.get() / 1024.0;
        let gb_seconds = secs(billed) * gb;
        let dollars = Dollars {
            compute: gb_seconds * p.gb_second.get(),
            invocations: requests.invocations as f64 * p.invocation.get(),
            store: requests.store_gets as f64 * p.store_get.get()
                + requests.store_puts as f64 * p.store_put.get()
                + requests.store_deletes as f64 * p.store_delete.get(),
            counters: requests.counter_writes as f64 * p.counter_write_unit.get()
                + (requests.counter_reads + requests.query_read_units) as f64
                    * p.counter_read_unit.get(),
        };
        (gb_seconds, dollars)
    }
}
