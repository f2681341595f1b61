//! Pod GC for vanished nodes: pods bound to a node that has not existed for
//! the grace period (checked with the API server, not only the cache) are
//! force-deleted (gracePeriodSeconds=0), since no agent will ever finish
//! them. Pods on nodes that exist but are unreachable are left Terminating.
use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use k8s_openapi::api::core::v1::Node;
use kube::{
    api::{Api, DeleteParams},
    ResourceExt,
};
use tokio::time::Instant;

use super::Ctx;
use crate::controllers::slim::CachedPod;
use crate::controllers::{endpointslice::pod::node_name, gc::delete::delete_exact};

/// Scans the caches every quarter grace period (0.2 s to 5 s).
pub(super) async fn run(ctx: Arc<Ctx>) {
    if ctx.ready().await.is_err() {
        return;
    }
    let grace = ctx.opts.node_monitor_grace_period;
    let period = (grace / 4).clamp(Duration::from_millis(200), Duration::from_secs(5));
    let mut missing_since: HashMap<String, Instant> = HashMap::new();
    loop {
        let nodes: HashSet<String> = ctx.nodes.state().iter().map(|n| n.name_any()).collect();
        let mut orphans: BTreeMap<String, Vec<Arc<CachedPod>>> = BTreeMap::new();
        for p in ctx.pods.state() {
            if let Some(n) = node_name(&p).filter(|n| !nodes.contains(*n)) {
                orphans.entry(n.to_string()).or_default().push(p.clone());
            }
        }
        missing_since.retain(|n, _| orphans.contains_key(n));
        for (node, pods) in orphans {
            let since = *missing_since
                .entry(node.clone())
                .or_insert_with(Instant::now);
            if since.elapsed() >= grace {
                collect(&ctx, &node, &pods).await;
            }
        }
        tokio::time::sleep(period).await;
    }
}

#[tracing::instrument(name = "podgc", skip(ctx, pods), fields(pods = pods.len()))]
async fn collect(ctx: &Ctx, node: &str, pods: &[Arc<CachedPod>]) {
    match Api::<Node>::all(ctx.client.clone()).get_opt(node).await {
        Ok(None) => {}
        Ok(Some(_)) => return,
        Err(e) => {
            tracing::warn!(error = %e, "could not check whether the node exists");
            return;
        }
    }
    for p in pods {
        let api: Api<CachedPod> =
            Api::namespaced(ctx.client.clone(), &p.namespace().unwrap_or_default());
        let dp = DeleteParams {
            grace_period_seconds: Some(0),
            ..DeleteParams::default()
        };
        match delete_exact(&api, &p.name_any(), p.uid(), dp).await {
            Ok(true) => {
                tracing::info!(pod = %p.name_any(), "force-deleted a pod of a node that no longer exists")
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(pod = %p.name_any(), error = %e, "could not delete an orphaned pod")
            }
        }
    }
}
