//! `approve`: asks a human to confirm before the run goes on.

use schemars::JsonSchema;
use serde::Deserialize;

use super::{CheckInputs, Output, out};
use crate::context::{ActionError, StepCtx};
use crate::events::{OutputValue, Outputs};

pub const NAME: &str = "approve";
pub const SUMMARY: &str = "Ask a human to confirm before going on (skipped with --yes).";
pub const ON_CLUSTER: bool = false;
pub const CONFIRM: bool = false;
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

/// Asks on the terminal; `--yes` (or dry-run) answers for the operator. Without a
/// terminal and without `--yes` the step fails: nobody is there to answer.
pub async fn execute(i: &Inputs, ctx: &StepCtx<'_>) -> Result<Outputs, ActionError> {
    use std::io::IsTerminal;
    let mut outputs = Outputs::new();
    let named = ctx.run.approve.iter().any(|s| s == ctx.step);
    // A dry run asks nobody: it shows the question and goes on.
    if ctx.run.yes || named || ctx.dry_run() {
        let by = if ctx.run.yes {
            "--yes"
        } else if named {
            "--approve"
        } else {
            "dry run"
        };
        outputs.insert("approved_by".into(), OutputValue::Str(by.into()));
        return Ok(outputs);
    }
    if !std::io::stdin().is_terminal() {
        return Err(ActionError::Failed(format!(
            "approval needed (\"{}\") but there is no terminal to ask: approve it with --approve {} (or everything with --yes)",
            i.message, ctx.step
        )));
    }
    if crate::terminal::ask(&format!("{} [y/N] ", i.message))
        .await
        .map_err(ActionError::Failed)?
    {
        let who = std::env::var("USER").unwrap_or_else(|_| "the operator".into());
        outputs.insert("approved_by".into(), OutputValue::Str(who));
        Ok(outputs)
    } else {
        Err(ActionError::Failed("not approved".into()))
    }
}
