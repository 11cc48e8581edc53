//! The backups a run is reading, recorded in its run lock (`reading`) so that no prune
//! (`lifeboat backups prune`, a backup step's `retention`, in this process or another)
//! deletes one meanwhile. A step takes a `ReadingGuard` before it reads a backup's
//! manifest; the id leaves the lock when the guard is released or dropped. Two steps
//! reading the same backup keep it listed until both are done. A run without a lock
//! (a dry run) records nothing, but its own steps still see what it reads.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use super::ActionError;
use crate::archive::reader_lease::ReaderLease;
use crate::journal::{LockError, SharedLock};
use crate::store::Store;

/// What a run is reading, and the lock it records it in.
#[derive(Debug, Default)]
pub struct Readings {
    lock: Option<SharedLock>,
    /// Backup id → how many readers in this run.
    counts: Mutex<BTreeMap<String, usize>>,
}

impl Readings {
    pub fn new(lock: Option<SharedLock>) -> Arc<Readings> {
        Arc::new(Readings {
            lock,
            counts: Mutex::new(BTreeMap::new()),
        })
    }

    /// The backups this run is reading now.
    pub fn current(&self) -> BTreeSet<String> {
        self.counts
            .lock()
            .map(|counts| counts.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The store the run's lock is in, while the run holds it.
    pub async fn lock_store(&self) -> Option<Store> {
        let held = self.lock.as_ref()?.lock().await;
        held.as_ref().map(|l| l.store().clone())
    }

    /// Records that this run reads `backup_id`, in its lock before this returns.
    pub async fn start(self: &Arc<Self>, backup_id: &str) -> Result<ReadingGuard, ActionError> {
        self.count(backup_id, true);
        if let Err(e) = self.sync().await {
            self.count(backup_id, false);
            return Err(ActionError::Failed(format!(
                "failed to record in the run lock that backup {backup_id} is being read, so that no prune deletes it meanwhile: {e}"
            )));
        }
        Ok(ReadingGuard {
            readings: Some(self.clone()),
            backup_id: backup_id.to_string(),
            lease: None,
        })
    }

    fn count(&self, backup_id: &str, up: bool) {
        let Ok(mut counts) = self.counts.lock() else {
            return;
        };
        let n = counts.entry(backup_id.to_string()).or_insert(0);
        if up {
            *n += 1;
        } else {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(backup_id);
            }
        }
    }

    /// Writes the backups read now into the lock, unless it says so already. The list
    /// is read under the lock's mutex, so the last write holds the latest list.
    async fn sync(&self) -> Result<(), LockError> {
        let Some(shared) = &self.lock else {
            return Ok(());
        };
        let mut held = shared.lock().await;
        // Released at the end of the run, or lost (the run is stopping): nothing to write.
        let Some(lock) = held.as_mut() else {
            return Ok(());
        };
        let reading: Vec<String> = self.current().into_iter().collect();
        if lock.reading() == reading.as_slice() {
            return Ok(());
        }
        lock.set_reading(reading).await
    }
}

/// A backup being read: listed in the run lock until released or dropped.
#[derive(Debug)]
#[must_use = "the backup stays protected only while the guard lives"]
pub struct ReadingGuard {
    /// `None` once released.
    readings: Option<Arc<Readings>>,
    backup_id: String,
    /// The reader lease beside the backup, when one was taken.
    lease: Option<ReaderLease>,
}

impl ReadingGuard {
    /// The backup being read.
    pub fn backup_id(&self) -> &str {
        &self.backup_id
    }

    /// Also holds `lease` until released or dropped.
    pub fn with_lease(mut self, lease: ReaderLease) -> Self {
        self.lease = Some(lease);
        self
    }

