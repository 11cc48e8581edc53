//! The run lock: one run per runbook name and state location. A lock object at
//! `locks/<runbook>.json`, created only when absent (an exclusive file locally, a
//! conditional create on S3), holding who holds it and until when. The holder renews
//! it while the run lives; a lock past its expiry is stale: it is reported with its
//! holder and taken over only with `--steal-lock`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::store::{PutMode, Store, StoreError};

/// How long a lock lasts without renewal.
pub const LEASE: Duration = Duration::from_secs(120);
/// How often the holder renews it.
pub const RENEW_EVERY: Duration = Duration::from_secs(30);

/// Who holds a lock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    pub runbook: String,
    pub run_id: String,
    pub host: String,
    pub pid: u32,
    /// When the lock was taken (RFC 3339).
    pub since: String,
    /// Seconds since the epoch after which the lock is stale.
    pub expires: u64,
}

impl LockHolder {
    fn describe(&self) -> String {
        let held = crate::clock::parse(&self.since).map_or(0, |t| crate::clock::since(t).as_secs());
        format!(
            "run {} on host {} (pid {}), holding it for {held}s",
            self.run_id, self.host, self.pid,
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "runbook `{runbook}` is locked in {location} by {}; wait for that run to finish (`lifeboat status` shows it); if its process is gone, the lock goes stale when its lease ends (at most {}s after its last renewal) and `lifeboat resume {}` or `run --steal-lock` takes it then",
        holder.describe(),
        LEASE.as_secs(),
        holder.run_id
    )]
    Held {
        runbook: String,
        location: String,
        holder: LockHolder,
    },
    #[error(
        "runbook `{runbook}` has a stale lock in {location}: {} stopped renewing it {stale_for}s ago (it probably died); if that run is really gone, run again with --steal-lock, or resume it with `lifeboat resume {}`",
        holder.describe(),
        holder.run_id
    )]
    Stale {
        runbook: String,
        location: String,
        holder: LockHolder,
        stale_for: u64,
    },
    /// While renewing: another process holds the lock now (this run's lease ran out,
    /// and a resume elsewhere took it back, or someone used `--steal-lock`).
    #[error(
        "the lock of runbook `{runbook}` in {location} was taken over by {}: this run stops, so that two processes never run it at once",
        holder.describe()
    )]
    Lost {
        runbook: String,
        location: String,
        holder: LockHolder,
    },
    #[error("failed to take the lock of runbook `{runbook}` in {location}: {source}")]
    Store {
        runbook: String,
        location: String,
        #[source]
        source: StoreError,
    },
}

/// A held lock. Released (if still ours) by `release`.
pub struct Lock {
    store: Store,
    key: String,
    holder: LockHolder,
}

impl Lock {
    /// Takes the lock of `runbook` for `run_id`. `steal` takes over a stale lock, or
    /// one held by the same run id (a resume of a run that died).
    pub async fn acquire(
        store: &Store,
        runbook: &str,
        run_id: &str,
        steal: bool,
    ) -> Result<Lock, LockError> {
        let key = format!("locks/{runbook}.json");
        let holder = LockHolder {
            runbook: runbook.to_string(),
            run_id: run_id.to_string(),
            host: hostname(),
            pid: std::process::id(),
            since: crate::clock::seconds(crate::clock::now()),
            expires: crate::clock::now_secs() + LEASE.as_secs(),
        };
        let store_err = |source| LockError::Store {
            runbook: runbook.to_string(),
            location: store.describe(),
            source,
        };
        let body = serde_json::to_vec_pretty(&holder).unwrap_or_default();
        match store.put(&key, body.clone(), PutMode::CreateNew).await {
            Ok(()) => {}
            Err(StoreError::AlreadyExists { .. }) => {
                let current = read_holder(store, &key).await.map_err(store_err)?;
                let now = crate::clock::now_secs();
                // The same run, left behind by a process that died on this machine
                // (a resume takes it back without waiting for the lease to end), or
                // anywhere once its lease ran out (nobody renews it: a resume on
                // another machine, after the first one was lost, takes it back).
                let ours = current.as_ref().is_some_and(|h| {
                    h.run_id == run_id
                        && ((h.host == hostname() && !alive(h.pid)) || h.expires <= now)
                });
                match current {
                    Some(h) if h.expires > now && !ours => {
                        return Err(LockError::Held {
                            runbook: runbook.to_string(),
                            location: store.describe(),
                            holder: h,
                        });
                    }
                    Some(h) if !steal && !ours => {
                        return Err(LockError::Stale {
                            runbook: runbook.to_string(),
                            location: store.describe(),
                            stale_for: now.saturating_sub(h.expires),
                            holder: h,
                        });
                    }
                    _ => store
                        .put(&key, body, PutMode::Overwrite)
                        .await
                        .map_err(store_err)?,
                }
            }
            Err(e) => return Err(store_err(e)),
        }
        Ok(Lock {
            store: store.clone(),
            key,
            holder,
        })
    }

