//! Where deliveries run: a fixed pool of threads, or Lambda execution
//! environments created on demand.
//!
//! Threads (`lpc run`'s local backend): W workers from the start; a
//! delivery goes to an idle one or waits in the local backend's queue,
//! which hands out the most urgent job first (`UrgentQueue` with the run's
//! `Priorities`, critical path first, as `LocalQueue` does).
//!
//! Lambda: an invocation goes to an idle warm environment if there is one
//! (the most recently used: a warm pool is reused before it is grown);
//! otherwise a new environment is created, after a cold start, while fewer
//! than the concurrency limit exist and fewer than `scaling_environments`
//! were created in the last `scaling_window` (AWS: 1,000 per 10 s per
//! function); otherwise the invocation waits, as Lambda's queue of
//! asynchronous events holds throttled ones (first in, first out), and is
//! served by the next environment to free up or be allowed. Environments stay warm for the
//! rest of the run.

use crate::clock::{Ns, ns};
use crate::model::{Kind, Model};
use foldhash::HashMap;
use lp_program::{JobId, TileKey};
use lp_runtime::protocol::{Priorities, UrgentQueue};
use std::collections::VecDeque;
use std::sync::Arc;

/// One worker: a thread, or a Lambda execution environment.
#[derive(Clone, Debug, Default)]
pub struct Env {
    pub created: Ns,
    /// The current invocation's handler start (its time limit counts from
    /// there) and the start of its billing (earlier by a billed cold start).
    pub invocation_start: Ns,
    pub billed_from: Ns,
    /// Tiles the last job touched, for a caching model.
    pub cached: Vec<TileKey>,
    /// Since when it has waited for a delivery (threads: from the start),
    /// for the trace's `idle` slices.
    pub idle_since: Option<Ns>,
}

/// Where a delivery goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// On this (idle, warm) worker now.
    Start(usize),
    /// On a new environment, whose handler starts at the given time.
    Cold(usize, Ns),
    /// It waits; if a scaling window frees a slot, at this time.
    Queued(Option<Ns>),
}

pub struct Platform {
    pub kind: Kind,
    limit: usize,
    scaling: usize,
    window: Ns,
    pub cold: Ns,
    pub envs: Vec<Env>,
    idle: Vec<usize>,
    queue: UrgentQueue,
    /// How many times each job waits in `queue`: the lease checks ask of
    /// every overdue job, and the queue can only answer by a scan.
    queued: HashMap<JobId, u32>,
    /// The order of the waiting deliveries (all equal on Lambda).
    priorities: Arc<Priorities>,
    created: VecDeque<Ns>,
}

impl Platform {
    /// `priorities` orders the waiting deliveries (equal ones, as the
    /// caller gives Lambda, leave them first in, first out).
    pub fn new(model: &Model, workers: u64, priorities: Arc<Priorities>) -> Platform {
        let p = &model.file.platform;
        let mut platform = Platform {
            kind: model.kind(),
            limit: workers as usize,
            scaling: (p.scaling_environments.get() as usize).max(1),
            window: ns(p.scaling_window_s.get()),
            cold: ns(p.cold_start_s.get()),
            envs: Vec::new(),
            idle: Vec::new(),
            queue: UrgentQueue::default(),
            queued: HashMap::default(),
            priorities,
            created: VecDeque::new(),
        };
        if platform.kind == Kind::Threads {
            let idle = Env {
                idle_since: Some(0),
                ..Env::default()
            };
            platform.envs = vec![idle; workers as usize];
            // Popped from the end: thread 0 takes the first delivery.
            platform.idle = (0..workers as usize).rev().collect();
        }
        platform
    }

    /// Workers in an invocation other than the one starting a body (all
    /// workers but the idle ones and itself).
    pub fn others_busy(&self) -> usize {
        self.envs.len().saturating_sub(self.idle.len() + 1)
    }

    /// Whether `job` waits for a worker (the local driver does not count a
    /// queued delivery against its lease).
    pub fn is_queued(&self, job: JobId) -> bool {
        self.queued.contains_key(&job)
    }

    /// A delivery of `job` arrives at `now`.
    pub fn place(&mut self, job: JobId, now: Ns) -> Placement {
        if let Some(env) = self.idle.pop() {
            return Placement::Start(env);
        }
        match self.create(now) {
            Ok(env) => Placement::Cold(env, now + self.cold),
            Err(retry) => {
                self.queue.push(job, self.priorities.of(job));
                *self.queued.entry(job).or_insert(0) += 1;
                Placement::Queued(retry)
            }
        }
    }

    /// A new environment if the limits allow one now; otherwise when the
    /// scaling window will (`None` if the concurrency limit is the reason).
    fn create(&mut self, now: Ns) -> Result<usize, Option<Ns>> {
        if self.kind == Kind::Threads || self.envs.len() >= self.limit {
            return Err(None);
        }
        while self
            .created
            .front()
            .is_some_and(|&t| t + self.window <= now)
        {
            self.created.pop_front();
        }
        if self.created.len() >= self.scaling {
            return Err(self.created.front().map(|&t| t + self.window));
        }
        self.created.push_back(now);
        self.envs.push(Env {
            created: now,
            ..Env::default()
        });
        Ok(self.envs.len() - 1)
    }

    /// A scaling window moved on: new environments for waiting deliveries,
    /// as many as allowed; the next time to try, if some still wait.
    pub fn retry(&mut self, now: Ns) -> (Vec<(usize, JobId, Ns)>, Option<Ns>) {
        let mut started = Vec::new();
        while let Some(job) = self.queue.peek() {
            match self.create(now) {
                Ok(env) => {
                    self.pop();
                    started.push((env, job, now + self.cold));
                }
                Err(retry) => return (started, retry),
            }
        }
        (started, None)
    }

    /// The most urgent waiting delivery, out of the queue.
    fn pop(&mut self) -> Option<JobId> {
        let job = self.queue.pop()?;
        if let Some(n) = self.queued.get_mut(&job) {
            *n -= 1;
            if *n == 0 {
                self.queued.remove(&job);
            }
        }
        Some(job)
    }

    /// `env` finished its invocation at `now`: the next waiting delivery,
    /// if any, runs on it at once; otherwise it idles.
    pub fn release(&mut self, env: usize) -> Option<JobId> {
        match self.pop() {
            Some(job) => Some(job),
            None => {
                self.idle.push(env);
                None
            }
        }
    }
}
