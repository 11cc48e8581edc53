//! Where runs keep their journal and lock: `--state` (a folder or `s3://...`), else
//! the runbook's `state:` (a store it defines, or a folder relative to it), else
//! `./.lifeboat` in the current folder. Shared by `run`, `resume` and `status`.

use std::path::Path;

use crate::engine::context::store_config;
use crate::error::Error;
use crate::journal::StateLocation;
use crate::runbook::Loaded;
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
    let base = loaded.path.parent().unwrap_or(Path::new("."));
    match &loaded.runbook.state {
        Some(s) if s.store.is_some() => {
            let name = s
                .store
                .as_ref()
                .map(|n| n.value.clone())
                .unwrap_or_default();
            let model =
                loaded.runbook.stores.get(&name).ok_or_else(|| {
                    Error::Usage(format!("state: the runbook has no store `{name}`"))
                })?;
            let config = store_config(model, base).map_err(|e| Error::Usage(e.to_string()))?;
            Ok(StateLocation::Store(Store::open(&config).await?))
        }
        Some(s) if s.path.is_some() => Ok(StateLocation::Local(
            base.join(s.path.as_deref().unwrap_or(DEFAULT_STATE)),
        )),
        _ => from_flag(None).await,
    }
}

/// `--state X` to repeat in a printed command, when the location is not the default.
pub fn flag_for(location: &StateLocation) -> String {
    match location {
        StateLocation::Local(p) if p == Path::new(DEFAULT_STATE) => String::new(),
        other => format!(" --state {}", shell_word(&other.describe())),
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
