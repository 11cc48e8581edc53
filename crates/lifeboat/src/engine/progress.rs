//! Progress bars for `run` on a terminal (SPEC section 8): a bar of finished steps, one
//! spinner per running step (with objects and bytes for backup and restore), and above
//! them the same lines `HumanLines` prints. One more consumer of the event stream;
//! `--progress auto|always|never` decides whether it replaces the plain lines.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::events::{Event, EventSink};
use super::human::human_line;

/// The bars being drawn, if any: a question to the operator clears them while it waits
/// for the answer (they would draw over it).
static DRAWN: std::sync::Mutex<Option<(MultiProgress, bool)>> = std::sync::Mutex::new(None);

/// One question at a time: a second one waits until the first is answered.
static ASKING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Where bars are drawn: stderr, and with `force` even when it is not a terminal.
fn draw_target(force: bool) -> ProgressDrawTarget {
    if force {
        ProgressDrawTarget::term_like_with_hz(Box::new(AnsiStderr), 10)
    } else {
        ProgressDrawTarget::stderr_with_hz(10)
    }
}

/// Asks `question` on the terminal (stderr) and reads the answer from stdin, with any
/// progress bars put away meanwhile. Yes is `y` or `yes`, in any case.
pub async fn ask(question: &str) -> Result<bool, crate::actions::ActionError> {
    use std::io::BufRead;
    let question = question.to_string();
    let _one_at_a_time = ASKING.lock().await;
    let answer = tokio::task::spawn_blocking(move || {
        let read = || {
            let mut err = std::io::stderr();
            let _ = write!(err, "{question}");
            let _ = err.flush();
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line).map(|_| line)
        };
        // The bars are hidden (not merely paused) while the operator thinks: steps
        // running in parallel keep reporting, and nothing waits for the answer.
        let bars = DRAWN.lock().ok().and_then(|d| d.clone());
        if let Some((multi, _)) = &bars {
            let _ = multi.clear();
            multi.set_draw_target(ProgressDrawTarget::hidden());
        }
        let answer = read();
        if let Some((multi, force)) = bars {
            multi.set_draw_target(draw_target(force));
        }
        answer
    })
    .await
    .map_err(|e| crate::actions::ActionError::Failed(format!("the question was interrupted: {e}")))?
    .map_err(|e| crate::actions::ActionError::Failed(format!("cannot read the answer: {e}")))?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

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
        let multi = MultiProgress::with_draw_target(draw_target(force));
        if let Ok(mut drawn) = DRAWN.lock() {
            *drawn = Some((multi.clone(), force));
        }
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

/// stderr driven with ANSI escapes whether or not it is a terminal (`--progress
/// always`: a CI log viewer that renders them, or a test).
#[derive(Debug)]
struct AnsiStderr;

impl AnsiStderr {
    fn write(&self, s: &str) -> std::io::Result<()> {
        std::io::stderr().write_all(s.as_bytes())
    }

    /// Moves the cursor `n` cells in the direction of the ANSI code (`A` up, `B`
    /// down, `C` right, `D` left).
    fn cursor(&self, n: usize, code: char) -> std::io::Result<()> {
        if n == 0 {
            return Ok(());
        }
        self.write(&format!("\x1b[{n}{code}"))
    }
}

impl indicatif::TermLike for AnsiStderr {
    fn width(&self) -> u16 {
        std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(100)
    }

    fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
        self.cursor(n, 'A')
    }

    fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
        self.cursor(n, 'B')
    }

    fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
        self.cursor(n, 'C')
    }

    fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
        self.cursor(n, 'D')
    }

    fn write_line(&self, s: &str) -> std::io::Result<()> {
        self.write(&format!("{s}\n"))
    }

    fn write_str(&self, s: &str) -> std::io::Result<()> {
        self.write(s)
    }

    fn clear_line(&self) -> std::io::Result<()> {
        self.write("\r\x1b[2K")
    }

    fn flush(&self) -> std::io::Result<()> {
        std::io::stderr().flush()
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
