//! lifeboat on a real terminal: a pseudo-terminal made by util-linux `script`, which
//! records everything drawn on it. A restore draws a bar with done/total, a rate and
//! the time left before it ends; a run ends with the summary of its steps.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::{Output, Test, wait_output};

/// Runs `lifeboat ARGS` in `dir` on a pseudo-terminal; returns what the terminal
/// showed (escape sequences removed, carriage returns as line ends) and the exit code.
fn on_a_terminal(dir: &Path, args: &[&str]) -> (String, i32) {
    let typescript = dir.join("typescript");
    let mut line = vec![env!("CARGO_BIN_EXE_lifeboat").to_string()];
    line.extend(args.iter().map(|a| a.to_string()));
    let child = Command::new("script")
        .args(["--quiet", "--flush", "--return", "--command"])
        .arg(line.join(" "))
        .arg(&typescript)
        .current_dir(dir)
        .env("TERM", "xterm-256color")
        .env("COLUMNS", "160")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run script (util-linux): {e}"));
    let Output { status, .. } = wait_output(child, Duration::from_secs(180), "lifeboat on a pty");
    let raw = std::fs::read(&typescript).unwrap_or_else(|e| panic!("{e}"));
    let text = String::from_utf8_lossy(&raw);
    let escapes = regex::Regex::new(r"\x1b\[[0-9;?]*[A-Za-z]").unwrap_or_else(|e| panic!("{e}"));
    (escapes.replace_all(&text, "").replace('\r', "\n"), status)
}

/// A runbook that backs up `count` ConfigMaps from a seeded sandbox and restores them
/// into another.
fn many(dir: &Path, count: usize) -> PathBuf {
    let seed = dir.join("seed");
    std::fs::create_dir_all(&seed).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        seed.join("namespace.yaml"),
        "apiVersion: v1\nkind: Namespace\nmetadata: { name: many }\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // At most 1,024 documents a seed file.
    for (file, chunk) in (0..count).collect::<Vec<_>>().chunks(1000).enumerate() {
        let docs: Vec<String> = chunk
            .iter()
            .map(|n| {
                format!(
                    "apiVersion: v1\nkind: ConfigMap\nmetadata: {{ name: c{n}, namespace: many }}\ndata: {{ n: \"{n}\" }}\n"
                )
            })
            .collect();
        std::fs::write(seed.join(format!("many-{file}.yaml")), docs.join("---\n"))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let rb = dir.join("many.yaml");
    std::fs::write(
        &rb,
        "apiVersion: lifeboat.dev/v1alpha1\nkind: Runbook\nmetadata: { name: many }\n\
         objectives: { rto: 1h }\n\
         clusters:\n  a: { sandbox: { seed: [ ./seed ] } }\n  b: { sandbox: {} }\n\
         stores:\n  local: { fs: { path: ./backups } }\nstate: { path: state }\nsteps:\n\
         \x20 - { id: backup, uses: backup, cluster: a, with: { store: local, namespaces: [ many ] } }\n\
         \x20 - { id: restore, uses: restore, cluster: b, needs: [ backup ], with: { store: local, backup: \"${{ steps.backup.outputs.backup_id }}\" } }\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    rb
}

#[test]
fn a_restore_on_a_terminal_shows_done_of_total_a_rate_and_the_time_left_before_it_ends() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    many(dir.path(), 4_000);
    let (screen, status) = on_a_terminal(
        dir.path(),
        &["run", "--yes", "many.yaml", "--report", "drill.html"],
    );
    assert_eq!(status, 0, "{screen}");
    let end = screen
        .find("ok    restore in ")
        .unwrap_or_else(|| panic!("the restore never ended:\n{screen}"));
    // 4,003 objects in the backup: the namespace, its ServiceAccount, 4,000 ConfigMaps
    // and the root CA ConfigMap.
    let bar =
        regex::Regex::new(r"restore \[[^\]]{20}\] ([0-9,]+)/4,003  [0-9,]+/s  ETA [0-9]+[smh]")
            .unwrap_or_else(|e| panic!("{e}"));
    let frames: Vec<u64> = bar
        .captures_iter(&screen[..end])
        .filter_map(|c| c[1].replace(',', "").parse().ok())
        .collect();
    assert!(
        !frames.is_empty(),
        "no restore bar with a total and an ETA:\n{screen}"
    );
    // The backup counts without a total, by resource type, with the bytes it writes.
    let counter =
        regex::Regex::new(r"backup [0-9,]+ objects  [0-9,]+/s  .* configmaps [0-9,]+/4,00[0-9], ")
            .unwrap_or_else(|e| panic!("{e}"));
    assert!(counter.is_match(&screen), "no backup counter:\n{screen}");
    // At the end: the summary of the steps, the objective, and how to open the report.
    let summary = &screen[screen
        .find("summary of run ")
        .unwrap_or_else(|| panic!("no summary:\n{screen}"))..];
    assert!(
        summary.contains("STEP     RESULT     DURATION  ATTEMPTS  KEY OUTPUTS / ERROR"),
        "{summary}"
    );
    assert!(summary.contains("\nrestore  succeeded  "), "{summary}");
    assert!(summary.contains("objective rto: "), "{summary}");
    let report = dir.path().join("drill.html");
    assert!(
        summary.contains(&format!("open the report: xdg-open {}", report.display())),
        "{summary}"
    );
}

#[test]
fn a_failed_run_ends_with_its_summary_on_a_terminal_and_none_without_one() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rb = dir.path().join("short.yaml");
    std::fs::write(
        &rb,
        "apiVersion: lifeboat.dev/v1alpha1\nkind: Runbook\nmetadata: { name: short }\nstate: { path: state }\nsteps:\n\
         \x20 - { id: hello, uses: exec_local, with: { argv: [ echo, hi ] } }\n\
         \x20 - { id: broken, uses: exec_local, needs: [ hello ], with: { argv: [ sh, -c, \"echo no disk >&2; exit 4\" ] }, retry: { attempts: 2, backoff: 1ms } }\n\
         \x20 - { id: never, uses: sleep, needs: [ broken ], with: { duration: 1ms } }\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let (screen, status) = on_a_terminal(dir.path(), &["run", "--yes", "short.yaml"]);
    assert_eq!(status, 1, "{screen}");
    let summary = &screen[screen
        .find("summary of run ")
        .unwrap_or_else(|| panic!("no summary:\n{screen}"))..];
    let row = |step: &str| {
        summary
            .lines()
            .find(|l| l.starts_with(&format!("{step} ")))
            .unwrap_or_else(|| panic!("no row {step}:\n{summary}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    assert_eq!(row("hello")[1..2], ["succeeded"]);
    assert!(row("hello").contains(&"exit_code=0"), "{summary}");
    assert_eq!(row("broken")[1], "failed");
    assert_eq!(row("broken")[3], "2", "two attempts: {summary}");
    assert!(summary.contains("no disk"), "{summary}");
    assert_eq!(row("never")[1..2], ["skipped"]);
    // Piped (CI logs), the lines are all there is.
    let out = Test::new()
        .arg("run")
        .arg(&rb)
        .arg("--yes")
        .current_dir(dir.path())
        .status(1)
        .run();
    assert!(!out.stdout.contains("summary of run"), "{}", out.stdout);
}
