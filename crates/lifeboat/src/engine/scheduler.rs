//! A run's way through its steps: which steps are pending, done, failed or not run,
//! what the run has learnt (outputs, the completed steps a rollback undoes, counts)
//! and why it stopped. One method per concern: deciding the steps that need not run
//! (resumed, skipped, `if:`), starting one, taking its end, rolling back, measuring the
//! objectives. The driver in `engine::run` owns the running futures.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::resolve::Scope;
use super::rollback::{Completed, roll_back};
use super::step::{StepEnd, millis, run_step};
use super::{RunOptions, RunReport};
use crate::context::RunContext;
use crate::events::{Event, EventSink, OutputValue, Outputs, RunState};
use crate::plan::Plan;
use crate::runbook::Loaded;
use crate::runbook::model::OnFailure;

/// Counts for the end of the run.
#[derive(Default)]
struct Tally {
    ok: usize,
    failed: usize,
    skipped: usize,
}

pub struct Scheduler<'a> {
    loaded: &'a Loaded,
    options: &'a RunOptions,
    sink: Arc<dyn EventSink>,
    run_id: String,
    /// Where each step runs (its cluster), resolved as `plan` shows it.
    plan: Plan,
    started: Instant,
    /// Steps not yet decided, in file order.
    pending: Vec<usize>,
    done: HashSet<usize>,
    failed: HashSet<usize>,
    /// Steps skipped because a step they need did not succeed.
    not_run: HashSet<usize>,
    outputs: HashMap<String, Outputs>,
    completed: Vec<Completed>,
    /// The step whose failure asks for a rollback.
    rollback_from: Option<usize>,
    tally: Tally,
    /// Why the run stopped early, if it did.
    stopped: Option<String>,
    interrupted: bool,
}

impl<'a> Scheduler<'a> {
    pub fn new(
        loaded: &'a Loaded,
        options: &'a RunOptions,
        run_id: String,
        sink: Arc<dyn EventSink>,
    ) -> Self {
        Scheduler {
            loaded,
            options,
            sink,
            run_id,
            plan: crate::plan::build(loaded),
            started: Instant::now(),
            pending: file_order(&loaded.graph.deps),
            done: HashSet::new(),
            failed: HashSet::new(),
            not_run: HashSet::new(),
            outputs: HashMap::new(),
            completed: Vec::new(),
            rollback_from: None,
            tally: Tally::default(),
            stopped: None,
            interrupted: false,
        }
    }

    /// Stops the run before its next step (the first reason given is kept).
    pub fn stop(&mut self, why: String) {
        self.stopped.get_or_insert(why);
    }

    /// Ctrl-C: the running steps are dropped (the journal shows them started).
    pub fn interrupt(&mut self) {
        self.interrupted = true;
        self.stopped = Some("interrupted".into());
    }

    /// Decides, in file order, every pending step whose predecessors are done and that
    /// need not run (resumed, skipped, `if:` false or failing), and returns the first
    /// one that must run (still pending), if any. Nothing starts once the run stopped.
    pub fn next_runnable(&mut self) -> Option<usize> {
        let mut k = 0;
        while k < self.pending.len() && self.stopped.is_none() {
            let i = self.pending[k];
            if !self.loaded.graph.deps[i]
                .iter()
                .all(|d| self.done.contains(d))
            {
                k += 1;
                continue;
            }
            if self.must_run(i) {
                return Some(i);
            }
            self.done.insert(self.pending.remove(k));
        }
        None
    }

