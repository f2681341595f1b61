//! Update rules: validate_update re-validates and rejects immutable changes.

use serde_json::json;

use super::super::validate_update;
use super::*;
use CauseReason::*;

fn update(kind: &str, new: &serde_json::Value, old: &serde_json::Value) -> Vec<Cause> {
    validate_update(kind, new, old, namespaced(kind))
}

#[track_caller]
fn assert_immutable(causes: &[Cause], field: &str) {
    assert!(
        causes.iter().any(|c| c.field == field
            && c.reason == FieldValueInvalid
            && c.message == "field is immutable"),
        "expected {field} immutable, got {causes:?}"
    );
}

#[test]
fn service_cluster_ip_cannot_change_once_set() {
    let old = with(&service(), "/spec/clusterIP", json!("10.96.0.10"));
    assert!(update("Service", &old, &old).is_empty());
    assert!(
        update("Service", &old, &service()).is_empty(),
        "setting an unset clusterIP is allowed"
    );
    let changed = with(&service(), "/spec/clusterIP", json!("10.96.0.11"));
    assert_immutable(&update("Service", &changed, &old), "spec.clusterIP");
    let headless = with(&service(), "/spec/clusterIP", json!("None"));
    assert_immutable(&update("Service", &headless, &old), "spec.clusterIP");
}

#[test]
fn workload_selectors_are_immutable() {
    for kind in ["Deployment", "ReplicaSet"] {
        let old = workload(kind);
        let scaled = with(&old, "/spec/replicas", json!(5));
        assert!(update(kind, &scaled, &old).is_empty());
        let same = with(&old, "/spec/selector/matchExpressions", json!(null));
        assert!(
            update(kind, &same, &old).is_empty(),
            "null matchExpressions equals absent"
        );
        let changed = with(&old, "/spec/selector/matchLabels/tier", json!("front"));
        assert_immutable(&update(kind, &changed, &old), "spec.selector");
    }
}

#[test]
fn names_are_immutable() {
    let renamed = with(&pod(), "/metadata/name", json!("web-2"));
    assert_immutable(&update("Pod", &renamed, &pod()), "metadata.name");
    let moved = with(&pod(), "/metadata/namespace", json!("other"));
    assert_immutable(&update("Pod", &moved, &pod()), "metadata.namespace");
    let labelled = with(&pod(), "/metadata/labels", json!({"a": "b"}));
    assert!(update("Pod", &labelled, &pod()).is_empty());
}

#[test]
fn endpoint_slice_address_type_and_secret_type_are_immutable() {
    let old = json!({"metadata": meta("s"), "addressType": "IPv4", "endpoints": []});
    let new = with(&old, "/addressType", json!("IPv6"));
    assert_immutable(&update("EndpointSlice", &new, &old), "addressType");
    assert!(update("EndpointSlice", &old, &old).is_empty());
    let old = json!({"metadata": meta("s"), "type": "Opaque"});
    let new = with(&old, "/type", json!("kubernetes.io/tls"));
    assert_immutable(&update("Secret", &new, &old), "type");
}

#[test]
fn immutable_config_maps_keep_their_data() {
    let old = json!({"metadata": meta("cfg"), "data": {"a": "1"}});
    let new = with(&old, "/data/a", json!("2"));
    assert!(update("ConfigMap", &new, &old).is_empty());
    let locked = with(&old, "/immutable", json!(true));
    let changed = with(&locked, "/data/a", json!("2"));
    let causes = update("ConfigMap", &changed, &locked);
    assert!(
        causes
            .iter()
            .any(|c| c.field == "data" && c.reason == FieldValueForbidden),
        "{causes:?}"
    );
    let unlocked = with(&locked, "/immutable", json!(false));
    let causes = update("ConfigMap", &unlocked, &locked);
    assert!(causes.iter().any(|c| c.field == "immutable"), "{causes:?}");
    assert!(update("ConfigMap", &locked, &locked).is_empty());
}

#[test]
fn updates_are_validated_too() {
    let bad = with(&pod(), "/spec/containers/0/name", json!("Web"));
    let causes = update("Pod", &bad, &pod());
    assert!(
        causes.iter().any(|c| c.field == "spec.containers[0].name"),
        "{causes:?}"
    );
}
