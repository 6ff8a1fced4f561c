//! [`S3Store`]: the tile store on S3, with the directory store's layout
//! under `s3://BUCKET/PREFIX`: `<prefix>/<matrix>/header.json` and
//! `<prefix>/<matrix>/<i>_<j>.npy` (Fortran-order `.npy`, so numpy reads a
//! tile directly).
//!
//! Reads are a single GET: a missing object answers `NoSuchKey`/404, which
//! is `Ok(None)` (for a lazily initialised input that is stored nowhere,
//! the run store answers that without a request: `Namespace::generated`),
//! so no HEAD is ever needed. Writes are whole-object PUTs, which S3 makes
//! visible atomically. Tiles above [`MULTIPART_THRESHOLD`] are uploaded in
//! parts and read with parallel ranged GETs, because one request stream
//! tops out near 100 MB/s on Lambda. Retries and timeouts are the shared
//! client policy of [`super`].

use super::{AwsClients, AwsError, block_on};
use crate::request_times::Timed;
use crate::requests::{Request, RequestTally, get_requests, put_requests};
use crate::store::location::{self, validate_bundle_name, validate_doc, validate_listing};
use crate::store::{Store, StoreError, StoreResult, StoredBundle, validate_location};
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use lp_std::{MatrixHeader, Tile};
use std::sync::Arc;

pub use crate::requests::{MULTIPART_THRESHOLD, PART_SIZE};

#[derive(Clone, Debug)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
    /// Empty, or ends without a slash; keys are `prefix/matrix/...`.
    prefix: String,
    requests: Arc<RequestTally>,
}

impl S3Store {
    /// A store under `s3://bucket/prefix` (`prefix` may be empty; slashes
    /// around it are ignored). A prefix its parent store could not tell
    /// from its own folders (`~runs`) is refused here, before any request.
    pub fn new(clients: &AwsClients, bucket: &str, prefix: &str) -> StoreResult<S3Store> {
        location::validate_prefix(prefix)?;
        Ok(S3Store {
            prefix: prefix.trim_matches('/').to_string(),
            ..S3Store::at_root(clients, bucket)
        })
    }

