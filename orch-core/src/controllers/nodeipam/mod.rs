//! Node IPAM: gives every Node a pod subnet (`spec.podCIDR` and
//! `spec.podCIDRs`) out of the cluster pod CIDR. A subnet never changes once
//! set and is never given to two nodes; it is free again once its node is
//! deleted. What is in use is read from the Nodes themselves, so a restarted
//! (or newly elected) controller rebuilds its state from the cluster.
mod alloc;

use std::{
    collections::{BTreeSet, HashMap},
    sync::Arc,
    time::Duration,
};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::{
    api::{Api, Patch, PatchParams},
    runtime::{controller::Action, reflector::Store, watcher, Config, Controller},
    Client, ResourceExt,
};
use serde_json::json;
use tokio::sync::Mutex;

pub use alloc::Subnets;

use super::{
    events::{reference, EventType, Recorder},
    ControllerError, ControllerOptions,
};
use crate::apiserver::ipalloc::Cidr;

/// Shared state of the reconciles (which run one at a time).
struct Ctx {
    client: Client,
    nodes: Store<Node>,
    subnets: Subnets,
    /// Subnets written to a node (by uid) that the cache has not shown yet.
    pending: Mutex<HashMap<String, u64>>,
    recorder: Recorder,
}

/// Runs the node IPAM controller.
pub async fn run(client: Client, opts: ControllerOptions) -> Result<(), ControllerError> {
    let subnets =
        Subnets::new(opts.pod_cidr, opts.node_cidr_prefix).map_err(ControllerError::Other)?;
    let controller = Controller::new(Api::<Node>::all(client.clone()), watcher::Config::default())
        .with_config(Config::default().concurrency(1));
    let ctx = Arc::new(Ctx {
        recorder: Recorder::new(client.clone(), "node-ipam-controller"),
        client,
        nodes: controller.store(),
        subnets,
        pending: Mutex::default(),
    });
    controller
        .run(reconcile, error_policy, ctx)
        .for_each(|r| {
            if let Err(e) = r {
                tracing::debug!(error = %e, "node IPAM queue");
            }
            futures::future::ready(())
        })
        .await;
    Ok(())
}

/// The node's pod CIDR, if set.
fn pod_cidr(node: &Node) -> Option<&str> {
    node.spec
        .as_ref()?
        .pod_cidr
        .as_deref()
        .filter(|s| !s.is_empty())
}

#[tracing::instrument(name = "nodeipam", skip_all, fields(node = %node.name_any()))]
async fn reconcile(node: Arc<Node>, ctx: Arc<Ctx>) -> Result<Action, ControllerError> {
    if pod_cidr(&node).is_some() {
        return Ok(Action::await_change());
    }
    let name = node.name_any();
    let api: Api<Node> = Api::all(ctx.client.clone());
    // The cache may lag behind: decide on the live object.
    let Some(live) = api.get_opt(&name).await? else {
        return Ok(Action::await_change());
    };
    if pod_cidr(&live).is_some() || live.uid() != node.uid() {
        return Ok(Action::await_change());
    }
    let mut pending = ctx.pending.lock().await;
    let nodes = ctx.nodes.state();
    pending.retain(|uid, _| {
        nodes
            .iter()
            .any(|n| n.uid().as_deref() == Some(uid) && pod_cidr(n).is_none())
    });
    let used: BTreeSet<u64> = nodes
        .iter()
        .filter_map(|n| Cidr::parse(pod_cidr(n)?).ok())
        .filter_map(|c| ctx.subnets.index_of(&c))
        .chain(pending.values().copied())
        .collect();
    let Some(cidr) = ctx.subnets.pick(&name, &used) else {
        let msg = format!("no pod subnet is free for node {name}");
        ctx.recorder
            .record(
                &reference(&live),
                EventType::Warning,
                "CIDRNotAvailable",
                &msg,
            )
            .await;
        return Err(ControllerError::Other(msg));
    };
    let patch = json!({
        "metadata": {"resourceVersion": live.resource_version()},
        "spec": {"podCIDR": cidr.to_string(), "podCIDRs": [cidr.to_string()]},
    });
    api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    if let (Some(uid), Some(index)) = (live.uid(), ctx.subnets.index_of(&cidr)) {
        pending.insert(uid, index);
    }
    tracing::info!(%cidr, "assigned pod CIDR");
    Ok(Action::await_change())
}

fn error_policy(node: Arc<Node>, err: &ControllerError, _ctx: Arc<Ctx>) -> Action {
    tracing::warn!(node = %node.name_any(), error = %err, "node IPAM failed; retrying");
    Action::requeue(Duration::from_secs(1))
}
