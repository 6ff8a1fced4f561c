//! [`DynamoCounters`]: the protocol state of a run (DESIGN.md section 5) in
//! one DynamoDB table, shared by every run.
//!
//! Key schema: partition key `pk` (string) = run id, sort key `sk` (string).
//! Items of a run:
//! * `job#<id>`: `done_parents` (a number set of finished parent ids),
//!   `launched` (ms since the epoch of the last launch or relaunch) and
//!   `finished` (ms since the epoch). An item springs into existence on the
//!   first update, so no set-up write per job is needed and there is no
//!   "item does not exist yet" race (numpywren's seed lost launches there).
//! * `tile#<matrix>_<version>_<i>_<j>`: `released`, how many readers of a
//!   temp tile finished; the tile is deleted when it reaches the reader
//!   count the plan solves for it.
//! * `run`: `status` (`running`, `failed` with the `err_*` attributes of
//!   the first failure, its `err_kind` a [`FailureKind`], `succeeded`),
//!   `jobs_total`, and the metrics the workers `ADD` (`jobs_done`,
//!   `executions`, `flops`, `bytes_loaded`, `bytes_stored`).
//!
//! Every protocol step is one request. `record_done` is `ADD done_parents
//! :p` with `ReturnValues=UPDATED_NEW`: a set-add is idempotent, so a
//! replayed parent cannot count twice, and the returned set gives the
//! number of distinct finished parents atomically. `try_mark_launched` and
//! `mark_finished` are conditional `SET`s guarded by `attribute_not_exists`:
//! exactly one caller wins under any interleaving. Reads the protocol
//! decides on are strongly consistent.

use super::{AwsClients, AwsError, block_on};
use crate::protocol::{BackendError, Counters, FailureKind, JobError, ProtoResult};
use crate::request_times::{RequestTimes, Timed, Waited};
use crate::requests::{Bill, Request, RequestCounts, RequestTally};
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, ReturnValue,
    ScalarAttributeType, TableStatus, TimeToLiveSpecification, TimeToLiveStatus,
};
use lp_program::{JobId, TileKey};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Creates the counters table (`lpc aws init`) with on-demand billing,
/// waits until it is usable and switches on the expiry of its items. An
/// existing table is not an error.
pub fn create_table(clients: &AwsClients, table: &str) -> Result<Expiry, AwsError> {
    let client = clients.dynamodb.clone();
    let table = table.to_string();
    block_on(async move {
        let what = || format!("create DynamoDB table {table}");
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("name and type are set")
        };
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .expect("name and type are set")
        };
        let created = client
            .create_table()
            .table_name(&table)
            .attribute_definitions(attr("pk"))
            .attribute_definitions(attr("sk"))
            .key_schema(key("pk", KeyType::Hash))
            .key_schema(key("sk", KeyType::Range))
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await;
        if let Err(e) = created
            && !e
                .as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception())
        {
            return Err(AwsError::sdk(what(), e));
        }
        // A new table is CREATING for a few seconds on AWS.
        for _ in 0..240 {
            let out = client
                .describe_table()
                .table_name(&table)
                .send()
                .await
                .map_err(|e| AwsError::sdk(what(), e))?;
            if out.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
                return enable_ttl(&client, &table).await;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(AwsError::new(
            what(),
            "the table did not become ACTIVE within 2 minutes",
        ))
    })
}

/// Checks `name` against DynamoDB's rules for table names (3 to 255
/// letters, digits, `_`, `-` and `.`), so that a bad name is refused before
/// a request.
pub fn validate_table_name(name: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    if !(3..=255).contains(&name.len()) {
        return Err(format!(
            "{name:?} is not a DynamoDB table name: a table name is 3 to 255 characters long"
        ));
    }
    match name.chars().find(|&c| !allowed(c)) {
        Some(c) => Err(format!(
            "{name:?} is not a DynamoDB table name: {c:?} is not allowed (only letters, \
             digits, underscores, hyphens and dots are)"
        )),
        None => Ok(()),
    }
}

