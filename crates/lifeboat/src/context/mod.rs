//! What a running step can reach: the run's facts (id, runbook, dry-run), its
//! clusters and stores (connected or opened on first use, once per run), the event
//! stream for progress, and the backups the run is reading (`reading`), recorded in
//! its lock so that no prune deletes them meanwhile.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::Mutex;

mod error;
mod reading;

pub use error::ActionError;
pub use reading::{ReadingGuard, Readings};

use crate::archive::catalog;
use crate::archive::crypt::{Identities, Recipients};
use crate::archive::prune::Readers;
use crate::archive::reader_lease;
use crate::archive::signature::{PublicKey, SigningKey, Trust};
use crate::cluster::ClusterConn;
use crate::events::{Event, EventSink};
use crate::journal::SharedLock;
use crate::progress::Meter;
use crate::runbook::Loaded;
use crate::runbook::model::{ChecksumMode, Store as StoreModel};
use crate::store::{S3Config, Store, StoreConfig, StoreError};

/// One run's shared state.
pub struct RunContext<'a> {
    pub loaded: &'a Loaded,
    /// The runbook's folder: relative paths in it start here.
    pub base: PathBuf,
    pub run_id: String,
    pub dry_run: bool,
    /// `--yes`: approvals and confirmations are answered yes.
    pub yes: bool,
    /// `--approve STEP`: approve steps answered yes without asking.
    pub approve: Vec<String>,
    pub sink: Arc<dyn EventSink>,
    clusters: Mutex<HashMap<String, ClusterConn>>,
    stores: Mutex<HashMap<String, Store>>,
    /// A dry run's scratch folder: its stores write here instead (removed at the end).
    scratch: Option<tempfile::TempDir>,
    /// The backups the run's steps are reading, and the lock that says so.
    readings: Arc<Readings>,
}

impl<'a> RunContext<'a> {
    pub fn new(
        loaded: &'a Loaded,
        run_id: String,
        dry_run: bool,
        yes: bool,
        sink: Arc<dyn EventSink>,
    ) -> Self {
        let base = loaded
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        RunContext {
            loaded,
            base,
            run_id,
            dry_run,
            yes,
            approve: Vec::new(),
            sink,
            clusters: Mutex::new(HashMap::new()),
            stores: Mutex::new(HashMap::new()),
            scratch: dry_run
                .then(|| {
                    tempfile::Builder::new()
                        .prefix("lifeboat-dry-run-")
                        .tempdir()
                        .ok()
                })
                .flatten(),
            readings: Readings::new(None),
        }
    }

    /// The run's lock (none in a dry run): the steps record there the backups they read.
    pub fn hold_lock(&mut self, lock: Option<SharedLock>) {
        self.readings = Readings::new(lock);
    }

    pub fn runbook_name(&self) -> &str {
        &self.loaded.runbook.metadata.name.value.0
    }

    /// The cluster `name`, connected on first use.
    pub async fn cluster(&self, name: &str) -> Result<ClusterConn, ActionError> {
        let mut clusters = self.clusters.lock().await;
        if let Some(c) = clusters.get(name) {
            return Ok(c.clone());
        }
        let model =
            self.loaded.runbook.clusters.get(name).ok_or_else(|| {
                ActionError::Failed(format!("the runbook has no cluster `{name}`"))
            })?;
        let mut conn = ClusterConn::connect(name, model, &self.base).await?;
        if self.dry_run {
            // Every write of a dry run goes to the API server with `dryRun=All`.
            conn = conn.dry_run_handle();
        }
        clusters.insert(name.to_string(), conn.clone());
        Ok(conn)
    }

    /// The store `name`, opened on first use.
    pub async fn store(&self, name: &str) -> Result<Store, ActionError> {
        let mut stores = self.stores.lock().await;
        if let Some(s) = stores.get(name) {
            return Ok(s.clone());
        }
        let model = self
            .loaded
            .runbook
            .stores
            .get(name)
            .ok_or_else(|| ActionError::Failed(format!("the runbook has no store `{name}`")))?;
        let mut store = Store::open(&store_config(model, &self.base)?).await?;
        if self.dry_run {
            // Writes of a dry run land in a scratch folder; the real store never changes.
            let scratch = self.scratch.as_ref().ok_or_else(|| {
                ActionError::Failed("cannot create the dry run's scratch folder".into())
            })?;
            store = store.dry_run(&scratch.path().join(name));
        }
        stores.insert(name.to_string(), store.clone());
        Ok(store)
    }
}

