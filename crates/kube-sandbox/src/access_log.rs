//! The sandbox's access log: one entry per API request (method, path, verb, resource,
//! namespace, status), kept in memory for tests and for deriving RBAC rules, and
//! optionally appended to a file as JSON Lines (`sandbox serve --access-log FILE`), one
//! line written per request so that a reader sees every request made so far.

use std::io::Write;
use std::sync::Mutex;

/// One API request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessEntry {
    pub method: String,
    pub path: String,
    /// Kubernetes verb: get, list, watch, create, update, patch, delete,
    /// deletecollection; `discovery` for discovery and OpenAPI documents.
    pub verb: &'static str,
    /// `deployments.apps`, `configmaps`, `deployments.apps/scale`; empty for discovery.
    pub resource: String,
    pub namespace: Option<String>,
    pub status: u16,
    pub dry_run: bool,
}

/// Most entries kept; older ones are dropped first.
const LIMIT: usize = 1_000_000;

#[derive(Default)]
pub struct AccessLog {
    entries: Mutex<Vec<AccessEntry>>,
    file: Mutex<Option<std::fs::File>>,
}

impl AccessEntry {
    /// The entry as one JSON line.
    pub fn to_json_line(&self) -> String {
        let mut line = serde_json::json!({
            "method": self.method,
            "path": self.path,
            "verb": self.verb,
            "resource": self.resource,
            "namespace": self.namespace,
            "status": self.status,
            "dry_run": self.dry_run,
        })
        .to_string();
        line.push('\n');
        line
    }
}

impl AccessLog {
    /// Also appends every entry from now on to `file`, one JSON line each.
    pub fn write_to(&self, file: std::fs::File) {
        *self.file.lock().unwrap_or_else(|e| e.into_inner()) = Some(file);
    }

    pub fn record(&self, entry: AccessEntry) {
        if let Some(file) = self.file.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            // A log that cannot be written must not fail the request it records.
            let _ = file.write_all(entry.to_json_line().as_bytes());
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= LIMIT {
            entries.drain(..LIMIT / 10);
        }
        entries.push(entry);
    }

    /// Every entry so far.
    pub fn entries(&self) -> Vec<AccessEntry> {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}