    /// The store at the bucket's root (no prefix, so nothing to refuse):
    /// for the bucket's own requests (creating it) and whole-bucket stores.
    pub fn at_root(clients: &AwsClients, bucket: &str) -> S3Store {
        S3Store {
            client: clients.s3.clone(),
            bucket: bucket.to_string(),
            prefix: String::new(),
            requests: clients.requests.clone(),
        }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The object key of `name` under the prefix.
    pub fn key(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}/{name}", self.prefix)
        }
    }

    fn tile_key(&self, matrix: &str, i: usize, j: usize) -> StoreResult<String> {
        validate_location(matrix)?;
        Ok(self.key(&format!("{matrix}/{}", crate::store::tile_file_name(i, j))))
    }

    fn doc_key(&self, location: &str, doc: &str) -> StoreResult<String> {
        validate_location(location)?;
        validate_doc(doc)?;
        Ok(self.key(&format!("{location}/{doc}")))
    }

    fn header_key(&self, matrix: &str) -> StoreResult<String> {
        validate_location(matrix)?;
        Ok(self.key(&format!("{matrix}/header.json")))
    }

    fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    /// The object's bytes, or `None` if it does not exist.
    pub fn get_object(&self, key: &str) -> Result<Option<Vec<u8>>, AwsError> {
        let client = self.client.clone();
        let bucket = self.bucket.clone();
        let key = key.to_string();
        let url = self.url(&key);
        let got = block_on(async move { get_object(&client, &bucket, &key, &url).await });
        // Counted by the rule the ranged reads follow (a failed read counts
        // its first GET only: the parts it reached are not known here).
        let n = match &got {
            Ok(bytes) => get_requests(bytes.as_ref().map(Vec::len)),
            Err(_) => 1,
        };
        self.requests.add(Request::S3Get, n);
        got
    }

    /// Stores `bytes` as one object (multipart above the threshold).
    pub fn put_object(&self, key: &str, bytes: Vec<u8>) -> Result<(), AwsError> {
        let client = self.client.clone();
        let bucket = self.bucket.clone();
        let key = key.to_string();
        let url = self.url(&key);
        self.requests.add(Request::S3Put, put_requests(bytes.len()));
        block_on(async move { put_object(&client, &bucket, &key, bytes, &url).await })
    }

    /// PUTs a small object unless one is at `key` (`If-None-Match: *`, which
    /// S3 decides in one step): `Ok(false)` if one was.
    pub fn create_object(&self, key: &str, bytes: Vec<u8>) -> Result<bool, AwsError> {
        let client = self.client.clone();
        let bucket = self.bucket.clone();
        let key = key.to_string();
        let what = format!("PUT {} (If-None-Match: *)", self.url(&key));
        // The object carries a token of this call: when an attempt that
        // succeeded unseen (its answer lost, or late) is retried, the retry
        // finds the object (412) and the token says it is this call's own.
        let token = super::call_token();
        let requests = self.requests.clone();
        block_on(async move {
            // S3 answers 409 to a conditional write that raced another
            // request on the key, asking for the write to be tried again.
            for _ in 0..4 {
                requests.add(Request::S3Put, 1);
                let answer = client
                    .put_object()
                    .bucket(&bucket)
                    .key(&key)
                    .body(ByteStream::from(bytes.clone()))
                    .metadata(CREATION_TOKEN, &token)
                    .if_none_match("*")
                    .send()
                    .await;
                let Err(e) = answer else { return Ok(true) };
                match super::http_status(&e) {
                    Some(412) => {
                        // A HEAD is billed as a GET.
                        requests.add(Request::S3Get, 1);
                        return created_by(&client, &bucket, &key, &token, &what).await;
                    }
                    Some(409) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
                    _ => return Err(AwsError::sdk(what, e)),
                }
            }
            Err(AwsError::new(
                what,
                "409 Conflict four times: another request keeps racing this one",
            ))
        })
    }

    pub fn delete_object(&self, key: &str) -> Result<(), AwsError> {
        let client = self.client.clone();
        let bucket = self.bucket.clone();
        let key = key.to_string();
        let url = self.url(&key);
        self.requests.add(Request::S3Delete, 1);
        block_on(async move {
            client
                .delete_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| AwsError::sdk(format!("DELETE {url}"), e))
        })
    }

    /// Every key that starts with `prefix` (already including the store's
    /// own prefix), in S3's order.
    pub fn list_keys(&self, prefix: &str) -> Result<Vec<String>, AwsError> {
        Ok(self
            .list_objects(prefix)?
            .into_iter()
            .map(|(key, _)| key)
            .collect())
    }

    /// Every object whose key starts with `prefix`, with its size in
    /// bytes, in S3's order.
    pub fn list_objects(&self, prefix: &str) -> Result<Vec<(String, u64)>, AwsError> {
        Ok(self
            .list_objects_dated(prefix)?
            .into_iter()
            .map(|(key, size, _)| (key, size))
            .collect())
    }

    /// [`S3Store::list_objects`], with each object's last modification
    /// (seconds since the epoch) where S3 gives it.
    pub fn list_objects_dated(
        &self,
        prefix: &str,
    ) -> Result<Vec<(String, u64, Option<u64>)>, AwsError> {
        let client = self.client.clone();
        let bucket = self.bucket.clone();
        let prefix = prefix.to_string();
        let url = self.url(&prefix);
        let requests = self.requests.clone();
        block_on(async move {
            let mut pages = client
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .into_paginator()
                .send();
            let mut objects = Vec::new();
            while let Some(page) = pages.next().await {
                requests.add(Request::S3List, 1);
                let page = page.map_err(|e| AwsError::sdk(format!("LIST {url}"), e))?;
                objects.extend(page.contents().iter().filter_map(|o| {
                    let size = o.size().map_or(0, |s| s.max(0) as u64);
                    let modified = o.last_modified().map(|t| t.secs().max(0) as u64);
                    o.key().map(|k| (k.to_string(), size, modified))
                }));
            }
            Ok(objects)
        })
    }

    /// Creates the bucket (for `lpc aws init --create-bucket` and tests);
    /// a bucket that exists and that this caller can reach is not an error
    /// (AWS answers BucketAlreadyOwnedByYou, other endpoints
    /// BucketAlreadyExists even for the caller's own bucket).
    pub fn create_bucket(&self) -> Result<(), AwsError> {
        let client = self.client.clone();
        let bucket = self.bucket.clone();
        self.requests.add(Request::S3Put, 1);
        block_on(async move {
            let e = match client.create_bucket().bucket(&bucket).send().await {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            let exists = e.as_service_error().is_some_and(|s| {
                s.is_bucket_already_owned_by_you() || s.is_bucket_already_exists()
            });
            // Someone else's bucket answers 403 to a HEAD.
            if exists && client.head_bucket().bucket(&bucket).send().await.is_ok() {
                return Ok(());
            }
            Err(AwsError::sdk(format!("CREATE BUCKET s3://{bucket}"), e))
        })
    }

    /// Whether the bucket exists, asked by listing at most one key under
    /// the prefix (which the policies of docs/aws.md allow, unlike a HEAD of
    /// the bucket). Other failures, a refused listing included, are errors.
    pub fn bucket_exists(&self) -> Result<bool, AwsError> {
        let client = self.client.clone();
        let bucket = self.bucket.clone();
        let prefix = self.key("");
        let url = self.url(&prefix);
        self.requests.add(Request::S3List, 1);
        block_on(async move {
            match client
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .max_keys(1)
                .send()
                .await
            {
                Ok(_) => Ok(true),
                Err(e) if e.code() == Some("NoSuchBucket") => Ok(false),
                Err(e) => Err(AwsError::sdk(format!("LIST {url}"), e)),
            }
        })
    }
}

