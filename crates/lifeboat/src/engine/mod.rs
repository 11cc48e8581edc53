//! The executor: runs a loaded runbook's steps in order (a step waits for what it
//! `needs`, or for the step before it), evaluates `if:`, passes outputs from step to
//! step through `${{ }}`, applies `on_failure` (abort, continue, rollback), and reports
//! everything as events. The journal is one consumer of those events; a resumed run
//! replays it (succeeded steps keep their recorded outputs; the step that was in
//! flight runs again). Ctrl-C stops the run between or inside steps with the journal
//! complete.

pub mod confirm;
pub mod context;
pub mod events;
pub mod human;
pub mod progress;
pub mod resolve;
pub mod rollback;
pub mod step;

use std::collections::{HashMap, HashSet};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use std::sync::Arc;
use std::time::Instant;

use context::RunContext;
use events::{Event, EventSink, Outputs, RunState};
use resolve::Scope;
use rollback::{Completed, roll_back};
use step::{StepEnd, millis, run_step};

use crate::journal::Replay;
use crate::runbook::Loaded;
use crate::runbook::model::OnFailure;

/// How to run.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub run_id: Option<String>,
    pub dry_run: bool,
    pub yes: bool,
    /// Approve steps answered yes without asking (`--approve STEP`).
    pub approve: Vec<String>,
    /// Run only these steps (the others are skipped).
    pub only: Vec<String>,
    /// Make these steps fail.
    pub inject_failure: Vec<String>,
    /// The journal of the run being resumed.
    pub resume: Option<Replay>,
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct RunReport {
    pub run_id: String,
    pub state: RunState,
    pub outputs: HashMap<String, Outputs>,
    /// Whether an objective (RTO or RPO) was missed.
    pub objectives_missed: bool,
}

/// Fires when the user asks the run to stop (the first Ctrl-C).
pub type Interrupt = Arc<tokio::sync::Notify>;

/// Steps that run at once when `needs` lets independent branches run in parallel.
pub const PARALLEL_STEPS: usize = 4;

