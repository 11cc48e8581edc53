//! `sleep`: waits a fixed time (to let caches expire or DNS settle).

use schemars::JsonSchema;
use serde::Deserialize;

use super::{CheckInputs, Output};
use crate::context::{ActionError, StepCtx};
use crate::events::Outputs;
use crate::runbook::de::Spanned;
use crate::runbook::model::{Duration, OrExpr};

pub const NAME: &str = "sleep";
pub const SUMMARY: &str = "Wait a fixed time.";
pub const ON_CLUSTER: bool = false;
pub const CONFIRM: bool = false;
pub const SELF_UNDO: Option<&str> = None;
pub const DRY_RUN: &str = "does not wait";
pub const OUTPUTS: &[Output] = &[];

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "SleepInputs")]
pub struct Inputs {
    pub duration: Spanned<OrExpr<Duration>>,
}

impl CheckInputs for Inputs {}

/// Waits (not in dry-run).
pub async fn execute(i: &Inputs, ctx: &StepCtx<'_>) -> Result<Outputs, ActionError> {
    // A dry run does not wait.
    if !ctx.dry_run() {
        tokio::time::sleep(i.duration.value.value("duration")?.0).await;
    }
    Ok(Outputs::new())
}
