//! `scale`: sets the replicas of workloads; records the previous counts so undo can put
//! them back.

use schemars::JsonSchema;
use serde::Deserialize;

use super::{CheckInputs, IntOrExpr, Output, exactly_one_of, located, map_out};
use crate::runbook::de::DeError;
use crate::runbook::node::Node;

pub const NAME: &str = "scale";
pub const SUMMARY: &str =
    "Set the replicas of a Deployment, StatefulSet or ReplicaSet (by name or selector).";
pub const ON_CLUSTER: bool = true;
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
