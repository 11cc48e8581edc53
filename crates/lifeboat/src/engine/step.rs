//! Running one step: bind its inputs, run its action under the step's timeout, and
//! retry with exponential backoff and jitter as its `retry` says. Every attempt and
//! its end are events.

use std::time::{Duration, Instant};

use super::resolve::Scope;
use crate::actions::{self, ActionInputs};
use crate::context::ActionError;
use crate::context::{RunContext, StepCtx};
use crate::events::{Event, Outputs};
use crate::runbook::model::{DEFAULT_BACKOFF, Duration as RunbookDuration, Step};

/// How a step ended.
pub enum StepEnd {
    /// The outputs, and what the action recorded for its own undo.
    Succeeded(Outputs, Option<serde_json::Value>),
    /// Ctrl-C stopped it (the engine drops the step's future).
    Interrupted,
    Failed(String),
}

/// Runs `step` (its inputs bound in `scope`) to success or its last failed attempt.
pub async fn run_step(
    run: &RunContext<'_>,
    step: &Step,
    cluster: Option<String>,
    scope: &Scope<'_>,
    inject_failure: bool,
    checkpoints: Vec<serde_json::Value>,
) -> StepEnd {
    let id = step.head.id.value.0.as_str();
    let uses = step.head.uses.value.as_str();
    // `timeout` and `retry` may read params and outputs: bound now, checked as
    // `validate` checks literals.
    let limits = step
        .head
        .limits(&|text| scope.render(text).map(Some))
        .map_err(|errors| {
            errors
                .iter()
                .map(|e| scope.located(e))
                .collect::<Vec<_>>()
                .join("; ")
        });
    let (attempts, mut backoff, timeout) = match &limits {
        Ok(l) => (l.attempts, l.backoff, l.timeout),
        Err(_) => (1, DEFAULT_BACKOFF, None),
    };
    // Every attempt continues from the checkpoints of the earlier ones, as a resume does.
    let checkpoints = std::sync::Arc::new(std::sync::Mutex::new(checkpoints));
    let started = Instant::now();
    let mut attempt = 1;
    loop {
        run.sink.emit(&Event::StepStarted {
            step: id.to_string(),
            action: uses.to_string(),
            cluster: cluster.clone(),
            attempt,
        });
        crate::crash::point(&format!("step-started:{id}"));
        let result = if let Err(e) = &limits {
            Err(ActionError::Inputs(e.clone()))
        } else if inject_failure {
            Err(ActionError::Failed(
                "failure injected with --inject-failure".into(),
            ))
        } else if attempt == 1
            && let Err(e) = super::confirm::before(run, step, cluster.as_deref()).await
        {
            Err(e)
        } else {
            attempt_once(run, step, cluster.clone(), scope, timeout, &checkpoints).await
        };
        match result {
            Ok((outputs, undo_state)) => {
                // The action's work is done; the journal does not say so yet.
                crate::crash::point(&format!("action-done:{id}"));
                run.sink.emit(&Event::StepSucceeded {
                    step: id.to_string(),
                    duration_ms: millis(started.elapsed()),
                    outputs: outputs.clone(),
                    undo_state: undo_state.clone(),
                });
                return StepEnd::Succeeded(outputs, undo_state);
            }
            Err(e) if attempt < attempts && retryable(&e) => {
                let wait = jitter(backoff);
                run.sink.emit(&Event::StepRetrying {
                    step: id.to_string(),
                    attempt,
                    error: e.to_string(),
                    backoff_ms: millis(wait),
                });
                tokio::time::sleep(wait).await;
                backoff = backoff.saturating_mul(2);
                attempt += 1;
            }
            Err(e) => {
                let error = e.to_string();
                run.sink.emit(&Event::StepFailed {
                    step: id.to_string(),
                    duration_ms: millis(started.elapsed()),
                    error: error.clone(),
                });
                return StepEnd::Failed(error);
            }
        }
    }
}

async fn attempt_once(
    run: &RunContext<'_>,
    step: &Step,
    cluster: Option<String>,
    scope: &Scope<'_>,
    timeout: Option<Duration>,
    checkpoints: &std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
) -> Result<(Outputs, Option<serde_json::Value>), ActionError> {
    let inputs = bind_inputs(&step.head.uses.value, &step.with_node, scope)?;
    let ctx = StepCtx::new(run, &step.head.id.value.0, cluster).resuming(checkpoints.clone());
    let action = actions::execute(&inputs, &ctx);
    let outputs = match timeout {
        Some(t) => tokio::time::timeout(t, action)
            .await
            .map_err(|_| ActionError::Failed(format!("timed out after {}", RunbookDuration(t))))?,
        None => action.await,
    }?;
    Ok((outputs, ctx.take_undo_state()))
}

/// Binds a `with:` mapping and reads it as action `uses`'s inputs.
pub fn bind_inputs(
    uses: &str,
    with: &crate::runbook::node::Node,
    scope: &Scope<'_>,
) -> Result<ActionInputs, ActionError> {
    let bound = scope.bind(with).map_err(ActionError::Inputs)?;
    let spec = actions::find(uses)
        .ok_or_else(|| ActionError::Inputs(format!("unknown action `{uses}`")))?;
    // Read and checked exactly as `validate` reads literals, with the same messages
    // and positions.
    let errors = match spec.parse_inputs(&bound) {
        Ok(inputs) => {
            let problems = inputs.check(&bound);
            if problems.is_empty() {
                return Ok(inputs);
            }
            problems
        }
        Err(errors) => errors,
    };
    Err(ActionError::Inputs(
        errors
            .iter()
            .map(|e| scope.located(e))
            .collect::<Vec<_>>()
            .join("; "),
    ))
}

/// Wrong inputs do not get better by trying again.
fn retryable(e: &ActionError) -> bool {
    !matches!(e, ActionError::Inputs(_) | ActionError::NotConfirmed(_))
}

/// Between 50% and 100% of `d`, so that many runs retrying at once spread out.
fn jitter(d: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.subsec_nanos())
        .unwrap_or(0);
    let fraction = 0.5 + f64::from(nanos % 1000) / 2000.0;
    d.mul_f64(fraction)
}

pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
