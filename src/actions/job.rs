//! `job`: runs a Kubernetes Job to completion and keeps its logs (database dumps, data
//! checks).

use schemars::JsonSchema;
use serde::Deserialize;

use super::{CheckInputs, Output, out};
use crate::runbook::de::Spanned;
use crate::runbook::model::Duration;

pub const NAME: &str = "job";
pub const SUMMARY: &str = "Run a Kubernetes Job to completion and keep its logs.";
pub const ON_CLUSTER: bool = true;
pub const SELF_UNDO: Option<&str> = None;
pub const DRY_RUN: &str = "creates the Job with dryRun=All (validated, not run)";
pub const OUTPUTS: &[Output] = &[
    out("job_name", "name of the Job created"),
    out("succeeded", "pods that succeeded"),
    out("logs", "the Job's logs (truncated to 64 KiB)"),
];

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "JobInputs")]
pub struct Inputs {
    pub namespace: String,
    /// Name of the Job (default: the step id and the run id).
    #[serde(default)]
    pub name: Option<String>,
    /// The Job's `spec`, as in a Job manifest.
    pub spec: serde_json::Value,
    /// Give up after this long (default 30m).
    #[serde(default)]
    pub timeout: Option<Spanned<Duration>>,
    /// Keep the Job after it completes (default: delete it, logs are kept in the outputs).
    #[serde(default)]
    pub keep: bool,
}

impl CheckInputs for Inputs {}
