//! Cost models: what a platform's requests, transfers and kernels cost, in
//! seconds and dollars, read from a documented TOML file.
//!
//! Every figure is written `{ value = ..., source = "..." }`, so a model
//! cannot carry a number without saying where it comes from (an AWS
//! document, a published measurement, or the command that measured it on
//! this machine). Parsing keeps each value's position, so a bad value is
//! reported at its line. The built-in models are `models/local.toml` and
//! `models/lambda.toml`, compiled in.

use lp_std::Kernel;
use serde::Deserialize;
use serde::de::IgnoredAny;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use toml::Spanned;

/// The built-in models: name and TOML text.
pub const BUILTIN: [(&str, &str); 3] = [
    ("local", include_str!("../../models/local.toml")),
    ("lambda", include_str!("../../models/lambda.toml")),
    ("emulated", include_str!("../../models/emulated.toml")),
];

/// The shortest driver poll a model may give: every poll is a request and
/// an event, so a poll of nanoseconds would simulate (and bill) billions
/// of them per simulated second. AWS's driver polls every 500 ms.
pub const MIN_POLL_S: f64 = 0.001;

/// DynamoDB's item size limit, 400 KB, in bytes: the most a job item can
/// hold.
const MAX_ITEM_BYTES: f64 = 409_600.0;

/// A number and where it comes from.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Figure<T> {
    pub value: Spanned<T>,
    pub source: String,
}

impl<T: Copy> Figure<T> {
    pub fn get(&self) -> T {
        *self.value.get_ref()
    }
}

/// How workers come to exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// `lpc run`'s local backend: W threads from the start, a queue.
    Threads,
    /// AWS Lambda: an execution environment per concurrent invocation,
    /// created on demand (cold start) up to the concurrency limit.
    Lambda,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Worker {
    /// Memory of one worker (Lambda bills GB-seconds of it).
    pub memory_mb: Figure<f64>,
    /// Share of one core a single-threaded kernel gets (Lambda: memory /
    /// 1769 MB, at most 1, since kernels use one thread).
    pub cpu_share: Figure<f64>,
    /// Whether a worker that continues with a child keeps the tiles its
    /// last job loaded and wrote (the runtime does not today: `false`).
    pub cache_last_job: Figure<bool>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Platform {
    /// Most workers at once (Lambda: the account's concurrent executions;
    /// `--workers` may set it lower, as reserved concurrency does).
    pub concurrency_limit: Figure<f64>,
    /// At most this many new environments per `scaling_window_s`.
    pub scaling_environments: Figure<f64>,
    pub scaling_window_s: Figure<f64>,
    /// From an invocation reaching a new environment to its handler running.
    pub cold_start_s: Figure<f64>,
    /// Whether the cold start is billed (GB-seconds).
    pub bill_cold_start: Figure<bool>,
    /// The caller's time for one launch request (Invoke API; a queue push).
    pub invoke_request_s: Figure<f64>,
    /// From a launch to the job starting on an idle worker.
    pub invoke_delivery_s: Figure<f64>,
    /// Longest invocation; 0 for none.
    pub max_invocation_s: Figure<f64>,
    /// Workers sharing a host: a job body takes `1 + host_contention * k`
    /// times as long when `k` other workers are in an invocation as it
    /// starts. 0 where each worker has a CPU of its own (Lambda).
    pub host_contention: Figure<f64>,
}

/// Lazy-initialiser generation rates, elements per second.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitRates {
    pub zeros: f64,
    pub identity: f64,
    pub random: f64,
    pub spd: f64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreModel {
    /// A GET that finds a tile: the latency before its first byte.
    pub get_latency_s: Figure<f64>,
    pub put_latency_s: Figure<f64>,
    pub delete_latency_s: Figure<f64>,
    /// Per worker.
    pub read_bytes_per_s: Figure<f64>,
    pub write_bytes_per_s: Figure<f64>,
    /// The copy a transposed load makes (an upper tile of a symmetric
    /// matrix).
    pub transpose_bytes_per_s: Figure<f64>,
    pub init_elements_per_s: Figure<InitRates>,
    /// Where a service's transfer time is not a latency plus a bandwidth:
    /// seconds to read a whole object of a size (its ranges included), as
    /// `[[bytes, seconds], ...]`, linear between the points and from
    /// (0, `get_latency_s`), and beyond the last point at `read_bytes_per_s`.
    #[serde(default)]
    pub get_seconds_by_size: Option<SizeTable>,
    /// The same for writes, from (0, `put_latency_s`), beyond at
    /// `write_bytes_per_s`.
    #[serde(default)]
    pub put_seconds_by_size: Option<SizeTable>,
}

/// Seconds by object size, `[[bytes, seconds], ...]`, each point with its
/// position.
pub type SizeTable = Figure<Vec<Spanned<Point>>>;

/// A point of a table, `[x, y]`. serde would fill a `(f64, f64)` from the
/// first two numbers of a longer array; this keeps whether there were
/// more, so that the checker refuses such a point with its table's message.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    pub x: f64,
    pub y: f64,
    /// Numbers written after the second.
    extra: bool,
}

