//! `sleep`: waits a fixed time (to let caches expire or DNS settle).

use schemars::JsonSchema;
use serde::Deserialize;

use super::{CheckInputs, Output};
use crate::runbook::de::Spanned;
use crate::runbook::model::Duration;

pub const NAME: &str = "sleep";
pub const SUMMARY: &str = "Wait a fixed time.";
pub const ON_CLUSTER: bool = false;
pub const SELF_UNDO: Option<&str> = None;
pub const DRY_RUN: &str = "does not wait";
pub const OUTPUTS: &[Output] = &[];

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "SleepInputs")]
pub struct Inputs {
    pub duration: Spanned<Duration>,
}

impl CheckInputs for Inputs {}
