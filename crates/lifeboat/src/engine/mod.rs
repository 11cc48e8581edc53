//! The executor. `run` drives a run: it asks the `scheduler` for the steps that may
//! start (a step waits for what it `needs`, or for the step before it; `if:`,
//! `--only` and a resume's recorded successes decide the others), runs at most
//! `PARALLEL_STEPS` at once (`step`: bound inputs, confirmation, timeout, retries),
//! hands each end back, and stops between or inside steps on Ctrl-C. Everything is
//! reported as events; the journal is one consumer of them, and a resumed run
//! replays it.

pub mod confirm;
pub mod human;
pub mod progress;
pub mod resolve;
pub mod rollback;
pub mod scheduler;
pub mod step;

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use crate::context::RunContext;
use crate::events::{Event, EventSink, Outputs, RunState};
use crate::journal::{Replay, SharedLock};
use crate::runbook::Loaded;
use scheduler::Scheduler;

/// How to run.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub run_id: Option<String>,
    pub dry_run: bool,
    pub yes: bool,
    /// Approve steps answered yes without asking (`--approve STEP`).
    pub approve: Vec<String>,
    /// Run only these steps (the others are skipped).
    pub only: Vec<String>,
    /// Make these steps fail.
    pub inject_failure: Vec<String>,
    /// The journal of the run being resumed.
    pub resume: Option<Replay>,
    /// The run's lock (none in a dry run), where steps record the backups they read.
    pub lock: Option<SharedLock>,
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct RunReport {
    pub run_id: String,
    pub state: RunState,
    pub outputs: HashMap<String, Outputs>,
    /// Whether an objective (RTO or RPO) was missed.
    pub objectives_missed: bool,
}

/// Fires when the user asks the run to stop (the first Ctrl-C).
pub type Interrupt = Arc<tokio::sync::Notify>;

/// Steps that run at once when `needs` lets independent branches run in parallel.
pub const PARALLEL_STEPS: usize = 4;

/// A new run id: UTC time and a random suffix (`20261128-091500-7f3a`).
pub fn new_run_id() -> String {
    let now = crate::clock::now();
    let stamp = crate::clock::seconds(now);
    let digits: String = stamp.chars().filter(char::is_ascii_digit).collect();
    let (date, time) = digits.split_at(8.min(digits.len()));
    let salt = (now.subsec_nanosecond().unsigned_abs()
        ^ std::process::id().wrapping_mul(2_654_435_761))
        & 0xffff;
    format!("{date}-{time}-{salt:04x}")
}

/// Runs the runbook to its end (or until `interrupt` fires). `journal_failure` tells
/// whether the journal could not be written (the run then stops before its next step).
pub async fn run(
    loaded: &Loaded,
    options: &RunOptions,
    sink: Arc<dyn EventSink>,
    interrupt: Interrupt,
    journal_failure: &(dyn Fn() -> Option<String> + Sync),
) -> RunReport {
    let run_id = options.run_id.clone().unwrap_or_else(new_run_id);
    let mut run = RunContext::new(
        loaded,
        run_id.clone(),
        options.dry_run,
        options.yes,
        sink.clone(),
    );
    run.approve = options.approve.clone();
    run.hold_lock(options.lock.clone());
    let mut scheduler = Scheduler::new(loaded, options, run_id.clone(), sink.clone());
    sink.emit(&Event::RunStarted {
        run_id,
        runbook: run.runbook_name().to_string(),
        dry_run: options.dry_run,
        steps: loaded.runbook.steps.len(),
    });
    let mut running = FuturesUnordered::new();
    loop {
        if let Some(e) = journal_failure() {
            scheduler.stop(format!("the journal cannot be written ({e})"));
        }
        while let Some(i) = scheduler.next_runnable() {
            if running.len() >= PARALLEL_STEPS {
                break;
            }
            running.push(scheduler.start(&run, i));
        }
        if running.is_empty() {
            break;
        }
        tokio::select! {
            Some((i, cluster, end)) = running.next() => scheduler.finish(i, cluster, end),
            () = interrupt.notified() => {
                scheduler.interrupt();
                break;
            }
        }
    }
    drop(running);
    scheduler.end(&run, journal_failure().is_some()).await
}
