//! The Recreate strategy (Kubernetes' `rolloutRecreate`): scale every old
//! ReplicaSet to zero, wait until none of their pods is left (terminating
//! ones included), then create and scale up the new ReplicaSet.
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};

use super::{
    newrs::all_replica_sets,
    replicas::{self, spec, sum},
    scale::{cleanup, scale_if_needed},
    status, Ctx,
};
use crate::controllers::{
    replicaset::{claim::controlled_by, pods},
    ControllerError,
};

/// One Recreate sync.
pub(super) async fn rollout(
    ctx: &Ctx,
    d: &mut Deployment,
    rss: &[ReplicaSet],
) -> Result<Option<Duration>, ControllerError> {
    let (mut new, mut old) = all_replica_sets(ctx, d, rss, false).await?;
    let mut scaled_down = false;
    for rs in old.iter_mut().filter(|rs| spec(rs) > 0) {
        let (scaled, written) = scale_if_needed(ctx, d, rs, 0).await?;
        *rs = written;
        scaled_down |= scaled;
    }
    if scaled_down || old_pods_running(ctx, new.as_ref(), &old) {
        return status::sync_rollout(ctx, d, &old, new.as_ref()).await;
    }
    if new.is_none() {
        (new, old) = all_replica_sets(ctx, d, rss, true).await?;
    }
    if let Some(rs) = new.as_mut() {
        *rs = scale_if_needed(ctx, d, rs, replicas::desired(d)).await?.1;
    }
    if d.status.as_ref().is_some_and(|s| status::complete(d, s)) {
        cleanup(ctx, d, &old).await?;
    }
    status::sync_rollout(ctx, d, &old, new.as_ref()).await
}

/// Whether any pod of an old ReplicaSet still exists and has not finished.
fn old_pods_running(ctx: &Ctx, new: Option<&ReplicaSet>, old: &[ReplicaSet]) -> bool {
    if sum(old, replicas::actual) > 0 {
        return true;
    }
    let new_uid = new.and_then(|rs| rs.metadata.uid.as_deref());
    let old_uids: Vec<&str> = old
        .iter()
        .filter_map(|rs| rs.metadata.uid.as_deref())
        .filter(|u| Some(*u) != new_uid)
        .collect();
    let Some(ns) = old.first().and_then(|rs| rs.metadata.namespace.as_deref()) else {
        return false;
    };
    pods::in_namespace(&ctx.pods, ns).iter().any(|p| {
        !pods::is_finished(p)
            && old_uids
                .iter()
                .any(|u| controlled_by::<ReplicaSet>(&p.metadata, u))
    })
}
