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
use crate::store::StoreError;

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

/// Where a ClusterIP's reservation lives in the store. Creating this key is
/// what makes an address taken, so API servers sharing one store never
/// hand out the same address twice.
pub fn reservation_key(ip: Ipv4Addr) -> String {
    format!("{RESERVATIONS}{ip}")
}

/// The store prefix of ClusterIP reservations.
pub const RESERVATIONS: &str = "/registry/ipaddresses/";

/// Takes `ip` in the store for the Service `service`: `Ok(false)` if
/// someone else holds it.
pub async fn reserve(state: &ApiState, ip: Ipv4Addr, service: &Value) -> Result<bool, ApiError> {
    let owner = format!(
        "{}/{}",
        service
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or(""),
        crate::apiserver::meta::name(service)
    );
    let value = serde_json::to_vec(&json!({"service": owner})).unwrap_or_default();
    match state.store.create(&reservation_key(ip), value).await {
        Ok(_) => Ok(true),
        Err(StoreError::AlreadyExists(_)) => Ok(false),
        Err(e) => Err(ApiError::internal(format!("reserving ClusterIP {ip}: {e}"))),
    }
}

/// Allocates what a new object needs (a Service's ClusterIP), reserved in
/// the store. Returns what to release if the create fails.
pub async fn allocate(
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
    let ip = if requested.is_empty() {
        // Another server may have taken what this one believes is free:
        // note it and take the next one.
        let mut tries = 0;
        loop {
            let ip = state
                .ips()
                .allocate()
                .map_err(|m| cluster_ip_invalid(obj, m))?;
            if reserve(state, ip, obj).await? {
                break ip;
            }
            tries += 1;
            if tries >= MAX_RESERVE_TRIES {
                return Err(cluster_ip_invalid(
                    obj,
                    format!("no free address found after {tries} tries; the range may be full"),
                ));
            }
        }
    } else {
        let ip: Ipv4Addr = requested.parse().map_err(|_| {
            cluster_ip_invalid(obj, format!("{requested:?} is not a valid IPv4 address"))
        })?;
        state
            .ips()
            .allocate_specific(ip)
            .map_err(|m| cluster_ip_invalid(obj, m))?;
        if !reserve(state, ip, obj).await? {
            return Err(cluster_ip_invalid(
                obj,
                format!("provided IP {ip} is already allocated"),
            ));
        }
        ip
    };
    obj["spec"]["clusterIP"] = json!(ip.to_string());
    obj["spec"]["clusterIPs"] = json!([ip.to_string()]);
    Ok(Some(ip))
}

/// Addresses tried before giving up, when other servers hold them.
const MAX_RESERVE_TRIES: usize = 64;

/// Gives back what [`allocate`] took, here and in the store.
pub async fn release(state: &ApiState, allocated: Option<Ipv4Addr>) {
    if let Some(ip) = allocated {
        if let Err(e) = state.store.delete(&reservation_key(ip), None).await {
            if !matches!(e, StoreError::NotFound(_)) {
                tracing::warn!(%ip, error = %e, "could not release a ClusterIP reservation");
            }
        }
        state.ips().release(ip);
    }
}

/// Frees what a deleted object held.
pub async fn after_delete(state: &ApiState, res: &Resource, obj: &Value) {
    if res.kind == "Service" {
        let ip = obj
            .pointer("/spec/clusterIP")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok());
        release(state, ip).await;
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
