//! Service validation: type, clusterIP, externalName and ports.

use std::collections::HashSet;

use serde_json::Value;

use super::cause::Cause;
use super::common::{
    check_enum, check_ip, check_port, check_protocol, check_required_port, check_required_syntax,
    check_syntax, check_unique,
};
use super::json::{self, child, push_invalid, Object};
use super::names;

const SERVICE_TYPES: &[&str] = &["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"];
const SESSION_AFFINITIES: &[&str] = &["None", "ClientIP"];

/// Validates a Service's spec.
pub(super) fn validate_service(obj: &Value, errs: &mut Vec<Cause>) {
    let Ok(spec) = json::optional_object(json::get(obj.as_object(), "spec"), "spec", errs) else {
        return;
    };
    let ty = check_enum(json::get(spec, "type"), "spec.type", SERVICE_TYPES, errs)
        .unwrap_or("ClusterIP");
    check_enum(
        json::get(spec, "sessionAffinity"),
        "spec.sessionAffinity",
        SESSION_AFFINITIES,
        errs,
    );

    let cluster_ip = json::string(json::get(spec, "clusterIP"), "spec.clusterIP", errs);
    if let Some(ip) = cluster_ip {
        check_cluster_ip(ip, "spec.clusterIP", errs);
    }
    if let Some(ips) = json::array(json::get(spec, "clusterIPs"), "spec.clusterIPs", errs) {
        for (i, ip) in ips.iter().enumerate() {
            let path = json::index("spec.clusterIPs", i);
            if let Some(ip) = json::string(Some(ip), &path, errs) {
                check_cluster_ip(ip, &path, errs);
            }
        }
    }

    if ty == "ExternalName" {
        check_required_syntax(
            json::get(spec, "externalName"),
            "spec.externalName",
            external_name,
            errs,
        );
    }

    let ports = json::get(spec, "ports");
    let headless = cluster_ip == Some("None");
    if json::is_empty(ports) && !headless && ty != "ExternalName" {
        errs.push(Cause::required("spec.ports"));
    }
    validate_service_ports(ports, errs);
}

/// `""` (allocate one), `"None"` (headless) or an IP address.
fn check_cluster_ip(ip: &str, path: &str, errs: &mut Vec<Cause>) {
    if !ip.is_empty() && ip != "None" {
        check_ip(ip, None, path, errs);
    }
}

/// A DNS-1123 subdomain, optionally with a trailing dot.
fn external_name(s: &str) -> Vec<String> {
    names::dns1123_subdomain(s.strip_suffix('.').unwrap_or(s))
}

fn validate_service_ports(ports: Option<&Value>, errs: &mut Vec<Cause>) {
    let ports = json::objects(ports, "spec.ports", errs);
    let check_name = if ports.len() > 1 {
        check_required_syntax
    } else {
        check_syntax
    };
    let mut names_seen = HashSet::new();
    let mut keys_seen = HashSet::new();
    for (path, port) in &ports {
        let port = Some(*port);
        let name_path = child(path, "name");
        let name = check_name(
            json::get(port, "name"),
            &name_path,
            names::dns1123_label,
            errs,
        );
        if let Some(name) = name.filter(|n| !n.is_empty()) {
            check_unique(&mut names_seen, name, &name_path, errs);
        }
        let number = check_required_port(json::get(port, "port"), &child(path, "port"), errs);
        let protocol = check_protocol(json::get(port, "protocol"), &child(path, "protocol"), errs);
        if let Some(number) = number {
            let key = format!("{{\"port\":{number},\"protocol\":{protocol:?}}}");
            if !keys_seen.insert(key.clone()) {
                errs.push(Cause::duplicate(path.as_str(), &key));
            }
        }
        check_target_port(port, &child(path, "targetPort"), errs);
    }
}

/// `targetPort`: a port number or the name of a container port.
fn check_target_port(port: Option<&Object>, path: &str, errs: &mut Vec<Cause>) {
    match json::get(port, "targetPort") {
        None => {}
        Some(Value::String(name)) => push_invalid(errs, path, names::iana_svc_name(name)),
        Some(v @ Value::Number(_)) => {
            check_port(Some(v), path, 1, errs);
        }
        Some(other) => errs.push(json::type_error(path, other, "an integer or a string")),
    }
}
