//! `exec_local`: runs a local program from an argv list, never through a shell, so
//! parameters cannot inject arguments or commands.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use super::{CheckInputs, Output, non_empty, out};
use crate::runbook::de::{DeError, Spanned};
use crate::runbook::model::Duration;
use crate::runbook::node::Node;

pub const NAME: &str = "exec_local";
pub const SUMMARY: &str = "Run a local program (argv list, no shell).";
pub const ON_CLUSTER: bool = false;
pub const SELF_UNDO: Option<&str> = None;
pub const DRY_RUN: &str = "prints the argv that would run; runs nothing";
pub const OUTPUTS: &[Output] = &[
    out("exit_code", "the program's exit code"),
    out("stdout", "standard output (truncated to 64 KiB)"),
    out("stderr", "standard error (truncated to 64 KiB)"),
];

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "ExecLocalInputs")]
pub struct Inputs {
    /// Program and arguments; each entry is exactly one argument.
    pub argv: Vec<String>,
    /// Extra environment variables.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Working folder (relative to the runbook's folder).
    #[serde(default)]
    pub cwd: Option<String>,
    /// Kill the program after this long.
    #[serde(default)]
    pub timeout: Option<Spanned<Duration>>,
}

impl CheckInputs for Inputs {
    fn check(&self, with: &Node) -> Vec<DeError> {
        non_empty(with, "argv").into_iter().collect()
    }
}
