//! Subcommands whose machinery is not built yet. Each says plainly what is missing and
//! exits 2; nothing pretends to succeed.

use crate::error::{Error, ExitCode};

pub fn rbac() -> anyhow::Result<ExitCode> {
    Err(Error::NotBuilt {
        command: "rbac",
        missing: "the RBAC generator is not built yet",
    }
    .into())
}
