//! kube-sandbox: an in-process simulated Kubernetes API server over real HTTP, speaking
//! the real wire format, so runbooks can be rehearsed and programs tested with no
//! cluster. `Sandbox::start` seeds one from folders of manifests, serves it on a
//! loopback port and hands out a kubeconfig and a `kube::Client`; `lifeboat sandbox
//! serve` runs one in the foreground for kubectl.

pub mod access_log;
pub mod apply;
pub mod catalog;
pub mod controllers;
pub mod defaults;
pub mod discovery;
pub mod http;
pub mod jobs;
pub mod node_ports;
mod patch;
pub mod protobuf;
pub mod schema;
pub mod seed;
pub mod selector;
pub mod status;
pub mod store;
pub mod table;
pub mod time;
pub mod validation;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use access_log::AccessLog;
use store::Store;

/// Errors starting or seeding a sandbox.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("failed to listen on {address}: {source}")]
    Bind {
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to seed the sandbox from {}: {message}", path.display())]
    Seed { path: PathBuf, message: String },
    #[error("failed to write the kubeconfig {}: {source}", path.display())]
    Kubeconfig {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to make a client for the sandbox: {0}")]
    Client(String),
}

impl From<kube_resources::ManifestError> for SandboxError {
    fn from(e: kube_resources::ManifestError) -> Self {
        SandboxError::Seed {
            path: e.path,
            message: e.message,
        }
    }
}

/// How to start a sandbox.
#[derive(Clone, Debug)]
pub struct SandboxOptions {
    /// Loopback port; 0 picks a free one.
    pub port: u16,
    /// Folders (or files) of manifests to load before serving.
    pub seeds: Vec<PathBuf>,
    /// How long the simulated controllers take to react (a rollout's duration).
    pub controller_delay: std::time::Duration,
}

/// The default reaction time of the simulated controllers.
pub const DEFAULT_CONTROLLER_DELAY: std::time::Duration = std::time::Duration::from_millis(200);

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            port: 0,
            seeds: Vec::new(),
            controller_delay: DEFAULT_CONTROLLER_DELAY,
        }
    }
}

/// A running sandbox cluster. Dropping it stops the server.
pub struct Sandbox {
    address: SocketAddr,
    store: Arc<Store>,
    log: Arc<AccessLog>,
    seeded: usize,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Sandbox {
    /// Seeds a new cluster and serves it on 127.0.0.1.
    pub async fn start(options: SandboxOptions) -> Result<Sandbox, SandboxError> {
        let store = Arc::new(Store::new());
        let mut seeded = 0;
        for dir in &options.seeds {
            seeded += seed::seed(&store, kube_resources::read_manifests(dir)?)?;
        }
        let address = format!("127.0.0.1:{}", options.port);
        let listener = tokio::net::TcpListener::bind(&address)
            .await
            .map_err(|source| SandboxError::Bind {
                address: address.clone(),
                source,
            })?;
        let address = listener
            .local_addr()
            .map_err(|source| SandboxError::Bind { address, source })?;
        controllers::spawn(store.clone(), options.controller_delay);
        let log = Arc::new(AccessLog::default());
        let app = http::router(http::ApiState {
            store: store.clone(),
            log: log.clone(),
            address: address.to_string(),
        });
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(Sandbox {
            address,
            store,
            log,
            seeded,
            shutdown: Some(tx),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// How many objects the seeds created.
    pub fn seeded(&self) -> usize {
        self.seeded
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    pub fn access_log(&self) -> &Arc<AccessLog> {
        &self.log
    }

    /// A kubeconfig (YAML) whose current context is this sandbox.
    pub fn kubeconfig(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: lifeboat-sandbox\n  cluster:\n    server: {url}\ncontexts:\n- name: lifeboat-sandbox\n  context:\n    cluster: lifeboat-sandbox\n    user: lifeboat-sandbox\n    namespace: default\ncurrent-context: lifeboat-sandbox\nusers:\n- name: lifeboat-sandbox\n  user: {{}}\n",
            url = self.url()
        )
    }

    /// Writes the kubeconfig to `path` (creating its folder).
    pub fn write_kubeconfig(&self, path: &Path) -> Result<(), SandboxError> {
        let err = |source| SandboxError::Kubeconfig {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        std::fs::write(path, self.kubeconfig()).map_err(err)
    }

    /// A kube-rs client for this sandbox.
    pub fn client(&self) -> Result<kube::Client, SandboxError> {
        kube::Client::try_from(self.config()?).map_err(|e| SandboxError::Client(e.to_string()))
    }

    /// How to reach the sandbox, for a client built with layers of its own.
    pub fn config(&self) -> Result<kube::Config, SandboxError> {
        install_crypto_provider();
        let uri: axum::http::Uri = self
            .url()
            .parse()
            .map_err(|e| SandboxError::Client(format!("{e}")))?;
        let mut config = kube::Config::new(uri);
        config.default_namespace = "default".to_string();
        Ok(config)
    }

    /// Stops serving (also done on drop).
    pub fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.stop();
    }
}

/// kube-rs builds a TLS connector even for plain HTTP; rustls needs one process-wide
/// crypto provider for it. Installs ring unless the program installed one already.
fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}
