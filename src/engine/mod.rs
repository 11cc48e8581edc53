//! The executor: runs a loaded runbook's steps in order (a step waits for what it
//! `needs`, or for the step before it), evaluates `if:`, passes outputs from step to
//! step through `${{ }}`, applies `on_failure`, and reports everything as events.
//! Journal, resume, locks, parallel branches and rollback build on this core.

pub mod context;
pub mod events;
pub mod human;
pub mod resolve;
pub mod rollback;
pub mod step;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use context::RunContext;
use events::{Event, EventSink, Outputs, RunState};
use resolve::Scope;
use rollback::{Completed, roll_back};
use step::{StepEnd, millis, run_step};

use crate::runbook::Loaded;
use crate::runbook::model::OnFailure;

/// How to run.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub run_id: Option<String>,
    pub dry_run: bool,
    pub yes: bool,
    /// Run only these steps (the others are skipped).
    pub only: Vec<String>,
    /// Make these steps fail.
    pub inject_failure: Vec<String>,
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct RunReport {
    pub run_id: String,
    pub state: RunState,
    pub outputs: HashMap<String, Outputs>,
}

/// A new run id: UTC time and a random suffix (`20261128-091500-7f3a`).
pub fn new_run_id() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let stamp = crate::sandbox::time::rfc3339(now.as_secs());
    let digits: String = stamp.chars().filter(char::is_ascii_digit).collect();
    let (date, time) = digits.split_at(8.min(digits.len()));
    let salt = (now.subsec_nanos() ^ std::process::id().wrapping_mul(2_654_435_761)) & 0xffff;
    format!("{date}-{time}-{salt:04x}")
}

/// The steps in file order, each moved after what it needs (a stable topological
/// order: among the steps that are ready, the first in the file runs first).
fn file_order(deps: &[Vec<usize>]) -> Vec<usize> {
    let n = deps.len();
    let mut placed = vec![false; n];
    let mut order = Vec::with_capacity(n);
    while order.len() < n {
        let next = (0..n).find(|&i| !placed[i] && deps[i].iter().all(|&d| placed[d]));
        // A cycle cannot get past `validate`; fall back to file order if one did.
        let Some(i) = next.or_else(|| (0..n).find(|&i| !placed[i])) else {
            break;
        };
        placed[i] = true;
        order.push(i);
    }
    order
}

/// Runs the runbook to its end.
pub async fn run(loaded: &Loaded, options: &RunOptions, sink: Arc<dyn EventSink>) -> RunReport {
    let run_id = options.run_id.clone().unwrap_or_else(new_run_id);
    let plan = crate::plan::build(loaded);
    let run = RunContext::new(
        loaded,
        run_id.clone(),
        options.dry_run,
        options.yes,
        sink.clone(),
    );
    let started = Instant::now();
    let steps = &loaded.runbook.steps;
    sink.emit(&Event::RunStarted {
        run_id: run_id.clone(),
        runbook: run.runbook_name().to_string(),
        dry_run: options.dry_run,
        steps: steps.len(),
    });
    let order = file_order(&loaded.graph.deps);
    let mut outputs: HashMap<String, Outputs> = HashMap::new();
    let mut completed: Vec<Completed> = Vec::new();
    let mut rollback_from: Option<usize> = None;
    let mut failed: HashSet<usize> = HashSet::new();
    let mut not_run: HashSet<usize> = HashSet::new();
    let (mut n_ok, mut n_failed, mut n_skipped) = (0, 0, 0);
    // The step whose failure stopped the run.
    let mut aborted: Option<String> = None;
    for i in order {
        let step = &steps[i];
        let id = step.head.id.value.0.clone();
        let skip = |reason: String| Event::StepSkipped {
            step: id.clone(),
            reason,
        };
        if let Some(by) = &aborted {
            sink.emit(&skip(format!("the run stopped when `{by}` failed")));
            n_skipped += 1;
            continue;
        }
        if let Some(&d) = loaded.graph.deps[i]
            .iter()
            .find(|d| failed.contains(d) || not_run.contains(d))
        {
            sink.emit(&skip(format!(
                "it needs `{}`, which did not succeed",
                steps[d].head.id.value.0
            )));
            not_run.insert(i);
            n_skipped += 1;
            continue;
        }
        if !options.only.is_empty() && !options.only.contains(&id) {
            sink.emit(&skip("not named by --only".into()));
            n_skipped += 1;
            continue;
        }
        let scope = Scope {
            loaded,
            run_id: &run_id,
            dry_run: options.dry_run,
            outputs: &outputs,
        };
        if let Some(condition) = &step.head.condition {
            match scope.condition(&condition.value) {
                Ok(true) => {}
                Ok(false) => {
                    // Nothing to do is not a failure: the steps after it still run.
                    sink.emit(&skip(format!("`if: {}` is false", condition.value)));
                    n_skipped += 1;
                    continue;
                }
                Err(e) => {
                    sink.emit(&Event::StepFailed {
                        step: id.clone(),
                        duration_ms: 0,
                        error: format!("cannot evaluate `if`: {e}"),
                    });
                    failed.insert(i);
                    n_failed += 1;
                    if step.head.on_failure != OnFailure::Continue {
                        aborted = Some(id.clone());
                    }
                    continue;
                }
            }
        }
        let cluster = plan.steps[i].cluster.clone();
        let inject = options.inject_failure.contains(&id);
        match run_step(&run, step, cluster.clone(), &scope, inject).await {
            StepEnd::Succeeded(out, undo_state) => {
                completed.push(Completed {
                    index: i,
                    outputs: out.clone(),
                    undo_state,
                    cluster,
                });
                outputs.insert(id, out);
                n_ok += 1;
            }
            StepEnd::Failed(_) => {
                failed.insert(i);
                n_failed += 1;
                if step.head.on_failure != OnFailure::Continue {
                    aborted = Some(id.clone());
                }
                if step.head.on_failure == OnFailure::Rollback {
                    rollback_from = Some(i);
                }
            }
        }
    }
    if let Some(i) = rollback_from {
        let undos = completed
            .iter()
            .filter(|c| steps[c.index].undo.is_some())
            .count();
        sink.emit(&Event::RollbackStarted {
            step: steps[i].head.id.value.0.clone(),
            undos,
        });
        let scope = Scope {
            loaded,
            run_id: &run_id,
            dry_run: options.dry_run,
            outputs: &outputs,
        };
        roll_back(&run, steps, &completed, &scope).await;
    }
    let state = if n_failed == 0 {
        RunState::Succeeded
    } else {
        RunState::Failed
    };
    sink.emit(&Event::RunFinished {
        run_id: run_id.clone(),
        state,
        duration_ms: millis(started.elapsed()),
        succeeded: n_ok,
        failed: n_failed,
        skipped: n_skipped,
    });
    RunReport {
        run_id,
        state,
        outputs,
    }
}
