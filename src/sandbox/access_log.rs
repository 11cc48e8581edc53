//! The sandbox's access log: one entry per API request (method, path, verb, resource,
//! namespace, status), kept in memory for tests and for deriving RBAC rules.

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
}

impl AccessLog {
    pub fn record(&self, entry: AccessEntry) {
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
