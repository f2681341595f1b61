//! A pod's network sandbox: its own network namespace, a veth pair to the
//! node's pod bridge, an address from the node's pod CIDR, a default route
//! via the node, and the pod's `/etc/resolv.conf` and `/etc/hosts` (also
//! under `/etc/netns/<netns>/`, so `ip netns exec` resolves as the pod).
use std::{
    io,
    net::Ipv4Addr,
    path::{Path, PathBuf},
};

use super::{
    ipam::Ipam,
    netlink::Net,
    netns,
    nodenet::{NodeNet, POD_BRIDGE},
};
use crate::util::short_hash;

/// Cluster DNS settings written into pods.
#[derive(Debug, Clone)]
pub struct DnsConfig {
    /// The cluster DNS Service address (10.96.0.10).
    pub nameserver: Ipv4Addr,
    /// The cluster domain (`cluster.local`).
    pub domain: String,
}

impl Default for DnsConfig {
    fn default() -> Self {
        Self {
            nameserver: Ipv4Addr::new(10, 96, 0, 10),
            domain: "cluster.local".into(),
        }
    }
}

/// Who the sandbox is for.
#[derive(Debug, Clone)]
pub struct PodIdent {
    /// Pod namespace.
    pub namespace: String,
    /// Pod name.
    pub name: String,
    /// Pod uid.
    pub uid: String,
    /// `spec.hostname` or the pod name.
    pub hostname: String,
    /// `spec.subdomain`, if any.
    pub subdomain: Option<String>,
}

/// A created sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodNet {
    /// Network namespace name (the `orch.io/netns` annotation).
    pub netns_name: String,
    /// Its bind-mount path.
    pub netns_path: PathBuf,
    /// The pod's address.
    pub ip: Ipv4Addr,
    /// Directory holding the pod's resolv.conf and hosts.
    pub etc_dir: PathBuf,
}

/// The network namespace name of a pod: `orch-<ns>-<name>-<uid prefix>`,
/// at most 64 bytes.
pub fn netns_name(namespace: &str, name: &str, uid: &str) -> String {
    let mut base = format!("orch-{namespace}-{name}");
    base.truncate(55);
    let uid8: String = uid
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect();
    format!("{base}-{uid8}")
}

fn veth_names(uid: &str) -> (String, String) {
    let h = short_hash(uid);
    (format!("vp{h}"), format!("vq{h}"))
}

/// resolv.conf for a pod in `namespace`.
pub fn resolv_conf(dns: &DnsConfig, namespace: &str) -> String {
    let d = &dns.domain;
    format!(
        "nameserver {}\nsearch {namespace}.svc.{d} svc.{d} {d}\noptions ndots:5\n",
        dns.nameserver
    )
}

/// /etc/hosts for a pod.
pub fn hosts(pod: &PodIdent, ip: Ipv4Addr, dns: &DnsConfig) -> String {
    let mut names = pod.hostname.clone();
    if let Some(sub) = &pod.subdomain {
        names = format!(
            "{h}.{sub}.{ns}.svc.{d} {h}",
            h = pod.hostname,
            ns = pod.namespace,
            d = dns.domain
        );
    }
    format!(
        "# Managed by orch.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n{ip}\t{names}\n"
    )
}

fn etc_netns(name: &str) -> PathBuf {
    Path::new("/etc/netns").join(name)
}

/// The address a sandbox gets from the node's pod CIDR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PodAddr {
    /// The pod's IP.
    pub ip: Ipv4Addr,
    /// Prefix length of the node's pod CIDR.
    pub prefix: u8,
    /// The node's address on the pod bridge (the pod's default route).
    pub gateway: Ipv4Addr,
}

impl PodAddr {
    /// The address of the pod with `uid` (allocated if it has none).
    pub fn allocate(ipam: &mut Ipam, uid: &str) -> io::Result<Self> {
        Ok(Self {
            ip: ipam.allocate(uid)?,
            prefix: ipam.cidr().prefix,
            gateway: ipam.gateway(),
        })
    }
}

/// Creates (or completes) the sandbox of `pod`, with an address from
/// `ipam`. Idempotent.
pub async fn create(
    node: &NodeNet,
    ipam: &mut Ipam,
    pod: &PodIdent,
    dns: &DnsConfig,
    pod_dir: &Path,
) -> io::Result<PodNet> {
    let addr = PodAddr::allocate(ipam, &pod.uid)?;
    create_at(node, addr, pod, dns, pod_dir).await
}

