//! Tests for content types, RFC 6902 JSON patch, RFC 7386 merge patch and
//! error classification.

use serde_json::{json, Value};

use super::{apply_patch, PatchError, PatchType};

fn apply(t: PatchType, original: &Value, patch: &str) -> Result<Value, PatchError> {
    apply_patch("Pod", original, t, patch.as_bytes())
}

#[test]
fn content_types() {
    use PatchType::*;
    let cases = [
        ("application/json-patch+json", Some(Json)),
        ("application/merge-patch+json", Some(Merge)),
        (
            "application/strategic-merge-patch+json",
            Some(StrategicMerge),
        ),
        (
            "application/strategic-merge-patch+json; charset=utf-8",
            Some(StrategicMerge),
        ),
        (" Application/Merge-Patch+JSON ;charset=UTF-8", Some(Merge)),
        ("application/apply-patch+yaml", None),
        ("application/json", None),
        ("", None),
    ];
    for (ct, want) in cases {
        assert_eq!(PatchType::from_content_type(ct), want, "{ct:?}");
    }
    for t in [Json, Merge, StrategicMerge] {
        assert_eq!(PatchType::from_content_type(t.content_type()), Some(t));
    }
}

#[test]
fn json_patch_operations() {
    let pod = json!({"metadata": {"name": "p", "labels": {"a": "1"}}, "spec": {"containers": [{"name": "c"}]}});
    let out = apply(
        PatchType::Json,
        &pod,
        r#"[
            {"op": "test", "path": "/metadata/name", "value": "p"},
            {"op": "add", "path": "/metadata/labels/b", "value": "2"},
            {"op": "replace", "path": "/metadata/labels/a", "value": "x"},
            {"op": "add", "path": "/spec/containers/-", "value": {"name": "d"}},
            {"op": "copy", "from": "/metadata/labels/b", "path": "/metadata/labels/c"},
            {"op": "move", "from": "/metadata/labels/c", "path": "/metadata/labels/e"},
            {"op": "remove", "path": "/spec/containers/0"}
        ]"#,
    )
    .unwrap();
    assert_eq!(
        out,
        json!({"metadata": {"name": "p", "labels": {"a": "x", "b": "2", "e": "2"}}, "spec": {"containers": [{"name": "d"}]}})
    );
}

#[test]
fn json_patch_failures_are_unprocessable() {
    let pod = json!({"metadata": {"name": "p"}});
    for body in [
        r#"[{"op": "test", "path": "/metadata/name", "value": "q"}]"#,
        r#"[{"op": "remove", "path": "/spec"}]"#,
        r#"[{"op": "replace", "path": "/spec/x", "value": 1}]"#,
        r#"[{"op": "add", "path": "/a/b/c", "value": 1}]"#,
    ] {
        let err = apply(PatchType::Json, &pod, body).unwrap_err();
        assert!(
            matches!(err, PatchError::OperationFailed(_)),
            "{body}: {err}"
        );
        assert!(!err.is_bad_request());
        assert_eq!(err.status_code(), 422);
    }
    // Replacing the whole document with a non-object is invalid too.
    let err = apply(
        PatchType::Json,
        &pod,
        r#"[{"op": "replace", "path": "", "value": 3}]"#,
    )
    .unwrap_err();
    assert!(matches!(err, PatchError::NotAnObject(_)));
    assert_eq!(err.status_code(), 422);
}

#[test]
fn json_patch_failure_leaves_original_alone() {
    let pod = json!({"a": 1});
    let err = apply(
        PatchType::Json,
        &pod,
        r#"[{"op": "add", "path": "/b", "value": 2}, {"op": "test", "path": "/a", "value": 9}]"#,
    );
    assert!(err.is_err());
    assert_eq!(pod, json!({"a": 1}));
}

#[test]
fn malformed_bodies_are_bad_requests_with_position() {
    let pod = json!({});
    for t in [PatchType::Json, PatchType::Merge, PatchType::StrategicMerge] {
        let err = apply(t, &pod, "{\n  \"a\": ").unwrap_err();
        assert!(matches!(err, PatchError::Malformed(_)), "{t:?}: {err}");
        assert!(err.is_bad_request());
        assert!(err.to_string().contains("line 2"), "{err}");
        assert!(apply(t, &pod, "").unwrap_err().is_bad_request());
    }
    // Well-formed JSON, but not an operation list / unknown op.
    for body in [
        r#"{"op": "add"}"#,
        r#"[{"op": "frobnicate", "path": "/a"}]"#,
        r#"[{"op": "add", "path": "a", "value": 1}]"#,
    ] {
        let err = apply(PatchType::Json, &pod, body).unwrap_err();
        assert!(err.is_bad_request(), "{body}: {err}");
    }
    for t in [PatchType::Merge, PatchType::StrategicMerge] {
        let err = apply(t, &pod, "[1]").unwrap_err();
        assert!(matches!(err, PatchError::WrongBodyType(_)), "{err}");
        assert_eq!(err.status_code(), 400);
    }
}

#[test]
fn merge_patch_replaces_lists_and_deletes_nulls() {
    let pod = json!({
        "metadata": {"labels": {"a": "1", "b": "2"}},
        "spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}
    });
    let out = apply(
        PatchType::Merge,
        &pod,
        r#"{"metadata": {"labels": {"a": null, "c": "3"}}, "spec": {"containers": [{"name": "a", "image": "z"}]}}"#,
    )
    .unwrap();
    assert_eq!(
        out,
        json!({"metadata": {"labels": {"b": "2", "c": "3"}}, "spec": {"containers": [{"name": "a", "image": "z"}]}})
    );
}