impl Point {
    pub fn pair(self) -> (f64, f64) {
        (self.x, self.y)
    }
}

/// A size table's points as `(bytes, seconds)` pairs.
pub fn size_pairs(table: &SizeTable) -> Vec<(f64, f64)> {
    pairs(table.value.get_ref().iter().map(|p| p.get_ref()))
}

/// A table's points as `(x, y)` pairs.
pub fn pairs<'a>(points: impl IntoIterator<Item = &'a Point>) -> Vec<(f64, f64)> {
    points.into_iter().map(|p| p.pair()).collect()
}

impl<'de> Deserialize<'de> for Point {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Point, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Point;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a tuple of size 2")
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Point, A::Error> {
                let length = |i| serde::de::Error::invalid_length(i, &self);
                let x = seq.next_element()?.ok_or_else(|| length(0))?;
                let y = seq.next_element()?.ok_or_else(|| length(1))?;
                let mut extra = false;
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    extra = true;
                }
                Ok(Point { x, y, extra })
            }
        }
        d.deserialize_seq(Visitor)
    }
}

impl StoreModel {
    fn size_tables(&self) -> [(&'static str, Option<&SizeTable>); 2] {
        [
            (
                "store.get_seconds_by_size",
                self.get_seconds_by_size.as_ref(),
            ),
            (
                "store.put_seconds_by_size",
                self.put_seconds_by_size.as_ref(),
            ),
        ]
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CounterModel {
    /// A consistent read (GetItem).
    pub read_latency_s: Figure<f64>,
    /// A (conditional) update (UpdateItem).
    pub write_latency_s: Figure<f64>,
    /// Size of a job item, for the read units of the driver's Query.
    pub item_bytes: Figure<f64>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriverModel {
    /// How often the driver reads the run's progress (one read each); at
    /// least [`MIN_POLL_S`].
    pub poll_s: Figure<f64>,
    /// A job launched this long ago and not finished is launched again.
    pub lease_s: Figure<f64>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kernels {
    /// GFLOP/s of one kernel on one core, by opcode (`default` for the
    /// others), as `[[tile size, GFLOP/s], ...]` ascending by size.
    pub gflops: Figure<BTreeMap<String, Spanned<Vec<Point>>>>,
}

/// Dollars per unit.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prices {
    pub gb_second: Figure<f64>,
    pub invocation: Figure<f64>,
    pub store_get: Figure<f64>,
    pub store_put: Figure<f64>,
    pub store_delete: Figure<f64>,
    pub counter_write_unit: Figure<f64>,
    pub counter_read_unit: Figure<f64>,
}

/// A model file as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFile {
    pub name: String,
    pub description: String,
    pub kind: Kind,
    pub worker: Worker,
    pub platform: Platform,
    pub store: StoreModel,
    pub counters: CounterModel,
    pub driver: DriverModel,
    pub kernels: Kernels,
    pub prices: Prices,
}

/// A kernel's rate table, for its symmetric applications (`true`) or the
/// others: `[(size, GFLOP/s)]`.
type RateTable = ((Kernel, bool), Vec<(f64, f64)>);

/// A checked model, with its rates ready for lookups.
#[derive(Clone, Debug)]
pub struct Model {
    pub file: ModelFile,
    /// Rate tables by kernel, and whether for its symmetric applications
    /// (`Kernel::timed_as`); a kernel without one uses `default`.
    rates: Vec<RateTable>,
    default_rate: Vec<(f64, f64)>,
}

/// Why a model could not be used.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelError {
    /// `--model NAME` names no built-in model and no file.
    Unknown {
        name: String,
    },
    Read {
        path: String,
        message: String,
    },
    /// Not valid TOML, or a field missing, unknown or of the wrong type
    /// (the message names the field and its line).
    Malformed {
        origin: String,
        message: String,
    },
    /// A value out of range.
    Invalid {
        origin: String,
        field: String,
        line: usize,
        message: String,
    },
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelError::Unknown { name } => {
                let names = BUILTIN.map(|(n, _)| n);
                let (last, rest) = names.split_last().expect("built-in models");
                write!(
                    f,
                    "no model `{name}`: the built-in models are {} and {last}, or name a .toml file",
                    rest.join(", ")
                )
            }
            ModelError::Read { path, message } => write!(f, "cannot read model {path}: {message}"),
            ModelError::Malformed { origin, message } => {
                write!(f, "model {origin}: {}", message.trim_end())
            }
            ModelError::Invalid {
                origin,
                field,
                line,
                message,
            } => write!(f, "model {origin}, line {line}: `{field}` {message}"),
        }
    }
}

