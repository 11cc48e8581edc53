//! The confirmation an operator gives before a step that changes a real cluster (SPEC
//! section 1: "a confirmation before each destructive step, skipped with `--yes`").
//! Asked on the terminal before the step's first attempt, for the actions listed in
//! `CONFIRMED`; never for a dry run, with `--yes` or `--approve STEP`, for steps on a
//! `sandbox:` cluster (nothing real is at stake), or without a terminal (a scheduled
//! drill: the runbook is the intent; `approve` steps are the gates that always ask).

use std::io::IsTerminal;

use super::context::RunContext;
use super::progress;
use crate::actions::ActionError;
use crate::runbook::model::Step;

/// Actions that change or remove what a cluster runs, run containers in it (`job`), or
/// run a local program.
const CONFIRMED: &[&str] = &[
    "delete",
    "scale",
    "patch",
    "apply",
    "restore",
    "job",
    "exec_local",
];

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
    if !CONFIRMED.contains(&uses)
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
    if progress::ask(&question).await? {
        Ok(())
    } else {
        Err(ActionError::NotConfirmed(format!(
            "not confirmed at the terminal (answer y, or run with --yes or --approve {id})"
        )))
    }
}
