//! `lpc gen ALGORITHM ...`: a program of the library (`lib/*.lp`) with its
//! parameters set, or with `--flat` the flat program it expands to.
//!
//! Each algorithm's flags name its parameters (`--n 16384 --tile 2048` sets
//! `n` and `b`); `--set NAME=VALUE` sets any other.

use super::{finish_output, parse_setting};
use lpc::frontend::{CompileOptions, Setting, compile_source};
use lpc::{diagnostics, expand, library};
use std::io::{BufWriter, Write};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub algorithm: Algorithm,
    /// Print the flat expansion (one job per iteration) instead of the loop
    /// program.
    #[arg(long, global = true)]
    pub flat: bool,
    /// Set any parameter of the program (repeatable).
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = parse_setting, global = true)]
    pub settings: Vec<Setting>,
}

#[derive(clap::Subcommand)]
pub enum Algorithm {
    /// Right-looking tiled Cholesky A = L L^T of an SPD input `A = spd(SEED)`.
    Cholesky {
        /// Matrix size (rows = columns).
        #[arg(long)]
        n: Option<i64>,
        /// Tile size; edge tiles are smaller when it does not divide N.
        #[arg(long)]
        tile: Option<i64>,
        /// Seed of the SPD input.
        #[arg(long)]
        seed: Option<i64>,
    },
    /// C = A B with A = random(SEED_A) (M x K) and B = random(SEED_B) (K x N).
    Gemm {
        #[arg(long)]
        m: Option<i64>,
        #[arg(long)]
        n: Option<i64>,
        #[arg(long)]
        k: Option<i64>,
        #[arg(long)]
        tile: Option<i64>,
        #[arg(long)]
        seed_a: Option<i64>,
        #[arg(long)]
        seed_b: Option<i64>,
    },
    /// Forward substitution L X = B; L is the lower triangle of spd(SEED_L),
    /// B = random(SEED_B) with NRHS columns.
    Trsolve {
        #[arg(long)]
        n: Option<i64>,
        #[arg(long)]
        nrhs: Option<i64>,
        #[arg(long)]
        tile: Option<i64>,
        #[arg(long)]
        seed_l: Option<i64>,
        #[arg(long)]
        seed_b: Option<i64>,
    },
}

impl Algorithm {
    /// The flags that are sizes, which must be positive.
    fn sizes(&self) -> Vec<(&'static str, Option<i64>)> {
        match *self {
            Algorithm::Cholesky { n, tile, .. } => vec![("n", n), ("tile", tile)],
            Algorithm::Gemm { m, n, k, tile, .. } => {
                vec![("m", m), ("n", n), ("k", k), ("tile", tile)]
            }
            Algorithm::Trsolve { n, nrhs, tile, .. } => {
                vec![("n", n), ("nrhs", nrhs), ("tile", tile)]
            }
        }
    }

    /// The library program and the parameters the flags set.
    fn settings(&self) -> (&'static str, Vec<Setting>) {
        let set = |pairs: &[(&str, Option<i64>)]| -> Vec<Setting> {
            pairs
                .iter()
                .filter_map(|(n, v)| v.map(|v| (n.to_string(), v)))
                .collect()
        };
        match *self {
            Algorithm::Cholesky { n, tile, seed } => {
                ("cholesky", set(&[("n", n), ("b", tile), ("seed", seed)]))
            }
            Algorithm::Gemm {
                m,
                n,
                k,
                tile,
                seed_a,
                seed_b,
            } => (
                "gemm",
                set(&[
                    ("m", m),
                    ("n", n),
                    ("k", k),
                    ("b", tile),
                    ("seed_a", seed_a),
                    ("seed_b", seed_b),
                ]),
            ),
            Algorithm::Trsolve {
                n,
                nrhs,
                tile,
                seed_l,
                seed_b,
            } => (
                "trsolve",
                set(&[
                    ("n", n),
                    ("nrhs", nrhs),
                    ("b", tile),
                    ("seed_l", seed_l),
                    ("seed_b", seed_b),
                ]),
            ),
        }
    }
}

pub fn run(args: Args) -> ExitCode {
    if let Some((flag, _)) = args
        .algorithm
        .sizes()
        .into_iter()
        .find(|(_, v)| v.is_some_and(|v| v < 1))
    {
        eprintln!("error: --{flag} must be at least 1");
        return ExitCode::from(2);
    }
    let (name, mut settings) = args.algorithm.settings();
    settings.extend(args.settings.iter().cloned());
    let src = library::source(name).expect("every algorithm is in the library");
    let text = match library::with_params(src, &settings) {
        Ok(text) => text,
        Err(unknown) => {
            eprintln!("error: --set {unknown}: `{name}` has no parameter `{unknown}`");
            return ExitCode::from(2);
        }
    };
    let file = format!("lib/{name}.lp");
    // Check what is about to be printed: a size that makes no program (a
    // zero tile, say) is an error here, not in the next command.
    let outcome = match compile_source(&text, &file, &CompileOptions::default()) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
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
        eprintln!("error: these parameters make no valid `{name}` program");
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