/// Whether `table` exists and has the key schema [`create_table`] gives
/// it (`Ok(false)` if it does not exist), asked with a GetItem of a key no
/// run uses: the driver's policy (docs/aws.md) allows that, unlike
/// DescribeTable. A table with another key schema is an error saying so.
pub fn table_exists(clients: &AwsClients, table: &str) -> Result<bool, AwsError> {
    let request = clients
        .dynamodb
        .get_item()
        .table_name(table)
        .key("pk", s("~lpc"))
        .key("sk", s("~check"));
    clients.requests.add(Request::DynamoRead, 1);
    let what = format!("read DynamoDB table {table}");
    block_on(async move {
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(false),
            Err(e) if e.code() == Some("ValidationException") => Err(AwsError::new(
                what,
                format!(
                    "{} (the table needs the key schema `lpc aws init` gives it: partition \
                     key `pk` and sort key `sk`, both strings)",
                    super::render_sdk_error(&e)
                ),
            )),
            Err(e) => Err(AwsError::sdk(what, e)),
        }
    })
}

/// How long a run's items stay after their last write: the table's
/// time-to-live attribute ([`TTL_ATTRIBUTE`], switched on by
/// [`create_table`]) lets DynamoDB delete them, so the table does not grow
/// with every run. A week covers any run (a lease is 16 minutes) and the
/// time to read a finished run's record.
pub const ITEM_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// The item attribute holding the expiry, in seconds since the epoch.
pub const TTL_ATTRIBUTE: &str = "expires";

fn expires_at() -> u64 {
    (now_ms() / 1000) + ITEM_TTL.as_secs()
}

/// `expression` that also sets the item's expiry: every write refreshes
/// it in the same request, so an item expires a week after its run last
/// touched it.
fn with_expiry(expression: &str) -> String {
    match expression.strip_prefix("SET ") {
        Some(rest) => format!("SET {TTL_ATTRIBUTE} = :expires, {rest}"),
        None => format!("{expression} SET {TTL_ATTRIBUTE} = :expires"),
    }
}

/// Whether a table's items expire ([`create_table`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expiry {
    /// Time-to-live is on: items go [`ITEM_TTL`] after their last write.
    On,
    /// The endpoint does not implement time-to-live (an emulator; AWS
    /// always does): items stay. The error code it answered with.
    Unsupported(String),
}

/// Switches on the table's time-to-live on [`TTL_ATTRIBUTE`]; a table whose
/// TTL is already on is fine.
async fn enable_ttl(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<Expiry, AwsError> {
    let what = || format!("enable time-to-live on DynamoDB table {table}");
    let unknown = |code: Option<&str>| code == Some("UnknownOperationException");
    let described = match client
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await
    {
        Ok(d) => d,
        Err(e) if unknown(e.code()) => {
            return Ok(Expiry::Unsupported(
                e.code().unwrap_or_default().to_string(),
            ));
        }
        Err(e) => return Err(AwsError::sdk(what(), e)),
    };
    let on = described.time_to_live_description().is_some_and(|d| {
        d.attribute_name() == Some(TTL_ATTRIBUTE)
            && matches!(
                d.time_to_live_status(),
                Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
            )
    });
    if on {
        return Ok(Expiry::On);
    }
    let spec = TimeToLiveSpecification::builder()
        .attribute_name(TTL_ATTRIBUTE)
        .enabled(true)
        .build()
        .expect("name and flag are set");
    match client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(spec)
        .send()
        .await
    {
        Ok(_) => Ok(Expiry::On),
        Err(e) if unknown(e.code()) => Ok(Expiry::Unsupported(
            e.code().unwrap_or_default().to_string(),
        )),
        Err(e) => Err(AwsError::sdk(what(), e)),
    }
}

/// Where a run stands, from its `run` item.
#[derive(Clone, Debug, PartialEq)]
pub enum RunStatus {
    Running,
    /// The first job error a worker recorded (or the driver's reason for
    /// giving up, with an empty job).
    Failed(JobError),
    Succeeded,
}

/// The `run` item of a run: status and the metrics workers added.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRecord {
    pub status: RunStatus,
    pub jobs_total: u64,
    pub jobs_done: u64,
    pub executions: u64,
    pub flops: f64,
    pub bytes_loaded: u64,
    pub bytes_stored: u64,
    /// The workers' requests and time, as they added them.
    pub bill: Bill,
}

