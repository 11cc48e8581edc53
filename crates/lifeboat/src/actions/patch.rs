//! `patch`: changes one object with a JSON merge patch or a JSON patch; undo re-applies
//! the object as it was.

use kube::api::Patch;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::{CheckInputs, Output, exactly_one_of, out};
use crate::runbook::de::DeError;
use crate::runbook::node::Node;

use crate::cluster::select::{Selection, Target, Which};
use crate::cluster::{ClusterConn, objects};
use crate::context::{ActionError, StepCtx};
use crate::events::{OutputValue, Outputs};

pub const NAME: &str = "patch";
pub const SUMMARY: &str = "Patch one object (JSON merge patch or JSON patch).";
pub const ON_CLUSTER: bool = true;
/// Asks the operator at a terminal before it runs: it changes objects in a cluster.
pub const CONFIRM: bool = true;
pub const SELF_UNDO: Option<&str> = Some("re-applies the object as it was before the patch");
pub const DRY_RUN: &str =
    "sends the patch with dryRun=All: the API server checks it, nothing changes";
pub const OUTPUTS: &[Output] = &[out("resource_version", "resourceVersion after the patch")];

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "PatchInputs")]
pub struct Inputs {
    /// Kind of the object, such as `ConfigMap`.
    pub kind: String,
    /// `group/version` (or `v1`) when the kind is ambiguous or a custom resource.
    #[serde(default)]
    pub api_version: Option<String>,
    /// Namespace (omit for cluster-scoped objects).
    #[serde(default)]
    pub namespace: Option<String>,
    pub name: String,
    /// A JSON merge patch (RFC 7386), written as YAML.
    #[serde(default)]
    pub merge: Option<serde_json::Value>,
    /// A JSON patch (RFC 6902): a list of operations.
    #[serde(default)]
    pub json: Option<Vec<JsonPatchOp>>,
}

/// One JSON patch operation.
#[derive(Clone, Debug, Deserialize, serde::Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonPatchOp {
    pub op: JsonPatchVerb,
    pub path: String,
    #[serde(default)]
    pub value: Option<serde_json::Value>,
    #[serde(default)]
    pub from: Option<String>,
}

#[derive(Clone, Copy, Debug, Deserialize, serde::Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum JsonPatchVerb {
    Add,
    Remove,
    Replace,
    Move,
    Copy,
    Test,
}

impl CheckInputs for Inputs {
    fn check(&self, with: &Node) -> Vec<DeError> {
        exactly_one_of(with, &["merge", "json"])
            .into_iter()
            .collect()
    }
}

/// Patches the object and records it as it was, for undo.
pub async fn execute(i: &Inputs, ctx: &StepCtx<'_>) -> Result<Outputs, ActionError> {
    let conn = ctx.cluster().await?;
    let selection = select(i, &conn).await?;
    let (rtype, ns) = (selection.rtype(), selection.namespace());
    let Some(before) = selection.objects(&conn).await?.pop() else {
        return Err(selection.not_found(&conn).into());
    };
    let patch = match (&i.merge, &i.json) {
        (Some(m), _) => Patch::Merge(m.clone()),
        (None, Some(ops)) => Patch::Json(
            serde_json::from_value(
                serde_json::to_value(ops).map_err(|e| ActionError::Inputs(e.to_string()))?,
            )
            .map_err(|e| ActionError::Inputs(format!("`json`: {e}")))?,
        ),
        (None, None) => {
            return Err(ActionError::Inputs(
                "one of `merge` or `json` is required".into(),
            ));
        }
    };
    let after = objects::patch(&conn, rtype, ns, &i.name, None, &patch).await?;
    ctx.set_undo_state(before);
    let mut outputs = Outputs::new();
    let rv = after
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    outputs.insert("resource_version".into(), OutputValue::Str(rv.to_string()));
    Ok(outputs)
}

/// Undo: puts the object back as it was before the patch (a replace carrying the
/// current resourceVersion, so a change made since is not silently overwritten twice).
pub async fn undo(
    i: &Inputs,
    before: Option<&Value>,
    ctx: &StepCtx<'_>,
) -> Result<Outputs, ActionError> {
    let before = before.ok_or_else(|| {
        ActionError::Failed("the step recorded no earlier version of the object to put back".into())
    })?;
    let conn = ctx.cluster().await?;
    let selection = select(i, &conn).await?;
    let (rtype, ns) = (selection.rtype(), selection.namespace());
    let current = selection.objects(&conn).await?.pop().ok_or_else(|| {
        ActionError::Failed(format!(
            "{} {} no longer exists",
            rtype.kind,
            objects::object_name(ns, &i.name)
        ))
    })?;
    let mut body = before.clone();
    if let Some(meta) = body.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
        meta.insert(
            "resourceVersion".into(),
            current
                .pointer("/metadata/resourceVersion")
                .cloned()
                .unwrap_or(Value::Null),
        );
    }
    objects::replace(&conn, rtype, ns, &i.name, &body).await?;
    Ok(Outputs::new())
}

/// The one object the step names.
async fn select(i: &Inputs, conn: &ClusterConn) -> Result<Selection, ActionError> {
    let target = Target {
        kind: i.kind.clone(),
        api_version: i.api_version.clone(),
        namespace: i.namespace.clone(),
        which: Which::Name(i.name.clone()),
    };
    Ok(target.resolve(conn).await?)
}
