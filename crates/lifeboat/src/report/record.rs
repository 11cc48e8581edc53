//! The record of one run as the reports read it (`RunRecord`: steps with attempts,
//! undo, object counts; objectives; an interruption), built by `recorder`.

use std::collections::BTreeMap;

use crate::events::{OutputValue, Outputs, RunState};

/// Failed objects kept per step for the report (the counts stay exact).
pub const OBJECT_FAILURES_KEPT: usize = 20;

/// A run as the reports show it.
#[derive(Clone, Debug)]
pub struct RunRecord {
    pub runbook: String,
    pub description: Option<String>,
    pub run_id: String,
    pub dry_run: bool,
    pub host: String,
    /// Wall clock when the run started, seconds since the Unix epoch.
    pub started_unix: u64,
    /// The same as RFC 3339 (`2026-11-28T03:15:00Z`).
    pub started: String,
    pub duration_ms: u64,
    /// How the run ended; `None` when it never said (it did not finish).
    pub state: Option<RunState>,
    /// Every step of the runbook, in file order.
    pub steps: Vec<StepRecord>,
    pub rollback: Option<RollbackRecord>,
    pub objectives: Vec<ObjectiveRecord>,
    /// Set when Ctrl-C stopped the run.
    pub interruption: Option<Interruption>,
}

/// One step of the run.
#[derive(Clone, Debug)]
pub struct StepRecord {
    pub id: String,
    /// The step's `name:`, when it has one.
    pub title: Option<String>,
    pub action: String,
    pub cluster: Option<String>,
    pub state: StepState,
    /// Each attempt, oldest first (more than one when the step was retried).
    pub attempts: Vec<Attempt>,
    /// When the step was decided or first started, from the start of the run.
    pub start_ms: Option<u64>,
    /// When it ended (succeeded, failed, skipped) or, unfinished, when the run ended.
    pub end_ms: Option<u64>,
    /// The duration the engine measured, for the steps that ran to an end.
    pub duration_ms: Option<u64>,
    pub outputs: Outputs,
    pub error: Option<String>,
    /// Why it was skipped.
    pub reason: Option<String>,
    /// What the step warned about (it did not fail for it).
    pub warnings: Vec<String>,
    pub undo: Option<UndoRecord>,
    /// Per-kind results of objects sent as events (every object in a dry-run restore,
    /// failed ones otherwise).
    pub objects: BTreeMap<String, ObjectCounts>,
    /// The first failed objects.
    pub object_failures: Vec<ObjectFailure>,
    /// Objects read back missing or different from the backup (`verify`): all
    /// counted, the first `OBJECT_FAILURES_KEPT` kept.
    pub drift_count: u64,
    pub drift: Vec<ObjectFailure>,
}

/// Where a step ended up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepState {
    /// Never started (the run was interrupted before it).
    NotRun,
    /// Started, and had not finished when the run ended (interrupted).
    Unfinished,
    Succeeded,
    Failed,
    Skipped,
    /// Succeeded before a resume; its outputs come from the journal.
    Resumed,
    /// Succeeded, then undone by a rollback.
    Undone,
    /// Succeeded, then its undo failed during a rollback.
    UndoFailed,
}

impl StepState {
    /// The word reports show (also the CSS class of the HTML report).
    pub fn label(self) -> &'static str {
        match self {
            StepState::NotRun => "not run",
            StepState::Unfinished => "unfinished",
            StepState::Succeeded => "succeeded",
            StepState::Failed => "failed",
            StepState::Skipped => "skipped",
            StepState::Resumed => "resumed",
            StepState::Undone => "undone",
            StepState::UndoFailed => "undo failed",
        }
    }

    /// A name usable as a CSS class.
    pub fn class(self) -> &'static str {
        match self {
            StepState::NotRun => "not-run",
            StepState::UndoFailed => "undo-failed",
            other => other.label(),
        }
    }
}

/// One attempt of a step.
#[derive(Clone, Debug)]
pub struct Attempt {
    pub number: u32,
    pub start_ms: u64,
    pub end_ms: Option<u64>,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// The wait before the next attempt, when the step was retried after this one.
    pub backoff_ms: Option<u64>,
}

/// A step's undo during a rollback.
#[derive(Clone, Debug)]
pub struct UndoRecord {
    pub action: String,
    pub start_ms: u64,
    pub end_ms: Option<u64>,
    pub duration_ms: Option<u64>,
    pub error: Option<String>,
}

