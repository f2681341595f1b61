//! Deployment status: replica counts summed over its ReplicaSets, the
//! Available condition, and the Progressing condition with the progress
//! deadline (Kubernetes' `syncRolloutStatus`). Written through `/status`
//! with the cached resourceVersion, so a stale view never overwrites a
//! newer one.
use std::time::Duration;

use k8s_openapi::{
    api::apps::v1::{Deployment, DeploymentStatus, ReplicaSet},
    jiff::SignedDuration,
};
use kube::api::{Api, PostParams};

use super::{
    conditions::{self as cond, AVAILABLE, PROGRESSING, REPLICA_FAILURE},
    replicas::{self, sum},
    Ctx,
};
use crate::controllers::{replicaset::pods, ControllerError};

/// Kubernetes' `calculateStatus`: counts plus the Available condition.
pub(super) fn calculate(
    d: &Deployment,
    old: &[ReplicaSet],
    new: Option<&ReplicaSet>,
) -> DeploymentStatus {
    let all = || old.iter().chain(new);
    let available = sum(all(), replicas::available);
    let current = d.status.clone().unwrap_or_default();
    let mut status = DeploymentStatus {
        observed_generation: d.metadata.generation,
        replicas: Some(sum(all(), replicas::actual)),
        updated_replicas: Some(new.map_or(0, replicas::actual)),
        ready_replicas: Some(sum(all(), replicas::ready)),
        available_replicas: Some(available),
        unavailable_replicas: Some((sum(all(), replicas::spec) - available).max(0)),
        collision_count: current.collision_count,
        conditions: current.conditions,
        terminating_replicas: None,
    };
    if available >= replicas::desired(d) - replicas::max_unavailable(d) {
        cond::set(
            &mut status,
            cond::new(
                AVAILABLE,
                "True",
                cond::MIN_AVAILABLE,
                "Deployment has minimum availability.".into(),
            ),
        );
    } else {
        cond::set(
            &mut status,
            cond::new(
                AVAILABLE,
                "False",
                cond::MIN_UNAVAILABLE,
                "Deployment does not have minimum availability.".into(),
            ),
        );
    }
    status
}

/// All pods updated, as many as wanted, all available, and observed.
pub(super) fn complete(d: &Deployment, s: &DeploymentStatus) -> bool {
    let want = replicas::desired(d);
    s.updated_replicas.unwrap_or(0) == want
        && s.replicas.unwrap_or(0) == want
        && s.available_replicas.unwrap_or(0) == want
        && s.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0)
}

/// Whether `new` shows progress over the Deployment's current status.
fn progressing(d: &Deployment, new: &DeploymentStatus) -> bool {
    let old = d.status.clone().unwrap_or_default();
    let n = |v: Option<i32>| v.unwrap_or(0);
    let old_old = n(old.replicas) - n(old.updated_replicas);
    let new_old = n(new.replicas) - n(new.updated_replicas);
    n(new.updated_replicas) > n(old.updated_replicas)
        || new_old < old_old
        || n(new.ready_replicas) > n(old.ready_replicas)
        || n(new.available_replicas) > n(old.available_replicas)
}

/// How long until the progress deadline passes, counted from the last
/// progress; `None` without a deadline or a Progressing condition.
fn deadline_in(d: &Deployment, status: &DeploymentStatus) -> Option<SignedDuration> {
    let secs = cond::progress_deadline(d)?;
    let since = cond::get(status, PROGRESSING)?.last_update_time.as_ref()?.0;
    Some(SignedDuration::from_secs(i64::from(secs)) - pods::now().duration_since(since))
}

/// Kubernetes' `DeploymentTimedOut`.
fn timed_out(d: &Deployment, status: &DeploymentStatus) -> bool {
    match cond::get(status, PROGRESSING).and_then(|c| c.reason.as_deref()) {
        None | Some(cond::NEW_RS_AVAILABLE) => false,
        Some(cond::TIMED_OUT) => true,
        Some(_) => deadline_in(d, status).is_some_and(|left| left.is_negative()),
    }
}

fn named(d: &Deployment, new: Option<&ReplicaSet>) -> String {
    match new {
        Some(rs) => format!(
            "ReplicaSet \"{}\"",
            rs.metadata.name.as_deref().unwrap_or_default()
        ),
        None => format!(
            "Deployment \"{}\"",
            d.metadata.name.as_deref().unwrap_or_default()
        ),
    }
}