/// Metric increments one worker adds to the `run` item after a job.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MetricsDelta {
    pub jobs_done: u64,
    pub executions: u64,
    pub flops: f64,
    pub bytes_loaded: u64,
    pub bytes_stored: u64,
    /// Requests and time since the worker's last update (the update that
    /// carries them included).
    pub bill: Bill,
}

/// What [`DynamoCounters::lease_check`] read.
#[derive(Debug)]
pub struct LeaseCheck {
    pub finished: u64,
    pub overdue: Vec<JobId>,
}

/// The protocol state of one run in the shared table (see the module doc).
#[derive(Clone, Debug)]
pub struct DynamoCounters {
    client: aws_sdk_dynamodb::Client,
    table: String,
    run_id: String,
    requests: Arc<RequestTally>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn number<T: std::str::FromStr>(item: &HashMap<String, AttributeValue>, name: &str) -> Option<T> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

/// The run item's attributes of request times: calls and microseconds of
/// every kind (`t_get_n`, `t_get_us`, ...), and the bytes of tile
/// transfers (`t_get_b`, `t_put_b`).
fn time_attributes(times: &RequestTimes) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for kind in Timed::ALL {
        let w = times.get(kind);
        out.push((format!("t_{}_n", kind.name()), w.calls));
        out.push((format!("t_{}_us", kind.name()), w.micros));
        if matches!(kind, Timed::TileGet | Timed::TilePut) {
            out.push((format!("t_{}_b", kind.name()), w.bytes));
        }
    }
    out
}

/// The request times of a run item (absent attributes are 0).
fn request_times(item: &HashMap<String, AttributeValue>) -> RequestTimes {
    let mut times = RequestTimes::default();
    for kind in Timed::ALL {
        let get = |field: &str| number(item, &format!("t_{}_{field}", kind.name())).unwrap_or(0);
        let waited = Waited {
            calls: get("n"),
            micros: get("us"),
            bytes: get("b"),
        };
        times.set(kind, waited);
    }
    times
}

impl DynamoCounters {
    pub fn new(clients: &AwsClients, table: &str, run_id: &str) -> DynamoCounters {
        DynamoCounters {
            client: clients.dynamodb.clone(),
            table: table.to_string(),
            run_id: run_id.to_string(),
            requests: clients.requests.clone(),
        }
    }

    fn job_sk(job: JobId) -> String {
        format!("job#{job}")
    }

    fn what(&self, sk: &str) -> String {
        format!("DynamoDB {} item {}/{sk}", self.table, self.run_id)
    }

    /// Sets time attribute `attr` of item `sk` if it is not set: true for
    /// exactly one call per item (`try_mark_launched`, `mark_finished`),
    /// the same call again when the SDK retries it (`{attr}_by` holds its
    /// [`super::call_token`]).
    fn claim(&self, sk: String, attr: &str) -> Result<bool, AwsError> {
        let claimed = self.update(
            sk,
            &format!("SET {attr} = :now, {attr}_by = :token"),
            Some(&format!(
                "attribute_not_exists({attr}) OR {attr}_by = :token"
            )),
            vec![(":now", n(now_ms())), (":token", s(super::call_token()))],
        )?;
        Ok(claimed.is_some())
    }

    /// Adds job `member` to the number set `attr` of item `sk`: the set's
    /// size after. A set rather than a count, because the SDK retries an
    /// update whose answer was lost, and a count would then add the same
    /// member twice (a child launched before its last parent finished, a
    /// tile freed under its last reader).
    fn add_to_set(&self, sk: String, attr: &str, member: JobId) -> ProtoResult<u32> {
        let what = self.what(&sk);
        let attrs = self
            .update(
                sk,
                &format!("ADD {attr} :m"),
                None,
                vec![(":m", AttributeValue::Ns(vec![member.to_string()]))],
            )?
            .unwrap_or_default();
        match attrs.get(attr).and_then(|v| v.as_ns().ok()) {
            Some(set) => Ok(set.len() as u32),
            None => Err(BackendError::new(format!(
                "{what}: the update returned no {attr} set"
            ))),
        }
    }

