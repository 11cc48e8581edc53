//! `restore`: puts the objects of a backup back into a cluster, in dependency order.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use super::backup::parallelism_range;
use super::{CheckInputs, IntOrExpr, Output, located, map_out, out};
use crate::cluster::ClusterConn;
use crate::context::{ActionError, StepCtx};
use crate::events::Event;
use crate::events::{OutputValue, Outputs};
use crate::restore::transform::{Modifier, Transforms};
use crate::restore::verify::{DriftTally, ObjectDrift, VerifyMode};
use crate::restore::{Existing, ObjectReport, Outcome};
use crate::runbook::de::{DeError, Spanned};
use crate::runbook::model::{Duration, OrExpr};
use crate::runbook::node::Node;
use crate::store::Store;

pub const NAME: &str = "restore";
pub const SUMMARY: &str = "Restore a backup into a cluster (CRDs first, then tier by tier).";
pub const ON_CLUSTER: bool = true;
/// Asks the operator at a terminal before it runs: it writes objects into a cluster.
pub const CONFIRM: bool = true;
pub const SELF_UNDO: Option<&str> = None;
pub const DRY_RUN: &str = "sends every write with dryRun=All and reports per object: would create, update, leave unchanged, or rejected";
pub const OUTPUTS: &[Output] = &[
    out("backup_id", "id of the backup restored (resolves `latest`)"),
    out(
        "backup_age",
        "age of the backup when restored (the RPO measure)",
    ),
    out("created", "objects created"),
    out("updated", "objects updated"),
    out("unchanged", "objects already as in the backup"),
    out(
        "skipped",
        "objects skipped (existing: skip, or owned by a controller)",
    ),
    out("failed", "objects that could not be restored"),
    map_out(
        "kinds",
        "objects restored (created, updated or unchanged) per kind",
    ),
    out(
        "verified",
        "objects read back and compared with the backup (`verify`; 0 without it)",
    ),
    out(
        "drift",
        "objects read back missing or different from the backup (`verify`)",
    ),
];

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "RestoreInputs")]
pub struct Inputs {
    /// The store to read from (a name under `stores:`).
    pub store: Spanned<String>,
    /// Backup id, or `latest` (the newest complete backup of this runbook in the store).
    #[serde(default = "latest")]
    pub backup: String,
    /// Namespaces to restore (globs); default: all in the backup.
    #[serde(default)]
    pub namespaces: Vec<String>,
    #[serde(default)]
    pub exclude_namespaces: Vec<String>,
    #[serde(default)]
    pub include_resources: Vec<String>,
    #[serde(default)]
    pub exclude_resources: Vec<String>,
    #[serde(default)]
    pub label_selector: Option<String>,
    /// Restore namespace `from` into namespace `to`.
    #[serde(default)]
    pub namespace_mapping: BTreeMap<String, String>,
    /// What to do with objects that already exist.
    #[serde(default)]
    pub existing: Existing,
    /// Objects written in parallel within a tier (default 16).
    #[serde(default)]
    pub parallelism: Option<IntOrExpr>,
    /// Stop at the first object that fails (default: restore the rest, then fail).
    #[serde(default)]
    pub fail_fast: OrExpr<bool>,
    /// Also restore `status` (default: status is left to the controllers).
    #[serde(default)]
    pub restore_status: OrExpr<bool>,
    /// Keep Services' node ports (default: cleared, the target allocates its own; a
    /// port the target already uses would be refused).
    #[serde(default)]
    pub keep_node_ports: OrExpr<bool>,
    /// How long the admission tier waits, in all, for the workloads behind webhooks
    /// and APIServices to be ready (default 2m); one still not ready is not restored.
    #[serde(default)]
    pub backend_timeout: Option<Spanned<OrExpr<Duration>>>,
    /// Storage classes to change, `{ gp2: premium-rwo }`: in PVCs, PVs and
    /// StatefulSets' claim templates.
    #[serde(default)]
    pub storage_class_mapping: BTreeMap<String, String>,
    /// Rules that patch the restored objects, in order: each selects by `match`
    /// (resources, namespaces, name, label_selector) and applies a `json_patch` or a
    /// `merge_patch`.
    #[serde(default)]
    pub modifiers: Vec<Modifier>,
    /// Read back every object written and compare it with the backup: `true` (drift
    /// fails the step), `report` (drift is recorded) or `false` (default).
    #[serde(default)]
    pub verify: VerifyMode,
}

