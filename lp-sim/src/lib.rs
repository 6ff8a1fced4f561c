//! `lp-sim`: the lambdapack protocol simulated at fleet scale, with costs.
//!
//! A discrete-event simulation of a run on many workers, with a virtual
//! clock. The protocol's decisions are the protocol's own code: the
//! completions, launches, continue-with-child and finish of every job go
//! through `lp_runtime::protocol::job::complete_and_finish`, the roots and
//! the lease relaunches through `lp_runtime::protocol::driver`, all against
//! simulated [`counters`], [`launcher`] and [`store`] that charge each
//! request's latency to the caller's virtual clock and count it. What is
//! modelled rather than executed is the job body ([`exec`]: loads, kernels,
//! writes, from a [`model`]) and the platform ([`platform`]: threads, or
//! Lambda execution environments with cold starts, a concurrency limit and
//! a scaling rate). The DAG is never materialised: the plan solves each
//! job's children when it finishes, as in a real run.
//!
//! [`engine::simulate`] runs one simulation and returns a [`report::Report`]
//! (makespan, critical-path bound, utilisation over time, requests per
//! service, GB-seconds and dollars, peak tiles held); [`svg`] draws the
//! utilisation.

pub mod calibrate;
pub mod clock;
pub mod counters;
pub mod engine;
pub mod exec;
pub mod fit;
pub mod launcher;
pub mod model;
pub mod platform;
pub mod report;
pub mod store;
pub mod svg;
pub mod timeline;

pub use engine::{SimError, SimOptions, simulate};
pub use model::{Model, ModelError};
pub use report::Report;