/// The user metadata key of [`S3Store::create_object`]'s token.
const CREATION_TOKEN: &str = "lp-creation";

/// Whether the object at `key` carries `token`: a creation whose first
/// attempt wrote it. (Gone since the 412, it was another's.)
async fn created_by(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    token: &str,
    what: &str,
) -> Result<bool, AwsError> {
    let head = match client.head_object().bucket(bucket).key(key).send().await {
        Ok(head) => head,
        Err(e) if super::http_status(&e) == Some(404) => return Ok(false),
        Err(e) => return Err(AwsError::sdk(what.to_string(), e)),
    };
    Ok(head
        .metadata()
        .and_then(|m| m.get(CREATION_TOKEN))
        .map(String::as_str)
        == Some(token))
}

fn header_json(header: &MatrixHeader) -> Vec<u8> {
    serde_json::to_vec_pretty(header).expect("a header always serialises")
}

/// Checks `name` against S3's rules for general purpose bucket names, so
/// that a bad name is refused before a request: the endpoint's answer to
/// one (a signature mismatch for `a/b`, a bare code for `Bad_Name`) does not
/// say what is wrong with it.
pub fn validate_bucket_name(name: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("{name:?} is not an S3 bucket name: {why}"));
    if !(3..=63).contains(&name.len()) {
        return bad("a bucket name is 3 to 63 characters long");
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '.' || *c == '-'))
    {
        return bad(&format!(
            "{c:?} is not allowed (only lowercase letters, digits, dots and hyphens are)"
        ));
    }
    let edge = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !name.starts_with(edge) || !name.ends_with(edge) {
        return bad("a bucket name begins and ends with a letter or a digit");
    }
    if name.contains("..") {
        return bad("a bucket name has no two adjacent dots");
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return bad("a bucket name is not an IP address");
    }
    for prefix in ["xn--", "sthree-", "amzn-s3-demo-"] {
        if name.starts_with(prefix) {
            return bad(&format!("names beginning with {prefix} are reserved"));
        }
    }
    for suffix in ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"] {
        if name.ends_with(suffix) {
            return bad(&format!("names ending with {suffix} are reserved"));
        }
    }
    Ok(())
}

fn io_error(e: AwsError) -> StoreError {
    StoreError::Io {
        what: e.what,
        source: std::io::Error::other(e.message),
    }
}

/// A 403 on a GET. S3 answers a GET of a missing key with 403, not 404,
/// when the caller may not list the bucket, and the protocol reads missing
/// keys on purpose (a lazily initialised input, a freed temp): the error
/// names the permission that turns those into 404s.
fn access_denied(what: String, bucket: &str, key: &str, code: Option<&str>) -> AwsError {
    let dir = key.rsplit_once('/').map_or("", |(dir, _)| dir);
    AwsError::new(
        what,
        format!(
            "access denied ({}, HTTP 403): either this role may not s3:GetObject the key, or the \
             key does not exist and the role lacks s3:ListBucket on arn:aws:s3:::{bucket} for \
             prefix {dir}/ (without it S3 answers 403 instead of 404 for a missing key; \
             docs/aws.md lists the policies)",
            code.unwrap_or("AccessDenied")
        ),
    )
}

