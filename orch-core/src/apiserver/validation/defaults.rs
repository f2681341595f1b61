//! Kubernetes defaulting for the spec fields of the supported kinds. Only
//! absent (or `null`) fields are filled in; values of the wrong type are
//! left alone for validation to report.

use serde_json::{json, Map, Value};

use super::json::Object;
use super::Kind;

/// Fills in defaults for `kind` (metadata is defaulted elsewhere).
pub(super) fn apply_defaults(kind: Kind, obj: &mut Value) {
    let Some(obj) = obj.as_object_mut() else {
        return;
    };
    match kind {
        Kind::Pod => {
            if let Some(spec) = ensure_object(obj, "spec") {
                default_pod_spec(spec);
            }
        }
        Kind::Service => {
            if let Some(spec) = ensure_object(obj, "spec") {
                default_service_spec(spec);
            }
        }
        Kind::Deployment => {
            if let Some(spec) = ensure_object(obj, "spec") {
                default_deployment_spec(spec);
            }
        }
        Kind::ReplicaSet => {
            if let Some(spec) = ensure_object(obj, "spec") {
                default_workload_spec(spec);
            }
        }
        Kind::EndpointSlice => for_each_object(obj, "ports", default_protocol),
        Kind::Namespace
        | Kind::Node
        | Kind::Event
        | Kind::ConfigMap
        | Kind::Secret
        | Kind::Lease => {}
    }
}

/// `obj[key]`, created as `{}` when absent or `null`; `None` when it holds
/// another type.
fn ensure_object<'a>(obj: &'a mut Object, key: &str) -> Option<&'a mut Object> {
    let v = obj.entry(key).or_insert(Value::Null);
    if v.is_null() {
        *v = Value::Object(Map::new());
    }
    v.as_object_mut()
}

/// Sets `obj[key] = value` when absent or `null`.
fn set_default(obj: &mut Object, key: &str, value: Value) {
    let v = obj.entry(key).or_insert(Value::Null);
    if v.is_null() {
        *v = value;
    }
}

/// Applies `f` to every object element of the array `obj[key]`.
fn for_each_object(obj: &mut Object, key: &str, f: fn(&mut Object)) {
    if let Some(items) = obj.get_mut(key).and_then(Value::as_array_mut) {
        items
            .iter_mut()
            .filter_map(Value::as_object_mut)
            .for_each(f);
    }
}

fn default_protocol(port: &mut Object) {
    set_default(port, "protocol", json!("TCP"));
}

fn default_pod_spec(spec: &mut Object) {
    set_default(spec, "restartPolicy", json!("Always"));
    set_default(spec, "terminationGracePeriodSeconds", json!(30));
    set_default(spec, "dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "schedulerName", json!("default-scheduler"));
    set_default(spec, "enableServiceLinks", json!(true));
    for key in ["initContainers", "containers"] {
        for_each_object(spec, key, |c| for_each_object(c, "ports", default_protocol));
    }
}

fn default_service_spec(spec: &mut Object) {
    set_default(spec, "type", json!("ClusterIP"));
    set_default(spec, "sessionAffinity", json!("None"));
    for_each_object(spec, "ports", |port| {
        default_protocol(port);
        let unset = match port.get("targetPort") {
            None | Some(Value::Null) => true,
            Some(Value::Number(n)) => n.as_i64() == Some(0),
            Some(Value::String(s)) => s.is_empty(),
            Some(_) => false,
        };
        if let Some(number) = port.get("port").filter(|p| p.is_number()).cloned() {
            if unset {
                port.insert("targetPort".to_owned(), number);
            }
        }
    });
}

/// Defaults shared by Deployments and ReplicaSets.
fn default_workload_spec(spec: &mut Object) {
    set_default(spec, "replicas", json!(1));
    if let Some(pod) = ensure_object(spec, "template").and_then(|t| ensure_object(t, "spec")) {
        default_pod_spec(pod);
    }
}

fn default_deployment_spec(spec: &mut Object) {
    default_workload_spec(spec);
    set_default(spec, "revisionHistoryLimit", json!(10));
    set_default(spec, "progressDeadlineSeconds", json!(600));
    let Some(strategy) = ensure_object(spec, "strategy") else {
        return;
    };
    set_default(strategy, "type", json!("RollingUpdate"));
    if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
        if let Some(rolling) = ensure_object(strategy, "rollingUpdate") {
            set_default(rolling, "maxUnavailable", json!("25%"));
            set_default(rolling, "maxSurge", json!("25%"));
        }
    }
}
