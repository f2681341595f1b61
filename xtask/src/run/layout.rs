//! Where a `cargo xtask run` cluster lives: its state directory, node
//! names, bridge and address ranges. The defaults are the design's default
//! layout; the overrides let a second cluster (the run test) sit beside a
//! running one without sharing a name or an address.
use std::{
    fmt,
    net::Ipv4Addr,
    path::{Path, PathBuf},
    str::FromStr,
};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An IPv4 network, `a.b.c.d/p`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// The network address.
    pub base: Ipv4Addr,
    /// The prefix length.
    pub prefix: u8,
}

impl Cidr {
    /// The `n`th address of the network (0 is the network address).
    pub fn nth(&self, n: u32) -> Result<Ipv4Addr> {
        let size = 1u64 << (32 - u32::from(self.prefix));
        if u64::from(n) >= size {
            bail!("{self} has no address number {n}");
        }
        Ok(Ipv4Addr::from(u32::from(self.base) + n))
    }
}

impl FromStr for Cidr {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        let (ip, prefix) = s
            .split_once('/')
            .with_context(|| format!("{s:?} is not a CIDR (a.b.c.d/p)"))?;
        let ip: Ipv4Addr = ip.parse().with_context(|| format!("{s:?}: bad address"))?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| (8..=30).contains(p))
            .with_context(|| format!("{s:?}: the prefix must be 8..=30"))?;
        let mask = u32::MAX << (32 - u32::from(prefix));
        if u32::from(ip) & !mask != 0 {
            bail!("{s:?}: host bits are set");
        }
        Ok(Self { base: ip, prefix })
    }
}

impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(|e: anyhow::Error| serde::de::Error::custom(format!("{e:#}")))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

/// The cluster's names and addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    /// Everything the run writes: `admin.kubeconfig`, `ready`, `logs/`,
    /// `server/`, `agents/`, `run.json`.
    pub state: PathBuf,
    /// Node names are this prefix and 1..=N.
    pub node_prefix: String,
    /// Number of nodes.
    pub nodes: u8,
    /// The host bridge linking the nodes.
    pub bridge: String,
    /// The node underlay; the host is address 1, node K is address K+1.
    pub underlay: Cidr,
    /// The cluster pod CIDR.
    pub pod_cidr: Cidr,
    /// The service CIDR (cluster DNS is address 10).
    pub service_cidr: Cidr,
    /// The API server's HTTPS port, on loopback and the host's underlay address.
    pub api_port: u16,
}

impl Layout {
    /// Checks names and sizes.
    pub fn validate(&self) -> Result<()> {
        if self.nodes == 0 {
            bail!("--nodes must be at least 1");
        }
        if self.bridge.is_empty() || self.bridge.len() > 15 {
            bail!("--host-bridge {:?}: 1 to 15 characters", self.bridge);
        }
        let longest = self.node(self.nodes);
        if format!("orch-{longest}").len() > 63 {
            bail!("--node-prefix {:?} is too long", self.node_prefix);
        }
        self.underlay
            .nth(u32::from(self.nodes) + 1)
            .context("--underlay-cidr is too small for --nodes")?;
        Ok(())
    }

    /// Name of node `k` (1-based).
    pub fn node(&self, k: u8) -> String {
        format!("{}{k}", self.node_prefix)
    }

    /// Every node's name.
    pub fn node_names(&self) -> Vec<String> {
        (1..=self.nodes).map(|k| self.node(k)).collect()
    }

    /// Underlay address of node `k`.
    pub fn node_ip(&self, k: u8) -> Result<Ipv4Addr> {
        self.underlay.nth(u32::from(k) + 1)
    }

    /// The host's address on the underlay (the API server's advertise address).
    pub fn host_ip(&self) -> Ipv4Addr {
        self.underlay
            .nth(1)
            .expect("validated: the underlay has hosts")
    }

    /// The cluster DNS address written into pods' resolv.conf.
    pub fn dns_ip(&self) -> Result<Ipv4Addr> {
        self.service_cidr.nth(10)
    }

    /// `https://127.0.0.1:<port>`.
    pub fn server_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.api_port)
    }

    /// The API server's data directory.
    pub fn server_dir(&self) -> PathBuf {
        self.state.join("server")
    }

    /// A node agent's data directory.
    pub fn agent_dir(&self, node: &str) -> PathBuf {
        self.state.join("agents").join(node)
    }

    /// The log file of a process of the cluster (`server`, a node name).
    pub fn log(&self, name: &str) -> PathBuf {
        self.state.join("logs").join(format!("{name}.log"))
    }

    /// The admin kubeconfig the run publishes.
    pub fn kubeconfig(&self) -> PathBuf {
        self.state.join("admin.kubeconfig")
    }

    /// Created once the demo answers, removed on teardown.
    pub fn ready_file(&self) -> PathBuf {
        self.state.join("ready")
    }

    /// The run record (pids and layout) used to clean up after a crash.
    pub fn record_file(&self) -> PathBuf {
        self.state.join("run.json")
    }

    /// Flags of `orch agent` and `orch agent teardown` describing the layout.
    pub fn agent_layout_args(&self) -> Vec<String> {
        vec![
            "--host-bridge".into(),
            self.bridge.clone(),
            "--underlay-cidr".into(),
            self.underlay.to_string(),
            "--host-ip".into(),
            self.host_ip().to_string(),
            "--cluster-pod-cidr".into(),
            self.pod_cidr.to_string(),
            "--service-cidr".into(),
            self.service_cidr.to_string(),
        ]
    }
}

/// Shows a path relative to the current directory when it is below it.
pub fn short(path: &Path) -> String {
    let cwd = std::env::current_dir().unwrap_or_default();
    path.strip_prefix(&cwd)
        .unwrap_or(path)
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cidrs_and_numbers_addresses() {
        let c: Cidr = "10.250.0.0/24".parse().unwrap();
        assert_eq!(c.nth(1).unwrap(), Ipv4Addr::new(10, 250, 0, 1));
        assert_eq!(c.nth(255).unwrap(), Ipv4Addr::new(10, 250, 0, 255));
        assert!(c.nth(256).is_err());
        assert!("10.250.0.1/24".parse::<Cidr>().is_err());
        assert!("10.250.0.0".parse::<Cidr>().is_err());
        assert_eq!(c.to_string(), "10.250.0.0/24");
    }

    #[test]
    fn default_layout_addresses() {
        let l = Layout {
            state: PathBuf::from("/t/orch"),
            node_prefix: "node-".into(),
            nodes: 3,
            bridge: "orch0".into(),
            underlay: "10.250.0.0/24".parse().unwrap(),
            pod_cidr: "10.244.0.0/16".parse().unwrap(),
            service_cidr: "10.96.0.0/16".parse().unwrap(),
            api_port: 6443,
        };
        l.validate().unwrap();
        assert_eq!(l.node_names(), ["node-1", "node-2", "node-3"]);
        assert_eq!(l.node_ip(1).unwrap(), Ipv4Addr::new(10, 250, 0, 2));
        assert_eq!(l.host_ip(), Ipv4Addr::new(10, 250, 0, 1));
        assert_eq!(l.dns_ip().unwrap(), Ipv4Addr::new(10, 96, 0, 10));
        assert_eq!(l.log("node-2"), PathBuf::from("/t/orch/logs/node-2.log"));
    }
}