impl RunContext<'_> {
    /// Records that this run reads backup `backup_id` (in its lock, before this
    /// returns) until the guard is released or dropped: no prune deletes it meanwhile.
    /// Without a lock (a dry run) only this run's own steps know.
    pub async fn reading(&self, backup_id: &str) -> Result<ReadingGuard, ActionError> {
        self.readings.start(backup_id).await
    }

    /// `reading`, for a backup as a step names it: `latest` is resolved first to the
    /// newest complete backup of this runbook in `store` (its manifests are read), a
    /// backup id is taken as it is (nothing is read). Read the backup the guard names
    /// (`backup_id()`), after this returns.
    pub async fn reading_backup(
        &self,
        store: &Store,
        backup: &str,
    ) -> Result<ReadingGuard, ActionError> {
        let id = if backup == "latest" {
            catalog::resolve(store, backup, self.runbook_name())
                .await?
                .backup_id
        } else {
            backup.to_string()
        };
        self.reading(&id).await
    }

    /// The backups a prune of `store` must keep as being read: those the live locks in
    /// `store` and beside this run's own lock name, and those this run reads now.
    pub async fn readers(&self, store: &Store) -> Result<Readers, StoreError> {
        let mut stores = vec![store.clone()];
        stores.extend(self.readings.lock_store().await);
        let mut readers = crate::journal::backups_being_read(&stores).await?;
        reader_lease::add_live(store, &mut readers).await?;
        for id in self.readings.current() {
            readers.entry(id).or_default().insert(self.run_id.clone());
        }
        Ok(readers)
    }

    /// The age recipients backups to store `name` are encrypted to, if any.
    pub fn recipients(&self, name: &str) -> Result<Option<Recipients>, ActionError> {
        let Some(enc) = self.encryption(name) else {
            return Ok(None);
        };
        let keys: Vec<String> = enc.age_recipients.iter().map(|k| k.value.clone()).collect();
        Recipients::parse(&keys)
            .map(Some)
            .map_err(|e| ActionError::Inputs(format!("store `{name}`: {e}")))
    }

    /// The age identities to decrypt backups of store `name`: its `identity_file`,
    /// else `LIFEBOAT_AGE_IDENTITY`, else none.
    pub fn identities(&self, name: &str) -> Result<Option<Identities>, ActionError> {
        let file = self
            .encryption(name)
            .and_then(|e| e.identity_file.as_ref())
            .map(|f| self.base.join(f));
        Identities::find(file.as_deref()).map_err(ActionError::Failed)
    }

    /// The key that signs the backups written to store `name`, if it has one.
    pub fn signer(&self, name: &str) -> Result<Option<SigningKey>, ActionError> {
        let Some(signing) = self.signing(name) else {
            return Ok(None);
        };
        let Some(file) = &signing.secret_key else {
            return Ok(None);
        };
        let password = match &signing.password_env {
            Some(var) => Some(std::env::var(&var.value).map_err(|_| {
                ActionError::Failed(format!(
                    "store `{name}`: the password of its signing key is to be in the environment variable `{}`, which is not set",
                    var.value
                ))
            })?),
            None => None,
        };
        SigningKey::read(&self.base.join(&file.value), password.as_deref())
            .map(Some)
            .map_err(|e| ActionError::Failed(format!("store `{name}`: {e}")))
    }

    /// What a reader of store `name` trusts: its public key, and whether signatures
    /// are required.
    pub fn trust(&self, name: &str) -> Result<Trust, ActionError> {
        let Some(signing) = self.signing(name) else {
            return Ok(Trust::default());
        };
        let key = match &signing.public_key {
            Some(file) => Some(
                PublicKey::read(&self.base.join(&file.value))
                    .map_err(|e| ActionError::Failed(format!("store `{name}`: {e}")))?,
            ),
            None => None,
        };
        Ok(Trust {
            key,
            required: signing.require_signature,
        })
    }

    fn signing(&self, name: &str) -> Option<&crate::runbook::model::Signing> {
        self.loaded.runbook.stores.get(name)?.signing.as_ref()
    }

    fn encryption(&self, name: &str) -> Option<&crate::runbook::model::Encryption> {
        self.loaded.runbook.stores.get(name)?.encryption.as_ref()
    }
}

