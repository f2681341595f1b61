//! Tests for the strategic merge patch directives: `$patch`,
//! `$retainKeys`, `$deleteFromPrimitiveList/..` and `$setElementOrder/..`.

use serde_json::{json, Value};

use super::tests_strategic::smp;
use super::{apply_patch, PatchError, PatchType};

fn smp_err(kind: &str, original: Value, patch: Value) -> PatchError {
    apply_patch(
        kind,
        &original,
        PatchType::StrategicMerge,
        patch.to_string().as_bytes(),
    )
    .expect_err("patch should fail")
}

fn names(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect()
}

#[test]
fn map_patch_replace() {
    let out = smp(
        "Pod",
        json!({"spec": {"securityContext": {"runAsUser": 1, "fsGroup": 2}}}),
        json!({"spec": {"securityContext": {"$patch": "replace", "runAsGroup": 3, "x": null}}}),
    );
    assert_eq!(out, json!({"spec": {"securityContext": {"runAsGroup": 3}}}));
}

#[test]
fn map_patch_delete_and_merge() {
    let original = json!({"spec": {"securityContext": {"runAsUser": 1}, "nodeName": "n"}});
    let out = smp(
        "Pod",
        original.clone(),
        json!({"spec": {"securityContext": {"$patch": "delete"}}}),
    );
    assert_eq!(out, json!({"spec": {"nodeName": "n"}}));
    let out = smp(
        "Pod",
        original.clone(),
        json!({"spec": {"securityContext": {"$patch": "merge", "fsGroup": 2}}}),
    );
    assert_eq!(
        out["spec"]["securityContext"],
        json!({"runAsUser": 1, "fsGroup": 2})
    );
    // Deleting a map that does not exist is a no-op.
    let out = smp(
        "Pod",
        original.clone(),
        json!({"spec": {"affinity": {"$patch": "delete"}}}),
    );
    assert_eq!(out, original);
    // At the top level, replace swaps the whole object.
    let out = smp(
        "Pod",
        original,
        json!({"$patch": "replace", "metadata": {"name": "x"}}),
    );
    assert_eq!(out, json!({"metadata": {"name": "x"}}));
}

#[test]
fn unknown_patch_type_is_bad_request() {
    for patch in [
        json!({"spec": {"$patch": "frob"}}),
        json!({"spec": {"$patch": 1}}),
        json!({"spec": {"containers": [{"name": "a", "$patch": "frob"}]}}),
    ] {
        let err = smp_err(
            "Pod",
            json!({"spec": {"containers": [{"name": "a"}]}}),
            patch.clone(),
        );
        assert!(
            matches!(err, PatchError::InvalidDirective(_)),
            "{patch}: {err}"
        );
        assert!(err.is_bad_request());
    }
}

#[test]
fn list_element_delete() {
    let original = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}});
    let out = smp(
        "Pod",
        original,
        json!({"spec": {"containers": [{"name": "b", "$patch": "delete"}, {"name": "d"}]}}),
    );
    assert_eq!(names(&out["spec"]["containers"]), ["a", "c", "d"]);
}

#[test]
fn list_replace_directive() {
    let original = json!({"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b"}]}});
    let out = smp(
        "Pod",
        original.clone(),
        json!({"spec": {"containers": [{"name": "c"}, {"name": "a"}, {"$patch": "replace"}]}}),
    );
    assert_eq!(
        out["spec"]["containers"],
        json!([{"name": "c"}, {"name": "a"}])
    );
    // `{"$patch": "replace"}` alone empties the list.
    let out = smp(
        "Pod",
        original,
        json!({"spec": {"containers": [{"$patch": "replace"}]}}),
    );
    assert_eq!(out["spec"]["containers"], json!([]));
}

#[test]
fn list_merge_directive_is_the_default() {
    let original = json!({"spec": {"containers": [{"name": "a", "image": "1"}]}});
    let out = smp(
        "Pod",
        original,
        json!({"spec": {"containers": [{"$patch": "merge"}, {"name": "a", "$patch": "merge", "tty": true}]}}),
    );
    assert_eq!(
        out["spec"]["containers"],
        json!([{"name": "a", "image": "1", "tty": true}])
    );
}

#[test]
fn primitive_list_replace() {
    let out = smp(
        "Pod",
        json!({"metadata": {"finalizers": ["a", "b"]}}),
        json!({"metadata": {"finalizers": ["c", {"$patch": "replace"}]}}),
    );
    assert_eq!(out["metadata"]["finalizers"], json!(["c"]));
}

#[test]
fn retain_keys() {
    let original =
        json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}});
    let out = smp(
        "Deployment",
        original.clone(),
        json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": null}}}),
    );
    assert_eq!(out, json!({"spec": {"strategy": {"type": "Recreate"}}}));
    let out = smp(
        "Deployment",
        original.clone(),
        json!({"spec": {"strategy": {"$retainKeys": ["type"]}}}),
    );
    assert_eq!(
        out,
        json!({"spec": {"strategy": {"type": "RollingUpdate"}}})
    );
    // A patched field outside the list, or a malformed list, is rejected.
    let err = smp_err(
        "Deployment",
        original.clone(),
        json!({"spec": {"strategy": {"$retainKeys": ["type"], "x": 1}}}),
    );
    assert!(err.is_bad_request());
    let err = smp_err(
        "Deployment",
        original,
        json!({"spec": {"strategy": {"$retainKeys": "type"}}}),
    );
    assert!(err.is_bad_request());
}

