//! Subcommands whose machinery is not built yet. Each says plainly what is missing and
//! exits 2; nothing pretends to succeed.

use super::RunArgs;
use crate::error::{Error, ExitCode};
use crate::runbook;

/// `run` checks the runbook first, so its errors are reported either way.
pub fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    runbook::load(&args.runbook, &args.sets).map_err(Error::InvalidRunbook)?;
    Err(Error::NotBuilt {
        command: "run",
        missing: "the executor (clusters, stores and actions) is not built yet; the runbook is valid: `lifeboat plan` shows what it would do",
    }
    .into())
}

pub fn resume() -> anyhow::Result<ExitCode> {
    Err(Error::NotBuilt {
        command: "resume",
        missing: "the run journal is not built yet",
    }
    .into())
}

pub fn status() -> anyhow::Result<ExitCode> {
    Err(Error::NotBuilt {
        command: "status",
        missing: "the run journal is not built yet",
    }
    .into())
}

pub fn backups() -> anyhow::Result<ExitCode> {
    Err(Error::NotBuilt {
        command: "backups",
        missing: "object stores and the backup format are not built yet",
    }
    .into())
}

pub fn rbac() -> anyhow::Result<ExitCode> {
    Err(Error::NotBuilt {
        command: "rbac",
        missing: "the RBAC generator is not built yet",
    }
    .into())
}
