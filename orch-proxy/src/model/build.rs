//! Turns a Service and its EndpointSlices into the Service ports a proxy
//! programs, as kube-proxy does:
//! - headless (`clusterIP: None`) and ExternalName Services get nothing;
//! - a Service port matches the slice port with the same name and
//!   protocol, which carries the resolved (possibly named) targetPort;
//! - backends are the ready endpoints; when none is ready, the ones that
//!   are serving and terminating.
use std::{collections::BTreeSet, net::Ipv4Addr};

use k8s_openapi::api::{core::v1::Service, discovery::v1::EndpointSlice};

use super::{Endpoint, Frontend, PortName, Protocol, ServicePort};

/// The ports of `svc`, balanced over the endpoints in `slices` (the slices
/// labelled with this Service's name). Empty for Services the proxy does
/// not handle.
pub fn service_ports<'a>(
    svc: &Service,
    slices: impl IntoIterator<Item = &'a EndpointSlice> + Clone,
) -> Vec<ServicePort> {
    let Some(spec) = &svc.spec else {
        return Vec::new();
    };
    if spec.type_.as_deref() == Some("ExternalName") {
        return Vec::new();
    }
    let Some(ip) = spec
        .cluster_ip
        .as_deref()
        .and_then(|s| s.parse::<Ipv4Addr>().ok())
    else {
        // Headless ("None"), unset, or not IPv4.
        return Vec::new();
    };
    let namespace = svc.metadata.namespace.clone().unwrap_or_default();
    let service = svc.metadata.name.clone().unwrap_or_default();
    let mut out: Vec<ServicePort> = spec
        .ports
        .iter()
        .flatten()
        .filter_map(|p| {
            let protocol = Protocol::parse(p.protocol.as_deref().unwrap_or("TCP"))?;
            let port = u16::try_from(p.port).ok().filter(|p| *p != 0)?;
            let name = p.name.clone().unwrap_or_default();
            Some(ServicePort {
                frontend: Frontend { ip, port, protocol },
                endpoints: endpoints(slices.clone(), &name, protocol),
                name: PortName {
                    namespace: namespace.clone(),
                    service: service.clone(),
                    port: name,
                },
            })
        })
        .collect();
    out.sort_by_key(|p| p.frontend);
    out.dedup_by_key(|p| p.frontend);
    out
}

