//! Writing one object into the target cluster and deciding its outcome: create; when
//! it exists, skip, fail, or server-side apply with force (`existing: update`) and
//! compare to tell updated from unchanged. A missing namespace is created once. In
//! dry-run every write carries `dryRun=All`; an object whose namespace or CRD only
//! this restore would create cannot be checked by the API server and is reported as
//! created, unchecked. The object's uid in the target is kept when its dependents
//! need it (`owners`).

use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::Existing;
use super::outcome::Outcome;
use super::{Prepared, RestoreRequest, name_of, namespace_of, rules};
use crate::cluster::discovery::{self, ServedType};
use crate::cluster::objects;
use crate::cluster::{ClusterConn, KubeError, ResourceType};
use crate::context::ActionError;

/// The ServiceAccount a cluster's controller manager creates in every new namespace:
/// in a namespace the restore created, the backup's version of it (its image pull
/// secrets, say) is applied over the one the target made, whatever `existing` says.
const DEFAULT_SERVICE_ACCOUNT: &str = "default";

/// How long to wait for restored CRDs to be Established.
const ESTABLISH_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Writer<'a> {
    conn: &'a ClusterConn,
    existing: Existing,
    restore_status: bool,
    pub fail_fast: bool,
    /// Namespaces known to exist (or, in dry-run, to be created by this restore).
    namespaces: Mutex<HashSet<String>>,
    /// Namespaces this restore created: what the target puts in a new namespace on
    /// its own (the `default` ServiceAccount) is not in the way of the backup there.
    created_namespaces: Mutex<HashSet<String>>,
    /// Objects counted as created without an API check (dry-run only).
    pub unchecked: std::sync::atomic::AtomicU64,
}

