//! The whole front end behind two calls: source text in, a checked program
//! (its plan and the spans behind it) plus diagnostics out.
//!
//! [`compile_source`] is pure (no I/O, no printing) and is what tests,
//! benches and the fuzz target call. [`compile_file`] is what the CLI
//! subcommands call: it reads a file or stdin, compiles, prints the
//! diagnostics to stderr in the chosen format (at most `max_diagnostics` of
//! them, with a count of the rest), and maps the outcome to the exit code
//! convention (0 clean, 1 errors or denied warnings, 2 usage or I/O errors).

use crate::check::{self, Checked};
use crate::diagnostics::{self, Diag, Format};
use codespan_reporting::diagnostic::Severity;
use lp_program::analysis::Options;
use std::io::Read;
use std::process::ExitCode;

pub use crate::check::scope::Setting;

#[derive(Clone, Debug)]
pub struct CompileOptions {
    pub format: Format,
    /// Treat warnings as errors (`--deny warnings`).
    pub deny_warnings: bool,
    /// Parameter values (`--set NAME=VALUE`).
    pub settings: Vec<Setting>,
    /// Print at most this many diagnostics.
    pub max_diagnostics: usize,
    pub analysis: Options,
}

impl Default for CompileOptions {
    fn default() -> CompileOptions {
        CompileOptions {
            format: Format::Human,
            deny_warnings: false,
            settings: Vec::new(),
            max_diagnostics: 100,
            analysis: Options::default(),
        }
    }
}

/// A program that compiled: what the runtime executes (`checked.plan`)
/// and the text behind it.
pub struct Compiled {
    pub checked: Checked,
    pub warnings: usize,
}

impl Compiled {
    pub fn plan(&self) -> &lp_program::Plan {
        &self.checked.plan
    }
    pub fn program(&self) -> &lp_program::Program {
        self.checked.plan.program()
    }
}

/// The outcome of compiling one source text.
pub struct SourceOutcome {
    /// `Some` when there is no error (warnings may be present).
    pub compiled: Option<Compiled>,
    /// Every diagnostic, syntax errors first, in source order within each
    /// phase.
    pub diagnostics: Vec<Diag>,
}

impl SourceOutcome {
    pub fn errors(&self) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity >= Severity::Error)
            .count()
    }

    pub fn warnings(&self) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Warning)
            .count()
    }
}

/// A `--set` the program cannot take: a usage error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SettingError {
    /// A name that is no parameter of the program.
    Unknown { name: String, known: Vec<String> },
    /// One parameter set twice: only one value could be used, silently.
    Twice { name: String, values: [i64; 2] },
}

impl std::fmt::Display for SettingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SettingError::Unknown { name, known } if known.is_empty() => {
                write!(f, "--set {name}: the program has no parameters")
            }
            SettingError::Unknown { name, known } => write!(
                f,
                "--set {name}: the program has no parameter `{name}` (it has {})",
                known.join(", ")
            ),
            SettingError::Twice {
                name,
                values: [first, second],
            } => write!(
                f,
                "--set {name} is given twice ({name}={first}, then {name}={second}): give it once"
            ),
        }
    }
}

/// The first setting that names no parameter in `params`, or sets one a
/// second time.
pub fn check_settings(settings: &[Setting], params: &[&str]) -> Result<(), SettingError> {
    for (k, (setting, _)) in settings.iter().enumerate() {
        if !params.contains(&setting.as_str()) {
            return Err(SettingError::Unknown {
                name: setting.clone(),
                known: params.iter().map(|p| p.to_string()).collect(),
            });
        }
        set_again(settings, k)?;
    }
    Ok(())
}

/// `Err` when setting `k` repeats an earlier one's name.
fn set_again(settings: &[Setting], k: usize) -> Result<(), SettingError> {
    let (name, value) = &settings[k];
    match settings[..k].iter().find(|(n, _)| n == name) {
        Some((_, first)) => Err(SettingError::Twice {
            name: name.clone(),
            values: [*first, *value],
        }),
        None => Ok(()),
    }
}

/// [`check_settings`] for a program with syntax errors: a line with one is
/// left out of the tree, parameters and all, so a setting that names no
/// parameter that parsed may well name one on that line. Only a name set
/// twice is refused; the diagnostics say what is wrong with the text.
fn check_settings_of_broken_program(settings: &[Setting]) -> Result<(), SettingError> {
    (0..settings.len()).try_for_each(|k| set_again(settings, k))
}

/// Parses, checks and lowers one source text named `name` (for messages
/// and the IR). Never panics on any input.
///
/// Semantic checks run even when there are syntax errors (on the parts that
/// parsed), so one run reports as much as it can. `Err` is a setting the
/// program cannot take: one named twice, or (in a text that parses) one
/// that names no parameter.
pub fn compile_source(
    src: &str,
    name: &str,
    opts: &CompileOptions,
) -> Result<SourceOutcome, SettingError> {
    let (program, syntax_errors) = grammar::parse(src);
    if syntax_errors.is_empty() {
        let params: Vec<&str> = program.params.iter().map(|p| p.name.name).collect();
        check_settings(&opts.settings, &params)?;
    } else {
        check_settings_of_broken_program(&opts.settings)?;
    }
    let mut diagnostics: Vec<Diag> = syntax_errors
        .iter()
        .map(|e| diagnostics::syntax(src, e))
        .collect();
    // The program records its file's name, not its path: runtime messages
    // point at `cholesky.lp:17`, and a bundle's content (and key) does not
    // depend on where it was compiled.
    let file = std::path::Path::new(name)
        .file_name()
        .map_or(name.to_string(), |f| f.to_string_lossy().into_owned());
    let lowered = check::lower(
        src,
        &file,
        &program,
        &opts.settings,
        syntax_errors.is_empty(),
    );
    let unparsed: std::collections::HashSet<String> = program
        .unparsed_names
        .iter()
        .map(|n| n.to_string())
        .collect();
    // The syntax tree is the largest structure of a big flat program: the
    // analyses need only the IR and the spans.
    drop(program);
    let (checked, mut check_errors) = check::analyse(lowered, &opts.analysis);
    // A use of a name its line's syntax error left undeclared is that
    // error's consequence, not one of its own.
    check_errors.retain(|e| e.undefined_name().is_none_or(|n| !unparsed.contains(n)));
    diagnostics.extend(check_errors.iter().map(|e| diagnostics::check(src, e)));
    let warnings = check_errors.iter().filter(|e| e.is_warning()).count();
    let compiled = checked
        .filter(|_| syntax_errors.is_empty())
        .map(|checked| Compiled { checked, warnings });
    Ok(SourceOutcome {
        compiled,
        diagnostics,
    })
}

