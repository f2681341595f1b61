//! A node's network: on a real machine the host namespace; with
//! `--simulate-node` a namespace `orch-<node>` attached to the host bridge
//! `orch0` by a veth pair, with its underlay address. Inside it, the pod
//! bridge `cbr0` holds the first address of the node's pod CIDR. The host
//! and every node route the whole service and pod CIDRs to `unreachable`,
//! so traffic nothing translated fails at once and never leaves the machine.
use std::{
    io,
    net::Ipv4Addr,
    path::{Path, PathBuf},
};

use super::{netlink::Net, netns};
use crate::{apiserver::ipalloc::Cidr, util::short_hash};

/// Default name of the host bridge that links simulated nodes.
pub const HOST_BRIDGE: &str = "orch0";
/// Name of the pod bridge inside a node.
pub const POD_BRIDGE: &str = "cbr0";

/// Cluster-wide addressing.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The host bridge linking simulated nodes (`orch0`).
    pub bridge: String,
    /// The underlay network of simulated nodes (10.250.0.0/24).
    pub underlay: Cidr,
    /// The host's address on the underlay (10.250.0.1).
    pub host_ip: Ipv4Addr,
    /// The cluster pod CIDR (10.244.0.0/16).
    pub pod_cidr: Cidr,
    /// The service CIDR (10.96.0.0/16).
    pub service_cidr: Cidr,
}

impl Default for Layout {
    fn default() -> Self {
        Self {
            bridge: HOST_BRIDGE.into(),
            underlay: Cidr::parse("10.250.0.0/24").expect("constant"),
            host_ip: Ipv4Addr::new(10, 250, 0, 1),
            pod_cidr: Cidr::parse("10.244.0.0/16").expect("constant"),
            service_cidr: Cidr::parse("10.96.0.0/16").expect("constant"),
        }
    }
}

/// The default underlay address of `node-N`: 10.250.0.(N+1).
pub fn default_node_ip(layout: &Layout, node: &str) -> Option<Ipv4Addr> {
    let n: u64 = node.strip_prefix("node-")?.parse().ok()?;
    (1..=250)
        .contains(&n)
        .then(|| layout.underlay.nth(n + 1))
        .flatten()
}

/// Name of a simulated node's namespace.
pub fn node_netns(node: &str) -> String {
    format!("orch-{node}")
}

fn host_veth(node: &str) -> String {
    format!("ov{}", short_hash(node))
}

/// A node's network, ready for pods.
#[derive(Debug, Clone)]
pub struct NodeNet {
    /// The node's namespace (`None` on a real machine: the host's).
    pub netns: Option<PathBuf>,
    /// Netlink inside the node's namespace.
    pub net: Net,
    /// The node's underlay address (its InternalIP).
    pub node_ip: Ipv4Addr,
    /// Cluster addressing.
    pub layout: Layout,
}

async fn sysctl(netns: Option<&Path>, key: &str, value: &str) -> io::Result<()> {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    let value = value.to_string();
    match netns {
        None => std::fs::write(&path, &value),
        Some(ns) => {
            let ns = ns.to_path_buf();
            tokio::task::spawn_blocking(move || {
                orch_proxy::sys::in_netns(&ns, || std::fs::write(&path, &value))
            })
            .await
            .map_err(io::Error::other)?
        }
    }
}

async fn unreachable_routes(net: &Net, layout: &Layout) -> io::Result<()> {
    for c in [layout.service_cidr, layout.pod_cidr] {
        net.unreachable_route(c.base, c.prefix).await?;
    }
    Ok(())
}

