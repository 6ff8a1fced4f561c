//! Fitting a Lambda-kind model to measured runs (the `emulated` model, on
//! the emulated AWS stack; the same steps apply to runs on AWS).
//!
//! From training runs (their times, and the request times and busy time
//! the workers recorded in the run item, `lp_runtime::request_times`), the
//! runs on one worker describing a worker alone on the host and the others
//! what workers do to each other:
//!
//! 1. each kind of request gets the mean latency the workers of the
//!    one-worker runs measured (counter reads and writes, deletes,
//!    invokes);
//! 2. tile reads and writes get their mean time per tile size (a table:
//!    on the emulators a read's time is not a latency plus a bandwidth),
//!    and a latency and a bandwidth from the least-squares line through
//!    those points ([`crate::fit::latency_bandwidth`]) for the sizes the
//!    table does not reach, so the one-worker runs need at least two tile
//!    sizes;
//! 3. the kernels run at this machine's one-core rates (`models/local.toml`)
//!    times a share of a core, chosen so that the simulated busy time of
//!    the one-worker runs equals the measured one (what the requests leave
//!    of it is CPU: kernels, and the machine's other tenants);
//! 4. the host contention (how much longer a job body takes per other busy
//!    worker) is chosen so that the simulated busy time of the runs on
//!    several workers equals the measured one (0 without such runs);
//! 5. the delivery of an invocation (from its launch to the handler
//!    running, the worker's start included) is chosen so that the simulated
//!    run times of all runs match the measured ones (their ratios'
//!    geometric mean is 1). A simulated run time here is the makespan plus
//!    half a poll and a read: when the driver sees the run done on average,
//!    as it polls at its own times (`lpc sim` prints the next poll on the
//!    simulated grid instead).
//!
//! Steps 3 to 5 are bisections: the simulated busy time falls as the share
//! grows and grows with the contention, the simulated run time grows with
//! the delivery.

use crate::fit::{FitError, latency_bandwidth, median};
use crate::model::{Model, ModelError, Point, pairs};
use crate::{SimError, SimOptions, simulate};
use lp_program::Plan;
use lp_runtime::request_times::{RequestTimes, Timed, Waited};
use lp_runtime::requests::Bill;
use std::collections::BTreeMap;
use std::fmt;
use toml::Spanned;

/// What the runs of one configuration measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    /// Median run time, seconds.
    pub seconds: f64,
    /// Mean time of the workers in invocations, seconds.
    pub busy_s: f64,
    /// The workers' request times, over all the runs.
    pub times: RequestTimes,
}

impl Measured {
    /// From the runs' times and the bills the workers recorded.
    pub fn from_runs(seconds: &[f64], bills: &[Bill]) -> Measured {
        let busy_ms: u64 = bills.iter().map(|b| b.busy_ms).sum();
        Measured {
            seconds: median(seconds).unwrap_or(f64::NAN),
            busy_s: busy_ms as f64 / 1e3 / bills.len().max(1) as f64,
            times: bills
                .iter()
                .fold(RequestTimes::default(), |t, b| t.plus(&b.times)),
        }
    }
}

/// One training configuration.
pub struct Training {
    pub label: String,
    pub plan: Plan,
    pub workers: u64,
    pub measured: Measured,
}

#[derive(Debug)]
pub enum CalibrationError {
    /// No training run on one worker.
    NoSingleWorkerRun,
    /// No call of this kind in any training run on one worker.
    NoCalls(&'static str),
    Fit(&'static str, FitError),
    /// A bisection found no value in its range.
    NoFit {
        what: &'static str,
        low: f64,
        high: f64,
    },
    /// The training runs' mismatch is not a number at this value (a
    /// training run with no time, say): no bisection can follow it.
    NotANumber {
        what: &'static str,
        at: f64,
    },
    Model(ModelError),
    Sim(String, SimError),
}

impl fmt::Display for CalibrationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CalibrationError::NoSingleWorkerRun => {
                write!(f, "the training runs need runs on one worker (w=1)")
            }
            CalibrationError::NoCalls(kind) => {
                write!(f, "the training runs on one worker timed no `{kind}` call")
            }
            CalibrationError::Fit(what, e) => write!(f, "{what}: {e}"),
            CalibrationError::NoFit { what, low, high } => write!(
                f,
                "no {what} between {low} and {high} matches the training runs"
            ),
            CalibrationError::NotANumber { what, at } => write!(
                f,
                "the training runs' mismatch at a {what} of {at} is not a number"
            ),
            CalibrationError::Model(e) => write!(f, "the fitted model: {e}"),
            CalibrationError::Sim(label, e) => write!(f, "simulating {label}: {e}"),
        }
    }
}

impl std::error::Error for CalibrationError {}

