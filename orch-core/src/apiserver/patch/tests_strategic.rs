//! Tests for strategic merge patch: map merging, `null` deletion and the
//! merge keys of the built-in kinds.

use serde_json::{json, Value};

use super::{apply_patch, PatchType};

pub(super) fn smp(kind: &str, original: Value, patch: Value) -> Value {
    apply_patch(
        kind,
        &original,
        PatchType::StrategicMerge,
        patch.to_string().as_bytes(),
    )
    .unwrap_or_else(|e| panic!("patch {patch} failed: {e}"))
}

fn pod(containers: Value) -> Value {
    json!({"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": containers}})
}

#[test]
fn maps_merge_recursively_and_null_deletes() {
    let out = smp(
        "ConfigMap",
        json!({"metadata": {"name": "c", "labels": {"a": "1", "b": "2"}}, "data": {"x": "1"}}),
        json!({"metadata": {"labels": {"a": null, "c": "3"}}, "data": {"y": "2"}, "nope": null}),
    );
    assert_eq!(
        out,
        json!({"metadata": {"name": "c", "labels": {"b": "2", "c": "3"}}, "data": {"x": "1", "y": "2"}})
    );
}

#[test]
fn nulls_inside_new_fields_are_dropped() {
    let out = smp(
        "ConfigMap",
        json!({"metadata": {"name": "c"}}),
        json!({"data": {"a": "1", "b": null}}),
    );
    assert_eq!(out, json!({"metadata": {"name": "c"}, "data": {"a": "1"}}));
}

#[test]
fn scalars_and_type_changes_replace() {
    let out = smp(
        "Pod",
        json!({"spec": {"a": {"x": 1}, "b": 1}}),
        json!({"spec": {"a": "s", "b": {"y": null, "z": 2}}}),
    );
    assert_eq!(out, json!({"spec": {"a": "s", "b": {"z": 2}}}));
}

#[test]
fn container_image_change_keeps_other_containers() {
    let original = pod(json!([
        {"name": "app", "image": "app:1", "ports": [{"containerPort": 80}]},
        {"name": "sidecar", "image": "side:1"}
    ]));
    let out = smp(
        "Pod",
        original,
        json!({"spec": {"containers": [{"name": "app", "image": "app:2"}]}}),
    );
    assert_eq!(
        out["spec"]["containers"],
        json!([
            {"name": "app", "image": "app:2", "ports": [{"containerPort": 80}]},
            {"name": "sidecar", "image": "side:1"}
        ])
    );
}

#[test]
fn new_elements_are_appended_in_original_order() {
    let original = pod(json!([{"name": "a"}, {"name": "b"}]));
    let out = smp(
        "Pod",
        original,
        json!({"spec": {"containers": [{"name": "c", "image": "c"}, {"name": "a", "image": "a"}]}}),
    );
    assert_eq!(
        out["spec"]["containers"],
        json!([{"name": "a", "image": "a"}, {"name": "b"}, {"name": "c", "image": "c"}])
    );
}

#[test]
fn container_sub_lists_merge_by_their_keys() {
    let original = pod(json!([{
        "name": "app",
        "ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 443}],
        "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
        "volumeMounts": [{"mountPath": "/data", "name": "d"}],
        "args": ["x", "y"]
    }]));
    let out = smp(
        "Pod",
        original,
        json!({"spec": {"containers": [{
            "name": "app",
            "ports": [{"containerPort": 80, "protocol": "TCP"}],
            "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}],
            "volumeMounts": [{"mountPath": "/data", "readOnly": true}, {"mountPath": "/cfg", "name": "c"}],
            "args": ["z"]
        }]}}),
    );
    let c = &out["spec"]["containers"][0];
    assert_eq!(
        c["ports"],
        json!([{"containerPort": 80, "name": "http", "protocol": "TCP"}, {"containerPort": 443}])
    );
    assert_eq!(
        c["env"],
        json!([{"name": "A", "value": "1"}, {"name": "B", "value": "3"}, {"name": "C", "value": "4"}])
    );
    assert_eq!(
        c["volumeMounts"],
        json!([{"mountPath": "/data", "name": "d", "readOnly": true}, {"mountPath": "/cfg", "name": "c"}])
    );
    assert_eq!(
        c["args"],
        json!(["z"]),
        "lists without a merge key are replaced"
    );
}