impl NodeNet {
    /// Creates (or finds) a simulated node's namespace on the host bridge.
    pub async fn simulated(node: &str, node_ip: Ipv4Addr, layout: Layout) -> io::Result<Self> {
        let host = Net::host()?;
        let bridge = host.ensure_bridge(&layout.bridge).await?;
        host.add_addr(&layout.bridge, layout.host_ip, layout.underlay.prefix)
            .await?;
        unreachable_routes(&host, &layout).await?;
        let ns_path = netns::create(&node_netns(node))?;
        let net = Net::in_netns(&ns_path).await?;
        net.set_up("lo").await?;
        if net.index("eth0").await?.is_none() {
            let hv = host_veth(node);
            let peer = format!("op{}", short_hash(node));
            host.del_link(&hv).await?;
            host.ensure_veth(&hv, &peer).await?;
            host.set_master(&hv, bridge).await?;
            host.set_up(&hv).await?;
            host.move_to(&peer, &ns_path).await?;
            net.rename(&peer, "eth0").await?;
        }
        net.add_addr("eth0", node_ip, layout.underlay.prefix)
            .await?;
        net.set_up("eth0").await?;
        sysctl(Some(&ns_path), "net.ipv4.ip_forward", "1").await?;
        unreachable_routes(&net, &layout).await?;
        Ok(Self {
            netns: Some(ns_path),
            net,
            node_ip,
            layout,
        })
    }

    /// The host namespace of a real machine.
    pub async fn host(node_ip: Ipv4Addr, layout: Layout) -> io::Result<Self> {
        let net = Net::host()?;
        sysctl(None, "net.ipv4.ip_forward", "1").await?;
        unreachable_routes(&net, &layout).await?;
        Ok(Self {
            netns: None,
            net,
            node_ip,
            layout,
        })
    }

    /// Brings up the pod bridge with the gateway address of `pod_cidr` and,
    /// for a simulated node, the host's route to it.
    pub async fn enable_pods(&self, pod_cidr: Cidr) -> io::Result<Ipv4Addr> {
        let gw = pod_cidr
            .nth(1)
            .ok_or_else(|| io::Error::other(format!("pod CIDR {pod_cidr} has no hosts")))?;
        self.net.ensure_bridge(POD_BRIDGE).await?;
        self.net.add_addr(POD_BRIDGE, gw, pod_cidr.prefix).await?;
        if self.netns.is_some() {
            Net::host()?
                .replace_route(pod_cidr.base, pod_cidr.prefix, Some(self.node_ip), None)
                .await?;
        }
        Ok(gw)
    }

    /// Routes every other node's pod CIDR via its underlay address, and
    /// removes routes of nodes that are gone. `peers` are (pod CIDR, node IP).
    pub async fn sync_routes(&self, peers: &[(Cidr, Ipv4Addr)]) -> io::Result<()> {
        for (cidr, ip) in peers {
            if *ip != self.node_ip {
                self.net
                    .replace_route(cidr.base, cidr.prefix, Some(*ip), None)
                    .await?;
            }
        }
        for r in self.net.routes().await? {
            let in_pods =
                self.layout.pod_cidr.contains(r.dest) && r.prefix > self.layout.pod_cidr.prefix;
            if in_pods
                && r.gateway.is_some()
                && !peers.iter().any(|(c, ip)| {
                    c.base == r.dest && c.prefix == r.prefix && Some(*ip) == r.gateway
                })
            {
                self.net.del_route(r.dest, r.prefix, false).await?;
            }
        }
        Ok(())
    }
}

/// Removes everything of a simulated node: its namespace (with the veth and
/// pod bridge in it) and the host's route to its pods. Pod namespaces are
/// removed by the agent's sandbox teardown.
pub async fn teardown_simulated(node: &str, pod_cidr: Option<Cidr>) -> io::Result<()> {
    netns::delete(&node_netns(node))?;
    let host = Net::host()?;
    host.del_link(&host_veth(node)).await?;
    if let Some(c) = pod_cidr {
        host.del_route(c.base, c.prefix, false).await?;
    }
    Ok(())
}

/// Removes what all simulated nodes share: the host bridge and the host's
/// unreachable routes. Call when the last node is gone.
pub async fn teardown_host(layout: &Layout) -> io::Result<()> {
    let host = Net::host()?;
    host.del_link(&layout.bridge).await?;
    for c in [layout.service_cidr, layout.pod_cidr] {
        host.del_route(c.base, c.prefix, true).await?;
    }
    Ok(())
}
