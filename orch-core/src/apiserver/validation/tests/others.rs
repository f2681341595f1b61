//! EndpointSlice, Lease, ConfigMap, Secret, Event, Node and Namespace rules.

use serde_json::{json, Value};

use super::*;
use CauseReason::*;

fn slice(address_type: &str, addresses: Value) -> Value {
    json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": meta("web-abc"),
        "addressType": address_type,
        "endpoints": [{"addresses": addresses}],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]
    })
}

#[test]
fn endpoint_slice_address_type_is_required_and_supported() {
    assert_valid("EndpointSlice", &slice("IPv4", json!(["10.0.0.1"])));
    let missing = without(&slice("IPv4", json!(["10.0.0.1"])), "/addressType");
    assert_cause("EndpointSlice", &missing, "addressType", FieldValueRequired);
    assert_cause(
        "EndpointSlice",
        &slice("IPv5", json!(["10.0.0.1"])),
        "addressType",
        FieldValueNotSupported,
    );
}

#[test]
fn endpoint_addresses_are_non_empty_and_match_the_address_type() {
    assert_valid("EndpointSlice", &slice("IPv6", json!(["fd00::1", "::1"])));
    assert_valid("EndpointSlice", &slice("FQDN", json!(["web.example.com"])));
    let path = "endpoints[0].addresses";
    assert_cause(
        "EndpointSlice",
        &slice("IPv4", json!([])),
        path,
        FieldValueRequired,
    );
    let no_addresses = without(&slice("IPv4", json!([])), "/endpoints/0/addresses");
    assert_cause("EndpointSlice", &no_addresses, path, FieldValueRequired);
    let idx = "endpoints[0].addresses[1]";
    assert_cause(
        "EndpointSlice",
        &slice("IPv4", json!(["10.0.0.1", "fd00::1"])),
        idx,
        FieldValueInvalid,
    );
    assert_cause(
        "EndpointSlice",
        &slice("IPv6", json!(["fd00::1", "10.0.0.1"])),
        idx,
        FieldValueInvalid,
    );
    assert_cause(
        "EndpointSlice",
        &slice("FQDN", json!(["a.example", "Bad_Host"])),
        idx,
        FieldValueInvalid,
    );
    assert_cause(
        "EndpointSlice",
        &slice("IPv4", json!(["10.0.0.1", 7])),
        idx,
        FieldValueInvalid,
    );
}

#[test]
fn endpoint_slices_hold_at_most_1000_endpoints() {
    let endpoint = json!({"addresses": ["10.0.0.1"]});
    let full = with(
        &slice("IPv4", json!([])),
        "/endpoints",
        Value::Array(vec![endpoint.clone(); 1000]),
    );
    assert_valid("EndpointSlice", &full);
    let over = with(&full, "/endpoints/1000", endpoint);
    assert_cause("EndpointSlice", &over, "endpoints", FieldValueTooLong);
}

#[test]
fn endpoint_slice_ports_are_in_range() {
    let base = slice("IPv4", json!(["10.0.0.1"]));
    for good in [0, 65535] {
        assert_valid("EndpointSlice", &with(&base, "/ports/0/port", json!(good)));
    }
    for bad in [-1, 65536] {
        assert_cause(
            "EndpointSlice",
            &with(&base, "/ports/0/port", json!(bad)),
            "ports[0].port",
            FieldValueInvalid,
        );
    }
    let proto = with(&base, "/ports/0/protocol", json!("ICMP"));
    assert_cause(
        "EndpointSlice",
        &proto,
        "ports[0].protocol",
        FieldValueNotSupported,
    );
}

#[test]
fn lease_duration_is_positive() {
    let lease = |spec: Value| json!({"metadata": meta("node-1"), "spec": spec});
    assert_valid(
        "Lease",
        &lease(json!({"holderIdentity": "node-1", "leaseDurationSeconds": 40})),
    );
    assert_valid("Lease", &lease(json!({})));
    for bad in [json!(0), json!(-5), json!("40")] {
        let obj = lease(json!({"leaseDurationSeconds": bad}));
        assert_cause(
            "Lease",
            &obj,
            "spec.leaseDurationSeconds",
            FieldValueInvalid,
        );
    }
}

