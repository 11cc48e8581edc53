//! Resource types known without a cluster: Kubernetes' built-in kinds (the table the
//! sandbox serves, which follows the real API) plus the CRDs a runbook applies itself.
//! A kind is resolved as `discovery::resolve` does on a cluster (kind, plural or
//! singular, any case; built-in groups first), so the rules name what the action
//! will call. An unknown kind gets the plural Kubernetes itself would guess.

use kube_resources::{ResourceType, is_builtin_group};
use serde_json::Value;

use super::need::{ANY, Resource};

/// A kind as an action names it, resolved.
#[derive(Clone, Debug)]
pub struct ResolvedKind {
    pub resource: Resource,
    /// The kind, as the table spells it (or as written when unknown).
    pub kind: String,
    /// `None` when the kind is not known: its scope then follows the step's inputs.
    pub namespaced: Option<bool>,
    /// Set when the resource name had to be guessed.
    pub guess: Option<String>,
}

/// The resource types known statically.
#[derive(Clone, Debug)]
pub struct KindTable {
    types: Vec<ResourceType>,
}

impl KindTable {
    /// Kubernetes' built-in kinds.
    pub fn builtin() -> KindTable {
        KindTable {
            types: kube_resources::builtin::built_in()
                .map(|t| t.resource_type())
                .collect(),
        }
    }

    /// Learns the custom resource type a CustomResourceDefinition manifest defines.
    pub fn learn_crd(&mut self, crd: &Value) {
        let text = |p: &str| crd.pointer(p).and_then(Value::as_str).map(str::to_string);
        let (Some(group), Some(kind), Some(plural)) = (
            text("/spec/group"),
            text("/spec/names/kind"),
            text("/spec/names/plural"),
        ) else {
            return;
        };
        let namespaced = text("/spec/scope").as_deref() != Some("Cluster");
        let version = text("/spec/versions/0/name").unwrap_or_default();
        self.types
            .retain(|t| !(t.group == group && t.resource == plural));
        self.types.push(ResourceType {
            group,
            version,
            resource: plural,
            kind,
            namespaced,
        });
    }

    /// The type a user means by `kind` (a kind, or a plural or singular resource name),
    /// optionally pinned to `api_version` (`group/version`, `v1`, or a group).
    pub fn resolve(&self, kind: &str, api_version: Option<&str>) -> ResolvedKind {
        let group_of = |v: &str| {
            v.split_once('/')
                .map_or_else(|| if v.contains('.') { v } else { "" }, |(g, _)| g)
                .to_string()
        };
        let found = self
            .types
            .iter()
            .filter(|t| {
                t.answers_to(kind)
                    && api_version.is_none_or(|v| group_of(v) == t.group || v == t.group)
            })
            .min_by_key(|t| t.precedence());
        if let Some(t) = found {
            return ResolvedKind {
                resource: Resource::new(&t.group, &t.resource),
                kind: t.kind.clone(),
                namespaced: Some(t.namespaced),
                guess: None,
            };
        }
        let plural = guess_plural(kind);
        let (group, where_) = match api_version {
            Some(v) => (group_of(v), format!("in `{v}`")),
            None => (ANY.to_string(), "in any API group".to_string()),
        };
        ResolvedKind {
            guess: Some(format!(
                "`{kind}` is not a built-in kind: its resource is taken as `{plural}` {where_}; check with `kubectl api-resources`"
            )),
            resource: Resource::new(&group, &plural),
            kind: kind.to_string(),
            namespaced: None,
        }
    }

    /// Whether the resource `group`/`plural` is namespaced, when known.
    pub fn namespaced(&self, resource: &Resource) -> Option<bool> {
        let matching: Vec<&ResourceType> = self
            .types
            .iter()
            .filter(|t| {
                t.resource == resource.resource
                    && (resource.group == ANY || t.group == resource.group)
            })
            .collect();
        let first = matching.first()?;
        matching
            .iter()
            .all(|t| t.namespaced == first.namespaced)
            .then_some(first.namespaced)
    }

