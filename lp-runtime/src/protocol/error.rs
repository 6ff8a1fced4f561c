//! Why a job or a run failed.

use super::counters::BackendError;
use std::fmt;

/// What a failure says about the matrix, for a caller that branches on
/// it (Python raises `numpy.linalg.LinAlgError`s for the first two). It
/// travels with the failure through every backend's record, where the
/// message is only text for people.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FailureKind {
    /// `CHOL` met a pivot that is not positive (a NaN one too, as
    /// LAPACK's `dpotrf` reports it).
    NotPositiveDefinite,
    /// A triangular factor has a zero or non-finite diagonal entry.
    Singular,
    /// Anything else: a missing tile, a store or shape failure, a panic.
    #[default]
    Other,
}

impl FailureKind {
    /// The kind of a kernel's failure.
    pub fn of(e: &lp_std::KernelError) -> FailureKind {
        match e {
            lp_std::KernelError::NotPositiveDefinite { .. } => FailureKind::NotPositiveDefinite,
            lp_std::KernelError::Singular { .. } => FailureKind::Singular,
            lp_std::KernelError::Shape(_) => FailureKind::Other,
        }
    }

    /// The kind's name in a stored failure record.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::NotPositiveDefinite => "not_positive_definite",
            FailureKind::Singular => "singular",
            FailureKind::Other => "other",
        }
    }

    /// The kind a stored name stands for; `Other` for a record without
    /// one (written before kinds were stored) or with an unknown name.
    pub fn parse(name: Option<&str>) -> FailureKind {
        match name {
            Some("not_positive_definite") => FailureKind::NotPositiveDefinite,
            Some("singular") => FailureKind::Singular,
            _ => FailureKind::Other,
        }
    }
}

/// A job that failed: which job (and where it is written), which
/// operation, on which tile, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct JobError {
    /// The job's name, `syrk[1, 4, 3]`.
    pub job: String,
    /// `file:line` of the failing instruction, when the program says.
    pub source: Option<String>,
    /// The opcode: a kernel name, `S3_LOAD` or `S3_WRITE`.
    pub op: String,
    /// The tile the failing operand came from, e.g. `S[3, 3, 3]`.
    pub tile: Option<String>,
    /// The tile the result would have been written to, if known.
    pub output: Option<String>,
    pub message: String,
    pub kind: FailureKind,
}

impl JobError {
    /// A failure of the run rather than of one job (`op` is `bundle` or
    /// `driver`): no job, line or tile to name.
    pub fn of_run(op: &str, message: impl Into<String>) -> JobError {
        JobError {
            job: String::new(),
            source: None,
            op: op.to_string(),
            tile: None,
            output: None,
            message: message.into(),
            kind: FailureKind::Other,
        }
    }
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A failure of the run rather than of one job (a bundle every
        // worker refuses) names no job.
        if !self.job.is_empty() {
            write!(f, "job \"{}\"", self.job)?;
            if let Some(at) = &self.source {
                write!(f, " ({at})")?;
            }
            f.write_str(": ")?;
        }
        f.write_str(&self.op)?;
        if let Some(tile) = &self.tile {
            write!(f, " on {tile}")?;
        }
        if let Some(out) = &self.output {
            write!(f, " (result for {out})")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Why a run did not complete.
#[derive(Clone, Debug, PartialEq)]
pub enum RunError {
    /// The first job failure; the run stopped taking jobs. (Boxed: a run
    /// error travels through every `Result` of the hot path, a job error
    /// is a few strings.)
    Job(Box<JobError>),
    Backend(BackendError),
    /// The bundle fails validation; nothing ran. The message is complete
    /// (it starts with "invalid bundle").
    InvalidBundle(String),
    /// The stop flag was set (Ctrl-C).
    Cancelled {
        jobs_done: u64,
        jobs_total: u64,
    },
    /// No job is queued, running or leased, yet some never ran.
    Stalled {
        jobs_done: u64,
        jobs_total: u64,
    },
    /// Writing the trace file failed.
    Trace(String),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Job(e) => e.fmt(f),
            RunError::Backend(e) => write!(f, "scheduler backend failed: {e}"),
            RunError::InvalidBundle(m) => f.write_str(m),
            RunError::Cancelled {
                jobs_done,
                jobs_total,
            } => {
                write!(f, "run cancelled after {jobs_done} of {jobs_total} jobs")
            }
            RunError::Stalled {
                jobs_done,
                jobs_total,
            } => write!(
                f,
                "run stalled after {jobs_done} of {jobs_total} jobs: no job is ready or running"
            ),
            RunError::Trace(m) => write!(f, "could not write the trace: {m}"),
        }
    }
}

impl std::error::Error for RunError {}

impl From<JobError> for RunError {
    fn from(e: JobError) -> RunError {
        RunError::Job(Box::new(e))
    }
}

impl From<BackendError> for RunError {
    fn from(e: BackendError) -> RunError {
        RunError::Backend(e)
    }
}
