//! Where runs keep their journal and lock: `--state` (a folder or `s3://...`), else
//! the runbook's `state:` (a store it defines, or a folder relative to it), else
//! `./.lifeboat` in the current folder. Shared by `run`, `resume` and `status`, which
//! also take `--runbook FILE` to find the state where that runbook keeps it.

use std::path::Path;

use crate::context::store_config;
use crate::error::Error;
use crate::journal::StateLocation;
use crate::runbook::Loaded;
use crate::runbook::model::Runbook;
use crate::store::{Store, StoreConfig, parse_store_url};

/// The default state folder.
pub const DEFAULT_STATE: &str = ".lifeboat";

/// The state location named by `--state`, or the default one.
pub async fn from_flag(flag: Option<&str>) -> anyhow::Result<StateLocation> {
    let Some(url) = flag else {
        return Ok(StateLocation::Local(Path::new(DEFAULT_STATE).to_path_buf()));
    };
    let config = parse_store_url(url).map_err(|e| Error::Usage(format!("--state: {e}")))?;
    Ok(match config {
        StoreConfig::Fs { root } => StateLocation::Local(root),
        other => StateLocation::Store(Store::open(&other).await?),
    })
}

/// The state location of a run of `loaded`.
pub async fn for_runbook(flag: Option<&str>, loaded: &Loaded) -> anyhow::Result<StateLocation> {
    if flag.is_some() {
        return from_flag(flag).await;
    }
    of_runbook(&loaded.runbook, &loaded.path).await
}

/// `--state` if given, else the state of the runbook `--runbook` names, else the
/// default (for `resume` and `status`, which have no runbook to load first).
pub async fn from_flags(
    state: Option<&str>,
    runbook: Option<&Path>,
) -> anyhow::Result<StateLocation> {
    match (state, runbook) {
        (None, Some(path)) => {
            let parsed = crate::runbook::parse_only(path).map_err(Error::InvalidRunbook)?;
            of_runbook(&parsed, path).await
        }
        _ => from_flag(state).await,
    }
}

/// Where the runs of `runbook` (read from `path`) keep their state.
async fn of_runbook(runbook: &Runbook, path: &Path) -> anyhow::Result<StateLocation> {
    let base = path.parent().unwrap_or(Path::new("."));
    match &runbook.state {
        Some(s) if s.store.is_some() => {
            let name = s
                .store
                .as_ref()
                .map(|n| n.value.clone())
                .unwrap_or_default();
            let model = runbook
                .stores
                .get(&name)
                .ok_or_else(|| Error::Usage(format!("state: the runbook has no store `{name}`")))?;
            let config = store_config(model, base).map_err(|e| Error::Usage(e.to_string()))?;
            Ok(StateLocation::Store(Store::open(&config).await?))
        }
        Some(s) if s.path.is_some() => Ok(StateLocation::Local(
            base.join(s.path.as_deref().unwrap_or(DEFAULT_STATE)),
        )),
        _ => from_flag(None).await,
    }
}

/// What a printed command (`lifeboat resume ...`) needs to find `location` again:
/// the `--state` the user gave, else `--runbook FILE` when the runbook chose the
/// location (an S3 store keeps its endpoint and settings that way), else nothing.
pub fn flag_for(state: Option<&str>, runbook: Option<&Path>, location: &StateLocation) -> String {
    match (state, runbook, location) {
        (Some(flag), _, _) => format!(" --state {}", shell_word(flag)),
        (None, _, StateLocation::Local(p)) if p == Path::new(DEFAULT_STATE) => String::new(),
        (None, Some(path), _) => {
            let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
            format!(" --runbook {}", shell_word(&path.display().to_string()))
        }
        (None, None, other) => format!(" --state {}", shell_word(&other.describe())),
    }
}

fn shell_word(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-:".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}