    /// One UpdateItem on item `sk`. `condition` failing gives `Ok(None)`;
    /// success gives the attributes `ReturnValues=UPDATED_NEW` returned.
    fn update(
        &self,
        sk: String,
        expression: &str,
        condition: Option<&str>,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<Option<HashMap<String, AttributeValue>>, AwsError> {
        let what = self.what(&sk);
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&self.run_id))
            .key("sk", s(sk))
            .update_expression(with_expiry(expression))
            .expression_attribute_values(":expires", n(expires_at()))
            .return_values(ReturnValue::UpdatedNew)
            .set_condition_expression(condition.map(str::to_string));
        for (name, value) in values {
            request = request.expression_attribute_values(name, value);
        }
        // `status` is a reserved word in DynamoDB expressions.
        if expression.contains("#status") || condition.is_some_and(|c| c.contains("#status")) {
            request = request.expression_attribute_names("#status", "status");
        }
        self.requests.add(Request::DynamoWrite, 1);
        let send = move || {
            block_on(async move {
                match request.send().await {
                    Ok(out) => Ok(Some(out.attributes.unwrap_or_default())),
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
                    {
                        Ok(None)
                    }
                    Err(e) => Err(AwsError::sdk(format!("update {what}"), e)),
                }
            })
        };
        self.requests.timed(send, |_| (Timed::CounterWrite, 0))
    }

    fn get(&self, sk: String) -> Result<Option<HashMap<String, AttributeValue>>, AwsError> {
        let what = self.what(&sk);
        let request = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(&self.run_id))
            .key("sk", s(sk))
            .consistent_read(true);
        self.requests.add(Request::DynamoRead, 1);
        let send = move || {
            block_on(async move {
                request
                    .send()
                    .await
                    .map(|out| out.item)
                    .map_err(|e| AwsError::sdk(format!("read {what}"), e))
            })
        };
        self.requests.timed(send, |_| (Timed::CounterRead, 0))
    }

    /// The driver's lease check from one read of the job items: how many
    /// jobs finished, and which are overdue (as [`Counters::overdue`]).
    pub fn lease_check(&self, lease: Duration) -> ProtoResult<LeaseCheck> {
        let cutoff = now_ms().saturating_sub(lease.as_millis() as u64);
        let items = self.job_items()?;
        Ok(LeaseCheck {
            finished: items.iter().filter(|(_, _, f)| *f).count() as u64,
            overdue: items
                .into_iter()
                .filter(|&(_, launched, finished)| {
                    !finished && launched.is_some_and(|t| t <= cutoff)
                })
                .map(|(job, _, _)| job)
                .collect(),
        })
    }

    /// Every job item of the run, as (job, launched ms, finished).
    fn job_items(&self) -> Result<Vec<(JobId, Option<u64>, bool)>, AwsError> {
        let what = format!("query {}", self.what("job#*"));
        let pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :run AND begins_with(sk, :job)")
            .expression_attribute_values(":run", s(&self.run_id))
            .expression_attribute_values(":job", s("job#"))
            .projection_expression("sk, launched, finished")
            .consistent_read(true)
            .into_paginator()
            .items()
            .send();
        let items: Vec<HashMap<String, AttributeValue>> = block_on(async move {
            let mut pages = pages;
            let mut items = Vec::new();
            while let Some(item) = pages.next().await {
                items.push(item.map_err(|e| AwsError::sdk(what.clone(), e))?);
            }
            Ok::<_, AwsError>(items)
        })?;
        // A Query page holds at most 1 MB of items; job items are about 100
        // bytes, so a page is about 10,000 of them.
        self.requests
            .add(Request::DynamoQuery, 1 + items.len() as u64 / 10_000);
        Ok(items
            .iter()
            .filter_map(|item| {
                let job = item
                    .get("sk")?
                    .as_s()
                    .ok()?
                    .strip_prefix("job#")?
                    .parse()
                    .ok()?;
                Some((job, number(item, "launched"), item.contains_key("finished")))
            })
            .collect())
    }

    /// Writes the `run` item of a new run (status `running`). Fails if the
    /// run id is already taken.
    pub fn start_run(&self, jobs_total: u64) -> Result<(), AwsError> {
        let created = self.update(
            "run".to_string(),
            "SET #status = :running, jobs_total = :total, started = :now, started_by = :token",
            Some("attribute_not_exists(pk) OR started_by = :token"),
            vec![
                (":running", s("running")),
                (":total", n(jobs_total)),
                (":now", n(now_ms())),
                (":token", s(super::call_token())),
            ],
        )?;
        match created {
            Some(_) => Ok(()),
            None => Err(AwsError::new(
                self.what("run"),
                "a run with this id already exists",
            )),
        }
    }

    /// Marks the run failed with `error`, unless it already ended: the
    /// first error wins. Returns whether this call set it.
    pub fn fail_run(&self, error: &JobError) -> Result<bool, AwsError> {
        let mut values = vec![
            (":failed", s("failed")),
            (":running", s("running")),
            (":job", s(&error.job)),
            (":op", s(&error.op)),
            (":message", s(&error.message)),
            (":kind", s(error.kind.as_str())),
        ];
        let mut expression = "SET #status = :failed, err_job = :job, err_op = :op, \
             err_message = :message, err_kind = :kind"
            .to_string();
        if let Some(source) = &error.source {
            expression.push_str(", err_source = :source");
            values.push((":source", s(source)));
        }
        if let Some(tile) = &error.tile {
            expression.push_str(", err_tile = :tile");
            values.push((":tile", s(tile)));
        }
        if let Some(output) = &error.output {
            expression.push_str(", err_output = :output");
            values.push((":output", s(output)));
        }
        Ok(self
            .update(
                "run".to_string(),
                &expression,
                Some("#status = :running"),
                values,
            )?
            .is_some())
    }

    /// Marks the run succeeded unless it already ended.
    pub fn succeed_run(&self) -> Result<bool, AwsError> {
        Ok(self
            .update(
                "run".to_string(),
                "SET #status = :succeeded",
                Some("#status = :running"),
                vec![(":succeeded", s("succeeded")), (":running", s("running"))],
            )?
            .is_some())
    }

    /// Adds one worker's metric increments to the `run` item.
    pub fn add_metrics(&self, delta: MetricsDelta) -> Result<(), AwsError> {
        if delta == MetricsDelta::default() {
            return Ok(());
        }
        let times = time_attributes(&delta.bill.times);
        let mut expression = "ADD jobs_done :jobs, executions :exec, flops :flops, \
             bytes_loaded :loaded, bytes_stored :stored, s3_get :s3g, s3_put :s3p, \
             s3_delete :s3d, s3_list :s3l, ddb_read :dbr, ddb_write :dbw, ddb_query :dbq, \
             invokes :inv, busy_ms :busy, mb_ms :mbms"
            .to_string();
        for (name, _) in &times {
            expression.push_str(&format!(", {name} :{name}"));
        }
        let placeholders: Vec<String> = times.iter().map(|(name, _)| format!(":{name}")).collect();
        let mut values = vec![
            (":jobs", n(delta.jobs_done)),
            (":exec", n(delta.executions)),
            (":flops", n(delta.flops.round() as u64)),
            (":loaded", n(delta.bytes_loaded)),
            (":stored", n(delta.bytes_stored)),
            (":s3g", n(delta.bill.requests.s3_get)),
            (":s3p", n(delta.bill.requests.s3_put)),
            (":s3d", n(delta.bill.requests.s3_delete)),
            (":s3l", n(delta.bill.requests.s3_list)),
            (":dbr", n(delta.bill.requests.dynamo_read)),
            (":dbw", n(delta.bill.requests.dynamo_write)),
            (":dbq", n(delta.bill.requests.dynamo_query)),
            (":inv", n(delta.bill.requests.invoke)),
            (":busy", n(delta.bill.busy_ms)),
            (":mbms", n(delta.bill.mb_ms)),
        ];
        for (placeholder, (_, value)) in placeholders.iter().zip(&times) {
            values.push((placeholder.as_str(), n(value)));
        }
        self.update("run".to_string(), &expression, None, values)?;
        Ok(())
    }

    /// The run item, or `None` if the run was never started.
    pub fn run_record(&self) -> Result<Option<RunRecord>, AwsError> {
        let Some(item) = self.get("run".to_string())? else {
            return Ok(None);
        };
        let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
        let status = match text("status").as_deref() {
            Some("failed") => RunStatus::Failed(JobError {
                job: text("err_job").unwrap_or_default(),
                source: text("err_source"),
                op: text("err_op").unwrap_or_default(),
                tile: text("err_tile"),
                output: text("err_output"),
                message: text("err_message").unwrap_or_default(),
                kind: FailureKind::parse(text("err_kind").as_deref()),
            }),
            Some("succeeded") => RunStatus::Succeeded,
            _ => RunStatus::Running,
        };
        Ok(Some(RunRecord {
            status,
            jobs_total: number(&item, "jobs_total").unwrap_or(0),
            jobs_done: number(&item, "jobs_done").unwrap_or(0),
            executions: number(&item, "executions").unwrap_or(0),
            flops: number(&item, "flops").unwrap_or(0.0),
            bytes_loaded: number(&item, "bytes_loaded").unwrap_or(0),
            bytes_stored: number(&item, "bytes_stored").unwrap_or(0),
            bill: Bill {
                requests: RequestCounts {
                    s3_get: number(&item, "s3_get").unwrap_or(0),
                    s3_put: number(&item, "s3_put").unwrap_or(0),
                    s3_delete: number(&item, "s3_delete").unwrap_or(0),
                    s3_list: number(&item, "s3_list").unwrap_or(0),
                    dynamo_read: number(&item, "ddb_read").unwrap_or(0),
                    dynamo_write: number(&item, "ddb_write").unwrap_or(0),
                    dynamo_query: number(&item, "ddb_query").unwrap_or(0),
                    invoke: number(&item, "invokes").unwrap_or(0),
                },
                busy_ms: number(&item, "busy_ms").unwrap_or(0),
                mb_ms: number(&item, "mb_ms").unwrap_or(0),
                times: request_times(&item),
            },
        }))
    }
}

