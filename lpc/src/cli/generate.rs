//! `lpc gen ALGORITHM ...`: a program of the library (`lib/*.lp`) with its
//! parameters set, or with `--flat` the flat program it expands to.
//!
//! The flags are the programs' own parameters: `--n 16384 --tile 2048` sets
//! `n` and `b` (the tile size is `--tile` everywhere), and a flag the chosen
//! program has no parameter for is an error naming the ones it has.
//! `--set NAME=VALUE` sets any parameter.

use super::{finish_output, parse_setting};
use lpc::frontend::{CompileOptions, Setting, compile_source};
use lpc::{diagnostics, expand, library};
use std::io::{BufWriter, Write};
use std::process::ExitCode;

#[derive(clap::Args)]
#[command(after_help = library_help())]
pub struct Args {
    /// The algorithm (see the list below).
    #[arg(value_parser = clap::builder::PossibleValuesParser::new(library::names()))]
    pub algorithm: String,
    /// Rows (and columns, for a square matrix) of A.
    #[arg(long)]
    pub n: Option<i64>,
    /// Rows of a rectangular A (`m >= n` for QR and least squares).
    #[arg(long)]
    pub m: Option<i64>,
    /// Inner dimension of a product.
    #[arg(long)]
    pub k: Option<i64>,
    /// Columns of the right-hand side B.
    #[arg(long)]
    pub nrhs: Option<i64>,
    /// Tile size; edge tiles are smaller when it does not divide a size.
    #[arg(long)]
    pub tile: Option<i64>,
    /// Seed of the input A's initialiser.
    #[arg(long)]
    pub seed: Option<i64>,
    /// Seed of A in a product.
    #[arg(long)]
    pub seed_a: Option<i64>,
    /// Seed of the right-hand side B (or of B in a product).
    #[arg(long)]
    pub seed_b: Option<i64>,
    /// Seed of the triangular factor L of `trsolve`.
    #[arg(long)]
    pub seed_l: Option<i64>,
    /// Print the flat expansion (one job per iteration) instead of the loop
    /// program.
    #[arg(long)]
    pub flat: bool,
    /// Set any parameter of the program (repeatable).
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = parse_setting)]
    pub settings: Vec<Setting>,
}

/// The list of algorithms, with each program's first comment line.
fn library_help() -> String {
    let mut text = String::from("Algorithms:\n");
    for name in library::names() {
        text.push_str(&format!("  {name:<10}{}\n", library::summary(name)));
    }
    text
}

impl Args {
    /// (flag, parameter, value, is a size) of every flag, given or not.
    fn table(&self) -> [(&'static str, &'static str, Option<i64>, bool); 9] {
        [
            ("n", "n", self.n, true),
            ("m", "m", self.m, true),
            ("k", "k", self.k, true),
            ("nrhs", "nrhs", self.nrhs, true),
            ("tile", "b", self.tile, true),
            ("seed", "seed", self.seed, false),
            ("seed-a", "seed_a", self.seed_a, false),
            ("seed-b", "seed_b", self.seed_b, false),
            ("seed-l", "seed_l", self.seed_l, false),
        ]
    }

    /// (flag, parameter, value, is a size) for every flag given.
    fn flags(&self) -> Vec<(&'static str, &'static str, i64, bool)> {
        self.table()
            .into_iter()
            .filter_map(|(flag, param, v, size)| v.map(|v| (flag, param, v, size)))
            .collect()
    }

    /// The parameter settings of the flags and `--set`s, or the usage error.
    fn settings(&self, name: &str) -> Result<Vec<Setting>, String> {
        let params = library::params(name);
        let mut settings = Vec::new();
        for (flag, param, value, size) in self.flags() {
            if size && value < 1 {
                return Err(format!("--{flag} must be at least 1"));
            }
            if !params.contains(&param) {
                return Err(format!(
                    "`{name}` takes no --{flag}; its parameters are {}",
                    params.join(", ")
                ));
            }
            if let Some((_, v)) = self.settings.iter().find(|(n, _)| n == param) {
                return Err(format!(
                    "--{flag} {value} and --set {param}={v} both set `{param}`: drop one"
                ));
            }
            settings.push((param.to_string(), value));
        }
        // The sizes' flags and their `--set`s follow one rule: a size of
        // the library's programs is at least 1.
        let size = |p: &str| {
            self.table()
                .iter()
                .any(|&(_, param, _, size)| size && param == p)
        };
        if let Some((param, v)) = self
            .settings
            .iter()
            .find(|(param, v)| size(param) && *v < 1)
        {
            return Err(format!(
                "--set {param}={v}: `{param}` is a size, at least 1"
            ));
        }
        settings.extend(self.settings.iter().cloned());
        Ok(settings)
    }
}

pub fn run(args: Args) -> ExitCode {
    let name = args.algorithm.as_str();
    let settings = match args.settings(name) {
        Ok(s) => s,
        Err(message) => {
            lpc::say!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let src = library::source(name).expect("clap accepts library names only");
    let text = match library::with_params(src, &settings) {
        Ok(text) => text,
        Err(library::ParamError::Setting(e)) => {
            lpc::say!("error: {e}");
            return ExitCode::from(2);
        }
        Err(library::ParamError::Computed { name: param, from }) => {
            lpc::say!(
                "error: --set {param}: `{name}` computes `{param}` from `{}`; set those instead",
                from.join("`, `")
            );
            return ExitCode::from(2);
        }
    };
    let value = |param: &str| {
        let (program, _) = grammar::parse(&text);
        match program
            .params
            .iter()
            .find(|p| p.name.name == param)?
            .default
        {
            Some(grammar::ast::Expr::Int(i)) => i64::try_from(i.value).ok(),
            _ => None,
        }
    };
    if let Some(message) = library::size_error(name, &value) {
        lpc::say!("error: {message}");
        return ExitCode::from(2);
    }
    let file = format!("lib/{name}.lp");
    // Check what is about to be printed: a size that makes no program (a
    // zero tile, say) is an error here, not in the next command.
    let outcome = match compile_source(&text, &file, &CompileOptions::default()) {
        Ok(o) => o,
        Err(e) => {
            lpc::say!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let Some(compiled) = outcome.compiled else {
        diagnostics::emit_stderr(
            diagnostics::Format::Human,
            &file,
            &text,
            &outcome.diagnostics,
        );
        lpc::say!("error: these parameters make no valid `{name}` program");
        return ExitCode::from(2);
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let result = if args.flat {
        let sets: String = settings
            .iter()
            .map(|(n, v)| format!(" --set {n}={v}"))
            .collect();
        let header = format!(
            "Generated by `lpc gen {name} --flat{sets}`: one job per iteration, in program order."
        );
        expand::write_flat(compiled.plan(), &header, &mut out)
    } else {
        out.write_all(text.as_bytes())
    };
    finish_output(result.and_then(|_| out.flush()), "the program")
}
