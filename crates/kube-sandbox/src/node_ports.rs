//! Node ports of Services, allocated and checked as the API server does: a NodePort or
//! LoadBalancer Service gets a free port from 30000-32767 for each port that names
//! none (and a `healthCheckNodePort` when a LoadBalancer keeps its traffic local); a
//! port another Service holds, or one outside the range, is refused with the API
//! server's message; an update keeps the ports allocated before.

use std::collections::HashSet;

use serde_json::{Value, json};

/// The range a real API server allocates from by default.
pub const RANGE: std::ops::RangeInclusive<i64> = 30000..=32767;

/// The node ports a Service holds (its ports' and its health check's).
pub fn held_by(service: &Value) -> impl Iterator<Item = i64> + '_ {
    let ports = service
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("nodePort").and_then(Value::as_i64));
    let health = service
        .pointer("/spec/healthCheckNodePort")
        .and_then(Value::as_i64);
    ports.chain(health)
}

/// Gives `service` its node ports: the ones `before` (the stored version, on an
/// update) held stay; missing ones are allocated, avoiding `in_use` (held by other
/// Services). The invalid fields (path, message) when a port cannot be had.
pub fn allocate(
    service: &mut Value,
    before: Option<&Value>,
    in_use: &HashSet<i64>,
) -> Result<(), Vec<(String, String)>> {
    let kind = service
        .pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_string();
    let wants_ports = kind == "NodePort"
        || (kind == "LoadBalancer"
            && service
                .pointer("/spec/allocateLoadBalancerNodePorts")
                .and_then(Value::as_bool)
                != Some(false));
    let mut taken: HashSet<i64> = in_use.clone();
    let mut errors = Vec::new();
    let old_ports: Vec<Value> = before
        .and_then(|b| b.pointer("/spec/ports"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let Some(ports) = service
        .pointer_mut("/spec/ports")
        .and_then(Value::as_array_mut)
    else {
        return Ok(());
    };
    for (i, port) in ports.iter_mut().enumerate() {
        let Some(port) = port.as_object_mut() else {
            continue;
        };
        let given = port.get("nodePort").and_then(Value::as_i64);
        if !wants_ports {
            if let Some(n) = given
                && kind == "ClusterIP"
            {
                errors.push((
                    format!("spec.ports[{i}].nodePort"),
                    format!("Forbidden: may not be used when `type` is 'ClusterIP' ({n})"),
                ));
            }
            continue;
        }
        let kept = || {
            old_ports.iter().find_map(|o| {
                let same = o.get("port") == port.get("port")
                    && o.get("protocol").unwrap_or(&json!("TCP"))
                        == port.get("protocol").unwrap_or(&json!("TCP"));
                same.then(|| o.get("nodePort").and_then(Value::as_i64))
                    .flatten()
            })
        };
        let n = match given.or_else(kept) {
            Some(n) if !RANGE.contains(&n) => {
                errors.push((
                    format!("spec.ports[{i}].nodePort"),
                    format!(
                        "Invalid value: {n}: provided port is not in the valid range. The range of valid ports is {}-{}",
                        RANGE.start(),
                        RANGE.end()
                    ),
                ));
                continue;
            }
            Some(n) if taken.contains(&n) => {
                errors.push((
                    format!("spec.ports[{i}].nodePort"),
                    format!("Invalid value: {n}: provided port is already allocated"),
                ));
                continue;
            }
            Some(n) => n,
            None => match free(&taken) {
                Some(n) => n,
                None => {
                    errors.push((
                        format!("spec.ports[{i}].nodePort"),
                        "Internal error: range is full".into(),
                    ));
                    continue;
                }
            },
        };
        taken.insert(n);
        port.insert("nodePort".into(), json!(n));
    }
    let local = service
        .pointer("/spec/externalTrafficPolicy")
        .and_then(Value::as_str)
        == Some("Local");
    if kind == "LoadBalancer" && local {
        let given = service
            .pointer("/spec/healthCheckNodePort")
            .and_then(Value::as_i64)
            .or_else(|| {
                before
                    .and_then(|b| b.pointer("/spec/healthCheckNodePort"))
                    .and_then(Value::as_i64)
            });
        match given {
            Some(n) if taken.contains(&n) => errors.push((
                "spec.healthCheckNodePort".into(),
                format!("Invalid value: {n}: provided port is already allocated"),
            )),
            Some(n) => service["spec"]["healthCheckNodePort"] = json!(n),
            None => {
                if let Some(n) = free(&taken) {
                    service["spec"]["healthCheckNodePort"] = json!(n);
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// A free port, spread over the range as a real allocator does (so that tests do not
/// come to depend on the first one).
fn free(taken: &HashSet<i64>) -> Option<i64> {
    let size = RANGE.end() - RANGE.start() + 1;
    let start = (taken.len() as i64 * 7919) % size;
    (0..size)
        .map(|i| RANGE.start() + (start + i) % size)
        .find(|n| !taken.contains(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(kind: &str, ports: Value) -> Value {
        json!({"metadata": {"name": "edge"}, "spec": {"type": kind, "ports": ports}})
    }

    #[test]
    fn missing_ports_are_allocated_and_taken_ones_refused() {
        let mut s = service(
            "NodePort",
            json!([{"port": 80}, {"port": 443, "nodePort": 30443}]),
        );
        allocate(&mut s, None, &HashSet::new()).unwrap_or_else(|e| panic!("{e:?}"));
        let first = s["spec"]["ports"][0]["nodePort"].as_i64().unwrap_or(0);
        assert!(RANGE.contains(&first) && first != 30443);
        assert_eq!(s["spec"]["ports"][1]["nodePort"], 30443);
        let mut clash = service("NodePort", json!([{"port": 80, "nodePort": 30443}]));
        let errors = allocate(&mut clash, None, &[30443].into()).unwrap_err();
        assert_eq!(errors[0].0, "spec.ports[0].nodePort");
        assert!(errors[0].1.contains("provided port is already allocated"));
        let mut outside = service("NodePort", json!([{"port": 80, "nodePort": 80}]));
        assert!(
            allocate(&mut outside, None, &HashSet::new()).unwrap_err()[0]
                .1
                .contains("valid range")
        );
    }

    #[test]
    fn an_update_keeps_its_ports_and_a_local_balancer_gets_a_health_check_port() {
        let mut before = service("LoadBalancer", json!([{"port": 80}]));
        before["spec"]["externalTrafficPolicy"] = json!("Local");
        allocate(&mut before, None, &HashSet::new()).unwrap_or_else(|e| panic!("{e:?}"));
        let health = before["spec"]["healthCheckNodePort"].as_i64();
        assert!(health.is_some_and(|h| RANGE.contains(&h)));
        let mut update = service("LoadBalancer", json!([{"port": 80}]));
        update["spec"]["externalTrafficPolicy"] = json!("Local");
        allocate(&mut update, Some(&before), &HashSet::new()).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            update["spec"]["ports"][0]["nodePort"],
            before["spec"]["ports"][0]["nodePort"]
        );
        assert_eq!(update["spec"]["healthCheckNodePort"].as_i64(), health);
        let mut plain = service("ClusterIP", json!([{"port": 80}]));
        allocate(&mut plain, None, &HashSet::new()).unwrap_or_else(|e| panic!("{e:?}"));
        assert!(plain["spec"]["ports"][0].get("nodePort").is_none());
    }
}
