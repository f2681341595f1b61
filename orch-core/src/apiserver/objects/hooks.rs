//! The few places where a kind needs more than the generic path: initial
//! status, namespace finalizers, and Service ClusterIPs.
use std::net::Ipv4Addr;

use serde_json::{json, Value};

use crate::apiserver::{
    resources::Resource,
    state::ApiState,
    status::ApiError,
    validation::{Cause, CauseReason},
};

/// Server-side initial state of a new object.
pub fn prepare_create(res: &Resource, obj: &mut Value) {
    match res.kind {
        "Pod" => obj["status"] = json!({"phase": "Pending"}),
        "Namespace" => {
            obj["status"] = json!({"phase": "Active"});
            let spec = obj.as_object_mut().and_then(|m| {
                m.entry("spec").or_insert_with(|| json!({}));
                m.get_mut("spec")
            });
            if let Some(spec) = spec.filter(|s| s.is_object()) {
                spec["finalizers"] = json!(["kubernetes"]);
            }
        }
        "Service" => obj["status"] = json!({"loadBalancer": {}}),
        // Nodes may be created with their status, as kubelets do.
        "Node" => {}
        _ if res.has_status() => {
            if let Some(m) = obj.as_object_mut() {
                m.remove("status");
            }
        }
        _ => {}
    }
}

/// Keeps server-assigned fields a client omitted on update.
pub fn prepare_update(res: &Resource, old: &Value, new: &mut Value) {
    if res.kind == "Service" {
        let empty = new
            .pointer("/spec/clusterIP")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty);
        if empty {
            if let (Some(ip), Some(spec)) =
                (old.pointer("/spec/clusterIP").cloned(), new.get_mut("spec"))
            {
                if spec.is_object() {
                    spec["clusterIP"] = ip;
                    if let Some(ips) = old.pointer("/spec/clusterIPs") {
                        spec["clusterIPs"] = ips.clone();
                    }
                }
            }
        }
    }
}

fn cluster_ip_invalid(obj: &Value, msg: String) -> ApiError {
    let name = crate::apiserver::meta::name(obj).to_string();
    ApiError::invalid(
        "Service",
        "",
        &name,
        &[Cause {
            field: "spec.clusterIP".into(),
            reason: CauseReason::FieldValueInvalid,
            message: msg,
        }],
    )
}

/// Allocates what a new object needs (a Service's ClusterIP). Returns what
/// to release if the create fails.
pub fn allocate(
    state: &ApiState,
    res: &Resource,
    obj: &mut Value,
) -> Result<Option<Ipv4Addr>, ApiError> {
    if res.kind != "Service" {
        return Ok(None);
    }
    if obj.pointer("/spec/type").and_then(Value::as_str) == Some("ExternalName") {
        return Ok(None);
    }
    let requested = obj
        .pointer("/spec/clusterIP")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if requested == "None" {
        obj["spec"]["clusterIPs"] = json!(["None"]);
        return Ok(None);
    }
    let mut ips = state.ips.lock().unwrap_or_else(|p| p.into_inner());
    let ip = if requested.is_empty() {
        ips.allocate().map_err(|m| cluster_ip_invalid(obj, m))?
    } else {
        let ip: Ipv4Addr = requested.parse().map_err(|_| {
            cluster_ip_invalid(obj, format!("{requested:?} is not a valid IPv4 address"))
        })?;
        ips.allocate_specific(ip)
            .map_err(|m| cluster_ip_invalid(obj, m))?;
        ip
    };
    obj["spec"]["clusterIP"] = json!(ip.to_string());
    obj["spec"]["clusterIPs"] = json!([ip.to_string()]);
    Ok(Some(ip))
}

/// Gives back what [`allocate`] took.
pub fn release(state: &ApiState, allocated: Option<Ipv4Addr>) {
    if let Some(ip) = allocated {
        state
            .ips
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .release(ip);
    }
}

/// Frees what a deleted object held.
pub fn after_delete(state: &ApiState, res: &Resource, obj: &Value) {
    if res.kind == "Service" {
        let ip = obj
            .pointer("/spec/clusterIP")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok());
        release(state, ip);
    }
}

/// Whether an update finishes a pending deletion: it removed the last
/// finalizer of an object whose grace period is over (or was zero), and for
/// namespaces nothing is left in `spec.finalizers` either.
pub fn update_completes_deletion(old: &Value, new: &Value) -> bool {
    use crate::apiserver::meta;
    if !meta::is_terminating(old) || !meta::finalizers(new).is_empty() {
        return false;
    }
    let spec_fins = new
        .pointer("/spec/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty());
    let is_namespace = new.get("kind").and_then(Value::as_str) == Some("Namespace");
    if is_namespace && spec_fins {
        return false;
    }
    let removed_last = !meta::finalizers(old).is_empty()
        || (is_namespace
            && old
                .pointer("/spec/finalizers")
                .and_then(Value::as_array)
                .is_some_and(|f| !f.is_empty()));
    let grace = old
        .pointer("/metadata/deletionGracePeriodSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    removed_last && grace == 0
}
