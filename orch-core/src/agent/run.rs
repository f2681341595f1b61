//! `orch agent`: start-up order of a node agent, and `orch agent teardown`.
use std::{net::Ipv4Addr, path::PathBuf, sync::Arc};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Service;
use kube::{
    api::Api,
    runtime::{reflector, watcher, WatchStreamExt},
};

use super::{
    client, failover,
    ipam::Ipam,
    netlink::Net,
    netns, node,
    nodenet::{self, Layout, NodeNet},
    pods::{self, backoff::BackoffConfig, Shared},
    runtime::{Runtime, RuntimeConfig},
    sandbox::DnsConfig,
    server, AgentError,
};
use crate::apiserver::ipalloc::Cidr;

/// How an agent runs.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Node name.
    pub node_name: String,
    /// API server URLs (`https://HOST:PORT`); with several, the agent
    /// fails over between them.
    pub servers: Vec<String>,
    /// Join token or node token.
    pub token: String,
    /// Cluster CA certificate file.
    pub ca_file: PathBuf,
    /// Agent data directory (pod state, IPAM, node token).
    pub data_dir: PathBuf,
    /// Run as a simulated node in its own namespace on the host bridge.
    pub simulate: bool,
    /// The node's underlay address (default for `node-N`: 10.250.0.(N+1)).
    pub node_ip: Option<Ipv4Addr>,
    /// Cluster addressing.
    pub layout: Layout,
    /// Cluster DNS for pods.
    pub dns: DnsConfig,
    /// Restart backoff.
    pub backoff: BackoffConfig,
    /// Pods this node accepts.
    pub max_pods: u32,
    /// The `orch` binary used as the containers' init shim.
    pub init_binary: PathBuf,
    /// The Service proxy run in this agent (`None`: none).
    pub proxy: Option<orch_proxy::cli::ProxyFlags>,
    /// Port of the HTTPS endpoint (container logs) on the node's address.
    pub kubelet_port: u16,
}

/// Runs the agent until an unrecoverable error.
pub async fn run(cfg: AgentConfig) -> Result<(), AgentError> {
    std::fs::create_dir_all(&cfg.data_dir)?;
    let ca_pem = std::fs::read_to_string(&cfg.ca_file).map_err(|e| {
        AgentError::Config(format!(
            "reading the cluster CA {}: {e}",
            cfg.ca_file.display()
        ))
    })?;
    // Kept for as long as the agent runs: its clients talk through it.
    let (server, _failover) = match cfg.servers.as_slice() {
        [] => return Err(AgentError::Config("no API server given (--server)".into())),
        [one] => {
            failover::server_address(one).map_err(AgentError::Config)?;
            (one.clone(), None)
        }
        many => {
            let addrs = many
                .iter()
                .map(|u| failover::server_address(u))
                .collect::<Result<Vec<_>, _>>()
                .map_err(AgentError::Config)?;
            let f = failover::Failover::start(addrs).await?;
            tracing::info!(servers = %many.join(","), via = %f.url(), "failing over between API servers");
            (f.url(), Some(f))
        }
    };
    let token = client::node_token(
        &server,
        &ca_pem,
        &cfg.token,
        &cfg.node_name,
        &cfg.data_dir.join("node-token"),
    )
    .await?;
    let client = client::connect(&server, &ca_pem, &token).await?;
    let node_ip = match cfg
        .node_ip
        .or_else(|| nodenet::default_node_ip(&cfg.layout, &cfg.node_name))
    {
        Some(ip) => ip,
        None => {
            return Err(AgentError::Config(format!(
                "--node-ip is required for node {:?} (only node-N names have a default)",
                cfg.node_name
            )))
        }
    };
    let nodenet = if cfg.simulate {
        NodeNet::simulated(&cfg.node_name, node_ip, cfg.layout.clone()).await?
    } else {
        NodeNet::host(node_ip, cfg.layout.clone()).await?
    };
    node::register(
        &client,
        &cfg.node_name,
        node_ip,
        cfg.max_pods,
        cfg.kubelet_port,
    )
    .await?;
    tokio::spawn(node::heartbeat_loop(client.clone(), cfg.node_name.clone()));
    tracing::info!(node = %cfg.node_name, %node_ip, "registered; waiting for a pod CIDR");
    let pod_cidr = node::wait_pod_cidr(&client, &cfg.node_name).await?;
    nodenet.enable_pods(pod_cidr).await?;
    std::fs::write(cfg.data_dir.join("pod-cidr"), pod_cidr.to_string())?;
    let ipam = Ipam::open(&cfg.data_dir.join("ipam.json"), pod_cidr)?;
    tracing::info!(node = %cfg.node_name, %pod_cidr, "pod network ready");

    if let Some(flags) = &cfg.proxy {
        spawn_proxy(
            client.clone(),
            flags.config(&cfg.node_name, nodenet.netns.clone()),
        );
    }

    let (services, writer) = reflector::store();
    let svc_api: Api<Service> = Api::all(client.clone());
    tokio::spawn(
        reflector(writer, watcher(svc_api, watcher::Config::default()))
            .default_backoff()
            .for_each(|_| async {}),
    );
    let routes_client = client.clone();
    let routes_net = nodenet.clone();
    tokio::spawn(async move {
        crate::controllers::runtime::supervise("node-routes", || {
            node::route_loop(routes_client.clone(), routes_net.clone())
        })
        .await;
    });

    let shared = Arc::new(Shared {
        client,
        node: cfg.node_name.clone(),
        node_ip,
        nodenet,
        ipam: tokio::sync::Mutex::new(ipam),
        runtime: Runtime::new(RuntimeConfig {
            init_binary: cfg.init_binary.clone(),
        }),
        data_dir: cfg.data_dir.clone(),
        dns: cfg.dns.clone(),
        backoff: cfg.backoff,
        services,
        ca_pem,
    });
    let (endpoint, port) = (shared.clone(), cfg.kubelet_port);
    tokio::spawn(async move {
        crate::controllers::runtime::supervise("endpoint", || server::run(endpoint.clone(), port))
            .await;
    });
    crate::controllers::runtime::supervise("pods", || pods::run(shared.clone())).await;
    Ok(())
}

