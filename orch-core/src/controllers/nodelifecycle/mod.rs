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
//! Watchers on Nodes, Leases and Pods feed reflectors; changes queue the
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
use k8s_openapi::api::{
    coordination::v1::Lease,
    core::v1::{Node, Pod},
};
use kube::{
    api::Api,
    runtime::{
        applier,
        controller::Action,
        reflector::{ObjectRef, Store},
        watcher::Event,
        Config,
    },
    Client, ResourceExt,
};

use super::{
    endpointslice::pod::node_name,
    endpointslice::watch::{ready, reflect, reflect_trimmed, requests},
    events::Recorder,
    slim, ControllerError, ControllerOptions,
};
use health::Health;

/// Namespace of the node Leases.
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

/// What the reconciles share.
struct Ctx {
    client: Client,
    opts: ControllerOptions,
    nodes: Store<Node>,
    leases: Store<Lease>,
    pods: Store<Pod>,
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

/// Runs the node lifecycle controller (with its taint manager and pod GC).
pub async fn run(client: Client, opts: ControllerOptions) -> Result<(), ControllerError> {
    let (nodes, node_events) = reflect(Api::<Node>::all(client.clone()), Default::default());
    let lease_api = Api::<Lease>::namespaced(client.clone(), NODE_LEASE_NAMESPACE);
    let (leases, lease_events) = reflect(lease_api, Default::default());
    let (pods, pod_events) = reflect_trimmed(
        Api::<Pod>::all(client.clone()),
        Default::default(),
        slim::pod,
    );
    let ctx = Arc::new(Ctx {
        recorder: Recorder::new(client.clone(), "node-controller"),
        client: client.clone(),
        opts,
        nodes,
        leases,
        pods,
        health: Default::default(),
        evicted: Default::default(),
    });

    let from_nodes = requests(node_events, |ev| match ev {
        Event::Apply(n) | Event::InitApply(n) => vec![ObjectRef::from_obj(&n)],
        _ => Vec::new(),
    });
    let from_leases = requests(lease_events, |ev| match ev {
        Event::Apply(l) | Event::InitApply(l) => vec![ObjectRef::new(&l.name_any())],
        _ => Vec::new(),
    });
    let c = ctx.clone();
    let from_pods = requests(pod_events, move |ev| match ev {
        Event::Apply(p) | Event::InitApply(p) => node_name(&p)
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
        Config::default(),
    )
    .for_each(|r| {
        if let Err(e) = r {
            tracing::debug!(error = %e, "node lifecycle queue");
        }
        futures::future::ready(())
    });
    tokio::join!(controller, podgc::run(ctx));
    Ok(())
}

fn error_policy(node: Arc<Node>, err: &ControllerError, _ctx: Arc<Ctx>) -> Action {
    tracing::warn!(node = %node.name_any(), error = %err, "node lifecycle reconcile failed; retrying");
    Action::requeue(Duration::from_secs(1))
}
