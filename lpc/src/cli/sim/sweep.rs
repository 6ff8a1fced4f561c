//! `lpc sim --sweep`: one simulation per combination of worker counts and
//! program parameters, tabulated. Everything that can be refused (two
//! setters of one thing, a point that does not compile) is refused before
//! the table starts.

use super::{Args, Fail};
use crate::cli::decode_bundle;
use lp_program::Plan;
use lp_sim::clock::secs;
use lp_sim::{Model, simulate};
use lpc::frontend::{ProgramText, Setting, SettingError, compile_source};
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::process::ExitCode;

/// One `--sweep NAME=V1,V2,...`.
#[derive(Clone, Debug)]
pub struct Sweep {
    /// The name as the user wrote it, for messages.
    given: String,
    /// What it sets: `workers`, or a program parameter (`tile` is `b`).
    name: String,
    /// Distinct, in the order given.
    values: Vec<i64>,
}

impl Sweep {
    /// How messages name the sweep: `--sweep tile=...`.
    fn flag(&self) -> String {
        format!("--sweep {}=...", self.given)
    }

    /// Whether it was named by an alias (`tile`).
    fn aliased(&self) -> bool {
        self.given != self.name
    }
}

/// The most combinations one `lpc sim --sweep` simulates: the plan of
/// every parameter point is compiled and held before the table starts, and
/// a product of a few long lists is more likely a typo than a plan.
const MAX_POINTS: u64 = 10_000;

pub fn parse_sweep(s: &str) -> Result<Sweep, String> {
    let (given, list) = s
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=V1,V2,..., found `{s}`"))?;
    let given = given.trim();
    if given.is_empty() {
        return Err(format!("no name before `=` (in `{s}`)"));
    }
    if list.trim().is_empty() {
        return Err(format!("no values after `=` (in `{s}`)"));
    }
    let mut values = Vec::new();
    let mut seen = HashSet::new();
    for v in list.split(',').map(str::trim) {
        if v.is_empty() {
            return Err(format!("a value is missing between commas (in `{s}`)"));
        }
        let value = v
            .parse::<i64>()
            .map_err(|_| format!("`{v}` is not an integer (in `{s}`)"))?;
        // A repeated value would be simulated again for an identical row.
        if !seen.insert(value) {
            return Err(format!("{value} is given twice (in `{s}`)"));
        }
        values.push(value);
    }
    let name = if given == "tile" { "b" } else { given };
    Ok(Sweep {
        given: given.to_string(),
        name: name.to_string(),
        values,
    })
}

/// One combination of sweep values, in the order of the sweeps.
type Point = Vec<(String, i64)>;

/// Every combination of the sweep values, in order (first sweep slowest).
fn combinations(sweeps: &[Sweep]) -> Vec<Point> {
    let mut out = vec![Vec::new()];
    for sweep in sweeps {
        out = out
            .into_iter()
            .flat_map(|point| {
                sweep.values.iter().map(move |&v| {
                    let mut p = point.clone();
                    p.push((sweep.name.clone(), v));
                    p
                })
            })
            .collect();
    }
    out
}

/// The program parameters of a point (all but `workers`).
fn params_of(point: &[(String, i64)]) -> Vec<Setting> {
    point
        .iter()
        .filter(|(n, _)| n != "workers")
        .cloned()
        .collect()
}

/// `b=100, workers=2`, for messages.
fn show_point(point: &[(String, i64)]) -> String {
    let parts: Vec<String> = point.iter().map(|(n, v)| format!("{n}={v}")).collect();
    parts.join(", ")
}

