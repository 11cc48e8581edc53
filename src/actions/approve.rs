//! `approve`: asks a human to confirm before the run goes on.

use schemars::JsonSchema;
use serde::Deserialize;

use super::{CheckInputs, Output, out};

pub const NAME: &str = "approve";
pub const SUMMARY: &str = "Ask a human to confirm before going on (skipped with --yes).";
pub const ON_CLUSTER: bool = false;
pub const SELF_UNDO: Option<&str> = None;
pub const DRY_RUN: &str = "shows the question and goes on without asking";
pub const OUTPUTS: &[Output] = &[out(
    "approved_by",
    "who approved: the user at the terminal, or `--yes`",
)];

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "ApproveInputs")]
pub struct Inputs {
    /// The question shown to the operator.
    pub message: String,
}

impl CheckInputs for Inputs {}
