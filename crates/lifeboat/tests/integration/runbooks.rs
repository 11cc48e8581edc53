//! The example runbooks in runbooks/: all valid, and all accepted by the JSON schema
//! that `lifeboat schema` prints (the one editors use).

use std::path::PathBuf;

use crate::harness::{Test, path, root};

pub fn example_runbooks() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(path("runbooks"))
        .unwrap_or_else(|e| panic!("cannot list runbooks/: {e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn the_example_runbooks_exist() {
    let names: Vec<String> = example_runbooks()
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    for expected in [
        "backup.yaml",
        "demo.yaml",
        "drill.yaml",
        "failover.yaml",
        "restore.yaml",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "runbooks/{expected} is missing"
        );
    }
}

#[test]
fn every_example_runbook_validates() {
    let files = example_runbooks();
    let out = Test::new().arg("validate").args(&files).run();
    assert_eq!(
        out.stdout.matches(": ok (").count(),
        files.len(),
        "{}",
        out.stdout
    );
}

/// Reads a YAML file the way lifeboat does and returns it as JSON.
fn yaml_as_json(file: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    lifeboat::runbook::node::parse_str(file, &text)
        .unwrap_or_else(|d| panic!("{d}"))
        .to_json()
}

fn schema() -> serde_json::Value {
    let out = Test::new().arg("schema").run();
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("schema is not JSON: {e}"))
}

fn valid_fixtures() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(path("crates/lifeboat/tests/fixtures/valid"))
        .unwrap_or_else(|e| panic!("cannot list tests/fixtures/valid: {e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    files
}

#[test]
fn every_example_and_valid_fixture_matches_the_schema() {
    let schema = schema();
    let validator =
        jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("invalid schema: {e}"));
    for file in example_runbooks().into_iter().chain(valid_fixtures()) {
        let doc = yaml_as_json(&file);
        let errors: Vec<String> = validator
            .iter_errors(&doc)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{} does not match the schema:\n{}",
            file.display(),
            errors.join("\n")
        );
    }
}

#[test]
fn the_schema_rejects_what_validate_rejects() {
    let validator =
        jsonschema::validator_for(&schema()).unwrap_or_else(|e| panic!("invalid schema: {e}"));
    for name in [
        "unknown-input-field",
        "unknown-step-field",
        "unknown-action",
        "missing-required-input",
        "bad-duration",
    ] {
        let file = path(&format!(
            "crates/lifeboat/tests/fixtures/invalid/{name}.yaml"
        ));
        let doc = yaml_as_json(&file);
        assert!(
            !validator.is_valid(&doc),
            "the schema accepts {name}.yaml, which validate rejects"
        );
    }
}

#[test]
fn the_committed_schema_is_what_lifeboat_prints() {
    let printed = Test::new().arg("schema").run().stdout;
    let committed =
        std::fs::read_to_string(root().join("docs/lifeboat.schema.json")).unwrap_or_default();
    assert!(
        printed == committed,
        "docs/lifeboat.schema.json is stale: run `cargo run -- schema > docs/lifeboat.schema.json`"
    );
}

#[test]
fn paths_in_a_runbook_are_relative_to_its_folder() {
    // demo.yaml seeds its sandboxes from ./fixtures/...: found from any working folder.
    let elsewhere = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    Test::new()
        .current_dir(elsewhere.path())
        .arg("validate")
        .arg(path("runbooks/demo.yaml"))
        .stdout_contains(": ok (6 steps)")
        .run();
}

#[test]
fn an_undo_may_read_its_own_steps_outputs() {
    Test::new()
        .args([
            "validate",
            "crates/lifeboat/tests/fixtures/valid/undo-reads-outputs.yaml",
        ])
        .stdout_contains(": ok (2 steps)")
        .run();
}

#[test]
fn plain_scalars_are_read_as_text_and_numeric_strings_as_numbers() {
    let out = Test::new()
        .args([
            "plan",
            "--format",
            "json",
            "crates/lifeboat/tests/fixtures/valid/scalars.yaml",
        ])
        .run();
    let plan: serde_json::Value = serde_json::from_str(&out.stdout).unwrap_or_default();
    assert_eq!(
        plan["params"][2]["value"], "1.10",
        "the spelling of 1.10 is kept"
    );
    assert_eq!(plan["steps"][0]["inputs"]["replicas"], "7");
    assert_eq!(plan["steps"][1]["inputs"]["replicas"], "3");
}
