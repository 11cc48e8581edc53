//! Checking a backup against its manifest: each part is downloaded into a local spool
//! folder, its size and sha256 compared with the manifest, then decompressed and its
//! objects counted. Restore does this for every part before it writes anything;
//! `backups verify` does it and reports each part.

use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use futures_util::stream;

use super::crypt::Identities;
use super::part::{PartReader, hash_file};
use super::{ArchiveError, Manifest, PartManifest, layout};
use crate::store::Store;

/// A backup whose parts are all downloaded and verified.
pub struct SpooledBackup {
    pub manifest: Manifest,
    /// Local copies of the parts, in manifest order.
    pub files: Vec<PathBuf>,
    /// Removed when dropped.
    _dir: tempfile::TempDir,
}

/// The outcome of checking one part.
#[derive(Debug)]
pub struct PartCheck {
    pub key: String,
    pub result: Result<(), ArchiveError>,
}

/// Downloads and verifies every part (`parallelism` at a time); the first problem
/// fails the whole backup, naming the part.
pub async fn download_verified(
    store: &Store,
    manifest: &Manifest,
    parallelism: usize,
    identities: Option<&Identities>,
) -> Result<SpooledBackup, ArchiveError> {
    let dir = spool_folder("lifeboat-spool-")?;
    let checks = check_parts(store, manifest, dir.path(), parallelism, identities).await;
    let mut files = Vec::with_capacity(checks.len());
    for (check, path) in checks {
        check.result?;
        files.push(path);
    }
    Ok(SpooledBackup {
        manifest: manifest.clone(),
        files,
        _dir: dir,
    })
}

/// Verifies every part and reports each one (for `backups verify`).
pub async fn verify_all(
    store: &Store,
    manifest: &Manifest,
    parallelism: usize,
    identities: Option<&Identities>,
) -> Result<Vec<PartCheck>, ArchiveError> {
    let dir = spool_folder("lifeboat-spool-")?;
    Ok(
        check_parts(store, manifest, dir.path(), parallelism, identities)
            .await
            .into_iter()
            .map(|(check, _)| check)
            .collect(),
    )
}

/// A temporary folder for parts on their way to or from a store (`prefix` says what
/// for); removed when dropped. Backups, copies and verification spool through one.
pub fn spool_folder(prefix: &str) -> Result<tempfile::TempDir, ArchiveError> {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .map_err(|source| ArchiveError::Io {
            op: "create a spool folder in",
            path: std::env::temp_dir(),
            source,
        })
}

async fn check_parts(
    store: &Store,
    manifest: &Manifest,
    dir: &Path,
    parallelism: usize,
    identities: Option<&Identities>,
) -> Vec<(PartCheck, PathBuf)> {
    let jobs = manifest.parts.iter().enumerate().map(|(i, part)| {
        let path = dir.join(format!("part-{i:05}"));
        async move {
            let result = check_part(store, &manifest.backup_id, part, &path, identities).await;
            (
                PartCheck {
                    key: part.key.clone(),
                    result,
                },
                path,
            )
        }
    });
    stream::iter(jobs)
        .buffered(parallelism.max(1))
        .collect()
        .await
}

async fn check_part(
    store: &Store,
    id: &str,
    part: &PartManifest,
    path: &Path,
    identities: Option<&Identities>,
) -> Result<(), ArchiveError> {
    let integrity = |message: String| ArchiveError::Integrity {
        id: id.to_string(),
        key: part.key.clone(),
        message,
    };
    store
        .get_to_file(&layout::part_key(id, &part.key), path)
        .await
        .map_err(|e| match e {
            crate::store::StoreError::NotFound { .. } => integrity("the part is missing".into()),
            other => ArchiveError::Store(other),
        })?;
    let path_buf = path.to_path_buf();
    let (sha256, bytes) = tokio::task::spawn_blocking(move || hash_file(&path_buf))
        .await
        .map_err(|e| integrity(format!("hashing stopped: {e}")))?
        .map_err(|source| ArchiveError::Io {
            op: "read",
            path: path.to_path_buf(),
            source,
        })?;
    if bytes != part.bytes {
        return Err(integrity(format!(
            "size is {bytes} bytes, the manifest says {} (truncated or replaced)",
            part.bytes
        )));
    }
    if sha256 != part.sha256 {
        return Err(integrity(format!(
            "sha256 is {sha256}, the manifest says {} (the part was changed after the backup)",
            part.sha256
        )));
    }
    let path_buf = path.to_path_buf();
    let encrypted = part.encryption.is_some();
    let ids = identities.cloned();
    let expected = part.objects;
    let counted = tokio::task::spawn_blocking(move || {
        count_objects(&path_buf, encrypted, ids.as_ref(), expected)
    })
    .await
    .map_err(|e| integrity(format!("reading stopped: {e}")))?
    .map_err(|e| integrity(format!("cannot be read: {e}")))?;
    if counted != part.objects {
        return Err(integrity(format!(
            "holds {counted} objects, the manifest says {}",
            part.objects
        )));
    }
    Ok(())
}

fn count_objects(
    path: &Path,
    encrypted: bool,
    ids: Option<&Identities>,
    expected: u64,
) -> std::io::Result<u64> {
    let mut reader = PartReader::open(path, encrypted, ids, expected)?;
    let mut n = 0u64;
    loop {
        let batch = reader.next_batch(1000)?;
        if batch.is_empty() {
            return Ok(n);
        }
        n += batch.len() as u64;
    }
}
