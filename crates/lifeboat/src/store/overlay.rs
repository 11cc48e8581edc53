//! The store a dry run sees: reads come from a scratch folder first, then from the
//! real store; every write goes to the scratch folder only. So a dry-run backup can be
//! "restored" by a later dry-run step of the same run, and the real store never
//! changes.

use std::collections::BTreeMap;
use std::path::Path;

use super::fs::FsStore;
use super::{ObjectMeta, PutMode, Store, StoreError, Version};

#[derive(Clone, Debug)]
pub struct OverlayStore {
    real: Box<Store>,
    scratch: FsStore,
}

impl OverlayStore {
    pub fn new(real: Store, scratch: &Path) -> OverlayStore {
        OverlayStore {
            real: Box::new(real),
            scratch: FsStore::new(scratch.to_path_buf()),
        }
    }

    pub fn describe(&self) -> String {
        self.real.describe()
    }

    pub async fn put(&self, key: &str, body: Vec<u8>, mode: PutMode) -> Result<(), StoreError> {
        self.refuse_existing(key, mode).await?;
        self.scratch.put(key, body, mode).await
    }

    pub async fn put_file(&self, key: &str, path: &Path, mode: PutMode) -> Result<u64, StoreError> {
        self.refuse_existing(key, mode).await?;
        self.scratch.put_file(key, path, mode).await
    }

    pub async fn get(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        match self.scratch.get(key).await {
            Err(StoreError::NotFound { .. }) => self.real.get(key).await,
            other => other,
        }
    }

    pub async fn get_to_file(&self, key: &str, path: &Path) -> Result<u64, StoreError> {
        match self.scratch.get_to_file(key, path).await {
            Err(StoreError::NotFound { .. }) => self.real.get_to_file(key, path).await,
            other => other,
        }
    }

    pub async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StoreError> {
        match self.scratch.head(key).await? {
            Some(m) => Ok(Some(m)),
            None => self.real.head(key).await,
        }
    }

    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        let mut merged: BTreeMap<String, ObjectMeta> = BTreeMap::new();
        for m in self.real.list(prefix).await? {
            merged.insert(m.key.clone(), m);
        }
        for m in self.scratch.list(prefix).await? {
            merged.insert(m.key.clone(), m);
        }
        Ok(merged.into_values().collect())
    }

    /// Deletes from the scratch folder only: the real store is never changed.
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.scratch.delete(key).await
    }

    pub async fn get_versioned(&self, key: &str) -> Result<(Vec<u8>, Version), StoreError> {
        match self.scratch.get_versioned(key).await {
            Err(StoreError::NotFound { .. }) => self.real.get_versioned(key).await,
            other => other,
        }
    }

    /// A swap of what the dry run sees, written to the scratch folder.
    pub async fn replace(&self, key: &str, body: Vec<u8>, at: &Version) -> Result<(), StoreError> {
        let (_, current) = self.get_versioned(key).await?;
        if current != *at {
            return Err(StoreError::changed(self.describe(), key));
        }
        self.scratch.put(key, body, PutMode::Overwrite).await
    }

    /// A conditional create must fail when the real store has the key.
    async fn refuse_existing(&self, key: &str, mode: PutMode) -> Result<(), StoreError> {
        if mode == PutMode::CreateNew && self.real.head(key).await?.is_some() {
            return Err(StoreError::AlreadyExists {
                store: self.real.describe(),
                key: key.to_string(),
            });
        }
        Ok(())
    }
}
