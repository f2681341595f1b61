//! What every pod worker of one agent shares.
use std::{
    net::Ipv4Addr,
    path::{Path, PathBuf},
};

use k8s_openapi::api::core::v1::Service;
use kube::{runtime::reflector, Client};

use super::backoff::BackoffConfig;
use crate::agent::{ipam::Ipam, nodenet::NodeNet, runtime::Runtime, sandbox::DnsConfig};

/// The agent's shared state.
pub struct Shared {
    /// API client (node identity).
    pub client: Client,
    /// This node's name.
    pub node: String,
    /// This node's IP.
    pub node_ip: Ipv4Addr,
    /// The node's network.
    pub nodenet: NodeNet,
    /// Pod address allocation.
    pub ipam: tokio::sync::Mutex<Ipam>,
    /// The container runtime.
    pub runtime: Runtime,
    /// The agent's data directory.
    pub data_dir: PathBuf,
    /// Cluster DNS settings for pods.
    pub dns: DnsConfig,
    /// Restart backoff.
    pub backoff: BackoffConfig,
    /// All Services (for service environment variables).
    pub services: reflector::Store<Service>,
    /// The cluster CA, given to pods with their token.
    pub ca_pem: String,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("node", &self.node).finish()
    }
}

impl Shared {
    /// `<data_dir>/pods/<uid>`.
    pub fn pod_dir(&self, uid: &str) -> PathBuf {
        pods_root(&self.data_dir).join(uid)
    }
}

/// `<data_dir>/pods`.
pub fn pods_root(data_dir: &Path) -> PathBuf {
    data_dir.join("pods")
}