/// How long the admission tier waits for its backends unless told.
const DEFAULT_BACKEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

fn latest() -> String {
    "latest".to_string()
}

impl CheckInputs for Inputs {
    fn stores(&self) -> Vec<&Spanned<String>> {
        vec![&self.store]
    }
    fn check(&self, with: &Node) -> Vec<DeError> {
        let mut problems: Vec<DeError> = parallelism_range(&self.parallelism, with)
            .into_iter()
            .collect();
        for (from, to) in &self.storage_class_mapping {
            if from.is_empty() || to.is_empty() {
                let at = with.get("storage_class_mapping").unwrap_or(with);
                problems.push(located(
                    DeError::new("`storage_class_mapping` maps an empty storage class name")
                        .hint("write `from-class: to-class`, such as `gp2: premium-rwo`"),
                    at,
                ));
            }
        }
        let items = with.get("modifiers").and_then(|m| match &m.kind {
            crate::runbook::node::NodeKind::Seq(items) => Some(items),
            _ => None,
        });
        for (i, m) in self.modifiers.iter().enumerate() {
            if let Err(e) = Transforms::new(&BTreeMap::new(), std::slice::from_ref(m)) {
                let at = items.and_then(|items| items.get(i)).unwrap_or(with);
                // The rule's own number, not 1 of a list of one.
                let message = e.replacen("modifier 1:", &format!("modifier {}:", i + 1), 1);
                problems.push(located(DeError::new(message), at));
            }
        }
        problems
    }
}

/// Restores as the step's inputs say. Fails when any object failed (after restoring
/// the rest, unless `fail_fast`).
pub async fn execute(i: &Inputs, ctx: &StepCtx<'_>) -> Result<Outputs, ActionError> {
    let conn = ctx.cluster().await?;
    let store = ctx.run.store(&i.store.value).await?;
    // In the run lock's `reading` before the manifest is read, until the step ends: no
    // prune deletes the backup meanwhile.
    let reading = ctx.reading_backup(&store, &i.backup).await?;
    let mut req = request(i, ctx, &conn, &store)?;
    req.backup = reading.backup_id().to_string();
    let summary = crate::restore::run(req).await?;
    reading.done(ctx).await;
    let t = &summary.tally;
    if t.total.failed > 0 {
        let first = t
            .failures
            .first()
            .map(|f| format!("; first: {} {}: {}", f.kind, f.name, f.reason))
            .unwrap_or_default();
        let early = if summary.stopped_early {
            " (fail_fast stopped the restore)"
        } else {
            ""
        };
        return Err(ActionError::Failed(format!(
            "{} of {} objects of backup {} failed to restore{early}{first}",
            t.total.failed,
            t.total.total(),
            summary.backup_id
        )));
    }
    let drift = summary.drift.clone().unwrap_or_default();
    if i.verify == VerifyMode::Fail && drift.total() > 0 {
        return Err(ActionError::Failed(drift_message(
            &drift,
            &summary.backup_id,
        )));
    }
    let mut outputs = Outputs::new();
    let s = |v: u64| OutputValue::Str(v.to_string());
    outputs.insert("verified".into(), s(drift.checked));
    outputs.insert("drift".into(), s(drift.total()));
    outputs.insert(
        "backup_id".into(),
        OutputValue::Str(summary.backup_id.clone()),
    );
    outputs.insert(
        "backup_age".into(),
        OutputValue::Str(
            // Whole seconds past a minute; milliseconds below (a just-taken backup).
            crate::runbook::model::Duration(if summary.backup_age.as_secs() >= 60 {
                std::time::Duration::from_secs(summary.backup_age.as_secs())
            } else {
                std::time::Duration::from_millis(
                    u64::try_from(summary.backup_age.as_millis()).unwrap_or(u64::MAX),
                )
            })
            .to_string(),
        ),
    );
    outputs.insert("created".into(), s(t.total.created));
    outputs.insert("updated".into(), s(t.total.updated));
    outputs.insert("unchanged".into(), s(t.total.unchanged));
    outputs.insert("skipped".into(), s(t.total.skipped));
    outputs.insert("failed".into(), s(t.total.failed));
    outputs.insert(
        "kinds".into(),
        OutputValue::Map(
            t.kinds
                .iter()
                .map(|(k, c)| (k.clone(), (c.created + c.updated + c.unchanged).to_string()))
                .collect(),
        ),
    );
    Ok(outputs)
}

