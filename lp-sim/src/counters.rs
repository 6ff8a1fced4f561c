//! [`SimCounters`]: the protocol's `Counters` on a virtual clock.
//!
//! The state and its semantics are those of the local backend's
//! `LocalCounters` (`lp_runtime::local`): an entry per job from its first
//! finished parent (or its launch) to its finish, holding the distinct
//! finished parents and the launch time, plus a set of finished jobs, and
//! reader counts per temp tile until the last reader. What differs is time
//! and cost: every call is one request to a counter service, charged to
//! the caller's [`Cursor`] and counted in the [`Tally`], and a launch time
//! is virtual. `note_started` restarts the lease only where the modelled
//! backend does (threads; DynamoDB's does nothing).
//!
//! For the critical-path bound each entry also keeps the latest end of its
//! finished parents' executions: `record_done` is where the protocol walks
//! a job's out-edges, so the bound costs no DAG of its own.

use crate::clock::{Cursor, Ns};
use crate::report::Tally;
use fixedbitset::FixedBitSet;
use lp_program::{JobId, Plan, TileKey};
use lp_runtime::protocol::{Counters, ProtoResult, count_release};
// foldhash, not SipHash: these maps take a lookup per protocol step of
// millions of simulated jobs, and their keys are not attacker-chosen.
use foldhash::{HashMap, HashSet};
use std::collections::BTreeSet;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Latencies of the counter service.
#[derive(Clone, Copy, Debug)]
pub struct CounterCosts {
    pub read: Ns,
    pub write: Ns,
    /// Whether `note_started` restarts a job's lease (local backend).
    pub restamp_on_start: bool,
}

#[derive(Default)]
struct Entry {
    parents: Vec<JobId>,
    /// Virtual launch time plus one; 0 until launched.
    launched_at: Ns,
    /// Latest end (writes durable) of a finished parent's execution, on the
    /// critical-path clock.
    parents_end: Ns,
}

/// The finished jobs: a bit per job number where the numbers are dense
/// enough (a loop family's span its loops' bounding box), else a set. By
/// the end of a run every job is in it, and most protocol steps ask it: as
/// a bitset a 2.8-million-job Cholesky's fits in 2 MiB of cache.
enum Finished {
    Bits { bits: FixedBitSet, count: u64 },
    Set(HashSet<JobId>),
}

/// Job numbers spanning at most this many times the number of jobs get a
/// bitset, of at most `MAX_BITS` bits (128 MiB: a program's size is not a
/// safe allocation size).
const DENSE_FACTOR: u64 = 64;
const MAX_BITS: u64 = 1 << 30;

impl Finished {
    fn new(id_space: u64, jobs: u64) -> Finished {
        match usize::try_from(id_space) {
            Ok(bits)
                if id_space <= MAX_BITS && id_space <= DENSE_FACTOR.saturating_mul(jobs.max(1)) =>
            {
                Finished::Bits {
                    bits: FixedBitSet::with_capacity(bits),
                    count: 0,
                }
            }
            _ => Finished::Set(HashSet::default()),
        }
    }

    fn contains(&self, job: JobId) -> bool {
        match self {
            Finished::Bits { bits, .. } => usize::try_from(job).is_ok_and(|j| bits.contains(j)),
            Finished::Set(set) => set.contains(&job),
        }
    }

    /// Whether `job` was not in the set before.
    fn insert(&mut self, job: JobId) -> bool {
        match self {
            Finished::Bits { bits, count } => {
                let j = usize::try_from(job).expect("job numbers are below the id space");
                let new = !bits.put(j);
                *count += u64::from(new);
                new
            }
            Finished::Set(set) => set.insert(job),
        }
    }

    fn len(&self) -> u64 {
        match self {
            Finished::Bits { count, .. } => *count,
            Finished::Set(set) => set.len() as u64,
        }
    }
}

struct State {
    jobs: HashMap<JobId, Entry>,
    finished: Finished,
    released: HashMap<TileKey, u32>,
    /// Jobs that ever had an entry (DynamoDB items, for the driver's Query).
    items: u64,
    launched: u64,
    /// `(launched_at, job)` of the launched jobs not finished, in lease
    /// order: the lease checks and the engine's skipping of idle polls ask
    /// which lease ends first, and a run may have many jobs in flight.
    leases: BTreeSet<(Ns, JobId)>,
}

impl State {
    /// Stamps a launched job's lease at `now`.
    fn restamp(&mut self, job: JobId, now: Ns) {
        if let Some(e) = self.jobs.get_mut(&job)
            && e.launched_at != 0
        {
            self.leases.remove(&(e.launched_at, job));
            e.launched_at = now + 1;
            self.leases.insert((e.launched_at, job));
        }
    }
}

pub struct SimCounters {
    state: Mutex<State>,
    cursor: Cursor,
    costs: CounterCosts,
    tally: Arc<Tally>,
    /// The critical-path end of the job whose completions are being
    /// recorded (set by the engine before it runs the protocol).
    recording_end: AtomicU64,
}

