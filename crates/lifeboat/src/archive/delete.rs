//! Removing one backup from a store, in the order that keeps it safe: its
//! `manifest.json` first, so from the first delete on the backup is incomplete (never
//! listed as complete, taken as `latest`, restored or copied half deleted), then the
//! manifest's signature, then every other object under its folder (its parts).
//! Interrupted, it leaves an incomplete backup, which a later prune removes.

use super::ArchiveError;
use super::layout;
use crate::store::{Store, StoreError};

/// What deleting a backup removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Deleted {
    /// Whether it had a manifest (it was complete).
    pub manifest: bool,
    /// Objects removed besides the manifest (parts, the signature).
    pub others: usize,
    /// Stored bytes of everything removed.
    pub bytes: u64,
}

impl Deleted {
    /// Every object removed, the manifest included.
    pub fn objects(&self) -> usize {
        self.others + usize::from(self.manifest)
    }
}

/// Deletes backup `id`: the manifest, then its signature, then the rest of its folder.
/// `NotFound` when the store holds nothing of it.
pub async fn delete_backup(store: &Store, id: &str) -> Result<Deleted, ArchiveError> {
    let not_found = || ArchiveError::NotFound {
        id: id.to_string(),
        store: store.describe(),
    };
    if !layout::valid_id(id) {
        return Err(not_found());
    }
    let objects = store.list(&layout::backup_dir(id)).await?;
    if objects.is_empty() {
        return Err(not_found());
    }
    let manifest_key = layout::manifest_key(id);
    let signature_key = layout::signature_key(id);
    let failed = |what: String| {
        let id = id.to_string();
        move |source: StoreError| ArchiveError::Delete {
            id,
            what,
            source: Box::new(source),
        }
    };
    // The manifest goes even when the listing missed it: a listing is no promise.
    store
        .delete(&manifest_key)
        .await
        .map_err(failed("its manifest".into()))?;
    crate::crash::point("manifest-deleted");
    let mut deleted = Deleted {
        manifest: objects.iter().any(|o| o.key == manifest_key),
        ..Deleted::default()
    };
    if let Some(signature) = objects.iter().find(|o| o.key == signature_key) {
        store
            .delete(&signature.key)
            .await
            .map_err(failed("its manifest's signature".into()))?;
        deleted.others += 1;
    }
    let folder = layout::backup_dir(id);
    for object in &objects {
        if object.key == manifest_key || object.key == signature_key {
            continue;
        }
        let relative = object.key.strip_prefix(&folder).unwrap_or(&object.key);
        store
            .delete(&object.key)
            .await
            .map_err(failed(format!("part {relative}")))?;
        deleted.others += 1;
    }
    deleted.bytes = objects.iter().map(|o| o.size).sum();
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{PutMode, StoreConfig};

    async fn folder_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = Store::open(&StoreConfig::Fs {
            root: dir.path().to_path_buf(),
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        (dir, store)
    }

    async fn put(store: &Store, key: &str) {
        let put = store.put(key, b"x".to_vec(), PutMode::Overwrite).await;
        assert!(put.is_ok(), "{put:?}");
    }

    #[tokio::test]
    async fn a_backup_goes_whole_and_its_neighbours_stay() {
        let (_dir, store) = folder_store().await;
        for key in [
            "backups/b1/manifest.json",
            "backups/b1/manifest.json.minisig",
            "backups/b1/resources/core/v1/configmaps.jsonl.zst",
            "backups/b1/resources/apps/v1/deployments.jsonl.zst",
            "backups/b10/manifest.json",
        ] {
            put(&store, key).await;
        }
        let deleted = delete_backup(&store, "b1")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            deleted,
            Deleted {
                manifest: true,
                others: 3,
                bytes: 4
            }
        );
        assert_eq!(deleted.objects(), 4);
        let left: Vec<String> = store
            .list("backups/")
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|o| o.key)
            .collect();
        assert_eq!(left, ["backups/b10/manifest.json"]);
        let again = delete_backup(&store, "b1").await;
        assert!(
            matches!(again, Err(ArchiveError::NotFound { .. })),
            "{again:?}"
        );
        let outside = delete_backup(&store, "../b10").await;
        assert!(
            matches!(outside, Err(ArchiveError::NotFound { .. })),
            "{outside:?}"
        );
    }

    #[tokio::test]
    async fn an_incomplete_backup_is_finished() {
        let (_dir, store) = folder_store().await;
        put(&store, "backups/half/resources/core/v1/secrets.jsonl.zst").await;
        let deleted = delete_backup(&store, "half")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!deleted.manifest);
        assert_eq!(deleted.objects(), 1);
        assert!(store.list("backups/").await.unwrap_or_default().is_empty());
    }
}