/// The rollback of a run.
#[derive(Clone, Debug)]
pub struct RollbackRecord {
    /// The step whose failure started it.
    pub after: String,
    pub at_ms: u64,
    /// How many undos it was to run.
    pub undos: usize,
}

/// An objective of the runbook and what was measured.
#[derive(Clone, Debug)]
pub struct ObjectiveRecord {
    /// `rto` or `rpo`.
    pub name: String,
    pub target_ms: u64,
    /// `None` when it was not measured (the run was interrupted, or for RPO no
    /// restore step restored a backup).
    pub measured_ms: Option<u64>,
    pub met: Option<bool>,
}

impl ObjectiveRecord {
    /// What the objective measures.
    pub fn meaning(&self) -> &'static str {
        match self.name.as_str() {
            "rto" => "recovery time: the run's wall time",
            "rpo" => "recovery point: the age of the backup restored",
            _ => "",
        }
    }

    /// Why it was not measured.
    pub fn unmeasured_reason(&self, record: &RunRecord) -> &'static str {
        if record.interruption.is_some() || record.state == Some(RunState::Interrupted) {
            "not measured: the run was interrupted"
        } else if self.name == "rpo" {
            "not measured: no restore step restored a backup"
        } else {
            "not measured: the run did not finish"
        }
    }
}

/// The Ctrl-C that stopped a run.
#[derive(Clone, Debug)]
pub struct Interruption {
    /// The command that continues the run.
    pub resume: String,
    pub journal_error: Option<String>,
}

/// Objects of one kind, by result.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectCounts {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub skipped: u64,
    pub failed: u64,
}

/// An object a restore could not write (or, in a dry run, that the server rejected).
#[derive(Clone, Debug)]
pub struct ObjectFailure {
    pub kind: String,
    pub name: String,
    pub reason: String,
}

/// Objects of one kind a backup or restore step handled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KindRow {
    pub kind: String,
    /// Backed up, or restored (created, updated or unchanged; in a dry run: would be).
    pub done: u64,
    pub skipped: u64,
    /// Failed, or in a dry run rejected by the server.
    pub failed: u64,
}

impl StepRecord {
    /// Whether the step ran its action at least once.
    pub fn ran(&self) -> bool {
        !self.attempts.is_empty()
    }

    /// The attempts that failed and were retried.
    pub fn retries(&self) -> impl Iterator<Item = &Attempt> {
        self.attempts.iter().filter(|a| a.backoff_ms.is_some())
    }

    /// Per-kind counts of a `backup` or `restore` step: its `kinds` output when it has
    /// one, completed with what its object events said. Empty for other steps.
    pub fn kind_rows(&self) -> Vec<KindRow> {
        if self.action != "backup" && self.action != "restore" {
            return Vec::new();
        }
        let mut rows: BTreeMap<String, KindRow> = BTreeMap::new();
        fn row<'a>(rows: &'a mut BTreeMap<String, KindRow>, kind: &str) -> &'a mut KindRow {
            rows.entry(kind.to_string()).or_insert_with(|| KindRow {
                kind: kind.to_string(),
                done: 0,
                skipped: 0,
                failed: 0,
            })
        }
        let from_output = match self.outputs.get("kinds") {
            Some(OutputValue::Map(kinds)) => {
                for (kind, n) in kinds {
                    row(&mut rows, kind).done = n.parse().unwrap_or(0);
                }
                true
            }
            _ => false,
        };
        for (kind, c) in &self.objects {
            let r = row(&mut rows, kind);
            if !from_output {
                r.done = c.created + c.updated + c.unchanged;
            }
            r.skipped = c.skipped;
            r.failed = c.failed;
        }
        rows.into_values().collect()
    }
}

