//! What a run shows: progress bars only where asked for (`--progress`), the same lines
//! on stdout either way, and secret param values in none of it (human lines, JSON
//! events, the journal), even when they end up in a step's error.

use std::path::Path;

use crate::harness::{Test, TestRunbook};

/// A runbook whose `http_check` puts a secret param in its URL and fails (nothing
/// listens on port 9), after one retry; a sleep before it succeeds.
fn leaky(dir: &Path) -> std::path::PathBuf {
    TestRunbook::new("leaky")
        .params("  token: { secret: true }\n")
        .steps(
            "  - { id: nap, uses: sleep, with: { duration: 1ms } }\n  - id: probe\n    uses: http_check\n    with: { url: \"http://127.0.0.1:9/health?token=${{ params.token }}\" }\n    retry: { attempts: 2, backoff: 10ms }\n",
        )
        .write(dir)
}

/// Every file under `dir`, as text.
fn all_text(dir: &Path) -> String {
    let mut out = String::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.push_str(&all_text(&p));
        } else {
            out.push_str(&String::from_utf8_lossy(
                &std::fs::read(&p).unwrap_or_default(),
            ));
        }
    }
    out
}

#[test]
fn a_secret_param_in_a_failing_steps_error_is_masked_everywhere() {
    const SECRET: &str = "hunter2-very-secret";
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rb = leaky(dir.path());
    let rb = rb.to_string_lossy().to_string();
    let set = format!("token={SECRET}");
    let human = Test::new()
        .args(["run", &rb, "--set", &set])
        .status(1)
        .stdout_contains("FAIL  probe")
        .run();
    let json = Test::new()
        .args(["run", &rb, "--set", &set, "--output", "json"])
        .status(1)
        .stdout_contains("\"event\":\"step_retrying\"")
        .run();
    // The error names the URL, masked: the check is not vacuous.
    assert!(human.stdout.contains("token=********"), "{}", human.stdout);
    let journal = all_text(&dir.path().join("state"));
    assert!(journal.contains("step_failed"), "no journal was written");
    for (what, text) in [
        ("stdout", &human.stdout),
        ("stderr", &human.stderr),
        ("JSON events", &json.stdout),
        ("the journal", &journal),
    ] {
        assert!(!text.contains(SECRET), "the secret is in {what}:\n{text}");
    }
}

#[test]
fn progress_bars_go_to_stderr_only_when_asked_and_lines_stay_the_same() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rb = TestRunbook::new("bars")
        .steps("  - { id: first, uses: sleep, with: { duration: 400ms } }\n  - { id: second, uses: sleep, with: { duration: 400ms } }\n")
        .write(dir.path());
    let rb = rb.to_string_lossy().to_string();
    let plain = Test::new().args(["run", &rb, "--progress", "never"]).run();
    let bars = Test::new().args(["run", &rb, "--progress", "always"]).run();
    // Not a terminal here: `auto` draws nothing.
    let auto = Test::new().args(["run", &rb]).run();
    let steps = |out: &str| -> Vec<String> {
        out.lines()
            .filter(|l| l.starts_with("  "))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(steps(&plain.stdout), steps(&bars.stdout));
    assert_eq!(steps(&plain.stdout), steps(&auto.stdout));
    assert!(
        steps(&plain.stdout)
            .iter()
            .any(|l| l.contains("ok    second"))
    );
    for out in [&plain, &auto] {
        assert!(!out.stderr.contains('\u{1b}'), "{:?}", out.stderr);
        assert!(!out.stdout.contains('\u{1b}'), "{:?}", out.stdout);
    }
    // The bars: the count of finished steps and the running step's spinner, drawn with
    // ANSI escapes on stderr; stdout keeps plain lines.
    assert!(bars.stderr.contains('\u{1b}'), "{:?}", bars.stderr);
    assert!(bars.stderr.contains("steps"), "{:?}", bars.stderr);
    assert!(bars.stderr.contains("first"), "{:?}", bars.stderr);
    assert!(!bars.stdout.contains('\u{1b}'), "{:?}", bars.stdout);
}
