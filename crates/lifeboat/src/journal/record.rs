//! One journal record: a format version, a sequence number, a time and an event.
//! Version 2 (this one) adds `step_progress` and `objective_checked`; version 1 is
//! read forever (a test reads a stored version-1 journal).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::events::Outputs;

/// The format this lifeboat writes.
pub const FORMAT_VERSION: u32 = 2;

/// How a run ended (or that it did not).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Succeeded,
    Failed,
    /// Failed, then rolled back.
    RolledBack,
    /// Stopped by Ctrl-C; resumable.
    Interrupted,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum JournalEvent {
    RunStarted {
        run_id: String,
        runbook: String,
        /// The runbook file, as an absolute path.
        path: String,
        /// sha256 of the runbook file.
        digest: String,
        /// Bound params; secret ones masked.
        params: BTreeMap<String, String>,
        dry_run: bool,
        host: String,
        pid: u32,
    },
    RunResumed {
        host: String,
        pid: u32,
        /// The runbook's digest now (differs when resumed with `--allow-changed`).
        digest: String,
    },
    StepStarted {
        step: String,
        attempt: u32,
    },
    StepSucceeded {
        step: String,
        duration_ms: u64,
        outputs: Outputs,
        /// What the action's own undo needs.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        undo_state: Option<serde_json::Value>,
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
    /// Progress inside a long step that a resume continues from.
    Checkpoint {
        step: String,
        data: serde_json::Value,
    },
    StepUndone {
        step: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// Work done inside a running step so far (cumulative), at most one record every
    /// `PROGRESS_EVERY` per step: for `status --watch`, not for resuming. Version 2.
    StepProgress {
        step: String,
        objects: u64,
        bytes: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        total: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        phase: Option<String>,
    },
    /// An objective measured at the end of the run. Version 2.
    ObjectiveChecked {
        objective: String,
        target_ms: u64,
        measured_ms: u64,
        met: bool,
    },
    RunFinished {
        state: RunState,
        duration_ms: u64,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub v: u32,
    pub seq: u64,
    pub time: String,
    #[serde(flatten)]
    pub event: JournalEvent,
}

impl Record {
    pub fn new(seq: u64, event: JournalEvent) -> Record {
        Record {
            v: FORMAT_VERSION,
            seq,
            time: crate::clock::millis(crate::clock::now()),
            event,
        }
    }

    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads one record, refusing versions newer than this lifeboat knows.
    pub fn parse(line: &str) -> Result<Record, String> {
        let value: serde_json::Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
        let v = value
            .get("v")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0);
        if v > u64::from(FORMAT_VERSION) {
            return Err(format!(
                "written by a newer lifeboat (journal format {v}, this one reads {FORMAT_VERSION}); upgrade lifeboat"
            ));
        }
        serde_json::from_value(value).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A version-1 journal as lifeboat 0.1 wrote it. Never change this text.
    const V1: &str = include_str!("../../tests/fixtures/journal-v1.jsonl");

    #[test]
    fn reads_journal_format_version_1_forever() {
        let records: Vec<Record> = V1
            .lines()
            .map(|l| Record::parse(l).expect("v1 record"))
            .collect();
        assert!(matches!(records[0].event, JournalEvent::RunStarted { .. }));
        assert!(records.iter().all(|r| r.v == 1));
        assert!(records.iter().any(
            |r| matches!(&r.event, JournalEvent::StepSucceeded { step, .. } if step == "backup")
        ));
    }

    #[test]
    fn refuses_a_newer_format() {
        let newer = V1.lines().next().unwrap_or_default().replacen(
            "\"v\":1",
            &format!("\"v\":{}", FORMAT_VERSION + 1),
            1,
        );
        assert!(
            Record::parse(&newer)
                .unwrap_err()
                .contains("upgrade lifeboat")
        );
    }
}
