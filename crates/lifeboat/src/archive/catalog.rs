//! Finding backups in a store: every backup folder with its manifest (complete) or
//! without one (incomplete), reading one manifest (its signature checked, for the
//! readers that restore or copy it), and resolving `latest` to the newest complete
//! backup of a runbook.

use std::collections::BTreeMap;
use std::time::SystemTime;

use super::layout::{self, BACKUPS};
use super::signature::{self, SignatureCheck, Trust};
use super::{ArchiveError, Manifest};
use crate::store::{Store, StoreError};

/// A backup folder in a store.
#[derive(Clone, Debug)]
pub struct BackupEntry {
    pub id: String,
    /// `None`: the backup is incomplete (never finished, or half deleted).
    pub manifest: Option<Manifest>,
    /// Objects stored under the backup's folder (parts and manifest).
    pub stored_keys: usize,
    pub stored_bytes: u64,
    /// The newest modification time of its objects.
    pub modified: Option<SystemTime>,
    /// Why its manifest cannot be read, when it is there but broken or too new.
    pub problem: Option<String>,
}

/// Every backup in the store, complete ones with their manifests, sorted by id.
pub async fn list(store: &Store) -> Result<Vec<BackupEntry>, ArchiveError> {
    let objects = store.list(BACKUPS).await?;
    let mut folders: BTreeMap<String, BackupEntry> = BTreeMap::new();
    for object in objects {
        let Some(rest) = object.key.strip_prefix(BACKUPS) else {
            continue;
        };
        let Some((id, inside)) = rest.split_once('/') else {
            continue;
        };
        // A reader's lease is not a backup's content: alone, it makes no backup.
        if layout::is_reader_lease(inside) {
            continue;
        }
        let entry = folders
            .entry(id.to_string())
            .or_insert_with(|| BackupEntry {
                id: id.to_string(),
                manifest: None,
                stored_keys: 0,
                stored_bytes: 0,
                modified: None,
                problem: None,
            });
        entry.stored_keys += 1;
        entry.stored_bytes += object.size;
        entry.modified = entry.modified.max(object.modified);
    }
    let mut out = Vec::with_capacity(folders.len());
    for (id, mut entry) in folders {
        if layout::valid_id(&id) {
            match read_manifest_if_any(store, &id).await {
                Ok(m) => entry.manifest = m,
                Err(e @ (ArchiveError::BadManifest { .. } | ArchiveError::NewerFormat { .. })) => {
                    entry.problem = Some(e.to_string());
                }
                Err(e) => return Err(e),
            }
        }
        out.push(entry);
    }
    Ok(out)
}

/// The manifest of backup `id`: `Incomplete` when the folder has parts but no
/// manifest, `NotFound` when there is nothing.
pub async fn read(store: &Store, id: &str) -> Result<Manifest, ArchiveError> {
    if !layout::valid_id(id) {
        return Err(ArchiveError::NotFound {
            id: id.to_string(),
            store: store.describe(),
        });
    }
    if let Some(m) = read_manifest_if_any(store, id).await? {
        return Ok(m);
    }
    let folder = layout::backup_dir(id);
    let mut leftovers = store.list(&folder).await?;
    leftovers.retain(|o| {
        !o.key
            .strip_prefix(&folder)
            .is_some_and(layout::is_reader_lease)
    });
    if leftovers.is_empty() {
        Err(ArchiveError::NotFound {
            id: id.to_string(),
            store: store.describe(),
        })
    } else {
        Err(ArchiveError::Incomplete {
            id: id.to_string(),
            store: store.describe(),
        })
    }
}

/// Resolves `latest` (the newest complete backup of `runbook`) or a backup id.
pub async fn resolve(store: &Store, backup: &str, runbook: &str) -> Result<Manifest, ArchiveError> {
    if backup != "latest" {
        return read(store, backup).await;
    }
    let newest = list(store)
        .await?
        .into_iter()
        .filter_map(|e| e.manifest)
        .filter(|m| m.runbook == runbook)
        .max_by_key(|m| (created_key(&m.created), m.backup_id.clone()));
    newest.ok_or_else(|| ArchiveError::NoBackups {
        runbook: runbook.to_string(),
        store: store.describe(),
    })
}

/// A manifest read with its signature checked.
#[derive(Debug)]
pub struct TrustedManifest {
    pub manifest: Manifest,
    /// The manifest as stored: the bytes the signature covers.
    pub bytes: Vec<u8>,
    pub signature: SignatureCheck,
}

/// Resolves `backup` as `resolve` does, then reads its manifest once more with its
/// signature checked as `trust` asks: the manifest returned is the very one checked.
pub async fn resolve_trusted(
    store: &Store,
    backup: &str,
    runbook: &str,
    trust: &Trust,
) -> Result<TrustedManifest, ArchiveError> {
    if backup != "latest" {
        return read_trusted(store, backup, trust).await;
    }
    let id = resolve(store, backup, runbook).await?.backup_id;
    read_trusted(store, &id, trust).await
}

/// The manifest of backup `id`, its signature checked as `trust` asks.
pub async fn read_trusted(
    store: &Store,
    id: &str,
    trust: &Trust,
) -> Result<TrustedManifest, ArchiveError> {
    if !layout::valid_id(id) {
        return Err(ArchiveError::NotFound {
            id: id.to_string(),
            store: store.describe(),
        });
    }
    let bytes = match store.get(&layout::manifest_key(id)).await {
        Ok(bytes) => bytes,
        // Not found, or incomplete: `read` says which.
        Err(StoreError::NotFound { .. }) => {
            let manifest = read(store, id).await?;
            return Err(ArchiveError::BadManifest {
                id: manifest.backup_id,
                message: "it went away while it was read".into(),
            });
        }
        Err(e) => return Err(e.into()),
    };
    let signature = signature::check(store, id, &bytes, trust).await?;
    Ok(TrustedManifest {
        manifest: Manifest::from_slice(id, &bytes)?,
        bytes,
        signature,
    })
}

/// Orders RFC 3339 times with or without fractions, in any offset (unreadable first).
fn created_key(created: &str) -> Option<jiff::Timestamp> {
    crate::clock::parse(created)
}

async fn read_manifest_if_any(store: &Store, id: &str) -> Result<Option<Manifest>, ArchiveError> {
    match store.get(&layout::manifest_key(id)).await {
        Ok(bytes) => Manifest::from_slice(id, &bytes).map(Some),
        Err(StoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_orders_backups_by_the_instant_whatever_the_offset_or_fraction() {
        // 05:15 at +02:00 is 03:15 UTC: older than 03:30Z, though it reads later.
        assert!(created_key("2026-11-28T05:15:00+02:00") < created_key("2026-11-28T03:30:00Z"));
        assert!(created_key("2026-11-28T03:30:00.500Z") > created_key("2026-11-28T03:30:00Z"));
        assert!(created_key("not a time") < created_key("1970-01-01T00:00:00Z"));
    }

    /// Regression: a reader's lease alone (a restore of a mistyped id, a lease left by a
    /// dead reader) is no backup, complete or not.
    #[tokio::test]
    async fn a_reader_lease_alone_makes_no_backup() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&crate::store::StoreConfig::Fs {
            root: dir.path().to_path_buf(),
        })
        .await
        .unwrap();
        let lease = crate::archive::reader_lease::take(&store, "gone-1", "run-1", "shop")
            .await
            .unwrap();
        assert!(matches!(
            read(&store, "gone-1").await,
            Err(ArchiveError::NotFound { .. })
        ));
        assert!(list(&store).await.unwrap().is_empty());
        lease.release().await.unwrap();
    }
}
