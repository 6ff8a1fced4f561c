//! `lpc gen ALGORITHM ...`: writes a whole program to stdout (see
//! `lp_std::generate`).

use lp_std::generate;
use std::io::{BufWriter, Write};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub algorithm: Algorithm,
}

#[derive(clap::Subcommand)]
pub enum Algorithm {
    /// Right-looking tiled Cholesky A = L L^T of an SPD input `A = spd(SEED)`.
    Cholesky {
        /// Matrix size (rows = columns).
        #[arg(long)]
        n: usize,
        /// Tile size; edge tiles are smaller when it does not divide N.
        #[arg(long)]
        tile: usize,
        /// Seed of the SPD input.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// C = A B with A = random(SEED_A) (M x K) and B = random(SEED_B) (K x N).
    Gemm {
        #[arg(long)]
        m: usize,
        #[arg(long)]
        n: usize,
        #[arg(long)]
        k: usize,
        #[arg(long)]
        tile: usize,
        #[arg(long, default_value_t = 1)]
        seed_a: u64,
        #[arg(long, default_value_t = 2)]
        seed_b: u64,
    },
    /// Forward substitution L X = B; L is the lower triangle of spd(SEED_L),
    /// B = random(SEED_B) with NRHS columns.
    Trsolve {
        #[arg(long)]
        n: usize,
        #[arg(long)]
        nrhs: usize,
        #[arg(long)]
        tile: usize,
        #[arg(long, default_value_t = 42)]
        seed_l: u64,
        #[arg(long, default_value_t = 2)]
        seed_b: u64,
    },
}

pub fn run(args: Args) -> ExitCode {
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let result = match args.algorithm {
        Algorithm::Cholesky { n, tile, seed } => generate::cholesky(&mut out, n, tile, seed),
        Algorithm::Gemm {
            m,
            n,
            k,
            tile,
            seed_a,
            seed_b,
        } => generate::gemm(&mut out, [m, n, k], tile, [seed_a, seed_b]),
        Algorithm::Trsolve {
            n,
            nrhs,
            tile,
            seed_l,
            seed_b,
        } => generate::trsolve(&mut out, n, nrhs, tile, [seed_l, seed_b]),
    };
    match result.and_then(|_| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: cannot write the program: {e}");
            ExitCode::from(2)
        }
    }
}
