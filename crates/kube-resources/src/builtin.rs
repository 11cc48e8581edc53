//! The resource types every Kubernetes API server serves without a CRD, as data: one
//! row per type, following the real API (kind, plural, scope, short names,
//! subresources). The sandbox serves them; lifeboat's `rbac` names them without a
//! cluster.

use crate::ResourceType;

/// A built-in resource type and what discovery says of it besides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BuiltInType {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    /// The plural resource name (`deployments`).
    pub resource: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    /// Subresources served (`status`, `scale`, `log`).
    pub subresources: &'static [&'static str],
}

impl BuiltInType {
    pub fn resource_type(&self) -> ResourceType {
        ResourceType {
            group: self.group.to_string(),
            version: self.version.to_string(),
            resource: self.resource.to_string(),
            kind: self.kind.to_string(),
            namespaced: self.namespaced,
        }
    }
}

/// Every built-in type, in discovery order.
pub fn built_in() -> impl Iterator<Item = BuiltInType> {
    BUILT_IN.iter().map(
        |&(group, version, kind, resource, namespaced, short_names, subresources)| BuiltInType {
            group,
            version,
            kind,
            resource,
            namespaced,
            short_names,
            subresources,
        },
    )
}

/// (group, version, kind, plural, namespaced, short names, subresources)
type Row = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    bool,
    &'static [&'static str],
    &'static [&'static str],
);

const STATUS: &[&str] = &["status"];
const SCALABLE: &[&str] = &["status", "scale"];

/// The built-in types.
const BUILT_IN: &[Row] = &[
    ("", "v1", "Namespace", "namespaces", false, &["ns"], STATUS),
    ("", "v1", "Node", "nodes", false, &["no"], STATUS),
    (
        "",
        "v1",
        "ReplicationController",
        "replicationcontrollers",
        true,
        &["rc"],
        SCALABLE,
    ),
    ("", "v1", "ConfigMap", "configmaps", true, &["cm"], &[]),
    ("", "v1", "Secret", "secrets", true, &[], &[]),
    ("", "v1", "Service", "services", true, &["svc"], STATUS),
    (
        "",
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        true,
        &["sa"],
        &[],
    ),
    (
        "",
        "v1",
        "PersistentVolume",
        "persistentvolumes",
        false,
        &["pv"],
        STATUS,
    ),
    (
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        true,
        &["pvc"],
        STATUS,
    ),
    ("", "v1", "Pod", "pods", true, &["po"], &["status", "log"]),
    ("", "v1", "Event", "events", true, &["ev"], &[]),
    ("", "v1", "Endpoints", "endpoints", true, &["ep"], &[]),
    (
        "",
        "v1",
        "ResourceQuota",
        "resourcequotas",
        true,
        &["quota"],
        STATUS,
    ),
    (
        "",
        "v1",
        "LimitRange",
        "limitranges",
        true,
        &["limits"],
        &[],
    ),
    (
        "apps",
        "v1",
        "Deployment",
        "deployments",
        true,
        &["deploy"],
        SCALABLE,
    ),
    (
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
        true,
        &["sts"],
        SCALABLE,
    ),
    (
        "apps",
        "v1",
        "DaemonSet",
        "daemonsets",
        true,
        &["ds"],
        STATUS,
    ),
    (
        "apps",
        "v1",
        "ReplicaSet",
        "replicasets",
        true,
        &["rs"],
        SCALABLE,
    ),
    (
        "apps",
        "v1",
        "ControllerRevision",
        "controllerrevisions",
        true,
        &[],
        &[],
    ),
    ("batch", "v1", "Job", "jobs", true, &[], STATUS),
    ("batch", "v1", "CronJob", "cronjobs", true, &["cj"], STATUS),
    (
        "networking.k8s.io",
        "v1",
        "Ingress",
        "ingresses",
        true,
        &["ing"],
        STATUS,
    ),
    (
        "networking.k8s.io",
        "v1",
        "IngressClass",
        "ingressclasses",
        false,
        &[],
        &[],
    ),
    (
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        "networkpolicies",
        true,
        &["netpol"],
        &[],
    ),
    (
        "discovery.k8s.io",
        "v1",
        "EndpointSlice",
        "endpointslices",
        true,
        &[],
        &[],
    ),
    ("events.k8s.io", "v1", "Event", "events", true, &["ev"], &[]),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "Role",
        "roles",
        true,
        &[],
        &[],
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        true,
        &[],
        &[],
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
        false,
        &[],
        &[],
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        false,
        &[],
        &[],
    ),
    (
        "storage.k8s.io",
        "v1",
        "StorageClass",
        "storageclasses",
        false,
        &["sc"],
        &[],
    ),
    (
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        false,
        &["crd", "crds"],
        STATUS,
    ),
    (
        "coordination.k8s.io",
        "v1",
        "Lease",
        "leases",
        true,
        &[],
        &[],
    ),
    (
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        true,
        &["pdb"],
        STATUS,
    ),
    (
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        true,
        &["hpa"],
        STATUS,
    ),
    (
        "scheduling.k8s.io",
        "v1",
        "PriorityClass",
        "priorityclasses",
        false,
        &["pc"],
        &[],
    ),
    (
        "node.k8s.io",
        "v1",
        "RuntimeClass",
        "runtimeclasses",
        false,
        &[],
        &[],
    ),
    // Stored and served; the sandbox calls no webhook and enforces no policy
    // (docs/sandbox.md).
    (
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations",
        false,
        &[],
        &[],
    ),
    (
        "admissionregistration.k8s.io",
        "v1",
        "MutatingWebhookConfiguration",
        "mutatingwebhookconfigurations",
        false,
        &[],
        &[],
    ),
    (
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingAdmissionPolicy",
        "validatingadmissionpolicies",
        false,
        &[],
        STATUS,
    ),
    (
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingAdmissionPolicyBinding",
        "validatingadmissionpolicybindings",
        false,
        &[],
        &[],
    ),
    // Stored; the sandbox aggregates no API server behind them.
    (
        "apiregistration.k8s.io",
        "v1",
        "APIService",
        "apiservices",
        false,
        &[],
        STATUS,
    ),
    (
        "snapshot.storage.k8s.io",
        "v1",
        "VolumeSnapshot",
        "volumesnapshots",
        true,
        &["vs"],
        STATUS,
    ),
    (
        "snapshot.storage.k8s.io",
        "v1",
        "VolumeSnapshotClass",
        "volumesnapshotclasses",
        false,
        &["vsclass", "vsclasses"],
        &[],
    ),
    (
        "snapshot.storage.k8s.io",
        "v1",
        "VolumeSnapshotContent",
        "volumesnapshotcontents",
        false,
        &["vsc", "vscs"],
        STATUS,
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_follows_the_real_api() {
        let find =
            |group: &str, kind: &str| built_in().find(|t| t.group == group && t.kind == kind);
        let d = find("apps", "Deployment").map(|t| t.resource_type());
        assert_eq!(d.map(|t| t.qualified()), Some("deployments.apps".into()));
        assert_eq!(find("", "Namespace").map(|t| t.namespaced), Some(false));
        assert!(find("apps", "ConfigMap").is_none());
        let mut seen = std::collections::HashSet::new();
        for t in built_in() {
            assert!(seen.insert((t.group, t.resource)), "{} twice", t.resource);
            assert_eq!(t.resource, t.resource.to_ascii_lowercase());
        }
    }
}
