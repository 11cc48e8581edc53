//! The summary `run` and `resume` print at the end when their output is a terminal:
//! one table of the steps (result, duration, attempts, key outputs or the error), the
//! objectives against their targets, and the command that opens the HTML report when
//! `--report` wrote one. What scrolled past during the run, in one place.

use std::path::Path;

use super::table::table;
use crate::report::{RunRecord, StepState, human_ms};

/// Outputs shown per step, and how long a value may be to be shown there.
const OUTPUTS_SHOWN: usize = 3;
const VALUE_WIDTH: usize = 40;
/// How much of an error or a reason a row shows (the lines above have all of it).
const PROBLEM_WIDTH: usize = 70;

/// The summary of `record`; `report` is the HTML report written, if any.
pub fn render(record: &RunRecord, report: Option<&Path>) -> String {
    let rows: Vec<[String; 5]> = record
        .steps
        .iter()
        .map(|s| {
            let detail = match (s.state, &s.error, &s.reason) {
                (StepState::Failed | StepState::UndoFailed, Some(e), _) => short(e),
                (StepState::Skipped, _, Some(why)) => short(why),
                _ => key_outputs(&s.outputs),
            };
            [
                s.id.clone(),
                s.state.label().to_string(),
                s.duration_ms.map_or("-".into(), human_ms),
                match s.attempts.len() {
                    0 => "-".into(),
                    n => n.to_string(),
                },
                detail,
            ]
        })
        .collect();
    let mut text = String::from("\nsummary of run ");
    text.push_str(&record.run_id);
    text.push_str(":\n");
    text.push_str(&table(
        [
            "STEP",
            "RESULT",
            "DURATION",
            "ATTEMPTS",
            "KEY OUTPUTS / ERROR",
        ],
        &rows,
    ));
    for o in &record.objectives {
        let measured = o.measured_ms.map_or("not measured".into(), human_ms);
        let verdict = match o.met {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "unknown",
        };
        text.push_str(&format!(
            "objective {}: {measured} against {}: {verdict}\n",
            o.name,
            human_ms(o.target_ms)
        ));
    }
    if let Some(path) = report {
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        text.push_str(&format!("open the report: {OPENER} {}\n", path.display()));
    }
    text
}

/// The command that opens a file in the desktop's browser.
const OPENER: &str = if cfg!(target_os = "macos") {
    "open"
} else {
    "xdg-open"
};

/// The first few outputs with short values, as `name=value`.
fn key_outputs(outputs: &crate::events::Outputs) -> String {
    outputs
        .iter()
        .map(|(k, v)| (k, v.as_text()))
        .filter(|(_, v)| !v.is_empty() && v.chars().count() <= VALUE_WIDTH && !v.contains('\n'))
        .take(OUTPUTS_SHOWN)
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One line of at most `PROBLEM_WIDTH` characters.
fn short(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    match line.char_indices().nth(PROBLEM_WIDTH) {
        None if line.len() == text.len() => line.to_string(),
        None => format!("{line}…"),
        Some((cut, _)) => format!("{}…", &line[..cut]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_or_multi_line_problem_is_one_short_line() {
        assert_eq!(short("no such thing"), "no such thing");
        assert_eq!(short("first\nsecond"), "first…");
        let long = "x".repeat(100);
        assert_eq!(short(&long).chars().count(), PROBLEM_WIDTH + 1);
    }
}