async fn get_object(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    url: &str,
) -> Result<Option<Vec<u8>>, AwsError> {
    let what = || format!("GET {url}");
    let first = client.get_object().bucket(bucket).key(key);
    // The first request asks for the first part only, so that a large object
    // is not streamed twice: its Content-Range tells the total size.
    let out = match first
        .range(format!("bytes=0-{}", PART_SIZE - 1))
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) => return first_part_refused(e, what(), bucket, key),
    };
    let total = out
        .content_range()
        .and_then(|r| r.rsplit('/').next())
        .and_then(|t| t.parse::<usize>().ok());
    let mut bytes = out
        .body
        .collect()
        .await
        .map_err(|e| AwsError::other(what(), &e))?
        .to_vec();
    let Some(total) = total else {
        // No Content-Range: the server ignored the range and sent it all.
        return Ok(Some(bytes));
    };
    // The size is the server's word: an object at a tile's key larger
    // than this process's memory is refused before its parts are
    // requested and buffered (on Lambda that would kill the worker, and
    // every relaunch after it).
    if let Some(memory) = crate::local::physical_memory()
        && total as u64 > memory
    {
        return Err(AwsError::new(
            what(),
            format!(
                "the object is {total} bytes, more than the memory this process may use \
                 ({memory} bytes)"
            ),
        ));
    }
    if bytes.len() >= total {
        bytes.truncate(total);
        return Ok(Some(bytes));
    }
    rest_of_object(client, bucket, key, total, &mut bytes)
        .await
        .map_err(|m| AwsError::new(what(), m))?;
    if bytes.len() != total {
        return Err(AwsError::new(
            what(),
            format!(
                "read {} bytes of a {total}-byte object (it changed while being read?)",
                bytes.len()
            ),
        ));
    }
    Ok(Some(bytes))
}

/// What a refused first ranged GET means: an absent object (`None`), an
/// empty one (S3 answers 416: it cannot satisfy a range), or an error.
fn first_part_refused(
    e: aws_sdk_s3::error::SdkError<
        aws_sdk_s3::operation::get_object::GetObjectError,
        aws_sdk_s3::config::http::HttpResponse,
    >,
    what: String,
    bucket: &str,
    key: &str,
) -> Result<Option<Vec<u8>>, AwsError> {
    let status = super::http_status(&e);
    if e.as_service_error().is_some_and(|s| s.is_no_such_key()) || status == Some(404) {
        return Ok(None);
    }
    match status {
        Some(416) => Ok(Some(Vec::new())),
        Some(403) => Err(access_denied(what, bucket, key, e.code())),
        _ => Err(AwsError::sdk(what, e)),
    }
}

/// Reads bytes `bytes.len()..total` of the object in parallel ranged GETs
/// and appends them to `bytes`.
async fn rest_of_object(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    total: usize,
    bytes: &mut Vec<u8>,
) -> Result<(), String> {
    let mut parts = Vec::new();
    let mut start = bytes.len();
    while start < total {
        let end = start.saturating_add(PART_SIZE).min(total) - 1;
        let request = client
            .get_object()
            .bucket(bucket)
            .key(key)
            .range(format!("bytes={start}-{end}"))
            .send();
        parts.push(tokio::spawn(async move {
            match request.await {
                Ok(out) => out
                    .body
                    .collect()
                    .await
                    .map(|b| b.to_vec())
                    .map_err(|e| e.to_string()),
                Err(e) => Err(super::render_sdk_error(&e)),
            }
        }));
        start = end + 1;
    }
    for part in parts {
        bytes.extend_from_slice(&part.await.map_err(|e| e.to_string())??);
    }
    Ok(())
}

/// The configuration override of a request sending `bytes` of body: time
/// to send them (see the module doc of `super`).
fn upload_timeouts(client: &aws_sdk_s3::Client, bytes: usize) -> aws_sdk_s3::config::Builder {
    let base = client.config().timeout_config();
    aws_sdk_s3::config::Builder::default().timeout_config(super::upload_timeout_config(base, bytes))
}

