//! Progress bars for `run` on a terminal (SPEC section 8): a bar of finished steps, one
//! line per running step under it, and above them the same lines `HumanLines` prints.
//! A step that tells its progress with a total (a restore and its read-back, a copy)
//! gets a bar: objects done/total, what it does now (its tier), rate and time left; one
//! that counts without a total (a backup) a counter with its rate and its resource
//! type; bytes only where they move. One more consumer of the event stream;
//! `--progress auto|always|never` decides whether it replaces the plain lines.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::human::human_line;
use crate::events::{Event, EventSink};
use crate::progress::Told;
use crate::terminal;

/// How often spinners turn and bars redraw.
const TICK: Duration = Duration::from_millis(120);

/// The line of a running step: a spinner until it tells its progress, then a bar (with
/// a total) or a counter (without).
struct Running {
    bar: ProgressBar,
    /// Whether its count has a total; `None` before its first progress.
    with_total: Option<bool>,
}

/// A style from a template known to parse.
fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_spinner())
}

/// Bars drawn on stderr, lines written to `out` (stdout) between redraws.
pub struct ProgressBars<W: Write + Send> {
    multi: MultiProgress,
    /// Steps finished out of the run's steps.
    overall: ProgressBar,
    /// The line of each running step.
    running: Mutex<HashMap<String, Running>>,
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
        spinner.set_style(style("  {spinner} {prefix:.bold} {msg}  {elapsed}"));
        spinner.set_prefix(step.to_string());
        spinner.set_message(action.to_string());
        spinner.enable_steady_tick(TICK);
        let line = Running {
            bar: spinner,
            with_total: None,
        };
        if let Ok(mut running) = self.running.lock()
            && let Some(old) = running.insert(step.to_string(), line)
        {
            old.bar.finish_and_clear();
        }
    }

    fn progress(&self, step: &str, told: Told) {
        let Ok(mut running) = self.running.lock() else {
            return;
        };
        let Some(line) = running.get_mut(step) else {
            return;
        };
        let bar = &line.bar;
        // What it does now, and the bytes moved when some did.
        let mut detail = told.phase.clone().unwrap_or_default();
        if told.bytes > 0 {
            if !detail.is_empty() {
                detail.push_str(", ");
            }
            detail.push_str(&indicatif::HumanBytes(told.bytes).to_string());
        }
        let with_total = told.total.is_some();
        // A new kind of count, or a new phase counting from zero again: the rate and
        // the time left start again too.
        if line.with_total != Some(with_total) || told.objects < bar.position() {
            bar.reset();
            bar.set_style(if with_total {
                style(
                    "  {spinner} {prefix:.bold} [{bar:20}] {human_pos}/{human_len}  {per_sec:0}  ETA {eta}  {msg}",
                )
            } else {
                style("  {spinner} {prefix:.bold} {human_pos} objects  {per_sec:0}  {elapsed}  {msg}")
            });
            line.with_total = Some(with_total);
        }
        match told.total {
            Some(total) => bar.set_length(total.max(told.objects)),
            None => bar.unset_length(),
        }
        bar.set_position(told.objects);
        bar.set_message(detail);
    }

    /// A step ended (or will not run): its spinner goes, the overall bar moves on.
    fn end(&self, step: &str) {
        if let Ok(mut running) = self.running.lock()
            && let Some(line) = running.remove(step)
        {
            line.bar.finish_and_clear();
        }
        self.overall.inc(1);
    }

    fn clear(&self) {
        if let Ok(mut running) = self.running.lock() {
            for (_, line) in running.drain() {
                line.bar.finish_and_clear();
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
                total,
                phase,
            } => self.progress(
                step,
                Told {
                    objects: *objects,
                    bytes: *bytes,
                    total: *total,
                    phase: phase.clone(),
                },
            ),
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
