//! `lifeboat completions`: prints shell completions generated from the clap definitions.

use std::io::Write;

use clap::CommandFactory;

use super::{Cli, CompletionsArgs, emit};
use crate::error::ExitCode;

pub fn run(args: &CompletionsArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let mut buf = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "lifeboat", &mut buf);
    emit(out, &String::from_utf8_lossy(&buf))?;
    Ok(ExitCode::Success)
}
