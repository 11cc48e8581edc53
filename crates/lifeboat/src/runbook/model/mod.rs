//! The runbook model: the typed form of a runbook file (SPEC section 3). These types are
//! read by `parse` and described by `schema`, so the schema cannot drift from the parser.

mod duration;
mod names;
mod or_expr;

use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use super::de::Spanned;
use super::node::Node;
use crate::actions::ActionInputs;

pub use duration::{DURATION_PATTERN, Duration};
pub use names::{IDENT_PATTERN, Ident, NamedMap, RUNBOOK_NAME_PATTERN, RunbookName};
pub use or_expr::{Literal, OrExpr, Scalar};

/// The only `apiVersion` this version of lifeboat reads.
pub const API_VERSION: &str = "lifeboat.dev/v1alpha1";
/// The only `kind` of document lifeboat reads.
pub const KIND: &str = "Runbook";

/// A runbook: metadata, parameters, objectives, where it acts (clusters, stores) and the
/// steps to run.
#[derive(Clone, Debug, JsonSchema)]
#[schemars(deny_unknown_fields, title = "lifeboat runbook")]
pub struct Runbook {
    /// Always `lifeboat.dev/v1alpha1`.
    #[serde(rename = "apiVersion")]
    #[schemars(schema_with = "api_version_schema")]
    pub api_version: String,
    /// Always `Runbook`.
    #[schemars(schema_with = "kind_schema")]
    pub kind: String,
    pub metadata: Metadata,
    /// Parameters, overridable with `--set name=value`; used as `${{ params.NAME }}`.
    #[serde(default)]
    pub params: NamedMap<Param>,
    /// Recovery objectives checked at the end of every run.
    #[serde(default)]
    pub objectives: Option<Objectives>,
    /// Kubernetes clusters the steps act on, by name.
    #[serde(default)]
    pub clusters: NamedMap<Cluster>,
    /// Object stores that hold backups (and optionally the run state), by name.
    #[serde(default)]
    pub stores: NamedMap<Store>,
    /// Where the journal and the lock live; default: `./.lifeboat/` in the current folder
    /// (`run --state` overrides both).
    #[serde(default)]
    pub state: Option<StateLocation>,
    /// The steps, run top to bottom unless `needs` says otherwise.
    #[schemars(length(min = 1))]
    pub steps: Vec<Step>,
}

/// The top-level fields a runbook may have (checked against the schema by a test).
pub const RUNBOOK_FIELDS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "params",
    "objectives",
    "clusters",
    "stores",
    "state",
    "steps",
];

fn api_version_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "const": API_VERSION })
}

fn kind_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "const": KIND })
}

/// Who the runbook is.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// Lowercase letters, digits and `-` (at most 63); names the run lock and the backups.
    pub name: Spanned<RunbookName>,
    /// One line saying what the runbook is for.
    #[serde(default)]
    pub description: Option<String>,
    /// Free-form labels, copied into backups and reports.
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
}

/// A parameter: a string value with an optional default.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Param {
    /// Used when `--set` does not give the parameter. Without a default, the parameter is
    /// required.
    #[serde(default)]
    pub default: Option<String>,
    /// What the parameter means (shown by `plan`).
    #[serde(default)]
    pub description: Option<String>,
    /// A secret parameter's value is masked in plans, logs, reports and the journal.
    #[serde(default)]
    pub secret: bool,
}

/// Recovery objectives.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Objectives {
    /// Recovery time objective: the longest the whole run may take (for example `15m`).
    #[serde(default)]
    pub rto: Option<Spanned<Duration>>,
    /// Recovery point objective: the oldest the restored backup may be (for example `24h`).
    #[serde(default)]
    pub rpo: Option<Spanned<Duration>>,
}

/// A cluster: a kubeconfig context, or an in-process sandbox cluster.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    /// Kubeconfig context; default: the kubeconfig's current context.
    #[serde(default)]
    pub context: Option<String>,
    /// Kubeconfig file; default: `KUBECONFIG`, then `~/.kube/config`, then in-cluster.
    /// Relative paths are relative to the runbook's folder.
    #[serde(default)]
    pub kubeconfig: Option<Spanned<String>>,
    /// A simulated cluster started in-process (for rehearsals and the demo).
    #[serde(default)]
    pub sandbox: Option<Sandbox>,
    /// How requests to this cluster are retried and paced; see `docs/reliability.md`.
    #[serde(default)]
    pub requests: Option<Requests>,
}

