//! `lifeboat run`: loads and checks the runbook, runs it, and prints one line per event
//! (or JSON Lines with `--output json`). Exit 0 when every step succeeded, 1 when a
//! step failed.

use std::sync::{Arc, Mutex};

use super::{OutputFormat, RunArgs};
use crate::engine::events::{EventSink, RunState};
use crate::engine::human::{HumanLines, JsonLines};
use crate::engine::{self, RunOptions};
use crate::error::{Error, ExitCode};
use crate::runbook;

pub fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let loaded = runbook::load(&args.runbook, &args.sets).map_err(Error::InvalidRunbook)?;
    refuse_unbuilt_flags(args)?;
    let ids: Vec<&str> = loaded
        .runbook
        .steps
        .iter()
        .map(|s| s.head.id.value.0.as_str())
        .collect();
    for (flag, names) in [
        ("--only", &args.only),
        ("--inject-failure", &args.inject_failure),
    ] {
        if let Some(unknown) = names.iter().find(|n| !ids.contains(&n.as_str())) {
            return Err(Error::Usage(format!(
                "{flag} {unknown}: the runbook has no step `{unknown}` (its steps: {})",
                ids.join(", ")
            ))
            .into());
        }
    }
    let options = RunOptions {
        run_id: args.run_id.clone(),
        dry_run: args.dry_run,
        yes: args.yes,
        only: args.only.clone(),
        inject_failure: args.inject_failure.clone(),
    };
    let sink: Arc<dyn EventSink> = match args.output {
        OutputFormat::Human => Arc::new(HumanLines(Mutex::new(std::io::stdout()))),
        OutputFormat::Json => Arc::new(JsonLines(Mutex::new(std::io::stdout()))),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(engine::run(&loaded, &options, sink));
    Ok(match report.state {
        RunState::Succeeded => ExitCode::Success,
        RunState::Failed => ExitCode::StepFailed,
    })
}

/// Flags whose machinery is not built yet are refused, not ignored.
fn refuse_unbuilt_flags(args: &RunArgs) -> Result<(), Error> {
    let unbuilt = [
        ("--state", args.state.is_some(), "the run journal"),
        ("--report", args.report.is_some(), "the HTML report"),
        ("--junit", args.junit.is_some(), "JUnit output"),
    ];
    match unbuilt.iter().find(|(_, given, _)| *given) {
        Some((flag, _, what)) => Err(Error::Usage(format!(
            "{flag} is not available yet: {what} is not built in this version; run without it"
        ))),
        None => Ok(()),
    }
}
