//! `manifest.json`: a backup's table of contents and its commit marker, written last
//! with a conditional create so a finished backup is never overwritten. Carries a
//! format version; this lifeboat reads version 1 (a test reads a stored version-1
//! backup forever) and refuses newer ones with a clear message.

use serde::{Deserialize, Serialize};

use super::ArchiveError;
use kube_resources::ResourceType;

/// The format this lifeboat writes.
pub const FORMAT_VERSION: u32 = 1;

/// The codec of every part this version writes.
pub const CODEC_ZSTD: &str = "zstd";

/// A complete backup.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub backup_id: String,
    /// When the backup started (RFC 3339, UTC); the point in time it captures.
    pub created: String,
    /// When the last part was written.
    pub completed: String,
    pub source: Source,
    /// The runbook and run that wrote it (`latest` is per runbook).
    pub runbook: String,
    pub run_id: String,
    pub step: String,
    pub filters: Filters,
    /// Group versions of the source cluster's API that could not be read (an
    /// aggregated API whose backend was down): their resources are not in the backup.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unavailable_groups: Vec<UnavailableGroup>,
    /// Objects in all parts.
    pub objects: u64,
    /// Stored bytes of all parts.
    pub bytes: u64,
    pub parts: Vec<PartManifest>,
}

/// A group version left out of a backup because the source could not describe it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnavailableGroup {
    /// `metrics.k8s.io/v1beta1`.
    pub group_version: String,
    /// What the API server answered.
    pub message: String,
}

/// The cluster a backup was taken from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// The cluster's name in the runbook.
    pub cluster: String,
    pub context: String,
    pub server_version: String,
}

/// What the backup selected.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Filters {
    #[serde(default)]
    pub namespaces: Vec<String>,
    #[serde(default)]
    pub exclude_namespaces: Vec<String>,
    #[serde(default)]
    pub include_resources: Vec<String>,
    #[serde(default)]
    pub exclude_resources: Vec<String>,
    #[serde(default)]
    pub label_selector: Option<String>,
    /// Whether cluster-scoped resources were included.
    pub cluster_resources: bool,
}

/// One stored part: compressed (then optionally encrypted) JSON Lines of one
/// resource type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PartManifest {
    /// Relative to the backup's folder.
    pub key: String,
    /// Empty for the core group.
    pub group: String,
    pub version: String,
    pub resource: String,
    pub kind: String,
    pub namespaced: bool,
    pub objects: u64,
    /// Stored bytes (after compression and encryption).
    pub bytes: u64,
    /// sha256 of the stored bytes, lowercase hex.
    pub sha256: String,
    /// `zstd`.
    pub codec: String,
    /// `age` when encrypted, absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<String>,
}

impl PartManifest {
    pub fn resource_type(&self) -> ResourceType {
        ResourceType {
            group: self.group.clone(),
            version: self.version.clone(),
            resource: self.resource.clone(),
            kind: self.kind.clone(),
            namespaced: self.namespaced,
        }
    }
}

impl Manifest {
    /// Reads a manifest, refusing formats newer than this lifeboat knows.
    pub fn from_slice(id: &str, bytes: &[u8]) -> Result<Manifest, ArchiveError> {
        let bad = |message: String| ArchiveError::BadManifest {
            id: id.to_string(),
            message,
        };
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        let version = value
            .get("format_version")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| bad("it has no `format_version`".into()))?;
        if version > u64::from(FORMAT_VERSION) {
            return Err(ArchiveError::NewerFormat {
                id: id.to_string(),
                version: u32::try_from(version).unwrap_or(u32::MAX),
                supported: FORMAT_VERSION,
            });
        }
        let manifest: Manifest = serde_json::from_value(value).map_err(|e| bad(e.to_string()))?;
        if manifest.backup_id != id {
            return Err(bad(format!(
                "it names backup `{}` (a manifest copied into the wrong folder?)",
                manifest.backup_id
            )));
        }
        for part in &manifest.parts {
            let key_ok = part.key.starts_with("resources/")
                && !part.key.split('/').any(|s| s.is_empty() || s == "..");
            if !key_ok {
                return Err(bad(format!(
                    "part key `{}` is outside the backup",
                    part.key
                )));
            }
            if part.codec != CODEC_ZSTD {
                return Err(bad(format!(
                    "part {} uses codec `{}`; this lifeboat reads `{CODEC_ZSTD}`",
                    part.key, part.codec
                )));
            }
        }
        Ok(manifest)
    }

    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// Whether any part is encrypted.
    pub fn encrypted(&self) -> bool {
        self.parts.iter().any(|p| p.encryption.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A version-1 manifest as lifeboat 0.1 wrote it. Never change this text: newer
    /// versions must keep reading it.
    const V1: &str = include_str!("../../tests/fixtures/backups-v1/backups/shop-v1/manifest.json");

    #[test]
    fn reads_format_version_1_forever() {
        let m = Manifest::from_slice("shop-v1", V1.as_bytes()).expect("v1 manifest reads");
        assert_eq!(m.format_version, 1);
        assert_eq!(m.runbook, "shop-backup");
        assert!(!m.parts.is_empty());
        assert_eq!(m.objects, m.parts.iter().map(|p| p.objects).sum::<u64>());
    }

    #[test]
    fn refuses_a_newer_format_with_an_upgrade_hint() {
        let newer = V1.replacen("\"format_version\": 1", "\"format_version\": 2", 1);
        let err = Manifest::from_slice("shop-v1", newer.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("upgrade lifeboat"), "{err}");
    }

    #[test]
    fn refuses_part_keys_outside_the_backup() {
        let evil = V1.replacen("\"key\": \"resources/", "\"key\": \"resources/../../", 1);
        let err = Manifest::from_slice("shop-v1", evil.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("outside the backup"), "{err}");
    }
}
