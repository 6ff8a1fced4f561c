//! Requests to the remote services, counted the way they are billed.
//!
//! The lambda backend counts every request its S3 store, DynamoDB counters
//! and launcher make in a [`RequestTally`]; workers add theirs to the run
//! item with their metrics, and `lpc run --backend lambda` prices the total
//! with the same model `lpc sim` uses. The rules for how many requests one
//! tile transfer takes (ranged reads and multipart uploads of large
//! objects) live here, outside the `aws` feature, so the simulator counts
//! exactly what the backend does.

use crate::request_times::{RequestTimes, Timed, Timer};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

/// Objects larger than this are transferred in [`PART_SIZE`] pieces.
pub const MULTIPART_THRESHOLD: usize = 64 << 20;
/// Part size of multipart uploads and ranged reads (S3's minimum is 5 MiB).
pub const PART_SIZE: usize = 16 << 20;

/// GET requests that read an object of `bytes` (`None`: absent, one GET
/// that finds nothing): the first range, then one per further part.
pub fn get_requests(bytes: Option<usize>) -> u64 {
    bytes.map_or(1, |b| b.div_ceil(PART_SIZE).max(1) as u64)
}

/// PUT-class requests that store an object of `bytes`: one PUT, or
/// CreateMultipartUpload, one UploadPart per part and the completion.
pub fn put_requests(bytes: usize) -> u64 {
    if bytes <= MULTIPART_THRESHOLD {
        1
    } else {
        bytes.div_ceil(PART_SIZE) as u64 + 2
    }
}

/// Requests made one after the other to read an object of `bytes`: the
/// first range, then (for a larger object) the other ranges at once.
pub fn get_rounds(bytes: usize) -> u64 {
    if bytes > PART_SIZE { 2 } else { 1 }
}

/// Requests made one after the other to store an object of `bytes`: one
/// PUT, or CreateMultipartUpload, the parts at once, and the completion.
pub fn put_rounds(bytes: usize) -> u64 {
    if bytes > MULTIPART_THRESHOLD { 3 } else { 1 }
}

/// Request counts by kind (a snapshot, or a difference of two).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestCounts {
    pub s3_get: u64,
    /// PUT, multipart parts and completions, CreateBucket: S3's PUT class.
    pub s3_put: u64,
    pub s3_delete: u64,
    /// LIST pages (billed as PUT-class requests).
    pub s3_list: u64,
    /// GetItem (strongly consistent).
    pub dynamo_read: u64,
    /// UpdateItem, PutItem.
    pub dynamo_write: u64,
    /// Query pages.
    pub dynamo_query: u64,
    pub invoke: u64,
}

impl RequestCounts {
    /// `self - earlier`, field by field (saturating).
    pub fn since(&self, earlier: &RequestCounts) -> RequestCounts {
        RequestCounts {
            s3_get: self.s3_get.saturating_sub(earlier.s3_get),
            s3_put: self.s3_put.saturating_sub(earlier.s3_put),
            s3_delete: self.s3_delete.saturating_sub(earlier.s3_delete),
            s3_list: self.s3_list.saturating_sub(earlier.s3_list),
            dynamo_read: self.dynamo_read.saturating_sub(earlier.dynamo_read),
            dynamo_write: self.dynamo_write.saturating_sub(earlier.dynamo_write),
            dynamo_query: self.dynamo_query.saturating_sub(earlier.dynamo_query),
            invoke: self.invoke.saturating_sub(earlier.invoke),
        }
    }

    /// `self + other`, field by field.
    pub fn plus(&self, other: &RequestCounts) -> RequestCounts {
        RequestCounts {
            s3_get: self.s3_get + other.s3_get,
            s3_put: self.s3_put + other.s3_put,
            s3_delete: self.s3_delete + other.s3_delete,
            s3_list: self.s3_list + other.s3_list,
            dynamo_read: self.dynamo_read + other.dynamo_read,
            dynamo_write: self.dynamo_write + other.dynamo_write,
            dynamo_query: self.dynamo_query + other.dynamo_query,
            invoke: self.invoke + other.invoke,
        }
    }
}

/// What a run on the lambda backend used, for its bill: the requests of
/// the driver and of every worker, and the workers' time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bill {
    pub requests: RequestCounts,
    /// Milliseconds the workers spent in invocations (from the handler's
    /// start to each job's metrics update): what Lambda bills, less the
    /// runtime's start and the last update of each invocation.
    pub busy_ms: u64,
    /// The same, times each worker's memory in MB (0 when the workers did
    /// not know their memory size).
    pub mb_ms: u64,
    /// How long the requests took (`crate::request_times`).
    pub times: RequestTimes,
}

