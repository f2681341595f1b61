//! Service rules: ports, names, target ports, type, externalName and
//! clusterIP.

use serde_json::{json, Value};

use super::*;
use CauseReason::*;

fn with_ports(ports: Value) -> Value {
    with(&service(), "/spec/ports", ports)
}

#[test]
fn ports_are_required_unless_headless_or_external_name() {
    assert_valid("Service", &service());
    assert_cause(
        "Service",
        &without(&service(), "/spec/ports"),
        "spec.ports",
        FieldValueRequired,
    );
    assert_cause(
        "Service",
        &with_ports(json!([])),
        "spec.ports",
        FieldValueRequired,
    );
    assert_cause(
        "Service",
        &without(&service(), "/spec"),
        "spec.ports",
        FieldValueRequired,
    );
    let headless = with(&with_ports(json!([])), "/spec/clusterIP", json!("None"));
    assert_valid("Service", &headless);
    let external = json!({"metadata": meta("ext"), "spec": {"type": "ExternalName", "externalName": "db.example.com"}});
    assert_valid("Service", &external);
}

#[test]
fn port_numbers_are_in_range() {
    for good in [1, 443, 65535] {
        assert_valid("Service", &with_ports(json!([{"port": good}])));
    }
    for bad in [0, -80, 65536] {
        assert_cause(
            "Service",
            &with_ports(json!([{"port": bad}])),
            "spec.ports[0].port",
            FieldValueInvalid,
        );
    }
    assert_cause(
        "Service",
        &with_ports(json!([{"name": "x"}])),
        "spec.ports[0].port",
        FieldValueRequired,
    );
    assert_cause(
        "Service",
        &with_ports(json!([{"port": "80"}])),
        "spec.ports[0].port",
        FieldValueInvalid,
    );
}

#[test]
fn port_and_protocol_pairs_are_unique() {
    let udp = json!([{"name": "dns", "port": 53, "protocol": "TCP"}, {"name": "dns-udp", "port": 53, "protocol": "UDP"}]);
    assert_valid("Service", &with_ports(udp));
    let dup = json!([{"name": "a", "port": 53, "protocol": "TCP"}, {"name": "b", "port": 53}]);
    assert_cause(
        "Service",
        &with_ports(dup),
        "spec.ports[1]",
        FieldValueDuplicate,
    );
}

#[test]
fn port_names_are_required_and_unique_with_several_ports() {
    assert_valid("Service", &with_ports(json!([{"port": 80}])));
    let two = json!([{"name": "http", "port": 80}, {"name": "https", "port": 443}]);
    assert_valid("Service", &with_ports(two));
    let unnamed = json!([{"name": "http", "port": 80}, {"port": 443}]);
    assert_cause(
        "Service",
        &with_ports(unnamed),
        "spec.ports[1].name",
        FieldValueRequired,
    );
    let dup = json!([{"name": "http", "port": 80}, {"name": "http", "port": 443}]);
    assert_cause(
        "Service",
        &with_ports(dup),
        "spec.ports[1].name",
        FieldValueDuplicate,
    );
}

#[test]
fn port_names_are_dns_labels() {
    for bad in ["HTTP", "web.port", "-web"] {
        let obj = with_ports(json!([{"name": bad, "port": 80}]));
        assert_cause("Service", &obj, "spec.ports[0].name", FieldValueInvalid);
    }
    assert_valid(
        "Service",
        &with_ports(json!([{"name": "metrics-1", "port": 80}])),
    );
}

#[test]
fn target_ports_are_numbers_or_port_names() {
    for good in [json!(8080), json!(1), json!("http"), json!("web-metrics")] {
        assert_valid(
            "Service",
            &with_ports(json!([{"port": 80, "targetPort": good}])),
        );
    }
    for bad in [
        json!(0),
        json!(70000),
        json!("HTTP"),
        json!("http--x"),
        json!(true),
        json!([80]),
    ] {
        let obj = with_ports(json!([{"port": 80, "targetPort": bad}]));
        assert_cause(
            "Service",
            &obj,
            "spec.ports[0].targetPort",
            FieldValueInvalid,
        );
    }
}

#[test]
fn port_protocols_are_supported() {
    let obj = with_ports(json!([{"port": 80, "protocol": "HTTP"}]));
    assert_cause(
        "Service",
        &obj,
        "spec.ports[0].protocol",
        FieldValueNotSupported,
    );
}

#[test]
fn type_is_supported() {
    for good in ["ClusterIP", "NodePort", "LoadBalancer"] {
        assert_valid("Service", &with(&service(), "/spec/type", json!(good)));
    }
    let bad = with(&service(), "/spec/type", json!("Headless"));
    assert_cause("Service", &bad, "spec.type", FieldValueNotSupported);
    let bad = with(&service(), "/spec/sessionAffinity", json!("Sticky"));
    assert_cause(
        "Service",
        &bad,
        "spec.sessionAffinity",
        FieldValueNotSupported,
    );
}

#[test]
fn external_name_is_a_required_subdomain() {
    let ext = with(&service(), "/spec/type", json!("ExternalName"));
    assert_cause("Service", &ext, "spec.externalName", FieldValueRequired);
    for good in ["db.example.com", "db.example.com.", "localhost"] {
        assert_valid("Service", &with(&ext, "/spec/externalName", json!(good)));
    }
    for bad in ["DB.example.com", "db..example", "not valid", ""] {
        let obj = with(&ext, "/spec/externalName", json!(bad));
        let causes = check("Service", &obj);
        assert!(
            causes.iter().any(|c| c.field == "spec.externalName"),
            "{bad}: {causes:?}"
        );
    }
}

#[test]
fn cluster_ip_is_none_or_an_address() {
    for good in ["", "None", "10.96.0.10", "fd00::10"] {
        assert_valid("Service", &with(&service(), "/spec/clusterIP", json!(good)));
    }
    for bad in [
        "none",
        "10.96.0",
        "10.96.0.256",
        "010.0.0.1",
        "fd00::10::1",
        "host",
    ] {
        let obj = with(&service(), "/spec/clusterIP", json!(bad));
        assert_cause("Service", &obj, "spec.clusterIP", FieldValueInvalid);
    }
    let ips = with(
        &service(),
        "/spec/clusterIPs",
        json!(["10.96.0.10", "nope"]),
    );
    assert_cause("Service", &ips, "spec.clusterIPs[1]", FieldValueInvalid);
}
