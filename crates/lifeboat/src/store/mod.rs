//! Object storage: where backups, journals and locks live. One `Store` type with two
//! backends, an S3-compatible bucket (`s3`, through aws-sdk-s3) and a local folder
//! (`fs`), behind the same small set of operations. Keys are relative to the store's
//! root (its bucket prefix or folder) and always use `/`.
//!
//! Small objects (manifests, journal events, locks) go through `put`/`get` as bytes.
//! Large ones (backup parts) go through `put_file`/`get_to_file`, which stream between
//! a local file and the store, so memory stays bounded whatever the size.

pub mod fs;
pub mod overlay;
pub mod s3;
mod url;

use std::path::{Path, PathBuf};
use std::time::SystemTime;

pub use url::parse_store_url;

/// Where a store is and how to reach it: read from a runbook's `stores:` entry or a
/// `--store`/`--state` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreConfig {
    /// A local folder (created when missing).
    Fs { root: PathBuf },
    /// An S3 bucket, with everything under `prefix` (empty, or ending in `/`).
    S3(S3Config),
}

/// How to reach an S3-compatible bucket. What is `None` comes from the standard AWS
/// environment and config files (`AWS_REGION`, `AWS_ENDPOINT_URL`, `AWS_PROFILE`, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Config {
    pub bucket: String,
    /// Key prefix: empty, or ending in `/`.
    pub prefix: String,
    pub region: Option<String>,
    pub endpoint: Option<String>,
    pub path_style: bool,
    /// `true`: send request checksums only when an operation requires them (for
    /// S3-compatible stores that reject the SDK's default CRC headers).
    pub checksum_when_required: bool,
}

/// Whether a write may replace an existing object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PutMode {
    /// Replace whatever is there.
    Overwrite,
    /// Create only when nothing is at the key (`If-None-Match: *`); otherwise fail with
    /// `StoreError::AlreadyExists` and leave the existing object untouched (unless it
    /// holds the same bytes: see `Store::put`).
    CreateNew,
}

/// An object's version as last read, for a compare-and-swap (`Store::replace`): the
/// S3 ETag, or a sha256 of a local file's content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version(pub(crate) String);

/// One stored object, as listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Key relative to the store's root.
    pub key: String,
    pub size: u64,
    pub modified: Option<SystemTime>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{key} does not exist in {store}")]
    NotFound { store: String, key: String },
    #[error("{key} already exists in {store}")]
    AlreadyExists { store: String, key: String },
    #[error("failed to {op} {key} in {store}: {source}")]
    Io {
        store: String,
        op: &'static str,
        key: String,
        #[source]
        source: std::io::Error,
    },
    /// An error the remote store returned (or a transport failure reaching it).
    #[error("failed to {op} {key} in {store}: {message}")]
    Remote {
        store: String,
        op: &'static str,
        key: String,
        message: String,
    },
    /// A compare-and-swap found the object changed (or removed) since it was read.
    #[error("{key} in {store} changed since it was read")]
    Changed { store: String, key: String },
    /// The store ignores conditional writes (`check_conditional_writes`).
    #[error(
        "{store} does not honour conditional writes (a second create of the same key with If-None-Match: * succeeded): journals and locks kept there would be last-writer-wins"
    )]
    Unconditional { store: String },
    /// The store's configuration cannot be used (bad URL, bad key, ...).
    #[error("{0}")]
    Config(String),
}

impl StoreError {
    /// A compare-and-swap found `key` changed since it was read.
    pub fn changed(store: String, key: &str) -> StoreError {
        StoreError::Changed {
            store,
            key: key.to_string(),
        }
    }
}

/// An open store.
#[derive(Clone, Debug)]
pub enum Store {
    Fs(fs::FsStore),
    S3(s3::S3Store),
    /// A dry run's view: writes go to a scratch folder (see `overlay`).
    DryRun(overlay::OverlayStore),
}

