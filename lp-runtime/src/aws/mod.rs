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
//! # Retries and timeouts
//!
//! The SDK's *standard* retry mode is used ([`retry_config`]): up to
//! [`MAX_ATTEMPTS`] attempts with exponential backoff and full jitter
//! (from 50 ms up to 5 s) on throttling (S3 503 SlowDown, DynamoDB
//! ProvisionedThroughputExceeded / ThrottlingException), transient 5xx
//! responses, I/O errors and attempt timeouts ([`timeout_config`]).
//!
//! An endpoint that accepts connections and never answers must become an
//! error, not a hang: an attempt may take [`ATTEMPT_TIMEOUT`] (from sending
//! the request to the first byte of the answer; `LP_AWS_TIMEOUT` changes
//! it) and a request, its retries and their backoff included,
//! [`ATTEMPTS_IN_TIME`] times that. An attempt's clock runs while a PUT's
//! body is sent, so S3 PUTs get more time for their size
//! ([`upload_timeout_config`]); a transfer that stalls midway is cut by the
//! SDK's stalled-stream protection (on for uploads and downloads in the
//! latest behaviour version: less than a byte a second for 5 s), and
//! reading a GET's body is not part of its attempt.
pub mod driver;
pub mod dynamo;
pub mod lambda;
pub mod s3;

use crate::requests::RequestTally;
use aws_sdk_s3::error::ProvideErrorMetadata;
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

/// How long one attempt of a request may take, from sending it to the
/// first byte of the answer, unless `LP_AWS_TIMEOUT` says otherwise
/// ([`attempt_timeout`]). Answers take milliseconds; this only ends
/// waits for an endpoint that will never answer.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(20);

/// A request, its retries and their backoff included, may take this many
/// attempt timeouts: a hung endpoint is an error after about a minute.
pub const ATTEMPTS_IN_TIME: u32 = 3;

/// The slowest upload an S3 PUT's attempt timeout allows for its body
/// (bytes per second): 2 Mbit/s, a poor home uplink. A 32 MiB tile gets
/// 128 s more than a small request; a stalled upload is cut sooner by the
/// stalled-stream protection (see the module doc).
pub const SLOWEST_UPLOAD: u64 = 256 << 10;

/// An AWS request that failed after retries, or a response that made no
/// sense; `what` names the operation and the object it was about.
#[derive(Debug)]
pub struct AwsError {
    pub what: String,
    pub message: String,
}

/// What every client's failed request is.
pub type SdkError<E> = aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>;

impl AwsError {
    pub fn new(what: impl Into<String>, message: impl Into<String>) -> AwsError {
        AwsError {
            what: what.into(),
            message: message.into(),
        }
    }

    /// Wraps a failed request, rendered by [`render_sdk_error`].
    pub fn sdk<E>(what: impl Into<String>, err: SdkError<E>) -> AwsError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        AwsError::new(what, render_sdk_error(&err))
    }

    /// Wraps another error (a response body that broke off), rendering its
    /// source chain.
    pub fn other(what: impl Into<String>, err: &(dyn std::error::Error + 'static)) -> AwsError {
        AwsError::new(what, error_chain(err))
    }
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, self.message)
    }
}

impl std::error::Error for AwsError {}

/// A failed request as the protocol's backend error: not transient, as the
/// SDK has retried it already.
impl From<AwsError> for crate::protocol::BackendError {
    fn from(e: AwsError) -> Self {
        crate::protocol::BackendError::new(e.to_string())
    }
}

impl From<AwsError> for crate::protocol::RunError {
    fn from(e: AwsError) -> Self {
        crate::protocol::RunError::Backend(e.into())
    }
}

