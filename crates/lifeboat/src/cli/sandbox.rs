//! `lifeboat sandbox serve`: runs a sandbox cluster in the foreground until Ctrl-C,
//! optionally appending its access log to a file.

use std::io::Write;
use std::path::PathBuf;

use super::emit;
use crate::error::{Error, ExitCode};
use kube_sandbox::{Sandbox, SandboxOptions};

pub fn serve(
    seeds: &[PathBuf],
    port: Option<u16>,
    kubeconfig: Option<PathBuf>,
    access_log: Option<PathBuf>,
    controller_delay: std::time::Duration,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let options = SandboxOptions { port: port.unwrap_or(0), seeds: seeds.to_vec(), controller_delay };
        let sandbox = Sandbox::start(options)
            .await
            .map_err(|e| Error::Usage(crate::error::chain(&e)))?;
        if let Some(path) = &access_log {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|source| Error::Write {
                    what: format!("the access log {}", path.display()),
                    source,
                })?;
            sandbox.access_log().write_to(file);
        }
        let path = kubeconfig.unwrap_or_else(|| {
            std::env::temp_dir().join(format!("lifeboat-sandbox-{}.kubeconfig", sandbox.address().port()))
        });
        sandbox.write_kubeconfig(&path).map_err(|e| Error::Usage(crate::error::chain(&e)))?;
        emit(
            out,
            &format!(
                "sandbox listening on {} ({} objects seeded)\nkubeconfig written to {}\ntry: kubectl --kubeconfig {} get namespaces\npress Ctrl-C to stop\n",
                sandbox.url(),
                sandbox.seeded(),
                path.display(),
                path.display()
            ),
        )?;
        tokio::signal::ctrl_c().await?;
        Ok(ExitCode::Success)
    })
}
