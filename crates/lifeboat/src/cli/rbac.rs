//! `lifeboat rbac`: prints the least-privilege RBAC a runbook needs, per cluster, as
//! YAML for `kubectl apply -f -`.

use std::io::Write;

use super::{RbacArgs, emit};
use crate::error::{Error, ExitCode};
use crate::rbac;
use crate::runbook;

pub fn run(args: &RbacArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let loaded = runbook::load(&args.runbook, &args.sets).map_err(Error::InvalidRunbook)?;
    let rbac = rbac::generate(&loaded, args.cluster.as_deref())
        .map_err(|e| Error::Usage(e.to_string()))?;
    emit(out, &rbac::render(&rbac))?;
    Ok(ExitCode::Success)
}
