//! Why an action failed. The engine records the message in the journal and prints
//! it; every variant names what failed and where.

use std::path::PathBuf;

use crate::archive::ArchiveError;
use crate::cluster::KubeError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error(transparent)]
    Kube(#[from] KubeError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// The action ran and did not get what it needed (a message for the user).
    #[error("{0}")]
    Failed(String),
    /// The operator said no to the step at the terminal (never retried).
    #[error("{0}")]
    NotConfirmed(String),
    /// The action's inputs, once their expressions were resolved, are not valid.
    #[error("invalid inputs: {0}")]
    Inputs(String),
    #[error("failed to {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
