//! `run --junit FILE.xml`: the run as JUnit XML for CI test reports. One `testsuite`
//! (named after the runbook) inside `testsuites`; one `testcase` per step (`classname`
//! = runbook, `name` = step id) and one per objective (`objective rto`, `objective
//! rpo`). A failed step or a missed objective is a `failure`, a skipped or never
//! reached step (or an objective not measured) is `skipped`, a step Ctrl-C stopped in
//! the middle is an `error`.

use std::fmt::Write;

use super::record::{ObjectiveRecord, RunRecord, StepRecord, StepState};
use super::{clip, escape, escape_attr, human_ms, seconds};
use crate::events::OutputValue;

/// The longest output value or error copied into the file, in characters.
const KEEP: usize = 8_000;

/// What a testcase says beyond passing.
enum Verdict {
    Pass,
    Failure { kind: &'static str, message: String },
    Error { kind: &'static str, message: String },
    Skipped(String),
}

/// The JUnit XML of a run.
pub fn render(record: &RunRecord) -> String {
    let cases: Vec<(String, u64, Verdict, String)> = record
        .steps
        .iter()
        .map(|s| {
            (
                s.id.clone(),
                step_ms(s),
                step_verdict(record, s),
                step_out(record, s),
            )
        })
        .chain(record.objectives.iter().map(|o| {
            (
                format!("objective {}", o.name),
                0,
                objective_verdict(record, o),
                objective_out(o),
            )
        }))
        .collect();
    let count = |f: fn(&Verdict) -> bool| cases.iter().filter(|c| f(&c.2)).count();
    let failures = count(|v| matches!(v, Verdict::Failure { .. }));
    let errors = count(|v| matches!(v, Verdict::Error { .. }));
    let skipped = count(|v| matches!(v, Verdict::Skipped(_)));
    let suite = escape_attr(&record.runbook);
    let time = seconds(record.duration_ms);
    let mut x = String::new();
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        "<testsuites name=\"lifeboat\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{time}\">",
        cases.len()
    );
    let _ = writeln!(
        x,
        "  <testsuite name=\"{suite}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{time}\" timestamp=\"{}\" hostname=\"{}\" id=\"0\">",
        cases.len(),
        // JUnit's timestamp has no zone; it is UTC (the `started` property has the zone).
        escape_attr(record.started.trim_end_matches('Z')),
        escape_attr(&record.host)
    );
    x.push_str("    <properties>\n");
    for (name, value) in [
        ("run_id", record.run_id.as_str()),
        ("state", record.state_label()),
        ("dry_run", if record.dry_run { "true" } else { "false" }),
        ("started", record.started.as_str()),
    ] {
        let _ = writeln!(
            x,
            "      <property name=\"{name}\" value=\"{}\"/>",
            escape_attr(value)
        );
    }
    if let Some(i) = &record.interruption {
        let _ = writeln!(
            x,
            "      <property name=\"resume\" value=\"{}\"/>",
            escape_attr(&i.resume)
        );
    }
    x.push_str("    </properties>\n");
    for (name, ms, verdict, out) in &cases {
        let _ = write!(
            x,
            "    <testcase classname=\"{suite}\" name=\"{}\" time=\"{}\">",
            escape_attr(name),
            seconds(*ms)
        );
        x.push('\n');
        match verdict {
            Verdict::Pass => {}
            Verdict::Failure { kind, message } => {
                let _ = writeln!(
                    x,
                    "      <failure type=\"{kind}\" message=\"{}\">{}</failure>",
                    escape_attr(&clip(message, KEEP)),
                    escape(&clip(message, KEEP))
                );
            }
            Verdict::Error { kind, message } => {
                let _ = writeln!(
                    x,
                    "      <error type=\"{kind}\" message=\"{}\">{}</error>",
                    escape_attr(message),
                    escape(message)
                );
            }
            Verdict::Skipped(message) => {
                let _ = writeln!(
                    x,
                    "      <skipped message=\"{}\"/>",
                    escape_attr(&clip(message, KEEP))
                );
            }
        }
        if !out.is_empty() {
            let _ = writeln!(x, "      <system-out>{}</system-out>", escape(out));
        }
        x.push_str("    </testcase>\n");
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}

/// How long a step took: the engine's figure, else its span in the record.
fn step_ms(s: &StepRecord) -> u64 {
    s.duration_ms
        .unwrap_or_else(|| match (s.start_ms, s.end_ms) {
            (Some(a), Some(b)) => b.saturating_sub(a),
            _ => 0,
        })
}

fn step_verdict(record: &RunRecord, s: &StepRecord) -> Verdict {
    match s.state {
        StepState::Succeeded | StepState::Resumed | StepState::Undone => Verdict::Pass,
        StepState::Failed => Verdict::Failure {
            kind: "step failed",
            message: s.error.clone().unwrap_or_else(|| "failed".into()),
        },
        StepState::UndoFailed => Verdict::Failure {
            kind: "undo failed",
            message: format!(
                "the step succeeded, but its undo failed during the rollback: {}",
                s.undo
                    .as_ref()
                    .and_then(|u| u.error.clone())
                    .unwrap_or_default()
            ),
        },
        StepState::Skipped => {
            Verdict::Skipped(s.reason.clone().unwrap_or_else(|| "skipped".into()))
        }
        StepState::NotRun => Verdict::Skipped(format!(
            "not run: the run ended before this step started{}",
            resume_hint(record)
        )),
        StepState::Unfinished => Verdict::Error {
            kind: "interrupted",
            message: format!(
                "interrupted before it finished (attempt {}){}",
                s.attempts.last().map_or(1, |a| a.number),
                resume_hint(record)
            ),
        },
    }
}

fn resume_hint(record: &RunRecord) -> String {
    record
        .interruption
        .as_ref()
        .map(|i| format!("; the run was interrupted, `{}` continues it", i.resume))
        .unwrap_or_default()
}

/// The step's details for `system-out`: where it ran, its retries, its outputs.
fn step_out(record: &RunRecord, s: &StepRecord) -> String {
    let mut out = String::new();
    let _ = write!(out, "action: {}", s.action);
    if let Some(c) = &s.cluster {
        let _ = write!(out, "\ncluster: {c}");
    }
    if s.attempts.len() > 1 {
        let _ = write!(out, "\nattempts: {}", s.attempts.len());
    }
    for a in s.retries() {
        let _ = write!(
            out,
            "\nattempt {} failed: {} (retried after {})",
            a.number,
            clip(a.error.as_deref().unwrap_or(""), KEEP),
            human_ms(a.backoff_ms.unwrap_or(0))
        );
    }
    if s.state == StepState::Resumed {
        out.push_str("\nsucceeded before a resume; outputs from the journal");
    }
    if let Some(u) = &s.undo {
        let after = record
            .rollback
            .as_ref()
            .map(|r| format!(" after `{}` failed", r.after))
            .unwrap_or_default();
        let _ = write!(
            out,
            "\nundone by the rollback{after} ({}){}",
            u.action,
            u.error
                .as_ref()
                .map(|e| format!(": the undo failed: {e}"))
                .unwrap_or_default()
        );
    }
    for (k, v) in &s.outputs {
        let text = match v {
            OutputValue::Str(s) => s.clone(),
            OutputValue::Map(_) => v.as_text(),
        };
        let _ = write!(out, "\noutput {k}: {}", clip(&text, KEEP));
    }
    for f in &s.object_failures {
        let _ = write!(out, "\nobject failed: {} {}: {}", f.kind, f.name, f.reason);
    }
    for d in &s.drift {
        let _ = write!(out, "\nobject drift: {} {} {}", d.kind, d.name, d.reason);
    }
    if s.drift_count > s.drift.len() as u64 {
        let _ = write!(
            out,
            "\n{} more objects with drift",
            s.drift_count - s.drift.len() as u64
        );
    }
    out
}

fn objective_verdict(record: &RunRecord, o: &ObjectiveRecord) -> Verdict {
    match (o.measured_ms, o.met) {
        (Some(m), Some(false)) => Verdict::Failure {
            kind: "objective missed",
            message: format!(
                "{} missed: measured {} against a target of {}",
                o.name.to_uppercase(),
                human_ms(m),
                human_ms(o.target_ms)
            ),
        },
        (Some(_), _) => Verdict::Pass,
        (None, _) => Verdict::Skipped(o.unmeasured_reason(record).to_string()),
    }
}

fn objective_out(o: &ObjectiveRecord) -> String {
    match o.measured_ms {
        Some(m) => format!(
            "{}: measured {} against a target of {}: {}",
            o.meaning(),
            human_ms(m),
            human_ms(o.target_ms),
            if o.met == Some(true) { "met" } else { "missed" }
        ),
        None => format!("{}: target {}", o.meaning(), human_ms(o.target_ms)),
    }
}