/// A new run id: UTC time and a random suffix (`20261128-091500-7f3a`).
pub fn new_run_id() -> String {
    let now = crate::clock::now();
    let stamp = crate::clock::seconds(now);
    let digits: String = stamp.chars().filter(char::is_ascii_digit).collect();
    let (date, time) = digits.split_at(8.min(digits.len()));
    let salt = (now.subsec_nanosecond().unsigned_abs()
        ^ std::process::id().wrapping_mul(2_654_435_761))
        & 0xffff;
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

/// Counts for the end of the run.
#[derive(Default)]
struct Tally {
    ok: usize,
    failed: usize,
    skipped: usize,
}

/// Runs the runbook to its end (or until `interrupt` fires). `journal_failure` tells
/// whether the journal could not be written (the run then stops before its next step).
pub async fn run(
    loaded: &Loaded,
    options: &RunOptions,
    sink: Arc<dyn EventSink>,
    interrupt: Interrupt,
    journal_failure: &(dyn Fn() -> Option<String> + Sync),
) -> RunReport {
    let run_id = options.run_id.clone().unwrap_or_else(new_run_id);
    let plan = crate::plan::build(loaded);
    let mut run = RunContext::new(
        loaded,
        run_id.clone(),
        options.dry_run,
        options.yes,
        sink.clone(),
    );
    run.approve = options.approve.clone();
    let started = Instant::now();
    let steps = &loaded.runbook.steps;
    sink.emit(&Event::RunStarted {
        run_id: run_id.clone(),
        runbook: run.runbook_name().to_string(),
        dry_run: options.dry_run,
        steps: steps.len(),
    });
    let mut outputs: HashMap<String, Outputs> = HashMap::new();
    let mut completed: Vec<Completed> = Vec::new();
    let mut rollback_from: Option<usize> = None;
    let mut failed: HashSet<usize> = HashSet::new();
    let mut not_run: HashSet<usize> = HashSet::new();
    let mut tally = Tally::default();
    // Why the run stopped early, if it did.
    let mut stopped: Option<String> = None;
    let mut interrupted = false;
    let order = file_order(&loaded.graph.deps);
    // Steps not yet decided, in file order; and how many run now.
    let mut pending: Vec<usize> = order.clone();
    let mut done: HashSet<usize> = HashSet::new();
    let mut running = FuturesUnordered::new();
    loop {
        if stopped.is_none()
            && let Some(e) = journal_failure()
        {
            stopped = Some(format!("the journal cannot be written ({e})"));
        }
        // Start (or decide) every pending step whose predecessors are all done.
        let mut k = 0;
        while k < pending.len() && stopped.is_none() {
            let i = pending[k];
            if !loaded.graph.deps[i].iter().all(|d| done.contains(d)) {
                k += 1;
                continue;
            }
            let step = &steps[i];
            let id = step.head.id.value.0.clone();
            let skip = |reason: String| Event::StepSkipped {
                step: id.clone(),
                reason,
            };
            // Succeeded before a resume: keep what it recorded.
            if let Some(before) = options
                .resume
                .as_ref()
                .and_then(|r| r.steps.get(&id))
                .filter(|s| s.state == "succeeded")
            {
                let recorded = before.outputs.clone().unwrap_or_default();
                sink.emit(&Event::StepResumed {
                    step: id.clone(),
                    outputs: recorded.clone(),
                });
                completed.push(Completed {
                    index: i,
                    outputs: recorded.clone(),
                    undo_state: before.undo_state.clone(),
                    cluster: plan.steps[i].cluster.clone(),
                });
                outputs.insert(id, recorded);
                tally.ok += 1;
                done.insert(pending.remove(k));
                continue;
            }
            // `needs` asks for success; the implicit "after the step before" is order
            // only (so `on_failure: continue` goes on with the next step).
            let needs_success = step.head.needs.is_some();
            if let Some(&d) = loaded.graph.deps[i]
                .iter()
                .find(|d| needs_success && (failed.contains(d) || not_run.contains(d)))
            {
                sink.emit(&skip(format!(
                    "it needs `{}`, which did not succeed",
                    steps[d].head.id.value.0
                )));
                not_run.insert(i);
                tally.skipped += 1;
                done.insert(pending.remove(k));
                continue;
            }
            if !options.only.is_empty() && !options.only.contains(&id) {
                sink.emit(&skip("not named by --only".into()));
                tally.skipped += 1;
                done.insert(pending.remove(k));
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
                        tally.skipped += 1;
                        done.insert(pending.remove(k));
                        continue;
                    }
                    Err(e) => {
                        sink.emit(&Event::StepFailed {
                            step: id.clone(),
                            duration_ms: 0,
                            error: format!("cannot evaluate `if`: {e}"),
                        });
                        failed.insert(i);
                        tally.failed += 1;
                        if step.head.on_failure != OnFailure::Continue {
                            stopped = Some(format!("the run stopped when `{id}` failed"));
                        }
                        done.insert(pending.remove(k));
                        continue;
                    }
                }
            }
            if running.len() >= PARALLEL_STEPS {
                break;
            }
            pending.remove(k);
            let cluster = plan.steps[i].cluster.clone();
            let inject = options.inject_failure.contains(&id);
            let checkpoints = options
                .resume
                .as_ref()
                .and_then(|r| r.steps.get(&id))
                .map(|s| s.checkpoints.clone())
                .unwrap_or_default();
            // The step binds its inputs against the outputs known when it starts.
            let known = outputs.clone();
            let (run, run_id) = (&run, &run_id);
            let span = tracing::info_span!("step", step_id = %id);
            running.push(tracing::Instrument::instrument(
                async move {
                    let scope = Scope {
                        loaded,
                        run_id,
                        dry_run: options.dry_run,
                        outputs: &known,
                    };
                    let end =
                        run_step(run, step, cluster.clone(), &scope, inject, checkpoints).await;
                    (i, cluster, end)
                },
                span,
            ));
        }
        if running.is_empty() {
            break;
        }
        let finished = tokio::select! {
            Some(finished) = running.next() => finished,
            () = interrupt.notified() => {
                // Dropping the running steps cancels them; the journal shows them started.
                interrupted = true;
                stopped = Some("interrupted".into());
                break;
            }
        };
        let (i, cluster, end) = finished;
        let step = &steps[i];
        let id = step.head.id.value.0.clone();
        done.insert(i);
        match end {
            StepEnd::Succeeded(out, undo_state) => {
                completed.push(Completed {
                    index: i,
                    outputs: out.clone(),
                    undo_state,
                    cluster,
                });
                outputs.insert(id, out);
                tally.ok += 1;
            }
            StepEnd::Failed(_) => {
                failed.insert(i);
                tally.failed += 1;
                if step.head.on_failure != OnFailure::Continue {
                    stopped.get_or_insert(format!("the run stopped when `{id}` failed"));
                }
                if step.head.on_failure == OnFailure::Rollback {
                    rollback_from.get_or_insert(i);
                }
            }
            StepEnd::Interrupted => {
                interrupted = true;
                stopped = Some("interrupted".into());
            }
        }
    }
    drop(running);
    if let Some(why) = &stopped
        && !interrupted
    {
        for &i in &pending {
            sink.emit(&Event::StepSkipped {
                step: steps[i].head.id.value.0.clone(),
                reason: why.clone(),
            });
            tally.skipped += 1;
        }
    }
    let mut state = if interrupted {
        RunState::Interrupted
    } else if tally.failed == 0 && journal_failure().is_none() {
        RunState::Succeeded
    } else {
        RunState::Failed
    };
    if let Some(i) = rollback_from.filter(|_| !interrupted) {
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
        state = RunState::RolledBack;
    }
    let objectives_missed = if interrupted {
        false
    } else {
        check_objectives(loaded, &outputs, started.elapsed(), sink.as_ref())
    };
    sink.emit(&Event::RunFinished {
        run_id: run_id.clone(),
        state,
        duration_ms: millis(started.elapsed()),
        succeeded: tally.ok,
        failed: tally.failed,
        skipped: tally.skipped,
    });
    RunReport {
        run_id,
        state,
        outputs,
        objectives_missed,
    }
}

