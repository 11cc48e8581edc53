//! Hostile input: each ends quickly with a clear error: never a hang (the harness bounds
//! every run), a panic, or a memory blow-up. Runbooks are refused with exit 2 before
//! anything runs; kubeconfigs fail the step that needs them, naming what to fix;
//! journals that were edited or belong to another run are refused by `resume`.

use std::path::PathBuf;

use crate::harness::{Test, TestRunbook};

fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).unwrap_or_else(|e| panic!("cannot write {}: {e}", p.display()));
    p
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("no temp dir: {e}"))
}

#[test]
fn billion_laughs_alias_bomb_is_refused() {
    let dir = tmp();
    let mut doc = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let names: Vec<char> = ('a'..='j').collect();
    for w in names.windows(2) {
        let refs = vec![format!("*{}", w[0]); 9].join(",");
        doc.push_str(&format!("{}: &{} [{refs}]\n", w[1], w[1]));
    }
    let file = write(&dir, "bomb.yaml", doc.as_bytes());
    Test::new()
        .arg("validate")
        .arg(&file)
        .status(2)
        .stderr_contains("runbook exceeds the parser's limits")
        .stderr_contains("counting each use of an alias")
        .run();
}

#[test]
fn a_20_megabyte_file_is_refused_before_parsing() {
    let dir = tmp();
    let step = "  - id: s\n    uses: sleep\n    with: { duration: 1s }\n";
    let mut doc = String::from(
        "apiVersion: lifeboat.dev/v1alpha1\nkind: Runbook\nmetadata: { name: big }\nsteps:\n",
    );
    while doc.len() < 20 * 1024 * 1024 {
        doc.push_str(step);
    }
    let file = write(&dir, "big.yaml", doc.as_bytes());
    Test::new()
        .arg("validate")
        .arg(&file)
        .status(2)
        .stderr_contains(":1:1: error: runbook is too large")
        .run();
}

#[test]
fn binary_garbage_is_refused() {
    let dir = tmp();
    // A deterministic pseudo-random byte soup (an xorshift stream), NUL bytes included.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let bytes: Vec<u8> = (0..65_536)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    let file = write(&dir, "garbage.yaml", &bytes);
    Test::new()
        .arg("validate")
        .arg(&file)
        .status(2)
        .stderr_contains("error: runbook")
        .run();
}

#[test]
fn nul_bytes_in_otherwise_valid_text_are_refused() {
    let dir = tmp();
    let file = write(
        &dir,
        "nul.yaml",
        b"apiVersion: lifeboat.dev/v1alpha1\nkind: Run\0book\n",
    );
    Test::new()
        .arg("validate")
        .arg(&file)
        .status(2)
        .stderr_contains("nul.yaml:2:10: error: runbook holds a NUL byte")
        .run();
}

#[test]
fn invalid_utf8_is_refused_with_its_position() {
    let dir = tmp();
    let file = write(
        &dir,
        "latin1.yaml",
        b"apiVersion: lifeboat.dev/v1alpha1\nmetadata: { name: caf\xe9 }\n",
    );
    Test::new()
        .arg("validate")
        .arg(&file)
        .status(2)
        .stderr_contains("latin1.yaml:2:22: error: runbook is not valid UTF-8 (invalid byte 0xe9)")
        .run();
}

#[test]
fn ten_thousand_deep_flow_nesting_is_refused() {
    let dir = tmp();
    for (name, open, close) in [("seq.yaml", "[", "]"), ("map.yaml", "{a: ", "}")] {
        let doc = format!("{}{}\n", open.repeat(10_000), close.repeat(10_000));
        let file = write(&dir, name, doc.as_bytes());
        Test::new()
            .arg("validate")
            .arg(&file)
            .status(2)
            .stderr_contains("runbook exceeds the parser's limits")
            .run();
    }
}

#[test]
fn ten_thousand_deep_block_nesting_is_refused() {
    let dir = tmp();
    let doc = format!("{}x\n", "- ".repeat(10_000));
    let file = write(&dir, "block.yaml", doc.as_bytes());
    Test::new()
        .arg("validate")
        .arg(&file)
        .status(2)
        .stderr_contains("runbook exceeds the parser's limits")
        .run();
}

#[test]
fn an_empty_file_is_not_a_runbook() {
    let dir = tmp();
    let file = write(&dir, "empty.yaml", b"");
    Test::new()
        .arg("validate")
        .arg(&file)
        .status(2)
        .stderr_contains("empty.yaml:1:1: error:")
        .run();
}

