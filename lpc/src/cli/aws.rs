//! The lambda backend's side of the command line: the `--backend lambda`
//! arguments of `lpc run` and `lpc aws init`.
//!
//! The AWS SDKs are behind lpc's `aws` cargo feature (off by default: they
//! take minutes to build and the local backend needs none of them). The
//! arguments exist either way, so `lpc --help` reads the same in every
//! build; without the feature, using them is an error that says how to
//! build an lpc that has the backend.

use lp_program::Plan;
use lp_runtime::metrics::{Progress, RunSummary};
use lp_runtime::protocol::RunError;
use lp_runtime::store::{Namespace, Store};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// Where a lambda run keeps its state.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct AwsArgs {
    /// S3 bucket of the tiles and the bundle.
    #[arg(long, value_name = "BUCKET")]
    pub bucket: Option<String>,
    /// Key prefix inside the bucket (a run's tiles live under it).
    #[arg(long, value_name = "PREFIX", default_value = "")]
    pub prefix: String,
    /// DynamoDB table of the completion counters (see `lpc aws init`).
    #[arg(long, value_name = "TABLE")]
    pub table: Option<String>,
    /// The deployed `lp-worker` Lambda function (name or ARN).
    #[arg(long, value_name = "FUNCTION", default_value = "lp-worker")]
    pub function: String,
    /// One endpoint for S3, DynamoDB and Lambda (emulators). Per-service
    /// endpoints come from LP_S3_ENDPOINT, LP_DYNAMODB_ENDPOINT and
    /// LP_LAMBDA_ENDPOINT; region and credentials from the standard AWS
    /// configuration chain.
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Overrides the region of the AWS configuration chain.
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
}

#[derive(clap::Subcommand)]
pub enum Command {
    /// Create the DynamoDB table of the counters (and the bucket with
    /// --create-bucket); existing ones are left as they are.
    Init(InitArgs),
}

#[derive(clap::Args)]
pub struct InitArgs {
    #[command(flatten)]
    aws: AwsArgs,
    /// Also create the bucket.
    #[arg(long)]
    create_bucket: bool,
}

#[cfg(not(feature = "aws"))]
const NOT_BUILT: &str = "this lpc was built without the lambda backend; \
     build it with `cargo build --release -p lpc --features aws`";

impl AwsArgs {
    fn bucket(&self) -> Result<&str, String> {
        self.bucket
            .as_deref()
            .ok_or_else(|| "the lambda backend needs --bucket BUCKET".to_string())
    }

    fn table(&self) -> Result<&str, String> {
        self.table
            .as_deref()
            .ok_or_else(|| "the lambda backend needs --table TABLE".to_string())
    }

    /// The `lpc aws init` that creates what this run misses.
    #[cfg_attr(not(feature = "aws"), allow(dead_code))]
    fn init_hint(&self, create_bucket: bool) -> String {
        let mut command = "lpc aws init".to_string();
        if let Some(bucket) = &self.bucket {
            command.push_str(&format!(" --bucket {bucket}"));
        }
        if let Some(table) = &self.table {
            command.push_str(&format!(" --table {table}"));
        }
        if create_bucket {
            command.push_str(" --create-bucket");
        }
        // Not the endpoint: messages name no host.
        if let Some(region) = &self.region {
            command.push_str(&format!(" --region {region}"));
        }
        command
    }
}

pub fn init(command: Command) -> std::process::ExitCode {
    let Command::Init(args) = command;
    match init_resources(&args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            lpc::say!("error: {message}");
            std::process::ExitCode::from(2)
        }
    }
}

/// A lambda run's store, counters and workers, connected once.
pub struct Lambda {
    #[cfg(feature = "aws")]
    clients: lp_runtime::aws::AwsClients,
    /// The bucket under `--prefix`, checked by `connect`.
    #[cfg(feature = "aws")]
    store: Arc<lp_runtime::aws::S3Store>,
    /// Without the feature no `Lambda` can exist: `connect` fails.
    #[cfg(not(feature = "aws"))]
    never: std::convert::Infallible,
    #[cfg_attr(not(feature = "aws"), allow(dead_code))]
    args: AwsArgs,
    /// Requests and worker time of the last run, for its summary.
    bill: std::sync::Mutex<Option<lp_runtime::requests::Bill>>,
}

