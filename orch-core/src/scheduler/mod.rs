//! The scheduler: assigns pods with an empty `spec.nodeName` (and
//! `spec.schedulerName` = ours) to nodes, as a kube-rs client of the API
//! server. Watches of Nodes and Pods (kube-runtime `watcher`) feed a state
//! machine ([`reconcile::Reconciler`]) that keeps its own reflector: a
//! cache of nodes with the running totals of the pods bound to them
//! ([`cache`]), and the pods still waiting ([`queue`]). For each pod the
//! pure algorithm ([`algorithm`]: [`filter`] then [`score`]) picks a node;
//! the pod is *assumed* there at once and bound through `pods/binding` in
//! the background, so throughput is not bounded by API round trips.
//! Pods that fit nowhere get `PodScheduled=False` (reason
//! `Unschedulable`, Kubernetes' message) and are retried with exponential
//! backoff, or at once when a node is added or changed or a bound pod goes
//! away. Events: `Scheduled` and `FailedScheduling`.
pub mod actions;
pub mod affinity;
pub mod algorithm;
pub mod cache;
pub mod filter;
pub mod nodeinfo;
pub mod podinfo;
pub mod quantity;
pub mod queue;
pub mod reconcile;
pub mod resources;
mod run;
pub mod score;
pub mod taints;

#[cfg(test)]
mod tests;

use std::time::Duration;

pub use algorithm::{Algorithm, FitError, Placement};
pub use cache::Cache;
pub use podinfo::PodInfo;
pub use reconcile::BindResult;
pub use run::bind;

/// Scheduler settings.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// Name of this scheduler (`spec.schedulerName` it serves).
    pub name: String,
    /// Initial backoff of unschedulable pods.
    pub initial_backoff: Duration,
    /// Maximum backoff of unschedulable pods.
    pub max_backoff: Duration,
    /// How long an unschedulable pod waits for a cluster event (a node
    /// added or changed, a pod gone, an assumed pod expired) before it is
    /// tried again anyway (Kubernetes' podMaxInUnschedulablePodsDuration).
    pub max_unschedulable: Duration,
    /// Share of the nodes to score, in percent: 0 is Kubernetes' adaptive
    /// default (`max(50 − N/125, 5)`, at least 100 nodes), 100 scores all.
    pub percentage_of_nodes_to_score: u32,
    /// How long a pod bound by us counts against its node without the
    /// watch confirming it.
    pub assumed_ttl: Duration,
    /// Binding calls in flight at most.
    pub parallel_bindings: usize,
}

impl Default for SchedulerOptions {
    fn default() -> Self {
        Self {
            name: podinfo::DEFAULT_SCHEDULER.into(),
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
            max_unschedulable: Duration::from_secs(5 * 60),
            percentage_of_nodes_to_score: 0,
            assumed_ttl: cache::DEFAULT_ASSUMED_TTL,
            parallel_bindings: 64,
        }
    }
}

/// Runs the scheduler until a watch ends for good or the task is aborted
/// (leadership lost).
pub async fn run(
    client: kube::Client,
    opts: SchedulerOptions,
) -> Result<(), crate::controllers::ControllerError> {
    run::run(client, opts).await
}