/// Measures the runbook's objectives: RTO against the run's wall time, RPO against
/// the oldest backup a `restore` step restored (not measured when none did). Returns
/// whether one was missed.
fn check_objectives(
    loaded: &Loaded,
    outputs: &HashMap<String, Outputs>,
    elapsed: std::time::Duration,
    sink: &dyn EventSink,
) -> bool {
    let Some(objectives) = &loaded.runbook.objectives else {
        return false;
    };
    let mut missed = false;
    let mut check = |name: &str, target: std::time::Duration, measured: std::time::Duration| {
        let met = measured <= target;
        missed |= !met;
        sink.emit(&Event::ObjectiveChecked {
            objective: name.to_string(),
            target_ms: millis(target),
            measured_ms: millis(measured),
            met,
        });
    };
    if let Some(rto) = &objectives.rto {
        check("rto", rto.value.0, elapsed);
    }
    if let Some(rpo) = &objectives.rpo {
        let ages = loaded
            .runbook
            .steps
            .iter()
            .filter(|s| s.head.uses.value == crate::actions::restore::NAME)
            .filter_map(|s| outputs.get(&s.head.id.value.0))
            .filter_map(|o| match o.get("backup_age") {
                Some(events::OutputValue::Str(age)) => {
                    crate::runbook::model::Duration::parse(age).ok()
                }
                _ => None,
            })
            .map(|d| d.0);
        if let Some(oldest) = ages.max() {
            check("rpo", rpo.value.0, oldest);
        }
    }
    missed
}
