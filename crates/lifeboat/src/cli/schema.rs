//! `lifeboat schema`: prints the runbook JSON Schema.

use std::io::Write;

use super::emit;
use crate::error::ExitCode;
use crate::runbook::schema::runbook_schema;

pub fn run(out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let mut text = serde_json::to_string_pretty(&runbook_schema())?;
    text.push('\n');
    emit(out, &text)?;
    Ok(ExitCode::Success)
}
