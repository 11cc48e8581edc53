//! The run lock: one run per runbook name and state location. A lock object at
//! `locks/<runbook>.json`, created only when absent (an exclusive file locally, a
//! conditional create on S3), holding who holds it and until when. The holder renews
//! it while the run lives. Stale means the lease ran out (never judged from process
//! ids): a resume of the same run takes its own stale lock back, any other takeover
//! needs `--steal-lock`, and a resume with `--steal-lock` takes its own lock at once.
//! Every takeover and renewal is a compare-and-swap (S3 `If-Match` on the ETag; a local
//! replace under the key's lock), and each holder carries a token of its own, so a
//! write whose answer was lost (and whose retry was refused) is recognised as ours.
//!
//! The lock also names the backups its run is reading (`reading`), rewritten by the
//! same compare-and-swap: a prune reads the live locks (`readers`) and never deletes
//! a backup one of them names.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::store::{PutMode, Store, StoreError, Version};

/// How long a lock lasts without renewal.
pub const LEASE: Duration = Duration::from_secs(120);
/// How often the holder renews it.
pub const RENEW_EVERY: Duration = Duration::from_secs(30);
/// The folder of locks in a state location.
const LOCKS: &str = "locks/";

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
    /// Unique to this taking of the lock: what tells a holder its own write apart.
    #[serde(default)]
    pub token: String,
    /// The backups (ids) the run is reading now: a prune never deletes them. Absent in
    /// locks of older lifeboats, and when the run reads none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reading: Vec<String>,
}

