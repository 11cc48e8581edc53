//! Which objects a backup or restore takes: namespace globs, resource names
//! (`resource` or `resource.group`) to include or exclude. One definition for both, so
//! a filter means the same thing at backup and at restore.

use super::ResourceType;

/// A shell-style glob: `*` matches any run of characters, `?` one character.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Glob(String);

impl Glob {
    pub fn new(pattern: &str) -> Glob {
        Glob(pattern.to_string())
    }

    pub fn matches(&self, text: &str) -> bool {
        let p: Vec<char> = self.0.chars().collect();
        let t: Vec<char> = text.chars().collect();
        // Iterative matcher with one backtrack point for the last `*`.
        let (mut pi, mut ti) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while ti < t.len() {
            if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
                pi += 1;
                ti += 1;
            } else if pi < p.len() && p[pi] == '*' {
                star = Some((pi, ti));
                pi += 1;
            } else if let Some((sp, st)) = star {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            } else {
                return false;
            }
        }
        p[pi..].iter().all(|&c| c == '*')
    }
}

/// Namespaces selected by include and exclude globs (no include: all).
#[derive(Clone, Debug, Default)]
pub struct NamespaceFilter {
    include: Vec<Glob>,
    exclude: Vec<Glob>,
}

impl NamespaceFilter {
    pub fn new(include: &[String], exclude: &[String]) -> NamespaceFilter {
        NamespaceFilter {
            include: include.iter().map(|g| Glob::new(g)).collect(),
            exclude: exclude.iter().map(|g| Glob::new(g)).collect(),
        }
    }

    /// Whether every namespace is selected (no include list, no exclusions).
    pub fn selects_all(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }

    pub fn matches(&self, namespace: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|g| g.matches(namespace)))
            && !self.exclude.iter().any(|g| g.matches(namespace))
    }
}

/// Resource types selected by name: `deployments`, `deployments.apps`, or a glob of
/// either.
#[derive(Clone, Debug, Default)]
pub struct ResourceFilter {
    include: Vec<Glob>,
    exclude: Vec<Glob>,
}

impl ResourceFilter {
    pub fn new(include: &[String], exclude: &[String]) -> ResourceFilter {
        let globs = |v: &[String]| {
            v.iter()
                .map(|g| Glob::new(&g.to_ascii_lowercase()))
                .collect()
        };
        ResourceFilter {
            include: globs(include),
            exclude: globs(exclude),
        }
    }

    /// Whether a resource type is named by the include list (when there is one) and not
    /// by the exclude list.
    pub fn matches(&self, rtype: &ResourceType) -> bool {
        let names = [rtype.resource.clone(), rtype.qualified()];
        let named = |globs: &[Glob]| globs.iter().any(|g| names.iter().any(|n| g.matches(n)));
        (self.include.is_empty() || named(&self.include)) && !named(&self.exclude)
    }

    /// Whether the include list names this type explicitly (it was asked for).
    pub fn includes_explicitly(&self, rtype: &ResourceType) -> bool {
        let names = [rtype.resource.clone(), rtype.qualified()];
        self.include
            .iter()
            .any(|g| names.iter().any(|n| g.matches(n)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(group: &str, resource: &str) -> ResourceType {
        ResourceType::new(group, "v1", resource, "K", true)
    }

    #[test]
    fn globs_match_like_a_shell() {
        assert!(Glob::new("shop-*").matches("shop-eu"));
        assert!(Glob::new("shop-*").matches("shop-"));
        assert!(!Glob::new("shop-*").matches("shop"));
        assert!(Glob::new("*-prod").matches("a-b-prod"));
        assert!(Glob::new("a*b*c").matches("aXXbYYc"));
        assert!(!Glob::new("a*b*c").matches("aXXbYY"));
        assert!(Glob::new("t?st").matches("test"));
        assert!(Glob::new("*").matches(""));
        assert!(!Glob::new("shop").matches("shopping"));
    }

    #[test]
    fn namespace_filter_applies_include_then_exclude() {
        let f = NamespaceFilter::new(&["shop-*".into()], &["shop-test".into()]);
        assert!(f.matches("shop-eu"));
        assert!(!f.matches("shop-test"));
        assert!(!f.matches("edge"));
        assert!(NamespaceFilter::new(&[], &[]).selects_all());
        assert!(!NamespaceFilter::new(&[], &["kube-*".into()]).matches("kube-system"));
    }

    #[test]
    fn resource_filter_takes_plain_and_group_qualified_names() {
        let f = ResourceFilter::new(&[], &["events".into(), "events.events.k8s.io".into()]);
        assert!(!f.matches(&rt("", "events")));
        assert!(!f.matches(&rt("events.k8s.io", "events")));
        assert!(f.matches(&rt("apps", "deployments")));
        let only = ResourceFilter::new(&["deployments.apps".into(), "ConfigMaps".into()], &[]);
        assert!(only.matches(&rt("apps", "deployments")));
        assert!(only.matches(&rt("", "configmaps")));
        assert!(!only.matches(&rt("", "secrets")));
        assert!(only.includes_explicitly(&rt("apps", "deployments")));
    }
}