/// How to reach a store the runbook defines.
pub fn store_config(model: &StoreModel, base: &Path) -> Result<StoreConfig, ActionError> {
    match (&model.s3, &model.fs) {
        (Some(s3), None) => {
            let prefix = s3.prefix.clone().unwrap_or_default();
            let prefix = if prefix.is_empty() || prefix.ends_with('/') {
                prefix
            } else {
                format!("{prefix}/")
            };
            Ok(StoreConfig::S3(S3Config {
                bucket: s3.bucket.value.clone(),
                prefix,
                region: s3.region.clone(),
                endpoint: s3.endpoint.clone(),
                path_style: s3.path_style,
                checksum_when_required: s3.checksum == Some(ChecksumMode::WhenRequired),
            }))
        }
        (None, Some(fs)) => Ok(StoreConfig::Fs {
            root: base.join(&fs.path.value),
        }),
        _ => Err(ActionError::Failed(
            "a store needs exactly one of `s3` or `fs`".into(),
        )),
    }
}

/// What one step's action sees.
pub struct StepCtx<'a> {
    pub run: &'a RunContext<'a>,
    pub step: &'a str,
    /// The cluster the step acts on, if any.
    pub cluster: Option<String>,
    /// How far the step has got, told to the run's sinks.
    meter: Arc<Meter>,
    /// What the action recorded for its own undo (kept with the step's outputs).
    undo_state: std::sync::Mutex<Option<serde_json::Value>>,
    /// Checkpoints recorded by this step before a resume, and by its earlier attempts
    /// in this run (shared by its attempts: a retry continues as a resume does).
    checkpoints: Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
}

impl<'a> StepCtx<'a> {
    pub fn new(run: &'a RunContext<'a>, step: &'a str, cluster: Option<String>) -> Self {
        StepCtx {
            run,
            step,
            cluster,
            meter: Arc::new(Meter::new(step, run.sink.clone())),
            undo_state: std::sync::Mutex::new(None),
            checkpoints: Arc::default(),
        }
    }

    /// Whether this is a dry run. The handles an action is given already behave as
    /// one (cluster writes `dryRun=All`, store writes to a scratch folder): an action
    /// asks only where its own behaviour differs, and says why in one line.
    pub fn dry_run(&self) -> bool {
        self.run.dry_run
    }

    /// `RunContext::reading_backup`, and a reader lease beside the backup in `store`
    /// (SPEC section 6), so that a prune that cannot see this run's lock keeps it too.
    /// A lease that cannot be written (a store this run may only read) is a warning:
    /// the read goes on, protected by the run lock only.
    pub async fn reading_backup(
        &self,
        store: &Store,
        backup: &str,
    ) -> Result<ReadingGuard, ActionError> {
        let guard = self.run.reading_backup(store, backup).await?;
        // A dry run writes to no store.
        if self.dry_run() {
            return Ok(guard);
        }
        let id = guard.backup_id().to_string();
        // No lease for a backup that is not there (a mistyped id): the read fails as
        // it would, and leaves nothing behind in the store.
        match store.head(&crate::archive::layout::manifest_key(&id)).await {
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return Ok(guard),
        }
        match reader_lease::take(store, &id, &self.run.run_id, self.run.runbook_name()).await {
            Ok(lease) => Ok(guard.with_lease(lease)),
            Err(e) => {
                self.warn(format!(
                    "failed to write the reader lease of backup {id} ({e}): a prune that does not read this run's lock may delete it while it is read"
                ));
                Ok(guard)
            }
        }
    }

    /// Records what the action's own undo needs (the object before a patch, ...).
    pub fn set_undo_state(&self, state: serde_json::Value) {
        if let Ok(mut s) = self.undo_state.lock() {
            *s = Some(state);
        }
    }

    /// Continues from the checkpoints earlier attempts recorded (before a resume, or
    /// before a retry); this attempt's checkpoints are added there too.
    pub fn resuming(mut self, checkpoints: Arc<std::sync::Mutex<Vec<serde_json::Value>>>) -> Self {
        self.checkpoints = checkpoints;
        self
    }

