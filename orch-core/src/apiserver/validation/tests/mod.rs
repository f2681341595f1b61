//! Unit tests for defaulting and validation: fixtures of valid objects,
//! which each test mutates to hit one rule.

mod decode;
mod defaults;
mod meta;
mod others;
mod pod;
mod props;
mod service;
mod update;
mod workloads;

use serde_json::{json, Value};

use super::{validate, Cause, CauseReason};

/// Whether `kind` is namespaced (all fixtures but Namespace and Node).
pub(super) fn namespaced(kind: &str) -> bool {
    !matches!(kind, "Namespace" | "Node")
}

/// Validates `obj` for creation.
pub(super) fn check(kind: &str, obj: &Value) -> Vec<Cause> {
    validate(kind, obj, namespaced(kind))
}

/// Asserts that `obj` validates without causes.
#[track_caller]
pub(super) fn assert_valid(kind: &str, obj: &Value) {
    let causes = check(kind, obj);
    assert!(
        causes.is_empty(),
        "{kind} should be valid, got {causes:#?}\n{obj:#}"
    );
}

/// Asserts that validating `obj` yields a cause at `field` with `reason`.
#[track_caller]
pub(super) fn assert_cause(kind: &str, obj: &Value, field: &str, reason: CauseReason) -> Cause {
    let causes = check(kind, obj);
    causes
        .iter()
        .find(|c| c.field == field && c.reason == reason)
        .cloned()
        .unwrap_or_else(|| panic!("expected {reason} at {field:?}, got {causes:#?}"))
}

/// `obj` with the value at JSON pointer `ptr` set to `value` (the parent
/// must exist; array elements are replaced or appended).
pub(super) fn with(obj: &Value, ptr: &str, value: Value) -> Value {
    let mut obj = obj.clone();
    let (parent, last) = ptr.rsplit_once('/').expect("pointer");
    match obj.pointer_mut(parent).expect("parent exists") {
        Value::Object(map) => {
            map.insert(last.to_owned(), value);
        }
        Value::Array(items) => {
            let i: usize = last.parse().expect("index");
            if i < items.len() {
                items[i] = value;
            } else {
                items.push(value);
            }
        }
        other => panic!("cannot set {ptr} in {other}"),
    }
    obj
}

/// `obj` without the field at JSON pointer `ptr`.
pub(super) fn without(obj: &Value, ptr: &str) -> Value {
    let mut obj = obj.clone();
    let (parent, last) = ptr.rsplit_once('/').expect("pointer");
    if let Some(map) = obj.pointer_mut(parent).and_then(Value::as_object_mut) {
        map.remove(last);
    }
    obj
}

pub(super) fn meta(name: &str) -> Value {
    json!({"name": name, "namespace": "default"})
}

pub(super) fn container(name: &str) -> Value {
    json!({"name": name, "image": "nginx", "ports": [{"containerPort": 80, "name": "http", "protocol": "TCP"}]})
}

pub(super) fn pod() -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta("web"), "spec": {"containers": [container("web")]}})
}

pub(super) fn service() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service", "metadata": meta("web"),
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}]}
    })
}

/// A Deployment (or, with `kind` "ReplicaSet", a ReplicaSet) selecting
/// `app=web`.
pub(super) fn workload(kind: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": kind, "metadata": meta("web"),
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web", "tier": "front"}},
                "spec": {"containers": [container("web")]}
            }
        }
    })
}

pub(super) fn deployment() -> Value {
    workload("Deployment")
}
