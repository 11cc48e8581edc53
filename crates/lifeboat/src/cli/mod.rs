//! The command line: clap definitions, and dispatch to one file per subcommand. No
//! business logic lives here; errors become messages and exit codes at this edge.

mod backups;
mod completions;
mod examples;
mod plan;
mod rbac;
mod run;
mod sandbox;
mod schema;
mod state;
mod status;
mod summary;
mod table;
mod validate;
mod watch;

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::error::{Error, ExitCode};
use crate::runbook::parse_set;

const EXAMPLES_ROOT: &str = "\
Examples:
  lifeboat validate runbooks/*.yaml
  lifeboat plan runbooks/failover.yaml --format markdown
  lifeboat run runbooks/demo.yaml

Exit codes: 0 success, 1 a step failed, 2 usage error or invalid runbook,
3 drill objectives missed, 4 another run holds the lock, 130 interrupted.";

#[derive(Debug, Parser)]
#[command(
    name = "lifeboat",
    version,
    about = "Run disaster-recovery runbooks for Kubernetes: backup, restore and failover.",
    after_help = EXAMPLES_ROOT,
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Diagnostic logs on stderr (chosen by RUST_LOG, default lifeboat's warnings): text
    /// or JSON Lines, with run_id and step_id on the lines of a run.
    #[arg(long, global = true, value_enum, default_value_t = crate::logging::LogFormat::Text)]
    pub log_format: crate::logging::LogFormat,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check runbooks without touching any cluster; every error as file:line:col.
    #[command(after_help = examples::VALIDATE)]
    Validate(ValidateArgs),
    /// Show what a runbook would do, in execution order, with params bound (no network).
    #[command(after_help = examples::PLAN)]
    Plan(PlanArgs),
    /// Run a runbook against its clusters and stores.
    #[command(after_help = examples::RUN)]
    Run(RunArgs),
    /// Resume an interrupted run where it stopped.
    #[command(after_help = examples::RESUME)]
    Resume(ResumeArgs),
    /// List runs, or show one run's steps, outputs and timings.
    #[command(after_help = examples::STATUS)]
    Status(StatusArgs),
    /// List, show, verify, compare, delete or prune backups in a store.
    #[command(after_help = examples::BACKUPS)]
    Backups(BackupsArgs),
    /// Run the sandbox: a simulated Kubernetes API server for rehearsals.
    #[command(after_help = examples::SANDBOX)]
    Sandbox(SandboxArgs),
    /// Print the JSON Schema of the runbook format (for editors).
    #[command(after_help = examples::SCHEMA)]
    Schema,
    /// Print the least-privilege Role/ClusterRole YAML a runbook needs (no cluster read).
    #[command(after_help = examples::RBAC)]
    Rbac(RbacArgs),
    /// Print shell completions.
    #[command(after_help = examples::COMPLETIONS)]
    Completions(CompletionsArgs),
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Runbook files.
    #[arg(required = true, value_name = "RUNBOOK")]
    pub runbooks: Vec<PathBuf>,
    /// Param values, as if given to `run` (params without a default need one).
    #[arg(long = "set", value_name = "K=V", value_parser = parse_set)]
    pub sets: Vec<(String, String)>,
    /// human: `file:line:col: error:` lines with hints on stderr; github: one
    /// `::error file=,line=,col=::` workflow command per error on stdout; json: stdout.
    #[arg(long, value_enum, default_value_t = validate::ValidateFormat::Human)]
    pub format: validate::ValidateFormat,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PlanFormat {
    Text,
    Json,
    Markdown,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[arg(value_name = "RUNBOOK")]
    pub runbook: PathBuf,
    /// Set a param.
    #[arg(long = "set", value_name = "K=V", value_parser = parse_set)]
    pub sets: Vec<(String, String)>,
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum OutputFormat {
    Human,
    Json,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Progress {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[arg(value_name = "RUNBOOK")]
    pub runbook: PathBuf,
    #[arg(long = "set", value_name = "K=V", value_parser = parse_set)]
    pub sets: Vec<(String, String)>,
    /// Check every step against live state (server-side dry-run); change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Use this run id instead of a generated one.
    #[arg(long, value_name = "ID")]
    pub run_id: Option<String>,
    /// Where the journal and lock live: a folder or s3://BUCKET/PREFIX.
    #[arg(long, value_name = "DIR|s3://BUCKET/PREFIX")]
    pub state: Option<String>,
    #[command(flatten)]
    pub session: SessionArgs,
    /// Run only these steps.
    #[arg(long, value_name = "STEP")]
    pub only: Vec<String>,
    /// Make this step fail (to exercise failure paths in drills).
    #[arg(long, value_name = "STEP")]
    pub inject_failure: Vec<String>,
}

/// How a run (or a resumed run) meets its operator and what it leaves behind.
#[derive(Debug, Args)]
pub struct SessionArgs {
    /// Answer yes to every confirmation and approval.
    #[arg(long)]
    pub yes: bool,
    /// Approve this `approve` step without asking (repeatable).
    #[arg(long, value_name = "STEP")]
    pub approve: Vec<String>,
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub output: OutputFormat,
    /// Progress bars: on a terminal (auto), also when not (always), or never.
    #[arg(long, value_enum, default_value_t = Progress::Auto)]
    pub progress: Progress,
    /// Take over a stale lock left by another run that died (a resume takes its own
    /// stale lock back without it).
    #[arg(long)]
    pub steal_lock: bool,
    #[command(flatten)]
    pub reports: ReportArgs,
}

/// The reports a run (or a resumed run) writes at its end.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Write a self-contained HTML drill report.
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,
    /// Write JUnit XML (one testcase per step and objective).
    #[arg(long, value_name = "FILE.xml")]
    pub junit: Option<PathBuf>,
    /// Write the run's metrics in Prometheus text format (for a textfile collector).
    #[arg(long, value_name = "FILE")]
    pub metrics_file: Option<PathBuf>,
    /// Push the run's metrics to this Prometheus Pushgateway at the end of the run.
    #[arg(long, value_name = "URL")]
    pub pushgateway: Option<String>,
}

/// Where the journals of runs are: `--state`, or a runbook's own `state:`.
#[derive(Debug, Args)]
pub struct JournalArgs {
    /// Where the journals are (default: ./.lifeboat).
    #[arg(
        long,
        value_name = "DIR|s3://BUCKET/PREFIX",
        conflicts_with = "runbook"
    )]
    pub state: Option<String>,
    /// Find the journals where this runbook keeps them (its `state:`, with the store's
    /// endpoint and settings).
    #[arg(long, value_name = "FILE")]
    pub runbook: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ResumeArgs {
    #[arg(value_name = "RUN_ID")]
    pub run_id: String,
    #[command(flatten)]
    pub journals: JournalArgs,
    /// Resume even though the runbook changed since the run started.
    #[arg(long)]
    pub allow_changed: bool,
    /// Values of secret params (never stored in the journal, so given again).
    #[arg(long = "set", value_name = "K=V", value_parser = parse_set)]
    pub sets: Vec<(String, String)>,
    #[command(flatten)]
    pub session: SessionArgs,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[arg(value_name = "RUN_ID")]
    pub run_id: Option<String>,
    #[command(flatten)]
    pub journals: JournalArgs,
    /// Follow the run (in progress, from any terminal or machine that reads its state)
    /// until it ends; exit with its exit code.
    #[arg(long, requires = "run_id")]
    pub watch: bool,
    /// With --watch: `json` writes the journal's records as JSON Lines, then a
    /// `watch_finished` line with the exit code.
    #[arg(long, value_enum, default_value_t = OutputFormat::Human, requires = "watch")]
    pub output: OutputFormat,
}

#[derive(Debug, Args)]
pub struct BackupsArgs {
    #[command(subcommand)]
    pub command: BackupsCommand,
}

#[derive(Debug, Subcommand)]
pub enum BackupsCommand {
    /// List complete backups (and flag incomplete ones).
    List(BackupsTarget),
    /// Show one backup's manifest.
    Show(BackupsTarget),
    /// Re-read every part of a backup and check checksums, counts and decryption.
    Verify(BackupsTarget),
    /// Delete a backup (manifest first); refused while a run reads it.
    Delete(BackupsDeleteArgs),
    /// Compare two backups: objects added, removed and changed per resource type, with
    /// the paths of the changed fields (values never shown; Secrets compared by hash).
    Diff(BackupsDiffArgs),
    /// Remove the backups no retention rule keeps, per runbook (restic's forget rules:
    /// a backup is kept when any rule keeps it); never a runbook's newest complete
    /// backup, never one a live run is reading.
    #[command(after_help = examples::BACKUPS_PRUNE)]
    Prune(BackupsPruneArgs),
}

/// `backups prune` as typed: checked once into the prune's settings.
#[derive(Debug, Args)]
pub struct BackupsPruneArgs {
    /// s3://BUCKET/PREFIX, file:///PATH or a plain path.
    #[arg(long, value_name = "URL")]
    pub store: String,
    /// Keep the N newest complete backups of each runbook.
    #[arg(long, value_name = "N")]
    pub keep_last: Option<u32>,
    /// Keep the newest backup of each of the N most recent days (UTC) that have one.
    #[arg(long, value_name = "N")]
    pub keep_daily: Option<u32>,
    /// Keep the newest backup of each of the N most recent ISO weeks (UTC) that have one.
    #[arg(long, value_name = "N")]
    pub keep_weekly: Option<u32>,
    /// Keep the newest backup of each of the N most recent months (UTC) that have one.
    #[arg(long, value_name = "N")]
    pub keep_monthly: Option<u32>,
    /// Keep every backup completed at most this long ago (`30d`, `12h`).
    #[arg(long, value_name = "DURATION")]
    pub max_age: Option<String>,
    /// Only the backups of this runbook.
    #[arg(long, value_name = "NAME")]
    pub runbook: Option<String>,
    /// Also remove incomplete backups (no manifest: an interrupted backup or prune)
    /// whose newest object is older than this. A backup being written right now is
    /// incomplete too: never give less than your longest backup takes.
    #[arg(long, value_name = "DURATION")]
    pub incomplete_older_than: Option<String>,
    /// Another place runs keep their locks (a folder or s3://BUCKET/PREFIX; repeatable):
    /// a backup a live run there is reading is kept. The store's own `locks/` is always
    /// read.
    #[arg(long = "state", value_name = "DIR|s3://BUCKET/PREFIX")]
    pub states: Vec<String>,
    /// Say what would be removed; delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub output: OutputFormat,
}

#[derive(Debug, Args)]
pub struct BackupsDiffArgs {
    /// s3://BUCKET/PREFIX, file:///PATH or a plain path.
    #[arg(long, value_name = "URL")]
    pub store: String,
    /// The older backup.
    #[arg(value_name = "FROM")]
    pub from: String,
    /// The newer backup (or `--cluster`).
    #[arg(value_name = "TO")]
    pub to: Option<String>,
    /// Compare with the live state of this cluster (a kubeconfig context) instead of a
    /// second backup.
    #[arg(long, value_name = "CONTEXT")]
    pub cluster: Option<String>,
    /// The kubeconfig of `--cluster`; default: KUBECONFIG, then ~/.kube/config.
    #[arg(long, value_name = "FILE", requires = "cluster")]
    pub kubeconfig: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub output: OutputFormat,
    /// age identity file to decrypt encrypted parts; default: LIFEBOAT_AGE_IDENTITY.
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BackupsDeleteArgs {
    #[command(flatten)]
    pub target: BackupsTarget,
    /// Delete it even while a run reads it (a restore, copy or verify in progress
    /// then fails).
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct BackupsTarget {
    /// s3://BUCKET/PREFIX, file:///PATH or a plain path.
    #[arg(long, value_name = "URL")]
    pub store: String,
    #[arg(value_name = "ID")]
    pub id: Option<String>,
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub output: OutputFormat,
    /// age identity file to decrypt encrypted parts (`verify`); default:
    /// LIFEBOAT_AGE_IDENTITY.
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// minisign public key to check the manifest's signature with (`verify`).
    #[arg(long, value_name = "FILE")]
    pub public_key: Option<PathBuf>,
    /// Fail unless the manifest carries a valid signature (`verify`; needs
    /// --public-key).
    #[arg(long, requires = "public_key")]
    pub require_signature: bool,
}

#[derive(Debug, Args)]
pub struct SandboxArgs {
    #[command(subcommand)]
    pub command: SandboxCommand,
}

#[derive(Debug, Subcommand)]
pub enum SandboxCommand {
    /// Serve a sandbox cluster in the foreground.
    Serve {
        /// Folders of manifests to load at start.
        #[arg(long, value_name = "DIR")]
        seed: Vec<PathBuf>,
        #[arg(long, value_name = "N")]
        port: Option<u16>,
        /// Write a kubeconfig for kubectl here.
        #[arg(long, value_name = "OUT")]
        kubeconfig: Option<PathBuf>,
        /// Append every API request to this file as JSON Lines (method, path, verb,
        /// resource, namespace, status, dry_run).
        #[arg(long, value_name = "FILE")]
        access_log: Option<PathBuf>,
        /// How long the simulated controllers take to react (rollouts, Jobs, PVCs).
        #[arg(long, value_name = "DURATION", default_value = "200ms", value_parser = parse_delay)]
        controller_delay: std::time::Duration,
    },
}

#[derive(Debug, Args)]
pub struct RbacArgs {
    #[arg(value_name = "RUNBOOK")]
    pub runbook: PathBuf,
    /// Set a param (the RBAC follows the values the run will have).
    #[arg(long = "set", value_name = "K=V", value_parser = parse_set)]
    pub sets: Vec<(String, String)>,
    /// Print only this cluster's roles (to pipe into kubectl for that cluster).
    #[arg(long, value_name = "NAME")]
    pub cluster: Option<String>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// A duration flag, written as in runbooks (`200ms`, `2s`).
fn parse_delay(s: &str) -> Result<std::time::Duration, String> {
    crate::runbook::model::Duration::parse(s)
        .map(|d| d.0)
        .map_err(|e| e.replace('\n', ": "))
}

/// Runs lifeboat with `args` (the program name first) and returns the exit code.
/// Re-runnable: nothing global is set.
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::Usage
            } else {
                ExitCode::Success
            };
        }
    };
    crate::tls::install_crypto_provider();
    crate::logging::init(cli.log_format);
    let mut stdout = std::io::stdout().lock();
    let code = match dispatch(cli.command, &mut stdout) {
        Ok(code) => code,
        Err(e) => report(&e),
    };
    crate::logging::finish();
    code
}

fn dispatch(command: Command, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    match command {
        Command::Validate(args) => validate::run(&args, out),
        Command::Plan(args) => plan::run(&args, out),
        Command::Schema => schema::run(out),
        Command::Completions(args) => completions::run(&args, out),
        Command::Run(args) => run::run(&args),
        Command::Resume(args) => run::resume(&args),
        Command::Status(args) => status::run(&args, out),
        Command::Backups(args) => backups::run(&args.command, out),
        Command::Sandbox(SandboxArgs {
            command:
                SandboxCommand::Serve {
                    seed,
                    port,
                    kubeconfig,
                    access_log,
                    controller_delay,
                },
        }) => sandbox::serve(&seed, port, kubeconfig, access_log, controller_delay, out),
        Command::Rbac(args) => rbac::run(&args, out),
    }
}

/// Prints an error (`error: ...` with its causes) and returns its exit code.
fn report(e: &anyhow::Error) -> ExitCode {
    let mut err = std::io::stderr().lock();
    match e.downcast_ref::<Error>() {
        Some(Error::InvalidRunbook(d)) => {
            let _ = writeln!(err, "{d}");
            let n = d.len();
            let _ = writeln!(err, "\n{n} error{} found", if n == 1 { "" } else { "s" });
        }
        _ => {
            let _ = writeln!(err, "error: {e}");
            for cause in e.chain().skip(1) {
                let _ = writeln!(err, "  caused by: {cause}");
            }
        }
    }
    e.downcast_ref::<Error>()
        .map_or(ExitCode::StepFailed, Error::exit_code)
}

/// Writes to stdout, treating a closed pipe (`lifeboat plan ... | head`) as success.
pub(crate) fn emit(out: &mut dyn Write, text: &str) -> anyhow::Result<()> {
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(source) => Err(Error::Write {
            what: "standard output".into(),
            source,
        }
        .into()),
    }
}
