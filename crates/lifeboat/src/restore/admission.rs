//! The gate before the admission tier (webhook configurations, admission policies,
//! APIServices). A webhook with `failurePolicy: Fail` whose backend is not serving
//! refuses every write it matches, and an APIService whose backend is down breaks
//! discovery and namespace deletion: so each is written only once the workloads behind
//! the Service it names are ready (the Deployments, StatefulSets and DaemonSets whose
//! pod template labels the Service selects, else the Service's ready endpoints),
//! waiting up to the restore's `backend_timeout` in all. One whose backend is still not
//! ready then is not written: it fails with the reason, and a later restore (with
//! `existing: skip` the rest is left alone) writes it once the backend is up. A webhook
//! that fails open (`failurePolicy: Ignore`) harms nothing and is written anyway. Dry
//! runs do not wait: nothing they wrote can become ready.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::Prepared;
use crate::cluster::discovery::{self, Discovered};
use crate::cluster::{ClusterConn, KubeError, objects};

/// How often a backend is looked at while waiting.
const POLL: Duration = Duration::from_millis(500);

/// The Services an admission object depends on, and whether it refuses writes
/// while they are down.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Dependence {
    /// (namespace, name) of each Service.
    pub services: Vec<(String, String)>,
    /// Whether a backend that is down blocks the API (`failurePolicy: Fail`, the
    /// default, or an APIService).
    pub blocking: bool,
}

/// What `object` (of `qualified`, after the namespace mapping) depends on.
pub fn dependence(qualified: &str, object: &Value) -> Dependence {
    let service = |v: Option<&Value>| {
        let v = v?;
        Some((
            v.get("namespace")?.as_str()?.to_string(),
            v.get("name")?.as_str()?.to_string(),
        ))
    };
    let mut d = Dependence::default();
    match qualified {
        "validatingwebhookconfigurations.admissionregistration.k8s.io"
        | "mutatingwebhookconfigurations.admissionregistration.k8s.io" => {
            for hook in object
                .get("webhooks")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(s) = service(hook.pointer("/clientConfig/service")) {
                    let fails_closed =
                        hook.get("failurePolicy").and_then(Value::as_str) != Some("Ignore");
                    d.blocking |= fails_closed;
                    if !d.services.contains(&s) {
                        d.services.push(s);
                    }
                }
            }
        }
        "apiservices.apiregistration.k8s.io" => {
            if let Some(s) = service(object.pointer("/spec/service")) {
                d.blocking = true;
                d.services.push(s);
            }
        }
        _ => {}
    }
    d
}

/// The backends seen so far in one restore, and how long is left to wait for them.
pub struct Backends {
    timeout: Duration,
    /// Set at the first wait: the whole tier shares one budget.
    deadline: Option<Instant>,
    /// `None` once ready; `Some(why)` when it was not by the deadline.
    seen: HashMap<(String, String), Option<String>>,
}

impl Backends {
    pub fn new(timeout: Duration) -> Backends {
        Backends {
            timeout,
            deadline: None,
            seen: HashMap::new(),
        }
    }

    /// Why `p` must not be written yet, or `None` when it may.
    pub async fn hold(
        &mut self,
        conn: &ClusterConn,
        served: &Discovered,
        p: &Prepared,
    ) -> Result<Option<String>, KubeError> {
        let d = dependence(&p.qualified, &p.object);
        let mut down = Vec::new();
        for service in &d.services {
            if let Some(why) = self.wait(conn, served, service).await? {
                down.push(format!("Service {}/{}: {why}", service.0, service.1));
            }
        }
        if down.is_empty() || !d.blocking {
            return Ok(None);
        }
        Ok(Some(format!(
            "not restored: its backend was not ready after {}s ({}); written now it would refuse \
             every request it intercepts. Restore it again once the backend is up",
            self.timeout.as_secs(),
            down.join("; ")
        )))
    }

    /// Waits (within the tier's budget) until the workloads behind `service` are
    /// ready; the reason when they were not.
    async fn wait(
        &mut self,
        conn: &ClusterConn,
        served: &Discovered,
        service: &(String, String),
    ) -> Result<Option<String>, KubeError> {
        if let Some(known) = self.seen.get(service) {
            return Ok(known.clone());
        }
        let deadline = *self
            .deadline
            .get_or_insert_with(|| Instant::now() + self.timeout);
        let outcome = loop {
            let pending = backend_pending(conn, served, &service.0, &service.1).await?;
            if pending.is_none() || Instant::now() >= deadline {
                break pending;
            }
            tokio::time::sleep(POLL).await;
        };
        self.seen.insert(service.clone(), outcome.clone());
        Ok(outcome)
    }
}

