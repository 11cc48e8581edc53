//! `snapshot`: CSI VolumeSnapshots of selected PVCs, waited until readyToUse.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{CheckInputs, Output, exactly_one_of, map_out, out};
use crate::cluster::{discovery, objects};
use crate::context::{ActionError, StepCtx};
use crate::events::{OutputValue, Outputs};
use crate::runbook::de::{DeError, Spanned};
use crate::runbook::model::{Duration, OrExpr};
use crate::runbook::node::Node;

pub const NAME: &str = "snapshot";
pub const SUMMARY: &str = "Take CSI VolumeSnapshots of PVCs and wait until they are readyToUse.";
pub const ON_CLUSTER: bool = true;
pub const CONFIRM: bool = false;
pub const SELF_UNDO: Option<&str> = None;
pub const DRY_RUN: &str = "creates the VolumeSnapshots with dryRun=All and lists them";
pub const OUTPUTS: &[Output] = &[
    map_out("snapshots", "VolumeSnapshot name per PVC"),
    out("count", "snapshots taken"),
];

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "SnapshotInputs")]
pub struct Inputs {
    pub namespace: String,
    /// PVC names.
    #[serde(default)]
    pub pvcs: Option<Vec<String>>,
    /// PVCs matching a label selector.
    #[serde(default)]
    pub selector: Option<String>,
    /// VolumeSnapshotClass (default: the cluster's default class).
    #[serde(default)]
    pub snapshot_class: Option<String>,
    /// Give up waiting for readyToUse after this long (default 10m).
    #[serde(default)]
    pub timeout: Option<Spanned<OrExpr<Duration>>>,
}

impl CheckInputs for Inputs {
    fn check(&self, with: &Node) -> Vec<DeError> {
        exactly_one_of(with, &["pvcs", "selector"])
            .into_iter()
            .collect()
    }
}

/// How often snapshots are read again while waiting.
const POLL: std::time::Duration = std::time::Duration::from_millis(250);
const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// Creates one VolumeSnapshot per selected PVC (named after the PVC, the step and the
/// run, so a re-run finds its own) and waits until every one is readyToUse.
pub async fn execute(i: &Inputs, ctx: &StepCtx<'_>) -> Result<Outputs, ActionError> {
    let conn = ctx.cluster().await?;
    let pvc_type = discovery::resolve(&conn, "PersistentVolumeClaim", Some("v1")).await?;
    let snap_type = discovery::resolve(&conn, "VolumeSnapshot", Some("snapshot.storage.k8s.io/v1"))
        .await
        .map_err(|_| {
            ActionError::Failed(format!(
                "{} serves no VolumeSnapshot (snapshot.storage.k8s.io/v1): install the CSI snapshot CRDs and controller",
                conn.describe()
            ))
        })?;
    let ns = i.namespace.as_str();
    let pvcs: Vec<String> = match (&i.pvcs, &i.selector) {
        (Some(names), _) => names.clone(),
        (None, Some(sel)) => objects::list_all(&conn, &pvc_type, Some(ns), Some(sel))
            .await?
            .iter()
            .filter_map(|o| {
                o.pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .collect(),
        (None, None) => Vec::new(),
    };
    if pvcs.is_empty() {
        return Err(ActionError::Failed(format!(
            "no PersistentVolumeClaim to snapshot in namespace {ns}"
        )));
    }
    let mut snapshots = BTreeMap::new();
    for pvc in &pvcs {
        if objects::get(&conn, &pvc_type, Some(ns), pvc)
            .await?
            .is_none()
        {
            return Err(ActionError::Failed(format!(
                "PersistentVolumeClaim {ns}/{pvc} does not exist"
            )));
        }
        let name = snapshot_name(pvc, ctx.step, &ctx.run.run_id);
        let mut spec = json!({ "source": { "persistentVolumeClaimName": pvc } });
        if let Some(class) = &i.snapshot_class {
            spec["volumeSnapshotClassName"] = Value::String(class.clone());
        }
        let body = json!({
            "apiVersion": "snapshot.storage.k8s.io/v1",
            "kind": "VolumeSnapshot",
            "metadata": { "name": name, "namespace": ns, "labels": { "lifeboat.dev/run": ctx.run.run_id } },
            "spec": spec,
        });
        match objects::create(&conn, &snap_type, Some(ns), &body).await {
            Ok(_) => {}
            // Taken by this step before a resume.
            Err(e) if e.code() == Some(409) => {}
            Err(e) => return Err(e.into()),
        }
        snapshots.insert(pvc.clone(), name);
    }
    // A dry run made no snapshot that could become ready.
    if !ctx.dry_run() {
        let timeout = super::duration_or(&i.timeout, "timeout", DEFAULT_TIMEOUT)?;
        let started = std::time::Instant::now();
        loop {
            let mut waiting = Vec::new();
            for name in snapshots.values() {
                let snap = objects::get(&conn, &snap_type, Some(ns), name).await?;
                if let Some(error) = snap
                    .as_ref()
                    .and_then(|s| s.pointer("/status/error/message"))
                    .and_then(Value::as_str)
                {
                    return Err(ActionError::Failed(format!(
                        "VolumeSnapshot {ns}/{name} failed: {error}"
                    )));
                }
                let ready = snap
                    .as_ref()
                    .and_then(|s| s.pointer("/status/readyToUse"))
                    .and_then(Value::as_bool)
                    == Some(true);
                if !ready {
                    waiting.push(name.clone());
                }
            }
            if waiting.is_empty() {
                break;
            }
            if started.elapsed() >= timeout {
                return Err(ActionError::Failed(format!(
                    "timed out after {}: not readyToUse yet: {}",
                    Duration(timeout),
                    waiting.join(", ")
                )));
            }
            tokio::time::sleep(POLL).await;
        }
    }
    let mut outputs = Outputs::new();
    outputs.insert(
        "count".into(),
        OutputValue::Str(snapshots.len().to_string()),
    );
    outputs.insert("snapshots".into(), OutputValue::Map(snapshots));
    Ok(outputs)
}

/// `<pvc>-<step>-<run id>`, shortened to a valid object name.
fn snapshot_name(pvc: &str, step: &str, run_id: &str) -> String {
    let name = format!("{pvc}-{step}-{run_id}")
        .to_ascii_lowercase()
        .replace('_', "-");
    let name: String = name.chars().take(253).collect();
    name.trim_end_matches('-').to_string()
}
