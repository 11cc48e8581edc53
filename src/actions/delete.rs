//! `delete`: deletes objects by name or label selector.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{CheckInputs, Output, exactly_one_of, out};
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