impl SimCounters {
    /// Counters for the jobs of `plan`.
    pub fn new(plan: &Plan, cursor: Cursor, costs: CounterCosts, tally: Arc<Tally>) -> SimCounters {
        let state = State {
            jobs: HashMap::default(),
            finished: Finished::new(plan.id_space(), plan.job_count()),
            released: HashMap::default(),
            items: 0,
            launched: 0,
            leases: BTreeSet::new(),
        };
        SimCounters {
            state: Mutex::new(state),
            cursor,
            costs,
            tally,
            recording_end: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn read(&self) {
        self.cursor.advance(self.costs.read);
        self.tally.counter_reads.fetch_add(1, Relaxed);
    }

    fn write(&self) {
        self.cursor.advance(self.costs.write);
        self.tally.counter_writes.fetch_add(1, Relaxed);
    }

    /// Sets the critical-path end of the job about to record completions.
    pub fn set_recording_end(&self, end: Ns) {
        self.recording_end.store(end, Ordering::Relaxed);
    }

    /// The latest critical-path end of `job`'s finished parents (0 for a
    /// root or an unknown job).
    pub fn parents_end(&self, job: JobId) -> Ns {
        self.lock().jobs.get(&job).map_or(0, |e| e.parents_end)
    }

    /// Job items created so far, and jobs launched.
    pub fn items_and_launched(&self) -> (u64, u64) {
        let s = self.lock();
        (s.items, s.launched)
    }

    /// Finished jobs.
    pub fn finished_count(&self) -> u64 {
        self.lock().finished.len()
    }

    /// The first moment a lease check would find a launched, unfinished
    /// job overdue, among those `skip` does not pass over.
    pub fn first_overdue(&self, lease: Ns, skip: &dyn Fn(JobId) -> bool) -> Option<Ns> {
        let s = self.lock();
        let mut leases = s.leases.iter();
        let &(launched_at, _) = leases.find(|&&(_, job)| !skip(job))?;
        Some((launched_at - 1).saturating_add(lease))
    }
}

fn entry(s: &mut State, job: JobId) -> &mut Entry {
    s.jobs.entry(job).or_insert_with(|| {
        s.items += 1;
        Entry::default()
    })
}

impl Counters for SimCounters {
    fn record_done(&self, child: JobId, parent: JobId) -> ProtoResult<u32> {
        self.write();
        let end = self.recording_end.load(Ordering::Relaxed);
        let mut s = self.lock();
        if s.finished.contains(child) {
            return Ok(0);
        }
        let e = entry(&mut s, child);
        if !e.parents.contains(&parent) {
            e.parents.push(parent);
        }
        e.parents_end = e.parents_end.max(end);
        Ok(e.parents.len() as u32)
    }

    fn try_mark_launched(&self, job: JobId) -> ProtoResult<bool> {
        self.write();
        let now = self.cursor.now();
        let mut s = self.lock();
        if s.finished.contains(job) {
            return Ok(false);
        }
        let e = entry(&mut s, job);
        if e.launched_at != 0 {
            return Ok(false);
        }
        e.launched_at = now + 1;
        s.launched += 1;
        s.leases.insert((now + 1, job));
        Ok(true)
    }

    fn note_relaunch(&self, job: JobId) -> ProtoResult<()> {
        self.write();
        let now = self.cursor.now();
        self.lock().restamp(job, now);
        Ok(())
    }

    fn note_started(&self, job: JobId) -> ProtoResult<()> {
        if !self.costs.restamp_on_start {
            return Ok(());
        }
        let now = self.cursor.now();
        self.lock().restamp(job, now);
        Ok(())
    }

    fn mark_finished(&self, job: JobId) -> ProtoResult<bool> {
        self.write();
        let mut s = self.lock();
        if !s.finished.insert(job) {
            return Ok(false);
        }
        if let Some(e) = s.jobs.remove(&job) {
            s.leases.remove(&(e.launched_at, job));
        }
        Ok(true)
    }

    fn is_finished(&self, job: JobId) -> ProtoResult<bool> {
        self.read();
        Ok(self.lock().finished.contains(job))
    }

    // The simulated requests are never retried: a count is enough.
    fn release_reader(&self, tile: TileKey, _reader: JobId, readers: u32) -> ProtoResult<u32> {
        self.write();
        let mut s = self.lock();
        let left = count_release(s.released.entry(tile).or_insert(0), tile, readers)?;
        if left == 0 {
            s.released.remove(&tile);
        }
        Ok(left)
    }

    fn overdue(&self, lease: Duration) -> ProtoResult<Vec<JobId>> {
        let now = self.cursor.now();
        let lease = lease.as_nanos() as Ns;
        let s = self.lock();
        // Overdue: now + 1 >= launched_at + lease.
        let Some(last) = (now + 1).checked_sub(lease) else {
            return Ok(Vec::new());
        };
        let mut out: Vec<JobId> = s
            .leases
            .range(..=(last, JobId::MAX))
            .map(|&(_, j)| j)
            .collect();
        // By job number, not by lease: the order of the relaunches is the
        // order of their deliveries.
        out.sort_unstable();
        Ok(out)
    }

    fn launched_and_finished(&self) -> ProtoResult<(u64, u64)> {
        let s = self.lock();
        Ok((s.launched, s.finished.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::Finished;

    /// Both forms answer alike: a dense span gets bits, a sparse one (or
    /// one too large to allocate) a set.
    #[test]
    fn finished_jobs_as_bits_or_as_a_set() {
        let forms = [
            Finished::new(1000, 100),
            Finished::new(1000, 10),
            Finished::new(u64::MAX, u64::MAX),
        ];
        assert!(matches!(forms[0], Finished::Bits { .. }));
        assert!(matches!(forms[1], Finished::Set(_)));
        assert!(matches!(forms[2], Finished::Set(_)));
        for mut f in forms {
            assert!(f.insert(7) && f.insert(999) && !f.insert(7));
            assert_eq!(f.len(), 2);
            assert!(f.contains(7) && f.contains(999) && !f.contains(8));
            assert!(!f.contains(u64::MAX));
        }
    }
}