/// A failed request as a person wants to read it: the service's error code
/// and message (`NoSuchBucket: The specified bucket does not exist`), the
/// HTTP status of an answer without a code, or what went wrong on the way
/// (a refused connection, a timeout). The SDK's own `Display` says only
/// "service error", and the source of an error the SDK does not model is
/// the `Debug` form of its metadata.
pub fn render_sdk_error<E>(err: &SdkError<E>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err {
        aws_sdk_s3::error::SdkError::ServiceError(context) => {
            let status = context.raw().status().as_u16();
            let e = context.err();
            match (e.code(), e.message().filter(|m| !m.is_empty())) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(code), None) => format!("{code} (HTTP {status})"),
                (None, _) => format!("HTTP {status} (the answer names no error code)"),
            }
        }
        aws_sdk_s3::error::SdkError::TimeoutError(_) => format!(
            "{}; LP_AWS_TIMEOUT=SECONDS sets how long an attempt may wait for an answer",
            error_chain(err)
        ),
        _ => error_chain(err),
    }
}

/// A token no other call shares: a fresh run id (time and process), and a
/// count for calls of one process in the same instant. A conditional write
/// records it, so that when the SDK retries a write that was applied but
/// whose answer was lost, the retry finds its own token and succeeds
/// again, where the condition alone would call it another's.
pub(crate) fn call_token() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{}-{n}", crate::store::runs::fresh_run_id())
}

/// The HTTP status of a failed request's answer, if one came.
pub(crate) fn http_status<E>(err: &SdkError<E>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

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

/// Whether `region` looks like an AWS region (`us-east-1`): lowercase
/// letters, digits and inner hyphens. Anything else ends up in a signed
/// header or a host name, where the endpoint's complaint does not say what
/// was wrong.
pub fn validate_region(region: &str) -> Result<(), String> {
    let ok = (1..=64).contains(&region.len())
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !region.starts_with('-')
        && !region.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{region:?} is not an AWS region: a region is lowercase letters, digits and \
             hyphens, like us-east-1"
        ))
    }
}

/// How long an attempt may take: `LP_AWS_TIMEOUT` (seconds), or
/// [`ATTEMPT_TIMEOUT`] if it is unset or malformed (a caller that can
/// report a malformed value checks it with [`parse_timeout`]: lpc does, the
/// worker cannot). An environment variable rather than an option, so that
/// the worker, lpc and the Python package all honour it.
pub fn attempt_timeout() -> Duration {
    std::env::var("LP_AWS_TIMEOUT")
        .ok()
        .and_then(|t| parse_timeout(&t).ok())
        .unwrap_or(ATTEMPT_TIMEOUT)
}

/// `LP_AWS_TIMEOUT`'s value: seconds (a fraction allowed), more than zero.
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0 && *s <= 86_400.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| {
            format!("LP_AWS_TIMEOUT={text:?} is not a number of seconds between 0 and 86400")
        })
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

/// The timeouts of every request, for an attempt timeout of `attempt`
/// (see the module doc).
pub fn timeout_config(attempt: Duration) -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(attempt.min(Duration::from_secs(5)))
        .operation_attempt_timeout(attempt)
        .operation_timeout(attempt * ATTEMPTS_IN_TIME)
        .build()
}

