//! The invalid-runbook corpus in tests/fixtures/invalid/: one file per rule `validate`
//! enforces. Each file names the positions of its errors in `# expect: LINE:COL` lines;
//! each must exit 2 with errors at exactly those positions, and its full message is
//! pinned by an insta snapshot.

use std::collections::BTreeSet;

use crate::harness::{Test, path};

fn corpus() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(path("crates/lifeboat/tests/fixtures/invalid"))
        .unwrap_or_else(|e| panic!("cannot list the corpus: {e}"))
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    names.sort();
    names
}

fn expected_positions(file: &str) -> Vec<String> {
    let text = std::fs::read_to_string(path(file)).unwrap_or_default();
    let mut v: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# expect: "))
        .map(|s| s.trim().to_string())
        .collect();
    v.sort();
    v
}

fn reported_positions(file: &str, stderr: &str) -> Vec<String> {
    let prefix = format!("{file}:");
    let mut v: Vec<String> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix(prefix.as_str()))
        .filter_map(|rest| rest.split_once(": error: "))
        .map(|(pos, _)| pos.to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn the_corpus_covers_at_least_thirty_rules() {
    assert!(
        corpus().len() >= 30,
        "only {} invalid fixtures",
        corpus().len()
    );
}

#[test]
fn every_invalid_runbook_fails_at_its_expected_positions() {
    let mut snapshots = insta::Settings::clone_current();
    snapshots.set_snapshot_path("snapshots");
    snapshots.set_prepend_module_to_snapshot(false);
    for name in corpus() {
        let file = format!("crates/lifeboat/tests/fixtures/invalid/{name}");
        let expected = expected_positions(&file);
        assert!(
            !expected.is_empty(),
            "{file} has no `# expect: LINE:COL` line"
        );
        let out = Test::new().args(["validate", &file]).status(2).run();
        assert_eq!(
            reported_positions(&file, &out.stderr),
            expected,
            "{file}:\n{}",
            out.stderr
        );
        let n = expected.len();
        assert!(
            out.stderr.ends_with(&format!(
                "\n{n} error{} found\n",
                if n == 1 { "" } else { "s" }
            )),
            "{}",
            out.stderr
        );
        snapshots.bind(|| insta::assert_snapshot!(name.trim_end_matches(".yaml"), out.stderr));
    }
}

#[test]
fn errors_of_several_files_are_all_reported() {
    let a = "crates/lifeboat/tests/fixtures/invalid/unknown-cluster.yaml";
    let b = "crates/lifeboat/tests/fixtures/invalid/bad-duration.yaml";
    let out = Test::new()
        .args(["validate", a, "runbooks/demo.yaml", b])
        .status(2)
        .run();
    assert_eq!(reported_positions(a, &out.stderr).len(), 1);
    assert_eq!(reported_positions(b, &out.stderr).len(), 1);
    assert!(out.stdout.contains("runbooks/demo.yaml: ok"));
    assert!(out.stderr.ends_with("\n2 errors found\n"));
}

#[test]
fn every_error_has_exactly_one_hint_and_none_repeats() {
    for name in corpus() {
        let file = format!("crates/lifeboat/tests/fixtures/invalid/{name}");
        let out = Test::new().args(["validate", &file]).status(2).run();
        let lines: Vec<&str> = out.stderr.lines().collect();
        let mut seen = BTreeSet::new();
        for (i, line) in lines.iter().enumerate() {
            if line.contains(": error: ") {
                assert!(
                    seen.insert(*line),
                    "{file}: the same error twice:\n{}",
                    out.stderr
                );
                let next = lines.get(i + 1).copied().unwrap_or_default();
                assert!(
                    next.starts_with("  hint: "),
                    "{file}: error without a hint:\n{line}"
                );
            } else if line.starts_with("  hint: ") {
                let prev = if i > 0 { lines[i - 1] } else { "" };
                assert!(
                    prev.contains(": error: "),
                    "{file}: hint without an error:\n{}",
                    out.stderr
                );
            }
        }
    }
}