    /// Whether step `i` runs; when it does not, what happens instead (its recorded
    /// outputs kept, a skip, a failed `if:`) is reported and counted.
    fn must_run(&mut self, i: usize) -> bool {
        let step = &self.loaded.runbook.steps[i];
        let id = step.head.id.value.0.clone();
        // Succeeded before a resume: keep what it recorded.
        if let Some(before) = self.resumed(&id).filter(|s| s.state == "succeeded") {
            let recorded = before.outputs.clone().unwrap_or_default();
            let undo_state = before.undo_state.clone();
            self.sink.emit(&Event::StepResumed {
                step: id.clone(),
                outputs: recorded.clone(),
            });
            self.completed.push(Completed {
                index: i,
                outputs: recorded.clone(),
                undo_state,
                cluster: self.plan.steps[i].cluster.clone(),
            });
            self.outputs.insert(id, recorded);
            self.tally.ok += 1;
            return false;
        }
        // `needs` asks for success; the implicit "after the step before" is order only
        // (so `on_failure: continue` goes on with the next step).
        let needs_success = step.head.needs.is_some();
        if let Some(&d) = self.loaded.graph.deps[i]
            .iter()
            .find(|d| needs_success && (self.failed.contains(d) || self.not_run.contains(d)))
        {
            let need = &self.loaded.runbook.steps[d].head.id.value.0;
            self.skip(&id, format!("it needs `{need}`, which did not succeed"));
            self.not_run.insert(i);
            return false;
        }
        if !self.options.only.is_empty() && !self.options.only.contains(&id) {
            self.skip(&id, "not named by --only".into());
            return false;
        }
        let Some(condition) = &step.head.condition else {
            return true;
        };
        match self.scope(&self.outputs).condition(&condition.value) {
            Ok(true) => true,
            Ok(false) => {
                // Nothing to do is not a failure: the steps after it still run.
                self.skip(&id, format!("`if: {}` is false", condition.value));
                false
            }
            Err(e) => {
                self.sink.emit(&Event::StepFailed {
                    step: id.clone(),
                    duration_ms: 0,
                    error: format!("cannot evaluate `if`: {e}"),
                });
                self.failed.insert(i);
                self.tally.failed += 1;
                if step.head.on_failure != OnFailure::Continue {
                    self.stopped = Some(format!("the run stopped when `{id}` failed"));
                }
                if step.head.on_failure == OnFailure::Rollback {
                    self.rollback_from.get_or_insert(i);
                }
                false
            }
        }
    }

