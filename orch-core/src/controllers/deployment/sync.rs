//! One Deployment sync, as Kubernetes' `syncDeployment`: claim the
//! ReplicaSets, then either report status only (being deleted), scale
//! (paused, or resized), or roll out with the Deployment's strategy.
use std::{sync::Arc, time::Duration};

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};

use super::{
    conditions::{self as cond, PROGRESSING},
    newrs::all_replica_sets,
    recreate, replicas, rolling, scale, status, Ctx,
};
use crate::controllers::{
    replicaset::{claim, informer::Key},
    ControllerError,
};

/// Syncs one Deployment; returns when to look again unasked.
pub(super) async fn reconcile(
    cached: Arc<Deployment>,
    ctx: Arc<Ctx>,
) -> Result<Option<Duration>, ControllerError> {
    let mut d = (*cached).clone();
    let key = Key::of(&d);
    let selector = match claim::selector_of(&d.spec.as_ref().map(|s| &s.selector)) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(deployment = %key, error = %e, "not syncing");
            return Ok(None);
        }
    };
    let candidates: Vec<Arc<ReplicaSet>> = ctx
        .replicasets
        .state()
        .into_iter()
        .filter(|rs| rs.metadata.namespace.as_deref() == Some(key.namespace.as_str()))
        .collect();
    let rss: Vec<ReplicaSet> = claim::claim(&ctx.client, &d, &selector, candidates)
        .await?
        .iter()
        .map(|rs| (**rs).clone())
        .collect();

    if d.metadata.deletion_timestamp.is_some() {
        let (new, old) = all_replica_sets(&ctx, &mut d, &rss, false).await?;
        return status::sync_status_only(&ctx, &mut d, &old, new.as_ref()).await;
    }
    check_paused_conditions(&ctx, &mut d).await?;
    let paused = d.spec.as_ref().and_then(|s| s.paused) == Some(true);
    if paused || scale::is_scaling_event(&d, &rss) {
        return scale::sync(&ctx, &mut d, &rss).await;
    }
    if replicas::is_rolling(&d) {
        rolling::rollout(&ctx, &mut d, &rss).await
    } else {
        recreate::rollout(&ctx, &mut d, &rss).await
    }
}

/// Sets Progressing=Unknown DeploymentPaused / DeploymentResumed when the
/// Deployment is paused or resumed (never over a timed-out condition).
async fn check_paused_conditions(ctx: &Ctx, d: &mut Deployment) -> Result<(), ControllerError> {
    if cond::progress_deadline(d).is_none() {
        return Ok(());
    }
    let reason = cond::of(d, PROGRESSING).and_then(|c| c.reason.clone());
    if reason.as_deref() == Some(cond::TIMED_OUT) {
        return Ok(());
    }
    let paused = d.spec.as_ref().and_then(|s| s.paused) == Some(true);
    let was_paused = reason.as_deref() == Some(cond::PAUSED);
    let next = match (paused, was_paused) {
        (true, false) => cond::new(
            PROGRESSING,
            "Unknown",
            cond::PAUSED,
            "Deployment is paused".into(),
        ),
        (false, true) => cond::new(
            PROGRESSING,
            "Unknown",
            cond::RESUMED,
            "Deployment is resumed".into(),
        ),
        _ => return Ok(()),
    };
    let mut s = d.status.clone().unwrap_or_default();
    cond::set(&mut s, next);
    status::write(ctx, d, s).await
}
