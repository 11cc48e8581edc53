//! The command line: every subcommand of SPEC section 2 is present, has an example, and
//! those not built yet say so with exit 2.

use crate::harness::Test;

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
