//! The lambda backend: tiles in S3 ([`s3::S3Store`]), protocol counters in
//! DynamoDB ([`dynamo::DynamoCounters`]), one asynchronous Lambda invocation
//! per delivered job ([`lambda::LambdaLauncher`], worker in `bin/lp-worker`).
//!
//! # Sync facade over async SDKs
//!
//! The [`Store`](crate::store::Store), `Counters` and `Launcher` traits are
//! synchronous: the scheduler core is plain sequential code and kernels are
//! CPU-bound, so an async scheduler would buy nothing but colouring. The AWS
//! SDKs are async, so every client here runs its requests on one
//! process-wide tokio runtime owned by this module ([`block_on`]) and the
//! calling thread waits on a channel. The wait never calls
//! `Runtime::block_on` itself, which tokio forbids inside another runtime's
//! context: on a thread of a multi-threaded runtime (the Lambda worker's
//! handler, `#[tokio::test]`s) the wait is wrapped in
//! `tokio::task::block_in_place`, so the outer runtime moves its other tasks
//! to another thread instead of stalling. The runtime is a static that is
//! never dropped, because dropping a runtime inside an async context panics.
//!
//! # Configuration
//!
//! Region and credentials come from the standard AWS chain (environment,
//! profile, instance or Lambda role). [`AwsOptions`] adds per-service
//! endpoint overrides for emulators; with an override, S3 uses path-style
//! addressing and computes/validates checksums only when an operation
//! requires them (emulators do not all implement the newer flexible
//! checksums).
//!
//! # Retries
//!
//! The SDK's *standard* retry mode is used ([`retry_config`]): up to
//! [`MAX_ATTEMPTS`] attempts with exponential backoff and full jitter
//! (from 50 ms up to 5 s) on throttling (S3 503 SlowDown, DynamoDB
//! ProvisionedThroughputExceeded / ThrottlingException), transient 5xx
//! responses, I/O errors and attempt timeouts ([`timeout_config`]).

pub mod driver;
pub mod dynamo;
pub mod lambda;
pub mod s3;

use crate::requests::RequestTally;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

pub use driver::{LambdaRunOptions, LambdaRunSummary, run_lambda};
pub use dynamo::{DynamoCounters, RunStatus, create_table};
pub use lambda::{LambdaLauncher, WorkerPayload};
pub use s3::S3Store;

/// Attempts per request (first try included) before an error is returned.
pub const MAX_ATTEMPTS: u32 = 8;

/// An AWS request that failed after retries, or a response that made no
/// sense; `what` names the operation and the object it was about.
#[derive(Debug)]
pub struct AwsError {
    pub what: String,
    pub message: String,
}

impl AwsError {
    pub fn new(what: impl Into<String>, message: impl Into<String>) -> AwsError {
        AwsError {
            what: what.into(),
            message: message.into(),
        }
    }

    /// Wraps an SDK error, rendering its whole source chain (the SDK's
    /// `Display` alone says only "service error").
    pub fn sdk<E>(what: impl Into<String>, err: E) -> AwsError
    where
        E: std::error::Error + 'static,
    {
        AwsError::new(what, error_chain(&err))
    }
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, self.message)
    }
}

impl std::error::Error for AwsError {}

/// `err: cause: cause`, deduplicating causes whose text the parent repeats.
pub(crate) fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = e.source();
    }
    out
}

/// Where the AWS services are. `None` everywhere means real AWS with the
/// standard configuration chain.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AwsOptions {
    /// Overrides the region of the configuration chain.
    pub region: Option<String>,
    /// One endpoint for every service (`--endpoint-url`).
    pub endpoint_url: Option<String>,
    /// Per-service overrides, winning over `endpoint_url`.
    pub s3_endpoint: Option<String>,
    pub dynamodb_endpoint: Option<String>,
    pub lambda_endpoint: Option<String>,
}

impl AwsOptions {
    /// Options from the environment: `LP_AWS_REGION`, `LP_AWS_ENDPOINT_URL`,
    /// `LP_S3_ENDPOINT`, `LP_DYNAMODB_ENDPOINT`, `LP_LAMBDA_ENDPOINT`. The
    /// worker uses this: Lambda passes configuration as environment.
    pub fn from_env() -> AwsOptions {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        AwsOptions {
            region: var("LP_AWS_REGION"),
            endpoint_url: var("LP_AWS_ENDPOINT_URL"),
            s3_endpoint: var("LP_S3_ENDPOINT"),
            dynamodb_endpoint: var("LP_DYNAMODB_ENDPOINT"),
            lambda_endpoint: var("LP_LAMBDA_ENDPOINT"),
        }
    }