impl Store {
    /// Opens a store. Opening does not touch the network or the disk beyond building a
    /// client; `check` does.
    pub async fn open(config: &StoreConfig) -> Result<Store, StoreError> {
        Ok(match config {
            StoreConfig::Fs { root } => Store::Fs(fs::FsStore::new(root.clone())),
            StoreConfig::S3(c) => Store::S3(s3::S3Store::open(c).await?),
        })
    }

    /// The same store as a dry run sees it: reads fall through to it, writes go to
    /// `scratch` only.
    pub fn dry_run(self, scratch: &std::path::Path) -> Store {
        Store::DryRun(overlay::OverlayStore::new(self, scratch))
    }

    /// `file:///path` or `s3://bucket/prefix`: how the store is named in messages.
    pub fn describe(&self) -> String {
        match self {
            Store::Fs(s) => s.describe(),
            Store::S3(s) => s.describe(),
            Store::DryRun(s) => s.describe(),
        }
    }

    /// Writes `body` at `key`.
    ///
    /// A `CreateNew` refused because the very same bytes are already there succeeds:
    /// that is a retried create whose first attempt landed but whose answer was lost
    /// (or an earlier attempt of the same run, resumed). Every object written with
    /// `CreateNew` (journal records, manifests, locks) carries its writer's run id or
    /// token, so identical bytes are never someone else's.
    pub async fn put(&self, key: &str, body: Vec<u8>, mode: PutMode) -> Result<(), StoreError> {
        check_key(key)?;
        let sent = (mode == PutMode::CreateNew).then(|| body.clone());
        let result = match self {
            Store::Fs(s) => s.put(key, body, mode).await,
            Store::S3(s) => s.put(key, body, mode).await,
            Store::DryRun(s) => Box::pin(s.put(key, body, mode)).await,
        };
        match (result, sent) {
            (Err(refused @ StoreError::AlreadyExists { .. }), Some(sent)) => {
                match self.get(key).await {
                    Ok(found) if found == sent => Ok(()),
                    _ => Err(refused),
                }
            }
            (result, _) => result,
        }
    }

    /// Streams the local file at `path` to `key` (multipart upload when large; aborted
    /// on failure so no half-written object remains). Returns the bytes written.
    pub async fn put_file(&self, key: &str, path: &Path, mode: PutMode) -> Result<u64, StoreError> {
        check_key(key)?;
        match self {
            Store::Fs(s) => s.put_file(key, path, mode).await,
            Store::S3(s) => s.put_file(key, path, mode).await,
            Store::DryRun(s) => Box::pin(s.put_file(key, path, mode)).await,
        }
    }

    /// Reads a (small) object whole.
    pub async fn get(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        check_key(key)?;
        match self {
            Store::Fs(s) => s.get(key).await,
            Store::S3(s) => s.get(key).await,
            Store::DryRun(s) => Box::pin(s.get(key)).await,
        }
    }

    /// Streams the object at `key` into a new local file at `path`. Returns its size.
    pub async fn get_to_file(&self, key: &str, path: &Path) -> Result<u64, StoreError> {
        check_key(key)?;
        match self {
            Store::Fs(s) => s.get_to_file(key, path).await,
            Store::S3(s) => s.get_to_file(key, path).await,
            Store::DryRun(s) => Box::pin(s.get_to_file(key, path)).await,
        }
    }

    /// The object at `key`, or `None`.
    pub async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StoreError> {
        check_key(key)?;
        match self {
            Store::Fs(s) => s.head(key).await,
            Store::S3(s) => s.head(key).await,
            Store::DryRun(s) => Box::pin(s.head(key)).await,
        }
    }

