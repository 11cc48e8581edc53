//! What the SDK's errors become: a missing object, a refused conditional write, or a
//! message that names the operation, the key and the cause chain.

use std::error::Error;
use std::io;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

use super::S3Store;
use crate::store::StoreError;

impl S3Store {
    /// A failed read: a missing object is `NotFound`.
    pub(super) fn read_error<E>(&self, op: &'static str, key: &str, e: SdkError<E>) -> StoreError
    where
        E: ProvideErrorMetadata + Error + 'static,
    {
        if is_missing(&e) {
            return StoreError::NotFound {
                store: self.describe(),
                key: key.to_string(),
            };
        }
        self.remote(op, key, &e)
    }

    /// A failed write: a refused `If-None-Match: *` is `AlreadyExists`.
    pub(super) fn write_error<E>(&self, op: &'static str, key: &str, e: SdkError<E>) -> StoreError
    where
        E: ProvideErrorMetadata + Error + 'static,
    {
        if refused(&e) {
            return StoreError::AlreadyExists {
                store: self.describe(),
                key: key.to_string(),
            };
        }
        self.remote(op, key, &e)
    }

    pub(super) fn remote<E>(&self, op: &'static str, key: &str, e: &SdkError<E>) -> StoreError
    where
        E: ProvideErrorMetadata + Error + 'static,
    {
        self.remote_message(op, key, describe_sdk_error(e))
    }

    pub(super) fn remote_message(
        &self,
        op: &'static str,
        key: &str,
        message: String,
    ) -> StoreError {
        StoreError::Remote {
            store: self.describe(),
            op,
            key: key.to_string(),
            message,
        }
    }

    pub(super) fn io_error(&self, op: &'static str, key: &str, source: io::Error) -> StoreError {
        StoreError::Io {
            store: self.describe(),
            op,
            key: key.to_string(),
            source,
        }
    }
}

/// Whether the store refused a write's condition (`If-None-Match`, `If-Match`).
pub(super) fn refused<E: ProvideErrorMetadata>(e: &SdkError<E>) -> bool {
    match status(e) {
        Some(412) => true,
        Some(409) => e.code() == Some("ConditionalRequestConflict"),
        _ => e.code() == Some("PreconditionFailed"),
    }
}

pub(super) fn status<E>(e: &SdkError<E>) -> Option<u16> {
    e.raw_response().map(|r| r.status().as_u16())
}

/// No object at the key (`NoSuchKey`, or a bare 404 as HEAD answers); a missing bucket
/// is an error, not a missing object.
pub(super) fn is_missing<E: ProvideErrorMetadata>(e: &SdkError<E>) -> bool {
    match e.code() {
        Some("NoSuchKey") => true,
        Some("NoSuchBucket") => false,
        _ => status(e) == Some(404),
    }
}

/// The S3 error code, HTTP status and message of a service error, or the chain of causes
/// of a transport failure. Never includes request headers (so never credentials).
pub(super) fn describe_sdk_error<E>(e: &SdkError<E>) -> String
where
    E: ProvideErrorMetadata + Error + 'static,
{
    match e {
        SdkError::ServiceError(_) => {
            let head = match (e.code(), status(e)) {
                (Some(code), Some(status)) => format!("{code} (http {status})"),
                (Some(code), None) => code.to_string(),
                (None, Some(status)) => format!("http {status}"),
                (None, None) => "service error".to_string(),
            };
            match e.message() {
                Some(message) if !message.is_empty() => format!("{head}: {message}"),
                _ => head,
            }
        }
        _ => crate::error::chain(e),
    }
}

/// Adds a note to an error's message where it has one to add to.
pub(super) fn with_note(error: StoreError, note: &str) -> StoreError {
    match error {
        StoreError::Remote {
            store,
            op,
            key,
            message,
        } => StoreError::Remote {
            store,
            op,
            key,
            message: format!("{message}; {note}"),
        },
        StoreError::Io {
            store,
            op,
            key,
            source,
        } => StoreError::Io {
            store,
            op,
            key,
            source: io::Error::new(source.kind(), format!("{source}; {note}")),
        },
        other => other,
    }
}
