//! `verify_restore`: checks, later, that a cluster holds what a restore of a backup put
//! there: every object the restore would write (same filters, strip rules, namespace
//! mapping and transforms) is read back and compared with the backup. Writes nothing.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use super::restore::{Inputs as RestoreInputs, drift_events, drift_message, request};
use super::{CheckInputs, IntOrExpr, Output, out};
use crate::context::{ActionError, StepCtx};
use crate::events::{OutputValue, Outputs};
use crate::restore::transform::Modifier;
use crate::restore::verify::VerifyMode;
use crate::runbook::de::{DeError, Spanned};
use crate::runbook::model::OrExpr;
use crate::runbook::node::Node;

pub const NAME: &str = "verify_restore";
pub const SUMMARY: &str = "Check that a cluster holds what a restore of a backup put there.";
pub const ON_CLUSTER: bool = true;
/// It only reads.
pub const CONFIRM: bool = false;
pub const SELF_UNDO: Option<&str> = None;
pub const DRY_RUN: &str = "reads and compares as in a run (it writes nothing)";
pub const OUTPUTS: &[Output] = &[
    out("backup_id", "id of the backup compared (resolves `latest`)"),
    out("verified", "objects read back and compared"),
    out("drift", "objects missing or different from the backup"),
    out("missing", "objects not in the cluster"),
    out(
        "changed",
        "objects in the cluster that differ from the backup",
    ),
];

/// Which restore to check: the inputs of that `restore` step that decide what it
/// writes, and whether drift fails the step.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "VerifyRestoreInputs")]
pub struct Inputs {
    /// The store the backup is in (a name under `stores:`).
    pub store: Spanned<String>,
    /// Backup id, or `latest` (the newest complete backup of this runbook in the store).
    #[serde(default = "latest")]
    pub backup: String,
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
    #[serde(default)]
    pub namespace_mapping: BTreeMap<String, String>,
    #[serde(default)]
    pub storage_class_mapping: BTreeMap<String, String>,
    #[serde(default)]
    pub modifiers: Vec<Modifier>,
    /// As the restore was told (node ports are compared only when kept).
    #[serde(default)]
    pub keep_node_ports: OrExpr<bool>,
    /// Objects read at once (default 16).
    #[serde(default)]
    pub parallelism: Option<IntOrExpr>,
    /// Record drift without failing the step (default false: drift fails it).
    #[serde(default)]
    pub report_only: OrExpr<bool>,
}

fn latest() -> String {
    "latest".to_string()
}

impl Inputs {
    /// The restore whose result this checks.
    pub fn as_restore(&self) -> Result<RestoreInputs, ActionError> {
        Ok(RestoreInputs {
            store: self.store.clone(),
            backup: self.backup.clone(),
            namespaces: self.namespaces.clone(),
            exclude_namespaces: self.exclude_namespaces.clone(),
            include_resources: self.include_resources.clone(),
            exclude_resources: self.exclude_resources.clone(),
            label_selector: self.label_selector.clone(),
            namespace_mapping: self.namespace_mapping.clone(),
            existing: Default::default(),
            parallelism: self.parallelism.clone(),
            fail_fast: OrExpr::Value(false),
            restore_status: OrExpr::Value(false),
            keep_node_ports: self.keep_node_ports.clone(),
            backend_timeout: None,
            storage_class_mapping: self.storage_class_mapping.clone(),
            modifiers: self.modifiers.clone(),
            verify: if self.report_only.value("report_only")? {
                VerifyMode::Report
            } else {
                VerifyMode::Fail
            },
        })
    }
}

impl CheckInputs for Inputs {
    fn stores(&self) -> Vec<&Spanned<String>> {
        vec![&self.store]
    }
    fn check(&self, with: &Node) -> Vec<DeError> {
        // The same rules as the restore's (parallelism, transforms).
        match self.as_restore() {
            Ok(r) => r.check(with),
            Err(_) => Vec::new(),
        }
    }
}

/// Reads back and compares; fails on drift unless `report_only`.
pub async fn execute(i: &Inputs, ctx: &StepCtx<'_>) -> Result<Outputs, ActionError> {
    let conn = ctx.cluster().await?;
    let store = ctx.run.store(&i.store.value).await?;
    let restore = i.as_restore()?;
    // Named in the run lock while it is read: no prune deletes it meanwhile.
    let reading = ctx.reading_backup(&store, &i.backup).await?;
    let mut req = request(&restore, ctx, &conn, &store)?;
    req.backup = reading.backup_id().to_string();
    // Nothing here is a restore's: no checkpoints to resume from, no outcomes.
    req.done = None;
    req.on_object = std::sync::Arc::new(|_, _, _, _| {});
    req.on_tier_done = std::sync::Arc::new(|_| {});
    req.on_drift = drift_events(ctx);
    let summary = crate::restore::verify(req).await?;
    reading.done(ctx).await;
    let drift = summary.drift.unwrap_or_default();
    if restore.verify == VerifyMode::Fail && drift.total() > 0 {
        return Err(ActionError::Failed(drift_message(
            &drift,
            &summary.backup_id,
        )));
    }
    let s = |v: u64| OutputValue::Str(v.to_string());
    let mut outputs = Outputs::new();
    outputs.insert("backup_id".into(), OutputValue::Str(summary.backup_id));
    outputs.insert("verified".into(), s(drift.checked));
    outputs.insert("drift".into(), s(drift.total()));
    outputs.insert("missing".into(), s(drift.missing));
    outputs.insert("changed".into(), s(drift.drifted));
    Ok(outputs)
}
