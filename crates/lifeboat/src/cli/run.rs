//! `lifeboat run` and `lifeboat resume`: load the runbook, take the run lock, open the
//! journal, run (or continue) the steps with every event shown (one line each, or JSON
//! Lines) and journaled, handle Ctrl-C, release the lock, write the reports asked for
//! (`--junit`, `--report`, `--metrics-file`; their paths are checked before anything
//! runs) and push the metrics (`--pushgateway`; its URL is checked before anything runs).
//! Exit 0 when every step succeeded, 1 when one failed, 3 when an objective was missed,
//! 4 when another run holds the lock, 130 when interrupted (the printed `resume` command
//! continues it); 2 when a report cannot be written, or the metrics cannot be pushed,
//! after a run that succeeded.
//!
//! `run --run-id ID` where run ID already has a journal in the state is that run
//! again, not a new one: unfinished (it died, or was interrupted), it is resumed as
//! `resume ID` would (the same runbook and params, unchanged); finished, it is
//! reported and `run` exits with its result. So a pod that a Kubernetes Job starts
//! again after a crash, with the run id taken from the Job's name, carries on where
//! the killed one stopped (docs/deploy.md). SIGTERM (what Kubernetes sends a pod it
//! stops) is handled as Ctrl-C is.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::Path;
use std::sync::{Arc, Mutex};

use tokio::signal::unix::{Signal, SignalKind};

use super::{OutputFormat, Progress, ReportArgs, ResumeArgs, RunArgs, SessionArgs, state};
use crate::archive::part::hex;
use crate::engine::human::{HumanLines, JsonLines};
use crate::engine::progress::ProgressBars;
use crate::engine::{self, Interrupt, RunOptions};
use crate::error::{Error, ExitCode};
use crate::events::{Event, EventSink, FanOut, RunState};
use crate::journal::{
    Journal, JournalError, JournalEvent, JournalSink, Lock, LockError, Replay,
    RunState as JournalState, StateLocation, hostname,
};
use crate::logging::LoggedEvents;
use crate::plan::MASK;
use crate::report::{Pushgateway, ReportFile, ReportKind, RunRecorder};
use crate::runbook::{self, Loaded};
use crate::secrets::{MaskedEvents, SecretMask};
use crate::store::StoreError;

pub fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let loaded = runbook::load(&args.runbook, &args.sets).map_err(Error::InvalidRunbook)?;
    check_step_names(&loaded, args)?;
    if let Some(id) = &args.run_id {
        check_run_id(id)?;
    }
    let reports = Reports::check(&args.session.reports, &args.runbook)?;
    let mut options = RunOptions {
        run_id: Some(args.run_id.clone().unwrap_or_else(engine::new_run_id)),
        dry_run: args.dry_run,
        yes: args.session.yes,
        approve: args.session.approve.clone(),
        only: args.only.clone(),
        inject_failure: args.inject_failure.clone(),
        resume: None,
        lock: None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(async {
        // A dry run's journal goes to a scratch folder; it takes no lock.
        let scratch = tempfile::Builder::new()
            .prefix("lifeboat-dry-run-journal-")
            .tempdir()?;
        let location = if args.dry_run {
            StateLocation::Local(scratch.path().to_path_buf())
        } else {
            state::for_runbook(args.state.as_deref(), &loaded).await?
        };
        let hint = state::flag_for(args.state.as_deref(), Some(&loaded.path), &location);
        // A dry run's journal is in a fresh scratch folder: it never meets an earlier run.
        if let (Some(id), false) = (&args.run_id, args.dry_run) {
            match earlier_run(&location, id, &loaded, args, &hint).await? {
                Earlier::None => {}
                Earlier::Finished(code) => return Ok(code),
                Earlier::Unfinished(replay) => options.resume = Some(*replay),
            }
        }
        execute(&loaded, location, &hint, options, &args.session, &reports).await
    });
    finish(runtime);
    result
}