async fn put_object(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    bytes: Vec<u8>,
    url: &str,
) -> Result<(), AwsError> {
    let what = || format!("PUT {url}");
    if bytes.len() <= MULTIPART_THRESHOLD {
        let timeouts = upload_timeouts(client, bytes.len());
        return client
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from(bytes))
            .customize()
            .config_override(timeouts)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::sdk(what(), e));
    }
    let upload = client
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| AwsError::sdk(what(), e))?;
    let upload_id = upload
        .upload_id()
        .ok_or_else(|| AwsError::new(what(), "CreateMultipartUpload returned no upload id"))?
        .to_string();
    let result = upload_parts(client, bucket, key, &upload_id, bytes).await;
    match result {
        Ok(parts) => client
            .complete_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(&upload_id)
            .multipart_upload(
                aws_sdk_s3::types::CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::sdk(what(), e)),
        Err(message) => {
            // Best effort: an abandoned upload only costs storage until the
            // bucket's lifecycle rule (docs/aws.md) aborts it.
            let _ = client
                .abort_multipart_upload()
                .bucket(bucket)
                .key(key)
                .upload_id(&upload_id)
                .send()
                .await;
            Err(AwsError::new(what(), message))
        }
    }
}

async fn upload_parts(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    upload_id: &str,
    bytes: Vec<u8>,
) -> Result<Vec<aws_sdk_s3::types::CompletedPart>, String> {
    let mut tasks = Vec::new();
    for (n, start) in (0..bytes.len()).step_by(PART_SIZE).enumerate() {
        let part_number = n as i32 + 1;
        // A copy per part (no `bytes` dependency for a path taken only by
        // tiles over 64 MiB, where the network dominates).
        let chunk = bytes[start..(start + PART_SIZE).min(bytes.len())].to_vec();
        let timeouts = upload_timeouts(client, chunk.len());
        let request = client
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(part_number)
            .body(ByteStream::from(chunk))
            .customize()
            .config_override(timeouts)
            .send();
        tasks.push(tokio::spawn(async move {
            let out = request.await.map_err(|e| super::render_sdk_error(&e))?;
            Ok::<_, String>(
                aws_sdk_s3::types::CompletedPart::builder()
                    .part_number(part_number)
                    .set_e_tag(out.e_tag().map(str::to_string))
                    .build(),
            )
        }));
    }
    let mut parts = Vec::new();
    for task in tasks {
        parts.push(task.await.map_err(|e| e.to_string())??);
    }
    Ok(parts)
}

impl Store for S3Store {
    fn get_tile(&self, matrix: &str, i: usize, j: usize) -> StoreResult<Option<Arc<Tile>>> {
        let key = self.tile_key(matrix, i, j)?;
        let got = self.requests.timed(
            || self.get_object(&key),
            |got| match got {
                Some(bytes) => (Timed::TileGet, bytes.len() as u64),
                None => (Timed::TileAbsent, 0),
            },
        );
        let Some(bytes) = got.map_err(io_error)? else {
            return Ok(None);
        };
        let tile = lp_std::npy::decode_tile(&bytes).map_err(|e| StoreError::Corrupt {
            what: self.url(&key),
            reason: e.to_string(),
        })?;
        Ok(Some(Arc::new(tile)))
    }

    fn put_tile(&self, matrix: &str, i: usize, j: usize, tile: Arc<Tile>) -> StoreResult<()> {
        let key = self.tile_key(matrix, i, j)?;
        let bytes = lp_std::npy::encode_tile(&tile);
        let size = bytes.len() as u64;
        self.requests
            .timed(|| self.put_object(&key, bytes), |_| (Timed::TilePut, size))
            .map_err(io_error)
    }

    fn delete_tile(&self, matrix: &str, i: usize, j: usize) -> StoreResult<()> {
        let key = self.tile_key(matrix, i, j)?;
        self.requests
            .timed(|| self.delete_object(&key), |_| (Timed::TileDelete, 0))
            .map_err(io_error)
    }

    fn list_tiles(&self, matrix: &str) -> StoreResult<Vec<(usize, usize)>> {
        validate_location(matrix)?;
        let dir = self.key(&format!("{matrix}/"));
        let keys = self.list_keys(&dir).map_err(io_error)?;
        // A key outside the prefix asked for (a server's answer is data from
        // outside) is skipped, not sliced.
        Ok(keys
            .iter()
            .filter_map(|k| crate::store::parse_tile_file_name(k.strip_prefix(&dir)?))
            .collect())
    }

