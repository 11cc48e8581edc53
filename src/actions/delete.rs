//! `delete`: deletes objects by name or label selector.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ActionError, CheckInputs, Output, exactly_one_of, out};
use crate::cluster::{discovery, objects};
use crate::engine::context::StepCtx;
use crate::engine::events::{OutputValue, Outputs};
use crate::runbook::de::DeError;
use crate::runbook::node::Node;

pub const NAME: &str = "delete";
pub const SUMMARY: &str = "Delete objects by name or label selector.";
pub const ON_CLUSTER: bool = true;
pub const SELF_UNDO: Option<&str> = None;
pub const DRY_RUN: &str = "sends the deletes with dryRun=All and lists what would be deleted";
pub const OUTPUTS: &[Output] = &[out("deleted", "objects deleted")];

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "DeleteInputs")]
pub struct Inputs {
    pub kind: String,
    #[serde(default)]
    pub api_version: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub selector: Option<String>,
    /// How dependents are deleted.
    #[serde(default)]
    pub propagation: Propagation,
    /// Succeed when nothing matches (default true: delete is idempotent).
    #[serde(default = "yes")]
    pub ignore_missing: bool,
}

fn yes() -> bool {
    true
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema)]
pub enum Propagation {
    #[default]
    Background,
    Foreground,
    Orphan,
}

impl CheckInputs for Inputs {
    fn check(&self, with: &Node) -> Vec<DeError> {
        exactly_one_of(with, &["name", "selector"])
            .into_iter()
            .collect()
    }
}

/// Deletes the object named, or every object matching the selector. Nothing to
/// delete is success unless `ignore_missing: false`.
pub async fn execute(i: &Inputs, ctx: &StepCtx<'_>) -> Result<Outputs, ActionError> {
    let conn = ctx.cluster().await?;
    let rtype = discovery::resolve(&conn, &i.kind, i.api_version.as_deref()).await?;
    let ns = match (rtype.namespaced, i.namespace.as_deref()) {
        (true, Some(ns)) => Some(ns),
        (true, None) => {
            return Err(ActionError::Inputs(format!(
                "{} is namespaced: give `namespace`",
                rtype.kind
            )));
        }
        (false, _) => None,
    };
    let names: Vec<String> = match (&i.name, &i.selector) {
        (Some(name), _) => vec![name.clone()],
        (None, Some(sel)) => objects::list_all(&conn, &rtype, ns, Some(sel))
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
    let propagation = match i.propagation {
        Propagation::Background => "Background",
        Propagation::Foreground => "Foreground",
        Propagation::Orphan => "Orphan",
    };
    let mut deleted = 0u64;
    for name in &names {
        if objects::delete(&conn, &rtype, ns, name, propagation, ctx.run.dry_run).await? {
            deleted += 1;
        }
    }
    if deleted == 0 && !i.ignore_missing {
        let what = match (&i.name, &i.selector) {
            (Some(n), _) => format!("{} {}", rtype.kind, objects::object_name(ns, n)),
            (None, Some(sel)) => format!("no {} matches `{sel}`", rtype.kind),
            _ => rtype.kind.clone(),
        };
        return Err(ActionError::Failed(format!(
            "nothing to delete: {what} does not exist (ignore_missing: false)"
        )));
    }
    let mut outputs = Outputs::new();
    outputs.insert("deleted".into(), OutputValue::Str(deleted.to_string()));
    Ok(outputs)
}
