//! The state behind the lock: uids, generated names, namespaces that must be open,
//! defaults and allocations on create (cluster IPs, node ports), and the object maps
//! with their indexes kept in step.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::crd::{crd_status, crd_types};
use super::{Inner, ObjectKey, Stored, TypeKey, meta_str, metadata_mut, type_key};
use crate::catalog::ServedType;
use crate::status::ApiError;

impl Inner {
    pub(super) fn uid(&mut self) -> String {
        self.uid_seed = self
            .uid_seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let a = self.uid_seed;
        let b = a.rotate_left(29) ^ 0x9E37_79B9_7F4A_7C15;
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            (a >> 32) as u32,
            (a >> 16) as u16,
            a as u16 & 0x0fff,
            (b as u16 & 0x3fff) | 0x8000,
            b >> 16 & 0xffff_ffff_ffff
        )
    }

    /// Five lowercase letters or digits, as generateName suffixes have.
    pub(super) fn random_suffix(&mut self) -> String {
        const CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        let mut n = self
            .uid()
            .bytes()
            .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
        (0..5)
            .map(|_| {
                let c = CHARS[(n % CHARS.len() as u64) as usize] as char;
                n /= CHARS.len() as u64;
                c
            })
            .collect()
    }

    pub(super) fn check_namespace_open(&self, ns: &str) -> Result<(), ApiError> {
        let ns_obj = self
            .objects
            .get(&(String::new(), "namespaces".to_string()))
            .and_then(|m| m.get(&(String::new(), ns.to_string())))
            .ok_or_else(|| ApiError::not_found("namespaces", ns))?;
        if ns_obj.deleting() {
            return Err(ApiError::forbidden(format!(
                "unable to create new content in namespace {ns} because it is being terminated"
            )));
        }
        Ok(())
    }

    /// What the API server fills in on create.
    pub(super) fn defaults_on_create(
        &mut self,
        t: &ServedType,
        obj: &mut Value,
    ) -> Result<(), ApiError> {
        crate::defaults::apply(t, obj);
        crate::defaults::normalize(t, obj);
        match (t.group.as_str(), t.resource.as_str()) {
            ("", "namespaces") => {
                obj["spec"] = json!({ "finalizers": ["kubernetes"] });
                obj["status"] = json!({ "phase": "Active" });
                if let Some(m) = obj.get_mut("metadata") {
                    m.as_object_mut().map(|m| m.remove("generation"));
                }
                let name = meta_str(obj, "name").unwrap_or("").to_string();
                let labels = metadata_mut(obj).entry("labels").or_insert(json!({}));
                if let Some(l) = labels.as_object_mut() {
                    l.insert("kubernetes.io/metadata.name".into(), json!(name));
                }
            }
            ("", "services") => {
                let spec = obj.get("spec").cloned().unwrap_or(json!({}));
                let external = spec.get("type").and_then(Value::as_str) == Some("ExternalName");
                let ip = spec.get("clusterIP").and_then(Value::as_str).unwrap_or("");
                if !external && ip.is_empty() {
                    let n = self.next_cluster_ip;
                    self.next_cluster_ip += 1;
                    let ip = format!("10.96.{}.{}", n / 250, n % 250 + 1);
                    obj["spec"]["clusterIP"] = json!(ip);
                    obj["spec"]["clusterIPs"] = json!([ip]);
                } else if !external && obj["spec"].get("clusterIPs").is_none() {
                    obj["spec"]["clusterIPs"] = json!([ip]);
                }
                if obj["spec"].get("type").is_none() {
                    obj["spec"]["type"] = json!("ClusterIP");
                }
                self.allocate_node_ports(obj, None)?;
            }
            ("batch", "jobs") => crate::jobs::generate_selector(obj)?,
            ("", "pods") => self.admit_pod(obj)?,
            ("apiextensions.k8s.io", "customresourcedefinitions") => {
                crd_types(obj)?;
                obj["status"] = crd_status(obj);
            }
            _ => {}
        }
        Ok(())
    }

    /// Fields the server allocated stay as they were (a Service keeps its clusterIP).
    pub(super) fn keep_allocations(
        &self,
        t: &ServedType,
        before: &Value,
        obj: &mut Value,
    ) -> Result<(), ApiError> {
        // Defaults return when an update drops a defaulted field (as on a real server).
        crate::defaults::apply(t, obj);
        crate::defaults::normalize(t, obj);
        if t.group.is_empty() && t.resource == "services" {
            let old = before.pointer("/spec/clusterIP").cloned();
            match (old, obj.pointer("/spec/clusterIP").cloned()) {
                (Some(old), None) => {
                    obj["spec"]["clusterIP"] = old;
                    if let Some(ips) = before.pointer("/spec/clusterIPs") {
                        obj["spec"]["clusterIPs"] = ips.clone();
                    }
                }
                (Some(old), Some(new)) if old != new && new != json!("") => {
                    let name = meta_str(obj, "name").unwrap_or("").to_string();
                    return Err(ApiError::invalid(
                        "Service",
                        &name,
                        &[(
                            "spec.clusterIPs[0]",
                            "Invalid value: field is immutable".into(),
                        )],
                    ));
                }
                _ => {}
            }
        }
        if t.group.is_empty() && t.resource == "services" {
            self.allocate_node_ports(obj, Some(before))?;
        }
        if t.group == "apiextensions.k8s.io" && t.resource == "customresourcedefinitions" {
            crd_types(obj)?;
            obj["status"] = crd_status(obj);
        }
        Ok(())
    }

    /// What the Priority and RuntimeClass admission plugins do to a new Pod: its
    /// PriorityClass must exist (its value becomes the pod's priority; 0 without one),
    /// and so must its RuntimeClass.
    pub(super) fn admit_pod(&self, obj: &mut Value) -> Result<(), ApiError> {
        let name = meta_str(obj, "name").unwrap_or("").to_string();
        let stored = |group: &str, plural: &str, key: &str| {
            self.objects
                .get(&(group.to_string(), plural.to_string()))
                .and_then(|m| m.get(&(String::new(), key.to_string())))
                .map(|s| s.value())
        };
        let class = obj
            .pointer("/spec/priorityClassName")
            .and_then(Value::as_str)
            .map(str::to_string);
        let (priority, preemption) = match class {
            Some(class) => {
                let Some(pc) = stored("scheduling.k8s.io", "priorityclasses", &class) else {
                    return Err(ApiError::forbidden(format!(
                        "pods \"{name}\" is forbidden: no PriorityClass with name {class} was found"
                    )));
                };
                (
                    pc.get("value").cloned().unwrap_or(json!(0)),
                    pc.get("preemptionPolicy")
                        .cloned()
                        .unwrap_or(json!("PreemptLowerPriority")),
                )
            }
            None => (json!(0), json!("PreemptLowerPriority")),
        };
        if let Some(runtime) = obj
            .pointer("/spec/runtimeClassName")
            .and_then(Value::as_str)
            && stored("node.k8s.io", "runtimeclasses", runtime).is_none()
        {
            return Err(ApiError::forbidden(format!(
                "pods \"{name}\" is forbidden: pod rejected: RuntimeClass \"{runtime}\" not found"
            )));
        }
        if let Some(Value::Object(spec)) = obj.get_mut("spec") {
            spec.entry("priority").or_insert(priority);
            spec.entry("preemptionPolicy").or_insert(preemption);
        }
        Ok(())
    }

    /// Gives a Service the node ports it needs, none that another Service holds.
    pub(super) fn allocate_node_ports(
        &self,
        obj: &mut Value,
        before: Option<&Value>,
    ) -> Result<(), ApiError> {
        let ns = meta_str(obj, "namespace").unwrap_or("").to_string();
        let name = meta_str(obj, "name").unwrap_or("").to_string();
        let mut in_use = std::collections::HashSet::new();
        if let Some(services) = self.objects.get(&(String::new(), "services".to_string())) {
            for ((other_ns, other), stored) in services {
                if (other_ns, other) != (&ns, &name) {
                    in_use.extend(crate::node_ports::held_by(&stored.value()));
                }
            }
        }
        crate::node_ports::allocate(obj, before, &in_use).map_err(|errors| {
            let causes: Vec<(&str, String)> = errors
                .iter()
                .map(|(f, m)| (f.as_str(), m.clone()))
                .collect();
            ApiError::invalid("Service", &name, &causes)
        })
    }

    /// Stores `stored` (the compact form of `obj`) under `t`/`key`, replacing what
    /// was there, and indexes it.
    pub(super) fn store_object(
        &mut self,
        t: TypeKey,
        key: ObjectKey,
        stored: Arc<Stored>,
        obj: &Value,
    ) {
        let objects = self.objects.entry(t.clone()).or_default();
        let replacing = objects.insert(key.clone(), stored).is_some();
        self.index.insert(&t, &key, replacing, obj);
    }

    /// Removes the object under `t`/`key` from the objects and the indexes.
    pub(super) fn take_object(&mut self, t: &TypeKey, key: &ObjectKey) -> Option<Arc<Stored>> {
        let old = self.objects.get_mut(t)?.remove(key)?;
        self.index.remove(t, key);
        Some(old)
    }

    /// Removes every object of type `t` (its CRD is gone).
    pub(super) fn drop_type(&mut self, t: &TypeKey) {
        for key in self
            .objects
            .remove(t)
            .into_iter()
            .flat_map(BTreeMap::into_keys)
        {
            self.index.remove(t, &key);
        }
    }

    /// Keeps the catalog in step with CRDs.
    pub(super) fn after_write(&mut self, t: &ServedType, obj: &Value) {
        if t.group == "apiextensions.k8s.io"
            && t.resource == "customresourcedefinitions"
            && let Ok(types) = crd_types(obj)
        {
            let catalog = Arc::make_mut(&mut self.catalog);
            for rt in types {
                catalog.add(rt);
            }
        }
    }

    pub(super) fn after_delete(&mut self, t: &ServedType, obj: &Value) {
        if t.group == "apiextensions.k8s.io"
            && t.resource == "customresourcedefinitions"
            && let Ok(types) = crd_types(obj)
        {
            for rt in types {
                if rt.custom {
                    self.drop_type(&type_key(&rt));
                }
                Arc::make_mut(&mut self.catalog).remove_custom(&rt.group, &rt.resource);
            }
        }
    }
}
