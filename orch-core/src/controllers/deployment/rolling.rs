//! The RollingUpdate strategy (Kubernetes' `rolloutRolling`): grow the new
//! ReplicaSet while the total stays within `replicas + maxSurge`, shrink
//! the old ones while availability stays at `replicas - maxUnavailable` or
//! more, one kind of step per sync. Pod counts are taken at their upper
//! bound and availability at its lower bound, so a ReplicaSet whose status
//! lags its spec never lets the rollout overstep either limit.
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};

use super::{
    newrs::{all_replica_sets, by_creation},
    replicas::{self, available_lower_bound, spec, sum, upper_bound},
    scale::{cleanup, scale_if_needed, scale_rs},
    status, Ctx,
};
use crate::controllers::ControllerError;

/// How big the new ReplicaSet may be now (Kubernetes' `NewRSNewReplicas`).
pub(super) fn new_rs_replicas(d: &Deployment, old: &[ReplicaSet], new: &ReplicaSet) -> i32 {
    let want = replicas::desired(d);
    if !replicas::is_rolling(d) {
        return want;
    }
    let max_total = want + replicas::max_surge(d);
    let current = sum(old.iter().chain([new]), upper_bound);
    if current >= max_total {
        return spec(new);
    }
    spec(new) + (max_total - current).min(want - spec(new)).max(0)
}

/// One rolling-update sync.
pub(super) async fn rollout(
    ctx: &Ctx,
    d: &mut Deployment,
    rss: &[ReplicaSet],
) -> Result<Option<Duration>, ControllerError> {
    let (new, old) = all_replica_sets(ctx, d, rss, true).await?;
    let new = new.ok_or_else(|| ControllerError::Other("no new replica set".into()))?;
    if grow_new(ctx, d, &old, &new).await? || shrink_old(ctx, d, &old, &new).await? {
        return status::sync_rollout(ctx, d, &old, Some(&new)).await;
    }
    if d.status.as_ref().is_some_and(|s| status::complete(d, s)) {
        cleanup(ctx, d, &old).await?;
    }
    status::sync_rollout(ctx, d, &old, Some(&new)).await
}

/// Kubernetes' `reconcileNewReplicaSet`; whether it scaled.
async fn grow_new(
    ctx: &Ctx,
    d: &Deployment,
    old: &[ReplicaSet],
    new: &ReplicaSet,
) -> Result<bool, ControllerError> {
    let want = replicas::desired(d);
    let size = if spec(new) > want {
        want
    } else {
        new_rs_replicas(d, old, new)
    };
    Ok(scale_if_needed(ctx, d, new, size).await?.0)
}

/// Kubernetes' `reconcileOldReplicaSets`; whether it scaled.
async fn shrink_old(
    ctx: &Ctx,
    d: &Deployment,
    old: &[ReplicaSet],
    new: &ReplicaSet,
) -> Result<bool, ControllerError> {
    let mut active: Vec<ReplicaSet> = old.iter().filter(|rs| spec(rs) > 0).cloned().collect();
    if active.is_empty() {
        return Ok(false);
    }
    active.sort_by(by_creation);
    let all_pods = sum(old.iter().chain([new]), spec);
    let min_available = replicas::desired(d) - replicas::max_unavailable(d);
    let new_unavailable = spec(new) - available_lower_bound(new);
    let max_scaled_down = all_pods - min_available - new_unavailable;
    if max_scaled_down <= 0 {
        return Ok(false);
    }
    let cleaned = scale_down_unhealthy(ctx, d, &mut active, max_scaled_down).await?;
    let scaled = scale_down_available(ctx, d, &mut active, new, min_available).await?;
    Ok(cleaned + scaled > 0)
}

/// Removes old pods that are not available first (they cost no
/// availability), at most `max` of them.
async fn scale_down_unhealthy(
    ctx: &Ctx,
    d: &Deployment,
    olds: &mut [ReplicaSet],
    max: i32,
) -> Result<i32, ControllerError> {
    let mut total = 0;
    for rs in olds.iter_mut() {
        if total >= max {
            break;
        }
        let unhealthy = spec(rs) - available_lower_bound(rs);
        if spec(rs) == 0 || unhealthy == 0 {
            continue;
        }
        let down = (max - total).min(unhealthy);
        *rs = scale_rs(ctx, d, rs, spec(rs) - down).await?.1;
        total += down;
    }
    Ok(total)
}

/// Shrinks old ReplicaSets (oldest first) by as many pods as availability
/// allows above `min_available`.
async fn scale_down_available(
    ctx: &Ctx,
    d: &Deployment,
    olds: &mut [ReplicaSet],
    new: &ReplicaSet,
    min_available: i32,
) -> Result<i32, ControllerError> {
    let available = sum(olds.iter().chain([new]), available_lower_bound);
    if available <= min_available {
        return Ok(0);
    }
    let budget = available - min_available;
    let mut total = 0;
    for rs in olds.iter_mut() {
        if total >= budget {
            break;
        }
        if spec(rs) == 0 {
            continue;
        }
        let down = spec(rs).min(budget - total);
        *rs = scale_rs(ctx, d, rs, spec(rs) - down).await?.1;
        total += down;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rs(spec: i32, replicas: i32, available: i32) -> ReplicaSet {
        serde_json::from_value(
            json!({"metadata": {"name": "rs"}, "spec": {"replicas": spec, "selector": {}},
            "status": {"replicas": replicas, "availableReplicas": available}}),
        )
        .unwrap()
    }

    fn deploy(replicas: i32, surge: i32, unavailable: i32) -> Deployment {
        serde_json::from_value(json!({"metadata": {"name": "d"}, "spec": {"replicas": replicas, "selector": {}, "template": {},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}}}))
        .unwrap()
    }

    #[test]
    fn the_new_replica_set_waits_for_old_pods_to_go() {
        let d = deploy(6, 1, 0);
        assert_eq!(
            new_rs_replicas(&d, &[], &rs(0, 0, 0)),
            6,
            "a first rollout starts at full size"
        );
        let new = rs(1, 1, 1);
        assert_eq!(
            new_rs_replicas(&d, &[rs(6, 6, 6)], &new),
            1,
            "at replicas + maxSurge"
        );
        assert_eq!(
            new_rs_replicas(&d, &[rs(5, 6, 6)], &new),
            1,
            "old scaled down, but its pod is not gone yet"
        );
        assert_eq!(new_rs_replicas(&d, &[rs(5, 5, 5)], &new), 2);
        assert_eq!(
            new_rs_replicas(&deploy(6, 3, 0), &[rs(6, 6, 6)], &rs(0, 0, 0)),
            3
        );
    }

    #[test]
    fn availability_is_never_counted_above_spec() {
        // Scaled from 6 to 5 while the status still counts 6 available pods.
        assert_eq!(available_lower_bound(&rs(5, 6, 6)), 5);
        assert_eq!(available_lower_bound(&rs(5, 5, 3)), 3);
        assert_eq!(upper_bound(&rs(5, 6, 6)), 6);
    }
}
