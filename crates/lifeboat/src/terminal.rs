//! The terminal, shared by whatever uses it during a run: the progress bars register
//! there (`drawing`), and a question to the operator (`ask`: an approval, a
//! confirmation) puts them away while it waits for the answer.

use std::io::Write;

use indicatif::{MultiProgress, ProgressDrawTarget};

/// The bars being drawn, if any: a question to the operator clears them while it waits
/// for the answer (they would draw over it).
static DRAWN: std::sync::Mutex<Option<(MultiProgress, bool)>> = std::sync::Mutex::new(None);

/// One question at a time: a second one waits until the first is answered.
static ASKING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Where bars are drawn: stderr, and with `force` even when it is not a terminal.
pub fn draw_target(force: bool) -> ProgressDrawTarget {
    if force {
        ProgressDrawTarget::term_like_with_hz(Box::new(AnsiStderr), 10)
    } else {
        ProgressDrawTarget::stderr_with_hz(10)
    }
}

/// Asks `question` on the terminal (stderr) and reads the answer from stdin, with any
/// progress bars put away meanwhile. Yes is `y` or `yes`, in any case; `Err` says why
/// no answer could be read.
pub async fn ask(question: &str) -> Result<bool, String> {
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
    .map_err(|e| format!("the question was interrupted: {e}"))?
    .map_err(|e| format!("cannot read the answer: {e}"))?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// Records the bars being drawn, for `ask` to put away while it waits.
pub fn drawing(multi: &MultiProgress, force: bool) {
    if let Ok(mut drawn) = DRAWN.lock() {
        *drawn = Some((multi.clone(), force));
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