pub fn run(args: &Args, model: &Model) -> ExitCode {
    match run_sweep(args, model) {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}

/// Everything that can be refused is refused before the table starts: the
/// flags, then every point compiled. Only a simulation can still fail
/// after a row is printed, and its error names its point.
fn run_sweep(args: &Args, model: &Model) -> Result<(), ExitCode> {
    check_sweeps(args).map_err(Fail::said)?;
    let points = combinations(&args.sweep);
    let plans = compile_points(args, &points)?;
    let mut header: Vec<String> = args.sweep.iter().map(|s| s.name.clone()).collect();
    header.extend(
        [
            "jobs",
            "makespan s",
            "crit. path s",
            "util. %",
            "GB-s",
            "dollars",
            "peak tiles",
        ]
        .map(String::from),
    );
    // Printed with the first row, so that a first point that fails leaves
    // no empty table on stdout.
    let mut header = Some(header.join("\t"));
    for point in &points {
        let workers = point
            .iter()
            .find(|(n, _)| n == "workers")
            .map(|&(_, v)| v as u64)
            .or(args.workers)
            .expect("check_sweeps requires a worker count");
        let opts = super::options(args, workers);
        let r = simulate(&plans[&params_of(point)], model, &opts).map_err(|e| {
            let at = show_point(point);
            Fail(1, format!("at the --sweep point {at}: {e}")).said()
        })?;
        if let Some(header) = header.take() {
            lpc::outln!("{header}");
        }
        let mut row: Vec<String> = point.iter().map(|(_, v)| v.to_string()).collect();
        row.extend([
            r.jobs.to_string(),
            format!("{:.3}", secs(r.makespan)),
            format!("{:.3}", secs(r.critical_path)),
            format!("{:.1}", 100.0 * r.utilisation()),
            super::fixed(r.gb_seconds, 1),
            super::fixed(r.dollars.total(), 4),
            r.peak_tiles.to_string(),
        ]);
        lpc::outln!("{}", row.join("\t"));
    }
    Ok(())
}

/// The usage errors of a sweep's flags, found before the program is read.
fn check_sweeps(args: &Args) -> Result<(), Fail> {
    for (i, s) in args.sweep.iter().enumerate() {
        check_one_setter(args, &args.sweep[..i], s)?;
        if s.name == "workers" {
            check_sweep_workers(s)?;
        }
    }
    // --plot and --trace describe one simulation, and there is no one file
    // name per point to give them.
    for (option, given, what) in [
        (
            "--plot",
            args.plot.is_some(),
            "draws the utilisation of one simulation",
        ),
        ("--trace", args.trace.is_some(), "records one simulation"),
    ] {
        if given {
            let what = format!(
                "{option} {what}, and --sweep makes several: \
                 give the point to {} with --set and --workers instead",
                &option[2..]
            );
            return Err(Fail(2, what));
        }
    }
    if args.workers.is_none() && !args.sweep.iter().any(|s| s.name == "workers") {
        return Err(Fail(2, super::WORKERS_REQUIRED.to_string()));
    }
    check_point_count(&args.sweep)
}

/// Refuses a second setter of what `s` sets: an earlier sweep (the same
/// name, or `tile` and `b`), a `--set`, or `--workers`. Only one of two
/// setters can win, and the table would show the other's value.
fn check_one_setter(args: &Args, earlier: &[Sweep], s: &Sweep) -> Result<(), Fail> {
    let usage = |message: String| Err(Fail(2, message));
    if let Some(first) = earlier.iter().find(|f| f.name == s.name) {
        if first.given == s.given {
            return usage(format!(
                "{} is given twice: give all its values in one --sweep {}=V1,V2,...",
                s.flag(),
                s.given
            ));
        }
        let alias = [first, s]
            .into_iter()
            .find(|x| x.aliased())
            .map_or(String::new(), |x| {
                format!(" (`{}` means `{}`)", x.given, x.name)
            });
        return usage(format!(
            "{} and {} both set `{}`{alias}: give all its values in one --sweep",
            first.flag(),
            s.flag(),
            s.name
        ));
    }
    if s.name == "workers" {
        if let Some(w) = args.workers {
            return usage(format!(
                "{} and --workers {w} both set the number of workers: drop one",
                s.flag()
            ));
        }
    } else if let Some((n, v)) = args.compile.settings.iter().find(|(n, _)| *n == s.name) {
        let alias = if s.aliased() {
            format!(" (`{}` means `{n}`)", s.given)
        } else {
            String::new()
        };
        return usage(format!(
            "{} and --set {n}={v} both set `{n}`{alias}: drop one",
            s.flag()
        ));
    }
    Ok(())
}

/// Each worker count of `s` as `--workers` checks one (a negative count
/// is none).
fn check_sweep_workers(s: &Sweep) -> Result<(), Fail> {
    for &w in &s.values {
        lp_sim::engine::check_workers(u64::try_from(w).unwrap_or(0))
            .map_err(|e| Fail(2, format!("{}: {e}", s.flag())))?;
    }
    Ok(())
}

fn check_point_count(sweeps: &[Sweep]) -> Result<(), Fail> {
    let count = sweeps
        .iter()
        .try_fold(1u64, |n, s| n.checked_mul(s.values.len() as u64));
    if count.is_some_and(|n| n <= MAX_POINTS) {
        return Ok(());
    }
    let lengths: Vec<String> = sweeps.iter().map(|s| s.values.len().to_string()).collect();
    let count = count.map_or(format!("more than {}", u64::MAX), |n| n.to_string());
    Err(Fail(
        2,
        format!(
            "--sweep makes {count} combinations ({} values), more than the {MAX_POINTS} lpc sim takes",
            lengths.join(" x ")
        ),
    ))
}

/// A program read once: every point of a sweep compiles the same text,
/// which stdin could give only once.
enum Source {
    Bundle(Box<Plan>),
    Text { name: String, text: String },
}

fn read_once(args: &Args) -> Result<Source, ExitCode> {
    let path = args.program.as_str();
    match lpc::frontend::read_program(path)? {
        ProgramText::Bundle(bytes) => {
            if let Some(s) = args.sweep.iter().find(|s| s.name != "workers") {
                let message = format!(
                    "{} applies to a program, not to the bundle {path} (its parameters are fixed)",
                    s.flag()
                );
                return Err(Fail(2, message).said());
            }
            decode_bundle(path, &bytes, &args.compile.settings)
                .map(|plan| Source::Bundle(Box::new(plan)))
        }
        ProgramText::Source { name, text } => Ok(Source::Text { name, text }),
    }
}

/// The plan of every distinct parameter point, compiled before the table
/// starts, so that a value that makes no valid program stops the sweep
/// before its first row.
fn compile_points(args: &Args, points: &[Point]) -> Result<HashMap<Vec<Setting>, Plan>, ExitCode> {
    let mut plans = HashMap::new();
    let (name, text) = match read_once(args)? {
        Source::Bundle(plan) => {
            plans.insert(Vec::new(), *plan);
            return Ok(plans);
        }
        Source::Text { name, text } => (name, text),
    };
    let mut shown = None;
    for point in points {
        if let Entry::Vacant(entry) = plans.entry(params_of(point)) {
            let plan = compile_point(args, &name, &text, entry.key(), &mut shown)?;
            entry.insert(plan);
        }
    }
    Ok(plans)
}

/// One point compiled; its diagnostics are printed unless they are the
/// ones printed last (the same warnings at every point are shown once).
fn compile_point(
    args: &Args,
    name: &str,
    text: &str,
    params: &[Setting],
    shown: &mut Option<String>,
) -> Result<Plan, ExitCode> {
    let mut opts = args.compile.options();
    opts.settings.extend(params.iter().cloned());
    let outcome = compile_source(text, name, &opts)
        .map_err(|e| Fail(2, unknown_parameter(&e, &args.sweep)).said())?;
    // The same diagnostics as the last point's are not printed again; the
    // outcome is still decided as `report` decides it.
    let rendered = lpc::diagnostics::render_plain(name, text, &outcome.diagnostics);
    let decided = if shown.as_deref() == Some(rendered.as_str()) {
        lpc::frontend::accept(outcome, &opts)
    } else {
        *shown = Some(rendered);
        lpc::frontend::report(name, text, outcome, &opts)
    };
    match decided {
        Ok(compiled) => Ok(compiled.checked.plan),
        Err(code) => {
            if !params.is_empty() {
                lpc::say!(
                    "error: the --sweep point {} does not compile",
                    show_point(params)
                );
            }
            Err(code)
        }
    }
}

/// A sweep of a name the program has no parameter for, said as a sweep
/// (the front end's message says `--set`, which is right for a --set).
fn unknown_parameter(e: &SettingError, sweeps: &[Sweep]) -> String {
    let SettingError::Unknown { name, known } = e else {
        return e.to_string();
    };
    let Some(s) = sweeps.iter().find(|s| s.name == *name) else {
        return e.to_string();
    };
    if known.is_empty() {
        return format!("{}: the program has no parameters", s.flag());
    }
    let alias = if s.aliased() {
        format!("`{}` means `{}`; ", s.given, s.name)
    } else {
        String::new()
    };
    format!(
        "{}: the program has no parameter `{}` ({alias}it has {})",
        s.flag(),
        s.name,
        known.join(", ")
    )
}
