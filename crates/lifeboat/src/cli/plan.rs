//! `lifeboat plan`: prints the resolved plan of one runbook as text, JSON or Markdown.

use std::io::Write;

use super::{PlanArgs, PlanFormat, emit};
use crate::error::{Error, ExitCode};
use crate::plan;
use crate::runbook;

pub fn run(args: &PlanArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let loaded = runbook::load(&args.runbook, &args.sets).map_err(Error::InvalidRunbook)?;
    let plan = plan::build(&loaded);
    let text = match args.format {
        PlanFormat::Text => plan::render_text(&plan),
        PlanFormat::Markdown => plan::render_markdown(&plan),
        PlanFormat::Json => {
            let mut s = serde_json::to_string_pretty(&plan)?;
            s.push('\n');
            s
        }
    };
    emit(out, &text)?;
    Ok(ExitCode::Success)
}