    /// The resource a backup or restore filter entry names: `resource` (taken as the
    /// built-in type of that name, or any group when none is built in) or
    /// `resource.group`. `None` for a glob.
    pub fn filter_entry(&self, entry: &str) -> Option<Resource> {
        let entry = entry.trim().to_ascii_lowercase();
        if entry.is_empty() || entry.contains(['*', '?']) {
            return None;
        }
        let (resource, group) = match entry.split_once('.') {
            Some((r, g)) => (r.to_string(), Some(g.to_string())),
            None => (entry.clone(), None),
        };
        let group = match group {
            Some(g) => g,
            None => self
                .types
                .iter()
                .filter(|t| t.resource == resource)
                .map(|t| t.group.clone())
                .min_by_key(|g| (!is_builtin_group(g), g.clone()))
                .unwrap_or_else(|| ANY.to_string()),
        };
        Some(Resource::new(&group, &resource))
    }
}

/// The plural Kubernetes guesses for a kind (`UnsafeGuessKindToResource`): lowercase,
/// `-s` → `-ses`, `-y` → `-ies`, else `-s`. A name already lowercase is taken as written.
pub fn guess_plural(kind: &str) -> String {
    if kind.chars().all(|c| !c.is_ascii_uppercase()) {
        return kind.to_string();
    }
    let lower = kind.to_ascii_lowercase();
    if lower.ends_with('s') {
        format!("{lower}es")
    } else if let Some(stem) = lower.strip_suffix('y') {
        format!("{stem}ies")
    } else {
        format!("{lower}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_kinds_resolve_as_discovery_does() {
        let t = KindTable::builtin();
        let d = t.resolve("Deployment", None);
        assert_eq!(d.resource, Resource::new("apps", "deployments"));
        assert_eq!(d.namespaced, Some(true));
        let cm = t.resolve("configmap", Some("v1"));
        assert_eq!(cm.resource, Resource::new("", "configmaps"));
        let ns = t.resolve("Namespace", None);
        assert_eq!(ns.namespaced, Some(false));
        // The core group wins over events.k8s.io, as on a cluster.
        assert_eq!(t.resolve("Event", None).resource.group, "");
        assert_eq!(
            t.resolve("Event", Some("events.k8s.io/v1")).resource.group,
            "events.k8s.io"
        );
    }

    #[test]
    fn unknown_kinds_get_the_guessed_plural_and_custom_ones_are_learned() {
        let mut t = KindTable::builtin();
        let cron = t.resolve("CronTab", Some("stable.example.com/v1"));
        assert_eq!(
            cron.resource,
            Resource::new("stable.example.com", "crontabs")
        );
        assert!(cron.guess.is_some() && cron.namespaced.is_none());
        assert_eq!(
            t.resolve("Policy", None).resource,
            Resource::new("*", "policies")
        );
        assert_eq!(guess_plural("Ingress"), "ingresses");
        t.learn_crd(&serde_json::json!({
            "spec": { "group": "stable.example.com", "scope": "Cluster",
                      "names": { "kind": "CronTab", "plural": "crontabz" } }
        }));
        let learned = t.resolve("CronTab", Some("stable.example.com/v1"));
        assert_eq!(learned.resource.resource, "crontabz");
        assert_eq!(learned.namespaced, Some(false));
    }

    #[test]
    fn filter_entries_name_built_in_types_or_qualified_ones() {
        let t = KindTable::builtin();
        assert_eq!(
            t.filter_entry("Deployments"),
            Some(Resource::new("apps", "deployments"))
        );
        assert_eq!(t.filter_entry("events"), Some(Resource::new("", "events")));
        assert_eq!(
            t.filter_entry("events.events.k8s.io"),
            Some(Resource::new("events.k8s.io", "events"))
        );
        assert_eq!(
            t.filter_entry("widgets"),
            Some(Resource::new("*", "widgets"))
        );
        assert_eq!(t.filter_entry("deploy*"), None);
        assert_eq!(t.namespaced(&Resource::new("", "namespaces")), Some(false));
        assert_eq!(t.namespaced(&Resource::new("*", "widgets")), None);
    }
}