/// The restore the inputs ask for, into `conn` from `store`.
pub(crate) fn request<'a>(
    i: &Inputs,
    ctx: &StepCtx<'_>,
    conn: &'a ClusterConn,
    store: &'a Store,
) -> Result<crate::restore::RestoreRequest<'a>, ActionError> {
    let parallelism = match &i.parallelism {
        Some(p) => p.value("parallelism")?,
        None => 16,
    };
    Ok(crate::restore::RestoreRequest {
        conn,
        store,
        backup: i.backup.clone(),
        runbook: ctx.run.runbook_name().to_string(),
        namespaces: i.namespaces.clone(),
        exclude_namespaces: i.exclude_namespaces.clone(),
        include_resources: i.include_resources.clone(),
        exclude_resources: i.exclude_resources.clone(),
        label_selector: i.label_selector.clone(),
        namespace_mapping: i.namespace_mapping.clone(),
        existing: i.existing,
        parallelism: usize::try_from(parallelism).unwrap_or(16),
        fail_fast: i.fail_fast.value("fail_fast")?,
        restore_status: i.restore_status.value("restore_status")?,
        keep_node_ports: i.keep_node_ports.value("keep_node_ports")?,
        verify: i.verify,
        on_drift: drift_events(ctx),
        transforms: std::sync::Arc::new(
            Transforms::new(&i.storage_class_mapping, &i.modifiers).map_err(ActionError::Inputs)?,
        ),
        backend_timeout: super::duration_or(
            &i.backend_timeout,
            "backend_timeout",
            DEFAULT_BACKEND_TIMEOUT,
        )?,
        identities: ctx.run.identities(&i.store.value)?,
        trust: ctx.run.trust(&i.store.value)?,
        progress: ctx.progress(),
        on_object: object_results(ctx),
        done: ctx
            .checkpoints()
            .iter()
            .rev()
            .find_map(|c| serde_json::from_value(c.clone()).ok()),
        on_tier_done: {
            let checkpoint = ctx.checkpointer();
            std::sync::Arc::new(move |done| {
                if let Ok(data) = serde_json::to_value(done) {
                    checkpoint(data);
                }
            })
        },
    })
}

/// The failure of a verification that found drift: counts and the first objects.
pub(crate) fn drift_message(drift: &DriftTally, backup_id: &str) -> String {
    let first: Vec<String> = drift
        .first
        .iter()
        .take(3)
        .map(ToString::to_string)
        .collect();
    format!(
        "{} of {} objects read back differ from backup {backup_id} ({} missing, {} changed); first: {}",
        drift.total(),
        drift.checked,
        drift.missing,
        drift.drifted,
        first.join("; ")
    )
}

/// A callback for what reading back finds: each drifted or missing object as an
/// `ObjectDrift` event.
pub(crate) fn drift_events(
    ctx: &StepCtx<'_>,
) -> std::sync::Arc<dyn Fn(&ObjectDrift) + Send + Sync> {
    let step = ctx.step.to_string();
    let sink = ctx.run.sink.clone();
    std::sync::Arc::new(move |d: &ObjectDrift| {
        sink.emit(&Event::ObjectDrift {
            step: step.clone(),
            kind: d.kind.clone(),
            name: d.name.clone(),
            missing: d.missing,
            fields: d.fields.clone(),
        });
    })
}

/// A callback for restore's per-object outcomes: every object in a dry run, failed
/// ones otherwise, each as an `ObjectResult` event.
fn object_results(ctx: &StepCtx<'_>) -> ObjectReport {
    let step = ctx.step.to_string();
    let sink = ctx.run.sink.clone();
    // A dry run reports every object (what would happen to it), a run its failures.
    let dry_run = ctx.dry_run();
    std::sync::Arc::new(move |kind, name, outcome, changes| {
        let (result, reason) = match outcome {
            Outcome::Created => ("created", None),
            Outcome::Updated => ("updated", None),
            Outcome::Unchanged => ("unchanged", None),
            Outcome::Skipped(why) => ("skipped", Some(why.clone())),
            Outcome::Failed(why) => ("failed", Some(why.clone())),
        };
        if dry_run || result == "failed" {
            sink.emit(&Event::ObjectResult {
                step: step.clone(),
                kind: kind.to_string(),
                name: name.to_string(),
                result: result.to_string(),
                reason,
                dry_run,
                changes: changes.to_vec(),
            });
        }
    })
}
