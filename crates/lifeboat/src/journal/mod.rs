//! The run journal (SPEC section 6): every transition of a run, appended as it
//! happens, so an interrupted run can be resumed and any run can be inspected. Two
//! backends behind one type: a local folder (`runs/<run-id>/journal.jsonl`, one JSON
//! line per event, fsync after each) and an object store (`runs/<run-id>/events/
//! <seq>.json`, one object per event, created with `If-None-Match: *` so two writers
//! can never interleave). Records carry a format version; version 1 is read forever.
//! Secrets never enter: params marked secret are masked, and nothing of a Secret
//! object is recorded.

mod lock;
mod record;
mod replay;
mod sink;

use std::io::Write;
use std::path::{Path, PathBuf};

pub use lock::{
    Lock, LockError, LockHolder, RENEW_EVERY, SharedLock, backups_being_read, holder_of, hostname,
};
pub use record::{FORMAT_VERSION, JournalEvent, Record, RunState};
pub use replay::{ObjectiveRecord, Replay, RunSummary, StepRecord};
pub use sink::{JournalSink, PROGRESS_EVERY};

use crate::store::{PutMode, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("failed to write the journal of run {run_id} in {location}: {message}")]
    Write {
        run_id: String,
        location: String,
        message: String,
    },
    #[error("failed to read the journal of run {run_id} in {location}: {message}")]
    Read {
        run_id: String,
        location: String,
        message: String,
    },
    #[error(
        "no run {run_id} in {location}: `lifeboat status --state {location}` lists the runs there"
    )]
    NotFound { run_id: String, location: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where journals and locks live.
#[derive(Clone, Debug)]
pub enum StateLocation {
    /// A local folder.
    Local(PathBuf),
    /// An object store (its `runs/` and `locks/` prefixes).
    Store(Store),
}

impl StateLocation {
    pub fn describe(&self) -> String {
        match self {
            StateLocation::Local(p) => p.display().to_string(),
            StateLocation::Store(s) => s.describe(),
        }
    }

    /// The store locks are kept in (a folder store for a local location).
    pub fn lock_store(&self) -> Store {
        match self {
            StateLocation::Local(p) => Store::Fs(crate::store::fs::FsStore::new(p.clone())),
            StateLocation::Store(s) => s.clone(),
        }
    }

    /// Run ids with a journal here, sorted.
    pub async fn runs(&self) -> Result<Vec<String>, JournalError> {
        let mut ids: Vec<String> = match self {
            StateLocation::Local(dir) => match std::fs::read_dir(dir.join("runs")) {
                Ok(entries) => entries
                    .filter_map(Result::ok)
                    .filter(|e| e.path().join("journal.jsonl").is_file())
                    .filter_map(|e| e.file_name().to_str().map(str::to_string))
                    .collect(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                Err(e) => {
                    return Err(JournalError::Read {
                        run_id: "*".into(),
                        location: self.describe(),
                        message: e.to_string(),
                    });
                }
            },
            StateLocation::Store(s) => {
                let mut ids: Vec<String> = s
                    .list("runs/")
                    .await?
                    .into_iter()
                    .filter_map(|o| {
                        o.key
                            .strip_prefix("runs/")
                            .and_then(|r| r.split_once('/'))
                            .map(|(id, _)| id.to_string())
                    })
                    .collect();
                ids.dedup();
                ids
            }
        };
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    /// Every record of run `run_id`, in order.
    pub async fn read(&self, run_id: &str) -> Result<Vec<Record>, JournalError> {
        self.read_after(run_id, 0).await
    }

    /// The records of run `run_id` after its first `after`, in order: what a journal
    /// read before has gained since (`status --watch`). In a store only the new
    /// records' objects are fetched.
    pub async fn read_after(&self, run_id: &str, after: u64) -> Result<Vec<Record>, JournalError> {
        let err = |message: String| JournalError::Read {
            run_id: run_id.to_string(),
            location: self.describe(),
            message,
        };
        let texts: Vec<String> = match self {
            StateLocation::Local(dir) => {
                let path = journal_file(dir, run_id);
                match std::fs::read_to_string(&path) {
                    Ok(t) => t
                        .lines()
                        .filter(|l| !l.trim().is_empty())
                        .skip(usize::try_from(after).unwrap_or(usize::MAX))
                        .map(str::to_string)
                        .collect(),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        return Err(JournalError::NotFound {
                            run_id: run_id.to_string(),
                            location: self.describe(),
                        });
                    }
                    Err(e) => return Err(err(e.to_string())),
                }
            }
            StateLocation::Store(s) => {
                let keys = s.list(&format!("runs/{run_id}/events/")).await?;
                if keys.is_empty() {
                    return Err(JournalError::NotFound {
                        run_id: run_id.to_string(),
                        location: self.describe(),
                    });
                }
                let mut out = Vec::with_capacity(keys.len());
                for k in keys {
                    // `runs/<id>/events/<seq>.json`: the records read already are skipped.
                    let seq = k
                        .key
                        .rsplit('/')
                        .next()
                        .and_then(|name| name.strip_suffix(".json"))
                        .and_then(|n| n.parse::<u64>().ok());
                    if seq.is_some_and(|n| n <= after) {
                        continue;
                    }
                    let bytes = s.get(&k.key).await?;
                    out.push(String::from_utf8(bytes).map_err(|e| err(e.to_string()))?);
                }
                out
            }
        };
        let mut records = Vec::with_capacity(texts.len());
        for (n, line) in texts.iter().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match Record::parse(line) {
                Ok(r) => records.push(r),
                // A torn last line (the process died mid-write) is not an event.
                Err(_) if n + 1 == texts.len() && matches!(self, StateLocation::Local(_)) => {}
                Err(e) => return Err(err(format!("record {}: {e}", after + n as u64 + 1))),
            }
        }
        Ok(records)
    }
}

/// Cuts a local journal back to its last whole record: text after the last newline is
/// a record the process did not finish writing, and appending after it would glue the
/// next record to it. Returns how many bytes were cut, if any.
fn cut_torn_tail(file: &std::fs::File) -> std::io::Result<Option<u64>> {
    use std::io::{Read, Seek, SeekFrom};
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(None);
    }
    // Read back from the end until a newline (records are small; the tail is one).
    let mut reader = file;
    let mut keep = 0;
    let mut end = len;
    let mut chunk = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(chunk.len() as u64);
        let n = (end - start) as usize;
        reader.seek(SeekFrom::Start(start))?;
        reader.read_exact(&mut chunk[..n])?;
        if let Some(i) = chunk[..n].iter().rposition(|&b| b == b'\n') {
            keep = start + i as u64 + 1;
            break;
        }
        end = start;
    }
    if keep == len {
        return Ok(None);
    }
    file.set_len(keep)?;
    file.sync_data()?;
    Ok(Some(len - keep))
}

