//! The one stream of things a run does. Every consumer (the human lines, `--output
//! json`, the journal, progress bars, logs and reports) reads these events; none of
//! them looks inside the engine.

use std::collections::BTreeMap;

use serde::Serialize;

/// A step's outputs: strings, or maps of strings (per-kind counts).
pub type Outputs = BTreeMap<String, OutputValue>;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum OutputValue {
    Str(String),
    Map(BTreeMap<String, String>),
}

impl OutputValue {
    pub fn as_text(&self) -> String {
        match self {
            OutputValue::Str(s) => s.clone(),
            OutputValue::Map(m) => m
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(","),
        }
    }
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Succeeded,
    Failed,
    /// Failed, then rolled back.
    RolledBack,
    /// Stopped by Ctrl-C; resumable.
    Interrupted,
}

#[derive(Clone, Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        run_id: String,
        runbook: String,
        dry_run: bool,
        steps: usize,
    },
    StepStarted {
        step: String,
        action: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        cluster: Option<String>,
        attempt: u32,
    },
    /// Work done inside a step: objects (and bytes moved) so far in its phase,
    /// cumulative; out of `total` when the step knows it; `phase` what it does now (a
    /// restore's tier, `verify`, a backup's resource type).
    StepProgress {
        step: String,
        objects: u64,
        bytes: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        total: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        phase: Option<String>,
    },
    StepSucceeded {
        step: String,
        duration_ms: u64,
        outputs: Outputs,
        /// What the action's own undo needs: for the journal, not for display.
        #[serde(skip)]
        undo_state: Option<serde_json::Value>,
    },
    /// A step that succeeded before a resume: its outputs come from the journal.
    StepResumed {
        step: String,
        outputs: Outputs,
    },
    /// Progress inside a long step that a resume continues from (per resource type
    /// of a backup, per tier of a restore).
    Checkpoint {
        step: String,
        data: serde_json::Value,
    },
    /// The run stopped on Ctrl-C; `resume` continues it.
    RunInterrupted {
        run_id: String,
        resume: String,
        /// Why the journal could not record everything, when it could not (a resume
        /// then redoes the steps after the last one recorded).
        #[serde(skip_serializing_if = "Option::is_none")]
        journal_error: Option<String>,
    },
    /// What restore did (or, in a dry run, would do) with one object. Sent for every
    /// object in a dry run, and for objects that failed otherwise.
    ObjectResult {
        step: String,
        kind: String,
        /// `namespace/name`, or `name` for cluster-scoped objects.
        name: String,
        /// `created`, `updated`, `unchanged`, `skipped` or `failed`.
        result: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        dry_run: bool,
        /// What the restore's transforms changed in the object (field paths; values,
        /// except a Secret's).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        changes: Vec<String>,
    },
    /// An object read back after a restore (`verify`, `verify_restore`) that is missing
    /// or differs from the backup: the paths of the fields that differ, never values.
    ObjectDrift {
        step: String,
        kind: String,
        /// `namespace/name`, or `name` for cluster-scoped objects.
        name: String,
        missing: bool,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        fields: Vec<String>,
    },
    /// Something a step did not let fail it but the operator should know (a group of
    /// the cluster's API that could not be read, and so was left out of a backup).
    StepWarning {
        step: String,
        message: String,
    },
    StepRetrying {
        step: String,
        attempt: u32,
        error: String,
        backoff_ms: u64,
    },
    StepFailed {
        step: String,
        duration_ms: u64,
        error: String,
    },
    StepSkipped {
        step: String,
        reason: String,
    },
    /// A rollback starts, because `step` failed with `on_failure: rollback`.
    RollbackStarted {
        step: String,
        undos: usize,
    },
    UndoStarted {
        step: String,
        action: String,
    },
    /// The undo of `step` ran (`error` when it failed).
    StepUndone {
        step: String,
        duration_ms: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// An objective of the runbook, measured at the end of the run: `rto` (the run's
    /// wall time) or `rpo` (the age of the backup restored).
    ObjectiveChecked {
        objective: String,
        target_ms: u64,
        measured_ms: u64,
        met: bool,
    },
    RunFinished {
        run_id: String,
        state: RunState,
        duration_ms: u64,
        succeeded: usize,
        failed: usize,
        skipped: usize,
        /// An objective was missed (the run exits 3 when it otherwise succeeded).
        objectives_missed: bool,
    },
}