    fn tile_bytes(&self, matrix: &str) -> StoreResult<Option<u64>> {
        validate_location(matrix)?;
        let dir = self.key(&format!("{matrix}/"));
        let objects = self.list_objects(&dir).map_err(io_error)?;
        Ok(Some(
            objects
                .iter()
                .filter(|(k, _)| {
                    k.strip_prefix(&dir)
                        .and_then(crate::store::parse_tile_file_name)
                        .is_some()
                })
                .map(|(_, size)| size)
                .sum(),
        ))
    }

    fn get_header(&self, matrix: &str) -> StoreResult<Option<MatrixHeader>> {
        let key = self.header_key(matrix)?;
        let Some(bytes) = self.get_object(&key).map_err(io_error)? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StoreError::Corrupt {
                what: self.url(&key),
                reason: e.to_string(),
            })
    }

    fn put_header(&self, matrix: &str, header: &MatrixHeader) -> StoreResult<()> {
        let key = self.header_key(matrix)?;
        location::validate_header(matrix, header)?;
        self.put_object(&key, header_json(header)).map_err(io_error)
    }

    fn create_header(&self, matrix: &str, header: &MatrixHeader) -> StoreResult<bool> {
        let key = self.header_key(matrix)?;
        location::validate_header(matrix, header)?;
        self.create_object(&key, header_json(header))
            .map_err(io_error)
    }

    fn get_doc(&self, location: &str, doc: &str) -> StoreResult<Option<Vec<u8>>> {
        let key = self.doc_key(location, doc)?;
        self.get_object(&key).map_err(io_error)
    }

    fn put_doc(&self, location: &str, doc: &str, bytes: &[u8]) -> StoreResult<()> {
        let key = self.doc_key(location, doc)?;
        self.put_object(&key, bytes.to_vec()).map_err(io_error)
    }

    fn list_children(&self, parent: &str) -> StoreResult<Vec<String>> {
        validate_listing(parent)?;
        let dir = self.key(&location::join(parent, ""));
        let keys = self.list_keys(&dir).map_err(io_error)?;
        // Only names with something below them are locations; a key at
        // this level (a document) is not.
        let mut out: Vec<String> = keys
            .iter()
            .filter_map(|k| k.strip_prefix(&dir)?.split_once('/'))
            .map(|(child, _)| child.to_string())
            .collect();
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    fn remove_all(&self, at: &str) -> StoreResult<()> {
        validate_location(at)?;
        for key in self
            .list_keys(&self.key(&format!("{at}/")))
            .map_err(io_error)?
        {
            self.delete_object(&key).map_err(io_error)?;
        }
        Ok(())
    }

    fn bundles(&self) -> StoreResult<Vec<StoredBundle>> {
        let dir = self.key(&location::bundle_location(""));
        let objects = self.list_objects_dated(&dir).map_err(io_error)?;
        Ok(objects
            .into_iter()
            .filter_map(|(key, bytes, modified)| {
                let name = key.strip_prefix(&dir)?.to_string();
                location::is_bundle_name(&name).then_some(StoredBundle {
                    name,
                    bytes,
                    modified,
                })
            })
            .collect())
    }

    fn remove_bundle(&self, name: &str) -> StoreResult<()> {
        validate_bundle_name(name)?;
        let key = self.key(&location::bundle_location(name));
        self.delete_object(&key).map_err(io_error)
    }
}

#[cfg(test)]
mod tests {
    use super::validate_bucket_name;

    #[test]
    fn bucket_names_follow_s3s_rules() {
        for ok in ["abc", "lpc-test-12-0", "my.bucket.name", &"a".repeat(63)] {
            assert_eq!(validate_bucket_name(ok), Ok(()), "{ok}");
        }
        for bad in [
            "ab",
            &"a".repeat(64),
            "Bad_Bucket!!",
            "qa-b1/x",
            "-ab",
            "ab-",
            "a..b",
            "10.0.0.1",
            "xn--abc",
            "abc-s3alias",
            "abc--x-s3",
        ] {
            assert!(validate_bucket_name(bad).is_err(), "{bad}");
        }
    }
}