#[test]
fn pod_spec_lists_merge_by_key() {
    let original = json!({"spec": {
        "initContainers": [{"name": "i1", "image": "a"}, {"name": "i2"}],
        "ephemeralContainers": [{"name": "e1"}],
        "volumes": [{"name": "v1", "emptyDir": {}}, {"name": "v2", "configMap": {"name": "c"}}],
        "imagePullSecrets": [{"name": "s1"}],
        "hostAliases": [{"ip": "10.0.0.1", "hostnames": ["a"]}],
        "topologySpreadConstraints": [{"topologyKey": "zone", "maxSkew": 1}],
        "tolerations": [{"key": "a"}, {"key": "b"}]
    }});
    let out = smp(
        "Pod",
        original,
        json!({"spec": {
            "initContainers": [{"name": "i2", "image": "b"}],
            "ephemeralContainers": [{"name": "e2"}],
            "volumes": [{"name": "v2", "configMap": {"name": "d"}}],
            "imagePullSecrets": [{"name": "s2"}],
            "hostAliases": [{"ip": "10.0.0.1", "hostnames": ["b"]}, {"ip": "10.0.0.2", "hostnames": ["c"]}],
            "topologySpreadConstraints": [{"topologyKey": "zone", "maxSkew": 2}],
            "tolerations": [{"key": "c"}]
        }}),
    );
    let s = &out["spec"];
    assert_eq!(
        s["initContainers"],
        json!([{"name": "i1", "image": "a"}, {"name": "i2", "image": "b"}])
    );
    assert_eq!(
        s["ephemeralContainers"],
        json!([{"name": "e1"}, {"name": "e2"}])
    );
    assert_eq!(
        s["volumes"],
        json!([{"name": "v1", "emptyDir": {}}, {"name": "v2", "configMap": {"name": "d"}}])
    );
    assert_eq!(
        s["imagePullSecrets"],
        json!([{"name": "s1"}, {"name": "s2"}])
    );
    assert_eq!(
        s["hostAliases"],
        json!([{"ip": "10.0.0.1", "hostnames": ["b"]}, {"ip": "10.0.0.2", "hostnames": ["c"]}])
    );
    assert_eq!(
        s["topologySpreadConstraints"],
        json!([{"topologyKey": "zone", "maxSkew": 2}])
    );
    assert_eq!(s["tolerations"], json!([{"key": "c"}]));
}

#[test]
fn deployment_and_replicaset_templates() {
    for kind in ["Deployment", "ReplicaSet"] {
        let original = json!({"spec": {"replicas": 1, "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "web:1", "env": [{"name": "A", "value": "1"}]}, {"name": "log"}]}
        }}});
        let out = smp(
            kind,
            original,
            json!({"spec": {"replicas": 3, "template": {"spec": {"containers": [
                {"name": "web", "image": "web:2", "env": [{"name": "B", "value": "2"}]}
            ]}}}}),
        );
        assert_eq!(out["spec"]["replicas"], 3);
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"],
            json!([
                {"name": "web", "image": "web:2", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
                {"name": "log"}
            ]),
            "{kind}"
        );
        assert_eq!(
            out["spec"]["template"]["metadata"]["labels"],
            json!({"app": "web"})
        );
    }
}

#[test]
fn unknown_kinds_replace_lists() {
    let out = smp(
        "Widget",
        json!({"spec": {"containers": [{"name": "a"}]}}),
        json!({"spec": {"containers": [{"name": "b"}]}}),
    );
    assert_eq!(out["spec"]["containers"], json!([{"name": "b"}]));
}

#[test]
fn service_ports_merge_by_port() {
    let svc = json!({"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443, "targetPort": 8443}]}});
    let out = smp(
        "Service",
        svc.clone(),
        json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}),
    );
    assert_eq!(
        out["spec"]["ports"],
        json!([{"port": 80, "targetPort": 9090}, {"port": 443, "targetPort": 8443}])
    );
    let out = smp(
        "Service",
        svc,
        json!({"spec": {"ports": [{"port": 80, "$patch": "delete"}]}}),
    );
    assert_eq!(
        out["spec"]["ports"],
        json!([{"port": 443, "targetPort": 8443}])
    );
}

#[test]
fn merge_keys_compare_numbers_by_value() {
    let svc = json!({"spec": {"ports": [{"port": 80, "name": "a"}]}});
    let out = smp(
        "Service",
        svc,
        json!({"spec": {"ports": [{"port": 80.0, "name": "b"}]}}),
    );
    assert_eq!(out["spec"]["ports"].as_array().unwrap().len(), 1);
    assert_eq!(out["spec"]["ports"][0]["name"], "b");
}