/// How requests to a cluster are retried (transient failures only, and only where a
/// repeat is safe) and paced.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Requests {
    /// Retries of one request after its first attempt: 0 to 100 (default 8).
    #[serde(default, deserialize_with = "retries")]
    #[schemars(with = "Option<u32>", range(max = 100))]
    pub retries: Option<Spanned<u32>>,
    /// The time one request may take, its retries included (default `2m`).
    #[serde(default, deserialize_with = "longer_than_zero")]
    #[schemars(with = "Option<Duration>")]
    pub retry_budget: Option<Spanned<Duration>>,
    /// The longest wait for the server's next byte before the attempt fails (default `60s`).
    #[serde(default, deserialize_with = "longer_than_zero")]
    #[schemars(with = "Option<Duration>")]
    pub timeout: Option<Spanned<Duration>>,
    /// Requests per second to this cluster, on average (default: not paced).
    #[serde(default, deserialize_with = "qps")]
    #[schemars(with = "Option<f64>")]
    pub qps: Option<Spanned<f64>>,
    /// Requests that may go at once before `qps` spaces them: 1 to 10000 (default 100).
    #[serde(default, deserialize_with = "burst")]
    #[schemars(with = "Option<u32>", range(min = 1, max = 10000))]
    pub burst: Option<Spanned<u32>>,
}

fn retries<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Spanned<u32>>, D::Error> {
    let v = Spanned::<u32>::deserialize(d)?;
    if v.value > 100 {
        return Err(serde::de::Error::custom(format!(
            "`retries` is {}: it must be 0 to 100\n0 turns retries off",
            v.value
        )));
    }
    Ok(Some(v))
}

fn longer_than_zero<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Spanned<Duration>>, D::Error> {
    let v = Spanned::<Duration>::deserialize(d)?;
    if v.value.0.is_zero() {
        return Err(serde::de::Error::custom(
            "this duration must be longer than 0s\nleave it out for the default",
        ));
    }
    Ok(Some(v))
}

fn qps<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Spanned<f64>>, D::Error> {
    let v = Spanned::<f64>::deserialize(d)?;
    if !(v.value.is_finite() && v.value >= 0.01 && v.value <= 100_000.0) {
        return Err(serde::de::Error::custom(format!(
            "`qps` is {}: it must be 0.01 to 100000\nit is the requests per second lifeboat sends this cluster",
            v.value
        )));
    }
    Ok(Some(v))
}

fn burst<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Spanned<u32>>, D::Error> {
    let v = Spanned::<u32>::deserialize(d)?;
    if !(1..=10_000).contains(&v.value) {
        return Err(serde::de::Error::custom(format!(
            "`burst` is {}: it must be 1 to 10000",
            v.value
        )));
    }
    Ok(Some(v))
}

/// An in-process simulated cluster.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Sandbox {
    /// Folders of manifests loaded into the sandbox when it starts (relative to the runbook).
    #[serde(default)]
    pub seed: Vec<Spanned<String>>,
}

/// An object store: S3-compatible or a local folder, optionally with client-side
/// encryption.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Store {
    #[serde(default)]
    pub s3: Option<S3Store>,
    #[serde(default)]
    pub fs: Option<FsStore>,
    /// Encrypt every backup part with age before upload.
    #[serde(default)]
    pub encryption: Option<Encryption>,
    /// Sign the manifests of the backups written here, and check those read from here.
    #[serde(default)]
    pub signing: Option<Signing>,
}

/// Signed manifests, in minisign's format (docs/backup-format.md, "Signatures").
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Signing {
    /// A minisign secret key file (`minisign -G`): every backup written to this store
    /// gets `manifest.json.minisig` (relative to the runbook's folder).
    #[serde(default)]
    pub secret_key: Option<Spanned<String>>,
    /// The environment variable that holds the password of an encrypted secret key.
    #[serde(default)]
    pub password_env: Option<Spanned<String>>,
    /// A minisign public key file: the signature of every backup read from this store
    /// (restore, the source of copy_backup) is checked when it has one.
    #[serde(default)]
    pub public_key: Option<Spanned<String>>,
    /// Refuse a backup without a valid signature, before anything is written (needs
    /// `public_key`).
    #[serde(default)]
    pub require_signature: bool,
}

/// An S3 bucket (credentials come from the standard AWS environment and config).
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct S3Store {
    pub bucket: Spanned<String>,
    /// Key prefix, usually ending in `/`.
    #[serde(default)]
    pub prefix: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    /// Endpoint URL for S3-compatible stores (MinIO, Ceph, ...).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Address buckets by path (`endpoint/bucket/key`), as most S3-compatible stores need.
    #[serde(default)]
    pub path_style: bool,
    /// Request checksums: `when_required` for stores that reject the SDK's default
    /// CRC headers, or `when_supported` (the SDK default).
    #[serde(default)]
    pub checksum: Option<ChecksumMode>,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ChecksumMode {
    WhenSupported,
    WhenRequired,
}

/// A local folder.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FsStore {
    /// Folder path; relative paths are relative to the runbook's folder.
    pub path: Spanned<String>,
}

