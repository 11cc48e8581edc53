//! Which objects an action means: resolves a kind (optionally pinned to an
//! `api_version`) to the resource type the cluster serves, checks that a namespaced
//! type was given a namespace, and finds the object named, the objects matching a
//! label selector, or every object of the type. The `wait`, `scale`, `patch` and
//! `delete` actions go through here, so they agree on what is asked of the user and
//! on how "nothing matched" is said.

use serde_json::Value;

use super::{ClusterConn, KubeError, ResourceType, discovery, objects};

/// The objects of a kind an action acts on, as the user named them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Which {
    /// One object by name.
    Name(String),
    /// Every object matching a label selector.
    Selector(String),
    /// Every object of the type (in the namespace, for a namespaced type).
    All,
}

impl Which {
    /// From an action's `name` and `selector` inputs, and `all` for an action that has
    /// an `all: true` input. Exactly one must be given: a runbook's checks see which
    /// keys are present, but `name: ~` is present and still names nothing.
    pub fn from_inputs(
        name: Option<&str>,
        selector: Option<&str>,
        all: bool,
    ) -> Result<Which, SelectError> {
        let inputs = if all {
            "`name`, `selector` or `all`"
        } else {
            "`name` or `selector`"
        };
        match (name, selector, all) {
            (Some(name), None, false) => Ok(Which::Name(name.to_string())),
            (None, Some(selector), false) => Ok(Which::Selector(selector.to_string())),
            (None, None, true) => Ok(Which::All),
            (None, None, false) => Err(SelectError::NoneGiven { inputs }),
            _ => Err(SelectError::SeveralGiven { inputs }),
        }
    }
}

/// What an action names: a kind, where, and which objects of it.
#[derive(Clone, Debug)]
pub struct Target {
    /// A kind such as `Deployment`, or a plural or singular resource name.
    pub kind: String,
    /// `group/version` (or `v1`), for an ambiguous kind or a custom resource.
    pub api_version: Option<String>,
    /// Required for a namespaced type; ignored for a cluster-scoped one.
    pub namespace: Option<String>,
    pub which: Which,
}

impl Target {
    /// The resource type the cluster serves for the kind, checked against the
    /// namespace given.
    pub async fn resolve(self, conn: &ClusterConn) -> Result<Selection, SelectError> {
        let rtype = discovery::resolve(conn, &self.kind, self.api_version.as_deref()).await?;
        Selection::new(rtype, self.namespace, self.which)
    }
}

/// A target resolved on a cluster: the resource type, the namespace to act in
/// (`None` for a cluster-scoped type), and which objects.
#[derive(Clone, Debug)]
pub struct Selection {
    rtype: ResourceType,
    namespace: Option<String>,
    which: Which,
}

impl Selection {
    /// Checks that a namespaced type has a namespace; drops the namespace of a
    /// cluster-scoped one.
    pub fn new(
        rtype: ResourceType,
        namespace: Option<String>,
        which: Which,
    ) -> Result<Selection, SelectError> {
        let namespace = match (rtype.namespaced, namespace) {
            (true, Some(ns)) => Some(ns),
            (true, None) => return Err(SelectError::NeedsNamespace { kind: rtype.kind }),
            (false, _) => None,
        };
        Ok(Selection {
            rtype,
            namespace,
            which,
        })
    }

    pub fn rtype(&self) -> &ResourceType {
        &self.rtype
    }

    /// The namespace to act in; `None` for a cluster-scoped type.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// The objects selected as they are now (none or one for a name).
    pub async fn objects(&self, conn: &ClusterConn) -> Result<Vec<Value>, KubeError> {
        let ns = self.namespace();
        match &self.which {
            Which::Name(name) => Ok(objects::get(conn, &self.rtype, ns, name)
                .await?
                .into_iter()
                .collect()),
            Which::Selector(sel) => objects::list_all(conn, &self.rtype, ns, Some(sel)).await,
            Which::All => objects::list_all(conn, &self.rtype, ns, None).await,
        }
    }

    /// The names of the objects selected. A name is given back without reading the
    /// object: the request made with it says whether it exists.
    pub async fn names(&self, conn: &ClusterConn) -> Result<Vec<String>, KubeError> {
        if let Which::Name(name) = &self.which {
            return Ok(vec![name.clone()]);
        }
        Ok(self
            .objects(conn)
            .await?
            .iter()
            .filter_map(|o| o.pointer("/metadata/name").and_then(Value::as_str))
            .map(str::to_string)
            .collect())
    }

    /// The error for a selection that matched nothing on `conn`.
    pub fn not_found(&self, conn: &ClusterConn) -> SelectError {
        self.not_found_on(conn.describe())
    }

