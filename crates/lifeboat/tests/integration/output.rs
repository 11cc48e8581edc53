//! What a run shows: progress bars only where asked for (`--progress`), the same lines
//! on stdout either way, and secret param values in none of it (human lines, JSON
//! events, the journal), even when they end up in a step's error.

use std::path::Path;

use crate::harness::{Test, TestRunbook};
use testbed::Kube;

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
    // The lines without their durations (`ok    first in 402ms`), which differ by run.
    let steps = |out: &str| -> Vec<String> {
        out.lines()
            .filter(|l| l.starts_with("  "))
            .map(|l| match l.split_once(" in ") {
                Some((head, _)) => format!("{head} in …"),
                None => l.to_string(),
            })
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

#[test]
fn json_logs_carry_the_run_and_step_ids_and_never_a_secret() {
    const SECRET: &str = "hunter2-very-secret";
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rb = leaky(dir.path());
    let rb = rb.to_string_lossy().to_string();
    let set = format!("token={SECRET}");
    let out = Test::new()
        .args(["run", &rb, "--set", &set, "--log-format", "json"])
        .env("RUST_LOG", "lifeboat=info")
        .status(1)
        .run();
    let lines: Vec<serde_json::Value> = out
        .stderr
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}"))
        })
        .collect();
    let run_id = |l: &serde_json::Value| {
        l["spans"]
            .as_array()
            .and_then(|spans| spans.iter().find(|s| s["name"] == "run"))
            .and_then(|s| s["run_id"].as_str().map(str::to_string))
    };
    let failed = lines
        .iter()
        .find(|l| l["fields"]["event"] == "step_failed")
        .unwrap_or_else(|| panic!("no step_failed log line:\n{}", out.stderr));
    assert_eq!(failed["fields"]["step_id"], "probe", "{failed}");
    assert!(
        failed["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("token=********")),
        "{failed}"
    );
    let first = run_id(&lines[0]).unwrap_or_else(|| panic!("no run_id: {}", lines[0]));
    for l in &lines {
        assert_eq!(run_id(l).as_deref(), Some(first.as_str()), "{l}");
    }
    assert!(!out.stderr.contains(SECRET), "{}", out.stderr);

    // Without RUST_LOG only lifeboat's warnings are logged: a plain failing run has none.
    let quiet = Test::new()
        .args(["run", &rb, "--set", &set])
        .env("RUST_LOG", "")
        .status(1)
        .run();
    assert!(!quiet.stderr.contains("INFO"), "{}", quiet.stderr);
}

/// `lifeboat run` under `script`, so that its stdin and stderr are a terminal; `answer`
/// is typed at it. Returns what the terminal showed and the exit status.
fn on_a_terminal(args: &str, answer: &str) -> (String, i32) {
    use std::io::Write;
    let mut child = std::process::Command::new("script")
        .args([
            "-qec",
            &format!("{} {args}", env!("CARGO_BIN_EXE_lifeboat")),
            "/dev/null",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run script (util-linux): {e}"));
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(answer.as_bytes());
    }
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("script: {e}"));
    (
        String::from_utf8_lossy(&out.stdout).replace('\r', ""),
        out.status.code().unwrap_or(-1),
    )
}

