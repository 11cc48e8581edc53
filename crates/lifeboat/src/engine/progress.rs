//! Progress bars for `run` on a terminal (SPEC section 8): a bar of finished steps, one
//! spinner per running step (with objects and bytes for backup and restore), and above
//! them the same lines `HumanLines` prints. One more consumer of the event stream;
//! `--progress auto|always|never` decides whether it replaces the plain lines.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::human::human_line;
use crate::events::{Event, EventSink};
use crate::terminal;

/// How often spinners turn and bars redraw.
const TICK: Duration = Duration::from_millis(120);

/// Bars drawn on stderr, lines written to `out` (stdout) between redraws.
pub struct ProgressBars<W: Write + Send> {
    multi: MultiProgress,
    /// Steps finished out of the run's steps.
    overall: ProgressBar,
    /// The spinner of each running step.
    running: Mutex<HashMap<String, ProgressBar>>,
    out: Mutex<W>,
}

impl<W: Write + Send> ProgressBars<W> {
    /// Bars on stderr. `force` draws them even when stderr is not a terminal
    /// (`--progress always`); otherwise a non-terminal stderr shows none.
    pub fn on_stderr(out: W, force: bool) -> ProgressBars<W> {
        let multi = MultiProgress::with_draw_target(terminal::draw_target(force));
        terminal::drawing(&multi, force);
        // Shown once the run says how many steps it has.
        let overall = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
        overall.set_style(
            ProgressStyle::with_template("{prefix:.bold} [{bar:30}] {pos}/{len} steps  {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        overall.set_prefix("run");
        ProgressBars {
            multi,
            overall,
            running: Mutex::new(HashMap::new()),
            out: Mutex::new(out),
        }
    }

    /// Prints a line above the bars.
    fn line(&self, line: &str) {
        self.multi.suspend(|| {
            if let Ok(mut out) = self.out.lock() {
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
        });
    }

    fn start(&self, step: &str, action: &str) {
        let spinner = self.multi.add(ProgressBar::new_spinner());
        spinner.set_style(
            ProgressStyle::with_template("  {spinner} {prefix:.bold} {msg}  {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        spinner.set_prefix(step.to_string());
        spinner.set_message(action.to_string());
        spinner.enable_steady_tick(TICK);
        if let Ok(mut running) = self.running.lock()
            && let Some(old) = running.insert(step.to_string(), spinner)
        {
            old.finish_and_clear();
        }
    }

    fn progress(&self, step: &str, objects: u64, bytes: u64) {
        if let Ok(running) = self.running.lock()
            && let Some(spinner) = running.get(step)
        {
            spinner.set_message(format!(
                "{} objects, {}",
                group_thousands(objects),
                indicatif::HumanBytes(bytes)
            ));
        }
    }

    /// A step ended (or will not run): its spinner goes, the overall bar moves on.
    fn end(&self, step: &str) {
        if let Ok(mut running) = self.running.lock()
            && let Some(spinner) = running.remove(step)
        {
            spinner.finish_and_clear();
        }
        self.overall.inc(1);
    }

    fn clear(&self) {
        if let Ok(mut running) = self.running.lock() {
            for (_, spinner) in running.drain() {
                spinner.finish_and_clear();
            }
        }
        self.overall.finish_and_clear();
    }
}

impl<W: Write + Send> EventSink for ProgressBars<W> {
    fn emit(&self, event: &Event) {
        match event {
            Event::RunStarted { steps, .. } => {
                self.overall.set_length(*steps as u64);
                self.multi.add(self.overall.clone());
            }
            Event::StepStarted { step, action, .. } => self.start(step, action),
            Event::StepProgress {
                step,
                objects,
                bytes,
            } => self.progress(step, *objects, *bytes),
            Event::StepSucceeded { step, .. }
            | Event::StepResumed { step, .. }
            | Event::StepSkipped { step, .. }
            | Event::StepFailed { step, .. } => self.end(step),
            // A retry starts the step again: its spinner stays.
            Event::RunFinished { .. } | Event::RunInterrupted { .. } => self.clear(),
            _ => {}
        }
        if let Some(line) = human_line(event) {
            self.line(&line);
        }
    }
}

/// `12345` → `12,345`.
fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(group_thousands(0), "0");
        assert_eq!(group_thousands(999), "999");
        assert_eq!(group_thousands(1000), "1,000");
        assert_eq!(group_thousands(1_234_567), "1,234,567");
    }
}
