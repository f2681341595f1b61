//! Metadata rules: names, generateName, namespace, labels, annotations.

use serde_json::json;

use super::*;
use CauseReason::*;

#[test]
fn name_is_required_unless_generate_name() {
    let no_name = without(&pod(), "/metadata/name");
    assert_cause("Pod", &no_name, "metadata.name", FieldValueRequired);
    let empty = with(&pod(), "/metadata/name", json!(""));
    assert_cause("Pod", &empty, "metadata.name", FieldValueRequired);
    assert_valid(
        "Pod",
        &with(&no_name, "/metadata/generateName", json!("web-")),
    );
}

#[test]
fn generate_name_must_be_a_valid_prefix() {
    let no_name = without(&pod(), "/metadata/name");
    for good in ["web-", "web", "a-", "web.x-"] {
        assert_valid(
            "Pod",
            &with(&no_name, "/metadata/generateName", json!(good)),
        );
    }
    for bad in ["Web-", "web_x-", "-", ".web-"] {
        let obj = with(&no_name, "/metadata/generateName", json!(bad));
        assert_cause("Pod", &obj, "metadata.generateName", FieldValueInvalid);
    }
    let ns = json!({"metadata": {"generateName": "a.b-"}});
    assert_cause("Namespace", &ns, "metadata.generateName", FieldValueInvalid);
}

#[test]
fn most_names_are_dns_subdomains() {
    for good in ["web", "web.example", "a1-b2.c3", &"a".repeat(253)] {
        assert_valid("Pod", &with(&pod(), "/metadata/name", json!(good)));
        assert_valid("ConfigMap", &json!({"metadata": meta(good)}));
    }
    for bad in [
        "Web",
        "web_1",
        "-web",
        "web-",
        "web..x",
        "wéb",
        &"a".repeat(254),
    ] {
        let obj = with(&pod(), "/metadata/name", json!(bad));
        assert_cause("Pod", &obj, "metadata.name", FieldValueInvalid);
    }
}

#[test]
fn namespace_and_service_names_are_dns_labels() {
    assert_valid("Namespace", &json!({"metadata": {"name": "team-a"}}));
    assert_valid(
        "Service",
        &with(&service(), "/metadata/name", json!("a".repeat(63))),
    );
    for bad in ["team.a", &"a".repeat(64)] {
        let ns = json!({"metadata": {"name": bad}});
        assert_cause("Namespace", &ns, "metadata.name", FieldValueInvalid);
        let svc = with(&service(), "/metadata/name", json!(bad));
        assert_cause("Service", &svc, "metadata.name", FieldValueInvalid);
    }
}

#[test]
fn event_and_node_names_may_contain_dots() {
    let event = json!({"metadata": meta("web.17a2b3c4d5e6"), "involvedObject": {"kind": "Pod", "name": "web"}});
    assert_valid("Event", &event);
    assert_valid("Node", &json!({"metadata": {"name": "node-1.example.com"}}));
    assert_cause(
        "Node",
        &json!({"metadata": {"name": "Node_1"}}),
        "metadata.name",
        FieldValueInvalid,
    );
}

#[test]
fn namespace_is_a_label_when_namespaced_and_forbidden_otherwise() {
    let obj = with(&pod(), "/metadata/namespace", json!("Bad.NS"));
    assert_cause("Pod", &obj, "metadata.namespace", FieldValueInvalid);
    assert_cause(
        "Pod",
        &without(&pod(), "/metadata/namespace"),
        "metadata.namespace",
        FieldValueRequired,
    );
    let node = json!({"metadata": {"name": "n1", "namespace": "default"}});
    assert_cause("Node", &node, "metadata.namespace", FieldValueForbidden);
    assert_valid(
        "Node",
        &json!({"metadata": {"name": "n1", "namespace": ""}}),
    );
}

#[test]
fn label_keys_and_values_are_checked() {
    let good = json!({"app": "web", "app.kubernetes.io/name": "my_app.v-1", "empty": "", "K": &"v".repeat(63)});
    assert_valid("Pod", &with(&pod(), "/metadata/labels", good));
    for bad in [
        json!({"bad key": "x"}),
        json!({"-app": "x"}),
        json!({"Example.com/app": "x"}),
        json!({"/app": "x"}),
        json!({"a/b/c": "x"}),
        json!({"example.com/": "x"}),
        json!({"a".repeat(64): "x"}),
        json!({"app": "-web"}),
        json!({"app": "web app"}),
        json!({"app": "v".repeat(64)}),
        json!({"app": 5}),
        json!(["app"]),
    ] {
        let obj = with(&pod(), "/metadata/labels", bad.clone());
        let causes = check("Pod", &obj);
        assert!(
            causes
                .iter()
                .any(|c| c.field.starts_with("metadata.labels") && c.reason == FieldValueInvalid),
            "{bad}: {causes:?}"
        );
    }
}

#[test]
fn annotations_keys_and_total_size_are_checked() {
    let good = json!({"example.com/Note": "anything goes: ✓", "big": "x".repeat(200 * 1024)});
    assert_valid("Pod", &with(&pod(), "/metadata/annotations", good));
    let bad_key = with(&pod(), "/metadata/annotations", json!({"bad key": "x"}));
    assert_cause("Pod", &bad_key, "metadata.annotations", FieldValueInvalid);
    let huge = with(
        &pod(),
        "/metadata/annotations",
        json!({"a": "x".repeat(256 * 1024), "b": "y"}),
    );
    assert_cause("Pod", &huge, "metadata.annotations", FieldValueTooLong);
}

#[test]
fn wrong_types_in_metadata_are_invalid() {
    let obj = with(&pod(), "/metadata/name", json!(5));
    let causes = check("Pod", &obj);
    assert_eq!(causes.len(), 1, "{causes:?}");
    assert_eq!(causes[0].field, "metadata.name");
    assert_eq!(causes[0].reason, FieldValueInvalid);
    assert!(
        causes[0].message.contains("expected a string"),
        "{}",
        causes[0].message
    );
    let causes = check("Pod", &with(&pod(), "/metadata", json!([])));
    assert_eq!(causes.len(), 1, "{causes:?}");
    assert_eq!(causes[0].field, "metadata");
    assert_cause("Pod", &json!("pod"), "", FieldValueInvalid);
    assert_cause(
        "Pod",
        &with(&pod(), "/metadata/namespace", json!(1)),
        "metadata.namespace",
        FieldValueInvalid,
    );
}

#[test]
fn unknown_kinds_get_metadata_checks() {
    assert_valid("Widget", &json!({"metadata": meta("w"), "spec": 5}));
    assert_cause(
        "Widget",
        &json!({"metadata": meta("W")}),
        "metadata.name",
        FieldValueInvalid,
    );
}