    /// Stops reading: the id is out of the lock, and the reader lease gone, when this
    /// returns.
    pub async fn release(mut self) -> Result<(), ActionError> {
        if let Some(lease) = self.lease.take() {
            lease.release().await.map_err(|e| {
                ActionError::Failed(format!(
                    "failed to remove the reader lease of backup {}: {e}",
                    self.backup_id
                ))
            })?;
        }
        let Some(readings) = self.readings.take() else {
            return Ok(());
        };
        readings.count(&self.backup_id, false);
        readings.sync().await.map_err(|e| {
            ActionError::Failed(format!(
                "failed to remove backup {} from the backups the run lock says are being read: {e}",
                self.backup_id
            ))
        })
    }
}

impl ReadingGuard {
    /// The step is done with the backup: `release`, or, failing that, a warning (the
    /// step's work is done; the lock lists the backup until the run ends, the lease
    /// expires).
    pub async fn done(self, ctx: &super::StepCtx<'_>) {
        if let Err(e) = self.release().await {
            ctx.warn(format!(
                "{e}; the run lock lists it until the run ends, its lease until it expires"
            ));
        }
    }
}

impl Drop for ReadingGuard {
    /// A guard dropped without `release` (an error returned early) stops reading too:
    /// the lock is rewritten in the background, or released with the run.
    fn drop(&mut self) {
        let Some(readings) = self.readings.take() else {
            return;
        };
        readings.count(&self.backup_id, false);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let backup_id = self.backup_id.clone();
        runtime.spawn(async move {
            if let Err(e) = readings.sync().await {
                tracing::warn!(
                    backup = %backup_id,
                    "the run lock still says backup {backup_id} is being read: {e}; it says so until the run ends"
                );
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::Lock;
    use crate::store::StoreConfig;

    async fn locked() -> (tempfile::TempDir, Store, SharedLock) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&StoreConfig::Fs {
            root: dir.path().to_path_buf(),
        })
        .await
        .unwrap();
        let lock = Lock::acquire(&store, "rb", "run-1", false).await.unwrap();
        (dir, store, Arc::new(tokio::sync::Mutex::new(Some(lock))))
    }

    async fn in_lock(store: &Store) -> Vec<String> {
        crate::journal::backups_being_read(std::slice::from_ref(store))
            .await
            .unwrap()
            .into_keys()
            .collect()
    }

    #[tokio::test]
    async fn a_backup_is_in_the_lock_while_any_step_reads_it() {
        let (_dir, store, shared) = locked().await;
        let readings = Readings::new(Some(shared.clone()));
        let first = readings.start("b1").await.unwrap();
        let second = readings.start("b1").await.unwrap();
        let other = readings.start("b2").await.unwrap();
        assert_eq!(in_lock(&store).await, ["b1", "b2"]);
        assert_eq!(first.backup_id(), "b1");
        first.release().await.unwrap();
        assert_eq!(in_lock(&store).await, ["b1", "b2"]);
        second.release().await.unwrap();
        assert_eq!(in_lock(&store).await, ["b2"]);
        assert_eq!(readings.current(), BTreeSet::from(["b2".to_string()]));
        drop(other);
        // The dropped guard's rewrite runs in the background: wait for it.
        for _ in 0..500 {
            if in_lock(&store).await.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(in_lock(&store).await.is_empty());
        assert!(readings.current().is_empty());
        assert!(readings.lock_store().await.is_some());
    }

    #[tokio::test]
    async fn without_a_lock_only_the_run_itself_knows() {
        let readings = Readings::new(None);
        let guard = readings.start("b1").await.unwrap();
        assert_eq!(readings.current(), BTreeSet::from(["b1".to_string()]));
        assert!(readings.lock_store().await.is_none());
        guard.release().await.unwrap();
        assert!(readings.current().is_empty());
    }

    #[tokio::test]
    async fn a_released_lock_takes_no_more_writes() {
        let (_dir, store, shared) = locked().await;
        let readings = Readings::new(Some(shared.clone()));
        let guard = readings.start("b1").await.unwrap();
        let lock = shared.lock().await.take().unwrap();
        lock.release().await.unwrap();
        guard.release().await.unwrap();
        assert!(store.list("locks/").await.unwrap().is_empty());
    }
}
