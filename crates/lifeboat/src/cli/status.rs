//! `lifeboat status [RUN_ID] [--state ... | --runbook FILE]`: the runs in a state location (id,
//! runbook, start, state, last step), or one run's steps with attempts, durations,
//! outputs and errors, read from its journal; with `--watch`, one run followed as it
//! goes (`watch.rs`).

use std::io::Write;

use super::table::table;
use super::{StatusArgs, emit, state};
use crate::error::{Error, ExitCode};
use crate::journal::Replay;

pub fn run(args: &StatusArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let location = state::from_flags(
            args.journals.state.as_deref(),
            args.journals.runbook.as_deref(),
        )
        .await?;
        match &args.run_id {
            None => {
                let mut rows = Vec::new();
                for id in location.runs().await? {
                    let records = location.read(&id).await?;
                    match Replay::from_records(&id, &records) {
                        Ok(r) => {
                            let s = r.summary();
                            rows.push([
                                s.run_id,
                                s.runbook,
                                s.started,
                                s.state,
                                s.last_step.unwrap_or_else(|| "-".into()),
                            ]);
                        }
                        Err(e) => rows.push([
                            id,
                            "?".into(),
                            "?".into(),
                            format!("unreadable: {e}"),
                            "-".into(),
                        ]),
                    }
                }
                if rows.is_empty() {
                    emit(out, &format!("no runs in {}\n", location.describe()))?;
                } else {
                    emit(
                        out,
                        &table(["RUN", "RUNBOOK", "STARTED", "STATE", "LAST STEP"], &rows),
                    )?;
                }
            }
            Some(id) if args.watch => {
                let flags = state::flag_for(
                    args.journals.state.as_deref(),
                    args.journals.runbook.as_deref(),
                    &location,
                );
                return super::watch::watch(&location, id, args.output, &flags, out).await;
            }
            Some(id) => {
                let records = location.read(id).await?;
                let r = Replay::from_records(id, &records)
                    .map_err(|e| Error::Usage(format!("run {id}: {e}")))?;
                let s = r.summary();
                let mut text = format!(
                    "run      {}\nrunbook  {} ({})\nstarted  {}\nstate    {}\n",
                    r.run_id, r.runbook, r.path, r.started, s.state
                );
                if !r.params.is_empty() {
                    let params: Vec<String> =
                        r.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    text.push_str(&format!("params   {}\n", params.join(" ")));
                }
                text.push('\n');
                let rows: Vec<[String; 5]> = r
                    .order
                    .iter()
                    .map(|step| {
                        let rec = &r.steps[step];
                        let detail = match (&rec.error, &rec.outputs, &rec.reason) {
                            (Some(e), _, _) => e.clone(),
                            (None, Some(o), _) => o
                                .iter()
                                .map(|(k, v)| format!("{k}={}", v.as_text()))
                                .collect::<Vec<_>>()
                                .join(" "),
                            (None, None, Some(why)) => why.clone(),
                            // A step in flight: how far it had got when last recorded.
                            _ => rec
                                .progress
                                .as_ref()
                                .map_or(String::new(), |told| format!("{told} so far")),
                        };
                        let undone = match &rec.undone {
                            Some(Ok(())) => " (undone)",
                            Some(Err(_)) => " (undo failed)",
                            None => "",
                        };
                        [
                            step.clone(),
                            format!("{}{undone}", rec.state),
                            rec.attempts.to_string(),
                            rec.duration_ms.map_or("-".into(), crate::report::human_ms),
                            detail,
                        ]
                    })
                    .collect();
                text.push_str(&table(
                    ["STEP", "STATE", "ATTEMPTS", "DURATION", "OUTPUTS / ERROR"],
                    &rows,
                ));
                for o in &r.objectives {
                    text.push_str(&format!(
                        "\nobjective {}: {} against {}: {}",
                        o.objective,
                        crate::report::human_ms(o.measured_ms),
                        crate::report::human_ms(o.target_ms),
                        if o.met { "met" } else { "MISSED" }
                    ));
                }
                if !r.objectives.is_empty() {
                    text.push('\n');
                }
                emit(out, &text)?;
            }
        }
        Ok(ExitCode::Success)
    })
}