/// The fitted figures, before they are written out.
#[derive(Clone, Debug, PartialEq)]
pub struct Fitted {
    pub read_s: f64,
    pub write_s: f64,
    pub delete_s: f64,
    pub invoke_s: f64,
    pub get: (f64, f64),
    pub put: (f64, f64),
    /// Mean seconds by mean object size, ascending.
    pub get_table: Vec<(f64, f64)>,
    pub put_table: Vec<(f64, f64)>,
    pub cpu_share: f64,
    pub contention: f64,
    pub delivery_s: f64,
}

/// Fits the model to `training` and returns its TOML text, every figure's
/// source naming `command` (which made the training runs).
pub fn emulated_model(training: &[Training], command: &str) -> Result<String, CalibrationError> {
    let fitted = fit(training)?;
    Ok(model_text(&fitted, training, command))
}

/// Rounds of fitting the contention and the delivery in turn.
const PASSES: usize = 3;

/// Steps 1 to 5 of the module doc.
pub fn fit(training: &[Training]) -> Result<Fitted, CalibrationError> {
    let (alone, shared): (Vec<&Training>, Vec<&Training>) =
        training.iter().partition(|r| r.workers == 1);
    if alone.is_empty() {
        return Err(CalibrationError::NoSingleWorkerRun);
    }
    let mut f = latencies(&alone)?;
    let with = |f: Fitted| model_of(&f, training);
    f.cpu_share = bisect("share of a core", 0.02, 8.0, |cpu_share| {
        let model = with(Fitted {
            cpu_share,
            ..f.clone()
        })?;
        // Decreasing in the share: negated to rise through 0.
        Ok(-busy_excess(&alone, &model)?)
    })?;
    // Contention and delivery interact on several workers (whether another
    // worker is busy as a body starts depends on when deliveries land):
    // alternate until both settle.
    for _ in 0..PASSES {
        if !shared.is_empty() {
            f.contention = bisect("host contention", 0.0, 8.0, |contention| {
                busy_excess(
                    &shared,
                    &with(Fitted {
                        contention,
                        ..f.clone()
                    })?,
                )
            })?;
        }
        f.delivery_s = bisect("delivery latency", 0.0, 10.0, |delivery_s| {
            log_ratios(
                training,
                &with(Fitted {
                    delivery_s,
                    ..f.clone()
                })?,
            )
        })?;
    }
    Ok(f)
}

/// Steps 1 and 2: what the workers of the one-worker runs timed.
fn latencies(alone: &[&Training]) -> Result<Fitted, CalibrationError> {
    let all = alone
        .iter()
        .fold(RequestTimes::default(), |t, r| t.plus(&r.measured.times));
    let mean = |kind: Timed| {
        all.get(kind)
            .mean_seconds()
            .ok_or(CalibrationError::NoCalls(kind.name()))
    };
    let line = |table: &[(f64, f64)], what: &'static str| {
        let f = latency_bandwidth(table).map_err(|e| CalibrationError::Fit(what, e))?;
        Ok::<_, CalibrationError>((f.latency_s, f.bytes_per_s))
    };
    let get_table = by_size(alone, Timed::TileGet);
    let put_table = by_size(alone, Timed::TilePut);
    Ok(Fitted {
        read_s: mean(Timed::CounterRead)?,
        write_s: mean(Timed::CounterWrite)?,
        delete_s: mean(Timed::TileDelete)?,
        invoke_s: mean(Timed::Invoke)?,
        get: line(&get_table, "tile reads")?,
        put: line(&put_table, "tile writes")?,
        get_table,
        put_table,
        cpu_share: 1.0,
        contention: 0.0,
        delivery_s: 0.0,
    })
}

/// The sum of log(simulated / measured run time) over `runs`.
fn log_ratios(runs: &[Training], model: &Model) -> Result<f64, CalibrationError> {
    let mut sum = 0.0;
    for r in runs {
        sum += (seen_done(&report(r, model)?, model) / r.measured.seconds).ln();
    }
    Ok(sum)
}

/// The mean time of `kind`'s transfers by their mean size, pooling runs of
/// the same size (to the byte), ascending.
fn by_size(runs: &[&Training], kind: Timed) -> Vec<(f64, f64)> {
    let mut sizes: BTreeMap<u64, Waited> = BTreeMap::new();
    for r in runs {
        let w = r.measured.times.get(kind);
        let Some(size) = w.mean_bytes() else { continue };
        let pooled = sizes.entry(size.round() as u64).or_default();
        pooled.calls += w.calls;
        pooled.micros += w.micros;
    }
    sizes
        .into_iter()
        .filter_map(|(size, w)| Some((size as f64, w.mean_seconds()?)))
        .collect()
}