    /// Extends the lease (called every `RENEW_EVERY` while the run lives).
    /// Extends the lease, unless another process holds the lock now (`Lost`): a lock
    /// taken over is never written back.
    pub async fn renew(&mut self) -> Result<(), LockError> {
        let store_err = |source| LockError::Store {
            runbook: self.holder.runbook.clone(),
            location: self.store.describe(),
            source,
        };
        let current = read_holder(&self.store, &self.key)
            .await
            .map_err(store_err)?;
        if let Some(h) = current
            && (h.run_id != self.holder.run_id
                || h.host != self.holder.host
                || h.pid != self.holder.pid)
        {
            return Err(LockError::Lost {
                runbook: self.holder.runbook.clone(),
                location: self.store.describe(),
                holder: h,
            });
        }
        self.holder.expires = crate::clock::now_secs() + LEASE.as_secs();
        let body = serde_json::to_vec_pretty(&self.holder).unwrap_or_default();
        self.store
            .put(&self.key, body, PutMode::Overwrite)
            .await
            .map_err(store_err)
    }

    /// Removes the lock if this run still holds it.
    pub async fn release(self) -> Result<(), StoreError> {
        match read_holder(&self.store, &self.key).await? {
            Some(h) if h.run_id == self.holder.run_id && h.pid == self.holder.pid => {
                self.store.delete(&self.key).await
            }
            _ => Ok(()),
        }
    }

    /// Where the lock is: `locks/NAME.json in LOCATION`.
    pub fn describe(&self) -> String {
        format!("{} in {}", self.key, self.store.describe())
    }

    pub fn store(&self) -> &Store {
        &self.store
    }
}

async fn read_holder(store: &Store, key: &str) -> Result<Option<LockHolder>, StoreError> {
    match store.get(key).await {
        // An unreadable lock is treated as stale (its holder cannot be named).
        Ok(bytes) => Ok(serde_json::from_slice(&bytes).ok().or_else(|| {
            Some(LockHolder {
                runbook: String::new(),
                run_id: "unknown".into(),
                host: "unknown".into(),
                pid: 0,
                since: crate::clock::seconds(crate::clock::now()),
                expires: 0,
            })
        })),
        Err(StoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether process `pid` of this machine still runs.
fn alive(pid: u32) -> bool {
    pid != 0 && std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// This machine's name, for lock holders and journals.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreConfig;

    /// A lock left in `store` by run `run_id` of another machine, its lease ending
    /// `expires_in` seconds from now (negative: already over).
    async fn left_by_another_host(store: &Store, run_id: &str, expires_in: i64) {
        let holder = LockHolder {
            runbook: "rb".into(),
            run_id: run_id.into(),
            host: "another-host".into(),
            pid: 1,
            since: "2026-11-28T00:00:00Z".into(),
            expires: crate::clock::now_secs().saturating_add_signed(expires_in),
        };
        let body = serde_json::to_vec(&holder).unwrap_or_default();
        let put = store.put("locks/rb.json", body, PutMode::Overwrite).await;
        assert!(put.is_ok(), "{put:?}");
    }

    async fn folder_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = Store::open(&StoreConfig::Fs {
            root: dir.path().to_path_buf(),
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        (dir, store)
    }

    #[tokio::test]
    async fn a_run_resumed_on_another_machine_takes_back_its_own_stale_lock() {
        let (_dir, store) = folder_store().await;
        left_by_another_host(&store, "run-1", -10).await;
        let taken = Lock::acquire(&store, "rb", "run-1", false).await;
        assert!(taken.is_ok(), "{:?}", taken.err());
    }

    #[tokio::test]
    async fn a_live_lease_of_the_same_run_elsewhere_is_still_held() {
        let (_dir, store) = folder_store().await;
        left_by_another_host(&store, "run-1", 60).await;
        let taken = Lock::acquire(&store, "rb", "run-1", true).await;
        assert!(
            matches!(taken, Err(LockError::Held { .. })),
            "{:?}",
            taken.err()
        );
    }

    #[tokio::test]
    async fn another_runs_stale_lock_needs_steal_lock() {
        let (_dir, store) = folder_store().await;
        left_by_another_host(&store, "run-1", -10).await;
        let refused = Lock::acquire(&store, "rb", "run-2", false).await;
        assert!(
            matches!(refused, Err(LockError::Stale { .. })),
            "{:?}",
            refused.err()
        );
        let stolen = Lock::acquire(&store, "rb", "run-2", true).await;
        assert!(stolen.is_ok(), "{:?}", stolen.err());
    }

    #[tokio::test]
    async fn a_lock_taken_over_is_never_renewed_over_its_new_holder() {
        let (_dir, store) = folder_store().await;
        let mut ours = Lock::acquire(&store, "rb", "run-1", false)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(ours.renew().await.is_ok());
        // Our lease ran out; a resume on another machine took the lock back.
        left_by_another_host(&store, "run-1", 60).await;
        let renewed = ours.renew().await;
        assert!(
            matches!(renewed, Err(LockError::Lost { .. })),
            "{:?}",
            renewed.err()
        );
        let holder = read_holder(&store, "locks/rb.json").await.ok().flatten();
        assert_eq!(holder.map(|h| h.host), Some("another-host".to_string()));
    }
}
