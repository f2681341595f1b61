//! The endpoints of the `kubernetes` Service: every live API server. Each
//! server keeps a lease in the store (`/registry/masterleases/<ip>:<port>`,
//! not an API object) renewed every [`RENEW`], and rewrites the EndpointSlice
//! `default/kubernetes` to the addresses whose lease is younger than
//! [`TTL`]. A server stopping cleanly removes its own lease first, so pods
//! (orch-dns, anything using the in-cluster config) reach only servers that
//! answer, through the Service proxy.
use std::{
    net::Ipv4Addr,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use serde_json::{json, Value};

use super::{
    objects::{self, ObjectRef},
    resources::by_kind,
    state::ApiState,
    status::ApiError,
};
use crate::store::{list_all, StoreError};

/// Store prefix of the servers' leases.
pub const LEASES: &str = "/registry/masterleases/";
/// How often a server renews its lease and reconciles the endpoints.
pub const RENEW: Duration = Duration::from_secs(5);
/// Age after which a lease no longer counts.
pub const TTL: Duration = Duration::from_secs(15);

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn lease_key(ip: Ipv4Addr, port: u16) -> String {
    format!("{LEASES}{ip}:{port}")
}

/// Writes this server's lease.
async fn renew(state: &ApiState, ip: Ipv4Addr, port: u16) -> Result<(), StoreError> {
    let key = lease_key(ip, port);
    let value = serde_json::to_vec(&json!({"renewTimeMs": now_ms()})).unwrap_or_default();
    match state.store.get(&key).await? {
        Some(kv) => state.store.update(&key, value, kv.mod_revision).await?,
        None => state.store.create(&key, value).await?,
    };
    Ok(())
}

/// The (address, port) of every live lease, sorted.
async fn live(state: &ApiState) -> Result<Vec<(Ipv4Addr, u16)>, StoreError> {
    let (leases, _) = list_all(state.store.as_ref(), LEASES).await?;
    let oldest = now_ms().saturating_sub(TTL.as_millis() as u64);
    let mut out: Vec<(Ipv4Addr, u16)> = leases
        .iter()
        .filter(|kv| {
            serde_json::from_slice::<Value>(&kv.value)
                .ok()
                .and_then(|v| v["renewTimeMs"].as_u64())
                .is_some_and(|t| t >= oldest)
        })
        .filter_map(|kv| kv.key.strip_prefix(LEASES)?.parse().ok())
        .map(|a: std::net::SocketAddrV4| (*a.ip(), a.port()))
        .collect();
    out.sort();
    Ok(out)
}

/// The slice for `servers`: their addresses, and one port (all servers of
/// a cluster are meant to share it; if they differ, the first one's).
fn slice_for(servers: &[(Ipv4Addr, u16)]) -> Value {
    let port = servers.first().map_or(6443, |s| s.1);
    let mut ips: Vec<String> = servers.iter().map(|s| s.0.to_string()).collect();
    ips.dedup();
    let endpoints: Vec<Value> = ips
        .iter()
        .map(|ip| json!({"addresses": [ip], "conditions": {"ready": true, "serving": true, "terminating": false}}))
        .collect();
    json!({
        "metadata": {"name": "kubernetes", "labels": {"kubernetes.io/service-name": "kubernetes", "endpointslice.kubernetes.io/managed-by": "orch-apiserver"}},
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
    })
}

/// Rewrites the slice if the live servers changed.
async fn reconcile(state: &ApiState) -> Result<(), ApiError> {
    let servers = live(state)
        .await
        .map_err(|e| ApiError::internal(format!("listing API server leases: {e}")))?;
    let slice = slice_for(&servers);
    let slices = by_kind("EndpointSlice").expect("served");
    let oref = ObjectRef {
        res: slices,
        namespace: Some("default"),
        name: "kubernetes",
    };
    match objects::get(state, oref).await {
        Ok(current) => {
            if current.get("endpoints") != slice.get("endpoints")
                || current.get("ports") != slice.get("ports")
            {
                let mut next = current.clone();
                next["endpoints"] = slice["endpoints"].clone();
                next["ports"] = slice["ports"].clone();
                objects::update(state, oref, objects::WriteTarget::Main, next).await?;
            }
        }
        Err(e) if e.code == 404 => {
            objects::create(state, slices, Some("default"), slice).await?;
        }
        Err(e) => return Err(e),
    }
    Ok(())
}

/// Takes this server's lease and reconciles once (at start).
pub async fn join(state: &ApiState, ip: Ipv4Addr, port: u16) -> Result<(), ApiError> {
    renew(state, ip, port)
        .await
        .map_err(|e| ApiError::internal(format!("writing the API server lease: {e}")))?;
    reconcile(state).await
}

/// Renews and reconciles every [`RENEW`], forever; failures are logged.
pub async fn run(state: std::sync::Arc<ApiState>, ip: Ipv4Addr, port: u16) {
    loop {
        tokio::time::sleep(RENEW).await;
        if let Err(e) = renew(&state, ip, port).await {
            tracing::warn!(error = %e, "renewing the API server lease");
            continue;
        }
        if let Err(e) = reconcile(&state).await {
            if e.code != 409 {
                tracing::warn!(error = %e.message, "reconciling the kubernetes endpoints");
            }
        }
    }
}

/// Drops this server's lease and its address from the endpoints (a clean
/// stop).
pub async fn leave(state: &ApiState, ip: Ipv4Addr, port: u16) {
    match state.store.delete(&lease_key(ip, port), None).await {
        Ok(_) | Err(StoreError::NotFound(_)) => {}
        Err(e) => tracing::warn!(error = %e, "removing the API server lease"),
    }
    if let Err(e) = reconcile(state).await {
        tracing::warn!(error = %e.message, "removing this server from the kubernetes endpoints");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slice_lists_each_address_once_with_one_port() {
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        let s = slice_for(&[
            (ip("10.0.0.1"), 6443),
            (ip("10.0.0.1"), 7443),
            (ip("10.0.0.2"), 6443),
        ]);
        let addrs: Vec<&str> = s["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["addresses"][0].as_str().unwrap())
            .collect();
        assert_eq!(addrs, ["10.0.0.1", "10.0.0.2"]);
        assert_eq!(s["ports"][0]["port"], 6443);
        assert_eq!(slice_for(&[])["endpoints"], json!([]));
    }
}
