//! The confirmation an operator gives before a step that changes a real cluster (SPEC
//! section 1: "a confirmation before each destructive step, skipped with `--yes`").
//! Asked on the terminal before the step's first attempt, for the actions that declare
//! `CONFIRM` in the registry; never for a dry run, with `--yes` or `--approve STEP`,
//! for steps on a `sandbox:` cluster (nothing real is at stake), or without a terminal
//! (a scheduled drill: the runbook is the intent; `approve` steps are the gates that
//! always ask).

use std::io::IsTerminal;

use crate::actions;
use crate::context::{ActionError, RunContext};
use crate::runbook::model::Step;
use crate::terminal;

/// Asks before `step` when it needs a confirmation; `Err` when the operator says no.
pub async fn before(
    run: &RunContext<'_>,
    step: &Step,
    cluster: Option<&str>,
) -> Result<(), ActionError> {
    let id = step.head.id.value.0.as_str();
    let uses = step.head.uses.value.as_str();
    let on_sandbox = cluster.is_some_and(|c| {
        run.loaded
            .runbook
            .clusters
            .get(c)
            .is_some_and(|m| m.sandbox.is_some())
    });
    if !actions::find(uses).is_some_and(|a| a.confirm)
        || run.yes
        || run.dry_run
        || run.approve.iter().any(|s| s == id)
        || on_sandbox
        || !std::io::stdin().is_terminal()
    {
        return Ok(());
    }
    let what = step
        .head
        .name
        .as_ref()
        .map(|n| format!(" ({})", n.value))
        .unwrap_or_default();
    let on = cluster
        .map(|c| format!(" on cluster `{c}`"))
        .unwrap_or_default();
    let question = format!("step `{id}`{what} runs {uses}{on}. Go on? [y/N] ");
    if terminal::ask(&question)
        .await
        .map_err(ActionError::Failed)?
    {
        Ok(())
    } else {
        Err(ActionError::NotConfirmed(format!(
            "not confirmed at the terminal (answer y, or run with --yes or --approve {id})"
        )))
    }
}