    /// The checkpoints recorded by this step so far: before the run was resumed, by its
    /// earlier attempts, and by this one, oldest first.
    pub fn checkpoints(&self) -> Vec<serde_json::Value> {
        self.checkpoints
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default()
    }

    /// Records progress a resume continues from (durable before it returns), as a
    /// function long-running work can hold.
    pub fn checkpointer(&self) -> Arc<dyn Fn(serde_json::Value) + Send + Sync> {
        let step = self.step.to_string();
        let sink = self.run.sink.clone();
        let kept = self.checkpoints.clone();
        Arc::new(move |data| {
            if let Ok(mut kept) = kept.lock() {
                kept.push(data.clone());
            }
            sink.emit(&Event::Checkpoint {
                step: step.clone(),
                data,
            });
        })
    }

    /// What the action recorded for its undo.
    pub fn take_undo_state(&self) -> Option<serde_json::Value> {
        self.undo_state.lock().ok().and_then(|mut s| s.take())
    }

    /// The step's cluster, connected.
    pub async fn cluster(&self) -> Result<ClusterConn, ActionError> {
        let name = self
            .cluster
            .as_deref()
            .ok_or_else(|| ActionError::Failed("the step names no cluster".into()))?;
        let conn = self.run.cluster(name).await?;
        if conn.insecure {
            self.warn(format!(
                "cluster `{name}`: its kubeconfig says insecure-skip-tls-verify, so the API server's certificate is not checked and anyone between lifeboat and it can read and change what this step sends (credentials, Secrets); give the cluster's CA (certificate-authority) instead"
            ));
        }
        Ok(conn)
    }

    /// Tells the operator something the step does not fail for (a `StepWarning`).
    pub fn warn(&self, message: String) {
        self.run.sink.emit(&Event::StepWarning {
            step: self.step.to_string(),
            message,
        });
    }

    /// The step's progress meter (backup, restore, copy and verify tell it).
    pub fn progress(&self) -> Arc<Meter> {
        self.meter.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::FanOut;
    use crate::journal::Lock;

    #[tokio::test]
    async fn a_prune_in_the_run_sees_what_its_other_steps_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rb.yaml");
        std::fs::write(
            &file,
            "apiVersion: lifeboat.dev/v1alpha1\nkind: Runbook\nmetadata: { name: rb }\nsteps:\n  - { id: s, uses: sleep, with: { duration: 1s } }\n",
        )
        .unwrap();
        let loaded = crate::runbook::load(&file, &[]).unwrap();
        let state = Store::open(&StoreConfig::Fs {
            root: dir.path().join("state"),
        })
        .await
        .unwrap();
        let backups = Store::open(&StoreConfig::Fs {
            root: dir.path().join("backups"),
        })
        .await
        .unwrap();
        let lock = Lock::acquire(&state, "rb", "run-1", false).await.unwrap();
        let mut run = RunContext::new(
            &loaded,
            "run-1".into(),
            false,
            false,
            Arc::new(FanOut(Vec::new())),
        );
        run.hold_lock(Some(Arc::new(tokio::sync::Mutex::new(Some(lock)))));
        // A restore step reads b1; a backup step prunes the backups store, where no
        // lock is: the run's own lock (in its state) and its own readings protect b1.
        let guard = run.reading("b1").await.unwrap();
        let readers = run.readers(&backups).await.unwrap();
        assert_eq!(
            readers
                .get("b1")
                .map(|r| r.iter().cloned().collect::<Vec<_>>()),
            Some(vec!["run-1".to_string()])
        );
        let in_state = crate::journal::backups_being_read(std::slice::from_ref(&state))
            .await
            .unwrap();
        assert!(in_state.contains_key("b1"));
        guard.release().await.unwrap();
        assert!(run.readers(&backups).await.unwrap().is_empty());
        // A named backup is taken as it is, without reading the store.
        let named = run.reading_backup(&backups, "b7").await.unwrap();
        assert_eq!(named.backup_id(), "b7");
        // `latest` needs a complete backup of the runbook there.
        let none = run.reading_backup(&backups, "latest").await;
        assert!(matches!(none, Err(ActionError::Archive(_))), "{none:?}");
    }
}
