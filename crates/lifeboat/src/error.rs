//! Typed errors of the library and the exit codes they map to. Every user-facing error
//! maps to one documented exit code (README, "Exit codes").

use crate::runbook::Diagnostics;

/// Process exit codes (SPEC section 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitCode {
    /// Everything succeeded.
    Success = 0,
    /// A step failed.
    StepFailed = 1,
    /// Usage error or invalid runbook.
    Usage = 2,
    /// A drill's objectives were missed.
    ObjectivesMissed = 3,
    /// Another run holds the lock.
    Locked = 4,
    /// Interrupted; the run is resumable.
    Interrupted = 130,
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code as u8)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// One or more runbooks are invalid; the diagnostics say where and why.
    #[error("{0}")]
    InvalidRunbook(Diagnostics),
    #[error("{0}")]
    Usage(String),
    /// Another run holds the runbook's lock.
    #[error("{0}")]
    Locked(String),
    /// A report file (`--report`, `--junit`) that cannot be written: found before the
    /// run starts, or at its end (then the run's own exit code wins when it is not 0).
    #[error("cannot write {what} {path}: {problem}")]
    Report {
        what: &'static str,
        path: String,
        problem: String,
    },
    /// `--pushgateway URL`: a URL refused before the run starts, or a push that failed
    /// at its end (then the run's own exit code wins when it is not 0).
    #[error("cannot push the metrics to {url}: {problem}")]
    Push { url: String, problem: String },
    #[error("failed to write {what}: {source}")]
    Write {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::InvalidRunbook(_) | Error::Usage(_) => ExitCode::Usage,
            // A path given on the command line that cannot take the report: fix the flag.
            Error::Report { .. } | Error::Push { .. } => ExitCode::Usage,
            Error::Locked(_) => ExitCode::Locked,
            Error::Write { .. } => ExitCode::StepFailed,
        }
    }
}

/// An error and its causes, joined with `: ` (a cause already at the end of the text is
/// not repeated): why a connection or a request failed, in one line.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.ends_with(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}
