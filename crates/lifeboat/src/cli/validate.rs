//! `lifeboat validate`: checks every runbook given and reports every error in each.

use std::io::Write;

use super::{ValidateArgs, emit};
use crate::error::{Error, ExitCode};
use crate::runbook::{self, Diagnostics};

pub fn run(args: &ValidateArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let mut all = Diagnostics::default();
    let mut lines = String::new();
    for path in &args.runbooks {
        match runbook::load(path, &args.sets) {
            Ok(loaded) => lines.push_str(&format!(
                "{}: ok ({} steps)\n",
                path.display(),
                loaded.runbook.steps.len()
            )),
            Err(d) => all.0.extend(d.0),
        }
    }
    emit(out, &lines)?;
    if all.is_empty() {
        Ok(ExitCode::Success)
    } else {
        Err(Error::InvalidRunbook(all).into())
    }
}
