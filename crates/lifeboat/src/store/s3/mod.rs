//! The S3 backend of `Store`, through aws-sdk-s3: an S3 bucket or an S3-compatible
//! store, with every key under the store's prefix. Credentials come from the standard
//! AWS chain. The client gets explicit timeouts and retries (the SDK sets no timeouts),
//! a configurable request checksum mode, and conditional creates with
//! `If-None-Match: *`. Large files stream through multipart uploads whose parts are
//! read one at a time, and a failed or cancelled upload is aborted so no parts linger.

mod errors;
mod multipart;
mod throttle;

use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime};

use aws_config::BehaviorVersion;
use aws_config::meta::region::RegionProviderChain;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{Region, RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::primitives::ByteStream;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use super::fs::{TMP_PREFIX, check_prefix, with_path};
use super::{ObjectMeta, PutMode, S3Config, StoreError, Version};
use errors::{is_missing, refused};

/// Files below this go up in one PutObject; larger ones by multipart upload in parts of
/// this size (larger when the file would need more than `MAX_PARTS` parts).
const PART_SIZE: u64 = 8 * 1024 * 1024;
/// S3's limit on the parts of one multipart upload.
const MAX_PARTS: u64 = 10_000;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(60);
const OPERATION_TIMEOUT: Duration = Duration::from_secs(300);
/// Every request is tried up to this many times (transport failures, 429, 500, 502,
/// 503, 504), after exponential delays with full jitter from `INITIAL_BACKOFF`, each at
/// most `MAX_BACKOFF`, all within `OPERATION_TIMEOUT`.
const MAX_ATTEMPTS: u32 = 8;
const INITIAL_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
const DEFAULT_REGION: &str = "us-east-1";

/// A store in an S3 bucket, under a key prefix.
#[derive(Clone, Debug)]
pub struct S3Store {
    client: Client,
    bucket: String,
    /// Empty, or ending in `/`.
    prefix: String,
}

impl S3Store {
    /// Builds a client for the bucket; nothing is sent until the first operation.
    /// The region is the configured one, else the AWS environment's, else `us-east-1`.
    /// Request checksums are sent only when required if `checksum_when_required` is set;
    /// otherwise the SDK's setting applies (`WhenSupported`, unless the AWS environment
    /// says otherwise with `AWS_REQUEST_CHECKSUM_CALCULATION`).
    pub async fn open(c: &S3Config) -> Result<S3Store, StoreError> {
        if c.bucket.is_empty() {
            return Err(StoreError::Config("the s3 store has no bucket".to_string()));
        }
        if !c.prefix.is_empty() && !c.prefix.ends_with('/') {
            return Err(StoreError::Config(format!(
                "invalid s3 prefix `{}`: a prefix is empty or ends with `/`",
                c.prefix
            )));
        }
        let region = RegionProviderChain::first_try(c.region.clone().map(Region::new))
            .or_default_provider()
            .or_else(Region::from_static(DEFAULT_REGION));
        let shared = aws_config::defaults(BehaviorVersion::latest())
            .region(region)
            .load()
            .await;
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .operation_attempt_timeout(ATTEMPT_TIMEOUT)
            .operation_timeout(OPERATION_TIMEOUT)
            .build();
        let mut config = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(c.path_style)
            .timeout_config(timeouts)
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(MAX_ATTEMPTS)
                    .with_initial_backoff(INITIAL_BACKOFF)
                    .with_max_backoff(MAX_BACKOFF),
            )
            .retry_classifier(throttle::TooManyRequests);
        if c.checksum_when_required {
            config = config
                .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
                .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        }
        if let Some(endpoint) = &c.endpoint {
            config = config.endpoint_url(endpoint);
        }
        Ok(S3Store {
            client: Client::from_conf(config.build()),
            bucket: c.bucket.clone(),
            prefix: c.prefix.clone(),
        })
    }

    /// `s3://bucket/prefix`.
    pub fn describe(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }

    /// Writes `body` at `key`, with `If-None-Match: *` for `CreateNew`. A `CreateNew`
    /// retried after its first attempt landed but its answer was lost is refused; the
    /// refusal is then checked against what is there (`Store::put`).
    pub async fn put(&self, key: &str, body: Vec<u8>, mode: PutMode) -> Result<(), StoreError> {
        let mut request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .body(ByteStream::from(body));
        if mode == PutMode::CreateNew {
            request = request.if_none_match("*");
        }
        request
            .send()
            .await
            .map_err(|e| self.write_error("write", key, e))?;
        Ok(())
    }

    pub async fn get(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        let object = self.get_object("read", key).await?;
        let body = object
            .body
            .collect()
            .await
            .map_err(|e| self.remote_message("read", key, crate::error::chain(&e)))?;
        Ok(body.to_vec())
    }

    pub async fn get_to_file(&self, key: &str, path: &Path) -> Result<u64, StoreError> {
        let object = self.get_object("download", key).await?;
        let expected = object.content_length().and_then(|n| u64::try_from(n).ok());
        let mut body = object.body;
        let local = |e| self.io_error("download", key, with_path(path, e));
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        tokio::fs::create_dir_all(dir).await.map_err(local)?;
        let (file, tmp_path) = tempfile::Builder::new()
            .prefix(TMP_PREFIX)
            .tempfile_in(dir)
            .map_err(local)?
            .into_parts();
        let mut file = tokio::fs::File::from_std(file);
        let mut written = 0u64;
        loop {
            let chunk = body
                .try_next()
                .await
                .map_err(|e| self.remote_message("download", key, crate::error::chain(&e)))?;
            let Some(chunk) = chunk else { break };
            file.write_all(&chunk).await.map_err(local)?;
            written += chunk.len() as u64;
        }
        if let Some(expected) = expected
            && expected != written
        {
            return Err(self.remote_message(
                "download",
                key,
                format!("the store announced {expected} bytes but sent {written}"),
            ));
        }
        file.flush().await.map_err(local)?;
        file.sync_all().await.map_err(local)?;
        drop(file);
        tmp_path.persist(path).map_err(|e| local(e.error))?;
        tokio::fs::File::open(dir)
            .await
            .map_err(local)?
            .sync_all()
            .await
            .map_err(local)?;
        Ok(written)
    }

    pub async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StoreError> {
        let result = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .send()
            .await;
        match result {
            Ok(object) => Ok(Some(ObjectMeta {
                key: key.to_string(),
                size: object
                    .content_length()
                    .and_then(|n| u64::try_from(n).ok())
                    .unwrap_or(0),
                modified: object
                    .last_modified()
                    .and_then(|t| SystemTime::try_from(*t).ok()),
            })),
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(self.remote("inspect", key, &e)),
        }
    }

    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        check_prefix(prefix)?;
        let what = if prefix.is_empty() { "objects" } else { prefix };
        let mut objects = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(self.full_key(prefix))
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| self.remote("list", what, &e))?;
            for object in page.contents() {
                let Some(key) = object.key().and_then(|k| k.strip_prefix(&self.prefix)) else {
                    continue;
                };
                objects.push(ObjectMeta {
                    key: key.to_string(),
                    size: object
                        .size()
                        .and_then(|n| u64::try_from(n).ok())
                        .unwrap_or(0),
                    modified: object
                        .last_modified()
                        .and_then(|t| SystemTime::try_from(*t).ok()),
                });
            }
            match (page.is_truncated(), page.next_continuation_token()) {
                (Some(true), Some(next)) => token = Some(next.to_string()),
                (Some(true), None) => {
                    return Err(self.remote_message(
                        "list",
                        what,
                        "the store said the listing continues but gave no continuation token"
                            .to_string(),
                    ));
                }
                _ => break,
            }
        }
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(objects)
    }

    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_missing(&e) => Ok(()),
            Err(e) => Err(self.remote("delete", key, &e)),
        }
    }

    pub async fn get_versioned(&self, key: &str) -> Result<(Vec<u8>, Version), StoreError> {
        let object = self.get_object("read", key).await?;
        let version = Version(object.e_tag().unwrap_or_default().to_string());
        let body = object
            .body
            .collect()
            .await
            .map_err(|e| self.remote_message("read", key, crate::error::chain(&e)))?;
        Ok((body.to_vec(), version))
    }

    /// Replaces `key` with `If-Match` on the ETag read: a refused condition (412, or
    /// the object gone) is `Changed`.
    pub async fn replace(&self, key: &str, body: Vec<u8>, at: &Version) -> Result<(), StoreError> {
        let result = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .if_match(&at.0)
            .body(ByteStream::from(body))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_missing(&e) || refused(&e) => {
                Err(StoreError::changed(self.describe(), key))
            }
            Err(e) => Err(self.remote("replace", key, &e)),
        }
    }

    async fn get_object(
        &self,
        op: &'static str,
        key: &str,
    ) -> Result<aws_sdk_s3::operation::get_object::GetObjectOutput, StoreError> {
        self.client
            .get_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .send()
            .await
            .map_err(|e| self.read_error(op, key, e))
    }

    fn full_key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

/// Reads up to `limit` bytes (fewer only at the end of the file).
async fn read_chunk(reader: &mut (impl AsyncRead + Unpin), limit: u64) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(usize::try_from(limit).unwrap_or(usize::MAX).min(64 << 20));
    reader.take(limit).read_to_end(&mut buf).await?;
    Ok(buf)
}
