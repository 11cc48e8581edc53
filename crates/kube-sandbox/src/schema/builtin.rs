//! The schemas of the built-in kinds, derived from k8s-openapi's `JsonSchema`
//! implementations (in OpenAPI 3 form, as the API server publishes them): the catalog's
//! kinds mapped to their k8s-openapi types, generated and compiled once per process on
//! first use. Kinds k8s-openapi does not have (the VolumeSnapshot family, CRDs in real
//! clusters) have no schema here.

use std::collections::HashMap;
use std::sync::LazyLock;

use k8s_openapi::api::{
    admissionregistration, apps, autoscaling, batch, coordination, core, discovery, events,
    networking, node, policy, rbac, scheduling, storage,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration;
use schemars::JsonSchema;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Map, Value};

use super::node::{Arena, BuiltinCompiler, Id, reference};

/// The built-in schemas: definitions as published, and compiled.
pub struct Registry {
    /// Every definition by name (`io.k8s.api.apps.v1.Deployment`), with `$ref`s to
    /// `#/components/schemas/...`.
    pub definitions: Map<String, Value>,
    pub arena: Arena,
    /// The node of `io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta`.
    pub object_meta: Id,
    /// kind → (group, version, definition name).
    kinds: HashMap<String, Vec<(String, String, String)>>,
    nodes: HashMap<String, Id>,
}

impl Registry {
    /// The node of a built-in kind.
    pub fn kind(&self, group: &str, version: &str, kind: &str) -> Option<Id> {
        let name = self.definition_of(group, version, kind)?;
        self.nodes.get(name).copied()
    }

    /// The definition name of a built-in kind.
    pub fn definition_of(&self, group: &str, version: &str, kind: &str) -> Option<&str> {
        self.kinds
            .get(kind)?
            .iter()
            .find(|(g, v, _)| g == group && v == version)
            .map(|(_, _, name)| name.as_str())
    }
}

/// The registry, built on first use.
pub fn registry() -> &'static Registry {
    static REGISTRY: LazyLock<Registry> = LazyLock::new(build);
    &REGISTRY
}

fn register<T: JsonSchema + k8s_openapi::Resource>(
    generator: &mut SchemaGenerator,
    kinds: &mut HashMap<String, Vec<(String, String, String)>>,
) {
    let schema = generator.subschema_for::<T>();
    if let Some(name) = reference(schema.as_value()) {
        kinds.entry(T::KIND.to_string()).or_default().push((
            T::GROUP.to_string(),
            T::VERSION.to_string(),
            name.to_string(),
        ));
    }
}

fn build() -> Registry {
    let mut generator = SchemaSettings::openapi3().into_generator();
    let mut kinds = HashMap::new();
    macro_rules! kinds {
        ($($t:ty),* $(,)?) => { $( register::<$t>(&mut generator, &mut kinds); )* };
    }
    kinds!(
        core::v1::Namespace,
        core::v1::Node,
        core::v1::ReplicationController,
        core::v1::ConfigMap,
        core::v1::Secret,
        core::v1::Service,
        core::v1::ServiceAccount,
        core::v1::PersistentVolume,
        core::v1::PersistentVolumeClaim,
        core::v1::Pod,
        core::v1::Event,
        core::v1::Endpoints,
        core::v1::ResourceQuota,
        core::v1::LimitRange,
        apps::v1::Deployment,
        apps::v1::StatefulSet,
        apps::v1::DaemonSet,
        apps::v1::ReplicaSet,
        apps::v1::ControllerRevision,
        batch::v1::Job,
        batch::v1::CronJob,
        networking::v1::Ingress,
        networking::v1::IngressClass,
        networking::v1::NetworkPolicy,
        discovery::v1::EndpointSlice,
        events::v1::Event,
        rbac::v1::Role,
        rbac::v1::RoleBinding,
        rbac::v1::ClusterRole,
        rbac::v1::ClusterRoleBinding,
        storage::v1::StorageClass,
        apiextensions::v1::CustomResourceDefinition,
        coordination::v1::Lease,
        policy::v1::PodDisruptionBudget,
        autoscaling::v2::HorizontalPodAutoscaler,
        scheduling::v1::PriorityClass,
        node::v1::RuntimeClass,
        admissionregistration::v1::ValidatingWebhookConfiguration,
        admissionregistration::v1::MutatingWebhookConfiguration,
        admissionregistration::v1::ValidatingAdmissionPolicy,
        admissionregistration::v1::ValidatingAdmissionPolicyBinding,
        apiregistration::v1::APIService,
    );
    let meta = generator.subschema_for::<ObjectMeta>();
    let meta_name = reference(meta.as_value()).unwrap_or_default().to_string();
    let mut definitions = generator.take_definitions(true);
    // k8s-openapi requires `metadata` (it is not optional in Rust); the API server's
    // schemas do not.
    for (_, _, name) in kinds.values().flatten() {
        if let Some(Value::Object(def)) = definitions.get_mut(name) {
            if let Some(Value::Array(required)) = def.get_mut("required") {
                required.retain(|r| r != "metadata");
            }
            if def
                .get("required")
                .and_then(Value::as_array)
                .is_some_and(Vec::is_empty)
            {
                def.remove("required");
            }
        }
    }
    let mut compiler = BuiltinCompiler::new(&definitions);
    for name in definitions.keys() {
        compiler.definition(name);
    }
    let object_meta = compiler.definition(&meta_name);
    let (arena, nodes) = compiler.finish();
    Registry {
        definitions,
        arena,
        object_meta,
        kinds,
        nodes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;

    #[test]
    fn every_catalog_kind_but_the_snapshot_family_has_a_schema() {
        let registry = registry();
        let missing: Vec<String> = Catalog::default()
            .types()
            .iter()
            .filter(|t| registry.kind(&t.group, &t.version, &t.kind).is_none())
            .map(|t| t.kind.clone())
            .collect();
        assert_eq!(
            missing,
            [
                "VolumeSnapshot",
                "VolumeSnapshotClass",
                "VolumeSnapshotContent"
            ]
        );
        assert!(
            registry
                .definitions
                .contains_key("io.k8s.api.apps.v1.DeploymentSpec")
        );
    }
}
