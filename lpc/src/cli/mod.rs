//! One module per subcommand: its clap arguments and its `run`.

pub mod build;
pub mod check;
pub mod generate;
pub mod graph;
pub mod run;