#[test]
fn delete_from_primitive_list() {
    let original = json!({"metadata": {"finalizers": ["a", "b", "c"]}, "spec": {"containers": [{"name": "x", "args": ["1", "2"]}]}});
    let out = smp(
        "Pod",
        original.clone(),
        json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b", "zz"], "finalizers": ["d"]}}),
    );
    assert_eq!(out["metadata"]["finalizers"], json!(["a", "c", "d"]));
    // Works for non-merging lists too, and for missing fields is a no-op.
    let out = smp(
        "Pod",
        original.clone(),
        json!({"spec": {"containers": [{"name": "x", "$deleteFromPrimitiveList/args": ["1"]}], "$deleteFromPrimitiveList/nope": ["1"]}}),
    );
    assert_eq!(out["spec"]["containers"][0]["args"], json!(["2"]));
    assert!(out["spec"].get("nope").is_none());
    let err = smp_err(
        "Pod",
        original,
        json!({"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}}),
    );
    assert!(err.is_bad_request());
}

#[test]
fn set_element_order_reorders_merged_list() {
    let original = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}});
    let out = smp(
        "Pod",
        original.clone(),
        json!({"spec": {
            "$setElementOrder/containers": [{"name": "c"}, {"name": "d"}, {"name": "a"}, {"name": "b"}],
            "containers": [{"name": "d"}]
        }}),
    );
    assert_eq!(names(&out["spec"]["containers"]), ["c", "d", "a", "b"]);
    // Order only, no list in the patch.
    let out = smp(
        "Pod",
        original,
        json!({"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}, {"name": "c"}]}}),
    );
    assert_eq!(names(&out["spec"]["containers"]), ["b", "a", "c"]);
}

#[test]
fn set_element_order_keeps_server_only_elements_in_place() {
    // "mesh" was added by someone else; kubectl only knows a, b, c.
    let original =
        json!({"spec": {"containers": [{"name": "a"}, {"name": "mesh"}, {"name": "b"}]}});
    let out = smp(
        "Pod",
        original,
        json!({"spec": {
            "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}],
            "containers": [{"name": "c"}]
        }}),
    );
    assert_eq!(names(&out["spec"]["containers"]), ["a", "mesh", "b", "c"]);
}

#[test]
fn set_element_order_for_primitives_and_deletions() {
    let out = smp(
        "Pod",
        json!({"metadata": {"finalizers": ["a", "b", "c"]}}),
        json!({"metadata": {
            "$setElementOrder/finalizers": ["d", "c", "a"],
            "$deleteFromPrimitiveList/finalizers": ["b"],
            "finalizers": ["d"]
        }}),
    );
    assert_eq!(out["metadata"]["finalizers"], json!(["d", "c", "a"]));
    let out = smp(
        "Service",
        json!({"spec": {"ports": [{"port": 1}, {"port": 2}, {"port": 3}]}}),
        json!({"spec": {
            "$setElementOrder/ports": [{"port": 3}, {"port": 1}],
            "ports": [{"port": 2, "$patch": "delete"}]
        }}),
    );
    assert_eq!(out["spec"]["ports"], json!([{"port": 3}, {"port": 1}]));
}

#[test]
fn set_element_order_on_new_list_strips_directives() {
    // The patch list order disagrees with the directive: rejected.
    let err = smp_err(
        "Pod",
        json!({"spec": {}}),
        json!({"spec": {"$setElementOrder/volumes": [{"name": "b"}, {"name": "a"}], "volumes": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}}),
    );
    assert!(err.is_bad_request());
    let out = smp(
        "Pod",
        json!({"spec": {}}),
        json!({"spec": {"$setElementOrder/volumes": [{"name": "b"}, {"name": "a"}], "volumes": [{"name": "b"}, {"name": "a"}]}}),
    );
    assert_eq!(
        out,
        json!({"spec": {"volumes": [{"name": "b"}, {"name": "a"}]}})
    );
}

#[test]
fn malformed_set_element_order_is_bad_request() {
    let original = json!({"spec": {"containers": [{"name": "a"}]}});
    for patch in [
        json!({"spec": {"$setElementOrder/containers": "a"}}),
        json!({"spec": {"$setElementOrder/containers": [{"image": "x"}]}}),
        json!({"spec": {"$setElementOrder/containers": [{"name": "a"}], "containers": {"name": "a"}}}),
        json!({"spec": {"$setElementOrder/": []}}),
    ] {
        assert!(
            smp_err("Pod", original.clone(), patch.clone()).is_bad_request(),
            "{patch}"
        );
    }
}

#[test]
fn set_element_order_ignored_for_replaced_lists() {
    let out = smp(
        "Pod",
        json!({"spec": {"tolerations": [{"key": "a"}]}}),
        json!({"spec": {"$setElementOrder/tolerations": [{"key": "b"}], "tolerations": [{"key": "b"}]}}),
    );
    assert_eq!(out, json!({"spec": {"tolerations": [{"key": "b"}]}}));
}

#[test]
fn unknown_dollar_keys_are_dropped() {
    let out = smp(
        "Pod",
        json!({"spec": {}}),
        json!({"spec": {"$unknown": 1, "a": {"$x": 2, "b": 1}}}),
    );
    assert_eq!(out, json!({"spec": {"a": {"b": 1}}}));
}
