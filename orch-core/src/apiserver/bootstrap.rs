//! What exists in every cluster from its first start: the four system
//! namespaces and the `kubernetes` Service pointing at the API servers. Also
//! rebuilds the ClusterIP allocator from the stored Services.
use std::net::Ipv4Addr;

use serde_json::{json, Value};

use crate::store::list_all;

use super::{
    objects::{self, hooks, ListQuery, ObjectRef},
    resources::by_kind,
    state::ApiState,
    status::ApiError,
};

/// Namespaces created at boot.
pub const SYSTEM_NAMESPACES: [&str; 4] =
    ["default", "kube-system", "kube-public", "kube-node-lease"];

/// Marks every stored Service's ClusterIP, and every address reserved in
/// the store (by this or another API server), as used.
pub async fn rebuild_allocator(state: &ApiState) -> Result<usize, ApiError> {
    let services = objects::list(
        state,
        by_kind("Service").expect("served"),
        None,
        &ListQuery::default(),
    )
    .await?;
    let mut n = 0;
    for s in services["items"].as_array().into_iter().flatten() {
        if let Some(ip) = s
            .pointer("/spec/clusterIP")
            .and_then(Value::as_str)
            .and_then(|ip| ip.parse::<Ipv4Addr>().ok())
        {
            state.ips().mark(ip);
            // A store written before reservations existed has none; an
            // existing one (ours) is fine.
            hooks::reserve(state, ip, s).await?;
            n += 1;
        }
    }
    // Addresses other servers sharing the store reserved.
    let (reserved, _) = list_all(state.store.as_ref(), hooks::RESERVATIONS)
        .await
        .map_err(|e| ApiError::internal(format!("listing ClusterIP reservations: {e}")))?;
    let mut ips = state.ips();
    for kv in &reserved {
        if let Some(ip) = kv.key.rsplit('/').next().and_then(|s| s.parse().ok()) {
            ips.mark(ip);
        }
    }
    Ok(n)
}

async fn ensure(
    state: &ApiState,
    kind: &str,
    namespace: Option<&str>,
    obj: Value,
) -> Result<(), ApiError> {
    let res = by_kind(kind).expect("served");
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    match objects::get(
        state,
        ObjectRef {
            res,
            namespace,
            name: &name,
        },
    )
    .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.code == 404 => match objects::create(state, res, namespace, obj).await {
            Ok(_) => Ok(()),
            Err(e) if e.code == 409 => Ok(()),
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    }
}

/// Creates the system namespaces and the `kubernetes` Service (first
/// address of the service CIDR, port 443 → the API server's port).
pub async fn run(state: &ApiState, advertise: Ipv4Addr, port: u16) -> Result<(), ApiError> {
    rebuild_allocator(state).await?;
    for ns in SYSTEM_NAMESPACES {
        ensure(state, "Namespace", None, json!({"metadata": {"name": ns}})).await?;
    }
    let vip = {
        let ips = state.ips();
        ips.cidr()
            .nth(1)
            .expect("a service CIDR has a first address")
    };
    ensure(
        state,
        "Service",
        Some("default"),
        json!({
            "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"clusterIP": vip.to_string(), "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}]},
        }),
    )
    .await?;
    // The endpoints of `kubernetes`: this server and the others alive.
    super::endpoints::join(state, advertise, port).await?;
    Ok(())
}