/// What the state holds already under the run id `run --run-id` was given.
enum Earlier {
    /// Nothing: a new run.
    None,
    /// A run that ended: reported, and `run` exits with this.
    Finished(ExitCode),
    /// A run that did not end (it died, or was interrupted): resumed.
    Unfinished(Box<Replay>),
}

/// The run `id` in `location`, if it has a journal there, checked against what this
/// `run` was asked to do: the same runbook, unchanged, with the same params. A finished
/// run is reported here (on stdout, or stderr with `--output json`, whose stdout holds
/// only events).
async fn earlier_run(
    location: &StateLocation,
    id: &str,
    loaded: &Loaded,
    args: &RunArgs,
    hint: &str,
) -> Result<Earlier, Error> {
    let records = match location.read(id).await {
        Ok(records) => records,
        Err(JournalError::NotFound { .. }) => return Ok(Earlier::None),
        Err(e) => {
            return Err(Error::Usage(format!(
                "--run-id {id}: {e}; a run id that is in use cannot be taken for a new run, so the state must be readable (or choose another --run-id)"
            )));
        }
    };
    let mut replay = Replay::from_records(id, &records).map_err(|e| {
        Error::Usage(format!(
            "--run-id {id}: the journal of run {id} in {}: {e}",
            location.describe()
        ))
    })?;
    let name = &loaded.runbook.metadata.name.value.0;
    if &replay.runbook != name {
        return Err(Error::Usage(format!(
            "--run-id {id}: run {id} in {} is a run of runbook `{}`, not `{name}`; choose another --run-id",
            location.describe(),
            replay.runbook
        )));
    }
    if replay.dry_run {
        return Err(Error::Usage(format!(
            "--run-id {id}: run {id} was a dry run; choose another --run-id"
        )));
    }
    let say = |text: String| match args.session.output {
        OutputFormat::Human => println!("{text}"),
        OutputFormat::Json => eprintln!("{text}"),
    };
    let finished = |how: &str, code: ExitCode| {
        say(format!(
            "run {id} already ran to its end ({how}; started {}): nothing runs again. `lifeboat status {id}{hint}` shows it; choose another --run-id for a new run",
            replay.started
        ));
        Ok(Earlier::Finished(code))
    };
    match replay.finished {
        Some(JournalState::Succeeded) if replay.objectives_missed() => {
            return finished(
                "it succeeded and missed an objective",
                ExitCode::ObjectivesMissed,
            );
        }
        Some(JournalState::Succeeded) => return finished("it succeeded", ExitCode::Success),
        Some(JournalState::Failed) => {
            return finished("a step failed", ExitCode::StepFailed);
        }
        Some(JournalState::RolledBack) => {
            return finished("a step failed and it was rolled back", ExitCode::StepFailed);
        }
        Some(JournalState::Interrupted) | None => {}
    }
    let resume = format!("lifeboat resume {id}{hint}");
    if !args.only.is_empty() || !args.inject_failure.is_empty() {
        return Err(Error::Usage(format!(
            "--run-id {id}: run {id} did not finish, and --only and --inject-failure shape new runs only; continue it with `{resume}`, or choose another --run-id"
        )));
    }
    let params = masked_params(loaded);
    if params != replay.params {
        let show = |p: &BTreeMap<String, String>| {
            p.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(Error::Usage(format!(
            "--run-id {id}: run {id} did not finish and was started with other params ({}; now {}); continue it as it was with `{resume}`, or choose another --run-id",
            show(&replay.params),
            show(&params)
        )));
    }
    if digest(loaded) != replay.digest {
        return Err(Error::Usage(format!(
            "--run-id {id}: the runbook {} changed since run {id} started; resuming could run steps that differ from the ones already done. Check the change, then continue it with `{resume} --allow-changed`, or choose another --run-id",
            loaded.path.display()
        )));
    }
    reveal_secrets(&mut replay, loaded);
    eprintln!(
        "run {id} did not finish (started {}): resuming it, as `{resume}` would",
        replay.started
    );
    Ok(Earlier::Unfinished(Box::new(replay)))
}

/// A run id names a folder or a key prefix in the state and is part of backup ids: one
/// path segment of safe characters.
fn check_run_id(id: &str) -> Result<(), Error> {
    let safe = id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if id.is_empty() || id.len() > 128 || id == "." || id == ".." || !safe {
        return Err(Error::Usage(format!(
            "--run-id {id:?}: a run id is 1 to 128 letters, digits, `-`, `_` and `.` (it names the run's folder in the state and is part of backup ids); choose one of those"
        )));
    }
    Ok(())
}

/// Ends the runtime without waiting for blocking reads still in flight: a question
/// at the terminal that Ctrl-C left unanswered must not keep the process alive.
fn finish(runtime: tokio::runtime::Runtime) {
    runtime.shutdown_background();
}

pub fn resume(args: &ResumeArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(async {
        let location =
            state::from_flags(args.journals.state.as_deref(), args.journals.runbook.as_deref()).await?;
        let hint = state::flag_for(
            args.journals.state.as_deref(),
            args.journals.runbook.as_deref(),
            &location,
        );
        let records = location.read(&args.run_id).await?;
        let mut replay = Replay::from_records(&args.run_id, &records)
            .map_err(|e| Error::Usage(format!("run {}: {e}", args.run_id)))?;
        match replay.finished {
            Some(JournalState::Succeeded) => {
                println!("run {} already succeeded; there is nothing to resume", replay.run_id);
                return Ok(ExitCode::Success);
            }
            Some(JournalState::RolledBack) => {
                return Err(Error::Usage(format!(
                    "run {} failed and was rolled back; start a new run instead of resuming it",
                    replay.run_id
                ))
                .into());
            }
            _ if replay.dry_run => {
                return Err(Error::Usage(format!(
                    "run {} was a dry run; run it again instead",
                    replay.run_id
                ))
                .into());
            }
            _ => {}
        }
        let sets = resumed_params(&replay, &args.sets)?;
        let recorded_path = std::path::PathBuf::from(&replay.path);
        let path = recorded_path.as_path();
        let loaded = runbook::load(path, &sets).map_err(Error::InvalidRunbook)?;
        reveal_secrets(&mut replay, &loaded);
        let digest = digest(&loaded);
        if digest != replay.digest && !args.allow_changed {
            return Err(Error::Usage(format!(
                "the runbook {} changed since run {} started; resuming could run steps that differ from the ones already done. Check the change, then resume with --allow-changed",
                path.display(),
                replay.run_id
            ))
            .into());
        }
        let reports = Reports::check(&args.session.reports, path)?;
        let options = RunOptions {
            run_id: Some(replay.run_id.clone()),
            dry_run: false,
            yes: args.session.yes,
            approve: args.session.approve.clone(),
            only: Vec::new(),
            inject_failure: Vec::new(),
            resume: Some(replay),
            lock: None,
        };
        execute(
            &loaded,
            location,
            &hint,
            options,
            &args.session,
            &reports,
        )
        .await
    });
    finish(runtime);
    result
}

/// The journal names secret values by their param (`${{ params.NAME }}`); the resumed
/// run has the values again (`--set`), so outputs, undo states and checkpoints get them
/// back: later steps see what they would have seen without the interruption.
fn reveal_secrets(replay: &mut Replay, loaded: &Loaded) {
    for step in replay.steps.values_mut() {
        if let Some(outputs) = &step.outputs {
            step.outputs = Some(SecretMask::reveal_outputs(loaded, outputs));
        }
        if let Some(state) = &mut step.undo_state {
            SecretMask::reveal_json(loaded, state);
        }
        for checkpoint in &mut step.checkpoints {
            SecretMask::reveal_json(loaded, checkpoint);
        }
    }
}

/// The params of a resumed run: as recorded, with secret ones given again.
fn resumed_params(
    replay: &Replay,
    sets: &[(String, String)],
) -> Result<Vec<(String, String)>, Error> {
    let mut out: Vec<(String, String)> = replay
        .params
        .iter()
        .filter(|(_, v)| v.as_str() != MASK)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (name, value) in &replay.params {
        if value == MASK && !sets.iter().any(|(k, _)| k == name) {
            return Err(Error::Usage(format!(
                "param `{name}` is secret, so the journal does not hold it: give it again with --set {name}=..."
            )));
        }
    }
    out.extend(sets.iter().cloned());
    Ok(out)
}

/// How the run is shown on the terminal: `--output` and `--progress`.
#[derive(Clone, Copy)]
struct Display {
    output: OutputFormat,
    progress: Progress,
}

impl Display {
    fn of(session: &SessionArgs) -> Display {
        Display {
            output: session.output,
            progress: session.progress,
        }
    }

    /// One line per event, JSON Lines, or (on a terminal, or with `--progress always`)
    /// progress bars with the lines above them.
    fn sink(self) -> Arc<dyn EventSink> {
        let stdout = std::io::stdout();
        match (self.output, self.progress) {
            (OutputFormat::Json, _) => Arc::new(JsonLines(Mutex::new(stdout))),
            (OutputFormat::Human, Progress::Always) => {
                Arc::new(ProgressBars::on_stderr(stdout, true))
            }
            (OutputFormat::Human, Progress::Auto) if std::io::stderr().is_terminal() => {
                Arc::new(ProgressBars::on_stderr(stdout, false))
            }
            (OutputFormat::Human, _) => Arc::new(HumanLines(Mutex::new(stdout))),
        }
    }
}

/// What a run leaves behind besides its journal: report files, and the Pushgateway its
/// metrics go to.
struct Reports {
    files: Vec<ReportFile>,
    push: Option<Pushgateway>,
}

impl Reports {
    /// Before anything runs: a run must not do all its work, then fail to write its
    /// report.
    fn check(args: &ReportArgs, runbook: &Path) -> Result<Reports, Error> {
        let files = crate::report::files::check_all(
            &[
                (ReportKind::Html, args.report.as_deref()),
                (ReportKind::Junit, args.junit.as_deref()),
                (ReportKind::Metrics, args.metrics_file.as_deref()),
            ],
            runbook,
        )?;
        let push = args
            .pushgateway
            .as_deref()
            .map(Pushgateway::check)
            .transpose()?;
        Ok(Reports { files, push })
    }

    fn is_empty(&self) -> bool {
        self.files.is_empty() && self.push.is_none()
    }
}

async fn execute(
    loaded: &Loaded,
    location: StateLocation,
    state_flag: &str,
    options: RunOptions,
    session: &SessionArgs,
    reports: &Reports,
) -> anyhow::Result<ExitCode> {
    let output = session.output;
    let steal_lock = session.steal_lock;
    let run_id = options.run_id.clone().unwrap_or_else(engine::new_run_id);
    let name = loaded.runbook.metadata.name.value.0.clone();
    if !options.dry_run
        && let StateLocation::Store(store) = &location
    {
        // A store that ignores If-None-Match would make the journal and the lock
        // last-writer-wins: refused before anything is written there.
        store
            .check_conditional_writes("runs/")
            .await
            .map_err(|e| match e {
                StoreError::Unconditional { .. } => Error::Usage(format!(
                    "{e}; keep the state (`state:` or --state) in a store that honours them (AWS S3, MinIO, Ceph RGW, ...) or in a local folder"
                )),
                other => Error::Usage(format!("the state store cannot be used: {other}")),
            })?;
    }
    let lock = if options.dry_run {
        None
    } else {
        Some(
            Lock::acquire(&location.lock_store(), &name, &run_id, steal_lock)
                .await
                .map_err(|e| match e {
                    LockError::Held { .. } | LockError::Stale { .. } => {
                        Error::Locked(e.to_string())
                    }
                    other => Error::Usage(other.to_string()),
                })?,
        )
    };
    let resume_hint = format!("lifeboat resume {run_id}{state_flag}");
    let existing = options.resume.as_ref().map_or(0, |r| r.records);
    let journal = Journal::open(location, &run_id, existing)?;
    if let Some(repaired) = journal.repaired() {
        eprintln!("warning: {repaired}");
    }
    let journal = Arc::new(JournalSink::new(journal));
    journal.record(match &options.resume {
        None => JournalEvent::RunStarted {
            run_id: run_id.clone(),
            runbook: name.clone(),
            path: std::path::absolute(&loaded.path)
                .unwrap_or_else(|_| loaded.path.clone())
                .display()
                .to_string(),
            digest: digest(loaded),
            params: masked_params(loaded),
            dry_run: options.dry_run,
            host: hostname(),
            pid: std::process::id(),
        },
        Some(_) => JournalEvent::RunResumed {
            host: hostname(),
            pid: std::process::id(),
            digest: digest(loaded),
        },
    });
    if let Some(e) = journal.failure() {
        if let Some(lock) = lock {
            let _ = lock.release().await;
        }
        return Err(Error::Usage(format!("the run cannot start: {e}")).into());
    }
    let display = Display::of(session).sink();
    // The reports' recorder, when a report is asked for.
    // On a terminal, the run ends with a summary of its steps (from the same record).
    let summary = matches!(session.output, OutputFormat::Human) && std::io::stdout().is_terminal();
    let recorder = (!reports.is_empty() || summary)
        .then(|| Arc::new(RunRecorder::new(loaded, &run_id, options.dry_run)));
    let mut shown: Vec<Arc<dyn EventSink>> = vec![display.clone(), Arc::new(LoggedEvents)];
    if let Some(r) = &recorder {
        shown.push(r.clone());
    }
    // Secret values are masked before any consumer sees an event: with the mask where
    // people and reports see them, with the param's name in the journal (a resume puts
    // the value back).
    let mask = SecretMask::of(loaded);
    crate::logging::mask_secrets(&mask);
    let sink: Arc<dyn EventSink> = Arc::new(FanOut(vec![
        Arc::new(MaskedEvents {
            mask: mask.clone(),
            inner: Arc::new(FanOut(shown)),
        }),
        Arc::new(MaskedEvents {
            mask: SecretMask::for_journal(loaded),
            inner: journal.clone(),
        }),
    ]));
    let lock = Arc::new(tokio::sync::Mutex::new(lock));
    let interrupt: Interrupt = Arc::new(tokio::sync::Notify::new());
    let renewal = tokio::spawn(renew(lock.clone(), interrupt.clone()));
    // The handler is installed here, before the first step starts: a Ctrl-C that comes
    // before the watching task first runs still stops the run cleanly.
    let sigint = tokio::signal::unix::signal(SignalKind::interrupt());
    let sigterm = tokio::signal::unix::signal(SignalKind::terminate());
    let signals = tokio::spawn(watch_ctrl_c(
        sigint,
        sigterm,
        interrupt.clone(),
        resume_hint.clone(),
    ));
    let options = RunOptions {
        run_id: Some(run_id.clone()),
        lock: Some(lock.clone()),
        ..options
    };
    let failure = || journal.failure();
    let span = tracing::info_span!(
        "run",
        run_id = %run_id,
        runbook = %name,
        dry_run = options.dry_run,
        otel.name = tracing::field::Empty,
        trace_id = tracing::field::Empty,
        span_id = tracing::field::Empty,
    );
    crate::logging::trace_span(&span, &format!("run {name}"));
    let report = tracing::Instrument::instrument(
        engine::run(loaded, &options, sink, interrupt, &failure),
        span,
    )
    .await;
    renewal.abort();
    signals.abort();
    let mut resume_hint = resume_hint;
    if let Some(lock) = lock.lock().await.take() {
        let describe = lock.describe();
        if let Err(e) = lock.release().await {
            eprintln!(
                "warning: the run lock {describe} could not be released ({}); `lifeboat resume {run_id} --steal-lock` takes it back at once (this process is gone), another run can take it with --steal-lock once its lease ends",
                mask.text(&e.to_string())
            );
            // Its lease still runs, and nothing renews it: the resume takes it now.
            resume_hint.push_str(" --steal-lock");
        }
    }
    let mut code = match report.state {
        RunState::Succeeded if report.objectives_missed => ExitCode::ObjectivesMissed,
        RunState::Succeeded => ExitCode::Success,
        RunState::Failed | RunState::RolledBack => ExitCode::StepFailed,
        RunState::Interrupted => ExitCode::Interrupted,
    };
    let interrupted = (report.state == RunState::Interrupted).then(|| {
        mask.event(&Event::RunInterrupted {
            run_id: run_id.clone(),
            resume: resume_hint,
            journal_error: journal.failure(),
        })
    });
    if let Some(recorder) = &recorder {
        if let Some(event) = &interrupted {
            recorder.emit(event);
        }
        // A dry run's journal is in a scratch folder that is gone by now.
        let status = (!options.dry_run).then(|| format!("lifeboat status {run_id}{state_flag}"));
        if !write_reports(reports, recorder, output, status.as_deref(), code).await
            && code == ExitCode::Success
        {
            code = ExitCode::Usage;
        }
        if summary && let Some(record) = recorder.record() {
            let html = reports
                .files
                .iter()
                .find(|f| f.kind == ReportKind::Html)
                .map(|f| f.path.as_path());
            print!("{}", super::summary::render(&record, html));
        }
    }
    // The resume command is the last thing an interrupted run prints.
    if let Some(event) = &interrupted {
        display.emit(event);
    }
    Ok(code)
}

/// Writes every report and pushes the metrics (one that fails does not stop the
/// others); says where each went (human output) or why it could not be written or
/// pushed (stderr). Returns whether all were. A report that cannot be written or a
/// push that fails never hides the run's own result: the caller keeps the run's exit
/// code unless it was 0.
async fn write_reports(
    reports: &Reports,
    recorder: &RunRecorder,
    output: OutputFormat,
    status: Option<&str>,
    code: ExitCode,
) -> bool {
    let Some(record) = recorder.record() else {
        eprintln!("error: the reports cannot be written: their record of the run was lost");
        return false;
    };
    let outcome = |missing: &str| {
        if code == ExitCode::Success {
            format!("the run itself succeeded; lifeboat exits 2 because {missing}")
        } else {
            format!("the run's own exit code ({}) is kept", code as i32)
        }
    };
    let status = status
        .map(|s| format!("; `{s}` shows the run from its journal"))
        .unwrap_or_default();
    let mut all = true;
    for file in &reports.files {
        match file.write(&record) {
            Ok(()) => {
                if matches!(output, OutputFormat::Human) {
                    println!("wrote {} to {}", file.kind.what(), file.path.display());
                }
            }
            Err(e) => {
                all = false;
                eprintln!(
                    "error: {e}\n  {}{status}",
                    outcome("a report it was asked for is missing")
                );
            }
        }
    }
    if let Some(gateway) = &reports.push {
        match gateway.push(&record).await {
            Ok(()) => {
                if matches!(output, OutputFormat::Human) {
                    println!("pushed the metrics to {}", gateway.target(&record));
                }
            }
            Err(e) => {
                all = false;
                eprintln!(
                    "error: {e}\n  {}{status}",
                    outcome("the metrics push it was asked for failed")
                );
            }
        }
    }
    all
}

/// Renews the run lock while the run lives. A lock another process took over stops
/// the run (as Ctrl-C does); a renewal that fails for another reason is tried again.
async fn renew(lock: Arc<tokio::sync::Mutex<Option<Lock>>>, interrupt: Interrupt) {
    loop {
        tokio::time::sleep(crate::crash::renew_every(crate::journal::RENEW_EVERY)).await;
        let mut held = lock.lock().await;
        if let Some(l) = held.as_mut()
            && let Err(e @ LockError::Lost { .. }) = l.renew().await
        {
            eprintln!("error: {e}");
            // Not ours any more: never released or renewed by this run.
            *held = None;
            interrupt.notify_one();
            return;
        }
    }
}

/// The first Ctrl-C (or SIGTERM, what Kubernetes sends a pod it stops, and which a
/// process that is PID 1 in its container would otherwise ignore) asks the run to stop
/// (it records where it stopped); a second one exits at once: every journal record
/// already written is complete. Signal streams made before the run starts see both (a
/// second Ctrl-C pressed while the first is being handled is not lost).
async fn watch_ctrl_c(
    sigint: std::io::Result<Signal>,
    sigterm: std::io::Result<Signal>,
    interrupt: Interrupt,
    resume: String,
) {
    let mut sigint = sigint.ok();
    let mut sigterm = sigterm.ok();
    let Some(first) = next_signal(&mut sigint, &mut sigterm).await else {
        return;
    };
    match first {
        Stopped::Interrupt => eprintln!(
            "stopping after recording where the run is (press Ctrl-C again to quit at once)"
        ),
        Stopped::Terminate => eprintln!(
            "terminated (SIGTERM): stopping after recording where the run is (a second signal quits at once)"
        ),
    }
    interrupt.notify_one();
    if next_signal(&mut sigint, &mut sigterm).await.is_some() {
        eprintln!(
            "quitting now; the journal is consistent (the steps it does not show finished run again). continue it with (--steal-lock: this process leaves its lock behind, and is gone):\n  {resume} --steal-lock"
        );
        std::process::exit(ExitCode::Interrupted as i32);
    }
}

/// Which signal stopped the run.
#[derive(Clone, Copy)]
enum Stopped {
    Interrupt,
    Terminate,
}

/// The next SIGINT or SIGTERM; `None` once neither can come any more (a stream that
/// could not be made, or that ended, is left out).
async fn next_signal(sigint: &mut Option<Signal>, sigterm: &mut Option<Signal>) -> Option<Stopped> {
    async fn recv(s: &mut Option<Signal>) -> Option<()> {
        match s {
            Some(s) => s.recv().await,
            None => std::future::pending().await,
        }
    }
    while sigint.is_some() || sigterm.is_some() {
        tokio::select! {
            got = recv(sigint) => match got {
                Some(()) => return Some(Stopped::Interrupt),
                None => *sigint = None,
            },
            got = recv(sigterm) => match got {
                Some(()) => return Some(Stopped::Terminate),
                None => *sigterm = None,
            },
        }
    }
    None
}

fn digest(loaded: &Loaded) -> String {
    use sha2::{Digest, Sha256};
    hex(&Sha256::digest(loaded.source.as_bytes()))
}

fn masked_params(loaded: &Loaded) -> BTreeMap<String, String> {
    loaded
        .params
        .iter()
        .map(|p| {
            let v = if p.secret {
                MASK.to_string()
            } else {
                p.value.clone()
            };
            (p.name.clone(), v)
        })
        .collect()
}

fn check_step_names(loaded: &Loaded, args: &RunArgs) -> Result<(), Error> {
    let ids: Vec<&str> = loaded
        .runbook
        .steps
        .iter()
        .map(|s| s.head.id.value.0.as_str())
        .collect();
    for (flag, names) in [
        ("--only", &args.only),
        ("--inject-failure", &args.inject_failure),
        ("--approve", &args.session.approve),
    ] {
        if let Some(unknown) = names.iter().find(|n| !ids.contains(&n.as_str())) {
            return Err(Error::Usage(format!(
                "{flag} {unknown}: the runbook has no step `{unknown}` (its steps: {})",
                ids.join(", ")
            )));
        }
    }
    Ok(())
}
