//! The lambdapack runtime: the decentralised scheduling protocol, tile
//! stores and backends. It never parses `.lp` text and never prints
//! diagnostics; it takes a program's plan (`lp_program::Plan`, from a
//! bundle) and executes it.

pub mod alloc;
pub mod atomic_file;
#[cfg(feature = "aws")]
pub mod aws;
pub mod local;
pub mod matrix;
pub mod metrics;
pub mod parallel;
pub mod protocol;
pub mod request_times;
pub mod requests;
pub mod store;
pub mod trace;
pub mod verify;
