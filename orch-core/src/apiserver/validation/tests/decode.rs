//! decode_check: typed decoding reports JSON type errors with their path.

use serde_json::json;

use super::super::decode_check;
use super::*;
use CauseReason::*;

#[track_caller]
fn decode_error(kind: &str, obj: &serde_json::Value) -> Cause {
    let causes = decode_check(kind, obj).expect_err("should fail to decode");
    assert_eq!(causes.len(), 1, "{causes:?}");
    assert_eq!(causes[0].reason, FieldValueInvalid);
    causes[0].clone()
}

#[test]
fn valid_objects_decode() {
    for (kind, obj) in [
        ("Pod", pod()),
        ("Service", service()),
        ("Deployment", deployment()),
    ] {
        assert_eq!(decode_check(kind, &obj), Ok(()));
    }
    assert_eq!(decode_check("ReplicaSet", &workload("ReplicaSet")), Ok(()));
    let lease = json!({"apiVersion": "coordination.k8s.io/v1", "metadata": meta("l"), "spec": {"leaseDurationSeconds": 10}});
    assert_eq!(decode_check("Lease", &lease), Ok(()));
}

#[test]
fn type_errors_carry_the_field_path() {
    let obj = with(&deployment(), "/spec/replicas", json!("three"));
    let cause = decode_error("Deployment", &obj);
    assert_eq!(cause.field, "spec.replicas");
    assert_eq!(
        cause.message,
        "invalid type: string \"three\", expected i32"
    );

    let obj = with(
        &deployment(),
        "/spec/template/spec/containers/0/name",
        json!(5),
    );
    assert_eq!(
        decode_error("Deployment", &obj).field,
        "spec.template.spec.containers[0].name"
    );

    let obj = with(&service(), "/spec/ports/0/port", json!(true));
    assert_eq!(decode_error("Service", &obj).field, "spec.ports[0].port");

    let obj = with(&pod(), "/metadata/labels", json!({"app": 1}));
    assert_eq!(decode_error("Pod", &obj).field, "metadata.labels.app");

    let slice = json!({"metadata": meta("s"), "addressType": "IPv4", "endpoints": [{"addresses": "10.0.0.1"}]});
    assert_eq!(
        decode_error("EndpointSlice", &slice).field,
        "endpoints[0].addresses"
    );

    let secret = json!({"metadata": meta("s"), "data": {"k": "not base64!"}});
    assert_eq!(decode_error("Secret", &secret).field, "data.k");
}

#[test]
fn unknown_fields_are_allowed() {
    let obj = with(&pod(), "/spec/somethingNew", json!({"x": [1, 2]}));
    assert_eq!(decode_check("Pod", &obj), Ok(()));
    let obj = with(&pod(), "/status", json!({"phase": "Running", "extra": 1}));
    assert_eq!(decode_check("Pod", &obj), Ok(()));
}

#[test]
fn api_version_must_match_the_kind() {
    let obj = with(&deployment(), "/apiVersion", json!("extensions/v1beta1"));
    let cause = decode_error("Deployment", &obj);
    assert_eq!(cause.field, "apiVersion");
    assert_eq!(
        cause.message,
        "invalid value: string \"extensions/v1beta1\", expected apps/v1"
    );
    assert_eq!(
        decode_error("Pod", &with(&pod(), "/kind", json!("Service"))).field,
        "kind"
    );
    assert_eq!(
        decode_error("Pod", &with(&pod(), "/kind", json!(7))).field,
        "kind"
    );
    let event = json!({"apiVersion": "v1", "metadata": meta("e"), "involvedObject": {}});
    assert_eq!(decode_check("Event", &event), Ok(()));
}

#[test]
fn non_objects_and_unknown_kinds() {
    assert_eq!(decode_error("Node", &json!([1])).field, "");
    assert_eq!(decode_check("Widget", &json!([1])), Ok(()));
}