/// Where events go.
pub trait EventSink: Send + Sync {
    fn emit(&self, event: &Event);
}

/// Several consumers of one stream, each told every event in order.
pub struct FanOut(pub Vec<std::sync::Arc<dyn EventSink>>);

impl EventSink for FanOut {
    fn emit(&self, event: &Event) {
        for sink in &self.0 {
            sink.emit(event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One event of every kind, optional fields given. The match below stops compiling when a kind is added
    /// without a sample here (and so without a row in docs/events.md).
    fn one_of_each() -> Vec<Event> {
        let s = || String::from("x");
        vec![
            Event::RunStarted {
                run_id: s(),
                runbook: s(),
                dry_run: false,
                steps: 1,
            },
            Event::StepStarted {
                step: s(),
                action: s(),
                cluster: Some(s()),
                attempt: 1,
            },
            Event::StepProgress {
                step: s(),
                objects: 1,
                bytes: 1,
                total: Some(2),
                phase: Some(s()),
            },
            Event::StepSucceeded {
                step: s(),
                duration_ms: 1,
                outputs: Outputs::new(),
                undo_state: None,
            },
            Event::StepResumed {
                step: s(),
                outputs: Outputs::new(),
            },
            Event::Checkpoint {
                step: s(),
                data: serde_json::Value::Null,
            },
            Event::RunInterrupted {
                run_id: s(),
                resume: s(),
                journal_error: Some(s()),
            },
            Event::ObjectResult {
                step: s(),
                kind: s(),
                name: s(),
                result: s(),
                reason: Some(s()),
                dry_run: false,
                changes: vec![s()],
            },
            Event::ObjectDrift {
                step: s(),
                kind: s(),
                name: s(),
                missing: false,
                fields: vec![s()],
            },
            Event::StepWarning {
                step: s(),
                message: s(),
            },
            Event::StepRetrying {
                step: s(),
                attempt: 1,
                error: s(),
                backoff_ms: 1,
            },
            Event::StepFailed {
                step: s(),
                duration_ms: 1,
                error: s(),
            },
            Event::StepSkipped {
                step: s(),
                reason: s(),
            },
            Event::RollbackStarted {
                step: s(),
                undos: 1,
            },
            Event::UndoStarted {
                step: s(),
                action: s(),
            },
            Event::StepUndone {
                step: s(),
                duration_ms: 1,
                error: Some(s()),
            },
            Event::ObjectiveChecked {
                objective: s(),
                target_ms: 1,
                measured_ms: 1,
                met: true,
            },
            Event::RunFinished {
                run_id: s(),
                state: RunState::Succeeded,
                duration_ms: 1,
                succeeded: 1,
                failed: 0,
                skipped: 0,
                objectives_missed: true,
            },
        ]
    }

    fn sampled(e: &Event) {
        match e {
            Event::RunStarted { .. }
            | Event::StepStarted { .. }
            | Event::StepProgress { .. }
            | Event::StepSucceeded { .. }
            | Event::StepResumed { .. }
            | Event::Checkpoint { .. }
            | Event::RunInterrupted { .. }
            | Event::ObjectResult { .. }
            | Event::ObjectDrift { .. }
            | Event::StepRetrying { .. }
            | Event::StepWarning { .. }
            | Event::StepFailed { .. }
            | Event::StepSkipped { .. }
            | Event::RollbackStarted { .. }
            | Event::UndoStarted { .. }
            | Event::StepUndone { .. }
            | Event::ObjectiveChecked { .. }
            | Event::RunFinished { .. } => {}
        }
    }

    #[test]
    fn every_event_and_its_fields_are_documented() {
        let doc = include_str!("../../../docs/events.md");
        for event in one_of_each() {
            sampled(&event);
            let json = serde_json::to_value(&event).unwrap_or_default();
            let Some(fields) = json.as_object() else {
                panic!("{event:?} is not an object");
            };
            let kind = fields["event"].as_str().unwrap_or_default();
            let row = doc
                .lines()
                .find(|l| l.starts_with(&format!("| `{kind}` |")))
                .unwrap_or_else(|| panic!("docs/events.md has no row for `{kind}`"));
            for field in fields.keys().filter(|f| *f != "event") {
                assert!(
                    row.contains(&format!("`{field}`")),
                    "docs/events.md does not describe field `{field}` of `{kind}`"
                );
            }
        }
    }
}