fn journal_file(dir: &Path, run_id: &str) -> PathBuf {
    dir.join("runs").join(run_id).join("journal.jsonl")
}

/// An open journal of one run.
pub struct Journal {
    run_id: String,
    location: StateLocation,
    next_seq: u64,
    file: Option<std::fs::File>,
    /// A torn last record `open` cut off, described.
    torn: Option<String>,
}

impl Journal {
    /// Opens run `run_id`'s journal for appending after `existing` records.
    pub fn open(
        location: StateLocation,
        run_id: &str,
        existing: u64,
    ) -> Result<Journal, JournalError> {
        let mut torn = None;
        let file = match &location {
            StateLocation::Local(dir) => {
                let path = journal_file(dir, run_id);
                let open = || -> std::io::Result<(std::fs::File, Option<u64>)> {
                    use std::os::unix::fs::OpenOptionsExt;
                    if let Some(parent) = path.parent() {
                        crate::store::fs::private_dir_all(parent)?;
                    }
                    let file = std::fs::OpenOptions::new()
                        .create(true)
                        .mode(0o600)
                        .read(true)
                        .append(true)
                        .open(&path)?;
                    let cut = cut_torn_tail(&file)?;
                    Ok((file, cut))
                };
                let (file, cut) = open().map_err(|e| JournalError::Write {
                    run_id: run_id.to_string(),
                    location: location.describe(),
                    message: format!("cannot open {}: {e}", path.display()),
                })?;
                torn = cut.map(|bytes| {
                    format!(
                        "the journal {} ended in {bytes} bytes of a record the process did not finish writing (it died mid-write); they were cut off before the run went on",
                        path.display()
                    )
                });
                Some(file)
            }
            StateLocation::Store(_) => None,
        };
        Ok(Journal {
            run_id: run_id.to_string(),
            location,
            next_seq: existing + 1,
            file,
            torn,
        })
    }