#[test]
fn config_map_keys_are_config_keys() {
    let cm = |data: Value| json!({"metadata": meta("cfg"), "data": data});
    assert_valid(
        "ConfigMap",
        &cm(json!({"app.conf": "x", "KEY_1": "y", "-dash": "", ".hidden": "z"})),
    );
    for bad in ["bad key", "a/b", ".", "..", "..x", &"k".repeat(254), ""] {
        assert_cause(
            "ConfigMap",
            &cm(json!({bad: "x"})),
            &format!("data[{bad}]"),
            FieldValueInvalid,
        );
    }
    assert_cause(
        "ConfigMap",
        &cm(json!({"k": 5})),
        "data[k]",
        FieldValueInvalid,
    );
}

#[test]
fn config_map_binary_data_is_base64_and_disjoint_from_data() {
    let cm =
        |binary: Value| json!({"metadata": meta("cfg"), "data": {"a": "x"}, "binaryData": binary});
    assert_valid("ConfigMap", &cm(json!({"b": "aGVsbG8="})));
    assert_cause(
        "ConfigMap",
        &cm(json!({"b": "hello!"})),
        "binaryData[b]",
        FieldValueInvalid,
    );
    assert_cause(
        "ConfigMap",
        &cm(json!({"bad key": "aGVsbG8="})),
        "binaryData[bad key]",
        FieldValueInvalid,
    );
    assert_cause(
        "ConfigMap",
        &cm(json!({"a": "aGVsbG8="})),
        "data[a]",
        FieldValueInvalid,
    );
}

#[test]
fn secret_data_is_base64_under_config_keys() {
    let secret = |data: Value| json!({"metadata": meta("creds"), "type": "Opaque", "data": data});
    assert_valid(
        "Secret",
        &secret(json!({"password": "aHVudGVyMg==", "empty": ""})),
    );
    for bad in [json!("not base64!"), json!("aGVsbG8"), json!(42)] {
        assert_cause(
            "Secret",
            &secret(json!({"password": bad})),
            "data[password]",
            FieldValueInvalid,
        );
    }
    assert_cause(
        "Secret",
        &secret(json!({"pass word": "aA=="})),
        "data[pass word]",
        FieldValueInvalid,
    );
    let string_data =
        json!({"metadata": meta("creds"), "stringData": {"ok": "plain", "not/ok": "x"}});
    let causes = check("Secret", &string_data);
    assert_eq!(causes.len(), 1, "{causes:?}");
    assert_eq!(causes[0].field, "stringData[not/ok]");
}

#[test]
fn events_require_an_involved_object() {
    let event = json!({"metadata": meta("web.1"), "involvedObject": {"kind": "Pod", "name": "web"}, "reason": "Started"});
    assert_valid("Event", &event);
    assert_cause(
        "Event",
        &without(&event, "/involvedObject"),
        "involvedObject",
        FieldValueRequired,
    );
    assert_cause(
        "Event",
        &with(&event, "/involvedObject", json!({})),
        "involvedObject",
        FieldValueRequired,
    );
    assert_cause(
        "Event",
        &with(&event, "/involvedObject", json!("web")),
        "involvedObject",
        FieldValueInvalid,
    );
}

#[test]
fn nodes_and_namespaces_only_check_names() {
    let node = json!({"metadata": {"name": "n1"}, "spec": {"podCIDR": "whatever"}, "status": {"capacity": 5}});
    assert_valid("Node", &node);
    let ns = json!({"metadata": {"name": "team-a"}, "spec": {"finalizers": ["kubernetes"]}});
    assert_valid("Namespace", &ns);
    assert_cause(
        "Namespace",
        &json!({"metadata": {}}),
        "metadata.name",
        FieldValueRequired,
    );
}
