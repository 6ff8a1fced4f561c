use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> ExitCode {
    eprintln!("lpc build: not implemented yet");
    ExitCode::from(2)
}
