//! `lifeboat validate`: checks every runbook given and reports every error in each,
//! for people (`file:line:col: error:` lines with hints on stderr), for GitHub Actions
//! (one `::error file=,line=,col=::` workflow command per error on stdout, which the
//! runner turns into an annotation on that line of the pull request) or as JSON.

use std::io::Write;

use serde_json::json;

use super::{ValidateArgs, emit};
use crate::error::{Error, ExitCode};
use crate::runbook::{self, Diagnostic, Diagnostics};

/// How `validate` prints what it found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ValidateFormat {
    /// `file:line:col: error: what` and `  hint: what to do`, on stderr.
    Human,
    /// GitHub Actions workflow commands, on stdout.
    Github,
    /// One JSON document, on stdout.
    Json,
}

pub fn run(args: &ValidateArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let mut all = Diagnostics::default();
    let mut files = Vec::new();
    for path in &args.runbooks {
        match runbook::load(path, &args.sets) {
            Ok(loaded) => files.push(json!({
                "file": path.display().to_string(),
                "valid": true,
                "steps": loaded.runbook.steps.len(),
            })),
            Err(d) => {
                files.push(json!({
                    "file": path.display().to_string(),
                    "valid": false,
                    "errors": d.len(),
                }));
                all.0.extend(d.0);
            }
        }
    }
    let ok_lines: String = files
        .iter()
        .filter(|f| f["valid"] == true)
        .map(|f| {
            format!(
                "{}: ok ({} steps)\n",
                f["file"].as_str().unwrap_or(""),
                f["steps"]
            )
        })
        .collect();
    match args.format {
        ValidateFormat::Human => {
            emit(out, &ok_lines)?;
            if !all.is_empty() {
                return Err(Error::InvalidRunbook(all).into());
            }
        }
        ValidateFormat::Github => {
            let mut text = ok_lines;
            for d in &all.0 {
                text.push_str(&github_annotation(d));
                text.push('\n');
            }
            emit(out, &text)?;
            if !all.is_empty() {
                let n = all.len();
                let _ = writeln!(
                    std::io::stderr(),
                    "{n} error{} found",
                    if n == 1 { "" } else { "s" }
                );
            }
        }
        ValidateFormat::Json => {
            let errors: Vec<serde_json::Value> = all
                .0
                .iter()
                .map(|d| {
                    json!({
                        "file": d.file.display().to_string(),
                        "line": d.loc.line,
                        "col": d.loc.col,
                        "message": d.message,
                        "hint": d.hint,
                    })
                })
                .collect();
            let doc = json!({ "valid": all.is_empty(), "runbooks": files, "errors": errors });
            let mut text = serde_json::to_string_pretty(&doc)?;
            text.push('\n');
            emit(out, &text)?;
        }
    }
    Ok(if all.is_empty() {
        ExitCode::Success
    } else {
        ExitCode::Usage
    })
}

/// `::error file=F,line=L,col=C,title=lifeboat validate::MESSAGE` (the hint on a second
/// line), escaped as GitHub's toolkit escapes workflow commands: in the message `%`, CR
/// and LF; in property values also `:` and `,`.
fn github_annotation(d: &Diagnostic) -> String {
    let mut message = d.message.clone();
    if let Some(hint) = &d.hint {
        message.push_str("\nhint: ");
        message.push_str(hint);
    }
    format!(
        "::error file={},line={},col={},title={}::{}",
        escape_property(&d.file.display().to_string()),
        d.loc.line,
        d.loc.col,
        escape_property("lifeboat validate"),
        escape_data(&message)
    )
}

fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::runbook::Loc;

    #[test]
    fn an_annotation_names_the_file_line_and_column_and_carries_the_hint() {
        let d = Diagnostic::new(
            Path::new("runbooks/drill.yaml"),
            Loc::new(11, 14),
            "unknown cluster `stanby`",
        )
        .with_hint("did you mean `standby`?");
        assert_eq!(
            github_annotation(&d),
            "::error file=runbooks/drill.yaml,line=11,col=14,title=lifeboat validate::\
             unknown cluster `stanby`%0Ahint: did you mean `standby`?"
        );
    }

    #[test]
    fn annotation_properties_and_messages_are_escaped_as_github_reads_them() {
        let d = Diagnostic::new(
            Path::new("run,books/a:b%.yaml"),
            Loc::new(1, 2),
            "100% wrong: a, b",
        );
        assert_eq!(
            github_annotation(&d),
            "::error file=run%2Cbooks/a%3Ab%25.yaml,line=1,col=2,title=lifeboat validate::\
             100%25 wrong: a, b"
        );
    }
}
