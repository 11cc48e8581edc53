//! Files of ordinary manifests, as `kubectl apply -f` reads them: a file, or every
//! `.yaml`, `.yml` and `.json` file under a folder (recursively, in name order);
//! multi-document YAML; `kind: List` flattened into its items.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// A manifest file that could not be read.
#[derive(Debug, Clone, thiserror::Error)]
#[error("failed to read manifests from {}: {message}", path.display())]
pub struct ManifestError {
    pub path: PathBuf,
    pub message: String,
}

/// One manifest and the file it came from.
pub struct Manifest {
    pub file: PathBuf,
    pub object: Value,
}

/// Reads every `.yaml`, `.yml` and `.json` file under `dir` (recursively, in name
/// order), or `dir` itself when it is a file.
pub fn read_manifests(dir: &Path) -> Result<Vec<Manifest>, ManifestError> {
    let mut files = Vec::new();
    collect_files(dir, &mut files)?;
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|e| ManifestError {
            path: file.clone(),
            message: format!("cannot read it: {e}"),
        })?;
        let docs: Vec<Value> = serde_saphyr::from_multiple(&text).map_err(|e| ManifestError {
            path: file.clone(),
            message: format!("invalid YAML: {}", e.without_snippet()),
        })?;
        for doc in docs {
            flatten(doc, &file, &mut out);
        }
    }
    Ok(out)
}

fn flatten(doc: Value, file: &Path, out: &mut Vec<Manifest>) {
    if doc.is_null() {
        return;
    }
    if doc.get("kind").and_then(Value::as_str) == Some("List")
        && let Some(items) = doc.get("items").and_then(Value::as_array)
    {
        for item in items {
            flatten(item.clone(), file, out);
        }
        return;
    }
    out.push(Manifest {
        file: file.to_path_buf(),
        object: doc,
    });
}

fn collect_files(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), ManifestError> {
    let meta = std::fs::metadata(path).map_err(|e| ManifestError {
        path: path.to_path_buf(),
        message: format!("cannot read it: {e}"),
    })?;
    if meta.is_file() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| ManifestError {
            path: path.to_path_buf(),
            message: format!("cannot list it: {e}"),
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            collect_files(&entry, out)?;
        } else if entry
            .extension()
            .is_some_and(|x| x == "yaml" || x == "yml" || x == "json")
        {
            out.push(entry);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_are_read_in_name_order_and_lists_flattened() {
        let dir =
            std::env::temp_dir().join(format!("kube-resources-manifests-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("b")).unwrap();
        std::fs::write(dir.join("a.yaml"), "kind: List\nitems:\n- {kind: ConfigMap, metadata: {name: one}}\n- {kind: ConfigMap, metadata: {name: two}}\n").unwrap();
        std::fs::write(
            dir.join("b/c.yml"),
            "kind: Secret\n---\n---\nkind: Service\n",
        )
        .unwrap();
        std::fs::write(dir.join("notes.txt"), "not a manifest").unwrap();
        let kinds: Vec<String> = read_manifests(&dir)
            .unwrap()
            .iter()
            .map(|m| m.object["kind"].as_str().unwrap_or("").to_string())
            .collect();
        assert_eq!(kinds, ["ConfigMap", "ConfigMap", "Secret", "Service"]);
        std::fs::write(dir.join("b/d.yaml"), "kind: [").unwrap();
        let e = read_manifests(&dir)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("d.yaml") && e.contains("invalid YAML"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
