//! Reading a journal back: what a run was (runbook, digest, params), what each step
//! did (attempts, outputs, errors, checkpoints), and how it ended. `resume` and
//! `status` both read runs through this.

use std::collections::BTreeMap;

use super::record::{JournalEvent, Record, RunState};
use crate::events::Outputs;

/// One step as the journal tells it.
#[derive(Clone, Debug, Default)]
pub struct StepRecord {
    /// `started`, `succeeded`, `failed`, `skipped`.
    pub state: String,
    pub attempts: u32,
    pub duration_ms: Option<u64>,
    pub outputs: Option<Outputs>,
    pub undo_state: Option<serde_json::Value>,
    pub error: Option<String>,
    pub reason: Option<String>,
    /// Checkpoints recorded inside the step, oldest first.
    pub checkpoints: Vec<serde_json::Value>,
    pub undone: Option<Result<(), String>>,
    /// The last progress recorded while it ran.
    pub progress: Option<crate::progress::Told>,
}

/// An objective as the run measured it at its end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectiveRecord {
    pub objective: String,
    pub target_ms: u64,
    pub measured_ms: u64,
    pub met: bool,
}

/// A run, replayed.
#[derive(Clone, Debug)]
pub struct Replay {
    pub run_id: String,
    pub runbook: String,
    pub path: String,
    pub digest: String,
    pub params: BTreeMap<String, String>,
    pub dry_run: bool,
    pub started: String,
    /// `None` while the run has not finished (it is running, or it died).
    pub finished: Option<RunState>,
    pub steps: BTreeMap<String, StepRecord>,
    /// Step ids in the order they started.
    pub order: Vec<String>,
    /// The objectives measured at the end of the last attempt of the run.
    pub objectives: Vec<ObjectiveRecord>,
    /// Records read (the next one is this + 1).
    pub records: u64,
}

/// A one-line view of a run for `status`.
#[derive(Clone, Debug)]
pub struct RunSummary {
    pub run_id: String,
    pub runbook: String,
    pub started: String,
    pub state: String,
    pub last_step: Option<String>,
}

impl Replay {
    pub fn from_records(run_id: &str, records: &[Record]) -> Result<Replay, String> {
        let Some(first) = records.first() else {
            return Err("the journal is empty".into());
        };
        let JournalEvent::RunStarted {
            run_id: started,
            runbook,
            path,
            digest,
            params,
            dry_run,
            ..
        } = &first.event
        else {
            return Err("the journal does not start with run_started".into());
        };
        if started != run_id {
            return Err(format!(
                "the journal of run {run_id} starts run {started}: it was copied or edited; resume run {started} where its journal is"
            ));
        }
        // Records are numbered from 1 with no gap: a missing, repeated or reordered one
        // means the journal was edited, or two writers shared the run id.
        if let Some((i, r)) = records
            .iter()
            .enumerate()
            .find(|(i, r)| r.seq != *i as u64 + 1)
        {
            return Err(format!(
                "record {} has sequence number {}, not {}: the journal was edited or two processes wrote it; it cannot be resumed",
                i + 1,
                r.seq,
                i + 1
            ));
        }
        let mut replay = Replay {
            run_id: run_id.to_string(),
            runbook: runbook.clone(),
            path: path.clone(),
            digest: digest.clone(),
            params: params.clone(),
            dry_run: *dry_run,
            started: first.time.clone(),
            finished: None,
            steps: BTreeMap::new(),
            order: Vec::new(),
            objectives: Vec::new(),
            records: records.len() as u64,
        };
        for r in &records[1..] {
            replay.apply(&r.event);
        }
        Ok(replay)
    }

    /// Takes the records that followed the ones this replay read (`status --watch`
    /// reading a journal as it grows); they must continue its numbering.
    pub fn extend(&mut self, records: &[Record]) -> Result<(), String> {
        for r in records {
            if r.seq != self.records + 1 {
                return Err(format!(
                    "record {} follows record {}: the journal was edited or two processes wrote it",
                    r.seq, self.records
                ));
            }
            self.apply(&r.event);
            self.records = r.seq;
        }
        Ok(())
    }

    /// Whether an objective measured at the end was missed.
    pub fn objectives_missed(&self) -> bool {
        self.objectives.iter().any(|o| !o.met)
    }

    fn step(&mut self, id: &str) -> &mut StepRecord {
        if !self.steps.contains_key(id) {
            self.order.push(id.to_string());
        }
        self.steps.entry(id.to_string()).or_default()
    }

