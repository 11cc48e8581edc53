//! `lifeboat status RUN_ID --watch`: follows a run in progress from another terminal or
//! machine through its journal (a local folder or a store), printing each step as it
//! starts, progresses and ends, and who holds the run's lock; it ends when the run
//! ends, with the exit code the run itself has (0, 1, 3 for a missed objective, 130
//! interrupted). A run whose lock lapsed without a `run_finished` record died: that is
//! said, with the command that resumes it, and the watch exits 130 (resumable).
//! `--output json` writes the journal's records as JSON Lines, then one
//! `watch_finished` line.

use std::io::Write;
use std::time::Duration;

use super::{OutputFormat, emit};
use crate::error::{Error, ExitCode};
use crate::journal::{JournalEvent, Record, Replay, RunState, StateLocation, holder_of};
use crate::progress::Told;
use crate::report::human_ms;

/// How often the journal is read again.
const POLL_EVERY: Duration = Duration::from_secs(1);

/// How the watch ended: the run's own end, or its process gone without one.
#[derive(Debug, PartialEq, Eq)]
enum Ending {
    Finished(RunState),
    Died,
}

/// Follows run `run_id` in `location` until it ends; returns its exit code.
pub async fn watch(
    location: &StateLocation,
    run_id: &str,
    output: OutputFormat,
    resume_flags: &str,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let records = location.read(run_id).await?;
    let mut replay = Replay::from_records(run_id, &records)
        .map_err(|e| Error::Usage(format!("run {run_id}: {e}")))?;
    let human = matches!(output, OutputFormat::Human);
    if human {
        let holder = holder_of(&location.lock_store(), &replay.runbook).await?;
        let lock = match holder {
            Some(h) => format!("lock held by {}", h.describe()),
            None => "no process holds its lock".to_string(),
        };
        emit(
            out,
            &format!(
                "watching run {run_id} of {} (started {}; {lock}); its journal is in {}\n",
                replay.runbook,
                replay.started,
                location.describe()
            ),
        )?;
    }
    show(&records, output, out)?;
    let ending = loop {
        if let Some(state) = replay.finished {
            break Ending::Finished(state);
        }
        tokio::time::sleep(POLL_EVERY).await;
        let new = location.read_after(run_id, replay.records).await?;
        if new.is_empty() {
            // Nothing new: is anyone still running it? The journal is read once more
            // after the lock is found gone, since a run writes its end, then lets go.
            let holder = holder_of(&location.lock_store(), &replay.runbook).await?;
            if holder.is_some_and(|h| h.run_id == run_id) {
                continue;
            }
            let last = location.read_after(run_id, replay.records).await?;
            extend(&mut replay, &last, output, out)?;
            match replay.finished {
                Some(state) => break Ending::Finished(state),
                None => break Ending::Died,
            }
        }
        extend(&mut replay, &new, output, out)?;
    };
    let code = match ending {
        Ending::Finished(RunState::Succeeded) if replay.objectives_missed() => {
            ExitCode::ObjectivesMissed
        }
        Ending::Finished(RunState::Succeeded) => ExitCode::Success,
        Ending::Finished(RunState::Failed | RunState::RolledBack) => ExitCode::StepFailed,
        Ending::Finished(RunState::Interrupted) | Ending::Died => ExitCode::Interrupted,
    };
    let state = match &ending {
        Ending::Finished(state) => state_word(*state).to_string(),
        Ending::Died => "died".to_string(),
    };
    let text = match output {
        OutputFormat::Json => format!(
            "{}\n",
            serde_json::json!({
                "event": "watch_finished",
                "run_id": run_id,
                "state": state,
                "objectives_missed": replay.objectives_missed(),
                "exit_code": code as i32,
            })
        ),
        OutputFormat::Human if ending == Ending::Died => format!(
            "run {run_id} stopped without finishing: its lock lapsed and its journal has no end (its process died). `lifeboat resume {run_id}{resume_flags}` continues it\n"
        ),
        OutputFormat::Human => format!(
            "watch ended: run {run_id} {state}; exit code {}\n",
            code as i32
        ),
    };
    emit(out, &text)?;
    Ok(code)
}

/// Applies `records` to `replay` and shows them.
fn extend(
    replay: &mut Replay,
    records: &[Record],
    output: OutputFormat,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    replay
        .extend(records)
        .map_err(|e| Error::Usage(format!("run {}: {e}", replay.run_id)))?;
    show(records, output, out)
}

fn show(records: &[Record], output: OutputFormat, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut text = String::new();
    for r in records {
        match output {
            OutputFormat::Json => {
                text.push_str(&r.to_line());
                text.push('\n');
            }
            OutputFormat::Human => {
                if let Some(line) = line(r) {
                    text.push_str(&format!("{}  {line}\n", clock(&r.time)));
                }
            }
        }
    }
    emit(out, &text)
}

/// `HH:MM:SS` of a record's RFC 3339 time.
fn clock(time: &str) -> &str {
    time.get(11..19).unwrap_or(time)
}

fn state_word(state: RunState) -> &'static str {
    match state {
        RunState::Succeeded => "succeeded",
        RunState::Failed => "failed",
        RunState::RolledBack => "rolled back",
        RunState::Interrupted => "interrupted",
    }
}

/// What a person reads for one record; checkpoints are details left out.
fn line(r: &Record) -> Option<String> {
    Some(match &r.event {
        JournalEvent::RunStarted {
            runbook, host, pid, ..
        } => format!("run started: {runbook} on host {host} (pid {pid})"),
        JournalEvent::RunResumed { host, pid, .. } => {
            format!("run resumed on host {host} (pid {pid})")
        }
        JournalEvent::StepStarted { step, attempt: 1 } => format!("start {step}"),
        JournalEvent::StepStarted { step, attempt } => {
            format!("start {step} (attempt {attempt})")
        }
        JournalEvent::StepProgress {
            step,
            objects,
            bytes,
            total,
            phase,
        } => {
            let told = Told {
                objects: *objects,
                bytes: *bytes,
                total: *total,
                phase: phase.clone(),
            };
            format!("      {step}: {told}")
        }
        JournalEvent::StepSucceeded {
            step,
            duration_ms,
            outputs,
            ..
        } => {
            let outputs: Vec<String> = outputs
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_text()))
                .collect();
            let outputs = crate::report::clip(&outputs.join(" "), 200);
            format!("ok    {step} in {}: {outputs}", human_ms(*duration_ms))
        }
        JournalEvent::StepFailed {
            step,
            duration_ms,
            error,
        } => format!("FAIL  {step} after {}: {error}", human_ms(*duration_ms)),
        JournalEvent::StepSkipped { step, reason } => format!("skip  {step}: {reason}"),
        JournalEvent::StepUndone { step, error: None } => format!("undo  {step}: done"),
        JournalEvent::StepUndone {
            step,
            error: Some(e),
        } => format!("undo  {step}: FAILED: {e}"),
        JournalEvent::ObjectiveChecked {
            objective,
            target_ms,
            measured_ms,
            met,
        } => format!(
            "objective {objective}: {} against {}: {}",
            human_ms(*measured_ms),
            human_ms(*target_ms),
            if *met { "met" } else { "MISSED" }
        ),
        JournalEvent::RunFinished { state, duration_ms } => {
            format!("run {} in {}", state_word(*state), human_ms(*duration_ms))
        }
        JournalEvent::Checkpoint { .. } => return None,
    })
}
