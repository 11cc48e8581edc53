//! Hostile input: each ends quickly with exit 2 and a clear error: never a hang (the
//! harness bounds every run), a panic, or a memory blow-up.

use std::path::PathBuf;

use crate::harness::Test;

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