    fn not_found_on(&self, cluster: String) -> SelectError {
        SelectError::NotFound {
            kind: self.rtype.kind.clone(),
            namespace: self.namespace.clone(),
            which: self.which.clone(),
            cluster,
        }
    }
}

/// Why the objects an action names could not be selected.
#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    #[error(transparent)]
    Kube(#[from] KubeError),
    #[error("{kind} is namespaced: give `namespace`")]
    NeedsNamespace { kind: String },
    #[error("one of {inputs} is required")]
    NoneGiven { inputs: &'static str },
    #[error("only one of {inputs} may be given")]
    SeveralGiven { inputs: &'static str },
    /// Nothing matched (for the actions to which that is an error).
    #[error("{}", not_found_message(kind, namespace.as_deref(), which, cluster))]
    NotFound {
        kind: String,
        namespace: Option<String>,
        which: Which,
        /// The cluster, as `ClusterConn::describe` names it.
        cluster: String,
    },
}

fn not_found_message(kind: &str, namespace: Option<&str>, which: &Which, cluster: &str) -> String {
    let within = namespace.map_or(String::new(), |ns| format!(" in namespace {ns}"));
    match which {
        Which::Name(name) => format!(
            "{kind} {} does not exist on {cluster}",
            objects::object_name(namespace, name)
        ),
        Which::Selector(sel) => format!("no {kind} matching `{sel}`{within} on {cluster}"),
        Which::All => format!("no {kind}{within} on {cluster}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rtype(kind: &str, namespaced: bool) -> ResourceType {
        ResourceType {
            group: String::new(),
            version: "v1".into(),
            resource: format!("{}s", kind.to_ascii_lowercase()),
            kind: kind.into(),
            namespaced,
        }
    }

    #[test]
    fn exactly_one_way_to_pick_objects() {
        assert_eq!(
            Which::from_inputs(Some("web"), None, false).ok(),
            Some(Which::Name("web".into()))
        );
        assert_eq!(
            Which::from_inputs(None, Some("tier=web"), false).ok(),
            Some(Which::Selector("tier=web".into()))
        );
        assert_eq!(Which::from_inputs(None, None, true).ok(), Some(Which::All));
        let none = Which::from_inputs(None, None, false).map_err(|e| e.to_string());
        assert_eq!(none, Err("one of `name` or `selector` is required".into()));
        let both = Which::from_inputs(Some("web"), Some("tier=web"), false);
        assert_eq!(
            both.map_err(|e| e.to_string()),
            Err("only one of `name` or `selector` may be given".into())
        );
        let with_all = Which::from_inputs(Some("web"), None, true);
        assert_eq!(
            with_all.map_err(|e| e.to_string()),
            Err("only one of `name`, `selector` or `all` may be given".into())
        );
    }

    #[test]
    fn a_namespaced_type_needs_a_namespace() {
        let e = Selection::new(rtype("ConfigMap", true), None, Which::All);
        let e = e.map(|_| ()).map_err(|e| e.to_string());
        assert_eq!(e, Err("ConfigMap is namespaced: give `namespace`".into()));
        let ok = Selection::new(rtype("ConfigMap", true), Some("edge".into()), Which::All);
        assert_eq!(
            ok.ok().as_ref().and_then(Selection::namespace),
            Some("edge")
        );
    }

    #[test]
    fn a_cluster_scoped_type_ignores_the_namespace() {
        let s = Selection::new(
            rtype("Namespace", false),
            Some("edge".into()),
            Which::Name("edge".into()),
        );
        let s = s.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.namespace(), None);
    }

    #[test]
    fn nothing_matched_says_what_was_looked_for_and_where() {
        let message = |kind: &str, namespaced: bool, which: Which| {
            let ns = namespaced.then(|| "shop".to_string());
            Selection::new(rtype(kind, namespaced), ns, which)
                .unwrap_or_else(|e| panic!("{e}"))
                .not_found_on("cluster `dr`".into())
                .to_string()
        };
        assert_eq!(
            message("Deployment", true, Which::Name("web".into())),
            "Deployment shop/web does not exist on cluster `dr`"
        );
        assert_eq!(
            message("Deployment", true, Which::Selector("tier=wbe".into())),
            "no Deployment matching `tier=wbe` in namespace shop on cluster `dr`"
        );
        assert_eq!(
            message("Deployment", true, Which::All),
            "no Deployment in namespace shop on cluster `dr`"
        );
        assert_eq!(
            message("Namespace", false, Which::Name("edge".into())),
            "Namespace edge does not exist on cluster `dr`"
        );
        assert_eq!(
            message("Namespace", false, Which::Selector("team=a".into())),
            "no Namespace matching `team=a` on cluster `dr`"
        );
    }
}
