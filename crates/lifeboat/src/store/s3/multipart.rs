//! Large objects go up by multipart upload, part by part from the file, an upload
//! that does not complete is aborted (also when its future is dropped).

use std::io;
use std::path::Path;

use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

use super::errors::{describe_sdk_error, with_note};
use super::{MAX_PARTS, PART_SIZE, S3Store, read_chunk};
use crate::store::fs::with_path;
use crate::store::{PutMode, StoreError};

impl S3Store {
    pub async fn put_file(&self, key: &str, path: &Path, mode: PutMode) -> Result<u64, StoreError> {
        let local = |e| self.io_error("upload", key, with_path(path, e));
        let mut file = tokio::fs::File::open(path).await.map_err(local)?;
        let len = file.metadata().await.map_err(local)?.len();
        if len < PART_SIZE {
            let body = read_chunk(&mut file, PART_SIZE).await.map_err(local)?;
            if body.len() as u64 != len {
                return Err(local(changed_size(len, body.len() as u64)));
            }
            self.put(key, body, mode).await?;
            return Ok(len);
        }
        let full_key = self.full_key(key);
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(&full_key)
            .send()
            .await
            .map_err(|e| self.remote("upload", key, &e))?;
        let Some(upload_id) = created.upload_id() else {
            return Err(self.remote_message(
                "upload",
                key,
                "the store returned no upload id".to_string(),
            ));
        };
        let pending = PendingUpload {
            client: self.client.clone(),
            bucket: self.bucket.clone(),
            key: full_key,
            upload_id: upload_id.to_string(),
            open: true,
        };
        let source = Source { path, file, len };
        match self.upload_parts(key, &pending, source, mode).await {
            Ok(()) => {
                pending.completed();
                Ok(len)
            }
            Err(error) => match pending.abort().await {
                Ok(()) => Err(error),
                Err(abort) => Err(with_note(
                    error,
                    &format!(
                        "the multipart upload could not be aborted either ({}); its parts stay in the bucket until a lifecycle rule removes them",
                        describe_sdk_error(&abort)
                    ),
                )),
            },
        }
    }

    /// Sends the file's parts one at a time, then completes the upload (conditionally for
    /// `CreateNew`).
    pub(super) async fn upload_parts(
        &self,
        key: &str,
        pending: &PendingUpload,
        source: Source<'_>,
        mode: PutMode,
    ) -> Result<(), StoreError> {
        let Source {
            path,
            mut file,
            len,
        } = source;
        let local = |e| self.io_error("upload", key, with_path(path, e));
        let part_size = PART_SIZE.max(len.div_ceil(MAX_PARTS));
        let mut parts = Vec::new();
        let mut sent = 0u64;
        loop {
            let chunk = read_chunk(&mut file, part_size).await.map_err(local)?;
            if chunk.is_empty() {
                break;
            }
            sent += chunk.len() as u64;
            if sent > len {
                return Err(local(changed_size(len, sent)));
            }
            let number = i32::try_from(parts.len() + 1)
                .map_err(|_| self.remote_message("upload", key, "too many parts".to_string()))?;
            let uploaded = self
                .client
                .upload_part()
                .bucket(&self.bucket)
                .key(&pending.key)
                .upload_id(&pending.upload_id)
                .part_number(number)
                .body(ByteStream::from(chunk))
                .send()
                .await
                .map_err(|e| self.remote("upload", key, &e))?;
            let Some(e_tag) = uploaded.e_tag() else {
                return Err(self.remote_message(
                    "upload",
                    key,
                    format!("the store returned no etag for part {number}"),
                ));
            };
            parts.push(
                CompletedPart::builder()
                    .part_number(number)
                    .e_tag(e_tag)
                    .build(),
            );
        }
        if sent != len {
            return Err(local(changed_size(len, sent)));
        }
        let mut request = self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(&pending.key)
            .upload_id(&pending.upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            );
        if mode == PutMode::CreateNew {
            request = request.if_none_match("*");
        }
        match request.send().await {
            Ok(_) => Ok(()),
            // A completion retried after the first one landed (its answer lost) finds
            // the upload gone: the object is there, whole, with the file's size.
            Err(e) if e.code() == Some("NoSuchUpload") => match self.head(key).await? {
                Some(object) if object.size == len => Ok(()),
                _ => Err(self.write_error("upload", key, e)),
            },
            Err(e) => Err(self.write_error("upload", key, e)),
        }
    }
}

/// The local file a multipart upload reads, with the size it had when it was opened.
pub(super) struct Source<'a> {
    path: &'a Path,
    file: tokio::fs::File,
    len: u64,
}

/// An open multipart upload. Dropped while still open (the upload was cancelled), it
/// sends AbortMultipartUpload in the background.
pub(super) struct PendingUpload {
    client: Client,
    bucket: String,
    /// The full key, prefix included.
    key: String,
    upload_id: String,
    open: bool,
}

impl PendingUpload {
    pub(super) fn completed(mut self) {
        self.open = false;
    }

    pub(super) async fn abort(
        mut self,
    ) -> Result<
        (),
        SdkError<aws_sdk_s3::operation::abort_multipart_upload::AbortMultipartUploadError>,
    > {
        self.open = false;
        self.request().send().await.map(|_| ())
    }

    pub(super) fn request(
        &self,
    ) -> aws_sdk_s3::operation::abort_multipart_upload::builders::AbortMultipartUploadFluentBuilder
    {
        self.client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&self.upload_id)
    }
}

impl Drop for PendingUpload {
    fn drop(&mut self) {
        if !self.open {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let request = self.request();
            runtime.spawn(async move {
                // Best effort: nobody is left to report a failure to.
                let _ = request.send().await;
            });
        }
    }
}

pub(super) fn changed_size(expected: u64, read: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "the file changed while it was uploaded (it had {expected} bytes, {read} were read)"
        ),
    )
}
