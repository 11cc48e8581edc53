//! `apply`: server-side apply of manifests written inline or kept in files.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{CheckInputs, Output, exactly_one_of, non_empty, out};
use crate::cluster::{ClusterConn, ResourceType, discovery, objects};
use crate::context::{ActionError, StepCtx};
use crate::events::{OutputValue, Outputs};
use crate::runbook::de::DeError;
use crate::runbook::model::OrExpr;
use crate::runbook::node::Node;

pub const NAME: &str = "apply";
pub const SUMMARY: &str = "Server-side apply manifests (inline or from files).";
pub const ON_CLUSTER: bool = true;
/// Asks the operator at a terminal before it runs: it changes objects in a cluster.
pub const CONFIRM: bool = true;
pub const SELF_UNDO: Option<&str> =
    Some("deletes the objects it created and re-applies the previous version of those it changed");
pub const DRY_RUN: &str =
    "applies with dryRun=All and reports per object: would create, update or leave unchanged";
pub const OUTPUTS: &[Output] = &[
    out("applied", "objects applied"),
    out("created", "objects that did not exist before"),
    out("updated", "objects that changed"),
];

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "ApplyInputs")]
pub struct Inputs {
    /// Manifests written inline (Kubernetes objects as YAML).
    #[serde(default)]
    pub manifests: Option<Vec<serde_json::Value>>,
    /// Manifest files or folders (relative to the runbook's folder).
    #[serde(default)]
    pub files: Option<Vec<String>>,
    /// Namespace for namespaced objects that name none.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Field manager name (default `lifeboat`).
    #[serde(default)]
    pub field_manager: Option<String>,
    /// Take over fields owned by other managers.
    #[serde(default)]
    pub force: OrExpr<bool>,
}

impl CheckInputs for Inputs {
    fn check(&self, with: &Node) -> Vec<DeError> {
        [
            exactly_one_of(with, &["manifests", "files"]),
            non_empty(with, "manifests"),
            non_empty(with, "files"),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// Server-side applies each object (inline or read from files), recording for undo
/// which ones it created and how the others were before.
pub async fn execute(i: &Inputs, ctx: &StepCtx<'_>) -> Result<Outputs, ActionError> {
    let conn = ctx.cluster().await?;
    let objects_to_apply = manifests(i, ctx)?;
    let manager = i
        .field_manager
        .clone()
        .unwrap_or_else(|| objects::FIELD_MANAGER.to_string());
    let (mut created, mut updated) = (0u64, 0u64);
    let mut undo = Vec::new();
    for mut object in objects_to_apply {
        let (rtype, ns, name) = identify(&conn, &mut object, i.namespace.as_deref()).await?;
        let before = objects::get(&conn, &rtype, ns.as_deref(), &name).await?;
        let after = objects::apply_as(
            &conn,
            &rtype,
            ns.as_deref(),
            &name,
            &object,
            &manager,
            i.force.value("force")?,
        )
        .await?;
        match &before {
            None => created += 1,
            Some(b) if objects::comparable(b) != objects::comparable(&after) => updated += 1,
            Some(_) => {}
        }
        undo.push(json!({
            "kind": rtype.kind, "api_version": rtype.api_version(), "namespace": ns, "name": name,
            "before": before.filter(|b| b.get("kind").and_then(Value::as_str) != Some("Secret")),
        }));
    }
    ctx.set_undo_state(Value::Array(undo.clone()));
    let mut outputs = Outputs::new();
    outputs.insert("applied".into(), OutputValue::Str(undo.len().to_string()));
    outputs.insert("created".into(), OutputValue::Str(created.to_string()));
    outputs.insert("updated".into(), OutputValue::Str(updated.to_string()));
    Ok(outputs)
}

/// Undo: deletes what the step created and puts back what it changed.
pub async fn undo(state: Option<&Value>, ctx: &StepCtx<'_>) -> Result<Outputs, ActionError> {
    let entries = state
        .and_then(Value::as_array)
        .ok_or_else(|| ActionError::Failed("the step recorded nothing to undo".into()))?;
    let conn = ctx.cluster().await?;
    for e in entries.iter().rev() {
        let text = |k: &str| e.get(k).and_then(Value::as_str).map(str::to_string);
        let (Some(kind), Some(name)) = (text("kind"), text("name")) else {
            continue;
        };
        let rtype = discovery::resolve(&conn, &kind, text("api_version").as_deref()).await?;
        let ns = text("namespace");
        match e.get("before").filter(|b| !b.is_null()) {
            None => {
                objects::delete(&conn, &rtype, ns.as_deref(), &name, "Background").await?;
            }
            Some(before) => {
                let current = objects::get(&conn, &rtype, ns.as_deref(), &name).await?;
                let mut body = before.clone();
                if let Some(meta) = body.get_mut("metadata").and_then(Value::as_object_mut) {
                    meta.remove("managedFields");
                    match current
                        .as_ref()
                        .and_then(|c| c.pointer("/metadata/resourceVersion"))
                    {
                        Some(rv) => {
                            meta.insert("resourceVersion".into(), rv.clone());
                        }
                        None => {
                            meta.remove("resourceVersion");
                        }
                    }
                }
                if current.is_some() {
                    objects::replace(&conn, &rtype, ns.as_deref(), &name, &body).await?;
                } else {
                    objects::create(&conn, &rtype, ns.as_deref(), &body).await?;
                }
            }
        }
    }
    Ok(Outputs::new())
}

/// The objects to apply: inline, or read from files and folders (relative to the
/// runbook's folder).
fn manifests(i: &Inputs, ctx: &StepCtx<'_>) -> Result<Vec<Value>, ActionError> {
    if let Some(inline) = &i.manifests {
        return Ok(inline.clone());
    }
    let mut out = Vec::new();
    for f in i.files.iter().flatten() {
        let path = ctx.run.base.join(f);
        let read = kube_resources::read_manifests(&path)
            .map_err(|e| ActionError::Inputs(format!("`files`: {e}")))?;
        out.extend(read.into_iter().map(|m| m.object));
    }
    Ok(out)
}

/// The resource type, namespace and name of a manifest (the namespace filled in
/// from `namespace` when a namespaced object names none).
async fn identify(
    conn: &ClusterConn,
    object: &mut Value,
    default_ns: Option<&str>,
) -> Result<(ResourceType, Option<String>, String), ActionError> {
    let field = |k: &str| object.get(k).and_then(Value::as_str).map(str::to_string);
    let (Some(api_version), Some(kind)) = (field("apiVersion"), field("kind")) else {
        return Err(ActionError::Inputs(
            "a manifest without `apiVersion` and `kind`".into(),
        ));
    };
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| ActionError::Inputs(format!("a {kind} manifest without `metadata.name`")))?;
    let rtype = discovery::resolve(conn, &kind, Some(&api_version)).await?;
    let ns = if rtype.namespaced {
        let ns = object
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| default_ns.map(str::to_string))
            .ok_or_else(|| {
                ActionError::Inputs(format!(
                    "{kind} {name} names no namespace: give `namespace`"
                ))
            })?;
        if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("namespace".into(), Value::String(ns.clone()));
        }
        Some(ns)
    } else {
        None
    };
    Ok((rtype, ns, name))
}