/// When, on average, a driver polling every `poll_s` from its own start
/// sees the run done: half a poll after the makespan, plus its read.
pub fn seen_done(report: &crate::Report, model: &Model) -> f64 {
    let m = &model.file;
    crate::clock::secs(report.makespan)
        + m.driver.poll_s.get() / 2.0
        + m.counters.read_latency_s.get()
}

/// Simulated minus measured busy time of `runs`, seconds.
fn busy_excess(runs: &[&Training], model: &Model) -> Result<f64, CalibrationError> {
    let mut excess = 0.0;
    for r in runs {
        excess += crate::clock::secs(report(r, model)?.busy) - r.measured.busy_s;
    }
    Ok(excess)
}

fn report(r: &Training, model: &Model) -> Result<crate::Report, CalibrationError> {
    let opts = SimOptions::new(r.workers);
    simulate(&r.plan, model, &opts).map_err(|e| CalibrationError::Sim(r.label.clone(), e))
}

fn model_of(f: &Fitted, training: &[Training]) -> Result<Model, CalibrationError> {
    Model::parse(&model_text(f, training, "calibration"), "(being fitted)")
        .map_err(CalibrationError::Model)
}

/// The `x` in `[low, high]` where the non-decreasing `g` crosses 0 (to a
/// relative 1e-6 of the range). A NaN from `g` is an error: it compares
/// false both ways and would steer the search to `low` unnoticed.
fn bisect(
    what: &'static str,
    mut low: f64,
    mut high: f64,
    mut g: impl FnMut(f64) -> Result<f64, CalibrationError>,
) -> Result<f64, CalibrationError> {
    let mut g = |at: f64| match g(at)? {
        y if y.is_nan() => Err(CalibrationError::NotANumber { what, at }),
        y => Ok(y),
    };
    let (l0, h0) = (low, high);
    if g(low)? > 0.0 || g(high)? < 0.0 {
        return Err(CalibrationError::NoFit {
            what,
            low: l0,
            high: h0,
        });
    }
    while high - low > 1e-6 * (h0 - l0) {
        let mid = (low + high) / 2.0;
        if g(mid)? < 0.0 {
            low = mid;
        } else {
            high = mid;
        }
    }
    Ok((low + high) / 2.0)
}

/// models/emulated.toml's text: its fixed figures, sources and comments,
/// with `@NAME@` where [`model_text`] puts a fitted figure or its source.
const TEMPLATE: &str = include_str!("emulated.toml.in");

/// The model file for the fitted figures `f` of `training`, every source
/// naming `command` (which made the training runs).
pub fn model_text(f: &Fitted, training: &[Training], command: &str) -> String {
    let mut text = TEMPLATE.to_string();
    let header = [("command", command.to_string())];
    let fitted = figures(f, training)
        .into_iter()
        .chain(sources(f, training, command));
    for (name, value) in header.into_iter().chain(fitted) {
        text = text.replace(&format!("@{name}@"), &value);
    }
    text
}

/// The template's figures, formatted.
fn figures(f: &Fitted, training: &[Training]) -> Vec<(&'static str, String)> {
    let local = Model::load("local").expect("the built-in local model parses");
    let init = local.file.store.init_elements_per_s.get();
    let labels: Vec<&str> = training.iter().map(|r| r.label.as_str()).collect();
    vec![
        ("labels", labels.join(", ")),
        ("share", format!("{:.4}", f.cpu_share)),
        ("contention", format!("{:.4}", f.contention)),
        ("invoke", format!("{:.6}", f.invoke_s)),
        ("delivery", format!("{:.6}", f.delivery_s)),
        ("get_table", points(&f.get_table)),
        ("put_table", points(&f.put_table)),
        ("get_l", format!("{:.6}", f.get.0)),
        ("get_bw", format!("{:.4e}", f.get.1)),
        ("put_l", format!("{:.6}", f.put.0)),
        ("put_bw", format!("{:.4e}", f.put.1)),
        ("delete", format!("{:.6}", f.delete_s)),
        ("read", format!("{:.6}", f.read_s)),
        ("write", format!("{:.6}", f.write_s)),
        (
            "transpose",
            format!("{:.4e}", local.file.store.transpose_bytes_per_s.get()),
        ),
        ("z", format!("{:.4e}", init.zeros)),
        ("i", format!("{:.4e}", init.identity)),
        ("r", format!("{:.4e}", init.random)),
        ("s", format!("{:.4e}", init.spd)),
        (
            "kernels",
            kernel_table(local.file.kernels.gflops.value.get_ref()),
        ),
    ]
}