    /// Takes step `i` off the pending list and returns its run: its inputs bound
    /// against the outputs known now, its cluster, what it checkpointed before a
    /// resume. The future ends with the step's index, cluster and end.
    pub fn start<'r>(
        &mut self,
        run: &'r RunContext<'r>,
        i: usize,
    ) -> impl Future<Output = (usize, Option<String>, StepEnd)> + use<'r, 'a>
    where
        'a: 'r,
    {
        self.pending.retain(|&p| p != i);
        let loaded = self.loaded;
        let dry_run = self.options.dry_run;
        let step = &loaded.runbook.steps[i];
        let id = step.head.id.value.0.clone();
        let cluster = self.plan.steps[i].cluster.clone();
        let inject = self.options.inject_failure.contains(&id);
        let checkpoints = self
            .resumed(&id)
            .map(|s| s.checkpoints.clone())
            .unwrap_or_default();
        let known = self.outputs.clone();
        let span = tracing::info_span!(
            "step",
            step_id = %id,
            run_id = %run.run_id,
            action = %step.head.uses.value,
            otel.name = tracing::field::Empty,
            trace_id = tracing::field::Empty,
            span_id = tracing::field::Empty,
        );
        crate::logging::trace_span(&span, &format!("step {id}"));
        tracing::Instrument::instrument(
            async move {
                let scope = Scope {
                    loaded,
                    run_id: &run.run_id,
                    dry_run,
                    outputs: &known,
                };
                let end = run_step(run, step, cluster.clone(), &scope, inject, checkpoints).await;
                (i, cluster, end)
            },
            span,
        )
    }

    /// Takes the end of step `i`.
    pub fn finish(&mut self, i: usize, cluster: Option<String>, end: StepEnd) {
        let step = &self.loaded.runbook.steps[i];
        let id = step.head.id.value.0.clone();
        self.done.insert(i);
        match end {
            StepEnd::Succeeded(out, undo_state) => {
                self.completed.push(Completed {
                    index: i,
                    outputs: out.clone(),
                    undo_state,
                    cluster,
                });
                self.outputs.insert(id, out);
                self.tally.ok += 1;
            }
            StepEnd::Failed(_) => {
                self.failed.insert(i);
                self.tally.failed += 1;
                if step.head.on_failure != OnFailure::Continue {
                    self.stop(format!("the run stopped when `{id}` failed"));
                }
                if step.head.on_failure == OnFailure::Rollback {
                    self.rollback_from.get_or_insert(i);
                }
            }
            StepEnd::Interrupted => self.interrupt(),
        }
    }

    /// The end of the run: the steps a stop left pending are skipped, a rollback runs
    /// when a failed step asked for one, the objectives are measured, and the run's
    /// result is reported.
    pub async fn end(mut self, run: &RunContext<'_>, journal_failed: bool) -> RunReport {
        if let Some(why) = self.stopped.clone().filter(|_| !self.interrupted) {
            for i in std::mem::take(&mut self.pending) {
                let id = self.loaded.runbook.steps[i].head.id.value.0.clone();
                self.skip(&id, why.clone());
            }
        }
        let mut state = if self.interrupted {
            RunState::Interrupted
        } else if self.tally.failed == 0 && !journal_failed {
            RunState::Succeeded
        } else {
            RunState::Failed
        };
        if let Some(i) = self.rollback_from.filter(|_| !self.interrupted) {
            self.roll_back(run, i).await;
            state = RunState::RolledBack;
        }
        let objectives_missed = !self.interrupted && self.objectives_missed();
        self.sink.emit(&Event::RunFinished {
            run_id: self.run_id.clone(),
            state,
            duration_ms: millis(self.started.elapsed()),
            succeeded: self.tally.ok,
            failed: self.tally.failed,
            skipped: self.tally.skipped,
            objectives_missed,
        });
        RunReport {
            run_id: self.run_id,
            state,
            outputs: self.outputs,
            objectives_missed,
        }
    }

    /// Runs the undo of every completed step, newest first, after step `from` failed.
    async fn roll_back(&self, run: &RunContext<'_>, from: usize) {
        let steps = &self.loaded.runbook.steps;
        let undos = self
            .completed
            .iter()
            .filter(|c| steps[c.index].undo.is_some())
            .count();
        self.sink.emit(&Event::RollbackStarted {
            step: steps[from].head.id.value.0.clone(),
            undos,
        });
        roll_back(run, steps, &self.completed, &self.scope(&self.outputs)).await;
    }

    /// Measures the runbook's objectives: RTO against the run's wall time, RPO against
    /// the oldest backup a `restore` step restored (not measured when none did).
    /// Returns whether one was missed.
    fn objectives_missed(&self) -> bool {
        let Some(objectives) = &self.loaded.runbook.objectives else {
            return false;
        };
        let mut missed = false;
        let mut check = |name: &str, target: Duration, measured: Duration| {
            let met = measured <= target;
            missed |= !met;
            self.sink.emit(&Event::ObjectiveChecked {
                objective: name.to_string(),
                target_ms: millis(target),
                measured_ms: millis(measured),
                met,
            });
        };
        if let Some(rto) = &objectives.rto {
            check("rto", rto.value.0, self.started.elapsed());
        }
        if let Some(rpo) = &objectives.rpo
            && let Some(oldest) = self.oldest_restored_backup()
        {
            check("rpo", rpo.value.0, oldest);
        }
        missed
    }

    /// The age of the oldest backup a `restore` step restored.
    fn oldest_restored_backup(&self) -> Option<Duration> {
        self.loaded
            .runbook
            .steps
            .iter()
            .filter(|s| s.head.uses.value == crate::actions::restore::NAME)
            .filter_map(|s| self.outputs.get(&s.head.id.value.0))
            .filter_map(|o| match o.get("backup_age") {
                Some(OutputValue::Str(age)) => crate::runbook::model::Duration::parse(age).ok(),
                _ => None,
            })
            .map(|d| d.0)
            .max()
    }

    fn skip(&mut self, step: &str, reason: String) {
        self.sink.emit(&Event::StepSkipped {
            step: step.to_string(),
            reason,
        });
        self.tally.skipped += 1;
    }

    /// What step `id` did before a resume, if the run is a resume.
    fn resumed(&self, id: &str) -> Option<&'a crate::journal::StepRecord> {
        self.options.resume.as_ref()?.steps.get(id)
    }

    fn scope<'s>(&'s self, outputs: &'s HashMap<String, Outputs>) -> Scope<'s> {
        Scope {
            loaded: self.loaded,
            run_id: &self.run_id,
            dry_run: self.options.dry_run,
            outputs,
        }
    }
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
