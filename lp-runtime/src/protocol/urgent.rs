//! Deliveries waiting for a worker, most urgent first and, among equals,
//! first launched: the local backend's queue (`LocalQueue`) and `lpc sim`'s
//! model of it and of Lambda's (where every job is equally urgent, so it
//! is first in, first out).

use lp_program::JobId;
use std::collections::BinaryHeap;

#[derive(Default)]
pub struct UrgentQueue {
    heap: BinaryHeap<Queued>,
    seq: u64,
}

impl UrgentQueue {
    pub fn push(&mut self, job: JobId, priority: f64) {
        self.seq += 1;
        self.heap.push(Queued {
            priority,
            seq: self.seq,
            job,
        });
    }

    pub fn pop(&mut self) -> Option<JobId> {
        self.heap.pop().map(|q| q.job)
    }

    /// How many deliveries wait.
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    /// The job [`UrgentQueue::pop`] would return.
    pub fn peek(&self) -> Option<JobId> {
        self.heap.peek().map(|q| q.job)
    }
}

#[derive(Clone, Copy, Debug)]
struct Queued {
    priority: f64,
    seq: u64,
    job: JobId,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // A max-heap: the higher priority, then the earlier launch.
        self.priority
            .total_cmp(&other.priority)
            .then(other.seq.cmp(&self.seq))
    }
}

#[cfg(test)]
mod tests {
    use super::UrgentQueue;

    #[test]
    fn most_urgent_first_then_first_launched() {
        let mut q = UrgentQueue::default();
        for (job, priority) in [(1, 0.0), (2, 5.0), (3, 0.0), (4, 5.0), (5, -1.0)] {
            q.push(job, priority);
        }
        assert_eq!(q.peek(), Some(2));
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(order, [2, 4, 1, 3, 5]);
    }
}
