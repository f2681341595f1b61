//! One ReplicaSet sync, as Kubernetes' `syncReplicaSet`: claim the active
//! pods (adopt and release), create or delete pods unless expectations are
//! outstanding or the ReplicaSet is being deleted, then write the status.
use std::{sync::Arc, time::Duration};

use k8s_openapi::api::apps::v1::ReplicaSet;

use super::{claim, informer::Key, manage, pods, status, Ctx};
use crate::controllers::slim::CachedPod;
use crate::controllers::ControllerError;

/// Syncs `rs`; returns when to look again unasked.
pub(super) async fn reconcile(
    rs: Arc<ReplicaSet>,
    ctx: Arc<Ctx>,
) -> Result<Option<Duration>, ControllerError> {
    let key = Key::of(&*rs);
    let selector = match claim::selector_of(&rs.spec.as_ref().map(|s| &s.selector)) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(replicaset = %key, error = %e, "not syncing");
            return Ok(None);
        }
    };
    let outstanding = ctx.expectations.outstanding(&key, &ctx.pods);
    let active: Vec<Arc<CachedPod>> = pods::in_namespace(&ctx.pods, &key.namespace)
        .into_iter()
        .filter(|p| pods::is_active(p))
        .collect();
    let owned = claim::claim(&ctx.client, &*rs, &selector, active).await?;

    let failure = if outstanding.is_none() && rs.metadata.deletion_timestamp.is_none() {
        manage::manage(&ctx, &key, &rs, &owned).await.err()
    } else {
        if outstanding.is_some() {
            tracing::debug!(replicaset = %key, "waiting for the watch to show earlier creations and deletions");
        }
        None
    };
    let now = pods::now();
    let new_status = status::calculate(&rs, &owned, failure.as_ref(), now);
    status::write_if_changed(&ctx.client, &rs, new_status).await?;
    if let Some(f) = failure {
        return Err(f.error);
    }
    let availability = status::next_availability_check(&rs, &owned, now);
    Ok([outstanding, availability].into_iter().flatten().min())
}
