//! Keeps the README honest: its runbook example validates, its command list and exit
//! codes match the program.

use crate::harness::{Test, root};

fn readme() -> String {
    std::fs::read_to_string(root().join("README.md")).unwrap_or_else(|e| panic!("README.md: {e}"))
}

#[test]
fn the_readme_runbook_example_validates() {
    let text = readme();
    let start = text
        .find("```yaml\n")
        .unwrap_or_else(|| panic!("README has no ```yaml block"));
    let body = &text[start + 8..];
    let end = body.find("```").unwrap_or(body.len());
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = dir.path().join("readme-example.yaml");
    std::fs::write(&file, &body[..end]).unwrap_or_else(|e| panic!("{e}"));
    Test::new()
        .arg("validate")
        .arg(&file)
        .stdout_contains(": ok (")
        .run();
}

#[test]
fn the_readme_lists_every_subcommand() {
    let text = readme();
    let help = Test::new().arg("--help").run().stdout;
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(commands.len() >= 10, "{help}");
    for c in commands {
        assert!(
            text.contains(&format!("lifeboat {c}")),
            "README does not mention `lifeboat {c}`"
        );
    }
}

#[test]
fn the_readme_documents_every_exit_code() {
    let text = readme();
    for code in [0, 1, 2, 3, 4, 130] {
        assert!(
            text.contains(&format!("| {code} |")),
            "README's exit code table lacks {code}"
        );
    }
}

#[test]
fn the_readme_test_command_is_the_one_ci_runs() {
    let text = readme();
    assert!(text.contains("scripts/test"));
    let ci = std::fs::read_to_string(root().join(".ci/run")).unwrap_or_default();
    assert!(
        ci.contains("scripts/test"),
        ".ci/run does not call scripts/test"
    );
}

#[test]
fn the_readme_error_example_is_what_validate_prints() {
    let text = readme();
    let start = text
        .find("```console\n$ lifeboat ")
        .unwrap_or_else(|| panic!("README has no console example"));
    let block = &text[start + "```console\n$ lifeboat ".len()..];
    let block = &block[..block.find("```").unwrap_or(block.len())];
    let (command, printed) = block.split_once('\n').unwrap_or((block, ""));
    let out = Test::new().args(command.split_whitespace()).status(2).run();
    assert_eq!(
        out.stderr, printed,
        "README's example of `lifeboat {command}` is stale"
    );
}

/// Every `cargo run --release -- run ...` line of the README runs as written (with the
/// test's binary, from a scratch folder, with its own state so it never meets another
/// test's lock) and ends as the README says: the injected failure exits 1.
#[test]
fn the_readme_run_commands_work_as_written() {
    let text = readme();
    let commands: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("cargo run --release -- run "))
        .collect();
    assert!(commands.len() >= 3, "README has no run commands");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for (i, command) in commands.iter().enumerate() {
        let words: Vec<String> = command
            .split_whitespace()
            .map(|w| {
                if w.starts_with("runbooks/") {
                    root().join(w).display().to_string()
                } else {
                    w.to_string()
                }
            })
            .collect();
        let state = dir.path().join(format!("state-{i}"));
        let out = Test::new()
            .arg("run")
            .args(words.iter().map(String::as_str))
            .arg("--state")
            .arg(&state)
            .current_dir(dir.path())
            .status(if command.contains("--inject-failure") {
                1
            } else {
                0
            })
            .run();
        assert!(out.stdout.contains("run "), "{command}: {}", out.stdout);
        for w in words
            .iter()
            .filter(|w| w.ends_with(".html") || w.ends_with(".xml"))
        {
            assert!(dir.path().join(w).exists(), "{command} did not write {w}");
        }
    }
}