    fn s3(&self) -> Option<&str> {
        self.s3_endpoint.as_deref().or(self.endpoint_url.as_deref())
    }
    fn dynamodb(&self) -> Option<&str> {
        self.dynamodb_endpoint
            .as_deref()
            .or(self.endpoint_url.as_deref())
    }
    fn lambda(&self) -> Option<&str> {
        self.lambda_endpoint
            .as_deref()
            .or(self.endpoint_url.as_deref())
    }
}

/// The retry policy of every client (see the module doc).
pub fn retry_config() -> aws_config::retry::RetryConfig {
    aws_config::retry::RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(Duration::from_millis(50))
        .with_max_backoff(Duration::from_secs(5))
}

/// Per-attempt timeouts: a hung connection becomes a retried timeout rather
/// than a worker stuck until Lambda kills it.
pub fn timeout_config() -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(5))
        .operation_attempt_timeout(Duration::from_secs(60))
        .build()
}

/// The three service clients, configured once.
#[derive(Clone, Debug)]
pub struct AwsClients {
    pub s3: aws_sdk_s3::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub lambda: aws_sdk_lambda::Client,
    /// Every request made through these clients' stores, counters and
    /// launchers (for the run's bill; see `crate::requests`).
    pub requests: Arc<RequestTally>,
}

impl AwsClients {
    /// The same clients with a tally of their own: a worker counts the
    /// requests of one invocation apart from others in the same process.
    pub fn with_own_tally(&self) -> AwsClients {
        AwsClients {
            requests: Arc::default(),
            ..self.clone()
        }
    }

    /// Loads the configuration chain and builds the clients.
    pub fn connect(options: &AwsOptions) -> AwsClients {
        let options = options.clone();
        block_on(async move { AwsClients::connect_async(&options).await })
    }

    async fn connect_async(options: &AwsOptions) -> AwsClients {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .retry_config(retry_config())
            .timeout_config(timeout_config());
        if let Some(region) = &options.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        let shared = loader.load().await;

        let mut s3 = aws_sdk_s3::config::Builder::from(&shared);
        if let Some(url) = options.s3() {
            s3 = s3
                .endpoint_url(url)
                .force_path_style(true)
                .request_checksum_calculation(
                    aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired,
                )
                .response_checksum_validation(
                    aws_sdk_s3::config::ResponseChecksumValidation::WhenRequired,
                );
        }
        let mut dynamodb = aws_sdk_dynamodb::config::Builder::from(&shared);
        if let Some(url) = options.dynamodb() {
            dynamodb = dynamodb.endpoint_url(url);
        }
        let mut lambda = aws_sdk_lambda::config::Builder::from(&shared);
        if let Some(url) = options.lambda() {
            lambda = lambda.endpoint_url(url);
        }
        AwsClients {
            s3: aws_sdk_s3::Client::from_conf(s3.build()),
            dynamodb: aws_sdk_dynamodb::Client::from_conf(dynamodb.build()),
            lambda: aws_sdk_lambda::Client::from_conf(lambda.build()),
            requests: Arc::default(),
        }
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            // Requests are I/O-bound; two threads keep many in flight.
            .worker_threads(2)
            .thread_name("lp-aws-io")
            .enable_all()
            .build()
            .expect("the AWS I/O runtime could not start (no threads or no epoll?)")
    })
}

/// Runs `fut` on the module's runtime and waits for it from any thread,
/// including a worker thread of another multi-threaded tokio runtime (see
/// the module doc).
pub fn block_on<F>(fut: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime().spawn(async move {
        let _ = tx.send(fut.await);
    });
    let wait = move || {
        rx.recv()
            .expect("the AWS I/O runtime dropped a request (it never shuts down)")
    };
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(wait)
        }
        // A current-thread runtime cannot lend its thread; blocking it is
        // safe because the request runs on our own runtime, not on it.
        _ => wait(),
    }
}
