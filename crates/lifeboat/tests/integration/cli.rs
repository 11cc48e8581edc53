//! The command line: every subcommand of SPEC section 2 is present, has an example, and
//! those not built yet say so with exit 2.

use crate::harness::{Test, root};

const SUBCOMMANDS: &[&str] = &[
    "validate",
    "plan",
    "run",
    "resume",
    "status",
    "backups",
    "sandbox",
    "schema",
    "rbac",
    "completions",
];

#[test]
fn help_lists_every_subcommand() {
    let out = Test::new().arg("--help").run();
    for sub in SUBCOMMANDS {
        assert!(
            out.stdout.contains(&format!("  {sub} ")),
            "--help lacks {sub}:\n{}",
            out.stdout
        );
    }
}

#[test]
fn every_subcommand_help_has_an_example() {
    for sub in SUBCOMMANDS {
        let out = Test::new().args([sub, &"--help"]).run();
        assert!(
            out.stdout.contains("Examples:\n  lifeboat ")
                || out.stdout.contains("Examples:\n  kubectl"),
            "`{sub} --help` has no example:\n{}",
            out.stdout
        );
    }
}

#[test]
fn run_checks_the_runbook_and_its_flags_before_running_anything() {
    Test::new()
        .args([
            "run",
            "crates/lifeboat/tests/fixtures/invalid/unknown-cluster.yaml",
        ])
        .status(2)
        .stderr_contains("unknown cluster `stanby`")
        .run();
    Test::new()
        .args(["run", "runbooks/demo.yaml", "--only", "nosuch"])
        .status(2)
        .stderr_contains("--only nosuch: the runbook has no step `nosuch`")
        .run();
    Test::new()
        .args([
            "run",
            "runbooks/demo.yaml",
            "--junit",
            "/nonexistent-lifeboat-dir/x.xml",
        ])
        .status(2)
        .stderr_contains("the folder /nonexistent-lifeboat-dir does not exist")
        .run();
}

#[test]
fn usage_errors_exit_2() {
    Test::new()
        .arg("frobnicate")
        .status(2)
        .stderr_contains("unrecognized subcommand")
        .run();
    Test::new()
        .args(["plan", "runbooks/demo.yaml", "--format", "yaml"])
        .status(2)
        .run();
    Test::new()
        .args(["plan", "runbooks/demo.yaml", "--set", "novalue"])
        .status(2)
        .stderr_contains("is not NAME=VALUE")
        .run();
    Test::new().arg("validate").status(2).run();
}

#[test]
fn completions_are_generated_for_each_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = Test::new().args(["completions", shell]).run();
        assert!(
            out.stdout.contains("validate") && out.stdout.contains("lifeboat"),
            "{shell} completions look wrong"
        );
    }
}

/// docs/completions.md's promise, in a real bash: the generated script completes
/// commands, subcommands and flags.
#[test]
fn bash_completion_completes_commands_subcommands_and_flags() {
    let out = Test::new().args(["completions", "bash"]).run();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let script = dir.path().join("lifeboat.bash");
    std::fs::write(&script, &out.stdout).unwrap_or_else(|e| panic!("{e}"));
    // Each case: the words typed so far; bash completes the last one.
    let cases = [
        (vec!["lifeboat", "ba"], "backups"),
        (vec!["lifeboat", "backups", "p"], "prune"),
        (vec!["lifeboat", "run", "--out"], "--output"),
    ];
    for (words, expected) in cases {
        let cword = words.len() - 1;
        let program = format!(
            "source \"$1\"; COMP_WORDS=({}); COMP_CWORD={cword}; _lifeboat lifeboat {} {}; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            words.join(" "),
            words[cword],
            words[cword - 1],
        );
        let done = std::process::Command::new("bash")
            .args(["-c", &program, "bash"])
            .arg(&script)
            .output()
            .unwrap_or_else(|e| panic!("cannot run bash: {e}"));
        let replies = String::from_utf8_lossy(&done.stdout);
        assert_eq!(
            replies.lines().collect::<Vec<_>>(),
            [expected],
            "{words:?}: {}",
            String::from_utf8_lossy(&done.stderr)
        );
    }
}

/// docs/completions.md: every example runbook points editors at the committed schema.
#[test]
fn every_example_runbook_names_the_committed_schema() {
    let schema = root().join("docs/lifeboat.schema.json");
    assert!(schema.is_file());
    let mut seen = 0;
    for entry in std::fs::read_dir(root().join("runbooks")).unwrap_or_else(|e| panic!("{e}")) {
        let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            text.lines().next(),
            Some("# yaml-language-server: $schema=../docs/lifeboat.schema.json"),
            "{} does not start with the schema line",
            path.display()
        );
        seen += 1;
    }
    assert!(seen >= 5, "only {seen} example runbooks");
}

#[test]
fn version_prints_the_crate_version() {
    Test::new()
        .arg("--version")
        .stdout_contains(env!("CARGO_PKG_VERSION"))
        .run();
}

#[test]
fn a_missing_runbook_file_is_a_clear_error() {
    Test::new()
        .args(["validate", "runbooks/nope.yaml"])
        .status(2)
        .stderr_contains("runbooks/nope.yaml:1:1: error: cannot read runbook: no such file")
        .run();
    Test::new()
        .args(["validate", "runbooks"])
        .status(2)
        .stderr_contains("is a directory")
        .run();
}