/// Kubernetes' `syncRolloutStatus`: status plus progress accounting.
/// Returns when to look again to check the deadline.
pub(super) async fn sync_rollout(
    ctx: &Ctx,
    d: &mut Deployment,
    old: &[ReplicaSet],
    new: Option<&ReplicaSet>,
) -> Result<Option<Duration>, ControllerError> {
    let mut status = calculate(d, old, new);
    if cond::progress_deadline(d).is_none() {
        cond::remove(&mut status, PROGRESSING);
    }
    let current = cond::of(d, PROGRESSING).cloned();
    let rolled_out = status.replicas == status.updated_replicas
        && current
            .as_ref()
            .is_some_and(|c| c.reason.as_deref() == Some(cond::NEW_RS_AVAILABLE));
    if cond::progress_deadline(d).is_some() && !rolled_out {
        if complete(d, &status) {
            cond::set(
                &mut status,
                cond::new(
                    PROGRESSING,
                    "True",
                    cond::NEW_RS_AVAILABLE,
                    format!("{} has successfully progressed.", named(d, new)),
                ),
            );
        } else if progressing(d, &status) {
            let mut c = cond::new(
                PROGRESSING,
                "True",
                cond::RS_UPDATED,
                format!("{} is progressing.", named(d, new)),
            );
            if let Some(cur) = &current {
                if cur.status == "True" {
                    c.last_transition_time = cur.last_transition_time.clone();
                }
                cond::remove(&mut status, PROGRESSING);
            }
            cond::set(&mut status, c);
        } else if timed_out(d, &status) {
            cond::set(
                &mut status,
                cond::new(
                    PROGRESSING,
                    "False",
                    cond::TIMED_OUT,
                    format!("{} has timed out progressing.", named(d, new)),
                ),
            );
        }
    }
    match replica_failure(old, new) {
        Some(c) => cond::set(&mut status, c),
        None => cond::remove(&mut status, REPLICA_FAILURE),
    }
    let requeue = requeue_stuck(d, &status);
    write_if_changed(ctx, d, status).await?;
    Ok(requeue)
}

/// The ReplicaFailure condition of the new (or else any) ReplicaSet.
fn replica_failure(
    old: &[ReplicaSet],
    new: Option<&ReplicaSet>,
) -> Option<k8s_openapi::api::apps::v1::DeploymentCondition> {
    new.into_iter().chain(old).find_map(|rs| {
        let c = rs
            .status
            .as_ref()?
            .conditions
            .as_ref()?
            .iter()
            .find(|c| c.type_ == REPLICA_FAILURE)?;
        let mut dc = cond::new(
            REPLICA_FAILURE,
            &c.status,
            c.reason.as_deref().unwrap_or_default(),
            c.message.clone().unwrap_or_default(),
        );
        dc.last_transition_time = c.last_transition_time.clone();
        Some(dc)
    })
}

/// When to check a rollout that is neither complete nor timed out again.
fn requeue_stuck(d: &Deployment, status: &DeploymentStatus) -> Option<Duration> {
    let current = cond::of(d, PROGRESSING)?;
    if complete(d, status) || current.reason.as_deref() == Some(cond::TIMED_OUT) {
        return None;
    }
    let left = deadline_in(d, d.status.as_ref()?)?;
    Some(Duration::try_from(left).unwrap_or(Duration::ZERO) + Duration::from_secs(1))
}

/// Kubernetes' `syncDeploymentStatus`: counts and Available only.
pub(super) async fn sync_status_only(
    ctx: &Ctx,
    d: &mut Deployment,
    old: &[ReplicaSet],
    new: Option<&ReplicaSet>,
) -> Result<Option<Duration>, ControllerError> {
    let status = calculate(d, old, new);
    write_if_changed(ctx, d, status).await?;
    Ok(None)
}

/// Writes `status` unless the Deployment already has it.
pub(super) async fn write_if_changed(
    ctx: &Ctx,
    d: &mut Deployment,
    status: DeploymentStatus,
) -> Result<(), ControllerError> {
    if d.status.as_ref() == Some(&status) {
        return Ok(());
    }
    write(ctx, d, status).await
}

/// Writes `status` on the condition that the Deployment is unchanged since
/// it was read; `d` becomes the written object.
pub(super) async fn write(
    ctx: &Ctx,
    d: &mut Deployment,
    status: DeploymentStatus,
) -> Result<(), ControllerError> {
    let api: Api<Deployment> = Api::namespaced(
        ctx.client.clone(),
        d.metadata.namespace.as_deref().unwrap_or_default(),
    );
    let mut next = d.clone();
    next.status = Some(status);
    *d = api
        .replace_status(
            d.metadata.name.as_deref().unwrap_or_default(),
            &PostParams::default(),
            &next,
        )
        .await?;
    Ok(())
}