#[test]
fn a_step_that_changes_a_real_cluster_is_confirmed_at_a_terminal() {
    let cluster = crate::served::Served::start(&[&crate::harness::path("runbooks/fixtures/shop")]);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rb = TestRunbook::new("confirm")
        .cluster("c", &cluster.kubeconfig)
        .steps("  - { id: look, uses: sleep, with: { duration: 1ms } }\n  - { id: freeze, name: stop the web tier, uses: scale, with: { kind: Deployment, namespace: shop, selector: tier=web, replicas: 0 } }\n")
        .write(dir.path());
    let rb = rb.display().to_string();
    let replicas = || {
        cluster.ok(&[
            "get",
            "deployment",
            "-n",
            "shop",
            "-l",
            "tier=web",
            "-o",
            "jsonpath={.items[*].spec.replicas}",
        ])
    };
    let before = replicas();
    assert!(!before.contains('0'), "{before}");

    // No: the step fails (not retried), nothing changes.
    let (shown, status) = on_a_terminal(&format!("run {rb} --progress never"), "n\n");
    assert_eq!(status, 1, "{shown}");
    assert!(
        shown.contains("step `freeze` (stop the web tier) runs scale on cluster `c`. Go on? [y/N]"),
        "{shown}"
    );
    assert!(shown.contains("not confirmed at the terminal"), "{shown}");
    assert_eq!(replicas(), before);

    // Yes: it runs. Without a terminal (every other test) nothing is asked.
    let (shown, status) = on_a_terminal(&format!("run {rb} --progress never"), "y\n");
    assert_eq!(status, 0, "{shown}");
    assert!(shown.contains("ok    freeze"), "{shown}");
    assert!(!replicas().contains('1'), "{}", replicas());

    // --yes never asks.
    let (shown, status) = on_a_terminal(&format!("run {rb} --progress never --yes"), "");
    assert_eq!(status, 0, "{shown}");
    assert!(!shown.contains("Go on?"), "{shown}");
}

/// Regression: the state a `patch` keeps for its undo (the object as it was) held a
/// secret value once an earlier step had written one into the object, and went into
/// the journal as it was. The journal now names the param instead of its value.
#[test]
fn the_journal_never_holds_a_secret_value_even_in_undo_states() {
    const SECRET: &str = "hunter2-undo-secret";
    let cluster = crate::served::Served::start(&[&crate::harness::path("runbooks/fixtures/edge")]);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rb = TestRunbook::new("undosecret")
        .params("  token: { secret: true }\n")
        .cluster("c", &cluster.kubeconfig)
        .steps("  - { id: set, uses: patch, with: { kind: ConfigMap, namespace: edge, name: routing, merge: { data: { token: \"${{ params.token }}\" } } } }\n  - { id: note, uses: patch, undo: {}, with: { kind: ConfigMap, namespace: edge, name: routing, merge: { data: { note: changed } } } }\n")
        .write(dir.path());
    Test::new()
        .args([
            "run",
            &rb.to_string_lossy(),
            "--set",
            &format!("token={SECRET}"),
        ])
        .run();
    let journal = all_text(&dir.path().join("state"));
    assert!(journal.contains("\"undo_state\""), "{journal}");
    assert!(!journal.contains(SECRET), "{journal}");
    assert!(journal.contains("${{ params.token }}"), "{journal}");
}

/// Regression: Ctrl-C while a confirmation waited for an answer stopped the run, but
/// the process then waited for the unanswered read forever (and a second Ctrl-C did
/// nothing).
#[test]
fn ctrl_c_during_a_question_ends_the_process() {
    use std::io::Read;
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rb = TestRunbook::new("asked")
        .steps("  - { id: cmd, uses: exec_local, with: { argv: [ \"true\" ] } }\n")
        .write(dir.path());
    let mut child = std::process::Command::new("script")
        .args([
            "-qfec",
            &format!(
                "{} run {} --progress never",
                env!("CARGO_BIN_EXE_lifeboat"),
                rb.display()
            ),
            "/dev/null",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run script (util-linux): {e}"));
    // Nobody answers: stdin stays open and empty. The journal names the process.
    let deadline = Instant::now() + Duration::from_secs(20);
    let pid = loop {
        let journal = all_text(&dir.path().join("state"));
        if let Some(pid) = journal
            .split("\"pid\":")
            .nth(1)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .filter(|p| !p.is_empty())
        {
            break pid.to_string();
        }
        assert!(Instant::now() < deadline, "the run did not start");
        std::thread::sleep(Duration::from_millis(50));
    };
    // Let it reach the question, then Ctrl-C.
    std::thread::sleep(Duration::from_millis(500));
    let sent = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .is_ok_and(|s| s.success());
    assert!(sent, "cannot signal {pid}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("lifeboat still runs 20 s after Ctrl-C during a question");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut shown = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_string(&mut shown);
    }
    assert!(shown.contains("Go on? [y/N]"), "{shown}");
    assert!(shown.contains("lifeboat resume"), "{shown}");
    assert_eq!(status.code(), Some(130), "{shown}");
}
