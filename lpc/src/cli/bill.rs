//! The bill of a run on the lambda backend: the requests the driver and
//! the workers made per service, priced with the built-in `lambda` model of
//! `lpc sim` (models/lambda.toml), and the GB-seconds of the workers.

use crate::cli::human_bytes;
use lp_runtime::request_times::{RequestTimes, Timed};
use lp_runtime::requests::Bill;
use lp_sim::Model;
use lp_sim::report::{Report, Requests};

/// A DynamoDB Query page bought with strongly consistent reads holds up to
/// 1 MB: 256 read units of 4 KB. Pages are priced at that bound.
const READ_UNITS_PER_QUERY_PAGE: u64 = 256;

/// The bill's requests as the simulator counts them: S3 LISTs are billed
/// with the PUT class.
pub fn as_sim_requests(bill: &Bill) -> Requests {
    let r = &bill.requests;
    Requests {
        store_gets: r.s3_get,
        store_puts: r.s3_put + r.s3_list,
        store_deletes: r.s3_delete,
        counter_reads: r.dynamo_read,
        counter_writes: r.dynamo_write,
        counter_queries: r.dynamo_query,
        query_read_units: r.dynamo_query * READ_UNITS_PER_QUERY_PAGE,
        invocations: r.invoke,
    }
}

/// GB-seconds, and whether the workers' memory was known (else the
/// model's memory size is assumed).
pub fn gb_seconds(bill: &Bill, model: &Model) -> (f64, bool) {
    if bill.mb_ms > 0 {
        (bill.mb_ms as f64 / 1024.0 / 1000.0, true)
    } else {
        let mb = model.file.worker.memory_mb.get();
        (bill.busy_ms as f64 * mb / 1024.0 / 1000.0, false)
    }
}

/// Prints the bill under the summary (stderr, as the summary).
pub fn print(bill: &Bill) {
    let line = |label: &str, value: String| lpc::say!("  {label:<14}{value}");
    let model = match Model::load("lambda") {
        Ok(model) => model,
        Err(e) => {
            line("cost", format!("not priced: {e}"));
            return;
        }
    };
    let r = &bill.requests;
    line(
        "requests",
        format!(
            "S3: {} GET, {} PUT, {} DELETE, {} LIST; DynamoDB: {} reads, {} writes, {} query pages; Lambda: {} invokes",
            r.s3_get,
            r.s3_put,
            r.s3_delete,
            r.s3_list,
            r.dynamo_read,
            r.dynamo_write,
            r.dynamo_query,
            r.invoke
        ),
    );
    if let Some(latency) = latency(&bill.times) {
        line("latency", latency);
    }
    let (gb_s, known) = gb_seconds(bill, &model);
    let memory = if known {
        String::new()
    } else {
        format!(
            " (memory size unknown to the workers: {} MB assumed)",
            model.file.worker.memory_mb.get()
        )
    };
    line(
        "workers",
        format!(
            "{:.1} s in invocations, {gb_s:.2} GB-s{memory}",
            bill.busy_ms as f64 / 1000.0
        ),
    );
    // Report::price takes billed nanoseconds at the model's memory; give it
    // the time that makes the measured GB-seconds.
    let gb = model.file.worker.memory_mb.get() / 1024.0;
    let billed_ns = (gb_s / gb * 1e9).round() as u64;
    let (_, d) = Report::price(&model, &as_sim_requests(bill), billed_ns);
    line(
        "cost",
        format!(
            "${:.4} at {} prices (compute ${:.4}, invocations ${:.4}, S3 ${:.4}, DynamoDB ${:.4})",
            d.total(),
            model.name(),
            d.compute,
            d.invocations,
            d.store,
            d.counters
        ),
    );
}

/// The mean time of each kind of call, as the workers and the driver
/// waited for it, with the mean size of tile transfers: "S3 GET 53.1 ms
/// (2.0 MiB), absent 2.5 ms, ...; DynamoDB read 0.9 ms, ...". Kinds with no
/// call are left out; `None` if none was timed.
pub fn latency(times: &RequestTimes) -> Option<String> {
    let mean = |kind: Timed, label: &str| {
        let w = times.get(kind);
        let seconds = w.mean_seconds()?;
        let size = match kind {
            Timed::TileGet | Timed::TilePut => {
                format!(" ({})", human_bytes(w.mean_bytes()?.round() as u64))
            }
            _ => String::new(),
        };
        Some(format!("{label} {:.1} ms{size}", seconds * 1e3))
    };
    let group = |service: &str, kinds: &[(Timed, &str)]| {
        let parts: Vec<String> = kinds.iter().filter_map(|&(k, l)| mean(k, l)).collect();
        (!parts.is_empty()).then(|| format!("{service} {}", parts.join(", ")))
    };
    let groups: Vec<String> = [
        group(
            "S3",
            &[
                (Timed::TileGet, "GET"),
                (Timed::TileAbsent, "GET of an absent tile"),
                (Timed::TilePut, "PUT"),
                (Timed::TileDelete, "DELETE"),
            ],
        ),
        group(
            "DynamoDB",
            &[(Timed::CounterRead, "read"), (Timed::CounterWrite, "write")],
        ),
        group("Lambda", &[(Timed::Invoke, "invoke")]),
    ]
    .into_iter()
    .flatten()
    .collect();
    (!groups.is_empty()).then(|| format!("{} (means)", groups.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lp_runtime::requests::RequestCounts;

    #[test]
    fn a_bill_is_priced_with_the_lambda_model() {
        let bill = Bill {
            requests: RequestCounts {
                s3_get: 1000,
                s3_put: 100,
                s3_list: 10,
                dynamo_read: 2000,
                dynamo_write: 4000,
                invoke: 50,
                ..RequestCounts::default()
            },
            busy_ms: 10_000,
            mb_ms: 3008 * 10_000,
            ..Bill::default()
        };
        let model = Model::load("lambda").unwrap();
        let (gb_s, known) = gb_seconds(&bill, &model);
        assert!(known);
        assert!((gb_s - 29.375).abs() < 1e-9);
        let requests = as_sim_requests(&bill);
        assert_eq!(requests.store_puts, 110);
        let (_, d) = Report::price(&model, &requests, 10_000_000_000);
        // 1000 GETs at $0.0004 / 1000 + 110 PUT-class at $0.005 / 1000.
        assert!((d.store - (0.0004 + 0.00055)).abs() < 1e-12);
        // 4000 WRU at $0.625 / M + 2000 RRU at $0.125 / M.
        assert!((d.counters - (0.0025 + 0.00025)).abs() < 1e-12);
        assert!((d.invocations - 50.0 * 2e-7).abs() < 1e-15);
    }

    #[test]
    fn latencies_are_means_per_call_with_the_mean_tile_size() {
        use lp_runtime::request_times::Waited;
        assert_eq!(latency(&RequestTimes::default()), None);
        let mut t = RequestTimes::default();
        let w = |calls, micros, bytes| Waited {
            calls,
            micros,
            bytes,
        };
        // Two GETs of 2 MiB tiles (+ the .npy header) in 40 and 66.2 ms.
        t.set(Timed::TileGet, w(2, 106_200, 2 * 2_097_280));
        t.set(Timed::TileAbsent, w(4, 10_000, 0));
        t.set(Timed::CounterWrite, w(3, 2_700, 0));
        assert_eq!(
            latency(&t).unwrap(),
            "S3 GET 53.1 ms (2.0 MiB), GET of an absent tile 2.5 ms; DynamoDB write 0.9 ms (means)"
        );
    }
}
