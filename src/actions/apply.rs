//! `apply`: server-side apply of manifests written inline or kept in files.

use schemars::JsonSchema;
use serde::Deserialize;

use super::{CheckInputs, Output, exactly_one_of, non_empty, out};
use crate::runbook::de::DeError;
use crate::runbook::node::Node;

pub const NAME: &str = "apply";
pub const SUMMARY: &str = "Server-side apply manifests (inline or from files).";
pub const ON_CLUSTER: bool = true;
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
    pub force: bool,
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
