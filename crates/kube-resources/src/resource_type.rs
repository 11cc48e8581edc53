//! A resource type (`deployments` in `apps/v1`) and the ways users name one: a kind,
//! a plural or singular resource name, `resource.group`; in any case.

use serde::{Deserialize, Serialize};

/// A resource type: `deployments` in `apps/v1`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ResourceType {
    /// Empty for the core group.
    pub group: String,
    pub version: String,
    /// The plural resource name used in URLs (`deployments`).
    pub resource: String,
    pub kind: String,
    pub namespaced: bool,
}

impl ResourceType {
    pub fn new(group: &str, version: &str, resource: &str, kind: &str, namespaced: bool) -> Self {
        ResourceType {
            group: group.to_string(),
            version: version.to_string(),
            resource: resource.to_string(),
            kind: kind.to_string(),
            namespaced,
        }
    }

    /// `apps/v1`, or `v1` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `deployments.apps`, or `configmaps` for the core group: how users name it.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.resource.clone()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }

    /// The collection path, in one namespace or across all (or cluster-scoped).
    pub fn collection_path(&self, namespace: Option<&str>) -> String {
        let root = if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        };
        match namespace {
            Some(ns) if self.namespaced => format!("{root}/namespaces/{ns}/{}", self.resource),
            _ => format!("{root}/{}", self.resource),
        }
    }

    pub fn is_crd(&self) -> bool {
        self.group == "apiextensions.k8s.io" && self.resource == "customresourcedefinitions"
    }

    /// Whether a user who writes `name` means this type: its kind, its plural or
    /// singular resource name, or `resource.group`, in any case (as kubectl reads it).
    pub fn answers_to(&self, name: &str) -> bool {
        let wanted = name.to_ascii_lowercase();
        self.kind.to_ascii_lowercase() == wanted
            || self.resource == wanted
            || self.resource.strip_suffix('s') == Some(wanted.as_str())
            || self.qualified() == wanted
    }

    /// The order in which types that answer to the same name are preferred: built-in
    /// groups first, then by group (as discovery ranks them).
    pub fn precedence(&self) -> (bool, String) {
        (!is_builtin_group(&self.group), self.group.clone())
    }
}

/// Groups served by the API server itself rather than by CRDs.
pub fn is_builtin_group(group: &str) -> bool {
    group.is_empty()
        || !group.contains('.')
        || group.ends_with(".k8s.io") && !group.starts_with("snapshot.")
}

/// `apps/v1` → (`apps`, `v1`); `v1` → (``, `v1`).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployments() -> ResourceType {
        ResourceType::new("apps", "v1", "deployments", "Deployment", true)
    }

    #[test]
    fn names_users_write_for_a_type() {
        let d = deployments();
        for name in [
            "Deployment",
            "deployment",
            "deployments",
            "deployments.apps",
        ] {
            assert!(d.answers_to(name), "{name}");
        }
        assert!(!d.answers_to("deploy.apps"));
        assert_eq!(d.api_version(), "apps/v1");
        assert_eq!(
            d.collection_path(Some("shop")),
            "/apis/apps/v1/namespaces/shop/deployments"
        );
        assert_eq!(split_api_version("v1"), ("", "v1"));
    }

    #[test]
    fn built_in_groups_come_before_custom_ones() {
        assert!(is_builtin_group("") && is_builtin_group("apps"));
        assert!(is_builtin_group("events.k8s.io"));
        assert!(!is_builtin_group("snapshot.storage.k8s.io"));
        assert!(!is_builtin_group("stable.example.com"));
    }
}
