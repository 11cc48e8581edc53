//! Event sinks for `run`: one human line per event (`--output human`), or the events
//! themselves as JSON Lines (`--output json`).

use std::io::Write;
use std::sync::Mutex;

use crate::events::{Event, EventSink, OutputValue, RunState};

/// Prints one readable line per event.
pub struct HumanLines<W: Write + Send>(pub Mutex<W>);

/// Prints each event as one JSON object per line.
pub struct JsonLines<W: Write + Send>(pub Mutex<W>);

impl<W: Write + Send> EventSink for JsonLines<W> {
    fn emit(&self, event: &Event) {
        if let Ok(mut out) = self.0.lock()
            && let Ok(line) = serde_json::to_string(event)
        {
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }
}

impl<W: Write + Send> EventSink for HumanLines<W> {
    fn emit(&self, event: &Event) {
        let Some(line) = human_line(event) else {
            return;
        };
        if let Ok(mut out) = self.0.lock() {
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }
}

/// The line for an event (`None` for events shown only by progress bars).
pub fn human_line(event: &Event) -> Option<String> {
    Some(match event {
        Event::RunStarted {
            run_id,
            runbook,
            dry_run,
            steps,
        } => format!(
            "run {run_id} of {runbook}: {steps} step{}{}",
            if *steps == 1 { "" } else { "s" },
            if *dry_run {
                " (dry run: nothing will change)"
            } else {
                ""
            }
        ),
        Event::StepStarted {
            step,
            action,
            cluster,
            attempt,
        } => {
            let on = cluster
                .as_ref()
                .map(|c| format!(" on {c}"))
                .unwrap_or_default();
            let again = if *attempt > 1 {
                format!(" (attempt {attempt})")
            } else {
                String::new()
            };
            format!("  start {step}: {action}{on}{again}")
        }
        Event::StepProgress { .. } | Event::Checkpoint { .. } => return None,
        Event::StepResumed { step, .. } => {
            format!("  done  {step} (succeeded before; outputs from the journal)")
        }
        Event::RunInterrupted {
            run_id,
            resume,
            journal_error: None,
        } => format!(
            "run {run_id} interrupted; the journal is complete. continue it with:\n  {resume}"
        ),
        Event::RunInterrupted {
            run_id,
            resume,
            journal_error: Some(e),
        } => format!(
            "run {run_id} interrupted, but its journal could not record everything ({e}); a resume redoes the steps after the last one recorded. continue it with:\n  {resume}"
        ),
        Event::ObjectResult {
            kind,
            name,
            result,
            reason,
            dry_run,
            changes,
            ..
        } => {
            let why = reason
                .as_ref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default();
            // What the transforms change, one field a line under the object.
            let why = changes
                .iter()
                .fold(why, |text, change| format!("{text}\n            {change}"));
            let verb = match (result.as_str(), dry_run) {
                ("failed", true) => return Some(format!("        rejected: {kind} {name}{why}")),
                ("failed", false) => return Some(format!("        failed: {kind} {name}{why}")),
                ("created", true) => "would create",
                ("updated", true) => "would update",
                ("unchanged", true) => "would leave unchanged",
                ("skipped", true) => "would skip",
                (other, _) => other,
            };
            format!("        {verb} {kind} {name}{why}")
        }
        Event::ObjectDrift {
            kind,
            name,
            missing,
            fields,
            ..
        } => {
            if *missing {
                format!("        drift: {kind} {name} is missing")
            } else {
                format!(
                    "        drift: {kind} {name} differs at {}",
                    fields.join(", ")
                )
            }
        }
        Event::StepSucceeded {
            step,
            duration_ms,
            outputs,
            ..
        } => {
            let shown: Vec<String> = outputs
                .iter()
                .filter(|(_, v)| matches!(v, OutputValue::Str(_)))
                .map(|(k, v)| format!("{k}={}", v.as_text()))
                .collect();
            let tail = if shown.is_empty() {
                String::new()
            } else {
                format!(": {}", shown.join(" "))
            };
            format!("  ok    {step} in {}{tail}", span(*duration_ms))
        }
        Event::StepWarning { step, message } => format!("  warn  {step}: {message}"),
        Event::StepRetrying {
            step,
            attempt,
            error,
            backoff_ms,
        } => format!(
            "  retry {step}: attempt {attempt} failed ({error}); trying again in {}",
            span(*backoff_ms)
        ),
        Event::StepFailed {
            step,
            duration_ms,
            error,
        } => format!("  FAIL  {step} after {}: {error}", span(*duration_ms)),
        Event::StepSkipped { step, reason } => format!("  skip  {step}: {reason}"),
        Event::RollbackStarted { step, undos } => format!(
            "  rollback: {step} failed; undoing {undos} completed step{}, newest first",
            if *undos == 1 { "" } else { "s" }
        ),
        Event::UndoStarted { step, action } => format!("  undo  {step}: {action}"),
        Event::StepUndone {
            step,
            duration_ms,
            error: None,
        } => format!("  undone {step} in {}", span(*duration_ms)),
        Event::StepUndone {
            step,
            error: Some(e),
            ..
        } => format!("  FAIL  undo of {step}: {e}"),
        Event::ObjectiveChecked {
            objective,
            target_ms,
            measured_ms,
            met,
        } => format!(
            "  objective {objective}: {} against {}: {}",
            span(*measured_ms),
            span(*target_ms),
            if *met { "met" } else { "MISSED" }
        ),
        Event::RunFinished {
            run_id,
            state,
            duration_ms,
            succeeded,
            failed,
            skipped,
            objectives_missed,
        } => format!(
            "run {run_id} {} in {}{}: {succeeded} succeeded, {failed} failed, {skipped} skipped",
            match state {
                RunState::Succeeded => "succeeded",
                RunState::Failed => "FAILED",
                RunState::RolledBack => "FAILED and was rolled back",
                RunState::Interrupted => "was interrupted",
            },
            span(*duration_ms),
            if *objectives_missed {
                " but MISSED an objective (exit 3)"
            } else {
                ""
            }
        ),
    })
}

/// A duration as people write it (`850ms`, `1.5s`, `3m20s`): the reports' spelling.
fn span(ms: u64) -> String {
    crate::report::human_ms(ms)
}
