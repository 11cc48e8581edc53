//! Talking to clusters: connecting to one (a kubeconfig context, or an in-process
//! sandbox), discovering its resource types, reading and writing objects as raw JSON
//! (exactly as the API server sends them), and selecting the objects an action names.
//! Every request is paced and, when safe, retried (`retry`).
//! Backup and restore build on this.

pub mod connect;
pub mod discovery;
pub mod filter;
pub mod jsonpath;
pub mod objects;
pub mod retry;
pub mod select;

pub use connect::ClusterConn;
pub use discovery::ResourceType;

/// Errors talking to a cluster.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error("failed to connect to cluster `{cluster}`: {message}")]
    Connect { cluster: String, message: String },
    /// The API server answered with an error status.
    #[error("failed to {op} {what}: {message} ({reason}, HTTP {code})")]
    Api {
        op: &'static str,
        what: String,
        code: u16,
        reason: String,
        message: String,
    },
    /// The request did not get an answer (connection, timeout, decoding).
    #[error("failed to {op} {what}: {message}")]
    Transport {
        op: &'static str,
        what: String,
        message: String,
    },
}

impl KubeError {
    /// Wraps a kube-rs error, keeping the API's code and reason.
    pub fn from_kube(op: &'static str, what: impl Into<String>, e: kube::Error) -> KubeError {
        let what = what.into();
        match e {
            kube::Error::Api(status) => KubeError::Api {
                op,
                what,
                code: status.code,
                reason: status.reason.clone(),
                message: status.message.clone(),
            },
            // The cause chain says why (connection refused, a certificate not trusted).
            other => KubeError::Transport {
                op,
                what,
                message: crate::error::chain(&other),
            },
        }
    }

    /// The HTTP code the API server answered with, if it answered.
    pub fn code(&self) -> Option<u16> {
        match self {
            KubeError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// `AlreadyExists`, `Invalid`, ...: the API's reason, if it answered.
    pub fn reason(&self) -> Option<&str> {
        match self {
            KubeError::Api { reason, .. } => Some(reason),
            _ => None,
        }
    }

    /// What the API server said, without the operation around it (for per-object
    /// results).
    pub fn api_message(&self) -> String {
        match self {
            KubeError::Api {
                code,
                reason,
                message,
                ..
            } => format!("{reason} ({code}): {message}"),
            KubeError::Transport { message, .. } | KubeError::Connect { message, .. } => {
                message.clone()
            }
        }
    }
}
