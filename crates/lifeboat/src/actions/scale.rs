//! `scale`: sets the replicas of workloads; records the previous counts so undo can put
//! them back.

use std::collections::BTreeMap;

use kube::api::Patch;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{CheckInputs, IntOrExpr, Output, exactly_one_of, located, map_out};
use crate::cluster::select::{Target, Which};
use crate::cluster::{ClusterConn, ResourceType, discovery, objects};
use crate::context::{ActionError, StepCtx};
use crate::events::{OutputValue, Outputs};
use crate::runbook::de::DeError;
use crate::runbook::node::Node;

pub const NAME: &str = "scale";
pub const SUMMARY: &str =
    "Set the replicas of a Deployment, StatefulSet or ReplicaSet (by name or selector).";
pub const ON_CLUSTER: bool = true;
/// Asks the operator at a terminal before it runs: it changes what a cluster runs.
pub const CONFIRM: bool = true;
pub const SELF_UNDO: Option<&str> =
    Some("sets every workload back to its recorded previous replicas");
pub const DRY_RUN: &str = "shows replicas before → after for each workload, sent with dryRun=All";
pub const OUTPUTS: &[Output] = &[map_out(
    "previous",
    "replicas before the step, by workload name",
)];

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "ScaleInputs")]
pub struct Inputs {
    pub namespace: String,
    /// `Deployment`, `StatefulSet` or `ReplicaSet`.
    pub kind: WorkloadKind,
    /// One workload by name (or use `selector`).
    #[serde(default)]
    pub name: Option<String>,
    /// Every workload matching this label selector (or use `name`).
    #[serde(default)]
    pub selector: Option<String>,
    pub replicas: IntOrExpr,
}

#[derive(Clone, Copy, Debug, Deserialize, serde::Serialize, JsonSchema, PartialEq, Eq)]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
    ReplicaSet,
}

impl CheckInputs for Inputs {
    fn check(&self, with: &Node) -> Vec<DeError> {
        let mut problems: Vec<DeError> = exactly_one_of(with, &["name", "selector"])
            .into_iter()
            .collect();
        if let (Err(m), Some(node)) = (
            self.replicas.check_range(0, 1_000_000),
            with.get("replicas"),
        ) {
            problems.push(located(
                DeError::new(format!("invalid `replicas`: {m}"))
                    .hint("replicas is a count: 0 or more"),
                node,
            ));
        }
        problems
    }
}

/// Sets the replicas through each workload's `/scale` subresource and records what
/// they were.
pub async fn execute(i: &Inputs, ctx: &StepCtx<'_>) -> Result<Outputs, ActionError> {
    let conn = ctx.cluster().await?;
    let replicas = i.replicas.value("replicas")?;
    let which = Which::from_inputs(i.name.as_deref(), i.selector.as_deref(), false)?;
    let selection = Target {
        kind: i.kind.as_str().to_string(),
        api_version: None,
        namespace: Some(i.namespace.clone()),
        which,
    }
    .resolve(&conn)
    .await?;
    // None is an error: a scale that silently does nothing would hide a typo at the
    // worst moment.
    let workloads = selection.objects(&conn).await?;
    if workloads.is_empty() {
        return Err(selection.not_found(&conn).into());
    }
    let rtype = selection.rtype();
    let mut previous = BTreeMap::new();
    for w in &workloads {
        let name = w
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let before = w
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        set_replicas(&conn, rtype, &i.namespace, name, replicas).await?;
        previous.insert(name.to_string(), before.to_string());
    }
    let mut outputs = Outputs::new();
    outputs.insert("previous".into(), OutputValue::Map(previous));
    Ok(outputs)
}

/// Undo: sets every workload of the step's `previous` output back.
pub async fn undo(
    i: &Inputs,
    outputs: &Outputs,
    ctx: &StepCtx<'_>,
) -> Result<Outputs, ActionError> {
    let conn = ctx.cluster().await?;
    let rtype = discovery::resolve(&conn, i.kind.as_str(), None).await?;
    let Some(OutputValue::Map(previous)) = outputs.get("previous") else {
        return Err(ActionError::Failed(
            "the step recorded no previous replicas to restore".into(),
        ));
    };
    for (name, replicas) in previous {
        let replicas: i64 = replicas.parse().map_err(|_| {
            ActionError::Failed(format!(
                "recorded replicas `{replicas}` of {name} is not a number"
            ))
        })?;
        set_replicas(&conn, &rtype, &i.namespace, name, replicas).await?;
    }
    Ok(Outputs::new())
}

async fn set_replicas(
    conn: &ClusterConn,
    rtype: &ResourceType,
    namespace: &str,
    name: &str,
    replicas: i64,
) -> Result<(), ActionError> {
    let body = json!({ "spec": { "replicas": replicas } });
    objects::patch(
        conn,
        rtype,
        Some(namespace),
        name,
        Some("scale"),
        &Patch::Merge(body),
    )
    .await?;
    Ok(())
}

impl WorkloadKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::StatefulSet => "StatefulSet",
            WorkloadKind::ReplicaSet => "ReplicaSet",
        }
    }
}