impl Lambda {
    /// Checks the arguments, connects and checks that the bucket and the
    /// table exist: a missing one is a configuration error before the run
    /// rather than a failed run.
    pub fn connect(args: &AwsArgs) -> Result<Lambda, String> {
        args.bucket()?;
        args.table()?;
        connect(args)
    }

    /// What the last [`Lambda::run`] used (requests, worker time).
    pub fn bill(&self) -> Option<lp_runtime::requests::Bill> {
        *self.bill.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The bucket as a tile store, for inputs, outputs and verification.
    pub fn store(&self) -> Arc<dyn Store> {
        store(self)
    }

    /// Runs `plan` on Lambda in namespace `ns`; no `lease` means the
    /// backend's default (above Lambda's 15-minute limit on an invocation).
    pub fn run(
        &self,
        plan: &Plan,
        ns: &Namespace,
        lease: Option<Duration>,
        stop: Arc<AtomicBool>,
        progress: &dyn Fn(&Progress),
    ) -> Result<RunSummary, RunError> {
        run(self, plan, ns, lease, stop, progress)
    }
}

/// The AWS options of `args` and the environment, checked: a malformed
/// region or `LP_AWS_TIMEOUT` is refused here, where the answer to a
/// request made with it would not say what is wrong.
#[cfg(feature = "aws")]
fn options(args: &AwsArgs) -> Result<lp_runtime::aws::AwsOptions, String> {
    let mut options = lp_runtime::aws::AwsOptions::from_env();
    if args.endpoint_url.is_some() {
        options.endpoint_url = args.endpoint_url.clone();
    }
    if let Some(region) = &args.region {
        lp_runtime::aws::validate_region(region).map_err(|e| format!("--region: {e}"))?;
        options.region = Some(region.clone());
    }
    if let Some(timeout) = std::env::var("LP_AWS_TIMEOUT")
        .ok()
        .filter(|t| !t.is_empty())
    {
        lp_runtime::aws::parse_timeout(&timeout)?;
    }
    if let Some(bucket) = &args.bucket {
        lp_runtime::aws::s3::validate_bucket_name(bucket).map_err(|e| format!("--bucket: {e}"))?;
    }
    if let Some(table) = &args.table {
        lp_runtime::aws::dynamo::validate_table_name(table).map_err(|e| format!("--table: {e}"))?;
    }
    Ok(options)
}

/// The clients for `options`, with the region they ended up with (from the
/// configuration chain, when not given) checked.
#[cfg(feature = "aws")]
fn clients(options: &lp_runtime::aws::AwsOptions) -> Result<lp_runtime::aws::AwsClients, String> {
    let clients = lp_runtime::aws::AwsClients::connect(options);
    if let Some(region) = clients.region() {
        lp_runtime::aws::validate_region(&region)
            .map_err(|e| format!("the region of the AWS configuration: {e}"))?;
    }
    Ok(clients)
}

#[cfg(feature = "aws")]
fn connect(args: &AwsArgs) -> Result<Lambda, String> {
    let clients = clients(&options(args)?)?;
    let (bucket, table) = (args.bucket()?, args.table()?);
    let store = lp_runtime::aws::S3Store::new(&clients, bucket, &args.prefix)
        .map_err(|e| format!("--prefix: {e}"))?;
    if !store.bucket_exists().map_err(|e| e.to_string())? {
        return Err(format!(
            "S3 bucket {bucket} does not exist; create it with `{}`",
            args.init_hint(true)
        ));
    }
    if !lp_runtime::aws::dynamo::table_exists(&clients, table).map_err(|e| e.to_string())? {
        return Err(format!(
            "DynamoDB table {table} does not exist; create it with `{}`",
            args.init_hint(false)
        ));
    }
    Ok(Lambda {
        clients,
        store: Arc::new(store),
        args: args.clone(),
        bill: std::sync::Mutex::new(None),
    })
}

#[cfg(feature = "aws")]
fn store(lambda: &Lambda) -> Arc<dyn Store> {
    lambda.store.clone()
}

#[cfg(feature = "aws")]
fn run(
    lambda: &Lambda,
    plan: &Plan,
    ns: &Namespace,
    lease: Option<Duration>,
    stop: Arc<AtomicBool>,
    progress: &dyn Fn(&Progress),
) -> Result<RunSummary, RunError> {
    let args = &lambda.args;
    let mut opts = lp_runtime::aws::LambdaRunOptions::new(
        args.bucket().expect("checked by connect"),
        &args.prefix,
        args.table().expect("checked by connect"),
        &args.function,
    );
    if let Some(lease) = lease {
        opts.lease = lease;
    }
    opts.stop = stop;
    opts.namespace = ns.clone();
    let summary = lp_runtime::aws::run_lambda(&lambda.clients, plan, &opts, progress)?;
    lpc::say!(
        "run {} (table {}, s3://{}/{})",
        summary.run_id,
        opts.table,
        opts.bucket,
        opts.prefix
    );
    if let Some(why) = &summary.sweep_failed {
        lpc::say!(
            "warning: the temp tiles duplicate executions left could not be removed ({why}); \
             lpc store gc removes them"
        );
    }
    *lambda.bill.lock().unwrap_or_else(|p| p.into_inner()) = Some(summary.bill);
    Ok(summary.summary)
}

/// The S3 prefix `s3://bucket/prefix` as a store (`lpc store`).
#[cfg(feature = "aws")]
pub fn s3_store(args: &AwsArgs, bucket: &str, prefix: &str) -> Result<Arc<dyn Store>, String> {
    let spec = format!("s3://{bucket}");
    lp_runtime::aws::s3::validate_bucket_name(bucket).map_err(|e| format!("{spec}: {e}"))?;
    let clients = clients(&options(args)?)?;
    let store = lp_runtime::aws::S3Store::new(&clients, bucket, prefix)
        .map_err(|e| format!("cannot open {spec}/{prefix}: {e}"))?;
    Ok(Arc::new(store))
}

#[cfg(not(feature = "aws"))]
pub fn s3_store(_: &AwsArgs, _: &str, _: &str) -> Result<Arc<dyn Store>, String> {
    Err(NOT_BUILT.to_string())
}

#[cfg(feature = "aws")]
fn init_resources(args: &InitArgs) -> Result<(), String> {
    let table = args.aws.table()?;
    let clients = clients(&options(&args.aws)?)?;
    if args.create_bucket {
        let bucket = args.aws.bucket()?;
        lp_runtime::aws::S3Store::at_root(&clients, bucket)
            .create_bucket()
            .map_err(|e| e.to_string())?;
        lpc::say!("bucket {bucket} ready");
    }
    let expiry = lp_runtime::aws::create_table(&clients, table).map_err(|e| e.to_string())?;
    lpc::say!("table {table} ready");
    match expiry {
        lp_runtime::aws::dynamo::Expiry::On => lpc::say!(
            "  items of a run expire {} days after its last write (time-to-live on `{}`)",
            lp_runtime::aws::dynamo::ITEM_TTL.as_secs() / 86_400,
            lp_runtime::aws::dynamo::TTL_ATTRIBUTE
        ),
        lp_runtime::aws::dynamo::Expiry::Unsupported(answer) => lpc::say!(
            "warning: this DynamoDB endpoint does not implement time-to-live ({answer}); \
             the items of every run stay in {table}"
        ),
    }
    Ok(())
}

#[cfg(not(feature = "aws"))]
fn connect(_: &AwsArgs) -> Result<Lambda, String> {
    Err(NOT_BUILT.to_string())
}

#[cfg(not(feature = "aws"))]
fn store(lambda: &Lambda) -> Arc<dyn Store> {
    match lambda.never {}
}

#[cfg(not(feature = "aws"))]
fn run(
    lambda: &Lambda,
    _: &Plan,
    _: &Namespace,
    _: Option<Duration>,
    _: Arc<AtomicBool>,
    _: &dyn Fn(&Progress),
) -> Result<RunSummary, RunError> {
    match lambda.never {}
}

#[cfg(not(feature = "aws"))]
fn init_resources(_: &InitArgs) -> Result<(), String> {
    Err(NOT_BUILT.to_string())
}
