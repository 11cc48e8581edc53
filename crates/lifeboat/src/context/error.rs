//! Why an action failed. The engine records the message in the journal and prints
//! it; every variant names what failed and where.

use std::path::PathBuf;

use crate::archive::ArchiveError;
use crate::cluster::KubeError;
use crate::cluster::select::SelectError;
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

/// Inputs the user got wrong are invalid inputs; nothing matching is a failure.
impl From<SelectError> for ActionError {
    fn from(e: SelectError) -> ActionError {
        match e {
            SelectError::Kube(e) => ActionError::Kube(e),
            SelectError::NotFound { .. } => ActionError::Failed(e.to_string()),
            SelectError::NeedsNamespace { .. }
            | SelectError::NoneGiven { .. }
            | SelectError::SeveralGiven { .. } => ActionError::Inputs(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::select::Which;

    #[test]
    fn user_mistakes_are_invalid_inputs_and_no_match_is_a_failure() {
        let inputs = ActionError::from(SelectError::NeedsNamespace {
            kind: "ConfigMap".into(),
        });
        assert!(matches!(inputs, ActionError::Inputs(_)), "{inputs:?}");
        let failed = ActionError::from(SelectError::NotFound {
            kind: "ConfigMap".into(),
            namespace: None,
            which: Which::All,
            cluster: "cluster `dr`".into(),
        });
        assert!(matches!(failed, ActionError::Failed(_)), "{failed:?}");
    }
}
