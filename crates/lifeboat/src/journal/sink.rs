//! The journal as a consumer of the engine's event stream: each event that changes
//! what a resume must know becomes a journal record, durable before the engine goes
//! on. A write that fails is kept, and the engine stops the run: a run that cannot
//! checkpoint must not go on changing clusters. Progress inside a step is recorded at
//! a bounded rate (`PROGRESS_EVERY` per step), so `status --watch` can follow a long
//! step without the journal growing with every object.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{Journal, JournalError, JournalEvent, RunState};
use crate::events::{Event, EventSink};

/// At most one progress record per step in this time.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(2);

pub struct JournalSink {
    journal: Mutex<Journal>,
    failure: Mutex<Option<String>>,
    /// When each step's last progress record was written.
    progress_written: Mutex<HashMap<String, Instant>>,
}

impl JournalSink {
    pub fn new(journal: Journal) -> JournalSink {
        JournalSink {
            journal: Mutex::new(journal),
            failure: Mutex::new(None),
            progress_written: Mutex::new(HashMap::new()),
        }
    }

    /// Appends a record now (run start, resume, finish).
    pub fn record(&self, event: JournalEvent) {
        let result = match self.journal.lock() {
            Ok(mut j) => block_on(j.append(event)),
            Err(_) => Err(JournalError::Write {
                run_id: String::new(),
                location: String::new(),
                message: "the journal is unusable after a panic".into(),
            }),
        };
        if let Err(e) = result
            && let Ok(mut f) = self.failure.lock()
        {
            f.get_or_insert(e.to_string());
        }
    }

    /// Whether a progress record of `step` is due at `now` (its first one, or
    /// `PROGRESS_EVERY` after the last); if so, counts it as written.
    fn progress_due(&self, step: &str, now: Instant) -> bool {
        let Ok(mut written) = self.progress_written.lock() else {
            return false;
        };
        match written.get(step) {
            Some(last) if now.duration_since(*last) < PROGRESS_EVERY => false,
            _ => {
                written.insert(step.to_string(), now);
                true
            }
        }
    }

    /// The first journal write that failed, if any.
    pub fn failure(&self) -> Option<String> {
        self.failure.lock().ok().and_then(|f| f.clone())
    }
}

impl EventSink for JournalSink {
    fn emit(&self, event: &Event) {
        if let Event::StepProgress { step, .. } = event
            && !self.progress_due(step, Instant::now())
        {
            return;
        }
        if let Some(record) = to_record(event) {
            self.record(record);
        }
    }
}

fn to_record(event: &Event) -> Option<JournalEvent> {
    Some(match event {
        Event::StepStarted { step, attempt, .. } => JournalEvent::StepStarted {
            step: step.clone(),
            attempt: *attempt,
        },
        Event::StepSucceeded {
            step,
            duration_ms,
            outputs,
            undo_state,
        } => JournalEvent::StepSucceeded {
            step: step.clone(),
            duration_ms: *duration_ms,
            outputs: outputs.clone(),
            undo_state: undo_state.clone().filter(|s| !holds_secret(s)),
        },
        Event::StepFailed {
            step,
            duration_ms,
            error,
        } => JournalEvent::StepFailed {
            step: step.clone(),
            duration_ms: *duration_ms,
            error: error.clone(),
        },
        Event::StepSkipped { step, reason } => JournalEvent::StepSkipped {
            step: step.clone(),
            reason: reason.clone(),
        },
        Event::Checkpoint { step, data } => JournalEvent::Checkpoint {
            step: step.clone(),
            data: data.clone(),
        },
        Event::StepUndone { step, error, .. } => JournalEvent::StepUndone {
            step: step.clone(),
            error: error.clone(),
        },
        Event::StepProgress {
            step,
            objects,
            bytes,
            total,
            phase,
        } => JournalEvent::StepProgress {
            step: step.clone(),
            objects: *objects,
            bytes: *bytes,
            total: *total,
            phase: phase.clone(),
        },
        Event::ObjectiveChecked {
            objective,
            target_ms,
            measured_ms,
            met,
        } => JournalEvent::ObjectiveChecked {
            objective: objective.clone(),
            target_ms: *target_ms,
            measured_ms: *measured_ms,
            met: *met,
        },
        Event::RunFinished {
            state, duration_ms, ..
        } => JournalEvent::RunFinished {
            state: match state {
                crate::events::RunState::Succeeded => RunState::Succeeded,
                crate::events::RunState::Failed => RunState::Failed,
                crate::events::RunState::RolledBack => RunState::RolledBack,
                crate::events::RunState::Interrupted => RunState::Interrupted,
            },
            duration_ms: *duration_ms,
        },
        _ => return None,
    })
}

/// A Secret's content never enters the journal (its undo then works only in the
/// process that patched it).
fn holds_secret(state: &serde_json::Value) -> bool {
    state.get("kind").and_then(serde_json::Value::as_str) == Some("Secret")
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => tokio::task::block_in_place(|| handle.block_on(f)),
        Err(_) => match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt.block_on(f),
            Err(e) => panic!("cannot build a runtime to write the journal: {e}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::StateLocation;

    fn progress(step: &str, objects: u64) -> Event {
        Event::StepProgress {
            step: step.into(),
            objects,
            bytes: objects * 10,
            total: Some(100),
            phase: Some("tier 1/7".into()),
        }
    }

    /// A restore reports progress per object; the journal takes one record per step
    /// per `PROGRESS_EVERY`, the first at once.
    #[test]
    fn progress_is_due_once_per_step_per_interval() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let location = StateLocation::Local(dir.path().to_path_buf());
        let journal = Journal::open(location, "r1", 0).unwrap_or_else(|e| panic!("{e}"));
        let sink = JournalSink::new(journal);
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let due: Vec<bool> = [
            ("restore", 0),
            ("restore", 1),
            ("copy", 1),
            ("restore", 1_999),
            ("copy", 1_500),
            ("restore", 2_000),
            ("restore", 3_000),
            ("copy", 2_001),
            ("restore", 4_000),
        ]
        .iter()
        .map(|&(step, ms)| sink.progress_due(step, at(ms)))
        .collect();
        assert_eq!(
            due,
            [true, false, true, false, false, true, false, true, true]
        );
    }

    /// What reaches the journal: progress and objectives records, for `status --watch`.
    #[tokio::test(flavor = "multi_thread")]
    async fn progress_and_objectives_are_recorded() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let location = StateLocation::Local(dir.path().to_path_buf());
        let journal = Journal::open(location.clone(), "r1", 0).unwrap_or_else(|e| panic!("{e}"));
        let sink = JournalSink::new(journal);
        sink.emit(&progress("restore", 7));
        sink.emit(&Event::ObjectiveChecked {
            objective: "rto".into(),
            target_ms: 1_000,
            measured_ms: 2_000,
            met: false,
        });
        let records = location.read("r1").await.unwrap_or_else(|e| panic!("{e}"));
        let events: Vec<&JournalEvent> = records.iter().map(|r| &r.event).collect();
        assert_eq!(
            events,
            [
                &JournalEvent::StepProgress {
                    step: "restore".into(),
                    objects: 7,
                    bytes: 70,
                    total: Some(100),
                    phase: Some("tier 1/7".into()),
                },
                &JournalEvent::ObjectiveChecked {
                    objective: "rto".into(),
                    target_ms: 1_000,
                    measured_ms: 2_000,
                    met: false
                },
            ]
        );
        assert!(sink.failure().is_none());
    }
}