impl std::error::Error for ModelError {}

impl Model {
    /// A built-in model by name, or a model file by path.
    pub fn load(name_or_path: &str) -> Result<Model, ModelError> {
        if let Some((name, text)) = BUILTIN.iter().find(|(n, _)| *n == name_or_path) {
            return Model::parse(text, &format!("`{name}`"));
        }
        let path = Path::new(name_or_path);
        if !path.exists() {
            return Err(ModelError::Unknown {
                name: name_or_path.to_string(),
            });
        }
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::Read {
            path: name_or_path.to_string(),
            message: e.to_string(),
        })?;
        Model::parse(&text, name_or_path)
    }

    /// Parses and checks model text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Model, ModelError> {
        let malformed = |e: toml::de::Error| ModelError::Malformed {
            origin: origin.to_string(),
            message: e.to_string(),
        };
        let file: ModelFile = toml::from_str(text).map_err(malformed)?;
        let check = Checker { text, origin };
        check.figures(&file)?;
        check.size_tables(&file.store)?;
        let (rates, default_rate) = check.kernel_rates(&file.kernels.gflops)?;
        Ok(Model {
            file,
            rates,
            default_rate,
        })
    }

    pub fn name(&self) -> &str {
        &self.file.name
    }

    pub fn kind(&self) -> Kind {
        self.file.kind
    }

    /// Seconds a kernel of `flops` takes on an operand of `size` (its
    /// largest dimension) on one worker; `symmetric`: an application whose
    /// result is symmetric (a `SYRK` of one tile with itself).
    pub fn kernel_seconds(&self, kernel: Kernel, symmetric: bool, size: usize, flops: f64) -> f64 {
        if flops <= 0.0 {
            return 0.0;
        }
        // GEMM_SUB is GEMM's call with alpha = -1: without a table of its
        // own it runs at GEMM's rate, not the default; a symmetric SYRK
        // without one runs at SYRK's.
        let plain = match kernel {
            Kernel::Gemm { ta, tb, .. } => Kernel::Gemm { ta, tb, sub: false },
            other => other,
        };
        let table = [(kernel, symmetric), (kernel, false), (plain, false)]
            .iter()
            .find_map(|want| self.rates.iter().find(|(k, _)| k == want))
            .map_or(&self.default_rate, |(_, t)| t);
        let share = self.file.worker.cpu_share.get();
        flops / (interpolate(table, size as f64) * 1e9 * share)
    }

    /// Every figure with its value and source, for `lpc sim --show-model`.
    pub fn figures(&self) -> Vec<(String, String, String)> {
        figure_list(&self.file)
    }
}

/// GFLOP/s at `size`, linear in log(size) between the table's points and
/// flat beyond its ends.
fn interpolate(table: &[(f64, f64)], size: f64) -> f64 {
    let first = table[0];
    if size <= first.0 {
        return first.1;
    }
    for w in table.windows(2) {
        let ((s0, r0), (s1, r1)) = (w[0], w[1]);
        if size <= s1 {
            let t = (size.ln() - s0.ln()) / (s1.ln() - s0.ln());
            return r0 + t * (r1 - r0);
        }
    }
    table[table.len() - 1].1
}

/// The smallest value a figure may take.
#[derive(Clone, Copy)]
enum Least<'a> {
    Zero,
    AboveZero,
    /// A floor, and why.
    Floor(f64, &'a str),
}