/// The backends for the port named `name`: ready ones, or else the
/// serving-and-terminating ones.
fn endpoints<'a>(
    slices: impl IntoIterator<Item = &'a EndpointSlice>,
    name: &str,
    protocol: Protocol,
) -> Vec<Endpoint> {
    let mut ready = BTreeSet::new();
    let mut terminating = BTreeSet::new();
    for slice in slices {
        if slice.address_type != "IPv4" {
            continue;
        }
        let Some(port) = slice.ports.iter().flatten().find_map(|p| {
            let same_name = p.name.as_deref().unwrap_or("") == name;
            let same_proto =
                Protocol::parse(p.protocol.as_deref().unwrap_or("TCP")) == Some(protocol);
            (same_name && same_proto)
                .then_some(p.port)
                .flatten()
                .and_then(|n| u16::try_from(n).ok())
                .filter(|n| *n != 0)
        }) else {
            continue;
        };
        for ep in &slice.endpoints {
            let c = ep.conditions.as_ref();
            // Kubernetes: an unset `ready` means ready; `serving` defaults
            // to `ready`.
            let is_ready = c.and_then(|c| c.ready).unwrap_or(true);
            let serving = c.and_then(|c| c.serving).unwrap_or(is_ready);
            let term = c.and_then(|c| c.terminating).unwrap_or(false);
            let set = if is_ready && !term {
                &mut ready
            } else if serving && term {
                &mut terminating
            } else {
                continue;
            };
            for addr in &ep.addresses {
                if let Ok(ip) = addr.parse::<Ipv4Addr>() {
                    set.insert(Endpoint { ip, port });
                }
            }
        }
    }
    let chosen = if ready.is_empty() { terminating } else { ready };
    chosen.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn svc(spec: serde_json::Value) -> Service {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "default"},
            "spec": spec,
        }))
        .unwrap()
    }

    fn slice(ports: serde_json::Value, endpoints: serde_json::Value) -> EndpointSlice {
        serde_json::from_value(json!({
            "metadata": {"name": "web-abc", "namespace": "default",
                         "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4",
            "ports": ports,
            "endpoints": endpoints,
        }))
        .unwrap()
    }

    fn ep(ip: &str, ready: bool, serving: bool, terminating: bool) -> serde_json::Value {
        json!({"addresses": [ip], "conditions": {"ready": ready, "serving": serving, "terminating": terminating}})
    }

    #[test]
    fn ready_endpoints_by_port_name_and_protocol() {
        let s = svc(json!({"clusterIP": "10.96.0.20", "ports": [
            {"name": "http", "port": 80, "targetPort": "web"},
            {"name": "dns", "port": 53, "protocol": "UDP"},
        ]}));
        let sl = slice(
            json!([{"name": "http", "port": 8080, "protocol": "TCP"}, {"name": "dns", "port": 5353, "protocol": "UDP"}]),
            json!([
                ep("10.244.1.5", true, true, false),
                ep("10.244.1.6", false, false, false),
                ep("10.244.1.4", true, true, false)
            ]),
        );
        let ports = service_ports(&s, [&sl]);
        assert_eq!(ports.len(), 2);
        let dns = &ports[0];
        assert_eq!(dns.frontend.port, 53);
        assert_eq!(dns.frontend.protocol, Protocol::Udp);
        assert_eq!(dns.endpoints[0].port, 5353);
        let http = &ports[1];
        assert_eq!(http.name.to_string(), "default/web:http");
        let ips: Vec<String> = http.endpoints.iter().map(|e| e.to_string()).collect();
        assert_eq!(ips, ["10.244.1.4:8080", "10.244.1.5:8080"]);
    }

    #[test]
    fn terminating_serving_endpoints_only_when_none_ready() {
        let s = svc(json!({"clusterIP": "10.96.0.20", "ports": [{"port": 80}]}));
        let only_term = slice(
            json!([{"port": 8080}]),
            json!([
                ep("10.244.1.7", false, true, true),
                ep("10.244.1.8", false, false, true)
            ]),
        );
        let ports = service_ports(&s, [&only_term]);
        assert_eq!(ports[0].endpoints.len(), 1);
        assert_eq!(ports[0].endpoints[0].ip, Ipv4Addr::new(10, 244, 1, 7));
        let mixed = slice(
            json!([{"port": 8080}]),
            json!([ep("10.244.1.9", true, true, false)]),
        );
        let ports = service_ports(&s, [&only_term, &mixed]);
        assert_eq!(ports[0].endpoints.len(), 1);
        assert_eq!(ports[0].endpoints[0].ip, Ipv4Addr::new(10, 244, 1, 9));
    }

    #[test]
    fn headless_external_name_and_no_slices() {
        let headless = svc(json!({"clusterIP": "None", "ports": [{"port": 80}]}));
        assert!(service_ports(&headless, []).is_empty());
        let ext = svc(json!({"type": "ExternalName", "externalName": "example.org"}));
        assert!(service_ports(&ext, []).is_empty());
        let plain = svc(json!({"clusterIP": "10.96.0.21", "ports": [{"port": 80}]}));
        let ports = service_ports(&plain, []);
        assert_eq!(ports.len(), 1);
        assert!(ports[0].endpoints.is_empty(), "no slices means refused");
    }

    #[test]
    fn unset_conditions_mean_ready() {
        let s = svc(json!({"clusterIP": "10.96.0.22", "ports": [{"port": 80}]}));
        let sl = slice(
            json!([{"port": 80}]),
            json!([{"addresses": ["10.244.2.3"]}]),
        );
        assert_eq!(service_ports(&s, [&sl])[0].endpoints.len(), 1);
    }
}
