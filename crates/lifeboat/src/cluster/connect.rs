//! Connecting to a cluster named in a runbook: a kubeconfig context (the `KUBECONFIG`
//! chain, `~/.kube/config`, or in-cluster config when nothing else is given), or an
//! in-process sandbox started from seed folders.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kube::config::{KubeConfigOptions, Kubeconfig};

use super::KubeError;
use super::retry::{self, RequestSettings};
use crate::runbook::model::Cluster;
use kube_sandbox::{Sandbox, SandboxOptions};

/// A connected cluster.
#[derive(Clone)]
pub struct ClusterConn {
    /// The name the runbook gives it.
    pub name: String,
    pub client: kube::Client,
    /// The kubeconfig context used (`sandbox` for a sandbox).
    pub context: String,
    /// Keeps an in-process sandbox serving as long as the connection lives.
    _sandbox: Option<Arc<Sandbox>>,
    /// Resource types found by the last discovery (see `discovery::served`).
    pub(super) served: Arc<tokio::sync::Mutex<Option<Arc<super::discovery::Discovered>>>>,
    /// Every write through this handle is a server-side dry run (`dryRun=All`).
    dry_run: bool,
    /// The kubeconfig says `insecure-skip-tls-verify`: the server's certificate is not
    /// checked (honoured as written, never implied; a step says so).
    pub insecure: bool,
}

impl std::fmt::Debug for ClusterConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterConn")
            .field("name", &self.name)
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}

impl ClusterConn {
    /// Connects to the cluster `name` as the runbook at `base` (its folder) describes it.
    pub async fn connect(
        name: &str,
        cluster: &Cluster,
        base: &Path,
    ) -> Result<ClusterConn, KubeError> {
        crate::tls::install_crypto_provider();
        let fail = |message: String| KubeError::Connect {
            cluster: name.to_string(),
            message,
        };
        let settings = settings_of(cluster);
        if let Some(sandbox) = &cluster.sandbox {
            let seeds: Vec<PathBuf> = sandbox.seed.iter().map(|s| base.join(&s.value)).collect();
            let started = Sandbox::start(SandboxOptions {
                seeds,
                ..SandboxOptions::default()
            })
            .await
            .map_err(|e| fail(e.to_string()))?;
            let config = started.config().map_err(|e| fail(e.to_string()))?;
            let client = client_with_retries(config, settings).map_err(|e| fail(e.to_string()))?;
            return Ok(ClusterConn {
                name: name.to_string(),
                client,
                context: "sandbox".to_string(),
                _sandbox: Some(Arc::new(started)),
                served: Arc::default(),
                dry_run: false,
                insecure: false,
            });
        }
        let options = KubeConfigOptions {
            context: cluster.context.clone(),
            ..KubeConfigOptions::default()
        };
        let config = match &cluster.kubeconfig {
            Some(path) => {
                let path = expand_home(&path.value, base);
                let kubeconfig = Kubeconfig::read_from(&path).map_err(|e| {
                    fail(format!(
                        "cannot read kubeconfig {} ({}); check the `kubeconfig` of cluster `{name}` (a relative path starts at the runbook's folder)",
                        path.display(),
                        crate::error::chain(&e)
                    ))
                })?;
                if let Some(context) = &cluster.context
                    && !kubeconfig.contexts.iter().any(|c| &c.name == context)
                {
                    let known: Vec<String> = kubeconfig
                        .contexts
                        .iter()
                        .map(|c| format!("`{}`", c.name))
                        .collect();
                    return Err(fail(format!(
                        "kubeconfig {} has no context `{context}` (it has {}); fix the `context` of cluster `{name}`",
                        path.display(),
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    )));
                }
                kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                    .await
                    .map_err(|e| {
                        fail(format!(
                            "kubeconfig {}: {}",
                            path.display(),
                            crate::error::chain(&e)
                        ))
                    })?
            }
            None if cluster.context.is_some() => kube::Config::from_kubeconfig(&options)
                .await
                .map_err(|e| fail(e.to_string()))?,
            None => kube::Config::infer()
                .await
                .map_err(|e| fail(e.to_string()))?,
        };
        let context = cluster
            .context
            .clone()
            .unwrap_or_else(|| "current-context".to_string());
        let insecure = config.accept_invalid_certs;
        let client = client_with_retries(config, settings).map_err(|e| fail(e.to_string()))?;
        Ok(ClusterConn {
            name: name.to_string(),
            client,
            context,
            _sandbox: None,
            served: Arc::default(),
            dry_run: false,
            insecure,
        })
    }

    /// The API server's version (`v1.33.0`), for manifests and reports.
    pub async fn server_version(&self) -> Result<String, KubeError> {
        let info = self
            .client
            .apiserver_version()
            .await
            .map_err(|e| KubeError::from_kube("read the version of", self.describe(), e))?;
        Ok(info.git_version)
    }

    /// The same cluster through a handle whose every write is a server-side dry run:
    /// what a dry run hands its actions, so that no write can forget to ask for one.
    /// Reads and the discovery cache are shared with `self`.
    pub fn dry_run_handle(&self) -> ClusterConn {
        ClusterConn {
            dry_run: true,
            ..self.clone()
        }
    }

    /// Whether writes through this handle are dry runs.
    pub fn dry_run(&self) -> bool {
        self.dry_run
    }

    /// `cluster `NAME``, for messages.
    pub fn describe(&self) -> String {
        format!("cluster `{}`", self.name)
    }
}

/// A client for `config` whose requests are paced and retried as `settings` say
/// (`retry`). kube-rs's own retry policy is off: it retries 429, 503 and 504 only, up
/// to 15 times with delays growing to 1000 s, which would hold a backup for minutes
/// behind an aggregated API whose backend is down; never both, so retries never stack.
fn client_with_retries(
    mut config: kube::Config,
    settings: RequestSettings,
) -> Result<kube::Client, kube::Error> {
    config.default_retry = false;
    config.read_timeout = Some(settings.timeout);
    config.write_timeout = Some(settings.timeout);
    config.connect_timeout = Some(settings.timeout.min(CONNECT_TIMEOUT));
    let pace = Arc::new(retry::Pace::new(&settings));
    // A retry clones the service it retries: the buffer makes kube-rs's one clonable.
    Ok(kube::client::ClientBuilder::try_from(config)?
        .with_layer(&tower::buffer::BufferLayer::new(1024))
        .with_layer(&retry::PaceLayer(pace))
        .with_layer(&tower::retry::RetryLayer::new(retry::ApiRetry::new(
            settings,
        )))
        .build())
}

/// A cluster entry's request settings: what its `requests` says, defaults for the rest.
pub fn settings_of(cluster: &Cluster) -> RequestSettings {
    let d = RequestSettings::default();
    let Some(r) = &cluster.requests else { return d };
    RequestSettings {
        retries: r.retries.as_ref().map_or(d.retries, |v| v.value),
        budget: r.retry_budget.as_ref().map_or(d.budget, |v| v.value.0),
        timeout: r.timeout.as_ref().map_or(d.timeout, |v| v.value.0),
        qps: r.qps.as_ref().map(|v| v.value).or(d.qps),
        burst: r.burst.as_ref().map_or(d.burst, |v| v.value),
    }
}

/// The longest wait for a connection to a cluster.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// `~/x` is in the home folder; relative paths are relative to the runbook's folder.
fn expand_home(path: &str, base: &Path) -> PathBuf {
    if let Some(rest) = path.strip_prefix("~/")
        && let Some(home) = std::env::var_os("HOME")
    {
        return PathBuf::from(home).join(rest);
    }
    base.join(path)
}