/// Runs the node's Service proxy, restarting it with backoff if it fails.
fn spawn_proxy(client: kube::Client, cfg: orch_proxy::run::ProxyConfig) {
    let metrics = orch_proxy::run::ProxyMetrics::new();
    tokio::spawn(async move {
        crate::controllers::runtime::supervise("service-proxy", || {
            orch_proxy::run::run(
                client.clone(),
                cfg.clone(),
                metrics.clone(),
                std::future::pending(),
            )
        })
        .await;
    });
}

/// Removes everything of node `node`: its Service proxy's programs and
/// rules, its pods' processes, cgroups,
/// namespaces and sandboxes; its node namespace and host routes (when
/// simulated); and its pod state. The API objects are left alone.
pub async fn teardown(
    node: &str,
    data_dir: &std::path::Path,
    simulate: bool,
    layout: &Layout,
) -> Result<(), AgentError> {
    let pod_cidr = std::fs::read_to_string(data_dir.join("pod-cidr"))
        .ok()
        .and_then(|s| Cidr::parse(s.trim()).ok());
    let node_ns = nodenet::node_netns(node);
    let net = if simulate && netns::exists(&node_ns) {
        Net::in_netns(&netns::path(&node_ns)).await?
    } else {
        Net::host()?
    };
    let nodenet = NodeNet {
        netns: simulate.then(|| netns::path(&node_ns)),
        net,
        node_ip: Ipv4Addr::UNSPECIFIED,
        layout: layout.clone(),
    };
    let ipam = match pod_cidr {
        Some(c) => Ipam::open(&data_dir.join("ipam.json"), c)?,
        None => Ipam::open(
            &data_dir.join("ipam-teardown.json"),
            Cidr::parse("10.244.0.0/24").map_err(AgentError::Config)?,
        )?,
    };
    let (services, _w) = reflector::store();
    let shared = Shared {
        client: kube::Client::try_from(kube::Config::new(
            "https://127.0.0.1:1"
                .parse()
                .map_err(|e| AgentError::Config(format!("{e}")))?,
        ))?,
        node: node.to_string(),
        node_ip: Ipv4Addr::UNSPECIFIED,
        nodenet,
        ipam: tokio::sync::Mutex::new(ipam),
        runtime: Runtime::default(),
        data_dir: data_dir.to_path_buf(),
        dns: DnsConfig::default(),
        backoff: BackoffConfig::default(),
        services,
        ca_pem: String::new(),
    };
    if let Ok(dirs) = std::fs::read_dir(pods::shared::pods_root(data_dir)) {
        for d in dirs.filter_map(Result::ok) {
            if let Ok(uid) = d.file_name().into_string() {
                pods::worker::teardown_sandbox(&shared, &uid).await;
            }
        }
    }
    if let Ok(cg) = super::runtime::cgroup::cgroup2_root() {
        let _ = super::runtime::remove_cgroup(&cg.join("orch").join(node));
        // The shared parent goes with the last node (rmdir fails while
        // another node still has a group under it).
        super::runtime::cgroup::remove_if_empty(&cg.join("orch"));
    }
    let proxy_netns = (simulate && netns::exists(&node_ns)).then(|| netns::path(&node_ns));
    if let Err(e) = orch_proxy::run::select::cleanup(node, proxy_netns.as_deref()) {
        tracing::warn!(error = %e, "removing the node's Service proxy programs and rules");
    }
    if simulate {
        nodenet::teardown_simulated(node, pod_cidr).await?;
    }
    let _ = std::fs::remove_file(data_dir.join("ipam.json"));
    let _ = std::fs::remove_file(data_dir.join("ipam-teardown.json"));
    Ok(())
}
