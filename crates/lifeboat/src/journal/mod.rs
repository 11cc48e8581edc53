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

pub use lock::{Lock, LockError, LockHolder, RENEW_EVERY, hostname};
pub use record::{FORMAT_VERSION, JournalEvent, Record, RunState};
pub use replay::{Replay, RunSummary, StepRecord};
pub use sink::JournalSink;

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
        let err = |message: String| JournalError::Read {
            run_id: run_id.to_string(),
            location: self.describe(),
            message,
        };
        let texts: Vec<String> = match self {
            StateLocation::Local(dir) => {
                let path = journal_file(dir, run_id);
                match std::fs::read_to_string(&path) {
                    Ok(t) => t.lines().map(str::to_string).collect(),
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
                Err(e) => return Err(err(format!("record {}: {e}", n + 1))),
            }
        }
        Ok(records)
    }
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
}

impl Journal {
    /// Opens run `run_id`'s journal for appending after `existing` records.
    pub fn open(
        location: StateLocation,
        run_id: &str,
        existing: u64,
    ) -> Result<Journal, JournalError> {
        let file = match &location {
            StateLocation::Local(dir) => {
                let path = journal_file(dir, run_id);
                let open = || -> std::io::Result<std::fs::File> {
                    if let Some(parent) = path.parent() {
                        std::fs::create_dir_all(parent)?;
                    }
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(&path)
                };
                Some(open().map_err(|e| JournalError::Write {
                    run_id: run_id.to_string(),
                    location: location.describe(),
                    message: format!("cannot open {}: {e}", path.display()),
                })?)
            }
            StateLocation::Store(_) => None,
        };
        Ok(Journal {
            run_id: run_id.to_string(),
            location,
            next_seq: existing + 1,
            file,
        })
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
                file.write_all(line.as_bytes())
                    .and_then(|()| file.write_all(b"\n"))
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
        Ok(())
    }
}
