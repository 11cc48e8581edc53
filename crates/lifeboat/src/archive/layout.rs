//! Where things are in a store: `backups/<id>/manifest.json` (and its signature,
//! `manifest.json.minisig`), parts under
//! `backups/<id>/resources/<group>/<version>/<resource>.jsonl.zst`. Part keys in a
//! manifest are relative to the backup's folder, so a copied backup stays valid.

use kube_resources::ResourceType;

/// The folder of every backup.
pub const BACKUPS: &str = "backups/";

/// The folder of one backup.
pub fn backup_dir(id: &str) -> String {
    format!("{BACKUPS}{id}/")
}

/// The folder of a backup's reader leases (`reader_lease`): not backup content.
pub const READERS: &str = "readers/";

/// Whether `rest`, a key under `backups/<id>/` without that prefix, is a reader lease.
pub fn is_reader_lease(rest: &str) -> bool {
    rest.starts_with(READERS)
}

/// The key of a backup's manifest.
pub fn manifest_key(id: &str) -> String {
    format!("{BACKUPS}{id}/manifest.json")
}

/// The key of a backup's manifest signature (minisign's name for it: the signed
/// file's name and `.minisig`).
pub fn signature_key(id: &str) -> String {
    format!("{BACKUPS}{id}/manifest.json.minisig")
}

/// The full key of a part, from its manifest key (relative to the backup folder).
pub fn part_key(id: &str, relative: &str) -> String {
    format!("{BACKUPS}{id}/{relative}")
}

/// The key of part number `index` (0-based) of a resource type, relative to the
/// backup folder. The core group is written `core`.
pub fn part_relative_key(rtype: &ResourceType, index: usize, encrypted: bool) -> String {
    let group = if rtype.group.is_empty() {
        "core"
    } else {
        rtype.group.as_str()
    };
    let number = if index == 0 {
        String::new()
    } else {
        format!(".{}", index + 1)
    };
    let age = if encrypted { ".age" } else { "" };
    format!(
        "resources/{group}/{}/{}{number}.jsonl.zst{age}",
        rtype.version, rtype.resource
    )
}

/// Whether `id` can name a backup (one path segment of safe characters).
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 200
        && id != "."
        && id != ".."
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_keys_name_group_version_and_resource() {
        let rt = ResourceType {
            group: String::new(),
            version: "v1".into(),
            resource: "configmaps".into(),
            kind: "ConfigMap".into(),
            namespaced: true,
        };
        assert_eq!(
            part_relative_key(&rt, 0, false),
            "resources/core/v1/configmaps.jsonl.zst"
        );
        assert_eq!(
            part_relative_key(&rt, 1, true),
            "resources/core/v1/configmaps.2.jsonl.zst.age"
        );
        assert_eq!(manifest_key("b1"), "backups/b1/manifest.json");
        assert!(valid_id("shop-20261128-091500-ab12-backup"));
        assert!(!valid_id("../x"));
        assert!(!valid_id("a/b"));
    }
}