/// Client-side encryption with age.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Encryption {
    /// age recipients (`age1...` public keys); any of their identities can decrypt.
    pub age_recipients: Vec<Spanned<String>>,
    /// Identity file used to decrypt at restore time (or `LIFEBOAT_AGE_IDENTITY`).
    #[serde(default)]
    pub identity_file: Option<String>,
}

/// Where the journal and run lock are kept.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StateLocation {
    /// A store defined under `stores` (its `runs/` and `locks/` prefixes).
    #[serde(default)]
    pub store: Option<Spanned<String>>,
    /// A local folder (relative to the runbook's folder).
    #[serde(default)]
    pub path: Option<String>,
}

/// One step. Its `with` depends on the action named by `uses`.
#[derive(Clone, Debug)]
pub struct Step {
    pub head: StepHead,
    /// The action's typed inputs.
    pub with: ActionInputs,
    /// The `with` mapping as written (for expressions and for rendering plans).
    pub with_node: Node,
    pub undo: Option<Undo>,
    /// Where the step starts in the file.
    pub loc: super::diagnostic::Loc,
}

/// The fields every step has, whatever its action.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepHead {
    /// Unique step id: lowercase letters, digits, `-` and `_`, starting with a letter.
    pub id: Spanned<Ident>,
    /// A human title for reports.
    #[serde(default)]
    pub name: Option<Spanned<String>>,
    /// What the step is for.
    #[serde(default)]
    pub description: Option<Spanned<String>>,
    /// The action this step runs.
    pub uses: Spanned<String>,
    /// The cluster the action acts on (may be omitted when only one cluster is defined).
    #[serde(default)]
    pub cluster: Option<Spanned<String>>,
    /// Steps that must finish first. Without `needs`, a step runs after the step before it.
    #[serde(default)]
    pub needs: Option<Vec<Spanned<String>>>,
    /// Run the step only when this boolean expression over params and outputs is true.
    #[serde(default, rename = "if")]
    pub condition: Option<Spanned<String>>,
    /// Cancel the step after this long (more than 0s); may be an expression.
    #[serde(default, deserialize_with = "positive_duration")]
    #[schemars(with = "Option<OrExpr<Duration>>")]
    pub timeout: Option<Spanned<OrExpr<Duration>>>,
    #[serde(default)]
    pub retry: Option<Retry>,
    /// What to do when the step fails: `abort` (default), `continue` or `rollback`.
    #[serde(default)]
    pub on_failure: OnFailure,
}

/// A step's time limit and retries, with their expressions bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepLimits {
    pub timeout: Option<std::time::Duration>,
    /// Attempts, the first included.
    pub attempts: u32,
    /// The wait before the second attempt.
    pub backoff: std::time::Duration,
}

/// The wait before a step's second attempt when `retry.backoff` is not given.
pub const DEFAULT_BACKOFF: std::time::Duration = std::time::Duration::from_secs(1);

impl StepHead {
    /// The step's `timeout` and `retry` read with `resolve` rendering each expression
    /// (`Ok(None)` from it: not known yet, that field is not checked). Every problem is
    /// returned at the position of its field.
    pub fn limits(
        &self,
        resolve: &dyn Fn(&str) -> Result<Option<String>, String>,
    ) -> Result<StepLimits, Vec<super::de::DeError>> {
        let mut errors = Vec::new();
        let mut read = |field: &Spanned<OrExpr<Duration>>,
                        check: fn(Duration) -> Result<(), String>| {
            match field.value.resolve(resolve).and_then(|v| {
                if let Some(v) = v {
                    check(v)?;
                }
                Ok(v)
            }) {
                Ok(v) => v,
                Err(e) => {
                    errors.push(located(e, field.loc));
                    None
                }
            }
        };
        let timeout = self
            .timeout
            .as_ref()
            .and_then(|t| read(t, check_timeout))
            .map(|d| d.0);
        let backoff = self
            .retry
            .as_ref()
            .and_then(|r| r.backoff.as_ref())
            .and_then(|b| read(b, |_| Ok(())))
            .map_or(DEFAULT_BACKOFF, |d| d.0);
        let attempts = match self.retry.as_ref().map(|r| &r.attempts) {
            None => 1,
            Some(a) => match a.value.resolve(resolve).and_then(|v| {
                if let Some(n) = v {
                    check_attempts(n)?;
                }
                Ok(v)
            }) {
                Ok(v) => v.unwrap_or(1),
                Err(e) => {
                    errors.push(located(e, a.loc));
                    1
                }
            },
        };
        if errors.is_empty() {
            Ok(StepLimits {
                timeout,
                attempts,
                backoff,
            })
        } else {
            Err(errors)
        }
    }
}