/// Range checks that need the text (for line numbers).
struct Checker<'a> {
    text: &'a str,
    origin: &'a str,
}

impl Checker<'_> {
    fn line(&self, start: usize) -> usize {
        self.text[..start.min(self.text.len())]
            .matches('\n')
            .count()
            + 1
    }

    fn invalid_at(&self, field: &str, start: usize, message: &str) -> ModelError {
        ModelError::Invalid {
            origin: self.origin.to_string(),
            field: field.to_string(),
            line: self.line(start),
            message: message.to_string(),
        }
    }

    fn invalid<T>(&self, field: &str, fig: &Figure<T>, message: &str) -> ModelError {
        self.invalid_at(field, fig.value.span().start, message)
    }

    /// A finite value of at least `least`, with a source.
    fn number(&self, field: &str, fig: &Figure<f64>, least: Least<'_>) -> Result<(), ModelError> {
        let v = fig.get();
        let (fits, want) = match least {
            Least::Zero => (v >= 0.0, "a non-negative number".to_string()),
            Least::AboveZero => (v > 0.0, "a positive number".to_string()),
            Least::Floor(min, why) => (v >= min, format!("at least {min} ({why})")),
        };
        if !v.is_finite() || !fits {
            let found = figure_text(v);
            return Err(self.invalid(field, fig, &format!("must be {want}, found {found}")));
        }
        if fig.source.trim().is_empty() {
            return Err(self.invalid(field, fig, "has an empty source"));
        }
        Ok(())
    }

    /// Every numeric figure within its range.
    fn figures(&self, m: &ModelFile) -> Result<(), ModelError> {
        let w = &m.worker;
        let p = &m.platform;
        let s = &m.store;
        let c = &m.counters;
        let d = &m.driver;
        let pr = &m.prices;
        // Rates are divided by: a zero would make a step free here and
        // infinitely long there, so every rate is positive.
        let positive: [(&str, &Figure<f64>); 9] = [
            ("worker.memory_mb", &w.memory_mb),
            ("worker.cpu_share", &w.cpu_share),
            ("platform.concurrency_limit", &p.concurrency_limit),
            ("platform.scaling_environments", &p.scaling_environments),
            ("platform.scaling_window_s", &p.scaling_window_s),
            ("store.read_bytes_per_s", &s.read_bytes_per_s),
            ("store.write_bytes_per_s", &s.write_bytes_per_s),
            ("store.transpose_bytes_per_s", &s.transpose_bytes_per_s),
            ("driver.lease_s", &d.lease_s),
        ];
        for (field, fig) in positive {
            self.number(field, fig, Least::AboveZero)?;
        }
        let non_negative: [(&str, &Figure<f64>); 18] = [
            ("platform.cold_start_s", &p.cold_start_s),
            ("platform.invoke_request_s", &p.invoke_request_s),
            ("platform.invoke_delivery_s", &p.invoke_delivery_s),
            ("platform.max_invocation_s", &p.max_invocation_s),
            ("platform.host_contention", &p.host_contention),
            ("store.get_latency_s", &s.get_latency_s),
            ("store.put_latency_s", &s.put_latency_s),
            ("store.delete_latency_s", &s.delete_latency_s),
            ("counters.read_latency_s", &c.read_latency_s),
            ("counters.write_latency_s", &c.write_latency_s),
            ("counters.item_bytes", &c.item_bytes),
            ("prices.gb_second", &pr.gb_second),
            ("prices.invocation", &pr.invocation),
            ("prices.store_get", &pr.store_get),
            ("prices.store_put", &pr.store_put),
            ("prices.store_delete", &pr.store_delete),
            ("prices.counter_write_unit", &pr.counter_write_unit),
            ("prices.counter_read_unit", &pr.counter_read_unit),
        ];
        for (field, fig) in non_negative {
            self.number(field, fig, Least::Zero)?;
        }
        let why = format!("{} ms: every poll is a simulated request", MIN_POLL_S * 1e3);
        let poll = Least::Floor(MIN_POLL_S, &why);
        self.number("driver.poll_s", &d.poll_s, poll)?;
        for (field, fig) in [
            ("platform.concurrency_limit", &p.concurrency_limit),
            ("platform.scaling_environments", &p.scaling_environments),
        ] {
            if fig.get().fract() != 0.0 {
                let msg = format!("must be a whole number, found {}", figure_text(fig.get()));
                return Err(self.invalid(field, fig, &msg));
            }
        }
        self.bounded_figures(m)
    }

    /// The figures with bounds or forms of their own: the counters' item
    /// size, the initialisers' rates, and the sources of the figures that
    /// are not numbers.
    fn bounded_figures(&self, m: &ModelFile) -> Result<(), ModelError> {
        let (w, p, s, c) = (&m.worker, &m.platform, &m.store, &m.counters);
        // A job item is a DynamoDB item, and none is larger (a figure far
        // beyond it, 1e300, also overflowed the query counts).
        if c.item_bytes.get() > MAX_ITEM_BYTES {
            let msg = format!(
                "must be at most {MAX_ITEM_BYTES} (DynamoDB's item size limit), found {}",
                figure_text(c.item_bytes.get())
            );
            return Err(self.invalid("counters.item_bytes", &c.item_bytes, &msg));
        }
        let init = s.init_elements_per_s.get();
        let rates = [init.zeros, init.identity, init.random, init.spd];
        if rates.iter().any(|r| !r.is_finite() || *r <= 0.0) {
            let msg = "must give positive rates";
            return Err(self.invalid("store.init_elements_per_s", &s.init_elements_per_s, msg));
        }
        // The figures that are not numbers need a source as much.
        let sources = [
            (
                "store.init_elements_per_s",
                s.init_elements_per_s.value.span(),
                &s.init_elements_per_s.source,
            ),
            (
                "worker.cache_last_job",
                w.cache_last_job.value.span(),
                &w.cache_last_job.source,
            ),
            (
                "platform.bill_cold_start",
                p.bill_cold_start.value.span(),
                &p.bill_cold_start.source,
            ),
        ];
        for (field, span, source) in sources {
            if source.trim().is_empty() {
                return Err(self.invalid_at(field, span.start, "has an empty source"));
            }
        }
        Ok(())
    }

    /// The transfer times by size, if the model gives them.
    fn size_tables(&self, s: &StoreModel) -> Result<(), ModelError> {
        for (field, table) in s.size_tables() {
            let Some(fig) = table else { continue };
            let msg = "must be [[bytes, seconds], ...], sizes positive and ascending, \
                       seconds non-negative";
            let written = fig.value.get_ref();
            if let Some(point) = written.iter().find(|p| p.get_ref().extra) {
                return Err(self.invalid_at(field, point.span().start, msg));
            }
            let points = size_pairs(fig);
            let ascending = points.windows(2).all(|w| w[0].0 < w[1].0);
            let valid = points
                .iter()
                .all(|&(b, t)| b.is_finite() && b > 0.0 && t.is_finite() && t >= 0.0);
            if points.is_empty() || !ascending || !valid {
                return Err(self.invalid(field, fig, msg));
            }
            if fig.source.trim().is_empty() {
                return Err(self.invalid(field, fig, "has an empty source"));
            }
        }
        Ok(())
    }

    /// The rate tables by kernel, and the default one; an entry's error
    /// names its line.
    #[allow(clippy::type_complexity)]
    fn kernel_rates(
        &self,
        fig: &Figure<BTreeMap<String, Spanned<Vec<Point>>>>,
    ) -> Result<(Vec<RateTable>, Vec<(f64, f64)>), ModelError> {
        let field = "kernels.gflops";
        let mut rates = Vec::new();
        let mut default = None;
        for (name, entry) in fig.value.get_ref() {
            let start = entry.span().start;
            let pairs_only = entry.get_ref().iter().all(|p| !p.extra);
            let table = pairs(entry.get_ref());
            let ascending = table.windows(2).all(|w| w[0].0 < w[1].0);
            let valid = table
                .iter()
                .all(|&(s, r)| s.is_finite() && s > 0.0 && r.is_finite() && r > 0.0);
            if table.is_empty() || !pairs_only || !ascending || !valid {
                let msg = format!(
                    "entry {name} must be [[size, GFLOP/s], ...], sizes ascending, all positive"
                );
                return Err(self.invalid_at(field, start, &msg));
            }
            if name == "default" {
                default = Some(table);
                continue;
            }
            let kernel = Kernel::from_timed_as(name).ok_or_else(|| {
                self.invalid_at(field, start, &format!("names `{name}`, which is no kernel"))
            })?;
            rates.push((kernel, table));
        }
        let default = default.ok_or_else(|| self.invalid(field, fig, "needs a `default` entry"))?;
        if fig.source.trim().is_empty() {
            return Err(self.invalid(field, fig, "has an empty source"));
        }
        Ok((rates, default))
    }
}

