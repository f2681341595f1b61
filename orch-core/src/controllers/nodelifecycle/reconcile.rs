//! One reconcile of one node: health → Ready condition, condition taints,
//! pods marked not ready, and taint-based evictions.
use std::{collections::HashSet, sync::Arc, time::Duration};

use k8s_openapi::{
    api::core::v1::{Node, Taint},
    apimachinery::pkg::apis::meta::v1::Time,
    jiff::Timestamp,
};
use kube::{
    api::{Api, DeleteParams, PostParams},
    runtime::{controller::Action, reflector::ObjectRef},
    ResourceExt,
};

use super::{
    health::{heartbeat, ready_status, silent_conditions},
    taints::{self, effective_tolerations, eviction_time, NO_EXECUTE},
    Ctx, NODE_LEASE_NAMESPACE,
};
use crate::controllers::slim::CachedPod;
use crate::controllers::{
    endpointslice::pod::{is_ready, is_terminating, node_name},
    events::{reference, EventType},
    gc::delete::delete_exact,
    ControllerError,
};

/// How long an eviction is remembered (to not repeat it on a stale cache).
const EVICTION_MEMORY: Duration = Duration::from_secs(60);

/// Judges one node and acts on it.
#[tracing::instrument(name = "nodelifecycle", skip_all, fields(node = %node.name_any()))]
pub(super) async fn reconcile(node: Arc<Node>, ctx: Arc<Ctx>) -> Result<Action, ControllerError> {
    ctx.ready().await?;
    let name = node.name_any();
    let grace = ctx.opts.node_monitor_grace_period;
    let lease = ctx
        .leases
        .get(&ObjectRef::new(&name).within(NODE_LEASE_NAMESPACE));
    let renew = lease.and_then(|l| l.spec.as_ref()?.renew_time.as_ref().map(|t| t.0));
    let silent_for = {
        let live: HashSet<String> = ctx.nodes.state().iter().filter_map(|n| n.uid()).collect();
        let mut h = ctx.health.lock().unwrap_or_else(|p| p.into_inner());
        h.retain(|uid| live.contains(uid));
        h.observe(
            &node.uid().unwrap_or_default(),
            heartbeat(&node),
            renew,
            tokio::time::Instant::now(),
        )
    };
    let now = Timestamp::now();
    let api: Api<Node> = Api::all(ctx.client.clone());
    let pp = PostParams::default();
    let mut node = (*node).clone();

    if silent_for > grace {
        if let Some(conds) = silent_conditions(&node, now) {
            node.status.get_or_insert_with(Default::default).conditions = Some(conds);
            node = api.replace_status(&name, &pp, &node).await?;
            tracing::info!(silent_for = ?silent_for, "node stopped posting status; Ready is Unknown");
        }
    }
    let ready = ready_status(&node).map(str::to_string);
    report_transition(&ctx, &node, ready.as_deref()).await;

    let current = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    if let Some(wanted) = taints::sync(&current, ready.as_deref(), now) {
        tracing::info!(taints = ?wanted.iter().map(|t| format!("{}:{}", t.key, t.effect)).collect::<Vec<_>>(), "updating condition taints");
        node.spec.get_or_insert_with(Default::default).taints =
            (!wanted.is_empty()).then_some(wanted);
        node = api.replace(&name, &pp, &node).await?;
    }

    let pods: Vec<Arc<CachedPod>> = ctx
        .pods
        .state()
        .into_iter()
        .filter(|p| node_name(p) == Some(name.as_str()))
        .collect();
    let mut retry = false;
    if ready.as_deref().is_some_and(|r| r != "True") {
        retry |= mark_not_ready(&ctx, &pods).await;
    }
    let no_execute: Vec<Taint> = node
        .spec
        .iter()
        .flat_map(|s| s.taints.iter().flatten())
        .filter(|t| t.effect == NO_EXECUTE)
        .cloned()
        .collect();
    let next_eviction = if no_execute.is_empty() {
        None
    } else {
        evict(&ctx, &pods, &no_execute, now).await
    };

    // Run again when the grace period or the next toleration runs out.
    let mut wait = if silent_for > grace {
        grace
    } else {
        grace - silent_for + Duration::from_millis(100)
    };
    if let Some(t) = next_eviction {
        let until = Duration::try_from(t.duration_since(now)).unwrap_or_default();
        wait = wait.min(until + Duration::from_millis(50));
    }
    if retry {
        wait = wait.min(Duration::from_secs(1));
    }
    Ok(Action::requeue(wait.clamp(
        Duration::from_millis(100),
        grace.max(Duration::from_secs(1)),
    )))
}

