//! The journal as a consumer of the engine's event stream: each event that changes
//! what a resume must know becomes a journal record, durable before the engine goes
//! on. A write that fails is kept, and the engine stops the run: a run that cannot
//! checkpoint must not go on changing clusters.

use std::sync::Mutex;

use super::{Journal, JournalError, JournalEvent, RunState};
use crate::events::{Event, EventSink};

pub struct JournalSink {
    journal: Mutex<Journal>,
    failure: Mutex<Option<String>>,
}

impl JournalSink {
    pub fn new(journal: Journal) -> JournalSink {
        JournalSink {
            journal: Mutex::new(journal),
            failure: Mutex::new(None),
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

    /// The first journal write that failed, if any.
    pub fn failure(&self) -> Option<String> {
        self.failure.lock().ok().and_then(|f| f.clone())
    }
}

impl EventSink for JournalSink {
    fn emit(&self, event: &Event) {
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
