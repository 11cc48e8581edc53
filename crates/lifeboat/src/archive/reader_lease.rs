//! Reader leases (SPEC section 6): a run reading a backup names itself beside it, at
//! `backups/<id>/readers/<run-id>.json`, with an expiry it renews while it reads, so
//! that a prune run anywhere (it needs only the backup store, not the reader's state
//! location) keeps that backup. Released when the reading ends; a reader that dies
//! leaves a lease that expires one lease time after its last renewal. The run lock's
//! `reading` list says the same for prunes that see the run's lock.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::layout::{self, BACKUPS, READERS};
use crate::journal::RENEW_EVERY;
use crate::store::{PutMode, Store, StoreError};

/// How long a lease lasts without renewal (as the run lock's).
const LEASE_SECS: u64 = 120;

/// Backup id → the runs reading it.
pub type Readers = BTreeMap<String, BTreeSet<String>>;

/// What a lease says.
#[derive(Debug, Serialize, Deserialize)]
struct LeaseBody {
    run_id: String,
    runbook: String,
    host: String,
    /// Seconds since the epoch after which the lease no longer holds.
    expires: u64,
}

/// A lease held: renewed in the background until released or dropped.
#[derive(Debug)]
pub struct ReaderLease {
    store: Store,
    key: String,
    renewal: Option<tokio::task::JoinHandle<()>>,
}

/// The key of `run_id`'s lease on backup `id`.
fn lease_key(id: &str, run_id: &str) -> String {
    format!("{}{READERS}{run_id}.json", layout::backup_dir(id))
}

fn body(run_id: &str, runbook: &str) -> Vec<u8> {
    let lease = LeaseBody {
        run_id: run_id.to_string(),
        runbook: runbook.to_string(),
        host: crate::journal::hostname(),
        expires: crate::clock::now_secs() + LEASE_SECS,
    };
    serde_json::to_vec(&lease).unwrap_or_default()
}

/// Takes `run_id`'s lease on backup `id` in `store`: written before this returns,
/// renewed every `RENEW_EVERY` after.
pub async fn take(
    store: &Store,
    id: &str,
    run_id: &str,
    runbook: &str,
) -> Result<ReaderLease, StoreError> {
    let key = lease_key(id, run_id);
    store
        .put(&key, body(run_id, runbook), PutMode::Overwrite)
        .await?;
    let renewal = {
        let (store, key, run_id, runbook) = (
            store.clone(),
            key.clone(),
            run_id.to_string(),
            runbook.to_string(),
        );
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(crate::crash::renew_every(RENEW_EVERY)).await;
                if let Err(e) = store
                    .put(&key, body(&run_id, &runbook), PutMode::Overwrite)
                    .await
                {
                    tracing::warn!(key = %key, "failed to renew a reader lease: {e}; tried again");
                }
            }
        })
    };
    Ok(ReaderLease {
        store: store.clone(),
        key,
        renewal: Some(renewal),
    })
}

impl ReaderLease {
    /// Stops renewing and removes the lease.
    pub async fn release(mut self) -> Result<(), StoreError> {
        if let Some(r) = self.renewal.take() {
            r.abort();
        }
        match self.store.delete(&self.key).await {
            Ok(()) | Err(StoreError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

impl Drop for ReaderLease {
    /// Dropped without `release`: removed in the background (or it expires).
    fn drop(&mut self) {
        let Some(r) = self.renewal.take() else {
            return;
        };
        r.abort();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (store, key) = (self.store.clone(), self.key.clone());
        runtime.spawn(async move {
            let _ = store.delete(&key).await;
        });
    }
}

/// Adds the live reader leases of `store` to `readers`.
pub async fn add_live(store: &Store, readers: &mut Readers) -> Result<(), StoreError> {
    let now = crate::clock::now_secs();
    for object in store.list(BACKUPS).await? {
        let Some(rest) = object.key.strip_prefix(BACKUPS) else {
            continue;
        };
        let Some((id, lease)) = rest.split_once('/') else {
            continue;
        };
        let Some(file) = lease.strip_prefix(READERS) else {
            continue;
        };
        if file.contains('/') || !file.ends_with(".json") {
            continue;
        }
        let bytes = match store.get(&object.key).await {
            Ok(bytes) => bytes,
            // Released since it was listed.
            Err(StoreError::NotFound { .. }) => continue,
            Err(e) => return Err(e),
        };
        let Ok(lease) = serde_json::from_slice::<LeaseBody>(&bytes) else {
            continue;
        };
        if lease.expires > now {
            readers
                .entry(id.to_string())
                .or_default()
                .insert(lease.run_id);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreConfig;

    async fn folder() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&StoreConfig::Fs {
            root: dir.path().to_path_buf(),
        })
        .await
        .unwrap();
        (dir, store)
    }

    async fn live(store: &Store) -> Readers {
        let mut readers = Readers::new();
        add_live(store, &mut readers).await.unwrap();
        readers
    }

    #[tokio::test]
    async fn a_lease_names_its_run_until_released() {
        let (_dir, store) = folder().await;
        let lease = take(&store, "b1", "run-7", "shop").await.unwrap();
        let readers = live(&store).await;
        assert_eq!(
            readers,
            Readers::from([("b1".into(), BTreeSet::from(["run-7".to_string()]))])
        );
        lease.release().await.unwrap();
        assert!(live(&store).await.is_empty());
        assert!(store.list(BACKUPS).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn an_expired_lease_holds_nothing() {
        let (_dir, store) = folder().await;
        let stale = LeaseBody {
            run_id: "dead".into(),
            runbook: "shop".into(),
            host: "h".into(),
            expires: crate::clock::now_secs() - 1,
        };
        store
            .put(
                &lease_key("b1", "dead"),
                serde_json::to_vec(&stale).unwrap(),
                PutMode::Overwrite,
            )
            .await
            .unwrap();
        assert!(live(&store).await.is_empty());
    }
}
