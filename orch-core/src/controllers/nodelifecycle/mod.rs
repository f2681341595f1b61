//! Node lifecycle: watches node agents' Leases (`kube-node-lease/<node>`)
//! and Ready heartbeats; a node silent for the grace period becomes
//! Ready=Unknown (`NodeStatusUnknown`) and its pods not ready. Nodes carry
//! the `unreachable` (Unknown) or `not-ready` (False) taints, `NoExecute`
//! and `NoSchedule`, while that lasts; the taint manager evicts pods from
//! `NoExecute`-tainted nodes once their toleration runs out (300 s by
//! default, as the DefaultTolerationSeconds admission plugin gives). When
//! the agent is back (Lease renewed, Ready=True) the taints go. A pod GC
//! force-deletes pods bound to nodes that no longer exist.
//!
//! Feeds of Nodes and Leases and the shared Pod feed keep the caches;
//! changes queue the
//! node concerned, and one reconcile (one tracing span) per node at a time
//! judges its health, writes status and taints, and evicts; each reconcile
//! asks to run again when the next deadline (grace period or toleration)
//! comes.
mod health;
mod podgc;
mod reconcile;
pub mod taints;

use std::{collections::HashMap, sync::Arc, time::Duration};

use futures::{stream, StreamExt};
use k8s_openapi::api::{coordination::v1::Lease, core::v1::Node};
use kube::{
    api::Api,
    runtime::{
        applier,
        controller::Action,
        reflector::{ObjectRef, Store},
        Config,
    },
    Client, ResourceExt,
};

use super::{
    endpointslice::pod::node_name,
    events::Recorder,
    feed::{ready, Change, Feed, PodFeed},
    ControllerError, ControllerOptions,
};
use crate::controllers::slim::CachedPod;
use health::Health;

/// Namespace of the node Leases.
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

/// Nodes reconciled at once.
const WORKERS: u16 = 4;

/// What the reconciles share.
struct Ctx {
    client: Client,
    opts: ControllerOptions,
    nodes: Store<Node>,
    leases: Store<Lease>,
    pods: Store<CachedPod>,
    health: std::sync::Mutex<Health>,
    /// Pods (by uid) we evicted lately, so that a lagging cache does not
    /// make us evict (and report) them twice.
    evicted: std::sync::Mutex<HashMap<String, tokio::time::Instant>>,
    recorder: Recorder,
}

impl Ctx {
    /// Waits until every cache holds a full list.
    async fn ready(&self) -> Result<(), ControllerError> {
        ready(&self.nodes).await?;
        ready(&self.leases).await?;
        ready(&self.pods).await
    }

    /// Whether a change to a pod on `node` may call for work: the node is
    /// not Ready or has `NoExecute` taints.
    fn pods_matter_on(&self, node: &str) -> bool {
        self.nodes.get(&ObjectRef::new(node)).is_some_and(|n| {
            health::ready_status(&n) != Some("True")
                || n.spec
                    .as_ref()
                    .and_then(|s| s.taints.as_ref())
                    .is_some_and(|ts| ts.iter().any(|t| t.effect == taints::NO_EXECUTE))
        })
    }
}

/// Runs the node lifecycle controller (with its taint manager and pod GC),
/// reading pods from the shared `pods` feed.
pub async fn run(
    client: Client,
    opts: ControllerOptions,
    pods: PodFeed,
) -> Result<(), ControllerError> {
    let (nodes, node_watch) = Feed::whole(Api::<Node>::all(client.clone()));
    let (leases, lease_watch) = Feed::whole(Api::<Lease>::namespaced(
        client.clone(),
        NODE_LEASE_NAMESPACE,
    ));
    let ctx = Arc::new(Ctx {
        recorder: Recorder::new(client.clone(), "node-controller"),
        client: client.clone(),
        opts,
        nodes: nodes.store().clone(),
        leases: leases.store().clone(),
        pods: pods.store().clone(),
        health: Default::default(),
        evicted: Default::default(),
    });

    let from_nodes = nodes.requests(|change| match change {
        Change::Applied(n) => vec![ObjectRef::from_obj(&**n)],
        _ => Vec::new(),
    });
    let from_leases = leases.requests(|change| match change {
        Change::Applied(l) => vec![ObjectRef::new(&l.name_any())],
        _ => Vec::new(),
    });
    let c = ctx.clone();
    let from_pods = pods.requests(move |change| match change {
        Change::Applied(p) => node_name(p)
            .filter(|n| c.pods_matter_on(n))
            .map(|n| vec![ObjectRef::new(n)])
            .unwrap_or_default(),
        _ => Vec::new(),
    });
    let queue = stream::select_all([from_nodes.boxed(), from_leases.boxed(), from_pods.boxed()]);
    let controller = applier(
        |node, ctx| Box::pin(reconcile::reconcile(node, ctx)),
        error_policy,
        ctx.clone(),
        ctx.nodes.clone(),
        queue,
        Config::default().concurrency(WORKERS),
    )
    .for_each(|r| {
        if let Err(e) = r {
            tracing::debug!(error = %e, "node lifecycle queue");
        }
        futures::future::ready(())
    });
    tokio::select! {
        e = node_watch => Err(e),
        e = lease_watch => Err(e),
        _ = futures::future::join(controller, podgc::run(ctx.clone())) => Ok(()),
    }
}

fn error_policy(node: Arc<Node>, err: &ControllerError, _ctx: Arc<Ctx>) -> Action {
    tracing::warn!(node = %node.name_any(), error = %err, "node lifecycle reconcile failed; retrying");
    Action::requeue(Duration::from_secs(1))
}