impl<'a> Writer<'a> {
    pub fn new(req: &RestoreRequest<'a>) -> Writer<'a> {
        Writer {
            conn: req.conn,
            existing: req.existing,
            restore_status: req.restore_status,
            fail_fast: req.fail_fast,
            namespaces: Mutex::new(HashSet::new()),
            created_namespaces: Mutex::new(HashSet::new()),
            unchecked: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Restores one object; with `want_uid` (it owns restored objects), also says its
    /// uid in the target.
    pub async fn write(
        &self,
        p: &Prepared,
        custom_groups: &BTreeSet<String>,
        want_uid: bool,
    ) -> (Outcome, Option<String>) {
        let (outcome, written) = self.write_object(p, custom_groups).await;
        let mut uid = written.as_ref().and_then(uid_of);
        if want_uid
            && uid.is_none()
            && matches!(outcome, Outcome::Skipped(_))
            && let Ok(Some(found)) = objects::get(
                self.conn,
                &p.rtype,
                p.rtype.namespaced.then(|| namespace_of(&p.object)),
                name_of(&p.object),
            )
            .await
        {
            uid = uid_of(&found);
        }
        (outcome, uid)
    }

    /// Restores one object: its outcome and the object the API server answered with.
    async fn write_object(
        &self,
        p: &Prepared,
        custom_groups: &BTreeSet<String>,
    ) -> (Outcome, Option<Value>) {
        let ns = p
            .rtype
            .namespaced
            .then(|| namespace_of(&p.object).to_string());
        let ns = ns.as_deref();
        let name = name_of(&p.object).to_string();
        let mut tried_namespace = false;
        loop {
            match objects::create(self.conn, &p.rtype, ns, &p.object).await {
                Ok(created) => return (self.after_create(p, ns, &name).await, Some(created)),
                Err(e) if e.code() == Some(409) && e.reason() == Some("AlreadyExists") => {
                    return self.when_existing(p, ns, &name).await;
                }
                Err(e) if e.code() == Some(404) => {
                    if let Some(missing) = missing_namespace(&e, ns) {
                        // A dry run creates no namespace: what goes in one it would
                        // create cannot be checked.
                        if self.conn.dry_run() {
                            if self.namespaces.lock().await.contains(&missing) {
                                return (self.unchecked(), None);
                            }
                            return (
                                Outcome::Failed(format!(
                                    "namespace {missing} does not exist and the restore does not create it"
                                )),
                                None,
                            );
                        }
                        if !tried_namespace {
                            tried_namespace = true;
                            if let Err(e) = self.ensure_namespace(&missing).await {
                                return (Outcome::Failed(e.api_message()), None);
                            }
                            continue;
                        }
                    }
                    if self.conn.dry_run() && custom_groups.contains(&p.rtype.group) {
                        // Its CRD is in this restore; a dry run did not create it.
                        return (self.unchecked(), None);
                    }
                    return (Outcome::Failed(e.api_message()), None);
                }
                Err(e) => return (Outcome::Failed(e.api_message()), None),
            }
        }
    }

    /// Records a namespace the restore creates (also in dry-run, where later objects
    /// in it cannot be checked).
    async fn after_create(&self, p: &Prepared, ns: Option<&str>, name: &str) -> Outcome {
        if p.qualified == "namespaces" {
            self.namespaces.lock().await.insert(name.to_string());
            self.created_namespaces
                .lock()
                .await
                .insert(name.to_string());
        }
        // A dry run created nothing, so there is no status to write (nor to check).
        if self.restore_status
            && !self.conn.dry_run()
            && let Some(status) = &p.status
            && let Err(e) = objects::patch_status(self.conn, &p.rtype, ns, name, status).await
        {
            return Outcome::Failed(format!(
                "created, but its status was not restored: {}",
                e.api_message()
            ));
        }
        Outcome::Created
    }

    async fn when_existing(
        &self,
        p: &Prepared,
        ns: Option<&str>,
        name: &str,
    ) -> (Outcome, Option<Value>) {
        if p.qualified == "namespaces" {
            self.namespaces.lock().await.insert(name.to_string());
        }
        let own_default = p.qualified == "serviceaccounts"
            && name == DEFAULT_SERVICE_ACCOUNT
            && match ns {
                Some(ns) => self.created_namespaces.lock().await.contains(ns),
                None => false,
            };
        let existing = if own_default {
            Existing::Update
        } else {
            self.existing
        };
        match existing {
            Existing::Skip => (
                Outcome::Skipped("already exists (existing: skip)".into()),
                None,
            ),
            Existing::Fail => (
                Outcome::Failed("already exists (existing: fail)".into()),
                None,
            ),
            Existing::Update => {
                let current = match objects::get(self.conn, &p.rtype, ns, name).await {
                    Ok(Some(c)) => c,
                    Ok(None) => {
                        return (
                            Outcome::Failed(
                                "it existed, then disappeared during the restore".into(),
                            ),
                            None,
                        );
                    }
                    Err(e) => return (Outcome::Failed(e.api_message()), None),
                };
                let mut body = p.object.clone();
                rules::keep_fixed_fields(&p.qualified, &mut body, &current);
                match objects::apply(self.conn, &p.rtype, ns, name, &body, true).await {
                    Ok(applied)
                        if objects::comparable(&applied) == objects::comparable(&current) =>
                    {
                        (Outcome::Unchanged, Some(applied))
                    }
                    Ok(applied) => (Outcome::Updated, Some(applied)),
                    Err(e) => (Outcome::Failed(e.api_message()), None),
                }
            }
        }
    }

    fn unchecked(&self) -> Outcome {
        self.unchecked
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Outcome::Created
    }

    async fn ensure_namespace(&self, name: &str) -> Result<(), KubeError> {
        let mut known = self.namespaces.lock().await;
        if known.contains(name) {
            return Ok(());
        }
        let rtype = ResourceType {
            group: String::new(),
            version: "v1".into(),
            resource: "namespaces".into(),
            kind: "Namespace".into(),
            namespaced: false,
        };
        let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
        match objects::create(self.conn, &rtype, None, &body).await {
            Ok(_) => {
                self.created_namespaces
                    .lock()
                    .await
                    .insert(name.to_string());
            }
            Err(e) if e.code() == Some(409) => {}
            Err(e) => return Err(e),
        }
        known.insert(name.to_string());
        Ok(())
    }
}

fn uid_of(object: &Value) -> Option<String> {
    object
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// The namespace a 404 says is missing (`namespaces "shop" not found`).
fn missing_namespace(e: &KubeError, ns: Option<&str>) -> Option<String> {
    let ns = ns?;
    let KubeError::Api { message, .. } = e else {
        return None;
    };
    message
        .contains(&format!("namespaces \"{ns}\" not found"))
        .then(|| ns.to_string())
}

/// Waits until every restored CRD reports `Established`.
pub async fn wait_established(
    conn: &ClusterConn,
    served: &[ServedType],
    names: &BTreeSet<String>,
) -> Result<(), ActionError> {
    let Some(crd) = discovery::find(
        served,
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
    ) else {
        return Ok(());
    };
    let started = Instant::now();
    for name in names {
        loop {
            let established = objects::get(conn, &crd.rtype, None, name)
                .await?
                .is_some_and(|c| kube_resources::conditions::condition_true(&c, "Established"));
            if established {
                break;
            }
            if started.elapsed() > ESTABLISH_TIMEOUT {
                return Err(ActionError::Failed(format!(
                    "CRD {name} was restored but did not become Established within {}s; its custom resources cannot be restored",
                    ESTABLISH_TIMEOUT.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}