fn located(message: String, loc: super::diagnostic::Loc) -> super::de::DeError {
    let mut e = super::de::DeError::new(message);
    e.loc = Some(loc);
    e
}

fn check_timeout(d: Duration) -> Result<(), String> {
    if d.0.is_zero() {
        return Err(
            "`timeout` must be longer than 0s\nleave `timeout` out for no time limit".into(),
        );
    }
    Ok(())
}

fn check_attempts(n: u32) -> Result<(), String> {
    if !(1..=100).contains(&n) {
        return Err(format!(
            "`attempts` is {n}: it must be 1 to 100\nattempts count the first try too; 1 means no retry"
        ));
    }
    Ok(())
}

fn positive_duration<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Spanned<OrExpr<Duration>>>, D::Error> {
    let v = Option::<Spanned<OrExpr<Duration>>>::deserialize(d)?;
    if let Some(t) = v.as_ref().and_then(|t| t.value.literal()) {
        check_timeout(*t).map_err(serde::de::Error::custom)?;
    }
    Ok(v)
}

fn attempts<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Spanned<OrExpr<u32>>, D::Error> {
    let v = Spanned::<OrExpr<u32>>::deserialize(d)?;
    if let Some(n) = v.value.literal() {
        check_attempts(*n).map_err(serde::de::Error::custom)?;
    }
    Ok(v)
}

/// Fields of a step besides those of `StepHead`.
pub const STEP_EXTRA_FIELDS: &[&str] = &["with", "undo"];

/// Every field a step may have (checked against the schema by a test).
pub const STEP_FIELDS: &[&str] = &[
    "id",
    "name",
    "description",
    "uses",
    "with",
    "cluster",
    "needs",
    "if",
    "timeout",
    "retry",
    "on_failure",
    "undo",
];

/// Retries with exponential backoff and jitter.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    /// Total attempts, the first included: 1 to 100; may be an expression.
    #[serde(deserialize_with = "attempts")]
    #[schemars(with = "OrExpr<u32>")]
    pub attempts: Spanned<OrExpr<u32>>,
    /// Wait before the second attempt; doubled after each failure, with jitter (default
    /// `1s`); may be an expression.
    #[serde(default)]
    pub backoff: Option<Spanned<OrExpr<Duration>>>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// Stop the run (completed steps stay as they are).
    #[default]
    Abort,
    /// Record the failure and go on with the steps that do not need this one.
    Continue,
    /// Run the `undo` of every completed step in reverse order, then stop.
    Rollback,
}

impl fmt::Display for OnFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OnFailure::Abort => "abort",
            OnFailure::Continue => "continue",
            OnFailure::Rollback => "rollback",
        })
    }
}

/// A compensating action, run on rollback.
#[derive(Clone, Debug)]
pub struct Undo {
    pub head: UndoHead,
    /// The compensating action's name (the step's own action when `uses` is omitted).
    pub uses: String,
    pub with: ActionInputs,
    pub with_node: Node,
    pub loc: super::diagnostic::Loc,
}

/// The fields of `undo` besides `with`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UndoHead {
    /// The compensating action; omitted: the step's own action undoes itself
    /// (`restore_previous`), for actions that can.
    #[serde(default)]
    pub uses: Option<Spanned<String>>,
    /// Another cluster to run the undo against (default: the step's cluster).
    #[serde(default)]
    pub cluster: Option<Spanned<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print() {
        let d = |s: &str| Duration::parse(s).map(|d| d.to_string());
        assert_eq!(d("90s"), Ok("1m30s".to_string()));
        assert_eq!(d("1h30m"), Ok("1h30m".to_string()));
        assert_eq!(d("500ms"), Ok("500ms".to_string()));
        assert_eq!(d("2d"), Ok("2d".to_string()));
        assert!(d("10").is_err_and(|e| e.contains("no unit")));
        assert!(d("10x").is_err());
        assert!(d("m").is_err());
        assert!(d("").is_err());
        assert!(d("99999999999999999999999h").is_err());
    }

    #[test]
    fn names() {
        assert!(Ident::is_valid("backup_1"));
        assert!(!Ident::is_valid("1backup"));
        assert!(!Ident::is_valid("Backup"));
        assert!(RunbookName::is_valid("shop-failover"));
        assert!(!RunbookName::is_valid("shop-"));
        assert!(!RunbookName::is_valid("shop_failover"));
    }
}
