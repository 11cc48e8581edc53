//! The resource types the sandbox serves: the built-in ones (kube-resources' table),
//! plus the types that established CRDs add at run time. Discovery documents and
//! request routing both read this catalog.

use kube_resources::builtin::built_in;
pub use kube_resources::{ResourceType, split_api_version};

/// One resource type as the sandbox serves it: the type, and what discovery says of
/// it besides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServedType {
    pub rtype: ResourceType,
    pub singular: String,
    pub short_names: Vec<String>,
    /// Subresources served (`status`, `scale`).
    pub subresources: Vec<&'static str>,
    /// Added by a CustomResourceDefinition (as opposed to built in).
    pub custom: bool,
}

/// A served type reads as its resource type (`t.group`, `t.resource`, `t.kind`).
impl std::ops::Deref for ServedType {
    type Target = ResourceType;
    fn deref(&self) -> &ResourceType {
        &self.rtype
    }
}

/// Every type the sandbox serves.
#[derive(Clone, Debug)]
pub struct Catalog {
    types: Vec<ServedType>,
}

impl Default for Catalog {
    fn default() -> Self {
        let types = built_in()
            .map(|t| ServedType {
                rtype: t.resource_type(),
                singular: t.kind.to_lowercase(),
                short_names: t.short_names.iter().map(|s| s.to_string()).collect(),
                subresources: t.subresources.to_vec(),
                custom: false,
            })
            .collect();
        Catalog { types }
    }
}

impl Catalog {
    pub fn types(&self) -> &[ServedType] {
        &self.types
    }

    /// The type served at `/{group}/{version}/{plural}`.
    pub fn by_path(&self, group: &str, version: &str, plural: &str) -> Option<&ServedType> {
        self.types
            .iter()
            .find(|t| t.group == group && t.version == version && t.resource == plural)
    }

    /// The types served under one group-version; `None` when there are none.
    pub fn in_group_version(&self, group: &str, version: &str) -> Option<Vec<&ServedType>> {
        let types: Vec<&ServedType> = self
            .types
            .iter()
            .filter(|t| t.group == group && t.version == version)
            .collect();
        (!types.is_empty()).then_some(types)
    }

    /// The type of an object with this `apiVersion` and `kind`.
    pub fn by_kind(&self, api_version: &str, kind: &str) -> Option<&ServedType> {
        let (group, version) = split_api_version(api_version);
        self.types
            .iter()
            .find(|t| t.group == group && t.version == version && t.kind == kind)
    }

    /// Groups in order of first appearance, each with its versions.
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for t in &self.types {
            match out.iter_mut().find(|(g, _)| *g == t.group) {
                Some((_, versions)) if !versions.contains(&t.version) => {
                    versions.push(t.version.clone())
                }
                Some(_) => {}
                None => out.push((t.group.clone(), vec![t.version.clone()])),
            }
        }
        out
    }

    /// Serves a custom resource type (when its CRD is established). An existing type
    /// with the same group, version and plural is replaced.
    pub fn add(&mut self, t: ServedType) {
        self.types.retain(|e| {
            !(e.group == t.group && e.version == t.version && e.resource == t.resource)
        });
        self.types.push(t);
    }

    /// Stops serving the custom types of a CRD (`plural.group`); built-ins stay.
    pub fn remove_custom(&mut self, group: &str, plural: &str) {
        self.types
            .retain(|t| !(t.custom && t.group == group && t.resource == plural));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_types_by_path_and_kind() {
        let c = Catalog::default();
        assert_eq!(
            c.by_path("apps", "v1", "deployments")
                .map(|t| t.kind.as_str()),
            Some("Deployment")
        );
        assert_eq!(
            c.by_kind("v1", "ConfigMap").map(|t| t.resource.as_str()),
            Some("configmaps")
        );
        assert!(c.by_kind("apps/v1", "ConfigMap").is_none());
        assert_eq!(
            c.groups().first(),
            Some(&(String::new(), vec!["v1".to_string()]))
        );
    }
}
