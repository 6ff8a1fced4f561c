//! One module per subcommand: its clap arguments and its `run`, plus the few
//! helpers they share.

pub mod aws;
pub mod bill;
pub mod build;
pub mod check;
pub mod expand;
pub mod generate;
pub mod graph;
pub mod run;
pub mod sim;
pub mod store;

use lp_program::{Plan, bundle};
use lp_runtime::trace::IdleWaits;
use lpc::diagnostics::Format;
use lpc::frontend::{CompileOptions, ProgramText, Setting, compile_text, read_program};
use std::process::ExitCode;
use std::time::Duration;

/// The program at `path` (`-`: stdin) as a plan: a bundle, recognised by its
/// magic bytes and decoded with its validation, or `.lp` source compiled
/// with `opts`. Errors are printed (a program's diagnostics as `lpc check`
/// prints them); the result is then the exit code. A bundle's parameters
/// are fixed, so settings for one are refused.
pub fn load_plan(path: &str, opts: &CompileOptions) -> Result<Plan, ExitCode> {
    match read_program(path)? {
        ProgramText::Bundle(bytes) => decode_bundle(path, &bytes, &opts.settings),
        ProgramText::Source { name, text } => {
            compile_text(&name, &text, opts).map(|c| c.checked.plan)
        }
    }
}

/// The plan of the bundle read from `path`, or its refusal, printed; a
/// bundle's parameters are fixed, so `settings` are refused.
pub fn decode_bundle(path: &str, bytes: &[u8], settings: &[Setting]) -> Result<Plan, ExitCode> {
    let refuse = |message: String| {
        lpc::say!("error: {message}");
        ExitCode::from(2)
    };
    if !settings.is_empty() {
        return Err(refuse(format!(
            "--set applies to a program, not to the bundle {path} (its parameters are fixed)"
        )));
    }
    bundle::decode(bytes).map_err(|e| refuse(format!("{path}: {e}")))
}

/// The options of every command that compiles a program.
#[derive(clap::Args, Clone, Debug)]
pub struct CompileArgs {
    /// Set program parameter NAME (repeatable); parameters without a value
    /// take their default.
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = parse_setting)]
    pub settings: Vec<Setting>,
    /// How to print diagnostics.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Print at most N diagnostics (the rest are counted).
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub max_diagnostics: usize,
}

impl CompileArgs {
    pub fn options(&self) -> CompileOptions {
        CompileOptions {
            format: self.format,
            settings: self.settings.clone(),
            max_diagnostics: self.max_diagnostics,
            ..CompileOptions::default()
        }
    }
}

/// `NAME=VALUE` with an integer value.
pub fn parse_setting(s: &str) -> Result<Setting, String> {
    let (name, value) = s
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=VALUE, found `{s}`"))?;
    let value = value
        .trim()
        .parse::<i64>()
        .map_err(|_| format!("`{value}` is not an integer (in `{s}`)"))?;
    Ok((name.trim().to_string(), value))
}

/// A size in bytes, as `512MiB` or `4GiB` (`--input-cache`).
pub fn parse_size(s: &str) -> Result<u64, String> {
    s.parse::<bytesize::ByteSize>()
        .map(|size| size.as_u64())
        .map_err(|e| format!("{e} (write a size such as `512MiB` or `4GiB`)"))
}

/// Flushes a command's output; a closed pipe (`| head`) is not an error.
pub fn finish_output(result: std::io::Result<()>, what: &str) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::ExitCode::SUCCESS,
        Err(e) => {
            lpc::say!("error: cannot write {what}: {e}");
            std::process::ExitCode::from(2)
        }
    }
}

pub use lp_runtime::atomic_file::write_atomically;

pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A trace's [`IdleWaits`], for the `waits` line of `lpc run` and `lpc sim`.
pub fn idle_waits(w: &IdleWaits) -> String {
    let longest = match &w.longest {
        Some((job, t)) => format!(" (longest {}, then took {job})", human_duration(*t)),
        None => String::new(),
    };
    format!(
        "workers idled {} in all while a job was ready{longest}",
        human_duration(w.total)
    )
}

pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 1.0 {
        format!("{:.1} ms", secs * 1e3)
    } else if secs < 120.0 {
        format!("{secs:.2} s")
    } else {
        format!("{}m {:02}s", d.as_secs() / 60, d.as_secs() % 60)
    }
}
