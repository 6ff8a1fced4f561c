//! The lambdapack runtime: bundle format, the decentralised scheduler core,
//! tile stores and backends. It never parses `.lp` text and never prints
//! diagnostics; it takes a [`bundle::Bundle`] and executes it.

#[cfg(feature = "aws")]
pub mod aws;
pub mod bundle;
pub mod local;
pub mod matrix;
pub mod metrics;
pub mod scheduler;
pub mod store;
pub mod trace;
pub mod verify;