    /// Every object whose key starts with `prefix` (recursively), sorted by key.
    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        match self {
            Store::Fs(s) => s.list(prefix).await,
            Store::S3(s) => s.list(prefix).await,
            Store::DryRun(s) => Box::pin(s.list(prefix)).await,
        }
    }

    /// Removes the object at `key`; a missing object is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        check_key(key)?;
        match self {
            Store::Fs(s) => s.delete(key).await,
            Store::S3(s) => s.delete(key).await,
            Store::DryRun(s) => Box::pin(s.delete(key)).await,
        }
    }

    /// Reads a (small) object whole, with its version for `replace` and `delete_if`.
    pub async fn get_versioned(&self, key: &str) -> Result<(Vec<u8>, Version), StoreError> {
        check_key(key)?;
        match self {
            Store::Fs(s) => s.get_versioned(key).await,
            Store::S3(s) => s.get_versioned(key).await,
            Store::DryRun(s) => Box::pin(s.get_versioned(key)).await,
        }
    }

    /// Replaces the object at `key` with `body` only if it is still at version `at`: a
    /// compare-and-swap (S3 `If-Match` on the ETag; a local file under an exclusive
    /// lock of its key). `StoreError::Changed` when it changed or went away meanwhile.
    pub async fn replace(&self, key: &str, body: Vec<u8>, at: &Version) -> Result<(), StoreError> {
        check_key(key)?;
        match self {
            Store::Fs(s) => s.replace(key, body, at).await,
            Store::S3(s) => s.replace(key, body, at).await,
            Store::DryRun(s) => Box::pin(s.replace(key, body, at)).await,
        }
    }

    /// Deletes the object at `key` only if it is still at `version` (`Changed`
    /// otherwise). Locally the check and the delete are one step under the key's lock;
    /// S3 has no conditional delete, so there they are a read and a delete.
    pub async fn delete_if(&self, key: &str, version: &Version) -> Result<(), StoreError> {
        check_key(key)?;
        match self {
            Store::Fs(s) => s.delete_if(key, version).await,
            // No conditional delete there: the version is read, then the object deleted.
            Store::S3(_) | Store::DryRun(_) => {
                let (_, current) = self.get_versioned(key).await?;
                if current != *version {
                    return Err(StoreError::changed(self.describe(), key));
                }
                self.delete(key).await
            }
        }
    }

    /// Checks that the store is reachable and honours conditional creates: creates a
    /// probe object under `prefix` (`runs/`, `backups/`), creates it again expecting a
    /// refusal, and removes it. A store that lets the second create through (some
    /// S3-compatible stores ignore `If-None-Match`) is `Unconditional`: journals and
    /// locks there would be last-writer-wins, and backup commits not atomic.
    pub async fn check_conditional_writes(&self, prefix: &str) -> Result<(), StoreError> {
        let key = format!("{prefix}.lifeboat-probe-{}-{}", std::process::id(), nanos());
        self.put(&key, b"probe".to_vec(), PutMode::CreateNew)
            .await?;
        let second = self.put(&key, b"again".to_vec(), PutMode::CreateNew).await;
        let kept = self.get(&key).await;
        self.delete(&key).await?;
        match (second, kept) {
            (Err(StoreError::AlreadyExists { .. }), Ok(body)) if body == b"probe" => Ok(()),
            (Err(StoreError::AlreadyExists { .. }) | Ok(()), Ok(_)) => {
                Err(StoreError::Unconditional {
                    store: self.describe(),
                })
            }
            (Err(e), _) | (_, Err(e)) => Err(e),
        }
    }
}

fn nanos() -> u128 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// Keys are relative, `/`-separated, and never climb out of the store's root.
fn check_key(key: &str) -> Result<(), StoreError> {
    let bad = key.is_empty()
        || key.starts_with('/')
        || key.contains('\\')
        || key.contains('\0')
        || key
            .split('/')
            .any(|seg| seg.is_empty() || seg == "." || seg == "..");
    if bad {
        return Err(StoreError::Config(format!(
            "invalid object key `{key}`: keys are relative, `/`-separated paths without empty, `.` or `..` segments"
        )));
    }
    Ok(())
}