    /// What `open` repaired: a torn last record cut off, said for the operator.
    pub fn repaired(&self) -> Option<&str> {
        self.torn.as_deref()
    }

    pub fn location(&self) -> &StateLocation {
        &self.location
    }

    /// Appends one event; it is durable when this returns.
    pub async fn append(&mut self, event: JournalEvent) -> Result<(), JournalError> {
        let record = Record::new(self.next_seq, event);
        let line = record.to_line();
        let fail = |message: String| JournalError::Write {
            run_id: self.run_id.clone(),
            location: self.location.describe(),
            message,
        };
        match (&self.location, &mut self.file) {
            (StateLocation::Local(_), Some(file)) => {
                // One write for the record and its newline: a crash leaves at most
                // one torn line, which the next `open` cuts off.
                file.write_all(format!("{line}\n").as_bytes())
                    .and_then(|()| file.sync_data())
                    .map_err(|e| fail(e.to_string()))?;
            }
            (StateLocation::Store(store), _) => {
                let key = format!("runs/{}/events/{:08}.json", self.run_id, self.next_seq);
                store
                    .put(&key, line.into_bytes(), PutMode::CreateNew)
                    .await
                    .map_err(|e| match e {
                        StoreError::AlreadyExists { .. } => fail(format!(
                            "event {} was already written by another process: two runs share this run id",
                            self.next_seq
                        )),
                        other => fail(other.to_string()),
                    })?;
            }
            (StateLocation::Local(_), None) => {
                return Err(fail("the journal file is not open".into()));
            }
        }
        self.next_seq += 1;
        crate::crash::point("journal-appended");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step_started(step: &str) -> JournalEvent {
        JournalEvent::StepStarted {
            step: step.into(),
            attempt: 1,
        }
    }

    /// Regression: a torn last line was skipped when read, but the resumed run appended
    /// after it, gluing its first record to the torn text; the next read failed.
    #[tokio::test]
    async fn a_torn_last_record_is_cut_off_before_the_run_goes_on() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let location = StateLocation::Local(dir.path().to_path_buf());
        let mut journal =
            Journal::open(location.clone(), "r1", 0).unwrap_or_else(|e| panic!("{e}"));
        assert!(journal.repaired().is_none());
        for step in ["a", "b"] {
            journal
                .append(step_started(step))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        drop(journal);
        let path = journal_file(dir.path(), "r1");
        let mut text = std::fs::read_to_string(&path).unwrap_or_default();
        text.push_str("{\"format_version\":1,\"seq\":3,\"ti");
        std::fs::write(&path, &text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(location.read("r1").await.map(|r| r.len()).ok(), Some(2));

        let mut resumed =
            Journal::open(location.clone(), "r1", 2).unwrap_or_else(|e| panic!("{e}"));
        let said = resumed.repaired().unwrap_or_default().to_string();
        assert!(said.contains("cut off") && said.contains("bytes"), "{said}");
        resumed
            .append(step_started("c"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let records = location.read("r1").await.unwrap_or_else(|e| panic!("{e}"));
        let seqs: Vec<u64> = records.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, [1, 2, 3]);
    }

    #[tokio::test]
    async fn the_state_folder_and_the_journal_are_the_owners_alone() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let state = dir.path().join(".lifeboat");
        let location = StateLocation::Local(state.clone());
        let mut journal =
            Journal::open(location.clone(), "r1", 0).unwrap_or_else(|e| panic!("{e}"));
        journal
            .append(step_started("a"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let lock = Lock::acquire(&location.lock_store(), "rb", "r1", false)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mode = |p: &Path| {
            std::fs::metadata(p)
                .map(|m| m.permissions().mode() & 0o777)
                .unwrap_or_default()
        };
        assert_eq!(mode(&state), 0o700);
        assert_eq!(mode(&state.join("runs")), 0o700);
        assert_eq!(mode(&journal_file(&state, "r1")), 0o600);
        assert_eq!(mode(&state.join("locks")), 0o700);
        assert_eq!(mode(&state.join("locks/rb.json")), 0o600);
        drop(lock);
    }
}
