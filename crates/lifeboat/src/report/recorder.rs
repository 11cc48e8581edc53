//! `RunRecorder`, the `EventSink` that builds a run's `RunRecord` as the events arrive:
//! it stamps every event with the time it arrived (events carry no timestamps; the
//! engine emits them in real time). Every string taken from an event passes through
//! the secret mask first, so nothing a report shows can hold a secret param's value.

use std::sync::Mutex;
use std::time::Instant;

use super::record::{
    Attempt, Interruption, ObjectiveRecord, RollbackRecord, RunRecord, StepRecord, StepState,
    UndoRecord,
};
use crate::events::{Event, EventSink, Outputs};
use crate::runbook::Loaded;
use crate::secrets::SecretMask;

/// Records a run from its events.
pub struct RunRecorder {
    inner: Mutex<Recording>,
    /// Values of secret params, replaced by the mask in every recorded string.
    mask: SecretMask,
}

struct Recording {
    record: RunRecord,
    /// When `RunStarted` arrived; offsets are measured from it.
    origin: Option<Instant>,
    /// Whether `RunFinished` arrived.
    finished: bool,
}

impl RunRecorder {
    /// A recorder for a run of `loaded`: every step is known (as not run) before the
    /// run starts, so a run that stops early still lists the steps it never reached.
    pub fn new(loaded: &Loaded, run_id: &str, dry_run: bool) -> RunRecorder {
        let plan = crate::plan::build(loaded);
        let rb = &loaded.runbook;
        let mut objectives = Vec::new();
        if let Some(o) = &rb.objectives {
            for (name, target) in [("rto", &o.rto), ("rpo", &o.rpo)] {
                if let Some(t) = target {
                    objectives.push(ObjectiveRecord {
                        name: name.to_string(),
                        target_ms: crate::engine::step::millis(t.value.0),
                        measured_ms: None,
                        met: None,
                    });
                }
            }
        }
        let now = crate::clock::now();
        let recorder = RunRecorder {
            inner: Mutex::new(Recording {
                record: RunRecord {
                    runbook: rb.metadata.name.value.0.clone(),
                    description: None,
                    run_id: run_id.to_string(),
                    dry_run,
                    host: crate::journal::hostname(),
                    started_unix: crate::clock::unix_secs(now),
                    started: crate::clock::seconds(now),
                    duration_ms: 0,
                    state: None,
                    steps: Vec::new(),
                    rollback: None,
                    objectives,
                    interruption: None,
                },
                origin: None,
                finished: false,
            }),
            mask: SecretMask::of(loaded),
        };
        let description = rb.metadata.description.as_deref().map(|d| recorder.mask(d));
        let steps = plan
            .steps
            .into_iter()
            .map(|s| StepRecord {
                title: s.name.as_deref().map(|n| recorder.mask(n)),
                cluster: s.cluster,
                ..StepRecord::not_run(&s.id, &s.uses)
            })
            .collect();
        if let Ok(mut r) = recorder.inner.lock() {
            r.record.description = description;
            r.record.steps = steps;
        }
        recorder
    }

    /// The record as it stands; steps still running are shown unfinished, ending now.
    pub fn record(&self) -> Option<RunRecord> {
        let r = self.inner.lock().ok()?;
        let mut record = r.record.clone();
        if !r.finished {
            let now = r
                .origin
                .map_or(0, |o| crate::engine::step::millis(o.elapsed()));
            record.duration_ms = record.duration_ms.max(now);
            close_unfinished(&mut record, now);
        }
        Some(record)
    }

    fn mask(&self, text: &str) -> String {
        self.mask.text(text)
    }

    fn mask_outputs(&self, outputs: &Outputs) -> Outputs {
        self.mask.outputs(outputs)
    }
}

/// Steps still running when the run ended are unfinished; their open attempt and undo
/// end at `now`.
fn close_unfinished(record: &mut RunRecord, now: u64) {
    for s in &mut record.steps {
        if s.state == StepState::Unfinished || (s.ran() && s.end_ms.is_none()) {
            s.state = StepState::Unfinished;
            s.end_ms = Some(now);
            if let Some(a) = s.attempts.last_mut() {
                a.end_ms.get_or_insert(now);
            }
        }
        if let Some(u) = &mut s.undo {
            u.end_ms.get_or_insert(now);
        }
    }
}