/// The sources of the template's fitted figures, escaped for TOML strings.
fn sources(f: &Fitted, training: &[Training], command: &str) -> Vec<(&'static str, String)> {
    let alone: Vec<&Training> = training.iter().filter(|r| r.workers == 1).collect();
    let all = alone
        .iter()
        .fold(RequestTimes::default(), |t, r| t.plus(&r.measured.times));
    let runs = format!("`{command}` ({})", today());
    let mean_of = |kind: Timed, what: &str| {
        let calls = all.get(kind).calls;
        format!("mean of the {calls} {what} the workers timed in the one-worker runs of {runs}")
    };
    let line_of = |what: &str| {
        format!(
            "least-squares line through the mean {what} by size (get/put_seconds_by_size) the workers timed in the one-worker runs of {runs}"
        )
    };
    let table_of = |what: &str, why: &str| {
        format!(
            "the mean time of the {what} of each tile size the workers timed in the one-worker runs of {runs} ({why})"
        )
    };
    let contention = if f.contention > 0.0 {
        format!(
            "the contention that makes the simulated busy time of the workers equal the measured one in the runs on several workers of {runs}"
        )
    } else {
        format!("0: no run on several workers in {runs}")
    };
    let texts = [
        (
            "share_src",
            format!(
                "the share of a core that makes the simulated busy time of the workers equal the measured one in the one-worker runs of {runs}"
            ),
        ),
        ("contention_src", contention),
        (
            "invoke_src",
            mean_of(
                Timed::Invoke,
                "asynchronous Invokes (answered 202 by the worker pool's relay)",
            ),
        ),
        (
            "delivery_src",
            format!(
                "fitted so that the simulated run times match the measured medians (geometric mean of the ratios 1) in all the runs of {runs}; it takes what the model does not separate: the relay's hand-over to cargo lambda watch, the worker's poll of the runtime API, its first bundle read"
            ),
        ),
        (
            "get_table_src",
            table_of(
                "tile reads",
                "the emulated S3 stalls some reads by tens of ms: not a latency plus a bandwidth",
            ),
        ),
        (
            "put_table_src",
            table_of("tile writes", "by size as the reads"),
        ),
        ("get_src", line_of("tile reads")),
        ("put_src", line_of("tile writes")),
        ("delete_src", mean_of(Timed::TileDelete, "tile DELETEs")),
        ("read_src", mean_of(Timed::CounterRead, "GetItems")),
        ("write_src", mean_of(Timed::CounterWrite, "UpdateItems")),
    ];
    let escape = |s: String| s.replace('\\', "\\\\").replace('"', "\\\"");
    texts
        .into_iter()
        .map(|(name, text)| (name, escape(text)))
        .collect()
}

/// `[[x, y], ...]` in TOML.
fn points(table: &[(f64, f64)]) -> String {
    let p: Vec<String> = table
        .iter()
        .map(|(x, y)| format!("[{x:?}, {y:.6}]"))
        .collect();
    format!("[{}]", p.join(", "))
}

/// `NAME = [[size, GFLOP/s], ...]` lines of a kernel table.
fn kernel_table(table: &BTreeMap<String, Spanned<Vec<Point>>>) -> String {
    table
        .iter()
        .map(|(name, points)| {
            let points: Vec<String> = pairs(points.get_ref())
                .iter()
                .map(|(s, r)| format!("[{s:?}, {r:?}]"))
                .collect();
            // A name that is not a bare key (`SYRK (A Aᵀ)`) as a TOML string.
            let bare = name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            let key = if bare {
                name.clone()
            } else {
                toml::Value::String(name.clone()).to_string()
            };
            format!("{key} = [{}]\n", points.join(", "))
        })
        .collect()
}

/// Today's date (UTC) as YYYY-MM-DD, for the sources.
fn today() -> String {
    time::OffsetDateTime::now_utc().date().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bisect_finds_the_crossing() {
        let x = bisect("share of a core", 0.0, 8.0, |x| Ok(x - 3.0)).unwrap();
        assert!((x - 3.0).abs() < 1e-5, "{x}");
    }

    #[test]
    fn bisect_refuses_a_range_without_a_crossing() {
        let e = bisect("share of a core", 0.0, 8.0, |x| Ok(x + 1.0)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no share of a core between 0 and 8 matches the training runs"
        );
    }

    #[test]
    fn bisect_refuses_a_mismatch_that_is_not_a_number() {
        // NaN only above 2: both ends pass the sign check with finite
        // values below, so only the midpoint's check can catch it.
        let e = bisect("delivery latency", 0.0, 8.0, |x| {
            Ok(if x < 2.0 {
                -1.0
            } else if x == 8.0 {
                1.0
            } else {
                f64::NAN
            })
        })
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "the training runs' mismatch at a delivery latency of 4 is not a number"
        );
        let e = bisect("host contention", 0.0, 8.0, |_| Ok(f64::NAN)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the training runs' mismatch at a host contention of 0 is not a number"
        );
    }
}
