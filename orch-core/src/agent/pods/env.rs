//! A container's environment: Kubernetes' service variables
//! (`WEB_SERVICE_HOST`, `WEB_SERVICE_PORT`, docker-link style `WEB_PORT...`)
//! for the Services of the pod's namespace and `kubernetes`, then the
//! container's own `env` with `$(VAR)` expansion and the `fieldRef`s
//! Kubernetes supports most often.
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Pod, Service};

fn env_name(service: &str) -> String {
    service.to_uppercase().replace('-', "_")
}

/// Variables for one Service.
pub fn service_vars(svc: &Service) -> Vec<(String, String)> {
    let Some(spec) = &svc.spec else {
        return Vec::new();
    };
    let Some(ip) = spec
        .cluster_ip
        .as_deref()
        .filter(|ip| !ip.is_empty() && *ip != "None")
    else {
        return Vec::new();
    };
    let ports = spec.ports.clone().unwrap_or_default();
    let Some(first) = ports.first() else {
        return Vec::new();
    };
    let name = env_name(svc.metadata.name.as_deref().unwrap_or(""));
    let mut v = vec![
        (format!("{name}_SERVICE_HOST"), ip.to_string()),
        (format!("{name}_SERVICE_PORT"), first.port.to_string()),
    ];
    for p in &ports {
        if let Some(pn) = &p.name {
            v.push((
                format!("{name}_SERVICE_PORT_{}", env_name(pn)),
                p.port.to_string(),
            ));
        }
    }
    let proto = |p: &k8s_openapi::api::core::v1::ServicePort| {
        p.protocol.clone().unwrap_or_else(|| "TCP".into())
    };
    v.push((
        format!("{name}_PORT"),
        format!("{}://{ip}:{}", proto(first).to_lowercase(), first.port),
    ));
    for p in &ports {
        let pr = proto(p);
        let base = format!("{name}_PORT_{}_{}", p.port, pr.to_uppercase());
        v.push((
            base.clone(),
            format!("{}://{ip}:{}", pr.to_lowercase(), p.port),
        ));
        v.push((format!("{base}_PROTO"), pr.to_lowercase()));
        v.push((format!("{base}_PORT"), p.port.to_string()));
        v.push((format!("{base}_ADDR"), ip.to_string()));
    }
    v
}

fn field_ref(pod: &Pod, path: &str, pod_ip: &str, node: &str) -> String {
    let m = &pod.metadata;
    match path {
        "metadata.name" => m.name.clone().unwrap_or_default(),
        "metadata.namespace" => m.namespace.clone().unwrap_or_default(),
        "metadata.uid" => m.uid.clone().unwrap_or_default(),
        "spec.nodeName" => node.to_string(),
        "spec.serviceAccountName" => pod
            .spec
            .as_ref()
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_else(|| "default".into()),
        "status.podIP" => pod_ip.to_string(),
        "status.hostIP" => String::new(),
        p => {
            if let Some(k) = p
                .strip_prefix("metadata.labels['")
                .and_then(|r| r.strip_suffix("']"))
            {
                m.labels
                    .as_ref()
                    .and_then(|l| l.get(k).cloned())
                    .unwrap_or_default()
            } else if let Some(k) = p
                .strip_prefix("metadata.annotations['")
                .and_then(|r| r.strip_suffix("']"))
            {
                m.annotations
                    .as_ref()
                    .and_then(|l| l.get(k).cloned())
                    .unwrap_or_default()
            } else {
                String::new()
            }
        }
    }
}

/// Expands `$(VAR)` references against `vars`; `$$` escapes a dollar.
pub fn expand(s: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            out.push('$');
            rest = stripped;
        } else if let Some(inner) = after.strip_prefix('(') {
            match inner.find(')') {
                Some(j) => {
                    let name = &inner[..j];
                    match vars.get(name) {
                        Some(v) => out.push_str(v),
                        None => out.push_str(&format!("$({name})")),
                    }
                    rest = &inner[j + 1..];
                }
                None => {
                    out.push('$');
                    rest = after;
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The full environment of `c`, in order.
pub fn build(
    pod: &Pod,
    c: &Container,
    services: &[Service],
    pod_ip: &str,
    node: &str,
) -> Vec<(String, String)> {
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut put = |vars: &mut BTreeMap<String, String>, k: String, v: String| {
        if !vars.contains_key(&k) {
            order.push(k.clone());
        }
        vars.insert(k, v);
    };
    let links = pod
        .spec
        .as_ref()
        .and_then(|s| s.enable_service_links)
        .unwrap_or(true);
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    for s in services {
        let same_ns = s.metadata.namespace.as_deref() == Some(ns);
        let is_master = s.metadata.namespace.as_deref() == Some("default")
            && s.metadata.name.as_deref() == Some("kubernetes");
        if is_master || (links && same_ns) {
            for (k, v) in service_vars(s) {
                put(&mut vars, k, v);
            }
        }
    }
    put(
        &mut vars,
        "HOSTNAME".into(),
        pod.metadata.name.clone().unwrap_or_default(),
    );
    for e in c.env.clone().unwrap_or_default() {
        let value = if let Some(v) = e.value {
            expand(&v, &vars)
        } else if let Some(f) = e.value_from.as_ref().and_then(|f| f.field_ref.as_ref()) {
            field_ref(pod, &f.field_path, pod_ip, node)
        } else {
            String::new()
        };
        put(&mut vars, e.name, value);
    }
    order
        .into_iter()
        .map(|k| {
            let v = vars[&k].clone();
            (k, v)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn service_variables_follow_kubernetes_names() {
        let s: Service = serde_json::from_value(json!({"metadata": {"name": "my-web", "namespace": "d"}, "spec": {"clusterIP": "10.96.0.7", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}})).unwrap();
        let v: BTreeMap<_, _> = service_vars(&s).into_iter().collect();
        assert_eq!(v["MY_WEB_SERVICE_HOST"], "10.96.0.7");
        assert_eq!(v["MY_WEB_SERVICE_PORT"], "80");
        assert_eq!(v["MY_WEB_SERVICE_PORT_HTTP"], "80");
        assert_eq!(v["MY_WEB_PORT"], "tcp://10.96.0.7:80");
        assert_eq!(v["MY_WEB_PORT_80_TCP_ADDR"], "10.96.0.7");
        let headless: Service = serde_json::from_value(json!({"metadata": {"name": "h"}, "spec": {"clusterIP": "None", "ports": [{"port": 80}]}})).unwrap();
        assert!(service_vars(&headless).is_empty());
    }

    #[test]
    fn env_expands_and_resolves_field_refs() {
        let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "p", "namespace": "d", "labels": {"app": "web"}}, "spec": {"containers": []}})).unwrap();
        let c: Container = serde_json::from_value(json!({"name": "c", "env": [
            {"name": "A", "value": "x"},
            {"name": "B", "value": "$(A)-$(KUBERNETES_SERVICE_HOST)-$$(A)-$(NOPE)"},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}}
        ]}))
        .unwrap();
        let k: Service = serde_json::from_value(json!({"metadata": {"name": "kubernetes", "namespace": "default"}, "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443}]}})).unwrap();
        let env: BTreeMap<_, _> = build(&pod, &c, &[k], "10.244.1.9", "node-1")
            .into_iter()
            .collect();
        assert_eq!(env["B"], "x-10.96.0.1-$(A)-$(NOPE)");
        assert_eq!(env["POD_NAME"], "p");
        assert_eq!(env["POD_IP"], "10.244.1.9");
        assert_eq!(env["APP"], "web");
        assert_eq!(env["KUBERNETES_SERVICE_PORT"], "443");
    }
}
