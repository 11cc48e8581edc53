//! Property tests of the three readers of untrusted text: the runbook parser, the
//! manifest reader and the journal reader. Each gets real inputs (the demo runbook, a
//! version-1 manifest and journal) mutated at random, and random bytes: it must never
//! panic, and must answer with a result or an error that says where (a runbook
//! diagnostic inside the file, a journal refused when a record is missing or moved).
//! Run briefly in `scripts/test` (a few hundred cases each); `PROPTEST_CASES` runs more.

use std::path::Path;

use proptest::prelude::*;

use lifeboat::archive::Manifest;
use lifeboat::journal::Record;
use lifeboat::journal::Replay;

fn fixture(rel: &str) -> String {
    std::fs::read_to_string(testbed::path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// One edit of a text: insert, delete or replace a character at a place.
#[derive(Clone, Debug)]
enum Edit {
    Insert(usize, char),
    Delete(usize),
    Replace(usize, char),
}

/// Characters that matter to YAML and JSON, and some that do not.
fn interesting_char() -> impl Strategy<Value = char> {
    prop_oneof![
        prop::sample::select(vec![
            ':', '-', ' ', '\n', '\t', '{', '}', '[', ']', '"', '\'', '#', '&', '*', '!', '|', '>',
            '$', '%', '@', '`', ',', '\\', '\0', '0', '9', 'a', 'z', '\u{feff}', 'é',
        ]),
        any::<char>(),
    ]
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    prop::collection::vec(
        prop_oneof![
            (any::<usize>(), interesting_char()).prop_map(|(at, c)| Edit::Insert(at, c)),
            any::<usize>().prop_map(Edit::Delete),
            (any::<usize>(), interesting_char()).prop_map(|(at, c)| Edit::Replace(at, c)),
        ],
        1..6,
    )
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for edit in edits {
        let len = chars.len().max(1);
        match *edit {
            Edit::Insert(at, c) => chars.insert(at % (chars.len() + 1), c),
            Edit::Delete(at) if !chars.is_empty() => {
                chars.remove(at % len);
            }
            Edit::Replace(at, c) if !chars.is_empty() => chars[at % len] = c,
            _ => {}
        }
    }
    chars.into_iter().collect()
}

/// Loads `text` as a runbook in `dir` (where the demo's relative paths do not exist:
/// those are errors too) and checks every diagnostic points inside the file.
fn load_checked(dir: &Path, text: &str) -> Result<(), TestCaseError> {
    let path = dir.join("mutated.yaml");
    std::fs::write(&path, text).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let lines = text.lines().count() as u32 + 1;
    if let Err(diagnostics) = lifeboat::runbook::load(&path, &[]) {
        prop_assert!(!diagnostics.0.is_empty(), "an error without a diagnostic");
        for d in &diagnostics.0 {
            prop_assert!(
                d.loc.line <= lines,
                "{}:{}:{} is past the file's {lines} lines: {}",
                d.file.display(),
                d.loc.line,
                d.loc.col,
                d.message
            );
            prop_assert!(!d.message.is_empty());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_runbook_parser_answers_every_mutation_of_the_demo_without_panicking(edits in edits()) {
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let text = apply(&fixture("runbooks/demo.yaml"), &edits);
        load_checked(dir.path(), &text)?;
    }

    #[test]
    fn the_runbook_parser_answers_random_text_without_panicking(text in "(?s).{0,400}") {
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        load_checked(dir.path(), &text)?;
    }

    #[test]
    fn the_manifest_reader_answers_every_mutation_without_panicking(edits in edits()) {
        let text = apply(
            &fixture("crates/lifeboat/tests/fixtures/backups-v1/backups/shop-v1/manifest.json"),
            &edits,
        );
        if let Ok(m) = Manifest::from_slice("shop-v1", text.as_bytes()) {
            // What it accepts keeps every part inside the backup's folder.
            for p in &m.parts {
                prop_assert!(
                    !p.key.split('/').any(|s| s == ".." || s.is_empty()) && !p.key.starts_with('/'),
                    "a part key outside the backup: {}",
                    p.key
                );
            }
        }
    }

    #[test]
    fn the_manifest_reader_answers_random_bytes_without_panicking(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
        let _ = Manifest::from_slice("x", &bytes);
    }

    #[test]
    fn the_journal_reader_answers_every_mutation_of_a_record_without_panicking(edits in edits(), n in 0usize..64) {
        let journal = fixture("crates/lifeboat/tests/fixtures/journal-v1.jsonl");
        let lines: Vec<&str> = journal.lines().collect();
        let _ = Record::parse(&apply(lines[n % lines.len()], &edits));
    }

    #[test]
    fn a_journal_with_a_record_missing_or_moved_is_refused(remove in any::<usize>(), swap in any::<(usize, usize)>()) {
        let journal = fixture("crates/lifeboat/tests/fixtures/journal-v1.jsonl");
        let records: Vec<Record> = journal
            .lines()
            .map(|l| Record::parse(l).map_err(TestCaseError::fail))
            .collect::<Result<_, _>>()?;
        let run_id = run_id_of(&records)?;
        prop_assert!(Replay::from_records(&run_id, &records).is_ok(), "the fixture itself");
        // A record cut out of the middle (the last one missing is a journal that ends
        // earlier, which is whole).
        let mut missing = records.clone();
        let at = remove % (records.len() - 1);
        missing.remove(at);
        prop_assert!(Replay::from_records(&run_id, &missing).is_err(), "record {} missing was accepted", at + 1);
        let (a, b) = (swap.0 % records.len(), swap.1 % records.len());
        if a != b {
            let mut moved = records.clone();
            moved.swap(a, b);
            prop_assert!(Replay::from_records(&run_id, &moved).is_err(), "records {} and {} swapped were accepted", a + 1, b + 1);
        }
    }
}

/// The run id the journal's first record names.
fn run_id_of(records: &[Record]) -> Result<String, TestCaseError> {
    let first =
        serde_json::to_value(&records[0]).map_err(|e| TestCaseError::fail(e.to_string()))?;
    first
        .pointer("/event/run_id")
        .or_else(|| first.get("run_id"))
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .ok_or_else(|| TestCaseError::fail(format!("no run id in {first}")))
}