/// [`timeout_config`] for a request that sends `bytes` of body, given the
/// client's configuration `base`: sending them counts against the attempt.
/// The connect timeout stays the client's, so the request shares its
/// connection pool.
pub fn upload_timeout_config(
    base: Option<&aws_config::timeout::TimeoutConfig>,
    bytes: usize,
) -> aws_config::timeout::TimeoutConfig {
    let attempt = base
        .and_then(|t| t.operation_attempt_timeout())
        .unwrap_or(ATTEMPT_TIMEOUT)
        + Duration::from_secs_f64(bytes as f64 / SLOWEST_UPLOAD as f64);
    let mut config = timeout_config(attempt);
    if let Some(connect) = base.and_then(|t| t.connect_timeout()) {
        config = config.to_builder().connect_timeout(connect).build();
    }
    config
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

    /// The region the clients sign for (from the options or the
    /// configuration chain), if any.
    pub fn region(&self) -> Option<String> {
        self.s3.config().region().map(|r| r.to_string())
    }

    /// Loads the configuration chain and builds the clients, whose attempts
    /// may take [`attempt_timeout`].
    pub fn connect(options: &AwsOptions) -> AwsClients {
        AwsClients::connect_with_timeout(options, attempt_timeout())
    }

    /// [`AwsClients::connect`] with attempts that may take `attempt`.
    pub fn connect_with_timeout(options: &AwsOptions, attempt: Duration) -> AwsClients {
        let options = options.clone();
        block_on(async move { AwsClients::connect_async(&options, attempt).await })
    }

    async fn connect_async(options: &AwsOptions, attempt: Duration) -> AwsClients {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .retry_config(retry_config())
            .timeout_config(timeout_config(attempt));
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

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::error::ErrorMetadata;
    use aws_sdk_s3::operation::create_bucket::CreateBucketError;
    use aws_sdk_s3::primitives::SdkBody;

    fn answered(status: u16, code: Option<&str>, message: Option<&str>) -> String {
        let mut meta = ErrorMetadata::builder();
        if let Some(code) = code {
            meta = meta.code(code);
        }
        if let Some(message) = message {
            meta = meta.message(message);
        }
        let raw = aws_sdk_s3::config::http::HttpResponse::new(
            status.try_into().unwrap(),
            SdkBody::empty(),
        );
        let err = SdkError::service_error(CreateBucketError::generic(meta.build()), raw);
        render_sdk_error(&err)
    }

    #[test]
    fn an_answer_renders_as_its_code_and_message_never_as_debug() {
        assert_eq!(
            answered(
                400,
                Some("InvalidBucketName"),
                Some("The bucket is not valid")
            ),
            "InvalidBucketName: The bucket is not valid"
        );
        assert_eq!(
            answered(400, Some("InvalidBucketName"), None),
            "InvalidBucketName (HTTP 400)"
        );
        assert_eq!(
            answered(404, None, None),
            "HTTP 404 (the answer names no error code)"
        );
    }

    #[test]
    fn regions_are_lowercase_letters_digits_and_inner_hyphens() {
        for ok in ["us-east-1", "eu-central-2", "us-gov-west-1", "local"] {
            assert_eq!(validate_region(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "US-EAST-1",
            "not a region/..",
            "-us",
            "us-",
            "us_east_1",
        ] {
            assert!(validate_region(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lp_aws_timeout_is_positive_seconds() {
        assert_eq!(parse_timeout("1"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_timeout(" 0.5 "), Ok(Duration::from_millis(500)));
        for bad in ["", "0", "-3", "soon", "inf", "NaN", "1e9"] {
            assert!(parse_timeout(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_upload_gets_time_for_its_bytes_and_keeps_the_connect_timeout() {
        let base = timeout_config(ATTEMPT_TIMEOUT);
        assert_eq!(base.operation_attempt_timeout(), Some(ATTEMPT_TIMEOUT));
        assert_eq!(base.operation_timeout(), Some(ATTEMPT_TIMEOUT * 3));
        assert_eq!(base.connect_timeout(), Some(Duration::from_secs(5)));
        let tile = upload_timeout_config(Some(&base), 32 << 20);
        assert_eq!(
            tile.operation_attempt_timeout(),
            Some(ATTEMPT_TIMEOUT + Duration::from_secs(128))
        );
        assert_eq!(
            tile.operation_timeout(),
            Some((ATTEMPT_TIMEOUT + Duration::from_secs(128)) * 3)
        );
        assert_eq!(tile.connect_timeout(), base.connect_timeout());
        let short = timeout_config(Duration::from_secs(1));
        assert_eq!(
            upload_timeout_config(Some(&short), 0).connect_timeout(),
            Some(Duration::from_secs(1))
        );
    }
}