/// Records NodeNotReady / NodeReady when the Ready status changed since we
/// last saw the node.
async fn report_transition(ctx: &Ctx, node: &Node, ready: Option<&str>) {
    let uid = node.uid().unwrap_or_default();
    let changed = {
        let mut h = ctx.health.lock().unwrap_or_else(|p| p.into_inner());
        h.ready_changed(&uid, ready)
    };
    let reason = match changed {
        Some(true) => "NodeReady",
        Some(false) => "NodeNotReady",
        None => return,
    };
    let msg = format!("Node {} status is now: {reason}", node.name_any());
    ctx.recorder
        .record(&reference(node), EventType::Normal, reason, &msg)
        .await;
}

/// Sets the Ready condition of the node's ready pods to False, as
/// Kubernetes does for pods on a node that is not Ready. Returns whether
/// some write failed (to retry soon).
async fn mark_not_ready(ctx: &Ctx, pods: &[Arc<CachedPod>]) -> bool {
    let mut failed = false;
    for p in pods.iter().filter(|p| is_ready(p)) {
        let mut pod = (**p).clone();
        let conds = pod
            .status
            .get_or_insert_with(Default::default)
            .conditions
            .get_or_insert_with(Vec::new);
        for c in conds.iter_mut().filter(|c| c.type_ == "Ready") {
            c.status = "False".into();
            c.last_transition_time = Some(Time(Timestamp::now()));
        }
        let api: Api<CachedPod> =
            Api::namespaced(ctx.client.clone(), &pod.namespace().unwrap_or_default());
        if let Err(e) = api
            .replace_status(&pod.name_any(), &PostParams::default(), &pod)
            .await
        {
            tracing::debug!(pod = %pod.name_any(), error = %e, "could not mark pod not ready");
            failed = true;
        }
    }
    failed
}

/// Evicts the pods whose tolerations of the `NoExecute` taints ran out and
/// returns when the next one will.
async fn evict(
    ctx: &Ctx,
    pods: &[Arc<CachedPod>],
    no_execute: &[Taint],
    now: Timestamp,
) -> Option<Timestamp> {
    let mut next: Option<Timestamp> = None;
    for p in pods.iter().filter(|p| !is_terminating(p)) {
        let tols = effective_tolerations(p, ctx.opts.default_toleration_seconds);
        match eviction_time(no_execute, &tols, now) {
            Some(t) if t <= now => evict_pod(ctx, p).await,
            Some(t) => next = Some(next.map_or(t, |n| n.min(t))),
            None => {}
        }
    }
    next
}

async fn evict_pod(ctx: &Ctx, p: &CachedPod) {
    let uid = p.uid().unwrap_or_default();
    {
        let mut evicted = ctx.evicted.lock().unwrap_or_else(|e| e.into_inner());
        evicted.retain(|_, at| at.elapsed() < EVICTION_MEMORY);
        if evicted.contains_key(&uid) {
            return;
        }
        evicted.insert(uid.clone(), tokio::time::Instant::now());
    }
    let ns = p.namespace().unwrap_or_default();
    let api: Api<CachedPod> = Api::namespaced(ctx.client.clone(), &ns);
    match delete_exact(
        &api,
        &p.name_any(),
        Some(uid.clone()),
        DeleteParams::default(),
    )
    .await
    {
        Ok(true) => {
            tracing::info!(pod = %p.name_any(), namespace = %ns, "evicting pod from tainted node");
            let msg = format!("Marking for deletion Pod {ns}/{}", p.name_any());
            ctx.recorder
                .record(
                    &reference(p),
                    EventType::Normal,
                    "TaintManagerEviction",
                    &msg,
                )
                .await;
        }
        Ok(false) => {}
        Err(e) => {
            tracing::warn!(pod = %p.name_any(), error = %e, "eviction failed");
            ctx.evicted
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&uid);
        }
    }
}
