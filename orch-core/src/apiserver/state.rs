//! Shared state of one API server process.
use std::{sync::Arc, time::Duration};

use super::{auth::Auth, ipalloc::ClusterIpAllocator, kubelet::NodeCerts, metrics::ApiMetrics};
use crate::store::Store;

/// Everything request handlers share.
#[derive(Debug)]
pub struct ApiState {
    /// The store; only the API server touches it.
    pub store: Arc<dyn Store>,
    /// ClusterIP allocator.
    pub ips: std::sync::Mutex<ClusterIpAllocator>,
    /// Tokens.
    pub auth: Auth,
    /// Prometheus metrics.
    pub metrics: ApiMetrics,
    /// How often watches with `allowWatchBookmarks` get a BOOKMARK.
    pub bookmark_interval: Duration,
    /// Largest request body accepted.
    pub max_body: usize,
    /// Agents' certificates and the client that reaches them.
    pub node_certs: NodeCerts,
}

impl ApiState {
    /// This server's view of the ClusterIPs in use (a poisoned lock is
    /// taken over: the allocator's state stays consistent).
    pub fn ips(&self) -> std::sync::MutexGuard<'_, ClusterIpAllocator> {
        self.ips.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl std::fmt::Debug for dyn Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}