impl LockHolder {
    /// `run R on host H (pid P), holding it for Ns`.
    pub fn describe(&self) -> String {
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
        "runbook `{runbook}` is locked in {location} by {}; its lease ends in {}s unless it is renewed. Wait for that run to finish (`lifeboat status` shows it); if its process is gone, the lease ends at most {}s after its last renewal, and then `lifeboat resume {}` takes it back and another run takes it with --steal-lock (a resume of that very run with --steal-lock takes it at once)",
        holder.describe(),
        holder.expires.saturating_sub(crate::clock::now_secs()),
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

/// The run's lock as the run shares it: its renewal task, the steps that record the
/// backups they read, and the end of the run, which releases it (`None` once released,
/// lost, or in a dry run that takes none).
pub type SharedLock = std::sync::Arc<tokio::sync::Mutex<Option<Lock>>>;

/// A held lock. Released (if still ours) by `release`.
#[derive(Debug)]
pub struct Lock {
    store: Store,
    key: String,
    holder: LockHolder,
}

impl Lock {
    /// Takes the lock of `runbook` for `run_id`. `steal` takes over a stale lock of
    /// another run, or this run's own lock whose lease still runs (its process is gone).
    pub async fn acquire(
        store: &Store,
        runbook: &str,
        run_id: &str,
        steal: bool,
    ) -> Result<Lock, LockError> {
        let now = crate::clock::now();
        let holder = LockHolder {
            runbook: runbook.to_string(),
            run_id: run_id.to_string(),
            host: hostname(),
            pid: std::process::id(),
            since: crate::clock::seconds(now),
            expires: crate::clock::unix_secs(now) + LEASE.as_secs(),
            token: format!("{run_id}/{}/{}", std::process::id(), now.as_nanosecond()),
            reading: Vec::new(),
        };
        Lock::acquire_as(store, holder, steal).await
    }

    /// Takes the lock for `holder` (see `acquire`).
    async fn acquire_as(store: &Store, holder: LockHolder, steal: bool) -> Result<Lock, LockError> {
        let runbook = holder.runbook.clone();
        let lock = Lock {
            store: store.clone(),
            key: format!("{LOCKS}{runbook}.json"),
            holder,
        };
        let body = lock.body();
        match store.put(&lock.key, body.clone(), PutMode::CreateNew).await {
            Ok(()) => return Ok(lock),
            Err(StoreError::AlreadyExists { .. }) => {}
            Err(e) => return Err(lock.store_error(e)),
        }
        // Someone holds it, or held it; or our own create landed and its retry was
        // refused. Two tries: a takeover that loses a race decides again on the winner.
        for _ in 0..2 {
            let Some((current, version)) = lock.current().await? else {
                match store.put(&lock.key, body.clone(), PutMode::CreateNew).await {
                    Ok(()) => return Ok(lock),
                    Err(StoreError::AlreadyExists { .. }) => continue,
                    Err(e) => return Err(lock.store_error(e)),
                }
            };
            if current.token == lock.holder.token {
                return Ok(lock);
            }
            if let Some(refused) = lock.refusal(&current, steal) {
                return Err(refused);
            }
            match store.replace(&lock.key, body.clone(), &version).await {
                Ok(()) => return Ok(lock),
                Err(StoreError::Changed { .. }) => continue,
                Err(e) => return Err(lock.store_error(e)),
            }
        }
        let current = lock.current().await?.map(|(h, _)| h);
        match current {
            Some(h) if h.token == lock.holder.token => Ok(lock),
            Some(h) => Err(LockError::Held {
                runbook: runbook.to_string(),
                location: store.describe(),
                holder: h,
            }),
            None => Err(lock.store_error(StoreError::Changed {
                store: store.describe(),
                key: lock.key.clone(),
            })),
        }
    }

    /// Why this run may not take the lock from `current`, if it may not: a live lease
    /// is another process's (unless it is this very run's and the operator says its
    /// process is gone), a stale one is taken back by the same run, or by any run with
    /// `steal`.
    fn refusal(&self, current: &LockHolder, steal: bool) -> Option<LockError> {
        let now = crate::clock::now_secs();
        let same_run = current.run_id == self.holder.run_id;
        let location = self.store.describe();
        let runbook = self.holder.runbook.clone();
        if current.expires > now && !(same_run && steal) {
            return Some(LockError::Held {
                runbook,
                location,
                holder: current.clone(),
            });
        }
        if current.expires <= now && !same_run && !steal {
            return Some(LockError::Stale {
                runbook,
                location,
                stale_for: now.saturating_sub(current.expires),
                holder: current.clone(),
            });
        }
        None
    }

    /// Extends the lease, unless another process holds the lock now (`Lost`): a lock
    /// taken over is never written back.
    pub async fn renew(&mut self) -> Result<(), LockError> {
        let previous = self.holder.clone();
        self.holder.expires = crate::clock::now_secs() + LEASE.as_secs();
        self.rewrite(previous, Some(("lock-renewing", "lock-renewed")))
            .await
    }

    /// The backups this lock says its run is reading.
    pub fn reading(&self) -> &[String] {
        &self.holder.reading
    }

    /// Rewrites the lock with `reading` as the backups its run is reading (and a fresh
    /// lease), a compare-and-swap as `renew` is: `Lost` when another process holds the
    /// lock now, which is never written over. On any error the lock as this run knows
    /// it keeps its previous list.
    pub async fn set_reading(&mut self, reading: Vec<String>) -> Result<(), LockError> {
        let previous = self.holder.clone();
        self.holder.reading = reading;
        self.holder.expires = crate::clock::now_secs() + LEASE.as_secs();
        let written = self.rewrite(previous.clone(), None).await;
        if written.is_err() {
            self.holder.reading = previous.reading;
        }
        written
    }

    /// Writes `self.holder` over the lock if this run still holds it (`previous` is
    /// what it held before, put back when the lock was lost). `crash_points` name the
    /// crash points around the write (the renewal's, for the crash matrix).
    async fn rewrite(
        &mut self,
        previous: LockHolder,
        crash_points: Option<(&str, &str)>,
    ) -> Result<(), LockError> {
        let body = self.body();
        for _ in 0..2 {
            let current = self.current().await?;
            match current {
                Some((h, version)) if h.token == self.holder.token => {
                    if h == self.holder {
                        // Our write landed; its answer was lost.
                        return Ok(());
                    }
                    if let Some((before, _)) = crash_points {
                        crate::crash::point(before);
                    }
                    match self.store.replace(&self.key, body.clone(), &version).await {
                        Ok(()) => {
                            if let Some((_, after)) = crash_points {
                                crate::crash::point(after);
                            }
                            return Ok(());
                        }
                        Err(StoreError::Changed { .. }) => continue,
                        Err(e) => return Err(self.store_error(e)),
                    }
                }
                Some((h, _)) => {
                    self.holder = previous;
                    return Err(LockError::Lost {
                        runbook: self.holder.runbook.clone(),
                        location: self.store.describe(),
                        holder: h,
                    });
                }
                // Gone (removed by hand): ours again, created anew.
                None => match self
                    .store
                    .put(&self.key, body.clone(), PutMode::CreateNew)
                    .await
                {
                    Ok(()) => return Ok(()),
                    Err(StoreError::AlreadyExists { .. }) => continue,
                    Err(e) => return Err(self.store_error(e)),
                },
            }
        }
        let holder = self.current().await?.map(|(h, _)| h);
        match holder {
            Some(h) if h == self.holder => Ok(()),
            Some(h) => {
                if h.token != self.holder.token {
                    self.holder = previous;
                }
                Err(LockError::Lost {
                    runbook: self.holder.runbook.clone(),
                    location: self.store.describe(),
                    holder: h,
                })
            }
            None => Err(self.store_error(StoreError::Changed {
                store: self.store.describe(),
                key: self.key.clone(),
            })),
        }
    }

    /// Removes the lock if this run still holds it (one taken over is theirs now).
    pub async fn release(self) -> Result<(), StoreError> {
        let (bytes, version) = match self.store.get_versioned(&self.key).await {
            Ok(current) => current,
            Err(StoreError::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        if parse_holder(&bytes).token != self.holder.token {
            return Ok(());
        }
        match self.store.delete_if(&self.key, &version).await {
            Err(StoreError::Changed { .. }) => Ok(()),
            other => other,
        }
    }

    /// Where the lock is: `locks/NAME.json in LOCATION`.
    pub fn describe(&self) -> String {
        format!("{} in {}", self.key, self.store.describe())
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    fn body(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(&self.holder).unwrap_or_default()
    }

    /// The holder now and the object's version, `None` when there is no lock.
    async fn current(&self) -> Result<Option<(LockHolder, Version)>, LockError> {
        match self.store.get_versioned(&self.key).await {
            Ok((bytes, version)) => Ok(Some((parse_holder(&bytes), version))),
            Err(StoreError::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.store_error(e)),
        }
    }

    fn store_error(&self, source: StoreError) -> LockError {
        LockError::Store {
            runbook: self.holder.runbook.clone(),
            location: self.store.describe(),
            source,
        }
    }
}

/// A lock object's holder; an unreadable one is stale (its holder cannot be named).
fn parse_holder(bytes: &[u8]) -> LockHolder {
    serde_json::from_slice(bytes).unwrap_or_else(|_| LockHolder {
        runbook: String::new(),
        run_id: "unknown".into(),
        host: "unknown".into(),
        pid: 0,
        since: crate::clock::seconds(crate::clock::now()),
        expires: 0,
        token: String::new(),
        reading: Vec::new(),
    })
}

/// The backups the runs holding a live lock (its lease not over) in any of `stores`
/// are reading, each with the ids of those runs: what a prune must not delete. A lock
/// that cannot be read is stale (as `acquire` judges it) and protects nothing.
pub async fn backups_being_read(
    stores: &[Store],
) -> Result<BTreeMap<String, BTreeSet<String>>, StoreError> {
    let now = crate::clock::now_secs();
    let mut readers: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for store in stores {
        // The same location named twice (the pruned store is also the state) is read once.
        if !seen.insert(store.describe()) {
            continue;
        }
        for object in store.list(LOCKS).await? {
            let Some(name) = object.key.strip_prefix(LOCKS) else {
                continue;
            };
            if name.contains('/') || !name.ends_with(".json") {
                continue;
            }
            let bytes = match store.get(&object.key).await {
                Ok(bytes) => bytes,
                // Released since it was listed.
                Err(StoreError::NotFound { .. }) => continue,
                Err(e) => return Err(e),
            };
            let Ok(holder) = serde_json::from_slice::<LockHolder>(&bytes) else {
                continue;
            };
            if holder.expires <= now {
                continue;
            }
            for id in holder.reading {
                readers.entry(id).or_default().insert(holder.run_id.clone());
            }
        }
    }
    Ok(readers)
}

/// Who holds the lock of `runbook` in `store` now: `None` when no lock is there, or
/// when its lease is over (its holder died). An unreadable lock names no one.
pub async fn holder_of(store: &Store, runbook: &str) -> Result<Option<LockHolder>, StoreError> {
    match store.get(&format!("{LOCKS}{runbook}.json")).await {
        Ok(bytes) => Ok(serde_json::from_slice::<LockHolder>(&bytes)
            .ok()
            .filter(|h| h.expires > crate::clock::now_secs())),
        Err(StoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
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
            token: format!("another-host/{run_id}"),
            reading: Vec::new(),
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
    async fn a_live_lease_of_another_run_is_held_even_with_steal_lock() {
        let (_dir, store) = folder_store().await;
        left_by_another_host(&store, "run-1", 60).await;
        let taken = Lock::acquire(&store, "rb", "run-2", true).await;
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
        let holder = store
            .get("locks/rb.json")
            .await
            .map(|b| parse_holder(&b).host);
        assert_eq!(holder.ok(), Some("another-host".to_string()));
    }

    #[tokio::test]
    async fn staleness_is_the_lease_not_the_process() {
        // This run's own lock, its lease still running, its process (pid 1 of another
        // host, or a dead one here) unknowable: held, unless the operator says
        // otherwise with --steal-lock.
        let (_dir, store) = folder_store().await;
        left_by_another_host(&store, "run-1", 60).await;
        let refused = Lock::acquire(&store, "rb", "run-1", false).await;
        let said = refused
            .as_ref()
            .err()
            .map(ToString::to_string)
            .unwrap_or_default();
        assert!(matches!(refused, Err(LockError::Held { .. })), "{said}");
        assert!(
            said.contains("--steal-lock") && said.contains("lease ends in"),
            "{said}"
        );
        let taken = Lock::acquire(&store, "rb", "run-1", true).await;
        assert!(taken.is_ok(), "{:?}", taken.err());
    }

    #[tokio::test]
    async fn a_create_whose_answer_was_lost_is_recognised_as_ours() {
        // The first attempt of the conditional create landed; its retry was refused
        // (412): the lock in the store is this very acquisition's, not another run's.
        let (_dir, store) = folder_store().await;
        left_by_another_host(&store, "run-1", 60).await;
        let ours = store
            .get("locks/rb.json")
            .await
            .map(|b| parse_holder(&b))
            .unwrap_or_else(|e| panic!("{e}"));
        let taken = Lock::acquire_as(&store, ours, false).await;
        assert!(taken.is_ok(), "{:?}", taken.err());
    }

    #[tokio::test]
    async fn two_takeovers_of_a_stale_lock_never_both_win() {
        for round in 0..20 {
            let (_dir, store) = folder_store().await;
            left_by_another_host(&store, "dead", -10).await;
            let (run_a, run_b) = (format!("a-{round}"), format!("b-{round}"));
            let (a, b) = tokio::join!(
                Lock::acquire(&store, "rb", &run_a, true),
                Lock::acquire(&store, "rb", &run_b, true),
            );
            let won = usize::from(a.is_ok()) + usize::from(b.is_ok());
            assert_eq!(won, 1, "round {round}: {:?} {:?}", a.err(), b.err());
            let holder = store
                .get("locks/rb.json")
                .await
                .map(|b| parse_holder(&b).run_id);
            let winner = if a.is_ok() { "a" } else { "b" };
            assert_eq!(holder.ok(), Some(format!("{winner}-{round}")));
        }
    }

    #[test]
    fn a_lock_written_before_reading_existed_still_reads() {
        // A lock as lifeboat wrote it before `reading` (and before `token`).
        let old = br#"{
  "runbook": "rb",
  "run_id": "run-0",
  "host": "old-host",
  "pid": 7,
  "since": "2026-11-28T00:00:00Z",
  "expires": 1795836900
}"#;
        let holder: LockHolder = serde_json::from_slice(old).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(holder.run_id, "run-0");
        assert!(holder.reading.is_empty());
        assert_eq!(parse_holder(old).host, "old-host");
        // And a lock reading nothing is written without the field, as before.
        let written = serde_json::to_string(&holder).unwrap_or_default();
        assert!(!written.contains("reading"), "{written}");
    }

    #[tokio::test]
    async fn the_backups_a_run_reads_are_in_its_lock_until_it_stops_reading_them() {
        let (_dir, store) = folder_store().await;
        let mut ours = Lock::acquire(&store, "rb", "run-1", false)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let set = ours.set_reading(vec!["b1".into(), "b2".into()]).await;
        assert!(set.is_ok(), "{set:?}");
        let stored = store
            .get("locks/rb.json")
            .await
            .map(|b| parse_holder(&b).reading);
        assert_eq!(stored.ok(), Some(vec!["b1".to_string(), "b2".to_string()]));
        // A renewal keeps the list.
        assert!(ours.renew().await.is_ok());
        let found = backups_being_read(std::slice::from_ref(&store))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            found
                .get("b2")
                .map(|runs| runs.iter().cloned().collect::<Vec<_>>()),
            Some(vec!["run-1".to_string()])
        );
        assert!(ours.set_reading(vec!["b2".into()]).await.is_ok());
        let found = backups_being_read(&[store.clone(), store.clone()])
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(found.keys().collect::<Vec<_>>(), ["b2"]);
        assert!(ours.set_reading(Vec::new()).await.is_ok());
        let raw = store.get("locks/rb.json").await.unwrap_or_default();
        assert!(!String::from_utf8_lossy(&raw).contains("reading"));
        assert!(ours.release().await.is_ok());
        let found = backups_being_read(&[store])
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(found.is_empty(), "{found:?}");
    }

    #[tokio::test]
    async fn a_stale_lock_protects_nothing_and_a_lost_lock_is_not_written_over() {
        let (_dir, store) = folder_store().await;
        let mut ours = Lock::acquire(&store, "rb", "run-1", false)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(ours.set_reading(vec!["b1".into()]).await.is_ok());
        // Taken over by a resume elsewhere, whose lease has since ended as well.
        left_by_another_host(&store, "run-1", -10).await;
        let refused = ours.set_reading(vec!["b1".into(), "b9".into()]).await;
        assert!(
            matches!(refused, Err(LockError::Lost { .. })),
            "{:?}",
            refused.err()
        );
        assert_eq!(ours.reading(), ["b1"]);
        let holder = store
            .get("locks/rb.json")
            .await
            .map(|b| parse_holder(&b).host);
        assert_eq!(holder.ok(), Some("another-host".to_string()));
        let found = backups_being_read(&[store])
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(found.is_empty(), "{found:?}");
    }
}