impl EventSink for RunRecorder {
    fn emit(&self, event: &Event) {
        let Ok(mut guard) = self.inner.lock() else {
            return;
        };
        let r = &mut *guard;
        let arrived = Instant::now();
        if matches!(event, Event::RunStarted { .. }) && r.origin.is_none() {
            r.origin = Some(arrived);
            let now = crate::clock::now();
            r.record.started_unix = crate::clock::unix_secs(now);
            r.record.started = crate::clock::seconds(now);
        }
        let at = r.origin.map_or(0, |o| {
            crate::engine::step::millis(arrived.duration_since(o))
        });
        let record = &mut r.record;
        match event {
            Event::RunStarted {
                run_id, dry_run, ..
            } => {
                record.run_id = run_id.clone();
                record.dry_run = *dry_run;
            }
            Event::StepStarted {
                step,
                action,
                cluster,
                attempt,
            } => {
                let s = record.step_mut(step, action);
                s.state = StepState::Unfinished;
                s.start_ms.get_or_insert(at);
                if cluster.is_some() {
                    s.cluster = cluster.clone();
                }
                s.attempts.push(Attempt {
                    number: *attempt,
                    start_ms: at,
                    end_ms: None,
                    error: None,
                    backoff_ms: None,
                });
            }
            Event::StepProgress { .. } | Event::Checkpoint { .. } => {}
            Event::StepSucceeded {
                step,
                duration_ms,
                outputs,
                ..
            } => {
                let outputs = self.mask_outputs(outputs);
                let s = record.step_mut(step, "");
                s.state = StepState::Succeeded;
                s.end_ms = Some(at);
                s.duration_ms = Some(*duration_ms);
                s.outputs = outputs;
                if let Some(a) = s.attempts.last_mut() {
                    a.end_ms = Some(at);
                }
            }
            Event::StepResumed { step, outputs } => {
                let outputs = self.mask_outputs(outputs);
                let s = record.step_mut(step, "");
                s.state = StepState::Resumed;
                s.start_ms = Some(at);
                s.end_ms = Some(at);
                s.outputs = outputs;
            }
            Event::StepRetrying {
                step,
                attempt,
                error,
                backoff_ms,
            } => {
                let error = self.mask(error);
                let s = record.step_mut(step, "");
                if let Some(a) = s.attempts.iter_mut().rev().find(|a| a.number == *attempt) {
                    a.end_ms = Some(at);
                    a.error = Some(error);
                    a.backoff_ms = Some(*backoff_ms);
                }
            }
            Event::StepFailed {
                step,
                duration_ms,
                error,
            } => {
                let error = self.mask(error);
                let s = record.step_mut(step, "");
                s.state = StepState::Failed;
                s.start_ms.get_or_insert(at);
                s.end_ms = Some(at);
                s.duration_ms = Some(*duration_ms);
                if let Some(a) = s.attempts.last_mut().filter(|a| a.end_ms.is_none()) {
                    a.end_ms = Some(at);
                    a.error = Some(error.clone());
                }
                s.error = Some(error);
            }
            Event::StepWarning { step, message } => {
                let message = self.mask(message);
                record.step_mut(step, "").warnings.push(message);
            }
            Event::StepSkipped { step, reason } => {
                let reason = self.mask(reason);
                let s = record.step_mut(step, "");
                s.state = StepState::Skipped;
                s.start_ms = Some(at);
                s.end_ms = Some(at);
                s.reason = Some(reason);
            }
            Event::ObjectResult {
                step,
                kind,
                name,
                result,
                reason,
                ..
            } => {
                let (kind, name) = (self.mask(kind), self.mask(name));
                let reason = reason.as_deref().map(|r| self.mask(r));
                record
                    .step_mut(step, "")
                    .count_object(kind, name, result, reason);
            }
            Event::ObjectDrift {
                step,
                kind,
                name,
                missing,
                fields,
            } => {
                let what = if *missing {
                    "missing".to_string()
                } else {
                    format!("differs at {}", fields.join(", "))
                };
                record.step_mut(step, "").count_drift(
                    self.mask(kind),
                    self.mask(name),
                    self.mask(&what),
                );
            }
            Event::RollbackStarted { step, undos } => {
                record.rollback = Some(RollbackRecord {
                    after: step.clone(),
                    at_ms: at,
                    undos: *undos,
                });
            }
            Event::UndoStarted { step, action } => {
                let s = record.step_mut(step, "");
                s.undo = Some(UndoRecord {
                    action: action.clone(),
                    start_ms: at,
                    end_ms: None,
                    duration_ms: None,
                    error: None,
                });
            }
            Event::StepUndone {
                step,
                duration_ms,
                error,
            } => {
                let error = error.as_deref().map(|e| self.mask(e));
                record.step_mut(step, "").undone(at, *duration_ms, error);
            }
            Event::ObjectiveChecked {
                objective,
                target_ms,
                measured_ms,
                met,
            } => record.objective_checked(objective, *target_ms, *measured_ms, *met),
            Event::RunInterrupted {
                resume,
                journal_error,
                ..
            } => {
                record.interruption = Some(Interruption {
                    resume: self.mask(resume),
                    journal_error: journal_error.as_deref().map(|e| self.mask(e)),
                });
            }
            Event::RunFinished {
                state, duration_ms, ..
            } => {
                record.state = Some(*state);
                record.duration_ms = *duration_ms;
                close_unfinished(record, at.max(*duration_ms));
                r.finished = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{OutputValue, Outputs, RunState};

    const SECRET: &str = "tok-s3cr3t";

    fn loaded() -> Loaded {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("rb.yaml");
        std::fs::write(
            &path,
            format!(
                "apiVersion: lifeboat.dev/v1alpha1\nkind: Runbook\nmetadata: {{ name: rec, description: \"a <b> & c\" }}\nparams:\n  token: {{ secret: true, default: {SECRET} }}\nobjectives: {{ rto: 1h, rpo: 1m }}\nsteps:\n  - {{ id: a, uses: sleep, with: {{ duration: 1ms }} }}\n  - {{ id: b, name: \"Second\", uses: sleep, with: {{ duration: 1ms }} }}\n  - {{ id: c, uses: sleep, with: {{ duration: 1ms }} }}\n"
            ),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        crate::runbook::load(&path, &[]).unwrap_or_else(|e| panic!("{e}"))
    }

    fn started(step: &str, attempt: u32) -> Event {
        Event::StepStarted {
            step: step.into(),
            action: "sleep".into(),
            cluster: None,
            attempt,
        }
    }

    fn run_started() -> Event {
        Event::RunStarted {
            run_id: "r1".into(),
            runbook: "rec".into(),
            dry_run: false,
            steps: 3,
        }
    }

    fn finished(state: RunState) -> Event {
        Event::RunFinished {
            run_id: "r1".into(),
            state,
            duration_ms: 10,
            succeeded: 1,
            failed: 0,
            skipped: 0,
            objectives_missed: false,
        }
    }

    #[test]
    fn an_interrupted_run_keeps_retries_and_marks_unfinished_and_unreached_steps() {
        let loaded = loaded();
        let rec = RunRecorder::new(&loaded, "r1", false);
        let mut outputs = Outputs::new();
        outputs.insert("said".into(), OutputValue::Str(format!("x {SECRET} y")));
        for e in [
            run_started(),
            started("a", 1),
            Event::StepRetrying {
                step: "a".into(),
                attempt: 1,
                error: format!("boom with {SECRET}"),
                backoff_ms: 5,
            },
            started("a", 2),
            Event::StepSucceeded {
                step: "a".into(),
                duration_ms: 7,
                outputs,
                undo_state: None,
            },
            started("b", 1),
            finished(RunState::Interrupted),
            Event::RunInterrupted {
                run_id: "r1".into(),
                resume: "lifeboat resume r1".into(),
                journal_error: None,
            },
        ] {
            rec.emit(&e);
        }
        let r = rec.record().unwrap_or_else(|| panic!("no record"));
        let a = r.step("a").unwrap_or_else(|| panic!("no a"));
        assert_eq!(a.state, StepState::Succeeded);
        assert_eq!(a.attempts.len(), 2);
        assert_eq!(a.retries().count(), 1);
        assert_eq!(a.duration_ms, Some(7));
        assert_eq!(
            a.attempts[0].error.as_deref(),
            Some("boom with ********"),
            "errors are masked"
        );
        assert_eq!(
            a.outputs.get("said"),
            Some(&OutputValue::Str("x ******** y".into()))
        );
        let b = r.step("b").unwrap_or_else(|| panic!("no b"));
        assert_eq!(b.state, StepState::Unfinished);
        assert!(b.end_ms.is_some());
        assert_eq!(b.title.as_deref(), Some("Second"));
        assert_eq!(r.step("c").map(|c| c.state), Some(StepState::NotRun));
        assert_eq!(r.objectives.len(), 2);
        assert!(r.objectives.iter().all(|o| o.measured_ms.is_none()));
        assert_eq!(r.state_label(), "interrupted");
        assert!(r.interruption.is_some());

        let junit = crate::report::junit::render(&r);
        assert!(
            junit.contains("tests=\"5\" failures=\"0\" errors=\"1\" skipped=\"3\""),
            "{junit}"
        );
        let html = crate::report::html::render(&r);
        assert!(
            html.contains("a &lt;b&gt; &amp; c"),
            "the description is escaped"
        );
        for text in [&junit, &html] {
            assert!(!text.contains(SECRET));
        }
    }

    #[test]
    fn a_rollback_marks_undone_steps_and_objectives_carry_their_measure() {
        let loaded = loaded();
        let rec = RunRecorder::new(&loaded, "r1", false);
        let hostile = "<script>alert('x')</script> & \u{1b}[31m\"]]>";
        for e in [
            run_started(),
            started("a", 1),
            Event::StepSucceeded {
                step: "a".into(),
                duration_ms: 1,
                outputs: Outputs::new(),
                undo_state: None,
            },
            started("b", 1),
            Event::StepFailed {
                step: "b".into(),
                duration_ms: 1,
                error: hostile.into(),
            },
            Event::StepSkipped {
                step: "c".into(),
                reason: "the run stopped when `b` failed".into(),
            },
            Event::RollbackStarted {
                step: "b".into(),
                undos: 1,
            },
            Event::UndoStarted {
                step: "a".into(),
                action: "sleep".into(),
            },
            Event::StepUndone {
                step: "a".into(),
                duration_ms: 1,
                error: None,
            },
            Event::ObjectiveChecked {
                objective: "rto".into(),
                target_ms: 3_600_000,
                measured_ms: 12,
                met: true,
            },
            finished(RunState::RolledBack),
        ] {
            rec.emit(&e);
        }
        let r = rec.record().unwrap_or_else(|| panic!("no record"));
        assert_eq!(r.step("a").map(|s| s.state), Some(StepState::Undone));
        assert_eq!(r.step("b").map(|s| s.state), Some(StepState::Failed));
        assert_eq!(r.step("c").map(|s| s.state), Some(StepState::Skipped));
        assert_eq!(r.rollback.as_ref().map(|rb| rb.after.as_str()), Some("b"));
        let rto = &r.objectives[0];
        assert_eq!((rto.measured_ms, rto.met), (Some(12), Some(true)));
        assert_eq!(
            r.objectives[1].measured_ms, None,
            "no restore: RPO unmeasured"
        );

        let junit = crate::report::junit::render(&r);
        assert!(
            junit.contains("failures=\"1\" errors=\"0\" skipped=\"2\""),
            "{junit}"
        );
        let html = crate::report::html::render(&r);
        for text in [&junit, &html] {
            assert!(!text.contains("<script>"), "{text}");
            assert!(!text.contains('\u{1b}'), "a control character got through");
            assert!(text.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp;"));
        }
        assert!(junit.contains("&quot;]]&gt;"), "{junit}");
        assert_eq!(html.matches("<rect class=\"bar ").count(), 3);
        assert!(
            html.contains("<rect class=\"undo\""),
            "the undo has its bar"
        );
        assert!(
            html.contains("class=\"rollback\""),
            "the rollback has its line"
        );
    }
}