impl Counters for DynamoCounters {
    fn record_done(&self, child: JobId, parent: JobId) -> ProtoResult<u32> {
        self.add_to_set(Self::job_sk(child), "done_parents", parent)
    }

    fn try_mark_launched(&self, job: JobId) -> ProtoResult<bool> {
        Ok(self.claim(Self::job_sk(job), "launched")?)
    }

    fn note_started(&self, _job: JobId) -> ProtoResult<()> {
        // An invocation starts at once: the launch time is the lease start.
        Ok(())
    }

    fn note_relaunch(&self, job: JobId) -> ProtoResult<()> {
        self.update(
            Self::job_sk(job),
            "SET launched = :now",
            None,
            vec![(":now", n(now_ms()))],
        )?;
        Ok(())
    }

    fn mark_finished(&self, job: JobId) -> ProtoResult<bool> {
        Ok(self.claim(Self::job_sk(job), "finished")?)
    }

    fn is_finished(&self, job: JobId) -> ProtoResult<bool> {
        Ok(self
            .get(Self::job_sk(job))?
            .is_some_and(|item| item.contains_key("finished")))
    }

    fn release_reader(&self, tile: TileKey, reader: JobId, readers: u32) -> ProtoResult<u32> {
        let sk = format!(
            "tile#{}_{}_{}_{}",
            tile.matrix, tile.version, tile.i, tile.j
        );
        let released = self.add_to_set(sk, "released_by", reader)?;
        Ok(readers.saturating_sub(released))
    }

    fn overdue(&self, lease: Duration) -> ProtoResult<Vec<JobId>> {
        Ok(self.lease_check(lease)?.overdue)
    }

    fn launched_and_finished(&self) -> ProtoResult<(u64, u64)> {
        let items = self.job_items()?;
        Ok((
            items.iter().filter(|(_, l, _)| l.is_some()).count() as u64,
            items.iter().filter(|(_, _, f)| *f).count() as u64,
        ))
    }
}