/// Creates (or completes) the sandbox of `pod` with the address `addr`
/// (allocated beforehand, so the allocator is not held meanwhile).
/// Idempotent.
pub async fn create_at(
    node: &NodeNet,
    addr: PodAddr,
    pod: &PodIdent,
    dns: &DnsConfig,
    pod_dir: &Path,
) -> io::Result<PodNet> {
    let name = netns_name(&pod.namespace, &pod.name, &pod.uid);
    let path = netns::create(&name)?;
    let pod_net = Net::in_netns(&path).await?;
    pod_net.set_up("lo").await?;
    let (host_side, pod_side) = veth_names(&pod.uid);
    if pod_net.index("eth0").await?.is_none() {
        node.net.del_link(&host_side).await?;
        node.net.ensure_veth(&host_side, &pod_side).await?;
        let bridge = node
            .net
            .index(POD_BRIDGE)
            .await?
            .ok_or_else(|| io::Error::other("the pod bridge is missing: no pod CIDR yet"))?;
        node.net.set_master(&host_side, bridge).await?;
        node.net.set_hairpin(&host_side).await?;
        node.net.set_up(&host_side).await?;
        node.net.move_to(&pod_side, &path).await?;
        pod_net.rename(&pod_side, "eth0").await?;
    }
    let ip = addr.ip;
    pod_net.add_addr("eth0", ip, addr.prefix).await?;
    pod_net.set_up("eth0").await?;
    pod_net
        .replace_route(Ipv4Addr::UNSPECIFIED, 0, Some(addr.gateway), None)
        .await?;

    let etc_dir = pod_dir.join("etc");
    std::fs::create_dir_all(&etc_dir)?;
    let resolv = resolv_conf(dns, &pod.namespace);
    let host_file = hosts(pod, ip, dns);
    std::fs::write(etc_dir.join("resolv.conf"), &resolv)?;
    std::fs::write(etc_dir.join("hosts"), &host_file)?;
    let en = etc_netns(&name);
    std::fs::create_dir_all(&en)?;
    std::fs::write(en.join("resolv.conf"), &resolv)?;
    std::fs::write(en.join("hosts"), &host_file)?;
    Ok(PodNet {
        netns_name: name,
        netns_path: path,
        ip,
        etc_dir,
    })
}

/// Removes the sandbox of the pod with `uid`: its veth, namespace,
/// `/etc/netns` files and address. Missing pieces are fine.
pub async fn destroy(
    node: &NodeNet,
    ipam: &mut Ipam,
    uid: &str,
    netns_name: &str,
) -> io::Result<()> {
    let (host_side, _) = veth_names(uid);
    node.net.del_link(&host_side).await?;
    netns::delete(netns_name)?;
    match std::fs::remove_dir_all(etc_netns(netns_name)) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    ipam.release(uid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_bounded_and_distinct() {
        let a = netns_name("default", "web-1", "1234abcd-0000");
        assert_eq!(a, "orch-default-web-1-1234abcd");
        let long = netns_name(&"n".repeat(63), &"p".repeat(253), "u1");
        assert!(long.len() <= 64, "{}", long.len());
        let (h, p) = veth_names("uid-1");
        assert!(h.len() <= 15 && p.len() <= 15 && h != p);
    }

    #[test]
    fn resolv_conf_has_search_path_and_ndots() {
        let r = resolv_conf(&DnsConfig::default(), "shop");
        assert_eq!(r, "nameserver 10.96.0.10\nsearch shop.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n");
    }

    #[test]
    fn hosts_name_the_pod() {
        let mut p = PodIdent {
            namespace: "d".into(),
            name: "web".into(),
            uid: "u".into(),
            hostname: "web".into(),
            subdomain: None,
        };
        let h = hosts(&p, Ipv4Addr::new(10, 244, 1, 5), &DnsConfig::default());
        assert!(h.contains("10.244.1.5\tweb\n"), "{h}");
        p.subdomain = Some("svc".into());
        let h = hosts(&p, Ipv4Addr::new(10, 244, 1, 5), &DnsConfig::default());
        assert!(
            h.contains("10.244.1.5\tweb.svc.d.svc.cluster.local web\n"),
            "{h}"
        );
    }
}
