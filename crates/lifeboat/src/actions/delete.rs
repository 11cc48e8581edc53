//! `delete`: deletes objects by name or label selector.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{CheckInputs, Output, exactly_one_of, out};
use crate::cluster::objects;
use crate::cluster::select::{Target, Which};
use crate::context::{ActionError, StepCtx};
use crate::events::{OutputValue, Outputs};
use crate::runbook::de::DeError;
use crate::runbook::model::OrExpr;
use crate::runbook::node::Node;

pub const NAME: &str = "delete";
pub const SUMMARY: &str = "Delete objects by name or label selector.";
pub const ON_CLUSTER: bool = true;
/// Asks the operator at a terminal before it runs: it removes objects from a cluster.
pub const CONFIRM: bool = true;
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
    pub ignore_missing: OrExpr<bool>,
}

fn yes() -> OrExpr<bool> {
    OrExpr::Value(true)
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
    let which = Which::from_inputs(i.name.as_deref(), i.selector.as_deref(), false)?;
    let selection = Target {
        kind: i.kind.clone(),
        api_version: i.api_version.clone(),
        namespace: i.namespace.clone(),
        which,
    }
    .resolve(&conn)
    .await?;
    let (rtype, ns) = (selection.rtype(), selection.namespace());
    let names = selection.names(&conn).await?;
    let propagation = match i.propagation {
        Propagation::Background => "Background",
        Propagation::Foreground => "Foreground",
        Propagation::Orphan => "Orphan",
    };
    let mut deleted = 0u64;
    for name in &names {
        if objects::delete(&conn, rtype, ns, name, propagation).await? {
            deleted += 1;
        }
    }
    if deleted == 0 && !i.ignore_missing.value("ignore_missing")? {
        return Err(ActionError::Failed(format!(
            "nothing to delete: {} (ignore_missing: false)",
            selection.not_found(&conn)
        )));
    }
    let mut outputs = Outputs::new();
    outputs.insert("deleted".into(), OutputValue::Str(deleted.to_string()));
    Ok(outputs)
}