/// Which counter a request goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    S3Get,
    S3Put,
    S3Delete,
    S3List,
    DynamoRead,
    DynamoWrite,
    DynamoQuery,
    Invoke,
}

/// Requests counted as they are made, and the calls timed as they end,
/// from any thread.
#[derive(Debug, Default)]
pub struct RequestTally {
    counts: [AtomicU64; 8],
    timer: Timer,
}

impl RequestTally {
    pub fn add(&self, request: Request, n: u64) {
        self.counts[request as usize].fetch_add(n, Relaxed);
    }

    /// Runs `call` and, if it succeeds, times it as the kind `what` says
    /// (with the bytes it moved).
    pub fn timed<T, E>(
        &self,
        call: impl FnOnce() -> Result<T, E>,
        what: impl FnOnce(&T) -> (Timed, u64),
    ) -> Result<T, E> {
        let started = Instant::now();
        let out = call();
        if let Ok(value) = &out {
            let (kind, bytes) = what(value);
            self.timer.record(kind, bytes, started.elapsed());
        }
        out
    }

    pub fn times(&self) -> RequestTimes {
        self.timer.snapshot()
    }

    pub fn snapshot(&self) -> RequestCounts {
        let get = |r: Request| self.counts[r as usize].load(Relaxed);
        RequestCounts {
            s3_get: get(Request::S3Get),
            s3_put: get(Request::S3Put),
            s3_delete: get(Request::S3Delete),
            s3_list: get(Request::S3List),
            dynamo_read: get(Request::DynamoRead),
            dynamo_write: get(Request::DynamoWrite),
            dynamo_query: get(Request::DynamoQuery),
            invoke: get(Request::Invoke),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfers_of_large_objects_take_several_requests() {
        assert_eq!(get_requests(None), 1);
        assert_eq!(get_requests(Some(0)), 1);
        assert_eq!(get_requests(Some(PART_SIZE)), 1);
        assert_eq!(get_requests(Some(PART_SIZE + 1)), 2);
        // A 4096 x 4096 f64 tile (128 MiB plus the .npy header): 9 ranges.
        assert_eq!(get_requests(Some(128 * 1024 * 1024 + 128)), 9);
        assert_eq!(put_requests(MULTIPART_THRESHOLD), 1);
        assert_eq!(put_requests(128 * 1024 * 1024 + 128), 9 + 2);
        // One round trip up to a part; then the first range and the rest
        // at once, or create, the parts at once, complete.
        assert_eq!((get_rounds(PART_SIZE), get_rounds(PART_SIZE + 1)), (1, 2));
        assert_eq!(put_rounds(MULTIPART_THRESHOLD), 1);
        assert_eq!(put_rounds(MULTIPART_THRESHOLD + 1), 3);
    }

    #[test]
    fn tally_snapshots_and_differences() {
        let t = RequestTally::default();
        t.add(Request::S3Get, 3);
        let a = t.snapshot();
        t.add(Request::Invoke, 1);
        t.add(Request::S3Get, 1);
        let d = t.snapshot().since(&a);
        assert_eq!((d.s3_get, d.invoke, d.s3_put), (1, 1, 0));
        assert_eq!(a.plus(&d), t.snapshot());
    }

    #[test]
    fn calls_that_succeed_are_timed_by_the_kind_their_result_says() {
        let t = RequestTally::default();
        let found: Result<Option<Vec<u8>>, ()> = t.timed(
            || Ok(Some(vec![0; 100])),
            |got| match got {
                Some(bytes) => (Timed::TileGet, bytes.len() as u64),
                None => (Timed::TileAbsent, 0),
            },
        );
        assert!(found.is_ok());
        let failed: Result<(), &str> = t.timed(|| Err("refused"), |_| (Timed::TilePut, 7));
        assert_eq!(failed, Err("refused"));
        let times = t.times();
        assert_eq!(
            (
                times.get(Timed::TileGet).calls,
                times.get(Timed::TileGet).bytes
            ),
            (1, 100)
        );
        assert_eq!(times.get(Timed::TilePut).calls, 0);
        assert_eq!(times.get(Timed::TileAbsent).calls, 0);
    }
}
