//! `patch`: changes one object with a JSON merge patch or a JSON patch; undo re-applies
//! the object as it was.

use schemars::JsonSchema;
use serde::Deserialize;

use super::{CheckInputs, Output, exactly_one_of, out};
use crate::runbook::de::DeError;
use crate::runbook::node::Node;

pub const NAME: &str = "patch";
pub const SUMMARY: &str = "Patch one object (JSON merge patch or JSON patch).";
pub const ON_CLUSTER: bool = true;
pub const SELF_UNDO: Option<&str> = Some("re-applies the object as it was before the patch");
pub const DRY_RUN: &str = "sends the patch with dryRun=All and shows the fields that would change";
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
