//! The backup format in a store (SPEC section 4): where a backup's objects live
//! (`layout`), its commit marker (`manifest`), the compressed JSON Lines parts
//! (`part`), finding backups and resolving `latest` (`catalog`), checking them
//! (`verify`), the manifest's signature (`signature`), comparing two backups
//! (`diff`), retention rules (`retention`), deleting a backup manifest first
//! (`delete`), pruning a store by retention rules (`prune`), and the reader leases
//! that keep a backup being read from a prune (`reader_lease`).

pub mod catalog;
pub mod crypt;
pub mod delete;
pub mod diff;
pub mod layout;
pub mod manifest;
pub mod part;
pub mod prune;
pub mod reader_lease;
pub mod retention;
pub mod signature;
pub mod verify;

pub use manifest::{Manifest, PartManifest};

use crate::store::StoreError;

/// Errors reading or writing backups.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("backup {id} does not exist in {store}")]
    NotFound { id: String, store: String },
    #[error(
        "backup {id} in {store} is incomplete: it has no manifest.json (the backup did not finish, or is being deleted); it cannot be restored"
    )]
    Incomplete { id: String, store: String },
    #[error("no complete backup of runbook `{runbook}` in {store}")]
    NoBackups { runbook: String, store: String },
    #[error("the manifest of backup {id} cannot be read: {message}")]
    BadManifest { id: String, message: String },
    #[error(
        "backup {id} has format version {version}, newer than this lifeboat reads ({supported}); upgrade lifeboat"
    )]
    NewerFormat {
        id: String,
        version: u32,
        supported: u32,
    },
    /// A part does not match its manifest entry: tampered, truncated or corrupted.
    #[error("backup {id} failed verification: part {key}: {message}")]
    Integrity {
        id: String,
        key: String,
        message: String,
    },
    /// The manifest's signature is missing where one is required, or does not verify.
    #[error("backup {id} failed its signature check: {message}")]
    Signature { id: String, message: String },
    /// A delete failed part way: once its manifest is gone the backup is incomplete,
    /// never restored, and a later prune finishes it.
    #[error("failed to delete {what} of backup {id}: {source}")]
    Delete {
        id: String,
        what: String,
        #[source]
        source: Box<StoreError>,
    },
    #[error("failed to {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}