/// Why the Service `namespace/name` has no ready backend, or `None` when it has.
async fn backend_pending(
    conn: &ClusterConn,
    served: &Discovered,
    namespace: &str,
    name: &str,
) -> Result<Option<String>, KubeError> {
    let Some(services) = discovery::find(served, "", "v1", "Service") else {
        return Ok(Some("the cluster serves no Services".into()));
    };
    let Some(service) = objects::get(conn, &services.rtype, Some(namespace), name).await? else {
        return Ok(Some("it does not exist".into()));
    };
    let Some(selector) = service
        .pointer("/spec/selector")
        .and_then(Value::as_object)
        .filter(|s| !s.is_empty())
    else {
        // Its endpoints are kept by someone else: nothing here to wait for.
        return Ok(None);
    };
    let mut workloads = 0;
    for kind in ["Deployment", "StatefulSet", "DaemonSet"] {
        let Some(t) = discovery::find(served, "apps", "v1", kind) else {
            continue;
        };
        for w in objects::list_all(conn, &t.rtype, Some(namespace), None).await? {
            let labels = w
                .pointer("/spec/template/metadata/labels")
                .and_then(Value::as_object);
            if !labels.is_some_and(|l| selects(selector, l)) {
                continue;
            }
            workloads += 1;
            if let Some(why) = objects::rollout_pending(&w) {
                let name = w.pointer("/metadata/name").and_then(Value::as_str);
                return Ok(Some(format!("{kind} {}: {why}", name.unwrap_or("?"))));
            }
        }
    }
    if workloads > 0 {
        return Ok(None);
    }
    ready_endpoints(conn, served, namespace, name).await
}

/// Whether a Service selecting no workload (pods of an operator, say) has a ready
/// endpoint.
async fn ready_endpoints(
    conn: &ClusterConn,
    served: &Discovered,
    namespace: &str,
    name: &str,
) -> Result<Option<String>, KubeError> {
    let none = || {
        Ok(Some(
            "no workload matches its selector and it has no ready endpoint".into(),
        ))
    };
    let Some(slices) = discovery::find(served, "discovery.k8s.io", "v1", "EndpointSlice") else {
        return none();
    };
    let selector = format!("kubernetes.io/service-name={name}");
    let slices = objects::list_all(conn, &slices.rtype, Some(namespace), Some(&selector)).await?;
    let ready = slices.iter().any(|s| {
        s.get("endpoints")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|e| e.pointer("/conditions/ready").and_then(Value::as_bool) != Some(false))
    });
    if ready { Ok(None) } else { none() }
}

/// Whether every key of `selector` has its value in `labels`.
fn selects(selector: &Map<String, Value>, labels: &Map<String, Value>) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const VWC: &str = "validatingwebhookconfigurations.admissionregistration.k8s.io";

    #[test]
    fn a_webhook_depends_on_its_services_and_blocks_unless_it_fails_open() {
        let hooks = json!({"webhooks": [
            {"name": "a", "clientConfig": {"service": {"namespace": "ingress", "name": "admission"}}},
            {"name": "b", "failurePolicy": "Fail", "clientConfig": {"service": {"namespace": "ingress", "name": "admission"}}},
            {"name": "c", "clientConfig": {"url": "https://hooks.example.com"}}]});
        let d = dependence(VWC, &hooks);
        assert_eq!(d.services, vec![("ingress".into(), "admission".into())]);
        assert!(d.blocking);
        let open = json!({"webhooks": [{"name": "a", "failurePolicy": "Ignore",
            "clientConfig": {"service": {"namespace": "x", "name": "y"}}}]});
        let d = dependence(VWC, &open);
        assert_eq!(d.services.len(), 1);
        assert!(!d.blocking);
        assert_eq!(
            dependence(VWC, &json!({"webhooks": [{"clientConfig": {"url": "u"}}]})),
            Dependence::default()
        );
    }

    #[test]
    fn an_aggregated_apiservice_blocks_and_a_local_one_does_not() {
        let q = "apiservices.apiregistration.k8s.io";
        let remote =
            json!({"spec": {"service": {"namespace": "kube-system", "name": "metrics-server"}}});
        let d = dependence(q, &remote);
        assert!(d.blocking);
        assert_eq!(
            d.services,
            vec![("kube-system".into(), "metrics-server".into())]
        );
        let local = json!({"spec": {"service": null, "group": "apps"}});
        assert_eq!(dependence(q, &local), Dependence::default());
    }

    #[test]
    fn a_selector_selects_labels_holding_all_its_pairs() {
        let sel = json!({"app": "web"});
        let sel = sel.as_object().unwrap_or_else(|| unreachable!());
        let labels = json!({"app": "web", "tier": "front"});
        assert!(selects(
            sel,
            labels.as_object().unwrap_or_else(|| unreachable!())
        ));
        let other = json!({"app": "db"});
        assert!(!selects(
            sel,
            other.as_object().unwrap_or_else(|| unreachable!())
        ));
    }
}