#[test]
fn owner_references_and_finalizers() {
    let original = json!({"metadata": {
        "ownerReferences": [{"uid": "u1", "name": "a", "controller": true}],
        "finalizers": ["a", "b"]
    }});
    let out = smp(
        "ReplicaSet",
        original,
        json!({"metadata": {
            "ownerReferences": [{"uid": "u1", "controller": false}, {"uid": "u2", "name": "b"}],
            "finalizers": ["b", "c", "c"]
        }}),
    );
    assert_eq!(
        out["metadata"]["ownerReferences"],
        json!([{"uid": "u1", "name": "a", "controller": false}, {"uid": "u2", "name": "b"}])
    );
    assert_eq!(out["metadata"]["finalizers"], json!(["a", "b", "c"]));
}

#[test]
fn status_conditions_merge_by_type() {
    for kind in ["Pod", "Node", "Deployment", "ReplicaSet"] {
        let original = json!({"status": {"conditions": [
            {"type": "Ready", "status": "False", "reason": "x"},
            {"type": "Other", "status": "True"}
        ]}});
        let out = smp(
            kind,
            original,
            json!({"status": {"conditions": [{"type": "Ready", "status": "True", "reason": null}]}}),
        );
        assert_eq!(
            out["status"]["conditions"],
            json!([{"type": "Ready", "status": "True"}, {"type": "Other", "status": "True"}]),
            "{kind}"
        );
    }
}

#[test]
fn node_addresses_merge_by_type() {
    let node = json!({"status": {"addresses": [
        {"type": "InternalIP", "address": "10.0.0.1"},
        {"type": "Hostname", "address": "n1"}
    ]}});
    let out = smp(
        "Node",
        node,
        json!({"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.2"}]}}),
    );
    assert_eq!(
        out["status"]["addresses"],
        json!([{"type": "InternalIP", "address": "10.0.0.2"}, {"type": "Hostname", "address": "n1"}])
    );
}

#[test]
fn new_merge_list_without_keys_is_taken_as_is() {
    let out = smp(
        "Service",
        json!({"spec": {}}),
        json!({"spec": {"ports": [{"targetPort": 80}]}}),
    );
    assert_eq!(out["spec"]["ports"], json!([{"targetPort": 80}]));
}

#[test]
fn missing_merge_key_is_bad_request() {
    let original = pod(json!([{"name": "a"}]));
    for patch in [
        json!({"spec": {"containers": [{"image": "x"}]}}),
        json!({"spec": {"containers": [{"$patch": "delete"}]}}),
        json!({"spec": {"containers": ["a"]}}),
    ] {
        let err = apply_patch(
            "Pod",
            &original,
            PatchType::StrategicMerge,
            patch.to_string().as_bytes(),
        )
        .unwrap_err();
        assert!(err.is_bad_request(), "{patch}: {err}");
    }
}

/// What `kubectl apply` sends after editing one field of a Deployment
/// (computed from last-applied, the new config and the live object).
#[test]
fn kubectl_apply_style_patch() {
    let live = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{old}", "deployment.kubernetes.io/revision": "1"},
            "labels": {"app": "web"}
        },
        "spec": {
            "replicas": 2,
            "template": {"spec": {"containers": [
                {"name": "web", "image": "web:1", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
                {"name": "injected", "image": "mesh:1"}
            ]}}
        }
    });
    let patch = json!({
        "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{new}"}},
        "spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "web"}],
            "containers": [{
                "$setElementOrder/env": [{"name": "A"}, {"name": "C"}],
                "env": [{"name": "C", "value": "3"}, {"$patch": "delete", "name": "B"}],
                "image": "web:2",
                "name": "web"
            }]
        }}}
    });
    let out = smp("Deployment", live, patch);
    assert_eq!(
        out["metadata"]["annotations"],
        json!({"kubectl.kubernetes.io/last-applied-configuration": "{new}", "deployment.kubernetes.io/revision": "1"})
    );
    assert_eq!(out["spec"]["replicas"], 2);
    assert_eq!(
        out["spec"]["template"]["spec"]["containers"],
        json!([
            {"name": "web", "image": "web:2", "env": [{"name": "A", "value": "1"}, {"name": "C", "value": "3"}]},
            {"name": "injected", "image": "mesh:1"}
        ])
    );
}