    fn apply(&mut self, event: &JournalEvent) {
        match event {
            JournalEvent::RunStarted { .. } => {}
            JournalEvent::RunResumed { digest, .. } => {
                self.finished = None;
                self.objectives.clear();
                self.digest = digest.clone();
            }
            JournalEvent::StepStarted { step, attempt } => {
                let s = self.step(step);
                s.state = "started".into();
                s.attempts = s.attempts.max(*attempt);
                s.error = None;
                s.progress = None;
            }
            JournalEvent::StepSucceeded {
                step,
                duration_ms,
                outputs,
                undo_state,
            } => {
                let s = self.step(step);
                s.state = "succeeded".into();
                s.duration_ms = Some(*duration_ms);
                s.outputs = Some(outputs.clone());
                s.undo_state = undo_state.clone();
            }
            JournalEvent::StepFailed {
                step,
                duration_ms,
                error,
            } => {
                let s = self.step(step);
                s.state = "failed".into();
                s.duration_ms = Some(*duration_ms);
                s.error = Some(error.clone());
            }
            JournalEvent::StepSkipped { step, reason } => {
                let s = self.step(step);
                s.state = "skipped".into();
                s.reason = Some(reason.clone());
            }
            JournalEvent::Checkpoint { step, data } => {
                self.step(step).checkpoints.push(data.clone())
            }
            JournalEvent::StepUndone { step, error } => {
                self.step(step).undone = Some(error.clone().map_or(Ok(()), Err));
            }
            JournalEvent::StepProgress {
                step,
                objects,
                bytes,
                total,
                phase,
            } => {
                self.step(step).progress = Some(crate::progress::Told {
                    objects: *objects,
                    bytes: *bytes,
                    total: *total,
                    phase: phase.clone(),
                })
            }
            JournalEvent::ObjectiveChecked {
                objective,
                target_ms,
                measured_ms,
                met,
            } => self.objectives.push(ObjectiveRecord {
                objective: objective.clone(),
                target_ms: *target_ms,
                measured_ms: *measured_ms,
                met: *met,
            }),
            JournalEvent::RunFinished { state, .. } => self.finished = Some(*state),
        }
    }

    pub fn summary(&self) -> RunSummary {
        RunSummary {
            run_id: self.run_id.clone(),
            runbook: self.runbook.clone(),
            started: self.started.clone(),
            state: match self.finished {
                Some(RunState::Succeeded) => "succeeded".into(),
                Some(RunState::Failed) => "failed".into(),
                Some(RunState::RolledBack) => "rolled back".into(),
                Some(RunState::Interrupted) => "interrupted".into(),
                None => "running or died".into(),
            },
            last_step: self.order.last().cloned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started(run_id: &str) -> JournalEvent {
        JournalEvent::RunStarted {
            run_id: run_id.into(),
            runbook: "rb".into(),
            path: "/rb.yaml".into(),
            digest: "d".into(),
            params: BTreeMap::new(),
            dry_run: false,
            host: "h".into(),
            pid: 1,
        }
    }

    fn step(step: &str) -> JournalEvent {
        JournalEvent::StepStarted {
            step: step.into(),
            attempt: 1,
        }
    }

    #[test]
    fn a_journal_reads_back_in_order() {
        let records = [Record::new(1, started("r1")), Record::new(2, step("a"))];
        let replay = Replay::from_records("r1", &records).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(replay.order, ["a"]);
        assert_eq!(replay.records, 2);
    }

    #[test]
    fn another_runs_journal_is_refused() {
        let records = [Record::new(1, started("r2")), Record::new(2, step("a"))];
        let e = Replay::from_records("r1", &records)
            .err()
            .unwrap_or_default();
        assert!(
            e.contains("starts run r2") && e.contains("copied or edited"),
            "{e}"
        );
    }

    #[test]
    fn a_record_missing_repeated_or_out_of_order_is_refused() {
        for seqs in [[1, 3, 4], [1, 2, 2], [1, 3, 2]] {
            let records: Vec<Record> = seqs
                .iter()
                .map(|&n| {
                    if n == 1 {
                        Record::new(1, started("r1"))
                    } else {
                        Record::new(n, step("a"))
                    }
                })
                .collect();
            let e = Replay::from_records("r1", &records)
                .err()
                .unwrap_or_default();
            assert!(
                e.contains("sequence number") && e.contains("cannot be resumed"),
                "{seqs:?}: {e}"
            );
        }
    }
}
