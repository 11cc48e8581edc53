//! `exec_local`: runs a local program from an argv list, never through a shell, so
//! parameters cannot inject arguments or commands.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use super::{CheckInputs, Output, non_empty, out};
use crate::context::{ActionError, StepCtx};
use crate::events::{OutputValue, Outputs};
use crate::runbook::de::{DeError, Spanned};
use crate::runbook::model::{Duration, OrExpr};
use crate::runbook::node::Node;

pub const NAME: &str = "exec_local";
pub const SUMMARY: &str = "Run a local program (argv list, no shell).";
pub const ON_CLUSTER: bool = false;
/// Asks the operator at a terminal before it runs: it runs a program on this machine.
pub const CONFIRM: bool = true;
pub const SELF_UNDO: Option<&str> = None;
pub const DRY_RUN: &str = "prints the argv that would run; runs nothing";
pub const OUTPUTS: &[Output] = &[
    out("exit_code", "the program's exit code"),
    out("stdout", "standard output (truncated to 64 KiB)"),
    out("stderr", "standard error (truncated to 64 KiB)"),
    out(
        "argv",
        "dry run only: the argv that would run (secret values masked)",
    ),
];

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "ExecLocalInputs")]
pub struct Inputs {
    /// Program and arguments; each entry is exactly one argument.
    pub argv: Vec<String>,
    /// The environment the program gets, besides `PATH` (nothing else of lifeboat's).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Working folder (relative to the runbook's folder).
    #[serde(default)]
    pub cwd: Option<String>,
    /// Kill the program after this long.
    #[serde(default)]
    pub timeout: Option<Spanned<OrExpr<Duration>>>,
}

impl CheckInputs for Inputs {
    fn check(&self, with: &Node) -> Vec<DeError> {
        non_empty(with, "argv").into_iter().collect()
    }
}

/// At most this much of stdout and of stderr is kept.
const KEEP: usize = 64 * 1024;

/// Runs the program (never through a shell) and fails when it exits non-zero. Values
/// of secret params are masked in what it printed.
pub async fn execute(i: &Inputs, ctx: &StepCtx<'_>) -> Result<Outputs, ActionError> {
    let secrets = crate::secrets::SecretMask::of(ctx.run.loaded);
    let mask = |text: &str| secrets.text(text);
    let mut outputs = Outputs::new();
    let (program, args) = i
        .argv
        .split_first()
        .ok_or_else(|| ActionError::Inputs("`argv` is empty".into()))?;
    // A dry run runs no local program: it shows the command line it would run.
    if ctx.dry_run() {
        let shown: Vec<String> = i.argv.iter().map(|a| format!("{:?}", mask(a))).collect();
        outputs.insert(
            "argv".into(),
            OutputValue::Str(format!("[{}]", shown.join(", "))),
        );
        outputs.insert(
            "exit_code".into(),
            OutputValue::Str("not run (dry run)".into()),
        );
        return Ok(outputs);
    }
    let mut command = tokio::process::Command::new(program);
    // The program sees PATH and what the step names, nothing of lifeboat's own
    // environment (cloud credentials, tokens).
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(&i.env)
        .current_dir(ctx.run.base.join(i.cwd.as_deref().unwrap_or(".")))
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let run = command.output();
    let timeout = i
        .timeout
        .as_ref()
        .map(|t| t.value.value("timeout"))
        .transpose()?;
    let output = match timeout {
        Some(t) => tokio::time::timeout(t.0, run).await.map_err(|_| {
            ActionError::Failed(format!(
                "`{program}` did not finish within {t}; it was killed"
            ))
        })?,
        None => run.await,
    }
    .map_err(|e| ActionError::Failed(format!("cannot run `{program}`: {e}")))?;
    let keep = |bytes: &[u8]| mask(&String::from_utf8_lossy(&bytes[..bytes.len().min(KEEP)]));
    let stdout = keep(&output.stdout);
    let stderr = keep(&output.stderr);
    let code = output.status.code();
    outputs.insert(
        "exit_code".into(),
        OutputValue::Str(code.map_or_else(|| "killed by a signal".into(), |c| c.to_string())),
    );
    outputs.insert("stdout".into(), OutputValue::Str(stdout));
    outputs.insert("stderr".into(), OutputValue::Str(stderr.clone()));
    if !output.status.success() {
        let last = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        return Err(ActionError::Failed(format!(
            "`{program}` exited with {}{}",
            code.map_or_else(|| "a signal".into(), |c| format!("code {c}")),
            if last.is_empty() {
                String::new()
            } else {
                format!(": {last}")
            }
        )));
    }
    Ok(outputs)
}