impl RunRecord {
    /// Steps that failed (their own failure, not their undo's).
    pub fn failed_steps(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| s.state == StepState::Failed)
            .count()
    }

    /// Objectives measured and missed.
    pub fn missed_objectives(&self) -> usize {
        self.objectives
            .iter()
            .filter(|o| o.met == Some(false))
            .count()
    }

    /// The run's state in one word.
    pub fn state_label(&self) -> &'static str {
        match self.state {
            Some(RunState::Succeeded) if self.missed_objectives() > 0 => "objectives missed",
            Some(RunState::Succeeded) => "succeeded",
            Some(RunState::Failed) => "failed",
            Some(RunState::RolledBack) => "rolled back",
            Some(RunState::Interrupted) => "interrupted",
            None => "unfinished",
        }
    }

    /// The state as a CSS class.
    pub fn state_class(&self) -> &'static str {
        match self.state {
            Some(RunState::Succeeded) if self.missed_objectives() > 0 => "missed",
            Some(RunState::Succeeded) => "succeeded",
            Some(RunState::Failed) => "failed",
            Some(RunState::RolledBack) => "rolled-back",
            Some(RunState::Interrupted) | None => "unfinished",
        }
    }

    /// The step with this id.
    pub fn step(&self, id: &str) -> Option<&StepRecord> {
        self.steps.iter().find(|s| s.id == id)
    }

    /// The latest moment the record knows of, from the start of the run.
    pub fn span_ms(&self) -> u64 {
        let ends = self.steps.iter().flat_map(|s| {
            [
                s.end_ms,
                s.undo.as_ref().and_then(|u| u.end_ms),
                s.attempts.last().and_then(|a| a.end_ms),
            ]
        });
        ends.flatten().fold(self.duration_ms, u64::max)
    }
}

impl RunRecord {
    /// The record of step `id` (added at the end if the runbook did not list it).
    pub fn step_mut(&mut self, id: &str, action: &str) -> &mut StepRecord {
        let index = match self.steps.iter().position(|s| s.id == id) {
            Some(i) => i,
            None => {
                self.steps.push(StepRecord::not_run(id, action));
                self.steps.len() - 1
            }
        };
        &mut self.steps[index]
    }

    /// Records an objective's measure (one the runbook did not list is added).
    pub fn objective_checked(&mut self, name: &str, target_ms: u64, measured_ms: u64, met: bool) {
        let i = match self.objectives.iter().position(|o| o.name == name) {
            Some(i) => i,
            None => {
                self.objectives.push(ObjectiveRecord {
                    name: name.to_string(),
                    target_ms,
                    measured_ms: None,
                    met: None,
                });
                self.objectives.len() - 1
            }
        };
        let o = &mut self.objectives[i];
        o.target_ms = target_ms;
        o.measured_ms = Some(measured_ms);
        o.met = Some(met);
    }
}

impl StepRecord {
    /// A step that has not run (yet).
    pub fn not_run(id: &str, action: &str) -> StepRecord {
        StepRecord {
            id: id.to_string(),
            title: None,
            action: action.to_string(),
            cluster: None,
            state: StepState::NotRun,
            attempts: Vec::new(),
            start_ms: None,
            end_ms: None,
            duration_ms: None,
            outputs: Outputs::new(),
            error: None,
            reason: None,
            warnings: Vec::new(),
            undo: None,
            objects: BTreeMap::new(),
            object_failures: Vec::new(),
            drift_count: 0,
            drift: Vec::new(),
        }
    }

    /// Records an object read back missing or drifted (`reason`: what differs).
    pub fn count_drift(&mut self, kind: String, name: String, reason: String) {
        self.drift_count += 1;
        if self.drift.len() < OBJECT_FAILURES_KEPT {
            self.drift.push(ObjectFailure { kind, name, reason });
        }
    }

    /// Counts one object's result by kind, keeping the first failures with their reason.
    pub fn count_object(
        &mut self,
        kind: String,
        name: String,
        result: &str,
        reason: Option<String>,
    ) {
        let c = self.objects.entry(kind.clone()).or_default();
        match result {
            "created" => c.created += 1,
            "updated" => c.updated += 1,
            "unchanged" => c.unchanged += 1,
            "skipped" => c.skipped += 1,
            _ => {
                c.failed += 1;
                if self.object_failures.len() < OBJECT_FAILURES_KEPT {
                    self.object_failures.push(ObjectFailure {
                        kind,
                        name,
                        reason: reason.unwrap_or_else(|| result.to_string()),
                    });
                }
            }
        }
    }

    /// Records the end of the step's undo, `at` ms into the run.
    pub fn undone(&mut self, at: u64, duration_ms: u64, error: Option<String>) {
        self.state = if error.is_some() {
            StepState::UndoFailed
        } else {
            StepState::Undone
        };
        let undo = self.undo.get_or_insert_with(|| UndoRecord {
            action: String::new(),
            start_ms: at.saturating_sub(duration_ms),
            end_ms: None,
            duration_ms: None,
            error: None,
        });
        undo.end_ms = Some(at);
        undo.duration_ms = Some(duration_ms);
        undo.error = error;
    }
}