/// Reads `path` (`-` for stdin), compiles it and prints its diagnostics to
/// stderr. `Err` carries the exit code the command should end with.
pub fn compile_file(path: &str, opts: &CompileOptions) -> Result<Compiled, ExitCode> {
    let (name, src) = read_source(path)?;
    compile_text(&name, &src, opts)
}

/// [`compile_file`] of a text already read, named `name` in messages.
pub fn compile_text(name: &str, src: &str, opts: &CompileOptions) -> Result<Compiled, ExitCode> {
    let outcome = match compile_source(src, name, opts) {
        Ok(o) => o,
        Err(e) => {
            crate::say!("error: {e}");
            return Err(ExitCode::from(2));
        }
    };
    report(name, src, outcome, opts)
}

/// Prints an outcome's diagnostics and their summary to stderr as
/// [`compile_file`] does, for a caller that compiles one text several
/// times (`lpc sim --sweep`); `Err` carries the exit code.
pub fn report(
    name: &str,
    src: &str,
    outcome: SourceOutcome,
    opts: &CompileOptions,
) -> Result<Compiled, ExitCode> {
    let shown = outcome.diagnostics.len().min(opts.max_diagnostics);
    diagnostics::emit_stderr(opts.format, name, src, &outcome.diagnostics[..shown]);
    let (errors, warnings) = (outcome.errors(), outcome.warnings());
    if opts.format == Format::Human {
        let hidden = outcome.diagnostics.len() - shown;
        if hidden > 0 {
            crate::say!(
                "note: {hidden} more diagnostic{} not shown (--max-diagnostics {} shows more)",
                if hidden == 1 { " is" } else { "s are" },
                outcome.diagnostics.len()
            );
        }
        if errors > 0 || warnings > 0 {
            crate::say!("{}", summary(errors, warnings, opts.deny_warnings));
        }
    }
    accept(outcome, opts)
}

/// What [`report`] decides of an outcome, without printing: its program,
/// or the exit code 1 (errors, or warnings under `--deny warnings`). For a
/// caller whose last [`report`] printed the same diagnostics.
pub fn accept(outcome: SourceOutcome, opts: &CompileOptions) -> Result<Compiled, ExitCode> {
    let warnings = outcome.warnings();
    match outcome.compiled {
        Some(compiled) if !(opts.deny_warnings && warnings > 0) => Ok(compiled),
        _ => Err(ExitCode::from(1)),
    }
}

fn summary(errors: usize, warnings: usize, deny_warnings: bool) -> String {
    let count = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    match (errors, warnings) {
        (0, w) if deny_warnings => {
            format!("error: {} denied (--deny warnings)", count(w, "warning"))
        }
        (0, w) => format!("warning: {} emitted", count(w, "warning")),
        (e, 0) => format!("error: could not compile: {}", count(e, "error")),
        (e, w) => format!(
            "error: could not compile: {}, {}",
            count(e, "error"),
            count(w, "warning")
        ),
    }
}

/// A program as read, once, from its path (`-`: stdin).
pub enum ProgramText {
    /// `lpc build`'s output, recognised by its magic bytes.
    Bundle(Vec<u8>),
    /// Source text, with the name messages show it by (`<stdin>` for
    /// stdin).
    Source { name: String, text: String },
}

/// Reads the program at `path`; an I/O error or source that is not UTF-8
/// is printed as one line and becomes exit code 2.
pub fn read_program(path: &str) -> Result<ProgramText, ExitCode> {
    let bytes = if path == "-" {
        let mut bytes = Vec::new();
        std::io::stdin().read_to_end(&mut bytes).map(|_| bytes)
    } else {
        std::fs::read(path)
    };
    let result = bytes.and_then(|bytes| {
        if lp_program::bundle::is_bundle(&bytes) {
            return Ok(ProgramText::Bundle(bytes));
        }
        let text = String::from_utf8(bytes).map_err(|e| {
            let at = e.utf8_error().valid_up_to();
            std::io::Error::other(format!("it is not UTF-8 text (byte {at})"))
        })?;
        let name = if path == "-" { "<stdin>" } else { path };
        Ok(ProgramText::Source {
            name: name.to_string(),
            text,
        })
    });
    result.map_err(|e| {
        crate::say!("error: cannot read {path}: {e}");
        ExitCode::from(2)
    })
}

/// The display name and text of a source, for a command that takes no
/// bundle; errors as [`read_program`]'s.
pub fn read_source(path: &str) -> Result<(String, String), ExitCode> {
    match read_program(path)? {
        ProgramText::Source { name, text } => Ok((name, text)),
        ProgramText::Bundle(_) => {
            crate::say!(
                "error: cannot read {path}: it is a bundle (`lpc build`'s output), and this \
                 command reads a program's source"
            );
            Err(ExitCode::from(2))
        }
    }
}
