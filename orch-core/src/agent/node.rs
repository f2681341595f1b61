//! The agent's Node: registration with capacity and addresses, the Lease
//! it renews every 10 s, its Ready condition, waiting for its pod CIDR, and
//! the host-gw routes to every other node's pods.
use std::{net::Ipv4Addr, time::Duration};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::{
    api::{
        coordination::v1::{Lease, LeaseSpec},
        core::v1::Node,
    },
    apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta},
    jiff::Timestamp,
};
use kube::{
    api::{Api, Patch, PatchParams, PostParams},
    runtime::{reflector, watcher, WatchStreamExt},
    Client,
};
use serde_json::json;

use super::{nodenet::NodeNet, AgentError};
use crate::apiserver::{ipalloc::Cidr, meta};

/// Lease renewal period.
pub const LEASE_RENEW: Duration = Duration::from_secs(10);
/// Lease duration written into the Lease.
pub const LEASE_SECONDS: i32 = 40;

/// CPU count and memory bytes of this machine.
pub fn machine_capacity() -> (u64, u64) {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
    let mem_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines().find_map(|l| {
                l.strip_prefix("MemTotal:")
                    .map(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
        })
        .flatten()
        .unwrap_or(0);
    (cpus, mem_kib * 1024)
}

fn ready_condition(ready: bool, reason: &str, message: &str) -> serde_json::Value {
    let now = meta::now();
    json!({
        "type": "Ready",
        "status": if ready { "True" } else { "False" },
        "reason": reason,
        "message": message,
        "lastHeartbeatTime": now,
        "lastTransitionTime": now,
    })
}

/// Creates the Node if missing and writes its status: capacity,
/// allocatable, addresses, the port of its HTTPS endpoint, node info and
/// Ready=True.
pub async fn register(
    client: &Client,
    name: &str,
    ip: Ipv4Addr,
    max_pods: u32,
    port: u16,
) -> Result<(), AgentError> {
    let nodes: Api<Node> = Api::all(client.clone());
    if nodes.get_opt(name).await?.is_none() {
        let node: Node = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": std::env::consts::ARCH}},
        }))
        .map_err(|e| AgentError::Config(e.to_string()))?;
        match nodes.create(&PostParams::default(), &node).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(e.into()),
        }
    }
    let (cpus, mem) = machine_capacity();
    let capacity = json!({"cpu": cpus.to_string(), "memory": format!("{}Ki", mem / 1024), "pods": max_pods.to_string()});
    let status = json!({"status": {
        "capacity": capacity,
        "allocatable": capacity,
        "addresses": [{"type": "InternalIP", "address": ip.to_string()}, {"type": "Hostname", "address": name}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
        "conditions": [ready_condition(true, "KubeletReady", "orch agent is posting ready status")],
        "nodeInfo": {
            "kubeletVersion": format!("v1.33.0-orch.{}", env!("CARGO_PKG_VERSION")),
            "kubeProxyVersion": format!("v1.33.0-orch.{}", env!("CARGO_PKG_VERSION")),
            "operatingSystem": "linux",
            "architecture": std::env::consts::ARCH,
            "containerRuntimeVersion": "orch-host-process://0.1",
            "kernelVersion": std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
            "osImage": "", "machineID": "", "systemUUID": "", "bootID": "",
        },
    }});
    nodes
        .patch_status(name, &PatchParams::default(), &Patch::Strategic(status))
        .await?;
    Ok(())
}

/// Waits until the node has a pod CIDR (assigned by node IPAM).
pub async fn wait_pod_cidr(client: &Client, name: &str) -> Result<Cidr, AgentError> {
    let nodes: Api<Node> = Api::all(client.clone());
    let cfg = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut stream = watcher(nodes, cfg).applied_objects().boxed();
    while let Some(node) = stream.try_next().await? {
        if let Some(c) = node.spec.and_then(|s| s.pod_cidr) {
            return Cidr::parse(&c).map_err(AgentError::Config);
        }
    }
    Err(AgentError::Config(
        "node watch ended before a pod CIDR was assigned".into(),
    ))
}

/// Renews the Lease `kube-node-lease/<name>` once, creating it if needed,
/// and restores Ready=True if the node controller marked the node Unknown.
pub async fn heartbeat(client: &Client, name: &str) -> Result<(), AgentError> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let now = MicroTime(Timestamp::now());
    match leases.get_opt(name).await? {
        Some(mut l) => {
            let spec = l.spec.get_or_insert_with(Default::default);
            spec.renew_time = Some(now);
            spec.holder_identity = Some(name.into());
            spec.lease_duration_seconds = Some(LEASE_SECONDS);
            leases.replace(name, &PostParams::default(), &l).await?;
        }
        None => {
            let l = Lease {
                metadata: ObjectMeta {
                    name: Some(name.into()),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(name.into()),
                    lease_duration_seconds: Some(LEASE_SECONDS),
                    renew_time: Some(now),
                    ..Default::default()
                }),
            };
            leases.create(&PostParams::default(), &l).await?;
        }
    }
    let nodes: Api<Node> = Api::all(client.clone());
    let node = nodes.get(name).await?;
    let ready = node
        .status
        .and_then(|s| s.conditions)
        .and_then(|c| c.into_iter().find(|c| c.type_ == "Ready"))
        .is_some_and(|c| c.status == "True");
    if !ready {
        let patch = json!({"status": {"conditions": [ready_condition(true, "KubeletReady", "orch agent is posting ready status")]}});
        nodes
            .patch_status(name, &PatchParams::default(), &Patch::Strategic(patch))
            .await?;
    }
    Ok(())
}

/// Renews the Lease every [`LEASE_RENEW`], forever.
pub async fn heartbeat_loop(client: Client, name: String) {
    loop {
        if let Err(e) = heartbeat(&client, &name).await {
            tracing::warn!(error = %e, "node heartbeat failed");
        }
        tokio::time::sleep(LEASE_RENEW).await;
    }
}

/// Keeps host-gw routes to every other node's pod CIDR, following Nodes.
pub async fn route_loop(client: Client, net: NodeNet) -> Result<(), AgentError> {
    let nodes: Api<Node> = Api::all(client);
    let (store, writer) = reflector::store();
    // The store commits the initial listing only at InitDone, so sync on
    // that event too, not only on objects touched later.
    let mut stream = reflector(writer, watcher(nodes, watcher::Config::default())).boxed();
    while let Some(ev) = stream.try_next().await? {
        if matches!(ev, watcher::Event::Init | watcher::Event::InitApply(_)) {
            continue;
        }
        let peers: Vec<(Cidr, Ipv4Addr)> = store
            .state()
            .iter()
            .filter_map(|n| {
                let cidr = Cidr::parse(n.spec.as_ref()?.pod_cidr.as_deref()?).ok()?;
                let ip = n
                    .status
                    .as_ref()?
                    .addresses
                    .as_ref()?
                    .iter()
                    .find(|a| a.type_ == "InternalIP")?
                    .address
                    .parse()
                    .ok()?;
                Some((cidr, ip))
            })
            .collect();
        if let Err(e) = net.sync_routes(&peers).await {
            tracing::warn!(error = %e, "syncing node routes failed");
        }
    }
    Ok(())
}
