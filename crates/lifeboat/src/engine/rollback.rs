//! Rollback: after a step fails with `on_failure: rollback`, the `undo` of every
//! completed step runs, newest first. An undo without `uses` is the action's own
//! (`restore_previous`: scale sets replicas back, patch puts the object back); one
//! with `uses` runs that action with its inputs bound, seeing the step's outputs. Each
//! undo is an event; a failed undo does not stop the others.

use std::time::Instant;

use super::resolve::Scope;
use super::step::{bind_inputs, millis};
use crate::actions::{self, ActionInputs};
use crate::context::ActionError;
use crate::context::{RunContext, StepCtx};
use crate::events::{Event, Outputs};
use crate::runbook::model::Step;

/// A step that completed, with what its undo needs.
pub struct Completed {
    pub index: usize,
    pub outputs: Outputs,
    pub undo_state: Option<serde_json::Value>,
    pub cluster: Option<String>,
}

/// Runs the undo of every completed step that has one, newest first. Returns how
/// many undos failed.
pub async fn roll_back(
    run: &RunContext<'_>,
    steps: &[Step],
    completed: &[Completed],
    scope: &Scope<'_>,
) -> usize {
    let mut failed = 0;
    for done in completed.iter().rev() {
        let step = &steps[done.index];
        let Some(undo) = &step.undo else {
            continue;
        };
        let id = step.head.id.value.0.clone();
        let cluster = undo
            .head
            .cluster
            .as_ref()
            .map(|c| c.value.clone())
            .or_else(|| done.cluster.clone());
        run.sink.emit(&Event::UndoStarted {
            step: id.clone(),
            action: undo.uses.clone(),
        });
        let started = Instant::now();
        let ctx = StepCtx::new(run, &step.head.id.value.0, cluster);
        let result = match &undo.with {
            ActionInputs::RestorePrevious(_) => {
                match bind_inputs(&step.head.uses.value, &step.with_node, scope) {
                    Ok(inputs) => {
                        actions::undo_own(&inputs, &done.outputs, done.undo_state.as_ref(), &ctx)
                            .await
                    }
                    Err(e) => Err(e),
                }
            }
            _ => match bind_inputs(&undo.uses, &undo.with_node, scope) {
                Ok(inputs) => actions::execute(&inputs, &ctx).await,
                Err(e) => Err(e),
            },
        };
        let error = result.err().map(|e: ActionError| e.to_string());
        failed += usize::from(error.is_some());
        run.sink.emit(&Event::StepUndone {
            step: id,
            duration_ms: millis(started.elapsed()),
            error,
        });
    }
    failed
}