/// A figure as text: as written where that is short, else in scientific
/// notation (`1e308` is 309 digits long written out, `1e-300` 302).
pub fn figure_text(v: f64) -> String {
    if v != 0.0 && v.is_finite() && !(1e-9..1e15).contains(&v.abs()) {
        format!("{v:e}")
    } else {
        v.to_string()
    }
}

/// The initialisers' rates as one figure of [`figure_list`].
fn init_rates(s: &StoreModel) -> (String, String, String) {
    let init = s.init_elements_per_s.get();
    (
        "store.init_elements_per_s".to_string(),
        format!(
            "zeros {:e}, identity {:e}, random {:e}, spd {:e}",
            init.zeros, init.identity, init.random, init.spd
        ),
        s.init_elements_per_s.source.clone(),
    )
}

/// The kernels' rate tables as one figure of [`figure_list`].
fn kernel_rates(m: &ModelFile) -> (String, String, String) {
    let tables = m.kernels.gflops.value.get_ref().iter();
    let text: Vec<String> = tables
        .map(|(name, t)| format!("{name} {:?}", pairs(t.get_ref())))
        .collect();
    (
        "kernels.gflops".to_string(),
        text.join("; "),
        m.kernels.gflops.source.clone(),
    )
}

/// Every figure of a model as (field, value, source).
fn figure_list(m: &ModelFile) -> Vec<(String, String, String)> {
    let f = |name: &str, fig: &Figure<f64>| {
        (name.to_string(), figure_text(fig.get()), fig.source.clone())
    };
    let b = |name: &str, fig: &Figure<bool>| {
        (name.to_string(), fig.get().to_string(), fig.source.clone())
    };
    let (w, p, s, c, d, pr) = (
        &m.worker,
        &m.platform,
        &m.store,
        &m.counters,
        &m.driver,
        &m.prices,
    );
    let tables = s.size_tables().into_iter().filter_map(|(name, fig)| {
        let fig = fig?;
        Some((
            name.to_string(),
            format!("{:?}", size_pairs(fig)),
            fig.source.clone(),
        ))
    });
    let mut list = vec![
        f("worker.memory_mb", &w.memory_mb),
        f("worker.cpu_share", &w.cpu_share),
        b("worker.cache_last_job", &w.cache_last_job),
        f("platform.concurrency_limit", &p.concurrency_limit),
        f("platform.scaling_environments", &p.scaling_environments),
        f("platform.scaling_window_s", &p.scaling_window_s),
        f("platform.cold_start_s", &p.cold_start_s),
        b("platform.bill_cold_start", &p.bill_cold_start),
        f("platform.invoke_request_s", &p.invoke_request_s),
        f("platform.invoke_delivery_s", &p.invoke_delivery_s),
        f("platform.max_invocation_s", &p.max_invocation_s),
        f("platform.host_contention", &p.host_contention),
        f("store.get_latency_s", &s.get_latency_s),
        f("store.put_latency_s", &s.put_latency_s),
        f("store.delete_latency_s", &s.delete_latency_s),
        f("store.read_bytes_per_s", &s.read_bytes_per_s),
        f("store.write_bytes_per_s", &s.write_bytes_per_s),
        f("store.transpose_bytes_per_s", &s.transpose_bytes_per_s),
        init_rates(s),
        f("counters.read_latency_s", &c.read_latency_s),
        f("counters.write_latency_s", &c.write_latency_s),
        f("counters.item_bytes", &c.item_bytes),
        f("driver.poll_s", &d.poll_s),
        f("driver.lease_s", &d.lease_s),
        kernel_rates(m),
        f("prices.gb_second", &pr.gb_second),
        f("prices.invocation", &pr.invocation),
        f("prices.store_get", &pr.store_get),
        f("prices.store_put", &pr.store_put),
        f("prices.store_delete", &pr.store_delete),
        f("prices.counter_write_unit", &pr.counter_write_unit),
        f("prices.counter_read_unit", &pr.counter_read_unit),
    ];
    let at = list
        .iter()
        .position(|(n, _, _)| n == "store.init_elements_per_s")
        .expect("listed above")
        + 1;
    list.splice(at..at, tables);
    list
}