#[test]
fn an_endless_device_is_refused_without_filling_memory() {
    Test::new()
        .args(["validate", "/dev/zero"])
        .status(2)
        .stderr_contains("/dev/zero:1:1: error: runbook is too large: more than the limit of 4 MiB")
        .run();
}

/// A step that reads a ConfigMap on cluster `c`, whose kubeconfig is `kubeconfig`
/// (and context `context`, if given).
fn kubeconfig_runbook(dir: &tempfile::TempDir, kubeconfig: &str, context: Option<&str>) -> PathBuf {
    let cluster = match context {
        Some(c) => format!("{{ kubeconfig: {kubeconfig}, context: {c} }}"),
        None => format!("{{ kubeconfig: {kubeconfig} }}"),
    };
    write(
        dir,
        "kc.yaml",
        format!(
            "apiVersion: lifeboat.dev/v1alpha1\nkind: Runbook\nmetadata: {{ name: kc }}\nclusters:\n  c: {cluster}\nsteps:\n  - {{ id: look, uses: wait, cluster: c, with: {{ kind: ConfigMap, namespace: default, name: x, jsonpath: \"{{.metadata.name}}\", value: x, timeout: 2s }} }}\n"
        )
        .as_bytes(),
    )
}

#[test]
fn a_missing_kubeconfig_fails_its_step_naming_the_file() {
    let dir = tmp();
    let rb = kubeconfig_runbook(&dir, "./missing.kubeconfig", None);
    Test::new()
        .arg("run")
        .arg(&rb)
        .current_dir(dir.path())
        .status(1)
        .stdout_contains("/missing.kubeconfig (failed to read kubeconfig")
        .stdout_contains("check the `kubeconfig` of cluster `c`")
        .run();
}

#[test]
fn an_unknown_context_fails_its_step_naming_the_ones_there_are() {
    let dir = tmp();
    write(
        &dir,
        "two.kubeconfig",
        b"apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: { server: \"http://127.0.0.1:1\" }\nusers:\n- name: u\n  user: {}\ncontexts:\n- name: prod\n  context: { cluster: c, user: u }\n- name: staging\n  context: { cluster: c, user: u }\ncurrent-context: prod\n",
    );
    let rb = kubeconfig_runbook(&dir, "./two.kubeconfig", Some("prdo"));
    Test::new()
        .arg("run")
        .arg(&rb)
        .current_dir(dir.path())
        .status(1)
        .stdout_contains("has no context `prdo` (it has `prod`, `staging`)")
        .stdout_contains("fix the `context` of cluster `c`")
        .run();
}

/// A journal copied from another run, or edited so that a record is missing, is
/// refused by `resume` before anything runs.
#[test]
fn a_journal_of_another_run_or_with_a_gap_is_not_resumed() {
    let dir = tmp();
    let rb = TestRunbook::new("resumable")
        .steps("  - { id: a, uses: sleep, with: { duration: 1ms } }\n  - { id: b, uses: sleep, with: { duration: 1ms } }\n")
        .write(dir.path());
    let state = dir.path().join("state");
    let state_arg = state.to_string_lossy().to_string();
    let out = Test::new()
        .args(["run", "--output", "json", "--state", &state_arg])
        .arg(&rb)
        .run();
    let id = out
        .stdout
        .lines()
        .find_map(|l| l.split("\"run_id\":\"").nth(1))
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_string();
    let journal = state.join(format!("runs/{id}/journal.jsonl"));
    let text = std::fs::read_to_string(&journal).unwrap_or_default();
    // Another run's journal, copied under this run's id.
    let other = "20260101-000000-beef";
    let copied = state.join(format!("runs/{other}/journal.jsonl"));
    std::fs::create_dir_all(copied.parent().unwrap_or(&state)).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&copied, &text).unwrap_or_else(|e| panic!("{e}"));
    Test::new()
        .args(["resume", other, "--state", &state_arg])
        .status(2)
        .stderr_contains(&format!("starts run {id}"))
        .run();
    // A record taken out of the middle.
    let gapped: Vec<&str> = text
        .lines()
        .enumerate()
        .filter(|(i, _)| *i != 2)
        .map(|(_, l)| l)
        .collect();
    std::fs::write(&journal, gapped.join("\n") + "\n").unwrap_or_else(|e| panic!("{e}"));
    Test::new()
        .args(["resume", &id, "--state", &state_arg])
        .status(2)
        .stderr_contains("record 3 has sequence number 4, not 3")
        .run();
}
