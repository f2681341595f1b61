//! The controller manager: reconcile loops that turn declared state into
//! running state. Each controller is a kube-rs client of the API server
//! (watcher → reflector → reconcile); none touches the store. They run
//! inside `orch server` by default, or alone as `orch controller-manager`,
//! and only the holder of the leader Lease reconciles.
pub mod events;
pub mod feed;
pub mod leader;
pub mod runtime;
pub mod slim;

use std::time::Duration;

use crate::apiserver::ipalloc::Cidr;

/// Settings shared by the controllers.
#[derive(Debug, Clone)]
pub struct ControllerOptions {
    /// A node whose Lease was not renewed for this long becomes
    /// Ready=Unknown and gets the `unreachable` taint.
    pub node_monitor_grace_period: Duration,
    /// Default `tolerationSeconds` for the not-ready/unreachable taints.
    pub default_toleration_seconds: i64,
    /// Cluster pod CIDR; each node gets one /`node_cidr_prefix` of it.
    pub pod_cidr: Cidr,
    /// Prefix length of each node's pod CIDR.
    pub node_cidr_prefix: u8,
    /// How long ReplicaSet expectations may block a resync at most.
    pub expectations_timeout: Duration,
}

impl Default for ControllerOptions {
    fn default() -> Self {
        Self {
            node_monitor_grace_period: Duration::from_secs(40),
            default_toleration_seconds: 300,
            pod_cidr: Cidr::parse("10.244.0.0/16").expect("constant CIDR"),
            node_cidr_prefix: 24,
            expectations_timeout: Duration::from_secs(300),
        }
    }
}

pub mod deployment;
pub mod endpointslice;
mod error;
pub mod gc;
pub mod namespace;
pub mod nodeipam;
pub mod nodelifecycle;
pub mod replicaset;

pub use error::ControllerError;

/// Runs every controller until the task is aborted (leadership lost), or
/// the shared Pod watch ends (the leader loop then starts them afresh).
pub async fn run_all(client: kube::Client, opts: ControllerOptions) {
    use runtime::supervise;
    let c = &client;
    let o = &opts;
    // One Pod watch and cache for every controller that reads pods.
    let (pods, pod_watch) = feed::pods(client.clone(), feed::test_watch_lag());
    let p = &pods;
    let controllers = async {
        tokio::join!(
            supervise("replicaset", || replicaset::run(
                c.clone(),
                o.clone(),
                p.clone()
            )),
            supervise("deployment", || deployment::run(
                c.clone(),
                o.clone(),
                p.clone()
            )),
            supervise("endpointslice", || endpointslice::run(
                c.clone(),
                o.clone(),
                p.clone()
            )),
            supervise("nodelifecycle", || nodelifecycle::run(
                c.clone(),
                o.clone(),
                p.clone()
            )),
            supervise("nodeipam", || nodeipam::run(c.clone(), o.clone())),
            supervise("garbagecollector", || gc::run(
                c.clone(),
                o.clone(),
                p.clone()
            )),
            supervise("namespace", || namespace::run(c.clone(), o.clone())),
        )
    };
    tokio::select! {
        e = pod_watch => tracing::warn!(error = %e, "the shared Pod feed ended; restarting the controllers"),
        _ = controllers => {}
    }
}
